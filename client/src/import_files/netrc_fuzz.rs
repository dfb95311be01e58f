//! Fuzzing the `.netrc` parser: generated and mutated files must parse or fail without a
//! panic and without a value of the file in an error or a `Debug`, and files written from
//! known credentials must read back as those credentials. Replay a failure with the
//! command its report prints.

use sec_fuzz::{MARKER, Rng};

use super::tests::NETRC_SAMPLE;
use super::*;
use crate::import_files::fuzz::{
    Written, check_credentials, check_error, check_written, value, value_or_word,
};
use crate::import_files::tests::file;

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

fn check_netrc(text: &str) {
    match parse(text) {
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
fn fuzz_netrc_parse() {
    fn generate(rng: &mut Rng) -> String {
        let seeds = [file(NETRC_SAMPLE)];
        let seeds: Vec<&str> = seeds.iter().map(String::as_str).collect();
        sec_fuzz::text_case(rng, &seeds, NETRC_DICTIONARY, netrc)
    }
    sec_fuzz::run("fuzz_netrc_parse", 10_000, generate, check_netrc);
}

// --- written from known credentials, read back ----------------------------------------

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
    !value.is_empty()
        && !value.starts_with('"')
        && !value.contains(|c: char| c.is_ascii_whitespace())
        && Keyword::spelled(value).is_none()
}

#[test]
fn fuzz_netrc_round_trip() {
    fn check(written: &Written) {
        check_written(written, parse(&written.text));
    }
    sec_fuzz::run("fuzz_netrc_round_trip", 5000, written_netrc, check);
}
