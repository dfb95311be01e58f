//! sec's own protection, from its first instruction of real work: not dumpable (no core
//! file, no ptrace attach and no `/proc/PID/mem` or `environ` for other processes of the
//! user), and, for a command that may see a secret or a passphrase, not traced already (an
//! attach made before it turned non-dumpable would persist).

use crate::report::Failure;

/// Makes this process non-dumpable; when `sees_secrets`, refuses to go on under a tracer.
pub fn protect(sees_secrets: bool) -> Result<(), Failure> {
    #[cfg(target_os = "linux")]
    {
        nix::sys::prctl::set_dumpable(false)
            .map_err(|e| Failure::new(format!("cannot make sec non-dumpable: {e}")))?;
        if sees_secrets && let Some((pid, name)) = tracer() {
            return Err(Failure::new(format!(
                "process {pid} ({name}) is tracing this sec, and sec does not handle secrets or passphrases under a tracer; run it without strace, gdb or the like (secd's log, SECD_LOG=debug, shows what it does)"
            )));
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = sees_secrets;
    Ok(())
}

/// The process tracing this one, with its name, if any.
#[cfg(target_os = "linux")]
fn tracer() -> Option<(i32, String)> {
    // One read: /proc files report no size, so `read_to_string` would grow its buffer from
    // 32 bytes in eight reads (this runs at every `sec exec`).
    let mut status = String::with_capacity(4096);
    std::io::Read::read_to_string(
        &mut std::fs::File::open("/proc/self/status").ok()?,
        &mut status,
    )
    .ok()?;
    let pid: i32 = status
        .lines()
        .find_map(|l| l.strip_prefix("TracerPid:"))?
        .trim()
        .parse()
        .ok()?;
    (pid != 0).then(|| {
        let name = std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .map(|n| n.trim().to_string())
            .unwrap_or_else(|_| "unknown".into());
        (pid, name)
    })
}
