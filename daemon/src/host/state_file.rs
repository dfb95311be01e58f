//! secd's state files (the approvals, the last good config; the audit log and the local
//! vault use the same rules): never read or written through a symbolic link at their path
//! (see `sec_proto::nofollow`), and replaced whole: a private (0600) temporary file beside
//! it, fsynced, renamed over it. A crash leaves the old or the new file.

use std::io::Write;
use std::path::Path;

pub use sec_proto::nofollow::read_to_string;

/// Replaces the file at `path` with `bytes`. A symbolic link there is refused, not replaced:
/// the rename would not follow it, but would silently undo what was put there.
pub fn replace(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    sec_proto::nofollow::refuse_link(path)?;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
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
    }
}
