//! Engine leases of sec leases: the dynamic credentials OpenBao/Vault minted for one
//! `sec exec`. They are renewed while their sec lease lives and revoked in the engine the
//! moment it ends; each is kept with the engine that issued it, so a config reload that
//! changes `[vault]` does not strand them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use super::Engine;

/// One engine lease (its id is an identifier, useless without a token).
#[derive(Debug, Clone)]
pub struct EngineLease {
    pub id: String,
    /// When the engine ends it unless renewed.
    pub expires: SystemTime,
    pub renewable: bool,
}

/// An engine lease with the engine that issued it.
#[derive(Clone)]
pub struct Held {
    pub lease: EngineLease,
    pub engine: Arc<Engine>,
}

/// The engine leases of live sec leases, by sec lease id.
#[derive(Default)]
pub struct EngineLeases {
    by_lease: Mutex<HashMap<String, Vec<Held>>>,
}

impl EngineLeases {
    pub fn attach(&self, sec_lease: &str, held: Vec<Held>) {
        if held.is_empty() {
            return;
        }
        let mut map = self.by_lease.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(sec_lease.to_string()).or_default().extend(held);
    }

    /// Takes the engine leases of a sec lease that ended.
    pub fn take(&self, sec_lease: &str) -> Vec<Held> {
        let mut map = self.by_lease.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(sec_lease).unwrap_or_default()
    }

    /// Takes every engine lease (secd is stopping).
    pub fn take_all(&self) -> Vec<(String, Vec<Held>)> {
        let mut map = self.by_lease.lock().unwrap_or_else(|p| p.into_inner());
        map.drain().collect()
    }

    pub fn of(&self, sec_lease: &str) -> Vec<EngineLease> {
        let map = self.by_lease.lock().unwrap_or_else(|p| p.into_inner());
        map.get(sec_lease)
            .map(|held| held.iter().map(|h| h.lease.clone()).collect())
            .unwrap_or_default()
    }

    /// Every held lease, for renewal.
    pub fn all(&self) -> Vec<(String, Held)> {
        let map = self.by_lease.lock().unwrap_or_else(|p| p.into_inner());
        map.iter()
            .flat_map(|(id, held)| held.iter().map(|h| (id.clone(), h.clone())))
            .collect()
    }

    /// Records a renewal's new end, if the lease is still held.
    pub fn renewed(&self, sec_lease: &str, engine_lease: &str, expires: SystemTime) {
        let mut map = self.by_lease.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(held) = map.get_mut(sec_lease)
            && let Some(h) = held.iter_mut().find(|h| h.lease.id == engine_lease)
        {
            h.lease.expires = expires;
        }
    }

    pub fn is_empty(&self) -> bool {
        self.by_lease
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_empty()
    }
}
