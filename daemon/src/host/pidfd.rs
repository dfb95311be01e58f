//! Waiting for a process to end without polling: a pidfd (Linux 5.3+) becomes readable when
//! its process exits. secd follows a lease's holder this way, so a command that replaced
//! `sec` (`sec exec`'s lean path) has its lease, files and broker end the moment it exits.

/// Resolves when process `pid` has exited (at once if it does not exist); never where the
/// kernel has no pidfd, or for `None`: the caller's periodic look still sees the end.
pub async fn exited(pid: Option<i32>) {
    #[cfg(target_os = "linux")]
    match pid.map(open) {
        Some(Opened::Fd(fd)) => {
            if let Some(fd) = register(fd) {
                let _ = fd.readable().await;
                return;
            }
        }
        Some(Opened::NoSuchProcess) => return,
        Some(Opened::Unavailable) | None => {}
    }
    #[cfg(not(target_os = "linux"))]
    let _ = pid;
    std::future::pending::<()>().await
}

/// What `pidfd_open` gave.
#[cfg(target_os = "linux")]
enum Opened {
    Fd(std::os::fd::OwnedFd),
    NoSuchProcess,
    /// An older kernel, or no descriptor left: the caller's samples do the work.
    Unavailable,
}

/// `pidfd_open(pid, 0)`.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn open(pid: i32) -> Opened {
    use std::os::fd::FromRawFd;
    if pid <= 0 {
        return Opened::Unavailable;
    }
    // SAFETY: a plain system call with integer arguments; on success it returns a new
    // descriptor that nothing else owns.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return match std::io::Error::last_os_error().raw_os_error() {
            Some(libc::ESRCH) => Opened::NoSuchProcess,
            _ => Opened::Unavailable,
        };
    }
    // SAFETY: `fd` was just created for this process and is owned here alone.
    Opened::Fd(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as i32) })
}

/// The pidfd in the runtime's reactor.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn register(fd: std::os::fd::OwnedFd) -> Option<tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>> {
    // SAFETY: the AsyncFd owns the OwnedFd, which stays open and the same descriptor until
    // the AsyncFd drops it.
    unsafe { tokio::io::unix::AsyncFd::register(fd) }.ok()
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[tokio::test]
    async fn resolves_when_the_process_exits_and_not_before() {
        let mut child = std::process::Command::new("sleep")
            .arg("0.3")
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        let started = std::time::Instant::now();
        let waiting = tokio::spawn(exited(Some(pid)));
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        assert!(!waiting.is_finished(), "resolved while the process ran");
        // Reaped by `wait` on a thread, as secd never reaps its leases' processes: the
        // pidfd says "exited" for a zombie too.
        std::thread::spawn(move || child.wait());
        tokio::time::timeout(std::time::Duration::from_secs(5), waiting)
            .await
            .expect("did not resolve after the process exited")
            .unwrap();
        assert!(started.elapsed() >= std::time::Duration::from_millis(250));
    }

    #[tokio::test]
    async fn a_process_that_does_not_exist_has_exited() {
        tokio::time::timeout(std::time::Duration::from_secs(1), exited(Some(i32::MAX)))
            .await
            .expect("a missing process counts as exited");
    }
}
