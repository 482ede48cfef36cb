//! `ecrscan-record-result`: records each finished scan that ECR (`ECR Image
//! Scan`) or Amazon Inspector (`Inspector2 Scan`) announces on EventBridge.
//! Outside Lambda it records one event, from `--event FILE` or stdin, and
//! prints the result as JSON: `ecrscan-record-result < event.json`.

use clap::Parser;
use ecrscan_lambda::events::record_finished_scan;
use ecrscan_lambda::replay::{EventArg, read_event};
use ecrscan_lambda::runtime::{in_lambda, init_tracing, store_and_backend, then_send};
use lambda_runtime::{LambdaEvent, service_fn};

/// Records finished ECR and Amazon Inspector scans.
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
    let (ecr, recorder, notifier) = (runtime.ecr, runtime.recorder, runtime.notifier);
    if !in_lambda() {
        let event = read_event(args.event.event.as_deref())?;
        let recorded = then_send(
            &notifier,
            record_finished_scan(&event, ecr.as_ref(), &recorder),
        )
        .await?;
        println!("{}", serde_json::to_string(&recorded)?);
        return Ok(());
    }
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| {
        let (ecr, recorder, notifier) = (ecr.clone(), recorder.clone(), notifier.clone());
        async move {
            then_send(
                &notifier,
                record_finished_scan(&event.payload, ecr.as_ref(), &recorder),
            )
            .await
            .map_err(|err| lambda_runtime::Diagnostic {
                error_type: "RecordError".into(),
                error_message: err.to_string(),
            })
        }
    }))
    .await
    .map_err(|err| anyhow::anyhow!("{err}"))
}
