//! `~/.pypirc`: INI, read the way twine reads it with Python's `configparser`.

use secrecy::SecretString;

use super::{Credential, ParseError, make_names_unique, vault_name};

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
pub fn parse(text: &str) -> Result<Vec<Credential>, ParseError> {
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

#[cfg(test)]
#[path = "pypirc_fuzz.rs"]
mod fuzz;

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;
    use crate::import_files::tests::{PLANTED, assert_hidden, file, summary};

    fn pypirc_error(lines: &[&str]) -> ParseError {
        match parse(&file(lines)) {
            Ok(found) => panic!("expected an error, found {found:?}"),
            Err(e) => e,
        }
    }

    /// The sample of packaging.python.org's ".pypirc file" page (which twine's docs link),
    /// with token-shaped values, plus a keyring-only section.
    pub(in crate::import_files) const TWINE_SAMPLE: &[&str] = &[
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
        let found = parse(&file(TWINE_SAMPLE)).unwrap();
        assert_eq!(
            summary(&found),
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
        let found = parse(&text).unwrap();
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
        let found = parse(text).unwrap();
        assert_eq!(found[0].password.expose_secret(), "tok");
        assert!(parse("").unwrap().is_empty());
        assert!(parse("# only a comment\n\n").unwrap().is_empty());
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
            "3:1: expected `key = value` (or `key: value`) in section [pypi]"
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
            "6:1: `password` is set twice in section [pypi] (first on line 4)"
        );
    }

    #[test]
    fn pypirc_duplicate_section() {
        let e = pypirc_error(&["[pypi]", "password = a", "", "[pypi]", "password = b"]);
        assert_eq!(
            e.to_string(),
            "4:1: section [pypi] appears twice (first on line 1)"
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
        assert_eq!(parse(&ok).unwrap().len(), 1);
        // ...a continued password is not (configparser would make it a two-line value).
        let e = pypirc_error(&[
            "[pypi]",
            "username = __token__",
            "password =",
            "    pypi-tok",
        ]);
        assert_eq!(
            e.to_string(),
            "4:1: this indented line continues the value of `password` on line 3, and only \
             `index-servers` may span several lines; if it is a key of its own, indent it like \
             the line before"
        );
        // Nor is a key indented deeper than the one before it.
        let e = pypirc_error(&["[pypi]", "username = __token__", "  password = tok"]);
        assert_eq!(e.line, 3);
        // Keys indented alike are keys.
        let ok = file(&["[pypi]", "  username = __token__", "  password = tok"]);
        assert_eq!(parse(&ok).unwrap().len(), 1);
    }

    #[test]
    fn values_never_appear_in_errors_or_debug() {
        let p = PLANTED;
        let cases: Vec<Vec<String>> = vec![
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
        for lines in cases {
            let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
            assert_hidden(&pypirc_error(&lines));
        }
        // A successful parse shows the value nowhere in its Debug output either.
        let found = parse(&format!("[pypi]\npassword = {p}\n")).unwrap();
        assert_eq!(found[0].password.expose_secret(), p);
        assert!(!format!("{found:?}").contains("pLaNtEd"));
    }
}
