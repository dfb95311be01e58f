//! The config parser's tests: one per key's checks and messages, which is why they are
//! many (the parser promises a clear message for every mistake).

use super::*;

#[test]
fn a_huge_file_is_refused_without_being_read() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("config.toml");
    let file = std::fs::File::create(&path).unwrap();
    file.set_len(1 << 30).unwrap(); // sparse: a gigabyte of nothing
    let error = read_bounded(&path, MAX_CONFIG_BYTES).unwrap_err();
    assert!(
        error.to_string().contains("more than the 1024 KiB"),
        "{error}"
    );
    let error = Config::load(&path, tmp.path()).unwrap_err();
    assert!(error.to_string().contains("KiB"), "{error}");
    std::fs::write(&path, "[[scope]]\ndir = \"/p\"\n").unwrap();
    assert_eq!(Config::load(&path, tmp.path()).unwrap().scopes.len(), 1);
}

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, Path::new("/c/config.toml"), Path::new("/home/u"))
}

const ISSUE_EXAMPLE: &str = r#"
[defaults]
ttl = "15m"
max_ttl = "8h"

[[scope]]
dir = "~/src/coveragepy"
ttl = "10m"
[scope.env]
TWINE_USERNAME = { value = "__token__" }
TWINE_PASSWORD = "keyring:pypi/coveragepy"
GH_TOKEN = "op://Private/GitHub/credential"
"#;

#[test]
fn parses_the_documented_shape() {
    let config = parse(ISSUE_EXAMPLE).unwrap();
    let scope = &config.scopes[0];
    assert_eq!(scope.dir, Path::new("/home/u/src/coveragepy"));
    assert_eq!(scope.ttl, Duration::from_secs(600));
    assert_eq!(scope.max_ttl, Duration::from_secs(8 * 3600));
    assert_eq!(
        scope.env["TWINE_USERNAME"],
        Value::Literal("__token__".into())
    );
    assert_eq!(
        scope.env["TWINE_PASSWORD"],
        Value::Secret(Reference::parse("keyring:pypi/coveragepy").unwrap())
    );
    assert!(matches!(
        scope.env["GH_TOKEN"],
        Value::Secret(Reference::OnePassword(_))
    ));
}

#[test]
fn a_bare_word_is_an_error_that_suggests_a_literal() {
    let err =
        parse("[[scope]]\ndir = \"/p\"\n[scope.env]\nUSER_NAME = \"__token__\"\n").unwrap_err();
    assert_eq!((err.line, err.column), (4, 13), "{err}");
    assert!(err.message.contains("{ value = \"...\" }"), "{err}");
    assert!(
        !err.message.contains("__token__"),
        "the value is never echoed: {err}"
    );
    assert!(
        err.to_string().starts_with("/c/config.toml:4:13: "),
        "{err}"
    );
}

#[test]
fn an_unknown_scheme_is_an_error_that_suggests_a_literal() {
    let err = parse("[[scope]]\ndir = \"/p\"\n[scope.env]\nX = \"hashi:a/b\"\n").unwrap_err();
    assert!(err.message.contains("unknown scheme `hashi`"), "{err}");
    assert!(err.message.contains("{ value = "), "{err}");
}

#[test]
fn syntax_errors_carry_line_and_column() {
    let err = parse("[defaults]\nttl = \"15m\"\nmax_ttl = \n").unwrap_err();
    assert_eq!(err.line, 3, "{err}");
    assert!(err.column > 1, "{err}");
}

#[test]
fn a_bad_duration_says_what_a_duration_looks_like_without_repeating_it() {
    let err = parse("[defaults]\nttl = \"soon\"\n").unwrap_err();
    assert_eq!((err.line, err.column), (2, 7));
    assert!(err.message.contains("not a duration"), "{err}");
    assert!(err.message.contains("\"15m\""), "{err}");
    assert!(!err.message.contains("soon"), "{err}");
}

#[test]
fn durations_too_long_to_count_are_refused() {
    // Found by fuzz_config_parse: the cache's `Instant + ttl` panicked on it.
    let err = parse("[defaults]\nttl = \"18446744073709551615s\"\n").unwrap_err();
    assert_eq!((err.line, err.column), (2, 7), "{err}");
    assert!(err.message.contains("at most 100 years"), "{err}");
    let config = parse("[defaults]\nttl = \"100y\"\n").unwrap();
    assert_eq!(config.defaults.ttl, MAX_DURATION);
}

#[test]
fn unknown_keys_are_errors_that_list_the_known_ones() {
    let err = parse("[[scope]]\ndir = \"/p\"\ntll = \"5m\"\n").unwrap_err();
    assert_eq!((err.line, err.column), (3, 1), "{err}");
    assert!(
        err.message
            .starts_with("unknown key; expected one of `dir`, `ttl`"),
        "{err}"
    );
    assert!(
        !err.message.contains("tll"),
        "a key may be a pasted token: {err}"
    );
}

#[test]
fn toml_messages_keep_what_was_expected_and_drop_what_was_found() {
    for (raw, want) in [
        (
            "invalid type: string \"s3cr\\\"et\", expected a boolean",
            "wrong type, found a string; expected true or false",
        ),
        (
            "unknown variant `s3cret`, expected `terminate` or `keep`",
            "unknown value; expected `terminate` or `keep`",
        ),
        (
            "invalid type: integer `5`, expected a sequence",
            "wrong type, found a number; expected an array `[...]`",
        ),
        (
            "invalid type: integer `1`, expected struct RawTtls",
            "wrong type, found a number; expected a table",
        ),
        ("missing field `dir`", "missing field `dir`"),
        (
            "key with no value, expected `=`",
            "key with no value; expected `=`",
        ),
        (
            "something new `s3cret` here",
            "something new (text not repeated) here",
        ),
        ("an open `s3cret", "an open (text not repeated)"),
    ] {
        assert_eq!(safe_toml_message(raw), want, "{raw}");
    }
}

#[test]
fn two_scopes_for_one_directory_point_at_the_second_and_name_the_first() {
    let err = parse("[[scope]]\ndir = \"/p\"\n\n[[scope]]\ndir = \"/p/\"\n").unwrap_err();
    assert_eq!((err.line, err.column), (5, 7), "{err}");
    assert!(err.message.contains("the one at line 2"), "{err}");
}

#[test]
fn token_shaped_names_commands_and_programs_are_refused() {
    let token = "ghp_Qa7jsyMW2jQt3Jr1HxkWUlVaW1deQdTqHbGh";
    for text in [
        format!("[[scope]]\ndir = \"/p\"\ncommands = [\"twine upload\", \"{token}\"]\n"),
        format!("[[scope]]\ndir = \"/p\"\n[scope.env]\n{token} = \"keyring:a/b\"\n"),
        format!(
            "[[scope]]\ndir = \"/p\"\n[scope.env]\nA = {{ secret = \"keyring:a/b\", as = \"file\", name = \"{token}\" }}\n"
        ),
        format!("[defaults]\naskpass = \"{token}\"\n"),
    ] {
        let err = parse(&text).unwrap_err();
        assert!(err.message.contains("looks like a token"), "{text}: {err}");
        assert!(!err.to_string().contains(token), "{err}");
    }
    assert!(
        parse("[[scope]]\ndir = \"/p\"\ncommands = [\"twine upload\"]\n[scope.env]\nGITHUB_TOKEN = \"keyring:gh/me\"\n")
            .is_ok()
    );
}

#[test]
fn relative_scope_dirs_are_refused() {
    let err = parse("[[scope]]\ndir = \"src/p\"\n").unwrap_err();
    assert!(err.message.contains("must be an absolute path"), "{err}");
    assert!(!err.message.contains("src/p"), "{err}");
}

#[test]
fn the_deepest_scope_wins() {
    let config =
        parse("[[scope]]\ndir = \"/a\"\n[[scope]]\ndir = \"/a/b\"\n[[scope]]\ndir = \"/a/bc\"\n")
            .unwrap();
    let dir_of = |p: &str| config.scope_for(Path::new(p)).map(|s| s.dir.clone());
    assert_eq!(dir_of("/a/b/c"), Some(PathBuf::from("/a/b")));
    assert_eq!(dir_of("/a/b"), Some(PathBuf::from("/a/b")));
    assert_eq!(
        dir_of("/a/bcd"),
        Some(PathBuf::from("/a")),
        "prefixes match whole components"
    );
    assert_eq!(dir_of("/a"), Some(PathBuf::from("/a")));
    assert_eq!(dir_of("/elsewhere"), None);
}

#[test]
fn scope_dirs_are_compared_after_resolving_symlinks() {
    let tmp = tempfile::tempdir().unwrap();
    let real = tmp.path().join("real");
    std::fs::create_dir(&real).unwrap();
    let link = tmp.path().join("link");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let text = format!("[[scope]]\ndir = \"{}\"\n", link.display());
    let config = parse(&text).unwrap();
    let inside = std::fs::canonicalize(&real).unwrap().join("sub");
    assert!(config.scope_for(&inside).is_some());
}

#[test]
fn scope_settings_for_the_shell_hook() {
    let config = parse("[[scope]]\ndir = \"/p\"\nprompt = false\non_leave = \"revoke\"\n").unwrap();
    assert!(!config.scopes[0].prompt);
    assert_eq!(config.scopes[0].on_leave, OnLeave::Revoke);
    let config = parse("[[scope]]\ndir = \"/p\"\n").unwrap();
    assert!(config.scopes[0].prompt, "prompt defaults to true");
    assert_eq!(config.scopes[0].on_leave, OnLeave::Keep);
    let err = parse("[[scope]]\ndir = \"/p\"\non_leave = \"explode\"\n").unwrap_err();
    assert_eq!(err.line, 3, "{err}");
}

#[test]
fn a_scope_without_dir_is_an_error() {
    let err = parse("[[scope]]\nttl = \"5m\"\n").unwrap_err();
    assert!(err.message.contains("needs `dir"), "{err}");
}

#[test]
fn repo_files_have_no_dir_and_cannot_outlive_the_users_defaults() {
    let config = parse("[defaults]\nttl = \"10m\"\nmax_ttl = \"1h\"\n").unwrap();
    let path = Path::new("/r/.sec.toml");
    let text = "ttl = \"5m\"\nmax_ttl = \"100h\"\n[env]\nA = \"keyring:s/a\"\n";
    let scope = config.parse_repo_file(text, path, "/r".into()).unwrap();
    assert_eq!(scope.dir, Path::new("/r"));
    assert_eq!(scope.ttl, Duration::from_secs(300));
    assert_eq!(
        scope.max_ttl,
        Duration::from_secs(3600),
        "capped by the user's max_ttl"
    );
    let err = config
        .parse_repo_file("dir = \"/etc\"\n", path, "/r".into())
        .unwrap_err();
    assert!(err.message.contains("remove `dir`"), "{err}");
}

#[test]
fn lease_policy_settings() {
    let config = parse(
        "[defaults]\naskpass = \"/bin/ask\"\nconfirm_timeout = \"2s\"\n\
         [[scope]]\ndir = \"/p\"\non_revoke = \"keep\"\nmax_lease = \"30m\"\n\
         commands = [\"twine upload\", \"python -m twine\"]\n\
         [scope.env]\nA = \"keyring:s/a\"\nB = { secret = \"keyring:s/b\", confirm = true }\n",
    )
    .unwrap();
    assert_eq!(config.defaults.askpass.as_deref(), Some("/bin/ask"));
    assert_eq!(config.defaults.confirm_timeout, Duration::from_secs(2));
    let scope = &config.scopes[0];
    assert_eq!(scope.on_revoke, OnRevoke::Keep);
    assert_eq!(scope.max_lease, Some(Duration::from_secs(1800)));
    assert_eq!(
        scope.commands,
        vec![vec!["twine", "upload"], vec!["python", "-m", "twine"]]
    );
    assert_eq!(scope.confirm.iter().collect::<Vec<_>>(), ["B"]);
    assert_eq!(
        scope.env["B"],
        Value::Secret(Reference::parse("keyring:s/b").unwrap())
    );

    let all = parse("[[scope]]\ndir = \"/p\"\nconfirm = true\n[scope.env]\nA = \"keyring:s/a\"\n")
        .unwrap();
    assert!(all.scopes[0].confirm.contains("A"));
    assert_eq!(
        all.scopes[0].on_revoke,
        OnRevoke::Terminate,
        "terminate is the default"
    );
}

#[test]
fn variables_can_be_delivered_as_files() {
    let config = parse(
        "[[scope]]\ndir = \"/p\"\n[scope.env]\n\
         NETRC = { secret = \"keyring:netrc/default\", as = \"file\" }\n\
         PYPIRC = { secret = \"keyring:pypi/rc\", as = \"file\", name = \".pypirc\" }\n\
         PLAIN = { secret = \"keyring:a/b\", as = \"env\" }\n",
    )
    .unwrap();
    let files = &config.scopes[0].files;
    assert_eq!(files.get("NETRC").map(String::as_str), Some("NETRC"));
    assert_eq!(files.get("PYPIRC").map(String::as_str), Some(".pypirc"));
    assert!(!files.contains_key("PLAIN"));
    for bad in [
        "{ secret = \"keyring:a/b\", as = \"file\", name = \"../x\" }",
        "{ secret = \"keyring:a/b\", name = \"x\" }",
        "{ secret = \"keyring:a/b\", as = \"pipe\" }",
    ] {
        let err = parse(&format!(
            "[[scope]]\ndir = \"/p\"\n[scope.env]\nA = {bad}\n"
        ))
        .unwrap_err();
        assert_eq!(err.line, 4, "{bad}: {err}");
    }
}

#[test]
fn the_local_vault_has_its_own_ttls() {
    let config = parse("[local]\nttl = \"5m\"\nmax_ttl = \"1h\"\n").unwrap();
    assert_eq!(config.local.ttl, Duration::from_secs(300));
    assert_eq!(config.local.max_ttl, Duration::from_secs(3600));
    assert_eq!(parse("").unwrap().local, LocalSettings::default());
}

#[test]
fn table_values_have_one_shape() {
    for bad in [
        "{ value = \"a\", secret = \"keyring:s/a\" }",
        "{ value = \"a\", confirm = true }",
        "{ secret = \"keyring:s/a\", colour = \"red\" }",
        "{ }",
    ] {
        let err = parse(&format!(
            "[[scope]]\ndir = \"/p\"\n[scope.env]\nA = {bad}\n"
        ))
        .unwrap_err();
        assert_eq!(err.line, 4, "{bad}: {err}");
        assert!(err.message.contains("{ value = "), "{bad}: {err}");
    }
}

#[test]
fn repository_files_may_not_run_programs() {
    let config = parse("").unwrap();
    let text = "[env]\nTOKEN = \"cmd:security find-generic-password -w\"\n";
    let err = config
        .parse_repo_file(text, Path::new("/r/.sec.toml"), "/r".into())
        .unwrap_err();
    assert_eq!((err.line, err.column), (2, 9), "{err}");
    assert!(
        err.message
            .contains("may not use references that run programs"),
        "{err}"
    );
    let own = parse(&format!("[[scope]]\ndir = \"/p\"\n{text}").replace("[env]", "[scope.env]"));
    assert!(own.is_ok(), "the user's own config may: {own:?}");
}

#[test]
fn shield_settings_expand_home_and_keep_patterns() {
    let config = parse(
        "[shield]\nhide_env = [\"CORP_*\", \"*_PAT\"]\nkeep_env = [\"SSH_AUTH_SOCK\"]\n\
         hide = [\"~/.config/corp\", \"/srv/keys/*.pem\", \"~/a/../b\"]\nwritable = [\"~/.cache\"]\n",
    )
    .unwrap();
    let shield = &config.shield;
    assert_eq!(shield.hide_env, ["CORP_*", "*_PAT"]);
    assert_eq!(shield.keep_env, ["SSH_AUTH_SOCK"]);
    assert_eq!(
        shield.hide,
        [
            PathBuf::from("/home/u/.config/corp"),
            PathBuf::from("/srv/keys/*.pem"),
            PathBuf::from("/home/u/b"),
        ]
    );
    assert_eq!(shield.writable, [PathBuf::from("/home/u/.cache")]);
    assert_eq!(parse("").unwrap().shield, ShieldSettings::default());
}

#[test]
fn shield_settings_are_checked_with_positions() {
    for (text, line, needle) in [
        (
            "[shield]\nhide_env = [\"A-B\"]\n",
            2,
            "not a variable name pattern",
        ),
        (
            "[shield]\nkeep_env = [\"\"]\n",
            2,
            "not a variable name pattern",
        ),
        (
            "[shield]\nhide = [\"relative/path\"]\n",
            2,
            "must be an absolute path",
        ),
        (
            "[shield]\nhide = [\"/a/*/b\"]\n",
            2,
            "only in the last component",
        ),
        ("[shield]\nwritable = [\"~/x*\"]\n", 2, "not at all"),
        (
            "[shield]\n\nhidden = []\n",
            3,
            "unknown key; expected one of `hide_env`",
        ),
    ] {
        let err = parse(text).unwrap_err();
        assert_eq!(err.line, line, "{text}: {err}");
        assert!(err.message.contains(needle), "{text}: {err}");
    }
}

#[test]
fn untrusted_dirs_cover_their_subdirectories() {
    let config =
        parse("[[untrusted]]\ndir = \"~/bugs\"\n[[untrusted]]\ndir = \"/srv/x\"\n").unwrap();
    let found = |p: &str| config.untrusted_for(Path::new(p)).map(Path::to_path_buf);
    assert_eq!(
        found("/home/u/bugs/issue-7/src"),
        Some(PathBuf::from("/home/u/bugs"))
    );
    assert_eq!(found("/home/u/bugs"), Some(PathBuf::from("/home/u/bugs")));
    assert_eq!(found("/home/u/bugsy"), None, "whole components only");
    assert_eq!(found("/srv/x/y"), Some(PathBuf::from("/srv/x")));
    let err = parse("[[untrusted]]\n").unwrap_err();
    assert!(err.message.contains("needs `dir"), "{err}");
    let err = parse("[[untrusted]]\ndir = \"bugs\"\n").unwrap_err();
    assert!(
        err.message
            .contains("untrusted dir must be an absolute path"),
        "{err}"
    );
    assert!(!err.message.contains("bugs"), "{err}");
}

/// A token pasted into the wrong place, in every shape a config can hold it.
const CANARY: &str = "pypi-AgEIcHlwaS5vcmcCJDk3ZTQ1NjYzLWNhbmFyeS00ZGQ2";

/// Each text has `{C}` where the canary goes; every one of them is a mistake.
const MISPLACED: &[&str] = &[
    "[defaults]\nttl = \"{C}\"\n",
    "[defaults]\nmax_ttl = \"{C}\"\n",
    "[defaults]\nconfirm_timeout = \"{C}\"\n",
    "[defaults]\nttl = {C}\n",
    "[defaults]\nttl = [\"{C}\"]\n",
    "[defaults]\naskpass = [\"{C}\"]\n",
    "[local]\nttl = \"15m {C}\"\n",
    "[local]\nmax_ttl = \"{C}\"\n",
    "[[scope]]\ndir = \"/p\"\nttl = \"{C}\"\n",
    "[[scope]]\ndir = \"/p\"\nmax_ttl = \"{C}\"\n",
    "[[scope]]\ndir = \"/p\"\nmax_lease = \"{C}\"\n",
    "[[scope]]\ndir = \"/p\"\nprompt = \"{C}\"\n",
    "[[scope]]\ndir = \"/p\"\nconfirm = \"{C}\"\n",
    "[[scope]]\ndir = \"/p\"\non_revoke = \"{C}\"\n",
    "[[scope]]\ndir = \"/p\"\non_leave = \"{C}\"\n",
    "[[scope]]\ndir = \"/p\"\ncommands = \"{C}\"\n",
    "[[scope]]\ndir = \"/p\"\ncommands = [\"{C}\"]\n",
    "[[scope]]\ndir = \"/p\"\ncommands = [\"twine upload\", 7, \"{C}\"]\n",
    "[[scope]]\ndir = \"{C}\"\n",
    "[[scope]]\ndir = \"/p\"\ntoken = \"{C}\"\n",
    "[[scope]]\ndir = \"/p\"\n{C} = \"x\"\n",
    "[[scope]]\ndir = \"/p\"\n\"{C}\" = \"x\"\n",
    "{C} = 1\n",
    "[{C}]\n",
    "[defaults]\n{C}\n",
    "[defaults]\ntoken = \"{C}\"\n",
    "[[scope]]\ndir = \"/p\"\n[scope.env]\nA = \"{C}\"\n",
    "[[scope]]\ndir = \"/p\"\n[scope.env]\nA = {C}\n",
    "[[scope]]\ndir = \"/p\"\n[scope.env]\n\"{C}\" = \"keyring:a/b\"\n",
    "[[scope]]\ndir = \"/p\"\n[scope.env]\nA = { secret = \"{C}\" }\n",
    "[[scope]]\ndir = \"/p\"\n[scope.env]\nA = \"local:{C}\"\n",
    "[[scope]]\ndir = \"/p\"\n[scope.env]\nA = { secret = \"keyring:pypi/{C}\" }\n",
    "[[scope]]\ndir = \"/p\"\n[scope.env]\nA = { secret = \"keyring:a/b\", as = \"{C}\" }\n",
    "[[scope]]\ndir = \"/p\"\n[scope.env]\nA = { secret = \"keyring:a/b\", as = \"file\", name = \"{C}\" }\n",
    "[[scope]]\ndir = \"/p\"\n[scope.env]\nA = { secret = \"keyring:a/b\", as = \"file\", name = \"../{C}\" }\n",
    "[[scope]]\ndir = \"/p\"\n[scope.env]\nA = { secret = \"keyring:a/b\", name = \"{C}\" }\n",
    "[[scope]]\ndir = \"/p\"\n[scope.env]\nA = { secret = \"keyring:a/b\", token = \"{C}\" }\n",
    "[[scope]]\ndir = \"/p\"\n[scope.env]\nA = { secret = \"keyring:a/b\", confirm = \"{C}\" }\n",
    "[[scope]]\ndir = \"/p\"\n[scope.env]\nA = { value = \"x\", {C} = 1 }\n",
    "[[scope]]\ndir = \"/p\"\n[scope.env]\nA = [\"{C}\"]\n",
    "[shield]\nkeep_env = [\"{C}\"]\n",
    "[shield]\nhide_env = [\"{C}\"]\n",
    "[shield]\nkeep_env = [\"ghp_Qa7jsyMW2jQt3Jr1HxkWUlVaW1deQdTqHbGh\"]\n",
    "[shield]\nhide = [\"{C}\"]\n",
    "[shield]\nwritable = [\"{C}\"]\n",
    "[shield]\nallow = [\"/a/*/{C}\"]\n",
    "[shield]\ntoken = \"{C}\"\n",
    "[[untrusted]]\ndir = \"{C}\"\n",
    "[[untrusted]]\ndir = \"/b\"\n{C} = 1\n",
    "[[scope]]\ndir = \"/p\"\n[[scope]]\ndir = \"/p\"\n# {C}\n",
];

/// Whether `text` holds the canary or any 8 characters in a row of it.
fn holds_canary(text: &str) -> bool {
    let chars: Vec<char> = CANARY.chars().collect();
    chars
        .windows(8)
        .any(|w| text.contains(&w.iter().collect::<String>()))
}

#[test]
fn a_token_pasted_anywhere_is_never_repeated_in_the_error() {
    let mut leaks = Vec::new();
    for template in MISPLACED {
        let text = template.replace("{C}", CANARY);
        let Err(err) = parse(&text) else {
            leaks.push(format!("{text:?}\n    -> accepted"));
            continue;
        };
        let shown = err.to_string();
        if holds_canary(&shown) || err.line == 0 || err.column == 0 {
            leaks.push(format!("{text:?}\n    -> {shown}"));
        }
        let repo_text = text
            .replace("[[scope]]\ndir = \"/p\"\n", "")
            .replace("[scope.env]", "[env]");
        let repo =
            parse("")
                .unwrap()
                .parse_repo_file(&repo_text, Path::new("/r/.sec.toml"), "/r".into());
        if let Err(e) = repo
            && holds_canary(&e.to_string())
        {
            leaks.push(format!("{repo_text:?} (.sec.toml)\n    -> {e}"));
        }
    }
    assert!(leaks.is_empty(), "values repeated:\n{}", leaks.join("\n"));
}

#[test]
fn line_column_counts_characters() {
    assert_eq!(line_column("ab\ncdé\nx", 0), (1, 1));
    assert_eq!(line_column("ab\ncdé\nx", 3), (2, 1));
    assert_eq!(line_column("ab\ncdé\nx", 8), (3, 1));
    assert_eq!(line_column("ab\ncdé\nx", 7), (2, 4));
}

#[test]
fn common_slips_get_a_hint() {
    let err = parse("[scope]\ndir = \"/p\"\n").unwrap_err();
    assert_eq!((err.line, err.column), (1, 1), "{err}");
    assert!(
        err.message.contains("write [[scope]] (two brackets)"),
        "{err}"
    );
    let err = parse("[untrusted]\ndir = \"/p\"\n").unwrap_err();
    assert!(err.message.contains("write [[untrusted]]"), "{err}");
    for key in ["ttl", "max_ttl", "max_lease"] {
        let err = parse(&format!("[[scope]]\ndir = \"/p\"\n{key} = 15\n")).unwrap_err();
        assert_eq!(err.line, 3, "{err}");
        assert!(err.message.contains("such as \"15m\""), "{key}: {err}");
    }
    let err = parse("[defaults]\nconfirm_timeout = 15\n").unwrap_err();
    assert!(err.message.contains("such as \"15m\""), "{err}");
    // Another wrong type gets no duration hint.
    let err = parse("[[scope]]\ndir = \"/p\"\nprompt = 15\n").unwrap_err();
    assert!(!err.message.contains("duration"), "{err}");
}

#[test]
fn valid_but_probably_unmeant_settings_are_warned_about_with_their_position() {
    let tmp = tempfile::tempdir().unwrap();
    let here = tmp.path().display();
    let text = format!(
        "[defaults]\naskpass = \"/nonexistent/sec-askpass\"\n[[scope]]\ndir = \"/nonexistent/project\"\n[[scope]]\ndir = \"{here}\"\n"
    );
    parse(&text).unwrap();
    let warnings = Config::warnings(&text, Path::new("/c/config.toml"), Path::new("/home/u"));
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(
        warnings[0].starts_with("/c/config.toml:2:11: this askpass program is not found"),
        "{warnings:?}"
    );
    assert!(
        warnings[1].starts_with("/c/config.toml:4:7: this directory does not exist"),
        "{warnings:?}"
    );
    let fine = format!("[defaults]\naskpass = \"sh\"\n[[scope]]\ndir = \"{here}\"\n");
    parse(&fine).unwrap();
    assert!(Config::warnings(&fine, Path::new("/c/config.toml"), Path::new("/home/u")).is_empty());
}

#[test]
fn the_vault_table_says_where_and_how_to_log_in() {
    let config = parse(
        r#"
[vault]
address = ["https://a:8200/", "https://b:8200"]
namespace = "/team/"
ca_cert = "~/ca.pem"
auth = "approle"
role_id = "local:bao-role-id"
secret_id = "keyring:bao/secret-id"
lease_ttl = "30s"
"#,
    )
    .unwrap();
    let vault = config.vault.unwrap();
    assert_eq!(vault.addresses, ["https://a:8200", "https://b:8200"]);
    assert_eq!(vault.namespace.as_deref(), Some("team"));
    assert_eq!(vault.ca_cert, Some(PathBuf::from("/home/u/ca.pem")));
    assert_eq!(vault.lease_ttl, Duration::from_secs(30));
    assert_eq!(vault.timeout, DEFAULT_VAULT_TIMEOUT);
    assert!(matches!(vault.auth, VaultAuth::AppRole { ref mount, .. } if mount == "approle"));
    let token = parse("[vault]\naddress = \"http://127.0.0.1:8200\"\n").unwrap();
    assert_eq!(
        token.vault.unwrap().auth,
        VaultAuth::Token { token: None },
        "without auth: the CLI's ~/.vault-token"
    );
}

#[test]
fn vault_mistakes_are_located_and_never_repeat_a_pasted_token() {
    for (text, line, says) in [
        ("[vault]\nauth = \"token\"\n", 1, "needs `address`"),
        ("[vault]\naddress = \"bao:8200\"\n", 2, "https://HOST:PORT"),
        ("[vault]\naddress = []\n", 2, "a URL or a list"),
        (
            "[vault]\naddress = \"http://h\"\nauth = \"ldap\"\n",
            3,
            "one of \"token\", \"approle\" or \"userpass\"",
        ),
        (
            "[vault]\naddress = \"http://h\"\nauth = \"approle\"\nrole_id = \"local:r\"\n",
            1,
            "needs `secret_id",
        ),
        (
            "[vault]\naddress = \"http://h\"\ntoken = \"vault:secret/t#t\"\n",
            3,
            "cannot come from the vault it logs in to",
        ),
        (
            "[vault]\naddress = \"http://h\"\nusername = \"u\"\n",
            1,
            "`username` is not used with auth = \"token\"",
        ),
        (
            "[vault]\naddress = \"http://h\"\ntimeout = \"soon\"\n",
            3,
            "not a duration",
        ),
    ] {
        let err = parse(text).unwrap_err();
        assert_eq!(err.line, line, "{text}: {err}");
        assert!(err.message.contains(says), "{text}: {err}");
    }
    let pasted = "hvs.CAESIJxkLRp7Zc1o2b3Wq9vKhyPzXa0ftmUqX";
    let err = parse(&format!(
        "[vault]\naddress = \"http://h\"\ntoken = \"{pasted}\"\n"
    ))
    .unwrap_err();
    assert_eq!(err.line, 3, "{err}");
    assert!(!err.to_string().contains("CAESIJ"), "{err}");
}

#[test]
fn ssh_keys_and_git_credentials_belong_to_the_users_config() {
    let config = parse(
        r#"
[[scope]]
dir = "/p"
confirm = false
ssh_keys = ["local:ssh/id_ed25519", { secret = "keyring:ssh/deploy", confirm = true }]
[scope.git]
"github.com" = { secret = "keyring:gh/token" }
"git.example.org/team" = { username = "alice", secret = "local:git/example", store = true }
"#,
    )
    .unwrap();
    let scope = &config.scopes[0];
    assert_eq!(scope.ssh_keys.len(), 2);
    assert!(!scope.ssh_keys[0].confirm && scope.ssh_keys[1].confirm);
    let team = scope.git.iter().find(|g| g.path == "team").unwrap();
    assert_eq!(
        (team.host.as_str(), team.username.as_str(), team.store),
        ("git.example.org", "alice", true)
    );
    let github = scope.git.iter().find(|g| g.host == "github.com").unwrap();
    assert_eq!(github.username, "x-access-token");

    for (text, says) in [
        ("ssh_keys = [\"local:ssh/a\"]\n", "may not ask for SSH keys"),
        (
            "[git]\n\"github.com\" = { secret = \"local:t\" }\n",
            "may not ask for git credentials",
        ),
    ] {
        let err = Config::default()
            .parse_repo_file(text, Path::new("/r/.sec.toml"), PathBuf::from("/r"))
            .unwrap_err();
        assert!(err.message.contains(says), "{text}: {err}");
    }
    for (text, says) in [
        ("ssh_keys = [\"a\"]", "secret reference"),
        (
            "ssh_keys = [{ secret = \"local:a\", confirm = \"yes\" }]",
            "an entry of `ssh_keys`",
        ),
        ("ssh_keys = [\"local:a\", \"local:a\"]", "listed twice"),
        (
            "[scope.git]\n\"https://github.com\" = { secret = \"local:t\" }",
            "no scheme",
        ),
        (
            "[scope.git]\n\"github.com\" = { username = \"u\" }",
            "needs `secret",
        ),
    ] {
        let err = parse(&format!("[[scope]]\ndir = \"/p\"\n{text}\n")).unwrap_err();
        assert!(err.message.contains(says), "{text}: {err}");
    }
}

#[test]
fn defaults_on_leave_applies_to_scopes_that_do_not_say() {
    let config = parse(
        "[defaults]\non_leave = \"revoke\"\n[[scope]]\ndir = \"/a\"\n[[scope]]\ndir = \"/b\"\non_leave = \"keep\"\n",
    )
    .unwrap();
    assert_eq!(config.scopes[0].on_leave, OnLeave::Revoke);
    assert_eq!(config.scopes[1].on_leave, OnLeave::Keep);
    let repo = config
        .parse_repo_file(
            "[env]\nX = \"local:x\"\n",
            Path::new("/r/.sec.toml"),
            PathBuf::from("/r"),
        )
        .unwrap();
    assert_eq!(
        repo.on_leave,
        OnLeave::Revoke,
        "a repository file follows the user's default"
    );
    let err = parse("[defaults]\non_leave = \"later\"\n").unwrap_err();
    assert_eq!(err.line, 2, "{err}");
}

#[test]
fn toml_string_reads_back_as_the_same_text() {
    for text in [
        "",
        "plain",
        "quote \" and backslash \\ and \\\"",
        "new\nline, tab\t, return\r, bell\u{7}, nul\u{0}, del\u{7f}, c1\u{85}",
        "unicode é ☃ 🦀",
        "'single' and \"\"\"triple\"\"\"",
    ] {
        let quoted = toml_string(text);
        let table: toml::Table = toml::from_str(&format!("v = {quoted}\n"))
            .unwrap_or_else(|e| panic!("{quoted} does not parse: {e}"));
        assert_eq!(table["v"].as_str(), Some(text), "{quoted}");
    }
}
