//! A throwaway PostgreSQL cluster for the tests of OpenBao's database secrets engine: the
//! server binaries of the Debian package `postgresql` (`/usr/lib/postgresql/N/bin`), a fresh
//! data directory, TCP on loopback only, and `psql` to look inside.
//!
//! PostgreSQL refuses to run as root, and the tests run as root (as CI does): then the server
//! runs as `nobody` (`setpriv`), which needs its data directory to be its own and every
//! directory above it to be searchable (the fixture adds the search bit where it is missing).

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use nix::sys::signal::Signal;
use nix::unistd::{Group, User, chown, geteuid};

use crate::openbao::BAO_PORTS;
use crate::{require_program, wait_until};

/// How often a start is retried when another process took the port between the check and the
/// bind.
const START_ATTEMPTS: usize = 5;

/// A PostgreSQL server on a free loopback port with the superuser `postgres`, whose password
/// is random. Stopped on drop (immediate shutdown).
pub struct Postgres {
    port: u16,
    password: String,
    child: Child,
    log: PathBuf,
}

impl Postgres {
    /// A throwaway cluster in `dir/data` on a free loopback port (bound through port 0, so in
    /// the ephemeral range and never on an OpenBao server's port, see [`BAO_PORTS`]),
    /// superuser `postgres` with a random password, password (SCRAM) authentication, no
    /// Unix socket. Runs as `nobody` when the test runs as root. Returns once `psql` gets in.
    pub fn start(dir: &Path) -> Postgres {
        require_program("psql", "postgresql-client");
        let bin = server_bin_dir();
        let as_nobody = geteuid().is_root();
        if as_nobody {
            require_program("setpriv", "util-linux");
        }
        let data = dir.join("data");
        std::fs::create_dir_all(&data)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", data.display()));
        let password = crate::unique("pg").replace('-', "");
        let pwfile = dir.join("pwfile");
        crate::write_file_with_mode(&pwfile, &password, 0o600);
        if as_nobody {
            let (uid, gid) = nobody();
            for path in [&data, &pwfile] {
                chown(path.as_path(), Some(uid), Some(gid))
                    .unwrap_or_else(|e| panic!("cannot chown {} to nobody: {e}", path.display()));
            }
            make_searchable_above(&data);
        }

        let initdb_log = dir.join("initdb.log");
        let mut initdb = server_command(as_nobody, &bin.join("initdb"), dir);
        initdb
            .arg("-D")
            .arg(&data)
            .args([
                "-A",
                "scram-sha-256",
                "-U",
                "postgres",
                "--no-locale",
                "-E",
                "UTF8",
                "--no-sync",
            ])
            .arg(format!("--pwfile={}", pwfile.display()));
        let status = crate::procs::spawn_logged(initdb, &initdb_log)
            .wait()
            .expect("cannot wait for initdb");
        let _ = std::fs::remove_file(&pwfile);
        assert!(
            status.success(),
            "initdb failed ({status}):\n{}",
            std::fs::read_to_string(&initdb_log).unwrap_or_default()
        );

        let log = dir.join("postgres.log");
        for _ in 0..START_ATTEMPTS {
            let port = free_port();
            let mut postgres = server_command(as_nobody, &bin.join("postgres"), dir);
            postgres.arg("-D").arg(&data).args([
                "-p",
                &port.to_string(),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "unix_socket_directories=",
                "-c",
                "fsync=off",
            ]);
            let child = crate::procs::spawn_logged(postgres, &log);
            let mut pg = Postgres {
                port,
                password: password.clone(),
                child,
                log: log.clone(),
            };
            let mut exited = None;
            wait_until(&format!("PostgreSQL to accept psql on port {port}"), || {
                if let Ok(Some(status)) = pg.child.try_wait() {
                    exited = Some(status);
                    return true;
                }
                pg.psql("SELECT 1").status.success()
            });
            let Some(status) = exited else { return pg };
            let text = pg.log();
            assert!(
                text.contains("Address already in use"),
                "PostgreSQL exited ({status}):\n{text}"
            );
        }
        panic!("could not start PostgreSQL: {START_ATTEMPTS} ports were taken");
    }

    /// The loopback TCP port it listens on (127.0.0.1 only).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The superuser `postgres`'s password.
    pub fn password(&self) -> &str {
        &self.password
    }

    /// The server's log, for a failing test's message.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Runs `sql` as `postgres` in the database `postgres` through `psql` (unaligned, tuples
    /// only: one row a line, columns separated by `|`); panics with psql's stderr when it
    /// fails; returns the trimmed stdout.
    pub fn query(&self, sql: &str) -> String {
        let out = self.psql(sql);
        assert!(
            out.status.success(),
            "psql failed ({}) on {sql:?}:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .expect("psql printed non-UTF-8")
            .trim()
            .to_owned()
    }

    /// The names in `pg_roles` starting with `prefix`, sorted.
    pub fn roles_like(&self, prefix: &str) -> Vec<String> {
        let literal = format!("'{}'", prefix.replace('\'', "''"));
        self.query(&format!(
            "SELECT rolname FROM pg_roles WHERE starts_with(rolname, {literal}) ORDER BY 1"
        ))
        .lines()
        .map(str::to_owned)
        .collect()
    }

    fn psql(&self, sql: &str) -> Output {
        let mut cmd = Command::new("psql");
        clear_pg_env(&mut cmd);
        cmd.args(["-X", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p"])
            .arg(self.port.to_string())
            .args(["-U", "postgres", "-d", "postgres", "-tAc", sql])
            .env("PGPASSWORD", &self.password)
            .env("PGCONNECT_TIMEOUT", "5")
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run psql: {e}"))
    }
}

impl Drop for Postgres {
    /// An immediate shutdown (what `pg_ctl stop -m immediate` sends): the postmaster takes its
    /// backends down with it. SIGKILL if it is still there after a few seconds.
    fn drop(&mut self) {
        crate::procs::stop_child(&mut self.child, Signal::SIGQUIT);
    }
}

/// `/usr/lib/postgresql/N/bin` of the newest installed N that has `initdb`.
fn server_bin_dir() -> PathBuf {
    let root = Path::new("/usr/lib/postgresql");
    std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version: u32 = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .max()
        .map(|(_, bin)| bin)
        .unwrap_or_else(|| {
            panic!(
                "this test needs PostgreSQL's server (initdb and postgres in \
                 /usr/lib/postgresql/N/bin); install it (Debian/Ubuntu package `postgresql`), \
                 as CI does"
            )
        })
}

/// `program`, run as `nobody:nogroup` without supplementary groups when `as_nobody`, with
/// none of the caller's `PG*` variables, in `dir`.
fn server_command(as_nobody: bool, program: &Path, dir: &Path) -> Command {
    let mut cmd = if as_nobody {
        let mut cmd = Command::new("setpriv");
        cmd.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
            .arg(program);
        cmd
    } else {
        Command::new(program)
    };
    clear_pg_env(&mut cmd);
    cmd.current_dir(dir).stdin(Stdio::null());
    cmd
}

/// Removes the caller's libpq and server variables (`PGHOST`, `PGDATA`, `PGSERVICE`…).
fn clear_pg_env(cmd: &mut Command) {
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("PG") {
            cmd.env_remove(key);
        }
    }
}

fn nobody() -> (nix::unistd::Uid, nix::unistd::Gid) {
    let user = User::from_name("nobody")
        .ok()
        .flatten()
        .expect("there is no user `nobody` to run PostgreSQL as");
    let group = Group::from_name("nogroup")
        .ok()
        .flatten()
        .expect("there is no group `nogroup` to run PostgreSQL as");
    (user.uid, group.gid)
}

/// Adds the search bit for others to every directory above `path` that lacks it, so that
/// `nobody` can reach `path`.
fn make_searchable_above(path: &Path) {
    for dir in path.ancestors().skip(1) {
        let Ok(meta) = std::fs::metadata(dir) else {
            continue;
        };
        let mode = meta.permissions().mode();
        if mode & 0o001 == 0 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode | 0o001))
                .unwrap_or_else(|e| panic!("cannot make {} searchable: {e}", dir.display()));
        }
    }
}

/// A loopback port that was free a moment ago, from the ephemeral range (port 0), never one
/// of [`BAO_PORTS`].
fn free_port() -> u16 {
    for _ in 0..100 {
        let listener = TcpListener::bind("127.0.0.1:0").expect("cannot bind a loopback port");
        let port = listener.local_addr().expect("no local address").port();
        if !BAO_PORTS.contains(&port) {
            return port;
        }
    }
    panic!("port 0 binds keep landing in the OpenBao port range {BAO_PORTS:?}");
}
