//! What the shell hook needs to handle a change of directory by itself, with shell builtins
//! and without starting `sec` (see `shell-hooks/`): the config scopes in force, and files
//! under `RUNTIME/hook/` that bash, zsh and fish can test.
//!
//! - `unlocked/ID`: an empty file that exists while every secret of the config scope whose
//!   directory hashes to ID ([`scope_id`]) is cached. It holds no secret and names no
//!   directory. An approved repository file (`.sec.toml`) has one too, named by a hash of
//!   its directory and content ([`repo_id`]): it exists while the file is approved, its
//!   content is the approved one and every secret of the scope in force there (merged with
//!   a config scope in the same directory) is cached, and its modification time is the
//!   file's as secd saw it before reading it (only once that is [`SETTLED`]), so the hook
//!   knows the file unchanged while the two times are equal. [`Daemon::sync_hook_files`] keeps the markers in step with the cache: once a
//!   second from housekeeping (expiry, a locked local vault, a reload), right after a
//!   lookup filled the cache (a grant, `sec unlock`), after a revoke and before each map.
//!   The first sync removes what an earlier secd left; secd removes them all when it stops.
//! - `config-SECS.NANOS`: a stamp whose modification time is config.toml's when the map was
//!   taken; bash and zsh compare the two with `-nt` and `-ot`. A newer map's stamp replaces
//!   the older ones: a shell that holds one finds it gone and asks sec again.
//!
//! The directories are 0700 and checked like the runtime directory; the files are 0600,
//! never opened through a symbolic link.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use sec_proto::pb;
use sha2::{Digest, Sha256};

use super::Daemon;
use crate::config::{Config, OnLeave, REPO_FILE, Scope};
use crate::policy::trust::{Trust, find_repo_file};

/// How long config.toml must have been left alone before the hook may rely on its time
/// stamp: a second edit within the same tick of the clock (or, for fish, which compares
/// whole seconds, the same second) would carry the same one.
const SETTLED: Duration = Duration::from_secs(2);

/// The name of a config scope's unlock marker: 16 hex digits of its directory's SHA-256.
pub fn scope_id(dir: &Path) -> String {
    Sha256::digest(dir.as_os_str().as_encoded_bytes())[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The name of an approved repository file's unlock marker: 16 hex digits of the SHA-256 of
/// its directory and its content's hash, so that another version of the file (approved
/// later, with other settings) has another marker than the one a shell's map names.
pub fn repo_id(dir: &Path, sha256: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(dir.as_os_str().as_encoded_bytes());
    hasher.update([0]);
    hasher.update(sha256.as_bytes());
    hasher.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The markers to keep: each id, with the modification time its file must carry (an
/// approved repository file's, as secd saw it), or none (a config scope's).
type Markers = BTreeMap<String, Option<SystemTime>>;

/// One scope of the hook's map.
struct Entry {
    scope: Scope,
    id: String,
    /// For an approved repository file: its modification time.
    repo_mtime: Option<SystemTime>,
}

/// The hook's files in the runtime directory.
pub struct HookFiles {
    dir: PathBuf,
    /// The markers on disk as last written; `None` until the first sync, and after a
    /// failure, when the directory is read again.
    written: Mutex<Option<Markers>>,
}

impl HookFiles {
    /// The files live under `runtime_dir/hook`.
    pub fn new(runtime_dir: &Path) -> Self {
        Self {
            dir: runtime_dir.join("hook"),
            written: Mutex::new(None),
        }
    }

    fn markers_dir(&self) -> PathBuf {
        self.dir.join("unlocked")
    }

    /// Makes the markers on disk exactly `ids`, with their times. Cheap when nothing
    /// changed (no file is touched).
    fn sync_markers(&self, ids: Markers) {
        let mut written = self.written.lock().unwrap_or_else(|p| p.into_inner());
        if written.as_ref() == Some(&ids) {
            return;
        }
        let on_disk = written.take();
        match self.write_markers(on_disk, &ids) {
            Ok(()) => *written = Some(ids),
            // A marker that could not be removed would say "unlocked" wrongly: the next sync
            // looks at the directory again.
            Err(e) => tracing::error!(
                "cannot update the shell hook's unlock markers in {}: {e}",
                self.markers_dir().display()
            ),
        }
    }

    fn write_markers(&self, on_disk: Option<Markers>, ids: &Markers) -> io::Result<()> {
        let dir = self.markers_dir();
        // Listed, a marker's time is unknown (`None`): one that needs a time gets it again.
        let on_disk = match on_disk {
            Some(markers) => markers,
            None => names_in(&dir)?.into_iter().map(|n| (n, None)).collect(),
        };
        for stale in on_disk.keys().filter(|id| !ids.contains_key(*id)) {
            match std::fs::remove_file(dir.join(stale)) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        if ids.is_empty() {
            return Ok(());
        }
        private_dir(&self.dir)?;
        private_dir(&dir)?;
        for (id, time) in ids {
            match (on_disk.get(id), time) {
                (Some(_), None) => {}
                (Some(had), Some(_)) if had == time => {}
                _ => {
                    let file = private_file(&dir.join(id))?;
                    if let Some(time) = time {
                        file.set_modified(*time)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// The stamp for a config file last modified at `modified`; older stamps go.
    fn stamp(&self, modified: SystemTime) -> io::Result<PathBuf> {
        let _serial = self.written.lock().unwrap_or_else(|p| p.into_inner());
        let since = modified
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_err(io::Error::other)?;
        let name = format!("config-{}.{:09}", since.as_secs(), since.subsec_nanos());
        private_dir(&self.dir)?;
        let path = self.dir.join(&name);
        private_file(&path)?.set_modified(modified)?;
        for old in names_in(&self.dir)? {
            if old.starts_with("config-") && old != name {
                let _ = std::fs::remove_file(self.dir.join(old));
            }
        }
        Ok(path)
    }

    /// Removes every file of the hook (when secd stops: nothing is cached any more).
    pub fn remove_all(&self) {
        let mut written = self.written.lock().unwrap_or_else(|p| p.into_inner());
        *written = None;
        match std::fs::remove_dir_all(&self.dir) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                tracing::error!("cannot remove {}: {e}", self.dir.display())
            }
            _ => {}
        }
    }
}

/// The names in `dir` (none when it does not exist).
fn names_in(dir: &Path) -> io::Result<BTreeSet<String>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(BTreeSet::new()),
        Err(e) => return Err(e),
    };
    let mut names = BTreeSet::new();
    for entry in entries {
        names.insert(entry?.file_name().to_string_lossy().into_owned());
    }
    Ok(names)
}

/// Creates `dir` 0700 when missing and checks it (ours, a directory, not a link, private).
fn private_dir(dir: &Path) -> io::Result<()> {
    sec_proto::socket::ensure_private_dir(dir).map_err(io::Error::other)
}

/// Opens (creating it 0600, empty) the file at `path`, never through a link.
fn private_file(path: &Path) -> io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    sec_proto::nofollow::open(&mut options, path)
}

impl Daemon {
    /// Brings the unlock markers in line with the cache, for the config in force.
    pub fn sync_hook_files(&self) {
        self.sync_markers_for(&self.config.snapshot().config);
    }

    fn sync_markers_for(&self, config: &Config) -> Vec<Entry> {
        let entries = self.hook_entries(config);
        let ids = entries
            .iter()
            .filter(|entry| self.scope_unlocked(&entry.scope))
            .map(|entry| (entry.id.clone(), entry.repo_mtime))
            .collect();
        self.hook_files.sync_markers(ids);
        entries
    }

    /// The scopes of the map: each config scope (merged with an approved repository file in
    /// its directory), then each other approved repository file.
    fn hook_entries(&self, config: &Config) -> Vec<Entry> {
        let mut entries: Vec<Entry> = config
            .scopes
            .iter()
            .map(|scope| match self.approved_repo_scope(config, &scope.dir) {
                Some(entry) => entry,
                None => Entry {
                    scope: scope.clone(),
                    id: scope_id(&scope.dir),
                    repo_mtime: None,
                },
            })
            .collect();
        for path in self.trust.approved_paths() {
            let Some(dir) = path.parent() else { continue };
            if path.file_name() != Some(REPO_FILE.as_ref())
                || config.scopes.iter().any(|scope| scope.dir == dir)
            {
                continue;
            }
            entries.extend(self.approved_repo_scope(config, dir));
        }
        entries
    }

    /// The scope in force in `dir` when `dir` holds an approved, unchanged repository file
    /// whose modification time is settled (taken before the file is read, so that an edit
    /// during the read gives the file a newer time than its marker's). None otherwise: a
    /// `.sec.toml` there then makes the hook run sec.
    fn approved_repo_scope(&self, config: &Config, dir: &Path) -> Option<Entry> {
        let meta = std::fs::symlink_metadata(dir.join(REPO_FILE)).ok()?;
        let modified = meta.modified().ok().filter(|_| meta.is_file())?;
        let settled = SystemTime::now()
            .duration_since(modified)
            .is_ok_and(|age| age >= SETTLED);
        if !settled {
            return None;
        }
        let file = find_repo_file(dir).filter(|file| file.dir == dir)?;
        if self.trust.trust_of(&file) != Trust::Allowed {
            return None;
        }
        let effective = self.effective(config, dir);
        let repo = effective.repo?;
        let same = repo.file.dir == dir && repo.file.sha256 == file.sha256;
        if !same || repo.trust != Trust::Allowed || repo.parsed.is_err() {
            return None;
        }
        let scope = effective.scope.filter(|scope| scope.dir == dir)?;
        Some(Entry {
            scope,
            id: repo_id(dir, &file.sha256),
            repo_mtime: Some(modified),
        })
    }

    /// The map `sec hook-event` hands to the shell: the config in force (re-read first if
    /// the file changed) with fresh markers, and the stamp of the file version it stands
    /// for. Not usable while the file's time stamp is too recent to rely on, or when the
    /// stamp cannot be written.
    pub fn hook_map(&self) -> pb::HookMapReply {
        let snapshot = self.current_config();
        let entries = self.sync_markers_for(&snapshot.config);
        let (config_stamp, config_mtime_secs) = match snapshot.modified {
            None => (String::new(), 0),
            Some(modified) => {
                let settled = SystemTime::now()
                    .duration_since(modified)
                    .is_ok_and(|age| age >= SETTLED);
                if !settled {
                    return pb::HookMapReply::default();
                }
                match self.hook_files.stamp(modified) {
                    Ok(path) => (path.display().to_string(), crate::host::unix_time(modified)),
                    Err(e) => {
                        tracing::error!("cannot write the shell hook's config stamp: {e}");
                        return pb::HookMapReply::default();
                    }
                }
            }
        };
        let config = &snapshot.config;
        pb::HookMapReply {
            usable: true,
            config_path: self.config.path().display().to_string(),
            config_stamp,
            config_mtime_secs,
            unlocked_dir: self.hook_files.markers_dir().display().to_string(),
            scopes: entries
                .into_iter()
                .map(|entry| pb::HookScope {
                    dir: entry.scope.dir.display().to_string(),
                    id: entry.id,
                    on_leave_revoke: entry.scope.on_leave == OnLeave::Revoke,
                    prompt: entry.scope.prompt,
                    repo_file: entry.repo_mtime.is_some(),
                })
                .collect(),
            untrusted: config
                .untrusted
                .iter()
                .map(|dir| dir.display().to_string())
                .collect(),
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// A directory as secd would have made it (0700).
    fn private(dir: &Path) {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .unwrap();
    }

    fn ids(names: &[&str]) -> Markers {
        names.iter().map(|n| (n.to_string(), None)).collect()
    }

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn ids_are_short_hashes_of_the_directory() {
        let id = scope_id(Path::new("/home/me/project"));
        assert_eq!(id.len(), 16);
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(id, scope_id(Path::new("/home/me/projec")));
        assert_eq!(id, scope_id(Path::new("/home/me/project")));
    }

    #[test]
    fn markers_follow_the_set_and_leftovers_go() {
        let tmp = tempfile::tempdir().unwrap();
        let files = HookFiles::new(tmp.path());
        let markers = files.markers_dir();
        private(&markers);
        std::fs::write(markers.join("left-by-an-earlier-secd"), "").unwrap();

        files.sync_markers(ids(&["a", "b"]));
        assert_eq!(
            names_in(&markers).unwrap(),
            ["a".to_string(), "b".to_string()].into()
        );
        assert_eq!(mode(&markers.join("a")), 0o600);
        assert_eq!(mode(&tmp.path().join("hook")), 0o700);

        files.sync_markers(ids(&["b"]));
        assert_eq!(names_in(&markers).unwrap(), ["b".to_string()].into());
        files.sync_markers(Markers::new());
        assert!(names_in(&markers).unwrap().is_empty());

        files.sync_markers(ids(&["c"]));
        files.remove_all();
        assert!(!tmp.path().join("hook").exists());
    }

    #[test]
    fn a_link_in_a_markers_place_is_not_followed() {
        let tmp = tempfile::tempdir().unwrap();
        let files = HookFiles::new(tmp.path());
        let markers = files.markers_dir();
        private(&markers);
        let target = tmp.path().join("bashrc");
        std::fs::write(&target, "keep").unwrap();
        std::os::unix::fs::symlink(&target, markers.join("a")).unwrap();
        // Believed absent, so created: refused, and retried from a fresh listing next time.
        *files.written.lock().unwrap() = Some(Markers::new());
        files.sync_markers(ids(&["a"]));
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep");
        assert!(files.written.lock().unwrap().is_none());
    }

    #[test]
    fn repository_markers_carry_the_files_time() {
        let tmp = tempfile::tempdir().unwrap();
        let files = HookFiles::new(tmp.path());
        let marker = files.markers_dir().join("r");
        let first = SystemTime::UNIX_EPOCH + Duration::new(1_700_000_000, 5);
        files.sync_markers([("r".to_string(), Some(first))].into());
        assert_eq!(
            std::fs::metadata(&marker).unwrap().modified().unwrap(),
            first
        );
        // The file's time changed (the same content touched): the marker follows.
        let second = first + Duration::from_secs(3);
        files.sync_markers([("r".to_string(), Some(second))].into());
        assert_eq!(
            std::fs::metadata(&marker).unwrap().modified().unwrap(),
            second
        );
        // A marker listed from an earlier secd gets its time again.
        let again = HookFiles::new(tmp.path());
        again.sync_markers([("r".to_string(), Some(first))].into());
        assert_eq!(
            std::fs::metadata(&marker).unwrap().modified().unwrap(),
            first
        );
    }

    #[test]
    fn repository_ids_depend_on_the_content() {
        let dir = Path::new("/home/me/repo");
        let id = repo_id(dir, "aa");
        assert_eq!(id.len(), 16);
        assert_ne!(id, repo_id(dir, "ab"));
        assert_ne!(id, scope_id(dir));
        assert_eq!(id, repo_id(dir, "aa"));
    }

    #[test]
    fn a_stamp_carries_the_config_time_and_replaces_older_ones() {
        let tmp = tempfile::tempdir().unwrap();
        let files = HookFiles::new(tmp.path());
        let first = SystemTime::UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_789);
        let old = files.stamp(first).unwrap();
        assert!(old.ends_with("hook/config-1700000000.123456789"));
        assert_eq!(std::fs::metadata(&old).unwrap().modified().unwrap(), first);
        assert_eq!(mode(&old), 0o600);

        let second = first + Duration::from_secs(5);
        let new = files.stamp(second).unwrap();
        assert!(!old.exists(), "the older stamp is still there");
        assert_eq!(std::fs::metadata(&new).unwrap().modified().unwrap(), second);
    }
}
