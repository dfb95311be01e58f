//! Showing text that came from someone else (a repository's `.sec.toml`, a command line) on
//! the user's terminal: every character that could steer the terminal or hide what follows
//! it (escape sequences, carriage returns, backspaces, bidirectional overrides, zero-width
//! characters) is shown as an escape instead, so what the user reads is what is there.

/// `text` with control and invisible characters written as `\u{…}` (`\t`, `\n`, `\r` as
/// such). Plain text comes back unchanged.
pub fn visible(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() || is_invisible(c) => {
                out.push_str(&format!("\\u{{{:x}}}", c as u32));
            }
            c => out.push(c),
        }
    }
    out
}

/// Formatting characters that change how the text around them shows, or show as nothing.
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{200b}'..='\u{200f}' // zero-width space, joiners, LTR/RTL marks
        | '\u{2028}'..='\u{202e}' // separators, bidi embeddings and overrides
        | '\u{2060}'..='\u{2069}' // word joiner, invisible operators, bidi isolates
        | '\u{feff}' // zero-width no-break space
        | '\u{115f}' | '\u{1160}' | '\u{3164}' | '\u{ffa0}' // Hangul fillers
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_would_steer_the_terminal() {
        assert_eq!(visible("keyring:pypi/me"), "keyring:pypi/me");
        assert_eq!(visible("a\u{1b}[2K\rb"), "a\\u{1b}[2K\\rb");
        assert_eq!(visible("x\u{202e}gnp.exe"), "x\\u{202e}gnp.exe");
        assert_eq!(visible("tab\there\\"), "tab\\there\\\\");
        assert_eq!(visible("\u{7f}\u{9b}"), "\\u{7f}\\u{9b}");
        assert_eq!(visible("zero\u{200b}width"), "zero\\u{200b}width");
        assert_eq!(visible("é ü 日本"), "é ü 日本");
    }
}

/// `n` and the noun in the number it takes: `1 secret`, `2 secrets`, `0 leases`.
pub fn count(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

#[cfg(test)]
mod count_tests {
    #[test]
    fn counts_take_their_number() {
        assert_eq!(super::count(1, "secret", "secrets"), "1 secret");
        assert_eq!(super::count(0, "secret", "secrets"), "0 secrets");
        assert_eq!(super::count(3, "lease", "leases"), "3 leases");
    }
}
