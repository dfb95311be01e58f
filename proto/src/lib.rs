//! The wire between `sec` and `secd`: the generated gRPC code for package `sec.v1`, the
//! protocol number both sides compare at the handshake, and the local-socket transport
//! (where the socket lives, how it is checked, served and reached).

pub mod launch;
pub mod socket;

/// Generated messages, client and server for `proto/sec/v1/sec.proto`.
pub mod pb {
    tonic::include_proto!("sec.v1");
}

/// Bumped whenever a change to `sec.proto` would make an older peer misunderstand a newer
/// one. Client and daemon compare it in `Hello`; on a mismatch the client restarts the daemon.
pub const PROTOCOL: u32 = 1;

/// The version of the sec workspace, reported by both binaries.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
