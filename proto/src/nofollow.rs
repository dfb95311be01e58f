//! Opening sec's own state files (logs, the audit log, approvals, the local vault) without
//! following a symbolic link at the last component. A link planted in their place (to
//! `~/.bashrc`, say) is refused with [`LinkRefused`], and its target is never read or
//! written. Links in the directories above are followed as usual: a state directory that is
//! itself a link (dotfiles, a synced folder) is the user's choice.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

/// A state file that turned out to be a symbolic link.
#[derive(Debug, thiserror::Error)]
#[error(
    "{} is a symbolic link, and sec never reads or writes its files through one (the link's target was left alone); put a regular file there: move the file it points to in its place, or remove the link to start a new one",
    path.display()
)]
pub struct LinkRefused {
    pub path: PathBuf,
}

/// The [`LinkRefused`] error as an `io::Error`, for callers that deal in those.
pub fn link_refused(path: &Path) -> io::Error {
    io::Error::other(LinkRefused {
        path: path.to_path_buf(),
    })
}

/// Whether `error` is a refused link (from this module).
pub fn is_link_refused(error: &io::Error) -> bool {
    error
        .get_ref()
        .is_some_and(|inner| inner.is::<LinkRefused>())
}

/// Opens `path` with `options`, refusing a symbolic link in its place (`O_NOFOLLOW`).
pub fn open(options: &mut OpenOptions, path: &Path) -> io::Result<File> {
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(options, nix::fcntl::OFlag::O_NOFOLLOW.bits());
    options.open(path).map_err(|e| {
        // ELOOP on Linux and macOS, EMLINK on FreeBSD: look instead of trusting the code.
        let is_link = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
        if is_link { link_refused(path) } else { e }
    })
}

/// Opens `path` for appending, with `mode` (Unix) whether it is created now or was left
/// more open by an older version; never through a link.
pub fn open_append(path: &Path, mode: u32) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    let file = open(&mut options, path)?;
    #[cfg(unix)]
    file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(mode))?;
    #[cfg(not(unix))]
    let _ = mode;
    Ok(file)
}

/// Reads the whole file; never through a link.
pub fn read(path: &Path) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    io::Read::read_to_end(&mut open(OpenOptions::new().read(true), path)?, &mut bytes)?;
    Ok(bytes)
}

/// Reads the whole file as UTF-8; never through a link.
pub fn read_to_string(path: &Path) -> io::Result<String> {
    let mut text = String::new();
    io::Read::read_to_string(&mut open(OpenOptions::new().read(true), path)?, &mut text)?;
    Ok(text)
}

/// Refuses when `path` is a symbolic link (before replacing it with a rename, which would
/// not follow it, but would silently drop the link the user put there).
pub fn refuse_link(path: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => Err(link_refused(path)),
        _ => Ok(()),
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn links_are_refused_and_their_targets_untouched() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("bashrc");
        std::fs::write(&target, "keep me\n").unwrap();
        let link = tmp.path().join("audit.jsonl");
        std::os::unix::fs::symlink(&target, &link).unwrap();

        for result in [
            open_append(&link, 0o600).map(drop),
            read(&link).map(drop),
            read_to_string(&link).map(drop),
            refuse_link(&link),
        ] {
            let err = result.unwrap_err();
            assert!(is_link_refused(&err), "{err}");
            assert!(err.to_string().contains("is a symbolic link"), "{err}");
        }
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me\n");

        let dangling = tmp.path().join("trust.json");
        std::os::unix::fs::symlink(tmp.path().join("nowhere"), &dangling).unwrap();
        assert!(is_link_refused(&open_append(&dangling, 0o600).unwrap_err()));
        assert!(
            !tmp.path().join("nowhere").exists(),
            "created through the link"
        );
    }

    #[test]
    fn regular_files_open_as_usual() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("log");
        std::fs::write(&path, "").unwrap();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o644))
            .unwrap();
        std::io::Write::write_all(&mut open_append(&path, 0o600).unwrap(), b"a\n").unwrap();
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&path).unwrap().permissions(),
        );
        assert_eq!(
            mode & 0o777,
            0o600,
            "an older, more open file is made private"
        );
        std::io::Write::write_all(&mut open_append(&path, 0o600).unwrap(), b"b\n").unwrap();
        assert_eq!(read_to_string(&path).unwrap(), "a\nb\n");
        assert!(refuse_link(&path).is_ok());
        assert!(refuse_link(&tmp.path().join("missing")).is_ok());
        let missing = read(&tmp.path().join("missing")).unwrap_err();
        assert_eq!(missing.kind(), io::ErrorKind::NotFound);
    }
}
