//! Why a command failed, and the exit codes: one place for both, used by
//! the commands and by the printers.

use std::io;

use ecrscan_core::StoreError;

/// Why a command failed, and so its exit code.
#[derive(Debug)]
pub enum Failure {
    /// Invalid usage or input: exit 2.
    Usage(String),
    /// An operation failed: exit 1.
    Operation(String),
    /// stdout was closed (`ecrscan summary | head -1`): end quietly.
    BrokenPipe,
}

impl From<StoreError> for Failure {
    fn from(err: StoreError) -> Failure {
        match err {
            StoreError::NotFound { .. } => Failure::Usage(err.to_string()),
            err => Failure::Operation(err.to_string()),
        }
    }
}

impl From<ecrscan_core::aws::wiring::WiringError> for Failure {
    fn from(err: ecrscan_core::aws::wiring::WiringError) -> Failure {
        use ecrscan_core::aws::wiring::WiringError;
        match err {
            WiringError::Store(err) => err.into(),
            err @ (WiringError::NoStore
            | WiringError::InvalidStore(_)
            | WiringError::Setting(_)) => Failure::Usage(err.to_string()),
            err => Failure::Operation(err.to_string()),
        }
    }
}

impl From<io::Error> for Failure {
    fn from(err: io::Error) -> Failure {
        if err.kind() == io::ErrorKind::BrokenPipe {
            Failure::BrokenPipe
        } else {
            Failure::Operation(format!("cannot write the output: {err}"))
        }
    }
}

impl Failure {
    /// The exit code of a command that failed this way.
    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::BrokenPipe => SUCCESS,
            Failure::Usage(_) => USAGE,
            Failure::Operation(_) => SOME_FAILED,
        }
    }
}

/// Exit code 0: success.
pub const SUCCESS: u8 = 0;
/// Exit code 1: some operation failed, its output is printed.
pub const SOME_FAILED: u8 = 1;
/// Exit code 2: invalid usage or input.
pub const USAGE: u8 = 2;
/// Exit code 3: findings at or above `--fail-on`.
pub const FINDINGS_FOUND: u8 = 3;
