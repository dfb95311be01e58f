//! Repository scope files (`.sec.toml`) and the user's decisions about them.
//!
//! A repository may carry a `.sec.toml` that asks for secrets for its directory. It is inert
//! until the user approves it with `sec allow`; the approval is bound to the file's absolute
//! path and the SHA-256 of its content, so any edit makes it inert again (direnv's model).
//! `sec deny` records a refusal bound to the path only, so the hook stops asking even after
//! the file changes. Decisions live in `$XDG_STATE_HOME/sec/trust.json`, written atomically.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::REPO_FILE;

/// A repository file as read from disk.
#[derive(Debug, Clone)]
pub struct RepoFile {
    /// Absolute path of the `.sec.toml`.
    pub path: PathBuf,
    /// The directory it is the scope of.
    pub dir: PathBuf,
    pub text: String,
    pub sha256: String,
}

/// What the user decided about a repository file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trust {
    /// Approved with exactly this content.
    Allowed,
    /// Refused; the hook does not ask again.
    Denied,
    /// Never seen.
    New,
    /// Approved once, edited since.
    Changed,
}

impl Trust {
    pub fn as_str(self) -> &'static str {
        match self {
            Trust::Allowed => "allowed",
            Trust::Denied => "denied",
            Trust::New => "new",
            Trust::Changed => "changed",
        }
    }
}

/// The nearest `.sec.toml` at or above `dir`, read and hashed.
pub fn find_repo_file(dir: &Path) -> Option<RepoFile> {
    dir.ancestors().find_map(|ancestor| {
        let path = ancestor.join(REPO_FILE);
        let meta = std::fs::symlink_metadata(&path).ok()?;
        if !meta.is_file() {
            return None;
        }
        let text = match crate::config::read_bounded(&path, crate::config::MAX_REPO_FILE_BYTES) {
            Ok(text) => text,
            Err(e) => {
                tracing::warn!(path = %path.display(), "repository file not read: {e}");
                return None;
            }
        };
        let sha256 = format!("{:x}", Sha256::digest(text.as_bytes()));
        Some(RepoFile {
            path,
            dir: ancestor.to_path_buf(),
            text,
            sha256,
        })
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Verdict {
    Allow,
    Deny,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Decision {
    verdict: Verdict,
    /// The approved content's hash (for a denial: the content seen when denying).
    sha256: String,
    at_unix: i64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Decisions {
    files: BTreeMap<PathBuf, Decision>,
}

pub struct TrustStore {
    path: PathBuf,
    decisions: Mutex<Decisions>,
}

impl TrustStore {
    /// Loads the decisions; a missing file means none. An unreadable or corrupt file also
    /// means none (every repository file is inert again), and is logged.
    pub fn load(path: PathBuf) -> Self {
        let decisions = match crate::host::state_file::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text).unwrap_or_else(|e| {
                tracing::error!(path = %path.display(), "trust decisions unreadable ({e}); every .sec.toml needs `sec allow` again");
                Decisions::default()
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Decisions::default(),
            Err(e) => {
                tracing::error!("trust decisions not read: {e}; every .sec.toml needs `sec allow` again");
                Decisions::default()
            }
        };
        Self {
            path,
            decisions: Mutex::new(decisions),
        }
    }

    /// Drops approvals that secd did not record in the audit log (each approval it makes is
    /// recorded there with the file's hash): entries written into trust.json by something
    /// else. Returns the files whose approval was dropped.
    pub fn drop_unrecorded_approvals(&self, audit_files: &[PathBuf]) -> Vec<PathBuf> {
        let log: String = audit_files
            .iter()
            .filter_map(|f| std::fs::read_to_string(f).ok())
            .collect();
        let recorded = |sha256: &str| {
            log.lines()
                .any(|l| l.contains("\"event\":\"allow\"") && l.contains(sha256))
        };
        let mut decisions = self.decisions.lock().unwrap_or_else(|p| p.into_inner());
        let foreign: Vec<PathBuf> = decisions
            .files
            .iter()
            .filter(|(_, d)| d.verdict == Verdict::Allow && !recorded(&d.sha256))
            .map(|(path, _)| path.clone())
            .collect();
        for path in &foreign {
            decisions.files.remove(path);
        }
        if !foreign.is_empty()
            && let Err(e) = self.save(&decisions)
        {
            tracing::error!("cannot rewrite the trust decisions: {e}");
        }
        foreign
    }

    pub fn trust_of(&self, file: &RepoFile) -> Trust {
        let decisions = self.decisions.lock().unwrap_or_else(|p| p.into_inner());
        match decisions.files.get(&file.path) {
            None => Trust::New,
            Some(d) if d.verdict == Verdict::Deny => Trust::Denied,
            Some(d) if d.sha256 == file.sha256 => Trust::Allowed,
            Some(_) => Trust::Changed,
        }
    }

    /// The paths of the repository files approved (with some content).
    pub fn approved_paths(&self) -> Vec<PathBuf> {
        let decisions = self.decisions.lock().unwrap_or_else(|p| p.into_inner());
        decisions
            .files
            .iter()
            .filter(|(_, d)| d.verdict == Verdict::Allow)
            .map(|(path, _)| path.clone())
            .collect()
    }

    pub fn allow(&self, file: &RepoFile) -> std::io::Result<()> {
        self.record(file, Verdict::Allow)
    }

    pub fn deny(&self, file: &RepoFile) -> std::io::Result<()> {
        self.record(file, Verdict::Deny)
    }

    fn record(&self, file: &RepoFile, verdict: Verdict) -> std::io::Result<()> {
        let mut decisions = self.decisions.lock().unwrap_or_else(|p| p.into_inner());
        let decision = Decision {
            verdict,
            sha256: file.sha256.clone(),
            at_unix: crate::host::unix_time(std::time::SystemTime::now()),
        };
        let previous = decisions.files.insert(file.path.clone(), decision);
        if let Err(e) = self.save(&decisions) {
            // Keep memory and disk in agreement: undo the change that could not be saved.
            match previous {
                Some(p) => decisions.files.insert(file.path.clone(), p),
                None => decisions.files.remove(&file.path),
            };
            return Err(e);
        }
        Ok(())
    }

    fn save(&self, decisions: &Decisions) -> std::io::Result<()> {
        let mut text = serde_json::to_vec_pretty(decisions)?;
        text.push(b'\n');
        crate::host::state_file::replace(&self.path, &text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(dir: &Path, text: &str) -> RepoFile {
        std::fs::write(dir.join(REPO_FILE), text).unwrap();
        find_repo_file(dir).unwrap()
    }

    #[test]
    fn approval_is_bound_to_the_content() {
        let tmp = tempfile::tempdir().unwrap();
        let store = TrustStore::load(tmp.path().join("state/trust.json"));
        let file = repo(tmp.path(), "[env]\nA = \"keyring:s/a\"\n");
        assert_eq!(store.trust_of(&file), Trust::New);
        store.allow(&file).unwrap();
        assert_eq!(store.trust_of(&file), Trust::Allowed);

        let edited = repo(tmp.path(), "[env]\nA = \"keyring:s/other\"\n");
        assert_eq!(store.trust_of(&edited), Trust::Changed);

        // Decisions survive a restart.
        let reloaded = TrustStore::load(tmp.path().join("state/trust.json"));
        assert_eq!(reloaded.trust_of(&file), Trust::Allowed);
        assert_eq!(reloaded.trust_of(&edited), Trust::Changed);
    }

    #[test]
    fn a_denial_holds_across_edits() {
        let tmp = tempfile::tempdir().unwrap();
        let store = TrustStore::load(tmp.path().join("trust.json"));
        let file = repo(tmp.path(), "[env]\n");
        store.deny(&file).unwrap();
        let edited = repo(tmp.path(), "[env]\nA = \"keyring:s/a\"\n");
        assert_eq!(store.trust_of(&edited), Trust::Denied);
    }

    #[test]
    fn the_nearest_ancestor_file_applies() {
        let tmp = tempfile::tempdir().unwrap();
        let deep = tmp.path().join("a/b/c");
        std::fs::create_dir_all(&deep).unwrap();
        std::fs::write(tmp.path().join("a").join(REPO_FILE), "").unwrap();
        let found = find_repo_file(&deep).unwrap();
        assert_eq!(found.dir, tmp.path().join("a"));
        std::fs::write(tmp.path().join("a/b").join(REPO_FILE), "x").unwrap();
        assert_eq!(find_repo_file(&deep).unwrap().dir, tmp.path().join("a/b"));
    }
}
