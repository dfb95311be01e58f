//! secd's state files (the approvals, the last good config; the audit log and the local
//! vault use the same rules): never read or written through a symbolic link at their path
//! (see `sec_proto::nofollow`), and replaced whole: a private (0600) temporary file beside
//! it, fsynced, renamed over it. A crash leaves the old or the new file.

use std::ffi::OsStr;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

pub use sec_proto::nofollow::read_to_string;

/// Replaces the file at `path` with `bytes`. A symbolic link there is refused, not replaced:
/// the rename would not follow it, but would silently undo what was put there.
pub fn replace(path: &Path, bytes: &[u8]) -> io::Result<()> {
    sec_proto::nofollow::refuse_link(path)?;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp = TempFile::new_in(dir, OsStr::new(".tmp"))?;
    tmp.file().write_all(bytes)?;
    tmp.file().sync_all()?;
    tmp.persist(path)
}

/// A new private (0600) file with a random name in a directory, removed again unless it is
/// renamed into place with [`TempFile::persist`].
pub struct TempFile {
    path: PathBuf,
    file: File,
    persisted: bool,
}

impl TempFile {
    /// `DIR/PREFIX` followed by random hex digits and `.tmp`. Created exclusively: a name
    /// that exists (a file, a planted link) is never opened, the next name is tried.
    pub fn new_in(dir: &Path, prefix: &OsStr) -> io::Result<TempFile> {
        for _ in 0..16 {
            // Random hex digits, as lease ids are made.
            let mut name = prefix.to_os_string();
            name.push(&uuid::Uuid::new_v4().simple().to_string()[..16]);
            name.push(".tmp");
            let path = dir.join(name);
            let mut options = OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            match options.open(&path) {
                Ok(file) => {
                    return Ok(TempFile {
                        path,
                        file,
                        persisted: false,
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "no free name for a temporary file",
        ))
    }

    pub fn file(&mut self) -> &mut File {
        &mut self.file
    }

    /// Renames the file over `destination` (atomically, on one file system).
    pub fn persist(mut self, destination: &Path) -> io::Result<()> {
        std::fs::rename(&self.path, destination)?;
        self.persisted = true;
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.persisted {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn replaces_a_file_and_refuses_a_link() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("state/trust.json");
        replace(&path, b"one").unwrap();
        replace(&path, b"two").unwrap();
        assert_eq!(read_to_string(&path).unwrap(), "two");

        let target = tmp.path().join("bashrc");
        std::fs::write(&target, "keep").unwrap();
        let link = tmp.path().join("state/config.last-good.toml");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let err = replace(&link, b"new").unwrap_err();
        assert!(sec_proto::nofollow::is_link_refused(&err), "{err}");
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep");
        // No temporary file is left behind, after success or failure.
        let names: Vec<_> = std::fs::read_dir(tmp.path().join("state"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
    }

    #[test]
    fn a_temporary_file_is_private_exclusive_and_gone_unless_persisted() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let mut file = TempFile::new_in(tmp.path(), OsStr::new(".x.")).unwrap();
        let path = file.path.clone();
        assert!(
            path.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with(".x.")
        );
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        file.file().write_all(b"data").unwrap();
        drop(file);
        assert!(!path.exists(), "an abandoned temporary file stayed");

        let file = TempFile::new_in(tmp.path(), OsStr::new(".x.")).unwrap();
        let destination = tmp.path().join("final");
        file.persist(&destination).unwrap();
        assert!(destination.exists());
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 1);
    }
}
