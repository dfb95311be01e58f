//! The shell hook: `sec hook SHELL` prints the script for that shell (the templates of the
//! `sec-shell-hooks` crate in `shell-hooks/`, with this binary's path substituted and
//! quoted), and `sec hook-event` is what the script runs when `$PWD` changed: revoke a
//! scope left with `on_leave = "revoke"`, ask about a new or changed `.sec.toml`, offer to
//! unlock the new scope (or, in an `[[untrusted]]` directory, only remind the user of `sec
//! shield`), then print shell code that sets non-secret variables (`SEC_SCOPE`, the list of
//! directories declined in this shell). Never a secret value.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::time::Duration;

use sec_proto::pb;

use crate::cli::Shell;
use crate::commands::{human, resolve};
use crate::daemon_conn::{self, Client};
use crate::report::Failure;

/// How long the hook waits for the daemon before giving up quietly (not counting the time
/// the user takes to answer a prompt, or the keychain's own questions during an unlock).
const DAEMON_PATIENCE: Duration = Duration::from_secs(2);

pub fn print_script(shell: Shell) -> Result<u8, Failure> {
    let exe = std::env::current_exe()
        .map_err(|e| Failure::new(format!("cannot find the sec executable: {e}")))?;
    print!("{}", render(shell, &exe.display().to_string()));
    Ok(0)
}

/// The hook script for `shell`, calling the sec at `exe`.
pub fn render(shell: Shell, exe: &str) -> String {
    let template = match shell {
        Shell::Bash => sec_shell_hooks::BASH,
        Shell::Zsh => sec_shell_hooks::ZSH,
        Shell::Fish => sec_shell_hooks::FISH,
    };
    template.replace(sec_shell_hooks::PLACEHOLDER, &quote(shell, exe))
}

/// A single-quoted word for `shell`.
fn quote(shell: Shell, text: &str) -> String {
    match shell {
        Shell::Bash | Shell::Zsh => sec_proto::shell::quote(text),
        Shell::Fish => sec_proto::shell::quote_fish(text),
    }
}

/// What the hook leaves in the shell.
struct ShellState {
    scope: Option<String>,
    declined: Vec<String>,
}

impl ShellState {
    fn code(&self, shell: Shell) -> String {
        let declined = quote(shell, &self.declined.join(":"));
        match (shell, &self.scope) {
            (Shell::Fish, Some(dir)) => {
                format!(
                    "set -g __sec_declined {declined}\nset -gx SEC_SCOPE {}\n",
                    quote(shell, dir)
                )
            }
            (Shell::Fish, None) => format!("set -g __sec_declined {declined}\nset -e SEC_SCOPE\n"),
            (_, Some(dir)) => {
                format!(
                    "__sec_declined={declined}\nexport SEC_SCOPE={}\n",
                    quote(shell, dir)
                )
            }
            (_, None) => format!("__sec_declined={declined}\nunset SEC_SCOPE\n"),
        }
    }
}

pub async fn event(shell: Shell, from: &str, to: &Path, declined: &str) -> Result<u8, Failure> {
    let mut state = ShellState {
        scope: None,
        declined: declined
            .split(':')
            .filter(|d| !d.is_empty())
            .map(String::from)
            .collect(),
    };
    // Prompts only where a person can answer them.
    let interactive = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    if let Err(failure) = react(from, to, interactive, &mut state).await {
        eprintln!("sec: {}", failure.message);
    }
    print!("{}", state.code(shell));
    Ok(0)
}

async fn patiently<T>(
    what: impl std::future::Future<Output = Result<T, Failure>>,
) -> Result<T, Failure> {
    tokio::time::timeout(DAEMON_PATIENCE, what)
        .await
        .unwrap_or_else(|_| {
            Err(Failure::new(
                "secd did not answer in time; the shell hook skipped this directory",
            ))
        })
}

async fn react(
    from: &str,
    to: &Path,
    interactive: bool,
    state: &mut ShellState,
) -> Result<(), Failure> {
    // The bound covers starting the daemon too: taking the startup lock and waiting for it
    // to be ready (a daemon still starting is left to finish; the next prompt finds it).
    let mut client =
        patiently(async { Ok(daemon_conn::connect_within(true, DAEMON_PATIENCE).await?) }).await?;
    if !from.is_empty() {
        leave(&mut client, Path::new(from), to).await?;
    }
    let mut info = patiently(resolve(&mut client, to)).await?;
    if !info.untrusted.is_empty() {
        // Said once on the way in, not at every `cd` inside; nothing is offered there.
        if !Path::new(from).starts_with(&info.untrusted) {
            eprintln!("{}", untrusted_reminder(&info.untrusted));
        }
        // `sec exec` refuses here, so no scope is advertised either.
        return Ok(());
    }
    if interactive {
        if let Some(reply) = ask_trust(&mut client, &info, to, state).await? {
            info = reply;
        }
        offer_unlock(&mut client, &info, state).await?;
    }
    state.scope = info.found.then(|| info.dir.clone());
    Ok(())
}

/// What the hook says on `cd` into an `[[untrusted]]` directory.
fn untrusted_reminder(dir: &str) -> String {
    format!(
        "sec: {dir} is untrusted: run its code with `sec shield -- CMD`, which keeps your credentials out of its reach"
    )
}

/// Revokes the scope the user just left, if it says `on_leave = "revoke"`.
async fn leave(client: &mut Client, from: &Path, to: &Path) -> Result<(), Failure> {
    let old = patiently(resolve(client, from)).await?;
    if !old.found || !old.on_leave_revoke || to.starts_with(&old.dir) {
        return Ok(());
    }
    let request = pb::RevokeRequest {
        dir: old.dir.clone(),
        ..Default::default()
    };
    patiently(async { client.revoke(request).await.map_err(Failure::from_status) }).await?;
    eprintln!("sec: left {}, its secrets are revoked", old.dir);
    Ok(())
}

/// Asks about a new or changed repository file; returns the scope after an approval.
async fn ask_trust(
    client: &mut Client,
    info: &pb::ScopeInfo,
    to: &Path,
    state: &mut ShellState,
) -> Result<Option<pb::ScopeInfo>, Failure> {
    let Some(repo) = &info.repo else {
        return Ok(None);
    };
    if !matches!(repo.trust.as_str(), "new" | "changed") || state.declined.contains(&repo.dir) {
        return Ok(None);
    }
    crate::commands::show_requests(repo);
    if !repo.error.is_empty() {
        eprintln!(
            "sec: it cannot be approved: {}",
            sec_proto::display::visible(&repo.error)
        );
        state.declined.push(repo.dir.clone());
        return Ok(None);
    }
    if !ask("Allow? [y/N] ", false) {
        state.declined.push(repo.dir.clone());
        eprintln!(
            "sec: not allowed; `sec allow` approves it later, `sec deny` stops these questions"
        );
        return Ok(None);
    }
    let request = pb::AllowRequest {
        dir: to.display().to_string(),
        sha256: repo.sha256.clone(),
        confirmed: true,
    };
    let reply =
        patiently(async { client.allow(request).await.map_err(Failure::from_status) }).await?;
    Ok(Some(reply.into_inner()))
}

/// Offers to look the scope's secrets up now, when it wants that and they are not cached.
async fn offer_unlock(
    client: &mut Client,
    info: &pb::ScopeInfo,
    state: &mut ShellState,
) -> Result<(), Failure> {
    let secrets = info.vars.iter().filter(|v| !v.literal).count();
    if !info.found
        || !info.prompt
        || info.unlocked
        || secrets == 0
        || state.declined.contains(&info.dir)
    {
        return Ok(());
    }
    let question = format!(
        "Unlock {secrets} secret{} for {} for {}? [Y/n] ",
        if secrets == 1 { "" } else { "s" },
        info.dir,
        human(info.ttl_secs)
    );
    if !ask(&question, true) {
        state.declined.push(info.dir.clone());
        return Ok(());
    }
    // No patience limit: the keychain, or sec for the local vault's passphrase, may ask
    // the user here.
    crate::commands::unlock_scope(client, info.dir.clone()).await?;
    Ok(())
}

/// Asks a yes/no question on the terminal; an empty answer takes the default.
pub(crate) fn ask(question: &str, default: bool) -> bool {
    eprint!("{question}");
    let _ = std::io::stderr().flush();
    let _line_mode = LineMode::enter();
    let mut answer = String::new();
    if std::io::stdin().lock().read_line(&mut answer).unwrap_or(0) == 0 {
        eprintln!();
        return false;
    }
    match answer.trim().to_lowercase().as_str() {
        "" => default,
        "y" | "yes" => true,
        _ => false,
    }
}

/// The terminal in line mode (canonical input, echo, CR read as newline, signal keys) for
/// the length of a question. fish runs its prompt event with the terminal in its own raw
/// editing mode, where a typed answer would neither show nor end with a newline.
struct LineMode {
    #[cfg(unix)]
    saved: Option<nix::sys::termios::Termios>,
}

impl LineMode {
    #[cfg(unix)]
    fn enter() -> Self {
        use nix::sys::termios::{InputFlags, LocalFlags, SetArg, tcgetattr, tcsetattr};
        let stdin = std::io::stdin();
        let Ok(saved) = tcgetattr(&stdin) else {
            return Self { saved: None };
        };
        let mut line = saved.clone();
        line.local_flags |= LocalFlags::ICANON | LocalFlags::ECHO | LocalFlags::ISIG;
        line.input_flags |= InputFlags::ICRNL;
        let _ = tcsetattr(&stdin, SetArg::TCSANOW, &line);
        Self { saved: Some(saved) }
    }

    #[cfg(not(unix))]
    fn enter() -> Self {
        Self {}
    }
}

#[cfg(unix)]
impl Drop for LineMode {
    fn drop(&mut self) {
        if let Some(saved) = &self.saved {
            let _ = nix::sys::termios::tcsetattr(
                std::io::stdin(),
                nix::sys::termios::SetArg::TCSANOW,
                saved,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_paths_for_each_shell() {
        assert_eq!(quote(Shell::Bash, "/opt/it's/sec"), r"'/opt/it'\''s/sec'");
        assert_eq!(quote(Shell::Fish, r"/opt/it's\sec"), r"'/opt/it\'s\\sec'");
    }

    #[test]
    fn emits_state_in_the_shells_syntax() {
        let state = ShellState {
            scope: Some("/p q".into()),
            declined: vec!["/a".into(), "/b".into()],
        };
        assert_eq!(
            state.code(Shell::Bash),
            "__sec_declined='/a:/b'\nexport SEC_SCOPE='/p q'\n"
        );
        assert_eq!(
            state.code(Shell::Fish),
            "set -g __sec_declined '/a:/b'\nset -gx SEC_SCOPE '/p q'\n"
        );
        let none = ShellState {
            scope: None,
            declined: vec![],
        };
        assert_eq!(
            none.code(Shell::Zsh),
            "__sec_declined=''\nunset SEC_SCOPE\n"
        );
    }
}
