//! Live leases: one per `sec exec` whose child runs. A lease lives as long as its gRPC
//! stream, and after that as long as processes that hold its secrets run (see
//! `lease_procs`): a `sec` killed, or a child that left a background process behind, does not
//! make a lease unrevocable. Ending it (revoke) sends a notice down the stream, if it is
//! still open, and forgets it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::SystemTime;

use tokio::sync::mpsc;

use crate::config::OnRevoke;
use crate::lease::audit::Record;
use crate::lease::procs::Proc;
use crate::store::vault::Reference;

/// What secd tells the `sec` that holds a lease, after the grant.
#[derive(Debug, Clone)]
pub enum Notice {
    /// The lease ended early: revoked, or past its max_lease.
    Revoked { reason: String, terminate: bool },
}

/// Where a lease's notices go; closed when its `sec` is gone.
pub type EventSender = mpsc::Sender<Notice>;

#[derive(Debug, Clone)]
pub struct LeaseRecord {
    pub id: String,
    /// `None` when no scope covered the caller's directory.
    pub scope: Option<PathBuf>,
    pub names: Vec<String>,
    pub references: Vec<Reference>,
    pub command: Vec<String>,
    /// The `sec` process that holds the lease.
    pub pid: u32,
    /// The child it started, once `sec` reported it (0 before).
    pub child_pid: u32,
    pub granted_at: SystemTime,
    /// When max_lease ends the lease.
    pub expires_at: Option<SystemTime>,
    pub on_revoke: OnRevoke,
    /// The `sec` that held it is gone, and processes with its secrets still run.
    pub orphaned: bool,
    /// Its `sec` replaced itself with the command (the lean path): the holder is the
    /// command, never orphaned.
    pub in_place: bool,
    /// The holding `sec` as it was when the lease was granted (a pid with its start time).
    pub holder: Option<Proc>,
    /// The lease's processes secd has seen: the child, and what the samples found below the
    /// holder (see `lease_procs`).
    pub known: Vec<Proc>,
    /// Why its command never started, as its `sec` reported it.
    pub not_started: Option<String>,
}

impl LeaseRecord {
    /// The audit record of this lease ending for `reason`.
    pub fn audit_record(&self, reason: &str) -> Record {
        Record {
            scope: self
                .scope
                .as_deref()
                .map(|d| d.display().to_string())
                .unwrap_or_default(),
            names: self.names.clone(),
            references: self.references.iter().map(ToString::to_string).collect(),
            command: self.command.clone(),
            pid: Some(self.pid),
            lease: self.id.clone(),
            reason: reason.into(),
            ..Default::default()
        }
    }
}

struct Live {
    record: LeaseRecord,
    events: EventSender,
}

#[derive(Default)]
pub struct Leases {
    live: Mutex<HashMap<String, Live>>,
}

impl Leases {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn insert(&self, record: LeaseRecord, events: EventSender) {
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        live.insert(record.id.clone(), Live { record, events });
    }

    /// Marks a lease whose holder is gone but whose processes run; false when it is no
    /// longer live.
    pub fn orphan(&self, id: &str) -> bool {
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        live.get_mut(id).map(|l| l.record.orphaned = true).is_some()
    }

    /// Adds what a sample found to what is known of a lease's processes, forgetting those
    /// that ended.
    pub fn remember(&self, id: &str, seen: Vec<Proc>) {
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(l) = live.get_mut(id) {
            l.record.known.retain(Proc::alive);
            for p in seen {
                if !l.record.known.contains(&p) {
                    l.record.known.push(p);
                }
            }
        }
    }

    /// The lease, if it is still live.
    pub fn get(&self, id: &str) -> Option<LeaseRecord> {
        let live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        live.get(id).map(|l| l.record.clone())
    }

    /// Forgets a lease whose stream has closed; returns it if it was still live.
    pub fn remove(&self, id: &str) -> Option<LeaseRecord> {
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        live.remove(id).map(|l| l.record)
    }

    /// Records the child of a lease (or why it never started), if `pid` is the lease's
    /// holder.
    pub fn set_child(&self, id: &str, holder: u32, child_pid: u32, failure: &str) -> bool {
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        match live.get_mut(id) {
            Some(l) if l.record.pid == holder => {
                if !failure.is_empty() {
                    l.record.not_started = Some(failure.to_string());
                    return true;
                }
                l.record.child_pid = child_pid;
                l.record.known.extend(Proc::of(child_pid as i32));
                true
            }
            _ => false,
        }
    }

    pub fn list(&self) -> Vec<LeaseRecord> {
        let live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        let mut records: Vec<LeaseRecord> = live.values().map(|l| l.record.clone()).collect();
        records.sort_by_key(|r| r.granted_at);
        records
    }

    /// Ends every lease `matches` selects: tells its client why and forgets it. Each comes
    /// with whether its `sec` was still there to hear it.
    pub fn end(
        &self,
        matches: impl Fn(&LeaseRecord) -> bool,
        reason: &str,
    ) -> Vec<(LeaseRecord, bool)> {
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        let ids: Vec<String> = live
            .values()
            .filter(|l| matches(&l.record))
            .map(|l| l.record.id.clone())
            .collect();
        ids.iter()
            .filter_map(|id| live.remove(id))
            .map(|ended| {
                let notice = Notice::Revoked {
                    reason: reason.into(),
                    terminate: ended.record.on_revoke == OnRevoke::Terminate,
                };
                // A full or closed stream means the client is gone or going; nothing to do.
                let heard = ended.events.try_send(notice).is_ok();
                (ended.record, heard)
            })
            .collect()
    }
}
