//! The ecrscan-cli integration tests, one binary: each module is one concern.

mod cli;
mod queue;
