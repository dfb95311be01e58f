//! How the client reports failures: one sentence on stderr and an exit code.

use crate::daemon_conn::ConnError;

/// A failure already phrased for the user, with the exit code to leave with.
#[derive(Debug)]
pub struct Failure {
    pub message: String,
    pub code: Option<u8>,
}

impl Failure {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            code: None,
        }
    }

    pub fn with_code(message: impl Into<String>, code: u8) -> Self {
        Self {
            message: message.into(),
            code: Some(code),
        }
    }

    /// The daemon's sentence, as it wrote it.
    pub fn from_status(status: tonic::Status) -> Self {
        let message = status.message();
        if message.is_empty() {
            Self::new(format!("secd answered {:?}", status.code()))
        } else {
            Self::new(message.to_string())
        }
    }
}

impl From<ConnError> for Failure {
    fn from(error: ConnError) -> Self {
        Self::new(error.to_string())
    }
}

/// Tells the user that their config has a mistake and the daemon still serves the last good one.
pub fn warn_config(error: &str) {
    if !error.is_empty() {
        // secd's sentence says which config it serves instead.
        eprintln!("sec: warning: {error}");
    }
}
