//! Fan-out: re-scan and summary of 1,000 images (200 configs × 5 tags, two
//! tags of each config sharing a digest) over a simulated ECR with a fixed
//! per-call latency and a cap on calls a second, against the ideal
//! `max(calls × latency / concurrency, calls / TPS)` and against the AWS
//! sample's algorithm (one call per tag, one at a time), in the same run.
//!
//! `cargo bench -p ecrscan-core --bench fanout`

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use ecrscan_core::{
    BackendError, ConfigSpec, DigestScan, Image, LatestScan, RepositoryRef, Resolution,
    ScanBackend, ScanConfig, ScanOptions, ScanStatus, collect_summary, rescan,
};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

const CONFIGS: usize = 200;
const TAGS: usize = 5;
const LATENCY: Duration = Duration::from_millis(5);
const TPS: u32 = 2_000;
const CONCURRENCY: usize = 8;

/// ECR as seen from a client: every call takes `LATENCY`, and the service
/// admits at most `TPS` calls a second (a caller over the cap waits, as a
/// throttled call would be retried).
struct SimulatedEcr {
    tps: DefaultDirectRateLimiter,
    calls: AtomicUsize,
}

impl SimulatedEcr {
    fn new() -> SimulatedEcr {
        let quota = Quota::per_second(NonZeroU32::new(TPS).expect("non-zero"))
            .allow_burst(NonZeroU32::new(20).expect("non-zero"));
        SimulatedEcr {
            tps: RateLimiter::direct(quota),
            calls: AtomicUsize::new(0),
        }
    }

    async fn call(&self) {
        self.tps.until_ready().await;
        self.calls.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(LATENCY).await;
    }
}

/// Tags t0 and t1 of a repository share a digest; t2..t4 have their own.
fn digest_of(repository: &str, tag: &str) -> String {
    let index: usize = tag[1..].parse().unwrap_or(0);
    format!("sha256:{repository}-{}", index.max(1))
}

#[async_trait]
impl ScanBackend for SimulatedEcr {
    async fn resolve_images(
        &self,
        repository: &RepositoryRef,
        tags: &[String],
    ) -> Result<Resolution, BackendError> {
        self.call().await;
        let mut images: Vec<Image> = Vec::new();
        for tag in tags {
            let digest = digest_of(&repository.repository, tag);
            match images.iter_mut().find(|image| image.digest == digest) {
                Some(image) => image.tags.push(tag.clone()),
                None => images.push(Image {
                    digest,
                    tags: vec![tag.clone()],
                }),
            }
        }
        Ok(Resolution {
            images,
            missing_tags: vec![],
        })
    }

    async fn start_scan(&self, _: &RepositoryRef, _: &str) -> Result<(), BackendError> {
        self.call().await;
        Ok(())
    }

    async fn scan_result(&self, _: &RepositoryRef, _: &str) -> Result<LatestScan, BackendError> {
        self.call().await;
        Ok(DigestScan::without_findings(ScanStatus::Complete, None).into())
    }
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
                let ecr = SimulatedEcr::new();
                rescan(&configs, &ecr, &options).await;
                ecr.calls.load(Ordering::Relaxed)
            }),
        ),
        (
            "ecrscan summary",
            runtime.block_on(async {
                let ecr = SimulatedEcr::new();
                collect_summary(&configs, &ecr, &options).await;
                ecr.calls.load(Ordering::Relaxed)
            }),
        ),
        (
            "sample rescan",
            runtime.block_on(async {
                let ecr = SimulatedEcr::new();
                sample_rescan(&configs, &ecr).await;
                ecr.calls.load(Ordering::Relaxed)
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
                let start = Instant::now();
                for _ in 0..iters {
                    rescan(&configs, &SimulatedEcr::new(), &options).await;
                }
                start.elapsed()
            })
        })
    });
    group.bench_function("ecrscan_summary", |b| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    collect_summary(&configs, &SimulatedEcr::new(), &options).await;
                }
                start.elapsed()
            })
        })
    });
    group.measurement_time(Duration::from_secs(60));
    group.bench_function("sample_rescan_sequential", |b| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    sample_rescan(&configs, &SimulatedEcr::new()).await;
                }
                start.elapsed()
            })
        })
    });
    group.bench_function("sample_summary_sequential", |b| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    sample_summary(&configs, &SimulatedEcr::new()).await;
                }
                start.elapsed()
            })
        })
    });
    group.finish();
}

criterion_group!(benches, fanout);
criterion_main!(benches);
