//! Grants in progress. A grant may wait seconds for a vault or for the user's confirmation;
//! a revoke in that time must stop it too, not only the leases already handed out. Each
//! grant registers what it asks for; a revoke marks the ones it selects; the grant looks
//! at its mark before it hands anything out.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::lease::Selector;
use crate::store::vault::Reference;

struct Pending {
    scope: PathBuf,
    references: Vec<Reference>,
    /// Who revoked it meanwhile.
    revoked_by: Option<String>,
}

#[derive(Default)]
pub struct InFlight {
    inner: Mutex<(u64, HashMap<u64, Pending>)>,
}

/// A registered grant; dropping it unregisters.
pub struct Ticket<'a> {
    owner: &'a InFlight,
    id: u64,
}

impl InFlight {
    pub fn start(&self, scope: &Path, references: &[Reference]) -> Ticket<'_> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.0 += 1;
        let id = inner.0;
        inner.1.insert(
            id,
            Pending {
                scope: scope.to_path_buf(),
                references: references.to_vec(),
                revoked_by: None,
            },
        );
        Ticket { owner: self, id }
    }

    /// Marks the grants in progress that `selector` covers; returns how many.
    pub fn revoke(&self, selector: &Selector, by: &str) -> usize {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let mut marked = 0;
        for pending in inner.1.values_mut() {
            let selected = match selector {
                Selector::All => true,
                Selector::Scope(dir) => pending.scope == *dir,
                Selector::Reference(r) => pending.references.contains(r),
                // A lease id exists only once the grant is done.
                Selector::Lease(_) => false,
            };
            if selected && pending.revoked_by.is_none() {
                pending.revoked_by = Some(by.to_string());
                marked += 1;
            }
        }
        marked
    }
}

impl Ticket<'_> {
    /// Who revoked this grant while it was in progress, if anyone did.
    pub fn revoked_by(&self) -> Option<String> {
        let inner = self.owner.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.1.get(&self.id).and_then(|p| p.revoked_by.clone())
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        let mut inner = self.owner.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.1.remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_revoke_marks_exactly_the_grants_it_selects() {
        let flights = InFlight::default();
        let a = Reference::parse("keyring:s/a").unwrap();
        let b = Reference::parse("keyring:s/b").unwrap();
        let one = flights.start(Path::new("/p"), std::slice::from_ref(&a));
        let two = flights.start(Path::new("/q"), std::slice::from_ref(&b));
        assert_eq!(flights.revoke(&Selector::Reference(a), "test"), 1);
        assert_eq!(one.revoked_by().as_deref(), Some("test"));
        assert_eq!(two.revoked_by(), None);
        assert_eq!(flights.revoke(&Selector::Scope("/q".into()), "again"), 1);
        assert_eq!(two.revoked_by().as_deref(), Some("again"));
        drop(one);
        drop(two);
        assert_eq!(
            flights.revoke(&Selector::All, "late"),
            0,
            "finished grants are gone"
        );
    }
}
