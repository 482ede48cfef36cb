//! Running the Lambda handlers outside Lambda: one event in (a file, or
//! stdin), its result out as JSON, through the same code as under Lambda.
//! A deployer replays a recorded event; tests drive the real binaries.

use std::io::Read;
use std::path::{Path, PathBuf};

use http_body_util::BodyExt;

/// The largest event read: Lambda's own payload limit (6 MB).
pub const MAX_EVENT_BYTES: u64 = 6 * 1024 * 1024;

/// Why an event could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The file or stdin could not be read.
    #[error("cannot read the event from {source_name}: {error}")]
    Read {
        /// `stdin` or the file's path.
        source_name: String,
        /// What failed.
        error: std::io::Error,
    },
    /// The event is larger than Lambda accepts.
    #[error("the event from {0} is larger than {MAX_EVENT_BYTES} bytes")]
    TooLarge(String),
    /// The event is not JSON.
    #[error("the event from {source_name} is not JSON: {error}")]
    NotJson {
        /// `stdin` or the file's path.
        source_name: String,
        /// serde's message, naming line and column.
        error: serde_json::Error,
    },
    /// No event was given and stdin is a terminal.
    #[error("give an event: --event FILE, or on stdin (ecrscan-record-result < event.json)")]
    NoEvent,
}

/// Where the event comes from: `-` or nothing is stdin, else a file.
fn source_of(path: Option<&Path>) -> Option<&Path> {
    path.filter(|path| path.as_os_str() != "-")
}

/// Reads one event's text, at most [`MAX_EVENT_BYTES`], from `path` (`-` or
/// `None`: stdin, which must not be a terminal).
pub fn read_event_text(path: Option<&Path>) -> Result<String, ReplayError> {
    let (name, reader): (String, Box<dyn Read>) = match source_of(path) {
        Some(path) => {
            let file = std::fs::File::open(path).map_err(|error| ReplayError::Read {
                source_name: path.display().to_string(),
                error,
            })?;
            (path.display().to_string(), Box::new(file))
        }
        None => {
            if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
                return Err(ReplayError::NoEvent);
            }
            ("stdin".to_owned(), Box::new(std::io::stdin()))
        }
    };
    let mut bytes = Vec::new();
    reader
        .take(MAX_EVENT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|error| ReplayError::Read {
            source_name: name.clone(),
            error,
        })?;
    if bytes.len() as u64 > MAX_EVENT_BYTES {
        return Err(ReplayError::TooLarge(name));
    }
    String::from_utf8(bytes).map_err(|err| ReplayError::Read {
        source_name: name,
        error: std::io::Error::new(std::io::ErrorKind::InvalidData, err),
    })
}

/// Reads one JSON event (see [`read_event_text`]).
pub fn read_event(path: Option<&Path>) -> Result<serde_json::Value, ReplayError> {
    let text = read_event_text(path)?;
    serde_json::from_str(&text).map_err(|error| ReplayError::NotJson {
        source_name: source_of(path)
            .map_or_else(|| "stdin".to_owned(), |p| p.display().to_string()),
        error,
    })
}

/// An HTTP response as API Gateway's proxy integration returns it:
/// `{"statusCode","headers","body","isBase64Encoded"}`.
pub async fn api_gateway_response(response: axum::response::Response) -> serde_json::Value {
    let (parts, body) = response.into_parts();
    let bytes = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(err) => {
            tracing::error!(error = %err, "cannot read the response body");
            Default::default()
        }
    };
    let headers: serde_json::Map<String, serde_json::Value> = parts
        .headers
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                serde_json::Value::String(String::from_utf8_lossy(value.as_bytes()).into_owned()),
            )
        })
        .collect();
    let (body, base64) = match std::str::from_utf8(&bytes) {
        Ok(text) => (text.to_owned(), false),
        Err(_) => (
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &bytes),
            true,
        ),
    };
    serde_json::json!({
        "statusCode": parts.status.as_u16(),
        "headers": headers,
        "body": body,
        "isBase64Encoded": base64,
    })
}

/// The `--event` argument of the binaries.
#[derive(Debug, Clone, clap::Args)]
pub struct EventArg {
    /// Outside Lambda: handle this one event (a JSON file; `-` for stdin)
    /// and print the result as JSON.
    #[arg(long, value_name = "FILE")]
    pub event: Option<PathBuf>,
}
