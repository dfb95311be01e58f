//! The ways out of `sec shield` that a hostile test suite running as the user tries, one
//! test each. Every test first runs the attack without the shield, as a control that must
//! succeed (so the test can fail), then under the shield, where it must not.
//!
//! Long because every way out is a test of its own, with its control.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

use sec_tests::shield::{CONNECT_UNIX, LISTEN_UNIX, plant_credentials, shielded, unshielded};
use sec_tests::{World, unique, wait_until};

/// A directory outside /tmp and outside the world's home, where sockets and programs of the
/// user's may live (a Homebrew prefix, a multiplexer's socket directory). Short, for socket
/// paths.
fn outside_dir(prefix: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("cannot create a directory under CARGO_TARGET_TMPDIR")
}

/// A process that listens on a Unix socket at `path` until dropped.
struct Listener(Child);

impl Listener {
    fn start(world: &World, path: &Path) -> Listener {
        let child = world
            .command("python3")
            .args(["-c", LISTEN_UNIX])
            .arg(path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot start python3 (install python3)");
        wait_until("the socket to listen", || path.exists());
        Listener(child)
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A process of the user's outside the shield: `sleep 300`.
fn sleeper(world: &World) -> Child {
    let mut cmd = world.command("sleep");
    cmd.arg("300");
    cmd.spawn().expect("cannot start sleep")
}

/// Runs `program ARGS` in the world and insists it succeeds.
fn must_run(world: &World, program: &str, args: &[&str]) {
    let mut cmd = world.command(program);
    cmd.args(args);
    world.output(cmd).assert_success();
}

#[test]
fn a_tmux_server_outside_cannot_be_driven() {
    let world = World::without_keyring();
    let dir = outside_dir("tmux");
    let socket = dir.path().join("s");
    let socket_text = socket.to_str().unwrap();
    // The user's own session: a shell in a pane, outside any shield. (tmux runs the pane's
    // command through $SHELL, which for a system user may be nologin.)
    let mut start = world.command("tmux");
    start
        .args([
            "-S",
            socket_text,
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-s",
            "main",
            "sh",
        ])
        .env("SHELL", "/bin/sh");
    world.output(start).assert_success();
    let pwned = world.project.join("pwned");
    let tmux_var = format!("{socket_text},1,0");
    let env = [("SOCK", socket_text), ("PWNED", pwned.to_str().unwrap())];
    let script = "tmux -S \"$SOCK\" send-keys -t main \"touch $PWNED\" Enter";

    unshielded(&world, script, &env).assert_success();
    wait_until("the control to type into the pane", || pwned.exists());
    std::fs::remove_file(&pwned).unwrap();

    let mut cmd = world.sec(&["shield", "--keep-env", "SOCK", "--keep-env", "PWNED", "--"]);
    cmd.args(["sh", "-c", script])
        .envs(env)
        .env("TMUX", &tmux_var);
    let inside = world.output(cmd);
    inside.assert_failure();
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        !pwned.exists(),
        "the shielded command typed into the pane:\n{inside}"
    );
    must_run(&world, "tmux", &["-S", socket_text, "kill-server"]);
}

#[test]
fn a_screen_session_outside_cannot_be_driven() {
    let world = World::without_keyring();
    let dir = outside_dir("scr");
    sec_tests::chmod(dir.path(), 0o700);
    let screen_dir = dir.path().to_str().unwrap();
    let name = unique("s");
    let pwned = world.project.join("pwned");
    let env = [
        ("SCREENDIR", screen_dir),
        ("PWNED", pwned.to_str().unwrap()),
    ];
    let mut start = world.command("screen");
    start.args(["-dmS", &name, "sh"]).envs(env);
    world.output(start).assert_success();
    let script = format!("screen -S {name} -X stuff \"touch $PWNED\\n\"");

    unshielded(&world, &script, &env).assert_success();
    wait_until("the control to type into the screen window", || {
        pwned.exists()
    });
    std::fs::remove_file(&pwned).unwrap();

    let mut cmd = world.sec(&[
        "shield",
        "--keep-env",
        "SCREENDIR",
        "--keep-env",
        "PWNED",
        "--",
    ]);
    cmd.args(["sh", "-c", &script])
        .envs(env)
        .env("STY", format!("1.{name}"));
    let inside = world.output(cmd);
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        !pwned.exists(),
        "the shielded command typed into screen:\n{inside}"
    );
    let mut quit = world.command("screen");
    quit.args(["-S", &name, "-X", "quit"]).envs(env);
    world.output(quit);
}

#[test]
fn an_agent_socket_in_an_unexpected_place_is_out_of_reach() {
    let world = World::without_keyring();
    let agent = world.home.join(".1password/agent.sock");
    std::fs::create_dir_all(agent.parent().unwrap()).unwrap();
    std::fs::create_dir_all(world.home.join(".ssh")).unwrap();
    std::fs::write(
        world.home.join(".ssh/config"),
        format!("Host *\n  IdentityAgent {}\n", agent.display()),
    )
    .unwrap();
    let _listener = Listener::start(&world, &agent);
    // And one outside the home and /tmp, where no list would look.
    let dir = outside_dir("agt");
    let other = dir.path().join("agent.sock");
    let _other = Listener::start(&world, &other);
    let env = [
        ("CONNECT", CONNECT_UNIX),
        ("AGENT", agent.to_str().unwrap()),
        ("OTHER", other.to_str().unwrap()),
        ("SSH_AUTH_SOCK", other.to_str().unwrap()),
    ];
    let script = "python3 -c \"$CONNECT\" \"$AGENT\" && echo agent-reached; \
                  python3 -c \"$CONNECT\" \"$OTHER\" && echo other-reached; \
                  echo \"sock=$SSH_AUTH_SOCK\"";
    let outside = unshielded(&world, script, &env);
    assert!(outside.stdout.contains("agent-reached"), "{outside}");
    assert!(outside.stdout.contains("other-reached"), "{outside}");

    let mut cmd = world.sec(&["shield"]);
    for name in ["CONNECT", "AGENT", "OTHER"] {
        cmd.args(["--keep-env", name]);
    }
    cmd.args(["--", "sh", "-c", script]).envs(env);
    let inside = world.output(cmd);
    assert!(!inside.stdout.contains("reached"), "{inside}");
    assert!(
        inside.stdout.contains("sock=\n"),
        "SSH_AUTH_SOCK passed:\n{inside}"
    );

    // Passed on purpose, the agent shows, with a warning that says what that opens.
    let mut cmd = world.sec(&[
        "shield",
        "--keep-env",
        "SSH_AUTH_SOCK",
        "--keep-env",
        "CONNECT",
    ]);
    cmd.args([
        "--",
        "sh",
        "-c",
        "python3 -c \"$CONNECT\" \"$SSH_AUTH_SOCK\" && echo reached",
    ])
    .envs(env);
    let opened = world.output(cmd);
    assert!(opened.stdout.contains("reached"), "{opened}");
    opened.assert_stderr_contains(&["SSH_AUTH_SOCK passes", "every key your ssh-agent holds"]);
}

/// `git init` with a first commit in the project.
fn git_repository(world: &World) {
    for args in [
        &["init", "-q"][..],
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.invalid",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "first",
        ],
    ] {
        must_run(world, "git", args);
    }
}

/// What a hostile test suite plants in the project for the user's next unshielded command.
const PLANT: &str = "git config core.fsmonitor \"touch $PWNED.fsmonitor; false\"; \
    git config alias.st \"!touch $PWNED.alias\"; \
    printf '#!/bin/sh\\ntouch %s.hook\\n' \"$PWNED\" > .git/hooks/post-checkout; chmod +x .git/hooks/post-checkout; \
    echo \"touch $PWNED.envrc\" > .envrc; \
    printf '[env]\\nX = \"y\"\\n' > .sec.toml; true";

/// What the user does next, outside any shield.
fn user_runs_git(world: &World) {
    for args in [
        &["status", "--short"][..],
        &["st"],
        &["checkout", "-q", "HEAD"],
    ] {
        let mut cmd = world.command("git");
        cmd.args(args);
        world.output(cmd);
    }
}

fn planted(world: &World) -> Vec<String> {
    std::fs::read_dir(world.root())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("pwned"))
        .collect()
}

#[test]
fn nothing_planted_in_the_project_runs_later() {
    let world = World::without_keyring();
    git_repository(&world);
    let pwned = world.root().join("pwned");
    let env = [("PWNED", pwned.to_str().unwrap())];
    let config_before = std::fs::read(world.project.join(".git/config")).unwrap();

    // The control: planted without the shield, the user's next `git status` runs it.
    unshielded(&world, PLANT, &env).assert_success();
    user_runs_git(&world);
    let mut ran = planted(&world);
    ran.sort();
    assert_eq!(
        ran,
        ["pwned.alias", "pwned.fsmonitor", "pwned.hook"],
        "the control must run"
    );
    for name in ran {
        std::fs::remove_file(world.root().join(name)).unwrap();
    }
    std::fs::write(world.project.join(".git/config"), &config_before).unwrap();
    std::fs::remove_file(world.project.join(".git/hooks/post-checkout")).unwrap();
    std::fs::remove_file(world.project.join(".envrc")).unwrap();
    std::fs::remove_file(world.project.join(".sec.toml")).unwrap();

    let out = shielded(&world, &[], PLANT, &env);
    out.assert_success();
    user_runs_git(&world);
    assert!(planted(&world).is_empty(), "planted code ran:\n{out}");
    assert_eq!(
        std::fs::read(world.project.join(".git/config")).unwrap(),
        config_before
    );
    assert!(!world.project.join(".git/hooks/post-checkout").exists());
    for name in [".envrc", ".sec.toml"] {
        assert!(!world.project.join(name).exists(), "{name} stayed:\n{out}");
        let aside = world.project.join(format!("{name}.sec-shield-moved"));
        assert!(aside.exists(), "{name} was not moved aside:\n{out}");
    }
    out.assert_stderr_contains(&[
        ".envrc, which a tool would run or load later",
        "moved it to",
    ]);

    // A test suite that commits says so, and then may.
    let commit = shielded(
        &world,
        &["--writable-git"],
        "git config user.name t && git config user.email t@example.invalid && git commit -q --allow-empty -m second && echo committed",
        &[],
    );
    assert!(commit.stdout.contains("committed"), "{commit}");
}

#[test]
fn nothing_the_command_starts_outlives_it() {
    let world = World::without_keyring();
    let leak = world.project.join("leak");
    let env = [("LEAK", leak.to_str().unwrap())];
    // Sleeps past the shield's end, then reads a credential file made after it started.
    let script = "setsid sh -c 'sleep 1.5; cat ~/.netrc > \"$LEAK\" 2>&1; echo survived >> \"$LEAK\"' >/dev/null 2>&1 < /dev/null & echo started";

    let outside = unshielded(&world, script, &env);
    assert!(outside.stdout.contains("started"));
    let canary = unique("late-canary");
    std::fs::write(world.home.join(".netrc"), &canary).unwrap();
    wait_until("the control's survivor", || {
        std::fs::read_to_string(&leak).is_ok_and(|t| t.contains("survived"))
    });
    assert!(std::fs::read_to_string(&leak).unwrap().contains(&canary));
    std::fs::remove_file(&leak).unwrap();
    std::fs::remove_file(world.home.join(".netrc")).unwrap();

    let inside = shielded(&world, &[], script, &env);
    inside.assert_success();
    std::fs::write(world.home.join(".netrc"), &canary).unwrap();
    std::thread::sleep(Duration::from_secs(3));
    assert!(!leak.exists(), "a process outlived the shield:\n{inside}");
}

#[test]
fn processes_outside_are_invisible_and_out_of_signal_reach() {
    let world = World::without_keyring();
    let mut victim = sleeper(&world);
    let pid = victim.id().to_string();
    let env = [("VICTIM", pid.as_str())];
    let script = "test -e /proc/$VICTIM && echo seen; kill -STOP $VICTIM && echo signalled; ps -e -o pid= | wc -l";

    let outside = unshielded(&world, script, &env);
    assert!(
        outside.stdout.contains("seen") && outside.stdout.contains("signalled"),
        "{outside}"
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(victim.id() as i32),
        nix::sys::signal::Signal::SIGCONT,
    )
    .unwrap();

    let inside = shielded(&world, &[], script, &env);
    assert!(!inside.stdout.contains("seen"), "{inside}");
    assert!(!inside.stdout.contains("signalled"), "{inside}");
    let count: usize = inside
        .stdout
        .lines()
        .last()
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(count <= 5, "the shield shows {count} processes:\n{inside}");
    let _ = victim.kill();
    let _ = victim.wait();
}

#[test]
fn places_outside_the_home_that_the_user_can_write_stay_unchanged() {
    let world = World::without_keyring();
    // A Homebrew-like prefix on PATH, owned by the user, outside the home.
    let prefix = outside_dir("brew");
    let bin = prefix.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let host_tmp = world.root().join("tmp-mark");
    let env = [
        ("BIN", bin.to_str().unwrap()),
        ("MARK", host_tmp.to_str().unwrap()),
    ];
    let script = "printf '#!/bin/sh\\necho planted\\n' > \"$BIN/git\" && echo wrote-bin; \
                  echo x > \"$MARK\" && echo wrote-tmp; echo x > /dev/shm/sec-shield-mark && echo wrote-shm";
    let outside = unshielded(&world, script, &env);
    assert!(
        outside.stdout.contains("wrote-bin") && outside.stdout.contains("wrote-tmp"),
        "{outside}"
    );
    std::fs::remove_file(bin.join("git")).unwrap();
    std::fs::remove_file(&host_tmp).unwrap();
    let _ = std::fs::remove_file("/dev/shm/sec-shield-mark");

    let inside = shielded(&world, &[], script, &env);
    assert!(!inside.stdout.contains("wrote-bin"), "{inside}");
    assert!(inside.stderr.contains("Read-only file system"), "{inside}");
    assert!(!bin.join("git").exists());
    // /tmp and /dev/shm are the shield's own: writes there vanish with it.
    assert!(!host_tmp.exists(), "{inside}");
    assert!(!Path::new("/dev/shm/sec-shield-mark").exists(), "{inside}");
}

#[test]
fn inherited_descriptors_are_closed_unless_passed() {
    let world = World::without_keyring();
    let canary = plant_credentials(&world);
    let key = world.home.join(".ssh/id_ed25519");
    let open_and_run = |inner: &str| -> sec_tests::Output {
        let mut cmd = world.command("sh");
        cmd.args(["-c", &format!("exec 7<\"$KEY\"; {inner}")])
            .env("KEY", &key)
            .env("SEC", sec_tests::sec_bin());
        world.output(cmd)
    };
    let outside = open_and_run("sh -c 'cat <&7'");
    assert!(outside.stdout.contains(&canary), "{outside}");
    let inside = open_and_run("\"$SEC\" shield -- sh -c 'cat <&7'");
    assert!(!inside.stdout.contains(&canary), "{inside}");
    inside.assert_stderr_contains(&["Bad file descriptor"]);
    let passed = open_and_run("\"$SEC\" shield --keep-fd 7 -- sh -c 'cat <&7'");
    assert!(passed.stdout.contains(&canary), "{passed}");
}

#[test]
fn the_home_mounted_a_second_time_is_covered_too() {
    let world = World::without_keyring();
    let canary = plant_credentials(&world);
    // Another mount of the home, where no path rule looks: made in a mount namespace of the
    // test's own, so the host stays as it was.
    let alias: PathBuf = ["/srv", "/mnt", "/opt"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_dir())
        .expect("no /srv, /mnt or /opt to mount on");
    let run = |inner: &str| {
        let mut cmd = world.command("unshare");
        cmd.args(["--user", "--map-current-user", "--mount", "sh", "-c"])
            .arg(format!(
                "mount --bind \"$HOME\" \"$ALIAS\" 2>/dev/null || {{ echo cannot-mount; exit 3; }}; {inner}"
            ))
            .env("ALIAS", &alias)
            .env("SEC", sec_tests::sec_bin());
        world.output(cmd)
    };
    // An unprivileged user may not bind-mount in a user namespace mapped to itself on every
    // kernel; as root, or where allowed, the control reads the key through the alias.
    let outside = run("cat \"$ALIAS/.ssh/id_ed25519\"");
    if outside.stdout.contains("cannot-mount") {
        let mapped = {
            let mut cmd = world.command("unshare");
            cmd.args(["--user", "--map-root-user", "--mount", "sh", "-c"])
                .arg("mount --bind \"$HOME\" \"$ALIAS\" && cat \"$ALIAS/.ssh/id_ed25519\" && \"$SEC\" shield -- cat \"$ALIAS/.ssh/id_ed25519\"")
                .env("ALIAS", &alias)
                .env("SEC", sec_tests::sec_bin());
            world.output(cmd)
        };
        assert_eq!(mapped.stdout.matches(&canary).count(), 1, "{mapped}");
        return;
    }
    assert!(
        outside.stdout.contains(&canary),
        "the control must read the key:\n{outside}"
    );
    let inside = run("\"$SEC\" shield -- cat \"$ALIAS/.ssh/id_ed25519\"");
    assert!(!inside.stdout.contains(&canary), "{inside}");
}

#[test]
fn the_kernel_keyring_is_out_of_reach() {
    let world = World::without_keyring();
    let canary = unique("key-canary");
    let name = unique("sec:shield-test");
    // A session keyring of the test's own, with one key in it, as sec's keyutils store makes.
    let script = "id=$(keyctl add user \"$NAME\" \"$CANARY\" @s) || exit 9; \
                  \"$@\" sh -c 'grep -c \"$NAME\" /proc/keys; keyctl print '$id'; keyctl show @s'";
    let run = |prefix: &[&str]| {
        let mut cmd = world.command("keyctl");
        cmd.args(["session", "-", "sh", "-c", script, "sh"])
            .args(prefix)
            .env("NAME", &name)
            .env("CANARY", &canary);
        world.output(cmd)
    };
    let outside = run(&["env"]);
    assert!(
        outside.stdout.contains(&canary),
        "the control must read the key:\n{outside}"
    );
    let sec = sec_tests::sec_bin();
    let inside = run(&[sec.to_str().unwrap(), "shield", "--keep-env", "NAME", "--"]);
    assert!(!inside.stdout.contains(&canary), "{inside}");
    assert!(
        inside.stdout.starts_with("0\n"),
        "/proc/keys lists the key:\n{inside}"
    );
    assert!(!inside.stdout.contains(&name), "{inside}");
}

#[test]
fn a_broken_config_refuses_instead_of_shielding_less() {
    let world = World::without_keyring();
    world.write_config("[shield]\nhide_env = [\"RUST_LOG\"]\n");
    world.run(&["daemon", "start"]).assert_success();
    let probe = ["shield", "--", "sh", "-c", "echo ran; echo log=$RUST_LOG"];
    let mut good = world.sec(&probe);
    good.env("RUST_LOG", "debug");
    let out = world.output(good);
    assert!(
        out.stdout.contains("ran") && out.stdout.contains("log=\n"),
        "{out}"
    );

    world.write_config("[shield]\nhide_env = [\"RUST_LOG\"\n");
    for restart in [false, true] {
        if restart {
            world.run(&["daemon", "stop"]).assert_success();
            world.run(&["daemon", "start"]).assert_success();
        }
        let mut cmd = world.sec(&probe);
        cmd.env("RUST_LOG", "debug");
        let out = world.output(cmd);
        out.assert_code(125);
        out.assert_stderr_contains(&["config.toml:2", "Nothing was run"]);
        assert!(!out.stdout.contains("ran"), "{out}");
    }
}

#[test]
fn the_shields_own_processes_cannot_be_traced_or_read() {
    let world = World::without_keyring();
    // The control: a process of the user's, outside, is open to its own user.
    let mut outside = sleeper(&world);
    let environ = format!("/proc/{}/environ", outside.id());
    assert!(
        std::fs::read(&environ).is_ok(),
        "the control must read {environ}"
    );
    let _ = outside.kill();
    let _ = outside.wait();
    // Inside, PID 1 is the shield's init, which holds the power over its mounts.
    let out = shielded(
        &world,
        &[],
        "cat /proc/1/environ >/dev/null && echo environ-read; \
         python3 -c 'import ctypes, sys; libc = ctypes.CDLL(None, use_errno=True); sys.exit(0 if libc.ptrace(16, 1, 0, 0) == 0 else 1)' && echo attached; true",
        &[],
    );
    out.assert_success();
    assert!(!out.stdout.contains("environ-read"), "{out}");
    assert!(!out.stdout.contains("attached"), "{out}");
}
