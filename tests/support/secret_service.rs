//! A private Secret Service: a D-Bus session bus of the world's own and gnome-keyring on it,
//! with a login keyring unlocked by a throwaway password. Nothing touches the developer's
//! keychain: the keyring files live under the world's XDG_DATA_HOME.

use std::ffi::OsString;
use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::wait_until;

pub(crate) struct SecretService {
    bus_address: String,
    dbus_pid: Option<i32>,
    keyring: Option<Child>,
}

impl SecretService {
    /// Starts the bus and the keyring with the world's environment `env` and waits until
    /// `org.freedesktop.secrets` has an owner on the bus.
    pub(crate) fn start(root: &Path, env: &[(OsString, OsString)]) -> Self {
        let bus_address = format!("unix:path={}", root.join("bus").display());
        let pid_file = root.join("dbus.pid");
        let status = Command::new("dbus-daemon")
            .args(["--session", "--fork", "--print-pid=1"])
            .arg(format!("--address={bus_address}"))
            .env_clear()
            .envs(env.iter().cloned())
            .stdin(Stdio::null())
            // A file, not a pipe: the forked daemon keeps its stdout.
            .stdout(create(&pid_file))
            .stderr(create(&root.join("dbus.log")))
            .status()
            .expect("cannot run dbus-daemon (apt-get install dbus)");
        assert!(
            status.success(),
            "dbus-daemon failed ({status}); see {}",
            root.join("dbus.log").display()
        );
        let dbus_pid = std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|text| text.trim().parse().ok());
        let mut service = SecretService {
            bus_address,
            dbus_pid,
            keyring: None,
        };

        let mut keyring = Command::new("gnome-keyring-daemon")
            // --foreground: otherwise it forks away and outlives the test.
            .args(["--foreground", "--unlock", "--components=secrets"])
            .env_clear()
            .envs(env.iter().cloned())
            .env("DBUS_SESSION_BUS_ADDRESS", &service.bus_address)
            .stdin(Stdio::piped())
            .stdout(create(&root.join("keyring.out")))
            .stderr(create(&root.join("keyring.log")))
            .spawn()
            .expect("cannot run gnome-keyring-daemon (apt-get install gnome-keyring)");
        // The login keyring's password, then EOF.
        let mut stdin = keyring.stdin.take().expect("piped stdin");
        stdin
            .write_all(b"pw")
            .expect("cannot give gnome-keyring its password");
        drop(stdin);
        service.keyring = Some(keyring);

        wait_until(
            "gnome-keyring to own org.freedesktop.secrets on the private bus",
            || {
                if let Some(Ok(Some(status))) = service.keyring.as_mut().map(Child::try_wait) {
                    panic!(
                        "gnome-keyring-daemon exited ({status}); see {}",
                        root.join("keyring.log").display()
                    );
                }
                service.secrets_name_has_owner(env)
            },
        );
        service
    }

    pub(crate) fn bus_address(&self) -> &str {
        &self.bus_address
    }

    /// Asks the bus itself, which (unlike a call to the service) never activates anything.
    fn secrets_name_has_owner(&self, env: &[(OsString, OsString)]) -> bool {
        Command::new("dbus-send")
            .args([
                "--session",
                "--print-reply",
                "--dest=org.freedesktop.DBus",
                "/org/freedesktop/DBus",
                "org.freedesktop.DBus.NameHasOwner",
                "string:org.freedesktop.secrets",
            ])
            .env_clear()
            .envs(env.iter().cloned())
            .env("DBUS_SESSION_BUS_ADDRESS", &self.bus_address)
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).contains("boolean true"))
    }
}

impl Drop for SecretService {
    fn drop(&mut self) {
        if let Some(mut keyring) = self.keyring.take() {
            let _ = kill(Pid::from_raw(keyring.id() as i32), Signal::SIGTERM);
            let _ = keyring.wait();
        }
        if let Some(pid) = self.dbus_pid {
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
    }
}

fn create(path: &Path) -> File {
    File::create(path).unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()))
}
