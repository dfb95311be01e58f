//! Secret references, `SCHEME:REST`: their syntax, shared by secd (which resolves them)
//! and by everything that reads config.toml or a repository's `.sec.toml`. How each scheme
//! is read, written and deleted is the daemon's (`vault/`).
//!
//! Error messages never repeat the text after the scheme: a user who pasted a token where a
//! reference belongs must not find it in a log.

use std::fmt;

/// A parsed secret reference. Its `Display` is the reference as the user wrote it. Each
/// variant holds its scheme's own type, so a backend receives only the references it serves.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reference {
    /// `keyring:SERVICE/ACCOUNT`: the OS keychain.
    Keyring(KeyringRef),
    /// `op://VAULT/ITEM/[SECTION/]FIELD`: 1Password, through `op read`.
    OnePassword(OpRef),
    /// `pass:PATH` or `pass:PATH#KEY`: the password-store.
    Pass(PassRef),
    /// `cmd:PROGRAM ARG...`: the output of a program, run without a shell.
    Command(CmdRef),
    /// `keyutils:NAME`: the Linux kernel's user keyring.
    Keyutils(KeyutilsRef),
    /// `local:NAME`: sec's own encrypted vault file.
    Local(LocalRef),
    /// `vault:PATH[#FIELD]`: OpenBao or HashiCorp Vault, over its HTTP API.
    Vault(VaultRef),
}

/// `keyring:SERVICE/ACCOUNT`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyringRef {
    pub service: String,
    pub account: String,
}

/// `op://VAULT/ITEM/[SECTION/]FIELD`, kept as written: `op read` takes it whole.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OpRef {
    pub uri: String,
}

/// `pass:PATH` or `pass:PATH#KEY`: an entry of the password-store (`pass show PATH`), its
/// first line or the value of its `KEY: value` line.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PassRef {
    pub path: String,
    pub key: Option<String>,
}

/// `cmd:PROGRAM ARG...`. `line` is the text after `cmd:` as written, `argv` its words.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CmdRef {
    pub line: String,
    pub argv: Vec<String>,
}

/// `keyutils:NAME`: a `user` key `sec:NAME` in the user keyring.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyutilsRef {
    pub name: String,
}

/// `local:NAME`: an entry of sec's own encrypted vault file.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LocalRef {
    pub name: String,
}

/// `vault:PATH[#FIELD]`: a read of PATH in OpenBao or Vault (`secret/pypi` for a KV v2
/// mount at `secret/`, `database/creds/app` for a dynamic credential), and the FIELD of its
/// data; without FIELD the data must have exactly one field.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VaultRef {
    pub path: String,
    pub field: Option<String>,
}

/// For each scheme's type: its `Display` (the reference as written, which every error names)
/// and `TryFrom<Reference>` (to pick one scheme's reference out of a parsed one).
macro_rules! scheme_type {
    ($variant:ident, $ty:ident, |$r:ident, $f:ident| $display:expr) => {
        impl fmt::Display for $ty {
            fn fmt(&self, $f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let $r = self;
                $display
            }
        }
        impl TryFrom<Reference> for $ty {
            type Error = Reference;
            fn try_from(reference: Reference) -> Result<Self, Reference> {
                match reference {
                    Reference::$variant(r) => Ok(r),
                    other => Err(other),
                }
            }
        }
    };
}

scheme_type!(Keyring, KeyringRef, |r, f| write!(
    f,
    "keyring:{}/{}",
    r.service, r.account
));
scheme_type!(OnePassword, OpRef, |r, f| f.write_str(&r.uri));
scheme_type!(Pass, PassRef, |r, f| match &r.key {
    None => write!(f, "pass:{}", r.path),
    Some(key) => write!(f, "pass:{}#{key}", r.path),
});
scheme_type!(Command, CmdRef, |r, f| write!(f, "cmd:{}", r.line));
scheme_type!(Keyutils, KeyutilsRef, |r, f| write!(
    f,
    "keyutils:{}",
    r.name
));
scheme_type!(Local, LocalRef, |r, f| write!(f, "local:{}", r.name));
scheme_type!(Vault, VaultRef, |r, f| match &r.field {
    None => write!(f, "vault:{}", r.path),
    Some(field) => write!(f, "vault:{}#{field}", r.path),
});

const KNOWN_SCHEMES: &str = "`keyring:SERVICE/ACCOUNT`, `op://VAULT/ITEM/FIELD`, `pass:PATH[#KEY]`, `keyutils:NAME`, `local:NAME`, `vault:PATH#FIELD`, `cmd:PROGRAM ARG...`";

impl Reference {
    /// Parses `SCHEME:REST`. Error messages never repeat the text after the scheme: a user
    /// who pasted a token where a reference belongs must not find it in a log.
    pub fn parse(text: &str) -> Result<Reference, String> {
        let literal_hint = "for a literal value write `{ value = \"...\" }`";
        let Some((scheme, rest)) = text.split_once(':') else {
            return Err(format!(
                "a string here is a secret reference (SCHEME:REST, e.g. {KNOWN_SCHEMES}); {literal_hint}"
            ));
        };
        match scheme {
            "keyring" => {
                let (service, account) = rest.split_once('/').unwrap_or((rest, ""));
                if service.is_empty() || account.is_empty() {
                    return Err("a keyring reference is `keyring:SERVICE/ACCOUNT`".into());
                }
                Ok(Reference::Keyring(KeyringRef {
                    service: service.into(),
                    account: account.into(),
                }))
            }
            "op" => {
                let path = rest.strip_prefix("//").unwrap_or("");
                let parts: Vec<&str> = path.split('/').collect();
                if parts.len() < 3 || parts.len() > 4 || parts.iter().any(|p| p.is_empty()) {
                    return Err(
                        "a 1Password reference is `op://VAULT/ITEM/FIELD` or `op://VAULT/ITEM/SECTION/FIELD`"
                            .into(),
                    );
                }
                Ok(Reference::OnePassword(OpRef { uri: text.into() }))
            }
            "pass" => parse_pass(rest),
            "cmd" => parse_cmd(rest),
            "keyutils" => parse_keyutils(rest),
            "local" => parse_local(rest),
            "vault" => parse_vault(rest),
            other if other.len() <= 12 && other.chars().all(|c| c.is_ascii_lowercase()) => Err(
                format!("unknown scheme `{other}`; known are {KNOWN_SCHEMES}; {literal_hint}"),
            ),
            _ => Err(format!(
                "a string here is a secret reference (SCHEME:REST, e.g. {KNOWN_SCHEMES}); {literal_hint}"
            )),
        }
    }

    /// Whether using this reference runs a program named by the reference itself (`cmd:`).
    /// Such references are accepted only from the user's own configuration: a repository's
    /// `.sec.toml` that could name one would run code of the repository's choosing.
    pub fn runs_program(&self) -> bool {
        matches!(self, Reference::Command(_))
    }

    /// Whether sec can only read this store (`op read`, a `cmd:` program): `sec set` and
    /// `sec rm` are refused for it.
    pub fn read_only(&self) -> bool {
        matches!(self, Reference::OnePassword(_) | Reference::Command(_))
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reference::Keyring(r) => r.fmt(f),
            Reference::OnePassword(r) => r.fmt(f),
            Reference::Pass(r) => r.fmt(f),
            Reference::Command(r) => r.fmt(f),
            Reference::Keyutils(r) => r.fmt(f),
            Reference::Local(r) => r.fmt(f),
            Reference::Vault(r) => r.fmt(f),
        }
    }
}

const PASS_SYNTAX: &str = "a pass reference is `pass:PATH` or `pass:PATH#KEY`, PATH an entry of the password store (e.g. `pass:pypi/coveragepy#username`)";

/// Parses the text after `pass:`. Errors never repeat the text.
fn parse_pass(rest: &str) -> Result<Reference, String> {
    let (path, key) = match rest.split_once('#') {
        Some((path, key)) => (path, Some(key)),
        None => (rest, None),
    };
    if path.is_empty() {
        return Err(format!("{PASS_SYNTAX}; its PATH is empty"));
    }
    if path.chars().any(char::is_control) {
        return Err(format!(
            "{PASS_SYNTAX}; its PATH contains control characters"
        ));
    }
    if path.starts_with('/') {
        return Err(format!(
            "{PASS_SYNTAX}; its PATH starts with `/`, but PATH is relative to the store"
        ));
    }
    if path.starts_with('-') {
        return Err(format!("{PASS_SYNTAX}; its PATH must not start with `-`"));
    }
    if path
        .split('/')
        .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Err(format!(
            "{PASS_SYNTAX}; its PATH has an empty, `.` or `..` component"
        ));
    }
    if let Some(key) = key {
        if key.is_empty() {
            return Err(format!("{PASS_SYNTAX}; the KEY after `#` is empty"));
        }
        if key.contains(':') || key.chars().any(char::is_control) || key.trim() != key {
            return Err(format!(
                "{PASS_SYNTAX}; its KEY must not contain `:`, control characters, or surrounding spaces"
            ));
        }
    }
    Ok(Reference::Pass(PassRef {
        path: path.to_string(),
        key: key.map(str::to_string),
    }))
}

const VAULT_SYNTAX: &str = "a vault reference is `vault:PATH#FIELD` or `vault:PATH`, PATH as the `bao`/`vault` CLI reads it (e.g. `vault:secret/pypi#token`, `vault:database/creds/app#username`)";

/// Parses the text after `vault:`. Errors never repeat the text.
fn parse_vault(rest: &str) -> Result<Reference, String> {
    let (path, field) = match rest.split_once('#') {
        Some((path, field)) => (path, Some(field)),
        None => (rest, None),
    };
    let path_ok = |c: char| c.is_ascii_alphanumeric() || "-_.@+=:".contains(c);
    if path.is_empty() {
        return Err(format!("{VAULT_SYNTAX}; its PATH is empty"));
    }
    if path.starts_with('/') || path.ends_with('/') {
        return Err(format!(
            "{VAULT_SYNTAX}; its PATH starts or ends with `/` (write it without, as `bao read` takes it)"
        ));
    }
    if path
        .split('/')
        .any(|c| c.is_empty() || c == "." || c == ".." || !c.chars().all(path_ok))
    {
        return Err(format!(
            "{VAULT_SYNTAX}; its PATH has an empty, `.` or `..` component, or a character other than letters, digits and `-_.@+=:`"
        ));
    }
    // `auth/` and `sys/` hold secd's own login (`auth/token/lookup-self` returns its token)
    // and the server's configuration, not secrets to hand to a command.
    let top = path.split('/').next().unwrap_or_default();
    if top == "auth" || top == "sys" {
        return Err(format!(
            "{VAULT_SYNTAX}; paths under `auth/` and `sys/` are refused: they hold secd's own token and the server's settings, not secrets for a command"
        ));
    }
    if let Some(field) = field
        && (field.is_empty() || field.chars().any(|c| c.is_control() || c == '#'))
    {
        return Err(format!(
            "{VAULT_SYNTAX}; the FIELD after `#` is empty or holds control characters"
        ));
    }
    Ok(Reference::Vault(VaultRef {
        path: path.to_string(),
        field: field.map(str::to_string),
    }))
}

const CMD_SYNTAX: &str =
    "a cmd reference is `cmd:PROGRAM ARG...` (e.g. `cmd:secret-tool lookup service pypi`)";

/// Parses the text after `cmd:`. Errors never repeat the text.
fn parse_cmd(line: &str) -> Result<Reference, String> {
    let argv = split_words(line)?;
    let Some(program) = argv.first() else {
        return Err(format!("{CMD_SYNTAX}; this one names no program"));
    };
    if program.is_empty() {
        return Err(format!("{CMD_SYNTAX}; its program name is empty"));
    }
    if program.contains('/') && !program.starts_with('/') {
        return Err(format!(
            "{CMD_SYNTAX}; its PROGRAM must be a name looked up on secd's PATH or an absolute path, not a relative path"
        ));
    }
    if argv.iter().any(|word| word.contains('\0')) {
        return Err(format!("{CMD_SYNTAX}; it contains a NUL character"));
    }
    Ok(Reference::Command(CmdRef {
        line: line.to_string(),
        argv,
    }))
}

/// Splits `line` into words like a POSIX shell, with quoting but no expansion (see the
/// module documentation). Error messages never repeat the text.
fn split_words(line: &str) -> Result<Vec<String>, String> {
    let shell_hint = "secd runs the program itself, without a shell: quote the character to pass it literally, or write `cmd:sh -c '...'`";
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err(format!("{CMD_SYNTAX}; it has an unterminated `'`")),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => word.push(c),
                            Some('\n') => {}
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => {
                                return Err(format!("{CMD_SYNTAX}; it has an unterminated `\"`"));
                            }
                        },
                        Some(c @ ('$' | '`')) => {
                            return Err(format!(
                                "{CMD_SYNTAX}; it has `{c}` inside double quotes, which a shell would expand and secd does not; use single quotes to pass it literally, or write `cmd:sh -c '...'`"
                            ));
                        }
                        Some(c) => word.push(c),
                        None => return Err(format!("{CMD_SYNTAX}; it has an unterminated `\"`")),
                    }
                }
            }
            '\\' => match chars.next() {
                Some('\n') => {}
                Some(c) => {
                    word.push(c);
                    in_word = true;
                }
                None => return Err(format!("{CMD_SYNTAX}; it ends with a lone backslash")),
            },
            '|' | '&' | ';' | '<' | '>' | '(' | ')' | '$' | '`' => {
                return Err(format!(
                    "{CMD_SYNTAX}; it has an unquoted `{c}`, which a shell would treat specially; {shell_hint}"
                ));
            }
            '~' | '#' if !in_word => {
                return Err(format!(
                    "{CMD_SYNTAX}; a word starts with an unquoted `{c}`, which a shell would treat specially; {shell_hint}"
                ));
            }
            c => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

pub const MAX_KEYUTILS_NAME: usize = 255;

/// Parses the text after `keyutils:`. Errors never repeat the text.
fn parse_keyutils(name: &str) -> Result<Reference, String> {
    let syntax = "a keyutils reference is `keyutils:NAME` (e.g. `keyutils:pypi/coveragepy`)";
    if name.is_empty() {
        return Err(format!("{syntax}; its NAME is empty"));
    }
    if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "{syntax}; its NAME must not contain spaces or control characters"
        ));
    }
    if name.len() > MAX_KEYUTILS_NAME {
        return Err(format!(
            "{syntax}; its NAME is longer than {MAX_KEYUTILS_NAME} bytes"
        ));
    }
    Ok(Reference::Keyutils(KeyutilsRef {
        name: name.to_string(),
    }))
}

/// Parses the text after `local:`: a non-empty name without control characters.
fn parse_local(rest: &str) -> Result<Reference, String> {
    if rest.is_empty() || rest.chars().any(char::is_control) || rest.trim() != rest {
        return Err("a local vault reference is `local:NAME`".into());
    }
    Ok(Reference::Local(LocalRef {
        name: rest.to_string(),
    }))
}

#[cfg(test)]
#[path = "reference_fuzz.rs"]
pub(crate) mod fuzz;

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        split_words(line).unwrap_or_else(|e| panic!("{line:?}: {e}"))
    }

    #[test]
    fn vault_references_name_a_path_and_a_field() {
        let r = Reference::parse("vault:secret/pypi#token").unwrap();
        assert_eq!(
            r,
            Reference::Vault(VaultRef {
                path: "secret/pypi".into(),
                field: Some("token".into())
            })
        );
        assert_eq!(r.to_string(), "vault:secret/pypi#token");
        assert!(!r.read_only());
        assert!(Reference::parse("op://V/i/f").unwrap().read_only());
        assert!(Reference::parse("cmd:true").unwrap().read_only());
        let whole = Reference::parse("vault:database/creds/app").unwrap();
        assert_eq!(whole.to_string(), "vault:database/creds/app");
        for bad in [
            "vault:",
            "vault:/secret/x",
            "vault:secret/x/",
            "vault:secret//x",
            "vault:secret/../sys/x",
            "vault:secret/x?list=true",
            "vault:secret/x y",
            "vault:secret/x#",
            "vault:auth/token/lookup-self#id",
            "vault:sys/wrapping/lookup",
        ] {
            let err = Reference::parse(bad).unwrap_err();
            assert!(err.contains("vault:PATH#FIELD"), "{bad}: {err}");
        }
    }

    #[test]
    fn splits_like_a_shell_without_expanding() {
        assert_eq!(
            words("secret-tool lookup service pypi"),
            ["secret-tool", "lookup", "service", "pypi"]
        );
        assert_eq!(words("  a \t b\n c  "), ["a", "b", "c"]);
        assert_eq!(words("a 'b c' \"d e\""), ["a", "b c", "d e"]);
        assert_eq!(words("x'y'\"z\"w"), ["xyzw"]);
        assert_eq!(words("a '' \"\""), ["a", "", ""]);
        assert_eq!(words(r"a\ b c\\d \'"), ["a b", r"c\d", "'"]);
        assert_eq!(words(r#""q\"x\\y\$z\`w\n""#), [r#"q"x\y$z`w\n"#]);
        assert_eq!(words("a \\\nb"), ["a", "b"]);
        assert_eq!(words("'$HOME | ; & `x` ~ #'"), ["$HOME | ; & `x` ~ #"]);
        assert_eq!(words("\"a | b ~ # ; ( )\""), ["a | b ~ # ; ( )"]);
        assert_eq!(words(r"a\|b \$X \~ \#"), ["a|b", "$X", "~", "#"]);
        assert_eq!(
            words("curl a#b x~y *.txt ?[]"),
            ["curl", "a#b", "x~y", "*.txt", "?[]"]
        );
        assert_eq!(words(""), Vec::<String>::new());
    }

    #[test]
    fn refuses_what_a_shell_would_treat_specially() {
        for line in [
            "pass show x | head -n1",
            "a && b",
            "a; b",
            "a > f",
            "a 2>/dev/null",
            "a <f",
            "echo $HOME",
            "echo ${X}",
            "echo `id`",
            "echo $(id)",
            "echo \"$HOME\"",
            "echo \"`id`\"",
            "cat ~/token",
            "a # comment",
            "a (b)",
        ] {
            let err = split_words(line).unwrap_err();
            assert!(
                err.contains("without a shell") || err.contains("expand"),
                "{line}: {err}"
            );
        }
        for line in ["a 'b", "a \"b", "a \"b\\", "a b\\"] {
            assert!(split_words(line).is_err(), "{line}");
        }
    }
}
