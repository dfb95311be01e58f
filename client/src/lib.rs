//! sec: the command-line client of secd. Thin: it links no vault code; every secret
//! operation is one request to the daemon.
//!
//! Two binaries share this library. `sec-cli` is the whole client ([`run`]). `sec`, the name
//! users type, is on Linux a small front ([`front`]): a plain `sec exec -- CMD` takes its
//! lease there and becomes the command; anything else it hands to `sec-cli` beside it with
//! execve. Only what the front calls is linked into it, so it starts at the spawn floor
//! (docs/DECISIONS.md, "`sec` is a small front").

mod audit_log;
mod cli;
mod commands;
mod daemon_conn;
mod docs;
mod doctor;
mod exec;
#[cfg(target_os = "linux")]
mod exec_in_place;
#[cfg(target_os = "linux")]
mod front;
mod git_credential;
mod hardening;
mod hook;
mod import;
mod import_files;
mod import_ssh;
#[cfg(unix)]
mod mask;
mod passphrase;
mod report;
mod shield;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::report::Failure;

#[cfg(target_os = "linux")]
pub use front::front;

/// The whole client: what `sec-cli` runs, and `sec` itself where there is no front.
pub fn run() -> ExitCode {
    // `sec exec -- CMD` first, before clap and any runtime: the lean path becomes the command.
    #[cfg(target_os = "linux")]
    {
        let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
        if let Some(argv) = exec_in_place::command_line(&args) {
            match exec_in_place::run(argv) {
                exec_in_place::NotInPlace::Failed(failure) => return finish(Err(failure), true),
                exec_in_place::NotInPlace::Supervise => {}
            }
        }
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return usage_error(&error),
    };
    // Before any runtime or thread exists: the shield enters a user namespace itself.
    if let Command::Shield(args) = cli.command {
        return finish(shield::run(args), true);
    }
    // Makes its own runtime for the one request it sends.
    if let Command::LeaseNotStarted {
        lease_id,
        code,
        message,
    } = cli.command
    {
        let failure = Failure::with_code(message, code);
        #[cfg(target_os = "linux")]
        exec_in_place::report_not_started(&lease_id, &failure);
        #[cfg(not(target_os = "linux"))]
        let _ = lease_id;
        return finish(Err(failure), true);
    }
    let is_exec = matches!(cli.command, Command::Exec { .. });
    // Before anything else: a command that may see a secret or a passphrase must never be
    // readable or traceable by other processes of the user.
    let sees_secrets = matches!(
        cli.command,
        Command::Exec { .. }
            | Command::Set { .. }
            | Command::Import(_)
            | Command::Unlock { .. }
            | Command::Passwd { .. }
            | Command::HookEvent { .. }
            | Command::GitCredential { .. }
            | Command::ShieldLink
    );
    if let Err(failure) = hardening::protect(sees_secrets) {
        return finish(Err(failure), is_exec);
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("sec: cannot start the async runtime: {e}");
            return ExitCode::from(exec::EXIT_SEC_FAILED);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Exec {
                only,
                dir,
                mask,
                argv,
            } => exec::run(argv, only, dir, mask).await,
            Command::Shield(_) => unreachable!("the shield runs without the runtime"),
            #[cfg(target_os = "linux")]
            Command::ShieldLink => shield::broker::serve_link().await,
            #[cfg(not(target_os = "linux"))]
            Command::ShieldLink => Err(report::Failure::new("sec shield needs Linux")),
            Command::Ls {
                local: true,
                json,
                passphrase_fd,
                ..
            } => commands::ls_local(json, passphrase_fd).await,
            Command::Ls { dir, json, .. } => commands::ls(dir, json).await,
            Command::Status { json } => commands::status(json).await,
            Command::Revoke {
                dir,
                reference,
                lease_id,
            } => commands::revoke(dir, reference, lease_id).await,
            Command::Set {
                reference,
                passphrase_fd,
                force,
            } => commands::set(reference, passphrase_fd, force).await,
            Command::Rm { reference } => commands::rm(reference).await,
            Command::Daemon { action } => commands::daemon(action).await,
            Command::Import(args) => import::run(args).await,
            Command::Log { lines, json } => audit_log::show(lines, json),
            Command::Allow { dir } => commands::allow(dir).await,
            Command::Deny { dir } => commands::deny(dir).await,
            Command::Unlock {
                dir, local: false, ..
            } => commands::unlock(dir).await,
            Command::Unlock { passphrase_fd, .. } => commands::unlock_local(passphrase_fd).await,
            Command::Passwd { passphrase_fd, .. } => commands::passwd(passphrase_fd).await,
            Command::Hook { shell } => hook::print_script(shell),
            Command::Completions { shell } => docs::completions(shell),
            Command::Man { dir } => docs::man_pages(&dir),
            Command::Doctor => doctor::run().await,
            Command::GitCredential { action } => git_credential::run(&action).await,
            Command::HookEvent {
                shell,
                from,
                to,
                declined,
            } => hook::event(shell, &from, &to, &declined).await,
            Command::LeaseNotStarted { .. } => unreachable!("handled before the runtime"),
        }
    });
    finish(result, is_exec)
}

/// The exit code for a command's result; a failure is said on stderr. Commands that run a
/// child (exec, shield) fail with 125, as `env` and `timeout` do, so that the child's own
/// codes stay apart.
pub(crate) fn finish(result: Result<u8, Failure>, runs_a_child: bool) -> ExitCode {
    ExitCode::from(exit_code(result, runs_a_child))
}

/// `finish` as a number (the `sec` front returns from a C `main`).
pub(crate) fn exit_code(result: Result<u8, Failure>, runs_a_child: bool) -> u8 {
    match result {
        Ok(code) => code,
        Err(Failure { message, code }) => {
            eprintln!("sec: {message}");
            let fallback = if runs_a_child {
                exec::EXIT_SEC_FAILED
            } else {
                1
            };
            code.unwrap_or(fallback)
        }
    }
}

/// Help and version go to stdout with status 0. A usage mistake is printed by clap; for
/// `sec exec` and `sec shield` it exits 125 like `env` and `timeout` do (so it cannot be
/// mistaken for the command's own status 2), elsewhere with clap's 2.
fn usage_error(error: &clap::Error) -> ExitCode {
    let _ = error.print();
    // Help and version are "errors" with status 0.
    if error.exit_code() == 0 {
        return ExitCode::SUCCESS;
    }
    let runs_a_command = std::env::args_os()
        .nth(1)
        .is_some_and(|word| word == "exec" || word == "shield");
    if runs_a_command {
        ExitCode::from(exec::EXIT_SEC_FAILED)
    } else {
        ExitCode::from(u8::try_from(error.exit_code()).unwrap_or(2))
    }
}
