//! Changes to the user's policy that the user may not have made. Code running as the user
//! can edit config.toml, or restart secd with another askpass; it cannot do so quietly:
//!
//! - every change of config.toml is recorded in the audit log with what changed (scopes
//!   added or removed, references added, `confirm` removed, askpass changed);
//! - a reference that was confirm-protected stays protected when the config stops asking
//!   ("sticky"), until the user says yes once through askpass to a lease of it, which
//!   accepts the change; this holds across restarts (`policy.json` in the state directory);
//! - what looks like tampering (confirm removed, askpass changed, trust entries secd did not
//!   write) raises a notice that the next `sec` command or hook prompt shows, once.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::config::{Config, Value};
use crate::lease::audit::{AuditLog, Event, Record};
use crate::store::vault::Reference;

/// What secd remembers of the policy between runs.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Kept {
    /// References that were confirm-protected, as written.
    protected: BTreeSet<String>,
    /// Protected references whose protection the config dropped, not yet accepted.
    #[serde(default)]
    sticky: BTreeSet<String>,
    /// The askpass program in force at the last start (config or SEC_ASKPASS).
    #[serde(default)]
    askpass: Option<String>,
}

pub struct Tripwires {
    path: PathBuf,
    kept: Mutex<Kept>,
    notices: Mutex<Vec<String>>,
}

/// The references that a lease may hand out only with the user's yes, in `config`.
pub fn protected_in(config: &Config) -> BTreeSet<Reference> {
    config
        .scopes
        .iter()
        .flat_map(|scope| {
            scope
                .confirm
                .iter()
                .filter_map(|name| match scope.env.get(name) {
                    Some(Value::Secret(reference)) => Some(reference.clone()),
                    _ => None,
                })
        })
        .collect()
}

fn references_in(config: &Config) -> BTreeSet<String> {
    config
        .scopes
        .iter()
        .flat_map(|s| s.env.values())
        .filter_map(|v| match v {
            Value::Secret(r) => Some(r.to_string()),
            Value::Literal(_) => None,
        })
        .collect()
}

fn names(set: &BTreeSet<String>) -> String {
    set.iter().cloned().collect::<Vec<_>>().join(", ")
}

impl Tripwires {
    /// Compares the config in force at start (and the askpass program) with what the last
    /// run kept, and records what changed while secd was not running.
    pub fn start(
        path: PathBuf,
        config: &Config,
        askpass: Option<String>,
        audit: &AuditLog,
    ) -> Self {
        let first_run = !path.exists();
        let kept: Kept = std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default();
        let wires = Self {
            path,
            kept: Mutex::new(kept),
            notices: Mutex::new(Vec::new()),
        };
        let now: BTreeSet<String> = protected_in(config)
            .iter()
            .map(ToString::to_string)
            .collect();
        let mut changes = Vec::new();
        {
            let mut kept = wires.kept.lock().unwrap_or_else(|p| p.into_inner());
            let dropped: BTreeSet<String> = kept.protected.difference(&now).cloned().collect();
            if !dropped.is_empty() {
                changes.push(format!("confirm removed for {}", names(&dropped)));
                kept.sticky.extend(dropped);
            }
            if !first_run && kept.askpass != askpass {
                changes.push(format!(
                    "askpass changed to {}",
                    askpass.as_deref().unwrap_or("none")
                ));
            }
            kept.protected = now;
            kept.askpass = askpass;
        }
        if !changes.is_empty() {
            wires.raise(
                audit,
                &format!("while secd was not running: {}", changes.join("; ")),
            );
        }
        wires.save();
        wires
    }

    /// Records a reload of config.toml: what changed, in the audit log; a weakened
    /// protection also as a notice, and the reference stays protected.
    pub fn config_changed(&self, before: &Config, after: &Config, audit: &AuditLog) {
        let dirs = |c: &Config| -> BTreeSet<String> {
            c.scopes
                .iter()
                .map(|s| s.dir.display().to_string())
                .collect()
        };
        let (old_dirs, new_dirs) = (dirs(before), dirs(after));
        let added_refs: BTreeSet<String> = references_in(after)
            .difference(&references_in(before))
            .cloned()
            .collect();
        let now: BTreeSet<String> = protected_in(after)
            .iter()
            .map(ToString::to_string)
            .collect();
        let was: BTreeSet<String> = protected_in(before)
            .iter()
            .map(ToString::to_string)
            .collect();
        let dropped: BTreeSet<String> = was.difference(&now).cloned().collect();
        let mut changes = Vec::new();
        let added: BTreeSet<String> = new_dirs.difference(&old_dirs).cloned().collect();
        let removed: BTreeSet<String> = old_dirs.difference(&new_dirs).cloned().collect();
        if !added.is_empty() {
            changes.push(format!("scopes added: {}", names(&added)));
        }
        if !removed.is_empty() {
            changes.push(format!("scopes removed: {}", names(&removed)));
        }
        if !added_refs.is_empty() {
            changes.push(format!("references added: {}", names(&added_refs)));
        }
        let askpass_changed = before.defaults.askpass != after.defaults.askpass;
        if askpass_changed {
            changes.push(format!(
                "askpass changed to {}",
                after.defaults.askpass.as_deref().unwrap_or("none")
            ));
        }
        {
            let mut kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
            kept.protected = now;
            kept.sticky.extend(dropped.iter().cloned());
        }
        self.save();
        if !dropped.is_empty() {
            changes.push(format!("confirm removed for {}", names(&dropped)));
        }
        if changes.is_empty() {
            return;
        }
        let summary = format!("config.toml changed: {}", changes.join("; "));
        if !dropped.is_empty() || askpass_changed {
            self.raise(audit, &summary);
        } else {
            audit.note(
                Event::Config,
                &Record {
                    reason: summary,
                    ..Default::default()
                },
            );
        }
    }

    /// Whether leasing `reference` needs the user's yes although the config no longer
    /// asks: its protection was dropped and not yet accepted.
    pub fn is_sticky(&self, reference: &Reference) -> bool {
        let kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        kept.sticky.contains(&reference.to_string())
    }

    /// The user said yes to a lease of `reference` after its protection was dropped: the
    /// change is accepted.
    pub fn accept(&self, reference: &Reference) {
        let removed = {
            let mut kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
            kept.sticky.remove(&reference.to_string())
        };
        if removed {
            self.save();
        }
    }

    /// A notice for the user (shown once by the next `sec`), also in the audit log.
    pub fn raise(&self, audit: &AuditLog, message: &str) {
        tracing::warn!("{message}");
        audit.note(
            Event::Tripwire,
            &Record {
                reason: message.to_string(),
                ..Default::default()
            },
        );
        self.notices
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(message.to_string());
    }

    /// The notices not shown yet; they are shown once.
    pub fn take_notices(&self) -> Vec<String> {
        std::mem::take(&mut *self.notices.lock().unwrap_or_else(|p| p.into_inner()))
    }

    fn save(&self) {
        let text = {
            let kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
            serde_json::to_vec_pretty(&*kept).unwrap_or_default()
        };
        if let Err(e) = crate::host::state_file::replace(&self.path, &text) {
            tracing::warn!(path = %self.path.display(), "cannot keep the policy state: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn config(text: &str) -> Config {
        Config::parse(text, Path::new("config.toml"), Path::new("/home/u")).unwrap()
    }

    const PROTECTED: &str =
        "[[scope]]\ndir = \"/p\"\n[scope.env]\nT = { secret = \"keyring:s/t\", confirm = true }\n";
    const WEAKENED: &str = "[[scope]]\ndir = \"/p\"\n[scope.env]\nT = \"keyring:s/t\"\n";

    #[test]
    fn dropping_confirm_keeps_the_reference_protected_and_says_so() {
        let tmp = tempfile::tempdir().unwrap();
        let audit = AuditLog::new(tmp.path().join("audit.jsonl"));
        let wires = Tripwires::start(
            tmp.path().join("policy.json"),
            &config(PROTECTED),
            None,
            &audit,
        );
        let t = Reference::parse("keyring:s/t").unwrap();
        assert!(!wires.is_sticky(&t));
        wires.config_changed(&config(PROTECTED), &config(WEAKENED), &audit);
        assert!(wires.is_sticky(&t));
        let notices = wires.take_notices();
        assert!(
            notices[0].contains("confirm removed for keyring:s/t"),
            "{notices:?}"
        );
        assert!(wires.take_notices().is_empty(), "shown once");
        wires.accept(&t);
        assert!(!wires.is_sticky(&t));
    }

    #[test]
    fn a_weakening_while_secd_was_down_is_caught_at_start() {
        let tmp = tempfile::tempdir().unwrap();
        let audit = AuditLog::new(tmp.path().join("audit.jsonl"));
        let path = tmp.path().join("policy.json");
        drop(Tripwires::start(
            path.clone(),
            &config(PROTECTED),
            None,
            &audit,
        ));
        let wires = Tripwires::start(path, &config(WEAKENED), Some("/tmp/yes".into()), &audit);
        assert!(wires.is_sticky(&Reference::parse("keyring:s/t").unwrap()));
        let notice = wires.take_notices().join(" ");
        assert!(
            notice.contains("confirm removed") && notice.contains("askpass changed"),
            "{notice}"
        );
        let log = std::fs::read_to_string(tmp.path().join("audit.jsonl")).unwrap();
        assert!(log.contains("\"tripwire\""), "{log}");
    }
}
