//! The shell hooks `sec hook bash|zsh|fish` prints, run in the real shells.
//!
//! Long because each shell (bash, zsh, fish) is tested on its own, in a real terminal.
//!
//! Most tests run the generated script against a stand-in `sec` (see
//! `sec_tests::shell::SecStandin`) so they check the script alone: when it asks, with which
//! arguments, what it applies, and that it starts no process when the directory did not
//! change. The last ones drive the real `sec` and `secd` through a terminal (a private tmux
//! server), as a person would: answer the questions, then look at the shell and the daemon.

use std::path::{Path, PathBuf};

use sec_tests::shell::{SecStandin, Tmux, hook_script, run_with_input};
use sec_tests::{Output, World, sec_bin, unique};

/// A world, a stand-in `sec` and the generated hook for `shell` written to a file, with the
/// directories the sessions visit: the project (where the shell starts), `project/sub` and
/// `project/broken` (where the stand-in fails).
struct Setup {
    world: World,
    standin: SecStandin,
    hook: PathBuf,
}

impl Setup {
    fn new(shell: &str) -> Self {
        let world = World::without_keyring();
        let standin = SecStandin::install(&world.root().join("standin"));
        let hook = world.root().join(format!("hook.{shell}"));
        std::fs::write(&hook, hook_script(shell, standin.path_str()))
            .expect("cannot write the hook script");
        for dir in ["sub", "broken"] {
            std::fs::create_dir(world.project.join(dir)).expect("cannot create a directory");
        }
        Setup {
            world,
            standin,
            hook,
        }
    }

    fn hook(&self) -> &str {
        self.hook.to_str().expect("path is not UTF-8")
    }

    fn project(&self) -> &Path {
        &self.world.project
    }

    fn dir(&self, name: &str) -> PathBuf {
        self.world.project.join(name)
    }

    /// Runs `program ARGS` in the project directory with `input` on stdin.
    fn session(&self, program: &str, args: &[&str], input: &str) -> Output {
        run_with_input(
            &self.world,
            self.project(),
            program,
            args,
            &[("TERM", "dumb")],
            input,
        )
    }
}

fn display(path: &Path) -> String {
    path.to_str().expect("path is not UTF-8").to_string()
}

/// What every strict-mode session below does, in its shell's words: source the hook twice,
/// a prompt without a change, `cd sub`, a prompt, `$?` checks with the hook called directly
/// (unchanged directory, then after `cd ..`), `cd broken` where the stand-in fails.
/// Checks the lines it printed and the stand-in's calls.
fn check_strict_session(setup: &Setup, shell: &str, out: &Output, hook_entries: &str) {
    out.assert_success();
    for bad in [
        "unbound variable",
        "parameter not set",
        "command not found",
        "syntax error",
        "parse error",
        "BROKEN",
    ] {
        assert!(
            !out.stdout.contains(bad) && !out.stderr.contains(bad),
            "{bad:?} in the session:\n{out}"
        );
    }
    let project = display(setup.project());
    let sub = display(&setup.dir("sub"));
    let expected_lines = [
        format!("hooks={hook_entries}"),
        format!("scope={sub} exported={sub}"),
        "alive after a failed status".to_string(),
        "unchanged rc=1".to_string(),
        "changed rc=1".to_string(),
        format!("after broken scope={project}"),
        "done".to_string(),
    ];
    let lines: Vec<&str> = out.stdout.lines().map(str::trim).collect();
    for line in &expected_lines {
        assert!(
            lines.contains(&line.as_str()),
            "expected the line {line:?} on stdout:\n{out}"
        );
    }
    // One call per change of directory, none at prompts without one, despite sourcing twice.
    let expected_calls = vec![
        SecStandin::expected_call(shell, "", setup.project(), ""),
        SecStandin::expected_call(shell, &project, &setup.dir("sub"), &project),
        SecStandin::expected_call(shell, &sub, setup.project(), &format!("{project}:{sub}")),
        SecStandin::expected_call(
            shell,
            &project,
            &setup.dir("broken"),
            &format!("{project}:{sub}:{project}"),
        ),
    ];
    assert_eq!(
        setup.standin.calls(),
        expected_calls,
        "the stand-in's calls differ:\n{out}"
    );
}

#[test]
fn bash_hook_under_strict_mode() {
    let setup = Setup::new("bash");
    // bash runs PROMPT_COMMAND before reading each line, also from a pipe.
    let input = format!(
        r#"set -euo pipefail
source {hook}
source {hook}
:
echo "hooks=${{PROMPT_COMMAND[*]}}"
cd sub
echo "scope=${{SEC_SCOPE-unset}} exported=$(printenv SEC_SCOPE)"
:
! true
echo "alive after a failed status"
set +e
false; __sec_hook; echo "unchanged rc=$?"
cd ..; false; __sec_hook; echo "changed rc=$?"
cd broken
echo "after broken scope=${{SEC_SCOPE-unset}}"
:
echo done
"#,
        hook = setup.hook()
    );
    let out = setup.session("bash", &["--norc", "--noprofile", "-i"], &input);
    check_strict_session(&setup, "bash", &out, "__sec_hook");
}

#[test]
fn zsh_hook_under_strict_mode() {
    let setup = Setup::new("zsh");
    // zsh runs precmd_functions before reading each line, also from a pipe.
    let input = format!(
        r#"setopt nounset errexit pipefail
source {hook}
source {hook}
:
echo "hooks=${{precmd_functions[*]}}"
cd sub
echo "scope=${{SEC_SCOPE-unset}} exported=$(printenv SEC_SCOPE)"
:
! true
echo "alive after a failed status"
setopt noerrexit
false; __sec_hook; echo "unchanged rc=$?"
cd ..; false; __sec_hook; echo "changed rc=$?"
cd broken
echo "after broken scope=${{SEC_SCOPE-unset}}"
:
echo done
"#,
        hook = setup.hook()
    );
    let out = setup.session("zsh", &["-f", "-i"], &input);
    check_strict_session(&setup, "zsh", &out, "__sec_hook");
}

#[test]
fn fish_hook_in_an_interactive_fish() {
    let setup = Setup::new("fish");
    // fish has no nounset, and fires no fish_prompt when reading from a pipe: the test
    // emits it where a prompt would be.
    let input = format!(
        r#"source {hook}
source {hook}
emit fish_prompt
emit fish_prompt
echo "hooks="(functions --handlers-type generic | string match '*__sec_hook*')
cd sub
emit fish_prompt
echo "scope=$SEC_SCOPE exported="(printenv SEC_SCOPE)
emit fish_prompt
echo "alive after a failed status"
false; __sec_hook; echo "unchanged rc=$status"
cd ..; false; __sec_hook; echo "changed rc=$status"
cd broken
emit fish_prompt
echo "after broken scope=$SEC_SCOPE"
emit fish_prompt
echo done
"#,
        hook = setup.hook()
    );
    let out = setup.session("fish", &["--no-config", "-i"], &input);
    check_strict_session(&setup, "fish", &out, "fish_prompt __sec_hook");
}

#[test]
fn bash_hook_goes_first_in_prompt_command_once_in_either_form() {
    let setup = Setup::new("bash");
    // A prompt theme that was there before: it must keep running, after the hook, so it
    // sees SEC_SCOPE at the very first prompt.
    for (form, expected) in [
        (
            "PROMPT_COMMAND='theme'",
            r#"declare -- PROMPT_COMMAND="__sec_hook;theme""#,
        ),
        (
            "PROMPT_COMMAND=(theme)",
            r#"declare -a PROMPT_COMMAND=([0]="__sec_hook" [1]="theme")"#,
        ),
    ] {
        let input = format!(
            r#"set -u
theme() {{ echo "theme saw ${{SEC_SCOPE-nothing}}"; }}; {form}; source {hook}
source {hook}
declare -p PROMPT_COMMAND
"#,
            hook = setup.hook()
        );
        let out = setup.session("bash", &["--norc", "--noprofile", "-i"], &input);
        out.assert_success();
        let lines: Vec<&str> = out.stdout.lines().collect();
        assert!(
            lines.contains(&expected),
            "{form}: expected {expected}:\n{out}"
        );
        let first_theme = lines
            .iter()
            .find(|l| l.starts_with("theme saw"))
            .unwrap_or_else(|| panic!("{form}: the theme never ran:\n{out}"));
        assert_eq!(
            *first_theme,
            format!("theme saw {}", display(setup.project())),
            "{form}: the theme ran before the hook:\n{out}"
        );
    }
}

#[test]
fn hooks_do_nothing_in_non_interactive_shells() {
    let setup = Setup::new("bash");
    let zsh_hook = setup.world.root().join("hook.zsh");
    let fish_hook = setup.world.root().join("hook.fish");
    std::fs::write(&zsh_hook, hook_script("zsh", setup.standin.path_str())).unwrap();
    std::fs::write(&fish_hook, hook_script("fish", setup.standin.path_str())).unwrap();
    let cases: [(&str, Vec<String>); 3] = [
        (
            "bash",
            vec![
                "--norc".into(),
                "-c".into(),
                format!(
                    r#"source {}; echo "installed=${{PROMPT_COMMAND-}}$(type -t __sec_hook)""#,
                    setup.hook()
                ),
            ],
        ),
        (
            "zsh",
            vec![
                "-f".into(),
                "-c".into(),
                format!(
                    r#"source {}; echo "installed=${{precmd_functions-}}$(whence -w __sec_hook | grep function)""#,
                    display(&zsh_hook)
                ),
            ],
        ),
        (
            "fish",
            vec![
                "--no-config".into(),
                "-c".into(),
                format!(
                    r#"source {}; set -l found (functions --names | string match __sec_hook); echo "installed=$found""#,
                    display(&fish_hook)
                ),
            ],
        ),
    ];
    for (shell, args) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = setup.session(shell, &args, "");
        out.assert_success();
        assert_eq!(
            out.stdout, "installed=\n",
            "{shell} installed the hook:\n{out}"
        );
    }
    assert_eq!(setup.standin.calls(), Vec::<Vec<String>>::new());
}

#[test]
fn bash_hook_is_clean_under_shellcheck() {
    let world = World::without_keyring();
    let script = hook_script("bash", "/usr/local/bin/sec");
    let out = run_with_input(
        &world,
        &world.project,
        "shellcheck",
        &["--shell=bash", "--severity=style", "-"],
        &[],
        &script,
    );
    assert!(
        out.success() && out.stdout.is_empty(),
        "shellcheck found something in the generated bash hook:\n{out}"
    );
}

/// A change to a generated script is reviewed on purpose: `cargo insta review` (or
/// INSTA_UPDATE=always) after changing a template under shell-hooks/.
#[test]
fn generated_hooks_match_their_snapshots() {
    for shell in ["bash", "zsh", "fish"] {
        insta::assert_snapshot!(
            format!("hook_{shell}"),
            hook_script(shell, "/usr/local/bin/sec")
        );
    }
}

/// "No change ⇒ no process": counted with strace, every fork and exec of an interactive
/// bash with the hook, over prompts with and without a change of directory.
#[test]
fn bash_prompt_without_cd_starts_no_process() {
    let setup = Setup::new("bash");
    let log = setup.world.root().join("strace.log");
    let input = format!(
        "source {hook}\n:\n\n:\ntrue\n\ncd .\n:\ncd sub\n:\n\ntrue\ncd {sub}\n:\nexit\n",
        hook = setup.hook(),
        sub = display(&setup.dir("sub")),
    );
    let out = setup.session(
        "strace",
        &[
            "-f",
            "-qq",
            "-e",
            "trace=execve,execveat,fork,vfork,clone,clone3",
            "-o",
            log.to_str().expect("path is not UTF-8"),
            "bash",
            "--norc",
            "--noprofile",
            "-i",
        ],
        &input,
    );
    out.assert_success();
    let trace = std::fs::read_to_string(&log).expect("cannot read the strace log");
    let calls_of = |names: &[&str]| -> Vec<String> {
        trace
            .lines()
            .filter(|line| names.iter().any(|name| line.contains(&format!(" {name}("))))
            .map(str::to_string)
            .collect()
    };
    let execs = calls_of(&["execve", "execveat"]);
    let forks = calls_of(&["fork", "vfork", "clone", "clone3"]);
    let standin = format!("\"{}\"", setup.standin.path_str());
    // bash itself, then the stand-in at the first prompt and after `cd sub`: nothing at the
    // eleven prompts without a change.
    assert_eq!(
        execs.len(),
        3,
        "expected 3 execs (bash, the stand-in twice):\n{trace}"
    );
    assert!(execs[0].contains("bash"), "{trace}");
    assert!(
        execs[1..].iter().all(|e| e.contains(&standin)),
        "something other than the stand-in ran:\n{trace}"
    );
    assert_eq!(
        forks.len(),
        2,
        "expected 2 forks (one per change of directory):\n{trace}"
    );
    assert_eq!(
        setup.standin.calls().len(),
        2,
        "the stand-in ran at a prompt without a change:\n{out}"
    );
}

/// How one shell says the commands of [`quick_path_session`], with builtins only (so that
/// whatever process the trace shows was started by the hook).
struct QuickShell {
    name: &'static str,
    program: &'static str,
    args: &'static [&'static str],
    /// Loads the hook from the file `{hook}` (bash and zsh in strict mode).
    source: &'static str,
    /// What follows each line that changes the directory, for the hook to run: bash and zsh
    /// run it before reading each line, also from a pipe; fish from a pipe does not.
    prompt: &'static str,
    /// Prints `state {label} scope=SEC_SCOPE|unset exported=yes|no`.
    state: &'static str,
}

const QUICK_BASH: QuickShell = QuickShell {
    name: "bash",
    program: "bash",
    args: &["--norc", "--noprofile", "-i"],
    source: "set -euo pipefail; source {hook}",
    prompt: "",
    state: r#"if [[ -v SEC_SCOPE && ${SEC_SCOPE@a} == *x* ]]; then x=yes; else x=no; fi; echo "state {label} scope=${SEC_SCOPE-unset} exported=$x""#,
};

const QUICK_ZSH: QuickShell = QuickShell {
    name: "zsh",
    program: "zsh",
    args: &["-f", "-i"],
    source: "setopt nounset errexit pipefail; source {hook}",
    prompt: "",
    state: r#"if [[ -v SEC_SCOPE && ${(t)SEC_SCOPE} == *export* ]]; then x=yes; else x=no; fi; echo "state {label} scope=${SEC_SCOPE-unset} exported=$x""#,
};

const QUICK_FISH: QuickShell = QuickShell {
    name: "fish",
    program: "fish",
    args: &["--no-config", "-i"],
    source: "source {hook}",
    prompt: "emit fish_prompt",
    state: r#"if set -qx SEC_SCOPE; set x yes; else; set x no; end; set -q SEC_SCOPE; and set s $SEC_SCOPE; or set s unset; echo "state {label} scope=$s exported=$x""#,
};

/// What a traced shell did after each change of its directory: per `cd` (in order), the
/// calls that started a process (forks, not threads) until the next one. Counted from the
/// first process it started (sec at the first prompt; zsh changes directories while it
/// starts), which is the first entry.
fn processes_per_cd(trace: &str) -> Vec<Vec<String>> {
    let mut windows: Vec<Vec<String>> = Vec::new();
    for line in trace.lines() {
        let call = |name: &str| line.starts_with(&format!("{name}("));
        if call("chdir") || call("fchdir") {
            if !windows.is_empty() {
                windows.push(Vec::new());
            }
        } else if ["fork", "vfork", "clone", "clone3"].into_iter().any(call)
            && !line.contains("CLONE_THREAD")
        {
            if windows.is_empty() {
                windows.push(Vec::new());
            }
            windows.last_mut().unwrap().push(line.to_string());
        }
    }
    windows
}

/// The hook settles most changes of directory itself, counted with strace: none of these
/// starts a process: between directories no scope covers, into a config scope whose
/// secrets are cached (SEC_SCOPE exported there), deeper in it, and out of it (SEC_SCOPE
/// unset), in and out of a scope with `prompt = false`, within an `[[untrusted]]`
/// directory and out of it. sec still runs where it has something to do, or where the hook
/// cannot be sure (a directory reached through a symbolic link, and leaving it): a scope whose
/// secrets are not cached (it may offer to unlock), leaving a scope with `on_leave =
/// "revoke"` (which does revoke it, so entering it again runs sec too), a directory with a
/// `.sec.toml` (and leaving it), entering an `[[untrusted]]` directory (the reminder), and
/// the first change after config.toml was edited (a scope added there is applied).
/// An approved `.sec.toml` whose secrets are cached is like an unlocked config scope (no
/// process in, deeper and out) until it is touched (same content, newer time: sec runs,
/// and the scope stays) or edited (sec runs, and the scope is gone); a new `.sec.toml`
/// below it still runs sec.
fn quick_path_session(shell: &QuickShell) {
    sec_tests::require_program("strace", "strace");
    let world = World::without_keyring();
    let op = world.op_standin();
    let dir = |name: &str| {
        let path = world.project.join(name);
        std::fs::create_dir_all(&path).expect("cannot create a directory");
        path
    };
    let (out1, out2) = (dir("out1"), dir("out2"));
    let (unlocked, sub) = (dir("unlocked"), dir("unlocked/sub"));
    let (locked, revoke, repo, added) = (dir("locked"), dir("revoke"), dir("repo"), dir("added"));
    let (quiet, untrusted, inside) = (dir("quiet"), dir("untrusted"), dir("untrusted/sub"));
    let (approved, approved_sub) = (dir("approved"), dir("approved/sub"));
    let (under_new, approved_file) = (dir("approved/mid/inner"), approved.join(".sec.toml"));
    let link = world.project.join("link");
    std::os::unix::fs::symlink(&unlocked, &link).expect("cannot create a link");
    for item in ["u", "l", "r", "a"] {
        op.add_item(&format!("op://v/{item}/x"), &unique("value"));
    }
    let scope = |dir: &Path, extra: &str, item: &str| {
        format!(
            "[[scope]]\ndir = {}\n{extra}[scope.env]\nX = \"op://v/{item}/x\"\n\n",
            sec_tests::toml_path(dir)
        )
    };
    world.write_config(&format!(
        "[defaults]\naskpass = \"/bin/true\"\n\n{}{}{}{}[[untrusted]]\ndir = {}\n\n",
        scope(&unlocked, "", "u"),
        scope(&locked, "", "l"),
        scope(&revoke, "on_leave = \"revoke\"\n", "r"),
        scope(&quiet, "prompt = false\n", "l"),
        sec_tests::toml_path(&untrusted),
    ));
    // Edited a while ago: secd hands out no map for a config.toml edited a moment before.
    let config = std::fs::File::options()
        .write(true)
        .open(world.config_path())
        .expect("cannot open the config");
    config
        .set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(60))
        .expect("cannot set the config's time");
    drop(config);
    std::fs::write(repo.join(".sec.toml"), "[env]\nR = \"op://v/r/x\"\n")
        .expect("cannot write .sec.toml");
    // Approved (askpass says yes) and unlocked; written a while ago: secd makes no marker
    // for a file modified a moment before.
    let approved_text = "[env]\nA = \"op://v/a/x\"\n";
    std::fs::write(&approved_file, approved_text).expect("cannot write .sec.toml");
    std::fs::File::options()
        .write(true)
        .open(&approved_file)
        .and_then(|f| {
            f.set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(60))
        })
        .expect("cannot set the .sec.toml's time");
    std::fs::write(approved.join("mid/.sec.toml"), "[env]\n").expect("cannot write .sec.toml");
    world.run_in(&approved, &["allow"]).assert_success();
    for dir in [&unlocked, &revoke, &approved] {
        world.run_in(dir, &["unlock"]).assert_success();
    }

    let hook = world.root().join(format!("hook.{}", shell.name));
    std::fs::write(&hook, hook_script(shell.name, sec_bin().to_str().unwrap()))
        .expect("cannot write the hook script");
    let mut input = format!(
        "{}\n{}\n",
        shell.source.replace("{hook}", &display(&hook)),
        shell.prompt
    );
    let step = |input: &mut String, line: String, label: &str| {
        input.push_str(&format!(
            "{line}\n{}\n{}\n",
            shell.prompt,
            shell.state.replace("{label}", label)
        ));
    };
    let cd = |dir: &Path| format!("cd {}", sec_tests::shell_quoted(dir));
    // (label, processes the hook may start, SEC_SCOPE after it, or "unset")
    let plan: Vec<(&str, usize, String)> = vec![
        ("uncovered", 0, "unset".into()),
        ("into-unlocked", 0, display(&unlocked)),
        ("deeper", 0, display(&unlocked)),
        ("out-of-unlocked", 0, "unset".into()),
        ("into-locked", 1, display(&locked)),
        ("out-of-locked", 0, "unset".into()),
        ("into-revoke", 0, display(&revoke)),
        ("out-of-revoke", 1, "unset".into()),
        ("into-revoked", 1, display(&revoke)),
        ("out-of-revoked", 1, "unset".into()),
        ("into-repo", 1, "unset".into()),
        ("out-of-repo", 1, "unset".into()),
        ("into-no-prompt", 0, display(&quiet)),
        ("out-of-no-prompt", 0, "unset".into()),
        ("into-untrusted", 1, "unset".into()),
        ("within-untrusted", 0, "unset".into()),
        ("out-of-untrusted", 0, "unset".into()),
        ("through-a-link", 1, display(&unlocked)),
        ("out-of-the-link", 1, "unset".into()),
        ("into-approved", 0, display(&approved)),
        ("deeper-in-approved", 0, display(&approved)),
        ("out-of-approved", 0, "unset".into()),
        ("under-a-new-file", 1, "unset".into()),
        ("out-of-the-new-file", 1, "unset".into()),
        ("into-touched", 1, display(&approved)),
        ("out-of-touched", 1, "unset".into()),
        ("into-edited", 1, "unset".into()),
        ("into-added", 1, display(&added)),
    ];
    for (label, dir) in [
        ("uncovered", &out2),
        ("into-unlocked", &unlocked),
        ("deeper", &sub),
        ("out-of-unlocked", &out1),
        ("into-locked", &locked),
        ("out-of-locked", &out1),
        ("into-revoke", &revoke),
        ("out-of-revoke", &out1),
        ("into-revoked", &revoke),
        ("out-of-revoked", &out1),
        ("into-repo", &repo),
        ("out-of-repo", &out1),
        ("into-no-prompt", &quiet),
        ("out-of-no-prompt", &out1),
        ("into-untrusted", &untrusted),
        ("within-untrusted", &inside),
        ("out-of-untrusted", &out1),
        ("through-a-link", &link),
        ("out-of-the-link", &out1),
        ("into-approved", &approved),
        ("deeper-in-approved", &approved_sub),
        ("out-of-approved", &out1),
        ("under-a-new-file", &under_new),
        ("out-of-the-new-file", &out1),
    ] {
        step(&mut input, cd(dir), label);
    }
    // The approved file written again with the same content by the shell's own printf
    // (newer than its marker), then edited.
    let file = sec_tests::shell_quoted(&approved_file);
    input.push_str(&format!(
        "printf '%s\\n' '[env]' 'A = \"op://v/a/x\"' > {file}\n"
    ));
    step(&mut input, cd(&approved), "into-touched");
    step(&mut input, cd(&out1), "out-of-touched");
    input.push_str(&format!("printf '%s\\n' '# edited' >> {file}\n"));
    step(&mut input, cd(&approved), "into-edited");
    // config.toml edited with the shell's own printf: a new scope, applied at the next cd.
    let dir_line = format!("dir = {}", sec_tests::toml_path(&added));
    input.push_str(&format!(
        "printf '%s\\n' '[[scope]]' {} >> {}\n",
        sec_tests::shell_quoted(Path::new(&dir_line)),
        sec_tests::shell_quoted(&world.config_path())
    ));
    step(&mut input, cd(&added), "into-added");
    input.push_str("exit\n");

    // The shell alone (no -f): its own forks are the processes it starts, and sec, which
    // refuses to run under a tracer, is not traced.
    let log = world.root().join("strace.log");
    let mut args = vec![
        "-qq",
        "-e",
        "trace=execve,execveat,fork,vfork,clone,clone3,chdir,fchdir",
        "-o",
        log.to_str().expect("path is not UTF-8"),
        shell.program,
    ];
    args.extend(shell.args);
    let out = run_with_input(&world, &out1, "strace", &args, &[("TERM", "dumb")], &input);
    out.assert_success();
    let trace = std::fs::read_to_string(&log).expect("cannot read the strace log");
    let windows = processes_per_cd(&trace);
    assert_eq!(
        windows.len(),
        plan.len() + 1,
        "{}: expected {} changes of directory in the trace:\n{trace}\n{out}",
        shell.name,
        plan.len()
    );
    assert!(
        !windows[0].is_empty(),
        "{}: sec did not run at the first prompt:\n{trace}",
        shell.name
    );
    let mut seen = Vec::new();
    for (i, (label, processes, scope)) in plan.iter().enumerate() {
        let started = &windows[i + 1];
        seen.push(format!("{label} {}", started.len()));
        assert_eq!(
            started.len(),
            *processes,
            "{}: {label}: the hook started {} process(es), expected {processes}:\n{}\n{out}",
            shell.name,
            started.len(),
            started.join("\n")
        );
        let exported = if scope == "unset" { "no" } else { "yes" };
        let expected = format!("state {label} scope={scope} exported={exported}");
        assert!(
            out.stdout.lines().any(|l| l.trim() == expected),
            "{}: expected {expected:?}:\n{out}",
            shell.name
        );
    }
    eprintln!("{}: processes per cd: {}", shell.name, seen.join(", "));
    assert_eq!(
        out.stderr
            .matches(" is untrusted: run its code with `sec shield")
            .count(),
        1,
        "{}: the reminder is said once, on the way in:\n{out}",
        shell.name
    );
    assert!(
        out.stderr.contains(&format!(
            "left {}, its secrets are revoked",
            display(&revoke)
        )),
        "{}: leaving the scope did not revoke it:\n{out}",
        shell.name
    );
    let status = world.run(&["status", "--json"]);
    status.assert_success();
    let cached: Vec<String> = status.json()["cached"]
        .as_array()
        .expect("no cached list")
        .iter()
        .map(|c| c["dir"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(
        cached.contains(&display(&unlocked)) && !cached.contains(&display(&revoke)),
        "{}: cached afterwards: {cached:?}",
        shell.name
    );
}

#[test]
fn bash_quick_path_starts_no_process_where_sec_has_nothing_to_do() {
    quick_path_session(&QUICK_BASH);
}

#[test]
fn zsh_quick_path_starts_no_process_where_sec_has_nothing_to_do() {
    quick_path_session(&QUICK_ZSH);
}

#[test]
fn fish_quick_path_starts_no_process_where_sec_has_nothing_to_do() {
    quick_path_session(&QUICK_FISH);
}

/// How one shell says the commands of [`allow_unlock_and_revoke_in_a_terminal`].
struct TerminalShell {
    name: &'static str,
    /// Run by tmux in the window.
    start: &'static str,
    /// Installs the hook as the user's rc file would, then prints `hook=` and whether
    /// `__sec_hook` is a function.
    install: &'static str,
    /// Prints `in-shell=N`: how many variables of the shell hold the value in file `{probe}`.
    in_shell: &'static str,
    /// Prints `through-exec=N scope=SEC_SCOPE`: the same count under `sec exec`.
    through_exec: &'static str,
}

const BASH: TerminalShell = TerminalShell {
    name: "bash",
    start: "PS1='$ ' exec bash --norc --noprofile -i",
    install: r#"eval "$(sec hook bash)"; echo "hook=$(type -t __sec_hook)""#,
    in_shell: r#"echo "in-shell=$(env | grep -c -F -f {probe})""#,
    through_exec: r#"echo "through-exec=$(sec exec -- env | grep -c -F -f {probe}) scope=$SEC_SCOPE""#,
};

const ZSH: TerminalShell = TerminalShell {
    name: "zsh",
    start: "PS1='$ ' exec zsh -f -i",
    install: r#"eval "$(sec hook zsh)"; echo "hook=$(whence -w __sec_hook)""#,
    in_shell: BASH.in_shell,
    through_exec: BASH.through_exec,
};

const FISH: TerminalShell = TerminalShell {
    name: "fish",
    start: "exec fish --no-config",
    install: r#"sec hook fish | source; echo hook=(type -t __sec_hook)"#,
    in_shell: r#"echo in-shell=(env | grep -c -F -f {probe})"#,
    through_exec: r#"echo through-exec=(sec exec -- env | grep -c -F -f {probe})" scope=$SEC_SCOPE""#,
};

/// The real thing in a real terminal: entering a directory with a new `.sec.toml` shows its
/// variables and references and asks; once allowed, it offers to unlock; the secret then
/// reaches `sec exec` but not the shell, SEC_SCOPE names the scope, and leaving the
/// directory (`on_leave = "revoke"`) drops it from the daemon's cache. No value is ever on
/// the screen.
fn allow_unlock_and_revoke_in_a_terminal(shell: &TerminalShell) {
    let world = World::new();
    let value = unique("demo-token");
    world
        .run_with_stdin(&["set", "keyring:pypi/demo"], &value)
        .assert_success();
    let demo = world.project.join("demo");
    std::fs::create_dir(&demo).expect("cannot create the demo directory");
    std::fs::write(
        demo.join(".sec.toml"),
        "prompt = true\non_leave = \"revoke\"\n\n[env]\nTWINE_PASSWORD = \"keyring:pypi/demo\"\n",
    )
    .expect("cannot write .sec.toml");
    // `sec` on the world's PATH, as a user has it.
    std::os::unix::fs::symlink(sec_bin(), world.bin.join("sec"))
        .expect("cannot link sec into the world's bin");
    // The value to look for, in a file, so the screen never shows it.
    let probe = world.root().join("value");
    std::fs::write(&probe, &value).expect("cannot write the probe file");
    let probe = display(&probe);

    let tmux = Tmux::start(&world, &world.project, shell.start);
    tmux.send_line(shell.install);
    let hook = tmux.wait_for_line("hook=");
    assert!(
        hook.contains("function"),
        "{}: the hook is not installed: {hook}",
        shell.name
    );

    tmux.send_line("cd demo");
    let screen = tmux.wait_for("Allow? [y/N]");
    assert!(
        screen
            .lines()
            .any(|l| l.contains("TWINE_PASSWORD") && l.contains("keyring:pypi/demo")),
        "{}: the question does not show the variable with its reference:\n{screen}",
        shell.name
    );
    tmux.send_line("y");
    tmux.wait_for("Unlock 1 secret");
    // Enter takes the default, yes.
    tmux.send_line("");

    tmux.send_line(&shell.in_shell.replace("{probe}", &probe));
    assert_eq!(
        tmux.wait_for_line("in-shell="),
        "in-shell=0",
        "{}: the secret reached the shell's environment",
        shell.name
    );
    tmux.send_line(&shell.through_exec.replace("{probe}", &probe));
    assert_eq!(
        tmux.wait_for_line("through-exec="),
        format!("through-exec=1 scope={}", display(&demo)),
        "{}: sec exec did not get the secret, or SEC_SCOPE is not the scope",
        shell.name
    );

    let cached = || -> Vec<String> {
        let out = world.run(&["status", "--json"]);
        out.assert_success();
        let json = out.json();
        let scopes = json["cached"]
            .as_array()
            .unwrap_or_else(|| panic!("no \"cached\" list in the status:\n{out}"));
        // Each entry as JSON text, whatever its shape: the scope's path is in it.
        scopes.iter().map(|s| s.to_string()).collect()
    };
    let demo_json = serde_json::Value::String(display(&demo)).to_string();
    assert!(
        cached().iter().any(|s| s.contains(&demo_json)),
        "{}: the unlocked scope is not cached: {:?}",
        shell.name,
        cached()
    );
    tmux.send_line(r#"cd ..; echo "left for $PWD""#);
    tmux.wait_for_line("left for /");
    sec_tests::wait_until("the scope to be revoked on leaving it", || {
        !cached().iter().any(|s| s.contains(&demo_json))
    });
    let screen = tmux.screen();
    assert!(
        !screen.contains(&value),
        "{}: a secret value on the screen:\n{screen}",
        shell.name
    );
}

#[test]
fn bash_hook_allows_unlocks_and_revokes_in_a_terminal() {
    allow_unlock_and_revoke_in_a_terminal(&BASH);
}

#[test]
fn zsh_hook_allows_unlocks_and_revokes_in_a_terminal() {
    allow_unlock_and_revoke_in_a_terminal(&ZSH);
}

#[test]
fn fish_hook_allows_unlocks_and_revokes_in_a_terminal() {
    allow_unlock_and_revoke_in_a_terminal(&FISH);
}

/// With the hook's map in place, a terminal session still gets what sec does: entering a
/// config scope whose secret is not cached offers to unlock it (yes unlocks it), leaving it
/// (`on_leave = "revoke"`) revokes it, so the next visit asks again (no: not asked again in
/// this shell), an approved `.sec.toml` applies without a question until it is edited (then
/// `Allow?` is asked again), and a scope added to config.toml applies at the next `cd`.
fn unlock_question_with_the_map_in_a_terminal(shell: &TerminalShell) {
    let world = World::without_keyring();
    world.op_standin().add_item("op://v/q/x", &unique("value"));
    let q = world.project.join("q");
    let z = world.project.join("z");
    for dir in [&q, &z] {
        std::fs::create_dir(dir).expect("cannot create a directory");
    }
    let first = format!(
        "[defaults]\naskpass = \"/bin/true\"\n\n\
         [[scope]]\ndir = {}\non_leave = \"revoke\"\n[scope.env]\nX = \"op://v/q/x\"\n",
        sec_tests::toml_path(&q)
    );
    world.write_config(&first);
    // Edited a while ago: secd hands out no map for a config.toml edited a moment before.
    std::fs::File::options()
        .write(true)
        .open(world.config_path())
        .and_then(|f| {
            f.set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(60))
        })
        .expect("cannot set the config's time");
    // An approved repository file (askpass says yes) with nothing to unlock, written a while
    // ago: secd makes no marker for a file modified a moment before.
    let r = world.project.join("r");
    std::fs::create_dir(&r).expect("cannot create a directory");
    let r_file = r.join(".sec.toml");
    std::fs::write(&r_file, "[env]\nL = { value = \"literal\" }\n")
        .expect("cannot write .sec.toml");
    std::fs::File::options()
        .write(true)
        .open(&r_file)
        .and_then(|f| {
            f.set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(60))
        })
        .expect("cannot set the .sec.toml's time");
    world.run_in(&r, &["allow"]).assert_success();
    std::os::unix::fs::symlink(sec_bin(), world.bin.join("sec"))
        .expect("cannot link sec into the world's bin");
    let cached = || -> bool {
        let out = world.run(&["status", "--json"]);
        out.assert_success();
        out.json()["cached"]
            .as_array()
            .expect("no cached list")
            .iter()
            .any(|c| c["dir"].as_str() == Some(&display(&q)))
    };

    let tmux = Tmux::start(&world, &world.project, shell.start);
    tmux.send_line(shell.install);
    let hook = tmux.wait_for_line("hook=");
    assert!(hook.contains("function"), "{}: {hook}", shell.name);
    let question = format!("Unlock 1 secret for {}", display(&q));
    let revoked = format!("left {}, its secrets are revoked", display(&q));

    tmux.send_line("cd q");
    tmux.wait_for(&question);
    tmux.send_line("");
    sec_tests::wait_until("the scope to be unlocked", cached);
    tmux.send_line("cd ..");
    tmux.wait_for(&revoked);
    sec_tests::wait_until("the scope to be revoked", || !cached());

    tmux.send_line("cd q");
    tmux.wait_for_nth(&question, 1);
    tmux.send_line("n");
    tmux.send_line("cd ..");
    tmux.wait_for_nth(&revoked, 1);
    tmux.send_line("cd q");
    tmux.send_line(r#"echo "declined-scope=$SEC_SCOPE""#);
    assert_eq!(
        tmux.wait_for_line("declined-scope="),
        format!("declined-scope={}", display(&q)),
        "{}: SEC_SCOPE in the declined scope",
        shell.name
    );
    tmux.send_line("cd ..");
    let screen = tmux.wait_for_nth(&revoked, 2);
    assert_eq!(
        screen.matches(&question).count(),
        2,
        "{}: asked again in a scope declined in this shell:\n{screen}",
        shell.name
    );

    // The approved file: no question; edited: asked again.
    let allow = "Allow? [y/N]";
    tmux.send_line("cd r");
    tmux.send_line(r#"echo "repo-scope=$SEC_SCOPE""#);
    assert_eq!(
        tmux.wait_for_line("repo-scope="),
        format!("repo-scope={}", display(&r)),
        "{}: SEC_SCOPE in the approved repository file's scope",
        shell.name
    );
    tmux.send_line("cd ..");
    tmux.send_line(r#"echo "left-repo=$PWD""#);
    tmux.wait_for_line("left-repo=");
    std::fs::write(&r_file, "[env]\nL = { value = \"edited\" }\n").expect("cannot edit .sec.toml");
    tmux.send_line("cd r");
    let screen = tmux.wait_for(allow);
    assert_eq!(
        screen.matches(allow).count(),
        1,
        "{}: asked about the approved file before it was edited:\n{screen}",
        shell.name
    );
    tmux.send_line("n");
    tmux.send_line("cd ..");

    // config.toml edited now: the map the shell holds is out of date, so sec decides.
    world.write_config(&format!(
        "{first}\n[[scope]]\ndir = {}\n[scope.env]\nL = {{ value = \"literal\" }}\n",
        sec_tests::toml_path(&z)
    ));
    tmux.send_line("cd z");
    tmux.send_line(r#"echo "added-scope=$SEC_SCOPE""#);
    assert_eq!(
        tmux.wait_for_line("added-scope="),
        format!("added-scope={}", display(&z)),
        "{}: the scope added to config.toml was not applied",
        shell.name
    );
}

#[test]
fn bash_hook_with_the_map_still_asks_and_revokes_in_a_terminal() {
    unlock_question_with_the_map_in_a_terminal(&BASH);
}

#[test]
fn zsh_hook_with_the_map_still_asks_and_revokes_in_a_terminal() {
    unlock_question_with_the_map_in_a_terminal(&ZSH);
}

#[test]
fn fish_hook_with_the_map_still_asks_and_revokes_in_a_terminal() {
    unlock_question_with_the_map_in_a_terminal(&FISH);
}

/// The hook's bound covers starting the daemon: with another `sec` holding the startup lock
/// (as one whose secd never becomes ready does), the prompt comes back while the lock is
/// still held, and says why, instead of waiting for the lock.
#[test]
fn the_hook_does_not_wait_for_a_daemon_that_does_not_start() {
    let world = World::without_keyring();
    let dir = world.sec_runtime_dir();
    std::fs::create_dir_all(&dir).unwrap();
    sec_tests::chmod(&dir, 0o700);
    let lock = dir.join("startup.lock");
    let mut holder = world
        .command("flock")
        .args(["--exclusive"])
        .arg(&lock)
        .args(["sleep", "120"])
        .spawn()
        .expect("cannot run flock (util-linux)");
    sec_tests::wait_until("the lock file", || lock.exists());
    let project = world.project.to_str().unwrap();
    let out = world.run(&[
        "hook-event",
        "bash",
        "--from",
        "",
        "--to",
        project,
        "--declined",
        "",
    ]);
    assert!(
        holder.try_wait().unwrap().is_none(),
        "the hook waited until the lock was released:\n{out}"
    );
    out.assert_success().assert_stderr_contains(&["in time"]);
    let _ = holder.kill();
    let _ = holder.wait();
}

/// `sec completions SHELL`, loaded in the real shell: bash completes a subcommand and a
/// flag, zsh registers `_sec` with compinit, fish lists the subcommand with its description.
#[test]
fn completions_load_and_complete_in_real_shells() {
    for (program, package) in [("bash", "bash"), ("zsh", "zsh"), ("fish", "fish")] {
        sec_tests::require_program(program, package);
    }
    let home = tempfile::tempdir().unwrap();
    let run = |program: &str, args: &[&str]| {
        let out = std::process::Command::new(program)
            .args(args)
            .env("SEC", sec_bin())
            .env("HOME", home.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "{program}: {out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let bash = |words: &str, cword: usize| {
        let script = format!(
            "source <(\"$SEC\" completions bash); COMP_WORDS=({words}); COMP_CWORD={cword}; \
             _sec sec \"${{COMP_WORDS[$COMP_CWORD]}}\" \"${{COMP_WORDS[$COMP_CWORD-1]}}\"; \
             printf '%s\\n' \"${{COMPREPLY[@]}}\""
        );
        run("bash", &["--norc", "--noprofile", "-c", &script])
    };
    assert_eq!(bash("sec ex", 1).trim(), "exec");
    assert_eq!(bash("sec shield --no-n", 2).trim(), "--no-network");
    let zsh = run(
        "zsh",
        &[
            "-fc",
            "autoload -Uz compinit; compinit -u -d \"$HOME/.zcompdump\"; \
             source <(\"$SEC\" completions zsh); print -r -- $_comps[sec]",
        ],
    );
    assert_eq!(zsh.trim(), "_sec");
    let fish = run(
        "fish",
        &[
            "--no-config",
            "-c",
            "$SEC completions fish | source; complete -C 'sec ex'",
        ],
    );
    assert!(
        fish.lines()
            .any(|l| l
                == "exec\tRun a command with the current directory's secrets in its environment"),
        "{fish}"
    );
}

/// `sec man DIR` writes a page per visible subcommand, and `man -l` renders them.
#[test]
fn manual_pages_render_with_man() {
    sec_tests::require_program("man", "man-db");
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(sec_bin())
        .args(["man"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    for page in ["sec.1", "sec-exec.1", "sec-shield.1", "sec-daemon-stop.1"] {
        assert!(dir.path().join(page).is_file(), "{page} was not written");
    }
    assert!(
        !dir.path().join("sec-hook-event.1").exists(),
        "a hidden command got a page"
    );
    let rendered = std::process::Command::new("man")
        .args(["-P", "cat", "-l"])
        .arg(dir.path().join("sec-shield.1"))
        .env("MANWIDTH", "100")
        .output()
        .unwrap();
    assert!(rendered.status.success(), "{rendered:?}");
    let text = String::from_utf8_lossy(&rendered.stdout);
    for needle in [
        "NAME",
        "SYNOPSIS",
        "sec shield",
        "--no-network",
        "--writable-git",
    ] {
        assert!(text.contains(needle), "{needle:?} not in:\n{text}");
    }
}
