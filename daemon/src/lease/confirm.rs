//! Confirmation asked by the daemon, never by the client: secd runs an askpass program
//! (the SSH_ASKPASS convention: the prompt text as its only argument, exit status 0 means
//! yes) and fails closed when there is none, it says no, or it does not answer in time.
//! Nothing the client sends can answer it.

use std::process::Stdio;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfirmError {
    #[error(
        "secd must ask you, but no askpass program is set; set `askpass = \"...\"` under [defaults] in config.toml, or SEC_ASKPASS in secd's environment (read when secd starts: run `sec daemon stop` after setting it)"
    )]
    NoProgram,
    #[error("the confirmation was refused")]
    Refused,
    #[error("the confirmation got no answer within {}s", .0.as_secs())]
    Timeout(Duration),
    #[error("the askpass program {program} cannot run: {reason}")]
    CannotRun { program: String, reason: String },
}

/// The askpass program: the config's setting, else `SEC_ASKPASS` from secd's environment.
pub fn askpass_program(configured: Option<&str>) -> Option<String> {
    configured
        .map(String::from)
        .or_else(|| std::env::var("SEC_ASKPASS").ok())
        .filter(|p| !p.trim().is_empty())
}

/// What the askpass program is asked for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Question {
    /// Yes or no: the exit status (`SSH_ASKPASS_PROMPT=confirm`).
    Confirm,
    /// A passphrase: what it prints.
    Secret,
}

/// Runs `program` with `prompt` in its own process group (so a timeout ends it and
/// whatever it started); `Ok(stdout)` only when it exits 0 within `timeout`.
async fn ask(
    program: Option<&str>,
    prompt: &str,
    question: Question,
    timeout: Duration,
) -> Result<Vec<u8>, ConfirmError> {
    let program = program.ok_or(ConfirmError::NoProgram)?;
    let cannot_run = |e: std::io::Error| ConfirmError::CannotRun {
        program: program.to_string(),
        reason: e.to_string(),
    };
    let mut command = tokio::process::Command::new(program);
    command
        .arg(prompt)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    match question {
        Question::Confirm => command
            .env("SSH_ASKPASS_PROMPT", "confirm")
            .stdout(Stdio::null()),
        Question::Secret => command.stdout(Stdio::piped()),
    };
    #[cfg(unix)]
    command.process_group(0);
    let child = command.spawn().map_err(cannot_run)?;
    let pid = child.id();
    match tokio::time::timeout(timeout, child.wait_with_output()).await {
        Ok(Ok(output)) if output.status.success() => Ok(output.stdout),
        Ok(Ok(_)) => Err(ConfirmError::Refused),
        Ok(Err(e)) => Err(cannot_run(e)),
        Err(_) => {
            if let Some(pid) = pid {
                kill_group(pid);
            }
            Err(ConfirmError::Timeout(timeout))
        }
    }
}

/// Asks `program` with `prompt`; `Ok` only for an explicit yes within `timeout`.
pub async fn confirm(
    program: Option<&str>,
    prompt: &str,
    timeout: Duration,
) -> Result<(), ConfirmError> {
    ask(program, prompt, Question::Confirm, timeout)
        .await
        .map(drop)
}

/// Asks `program` for a secret (a passphrase): its standard output, one trailing newline
/// dropped, when it exits 0 within `timeout`.
pub async fn ask_secret(
    program: Option<&str>,
    prompt: &str,
    timeout: Duration,
) -> Result<secrecy::SecretString, ConfirmError> {
    let stdout = zeroize::Zeroizing::new(ask(program, prompt, Question::Secret, timeout).await?);
    let mut text = String::from_utf8_lossy(&stdout).into_owned();
    if text.ends_with('\n') {
        text.pop();
    }
    Ok(sec_proto::into_secret(text))
}

#[cfg(unix)]
fn kill_group(pid: u32) {
    let group = nix::unistd::Pid::from_raw(pid as i32);
    let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
}

#[cfg(not(unix))]
fn kill_group(_pid: u32) {}

#[cfg(test)]
mod tests {
    use super::*;

    fn script(dir: &std::path::Path, body: &str) -> String {
        use std::os::unix::fs::PermissionsExt;
        // Written by a child process, never through a descriptor of this
        // one: a child forked meanwhile by another test thread would hold
        // it until its exec and running the script would fail (ETXTBSY).
        let path = dir.join("askpass");
        let status = std::process::Command::new("sh")
            .args(["-c", "printf '#!/bin/sh\\n%s\\n' \"$2\" > \"$1\"", "sh"])
            .arg(&path)
            .arg(body)
            .status()
            .unwrap();
        assert!(status.success());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path.display().to_string()
    }

    #[tokio::test]
    async fn yes_no_timeout_and_missing() {
        let tmp = tempfile::tempdir().unwrap();
        let second = Duration::from_secs(1);
        let answer_file = tmp.path().join("asked");
        let yes = script(
            tmp.path(),
            &format!("printf %s \"$1\" > {}; exit 0", answer_file.display()),
        );
        assert_eq!(confirm(Some(&yes), "allow it?", second).await, Ok(()));
        assert_eq!(std::fs::read_to_string(&answer_file).unwrap(), "allow it?");

        let no = script(tmp.path(), "exit 1");
        assert_eq!(
            confirm(Some(&no), "p", second).await,
            Err(ConfirmError::Refused)
        );

        let slow = script(tmp.path(), "sleep 10");
        let short = Duration::from_millis(200);
        assert_eq!(
            confirm(Some(&slow), "p", short).await,
            Err(ConfirmError::Timeout(short))
        );

        assert_eq!(
            confirm(None, "p", second).await,
            Err(ConfirmError::NoProgram)
        );
        let missing = tmp.path().join("nope").display().to_string();
        assert!(matches!(
            confirm(Some(&missing), "p", second).await,
            Err(ConfirmError::CannotRun { .. })
        ));
    }
}
