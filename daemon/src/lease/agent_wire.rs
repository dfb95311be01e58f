//! The SSH agent protocol (draft-miller-ssh-agent), as much as an agent that lists its keys
//! and signs needs: frames, the requests it answers, and its replies. Any other request (add,
//! remove, lock, other extensions) is answered with SSH_AGENT_FAILURE by the caller.

use sec_proto::openssh::{put_string, string, u32_be};
use ssh_key::Signature;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

const FAILURE: u8 = 5;
const SUCCESS: u8 = 6;
const REQUEST_IDENTITIES: u8 = 11;
const IDENTITIES_ANSWER: u8 = 12;
const SIGN_REQUEST: u8 = 13;
const SIGN_RESPONSE: u8 = 14;
const EXTENSION: u8 = 27;
/// Sign-request flags: which SHA-2 an RSA signature uses.
pub const RSA_SHA2_256: u32 = 2;
pub const RSA_SHA2_512: u32 = 4;
/// OpenSSH's own agent takes messages up to 256 KiB.
const MAX_FRAME: usize = 256 * 1024;

pub struct SignRequest {
    /// The public key's wire blob.
    pub key_blob: Vec<u8>,
    pub data: Vec<u8>,
    pub flags: u32,
}

pub enum Request {
    Identities,
    Sign(SignRequest),
    /// `session-bind@openssh.com`: the server's host key, in wire form.
    SessionBind {
        host_key: Vec<u8>,
    },
    Other,
}

/// The next frame's body, or `None` when the client closed the connection. A frame that is
/// empty or longer than `MAX_FRAME` is an error: the connection is closed.
pub async fn read_frame(stream: &mut UnixStream) -> std::io::Result<Option<Vec<u8>>> {
    let mut length = [0u8; 4];
    match stream.read_exact(&mut length).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let length = u32::from_be_bytes(length) as usize;
    if length == 0 || length > MAX_FRAME {
        return Err(std::io::Error::other("an SSH agent frame of a bad length"));
    }
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).await?;
    Ok(Some(body))
}

pub async fn write_frame(stream: &mut UnixStream, body: &[u8]) -> std::io::Result<()> {
    let mut frame = Vec::with_capacity(4 + body.len());
    frame.extend_from_slice(&(body.len() as u32).to_be_bytes());
    frame.extend_from_slice(body);
    stream.write_all(&frame).await
}

/// What a frame asks; `None` for a request this agent knows but that is malformed.
pub fn parse(frame: &[u8]) -> Option<Request> {
    let (&kind, mut rest) = frame.split_first()?;
    let request = match kind {
        REQUEST_IDENTITIES => Request::Identities,
        SIGN_REQUEST => Request::Sign(SignRequest {
            key_blob: string(&mut rest)?.to_vec(),
            data: string(&mut rest)?.to_vec(),
            flags: u32_be(&mut rest)?,
        }),
        EXTENSION => {
            let name = string(&mut rest)?;
            if name != b"session-bind@openssh.com" {
                return Some(Request::Other);
            }
            // host key, session identifier, signature, is-forwarding: only the key is used.
            Request::SessionBind {
                host_key: string(&mut rest)?.to_vec(),
            }
        }
        _ => return Some(Request::Other),
    };
    Some(request)
}

pub fn failure() -> Vec<u8> {
    vec![FAILURE]
}

pub fn success() -> Vec<u8> {
    vec![SUCCESS]
}

/// The keys, as (public key blob, comment).
pub fn identities_answer<'a>(keys: impl Iterator<Item = (Vec<u8>, &'a str)>) -> Vec<u8> {
    let keys: Vec<_> = keys.collect();
    let mut out = vec![IDENTITIES_ANSWER];
    out.extend_from_slice(&(keys.len() as u32).to_be_bytes());
    for (blob, comment) in keys {
        put_string(&mut out, &blob);
        put_string(&mut out, comment.as_bytes());
    }
    out
}

/// A signature as `string(string(algorithm) string(signature bytes))`: software keys only
/// (no security-key signatures, which carry a trailer).
pub fn sign_response(signature: &Signature) -> Vec<u8> {
    let mut blob = Vec::new();
    put_string(&mut blob, signature.algorithm().as_str().as_bytes());
    put_string(&mut blob, signature.as_bytes());
    let mut out = vec![SIGN_RESPONSE];
    put_string(&mut out, &blob);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_parse_and_truncated_ones_do_not() {
        let mut sign = vec![SIGN_REQUEST];
        put_string(&mut sign, b"blob");
        put_string(&mut sign, b"data to sign");
        sign.extend_from_slice(&RSA_SHA2_512.to_be_bytes());
        let Some(Request::Sign(request)) = parse(&sign) else {
            panic!("a sign request did not parse");
        };
        assert_eq!(
            (&request.key_blob[..], &request.data[..], request.flags),
            (&b"blob"[..], &b"data to sign"[..], RSA_SHA2_512)
        );
        for cut in 1..sign.len() {
            assert!(parse(&sign[..cut]).is_none(), "a truncated request parsed");
        }

        let mut bind = vec![EXTENSION];
        put_string(&mut bind, b"session-bind@openssh.com");
        put_string(&mut bind, b"host key");
        assert!(
            matches!(parse(&bind), Some(Request::SessionBind { host_key }) if host_key == b"host key")
        );
        let mut other = vec![EXTENSION];
        put_string(&mut other, b"query");
        assert!(matches!(parse(&other), Some(Request::Other)));
        assert!(matches!(parse(&[17]), Some(Request::Other))); // ADD_IDENTITY
        assert!(matches!(
            parse(&[REQUEST_IDENTITIES]),
            Some(Request::Identities)
        ));
        assert!(parse(&[]).is_none());
        // A length that claims more than there is.
        assert!(parse(&[SIGN_REQUEST, 0xff, 0xff, 0xff, 0xff]).is_none());
    }

    #[test]
    fn identities_answer_lists_blobs_and_comments() {
        let answer = identities_answer([(b"k1".to_vec(), "one"), (b"k2".to_vec(), "")].into_iter());
        let mut rest = &answer[1..];
        assert_eq!(answer[0], IDENTITIES_ANSWER);
        assert_eq!(u32_be(&mut rest), Some(2));
        assert_eq!(string(&mut rest), Some(&b"k1"[..]));
        assert_eq!(string(&mut rest), Some(&b"one"[..]));
        assert_eq!(string(&mut rest), Some(&b"k2"[..]));
        assert_eq!(string(&mut rest), Some(&b""[..]));
        assert!(rest.is_empty());
    }
}
