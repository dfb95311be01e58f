//! `[vault]`: where OpenBao or HashiCorp Vault answers and how secd logs in. Only the
//! user's config.toml has it; a repository's `.sec.toml` may use `vault:` references, which
//! go through this connection, but never say where to connect or with which credentials.

use super::*;

/// Address of the CLI's default and of a dev server.
const DEFAULT_PORT_HINT: &str = "e.g. `address = \"https://bao.example.org:8200\"`";

/// How long one HTTP request to the engine may take before the next address is tried.
pub const DEFAULT_VAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The TTL sec asks of an engine for a dynamic credential; renewed while the command runs.
pub const DEFAULT_ENGINE_LEASE_TTL: Duration = Duration::from_secs(60);

/// `[vault]`, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaultSettings {
    /// Base URLs (`http(s)://host:port`), tried in order: several are the nodes of one
    /// HA cluster.
    pub addresses: Vec<String>,
    pub namespace: Option<String>,
    /// A PEM file of the CA that signed the servers' certificates (else the system's roots).
    pub ca_cert: Option<PathBuf>,
    pub auth: VaultAuth,
    pub timeout: Duration,
    /// The TTL sec asks of an engine for a dynamic credential.
    pub lease_ttl: Duration,
}

/// How secd gets its token. Every credential is a sec reference, looked up when needed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VaultAuth {
    /// A token from a reference, or (None) the CLI's `~/.vault-token`.
    Token { token: Option<Reference> },
    AppRole {
        mount: String,
        role_id: Reference,
        secret_id: Reference,
    },
    Userpass {
        mount: String,
        username: String,
        password: Reference,
    },
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawVault {
    address: Option<Spanned<toml::Value>>,
    namespace: Option<Spanned<String>>,
    ca_cert: Option<Spanned<String>>,
    auth: Option<Spanned<String>>,
    mount: Option<Spanned<String>>,
    token: Option<Spanned<String>>,
    role_id: Option<Spanned<String>>,
    secret_id: Option<Spanned<String>>,
    username: Option<Spanned<String>>,
    password: Option<Spanned<String>>,
    timeout: Option<Spanned<String>>,
    lease_ttl: Option<Spanned<String>>,
}

/// Checks `[vault]`; `span` is the table's, for what is missing.
pub(super) fn vault_settings(
    raw: &Spanned<RawVault>,
    home: &Path,
) -> Result<VaultSettings, Located> {
    let table = raw.get_ref();
    let addresses = addresses(table.address.as_ref(), raw.span())?;
    let reference = |field: &Option<Spanned<String>>, name: &str, needed_by: &str| {
        let Some(text) = field else {
            return Err(Located::new(
                raw.span(),
                format!(
                    "{needed_by} needs `{name} = \"SCHEME:...\"` (a sec reference such as `local:bao-{name}`)"
                ),
            ));
        };
        login_reference(text, name)
    };
    let method = table
        .auth
        .as_ref()
        .map(|a| a.get_ref().as_str())
        .unwrap_or("token");
    let mount = |default: &str| {
        let mount = table
            .mount
            .as_ref()
            .map(|m| m.get_ref().trim_matches('/').to_string())
            .unwrap_or_else(|| default.to_string());
        if mount.is_empty()
            || !mount
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
        {
            return Err(Located::new(
                table.mount.as_ref().map_or(raw.span(), Spanned::span),
                "`mount` is the auth method's path, e.g. \"approle\" or \"team/approle\"",
            ));
        }
        Ok(mount)
    };
    let unused = |fields: &[(&str, bool)]| {
        for (name, present) in fields {
            if *present {
                return Err(Located::new(
                    raw.span(),
                    format!("`{name}` is not used with auth = \"{method}\""),
                ));
            }
        }
        Ok(())
    };
    let auth = match method {
        "token" => {
            unused(&[
                ("role_id", table.role_id.is_some()),
                ("secret_id", table.secret_id.is_some()),
                ("username", table.username.is_some()),
                ("password", table.password.is_some()),
                ("mount", table.mount.is_some()),
            ])?;
            let token = match &table.token {
                Some(text) => Some(login_reference(text, "token")?),
                None => None,
            };
            VaultAuth::Token { token }
        }
        "approle" => {
            unused(&[
                ("token", table.token.is_some()),
                ("username", table.username.is_some()),
                ("password", table.password.is_some()),
            ])?;
            VaultAuth::AppRole {
                mount: mount("approle")?,
                role_id: reference(&table.role_id, "role_id", "auth = \"approle\"")?,
                secret_id: reference(&table.secret_id, "secret_id", "auth = \"approle\"")?,
            }
        }
        "userpass" => {
            unused(&[
                ("token", table.token.is_some()),
                ("role_id", table.role_id.is_some()),
                ("secret_id", table.secret_id.is_some()),
            ])?;
            let Some(username) = &table.username else {
                return Err(Located::new(
                    raw.span(),
                    "auth = \"userpass\" needs `username = \"...\"`",
                ));
            };
            VaultAuth::Userpass {
                mount: mount("userpass")?,
                username: username.get_ref().clone(),
                password: reference(&table.password, "password", "auth = \"userpass\"")?,
            }
        }
        _ => {
            return Err(Located::new(
                table.auth.as_ref().map_or(raw.span(), Spanned::span),
                "`auth` is one of \"token\", \"approle\" or \"userpass\"",
            ));
        }
    };
    let namespace = table
        .namespace
        .as_ref()
        .map(|n| n.get_ref().trim_matches('/').to_string())
        .filter(|n| !n.is_empty());
    let ca_cert = match &table.ca_cert {
        Some(path) => Some(absolute_path(path, home, "ca_cert")?),
        None => None,
    };
    Ok(VaultSettings {
        addresses,
        namespace,
        ca_cert,
        auth,
        timeout: duration_or(table.timeout.as_ref(), DEFAULT_VAULT_TIMEOUT)?,
        lease_ttl: duration_or(table.lease_ttl.as_ref(), DEFAULT_ENGINE_LEASE_TTL)?,
    })
}

/// `address`: one URL or a list of them.
fn addresses(
    raw: Option<&Spanned<toml::Value>>,
    table_span: Range<usize>,
) -> Result<Vec<String>, Located> {
    let Some(raw) = raw else {
        return Err(Located::new(
            table_span,
            format!("[vault] needs `address`, {DEFAULT_PORT_HINT}, or a list of a cluster's nodes"),
        ));
    };
    let texts: Vec<&str> = match raw.get_ref() {
        toml::Value::String(s) => vec![s.as_str()],
        toml::Value::Array(items) if !items.is_empty() => {
            let texts: Option<Vec<&str>> = items.iter().map(toml::Value::as_str).collect();
            texts.ok_or_else(|| Located::new(raw.span(), "`address` lists URLs as strings"))?
        }
        _ => {
            return Err(Located::new(
                raw.span(),
                format!("`address` is a URL or a list of URLs, {DEFAULT_PORT_HINT}"),
            ));
        }
    };
    texts
        .into_iter()
        .map(|text| {
            let rest = text
                .strip_prefix("https://")
                .or_else(|| text.strip_prefix("http://"));
            match rest {
                Some(host) if !host.is_empty() && !host.contains(['?', '#', ' ', '@']) => {
                    Ok(text.trim_end_matches('/').to_string())
                }
                _ => Err(Located::new(
                    raw.span(),
                    format!("an address is `https://HOST:PORT` or `http://HOST:PORT`, {DEFAULT_PORT_HINT}"),
                )),
            }
        })
        .collect()
}

/// A credential of the login: a sec reference in another vault (never `vault:` itself, which
/// would need the login it is part of).
fn login_reference(text: &Spanned<String>, name: &str) -> Result<Reference, Located> {
    if looks_like_token(text.get_ref()) {
        return Err(Located::new(
            text.span(),
            format!("`{name}` is a sec reference, but this {TOKEN_HINT}"),
        ));
    }
    let reference = Reference::parse(text.get_ref()).map_err(|e| Located::new(text.span(), e))?;
    if matches!(reference, Reference::Vault(_)) {
        return Err(Located::new(
            text.span(),
            format!(
                "`{name}` cannot come from the vault it logs in to; keep it in another vault (e.g. `local:bao-{name}`)"
            ),
        ));
    }
    Ok(reference)
}
