//! When a kept value expires: an idle TTL, reset on each use, and a hard maximum counted
//! from the moment it was fetched (gpg-agent's `default-cache-ttl` / `max-cache-ttl`). The
//! cache's entries and the local vault's unlock follow the same rule.

use std::time::Duration;

use tokio::time::Instant;

/// Idle and hard lifetime of an entry.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub ttl: Duration,
    pub max_ttl: Duration,
}

/// The moment an entry expires: idle TTL after its last use, but never later than the hard
/// maximum after its lookup.
pub fn compute_expiration(fetched: Instant, last_used: Instant, limits: Limits) -> Instant {
    (last_used + limits.ttl).min(fetched + limits.max_ttl)
}
