//! A token pasted into the wrong place is never repeated: not in an error of config.toml or a
//! repository's `.sec.toml` (whatever key it landed in), not by `sec set` when it was typed
//! as the name, and never in secd's log, `sec status`, the audit log or a file sec writes.
//! Each test plants a token-shaped canary and searches every output for it.

use std::path::Path;

use sec_tests::{Output, World, files_under, token_canary};

/// Mistakes in the user's config.toml: `{C}` is where the token was pasted. Each line goes
/// into the project's `[[scope]]` (or replaces a table where it starts with `[`).
const MISPLACED_IN_SCOPE: &[&str] = &[
    "ttl = \"{C}\"",
    "max_ttl = \"{C}\"",
    "max_lease = \"{C}\"",
    "on_revoke = \"{C}\"",
    "on_leave = \"{C}\"",
    "prompt = \"{C}\"",
    "confirm = \"{C}\"",
    "commands = [\"{C}\"]",
    "commands = \"{C}\"",
    "{C} = \"keyring:a/b\"",
    "token = \"{C}\"",
];

/// Mistakes in a variable's table form (a line of `[scope.env]`).
const MISPLACED_IN_ENV: &[&str] = &[
    "A = { secret = \"keyring:a/b\", as = \"{C}\" }",
    "A = { secret = \"keyring:a/b\", as = \"file\", name = \"{C}\" }",
    "A = { secret = \"keyring:a/b\", as = \"file\", name = \"../{C}\" }",
    "A = { secret = \"keyring:a/b\", name = \"{C}\" }",
    "A = { secret = \"keyring:a/b\", confirm = \"{C}\" }",
    "A = { secret = \"keyring:a/b\", {C} = 1 }",
    "\"{C}\" = \"keyring:a/b\"",
    "A = \"{C}\"",
    "A = \"local:{C}\"",
    "A = { secret = \"keyring:pypi/{C}\" }",
];

/// Top-level mistakes: the whole file.
const MISPLACED_AT_TOP: &[&str] = &[
    "[defaults]\nttl = \"{C}\"\n",
    "[defaults]\nconfirm_timeout = \"{C}\"\n",
    "[local]\nmax_ttl = \"{C}\"\n",
    "{C} = 1\n",
    "[shield]\nkeep_env = [\"{C}\"]\n",
    "[shield]\nhide = [\"{C}\"]\n",
];

/// Everything a user could look at after the mistakes: what each command printed, secd's
/// log, the audit log, and every file sec keeps (the config itself excepted: the user wrote
/// the token there).
fn assert_nowhere(world: &World, canary: &str, outputs: &[Output]) {
    for out in outputs {
        assert!(
            !out.stdout.contains(canary) && !out.stderr.contains(canary),
            "the token was repeated:\n{out}"
        );
    }
    let log = world.daemon_log();
    assert!(
        !log.is_empty(),
        "secd.log is empty: the test did not run secd"
    );
    assert!(!log.contains(canary), "the token is in secd.log:\n{log}");
    for dir in [&world.state_home, &world.runtime_dir, &world.data_home] {
        for file in files_under(dir) {
            let text =
                String::from_utf8_lossy(&std::fs::read(&file).unwrap_or_default()).into_owned();
            assert!(
                !text.contains(canary),
                "the token is in {}:\n{text}",
                file.display()
            );
        }
    }
}

/// Every command that reads or reports the config, in `dir`.
fn everything_that_reports(world: &World, dir: &Path, config: &Path) -> Vec<Output> {
    let mut outputs = vec![
        world.run_in(dir, &["ls"]),
        world.run_in(dir, &["status"]),
        world.run_in(dir, &["status", "--json"]),
        world.run_in(dir, &["exec", "--", "true"]),
        world.run_in(dir, &["log"]),
    ];
    let mut check = world.command(sec_tests::secd_bin());
    check.arg("--check-config").arg(config);
    outputs.push(world.output(check));
    outputs
}

#[test]
fn a_token_pasted_into_any_config_key_is_never_repeated() {
    let world = World::without_keyring();
    let canary = token_canary();
    let good = "[[scope]]\ndir = {project}\n[scope.env]\nA = { value = \"x\" }\n";
    world.write_config(good);
    world.run(&["exec", "--", "true"]).assert_success();

    let mut configs: Vec<String> = Vec::new();
    for line in MISPLACED_IN_SCOPE {
        configs.push(format!(
            "[[scope]]\ndir = {{project}}\n{line}\n[scope.env]\nA = {{ value = \"x\" }}\n"
        ));
    }
    for line in MISPLACED_IN_ENV {
        configs.push(format!(
            "[[scope]]\ndir = {{project}}\n[scope.env]\n{line}\n"
        ));
    }
    for text in MISPLACED_AT_TOP {
        configs.push(format!("{text}[[scope]]\ndir = {{project}}\n"));
    }
    let mut outputs = Vec::new();
    for config in &configs {
        world.write_config(&config.replace("{C}", &canary));
        let reported = everything_that_reports(&world, &world.project, &world.config_path());
        let check = reported.last().expect("the check-config run");
        assert!(!check.success(), "{config:?} was taken:\n{check}");
        assert!(
            check.stderr.contains("config.toml:") && !check.stderr.contains("config.toml:0:"),
            "no position for {config:?}:\n{check}"
        );
        outputs.extend(reported);
    }
    assert_nowhere(&world, &canary, &outputs);
}

#[test]
fn a_token_pasted_into_a_repository_file_is_never_repeated() {
    let world = World::without_keyring();
    let canary = token_canary();
    world.write_config("");
    let repo = world.project.join("repo");
    std::fs::create_dir(&repo).unwrap();
    let file = repo.join(".sec.toml");
    let mut outputs = Vec::new();
    let mut texts: Vec<String> = MISPLACED_IN_SCOPE
        .iter()
        .map(|line| format!("{line}\n[env]\nA = {{ value = \"x\" }}\n"))
        .collect();
    texts.extend(
        MISPLACED_IN_ENV
            .iter()
            .map(|line| format!("[env]\n{line}\n")),
    );
    for text in &texts {
        std::fs::write(&file, text.replace("{C}", &canary)).unwrap();
        outputs.push(world.run_in(&repo, &["allow"]));
        outputs.extend(everything_that_reports(&world, &repo, &world.config_path()));
    }
    assert_nowhere(&world, &canary, &outputs);
}

#[test]
fn sec_set_refuses_a_name_that_looks_like_a_token_without_repeating_it() {
    let world = World::without_keyring();
    let canary = token_canary();
    world.run(&["daemon", "start"]).assert_success();
    let mut outputs = Vec::new();
    for reference in [
        canary.clone(),
        format!("pypi/{canary}"),
        format!("keyring:{canary}"),
        format!("local:{canary}"),
        format!("keyutils:{canary}"),
        // Other well-known token shapes.
        "pypi-AgEIcHlwaS5vcmcCJDk3ZTQ1NjYzLWNhbmFyeS00ZGQ2Yi04".to_string(),
        "glpat-Xq3vB9sK2mN7pL4wR8tY".to_string(),
        "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx".to_string(),
        "AKIAIOSFODNN7EXAMPLE".to_string(),
    ] {
        let out = world.run(&["set", &reference]);
        out.assert_failure()
            .assert_stderr_contains(&["looks like a token"]);
        let name = reference.rsplit([':', '/']).next().unwrap();
        assert!(
            !out.stdout.contains(name) && !out.stderr.contains(name),
            "the name was repeated:\n{out}"
        );
        outputs.push(out);
        outputs.push(world.run(&["rm", &reference]));
    }
    outputs.push(world.run(&["status"]));
    outputs.push(world.run(&["log"]));
    assert!(
        !world.data_home.join("sec/vault.age").exists(),
        "a vault was created for a refused name"
    );
    assert_nowhere(&world, &canary, &outputs);

    // Ordinary names still work.
    world
        .run_with_stdin(&["set", "--force", "keyutils:pypi/coveragepy"], "v\n")
        .assert_success()
        .assert_stderr_contains(&["stored keyutils:pypi/coveragepy"]);
}
