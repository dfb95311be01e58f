//! `sec doctor` on a healthy world, and on each broken one it claims to diagnose: the line
//! names the problem and its fix, and the exit status is 1.

use sec_tests::{World, chmod, sec_bin, shell_quoted, toml_path, write_file_with_mode};

fn doctor(world: &World) -> sec_tests::Output {
    world.run(&["doctor"])
}

fn line<'a>(out: &'a sec_tests::Output, what: &str) -> &'a str {
    out.stdout
        .lines()
        .find(|l| {
            l.get(7..)
                .is_some_and(|rest| rest.starts_with(&format!("{what}:")))
        })
        .unwrap_or_else(|| panic!("no `{what}` line:\n{out}"))
}

fn healthy_world() -> World {
    let world = World::new();
    let askpass = world.root().join("askpass.sh");
    write_file_with_mode(&askpass, "#!/bin/sh\nexit 0\n", 0o755);
    world.write_config(&format!(
        "[defaults]\naskpass = {}\n[[scope]]\ndir = {{project}}\n[scope.env]\nA = {{ value = \"1\" }}\n",
        toml_path(&askpass)
    ));
    std::fs::write(
        world.home.join(".bashrc"),
        format!("eval \"$({} hook bash)\"\n", shell_quoted(&sec_bin())),
    )
    .unwrap();
    world.run(&["daemon", "start"]).assert_success();
    world
}

#[test]
fn a_healthy_world_is_all_ok() {
    let world = healthy_world();
    let out = doctor(&world);
    out.assert_success();
    for what in [
        "secd",
        "socket directory",
        "daemon",
        "keychain",
        "config",
        "askpass",
        "local vault",
        "shell hook",
        "shield",
    ] {
        assert!(
            line(&out, what).starts_with("ok "),
            "{what} is not ok:\n{out}"
        );
    }
    assert!(line(&out, "shell hook").contains(".bashrc"), "{out}");
    assert!(line(&out, "keychain").contains("keyring"), "{out}");
}

#[test]
fn a_broken_config_and_a_missing_askpass_are_named_with_their_fix() {
    let world = healthy_world();
    world.write_config("[[scope]]\ndir = {project}\nttl = 15\n");
    let out = doctor(&world);
    out.assert_code(1);
    let config = line(&out, "config");
    assert!(
        config.starts_with("BROKEN") && config.contains("config.toml:3:"),
        "{out}"
    );
    assert!(config.contains("\"15m\""), "{out}");

    world.write_config("[defaults]\naskpass = \"/nonexistent/askpass\"\n");
    let out = doctor(&world);
    out.assert_code(1);
    let askpass = line(&out, "askpass");
    assert!(
        askpass.starts_with("BROKEN")
            && askpass.contains("/nonexistent/askpass")
            && askpass.contains("install it"),
        "{out}"
    );
}

#[test]
fn an_open_socket_directory_and_an_open_vault_file_are_named_with_their_fix() {
    let world = World::without_keyring();
    world
        .run_with_passphrase(
            &["set", "local:x"],
            "correct horse battery staple\ncorrect horse battery staple\n",
            Some("v"),
        )
        .assert_success();
    world.run(&["daemon", "stop"]).assert_success();
    let vault = world.data_home.join("sec/vault.age");
    chmod(&vault, 0o644);
    chmod(&world.sec_runtime_dir(), 0o755);
    let out = doctor(&world);
    out.assert_code(1);
    let socket = line(&out, "socket directory");
    assert!(
        socket.starts_with("BROKEN") && socket.contains("0700"),
        "{out}"
    );
    let local = line(&out, "local vault");
    assert!(
        local.starts_with("BROKEN") && local.contains("chmod 600"),
        "{out}"
    );
    chmod(&world.sec_runtime_dir(), 0o700);
}

#[test]
fn a_missing_secd_and_unavailable_namespaces_are_named_with_their_fix() {
    let world = World::without_keyring();
    // sec alone in a directory, with no secd beside it or on PATH.
    let lonely_dir = world.root().join("lonely");
    std::fs::create_dir_all(&lonely_dir).unwrap();
    let lonely = lonely_dir.join("sec");
    // By another process: a copy written here may be open in a child another test forks.
    // `sec` with `sec-cli`, the client its front hands `doctor` to: the installed pair.
    let copied = std::process::Command::new("cp")
        .arg(sec_bin())
        .arg(sec_bin().with_file_name("sec-cli"))
        .arg(&lonely_dir)
        .status()
        .unwrap();
    assert!(copied.success());
    let mut cmd = world.command(&lonely);
    cmd.arg("doctor").env("PATH", "/usr/bin:/bin");
    let out = world.output(cmd);
    out.assert_code(1);
    let secd = line(&out, "secd");
    assert!(
        secd.starts_with("BROKEN") && secd.contains("cargo install --locked --path daemon"),
        "{out}"
    );

    // A user namespace where no further one may be made (user.max_user_namespaces = 0).
    let mut cmd = world.command("unshare");
    cmd.args([
        "--user",
        "--map-root-user",
        "sh",
        "-c",
        "echo 0 > /proc/sys/user/max_user_namespaces && exec \"$0\" doctor",
    ])
    .arg(sec_bin());
    let out = world.output(cmd);
    out.assert_code(1);
    let shield = line(&out, "shield");
    assert!(
        shield.starts_with("BROKEN") && shield.contains("user.max_user_namespaces = 0"),
        "{out}"
    );
}
