//! Brokered variables (issue 17): the command gets a placeholder, a proxy and a CA bundle;
//! the lease's HTTPS broker puts the real value only into the requests a rule allows, answers
//! `403` to the placeholder anywhere else, follows no redirect, hides the value in responses
//! that reflect it, and under `sec shield` is the command's only way out. Against the real
//! things: `twine upload` to a pypiserver behind TLS, `curl`, and an HTTPS echo server on
//! loopback that records what reached it and answers as two hosts (`localhost` and
//! `127.0.0.1`, one certificate from a test CA naming both: the rules tell them apart by
//! name).
//!
//! The servers live in a temporary directory outside the world: their records hold the real
//! values, while every file of the world is searched for them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use sec_proto::config::Config;
use sec_tests::shield::{CONNECT_TCP, shielded};
use sec_tests::{
    HttpsEcho, Output, PackageIndex, TestCa, Venv, World, build_demo_wheel, files_holding,
    find_in_environs, require_program, token_canary, toml_path, wait_output,
};

// --- Helpers ----------------------------------------------------------------------------

/// The variables every lease with a brokered variable sets for the broker's CA.
const CA_VARIABLES: &[&str] = &[
    "SSL_CERT_FILE",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "GIT_SSL_CAINFO",
    "PIP_CERT",
    "CARGO_HTTP_CAINFO",
    "NODE_EXTRA_CA_CERTS",
];

/// How long a command through the broker may take before the test gives up on it.
const SLOW_COMMAND: Duration = Duration::from_secs(120);

/// A world whose keyring holds `secrets` (reference, value; stored with `sec set`) and whose
/// config is `config` (`{project}` as in [`World::write_config`]). The config must be one
/// that the parser accepts with each of `brokered` as a brokered variable: otherwise the test,
/// not the broker, is wrong, and it says so.
fn brokered_world(secrets: &[(&str, &str)], config: &str, brokered: &[&str]) -> World {
    let world = World::new();
    for (reference, value) in secrets {
        world
            .run_with_stdin(&["set", reference], value)
            .assert_success();
    }
    world.write_config(config);
    let path = world.config_path();
    let text = std::fs::read_to_string(&path).unwrap();
    let parsed = Config::parse(&text, &path, &world.home)
        .unwrap_or_else(|e| panic!("the test's own config is wrong: {e}\n{text}"));
    let scope = parsed
        .scope_for(&world.project)
        .unwrap_or_else(|| panic!("the test's config has no scope for the project:\n{text}"));
    for name in brokered {
        assert!(
            scope.brokered.contains_key(*name),
            "the test's config does not broker {name}:\n{text}"
        );
    }
    world
}

/// The config of the curl tests: `API_TOKEN` (`keyring:api/token`, shape `tok_`) brokered
/// as a bearer token to `localhost` only; and, when `other_host` is true, `OTHER_TOKEN`
/// (`keyring:api/other`) brokered wherever the command puts its placeholder in a header, to
/// `127.0.0.1` only, which makes a tunnel to `127.0.0.1` one that a rule allows.
fn curl_config(echo: &HttpsEcho, other_host: bool) -> String {
    let ca = toml_path(echo.ca_file());
    let mut config = format!(
        "[[scope]]\ndir = {{project}}\n\
         [scope.env.API_TOKEN]\nsecret = \"keyring:api/token\"\nshape = \"tok_\"\n\
         broker = {{ host = \"localhost\", auth = \"bearer\", ca_cert = {ca} }}\n"
    );
    if other_host {
        config.push_str(&format!(
            "[scope.env.OTHER_TOKEN]\nsecret = \"keyring:api/other\"\n\
             broker = {{ host = \"127.0.0.1\", ca_cert = {ca} }}\n"
        ));
    }
    config
}

/// The secrets of [`curl_config`], and whether `OTHER_TOKEN` is brokered too.
struct Tokens {
    api: String,
    other: String,
    other_host: bool,
}

impl Tokens {
    /// The brokered variables and their real values.
    fn brokered(&self) -> Vec<(&str, &str)> {
        let mut brokered = vec![("API_TOKEN", self.api.as_str())];
        if self.other_host {
            brokered.push(("OTHER_TOKEN", self.other.as_str()));
        }
        brokered
    }
}

/// The echo server (in `servers`) and a world with [`curl_config`].
fn curl_world(servers: &Path, other_host: bool) -> (HttpsEcho, World, Tokens) {
    require_program("curl", "curl");
    let echo = HttpsEcho::start(&servers.join("echo"));
    let tokens = Tokens {
        api: token_canary(),
        other: token_canary(),
        other_host,
    };
    let mut brokered = vec!["API_TOKEN"];
    if other_host {
        brokered.push("OTHER_TOKEN");
    }
    let world = brokered_world(
        &[
            ("keyring:api/token", &tokens.api),
            ("keyring:api/other", &tokens.other),
        ],
        &curl_config(&echo, other_host),
        &brokered,
    );
    (echo, world, tokens)
}

/// What a curl request sends of its own.
#[derive(Clone, Copy)]
enum Send {
    Nothing,
    /// `Authorization: Bearer $API_TOKEN`.
    Bearer,
    /// `X-Other: $OTHER_TOKEN`.
    OtherHeader,
}

/// `sec exec -- sh -c SCRIPT`: the child writes its environment (`env -0`) to a file, then
/// runs curl, whose output ends with `status=CODE` (`000` when there was no HTTP answer).
const CURL_SCRIPT: &str = r#"env -0 > "$1"; send=$2; shift 2
c() { exec curl -sS --max-time 30 -w '\nstatus=%{http_code}\n' "$@"; }
case $send in
    bearer) c -H "Authorization: Bearer $API_TOKEN" "$@" ;;
    other) c -H "X-Other: $OTHER_TOKEN" "$@" ;;
    *) c "$@" ;;
esac"#;

/// A command that ran in a lease, and the environment it had.
struct Leased {
    out: Output,
    env: BTreeMap<String, String>,
}

impl Leased {
    /// The HTTP status curl reported last (0: no HTTP answer, or curl never ran).
    fn status(&self) -> u16 {
        self.out
            .stdout
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix("status="))
            .and_then(|code| code.trim().parse().ok())
            .unwrap_or(0)
    }

    /// The response body (what curl printed before its status line).
    fn body(&self) -> &str {
        let end = self.out.stdout.rfind("\nstatus=").unwrap_or(0);
        &self.out.stdout[..end]
    }

    /// The child's `name` (a placeholder, for a brokered variable).
    fn var(&self, name: &str) -> &str {
        self.env.get(name).map(String::as_str).unwrap_or_else(|| {
            panic!(
                "the child had no {name}: the lease did not set it:\n{}",
                self.out
            )
        })
    }
}

/// Runs curl with `args` in a lease in the project, sending `send`; checks first that the
/// child's environment is a brokered lease's ([`assert_brokered_env`]).
fn curl(world: &World, tokens: &Tokens, send: Send, args: &[&str]) -> Leased {
    let env_file = world.root().join(sec_tests::unique("child-env"));
    let send = match send {
        Send::Nothing => "nothing",
        Send::Bearer => "bearer",
        Send::OtherHeader => "other",
    };
    let mut cmd = world.sec(&["exec", "--", "sh", "-c", CURL_SCRIPT, "sh"]);
    cmd.arg(&env_file).arg(send).args(args);
    let out = world.output(cmd);
    let env = read_env0(&env_file);
    std::fs::remove_file(&env_file).ok();
    assert_brokered_env(&env, &tokens.brokered(), &out.to_string());
    let placeholder = env["API_TOKEN"].as_str();
    assert!(
        placeholder.starts_with("tok_"),
        "API_TOKEN's placeholder {placeholder:?} does not start with its shape `tok_`"
    );
    Leased { out, env }
}

/// A file `env -0` wrote, as a map ({} when there is none: the child never ran).
fn read_env0(path: &Path) -> BTreeMap<String, String> {
    let bytes = std::fs::read(path).unwrap_or_default();
    bytes
        .split(|&b| b == 0)
        .filter_map(|entry| {
            let entry = String::from_utf8_lossy(entry);
            let (name, value) = entry.split_once('=')?;
            Some((name.to_string(), value.to_string()))
        })
        .collect()
}

/// The child's environment is what a lease with brokered variables gives: each of
/// `brokered` (name, real value) a placeholder, the broker's proxy, no proxy exceptions, and
/// the CA variables; and no variable holds a real value. `context` (the command's output)
/// goes into the message.
#[track_caller]
fn assert_brokered_env(env: &BTreeMap<String, String>, brokered: &[(&str, &str)], context: &str) {
    let shown = || {
        env.iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert!(
        !env.is_empty(),
        "the child never ran (it wrote no environment):\n{context}"
    );
    for (name, real) in brokered {
        let Some(placeholder) = env.get(*name) else {
            panic!(
                "the child had no {name}: a brokered variable must reach it as a placeholder:\n{}\n{context}",
                shown()
            )
        };
        assert!(
            !placeholder.contains(real),
            "the child got the real value of {name}, not a placeholder: the lease brokers \
             nothing\n{context}"
        );
        assert!(
            placeholder.len() >= 16,
            "{name}'s placeholder {placeholder:?} is too short to be random"
        );
        for (other, value) in env {
            assert!(
                !value.contains(real),
                "the real value of {name} is in the child's environment, in {other}"
            );
        }
    }
    for proxy in ["HTTPS_PROXY", "https_proxy"] {
        let value = env.get(proxy).map(String::as_str).unwrap_or_default();
        assert!(
            value.starts_with("http://sec:") && value.contains("@127.0.0.1:"),
            "{proxy} is {value:?}, not the lease's broker (http://sec:TOKEN@127.0.0.1:PORT):\n{}\n{context}",
            shown()
        );
    }
    for no_proxy in ["NO_PROXY", "no_proxy"] {
        assert_eq!(
            env.get(no_proxy).map(String::as_str),
            Some(""),
            "{no_proxy} must be set and empty, so that no host bypasses the broker:\n{}",
            shown()
        );
    }
    for ca in CA_VARIABLES {
        assert!(
            env.get(*ca).is_some_and(|v| v.starts_with('/')),
            "{ca} does not name the lease's CA bundle:\n{}",
            shown()
        );
    }
}

/// No file of the world, no output and no process environment holds any of `secrets`.
#[track_caller]
fn assert_nowhere(world: &World, outputs: &[&Output], secrets: &[&str]) {
    for secret in secrets {
        for out in outputs {
            assert!(
                !out.stdout.contains(secret) && !out.stderr.contains(secret),
                "a real value was printed:\n{out}"
            );
        }
        let holding = files_holding(world.root(), secret);
        assert!(holding.is_empty(), "{holding:?} hold a real value");
        let holders = find_in_environs(secret);
        assert!(
            holders.is_empty(),
            "processes {holders:?} hold a real value in their environment"
        );
    }
}

/// `sec log`, `sec log --json`, and the JSON records.
fn audit(world: &World) -> (Output, Output, Vec<serde_json::Value>) {
    let human = world.run(&["log"]);
    human.assert_success();
    let json = world.run(&["log", "--json"]);
    json.assert_success();
    let records = json
        .stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    (human, json, records)
}

fn events<'a>(records: &'a [serde_json::Value], event: &str) -> Vec<&'a serde_json::Value> {
    records.iter().filter(|r| r["event"] == event).collect()
}

/// The requests the echo server saw, for messages.
fn seen_text(echo: &HttpsEcho) -> String {
    format!("requests the echo server saw: {:#?}", echo.seen())
}

// --- twine upload through the broker ------------------------------------------------------

/// `sec exec -- sh -c WRAPPER sh REPORT TWINE URL WHEEL`: dumps the environment twine will
/// have, runs twine, reports its status, then holds the lease until REPORT/go exists.
const TWINE_WRAPPER: &str = r#"report=$1 twine=$2 url=$3 wheel=$4
env -0 > "$report/env"
"$twine" upload --non-interactive --repository-url "$url" "$wheel"; rc=$?
echo "$rc" > "$report/rc.tmp" && mv "$report/rc.tmp" "$report/rc"
while [ ! -e "$report/go" ]; do sleep 0.05; done
exit "$rc""#;

/// Waits until `file` exists while `child` (`what`) runs; panics with its output when it
/// ends first or takes too long.
fn wait_for_file(child: &mut Option<Child>, file: &Path, what: &str) {
    let start = Instant::now();
    while !file.exists() {
        let exited = matches!(child.as_mut().unwrap().try_wait(), Ok(Some(_)));
        if exited || start.elapsed() > SLOW_COMMAND {
            let mut running = child.take().unwrap();
            if !exited {
                let _ = running.kill();
            }
            let out = wait_output(running, what);
            panic!(
                "`{what}` ended (or hung) before writing {}:\n{out}",
                file.display()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn twine_upload_through_the_broker_lands_while_twine_holds_only_a_placeholder() {
    let venv = Venv::shared(Path::new(env!("CARGO_TARGET_TMPDIR")));
    let servers = tempfile::tempdir().unwrap();
    let token = format!("pypi-{}", token_canary());
    let ca = TestCa::new(&servers.path().join("ca"));
    let index = PackageIndex::start_tls(
        &venv,
        &servers.path().join("index"),
        "__token__",
        &token,
        &ca,
    );
    let wheel = build_demo_wheel(
        &venv,
        &servers.path().join("wheel-src"),
        &servers.path().join("dist"),
    );
    let config = format!(
        "[[scope]]\ndir = {{project}}\n[scope.env]\nTWINE_USERNAME = {{ value = \"__token__\" }}\n\
         [scope.env.TWINE_PASSWORD]\nsecret = \"keyring:pypi/demo\"\nshape = \"pypi-\"\n\
         broker = {{ host = \"localhost\", methods = [\"POST\"], paths = [\"/\"], auth = \"basic\", \
         user = \"__token__\", ca_cert = {} }}\n",
        toml_path(ca.cert())
    );
    let world = brokered_world(
        &[("keyring:pypi/demo", &token)],
        &config,
        &["TWINE_PASSWORD"],
    );

    let report = world.root().join("report");
    std::fs::create_dir_all(&report).unwrap();
    let mut cmd = world.sec(&["exec", "--", "sh", "-c", TWINE_WRAPPER, "sh"]);
    cmd.arg(&report)
        .arg(venv.bin("twine"))
        .arg(&index.url)
        .arg(&wheel);
    let what = "sec exec -- sh -c WRAPPER (twine upload)";
    let mut child = Some(cmd.spawn().expect("cannot start sec exec"));
    wait_for_file(&mut child, &report.join("rc"), what);

    // While the lease (and its broker) runs: the environment twine had, every file of the
    // world (the lease's runtime files, the CA bundle, logs, state) and every process.
    let env = read_env0(&report.join("env"));
    assert_brokered_env(&env, &[("TWINE_PASSWORD", &token)], "");
    assert!(
        env["TWINE_PASSWORD"].starts_with("pypi-"),
        "TWINE_PASSWORD's placeholder does not start with its shape `pypi-`"
    );
    let bundle = PathBuf::from(&env["REQUESTS_CA_BUNDLE"]);
    let bundle_text = std::fs::read_to_string(&bundle).unwrap_or_else(|e| {
        panic!(
            "REQUESTS_CA_BUNDLE {} is unreadable while the lease runs: {e}",
            bundle.display()
        )
    });
    assert_eq!(
        bundle_text.matches("BEGIN CERTIFICATE").count(),
        1,
        "REQUESTS_CA_BUNDLE {} should hold the lease's CA alone (twine goes through the proxy)",
        bundle.display()
    );
    // OpenSSL's default store, for programs that may ignore the proxy: the lease's CA and
    // the system's roots.
    let default_store = std::fs::read_to_string(&env["SSL_CERT_FILE"]).unwrap_or_default();
    assert!(
        default_store.starts_with(bundle_text.trim_end())
            && default_store.matches("BEGIN CERTIFICATE").count() > 1,
        "SSL_CERT_FILE {} should hold the lease's CA and then the system's roots",
        env["SSL_CERT_FILE"]
    );
    assert_nowhere(&world, &[], &[&token]);

    std::fs::write(report.join("go"), "").unwrap();
    let uploaded = wait_output(child.take().unwrap(), what);
    assert!(
        uploaded.success(),
        "twine upload through the broker failed (the index takes only the real token, which \
         the broker puts into POSTs to localhost):\n{uploaded}\n--- TLS front ---\n{}",
        index.tls_log()
    );
    assert!(
        index.has_demo_wheel(),
        "the wheel is not in the index: {:?}\n{uploaded}",
        index.files()
    );

    let (log, log_json, records) = audit(&world);
    assert!(
        !events(&records, "broker").is_empty(),
        "no `broker` record in the audit log for the upload:\n{log_json}"
    );
    assert!(
        log.stdout.contains("broker"),
        "`sec log` shows no broker record:\n{log}"
    );
    let status = world.run(&["status", "--json"]);
    assert_nowhere(&world, &[&uploaded, &log, &log_json, &status], &[&token]);
}

// --- curl through the broker ---------------------------------------------------------------

#[test]
fn the_allowed_host_gets_the_real_token_and_another_host_a_403() {
    let servers = tempfile::tempdir().unwrap();
    let (echo, world, tokens) = curl_world(servers.path(), true);

    let allowed = curl(
        &world,
        &tokens,
        Send::Bearer,
        &[&echo.url("localhost", "allowed")],
    );
    assert_eq!(allowed.status(), 200, "{}", allowed.out);
    let at_localhost: Vec<_> = echo
        .seen_at("localhost")
        .into_iter()
        .filter(|r| r.path == "/allowed")
        .collect();
    assert_eq!(
        at_localhost.len(),
        1,
        "the request to localhost did not arrive once; {}",
        seen_text(&echo)
    );
    assert_eq!(
        at_localhost[0].header("Authorization"),
        Some(format!("Bearer {}", tokens.api).as_str()),
        "the allowed host did not get the real token as a bearer token; {}",
        seen_text(&echo)
    );

    // Control: a tunnel to 127.0.0.1 is allowed (OTHER_TOKEN's rule names it), so the 403
    // below is the broker's answer to API_TOKEN's placeholder, not a failed connection.
    let plain = curl(
        &world,
        &tokens,
        Send::Nothing,
        &[&echo.url("127.0.0.1", "plain")],
    );
    assert_eq!(
        plain.status(),
        200,
        "a request without any placeholder to 127.0.0.1 (which OTHER_TOKEN's rule names) did \
         not pass the broker:\n{}",
        plain.out
    );
    // OTHER_TOKEN goes where its placeholder is, in any header, at its own host.
    let other = curl(
        &world,
        &tokens,
        Send::OtherHeader,
        &[&echo.url("127.0.0.1", "other")],
    );
    assert_eq!(other.status(), 200, "{}", other.out);
    let other_seen: Vec<_> = echo
        .seen_at("127.0.0.1")
        .into_iter()
        .filter(|r| r.path == "/other")
        .collect();
    assert!(
        other_seen.len() == 1 && other_seen[0].header("X-Other") == Some(tokens.other.as_str()),
        "127.0.0.1 did not get OTHER_TOKEN's real value in X-Other, where the command put its \
         placeholder; {}",
        seen_text(&echo)
    );

    let refused = curl(
        &world,
        &tokens,
        Send::Bearer,
        &[&echo.url("127.0.0.1", "elsewhere")],
    );
    assert_eq!(
        refused.status(),
        403,
        "API_TOKEN's placeholder sent to 127.0.0.1 (no rule of API_TOKEN names it) must get a \
         403 from the broker:\n{}",
        refused.out
    );
    for request in echo.seen_at("127.0.0.1") {
        assert!(
            !request.holds(&tokens.api) && !request.holds(refused.var("API_TOKEN")),
            "127.0.0.1 saw API_TOKEN's value or placeholder: {request:#?}"
        );
    }
    // No placeholder ever reached the server: the broker replaced or refused each.
    for run in [&allowed, &plain, &other, &refused] {
        for name in ["API_TOKEN", "OTHER_TOKEN"] {
            let placeholder = run.var(name);
            assert!(
                !echo.seen().iter().any(|r| r.holds(placeholder)),
                "the echo server saw {name}'s placeholder; {}",
                seen_text(&echo)
            );
        }
    }

    let (log, log_json, records) = audit(&world);
    assert!(
        !events(&records, "broker").is_empty(),
        "no `broker` record for the substitutions:\n{log_json}"
    );
    let refusals = events(&records, "broker-refuse");
    assert!(
        refusals.iter().any(|r| r.to_string().contains("127.0.0.1")),
        "no `broker-refuse` record naming 127.0.0.1:\n{log_json}"
    );
    assert!(
        log.stdout.contains("broker-refuse"),
        "`sec log` does not show the refusal:\n{log}"
    );
    let outputs: Vec<&Output> = vec![
        &allowed.out,
        &plain.out,
        &other.out,
        &refused.out,
        &log,
        &log_json,
    ];
    assert_nowhere(&world, &outputs, &[&tokens.api, &tokens.other]);
}

#[test]
fn a_redirect_to_another_host_does_not_carry_the_token() {
    let servers = tempfile::tempdir().unwrap();
    let (echo, world, tokens) = curl_world(servers.path(), true);
    let elsewhere = echo.url("127.0.0.1", "y");
    let redirect = echo.url("localhost", &format!("redirect?to={elsewhere}"));

    // The broker follows no redirect: the command gets the 302 itself.
    let not_followed = curl(&world, &tokens, Send::Bearer, &[&redirect]);
    assert_eq!(
        not_followed.status(),
        302,
        "the command must get the 302 (the broker follows no redirect):\n{}",
        not_followed.out
    );
    assert!(
        echo.seen_at("127.0.0.1").is_empty(),
        "a request reached 127.0.0.1 though nobody followed the redirect; {}",
        seen_text(&echo)
    );

    // curl follows it with the same header (--location-trusted): refused at 127.0.0.1.
    let followed = curl(
        &world,
        &tokens,
        Send::Bearer,
        &["-L", "--location-trusted", &redirect],
    );
    assert_eq!(
        followed.status(),
        403,
        "curl, following the redirect to 127.0.0.1 with API_TOKEN's placeholder, must get \
         the broker's 403:\n{}",
        followed.out
    );
    let redirects = echo.seen_at("localhost");
    assert!(
        redirects.len() == 2
            && redirects
                .iter()
                .all(|r| r.header("Authorization")
                    == Some(format!("Bearer {}", tokens.api).as_str())),
        "localhost should have seen both requests for the redirect with the real token; {}",
        seen_text(&echo)
    );
    for request in echo.seen_at("127.0.0.1") {
        for run in [&not_followed, &followed] {
            assert!(
                !request.holds(&tokens.api) && !request.holds(run.var("API_TOKEN")),
                "the credential crossed the redirect to 127.0.0.1: {request:#?}"
            );
        }
    }
    let (log, log_json, _) = audit(&world);
    assert_nowhere(
        &world,
        &[&not_followed.out, &followed.out, &log, &log_json],
        &[&tokens.api, &tokens.other],
    );
}

#[test]
fn a_response_that_reflects_the_token_shows_the_placeholder() {
    let servers = tempfile::tempdir().unwrap();
    let (echo, world, tokens) = curl_world(servers.path(), false);

    let reflected = curl(
        &world,
        &tokens,
        Send::Bearer,
        &[&echo.url("localhost", "reflect")],
    );
    assert_eq!(reflected.status(), 200, "{}", reflected.out);
    let placeholder = reflected.var("API_TOKEN");
    assert!(
        echo.seen_at("localhost")
            .iter()
            .any(|r| r.path == "/reflect"
                && r.header("Authorization") == Some(format!("Bearer {}", tokens.api).as_str())),
        "the server did not get the real token, so its answer reflects nothing; {}",
        seen_text(&echo)
    );
    assert_eq!(
        reflected.body().trim_end(),
        format!("Bearer {placeholder}"),
        "the reflected token must reach the command as the placeholder:\n{}",
        reflected.out
    );

    // The same in a JSON body that echoes all the request's headers.
    let echoed = curl(
        &world,
        &tokens,
        Send::Bearer,
        &[&echo.url("localhost", "headers")],
    );
    assert_eq!(echoed.status(), 200, "{}", echoed.out);
    let json: serde_json::Value = serde_json::from_str(echoed.body())
        .unwrap_or_else(|e| panic!("the echo is not JSON ({e}):\n{}", echoed.out));
    // Header names reach the server in whichever case the broker's HTTP/1.1 client writes.
    let authorization = json["headers"]
        .as_object()
        .and_then(|h| {
            h.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
        })
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    assert_eq!(
        authorization,
        format!("Bearer {}", echoed.var("API_TOKEN")),
        "{}",
        echoed.out
    );
    assert_nowhere(&world, &[&reflected.out, &echoed.out], &[&tokens.api]);
}

#[test]
fn a_tunnel_to_a_loopback_address_no_rule_names_is_refused() {
    let servers = tempfile::tempdir().unwrap();
    // Only `localhost` is named; 127.0.0.1 is the same server under a name no rule has.
    let (echo, world, tokens) = curl_world(servers.path(), false);

    let named = curl(
        &world,
        &tokens,
        Send::Nothing,
        &[&echo.url("localhost", "named")],
    );
    assert_eq!(
        named.status(),
        200,
        "a request to localhost, which a rule names, did not pass the broker:\n{}",
        named.out
    );
    let unnamed = curl(
        &world,
        &tokens,
        Send::Nothing,
        &[&echo.url("127.0.0.1", "unnamed")],
    );
    assert!(
        unnamed.status() != 200,
        "the broker opened a tunnel to 127.0.0.1, a loopback address no rule names:\n{}",
        unnamed.out
    );
    assert!(
        echo.seen_at("127.0.0.1").is_empty(),
        "a request reached 127.0.0.1 through the broker; {}",
        seen_text(&echo)
    );
    assert_nowhere(&world, &[&named.out, &unnamed.out], &[&tokens.api]);
}

// --- sec shield: the broker is the only way out ---------------------------------------------

#[test]
fn under_the_shield_the_broker_is_the_only_way_out() {
    let servers = tempfile::tempdir().unwrap();
    let (echo, world, tokens) = curl_world(servers.path(), false);
    let port = echo.port().to_string();
    let url = echo.url("localhost", "shielded");
    let env = [
        ("CONNECT", CONNECT_TCP),
        ("PORT", port.as_str()),
        ("URL", url.as_str()),
    ];
    // The ways around the proxy, then a request through it.
    let probes = r#"python3 -c 'print("python-runs")'
if python3 -c "$CONNECT" "$PORT"; then echo direct-reached; else echo direct-failed; fi
if curl -sk --max-time 10 --noproxy '*' -o /dev/null "$URL"; then echo noproxy-reached; else echo noproxy-failed; fi
"#;
    let script = format!(
        "{probes}env -0 > shield-env\n\
         curl -sS --max-time 30 -w '\\nstatus=%{{http_code}}\\n' -H \"Authorization: Bearer $API_TOKEN\" \"$URL\""
    );

    // Control: outside the shield both ways around the proxy reach the server.
    let mut outside = world.command("sh");
    outside.args(["-c", probes]).envs(env);
    let outside = world.output(outside);
    assert!(
        outside.stdout.contains("direct-reached") && outside.stdout.contains("noproxy-reached"),
        "the control (no shield, no lease) cannot reach the echo server directly:\n{outside}"
    );

    let inside = shielded(&world, &[], &script, &env);
    let shield_env = read_env0(&world.project.join("shield-env"));
    assert_brokered_env(
        &shield_env,
        &[("API_TOKEN", &tokens.api)],
        &inside.to_string(),
    );
    assert!(
        inside.stdout.contains("python-runs") && inside.stdout.contains("direct-failed"),
        "a direct TCP connection left the shield in a brokered scope (its only way out must \
         be the broker), or python3 did not run:\n{inside}"
    );
    assert!(
        inside.stdout.contains("noproxy-failed"),
        "curl --noproxy reached the server from inside the shield:\n{inside}"
    );
    assert!(
        inside.stdout.contains("status=200"),
        "curl through the broker failed under the shield:\n{inside}"
    );
    assert!(
        echo.seen_at("localhost")
            .iter()
            .any(|r| r.path == "/shielded"
                && r.header("Authorization") == Some(format!("Bearer {}", tokens.api).as_str())),
        "the server did not get the real token from the shielded command; {}",
        seen_text(&echo)
    );
    assert_nowhere(&world, &[&inside], &[&tokens.api]);
}

#[test]
fn a_revoke_stops_the_shielded_command_and_its_broker() {
    let servers = tempfile::tempdir().unwrap();
    let (echo, world, tokens) = curl_world(servers.path(), false);
    let url = echo.url("localhost", "before-revoke");
    // The command uses the broker once, says so, then waits to be stopped.
    let script = "curl -sS --max-time 30 -o /dev/null -H \"Authorization: Bearer $API_TOKEN\" \"$URL\" \
                  && env -0 > shield-env && touch ready; exec sleep 60";
    let mut cmd = world.sec(&["shield", "--keep-env", "URL", "--", "sh", "-c", script]);
    cmd.env("URL", &url);
    let what = "sec shield -- sh -c 'curl; sleep 60'";
    let mut child = Some(cmd.spawn().expect("cannot start sec shield"));
    wait_for_file(&mut child, &world.project.join("ready"), what);
    let env = read_env0(&world.project.join("shield-env"));
    assert_brokered_env(&env, &[("API_TOKEN", &tokens.api)], what);

    world.run(&["revoke"]).assert_success();
    let started = Instant::now();
    let mut child = child.take().unwrap();
    while matches!(child.try_wait(), Ok(None)) && started.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let ended = matches!(child.try_wait(), Ok(Some(_)));
    if !ended {
        let _ = child.kill();
    }
    let out = wait_output(child, what);
    assert!(
        ended,
        "sec revoke did not stop the shielded command (on_revoke = terminate):\n{out}"
    );
    assert_eq!(
        out.status.code(),
        Some(128 + 15),
        "the shielded command should end by SIGTERM:\n{out}"
    );
    assert!(
        out.stderr.contains("stopping the shielded command"),
        "sec shield does not say why the command stopped:\n{out}"
    );
    // The lease (and with it its broker, `Brokers::stop`) is gone.
    let status = world.run(&["status", "--json"]);
    let status: serde_json::Value = serde_json::from_str(&status.stdout)
        .unwrap_or_else(|e| panic!("sec status --json is not JSON ({e}):\n{status}"));
    assert_eq!(
        status["leases"]
            .as_array()
            .map(Vec::len)
            .unwrap_or_default(),
        0,
        "the shield's lease outlived the revoke: {status}"
    );
    assert_nowhere(&world, &[&out], &[&tokens.api]);
}

#[test]
fn sec_ls_shows_where_a_brokered_variable_may_go() {
    let servers = tempfile::tempdir().unwrap();
    let (_echo, world, tokens) = curl_world(servers.path(), true);
    let ls = world.run(&["ls"]);
    ls.assert_success();
    let line = |name: &str| {
        ls.stdout
            .lines()
            .find(|l| l.trim_start().starts_with(name))
            .unwrap_or_else(|| panic!("sec ls does not list {name}:\n{ls}"))
            .to_string()
    };
    assert!(
        line("API_TOKEN").ends_with("keyring:api/token (brokered: only to localhost)"),
        "{ls}"
    );
    assert!(
        line("OTHER_TOKEN").ends_with("(brokered: only to 127.0.0.1)"),
        "{ls}"
    );
    let json = world.run(&["ls", "--json"]);
    let json: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let vars = json["scope"]["vars"].as_array().unwrap();
    assert!(
        vars.iter()
            .any(|v| v["name"] == "API_TOKEN" && v["broker"] == "localhost"),
        "{json}"
    );
    assert_nowhere(&world, &[&ls], &[&tokens.api, &tokens.other]);
}
