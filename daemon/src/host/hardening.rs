//! Process hardening, first thing at start: no core dumps and no debugger attach, so the
//! cache's plaintext cannot be read out of the daemon by another process of the same user.

/// Makes the process non-dumpable (which also refuses ptrace attach by same-uid processes)
/// and sets the core-file limit to zero. Failures are returned so `main` can refuse to run.
#[cfg(target_os = "linux")]
pub fn harden() -> Result<(), String> {
    use nix::sys::resource::{Resource, setrlimit};
    nix::sys::prctl::set_dumpable(false).map_err(|e| format!("prctl(PR_SET_DUMPABLE, 0): {e}"))?;
    setrlimit(Resource::RLIMIT_CORE, 0, 0)
        .map_err(|e| format!("setrlimit(RLIMIT_CORE, 0): {e}"))?;
    Ok(())
}

#[cfg(all(unix, not(target_os = "linux")))]
pub fn harden() -> Result<(), String> {
    use nix::sys::resource::{Resource, setrlimit};
    setrlimit(Resource::RLIMIT_CORE, 0, 0).map_err(|e| format!("setrlimit(RLIMIT_CORE, 0): {e}"))
}

#[cfg(not(unix))]
pub fn harden() -> Result<(), String> {
    Ok(())
}
