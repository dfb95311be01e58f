//! Fuzzing the requests that arrive on the socket: arbitrary and mutated bytes decoded as
//! each request message of `sec.v1`, then the checks the service runs on them before any
//! state is touched (references, directories, a lease's argv and cwd). Replay a failure
//! with the command its report prints.

use std::fmt;

use prost::Message;
use sec_fuzz::{Bytes, MARKER, Rng, scramble};

use super::*;
use crate::daemon::grant::command_allowed;

const DICTIONARY: &[&[u8]] = &[
    b"\x08",
    b"\x10",
    b"\x18",
    b"\x0a",
    b"\x12",
    b"\x1a",
    b"\x22",
    b"\x0b",
    b"\x0c",
    b"\x00",
    b"\x7f",
    b"\x80",
    b"\xff\xff\xff\xff\x0f",
    b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",
    b"\x0a\x00",
    b"\x12\x05keyri",
    b"keyring:",
    b"/",
    b"\xc3",
    b"\xff",
    MARKER.as_bytes(),
];

/// A string field: references (with the planted value), directories, words.
fn text(rng: &mut Rng) -> String {
    match rng.below(12) {
        0 => format!("keyring:pypi/{MARKER}"),
        1 => format!("pass:{MARKER}#a:b"),
        2 => format!("cmd:echo {MARKER} | cat"),
        3 => format!("vault:{MARKER}"),
        4 => format!("op://{MARKER}"),
        5 => format!("local: {MARKER}"),
        6 => MARKER.to_owned(),
        7 => {
            (*rng.pick(&["keyring:pypi/coveragepy", "local:x", "keyutils:a b", "cmd:"])).to_owned()
        }
        8 => (*rng.pick(&["/home/u/src", "/a/../b", "relative", "", "/", "//x/./y"])).to_owned(),
        _ => rng.word(),
    }
}

fn texts(rng: &mut Rng) -> Vec<String> {
    (0..rng.size(4)).map(|_| text(rng)).collect()
}

/// One request of a random type, encoded.
fn request(rng: &mut Rng) -> Vec<u8> {
    match rng.below(17) {
        0 => pb::HelloRequest {
            client_protocol: rng.next_u64() as u32,
        }
        .encode_to_vec(),
        1 => pb::StatusRequest {}.encode_to_vec(),
        2 => pb::ResolveRequest { dir: text(rng) }.encode_to_vec(),
        3 => pb::UnlockRequest { dir: text(rng) }.encode_to_vec(),
        4 => pb::LeaseRequest {
            argv: texts(rng),
            cwd: text(rng),
            shield: rng.next_u64().is_multiple_of(2),
            in_place: rng.next_u64().is_multiple_of(2),
            protocol: rng.next_u64() as u32,
            only: texts(rng),
        }
        .encode_to_vec(),
        5 => pb::LeaseStartedRequest {
            lease_id: text(rng),
            child_pid: rng.next_u64() as u32,
            failure: text(rng),
        }
        .encode_to_vec(),
        6 => pb::RevokeRequest {
            dir: text(rng),
            lease_id: if rng.one_in(2) {
                String::new()
            } else {
                text(rng)
            },
            reference: text(rng),
        }
        .encode_to_vec(),
        7 => pb::AllowRequest {
            dir: text(rng),
            sha256: text(rng),
            confirmed: rng.below(2) == 0,
        }
        .encode_to_vec(),
        8 => pb::DenyRequest { dir: text(rng) }.encode_to_vec(),
        9 => pb::StoreRequest {
            reference: text(rng),
            value: text(rng),
            keep_existing: rng.below(2) == 0,
        }
        .encode_to_vec(),
        10 => pb::DeleteRequest {
            reference: text(rng),
        }
        .encode_to_vec(),
        11 => pb::VerifyRequest {
            reference: text(rng),
            value: text(rng),
        }
        .encode_to_vec(),
        12 => pb::LocalStatusRequest {}.encode_to_vec(),
        13 => pb::UnlockLocalRequest {
            passphrase: text(rng),
            create: rng.one_in(2),
            use_askpass: rng.one_in(2),
        }
        .encode_to_vec(),
        14 => pb::ChangeLocalPassphraseRequest {
            old_passphrase: text(rng),
            new_passphrase: text(rng),
        }
        .encode_to_vec(),
        15 => pb::GitCredentialRequest {
            action: (*rng.pick(&["get", "store", "erase", "fill"])).to_owned(),
            protocol: text(rng),
            host: text(rng),
            path: text(rng),
            username: text(rng),
            password: text(rng),
        }
        .encode_to_vec(),
        _ => pb::ShutdownRequest {}.encode_to_vec(),
    }
}

fn generate(rng: &mut Rng) -> Bytes {
    if rng.one_in(16) {
        return Bytes(sec_fuzz::noise(rng, DICTIONARY));
    }
    let mut bytes = request(rng);
    if rng.one_in(4) {
        // Two messages back to back decode as one, merged.
        bytes.extend(request(rng));
    }
    if !rng.one_in(4) {
        sec_fuzz::mutate(rng, &mut bytes, DICTIONARY);
    }
    Bytes(bytes)
}

/// `bytes` as a message of type `M`, when they are one. What was read writes back and reads
/// again as the same message.
fn decoded<M: Message + Default + PartialEq + fmt::Debug>(bytes: &[u8]) -> Option<M> {
    let message = M::decode(bytes).ok()?;
    let again = M::decode(message.encode_to_vec().as_slice()).unwrap();
    assert_eq!(again, message);
    Some(message)
}

fn check_dir(dir: &str) {
    match absolute_dir(dir) {
        Ok(path) => assert!(
            path.is_absolute() && Path::new(dir).is_absolute(),
            "{path:?}"
        ),
        Err(status) => assert_eq!(status.code(), tonic::Code::InvalidArgument),
    }
}

/// A refused reference's message never repeats the text: not the planted value, and not
/// any letter or digit after the scheme (the text may be a token pasted by mistake).
fn check_reference(text: &str) {
    let status = match parse_reference(text) {
        Ok(reference) => return assert_eq!(reference.to_string(), text),
        Err(status) => status,
    };
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert!(!status.message().contains(MARKER), "{status:?}");
    let other = match text.split_once(':') {
        Some((scheme, rest)) => format!("{scheme}:{}", scramble(rest)),
        None => scramble(text),
    };
    let other_status = parse_reference(&other).unwrap_err();
    assert_eq!(other_status.message(), status.message(), "{other:?}");
}

fn check_secret(value: &str) {
    assert_eq!(vault::into_secret(value.to_owned()).expose_secret(), value);
}

fn check(bytes: &[u8]) {
    decoded::<pb::HelloRequest>(bytes);
    decoded::<pb::StatusRequest>(bytes);
    decoded::<pb::LocalStatusRequest>(bytes);
    decoded::<pb::ShutdownRequest>(bytes);
    decoded::<pb::LeaseStartedRequest>(bytes);
    if let Some(git) = decoded::<pb::GitCredentialRequest>(bytes) {
        check_secret(&git.password);
    }
    for dir in [
        decoded::<pb::ResolveRequest>(bytes).map(|m| m.dir),
        decoded::<pb::UnlockRequest>(bytes).map(|m| m.dir),
        decoded::<pb::AllowRequest>(bytes).map(|m| m.dir),
        decoded::<pb::DenyRequest>(bytes).map(|m| m.dir),
    ]
    .into_iter()
    .flatten()
    {
        check_dir(&dir);
    }
    if let Some(lease) = decoded::<pb::LeaseRequest>(bytes) {
        // A claimed directory is never taken: without a handle there is none.
        let cwd = peer::caller_cwd(&sec_proto::socket::Peer::default(), &lease.cwd);
        assert!(cwd.is_none(), "a claimed directory was taken");
        let rules = [
            vec!["twine".to_owned(), "upload".to_owned()],
            vec!["/usr/bin/make".to_owned()],
        ];
        if command_allowed(&rules, &lease.argv) {
            assert!(!lease.argv.is_empty());
        }
        sec_proto::shell_words(&lease.argv);
    }
    if let Some(revoke) = decoded::<pb::RevokeRequest>(bytes) {
        // The service's order: a lease id, else a reference, else a directory.
        if revoke.lease_id.is_empty() && !revoke.reference.is_empty() {
            check_reference(&revoke.reference);
        } else if revoke.lease_id.is_empty() && !revoke.dir.is_empty() {
            check_dir(&revoke.dir);
        }
    }
    if let Some(store) = decoded::<pb::StoreRequest>(bytes) {
        check_reference(&store.reference);
        check_secret(&store.value);
    }
    if let Some(delete) = decoded::<pb::DeleteRequest>(bytes) {
        check_reference(&delete.reference);
    }
    if let Some(verify) = decoded::<pb::VerifyRequest>(bytes) {
        check_reference(&verify.reference);
        check_secret(&verify.value);
    }
    if let Some(unlock) = decoded::<pb::UnlockLocalRequest>(bytes) {
        check_secret(&unlock.passphrase);
    }
    if let Some(change) = decoded::<pb::ChangeLocalPassphraseRequest>(bytes) {
        check_secret(&change.old_passphrase);
        check_secret(&change.new_passphrase);
    }
}

#[test]
fn fuzz_requests() {
    sec_fuzz::run("fuzz_requests", 20_000, generate, check);
}
