//! What a request does to a vault directly (`sec set`, `sec rm`, `sec import`'s read-back):
//! through the backend for the reference, then the cache is told.

use secrecy::{ExposeSecret, SecretString};

use super::Daemon;
use crate::store::vault::{Reference, VaultError};

impl Daemon {
    /// Stores `value`; a changed secret must not be served stale from the cache.
    pub async fn store_secret(
        &self,
        reference: &Reference,
        value: SecretString,
    ) -> Result<(), VaultError> {
        self.vaults.store(reference, value).await?;
        self.cache.revoke(|k| k.reference == *reference);
        tracing::info!(reference = %reference, "stored");
        Ok(())
    }

    pub async fn delete_secret(&self, reference: &Reference) -> Result<(), VaultError> {
        self.vaults.delete(reference).await?;
        self.cache.revoke(|k| k.reference == *reference);
        tracing::info!(reference = %reference, "deleted");
        Ok(())
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
