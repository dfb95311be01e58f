//! OpenBao and HashiCorp Vault (the same HTTP API): `vault:PATH[#FIELD]`.
//!
//! secd logs in with what `[vault]` in config.toml says (a token from a sec reference or
//! the CLI's `~/.vault-token`, AppRole, userpass), keeps its token in memory only, renews it
//! while it is in use and logs in again when it expired or was revoked. A read whose answer
//! carries an engine lease (a database user, a cloud key) is a *dynamic* credential: it is
//! never cached, each `sec exec` gets its own, and it is revoked in the engine when the sec
//! lease ends (see `leases`). KV v1 and v2 values are static: cached like every vault's.

mod http;
pub mod leases;

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hyper::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value as Json, json};

use self::http::{Http, HttpError, Reply};
pub use self::leases::EngineLease;

use super::{Reference, VaultError, VaultRef, Vaults};
use sec_proto::config::{VaultAuth, VaultSettings};

const BACKEND: &str = "OpenBao/Vault";

/// What one read of a path gave: its fields, and the engine lease when it is dynamic.
pub struct Read {
    pub fields: BTreeMap<String, SecretString>,
    pub lease: Option<EngineLease>,
}

impl Read {
    /// The value `reference` names: its field, or the only field there is.
    pub fn value(&self, reference: &VaultRef) -> Result<SecretString, VaultError> {
        let field = match &reference.field {
            Some(field) => field.as_str(),
            None if self.fields.len() == 1 => self.fields.keys().next().map_or("", |k| k),
            None => {
                return Err(failed(
                    reference,
                    format!(
                        "{} has {} fields ({}); name one: `vault:{}#FIELD`",
                        reference.path,
                        self.fields.len(),
                        self.field_names(),
                        reference.path
                    ),
                ));
            }
        };
        self.fields.get(field).cloned().ok_or_else(|| {
            failed(
                reference,
                format!(
                    "{} has no field `{field}` (it has: {})",
                    reference.path,
                    self.field_names()
                ),
            )
        })
    }

    fn field_names(&self) -> String {
        if self.fields.is_empty() {
            return "none".into();
        }
        self.fields.keys().cloned().collect::<Vec<_>>().join(", ")
    }
}

/// The `vault:` backend: the engine `[vault]` describes, if any.
#[derive(Default)]
pub struct OpenBaoBackend {
    engine: Mutex<Option<Arc<Engine>>>,
}

impl OpenBaoBackend {
    pub fn new() -> Self {
        Self::default()
    }

    /// Follows config.toml's `[vault]`: a changed table starts a new session (the old
    /// token is dropped; engine leases keep the engine that issued them until revoked).
    pub fn configure(&self, settings: Option<&VaultSettings>) {
        let mut engine = self.engine.lock().unwrap_or_else(|p| p.into_inner());
        if engine.as_ref().map(|e| &e.settings) == settings {
            return;
        }
        *engine = settings.map(|s| Arc::new(Engine::new(s.clone())));
    }

    pub fn engine(&self, reference: &VaultRef) -> Result<Arc<Engine>, VaultError> {
        let engine = self.engine.lock().unwrap_or_else(|p| p.into_inner());
        engine.clone().ok_or_else(|| VaultError::Unavailable {
            reference: reference.to_string(),
            backend: BACKEND,
            reason: "config.toml has no [vault] table; add one with `address = \"https://HOST:8200\"` and how to log in (docs/vault.md)".into(),
        })
    }

    /// The engine in use, for renewals.
    pub fn current(&self) -> Option<Arc<Engine>> {
        self.engine
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Whether reads of `path` gave engine leases before (never cached).
    pub fn is_dynamic(&self, reference: &VaultRef) -> bool {
        self.current().is_some_and(|e| {
            e.dynamic_paths
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .contains(&reference.path)
        })
    }
}

/// One `[vault]` and the session with it.
pub struct Engine {
    settings: VaultSettings,
    http: Http,
    session: Mutex<Session>,
    /// One login at a time; other requests never wait on it.
    login: tokio::sync::Mutex<()>,
    mounts: Mutex<Vec<Mount>>,
    dynamic_paths: Mutex<HashSet<String>>,
}

#[derive(Default)]
struct Session {
    token: Option<SecretString>,
    /// When the token expires (`None`: never, a root or periodic-less token).
    expires: Option<Instant>,
    ttl: Duration,
    renewable: bool,
    last_used: Option<Instant>,
}

impl Session {
    fn valid(&self) -> Option<SecretString> {
        let token = self.token.as_ref()?;
        match self.expires {
            Some(at) if at <= Instant::now() + Duration::from_secs(1) => None,
            _ => Some(token.clone()),
        }
    }
}

/// A secrets engine mount, as `sys/internal/ui/mounts` tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Mount {
    /// With its trailing `/`.
    path: String,
    kind: MountKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MountKind {
    KvV1,
    KvV2,
    Other,
}

impl Engine {
    fn new(settings: VaultSettings) -> Engine {
        Engine {
            http: Http::new(&settings),
            settings,
            session: Mutex::default(),
            login: tokio::sync::Mutex::new(()),
            mounts: Mutex::default(),
            dynamic_paths: Mutex::default(),
        }
    }

    /// The TTL sec asks for dynamic credentials.
    pub fn lease_ttl(&self) -> Duration {
        self.settings.lease_ttl
    }

    /// Reads `reference.path` once: every field, and the engine lease if it is dynamic
    /// (asked to live [`VaultSettings::lease_ttl`], renewed by secd while the command runs).
    pub async fn read(&self, reference: &VaultRef, vaults: &Vaults) -> Result<Read, VaultError> {
        let mount = self.mount_of(&reference.path, vaults).await;
        let api = api_path(&reference.path, mount.as_ref());
        let reply = self
            .authed(Method::GET, &api, None, reference, vaults)
            .await?;
        match reply.status {
            s if s.is_success() => {}
            StatusCode::NOT_FOUND => {
                return Err(VaultError::NotFound {
                    reference: reference.to_string(),
                    backend: BACKEND,
                });
            }
            _ => return Err(self.refusal(reply, &api, "read", reference, vaults).await),
        }
        let data = match mount.map(|m| m.kind) {
            Some(MountKind::KvV2) => &reply.body["data"]["data"],
            _ => &reply.body["data"],
        };
        let fields = fields_of(data);
        let lease_id = reply.body["lease_id"].as_str().unwrap_or_default();
        if lease_id.is_empty() {
            return Ok(Read {
                fields,
                lease: None,
            });
        }
        self.dynamic_paths
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(reference.path.clone());
        let mut lease = EngineLease {
            id: lease_id.to_string(),
            expires: std::time::SystemTime::now()
                + Duration::from_secs(reply.body["lease_duration"].as_u64().unwrap_or(0)),
            renewable: reply.body["renewable"].as_bool().unwrap_or(false),
        };
        // Short from the start: if secd dies, the engine ends the credential soon.
        if lease.renewable
            && let Ok(expires) = self.renew_lease(&lease.id, vaults).await
        {
            lease.expires = expires;
        }
        Ok(Read {
            fields,
            lease: Some(lease),
        })
    }

    /// Writes `value` to the field of a KV entry, keeping its other fields (KV v2 with
    /// check-and-set, so a concurrent writer is not overwritten unseen).
    pub async fn store(
        &self,
        reference: &VaultRef,
        value: SecretString,
        vaults: &Vaults,
    ) -> Result<(), VaultError> {
        let Some(field) = &reference.field else {
            return Err(failed(
                reference,
                format!("name the field to write: `vault:{}#FIELD`", reference.path),
            ));
        };
        let (mount, mut data, version) = self.kv_entry(reference, vaults, "write").await?;
        data.insert(
            field.clone(),
            Json::String(value.expose_secret().to_string()),
        );
        self.kv_write(reference, &mount, data, version, vaults)
            .await
    }

    /// Deletes the field of a KV entry; the entry's last field deletes the entry (KV v2:
    /// its latest version, as `bao kv delete` does).
    pub async fn delete(&self, reference: &VaultRef, vaults: &Vaults) -> Result<(), VaultError> {
        let (mount, mut data, version) = self.kv_entry(reference, vaults, "delete").await?;
        let not_found = || VaultError::NotFound {
            reference: reference.to_string(),
            backend: BACKEND,
        };
        if version == Some(0) || (version.is_none() && data.is_empty()) {
            return Err(not_found());
        }
        if let Some(field) = &reference.field {
            if data.remove(field).is_none() {
                return Err(not_found());
            }
            if !data.is_empty() {
                return self
                    .kv_write(reference, &mount, data, version, vaults)
                    .await;
            }
        }
        let api = api_path(&reference.path, Some(&mount));
        let reply = self
            .authed(Method::DELETE, &api, None, reference, vaults)
            .await?;
        if !reply.status.is_success() {
            return Err(self.refusal(reply, &api, "delete", reference, vaults).await);
        }
        Ok(())
    }

    /// A KV entry's mount, data and (KV v2) version; version `Some(0)` or empty data
    /// when it does not exist yet.
    async fn kv_entry(
        &self,
        reference: &VaultRef,
        vaults: &Vaults,
        action: &'static str,
    ) -> Result<(Mount, serde_json::Map<String, Json>, Option<u64>), VaultError> {
        let Some(mount) = self
            .mount_of(&reference.path, vaults)
            .await
            .filter(|m| m.kind != MountKind::Other)
        else {
            return Err(VaultError::Unsupported {
                reference: reference.to_string(),
                backend: BACKEND,
                action,
                hint: "sec writes and deletes only KV v1 and v2 entries; use `bao write` for other engines",
            });
        };
        let api = api_path(&reference.path, Some(&mount));
        let reply = self
            .authed(Method::GET, &api, None, reference, vaults)
            .await?;
        let v2 = mount.kind == MountKind::KvV2;
        match reply.status {
            StatusCode::NOT_FOUND => Ok((mount, Default::default(), v2.then_some(0))),
            s if s.is_success() => {
                let (data, version) = if v2 {
                    let version = reply.body["data"]["metadata"]["version"]
                        .as_u64()
                        .unwrap_or(0);
                    (reply.body["data"]["data"].clone(), Some(version))
                } else {
                    (reply.body["data"].clone(), None)
                };
                Ok((
                    mount,
                    data.as_object().cloned().unwrap_or_default(),
                    version,
                ))
            }
            _ => Err(self.refusal(reply, &api, "read", reference, vaults).await),
        }
    }

    async fn kv_write(
        &self,
        reference: &VaultRef,
        mount: &Mount,
        data: serde_json::Map<String, Json>,
        version: Option<u64>,
        vaults: &Vaults,
    ) -> Result<(), VaultError> {
        let api = api_path(&reference.path, Some(mount));
        let body = match version {
            Some(cas) => json!({ "options": { "cas": cas }, "data": data }),
            None => Json::Object(data),
        };
        let reply = self
            .authed(Method::POST, &api, Some(&body), reference, vaults)
            .await?;
        if reply.status.is_success() {
            return Ok(());
        }
        if reply.status == StatusCode::BAD_REQUEST && reply.errors().contains("check-and-set") {
            return Err(failed(
                reference,
                "someone else changed the entry meanwhile; nothing was written, try again".into(),
            ));
        }
        Err(self.refusal(reply, &api, "update", reference, vaults).await)
    }

    /// Renews an engine lease for [`VaultSettings::lease_ttl`] from now; returns when it
    /// now ends (the engine may give less: its max TTL).
    pub async fn renew_lease(
        &self,
        id: &str,
        vaults: &Vaults,
    ) -> Result<std::time::SystemTime, VaultError> {
        let body = json!({ "lease_id": id, "increment": self.settings.lease_ttl.as_secs() });
        let reference = lease_reference(id);
        let reply = self
            .authed(
                Method::PUT,
                "sys/leases/renew",
                Some(&body),
                &reference,
                vaults,
            )
            .await?;
        if !reply.status.is_success() {
            return Err(failed(
                &reference,
                format!("renewing lease {id} failed: {}", reply.errors()),
            ));
        }
        let seconds = reply.body["lease_duration"].as_u64().unwrap_or(0);
        Ok(std::time::SystemTime::now() + Duration::from_secs(seconds))
    }

    /// Revokes an engine lease: the engine destroys the credential now.
    pub async fn revoke_lease(&self, id: &str, vaults: &Vaults) -> Result<(), VaultError> {
        let body = json!({ "lease_id": id });
        let reference = lease_reference(id);
        let reply = self
            .authed(
                Method::PUT,
                "sys/leases/revoke",
                Some(&body),
                &reference,
                vaults,
            )
            .await?;
        if reply.status.is_success() {
            return Ok(());
        }
        Err(failed(
            &reference,
            format!("revoking lease {id} failed: {}", reply.errors()),
        ))
    }

    /// Renews secd's own token past half its TTL (checked every second), while it is in use (`busy`: engine
    /// leases depend on it, as the engine revokes them with the token).
    pub async fn keep_token(&self, busy: bool) {
        let due = {
            let session = self.session.lock().unwrap_or_else(|p| p.into_inner());
            let in_use = busy || session.last_used.is_some_and(|t| t.elapsed() < session.ttl);
            match (&session.token, session.expires) {
                (Some(token), Some(expires)) if session.renewable && in_use => {
                    let left = expires.saturating_duration_since(Instant::now());
                    (!left.is_zero() && left < session.ttl / 2).then(|| token.clone())
                }
                _ => None,
            }
        };
        if let Some(token) = due {
            match self
                .http
                .call(
                    Method::POST,
                    "auth/token/renew-self",
                    Some(&token),
                    Some(&json!({})),
                )
                .await
            {
                Ok(reply) if reply.status.is_success() => {
                    let ttl = Duration::from_secs(
                        reply.body["auth"]["lease_duration"].as_u64().unwrap_or(0),
                    );
                    let mut session = self.session.lock().unwrap_or_else(|p| p.into_inner());
                    session.expires = Some(Instant::now() + ttl);
                    tracing::info!(ttl = ?ttl, "renewed secd's OpenBao/Vault token");
                }
                Ok(reply) => tracing::warn!(
                    "renewing secd's OpenBao/Vault token failed: {}",
                    reply.errors()
                ),
                Err(e) => tracing::warn!("renewing secd's OpenBao/Vault token failed: {e}"),
            }
        }
    }

    /// A request with secd's token; a token the engine no longer knows (expired, revoked)
    /// is dropped and the request tried once more after a new login.
    async fn authed(
        &self,
        method: Method,
        api: &str,
        body: Option<&Json>,
        reference: &VaultRef,
        vaults: &Vaults,
    ) -> Result<Reply, VaultError> {
        for attempt in 0..2 {
            let token = self.token(reference, vaults).await?;
            let reply = self
                .http
                .call(method.clone(), api, Some(&token), body)
                .await
                .map_err(|e| unavailable(reference, e))?;
            if reply.status != StatusCode::FORBIDDEN || attempt == 1 {
                return Ok(reply);
            }
            // Denied: by policy, or because the token is no longer valid?
            let lookup = self
                .http
                .call(Method::GET, "auth/token/lookup-self", Some(&token), None)
                .await
                .map_err(|e| unavailable(reference, e))?;
            if lookup.status.is_success() {
                return Ok(reply);
            }
            tracing::info!("secd's OpenBao/Vault token is no longer valid; logging in again");
            self.forget_token(&token);
        }
        unreachable!("the loop returns on its second attempt")
    }

    fn forget_token(&self, stale: &SecretString) {
        let mut session = self.session.lock().unwrap_or_else(|p| p.into_inner());
        if session.token.as_ref().map(|t| t.expose_secret()) == Some(stale.expose_secret()) {
            *session = Session::default();
        }
    }

    /// secd's token: the one in memory while valid, else a new login.
    async fn token(
        &self,
        reference: &VaultRef,
        vaults: &Vaults,
    ) -> Result<SecretString, VaultError> {
        if let Some(error) = self.http.setup_error() {
            return Err(unavailable(reference, error));
        }
        let valid = || {
            let mut session = self.session.lock().unwrap_or_else(|p| p.into_inner());
            session.last_used = Some(Instant::now());
            session.valid()
        };
        if let Some(token) = valid() {
            return Ok(token);
        }
        let _one_login = self.login.lock().await;
        if let Some(token) = valid() {
            return Ok(token);
        }
        let session = self.login(reference, vaults).await?;
        let token = session
            .token
            .clone()
            .unwrap_or_else(|| SecretString::from(""));
        *self.session.lock().unwrap_or_else(|p| p.into_inner()) = session;
        Ok(token)
    }

    async fn login(&self, reference: &VaultRef, vaults: &Vaults) -> Result<Session, VaultError> {
        let credential = |r: &Reference| {
            let r = r.clone();
            async move {
                // Boxed: a login credential is looked up through the registry this
                // backend belongs to (never a `vault:` reference, config forbids it).
                Box::pin(vaults.get(&r))
                    .await
                    .map_err(|e| failed(reference, format!("cannot get the login credential: {e}")))
            }
        };
        let (path, body, how) = match &self.settings.auth {
            VaultAuth::Token { token } => {
                let (token, source) = match token {
                    Some(r) => (credential(r).await?, r.to_string()),
                    None => (cli_token(reference)?, "~/.vault-token".to_string()),
                };
                return self.adopt(token, &source, reference).await;
            }
            VaultAuth::AppRole {
                mount,
                role_id,
                secret_id,
            } => (
                format!("auth/{mount}/login"),
                json!({
                    "role_id": credential(role_id).await?.expose_secret(),
                    "secret_id": credential(secret_id).await?.expose_secret(),
                }),
                format!("AppRole login at auth/{mount}"),
            ),
            VaultAuth::Userpass {
                mount,
                username,
                password,
            } => (
                format!("auth/{mount}/login/{username}"),
                json!({ "password": credential(password).await?.expose_secret() }),
                format!("userpass login of {username} at auth/{mount}"),
            ),
        };
        let reply = self
            .http
            .call(Method::POST, &path, None, Some(&body))
            .await
            .map_err(|e| unavailable(reference, e))?;
        drop(body);
        let auth = &reply.body["auth"];
        let Some(token) = auth["client_token"].as_str().filter(|t| !t.is_empty()) else {
            return Err(failed(
                reference,
                format!(
                    "{how} failed: {}; check the credentials in [vault]",
                    reply.errors()
                ),
            ));
        };
        let ttl = Duration::from_secs(auth["lease_duration"].as_u64().unwrap_or(0));
        tracing::info!(ttl = ?ttl, "logged in to OpenBao/Vault ({how})");
        Ok(Session {
            token: Some(SecretString::from(token)),
            expires: (!ttl.is_zero()).then(|| Instant::now() + ttl),
            ttl,
            renewable: auth["renewable"].as_bool().unwrap_or(false),
            last_used: Some(Instant::now()),
        })
    }

    /// A token given as is: its TTL and renewability from the engine.
    async fn adopt(
        &self,
        token: SecretString,
        source: &str,
        reference: &VaultRef,
    ) -> Result<Session, VaultError> {
        let lookup = self
            .http
            .call(Method::GET, "auth/token/lookup-self", Some(&token), None)
            .await
            .map_err(|e| unavailable(reference, e))?;
        if !lookup.status.is_success() {
            return Err(failed(
                reference,
                format!(
                    "the token from {source} is not valid (expired or revoked: {}); store a new one there (`bao login` writes ~/.vault-token)",
                    lookup.errors()
                ),
            ));
        }
        let ttl = Duration::from_secs(lookup.body["data"]["ttl"].as_u64().unwrap_or(0));
        Ok(Session {
            token: Some(token),
            expires: (!ttl.is_zero()).then(|| Instant::now() + ttl),
            ttl,
            renewable: lookup.body["data"]["renewable"].as_bool().unwrap_or(false),
            last_used: Some(Instant::now()),
        })
    }

    /// The mount `path` is in (remembered); `None` where the engine does not say (then
    /// the path is read as written).
    async fn mount_of(&self, path: &str, vaults: &Vaults) -> Option<Mount> {
        let known = |mounts: &Vec<Mount>| {
            mounts
                .iter()
                .find(|m| format!("{path}/").starts_with(&m.path))
                .cloned()
        };
        if let Some(mount) = known(&self.mounts.lock().unwrap_or_else(|p| p.into_inner())) {
            return Some(mount);
        }
        let probe = VaultRef {
            path: path.to_string(),
            field: None,
        };
        let reply = self
            .authed(
                Method::GET,
                &format!("sys/internal/ui/mounts/{path}"),
                None,
                &probe,
                vaults,
            )
            .await
            .ok()
            .filter(|r| r.status.is_success())?;
        let data = &reply.body["data"];
        let mount_path = data["path"].as_str().filter(|p| !p.is_empty())?.to_string();
        let kind = match (data["type"].as_str(), data["options"]["version"].as_str()) {
            (Some("kv"), Some("2")) => MountKind::KvV2,
            (Some("kv" | "generic"), _) => MountKind::KvV1,
            _ => MountKind::Other,
        };
        let mount = Mount {
            path: mount_path,
            kind,
        };
        self.mounts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(mount.clone());
        Some(mount)
    }

    /// The error for a refused request: a policy that lacks the capability is named.
    async fn refusal(
        &self,
        reply: Reply,
        api: &str,
        action: &str,
        reference: &VaultRef,
        vaults: &Vaults,
    ) -> VaultError {
        if reply.status != StatusCode::FORBIDDEN {
            return failed(
                reference,
                format!("{action} of {api} failed: {}", reply.errors()),
            );
        }
        let (needed, snippet) = match action {
            "read" => ("`read`", "\"read\""),
            "delete" => ("`delete`", "\"delete\""),
            _ => ("`create` and `update`", "\"create\", \"update\""),
        };
        let body = json!({ "paths": [api] });
        let granted = match self
            .authed(
                Method::POST,
                "sys/capabilities-self",
                Some(&body),
                reference,
                vaults,
            )
            .await
        {
            Ok(r) if r.status.is_success() => r.body[api]
                .as_array()
                .map(|caps| {
                    caps.iter()
                        .filter_map(Json::as_str)
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default(),
            _ => String::new(),
        };
        let granted = if granted.is_empty() {
            "none known".into()
        } else {
            granted
        };
        failed(
            reference,
            format!(
                "permission denied: {action} of `{api}` needs {needed}, and secd's token has [{granted}] there; add `path \"{api}\" {{ capabilities = [{snippet}] }}` to one of its policies"
            ),
        )
    }
}

/// The API path of a logical path: `MOUNT/data/REST` in a KV v2 mount.
fn api_path(path: &str, mount: Option<&Mount>) -> String {
    match mount {
        Some(Mount {
            path: mount,
            kind: MountKind::KvV2,
        }) => {
            let rest = path.strip_prefix(mount.as_str()).unwrap_or("");
            format!("{mount}data/{rest}")
        }
        _ => path.to_string(),
    }
}

/// A reply's data as fields: strings as they are, anything else as its JSON text.
fn fields_of(data: &Json) -> BTreeMap<String, SecretString> {
    data.as_object()
        .map(|object| {
            object
                .iter()
                .map(|(k, v)| {
                    let text = match v {
                        Json::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    (k.clone(), SecretString::from(text))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The CLI's token file, `~/.vault-token`.
fn cli_token(reference: &VaultRef) -> Result<SecretString, VaultError> {
    let home = std::env::var_os("HOME").unwrap_or_default();
    let path = std::path::Path::new(&home).join(".vault-token");
    let text = std::fs::read_to_string(&path).map_err(|e| {
        failed(
            reference,
            format!(
                "[vault] logs in with the CLI's token, but {} cannot be read ({e}); run `bao login` or set `token = \"keyring:...\"` in [vault]",
                path.display()
            ),
        )
    })?;
    Ok(SecretString::from(text.trim().to_string()))
}

/// Names an engine lease where errors name a reference.
fn lease_reference(id: &str) -> VaultRef {
    VaultRef {
        path: id.to_string(),
        field: None,
    }
}

fn failed(reference: &VaultRef, reason: String) -> VaultError {
    VaultError::Failed {
        reference: reference.to_string(),
        backend: BACKEND,
        reason,
    }
}

fn unavailable(reference: &VaultRef, error: HttpError) -> VaultError {
    VaultError::Unavailable {
        reference: reference.to_string(),
        backend: BACKEND,
        reason: match error {
            HttpError::Unreachable(why) => format!(
                "no address in [vault] answered ({why}); is the server running and reachable (`bao status`)?"
            ),
            other => other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kv2_paths_gain_their_data_segment() {
        let kv2 = Mount {
            path: "secret/".into(),
            kind: MountKind::KvV2,
        };
        let kv1 = Mount {
            path: "kv/".into(),
            kind: MountKind::KvV1,
        };
        assert_eq!(api_path("secret/pypi", Some(&kv2)), "secret/data/pypi");
        assert_eq!(api_path("secret/a/b", Some(&kv2)), "secret/data/a/b");
        assert_eq!(api_path("kv/pypi", Some(&kv1)), "kv/pypi");
        assert_eq!(api_path("database/creds/app", None), "database/creds/app");
    }

    #[test]
    fn a_field_is_picked_or_named_among_the_others() {
        let read = Read {
            fields: fields_of(&json!({ "username": "u", "password": "canary-pw", "n": 3 })),
            lease: None,
        };
        let r = |field: Option<&str>| VaultRef {
            path: "db/creds/app".into(),
            field: field.map(String::from),
        };
        assert_eq!(
            read.value(&r(Some("password"))).unwrap().expose_secret(),
            "canary-pw"
        );
        assert_eq!(read.value(&r(Some("n"))).unwrap().expose_secret(), "3");
        let missing = read.value(&r(Some("token"))).unwrap_err().to_string();
        assert!(
            missing.contains("no field `token`") && missing.contains("n, password, username"),
            "{missing}"
        );
        assert!(!missing.contains("canary"), "{missing}");
        let ambiguous = read.value(&r(None)).unwrap_err().to_string();
        assert!(ambiguous.contains("#FIELD"), "{ambiguous}");
    }
}
