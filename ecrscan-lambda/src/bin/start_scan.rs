//! `ecrscan-start-scan`: the scheduled re-scan. Under AWS Lambda it handles
//! EventBridge schedule events; elsewhere it runs once and prints the counts
//! (with `--event FILE`, after reading that schedule event as Lambda would).
//! After the run it sends the changes queued for the notification channels,
//! and whatever earlier runs left pending.

use std::sync::Arc;

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use clap::Parser;
use ecrscan_core::ScanOptions;
use ecrscan_lambda::replay::{EventArg, read_event};
use ecrscan_lambda::runtime::{in_lambda, init_tracing, store_and_backend, then_send};
use ecrscan_lambda::scheduled::start_scans;
use lambda_runtime::{LambdaEvent, service_fn};

/// Re-scans every config's images.
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
            start_scans(store.as_ref(), backend.as_ref(), &options),
        )
        .await?;
        println!("{}", serde_json::to_string(&counts)?);
        return Ok(());
    }
    let (store, backend, options) = (Arc::clone(&store), Arc::clone(&backend), Arc::new(options));
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<EventBridgeEvent<serde_json::Value>>| {
            let (store, backend, options, notifier) = (
                Arc::clone(&store),
                Arc::clone(&backend),
                Arc::clone(&options),
                Arc::clone(&notifier),
            );
            async move {
                tracing::info!(source = %event.payload.source, "scheduled re-scan");
                then_send(
                    &notifier,
                    start_scans(store.as_ref(), backend.as_ref(), &options),
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
