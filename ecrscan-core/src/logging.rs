//! The log filter every ecrscan program uses, so none can forget the
//! redaction: `RUST_LOG` (or a default level), with every target that can
//! log credentials capped at `info`.

use tracing_subscriber::EnvFilter;

/// Log targets whose debug and trace events carry credentials, request
/// signing details or whole requests: the AWS SDK's (access key ids,
/// signatures), the HTTP stacks' (headers), and the Lambda runtime's, which
/// logs every raw event at trace — for the API functions, requests with
/// their `Authorization` and `X-Amz-Security-Token` headers and bodies.
/// ecrscan's programs log them at `info` at most, whatever `RUST_LOG` says.
pub const SENSITIVE_LOG_TARGETS: &[&str] = &[
    "aws_sigv4",
    "aws_smithy_runtime",
    "aws_smithy_runtime_api",
    "aws_runtime",
    "aws_config",
    "aws_credential_types",
    "aws_smithy_http_client",
    "hyper",
    "hyper_util",
    "h2",
    "rustls",
    "reqwest",
    "tower_http",
    "lambda_runtime",
    "lambda_runtime_api_client",
    "lambda_http",
];

/// `RUST_LOG` when it is set and valid, else `default` (e.g. `info`), with
/// every [`SENSITIVE_LOG_TARGETS`] capped at `info`.
pub fn log_filter(default: &str) -> EnvFilter {
    let mut filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    for target in SENSITIVE_LOG_TARGETS {
        if let Ok(directive) = format!("{target}=info").parse() {
            filter = filter.add_directive(directive);
        }
    }
    filter
}

#[cfg(test)]
mod tests {
    use tracing::Level;
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    #[test]
    fn sensitive_targets_stay_at_info_under_trace() {
        let filter = EnvFilter::new("trace");
        let mut capped = filter;
        for target in SENSITIVE_LOG_TARGETS {
            capped = capped.add_directive(format!("{target}=info").parse().unwrap());
        }
        let subscriber = tracing_subscriber::registry().with(capped);
        tracing::subscriber::with_default(subscriber, || {
            assert!(tracing::enabled!(target: "ecrscan_core", Level::TRACE));
            for target in ["lambda_runtime", "aws_sigv4", "hyper"] {
                let enabled = match target {
                    "lambda_runtime" => tracing::enabled!(target: "lambda_runtime", Level::TRACE),
                    "aws_sigv4" => tracing::enabled!(target: "aws_sigv4", Level::DEBUG),
                    _ => tracing::enabled!(target: "hyper", Level::TRACE),
                };
                assert!(!enabled, "{target} logs below info");
            }
            assert!(tracing::enabled!(target: "lambda_runtime", Level::INFO));
        });
    }
}
