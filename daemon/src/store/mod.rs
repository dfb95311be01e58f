//! Values: looked up in vaults, kept in the cache for a while.

pub mod cache;
pub mod expiry;
pub mod vault;
