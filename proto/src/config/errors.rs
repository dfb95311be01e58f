//! Config errors as the user reads them: `file:line:column`, what is wrong and what was
//! expected, never the offending text (it may be a token pasted in the wrong place).

use super::*;

pub(super) fn position_error(
    text: &str,
    path: &Path,
    span: Range<usize>,
    message: &str,
) -> ConfigError {
    let (line, column) = line_column(text, span.start);
    ConfigError {
        path: path.to_path_buf(),
        line,
        column,
        message: message.to_string(),
    }
}

/// A TOML error with its position and a message that never repeats the text at fault.
pub(super) fn toml_error(text: &str, path: &Path, error: &toml::de::Error) -> ConfigError {
    let span = error.span().unwrap_or(0..0);
    let mut message = safe_toml_message(error.message());
    if let Some(hint) = common_slip(text, span.start, &message) {
        message.push_str("; ");
        message.push_str(hint);
    }
    position_error(text, path, span, &message)
}

/// What a mistake that many make means, judged from the line it is on: `[scope]` for
/// `[[scope]]`, a bare number for a duration.
fn common_slip(text: &str, at: usize, message: &str) -> Option<&'static str> {
    let start = text.get(..at)?.rfind('\n').map_or(0, |i| i + 1);
    let line = text[start..].lines().next().unwrap_or("").trim();
    let key = line.split('=').next().unwrap_or("").trim();
    if message.contains("found a table; expected an array") {
        if line.starts_with("[scope]") {
            return Some("write [[scope]] (two brackets): each scope is one entry of a list");
        }
        if line.starts_with("[untrusted]") {
            return Some("write [[untrusted]] (two brackets): each one is an entry of a list");
        }
    }
    let durations = ["ttl", "max_ttl", "confirm_timeout", "max_lease"];
    if message.contains("found a number") && durations.contains(&key) {
        return Some("a duration is a string with its unit, such as \"15m\", \"1h\" or \"30s\"");
    }
    None
}

/// The words a message from toml may quote: the keys and values of the config's own schema.
pub(super) const SCHEMA_WORDS: &[&str] = &[
    "defaults",
    "local",
    "scope",
    "shield",
    "untrusted",
    "ttl",
    "max_ttl",
    "askpass",
    "confirm_timeout",
    "dir",
    "prompt",
    "on_leave",
    "on_revoke",
    "max_lease",
    "confirm",
    "commands",
    "env",
    "hide_env",
    "keep_env",
    "hide",
    "writable",
    "allow",
    "value",
    "secret",
    "as",
    "name",
    "file",
    "keep",
    "revoke",
    "terminate",
];

/// toml's (and serde's) message, rewritten so that it never repeats what the file says:
/// serde puts the offending value or key first (`invalid type: string "...", expected a
/// boolean`, `unknown field `...``, `unknown variant `...``); only what was expected, which
/// comes from the schema, is kept. Anything still quoted that is not a word of the schema
/// is left out.
pub(super) fn safe_toml_message(raw: &str) -> String {
    let raw = raw.trim();
    let (what, expected) = match raw.rsplit_once(", expected ") {
        Some((what, expected)) => (what, Some(expected)),
        None => (raw, None),
    };
    let what = if what.starts_with("unknown field") {
        "unknown key".to_string()
    } else if what.starts_with("unknown variant") {
        "unknown value".to_string()
    } else if let Some(found) = what.strip_prefix("invalid type: ") {
        format!("wrong type, found {}", type_phrase(found))
    } else if what.starts_with("invalid value") {
        "invalid value".to_string()
    } else if let Some((_, available)) = what.split_once("available keys: ") {
        format!("unknown key; the keys here are {available}")
    } else {
        what.to_string()
    };
    let message = match expected {
        Some(expected) => format!("{what}; expected {}", expected_phrase(expected)),
        None => what,
    };
    scrub_quoted(&message)
}

/// serde's description of a value (`string "..."`, `integer `5``, `map`) as a type alone.
pub(super) fn type_phrase(found: &str) -> &'static str {
    let kinds = [
        ("string", "a string"),
        ("integer", "a number"),
        ("floating point", "a number"),
        ("boolean", "true or false"),
        ("map", "a table"),
        ("sequence", "an array"),
        ("char", "a string"),
    ];
    kinds
        .iter()
        .find(|(word, _)| found.starts_with(word))
        .map_or("another type", |(_, phrase)| phrase)
}

/// serde's words for what it expected, in the words of a TOML file.
pub(super) fn expected_phrase(expected: &str) -> String {
    let expected = expected
        .replace("a sequence", "an array `[...]`")
        .replace("a map", "a table")
        .replace("a boolean", "true or false");
    match expected.strip_prefix("struct ") {
        Some(_) => "a table".to_string(),
        None => expected,
    }
}

/// Leaves out every `...` or "..." part that is not a schema word or punctuation.
pub(super) fn scrub_quoted(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(start) = rest.find(['`', '"']) {
        let quote = rest[start..].chars().next().unwrap_or('`');
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let Some(len) = quoted_len(after, quote) else {
            // An unmatched quote: nothing after it is trusted.
            out.push_str("(text not repeated)");
            return out;
        };
        let inner = &after[..len];
        let safe = SCHEMA_WORDS.contains(&inner) || !inner.chars().any(char::is_alphanumeric);
        if safe {
            out.push(quote);
            out.push_str(inner);
            out.push(quote);
        } else {
            out.push_str("(text not repeated)");
        }
        rest = &after[len + 1..];
    }
    out.push_str(rest);
    out
}

/// The length of a quoted part up to its closing `quote` (backslash escapes skipped).
pub(super) fn quoted_len(after: &str, quote: char) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in after.char_indices() {
        match c {
            '\\' if quote == '"' && !escaped => escaped = true,
            c if c == quote && !escaped => return Some(i),
            _ => escaped = false,
        }
    }
    None
}

/// 1-based line and column (in characters) of a byte offset.
pub(super) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}
