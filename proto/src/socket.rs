//! Where the daemon's socket lives and how both sides reach it.
//!
//! Long because both sides of the socket are here: the runtime directory's checks, the
//! listener (peer credentials, the caller's directory, connection limits) and the client's
//! connect, with their tests (about 130 lines).
//!
//! The socket sits in a private per-user runtime directory: `$XDG_RUNTIME_DIR/sec/`, or
//! `$TMPDIR/sec-$UID/` where `XDG_RUNTIME_DIR` is unset. The directory is created 0700 and
//! checked at every start and every connect (a directory, not a symlink, owned by us, no
//! group or other bits). The socket itself is created 0600. On top of that the daemon checks
//! every connection's peer credentials, so loosened modes do not let another user in.
//!
//! `$TMPDIR/sec-$UID` is a name anyone can take first. When it is not a directory of ours
//! (another user's directory, a symbolic link, a file) sec does not use it, does not follow
//! it, and leaves it alone: the runtime directory is then `$XDG_STATE_HOME/sec/run/`, which
//! only we can create, checked the same way. Both binaries make the same choice, and secd
//! and `sec status` say why. A socket path must fit a `sockaddr_un` ([`MAX_SOCKET_PATH`]);
//! when the fallback's would not, the error says how to set `XDG_RUNTIME_DIR`.

use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};

use interprocess::local_socket::tokio::{Listener, Stream, prelude::*};
use interprocess::local_socket::{GenericFilePath, ListenerOptions};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tonic::transport::{Channel, Endpoint, Uri, server::Connected};

/// File name of the socket inside the runtime directory.
pub const SOCKET_NAME: &str = "secd.sock";

/// The longest socket path sec uses, in bytes: `sun_path` holds 108 on Linux and 104 on
/// macOS, with the terminating NUL.
pub const MAX_SOCKET_PATH: usize = 100;

/// What to do when no usable runtime directory is left.
const SET_RUNTIME_DIR: &str = "create a private directory with a short path (`mkdir -m 700 DIR`) and set XDG_RUNTIME_DIR to it";

#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    #[error(
        "cannot find a runtime directory for the socket; set XDG_RUNTIME_DIR to a private directory"
    )]
    NoRuntimeDir,
    #[error("cannot create the runtime directory {path}: {source}")]
    Create { path: PathBuf, source: io::Error },
    #[error("{path} is a symbolic link; remove it so sec can create its own private directory")]
    Symlink { path: PathBuf },
    #[error("{path} is not a directory; remove it so sec can create its private directory there")]
    NotADirectory { path: PathBuf },
    #[error(
        "{path} belongs to uid {owner}, not to you (uid {me}); remove it or set XDG_RUNTIME_DIR to a directory of your own"
    )]
    WrongOwner { path: PathBuf, owner: u32, me: u32 },
    #[error("{path} is open to other users (mode {mode:o}); run `chmod 700 {path}` or remove it")]
    TooOpen { path: PathBuf, mode: u32 },
    #[error("cannot inspect {path}: {source}")]
    Inspect { path: PathBuf, source: io::Error },
    #[error("cannot listen on {path}: {source}")]
    Listen { path: PathBuf, source: io::Error },
    #[error(
        "the socket path {path} is {len} bytes, longer than a Unix socket allows ({MAX_SOCKET_PATH}); {SET_RUNTIME_DIR}"
    )]
    TooLong { path: PathBuf, len: usize },
    #[error("{path} {why}, so sec cannot keep its socket there, and {fallback}; {SET_RUNTIME_DIR}")]
    Squatted {
        path: PathBuf,
        why: String,
        fallback: String,
    },
}

/// The private runtime directory, not yet checked (nothing is created).
pub fn runtime_dir() -> Result<PathBuf, SocketError> {
    match xdg_runtime_dir() {
        Some(dir) => Ok(dir),
        None => fallback_runtime_dir(false),
    }
}

fn xdg_runtime_dir() -> Option<PathBuf> {
    crate::paths::project()?
        .runtime_dir()
        .map(Path::to_path_buf)
}

/// `$TMPDIR/sec-$UID`: where the runtime directory goes without `XDG_RUNTIME_DIR`, like
/// rbw's and gpg-agent's, unless someone else took it.
#[cfg(unix)]
fn tmp_runtime_dir() -> PathBuf {
    std::env::temp_dir().join(format!("sec-{}", current_uid()))
}

/// Where the runtime directory goes when `$TMPDIR/sec-$UID` is taken: in our own state
/// directory, where no one else can create anything.
fn state_runtime_dir() -> Option<PathBuf> {
    Some(crate::paths::state_dir()?.join("run"))
}

/// `$TMPDIR/sec-$UID` (created 0700 when `create` and missing), or the state directory's
/// `run` when that name is not a directory of ours.
#[cfg(unix)]
fn fallback_runtime_dir(create: bool) -> Result<PathBuf, SocketError> {
    let tmp = tmp_runtime_dir();
    if create {
        use std::os::unix::fs::DirBuilderExt;
        // mkdir never follows a link in the last component: a planted link is EEXIST.
        let _ = std::fs::DirBuilder::new().mode(0o700).create(&tmp);
    }
    let Some(why) = not_ours(&tmp) else {
        return Ok(tmp);
    };
    let squatted = |fallback: String| SocketError::Squatted {
        path: tmp.clone(),
        why: why.clone(),
        fallback,
    };
    let dir = state_runtime_dir()
        .ok_or_else(|| squatted("there is no home directory for a fallback".into()))?;
    let len = dir.join(SOCKET_NAME).as_os_str().len();
    if len > MAX_SOCKET_PATH {
        return Err(squatted(format!(
            "a socket in the fallback {} would be {len} bytes, too long for a Unix socket",
            dir.display()
        )));
    }
    Ok(dir)
}

#[cfg(not(unix))]
fn fallback_runtime_dir(_create: bool) -> Result<PathBuf, SocketError> {
    directories::BaseDirs::new()
        .map(|b| b.data_local_dir().join("sec").join("run"))
        .ok_or(SocketError::NoRuntimeDir)
}

/// Why `dir` cannot be our runtime directory although it exists: it is a symbolic link, not
/// a directory, or someone else's. `None` when it is a directory of ours, or missing.
#[cfg(unix)]
fn not_ours(dir: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let meta = match std::fs::symlink_metadata(dir) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return None,
        Err(e) => return Some(format!("cannot be inspected ({e})")),
    };
    if meta.file_type().is_symlink() {
        Some(format!("is a symbolic link (owned by uid {})", meta.uid()))
    } else if !meta.is_dir() {
        Some(format!("is not a directory (owned by uid {})", meta.uid()))
    } else if meta.uid() != current_uid() {
        Some(format!(
            "belongs to uid {}, not to you (uid {})",
            meta.uid(),
            current_uid()
        ))
    } else {
        None
    }
}

/// When `XDG_RUNTIME_DIR` is unset and `$TMPDIR/sec-$UID` is taken, the sentence that says
/// so and where sec went instead (for secd's log and `sec status`).
pub fn fallback_notice() -> Option<String> {
    #[cfg(unix)]
    if xdg_runtime_dir().is_none() {
        let tmp = tmp_runtime_dir();
        let why = not_ours(&tmp)?;
        let dir = state_runtime_dir()?;
        return Some(format!(
            "{} {why}, so sec keeps its socket in {} instead; someone may have created it to catch sec's socket",
            tmp.display(),
            dir.display()
        ));
    }
    None
}

/// The socket's path inside the runtime directory, which is created 0700 if missing and
/// checked.
pub fn socket_path() -> Result<PathBuf, SocketError> {
    let dir = match xdg_runtime_dir() {
        Some(dir) => dir,
        None => fallback_runtime_dir(true)?,
    };
    let path = dir.join(SOCKET_NAME);
    let len = path.as_os_str().len();
    if len > MAX_SOCKET_PATH {
        return Err(SocketError::TooLong { path, len });
    }
    ensure_private_dir(&dir)?;
    Ok(path)
}

#[cfg(unix)]
pub fn current_uid() -> u32 {
    nix::unistd::getuid().as_raw()
}

/// Creates `dir` with mode 0700 when it is missing, then checks it: a directory, not a
/// symlink, owned by us, nothing for group or other. One lstat when it exists (every `sec`
/// asks this before it connects).
#[cfg(unix)]
pub fn ensure_private_dir(dir: &Path) -> Result<(), SocketError> {
    use std::os::unix::fs::MetadataExt;

    let inspect = |source| SocketError::Inspect {
        path: dir.to_path_buf(),
        source,
    };
    let meta = match std::fs::symlink_metadata(dir) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            crate::paths::create_private_dir_all(dir).map_err(|source| SocketError::Create {
                path: dir.to_path_buf(),
                source,
            })?;
            std::fs::symlink_metadata(dir).map_err(inspect)?
        }
        Err(source) => return Err(inspect(source)),
    };
    let path = dir.to_path_buf();
    if meta.file_type().is_symlink() {
        return Err(SocketError::Symlink { path });
    }
    if !meta.is_dir() {
        return Err(SocketError::NotADirectory { path });
    }
    let me = current_uid();
    if meta.uid() != me {
        return Err(SocketError::WrongOwner {
            path,
            owner: meta.uid(),
            me,
        });
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(SocketError::TooOpen { path, mode });
    }
    Ok(())
}

#[cfg(not(unix))]
pub fn ensure_private_dir(dir: &Path) -> Result<(), SocketError> {
    std::fs::create_dir_all(dir).map_err(|source| SocketError::Create {
        path: dir.to_path_buf(),
        source,
    })
}

/// Who is on the other end of a connection, as the kernel says.
#[derive(Clone, Debug, Default)]
pub struct Peer {
    pub uid: Option<u32>,
    pub pid: Option<i32>,
    /// The directory the client handed over at connect (see `caller_dir`).
    pub cwd: Option<PathBuf>,
}

/// A server-side connection that carries its peer's credentials into tonic's request
/// extensions (`request.extensions().get::<Peer>()`).
pub struct Conn {
    stream: Stream,
    peer: Peer,
    /// A first byte read while looking for the directory, handed on before the rest.
    first: Option<u8>,
    /// This connection's place in the count; given back when the connection ends.
    _slot: Slot,
}

/// How many connections one process may hold open at once, and all together: a flood of
/// idle connections from one process must not use up the daemon's descriptors.
pub const MAX_CONNECTIONS_PER_PROCESS: usize = 32;
pub const MAX_CONNECTIONS: usize = 512;

/// Open connections, per process and in all.
#[derive(Default)]
struct Counts {
    total: usize,
    per_pid: std::collections::HashMap<i32, usize>,
}

/// One counted connection.
struct Slot {
    counts: std::sync::Arc<std::sync::Mutex<Counts>>,
    pid: i32,
}

impl Slot {
    /// A place for a connection of `pid`, if it is under both limits.
    fn take(
        counts: &std::sync::Arc<std::sync::Mutex<Counts>>,
        pid: i32,
        total_limit: usize,
    ) -> Option<Slot> {
        let mut c = counts.lock().unwrap_or_else(|p| p.into_inner());
        let mine = c.per_pid.get(&pid).copied().unwrap_or(0);
        if c.total >= total_limit || mine >= MAX_CONNECTIONS_PER_PROCESS {
            return None;
        }
        c.total += 1;
        c.per_pid.insert(pid, mine + 1);
        Some(Slot {
            counts: std::sync::Arc::clone(counts),
            pid,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut c = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        c.total = c.total.saturating_sub(1);
        if let Some(n) = c.per_pid.get_mut(&self.pid) {
            *n -= 1;
            if *n == 0 {
                c.per_pid.remove(&self.pid);
            }
        }
    }
}

/// The connection limit in all: [`MAX_CONNECTIONS`], or half the descriptors this process
/// may open when that is less (the rest is for files, vault programs, the log).
fn total_limit() -> usize {
    #[cfg(unix)]
    if let Ok((soft, _)) =
        nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
    {
        return MAX_CONNECTIONS.min((soft / 2) as usize).max(8);
    }
    MAX_CONNECTIONS
}

impl Conn {
    pub fn peer(&self) -> Peer {
        self.peer.clone()
    }
}

impl Connected for Conn {
    type ConnectInfo = Peer;
    fn connect_info(&self) -> Peer {
        self.peer.clone()
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if buf.remaining() > 0
            && let Some(byte) = self.first.take()
        {
            buf.put_slice(&[byte]);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// The listening socket systemd passed (socket activation, `secd.socket`): descriptor 3
/// when `LISTEN_PID` is this process and `LISTEN_FDS` is 1. Call it before any thread
/// exists: the variables are removed, so nothing secd starts mistakes them for its own.
#[cfg(unix)]
pub fn take_inherited_fd() -> Option<std::os::fd::OwnedFd> {
    use std::os::fd::{FromRawFd, OwnedFd};
    let pid = std::env::var("LISTEN_PID").ok()?;
    let fds = std::env::var("LISTEN_FDS").ok()?;
    // SAFETY: the caller runs this before any other thread exists (see above).
    #[allow(unsafe_code)]
    unsafe {
        std::env::remove_var("LISTEN_PID");
        std::env::remove_var("LISTEN_FDS");
        std::env::remove_var("LISTEN_FDNAMES");
    }
    if pid.parse::<u32>().ok()? != std::process::id() || fds != "1" {
        return None;
    }
    // SAFETY: systemd's protocol hands this process descriptor 3, a listening socket, and
    // nothing else in secd has opened or taken it (it is taken once, at start).
    #[allow(unsafe_code)]
    Some(unsafe { OwnedFd::from_raw_fd(3) })
}

/// A listener for tonic from the descriptor [`take_inherited_fd`] took; inside the runtime.
#[cfg(unix)]
pub fn listener_from(fd: std::os::fd::OwnedFd) -> Result<Listener, SocketError> {
    interprocess::os::unix::uds_local_socket::tokio::Listener::try_from(fd)
        .map(Listener::from)
        .map_err(|source| SocketError::Listen {
            path: PathBuf::from("(the socket systemd passed)"),
            source,
        })
}

/// Binds the socket at `path` with mode 0600, replacing a stale socket file. The caller must
/// have made sure no live daemon answers there (see [`is_live`]).
pub fn listen(path: &Path) -> Result<Listener, SocketError> {
    let err = |source| SocketError::Listen {
        path: path.to_path_buf(),
        source,
    };
    let name = path.to_fs_name::<GenericFilePath>().map_err(err)?;
    let opts = ListenerOptions::new().name(name).try_overwrite(true);
    #[cfg(unix)]
    let opts = {
        use interprocess::os::unix::local_socket::ListenerOptionsExt;
        opts.mode(0o600)
    };
    opts.create_tokio().map_err(err)
}

/// When the listener last accepted a connection (from our user), as milliseconds after
/// [`START`]: how long the daemon has been idle.
static LAST_ACCEPT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();

fn since_start() -> u64 {
    START
        .get_or_init(std::time::Instant::now)
        .elapsed()
        .as_millis() as u64
}

/// How long no connection has come (since the daemon started listening, if none came).
pub fn idle_for() -> std::time::Duration {
    let last = LAST_ACCEPT.load(std::sync::atomic::Ordering::Relaxed);
    std::time::Duration::from_millis(since_start().saturating_sub(last))
}

/// A connection that asked for `sec exec`'s lean lease (`lean`), with its peer.
#[cfg(unix)]
pub struct LeanConn {
    pub stream: tokio::net::UnixStream,
    pub peer: Peer,
    _slot: Slot,
}

/// What serves a lean connection (secd's `rpc::serve_lean`), awaited in the task that read
/// the connection's greeting: no channel and no further task between the client's request
/// and its reply (each hop could wake another worker thread). `None` serves gRPC only.
#[cfg(unix)]
pub type LeanHandler = Option<
    std::sync::Arc<
        dyn Fn(LeanConn) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>
            + Send
            + Sync,
    >,
>;
#[cfg(not(unix))]
pub type LeanHandler = Option<()>;

/// Accepts connections for tonic, dropping those whose peer is another user. Each
/// connection's first byte (the caller's directory, see `caller_dir`) is read in a task of
/// its own, so a client that sends nothing holds up no other. A connection that then asks
/// for the lean lease goes to `lean` instead.
pub fn incoming(
    listener: Listener,
    greeting: bool,
    lean: LeanHandler,
) -> impl tokio_stream::Stream<Item = io::Result<Conn>> + Send + 'static {
    LAST_ACCEPT.store(since_start(), std::sync::atomic::Ordering::Relaxed);
    let (ready, accepted) = tokio::sync::mpsc::channel::<io::Result<Conn>>(16);
    let counts = std::sync::Arc::new(std::sync::Mutex::new(Counts::default()));
    let total = total_limit();
    tokio::spawn(async move {
        loop {
            let stream = match listener.accept().await {
                Ok(stream) => stream,
                Err(e) => {
                    if ready.send(Err(e)).await.is_err() {
                        return;
                    }
                    continue;
                }
            };
            let peer = peer_of(&stream);
            if !peer_allowed(&peer) {
                // Closing the connection unanswered is the whole refusal.
                tracing::warn!(
                    uid = ?peer.uid, pid = ?peer.pid,
                    "refused a connection from another user"
                );
                continue;
            }
            LAST_ACCEPT.store(since_start(), std::sync::atomic::Ordering::Relaxed);
            let Some(slot) = Slot::take(&counts, peer.pid.unwrap_or(-1), total) else {
                tracing::warn!(pid = ?peer.pid, "refused a connection over the limit");
                continue;
            };
            let ready = ready.clone();
            let lean = lean.clone();
            tokio::spawn(async move {
                let conn = if greeting {
                    greet(stream, peer, slot, lean).await
                } else {
                    Some(Conn {
                        stream,
                        peer,
                        first: None,
                        _slot: slot,
                    })
                };
                if let Some(conn) = conn {
                    let _ = ready.send(Ok(conn)).await;
                }
            });
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(accepted)
}

/// How long a new connection may take to send its first byte.
const GREETING_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Reads what a connection sends first; `None` when it closed or sent nothing in time, or
/// went to `lean`.
async fn greet(stream: Stream, mut peer: Peer, slot: Slot, lean: LeanHandler) -> Option<Conn> {
    #[cfg(unix)]
    {
        use crate::caller_dir::{First, receive};
        let Stream::UdSocket(unix) = stream;
        let unix = tokio::net::UnixStream::from(unix);
        let first = tokio::time::timeout(GREETING_TIMEOUT, receive(&unix))
            .await
            .ok()?
            .ok()?;
        let first = match first {
            First::Dir(dir) => {
                peer.cwd = dir;
                let Some(lean) = lean else {
                    let stream = Stream::UdSocket(unix.into());
                    return Some(Conn {
                        stream,
                        peer,
                        first: None,
                        _slot: slot,
                    });
                };
                // The next byte says which protocol follows: HTTP/2's preface, or the lean
                // lease. An HTTP/2 byte is handed on like any first byte.
                let mut unix = unix;
                let mut next = [0u8; 1];
                let read = tokio::io::AsyncReadExt::read(&mut unix, &mut next);
                match tokio::time::timeout(GREETING_TIMEOUT, read)
                    .await
                    .ok()?
                    .ok()?
                {
                    0 => return None,
                    _ if next[0] == crate::lean::LEAN_LEASE => {
                        let conn = LeanConn {
                            stream: unix,
                            peer,
                            _slot: slot,
                        };
                        lean(conn).await;
                        return None;
                    }
                    _ => {
                        let stream = Stream::UdSocket(unix.into());
                        return Some(Conn {
                            stream,
                            peer,
                            first: Some(next[0]),
                            _slot: slot,
                        });
                    }
                }
            }
            First::Data(byte) => Some(byte),
            First::Closed => return None,
        };
        let stream = Stream::UdSocket(unix.into());
        Some(Conn {
            stream,
            peer,
            first,
            _slot: slot,
        })
    }
    #[cfg(not(unix))]
    {
        let _ = (GREETING_TIMEOUT, lean);
        Some(Conn {
            stream,
            peer,
            first: None,
            _slot: slot,
        })
    }
}

fn peer_of(stream: &Stream) -> Peer {
    match stream.peer_creds() {
        Ok(creds) => Peer {
            uid: peer_uid(&creds),
            #[allow(clippy::unnecessary_cast)] // the pid type differs by platform
            pid: creds.pid().map(|p| p as i32),
            cwd: None,
        },
        Err(_) => Peer::default(),
    }
}

#[cfg(unix)]
fn peer_uid(creds: &interprocess::local_socket::PeerCreds) -> Option<u32> {
    creds.euid()
}

#[cfg(not(unix))]
fn peer_uid(_creds: &interprocess::local_socket::PeerCreds) -> Option<u32> {
    None
}

/// Only our own user may talk to the daemon; a peer whose uid the kernel cannot tell is refused.
#[cfg(unix)]
pub fn peer_allowed(peer: &Peer) -> bool {
    peer.uid == Some(current_uid())
}

#[cfg(not(unix))]
pub fn peer_allowed(_peer: &Peer) -> bool {
    // Named pipes are created with the default DACL of the owning user.
    true
}

/// Opens a raw connection, for liveness probes.
pub async fn connect_raw(path: &Path) -> io::Result<Stream> {
    let name = path.to_fs_name::<GenericFilePath>()?;
    Stream::connect(name).await
}

/// True when a daemon accepts connections at `path`.
pub async fn is_live(path: &Path) -> bool {
    connect_raw(path).await.is_ok()
}

/// A gRPC channel to the daemon at `path`. Connects eagerly, so an absent daemon shows up
/// here rather than at the first call.
pub async fn connect(path: &Path) -> Result<Channel, tonic::transport::Error> {
    channel(path, true).await
}

/// A gRPC channel that does not send the caller's directory first, as clients before
/// protocol 3 did: the only way to ask an older secd (which takes that byte for gRPC and
/// fails) for its pid and protocol, so that it can be replaced.
pub async fn connect_without_greeting(path: &Path) -> Result<Channel, tonic::transport::Error> {
    channel(path, false).await
}

async fn channel(path: &Path, greeting: bool) -> Result<Channel, tonic::transport::Error> {
    let path = path.to_path_buf();
    Endpoint::from_static("http://secd.invalid")
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let path = path.clone();
            async move {
                let stream = connect_raw(&path).await?;
                #[cfg(unix)]
                if greeting {
                    let Stream::UdSocket(unix) = &stream;
                    crate::caller_dir::send(std::os::fd::AsFd::as_fd(unix))?;
                }
                Ok::<_, io::Error>(hyper_util::rt::TokioIo::new(stream))
            }
        }))
        .await
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn creates_the_directory_private() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("sec");
        ensure_private_dir(&dir).unwrap();
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
    }

    #[test]
    fn refuses_a_directory_open_to_others() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("sec");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let err = ensure_private_dir(&dir).unwrap_err();
        assert!(
            matches!(err, SocketError::TooOpen { mode: 0o755, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("chmod 700"));
    }

    #[test]
    fn refuses_a_symlink() {
        let tmp = tempfile::tempdir().unwrap();
        let real = tmp.path().join("real");
        std::fs::create_dir(&real).unwrap();
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o700)).unwrap();
        let link = tmp.path().join("sec");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let err = ensure_private_dir(&link).unwrap_err();
        assert!(matches!(err, SocketError::Symlink { .. }), "{err}");
    }

    #[test]
    fn refuses_a_file_in_its_place() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("sec");
        std::fs::write(&path, b"").unwrap();
        let err = ensure_private_dir(&path).unwrap_err();
        assert!(matches!(err, SocketError::NotADirectory { .. }), "{err}");
    }

    #[test]
    fn only_a_directory_of_ours_is_ours() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("dir");
        std::fs::create_dir(&dir).unwrap();
        assert_eq!(not_ours(&dir), None);
        assert_eq!(not_ours(&tmp.path().join("missing")), None);
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(&dir, &link).unwrap();
        assert!(not_ours(&link).unwrap().contains("symbolic link"));
        let file = tmp.path().join("file");
        std::fs::write(&file, b"").unwrap();
        assert!(not_ours(&file).unwrap().contains("not a directory"));
    }

    #[test]
    fn the_peer_check_wants_our_uid() {
        let me = current_uid();
        let peer = |uid| Peer {
            uid,
            ..Default::default()
        };
        assert!(peer_allowed(&peer(Some(me))));
        assert!(!peer_allowed(&peer(Some(me + 1))));
        assert!(!peer_allowed(&peer(None)));
    }
}

#[cfg(all(test, unix))]
mod limit_tests {
    use super::*;

    #[test]
    fn one_process_gets_a_bounded_share() {
        let counts = std::sync::Arc::new(std::sync::Mutex::new(Counts::default()));
        let mine: Vec<Slot> = (0..MAX_CONNECTIONS_PER_PROCESS)
            .map(|_| Slot::take(&counts, 7, 100).unwrap())
            .collect();
        assert!(Slot::take(&counts, 7, 100).is_none(), "over its share");
        let other = Slot::take(&counts, 8, 100);
        assert!(other.is_some(), "another process still gets in");
        drop(mine);
        assert!(
            Slot::take(&counts, 7, 100).is_some(),
            "given back when closed"
        );
        let second = Slot::take(&counts, 9, 2);
        assert!(second.is_some());
        assert!(Slot::take(&counts, 10, 2).is_none(), "the total bound");
    }
}

#[cfg(all(test, unix))]
mod caller_dir_tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_stream::StreamExt;

    #[tokio::test]
    async fn the_directory_comes_from_the_handle_and_other_bytes_pass_through() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("s.sock");
        let mut conns = Box::pin(incoming(listen(&path).unwrap(), true, None));

        // A client that passes its directory's handle.
        let stream = connect_raw(&path).await.unwrap();
        let Stream::UdSocket(unix) = &stream;
        crate::caller_dir::send(std::os::fd::AsFd::as_fd(unix)).unwrap();
        let conn = conns.next().await.unwrap().unwrap();
        let here = std::env::current_dir().unwrap().canonicalize().unwrap();
        assert_eq!(conn.peer().cwd, Some(here));
        drop(stream);

        // One that speaks the protocol right away: no directory, and its bytes arrive whole.
        let mut stream = connect_raw(&path).await.unwrap();
        stream.write_all(b"PRI * HTTP/2.0").await.unwrap();
        let mut conn = conns.next().await.unwrap().unwrap();
        assert_eq!(conn.peer().cwd, None, "a claimed directory is never taken");
        let mut start = [0u8; 14];
        conn.read_exact(&mut start).await.unwrap();
        assert_eq!(&start, b"PRI * HTTP/2.0");
    }
}
