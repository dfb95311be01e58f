//! SSH keys and git credentials under the lease model, against the real things: an `sshd`
//! from apt on a loopback port (its own host key and authorized_keys), `ssh`, `ssh-add` and
//! `git push` over ssh through the lease's own agent; `git push` over HTTP with basic auth
//! to `git http-backend` behind a small server, the token coming from `sec git-credential`;
//! `sec import ssh` on real `ssh-keygen` keys.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use sec_tests::{
    Askpass, GitHttp, Sshd, World, files_holding, require_program, sec_bin, shell_quoted,
    toml_path, unique, wait_until, write_file_with_mode,
};

/// `ssh-keygen` a key pair at `path` (and `path.pub`), with `passphrase` ("" for none).
fn keygen(path: &Path, kind: &str, passphrase: &str) -> String {
    require_program("ssh-keygen", "openssh-client");
    // "ecdsa-384" is `-t ecdsa -b 384`.
    let (kind, bits) = kind.split_once('-').unwrap_or((kind, ""));
    let mut args = vec!["-q", "-t", kind, "-N", passphrase, "-C", "sec-test"];
    if kind == "rsa" {
        args.extend(["-b", "2048"]);
    } else if !bits.is_empty() {
        args.extend(["-b", bits]);
    }
    let out = Command::new("ssh-keygen")
        .args(&args)
        .arg("-f")
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success(), "ssh-keygen failed: {out:?}");
    std::fs::read_to_string(format!("{}.pub", path.display()))
        .unwrap()
        .trim()
        .to_string()
}

/// A line from the middle of a private key file: key material no output may hold.
fn key_material(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len() / 2].to_string()
}

fn fingerprint(public_key_file: &Path) -> String {
    let out = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(public_key_file)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_string()
}

/// A world with `keys` in its keychain (`keyring:ssh/keyN`) and a project scope whose
/// `ssh_keys` lists them, each written by `entry`, with `defaults` lines in `[defaults]`.
fn world_with_keys(keys: &[PathBuf], defaults: &str, entry: impl Fn(&str) -> String) -> World {
    let world = World::new();
    write_keys_config(&world, keys, defaults, entry);
    world
}

fn write_keys_config(
    world: &World,
    keys: &[PathBuf],
    defaults: &str,
    entry: impl Fn(&str) -> String,
) {
    let mut entries = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        let reference = format!("keyring:ssh/key{i}");
        let text = std::fs::read_to_string(key).unwrap();
        world
            .run_with_stdin(&["set", &reference], &text)
            .assert_success();
        entries.push(entry(&reference));
    }
    world.write_config(&format!(
        "[defaults]\n{defaults}\n[[scope]]\ndir = {{project}}\nssh_keys = [{}]\n[scope.env]\nA = {{ value = \"1\" }}\n",
        entries.join(", ")
    ));
}

fn quoted_reference(reference: &str) -> String {
    format!("\"{reference}\"")
}

/// A lease held open in the project until `RUN/stop` exists: the holding `sec`, RUN, and
/// the lease's agent socket.
fn hold_a_lease(world: &World) -> (std::process::Child, PathBuf, String) {
    let run = world.root().join(unique("run"));
    std::fs::create_dir_all(&run).unwrap();
    let script = format!(
        "printf %s \"$SSH_AUTH_SOCK\" > {d}/sock; touch {d}/ready; while [ ! -e {d}/stop ]; do sleep 0.05; done",
        d = shell_quoted(&run)
    );
    let mut holder = world.sec(&["exec", "--", "sh", "-c", &script]);
    holder
        .current_dir(&world.project)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let holder = holder.spawn().unwrap();
    wait_until("the lease to start", || run.join("ready").exists());
    let socket = std::fs::read_to_string(run.join("sock")).unwrap();
    (holder, run, socket)
}

/// `sec exec` in `dir` running argv, with GIT_/SSH_ noise removed.
fn exec_in(world: &World, dir: &Path, argv: &[String]) -> sec_tests::Output {
    let mut cmd = world.sec(&["exec", "--"]);
    cmd.args(argv).current_dir(dir).env_remove("SSH_AUTH_SOCK");
    world.output(cmd)
}

/// Every software key type signs through the lease's agent, and the signature verifies:
/// `ssh-keygen -Y sign` with only the public key asks the agent (RSA as rsa-sha2-512).
#[test]
fn the_lease_agent_signs_with_every_software_key_type() {
    let tmp = tempfile::tempdir().unwrap();
    let kinds = ["ed25519", "rsa", "ecdsa-256", "ecdsa-384", "ecdsa-521"];
    let keys: Vec<PathBuf> = kinds
        .iter()
        .map(|kind| {
            let path = tmp.path().join(format!("id_{kind}"));
            keygen(&path, kind, "");
            path
        })
        .collect();
    let world = world_with_keys(&keys, "", quoted_reference);
    let data = tmp.path().join("data");
    std::fs::write(&data, "signed through the agent\n").unwrap();
    for (kind, key) in kinds.iter().zip(&keys) {
        let public = format!("{}.pub", key.display());
        let signature = format!("{}.sig", data.display());
        let _ = std::fs::remove_file(&signature);
        let script = "ssh-keygen -q -Y sign -n sec-test -f \"$1\" \"$2\" && \
             ssh-keygen -q -Y check-novalidate -n sec-test -f \"$1\" -s \"$2.sig\" < \"$2\"";
        let argv: Vec<String> = [
            "sh",
            "-c",
            script,
            "sh",
            &public,
            &data.display().to_string(),
        ]
        .iter()
        .map(|a| a.to_string())
        .collect();
        // Control: the private key is not where ssh-keygen looks, so only the agent can sign.
        std::fs::rename(key, key.with_extension("moved")).unwrap();
        exec_in(&world, &world.project, &argv).assert_success();
        assert!(
            Path::new(&signature).exists(),
            "no {kind} signature was written"
        );
        std::fs::rename(key.with_extension("moved"), key).unwrap();
    }
}

#[test]
fn the_lease_agent_signs_with_exactly_the_scopes_keys_and_only_inside_the_lease() {
    let world_tmp = tempfile::tempdir().unwrap();
    let ed = world_tmp.path().join("id_ed25519");
    let rsa = world_tmp.path().join("id_rsa");
    let ed_pub = keygen(&ed, "ed25519", "");
    keygen(&rsa, "rsa", "");
    let other = world_tmp.path().join("other_key");
    keygen(&other, "ed25519", "");
    let sshd = Sshd::start(&world_tmp.path().join("sshd"), &[&ed_pub]);
    let world = world_with_keys(&[ed.clone(), rsa.clone()], "", quoted_reference);
    let login = sshd.ssh_argv(&["true"]);

    // Control: without sec there is no agent, and no login.
    let mut plain = world.command(&login[0]);
    plain.args(&login[1..]).env_remove("SSH_AUTH_SOCK");
    assert!(
        !world.output(plain).success(),
        "ssh logged in without any key: the test proves nothing"
    );

    exec_in(&world, &world.project, &login).assert_success();
    let ls = world.run_in(&world.project, &["ls"]);
    assert!(
        ls.stdout.contains("ssh key   keyring:ssh/key0")
            && ls.stdout.contains("ssh key   keyring:ssh/key1"),
        "{ls}"
    );
    let listed = exec_in(&world, &world.project, &["ssh-add".into(), "-l".into()]);
    listed.assert_success();
    let lines: Vec<&str> = listed.stdout.lines().collect();
    assert_eq!(
        lines.len(),
        2,
        "the agent lists other than the scope's two keys:\n{listed}"
    );
    for key in [&ed, &rsa] {
        let fp = fingerprint(Path::new(&format!("{}.pub", key.display())));
        assert!(listed.stdout.contains(&fp), "{fp} is not listed:\n{listed}");
    }
    assert!(
        !listed
            .stdout
            .contains(&fingerprint(Path::new(&format!("{}.pub", other.display()))))
    );

    // Outside the scope there is no agent, and no login.
    let elsewhere = world.root().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    exec_in(&world, &elsewhere, &login).assert_failure();

    // While a lease runs, its agent refuses processes outside it; after it, it is gone.
    let (mut holder, run, socket) = hold_a_lease(&world);
    assert!(Path::new(&socket).exists(), "no agent socket at {socket}");
    // Outside the lease, even with its marker forged into the environment (lease ids are in
    // `sec status`).
    let lease_id = world.run(&["status", "--json"]).json()["leases"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut outsider = world.command("ssh-add");
    outsider
        .arg("-l")
        .env("SSH_AUTH_SOCK", &socket)
        .env("SEC_LEASE", &lease_id);
    let outsider = world.output(outsider);
    assert!(
        outsider.stdout.contains("no identities") || !outsider.success(),
        "a process outside the lease was offered keys:\n{outsider}"
    );
    assert!(!outsider.stdout.contains("SHA256:"), "{outsider}");
    // A connection open when the lease ends is closed with it.
    let mut open = std::os::unix::net::UnixStream::connect(&socket).unwrap();
    std::fs::write(run.join("stop"), "").unwrap();
    assert!(holder.wait().unwrap().success());
    wait_until("the agent socket to go with its lease", || {
        !Path::new(&socket).exists()
    });
    open.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let _ = open.write_all(&[0, 0, 0, 1, 11]); // SSH_AGENTC_REQUEST_IDENTITIES
    let mut reply = [0u8; 64];
    assert!(
        matches!(open.read(&mut reply), Ok(0) | Err(_)),
        "an agent connection outlived its lease"
    );

    // No private key material anywhere sec writes, nor in what it prints.
    let status = world.run(&["status", "--json"]);
    let log = world.run(&["log"]);
    for key in [&ed, &rsa] {
        let material = key_material(key);
        for out in [&status, &log, &listed] {
            assert!(!out.stdout.contains(&material) && !out.stderr.contains(&material));
        }
        let holding = files_holding(world.root(), &material);
        assert!(holding.is_empty(), "{holding:?} hold key material");
    }
}

#[test]
fn confirm_asks_once_per_signature_and_a_no_fails_the_login() {
    let tmp = tempfile::tempdir().unwrap();
    let key = tmp.path().join("id_ed25519");
    let public = keygen(&key, "ed25519", "");
    let sshd = Sshd::start(&tmp.path().join("sshd"), &[&public]);
    let world = World::new();
    let askpass = Askpass::install(&world);
    write_keys_config(
        &world,
        std::slice::from_ref(&key),
        &format!(
            "askpass = {}\nconfirm_timeout = \"5s\"",
            toml_path(&askpass.program)
        ),
        |r| format!("{{ secret = \"{r}\", confirm = true }}"),
    );
    let login = sshd.ssh_argv(&["true"]);
    askpass.answer("yes");
    exec_in(&world, &world.project, &login).assert_success();
    assert_eq!(
        askpass.calls().len(),
        1,
        "one login is one signature, one question"
    );
    let prompt = askpass.last_prompt();
    for part in ["keyring:ssh/key0", "SHA256:", "ssh", "host key SHA256:"] {
        assert!(
            prompt.contains(part),
            "the question lacks {part:?}: {prompt}"
        );
    }
    askpass.answer("no");
    exec_in(&world, &world.project, &login).assert_failure();
    assert_eq!(askpass.calls().len(), 2);
    let log = world.run(&["log"]).stdout;
    assert!(log.contains("signature refused"), "{log}");
}

#[test]
fn git_push_over_ssh_works_from_the_scope_only() {
    require_program("git", "git");
    let tmp = tempfile::tempdir().unwrap();
    let key = tmp.path().join("id_ed25519");
    let public = keygen(&key, "ed25519", "");
    let sshd = Sshd::start(&tmp.path().join("sshd"), &[&public]);
    let remote = tmp.path().join("remote.git");
    git(tmp.path(), &["init", "-q", "--bare", "-b", "main"])
        .arg(&remote)
        .status()
        .unwrap();
    let world = world_with_keys(std::slice::from_ref(&key), "", quoted_reference);
    let url = sshd.url_for(&remote);
    let commit = |dir: &Path| {
        for args in ONE_COMMIT {
            assert!(git(dir, args).status().unwrap().success());
        }
    };
    commit(&world.project);
    let push = |dir: &Path| {
        let mut cmd = world.sec(&["exec", "--", "git", "push", "-q", &url, "main"]);
        cmd.current_dir(dir)
            .env("GIT_SSH_COMMAND", sshd.git_ssh_command())
            .env_remove("SSH_AUTH_SOCK");
        world.output(cmd)
    };
    push(&world.project).assert_success();
    let elsewhere = world.root().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    commit(&elsewhere);
    push(&elsewhere).assert_failure();
}

/// `git` argument lists that make a repository with one empty commit on `main`.
const ONE_COMMIT: [&[&str]; 2] = [
    &["init", "-q", "-b", "main"],
    &[
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@e",
        "commit",
        "-q",
        "--allow-empty",
        "-m",
        "x",
    ],
];

fn git(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new("git");
    cmd.args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdout(Stdio::null());
    cmd
}

#[test]
fn git_push_over_https_gets_its_token_from_sec_git_credential() {
    require_program("git", "git");
    let tmp = tempfile::tempdir().unwrap();
    let token = unique("git-token");
    let server = GitHttp::start(&tmp.path().join("http"), "alice", &token);
    server.bare_repo("repo.git");
    let world = World::new();
    world.keyring_store("git", "token", &token);
    world.write_config(&format!(
        "[[scope]]\ndir = {{project}}\n[scope.env]\nA = {{ value = \"1\" }}\n[scope.git]\n{} = {{ username = \"alice\", secret = \"keyring:git/token\" }}\n",
        toml_path(Path::new(&server.host()))
    ));
    let helper = format!(
        "credential.helper=!{} git-credential",
        shell_quoted(&sec_bin())
    );
    let push = |dir: &Path| {
        for args in ONE_COMMIT {
            let mut cmd = world.command("git");
            cmd.args(args).current_dir(dir);
            world.output(cmd).assert_success();
        }
        let mut cmd = world.command("git");
        let ca = format!("http.sslCAInfo={}", server.ca_file().display());
        cmd.args([
            "-c",
            &helper,
            "-c",
            &ca,
            "push",
            "-q",
            &server.url("repo.git"),
            "main",
        ])
        .current_dir(dir)
        .env("GIT_TERMINAL_PROMPT", "0");
        world.output(cmd)
    };
    let ls = world.run_in(&world.project, &["ls"]);
    assert!(
        ls.stdout.contains(&format!(
            "git       {} alice keyring:git/token",
            server.host()
        )),
        "{ls}"
    );
    push(&world.project).assert_success();
    assert!(
        server
            .seen_credentials()
            .contains(&("alice".to_string(), token.clone())),
        "the server never saw the token from the vault"
    );
    let elsewhere = world.root().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    push(&elsewhere).assert_failure();

    // A host no scope maps gets nothing, and a rejected credential is not erased from the vault.
    let mut ask = world.sec(&["git-credential", "get"]);
    ask.current_dir(&world.project);
    let unmapped = world.output_with_stdin(ask, "protocol=https\nhost=example.org\n\n");
    unmapped.assert_success();
    assert_eq!(unmapped.stdout, "", "an unmapped host got an answer");
    let mut erase = world.sec(&["git-credential", "erase"]);
    erase.current_dir(&world.project);
    world
        .output_with_stdin(
            erase,
            &format!(
                "protocol=https\nhost={}\nusername=alice\npassword={token}\n\n",
                server.host()
            ),
        )
        .assert_success();
    assert_eq!(
        world.keyring_lookup("git", "token").as_deref(),
        Some(token.as_str())
    );
    let log = world.run(&["log"]).stdout;
    assert!(log.contains(&format!("git:{}", server.host())), "{log}");
    assert!(!log.contains(&token) && !world.daemon_log().contains(&token));
}

#[test]
fn import_ssh_decrypts_once_stores_checks_and_removes_only_when_asked() {
    let tmp = tempfile::tempdir().unwrap();
    let world = World::new();
    let ed = world.root().join("id_ed25519");
    let rsa = world.root().join("id_rsa");
    let passphrase = "key passphrase 1";
    keygen(&ed, "ed25519", passphrase);
    keygen(&rsa, "rsa", passphrase);
    let pw_file = tmp.path().join("pw");
    write_file_with_mode(&pw_file, &format!("{passphrase}\n"), 0o600);
    let wrong_file = tmp.path().join("wrong");
    write_file_with_mode(&wrong_file, "not it\n", 0o600);
    let import = |key: &Path, pw: &Path, extra: &[&str]| {
        let mut cmd = world.command("bash");
        cmd.args(["-c", "exec \"$@\" --key-passphrase-fd 3 3<\"$PW\"", "bash"])
            .arg(sec_bin())
            .args(["import", "ssh"])
            .arg(key)
            .args(["--backend", "keyring"])
            .args(extra)
            .env("PW", pw);
        world.output(cmd)
    };
    let wrong = import(&ed, &wrong_file, &[]);
    wrong
        .assert_failure()
        .assert_stderr_contains(&["passphrase does not open", "nothing was stored"]);
    for key in [&ed, &rsa] {
        let out = import(key, &pw_file, &[]);
        out.assert_success();
        assert!(out.stdout.contains("ssh_keys = [\"keyring:ssh/"), "{out}");
        assert!(key.exists(), "the key file went without --remove");
    }
    // What was stored is the key, decrypted: the agent offers it.
    world.write_config(
        "[[scope]]\ndir = {project}\nssh_keys = [\"keyring:ssh/id_ed25519\", \"keyring:ssh/id_rsa\"]\n",
    );
    let listed = exec_in(&world, &world.project, &["ssh-add".into(), "-l".into()]);
    listed.assert_success();
    for key in [&ed, &rsa] {
        let fp = fingerprint(Path::new(&format!("{}.pub", key.display())));
        assert!(listed.stdout.contains(&fp), "{fp} missing:\n{listed}");
    }
    // A .pub that belongs to another key stops the import before anything is stored.
    let stranger = tmp.path().join("stranger");
    keygen(&stranger, "ed25519", "");
    std::fs::copy(
        format!("{}.pub", stranger.display()),
        format!("{}.pub", rsa.display()),
    )
    .unwrap();
    import(&rsa, &pw_file, &["--remove"])
        .assert_failure()
        .assert_stderr_contains(&["does not belong to"]);
    assert!(rsa.exists());
    let out = import(&ed, &pw_file, &["--remove"]);
    out.assert_success();
    assert!(!ed.exists(), "--remove left the private key");
    assert!(
        Path::new(&format!("{}.pub", ed.display())).exists(),
        "the .pub went too"
    );
    assert!(!out.stdout.contains("PRIVATE") && !out.stderr.contains("PRIVATE"));
}

#[test]
fn neither_agent_nor_git_helper_is_reachable_inside_the_shield() {
    let tmp = tempfile::tempdir().unwrap();
    let key = tmp.path().join("id_ed25519");
    keygen(&key, "ed25519", "");
    let world = world_with_keys(std::slice::from_ref(&key), "", quoted_reference);
    let mut config = std::fs::read_to_string(world.config_path()).unwrap();
    config.push_str("[scope.git]\n\"example.org\" = { secret = \"keyring:ssh/key0\" }\n");
    std::fs::write(world.config_path(), config).unwrap();
    let (mut holder, run, socket) = hold_a_lease(&world);

    // Control: outside the shield, the helper answers in the project.
    let mut ask = world.sec(&["git-credential", "get"]);
    ask.current_dir(&world.project);
    let answered = world.output_with_stdin(ask, "protocol=https\nhost=example.org\n\n");
    assert!(answered.stdout.contains("password="), "{answered}");

    let inside = format!(
        "printf 'protocol=https\\nhost=example.org\\n\\n' | {} git-credential get; SSH_AUTH_SOCK={} ssh-add -l; true",
        shell_quoted(&sec_bin()),
        shell_quoted(Path::new(&socket))
    );
    let mut shield = world.sec(&["shield", "--", "sh", "-c", &inside]);
    shield.current_dir(&world.project);
    let out = world.output(shield);
    assert!(
        !out.stdout.contains("password="),
        "the git helper answered inside the shield:\n{out}"
    );
    assert!(
        !out.stdout.contains("SHA256:"),
        "the agent answered inside the shield:\n{out}"
    );
    std::fs::write(run.join("stop"), "").unwrap();
    assert!(holder.wait().unwrap().success());
}
