//! `sec shield -- CMD`: run code you do not trust where your credentials do not exist.
//!
//! The opposite of `sec exec`: instead of handing secrets to one command, it builds a world
//! for the command that holds only what it needs, default-deny. An empty home in memory with
//! the project writable and toolchains read-only, private `/tmp` and `/run`, the rest of the
//! system read-only (`layout`); only harmless environment variables (`env`); its own PID
//! namespace, so nothing it starts outlives it (`init`); no inherited descriptors, no kernel
//! keyring, no typing into the terminal (`sandbox`). Exit status, signals and the terminal
//! behave as with `sec exec`.
//!
//! Fail closed: when the config cannot be read or the kernel cannot build a part of this,
//! `sec shield` says which part and exits 125 without running the command.

#[cfg(target_os = "linux")]
pub mod broker;
#[cfg(target_os = "linux")]
mod env;
#[cfg(target_os = "linux")]
mod host;
#[cfg(target_os = "linux")]
mod init;
#[cfg(target_os = "linux")]
mod layout;
#[cfg(target_os = "linux")]
mod refusal;
#[cfg(target_os = "linux")]
mod sandbox;

#[cfg(target_os = "linux")]
use std::ffi::OsString;
#[cfg(target_os = "linux")]
use std::path::Path;
use std::path::PathBuf;

use crate::report::Failure;
#[cfg(target_os = "linux")]
use sec_proto::config::Config;

#[cfg(target_os = "linux")]
use layout::{Guarded, Layout};

/// `sec shield`'s command line.
#[derive(clap::Args)]
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub struct ShieldArgs {
    /// A fresh network namespace with only the loopback interface.
    #[arg(long)]
    pub no_network: bool,
    /// Take the scope's brokered variables even if config.toml's scope for this directory
    /// brokers none (a repository's .sec.toml may): the command gets their placeholders and
    /// no network but the lease's HTTPS broker.
    #[arg(long, conflicts_with = "no_broker")]
    pub broker: bool,
    /// Run without the scope's brokered variables (and without the broker's network rule).
    #[arg(long)]
    pub no_broker: bool,
    /// Show this path read-only (repeatable).
    #[arg(long, value_name = "PATH")]
    pub allow: Vec<PathBuf>,
    /// Show this path writable (repeatable).
    #[arg(long, value_name = "PATH")]
    pub writable: Vec<PathBuf>,
    /// Let the command change the project's .git/config, hooks and info (a test suite
    /// that commits).
    #[arg(long)]
    pub writable_git: bool,
    /// Pass this environment variable too; `*` matches any run (repeatable).
    #[arg(long, value_name = "NAME")]
    pub keep_env: Vec<String>,
    /// Pass this open descriptor (above 2) to the command (repeatable).
    #[arg(long, value_name = "FD")]
    pub keep_fd: Vec<i32>,
    /// Print what the command would see, and run nothing.
    #[arg(long)]
    pub show: bool,
    /// The command and its arguments.
    #[arg(
        required_unless_present = "show",
        trailing_var_arg = true,
        value_name = "CMD"
    )]
    pub argv: Vec<String>,
}

/// Runs the shield. Called before any thread exists (no async runtime): `sec` itself enters
/// the new user namespace, which the kernel allows only a single-threaded process.
#[cfg(target_os = "linux")]
pub fn run(args: ShieldArgs) -> Result<u8, Failure> {
    let cwd = std::env::current_dir()
        .map_err(|e| Failure::new(format!("cannot tell the current directory: {e}")))?;
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .ok_or_else(|| Failure::new("cannot tell your home directory; set HOME"))?;
    // The user's settings, read here (not asked of secd, which need not run for this): a
    // config that cannot be read is a refusal, never a shield with less than it asks for.
    let config = shield_config(&home)?;
    let brokered = args.broker
        || (!args.no_broker
            && config
                .scope_for(&cwd)
                .is_some_and(|scope| !scope.brokered.is_empty()));
    let settings = config.shield;
    let env: Vec<(OsString, OsString)> = std::env::vars_os().collect();
    let keep_env: Vec<String> = settings
        .keep_env
        .iter()
        .chain(&args.keep_env)
        .cloned()
        .collect();
    let env_plan = env::plan(&env, &keep_env, &settings.hide_env);
    let opened = env::opened_paths(&env_plan.kept);
    let (layout, warnings) = Layout::plan(&layout::Request {
        home: &home,
        cwd: &cwd,
        env: &env,
        settings: &settings,
        daemon_dirs: &daemon_dirs(),
        allow: &args.allow,
        writable: &args.writable,
        writable_git: args.writable_git,
        opened: &opened,
        mounts: &host::mounts(),
        sockets: &host::listening_sockets(),
    })?;
    for warning in warnings.iter().chain(&env_plan.warnings) {
        eprintln!("sec: {warning}");
    }
    for fd in &args.keep_fd {
        let open = Path::new(&format!("/proc/self/fd/{fd}"))
            .symlink_metadata()
            .is_ok();
        if *fd < 3 || !open {
            return Err(Failure::new(format!(
                "--keep-fd {fd}: not an open descriptor above 2; nothing was run"
            )));
        }
    }
    if args.show {
        print!("{}", describe(&layout, &env_plan, &args, brokered));
        return Ok(0);
    }
    let mut layout = layout;
    let link = if brokered {
        let (link, leased) = broker::Link::start(&args.argv).map_err(|f| {
            Failure::new(format!(
                "{}. sec shield does not run the command without the broker it asks for (--no-broker runs it without the brokered variables). Nothing was run.",
                f.message
            ))
        })?;
        if let Some(dir) = &leased.files_dir {
            layout.shown.push(layout::Shown {
                source: dir.clone(),
                target: PathBuf::from(broker::FILES_TARGET),
                writable: false,
                why: "the broker's CA for this lease",
            });
        }
        Some((link, leased))
    } else {
        None
    };
    run_shielded(&args, &layout, env_plan.kept, link)
}

/// config.toml (its `[shield]`, and whether the scope here brokers variables); a config
/// with a mistake anywhere is refused.
#[cfg(target_os = "linux")]
fn shield_config(home: &Path) -> Result<Config, Failure> {
    let path = sec_proto::paths::config_file()
        .ok_or_else(|| Failure::new("cannot tell your config directory; set HOME"))?;
    Config::load(&path, home)
        .map_err(|e| {
            Failure::new(format!(
                "{e}. sec shield does not run with less than your config asks for; fix config.toml and run it again. Nothing was run."
            ))
        })
}

/// sec's own directories: covered where they would show, so that a shielded command can
/// neither reach secd's socket nor change the config, the approvals or the vault.
#[cfg(target_os = "linux")]
fn daemon_dirs() -> Vec<PathBuf> {
    use sec_proto::paths;
    [
        paths::config_file().and_then(|f| f.parent().map(Path::to_path_buf)),
        paths::state_dir(),
        paths::local_vault().and_then(|f| f.parent().map(Path::to_path_buf)),
        sec_proto::socket::runtime_dir().ok(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// What `--show` prints: the whole layout, one item a line, no values.
#[cfg(target_os = "linux")]
fn describe(layout: &Layout, env_plan: &env::EnvPlan, args: &ShieldArgs, brokered: bool) -> String {
    let mut out = String::new();
    let mut line = |kind: &str, what: &dyn std::fmt::Display, why: &str| {
        out.push_str(&format!("{kind:<11} {what}{why}\n"));
    };
    line("read-only", &"/", " (the system, except what follows)");
    for scratch in layout::REPLACED {
        line("private", scratch, " (fresh, empty or minimal)");
    }
    line(
        "home",
        &layout.home.display(),
        " (empty, in memory, gone at exit)",
    );
    for shown in &layout.shown {
        let kind = if shown.writable {
            "writable"
        } else {
            "read-only"
        };
        let from = if shown.source != shown.target {
            format!(" from {}", shown.source.display())
        } else {
            String::new()
        };
        line(
            kind,
            &shown.target.display(),
            &format!("{from} ({})", shown.why),
        );
    }
    for hidden in &layout.hidden {
        let how = if hidden.dir { "empty" } else { "/dev/null" };
        line(
            "hidden",
            &hidden.path.display(),
            &format!(" ({how}; {})", hidden.why),
        );
    }
    for protected in &layout.protected {
        line(
            "protected",
            &protected.display(),
            " (read-only in the project)",
        );
    }
    for guarded in &layout.guarded {
        line(
            "guarded",
            &guarded.path.display(),
            " (moved aside if the command makes it)",
        );
    }
    line(
        "env rule",
        &"passes by default",
        &format!(": {}", env::PASS_ENV.join(" ")),
    );
    if !env_plan.keep_patterns.is_empty() {
        line(
            "env rule",
            &"passes as you asked ([shield] keep_env, --keep-env)",
            &format!(": {}", env_plan.keep_patterns.join(" ")),
        );
    }
    if !env_plan.hide_patterns.is_empty() {
        line(
            "env rule",
            &"never passes ([shield] hide_env)",
            &format!(": {}", env_plan.hide_patterns.join(" ")),
        );
    }
    line("env rule", &"everything else is dropped", "");
    for name in &env_plan.passed {
        line("passed", name, "");
    }
    for name in &env_plan.dropped {
        line("dropped", name, "");
    }
    let network = if brokered {
        "only the lease's HTTPS broker (brokered variables get placeholders; --no-broker runs without them)"
    } else if args.no_network {
        "loopback only"
    } else {
        "as outside"
    };
    line("network", &network, "");
    line(
        "processes",
        &"own PID namespace",
        "; all end with the command",
    );
    let fds: Vec<String> = args.keep_fd.iter().map(i32::to_string).collect();
    let extra = if fds.is_empty() {
        String::new()
    } else {
        format!(", {}", fds.join(", "))
    };
    line(
        "descriptors",
        &format!("0, 1, 2{extra}"),
        "; all others closed",
    );
    line("keyring", &"none", " (keyctl refused)");
    for note in &layout.notes {
        line("note", note, "");
    }
    out
}

#[cfg(target_os = "linux")]
fn run_shielded(
    args: &ShieldArgs,
    layout: &Layout,
    env: Vec<(OsString, OsString)>,
    link: Option<(broker::Link, broker::Leased)>,
) -> Result<u8, Failure> {
    use std::io::Read;
    use std::os::fd::AsRawFd;
    use std::os::unix::process::ExitStatusExt;
    use std::process::{Command, ExitStatus};

    use crate::exec::{exit_code, spawn_failure};

    // Brokered variables: no network but the way to the broker.
    let no_network = args.no_network || link.is_some();
    let mut plan = sandbox::Plan::new(layout, no_network, args.keep_fd.clone())
        .map_err(|e| Failure::new(format!("cannot prepare the shield: {e}")))?;
    if let Some(why) = refusal::unguarded_abstract_sockets(
        plan.has_landlock(),
        no_network,
        host::abstract_sockets_listen,
    ) {
        return Err(Failure::new(format!(
            "cannot shield the command: {why}. Nothing was run; sec shield never runs a command unshielded."
        )));
    }
    let op_paths = plan.op_paths.clone();
    let refused = |step: &sandbox::StepError| {
        Failure::new(format!(
            "cannot shield the command: {}. Nothing was run; sec shield never runs a command unshielded.",
            refusal::explain(step, &op_paths)
        ))
    };
    sandbox::enter_namespaces(&plan).map_err(|step| refused(&step))?;
    let brokered_env = match &link {
        Some((link, leased)) => broker::inside_env(leased, link.listen_inside()?),
        None => Vec::new(),
    };
    let (status_read, status_write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| Failure::new(format!("cannot make a pipe: {e}")))?;
    plan.status_fd = status_write.as_raw_fd();
    let mut command = Command::new(&args.argv[0]);
    command
        .args(&args.argv[1..])
        .env_clear()
        .envs(env)
        .env(crate::daemon_conn::SHIELD_MARKER, "1");
    for (name, value) in &brokered_env {
        use secrecy::ExposeSecret;
        command.env(name, value.expose_secret());
    }
    drop(brokered_env);
    let mut init = match sandbox::spawn(command, plan) {
        Ok(init) => init,
        Err(error) => {
            return Err(match sandbox::StepError::decode(&error) {
                Some(step) => refused(&step),
                None => spawn_failure(&args.argv[0], error),
            });
        }
    };
    drop(status_write);
    // No thread can start in a process that made a PID namespace: plain handlers.
    init::forward_signals_to(init.id() as i32);
    // Init writes the command's wait status when it ends; end-of-file means init itself
    // died, whose own status then counts.
    let mut status = [0u8; init::STATUS_LEN];
    let reported = std::fs::File::from(status_read).read_exact(&mut status);
    let init_status = init
        .wait()
        .map_err(|e| Failure::new(format!("cannot wait for {}: {e}", args.argv[0])))?;
    let status = match reported {
        Ok(()) => ExitStatus::from_raw(i32::from_ne_bytes(status)),
        Err(_) => init_status,
    };
    // Every process of the shield is gone now (its PID namespace ended with init); so is
    // the lease of its brokered variables.
    drop(link);
    for moved in undo_plants(&layout.guarded) {
        eprintln!("sec: {moved}");
    }
    let code = exit_code(status);
    if code != 0 && code < 128 {
        eprintln!(
            "sec: the command exited with {code} under the shield, where your home holds only what `sec shield --show` lists; --allow PATH (or [shield] allow) shows more"
        );
    }
    Ok(code)
}

/// Moves aside what the command made at guarded project paths (a new `.envrc`, a `.git` with
/// hooks), and puts back a symlink it replaced. One sentence for each.
#[cfg(target_os = "linux")]
fn undo_plants(guarded: &[Guarded]) -> Vec<String> {
    let mut said = Vec::new();
    for guard in guarded {
        let now = guard.path.symlink_metadata().ok();
        let unchanged = match (&guard.link, &now) {
            (None, None) => true,
            (Some(link), Some(meta)) => {
                meta.file_type().is_symlink()
                    && std::fs::read_link(&guard.path).ok().as_ref() == Some(link)
            }
            _ => false,
        };
        if unchanged {
            continue;
        }
        let mut sentence = String::new();
        if now.is_some() {
            let aside = aside_name(&guard.path);
            sentence = match std::fs::rename(&guard.path, &aside) {
                Ok(()) => format!(
                    "the command made {}, which a tool would run or load later outside the shield; moved it to {}",
                    guard.path.display(),
                    aside.display()
                ),
                Err(e) => format!(
                    "the command made {} and it cannot be moved aside ({e}); remove it before you run anything in this project",
                    guard.path.display()
                ),
            };
        }
        if let Some(link) = &guard.link {
            match std::os::unix::fs::symlink(link, &guard.path) {
                Ok(()) => sentence.push_str("; the symlink that was there is back"),
                Err(e) => sentence.push_str(&format!(
                    "; the symlink to {} that was there cannot be restored ({e})",
                    link.display()
                )),
            }
        }
        said.push(sentence);
    }
    said
}

/// `PATH.sec-shield-moved`, or with a number where that exists.
#[cfg(target_os = "linux")]
fn aside_name(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".sec-shield-moved");
    let mut candidate = PathBuf::from(&name);
    let mut n = 1;
    while candidate.symlink_metadata().is_ok() {
        let mut numbered = name.clone();
        numbered.push(format!(".{n}"));
        candidate = PathBuf::from(numbered);
        n += 1;
    }
    candidate
}

#[cfg(not(target_os = "linux"))]
pub fn run(_args: ShieldArgs) -> Result<u8, Failure> {
    Err(Failure::new(
        "sec shield needs Linux namespaces; on this system nothing was run",
    ))
}
