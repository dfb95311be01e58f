//! Where sec keeps its files, one answer for both binaries: the per-user directories the
//! `directories` crate gives (XDG on Linux, the platform's own elsewhere). `None` when no
//! home directory can be found.

use std::path::{Component, Path, PathBuf};

use directories::{BaseDirs, ProjectDirs};

pub(crate) fn project() -> Option<ProjectDirs> {
    ProjectDirs::from("", "", "sec")
}

/// `dir` and its missing parents, created mode 0700 (as far as the platform has modes); a
/// directory already there is fine. Callers that care what is there check it afterwards.
pub fn create_private_dir_all(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

pub fn home_dir() -> Option<PathBuf> {
    BaseDirs::new().map(|b| b.home_dir().to_path_buf())
}

/// The user's config: `$XDG_CONFIG_HOME/sec/config.toml`.
pub fn config_file() -> Option<PathBuf> {
    Some(project()?.config_dir().join("config.toml"))
}

/// Logs and decisions: `$XDG_STATE_HOME/sec` (the local data dir where there is no state dir).
pub fn state_dir() -> Option<PathBuf> {
    let dirs = project()?;
    Some(
        dirs.state_dir()
            .unwrap_or(dirs.data_local_dir())
            .to_path_buf(),
    )
}

/// The daemon's log, when it runs in the background.
pub fn daemon_log() -> Option<PathBuf> {
    Some(state_dir()?.join("secd.log"))
}

/// The audit log the daemon writes and `sec log` reads.
pub fn audit_log() -> Option<PathBuf> {
    Some(state_dir()?.join("audit.jsonl"))
}

/// How many older generations of a log are kept: `NAME.1` (newest) to `NAME.4`.
pub const LOG_GENERATIONS: usize = 4;

/// Where a full log's generation `n` lives: `NAME.n` (1 is the newest).
pub fn rotated(log: &Path, n: usize) -> PathBuf {
    let mut old = log.as_os_str().to_owned();
    old.push(format!(".{n}"));
    PathBuf::from(old)
}

/// A log's files, oldest first, the current one last.
pub fn generations(log: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = (1..=LOG_GENERATIONS)
        .rev()
        .map(|n| rotated(log, n))
        .collect();
    files.push(log.to_path_buf());
    files
}

/// The local vault: `$XDG_DATA_HOME/sec/vault.age`.
pub fn local_vault() -> Option<PathBuf> {
    Some(project()?.data_dir().join("vault.age"))
}

/// Whether `name` can be a lease file's name: one path component, not `.` or `..`.
pub fn valid_file_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains('/') && !name.contains('\0')
}

/// Symlinks resolved when the path exists; otherwise `.` and `..` folded lexically, so a scope
/// for a directory that does not exist yet still matches once it does (after a reload).
pub fn canonical_or_normal(path: &Path) -> PathBuf {
    if let Ok(real) = std::fs::canonicalize(path) {
        return real;
    }
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_sit_in_the_users_directories() {
        assert!(config_file().unwrap().ends_with("sec/config.toml"));
        assert!(local_vault().unwrap().ends_with("sec/vault.age"));
        assert!(audit_log().unwrap().ends_with("sec/audit.jsonl"));
        assert_eq!(
            rotated(Path::new("/s/audit.jsonl"), 1),
            Path::new("/s/audit.jsonl.1")
        );
    }
}
