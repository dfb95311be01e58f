//! Real shells for the hook tests: the scripts `sec hook SHELL` prints, a stand-in `sec` for
//! tests of the scripts alone, shells fed from a pipe, and a private tmux server for a real
//! terminal.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::output::{Output, wait_output};
use crate::world::describe;
use crate::{DEADLINE, World, sec_bin, shell_quoted, unique, write_file_with_mode};

/// The script `sec hook SHELL` prints, with the real binary's path replaced by `sec_path`
/// (written as the real output writes it, since both are plain paths).
pub fn hook_script(shell: &str, sec_path: &str) -> String {
    let real = sec_bin()
        .canonicalize()
        .expect("cannot canonicalize the sec binary's path");
    let real = real.to_str().expect("the sec binary's path is not UTF-8");
    let mut cmd = Command::new(sec_bin());
    cmd.args(["hook", shell])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let what = describe(&cmd);
    let out = wait_output(
        cmd.spawn()
            .unwrap_or_else(|e| panic!("cannot run `{what}`: {e}")),
        &what,
    );
    out.assert_success();
    assert!(
        out.stdout.contains(real),
        "`sec hook {shell}` does not name the binary as {real}:\n{out}"
    );
    let script = out.stdout.replace(real, sec_path);
    assert!(
        !script.contains("@SEC@"),
        "`sec hook {shell}` left the @SEC@ placeholder in:\n{script}"
    );
    script
}

/// A stand-in for `sec` that answers `sec hook-event SHELL --from A --to B --declined D`
/// the way the real one may, without a daemon: it logs its arguments and prints code (in the
/// shell's syntax) that exports `SEC_SCOPE=B` and appends B to `__sec_declined`. For a
/// directory named `broken` it prints code that sets `SEC_SCOPE=BROKEN` and fails, which the
/// hook must not apply.
///
/// The stand-in uses only `sh` builtins, so it starts no process of its own.
pub struct SecStandin {
    path: PathBuf,
    log: PathBuf,
}

const STANDIN: &str = r#"#!/bin/sh
# Stand-in for `sec hook-event` (see tests/support/shell.rs).
log=__LOG__
{
    for arg in "$@"; do printf '%s\037' "$arg"; done
    printf '\n'
} >> "$log"
shell=$2
to=
declined=
while [ $# -gt 0 ]; do
    case $1 in
        --to) to=$2; shift ;;
        --declined) declined=$2; shift ;;
    esac
    shift
done
declined=${declined:+$declined:}$to
case $to in
    */broken) scope=BROKEN; status=3 ;;
    *) scope=$to; status=0 ;;
esac
case $shell in
    fish) printf "set -gx SEC_SCOPE '%s'\nset -g __sec_declined '%s'\n" "$scope" "$declined" ;;
    *) printf "SEC_SCOPE='%s'; export SEC_SCOPE\n__sec_declined='%s'\n" "$scope" "$declined" ;;
esac
exit $status
"#;

impl SecStandin {
    /// Writes the stand-in as `DIR/sec`, logging to `DIR/sec-calls`.
    pub fn install(dir: &Path) -> Self {
        std::fs::create_dir_all(dir).expect("cannot create the stand-in's directory");
        let path = dir.join("sec");
        let log = dir.join("sec-calls");
        write_file_with_mode(
            &path,
            &STANDIN.replace("__LOG__", &shell_quoted(&log)),
            0o755,
        );
        SecStandin { path, log }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn path_str(&self) -> &str {
        self.path
            .to_str()
            .expect("the stand-in's path is not UTF-8")
    }

    /// The arguments of each call so far, in order.
    pub fn calls(&self) -> Vec<Vec<String>> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|line| {
                line.split('\x1f')
                    .filter(|arg| !arg.is_empty())
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// What the hook should have passed for a change of directory.
    pub fn expected_call(shell: &str, from: &str, to: &Path, declined: &str) -> Vec<String> {
        let mut call = vec!["hook-event".to_string(), shell.to_string()];
        // The stand-in's log drops empty arguments.
        for (flag, value) in [
            ("--from", from),
            ("--to", to.to_str().expect("path is not UTF-8")),
            ("--declined", declined),
        ] {
            call.push(flag.to_string());
            if !value.is_empty() {
                call.push(value.to_string());
            }
        }
        call
    }
}

/// Runs `program ARGS` in the world's environment (plus `extra_env`) in `dir`, with
/// `input` on its stdin.
pub fn run_with_input(
    world: &World,
    dir: &Path,
    program: &str,
    args: &[&str],
    extra_env: &[(&str, &str)],
    input: &str,
) -> Output {
    use std::io::Write;
    let mut cmd = world.command(program);
    cmd.args(args)
        .envs(extra_env.iter().copied())
        .current_dir(dir)
        .stdin(Stdio::piped());
    let what = describe(&cmd);
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run `{what}`: {e}"));
    let mut stdin = child.stdin.take().expect("piped stdin");
    stdin
        .write_all(input.as_bytes())
        .unwrap_or_else(|e| panic!("cannot write to `{what}`: {e}"));
    drop(stdin);
    wait_output(child, &what)
}

/// A private tmux server (its own socket directory and name) running one window, killed on
/// drop.
pub struct Tmux {
    name: String,
    env: Vec<(std::ffi::OsString, std::ffi::OsString)>,
}

impl Tmux {
    /// Starts `command` (run by `sh -c`) in a new detached 200x50 window, in `dir`, with the
    /// world's environment.
    pub fn start(world: &World, dir: &Path, command: &str) -> Self {
        let socket_dir = world.root().join("tmux");
        std::fs::create_dir_all(&socket_dir).expect("cannot create tmux's socket directory");
        crate::chmod(&socket_dir, 0o700);
        let mut env = world.env();
        env.push(("TMUX_TMPDIR".into(), socket_dir.clone().into()));
        env.push(("TERM".into(), "xterm-256color".into()));
        let tmux = Tmux {
            name: unique("sec-hooks"),
            env,
        };
        let dir = dir.to_str().expect("path is not UTF-8");
        tmux.run(&[
            "new-session",
            "-d",
            "-x",
            "200",
            "-y",
            "50",
            "-c",
            dir,
            command,
        ])
        .assert_success();
        tmux
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("tmux");
        cmd.env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .args(["-L", &self.name, "-f", "/dev/null"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        let cmd = self.command(args);
        let what = describe(&cmd);
        let mut cmd = cmd;
        wait_output(
            cmd.spawn()
                .unwrap_or_else(|e| panic!("cannot run `{what}`: {e}")),
            &what,
        )
    }

    /// Types `text` literally, then presses Enter.
    pub fn send_line(&self, text: &str) {
        if !text.is_empty() {
            self.run(&["send-keys", "-t", "0", "-l", text])
                .assert_success();
        }
        self.run(&["send-keys", "-t", "0", "Enter"])
            .assert_success();
    }

    /// The pane's text, history included, wrapped lines joined.
    pub fn screen(&self) -> String {
        let out = self.run(&["capture-pane", "-p", "-J", "-t", "0", "-S", "-500"]);
        out.assert_success();
        out.stdout
    }

    /// The pane's text with its colours and attributes as escape sequences (`capture-pane -e`).
    pub fn screen_with_escapes(&self) -> String {
        let out = self.run(&["capture-pane", "-p", "-e", "-J", "-t", "0", "-S", "-500"]);
        out.assert_success();
        out.stdout
    }

    /// Waits until the pane shows `text` more than `already` times (so a text seen before
    /// can be waited for again); returns the screen.
    pub fn wait_for_nth(&self, text: &str, already: usize) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if screen.matches(text).count() > already {
                return screen;
            }
            // The screen is printed when the window is dropped.
            assert!(
                start.elapsed() < DEADLINE,
                "gave up after {DEADLINE:?} waiting for {text:?} on the screen"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until the pane shows `text`; returns the screen.
    pub fn wait_for(&self, text: &str) -> String {
        self.wait_for_nth(text, 0)
    }

    /// Waits until a line of the pane starts with `prefix` (output, not the command line
    /// that printed it, which starts with the prompt); returns that line.
    pub fn wait_for_line(&self, prefix: &str) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if let Some(line) = screen.lines().find(|l| l.starts_with(prefix)) {
                return line.trim_end().to_string();
            }
            assert!(
                start.elapsed() < DEADLINE,
                "gave up after {DEADLINE:?} waiting for a line starting {prefix:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        if std::thread::panicking()
            && let Ok(out) = self
                .command(&["capture-pane", "-p", "-J", "-t", "0", "-S", "-500"])
                .output()
        {
            eprintln!(
                "--- tmux screen ---\n{}",
                String::from_utf8_lossy(&out.stdout)
            );
        }
        let _ = self
            .command(&["kill-server"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}
