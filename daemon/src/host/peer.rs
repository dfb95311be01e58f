//! What the kernel says about a caller: its working directory (the directory handle the
//! client passed at connect, named by the kernel, see `sec_proto::caller_dir`) and its
//! executable (`/proc/PID/exe` from the pid SO_PEERCRED reported).

use std::path::PathBuf;

use sec_proto::socket::Peer;

/// The caller's working directory as the kernel names it. Never the directory a client
/// claims: without a handle there is no directory (except on systems without descriptor
/// passing, where the claim is all there is).
pub fn caller_cwd(peer: &Peer, _reported: &str) -> Option<PathBuf> {
    #[cfg(unix)]
    return peer.cwd.clone();
    #[cfg(not(unix))]
    {
        let reported = std::path::Path::new(_reported);
        reported
            .is_absolute()
            .then(|| crate::config::canonical_or_normal(reported))
    }
}

/// The caller's executable, for the daemon's log.
pub fn caller_exe(pid: Option<i32>) -> Option<PathBuf> {
    std::fs::read_link(format!("/proc/{}/exe", pid?)).ok()
}
