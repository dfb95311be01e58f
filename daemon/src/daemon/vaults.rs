//! What a request does to a vault directly (`sec set`, `sec rm`, `sec import`'s read-back):
//! through the backend for the reference, then the cache is told.

use secrecy::{ExposeSecret, SecretString};

use super::Daemon;
use crate::lease::audit::{Event, Record};
use crate::store::vault::{Reference, VaultError};

impl Daemon {
    /// Stores `value`; a changed secret must not be served stale from the cache. Returns
    /// whether a value was there before (the caller says it was replaced). Recorded in the
    /// audit log, by reference only.
    pub async fn store_secret(
        &self,
        reference: &Reference,
        value: SecretString,
        pid: Option<u32>,
        keep_existing: bool,
    ) -> Result<bool, VaultError> {
        // Read-only stores refuse below; asking them first would run `op` or a `cmd:`.
        let replaced = !reference.read_only() && self.vaults.get(reference).await.is_ok();
        if replaced && keep_existing {
            return Err(VaultError::Exists {
                reference: reference.to_string(),
            });
        }
        self.vaults.store(reference, value).await?;
        self.cache.revoke(|k| k.reference == *reference);
        tracing::info!(reference = %reference, replaced, "stored");
        self.note_change(
            Event::Store,
            reference,
            pid,
            if replaced {
                "stored, replacing the previous value"
            } else {
                "stored"
            },
        );
        Ok(replaced)
    }

    pub async fn delete_secret(
        &self,
        reference: &Reference,
        pid: Option<u32>,
    ) -> Result<(), VaultError> {
        self.vaults.delete(reference).await?;
        self.cache.revoke(|k| k.reference == *reference);
        tracing::info!(reference = %reference, "deleted");
        self.note_change(Event::Delete, reference, pid, "deleted");
        Ok(())
    }

    fn note_change(&self, event: Event, reference: &Reference, pid: Option<u32>, what: &str) {
        self.audit.note(
            event,
            &Record {
                references: vec![reference.to_string()],
                pid,
                exe: pid
                    .and_then(|p| crate::host::peer::caller_exe(Some(p as i32)))
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
                reason: what.to_string(),
                ..Default::default()
            },
        );
    }

    /// Whether the vault holds exactly `expected` (read back after an import).
    pub async fn verify_secret(
        &self,
        reference: &Reference,
        expected: SecretString,
    ) -> Result<bool, VaultError> {
        let stored = self.vaults.get(reference).await?;
        Ok(constant_time_eq(
            stored.expose_secret().as_bytes(),
            expected.expose_secret().as_bytes(),
        ))
    }
}

/// Compares without an early exit, so timing does not tell how much of a guess was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
