//! Dynamic credentials (OpenBao/Vault engine leases) bound to sec leases: read once per
//! path per grant, renewed while the sec lease lives, revoked in the engine when it ends
//! (the command exits, `sec revoke`, `max_lease`, secd stopping) and recorded in the audit
//! log both times. Revocation runs on its own task, so ending a lease never waits on a slow
//! engine.

use std::collections::BTreeMap;
use std::sync::Arc;

use secrecy::SecretString;
use tokio::sync::mpsc;

use crate::daemon::Daemon;
use crate::lease::audit::{Event, Record};
use crate::store::vault::openbao::Read;
use crate::store::vault::openbao::leases::Held;
use crate::store::vault::{VaultError, VaultRef, Vaults};

/// The `vault:` reads of one grant: one request per path, whatever number of variables
/// take fields from it, and the engine leases they brought.
#[derive(Default)]
pub struct VaultBatch {
    /// Each path's read, and whether it was dynamic.
    reads: BTreeMap<String, (Read, bool)>,
    pub minted: Vec<Held>,
    /// Whether any value of this grant came from a vault rather than the cache (what the
    /// cache holds changed, and the hook's unlock markers may have to follow).
    pub looked_up: bool,
}

impl VaultBatch {
    /// The value of `reference`, and whether it is a dynamic credential (never cached).
    pub async fn value(
        &mut self,
        vaults: &Vaults,
        reference: &VaultRef,
    ) -> Result<(SecretString, bool), VaultError> {
        if !self.reads.contains_key(&reference.path) {
            let engine = vaults.openbao.engine(reference)?;
            let mut read = engine.read(reference, vaults).await?;
            let dynamic = match read.lease.take() {
                Some(lease) => {
                    self.minted.push(Held { lease, engine });
                    true
                }
                None => false,
            };
            self.reads.insert(reference.path.clone(), (read, dynamic));
        }
        let (read, dynamic) = &self.reads[&reference.path];
        Ok((read.value(reference)?, *dynamic))
    }
}

/// A batch of engine leases to revoke, for which sec lease and why.
pub struct Release {
    pub sec_lease: String,
    pub held: Vec<Held>,
    pub reason: String,
}

pub type ReleaseSender = mpsc::UnboundedSender<Release>;

impl Daemon {
    /// Hands the engine leases of an ended sec lease to the revoker.
    pub fn release_engine_leases(&self, sec_lease: &str, reason: &str) {
        let held = self.engine_leases.take(sec_lease);
        self.revoke_minted(sec_lease, held, reason);
    }

    /// Revokes engine leases no sec lease holds (a grant refused after they were minted,
    /// an unlock that only checked access).
    pub fn revoke_minted(&self, sec_lease: &str, held: Vec<Held>, reason: &str) {
        if held.is_empty() {
            return;
        }
        let release = Release {
            sec_lease: sec_lease.to_string(),
            held,
            reason: reason.to_string(),
        };
        if let Err(unsent) = self.engine_revoker.send(release) {
            // No revoker (secd is stopping): the engine's short TTL ends them.
            tracing::warn!(
                leases = unsent.0.held.len(),
                "engine leases left to expire in the engine"
            );
        }
    }

    /// Revokes one batch now, and records the outcome.
    async fn revoke_now(&self, release: Release) {
        let mut revoked = Vec::new();
        let mut failures = Vec::new();
        for held in &release.held {
            match held.engine.revoke_lease(&held.lease.id, &self.vaults).await {
                Ok(()) => revoked.push(held.lease.id.clone()),
                Err(e) => failures.push(format!("{}: {e}", held.lease.id)),
            }
        }
        let reason = if failures.is_empty() {
            format!("revoked in the engine: {}", release.reason)
        } else {
            format!(
                "{}; NOT revoked (the engine ends them at their TTL): {}",
                release.reason,
                failures.join("; ")
            )
        };
        tracing::info!(lease = %release.sec_lease, revoked = revoked.len(), failed = failures.len(), "engine leases released");
        self.audit.note(
            Event::EngineRevoke,
            &Record {
                lease: release.sec_lease,
                engine_leases: release.held.into_iter().map(|h| h.lease.id).collect(),
                reason,
                ..Default::default()
            },
        );
    }

    /// The revoker: takes batches until secd stops.
    pub async fn run_engine_revoker(
        self: Arc<Self>,
        mut batches: mpsc::UnboundedReceiver<Release>,
    ) {
        while let Some(release) = batches.recv().await {
            let daemon = Arc::clone(&self);
            // Each batch on its own: a slow engine does not hold up another's.
            tokio::spawn(async move { daemon.revoke_now(release).await });
        }
    }

    /// secd is stopping: every engine lease is revoked before it goes.
    pub async fn revoke_all_engine_leases(&self) {
        for (sec_lease, held) in self.engine_leases.take_all() {
            let release = Release {
                sec_lease,
                held,
                reason: "secd stopped".into(),
            };
            self.revoke_now(release).await;
        }
    }

    /// Once a second: renews engine leases past a third of their TTL, and secd's token
    /// while anything depends on it.
    pub async fn renew_engine_leases(&self) {
        let now = std::time::SystemTime::now();
        let ttl = |h: &Held| h.engine.lease_ttl();
        for (sec_lease, held) in self.engine_leases.all() {
            let left = held.lease.expires.duration_since(now).unwrap_or_default();
            if !held.lease.renewable || left > ttl(&held) * 2 / 3 {
                continue;
            }
            match held.engine.renew_lease(&held.lease.id, &self.vaults).await {
                Ok(expires) => {
                    self.engine_leases
                        .renewed(&sec_lease, &held.lease.id, expires);
                    tracing::debug!(lease = %sec_lease, engine_lease = %held.lease.id, "engine lease renewed");
                }
                Err(e) => tracing::warn!(lease = %sec_lease, "cannot renew an engine lease: {e}"),
            }
        }
        let busy = !self.engine_leases.is_empty();
        if let Some(engine) = self.vaults.openbao.current() {
            engine.keep_token(busy).await;
        }
    }
}
