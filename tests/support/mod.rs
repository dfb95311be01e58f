//! Fixtures for sec's end-to-end tests: the real `sec` and `secd` binaries, each test in its
//! own world (a private HOME, XDG directories, D-Bus session bus and gnome-keyring), real
//! children, and stand-ins only where the real thing cannot run here (1Password's `op`).
//!
//! Nothing in a world is shared with the developer's session or with another test, so the
//! tests run in parallel.

mod askpass;
mod git_http;
mod https_echo;
mod op;
mod openbao;
mod output;
mod postgres;
mod procs;
mod python;
mod secret_service;
pub mod shell;
pub mod shield;
mod sshd;
mod tls;
mod world;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub use askpass::Askpass;
pub use git_http::GitHttp;
pub use https_echo::{HttpsEcho, SeenRequest};
pub use op::OpStandin;
pub use openbao::{DEV_ROOT_TOKEN, OpenBao, RaftCluster};
pub use output::{Output, wait_output};
pub use postgres::Postgres;
pub use procs::{
    environ_of, exe_of, find_in_cmdlines, find_in_environs, is_within, parent_pid,
    processes_with_env,
};
pub use python::{DEMO_DIST, PackageIndex, Venv, build_demo_wheel};
pub use sshd::{Sshd, fingerprint};
pub use tls::{TestCa, TlsFront};
pub use world::World;

/// How long the fixtures wait for a condition (a socket, a file, a process) before giving up.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// The exit code `sec exec` uses for its own failures, a refused lease among them (as `env`
/// and `timeout` do): nothing was started.
pub const SEC_FAILED: i32 = 125;

/// The directory holding the workspace's built binaries (`target/debug`).
///
/// An integration test runs as `target/debug/deps/<test>-<hash>`, so the binaries sit two
/// levels up.
pub fn target_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let exe = std::env::current_exe().expect("cannot tell the test executable's path");
        exe.parent()
            .and_then(Path::parent)
            .map(Path::to_path_buf)
            .unwrap_or_else(|| panic!("unexpected test executable path {}", exe.display()))
    })
}

/// `target/debug/sec`.
pub fn sec_bin() -> PathBuf {
    built_binary("sec")
}

/// `target/debug/secd`.
pub fn secd_bin() -> PathBuf {
    built_binary("secd")
}

fn built_binary(name: &str) -> PathBuf {
    let path = target_dir().join(name);
    assert!(
        path.is_file(),
        "{} is missing: run `cargo build` first (the end-to-end tests use the built `sec` and `secd`)",
        path.display()
    );
    path
}

/// Fails the test unless it runs as root, with a sentence saying why it needs root and how
/// to run it. Such tests never pass by skipping: a missing precondition is a failure (CI
/// runs the suite as root).
#[track_caller]
pub fn require_root(why: &str) {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test needs root {why}; run it as root (e.g. `sudo -E cargo test -p sec-tests`), \
         as CI does. It fails instead of skipping so that it is never mistaken for a pass."
    );
}

/// Fails the test unless `program` runs (`program --version`), saying which package has it.
#[track_caller]
pub fn require_program(program: &str, package: &str) {
    let runs = std::process::Command::new(program)
        .arg("--version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok();
    assert!(
        runs,
        "this test needs `{program}`; install it (Debian/Ubuntu package `{package}`), as CI does"
    );
}

/// Polls `condition` every few milliseconds until it holds; panics with `what` after
/// [`DEADLINE`]. For waiting on something to happen, never as a timed assertion.
pub fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let start = Instant::now();
    while !condition() {
        assert!(
            start.elapsed() < DEADLINE,
            "gave up after {DEADLINE:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A value nobody else will have: `PREFIX-` and 16 random hex digits.
pub fn unique(prefix: &str) -> String {
    use std::io::Read;
    let mut bytes = [0u8; 8];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .expect("cannot read /dev/urandom");
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{prefix}-{hex}")
}

/// A value that looks like a real token (a GitHub personal access token: `ghp_` and 36
/// random letters and digits), for tests of what sec does with a token pasted in the wrong
/// place. Never the same twice.
pub fn token_canary() -> String {
    use std::io::Read;
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut bytes = [0u8; 36];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .expect("cannot read /dev/urandom");
    let mut token = String::from("ghp_");
    // Three fixed characters keep the mix of digits and both cases certain.
    token.push_str("Qa7");
    token.extend(
        bytes[3..]
            .iter()
            .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char),
    );
    token
}

/// Writes `text` to `path` and sets its mode.
pub fn write_file_with_mode(path: &Path, text: &str, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    if mode & 0o111 != 0 {
        write_through_child(path, text);
    } else {
        std::fs::write(path, text)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("cannot chmod {}: {e}", path.display()));
}

/// Writes a file that will be executed through a `sh` child, so that this
/// process never holds a write descriptor to it: a child that another test
/// thread forks meanwhile would inherit that descriptor until its exec, and
/// running the file then fails with ETXTBSY ("Text file busy").
fn write_through_child(path: &Path, text: &str) {
    use std::io::Write;
    let mut child = std::process::Command::new("sh")
        .args(["-c", "cat > \"$1\"", "sh"])
        .arg(path)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start sh to write {}: {e}", path.display()));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let status = child.wait().unwrap();
    assert!(
        status.success(),
        "cannot write {}: sh said {status}",
        path.display()
    );
}

/// Sets a path's mode.
pub fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("cannot chmod {:o} {}: {e}", mode, path.display()));
}

/// A path as one single-quoted word for a POSIX shell script (`sec_proto::shell::quote`).
pub fn shell_quoted(path: &Path) -> String {
    sec_proto::shell::quote(&path.to_string_lossy())
}

/// A path as a TOML string, quotes included (`sec_proto::config::toml_string`).
pub fn toml_path(path: &Path) -> String {
    sec_proto::config::toml_string(&path.to_string_lossy())
}

/// A config with one scope on the project directory and the given `[scope.env]` lines.
pub fn project_scope(env_lines: &str) -> String {
    format!("[[scope]]\ndir = {{project}}\n[scope.env]\n{env_lines}\n")
}

/// Whether `needle` occurs in `haystack` (a file's bytes, a process environment).
pub fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// The regular files below `dir` whose bytes hold `needle`: where a planted secret leaked.
pub fn files_holding(dir: &Path, needle: &str) -> Vec<PathBuf> {
    files_under(dir)
        .into_iter()
        .filter(|f| contains(&std::fs::read(f).unwrap_or_default(), needle))
        .collect()
}

/// Regular files below `dir`, recursively.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            match entry.file_type() {
                Ok(t) if t.is_dir() => pending.push(entry.path()),
                Ok(t) if t.is_file() => files.push(entry.path()),
                _ => {}
            }
        }
    }
    files
}
