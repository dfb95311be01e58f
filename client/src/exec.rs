//! `sec exec`: lease the current directory's secrets and run one command with them.
//!
//! The child runs in sec's own process group with the terminal's stdin, stdout and stderr,
//! so interactive programs and job control (Ctrl-Z, `fg`) behave as without sec. Signals
//! the terminal sends reach the child directly; the same signals sent to sec by another
//! process (`kill`) are forwarded. sec holds the lease stream open while the child runs and
//! exits with the child's status.

use std::process::Command;

use std::time::Duration;

use sec_proto::pb::{self, LeaseRequest, LeaseStartedRequest, lease_event};
use secrecy::{ExposeSecret, SecretString};

use crate::report::{Failure, warn_config};
use crate::{daemon_conn, passphrase};

/// `env`/`timeout` conventions for what went wrong before the command ran.
pub const EXIT_SEC_FAILED: u8 = 125;
pub const EXIT_CANNOT_RUN: u8 = 126;
pub const EXIT_NOT_FOUND: u8 = 127;

/// How long a child has between SIGTERM and SIGKILL when its lease is revoked.
const TERMINATE_GRACE: Duration = Duration::from_secs(5);

/// Asks secd for a lease (opening the local vault first when that is what stands in the
/// way) and waits for its grant; the stream then carries what happens to the lease.
pub async fn request_lease(
    client: &mut daemon_conn::Client,
    request: LeaseRequest,
) -> Result<(pb::Grant, tonic::Streaming<pb::LeaseEvent>), Failure> {
    let mut events = match client.lease(request.clone()).await {
        Err(status) if passphrase::opened_after(client, &status).await? => {
            client.lease(request).await
        }
        other => other,
    }
    .map_err(Failure::from_status)?
    .into_inner();
    let grant = match events.message().await.map_err(Failure::from_status)? {
        Some(event) => match event.event {
            Some(lease_event::Event::Grant(grant)) => grant,
            Some(lease_event::Event::Revoked(revoked)) => {
                return Err(Failure::new(format!(
                    "the lease was refused: {}",
                    revoked.reason
                )));
            }
            None => return Err(Failure::new("secd sent an empty lease event")),
        },
        None => return Err(Failure::new("secd closed the lease before granting it")),
    };
    Ok((grant, events))
}

pub async fn run(
    argv: Vec<String>,
    only: Vec<String>,
    dir: Option<std::path::PathBuf>,
    mask: bool,
) -> Result<u8, Failure> {
    let here = std::env::current_dir()
        .map_err(|e| Failure::new(format!("cannot tell the current directory: {e}")))?;
    // The scope is chosen from the directory handle the connection carries (the kernel's
    // name for it), so `--dir` connects from DIR and comes back for the command.
    let cwd = match &dir {
        Some(dir) => {
            std::env::set_current_dir(dir)
                .map_err(|e| Failure::new(format!("--dir {}: {e}", dir.display())))?;
            std::env::current_dir()
                .map_err(|e| Failure::new(format!("--dir {}: {e}", dir.display())))?
        }
        None => here.clone(),
    };
    let connected = daemon_conn::connect(true).await;
    if dir.is_some() {
        std::env::set_current_dir(&here)
            .map_err(|e| Failure::new(format!("cannot return to {}: {e}", here.display())))?;
    }
    let mut client = connected?;
    let request = LeaseRequest {
        argv: argv.clone(),
        cwd: cwd.display().to_string(),
        only,
        shield: false,

        ..Default::default()
    };
    let (grant, mut events) = request_lease(&mut client, request).await?;
    announce(&grant, &cwd, &argv);
    let env: Vec<(String, SecretString)> = grant
        .env
        .into_iter()
        .map(|var| (var.name, sec_proto::into_secret(var.value)))
        .collect();

    let forwarder = signals::Forwarder::install()
        .map_err(|e| Failure::new(format!("cannot install signal handlers: {e}")))?;
    // What the child leaves behind (`setsid cmd &`) is reparented to this sec rather than
    // to init, so secd still finds it below sec when the lease is revoked.
    #[cfg(target_os = "linux")]
    let _ = nix::sys::prctl::set_child_subreaper(true);
    let mut masked = None;
    let mut child = {
        let mut command = Command::new(&argv[0]);
        command.args(&argv[1..]);
        // Not a secret: how secd finds every process of the lease when it is revoked.
        command.env(sec_proto::LEASE_MARKER, &grant.lease_id);
        for (name, value) in &env {
            command.env(name, value.expose_secret());
        }
        #[cfg(unix)]
        if mask || grant.mask {
            masked = Some(
                crate::mask::Masked::prepare(&mut command)
                    .map_err(|e| Failure::new(format!("cannot set up masking: {e}")))?,
            );
        }
        // Spawned through tokio so the child is awaited without a waiting thread.
        let mut command = tokio::process::Command::from(command);
        let spawned = command.spawn();
        drop(command);
        let spawned = match (spawned, masked.as_mut()) {
            (Ok(mut child), Some(relays)) => {
                let values: Vec<&[u8]> = env
                    .iter()
                    .map(|(_, v)| v.expose_secret().as_bytes())
                    .collect();
                relays
                    .start(&mut child, &values)
                    .map_err(|e| Failure::new(format!("cannot set up masking: {e}")))?;
                Ok(child)
            }
            (spawned, _) => spawned,
        };
        drop(env);
        match spawned {
            Ok(child) => child,
            Err(e) => {
                let failure = spawn_failure(&argv[0], e);
                // For the audit log: this lease's grant had no command behind it.
                let _ = client
                    .lease_started(LeaseStartedRequest {
                        lease_id: grant.lease_id.clone(),
                        child_pid: 0,
                        failure: failure.message.clone(),
                    })
                    .await;
                return Err(failure);
            }
        }
    };
    let child_pid = child.id().unwrap_or_default();
    forwarder.set_child(child_pid);
    let started = LeaseStartedRequest {
        lease_id: grant.lease_id.clone(),
        child_pid,
        failure: String::new(),
    };
    // Only for `sec status`: sent alongside the child, never waited for.
    let mut reporter = client.clone();
    tokio::spawn(async move { reporter.lease_started(started).await });

    let wait = child.wait();
    tokio::pin!(wait);
    let mut lease_open = true;
    let mut kill_deadline: Option<tokio::time::Instant> = None;
    let mut stopped_because: Option<String> = None;
    let status = loop {
        let grace = async {
            match kill_deadline {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            status = &mut wait => break status,
            _ = grace => {
                signals::kill_child(child_pid, true);
                kill_deadline = None;
            }
            event = events.message(), if lease_open => match event {
                Ok(Some(pb::LeaseEvent { event: Some(lease_event::Event::Revoked(revoked)) })) => {
                    lease_open = false;
                    if revoked.terminate {
                        eprintln!("sec: {}; stopping {}", revoked.reason, argv[0]);
                        signals::kill_child(child_pid, false);
                        kill_deadline = Some(tokio::time::Instant::now() + TERMINATE_GRACE);
                        stopped_because = Some(revoked.reason);
                    } else {
                        eprintln!("sec: {}; {} keeps running with what it already has", revoked.reason, argv[0]);
                    }
                }
                Ok(Some(_)) => {}
                // The daemon went away; the child keeps what it has.
                Ok(None) | Err(_) => lease_open = false,
            },
        }
    };
    drop(events);
    if let Some(masked) = masked {
        masked.finish();
    }
    let status = status.map_err(|e| Failure::new(format!("cannot wait for {}: {e}", argv[0])))?;
    if let Some(reason) = stopped_because {
        eprintln!("sec: {} was stopped: {reason}", argv[0]);
    }
    Ok(exit_code(status))
}

/// What the user should know about a grant before the command runs: a config problem, a
/// repository file's notice, no scope at all.
pub fn announce(grant: &pb::Grant, cwd: &std::path::Path, argv: &[String]) {
    warn_config(&grant.config_error);
    if !grant.notice.is_empty() {
        eprintln!("sec: {}", grant.notice);
    }
    if grant.scope.is_empty() {
        eprintln!(
            "sec: no scope covers {}; running {} without secrets",
            cwd.display(),
            argv[0]
        );
    }
}

pub(crate) fn spawn_failure(program: &str, error: std::io::Error) -> Failure {
    match error.kind() {
        std::io::ErrorKind::NotFound => {
            Failure::with_code(format!("{program}: command not found"), EXIT_NOT_FOUND)
        }
        std::io::ErrorKind::PermissionDenied => {
            Failure::with_code(format!("{program}: permission denied"), EXIT_CANNOT_RUN)
        }
        _ => Failure::with_code(format!("{program}: cannot run: {error}"), EXIT_CANNOT_RUN),
    }
}

/// The child's exit code, or 128+N when signal N ended it (as shells report it).
pub(crate) fn exit_code(status: std::process::ExitStatus) -> u8 {
    if let Some(code) = status.code() {
        return code as u8;
    }
    #[cfg(unix)]
    if let Some(signal) = std::os::unix::process::ExitStatusExt::signal(&status) {
        return (128 + signal) as u8;
    }
    EXIT_SEC_FAILED
}

#[cfg(unix)]
pub(crate) mod signals {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicI32, Ordering};

    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};
    use signal_hook::iterator::SignalsInfo;
    use signal_hook::iterator::exfiltrator::WithOrigin;
    use signal_hook::low_level::siginfo::Cause;

    /// Forwards SIGINT, SIGTERM, SIGHUP and SIGQUIT that another process sent to sec. A
    /// signal the terminal generated (Ctrl-C, Ctrl-\) went to the whole foreground process
    /// group, child included, and is not sent a second time.
    pub struct Forwarder {
        child: Arc<AtomicI32>,
        pending: Arc<AtomicI32>,
    }

    impl Forwarder {
        pub fn install() -> std::io::Result<Self> {
            let mut signals = SignalsInfo::<WithOrigin>::new([SIGINT, SIGTERM, SIGHUP, SIGQUIT])?;
            let child = Arc::new(AtomicI32::new(0));
            let pending = Arc::new(AtomicI32::new(0));
            let (child_pid, pending_signal) = (Arc::clone(&child), Arc::clone(&pending));
            std::thread::spawn(move || {
                for origin in signals.forever() {
                    if matches!(origin.cause, Cause::Kernel) {
                        continue;
                    }
                    match child_pid.load(Ordering::SeqCst) {
                        0 => pending_signal.store(origin.signal, Ordering::SeqCst),
                        pid => send(pid, origin.signal),
                    }
                }
            });
            Ok(Self { child, pending })
        }

        /// From now on signals go to `pid`; one that arrived before the child existed is
        /// delivered now.
        pub fn set_child(&self, pid: u32) {
            self.child.store(pid as i32, Ordering::SeqCst);
            let early = self.pending.swap(0, Ordering::SeqCst);
            if early != 0 {
                send(pid as i32, early);
            }
        }
    }

    /// SIGTERM (or SIGKILL when `hard`) to the child.
    pub fn kill_child(pid: u32, hard: bool) {
        let signal = if hard {
            Signal::SIGKILL
        } else {
            Signal::SIGTERM
        };
        let _ = kill(Pid::from_raw(pid as i32), signal);
    }

    fn send(pid: i32, signal: i32) {
        if let Ok(signal) = Signal::try_from(signal) {
            let _ = kill(Pid::from_raw(pid), signal);
        }
    }
}

#[cfg(not(unix))]
pub(crate) mod signals {
    pub struct Forwarder;
    impl Forwarder {
        pub fn install() -> std::io::Result<Self> {
            Ok(Self)
        }
        pub fn set_child(&self, _pid: u32) {}
    }

    pub fn kill_child(_pid: u32, _hard: bool) {}
}
