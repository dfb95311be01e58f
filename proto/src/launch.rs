//! Starting `secd` in the background and waiting until it is ready.
//!
//! The daemon is started as `secd --foreground --notify-ready` in its own process group
//! (so a Ctrl-C at the terminal does not reach it), with stdin from /dev/null, stderr
//! appended to its log file and stdout on a pipe. It prints `READY` on that pipe once its
//! socket accepts connections: an explicit readiness signal, no sleeping and polling.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The line the daemon prints on stdout when it accepts connections.
pub const READY_LINE: &str = "READY";

/// How long a daemon may take to become ready before it is given up on (and killed).
pub const READY_TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error(
        "cannot start secd: {}; install it beside sec (`cargo install --locked --path daemon` in sec's source) or put it on PATH",
        where_looked(program)
    )]
    NotInstalled { program: PathBuf },
    #[error("cannot start {}: {source}", program.display())]
    Spawn {
        program: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open the daemon log {}: {source}", path.display())]
    Log {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("secd stopped before it was ready{}; its log is {}", last_line.as_deref().map(|l| format!(" ({l})")).unwrap_or_default(), log.display())]
    Exited {
        log: PathBuf,
        last_line: Option<String>,
    },
    #[error("secd did not become ready within {}; its log is {}", humantime::format_duration(*waited), log.display())]
    Timeout { log: PathBuf, waited: Duration },
}

/// Where a missing `secd` was looked for: a bare name on PATH, else the path itself.
fn where_looked(program: &Path) -> String {
    if program.components().count() == 1 {
        let beside = std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent().map(|dir| dir.display().to_string()))
            .unwrap_or_else(|| "this program's directory".into());
        format!("it is neither beside this program (in {beside}) nor on PATH")
    } else {
        format!("{} does not exist", program.display())
    }
}

/// Starts `secd` detached and returns its pid once it is ready, waiting at most `patience`.
/// A daemon that is not ready by [`READY_TIMEOUT`] is killed; one that a shorter patience
/// gave up on is left to finish starting (the next command finds it).
pub fn launch_daemon(
    program: &Path,
    extra_args: &[String],
    log: &Path,
    patience: Duration,
) -> Result<u32, LaunchError> {
    let log_err = |source| LaunchError::Log {
        path: log.to_path_buf(),
        source,
    };
    if let Some(dir) = log.parent() {
        crate::paths::create_private_dir_all(dir).map_err(log_err)?;
    }
    // Private, and never through a link planted in its place.
    let log_file = crate::nofollow::open_append(log, 0o600).map_err(log_err)?;
    let mut command = Command::new(program);
    command
        .args(["--foreground", "--notify-ready"])
        .args(extra_args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log_file)
        .current_dir("/");
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let mut child = command.spawn().map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => LaunchError::NotInstalled {
            program: program.to_path_buf(),
        },
        _ => LaunchError::Spawn {
            program: program.to_path_buf(),
            source,
        },
    })?;
    let pid = child.id();
    let stdout = child.stdout.take().expect("stdout is piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let ready =
            BufReader::new(stdout).read_line(&mut line).is_ok() && line.trim() == READY_LINE;
        let _ = tx.send(ready);
    });
    let patience = patience.min(READY_TIMEOUT);
    match rx.recv_timeout(patience) {
        Ok(true) => Ok(pid),
        Ok(false) => {
            let _ = child.wait();
            Err(LaunchError::Exited {
                log: log.to_path_buf(),
                last_line: last_line(log),
            })
        }
        Err(_) => {
            if patience >= READY_TIMEOUT {
                let _ = child.kill();
            }
            Err(LaunchError::Timeout {
                log: log.to_path_buf(),
                waited: patience,
            })
        }
    }
}

/// The last non-empty line of the log, with the timestamp and level that tracing adds
/// stripped, so a start failure can be explained in one sentence.
fn last_line(log: &Path) -> Option<String> {
    let text = std::fs::read_to_string(log).ok()?;
    let line = text.lines().rev().find(|l| !l.trim().is_empty())?;
    let message = line.split_once(": ").map_or(line, |(_, rest)| rest);
    Some(message.trim().to_string())
}
