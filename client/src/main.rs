//! `sec`. On Linux the small front of the client (src/front.rs): a plain `sec exec -- CMD`
//! takes its lease and becomes the command, anything else runs `sec-cli`. Elsewhere it is
//! the whole client.
//!
//! On Linux the front is entered from the C `main`, without std's runtime start
//! (`sec_client::front` says what that saves and what the front does of it itself).
#![cfg_attr(all(target_os = "linux", not(test)), no_main)]

#[cfg(all(target_os = "linux", not(test)))]
// The one unsafe item of the client: `main` must be the unmangled C symbol that libc's start
// calls. It takes nothing from its arguments (std reads argv itself) and calls safe code.
#[allow(unsafe_code)]
#[unsafe(no_mangle)]
extern "C" fn main(
    _argc: std::ffi::c_int,
    _argv: *const *const std::ffi::c_char,
) -> std::ffi::c_int {
    std::ffi::c_int::from(sec_client::front())
}

#[cfg(any(not(target_os = "linux"), test))]
fn main() -> std::process::ExitCode {
    sec_client::run()
}
