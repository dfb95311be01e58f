//! The shell hook: `sec hook SHELL` prints the script for that shell (the templates of the
//! `sec-shell-hooks` crate in `shell-hooks/`, with this binary's path substituted and
//! quoted), and `sec hook-event` is what the script runs when `$PWD` changed: revoke a
//! scope left with `on_leave = "revoke"`, ask about a new or changed `.sec.toml`, offer to
//! unlock the new scope (or, in an `[[untrusted]]` directory, only remind the user of `sec
//! shield`), then print shell code that sets non-secret variables (`SEC_SCOPE`, the list of
//! directories declined in this shell) and the daemon's map for the hook (see
//! [`ShellState::map_code`]), with which the script settles most later changes of directory
//! itself, without starting sec. Never a secret value.

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
    print!("{}", render(shell, &public_exe(exe).display().to_string()));
    Ok(0)
}

/// The program the hook calls: `sec` beside this `sec-cli` (the installed pair; the front
/// hands the hook's commands to `sec-cli`), else this executable.
fn public_exe(exe: std::path::PathBuf) -> std::path::PathBuf {
    let front = exe.with_file_name(if cfg!(windows) { "sec.exe" } else { "sec" });
    if front != exe && front.is_file() {
        front
    } else {
        exe
    }
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
    /// The daemon's map for the script, when it is usable.
    map: Option<pb::HookMapReply>,
}

impl ShellState {
    fn code(&self, shell: Shell) -> String {
        let mut code = self.scope_code(shell);
        code.push_str(&self.map_code(shell));
        code
    }

    fn scope_code(&self, shell: Shell) -> String {
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

    /// The map the script decides with (see shell-hooks/): `__sec_cfg`, the config file (an
    /// empty one: no map, run sec at every change of directory); its stamp (bash, zsh: a file
    /// with the config's modification time, empty when there was no config file) or its time
    /// (fish: whole seconds); the directory of unlock markers; each scope as its flags (`r`:
    /// on_leave = "revoke", `p`: may prompt, `f`: an approved `.sec.toml` in its directory,
    /// whose marker must exist and carry the file's modification time; `-`: none), marker id and
    /// directory (bash, zsh: "FLAGS ID DIR" in one word; fish: three lists); the
    /// `[[untrusted]]` directories.
    fn map_code(&self, shell: Shell) -> String {
        let none = pb::HookMapReply::default();
        let map = self.map.as_ref().unwrap_or(&none);
        let q = |text: &str| quote(shell, text);
        let list = |words: Vec<String>| words.iter().map(|w| q(w)).collect::<Vec<_>>().join(" ");
        let flags = |s: &pb::HookScope| {
            let flags: String = [
                (s.on_leave_revoke, 'r'),
                (s.prompt, 'p'),
                (s.repo_file, 'f'),
            ]
            .into_iter()
            .filter_map(|(set, flag)| set.then_some(flag))
            .collect();
            if flags.is_empty() { "-".into() } else { flags }
        };
        let untrusted = list(map.untrusted.clone());
        match shell {
            Shell::Fish => {
                let mtime = if map.config_stamp.is_empty() {
                    String::new()
                } else {
                    map.config_mtime_secs.to_string()
                };
                format!(
                    "set -g __sec_map_flags {}\nset -g __sec_map_id {}\nset -g __sec_map_dir {}\n\
                     set -g __sec_untrusted {untrusted}\nset -g __sec_unlocked {}\n\
                     set -g __sec_cfg_mtime {}\nset -g __sec_cfg {}\n",
                    list(map.scopes.iter().map(flags).collect()),
                    list(map.scopes.iter().map(|s| s.id.clone()).collect()),
                    list(map.scopes.iter().map(|s| s.dir.clone()).collect()),
                    q(&map.unlocked_dir),
                    q(&mtime),
                    q(&map.config_path),
                )
            }
            Shell::Bash | Shell::Zsh => {
                let entries = map
                    .scopes
                    .iter()
                    .map(|s| format!("{} {} {}", flags(s), s.id, s.dir))
                    .collect();
                format!(
                    "__sec_map=({})\n__sec_untrusted=({untrusted})\n__sec_unlocked={}\n\
                     __sec_stamp={}\n__sec_cfg={}\n",
                    list(entries),
                    q(&map.unlocked_dir),
                    q(&map.config_stamp),
                    q(&map.config_path),
                )
            }
        }
    }
}

pub async fn event(shell: Shell, from: &str, to: &Path, declined: &str) -> Result<u8, Failure> {
    let mut state = ShellState {
        map: None,
        scope: None,
        declined: declined
            .split(':')
            .filter(|d| !d.is_empty())
            .map(String::from)
            .collect(),
    };
    // Prompts only where a person can answer them.
    let interactive = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    if let Err(failure) = react(from, to, interactive, &mut state).await
        && !said_recently(&failure.message)
    {
        eprintln!("sec: {}", failure.message);
    }
    print!("{}", state.code(shell));
    Ok(0)
}

/// How long the hook keeps quiet about a failure it already reported (a missing or broken
/// secd would otherwise be announced at every `cd`).
const SAY_AGAIN_AFTER: Duration = Duration::from_secs(10 * 60);

/// Whether the hook said exactly this in the last [`SAY_AGAIN_AFTER`]; remembers it now
/// otherwise. Kept in the runtime directory (0700, the user's), so every shell of the user
/// shares it; any other sec command still reports the failure every time.
fn said_recently(message: &str) -> bool {
    let Ok(dir) = sec_proto::socket::runtime_dir() else {
        return false;
    };
    let file = dir.join("hook-last-failure");
    let fresh = std::fs::metadata(&file)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age < SAY_AGAIN_AFTER);
    if fresh && std::fs::read_to_string(&file).ok().as_deref() == Some(message) {
        return true;
    }
    if std::fs::create_dir_all(&dir).is_ok() {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        if let Ok(mut out) = sec_proto::nofollow::open(&mut options, &file) {
            let _ = out.write_all(message.as_bytes());
        }
    }
    false
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
    react_with(&mut client, from, to, interactive, state).await?;
    // Taken last, as an unlock or an approval left things. Without it (an older daemon, no
    // answer in time, a config.toml edited a moment ago) the script runs sec again at the
    // next change of directory.
    let request = pb::HookMapRequest {};
    state.map = patiently(async { client.hook_map(request).await.map_err(Failure::from_status) })
        .await
        .ok()
        .map(tonic::Response::into_inner)
        .filter(|map| map.usable);
    Ok(())
}

async fn react_with(
    client: &mut Client,
    from: &str,
    to: &Path,
    interactive: bool,
    state: &mut ShellState,
) -> Result<(), Failure> {
    if !from.is_empty() {
        leave(client, Path::new(from), to).await?;
    }
    let mut info = patiently(resolve(client, to)).await?;
    if !info.untrusted.is_empty() {
        // Said once on the way in, not at every `cd` inside; nothing is offered there.
        if !Path::new(from).starts_with(&info.untrusted) {
            eprintln!("{}", untrusted_reminder(&info.untrusted));
        }
        // `sec exec` refuses here, so no scope is advertised either.
        return Ok(());
    }
    if interactive {
        if let Some(reply) = ask_trust(client, &info, to, state).await? {
            info = reply;
        }
        offer_unlock(client, &info, state).await?;
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
            map: None,
        };
        assert_eq!(
            state.scope_code(Shell::Bash),
            "__sec_declined='/a:/b'\nexport SEC_SCOPE='/p q'\n"
        );
        assert_eq!(
            state.scope_code(Shell::Fish),
            "set -g __sec_declined '/a:/b'\nset -gx SEC_SCOPE '/p q'\n"
        );
        let none = ShellState {
            scope: None,
            declined: vec![],
            map: None,
        };
        assert_eq!(
            none.scope_code(Shell::Zsh),
            "__sec_declined=''\nunset SEC_SCOPE\n"
        );
        // Without a map the script has none either: it asks sec at every change.
        assert!(
            none.code(Shell::Zsh)
                .ends_with("__sec_stamp=''\n__sec_cfg=''\n")
        );
        assert!(
            none.code(Shell::Fish)
                .ends_with("set -g __sec_cfg_mtime ''\nset -g __sec_cfg ''\n")
        );
    }

    #[test]
    fn emits_the_map_in_the_shells_syntax() {
        let scope = |dir: &str, id: &str, on_leave_revoke, prompt| pb::HookScope {
            dir: dir.into(),
            id: id.into(),
            on_leave_revoke,
            prompt,
            repo_file: false,
        };
        let state = ShellState {
            scope: None,
            declined: vec![],
            map: Some(pb::HookMapReply {
                usable: true,
                config_path: "/c/config.toml".into(),
                config_stamp: "/r/hook/config-5.000000007".into(),
                config_mtime_secs: 5,
                unlocked_dir: "/r/hook/unlocked".into(),
                scopes: vec![
                    scope("/p q", "00aa", true, true),
                    scope("/it's", "11bb", false, false),
                    scope("/r", "22cc", true, false),
                    pb::HookScope {
                        repo_file: true,
                        ..scope("/f", "33dd", false, true)
                    },
                ],
                untrusted: vec!["/u".into()],
            }),
        };
        assert_eq!(
            state.map_code(Shell::Bash),
            "__sec_map=('rp 00aa /p q' '- 11bb /it'\\''s' 'r 22cc /r' 'pf 33dd /f')\n__sec_untrusted=('/u')\n\
             __sec_unlocked='/r/hook/unlocked'\n__sec_stamp='/r/hook/config-5.000000007'\n\
             __sec_cfg='/c/config.toml'\n"
        );
        assert_eq!(
            state.map_code(Shell::Fish),
            "set -g __sec_map_flags 'rp' '-' 'r' 'pf'\n\
             set -g __sec_map_id '00aa' '11bb' '22cc' '33dd'\n\
             set -g __sec_map_dir '/p q' '/it\\'s' '/r' '/f'\nset -g __sec_untrusted '/u'\n\
             set -g __sec_unlocked '/r/hook/unlocked'\nset -g __sec_cfg_mtime '5'\n\
             set -g __sec_cfg '/c/config.toml'\n"
        );
    }
}
