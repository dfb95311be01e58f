//! The processes that hold a lease's secrets: the child `sec exec` started, everything it
//! started in turn (by parent pid, while the chain lasts), and every process whose
//! environment carries the lease's marker `SEC_LEASE=ID` (which `sec exec` sets for the
//! child, and which its descendants inherit even after they reparent). Revoking a lease
//! ends all of them, also after the `sec` that held the lease is gone.
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

fn carries_marker(pid: i32, marker: &[u8]) -> bool {
    std::fs::read(format!("/proc/{pid}/environ"))
        .is_ok_and(|env| env.split(|&b| b == 0).any(|entry| entry == marker))
}

/// The live processes of lease `id` whose child is `child` (0: not reported yet).
pub fn find(id: &str, child: u32) -> Vec<Proc> {
    let me = std::process::id() as i32;
    let marker = format!("{MARKER}={id}").into_bytes();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut parents: HashMap<i32, i32> = HashMap::new();
    let mut starts: HashMap<i32, u64> = HashMap::new();
    let mut found: HashSet<i32> = HashSet::new();
    for pid in entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| *pid != me)
    {
        let Some((ppid, start)) = stat(pid) else {
            continue;
        };
        parents.insert(pid, ppid);
        starts.insert(pid, start);
        if pid == child as i32 || carries_marker(pid, &marker) {
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
        .collect();
    procs.sort_by_key(|p| p.pid);
    procs
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
        let procs = loop {
            let procs = find(&id, child.id());
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
