//! The plaintext credential files `sec import` moves into a vault, one parser per format
//! ([`dotenv`] for `.env` files too):
//! [`pypirc`] (`~/.pypirc`, INI read the way twine reads it with Python's `configparser`)
//! and [`netrc`] (`~/.netrc`, the whitespace-separated format of ftp, curl and Python's
//! `netrc`). What both share is here: the [`Credential`] an entry becomes, the
//! [`ParseError`] with its line number, and the vault names suggested for the credentials.
//!
//! Both parsers are hand-written, so a malformed file gets an error with its line number.
//! No error message and no `Debug` output ever holds a value from the file: a stray line of
//! a malformed file may well be a password, so messages name lines and known keywords only.

pub mod dotenv;
pub mod netrc;
pub mod pypirc;

use std::collections::HashSet;

use secrecy::SecretString;

/// One credential found in a credential file, ready to be stored in a vault. Its `Debug`
/// shows neither the password nor a repository URL that holds a credential.
pub struct Credential {
    /// Where it came from, for messages: `pypirc [pypi]`, `netrc machine upload.pypi.org`.
    pub origin: String,
    /// A vault-friendly name, unique within one file: `pypi/testpypi`, `netrc/github.com`.
    pub suggested_name: String,
    pub username: Option<String>,
    pub password: SecretString,
    /// The pypirc repository URL (twine's default for `pypi` and `testpypi` when the file
    /// has none), or the netrc machine's host (`None` for the netrc `default` entry).
    pub repository: Option<String>,
    /// The line where the entry starts: the `[section]` header or the `machine`/`default` word.
    pub line: usize,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let repository = self.repository.as_deref().map(|url| {
            if url_has_credentials(url) {
                "[a URL with a credential]"
            } else {
                url
            }
        });
        f.debug_struct("Credential")
            .field("origin", &self.origin)
            .field("suggested_name", &self.suggested_name)
            .field("username", &self.username)
            .field("password", &self.password)
            .field("repository", &repository)
            .field("line", &self.line)
            .finish()
    }
}

/// Whether a URL carries credentials in its authority (`scheme://user:password@host/...`).
pub fn url_has_credentials(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    authority.contains('@')
}

/// Why a credential file could not be read, as `LINE:1: what` (after the file name, the
/// same `file:line:column` as config errors; the column is the line's start). The message
/// never quotes the file's text.
#[derive(Debug, thiserror::Error)]
#[error("{line}:1: {message}")]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

impl ParseError {
    fn new(line: usize, message: impl Into<String>) -> Self {
        Self {
            line,
            message: message.into(),
        }
    }
}

// ---------------------------------------------------------------------------------------
// names
// ---------------------------------------------------------------------------------------

/// `PREFIX/NAME` with NAME reduced to ASCII letters, digits, `.`, `_` and `-`.
fn vault_name(prefix: &str, name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect();
    let cleaned = cleaned.trim_matches('-');
    if cleaned.is_empty() {
        format!("{prefix}/unnamed")
    } else {
        format!("{prefix}/{cleaned}")
    }
}

/// Gives repeated suggested names (a host listed twice in a netrc, section names equal
/// after cleaning) the suffixes `-2`, `-3`, … in file order.
fn make_names_unique(credentials: &mut [Credential]) {
    let mut taken: HashSet<String> = HashSet::new();
    for credential in credentials.iter_mut() {
        if taken.insert(credential.suggested_name.clone()) {
            continue;
        }
        let mut n = 2;
        loop {
            let candidate = format!("{}-{n}", credential.suggested_name);
            if taken.insert(candidate.clone()) {
                credential.suggested_name = candidate;
                break;
            }
            n += 1;
        }
    }
}

#[cfg(test)]
mod fuzz;

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    #[test]
    fn credentials_in_a_url_are_found_in_its_authority_only_and_never_debug_printed() {
        assert!(url_has_credentials("https://user:tok@host/simple/"));
        assert!(url_has_credentials("https://tok@host"));
        assert!(url_has_credentials("user:tok@host/x"));
        assert!(!url_has_credentials("https://upload.pypi.org/legacy/"));
        assert!(!url_has_credentials("https://host/simple/?mail=a@b"));
        assert!(!url_has_credentials("https://host/~user@x/"));
        let found =
            pypirc::parse("[private]\nrepository = https://u:pLaNtEd@host/\npassword = other\n")
                .unwrap();
        assert!(!format!("{found:?}").contains("pLaNtEd"));
    }

    /// The file made of these lines: line N is `lines[N - 1]`.
    pub(super) fn file(lines: &[&str]) -> String {
        let mut text = lines.join("\n");
        text.push('\n');
        text
    }

    /// What the tests compare of a credential: origin, suggested name, username, password,
    /// repository, line.
    type Summary<'a> = (
        &'a str,
        &'a str,
        Option<&'a str>,
        &'a str,
        Option<&'a str>,
        usize,
    );

    pub(super) fn summary(found: &[Credential]) -> Vec<Summary<'_>> {
        found
            .iter()
            .map(|c| {
                (
                    c.origin.as_str(),
                    c.suggested_name.as_str(),
                    c.username.as_deref(),
                    c.password.expose_secret(),
                    c.repository.as_deref(),
                    c.line,
                )
            })
            .collect()
    }

    // --- secrecy ---------------------------------------------------------------------

    /// A value the tests plant in files; no error or `Debug` output may show it.
    pub(super) const PLANTED: &str = "pLaNtEd-s3cret";

    pub(super) fn assert_hidden(e: &ParseError) {
        let shown = format!("{e} / {e:?} / {}", e.message);
        assert!(!shown.contains(PLANTED), "leaked: {shown}");
        assert!(!shown.contains("pLaNtEd"), "leaked a fragment: {shown}");
    }
}
