//! `sec exec`'s fast path: one lease request beside gRPC on the daemon's socket, without
//! HTTP/2, a runtime or a second round trip, after which `sec` replaces itself with the
//! command (execve). The frames are the protobuf messages of `sec.proto`:
//!
//! ```text
//! client: PREAMBLE (with the directory handle, see caller_dir), LEAN_LEASE,
//!         u32 big-endian length, LeaseRequest { in_place: true, protocol, .. }
//! daemon: u32 big-endian length, LeanLeaseReply { grant | refusal }, then it closes
//! ```
//!
//! A daemon too old for this reads `LEAN_LEASE` as HTTP/2 and closes the connection: the
//! client then asks again through gRPC, which replaces such a daemon.

use std::io::{self, Read};

use prost::Message;

use crate::pb;

/// The byte after the preamble that asks for the lean path; HTTP/2 starts with `P`.
pub const LEAN_LEASE: u8 = 1;
/// The largest frame either side takes (a command line of megabytes is refused, not read).
pub const MAX_FRAME: usize = 4 * 1024 * 1024;

/// The client's side, blocking: on a fresh connection, sends the preamble and then
/// `request`, and reads the reply. An error means the daemon did not answer on this path.
/// The request is encoded first, then sent right behind the preamble: measured on 2 cores,
/// one `sendmsg` carrying both, or a preamble sent before the encoding, each cost secd an
/// extra wake-up and `sec exec` about 0.12 ms.
pub fn ask(
    stream: &mut std::os::unix::net::UnixStream,
    request: &pb::LeaseRequest,
) -> io::Result<pb::LeanLeaseReply> {
    let body = request.encode_to_vec();
    let mut frame = Vec::with_capacity(body.len() + 5);
    frame.push(LEAN_LEASE);
    frame.extend_from_slice(&frame_len(body.len())?.to_be_bytes());
    frame.extend_from_slice(&body);
    crate::caller_dir::send(std::os::fd::AsFd::as_fd(stream))?;
    // send(MSG_NOSIGNAL), not write: a daemon that closed the connection (one older than
    // the lean path) is an error to fall back from, never SIGPIPE.
    let mut sent = 0;
    while sent < frame.len() {
        sent += nix::sys::socket::send(
            std::os::fd::AsRawFd::as_raw_fd(stream),
            &frame[sent..],
            nix::sys::socket::MsgFlags::MSG_NOSIGNAL,
        )?;
    }
    // Most replies arrive in one read; the length says whether more must follow.
    let mut reply = vec![0u8; 4096];
    let mut have = 0;
    loop {
        let n = stream.read(&mut reply[have..])?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        have += n;
        if have < 4 {
            continue;
        }
        let len = checked_len(reply[..4].try_into().expect("four bytes"))?;
        if reply.len() < 4 + len {
            reply.resize(4 + len, 0);
        }
        if have >= 4 + len {
            return pb::LeanLeaseReply::decode(&reply[4..4 + len]).map_err(io::Error::other);
        }
    }
}

/// The daemon's side: the request after `LEAN_LEASE` (which the caller has read).
pub async fn read_request(
    stream: &mut (impl tokio::io::AsyncRead + Unpin),
) -> io::Result<pb::LeaseRequest> {
    use tokio::io::AsyncReadExt;
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).await?;
    let len = checked_len(len)?;
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body).await?;
    pb::LeaseRequest::decode(body.as_slice()).map_err(io::Error::other)
}

/// The daemon's side: the reply.
pub async fn write_reply(
    stream: &mut (impl tokio::io::AsyncWrite + Unpin),
    reply: &pb::LeanLeaseReply,
) -> io::Result<()> {
    use tokio::io::AsyncWriteExt;
    let body = reply.encode_to_vec();
    let mut frame = Vec::with_capacity(body.len() + 4);
    frame.extend_from_slice(&frame_len(body.len())?.to_be_bytes());
    frame.extend_from_slice(&body);
    stream.write_all(&frame).await?;
    stream.flush().await
}

fn frame_len(len: usize) -> io::Result<u32> {
    if len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("a lease request of {len} bytes is larger than {MAX_FRAME}"),
        ));
    }
    Ok(len as u32)
}

fn checked_len(bytes: [u8; 4]) -> io::Result<usize> {
    let len = u32::from_be_bytes(bytes) as usize;
    if len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a frame of {len} bytes is larger than {MAX_FRAME}"),
        ));
    }
    Ok(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `ask` on one end of a socket pair, the daemon's side on the other, answering `reply`.
    async fn cross(reply: pb::LeanLeaseReply) {
        let (client, server) = std::os::unix::net::UnixStream::pair().unwrap();
        let request = pb::LeaseRequest {
            argv: vec!["true".into()],
            in_place: true,
            protocol: crate::PROTOCOL,
            ..Default::default()
        };
        let sent = request.clone();
        let asking = std::thread::spawn(move || {
            let mut client = client;
            ask(&mut client, &sent)
        });
        server.set_nonblocking(true).unwrap();
        let mut server = tokio::net::UnixStream::from_std(server).unwrap();
        let preamble = crate::caller_dir::receive(&server).await.unwrap();
        assert!(
            matches!(preamble, crate::caller_dir::First::Dir(Some(_))),
            "the preamble comes first, with the working directory's handle"
        );
        let mut first = [0u8; 1];
        tokio::io::AsyncReadExt::read_exact(&mut server, &mut first)
            .await
            .unwrap();
        assert_eq!(first[0], LEAN_LEASE);
        assert_eq!(read_request(&mut server).await.unwrap(), request);
        write_reply(&mut server, &reply).await.unwrap();
        assert_eq!(asking.join().unwrap().unwrap(), reply);
    }

    fn refusal(message: String) -> pb::LeanLeaseReply {
        pb::LeanLeaseReply {
            reply: Some(pb::lean_lease_reply::Reply::Refusal(pb::LeanRefusal {
                code: 7,
                message,
                retry_with_grpc: false,
            })),
        }
    }

    #[tokio::test]
    async fn a_request_and_its_reply_cross_intact() {
        cross(refusal("no".into())).await;
    }

    #[tokio::test]
    async fn a_reply_longer_than_the_first_read_arrives_whole() {
        cross(refusal("x".repeat(100_000))).await;
    }

    #[tokio::test]
    async fn an_oversized_frame_is_refused_unread() {
        let (mut client, server) = std::os::unix::net::UnixStream::pair().unwrap();
        std::io::Write::write_all(&mut client, &u32::MAX.to_be_bytes()).unwrap();
        server.set_nonblocking(true).unwrap();
        let mut server = tokio::net::UnixStream::from_std(server).unwrap();
        let error = read_request(&mut server).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
    }
}
