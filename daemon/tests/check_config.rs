//! `secd --check-config`: the config checker users and editors can call on a file.

use std::process::Command;

/// `secd --check-config` on a config file holding `text`, with HOME in a temporary dir;
/// returns the file's path with the output.
fn check(text: &str) -> (tempfile::TempDir, std::path::PathBuf, std::process::Output) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(&path, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_secd"))
        .arg("--check-config")
        .arg(&path)
        .env("HOME", dir.path())
        .output()
        .unwrap();
    (dir, path, out)
}

#[test]
fn a_good_file_is_reported_ok() {
    let (_dir, _path, out) = check("[[scope]]\ndir = \"/p\"\n[scope.env]\nA = \"keyring:s/a\"\n");
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok, 1 scope(s)"));
}

#[test]
fn a_mistake_is_reported_with_file_line_and_column() {
    let (_dir, path, out) =
        check("[[scope]]\ndir = \"/p\"\n[scope.env]\nA = \"pypi-planted-token\"\n");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("{}:4:5:", path.display())),
        "{stderr}"
    );
    assert!(stderr.contains("{ value = \"...\" }"), "{stderr}");
    assert!(
        !stderr.contains("pypi-planted-token"),
        "a pasted token is never echoed: {stderr}"
    );
}

#[test]
fn warnings_are_printed_and_the_file_is_still_ok() {
    let (_dir, path, out) = check("[[scope]]\ndir = \"/nonexistent/sec-project\"\n");
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "secd: warning: {}:2:7: this directory does not exist (yet)",
            path.display()
        )),
        "{stderr}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok, 1 scope(s)"));
}
