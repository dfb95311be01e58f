//! Reaching the daemon: connect, or start it when nobody answers.
//!
//! Autostart follows gpg-agent and atuin: connect; on failure take the startup lock, connect
//! again (another `sec` may have won the race), start `secd` and wait for its explicit
//! readiness line, then shake hands. A daemon that speaks another protocol is stopped and
//! replaced.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sec_proto::pb::HelloRequest;
use sec_proto::pb::sec_client::SecClient;
use sec_proto::socket;
use tonic::transport::Channel;

pub type Client = SecClient<Channel>;

#[derive(Debug, thiserror::Error)]
pub enum ConnError {
    #[error(transparent)]
    Socket(#[from] socket::SocketError),
    #[error(transparent)]
    Launch(#[from] sec_proto::launch::LaunchError),
    #[error("secd is not running; `sec daemon start` starts it")]
    NotRunning,
    #[error(
        "this command runs inside `sec shield`, where secd is out of reach on purpose; run sec outside the shield"
    )]
    Shielded,
    #[error("cannot reach secd at {}: {reason}; `sec daemon stop` and try again, or see {}", path.display(), log.display())]
    Unreachable {
        path: PathBuf,
        reason: String,
        log: PathBuf,
    },
    #[error("cannot take the startup lock {}: {source}", path.display())]
    #[cfg_attr(not(unix), allow(dead_code))]
    Lock {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the running secd (pid {pid}) speaks protocol {theirs} and would not stop; stop it with `kill {pid}`"
    )]
    StuckDaemon { pid: u32, theirs: u32 },
}

enum Attempt {
    Ready(Client),
    Mismatch {
        pid: u32,
        version: String,
        protocol: u32,
    },
    Absent(String),
}

async fn attempt(path: &Path) -> Attempt {
    let channel = match socket::connect(path).await {
        Ok(channel) => channel,
        // An older secd may already fail the greeted connection itself (where no socket
        // exists, there is nobody to ask).
        Err(e) => {
            if !path.exists() {
                return Attempt::Absent(error_chain(&e));
            }
            return match older_daemon(path).await {
                Some(mismatch) => mismatch,
                None => Attempt::Absent(error_chain(&e)),
            };
        }
    };
    let mut client = SecClient::new(channel);
    let hello = HelloRequest {
        client_protocol: sec_proto::PROTOCOL,
    };
    match client.hello(hello).await {
        Ok(reply) => {
            let hello = reply.into_inner();
            for notice in &hello.notices {
                eprintln!(
                    "sec: warning: {}; if you did not do this, code running as you did (see `sec log`)",
                    sec_proto::display::visible(notice)
                );
            }
            for warning in session_mismatch(&hello) {
                eprintln!("sec: warning: {warning}");
            }
            if hello.protocol == sec_proto::PROTOCOL {
                Attempt::Ready(client)
            } else {
                Attempt::Mismatch {
                    pid: hello.pid,
                    version: hello.version,
                    protocol: hello.protocol,
                }
            }
        }
        Err(status) => match older_daemon(path).await {
            Some(mismatch) => mismatch,
            None => Attempt::Absent(status.message().to_string()),
        },
    }
}

/// What differs between this client's session and the one secd was started in: another
/// D-Bus session bus means another keychain (or a dead one, after a logout), and a changed
/// SEC_ASKPASS is not seen by a running secd. Each with the fix.
fn session_mismatch(hello: &sec_proto::pb::HelloReply) -> Vec<String> {
    let mut out = Vec::new();
    let restart = "`sec daemon stop`, and the next sec command starts one in this session";
    if let Ok(mine) = std::env::var("DBUS_SESSION_BUS_ADDRESS")
        && !mine.is_empty()
        && mine != hello.dbus_session
    {
        let theirs = if hello.dbus_session.is_empty() {
            "no D-Bus session".to_string()
        } else {
            "another D-Bus session".to_string()
        };
        out.push(format!(
            "secd (pid {}) was started in {theirs}, so it reaches that session's keychain, not this one's; {restart}",
            hello.pid
        ));
    }
    if let Ok(mine) = std::env::var("SEC_ASKPASS")
        && mine != hello.askpass_env
    {
        out.push(format!(
            "SEC_ASKPASS is {} here but {} for the running secd (pid {}), which reads it when it starts; {restart}",
            sec_proto::display::visible(&mine),
            if hello.askpass_env.is_empty() { "unset".to_string() } else { sec_proto::display::visible(&hello.askpass_env) },
            hello.pid
        ));
    }
    out
}

/// A secd older than protocol 3 fails every greeted connection, but answers one without
/// the greeting: then it is a mismatch to replace, like any other.
async fn older_daemon(path: &Path) -> Option<Attempt> {
    let channel = socket::connect_without_greeting(path).await.ok()?;
    let hello = SecClient::new(channel)
        .hello(HelloRequest {
            client_protocol: sec_proto::PROTOCOL,
        })
        .await
        .ok()?
        .into_inner();
    (hello.protocol != sec_proto::PROTOCOL).then_some(Attempt::Mismatch {
        pid: hello.pid,
        version: hello.version,
        protocol: hello.protocol,
    })
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn log_path() -> PathBuf {
    sec_proto::paths::daemon_log().unwrap_or_else(|| PathBuf::from("secd.log"))
}

/// Set in the environment of a command `sec shield` runs: secd is out of its reach on
/// purpose, so a `sec` in there says so instead of starting a useless daemon of its own.
pub const SHIELD_MARKER: &str = "SEC_SHIELDED";

/// A client for a daemon that speaks our protocol; starts one when `autostart` allows.
pub async fn connect(autostart: bool) -> Result<Client, ConnError> {
    connect_within(autostart, sec_proto::launch::READY_TIMEOUT).await
}

/// As [`connect`], giving up after `patience` in all: waiting for another `sec` that starts
/// the daemon, and for the daemon this one starts (which is then left to finish starting).
/// The shell hook's bound.
pub async fn connect_within(autostart: bool, patience: Duration) -> Result<Client, ConnError> {
    let deadline = Instant::now() + patience;
    if std::env::var_os(SHIELD_MARKER).is_some() {
        return Err(ConnError::Shielded);
    }
    let path = socket::socket_path()?;
    if let Some(client) = ready_after_replacing(&path).await? {
        return Ok(client);
    }
    if !autostart {
        return Err(ConnError::NotRunning);
    }
    let _lock = startup_lock(path.parent().unwrap_or(Path::new(".")), deadline).await?;
    // Another sec may have started one meanwhile (of either protocol).
    if let Some(client) = ready_after_replacing(&path).await? {
        return Ok(client);
    }
    let left = deadline.saturating_duration_since(Instant::now());
    sec_proto::launch::launch_daemon(&secd_program(), &[], &log_path(), left)?;
    match attempt(&path).await {
        Attempt::Ready(client) => Ok(client),
        Attempt::Mismatch { pid, protocol, .. } => Err(ConnError::StuckDaemon {
            pid,
            theirs: protocol,
        }),
        Attempt::Absent(reason) => Err(ConnError::Unreachable {
            path,
            reason,
            log: log_path(),
        }),
    }
}

/// A client when a daemon of our protocol answers. A daemon of another protocol is stopped
/// first, and then, as when none answers, there is none (`None`).
async fn ready_after_replacing(path: &Path) -> Result<Option<Client>, ConnError> {
    match attempt(path).await {
        Attempt::Ready(client) => Ok(Some(client)),
        Attempt::Mismatch {
            pid,
            version,
            protocol,
        } => {
            replace_daemon(path, pid, &version, protocol).await?;
            Ok(None)
        }
        Attempt::Absent(_) => Ok(None),
    }
}

/// Whether a daemon answers, without starting one.
pub async fn probe() -> Result<Option<Client>, ConnError> {
    match connect(false).await {
        Ok(client) => Ok(Some(client)),
        Err(ConnError::NotRunning) => Ok(None),
        Err(e) => Err(e),
    }
}

async fn replace_daemon(
    path: &Path,
    pid: u32,
    version: &str,
    protocol: u32,
) -> Result<(), ConnError> {
    eprintln!(
        "sec: the running secd {version} (pid {pid}) speaks protocol {protocol}, this sec speaks protocol {}; restarting it",
        sec_proto::PROTOCOL
    );
    terminate(pid);
    if wait_until_gone(path, Duration::from_secs(5)).await {
        Ok(())
    } else {
        Err(ConnError::StuckDaemon {
            pid,
            theirs: protocol,
        })
    }
}

#[cfg(unix)]
fn terminate(pid: u32) {
    use nix::sys::signal::{Signal, kill};
    let _ = kill(nix::unistd::Pid::from_raw(pid as i32), Signal::SIGTERM);
}

#[cfg(not(unix))]
fn terminate(_pid: u32) {}

/// Waits until nobody answers on the socket any more (after a stop request).
pub async fn wait_until_gone(path: &Path, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    let mut pause = Duration::from_millis(2);
    while Instant::now() < deadline {
        if !socket::is_live(path).await {
            return true;
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(100));
    }
    false
}

/// `secd` next to this `sec` (an installed pair), else the one on PATH.
pub(crate) fn secd_program() -> PathBuf {
    let name = if cfg!(windows) { "secd.exe" } else { "secd" };
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join(name)))
        .filter(|candidate| candidate.is_file())
        .unwrap_or_else(|| PathBuf::from(name))
}

/// An exclusive lock held while one `sec` checks for and starts the daemon; released on drop.
/// Waits for another holder until `deadline`, without blocking the runtime.
#[cfg(unix)]
async fn startup_lock(
    dir: &Path,
    deadline: Instant,
) -> Result<nix::fcntl::Flock<std::fs::File>, ConnError> {
    use nix::errno::Errno;
    use nix::fcntl::{Flock, FlockArg};
    let path = dir.join("startup.lock");
    let lock_error = |source: std::io::Error| ConnError::Lock {
        path: path.clone(),
        source,
    };
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(lock_error)?;
    loop {
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => return Ok(lock),
            Err((back, Errno::EWOULDBLOCK)) if Instant::now() < deadline => {
                file = back;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Err((_, Errno::EWOULDBLOCK)) => {
                return Err(lock_error(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "another sec is starting secd and did not finish in time",
                )));
            }
            Err((_, errno)) => return Err(lock_error(errno.into())),
        }
    }
}

/// No startup lock outside Unix yet (two first commands may race to start a daemon).
#[cfg(not(unix))]
struct NoLock;

#[cfg(not(unix))]
async fn startup_lock(_dir: &Path, _deadline: Instant) -> Result<NoLock, ConnError> {
    Ok(NoLock)
}
