//! The ecrscan-cli integration tests, one binary: each module is one concern.

mod accounts;
mod channels;
mod demo;
mod faults;
mod fixtures;
mod logs;
mod offline;
mod queue;
mod suppress;
mod workflows;
