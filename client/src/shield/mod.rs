//! `sec shield -- CMD`: run code you do not trust with your credentials out of its reach.
//!
//! The opposite of `sec exec`: instead of handing secrets to one command, it takes away what
//! the user's own processes can normally reach. The child gets an environment without
//! credential variables, and runs in its own user and mount namespaces where credential
//! files are empty, $HOME is read-only except the project, and the sockets of secd, the
//! session bus (with the Secret Service), ssh-agent and gpg-agent are gone (`policy` says
//! what, `sandbox` how). Exit status, signals and the terminal behave as with `sec exec`.
//!
//! Where the kernel does not let an unprivileged user build this, `sec shield` says why and
//! exits 125 without running the command.

#[cfg(target_os = "linux")]
mod policy;
#[cfg(target_os = "linux")]
mod sandbox;

#[cfg(target_os = "linux")]
use std::ffi::OsString;
use std::path::PathBuf;

#[cfg(target_os = "linux")]
use sec_proto::pb;

#[cfg(target_os = "linux")]
use crate::daemon_conn;
use crate::report::Failure;
#[cfg(target_os = "linux")]
use crate::report::warn_config;

#[cfg(target_os = "linux")]
use policy::Layout;

/// `sec shield`'s command line.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub struct ShieldArgs {
    pub no_network: bool,
    pub allow: Vec<PathBuf>,
    pub writable: Vec<PathBuf>,
    pub show: bool,
    pub argv: Vec<String>,
}

#[cfg(target_os = "linux")]
pub async fn run(args: ShieldArgs) -> Result<u8, Failure> {
    let cwd = std::env::current_dir()
        .map_err(|e| Failure::new(format!("cannot tell the current directory: {e}")))?;
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .ok_or_else(|| Failure::new("cannot tell your home directory; set HOME"))?;
    // The policy first: once the child runs, secd's socket is out of its reach, and the
    // user's own additions must be known before anything runs.
    let policy = {
        let mut client = daemon_conn::connect(true).await?;
        client
            .shield(pb::ShieldRequest {})
            .await
            .map_err(Failure::from_status)?
            .into_inner()
    };
    warn_config(&policy.config_error);
    let env: Vec<(OsString, OsString)> = std::env::vars_os().collect();
    let (kept_env, dropped) = policy::filter_env(&env, &policy);
    let (layout, warnings) = Layout::plan(&policy::Request {
        home: &home,
        cwd: &cwd,
        uid: sec_proto::socket::current_uid(),
        env: &env,
        policy: &policy,
        allow: &args.allow,
        writable: &args.writable,
    })?;
    for warning in &warnings {
        eprintln!("sec: {warning}");
    }
    if args.show {
        print!("{}", describe(&layout, &dropped, args.no_network));
        return Ok(0);
    }
    run_shielded(&args, &layout, kept_env).await
}

/// What `--show` prints: the layout and the dropped variables, one item a line.
#[cfg(target_os = "linux")]
fn describe(layout: &Layout, dropped: &[String], no_network: bool) -> String {
    let mut out = String::new();
    for hidden in &layout.hidden {
        let how = if hidden.dir { "empty" } else { "/dev/null" };
        out.push_str(&format!("hidden      {} ({how})\n", hidden.path.display()));
    }
    if let Some(home) = &layout.read_only {
        out.push_str(&format!("read-only   {}\n", home.display()));
    }
    for path in &layout.writable {
        out.push_str(&format!("writable    {}\n", path.display()));
    }
    for name in dropped {
        out.push_str(&format!("unset       {name}\n"));
    }
    let network = if no_network {
        "loopback only"
    } else {
        "as outside"
    };
    out.push_str(&format!("network     {network}\n"));
    out
}

#[cfg(target_os = "linux")]
async fn run_shielded(
    args: &ShieldArgs,
    layout: &Layout,
    env: Vec<(OsString, OsString)>,
) -> Result<u8, Failure> {
    use std::process::Command;

    use crate::exec::{exit_code, signals, spawn_failure};

    let plan = sandbox::Plan::new(layout, args.no_network)
        .map_err(|e| Failure::new(format!("cannot prepare the shield: {e}")))?;
    if !plan.has_landlock() && !args.no_network && reaches_abstract_sockets() {
        eprintln!(
            "sec: this kernel cannot keep the command from abstract sockets (Landlock scopes need Linux 6.12), and your X11 display or session bus may listen on one; add --no-network to close them"
        );
    }
    let forwarder = signals::Forwarder::install()
        .map_err(|e| Failure::new(format!("cannot install signal handlers: {e}")))?;
    let mut command = Command::new(&args.argv[0]);
    command
        .args(&args.argv[1..])
        .env_clear()
        .envs(env)
        .env(crate::daemon_conn::SHIELD_MARKER, "1");
    let mut child = match sandbox::spawn(command, plan) {
        Ok(child) => child,
        Err(error) => {
            return Err(match sandbox::StepError::decode(&error) {
                Some(step) => refusal(&step, layout),
                None => spawn_failure(&args.argv[0], error),
            });
        }
    };
    forwarder.set_child(child.id());
    // Nothing else runs on this thread meanwhile; the forwarder has its own.
    let status = child
        .wait()
        .map_err(|e| Failure::new(format!("cannot wait for {}: {e}", args.argv[0])))?;
    Ok(exit_code(status))
}

/// The sentence for a shield that could not be built: why, and that nothing ran.
#[cfg(target_os = "linux")]
fn refusal(error: &sandbox::StepError, layout: &Layout) -> Failure {
    use sandbox::Step;
    let why = sandbox::explain(error, |step, index| match step {
        Step::ReadOnlyHome => layout.read_only.clone(),
        Step::Writable => layout.writable.get(index).cloned(),
        Step::Hide => layout.hidden.get(index).map(|h| h.path.clone()),
        Step::Chdir => Some(layout.cwd.clone()),
        _ => None,
    });
    Failure::new(format!(
        "cannot shield the command: {why}. Nothing was run; sec shield never runs a command unshielded."
    ))
}

/// Whether the environment names an X11 display or an abstract D-Bus socket, which only
/// Landlock or a network namespace can close.
#[cfg(target_os = "linux")]
fn reaches_abstract_sockets() -> bool {
    std::env::var_os("DISPLAY").is_some_and(|d| !d.is_empty())
        || std::env::var_os("DBUS_SESSION_BUS_ADDRESS")
            .is_some_and(|a| a.to_string_lossy().contains("abstract="))
}

#[cfg(not(target_os = "linux"))]
pub async fn run(_args: ShieldArgs) -> Result<u8, Failure> {
    Err(Failure::new(
        "sec shield needs Linux user namespaces; on this system nothing was run",
    ))
}
