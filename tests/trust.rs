//! Repository files (`.sec.toml`): inert until `sec allow`, bound to their content, merged
//! with the user's own scope for the same directory, and `sec unlock` warming the cache.
//! Secrets come from the `op` stand-in (1Password's CLI cannot be installed here), which
//! counts its lookups.

use std::path::Path;

use sec_tests::{Output, World, shell_quoted, unique};

/// [`World::child_sees`] for a `sec exec` that succeeds: here the child always runs, with
/// or without the repository's variables.
fn child_sees(world: &World, dir: &Path, var: &str) -> (String, Output) {
    let (seen, out) = world.child_sees(dir, var);
    out.assert_success();
    (seen, out)
}

fn write_repo_file(dir: &Path, text: &str) {
    std::fs::write(dir.join(".sec.toml"), text).unwrap();
}

/// An askpass program that records the question it was asked in `ANSWERS/prompt` and says
/// yes; returns the `[defaults]` lines that make secd use it. `sec allow` without a terminal
/// is confirmed through it.
fn yes_askpass(world: &World) -> String {
    let dir = world.root().join("askpass");
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("yes");
    sec_tests::write_file_with_mode(
        &script,
        &format!(
            "#!/bin/sh\nprintf '%s' \"$1\" > {prompt}\n[ -x {meanwhile} ] && {meanwhile}\nexit 0\n",
            prompt = shell_quoted(&dir.join("prompt")),
            meanwhile = shell_quoted(&dir.join("meanwhile")),
        ),
        0o755,
    );
    format!("[defaults]\naskpass = {}\n", sec_tests::toml_path(&script))
}

fn last_prompt(world: &World) -> String {
    std::fs::read_to_string(world.root().join("askpass/prompt")).unwrap_or_default()
}

#[test]
fn a_repo_file_gives_nothing_until_allowed_and_again_nothing_after_an_edit() {
    let world = World::without_keyring();
    let op = world.op_standin();
    let token = unique("repo-token");
    op.add_item("op://V/repo/token", &token);
    write_repo_file(
        &world.project,
        "[env]\nREPO_TOKEN = \"op://V/repo/token\"\n",
    );
    world.write_config(&yes_askpass(&world));

    let (seen, out) = child_sees(&world, &world.project, "REPO_TOKEN");
    assert_eq!(seen, "<unset>");
    out.assert_stderr_contains(&["not approved", "sec allow"]);
    assert!(
        op.invocations().is_empty(),
        "an unapproved file made secd ask the vault"
    );
    let ls = world.run(&["ls"]);
    assert!(
        ls.stdout.contains("(new)") && ls.stdout.contains("REPO_TOKEN"),
        "{ls}"
    );

    world.run(&["allow"]).assert_success();
    let (seen, _) = child_sees(&world, &world.project, "REPO_TOKEN");
    assert_eq!(seen, token);

    // Any edit makes it inert again, also in a subdirectory of the repository.
    write_repo_file(
        &world.project,
        "[env]\nREPO_TOKEN = \"op://V/repo/token\"\nMORE = \"op://V/repo/token\"\n",
    );
    let sub = world.project.join("src");
    std::fs::create_dir_all(&sub).unwrap();
    let (seen, out) = child_sees(&world, &sub, "REPO_TOKEN");
    assert_eq!(seen, "<unset>");
    out.assert_stderr_contains(&["changed since you approved it", "sec allow"]);

    world.run_in(&sub, &["allow"]).assert_success();
    assert_eq!(child_sees(&world, &sub, "MORE").0, token);

    // A denial: nothing, and no more nagging.
    world.run(&["deny"]).assert_success();
    let (seen, out) = child_sees(&world, &world.project, "REPO_TOKEN");
    assert_eq!(seen, "<unset>");
    assert!(!out.stderr.contains("sec allow"), "{out}");
    assert!(world.run(&["ls"]).stdout.contains("(denied)"));
}

#[test]
fn a_repo_file_with_a_mistake_cannot_be_allowed() {
    let world = World::without_keyring();
    write_repo_file(&world.project, "[env]\nTOKEN = \"pypi-pasted-token\"\n");
    let out = world.run(&["allow"]);
    out.assert_failure()
        .assert_stderr_contains(&[".sec.toml:2:9:", "{ value = \"...\" }"]);
    assert!(!out.stderr.contains("pypi-pasted-token"), "{out}");
    assert!(world.run(&["ls"]).stdout.contains("(new)"));
}

#[test]
fn the_users_own_scope_wins_over_a_repo_file_for_the_same_directory() {
    let world = World::without_keyring();
    let op = world.op_standin();
    op.add_item("op://V/mine/token", "users-value");
    op.add_item("op://V/theirs/token", "repos-value");
    world.write_config(&format!(
        "{}[[scope]]\ndir = {{project}}\n[scope.env]\nTOKEN = \"op://V/mine/token\"\nMINE = {{ value = \"m\" }}\n",
        yes_askpass(&world)
    ));
    write_repo_file(
        &world.project,
        "[env]\nTOKEN = \"op://V/theirs/token\"\nEXTRA = { value = \"e\" }\n",
    );
    // Unapproved: the user's scope alone.
    assert_eq!(child_sees(&world, &world.project, "TOKEN").0, "users-value");
    assert_eq!(child_sees(&world, &world.project, "EXTRA").0, "<unset>");
    world.run(&["allow"]).assert_success();
    assert_eq!(child_sees(&world, &world.project, "TOKEN").0, "users-value");
    assert_eq!(child_sees(&world, &world.project, "EXTRA").0, "e");
    assert_eq!(child_sees(&world, &world.project, "MINE").0, "m");
}

#[test]
fn unlock_warms_the_cache_so_exec_asks_the_vault_no_more() {
    let world = World::without_keyring();
    let op = world.op_standin();
    op.add_item("op://V/item/token", "warm-value");
    world.write_config("[[scope]]\ndir = {project}\n[scope.env]\nTOKEN = \"op://V/item/token\"\n");
    let before = world.run(&["ls"]);
    assert!(
        before
            .stdout
            .contains("its secrets looked up at the next use"),
        "{before}"
    );
    let out = world.run(&["unlock"]);
    out.assert_success();
    assert!(out.stdout.contains("unlocked 1 secret for"), "{out}");
    assert_eq!(op.invocations().len(), 1);
    let after = world.run(&["ls"]);
    assert!(after.stdout.contains("its secrets in memory"), "{after}");
    let status = world.run(&["status", "--json"]).json();
    assert_eq!(status["cached"][0]["references"][0], "op://V/item/token");
    assert_eq!(child_sees(&world, &world.project, "TOKEN").0, "warm-value");
    assert_eq!(
        op.invocations().len(),
        1,
        "exec after unlock went to the vault again"
    );
}

#[test]
fn approval_shows_everything_safely_and_binds_to_what_was_shown() {
    let world = World::without_keyring();
    let op = world.op_standin();
    op.add_item("op://V/repo/token", "repo-token");
    // An escape sequence that would erase the line before it on a terminal, and a literal
    // that would send a real token elsewhere if merged into the user's scope.
    write_repo_file(
        &world.project,
        "[env]\nHIDDEN = \"op://V/repo/token\\u001b[1A\\u001b[2K\"\n\
         TWINE_REPOSITORY_URL = { value = \"https://evil.example/legacy/\" }\n",
    );
    // Without a terminal and without askpass, nobody can say yes: refused.
    let out = world.run(&["allow"]);
    out.assert_failure()
        .assert_stderr_contains(&["needs you", "in a terminal"]);
    world.write_config(&yes_askpass(&world));
    world.run(&["allow"]).assert_success();
    let prompt = last_prompt(&world);
    assert!(
        !prompt.contains('\u{1b}'),
        "a raw escape reached the prompt: {prompt:?}"
    );
    assert!(
        prompt.contains("HIDDEN <- op://V/repo/token\\u{1b}[1A"),
        "{prompt}"
    );
    assert!(
        prompt.contains("TWINE_REPOSITORY_URL = \"https://evil.example/legacy/\""),
        "{prompt}"
    );
    let ls = world.run(&["ls"]);
    assert!(!ls.stdout.contains('\u{1b}'), "{ls}");

    // The file changes while the user is being asked: what they approved is the old text.
    write_repo_file(&world.project, "[env]\nA = { value = \"shown\" }\n");
    let meanwhile = world.root().join("askpass/meanwhile");
    sec_tests::write_file_with_mode(
        &meanwhile,
        &format!(
            "#!/bin/sh\nprintf '[env]\\nA = {{ value = \"swapped\" }}\\n' > {}\n",
            shell_quoted(&world.project.join(".sec.toml"))
        ),
        0o755,
    );
    world.run(&["allow"]).assert_success();
    let (seen, out) = child_sees(&world, &world.project, "A");
    assert_eq!(seen, "<unset>", "the swapped file was approved:\n{out}");
    out.assert_stderr_contains(&["changed since you approved it"]);
}

/// An approved repository file, edited: it gives nothing, and what secd cached for it is
/// dropped at the next look (not kept until its TTL), and said so in the audit log.
#[test]
fn an_edited_repo_file_loses_its_cached_secrets() {
    let world = World::without_keyring();
    let op = world.op_standin();
    op.add_item("op://V/repo/token", &unique("repo-token"));
    write_repo_file(
        &world.project,
        "[env]\nREPO_TOKEN = \"op://V/repo/token\"\n",
    );
    world.write_config(&yes_askpass(&world));
    world.run(&["allow"]).assert_success();
    world.run(&["unlock"]).assert_success();
    let cached = |world: &World| {
        world.run(&["status", "--json"]).json()["cached"]
            .as_array()
            .map_or(0, Vec::len)
    };
    assert_eq!(cached(&world), 1, "the approved file's secret is cached");

    write_repo_file(
        &world.project,
        "[env]\nREPO_TOKEN = \"op://V/repo/token\"\nMORE = \"op://V/repo/token\"\n",
    );
    world.run(&["ls"]).assert_success();
    assert_eq!(cached(&world), 0, "an inert file's secret stayed cached");
    let log = world.run(&["log"]);
    assert!(log.stdout.contains("is no longer approved"), "{log}");
}

/// `sec ls --json`: the scope in force and the repository file, names and references, never
/// a value (a literal is marked as one, without its text).
#[test]
fn ls_json_lists_names_and_references_never_values() {
    let world = World::without_keyring();
    let literal = unique("literal-text");
    world.write_config(&format!(
        "[[scope]]\ndir = {{project}}\n[scope.env]\nUSER_NAME = {{ value = \"{literal}\" }}\nTOKEN = \"op://V/item/token\"\n"
    ));
    let repo_literal = unique("repo-literal");
    write_repo_file(
        &world.project,
        &format!(
            "[env]\nREPO_TOKEN = \"op://V/repo/token\"\nREPO_NAME = {{ value = \"{repo_literal}\" }}\n"
        ),
    );
    let out = world.run(&["ls", "--json"]);
    out.assert_success();
    assert!(
        !out.stdout.contains(&literal) && !out.stdout.contains(&repo_literal),
        "{out}"
    );
    let json = out.json();
    let scope_vars = json["scope"]["vars"]
        .as_array()
        .expect("the scope's variables");
    assert!(
        scope_vars.contains(&serde_json::json!({
            "name": "TOKEN", "reference": "op://V/item/token", "literal": false, "cached": false
        })),
        "{json}"
    );
    assert!(
        scope_vars.contains(&serde_json::json!({
            "name": "USER_NAME", "reference": null, "literal": true, "cached": false
        })),
        "{json}"
    );
    assert_eq!(
        json["scope"]["source"]
            .as_str()
            .map(|s| s.contains("config")),
        Some(true),
        "{json}"
    );
    assert_eq!(json["repo"]["trust"], "new", "{json}");
    assert_eq!(
        json["repo"]["vars"].as_array().map(Vec::len),
        Some(2),
        "{json}"
    );
}
