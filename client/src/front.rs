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
use std::process::{Command, ExitCode};

use crate::exec::EXIT_SEC_FAILED;
use crate::exec_in_place::{self, Attempt};

/// The whole client's binary, installed beside `sec`.
pub const CLI_NAME: &str = "sec-cli";

/// The hidden `sec-cli` command that tells secd a lease's command never started, then says
/// why (exit code, then the sentence).
pub const NOT_STARTED_COMMAND: &str = "lease-not-started";

/// `sec`'s `main` on Linux.
pub fn front() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    // argv may be empty (execve allows it): sec-cli then shows its usage as `sec`.
    let arg0 = args
        .first()
        .cloned()
        .unwrap_or_else(|| OsString::from("sec"));
    if let Some(argv) = exec_in_place::command_line(&args) {
        match exec_in_place::attempt(&argv) {
            Attempt::Full { .. } => {}
            Attempt::Refused(failure) => return crate::finish(Err(failure), true),
            // Telling secd needs gRPC: sec-cli does it and reports the failure.
            Attempt::NotStarted { lease_id, failure } => {
                let code = failure.code.unwrap_or(EXIT_SEC_FAILED).to_string();
                let report = [
                    NOT_STARTED_COMMAND,
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

/// Becomes `sec-cli` with `args` (and `sec`'s own name as its argv[0], for messages).
fn run_cli(arg0: &OsString, args: impl Iterator<Item = OsString>) -> ExitCode {
    let cli = match cli_path() {
        Ok(cli) => cli,
        Err(e) => {
            eprintln!(
                "sec: cannot tell where this sec is installed ({e}), so cannot find {CLI_NAME} beside it"
            );
            return ExitCode::from(EXIT_SEC_FAILED);
        }
    };
    let error = Command::new(&cli).arg0(arg0).args(args).exec();
    eprintln!(
        "sec: cannot run {} ({error}); sec and {CLI_NAME} are installed together: reinstall both (cargo install --locked --path client)",
        cli.display()
    );
    ExitCode::from(EXIT_SEC_FAILED)
}

/// `sec-cli` in the directory of this executable (links resolved: the installed pair).
fn cli_path() -> std::io::Result<PathBuf> {
    Ok(std::env::current_exe()?.with_file_name(CLI_NAME))
}
