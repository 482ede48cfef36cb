//! The ecrscan-core integration tests, one binary: each module is one concern.

mod aws_mocked;
mod aws_moto;
mod backends;
mod faults;
mod local_stores;
mod notify_moto;
mod render;
mod report;
mod rollups;
mod vex;
mod webhooks;
