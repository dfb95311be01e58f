//! `local:NAME`: sec's own encrypted vault, for machines without a persistent OS keychain
//! (servers over SSH, containers, WSL, CI). The file format and its atomic writes live in
//! [`crate::store::vault::local::format`]; this module is the unlocked state around it.
//!
//! The first lookup that needs the vault finds it locked and fails with
//! [`VaultError::Locked`]; `sec` then asks the user for the passphrase (on its terminal, or
//! through the daemon's askpass program when it has none) and unlocks it. The daemon keeps
//! the decrypted contents and the passphrase (needed to re-encrypt on `sec set`) for the
//! vault's own idle TTL and hard maximum (`[local]` in config.toml); `sec revoke` and
//! SIGUSR1 lock it again. A wrong passphrase changes nothing and makes the next answer wait
//! longer (0.25 s doubling per failure, at most 8 s).

pub mod format;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use tokio::time::Instant;

use super::{LocalRef, VaultError};
use crate::store::expiry::{Limits, compute_expiration};
use crate::store::vault::local::format::{Contents, LocalVaultError, VaultFile};

const BACKEND: &str = "the local vault";

/// scrypt work factor (2^18): about 0.65 s and 265 MB per open or save on a small machine.
/// age's own calibration picks far more here (2^20, 1 GiB), too heavy for a daemon.
pub const WORK_FACTOR: u8 = 18;

/// The longest wait after wrong passphrases.
const MAX_DELAY: Duration = Duration::from_secs(8);

struct Unlocked {
    contents: Contents,
    passphrase: SecretString,
    since: Instant,
    used: Instant,
}

/// What `sec status` and the client's unlock flow need to know.
pub struct LocalStatus {
    pub path: PathBuf,
    pub exists: bool,
    pub unlocked: bool,
    pub expires_in: Option<Duration>,
    /// The names it holds, sorted; known only while it is unlocked (on disk they are
    /// encrypted too).
    pub names: Vec<String>,
}

/// Why unlocking, creating or re-keying failed.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error(transparent)]
    File(#[from] LocalVaultError),
    #[error("there is no local vault yet ({}); `sec set local:NAME` creates one", .0.display())]
    NoVault(PathBuf),
    #[error("a local vault already exists at {}; unlock it instead", .0.display())]
    Exists(PathBuf),
    #[error("the vault task did not finish: {0}")]
    Task(String),
}

pub struct LocalVault {
    file: Arc<VaultFile>,
    state: Mutex<Option<Unlocked>>,
    limits: Mutex<Limits>,
    failures: Mutex<u32>,
    /// One save at a time: concurrent saves would each rename their own file into place.
    saving: tokio::sync::Mutex<()>,
}

impl LocalVault {
    pub fn new(path: PathBuf, limits: Limits) -> Self {
        Self::with_file(VaultFile::with_work_factor(path, WORK_FACTOR), limits)
    }

    fn with_file(file: VaultFile, limits: Limits) -> Self {
        Self {
            file: Arc::new(file),
            state: Mutex::new(None),
            limits: Mutex::new(limits),
            failures: Mutex::new(0),
            saving: tokio::sync::Mutex::new(()),
        }
    }

    /// The TTLs from the config in force (re-applied at every reload).
    pub fn set_limits(&self, limits: Limits) {
        *self.limits.lock().unwrap_or_else(|p| p.into_inner()) = limits;
    }

    fn limits(&self) -> Limits {
        *self.limits.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn status(&self) -> LocalStatus {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let expires_in = state.as_ref().map(|u| {
            compute_expiration(u.since, u.used, self.limits()).saturating_duration_since(now)
        });
        // Sorted already: the contents are a sorted map.
        let names: Vec<String> = state
            .as_ref()
            .map(|u| u.contents.names().map(str::to_string).collect())
            .unwrap_or_default();
        LocalStatus {
            path: self.file.path().to_path_buf(),
            exists: self.file.exists(),
            unlocked: state.is_some(),
            expires_in,
            names,
        }
    }

    /// Opens the vault with `passphrase` (or, with `create`, makes a new empty one).
    pub async fn unlock(&self, passphrase: SecretString, create: bool) -> Result<(), LocalError> {
        let path = self.file.path().to_path_buf();
        let exists = self.file.exists();
        let contents = match (create, exists) {
            (true, true) => return Err(LocalError::Exists(path)),
            (false, false) => return Err(LocalError::NoVault(path)),
            (true, false) => {
                let contents = Contents::new();
                let _saving = self.saving.lock().await;
                self.blocking_save(contents.clone(), passphrase.clone())
                    .await?;
                contents
            }
            (false, true) => {
                let file = Arc::clone(&self.file);
                let secret = passphrase.clone();
                match run_blocking(move || file.open(&secret)).await? {
                    Ok(contents) => contents,
                    Err(LocalVaultError::WrongPassphrase { path }) => {
                        self.after_a_wrong_passphrase().await;
                        return Err(LocalVaultError::WrongPassphrase { path }.into());
                    }
                    Err(other) => return Err(other.into()),
                }
            }
        };
        *self.failures.lock().unwrap_or_else(|p| p.into_inner()) = 0;
        let now = Instant::now();
        *self.state.lock().unwrap_or_else(|p| p.into_inner()) = Some(Unlocked {
            contents,
            passphrase,
            since: now,
            used: now,
        });
        tracing::info!(path = %self.file.path().display(), "local vault unlocked");
        Ok(())
    }

    /// Each wrong passphrase in a row makes the answer wait twice as long.
    async fn after_a_wrong_passphrase(&self) {
        let failures = {
            let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
            *failures += 1;
            *failures
        };
        let delay = Duration::from_millis(250 * 2u64.pow(failures.min(6) - 1)).min(MAX_DELAY);
        tracing::warn!(failures, ?delay, "wrong passphrase for the local vault");
        tokio::time::sleep(delay).await;
    }

    /// Forgets the decrypted contents and the passphrase. True if it was unlocked.
    pub fn lock(&self) -> bool {
        let was = self
            .state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .is_some();
        if was {
            tracing::info!("local vault locked");
        }
        was
    }

    /// Locks the vault when its idle TTL or hard maximum has passed.
    pub fn lock_if_expired(&self) -> bool {
        let limits = self.limits();
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let expired = state
            .as_ref()
            .is_some_and(|u| compute_expiration(u.since, u.used, limits) <= Instant::now());
        if expired {
            *state = None;
            tracing::info!("local vault locked (its TTL passed)");
        }
        expired
    }

    /// Re-encrypts the vault with a new passphrase, after checking the old one.
    pub async fn change_passphrase(
        &self,
        old: SecretString,
        new: SecretString,
    ) -> Result<(), LocalError> {
        if !self.file.exists() {
            return Err(LocalError::NoVault(self.file.path().to_path_buf()));
        }
        let _saving = self.saving.lock().await;
        let file = Arc::clone(&self.file);
        let contents = match run_blocking(move || file.open(&old)).await? {
            Ok(contents) => contents,
            Err(LocalVaultError::WrongPassphrase { path }) => {
                self.after_a_wrong_passphrase().await;
                return Err(LocalVaultError::WrongPassphrase { path }.into());
            }
            Err(other) => return Err(other.into()),
        };
        self.blocking_save(contents.clone(), new.clone()).await?;
        let now = Instant::now();
        *self.state.lock().unwrap_or_else(|p| p.into_inner()) = Some(Unlocked {
            contents,
            passphrase: new,
            since: now,
            used: now,
        });
        tracing::info!("local vault passphrase changed");
        Ok(())
    }

    async fn blocking_save(
        &self,
        contents: Contents,
        passphrase: SecretString,
    ) -> Result<(), LocalError> {
        let file = Arc::clone(&self.file);
        run_blocking(move || file.save(&contents, &passphrase))
            .await?
            .map_err(LocalError::from)
    }

    fn get(&self, reference: &LocalRef) -> Result<SecretString, VaultError> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let Some(unlocked) = state.as_mut() else {
            if !self.file.exists() {
                return Err(VaultError::NotFound {
                    reference: reference.to_string(),
                    backend: BACKEND,
                });
            }
            return Err(VaultError::Locked {
                reference: reference.to_string(),
            });
        };
        unlocked.used = Instant::now();
        unlocked
            .contents
            .get(&reference.name)
            .cloned()
            .ok_or_else(|| VaultError::NotFound {
                reference: reference.to_string(),
                backend: BACKEND,
            })
    }

    /// Applies `change` to a copy of the contents, saves it, and keeps it only if saved.
    async fn update(
        &self,
        reference: &LocalRef,
        change: impl FnOnce(&mut Contents) -> bool,
    ) -> Result<(), VaultError> {
        let _saving = self.saving.lock().await;
        let (mut contents, passphrase) = {
            let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
            let Some(unlocked) = state.as_ref() else {
                return Err(VaultError::Locked {
                    reference: reference.to_string(),
                });
            };
            (unlocked.contents.clone(), unlocked.passphrase.clone())
        };
        if !change(&mut contents) {
            return Err(VaultError::NotFound {
                reference: reference.to_string(),
                backend: BACKEND,
            });
        }
        let failed = |e: LocalError| VaultError::Failed {
            reference: reference.to_string(),
            backend: BACKEND,
            reason: format!("{e}; the vault on disk is unchanged"),
        };
        self.blocking_save(contents.clone(), passphrase)
            .await
            .map_err(failed)?;
        if let Some(unlocked) = self
            .state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_mut()
        {
            unlocked.contents = contents;
            unlocked.used = Instant::now();
        }
        Ok(())
    }
}

/// One key derivation at a time: each takes about 265 MB for a moment, and a flood of
/// wrong passphrases (or of saves) must not multiply that.
static KEY_DERIVATIONS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(1);

/// Runs `work` (which derives a key: opening or saving the file) on the blocking pool, one
/// at a time.
async fn run_blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, LocalError> {
    let _turn = KEY_DERIVATIONS
        .acquire()
        .await
        .map_err(|e| LocalError::Task(e.to_string()))?;
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| LocalError::Task(e.to_string()))
}

pub struct LocalBackend {
    vault: Arc<LocalVault>,
}

impl LocalBackend {
    pub fn new(vault: Arc<LocalVault>) -> Self {
        Self { vault }
    }
}

impl LocalBackend {
    pub async fn get(&self, reference: &LocalRef) -> Result<SecretString, VaultError> {
        self.vault.get(reference)
    }

    pub async fn store(&self, reference: &LocalRef, value: SecretString) -> Result<(), VaultError> {
        let name = reference.name.clone();
        self.vault
            .update(reference, move |contents| {
                contents.set(name, SecretString::from(value.expose_secret()));
                true
            })
            .await
    }

    pub async fn delete(&self, reference: &LocalRef) -> Result<(), VaultError> {
        let name = reference.name.clone();
        self.vault
            .update(reference, move |contents| contents.remove(&name))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::vault::Reference;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn key_derivations_run_one_at_a_time() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static NOW: AtomicUsize = AtomicUsize::new(0);
        static MOST: AtomicUsize = AtomicUsize::new(0);
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                tokio::spawn(run_blocking(|| {
                    let now = NOW.fetch_add(1, Ordering::SeqCst) + 1;
                    MOST.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    NOW.fetch_sub(1, Ordering::SeqCst);
                }))
            })
            .collect();
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        assert_eq!(MOST.load(Ordering::SeqCst), 1);
    }

    const LIMITS: Limits = Limits {
        ttl: Duration::from_secs(60),
        max_ttl: Duration::from_secs(600),
    };

    fn vault(dir: &std::path::Path) -> LocalVault {
        LocalVault::with_file(
            VaultFile::with_work_factor(dir.join("vault.age"), 2),
            LIMITS,
        )
    }

    fn reference(name: &str) -> LocalRef {
        LocalRef { name: name.into() }
    }

    #[tokio::test]
    async fn create_store_lock_and_unlock_again() {
        let tmp = tempfile::tempdir().unwrap();
        let v = Arc::new(vault(tmp.path()));
        let backend = LocalBackend::new(Arc::clone(&v));
        let pass = SecretString::from("correct horse");
        assert!(matches!(
            v.unlock(pass.clone(), false).await,
            Err(LocalError::NoVault(_))
        ));
        v.unlock(pass.clone(), true).await.unwrap();
        backend
            .store(&reference("pypi"), SecretString::from("tok"))
            .await
            .unwrap();
        assert_eq!(
            backend
                .get(&reference("pypi"))
                .await
                .unwrap()
                .expose_secret(),
            "tok"
        );
        assert!(v.lock());
        assert!(matches!(
            backend.get(&reference("pypi")).await,
            Err(VaultError::Locked { .. })
        ));
        assert!(matches!(
            v.unlock(SecretString::from("wrong"), false).await,
            Err(LocalError::File(LocalVaultError::WrongPassphrase { .. }))
        ));
        v.unlock(pass, false).await.unwrap();
        assert_eq!(
            backend
                .get(&reference("pypi"))
                .await
                .unwrap()
                .expose_secret(),
            "tok"
        );
        backend.delete(&reference("pypi")).await.unwrap();
        assert!(matches!(
            backend.get(&reference("pypi")).await,
            Err(VaultError::NotFound { .. })
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn the_vault_locks_itself_after_its_idle_ttl() {
        let tmp = tempfile::tempdir().unwrap();
        let v = vault(tmp.path());
        v.unlock(SecretString::from("p"), true).await.unwrap();
        tokio::time::advance(Duration::from_secs(30)).await;
        assert!(!v.lock_if_expired());
        tokio::time::advance(Duration::from_secs(31)).await;
        assert!(v.lock_if_expired());
        assert!(!v.status().unlocked);
    }

    #[test]
    fn references_name_an_entry() {
        assert_eq!(
            reference("pypi/coveragepy").to_string(),
            "local:pypi/coveragepy"
        );
        assert!(Reference::parse("local:").is_err());
        assert!(Reference::parse("local: x").is_err());
    }
}
