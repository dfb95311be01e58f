//! Fuzzing the `.pypirc` parser: generated and mutated files must parse or fail without a
//! panic and without a value of the file in an error or a `Debug`, and files written from
//! known credentials must read back as those credentials. Replay a failure with the
//! command its report prints.

use sec_fuzz::{MARKER, Rng};

use super::tests::TWINE_SAMPLE;
use super::*;
use crate::import_files::fuzz::{
    Written, check_credentials, check_error, check_written, value, value_or_word,
};
use crate::import_files::tests::file;

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

fn check_pypirc(text: &str) {
    let body = text.strip_prefix('\u{feff}').unwrap_or(text);
    match parse(text) {
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

#[test]
fn fuzz_pypirc_parse() {
    fn generate(rng: &mut Rng) -> String {
        let seeds = [file(TWINE_SAMPLE)];
        let seeds: Vec<&str> = seeds.iter().map(String::as_str).collect();
        sec_fuzz::text_case(rng, &seeds, PYPIRC_DICTIONARY, pypirc)
    }
    sec_fuzz::run("fuzz_pypirc_parse", 10_000, generate, check_pypirc);
}

// --- written from known credentials, read back ----------------------------------------

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

#[test]
fn fuzz_pypirc_round_trip() {
    fn check(written: &Written) {
        check_written(written, parse(&written.text));
    }
    sec_fuzz::run("fuzz_pypirc_round_trip", 5000, written_pypirc, check);
}
