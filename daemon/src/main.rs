//! secd: the per-user daemon. It looks secrets up in vaults, caches them per project
//! directory with an idle TTL and a hard maximum, and leases them to `sec exec` over a
//! private local socket.

// config.toml and `.sec.toml` are read by the client too: their parser is shared.
use sec_proto::config;
// The path of a request, top to bottom: rpc (the gRPC surface) → daemon (the parts put
// together, and what a request does with them) → policy (what is in force) → lease (what
// is handed out, to whom, recorded) → store (values: cache and vaults); host (facts and
// files of this machine) below them all. See docs/ARCHITECTURE.md.
mod daemon;
mod host;
mod lease;
mod policy;
mod rpc;
mod store;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;
use sec_proto::pb::sec_server::SecServer;
use sec_proto::{paths, socket};
use tokio::sync::Notify;

use crate::daemon::Daemon;
use crate::host::hardening;
use crate::lease::{audit, files};
use crate::policy::live_config::LiveConfig;
use crate::policy::trust;
use crate::store::vault;

/// The sec daemon: holds looked-up secrets per directory for a limited time and leases them
/// to `sec exec`. Normally started by `sec` on demand.
#[derive(Parser)]
#[command(name = "secd", version)]
struct Args {
    /// Stay in the foreground and log to stderr (for debugging and service managers).
    #[arg(long)]
    foreground: bool,
    /// Check a config file and exit: prints `file:line:column: what` for a mistake.
    #[arg(long, value_name = "FILE")]
    check_config: Option<PathBuf>,
    /// Print `READY` on stdout once the socket accepts connections (used by `sec`).
    #[arg(long, hide = true)]
    notify_ready: bool,
    /// Claim another protocol number (tests of the client's mismatch handling).
    #[arg(long, hide = true)]
    test_protocol: Option<u32>,
    /// Take connections as secd did before protocol 3, without reading the caller's
    /// directory first (tests of the client's upgrade path).
    #[arg(long, hide = true)]
    test_no_greeting: bool,
}

fn main() -> ExitCode {
    // Before anything else, so no secret ever sits in a dumpable process.
    if let Err(e) = hardening::harden() {
        eprintln!("secd: cannot protect its memory ({e}); refusing to run");
        return ExitCode::FAILURE;
    }
    let args = Args::parse();
    let result = if let Some(path) = &args.check_config {
        check_config(path)
    } else if args.foreground {
        run_foreground(&args)
    } else {
        start_in_background(&args)
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("secd: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn home_dir() -> anyhow::Result<PathBuf> {
    paths::home_dir().context("cannot tell your home directory; set HOME")
}

fn config_path() -> anyhow::Result<PathBuf> {
    paths::config_file().context("cannot tell your config directory; set HOME")
}

fn check_config(path: &std::path::Path) -> anyhow::Result<()> {
    let home = home_dir()?;
    let text = config::Config::read(path)?.unwrap_or_default();
    let config = config::Config::parse(&text, path, &home)?;
    for warning in config::Config::warnings(&text, path, &home) {
        eprintln!("secd: warning: {warning}");
    }
    println!("{}: ok, {} scope(s)", path.display(), config.scopes.len());
    Ok(())
}

fn start_in_background(args: &Args) -> anyhow::Result<()> {
    let program = std::env::current_exe().context("cannot find the secd executable")?;
    let log = paths::daemon_log().context("cannot tell where to put the log; set HOME")?;
    let extra: Vec<String> = args
        .test_protocol
        .map(|p| vec!["--test-protocol".into(), p.to_string()])
        .unwrap_or_default();
    let pid =
        sec_proto::launch::launch_daemon(&program, &extra, &log, sec_proto::launch::READY_TIMEOUT)?;
    println!("secd started (pid {pid}), logging to {}", log.display());
    Ok(())
}

fn run_foreground(args: &Args) -> anyhow::Result<()> {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = log_filter(std::env::var("SECD_LOG").ok().as_deref());
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())),
        )
        .with(filter)
        .init();
    host::memory::limit_arenas();
    // Before the runtime's threads: taking it edits the environment.
    #[cfg(unix)]
    let inherited = socket::take_inherited_fd();
    #[cfg(not(unix))]
    let inherited: Option<std::convert::Infallible> = None;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let result = runtime.block_on(serve(args, inherited));
    if let Err(e) = &result {
        tracing::error!("{e:#}");
    }
    result
}

/// The socket systemd passed, where it did (socket activation).
#[cfg(unix)]
type Inherited = Option<std::os::fd::OwnedFd>;
#[cfg(not(unix))]
type Inherited = Option<std::convert::Infallible>;

async fn serve(args: &Args, inherited: Inherited) -> anyhow::Result<()> {
    let socket_path = socket::socket_path()?;
    if let Some(notice) = socket::fallback_notice() {
        tracing::warn!("{notice}");
    }
    // A socket systemd made stays systemd's: it is not removed when secd stops.
    let owns_socket = inherited.is_none();
    let listener = match inherited {
        #[cfg(unix)]
        Some(fd) => {
            tracing::info!("listening on the socket systemd passed (socket activation)");
            socket::listener_from(fd)?
        }
        #[cfg(not(unix))]
        Some(never) => match never {},
        None => {
            if socket::is_live(&socket_path).await {
                bail!(
                    "another secd already answers on {}; `sec daemon stop` stops it",
                    socket_path.display()
                );
            }
            socket::listen(&socket_path)?
        }
    };
    let state_dir = paths::state_dir().context("cannot tell the state directory; set HOME")?;
    let config = LiveConfig::load(
        config_path()?,
        home_dir()?,
        state_dir.join("config.last-good.toml"),
    );
    let protocol = args.test_protocol.unwrap_or(sec_proto::PROTOCOL);
    let trust = trust::TrustStore::load(state_dir.join("trust.json"));
    let audit = audit::AuditLog::new(
        paths::audit_log().context("cannot tell the state directory; set HOME")?,
    );
    let runtime_dir = socket_path
        .parent()
        .context("the socket has no directory")?;
    let files = files::LeaseFiles::new(runtime_dir);
    // Secret files of leases whose daemon died (no stream can end them any more).
    files.remove_all();
    let daemon = Arc::new(Daemon::new(
        config,
        trust,
        audit,
        files,
        Arc::new(vault::LocalVault::new(
            paths::local_vault().context("cannot tell the data directory; set HOME")?,
            store::expiry::Limits {
                ttl: config::DEFAULT_TTL,
                max_ttl: config::DEFAULT_MAX_TTL,
            },
        )),
        protocol,
        state_dir.join("policy.json"),
    ));
    let shutdown = Arc::new(Notify::new());
    tokio::spawn(handle_signals(Arc::clone(&daemon), Arc::clone(&shutdown)));
    tokio::spawn(housekeeping(Arc::clone(&daemon)));
    tokio::spawn(keep_engine_leases(Arc::clone(&daemon)));
    if let Some(releases) = daemon
        .engine_releases
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take()
    {
        tokio::spawn(Arc::clone(&daemon).run_engine_revoker(releases));
    }

    tracing::info!(
        pid = std::process::id(),
        version = sec_proto::VERSION,
        protocol,
        socket = %socket_path.display(),
        "listening"
    );
    if args.notify_ready {
        println!("{}", sec_proto::launch::READY_LINE);
    }
    let service = SecServer::new(rpc::Service::new(
        Arc::clone(&daemon),
        Arc::clone(&shutdown),
    ));
    let lean = serve_lean_leases(Arc::clone(&daemon));
    let served = tonic::transport::Server::builder()
        .serve_with_incoming_shutdown(
            service,
            socket::incoming(listener, !args.test_no_greeting, lean),
            shutdown.notified(),
        )
        .await;
    // Zeroize everything before going.
    let dropped = daemon.cache.revoke(|_| true);
    daemon.leases.end(|_| true, "secd stopped");
    // Dynamic credentials go with secd; an engine that does not answer in time ends them
    // at their (short) TTL.
    let _ = tokio::time::timeout(Duration::from_secs(5), daemon.revoke_all_engine_leases()).await;
    daemon.files.remove_all();
    daemon.hook_files.remove_all();
    daemon.agents.stop_all();
    if owns_socket {
        let _ = std::fs::remove_file(&socket_path);
    }
    tracing::info!(dropped, "stopped");
    served.context("the gRPC server failed")
}

/// `SECD_LOG=info,secd=debug`: a level, and levels per module; "info" when unset or
/// unreadable.
fn log_filter(text: Option<&str>) -> tracing_subscriber::filter::Targets {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    text.and_then(|t| t.parse().ok())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO))
}

/// `sec exec`'s lean leases (`sec_proto::lean`): served in the task that read the
/// connection's greeting.
#[cfg(unix)]
fn serve_lean_leases(daemon: Arc<Daemon>) -> socket::LeanHandler {
    Some(Arc::new(move |conn| {
        Box::pin(rpc::serve_lean(Arc::clone(&daemon), conn))
    }))
}

#[cfg(not(unix))]
fn serve_lean_leases(_daemon: Arc<Daemon>) -> socket::LeanHandler {
    None
}

/// SIGTERM and SIGINT: shut down (zeroize, remove the socket). SIGUSR1: revoke everything,
/// like ssh-agent's. SIGHUP: re-read the config now.
#[cfg(unix)]
async fn handle_signals(daemon: Arc<Daemon>, shutdown: Arc<Notify>) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int), Ok(mut usr1), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::user_defined1()),
        signal(SignalKind::hangup()),
    ) else {
        tracing::error!("cannot install signal handlers");
        return;
    };
    loop {
        tokio::select! {
            _ = term.recv() => { tracing::info!("SIGTERM: stopping"); shutdown.notify_one(); }
            _ = int.recv() => { tracing::info!("SIGINT: stopping"); shutdown.notify_one(); }
            _ = usr1.recv() => { daemon.revoke(&daemon::Selector::All, "SIGUSR1", None); }
            _ = hup.recv() => { tracing::info!("SIGHUP: re-reading the config"); daemon.current_config(); }
        }
    }
}

#[cfg(not(unix))]
async fn handle_signals(_daemon: Arc<Daemon>, shutdown: Arc<Notify>) {
    if tokio::signal::ctrl_c().await.is_ok() {
        shutdown.notify_one();
    }
}

/// Once a second: renew dynamic credentials of live leases and secd's OpenBao/Vault token
/// (on its own task: a slow engine never holds up housekeeping).
async fn keep_engine_leases(daemon: Arc<Daemon>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        daemon.renew_engine_leases().await;
    }
}

/// Once a second: drop expired secrets from memory and notice config edits (so a broken
/// edit is logged even when no client asks).
async fn housekeeping(daemon: Arc<Daemon>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut code_paged_out = false;
    loop {
        tick.tick().await;
        // What a burst of requests or a key derivation left goes back to the kernel, once
        // the burst is over (not while requests keep coming).
        let quiet = socket::idle_for();
        if quiet >= Duration::from_secs(1) {
            host::memory::give_back();
        }
        // Once per idle time: the code pages too (a connection starts a new one).
        let idle = quiet >= host::memory::CODE_IDLE;
        if idle && !code_paged_out {
            let advised = host::memory::page_out_code();
            tracing::debug!(advised, "idle: code pages handed back");
        }
        code_paged_out = idle;
        daemon.local.lock_if_expired();
        let expired = daemon.cache.sweep();
        if expired > 0 {
            tracing::info!(expired, "expired cached secrets dropped");
        }
        daemon.current_config();
        daemon.sync_hook_files();
    }
}

#[cfg(test)]
mod log_filter_tests {
    use super::log_filter;
    use tracing::Level;

    #[test]
    fn secd_log_sets_levels_per_module() {
        let filter = log_filter(Some("info,secd=debug"));
        assert!(filter.would_enable("secd::daemon", &Level::DEBUG));
        assert!(!filter.would_enable("hyper::proto", &Level::DEBUG));
        assert!(filter.would_enable("hyper::proto", &Level::INFO));
        let default = log_filter(None);
        assert!(default.would_enable("secd", &Level::INFO));
        assert!(!default.would_enable("secd", &Level::DEBUG));
        assert!(log_filter(Some("debug")).would_enable("h2", &Level::DEBUG));
        // Unreadable: the default, not silence.
        assert!(log_filter(Some("=[")).would_enable("secd", &Level::INFO));
    }
}
