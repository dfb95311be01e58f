//! secd's self-protection, checked from outside like OpenSSH's regress/agent-ptrace.sh:
//! run as an ordinary user (`nobody`), another process of that same user cannot read its
//! memory-backed /proc files, and its core-file limit is zero. Needs root (to become
//! `nobody`) and setpriv; fails with a sentence saying so otherwise (never skips: CI runs it
//! as root).

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Stdio};

use sec_tests::{require_program, require_root, secd_bin, wait_until};

/// `setpriv` as nobody with a clean, private environment under `home`.
fn as_nobody(home: &Path) -> Command {
    let mut cmd = Command::new("setpriv");
    cmd.args([
        "--reuid=nobody",
        "--regid=nogroup",
        "--clear-groups",
        "env",
        "-i",
    ])
    .arg(format!("HOME={}", home.display()))
    .arg(format!("XDG_RUNTIME_DIR={}/run", home.display()))
    .arg(format!("XDG_STATE_HOME={}/state", home.display()))
    .arg(format!("XDG_CONFIG_HOME={}/config", home.display()))
    .arg(format!("XDG_DATA_HOME={}/data", home.display()));
    cmd
}

#[test]
fn secd_cannot_be_read_or_dumped_by_its_own_user() {
    require_root("to run secd as an ordinary user (nobody)");
    require_program("setpriv", "util-linux");
    let tmp = tempfile::Builder::new()
        .prefix("sec-hardening-")
        .tempdir_in("/tmp")
        .unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir_all(home.join("run")).unwrap();
    let nobody = nix::unistd::User::from_name("nobody")
        .unwrap()
        .expect("a nobody user");
    for dir in [tmp.path().to_path_buf(), home.clone(), home.join("run")] {
        nix::unistd::chown(&dir, Some(nobody.uid), Some(nobody.gid)).unwrap();
    }
    std::fs::set_permissions(
        home.join("run"),
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();

    let mut secd = as_nobody(&home)
        .arg(secd_bin())
        .arg("--foreground")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // setpriv and env exec into secd: the pid is secd's.
    let pid = secd.id();
    wait_until("secd to listen", || home.join("run/sec/secd.sock").exists());

    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let core = limits
        .lines()
        .find(|l| l.starts_with("Max core file size"))
        .unwrap();
    assert!(
        core.split_whitespace().filter(|w| *w == "0").count() >= 2,
        "{core}"
    );

    // A non-dumpable process's /proc files belong to root, not to its user.
    let owner = std::fs::metadata(format!("/proc/{pid}/environ"))
        .unwrap()
        .uid();
    assert_eq!(
        owner, 0,
        "secd's /proc entries belong to its user: it is dumpable"
    );
    let peek = as_nobody(&home)
        .args(["cat", &format!("/proc/{pid}/environ")])
        .output()
        .unwrap();
    assert!(!peek.status.success(), "the same user read secd's environ");
    let peek = as_nobody(&home)
        .args(["cat", &format!("/proc/{pid}/mem")])
        .output()
        .unwrap();
    assert!(!peek.status.success(), "the same user opened secd's memory");

    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    let _ = secd.wait();
}
