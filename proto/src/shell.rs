//! Quoting text as one shell word. One rule per shell family, written once: the hook's
//! generated code, how both binaries show a command line, and the test fixtures' scripts all
//! quote through here.

/// `text` as one single-quoted word for a POSIX shell (sh, bash, zsh): inside single quotes
/// nothing is special but the quote itself, which is written `'\''` (close, escaped quote,
/// reopen).
pub fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// `text` as one single-quoted word for fish, where a backslash inside single quotes
/// escapes a quote or another backslash, so both are escaped.
pub fn quote_fish(text: &str) -> String {
    format!("'{}'", text.replace('\\', r"\\").replace('\'', r"\'"))
}

/// `text` as it stands when a POSIX shell would read it as one word unchanged (letters,
/// digits and `-_./=:@%+,`), otherwise [`quote`]d.
pub fn quote_if_needed(text: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./=:@%+,".contains(c);
    if !text.is_empty() && text.chars().all(plain) {
        text.to_string()
    } else {
        quote(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn posix_quotes_close_escape_and_reopen() {
        assert_eq!(quote("/opt/it's/sec"), r"'/opt/it'\''s/sec'");
        assert_eq!(quote(r"a\b $x"), r"'a\b $x'");
        assert_eq!(quote(""), "''");
    }

    #[test]
    fn fish_escapes_quotes_and_backslashes() {
        assert_eq!(quote_fish(r"/opt/it's\sec"), r"'/opt/it\'s\\sec'");
        assert_eq!(quote_fish("$x y"), "'$x y'");
    }

    #[test]
    fn plain_words_stay_as_they_are() {
        assert_eq!(quote_if_needed("twine"), "twine");
        assert_eq!(quote_if_needed("--repository=pypi"), "--repository=pypi");
        assert_eq!(quote_if_needed("two words"), "'two words'");
        assert_eq!(quote_if_needed("~"), "'~'");
        assert_eq!(quote_if_needed(""), "''");
    }

    /// What `sh` makes of the quoted word is the text, whatever it holds.
    #[cfg(unix)]
    #[test]
    fn sh_reads_a_quoted_word_back_unchanged() {
        for text in [
            "it's",
            r"\'",
            "'''",
            "a\nb",
            "$HOME `id` \"x\"",
            r#"\\'""#,
            "",
        ] {
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("printf %s {}", quote(text)))
                .output()
                .expect("cannot run sh");
            assert_eq!(String::from_utf8_lossy(&out.stdout), text);
        }
    }
}
