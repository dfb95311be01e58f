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

/// Attaches with ptrace to the pid in argv[1] and detaches again: exit 0 when it could.
const ATTACH: &str = "import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
pid = int(sys.argv[1])
if libc.ptrace(16, pid, 0, 0) != 0:
    sys.exit('attach: ' + os.strerror(ctypes.get_errno()))
os.waitpid(pid, 0)
libc.ptrace(17, pid, 0, 0)
";

/// A `sec` that may see a secret (here `sec set`, waiting for the value on stdin) cannot be
/// traced by another process of its own user from its first instruction on, and a `sec`
/// started under a tracer refuses to go on.
#[test]
fn sec_cannot_be_traced_while_it_may_see_a_secret() {
    require_root("to run sec and the tracer as an ordinary user (nobody)");
    require_program("setpriv", "util-linux");
    require_program("strace", "strace");
    let tmp = tempfile::Builder::new()
        .prefix("sec-hardening-")
        .tempdir_in("/tmp")
        .unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let nobody = nix::unistd::User::from_name("nobody")
        .unwrap()
        .expect("a nobody user");
    for dir in [tmp.path().to_path_buf(), home.clone()] {
        nix::unistd::chown(&dir, Some(nobody.uid), Some(nobody.gid)).unwrap();
    }
    let attach = |pid: u32| {
        as_nobody(&home)
            .args(["python3", "-c", ATTACH])
            .arg(pid.to_string())
            .output()
            .unwrap()
    };

    // The control: an ordinary process of the same user can be traced.
    let mut sleeper = as_nobody(&home).args(["sleep", "30"]).spawn().unwrap();
    let control = attach(sleeper.id());
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    assert!(
        control.status.success(),
        "the control could not attach: {}",
        String::from_utf8_lossy(&control.stderr)
    );

    let mut set = as_nobody(&home)
        .arg(sec_tests::sec_bin())
        .args(["set", "keyring:probe/value"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Give it time to pass its first instruction; it then waits for the value.
    wait_until("sec set to wait on stdin", || {
        std::fs::read_to_string(format!("/proc/{}/wchan", set.id()))
            .is_ok_and(|w| !w.is_empty() && w != "0")
            || std::fs::read_to_string(format!("/proc/{}/stat", set.id()))
                .is_ok_and(|s| s.contains(") S "))
    });
    let attached = attach(set.id());
    let _ = set.kill();
    let _ = set.wait();
    assert!(
        !attached.status.success(),
        "a process of the same user attached to sec set"
    );

    // Started under a tracer, it refuses.
    let traced = as_nobody(&home)
        .args(["strace", "-f", "-o", "/dev/null"])
        .arg(sec_tests::sec_bin())
        .args(["set", "keyring:probe/value"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!traced.status.success());
    let stderr = String::from_utf8_lossy(&traced.stderr);
    assert!(stderr.contains("is tracing this sec"), "{stderr}");
}

/// `sec` and `sec-cli` are static executables (no dynamic loader), so a library preloaded
/// through the environment, which a hostile test suite could set for the next `sec` it finds,
/// runs no code in them. The control, a dynamically linked program with the same
/// environment, shows that the library would have run.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[test]
fn a_preloaded_library_runs_no_code_in_sec() {
    require_program("cc", "build-essential");
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("preload.c");
    let library = dir.path().join("preload.so");
    let marker = dir.path().join("loaded");
    std::fs::write(
        &source,
        format!(
            "#include <stdio.h>\n__attribute__((constructor)) static void loaded(void) {{\n    FILE *f = fopen(\"{}\", \"a\");\n    if (f) {{ fputs(\"loaded\\n\", f); fclose(f); }}\n}}\n",
            marker.display()
        ),
    )
    .unwrap();
    let built = Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&library)
        .arg(&source)
        .status()
        .unwrap();
    assert!(built.success(), "cannot build the preload library");
    let run = |program: &Path, args: &[&str]| {
        let status = Command::new(program)
            .args(args)
            .env("LD_PRELOAD", &library)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        (status, marker.exists())
    };
    // Control: a dynamically linked program loads it.
    let (_, loaded) = run(Path::new("/bin/true"), &[]);
    assert!(loaded, "the control did not load the preloaded library");
    std::fs::remove_file(&marker).unwrap();
    let sec = sec_tests::sec_bin();
    for (program, args) in [
        (sec.clone(), vec!["--version"]),
        (sec.with_file_name("sec-cli"), vec!["--version"]),
    ] {
        let (status, loaded) = run(&program, &args);
        assert!(status.success(), "{} --version failed", program.display());
        assert!(!loaded, "{} ran the preloaded library", program.display());
    }
}
