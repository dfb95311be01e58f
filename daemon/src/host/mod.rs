//! This machine: the caller as the kernel sees it, secd's own protection, state files
//! opened safely.

pub mod hardening;
pub mod peer;
pub mod state_file;
