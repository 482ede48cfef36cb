//! `ecrscan-api`: the HTTP API. Under AWS Lambda it serves API Gateway
//! events; elsewhere it listens on `--listen` (`ECRSCAN_LISTEN`, default
//! `127.0.0.1:3000`) behind [`LocalGuard`]: a bearer token (required off
//! loopback) and a `Host` check.

use std::net::SocketAddr;

use axum::http::HeaderValue;
use clap::Parser;
use ecrscan_core::ScanOptions;
use ecrscan_lambda::api::{AppState, app};
use ecrscan_lambda::local::LocalGuard;
use ecrscan_lambda::replay::{api_gateway_response, read_event_text};
use ecrscan_lambda::runtime::{handle_lambda_request, in_lambda, init_tracing, store_and_backend};

/// ecrscan's HTTP API: scan configs, summary and findings feeds.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Address to listen on when not running in AWS Lambda.
    #[arg(long, env = "ECRSCAN_LISTEN", default_value = "127.0.0.1:3000")]
    listen: SocketAddr,
    /// Concurrent AWS calls per request.
    #[arg(long, env = "ECRSCAN_CONCURRENCY", default_value = "32", value_parser = ecrscan_core::settings::parse_concurrency)]
    concurrency: std::num::NonZeroUsize,
    /// The API's public base URL, for the feeds' self links.
    #[arg(long, env = "ECRSCAN_PUBLIC_URL")]
    public_url: Option<String>,
    /// The one origin allowed to call the API from a browser (CORS); none by default.
    #[arg(long, env = "ECRSCAN_CORS_ALLOW_ORIGIN")]
    cors_allow_origin: Option<String>,
    /// Outside Lambda: the bearer token every request must carry (at least
    /// 16 characters); required to listen on an address other than
    /// loopback.
    #[arg(long, env = "ECRSCAN_API_TOKEN", hide_env_values = true)]
    api_token: Option<String>,
    /// Outside Lambda: host names requests may name in `Host` besides the
    /// listen address (comma-separated).
    #[arg(long, env = "ECRSCAN_ALLOWED_HOSTS", value_delimiter = ',')]
    allowed_hosts: Vec<String>,
    /// Outside Lambda: answer this one API Gateway event (a JSON file; `-`
    /// for stdin) and print the response as API Gateway would, instead of
    /// listening.
    #[arg(long, value_name = "FILE")]
    event: Option<std::path::PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    init_tracing();
    let args = Args::parse();
    // The local server's guard is checked before anything else starts.
    let local_guard = if in_lambda() || args.event.is_some() {
        None
    } else {
        Some(LocalGuard::new(
            args.listen,
            args.api_token.clone(),
            args.allowed_hosts.clone(),
        )?)
    };
    let runtime = store_and_backend().await?;
    let state = AppState {
        results: Some(std::sync::Arc::clone(runtime.recorder.store())),
        channels: Some(runtime.channels),
        suppressions: Some(runtime.suppressions),
        store: runtime.configs,
        backend: runtime.recorded,
        live_backend: runtime.live,
        options: ScanOptions {
            concurrency: args.concurrency.get(),
        },
        public_url: args.public_url,
        cors_allow_origin: args
            .cors_allow_origin
            .filter(|origin| !origin.is_empty())
            .map(|origin| HeaderValue::try_from(origin.as_str()))
            .transpose()
            .map_err(|_| anyhow::anyhow!("ECRSCAN_CORS_ALLOW_ORIGIN is not a valid origin"))?,
        deadline: ecrscan_lambda::api::HANDLER_DEADLINE,
    };
    let router = app(state);
    if let (Some(path), false) = (&args.event, in_lambda()) {
        let text = read_event_text(Some(path))?;
        let request = lambda_http::request::from_str(&text)
            .map_err(|err| anyhow::anyhow!("not an API Gateway event: {err}"))?;
        let response = match handle_lambda_request(router, request).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        println!("{}", api_gateway_response(response).await);
        return Ok(());
    }
    if in_lambda() {
        lambda_http::run(lambda_http::service_fn(move |request| {
            handle_lambda_request(router.clone(), request)
        }))
        .await
        .map_err(|err| anyhow::anyhow!("{err}"))?;
        return Ok(());
    }
    let router = match local_guard {
        Some(guard) => guard.protect(router),
        None => router,
    };
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|err| anyhow::anyhow!("cannot listen on {}: {err}", args.listen))?;
    tracing::info!(address = %listener.local_addr()?, "listening");
    axum::serve(listener, router)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
