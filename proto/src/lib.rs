//! The wire between `sec` and `secd`: the generated gRPC code for package `sec.v1`, the
//! protocol number both sides compare at the handshake, and the local-socket transport
//! (where the socket lives, how it is checked, served and reached).

pub mod audit;
#[cfg(unix)]
pub mod caller_dir;
pub mod config;
pub mod display;
pub mod launch;
#[cfg(unix)]
pub mod lean;
pub mod nofollow;
pub mod openssh;
pub mod paths;
pub mod reference;
pub mod shell;
pub mod socket;
pub mod token;

/// Generated messages, client and server for `proto/sec/v1/sec.proto`. The generated code
/// is checked in (`src/pb/sec.v1.rs`), so a build compiles no protobuf toolchain; the test
/// `pb_regen::checked_in_code_matches_the_proto` fails when it no longer matches the proto
/// and says how to regenerate it.
pub mod pb {
    include!("pb/sec.v1.rs");
}

#[cfg(test)]
mod pb_regen;

/// The environment variable `sec exec` sets in the child to the lease's id (not a secret):
/// it is how secd finds every process of a lease, descendants that reparented included.
pub const LEASE_MARKER: &str = "SEC_LEASE";

/// The variables that send a brokered lease's HTTPS through its broker
/// (`http://sec:TOKEN@127.0.0.1:PORT`): secd sets them, `sec shield` moves their port into
/// its network namespace.
pub const BROKER_PROXY_VARS: [&str; 2] = ["HTTPS_PROXY", "https_proxy"];

/// Bumped whenever a change to `sec.proto` would make an older peer misunderstand a newer
/// one. Client and daemon compare it in `Hello`; on a mismatch the client restarts the daemon.
// 4: `LeaseRequest.shield` (an older daemon would ignore it and hand a shield real values).
pub const PROTOCOL: u32 = 4;

/// The version of the sec workspace, reported by both binaries.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Moves a value that arrived as a `String` (a protobuf field, a program's output) into a
/// `SecretString` and wipes the original buffer: `SecretString::from(String)` may reallocate
/// and leave the old bytes behind. Both sides receive secrets this way.
pub fn into_secret(mut plain: String) -> secrecy::SecretString {
    let secret = secrecy::SecretString::from(plain.as_str());
    zeroize::Zeroize::zeroize(&mut plain);
    secret
}

/// A command line as a user would type it: words with spaces or quotes single-quoted. How
/// both sides show commands (confirmation prompts, refusals, `sec log`).
pub fn shell_words(argv: &[String]) -> String {
    argv.iter()
        .map(|w| shell::quote_if_needed(w))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    #[test]
    fn shell_words_quotes_what_a_shell_would_split() {
        let argv: Vec<String> = ["sh", "-c", "echo 'hi' there", ""].map(String::from).into();
        assert_eq!(
            super::shell_words(&argv),
            r"sh -c 'echo '\''hi'\'' there' ''"
        );
    }
}
