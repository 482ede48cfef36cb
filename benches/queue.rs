//! The scheduled scan through the queue: 100,000 images (1,000 repositories
//! of 100 tagged images, one config each) planned onto a queue and started
//! by 1, 2 and 8 workers over a simulated ECR, 50 ms a call, and a queue
//! answering in 20 ms, in virtual time (tokio's paused clock). Each worker is paced as ScanWorkerFunc is
//! at the template's default `WorkerCallsPerSecond` (a ceiling of 10 calls
//! a second per action, the adaptive rate under it) and takes batches of
//! 10, as Lambda's event source hands them.
//!
//! The baseline of each run is the ideal: every StartImageScan at the
//! fleet's budget, `images / (workers × 10 per second)`. Printed first,
//! with the planner's time and the calls it made; criterion then reports
//! the virtual times (`iter_custom`).
//!
//! `cargo bench -p ecrscan-core --bench queue`

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use criterion::SamplingMode;
use criterion::{Criterion, criterion_group, criterion_main};
use ecrscan_core::queue::{BATCH, WorkQueue, enqueue_plan, settle, work_on};
use ecrscan_core::testing::{MemoryQueue, Paced, SimulatedEcr};
use ecrscan_core::{ConfigSpec, ScanBackend, ScanConfig, ScanOptions};

const REPOSITORIES: usize = 1_000;
const IMAGES_PER_REPOSITORY: usize = 100;
const IMAGES: usize = REPOSITORIES * IMAGES_PER_REPOSITORY;
const LATENCY: Duration = Duration::from_millis(50);
/// Each SQS call: a receive, a delete of a batch, a send of 10.
const QUEUE_LATENCY: Duration = Duration::from_millis(20);
/// The template's default WorkerCallsPerSecond.
const WORKER_CALLS_PER_SECOND: f64 = 10.0;

fn fleet() -> (Arc<SimulatedEcr>, Vec<ScanConfig>) {
    let created = Utc.timestamp_opt(1_764_230_400, 0).unwrap();
    let mut ecr = SimulatedEcr::new().with_latency(LATENCY);
    let mut configs = Vec::new();
    for r in 0..REPOSITORIES {
        let spec = ConfigSpec::new(
            "us-west-2",
            "123456789012",
            format!("fleet/service-{r}"),
            Vec::<String>::new(),
        )
        .expect("a valid config");
        let config = ScanConfig::create(spec, created);
        let repository = config.repository_ref();
        for i in 0..IMAGES_PER_REPOSITORY {
            ecr = ecr.with_image(
                &repository,
                &format!("sha256:{r:032x}{i:032x}"),
                &[&format!("v{i}")],
            );
        }
        configs.push(config);
    }
    (Arc::new(ecr), configs)
}

/// What one run through the queue took, in virtual time.
struct QueueRun {
    planning: Duration,
    working: Duration,
    started: usize,
    left: usize,
}

/// Plans the fleet onto a queue (the planner at the default adaptive rate,
/// as StartScanFunc), then lets `workers` workers drain it.
fn run(workers: usize) -> QueueRun {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let (ecr, configs) = fleet();
        let ecr: Arc<dyn ScanBackend> = ecr;
        let queue = Arc::new(
            MemoryQueue::new(Duration::from_secs(720), Some(5)).with_latency(QUEUE_LATENCY),
        );
        let planner = Paced::new(Arc::clone(&ecr), None);
        let begun = tokio::time::Instant::now();
        enqueue_plan(
            &configs,
            &planner,
            queue.as_ref(),
            &ScanOptions::default(),
            None,
        )
        .await
        .expect("queued");
        let planning = begun.elapsed();
        let begun = tokio::time::Instant::now();
        let backends: Vec<Arc<Paced>> = (0..workers)
            .map(|_| Arc::new(Paced::new(Arc::clone(&ecr), Some(WORKER_CALLS_PER_SECOND))))
            .collect();
        let tasks: Vec<_> = backends
            .iter()
            .map(|backend| {
                let backend = Arc::clone(backend);
                let queue = Arc::clone(&queue);
                tokio::spawn(async move {
                    loop {
                        let messages = queue.receive(BATCH, Duration::ZERO).await.expect("receive");
                        if messages.is_empty() {
                            return;
                        }
                        let report = work_on(
                            messages,
                            backend.as_ref(),
                            queue.as_ref(),
                            &ScanOptions::default(),
                            None,
                        )
                        .await;
                        let settled = settle(queue.as_ref(), report, Some(5)).await;
                        assert!(settled.errors.is_empty(), "{:?}", settled.errors);
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("a worker");
        }
        QueueRun {
            planning,
            working: begun.elapsed(),
            started: backends.iter().map(|b| b.starts()).sum(),
            left: queue.len(),
        }
    })
}

fn queue(c: &mut Criterion) {
    println!(
        "{IMAGES} images through the queue, {} ms an ECR call, {} ms a queue call, each worker at most {WORKER_CALLS_PER_SECOND} calls a second (virtual time):",
        LATENCY.as_millis(),
        QUEUE_LATENCY.as_millis()
    );
    for workers in [1, 2, 8] {
        let run = run(workers);
        assert_eq!(run.started, IMAGES, "every image started once");
        assert_eq!(run.left, 0, "the queue drained");
        let ideal = IMAGES as f64 / (workers as f64 * WORKER_CALLS_PER_SECOND);
        println!(
            "  {workers} workers: {:>7.0} s, ideal {:>7.0} s ({:.3}x the ideal); planning {:.1} s for {REPOSITORIES} listings",
            run.working.as_secs_f64(),
            ideal,
            run.working.as_secs_f64() / ideal,
            run.planning.as_secs_f64(),
        );
    }
    let mut group = c.benchmark_group("queue (virtual time)");
    // Virtual time does not vary: the fewest runs criterion takes.
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(1))
        .measurement_time(Duration::from_millis(1));
    for workers in [1, 2, 8] {
        group.bench_function(format!("{IMAGES} images, {workers} workers"), |b| {
            b.iter_custom(|iters| (0..iters).map(|_| run(workers).working).sum());
        });
    }
    group.finish();
}

criterion_group!(benches, queue);
criterion_main!(benches);
