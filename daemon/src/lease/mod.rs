//! What is handed out, to whom, and the record of it: live leases and the processes that
//! hold their secrets, grants in progress, secret files, the user's confirmation, the audit
//! log. Below policy, above store: nothing here decides what is in force.

pub mod agent;
mod agent_wire;
pub mod audit;
pub mod broker;
pub mod confirm;
pub mod files;
pub mod in_flight;
pub mod live;
pub mod procs;

use std::path::PathBuf;

use sec_proto::reference::Reference;

/// What `sec revoke` (or SIGUSR1) selects.
#[derive(Debug, Clone)]
pub enum Selector {
    All,
    /// A scope directory.
    Scope(PathBuf),
    Lease(String),
    Reference(Reference),
}
