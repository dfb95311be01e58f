//! The small subcommands: ls, status, revoke, set, rm, daemon. Each is one RPC and output.

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::time::Duration;

use sec_proto::display::count;
use sec_proto::pb;
use serde_json::json;

use crate::cli::DaemonAction;
use crate::daemon_conn::{self, connect};
use crate::passphrase;
use crate::report::{Failure, warn_config};

pub fn absolute(dir: Option<PathBuf>) -> Result<PathBuf, Failure> {
    let cwd = std::env::current_dir()
        .map_err(|e| Failure::new(format!("cannot tell the current directory: {e}")))?;
    Ok(match dir {
        Some(dir) if dir.is_absolute() => dir,
        Some(dir) => cwd.join(dir),
        None => cwd,
    })
}

pub async fn ls(dir: Option<PathBuf>, as_json: bool) -> Result<u8, Failure> {
    let dir = absolute(dir)?;
    let mut client = connect(true).await?;
    let info = resolve(&mut client, &dir).await?;
    warn_config(&info.config_error);
    if as_json {
        println!("{}", scope_json(&dir, &info));
        return Ok(0);
    }
    if let Some(repo) = &info.repo {
        println!("repository file {} ({})", repo.path, repo.trust);
        if !repo.error.is_empty() {
            println!("  mistake: {}", repo.error);
        }
        if repo.trust != "allowed" {
            print_vars(&repo.vars);
        }
    }
    if !info.notice.is_empty() {
        eprintln!("sec: {}", info.notice);
    }
    if !info.found {
        println!("no scope covers {}", dir.display());
        return Ok(0);
    }
    // "Locked" is the local vault's word (it needs its passphrase); a scope's secrets are
    // either in secd's memory or looked up at their next use.
    let state = if info.unlocked {
        "its secrets in memory"
    } else {
        "its secrets looked up at the next use"
    };
    println!(
        "scope {} ({state}; ttl {}, max {}; from {})",
        info.dir,
        human(info.ttl_secs),
        human(info.max_ttl_secs),
        info.source
    );
    print_vars(&info.vars);
    for key in &info.ssh_keys {
        println!("  ssh key   {}", sec_proto::display::visible(key));
    }
    for entry in &info.git {
        println!("  git       {}", sec_proto::display::visible(entry));
    }
    Ok(0)
}

/// `sec ls --local`: the names in the local vault (unlocking it first), never a value.
pub async fn ls_local(as_json: bool, passphrase_fd: Option<i32>) -> Result<u8, Failure> {
    let mut client = connect(true).await?;
    let source = passphrase::Source::from_flag(passphrase_fd);
    passphrase::ensure_unlocked(&mut client, &source, false).await?;
    let status = passphrase::local_status(&mut client).await?;
    if as_json {
        println!("{}", json!({ "path": status.path, "names": status.names }));
    } else {
        println!(
            "local vault {}: {}",
            status.path,
            count(status.names.len(), "secret", "secrets")
        );
        for name in &status.names {
            println!("  local:{}", sec_proto::display::visible(name));
        }
    }
    Ok(0)
}

/// `sec ls --json`: the scope and the repository file as `sec ls` shows them; names and
/// references, never a value (a literal is marked as one, without its text).
fn scope_json(dir: &std::path::Path, info: &pb::ScopeInfo) -> serde_json::Value {
    let vars = |vars: &[pb::VarInfo]| {
        vars.iter()
            .map(|v| {
                let mut var = json!({
                    "name": v.name,
                    "reference": (!v.literal).then_some(&v.reference),
                    "literal": v.literal,
                    "cached": v.cached,
                });
                // Only for a brokered variable: where its rules let the value go.
                if !v.broker.is_empty() {
                    var["broker"] = json!(v.broker);
                }
                var
            })
            .collect::<Vec<_>>()
    };
    json!({
        "dir": dir.display().to_string(),
        "scope": info.found.then(|| json!({
            "dir": info.dir,
            "source": info.source,
            "unlocked": info.unlocked,
            "ttl_secs": info.ttl_secs,
            "max_ttl_secs": info.max_ttl_secs,
            "vars": vars(&info.vars),
            "ssh_keys": info.ssh_keys,
            "git": info.git,
        })),
        "repo": info.repo.as_ref().map(|r| json!({
            "path": r.path,
            "trust": r.trust,
            "error": (!r.error.is_empty()).then_some(&r.error),
            "vars": vars(&r.vars),
        })),
        "notice": (!info.notice.is_empty()).then_some(&info.notice),
        "config_error": (!info.config_error.is_empty()).then_some(&info.config_error),
    })
}

/// One line per variable: name and reference (or "(literal)"), never a value; references
/// made visible (they may come from a repository file).
pub fn print_vars(vars: &[pb::VarInfo]) {
    use sec_proto::display::visible;
    let width = vars.iter().map(|v| v.name.len()).max().unwrap_or(0);
    for var in vars {
        let mut what = if var.literal {
            "(literal)".to_string()
        } else if var.cached {
            format!("{} (cached)", visible(&var.reference))
        } else {
            visible(&var.reference)
        };
        if !var.broker.is_empty() {
            what.push_str(&format!(" (brokered: only to {})", visible(&var.broker)));
        }
        println!("  {:width$}  {what}", var.name);
    }
}

/// What a repository file asks for, on stderr: every variable with its reference, each
/// literal in full, all of it made visible (an escape sequence in the file cannot hide a
/// line). The user approves exactly what this shows.
pub fn show_requests(repo: &pb::RepoFile) {
    use sec_proto::display::visible;
    let how = if repo.trust == "changed" {
        "changed since you approved it and now asks"
    } else {
        "asks"
    };
    eprintln!("sec: {} {how} for:", visible(&repo.path));
    for var in &repo.vars {
        if var.literal {
            eprintln!("  {} = \"{}\"", visible(&var.name), visible(&var.value));
        } else {
            let broker = if var.broker.is_empty() {
                String::new()
            } else {
                format!(" (brokered: only to {})", visible(&var.broker))
            };
            eprintln!(
                "  {} \u{2190} {}{broker}",
                visible(&var.name),
                visible(&var.reference)
            );
        }
    }
}

/// `sec allow`: shows the file and asks at the terminal; without one, secd asks through
/// askpass. Either way the approval is bound to the content that was shown.
pub async fn allow(dir: Option<PathBuf>) -> Result<u8, Failure> {
    use std::io::IsTerminal;
    let dir = absolute(dir)?;
    let mut client = connect(true).await?;
    let info = resolve(&mut client, &dir).await?;
    let Some(repo) = info.repo else {
        return Err(Failure::new(format!(
            "no .sec.toml at or above {}",
            dir.display()
        )));
    };
    if !repo.error.is_empty() {
        return Err(Failure::new(format!(
            "{} cannot be approved: {}",
            sec_proto::display::visible(&repo.path),
            sec_proto::display::visible(&repo.error)
        )));
    }
    let interactive = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    if interactive {
        show_requests(&repo);
        if !crate::hook::ask("Allow? [y/N] ", false) {
            eprintln!("sec: not allowed");
            return Ok(1);
        }
    }
    let reply = client
        .allow(pb::AllowRequest {
            dir: dir.display().to_string(),
            sha256: repo.sha256.clone(),
            confirmed: interactive,
        })
        .await
        .map_err(Failure::from_status)?
        .into_inner();
    println!("allowed {} (sha256 {})", repo.path, &repo.sha256[..12]);
    print_vars(&reply.vars);
    Ok(0)
}

pub async fn deny(dir: Option<PathBuf>) -> Result<u8, Failure> {
    let dir = absolute(dir)?;
    let mut client = connect(true).await?;
    client
        .deny(pb::DenyRequest {
            dir: dir.display().to_string(),
        })
        .await
        .map_err(Failure::from_status)?;
    println!(
        "denied the .sec.toml for {}; `sec allow` approves it later",
        dir.display()
    );
    Ok(0)
}

pub async fn unlock(dir: Option<PathBuf>) -> Result<u8, Failure> {
    let dir = absolute(dir)?;
    let mut client = connect(true).await?;
    let info = unlock_scope(&mut client, dir.display().to_string()).await?;
    warn_config(&info.config_error);
    if !info.notice.is_empty() {
        eprintln!("sec: {}", info.notice);
    }
    if !info.found {
        return Err(Failure::new(format!("no scope covers {}", dir.display())));
    }
    let secrets = info.vars.iter().filter(|v| !v.literal).count();
    println!(
        "unlocked {} for {} for {}",
        count(secrets, "secret", "secrets"),
        info.dir,
        human(info.ttl_secs)
    );
    Ok(0)
}

/// Looks a scope's secrets up now, asking for the local vault's passphrase when it is locked.
pub async fn unlock_scope(
    client: &mut crate::daemon_conn::Client,
    dir: String,
) -> Result<pb::ScopeInfo, Failure> {
    let request = pb::UnlockRequest { dir };
    let reply = match client.unlock(request.clone()).await {
        Err(status) if crate::passphrase::opened_after(client, &status).await? => {
            client.unlock(request).await
        }
        other => other,
    };
    Ok(reply.map_err(Failure::from_status)?.into_inner())
}

pub async fn resolve(
    client: &mut crate::daemon_conn::Client,
    dir: &std::path::Path,
) -> Result<pb::ScopeInfo, Failure> {
    Ok(client
        .resolve(pb::ResolveRequest {
            dir: dir.display().to_string(),
        })
        .await
        .map_err(Failure::from_status)?
        .into_inner())
}

pub async fn status(as_json: bool) -> Result<u8, Failure> {
    let mut client = connect(true).await?;
    let s = client
        .status(pb::StatusRequest {})
        .await
        .map_err(Failure::from_status)?
        .into_inner();
    let socket = sec_proto::socket::socket_path()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    if let Some(notice) = sec_proto::socket::fallback_notice() {
        eprintln!("sec: warning: {notice}");
    }
    if as_json {
        let value = json!({
            "pid": s.pid,
            "socket": socket,
            "version": s.version,
            "protocol": s.protocol,
            "uptime_secs": s.uptime_secs,
            "local": s.local.as_ref().map(|l| json!({
                "path": l.path, "exists": l.exists, "unlocked": l.unlocked,
                "expires_in_secs": l.expires_in_secs,
                "default_store": l.default_store, "default_reason": l.default_reason,
            })),
            "config_path": s.config_path,
            "config_error": s.config_error,
            "cached": s.cached.iter().map(|c| json!({
                "dir": c.dir, "references": c.references, "expires_in_secs": c.expires_in_secs,
            })).collect::<Vec<_>>(),
            "leases": s.leases.iter().map(|l| json!({
                "id": l.id, "scope": l.scope, "names": l.names, "command": l.command,
                "pid": l.pid, "child_pid": l.child_pid, "granted_at_unix": l.granted_at_unix,
                "expires_at_unix": l.expires_at_unix, "orphaned": l.orphaned,
                "engine_leases": l.engine_leases.iter().map(|e| json!({
                    "id": e.id, "expires_at_unix": e.expires_at_unix,
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        });
        warn_config(&s.config_error);
        println!("{value}");
        return Ok(0);
    }
    warn_config(&s.config_error);
    println!(
        "secd {} (protocol {}), pid {}, up {}",
        s.version,
        s.protocol,
        s.pid,
        human(s.uptime_secs)
    );
    println!("config: {}", s.config_path);
    println!("socket: {socket}");
    if let Some(local) = &s.local {
        let state = match (local.exists, local.unlocked) {
            (false, _) => "none yet".to_string(),
            (true, false) => "locked".to_string(),
            (true, true) => format!("unlocked for {}", human(local.expires_in_secs)),
        };
        println!("local vault: {} ({state})", local.path);
        println!(
            "default store: {} ({})",
            local.default_store, local.default_reason
        );
    }
    if s.cached.is_empty() {
        println!("cached: nothing");
    } else {
        println!("cached:");
        for c in &s.cached {
            println!(
                "  {}  {}  (expires in {})",
                c.dir,
                c.references.join(", "),
                human(c.expires_in_secs)
            );
        }
    }
    if s.leases.is_empty() {
        println!("leases: none");
    } else {
        println!("leases:");
        for l in &s.leases {
            let scope = if l.scope.is_empty() {
                "(no scope)"
            } else {
                &l.scope
            };
            let holder = if l.orphaned {
                "sec gone, its processes run".to_string()
            } else {
                format!("pid {}", l.pid)
            };
            println!(
                "  {}  {holder}  {}  {}  {}",
                l.id,
                scope,
                l.names.join(","),
                l.command.join(" ")
            );
            for engine in &l.engine_leases {
                let left = u64::try_from(engine.expires_at_unix - now_unix()).unwrap_or(0);
                println!(
                    "    engine lease {}  (ends in {} unless renewed)",
                    engine.id,
                    human(left)
                );
            }
        }
    }
    Ok(0)
}

pub async fn revoke(
    dir: Option<PathBuf>,
    reference: Option<String>,
    lease_id: Option<String>,
) -> Result<u8, Failure> {
    let dir = match dir {
        Some(dir) => absolute(Some(dir))?.display().to_string(),
        None => String::new(),
    };
    let request = pb::RevokeRequest {
        dir,
        lease_id: lease_id.unwrap_or_default(),
        reference: reference.unwrap_or_default(),
    };
    let Some(mut client) = daemon_conn::probe().await? else {
        // No daemon, nothing cached: revoking is already done.
        println!("secd is not running; nothing is cached");
        return Ok(0);
    };
    let reply = client
        .revoke(request)
        .await
        .map_err(Failure::from_status)?
        .into_inner();
    let refused = match reply.grants_refused {
        0 => String::new(),
        n => format!(
            ", {} in progress refused",
            count(n as usize, "grant", "grants")
        ),
    };
    let locked = if reply.local_vault_locked {
        "; the local vault is locked again (the next command that needs it asks for its passphrase)"
    } else {
        ""
    };
    println!(
        "revoked: {} dropped, {} ended{refused}{locked}",
        count(
            reply.secrets_dropped as usize,
            "cached secret",
            "cached secrets"
        ),
        count(reply.leases_ended as usize, "lease", "leases")
    );
    Ok(0)
}

/// Refuses a NAME or reference that looks like a pasted token, before it is shown, sent or
/// logged anywhere.
fn refuse_token(reference: &str) -> Result<(), Failure> {
    if sec_proto::token::looks_like_token(reference) {
        return Err(Failure::new(sec_proto::token::REFUSAL));
    }
    Ok(())
}

pub async fn set(
    reference: String,
    passphrase_fd: Option<i32>,
    force: bool,
) -> Result<u8, Failure> {
    refuse_token(&reference)?;
    let value = read_value(&reference)?;
    let mut client = connect(true).await?;
    let reference = if reference.contains(':') {
        reference
    } else {
        let status = passphrase::local_status(&mut client).await?;
        let full = default_reference(&status.default_store, &reference);
        eprintln!(
            "sec: {full} ({}: {})",
            status.default_store, status.default_reason
        );
        full
    };
    if reference.starts_with("local:") {
        let source = passphrase::Source::from_flag(passphrase_fd);
        passphrase::ensure_unlocked(&mut client, &source, true).await?;
    }
    let request = |keep_existing: bool| pb::StoreRequest {
        reference: reference.clone(),
        value: value.0.clone(),
        keep_existing,
    };
    // As `pass insert`: an existing value is replaced only when the user says so.
    let reply = match client.store(request(!force)).await {
        Err(status) if status.code() == tonic::Code::AlreadyExists => {
            let question = format!("{reference} already holds a value. Replace it? [y/N] ");
            if !std::io::stdin().is_terminal() || !crate::hook::ask(&question, false) {
                return Err(Failure::from_status(status));
            }
            client.store(request(false)).await
        }
        other => other,
    }
    .map_err(Failure::from_status)?
    .into_inner();
    if reply.replaced {
        eprintln!("stored {reference}, replacing its previous value");
    } else {
        eprintln!("stored {reference}");
    }
    Ok(0)
}

/// The reference for a bare name in the default store: `local:NAME`, or in the keychain
/// `keyring:SERVICE/ACCOUNT` (a name without a slash gets the service `sec`).
pub fn default_reference(store: &str, name: &str) -> String {
    match store {
        "local" => format!("local:{name}"),
        _ if name.contains('/') => format!("keyring:{name}"),
        _ => format!("keyring:sec/{name}"),
    }
}

pub async fn unlock_local(passphrase_fd: Option<i32>) -> Result<u8, Failure> {
    let mut client = connect(true).await?;
    let source = passphrase::Source::from_flag(passphrase_fd);
    passphrase::ensure_unlocked(&mut client, &source, false).await?;
    let status = passphrase::local_status(&mut client).await?;
    println!(
        "the local vault {} is unlocked for {}",
        status.path,
        human(status.expires_in_secs)
    );
    Ok(0)
}

pub async fn passwd(passphrase_fd: Option<i32>) -> Result<u8, Failure> {
    let mut client = connect(true).await?;
    passphrase::change(&mut client, &passphrase::Source::from_flag(passphrase_fd)).await?;
    Ok(0)
}

pub async fn rm(reference: String) -> Result<u8, Failure> {
    refuse_token(&reference)?;
    let mut client = connect(true).await?;
    client
        .delete(pb::DeleteRequest {
            reference: reference.clone(),
        })
        .await
        .map_err(Failure::from_status)?;
    eprintln!("deleted {reference}");
    Ok(0)
}

/// A value that zeroizes itself when dropped.
struct Plain(String);

impl Drop for Plain {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

/// The value from stdin when it is not a terminal (one trailing newline dropped), else a
/// no-echo prompt on the terminal.
fn read_value(reference: &str) -> Result<Plain, Failure> {
    let stdin = std::io::stdin();
    let mut value = Plain(String::new());
    if stdin.is_terminal() {
        value.0 = rpassword::prompt_password(format!("value for {reference}: "))
            .map_err(|e| Failure::new(format!("cannot read the value from the terminal: {e}")))?;
    } else {
        stdin
            .lock()
            .read_to_string(&mut value.0)
            .map_err(|e| Failure::new(format!("cannot read the value from stdin: {e}")))?;
        if value.0.ends_with('\n') {
            value.0.pop();
            if value.0.ends_with('\r') {
                value.0.pop();
            }
        }
    }
    if value.0.is_empty() {
        return Err(Failure::new(format!(
            "refusing to store an empty value for {reference}"
        )));
    }
    Ok(value)
}

pub async fn daemon(action: DaemonAction) -> Result<u8, Failure> {
    match action {
        DaemonAction::Start => {
            let mut client = connect(true).await?;
            let hello = client
                .hello(pb::HelloRequest {
                    client_protocol: sec_proto::PROTOCOL,
                })
                .await
                .map_err(Failure::from_status)?
                .into_inner();
            println!("secd {} runs (pid {})", hello.version, hello.pid);
            Ok(0)
        }
        DaemonAction::Stop => {
            let Some(mut client) = daemon_conn::probe().await? else {
                println!("secd is not running");
                return Ok(0);
            };
            client
                .shutdown(pb::ShutdownRequest {})
                .await
                .map_err(Failure::from_status)?;
            let path = sec_proto::socket::socket_path().map_err(|e| Failure::new(e.to_string()))?;
            if daemon_conn::wait_until_gone(&path, Duration::from_secs(5)).await {
                println!("secd stopped");
                Ok(0)
            } else {
                Err(Failure::new("secd did not stop within 5s"))
            }
        }
        DaemonAction::Status => match daemon_conn::probe().await? {
            Some(mut client) => {
                let hello = client
                    .hello(pb::HelloRequest {
                        client_protocol: sec_proto::PROTOCOL,
                    })
                    .await
                    .map_err(Failure::from_status)?
                    .into_inner();
                println!(
                    "secd {} runs (pid {}, protocol {})",
                    hello.version, hello.pid, hello.protocol
                );
                Ok(0)
            }
            None => {
                println!("secd is not running");
                Ok(3)
            }
        },
    }
}

pub fn human(secs: u64) -> String {
    humantime::format_duration(Duration::from_secs(secs)).to_string()
}

/// Seconds since the epoch now, as secd counts them in its replies.
fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
