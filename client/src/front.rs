//! `sec` on Linux: the small front of the client. A plain `sec exec -- CMD` asks for its lease
//! here, without gRPC, and becomes the command (`exec_in_place::attempt`); every other
//! command line, and every lean request that needs more than this (starting secd, a
//! passphrase, supervision), is handed to `sec-cli` beside this binary with execve, same
//! process, same arguments.
//!
//! Why two binaries: with the lean path, what `sec exec -- true` added to the command was
//! mostly `sec`'s own start, and that grew with the binary (relocations and page faults of
//! the whole client, clap, gRPC and the shield included). The linker keeps in this binary only
//! what the front calls (docs/DECISIONS.md, "`sec` is a small front").

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;

use crate::exec::EXIT_SEC_FAILED;
use crate::exec_in_place::{self, Attempt};

/// The whole client's binary, installed beside `sec`.
pub const CLI_NAME: &str = "sec-cli";

/// `sec`'s `main` on Linux, which the binary enters without std's runtime (`#![no_main]`,
/// src/main.rs): the runtime's start (the main thread's stack guard read from
/// /proc/self/maps, signal stacks and handlers) cost 0.05 ms of every `sec exec`. Of what it
/// did, the front needs two things: descriptors 0-2 open ([`keep_standard_descriptors`]) and
/// no SIGPIPE from a closed socket (the lean path sends with MSG_NOSIGNAL). Returns the exit
/// status.
pub fn front() -> u8 {
    keep_standard_descriptors();
    let args: Vec<OsString> = std::env::args_os().collect();
    // argv may be empty (execve allows it): sec-cli then shows its usage as `sec`.
    let arg0 = args
        .first()
        .cloned()
        .unwrap_or_else(|| OsString::from("sec"));
    if let Some(argv) = exec_in_place::command_line(&args) {
        match exec_in_place::attempt(&argv) {
            Attempt::Full { .. } => {}
            Attempt::Refused(failure) => return crate::exit_code(Err(failure), true),
            // Telling secd needs gRPC: sec-cli does it and reports the failure.
            Attempt::NotStarted { lease_id, failure } => {
                let code = failure.code.unwrap_or(EXIT_SEC_FAILED).to_string();
                let report = [
                    crate::cli::LEASE_NOT_STARTED,
                    &lease_id,
                    &code,
                    "--",
                    &failure.message,
                ];
                return run_cli(&arg0, report.iter().map(OsString::from));
            }
        }
    }
    run_cli(&arg0, args.iter().skip(1).cloned())
}

/// What std's runtime does before `main`: a descriptor among 0-2 that the caller left
/// closed is opened on /dev/null, so that nothing this process opens (the daemon's socket)
/// takes its place and reaches the command as its standard input or output.
fn keep_standard_descriptors() {
    use std::os::fd::{AsRawFd, IntoRawFd};
    while let Ok(null) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    {
        if null.as_raw_fd() > 2 {
            break;
        }
        // It filled a closed standard descriptor: it stays open there, for good, and across
        // execve (std opens files close-on-exec).
        let _ = nix::fcntl::fcntl(
            &null,
            nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty()),
        );
        let _ = null.into_raw_fd();
    }
}

/// Becomes `sec-cli` with `args` (and `sec`'s own name as its argv[0], for messages).
fn run_cli(arg0: &OsString, args: impl Iterator<Item = OsString>) -> u8 {
    let cli = match cli_path() {
        Ok(cli) => cli,
        Err(e) => {
            eprintln!(
                "sec: cannot tell where this sec is installed ({e}), so cannot find {CLI_NAME} beside it"
            );
            return EXIT_SEC_FAILED;
        }
    };
    let error = Command::new(&cli).arg0(arg0).args(args).exec();
    eprintln!(
        "sec: cannot run {} ({error}); sec and {CLI_NAME} are installed together: reinstall both (cargo install --locked --path client)",
        cli.display()
    );
    EXIT_SEC_FAILED
}

/// `sec-cli` in the directory of this executable (links resolved: the installed pair).
fn cli_path() -> std::io::Result<PathBuf> {
    Ok(std::env::current_exe()?.with_file_name(CLI_NAME))
}
