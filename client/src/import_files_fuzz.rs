//! Fuzzing the `.pypirc` and `.netrc` parsers: generated and mutated files must parse or
//! fail without a panic and without a value of the file in an error or a `Debug`, and files
//! written from known credentials must read back as those credentials. Replay a failure
//! with the command its report prints.

use sec_fuzz::{MARKER, Rng, Shrink};
use secrecy::ExposeSecret;

use super::tests::{NETRC_SAMPLE, TWINE_SAMPLE, file};
use super::*;

const PYPIRC_DICTIONARY: &[&str] = &[
    "[pypi]",
    "[testpypi]",
    "[distutils]",
    "[DEFAULT]",
    "[",
    "]",
    "username",
    "password",
    "repository",
    "index-servers",
    "Password",
    " = ",
    "=",
    ": ",
    ":",
    "    ",
    "\n",
    "\r\n",
    "# ",
    "; ",
    "__token__",
    "pypi-AgEIcHlwaS5vcmc",
    MARKER,
];

const NETRC_DICTIONARY: &[&str] = &[
    "machine ",
    "default ",
    "login ",
    "user ",
    "password ",
    "account ",
    "macdef ",
    "\"",
    "\\",
    "\\\"",
    "#",
    " ",
    "\n",
    "\n\n",
    "\t",
    "upload.pypi.org",
    "__token__",
    MARKER,
];

/// A value as a user may have written it: often the planted secret.
fn value(rng: &mut Rng) -> String {
    match rng.below(5) {
        0 | 1 => MARKER.to_owned(),
        2 => format!("{}{MARKER}", rng.word()),
        3 => String::new(),
        _ => rng.word(),
    }
}

fn pypirc(rng: &mut Rng) -> String {
    let mut lines: Vec<String> = Vec::new();
    for _ in 0..rng.size(4) {
        let name = match rng.below(6) {
            0 => "pypi".to_owned(),
            1 => "testpypi".to_owned(),
            2 => "distutils".to_owned(),
            3 => "DEFAULT".to_owned(),
            _ => rng.word(),
        };
        let comment = if rng.one_in(5) { " # a comment" } else { "" };
        lines.push(format!("[{name}]{comment}"));
        let indent = " ".repeat(rng.size(2));
        for _ in 0..rng.size(4) {
            let key = *rng.pick(&[
                "username",
                "password",
                "Password",
                "repository",
                "index-servers",
                "ca_cert",
                MARKER,
            ]);
            let separator = *rng.pick(&[" = ", "=", ": ", ":", " =  "]);
            let value = value(rng);
            lines.push(format!("{indent}{key}{separator}{value}"));
            if rng.one_in(6) {
                let value = value_or_word(rng);
                lines.push(format!("{indent}    {value}"));
            }
            if rng.one_in(6) {
                lines.push(
                    rng.pick(&["", "# comment", "; comment", "  # indented"])
                        .to_string(),
                );
            }
        }
    }
    let end = *rng.pick(&["\n", "\n", "\r\n"]);
    let bom = if rng.one_in(8) { "\u{feff}" } else { "" };
    format!("{bom}{}{end}", lines.join(end))
}

fn value_or_word(rng: &mut Rng) -> String {
    if rng.one_in(2) {
        value(rng)
    } else {
        rng.word()
    }
}

fn netrc(rng: &mut Rng) -> String {
    let mut out = String::new();
    for _ in 0..rng.size(12) {
        let separator = *rng.pick(&[" ", " ", "\n", "\n    ", "\t"]);
        let word = match rng.below(10) {
            0 => format!("machine {}", netrc_value(rng)),
            1 => "default".to_owned(),
            2 => format!("login {}", netrc_value(rng)),
            3 => format!("user {}", netrc_value(rng)),
            4 | 5 => format!("password {}", netrc_value(rng)),
            6 => format!("account {}", netrc_value(rng)),
            7 => format!("macdef {}\n  cd /\n  {}\n\n", rng.word(), value(rng)),
            8 => format!("# {}\n", value(rng)),
            _ => netrc_value(rng),
        };
        out.push_str(&word);
        out.push_str(separator);
    }
    out
}

/// A netrc value, plain or double-quoted with escapes.
fn netrc_value(rng: &mut Rng) -> String {
    let plain = value_or_word(rng);
    match rng.below(3) {
        0 => quote(&format!("{plain} {}", value(rng))),
        _ => plain,
    }
}

/// `text` double-quoted, `\` and `"` escaped, as Python's `netrc` reads it.
fn quote(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        if matches!(c, '"' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// The error's line is in the file, and the planted value is not in `shown`: the message
/// without what it may name (a section, a machine).
fn check_error(text: &str, error: &ParseError, shown: &str) {
    let lines = text.split('\n').count();
    assert!((1..=lines).contains(&error.line), "{error}");
    assert!(!error.message.is_empty());
    assert!(!shown.contains(MARKER), "leaked: {error}");
    assert!(!format!("{error:?}").contains(MARKER) || error.message.contains(MARKER));
}

/// What every found credential promises, whatever the file: a password that no `Debug`
/// shows, a unique `PREFIX/NAME` of plain characters, the line where its entry starts.
fn check_credentials(text: &str, credentials: &[Credential], prefix: &str) {
    let lines = text.split('\n').count();
    for (i, credential) in credentials.iter().enumerate() {
        let password = credential.password.expose_secret();
        assert!(!password.is_empty());
        let visible = format!(
            "{} {} {:?} {:?}",
            credential.origin,
            credential.suggested_name,
            credential.username,
            credential.repository
        );
        if password.contains(MARKER) && !visible.contains(MARKER) {
            assert!(
                !format!("{credential:?}").contains(MARKER),
                "{credential:?}"
            );
        }
        let name = credential.suggested_name.strip_prefix(prefix).unwrap();
        assert!(!name.is_empty());
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)),
            "{name}"
        );
        assert!(
            credentials[..i]
                .iter()
                .all(|c| c.suggested_name != credential.suggested_name)
        );
        assert!((1..=lines).contains(&credential.line));
    }
}

fn check_pypirc(text: &str) {
    let body = text.strip_prefix('\u{feff}').unwrap_or(text);
    match parse_pypirc(text) {
        Ok(credentials) => {
            check_credentials(text, &credentials, "pypi/");
            for credential in &credentials {
                let header = body.lines().nth(credential.line - 1).unwrap();
                assert!(header.trim().starts_with('['), "{header:?}");
            }
        }
        Err(error) => {
            // Messages may name a section: `[NAME]` up to the last `]` of a header line.
            let named = body.lines().any(|line| {
                let header = line.trim().strip_prefix('[').unwrap_or("");
                header
                    .rfind(']')
                    .is_some_and(|end| header[..end].contains(MARKER))
            });
            let shown = if named { "" } else { error.message.as_str() };
            check_error(body, &error, shown);
        }
    }
}

fn check_netrc(text: &str) {
    match parse_netrc(text) {
        Ok(credentials) => check_credentials(text, &credentials, "netrc/"),
        Err(error) => {
            // Messages may name a machine: `the entry for machine HOST (first on line N)`.
            let message = &error.message;
            let host = (
                message.find("entry for machine "),
                message.rfind(" (first on line "),
            );
            let shown = match host {
                (Some(start), Some(end)) if start < end => {
                    format!("{}{}", &message[..start], &message[end..])
                }
                _ => message.clone(),
            };
            let body = text.strip_prefix('\u{feff}').unwrap_or(text);
            check_error(body, &error, &shown);
        }
    }
}

#[test]
fn fuzz_pypirc_parse() {
    fn generate(rng: &mut Rng) -> String {
        let seeds = [file(TWINE_SAMPLE)];
        let seeds: Vec<&str> = seeds.iter().map(String::as_str).collect();
        sec_fuzz::text_case(rng, &seeds, PYPIRC_DICTIONARY, pypirc)
    }
    sec_fuzz::run("fuzz_pypirc_parse", 10_000, generate, check_pypirc);
}

#[test]
fn fuzz_netrc_parse() {
    fn generate(rng: &mut Rng) -> String {
        let seeds = [file(NETRC_SAMPLE)];
        let seeds: Vec<&str> = seeds.iter().map(String::as_str).collect();
        sec_fuzz::text_case(rng, &seeds, NETRC_DICTIONARY, netrc)
    }
    sec_fuzz::run("fuzz_netrc_parse", 10_000, generate, check_netrc);
}

// --- written from known credentials, read back ----------------------------------------

/// A file written in one of the layouts the format allows, and the credentials in it:
/// origin, username, password, repository.
#[derive(Debug)]
struct Written {
    text: String,
    entries: Vec<(String, Option<String>, String, Option<String>)>,
}

impl Shrink for Written {}

/// Any text without line breaks, trimmed, as a pypirc value can be.
fn pypirc_value(rng: &mut Rng) -> String {
    let base = value_or_word(rng);
    let raw = sec_fuzz::mutate_text(rng, &base, PYPIRC_DICTIONARY);
    raw.replace(['\n', '\r'], "").trim().to_owned()
}

fn written_pypirc(rng: &mut Rng) -> Written {
    let mut text = String::new();
    let mut entries = Vec::new();
    for i in 0..rng.size(4) {
        // Unique names that are not configparser's special sections.
        let name = match i {
            0 if rng.one_in(2) => "pypi".to_owned(),
            _ => format!("{}-{i}", rng.word()),
        };
        let username = pypirc_value(rng);
        let password = pypirc_value(rng);
        let repository = if rng.one_in(2) {
            Some(pypirc_value(rng))
        } else {
            None
        };
        text.push_str(&format!("[{name}]\n"));
        let mut keys = vec![("username", &username), ("password", &password)];
        if let Some(repository) = &repository {
            keys.push(("repository", repository));
        }
        if rng.one_in(2) {
            keys.reverse();
        }
        for (key, value) in keys {
            let separator = *rng.pick(&[" = ", "=", ": ", ":"]);
            text.push_str(&format!("{key}{separator}{value}\n"));
        }
        if !password.is_empty() {
            let repository = repository
                .filter(|r| !r.is_empty())
                .or_else(|| (name == "pypi").then(|| PYPI_UPLOAD_URL.to_owned()));
            let username = Some(username).filter(|u| !u.is_empty());
            entries.push((format!("pypirc [{name}]"), username, password, repository));
        }
    }
    Written { text, entries }
}

fn written_netrc(rng: &mut Rng) -> Written {
    let mut text = String::new();
    let mut entries = Vec::new();
    for _ in 0..rng.size(4) {
        let host = if rng.one_in(5) {
            None
        } else {
            Some(format!("{}.example", rng.word()))
        };
        let username = netrc_written_value(rng);
        let password = netrc_written_value(rng);
        match &host {
            Some(host) => text.push_str(&format!("machine {host}")),
            None => text.push_str("default"),
        }
        let mut keys = vec![("login", &username), ("password", &password)];
        if rng.one_in(2) {
            keys.reverse();
        }
        for (key, value) in keys {
            let separator = *rng.pick(&[" ", "\n  ", "\t"]);
            let written = if rng.one_in(2) && plain_netrc_word(value) {
                value.clone()
            } else {
                quote(value)
            };
            text.push_str(&format!("{separator}{key} {written}"));
        }
        text.push('\n');
        if !password.is_empty() {
            let username = Some(username).filter(|u| !u.is_empty());
            let origin = match &host {
                Some(host) => format!("netrc machine {host}"),
                None => "netrc default".to_owned(),
            };
            entries.push((origin, username, password, host));
        }
    }
    Written { text, entries }
}

/// Any text at all: quoted, a netrc value may hold spaces, quotes and line breaks.
fn netrc_written_value(rng: &mut Rng) -> String {
    let base = value_or_word(rng);
    sec_fuzz::mutate_text(rng, &base, NETRC_DICTIONARY)
}

/// Whether `value` can be written without quotes: a word that is no keyword.
fn plain_netrc_word(value: &str) -> bool {
    let keyword = [
        "machine", "default", "login", "user", "password", "account", "macdef",
    ];
    !value.is_empty()
        && !value.starts_with('"')
        && !value.contains(|c: char| c.is_ascii_whitespace())
        && !keyword.contains(&value)
}

fn check_written(written: &Written, found: Result<Vec<Credential>, ParseError>) {
    let found = found.unwrap_or_else(|e| panic!("{e} in {:?}", written.text));
    let found: Vec<_> = found
        .iter()
        .map(|c| {
            let password = c.password.expose_secret();
            let repository = c.repository.as_deref();
            (
                c.origin.as_str(),
                c.username.as_deref(),
                password,
                repository,
            )
        })
        .collect();
    let expected: Vec<_> = written
        .entries
        .iter()
        .map(|(origin, username, password, repository)| {
            let repository = repository.as_deref();
            (
                origin.as_str(),
                username.as_deref(),
                password.as_str(),
                repository,
            )
        })
        .collect();
    assert_eq!(found, expected);
}

#[test]
fn fuzz_pypirc_round_trip() {
    fn check(written: &Written) {
        check_written(written, parse_pypirc(&written.text));
    }
    sec_fuzz::run("fuzz_pypirc_round_trip", 5000, written_pypirc, check);
}

#[test]
fn fuzz_netrc_round_trip() {
    fn check(written: &Written) {
        check_written(written, parse_netrc(&written.text));
    }
    sec_fuzz::run("fuzz_netrc_round_trip", 5000, written_netrc, check);
}
