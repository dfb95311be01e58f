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
use crate::store::vault::openbao::EngineLease;

mod leases;
#[cfg(unix)]
pub use leases::serve_lean;
mod scopes;
mod vaults;

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

impl Service {
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
            dbus_session: std::env::var("DBUS_SESSION_BUS_ADDRESS").unwrap_or_default(),
            askpass_env: std::env::var("SEC_ASKPASS").unwrap_or_default(),
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
            .map(|record| {
                let engine = self.daemon.engine_leases.of(&record.id);
                lease_info(record, engine)
            })
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

    type LeaseStream = LeaseStream;

    async fn resolve(
        &self,
        request: Request<pb::ResolveRequest>,
    ) -> Result<Response<pb::ScopeInfo>, Status> {
        scopes::resolve(self, request).await
    }

    async fn unlock(
        &self,
        request: Request<pb::UnlockRequest>,
    ) -> Result<Response<pb::ScopeInfo>, Status> {
        scopes::unlock(self, request).await
    }

    async fn allow(
        &self,
        request: Request<pb::AllowRequest>,
    ) -> Result<Response<pb::ScopeInfo>, Status> {
        scopes::allow(self, request).await
    }

    async fn deny(
        &self,
        request: Request<pb::DenyRequest>,
    ) -> Result<Response<pb::ScopeInfo>, Status> {
        scopes::deny(self, request).await
    }

    async fn hook_map(
        &self,
        request: Request<pb::HookMapRequest>,
    ) -> Result<Response<pb::HookMapReply>, Status> {
        caller(&request)?;
        Ok(Response::new(self.daemon.hook_map()))
    }

    async fn lease(
        &self,
        request: Request<pb::LeaseRequest>,
    ) -> Result<Response<LeaseStream>, Status> {
        leases::lease(self, request).await
    }

    async fn lease_started(
        &self,
        request: Request<pb::LeaseStartedRequest>,
    ) -> Result<Response<pb::LeaseStartedReply>, Status> {
        leases::lease_started(self, request).await
    }

    async fn revoke(
        &self,
        request: Request<pb::RevokeRequest>,
    ) -> Result<Response<pb::RevokeReply>, Status> {
        leases::revoke(self, request).await
    }

    async fn store(
        &self,
        request: Request<pb::StoreRequest>,
    ) -> Result<Response<pb::StoreReply>, Status> {
        vaults::store(self, request).await
    }

    async fn delete(
        &self,
        request: Request<pb::DeleteRequest>,
    ) -> Result<Response<pb::DeleteReply>, Status> {
        vaults::delete(self, request).await
    }

    async fn verify(
        &self,
        request: Request<pb::VerifyRequest>,
    ) -> Result<Response<pb::VerifyReply>, Status> {
        vaults::verify(self, request).await
    }

    async fn local_status(
        &self,
        request: Request<pb::LocalStatusRequest>,
    ) -> Result<Response<pb::LocalStatusReply>, Status> {
        vaults::local_status(self, request).await
    }

    async fn unlock_local(
        &self,
        request: Request<pb::UnlockLocalRequest>,
    ) -> Result<Response<pb::LocalStatusReply>, Status> {
        vaults::unlock_local(self, request).await
    }

    async fn change_local_passphrase(
        &self,
        request: Request<pb::ChangeLocalPassphraseRequest>,
    ) -> Result<Response<pb::LocalStatusReply>, Status> {
        vaults::change_local_passphrase(self, request).await
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

    async fn git_credential(
        &self,
        request: Request<pb::GitCredentialRequest>,
    ) -> Result<Response<pb::GitCredentialReply>, Status> {
        let peer = caller(&request)?;
        let cwd = peer::caller_cwd(&peer, "").ok_or_else(|| {
            Status::invalid_argument("cannot tell the caller's working directory")
        })?;
        let request = request.into_inner();
        let ask = daemon::git::GitAsk {
            action: request.action,
            host: request.host,
            path: request.path,
            password: (!request.password.is_empty())
                .then(|| sec_proto::into_secret(request.password)),
            cwd,
            pid: peer.pid.unwrap_or_default() as u32,
        };
        let answer = self
            .daemon
            .git_credential(ask)
            .await
            .map_err(lease_status)?;
        Ok(Response::new(match answer {
            Some(answer) => pb::GitCredentialReply {
                found: true,
                username: answer.username,
                password: answer.password.expose_secret().to_string(),
            },
            None => pb::GitCredentialReply::default(),
        }))
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
        vault::VaultError::Exists { .. } => Status::already_exists(error.to_string()),
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

fn lease_info(record: LeaseRecord, engine_leases: Vec<EngineLease>) -> pb::LeaseInfo {
    pb::LeaseInfo {
        engine_leases: engine_leases
            .into_iter()
            .map(|l| pb::EngineLease {
                id: l.id,
                expires_at_unix: unix_time(l.expires),
            })
            .collect(),
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
