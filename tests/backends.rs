//! The other vaults against the real things: `pass` with a throwaway GPG key in the test's
//! own GNUPGHOME, `cmd:` with a small script, the kernel keyring (`keyutils:`), and what
//! each says when it cannot store.

use std::path::Path;

use sec_tests::{SEC_FAILED, World, project_scope, unique, write_file_with_mode};

#[test]
fn pass_entries_are_read_written_and_removed_through_the_real_pass() {
    let world = World::without_keyring().with_pass_store();
    let token = unique("pass-token");
    world
        .run_with_stdin(&["set", "pass:pypi/coveragepy"], &token)
        .assert_success();
    let pass_show = || {
        let mut cmd = world.command("pass");
        cmd.args(["show", "pypi/coveragepy"]);
        world.output(cmd)
    };
    let shown = pass_show();
    assert_eq!(
        shown.stdout.trim_end(),
        token,
        "pass itself does not hold what sec stored"
    );

    // A `key: value` line chosen with #key, next to the first line.
    let mut insert = world.command("pass");
    insert.args(["insert", "--multiline", "--force", "pypi/full"]);
    let entry = format!("{token}\nusername: __token__\n");
    let mut child = insert.stdin(std::process::Stdio::piped()).spawn().unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), entry.as_bytes()).unwrap();
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success());
    world.write_config(&project_scope(
        "TWINE_PASSWORD = \"pass:pypi/full\"\nTWINE_USERNAME = \"pass:pypi/full#username\"",
    ));
    assert_eq!(world.child_sees(&world.project, "TWINE_PASSWORD").0, token);
    assert_eq!(
        world.child_sees(&world.project, "TWINE_USERNAME").0,
        "__token__"
    );

    world.run(&["rm", "pass:pypi/coveragepy"]).assert_success();
    let gone = pass_show();
    assert!(!gone.success(), "sec rm left the entry");
    world.write_config(&project_scope("TOKEN = \"pass:pypi/coveragepy\""));
    let (_, out) = world.child_sees(&world.project, "TOKEN");
    out.assert_code(SEC_FAILED)
        .assert_stderr_contains(&["TOKEN", "pass:pypi/coveragepy"]);
}

#[test]
fn cmd_references_run_the_users_program_and_repo_files_may_not_use_them() {
    let world = World::without_keyring();
    let script = world.root().join("print-token");
    write_file_with_mode(&script, "#!/bin/sh\nprintf 'from-a-command\\n'\n", 0o755);
    let failing = world.root().join("fail");
    write_file_with_mode(
        &failing,
        "#!/bin/sh\necho 'vault locked, try later' >&2\nexit 3\n",
        0o755,
    );
    world.write_config(&project_scope(&format!(
        "TOKEN = \"cmd:{}\"\nBROKEN = \"cmd:{}\"",
        script.display(),
        failing.display()
    )));
    let (_, out) = world.child_sees(&world.project, "TOKEN");
    out.assert_code(SEC_FAILED)
        .assert_stderr_contains(&["BROKEN", "vault locked, try later"]);
    let (seen, out) = world.child_sees_with(&world.project, &["--only", "TOKEN"], "TOKEN", |_| {});
    out.assert_success();
    assert_eq!(seen, "from-a-command", "one trailing newline trimmed");

    let repo = world.project.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    std::fs::write(
        repo.join(".sec.toml"),
        format!("[env]\nTOKEN = \"cmd:{}\"\n", script.display()),
    )
    .unwrap();
    let out = world.run_in(&repo, &["allow"]);
    out.assert_failure()
        .assert_stderr_contains(&["may not use references that run programs"]);
    world
        .run_with_stdin(&["set", "cmd:/bin/true"], "x")
        .assert_failure()
        .assert_stderr_contains(&["read-only"]);
}

#[test]
fn keyutils_keys_live_in_the_kernel_keyring() {
    let world = World::without_keyring();
    let name = unique("sec-e2e-key");
    let reference = format!("keyutils:{name}");
    let value = unique("kernel-value");
    world
        .run_with_stdin(&["set", &reference], &value)
        .assert_success();
    let search = std::process::Command::new("keyctl")
        .args(["search", "@u", "user", &format!("sec:{name}")])
        .output()
        .unwrap();
    assert!(search.status.success(), "keyctl does not see the key");
    world.write_config(&project_scope(&format!("TOKEN = \"{reference}\"")));
    assert_eq!(world.child_sees(&world.project, "TOKEN").0, value);
    world.run(&["rm", &reference]).assert_success();
    world.run(&["revoke"]).assert_success();
    let (_, out) = world.child_sees(&world.project, "TOKEN");
    out.assert_code(SEC_FAILED)
        .assert_stderr_contains(&[&reference, "reboot"]);
}

#[test]
fn vaults_that_cannot_store_say_so() {
    let world = World::without_keyring();
    world
        .run_with_stdin(&["set", "op://Private/GitHub/credential"], "x")
        .assert_failure()
        .assert_stderr_contains(&["cannot store", "1Password"]);
}

#[test]
fn an_import_failing_half_way_names_what_was_stored_and_keeps_the_file() {
    let world = World::without_keyring().with_pass_store();
    // pass cannot write pypi/testpypi.gpg where a directory of that name stands.
    let store = world.root().join("password-store");
    std::fs::create_dir_all(store.join("pypi/testpypi.gpg")).unwrap();
    let pypirc = world.root().join("pypirc");
    let text = "[pypi]\nusername = __token__\npassword = pypi-first\n\n[testpypi]\nusername = __token__\npassword = pypi-second\n";
    std::fs::write(&pypirc, text).unwrap();
    let path = pypirc.display().to_string();
    let out = world.run(&["import", "pypirc", &path, "--backend", "pass", "--remove"]);
    out.assert_failure().assert_stderr_contains(&[
        "pass:pypi/testpypi",
        "stored so far: pass:pypi/pypi",
        "left untouched",
    ]);
    assert!(
        !out.stderr.contains("pypi-second") && !out.stderr.contains("pypi-first"),
        "{out}"
    );
    assert_eq!(std::fs::read_to_string(Path::new(&pypirc)).unwrap(), text);
}
