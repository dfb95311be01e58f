//! Secrets looked up from vaults, kept per scope directory for a limited time.
//!
//! Every entry has an idle TTL (reset on each use) and a hard maximum counted from the
//! moment of lookup, as gpg-agent's `default-cache-ttl` / `max-cache-ttl`. Each key has its
//! own async slot lock: concurrent requests for the same cold secret wait on the first one's
//! lookup instead of asking the vault again. Values are `SecretString`s, zeroized on drop.

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use secrecy::SecretString;
use tokio::time::Instant;

use crate::store::expiry::{Limits, compute_expiration};
use crate::store::vault::{Reference, VaultError};

/// A cached secret is identified by the scope that asked for it and its reference, so two
/// scopes that use the same reference expire and are revoked independently.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    pub scope: PathBuf,
    pub reference: Reference,
}

struct Entry {
    value: SecretString,
    fetched: Instant,
    used: Instant,
    limits: Limits,
}

impl Entry {
    fn expires_at(&self) -> Instant {
        compute_expiration(self.fetched, self.used, self.limits)
    }
}

type Slot = Arc<tokio::sync::Mutex<Option<Entry>>>;

/// Where a value came from, for the daemon's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Cache,
    Vault,
}

/// A cached entry as `sec status` shows it: no value.
#[derive(Debug, Clone)]
pub struct CachedInfo {
    pub key: Key,
    pub expires_in: Duration,
}

#[derive(Default)]
pub struct Cache {
    slots: Mutex<HashMap<Key, Slot>>,
}

impl Cache {
    pub fn new() -> Self {
        Self::default()
    }

    fn slot(&self, key: &Key) -> Slot {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        Arc::clone(slots.entry(key.clone()).or_default())
    }

    /// The cached value for `key`, or the result of `fetch` (called at most once at a time
    /// per key), which is then cached with `limits`.
    pub async fn get_or_fetch<F, Fut>(
        &self,
        key: &Key,
        limits: Limits,
        fetch: F,
    ) -> Result<(SecretString, Source), VaultError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<SecretString, VaultError>>,
    {
        self.get_or_fetch_unless(key, limits, || async {
            fetch().await.map(|value| (value, false))
        })
        .await
    }

    /// As [`Cache::get_or_fetch`], but `fetch` also says whether its value must not be kept
    /// (a credential minted for one lease).
    pub async fn get_or_fetch_unless<F, Fut>(
        &self,
        key: &Key,
        limits: Limits,
        fetch: F,
    ) -> Result<(SecretString, Source), VaultError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(SecretString, bool), VaultError>>,
    {
        let slot = self.slot(key);
        let mut entry = slot.lock().await;
        let now = Instant::now();
        if let Some(cached) = entry.as_mut() {
            if cached.expires_at() > now {
                cached.used = now;
                return Ok((cached.value.clone(), Source::Cache));
            }
            *entry = None;
        }
        let (value, not_kept) = fetch().await?;
        if not_kept {
            return Ok((value, Source::Vault));
        }
        let now = Instant::now();
        *entry = Some(Entry {
            value: value.clone(),
            fetched: now,
            used: now,
            limits,
        });
        Ok((value, Source::Vault))
    }

    /// Whether `key` holds a live value right now (without counting as a use).
    pub fn is_cached(&self, key: &Key) -> bool {
        let slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots.get(key).is_some_and(|slot| match slot.try_lock() {
            Ok(entry) => entry
                .as_ref()
                .is_some_and(|e| e.expires_at() > Instant::now()),
            Err(_) => false,
        })
    }

    /// Drops every entry `matches` selects; returns how many held a value. Values are
    /// zeroized as their last reference goes.
    pub fn revoke(&self, matches: impl Fn(&Key) -> bool) -> usize {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        let doomed: Vec<Key> = slots.keys().filter(|k| matches(k)).cloned().collect();
        let mut dropped = 0;
        for key in doomed {
            if let Some(slot) = slots.remove(&key) {
                match slot.try_lock() {
                    Ok(mut entry) => dropped += usize::from(entry.take().is_some()),
                    // A lookup is in flight; it fills a slot nobody will find again.
                    Err(_) => dropped += 1,
                }
            }
        }
        dropped
    }

    /// Drops expired entries and empty slots, so expired values do not linger in memory.
    pub fn sweep(&self) -> usize {
        let now = Instant::now();
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        let mut expired = 0;
        slots.retain(|_, slot| match slot.try_lock() {
            Ok(mut entry) => {
                if entry.as_ref().is_some_and(|e| e.expires_at() <= now) {
                    *entry = None;
                    expired += 1;
                }
                entry.is_some()
            }
            Err(_) => true,
        });
        expired
    }

    /// Live entries with their time left, sorted by scope and reference.
    pub fn snapshot(&self) -> Vec<CachedInfo> {
        let now = Instant::now();
        let slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        let mut out: Vec<CachedInfo> = slots
            .iter()
            .filter_map(|(key, slot)| {
                let entry = slot.try_lock().ok()?;
                let expires = entry.as_ref()?.expires_at();
                (expires > now).then(|| CachedInfo {
                    key: key.clone(),
                    expires_in: expires - now,
                })
            })
            .collect();
        out.sort_by(|a, b| (&a.key.scope, &a.key.reference).cmp(&(&b.key.scope, &b.key.reference)));
        out
    }

    /// Drops entries of `scope` (exactly that scope directory).
    pub fn revoke_scope(&self, scope: &Path) -> usize {
        self.revoke(|k| k.scope == scope)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn key(scope: &str, reference: &str) -> Key {
        Key {
            scope: scope.into(),
            reference: Reference::parse(reference).unwrap(),
        }
    }

    const LIMITS: Limits = Limits {
        ttl: Duration::from_secs(10),
        max_ttl: Duration::from_secs(25),
    };

    #[test]
    fn expiration_is_idle_ttl_capped_by_the_hard_maximum() {
        let t0 = Instant::now();
        assert_eq!(
            compute_expiration(t0, t0, LIMITS),
            t0 + Duration::from_secs(10)
        );
        let used = t0 + Duration::from_secs(9);
        assert_eq!(
            compute_expiration(t0, used, LIMITS),
            t0 + Duration::from_secs(19)
        );
        let used = t0 + Duration::from_secs(20);
        assert_eq!(
            compute_expiration(t0, used, LIMITS),
            t0 + Duration::from_secs(25)
        );
    }

    async fn fetch_counted(
        cache: &Cache,
        k: &Key,
        calls: &AtomicUsize,
    ) -> Result<(SecretString, Source), VaultError> {
        cache
            .get_or_fetch(k, LIMITS, || async {
                calls.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(20)).await;
                Ok(SecretString::from("v"))
            })
            .await
    }

    #[tokio::test(start_paused = true)]
    async fn use_resets_the_idle_timer_until_the_hard_maximum() {
        let cache = Cache::new();
        let calls = AtomicUsize::new(0);
        let k = key("/p", "keyring:s/a");
        assert_eq!(
            fetch_counted(&cache, &k, &calls).await.unwrap().1,
            Source::Vault
        );
        for _ in 0..2 {
            tokio::time::advance(Duration::from_secs(9)).await;
            assert_eq!(
                fetch_counted(&cache, &k, &calls).await.unwrap().1,
                Source::Cache
            );
        }
        // 27 s after the lookup: past the 25 s hard maximum although used 9 s ago.
        tokio::time::advance(Duration::from_secs(9)).await;
        assert_eq!(
            fetch_counted(&cache, &k, &calls).await.unwrap().1,
            Source::Vault
        );
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn idle_entries_expire_and_sweep_drops_them() {
        let cache = Cache::new();
        let calls = AtomicUsize::new(0);
        let k = key("/p", "keyring:s/a");
        fetch_counted(&cache, &k, &calls).await.unwrap();
        assert!(cache.is_cached(&k));
        tokio::time::advance(Duration::from_secs(11)).await;
        assert!(!cache.is_cached(&k));
        assert_eq!(cache.sweep(), 1);
        assert!(cache.snapshot().is_empty());
    }

    #[tokio::test]
    async fn concurrent_cold_requests_cause_one_lookup() {
        let cache = Arc::new(Cache::new());
        let calls = Arc::new(AtomicUsize::new(0));
        let k = key("/p", "keyring:s/a");
        let tasks: Vec<_> = (0..50)
            .map(|_| {
                let (cache, calls, k) = (Arc::clone(&cache), Arc::clone(&calls), k.clone());
                tokio::spawn(async move { fetch_counted(&cache, &k, &calls).await.unwrap().0 })
            })
            .collect();
        for task in tasks {
            assert_eq!(task.await.unwrap().expose_secret(), "v");
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_failed_lookup_is_not_cached() {
        let cache = Cache::new();
        let k = key("/p", "keyring:s/a");
        let failing = || async {
            Err(VaultError::NotFound {
                reference: "keyring:s/a".into(),
                backend: "test",
            })
        };
        assert!(cache.get_or_fetch(&k, LIMITS, failing).await.is_err());
        assert!(!cache.is_cached(&k));
    }

    #[tokio::test]
    async fn revoke_drops_only_what_it_selects() {
        let cache = Cache::new();
        let calls = AtomicUsize::new(0);
        let a = key("/a", "keyring:s/a");
        let b = key("/b", "keyring:s/a");
        fetch_counted(&cache, &a, &calls).await.unwrap();
        fetch_counted(&cache, &b, &calls).await.unwrap();
        assert_eq!(cache.revoke_scope(Path::new("/a")), 1);
        assert!(!cache.is_cached(&a));
        assert!(cache.is_cached(&b));
        assert_eq!(cache.revoke(|_| true), 1);
        assert!(cache.snapshot().is_empty());
    }
}
