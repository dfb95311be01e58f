//! The audit log: one JSON object per line in `$XDG_STATE_HOME/sec/audit.jsonl`, appended
//! for every grant, refusal, revocation, expiry, unlock and trust decision. It names
//! scopes, variables, references, commands and processes, never a value. When the file
//! passes its size bound it is moved to `audit.jsonl.1`, and older generations up to
//! `audit.jsonl.4`. A record is bounded too (a command line of megabytes is cut, saying how
//! much was left out), so no single request can push the history out.
//!
//! A grant whose record cannot be written is refused: nothing is handed out unrecorded.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

/// Rotate once the log is larger than this.
pub const MAX_BYTES: u64 = 1024 * 1024;

pub use sec_proto::audit::{Event, Line, Record};

pub struct AuditLog {
    path: PathBuf,
    max_bytes: u64,
    /// Serialises appends and rotation; holds the open log while `path` still names it.
    open: Mutex<Option<OpenLog>>,
}

/// The log file as opened, with its identity: a later append reuses it only while the path
/// still leads to the same file (not rotated, removed or replaced), so an append costs one
/// lstat and one write rather than seven system calls (issue 14).
struct OpenLog {
    file: std::fs::File,
    identity: (u64, u64),
}

/// A file's device and inode; `None` where there is no such thing, so the log is reopened.
#[cfg(unix)]
fn identity(meta: &std::fs::Metadata) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    Some((meta.dev(), meta.ino()))
}

#[cfg(not(unix))]
fn identity(_: &std::fs::Metadata) -> Option<(u64, u64)> {
    None
}

impl AuditLog {
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            max_bytes: MAX_BYTES,
            open: Mutex::new(None),
        }
    }

    #[cfg(test)]
    fn with_limit(path: PathBuf, max_bytes: u64) -> Self {
        Self {
            path,
            max_bytes,
            open: Mutex::new(None),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one record (and flushes it to the file) or says why it could not.
    pub fn write(&self, event: Event, record: &Record) -> std::io::Result<()> {
        let bounded = bounded(record);
        let line = Line {
            time: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
            event,
            record: bounded,
        };
        let mut text = serde_json::to_string(&line)?;
        text.push('\n');
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let current = self.rotate_if_full()?;
        let reusable = match (&*open, &current) {
            (Some(log), Some(meta)) => meta.is_file() && identity(meta) == Some(log.identity),
            _ => false,
        };
        if !reusable {
            *open = None;
            if let Some(dir) = self.path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            // Never through a link: one planted here (to ~/.bashrc) is refused, its target
            // untouched.
            let file = sec_proto::nofollow::open_append(&self.path, 0o600)?;
            // Without an identity (not unix) the check above never matches: reopened each time.
            let identity = identity(&file.metadata()?).unwrap_or_default();
            *open = Some(OpenLog { file, identity });
        }
        let log = open.as_mut().expect("opened above");
        // In the kernel's hands before the grant goes out; not fsynced (that cost a quarter
        // of a millisecond per `sec exec`): a power cut can lose the last records, a full
        // disk or a missing directory cannot slip by.
        log.file.write_all(text.as_bytes())
    }

    /// Records that should not stop anything when they fail (revocations, expiry): logged.
    pub fn note(&self, event: Event, record: &Record) {
        if let Err(e) = self.write(event, record) {
            tracing::error!(path = %self.path.display(), "cannot write the audit log: {e}");
        }
    }

    /// Moves a full log aside; what the path names afterwards (`None` when nothing, or
    /// after a rotation). Neither the log nor `NAME.1` is looked at through a link: a link in
    /// either place is refused (a rename would replace it without following it, but the
    /// refusal says what happened).
    fn rotate_if_full(&self) -> std::io::Result<Option<std::fs::Metadata>> {
        use sec_proto::paths::{LOG_GENERATIONS, rotated};
        match std::fs::symlink_metadata(&self.path) {
            Ok(meta) if meta.is_file() && meta.len() >= self.max_bytes => {
                for n in (1..LOG_GENERATIONS).rev() {
                    let older = rotated(&self.path, n);
                    sec_proto::nofollow::refuse_link(&older)?;
                    if older.exists() {
                        let newer = rotated(&self.path, n + 1);
                        sec_proto::nofollow::refuse_link(&newer)?;
                        std::fs::rename(&older, newer)?;
                    }
                }
                std::fs::rename(&self.path, rotated(&self.path, 1))?;
                Ok(None)
            }
            Ok(meta) => Ok(Some(meta)),
            Err(_) => Ok(None),
        }
    }
}

/// The most of a command line a record keeps, in bytes, and of one argument.
const MAX_COMMAND: usize = 2048;
const MAX_ARGUMENT: usize = 512;
/// The most of a reason (an error message) a record keeps.
const MAX_REASON: usize = 1024;

/// `record` with its command line and reason cut to their bounds; what was cut is said.
fn bounded(record: &Record) -> Record {
    let mut command = Vec::new();
    let mut total = 0;
    for (i, arg) in record.command.iter().enumerate() {
        if total >= MAX_COMMAND {
            let rest: usize = record.command[i..].iter().map(String::len).sum();
            command.push(format!(
                "[{} more argument(s), {rest} bytes]",
                record.command.len() - i
            ));
            break;
        }
        let keep = MAX_ARGUMENT.min(MAX_COMMAND - total);
        command.push(cut(arg, keep));
        total += arg.len().min(keep);
    }
    Record {
        command,
        reason: cut(&record.reason, MAX_REASON),
        ..record.clone()
    }
}

/// `text`, or its first `max` bytes (at a character boundary) and how many were cut.
fn cut(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}[… {} more bytes]", &text[..end], text.len() - end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_command_lines_are_cut_and_do_not_push_the_history_out() {
        let tmp = tempfile::tempdir().unwrap();
        let log = AuditLog::new(tmp.path().join("audit.jsonl"));
        for n in 0..37 {
            let small = Record {
                command: vec!["true".into(), n.to_string()],
                ..Default::default()
            };
            log.write(Event::Grant, &small).unwrap();
        }
        for _ in 0..3 {
            let huge = Record {
                command: vec!["twine".into(), "x".repeat(3 << 20), "y".into()],
                ..Default::default()
            };
            log.write(Event::Grant, &huge).unwrap();
        }
        let lines: Vec<String> = sec_proto::paths::generations(log.path())
            .iter()
            .filter_map(|p| std::fs::read_to_string(p).ok())
            .flat_map(|t| t.lines().map(String::from).collect::<Vec<_>>())
            .collect();
        assert_eq!(lines.len(), 40, "every record is still there");
        let last = lines.last().unwrap();
        assert!(
            last.len() < 4096,
            "a record is bounded: {} bytes",
            last.len()
        );
        assert!(last.contains("more bytes]"), "{last}");
    }

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
    fn rotates_when_full_and_keeps_at_most_four_generations() {
        let tmp = tempfile::tempdir().unwrap();
        let log = AuditLog::with_limit(tmp.path().join("audit.jsonl"), 200);
        for _ in 0..40 {
            log.write(Event::Grant, &record()).unwrap();
        }
        let current = std::fs::metadata(log.path()).unwrap().len();
        let old = std::fs::metadata(tmp.path().join("audit.jsonl.1"))
            .unwrap()
            .len();
        assert!(current <= 400 && old <= 400, "{current} {old}");
        assert!(tmp.path().join("audit.jsonl.4").exists());
        assert!(!tmp.path().join("audit.jsonl.5").exists());
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
