//! `sec`. On Linux the small front of the client (src/front.rs): a plain `sec exec -- CMD`
//! takes its lease and becomes the command, anything else runs `sec-cli`. Elsewhere it is
//! the whole client.

fn main() -> std::process::ExitCode {
    #[cfg(target_os = "linux")]
    let code = sec_client::front();
    #[cfg(not(target_os = "linux"))]
    let code = sec_client::run();
    code
}
