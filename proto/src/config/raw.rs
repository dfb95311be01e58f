//! config.toml and `.sec.toml` as serde reads them, with source positions; checked into
//! the public types by the parent module.

use super::*;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    #[serde(default)]
    pub(super) defaults: RawTtls,
    #[serde(default)]
    pub(super) local: RawLocal,
    #[serde(default)]
    pub(super) scope: Vec<Spanned<RawScope>>,
    #[serde(default)]
    pub(super) shield: RawShield,
    #[serde(default)]
    pub(super) untrusted: Vec<Spanned<RawUntrusted>>,
    pub(super) vault: Option<Spanned<super::vault::RawVault>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawShield {
    #[serde(default)]
    pub(super) hide_env: Vec<Spanned<String>>,
    #[serde(default)]
    pub(super) keep_env: Vec<Spanned<String>>,
    #[serde(default)]
    pub(super) hide: Vec<Spanned<String>>,
    #[serde(default)]
    pub(super) writable: Vec<Spanned<String>>,
    #[serde(default)]
    pub(super) allow: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawUntrusted {
    pub(super) dir: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLocal {
    pub(super) ttl: Option<Spanned<String>>,
    pub(super) max_ttl: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTtls {
    pub(super) ttl: Option<Spanned<String>>,
    pub(super) max_ttl: Option<Spanned<String>>,
    pub(super) askpass: Option<Spanned<String>>,
    pub(super) confirm_timeout: Option<Spanned<String>>,
    pub(super) on_leave: Option<OnLeave>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawScope {
    /// Required in config.toml, refused in a repository's `.sec.toml` (it is its own dir).
    pub(super) dir: Option<Spanned<String>>,
    pub(super) ttl: Option<Spanned<String>>,
    pub(super) max_ttl: Option<Spanned<String>>,
    pub(super) prompt: Option<bool>,
    pub(super) on_leave: Option<OnLeave>,
    pub(super) on_revoke: Option<OnRevoke>,
    pub(super) max_lease: Option<Spanned<String>>,
    pub(super) confirm: Option<bool>,
    pub(super) mask: Option<bool>,
    pub(super) commands: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    pub(super) env: BTreeMap<String, Spanned<toml::Value>>,
    pub(super) ssh_keys: Option<Spanned<Vec<Spanned<toml::Value>>>>,
    pub(super) git: Option<Spanned<BTreeMap<String, Spanned<super::credentials::RawGit>>>>,
}

/// The table form of a variable: `{ value = "..." }` (a literal) or `{ secret = "REF" }`,
/// each optionally with `as = "file"` and `name = "..."`; a secret also with `confirm`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawVarTable {
    pub(super) value: Option<String>,
    pub(super) secret: Option<String>,
    pub(super) confirm: Option<bool>,
    #[serde(rename = "as")]
    pub(super) delivery: Option<Delivery>,
    pub(super) name: Option<String>,
    /// The rules of a brokered secret (`config::broker`).
    pub(super) broker: Option<toml::Value>,
    pub(super) shape: Option<String>,
}

#[derive(Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(super) enum Delivery {
    Env,
    File,
}

/// One variable as parsed: its value and how it is delivered.
pub(super) struct ParsedVar {
    pub(super) value: Value,
    pub(super) confirm: bool,
    /// `Some(file name)` for `as = "file"`.
    pub(super) file: Option<String>,
    pub(super) broker: Option<toml::Value>,
    pub(super) shape: Option<String>,
}

/// A mistake found after TOML parsing, located by its byte span.
pub(super) struct Located {
    pub(super) span: Range<usize>,
    pub(super) message: String,
}

impl Located {
    pub(super) fn new(span: Range<usize>, message: impl fmt::Display) -> Self {
        Self {
            span,
            message: message.to_string(),
        }
    }
}
