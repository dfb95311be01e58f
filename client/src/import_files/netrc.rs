//! `~/.netrc`: the whitespace-separated format of ftp, curl and Python's `netrc`; read by
//! [`parse`], and [`word`] for writing one.

use secrecy::SecretString;
use zeroize::Zeroizing;

use super::{Credential, ParseError, make_names_unique, vault_name};

/// Parses a `.netrc`. Every `machine` or `default` entry with a non-empty `password`
/// yields a credential; `account` values are read and dropped, `macdef` bodies skipped.
///
/// Tokens are separated by whitespace. A token starting with `"` runs to the next
/// unescaped `"` and may hold whitespace; inside it `\c` stands for `c` (as Python's
/// `netrc`). Unquoted tokens are taken verbatim. A word starting with `#` where a keyword
/// is expected comments out the rest of its line. Stricter than the usual readers: a
/// keyword directly followed by another keyword (`login password x`) and a key given
/// twice in one entry are errors, not silently resolved.
pub fn parse(text: &str) -> Result<Vec<Credential>, ParseError> {
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
    /// The keyword an unquoted token spells.
    fn of(token: &Token) -> Option<Keyword> {
        if token.quoted {
            return None;
        }
        Keyword::spelled(&token.text)
    }

    /// The keyword `word` spells unquoted (`user` is Python's synonym for `login`).
    fn spelled(word: &str) -> Option<Keyword> {
        Some(match word {
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

/// `text` as one netrc token for a file sec writes: as it stands when it holds no
/// whitespace, quote or backslash, otherwise [`quote`]d.
pub fn word(text: &str) -> String {
    if !text.is_empty()
        && !text
            .chars()
            .any(|c| c.is_whitespace() || c == '"' || c == '\\')
    {
        return text.to_string();
    }
    quote(text)
}

/// `text` double-quoted with `\` and `"` escaped: one token, whatever it holds, to [`parse`]
/// and to Python's `netrc`.
pub fn quote(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

#[cfg(test)]
#[path = "netrc_fuzz.rs"]
mod fuzz;

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;
    use crate::import_files::tests::{PLANTED, assert_hidden, file, summary};

    fn netrc_error(lines: &[&str]) -> ParseError {
        match parse(&file(lines)) {
            Ok(found) => panic!("expected an error, found {found:?}"),
            Err(e) => e,
        }
    }

    pub(in crate::import_files) const NETRC_SAMPLE: &[&str] = &[
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
        let found = parse(&file(NETRC_SAMPLE)).unwrap();
        assert_eq!(
            summary(&found),
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
        let found = parse(text).unwrap();
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
        let found = parse(text).unwrap();
        assert_eq!(found[0].username.as_deref(), Some("u"));
        assert!(parse("").unwrap().is_empty());
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
            "3:1: `password` outside an entry; start one with `machine HOST` or `default`"
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
                format!("{line}:1: `{word}` at the end of the file has no value")
            );
        }
        // Without the final newline too.
        let e = parse("machine h password").unwrap_err();
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
        assert_eq!(e.to_string(), "2:1: `machine` with an empty host name");
    }

    #[test]
    fn netrc_key_given_twice() {
        let e = netrc_error(&["machine h", "password a", "login u", "password b"]);
        assert_eq!(
            e.to_string(),
            "4:1: `password` is given twice in the entry for machine h (first on line 2)"
        );
        let e = netrc_error(&["default login a", "login b"]);
        assert_eq!(
            e.to_string(),
            "2:1: `login` is given twice in the default entry (first on line 1)"
        );
    }

    #[test]
    fn netrc_unclosed_quote() {
        let e = netrc_error(&["machine h", "password \"abc", "", "machine i"]);
        assert_eq!(e.line, 2);
        assert!(e.message.contains("never closed"), "{e}");
        // A backslash escaping the end of the file does not close it either.
        assert_eq!(parse("machine h password \"abc\\").unwrap_err().line, 1);
        // A quoted value may span lines; the entry still starts where `machine` is.
        let found = parse("machine h password \"a\nb\"\nmachine i password c").unwrap();
        assert_eq!(found[0].password.expose_secret(), "a\nb");
        assert_eq!(found[1].line, 3);
    }

    #[test]
    fn words_are_quoted_when_they_need_it() {
        assert_eq!(word("plain"), "plain");
        assert_eq!(word("has space"), "\"has space\"");
        assert_eq!(word("q\"b\\s"), "\"q\\\"b\\\\s\"");
        for text in ["plain", "has space", "q\"b\\s", "", "a\nb"] {
            let found = parse(&format!("machine h password {}", word(text))).unwrap();
            if !text.is_empty() {
                assert_eq!(found[0].password.expose_secret(), text);
            }
        }
    }

    #[test]
    fn values_never_appear_in_errors_or_debug() {
        let p = PLANTED;
        let cases: Vec<String> = vec![
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
        for text in cases {
            match parse(&text) {
                Ok(found) => panic!("expected an error for case {text:?}, found {found:?}"),
                Err(e) => assert_hidden(&e),
            }
        }
        // A successful parse shows the value nowhere in its Debug output either.
        let found = parse(&format!("machine h login u password \"{p}\"")).unwrap();
        assert_eq!(found[0].password.expose_secret(), p);
        assert!(!format!("{found:?}").contains("pLaNtEd"));
    }
}
