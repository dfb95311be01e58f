//! Secrets delivered as files: for a variable with `as = "file"`, secd writes the value to
//! `RUNTIME/files/LEASE/NAME` (directory 0700, file 0600, created exclusively) and the
//! variable holds the path. The lease's directory is removed when the lease ends: the
//! child exits (the stream closes), the lease is revoked or expires, or `sec` is killed
//! (its stream closes too). Whatever a crash leaves behind is removed at the next start.
//!
//! The runtime directory is `$XDG_RUNTIME_DIR/sec`, a tmpfs on systemd machines, so the
//! files normally never reach a disk.

use std::io::Write;
use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretString};

pub struct LeaseFiles {
    root: PathBuf,
}

/// A variable to deliver as a file.
pub struct FileVar<'a> {
    pub var: &'a str,
    pub file_name: &'a str,
    pub value: &'a SecretString,
}

impl LeaseFiles {
    /// Files live under `runtime_dir/files`.
    pub fn new(runtime_dir: &Path) -> Self {
        Self {
            root: runtime_dir.join("files"),
        }
    }

    /// The runtime directory the lease files live in (other per-lease sockets go there too).
    pub fn runtime_dir(&self) -> &Path {
        self.root.parent().unwrap_or(&self.root)
    }

    /// Where the files of `lease` are (whether it has any or not).
    pub fn lease_dir(&self, lease: &str) -> PathBuf {
        self.root.join(lease)
    }

    /// Writes the files of one lease; returns (variable, path) pairs. On failure nothing of
    /// this lease is left behind.
    pub fn create(
        &self,
        lease: &str,
        vars: &[FileVar<'_>],
    ) -> std::io::Result<Vec<(String, PathBuf)>> {
        let dir = self.lease_dir(lease);
        let written = self.write_all(&dir, vars);
        if written.is_err() {
            let _ = std::fs::remove_dir_all(&dir);
        }
        written
    }

    fn write_all(
        &self,
        dir: &Path,
        vars: &[FileVar<'_>],
    ) -> std::io::Result<Vec<(String, PathBuf)>> {
        private_dir(&self.root)?;
        private_dir(dir)?;
        let mut paths = Vec::with_capacity(vars.len());
        for var in vars {
            let path = dir.join(var.file_name);
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(&path)?;
            file.write_all(var.value.expose_secret().as_bytes())?;
            paths.push((var.var.to_string(), path));
        }
        Ok(paths)
    }

    /// Removes the files of a lease that ended (nothing to do if it had none).
    pub fn remove(&self, lease: &str) {
        let dir = self.lease_dir(lease);
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => tracing::info!(lease, "removed the lease's files"),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::error!(lease, "cannot remove {}: {e}", dir.display()),
        }
    }

    /// Removes every lease's files (at start, for leftovers of a crash, and at shutdown).
    pub fn remove_all(&self) {
        match std::fs::remove_dir_all(&self.root) {
            Ok(()) => tracing::info!("removed leftover secret files"),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::error!("cannot remove {}: {e}", self.root.display()),
        }
    }
}

fn private_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg_attr(not(unix), allow(unused_mut))]
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    match builder.create(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => Err(e),
        _ => Ok(()),
    }
}

/// Whether `name` can be a file name in a lease directory: one plain path component.
#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use sec_proto::config::valid_file_name;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn files_are_private_and_go_with_the_lease() {
        let tmp = tempfile::tempdir().unwrap();
        let files = LeaseFiles::new(tmp.path());
        let value = SecretString::from("machine x login y password z");
        let vars = [FileVar {
            var: "NETRC",
            file_name: ".netrc",
            value: &value,
        }];
        let made = files.create("lease1", &vars).unwrap();
        let (var, path) = &made[0];
        assert_eq!(var, "NETRC");
        assert_eq!(
            std::fs::read_to_string(path).unwrap(),
            "machine x login y password z"
        );
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        files.remove("lease1");
        assert!(!path.exists() && !path.parent().unwrap().exists());
    }

    #[test]
    fn a_failed_lease_leaves_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let files = LeaseFiles::new(tmp.path());
        let value = SecretString::from("v");
        // The same file name twice: the second exclusive create fails.
        let vars = [
            FileVar {
                var: "A",
                file_name: "f",
                value: &value,
            },
            FileVar {
                var: "B",
                file_name: "f",
                value: &value,
            },
        ];
        assert!(files.create("lease2", &vars).is_err());
        assert!(!tmp.path().join("files/lease2").exists());
    }

    #[test]
    fn file_names_are_single_components() {
        assert!(valid_file_name(".pypirc"));
        for bad in ["", ".", "..", "a/b", "/etc/passwd"] {
            assert!(!valid_file_name(bad), "{bad}");
        }
    }
}
