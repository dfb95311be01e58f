//! What is in force: the user's config (live, with the last good one kept), repository
//! files and the user's decisions about them, and changes to the policy the user may not
//! have made (tripwires).

pub mod live_config;
pub mod tripwire;
pub mod trust;
