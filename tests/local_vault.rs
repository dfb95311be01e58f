//! The built-in encrypted vault (`local:NAME`) through the real daemon: created on first
//! `sec set`, never holding a value in clear, refusing a wrong passphrase without change,
//! surviving a daemon killed mid-write, locked again by `sec revoke`, re-keyed by `sec
//! passwd`, and the default store where no OS keychain answers. Passphrases travel on a
//! file descriptor or from an askpass program, never in argv or the environment.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use sec_tests::{World, contains, find_in_cmdlines, shell_quoted, unique, write_file_with_mode};

fn vault_path(world: &World) -> PathBuf {
    world.data_home.join("sec/vault.age")
}

const PASSPHRASE: &str = "correct horse battery staple";

fn world_with_vault(token: &str) -> World {
    let world = World::without_keyring();
    world.write_config("[[scope]]\ndir = {project}\n[scope.env]\nTOKEN = \"local:pypi/demo\"\n");
    world
        .run_with_passphrase(&["set", "local:pypi/demo"], PASSPHRASE, Some(token))
        .assert_success();
    world
}

#[test]
fn a_round_trip_through_the_daemon_never_leaves_the_value_in_clear() {
    let token = unique("local-token");
    let world = world_with_vault(&token);
    assert_eq!(world.child_sees(&world.project, "TOKEN").0, token);
    let raw = std::fs::read(vault_path(&world)).unwrap();
    assert!(
        !contains(&raw, &token),
        "the vault holds the value in clear"
    );
    assert!(
        !contains(&raw, "pypi/demo"),
        "the vault holds a name in clear"
    );
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(vault_path(&world)).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    let status = world.run(&["status", "--json"]).json();
    assert_eq!(status["local"]["unlocked"], true);
    assert_eq!(status["local"]["default_store"], "local");
    assert!(
        status["local"]["default_reason"]
            .as_str()
            .unwrap()
            .contains("no OS keychain")
    );
}

#[test]
fn a_wrong_passphrase_is_refused_and_changes_nothing() {
    let world = world_with_vault(&unique("local-token"));
    world.run(&["revoke"]).assert_success();
    let before = std::fs::read(vault_path(&world)).unwrap();
    let out = world.run_with_passphrase(&["unlock", "--local"], "not the passphrase", None);
    out.assert_failure()
        .assert_stderr_contains(&["passphrase does not open", "nothing was changed"]);
    assert_eq!(std::fs::read(vault_path(&world)).unwrap(), before);
    assert_eq!(
        world.run(&["status", "--json"]).json()["local"]["unlocked"],
        false
    );
    world
        .run_with_passphrase(&["unlock", "--local"], PASSPHRASE, None)
        .assert_success();
}

#[test]
fn revoke_locks_the_vault_and_the_next_lookup_asks_again() {
    let token = unique("local-token");
    let world = world_with_vault(&token);
    // A fresh daemon that asks through an askpass program (sec exec here has no terminal).
    world.run(&["daemon", "stop"]).assert_success();
    let asked = world.root().join("asked");
    let askpass = world.root().join("askpass");
    write_file_with_mode(
        &askpass,
        &format!(
            "#!/bin/sh\necho x >> {}\nprintf '%s\\n' '{PASSPHRASE}'\n",
            shell_quoted(&asked)
        ),
        0o755,
    );
    world.write_config(&format!(
        "[defaults]\naskpass = \"{}\"\n[[scope]]\ndir = {{project}}\n[scope.env]\nTOKEN = \"local:pypi/demo\"\n",
        askpass.display()
    ));
    let count = || {
        std::fs::read_to_string(&asked)
            .unwrap_or_default()
            .lines()
            .count()
    };
    assert_eq!(world.child_sees(&world.project, "TOKEN").0, token);
    assert_eq!(count(), 1);
    assert_eq!(
        world.child_sees(&world.project, "TOKEN").0,
        token,
        "served while unlocked"
    );
    assert_eq!(count(), 1);
    let revoked = world.run(&["revoke"]);
    revoked.assert_success();
    assert!(
        revoked.stdout.contains("the local vault is locked again"),
        "revoke does not say it locked the vault: {revoked}"
    );
    let again = world.run(&["revoke"]);
    assert!(
        !again.stdout.contains("locked again"),
        "a vault already locked is not locked again: {again}"
    );
    assert_eq!(world.child_sees(&world.project, "TOKEN").0, token);
    assert_eq!(
        count(),
        2,
        "after a revoke the vault must be unlocked again"
    );
}

/// The temporary files a save writes beside the vault (`.vault.age.*.tmp`).
fn temp_files(world: &World) -> Vec<PathBuf> {
    std::fs::read_dir(world.data_home.join("sec"))
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| {
                    let name = p.file_name().unwrap_or_default().to_string_lossy();
                    name.starts_with(".vault.age.") && name.ends_with(".tmp")
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `sec set REF --passphrase-fd 3` with the value read from `value_file`, started in the
/// background.
fn spawn_set(world: &World, reference: &str, value_file: &Path) -> std::process::Child {
    let pw = world.root().join("pw");
    write_file_with_mode(&pw, PASSPHRASE, 0o600);
    let mut set = world.sec_with_passphrase_file(&["set", reference], &pw);
    set.stdin(File::open(value_file).unwrap())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    set.spawn().unwrap()
}

#[test]
fn a_daemon_killed_during_a_write_leaves_every_old_secret_readable() {
    let token = unique("local-token");
    let world = world_with_vault(&token);
    // A vault of a few MiB: writing and flushing it takes long enough to be caught at it.
    let big = world.root().join("big");
    let big_value = "0123456789abcdef".repeat(3 * 1024 * 1024 / 16);
    std::fs::write(&big, &big_value).unwrap();
    spawn_set(&world, "local:big", &big).wait().unwrap();
    assert_eq!(
        world.run(&["status", "--json"]).json()["local"]["unlocked"],
        true
    );

    // Store more, each time killing secd the moment the save's temporary file appears (the
    // ciphertext is being written and flushed, the rename is still to come), until a kill
    // lands while that file is still there: the write was really interrupted.
    let vault = vault_path(&world);
    let mut interrupted = None;
    for attempt in 0..8 {
        let before = std::fs::read(&vault).unwrap();
        let daemon = world.daemon_pid();
        let value = world.root().join(format!("value-{attempt}"));
        std::fs::write(&value, format!("new-value-{attempt}")).unwrap();
        let mut set = spawn_set(&world, &format!("local:other-{attempt}"), &value);
        let start = Instant::now();
        let mut killed = false;
        while start.elapsed() < Duration::from_secs(60) {
            if !temp_files(&world).is_empty() {
                kill(Pid::from_raw(daemon as i32), Signal::SIGKILL).unwrap();
                killed = true;
                break;
            }
            if set.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        let _ = set.wait();
        let left = temp_files(&world);
        // Whatever happened, the vault is the old one or the new one, whole.
        let after = std::fs::read(&vault).unwrap();
        world
            .run_with_passphrase(&["unlock", "--local"], PASSPHRASE, None)
            .assert_success();
        assert_eq!(
            world.child_sees(&world.project, "TOKEN").0,
            token,
            "attempt {attempt}: an old secret is gone"
        );
        if killed && !left.is_empty() {
            interrupted = Some((attempt, left, before == after));
            break;
        }
    }
    let (attempt, left, unchanged) =
        interrupted.expect("no kill landed while a save was being written, in 8 attempts");
    assert!(
        unchanged,
        "attempt {attempt}: the vault changed although its save was cut short"
    );
    // What the cut-short save left behind holds ciphertext only.
    for file in &left {
        let raw = std::fs::read(file).unwrap();
        assert!(
            !contains(&raw, &format!("new-value-{attempt}")) && !contains(&raw, &token),
            "{} holds a value in clear",
            file.display()
        );
    }
    // The old secrets are all there, the big one whole (as a file: too big for a variable).
    world.write_config(
        "[[scope]]\ndir = {project}\n[scope.env]\nTOKEN = \"local:pypi/demo\"\n\
         BIG = { secret = \"local:big\", as = \"file\" }\n",
    );
    let size = world.root().join("size");
    let mut cmd = world.sec(&["exec", "--", "sh", "-c", "wc -c < \"$BIG\" > \"$1\"", "sh"]);
    cmd.arg(&size);
    world.output(cmd).assert_success();
    assert_eq!(
        std::fs::read_to_string(&size).unwrap().trim(),
        big_value.len().to_string()
    );
}

#[test]
fn passwd_re_keys_the_vault() {
    let token = unique("local-token");
    let world = world_with_vault(&token);
    let new = "a whole new passphrase";
    world
        .run_with_passphrase(
            &["passwd", "--local"],
            &format!("{PASSPHRASE}\n{new}\n"),
            None,
        )
        .assert_success();
    world.run(&["revoke"]).assert_success();
    world
        .run_with_passphrase(&["unlock", "--local"], PASSPHRASE, None)
        .assert_failure();
    world
        .run_with_passphrase(&["unlock", "--local"], new, None)
        .assert_success();
    assert_eq!(world.child_sees(&world.project, "TOKEN").0, token);
}

#[test]
fn the_passphrase_never_reaches_argv_env_logs_or_the_audit_log() {
    let token = unique("local-token");
    let world = world_with_vault(&token);
    world.run(&["revoke"]).assert_success();
    world
        .run_with_passphrase(&["unlock", "--local"], "wrong guess 1", None)
        .assert_failure();
    world
        .run_with_passphrase(&["unlock", "--local"], PASSPHRASE, None)
        .assert_success();
    assert!(
        find_in_cmdlines(PASSPHRASE).is_empty(),
        "a process has the passphrase in argv"
    );
    for text in [world.daemon_log(), audit(&world)] {
        assert!(
            !text.contains(PASSPHRASE) && !text.contains("wrong guess 1"),
            "{text}"
        );
        assert!(!text.contains(&token), "{text}");
    }
    let pid = world.daemon_pid();
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
    assert!(!contains(&environ, PASSPHRASE));
}

fn audit(world: &World) -> String {
    std::fs::read_to_string(world.state_home.join("sec/audit.jsonl")).unwrap_or_default()
}

#[test]
fn a_bare_name_goes_to_the_default_store() {
    // No OS keychain: the local vault.
    let world = World::without_keyring();
    world
        .run_with_passphrase(&["set", "pypi/bare"], PASSPHRASE, Some("v1"))
        .assert_success()
        .assert_stderr_contains(&["local:pypi/bare", "no OS keychain"]);
    assert!(vault_path(&world).exists());

    // A Secret Service answers: the keychain, and no vault file appears.
    let world = World::new();
    world
        .run_with_stdin(&["set", "pypi/bare"], "v2")
        .assert_success()
        .assert_stderr_contains(&["keyring:pypi/bare"]);
    assert_eq!(world.keyring_lookup("pypi", "bare").as_deref(), Some("v2"));
    assert!(!vault_path(&world).exists());
    let status = world.run(&["status"]);
    assert!(status.stdout.contains("default store: keyring"), "{status}");
}

/// Three wrong passphrases typed at a real terminal: sec's last line says it gave up and
/// nothing ran (never "try again", since what the user types next goes to the shell); and
/// before asking it does not tell the user to unlock by hand.
#[test]
fn three_wrong_passphrases_at_the_terminal_end_with_a_clear_refusal() {
    use sec_tests::shell::Tmux;

    let world = world_with_vault(&unique("local-token"));
    world.run(&["revoke"]).assert_success();
    let tmux = Tmux::start(&world, &world.project, "sh");
    tmux.send_line(&format!(
        "{} exec -- sh -c 'echo child-$((1+1))-ran'; echo exit=$?",
        shell_quoted(&sec_tests::sec_bin())
    ));
    for try_number in 0..3 {
        tmux.wait_for_nth("passphrase for the local vault", try_number);
        tmux.send_line("not the passphrase");
    }
    tmux.wait_for_line("exit=");
    let screen = tmux.screen();
    let last_words: Vec<&str> = screen.lines().filter(|l| l.starts_with("sec:")).collect();
    let last = last_words.last().expect("sec said something");
    assert!(last.contains("in 3 tries"), "{screen}");
    assert!(last.contains("nothing was run"), "{screen}");
    assert!(!last.contains("try again"), "{screen}");
    assert!(screen.contains("exit=125"), "{screen}");
    assert!(!screen.contains("child-2-ran"), "{screen}");
    // Before asking, sec says what is locked, not to go and run `sec unlock --local`.
    assert!(screen.contains("local vault is locked"), "{screen}");
    assert!(
        !screen.contains("`sec unlock --local` opens it"),
        "{screen}"
    );
}

/// `sec unlock DIR` (and the hook's unlock, which shares its code) asks for the local vault's
/// passphrase when the vault is locked, instead of failing with "locked".
#[test]
fn unlocking_a_scope_asks_for_the_local_vaults_passphrase() {
    use sec_tests::shell::Tmux;

    let world = world_with_vault(&unique("local-token"));
    world.run(&["revoke"]).assert_success();
    let tmux = Tmux::start(&world, &world.project, "sh");
    tmux.send_line(&format!(
        "{} unlock .; echo exit=$?",
        shell_quoted(&sec_tests::sec_bin())
    ));
    tmux.wait_for("passphrase for the local vault");
    tmux.send_line(PASSPHRASE);
    tmux.wait_for_line("exit=");
    let screen = tmux.screen();
    assert!(screen.contains("unlocked 1 secret"), "{screen}");
    assert!(screen.contains("exit=0"), "{screen}");
    assert_eq!(
        world.run(&["status", "--json"]).json()["local"]["unlocked"],
        true
    );
}

/// No terminal and no askpass: the refusal names both ways out (an askpass program, and
/// that secd reads SEC_ASKPASS only when it starts; or the passphrase on a descriptor).
#[test]
fn without_a_terminal_or_askpass_the_refusal_names_every_way_out() {
    let world = world_with_vault(&unique("local-token"));
    world.run(&["revoke"]).assert_success();
    // A new session without a controlling terminal, even when the tests run in one.
    let mut cmd = world.command("setsid");
    cmd.arg("--wait")
        .arg(sec_tests::sec_bin())
        .args(["unlock", "--local"]);
    let out = world.output(cmd);
    out.assert_failure().assert_stderr_contains(&[
        "no askpass program is set",
        "`sec daemon stop`",
        "--passphrase-fd N",
    ]);
}

/// A new vault's passphrase guards a file that can be tried offline: too short is refused,
/// and nothing is created.
#[test]
fn a_too_short_passphrase_creates_no_vault() {
    let world = World::without_keyring();
    let out = world.run_with_passphrase(&["set", "local:pypi/demo"], "short\n", Some("value"));
    out.assert_failure()
        .assert_stderr_contains(&["fewer than 8 characters", "choose a longer one"]);
    assert!(!vault_path(&world).exists(), "a vault was created");
}

/// `sec ls --local` lists the names the local vault holds (unlocking it first), never a value.
#[test]
fn ls_local_lists_names_never_values() {
    let token = unique("local-token");
    let world = world_with_vault(&token);
    let out = world.run(&["ls", "--local"]);
    out.assert_success();
    assert!(
        out.stdout.contains(": 1 secret\n") && out.stdout.contains("local:pypi/demo"),
        "{out}"
    );
    assert!(
        !out.stdout.contains(&token) && !out.stderr.contains(&token),
        "{out}"
    );
    world.run(&["revoke"]).assert_success();
    let out = world.run_with_passphrase(&["ls", "--local", "--json"], PASSPHRASE, None);
    out.assert_success();
    assert_eq!(
        out.json()["names"],
        serde_json::json!(["pypi/demo"]),
        "{out}"
    );
    assert!(!out.stdout.contains(&token), "{out}");
}
