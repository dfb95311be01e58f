//! What the `.pypirc` and `.netrc` fuzz targets (`pypirc_fuzz.rs`, `netrc_fuzz.rs`)
//! share: values as a user may write them, the promises every error and every credential
//! found keep whatever the file, and the check that a file written from known credentials
//! reads back as those credentials.

use sec_fuzz::{MARKER, Rng, Shrink};
use secrecy::ExposeSecret;

use super::*;

/// A value as a user may have written it: often the planted secret.
pub(super) fn value(rng: &mut Rng) -> String {
    match rng.below(5) {
        0 | 1 => MARKER.to_owned(),
        2 => format!("{}{MARKER}", rng.word()),
        3 => String::new(),
        _ => rng.word(),
    }
}

pub(super) fn value_or_word(rng: &mut Rng) -> String {
    if rng.one_in(2) {
        value(rng)
    } else {
        rng.word()
    }
}

/// The error's line is in the file, and the planted value is not in `shown`: the message
/// without what it may name (a section, a machine).
pub(super) fn check_error(text: &str, error: &ParseError, shown: &str) {
    let lines = text.split('\n').count();
    assert!((1..=lines).contains(&error.line), "{error}");
    assert!(!error.message.is_empty());
    assert!(!shown.contains(MARKER), "leaked: {error}");
    assert!(!format!("{error:?}").contains(MARKER) || error.message.contains(MARKER));
}

/// What every found credential promises, whatever the file: a password that no `Debug`
/// shows, a unique `PREFIX/NAME` of plain characters, the line where its entry starts.
pub(super) fn check_credentials(text: &str, credentials: &[Credential], prefix: &str) {
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

/// A file written in one of the layouts the format allows, and the credentials in it:
/// origin, username, password, repository.
#[derive(Debug)]
pub(super) struct Written {
    pub text: String,
    pub entries: Vec<(String, Option<String>, String, Option<String>)>,
}

impl Shrink for Written {}

pub(super) fn check_written(written: &Written, found: Result<Vec<Credential>, ParseError>) {
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
