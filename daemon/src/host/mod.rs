//! This machine: the caller as the kernel sees it, secd's own protection, state files
//! opened safely.

pub mod hardening;
pub mod memory;
pub mod peer;
pub mod pidfd;
pub mod state_file;
pub mod tls;

/// Seconds since the epoch, for records and replies (0 for a time before it).
pub fn unix_time(t: std::time::SystemTime) -> i64 {
    t.duration_since(std::time::SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
