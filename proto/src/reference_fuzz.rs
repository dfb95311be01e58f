//! Fuzzing `Reference::parse` (with the `cmd:` word splitter) on generated and mutated
//! references. Replay a failure with the command its report prints.

use sec_fuzz::{MARKER, Rng, scramble};

use super::*;

/// Every reference the unit tests, the README and the docs use, and some that are not.
const SEEDS: &[&str] = &[
    "keyring:pypi/coveragepy",
    "keyring:svc/a/b",
    "keyring:pypi",
    "op://Private/GitHub/credential",
    "op://Private/GitHub/section/credential",
    "op:Private/GitHub/x",
    "pass:pypi/coveragepy",
    "pass:pypi/coveragepy#username",
    "pass:web/my site#security question #1",
    "pass:a/../b",
    "cmd:secret-tool lookup service pypi",
    "cmd:security find-generic-password -w",
    "cmd:sh -c 'pass show x | head -n1'",
    "cmd:a 'b c' \"d e\" f\\ g",
    r#"cmd:"q\"x\\y\$z\`w\n""#,
    "cmd:a \\\nb",
    "keyutils:pypi/coveragepy",
    "keyutils:a:b",
    "local:github-token",
    "local:pypi/coveragepy",
    "vault:a/b",
    "vault:secret/pypi#token",
    "vault:database/creds/app#password",
    "pypi-AgEIcHlwaS5vcmcCJDQ",
    "ghp_Secret123:morestuff",
    "Token:xyz",
];

pub(crate) const DICTIONARY: &[&str] = &[
    "keyring:",
    "op://",
    "pass:",
    "cmd:",
    "keyutils:",
    "local:",
    "vault:",
    "/",
    "//",
    "#",
    "'",
    "\"",
    "\\",
    "$",
    "`",
    "|",
    "&",
    ";",
    "<",
    ">",
    "(",
    ")",
    "~",
    " ",
    "\t",
    "\n",
    "\\\n",
    ".",
    "..",
    "-",
    "sh -c '",
    MARKER,
];

/// A part of a reference: a word, the planted secret, or a character a parser cares about.
fn part(rng: &mut Rng) -> String {
    match rng.below(8) {
        0 => MARKER.to_owned(),
        1 => rng.pick(DICTIONARY).to_string(),
        2 => String::new(),
        _ => rng.word(),
    }
}

/// A reference of one of the schemes, valid more often than not, often holding [`MARKER`].
pub(crate) fn reference(rng: &mut Rng) -> String {
    match rng.below(8) {
        0 => format!("keyring:{}/{}", part(rng), path(rng, 1)),
        1 => format!("op://{}", path(rng, 2)),
        2 => match rng.below(2) {
            0 => format!("pass:{}", path(rng, 1)),
            _ => format!("pass:{}#{}", path(rng, 1), part(rng)),
        },
        3 | 4 => format!("cmd:{}", command_line(rng)),
        5 => format!("keyutils:{}", path(rng, 1)),
        6 => format!("local:{}", part(rng)),
        _ => format!("{}:{}", rng.word().to_lowercase(), part(rng)),
    }
}

/// At least `min` parts joined by `/`.
fn path(rng: &mut Rng, min: usize) -> String {
    let n = min + rng.size(3);
    (0..n).map(|_| part(rng)).collect::<Vec<_>>().join("/")
}

/// Words as a shell would quote them: plain, single, double or backslash quoted.
fn command_line(rng: &mut Rng) -> String {
    let words: Vec<String> = (0..rng.size(5))
        .map(|_| {
            let word = part(rng);
            match rng.below(5) {
                0 => format!("'{word}'"),
                1 => {
                    let escaped: String = word
                        .chars()
                        .flat_map(|c| match c {
                            '\\' | '"' => vec!['\\', c],
                            c => vec![c],
                        })
                        .collect();
                    format!("\"{escaped}\"")
                }
                2 => word.chars().flat_map(|c| ['\\', c]).collect::<String>(),
                _ => word,
            }
        })
        .collect();
    let separator = *rng.pick(&[" ", "  ", "\t", "\n", " \\\n"]);
    words.join(separator)
}

fn generate(rng: &mut Rng) -> String {
    let text = sec_fuzz::text_case(rng, SEEDS, DICTIONARY, reference);
    if rng.one_in(2) {
        return text;
    }
    // Half the time a known scheme: the text after it is what takes the parsers' paths.
    let scheme = rng.pick(&["keyring", "op", "pass", "cmd", "keyutils", "local"]);
    let rest = text.split_once(':').map_or(text.as_str(), |(_, rest)| rest);
    format!("{scheme}:{rest}")
}

fn check(text: &str) {
    match Reference::parse(text) {
        Ok(reference) => {
            assert_eq!(
                reference.to_string(),
                *text,
                "Display is the reference as written"
            );
            assert_eq!(
                Reference::parse(&reference.to_string()).as_ref(),
                Ok(&reference)
            );
            if let Reference::Command(CmdRef { argv, line }) = &reference {
                assert!(!argv.is_empty(), "a cmd reference names a program");
                assert_eq!(split_words(line).as_ref(), Ok(argv));
                // What `sec` and secd show of a command reads back as the same words.
                assert_eq!(split_words(&crate::shell_words(argv)).as_ref(), Ok(argv));
            }
            assert_eq!(
                reference.runs_program(),
                matches!(reference, Reference::Command(_))
            );
        }
        Err(message) => {
            // Never repeats the text after the scheme (all of it without one): not the
            // planted value, and not any letter or digit of it (other letters and digits
            // give the same message).
            let (other, rest) = match text.split_once(':') {
                Some((scheme, rest)) => (format!("{scheme}:{}", scramble(rest)), rest),
                None => (scramble(text), text),
            };
            assert!(
                !(rest.contains(MARKER) && message.contains(MARKER)),
                "{message}"
            );
            assert_eq!(Reference::parse(&other), Err(message), "{other:?}");
        }
    }
}

#[test]
fn fuzz_reference_parse() {
    sec_fuzz::run("fuzz_reference_parse", 50_000, generate, check);
}
