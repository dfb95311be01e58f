//! The client's own checks that need no daemon.

use std::process::Command;

fn sec() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sec"))
}

#[test]
fn help_lists_the_subcommands() {
    let out = sec().arg("--help").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for sub in ["exec", "ls", "status", "revoke", "set", "rm", "daemon"] {
        assert!(text.contains(sub), "missing {sub} in {text}");
    }
}

#[cfg(unix)]
#[test]
fn exec_refuses_a_runtime_dir_open_to_others_with_125() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    std::fs::create_dir_all(run.join("sec")).unwrap();
    std::fs::set_permissions(run.join("sec"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = sec()
        .args(["exec", "--", "true"])
        .env_clear()
        .env("HOME", tmp.path())
        .env("XDG_RUNTIME_DIR", &run)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("chmod 700"), "{stderr}");
}
