//! The shield's processes, all made between fork and exec of the one child `sec` spawns:
//!
//! ```text
//! sec ── supervisor (new user, mount, PID namespaces; outside the new PID namespace)
//!          └── init (PID 1 of the new PID namespace: builds the root, reaps)
//!                └── the command (its own nested user and mount namespace)
//! ```
//!
//! The supervisor is what `sec` waits for: it exits as the command did (the same code, or
//! the same signal). Init exists because only the first process of a PID namespace can
//! mount its `/proc`, and because when it exits the kernel kills every process left in the
//! namespace: nothing the command started (`setsid cmd &`) outlives the shield. Signals that
//! other processes send to `sec` travel down the chain; those the terminal sends to the
//! whole foreground group reach the command directly and are not passed on twice.
//!
//! Init tells the supervisor through a pipe whether the root was built (or which step
//! failed, which the supervisor returns to std as the spawn error) and, at the end, the
//! command's wait status. Everything here is async-signal-safe: raw system calls only,
//! which is why this module may use `unsafe`.

#![allow(unsafe_code)]

use std::ffi::c_int;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicI32, Ordering};

use nix::errno::Errno;

use super::sandbox::{self, Plan, Step, StepError, fail};

/// Where the signal handlers of this process pass signals on to.
static FORWARD_TO: AtomicI32 = AtomicI32::new(0);

/// Signals other processes send that the chain passes on.
const FORWARDED: [c_int; 6] = [
    libc::SIGTERM,
    libc::SIGINT,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
];

/// Init's messages to the supervisor: a kind and a value, 8 bytes.
const READY: u32 = 0;
const SETUP_FAILED: u32 = 1;
const EXITED: u32 = 2;

/// Runs in the child std forked: returns only in the command's process (Ok: std goes on to
/// exec) or in the supervisor when the root could not be built (Err: std reports it).
pub fn enter(plan: &mut Plan) -> Result<(), StepError> {
    // When sec dies, so does the shield.
    set_death_signal();
    sandbox::unshare_namespaces(plan)?;
    // Neither the supervisor nor init may be traced or have its memory read by the command
    // (init holds the power over the mounts). Only now: a non-dumpable process cannot write
    // its own uid_map unless it is root.
    set_dumpable(false);
    let (from_init, to_supervisor) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(fail(Step::Fork, 0))?;
    match fork().map_err(fail(Step::Fork, 0))? {
        0 => {
            drop(from_init);
            init(plan, to_supervisor)
        }
        init_pid => {
            drop(to_supervisor);
            supervise(init_pid, from_init)
        }
    }
}

/// The supervisor: waits for init's word, then for the command's end, and mirrors it.
fn supervise(init_pid: i32, from_init: OwnedFd) -> Result<(), StepError> {
    FORWARD_TO.store(init_pid, Ordering::SeqCst);
    install_forwarding();
    match read_message(&from_init) {
        Some((READY, _)) => {}
        Some((SETUP_FAILED, raw)) => {
            wait_for(init_pid);
            return Err(
                StepError::from_raw(raw).unwrap_or_else(|| fail(Step::Supervisor, 0)(Errno::EIO))
            );
        }
        _ => {
            wait_for(init_pid);
            return Err(fail(Step::Supervisor, 0)(Errno::EIO));
        }
    }
    // From here on std's error pipe must close everywhere but in the command, so that
    // `spawn` in sec returns once the command runs.
    close_all_but(from_init.as_raw_fd());
    let status = match read_message(&from_init) {
        Some((EXITED, status)) => {
            wait_for(init_pid);
            status
        }
        _ => wait_for(init_pid),
    };
    mirror(status)
}

/// Init: builds the root, starts the command, reaps until the command ends, reports. Returns
/// only in the command's process.
fn init(plan: &mut Plan, to_supervisor: OwnedFd) -> Result<(), StepError> {
    set_death_signal();
    // What sec's runtime may have installed; init reaps with waitpid itself.
    // SAFETY: resetting a disposition to the default.
    unsafe { libc::signal(libc::SIGCHLD, libc::SIG_DFL) };
    if let Err(error) = sandbox::build_root(plan) {
        write_message(&to_supervisor, SETUP_FAILED, error.raw());
        exit(1);
    }
    let command = match fork() {
        Ok(0) => {
            drop(to_supervisor);
            return command(plan);
        }
        Ok(pid) => pid,
        Err(errno) => {
            write_message(
                &to_supervisor,
                SETUP_FAILED,
                fail(Step::Fork, 1)(errno).raw(),
            );
            exit(1);
        }
    };
    FORWARD_TO.store(command, Ordering::SeqCst);
    install_forwarding();
    write_message(&to_supervisor, READY, 0);
    close_all_but(to_supervisor.as_raw_fd());
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
    write_message(&to_supervisor, EXITED, status);
    // Init's exit makes the kernel kill what is left in the namespace.
    exit(0)
}

/// The command's process: back to default signal handling, then its own confinement.
fn command(plan: &mut Plan) -> Result<(), StepError> {
    set_death_signal();
    // To write its nested uid_map (exec would make it dumpable anyway).
    set_dumpable(true);
    for signal in FORWARDED {
        // SAFETY: resetting a disposition to the default.
        unsafe { libc::signal(signal, libc::SIG_DFL) };
    }
    sandbox::confine_command(plan)
}

/// Leaves as the command did: its exit code, or death by its signal.
fn mirror(status: c_int) -> ! {
    if libc::WIFSIGNALED(status) {
        let signal = libc::WTERMSIG(status);
        let no_core = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: plain system calls on locals; a signal is raised on this process only.
        unsafe {
            libc::setrlimit(libc::RLIMIT_CORE, &no_core);
            libc::signal(signal, libc::SIG_DFL);
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, signal);
            libc::sigprocmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
            libc::kill(libc::getpid(), signal);
        }
        exit(128 + signal);
    }
    exit(if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        1
    })
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
fn close_all_but(keep: RawFd) {
    let keep = keep as libc::c_uint;
    // SAFETY: closing descriptors this process does not use any more.
    unsafe {
        if keep > 3 {
            libc::close_range(3, keep - 1, 0);
        }
        libc::close_range(keep + 1, libc::c_uint::MAX, 0);
    }
}

/// Waits for `pid` and returns its raw status.
fn wait_for(pid: i32) -> c_int {
    loop {
        let mut status: c_int = 0;
        // SAFETY: waitpid with a valid pointer to a local.
        let result = unsafe { libc::waitpid(pid, &mut status, 0) };
        if result == pid || (result < 0 && Errno::last() != Errno::EINTR) {
            return status;
        }
    }
}

fn write_message(fd: &OwnedFd, kind: u32, value: i32) {
    let mut message = [0u8; 8];
    message[..4].copy_from_slice(&kind.to_ne_bytes());
    message[4..].copy_from_slice(&value.to_ne_bytes());
    // A pipe write of 8 bytes is atomic; a failure leaves the supervisor with end-of-file,
    // which it treats as init gone.
    let _ = nix::unistd::write(fd, &message);
}

fn read_message(fd: &OwnedFd) -> Option<(u32, i32)> {
    let mut message = [0u8; 8];
    let mut filled = 0;
    while filled < message.len() {
        match nix::unistd::read(fd, &mut message[filled..]) {
            Ok(0) => return None,
            Ok(n) => filled += n,
            Err(Errno::EINTR) => {}
            Err(_) => return None,
        }
    }
    let [k0, k1, k2, k3, v0, v1, v2, v3] = message;
    Some((
        u32::from_ne_bytes([k0, k1, k2, k3]),
        i32::from_ne_bytes([v0, v1, v2, v3]),
    ))
}
