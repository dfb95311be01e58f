//! The caller's working directory, handed over by the kernel rather than claimed.
//!
//! Right after connecting, a client sends one byte, [`PREAMBLE`], with a descriptor of its
//! working directory attached (`SCM_RIGHTS`, an `O_PATH` handle of `.`). The daemon reads
//! the directory's path from its own copy of that descriptor (`/proc/self/fd/N`), which the
//! kernel resolves: a client cannot send a path of its choosing, only a directory it can
//! open. This works where `/proc/PID/cwd` cannot be read: `sec` makes itself non-dumpable
//! from its first instruction, and a non-dumpable process's `/proc` entries are closed to
//! its own user.
//!
//! A connection whose first byte is anything else (a liveness probe, another client) has no
//! directory; that byte is handed on to the protocol.

use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::path::PathBuf;

use nix::sys::socket::{ControlMessage, ControlMessageOwned, MsgFlags, recvmsg, sendmsg};
use tokio::io::Interest;
use tokio::net::UnixStream;

/// The byte that carries the descriptor; never the first byte of HTTP/2 (`P`).
pub const PREAMBLE: u8 = 0;

/// Sends the current directory's handle on a fresh connection.
pub fn send(stream: std::os::fd::BorrowedFd<'_>) -> io::Result<()> {
    let dir = nix::fcntl::open(
        c".",
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )?;
    // One byte on a new connection: the socket buffer has room, it does not block.
    send_with_fd(stream, PREAMBLE, dir.as_fd())
}

/// Sends one byte on a Unix socket with a descriptor attached (SCM_RIGHTS).
pub fn send_with_fd(
    stream: std::os::fd::BorrowedFd<'_>,
    byte: u8,
    fd: std::os::fd::BorrowedFd<'_>,
) -> io::Result<()> {
    let fds = [fd.as_raw_fd()];
    let byte = [byte];
    let iov = [io::IoSlice::new(&byte)];
    let control = [ControlMessage::ScmRights(&fds)];
    // MSG_NOSIGNAL: a peer that closed is an error here, never SIGPIPE (the `sec` front
    // runs without std's runtime, which would have ignored SIGPIPE).
    sendmsg::<()>(
        stream.as_raw_fd(),
        &iov,
        &control,
        MsgFlags::MSG_NOSIGNAL,
        None,
    )?;
    Ok(())
}

/// Receives one byte on a Unix socket and the descriptors that came with it, each owned
/// here (`None` for the byte when the peer closed). `flags` as for recvmsg(2);
/// MSG_CMSG_CLOEXEC is always added.
pub fn receive_with_fds(fd: i32, flags: MsgFlags) -> io::Result<(Option<u8>, Vec<OwnedFd>)> {
    let mut byte = [0u8; 1];
    let mut iov = [io::IoSliceMut::new(&mut byte)];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 4]);
    let message = recvmsg::<()>(
        fd,
        &mut iov,
        Some(&mut space),
        flags | MsgFlags::MSG_CMSG_CLOEXEC,
    )?;
    let bytes = message.bytes;
    // Every descriptor that came is owned here, so none leaks whatever the byte was.
    let mut received: Vec<OwnedFd> = Vec::new();
    for cmsg in message.cmsgs()? {
        if let ControlMessageOwned::ScmRights(fds) = cmsg {
            // SAFETY: the kernel just installed these descriptors in this process for us.
            #[allow(unsafe_code)]
            received.extend(
                fds.into_iter()
                    .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }),
            );
        }
    }
    Ok(((bytes > 0).then_some(byte[0]), received))
}

/// What the first byte of a connection brought.
pub enum First {
    /// The caller's directory, as the kernel names it (`None` if it cannot).
    Dir(Option<PathBuf>),
    /// A byte of the protocol itself, to be read again.
    Data(u8),
    /// The peer closed without sending anything.
    Closed,
}

/// Reads the first byte of a connection, with a descriptor if one came along.
pub async fn receive(stream: &UnixStream) -> io::Result<First> {
    loop {
        stream.readable().await?;
        match stream.try_io(Interest::READABLE, || read_first(stream.as_raw_fd())) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            other => return other,
        }
    }
}

fn read_first(fd: i32) -> io::Result<First> {
    let (byte, received) = receive_with_fds(fd, MsgFlags::MSG_DONTWAIT)?;
    Ok(match byte {
        None => First::Closed,
        Some(PREAMBLE) => First::Dir(match received.as_slice() {
            [dir] => directory_of(dir),
            _ => None,
        }),
        Some(other) => First::Data(other),
    })
}

/// The path the kernel gives the directory `fd` refers to; `None` for a removed one.
fn directory_of(fd: &OwnedFd) -> Option<PathBuf> {
    let path = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).ok()?;
    let deleted = path.to_string_lossy().ends_with(" (deleted)");
    (path.is_absolute() && !deleted && path.is_dir()).then_some(path)
}
