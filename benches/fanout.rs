//! Fan-out: re-scan and summary of 1,000 images (200 configs × 5 tags, two
//! tags of each config sharing a digest) over a simulated ECR with a fixed
//! per-call latency and a cap on calls a second, against the ideal
//! `max(calls × latency / concurrency, calls / TPS)` and against the AWS
//! sample's algorithm (one call per tag, one at a time), in the same run.
//!
//! `cargo bench -p ecrscan-core --bench fanout`

use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use ecrscan_core::testing::SimulatedEcr;
use ecrscan_core::{ConfigSpec, ScanBackend, ScanConfig, ScanOptions, collect_summary, rescan};

const CONFIGS: usize = 200;
const TAGS: usize = 5;
const LATENCY: Duration = Duration::from_millis(5);
const TPS: u32 = 2_000;
const CONCURRENCY: usize = 8;

/// ECR as seen from a client: every call takes `LATENCY`, and the service
/// admits at most `TPS` calls a second (a caller over the cap waits, as a
/// throttled call would be retried). The conformance-tested simulator of
/// `ecrscan_core::testing`, holding every config's images.
fn simulated_ecr(configs: &[ScanConfig]) -> SimulatedEcr {
    let mut ecr = SimulatedEcr::new().with_latency(LATENCY).with_cap(
        NonZeroU32::new(TPS).expect("non-zero"),
        NonZeroU32::new(20).expect("non-zero"),
    );
    for config in configs {
        let repository = config.repository_ref();
        let mut by_digest: Vec<(String, Vec<&str>)> = Vec::new();
        for tag in &config.tags {
            let digest = digest_of(&config.repository, tag);
            match by_digest.iter_mut().find(|(d, _)| *d == digest) {
                Some((_, tags)) => tags.push(tag),
                None => by_digest.push((digest, vec![tag])),
            }
        }
        for (digest, tags) in by_digest {
            ecr = ecr.with_image(&repository, &digest, &tags);
        }
    }
    ecr
}

/// Tags t0 and t1 of a repository share a digest; t2..t4 have their own.
fn digest_of(repository: &str, tag: &str) -> String {
    let index: usize = tag[1..].parse().unwrap_or(0);
    format!("sha256:{repository}-{}", index.max(1))
}

fn configs() -> Vec<ScanConfig> {
    let now = Utc.timestamp_opt(1_764_230_400, 0).unwrap();
    (0..CONFIGS)
        .map(|i| {
            let tags: Vec<String> = (0..TAGS).map(|t| format!("t{t}")).collect();
            let spec = ConfigSpec::new(
                "us-west-2",
                "123456789012",
                format!("fleet/service-{i}"),
                tags,
            )
            .expect("valid");
            ScanConfig::create(spec, now)
        })
        .collect()
}

/// The AWS sample's re-scan: per config, list its images, then one
/// StartImageScan per tag, one call at a time.
async fn sample_rescan(configs: &[ScanConfig], ecr: &SimulatedEcr) {
    for config in configs {
        let repository = config.repository_ref();
        let _ = ecr.resolve_images(&repository, &config.tags).await;
        for tag in &config.tags {
            let _ = ecr
                .start_scan(&repository, &digest_of(&config.repository, tag))
                .await;
        }
    }
}

/// The AWS sample's summary: per config, list its images, then one
/// DescribeImageScanFindings per tag, one call at a time.
async fn sample_summary(configs: &[ScanConfig], ecr: &SimulatedEcr) {
    for config in configs {
        let repository = config.repository_ref();
        let _ = ecr.resolve_images(&repository, &config.tags).await;
        for tag in &config.tags {
            let _ = ecr
                .scan_result(&repository, &digest_of(&config.repository, tag))
                .await;
        }
    }
}

fn ideal(calls: usize) -> Duration {
    let latency_bound = LATENCY.mul_f64(calls as f64 / CONCURRENCY as f64);
    let tps_bound = Duration::from_secs_f64(calls as f64 / f64::from(TPS));
    latency_bound.max(tps_bound)
}

fn fanout(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let configs = configs();
    let options = ScanOptions {
        concurrency: CONCURRENCY,
    };

    // One run of each, to count calls and print the ideal next to criterion's numbers.
    for (name, calls) in [
        (
            "ecrscan rescan",
            runtime.block_on(async {
                let ecr = simulated_ecr(&configs);
                rescan(&configs, &ecr, &options).await;
                ecr.calls()
            }),
        ),
        (
            "ecrscan summary",
            runtime.block_on(async {
                let ecr = simulated_ecr(&configs);
                collect_summary(
                    &configs,
                    &ecr,
                    &options,
                    &ecrscan_core::Suppressions::none(),
                )
                .await;
                ecr.calls()
            }),
        ),
        (
            "sample rescan",
            runtime.block_on(async {
                let ecr = simulated_ecr(&configs);
                sample_rescan(&configs, &ecr).await;
                ecr.calls()
            }),
        ),
    ] {
        eprintln!(
            "{name}: {calls} calls; ideal at concurrency {CONCURRENCY}: {:?}",
            ideal(calls)
        );
    }

    let mut group = c.benchmark_group("fanout_1000_images");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("ecrscan_rescan", |b| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                let simulators: Vec<SimulatedEcr> =
                    (0..iters).map(|_| simulated_ecr(&configs)).collect();
                let start = Instant::now();
                for ecr in &simulators {
                    rescan(&configs, ecr, &options).await;
                }
                start.elapsed()
            })
        })
    });
    group.bench_function("ecrscan_summary", |b| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                let simulators: Vec<SimulatedEcr> =
                    (0..iters).map(|_| simulated_ecr(&configs)).collect();
                let start = Instant::now();
                for ecr in &simulators {
                    collect_summary(&configs, ecr, &options, &ecrscan_core::Suppressions::none())
                        .await;
                }
                start.elapsed()
            })
        })
    });
    group.measurement_time(Duration::from_secs(60));
    group.bench_function("sample_rescan_sequential", |b| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                let simulators: Vec<SimulatedEcr> =
                    (0..iters).map(|_| simulated_ecr(&configs)).collect();
                let start = Instant::now();
                for ecr in &simulators {
                    sample_rescan(&configs, ecr).await;
                }
                start.elapsed()
            })
        })
    });
    group.bench_function("sample_summary_sequential", |b| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                let simulators: Vec<SimulatedEcr> =
                    (0..iters).map(|_| simulated_ecr(&configs)).collect();
                let start = Instant::now();
                for ecr in &simulators {
                    sample_summary(&configs, ecr).await;
                }
                start.elapsed()
            })
        })
    });
    group.finish();
}

criterion_group!(benches, fanout);
criterion_main!(benches);
