//! ecrscan's HTTP API and scheduled re-scan, as AWS Lambda functions and as
//! a local server.
//!
//! - [`api::app`] builds the whole HTTP API as one axum [`Router`](axum::Router);
//!   the `ecrscan-api` binary serves it with `lambda_http` under Lambda and
//!   with `axum::serve` elsewhere.
//! - [`scheduled::start_scans`] is the scheduled re-scan; the
//!   `ecrscan-start-scan` binary runs it for EventBridge schedule events.
//! - [`scheduled::enqueue_scans`] plans it for a queue instead, when
//!   `ECRSCAN_WORK_QUEUE_URL` is set; [`worker::work_on_batch`] is the
//!   `ecrscan-scan-worker` binary's handler of the queue's SQS batches.
//! - [`events::record_finished_scan`] records a finished scan; the
//!   `ecrscan-record-result` binary runs it for ECR's and Amazon
//!   Inspector's scan events.
//! - [`replay`]: outside Lambda, every binary handles one event given with
//!   `--event FILE` (or on stdin) and prints its result as JSON.

pub mod api;
pub mod events;
pub mod local;
pub mod replay;
pub mod runtime;
pub mod scheduled;
pub mod worker;
