//! The sandbox of `sec shield`: between fork and exec the child enters new namespaces and
//! arranges its view of the system, then the command runs in it.
//!
//! The child's steps, in order:
//! 1. a new user namespace with a mount namespace (and, for `--no-network`, a network
//!    namespace), the user's uid and gid mapped to themselves, so nothing looks different;
//! 2. mounts stop propagating between the namespaces;
//! 3. $HOME bound read-only onto itself, then the writable paths (the project) bound
//!    read-write again;
//! 4. hidden directories covered by an empty tmpfs, hidden files and sockets by /dev/null;
//! 5. with `--no-network`, the loopback interface brought up;
//! 6. a second user namespace inside the first: the command holds no capability over the
//!    mounts and the network namespace, even as root, so it cannot unmount what hides;
//! 7. Landlock scopes where the kernel has them (6.12+): no connecting to abstract Unix
//!    sockets (a session bus, X11) and no signals to processes outside;
//! 8. a seccomp filter that refuses TIOCSTI and TIOCLINUX, so the command cannot type into
//!    the user's terminal;
//! 9. back into the working directory, now seen through the new mounts.
//!
//! Between fork and exec only async-signal-safe calls are allowed (the parent may have other
//! threads, one of which may hold the allocator's lock): everything is prepared here in the
//! parent as [`Plan`], and the child only makes system calls on it. A failing step reports
//! itself through the one number std passes back from the child, see [`StepError`].

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

use landlock::{CompatLevel, Compatible, Ruleset, RulesetAttr, RulesetCreated, Scope};
use nix::errno::Errno;
use nix::mount::{MsFlags, mount};
use nix::sched::{CloneFlags, unshare};
use nix::sys::socket::{
    AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType, recv, sendto, socket,
};
use nix::sys::statvfs::{FsFlags, statvfs};
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

use super::policy::Layout;

/// A path bound onto itself, and the flags of its remount.
struct Bind {
    path: CString,
    flags: MsFlags,
}

/// A path to cover, and whether it is a directory.
struct Cover {
    path: CString,
    dir: bool,
}

/// Everything the child needs, made before the fork.
pub struct Plan {
    no_network: bool,
    uid_map: Vec<u8>,
    gid_map: Vec<u8>,
    read_only: Option<Bind>,
    writable: Vec<Bind>,
    hidden: Vec<Cover>,
    cwd: CString,
    landlock: Option<RulesetCreated>,
    seccomp: BpfProgram,
}

/// The tmpfs that stands in for a hidden directory: empty, private, small.
const TMPFS_OPTIONS: &CStr = c"mode=0700,size=16m";

impl Plan {
    /// The plan for `layout`.
    pub fn new(layout: &Layout, no_network: bool) -> Result<Self, String> {
        let uid = nix::unistd::getuid().as_raw();
        let gid = nix::unistd::getgid().as_raw();
        let read_only = match &layout.read_only {
            Some(home) => Some(Bind {
                path: c_path(home)?,
                flags: kept_flags(home)? | MsFlags::MS_RDONLY,
            }),
            None => None,
        };
        let writable = layout
            .writable
            .iter()
            .map(|path| {
                Ok(Bind {
                    path: c_path(path)?,
                    flags: kept_flags(path)?,
                })
            })
            .collect::<Result<_, String>>()?;
        let hidden = layout
            .hidden
            .iter()
            .map(|h| {
                Ok(Cover {
                    path: c_path(&h.path)?,
                    dir: h.dir,
                })
            })
            .collect::<Result<_, String>>()?;
        Ok(Plan {
            no_network,
            uid_map: format!("{uid} {uid} 1\n").into_bytes(),
            gid_map: format!("{gid} {gid} 1\n").into_bytes(),
            read_only,
            writable,
            hidden,
            cwd: c_path(&layout.cwd)?,
            landlock: landlock_scopes(),
            seccomp: terminal_injection_filter()?,
        })
    }

    /// Whether the kernel scopes abstract Unix sockets and signals (Landlock ABI 6).
    pub fn has_landlock(&self) -> bool {
        self.landlock.is_some()
    }
}

fn c_path(path: &Path) -> Result<CString, String> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| format!("{} holds a NUL byte", path.display()))
}

/// The flags of the mount `path` lies on that a remount must keep: in a user namespace the
/// kernel refuses to clear nosuid, nodev or noexec, or read-only, inherited from outside.
fn kept_flags(path: &Path) -> Result<MsFlags, String> {
    let stat = statvfs(path).map_err(|e| format!("cannot inspect {}: {e}", path.display()))?;
    let mut flags = MsFlags::empty();
    for (fs, ms) in [
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_RDONLY, MsFlags::MS_RDONLY),
    ] {
        if stat.flags().contains(fs) {
            flags |= ms;
        }
    }
    Ok(flags)
}

/// A Landlock domain with only scopes: abstract Unix sockets and signals stay inside. `None`
/// where the kernel lacks them (before 6.12, or Landlock off).
fn landlock_scopes() -> Option<RulesetCreated> {
    Ruleset::default()
        .set_compatibility(CompatLevel::HardRequirement)
        .scope(Scope::AbstractUnixSocket | Scope::Signal)
        .ok()?
        .create()
        .ok()
}

/// seccomp: `ioctl(fd, TIOCSTI | TIOCLINUX, ...)` fails with EPERM, everything else passes.
/// The request is compared as 32 bits, as the kernel reads it, so high bits cannot slip by.
fn terminal_injection_filter() -> Result<BpfProgram, String> {
    let arch = TargetArch::try_from(std::env::consts::ARCH)
        .map_err(|e| format!("no seccomp support for this architecture: {e}"))?;
    let rule = |request: u64| {
        SeccompCondition::new(1, SeccompCmpArgLen::Dword, SeccompCmpOp::Eq, request)
            .and_then(|c| SeccompRule::new(vec![c]))
    };
    // The request type is `c_ulong` with glibc and `c_int` with musl.
    #[allow(clippy::unnecessary_cast)]
    let rules = || -> Result<Vec<SeccompRule>, seccompiler::BackendError> {
        Ok(vec![
            rule(libc::TIOCSTI as u64)?,
            rule(libc::TIOCLINUX as u64)?,
        ])
    };
    let mut syscalls = vec![(libc::SYS_ioctl, rules())];
    // x32 programs call ioctl by another number on the same architecture.
    #[cfg(target_arch = "x86_64")]
    syscalls.push((0x4000_0000 + 514, rules()));
    let syscalls = syscalls
        .into_iter()
        .map(|(nr, rules)| rules.map(|r| (nr, r)))
        .collect::<Result<_, _>>()
        .map_err(|e| format!("cannot build the seccomp filter: {e}"))?;
    let filter = SeccompFilter::new(
        syscalls,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM as u32),
        arch,
    )
    .map_err(|e| format!("cannot build the seccomp filter: {e}"))?;
    filter
        .try_into()
        .map_err(|e: seccompiler::BackendError| format!("cannot build the seccomp filter: {e}"))
}

/// Which step of the child failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    UserNamespace = 1,
    MapIds,
    Propagation,
    ReadOnlyHome,
    Writable,
    Hide,
    Loopback,
    NestedNamespace,
    NestedMapIds,
    Landlock,
    Seccomp,
    Chdir,
}

const STEPS: [Step; 12] = [
    Step::UserNamespace,
    Step::MapIds,
    Step::Propagation,
    Step::ReadOnlyHome,
    Step::Writable,
    Step::Hide,
    Step::Loopback,
    Step::NestedNamespace,
    Step::NestedMapIds,
    Step::Landlock,
    Step::Seccomp,
    Step::Chdir,
];

/// A failed step, with the index of the path it worked on and the kernel's errno.
///
/// std hands the parent only one `i32` from a failed `pre_exec`, the raw OS error: the step
/// rides in bits 20 and up, the index in bits 12..20, the errno (always below 4096) below.
/// A plain errno (an `execvp` failure) has no step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepError {
    pub step: Step,
    pub index: usize,
    pub errno: Errno,
}

impl StepError {
    fn encode(self) -> io::Error {
        let index = self.index.min(0xff) as i32;
        io::Error::from_raw_os_error(
            ((self.step as i32) << 20) | (index << 12) | (self.errno as i32 & 0xfff),
        )
    }

    /// The step error `error` carries, or `None` for an ordinary OS error.
    pub fn decode(error: &io::Error) -> Option<StepError> {
        let code = error.raw_os_error()?;
        let step = STEPS.get(usize::try_from(code >> 20).ok()?.checked_sub(1)?)?;
        Some(StepError {
            step: *step,
            index: ((code >> 12) & 0xff) as usize,
            errno: Errno::from_raw(code & 0xfff),
        })
    }
}

/// Spawns `command` inside the sandbox `plan` describes.
#[allow(unsafe_code)]
pub fn spawn(mut command: Command, mut plan: Plan) -> io::Result<Child> {
    // SAFETY: `pre_exec` runs the closure in the forked child, where only async-signal-safe
    // operations are sound. `enter` makes system calls on memory the parent prepared
    // (`Plan`: C strings, byte buffers, the BPF program, an open Landlock ruleset) and on
    // stack buffers; it does not allocate, lock, touch the environment, or panic (no
    // indexing that can fail, no unwrap). `Option::take` only moves within the child's copy.
    unsafe {
        command.pre_exec(move || enter(&mut plan).map_err(StepError::encode));
    }
    command.spawn()
}

/// The child's side: steps 1 to 9 of the module documentation.
fn enter(plan: &mut Plan) -> Result<(), StepError> {
    let fail = |step: Step, index: usize| move |errno: Errno| StepError { step, index, errno };
    let mut namespaces = CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNS;
    if plan.no_network {
        namespaces |= CloneFlags::CLONE_NEWNET;
    }
    unshare(namespaces).map_err(fail(Step::UserNamespace, 0))?;
    map_ids(plan, Step::MapIds)?;
    mount(
        None::<&CStr>,
        c"/",
        None::<&CStr>,
        MsFlags::MS_REC | MsFlags::MS_SLAVE,
        None::<&CStr>,
    )
    .map_err(fail(Step::Propagation, 0))?;
    if let Some(home) = &plan.read_only {
        bind(home).map_err(fail(Step::ReadOnlyHome, 0))?;
    }
    for (index, path) in plan.writable.iter().enumerate() {
        bind(path).map_err(fail(Step::Writable, index))?;
    }
    for (index, cover) in plan.hidden.iter().enumerate() {
        let covered = if cover.dir {
            mount(
                Some(c"tmpfs"),
                cover.path.as_c_str(),
                Some(c"tmpfs"),
                MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
                Some(TMPFS_OPTIONS),
            )
        } else {
            mount(
                Some(c"/dev/null"),
                cover.path.as_c_str(),
                None::<&CStr>,
                MsFlags::MS_BIND,
                None::<&CStr>,
            )
        };
        covered.map_err(fail(Step::Hide, index))?;
    }
    if plan.no_network {
        loopback_up().map_err(fail(Step::Loopback, 0))?;
    }
    unshare(CloneFlags::CLONE_NEWUSER).map_err(fail(Step::NestedNamespace, 0))?;
    map_ids(plan, Step::NestedMapIds)?;
    if let Some(ruleset) = plan.landlock.take() {
        ruleset
            .restrict_self()
            .map_err(|_| fail(Step::Landlock, 0)(Errno::last()))?;
    }
    seccompiler::apply_filter(&plan.seccomp).map_err(|e| {
        let errno = match e {
            seccompiler::Error::Prctl(e) | seccompiler::Error::Seccomp(e) => e.raw_os_error(),
            _ => None,
        };
        fail(Step::Seccomp, 0)(errno.map_or(Errno::EINVAL, Errno::from_raw))
    })?;
    nix::unistd::chdir(plan.cwd.as_c_str()).map_err(fail(Step::Chdir, 0))?;
    Ok(())
}

/// Maps the user's own uid and gid in the namespace just entered, the one mapping an
/// unprivileged process may write (with `setgroups` denied first).
fn map_ids(plan: &Plan, step: Step) -> Result<(), StepError> {
    let fail = |index: usize| move |errno: Errno| StepError { step, index, errno };
    match write_proc(c"/proc/self/setgroups", b"deny") {
        // Kernels before 3.19 have no such file and need no such step.
        Ok(()) | Err(Errno::ENOENT) => {}
        Err(errno) => return Err(fail(0)(errno)),
    }
    write_proc(c"/proc/self/uid_map", &plan.uid_map).map_err(fail(1))?;
    write_proc(c"/proc/self/gid_map", &plan.gid_map).map_err(fail(2))
}

fn write_proc(path: &CStr, data: &[u8]) -> nix::Result<()> {
    use nix::fcntl::{OFlag, open};
    use nix::sys::stat::Mode;
    let fd = open(path, OFlag::O_WRONLY | OFlag::O_CLOEXEC, Mode::empty())?;
    match nix::unistd::write(&fd, data)? {
        n if n == data.len() => Ok(()),
        _ => Err(Errno::EIO),
    }
}

/// Binds `bind.path` onto itself (with what is mounted below it) and remounts the new mount
/// with `bind.flags`, which decide read-only or read-write.
fn bind(bind: &Bind) -> nix::Result<()> {
    let path = bind.path.as_c_str();
    mount(
        Some(path),
        path,
        None::<&CStr>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&CStr>,
    )?;
    mount(
        None::<&CStr>,
        path,
        None::<&CStr>,
        MsFlags::MS_REMOUNT | MsFlags::MS_BIND | bind.flags,
        None::<&CStr>,
    )
}

/// `RTM_NEWLINK` for interface 1 (loopback is the first interface of every network
/// namespace) with IFF_UP set, asking for an acknowledgement: a `nlmsghdr` and an `ifinfomsg`.
const LOOPBACK_UP: [u8; 32] = {
    const RTM_NEWLINK: u16 = 16;
    const NLM_F_REQUEST_ACK: u16 = 0x1 | 0x4;
    const IFF_UP: u32 = 0x1;
    let mut message = [0u8; 32];
    let fields: [(usize, [u8; 4]); 6] = [
        (0, 32u32.to_ne_bytes()), // nlmsg_len
        (
            4,
            // nlmsg_type, nlmsg_flags
            (RTM_NEWLINK as u32 | ((NLM_F_REQUEST_ACK as u32) << 16)).to_ne_bytes(),
        ),
        (8, 1u32.to_ne_bytes()),    // nlmsg_seq
        (20, 1i32.to_ne_bytes()),   // ifi_index
        (24, IFF_UP.to_ne_bytes()), // ifi_flags
        (28, IFF_UP.to_ne_bytes()), // ifi_change
    ];
    let mut f = 0;
    while f < fields.len() {
        let (offset, bytes) = fields[f];
        let mut b = 0;
        while b < 4 {
            message[offset + b] = bytes[b];
            b += 1;
        }
        f += 1;
    }
    message
};

/// Brings the loopback interface up through rtnetlink (no allocation, no ioctl).
fn loopback_up() -> nix::Result<()> {
    const NLMSG_ERROR: u16 = 2;
    let socket = socket(
        AddressFamily::Netlink,
        SockType::Raw,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::NetlinkRoute,
    )?;
    let kernel = NetlinkAddr::new(0, 0);
    sendto(socket.as_raw_fd(), &LOOPBACK_UP, &kernel, MsgFlags::empty())?;
    let mut reply = [0u8; 64];
    let length = recv(socket.as_raw_fd(), &mut reply, MsgFlags::empty())?;
    // The acknowledgement: a header of type NLMSG_ERROR, then the error as a negative errno
    // (0: done).
    let [_, _, _, _, t0, t1, .., e0, e1, e2, e3] = match reply.first_chunk::<20>() {
        Some(head) if length >= 20 => *head,
        _ => return Err(Errno::EIO),
    };
    if u16::from_ne_bytes([t0, t1]) != NLMSG_ERROR {
        return Err(Errno::EIO);
    }
    match i32::from_ne_bytes([e0, e1, e2, e3]) {
        0 => Ok(()),
        error => Err(Errno::from_raw(error.saturating_neg())),
    }
}

/// The sentence for a failed step. `path` gives the path of the step's index.
pub fn explain(error: &StepError, path_of: impl Fn(Step, usize) -> Option<PathBuf>) -> String {
    let errno = error.errno;
    let path = || {
        path_of(error.step, error.index)
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    };
    match error.step {
        Step::UserNamespace | Step::NestedNamespace => {
            format!(
                "the kernel refused a user namespace ({}): {}",
                errno,
                userns_refusal(errno)
            )
        }
        Step::MapIds | Step::NestedMapIds => format!(
            "the kernel refused to map your uid and gid in a new user namespace ({errno}); {}",
            sysctl_hint(&[(
                "kernel.apparmor_restrict_unprivileged_userns",
                "AppArmor restricts unprivileged user namespaces (Ubuntu 23.10 and later); allow them for sec with an AppArmor profile that has `userns,`"
            )])
        ),
        Step::Propagation => format!("cannot make the mounts private ({errno})"),
        Step::ReadOnlyHome => format!("cannot make {} read-only ({errno})", path()),
        Step::Writable => format!("cannot keep {} writable ({errno})", path()),
        Step::Hide => format!("cannot hide {} ({errno})", path()),
        Step::Loopback => format!("cannot bring up the loopback interface ({errno})"),
        Step::Landlock => format!("cannot apply the Landlock scopes ({errno})"),
        Step::Seccomp => format!("cannot install the seccomp filter ({errno})"),
        Step::Chdir => format!("cannot enter {} again ({errno})", path()),
    }
}

/// Why `unshare(CLONE_NEWUSER)` failed, with the sysctls that say so.
fn userns_refusal(errno: Errno) -> String {
    match errno {
        Errno::ENOSPC => sysctl_hint(&[(
            "user.max_user_namespaces",
            "the number of user namespaces is limited and the limit is reached; raise it",
        )]),
        Errno::EPERM => {
            sysctl_hint(&[
                (
                    "kernel.unprivileged_userns_clone",
                    "unprivileged user namespaces are switched off; switch them on",
                ),
                (
                    "user.max_user_namespaces",
                    "the number of user namespaces is limited; raise it",
                ),
            ]) + " (in a container, its seccomp policy may forbid them: Docker's default does)"
        }
        Errno::EINVAL | Errno::ENOSYS => {
            "this kernel was built without user namespaces (CONFIG_USER_NS)".into()
        }
        _ => "an unexpected refusal".into(),
    }
}

/// The first sysctl that is set to 0 here, with its explanation; or a plain list of them.
fn sysctl_hint(candidates: &[(&str, &str)]) -> String {
    for (name, why) in candidates {
        let file = Path::new("/proc/sys").join(name.replace('.', "/"));
        if let Ok(value) = std::fs::read_to_string(&file) {
            let value = value.trim();
            let blocking = if *name == "kernel.apparmor_restrict_unprivileged_userns" {
                value != "0"
            } else {
                value == "0"
            };
            if blocking {
                return format!("{name} = {value}: {why}");
            }
        }
    }
    let names: Vec<&str> = candidates.iter().map(|(n, _)| *n).collect();
    format!("check {}", names.join(" and "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_errors_survive_the_trip_through_one_os_error() {
        for step in STEPS {
            let error = StepError {
                step,
                index: 7,
                errno: Errno::ENOSPC,
            };
            assert_eq!(StepError::decode(&error.encode()), Some(error));
        }
        let plain = io::Error::from_raw_os_error(libc::ENOENT);
        assert_eq!(StepError::decode(&plain), None, "exec failures stay errnos");
        let many = StepError {
            step: Step::Hide,
            index: 1000,
            errno: Errno::EACCES,
        };
        assert_eq!(StepError::decode(&many.encode()).unwrap().index, 255);
    }

    #[test]
    fn the_loopback_message_is_a_well_formed_request() {
        let len = u32::from_ne_bytes(LOOPBACK_UP[0..4].try_into().unwrap());
        assert_eq!(len as usize, LOOPBACK_UP.len());
        assert_eq!(u16::from_ne_bytes([LOOPBACK_UP[4], LOOPBACK_UP[5]]), 16);
        assert_eq!(u16::from_ne_bytes([LOOPBACK_UP[6], LOOPBACK_UP[7]]), 5);
        assert_eq!(
            i32::from_ne_bytes(LOOPBACK_UP[20..24].try_into().unwrap()),
            1
        );
    }

    #[test]
    fn the_filter_builds_for_this_machine() {
        assert!(!terminal_injection_filter().unwrap().is_empty());
    }
}
