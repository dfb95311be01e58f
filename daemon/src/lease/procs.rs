//! The processes that hold a lease's secrets: the child `sec exec` started, everything it
//! started in turn (by parent pid; `sec` is a child subreaper, so a process that leaves
//! the child's tree with `setsid` and a double fork stays below `sec` while it runs), and
//! every process whose environment carries the lease's marker `SEC_LEASE=ID`. secd samples
//! the tree while `sec` lives and remembers what it saw, so a process that also cleared its
//! environment is still known after `sec` is gone. Revoking a lease ends all of them.
//!
//! A process is remembered with its start time, so a pid the kernel hands to another
//! process meanwhile is never signalled.

use std::collections::{HashMap, HashSet};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use sec_proto::LEASE_MARKER as MARKER;

/// One process: its pid and its start time (clock ticks after boot).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Proc {
    pub pid: i32,
    start: u64,
}

impl Proc {
    /// The process `pid` as it runs now.
    pub fn of(pid: i32) -> Option<Proc> {
        stat(pid).map(|(_, start)| Proc { pid, start })
    }

    /// Whether this process still runs (and is the one remembered).
    pub fn alive(&self) -> bool {
        stat(self.pid).is_some_and(|(_, start)| start == self.start)
    }
}

/// `ppid` and start time from `/proc/PID/stat`.
fn stat(pid: i32) -> Option<(i32, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields start after the last `)`.
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // fields[0] is the state (field 3); ppid is field 4, starttime field 22.
    if matches!(fields.first(), Some(&"Z") | Some(&"X")) {
        return None;
    }
    Some((fields.get(1)?.parse().ok()?, fields.get(19)?.parse().ok()?))
}

/// The parent of `pid` (`None` for init, the kernel's threads, or a process that is gone).
pub fn parent(pid: i32) -> Option<i32> {
    stat(pid).map(|(ppid, _)| ppid).filter(|p| *p > 1)
}

/// The argv of `pid`, as `/proc/PID/cmdline` gives it (empty when it is gone).
pub fn cmdline(pid: i32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|bytes| {
            bytes
                .split(|b| *b == 0)
                .filter(|w| !w.is_empty())
                .map(|w| String::from_utf8_lossy(w).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn carries_marker(pid: i32, marker: &[u8]) -> bool {
    std::fs::read(format!("/proc/{pid}/environ"))
        .is_ok_and(|env| env.split(|&b| b == 0).any(|entry| entry == marker))
}

/// The live processes of lease `id`: those in `roots` that still run, their descendants,
/// and, with `by_marker`, every process carrying the lease's marker (reading each one's
/// environment; the periodic samples leave that out). Roots in `exclude` (the holder) are
/// not part of the result, their descendants are.
///
/// `since` is the lease's first process (its holder): everything else of the lease started
/// after it, so only processes started since are looked at, and while pids have not wrapped
/// around since it, only pids from its on (a look costs a read per process: at a lease's
/// end this is what keeps it from reading every process of the machine).
pub fn find(
    id: &str,
    roots: &[Proc],
    exclude: Option<Proc>,
    by_marker: bool,
    since: Option<Proc>,
) -> Vec<Proc> {
    let me = std::process::id() as i32;
    let marker = format!("{MARKER}={id}").into_bytes();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let newer = newer_pids(since);
    let candidate = |pid: i32| {
        newer.is_none_or(|(first, last)| (first..=last).contains(&pid))
            || roots.iter().any(|r| r.pid == pid)
    };
    let mut parents: HashMap<i32, i32> = HashMap::new();
    let mut starts: HashMap<i32, u64> = HashMap::new();
    let mut found: HashSet<i32> = HashSet::new();
    for pid in entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| *pid != me && candidate(*pid))
    {
        let Some((ppid, start)) = stat(pid) else {
            continue;
        };
        if since.is_some_and(|first| start < first.start) {
            continue;
        }
        parents.insert(pid, ppid);
        starts.insert(pid, start);
        let root = roots.iter().any(|r| r.pid == pid && r.start == start);
        if root || (by_marker && carries_marker(pid, &marker)) {
            found.insert(pid);
        }
    }
    // Descendants of what was found, through the parent chain.
    loop {
        let more: Vec<i32> = parents
            .iter()
            .filter(|(pid, ppid)| found.contains(ppid) && !found.contains(pid))
            .map(|(pid, _)| *pid)
            .collect();
        if more.is_empty() {
            break;
        }
        found.extend(more);
    }
    let mut procs: Vec<Proc> = found
        .into_iter()
        .filter_map(|pid| {
            Some(Proc {
                pid,
                start: *starts.get(&pid)?,
            })
        })
        .filter(|p| Some(*p) != exclude)
        .collect();
    procs.sort_by_key(|p| p.pid);
    procs
}

/// The pids handed out since `first` was: `(first, last)`, or `None` to look at every pid
/// (no `first`, or the kernel's counter is below it: pids wrapped around since).
fn newer_pids(first: Option<Proc>) -> Option<(i32, i32)> {
    let first = first?.pid;
    let last: i32 = std::fs::read_to_string("/proc/sys/kernel/ns_last_pid")
        .ok()?
        .trim()
        .parse()
        .ok()?;
    (last >= first).then_some((first, last))
}

/// Sends `signal` to each process that is still the one remembered.
pub fn signal(procs: &[Proc], signal: Signal) {
    for p in procs {
        if stat(p.pid).is_some_and(|(_, start)| start == p.start) {
            let _ = kill(Pid::from_raw(p.pid), signal);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn finds_the_child_its_descendants_and_marked_processes_only() {
        let id = format!("test-{}", std::process::id());
        let mut child = Command::new("sh")
            .args(["-c", "sleep 30 & sleep 30; wait"])
            .spawn()
            .unwrap();
        let mut marked = Command::new("sleep")
            .arg("30")
            .env(MARKER, &id)
            .spawn()
            .unwrap();
        let mut other = Command::new("sleep").arg("30").spawn().unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let root = Proc::of(child.id() as i32).unwrap();
        let procs = loop {
            let procs = find(&id, &[root], None, true, Some(root));
            if procs.len() >= 4 || std::time::Instant::now() > deadline {
                break procs;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        let pids: Vec<i32> = procs.iter().map(|p| p.pid).collect();
        assert!(pids.contains(&(child.id() as i32)));
        assert!(pids.contains(&(marked.id() as i32)));
        assert!(!pids.contains(&(other.id() as i32)));
        assert_eq!(
            pids.len(),
            4,
            "sh, its two sleeps, the marked sleep: {pids:?}"
        );
        signal(&procs, Signal::SIGKILL);
        let _ = child.wait();
        let _ = marked.wait();
        let _ = other.kill();
        let _ = other.wait();
    }
}
