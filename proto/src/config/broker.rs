//! Brokered variables (`broker = ...` on a secret in `[scope.env]`): the command gets a
//! placeholder, and the lease's HTTPS broker puts the real value only into requests that a
//! rule allows.
//!
//! ```toml
//! [scope.env.TWINE_PASSWORD]
//! secret = "keyring:pypi/coveragepy"
//! shape = "pypi-"                    # the placeholder starts like the real token
//! broker = { host = "upload.pypi.org", methods = ["POST"], paths = ["/legacy/"], auth = "basic", user = "__token__" }
//! ```
//!
//! `broker` is one rule (a table) or several (an array of tables). A rule: `host`, one name
//! or a list, each exact (`api.github.com`) or a suffix (`*.github.com`, which does not
//! match `github.com` itself); optionally `methods` and `paths` (prefixes); where the
//! credential goes: `auth = "bearer"`, `auth = "basic"` with `user`, or `header = "NAME"`,
//! and without any of them wherever the command put the placeholder in a header; `ca_cert`,
//! a PEM file of the CA that signs that host's certificate (config.toml only).

use super::*;

/// How a brokered variable's value is used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Brokered {
    /// The placeholder starts with this, to pass an SDK's format check (`ghp_`, `pypi-`).
    pub shape: Option<String>,
    pub rules: Vec<BrokerRule>,
}

/// Where the real value may go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerRule {
    pub hosts: Vec<HostPattern>,
    /// Upper case; empty for any method.
    pub methods: Vec<String>,
    /// Path prefixes, each starting with `/`; empty for any path.
    pub paths: Vec<String>,
    pub inject: Inject,
    /// The CA that signs this host's certificate, instead of the system's roots.
    pub ca_cert: Option<PathBuf>,
}

/// A destination host: exact, or any name below a domain (`*.github.com`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostPattern {
    Exact(String),
    /// The domain with its leading dot (`.github.com`).
    Suffix(String),
}

/// Where the real value goes in a request that a rule allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inject {
    /// Wherever the command put the placeholder in a header (also inside `Basic` credentials).
    Placeholder,
    /// `Authorization: Bearer VALUE`.
    Bearer,
    /// `Authorization: Basic base64(USER:VALUE)`.
    Basic { user: String },
    /// `NAME: VALUE`.
    Header(String),
}

impl HostPattern {
    /// Whether `host` (as the command named it, any case, no port) matches.
    pub fn matches(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        match self {
            HostPattern::Exact(name) => host == *name,
            HostPattern::Suffix(domain) => host.len() > domain.len() && host.ends_with(domain),
        }
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostPattern::Exact(name) => f.write_str(name),
            HostPattern::Suffix(domain) => write!(f, "*{domain}"),
        }
    }
}

impl BrokerRule {
    /// Whether a request to `host` with `method` and `path` (with its query) is allowed.
    pub fn allows(&self, host: &str, method: &str, path: &str) -> bool {
        self.hosts.iter().any(|h| h.matches(host))
            && (self.methods.is_empty() || self.methods.iter().any(|m| m == method))
            && (self.paths.is_empty() || self.paths.iter().any(|p| path.starts_with(p)))
    }

    /// Whether `host` is one of this rule's destinations, whatever the request.
    pub fn names_host(&self, host: &str) -> bool {
        self.hosts.iter().any(|h| h.matches(host))
    }
}

impl fmt::Display for BrokerRule {
    /// `POST upload.pypi.org/legacy/`: what the rule allows, for messages and the audit log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.methods.is_empty() {
            write!(f, "{} ", self.methods.join("|"))?;
        }
        let hosts: Vec<String> = self.hosts.iter().map(ToString::to_string).collect();
        f.write_str(&hosts.join("|"))?;
        if !self.paths.is_empty() {
            write!(f, "{}", self.paths.join("|"))?;
        }
        Ok(())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    host: toml::Value,
    methods: Option<Vec<String>>,
    paths: Option<Vec<String>>,
    auth: Option<String>,
    user: Option<String>,
    header: Option<String>,
    ca_cert: Option<String>,
}

const RULE_SHAPE: &str = "`broker` is a rule `{ host = \"api.example.com\" }` or a list of them; a rule may also have `methods`, `paths`, `auth = \"bearer\"` or `auth = \"basic\"` with `user`, `header = \"NAME\"` and `ca_cert`";

/// The rules of `broker = ...`; `repository` refuses `ca_cert` (a repository may not choose
/// whom sec trusts), `home` expands `~/`.
pub(super) fn rules(
    value: &toml::Value,
    span: Range<usize>,
    repository: bool,
    home: &Path,
) -> Result<Vec<BrokerRule>, Located> {
    let wrong = |message: String| Located::new(span.clone(), message);
    let tables: Vec<&toml::Value> = match value {
        toml::Value::Table(_) => vec![value],
        toml::Value::Array(items) if !items.is_empty() => items.iter().collect(),
        _ => return Err(wrong(RULE_SHAPE.into())),
    };
    let mut rules = Vec::with_capacity(tables.len());
    for table in tables {
        let raw: RawRule = table.clone().try_into().map_err(|e: toml::de::Error| {
            wrong(format!(
                "{}; {RULE_SHAPE}",
                super::errors::safe_toml_message(e.message())
            ))
        })?;
        rules.push(rule(raw, repository, home).map_err(wrong)?);
    }
    Ok(rules)
}

fn rule(raw: RawRule, repository: bool, home: &Path) -> Result<BrokerRule, String> {
    let names: Vec<String> = match raw.host {
        toml::Value::String(name) => vec![name],
        toml::Value::Array(items) => items
            .into_iter()
            .map(|item| match item {
                toml::Value::String(name) => Ok(name),
                _ => Err("`host` is a name or a list of names".to_string()),
            })
            .collect::<Result<_, _>>()?,
        _ => return Err("`host` is a name or a list of names".into()),
    };
    if names.is_empty() {
        return Err("`host` names no host; a rule needs at least one".into());
    }
    let hosts = names
        .iter()
        .map(|name| host_pattern(name))
        .collect::<Result<_, _>>()?;
    let methods: Vec<String> = raw.methods.unwrap_or_default();
    for method in &methods {
        if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(format!(
                "`methods`: {method:?} is not an HTTP method; write them in capitals (\"POST\")"
            ));
        }
    }
    let paths: Vec<String> = raw.paths.unwrap_or_default();
    if let Some(path) = paths.iter().find(|p| !p.starts_with('/')) {
        return Err(format!(
            "`paths`: {path:?} is not a path prefix; each starts with `/`"
        ));
    }
    let inject = match (raw.auth.as_deref(), raw.user, raw.header) {
        (None, None, None) => Inject::Placeholder,
        (Some("bearer"), None, None) => Inject::Bearer,
        (Some("basic"), Some(user), None) if !user.contains(':') => Inject::Basic { user },
        (Some("basic"), Some(_), None) => {
            return Err("`user` of basic auth may not contain `:`".into());
        }
        (Some("basic"), None, None) => {
            return Err("`auth = \"basic\"` needs `user`, the name that goes with the secret (PyPI: \"__token__\")".into());
        }
        (None, None, Some(header)) => {
            if header.is_empty()
                || !header
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(format!("`header`: {header:?} is not a header name"));
            }
            Inject::Header(header)
        }
        (Some(auth), _, _) if auth != "bearer" && auth != "basic" => {
            return Err(format!(
                "`auth`: {auth:?} is not one of \"bearer\" and \"basic\""
            ));
        }
        _ => {
            return Err("a rule puts the credential in one place: `auth = \"bearer\"`, `auth = \"basic\"` with `user`, or `header`".into());
        }
    };
    let ca_cert = match raw.ca_cert {
        Some(_) if repository => {
            return Err(
                "a repository's .sec.toml may not name a CA (`ca_cert`); set it in your own config.toml"
                    .into(),
            );
        }
        Some(path) => {
            let expanded = match path.strip_prefix("~/") {
                Some(rest) => home.join(rest),
                None => PathBuf::from(&path),
            };
            if !expanded.is_absolute() {
                return Err("`ca_cert` must be an absolute path or start with `~/`".into());
            }
            Some(expanded)
        }
        None => None,
    };
    Ok(BrokerRule {
        hosts,
        methods,
        paths,
        inject,
        ca_cert,
    })
}

fn host_pattern(name: &str) -> Result<HostPattern, String> {
    let lower = name.to_ascii_lowercase();
    let (pattern, bare) = match lower.strip_prefix("*.") {
        Some(domain) => (HostPattern::Suffix(format!(".{domain}")), domain),
        None => (HostPattern::Exact(lower.clone()), lower.as_str()),
    };
    let valid = !bare.is_empty()
        && bare.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    let ip6 = bare.starts_with('[') && bare.ends_with(']');
    if !valid && !ip6 {
        return Err(format!(
            "`host`: {name:?} is not a host name; write `api.example.com` or `*.example.com`, without a scheme, port or path"
        ));
    }
    Ok(pattern)
}

/// A placeholder's shape: what it may start with.
pub(super) fn shape(text: &str) -> Result<String, String> {
    if text.is_empty()
        || text.len() > 32
        || !text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    {
        return Err("`shape` is the start of the placeholder (\"ghp_\", \"pypi-\"): up to 32 letters, digits, `-`, `_` or `.`".into());
    }
    Ok(text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<BrokerRule>, String> {
        let value: toml::Value = toml::from_str(&format!("broker = {text}")).unwrap();
        rules(&value["broker"], 0..1, false, Path::new("/home/u")).map_err(|l| l.message)
    }

    #[test]
    fn a_rule_with_everything() {
        let rules = parse(
            r#"{ host = ["upload.pypi.org", "*.PyPI.io"], methods = ["POST"], paths = ["/legacy/"], auth = "basic", user = "__token__", ca_cert = "~/ca.pem" }"#,
        )
        .unwrap();
        let rule = &rules[0];
        assert!(rule.allows("upload.pypi.org", "POST", "/legacy/"));
        assert!(rule.allows("files.pypi.io", "POST", "/legacy/x"));
        assert!(
            !rule.allows("pypi.io", "POST", "/legacy/"),
            "*. needs a label"
        );
        assert!(!rule.allows("upload.pypi.org", "GET", "/legacy/"));
        assert!(!rule.allows("upload.pypi.org", "POST", "/simple/"));
        assert!(!rule.allows("upload.pypi.org.evil.com", "POST", "/legacy/"));
        assert_eq!(
            rule.inject,
            Inject::Basic {
                user: "__token__".into()
            }
        );
        assert_eq!(rule.ca_cert.as_deref(), Some(Path::new("/home/u/ca.pem")));
        assert_eq!(rule.to_string(), "POST upload.pypi.org|*.pypi.io/legacy/");
    }

    #[test]
    fn several_rules_and_the_defaults() {
        let rules =
            parse(r#"[{ host = "api.github.com", auth = "bearer" }, { host = "github.com" }]"#)
                .unwrap();
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[0].inject, Inject::Bearer);
        assert_eq!(rules[1].inject, Inject::Placeholder);
        assert!(rules[1].allows("GitHub.com.", "DELETE", "/anything"));
    }

    #[test]
    fn mistakes_say_what_is_wrong() {
        for (text, says) in [
            (r#"{ host = "https://x.org" }"#, "not a host name"),
            (r#"{ host = [] }"#, "names no host"),
            (r#"{ host = "x.org", methods = ["post"] }"#, "capitals"),
            (
                r#"{ host = "x.org", paths = ["legacy"] }"#,
                "starts with `/`",
            ),
            (r#"{ host = "x.org", auth = "basic" }"#, "needs `user`"),
            (r#"{ host = "x.org", auth = "digest" }"#, "not one of"),
            (
                r#"{ host = "x.org", auth = "bearer", header = "X" }"#,
                "one place",
            ),
            (r#"{ host = "x.org", header = "X Y" }"#, "not a header name"),
            (r#"{ host = "x.org", ca_cert = "ca.pem" }"#, "absolute"),
            (r#"{ host = "x.org", port = 1 }"#, "unknown key"),
            (r#""x.org""#, "is a rule"),
            (r#"[]"#, "is a rule"),
        ] {
            let error = parse(text).unwrap_err();
            assert!(error.contains(says), "{text}: {error}");
        }
    }

    #[test]
    fn a_repository_may_not_name_a_ca() {
        let value: toml::Value =
            toml::from_str(r#"broker = { host = "x.org", ca_cert = "/ca.pem" }"#).unwrap();
        let error = rules(&value["broker"], 0..1, true, Path::new("/h")).unwrap_err();
        assert!(error.message.contains("may not name a CA"));
    }

    #[test]
    fn shapes() {
        assert_eq!(shape("ghp_").unwrap(), "ghp_");
        assert!(shape("").is_err());
        assert!(shape("a b").is_err());
        assert!(shape(&"x".repeat(33)).is_err());
    }
}
