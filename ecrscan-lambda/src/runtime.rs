//! What both binaries share: logging, AWS settings and the store, and the
//! Lambda adaptation of the router.

use std::sync::Arc;

use axum::Router;
use ecrscan_core::aws::AwsSettings;
use ecrscan_core::{ConfigStore, EcrBackend, ScanBackend, StoreLocation, load_sdk_config};
use lambda_http::RequestExt;
use tower::ServiceExt;

/// Whether the process runs inside AWS Lambda.
pub fn in_lambda() -> bool {
    std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some()
}

/// Logs to stderr: JSON lines under Lambda (for CloudWatch Logs Insights),
/// human-readable text elsewhere. `RUST_LOG` sets the level (default `info`).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
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

/// The store and backend from the environment: `ECRSCAN_STORE`
/// (`s3://bucket/prefix`, `file:///dir` or a path) or the sample's
/// `ECR_SCAN_CONFIG_BUCKET`, and the standard AWS configuration.
pub async fn store_and_backend() -> anyhow::Result<(Arc<dyn ConfigStore>, Arc<dyn ScanBackend>)> {
    let location = StoreLocation::from_env()?.ok_or_else(|| {
        anyhow::anyhow!("no config store: set ECRSCAN_STORE (s3://bucket/prefix, file:///dir or a path) or ECR_SCAN_CONFIG_BUCKET")
    })?;
    let sdk_config = load_sdk_config(&AwsSettings::default()).await;
    let store = location.open(&sdk_config).await?;
    let backend: Arc<dyn ScanBackend> = Arc::new(EcrBackend::new(&sdk_config));
    tracing::info!(store = %location, "ready");
    Ok((store, backend))
}

/// Removes an API Gateway stage (`/Prod`) from the start of a request's
/// path, so the router sees `/configs` whether or not
/// `AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH` is set (REST APIs, and HTTP APIs
/// with a named stage).
pub fn strip_stage(mut request: lambda_http::Request) -> lambda_http::Request {
    let stage = match request.request_context_ref() {
        Some(lambda_http::request::RequestContext::ApiGatewayV1(context)) => context.stage.clone(),
        Some(lambda_http::request::RequestContext::ApiGatewayV2(context)) => context.stage.clone(),
        _ => None,
    };
    let Some(stage) = stage.filter(|stage| stage != "$default") else {
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
