//! `sec shield -- CMD`: credentials planted in the world's HOME, environment, keyring and
//! agents are out of reach of the command, and in reach of the same command outside; the
//! project stays writable, nothing written to the home persists; exit status and signals
//! pass through; real test suites (pytest, cargo, npm, make) pass under the shield;
//! `[[untrusted]]` directories; and where user namespaces are unavailable, a refusal
//! instead of an unshielded run. The escape classes an attacker tries are in
//! shield_escapes.rs.
//!
//! Long because each real workload (pytest, cargo, npm, make) is a test of its own.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use sec_tests::shield::{
    CONNECT_ABSTRACT, CONNECT_TCP, CONNECT_UNIX, PLANTED, TIOCSTI, plant_credentials, shielded,
    unshielded,
};
use sec_tests::{Venv, World, toml_path, unique, wait_output, wait_until};

/// Variables a user's shell may hold. Default-deny: none of them passes, whatever its name,
/// but the one config.toml's `keep_env` names.
const TOKENS: &[(&str, &str)] = &[
    ("GH_TOKEN", "gh-token-value"),
    ("TWINE_PASSWORD", "twine-password-value"),
    ("AWS_SECRET_ACCESS_KEY", "aws-secret-value"),
    ("PGPASSWORD", "pg-password-value"),
    ("MYSQL_PWD", "mysql-pwd-value"),
    ("DATABASE_URL", "postgres://u:database-url-value@db/x"),
    ("GITHUB_PAT", "github-pat-value"),
    ("SSHPASS", "sshpass-value"),
    ("NPM_CONFIG__AUTH", "npm-auth-value"),
    ("ORDINARY", "ordinary-value"),
    ("CI_JOB_TOKEN", "kept-token-value"),
];

#[test]
fn credentials_are_out_of_reach_inside_and_in_reach_outside() {
    let world = World::new();
    let canary = plant_credentials(&world);
    world.keyring_store("shield", "me", &canary);
    world.write_config("[shield]\nkeep_env = [\"CI_JOB_TOKEN\"]\n");
    // The bus address under another name: the variable itself is dropped, this checks that
    // the socket is gone too.
    let bus = world
        .env()
        .into_iter()
        .find(|(n, _)| n == "DBUS_SESSION_BUS_ADDRESS")
        .map(|(_, v)| v.into_string().unwrap())
        .unwrap();
    let socket = world.socket_path();
    world.run(&["daemon", "start"]).assert_success();
    assert!(socket.exists());
    let probes = [
        ("BUS", bus.as_str()),
        ("SOCKET", socket.to_str().unwrap()),
        ("CONNECT", CONNECT_UNIX),
    ];
    let reads = PLANTED
        .iter()
        .map(|f| format!("cat ~/{f} 2>/dev/null;"))
        .collect::<String>();
    let script = format!(
        "{reads} echo ids $(id -u) $(id -g); env; \
         if DBUS_SESSION_BUS_ADDRESS=\"$BUS\" secret-tool lookup service shield username me; then echo keyring-reached; fi; \
         if python3 -c \"$CONNECT\" \"$SOCKET\"; then echo secd-reached; fi; \
         umount ~/.ssh 2>/dev/null; umount -l ~ 2>/dev/null; cat ~/.ssh/id_ed25519 2>/dev/null; true"
    );
    let outside = {
        let mut cmd = world.command("sh");
        cmd.args(["-c", &script])
            .envs(TOKENS.iter().copied())
            .envs(probes);
        world.output(cmd)
    };
    outside.assert_success();
    assert_eq!(
        outside.stdout.matches(&canary).count(),
        PLANTED.len() + 2,
        "the control must reach every credential:\n{outside}"
    );
    assert!(outside.stdout.contains("secd-reached"), "{outside}");
    for (name, value) in TOKENS {
        assert!(
            outside.stdout.contains(&format!("{name}={value}")),
            "{outside}"
        );
    }

    let inside = {
        let mut cmd = world.sec(&["shield"]);
        for (name, _) in probes {
            cmd.args(["--keep-env", name]);
        }
        cmd.args(["--", "sh", "-c", &script])
            .envs(TOKENS.iter().copied())
            .envs(probes);
        world.output(cmd)
    };
    inside.assert_success();
    assert!(
        !inside.stdout.contains(&canary),
        "a credential leaked:\n{inside}"
    );
    assert!(!inside.stdout.contains("keyring-reached"), "{inside}");
    assert!(!inside.stdout.contains("secd-reached"), "{inside}");
    for (name, value) in &TOKENS[..TOKENS.len() - 1] {
        assert!(!inside.stdout.contains(value), "{name} passed:\n{inside}");
    }
    assert!(
        inside.stdout.contains("CI_JOB_TOKEN=kept-token-value"),
        "keep_env:\n{inside}"
    );
    assert!(
        !inside.stdout.contains("DBUS_SESSION_BUS_ADDRESS="),
        "{inside}"
    );
    let ids = |out: &sec_tests::Output| {
        out.stdout
            .lines()
            .find(|l| l.starts_with("ids "))
            .map(str::to_string)
    };
    assert_eq!(ids(&inside), ids(&outside), "uid and gid look unchanged");
}

#[test]
fn the_project_is_writable_and_nothing_written_to_the_home_persists() {
    let world = World::without_keyring();
    plant_credentials(&world);
    let toolchain = world.home.join(".local/bin");
    std::fs::create_dir_all(&toolchain).unwrap();
    sec_tests::write_file_with_mode(
        &toolchain.join("hello"),
        "#!/bin/sh\necho hello from the toolchain\n",
        0o755,
    );
    let out = shielded(
        &world,
        &[],
        "echo built > artifact && echo sneaky >> ~/.bashrc && cat ~/.bashrc && ~/.local/bin/hello \
         && { echo planted > ~/.local/bin/git || echo toolchain-read-only; }",
        &[],
    );
    out.assert_success();
    assert_eq!(
        std::fs::read_to_string(world.project.join("artifact")).unwrap(),
        "built\n"
    );
    assert!(
        out.stdout.starts_with("sneaky\n"),
        "a fresh home inside:\n{out}"
    );
    assert!(out.stdout.contains("hello from the toolchain"), "{out}");
    assert!(out.stdout.contains("toolchain-read-only"), "{out}");
    assert!(out.stderr.contains("Read-only file system"), "{out}");
    assert_eq!(
        std::fs::read_to_string(world.home.join(".bashrc")).unwrap(),
        "# the user's own\n"
    );
    assert!(!toolchain.join("git").exists());
    // --writable shows one more path, writable.
    let cache = world.home.join(".cache");
    std::fs::create_dir(&cache).unwrap();
    shielded(
        &world,
        &["--writable", cache.to_str().unwrap()],
        "echo x > ~/.cache/entry",
        &[],
    )
    .assert_success();
    assert!(cache.join("entry").exists());
    // A missing one is refused, not ignored.
    let out = shielded(&world, &["--writable", "/no/such/cache"], "touch ran", &[]);
    out.assert_code(125)
        .assert_stderr_contains(&["--writable /no/such/cache", "no such"]);
    assert!(!world.project.join("ran").exists());
}

#[test]
fn allow_shows_one_path_and_nothing_else() {
    let world = World::without_keyring();
    let canary = plant_credentials(&world);
    let netrc = world.home.join(".netrc");
    let out = shielded(
        &world,
        &["--allow", netrc.to_str().unwrap()],
        "cat ~/.netrc; cat ~/.ssh/id_ed25519 2>/dev/null; true",
        &[],
    );
    out.assert_success();
    assert_eq!(out.stdout.matches(&canary).count(), 1, "{out}");
}

#[test]
fn no_network_leaves_only_loopback() {
    let world = World::without_keyring();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let env = [("CONNECT", CONNECT_TCP), ("PORT", port.as_str())];
    let script = "python3 -c \"$CONNECT\" \"$PORT\" && echo host-reached; \
                  cut -d: -f1 /proc/net/dev | tail -n +3 | tr -d ' '; \
                  python3 -c 'import socket; s = socket.socket(); s.bind((\"127.0.0.1\", 0)); s.listen(); socket.create_connection(s.getsockname())' && echo loopback-works";
    let open = shielded(&world, &[], script, &env);
    open.assert_success();
    assert!(open.stdout.contains("host-reached"), "{open}");
    let closed = shielded(&world, &["--no-network"], script, &env);
    assert!(!closed.stdout.contains("host-reached"), "{closed}");
    let interfaces: Vec<&str> = closed
        .stdout
        .lines()
        .filter(|l| !l.contains("reached") && !l.contains("works"))
        .collect();
    assert_eq!(interfaces, ["lo"], "{closed}");
    assert!(closed.stdout.contains("loopback-works"), "{closed}");
}

#[test]
fn the_command_cannot_type_into_the_terminal() {
    let world = World::without_keyring();
    let env = [("TIOCSTI", TIOCSTI)];
    unshielded(&world, "python3 -c \"$TIOCSTI\"", &env).assert_success();
    let out = shielded(&world, &[], "python3 -c \"$TIOCSTI\"", &env);
    out.assert_code(1);
    assert!(out.stderr.contains("Operation not permitted"), "{out}");
}

#[test]
fn exit_status_and_signals_pass_through() {
    let world = World::without_keyring();
    shielded(&world, &[], "exit 7", &[]).assert_code(7);
    world
        .run(&["shield", "--", "no-such-command-here"])
        .assert_code(127);

    // In the project: the shield's /tmp is its own.
    let ready = world.project.join("ready");
    let got = world.project.join("got-term");
    let script = format!(
        "trap 'echo term > {got}; exit 42' TERM; echo > {ready}; while :; do sleep 0.05; done",
        got = got.display(),
        ready = ready.display()
    );
    let mut cmd = world.sec(&["shield", "--", "sh", "-c", &script]);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let sec = cmd.spawn().unwrap();
    wait_until("the shielded child to start", || ready.exists());
    kill(Pid::from_raw(sec.id() as i32), Signal::SIGTERM).unwrap();
    wait_output(sec, "sec shield").assert_code(42);
    assert!(got.exists(), "the child never saw SIGTERM");
}

#[test]
fn sec_inside_the_shield_says_where_it_is_instead_of_starting_a_daemon() {
    let world = World::without_keyring();
    let mut cmd = world.sec(&["shield", "--"]);
    cmd.arg(sec_tests::sec_bin()).arg("status");
    let out = world.output(cmd);
    out.assert_failure()
        .assert_stderr_contains(&["inside `sec shield`"]);
    assert!(!out.stderr.contains("secd stopped before"), "{out}");
}

#[test]
fn a_pytest_suite_passes_under_the_shield() {
    let venv = Venv::shared(Path::new(env!("CARGO_TARGET_TMPDIR")));
    let world = World::without_keyring();
    plant_credentials(&world);
    std::fs::write(
        world.project.join("calc.py"),
        "def add(a, b):\n    return a + b\n",
    )
    .unwrap();
    std::fs::write(
        world.project.join("test_calc.py"),
        "import os\nfrom calc import add\n\n\
         def test_add():\n    assert add(2, 3) == 5\n\n\
         def test_writes_its_tmp_path(tmp_path):\n    (tmp_path / 'f').write_text('x')\n    assert (tmp_path / 'f').read_text() == 'x'\n\n\
         def test_sees_no_ssh_key():\n    assert not os.path.exists(os.path.expanduser('~/.ssh/id_ed25519'))\n",
    )
    .unwrap();
    let python = venv.bin("python");
    let out = world.run(&[
        "shield",
        "--",
        python.to_str().unwrap(),
        "-m",
        "pytest",
        "-q",
    ]);
    out.assert_success();
    assert!(out.stdout.contains("3 passed"), "{out}");
    assert!(
        world.project.join(".pytest_cache").is_dir(),
        "pytest could not write its cache in the project"
    );
}

#[test]
fn untrusted_dirs_refuse_exec_and_remind_of_shield() {
    let world = World::without_keyring();
    // Inside a scope: the untrusted dir wins, no secrets and no scope there.
    let bugs = world.project.join("bugs");
    let inner = bugs.join("issue-7");
    std::fs::create_dir_all(&inner).unwrap();
    world.write_config(&format!(
        "[[scope]]\ndir = {{project}}\n[scope.env]\nA = {{ value = \"a\" }}\n\
         [[untrusted]]\ndir = {}\n",
        toml_path(&bugs)
    ));
    let out = world.run_in(&inner, &["exec", "--", "true"]);
    out.assert_code(125);
    out.assert_stderr_contains(&["untrusted", "sec shield -- CMD"]);
    world
        .run_in(&inner, &["exec", "--", "true"])
        .assert_code(125);
    world
        .run_in(&inner, &["shield", "--", "true"])
        .assert_success();
    world.run(&["exec", "--", "true"]).assert_success();

    let project = world.project.to_str().unwrap();
    let event = |from: &str, to: &Path| {
        world.run(&[
            "hook-event",
            "bash",
            "--from",
            from,
            "--to",
            to.to_str().unwrap(),
            "--declined",
            "",
        ])
    };
    let entering = event(project, &inner);
    entering.assert_success();
    assert!(entering.stdout.contains("unset SEC_SCOPE"), "{entering}");
    entering.assert_stderr_contains(&[&format!("{} is untrusted", bugs.display()), "sec shield"]);
    let within = event(inner.to_str().unwrap(), &bugs);
    assert!(
        !within.stderr.contains("untrusted"),
        "said again inside:\n{within}"
    );
    let elsewhere = event(inner.to_str().unwrap(), &world.project);
    assert!(!elsewhere.stderr.contains("untrusted"), "{elsewhere}");
}

#[test]
fn unavailable_user_namespaces_are_refused_not_bypassed() {
    let world = World::without_keyring();
    world.run(&["daemon", "start"]).assert_success();
    let marker: PathBuf = world.project.join("ran");
    // A user namespace of its own where no further user namespace may be made, as on a
    // system with user.max_user_namespaces = 0; the host's setting is left alone.
    let mut cmd = world.command("unshare");
    cmd.args([
        "--user",
        "--map-root-user",
        "sh",
        "-c",
        "echo 0 > /proc/sys/user/max_user_namespaces && exec \"$0\" shield -- touch ran",
    ]);
    cmd.arg(sec_tests::sec_bin());
    let out = world.output(cmd);
    out.assert_code(125);
    out.assert_stderr_contains(&[
        "refused a user namespace",
        "user.max_user_namespaces = 0",
        "Nothing was run",
    ]);
    assert!(!marker.exists(), "the command ran unshielded");
}

#[test]
fn abstract_sockets_outside_are_out_of_reach() {
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::{SocketAddr, UnixListener};

    let world = World::without_keyring();
    // Where a session bus or an X server may listen; the path-less kind that no mount hides.
    let name = unique("sec-e2e-abstract");
    let listener = UnixListener::bind_addr(&SocketAddr::from_abstract_name(&name).unwrap())
        .expect("cannot listen on an abstract socket");
    let env = [("CONNECT", CONNECT_ABSTRACT), ("NAME", name.as_str())];
    let script = "python3 -c \"$CONNECT\" \"$NAME\" && echo reached";
    let outside = unshielded(&world, script, &env);
    assert!(outside.stdout.contains("reached"), "{outside}");
    let inside = shielded(&world, &[], script, &env);
    assert!(!inside.stdout.contains("reached"), "{inside}");
    drop(listener);
}

/// Another user's socket in a directory of theirs inside the project (a shared checkout):
/// the shield cannot cover what it cannot reach, and need not, because the command cannot
/// reach it either. It runs, and the socket stays out of reach.
#[test]
fn another_users_private_socket_in_the_project_does_not_stop_the_shield() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::net::UnixListener;

    sec_tests::require_root("to make a directory that belongs to another user");
    let world = World::without_keyring();
    let theirs = world.project.join("theirs");
    std::fs::create_dir(&theirs).unwrap();
    let listener = UnixListener::bind(theirs.join("agent.sock")).unwrap();
    let nobody = Some(65534);
    std::os::unix::fs::chown(&theirs, nobody, nobody).unwrap();
    std::fs::set_permissions(&theirs, std::fs::Permissions::from_mode(0o700)).unwrap();
    let script = "ls theirs/agent.sock 2>/dev/null && echo reached; echo ran";
    let inside = shielded(&world, &[], script, &[]);
    inside.assert_success();
    assert!(inside.stdout.contains("ran"), "{inside}");
    assert!(!inside.stdout.contains("reached"), "{inside}");
    drop(listener);
}

#[test]
fn show_prints_the_layout_and_runs_nothing() {
    let world = World::without_keyring();
    plant_credentials(&world);
    std::fs::create_dir_all(world.home.join(".rustup")).unwrap();
    std::fs::create_dir_all(world.home.join(".cargo/bin")).unwrap();
    std::fs::write(world.home.join(".cargo/credentials.toml"), "x").unwrap();
    let mut cmd = world.sec(&["shield", "--show", "--keep-env", "CI_*", "--allow"]);
    cmd.arg(world.home.join(".cargo"));
    cmd.env("GH_TOKEN", "x")
        .env("PGPASSWORD", "y")
        .args(["--", "touch", "ran"]);
    let out = world.output(cmd);
    out.assert_success();
    let home = world.home.display();
    for needle in [
        format!("home        {home} (empty, in memory, gone at exit)"),
        format!("read-only   {home}/.rustup (toolchain)"),
        format!("read-only   {home}/.cargo (--allow)"),
        format!("hidden      {home}/.cargo/credentials.toml (/dev/null; credentials)"),
        format!("writable    {} (project)", world.project.display()),
        format!("guarded     {}/.envrc", world.project.display()),
        "private     /tmp".to_string(),
        "dropped     GH_TOKEN".to_string(),
        "dropped     PGPASSWORD".to_string(),
        "passed      PATH".to_string(),
        "processes   own PID namespace".to_string(),
        "env rule    passes by default: PATH HOME".to_string(),
        "env rule    passes as you asked ([shield] keep_env, --keep-env): CI_*".to_string(),
        "env rule    everything else is dropped".to_string(),
    ] {
        assert!(out.stdout.contains(&needle), "no `{needle}`:\n{out}");
    }
    assert!(!out.stdout.contains(".ssh"), "{out}");
    assert!(!world.project.join("ran").exists());
}

/// A tiny crate with a dependency from the registry cache, tested offline.
#[test]
fn a_cargo_test_suite_passes_under_the_shield() {
    let world = World::without_keyring();
    plant_credentials(&world);
    let cargo = which("cargo");
    // The real toolchain of this machine (rustup's proxies need both homes).
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| cargo.parent().unwrap().parent().unwrap().to_path_buf());
    let rustup_home = std::env::var_os("RUSTUP_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| home_of_this_process().join(".rustup"));
    std::fs::write(
        world.project.join("Cargo.toml"),
        "[package]\nname = \"tiny\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\nitoa = \"1\"\n",
    )
    .unwrap();
    std::fs::create_dir_all(world.project.join("src")).unwrap();
    std::fs::write(
        world.project.join("src/lib.rs"),
        "pub fn show(n: u32) -> String {\n    itoa::Buffer::new().format(n).to_string()\n}\n\n\
         #[test]\nfn shows() {\n    assert_eq!(show(42), \"42\");\n}\n\n\
         #[test]\nfn sees_no_key() {\n    let home = std::env::var(\"HOME\").unwrap();\n    \
         assert!(std::fs::read(format!(\"{home}/.ssh/id_ed25519\")).is_err());\n}\n",
    )
    .unwrap();
    let mut cmd = world.sec(&["shield", "--"]);
    cmd.args([cargo.to_str().unwrap(), "test", "--offline", "-q"])
        .env("CARGO_HOME", &cargo_home)
        .env("RUSTUP_HOME", &rustup_home)
        .env("PATH", path_with(cargo.parent().unwrap()));
    let out = world.output(cmd);
    out.assert_success();
    assert!(out.stdout.contains("2 passed"), "{out}");
}

#[test]
fn an_npm_test_suite_passes_under_the_shield() {
    let world = World::without_keyring();
    let canary = plant_credentials(&world);
    std::fs::write(
        world.home.join(".npmrc"),
        format!("//registry.npmjs.org/:_authToken={canary}\n"),
    )
    .unwrap();
    std::fs::write(
        world.project.join("package.json"),
        r#"{"name": "tiny", "version": "1.0.0", "scripts": {"test": "node test.js"}}"#,
    )
    .unwrap();
    std::fs::write(
        world.project.join("test.js"),
        "const assert = require('assert');\nconst fs = require('fs');\nconst os = require('os');\n\
         assert.strictEqual(1 + 1, 2);\n\
         assert.ok(!fs.existsSync(os.homedir() + '/.npmrc'), 'the npm token file shows');\n\
         console.log('all tests passed');\n",
    )
    .unwrap();
    let out = world.run(&["shield", "--", "npm", "test"]);
    out.assert_success();
    assert!(out.stdout.contains("all tests passed"), "{out}");
    assert!(
        !out.stdout.contains(&canary) && !out.stderr.contains(&canary),
        "{out}"
    );
}

#[test]
fn a_make_check_passes_under_the_shield() {
    let world = World::without_keyring();
    plant_credentials(&world);
    std::fs::write(
        world.project.join("Makefile"),
        "check: build/out.txt\n\ttest \"$$(cat build/out.txt)\" = 42\n\ttest ! -e $$HOME/.netrc\n\t@echo check passed\n\n\
         build/out.txt:\n\tmkdir -p build\n\texpr 6 \\* 7 > $@\n",
    )
    .unwrap();
    let out = world.run(&["shield", "--", "make", "check"]);
    out.assert_success();
    assert!(out.stdout.contains("check passed"), "{out}");
    assert!(world.project.join("build/out.txt").exists());
}

/// The program's path on this process's PATH; a missing tool fails the test with a sentence.
fn which(program: &str) -> PathBuf {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("{program} is not on PATH: install it (this test runs it under the shield)")
        })
}

fn home_of_this_process() -> PathBuf {
    PathBuf::from(std::env::var_os("HOME").expect("HOME is not set for the test process"))
}

/// The world's PATH with `dir` in front.
fn path_with(dir: &Path) -> String {
    format!("{}:/usr/local/bin:/usr/bin:/bin", dir.display())
}
