//! The audit log's format, one JSON object per line: secd writes it, `sec log` reads it.
//! It names scopes, variables, references, commands and processes, never a value.

use serde::{Deserialize, Serialize};

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Event {
    Grant,
    Deny,
    Revoke,
    Expire,
    Unlock,
    Allow,
    DenyTrust,
    /// config.toml changed (what changed is in the reason).
    Config,
    /// A change the user may not have made (see `tripwire`).
    Tripwire,
    /// Dynamic credentials of a lease revoked in OpenBao/Vault (or why they could not be).
    EngineRevoke,
    /// A lease's SSH agent signed with a key.
    Sign,
    /// `sec set` (or an import) wrote a secret; `sec rm` deleted one.
    Store,
    Delete,
    /// A lease ended: its command exited (or never started), and what it left behind went.
    End,
    /// A lease's HTTPS broker put a brokered variable's value into a request a rule allows.
    Broker,
    /// A lease's HTTPS broker refused a request or a tunnel (no rule allows it).
    BrokerRefuse,
}

/// One line of the log. Empty fields are left out.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Record {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub scope: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub exe: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub lease: String,
    /// OpenBao/Vault lease ids of the dynamic credentials the lease holds.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub engine_leases: Vec<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// The broker rule that allowed a request (`POST upload.pypi.org/legacy/`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub rule: String,
}

/// A whole line: when, what, and the record.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Line {
    pub time: String,
    pub event: Event,
    #[serde(flatten)]
    pub record: Record,
}
