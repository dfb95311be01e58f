//! Running a vault's program (`op`, `pass`, a `cmd:` command): stdin from /dev/null or
//! fed and closed, output captured (stdout wiped when dropped), killed after a timeout, and
//! its stderr shortened for error messages.

use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use secrecy::SecretString;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;
use zeroize::{Zeroize, Zeroizing};

use super::{VaultError, into_secret};

/// At most this many characters of a program's stderr reach an error message.
pub(super) const STDERR_CHARS: usize = 200;

/// What a finished program left behind. `stdout` is wiped when dropped.
pub(super) struct Captured {
    pub status: ExitStatus,
    pub stdout: Zeroizing<Vec<u8>>,
    pub stderr: Vec<u8>,
}

pub(super) enum RunError {
    /// The program does not exist (spawn gave `ENOENT`).
    NotInstalled,
    TimedOut,
    Io(std::io::Error),
}

/// What a backend tells the user to do when its program is missing or gives no answer.
pub(super) struct Advice {
    pub not_installed: String,
    pub timed_out: String,
}

impl RunError {
    /// The error a backend reports for `program`: missing or silent is `Unavailable` (the
    /// user can fix it, as `advice` says), anything else `Failed`.
    pub(super) fn explain(
        self,
        reference: &str,
        backend: &'static str,
        program: &str,
        advice: Advice,
    ) -> VaultError {
        let unavailable = |reason| VaultError::Unavailable {
            reference: reference.to_string(),
            backend,
            reason,
        };
        match self {
            RunError::NotInstalled => unavailable(advice.not_installed),
            RunError::TimedOut => unavailable(advice.timed_out),
            RunError::Io(e) => VaultError::Failed {
                reference: reference.to_string(),
                backend,
                reason: format!("cannot run `{program}`: {e}"),
            },
        }
    }
}

/// Runs `command` with stdin from `/dev/null` (or fed `input` and closed), capturing its
/// output, and kills it if it has not finished within `timeout`.
pub(super) async fn run(
    mut command: Command,
    input: Option<&[u8]>,
    timeout: Duration,
) -> Result<Captured, RunError> {
    command
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = command.spawn().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => RunError::NotInstalled,
        _ => RunError::Io(e),
    })?;
    let pipe = child.stdin.take();
    let work = async move {
        let feed = async move {
            if let (Some(mut pipe), Some(input)) = (pipe, input) {
                // A program that exits without reading reports its own error; a broken
                // pipe here adds nothing.
                let _ = pipe.write_all(input).await;
                let _ = pipe.shutdown().await;
            }
        };
        let ((), output) = tokio::join!(feed, child.wait_with_output());
        output
    };
    match tokio::time::timeout(timeout, work).await {
        Err(_) => Err(RunError::TimedOut),
        Ok(Err(e)) => Err(RunError::Io(e)),
        Ok(Ok(output)) => Ok(Captured {
            status: output.status,
            stdout: Zeroizing::new(output.stdout),
            stderr: output.stderr,
        }),
    }
}

/// The first non-blank line of a program's stderr, trimmed, control characters replaced,
/// at most [`STDERR_CHARS`] characters.
pub(super) fn first_line(stderr: &str) -> String {
    let line = stderr
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    shorten(line)
}

/// `line` with control characters replaced, cut to [`STDERR_CHARS`] characters.
pub(super) fn shorten(line: &str) -> String {
    let mut out: String = line
        .chars()
        .take(STDERR_CHARS)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if line.chars().nth(STDERR_CHARS).is_some() {
        out.push('…');
    }
    out
}

/// Removes one trailing `\n` or `\r\n`.
pub(super) fn trim_newline(value: &mut String) {
    if value.ends_with("\r\n") {
        value.truncate(value.len() - 2);
    } else if value.ends_with('\n') {
        value.pop();
    }
}

/// Turns captured stdout into the secret, wiping every copy it passes through.
pub(super) fn stdout_secret(
    mut stdout: Zeroizing<Vec<u8>>,
    what: &str,
) -> Result<SecretString, String> {
    match String::from_utf8(std::mem::take(&mut *stdout)) {
        Ok(mut value) => {
            trim_newline(&mut value);
            Ok(into_secret(value))
        }
        Err(e) => {
            e.into_bytes().zeroize();
            Err(format!("{what} printed something that is not UTF-8 text"))
        }
    }
}
