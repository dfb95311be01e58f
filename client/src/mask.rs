//! `sec exec --mask` (or a scope's `mask = true`): the command's output reaches the user
//! with every leased value replaced by [`MASK`]. On a terminal the command runs on a
//! pseudo-terminal of its own, so colours, line editing, full-screen programs and the window
//! size (SIGWINCH) work as without sec; elsewhere its stdout and stderr are pipes. Unlike
//! masking by piping (`op run`), programs still see a terminal and keep their colours.
//!
//! A value split across two writes is still caught: output that ends with the beginning of
//! a value is held back until the next write tells (or [`HOLD_BACK`] passes without one).
//! Values shorter than [`MIN_LEN`] are not masked (they would mask ordinary words).

use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use zeroize::Zeroizing;

/// What a leased value is shown as.
pub const MASK: &[u8] = b"<masked by sec>";
/// Values shorter than this are left alone.
pub const MIN_LEN: usize = 4;
/// How long output that may be the start of a value waits for the rest.
pub const HOLD_BACK: Duration = Duration::from_millis(200);
/// How long sec waits, after the command ended, for the rest of its output.
const DRAIN_LIMIT: Duration = Duration::from_secs(2);

/// Replaces the values in a stream of output, across writes.
pub struct Masker {
    values: Vec<Zeroizing<Vec<u8>>>,
    held: Zeroizing<Vec<u8>>,
}

impl Masker {
    pub fn new<'a>(values: impl IntoIterator<Item = &'a [u8]>) -> Self {
        let mut values: Vec<Zeroizing<Vec<u8>>> = values
            .into_iter()
            .filter(|v| v.len() >= MIN_LEN)
            .map(|v| Zeroizing::new(v.to_vec()))
            .collect();
        // The longest first, so a value that contains another is masked whole.
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        Self {
            values,
            held: Zeroizing::new(Vec::new()),
        }
    }

    /// Appends `input`, masked, to `out`; keeps back an end that may begin a value.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) {
        let mut buf = Zeroizing::new(std::mem::take(&mut *self.held));
        buf.extend_from_slice(input);
        let mut i = 0;
        'scan: while i < buf.len() {
            let rest = &buf[i..];
            for value in &self.values {
                if rest.starts_with(value) {
                    out.extend_from_slice(MASK);
                    i += value.len();
                    continue 'scan;
                }
            }
            if self
                .values
                .iter()
                .any(|v| rest.len() < v.len() && v.starts_with(rest))
            {
                self.held.extend_from_slice(rest);
                return;
            }
            out.push(buf[i]);
            i += 1;
        }
    }

    /// What was held back, as it is: no more output came to complete a value.
    pub fn flush(&mut self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.held);
        self.held.clear();
    }

    pub fn holds(&self) -> bool {
        !self.held.is_empty()
    }
}

/// Copies `from` to `to` through a masker until `from` ends; output that may begin a value
/// is written after [`HOLD_BACK`] without more. Blocking, for a thread of its own.
fn relay(mut from: std::fs::File, to: impl Write + Send + 'static, masker: Masker) {
    let masker = Arc::new(Mutex::new(masker));
    let to = Arc::new(Mutex::new(to));
    let generation = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut buf = Zeroizing::new(vec![0u8; 16 * 1024]);
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break, // EOF, or EIO when the pty's last holder closed it
            Ok(n) => n,
        };
        let mut out = Zeroizing::new(Vec::with_capacity(n + MASK.len()));
        let holds = {
            let mut m = masker.lock().unwrap_or_else(|p| p.into_inner());
            m.feed(&buf[..n], &mut out);
            m.holds()
        };
        let stamp = generation.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        {
            let mut to = to.lock().unwrap_or_else(|p| p.into_inner());
            let _ = to.write_all(&out).and_then(|()| to.flush());
        }
        if holds {
            // Nothing more within HOLD_BACK: what was held was not a value after all.
            let (masker, to, generation) = (masker.clone(), to.clone(), generation.clone());
            std::thread::spawn(move || {
                std::thread::sleep(HOLD_BACK);
                if generation.load(std::sync::atomic::Ordering::SeqCst) == stamp {
                    write_held(&masker, &to);
                }
            });
        }
    }
    write_held(&masker, &to);
}

/// Writes what the masker held back to `to`, as it is.
fn write_held(masker: &Mutex<Masker>, to: &Mutex<impl Write>) {
    let mut out = Zeroizing::new(Vec::new());
    masker
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .flush(&mut out);
    let mut to = to.lock().unwrap_or_else(|p| p.into_inner());
    let _ = to.write_all(&out).and_then(|()| to.flush());
}

/// A command prepared to run masked, and the relays to start once it runs.
pub struct Masked {
    /// How many relays run, and where each says it is done (all output shown).
    relays: usize,
    done: (std::sync::mpsc::Sender<()>, std::sync::mpsc::Receiver<()>),
    /// The user's terminal settings, put back when the command is done.
    terminal: Option<(OwnedFd, nix::sys::termios::Termios)>,
    master: Option<OwnedFd>,
}

impl Masked {
    /// Sets up `command`'s stdio for masking (a pseudo-terminal when stdout is a terminal,
    /// pipes otherwise). Call [`Masked::start`] with the spawned child.
    pub fn prepare(command: &mut std::process::Command) -> std::io::Result<Masked> {
        let stdout = std::io::stdout();
        if !nix::unistd::isatty(stdout.as_fd()).unwrap_or(false) {
            command.stdout(Stdio::piped()).stderr(Stdio::piped());
            return Ok(Masked {
                relays: 0,
                done: std::sync::mpsc::channel(),
                terminal: None,
                master: None,
            });
        }
        let size = window_size(stdout.as_raw_fd());
        let pty = nix::pty::openpty(size.as_ref(), None)?;
        let slave = std::fs::File::from(pty.slave);
        command
            .stdin(slave.try_clone()?)
            .stdout(slave.try_clone()?)
            .stderr(slave);
        // The child leads a session whose controlling terminal is the pty: line editing,
        // job control keys and the window size are its.
        #[allow(unsafe_code)]
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(command, || {
                // SAFETY: only async-signal-safe calls between fork and exec.
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        Ok(Masked {
            relays: 0,
            done: std::sync::mpsc::channel(),
            terminal: None,
            master: Some(pty.master),
        })
    }

    /// Starts copying the child's output through maskers for `values`, and (on a pty) the
    /// user's keys to the child, in raw mode.
    pub fn start(
        &mut self,
        child: &mut tokio::process::Child,
        values: &[&[u8]],
    ) -> std::io::Result<()> {
        let Some(master) = self.master.take() else {
            if let Some(out) = child.stdout.take() {
                self.relay(out.into_owned_fd()?, std::io::stdout(), values);
            }
            if let Some(err) = child.stderr.take() {
                self.relay(err.into_owned_fd()?, std::io::stderr(), values);
            }
            return Ok(());
        };
        let stdin = std::io::stdin();
        if let Ok(saved) = nix::sys::termios::tcgetattr(stdin.as_fd()) {
            let mut raw = saved.clone();
            nix::sys::termios::cfmakeraw(&mut raw);
            nix::sys::termios::tcsetattr(stdin.as_fd(), nix::sys::termios::SetArg::TCSANOW, &raw)?;
            self.terminal = Some((stdin.as_fd().try_clone_to_owned()?, saved));
        }
        self.relay(master.try_clone()?, std::io::stdout(), values);
        // Keys to the child; ends with sec (a blocking read of the terminal is left behind).
        let mut writer = std::fs::File::from(master.try_clone()?);
        std::thread::spawn(move || {
            let mut keys = std::io::stdin();
            let mut buf = [0u8; 1024];
            while let Ok(n) = keys.read(&mut buf) {
                if n == 0 || writer.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        });
        // The window size follows the user's terminal.
        let resized = master;
        std::thread::spawn(move || {
            let Ok(mut signals) =
                signal_hook::iterator::Signals::new([signal_hook::consts::SIGWINCH])
            else {
                return;
            };
            for _ in signals.forever() {
                if let Some(size) = window_size(std::io::stdout().as_raw_fd()) {
                    set_window_size(resized.as_raw_fd(), &size);
                }
            }
        });
        Ok(())
    }

    /// Copies `from` to `to` through a masker for `values`, on a thread of its own.
    fn relay(&mut self, from: OwnedFd, to: impl Write + Send + 'static, values: &[&[u8]]) {
        let masker = Masker::new(values.iter().copied());
        let from = std::fs::File::from(from);
        let done = self.done.0.clone();
        self.relays += 1;
        std::thread::spawn(move || {
            relay(from, to, masker);
            let _ = done.send(());
        });
    }

    /// Waits until everything the command wrote is shown, and gives the terminal back.
    /// A process the command left running may keep its output open: then sec stops waiting
    /// after [`DRAIN_LIMIT`].
    pub fn finish(mut self) {
        let deadline = std::time::Instant::now() + DRAIN_LIMIT;
        for _ in 0..self.relays {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if self.done.1.recv_timeout(left).is_err() {
                break;
            }
        }
        self.restore();
    }

    fn restore(&mut self) {
        if let Some((fd, saved)) = self.terminal.take() {
            let _ = nix::sys::termios::tcsetattr(&fd, nix::sys::termios::SetArg::TCSANOW, &saved);
        }
    }
}

impl Drop for Masked {
    fn drop(&mut self) {
        self.restore();
    }
}

fn window_size(fd: i32) -> Option<nix::pty::Winsize> {
    let mut size = nix::pty::Winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one winsize into the struct it is given.
    #[allow(unsafe_code)]
    let ok = unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut size) } == 0;
    ok.then_some(size)
}

fn set_window_size(fd: i32, size: &nix::pty::Winsize) {
    // SAFETY: TIOCSWINSZ reads one winsize from the struct it is given.
    #[allow(unsafe_code)]
    unsafe {
        libc::ioctl(fd, libc::TIOCSWINSZ, size as *const nix::pty::Winsize);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masked(values: &[&str], writes: &[&str]) -> String {
        let mut m = Masker::new(values.iter().map(|v| v.as_bytes()));
        let mut out = Vec::new();
        for w in writes {
            m.feed(w.as_bytes(), &mut out);
        }
        m.flush(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn values_are_masked_also_across_writes() {
        let mask = String::from_utf8(MASK.to_vec()).unwrap();
        assert_eq!(
            masked(&["s3cr3t-token"], &["a s3cr3t-token b"]),
            format!("a {mask} b")
        );
        assert_eq!(
            masked(&["s3cr3t-token"], &["a s3cr", "3t-tok", "en b"]),
            format!("a {mask} b")
        );
        assert_eq!(
            masked(&["s3cr3t-token"], &["\x1b[31ms3cr3t-token\x1b[0m"]),
            format!("\x1b[31m{mask}\x1b[0m")
        );
        // A beginning that turns out not to be a value comes through whole.
        assert_eq!(masked(&["s3cr3t-token"], &["s3cr", "ab"]), "s3crab");
        assert_eq!(
            masked(&["s3cr3t-token"], &["ends with s3c"]),
            "ends with s3c"
        );
        // The longer of two overlapping values wins; short values are left alone.
        assert_eq!(
            masked(&["abcd", "abcdefgh"], &["xabcdefghx"]),
            format!("x{mask}x")
        );
        assert_eq!(masked(&["ab"], &["ab ab"]), "ab ab");
    }

    #[test]
    fn a_held_back_beginning_is_marked_as_held() {
        let mut m = Masker::new([b"s3cr3t-token".as_slice()]);
        let mut out = Vec::new();
        m.feed(b"x s3c", &mut out);
        assert_eq!(out, b"x ");
        assert!(m.holds());
    }
}
