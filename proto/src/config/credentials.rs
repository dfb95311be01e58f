//! A scope's SSH keys (`ssh_keys`, served by the lease's own agent) and git credentials
//! (`[scope.git]`, answered by `sec git-credential`). Only the user's config.toml may name
//! them: a repository file that could ask for your SSH key or git token is refused.

use super::*;

/// An SSH private key a scope's leases may sign with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshKey {
    /// Where the OpenSSH private key (unencrypted PEM text) is kept.
    pub reference: Reference,
    /// Every signature needs the user's yes (askpass).
    pub confirm: bool,
}

/// What `sec git-credential get` answers for a host (and path prefix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitCredential {
    /// The host as git names it (`github.com`, `git.example.org:8443`).
    pub host: String,
    /// A path prefix (`team/`), empty for the whole host.
    pub path: String,
    pub username: String,
    pub secret: Reference,
    pub confirm: bool,
    /// `git credential store` writes a new password to `secret`.
    pub store: bool,
}

impl GitCredential {
    /// `HOST` or `HOST/PATH`, as config.toml names the entry.
    pub fn target(&self) -> String {
        if self.path.is_empty() {
            self.host.clone()
        } else {
            format!("{}/{}", self.host, self.path)
        }
    }

    /// Whether this entry covers `host` and `path` (git's `path=`, without a leading `/`).
    pub fn covers(&self, host: &str, path: &str) -> bool {
        if !self.host.eq_ignore_ascii_case(host) {
            return false;
        }
        let prefix = self.path.trim_matches('/');
        let path = path.trim_start_matches('/');
        prefix.is_empty()
            || path == prefix
            || path
                .strip_prefix(prefix)
                .is_some_and(|rest| rest.starts_with('/'))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGit {
    username: Option<String>,
    secret: Option<Spanned<String>>,
    confirm: Option<bool>,
    store: Option<bool>,
}

const SSH_KEY_SHAPE: &str = "an entry of `ssh_keys` is a reference to an OpenSSH private key (`\"local:ssh/id_ed25519\"`) or `{ secret = \"...\", confirm = true }`";

pub(super) fn ssh_keys(raw: &Spanned<Vec<Spanned<toml::Value>>>) -> Result<Vec<SshKey>, Located> {
    let mut keys = Vec::new();
    for entry in raw.get_ref() {
        let span = entry.span();
        let (text, confirm) = match entry.get_ref() {
            toml::Value::String(s) => (s.as_str(), false),
            toml::Value::Table(t) => {
                let secret = t.get("secret").and_then(toml::Value::as_str);
                let confirm = t.get("confirm").map(toml::Value::as_bool);
                let unknown = t.keys().any(|k| k != "secret" && k != "confirm");
                match (secret, confirm) {
                    (Some(s), None) if !unknown => (s, false),
                    (Some(s), Some(Some(c))) if !unknown => (s, c),
                    _ => return Err(Located::new(span, SSH_KEY_SHAPE)),
                }
            }
            _ => return Err(Located::new(span, SSH_KEY_SHAPE)),
        };
        let reference = credential_reference(text, span.clone(), "an `ssh_keys` entry")?;
        if keys.iter().any(|k: &SshKey| k.reference == reference) {
            return Err(Located::new(span, "this key is listed twice in `ssh_keys`"));
        }
        keys.push(SshKey { reference, confirm });
    }
    Ok(keys)
}

pub(super) fn git_credentials(
    raw: &BTreeMap<String, Spanned<RawGit>>,
) -> Result<Vec<GitCredential>, Located> {
    let mut out = Vec::new();
    for (target, entry) in raw {
        let span = entry.span();
        let entry = entry.get_ref();
        let (host, path) = target.split_once('/').unwrap_or((target.as_str(), ""));
        let host_ok = |c: char| c.is_ascii_alphanumeric() || "-.:[]_".contains(c);
        if host.is_empty() || !host.chars().all(host_ok) || target.contains("://") {
            return Err(Located::new(
                span,
                "a [scope.git] key is a host, optionally with a path prefix: `\"github.com\"`, `\"git.example.org/team\"` (no scheme)",
            ));
        }
        let Some(secret) = &entry.secret else {
            return Err(Located::new(
                span,
                "a [scope.git] entry needs `secret = \"SCHEME:...\"` (where the token is kept)",
            ));
        };
        let secret = credential_reference(secret.get_ref(), secret.span(), "`secret`")?;
        out.push(GitCredential {
            host: host.to_ascii_lowercase(),
            path: path.trim_matches('/').to_string(),
            // Hosts that take any user name with a token (GitHub, GitLab) accept this one.
            username: entry
                .username
                .clone()
                .unwrap_or_else(|| "x-access-token".into()),
            secret,
            confirm: entry.confirm.unwrap_or(false),
            store: entry.store.unwrap_or(false),
        });
    }
    Ok(out)
}

fn credential_reference(text: &str, span: Range<usize>, what: &str) -> Result<Reference, Located> {
    if looks_like_token(text) {
        return Err(Located::new(
            span,
            format!("{what} is a sec reference, but this {TOKEN_HINT}"),
        ));
    }
    Reference::parse(text).map_err(|e| Located::new(span, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(host: &str, path: &str) -> GitCredential {
        GitCredential {
            host: host.into(),
            path: path.into(),
            username: "u".into(),
            secret: Reference::parse("local:t").unwrap(),
            confirm: false,
            store: false,
        }
    }

    #[test]
    fn git_entries_cover_their_host_and_path_prefix_only() {
        let host = entry("github.com", "");
        assert!(host.covers("github.com", "any/repo.git"));
        assert!(host.covers("GitHub.com", ""));
        assert!(!host.covers("github.com.evil.example", "x"));
        assert!(!host.covers("gist.github.com", "x"));
        let team = entry("git.example.org", "team");
        assert!(team.covers("git.example.org", "team/repo.git"));
        assert!(team.covers("git.example.org", "/team/repo.git"));
        assert!(team.covers("git.example.org", "team"));
        assert!(!team.covers("git.example.org", "teamwork/repo.git"));
        assert!(!team.covers("git.example.org", "other/repo.git"));
        assert!(!team.covers("git.example.org", ""));
    }
}
