//! What both binaries share: logging, AWS settings and the store, and the
//! Lambda adaptation of the router.

use std::sync::Arc;

use axum::Router;
use ecrscan_core::aws::sqs::SqsWorkQueue;
use ecrscan_core::aws::wiring::{Wiring, WiringError, WiringSettings};
use ecrscan_core::notify::{DeliveryReport, Notifier};
use ecrscan_core::{ConfigStore, ReadFrom, Recorder, ScanBackend};
use lambda_http::RequestExt;

use crate::api::PublicBaseUrl;
use tower::ServiceExt;

/// Whether the process runs inside AWS Lambda.
pub fn in_lambda() -> bool {
    std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some()
}

/// Logs to stderr: JSON lines under Lambda (for CloudWatch Logs Insights),
/// human-readable text elsewhere. `RUST_LOG` sets the level (default `info`).
pub fn init_tracing() {
    let builder = tracing_subscriber::fmt()
        .with_env_filter(ecrscan_core::logging::log_filter("info"))
        .with_writer(std::io::stderr);
    if in_lambda() {
        builder
            .json()
            .with_current_span(false)
            .without_time()
            .init();
    } else {
        builder.init();
    }
}

/// Why the binaries cannot start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The store, a setting or a client cannot be set up.
    #[error(transparent)]
    Wiring(#[from] WiringError),
    /// A setting is invalid.
    #[error(transparent)]
    Setting(#[from] ecrscan_core::settings::InvalidSetting),
    /// A queue setting is invalid.
    #[error("{0}")]
    QueueSetting(String),
}

/// The work queue the environment names: `ECRSCAN_WORK_QUEUE_URL`, with
/// `ECRSCAN_DEAD_LETTER_QUEUE_URL` and `ECRSCAN_MAX_RECEIVES` (its redrive
/// limit, 1 to 1000) when the worker dead-letters itself; `None` without a
/// queue URL.
pub fn work_queue_from_env(
    sdk_config: &aws_config::SdkConfig,
) -> Result<Option<(SqsWorkQueue, Option<u32>)>, StartupError> {
    let Some(url) = std::env::var("ECRSCAN_WORK_QUEUE_URL")
        .ok()
        .filter(|url| !url.is_empty())
    else {
        return Ok(None);
    };
    let dead_letter = std::env::var("ECRSCAN_DEAD_LETTER_QUEUE_URL")
        .ok()
        .filter(|url| !url.is_empty());
    let max_receives = ecrscan_core::settings::parse_var(
        "ECRSCAN_MAX_RECEIVES",
        "a whole number from 1 to 1000",
        |value| value.parse::<u32>().ok().filter(|n| (1..=1000).contains(n)),
    )?;
    let queue = match (dead_letter, max_receives) {
        (Some(dead_letter), Some(max)) => {
            SqsWorkQueue::with_dead_letter(sdk_config, url, dead_letter, max)
        }
        (None, None) => SqsWorkQueue::new(sdk_config, url),
        _ => {
            return Err(StartupError::QueueSetting(
                "set both ECRSCAN_DEAD_LETTER_QUEUE_URL and ECRSCAN_MAX_RECEIVES, or neither"
                    .into(),
            ));
        }
    };
    Ok(Some((queue, max_receives)))
}

/// The time left before a Lambda invocation's deadline (milliseconds since
/// the epoch, as the runtime gives it).
pub fn time_left(deadline_ms: u64) -> std::time::Duration {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|now| now.as_millis() as u64)
        .unwrap_or(0);
    std::time::Duration::from_millis(deadline_ms.saturating_sub(now_ms))
}

/// The store and backend from the environment ([`WiringSettings::from_env`]):
/// `ECRSCAN_STORE` (`s3://bucket/prefix`, `file:///dir` or a path) or the
/// sample's `ECR_SCAN_CONFIG_BUCKET`, the validated ecrscan settings, and
/// the standard AWS configuration.
pub async fn store_and_backend() -> Result<Runtime, StartupError> {
    let wiring = Wiring::open(WiringSettings::from_env()?).await?;
    let recorder = wiring.recorder().await?;
    tracing::info!(store = %wiring.settings().store, "ready");
    Ok(Runtime {
        notifier: wiring.notifier().await?,
        channels: wiring.store(),
        suppressions: wiring.store(),
        configs: wiring.configs(),
        recorded: wiring.backend(ReadFrom::Recorded).await?,
        live: wiring.backend(ReadFrom::Live).await?,
        ecr: wiring.ecr().await,
        recorder,
        sdk_config: wiring.sdk_config().await.clone(),
    })
}

/// The store and the two ways of reading scan results.
pub struct Runtime {
    /// The configs.
    pub configs: Arc<dyn ConfigStore>,
    /// Stored results where they are fresh enough, ECR for the rest; records what it reads.
    pub recorded: Arc<dyn ScanBackend>,
    /// ECR; records what it reads.
    pub live: Arc<dyn ScanBackend>,
    /// ECR alone, for writers that record explicitly.
    pub ecr: Arc<dyn ScanBackend>,
    /// The record step over the store.
    pub recorder: Recorder,
    /// The notification channels.
    pub channels: Arc<dyn ecrscan_core::ChannelStore>,
    /// The suppression rules.
    pub suppressions: Arc<dyn ecrscan_core::SuppressionStore>,
    /// Sends the changes the recorder queues to the channels.
    pub notifier: Arc<Notifier>,
    /// The AWS configuration, for further clients.
    pub sdk_config: aws_config::SdkConfig,
}

/// An invocation's result and the notifications sent after it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct WithNotifications<T> {
    /// What the invocation did.
    #[serde(flatten)]
    pub result: T,
    /// What the delivery pass after it did.
    pub notifications: DeliveryReport,
}

/// Runs `work`, then sends every due delivery, whether or not `work`
/// succeeded (what it queued, and what earlier runs left pending).
pub async fn then_send<T, E>(
    notifier: &Notifier,
    work: impl std::future::Future<Output = Result<T, E>>,
) -> Result<WithNotifications<T>, E> {
    let result = work.await;
    let notifications = send_due(notifier).await;
    result.map(|result| WithNotifications {
        result,
        notifications,
    })
}

/// Sends every due delivery and logs what did not go through; a run's
/// failed sends stay pending for the next run, so they never fail it.
pub async fn send_due(notifier: &Notifier) -> DeliveryReport {
    let report = notifier.deliver_due(chrono::Utc::now()).await;
    for error in &report.errors {
        tracing::warn!(error = %error, "notifications could not be read or settled");
    }
    if report.retry_later + report.deferred + report.failed > 0 {
        tracing::warn!(
            retry_later = report.retry_later,
            deferred = report.deferred,
            failed = report.failed,
            "some notifications were not delivered (ecrscan channels status)"
        );
    }
    report
}

/// Removes an API Gateway stage (`/Prod`) from the start of a request's
/// path, so the router sees `/configs` whether or not
/// `AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH` is set (REST APIs, and HTTP APIs
/// with a named stage).
///
/// It also records the API's public URL (`https://DOMAIN/STAGE`) as a
/// [`PublicBaseUrl`] extension, for the feeds' `self` links.
pub fn strip_stage(mut request: lambda_http::Request) -> lambda_http::Request {
    let (stage, domain) = match request.request_context_ref() {
        Some(lambda_http::request::RequestContext::ApiGatewayV1(context)) => {
            (context.stage.clone(), context.domain_name.clone())
        }
        Some(lambda_http::request::RequestContext::ApiGatewayV2(context)) => {
            (context.stage.clone(), context.domain_name.clone())
        }
        _ => (None, None),
    };
    let stage = stage.filter(|stage| stage != "$default");
    if let Some(domain) = domain {
        let base = match &stage {
            Some(stage) => format!("https://{domain}/{stage}"),
            None => format!("https://{domain}"),
        };
        request.extensions_mut().insert(PublicBaseUrl(base));
    }
    let Some(stage) = stage else {
        return request;
    };
    let prefix = format!("/{stage}");
    let path = request.uri().path();
    let rest = match path.strip_prefix(&prefix) {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => rest,
        _ => return request,
    };
    let rest = if rest.is_empty() { "/" } else { rest };
    let path_and_query = match request.uri().query() {
        Some(query) => format!("{rest}?{query}"),
        None => rest.to_owned(),
    };
    let mut parts = request.uri().clone().into_parts();
    if let Ok(path_and_query) = path_and_query.parse() {
        parts.path_and_query = Some(path_and_query);
        if let Ok(uri) = axum::http::Uri::from_parts(parts) {
            *request.uri_mut() = uri;
        }
    }
    request
}

/// Answers one Lambda HTTP request with the router.
pub async fn handle_lambda_request(
    app: Router,
    request: lambda_http::Request,
) -> Result<axum::response::Response, std::convert::Infallible> {
    app.oneshot(strip_stage(request).map(axum::body::Body::new))
        .await
}
