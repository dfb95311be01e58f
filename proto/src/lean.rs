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

use std::io::{self, Read, Write};

use prost::Message;

use crate::pb;

/// The byte after the preamble that asks for the lean path; HTTP/2 starts with `P`.
pub const LEAN_LEASE: u8 = 1;
/// The largest frame either side takes (a command line of megabytes is refused, not read).
pub const MAX_FRAME: usize = 4 * 1024 * 1024;

/// The client's side, blocking: sends `request` on a connection that has sent its
/// preamble, and reads the reply. An error means the daemon did not answer on this path.
pub fn ask(
    stream: &mut std::os::unix::net::UnixStream,
    request: &pb::LeaseRequest,
) -> io::Result<pb::LeanLeaseReply> {
    let body = request.encode_to_vec();
    let mut frame = Vec::with_capacity(body.len() + 5);
    frame.push(LEAN_LEASE);
    frame.extend_from_slice(&frame_len(body.len())?.to_be_bytes());
    frame.extend_from_slice(&body);
    stream.write_all(&frame)?;
    let mut len = [0u8; 4];
    stream.read_exact(&mut len)?;
    let len = checked_len(len)?;
    let mut reply = vec![0u8; len];
    stream.read_exact(&mut reply)?;
    pb::LeanLeaseReply::decode(reply.as_slice()).map_err(io::Error::other)
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

    #[tokio::test]
    async fn a_request_and_its_reply_cross_intact() {
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
        let mut first = [0u8; 1];
        tokio::io::AsyncReadExt::read_exact(&mut server, &mut first)
            .await
            .unwrap();
        assert_eq!(first[0], LEAN_LEASE);
        assert_eq!(read_request(&mut server).await.unwrap(), request);
        let reply = pb::LeanLeaseReply {
            reply: Some(pb::lean_lease_reply::Reply::Refusal(pb::LeanRefusal {
                code: 7,
                message: "no".into(),
                retry_with_grpc: false,
            })),
        };
        write_reply(&mut server, &reply).await.unwrap();
        assert_eq!(asking.join().unwrap().unwrap(), reply);
    }

    #[tokio::test]
    async fn an_oversized_frame_is_refused_unread() {
        let (mut client, server) = std::os::unix::net::UnixStream::pair().unwrap();
        client.write_all(&u32::MAX.to_be_bytes()).unwrap();
        server.set_nonblocking(true).unwrap();
        let mut server = tokio::net::UnixStream::from_std(server).unwrap();
        let error = read_request(&mut server).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
    }
}
