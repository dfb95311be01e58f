//! Running a command to completion, with a deadline so a hung product fails the test
//! instead of hanging the suite.

use std::fmt;
use std::io::Read;
use std::process::{Child, ExitStatus};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long any one command may take before the test gives up on it. Generous: this is a
/// safety net against hangs, not a timing assertion.
const COMMAND_DEADLINE: Duration = Duration::from_secs(120);

/// What a finished command left behind. `Display` shows everything, for assertion messages.
pub struct Output {
    /// The command line, for messages.
    pub what: String,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// The exit code; `None` when the process was killed by a signal.
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// Panics unless the command exited 0.
    #[track_caller]
    pub fn assert_success(&self) -> &Self {
        assert!(self.success(), "expected success:\n{self}");
        self
    }

    /// Panics unless the command exited with `code`.
    #[track_caller]
    pub fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code(),
            Some(code),
            "expected exit code {code}:\n{self}"
        );
        self
    }

    /// Panics unless signal `signal` ended the command (a shell would show 128 + it): how a
    /// command that replaced its `sec` ends when secd stops it.
    #[track_caller]
    pub fn assert_signal(&self, signal: i32) -> &Self {
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&self.status),
            Some(signal),
            "expected death by signal {signal}:\n{self}"
        );
        self
    }

    /// Panics when the command exited 0.
    #[track_caller]
    pub fn assert_failure(&self) -> &Self {
        assert!(!self.success(), "expected a failure:\n{self}");
        self
    }

    /// Panics unless stderr contains every one of `needles`.
    #[track_caller]
    pub fn assert_stderr_contains(&self, needles: &[&str]) -> &Self {
        for needle in needles {
            assert!(
                self.stderr.contains(needle),
                "expected {needle:?} on stderr:\n{self}"
            );
        }
        self
    }

    /// The JSON object printed on stdout.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{self}"))
    }
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "command: {}", self.what)?;
        writeln!(f, "status:  {}", self.status)?;
        writeln!(f, "--- stdout ---\n{}", self.stdout)?;
        write!(f, "--- stderr ---\n{}", self.stderr)
    }
}

impl fmt::Debug for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Waits for `child` (spawned with piped stdout and stderr) and collects its output.
///
/// Panics when the child does not exit within the deadline, and when its pipes stay open
/// long after it exited: that means a process it started (an autostarted `secd`) kept them,
/// which would hang any caller that waits for EOF, such as a shell's `$(sec ...)`.
pub fn wait_output(mut child: Child, what: &str) -> Output {
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if start.elapsed() > COMMAND_DEADLINE => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("`{what}` did not finish within {COMMAND_DEADLINE:?}; killed it");
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => panic!("cannot wait for `{what}`: {e}"),
        }
    };
    let collect =
        |rx: mpsc::Receiver<Vec<u8>>, stream: &str| {
            let bytes = rx.recv_timeout(Duration::from_secs(10)).unwrap_or_else(|_| {
            panic!(
                "`{what}` exited ({status}) but its {stream} stayed open: a process it started \
                 (secd?) inherited the pipe"
            )
        });
            String::from_utf8_lossy(&bytes).into_owned()
        };
    Output {
        what: what.to_string(),
        status,
        stdout: collect(stdout, "stdout"),
        stderr: collect(stderr, "stderr"),
    }
}

/// Reads a pipe to EOF on its own thread (so a full stderr cannot block a child that is
/// still writing stdout).
fn drain(pipe: Option<impl Read + Send + 'static>) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        let _ = tx.send(bytes);
    });
    rx
}
