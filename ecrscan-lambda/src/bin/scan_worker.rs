//! `ecrscan-scan-worker`: starts the scans queued on the work queue. Under
//! AWS Lambda it handles the SQS event source's batches (with
//! `ReportBatchItemFailures`); elsewhere it works on one recorded SQS event
//! (`--event FILE` or stdin) and prints the batch response and counts.
//!
//! Settings: `ECRSCAN_WORK_QUEUE_URL` (where resolved selections queue
//! their scans), `ECRSCAN_DEAD_LETTER_QUEUE_URL` and `ECRSCAN_MAX_RECEIVES`
//! (the queue's redrive limit: at that receive a failing message is
//! dead-lettered with its reason), `ECRSCAN_CALLS_PER_SECOND` (this
//! worker's ceiling per ECR action; the budget of the fleet of workers is
//! that times the event source's maximum concurrency).

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::SqsEvent;
use clap::Parser;
use ecrscan_core::ScanOptions;
use ecrscan_lambda::replay::{EventArg, read_event};
use ecrscan_lambda::runtime::{
    StartupError, in_lambda, init_tracing, store_and_backend, time_left, work_queue_from_env,
};
use ecrscan_lambda::worker::{work_deadline, work_on_batch};
use lambda_runtime::{LambdaEvent, service_fn};

/// Starts the queued scans of one SQS batch.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    event: EventArg,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    init_tracing();
    let args = Args::parse();
    let runtime = store_and_backend().await?;
    let (queue, max_receives) = work_queue_from_env(&runtime.sdk_config)?.ok_or_else(|| {
        StartupError::QueueSetting("set ECRSCAN_WORK_QUEUE_URL, the work queue".into())
    })?;
    let queue = Arc::new(queue);
    // Scans go to ECR; the scans started (and images resolved) are recorded.
    let backend = runtime.live;
    let options = Arc::new(ScanOptions::default());
    if !in_lambda() {
        let event: SqsEvent = serde_json::from_value(read_event(args.event.event.as_deref())?)
            .map_err(|err| anyhow::anyhow!("not an SQS event: {err}"))?;
        let deadline = tokio::time::Instant::now() + work_deadline(Duration::from_secs(900));
        let (response, counts) = work_on_batch(
            event,
            backend.as_ref(),
            queue.as_ref(),
            &options,
            deadline,
            max_receives,
        )
        .await;
        println!(
            "{}",
            serde_json::json!({"response": response, "counts": counts})
        );
        return Ok(());
    }
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let (backend, queue, options) = (
            Arc::clone(&backend),
            Arc::clone(&queue),
            Arc::clone(&options),
        );
        async move {
            let deadline =
                tokio::time::Instant::now() + work_deadline(time_left(event.context.deadline));
            let (response, counts) = work_on_batch(
                event.payload,
                backend.as_ref(),
                queue.as_ref(),
                &options,
                deadline,
                max_receives,
            )
            .await;
            tracing::info!(?counts, "batch worked on");
            Ok::<_, std::convert::Infallible>(response)
        }
    }))
    .await
    .map_err(|err| anyhow::anyhow!("{err}"))
}
