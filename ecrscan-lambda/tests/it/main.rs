//! The ecrscan-lambda integration tests, one binary: each module is one concern.

mod api;
mod concurrency;
mod e2e_moto;
mod hostile;
mod lambda_events;
mod local;
mod logs;
mod record_events;
mod scheduled;
mod suppressions;
mod worker;
