//! The user's `config.toml`: defaults and scopes, parsed with source positions so every
//! mistake is reported as `file:line:column: what is wrong`.
//!
//! ```toml
//! [defaults]
//! ttl = "15m"          # idle: reset on each use
//! max_ttl = "8h"       # hard cap from the moment of lookup
//!
//! [[scope]]
//! dir = "~/src/coveragepy"
//! ttl = "10m"
//! [scope.env]
//! TWINE_USERNAME = { value = "__token__" }           # a literal
//! TWINE_PASSWORD = "keyring:pypi/coveragepy"         # a reference: SCHEME:REST
//!
//! [shield]                       # `sec shield`: what passes besides its defaults
//! keep_env = ["CORP_MIRROR"]     # variable name patterns that pass, `*` matches any run
//! hide_env = ["RUST_LOG"]        # patterns that never pass, also from the built-in list
//! allow = ["~/.gitconfig"]       # shown read-only in the otherwise empty $HOME
//! writable = ["~/.cache/pip"]    # shown writable
//! hide = ["/srv/corp/keys"]      # covered where visible; `*` may end the last component
//!
//! [[untrusted]]                  # `sec exec` refuses here; run code with `sec shield`
//! dir = "~/bugs"
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::Range;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::reference::Reference;
use crate::token::looks_like_token;

/// The end of a sentence about a value that looks like a pasted credential.
const TOKEN_HINT: &str = "looks like a token; it is not repeated here. Keep tokens in a vault (`sec set NAME`) and reference them from [scope.env]";

pub const DEFAULT_TTL: Duration = Duration::from_secs(15 * 60);
pub const DEFAULT_MAX_TTL: Duration = Duration::from_secs(8 * 60 * 60);
/// The longest duration a setting may have: `100y` (humantime's years of 365.25 days).
/// The cache and the leases add durations to the clock, which panics far beyond that.
pub const MAX_DURATION: Duration = Duration::from_secs(100 * 31_557_600);

/// A parsed, valid configuration.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub defaults: Defaults,
    /// `[local]`: how long the local vault stays unlocked.
    pub local: LocalSettings,
    pub scopes: Vec<Scope>,
    /// `[shield]`: the user's additions to `sec shield`'s built-in lists.
    pub shield: ShieldSettings,
    /// `[[untrusted]]` directories (absolute, symlinks resolved where they exist).
    pub untrusted: Vec<PathBuf>,
}

/// `[shield]`: the user's additions to what `sec shield` shows and hides.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShieldSettings {
    /// Variable name patterns the child never gets (`*` matches any run of characters).
    pub hide_env: Vec<String>,
    /// Patterns the child gets besides the built-in harmless ones.
    pub keep_env: Vec<String>,
    /// Absolute paths to hide; the last component may hold `*`.
    pub hide: Vec<PathBuf>,
    /// Absolute paths that stay writable.
    pub writable: Vec<PathBuf>,
    /// Absolute paths shown read-only (under $HOME, which the shield otherwise empties).
    pub allow: Vec<PathBuf>,
}

/// The local vault's idle TTL (reset on each use) and hard maximum from its unlock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalSettings {
    pub ttl: Duration,
    pub max_ttl: Duration,
}

impl Default for LocalSettings {
    fn default() -> Self {
        Self {
            ttl: DEFAULT_TTL,
            max_ttl: DEFAULT_MAX_TTL,
        }
    }
}

/// `[defaults]`: the TTLs of scopes that do not set their own.
#[derive(Debug, Clone)]
pub struct Defaults {
    pub ttl: Duration,
    pub max_ttl: Duration,
    /// The program secd runs to ask the user's confirmation (SSH_ASKPASS convention).
    pub askpass: Option<String>,
    /// How long a confirmation may take before the lease is refused.
    pub confirm_timeout: Duration,
}

pub const DEFAULT_CONFIRM_TIMEOUT: Duration = Duration::from_secs(30);

impl Default for Defaults {
    fn default() -> Self {
        Self {
            ttl: DEFAULT_TTL,
            max_ttl: DEFAULT_MAX_TTL,
            askpass: None,
            confirm_timeout: DEFAULT_CONFIRM_TIMEOUT,
        }
    }
}

/// One directory (and everything below it) and the variables its commands get.
#[derive(Debug, Clone)]
pub struct Scope {
    /// Absolute, symlinks resolved where the directory exists.
    pub dir: PathBuf,
    pub ttl: Duration,
    pub max_ttl: Duration,
    /// Whether the shell hook offers to unlock the scope on `cd` into it.
    pub prompt: bool,
    pub on_leave: OnLeave,
    pub on_revoke: OnRevoke,
    /// A lease that lasts longer is treated as revoked.
    pub max_lease: Option<Duration>,
    /// Variables whose every lease needs the user's yes (all of them with `confirm = true`).
    pub confirm: BTreeSet<String>,
    /// When not empty, only commands whose argv starts with one of these get the secrets.
    pub commands: Vec<Vec<String>>,
    /// Variables delivered as a file (`as = "file"`), with the file's name.
    pub files: BTreeMap<String, String>,
    pub env: BTreeMap<String, Value>,
}

/// What happens to a running child when its lease is revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnRevoke {
    /// `sec` stops the child: SIGTERM, SIGKILL after a grace period.
    #[default]
    Terminate,
    /// The child finishes with what it already has.
    Keep,
}

/// What the shell hook does when the user `cd`s out of the scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnLeave {
    /// Leave the cache alone; the TTLs end it.
    #[default]
    Keep,
    /// Revoke the scope at once.
    Revoke,
}

/// Where a scope was written: the user's own config may run programs to get secrets
/// (`cmd:`), a repository file may not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    UserConfig,
    Repository,
}

/// The file name of a repository's own scope file.
pub const REPO_FILE: &str = ".sec.toml";

/// What a variable receives: a literal written in the config, or a secret looked up in a vault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Literal(String),
    Secret(Reference),
}

/// A config mistake with its position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{line}:{column}: {message}", path.display())]
pub struct ConfigError {
    pub path: PathBuf,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    defaults: RawTtls,
    #[serde(default)]
    local: RawLocal,
    #[serde(default)]
    scope: Vec<Spanned<RawScope>>,
    #[serde(default)]
    shield: RawShield,
    #[serde(default)]
    untrusted: Vec<Spanned<RawUntrusted>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawShield {
    #[serde(default)]
    hide_env: Vec<Spanned<String>>,
    #[serde(default)]
    keep_env: Vec<Spanned<String>>,
    #[serde(default)]
    hide: Vec<Spanned<String>>,
    #[serde(default)]
    writable: Vec<Spanned<String>>,
    #[serde(default)]
    allow: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUntrusted {
    dir: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawLocal {
    ttl: Option<Spanned<String>>,
    max_ttl: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawTtls {
    ttl: Option<Spanned<String>>,
    max_ttl: Option<Spanned<String>>,
    askpass: Option<Spanned<String>>,
    confirm_timeout: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScope {
    /// Required in config.toml, refused in a repository's `.sec.toml` (it is its own dir).
    dir: Option<Spanned<String>>,
    ttl: Option<Spanned<String>>,
    max_ttl: Option<Spanned<String>>,
    prompt: Option<bool>,
    on_leave: Option<OnLeave>,
    on_revoke: Option<OnRevoke>,
    max_lease: Option<Spanned<String>>,
    confirm: Option<bool>,
    commands: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    env: BTreeMap<String, Spanned<toml::Value>>,
}

/// The table form of a variable: `{ value = "..." }` (a literal) or `{ secret = "REF" }`,
/// each optionally with `as = "file"` and `name = "..."`; a secret also with `confirm`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVarTable {
    value: Option<String>,
    secret: Option<String>,
    confirm: Option<bool>,
    #[serde(rename = "as")]
    delivery: Option<Delivery>,
    name: Option<String>,
}

#[derive(Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum Delivery {
    Env,
    File,
}

/// One variable as parsed: its value and how it is delivered.
struct ParsedVar {
    value: Value,
    confirm: bool,
    /// `Some(file name)` for `as = "file"`.
    file: Option<String>,
}

/// A mistake found after TOML parsing, located by its byte span.
struct Located {
    span: Range<usize>,
    message: String,
}

impl Located {
    fn new(span: Range<usize>, message: impl fmt::Display) -> Self {
        Self {
            span,
            message: message.to_string(),
        }
    }
}

/// The largest config.toml sec reads.
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;
/// The largest repository `.sec.toml` sec reads.
pub const MAX_REPO_FILE_BYTES: u64 = 64 << 10;

/// Reads a text file of at most `limit` bytes. A larger one is an error that says so, and
/// is not read at all (a sparse file of a gigabyte costs nothing but a stat).
pub fn read_bounded(path: &Path, limit: u64) -> std::io::Result<String> {
    use std::io::Read;
    let file = std::fs::File::open(path)?;
    let too_large = |size: u64| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "it has {size} bytes, more than the {} KiB sec reads",
                limit / 1024
            ),
        )
    };
    let size = file.metadata()?.len();
    if size > limit {
        return Err(too_large(size));
    }
    let mut text = String::new();
    // The file may grow between the stat and the read.
    file.take(limit + 1).read_to_string(&mut text)?;
    if text.len() as u64 > limit {
        return Err(too_large(text.len() as u64));
    }
    Ok(text)
}

impl Config {
    /// Reads `path`. A missing file is an empty config (no scopes), not an error.
    pub fn load(path: &Path, home: &Path) -> Result<Config, ConfigError> {
        match read_bounded(path, MAX_CONFIG_BYTES) {
            Ok(text) => Config::parse(&text, path, home),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
            Err(e) => Err(ConfigError {
                path: path.to_path_buf(),
                line: 0,
                column: 0,
                message: format!("cannot read the file: {e}"),
            }),
        }
    }

    /// Parses config text; `path` is only used in error messages, `home` expands `~`.
    pub fn parse(text: &str, path: &Path, home: &Path) -> Result<Config, ConfigError> {
        let located = |l: Located| position_error(text, path, l.span, &l.message);
        let raw: RawConfig = toml::from_str(text).map_err(|e| toml_error(text, path, &e))?;
        let default_ttl = duration_or(raw.defaults.ttl.as_ref(), DEFAULT_TTL).map_err(located)?;
        let confirm_timeout = duration_or(
            raw.defaults.confirm_timeout.as_ref(),
            DEFAULT_CONFIRM_TIMEOUT,
        )
        .map_err(located)?;
        let default_max =
            duration_or(raw.defaults.max_ttl.as_ref(), DEFAULT_MAX_TTL).map_err(located)?;
        if let Some(askpass) = &raw.defaults.askpass
            && looks_like_token(askpass.get_ref())
        {
            return Err(located(Located::new(
                askpass.span(),
                format!("`askpass` names a program, but this {TOKEN_HINT}"),
            )));
        }
        let mut scopes: Vec<Scope> = Vec::with_capacity(raw.scope.len());
        // Where each scope's `dir` is written, to name the first of two for the same directory.
        let mut dir_spans: Vec<Range<usize>> = Vec::with_capacity(raw.scope.len());
        for raw_scope in raw.scope {
            let span = raw_scope.span();
            let raw_scope = raw_scope.into_inner();
            let Some(dir) = &raw_scope.dir else {
                return Err(located(Located::new(
                    span,
                    "a [[scope]] needs `dir = \"...\"`",
                )));
            };
            let dir_span = dir.span();
            let dir = scope_dir(dir, home).map_err(located)?;
            let scope = build_scope(raw_scope, dir, default_ttl, default_max, Origin::UserConfig)
                .map_err(located)?;
            if let Some(first) = scopes.iter().position(|s| s.dir == scope.dir) {
                let (line, _) = line_column(text, dir_spans[first].start);
                let message = format!(
                    "this [[scope]] is for the same directory as the one at line {line}; merge them into one [[scope]]"
                );
                return Err(position_error(text, path, dir_span, &message));
            }
            scopes.push(scope);
            dir_spans.push(dir_span);
        }
        let shield = shield_settings(&raw.shield, home).map_err(located)?;
        let mut untrusted = Vec::with_capacity(raw.untrusted.len());
        for entry in &raw.untrusted {
            let Some(dir) = &entry.get_ref().dir else {
                return Err(located(Located::new(
                    entry.span(),
                    "an [[untrusted]] needs `dir = \"...\"`",
                )));
            };
            let dir = absolute_path(dir, home, "untrusted dir").map_err(located)?;
            untrusted.push(canonical_or_normal(&dir));
        }
        Ok(Config {
            defaults: Defaults {
                ttl: default_ttl,
                max_ttl: default_max,
                askpass: raw.defaults.askpass.as_ref().map(|a| a.get_ref().clone()),
                confirm_timeout,
            },
            local: LocalSettings {
                ttl: duration_or(raw.local.ttl.as_ref(), DEFAULT_TTL).map_err(located)?,
                max_ttl: duration_or(raw.local.max_ttl.as_ref(), DEFAULT_MAX_TTL)
                    .map_err(located)?,
            },
            scopes,
            shield,
            untrusted,
        })
    }

    /// The `[[untrusted]]` directory that is `dir` or one of its ancestors, if any.
    pub fn untrusted_for(&self, dir: &Path) -> Option<&Path> {
        self.untrusted
            .iter()
            .find(|u| dir.starts_with(u))
            .map(PathBuf::as_path)
    }

    /// Parses a repository's `.sec.toml` at `path`: the scope of its own directory, with the
    /// same settings and `[env]` as a config scope but no `dir`. Its TTLs are capped by the
    /// user's defaults, so a repository cannot keep secrets cached longer than the user would.
    pub fn parse_repo_file(
        &self,
        text: &str,
        path: &Path,
        dir: PathBuf,
    ) -> Result<Scope, ConfigError> {
        let located = |l: Located| position_error(text, path, l.span, &l.message);
        let raw: RawScope = toml::from_str(text).map_err(|e| toml_error(text, path, &e))?;
        if let Some(dir) = &raw.dir {
            return Err(located(Located::new(
                dir.span(),
                "a .sec.toml is the scope of its own directory; remove `dir`",
            )));
        }
        let mut scope = build_scope(
            raw,
            dir,
            self.defaults.ttl,
            self.defaults.max_ttl,
            Origin::Repository,
        )
        .map_err(located)?;
        scope.ttl = scope.ttl.min(self.defaults.ttl);
        scope.max_ttl = scope.max_ttl.min(self.defaults.max_ttl);
        Ok(scope)
    }

    /// The scope that covers `dir`: the deepest scope directory that is `dir` or an ancestor.
    /// `dir` should already be canonical (the kernel's view of a process's cwd is).
    pub fn scope_for(&self, dir: &Path) -> Option<&Scope> {
        self.scopes
            .iter()
            .filter(|s| dir.starts_with(&s.dir))
            .max_by_key(|s| s.dir.components().count())
    }
}

fn build_scope(
    raw: RawScope,
    dir: PathBuf,
    default_ttl: Duration,
    default_max: Duration,
    origin: Origin,
) -> Result<Scope, Located> {
    let ttl = duration_or(raw.ttl.as_ref(), default_ttl)?;
    let max_ttl = duration_or(raw.max_ttl.as_ref(), default_max)?;
    let max_lease = match &raw.max_lease {
        Some(text) => Some(duration_or(Some(text), Duration::ZERO)?),
        None => None,
    };
    let mut commands = Vec::new();
    if let Some(rules) = &raw.commands {
        for rule in rules.get_ref() {
            let words: Vec<String> = rule
                .get_ref()
                .split_whitespace()
                .map(String::from)
                .collect();
            if words.is_empty() {
                return Err(Located::new(rule.span(), "an empty entry in `commands`"));
            }
            if looks_like_token(rule.get_ref()) {
                return Err(Located::new(
                    rule.span(),
                    format!("an entry of `commands` is a command line, but this {TOKEN_HINT}"),
                ));
            }
            commands.push(words);
        }
    }
    let mut env = BTreeMap::new();
    let mut confirm = BTreeSet::new();
    let mut files = BTreeMap::new();
    for (name, value) in raw.env {
        if looks_like_token(&name) {
            return Err(Located::new(
                value.span(),
                format!("the name of this variable {TOKEN_HINT}"),
            ));
        }
        if !is_env_name(&name) {
            return Err(Located::new(
                value.span(),
                "the name of this variable is not a valid environment variable name: use letters, digits and `_`, not starting with a digit",
            ));
        }
        let parsed = parse_value(&value, &name)?;
        if let Value::Secret(reference) = &parsed.value
            && reference.runs_program()
            && origin == Origin::Repository
        {
            return Err(Located::new(
                value.span(),
                "a repository's .sec.toml may not use references that run programs (cmd:); such references belong in your own config.toml",
            ));
        }
        if parsed.confirm || raw.confirm == Some(true) {
            confirm.insert(name.clone());
        }
        if let Some(file_name) = parsed.file {
            files.insert(name.clone(), file_name);
        }
        env.insert(name, parsed.value);
    }
    Ok(Scope {
        dir,
        ttl,
        max_ttl,
        prompt: raw.prompt.unwrap_or(true),
        on_leave: raw.on_leave.unwrap_or_default(),
        on_revoke: raw.on_revoke.unwrap_or_default(),
        max_lease,
        confirm,
        commands,
        files,
        env,
    })
}

fn scope_dir(raw: &Spanned<String>, home: &Path) -> Result<PathBuf, Located> {
    Ok(canonical_or_normal(&absolute_path(raw, home, "scope dir")?))
}

/// `~` and `~/...` expanded; anything else must be absolute. `what` names the setting.
fn absolute_path(raw: &Spanned<String>, home: &Path, what: &str) -> Result<PathBuf, Located> {
    let text = raw.get_ref();
    let expanded = if text == "~" {
        home.to_path_buf()
    } else if let Some(rest) = text.strip_prefix("~/") {
        home.join(rest)
    } else {
        PathBuf::from(text)
    };
    if !expanded.is_absolute() {
        return Err(Located::new(
            raw.span(),
            format!("{what} must be an absolute path or start with `~/`"),
        ));
    }
    Ok(expanded)
}

/// `[shield]`, checked: name patterns of variable-name characters and `*`; absolute paths,
/// `*` only in the last component of `hide`, `.` and `..` folded.
fn shield_settings(raw: &RawShield, home: &Path) -> Result<ShieldSettings, Located> {
    let patterns = |list: &[Spanned<String>], key: &str| -> Result<Vec<String>, Located> {
        list.iter()
            .map(|p| {
                let text = p.get_ref();
                let plain = text.replace('*', "");
                if looks_like_token(text) {
                    return Err(Located::new(
                        p.span(),
                        format!("an entry of `{key}` is a variable name pattern, but this {TOKEN_HINT}"),
                    ));
                }
                let valid = !text.is_empty()
                    && (plain.is_empty() || plain.chars().all(|c| c == '_' || c.is_ascii_alphanumeric()));
                if valid {
                    Ok(text.clone())
                } else {
                    Err(Located::new(
                        p.span(),
                        format!("an entry of `{key}` is not a variable name pattern; use letters, digits, `_` and `*`"),
                    ))
                }
            })
            .collect()
    };
    let paths =
        |list: &[Spanned<String>], key: &str, glob: bool| -> Result<Vec<PathBuf>, Located> {
            list.iter()
                .map(|p| {
                    let path = canonical_or_normal(&absolute_path(p, home, key)?);
                    let star_before_last = path
                        .parent()
                        .is_some_and(|parent| parent.to_string_lossy().contains('*'));
                    if star_before_last || (!glob && path.to_string_lossy().contains('*')) {
                        let allowed = if glob {
                            "only in the last component"
                        } else {
                            "not at all"
                        };
                        return Err(Located::new(
                            p.span(),
                            format!("an entry of `{key}`: `*` may appear {allowed}"),
                        ));
                    }
                    Ok(path)
                })
                .collect()
        };
    Ok(ShieldSettings {
        hide_env: patterns(&raw.hide_env, "hide_env")?,
        keep_env: patterns(&raw.keep_env, "keep_env")?,
        hide: paths(&raw.hide, "hide", true)?,
        writable: paths(&raw.writable, "writable", false)?,
        allow: paths(&raw.allow, "allow", false)?,
    })
}

/// Whether `name` can be a lease file's name: one path component, not `.` or `..`.
pub fn valid_file_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains('/') && !name.contains('\0')
}

/// Symlinks resolved when the path exists; otherwise `.` and `..` folded lexically, so a scope
/// for a directory that does not exist yet still matches once it does (after a reload).
pub fn canonical_or_normal(path: &Path) -> PathBuf {
    if let Ok(real) = std::fs::canonicalize(path) {
        return real;
    }
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// A variable's value, whether it asks for confirmation itself, and how it is delivered.
fn parse_value(value: &Spanned<toml::Value>, var: &str) -> Result<ParsedVar, Located> {
    let span = value.span();
    let reference = |text: &str| {
        if looks_like_token(text) {
            return Err(Located::new(
                span.clone(),
                format!("a string here is a secret reference, but this {TOKEN_HINT}"),
            ));
        }
        Reference::parse(text)
            .map(Value::Secret)
            .map_err(|e| Located::new(span.clone(), e))
    };
    let table = match value.get_ref() {
        toml::Value::String(s) => {
            return Ok(ParsedVar {
                value: reference(s)?,
                confirm: false,
                file: None,
            });
        }
        toml::Value::Table(table) => table,
        other => {
            return Err(Located::new(
                span,
                format!(
                    "expected a secret reference string or `{{ value = \"...\" }}`, found a {}",
                    other.type_str()
                ),
            ));
        }
    };
    let shape = "a table value is `{ value = \"...\" }` (a literal) or `{ secret = \"SCHEME:REST\" }`, optionally with `as = \"file\"`, `name = \"...\"` and (for a secret) `confirm = true`";
    let raw: RawVarTable =
        toml::Value::Table(table.clone())
            .try_into()
            .map_err(|e: toml::de::Error| {
                Located::new(
                    span.clone(),
                    format!("{}; {shape}", safe_toml_message(e.message())),
                )
            })?;
    let value = match (raw.value, raw.secret) {
        (Some(literal), None) if raw.confirm.is_none() => Value::Literal(literal),
        (None, Some(secret)) => reference(&secret)?,
        _ => return Err(Located::new(span, shape)),
    };
    let file = match (raw.delivery, raw.name) {
        (Some(Delivery::File), name) => {
            let name = name.unwrap_or_else(|| var.to_string());
            if looks_like_token(&name) {
                return Err(Located::new(
                    span,
                    format!("`name` is a file name, but this {TOKEN_HINT}"),
                ));
            }
            if !valid_file_name(&name) {
                return Err(Located::new(
                    span,
                    "`name` must be a plain file name: no `/`, not `.` or `..`",
                ));
            }
            Some(name)
        }
        (_, Some(_)) => return Err(Located::new(span, "`name` needs `as = \"file\"`")),
        (_, None) => None,
    };
    Ok(ParsedVar {
        value,
        confirm: raw.confirm.unwrap_or(false),
        file,
    })
}

fn duration_or(raw: Option<&Spanned<String>>, default: Duration) -> Result<Duration, Located> {
    let Some(raw) = raw else { return Ok(default) };
    // humantime's message quotes the text: it is not passed on.
    let parsed = humantime::parse_duration(raw.get_ref()).map_err(|_| {
        Located::new(
            raw.span(),
            "not a duration; write one like \"90s\", \"15m\", \"8h\" or \"1h 30m\"",
        )
    })?;
    if parsed.is_zero() {
        return Err(Located::new(
            raw.span(),
            "a duration must be longer than zero",
        ));
    }
    if parsed > MAX_DURATION {
        return Err(Located::new(
            raw.span(),
            "a duration must be at most 100 years (\"100y\")",
        ));
    }
    Ok(parsed)
}

fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

fn position_error(text: &str, path: &Path, span: Range<usize>, message: &str) -> ConfigError {
    let (line, column) = line_column(text, span.start);
    ConfigError {
        path: path.to_path_buf(),
        line,
        column,
        message: message.to_string(),
    }
}

/// A TOML error with its position and a message that never repeats the text at fault.
fn toml_error(text: &str, path: &Path, error: &toml::de::Error) -> ConfigError {
    let span = error.span().unwrap_or(0..0);
    position_error(text, path, span, &safe_toml_message(error.message()))
}

/// The words a message from toml may quote: the keys and values of the config's own schema.
const SCHEMA_WORDS: &[&str] = &[
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
fn safe_toml_message(raw: &str) -> String {
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
fn type_phrase(found: &str) -> &'static str {
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
fn expected_phrase(expected: &str) -> String {
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
fn scrub_quoted(message: &str) -> String {
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
fn quoted_len(after: &str, quote: char) -> Option<usize> {
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
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

#[cfg(test)]
#[path = "config_fuzz.rs"]
mod fuzz;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_huge_file_is_refused_without_being_read() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("config.toml");
        let file = std::fs::File::create(&path).unwrap();
        file.set_len(1 << 30).unwrap(); // sparse: a gigabyte of nothing
        let error = read_bounded(&path, MAX_CONFIG_BYTES).unwrap_err();
        assert!(
            error.to_string().contains("more than the 1024 KiB"),
            "{error}"
        );
        let error = Config::load(&path, tmp.path()).unwrap_err();
        assert!(error.to_string().contains("KiB"), "{error}");
        std::fs::write(&path, "[[scope]]\ndir = \"/p\"\n").unwrap();
        assert_eq!(Config::load(&path, tmp.path()).unwrap().scopes.len(), 1);
    }

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("/c/config.toml"), Path::new("/home/u"))
    }

    const ISSUE_EXAMPLE: &str = r#"
[defaults]
ttl = "15m"
max_ttl = "8h"

[[scope]]
dir = "~/src/coveragepy"
ttl = "10m"
[scope.env]
TWINE_USERNAME = { value = "__token__" }
TWINE_PASSWORD = "keyring:pypi/coveragepy"
GH_TOKEN = "op://Private/GitHub/credential"
"#;

    #[test]
    fn parses_the_documented_shape() {
        let config = parse(ISSUE_EXAMPLE).unwrap();
        let scope = &config.scopes[0];
        assert_eq!(scope.dir, Path::new("/home/u/src/coveragepy"));
        assert_eq!(scope.ttl, Duration::from_secs(600));
        assert_eq!(scope.max_ttl, Duration::from_secs(8 * 3600));
        assert_eq!(
            scope.env["TWINE_USERNAME"],
            Value::Literal("__token__".into())
        );
        assert_eq!(
            scope.env["TWINE_PASSWORD"],
            Value::Secret(Reference::parse("keyring:pypi/coveragepy").unwrap())
        );
        assert!(matches!(
            scope.env["GH_TOKEN"],
            Value::Secret(Reference::OnePassword(_))
        ));
    }

    #[test]
    fn a_bare_word_is_an_error_that_suggests_a_literal() {
        let err =
            parse("[[scope]]\ndir = \"/p\"\n[scope.env]\nUSER_NAME = \"__token__\"\n").unwrap_err();
        assert_eq!((err.line, err.column), (4, 13), "{err}");
        assert!(err.message.contains("{ value = \"...\" }"), "{err}");
        assert!(
            !err.message.contains("__token__"),
            "the value is never echoed: {err}"
        );
        assert!(
            err.to_string().starts_with("/c/config.toml:4:13: "),
            "{err}"
        );
    }

    #[test]
    fn an_unknown_scheme_is_an_error_that_suggests_a_literal() {
        let err = parse("[[scope]]\ndir = \"/p\"\n[scope.env]\nX = \"vault:a/b\"\n").unwrap_err();
        assert!(err.message.contains("unknown scheme `vault`"), "{err}");
        assert!(err.message.contains("{ value = "), "{err}");
    }

    #[test]
    fn syntax_errors_carry_line_and_column() {
        let err = parse("[defaults]\nttl = \"15m\"\nmax_ttl = \n").unwrap_err();
        assert_eq!(err.line, 3, "{err}");
        assert!(err.column > 1, "{err}");
    }

    #[test]
    fn a_bad_duration_says_what_a_duration_looks_like_without_repeating_it() {
        let err = parse("[defaults]\nttl = \"soon\"\n").unwrap_err();
        assert_eq!((err.line, err.column), (2, 7));
        assert!(err.message.contains("not a duration"), "{err}");
        assert!(err.message.contains("\"15m\""), "{err}");
        assert!(!err.message.contains("soon"), "{err}");
    }

    #[test]
    fn durations_too_long_to_count_are_refused() {
        // Found by fuzz_config_parse: the cache's `Instant + ttl` panicked on it.
        let err = parse("[defaults]\nttl = \"18446744073709551615s\"\n").unwrap_err();
        assert_eq!((err.line, err.column), (2, 7), "{err}");
        assert!(err.message.contains("at most 100 years"), "{err}");
        let config = parse("[defaults]\nttl = \"100y\"\n").unwrap();
        assert_eq!(config.defaults.ttl, MAX_DURATION);
    }

    #[test]
    fn unknown_keys_are_errors_that_list_the_known_ones() {
        let err = parse("[[scope]]\ndir = \"/p\"\ntll = \"5m\"\n").unwrap_err();
        assert_eq!((err.line, err.column), (3, 1), "{err}");
        assert!(
            err.message
                .starts_with("unknown key; expected one of `dir`, `ttl`"),
            "{err}"
        );
        assert!(
            !err.message.contains("tll"),
            "a key may be a pasted token: {err}"
        );
    }

    #[test]
    fn toml_messages_keep_what_was_expected_and_drop_what_was_found() {
        for (raw, want) in [
            (
                "invalid type: string \"s3cr\\\"et\", expected a boolean",
                "wrong type, found a string; expected true or false",
            ),
            (
                "unknown variant `s3cret`, expected `terminate` or `keep`",
                "unknown value; expected `terminate` or `keep`",
            ),
            (
                "invalid type: integer `5`, expected a sequence",
                "wrong type, found a number; expected an array `[...]`",
            ),
            (
                "invalid type: integer `1`, expected struct RawTtls",
                "wrong type, found a number; expected a table",
            ),
            ("missing field `dir`", "missing field `dir`"),
            (
                "key with no value, expected `=`",
                "key with no value; expected `=`",
            ),
            (
                "something new `s3cret` here",
                "something new (text not repeated) here",
            ),
            ("an open `s3cret", "an open (text not repeated)"),
        ] {
            assert_eq!(safe_toml_message(raw), want, "{raw}");
        }
    }

    #[test]
    fn two_scopes_for_one_directory_point_at_the_second_and_name_the_first() {
        let err = parse("[[scope]]\ndir = \"/p\"\n\n[[scope]]\ndir = \"/p/\"\n").unwrap_err();
        assert_eq!((err.line, err.column), (5, 7), "{err}");
        assert!(err.message.contains("the one at line 2"), "{err}");
    }

    #[test]
    fn token_shaped_names_commands_and_programs_are_refused() {
        let token = "ghp_Qa7jsyMW2jQt3Jr1HxkWUlVaW1deQdTqHbGh";
        for text in [
            format!("[[scope]]\ndir = \"/p\"\ncommands = [\"twine upload\", \"{token}\"]\n"),
            format!("[[scope]]\ndir = \"/p\"\n[scope.env]\n{token} = \"keyring:a/b\"\n"),
            format!(
                "[[scope]]\ndir = \"/p\"\n[scope.env]\nA = {{ secret = \"keyring:a/b\", as = \"file\", name = \"{token}\" }}\n"
            ),
            format!("[defaults]\naskpass = \"{token}\"\n"),
        ] {
            let err = parse(&text).unwrap_err();
            assert!(err.message.contains("looks like a token"), "{text}: {err}");
            assert!(!err.to_string().contains(token), "{err}");
        }
        assert!(
            parse("[[scope]]\ndir = \"/p\"\ncommands = [\"twine upload\"]\n[scope.env]\nGITHUB_TOKEN = \"keyring:gh/me\"\n")
                .is_ok()
        );
    }

    #[test]
    fn relative_scope_dirs_are_refused() {
        let err = parse("[[scope]]\ndir = \"src/p\"\n").unwrap_err();
        assert!(err.message.contains("must be an absolute path"), "{err}");
        assert!(!err.message.contains("src/p"), "{err}");
    }

    #[test]
    fn the_deepest_scope_wins() {
        let config = parse(
            "[[scope]]\ndir = \"/a\"\n[[scope]]\ndir = \"/a/b\"\n[[scope]]\ndir = \"/a/bc\"\n",
        )
        .unwrap();
        let dir_of = |p: &str| config.scope_for(Path::new(p)).map(|s| s.dir.clone());
        assert_eq!(dir_of("/a/b/c"), Some(PathBuf::from("/a/b")));
        assert_eq!(dir_of("/a/b"), Some(PathBuf::from("/a/b")));
        assert_eq!(
            dir_of("/a/bcd"),
            Some(PathBuf::from("/a")),
            "prefixes match whole components"
        );
        assert_eq!(dir_of("/a"), Some(PathBuf::from("/a")));
        assert_eq!(dir_of("/elsewhere"), None);
    }

    #[test]
    fn scope_dirs_are_compared_after_resolving_symlinks() {
        let tmp = tempfile::tempdir().unwrap();
        let real = tmp.path().join("real");
        std::fs::create_dir(&real).unwrap();
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let text = format!("[[scope]]\ndir = \"{}\"\n", link.display());
        let config = parse(&text).unwrap();
        let inside = std::fs::canonicalize(&real).unwrap().join("sub");
        assert!(config.scope_for(&inside).is_some());
    }

    #[test]
    fn scope_settings_for_the_shell_hook() {
        let config =
            parse("[[scope]]\ndir = \"/p\"\nprompt = false\non_leave = \"revoke\"\n").unwrap();
        assert!(!config.scopes[0].prompt);
        assert_eq!(config.scopes[0].on_leave, OnLeave::Revoke);
        let config = parse("[[scope]]\ndir = \"/p\"\n").unwrap();
        assert!(config.scopes[0].prompt, "prompt defaults to true");
        assert_eq!(config.scopes[0].on_leave, OnLeave::Keep);
        let err = parse("[[scope]]\ndir = \"/p\"\non_leave = \"explode\"\n").unwrap_err();
        assert_eq!(err.line, 3, "{err}");
    }

    #[test]
    fn a_scope_without_dir_is_an_error() {
        let err = parse("[[scope]]\nttl = \"5m\"\n").unwrap_err();
        assert!(err.message.contains("needs `dir"), "{err}");
    }

    #[test]
    fn repo_files_have_no_dir_and_cannot_outlive_the_users_defaults() {
        let config = parse("[defaults]\nttl = \"10m\"\nmax_ttl = \"1h\"\n").unwrap();
        let path = Path::new("/r/.sec.toml");
        let text = "ttl = \"5m\"\nmax_ttl = \"100h\"\n[env]\nA = \"keyring:s/a\"\n";
        let scope = config.parse_repo_file(text, path, "/r".into()).unwrap();
        assert_eq!(scope.dir, Path::new("/r"));
        assert_eq!(scope.ttl, Duration::from_secs(300));
        assert_eq!(
            scope.max_ttl,
            Duration::from_secs(3600),
            "capped by the user's max_ttl"
        );
        let err = config
            .parse_repo_file("dir = \"/etc\"\n", path, "/r".into())
            .unwrap_err();
        assert!(err.message.contains("remove `dir`"), "{err}");
    }

    #[test]
    fn lease_policy_settings() {
        let config = parse(
            "[defaults]\naskpass = \"/bin/ask\"\nconfirm_timeout = \"2s\"\n\
             [[scope]]\ndir = \"/p\"\non_revoke = \"keep\"\nmax_lease = \"30m\"\n\
             commands = [\"twine upload\", \"python -m twine\"]\n\
             [scope.env]\nA = \"keyring:s/a\"\nB = { secret = \"keyring:s/b\", confirm = true }\n",
        )
        .unwrap();
        assert_eq!(config.defaults.askpass.as_deref(), Some("/bin/ask"));
        assert_eq!(config.defaults.confirm_timeout, Duration::from_secs(2));
        let scope = &config.scopes[0];
        assert_eq!(scope.on_revoke, OnRevoke::Keep);
        assert_eq!(scope.max_lease, Some(Duration::from_secs(1800)));
        assert_eq!(
            scope.commands,
            vec![vec!["twine", "upload"], vec!["python", "-m", "twine"]]
        );
        assert_eq!(scope.confirm.iter().collect::<Vec<_>>(), ["B"]);
        assert_eq!(
            scope.env["B"],
            Value::Secret(Reference::parse("keyring:s/b").unwrap())
        );

        let all =
            parse("[[scope]]\ndir = \"/p\"\nconfirm = true\n[scope.env]\nA = \"keyring:s/a\"\n")
                .unwrap();
        assert!(all.scopes[0].confirm.contains("A"));
        assert_eq!(
            all.scopes[0].on_revoke,
            OnRevoke::Terminate,
            "terminate is the default"
        );
    }

    #[test]
    fn variables_can_be_delivered_as_files() {
        let config = parse(
            "[[scope]]\ndir = \"/p\"\n[scope.env]\n\
             NETRC = { secret = \"keyring:netrc/default\", as = \"file\" }\n\
             PYPIRC = { secret = \"keyring:pypi/rc\", as = \"file\", name = \".pypirc\" }\n\
             PLAIN = { secret = \"keyring:a/b\", as = \"env\" }\n",
        )
        .unwrap();
        let files = &config.scopes[0].files;
        assert_eq!(files.get("NETRC").map(String::as_str), Some("NETRC"));
        assert_eq!(files.get("PYPIRC").map(String::as_str), Some(".pypirc"));
        assert!(!files.contains_key("PLAIN"));
        for bad in [
            "{ secret = \"keyring:a/b\", as = \"file\", name = \"../x\" }",
            "{ secret = \"keyring:a/b\", name = \"x\" }",
            "{ secret = \"keyring:a/b\", as = \"pipe\" }",
        ] {
            let err = parse(&format!(
                "[[scope]]\ndir = \"/p\"\n[scope.env]\nA = {bad}\n"
            ))
            .unwrap_err();
            assert_eq!(err.line, 4, "{bad}: {err}");
        }
    }

    #[test]
    fn the_local_vault_has_its_own_ttls() {
        let config = parse("[local]\nttl = \"5m\"\nmax_ttl = \"1h\"\n").unwrap();
        assert_eq!(config.local.ttl, Duration::from_secs(300));
        assert_eq!(config.local.max_ttl, Duration::from_secs(3600));
        assert_eq!(parse("").unwrap().local, LocalSettings::default());
    }

    #[test]
    fn table_values_have_one_shape() {
        for bad in [
            "{ value = \"a\", secret = \"keyring:s/a\" }",
            "{ value = \"a\", confirm = true }",
            "{ secret = \"keyring:s/a\", colour = \"red\" }",
            "{ }",
        ] {
            let err = parse(&format!(
                "[[scope]]\ndir = \"/p\"\n[scope.env]\nA = {bad}\n"
            ))
            .unwrap_err();
            assert_eq!(err.line, 4, "{bad}: {err}");
            assert!(err.message.contains("{ value = "), "{bad}: {err}");
        }
    }

    #[test]
    fn repository_files_may_not_run_programs() {
        let config = parse("").unwrap();
        let text = "[env]\nTOKEN = \"cmd:security find-generic-password -w\"\n";
        let err = config
            .parse_repo_file(text, Path::new("/r/.sec.toml"), "/r".into())
            .unwrap_err();
        assert_eq!((err.line, err.column), (2, 9), "{err}");
        assert!(
            err.message
                .contains("may not use references that run programs"),
            "{err}"
        );
        let own =
            parse(&format!("[[scope]]\ndir = \"/p\"\n{text}").replace("[env]", "[scope.env]"));
        assert!(own.is_ok(), "the user's own config may: {own:?}");
    }

    #[test]
    fn shield_settings_expand_home_and_keep_patterns() {
        let config = parse(
            "[shield]\nhide_env = [\"CORP_*\", \"*_PAT\"]\nkeep_env = [\"SSH_AUTH_SOCK\"]\n\
             hide = [\"~/.config/corp\", \"/srv/keys/*.pem\", \"~/a/../b\"]\nwritable = [\"~/.cache\"]\n",
        )
        .unwrap();
        let shield = &config.shield;
        assert_eq!(shield.hide_env, ["CORP_*", "*_PAT"]);
        assert_eq!(shield.keep_env, ["SSH_AUTH_SOCK"]);
        assert_eq!(
            shield.hide,
            [
                PathBuf::from("/home/u/.config/corp"),
                PathBuf::from("/srv/keys/*.pem"),
                PathBuf::from("/home/u/b"),
            ]
        );
        assert_eq!(shield.writable, [PathBuf::from("/home/u/.cache")]);
        assert_eq!(parse("").unwrap().shield, ShieldSettings::default());
    }

    #[test]
    fn shield_settings_are_checked_with_positions() {
        for (text, line, needle) in [
            (
                "[shield]\nhide_env = [\"A-B\"]\n",
                2,
                "not a variable name pattern",
            ),
            (
                "[shield]\nkeep_env = [\"\"]\n",
                2,
                "not a variable name pattern",
            ),
            (
                "[shield]\nhide = [\"relative/path\"]\n",
                2,
                "must be an absolute path",
            ),
            (
                "[shield]\nhide = [\"/a/*/b\"]\n",
                2,
                "only in the last component",
            ),
            ("[shield]\nwritable = [\"~/x*\"]\n", 2, "not at all"),
            (
                "[shield]\n\nhidden = []\n",
                3,
                "unknown key; expected one of `hide_env`",
            ),
        ] {
            let err = parse(text).unwrap_err();
            assert_eq!(err.line, line, "{text}: {err}");
            assert!(err.message.contains(needle), "{text}: {err}");
        }
    }

    #[test]
    fn untrusted_dirs_cover_their_subdirectories() {
        let config =
            parse("[[untrusted]]\ndir = \"~/bugs\"\n[[untrusted]]\ndir = \"/srv/x\"\n").unwrap();
        let found = |p: &str| config.untrusted_for(Path::new(p)).map(Path::to_path_buf);
        assert_eq!(
            found("/home/u/bugs/issue-7/src"),
            Some(PathBuf::from("/home/u/bugs"))
        );
        assert_eq!(found("/home/u/bugs"), Some(PathBuf::from("/home/u/bugs")));
        assert_eq!(found("/home/u/bugsy"), None, "whole components only");
        assert_eq!(found("/srv/x/y"), Some(PathBuf::from("/srv/x")));
        let err = parse("[[untrusted]]\n").unwrap_err();
        assert!(err.message.contains("needs `dir"), "{err}");
        let err = parse("[[untrusted]]\ndir = \"bugs\"\n").unwrap_err();
        assert!(
            err.message
                .contains("untrusted dir must be an absolute path"),
            "{err}"
        );
        assert!(!err.message.contains("bugs"), "{err}");
    }

    /// A token pasted into the wrong place, in every shape a config can hold it.
    const CANARY: &str = "pypi-AgEIcHlwaS5vcmcCJDk3ZTQ1NjYzLWNhbmFyeS00ZGQ2";

    /// Each text has `{C}` where the canary goes; every one of them is a mistake.
    const MISPLACED: &[&str] = &[
        "[defaults]\nttl = \"{C}\"\n",
        "[defaults]\nmax_ttl = \"{C}\"\n",
        "[defaults]\nconfirm_timeout = \"{C}\"\n",
        "[defaults]\nttl = {C}\n",
        "[defaults]\nttl = [\"{C}\"]\n",
        "[defaults]\naskpass = [\"{C}\"]\n",
        "[local]\nttl = \"15m {C}\"\n",
        "[local]\nmax_ttl = \"{C}\"\n",
        "[[scope]]\ndir = \"/p\"\nttl = \"{C}\"\n",
        "[[scope]]\ndir = \"/p\"\nmax_ttl = \"{C}\"\n",
        "[[scope]]\ndir = \"/p\"\nmax_lease = \"{C}\"\n",
        "[[scope]]\ndir = \"/p\"\nprompt = \"{C}\"\n",
        "[[scope]]\ndir = \"/p\"\nconfirm = \"{C}\"\n",
        "[[scope]]\ndir = \"/p\"\non_revoke = \"{C}\"\n",
        "[[scope]]\ndir = \"/p\"\non_leave = \"{C}\"\n",
        "[[scope]]\ndir = \"/p\"\ncommands = \"{C}\"\n",
        "[[scope]]\ndir = \"/p\"\ncommands = [\"{C}\"]\n",
        "[[scope]]\ndir = \"/p\"\ncommands = [\"twine upload\", 7, \"{C}\"]\n",
        "[[scope]]\ndir = \"{C}\"\n",
        "[[scope]]\ndir = \"/p\"\ntoken = \"{C}\"\n",
        "[[scope]]\ndir = \"/p\"\n{C} = \"x\"\n",
        "[[scope]]\ndir = \"/p\"\n\"{C}\" = \"x\"\n",
        "{C} = 1\n",
        "[{C}]\n",
        "[defaults]\n{C}\n",
        "[defaults]\ntoken = \"{C}\"\n",
        "[[scope]]\ndir = \"/p\"\n[scope.env]\nA = \"{C}\"\n",
        "[[scope]]\ndir = \"/p\"\n[scope.env]\nA = {C}\n",
        "[[scope]]\ndir = \"/p\"\n[scope.env]\n\"{C}\" = \"keyring:a/b\"\n",
        "[[scope]]\ndir = \"/p\"\n[scope.env]\nA = { secret = \"{C}\" }\n",
        "[[scope]]\ndir = \"/p\"\n[scope.env]\nA = \"local:{C}\"\n",
        "[[scope]]\ndir = \"/p\"\n[scope.env]\nA = { secret = \"keyring:pypi/{C}\" }\n",
        "[[scope]]\ndir = \"/p\"\n[scope.env]\nA = { secret = \"keyring:a/b\", as = \"{C}\" }\n",
        "[[scope]]\ndir = \"/p\"\n[scope.env]\nA = { secret = \"keyring:a/b\", as = \"file\", name = \"{C}\" }\n",
        "[[scope]]\ndir = \"/p\"\n[scope.env]\nA = { secret = \"keyring:a/b\", as = \"file\", name = \"../{C}\" }\n",
        "[[scope]]\ndir = \"/p\"\n[scope.env]\nA = { secret = \"keyring:a/b\", name = \"{C}\" }\n",
        "[[scope]]\ndir = \"/p\"\n[scope.env]\nA = { secret = \"keyring:a/b\", token = \"{C}\" }\n",
        "[[scope]]\ndir = \"/p\"\n[scope.env]\nA = { secret = \"keyring:a/b\", confirm = \"{C}\" }\n",
        "[[scope]]\ndir = \"/p\"\n[scope.env]\nA = { value = \"x\", {C} = 1 }\n",
        "[[scope]]\ndir = \"/p\"\n[scope.env]\nA = [\"{C}\"]\n",
        "[shield]\nkeep_env = [\"{C}\"]\n",
        "[shield]\nhide_env = [\"{C}\"]\n",
        "[shield]\nkeep_env = [\"ghp_Qa7jsyMW2jQt3Jr1HxkWUlVaW1deQdTqHbGh\"]\n",
        "[shield]\nhide = [\"{C}\"]\n",
        "[shield]\nwritable = [\"{C}\"]\n",
        "[shield]\nallow = [\"/a/*/{C}\"]\n",
        "[shield]\ntoken = \"{C}\"\n",
        "[[untrusted]]\ndir = \"{C}\"\n",
        "[[untrusted]]\ndir = \"/b\"\n{C} = 1\n",
        "[[scope]]\ndir = \"/p\"\n[[scope]]\ndir = \"/p\"\n# {C}\n",
    ];

    /// Whether `text` holds the canary or any 8 characters in a row of it.
    fn holds_canary(text: &str) -> bool {
        let chars: Vec<char> = CANARY.chars().collect();
        chars
            .windows(8)
            .any(|w| text.contains(&w.iter().collect::<String>()))
    }

    #[test]
    fn a_token_pasted_anywhere_is_never_repeated_in_the_error() {
        let mut leaks = Vec::new();
        for template in MISPLACED {
            let text = template.replace("{C}", CANARY);
            let Err(err) = parse(&text) else {
                leaks.push(format!("{text:?}\n    -> accepted"));
                continue;
            };
            let shown = err.to_string();
            if holds_canary(&shown) || err.line == 0 || err.column == 0 {
                leaks.push(format!("{text:?}\n    -> {shown}"));
            }
            let repo_text = text
                .replace("[[scope]]\ndir = \"/p\"\n", "")
                .replace("[scope.env]", "[env]");
            let repo = parse("").unwrap().parse_repo_file(
                &repo_text,
                Path::new("/r/.sec.toml"),
                "/r".into(),
            );
            if let Err(e) = repo
                && holds_canary(&e.to_string())
            {
                leaks.push(format!("{repo_text:?} (.sec.toml)\n    -> {e}"));
            }
        }
        assert!(leaks.is_empty(), "values repeated:\n{}", leaks.join("\n"));
    }

    #[test]
    fn line_column_counts_characters() {
        assert_eq!(line_column("ab\ncdé\nx", 0), (1, 1));
        assert_eq!(line_column("ab\ncdé\nx", 3), (2, 1));
        assert_eq!(line_column("ab\ncdé\nx", 8), (3, 1));
        assert_eq!(line_column("ab\ncdé\nx", 7), (2, 4));
    }
}
