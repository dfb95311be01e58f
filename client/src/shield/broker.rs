//! `sec shield` in a scope with brokered variables: the command gets their placeholders and
//! a network namespace whose only way out is the lease's HTTPS broker.
//!
//! `sec` must be single-threaded when it enters the namespaces, and a process that made a
//! PID namespace cannot start threads at all, so the lease is held by a second process,
//! the link (`sec shield-link`, started before the namespaces, on a socket pair as its
//! standard input):
//! 1. `sec` sends the command line; the link asks secd for a shield lease (only the
//!    brokered variables) and sends back the variables, or why there are none;
//! 2. `sec` enters the namespaces (a new network namespace always), brings loopback up,
//!    listens on 127.0.0.1 there and hands that listening socket to the link;
//! 3. the link, still in the host's network, accepts what the command connects there and
//!    carries it to the broker on the host's loopback; nothing else leaves the namespace;
//! 4. when `sec` ends (the socket pair closes) or the lease is revoked, the link exits, and
//!    the lease (and its broker) end with it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::report::Failure;

/// Where the command sees the lease's CA files.
pub const FILES_TARGET: &str = "/run/sec-broker";
/// The hidden subcommand the link runs as.
pub const LINK_COMMAND: &str = "shield-link";

#[derive(Serialize, Deserialize)]
struct LinkRequest {
    argv: Vec<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum LinkReply {
    Granted {
        lease: String,
        env: Vec<(String, String)>,
        files_dir: String,
        notice: String,
    },
    Refused {
        message: String,
    },
}

/// `sec`'s end of the link.
pub struct Link {
    child: Child,
    socket: UnixStream,
}

/// What the shield lease gave the command.
pub struct Leased {
    pub lease: String,
    /// Placeholders, proxy and CA variables, as secd named them (host paths and port).
    pub env: Vec<(String, SecretString)>,
    /// The lease's file directory on the host (the CA files).
    pub files_dir: Option<PathBuf>,
}

impl std::fmt::Debug for Leased {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.env.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("Leased")
            .field("lease", &self.lease)
            .field("env", &names)
            .field("files_dir", &self.files_dir)
            .finish()
    }
}

impl Link {
    /// Starts the link and has it take the shield lease for `argv`. Runs no thread.
    pub fn start(argv: &[String]) -> Result<(Link, Leased), Failure> {
        let (ours, theirs) = UnixStream::pair()
            .map_err(|e| Failure::new(format!("cannot make a socket pair: {e}")))?;
        let exe = std::env::current_exe()
            .map_err(|e| Failure::new(format!("cannot tell where sec is: {e}")))?;
        let child = Command::new(exe)
            .arg(LINK_COMMAND)
            .stdin(Stdio::from(std::os::fd::OwnedFd::from(theirs)))
            .spawn()
            .map_err(|e| Failure::new(format!("cannot start the broker link: {e}")))?;
        let mut link = Link {
            child,
            socket: ours,
        };
        let request = serde_json::to_string(&LinkRequest {
            argv: argv.to_vec(),
        })
        .unwrap_or_default();
        writeln!(link.socket, "{request}")
            .map_err(|e| Failure::new(format!("cannot reach the broker link: {e}")))?;
        let mut line = String::new();
        BufReader::new(&link.socket)
            .read_line(&mut line)
            .map_err(|e| Failure::new(format!("cannot hear the broker link: {e}")))?;
        match serde_json::from_str::<LinkReply>(&line) {
            Ok(LinkReply::Granted {
                lease,
                env,
                files_dir,
                notice,
            }) => {
                if !notice.is_empty() {
                    eprintln!("sec: {notice}");
                }
                let leased = Leased {
                    lease,
                    env: env
                        .into_iter()
                        .map(|(name, value)| (name, SecretString::from(value)))
                        .collect(),
                    files_dir: Some(PathBuf::from(files_dir)).filter(|d| d.is_dir()),
                };
                Ok((link, leased))
            }
            Ok(LinkReply::Refused { message }) => Err(Failure::new(message)),
            Err(_) => Err(Failure::new(
                "the broker link ended without a lease (see the message above)",
            )),
        }
    }

    /// In the command's network namespace (after `sec` entered it): loopback up, a
    /// listener on 127.0.0.1, handed to the link. Returns its port.
    pub fn listen_inside(&self) -> Result<u16, Failure> {
        let fail = |e: &dyn std::fmt::Display| {
            Failure::new(format!(
                "cannot open the way to the broker in the command's network: {e}. Nothing was run."
            ))
        };
        super::sandbox::loopback_up().map_err(|e| fail(&e))?;
        let listener = TcpListener::bind(("127.0.0.1", 0)).map_err(|e| fail(&e))?;
        let port = listener.local_addr().map_err(|e| fail(&e))?.port();
        sec_proto::caller_dir::send_with_fd(self.socket.as_fd(), b'L', listener.as_fd())
            .map_err(|e| fail(&e))?;
        Ok(port)
    }
}

impl Drop for Link {
    /// Ends the lease: the link exits when its socket closes; wait so it is gone with sec.
    fn drop(&mut self) {
        let _ = self.socket.shutdown(std::net::Shutdown::Both);
        let _ = self.child.wait();
    }
}

/// The lease's variables as the shielded command sees them: the proxy on `port` inside its
/// namespace, the CA files at [`FILES_TARGET`].
pub fn inside_env(leased: &Leased, port: u16) -> Vec<(String, SecretString)> {
    leased
        .env
        .iter()
        .map(|(name, value)| {
            let value = value.expose_secret();
            let inside = if sec_proto::BROKER_PROXY_VARS.contains(&name.as_str()) {
                with_port(value, port)
            } else {
                match &leased.files_dir {
                    Some(dir) => moved(value, dir),
                    None => value.to_string(),
                }
            };
            (name.clone(), SecretString::from(inside))
        })
        .collect()
}

/// `http://USER:PASS@127.0.0.1:PORT` with another port.
fn with_port(url: &str, port: u16) -> String {
    match url.rfind(':') {
        Some(colon) if url[colon + 1..].bytes().all(|b| b.is_ascii_digit()) => {
            format!("{}:{port}", &url[..colon])
        }
        _ => url.to_string(),
    }
}

/// A path in the lease's directory, at its place inside the shield.
fn moved(value: &str, dir: &Path) -> String {
    match Path::new(value).strip_prefix(dir) {
        Ok(rest) if value.starts_with('/') => {
            Path::new(FILES_TARGET).join(rest).display().to_string()
        }
        _ => value.to_string(),
    }
}

/// The link: `sec shield-link`, its standard input a socket pair with `sec shield`.
pub async fn serve_link() -> Result<u8, Failure> {
    // Gone with sec, whatever happens to it.
    let _ = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL);
    let socket = std::io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .map(UnixStream::from)
        .map_err(|e| Failure::new(format!("the broker link has no socket: {e}")))?;
    let mut line = String::new();
    BufReader::new(&socket)
        .read_line(&mut line)
        .map_err(|e| Failure::new(format!("the broker link cannot hear sec: {e}")))?;
    let request: LinkRequest = serde_json::from_str(&line)
        .map_err(|_| Failure::new("the broker link got no command line"))?;
    let leased = take_lease(request.argv).await;
    let reply = match &leased {
        Ok((grant, _)) => LinkReply::Granted {
            lease: grant.lease_id.clone(),
            env: grant
                .env
                .iter()
                .map(|v| (v.name.clone(), v.value.clone()))
                .collect(),
            files_dir: grant.files_dir.clone(),
            notice: grant.notice.clone(),
        },
        Err(failure) => LinkReply::Refused {
            message: failure.message.clone(),
        },
    };
    writeln!(
        &socket,
        "{}",
        serde_json::to_string(&reply).unwrap_or_default()
    )
    .map_err(|e| Failure::new(format!("the broker link cannot answer sec: {e}")))?;
    drop(reply);
    let Ok((grant, mut events)) = leased else {
        return Ok(0);
    };
    let broker = broker_addr(&grant)?;
    drop(grant);
    let Some(listener) = receive_listener(&socket)? else {
        return Ok(0); // sec refused to run the command after all
    };
    listener
        .set_nonblocking(true)
        .map_err(|e| Failure::new(format!("the broker link: {e}")))?;
    let listener = tokio::net::TcpListener::from_std(listener)
        .map_err(|e| Failure::new(format!("the broker link: {e}")))?;
    let mut sec_gone = tokio::task::spawn_blocking(move || {
        let mut byte = [0u8; 1];
        while matches!((&socket).read(&mut byte), Ok(n) if n > 0) {}
    });
    loop {
        tokio::select! {
            _ = &mut sec_gone => break,
            // Revoked, or secd gone: the broker is gone too; so is the way to it.
            event = events.message() => {
                if let Some(revoked) = revoked(&event) {
                    stop_shield(&revoked);
                    break;
                }
                if !matches!(event, Ok(Some(_))) {
                    break;
                }
            }
            accepted = listener.accept() => {
                if let Ok((inside, _)) = accepted {
                    tokio::spawn(carry(inside, broker));
                }
            }
        }
    }
    Ok(0)
}

/// The revocation in a lease event, if it is one.
fn revoked(
    event: &Result<Option<sec_proto::pb::LeaseEvent>, tonic::Status>,
) -> Option<sec_proto::pb::Revoked> {
    use sec_proto::pb::lease_event::Event;
    match event {
        Ok(Some(sec_proto::pb::LeaseEvent {
            event: Some(Event::Revoked(revoked)),
        })) => Some(revoked.clone()),
        _ => None,
    }
}

/// The scope's `on_revoke`: with "terminate", SIGTERM to `sec shield`, which passes it to
/// the command (and its init ends everything else); with "keep", the command goes on
/// without the broker, so without network.
fn stop_shield(revoked: &sec_proto::pb::Revoked) {
    if revoked.terminate {
        eprintln!("sec: {}; stopping the shielded command", revoked.reason);
        let _ = nix::sys::signal::kill(nix::unistd::getppid(), nix::sys::signal::Signal::SIGTERM);
    } else {
        eprintln!(
            "sec: {}; the shielded command keeps running, without the broker",
            revoked.reason
        );
    }
}

async fn take_lease(
    argv: Vec<String>,
) -> Result<
    (
        sec_proto::pb::Grant,
        tonic::Streaming<sec_proto::pb::LeaseEvent>,
    ),
    Failure,
> {
    let cwd = std::env::current_dir()
        .map_err(|e| Failure::new(format!("cannot tell the current directory: {e}")))?;
    let mut client = crate::daemon_conn::connect(true).await?;
    let request = sec_proto::pb::LeaseRequest {
        argv,
        cwd: cwd.display().to_string(),
        only: Vec::new(),
        shield: true,

        ..Default::default()
    };
    crate::exec::request_lease(&mut client, request).await
}

/// The broker's address on the host's loopback, from the proxy variable.
fn broker_addr(grant: &sec_proto::pb::Grant) -> Result<SocketAddr, Failure> {
    grant
        .env
        .iter()
        .find(|v| v.name == sec_proto::BROKER_PROXY_VARS[0])
        .and_then(|v| v.value.rsplit('@').next()?.parse().ok())
        .ok_or_else(|| Failure::new("secd granted a shield lease without a broker"))
}

/// The listening socket `sec` made in the command's namespace, or `None` if sec ended.
fn receive_listener(socket: &UnixStream) -> Result<Option<TcpListener>, Failure> {
    let (_, fds) = sec_proto::caller_dir::receive_with_fds(
        socket.as_raw_fd(),
        nix::sys::socket::MsgFlags::empty(),
    )
    .map_err(|e| Failure::new(format!("the broker link cannot receive the listener: {e}")))?;
    Ok(fds.into_iter().next().map(TcpListener::from))
}

/// One connection of the command, carried to the broker and back.
async fn carry(mut inside: tokio::net::TcpStream, broker: SocketAddr) {
    if let Ok(mut outside) = tokio::net::TcpStream::connect(broker).await {
        let _ = tokio::io::copy_bidirectional(&mut inside, &mut outside).await;
    }
}
