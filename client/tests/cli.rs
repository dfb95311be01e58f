//! The client's own checks that need no daemon.

use std::process::Command;

fn sec() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sec"))
}

/// Every subcommand with the one line `sec --help` shows for it, in order.
const SUBCOMMANDS: &[(&str, &str)] = &[
    (
        "exec",
        "Run a command with the current directory's secrets in its environment",
    ),
    (
        "shield",
        "Run a command you do not trust where your credentials do not exist",
    ),
    (
        "ls",
        "Show the scope that applies to a directory: variable names and references, no values",
    ),
    (
        "status",
        "Show the daemon, its cached scopes with their time left, and live leases",
    ),
    (
        "revoke",
        "Forget cached secrets and end leases now (without a selector: everything)",
    ),
    (
        "set",
        "Store a secret in its vault (the value comes from stdin, or a no-echo prompt)",
    ),
    ("rm", "Delete a secret from its vault"),
    (
        "allow",
        "Approve the repository file (.sec.toml) at or above DIR, exactly as it is now",
    ),
    (
        "deny",
        "Refuse the repository file at or above DIR; the shell hook stops asking about it",
    ),
    (
        "unlock",
        "Look the secrets of DIR's scope up now, so later commands are served from memory",
    ),
    (
        "passwd",
        "Change the local vault's passphrase (re-encrypts it atomically)",
    ),
    (
        "hook",
        "Print the shell hook: eval \"$(sec hook bash)\" in ~/.bashrc (zsh alike; fish: `sec hook fish | source`)",
    ),
    (
        "completions",
        "Print shell completions: source <(sec completions bash) (zsh alike; fish: `sec completions fish | source`)",
    ),
    (
        "man",
        "Write the manual pages (sec.1 and one per subcommand) into DIR",
    ),
    (
        "git-credential",
        "A git credential helper: answers git from the `[scope.git]` of git's directory",
    ),
    (
        "doctor",
        "Check what sec depends on (daemon, socket directory, keychain, local vault, config, askpass, shell hook, the shield) and say how to fix each problem",
    ),
    (
        "log",
        "Show the audit log: every grant, refusal, revocation, expiry, unlock and trust decision",
    ),
    (
        "import",
        "Move the credentials of ~/.pypirc or ~/.netrc, or an SSH key, into a vault and print the scope that uses them. The file is left as it is unless --remove is given",
    ),
    ("daemon", "Start, stop or query the daemon"),
    (
        "help",
        "Print this message or the help of the given subcommand(s)",
    ),
];

/// `sec ARGS`: its stdout, after checking that it exited 0.
fn help(args: &[&str]) -> String {
    let out = sec().args(args).output().unwrap();
    assert!(out.status.success(), "sec {args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// The `NAME  DESCRIPTION` lines of a help text's `Commands:` section.
fn commands_section(text: &str) -> Vec<(String, String)> {
    text.lines()
        .skip_while(|l| *l != "Commands:")
        .skip(1)
        .take_while(|l| !l.is_empty())
        .map(|l| {
            let (name, description) = l.trim().split_once(' ').unwrap_or((l.trim(), ""));
            (name.to_string(), description.trim().to_string())
        })
        .collect()
}

#[test]
fn help_lists_every_subcommand_with_its_description() {
    let text = help(&["--help"]);
    assert!(
        text.starts_with("Per-directory secrets: your tokens stay in the vault"),
        "`sec --help` does not open with what sec is:\n{text}"
    );
    let listed = commands_section(&text);
    let expected: Vec<(String, String)> = SUBCOMMANDS
        .iter()
        .map(|(n, d)| (n.to_string(), d.to_string()))
        .collect();
    assert_eq!(listed, expected, "in:\n{text}");
    assert!(!text.contains("hook-event"), "a hidden command is listed");
    // Each subcommand's own help opens with the same line.
    for (name, description) in SUBCOMMANDS.iter().filter(|(n, _)| *n != "help") {
        let own = help(&[name, "--help"]);
        let first = own.lines().next().unwrap_or_default();
        assert!(
            description.starts_with(first.trim_end_matches('.')),
            "`sec {name} --help` opens with {first:?}, `sec --help` says {description:?}"
        );
    }
}

#[test]
fn shield_help_lists_its_options() {
    let text = help(&["shield", "--help"]);
    for (flag, description) in [
        (
            "--no-network",
            "A fresh network namespace with only the loopback interface",
        ),
        ("--allow <PATH>", "Show this path read-only (repeatable)"),
        ("--writable <PATH>", "Show this path writable (repeatable)"),
        (
            "--writable-git",
            "Let the command change the project's .git/config, hooks and info",
        ),
        (
            "--keep-env <NAME>",
            "Pass this environment variable too; `*` matches any run (repeatable)",
        ),
        (
            "--keep-fd <FD>",
            "Pass this open descriptor (above 2) to the command (repeatable)",
        ),
        (
            "--show",
            "Print what the command would see, and run nothing",
        ),
    ] {
        let at = text
            .lines()
            .position(|l| l.trim() == flag)
            .unwrap_or_else(|| panic!("`sec shield --help` lacks {flag}:\n{text}"));
        let next = text.lines().nth(at + 1).unwrap_or_default().trim();
        assert!(
            next.starts_with(description),
            "{flag} is described as {next:?}, expected {description:?}"
        );
    }
    assert!(
        text.contains("Usage: sec shield [OPTIONS] [CMD]..."),
        "{text}"
    );
}

#[cfg(unix)]
#[test]
fn exec_refuses_a_runtime_dir_open_to_others_with_125() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    std::fs::create_dir_all(run.join("sec")).unwrap();
    std::fs::set_permissions(run.join("sec"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = sec()
        .args(["exec", "--", "true"])
        .env_clear()
        .env("HOME", tmp.path())
        .env("XDG_RUNTIME_DIR", &run)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("chmod 700"), "{stderr}");
}

/// A usage mistake in `sec exec` or `sec shield` exits 125 (as `env` and `timeout` do), so it
/// is never mistaken for the command's own status; help still exits 0.
#[test]
fn usage_mistakes_of_commands_that_run_a_command_exit_125() {
    for args in [
        &["exec"][..],
        &["exec", "--only"],
        &["shield", "--keep-fd", "x", "--", "true"],
        &["shield", "--writable"],
    ] {
        let out = sec().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(125), "sec {args:?}: {out:?}");
        assert!(!out.stderr.is_empty(), "sec {args:?} said nothing");
    }
    let out = sec().args(["ls", "--no-such-flag"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    for args in [
        &["exec", "--help"][..],
        &["shield", "--help"],
        &["--version"],
    ] {
        let out = sec().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "sec {args:?}: {out:?}");
    }
}

/// A sec installed without secd says where it looked and how to install it.
#[test]
fn a_missing_secd_is_named_with_where_sec_looked() {
    let root = tempfile::tempdir().unwrap();
    let bin = root.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let lonely = bin.join("sec");
    // Copied by another process: a copy written here could still be open for writing in a
    // child another test thread forks meanwhile, and exec would fail with "text file busy".
    // `sec` with `sec-cli`, the client its front hands `status` to: the installed pair.
    let copied = Command::new("cp")
        .arg(env!("CARGO_BIN_EXE_sec"))
        .arg(std::path::Path::new(env!("CARGO_BIN_EXE_sec")).with_file_name("sec-cli"))
        .arg(&bin)
        .status()
        .unwrap();
    assert!(copied.success());
    for dir in ["home", "run"] {
        std::fs::create_dir(root.path().join(dir)).unwrap();
    }
    let runtime = root.path().join("run");
    std::fs::set_permissions(
        &runtime,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    let out = Command::new(&lonely)
        .arg("status")
        .env_clear()
        .env("PATH", root.path().join("home"))
        .env("HOME", root.path().join("home"))
        .env("XDG_RUNTIME_DIR", &runtime)
        .current_dir(root.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{out:?}");
    for needle in [
        "cannot start secd",
        &format!("neither beside this program (in {})", bin.display()),
        "nor on PATH",
        "cargo install --locked --path daemon",
    ] {
        assert!(stderr.contains(needle), "{needle:?} not in: {stderr}");
    }
    // The shell hook says it once, not at every `cd`; `sec status` still says it each time.
    let run = |args: &[&str]| {
        let out = Command::new(&lonely)
            .args(args)
            .env_clear()
            .env("PATH", root.path().join("home"))
            .env("HOME", root.path().join("home"))
            .env("XDG_RUNTIME_DIR", &runtime)
            .current_dir(root.path())
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let to = root.path().join("home").display().to_string();
    let hook = ["hook-event", "bash", "--from", "/", "--to", to.as_str()];
    assert!(
        run(&hook).contains("cannot start secd"),
        "the hook never said it"
    );
    let again = run(&hook);
    assert!(
        !again.contains("cannot start secd"),
        "the hook repeated itself: {again}"
    );
    assert!(run(&["status"]).contains("cannot start secd"));
}

/// Every argument and option of every subcommand says what it is: no bare `<NAME>` line
/// in an `Arguments:` or `Options:` section.
#[test]
fn every_argument_of_every_subcommand_is_described() {
    for (name, _) in SUBCOMMANDS.iter().filter(|(n, _)| *n != "help") {
        let text = help(&[name, "--help"]);
        let mut in_list = false;
        for line in text.lines() {
            if line == "Arguments:" || line == "Options:" {
                in_list = true;
                continue;
            }
            if line.is_empty() {
                in_list = false;
                continue;
            }
            // An entry starts at column 2; its description follows on the line, or on the
            // next lines (indented further) when clap wraps it.
            if in_list && line.starts_with("  ") && !line.starts_with("   ") {
                let entry = line.trim();
                let described = entry.contains("  ")
                    || text
                        .lines()
                        .skip_while(|l| *l != line)
                        .nth(1)
                        .is_some_and(|next| next.starts_with("          "));
                assert!(
                    described,
                    "`sec {name} --help`: {entry:?} has no description\n{text}"
                );
            }
        }
    }
}

/// `sec log` on a fresh install says the log is empty (on stderr; stdout stays empty for
/// scripts), instead of printing nothing.
#[test]
fn an_empty_audit_log_says_so() {
    let home = tempfile::tempdir().unwrap();
    let log = |args: &[&str]| {
        sec()
            .args(args)
            .env_clear()
            .env("HOME", home.path())
            .env("XDG_STATE_HOME", home.path().join("state"))
            .output()
            .unwrap()
    };
    let out = log(&["log"]);
    assert!(out.status.success(), "{out:?}");
    assert!(out.stdout.is_empty(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("the audit log is empty"), "{stderr}");
    let json = log(&["log", "--json"]);
    assert!(
        json.status.success() && json.stdout.is_empty() && json.stderr.is_empty(),
        "{json:?}"
    );
}
