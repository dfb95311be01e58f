//! Leases, revocation, confirmation, the `commands` rule and the audit log (issue 4).
//!
//! Long because revocation, confirmation and the audit log each need several end-to-end
//! tests with real processes.
//!
//! Secrets come from the `op` stand-in (1Password's CLI cannot be installed here): the
//! backend does not matter for any of this, and the stand-in starts much faster than a
//! private keyring. Askpass programs are small shell scripts written by the tests.
//!
//! A running `sec exec` child is a shell loop that writes its pid to a READY file and runs
//! until a STOP file appears; the tests wait for files and for `sec status --json`, never for
//! time to pass.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus};
use std::time::{SystemTime, UNIX_EPOCH};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use sec_tests::{
    Askpass, OpStandin, Output, SEC_FAILED, World, shell_quoted, toml_path, unique, wait_output,
    wait_until,
};
use serde_json::Value;

/// 128 + SIGTERM: how a supervising `sec` (any option, e.g. `--only`) reports a command
/// it stopped.
const TERMINATED: i32 = 143;

/// How a command that replaced its `sec` (a plain `sec exec --`, the lean path) ends when
/// secd stops it: its own death by SIGTERM, as its parent sees it (a shell's `$?` is 143);
/// the audit log says why (`event`, and a reason containing `why`).
#[track_caller]
fn assert_stopped_by_secd(world: &World, out: &Output, event: &str, why: &str) {
    out.assert_signal(15);
    assert_audited(world, event, why);
}

/// The audit log has an `event` record whose text holds `why`.
#[track_caller]
fn assert_audited(world: &World, event: &str, why: &str) {
    let log = world.run(&["log", "--json"]);
    assert!(
        log.stdout
            .lines()
            .any(|l| l.contains(&format!("\"event\":\"{event}\"")) && l.contains(why)),
        "no {event} record saying {why:?} in the audit log:\n{log}"
    );
}

// --- Helpers ----------------------------------------------------------------------------

/// A world with the `op` stand-in knowing `op://V/item/NAME` for each `(NAME, value)`.
fn op_world(items: &[(&str, &str)]) -> (World, OpStandin) {
    let world = World::without_keyring();
    let op = world.op_standin();
    for (name, value) in items {
        op.add_item(&format!("op://V/item/{name}"), value);
    }
    (world, op)
}

fn op_ref(name: &str) -> String {
    format!("op://V/item/{name}")
}

/// A subdirectory of the project, created.
fn subdir(world: &World, name: &str) -> PathBuf {
    let dir = world.project.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn path_str(path: &Path) -> String {
    path.to_str().expect("path is not UTF-8").to_string()
}

fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn alive(pid: i32) -> bool {
    // A zombie still has /proc/PID; look at its state.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rfind(')')
            .and_then(|at| stat[at + 1..].split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// `sec exec ARGS` in `dir`, to completion; also returns sec's pid.
fn exec_in(world: &World, dir: &Path, args: &[&str]) -> (i32, Output) {
    let mut cmd = world.sec(&["exec"]);
    cmd.args(args).current_dir(dir);
    let what = format!("sec exec {}", args.join(" "));
    let child = cmd.spawn().expect("cannot spawn sec exec");
    let pid = child.id() as i32;
    (pid, wait_output(child, &what))
}

/// `sec exec [OPTIONS] -- touch MARKER` in `dir`: whether the child started shows as MARKER.
fn exec_touch(world: &World, dir: &Path, options: &[&str], marker: &Path) -> (i32, Output) {
    let _ = std::fs::remove_file(marker);
    let marker = path_str(marker);
    let mut args: Vec<&str> = options.to_vec();
    args.extend(["--", "touch", &marker]);
    exec_in(world, dir, &args)
}

#[track_caller]
fn assert_refused(out: &Output, marker: &Path, needles: &[&str]) {
    out.assert_code(SEC_FAILED).assert_stderr_contains(needles);
    assert!(
        !marker.exists(),
        "the child ran although the lease was refused:\n{out}"
    );
}

#[track_caller]
fn assert_ran(out: &Output, marker: &Path) {
    out.assert_success();
    assert!(marker.exists(), "the child did not run:\n{out}");
}

fn status(world: &World) -> Value {
    let out = world.run(&["status", "--json"]);
    out.assert_success();
    out.json()
}

fn leases(world: &World) -> Vec<Value> {
    status(world)["leases"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The lease of the `sec exec` whose pid is `sec_pid`.
fn lease_of(world: &World, sec_pid: i32) -> Option<Value> {
    leases(world)
        .into_iter()
        .find(|l| l["pid"].as_i64() == Some(i64::from(sec_pid)))
}

/// `(dir, references)` of everything cached.
fn cached(world: &World) -> Vec<(String, Vec<String>)> {
    status(world)["cached"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|c| {
            let refs = c["references"]
                .as_array()
                .map(|r| {
                    r.iter()
                        .map(|x| x.as_str().unwrap_or_default().to_string())
                        .collect()
                })
                .unwrap_or_default();
            (c["dir"].as_str().unwrap_or_default().to_string(), refs)
        })
        .collect()
}

fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::Array(items) => items
            .iter()
            .map(|x| x.as_str().unwrap_or_default().to_string())
            .collect(),
        Value::String(s) => s.split_whitespace().map(str::to_string).collect(),
        _ => Vec::new(),
    }
}

/// A `sec exec` whose child loops until told to stop. Its stderr goes to a file, so the test
/// can look at it while sec still runs.
struct Running {
    child: Child,
    what: String,
    sec_pid: i32,
    child_pid: i32,
    stop: PathBuf,
    stderr: PathBuf,
    argv: Vec<String>,
}

/// The looping child: writes its pid to $1, runs until $2 exists, then exits $3.
const LOOP: &str =
    r#"echo $$ > "$1.tmp" && mv "$1.tmp" "$1"; while [ ! -e "$2" ]; do sleep 0.1; done; exit "$3""#;

impl Running {
    /// Starts `sec exec -- sh -c LOOP sh READY STOP CODE` in `dir` and waits for the child.
    fn start(world: &World, dir: &Path, code: i32) -> Self {
        Self::start_with(world, dir, &[], "", code)
    }

    /// Same, with `sec exec` OPTIONS and shell code run before the loop (`prelude`).
    fn start_with(world: &World, dir: &Path, options: &[&str], prelude: &str, code: i32) -> Self {
        let tag = unique("run");
        let ready = world.root().join(format!("{tag}.ready"));
        let stop = world.root().join(format!("{tag}.stop"));
        let stderr = world.root().join(format!("{tag}.stderr"));
        let argv: Vec<String> = vec![
            "sh".into(),
            "-c".into(),
            format!("{prelude}{LOOP}"),
            "sh".into(),
            path_str(&ready),
            path_str(&stop),
            code.to_string(),
        ];
        let mut cmd = world.sec(&["exec"]);
        cmd.args(options)
            .arg("--")
            .args(&argv)
            .current_dir(dir)
            .stderr(File::create(&stderr).unwrap());
        let what = format!("sec exec -- (looping child in {})", dir.display());
        let mut child = cmd.spawn().expect("cannot spawn sec exec");
        let sec_pid = child.id() as i32;
        wait_until("the looping child to start", || {
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "`{what}` exited ({status}) before its child started:\n{}",
                    std::fs::read_to_string(&stderr).unwrap_or_default()
                );
            }
            ready.exists()
        });
        let child_pid = std::fs::read_to_string(&ready)
            .unwrap()
            .trim()
            .parse()
            .expect("the child wrote its pid");
        Running {
            child,
            what,
            sec_pid,
            child_pid,
            stop,
            stderr,
            argv,
        }
    }

    fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().expect("cannot wait for sec exec")
    }

    fn stderr_now(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Lets the child finish on its own.
    fn release(&self) {
        std::fs::write(&self.stop, "").unwrap();
    }

    /// Waits for sec to exit; the output's stderr is what sec wrote to its file.
    fn finish(self) -> Output {
        let mut out = wait_output(self.child, &self.what);
        out.stderr = std::fs::read_to_string(&self.stderr).unwrap_or_default();
        out
    }
}

/// Waits until the daemon lists `run`'s lease with the child's pid; returns it.
fn wait_for_lease(world: &World, run: &Running) -> Value {
    let mut found = None;
    wait_until("the lease to list the child's pid", || {
        found = lease_of(world, run.sec_pid)
            .filter(|l| l["child_pid"].as_i64() == Some(i64::from(run.child_pid)));
        found.is_some()
    });
    found.unwrap()
}

fn audit_path(world: &World) -> PathBuf {
    world.state_home.join("sec").join("audit.jsonl")
}

/// Every line of audit.jsonl, parsed (panics on a line that is not JSON).
fn audit_events(world: &World) -> Vec<Value> {
    let text = std::fs::read_to_string(audit_path(world)).unwrap_or_default();
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("audit.jsonl line is not JSON ({e}): {l}"))
        })
        .collect()
}

// --- Revocation -------------------------------------------------------------------------

#[test]
fn revoke_terminates_a_running_child_and_status_lists_the_lease() {
    let (world, _op) = op_world(&[("a", &unique("value-a"))]);
    world.write_config(&format!(
        "[[scope]]\ndir = {{project}}\n[scope.env]\nALPHA = \"{}\"\n",
        op_ref("a")
    ));
    let before = now_unix();
    let mut run = Running::start(&world, &world.project, 0);

    let lease = wait_for_lease(&world, &run);
    assert!(
        lease["id"].as_str().is_some_and(|id| !id.is_empty()),
        "{lease}"
    );
    assert_eq!(lease["scope"], path_str(&world.project), "{lease}");
    assert_eq!(strings(&lease["names"]), vec!["ALPHA"], "{lease}");
    assert_eq!(strings(&lease["command"]), run.argv, "{lease}");
    let granted = lease["granted_at_unix"].as_i64().unwrap_or(0);
    assert!(
        granted >= before - 5 && granted <= now_unix() + 5,
        "granted_at_unix {granted} is not about now: {lease}"
    );
    assert_eq!(
        lease["expires_at_unix"].as_i64(),
        Some(0),
        "no max_lease, so expires_at_unix should be 0: {lease}"
    );
    assert!(run.exited().is_none(), "sec exec ended early");

    world.run(&["revoke"]).assert_success();
    let child_pid = run.child_pid;
    let out = run.finish();
    assert_stopped_by_secd(&world, &out, "revoke", "revoked");
    wait_until("the revoked child to be gone", || !alive(child_pid));
    assert!(
        leases(&world).is_empty(),
        "the lease is still listed after its sec exec ended"
    );
}

#[test]
fn a_revoke_stops_a_grant_still_waiting_for_the_vault() {
    let value = unique("slow-value");
    let (world, op) = op_world(&[("a", &value)]);
    world.write_config(&format!(
        "[[scope]]\ndir = {{project}}\n[scope.env]\nALPHA = \"{}\"\n",
        op_ref("a")
    ));
    op.set_delay("2");
    let got = world.root().join("got");
    let mut cmd = world.sec(&["exec", "--", "sh", "-c"]);
    cmd.arg(format!("printf %s \"$ALPHA\" > {}", got.display()));
    let exec = cmd.spawn().unwrap();
    // The vault is being asked: the grant is in flight.
    wait_until("the op stand-in to be called", || {
        !op.invocations().is_empty()
    });
    let revoke = world.run(&["revoke"]);
    revoke.assert_success();
    assert!(
        revoke.stdout.contains("1 grant in progress refused"),
        "{revoke}"
    );
    let out = wait_output(exec, "sec exec");
    out.assert_code(SEC_FAILED)
        .assert_stderr_contains(&["revoked", "while it was being granted"]);
    assert!(!got.exists(), "the child ran and got the value:\n{out}");
    let events: Vec<String> = audit_events(&world)
        .iter()
        .map(|e| e["event"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(!events.contains(&"grant".to_string()), "{events:?}");
    let revoke_at = events.iter().position(|e| e == "revoke").unwrap();
    let deny_at = events.iter().rposition(|e| e == "deny").unwrap();
    assert!(revoke_at < deny_at, "{events:?}");
}

/// The pid a shell wrote to `file`, once it is there.
fn pid_in(file: &Path) -> i32 {
    wait_until("a pid file", || {
        std::fs::read_to_string(file).is_ok_and(|t| t.ends_with('\n'))
    });
    std::fs::read_to_string(file)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn revoke_ends_every_process_that_inherited_the_secrets() {
    let (world, _op) = op_world(&[("a", &unique("value-a"))]);
    world.write_config(&format!(
        "[[scope]]\ndir = {{project}}\n[scope.env]\nALPHA = \"{}\"\n",
        op_ref("a")
    ));
    let bg = world.root().join("bg");
    // A grandchild in the background, with the secret in its environment.
    let prelude = format!("sleep 300 & echo $! > {}; ", bg.display());
    let run = Running::start_with(&world, &world.project, &[], &prelude, 0);
    let grandchild = pid_in(&bg);
    assert!(alive(grandchild));
    world.run(&["revoke"]).assert_success();
    let child = run.child_pid;
    assert_stopped_by_secd(&world, &run.finish(), "revoke", "revoked");
    wait_until("the child to be gone", || !alive(child));
    wait_until("the background grandchild to be gone", || {
        !alive(grandchild)
    });
}

#[test]
fn a_lease_whose_sec_was_killed_stays_listed_and_revocable() {
    let (world, _op) = op_world(&[("a", &unique("value-a"))]);
    world.write_config(&format!(
        "[[scope]]\ndir = {{project}}\n[scope.env]\nALPHA = \"{}\"\n",
        op_ref("a")
    ));
    // A supervising sec (an option), which can be killed apart from its command.
    let mut run = Running::start_with(&world, &world.project, &["--only", "ALPHA"], "", 0);
    wait_for_lease(&world, &run);
    kill(Pid::from_raw(run.sec_pid), Signal::SIGKILL).unwrap();
    let _ = run.child.wait();
    wait_until("the lease to show its sec gone", || {
        leases(&world)
            .first()
            .is_some_and(|l| l["orphaned"] == Value::Bool(true))
    });
    assert!(alive(run.child_pid), "the child should still run");
    let text = world.run(&["status"]);
    assert!(text.stdout.contains("sec gone"), "{text}");
    world.run(&["revoke"]).assert_success();
    wait_until("the orphaned child to be gone", || !alive(run.child_pid));
    wait_until("the lease to go", || leases(&world).is_empty());
}

#[test]
fn a_background_process_left_behind_keeps_the_lease_until_it_ends_or_is_revoked() {
    let (world, _op) = op_world(&[("a", &unique("value-a"))]);
    world.write_config(&format!(
        "[[scope]]\ndir = {{project}}\n[scope.env]\nALPHA = \"{}\"\n",
        op_ref("a")
    ));
    let bg = world.root().join("bg");
    let script = format!("sleep 300 >/dev/null 2>&1 & echo $! > {}", bg.display());
    world
        .run(&["exec", "--", "sh", "-c", &script])
        .assert_success();
    let left = pid_in(&bg);
    wait_until("the lease to stay listed for its process", || {
        leases(&world)
            .first()
            .is_some_and(|l| l["orphaned"] == Value::Bool(true))
    });
    world.run(&["revoke"]).assert_success();
    wait_until("the process left behind to be gone", || !alive(left));
    wait_until("the lease to go", || leases(&world).is_empty());
}

#[test]
fn on_revoke_keep_lets_the_child_finish() {
    let (world, _op) = op_world(&[("a", &unique("value-a"))]);
    world.write_config(&format!(
        "[[scope]]\ndir = {{project}}\non_revoke = \"keep\"\n[scope.env]\nALPHA = \"{}\"\n",
        op_ref("a")
    ));
    // The command in place of its sec: secd ends the lease and leaves the command alone.
    let run = Running::start(&world, &world.project, 3);
    wait_for_lease(&world, &run);
    world.run(&["revoke"]).assert_success();
    expect_kept_in_place(&world, run, "revoke", "revoked");

    // A supervising sec (an option) says so and passes the command's status through.
    let run = Running::start_with(&world, &world.project, &["--only", "ALPHA"], "", 3);
    wait_for_lease(&world, &run);
    world.run(&["revoke"]).assert_success();
    expect_kept_until_released(run, "revoked");
}

/// With on_revoke = "keep", a command that replaced its sec: the lease ends (`event`, a
/// reason with `why` in the audit log) while the command runs on; released, it exits 3.
fn expect_kept_in_place(world: &World, mut run: Running, event: &str, why: &str) {
    wait_until("the lease to end", || {
        if let Some(status) = run.exited() {
            panic!(
                "the command ended ({status}) although on_revoke = \"keep\":\n{}",
                run.stderr_now()
            );
        }
        leases(world).is_empty()
    });
    assert!(
        alive(run.child_pid),
        "the command is gone although on_revoke = \"keep\""
    );
    assert_audited(world, event, why);
    run.release();
    run.finish().assert_code(3);
}

/// With on_revoke = "keep": sec reports the end of the lease (its stderr shows `notice`)
/// while the child runs on; released, the child exits 3 and sec passes that through.
fn expect_kept_until_released(mut run: Running, notice: &str) {
    wait_until("sec exec to report the end of the lease", || {
        if let Some(status) = run.exited() {
            panic!(
                "sec exec ended ({status}) although on_revoke = \"keep\":\n{}",
                run.stderr_now()
            );
        }
        run.stderr_now().contains(notice)
    });
    assert!(
        alive(run.child_pid),
        "the child is gone although on_revoke = \"keep\""
    );
    run.release();
    run.finish()
        .assert_code(3)
        .assert_stderr_contains(&[notice]);
}

#[test]
fn revoke_dir_ends_one_scope_and_leaves_the_other() {
    let (world, _op) = op_world(&[("a", &unique("value-a")), ("b", &unique("value-b"))]);
    let dir_a = subdir(&world, "a");
    let dir_b = subdir(&world, "b");
    world.write_config(&format!(
        "[[scope]]\ndir = {}\n[scope.env]\nVAR_A = \"{}\"\n\n\
         [[scope]]\ndir = {}\n[scope.env]\nVAR_B = \"{}\"\n",
        toml_path(&dir_a),
        op_ref("a"),
        toml_path(&dir_b),
        op_ref("b"),
    ));
    exec_in(&world, &dir_a, &["--", "true"]).1.assert_success();
    exec_in(&world, &dir_b, &["--", "true"]).1.assert_success();
    let mut dirs: Vec<String> = cached(&world).into_iter().map(|(d, _)| d).collect();
    dirs.sort();
    assert_eq!(dirs, vec![path_str(&dir_a), path_str(&dir_b)]);

    let run_a = Running::start(&world, &dir_a, 0);
    let mut run_b = Running::start(&world, &dir_b, 0);
    wait_for_lease(&world, &run_a);
    wait_for_lease(&world, &run_b);

    world
        .run(&["revoke", "--dir", &path_str(&dir_a)])
        .assert_success();
    let cached_now = cached(&world);
    assert_eq!(
        cached_now,
        vec![(path_str(&dir_b), vec![op_ref("b")])],
        "only scope B should stay cached"
    );
    assert_stopped_by_secd(&world, &run_a.finish(), "revoke", "revoked");

    assert!(run_b.exited().is_none(), "scope B's sec exec ended");
    assert!(alive(run_b.child_pid), "scope B's child is gone");
    let listed: Vec<Value> = leases(&world);
    assert_eq!(listed.len(), 1, "expected only B's lease: {listed:?}");
    assert_eq!(listed[0]["pid"].as_i64(), Some(i64::from(run_b.sec_pid)));
    assert_eq!(listed[0]["scope"], path_str(&dir_b));

    run_b.release();
    let out = run_b.finish();
    out.assert_success();
    assert!(!out.stderr.contains("revoked"), "{out}");
}

#[test]
fn revoke_by_lease_id_ends_exactly_that_lease() {
    let (world, _op) = op_world(&[("a", &unique("value-a"))]);
    world.write_config(&format!(
        "[[scope]]\ndir = {{project}}\n[scope.env]\nALPHA = \"{}\"\n",
        op_ref("a")
    ));
    let first = Running::start(&world, &world.project, 0);
    let mut second = Running::start(&world, &world.project, 0);
    let lease = wait_for_lease(&world, &first);
    let other = wait_for_lease(&world, &second);
    let id = lease["id"]
        .as_str()
        .expect("the lease has an id")
        .to_string();
    assert_ne!(
        Some(id.as_str()),
        other["id"].as_str(),
        "two leases share an id"
    );

    world.run(&["revoke", &id]).assert_success();
    assert_stopped_by_secd(&world, &first.finish(), "revoke", "revoked");
    assert!(second.exited().is_none(), "the other sec exec ended");
    assert!(alive(second.child_pid), "the other child is gone");
    let listed = leases(&world);
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["id"], other["id"]);

    second.release();
    second.finish().assert_success();
}

#[test]
fn revoke_by_reference_drops_exactly_that_reference() {
    let (world, op) = op_world(&[("a", &unique("value-a")), ("b", &unique("value-b"))]);
    world.write_config(&format!(
        "[[scope]]\ndir = {{project}}\n[scope.env]\nALPHA = \"{}\"\nBETA = \"{}\"\n",
        op_ref("a"),
        op_ref("b")
    ));
    exec_in(&world, &world.project, &["--", "true"])
        .1
        .assert_success();
    let mut refs: Vec<String> = cached(&world).into_iter().flat_map(|(_, r)| r).collect();
    refs.sort();
    assert_eq!(refs, vec![op_ref("a"), op_ref("b")]);

    world
        .run(&["revoke", "--ref", &op_ref("a")])
        .assert_success();
    assert_eq!(
        cached(&world),
        vec![(path_str(&world.project), vec![op_ref("b")])]
    );

    // Leases holding the reference end; a lease without it keeps running.
    let holding_a = Running::start_with(&world, &world.project, &["--only", "ALPHA"], "", 0);
    let mut holding_b = Running::start_with(&world, &world.project, &["--only", "BETA"], "", 0);
    wait_for_lease(&world, &holding_a);
    wait_for_lease(&world, &holding_b);
    world
        .run(&["revoke", "--ref", &op_ref("a")])
        .assert_success();
    holding_a
        .finish()
        .assert_code(TERMINATED)
        .assert_stderr_contains(&["revoked"]);
    assert!(
        holding_b.exited().is_none(),
        "the lease without the reference ended"
    );
    let listed = leases(&world);
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(
        listed[0]["pid"].as_i64(),
        Some(i64::from(holding_b.sec_pid))
    );
    holding_b.release();
    holding_b.finish().assert_success();

    // The next lease looks up only the dropped one again.
    let calls_before = op.invocations().len();
    exec_in(&world, &world.project, &["--", "true"])
        .1
        .assert_success();
    let new_calls = op.invocations()[calls_before..].to_vec();
    assert_eq!(new_calls.len(), 1, "{new_calls:?}");
    assert!(new_calls[0].ends_with(&op_ref("a")), "{new_calls:?}");
}

#[test]
fn max_lease_ends_a_child_that_outlives_it() {
    let (world, _op) = op_world(&[("a", &unique("value-a"))]);
    world.write_config(&format!(
        "[[scope]]\ndir = {{project}}\nmax_lease = \"2s\"\n[scope.env]\nALPHA = \"{}\"\n",
        op_ref("a")
    ));
    let mut run = Running::start(&world, &world.project, 0);
    // The lease may already be over on a slow machine; check its expiry while it is listed.
    if let Some(lease) = lease_of(&world, run.sec_pid) {
        let granted = lease["granted_at_unix"].as_i64().unwrap_or(0);
        let expires = lease["expires_at_unix"].as_i64().unwrap_or(0);
        assert!(
            (expires - granted - 2).abs() <= 1,
            "expires_at_unix should be granted_at_unix + 2: {lease}"
        );
    }
    wait_until("max_lease to end sec exec", || run.exited().is_some());
    assert_stopped_by_secd(&world, &run.finish(), "expire", "max_lease");
}

#[test]
fn max_lease_with_on_revoke_keep_lets_the_child_finish() {
    let (world, _op) = op_world(&[("a", &unique("value-a"))]);
    world.write_config(&format!(
        "[[scope]]\ndir = {{project}}\nmax_lease = \"1s\"\non_revoke = \"keep\"\n\
         [scope.env]\nALPHA = \"{}\"\n",
        op_ref("a")
    ));
    let run = Running::start(&world, &world.project, 3);
    expect_kept_in_place(&world, run, "expire", "max_lease");
}

#[test]
fn a_child_ignoring_sigterm_is_killed_after_the_grace_period() {
    let (world, _op) = op_world(&[("a", &unique("value-a"))]);
    world.write_config(&format!(
        "[[scope]]\ndir = {{project}}\n[scope.env]\nALPHA = \"{}\"\n",
        op_ref("a")
    ));
    let run = Running::start_with(&world, &world.project, &[], "trap '' TERM; ", 0);
    wait_for_lease(&world, &run);
    let child_pid = run.child_pid;
    let started = std::time::Instant::now();
    world.run(&["revoke"]).assert_success();
    let out = run.finish();
    out.assert_signal(9);
    let took = started.elapsed();
    assert!(
        took >= std::time::Duration::from_secs(4),
        "killed after {took:?}, before the 5 s grace:\n{out}"
    );
    wait_until("the killed child to be gone", || !alive(child_pid));
}

// --- Confirmation -----------------------------------------------------------------------

#[test]
fn confirm_asks_the_askpass_program_every_time() {
    let (world, _op) = op_world(&[("one", &unique("v1")), ("two", &unique("v2"))]);
    let askpass = Askpass::install(&world);
    world.write_config(&format!(
        "[defaults]\naskpass = {}\nconfirm_timeout = \"1s\"\n\n\
         [[scope]]\ndir = {{project}}\nconfirm = true\n[scope.env]\n\
         CONFIRM_NAME_ONE = \"{}\"\nCONFIRM_NAME_TWO = \"{}\"\n",
        toml_path(&askpass.program),
        op_ref("one"),
        op_ref("two"),
    ));
    let marker = world.root().join("started");

    // Yes: the child runs; the prompt says where, what and which.
    askpass.answer("yes");
    let (_, out) = exec_touch(&world, &world.project, &[], &marker);
    assert_ran(&out, &marker);
    assert_eq!(
        askpass.calls(),
        vec!["1"],
        "askpass takes the prompt as its one argument"
    );
    let prompt = askpass.last_prompt();
    let marker_text = path_str(&marker);
    for needle in [
        path_str(&world.project).as_str(),
        "CONFIRM_NAME_ONE",
        "CONFIRM_NAME_TWO",
        "touch",
        marker_text.as_str(),
    ] {
        assert!(
            prompt.contains(needle),
            "the prompt lacks {needle:?}:\n{prompt}"
        );
    }
    let at_touch = prompt.find("touch").unwrap();
    assert!(
        prompt[at_touch..].contains(&marker_text),
        "the command line is not in order in the prompt:\n{prompt}"
    );
    assert_eq!(askpass.last_env(), "confirm", "SSH_ASKPASS_PROMPT");

    // No: refused, although everything is cached now.
    askpass.answer("no");
    let (_, out) = exec_touch(&world, &world.project, &[], &marker);
    assert_refused(&out, &marker, &["refused"]);
    assert_eq!(
        askpass.calls().len(),
        2,
        "a cached lease was not confirmed again"
    );

    // No answer within confirm_timeout.
    askpass.answer("slow");
    let (_, out) = exec_touch(&world, &world.project, &[], &marker);
    assert_refused(&out, &marker, &["no answer within"]);
    assert_eq!(askpass.calls().len(), 3);
}

#[test]
fn confirm_without_an_askpass_program_refuses() {
    let (world, _op) = op_world(&[("one", &unique("v1"))]);
    world.write_config(&format!(
        "[[scope]]\ndir = {{project}}\nconfirm = true\n[scope.env]\nONE = \"{}\"\n",
        op_ref("one"),
    ));
    let marker = world.root().join("started");
    let (_, out) = exec_touch(&world, &world.project, &[], &marker);
    assert_refused(&out, &marker, &["askpass"]);
}

#[test]
fn per_variable_confirm_asks_only_for_that_variable() {
    let (world, _op) = op_world(&[("a", &unique("va")), ("b", &unique("vb"))]);
    let askpass = Askpass::install(&world);
    world.write_config(&format!(
        "[defaults]\naskpass = {}\nconfirm_timeout = \"5s\"\n\n\
         [[scope]]\ndir = {{project}}\n[scope.env]\n\
         PLAIN_A = \"{}\"\nGUARDED_B = {{ secret = \"{}\", confirm = true }}\n",
        toml_path(&askpass.program),
        op_ref("a"),
        op_ref("b"),
    ));
    let marker = world.root().join("started");

    askpass.answer("no");
    let (_, out) = exec_touch(&world, &world.project, &["--only", "PLAIN_A"], &marker);
    assert_ran(&out, &marker);
    assert!(
        askpass.calls().is_empty(),
        "askpass ran for a variable without confirm"
    );

    let (_, out) = exec_touch(&world, &world.project, &["--only", "GUARDED_B"], &marker);
    assert_refused(&out, &marker, &["refused"]);
    assert_eq!(askpass.calls().len(), 1);

    askpass.answer("yes");
    let (_, out) = exec_touch(&world, &world.project, &["--only", "GUARDED_B"], &marker);
    assert_ran(&out, &marker);
    assert_eq!(askpass.calls().len(), 2);
    assert!(
        askpass.last_prompt().contains("GUARDED_B"),
        "{}",
        askpass.last_prompt()
    );
}

#[test]
fn sec_askpass_from_the_environment_that_started_secd() {
    let (world, _op) = op_world(&[("one", &unique("v1"))]);
    let askpass = Askpass::install(&world);
    world.write_config(&format!(
        "[[scope]]\ndir = {{project}}\nconfirm = true\n[scope.env]\nONE = \"{}\"\n",
        op_ref("one"),
    ));
    let mut start = world.sec(&["daemon", "start"]);
    start.env("SEC_ASKPASS", &askpass.program);
    world.output(start).assert_success();

    let marker = world.root().join("started");
    askpass.answer("yes");
    let (_, out) = exec_touch(&world, &world.project, &[], &marker);
    assert_ran(&out, &marker);
    assert_eq!(askpass.calls().len(), 1);
    askpass.answer("no");
    let (_, out) = exec_touch(&world, &world.project, &[], &marker);
    assert_refused(&out, &marker, &["refused"]);
}

// --- The commands rule ------------------------------------------------------------------

#[test]
fn commands_rule_matches_argv_prefixes_by_program_basename() {
    let (world, _op) = op_world(&[("a", &unique("value-a"))]);
    world.write_config(&format!(
        "[[scope]]\ndir = {{project}}\ncommands = [\"sh -c\", \"python -m twine\"]\n\
         [scope.env]\nALPHA = \"{}\"\n",
        op_ref("a")
    ));
    let marker = world.root().join("started");
    let m = path_str(&marker);
    let touch = format!("touch {}", shell_quoted(&marker));

    let _ = std::fs::remove_file(&marker);
    let (_, out) = exec_in(&world, &world.project, &["--", "sh", "-c", &touch]);
    assert_ran(&out, &marker);

    let _ = std::fs::remove_file(&marker);
    let (_, out) = exec_in(&world, &world.project, &["--", "/bin/sh", "-c", &touch]);
    assert_ran(&out, &marker);

    for argv in [
        vec!["env", "touch", m.as_str()],
        vec!["sh", "-e", "-c", touch.as_str()],
        vec!["python", "-m", "pip"],
    ] {
        let _ = std::fs::remove_file(&marker);
        let mut args = vec!["--"];
        args.extend(argv.iter().copied());
        let (_, out) = exec_in(&world, &world.project, &args);
        assert_refused(&out, &marker, &["commands"]);
    }
}

// --- Audit log --------------------------------------------------------------------------

#[test]
fn audit_log_records_grants_denials_revokes_and_unlocks_without_values() {
    let value_a = unique("audit-secret-a");
    let value_b = unique("audit-secret-b");
    let value_c = unique("audit-secret-c");
    let (world, _op) = op_world(&[("a", &value_a), ("b", &value_b), ("c", &value_c)]);
    let askpass = Askpass::install(&world);
    let other = subdir(&world, "other");
    world.write_config(&format!(
        "[defaults]\naskpass = {}\nconfirm_timeout = \"5s\"\n\n\
         [[scope]]\ndir = {{project}}\ncommands = [\"sh -c\"]\n[scope.env]\n\
         AUDIT_A = \"{}\"\nAUDIT_B = {{ secret = \"{}\", confirm = true }}\n\n\
         [[scope]]\ndir = {}\n[scope.env]\nAUDIT_C = \"{}\"\n",
        toml_path(&askpass.program),
        op_ref("a"),
        op_ref("b"),
        toml_path(&other),
        op_ref("c"),
    ));
    let project = path_str(&world.project);
    let script = "printf %s \"$AUDIT_A\" > /dev/null";

    // A grant.
    let (grant_pid, out) = exec_in(
        &world,
        &world.project,
        &["--only", "AUDIT_A", "--", "sh", "-c", script],
    );
    out.assert_success();
    // A confirmation refused.
    askpass.answer("no");
    let (confirm_pid, out) = exec_in(
        &world,
        &world.project,
        &["--only", "AUDIT_B", "--", "sh", "-c", "true"],
    );
    out.assert_code(SEC_FAILED);
    // A command outside `commands`.
    let (commands_pid, out) = exec_in(
        &world,
        &world.project,
        &["--only", "AUDIT_A", "--", "env", "true"],
    );
    out.assert_code(SEC_FAILED);
    world.run(&["revoke"]).assert_success();
    let mut unlock = world.sec(&["unlock"]);
    unlock.current_dir(&other);
    let unlock = unlock.spawn().expect("cannot spawn sec unlock");
    let unlock_pid = unlock.id() as i32;
    wait_output(unlock, "sec unlock").assert_success();

    let events = audit_events(&world);
    let dump = || {
        events
            .iter()
            .map(Value::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    };
    for event in &events {
        assert!(
            event["time"].is_string() || event["time"].is_number(),
            "an event without a time: {event}"
        );
    }
    let find = |pred: &dyn Fn(&Value) -> bool, what: &str| -> Value {
        events
            .iter()
            .find(|e| pred(e))
            .cloned()
            .unwrap_or_else(|| panic!("no {what} event in audit.jsonl:\n{}", dump()))
    };
    let pid_is = |e: &Value, pid: i32| e["pid"].as_i64() == Some(i64::from(pid));

    let grant = find(&|e| e["event"] == "grant" && pid_is(e, grant_pid), "grant");
    assert_eq!(grant["scope"], project, "{grant}");
    assert_eq!(strings(&grant["names"]), vec!["AUDIT_A"], "{grant}");
    assert_eq!(strings(&grant["references"]), vec![op_ref("a")], "{grant}");
    let command = &grant["command"];
    match command {
        Value::Array(_) => assert_eq!(strings(command), vec!["sh", "-c", script], "{grant}"),
        Value::String(s) => assert!(s.starts_with("sh -c") && s.contains("$AUDIT_A"), "{grant}"),
        _ => panic!("the grant has no command: {grant}"),
    }
    assert!(
        grant["lease"].as_str().is_some_and(|l| !l.is_empty()),
        "the grant names no lease: {grant}"
    );
    assert!(
        grant["exe"].as_str().is_some_and(|x| !x.is_empty()),
        "the grant names no executable: {grant}"
    );
    for event in &events {
        assert!(
            event.get("value").is_none(),
            "an event has a value field: {event}"
        );
    }

    let denied_confirm = find(
        &|e| e["event"] == "deny" && pid_is(e, confirm_pid),
        "deny (confirm)",
    );
    assert_eq!(denied_confirm["scope"], project, "{denied_confirm}");
    assert_eq!(
        strings(&denied_confirm["names"]),
        vec!["AUDIT_B"],
        "{denied_confirm}"
    );
    assert_eq!(
        strings(&denied_confirm["references"]),
        vec![op_ref("b")],
        "{denied_confirm}"
    );
    assert!(
        denied_confirm["reason"]
            .as_str()
            .is_some_and(|r| !r.is_empty()),
        "{denied_confirm}"
    );

    let denied_commands = find(
        &|e| e["event"] == "deny" && pid_is(e, commands_pid),
        "deny (commands)",
    );
    assert_eq!(
        strings(&denied_commands["command"]),
        vec!["env", "true"],
        "{denied_commands}"
    );
    assert!(
        denied_commands["reason"]
            .as_str()
            .is_some_and(|r| r.contains("commands")),
        "{denied_commands}"
    );

    find(&|e| e["event"] == "revoke", "revoke");
    let unlock = find(&|e| e["event"] == "unlock", "unlock");
    assert_eq!(unlock["scope"], path_str(&other), "{unlock}");
    assert!(pid_is(&unlock, unlock_pid), "{unlock}");
    assert_eq!(strings(&unlock["names"]), vec!["AUDIT_C"], "{unlock}");
    assert_eq!(
        strings(&unlock["references"]),
        vec![op_ref("c")],
        "{unlock}"
    );

    // Never a value: not in the file, not in `sec log`.
    let raw = std::fs::read_to_string(audit_path(&world)).unwrap();
    let log = world.run(&["log"]);
    let log_json = world.run(&["log", "--json"]);
    let log_one = world.run(&["log", "-n", "1"]);
    for out in [&log, &log_json, &log_one] {
        out.assert_success();
    }
    for value in [&value_a, &value_b, &value_c] {
        assert!(
            !raw.contains(value.as_str()),
            "a value is in audit.jsonl:\n{raw}"
        );
        for out in [&log, &log_json, &log_one] {
            assert!(
                !out.stdout.contains(value.as_str()) && !out.stderr.contains(value.as_str()),
                "a value is in `sec log`:\n{out}"
            );
        }
    }
    assert!(
        log.stdout.contains("grant") && log.stdout.contains("deny"),
        "{log}"
    );
    let json_lines: Vec<Value> = log_json
        .stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}\n{log_json}"))
        })
        .collect();
    assert!(
        json_lines
            .iter()
            .any(|e| e["event"] == "grant" && pid_is(e, grant_pid)),
        "{log_json}"
    );
    assert_eq!(log_one.stdout.lines().count(), 1, "{log_one}");
}

#[test]
fn an_audit_log_that_cannot_be_written_refuses_the_lease() {
    let (world, _op) = op_world(&[("a", &unique("value-a"))]);
    world.write_config(&format!(
        "[[scope]]\ndir = {{project}}\n[scope.env]\nALPHA = \"{}\"\n",
        op_ref("a")
    ));
    let audit = audit_path(&world);
    let marker = world.root().join("started");

    // Before the daemon starts.
    std::fs::create_dir_all(&audit).unwrap();
    let (_, out) = exec_touch(&world, &world.project, &[], &marker);
    assert_refused(&out, &marker, &["audit"]);

    // Writable again: granted.
    std::fs::remove_dir(&audit).unwrap();
    let (_, out) = exec_touch(&world, &world.project, &[], &marker);
    assert_ran(&out, &marker);
    assert!(audit.is_file(), "no audit.jsonl after a grant");

    // Between requests.
    std::fs::remove_file(&audit).unwrap();
    std::fs::create_dir(&audit).unwrap();
    let (_, out) = exec_touch(&world, &world.project, &[], &marker);
    assert_refused(&out, &marker, &["audit"]);
}

// --- SIGUSR1 ----------------------------------------------------------------------------

#[test]
fn sigusr1_revokes_everything() {
    let (world, _op) = op_world(&[("a", &unique("value-a"))]);
    world.write_config(&format!(
        "[[scope]]\ndir = {{project}}\n[scope.env]\nALPHA = \"{}\"\n",
        op_ref("a")
    ));
    exec_in(&world, &world.project, &["--", "true"])
        .1
        .assert_success();
    assert!(!cached(&world).is_empty(), "nothing cached after an exec");
    let run = Running::start(&world, &world.project, 0);
    wait_for_lease(&world, &run);

    let pid = world.daemon_pid();
    kill(Pid::from_raw(pid as i32), Signal::SIGUSR1).expect("cannot signal secd");
    wait_until("the cache to empty after SIGUSR1", || {
        cached(&world).is_empty()
    });
    assert_stopped_by_secd(&world, &run.finish(), "revoke", "revoked");
    assert_eq!(world.daemon_pid(), pid, "secd did not survive SIGUSR1");
}

/// `confirm` belongs to the secret: code running as the user cannot get a confirm-protected
/// secret without the user's yes by any of the usual routes, and each leaves a notice.
#[test]
fn a_confirm_protected_secret_needs_a_yes_by_every_route_and_tampering_is_shown() {
    let value = unique("protected");
    let (world, _op) = op_world(&[("p", &value)]);
    let askpass = Askpass::install(&world);
    askpass.answer("no");
    let protected = format!(
        "[defaults]\naskpass = {}\n\n[[scope]]\ndir = {{project}}\n[scope.env]\n\
         P = {{ secret = \"{}\", confirm = true }}\n",
        toml_path(&askpass.program),
        op_ref("p"),
    );
    world.write_config(&protected);
    let marker = world.root().join("started");
    let (_, out) = exec_touch(&world, &world.project, &[], &marker);
    assert_refused(&out, &marker, &["refused"]);

    // Route: a second scope (here a repository file elsewhere) that names the same secret.
    let other = world.root().join("other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(
        other.join(".sec.toml"),
        format!("[env]\nSTOLEN = \"{}\"\n", op_ref("p")),
    )
    .unwrap();
    askpass.answer("yes");
    world.run_in(&other, &["allow"]).assert_success(); // the approval itself asked
    let calls = askpass.calls().len();
    askpass.answer("no");
    let (_, out) = exec_touch(&world, &other, &[], &marker);
    assert_refused(&out, &marker, &["refused"]);
    assert_eq!(askpass.calls().len(), calls + 1, "the lease asked too");

    // Route: config.toml loses `confirm` (read live): still asked, and the user is told.
    world.write_config(&protected.replace(", confirm = true", ""));
    let (_, out) = exec_touch(&world, &world.project, &[], &marker);
    assert_refused(&out, &marker, &["refused"]);
    assert!(
        askpass.last_prompt().contains("stopped asking"),
        "{}",
        askpass.last_prompt()
    );
    let status = world.run(&["status"]);
    status.assert_stderr_contains(&["confirm removed for", "if you did not do this"]);
    let again = world.run(&["status"]);
    assert!(
        !again.stderr.contains("confirm removed"),
        "said once:\n{again}"
    );

    // Route: trust.json edited to approve a file secd never approved, then a restart.
    let planted = world.root().join("planted");
    std::fs::create_dir_all(&planted).unwrap();
    let text = format!("[env]\nX = \"{}\"\n", op_ref("p"));
    std::fs::write(planted.join(".sec.toml"), &text).unwrap();
    let trust = world.state_home.join("sec/trust.json");
    let mut decisions: Value =
        serde_json::from_str(&std::fs::read_to_string(&trust).unwrap()).unwrap();
    let sha = {
        let out = world.output({
            let mut c = world.command("sha256sum");
            c.arg(planted.join(".sec.toml"));
            c
        });
        out.stdout.split_whitespace().next().unwrap().to_string()
    };
    decisions["files"][path_str(&planted.join(".sec.toml"))] =
        serde_json::json!({"verdict": "allow", "sha256": sha, "at_unix": 0});
    std::fs::write(&trust, decisions.to_string()).unwrap();
    world.run(&["daemon", "stop"]).assert_success();
    let (_, out) = exec_touch(&world, &planted, &[], &marker);
    out.assert_stderr_contains(&["trust.json approved", "never did"]);
    assert!(
        out.stderr.contains("not approved"),
        "the planted approval was honoured:\n{out}"
    );

    // Every one of them is in the audit log.
    let reasons: Vec<String> = audit_events(&world)
        .iter()
        .filter(|e| e["event"] == "tripwire")
        .map(|e| e["reason"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(
        reasons.iter().any(|r| r.contains("confirm removed")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains("trust.json approved")),
        "{reasons:?}"
    );
    assert!(
        !std::fs::read_to_string(audit_path(&world))
            .unwrap()
            .contains(&value)
    );
}

#[test]
fn a_process_that_leaves_the_tree_and_clears_its_environment_is_still_revoked() {
    let (world, _op) = op_world(&[("a", &unique("value-a"))]);
    world.write_config(&format!(
        "[[scope]]\ndir = {{project}}\n[scope.env]\nALPHA = \"{}\"\n",
        op_ref("a")
    ));
    let escaped = world.root().join("escaped");
    // A double fork into a new session, without the lease's marker (and without ALPHA,
    // having copied it first: what matters is that it ran with the lease).
    let prelude = format!(
        "setsid sh -c 'exec env -i sh -c \"echo \\$\\$ > {}; exec sleep 300\"' </dev/null >/dev/null 2>&1 & ",
        escaped.display()
    );
    let run = Running::start_with(&world, &world.project, &[], &prelude, 0);
    let pid = pid_in(&escaped);
    // It was reparented to the command (made a child subreaper before sec became it),
    // where secd looks.
    world.run(&["revoke"]).assert_success();
    assert_stopped_by_secd(&world, &run.finish(), "revoke", "revoked");
    wait_until("the escaped process to be gone", || !alive(pid));
}
