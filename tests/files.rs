//! Secrets delivered as short-lived files (`as = "file"`): private while the child runs,
//! gone when the lease ends however it ends, and read by real consumers (twine's
//! `--config-file`). Values come from the `op` stand-in (1Password's CLI cannot be installed
//! here) or the private Secret Service.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use sec_tests::{
    PackageIndex, Venv, World, build_demo_wheel, shell_quoted, unique, wait_output, wait_until,
};

const NETRC_TEXT: &str = "machine example.invalid login me password s3cret-netrc";

/// A scope whose NETRC variable is a file holding the op item `op://V/netrc/file`.
fn netrc_world(on_revoke: &str) -> World {
    let world = World::without_keyring();
    world.op_standin().add_item("op://V/netrc/file", NETRC_TEXT);
    world.write_config(&format!(
        "[[scope]]\ndir = {{project}}\non_revoke = \"{on_revoke}\"\n[scope.env]\n\
         NETRC = {{ secret = \"op://V/netrc/file\", as = \"file\", name = \".netrc\" }}\n"
    ));
    world
}

/// Starts `sec exec` with a child that reports `$NETRC`'s path, mode and content, signals
/// readiness, and then waits for `go` (or loops forever when `go` is None).
fn start_child(world: &World, report: &Path, go: Option<&Path>) -> std::process::Child {
    let wait = match go {
        Some(go) => format!("while [ ! -e {} ]; do sleep 0.05; done", shell_quoted(go)),
        None => "while :; do sleep 0.05; done".to_string(),
    };
    let script = format!(
        "{{ echo $$; printf '%s\\n' \"$NETRC\"; stat -c %a \"$NETRC\"; stat -c %a \"$(dirname \"$NETRC\")\"; cat \"$NETRC\"; }} > {tmp} && mv {tmp} {report}; {wait}",
        tmp = shell_quoted(&report.with_extension("tmp")),
        report = shell_quoted(report),
    );
    let mut cmd = world.sec(&["exec", "--", "sh", "-c", &script]);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.spawn().expect("cannot start sec exec")
}

/// Kills `sec` with SIGKILL, then its orphaned child (whose pid heads the report), which
/// would otherwise loop on and hold the test's pipes.
fn kill_sec_and_child(mut sec: std::process::Child, report: &Path) {
    kill(Pid::from_raw(sec.id() as i32), Signal::SIGKILL).unwrap();
    let _ = sec.wait();
    let text = std::fs::read_to_string(report).unwrap();
    let child: i32 = text.lines().next().unwrap().parse().unwrap();
    let _ = kill(Pid::from_raw(child), Signal::SIGKILL);
}

/// Waits for the child's report: (path, file mode, directory mode, content).
fn read_report(report: &Path) -> (PathBuf, String, String, String) {
    wait_until("the child's report", || report.exists());
    let text = std::fs::read_to_string(report).unwrap();
    let mut lines = text.lines().skip(1);
    let path = PathBuf::from(lines.next().unwrap());
    let mode = lines.next().unwrap().to_string();
    let dir_mode = lines.next().unwrap().to_string();
    (path, mode, dir_mode, lines.collect::<Vec<_>>().join("\n"))
}

#[test]
fn a_file_is_private_while_the_child_runs_and_gone_after_it_exits() {
    let world = netrc_world("terminate");
    let report = world.root().join("report");
    let go = world.root().join("go");
    let child = start_child(&world, &report, Some(&go));
    let (path, mode, dir_mode, content) = read_report(&report);
    assert_eq!((mode.as_str(), dir_mode.as_str()), ("600", "700"));
    assert_eq!(content, NETRC_TEXT);
    assert_eq!(path.file_name().unwrap(), ".netrc");
    assert!(
        path.starts_with(world.sec_runtime_dir()),
        "{}",
        path.display()
    );
    std::fs::write(&go, "").unwrap();
    wait_output(child, "sec exec").assert_success();
    wait_until("the file to go", || !path.exists());
    assert!(
        !path.parent().unwrap().exists(),
        "the lease directory stayed"
    );
}

#[test]
fn revoke_removes_the_file_and_stops_the_child() {
    let world = netrc_world("terminate");
    let report = world.root().join("report");
    let child = start_child(&world, &report, None);
    let (path, ..) = read_report(&report);
    world.run(&["revoke"]).assert_success();
    // The command replaced its sec (the lean path): secd stops it with SIGTERM.
    let out = wait_output(child, "sec exec");
    out.assert_signal(15);
    assert!(!path.exists(), "the file outlived the revoked lease");
}

#[test]
fn a_killed_sec_leaves_no_file_behind() {
    let world = netrc_world("keep");
    let report = world.root().join("report");
    let child = start_child(&world, &report, None);
    let (path, ..) = read_report(&report);
    kill_sec_and_child(child, &report);
    // The lease's stream closed with sec: the daemon removes the file.
    wait_until("the daemon to remove the file", || !path.exists());
}

#[test]
fn files_left_by_a_killed_daemon_are_gone_at_its_next_start() {
    let world = netrc_world("keep");
    let report = world.root().join("report");
    let child = start_child(&world, &report, None);
    let (path, ..) = read_report(&report);
    let daemon = world.daemon_pid();
    kill(Pid::from_raw(daemon as i32), Signal::SIGKILL).unwrap();
    kill_sec_and_child(child, &report);
    assert!(
        path.exists(),
        "with the daemon killed nobody can have removed the file yet"
    );
    // Nobody could clean up: the file may still be there. The next daemon removes it.
    world.run(&["daemon", "start"]).assert_success();
    assert!(
        !path.exists(),
        "a leftover secret file survived the daemon's restart"
    );
}

#[test]
fn twine_reads_its_config_file_from_a_delivered_pypirc() {
    let venv = Venv::shared(Path::new(env!("CARGO_TARGET_TMPDIR")));
    let world = World::new();
    let token = unique("pypirc-token");
    let index = PackageIndex::start(&venv, &world.root().join("index"), "__token__", &token);
    build_demo_wheel(
        &venv,
        &world.root().join("wheel-src"),
        &world.project.join("dist"),
    );
    let pypirc = format!(
        "[distutils]\nindex-servers =\n    local\n\n[local]\nrepository = {}\nusername = __token__\npassword = {token}\n",
        index.url
    );
    world
        .run_with_stdin(&["set", "keyring:pypi/rc"], &pypirc)
        .assert_success();
    world.write_config(
        "[[scope]]\ndir = {project}\n[scope.env]\n\
         PYPIRC = { secret = \"keyring:pypi/rc\", as = \"file\", name = \".pypirc\" }\n",
    );
    let mut cmd = world.sec(&[
        "exec",
        "--",
        "sh",
        "-c",
        "\"$1\" upload --non-interactive --config-file \"$PYPIRC\" -r local dist/*",
        "sh",
    ]);
    cmd.arg(venv.bin("twine"));
    let out = world.output(cmd);
    out.assert_success();
    assert!(
        !index.files().is_empty(),
        "nothing reached the index:\n{out}"
    );
    assert!(
        !out.stdout.contains(&token) && !out.stderr.contains(&token),
        "{out}"
    );
}
