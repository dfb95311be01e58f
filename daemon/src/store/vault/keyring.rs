//! `keyring:SERVICE/ACCOUNT`: the OS keychain through keyring-core and one store crate per
//! platform: the Secret Service on Linux and the BSDs (our own `sec-secret-service`: a small
//! D-Bus client with the encrypted session), the Keychain on macOS, the Credential Manager on
//! Windows.
//!
//! Deliberately no fallback: keyring 4's kernel-keyutils store forgets everything at reboot,
//! so where no persistent store answers the user gets a sentence saying what to start.
//! keyring-core calls are synchronous and block on D-Bus round trips, so every call runs on
//! the blocking pool.

use std::sync::{Arc, Mutex};

use keyring_core::{CredentialStore, Entry, Error};
use secrecy::{ExposeSecret, SecretString};

use super::{KeyringRef, VaultError, into_secret};

const BACKEND: &str = "the OS keychain";

#[derive(Default)]
pub struct KeyringBackend {
    /// Created on first use and kept; a failed creation is retried on the next call (the
    /// session bus may come up after the daemon).
    store: Arc<Mutex<Option<Arc<CredentialStore>>>>,
}

impl KeyringBackend {
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs `op` on an entry for `reference` on the blocking pool. The lock guards only the
    /// creation of the shared store; calls themselves may run side by side.
    async fn with_entry<T: Send + 'static>(
        &self,
        reference: &KeyringRef,
        op: impl FnOnce(&Entry) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, VaultError> {
        let (service, account) = (reference.service.clone(), reference.account.clone());
        let store = Arc::clone(&self.store);
        let name = reference.to_string();
        let joined = tokio::task::spawn_blocking(move || {
            let store = shared_store(&store)?;
            let entry = Entry::new_in_store(&store, &service, &account)?;
            op(&entry)
        })
        .await;
        match joined {
            Ok(result) => result.map_err(|e| describe(&name, e)),
            Err(join) => Err(VaultError::Failed {
                reference: name,
                backend: BACKEND,
                reason: format!("the keychain call did not finish ({join})"),
            }),
        }
    }
}

impl KeyringBackend {
    /// Whether a persistent keychain answers: Ok, or the sentence saying why not.
    pub async fn reachable(&self) -> Result<(), String> {
        let store = Arc::clone(&self.store);
        match tokio::task::spawn_blocking(move || shared_store(&store).map(drop)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(match describe("keyring", e) {
                VaultError::Unavailable { reason, .. } => reason,
                other => other.to_string(),
            }),
            Err(join) => Err(join.to_string()),
        }
    }
}

/// The store, created on first use and kept; a failed creation is retried next time.
fn shared_store(slot: &Mutex<Option<Arc<CredentialStore>>>) -> Result<Arc<CredentialStore>, Error> {
    let mut guard = slot.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(store) = guard.as_ref() {
        return Ok(Arc::clone(store));
    }
    let created = platform_store()?;
    *guard = Some(Arc::clone(&created));
    Ok(created)
}

impl KeyringBackend {
    pub async fn get(&self, reference: &KeyringRef) -> Result<SecretString, VaultError> {
        self.with_entry(reference, |entry| entry.get_password())
            .await
            .map(into_secret)
    }

    pub async fn store(
        &self,
        reference: &KeyringRef,
        value: SecretString,
    ) -> Result<(), VaultError> {
        self.with_entry(reference, move |entry| {
            entry.set_password(value.expose_secret())
        })
        .await
    }

    pub async fn delete(&self, reference: &KeyringRef) -> Result<(), VaultError> {
        self.with_entry(reference, |entry| entry.delete_credential())
            .await
    }
}

#[cfg(all(unix, not(target_os = "macos")))]
fn platform_store() -> Result<Arc<CredentialStore>, Error> {
    if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_none() {
        // Without a bus address there is nothing to try; a clear sentence says what to start.
        return Err(Error::NoDefaultStore);
    }
    Ok(sec_secret_service::Store::new()?)
}

#[cfg(target_os = "macos")]
fn platform_store() -> Result<Arc<CredentialStore>, Error> {
    Ok(apple_native_keyring_store::keychain::Store::new()?)
}

#[cfg(windows)]
fn platform_store() -> Result<Arc<CredentialStore>, Error> {
    Ok(windows_native_keyring_store::Store::new()?)
}

/// Turns a keyring error into a sentence. Variants that carry raw secret bytes
/// (`BadEncoding`, `BadDataFormat`) are described without them.
fn describe(reference: &str, error: Error) -> VaultError {
    let reference = reference.to_string();
    let unavailable = |reason: String| VaultError::Unavailable {
        reference: reference.clone(),
        backend: BACKEND,
        reason,
    };
    match error {
        Error::NoEntry => VaultError::NotFound { reference, backend: BACKEND },
        Error::NoDefaultStore => unavailable(
            "no Secret Service session (DBUS_SESSION_BUS_ADDRESS is unset); run sec from a desktop session, or start a session bus and a keyring daemon (e.g. `gnome-keyring-daemon --unlock`), then `sec daemon stop` so secd restarts with it"
                .into(),
        ),
        Error::NoStorageAccess(e) => unavailable(format!(
            "the keychain refused access ({e}); unlock it (for example by logging in to your desktop session) and try again"
        )),
        Error::PlatformFailure(e) => unavailable(format!(
            "{e}; make sure a Secret Service (e.g. gnome-keyring) runs in your session"
        )),
        Error::BadEncoding(_) => VaultError::Failed {
            reference,
            backend: BACKEND,
            reason: "the stored value is not UTF-8 text".into(),
        },
        Error::BadDataFormat(_, _) => VaultError::Failed {
            reference,
            backend: BACKEND,
            reason: "the stored value has an unexpected format".into(),
        },
        Error::Ambiguous(entries) => VaultError::Failed {
            reference,
            backend: BACKEND,
            reason: format!(
                "{} entries match; remove the duplicates with your keychain tool",
                entries.len()
            ),
        },
        other => VaultError::Failed { reference, backend: BACKEND, reason: other.to_string() },
    }
}
