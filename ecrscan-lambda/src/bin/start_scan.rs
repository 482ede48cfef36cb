//! `ecrscan-start-scan`: the scheduled re-scan. Under AWS Lambda it handles
//! EventBridge schedule events; elsewhere it runs once and prints the counts
//! (with `--event FILE`, after reading that schedule event as Lambda would).
//! With `ECRSCAN_WORK_QUEUE_URL` set it plans the scan and queues it for the
//! workers (ScanWorkerFunc, `ecrscan worker`) instead of starting the scans
//! itself, stopping before the invocation's deadline.
//! After the run it sends the changes queued for the notification channels,
//! and whatever earlier runs left pending.

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use clap::Parser;
use ecrscan_core::aws::sqs::SqsWorkQueue;
use ecrscan_core::{ConfigStore, ScanBackend, ScanOptions};
use ecrscan_lambda::replay::{EventArg, read_event};
use ecrscan_lambda::runtime::{
    in_lambda, init_tracing, store_and_backend, then_send, time_left, work_queue_from_env,
};
use ecrscan_lambda::scheduled::{StartScanError, enqueue_scans, start_scans};
use ecrscan_lambda::worker::work_deadline;
use lambda_runtime::{LambdaEvent, service_fn};

/// Re-scans every config's images.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    event: EventArg,
}

/// Starts the scans, or queues them when there is a queue; the counts as JSON.
async fn run(
    store: &dyn ConfigStore,
    backend: &dyn ScanBackend,
    queue: Option<&SqsWorkQueue>,
    options: &ScanOptions,
    time_left: Option<Duration>,
) -> Result<serde_json::Value, StartScanError> {
    let to_json = |value: Result<serde_json::Value, serde_json::Error>| value.unwrap_or_default();
    match queue {
        Some(queue) => {
            let deadline = time_left.map(|left| tokio::time::Instant::now() + work_deadline(left));
            let counts = enqueue_scans(store, backend, queue, options, deadline).await?;
            Ok(to_json(serde_json::to_value(counts)))
        }
        None => {
            let counts = start_scans(store, backend, options).await?;
            Ok(to_json(serde_json::to_value(counts)))
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    init_tracing();
    let args = Args::parse();
    let runtime = store_and_backend().await?;
    let queue = work_queue_from_env(&runtime.sdk_config)?.map(|(queue, _)| Arc::new(queue));
    // Scans go to ECR; what the run learns (images, scans started) is recorded.
    let (store, backend, notifier) = (runtime.configs, runtime.live, runtime.notifier);
    let options = ScanOptions::default();
    if !in_lambda() {
        if let Some(path) = &args.event.event {
            let event: EventBridgeEvent<serde_json::Value> =
                serde_json::from_value(read_event(Some(path))?)
                    .map_err(|err| anyhow::anyhow!("not an EventBridge event: {err}"))?;
            tracing::info!(source = %event.source, "scheduled re-scan");
        }
        let counts = then_send(
            &notifier,
            run(
                store.as_ref(),
                backend.as_ref(),
                queue.as_deref(),
                &options,
                None,
            ),
        )
        .await?;
        println!("{}", serde_json::to_string(&counts)?);
        return Ok(());
    }
    let (store, backend, options) = (Arc::clone(&store), Arc::clone(&backend), Arc::new(options));
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<EventBridgeEvent<serde_json::Value>>| {
            let (store, backend, options, notifier, queue) = (
                Arc::clone(&store),
                Arc::clone(&backend),
                Arc::clone(&options),
                Arc::clone(&notifier),
                queue.clone(),
            );
            async move {
                tracing::info!(source = %event.payload.source, "scheduled re-scan");
                let left = time_left(event.context.deadline);
                then_send(
                    &notifier,
                    run(
                        store.as_ref(),
                        backend.as_ref(),
                        queue.as_deref(),
                        &options,
                        Some(left),
                    ),
                )
                .await
                .map_err(|err| lambda_runtime::Diagnostic {
                    error_type: "StartScanError".into(),
                    error_message: err.to_string(),
                })
            }
        },
    ))
    .await
    .map_err(|err| anyhow::anyhow!("{err}"))
}
