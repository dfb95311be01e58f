//! `.env` files as docker compose, python-dotenv and direnv's `dotenv` read them: one
//! `NAME=value` per line, an optional `export ` before it, `#` comments and blank lines,
//! values bare (trailing spaces and a ` #comment` dropped), in single quotes (as written)
//! or in double quotes (`\n`, `\t`, `\"`, `\\` escapes; may span lines). Every variable with
//! a value becomes a [`Credential`] named after it. Errors name lines, never values.

use super::{Credential, ParseError};

pub fn parse(text: &str) -> Result<Vec<Credential>, ParseError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines: Vec<&str> = text.lines().collect();
    let mut out: Vec<Credential> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let number = i + 1;
        let line = lines[i].trim_start();
        i += 1;
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").map_or(line, str::trim_start);
        let Some((name, rest)) = line.split_once('=') else {
            return Err(ParseError::new(number, "expected `NAME=value`"));
        };
        let name = name.trim_end();
        if name.is_empty()
            || name.starts_with(|c: char| c.is_ascii_digit())
            || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(ParseError::new(
                number,
                "the name before `=` is not a variable name (letters, digits and `_`)",
            ));
        }
        let rest = rest.trim_start();
        let value = match rest.chars().next() {
            Some('\'') => match rest[1..].find('\'') {
                Some(end) => rest[1..1 + end].to_string(),
                None => {
                    return Err(ParseError::new(
                        number,
                        format!("the single quote after {name}= is never closed"),
                    ));
                }
            },
            Some('"') => {
                let mut value = String::new();
                let mut text = rest[1..].to_string();
                loop {
                    match double_quoted(&text, &mut value) {
                        Some(()) => break,
                        None if i < lines.len() => {
                            value.push('\n');
                            text = lines[i].to_string();
                            i += 1;
                        }
                        None => {
                            return Err(ParseError::new(
                                number,
                                format!("the double quote after {name}= is never closed"),
                            ));
                        }
                    }
                }
                value
            }
            _ => {
                let bare = match rest.find(" #") {
                    Some(comment) => &rest[..comment],
                    None => rest,
                };
                bare.trim_end().to_string()
            }
        };
        if value.is_empty() {
            continue;
        }
        if let Some(first) = out.iter().find(|c| c.suggested_name == name) {
            return Err(ParseError::new(
                number,
                format!("{name} is set twice (first on line {})", first.line),
            ));
        }
        out.push(Credential {
            origin: format!(".env {name}"),
            suggested_name: name.to_string(),
            username: None,
            password: sec_proto::into_secret(value),
            repository: None,
            line: number,
        });
    }
    Ok(out)
}

/// Reads a double-quoted value from `text` into `value` up to its closing quote; `None`
/// when the line ends first (the value goes on on the next line).
fn double_quoted(text: &str, value: &mut String) -> Option<()> {
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(()),
            '\\' => match chars.next() {
                Some('n') => value.push('\n'),
                Some('t') => value.push('\t'),
                Some('r') => value.push('\r'),
                Some(other) => value.push(other),
                None => value.push('\\'),
            },
            other => value.push(other),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn values(text: &str) -> Vec<(String, String)> {
        parse(text)
            .unwrap()
            .into_iter()
            .map(|c| (c.suggested_name, c.password.expose_secret().to_string()))
            .collect()
    }

    #[test]
    fn reads_what_dotenv_reads() {
        let text = "# comment\n\nexport API_TOKEN=abc123\nBARE = spaced value  # note\nSINGLE='a $b \\n c'\nDOUBLE=\"x\\ny \\\"q\\\"\"\nMULTI=\"line1\nline2\"\nEMPTY=\n";
        assert_eq!(
            values(text),
            [
                ("API_TOKEN".into(), "abc123".into()),
                ("BARE".into(), "spaced value".into()),
                ("SINGLE".into(), "a $b \\n c".into()),
                ("DOUBLE".into(), "x\ny \"q\"".into()),
                ("MULTI".into(), "line1\nline2".into()),
            ]
        );
    }

    #[test]
    fn mistakes_name_their_line_never_the_value() {
        for (text, line) in [
            ("A=1\nnot a line with secret-xyz\n", 2),
            ("A='unclosed secret-xyz\n", 1),
            ("A=\"unclosed secret-xyz\n", 1),
            ("1A=secret-xyz\n", 1),
            ("A=1\nA=secret-xyz\n", 2),
        ] {
            let e = parse(text).unwrap_err();
            assert_eq!(e.line, line, "{text:?}: {e}");
            assert!(!e.to_string().contains("secret-xyz"), "{e}");
        }
    }
}
