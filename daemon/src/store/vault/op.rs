//! `op://VAULT/ITEM/FIELD`: 1Password through its CLI, `op read`. The daemon runs `op` with
//! the environment it was started with (so `op`'s own session or desktop-app integration
//! applies), no stdin, and a timeout; `op`'s first error line explains a failure.

use std::time::Duration;

use secrecy::SecretString;

use super::program::{Advice, run, stdout_secret};
use super::{OpRef, VaultError, unsupported};

const BACKEND: &str = "1Password (op)";
const TIMEOUT: Duration = Duration::from_secs(60);

pub struct OpBackend {
    program: String,
    timeout: Duration,
}

impl OpBackend {
    pub fn new() -> Self {
        Self {
            program: "op".into(),
            timeout: TIMEOUT,
        }
    }

    async fn read(&self, reference: &OpRef) -> Result<SecretString, VaultError> {
        let name = reference.to_string();
        let failed = |reason: String| VaultError::Failed {
            reference: name.clone(),
            backend: BACKEND,
            reason,
        };
        let mut command = tokio::process::Command::new(&self.program);
        command.args(["read", "--no-newline", &name]);
        let captured = run(command, None, self.timeout).await.map_err(|e| {
            e.explain(&name, BACKEND, "op", Advice {
                not_installed: "the `op` program is not installed or not on secd's PATH; install 1Password's CLI (https://developer.1password.com/docs/cli/get-started/)".into(),
                timed_out: format!(
                    "`op read` gave no answer within {}s; unlock 1Password (or run `op signin`) and try again",
                    self.timeout.as_secs()
                ),
            })
        })?;
        if !captured.status.success() {
            return Err(op_error(&name, &String::from_utf8_lossy(&captured.stderr)));
        }
        stdout_secret(captured.stdout, "`op read`").map_err(failed)
    }
}

impl Default for OpBackend {
    fn default() -> Self {
        Self::new()
    }
}

/// `op` prints `[ERROR] 2024/05/01 10:00:00 message`; keep the message, classify the usual ones.
fn op_error(reference: &str, stderr: &str) -> VaultError {
    let line = stderr
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim();
    let message = line
        .strip_prefix("[ERROR]")
        .map(|rest| {
            // Drop the date and time that follow the tag.
            let mut parts = rest.trim_start().splitn(3, ' ');
            match (parts.next(), parts.next(), parts.next()) {
                (Some(d), Some(t), Some(msg)) if d.contains('/') && t.contains(':') => msg,
                _ => rest.trim(),
            }
        })
        .unwrap_or(line)
        .to_string();
    let lower = message.to_lowercase();
    let reference = reference.to_string();
    if lower.contains("not currently signed in")
        || lower.contains("signin")
        || lower.contains("sign in")
    {
        VaultError::Unavailable {
            reference,
            backend: BACKEND,
            reason: format!(
                "not signed in ({message}); run `op signin` or unlock the 1Password app"
            ),
        }
    } else if lower.contains("isn't an item")
        || lower.contains("isn't a vault")
        || lower.contains("isn't a field")
        || lower.contains("not found")
    {
        VaultError::Failed {
            reference,
            backend: BACKEND,
            reason: format!("not found ({message}); check the reference with `op item get`"),
        }
    } else {
        VaultError::Failed {
            reference,
            backend: BACKEND,
            reason: if message.is_empty() {
                "`op read` failed without a message".into()
            } else {
                message
            },
        }
    }
}

impl OpBackend {
    pub async fn get(&self, reference: &OpRef) -> Result<SecretString, VaultError> {
        self.read(reference).await
    }
}

/// Why an `op://` reference cannot be written or deleted: that is 1Password's own job.
pub fn refusal(reference: &OpRef, action: &'static str) -> VaultError {
    let hint = match action {
        "store" => "create or edit the item in 1Password itself (app or `op item edit`)",
        _ => "delete the item in 1Password itself (app or `op item delete`)",
    };
    unsupported(reference, BACKEND, action, hint)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_op_errors() {
        let e = op_error(
            "op://P/GitHub/credential",
            "[ERROR] 2024/05/01 10:00:00 You are not currently signed in. Please run `op signin --help` for instructions\n",
        );
        assert!(matches!(e, VaultError::Unavailable { .. }), "{e}");
        assert!(e.to_string().contains("run `op signin`"), "{e}");
        assert!(!e.to_string().contains("2024/05/01"), "{e}");

        let e = op_error(
            "op://P/Nope/credential",
            "[ERROR] 2024/05/01 10:00:00 \"Nope\" isn't an item in the \"P\" vault. Specify the item with its UUID, name, or domain.\n",
        );
        assert!(
            e.to_string()
                .starts_with("op://P/Nope/credential: 1Password (op) failed: not found"),
            "{e}"
        );
    }
}
