//! The sandbox of `sec shield`: `sec` enters new namespaces, its child builds a new root
//! from the [`Layout`] between fork and exec, and the command runs in it.
//!
//! Long because every step between fork and exec is here with the plan it runs on (no
//! allocation there, so the plan, the seccomp program and the netlink message are made
//! before): splitting the steps from their plan would hide what each step may touch.
//!
//! The steps, in order (the process tree around them is `init`'s):
//! 1. in `sec` itself, still single-threaded: new user, PID and IPC namespaces (and a
//!    network namespace for `--no-network`), the user's uid and gid mapped to themselves, so
//!    nothing looks different;
//! 2. in the new PID namespace's first process: a new mount namespace whose mounts stop
//!    propagating; an empty tmpfs becomes the root for a moment, with the host's root below
//!    it at `/oldroot`;
//! 3. the new root is built in `/newroot`: the host's root bound there, read-only with every
//!    mount below it (mount_setattr); then the [`Op`]s made here from the layout put fresh
//!    `/tmp`, `/var/tmp`, `/run`, `/dev` (a few device nodes and a private devpts) and `/proc`
//!    (without key listings) over it, an empty home, and what the layout shows, covers and
//!    protects;
//! 4. the new root replaces the old one, which is detached whole;
//! 5. with `--no-network`, the loopback interface comes up;
//! 6. in the command's own process: a second user and mount namespace, so the command holds
//!    no capability over the mounts and cannot undo them (the kernel locks them), even as root;
//! 7. Landlock scopes where the kernel has them (6.12+): no abstract Unix sockets and no
//!    signals outside;
//! 8. descriptors beyond 0-2 closed at exec, except those passed with `--keep-fd`;
//! 9. a seccomp filter: no typing into the terminal (TIOCSTI, TIOCLINUX), no kernel keyring
//!    (keyctl, add_key, request_key), no signal to the whole process group (`kill(0, ...)`,
//!    which would reach the user's shell job outside the PID namespace).
//!
//! Between fork and exec only async-signal-safe calls are allowed (the parent may have other
//! threads, one of which may hold the allocator's lock): everything is prepared here in the
//! parent as [`Plan`], and the child only makes system calls on it. A failing step reports
//! itself through the one number std passes back from the child, see [`StepError`].

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

use landlock::{CompatLevel, Compatible, Ruleset, RulesetAttr, RulesetCreated, Scope};
use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sched::CloneFlags;
use nix::sys::socket::{
    AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType, recv, sendto, socket,
};
use nix::sys::stat::Mode;
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

use super::layout::{Layout, REPLACED};

/// One step of building the new root, on paths below `/newroot` (targets) and `/oldroot`
/// (the host's files).
#[derive(Debug)]
pub enum Op {
    /// Creates a directory (a mount point, or a parent of one); failures show at the mount.
    Mkdir(CString),
    /// Creates an empty file as a mount point; failures show at the mount.
    Touch(CString),
    Symlink {
        target: CString,
        link: CString,
    },
    /// `optional`: nothing to do when the target has gone since the plan was made.
    Bind {
        source: CString,
        target: CString,
        read_only: bool,
        optional: bool,
    },
    Tmpfs {
        target: CString,
        options: &'static CStr,
        optional: bool,
    },
    Proc(CString),
    DevPts(CString),
}

/// Everything the child needs, made before the fork.
pub struct Plan {
    pub namespaces: CloneFlags,
    pub no_network: bool,
    pub uid_map: Vec<u8>,
    pub gid_map: Vec<u8>,
    pub ops: Vec<Op>,
    /// For messages: the path each op works on, as the command would see it.
    pub op_paths: Vec<PathBuf>,
    pub cwd: CString,
    pub keep_fds: Vec<RawFd>,
    /// Where init reports the command's wait status (the write end of sec's pipe).
    pub status_fd: RawFd,
    pub landlock: Option<RulesetCreated>,
    pub seccomp: BpfProgram,
}

/// Device nodes of the host that the sandbox's `/dev` holds.
const DEVICES: &[&str] = &["null", "zero", "full", "random", "urandom", "tty"];

/// Symlinks of every `/dev`.
const DEV_LINKS: &[(&str, &str)] = &[
    ("ptmx", "pts/ptmx"),
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
];

/// `/proc` files that list or describe keys of the kernel keyring: /dev/null in the sandbox.
const PROC_MASKED: &[&str] = &["/proc/keys", "/proc/key-users"];

const TMPFS_STICKY: &CStr = c"mode=1777";
const TMPFS_OPEN: &CStr = c"mode=0755";
const TMPFS_PRIVATE: &CStr = c"mode=0700";
const TMPFS_COVER: &CStr = c"mode=0700,size=16k";

/// What goes where, before it becomes [`Op`]s; sorted by target so parents come first.
#[derive(Debug)]
enum Mount {
    /// `fresh`: the target lies in a tmpfs of the new root, where its mount point (and its
    /// parents) are made first. Otherwise it exists already (bound from the host), and
    /// nothing is ever created there: it may be the user's project.
    Bind {
        source: PathBuf,
        read_only: bool,
        dir: bool,
        fresh: bool,
    },
    /// Covers what is at the target (a directory with an empty tmpfs, anything else with
    /// /dev/null); creates nothing, and nothing happens when the target has gone meanwhile.
    Cover {
        dir: bool,
    },
    Tmpfs(&'static CStr),
    Proc,
    DevPts,
    Symlink(PathBuf),
}

impl Plan {
    /// The plan for `layout`.
    pub fn new(layout: &Layout, no_network: bool, keep_fds: Vec<RawFd>) -> Result<Self, String> {
        let uid = nix::unistd::getuid().as_raw();
        let gid = nix::unistd::getgid().as_raw();
        let mut namespaces =
            CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWPID | CloneFlags::CLONE_NEWIPC;
        if no_network {
            namespaces |= CloneFlags::CLONE_NEWNET;
        }
        let mut plan = Plan {
            namespaces,
            no_network,
            uid_map: format!("{uid} {uid} 1\n").into_bytes(),
            gid_map: format!("{gid} {gid} 1\n").into_bytes(),
            ops: Vec::new(),
            op_paths: Vec::new(),
            cwd: c_path(&layout.cwd)?,
            keep_fds,
            status_fd: -1,
            landlock: landlock_scopes(),
            seccomp: seccomp_filter()?,
        };
        let mut created = std::collections::BTreeSet::new();
        for (target, mount) in mounts(layout) {
            plan.add(&target, mount, &mut created)?;
        }
        Ok(plan)
    }

    /// Whether the kernel scopes abstract Unix sockets and signals (Landlock ABI 6).
    pub fn has_landlock(&self) -> bool {
        self.landlock.is_some()
    }

    fn push(&mut self, op: Op, path: &Path) {
        self.ops.push(op);
        self.op_paths.push(path.to_path_buf());
    }

    /// The ops for one mount at `target`: its missing parents, its mount point, itself.
    fn add(
        &mut self,
        target: &Path,
        mount: Mount,
        created: &mut std::collections::BTreeSet<PathBuf>,
    ) -> Result<(), String> {
        let new = |p: &Path| c_path(&Path::new("/newroot").join(p.strip_prefix("/").unwrap_or(p)));
        let old = |p: &Path| c_path(&Path::new("/oldroot").join(p.strip_prefix("/").unwrap_or(p)));
        let creates = !matches!(
            mount,
            Mount::Cover { .. } | Mount::Bind { fresh: false, .. }
        );
        if creates {
            let parents: Vec<&Path> = target.ancestors().skip(1).collect();
            for parent in parents.into_iter().rev().skip(1) {
                if created.insert(parent.to_path_buf()) {
                    self.push(Op::Mkdir(new(parent)?), parent);
                }
            }
        }
        let leaf_is_dir = match &mount {
            Mount::Bind {
                dir, fresh: true, ..
            } => Some(*dir),
            Mount::Tmpfs(_) | Mount::Proc | Mount::DevPts => Some(true),
            Mount::Bind { .. } | Mount::Cover { .. } | Mount::Symlink(_) => None,
        };
        match leaf_is_dir {
            Some(true) if created.insert(target.to_path_buf()) => {
                self.push(Op::Mkdir(new(target)?), target)
            }
            Some(false) => self.push(Op::Touch(new(target)?), target),
            _ => {}
        }
        let op = match mount {
            Mount::Bind {
                source,
                read_only,
                fresh,
                ..
            } => Op::Bind {
                source: old(&source)?,
                target: new(target)?,
                read_only,
                optional: !fresh,
            },
            Mount::Cover { dir: true } => Op::Tmpfs {
                target: new(target)?,
                options: TMPFS_COVER,
                optional: true,
            },
            // /dev/null stays a device (read-only would add nodev): reads are empty.
            Mount::Cover { dir: false } => Op::Bind {
                source: c"/oldroot/dev/null".into(),
                target: new(target)?,
                read_only: false,
                optional: true,
            },
            Mount::Tmpfs(options) => Op::Tmpfs {
                target: new(target)?,
                options,
                optional: false,
            },
            Mount::Proc => Op::Proc(new(target)?),
            Mount::DevPts => Op::DevPts(new(target)?),
            Mount::Symlink(to) => Op::Symlink {
                target: c_path(&to)?,
                link: new(target)?,
            },
        };
        self.push(op, target);
        Ok(())
    }
}

/// Every mount of the new root, parents before children.
fn mounts(layout: &Layout) -> Vec<(PathBuf, Mount)> {
    let mut out: Vec<(PathBuf, u8, Mount)> = Vec::new();
    for dir in ["/tmp", "/var/tmp"] {
        if Path::new(dir).is_dir() {
            out.push((dir.into(), 1, Mount::Tmpfs(TMPFS_STICKY)));
        }
    }
    out.push(("/run".into(), 1, Mount::Tmpfs(TMPFS_OPEN)));
    out.push(("/dev".into(), 1, Mount::Tmpfs(TMPFS_OPEN)));
    for device in DEVICES {
        let path = Path::new("/dev").join(device);
        if path.exists() {
            out.push((
                path.clone(),
                2,
                Mount::Bind {
                    source: path,
                    read_only: false,
                    dir: false,
                    fresh: true,
                },
            ));
        }
    }
    out.push(("/dev/pts".into(), 2, Mount::DevPts));
    out.push(("/dev/shm".into(), 2, Mount::Tmpfs(TMPFS_STICKY)));
    for (link, to) in DEV_LINKS {
        out.push((Path::new("/dev").join(link), 2, Mount::Symlink(to.into())));
    }
    out.push(("/proc".into(), 1, Mount::Proc));
    for masked in PROC_MASKED {
        if Path::new(masked).exists() {
            out.push((masked.into(), 2, Mount::Cover { dir: false }));
        }
    }
    out.push((layout.home.clone(), 3, Mount::Tmpfs(TMPFS_PRIVATE)));
    let fresh = |p: &Path| p.starts_with(&layout.home) || REPLACED.iter().any(|r| p.starts_with(r));
    for shown in &layout.shown {
        out.push((
            shown.target.clone(),
            4,
            Mount::Bind {
                source: shown.source.clone(),
                read_only: !shown.writable,
                dir: shown.source.is_dir(),
                fresh: fresh(&shown.target),
            },
        ));
    }
    for hidden in &layout.hidden {
        out.push((hidden.path.clone(), 5, Mount::Cover { dir: hidden.dir }));
    }
    for protected in &layout.protected {
        out.push((
            protected.clone(),
            6,
            Mount::Bind {
                source: protected.clone(),
                read_only: true,
                dir: protected.is_dir(),
                fresh: false,
            },
        ));
    }
    // Parents first; at one path, in the order above (a project at the home's place is
    // bound over the empty home, a cover over what it covers).
    out.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    out.into_iter()
        .map(|(path, _, mount)| (path, mount))
        .collect()
}

fn c_path(path: &Path) -> Result<CString, String> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| format!("{} holds a NUL byte", path.display()))
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

/// seccomp: these fail with EPERM, everything else passes: `ioctl(fd, TIOCSTI | TIOCLINUX)`
/// (request compared as 32 bits, as the kernel reads it), the kernel keyring's calls, and
/// `kill(0, ...)`.
fn seccomp_filter() -> Result<BpfProgram, String> {
    let fail = |e: seccompiler::BackendError| format!("cannot build the seccomp filter: {e}");
    let arch = TargetArch::try_from(std::env::consts::ARCH)
        .map_err(|e| format!("no seccomp support for this architecture: {e}"))?;
    let equals = |arg: u8, value: u64| {
        SeccompCondition::new(arg, SeccompCmpArgLen::Dword, SeccompCmpOp::Eq, value)
            .and_then(|c| SeccompRule::new(vec![c]))
    };
    // The request type is `c_ulong` with glibc and `c_int` with musl.
    #[allow(clippy::unnecessary_cast)]
    let ioctl = || -> Result<Vec<SeccompRule>, seccompiler::BackendError> {
        Ok(vec![
            equals(1, libc::TIOCSTI as u64)?,
            equals(1, libc::TIOCLINUX as u64)?,
        ])
    };
    let kill = || equals(0, 0).map(|rule| vec![rule]);
    let mut syscalls = vec![
        (libc::SYS_ioctl, ioctl().map_err(fail)?),
        (libc::SYS_kill, kill().map_err(fail)?),
        (libc::SYS_keyctl, Vec::new()),
        (libc::SYS_add_key, Vec::new()),
        (libc::SYS_request_key, Vec::new()),
    ];
    // x32 programs run on the same architecture with their own numbers (bit 30 set, ioctl
    // at 514): the same calls by those numbers. (i386 programs fail the filter's
    // architecture check and are killed.)
    #[cfg(target_arch = "x86_64")]
    {
        const X32: i64 = 0x4000_0000;
        syscalls.extend([
            (X32 + 514, ioctl().map_err(fail)?),
            (X32 + libc::SYS_kill, kill().map_err(fail)?),
            (X32 + libc::SYS_keyctl, Vec::new()),
            (X32 + libc::SYS_add_key, Vec::new()),
            (X32 + libc::SYS_request_key, Vec::new()),
        ]);
    }
    let filter = SeccompFilter::new(
        syscalls.into_iter().collect(),
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM as u32),
        arch,
    )
    .map_err(|e| format!("cannot build the seccomp filter: {e}"))?;
    filter.try_into().map_err(fail)
}

/// Which step of the child failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    UserNamespace = 1,
    MapIds,
    Fork,
    Propagation,
    NewRoot,
    Mount,
    Pivot,
    Chdir,
    Loopback,
    NestedNamespace,
    NestedMapIds,
    Landlock,
    Descriptors,
    Seccomp,
}

const STEPS: [Step; 14] = [
    Step::UserNamespace,
    Step::MapIds,
    Step::Fork,
    Step::Propagation,
    Step::NewRoot,
    Step::Mount,
    Step::Pivot,
    Step::Chdir,
    Step::Loopback,
    Step::NestedNamespace,
    Step::NestedMapIds,
    Step::Landlock,
    Step::Descriptors,
    Step::Seccomp,
];

/// A failed step, with the index of the op (or path) it worked on and the kernel's errno.
///
/// std hands the parent only one `i32` from a failed `pre_exec`, the raw OS error: the step
/// rides in bits 24 and up, the index in bits 12..24, the errno (always below 4096) below.
/// A plain errno (an `execvp` failure) has no step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepError {
    pub step: Step,
    pub index: usize,
    pub errno: Errno,
}

impl StepError {
    pub fn raw(self) -> i32 {
        let index = self.index.min(0xfff) as i32;
        ((self.step as i32) << 24) | (index << 12) | (self.errno as i32 & 0xfff)
    }

    pub fn encode(self) -> io::Error {
        io::Error::from_raw_os_error(self.raw())
    }

    pub fn from_raw(code: i32) -> Option<StepError> {
        let step = STEPS.get(usize::try_from(code >> 24).ok()?.checked_sub(1)?)?;
        Some(StepError {
            step: *step,
            index: ((code >> 12) & 0xfff) as usize,
            errno: Errno::from_raw(code & 0xfff),
        })
    }

    /// The step error `error` carries, or `None` for an ordinary OS error.
    pub fn decode(error: &io::Error) -> Option<StepError> {
        Self::from_raw(error.raw_os_error()?)
    }
}

pub fn fail(step: Step, index: usize) -> impl Fn(Errno) -> StepError {
    move |errno| StepError { step, index, errno }
}

/// Spawns `command` inside the sandbox `plan` describes (after [`enter_namespaces`]); the
/// child returned is the namespace's init, which writes the command's wait status to
/// `plan.status_fd` (`init`).
#[allow(unsafe_code)]
pub fn spawn(mut command: Command, mut plan: Plan) -> io::Result<Child> {
    // SAFETY: `pre_exec` runs the closure in the forked child, where only async-signal-safe
    // operations are sound. `init::enter` and the steps here make system calls on memory the
    // parent prepared (`Plan`: C strings, byte buffers, the BPF program, an open Landlock
    // ruleset) and on stack buffers; they do not allocate, lock, touch the environment, or
    // panic (no indexing that can fail, no unwrap). `Option::take` only moves within the
    // child's copy.
    unsafe {
        command.pre_exec(move || super::init::enter(&mut plan).map_err(StepError::encode));
    }
    command.spawn()
}

/// Step 1, in `sec`: the namespaces and the id maps. The kernel creates a user namespace
/// only for a single-threaded process.
pub fn enter_namespaces(plan: &Plan) -> Result<(), StepError> {
    nix::sched::unshare(plan.namespaces).map_err(fail(Step::UserNamespace, 0))?;
    map_ids(plan, Step::MapIds)
}

/// Steps 2 to 5, in the PID namespace's first process.
pub fn build_root(plan: &Plan) -> Result<(), StepError> {
    let none = None::<&CStr>;
    nix::sched::unshare(CloneFlags::CLONE_NEWNS).map_err(fail(Step::Propagation, 0))?;
    mount(
        none,
        c"/",
        none,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        none,
    )
    .map_err(fail(Step::Propagation, 0))?;
    let new_root = || -> nix::Result<()> {
        mount(
            Some(c"tmpfs"),
            c"/tmp",
            Some(c"tmpfs"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            Some(TMPFS_OPEN),
        )?;
        nix::unistd::chdir(c"/tmp")?;
        nix::unistd::mkdir(c"newroot", Mode::from_bits_truncate(0o755))?;
        nix::unistd::mkdir(c"oldroot", Mode::from_bits_truncate(0o755))?;
        nix::unistd::pivot_root(c".", c"oldroot")?;
        nix::unistd::chdir(c"/")?;
        let flags = MsFlags::MS_BIND | MsFlags::MS_REC;
        mount(Some(c"/oldroot"), c"/newroot", none, flags, none)?;
        make_read_only(c"/newroot")
    };
    new_root().map_err(fail(Step::NewRoot, 0))?;
    for (index, op) in plan.ops.iter().enumerate() {
        run(op).map_err(fail(Step::Mount, index))?;
    }
    let pivot = || -> nix::Result<()> {
        nix::unistd::chdir(c"/newroot")?;
        nix::unistd::pivot_root(c".", c".")?;
        umount2(c".", MntFlags::MNT_DETACH)?;
        nix::unistd::chdir(c"/")
    };
    pivot().map_err(fail(Step::Pivot, 0))?;
    nix::unistd::chdir(plan.cwd.as_c_str()).map_err(fail(Step::Chdir, 0))?;
    if plan.no_network {
        loopback_up().map_err(fail(Step::Loopback, 0))?;
    }
    Ok(())
}

fn run(op: &Op) -> nix::Result<()> {
    let none = None::<&CStr>;
    match op {
        Op::Mkdir(path) => {
            let _ = nix::unistd::mkdir(path.as_c_str(), Mode::from_bits_truncate(0o755));
            Ok(())
        }
        Op::Touch(path) => {
            use nix::fcntl::{OFlag, open};
            let flags = OFlag::O_CREAT | OFlag::O_WRONLY | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW;
            let _ = open(path.as_c_str(), flags, Mode::from_bits_truncate(0o600));
            Ok(())
        }
        Op::Symlink { target, link } => {
            nix::unistd::symlinkat(target.as_c_str(), nix::fcntl::AT_FDCWD, link.as_c_str())
        }
        Op::Bind {
            source,
            target,
            read_only,
            optional,
        } => {
            let flags = MsFlags::MS_BIND | MsFlags::MS_REC;
            match mount(
                Some(source.as_c_str()),
                target.as_c_str(),
                none,
                flags,
                none,
            ) {
                Err(e) if *optional && out_of_reach(e, target) => return Ok(()),
                result => result?,
            }
            if *read_only {
                make_read_only(target)?;
            }
            Ok(())
        }
        Op::Tmpfs {
            target,
            options,
            optional,
        } => match mount(
            Some(c"tmpfs"),
            target.as_c_str(),
            Some(c"tmpfs"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            Some(*options),
        ) {
            Err(e) if *optional && out_of_reach(e, target) => Ok(()),
            result => result,
        },
        Op::Proc(target) => mount(
            Some(c"proc"),
            target.as_c_str(),
            Some(c"proc"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            none,
        ),
        Op::DevPts(target) => mount(
            Some(c"devpts"),
            target.as_c_str(),
            Some(c"devpts"),
            MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
            Some(c"newinstance,ptmxmode=0666,mode=620"),
        ),
    }
}

/// Whether an optional mount on `target` may be left out: the path does not exist, or this
/// process (whose credentials the command will have, less its capabilities) cannot reach
/// it, as in another user's private directory. Anything else is a failure.
fn out_of_reach(error: Errno, target: &CStr) -> bool {
    match error {
        Errno::ENOENT => true,
        Errno::EACCES => matches!(nix::sys::stat::lstat(target), Err(Errno::EACCES)),
        _ => false,
    }
}

/// `struct mount_attr` of mount_setattr(2).
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

const MOUNT_ATTR_RDONLY: u64 = 0x1;
const MOUNT_ATTR_NOSUID: u64 = 0x2;
const MOUNT_ATTR_NODEV: u64 = 0x4;
const AT_RECURSIVE: libc::c_uint = 0x8000;

/// Makes the mount at `path` and every mount below it read-only, nosuid and nodev
/// (mount_setattr, Linux 5.12): a plain remount would leave the submounts writable.
#[allow(unsafe_code)]
fn make_read_only(path: &CStr) -> nix::Result<()> {
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: a plain system call on a valid C string and a struct of the size passed.
    let result = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            libc::AT_FDCWD,
            path.as_ptr(),
            AT_RECURSIVE,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    Errno::result(result).map(drop)
}

/// Step 6 to 9, in the command's process just before exec.
pub fn confine_command(plan: &mut Plan) -> Result<(), StepError> {
    nix::sched::unshare(CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNS)
        .map_err(fail(Step::NestedNamespace, 0))?;
    map_ids(plan, Step::NestedMapIds)?;
    if let Some(ruleset) = plan.landlock.take() {
        ruleset
            .restrict_self()
            .map_err(|_| fail(Step::Landlock, 0)(Errno::last()))?;
    }
    close_descriptors(&plan.keep_fds).map_err(fail(Step::Descriptors, 0))?;
    seccompiler::apply_filter(&plan.seccomp).map_err(|e| {
        let errno = match e {
            seccompiler::Error::Prctl(e) | seccompiler::Error::Seccomp(e) => e.raw_os_error(),
            _ => None,
        };
        fail(Step::Seccomp, 0)(errno.map_or(Errno::EINVAL, Errno::from_raw))
    })
}

/// Marks every descriptor from 3 up close-on-exec, but those in `keep`.
#[allow(unsafe_code)]
fn close_descriptors(keep: &[RawFd]) -> nix::Result<()> {
    // SAFETY: plain system calls on integers.
    let result =
        unsafe { libc::close_range(3, libc::c_uint::MAX, libc::CLOSE_RANGE_CLOEXEC as i32) };
    if result != 0 {
        // Before Linux 5.11: one by one, up to the descriptor limit.
        let limit = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
            .map(|(soft, _)| soft.min(1 << 20) as RawFd)?;
        for fd in 3..limit {
            // SAFETY: as above; a closed descriptor answers EBADF, which is fine.
            unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
        }
    }
    for fd in keep {
        // SAFETY: as above.
        if unsafe { libc::fcntl(*fd, libc::F_SETFD, 0) } != 0 {
            return Err(Errno::last());
        }
    }
    Ok(())
}

/// Maps the user's own uid and gid in the namespace just entered, the one mapping an
/// unprivileged process may write (with `setgroups` denied first).
fn map_ids(plan: &Plan, step: Step) -> Result<(), StepError> {
    match write_proc(c"/proc/self/setgroups", b"deny") {
        // Kernels before 3.19 have no such file and need no such step.
        Ok(()) | Err(Errno::ENOENT) => {}
        Err(errno) => return Err(fail(step, 0)(errno)),
    }
    write_proc(c"/proc/self/uid_map", &plan.uid_map).map_err(fail(step, 1))?;
    write_proc(c"/proc/self/gid_map", &plan.gid_map).map_err(fail(step, 2))
}

fn write_proc(path: &CStr, data: &[u8]) -> nix::Result<()> {
    use nix::fcntl::{OFlag, open};
    let fd = open(path, OFlag::O_WRONLY | OFlag::O_CLOEXEC, Mode::empty())?;
    match nix::unistd::write(&fd, data)? {
        n if n == data.len() => Ok(()),
        _ => Err(Errno::EIO),
    }
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
pub fn loopback_up() -> nix::Result<()> {
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

#[cfg(test)]
#[path = "sandbox_tests.rs"]
mod tests;
