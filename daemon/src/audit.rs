//! The audit log: one JSON object per line in `$XDG_STATE_HOME/sec/audit.jsonl`, appended
//! for every grant, refusal, revocation, expiry, unlock and trust decision. It names
//! scopes, variables, references, commands and processes, never a value. When the file
//! passes its size bound it is moved to `audit.jsonl.1` (one generation kept).
//!
//! A grant whose record cannot be written is refused: nothing is handed out unrecorded.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use serde::Serialize;

/// Rotate once the log is larger than this.
pub const MAX_BYTES: u64 = 1024 * 1024;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Event {
    Grant,
    Deny,
    Revoke,
    Expire,
    Unlock,
    Allow,
    DenyTrust,
}

/// One line of the log. Empty fields are left out.
#[derive(Debug, Clone, Default, Serialize)]
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
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reason: String,
}

#[derive(Serialize)]
struct Line<'a> {
    time: String,
    event: Event,
    #[serde(flatten)]
    record: &'a Record,
}

pub struct AuditLog {
    path: PathBuf,
    max_bytes: u64,
    /// Serialises appends and rotation.
    lock: Mutex<()>,
}

impl AuditLog {
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            max_bytes: MAX_BYTES,
            lock: Mutex::new(()),
        }
    }

    #[cfg(test)]
    fn with_limit(path: PathBuf, max_bytes: u64) -> Self {
        Self {
            path,
            max_bytes,
            lock: Mutex::new(()),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one record (and flushes it to the file) or says why it could not.
    pub fn write(&self, event: Event, record: &Record) -> std::io::Result<()> {
        let line = Line {
            time: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
            event,
            record,
        };
        let mut text = serde_json::to_string(&line)?;
        text.push('\n');
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        self.rotate_if_full()?;
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        // Never through a link: one planted here (to ~/.bashrc) is refused, its target untouched.
        let mut file = sec_proto::nofollow::open_append(&self.path, 0o600)?;
        // In the kernel's hands before the grant goes out; not fsynced (that cost a quarter
        // of a millisecond per `sec exec`): a power cut can lose the last records, a full
        // disk or a missing directory cannot slip by.
        file.write_all(text.as_bytes())
    }

    /// Records that should not stop anything when they fail (revocations, expiry): logged.
    pub fn note(&self, event: Event, record: &Record) {
        if let Err(e) = self.write(event, record) {
            tracing::error!(path = %self.path.display(), "cannot write the audit log: {e}");
        }
    }

    /// Moves a full log aside. Neither the log nor `NAME.1` is looked at through a link: a
    /// link in either place is refused (a rename would replace it without following it, but
    /// the refusal says what happened).
    fn rotate_if_full(&self) -> std::io::Result<()> {
        match std::fs::symlink_metadata(&self.path) {
            Ok(meta) if meta.is_file() && meta.len() >= self.max_bytes => {
                let rotated = sec_proto::paths::rotated(&self.path);
                sec_proto::nofollow::refuse_link(&rotated)?;
                std::fs::rename(&self.path, rotated)
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> Record {
        Record {
            scope: "/p".into(),
            names: vec!["TOKEN".into()],
            references: vec!["keyring:s/a".into()],
            command: vec!["twine".into(), "upload".into()],
            pid: Some(42),
            ..Default::default()
        }
    }

    #[test]
    fn writes_one_json_object_per_line() {
        let tmp = tempfile::tempdir().unwrap();
        let log = AuditLog::new(tmp.path().join("state/audit.jsonl"));
        log.write(Event::Grant, &record()).unwrap();
        log.write(
            Event::DenyTrust,
            &Record {
                scope: "/r".into(),
                ..Default::default()
            },
        )
        .unwrap();
        let text = std::fs::read_to_string(log.path()).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["event"], "grant");
        assert_eq!(lines[0]["names"][0], "TOKEN");
        assert_eq!(lines[0]["pid"], 42);
        assert!(lines[0]["time"].as_str().unwrap().ends_with('Z'));
        assert_eq!(lines[1]["event"], "deny-trust");
        assert!(lines[1].get("names").is_none(), "empty fields are left out");
    }

    #[test]
    fn rotates_when_full_and_keeps_one_generation() {
        let tmp = tempfile::tempdir().unwrap();
        let log = AuditLog::with_limit(tmp.path().join("audit.jsonl"), 200);
        for _ in 0..10 {
            log.write(Event::Grant, &record()).unwrap();
        }
        let current = std::fs::metadata(log.path()).unwrap().len();
        let old = std::fs::metadata(tmp.path().join("audit.jsonl.1"))
            .unwrap()
            .len();
        assert!(current <= 400 && old <= 400, "{current} {old}");
        assert!(!tmp.path().join("audit.jsonl.2").exists());
    }

    #[cfg(unix)]
    #[test]
    fn a_log_or_its_rotation_replaced_by_a_link_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("bashrc");
        std::fs::write(&target, "keep\n").unwrap();
        let path = tmp.path().join("audit.jsonl");
        std::os::unix::fs::symlink(&target, &path).unwrap();
        let err = AuditLog::new(path.clone())
            .write(Event::Grant, &record())
            .unwrap_err();
        assert!(sec_proto::nofollow::is_link_refused(&err), "{err}");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep\n");

        std::fs::remove_file(&path).unwrap();
        let log = AuditLog::with_limit(path.clone(), 10);
        log.write(Event::Grant, &record()).unwrap();
        std::os::unix::fs::symlink(&target, tmp.path().join("audit.jsonl.1")).unwrap();
        let err = log.write(Event::Grant, &record()).unwrap_err();
        assert!(sec_proto::nofollow::is_link_refused(&err), "{err}");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep\n");
    }

    #[test]
    fn a_failed_write_is_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("audit.jsonl");
        std::fs::create_dir(&path).unwrap();
        assert!(AuditLog::new(path).write(Event::Grant, &record()).is_err());
    }
}
