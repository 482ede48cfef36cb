//! ecrscan's HTTP API and scheduled re-scan, as AWS Lambda functions and as
//! a local server.
//!
//! - [`api::app`] builds the whole HTTP API as one axum [`Router`](axum::Router);
//!   the `ecrscan-api` binary serves it with `lambda_http` under Lambda and
//!   with `axum::serve` elsewhere.
//! - [`scheduled::start_scans`] is the scheduled re-scan; the
//!   `ecrscan-start-scan` binary runs it for EventBridge schedule events.

pub mod api;
pub mod runtime;
pub mod scheduled;
