//! The generated code in `src/pb/sec.v1.rs` is checked in, so that building sec compiles no
//! protobuf toolchain (issue 14: a third of the build was protox, prost-build and their regex
//! and parser crates). This test compiles `sec/v1/sec.proto` the way a build script would
//! (protox, pure Rust, then tonic-prost-build) and compares.
//!
//! After changing the proto: `SEC_REGENERATE_PROTO=1 cargo test -p sec-proto pb_regen`.

use std::path::Path;

#[test]
fn checked_in_code_matches_the_proto() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = tempfile::tempdir().unwrap();
    let fds = protox::compile([root.join("sec/v1/sec.proto")], [root]).unwrap();
    tonic_prost_build::configure()
        .out_dir(out.path())
        .compile_fds(fds)
        .unwrap();
    let generated = std::fs::read_to_string(out.path().join("sec.v1.rs")).unwrap();
    let checked_in_path = root.join("src/pb/sec.v1.rs");
    if std::env::var_os("SEC_REGENERATE_PROTO").is_some() {
        std::fs::write(&checked_in_path, &generated).unwrap();
        return;
    }
    let checked_in = std::fs::read_to_string(&checked_in_path).unwrap();
    assert!(
        checked_in == generated,
        "{} does not match sec/v1/sec.proto; regenerate it with \
         `SEC_REGENERATE_PROTO=1 cargo test -p sec-proto pb_regen` and commit the result",
        checked_in_path.display()
    );
}
