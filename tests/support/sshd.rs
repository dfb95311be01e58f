//! A real OpenSSH server on loopback for the tests of sec's ssh-agent: `ssh` and `git push`
//! over ssh that may authenticate only through the agent behind `SSH_AUTH_SOCK`.
//!
//! The server (`/usr/sbin/sshd` of the Debian package `openssh-server`) runs in the
//! foreground (`-D`) as the fixture's child, with its host key, config, `authorized_keys`
//! and log in a caller-given directory; it accepts public keys only, for the current user
//! (root when the tests run as root, as CI does: `PermitRootLogin prohibit-password`).
//!
//! The client side ([`Sshd::ssh_argv`], [`Sshd::git_ssh_command`]) reads no config file, no
//! identity file and no known_hosts: `ssh` takes its home from the passwd entry, not from
//! `$HOME`, so without these options a world's private HOME would not keep the developer's
//! (or root's) own `~/.ssh` out of a test.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use nix::sys::signal::Signal;
use nix::unistd::{User, geteuid};

use crate::openbao::BAO_PORTS;
use crate::{require_program, wait_until};

/// The OpenSSH server binary; sshd re-executes itself, so it must be started by absolute path.
const SSHD: &str = "/usr/sbin/sshd";

/// How often a start is retried when another process took the port between the check and the
/// bind.
const START_ATTEMPTS: usize = 5;

/// The client options: only the agent, no config, no identity files, no host key checks.
const CLIENT_OPTIONS: &[&str] = &[
    "-F",
    "/dev/null",
    "-o",
    "BatchMode=yes",
    "-o",
    "IdentityFile=none",
    "-o",
    "IdentitiesOnly=no",
    "-o",
    "StrictHostKeyChecking=no",
    "-o",
    "UserKnownHostsFile=/dev/null",
    "-o",
    "GlobalKnownHostsFile=/dev/null",
    "-o",
    "ConnectTimeout=10",
    "-o",
    "LogLevel=ERROR",
];

/// An sshd on a free loopback port that lets the current user in with the keys it was given.
/// Stopped (SIGTERM, then SIGKILL) and reaped on drop.
pub struct Sshd {
    port: u16,
    user: String,
    child: Child,
    log: PathBuf,
}

impl Sshd {
    /// An sshd on a free loopback port whose authorized_keys holds `authorized` (OpenSSH
    /// public key lines, e.g. the contents of `KEY.pub`), for the current user.
    ///
    /// Writes `host_key`, `authorized_keys`, `sshd_config` and `sshd.log` into `dir`. As root
    /// it creates `/run/sshd`, the privilege separation directory sshd insists on. Returns
    /// once the server listens.
    pub fn start(dir: &Path, authorized: &[&str]) -> Sshd {
        require_program(SSHD, "openssh-server");
        require_program("ssh", "openssh-client");
        require_program("ssh-keygen", "openssh-client");
        std::fs::create_dir_all(dir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        let dir = std::path::absolute(dir)
            .unwrap_or_else(|e| panic!("cannot make {} absolute: {e}", dir.display()));
        if geteuid().is_root() {
            std::fs::create_dir_all("/run/sshd")
                .unwrap_or_else(|e| panic!("cannot create sshd's /run/sshd: {e}"));
        }

        let host_key = dir.join("host_key");
        if !host_key.exists() {
            let keygen_log = dir.join("ssh-keygen.log");
            let mut keygen = Command::new("ssh-keygen");
            keygen
                .args([
                    "-q",
                    "-t",
                    "ed25519",
                    "-N",
                    "",
                    "-C",
                    "sec-tests host key",
                    "-f",
                ])
                .arg(&host_key)
                .stdin(Stdio::null());
            let status = crate::procs::spawn_logged(keygen, &keygen_log)
                .wait()
                .expect("cannot wait for ssh-keygen");
            assert!(
                status.success(),
                "ssh-keygen failed ({status}):\n{}",
                std::fs::read_to_string(&keygen_log).unwrap_or_default()
            );
        }
        let authorized_keys = dir.join("authorized_keys");
        let mut keys: String = authorized
            .iter()
            .map(|line| format!("{}\n", line.trim()))
            .collect();
        if keys.is_empty() {
            keys.push('\n');
        }
        crate::write_file_with_mode(&authorized_keys, &keys, 0o600);

        let user = current_user();
        let config = dir.join("sshd_config");
        let log = dir.join("sshd.log");
        for _ in 0..START_ATTEMPTS {
            let port = free_port();
            std::fs::write(
                &config,
                format!(
                    "Port {port}\n\
                     ListenAddress 127.0.0.1\n\
                     HostKey {host_key}\n\
                     AuthorizedKeysFile {authorized_keys}\n\
                     PidFile {pid}\n\
                     PubkeyAuthentication yes\n\
                     PasswordAuthentication no\n\
                     KbdInteractiveAuthentication no\n\
                     UsePAM no\n\
                     StrictModes no\n\
                     PermitRootLogin prohibit-password\n\
                     MaxAuthTries 20\n\
                     X11Forwarding no\n\
                     PrintMotd no\n\
                     LogLevel VERBOSE\n",
                    host_key = config_quoted(&host_key),
                    authorized_keys = config_quoted(&authorized_keys),
                    pid = config_quoted(&dir.join("sshd.pid")),
                ),
            )
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", config.display()));
            let mut sshd = Command::new(SSHD);
            sshd.arg("-D")
                .arg("-f")
                .arg(&config)
                .arg("-E")
                .arg(&log)
                .current_dir(&dir)
                .stdin(Stdio::null());
            let _ = std::fs::remove_file(&log);
            let child = crate::procs::spawn_logged(sshd, &dir.join("sshd.out"));
            let mut server = Sshd {
                port,
                user: user.clone(),
                child,
                log: log.clone(),
            };
            let listening = format!("Server listening on 127.0.0.1 port {port}.");
            let mut exited = None;
            wait_until(&format!("sshd to listen on port {port}"), || {
                if let Ok(Some(status)) = server.child.try_wait() {
                    exited = Some(status);
                    return true;
                }
                server.log().contains(&listening)
            });
            let Some(status) = exited else { return server };
            let text = format!(
                "{}{}",
                server.log(),
                std::fs::read_to_string(dir.join("sshd.out")).unwrap_or_default()
            );
            assert!(
                text.contains("Address already in use"),
                "sshd exited ({status}):\n{text}"
            );
        }
        panic!("could not start sshd: {START_ATTEMPTS} ports were taken");
    }

    /// The loopback TCP port it listens on (127.0.0.1 only).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The user that may log in: the current user (`root` when the tests run as root).
    pub fn user(&self) -> String {
        self.user.clone()
    }

    /// argv of an ssh client that authenticates only through `SSH_AUTH_SOCK`:
    /// `["ssh", "-F", "/dev/null", "-o", …, "-p", PORT, "USER@127.0.0.1", remote_command…]`.
    /// For running under `sec exec -- …`; it exits 255 when no key of the agent is let in.
    pub fn ssh_argv(&self, remote_command: &[&str]) -> Vec<String> {
        let mut argv = vec!["ssh".to_owned()];
        argv.extend(CLIENT_OPTIONS.iter().map(|o| (*o).to_owned()));
        argv.push("-p".to_owned());
        argv.push(self.port.to_string());
        argv.push(format!("{}@127.0.0.1", self.user));
        argv.extend(remote_command.iter().map(|w| (*w).to_owned()));
        argv
    }

    /// The client options of [`Sshd::ssh_argv`] as one string for `GIT_SSH_COMMAND`, without
    /// port, host and command (git adds them from the URL, see [`Sshd::url_for`]).
    pub fn git_ssh_command(&self) -> String {
        let mut words = vec!["ssh"];
        words.extend(CLIENT_OPTIONS);
        words.join(" ")
    }

    /// `ssh://USER@127.0.0.1:PORT/ABS/PATH`, e.g. for a bare repository made with
    /// `git init --bare` (the remote side runs `git-receive-pack` as [`Sshd::user`]).
    pub fn url_for(&self, path: &Path) -> String {
        let path = std::path::absolute(path)
            .unwrap_or_else(|e| panic!("cannot make {} absolute: {e}", path.display()));
        format!(
            "ssh://{}@127.0.0.1:{}{}",
            self.user,
            self.port,
            path.display()
        )
    }

    /// The server's log (`LogLevel VERBOSE`), for a failing test's message.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The fingerprints (`SHA256:…`) of the keys that logged in, in order, from the log's
    /// `Accepted publickey for USER from … ssh2: TYPE SHA256:…` lines. Compare with
    /// [`fingerprint`].
    pub fn accepted_keys(&self) -> Vec<String> {
        self.log()
            .lines()
            .filter(|line| line.starts_with("Accepted publickey for "))
            .filter_map(|line| line.split_whitespace().last())
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for Sshd {
    /// SIGTERM (sshd removes its pid file and exits), SIGKILL if it is still there after a
    /// few seconds. Sessions still open have their own processes and end with their clients.
    fn drop(&mut self) {
        crate::procs::stop_child(&mut self.child, Signal::SIGTERM);
    }
}

/// The SHA256 fingerprint (`SHA256:…`) of an OpenSSH public key line, as sshd logs it
/// (`ssh-keygen -l`).
pub fn fingerprint(public_key: &str) -> String {
    use std::io::Write;
    let mut keygen = Command::new("ssh-keygen")
        .args(["-l", "-E", "sha256", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run ssh-keygen ({e}); install it (Debian/Ubuntu package \
                 `openssh-client`), as CI does"
            )
        });
    keygen
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(format!("{}\n", public_key.trim()).as_bytes())
        .expect("cannot write to ssh-keygen");
    let out = keygen
        .wait_with_output()
        .expect("cannot wait for ssh-keygen");
    assert!(
        out.status.success(),
        "ssh-keygen -l failed ({}) on {public_key:?}:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    // `256 SHA256:… comment (ED25519)`
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .nth(1)
        .unwrap_or_else(|| panic!("unexpected ssh-keygen -l output for {public_key:?}"))
        .to_owned()
}

/// The name of the effective user, as sshd and ssh see it.
fn current_user() -> String {
    User::from_uid(geteuid())
        .ok()
        .flatten()
        .map(|user| user.name)
        .unwrap_or_else(|| panic!("the current user ({}) has no passwd entry", geteuid()))
}

/// A path as one sshd_config argument: double-quoted, which sshd understands; `"` and `%`
/// (sshd's token character) would need more and are refused.
fn config_quoted(path: &Path) -> String {
    let text = path.to_string_lossy();
    assert!(
        !text.contains(['"', '%', '\n']),
        "sshd cannot take the path {text:?} in its config: choose a directory without `\"` or `%`"
    );
    format!("\"{text}\"")
}

/// A loopback port that was free a moment ago, from the ephemeral range (port 0), never one
/// of [`BAO_PORTS`].
fn free_port() -> u16 {
    for _ in 0..100 {
        let listener =
            std::net::TcpListener::bind("127.0.0.1:0").expect("cannot bind a loopback port");
        let port = listener.local_addr().expect("no local address").port();
        if !BAO_PORTS.contains(&port) {
            return port;
        }
    }
    panic!("port 0 binds keep landing in the OpenBao port range {BAO_PORTS:?}");
}
