//! `sec import`: credentials move from plaintext files into the real Secret Service, the
//! printed scope works for real consumers (a child's environment, `curl --netrc-file`
//! against a local server that wants the password), and the original file is only removed
//! on request, after every credential was stored and read back.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use sec_tests::{Output, World, unique};

/// A local HTTP server that answers 200 only to Basic auth `user:password`.
struct AuthServer {
    child: Child,
    port: u16,
}

impl AuthServer {
    fn start(user: &str, password: &str) -> Self {
        let script = r#"
import base64, http.server, sys
want = "Basic " + base64.b64encode(sys.argv[1].encode()).decode()
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        ok = self.headers.get("Authorization") == want
        self.send_response(200 if ok else 401)
        if not ok:
            self.send_header("WWW-Authenticate", "Basic realm=sec")
        self.end_headers()
        if ok:
            self.wfile.write(b"welcome")
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
print(server.server_port, flush=True)
server.serve_forever()
"#;
        let mut child = Command::new("python3")
            .args(["-c", script, &format!("{user}:{password}")])
            .stdout(Stdio::piped())
            .spawn()
            .expect("cannot start python3");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        Self {
            child,
            port: line.trim().parse().expect("the server's port"),
        }
    }
}

impl Drop for AuthServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn pypirc_round_trips_into_the_keyring_and_a_scope() {
    let world = World::new();
    let (pypi, testpypi) = (unique("pypi-AgEI"), unique("pypi-test"));
    let pypirc = world.home.join(".pypirc");
    let text = format!(
        "[distutils]\nindex-servers =\n    pypi\n    testpypi\n\n[pypi]\nusername = __token__\npassword = {pypi}\n\n\
         [testpypi]\nrepository = https://test.pypi.org/legacy/\nusername = __token__\npassword = {testpypi}\n"
    );
    std::fs::write(&pypirc, &text).unwrap();
    let project = world.project.display().to_string();
    let out = world.run(&["import", "pypirc", "--write", "--dir", &project]);
    out.assert_success();
    assert!(
        !out.stdout.contains(&pypi) && !out.stderr.contains(&pypi),
        "{out}"
    );
    assert!(
        out.stdout
            .contains("TWINE_PASSWORD = \"keyring:pypi/pypi\""),
        "{out}"
    );
    assert_eq!(
        world.keyring_lookup("pypi", "pypi").as_deref(),
        Some(pypi.as_str())
    );
    assert_eq!(
        world.keyring_lookup("pypi", "testpypi").as_deref(),
        Some(testpypi.as_str())
    );
    assert_eq!(
        std::fs::read_to_string(&pypirc).unwrap(),
        text,
        "the original was changed"
    );

    let (seen, out) = world.child_sees(&world.project, "TWINE_PASSWORD");
    out.assert_success();
    assert_eq!(seen, pypi);
    let config = std::fs::read_to_string(world.config_path()).unwrap();
    assert!(!config.contains(&pypi), "a value reached config.toml");
}

#[test]
fn netrc_entries_become_files_that_curl_reads_and_remove_deletes_the_original() {
    let world = World::new();
    let password = unique("netrc-pass");
    let server = AuthServer::start("me", &password);
    let netrc = world.root().join("netrc");
    std::fs::write(
        &netrc,
        format!("machine 127.0.0.1\n  login me\n  password {password}\n\nmachine other.invalid login x password y\n"),
    )
    .unwrap();
    let project = world.project.display().to_string();
    let path = netrc.display().to_string();
    world
        .run(&[
            "import", "netrc", &path, "--write", "--dir", &project, "--remove",
        ])
        .assert_success();
    assert!(!netrc.exists(), "--remove left the file");

    let url = format!("http://127.0.0.1:{}/", server.port);
    let mut cmd = world.sec(&[
        "exec",
        "--",
        "sh",
        "-c",
        "curl -sf --netrc-file \"$NETRC\" \"$1\"",
        "sh",
    ]);
    cmd.arg(&url);
    let out = world.output(cmd);
    out.assert_success();
    assert_eq!(out.stdout, "welcome");
    // One NETRC file holds every machine of the imported netrc.
    let mut count = world.sec(&[
        "exec",
        "--",
        "sh",
        "-c",
        "grep -o machine \"$NETRC\" | wc -l",
    ]);
    count.current_dir(&world.project);
    assert_eq!(world.output(count).stdout.trim(), "2");
    // Without the file curl is refused: the success above is the imported password's.
    let refused = Command::new("curl").args(["-sf", &url]).status().unwrap();
    assert!(!refused.success());
}

/// Writes `text` as a pypirc file in the world and runs `sec import pypirc FILE EXTRA...`.
fn import_pypirc(world: &World, text: &str, extra: &[&str]) -> (PathBuf, Output) {
    let pypirc = world.root().join("pypirc");
    std::fs::write(&pypirc, text).unwrap();
    let file = pypirc.display().to_string();
    let mut args = vec!["import", "pypirc", file.as_str()];
    args.extend_from_slice(extra);
    let out = world.run(&args);
    (pypirc, out)
}

#[test]
fn a_malformed_file_gets_a_line_number_and_nothing_is_stored() {
    let world = World::new();
    let text = "[pypi]\nusername = __token__\npassword = pypi-secret-one\nthis line is broken\n";
    let (pypirc, out) = import_pypirc(&world, text, &["--remove"]);
    out.assert_failure().assert_stderr_contains(&[":4:1:"]);
    assert!(!out.stderr.contains("pypi-secret-one"), "{out}");
    assert_eq!(std::fs::read_to_string(&pypirc).unwrap(), text);
    assert_eq!(world.keyring_lookup("pypi", "pypi"), None);
}

#[test]
fn a_failure_half_way_leaves_the_original_and_says_what_was_stored() {
    // No Secret Service runs in this world: the very first store fails.
    let world = World::without_keyring();
    let text =
        "[pypi]\nusername = __token__\npassword = pypi-one\n[testpypi]\npassword = pypi-two\n";
    let (pypirc, out) = import_pypirc(&world, text, &["--backend", "keyring", "--remove"]);
    out.assert_failure().assert_stderr_contains(&[
        "stored so far: nothing",
        "left untouched",
        "`--backend local`",
    ]);
    assert_eq!(std::fs::read_to_string(&pypirc).unwrap(), text);
}

/// Without a keychain, `sec import` stores where `sec set` would: sec's own vault (the
/// quick start's second step on such a machine).
#[test]
fn without_a_keychain_import_uses_the_local_vault_like_sec_set() {
    let world = World::without_keyring();
    let pypirc = world.root().join("pypirc");
    let token = sec_tests::unique("pypi-local-import");
    std::fs::write(
        &pypirc,
        format!("[pypi]\nusername = __token__\npassword = {token}\n"),
    )
    .unwrap();
    let project = world.project.display().to_string();
    let out = world.run_with_passphrase(
        &[
            "import",
            "pypirc",
            &pypirc.display().to_string(),
            "--write",
            "--dir",
            &project,
        ],
        "a passphrase for the import\n",
        None,
    );
    out.assert_success()
        .assert_stderr_contains(&["importing into local", "as local:"]);
    assert!(!out.stdout.contains(&token) && !out.stderr.contains(&token));
    assert_eq!(world.child_sees(&world.project, "TWINE_PASSWORD").0, token);
}

/// The kernel keyring forgets at reboot: removing the file after importing there would lose
/// the only lasting copy, so sec refuses before storing anything.
#[test]
fn remove_refuses_to_leave_only_a_kernel_keyring_copy() {
    let world = World::without_keyring();
    let text = "[pypi]\nusername = __token__\npassword = pypi-keep\n";
    let (pypirc, out) = import_pypirc(&world, text, &["--backend", "keyutils", "--remove"]);
    out.assert_failure()
        .assert_stderr_contains(&["forgets it at reboot", "left untouched"]);
    assert_eq!(std::fs::read_to_string(&pypirc).unwrap(), text);
}

#[test]
fn a_token_in_a_repository_url_is_stored_as_a_secret_and_never_printed() {
    let world = World::new();
    let canary = sec_tests::token_canary();
    let password = unique("pypi-password");
    let url = format!("https://deploy:{canary}@pypi.example.invalid/simple/");
    let pypirc = world.root().join("pypirc");
    std::fs::write(
        &pypirc,
        format!(
            "[distutils]\nindex-servers = private\n\n[private]\nrepository = {url}\n\
             username = __token__\npassword = {password}\n"
        ),
    )
    .unwrap();
    let project = world.project.display().to_string();
    let out = world.run(&[
        "import",
        "pypirc",
        &pypirc.display().to_string(),
        "--write",
        "--dir",
        &project,
    ]);
    out.assert_success();
    let config = std::fs::read_to_string(world.config_path()).unwrap();
    assert!(
        out.stdout
            .contains("TWINE_REPOSITORY_URL = \"keyring:pypi/private/url\""),
        "{out}"
    );
    let (seen, exec) = world.child_sees(&world.project, "TWINE_REPOSITORY_URL");
    exec.assert_success();
    assert_eq!(seen, url, "twine gets the URL as it was");
    let ls = world.run(&["ls"]);
    let status = world.run(&["status"]);
    let log = world.run(&["log"]);
    for out in [&out, &exec, &ls, &status, &log] {
        assert!(
            !out.stdout.contains(&canary) && !out.stderr.contains(&canary),
            "the URL's token was printed:\n{out}"
        );
    }
    assert!(
        !config.contains(&canary),
        "the URL's token is in config.toml:\n{config}"
    );
    assert!(
        !world.daemon_log().contains(&canary),
        "{}",
        world.daemon_log()
    );
    let audit = std::fs::read_to_string(world.state_home.join("sec/audit.jsonl")).unwrap();
    assert!(!audit.contains(&canary), "{audit}");
    assert_eq!(
        world.keyring_lookup("pypi", "private/url").as_deref(),
        Some(url.as_str())
    );
}

#[test]
fn a_dotenv_file_becomes_the_scope_of_its_directory() {
    let world = World::new();
    let token = unique("env-token");
    let dotenv = world.project.join(".env");
    std::fs::write(
        &dotenv,
        format!("# app settings\nexport API_TOKEN={token}\nMULTI=\"first\\nsecond\"\n"),
    )
    .unwrap();
    let project = world.project.display().to_string();
    let mut cmd = world.sec(&[
        "import", "env", ".env", "--write", "--dir", &project, "--remove",
    ]);
    cmd.current_dir(&world.project);
    let out = world.output(cmd);
    out.assert_success();
    assert!(!dotenv.exists(), "--remove left the .env file");
    assert!(
        !out.stdout.contains(&token) && !out.stderr.contains(&token),
        "{out}"
    );
    let config = std::fs::read_to_string(world.config_path()).unwrap();
    assert!(!config.contains(&token), "a value reached config.toml");
    assert_eq!(world.child_sees(&world.project, "API_TOKEN").0, token);
    assert_eq!(world.child_sees(&world.project, "MULTI").0, "first\nsecond");
}
