//! `sec doctor`: one line per part sec depends on, each problem with its fix. It reads what
//! it can itself (config.toml, the runtime directory, the local vault file, the shell rc
//! files), asks a running secd (never starts one), and tries the shield for real. Exit
//! status 1 when anything is broken, 0 otherwise (notes are not problems).

use std::path::PathBuf;
use std::process::Stdio;

use sec_proto::config::Config;
use sec_proto::{paths, socket};

use crate::daemon_conn;
use crate::report::Failure;

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Ok,
    Note,
    Broken,
}

struct Check {
    state: State,
    what: &'static str,
    text: String,
}

impl Check {
    fn new(state: State, what: &'static str, text: impl Into<String>) -> Self {
        Self {
            state,
            what,
            text: text.into(),
        }
    }
}

pub async fn run() -> Result<u8, Failure> {
    let mut checks = vec![secd_installed(), runtime_dir()];
    checks.extend(daemon().await);
    let (config_checks, config) = config();
    checks.extend(config_checks);
    checks.push(askpass(config.as_ref()));
    checks.push(local_vault());
    checks.push(hook());
    checks.push(shield());
    for check in &checks {
        let label = match check.state {
            State::Ok => "ok",
            State::Note => "note",
            State::Broken => "BROKEN",
        };
        println!("{label:<7}{}: {}", check.what, check.text);
    }
    let broken = checks.iter().filter(|c| c.state == State::Broken).count();
    if broken > 0 {
        println!(
            "{}; each line says what to do",
            sec_proto::display::count(broken, "problem", "problems")
        );
        return Ok(1);
    }
    Ok(0)
}

fn secd_installed() -> Check {
    // Where sec starts it from: beside sec when it is there, else the name on PATH.
    let program = daemon_conn::secd_program();
    if program.is_absolute() {
        return Check::new(State::Ok, "secd", program.display().to_string());
    }
    if sec_proto::config::program_exists(&program.to_string_lossy()) {
        return Check::new(
            State::Ok,
            "secd",
            format!("{} (on PATH)", program.display()),
        );
    }
    Check::new(
        State::Broken,
        "secd",
        "not installed: neither beside sec nor on PATH; install it with `cargo install --locked --path daemon` from sec's source, next to sec",
    )
}

fn runtime_dir() -> Check {
    let dir = match socket::runtime_dir() {
        Ok(dir) => dir,
        Err(e) => return Check::new(State::Broken, "socket directory", e.to_string()),
    };
    if !dir.exists() {
        return Check::new(
            State::Ok,
            "socket directory",
            format!("{} (made when secd first starts)", dir.display()),
        );
    }
    match socket::ensure_private_dir(&dir) {
        Ok(()) => Check::new(
            State::Ok,
            "socket directory",
            format!("{} (0700, yours)", dir.display()),
        ),
        Err(e) => Check::new(
            State::Broken,
            "socket directory",
            format!(
                "{e}; secd and sec refuse it: remove it (`rm -r {}`) or make it yours and 0700",
                dir.display()
            ),
        ),
    }
}

async fn daemon() -> Vec<Check> {
    match daemon_conn::probe().await {
        Ok(Some(mut client)) => {
            let mut checks = Vec::new();
            match client.status(sec_proto::pb::StatusRequest {}).await {
                Ok(status) => {
                    let status = status.into_inner();
                    checks.push(Check::new(
                        State::Ok,
                        "daemon",
                        format!("secd {} running (pid {})", status.version, status.pid),
                    ));
                    if let Some(local) = status.local {
                        let state = if local.default_store == "keyring" {
                            State::Ok
                        } else {
                            State::Note
                        };
                        checks.push(Check::new(
                            state,
                            "keychain",
                            format!(
                                "`sec set NAME` stores in {} ({})",
                                local.default_store, local.default_reason
                            ),
                        ));
                    }
                }
                Err(status) => checks.push(Check::new(
                    State::Broken,
                    "daemon",
                    status.message().to_string(),
                )),
            }
            checks
        }
        Ok(None) => vec![Check::new(
            State::Note,
            "daemon",
            "not running; the next sec command starts it (the keychain is checked then: run `sec doctor` again)",
        )],
        Err(e) => vec![Check::new(State::Broken, "daemon", e.to_string())],
    }
}

fn config() -> (Vec<Check>, Option<Config>) {
    let Some(path) = paths::config_file() else {
        return (
            vec![Check::new(
                State::Broken,
                "config",
                "cannot tell where config.toml is; set HOME",
            )],
            None,
        );
    };
    let home = paths::home_dir().unwrap_or_default();
    if !path.exists() {
        return (
            vec![Check::new(
                State::Note,
                "config",
                format!(
                    "{} does not exist yet: no scope gives secrets anywhere (README, \"Quick start\")",
                    path.display()
                ),
            )],
            None,
        );
    }
    match Config::load(&path, &home) {
        Ok(config) => {
            let mut checks = vec![Check::new(
                State::Ok,
                "config",
                format!(
                    "{} ({})",
                    path.display(),
                    sec_proto::display::count(config.scopes.len(), "scope", "scopes")
                ),
            )];
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            for warning in Config::warnings(&text, &path, &home) {
                checks.push(Check::new(State::Note, "config", warning));
            }
            (checks, Some(config))
        }
        Err(e) => (
            vec![Check::new(
                State::Broken,
                "config",
                format!(
                    "{e}; secd keeps serving the last good config until this is fixed (`secd --check-config {}` checks an edit)",
                    path.display()
                ),
            )],
            None,
        ),
    }
}

fn askpass(config: Option<&Config>) -> Check {
    let configured = config.and_then(|c| c.defaults.askpass.clone());
    let (program, source) = match (&configured, std::env::var("SEC_ASKPASS").ok()) {
        (Some(p), _) => (p.clone(), "[defaults] askpass"),
        (None, Some(p)) if !p.trim().is_empty() => (p, "SEC_ASKPASS"),
        _ => {
            return Check::new(
                State::Note,
                "askpass",
                "none set: confirmations and passphrases can be asked only at a terminal; set `askpass = \"/usr/bin/ssh-askpass\"` (or another) under [defaults]",
            );
        }
    };
    if sec_proto::config::program_exists(&program) {
        Check::new(State::Ok, "askpass", format!("{program} (from {source})"))
    } else {
        Check::new(
            State::Broken,
            "askpass",
            format!(
                "{program} (from {source}) is not found: every confirmation is refused; install it or name another program"
            ),
        )
    }
}

fn local_vault() -> Check {
    let Some(path) = paths::local_vault() else {
        return Check::new(
            State::Note,
            "local vault",
            "cannot tell where it is; set HOME",
        );
    };
    let Ok(meta) = std::fs::symlink_metadata(&path) else {
        return Check::new(
            State::Ok,
            "local vault",
            format!(
                "{} does not exist yet (the first `sec set local:NAME` makes it)",
                path.display()
            ),
        );
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if meta.file_type().is_symlink() {
            return Check::new(
                State::Broken,
                "local vault",
                format!(
                    "{} is a link; secd refuses it: put the vault file itself there",
                    path.display()
                ),
            );
        }
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Check::new(
                State::Broken,
                "local vault",
                format!(
                    "{} is readable by others (mode {mode:o}): anyone who copies it can try passphrases offline; `chmod 600 {}`",
                    path.display(),
                    path.display()
                ),
            );
        }
    }
    Check::new(State::Ok, "local vault", format!("{}", path.display()))
}

/// The rc files a hook line usually lives in, and where it was found.
fn hook() -> Check {
    let Some(home) = paths::home_dir() else {
        return Check::new(State::Note, "shell hook", "cannot tell the home directory");
    };
    let config_home = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| home.join(".config"));
    let mut candidates: Vec<PathBuf> = [".bashrc", ".bash_profile", ".zshrc", ".zshenv"]
        .iter()
        .map(|f| home.join(f))
        .collect();
    candidates.push(config_home.join("fish/config.fish"));
    if let Ok(entries) = std::fs::read_dir(config_home.join("fish/conf.d")) {
        candidates.extend(entries.flatten().map(|e| e.path()));
    }
    let found: Vec<String> = candidates
        .iter()
        .filter(|f| std::fs::read_to_string(f).is_ok_and(|t| t.lines().any(is_hook_line)))
        .map(|f| f.display().to_string())
        .collect();
    if found.is_empty() {
        Check::new(
            State::Note,
            "shell hook",
            "not installed: add `eval \"$(sec hook bash)\"` to ~/.bashrc (zsh alike; fish: `sec hook fish | source` in config.fish) to be asked on `cd`",
        )
    } else {
        Check::new(
            State::Ok,
            "shell hook",
            format!("installed in {}", found.join(", ")),
        )
    }
}

/// Runs `sec shield -- true` for real: whatever stops it stops every shielded command.
fn shield() -> Check {
    let Ok(exe) = std::env::current_exe() else {
        return Check::new(State::Note, "shield", "cannot find this sec to try it");
    };
    // In a directory of its own: the shield refuses to run in the home itself.
    let Ok(dir) = tempfile_dir() else {
        return Check::new(
            State::Note,
            "shield",
            "cannot make a directory to try it in",
        );
    };
    let out = std::process::Command::new(exe)
        .args(["shield", "--", "true"])
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output();
    let _ = std::fs::remove_dir_all(&dir);
    match out {
        Ok(out) if out.status.success() => {
            Check::new(State::Ok, "shield", "`sec shield -- true` runs")
        }
        Ok(out) => {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let reason = stderr
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| l.trim_start_matches("sec: "))
                .collect::<Vec<_>>()
                .join(" ");
            Check::new(State::Broken, "shield", reason)
        }
        Err(e) => Check::new(
            State::Broken,
            "shield",
            format!("cannot run sec shield: {e}"),
        ),
    }
}

/// A fresh private directory under the temporary directory.
fn tempfile_dir() -> std::io::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("sec-doctor-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::DirBuilder::new().create(&dir)?;
    Ok(dir)
}

/// `eval "$(sec hook bash)"`, `sec hook fish | source`, with sec named by any path or quoted.
fn is_hook_line(line: &str) -> bool {
    let line = line.trim_start();
    !line.starts_with('#')
        && line.contains("sec")
        && [" hook bash", " hook zsh", " hook fish"]
            .iter()
            .any(|shell| line.contains(shell))
}
