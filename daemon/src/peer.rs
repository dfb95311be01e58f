//! What the kernel says about a caller: its working directory and executable, read through
//! `/proc/PID` from the pid that SO_PEERCRED reported for the connection.

use std::path::{Path, PathBuf};

use crate::config::canonical_or_normal;

/// The caller's working directory: the kernel's view when it can be read (Linux), else the
/// directory the client reported (made canonical). A client cannot claim another directory
/// where the kernel can be asked.
pub fn caller_cwd(pid: Option<i32>, reported: &str) -> Option<PathBuf> {
    if let Some(pid) = pid
        && let Ok(cwd) = std::fs::read_link(format!("/proc/{pid}/cwd"))
    {
        return Some(cwd);
    }
    let reported = Path::new(reported);
    reported
        .is_absolute()
        .then(|| canonical_or_normal(reported))
}

/// The caller's executable, for the daemon's log.
pub fn caller_exe(pid: Option<i32>) -> Option<PathBuf> {
    std::fs::read_link(format!("/proc/{}/exe", pid?)).ok()
}
