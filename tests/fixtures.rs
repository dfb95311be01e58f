//! Self-tests of the fixtures in tests/support, without sec: when an end-to-end test fails,
//! these tell whether the harness (keyring, `op` stand-in, package index) or sec is at fault.

use std::path::Path;
use std::process::Stdio;

use sec_tests::{DEMO_DIST, PackageIndex, Venv, World, build_demo_wheel, unique};

#[test]
fn the_private_keyring_stores_looks_up_and_clears() {
    let world = World::new();
    let value = unique("fixture");
    assert_eq!(world.keyring_lookup("fixture", "me"), None);
    world.keyring_store("fixture", "me", &value);
    assert_eq!(
        world.keyring_lookup("fixture", "me").as_deref(),
        Some(value.as_str())
    );
    world.keyring_clear("fixture", "me");
}

/// The stand-in for 1Password's `op` (which cannot be installed here) answers like `op`.
#[test]
fn the_op_standin_answers_like_op() {
    let world = World::without_keyring();
    let op = world.op_standin();
    op.add_item("op://Private/GitHub/credential", "s3cret");
    let op_read = |args: &[&str]| {
        let mut cmd = world.command("op");
        cmd.arg("read").args(args);
        world.output(cmd)
    };

    let out = op_read(&["--no-newline", "op://Private/GitHub/credential"]);
    out.assert_success();
    assert_eq!(out.stdout, "s3cret");
    assert_eq!(
        op_read(&["op://Private/GitHub/credential"]).stdout,
        "s3cret\n"
    );

    op_read(&["op://Private/Nope/credential"])
        .assert_code(1)
        .assert_stderr_contains(&["\"Nope\" isn't an item in the \"Private\" vault"]);
    op.sign_out();
    op_read(&["op://Private/GitHub/credential"])
        .assert_code(1)
        .assert_stderr_contains(&["You are not currently signed in", "op signin"]);
    assert_eq!(op.invocations().len(), 4, "{:?}", op.invocations());
}

#[test]
fn the_package_index_takes_uploads_only_with_its_password() {
    let venv = Venv::shared(Path::new(env!("CARGO_TARGET_TMPDIR")));
    let world = World::without_keyring();
    let index = PackageIndex::start(&venv, &world.root().join("index"), "__token__", "right");
    let wheel = build_demo_wheel(
        &venv,
        &world.root().join("wheel-src"),
        &world.root().join("dist"),
    );
    let upload = |password: &str| {
        let mut cmd = world.command(venv.bin("twine"));
        cmd.args([
            "upload",
            "--non-interactive",
            "--repository-url",
            &index.url,
        ])
        .arg(&wheel)
        .env("TWINE_USERNAME", "__token__")
        .env("TWINE_PASSWORD", password)
        .stdin(Stdio::null());
        world.output(cmd)
    };
    let refused = upload("wrong");
    refused.assert_failure();
    assert!(
        refused.stderr.contains("403") || refused.stdout.contains("403"),
        "{refused}"
    );
    upload("right").assert_success();
    assert!(
        index.files().iter().any(|f| f.starts_with(DEMO_DIST)),
        "{:?}",
        index.files()
    );
}
