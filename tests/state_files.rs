//! sec's state files are never written or read through a symbolic link: whoever replaces
//! `audit.jsonl`, `secd.log`, `trust.json`, `config.last-good.toml` or the local vault with
//! a link to another file (`~/.bashrc`) gets a refusal that names the file, and the link's
//! target stays as it was.

use std::path::{Path, PathBuf};

use sec_tests::{SEC_FAILED, World, unique};

/// A file the link points at, with a canary in it; returns its path and content.
fn canary_target(world: &World, name: &str) -> (PathBuf, String) {
    let path = world.home.join(name);
    let text = format!("# {}\n", unique("untouched"));
    std::fs::write(&path, &text).unwrap();
    (path, text)
}

/// Plants `link` -> `target` (creating the link's directory).
fn plant_link(link: &Path, target: &Path) {
    std::fs::create_dir_all(link.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(target, link).unwrap();
}

fn assert_untouched(target: &Path, text: &str, link: &Path) {
    assert_eq!(
        std::fs::read_to_string(target).unwrap(),
        text,
        "{} was written through the link {}",
        target.display(),
        link.display()
    );
    assert!(
        std::fs::symlink_metadata(link)
            .unwrap()
            .file_type()
            .is_symlink(),
        "{} was replaced instead of refused",
        link.display()
    );
}

fn state(world: &World, name: &str) -> PathBuf {
    world.state_home.join("sec").join(name)
}

#[test]
fn an_audit_log_replaced_by_a_link_is_refused_and_its_target_untouched() {
    let world = World::without_keyring();
    world.write_config("[[scope]]\ndir = {project}\n[scope.env]\nGREETING = { value = \"hi\" }\n");
    let (target, text) = canary_target(&world, ".bashrc");
    let link = state(&world, "audit.jsonl");
    plant_link(&link, &target);
    let marker = world.root().join("ran");
    let mut cmd = world.sec(&["exec", "--", "touch"]);
    cmd.arg(&marker);
    let out = world.output(cmd);
    out.assert_code(SEC_FAILED)
        .assert_stderr_contains(&[&link.display().to_string(), "symbolic link"]);
    assert!(!marker.exists(), "a lease was handed out unrecorded");
    assert_untouched(&target, &text, &link);
    assert!(
        world.daemon_log().contains("symbolic link"),
        "secd.log does not say why:\n{}",
        world.daemon_log()
    );
}

#[test]
fn a_trust_file_replaced_by_a_link_is_refused_and_its_target_untouched() {
    let world = World::without_keyring();
    // `sec allow` without a terminal is confirmed through askpass: here, always yes.
    world.write_config("[defaults]\naskpass = \"/bin/true\"\n");
    let (target, text) = canary_target(&world, ".profile");
    let link = state(&world, "trust.json");
    plant_link(&link, &target);
    let repo = world.project.join("repo");
    std::fs::create_dir(&repo).unwrap();
    std::fs::write(repo.join(".sec.toml"), "[env]\nA = { value = \"x\" }\n").unwrap();
    let out = world.run_in(&repo, &["allow"]);
    out.assert_failure()
        .assert_stderr_contains(&[&link.display().to_string(), "symbolic link"]);
    assert_untouched(&target, &text, &link);
    assert!(world.daemon_log().contains("symbolic link"));
}

#[test]
fn a_last_good_config_replaced_by_a_link_is_refused_and_its_target_untouched() {
    let world = World::without_keyring();
    let (target, text) = canary_target(&world, ".bashrc");
    let link = state(&world, "config.last-good.toml");
    plant_link(&link, &target);
    world.write_config("[[scope]]\ndir = {project}\n[scope.env]\nGREETING = { value = \"hi\" }\n");
    world.run(&["exec", "--", "true"]).assert_success();
    world.run(&["status"]).assert_success();
    assert_untouched(&target, &text, &link);
    let log = world.daemon_log();
    assert!(
        log.contains(&link.display().to_string()) && log.contains("symbolic link"),
        "secd.log does not say why the last good config is not kept:\n{log}"
    );
}

#[test]
fn a_daemon_log_replaced_by_a_link_is_refused_and_its_target_untouched() {
    let world = World::without_keyring();
    let (target, text) = canary_target(&world, ".bashrc");
    let link = state(&world, "secd.log");
    plant_link(&link, &target);
    let out = world.run(&["status"]);
    out.assert_failure()
        .assert_stderr_contains(&[&link.display().to_string(), "symbolic link"]);
    assert_untouched(&target, &text, &link);
}

#[test]
fn a_local_vault_replaced_by_a_link_is_refused_and_its_target_untouched() {
    let world = World::without_keyring();
    let (target, text) = canary_target(&world, ".bashrc");
    let link = world.data_home.join("sec/vault.age");
    plant_link(&link, &target);
    let out = world.run_with_passphrase(
        &["set", "local:pypi/demo"],
        "a long passphrase\na long passphrase\n",
        Some("value"),
    );
    out.assert_failure()
        .assert_stderr_contains(&[&link.display().to_string(), "symbolic link"]);
    assert_untouched(&target, &text, &link);
    let out = world.run_with_passphrase(&["unlock", "--local"], "a long passphrase\n", None);
    out.assert_failure()
        .assert_stderr_contains(&[&link.display().to_string(), "symbolic link"]);
    assert_untouched(&target, &text, &link);
}
