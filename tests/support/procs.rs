//! Looking at other processes through /proc.

use std::io;

/// Every pid currently in /proc.
fn all_pids() -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect()
}

/// The raw environment block of `pid` (NUL-separated `NAME=value` entries).
pub fn environ_of(pid: i32) -> io::Result<Vec<u8>> {
    std::fs::read(format!("/proc/{pid}/environ"))
}

/// Pids whose environment holds exactly the entry `entry` (`NAME=value`). Used to find
/// everything a world started, since every process of a world has its private
/// `XDG_RUNTIME_DIR`.
pub fn processes_with_env(entry: &str) -> Vec<i32> {
    let entry = entry.as_bytes();
    all_pids()
        .into_iter()
        .filter(|&pid| environ_of(pid).is_ok_and(|env| env.split(|&b| b == 0).any(|e| e == entry)))
        .collect()
}

/// `(pid, command line)` of every process whose command line contains `needle`, the
/// arguments joined with spaces.
pub fn find_in_cmdlines(needle: &str) -> Vec<(i32, String)> {
    all_pids()
        .into_iter()
        .filter_map(|pid| {
            let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let line = String::from_utf8_lossy(&raw).replace('\0', " ");
            line.contains(needle).then_some((pid, line))
        })
        .collect()
}

/// Pids whose environment contains `needle` anywhere.
pub fn find_in_environs(needle: &str) -> Vec<i32> {
    let needle = needle.as_bytes();
    all_pids()
        .into_iter()
        .filter(|&pid| {
            environ_of(pid).is_ok_and(|env| env.windows(needle.len()).any(|w| w == needle))
        })
        .collect()
}

/// The parent of `pid`, from /proc/PID/stat; `None` once the process is gone.
pub fn parent_pid(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "PID (COMM) STATE PPID ...": COMM may hold spaces and parentheses, so start after
    // the last ')'.
    let after_comm = &stat[stat.rfind(')')? + 1..];
    after_comm.split_whitespace().nth(1)?.parse().ok()
}

/// Whether `pid` is `ancestor` or one of its descendants (as far as /proc can still tell).
pub fn is_within(pid: i32, ancestor: i32) -> Option<bool> {
    let mut current = pid;
    loop {
        if current == ancestor {
            return Some(true);
        }
        if current <= 1 {
            return Some(false);
        }
        current = parent_pid(current)?;
    }
}

/// The executable of `pid`.
pub fn exe_of(pid: i32) -> Option<std::path::PathBuf> {
    std::fs::read_link(format!("/proc/{pid}/exe")).ok()
}

/// Starts `cmd` with stdout and stderr in `log` (truncated): a server fixture's child.
pub fn spawn_logged(mut cmd: std::process::Command, log: &std::path::Path) -> std::process::Child {
    let out = std::fs::File::create(log)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", log.display()));
    let err = out.try_clone().expect("cannot clone a log handle");
    cmd.stdout(out)
        .stderr(err)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start `{}`: {e}", crate::world::describe(&cmd)))
}

/// Stops a server fixture's child: `signal` (its own clean shutdown), SIGKILL if it is still
/// there after a few seconds; reaped either way.
pub fn stop_child(child: &mut std::process::Child, signal: nix::sys::signal::Signal) {
    use std::time::{Duration, Instant};
    // Only a child not yet reaped: its pid cannot belong to anyone else.
    if let Ok(None) = child.try_wait()
        && let Ok(pid) = i32::try_from(child.id())
    {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal);
    }
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(5) {
        if let Ok(Some(_)) | Err(_) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Waits until the server `child` wrote its port to `port_file` and accepts connections on
/// 127.0.0.1 there; panics with its log (`log`) if it exits first. `name` says which server.
pub fn wait_for_port(
    child: &mut std::process::Child,
    port_file: &std::path::Path,
    name: &str,
    log: impl Fn() -> String,
) -> u16 {
    crate::wait_until(&format!("{name} to write its port"), || {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{name} exited ({status}):\n{}", log());
        }
        port_file.is_file()
    });
    let port: u16 = std::fs::read_to_string(port_file)
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or_else(|| panic!("no port in {}", port_file.display()));
    crate::wait_until(&format!("{name} to accept connections"), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    port
}
