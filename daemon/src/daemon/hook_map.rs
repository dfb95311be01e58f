//! What the shell hook needs to handle a change of directory by itself, with shell builtins
//! and without starting `sec` (see `shell-hooks/`): the config scopes in force, and files
//! under `RUNTIME/hook/` that bash, zsh and fish can test.
//!
//! - `unlocked/ID`: an empty file that exists while every secret of the config scope whose
//!   directory hashes to ID ([`scope_id`]) is cached. It holds no secret and names no
//!   directory. [`Daemon::sync_hook_files`] keeps the markers in step with the cache: once a
//!   second from housekeeping (expiry, a locked local vault, a reload), right after a
//!   lookup filled the cache (a grant, `sec unlock`), after a revoke and before each map.
//!   The first sync removes what an earlier secd left; secd removes them all when it stops.
//! - `config-SECS.NANOS`: a stamp whose modification time is config.toml's when the map was
//!   taken; bash and zsh compare the two with `-nt` and `-ot`. A newer map's stamp replaces
//!   the older ones: a shell that holds one finds it gone and asks sec again.
//!
//! The directories are 0700 and checked like the runtime directory; the files are 0600,
//! never opened through a symbolic link.

use std::collections::BTreeSet;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use sec_proto::pb;
use sha2::{Digest, Sha256};

use super::Daemon;
use crate::config::{Config, OnLeave};

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

/// The hook's files in the runtime directory.
pub struct HookFiles {
    dir: PathBuf,
    /// The markers on disk as last written; `None` until the first sync, and after a
    /// failure, when the directory is read again.
    written: Mutex<Option<BTreeSet<String>>>,
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

    /// Makes the markers on disk exactly `ids`. Cheap when nothing changed (no file is
    /// touched).
    fn sync_markers(&self, ids: BTreeSet<String>) {
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

    fn write_markers(
        &self,
        on_disk: Option<BTreeSet<String>>,
        ids: &BTreeSet<String>,
    ) -> io::Result<()> {
        let dir = self.markers_dir();
        let on_disk = match on_disk {
            Some(set) => set,
            None => names_in(&dir)?,
        };
        for stale in on_disk.difference(ids) {
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
        for id in ids.difference(&on_disk) {
            private_file(&dir.join(id))?;
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

    fn sync_markers_for(&self, config: &Config) {
        let ids = config
            .scopes
            .iter()
            .filter(|scope| self.scope_unlocked(scope))
            .map(|scope| scope_id(&scope.dir))
            .collect();
        self.hook_files.sync_markers(ids);
    }

    /// The map `sec hook-event` hands to the shell: the config in force (re-read first if
    /// the file changed) with fresh markers, and the stamp of the file version it stands
    /// for. Not usable while the file's time stamp is too recent to rely on, or when the
    /// stamp cannot be written.
    pub fn hook_map(&self) -> pb::HookMapReply {
        let snapshot = self.current_config();
        self.sync_markers_for(&snapshot.config);
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
            scopes: config
                .scopes
                .iter()
                .map(|scope| pb::HookScope {
                    dir: scope.dir.display().to_string(),
                    id: scope_id(&scope.dir),
                    on_leave_revoke: scope.on_leave == OnLeave::Revoke,
                    prompt: scope.prompt,
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

        files.sync_markers(["a".to_string(), "b".to_string()].into());
        assert_eq!(
            names_in(&markers).unwrap(),
            ["a".to_string(), "b".to_string()].into()
        );
        assert_eq!(mode(&markers.join("a")), 0o600);
        assert_eq!(mode(&tmp.path().join("hook")), 0o700);

        files.sync_markers(["b".to_string()].into());
        assert_eq!(names_in(&markers).unwrap(), ["b".to_string()].into());
        files.sync_markers(BTreeSet::new());
        assert!(names_in(&markers).unwrap().is_empty());

        files.sync_markers(["c".to_string()].into());
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
        *files.written.lock().unwrap() = Some(BTreeSet::new());
        files.sync_markers(["a".to_string()].into());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep");
        assert!(files.written.lock().unwrap().is_none());
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
