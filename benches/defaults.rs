//! ecrscan at its defaults, against a simulated ECR in virtual time (tokio's
//! paused clock: minutes of simulated calls take milliseconds, and the
//! numbers do not depend on the machine).
//!
//! 1. Latency: a 230-image repository, one config for all its tags, 100 ms
//!    a call. A first scan, a re-scan (every image already scanned today)
//!    and a summary, each by ecrscan at its defaults (the default
//!    concurrency, every call paced by the default adaptive rate, as
//!    `EcrBackend` does), by 16 calls in flight without any rate control
//!    (a 16-thread boto3 script), and one call at a time (the AWS sample).
//! 2. Throttling: clients paced by the default adaptive rate against a
//!    service that throttles above 20, 100 and 500 calls a second: the
//!    accepted rate as a share of what the service allows, and the share of
//!    calls throttled.
//!
//! Criterion reports the virtual time of each run (`iter_custom`); the
//! ratios against the baselines of the same run are printed first.
//!
//! `cargo bench -p ecrscan-core --bench defaults`

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use ecrscan_core::ratelimit::{RateLimits, RatePolicy};
use ecrscan_core::testing::{Paced, SimulatedEcr, ThrottlingService, drive};
use ecrscan_core::{ConfigSpec, ScanBackend, ScanConfig, ScanOptions, collect_summary, rescan};

const IMAGES: usize = 230;
const LATENCY: Duration = Duration::from_millis(100);

fn config() -> ScanConfig {
    let spec = ConfigSpec::new(
        "us-west-2",
        "123456789012",
        "fleet/app",
        Vec::<String>::new(),
    )
    .expect("valid");
    ScanConfig::create(spec, Utc.timestamp_opt(1_764_230_400, 0).unwrap())
}

fn registry(config: &ScanConfig) -> SimulatedEcr {
    let repository = config.repository_ref();
    let mut ecr = SimulatedEcr::new().with_latency(LATENCY);
    for i in 0..IMAGES {
        ecr = ecr.with_image(
            &repository,
            &format!("sha256:{i:064x}"),
            &[&format!("v{i}")],
        );
    }
    ecr
}

#[derive(Clone, Copy, PartialEq)]
enum Client {
    Defaults,
    SixteenThreads,
    OneAtATime,
}

impl Client {
    const ALL: [Client; 3] = [Client::Defaults, Client::SixteenThreads, Client::OneAtATime];

    fn name(self) -> &'static str {
        match self {
            Client::Defaults => "ecrscan defaults",
            Client::SixteenThreads => "16 in flight, no rate control",
            Client::OneAtATime => "one call at a time",
        }
    }

    fn options(self) -> ScanOptions {
        ScanOptions {
            concurrency: match self {
                Client::Defaults => ScanOptions::DEFAULT_CONCURRENCY,
                Client::SixteenThreads => 16,
                Client::OneAtATime => 1,
            },
        }
    }

    fn backend(self, ecr: SimulatedEcr) -> Box<dyn ScanBackend> {
        match self {
            Client::Defaults => Box::new(Paced::new(Arc::new(ecr), None)),
            _ => Box::new(ecr),
        }
    }
}

#[derive(Clone, Copy)]
enum Run {
    FirstScan,
    Rescan,
    Summary,
}

impl Run {
    const ALL: [Run; 3] = [Run::FirstScan, Run::Rescan, Run::Summary];

    fn name(self) -> &'static str {
        match self {
            Run::FirstScan => "first scan",
            Run::Rescan => "re-scan",
            Run::Summary => "summary",
        }
    }
}

fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("runtime")
}

/// The virtual time of one run.
fn virtual_time(client: Client, run: Run) -> Duration {
    let config = config();
    let configs = std::slice::from_ref(&config);
    paused_runtime().block_on(async {
        let ecr = registry(&config);
        if let Run::Rescan = run {
            // Every image was scanned today already.
            rescan(configs, &ecr, &ScanOptions::default()).await;
        }
        let backend = client.backend(ecr);
        let started = tokio::time::Instant::now();
        match run {
            Run::FirstScan | Run::Rescan => {
                rescan(configs, backend.as_ref(), &client.options()).await;
            }
            Run::Summary => {
                collect_summary(
                    configs,
                    backend.as_ref(),
                    &client.options(),
                    &ecrscan_core::Suppressions::none(),
                )
                .await;
            }
        }
        started.elapsed()
    })
}

fn defaults(c: &mut Criterion) {
    println!(
        "{IMAGES} images, {} ms a call (virtual time):",
        LATENCY.as_millis()
    );
    for run in Run::ALL {
        let times: Vec<Duration> = Client::ALL
            .iter()
            .map(|&cl| virtual_time(cl, run))
            .collect();
        println!(
            "  {:<10}  defaults {:>6.2} s   16 in flight {:>6.2} s ({:.2}x faster)   one at a time {:>6.2} s ({:.1}x faster)",
            run.name(),
            times[0].as_secs_f64(),
            times[1].as_secs_f64(),
            times[1].as_secs_f64() / times[0].as_secs_f64(),
            times[2].as_secs_f64(),
            times[2].as_secs_f64() / times[0].as_secs_f64(),
        );
    }
    println!(
        "the default adaptive rate against a service that throttles above a rate (64 clients, 50 ms a call, 2 minutes after a 30 s warm-up):"
    );
    for cap in [20.0, 100.0, 500.0] {
        let report = paused_runtime().block_on(drive(
            Arc::new(RateLimits::adaptive(RatePolicy::adaptive(None))),
            Arc::new(ThrottlingService::new(cap, cap / 10.0)),
            64,
            Duration::from_millis(50),
            Duration::from_secs(30),
            Duration::from_secs(120),
        ));
        println!(
            "  cap {cap:>5.0}/s: {:.1} % of it accepted, {:.2} % of calls throttled",
            100.0 * report.accepted_per_second / cap,
            100.0 * report.throttled_share
        );
    }

    let mut group = c.benchmark_group("defaults (virtual time)");
    group.sample_size(10);
    for run in Run::ALL {
        for client in [Client::Defaults, Client::SixteenThreads] {
            group.bench_function(format!("{} / {}", run.name(), client.name()), |b| {
                b.iter_custom(|iters| (0..iters).map(|_| virtual_time(client, run)).sum());
            });
        }
    }
    group.finish();
}

criterion_group!(benches, defaults);
criterion_main!(benches);
