//! Telling a pasted token from a name. Where sec expects a name (the NAME of `sec set`, a
//! variable name, an entry of `commands`, a file name) and gets something that looks like a
//! credential, it refuses without repeating it: a token typed into the wrong place must not
//! end up in an error, a log, `sec status` or the audit log.
//!
//! The test is a heuristic, tuned to miss no real token shape while leaving names alone
//! (`pypi/coveragepy`, `GITHUB_TOKEN`, `npm-publish`): a text is taken for a token when one
//! of its words (runs of letters, digits and `-_.+=`)
//! - starts with a prefix that services put on their tokens (`ghp_`, `pypi-`, `glpat-`,
//!   `xox?-`, `sk-`, `npm_`, ...) followed by at least 16 more characters that look random
//!   (digits, and capitals or a frequent change of kind), or is an AWS access key id
//!   (`AKIA`/`ASIA` and 16 capitals or digits);
//! - is 32 or more hexadecimal digits (dashes aside) with letters and digits (API keys,
//!   UUIDs, old GitHub tokens);
//! - is 24 or more characters of mixed capitals, small letters and digits with the spread
//!   of random text (more than 4 bits of entropy per character, the kind of character
//!   changing at almost every other step); with `/` inside, 40 or more (an AWS secret key);
//! - is longer than 64 characters and holds letters and digits (no name is that long, a
//!   PyPI token is over 150).

/// What `sec set`, `sec rm` and secd say to a reference that looks like a token.
pub const REFUSAL: &str = "the name looks like a token (a known token prefix, or long random text), so it was not used and is not repeated here; give the secret a name (`sec set pypi/coveragepy`) and paste the token when asked for the value";

/// Prefixes that services put on the tokens they issue.
const TOKEN_PREFIXES: &[&str] = &[
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "ghr_",
    "github_pat_",
    "glpat-",
    "gldt-",
    "glrt-",
    "glptt-",
    "pypi-",
    "npm_",
    "xoxa-",
    "xoxb-",
    "xoxe-",
    "xoxp-",
    "xoxr-",
    "xoxs-",
    "xapp-",
    "sk-",
    "sk_live_",
    "sk_test_",
    "rk_live_",
    "pk_live_",
    "hf_",
    "AIza",
    "dop_v1_",
    "shpat_",
    "shpss_",
    "SG.",
    "ya29.",
    "eyJ",
    "dckr_pat_",
];

/// Whether `text` (a name, a reference, a key) looks like a pasted credential.
pub fn looks_like_token(text: &str) -> bool {
    let words = |also: &'static str| {
        text.split(move |c: char| {
            !(c.is_ascii_alphanumeric() || "-_.+=".contains(c) || also.contains(c))
        })
        .filter(|word| !word.is_empty())
    };
    // Base64 secrets (an AWS secret access key) may hold `/`, which also separates names.
    words("").any(word_looks_like_token)
        || words("/").any(|word| word.len() >= 40 && looks_random(word))
}

fn word_looks_like_token(word: &str) -> bool {
    let has_digit = word.bytes().any(|b| b.is_ascii_digit());
    let has_letter = word.bytes().any(|b| b.is_ascii_alphabetic());
    // What follows a prefix is random: capitals in it, or digits and letters mixed (not
    // `sk-deploy-2024-production`).
    let prefixed = TOKEN_PREFIXES.iter().any(|prefix| {
        word.strip_prefix(prefix).is_some_and(|rest| {
            rest.len() >= 16
                && rest.bytes().any(|b| b.is_ascii_digit())
                && (rest.bytes().any(|b| b.is_ascii_uppercase())
                    || kind_changes(rest.as_bytes()) >= 0.3)
        })
    });
    prefixed
        || is_aws_key_id(word)
        || is_long_hex(word)
        || (word.len() >= 24 && looks_random(word))
        || (word.len() > 64 && has_digit && has_letter)
}

/// `AKIA` (or `ASIA`, temporary) and 16 capitals or digits.
fn is_aws_key_id(word: &str) -> bool {
    (word.starts_with("AKIA") || word.starts_with("ASIA"))
        && word.len() == 20
        && word[4..]
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// 32 or more hexadecimal digits, dashes aside, with both letters and digits.
fn is_long_hex(word: &str) -> bool {
    let hex: Vec<u8> = word.bytes().filter(|b| *b != b'-').collect();
    hex.len() >= 32
        && hex.iter().all(u8::is_ascii_hexdigit)
        && hex.iter().any(u8::is_ascii_digit)
        && hex.iter().any(u8::is_ascii_alphabetic)
}

/// Capitals, small letters and digits all present, and characters spread like random text:
/// more than 4 bits of entropy per character, and the kind of character (capital, small,
/// digit, other) changing at almost every other step. `CamelCaseWords2024` changes kind
/// only at word boundaries, random text at about 6 steps in 10.
fn looks_random(word: &str) -> bool {
    let bytes = word.as_bytes();
    let classes = [
        bytes.iter().any(u8::is_ascii_uppercase),
        bytes.iter().any(u8::is_ascii_lowercase),
        bytes.iter().any(u8::is_ascii_digit),
    ];
    classes.iter().all(|present| *present)
        && entropy_bits_per_char(bytes) > 4.0
        && kind_changes(bytes) >= 0.45
}

/// The share of neighbouring characters that are of different kinds.
fn kind_changes(bytes: &[u8]) -> f64 {
    let kind = |b: &u8| {
        if b.is_ascii_uppercase() {
            0
        } else if b.is_ascii_lowercase() {
            1
        } else if b.is_ascii_digit() {
            2
        } else {
            3
        }
    };
    let changes = bytes
        .windows(2)
        .filter(|w| kind(&w[0]) != kind(&w[1]))
        .count();
    changes as f64 / (bytes.len().max(2) - 1) as f64
}

/// Shannon entropy of the byte distribution, in bits per byte.
fn entropy_bits_per_char(bytes: &[u8]) -> f64 {
    let mut counts = [0u32; 256];
    for b in bytes {
        counts[usize::from(*b)] += 1;
    }
    let total = bytes.len() as f64;
    counts
        .iter()
        .filter(|n| **n > 0)
        .map(|n| {
            let p = f64::from(*n) / total;
            -p * p.log2()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_token_shapes_are_recognised() {
        for token in [
            "ghp_Qa7jsyMW2jQt3Jr1HxkWUlVaW1deQdTqHbGh",
            "github_pat_11ABCDEFG0abcdefghijkl_mnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUV",
            "pypi-AgEIcHlwaS5vcmcCJDk3ZTQ1NjYzLWNhbmFyeS00ZGQ2Yi04",
            "glpat-Xq3vB9sK2mN7pL4wR8tY",
            "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
            "sk-proj-abcDEF123ghiJKL456mnoPQR789",
            "npm_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8",
            "AKIAIOSFODNN7EXAMPLE",
            "hf_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789",
            "xoxp-1234-5678-9012-0a1b2c3d4e5f60718293a4b5c6d7e8f9",
            "0123456789abcdef0123456789abcdef01234567",
            "550e8400-e29b-41d4-a716-446655440000",
            "j8Kd0Qx/Lm3vT9pZr2Wn+Yb5Hc7Fg1Es4Da6Uo0B",
            "Zx8Qm2Lp9Vt4Rk7Wn3Yb6Hc1",
        ] {
            assert!(looks_like_token(token), "{token}");
            for wrapped in [
                format!("pypi/{token}"),
                format!("keyring:{token}"),
                format!("local:x/{token}"),
            ] {
                assert!(looks_like_token(&wrapped), "{wrapped}");
            }
        }
    }

    #[test]
    fn random_text_is_recognised_without_a_prefix() {
        // xorshift: the same strings at every run.
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        for (len, at_least) in [(32, 95), (40, 95), (64, 98)] {
            let found = (0..1000)
                .filter(|_| {
                    let word: String = (0..len)
                        .map(|_| alphabet[(next() % 62) as usize] as char)
                        .collect();
                    looks_like_token(&word)
                })
                .count();
            assert!(found >= at_least * 10, "{len}: {found} of 1000");
        }
    }

    #[test]
    fn names_are_left_alone() {
        for name in [
            "pypi/coveragepy",
            "keyring:pypi/coveragepy",
            "local:pypi/demo",
            "op://Private/GitHub/credential",
            "pass:pypi/coveragepy#username",
            "pypi-coveragepy-release-token",
            "npm_publish",
            "sk-prod",
            "GITHUB_TOKEN",
            "AWS_SECRET_ACCESS_KEY",
            "TWINE_PASSWORD",
            "AKIA_ROTATION_2024",
            "CoveragePy2024Release",
            "my_service/account_name_2024",
            "twine upload",
            "python -m twine",
            "/usr/bin/ssh-askpass",
            ".pypirc",
            "netrc/github.com",
            "crates.io/publish",
            "a-very-long-project-name-for-publishing-wheels",
            "GitHubActionsDeployToken2",
            "sk-deploy-2024-production",
            "pypi-release-2024-coveragepy",
            "MyCompanyDeployKey2024Prod",
            "pypi/CoveragePy2024Release",
            "/home/user/Projects2024/MyApp/bin/Askpass",
        ] {
            assert!(!looks_like_token(name), "{name}");
        }
    }
}
