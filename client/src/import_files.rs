//! Parsers for the plaintext credential files `sec import` moves into a vault: `~/.pypirc`
//! (INI, read the way twine reads it with Python's `configparser`) and `~/.netrc` (the
//! whitespace-separated format of ftp, curl and Python's `netrc`).
//!
//! Both hand-written, so a malformed file gets an error with its line number. No error
//! message and no `Debug` output ever holds a value from the file: a stray line of a
//! malformed file may well be a password, so messages name lines and known keywords only.

use std::collections::HashSet;

use secrecy::SecretString;
use zeroize::Zeroizing;

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

/// Why a credential file could not be read. The message never quotes the file's text.
#[derive(Debug, thiserror::Error)]
#[error("line {line}: {message}")]
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
// .pypirc
// ---------------------------------------------------------------------------------------

/// twine's upload URL for a `[pypi]` section without `repository`.
const PYPI_UPLOAD_URL: &str = "https://upload.pypi.org/legacy/";
/// twine's upload URL for a `[testpypi]` section without `repository`.
const TESTPYPI_UPLOAD_URL: &str = "https://test.pypi.org/legacy/";

/// Keys that may be named in error messages. Any other "key" may be a fragment of a
/// pasted token, so messages refer to it by line only.
const PYPIRC_KEYS: &[&str] = &[
    "username",
    "password",
    "repository",
    "index-servers",
    "ca_cert",
    "client_cert",
];

/// Parses a `.pypirc`. Every repository section with a non-empty `password` yields a
/// credential; sections without one (twine then asks the keyring) are skipped, as are
/// `[distutils]` and configparser's `[DEFAULT]`, whose keys fill in the other sections'.
pub fn parse_pypirc(text: &str) -> Result<Vec<Credential>, ParseError> {
    let sections = parse_ini(text)?;
    let defaults = sections.iter().find(|s| s.name == "DEFAULT");
    let mut credentials = Vec::new();
    for section in &sections {
        if section.name == "DEFAULT" || section.name == "distutils" {
            continue;
        }
        let get = |key: &str| {
            section
                .get(key)
                .or_else(|| defaults.and_then(|d| d.get(key)))
                .filter(|value| !value.is_empty())
        };
        let Some(password) = get("password") else {
            continue;
        };
        let repository = get("repository").map(str::to_owned).or(match section.name {
            "pypi" => Some(PYPI_UPLOAD_URL.to_owned()),
            "testpypi" => Some(TESTPYPI_UPLOAD_URL.to_owned()),
            _ => None,
        });
        credentials.push(Credential {
            origin: format!("pypirc [{}]", section.name),
            suggested_name: vault_name("pypi", section.name),
            username: get("username").map(str::to_owned),
            password: SecretString::from(password),
            repository,
            line: section.line,
        });
    }
    make_names_unique(&mut credentials);
    Ok(credentials)
}

/// One `[section]` of an INI file; its values borrow from the file's text.
struct IniSection<'a> {
    name: &'a str,
    line: usize,
    entries: Vec<IniEntry<'a>>,
}

/// One `key = value` line. Deliberately not `Debug`: the value may be a password.
struct IniEntry<'a> {
    /// Lowercased, as configparser does.
    key: String,
    value: &'a str,
    line: usize,
}

impl<'a> IniSection<'a> {
    fn get(&self, key: &str) -> Option<&'a str> {
        self.entries
            .iter()
            .find(|entry| entry.key == key)
            .map(|entry| entry.value)
    }
}

/// `key` in backticks when it is a known pypirc key, else a neutral phrase.
fn describe_key(key: &str) -> String {
    if PYPIRC_KEYS.contains(&key) {
        format!("`{key}`")
    } else {
        "a key".to_owned()
    }
}

/// configparser's `RawConfigParser` grammar, strict: full-line `#`/`;` comments, `key = value`
/// or `key: value` split at the first separator, keys case-insensitive, a line indented
/// deeper than the key before it continues that key's value (blank and comment lines in
/// between do not end it). Only `index-servers` may span lines here: configparser would
/// glue a continued password or username into one multi-line value twine cannot use.
fn parse_ini(text: &str) -> Result<Vec<IniSection<'_>>, ParseError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut sections: Vec<IniSection<'_>> = Vec::new();
    // The indentation of the last key line of the current section, while deeper-indented
    // lines would continue its value.
    let mut open_key_indent: Option<usize> = None;
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with(['#', ';']) {
            continue;
        }
        let indent = raw.chars().take_while(|c| c.is_whitespace()).count();

        if let (Some(key_indent), Some(section)) = (open_key_indent, sections.last())
            && indent > key_indent
            && let Some(entry) = section.entries.last()
        {
            if entry.key == "index-servers" {
                continue; // informational: the repositories twine offers
            }
            return Err(ParseError::new(
                line,
                format!(
                    "this indented line continues the value of {} on line {}, and only \
                     `index-servers` may span several lines; if it is a key of its own, \
                     indent it like the line before",
                    describe_key(&entry.key),
                    entry.line
                ),
            ));
        }

        if let Some(header) = trimmed.strip_prefix('[') {
            // As configparser: the name runs to the last `]`.
            let Some(close) = header.rfind(']') else {
                return Err(ParseError::new(
                    line,
                    "a section header without its closing `]`",
                ));
            };
            let name = &header[..close];
            let after = header[close + 1..].trim_start();
            if name.is_empty() {
                return Err(ParseError::new(
                    line,
                    "a section header with no name (`[]`)",
                ));
            }
            if !after.is_empty() && !after.starts_with(['#', ';']) {
                return Err(ParseError::new(
                    line,
                    format!("unexpected text after the section header [{name}]"),
                ));
            }
            if let Some(first) = sections.iter().find(|s| s.name == name) {
                return Err(ParseError::new(
                    line,
                    format!(
                        "section [{name}] appears twice (first on line {})",
                        first.line
                    ),
                ));
            }
            sections.push(IniSection {
                name,
                line,
                entries: Vec::new(),
            });
            open_key_indent = None;
            continue;
        }

        let Some(section) = sections.last_mut() else {
            return Err(ParseError::new(
                line,
                "a line before the first section header; keys belong in a section such as [pypi]",
            ));
        };
        let Some(separator) = trimmed.find(['=', ':']) else {
            return Err(ParseError::new(
                line,
                format!(
                    "expected `key = value` (or `key: value`) in section [{}]",
                    section.name
                ),
            ));
        };
        let key = trimmed[..separator].trim_end().to_lowercase();
        let value = trimmed[separator + 1..].trim();
        if key.is_empty() {
            return Err(ParseError::new(
                line,
                format!(
                    "a `key = value` line without a key in section [{}]",
                    section.name
                ),
            ));
        }
        if let Some(first) = section.entries.iter().find(|entry| entry.key == key) {
            return Err(ParseError::new(
                line,
                format!(
                    "{} is set twice in section [{}] (first on line {})",
                    describe_key(&key),
                    section.name,
                    first.line
                ),
            ));
        }
        section.entries.push(IniEntry { key, value, line });
        open_key_indent = Some(indent);
    }
    Ok(sections)
}

// ---------------------------------------------------------------------------------------
// .netrc
// ---------------------------------------------------------------------------------------

/// Parses a `.netrc`. Every `machine` or `default` entry with a non-empty `password`
/// yields a credential; `account` values are read and dropped, `macdef` bodies skipped.
///
/// Tokens are separated by whitespace. A token starting with `"` runs to the next
/// unescaped `"` and may hold whitespace; inside it `\c` stands for `c` (as Python's
/// `netrc`). Unquoted tokens are taken verbatim. A word starting with `#` where a keyword
/// is expected comments out the rest of its line. Stricter than the usual readers: a
/// keyword directly followed by another keyword (`login password x`) and a key given
/// twice in one entry are errors, not silently resolved.
pub fn parse_netrc(text: &str) -> Result<Vec<Credential>, ParseError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lexer = Lexer {
        text,
        pos: 0,
        line: 1,
    };
    let mut credentials = Vec::new();
    let mut current: Option<NetrcEntry> = None;
    while let Some(token) = lexer.next_token()? {
        if !token.quoted && token.text.starts_with('#') {
            lexer.skip_line();
            continue;
        }
        let Some(keyword) = Keyword::of(&token) else {
            return Err(ParseError::new(
                token.line,
                "unexpected word; expected one of machine, default, login, password, \
                 account, macdef (a value containing spaces must be in double quotes)",
            ));
        };
        match keyword {
            Keyword::Machine | Keyword::Default => {
                let host = match keyword {
                    Keyword::Machine => {
                        Some(lexer.value_of(&token, keyword)?.text.as_str().to_owned())
                    }
                    _ => None,
                };
                if host.as_deref() == Some("") {
                    return Err(ParseError::new(
                        token.line,
                        "`machine` with an empty host name",
                    ));
                }
                finish_entry(current.take(), &mut credentials);
                current = Some(NetrcEntry {
                    host,
                    line: token.line,
                    login: None,
                    password: None,
                    account_line: None,
                });
            }
            Keyword::Macdef => {
                lexer.value_of(&token, keyword)?;
                finish_entry(current.take(), &mut credentials);
                lexer.skip_macro_body();
            }
            Keyword::Login | Keyword::Password | Keyword::Account => {
                let Some(entry) = current.as_mut() else {
                    return Err(ParseError::new(
                        token.line,
                        format!(
                            "`{}` outside an entry; start one with `machine HOST` or `default`",
                            keyword.word()
                        ),
                    ));
                };
                let value = lexer.value_of(&token, keyword)?;
                let first_line = match keyword {
                    Keyword::Login => entry.login.as_ref().map(|(_, line)| *line),
                    Keyword::Password => entry.password.as_ref().map(|(_, line)| *line),
                    _ => entry.account_line,
                };
                if let Some(first_line) = first_line {
                    return Err(ParseError::new(
                        token.line,
                        format!(
                            "`{}` is given twice in the {} (first on line {first_line})",
                            keyword.word(),
                            entry.describe()
                        ),
                    ));
                }
                match keyword {
                    Keyword::Login => {
                        entry.login = Some((value.text.as_str().to_owned(), token.line))
                    }
                    Keyword::Password => {
                        entry.password =
                            Some((SecretString::from(value.text.as_str()), token.line));
                    }
                    _ => entry.account_line = Some(token.line),
                }
            }
        }
    }
    finish_entry(current, &mut credentials);
    make_names_unique(&mut credentials);
    Ok(credentials)
}

/// A `machine` (host `Some`) or `default` (host `None`) entry being read.
struct NetrcEntry {
    host: Option<String>,
    line: usize,
    login: Option<(String, usize)>,
    password: Option<(SecretString, usize)>,
    account_line: Option<usize>,
}

impl NetrcEntry {
    fn describe(&self) -> String {
        match &self.host {
            Some(host) => format!("entry for machine {host}"),
            None => "default entry".to_owned(),
        }
    }
}

fn finish_entry(entry: Option<NetrcEntry>, credentials: &mut Vec<Credential>) {
    let Some(entry) = entry else {
        return;
    };
    let Some((password, _)) = entry.password else {
        return;
    };
    if secrecy::ExposeSecret::expose_secret(&password).is_empty() {
        return;
    }
    let (origin, suggested_name) = match &entry.host {
        Some(host) => (format!("netrc machine {host}"), vault_name("netrc", host)),
        None => ("netrc default".to_owned(), "netrc/default".to_owned()),
    };
    credentials.push(Credential {
        origin,
        suggested_name,
        username: entry
            .login
            .map(|(login, _)| login)
            .filter(|login| !login.is_empty()),
        password,
        repository: entry.host,
        line: entry.line,
    });
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Keyword {
    Machine,
    Default,
    Login,
    Password,
    Account,
    Macdef,
}

impl Keyword {
    /// The keyword an unquoted token spells (`user` is Python's synonym for `login`).
    fn of(token: &Token) -> Option<Keyword> {
        if token.quoted {
            return None;
        }
        Some(match token.text.as_str() {
            "machine" => Keyword::Machine,
            "default" => Keyword::Default,
            "login" | "user" => Keyword::Login,
            "password" => Keyword::Password,
            "account" => Keyword::Account,
            "macdef" => Keyword::Macdef,
            _ => return None,
        })
    }

    fn word(self) -> &'static str {
        match self {
            Keyword::Machine => "machine",
            Keyword::Default => "default",
            Keyword::Login => "login",
            Keyword::Password => "password",
            Keyword::Account => "account",
            Keyword::Macdef => "macdef",
        }
    }
}

/// One netrc word. Not `Debug`: it may be a password. Its text is wiped when dropped.
struct Token {
    text: Zeroizing<String>,
    line: usize,
    quoted: bool,
}

struct Lexer<'a> {
    text: &'a str,
    pos: usize,
    line: usize,
}

fn is_netrc_space(c: char) -> bool {
    c.is_ascii_whitespace()
}

impl Lexer<'_> {
    fn peek(&self) -> Option<char> {
        self.text[self.pos..].chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        if c == '\n' {
            self.line += 1;
        }
        Some(c)
    }

    /// The next word, or `None` at the end of the file. An unquoted word ends before the
    /// whitespace after it, so `skip_line` can still drop the rest of its line.
    fn next_token(&mut self) -> Result<Option<Token>, ParseError> {
        while self.peek().is_some_and(is_netrc_space) {
            self.bump();
        }
        let line = self.line;
        let Some(first) = self.peek() else {
            return Ok(None);
        };
        if first != '"' {
            let rest = &self.text[self.pos..];
            let len = rest.find(is_netrc_space).unwrap_or(rest.len());
            // Sized up front so no reallocation leaves a copy of a password behind.
            let text = Zeroizing::new(rest[..len].to_owned());
            self.pos += len;
            return Ok(Some(Token {
                text,
                line,
                quoted: false,
            }));
        }
        self.bump();
        let mut text = Zeroizing::new(String::with_capacity(self.text.len() - self.pos));
        loop {
            match self.bump() {
                Some('"') => break,
                Some('\\') => match self.bump() {
                    Some(c) => text.push(c),
                    None => return Err(unclosed_quote(line)),
                },
                Some(c) => text.push(c),
                None => return Err(unclosed_quote(line)),
            }
        }
        Ok(Some(Token {
            text,
            line,
            quoted: true,
        }))
    }

    /// The value after `keyword`: the next word, which must exist and not be a keyword.
    fn value_of(&mut self, keyword_token: &Token, keyword: Keyword) -> Result<Token, ParseError> {
        let word = keyword.word();
        match self.next_token()? {
            None => Err(ParseError::new(
                keyword_token.line,
                format!("`{word}` at the end of the file has no value"),
            )),
            Some(value) if Keyword::of(&value).is_some() => Err(ParseError::new(
                keyword_token.line,
                format!(
                    "`{word}` is followed by a keyword instead of its value \
                     (a value that really is such a word must be in double quotes)"
                ),
            )),
            Some(value) => Ok(value),
        }
    }

    /// Drops the rest of the current line, its newline included.
    fn skip_line(&mut self) {
        while let Some(c) = self.bump() {
            if c == '\n' {
                break;
            }
        }
    }

    /// Skips a `macdef` body: the rest of the `macdef NAME` line, then every line up to
    /// and including the next empty one (or the end of the file).
    fn skip_macro_body(&mut self) {
        self.skip_line();
        while self.pos < self.text.len() {
            let rest = &self.text[self.pos..];
            let (content, len) = match rest.find('\n') {
                Some(end) => (&rest[..end], end + 1),
                None => (rest, rest.len()),
            };
            self.pos += len;
            if len > content.len() {
                self.line += 1;
            }
            if content.strip_suffix('\r').unwrap_or(content).is_empty() {
                break;
            }
        }
    }
}

fn unclosed_quote(line: usize) -> ParseError {
    ParseError::new(line, "a double-quoted value is never closed (missing `\"`)")
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
#[path = "import_files_fuzz.rs"]
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
            parse_pypirc("[private]\nrepository = https://u:pLaNtEd@host/\npassword = other\n")
                .unwrap();
        assert!(!format!("{found:?}").contains("pLaNtEd"));
    }

    /// The file made of these lines: line N is `lines[N - 1]`.
    pub(super) fn file(lines: &[&str]) -> String {
        let mut text = lines.join("\n");
        text.push('\n');
        text
    }

    fn pypirc_error(lines: &[&str]) -> ParseError {
        match parse_pypirc(&file(lines)) {
            Ok(found) => panic!("expected an error, found {found:?}"),
            Err(e) => e,
        }
    }

    fn netrc_error(lines: &[&str]) -> ParseError {
        match parse_netrc(&file(lines)) {
            Ok(found) => panic!("expected an error, found {found:?}"),
            Err(e) => e,
        }
    }

    // --- .pypirc ---------------------------------------------------------------------

    /// The sample of packaging.python.org's ".pypirc file" page (which twine's docs link),
    /// with token-shaped values, plus a keyring-only section.
    pub(super) const TWINE_SAMPLE: &[&str] = &[
        "[distutils]",
        "index-servers =",
        "    pypi",
        "    testpypi",
        "    private-repository",
        "    keyring-only",
        "",
        "[pypi]",
        "username = __token__",
        "password = pypi-AgEIcHlwaS5vcmcCJGRlYWRiZWVm",
        "",
        "[testpypi]",
        "username = __token__",
        "password = pypi-AgENdGVzdC5weXBpLm9yZwIkZmVlZA",
        "",
        "[private-repository]",
        "repository = https://pypi.example.com/simple/",
        "username = alice",
        "password = correct horse: battery = staple",
        "",
        "[keyring-only]",
        "repository = https://pypi.example.org/",
        "username = bob",
    ];

    #[test]
    fn pypirc_twine_sample() {
        let found = parse_pypirc(&file(TWINE_SAMPLE)).unwrap();
        let summary: Vec<_> = found
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
            .collect();
        assert_eq!(
            summary,
            [
                (
                    "pypirc [pypi]",
                    "pypi/pypi",
                    Some("__token__"),
                    "pypi-AgEIcHlwaS5vcmcCJGRlYWRiZWVm",
                    Some("https://upload.pypi.org/legacy/"),
                    8,
                ),
                (
                    "pypirc [testpypi]",
                    "pypi/testpypi",
                    Some("__token__"),
                    "pypi-AgENdGVzdC5weXBpLm9yZwIkZmVlZA",
                    Some("https://test.pypi.org/legacy/"),
                    12,
                ),
                (
                    "pypirc [private-repository]",
                    "pypi/private-repository",
                    Some("alice"),
                    "correct horse: battery = staple",
                    Some("https://pypi.example.com/simple/"),
                    16,
                ),
            ]
        );
    }

    #[test]
    fn pypirc_syntax_variants() {
        let text = file(&[
            "; a comment",
            "# another",
            "[DEFAULT]",
            "username = __token__",
            "",
            "[pypi] # the real one",
            "  Password: pypi-abc=def==",
            "  # an indented comment",
            "  repository : https://upload.pypi.org/legacy/",
            "[no password]",
            "username = carol",
            "password =",
            "[Weird Name/x]",
            "password=p",
            "[empty username]",
            "password = q",
            "username =",
        ]);
        let found = parse_pypirc(&text).unwrap();
        assert_eq!(found.len(), 3);
        assert_eq!(found[0].origin, "pypirc [pypi]");
        assert_eq!(found[0].username.as_deref(), Some("__token__"));
        assert_eq!(found[0].password.expose_secret(), "pypi-abc=def==");
        assert_eq!(found[0].line, 6);
        assert_eq!(found[1].origin, "pypirc [Weird Name/x]");
        assert_eq!(found[1].suggested_name, "pypi/Weird-Name-x");
        // The empty username falls back to [DEFAULT]'s, as configparser would.
        assert_eq!(found[1].username.as_deref(), Some("__token__"));
        assert_eq!(found[1].repository, None);
        // A section's own (empty) value wins over [DEFAULT]'s, as in configparser.
        assert_eq!(found[2].suggested_name, "pypi/empty-username");
        assert_eq!(found[2].username, None);
    }

    #[test]
    fn pypirc_crlf_bom_and_empty() {
        let text = "\u{feff}[pypi]\r\nusername = __token__\r\npassword = tok\r\n";
        let found = parse_pypirc(text).unwrap();
        assert_eq!(found[0].password.expose_secret(), "tok");
        assert!(parse_pypirc("").unwrap().is_empty());
        assert!(parse_pypirc("# only a comment\n\n").unwrap().is_empty());
    }

    #[test]
    fn pypirc_line_outside_a_section() {
        let e = pypirc_error(&["# comment", "", "username = x", "[pypi]"]);
        assert_eq!(e.line, 3);
        assert!(e.message.contains("before the first section"), "{e}");
    }

    #[test]
    fn pypirc_line_without_separator() {
        let e = pypirc_error(&["[pypi]", "username = __token__", "pypi-AgEIcHlwaS5vcmc"]);
        assert_eq!(e.line, 3);
        assert_eq!(
            e.to_string(),
            "line 3: expected `key = value` (or `key: value`) in section [pypi]"
        );
    }

    #[test]
    fn pypirc_empty_key() {
        let e = pypirc_error(&["[pypi]", " = value"]);
        assert_eq!(e.line, 2);
        assert!(e.message.contains("without a key"), "{e}");
    }

    #[test]
    fn pypirc_duplicate_key_case_insensitive() {
        let e = pypirc_error(&[
            "[distutils]",
            "index-servers = pypi",
            "[pypi]",
            "password = a",
            "username = __token__",
            "Password = b",
        ]);
        assert_eq!(
            e.to_string(),
            "line 6: `password` is set twice in section [pypi] (first on line 4)"
        );
    }

    #[test]
    fn pypirc_duplicate_section() {
        let e = pypirc_error(&["[pypi]", "password = a", "", "[pypi]", "password = b"]);
        assert_eq!(
            e.to_string(),
            "line 4: section [pypi] appears twice (first on line 1)"
        );
    }

    #[test]
    fn pypirc_unterminated_section() {
        let e = pypirc_error(&["[pypi]", "password = a", "[testpypi", "password = b"]);
        assert_eq!(e.line, 3);
        assert!(e.message.contains("closing `]`"), "{e}");
        assert_eq!(pypirc_error(&["", "[]"]).line, 2);
        let e = pypirc_error(&["[pypi] extra"]);
        assert_eq!(e.line, 1);
        assert!(e.message.contains("after the section header"), "{e}");
    }

    #[test]
    fn pypirc_only_index_servers_spans_lines() {
        // index-servers continuations, also after a blank line, are fine...
        let ok = file(&[
            "[distutils]",
            "index-servers =",
            "  pypi",
            "",
            "  testpypi",
            "[pypi]",
            "password = x",
        ]);
        assert_eq!(parse_pypirc(&ok).unwrap().len(), 1);
        // ...a continued password is not (configparser would make it a two-line value).
        let e = pypirc_error(&[
            "[pypi]",
            "username = __token__",
            "password =",
            "    pypi-tok",
        ]);
        assert_eq!(
            e.to_string(),
            "line 4: this indented line continues the value of `password` on line 3, and only \
             `index-servers` may span several lines; if it is a key of its own, indent it like \
             the line before"
        );
        // Nor is a key indented deeper than the one before it.
        let e = pypirc_error(&["[pypi]", "username = __token__", "  password = tok"]);
        assert_eq!(e.line, 3);
        // Keys indented alike are keys.
        let ok = file(&["[pypi]", "  username = __token__", "  password = tok"]);
        assert_eq!(parse_pypirc(&ok).unwrap().len(), 1);
    }

    // --- .netrc ----------------------------------------------------------------------

    pub(super) const NETRC_SAMPLE: &[&str] = &[
        "# uploads",
        "machine upload.pypi.org",
        "    login __token__",
        "    password pypi-AgEIcHlwaS5vcmcCJGRlYWRiZWVm",
        "",
        "machine github.com login octocat password \"two words \\\"quoted\\\" \\\\ end\"",
        "    account personal # a trailing comment",
        "",
        "macdef init",
        "    password inside-a-macro",
        "    machine not.a.machine",
        "",
        "machine nopass.example.com login dave",
        "default login anonymous password guest@example.com",
    ];

    #[test]
    fn netrc_sample() {
        let found = parse_netrc(&file(NETRC_SAMPLE)).unwrap();
        let summary: Vec<_> = found
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
            .collect();
        assert_eq!(
            summary,
            [
                (
                    "netrc machine upload.pypi.org",
                    "netrc/upload.pypi.org",
                    Some("__token__"),
                    "pypi-AgEIcHlwaS5vcmcCJGRlYWRiZWVm",
                    Some("upload.pypi.org"),
                    2,
                ),
                (
                    "netrc machine github.com",
                    "netrc/github.com",
                    Some("octocat"),
                    "two words \"quoted\" \\ end",
                    Some("github.com"),
                    6,
                ),
                (
                    "netrc default",
                    "netrc/default",
                    Some("anonymous"),
                    "guest@example.com",
                    None,
                    14,
                ),
            ]
        );
    }

    #[test]
    fn netrc_one_line_repeats_and_quoted_keywords() {
        let text = "machine a.example login x password p1 machine a.example login y password p2\n\
                    machine \"b.example\" login \"password\" password \"machine\"";
        let found = parse_netrc(text).unwrap();
        let names: Vec<_> = found.iter().map(|c| c.suggested_name.as_str()).collect();
        assert_eq!(
            names,
            ["netrc/a.example", "netrc/a.example-2", "netrc/b.example"]
        );
        assert_eq!(found[1].username.as_deref(), Some("y"));
        assert_eq!(found[2].username.as_deref(), Some("password"));
        assert_eq!(found[2].password.expose_secret(), "machine");
        assert_eq!(found[2].line, 2);
        // `user` is Python's synonym for `login`; a macro may end the file.
        let text = "machine h user u password p\nmacdef m\n  cd /\n";
        let found = parse_netrc(text).unwrap();
        assert_eq!(found[0].username.as_deref(), Some("u"));
        assert!(parse_netrc("").unwrap().is_empty());
    }

    #[test]
    fn netrc_macdef_ends_the_entry() {
        let e = netrc_error(&["machine h login u", "macdef m", "  x", "", "password p"]);
        assert_eq!(e.line, 5);
        assert!(e.message.contains("outside an entry"), "{e}");
    }

    #[test]
    fn netrc_password_without_machine() {
        let e = netrc_error(&["# nothing yet", "", "  password secret"]);
        assert_eq!(
            e.to_string(),
            "line 3: `password` outside an entry; start one with `machine HOST` or `default`"
        );
        assert_eq!(netrc_error(&["login u"]).line, 1);
    }

    #[test]
    fn netrc_keyword_missing_its_value_at_end_of_file() {
        for (lines, line, word) in [
            (&["machine h login u", "password"][..], 2, "password"),
            (&["machine h", "", "  login"][..], 3, "login"),
            (&["default", "machine"][..], 2, "machine"),
            (&["machine h password p", "account"][..], 2, "account"),
            (&["macdef"][..], 1, "macdef"),
        ] {
            let e = netrc_error(lines);
            assert_eq!(
                e.to_string(),
                format!("line {line}: `{word}` at the end of the file has no value")
            );
        }
        // Without the final newline too.
        let e = parse_netrc("machine h password").unwrap_err();
        assert_eq!(e.line, 1);
    }

    #[test]
    fn netrc_keyword_instead_of_value() {
        let e = netrc_error(&["machine h", "login", "password p"]);
        assert_eq!(e.line, 2);
        assert!(e.message.contains("followed by a keyword"), "{e}");
    }

    #[test]
    fn netrc_unknown_token() {
        let e = netrc_error(&["machine h", "login u", "passwd p"]);
        assert_eq!(e.line, 3);
        assert!(e.message.starts_with("unexpected word"), "{e}");
        // An unquoted password with a space leaves its second half as an unknown word.
        let e = netrc_error(&["machine h login u password two", "  words"]);
        assert_eq!(e.line, 2);
        let e = netrc_error(&["machine h login u password two words"]);
        assert_eq!(e.line, 1);
    }

    #[test]
    fn netrc_empty_machine_name() {
        let e = netrc_error(&["machine h password p", "machine \"\" password q"]);
        assert_eq!(e.to_string(), "line 2: `machine` with an empty host name");
    }

    #[test]
    fn netrc_key_given_twice() {
        let e = netrc_error(&["machine h", "password a", "login u", "password b"]);
        assert_eq!(
            e.to_string(),
            "line 4: `password` is given twice in the entry for machine h (first on line 2)"
        );
        let e = netrc_error(&["default login a", "login b"]);
        assert_eq!(
            e.to_string(),
            "line 2: `login` is given twice in the default entry (first on line 1)"
        );
    }

    #[test]
    fn netrc_unclosed_quote() {
        let e = netrc_error(&["machine h", "password \"abc", "", "machine i"]);
        assert_eq!(e.line, 2);
        assert!(e.message.contains("never closed"), "{e}");
        // A backslash escaping the end of the file does not close it either.
        assert_eq!(
            parse_netrc("machine h password \"abc\\").unwrap_err().line,
            1
        );
        // A quoted value may span lines; the entry still starts where `machine` is.
        let found = parse_netrc("machine h password \"a\nb\"\nmachine i password c").unwrap();
        assert_eq!(found[0].password.expose_secret(), "a\nb");
        assert_eq!(found[1].line, 3);
    }

    // --- secrecy ---------------------------------------------------------------------

    const PLANTED: &str = "pLaNtEd-s3cret";

    fn assert_hidden(e: &ParseError) {
        let shown = format!("{e} / {e:?} / {}", e.message);
        assert!(!shown.contains(PLANTED), "leaked: {shown}");
        assert!(!shown.contains("pLaNtEd"), "leaked a fragment: {shown}");
    }

    #[test]
    fn values_never_appear_in_errors_or_debug() {
        let p = PLANTED;
        let pypirc_cases: Vec<Vec<String>> = vec![
            vec![format!("password = {p}")],
            vec!["[pypi]".into(), p.into()],
            vec!["[pypi]".into(), format!("{p} = x"), format!("{p} = y")],
            vec![
                "[pypi]".into(),
                format!("password = {p}"),
                format!("password = {p}"),
            ],
            vec!["[pypi]".into(), "password =".into(), format!("  {p}")],
            vec!["[pypi]".into(), format!("{p}: x"), format!("  {p}")],
            vec![format!("[{p}")],
            vec!["[pypi]".into(), format!("= {p}")],
        ];
        for lines in pypirc_cases {
            let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
            assert_hidden(&pypirc_error(&lines));
        }
        let netrc_cases: Vec<String> = vec![
            format!("password {p}"),
            format!("machine h password \"{p} but no end"),
            format!("machine h password {p} {p}"),
            format!("machine h password {p} password {p}"),
            format!("machine h login {p} login {p}"),
            format!("{p}"),
            format!("machine h account {p} account x"),
            format!("machine h password \"{p}\" stray"),
            format!("machine h password {p} login"),
        ];
        for text in netrc_cases {
            match parse_netrc(&text) {
                Ok(found) => panic!("expected an error for case {text:?}, found {found:?}"),
                Err(e) => assert_hidden(&e),
            }
        }
        // Successful parses show the values nowhere in their Debug output either.
        let found = parse_pypirc(&format!("[pypi]\npassword = {p}\n")).unwrap();
        assert_eq!(found[0].password.expose_secret(), p);
        assert!(!format!("{found:?}").contains("pLaNtEd"));
        let found = parse_netrc(&format!("machine h login u password \"{p}\"")).unwrap();
        assert_eq!(found[0].password.expose_secret(), p);
        assert!(!format!("{found:?}").contains("pLaNtEd"));
    }
}
