//! Self-tests of the fixtures in tests/support, without sec: when an end-to-end test fails,
//! these tell whether the harness (keyring, `op` stand-in, package index, HTTPS echo server)
//! or sec is at fault.

use std::path::Path;
use std::process::Stdio;

use sec_tests::{
    DEMO_DIST, HttpsEcho, PackageIndex, TestCa, Venv, World, build_demo_wheel, require_program,
    unique,
};

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

/// The echo server of the broker tests answers as two hosts (`localhost` and `127.0.0.1`)
/// with a certificate that only its test CA vouches for, and records what reached it.
#[test]
fn the_https_echo_server_answers_as_two_hosts_and_records_every_request() {
    require_program("curl", "curl");
    let world = World::without_keyring();
    let echo = HttpsEcho::start(&world.root().join("echo"));
    let curl = |args: &[&str]| {
        let mut cmd = world.command("curl");
        cmd.args(["-sS", "--max-time", "20", "--cacert"])
            .arg(echo.ca_file())
            .args(["-w", "\nstatus=%{http_code}\n"])
            .args(args);
        world.output(cmd)
    };
    let token = unique("echo-token");
    let bearer = format!("Authorization: Bearer {token}");

    let echoed = curl(&["-H", &bearer, &echo.url("localhost", "x?q=1")]);
    echoed.assert_success();
    let json: serde_json::Value = serde_json::from_str(echoed.stdout.lines().next().unwrap())
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{echoed}"));
    assert_eq!(json["method"], "GET", "{echoed}");
    assert_eq!(json["path"], "/x?q=1", "{echoed}");
    assert_eq!(json["headers"]["Authorization"], format!("Bearer {token}"));

    let posted = curl(&[
        "-u",
        &format!("__token__:{token}"),
        "-d",
        "hello",
        &echo.url("127.0.0.1", "y"),
    ]);
    posted.assert_success();
    assert!(posted.stdout.contains("status=200"), "{posted}");

    let redirect = echo.url("localhost", "redirect?to=https://127.0.0.1:1/z");
    let redirected = curl(&["-i", &redirect]);
    assert!(redirected.stdout.contains("status=302"), "{redirected}");
    assert!(
        redirected
            .stdout
            .contains("Location: https://127.0.0.1:1/z"),
        "{redirected}"
    );
    let reflected = curl(&["-H", &bearer, &echo.url("127.0.0.1", "reflect")]);
    assert!(
        reflected.stdout.starts_with(&format!("Bearer {token}\n"))
            && reflected.stdout.ends_with("\nstatus=200\n"),
        "{reflected}"
    );

    // Keep-alive: two requests on one connection.
    let both = curl(&[
        "-v",
        &echo.url("localhost", "a"),
        &echo.url("localhost", "b"),
    ]);
    assert!(
        both.stderr.contains("Re-using existing connection"),
        "the echo server closed a keep-alive connection:\n{both}"
    );

    // Only the test CA vouches for it.
    let mut untrusted = world.command("curl");
    untrusted.args(["-sS", "--max-time", "20", &echo.url("localhost", "")]);
    world.output(untrusted).assert_failure();

    let seen = echo.seen();
    let paths: Vec<&str> = seen.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/x?q=1",
            "/y",
            "/redirect?to=https://127.0.0.1:1/z",
            "/reflect",
            "/a",
            "/b"
        ],
        "{seen:#?}\n{}",
        echo.log()
    );
    assert!(seen[0].is_for("localhost") && seen[0].sni.as_deref() == Some("localhost"));
    assert_eq!(
        seen[0].header("authorization"),
        Some(format!("Bearer {token}").as_str())
    );
    assert!(
        seen[1].is_for("127.0.0.1") && seen[1].sni.is_none(),
        "{:?}",
        seen[1]
    );
    assert_eq!(seen[1].method, "POST");
    assert_eq!(
        seen[1].basic,
        Some(("__token__".to_string(), token.clone()))
    );
    assert_eq!(seen[1].body, "hello");
    assert!(seen[1].holds(&token) && !seen[2].holds(&token));
    assert_eq!(echo.seen_at("127.0.0.1").len(), 2);
}

/// The package index behind TLS (the broker's twine test) takes an upload with its password
/// only, from a client that trusts the test CA.
#[test]
fn the_tls_package_index_takes_uploads_only_with_its_password() {
    let venv = Venv::shared(Path::new(env!("CARGO_TARGET_TMPDIR")));
    let world = World::without_keyring();
    let ca = TestCa::new(&world.root().join("ca"));
    let index = PackageIndex::start_tls(
        &venv,
        &world.root().join("index"),
        "__token__",
        "right",
        &ca,
    );
    assert!(index.url.starts_with("https://localhost:"), "{}", index.url);
    let wheel = build_demo_wheel(
        &venv,
        &world.root().join("wheel-src"),
        &world.root().join("dist"),
    );
    let upload = |password: &str, url: &str| {
        let mut cmd = world.command(venv.bin("twine"));
        cmd.args(["upload", "--non-interactive", "--repository-url", url])
            .arg(&wheel)
            .env("TWINE_USERNAME", "__token__")
            .env("TWINE_PASSWORD", password)
            .env("REQUESTS_CA_BUNDLE", ca.cert())
            .stdin(Stdio::null());
        world.output(cmd)
    };
    let refused = upload("wrong", &index.url);
    refused.assert_failure();
    assert!(
        refused.stderr.contains("403") || refused.stdout.contains("403"),
        "{refused}\n{}",
        index.tls_log()
    );
    assert!(index.files().is_empty(), "{:?}", index.files());
    let by_ip = index.url.replace("localhost", "127.0.0.1");
    upload("right", &by_ip).assert_success();
    assert!(
        index.files().iter().any(|f| f.starts_with(DEMO_DIST)),
        "{:?}",
        index.files()
    );
}
