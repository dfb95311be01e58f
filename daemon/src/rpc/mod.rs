//! The gRPC surface: checks the caller, maps requests onto [`Daemon`] operations and
//! results onto replies. No vault or cache logic lives here.

use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use sec_proto::pb::{self, lease_event, sec_server::Sec};
use sec_proto::socket::{Peer, peer_allowed};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::{Notify, mpsc};
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::config::{OnLeave, REPO_FILE, Scope, Value, canonical_or_normal};
use crate::daemon::grant::LeaseAsk;
use crate::daemon::{self, Daemon, LeaseError, RepoView, Selector, unix_time};
use crate::host::peer;
use crate::lease::audit::{Event, Record};
use crate::lease::confirm;
use crate::lease::live::{EventSender, LeaseRecord};
use crate::store::vault;
use crate::store::vault::Reference;
use crate::store::vault::local::format::LocalVaultError;

pub struct Service {
    daemon: Arc<Daemon>,
    shutdown: Arc<Notify>,
}

impl Service {
    pub fn new(daemon: Arc<Daemon>, shutdown: Arc<Notify>) -> Self {
        Self { daemon, shutdown }
    }
}

/// The caller's credentials, refused unless they are our own user's. The listener already
/// drops other users' connections; this second check guards every request.
fn caller<T>(request: &Request<T>) -> Result<Peer, Status> {
    let peer = request
        .extensions()
        .get::<Peer>()
        .cloned()
        .unwrap_or_default();
    if peer_allowed(&peer) {
        Ok(peer)
    } else {
        Err(Status::permission_denied(
            "secd serves only the user it runs as",
        ))
    }
}

/// A reference from a client. Neither a refusal nor a parse error repeats the text: it may
/// be a token typed where the reference belongs.
fn parse_reference(text: &str) -> Result<Reference, Status> {
    if sec_proto::token::looks_like_token(text) {
        return Err(Status::invalid_argument(sec_proto::token::REFUSAL));
    }
    Reference::parse(text)
        .map_err(|e| Status::invalid_argument(format!("the reference is not valid: {e}")))
}

fn absolute_dir(dir: &str) -> Result<PathBuf, Status> {
    let path = Path::new(dir);
    if !path.is_absolute() {
        return Err(Status::invalid_argument(format!(
            "{dir}: the directory must be absolute"
        )));
    }
    Ok(canonical_or_normal(path))
}

/// The variables of a scope; literal values only with `show_literals` (a repository file's,
/// which the user must see in full to approve them).
fn var_infos(scope: &Scope, daemon: &Daemon, show_literals: bool) -> Vec<pb::VarInfo> {
    scope
        .env
        .iter()
        .map(|(name, value)| match value {
            Value::Literal(text) => pb::VarInfo {
                name: name.clone(),
                literal: true,
                value: if show_literals {
                    text.clone()
                } else {
                    String::new()
                },
                ..Default::default()
            },
            Value::Secret(reference) => pb::VarInfo {
                name: name.clone(),
                reference: reference.to_string(),
                literal: false,
                cached: daemon.is_cached(&scope.dir, reference),
                value: String::new(),
            },
        })
        .collect()
}

/// What an approval question shows: the file and every variable it asks for, each literal
/// in full, untrusted text made visible (no escape sequence can hide a line).
fn approval_prompt(view: &RepoView, scope: &Scope) -> String {
    use sec_proto::display::visible;
    let mut prompt = format!(
        "Approve {} (sha256 {})? It asks for:",
        visible(&view.file.path.display().to_string()),
        &view.file.sha256[..12]
    );
    for (name, value) in &scope.env {
        match value {
            Value::Literal(text) => prompt.push_str(&format!("\n  {name} = \"{}\"", visible(text))),
            Value::Secret(reference) => prompt.push_str(&format!(
                "\n  {name} <- {}",
                visible(&reference.to_string())
            )),
        }
    }
    prompt
}

fn repo_info(view: &RepoView, daemon: &Daemon) -> pb::RepoFile {
    let (vars, error) = match &view.parsed {
        Ok(scope) => (var_infos(scope, daemon, true), String::new()),
        Err(e) => (Vec::new(), e.to_string()),
    };
    pb::RepoFile {
        path: view.file.path.display().to_string(),
        dir: view.file.dir.display().to_string(),
        trust: view.trust.as_str().into(),
        sha256: view.file.sha256.clone(),
        vars,
        error,
    }
}

impl Service {
    fn scope_info(&self, dir: &Path) -> pb::ScopeInfo {
        let snapshot = self.daemon.current_config();
        let effective = self.daemon.effective(&snapshot.config, dir);
        let mut info = pb::ScopeInfo {
            config_error: snapshot.error.clone().unwrap_or_default(),
            untrusted: snapshot
                .config
                .untrusted_for(dir)
                .map(|u| u.display().to_string())
                .unwrap_or_default(),
            repo: effective.repo.as_ref().map(|r| repo_info(r, &self.daemon)),
            notice: effective
                .repo
                .as_ref()
                .and_then(RepoView::notice)
                .unwrap_or_default(),
            ..Default::default()
        };
        if let Some(scope) = &effective.scope {
            let from_repo = effective
                .repo
                .as_ref()
                .is_some_and(|r| r.file.dir == scope.dir);
            info.found = true;
            info.dir = scope.dir.display().to_string();
            info.source = if from_repo {
                effective
                    .repo
                    .as_ref()
                    .map(|r| r.file.path.display().to_string())
                    .unwrap_or_default()
            } else {
                self.daemon.config.path().display().to_string()
            };
            info.vars = var_infos(scope, &self.daemon, false);
            info.ttl_secs = scope.ttl.as_secs();
            info.max_ttl_secs = scope.max_ttl.as_secs();
            info.unlocked = self.daemon.scope_unlocked(scope);
            info.prompt = scope.prompt;
            info.on_leave_revoke = scope.on_leave == OnLeave::Revoke;
        }
        info
    }

    async fn local_reply(&self) -> pb::LocalStatusReply {
        let local = self.daemon.local.status();
        let default = self.daemon.vaults.default_store().await;
        pb::LocalStatusReply {
            path: local.path.display().to_string(),
            exists: local.exists,
            unlocked: local.unlocked,
            expires_in_secs: local.expires_in.map(|d| d.as_secs()).unwrap_or_default(),
            default_store: default.scheme.into(),
            default_reason: default.reason,
        }
    }

    /// The passphrase through the askpass program, for a client without a terminal; a new
    /// vault's passphrase is asked twice.
    async fn passphrase_by_askpass(&self, create: bool) -> Result<SecretString, Status> {
        let snapshot = self.daemon.current_config();
        let program = confirm::askpass_program(snapshot.config.defaults.askpass.as_deref());
        let timeout = snapshot.config.defaults.confirm_timeout;
        let path = self.daemon.local.status().path;
        let ask = |prompt: String| {
            let program = program.clone();
            async move {
                confirm::ask_secret(program.as_deref(), &prompt, timeout)
                    .await
                    .map_err(|e| {
                        Status::failed_precondition(format!("cannot ask for the passphrase: {e}"))
                    })
            }
        };
        let what = if create {
            "a new passphrase for"
        } else {
            "the passphrase of"
        };
        let first = ask(format!("sec: {what} the local vault {}", path.display())).await?;
        if create {
            let again = ask(format!(
                "sec: the same passphrase again for {}",
                path.display()
            ))
            .await?;
            if again.expose_secret() != first.expose_secret() {
                return Err(Status::invalid_argument(
                    "the two passphrases differ; nothing was created",
                ));
            }
        }
        Ok(first)
    }

    /// The repository file at or above `dir`, for `sec allow` and `sec deny`.
    fn repo_file(&self, dir: &Path) -> Result<RepoView, Status> {
        let snapshot = self.daemon.current_config();
        self.daemon
            .effective(&snapshot.config, dir)
            .repo
            .ok_or_else(|| {
                Status::not_found(format!("no {REPO_FILE} at or above {}", dir.display()))
            })
    }
}

type LeaseStream = Pin<Box<dyn Stream<Item = Result<pb::LeaseEvent, Status>> + Send>>;

#[tonic::async_trait]
impl Sec for Service {
    async fn hello(
        &self,
        request: Request<pb::HelloRequest>,
    ) -> Result<Response<pb::HelloReply>, Status> {
        caller(&request)?;
        Ok(Response::new(pb::HelloReply {
            version: sec_proto::VERSION.into(),
            protocol: self.daemon.protocol,
            pid: std::process::id(),
            notices: self.daemon.tripwires.take_notices(),
        }))
    }

    async fn status(
        &self,
        request: Request<pb::StatusRequest>,
    ) -> Result<Response<pb::StatusReply>, Status> {
        caller(&request)?;
        let snapshot = self.daemon.current_config();
        let mut cached: Vec<pb::CachedScope> = Vec::new();
        for info in self.daemon.cache.snapshot() {
            let dir = info.key.scope.display().to_string();
            let expires = info.expires_in.as_secs();
            match cached.last_mut() {
                Some(last) if last.dir == dir => {
                    last.references.push(info.key.reference.to_string());
                    last.expires_in_secs = last.expires_in_secs.min(expires);
                }
                _ => cached.push(pb::CachedScope {
                    dir,
                    references: vec![info.key.reference.to_string()],
                    expires_in_secs: expires,
                }),
            }
        }
        let leases = self
            .daemon
            .leases
            .list()
            .into_iter()
            .map(lease_info)
            .collect();
        Ok(Response::new(pb::StatusReply {
            pid: std::process::id(),
            version: sec_proto::VERSION.into(),
            protocol: self.daemon.protocol,
            cached,
            leases,
            config_path: self.daemon.config.path().display().to_string(),
            config_error: snapshot.error.unwrap_or_default(),
            uptime_secs: self.daemon.uptime().as_secs(),
            local: Some(self.local_reply().await),
        }))
    }

    async fn resolve(
        &self,
        request: Request<pb::ResolveRequest>,
    ) -> Result<Response<pb::ScopeInfo>, Status> {
        caller(&request)?;
        let dir = absolute_dir(&request.get_ref().dir)?;
        Ok(Response::new(self.scope_info(&dir)))
    }

    async fn unlock(
        &self,
        request: Request<pb::UnlockRequest>,
    ) -> Result<Response<pb::ScopeInfo>, Status> {
        let peer = caller(&request)?;
        let dir = absolute_dir(&request.get_ref().dir)?;
        let snapshot = self.daemon.current_config();
        if let Some(scope) = &self.daemon.effective(&snapshot.config, &dir).scope {
            self.daemon
                .resolve_vars(scope, &[])
                .await
                .map_err(lease_status)?;
            tracing::info!(scope = %scope.dir.display(), "unlocked");
            self.daemon.audit.note(
                Event::Unlock,
                &Record {
                    scope: scope.dir.display().to_string(),
                    names: scope.env.keys().cloned().collect(),
                    references: scope
                        .env
                        .values()
                        .filter_map(|v| match v {
                            Value::Secret(r) => Some(r.to_string()),
                            Value::Literal(_) => None,
                        })
                        .collect(),
                    pid: peer.pid.map(|p| p as u32),
                    ..Default::default()
                },
            );
        }
        Ok(Response::new(self.scope_info(&dir)))
    }

    type LeaseStream = LeaseStream;

    async fn lease(
        &self,
        request: Request<pb::LeaseRequest>,
    ) -> Result<Response<LeaseStream>, Status> {
        let peer = caller(&request)?;
        let request = request.into_inner();
        let cwd = peer::caller_cwd(&peer, &request.cwd).ok_or_else(|| {
            Status::invalid_argument(
                "cannot tell the caller's working directory: the client passed no handle of it (an older or another client, or a directory that was removed)",
            )
        })?;
        let ask = LeaseAsk {
            argv: request.argv,
            only: request.only,
            cwd,
            pid: peer.pid.unwrap_or_default() as u32,
            exe: peer::caller_exe(peer.pid)
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
        };
        let granted = self.daemon.grant(&ask).await.map_err(lease_status)?;
        let record = granted.record;
        tracing::info!(
            lease = %record.id,
            scope = %record.scope.as_deref().map(Path::display).map(|d| d.to_string()).unwrap_or_default(),
            names = ?record.names,
            pid = record.pid,
            "granted"
        );
        let grant = pb::Grant {
            lease_id: record.id.clone(),
            scope: record
                .scope
                .as_deref()
                .map(|d| d.display().to_string())
                .unwrap_or_default(),
            env: granted
                .vars
                .iter()
                .map(|r| pb::EnvVar {
                    name: r.name.clone(),
                    value: r.value.expose_secret().to_string(),
                })
                .collect(),
            config_error: granted.config_error,
            notice: granted.notice,
        };
        drop(granted.vars);
        let (events, receiver) = mpsc::channel(4);
        events
            .try_send(Ok(pb::LeaseEvent {
                event: Some(lease_event::Event::Grant(grant)),
            }))
            .map_err(|_| Status::internal("cannot queue the grant"))?;
        let id = record.id.clone();
        self.daemon.leases.insert(record, events.clone());
        tokio::spawn(watch_lease(
            Arc::clone(&self.daemon),
            id,
            events,
            granted.max_lease,
        ));
        Ok(Response::new(Box::pin(ReceiverStream::new(receiver))))
    }

    async fn lease_started(
        &self,
        request: Request<pb::LeaseStartedRequest>,
    ) -> Result<Response<pb::LeaseStartedReply>, Status> {
        let peer = caller(&request)?;
        let pb::LeaseStartedRequest {
            lease_id,
            child_pid,
        } = request.into_inner();
        let holder = peer.pid.unwrap_or_default() as u32;
        if !self.daemon.leases.set_child(&lease_id, holder, child_pid) {
            return Err(Status::not_found(format!(
                "no live lease {lease_id} of this process"
            )));
        }
        Ok(Response::new(pb::LeaseStartedReply {}))
    }

    async fn revoke(
        &self,
        request: Request<pb::RevokeRequest>,
    ) -> Result<Response<pb::RevokeReply>, Status> {
        let peer = caller(&request)?;
        let pb::RevokeRequest {
            dir,
            lease_id,
            reference,
        } = request.into_inner();
        let selector = if !lease_id.is_empty() {
            Selector::Lease(lease_id)
        } else if !reference.is_empty() {
            Selector::Reference(parse_reference(&reference)?)
        } else if !dir.is_empty() {
            let dir = absolute_dir(&dir)?;
            let snapshot = self.daemon.current_config();
            let effective = self.daemon.effective(&snapshot.config, &dir);
            Selector::Scope(effective.scope.map_or(dir, |s| s.dir))
        } else {
            Selector::All
        };
        let requester = peer.pid.map(|p| p as u32);
        let (dropped, ended, refused) = self.daemon.revoke(&selector, "`sec revoke`", requester);
        if let Selector::Lease(id) = &selector
            && ended == 0
        {
            return Err(Status::not_found(format!(
                "no live lease {id}; `sec status` lists them"
            )));
        }
        Ok(Response::new(pb::RevokeReply {
            secrets_dropped: dropped as u32,
            leases_ended: ended as u32,
            grants_refused: refused as u32,
        }))
    }

    async fn allow(
        &self,
        request: Request<pb::AllowRequest>,
    ) -> Result<Response<pb::ScopeInfo>, Status> {
        caller(&request)?;
        let pb::AllowRequest {
            dir,
            sha256,
            confirmed,
        } = request.into_inner();
        let dir = absolute_dir(&dir)?;
        let view = self.repo_file(&dir)?;
        if sha256 != view.file.sha256 {
            return Err(Status::failed_precondition(format!(
                "{} changed while you were reading it, or you were not shown it; look again and re-run `sec allow`",
                view.file.path.display()
            )));
        }
        let scope = match &view.parsed {
            Ok(scope) => scope,
            Err(e) => return Err(Status::failed_precondition(format!("not approved: {e}"))),
        };
        if !confirmed {
            // Nobody said yes at a terminal: the user must, through askpass, which the
            // caller does not control.
            let defaults = self.daemon.current_config().config.defaults.clone();
            let program = confirm::askpass_program(defaults.askpass.as_deref());
            confirm::confirm(
                program.as_deref(),
                &approval_prompt(&view, scope),
                defaults.confirm_timeout,
            )
            .await
            .map_err(|e| {
                Status::permission_denied(format!(
                    "not approved: {e}; approving a repository file needs you: run `sec allow` in a terminal, or answer the askpass question"
                ))
            })?;
        }
        self.daemon
            .trust
            .allow(&view.file)
            .map_err(|e| Status::internal(format!("cannot record the approval: {e}")))?;
        tracing::info!(file = %view.file.path.display(), sha256 = %view.file.sha256, "repository file allowed");
        self.daemon.audit.note(Event::Allow, &trust_record(&view));
        Ok(Response::new(self.scope_info(&dir)))
    }

    async fn deny(
        &self,
        request: Request<pb::DenyRequest>,
    ) -> Result<Response<pb::ScopeInfo>, Status> {
        caller(&request)?;
        let dir = absolute_dir(&request.get_ref().dir)?;
        let view = self.repo_file(&dir)?;
        self.daemon
            .trust
            .deny(&view.file)
            .map_err(|e| Status::internal(format!("cannot record the refusal: {e}")))?;
        // Whatever the file's scope had cached goes too.
        self.daemon.cache.revoke_scope(&view.file.dir);
        tracing::info!(file = %view.file.path.display(), "repository file denied");
        self.daemon
            .audit
            .note(Event::DenyTrust, &trust_record(&view));
        Ok(Response::new(self.scope_info(&dir)))
    }

    async fn store(
        &self,
        request: Request<pb::StoreRequest>,
    ) -> Result<Response<pb::StoreReply>, Status> {
        caller(&request)?;
        let pb::StoreRequest { reference, value } = request.into_inner();
        let reference = parse_reference(&reference)?;
        self.daemon
            .store_secret(&reference, vault::into_secret(value))
            .await
            .map_err(vault_status)?;
        Ok(Response::new(pb::StoreReply {}))
    }

    async fn delete(
        &self,
        request: Request<pb::DeleteRequest>,
    ) -> Result<Response<pb::DeleteReply>, Status> {
        caller(&request)?;
        let reference = parse_reference(&request.get_ref().reference)?;
        self.daemon
            .delete_secret(&reference)
            .await
            .map_err(vault_status)?;
        Ok(Response::new(pb::DeleteReply {}))
    }

    async fn verify(
        &self,
        request: Request<pb::VerifyRequest>,
    ) -> Result<Response<pb::VerifyReply>, Status> {
        caller(&request)?;
        let pb::VerifyRequest { reference, value } = request.into_inner();
        let reference = parse_reference(&reference)?;
        let matches = self
            .daemon
            .verify_secret(&reference, vault::into_secret(value))
            .await
            .map_err(vault_status)?;
        Ok(Response::new(pb::VerifyReply { matches }))
    }

    async fn local_status(
        &self,
        request: Request<pb::LocalStatusRequest>,
    ) -> Result<Response<pb::LocalStatusReply>, Status> {
        caller(&request)?;
        Ok(Response::new(self.local_reply().await))
    }

    async fn unlock_local(
        &self,
        request: Request<pb::UnlockLocalRequest>,
    ) -> Result<Response<pb::LocalStatusReply>, Status> {
        let peer = caller(&request)?;
        let pb::UnlockLocalRequest {
            passphrase,
            create,
            use_askpass,
        } = request.into_inner();
        let passphrase = if use_askpass {
            self.passphrase_by_askpass(create).await?
        } else {
            vault::into_secret(passphrase)
        };
        if passphrase.expose_secret().is_empty() {
            return Err(Status::invalid_argument(
                "an empty passphrase is not accepted",
            ));
        }
        self.daemon
            .local
            .unlock(passphrase, create)
            .await
            .map_err(local_status)?;
        let what = if create {
            "local vault created"
        } else {
            "local vault unlocked"
        };
        self.daemon.audit.note(
            Event::Unlock,
            &Record {
                scope: "local vault".into(),
                reason: what.into(),
                pid: peer.pid.map(|p| p as u32),
                ..Default::default()
            },
        );
        Ok(Response::new(self.local_reply().await))
    }

    async fn change_local_passphrase(
        &self,
        request: Request<pb::ChangeLocalPassphraseRequest>,
    ) -> Result<Response<pb::LocalStatusReply>, Status> {
        caller(&request)?;
        let pb::ChangeLocalPassphraseRequest {
            old_passphrase,
            new_passphrase,
        } = request.into_inner();
        let (old, new) = (
            vault::into_secret(old_passphrase),
            vault::into_secret(new_passphrase),
        );
        if new.expose_secret().is_empty() {
            return Err(Status::invalid_argument(
                "an empty passphrase is not accepted",
            ));
        }
        self.daemon
            .local
            .change_passphrase(old, new)
            .await
            .map_err(local_status)?;
        Ok(Response::new(self.local_reply().await))
    }

    async fn shutdown(
        &self,
        request: Request<pb::ShutdownRequest>,
    ) -> Result<Response<pb::ShutdownReply>, Status> {
        caller(&request)?;
        tracing::info!("shutdown requested");
        self.shutdown.notify_one();
        Ok(Response::new(pb::ShutdownReply {}))
    }
}

/// A lease lives as long as its stream, and after that as long as processes with its
/// secrets run (its holder was killed, or the child left a background process); with
/// `max_lease` it ends (as if revoked) when that much time has passed.
async fn watch_lease(
    daemon: Arc<Daemon>,
    id: String,
    events: EventSender,
    max_lease: Option<Duration>,
) {
    let limit = async {
        match max_lease {
            Some(limit) => tokio::time::sleep(limit).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(limit);
    let mut held = true;
    loop {
        tokio::select! {
            _ = events.closed(), if held => held = false,
            _ = &mut limit => {
                let limit = humantime::format_duration(max_lease.unwrap_or_default());
                let reason = format!("the lease outlived its max_lease of {limit}");
                if !daemon.end_leases(|l| l.id == id, &reason, Event::Expire).is_empty() {
                    tracing::info!(lease = %id, "lease expired (max_lease)");
                }
                return;
            }
            _ = tokio::time::sleep(LEASE_SAMPLE) => {}
        }
        let Some(lease) = daemon.leases.get(&id) else {
            return; // revoked meanwhile
        };
        if held {
            // What runs below its `sec` now, remembered for when `sec` is gone.
            let seen = daemon::lease_processes(&lease, true, false);
            daemon.leases.remember(&id, seen);
            continue;
        }
        // The holder is gone: the lease stays while its processes run.
        if daemon::lease_processes(&lease, false, true).is_empty() {
            if daemon.leases.remove(&id).is_some() {
                tracing::info!(lease = %id, "lease ended");
            }
            daemon.files.remove(&id);
            return;
        }
        if !lease.orphaned && daemon.leases.orphan(&id) {
            tracing::info!(lease = %id, "sec is gone, processes with the lease's secrets still run");
        }
    }
}

/// How often a lease looks at its processes: below its `sec` while it holds the lease,
/// whether any still runs once it is gone.
const LEASE_SAMPLE: Duration = Duration::from_secs(1);

/// The audit record of a trust decision about a repository file.
fn trust_record(view: &RepoView) -> Record {
    Record {
        scope: view.file.dir.display().to_string(),
        names: view
            .parsed
            .as_ref()
            .map(|s| s.env.keys().cloned().collect())
            .unwrap_or_default(),
        reason: format!("{} sha256 {}", view.file.path.display(), view.file.sha256),
        ..Default::default()
    }
}

fn local_status(error: vault::LocalError) -> Status {
    match &error {
        vault::LocalError::File(LocalVaultError::WrongPassphrase { .. }) => {
            Status::permission_denied(error.to_string())
        }
        vault::LocalError::NoVault(_) => Status::not_found(error.to_string()),
        vault::LocalError::Exists(_) => Status::already_exists(error.to_string()),
        _ => Status::failed_precondition(error.to_string()),
    }
}

fn lease_info(record: LeaseRecord) -> pb::LeaseInfo {
    pb::LeaseInfo {
        id: record.id,
        scope: record
            .scope
            .map(|d| d.display().to_string())
            .unwrap_or_default(),
        names: record.names,
        command: record.command,
        pid: record.pid,
        granted_at_unix: unix_time(record.granted_at),
        child_pid: record.child_pid,
        expires_at_unix: record.expires_at.map(unix_time).unwrap_or_default(),
        orphaned: record.orphaned,
    }
}

fn vault_status(error: vault::VaultError) -> Status {
    match error {
        vault::VaultError::NotFound { .. } => Status::not_found(error.to_string()),
        vault::VaultError::Unavailable { .. } => Status::unavailable(error.to_string()),
        // The one use of this code: the client answers it by asking for the passphrase.
        vault::VaultError::Locked { .. } => Status::unauthenticated(error.to_string()),
        vault::VaultError::Unsupported { .. } => Status::unimplemented(error.to_string()),
        vault::VaultError::Failed { .. } => Status::failed_precondition(error.to_string()),
    }
}

fn lease_status(error: LeaseError) -> Status {
    match error {
        LeaseError::Vault { name, source } => {
            let status = vault_status(source);
            Status::new(status.code(), format!("{name}: {}", status.message()))
        }
        LeaseError::Audit { .. } => Status::unavailable(error.to_string()),
        LeaseError::CommandNotAllowed { .. }
        | LeaseError::Confirm { .. }
        | LeaseError::RevokedInFlight { .. }
        | LeaseError::Untrusted { .. } => Status::permission_denied(error.to_string()),
        other => Status::failed_precondition(other.to_string()),
    }
}

#[cfg(test)]
#[path = "fuzz_tests.rs"]
mod fuzz;

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;

    #[test]
    fn a_refused_reference_is_not_repeated_in_the_reply() {
        // Found by fuzz_requests: the reply quoted the whole text, a pasted token included.
        let request = pb::DeleteRequest::decode(&b"\n\x14va\x18lt:pL4nTeD-S3cr3t"[..]).unwrap();
        let status = parse_reference(&request.reference).unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert!(!status.message().contains("pL4nTeD"), "{status:?}");
        assert!(status.message().contains("secret reference"), "{status:?}");
    }
}
