//! `sec exec -- CMD` at the spawn floor (Linux): one lean request to secd
//! (`sec_proto::lean`), no HTTP/2, no async runtime, no child: once the lease is granted,
//! `sec` replaces itself with the command (execve). The command then *is* the process the
//! shell started, so exit codes, signals, the terminal and job control are the command's
//! own; secd follows the lease by that process (a pidfd) and its `SEC_LEASE` marker, ends it
//! when the last of them exits, and on revocation stops them itself.
//!
//! What only the gRPC client does, it does once and asks again: no daemon yet (autostart), a
//! daemon of another protocol (replacement), a locked local vault (the passphrase prompt).
//! A scope that masks output, and every option (`--only`, `--dir`, `--mask`), go through the
//! supervising path in `exec.rs`.

use std::ffi::OsString;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::process::Command;

use sec_proto::pb::{self, lean_lease_reply::Reply};

use crate::report::Failure;

/// Why the lean path did not run the command.
pub enum NotInPlace {
    /// Ask through gRPC instead (nothing was granted).
    Supervise,
    /// A refusal or failure, reported as `sec exec` reports it.
    Failed(Failure),
}

/// What one lean request came to, when the command did not become this process.
pub enum Attempt {
    /// The full client must take over: with `Some(status)`, gRPC may fix what stopped the
    /// lean path (no daemon, a daemon of another protocol, a locked local vault) and the
    /// lean request can be asked again; with `None`, supervise.
    Full { retry: Option<tonic::Status> },
    /// A refusal or failure, reported as `sec exec` reports it.
    Refused(Failure),
    /// The lease was granted and the command could not be started.
    NotStarted { lease_id: String, failure: Failure },
}

/// The command of `sec exec -- CMD ARGS` or `sec exec CMD ARGS`, when that is the whole
/// command line; `None` for anything else (options, non-UTF-8 words), which clap reads.
pub fn command_line(args: &[OsString]) -> Option<Vec<String>> {
    let words: Vec<&str> = args.iter().map(|a| a.to_str()).collect::<Option<_>>()?;
    let command = match words.get(1..)? {
        ["exec", "--", command @ ..] => command,
        ["exec", first, ..] if !first.starts_with('-') => &words[2..],
        _ => return None,
    };
    (!command.is_empty()).then(|| command.iter().map(|w| w.to_string()).collect())
}

/// Takes the lease and becomes the command, doing once what only gRPC does (autostart,
/// replacing a daemon of another protocol, the local vault's passphrase) and asking again;
/// returns only when the command did not become this process.
pub fn run(argv: Vec<String>) -> NotInPlace {
    let mut prepared = false;
    loop {
        match attempt(&argv) {
            Attempt::Refused(failure) => return NotInPlace::Failed(failure),
            Attempt::NotStarted { lease_id, failure } => {
                report_not_started(&lease_id, &failure);
                return NotInPlace::Failed(failure);
            }
            Attempt::Full {
                retry: Some(status),
            } if !prepared
                && matches!(
                    status.code(),
                    tonic::Code::Unavailable | tonic::Code::Unauthenticated
                ) =>
            {
                if let Err(failure) = prepare(&status) {
                    return NotInPlace::Failed(failure);
                }
                prepared = true;
            }
            Attempt::Full { .. } => return NotInPlace::Supervise,
        }
    }
}

/// One lean request, without gRPC (all the `sec` front links): on a grant this process
/// becomes the command and the function does not return.
pub fn attempt(argv: &[String]) -> Attempt {
    if std::env::var_os(crate::daemon_conn::SHIELD_MARKER).is_some() {
        return Attempt::Full { retry: None };
    }
    if let Err(failure) = crate::hardening::protect(true) {
        return Attempt::Refused(failure);
    }
    let Ok(cwd) = std::env::current_dir() else {
        return Attempt::Full { retry: None };
    };
    // Found before the request, while secd is idle, with a stat per PATH entry rather than
    // a failed execve per entry (each copies the whole environment into a new address space).
    let found = program_on_path(&argv[0], std::env::var_os("PATH"));
    let request = pb::LeaseRequest {
        argv: argv.to_vec(),
        cwd: cwd.display().to_string(),
        in_place: true,
        protocol: sec_proto::PROTOCOL,
        ..Default::default()
    };
    let grant = match ask(&request).and_then(|reply| reply.reply) {
        Some(Reply::Grant(grant)) => grant,
        Some(Reply::Refusal(refusal)) => {
            let status = tonic::Status::new(refusal.code.into(), refusal.message);
            return if refusal.retry_with_grpc {
                Attempt::Full {
                    retry: Some(status),
                }
            } else {
                Attempt::Refused(Failure::from_status(status))
            };
        }
        // No daemon answers on this path: gRPC starts one (or replaces an older one).
        None => {
            return Attempt::Full {
                retry: Some(tonic::Status::unavailable("no daemon answered")),
            };
        }
    };
    crate::exec::announce(&grant, &cwd, argv);
    // A granted PATH is the command's: then the search is execvp's, in that PATH.
    let program = match found {
        Some(path) if !grant.env.iter().any(|var| var.name == "PATH") => path.into_os_string(),
        _ => OsString::from(&argv[0]),
    };
    let mut command = command_named(&program, argv, &grant);
    // What the command leaves behind (`setsid cmd &`) is reparented to the command rather
    // than to init, so secd still finds it below the lease's process when it is revoked, as
    // it found it below the supervising `sec` (the setting survives execve).
    let _ = nix::sys::prctl::set_child_subreaper(true);
    // Only returns when the command could not be started. A program found on PATH that does
    // not start (a `noexec` mount, say) gets execvp's own search, its errors included.
    let mut error = command.exec();
    if program != argv[0].as_str() {
        error = command_named(&argv[0], argv, &grant).exec();
    }
    drop(command);
    Attempt::NotStarted {
        lease_id: grant.lease_id,
        failure: crate::exec::spawn_failure(&argv[0], error),
    }
}

/// `argv` run as `program`, in the lease's environment.
fn command_named(
    program: impl AsRef<std::ffi::OsStr>,
    argv: &[String],
    grant: &pb::Grant,
) -> Command {
    let mut command = Command::new(program);
    command.arg0(&argv[0]).args(&argv[1..]);
    // Not a secret: how secd finds every process of the lease when it is revoked.
    command.env(sec_proto::LEASE_MARKER, &grant.lease_id);
    for var in &grant.env {
        command.env(&var.name, &var.value);
    }
    command
}

/// Where execvp would find `name` on `path`: the first executable regular file; `None` for
/// a name with a slash (execvp takes it as it is) or when nothing is found (execvp then
/// searches, and says what went wrong).
fn program_on_path(name: &str, path: Option<OsString>) -> Option<std::path::PathBuf> {
    if name.is_empty() || name.contains('/') {
        return None;
    }
    std::env::split_paths(&path?)
        // An empty entry is the working directory, as for execvp.
        .map(|dir| {
            if dir.as_os_str().is_empty() {
                ".".into()
            } else {
                dir
            }
        })
        .map(|dir| dir.join(name))
        .find(|candidate| {
            candidate.is_file()
                && nix::unistd::access(candidate.as_path(), nix::unistd::AccessFlags::X_OK).is_ok()
        })
}

/// What the gRPC client does before the lean request is asked again: connect, which starts
/// secd or replaces one of another protocol, and for a locked local vault, ask for its
/// passphrase.
fn prepare(status: &tonic::Status) -> Result<(), Failure> {
    with_grpc(async {
        let mut client = crate::daemon_conn::connect(true).await?;
        if status.code() == tonic::Code::Unauthenticated {
            crate::passphrase::opened_after(&mut client, status).await?;
        }
        Ok(())
    })
}

/// Runs `work` on a runtime made for it: the lean path starts none unless it needs gRPC.
fn with_grpc(work: impl std::future::Future<Output = Result<(), Failure>>) -> Result<(), Failure> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::new(format!("cannot start the async runtime: {e}")))?
        .block_on(work)
}

/// The lean request on a fresh connection; `None` when no daemon answers on this path.
fn ask(request: &pb::LeaseRequest) -> Option<pb::LeanLeaseReply> {
    let path = sec_proto::socket::socket_path().ok()?;
    let mut stream = UnixStream::connect(path).ok()?;
    sec_proto::lean::ask(&mut stream, request).ok()
}

/// For the audit log: the lease was granted and its command never ran. Rare, so the full
/// client may take its time.
pub fn report_not_started(lease_id: &str, failure: &Failure) {
    let _ = with_grpc(async {
        let mut client = crate::daemon_conn::connect(false).await?;
        let _ = client
            .lease_started(pb::LeaseStartedRequest {
                lease_id: lease_id.to_string(),
                child_pid: 0,
                failure: failure.message.clone(),
            })
            .await;
        Ok(())
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(words: &[&str]) -> Option<Vec<String>> {
        let args: Vec<OsString> = words.iter().map(OsString::from).collect();
        command_line(&args)
    }

    #[test]
    fn the_program_is_found_on_path_as_execvp_finds_it() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().unwrap();
        let (first, second) = (root.path().join("first"), root.path().join("second"));
        for dir in [&first, &second] {
            std::fs::create_dir(dir).unwrap();
        }
        // Not executable in the first directory, a directory of that name in the second:
        // both skipped, as execvp skips them; found nowhere else, nothing.
        std::fs::write(first.join("tool"), "").unwrap();
        std::fs::create_dir(second.join("tool")).unwrap();
        let path = std::env::join_paths([&first, &second]).unwrap();
        assert_eq!(program_on_path("tool", Some(path.clone())), None);
        let third = root.path().join("third");
        std::fs::create_dir(&third).unwrap();
        let tool = third.join("tool");
        std::fs::write(&tool, "").unwrap();
        std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = std::env::join_paths([&first, &second, &third]).unwrap();
        assert_eq!(program_on_path("tool", Some(path.clone())), Some(tool));
        // A name with a slash, an empty name or no PATH: left to execvp.
        assert_eq!(program_on_path("./tool", Some(path.clone())), None);
        assert_eq!(program_on_path("", Some(path)), None);
        assert_eq!(program_on_path("tool", None), None);
    }

    #[test]
    fn only_a_plain_exec_takes_the_lean_path() {
        let some = |words: &[&str]| Some(words.iter().map(|w| w.to_string()).collect());
        assert_eq!(line(&["sec", "exec", "--", "true"]), some(&["true"]));
        assert_eq!(
            line(&["sec", "exec", "--", "sh", "-c", "x"]),
            some(&["sh", "-c", "x"])
        );
        assert_eq!(
            line(&["sec", "exec", "twine", "--only", "x"]),
            some(&["twine", "--only", "x"])
        );
        assert_eq!(line(&["sec", "exec", "--", "--help"]), some(&["--help"]));
        assert_eq!(line(&["sec", "exec", "--"]), None);
        assert_eq!(line(&["sec", "exec"]), None);
        assert_eq!(line(&["sec", "exec", "--only", "A", "--", "true"]), None);
        assert_eq!(line(&["sec", "exec", "--mask", "--", "true"]), None);
        assert_eq!(line(&["sec", "shield", "--", "true"]), None);
        assert_eq!(line(&["sec", "--version"]), None);
    }
}
