//! End-to-end: the built `sec` and `secd` against a private Secret Service (gnome-keyring on
//! a D-Bus session bus of the test's own), real children, a real package index, and another
//! real UID. Each test has its own world (see tests/support), so they run in parallel.
//!
//! Long because each headline promise of `sec exec` is one end-to-end test here, with its
//! own setup.
//!
//! 1Password's `op` cannot be installed here: the tests named `op_standin_*` (and the
//! concurrency test) use a stand-in script that answers `op read` like `op` does.

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use sec_tests::{
    Output, PackageIndex, SEC_FAILED, Venv, World, build_demo_wheel, chmod, contains, environ_of,
    exe_of, files_holding, find_in_cmdlines, find_in_environs, is_within, processes_with_env,
    project_scope, sec_bin, secd_bin, unique, wait_output, wait_until, write_file_with_mode,
};

// --- Helpers ----------------------------------------------------------------------------

/// `sec exec -- sh -c 'touch MARKER'`: tells whether the child started at all.
fn exec_touching(world: &World, dir: &Path, marker: &Path) -> Output {
    let _ = std::fs::remove_file(marker);
    let mut cmd = world.sec(&["exec", "--", "sh", "-c", "touch \"$1\"", "sh"]);
    cmd.arg(marker).current_dir(dir);
    world.output(cmd)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// Whether `text` holds `config.toml:LINE:COLUMN:`.
fn has_config_position(text: &str) -> bool {
    text.match_indices("config.toml:").any(|(at, needle)| {
        let rest = &text[at + needle.len()..];
        let mut parts = rest.splitn(3, ':');
        let is_number = |s: Option<&str>| {
            s.is_some_and(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        };
        is_number(parts.next()) && is_number(parts.next()) && parts.next().is_some()
    })
}

// --- Secrets reach the child, and only the child ----------------------------------------

#[test]
fn twine_upload_through_sec_exec_reaches_the_local_index() {
    let venv = Venv::shared(Path::new(env!("CARGO_TARGET_TMPDIR")));
    let world = World::new();
    let token = unique("pypi-token");
    let index = PackageIndex::start(&venv, &world.root().join("index"), "__token__", &token);
    build_demo_wheel(
        &venv,
        &world.root().join("wheel-src"),
        &world.project.join("dist"),
    );
    world.write_config(&project_scope(&format!(
        "TWINE_USERNAME = {{ value = \"__token__\" }}\n\
         TWINE_PASSWORD = \"keyring:pypi/demo\"\n\
         TWINE_REPOSITORY_URL = {{ value = \"{}\" }}",
        index.url
    )));

    // An outer bash runs `sec exec -- twine upload`, then dumps its own environment.
    let outer_env = world.root().join("outer-env");
    let upload = || {
        let mut cmd = world.command("bash");
        cmd.args([
            "-c",
            r#""$1" exec -- "$2" upload --non-interactive dist/*; rc=$?; env > "$3"; exit $rc"#,
            "bash",
        ])
        .arg(sec_bin())
        .arg(venv.bin("twine"))
        .arg(&outer_env);
        world.output(cmd)
    };

    // A wrong token first: the index must refuse it, so the success below is the token's.
    let wrong = unique("wrong-token");
    world
        .run_with_stdin(&["set", "keyring:pypi/demo"], &wrong)
        .assert_success();
    let refused = upload();
    refused.assert_failure();
    assert!(
        refused.stdout.contains("403") || refused.stderr.contains("403"),
        "expected a 403:\n{refused}"
    );
    assert!(
        index.files().is_empty(),
        "uploaded with a wrong token: {:?}",
        index.files()
    );

    world
        .run_with_stdin(&["set", "--force", "keyring:pypi/demo"], &token)
        .assert_success();
    // The wrong token may still be cached; the next lookup must go to the keyring.
    world.run(&["revoke"]).assert_success();
    let uploaded = upload();
    uploaded.assert_success();
    assert!(
        index.has_demo_wheel(),
        "the wheel is not in the index: {:?}\n{uploaded}",
        index.files()
    );

    for text in [&uploaded.stdout, &uploaded.stderr] {
        assert!(!text.contains(&token), "the token was printed:\n{uploaded}");
    }
    let outer = read(&outer_env);
    assert!(
        !outer.contains(&token),
        "the token leaked into the calling shell:\n{outer}"
    );
    assert!(
        !outer.contains("TWINE_PASSWORD"),
        "TWINE_PASSWORD is set in the calling shell:\n{outer}"
    );
}

#[test]
fn cache_serves_after_the_keychain_entry_is_deleted_and_revoke_forgets() {
    let world = World::new();
    let value = unique("cached");
    world.keyring_store("pypi", "cache", &value);
    world.write_config(&project_scope("TWINE_PASSWORD = \"keyring:pypi/cache\""));

    let (seen, out) = world.child_sees(&world.project, "TWINE_PASSWORD");
    out.assert_success();
    assert_eq!(seen, value);

    world.keyring_clear("pypi", "cache");
    let (seen, out) = world.child_sees(&world.project, "TWINE_PASSWORD");
    out.assert_success();
    assert_eq!(seen, value, "the cache should still serve the value");

    world.run(&["revoke"]).assert_success();
    let marker = world.root().join("started");
    exec_touching(&world, &world.project, &marker)
        .assert_code(SEC_FAILED)
        .assert_stderr_contains(&["keyring:pypi/cache"]);
    assert!(
        !marker.exists(),
        "the child ran although its secret was missing"
    );
}

#[test]
fn a_two_second_ttl_expires() {
    let world = World::new();
    let value = unique("short-lived");
    world.keyring_store("ttl", "demo", &value);
    world.write_config(
        "[[scope]]\ndir = {project}\nttl = \"2s\"\n[scope.env]\nTOKEN = \"keyring:ttl/demo\"\n",
    );
    let (seen, out) = world.child_sees(&world.project, "TOKEN");
    out.assert_success();
    assert_eq!(seen, value);

    world.keyring_clear("ttl", "demo");
    // The one deliberate sleep: past the 2 s idle TTL.
    std::thread::sleep(Duration::from_secs(3));
    let marker = world.root().join("started");
    exec_touching(&world, &world.project, &marker)
        .assert_code(SEC_FAILED)
        .assert_stderr_contains(&["keyring:ttl/demo"]);
    assert!(
        !marker.exists(),
        "the child ran although its secret had expired"
    );
}

/// How dbus-monitor prints `value`'s bytes: as a string when they are printable, else as
/// hex bytes. A value in either form in its output crossed the bus in clear.
fn monitor_shows(log: &str, value: &str) -> bool {
    let hex: Vec<String> = value.bytes().map(|b| format!("{b:02x}")).collect();
    log.contains(value) || log.contains(&hex.join(" "))
}

/// A hostile process of the user (a test suite outside `sec shield`) can watch the session
/// bus: dbus-monitor, as that user, sees every message. It sees secd store and fetch keychain
/// secrets, yet never a value: they cross the bus inside the Secret Service's encrypted
/// session. Control: a value sent in clear on the same bus, as a string and as bytes, shows.
#[test]
fn a_process_watching_the_session_bus_sees_no_keychain_secret() {
    let world = World::new();
    let log = world.root().join("monitor.log");
    let mut monitor = world.command("dbus-monitor");
    monitor
        .arg("--session")
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(Stdio::null());
    let mut monitor = monitor
        .spawn()
        .expect("cannot run dbus-monitor (apt-get install dbus)");
    wait_until("dbus-monitor to watch the bus", || {
        read(&log).contains("NameLost")
    });

    let in_clear = unique("in-clear");
    let bytes: Vec<String> = in_clear.bytes().map(|b| b.to_string()).collect();
    for arg in [
        format!("string:{in_clear}"),
        format!("array:byte:{}", bytes.join(",")),
    ] {
        let mut send = world.command("dbus-send");
        send.args([
            "--session",
            "--dest=org.freedesktop.DBus",
            "/",
            "sec.Test.Clear",
        ])
        .arg(arg);
        world.output(send);
    }

    let stored = unique("bus-stored");
    world
        .run_with_stdin(&["set", "keyring:bus/watch"], &stored)
        .assert_success();
    world.write_config(&project_scope("TOKEN = \"keyring:bus/watch\""));
    let (seen, out) = world.child_sees(&world.project, "TOKEN");
    out.assert_success();
    assert_eq!(seen, stored);
    let secret_tool_value = unique("secret-tool");
    world.keyring_store("bus", "other", &secret_tool_value);

    wait_until("the monitor to show secd's GetSecret call", || {
        let text = read(&log);
        text.contains("member=CreateItem") && text.contains("member=GetSecret")
    });
    let _ = monitor.kill();
    let _ = monitor.wait();
    let text = read(&log);
    assert!(
        text.contains(&in_clear),
        "control: the monitor does not show a string sent in clear"
    );
    assert!(
        monitor_shows(
            &text.replace(&format!("string \"{in_clear}\""), ""),
            &in_clear
        ),
        "control: the monitor does not show bytes sent in clear"
    );
    assert!(
        !monitor_shows(&text, &stored),
        "a keychain secret crossed the session bus in clear: {}",
        log.display()
    );
}

/// A locked keychain: secd asks the keychain to unlock, which runs the keychain's own
/// prompt (here no prompter can show, as on a headless machine, so the prompt is dismissed).
/// The answer is a sentence saying what to do, at once; the command does not start.
#[test]
fn a_locked_keychain_gets_a_sentence_not_a_hang() {
    let world = World::new();
    let value = unique("locked");
    world.keyring_store("lk", "me", &value);
    // A call to the Secret Service itself, as dbus-send makes it.
    let service_call = |method: &str, arg: String| {
        let mut call = world.command("dbus-send");
        call.args([
            "--session",
            "--print-reply",
            "--dest=org.freedesktop.secrets",
            "/org/freedesktop/secrets",
        ])
        .arg(format!("org.freedesktop.Secret.Service.{method}"))
        .arg(arg);
        world.output(call)
    };
    let alias = service_call("ReadAlias", "string:default".into());
    let collection = alias
        .stdout
        .split('"')
        .nth(1)
        .unwrap_or_else(|| panic!("no default collection: {alias}"))
        .to_string();
    service_call("Lock", format!("array:objpath:{collection}")).assert_success();

    world.write_config(&project_scope("TOKEN = \"keyring:lk/me\""));
    let marker = world.root().join("started");
    let out = exec_touching(&world, &world.project, &marker);
    out.assert_code(SEC_FAILED).assert_stderr_contains(&[
        "keyring:lk/me",
        "unlock prompt",
        "unlock it",
    ]);
    assert!(!marker.exists(), "the child ran without its secret");
    assert!(!out.stderr.contains(&value), "{}", out.stderr);
}

/// Two keychain items answer one reference: sec names the problem and runs nothing rather
/// than pick one.
#[test]
fn two_keychain_items_for_one_reference_are_refused_by_name() {
    let world = World::new();
    let values = [unique("first"), unique("second")];
    for (copy, value) in values.iter().enumerate() {
        let mut store = world.command("secret-tool");
        store.args([
            "store",
            "--label=dup",
            "service",
            "dup",
            "username",
            "me",
            "copy",
        ]);
        store.arg(copy.to_string());
        world.output_with_stdin(store, value).assert_success();
    }
    world.write_config(&project_scope("TOKEN = \"keyring:dup/me\""));
    let marker = world.root().join("started");
    let out = exec_touching(&world, &world.project, &marker);
    out.assert_code(SEC_FAILED)
        .assert_stderr_contains(&["keyring:dup/me", "2 entries match"]);
    assert!(!marker.exists(), "the child ran with an ambiguous secret");
    for value in &values {
        assert!(
            !out.stderr.contains(value.as_str()),
            "a value in the error: {}",
            out.stderr
        );
    }
}

#[test]
fn sec_set_stores_in_the_real_secret_service() {
    let world = World::new();
    let value = unique("stored");
    world
        .run_with_stdin(&["set", "keyring:e2e-service/e2e-account"], &value)
        .assert_success();
    assert_eq!(
        world
            .keyring_lookup("e2e-service", "e2e-account")
            .as_deref(),
        Some(value.as_str())
    );

    // As `pass insert`: an existing value is not replaced without a yes (or --force).
    let other = unique("other");
    world
        .run_with_stdin(&["set", "keyring:e2e-service/e2e-account"], &other)
        .assert_failure()
        .assert_stderr_contains(&["already holds a value", "--force"]);
    assert_eq!(
        world
            .keyring_lookup("e2e-service", "e2e-account")
            .as_deref(),
        Some(value.as_str()),
        "a refused sec set changed the value"
    );
    world
        .run_with_stdin(
            &["set", "--force", "keyring:e2e-service/e2e-account"],
            &other,
        )
        .assert_success()
        .assert_stderr_contains(&["replacing its previous value"]);
    assert_eq!(
        world
            .keyring_lookup("e2e-service", "e2e-account")
            .as_deref(),
        Some(other.as_str())
    );

    world
        .run(&["rm", "keyring:e2e-service/e2e-account"])
        .assert_success();
    assert_eq!(
        world.keyring_lookup("e2e-service", "e2e-account"),
        None,
        "sec rm left the item"
    );
    // Each change is in the audit log, by reference, never the value.
    let log = world.run(&["log", "--json"]).stdout;
    let events: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("keyring:e2e-service/e2e-account"))
        .filter_map(|l| l.split("\"event\":\"").nth(1)?.split('"').next())
        .collect();
    assert_eq!(events, ["store", "store", "delete"], "{log}");
    assert!(!log.contains(&value) && !log.contains(&other));
}

/// Uses the `op` stand-in (1Password's CLI cannot be installed here).
#[test]
fn op_standin_reads_through_op_read() {
    let world = World::without_keyring();
    let op = world.op_standin();
    let value = unique("gh-token");
    op.add_item("op://Private/GitHub/credential", &value);
    let known = world.project.join("known");
    let unknown = world.project.join("unknown");
    std::fs::create_dir_all(&known).unwrap();
    std::fs::create_dir_all(&unknown).unwrap();
    world.write_config(&format!(
        "[[scope]]\ndir = {}\n[scope.env]\nGH_TOKEN = \"op://Private/GitHub/credential\"\n\n\
         [[scope]]\ndir = {}\n[scope.env]\nGH_TOKEN = \"op://Private/Nope/credential\"\n",
        sec_tests::toml_path(&known),
        sec_tests::toml_path(&unknown),
    ));
    let (seen, out) = world.child_sees(&known, "GH_TOKEN");
    out.assert_success();
    assert_eq!(seen, value);
    assert!(
        op.invocations()
            .iter()
            .all(|call| call.starts_with("read ")),
        "secd ran op for something other than `op read`: {:?}",
        op.invocations()
    );

    let marker = world.root().join("started");
    world.run(&["revoke"]).assert_success();
    op.sign_out();
    exec_touching(&world, &known, &marker)
        .assert_code(SEC_FAILED)
        .assert_stderr_contains(&["op signin", "op://Private/GitHub/credential"]);
    assert!(!marker.exists(), "the child ran while op was signed out");

    op.sign_in();
    exec_touching(&world, &unknown, &marker)
        .assert_code(SEC_FAILED)
        .assert_stderr_contains(&["op://Private/Nope/credential"]);
    assert!(
        !marker.exists(),
        "the child ran although its item does not exist"
    );
}

/// Uses the `op` stand-in, slowed down so the lookups would overlap.
#[test]
fn concurrent_cold_requests_look_up_once() {
    let world = World::without_keyring();
    let op = world.op_standin();
    let value = unique("shared");
    op.add_item("op://Private/Shared/credential", &value);
    op.set_delay("0.5");
    world.write_config(&project_scope(
        "SHARED = \"op://Private/Shared/credential\"",
    ));
    // A running daemon, so this is about the cache and not about autostart.
    world.run(&["daemon", "start"]).assert_success();

    let children: Vec<_> = (0..20)
        .map(|_| {
            let mut cmd = world.sec(&["exec", "--", "sh", "-c", "[ \"$SHARED\" = \"$1\" ]", "sh"]);
            cmd.arg(&value);
            cmd.spawn().expect("cannot spawn sec")
        })
        .collect();
    for child in children {
        wait_output(child, "sec exec -- sh -c '[ \"$SHARED\" = VALUE ]'").assert_success();
    }
    assert_eq!(
        op.invocations().len(),
        1,
        "op read calls: {:?}",
        op.invocations()
    );
}

#[test]
fn canary_never_leaks() {
    sec_tests::require_root(
        "to read the environment of sec, which turns non-dumpable once it holds values",
    );
    let world = World::new();
    let canary = unique("canary");
    world.keyring_store("canary", "e2e", &canary);
    world.write_config(&project_scope("CANARY = \"keyring:canary/e2e\""));
    let mut outputs: Vec<Output> = Vec::new();

    // A child that holds the secret in its environment and waits to be released.
    let ready = world.root().join("ready");
    let release = world.root().join("release");
    let mut cmd = world.sec(&[
        "exec",
        "--",
        "sh",
        "-c",
        r#"echo $$ > "$1.tmp" && mv "$1.tmp" "$1"; while [ ! -e "$2" ]; do sleep 0.05; done"#,
        "sh",
    ]);
    cmd.arg(&ready).arg(&release);
    let exec = cmd.spawn().expect("cannot spawn sec exec");
    let sec_pid = exec.id() as i32;
    wait_until("the child to start", || ready.exists());
    let child_pid: i32 = read(&ready)
        .trim()
        .parse()
        .expect("the child wrote its pid");

    // The checks have teeth: the child's environment is readable and holds the canary.
    let child_env = environ_of(child_pid).expect("cannot read the child's environment");
    assert!(
        contains(&child_env, &canary),
        "the child did not get the secret"
    );

    let argv_leaks = find_in_cmdlines(&canary);
    assert!(
        argv_leaks.is_empty(),
        "the canary is in a command line: {argv_leaks:?}"
    );
    // A plain `sec exec --` replaces itself with the command: the process the test started
    // is the child, and its environment got the secret at execve, not before (the test's
    // own environment, the parent's, is searched below with every other process).
    assert_eq!(
        sec_pid, child_pid,
        "sec exec -- sh should have become sh (the lean path)"
    );
    for pid in find_in_environs(&canary) {
        assert_ne!(
            is_within(pid, child_pid),
            Some(false),
            "process {pid} ({:?}) outside the child's tree has the canary in its environment",
            exe_of(pid)
        );
    }

    // secd's own environment: `the_canary_never_reaches_secds_environment` (needs root).
    let status = world.run(&["status", "--json"]);
    status.assert_success();
    outputs.push(status);

    std::fs::write(&release, "").unwrap();
    outputs.push(wait_output(exec, "sec exec -- sh -c 'wait for release'"));
    outputs.last().unwrap().assert_success();

    let ls = world.run(&["ls"]);
    ls.assert_success();
    assert!(
        ls.stdout.contains("CANARY") && ls.stdout.contains("keyring:canary/e2e"),
        "{ls}"
    );
    outputs.push(ls);
    outputs.push(world.run(&["status", "--json"]));
    outputs.push(world.run(&["revoke"]));
    // After the revoke, one more lookup from the keyring: the child gets the real value.
    let (seen, out) = world.child_sees(&world.project, "CANARY");
    outputs.push(out);
    assert_eq!(seen, canary, "the child did not get the secret");

    for out in &outputs {
        out.assert_success();
        assert!(
            !out.stdout.contains(&canary) && !out.stderr.contains(&canary),
            "leaked:\n{out}"
        );
    }
    assert!(
        !world.daemon_log().contains(&canary),
        "the canary is in secd.log"
    );
    // Nor anywhere on disk where sec keeps things (the keyring's own files, under
    // XDG_DATA_HOME, are encrypted and not sec's).
    for dir in [
        &world.home,
        &world.config_home,
        &world.state_home,
        &world.cache_home,
        &world.runtime_dir,
    ] {
        let holding = files_holding(dir, &canary);
        assert!(holding.is_empty(), "the canary is in {holding:?}");
    }
}

#[test]
fn the_canary_never_reaches_secds_environment() {
    // secd is non-dumpable, so its /proc/PID/environ belongs to root: only root
    // (CAP_SYS_PTRACE) can look, and a test that cannot look must not pass.
    sec_tests::require_root("to read the environment of secd, which is non-dumpable");
    let world = World::new();
    let canary = unique("canary");
    world.keyring_store("canary", "e2e", &canary);
    world.write_config(&project_scope("CANARY = \"keyring:canary/e2e\""));
    let (seen, out) = world.child_sees(&world.project, "CANARY");
    out.assert_success();
    assert_eq!(seen, canary, "secd did not look the secret up");
    let secd_pid = world.daemon_pid() as i32;
    let env = environ_of(secd_pid).unwrap_or_else(|e| {
        panic!("cannot read secd's environment as root ({e}); the check cannot run here")
    });
    assert!(!env.is_empty(), "secd's environment reads as empty");
    assert!(
        !contains(&env, &canary),
        "secd's environment holds the secret"
    );
}

// --- Exit codes and signals -------------------------------------------------------------

#[test]
fn exit_codes_follow_env_conventions() {
    let world = World::without_keyring();
    world.write_config(&project_scope("GREETING = { value = \"hi\" }"));

    world
        .run(&["exec", "--", "sh", "-c", "exit 7"])
        .assert_code(7);
    // The lean path replaces sec with the command: the shell sees the command's own death
    // by signal (its `$?` is 143 either way).
    world
        .run(&["exec", "--", "sh", "-c", "kill -TERM $$"])
        .assert_signal(15);
    // A supervising sec (any option) reports it as `env` does: 128 + N.
    world
        .run(&[
            "exec",
            "--only",
            "GREETING",
            "--",
            "sh",
            "-c",
            "kill -TERM $$",
        ])
        .assert_code(128 + 15);
    world
        .run(&["exec", "--", "no-such-program-for-sec-e2e"])
        .assert_code(127);
    write_file_with_mode(
        &world.project.join("not-executable"),
        "#!/bin/sh\nexit 0\n",
        0o644,
    );
    world
        .run(&["exec", "--", "./not-executable"])
        .assert_code(126);
    // Every grant has its end in the audit log, and a command that never ran says so.
    let ends = || {
        world
            .run(&["log", "--json"])
            .stdout
            .lines()
            .filter(|l| l.contains("\"event\":\"end\""))
            .map(String::from)
            .collect::<Vec<_>>()
    };
    wait_until("an end record for each of the five leases", || {
        ends().len() == 5
    });
    let ends = ends();
    assert!(
        ends.iter()
            .any(|l| l.contains("never started") && l.contains("command not found")),
        "{ends:?}"
    );
    assert!(
        ends.iter().any(|l| l.contains("the command ended")),
        "{ends:?}"
    );
}

#[test]
fn exec_dir_leases_that_directorys_scope_and_runs_the_command_here() {
    let world = World::without_keyring();
    world.write_config(&project_scope(
        "GREETING = { value = \"from-the-project\" }",
    ));
    let here = world.root().join("elsewhere");
    std::fs::create_dir_all(&here).unwrap();
    let mut cmd = world.sec(&["exec", "--dir"]);
    cmd.arg(&world.project)
        .args(["--", "sh", "-c", "pwd; printf %s \"$GREETING\""])
        .current_dir(&here);
    let out = world.output(cmd);
    out.assert_success();
    let mut lines = out.stdout.lines();
    assert_eq!(lines.next().map(Path::new), Some(here.as_path()), "{out}");
    assert_eq!(lines.next(), Some("from-the-project"), "{out}");
    // Control: without --dir, the same command here gets nothing.
    let mut plain = world.sec(&["exec", "--", "sh", "-c", "printf %s \"${GREETING-unset}\""]);
    plain.current_dir(&here);
    assert_eq!(
        world.output(plain).stdout.trim_end().lines().last(),
        Some("unset")
    );
}

#[test]
fn outside_any_scope_the_child_runs_without_secrets() {
    let world = World::without_keyring();
    world.write_config(&project_scope("GREETING = { value = \"hi\" }"));
    // Started beforehand, so stderr holds only what exec itself says.
    world.run(&["daemon", "start"]).assert_success();
    let (seen, out) = world.child_sees(&world.home, "GREETING");
    out.assert_success().assert_stderr_contains(&["no scope"]);
    assert_eq!(
        seen, "<unset>",
        "a variable from another directory's scope leaked in"
    );
    assert_eq!(
        out.stderr.lines().count(),
        1,
        "expected one line on stderr:\n{out}"
    );
}

#[test]
fn signals_sent_to_sec_reach_the_child() {
    let world = World::without_keyring();
    world.write_config(&project_scope("GREETING = { value = \"hi\" }"));
    // The child reports which signal reached it through its exit code.
    let script = r#"trap 'exit 40' INT; trap 'exit 41' HUP; trap 'exit 42' TERM; trap 'exit 43' QUIT
        touch "$1"
        while :; do sleep 0.1; done"#;
    for (signal, code) in [
        (Signal::SIGINT, 40),
        (Signal::SIGHUP, 41),
        (Signal::SIGTERM, 42),
        (Signal::SIGQUIT, 43),
    ] {
        let ready = world.root().join(format!("ready-{signal}"));
        // sec passes on what the caller ignores, as exec does (nohup relies on it). A test
        // run started as a background job of a non-interactive shell ignores SIGINT and
        // SIGQUIT, and a shell cannot trap a signal ignored on entry: `env` resets them, so
        // this tests sec and not how the tests were started.
        let mut cmd = world.command("env");
        cmd.arg("--default-signal=INT,QUIT,HUP,TERM")
            .arg(sec_bin())
            .args(["exec", "--", "sh", "-c", script, "sh"])
            .arg(&ready);
        let mut exec = cmd.spawn().expect("cannot spawn sec exec");
        wait_until("the child to install its traps", || ready.exists());
        kill(Pid::from_raw(exec.id() as i32), signal).expect("cannot signal sec");
        // Still running long after the signal: say what the process does with signals.
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while exec.try_wait().unwrap().is_none() {
            if std::time::Instant::now() > deadline {
                let status = std::fs::read_to_string(format!("/proc/{}/status", exec.id()))
                    .unwrap_or_default();
                let cmdline =
                    std::fs::read(format!("/proc/{}/cmdline", exec.id())).unwrap_or_default();
                let signals: Vec<&str> = status
                    .lines()
                    .filter(|l| {
                        l.starts_with("Sig") || l.starts_with("ShdPnd") || l.starts_with("State")
                    })
                    .collect();
                let _ = exec.kill();
                panic!(
                    "{signal} did not end `{}` within 20 s: {signals:?}",
                    String::from_utf8_lossy(&cmdline).replace('\0', " ")
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        wait_output(exec, &format!("sec exec (sent {signal})")).assert_code(code);
    }
}

// --- Failures say what is wrong ---------------------------------------------------------

#[test]
fn missing_secret_names_the_variable_and_reference_and_starts_nothing() {
    let world = World::new();
    world.write_config(&project_scope(
        "GREETING = { value = \"hi\" }\nAPI_TOKEN = \"keyring:nowhere/nobody\"",
    ));
    let marker = world.root().join("started");
    exec_touching(&world, &world.project, &marker)
        .assert_code(SEC_FAILED)
        .assert_stderr_contains(&["API_TOKEN", "keyring:nowhere/nobody"]);
    assert!(
        !marker.exists(),
        "the child ran although a secret was missing"
    );
}

#[test]
fn malformed_config_is_reported_and_the_last_good_one_served() {
    let world = World::without_keyring();
    world.write_config(&project_scope("GREETING = { value = \"hello\" }"));
    let (seen, out) = world.child_sees(&world.project, "GREETING");
    out.assert_success();
    assert!(
        !has_config_position(&out.stderr),
        "a warning for a good config:\n{out}"
    );
    assert_eq!(seen, "hello");

    // An unclosed inline table.
    world.write_config(&project_scope("GREETING = { value = \"hello\""));
    let (seen, out) = world.child_sees(&world.project, "GREETING");
    out.assert_success();
    assert!(
        has_config_position(&out.stderr),
        "expected config.toml:LINE:COLUMN: on stderr:\n{out}"
    );
    assert_eq!(seen, "hello", "the last good config should still be served");

    let status = world.run(&["status", "--json"]);
    status.assert_success();
    let error = status.json()["config_error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(!error.is_empty(), "status has no config_error:\n{status}");
    assert!(
        has_config_position(&world.daemon_log()),
        "secd.log does not mention the error:\n{}",
        world.daemon_log()
    );

    // A bare word where a reference belongs: the error suggests the literal form,
    // `{ value = "..." }`.
    world.write_config(&project_scope(
        "GREETING = { value = \"hello\" }\nTWINE_USERNAME = \"__token__\"",
    ));
    let ls = world.run(&["ls"]);
    ls.assert_success()
        .assert_stderr_contains(&["{ value = \""]);
    assert!(has_config_position(&ls.stderr), "{ls}");
    assert!(
        ls.stdout.contains("GREETING"),
        "ls should list the last good config:\n{ls}"
    );

    // A restart while the file is broken: still the last good config, as the message says.
    world.run(&["daemon", "stop"]).assert_success();
    let (seen, out) = world.child_sees(&world.project, "GREETING");
    out.assert_success()
        .assert_stderr_contains(&["secd serves the last good config, kept in"]);
    assert_eq!(
        seen, "hello",
        "a restarted daemon forgot the last good config"
    );
}

#[test]
fn a_daemon_that_never_saw_a_good_config_says_it_serves_none() {
    let world = World::without_keyring();
    world.write_config(&project_scope("GREETING = { value = \"hello\""));
    let out = world.run(&["exec", "--", "true"]);
    out.assert_success()
        .assert_stderr_contains(&["serves no config until it is fixed"]);
    assert!(!out.stderr.contains("last good"), "{out}");
}

// --- The socket is private --------------------------------------------------------------

/// Connects to the socket, sends the HTTP/2 client preface and an empty SETTINGS frame, and
/// prints in hex what came back before EOF (or the first frame header's worth).
const H2_PROBE: &str = r#"
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
try:
    s.connect(sys.argv[1])
except OSError as e:
    print(f"connect failed: {e}", file=sys.stderr)
    sys.exit(2)
data = b""
try:
    s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")
    while len(data) < 9:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
except (ConnectionResetError, BrokenPipeError):
    pass
except socket.timeout:
    print("timed out: the daemon neither answered nor hung up", file=sys.stderr)
    sys.exit(3)
print(data.hex())
"#;

fn h2_probe(socket: &Path, as_nobody: bool) -> Output {
    let python = "/usr/bin/python3";
    let mut cmd = if as_nobody {
        let mut cmd = Command::new("setpriv");
        cmd.args([
            "--reuid=nobody",
            "--regid=nogroup",
            "--clear-groups",
            python,
        ]);
        cmd
    } else {
        Command::new(python)
    };
    cmd.args(["-c", H2_PROBE])
        .arg(socket)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let what = format!(
        "python3 h2 probe{}",
        if as_nobody { " as nobody" } else { "" }
    );
    wait_output(cmd.spawn().expect("cannot run the probe"), &what)
}

#[test]
fn another_uid_is_refused_even_with_loosened_modes() {
    sec_tests::require_root("to run a probe as another user (nobody)");
    sec_tests::require_program("setpriv", "util-linux");
    assert!(
        Path::new("/usr/bin/python3").exists(),
        "this test needs /usr/bin/python3 for its probe; install it (package `python3`), as CI does"
    );
    let world = World::without_keyring();
    world.run(&["daemon", "start"]).assert_success();
    let socket = world.socket_path();
    assert!(
        socket.exists(),
        "no socket at {} after `sec daemon start`",
        socket.display()
    );

    // Open the way for anyone: only the daemon's peer check is left.
    chmod(world.root(), 0o711);
    chmod(&world.runtime_dir, 0o755);
    chmod(&world.sec_runtime_dir(), 0o755);
    chmod(&socket, 0o666);

    let ours = h2_probe(&socket, false);
    ours.assert_success();
    let frame = ours.stdout.trim();
    // A frame header: 3 bytes length, then the type, 0x04 for SETTINGS.
    assert!(
        frame.len() >= 18 && &frame[6..8] == "04",
        "expected a SETTINGS frame for our own uid:\n{ours}"
    );

    let theirs = h2_probe(&socket, true);
    assert_ne!(
        theirs.code(),
        Some(2),
        "the test setup did not let nobody reach the socket:\n{theirs}"
    );
    theirs.assert_success();
    assert_eq!(
        theirs.stdout.trim(),
        "",
        "the daemon answered another uid:\n{theirs}"
    );

    chmod(&socket, 0o600);
    chmod(&world.sec_runtime_dir(), 0o700);
    chmod(&world.runtime_dir, 0o700);
}

#[test]
fn a_runtime_dir_open_to_others_is_refused() {
    let world = World::without_keyring();
    world.write_config(&project_scope("GREETING = { value = \"hi\" }"));
    std::fs::create_dir(world.sec_runtime_dir()).unwrap();
    chmod(&world.sec_runtime_dir(), 0o755);

    let marker = world.root().join("started");
    exec_touching(&world, &world.project, &marker)
        .assert_code(SEC_FAILED)
        .assert_stderr_contains(&["chmod 700"]);
    assert!(
        !marker.exists(),
        "the child ran although sec refused the runtime dir"
    );
    world
        .run(&["status"])
        .assert_failure()
        .assert_stderr_contains(&["chmod 700"]);
    assert!(
        !world.socket_path().exists(),
        "a daemon listens in the open directory"
    );
}

// --- Without XDG_RUNTIME_DIR: $TMPDIR/sec-UID, or a private fallback when it is taken --------

/// `sec ARGS` in `world` without XDG_RUNTIME_DIR and with TMPDIR=`tmp`: the runtime dir is
/// then `tmp/sec-UID`, or the fallback when someone else took that.
fn sec_without_runtime_dir(world: &World, tmp: &Path, args: &[&str]) -> Output {
    let mut cmd = world.sec(args);
    cmd.env_remove("XDG_RUNTIME_DIR").env("TMPDIR", tmp);
    world.output(cmd)
}

/// Stops the daemon of a world that runs without XDG_RUNTIME_DIR (the world's own teardown
/// finds only daemons with its runtime dir).
struct StopWithoutRuntimeDir<'a> {
    world: &'a World,
    tmp: PathBuf,
    env: Vec<(&'static str, PathBuf)>,
}

impl Drop for StopWithoutRuntimeDir<'_> {
    fn drop(&mut self) {
        let mut cmd = self.world.sec(&["daemon", "stop"]);
        cmd.env_remove("XDG_RUNTIME_DIR").env("TMPDIR", &self.tmp);
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        let _ = cmd.output();
    }
}

/// As nobody: `setpriv --reuid=nobody --regid=nogroup --clear-groups ARGS`.
fn as_nobody(args: &[&str]) {
    let out = Command::new("setpriv")
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
        .args(args)
        .output()
        .expect("cannot run setpriv");
    assert!(
        out.status.success(),
        "{args:?} as nobody failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A world whose temporary directory (for TMPDIR) is shared like /tmp (1777, reachable by
/// nobody), with `sec-UID` in it already taken by nobody by `squat` (`mkdir`, `ln -s`).
fn world_with_squatted_tmp(squat: &[&str]) -> (World, PathBuf, PathBuf) {
    sec_tests::require_root("to create the squatter's directory as another user (nobody)");
    sec_tests::require_program("setpriv", "util-linux");
    let world = World::without_keyring();
    world.write_config(&project_scope("GREETING = { value = \"hi\" }"));
    chmod(world.root(), 0o711);
    let tmp = world.root().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    chmod(&tmp, 0o1777);
    let squatted = tmp.join(format!("sec-{}", nix::unistd::getuid()));
    let mut args: Vec<&str> = squat.to_vec();
    let target = squatted.display().to_string();
    args.push(&target);
    as_nobody(&args);
    (world, tmp, squatted)
}

#[test]
fn a_runtime_dir_squatted_by_another_user_is_bypassed_for_a_private_one() {
    let (world, tmp, squatted) = world_with_squatted_tmp(&["mkdir", "-m", "700"]);
    let _stop = StopWithoutRuntimeDir {
        world: &world,
        tmp: tmp.clone(),
        env: Vec::new(),
    };
    let (seen, out) = world.child_sees_with(&world.project, &[], "GREETING", |cmd| {
        cmd.env_remove("XDG_RUNTIME_DIR").env("TMPDIR", &tmp);
    });
    out.assert_success();
    assert_eq!(seen, "hi");

    let fallback = world.state_home.join("sec/run");
    let socket = fallback.join("secd.sock");
    assert!(socket.exists(), "no socket at {}", socket.display());
    let meta = std::fs::symlink_metadata(&fallback).unwrap();
    assert_eq!(
        std::os::unix::fs::MetadataExt::mode(&meta) & 0o777,
        0o700,
        "the fallback is not private"
    );
    let status = sec_without_runtime_dir(&world, &tmp, &["status"]);
    status
        .assert_success()
        .assert_stderr_contains(&[&squatted.display().to_string(), "belongs to uid"]);
    assert!(
        status.stdout.contains(&socket.display().to_string()),
        "status does not say where the socket is:\n{status}"
    );
    assert!(
        world.daemon_log().contains("belongs to uid"),
        "secd.log does not say why it left the usual place:\n{}",
        world.daemon_log()
    );
    // The squatter's directory is untouched, and nothing of ours is in it.
    assert_eq!(
        std::os::unix::fs::MetadataExt::uid(&std::fs::symlink_metadata(&squatted).unwrap()),
        nix::unistd::User::from_name("nobody")
            .unwrap()
            .unwrap()
            .uid
            .as_raw()
    );
    assert_eq!(std::fs::read_dir(&squatted).unwrap().count(), 0);
}

#[test]
fn a_symlink_squatting_the_runtime_dir_is_never_followed() {
    sec_tests::require_root("to plant the link as another user (nobody)");
    let bait = {
        let dir = tempfile::Builder::new()
            .prefix("sec-bait-")
            .tempdir_in("/tmp")
            .unwrap();
        chmod(dir.path(), 0o777);
        dir
    };
    let bait_path = bait.path().display().to_string();
    let (world, tmp, _squatted) = world_with_squatted_tmp(&["ln", "-s", &bait_path]);
    let _stop = StopWithoutRuntimeDir {
        world: &world,
        tmp: tmp.clone(),
        env: Vec::new(),
    };
    sec_without_runtime_dir(&world, &tmp, &["exec", "--", "true"]).assert_success();
    assert_eq!(
        std::fs::read_dir(bait.path()).unwrap().count(),
        0,
        "sec followed the link into the other user's directory"
    );
    assert!(world.state_home.join("sec/run/secd.sock").exists());
}

#[test]
fn a_squatted_runtime_dir_without_a_short_fallback_says_how_to_set_one() {
    let (world, tmp, squatted) = world_with_squatted_tmp(&["mkdir", "-m", "700"]);
    // A state directory so deep that a socket path under it would be too long.
    let deep = world.root().join("s".repeat(60)).join("t".repeat(60));
    std::fs::create_dir_all(&deep).unwrap();
    let _stop = StopWithoutRuntimeDir {
        world: &world,
        tmp: tmp.clone(),
        env: vec![("XDG_STATE_HOME", deep.clone())],
    };
    let mut cmd = world.sec(&["exec", "--", "true"]);
    cmd.env_remove("XDG_RUNTIME_DIR")
        .env("TMPDIR", &tmp)
        .env("XDG_STATE_HOME", &deep);
    world
        .output(cmd)
        .assert_code(SEC_FAILED)
        .assert_stderr_contains(&[
            &squatted.display().to_string(),
            "belongs to uid",
            "mkdir -m 700",
            "XDG_RUNTIME_DIR",
        ]);
}

// --- The daemon's lifecycle -------------------------------------------------------------

#[test]
fn the_daemon_stops_cleanly_after_a_keyring_lookup() {
    let world = World::new();
    world.keyring_store("stop", "demo", &unique("value"));
    world.write_config(&project_scope("TOKEN = \"keyring:stop/demo\""));
    let marker = world.root().join("started");
    exec_touching(&world, &world.project, &marker).assert_success();
    let pid = world.daemon_pid();

    world.run(&["daemon", "stop"]).assert_success();
    wait_until("secd to exit", || {
        !Path::new(&format!("/proc/{pid}")).exists()
    });
    let log = world.daemon_log();
    assert!(
        !log.contains("panicked"),
        "secd panicked on its way out:\n{log}"
    );
    assert!(!world.socket_path().exists(), "secd left its socket behind");
}

#[test]
fn two_concurrent_first_commands_start_one_daemon() {
    let world = World::without_keyring();
    let first = world
        .sec(&["status", "--json"])
        .spawn()
        .expect("cannot spawn sec");
    let second = world
        .sec(&["status", "--json"])
        .spawn()
        .expect("cannot spawn sec");
    let first = wait_output(first, "sec status --json (first)");
    let second = wait_output(second, "sec status --json (second)");
    first.assert_success();
    second.assert_success();
    let pid = |out: &Output| {
        out.json()["pid"]
            .as_i64()
            .unwrap_or_else(|| panic!("no pid:\n{out}"))
    };
    assert_eq!(
        pid(&first),
        pid(&second),
        "two daemons answered:\n{first}\n{second}"
    );

    // And any daemon that lost the race has gone away.
    let marker = format!("XDG_RUNTIME_DIR={}", world.runtime_dir.display());
    let secd = secd_bin();
    let daemons = || {
        processes_with_env(&marker)
            .into_iter()
            // `starts_with`: a rebuilt binary shows as "secd (deleted)".
            .filter(|&p| {
                exe_of(p)
                    .is_some_and(|exe| exe.to_string_lossy().starts_with(&*secd.to_string_lossy()))
            })
            .collect::<Vec<_>>()
    };
    wait_until("exactly one secd to remain", || daemons().len() == 1);
    assert_eq!(daemons(), vec![pid(&first) as i32]);
}

#[test]
fn protocol_mismatch_restarts_the_daemon() {
    replaces_the_running_daemon(&["--test-protocol", "0"], "protocol 0");
}

/// An upgrade: the running secd predates the connection greeting (protocol 3) and fails
/// every greeted connection; sec still learns its pid and protocol and replaces it.
#[test]
fn a_daemon_older_than_the_greeting_is_replaced() {
    replaces_the_running_daemon(
        &["--test-protocol", "2", "--test-no-greeting"],
        "speaks protocol 2",
    );
}

/// Starts a secd with `old_args`, runs `sec status`, and checks that a new daemon answers,
/// that sec said why (`said`), and that the old one exits.
fn replaces_the_running_daemon(old_args: &[&str], said: &str) {
    let world = World::without_keyring();
    let log = world.root().join("old-secd.log");
    let mut old = world
        .command(secd_bin())
        .arg("--foreground")
        .args(old_args)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("cannot start secd");
    let socket = world.socket_path();
    wait_until("the old secd to accept connections", || {
        if let Ok(Some(status)) = old.try_wait() {
            panic!("secd {old_args:?} exited ({status}):\n{}", read(&log));
        }
        UnixStream::connect(&socket).is_ok()
    });

    let status = world.run(&["status", "--json"]);
    status.assert_success().assert_stderr_contains(&[said]);
    let new_pid = status.json()["pid"].as_i64().expect("status has a pid");
    assert_ne!(
        new_pid,
        i64::from(old.id()),
        "still the old daemon:\n{status}"
    );
    wait_until("the old secd to exit", || {
        matches!(old.try_wait(), Ok(Some(_)))
    });
}

/// Opens N connections to the socket in argv[1] and holds them, silent, until killed.
const FLOOD: &str = "import resource, socket, sys, time
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
held = []
for _ in range(int(sys.argv[2])):
    s = socket.socket(socket.AF_UNIX)
    s.connect(sys.argv[1])
    held.append(s)
print('open', flush=True)
time.sleep(600)
";

#[test]
fn a_flood_of_idle_connections_from_one_process_leaves_secd_serving() {
    let world = World::without_keyring();
    // A daemon with few descriptors, as on a system whose limit is 1024.
    let mut start = world.command("prlimit");
    start
        .args(["--nofile=128:128", "--"])
        .arg(sec_tests::sec_bin())
        .args(["daemon", "start"]);
    world.output(start).assert_success();
    let socket = world.socket_path();
    let mut flood = world.command("python3");
    flood
        .args(["-c", FLOOD])
        .arg(&socket)
        .arg("200")
        .stdout(Stdio::piped());
    let mut flood = flood.spawn().expect("cannot run python3");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(flood.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line.trim(), "open", "the flood could not connect");
    let status = world.run(&["status"]);
    status.assert_success();
    let _ = flood.kill();
    let _ = flood.wait();
    assert!(
        world.daemon_log().contains("over the limit"),
        "{}",
        world.daemon_log()
    );
}

#[test]
fn a_daemon_from_another_session_is_pointed_out_with_the_fix() {
    let world = World::new();
    world.run(&["daemon", "start"]).assert_success();
    let same = world.run(&["status"]);
    same.assert_success();
    assert!(!same.stderr.contains("warning"), "{same}");
    let mut other_bus = world.sec(&["status"]);
    other_bus.env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus");
    let out = world.output(other_bus);
    out.assert_stderr_contains(&["another D-Bus session", "keychain", "sec daemon stop"]);
    let mut askpass = world.sec(&["status"]);
    askpass.env("SEC_ASKPASS", "/usr/bin/some-askpass");
    let out = world.output(askpass);
    out.assert_stderr_contains(&["SEC_ASKPASS", "reads it when it starts", "sec daemon stop"]);
}

#[test]
fn mask_hides_the_values_and_keeps_the_terminal_and_its_colours() {
    sec_tests::require_program("tmux", "tmux");
    sec_tests::require_program("git", "git");
    let world = World::without_keyring();
    let token = unique("mask-token");
    world.write_config(&project_scope(&format!(
        "TOKEN = {{ value = \"{token}\" }}"
    )));
    std::fs::write(world.project.join("a.txt"), "hello\n").unwrap();
    std::fs::write(
        world.project.join("b.txt"),
        format!("hello\ntoken: {token}\n"),
    )
    .unwrap();
    let sec = sec_tests::shell_quoted(&sec_bin());
    // git colours its diff only when its output is a terminal: colour proves the pty.
    let inner = "git -c color.ui=auto diff --no-index a.txt b.txt; test -t 1 && echo child-has-a-tty; stty size; printf 'split %s' \"$TOKEN\" | head -c 12; sleep 0.05; printf '%s\\n' \"${TOKEN#??????}\"; exit 3";
    let script = |mask: &str| {
        format!(
            "{sec} exec {mask} -- sh -c {}; echo exit-$?; sleep 60",
            sec_tests::shell_quoted(std::path::Path::new(inner))
        )
    };
    let masked = sec_tests::shell::Tmux::start(&world, &world.project, &script("--mask"));
    let screen = masked.wait_for("exit-");
    assert!(
        !screen.contains(&token),
        "the value reached the terminal:\n{screen}"
    );
    assert!(screen.contains("token: <masked by sec>"), "{screen}");
    assert!(screen.contains("child-has-a-tty"), "{screen}");
    assert!(
        screen.contains("50 200"),
        "the window size did not reach the command:\n{screen}"
    );
    assert!(
        screen.contains("split <masked by sec>"),
        "a value written in two parts got through:\n{screen}"
    );
    assert!(
        screen.contains("exit-3"),
        "the command's status did not pass through:\n{screen}"
    );
    let colours = masked.screen_with_escapes();
    assert!(
        colours.contains("\u{1b}[32m"),
        "the diff lost its colours:\n{colours:?}"
    );
    // Control: without --mask the same command shows the value.
    let plain = sec_tests::shell::Tmux::start(&world, &world.project, &script(""));
    let screen = plain.wait_for("exit-");
    assert!(
        screen.contains(&token),
        "the control never showed the value:\n{screen}"
    );
}

/// `sec` and `sec-cli` are linked statically on glibc Linux (.cargo/config.toml's wrapper,
/// client/static-sec-rustc.sh): a third of `sec exec -- true` was the dynamic loader and its
/// relocations (issue 14). Still position-independent executables, so ASLR keeps working.
/// The built binaries' ELF headers and program headers say both.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[test]
fn sec_is_a_static_position_independent_executable() {
    for binary in [sec_bin(), sec_bin().with_file_name("sec-cli")] {
        let elf = std::fs::read(&binary).unwrap();
        let u16_at = |at: usize| u16::from_le_bytes(elf[at..at + 2].try_into().unwrap());
        let u32_at = |at: usize| u32::from_le_bytes(elf[at..at + 4].try_into().unwrap());
        let u64_at = |at: usize| u64::from_le_bytes(elf[at..at + 8].try_into().unwrap());
        let name = binary.display();
        assert_eq!(&elf[..5], b"\x7fELF\x02", "{name}: a 64-bit ELF file");
        const ET_DYN: u16 = 3;
        const PT_INTERP: u32 = 3;
        assert_eq!(
            u16_at(0x10),
            ET_DYN,
            "{name} must stay position-independent (ASLR)"
        );
        let (phoff, phentsize, phnum) = (u64_at(0x20) as usize, u16_at(0x36), u16_at(0x38));
        let interpreter = (0..phnum as usize)
            .map(|i| phoff + i * phentsize as usize)
            .find(|&header| u32_at(header) == PT_INTERP);
        assert!(
            interpreter.is_none(),
            "{name} names a program interpreter: it was linked dynamically (is .cargo/config.toml's rustc-workspace-wrapper in effect? build from the repository)"
        );
    }
}

/// `sec` is a small front that hands every command but a plain `sec exec` to `sec-cli`
/// beside it (client/src/front.rs). Without `sec-cli` it says what to do, and runs nothing.
#[cfg(target_os = "linux")]
#[test]
fn the_front_without_sec_cli_says_to_reinstall_both() {
    let alone = tempfile::tempdir().unwrap();
    let front = alone.path().join("sec");
    // By another process: a copy written here may be open in a child another test forks.
    let copied = Command::new("cp").arg(sec_bin()).arg(&front).status();
    assert!(copied.unwrap().success());
    let marker = alone.path().join("ran");
    let child = Command::new(&front)
        .args(["exec", "--only", "X", "--", "touch"])
        .arg(&marker)
        .env("XDG_RUNTIME_DIR", alone.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_output(child, "sec exec --only X without sec-cli")
        .assert_code(SEC_FAILED)
        .assert_stderr_contains(&["sec-cli", "reinstall both"]);
    assert!(!marker.exists(), "nothing ran");
}

/// The `sec` front runs without std's runtime (client/src/main.rs), which opened /dev/null
/// on a standard descriptor the caller left closed; the front does it itself, so the
/// command never gets whatever sec opened next (secd's socket) as its standard output.
#[cfg(target_os = "linux")]
#[test]
fn a_closed_standard_output_reaches_the_command_as_dev_null() {
    let world = World::without_keyring();
    // secd up first: the front itself grants, rather than handing over to sec-cli to start it.
    world.run(&["exec", "--", "true"]).assert_success();
    let mut cmd = world.command("sh");
    cmd.arg("-c")
        .arg("exec \"$0\" exec -- sh -c 'echo \"fd1=$(readlink /proc/$$/fd/1)\" >&2' 1>&-")
        .arg(sec_bin());
    let out = world.output(cmd);
    out.assert_success()
        .assert_stderr_contains(&["fd1=/dev/null"]);
}
