//! One test's world: private directories, optionally a private Secret Service, and the
//! commands to drive `sec` in it. Everything is torn down when the world is dropped.

use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tempfile::TempDir;

use crate::op::OpStandin;
use crate::output::{Output, wait_output};
use crate::procs::processes_with_env;
use crate::secret_service::SecretService;
use crate::{chmod, sec_bin, unique, write_file_with_mode};

/// The PATH after the world's own `bin`: fixed, so the tests do not depend on (or leak into)
/// the developer's PATH and shell setup.
const SYSTEM_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

pub struct World {
    /// Removed on drop, after every process of the world is gone.
    _dir: TempDir,
    /// The world's top directory, canonical.
    root: PathBuf,
    pub home: PathBuf,
    pub config_home: PathBuf,
    pub data_home: PathBuf,
    pub state_home: PathBuf,
    pub cache_home: PathBuf,
    /// `XDG_RUNTIME_DIR` (mode 0700); the socket lives in its `sec/`.
    pub runtime_dir: PathBuf,
    /// The default working directory, canonical, for scopes.
    pub project: PathBuf,
    /// First on PATH: stand-in programs go here.
    pub bin: PathBuf,
    secret_service: Option<SecretService>,
    /// `pass` with a throwaway GPG key: (GNUPGHOME, PASSWORD_STORE_DIR).
    password_store: Option<(PathBuf, PathBuf)>,
}

impl World {
    /// A world with a private D-Bus session bus and an unlocked gnome-keyring.
    pub fn new() -> Self {
        let mut world = Self::without_keyring();
        let env = world.env();
        world.secret_service = Some(SecretService::start(world.root(), &env));
        world
    }

    /// A world with no Secret Service at all (`DBUS_SESSION_BUS_ADDRESS` unset): for tests
    /// that need only literals or the `op` stand-in. Starts much faster.
    pub fn without_keyring() -> Self {
        // Under /tmp rather than $TMPDIR: a Unix socket path must stay under 108 bytes.
        let root = tempfile::Builder::new()
            .prefix("sec-e2e-")
            .tempdir_in("/tmp")
            .expect("cannot create the world's temporary directory");
        let base = root
            .path()
            .canonicalize()
            .expect("cannot canonicalize the world directory");
        let dir = |name: &str| {
            let path = base.join(name);
            std::fs::create_dir_all(&path)
                .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
            path
        };
        let world = World {
            home: dir("home"),
            config_home: dir("config"),
            data_home: dir("data"),
            state_home: dir("state"),
            cache_home: dir("cache"),
            runtime_dir: dir("run"),
            project: dir("project"),
            bin: dir("bin"),
            _dir: root,
            root: base,
            secret_service: None,
            password_store: None,
        };
        chmod(&world.runtime_dir, 0o700);
        world
    }

    /// Adds a real password-store: a throwaway GPG key without passphrase in the world's own
    /// GNUPGHOME and `pass init` with it; every process of the world gets both variables.
    pub fn with_pass_store(mut self) -> Self {
        let gnupg = self.root.join("gnupg");
        let store = self.root.join("password-store");
        std::fs::create_dir_all(&gnupg).unwrap();
        chmod(&gnupg, 0o700);
        self.password_store = Some((gnupg, store));
        let run = |args: &[&str]| {
            let out = self.command(args[0]).args(&args[1..]).output().unwrap();
            assert!(
                out.status.success(),
                "{args:?} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        let key = "sec e2e <sec-e2e@example.invalid>";
        run(&[
            "gpg",
            "--batch",
            "--passphrase",
            "",
            "--quick-gen-key",
            key,
            "default",
            "default",
            "never",
        ]);
        let listing = run(&["gpg", "--list-keys", "--with-colons"]);
        let fingerprint = listing
            .lines()
            .find_map(|l| {
                l.strip_prefix("fpr:")
                    .map(|rest| rest.trim_matches(':').to_string())
            })
            .expect("the new key's fingerprint");
        run(&["pass", "init", &fingerprint]);
        self
    }

    /// The world's top directory (canonical), for the test's own files.
    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn has_keyring(&self) -> bool {
        self.secret_service.is_some()
    }

    /// The whole environment every process of the world gets.
    pub fn env(&self) -> Vec<(OsString, OsString)> {
        let mut path = OsString::from(&self.bin);
        path.push(":");
        path.push(SYSTEM_PATH);
        let mut env: Vec<(OsString, OsString)> = vec![
            ("PATH".into(), path),
            ("HOME".into(), self.home.clone().into()),
            ("XDG_CONFIG_HOME".into(), self.config_home.clone().into()),
            ("XDG_DATA_HOME".into(), self.data_home.clone().into()),
            ("XDG_STATE_HOME".into(), self.state_home.clone().into()),
            ("XDG_CACHE_HOME".into(), self.cache_home.clone().into()),
            ("XDG_RUNTIME_DIR".into(), self.runtime_dir.clone().into()),
            ("LANG".into(), "C.UTF-8".into()),
        ];
        if let Some((gnupg, store)) = &self.password_store {
            env.push(("GNUPGHOME".into(), gnupg.clone().into()));
            env.push(("PASSWORD_STORE_DIR".into(), store.clone().into()));
        }
        if let Some(service) = &self.secret_service {
            env.push((
                "DBUS_SESSION_BUS_ADDRESS".into(),
                service.bus_address().into(),
            ));
        }
        env
    }

    /// `program` with the world's environment only, in the project directory, stdin from
    /// /dev/null and stdout/stderr piped (for [`World::output`]).
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new(program);
        cmd.env_clear()
            .envs(self.env())
            .current_dir(&self.project)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    /// The `sec` binary with `args`, as [`World::command`] sets it up.
    pub fn sec(&self, args: &[&str]) -> Command {
        let mut cmd = self.command(sec_bin());
        cmd.args(args);
        cmd
    }

    /// Runs `sec ARGS` in the project directory.
    pub fn run(&self, args: &[&str]) -> Output {
        self.output(self.sec(args))
    }

    /// Runs `sec ARGS` in `dir`.
    pub fn run_in(&self, dir: &Path, args: &[&str]) -> Output {
        let mut cmd = self.sec(args);
        cmd.current_dir(dir);
        self.output(cmd)
    }

    /// Runs `sec ARGS` with `input` on its stdin (a pipe, so not a terminal).
    pub fn run_with_stdin(&self, args: &[&str], input: &str) -> Output {
        self.output_with_stdin(self.sec(args), input)
    }

    /// `sec ARGS --passphrase-fd 3` with descriptor 3 reading `passphrase_file`, so that no
    /// passphrase is ever in an argument or a variable; prepared as [`World::command`] does.
    pub fn sec_with_passphrase_file(&self, args: &[&str], passphrase_file: &Path) -> Command {
        let mut cmd = self.command("bash");
        cmd.args([
            "-c",
            "exec \"$@\" --passphrase-fd 3 3<\"$SEC_TEST_PW_FILE\"",
            "bash",
        ])
        .arg(sec_bin())
        .args(args)
        .env("SEC_TEST_PW_FILE", passphrase_file);
        cmd
    }

    /// Runs `sec ARGS --passphrase-fd 3` with `lines` on descriptor 3 (through a 0600 file,
    /// removed afterwards) and `stdin` on its stdin when given (a pipe; else /dev/null).
    pub fn run_with_passphrase(&self, args: &[&str], lines: &str, stdin: Option<&str>) -> Output {
        let file = self.root.join(unique("pw"));
        write_file_with_mode(&file, lines, 0o600);
        let cmd = self.sec_with_passphrase_file(args, &file);
        let out = match stdin {
            Some(input) => self.output_with_stdin(cmd, input),
            None => self.output(cmd),
        };
        std::fs::remove_file(&file)
            .unwrap_or_else(|e| panic!("cannot remove {}: {e}", file.display()));
        out
    }

    /// Runs `sec exec` in `dir` with a child that writes `$VAR` (or `<unset>`) to a file, so
    /// that what it received never passes through argv or sec's output; returns what the
    /// child wrote ("" when it never ran) and sec's output.
    pub fn child_sees(&self, dir: &Path, var: &str) -> (String, Output) {
        self.child_sees_with(dir, &[], var, |_| {})
    }

    /// [`World::child_sees`] with `sec exec` OPTIONS, and `adjust` for a last change to the
    /// command (its environment) before it runs.
    pub fn child_sees_with(
        &self,
        dir: &Path,
        options: &[&str],
        var: &str,
        adjust: impl FnOnce(&mut Command),
    ) -> (String, Output) {
        let file = self.root.join(unique("seen"));
        let script = format!("printf %s \"${{{var}-<unset>}}\" > \"$1\"");
        let mut cmd = self.sec(&["exec"]);
        cmd.args(options)
            .args(["--", "sh", "-c", &script, "sh"])
            .arg(&file)
            .current_dir(dir);
        adjust(&mut cmd);
        let out = self.output(cmd);
        (std::fs::read_to_string(&file).unwrap_or_default(), out)
    }

    /// Runs a prepared command to completion.
    pub fn output(&self, mut cmd: Command) -> Output {
        let what = describe(&cmd);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run `{what}`: {e}"));
        wait_output(child, &what)
    }

    /// Runs a prepared command to completion with `input` on its stdin (a pipe).
    pub fn output_with_stdin(&self, mut cmd: Command, input: &str) -> Output {
        cmd.stdin(Stdio::piped());
        let what = describe(&cmd);
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run `{what}`: {e}"));
        let mut stdin = child.stdin.take().expect("piped stdin");
        stdin
            .write_all(input.as_bytes())
            .unwrap_or_else(|e| panic!("cannot write to the stdin of `{what}`: {e}"));
        drop(stdin);
        wait_output(child, &what)
    }

    /// `$XDG_CONFIG_HOME/sec/config.toml`.
    pub fn config_path(&self) -> PathBuf {
        self.config_home.join("sec").join("config.toml")
    }

    /// Writes the config; `{project}` in `text` becomes the project directory as a TOML
    /// string, quotes included (`dir = {project}`).
    pub fn write_config(&self, text: &str) {
        let path = self.config_path();
        std::fs::create_dir_all(path.parent().expect("config has a parent"))
            .expect("cannot create the config directory");
        let text = text.replace("{project}", &crate::toml_path(&self.project));
        std::fs::write(&path, text)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    }

    /// `$XDG_STATE_HOME/sec/secd.log`, or "" when there is none yet.
    pub fn daemon_log(&self) -> String {
        std::fs::read_to_string(self.state_home.join("sec").join("secd.log")).unwrap_or_default()
    }

    /// `$XDG_RUNTIME_DIR/sec`.
    pub fn sec_runtime_dir(&self) -> PathBuf {
        self.runtime_dir.join("sec")
    }

    /// `$XDG_RUNTIME_DIR/sec/secd.sock`.
    pub fn socket_path(&self) -> PathBuf {
        self.sec_runtime_dir().join("secd.sock")
    }

    /// The daemon's pid as `sec status --json` reports it (starting one if none runs).
    pub fn daemon_pid(&self) -> i64 {
        let out = self.run(&["status", "--json"]);
        out.assert_success();
        out.json()["pid"]
            .as_i64()
            .unwrap_or_else(|| panic!("no pid in the status:\n{out}"))
    }

    /// Installs the `op` stand-in in the world's bin directory.
    pub fn op_standin(&self) -> OpStandin {
        OpStandin::install(&self.root().join("op"), &self.bin)
    }

    // --- The private Secret Service, through libsecret's `secret-tool`. ---

    fn secret_tool(&self, args: &[&str]) -> Command {
        assert!(
            self.has_keyring(),
            "this world has no Secret Service: use World::new()"
        );
        let mut cmd = self.command("secret-tool");
        cmd.args(args);
        cmd
    }

    /// Stores `value` under the attributes `service=SERVICE username=ACCOUNT`, as
    /// `keyring:SERVICE/ACCOUNT` names it.
    pub fn keyring_store(&self, service: &str, account: &str, value: &str) {
        let cmd = self.secret_tool(&[
            "store",
            "--label=sec e2e",
            "service",
            service,
            "username",
            account,
        ]);
        self.output_with_stdin(cmd, value).assert_success();
    }

    /// The stored value, or `None` when there is no such item.
    pub fn keyring_lookup(&self, service: &str, account: &str) -> Option<String> {
        let out =
            self.output(self.secret_tool(&["lookup", "service", service, "username", account]));
        // secret-tool exits 1 with nothing on stdout when nothing matches.
        (out.success() && !out.stdout.is_empty()).then(|| {
            out.stdout
                .strip_suffix('\n')
                .unwrap_or(&out.stdout)
                .to_string()
        })
    }

    /// Deletes the item behind sec's back.
    pub fn keyring_clear(&self, service: &str, account: &str) {
        self.output(self.secret_tool(&["clear", "service", service, "username", account]))
            .assert_success();
        assert_eq!(
            self.keyring_lookup(service, account),
            None,
            "secret-tool clear did not delete"
        );
    }

    /// Stops everything the world started: the daemon, whatever it or the test left
    /// running, the Secret Service.
    fn teardown(&mut self) {
        if self.socket_path().exists() {
            let mut stop = self.sec(&["daemon", "stop"]);
            stop.stdout(Stdio::null()).stderr(Stdio::null());
            run_quietly(stop, Duration::from_secs(10));
        }
        if std::thread::panicking() {
            // Shown with the failing test's output.
            eprintln!("--- secd.log ---\n{}", self.daemon_log());
        }
        drop(self.secret_service.take());
        // Every process of this world, and only those, carries its private runtime dir.
        let marker = format!("XDG_RUNTIME_DIR={}", self.runtime_dir.display());
        for pid in processes_with_env(&marker) {
            if pid != std::process::id() as i32 {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
    }
}

impl Default for World {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for World {
    fn drop(&mut self) {
        self.teardown();
    }
}

/// The command line, for messages.
pub(crate) fn describe(cmd: &Command) -> String {
    let mut words = vec![cmd.get_program().to_string_lossy().into_owned()];
    words.extend(cmd.get_args().map(|a| a.to_string_lossy().into_owned()));
    words.join(" ")
}

/// Runs a command during teardown: never panics, kills it after `deadline`.
fn run_quietly(mut cmd: Command, deadline: Duration) {
    let Ok(mut child) = cmd.spawn() else { return };
    let start = Instant::now();
    while start.elapsed() < deadline {
        if let Ok(Some(_)) | Err(_) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}
