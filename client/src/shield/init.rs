//! The shield's processes:
//!
//! ```text
//! sec (new user, PID, IPC namespaces: it waits, forwards signals, mirrors the exit)
//!  └── init (PID 1 of the new PID namespace: its own mount namespace, builds the root, reaps)
//!        └── the command (a nested user and mount namespace, Landlock, seccomp)
//! ```
//!
//! Init exists because only the first process of a PID namespace can mount its `/proc`, and
//! because when it exits the kernel kills every process left in the namespace: nothing the
//! command started (`setsid cmd &`) outlives the shield. It is std's child of `sec`: a step
//! that fails while building the root is returned from `pre_exec`, so `spawn` reports it.
//! It never execs; the command does. PID 1 ignores the signals it has no handler for, so
//! init passes on those that other processes send (sec's forwarder among them); those the
//! terminal sends to the whole foreground group reach the command directly and are not
//! passed on twice. PID 1 cannot die by a signal either, so it writes the command's wait
//! status to a pipe for `sec`, which leaves the same way.
//!
//! Everything here runs between fork and exec and is async-signal-safe: raw system calls
//! only, which is why this module may use `unsafe`.

#![allow(unsafe_code)]

use std::ffi::c_int;
use std::sync::atomic::{AtomicI32, Ordering};

use nix::errno::Errno;

use super::sandbox::{self, Plan, Step, StepError, fail};

/// Where init's signal handlers pass signals on to: the command.
static FORWARD_TO: AtomicI32 = AtomicI32::new(0);

/// Signals other processes send that init passes on.
const FORWARDED: [c_int; 6] = [
    libc::SIGTERM,
    libc::SIGINT,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
];

/// The message init writes to `plan.status_fd` when the command ends: its wait status.
pub const STATUS_LEN: usize = 4;

/// Runs in the child std forked (PID 1 of the new namespace): builds the root, forks the
/// command's process and returns only there (Ok: std goes on to exec); an error while
/// building is returned for std to report. Init itself never returns.
pub fn enter(plan: &mut Plan) -> Result<(), StepError> {
    // When sec dies, so does the shield. Init holds the power over the mounts: neither
    // tracing nor reading its memory is open to the command.
    set_death_signal();
    set_dumpable(false);
    // What sec's runtime may have installed; init reaps with waitpid itself.
    // SAFETY: resetting a disposition to the default.
    unsafe { libc::signal(libc::SIGCHLD, libc::SIG_DFL) };
    sandbox::build_root(plan)?;
    let command = match fork().map_err(fail(Step::Fork, 0))? {
        0 => return confine(plan),
        pid => pid,
    };
    forward_signals_to(command);
    // std's error pipe must close everywhere but in the command, so that `spawn` in sec
    // returns once the command runs.
    close_all_but(plan.status_fd);
    let status = loop {
        let mut status: c_int = 0;
        // SAFETY: waitpid with a valid pointer to a local.
        let pid = unsafe { libc::waitpid(-1, &mut status, 0) };
        if pid == command {
            break status;
        }
        if pid < 0 && Errno::last() != Errno::EINTR {
            break 0;
        }
    };
    // A pipe write of 4 bytes is atomic; if it fails, sec sees end-of-file and falls back
    // to init's own exit.
    let _ = nix::unistd::write(
        // SAFETY: the descriptor stays open until init exits.
        unsafe { std::os::fd::BorrowedFd::borrow_raw(plan.status_fd) },
        &status.to_ne_bytes(),
    );
    // Init's exit makes the kernel kill what is left in the namespace.
    exit(0)
}

/// The command's process: back to default signal handling, then its own confinement.
fn confine(plan: &mut Plan) -> Result<(), StepError> {
    set_death_signal();
    for signal in FORWARDED {
        // SAFETY: resetting a disposition to the default.
        unsafe { libc::signal(signal, libc::SIG_DFL) };
    }
    // To write its nested uid_map (exec would make it dumpable anyway).
    set_dumpable(true);
    sandbox::confine_command(plan)
}

extern "C" fn forward(signal: c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo to an SA_SIGINFO handler.
    let code = unsafe { (*info).si_code };
    // Sent by a process (SI_USER, SI_QUEUE, SI_TKILL are <= 0), not by the terminal to the
    // whole group, which the command got itself.
    let target = FORWARD_TO.load(Ordering::SeqCst);
    if code <= 0 && target > 0 {
        // SAFETY: kill is async-signal-safe.
        unsafe { libc::kill(target, signal) };
    }
}

/// From now on, SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 that another process
/// sends to this one go on to `pid`. Plain handlers, no thread: `sec` uses this too, after
/// entering a new PID namespace, where it can start no thread.
pub fn forward_signals_to(pid: i32) {
    FORWARD_TO.store(pid, Ordering::SeqCst);
    install_forwarding();
}

fn install_forwarding() {
    for signal in FORWARDED {
        // SAFETY: installing a handler that only loads an atomic and calls kill.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = forward as *const () as usize;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut());
        }
    }
}

fn set_dumpable(dumpable: bool) {
    // SAFETY: prctl with integer arguments.
    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, libc::c_ulong::from(dumpable)) };
}

fn set_death_signal() {
    // SAFETY: prctl with integer arguments.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
}

fn fork() -> nix::Result<i32> {
    // SAFETY: the caller is the single thread of a freshly forked child; the new process
    // only makes async-signal-safe calls until it execs or exits.
    Errno::result(unsafe { libc::fork() })
}

fn exit(code: c_int) -> ! {
    // SAFETY: _exit ends the process without running anything of the parent's copy.
    unsafe { libc::_exit(code) }
}

/// Closes every descriptor from 3 up but `keep`.
fn close_all_but(keep: c_int) {
    let keep = keep as libc::c_uint;
    // SAFETY: closing descriptors this process does not use any more.
    unsafe {
        if keep > 3 {
            libc::close_range(3, keep - 1, 0);
        }
        libc::close_range(keep + 1, libc::c_uint::MAX, 0);
    }
}
