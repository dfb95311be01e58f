//! The user's `config.toml`: defaults and scopes, parsed with source positions so every
//! mistake is reported as `file:line:column: what is wrong`. This file holds the public
//! types and the checks that turn serde's `raw` types into them (about 600 lines: every key
//! is checked here, with its own message); `errors` words the messages, `shield` checks
//! `[shield]`.
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
use std::path::{Path, PathBuf};
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
    /// `[vault]`: OpenBao or Vault, for `vault:` references.
    pub vault: Option<VaultSettings>,
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
    /// What the shell hook does when you leave a scope that does not say.
    pub on_leave: OnLeave,
}

pub const DEFAULT_CONFIRM_TIMEOUT: Duration = Duration::from_secs(30);

impl Default for Defaults {
    fn default() -> Self {
        Self {
            ttl: DEFAULT_TTL,
            max_ttl: DEFAULT_MAX_TTL,
            askpass: None,
            confirm_timeout: DEFAULT_CONFIRM_TIMEOUT,
            on_leave: OnLeave::default(),
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
    /// The command's output is shown with its leased values masked (`sec exec --mask`).
    pub mask: bool,
    /// SSH keys a lease's own agent offers (`SSH_AUTH_SOCK`); config.toml only.
    pub ssh_keys: Vec<SshKey>,
    /// `[scope.git]`: what `sec git-credential` answers, by host; config.toml only.
    pub git: Vec<GitCredential>,
    /// Variables (also in `env`) the command gets as a placeholder; the lease's HTTPS
    /// broker puts their value into the requests their rules allow.
    pub brokered: BTreeMap<String, Brokered>,
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
        match Config::read(path)? {
            Some(text) => Config::parse(&text, path, home),
            None => Ok(Config::default()),
        }
    }

    /// The text of config.toml at `path` (bounded), or `None` when there is none.
    pub fn read(path: &Path) -> Result<Option<String>, ConfigError> {
        match read_bounded(path, MAX_CONFIG_BYTES) {
            Ok(text) => Ok(Some(text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
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
        let default_on_leave = raw.defaults.on_leave.unwrap_or_default();
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
            let scope = build_scope(
                raw_scope,
                dir,
                default_ttl,
                default_max,
                default_on_leave,
                Origin::UserConfig,
                home,
            )
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
                on_leave: default_on_leave,
            },
            local: LocalSettings {
                ttl: duration_or(raw.local.ttl.as_ref(), DEFAULT_TTL).map_err(located)?,
                max_ttl: duration_or(raw.local.max_ttl.as_ref(), DEFAULT_MAX_TTL)
                    .map_err(located)?,
            },
            scopes,
            shield,
            untrusted,
            vault: match &raw.vault {
                Some(table) => Some(vault_settings(table, home).map_err(located)?),
                None => None,
            },
        })
    }

    /// What is valid in config text but probably not meant (a scope for a directory that
    /// does not exist, an askpass program that is not there), as `file:line:column: what`.
    /// Apart from [`Config::parse`], which stays free of such checks of the machine: only the
    /// config checker and secd's reload ask.
    pub fn warnings(text: &str, path: &Path, home: &Path) -> Vec<String> {
        let Ok(raw) = toml::from_str::<RawConfig>(text) else {
            return Vec::new();
        };
        let warn = |span: Range<usize>, message: &str| {
            position_error(text, path, span, message).to_string()
        };
        let mut warnings = Vec::new();
        if let Some(askpass) = &raw.defaults.askpass
            && !program_exists(askpass.get_ref())
        {
            warnings.push(warn(
                askpass.span(),
                "this askpass program is not found; without a terminal, sec cannot ask for the local vault's passphrase",
            ));
        }
        for raw_scope in &raw.scope {
            let Some(dir) = &raw_scope.get_ref().dir else {
                continue;
            };
            if scope_dir(dir, home).is_ok_and(|d| !d.exists()) {
                warnings.push(warn(
                    dir.span(),
                    "this directory does not exist (yet); the scope applies once it does",
                ));
            }
        }
        warnings
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
            self.defaults.on_leave,
            Origin::Repository,
            Path::new("/"),
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
    default_on_leave: OnLeave,
    origin: Origin,
    home: &Path,
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
    let mut brokered = BTreeMap::new();
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
        if let Some(rules) = &parsed.broker {
            let why = match (&parsed.value, &parsed.file) {
                (Value::Literal(_), _) => {
                    Some("brokering a literal protects nothing; broker a `secret`")
                }
                (_, Some(_)) => Some(
                    "a brokered variable is a placeholder in the environment, not a file; remove `as = \"file\"`",
                ),
                _ => None,
            };
            if let Some(why) = why {
                return Err(Located::new(value.span(), why));
            }
            let rules = broker::rules(rules, value.span(), origin == Origin::Repository, home)?;
            brokered.insert(
                name.clone(),
                Brokered {
                    shape: parsed.shape.clone(),
                    rules,
                },
            );
        } else if parsed.shape.is_some() {
            return Err(Located::new(
                value.span(),
                "`shape` is the placeholder's for a brokered variable; it needs `broker`",
            ));
        }
        if let Some(file_name) = parsed.file {
            files.insert(name.clone(), file_name);
        }
        env.insert(name, parsed.value);
    }
    let user_only = |span: Range<usize>, what: &str| {
        Located::new(
            span,
            format!(
                "a repository's .sec.toml may not ask for {what}; list them in your own config.toml"
            ),
        )
    };
    let scope_confirm = raw.confirm == Some(true);
    let ssh_keys = match &raw.ssh_keys {
        Some(keys) if origin == Origin::Repository => {
            return Err(user_only(keys.span(), "SSH keys (`ssh_keys`)"));
        }
        Some(keys) => credentials::ssh_keys(keys)?
            .into_iter()
            .map(|k| SshKey {
                confirm: k.confirm || scope_confirm,
                ..k
            })
            .collect(),
        None => Vec::new(),
    };
    let git = match &raw.git {
        Some(table) if origin == Origin::Repository => {
            return Err(user_only(table.span(), "git credentials ([git])"));
        }
        Some(table) => credentials::git_credentials(table.get_ref())?
            .into_iter()
            .map(|g| GitCredential {
                confirm: g.confirm || scope_confirm,
                ..g
            })
            .collect(),
        None => Vec::new(),
    };
    Ok(Scope {
        mask: raw.mask.unwrap_or(false),
        ssh_keys,
        git,
        dir,
        ttl,
        max_ttl,
        prompt: raw.prompt.unwrap_or(true),
        on_leave: raw.on_leave.unwrap_or(default_on_leave),
        on_revoke: raw.on_revoke.unwrap_or_default(),
        max_lease,
        confirm,
        commands,
        files,
        env,
        brokered,
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
                broker: None,
                shape: None,
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
    let shape = "a table value is `{ value = \"...\" }` (a literal) or `{ secret = \"SCHEME:REST\" }`, optionally with `as = \"file\"`, `name = \"...\"` and (for a secret) `confirm = true` or `broker = { host = \"...\" }`";
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
    let shape = raw
        .shape
        .as_deref()
        .map(broker::shape)
        .transpose()
        .map_err(|e| Located::new(span.clone(), e))?;
    Ok(ParsedVar {
        value,
        confirm: raw.confirm.unwrap_or(false),
        file,
        broker: raw.broker,
        shape,
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

/// Whether `program` names something to run: an existing path, or a name on PATH.
pub fn program_exists(program: &str) -> bool {
    if program.contains('/') {
        return Path::new(program).is_file();
    }
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// `text` as a TOML string, escaped so that any text (quotes, backslashes, newlines, control
/// characters) reads back as itself: for tools that write config.toml (`sec import`).
pub fn toml_string(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for c in text.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\n' => quoted.push_str("\\n"),
            '\t' => quoted.push_str("\\t"),
            '\r' => quoted.push_str("\\r"),
            c if c.is_control() => quoted.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

mod broker;
mod credentials;
mod errors;
mod raw;
mod shield;
mod vault;

pub use crate::paths::{canonical_or_normal, valid_file_name};
pub use broker::{BrokerRule, Brokered, HostPattern, Inject};
pub use credentials::{GitCredential, SshKey};
use errors::{line_column, position_error, safe_toml_message, toml_error};
use raw::*;
use shield::shield_settings;
use vault::vault_settings;
pub use vault::{DEFAULT_ENGINE_LEASE_TTL, DEFAULT_VAULT_TIMEOUT, VaultAuth, VaultSettings};

#[cfg(test)]
mod fuzz;
#[cfg(test)]
mod tests;
