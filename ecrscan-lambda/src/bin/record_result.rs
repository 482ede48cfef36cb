//! `ecrscan-record-result`: records each finished scan that ECR (`ECR Image
//! Scan`) or Amazon Inspector (`Inspector2 Scan`) announces on EventBridge.

use ecrscan_lambda::events::record_finished_scan;
use ecrscan_lambda::runtime::{init_tracing, store_and_backend};
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    init_tracing();
    let runtime = store_and_backend().await?;
    let (ecr, recorder) = (runtime.ecr, runtime.recorder);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| {
        let (ecr, recorder) = (ecr.clone(), recorder.clone());
        async move {
            record_finished_scan(&event.payload, ecr.as_ref(), &recorder)
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
