//! Fuzzing the parsers of config.toml (`Config::parse`) and of a repository's `.sec.toml`
//! (`Config::parse_repo_file`) on generated and mutated files. Replay a failure with the
//! command its report prints.

use std::sync::LazyLock;
use std::time::{Instant, SystemTime};

use sec_fuzz::{MARKER, Rng};

use super::*;
use crate::reference::fuzz::reference;

/// The examples of the module documentation, the README and the unit tests.
const SEEDS: &[&str] = &[
    "[defaults]\nttl = \"15m\"\nmax_ttl = \"8h\"\n\n[[scope]]\ndir = \"~/src/coveragepy\"\n\
     ttl = \"10m\"\n[scope.env]\nTWINE_USERNAME = { value = \"__token__\" }\n\
     TWINE_PASSWORD = \"keyring:pypi/coveragepy\"\nGH_TOKEN = \"op://Private/GitHub/credential\"\n",
    "[shield]\nkeep_env = [\"CORP_MIRROR\"]\nhide_env = [\"RUST_LOG\"]\nallow = [\"~/.gitconfig\"]\n\
     writable = [\"~/.cache/pip\"]\nhide = [\"/srv/corp/keys\"]\n\n[[untrusted]]\ndir = \"~/bugs\"\n",
    "[defaults]\naskpass = \"/bin/ask\"\nconfirm_timeout = \"2s\"\n[[scope]]\ndir = \"/p\"\n\
     on_revoke = \"keep\"\nmax_lease = \"30m\"\ncommands = [\"twine upload\", \"python -m twine\"]\n\
     [scope.env]\nA = \"keyring:s/a\"\nB = { secret = \"keyring:s/b\", confirm = true }\n",
    "[[scope]]\ndir = \"/p\"\n[scope.env]\nNETRC = { secret = \"keyring:netrc/default\", as = \"file\" }\n\
     PYPIRC = { secret = \"keyring:pypi/rc\", as = \"file\", name = \".pypirc\" }\n\
     PLAIN = { secret = \"keyring:a/b\", as = \"env\" }\n",
    "[local]\nttl = \"5m\"\nmax_ttl = \"1h\"\n",
    "[[scope]]\ndir = \"/p\"\nprompt = false\non_leave = \"revoke\"\n",
    "[[scope]]\ndir = \"/a\"\n[[scope]]\ndir = \"/a/b\"\n[[scope]]\ndir = \"/a/bc\"\n",
    "[[scope]]\ndir = \"/p\"\n[scope.env]\nTOKEN = \"cmd:security find-generic-password -w\"\n",
];

/// `.sec.toml` examples: a scope without `dir`.
const REPO_SEEDS: &[&str] = &[
    "ttl = \"5m\"\nmax_ttl = \"100h\"\n[env]\nA = \"keyring:s/a\"\n",
    "[env]\nTOKEN = \"cmd:security find-generic-password -w\"\n",
    "dir = \"/etc\"\n",
    "prompt = false\non_leave = \"revoke\"\nconfirm = true\n[env]\n\
     TWINE_USERNAME = { value = \"__token__\" }\nTWINE_PASSWORD = \"keyring:pypi/coveragepy\"\n",
];

const DICTIONARY: &[&str] = &[
    "[defaults]\n",
    "[local]\n",
    "[[scope]]\n",
    "[scope.env]\n",
    "[env]\n",
    "[shield]\n",
    "[[untrusted]]\n",
    "dir = ",
    "ttl = ",
    "max_ttl = ",
    "max_lease = ",
    "confirm = true",
    "commands = ",
    "as = \"file\"",
    "name = ",
    "{ value = ",
    "{ secret = ",
    " }",
    "\"",
    "'",
    "'''",
    "\"\"\"",
    "\\u0000",
    "\\",
    "=",
    "[",
    "]",
    "{",
    "}",
    ",",
    ".",
    "#",
    "\n",
    "~/",
    "keyring:",
    "cmd:",
    "op://",
    "pass:",
    "local:",
    "keyutils:",
    MARKER,
];

const DURATIONS: &[&str] = &[
    "15m",
    "8h",
    "90s",
    "10m",
    "1h",
    "2s",
    "30m",
    "0s",
    "soon",
    "",
    "1ns",
    "5 m",
    "1h 30m",
    "1y",
    "100y",
    "300000000000y",
    "584942417355y",
    "18446744073709551615s",
];

const PATHS: &[&str] = &[
    "~/src/coveragepy",
    "/p",
    "/a/b",
    "/a/bc",
    "src/p",
    "~",
    "~/bugs",
    "/srv/x",
    "/a/../b",
    "~/a/../b",
    "/srv/keys/*.pem",
    "/a/*/b",
    "~/x*",
    "/",
    "",
    "~user/x",
    "~/.cache/pip",
    "~/.gitconfig",
    "/../..",
    "//x//y/",
];

const NAMES: &[&str] = &[
    "A",
    "B",
    "GH_TOKEN",
    "TWINE_PASSWORD",
    "_X",
    "NETRC",
    "PYPIRC",
    "1BAD",
    "A-B",
    "\"A B\"",
    "\"\"",
];

const PATTERNS: &[&str] = &[
    "CORP_*",
    "*_PAT",
    "SSH_AUTH_SOCK",
    "RUST_LOG",
    "*",
    "A-B",
    "",
];

/// `text` as a TOML string: a literal one when it can be, else a basic one with escapes.
fn toml_string(rng: &mut Rng, text: &str) -> String {
    if rng.one_in(4) && !text.chars().any(|c| c == '\'' || c.is_control()) {
        return format!("'{text}'");
    }
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn quoted_pick(rng: &mut Rng, items: &[&str]) -> String {
    let item = *rng.pick(items);
    toml_string(rng, item)
}

fn list(rng: &mut Rng, items: &[&str]) -> String {
    let parts: Vec<String> = (0..rng.size(3)).map(|_| quoted_pick(rng, items)).collect();
    format!("[{}]", parts.join(", "))
}

/// A literal value: often the planted secret.
fn literal(rng: &mut Rng) -> String {
    match rng.below(3) {
        0 => MARKER.to_owned(),
        1 => format!("{} {MARKER}", rng.word()),
        _ => rng.word(),
    }
}

/// The value of one variable: a reference, a literal or secret table, or something else.
fn value(rng: &mut Rng) -> String {
    match rng.below(8) {
        0..=3 => {
            let reference = reference(rng);
            toml_string(rng, &reference)
        }
        4 => {
            let literal = literal(rng);
            format!("{{ value = {} }}", toml_string(rng, &literal))
        }
        5 | 6 => {
            let reference = reference(rng);
            let mut table = format!("secret = {}", toml_string(rng, &reference));
            if rng.one_in(3) {
                table.push_str(", confirm = true");
            }
            if rng.one_in(2) {
                let delivery = *rng.pick(&["file", "env", "pipe"]);
                table.push_str(&format!(", as = \"{delivery}\""));
            }
            if rng.one_in(3) {
                let name = *rng.pick(&[".pypirc", "netrc", "../x", "a/b", "", ".", ".."]);
                table.push_str(&format!(", name = \"{name}\""));
            }
            format!("{{ {table} }}")
        }
        _ => (*rng.pick(&["42", "true", "[\"keyring:a/b\"]", "{ }", "1979-05-27"])).to_owned(),
    }
}

fn env_table(rng: &mut Rng, out: &mut String, header: &str) {
    out.push_str(header);
    for _ in 0..rng.size(4) {
        let name = *rng.pick(NAMES);
        let value = value(rng);
        out.push_str(&format!("{name} = {value}\n"));
    }
}

/// The settings a config scope and a repository file share, each one time in three.
fn scope_settings(rng: &mut Rng, out: &mut String) {
    for key in ["ttl", "max_ttl", "max_lease"] {
        if rng.one_in(3) {
            let duration = quoted_pick(rng, DURATIONS);
            out.push_str(&format!("{key} = {duration}\n"));
        }
    }
    for (key, values) in [
        ("prompt", &["true", "false", "\"yes\""][..]),
        ("confirm", &["true", "false"][..]),
        ("on_leave", &["\"keep\"", "\"revoke\"", "\"explode\""][..]),
        ("on_revoke", &["\"terminate\"", "\"keep\"", "1"][..]),
    ] {
        if rng.one_in(3) {
            let value = *rng.pick(values);
            out.push_str(&format!("{key} = {value}\n"));
        }
    }
    if rng.one_in(3) {
        let commands = list(rng, &["twine upload", "python -m twine", "", "  ", "make"]);
        out.push_str(&format!("commands = {commands}\n"));
    }
}

fn config(rng: &mut Rng) -> String {
    let mut out = String::new();
    if rng.one_in(2) {
        out.push_str("[defaults]\n");
        for key in ["ttl", "max_ttl", "confirm_timeout"] {
            if rng.one_in(2) {
                let duration = quoted_pick(rng, DURATIONS);
                out.push_str(&format!("{key} = {duration}\n"));
            }
        }
        if rng.one_in(4) {
            out.push_str("askpass = \"/usr/bin/ssh-askpass\"\n");
        }
    }
    if rng.one_in(4) {
        out.push_str("[local]\n");
        for key in ["ttl", "max_ttl"] {
            let duration = quoted_pick(rng, DURATIONS);
            out.push_str(&format!("{key} = {duration}\n"));
        }
    }
    for _ in 0..rng.size(3) {
        out.push_str("[[scope]]\n");
        if !rng.one_in(8) {
            let dir = quoted_pick(rng, PATHS);
            out.push_str(&format!("dir = {dir}\n"));
        }
        scope_settings(rng, &mut out);
        env_table(rng, &mut out, "[scope.env]\n");
    }
    if rng.one_in(3) {
        out.push_str("[shield]\n");
        for key in ["hide_env", "keep_env"] {
            let patterns = list(rng, PATTERNS);
            out.push_str(&format!("{key} = {patterns}\n"));
        }
        for key in ["hide", "writable", "allow"] {
            let paths = list(rng, PATHS);
            out.push_str(&format!("{key} = {paths}\n"));
        }
    }
    for _ in 0..rng.size(2) {
        let dir = quoted_pick(rng, PATHS);
        out.push_str(&format!("[[untrusted]]\ndir = {dir}\n"));
    }
    out
}

fn repo_file(rng: &mut Rng) -> String {
    let mut out = String::new();
    if rng.one_in(10) {
        let dir = quoted_pick(rng, PATHS);
        out.push_str(&format!("dir = {dir}\n"));
    }
    scope_settings(rng, &mut out);
    env_table(rng, &mut out, "[env]\n");
    out
}

/// Whether no error about `text` may show the planted value: it is in the text, and the
/// text is not TOML (whose syntax errors quote nothing) or holds it only in the strings that
/// make up the variables' values (`NAME = "REF"`, `{ value = "..." }`, `{ secret = "REF" }`).
/// Elsewhere (a key, a path, a duration) an error may name it.
fn planted_where_errors_must_not_show_it(text: &str, repository: bool) -> bool {
    let planted = text.matches(MARKER).count();
    if planted == 0 {
        return false;
    }
    let Ok(doc) = toml::from_str::<toml::Table>(text) else {
        return true;
    };
    let scopes: Vec<&toml::Table> = if repository {
        vec![&doc]
    } else {
        doc.get("scope")
            .and_then(toml::Value::as_array)
            .map(|scopes| scopes.iter().filter_map(toml::Value::as_table).collect())
            .unwrap_or_default()
    };
    let count = |value: Option<&toml::Value>| {
        value
            .and_then(toml::Value::as_str)
            .map_or(0, |s| s.matches(MARKER).count())
    };
    let in_values: usize = scopes
        .iter()
        .filter_map(|scope| scope.get("env")?.as_table())
        .flat_map(|env| env.values())
        .map(|value| match value {
            toml::Value::Table(table) => count(table.get("value")) + count(table.get("secret")),
            other => count(Some(other)),
        })
        .sum();
    planted == in_values
}

/// A position inside the text, a message, the file's path in front.
fn check_error(text: &str, path: &str, error: &ConfigError) {
    let lines: Vec<&str> = text.split('\n').collect();
    assert!((1..=lines.len()).contains(&error.line), "{error}");
    let columns = lines[error.line - 1].chars().count() + 1;
    assert!((1..=columns).contains(&error.column), "{error}");
    assert!(!error.message.is_empty());
    assert!(
        error.to_string().starts_with(&format!("{path}:")),
        "{error}"
    );
}

/// What the cache and the leases do with a duration: count it from now.
fn check_duration(duration: Duration) {
    assert!(!duration.is_zero());
    assert!(
        Instant::now().checked_add(duration).is_some()
            && SystemTime::now().checked_add(duration).is_some(),
        "{duration:?} cannot be counted from now"
    );
}

fn check_scope(scope: &Scope) {
    assert!(scope.dir.is_absolute(), "{:?}", scope.dir);
    for duration in [scope.ttl, scope.max_ttl]
        .into_iter()
        .chain(scope.max_lease)
    {
        check_duration(duration);
    }
    assert!(scope.env.keys().all(|name| is_env_name(name)));
    assert!(
        scope
            .confirm
            .iter()
            .all(|name| scope.env.contains_key(name))
    );
    for (name, file) in &scope.files {
        assert!(
            scope.env.contains_key(name) && valid_file_name(file),
            "{file:?}"
        );
    }
    for rule in &scope.commands {
        assert!(!rule.is_empty());
        assert!(
            rule.iter()
                .all(|w| !w.is_empty() && !w.contains(char::is_whitespace))
        );
    }
}

fn check_config(text: &str) {
    let path = "/c/config.toml";
    let config = match Config::parse(text, Path::new(path), Path::new("/home/u")) {
        Ok(config) => config,
        Err(error) => {
            check_error(text, path, &error);
            if planted_where_errors_must_not_show_it(text, false) {
                assert!(!error.to_string().contains(MARKER), "{error}");
            }
            return;
        }
    };
    let Defaults {
        ttl,
        max_ttl,
        confirm_timeout,
        ..
    } = config.defaults;
    for duration in [ttl, max_ttl, confirm_timeout] {
        check_duration(duration);
    }
    check_duration(config.local.ttl);
    check_duration(config.local.max_ttl);
    for (i, scope) in config.scopes.iter().enumerate() {
        check_scope(scope);
        assert!(config.scopes[..i].iter().all(|s| s.dir != scope.dir));
    }
    let shield = &config.shield;
    assert!(
        shield
            .hide_env
            .iter()
            .chain(&shield.keep_env)
            .all(|p| !p.is_empty())
    );
    let paths = shield
        .hide
        .iter()
        .chain(&shield.writable)
        .chain(&shield.allow);
    assert!(paths.chain(&config.untrusted).all(|p| p.is_absolute()));
}

/// A user's config with short TTLs, which a repository file may not exceed.
static STRICT: LazyLock<Config> = LazyLock::new(|| {
    let text = "[defaults]\nttl = \"10m\"\nmax_ttl = \"1h\"\n";
    Config::parse(text, Path::new("/c/config.toml"), Path::new("/home/u")).unwrap()
});

fn check_repo_file(text: &str) {
    let path = "/r/.sec.toml";
    for config in [&Config::default(), &*STRICT] {
        match config.parse_repo_file(text, Path::new(path), PathBuf::from("/r")) {
            Ok(scope) => {
                check_scope(&scope);
                assert_eq!(scope.dir, Path::new("/r"));
                assert!(scope.ttl <= config.defaults.ttl);
                assert!(scope.max_ttl <= config.defaults.max_ttl);
                let runs = |value: &Value| matches!(value, Value::Secret(r) if r.runs_program());
                assert!(
                    !scope.env.values().any(runs),
                    "a repository runs no program"
                );
            }
            Err(error) => {
                check_error(text, path, &error);
                if planted_where_errors_must_not_show_it(text, true) {
                    assert!(!error.to_string().contains(MARKER), "{error}");
                }
            }
        }
    }
}

#[test]
fn fuzz_config_parse() {
    fn generate(rng: &mut Rng) -> String {
        // Half of them valid TOML, so most reach the checks after the syntax.
        match rng.below(2) {
            0 => config(rng),
            _ => sec_fuzz::text_case(rng, SEEDS, DICTIONARY, config),
        }
    }
    sec_fuzz::run("fuzz_config_parse", 5000, generate, check_config);
}

#[test]
fn fuzz_repo_file_parse() {
    fn generate(rng: &mut Rng) -> String {
        match rng.below(2) {
            0 => repo_file(rng),
            _ => sec_fuzz::text_case(rng, REPO_SEEDS, DICTIONARY, repo_file),
        }
    }
    sec_fuzz::run("fuzz_repo_file_parse", 3000, generate, check_repo_file);
}
