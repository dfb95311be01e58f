//! `sec shield -- CMD`: credentials planted in the world's HOME, environment, keyring and
//! agents are out of reach of the command, and in reach of the same command outside; the
//! project stays writable, $HOME does not; exit status and signals pass through; a real
//! pytest suite passes under the shield; `[[untrusted]]` directories; and where user
//! namespaces are unavailable, a refusal instead of an unshielded run.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use sec_tests::{Venv, World, toml_string, unique, wait_output, wait_until};

/// Credential files with a canary each, in the world's HOME.
const PLANTED: &[&str] = &[".ssh/id_ed25519", ".netrc", ".pypirc", "corp/badge.key"];

/// Connects to a Unix socket (exit 0) or fails (exit 1).
const CONNECT_UNIX: &str = "import socket, sys\ns = socket.socket(socket.AF_UNIX)\ntry:\n    s.connect(sys.argv[1])\nexcept OSError as e:\n    sys.exit(f'{e}')\n";

/// Connects to the abstract Unix socket named by its argument (exit 0) or fails.
const CONNECT_ABSTRACT: &str = "import socket, sys\ns = socket.socket(socket.AF_UNIX)\ntry:\n    s.connect('\\0' + sys.argv[1])\nexcept OSError as e:\n    sys.exit(f'{e}')\n";

/// Connects to 127.0.0.1:PORT (exit 0) or fails (exit 1).
const CONNECT_TCP: &str = "import socket, sys\ntry:\n    socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=2)\nexcept OSError as e:\n    sys.exit(f'{e}')\n";

/// Types one character into a fresh controlling terminal with TIOCSTI (exit 0) or fails.
const TIOCSTI: &str = "import fcntl, os, pty, sys, termios
m, s = pty.openpty()
name = os.ttyname(s)
pid = os.fork()
if pid == 0:
    os.setsid()
    fd = os.open(name, os.O_RDWR)
    try:
        fcntl.ioctl(fd, termios.TIOCSTI, b'x')
    except OSError as e:
        print(e, file=sys.stderr)
        os._exit(1)
    os._exit(0)
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
";

/// Plants a canary in each of [`PLANTED`]; returns the canary.
fn plant_credentials(world: &World) -> String {
    let canary = unique("canary");
    for file in PLANTED {
        let path = world.home.join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, format!("{canary}\n")).unwrap();
    }
    std::fs::write(world.home.join(".bashrc"), "# the user's own\n").unwrap();
    canary
}

/// `sh -c SCRIPT` under `sec shield ARGS`, in the project, with extra environment.
fn shielded(world: &World, args: &[&str], script: &str, env: &[(&str, &str)]) -> sec_tests::Output {
    let mut cmd = world.sec(&["shield"]);
    cmd.args(args)
        .args(["--", "sh", "-c", script])
        .envs(env.iter().copied());
    world.output(cmd)
}

/// The same script without the shield.
fn unshielded(world: &World, script: &str, env: &[(&str, &str)]) -> sec_tests::Output {
    let mut cmd = world.command("sh");
    cmd.args(["-c", script]).envs(env.iter().copied());
    world.output(cmd)
}

const TOKENS: &[(&str, &str)] = &[
    ("GH_TOKEN", "gh-token-value"),
    ("TWINE_PASSWORD", "twine-password-value"),
    ("MY_API_KEY", "my-api-key-value"),
    ("AWS_SECRET_ACCESS_KEY", "aws-secret-value"),
    ("CORP_LOGIN", "corp-login-value"),
    ("CI_JOB_TOKEN", "kept-token-value"),
    ("ORDINARY", "ordinary-value"),
];

#[test]
fn credentials_are_out_of_reach_inside_and_in_reach_outside() {
    let world = World::new();
    let canary = plant_credentials(&world);
    world.keyring_store("shield", "me", &canary);
    world.write_config(
        "[shield]\nhide_env = [\"CORP_*\"]\nkeep_env = [\"CI_JOB_TOKEN\"]\nhide = [\"~/corp\"]\n",
    );
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
    let mut env: Vec<(&str, &str)> = TOKENS.to_vec();
    env.extend([
        ("BUS", bus.as_str()),
        ("SOCKET", socket.to_str().unwrap()),
        ("CONNECT", CONNECT_UNIX),
    ]);
    let reads = PLANTED
        .iter()
        .map(|f| format!("cat ~/{f} 2>/dev/null;"))
        .collect::<String>();
    let script = format!(
        "{reads} echo ids $(id -u) $(id -g); env; \
         if DBUS_SESSION_BUS_ADDRESS=\"$BUS\" secret-tool lookup service shield username me; then echo keyring-reached; fi; \
         if python3 -c \"$CONNECT\" \"$SOCKET\"; then echo secd-reached; fi; \
         umount ~/.ssh 2>/dev/null; umount -l ~/.ssh 2>/dev/null; cat ~/.ssh/id_ed25519 2>/dev/null; true"
    );

    let outside = unshielded(&world, &script, &env);
    outside.assert_success();
    assert_eq!(
        outside.stdout.matches(&canary).count(),
        PLANTED.len() + 2,
        "{outside}"
    );
    assert!(outside.stdout.contains("secd-reached"), "{outside}");
    for (name, value) in TOKENS {
        assert!(
            outside.stdout.contains(&format!("{name}={value}")),
            "{outside}"
        );
    }

    let inside = shielded(&world, &[], &script, &env);
    inside.assert_success();
    assert!(
        !inside.stdout.contains(&canary),
        "a credential leaked:\n{inside}"
    );
    assert!(!inside.stdout.contains("keyring-reached"), "{inside}");
    assert!(!inside.stdout.contains("secd-reached"), "{inside}");
    for (name, value) in &TOKENS[..5] {
        assert!(!inside.stdout.contains(value), "{name} leaked:\n{inside}");
    }
    assert!(
        inside.stdout.contains("CI_JOB_TOKEN=kept-token-value"),
        "keep_env:\n{inside}"
    );
    assert!(
        inside.stdout.contains("ORDINARY=ordinary-value"),
        "{inside}"
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
fn the_project_is_writable_and_home_is_not() {
    let world = World::without_keyring();
    plant_credentials(&world);
    let out = shielded(
        &world,
        &[],
        "echo built > artifact && echo sneaky >> ~/.bashrc",
        &[],
    );
    out.assert_failure();
    assert_eq!(
        std::fs::read_to_string(world.project.join("artifact")).unwrap(),
        "built\n"
    );
    assert!(out.stderr.contains("Read-only file system"), "{out}");
    assert_eq!(
        std::fs::read_to_string(world.home.join(".bashrc")).unwrap(),
        "# the user's own\n"
    );
    // --writable gives one path under $HOME back.
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
}

#[test]
fn allow_keeps_one_hidden_path_visible() {
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

    let ready = world.root().join("ready");
    let got = world.root().join("got-term");
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
        toml_string(&bugs.to_string_lossy())
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

#[test]
fn show_prints_the_plan_and_runs_nothing() {
    let world = World::without_keyring();
    plant_credentials(&world);
    let mut cmd = world.sec(&["shield", "--show"]);
    cmd.env("GH_TOKEN", "x");
    let out = world.output(cmd);
    out.assert_success();
    for needle in [
        format!("hidden      {} (empty)", world.home.join(".ssh").display()),
        format!(
            "hidden      {} (/dev/null)",
            world.home.join(".netrc").display()
        ),
        format!("hidden      {} (empty)", world.runtime_dir.display()),
        format!("read-only   {}", world.home.display()),
        "unset       GH_TOKEN".to_string(),
    ] {
        assert!(out.stdout.contains(&needle), "no `{needle}`:\n{out}");
    }
}
