//! Getting the local vault's passphrase to the daemon: from a file descriptor
//! (`--passphrase-fd N`, for scripts and tests: never argv or the environment), from the
//! terminal without echo, or, when there is no terminal, through the daemon's askpass
//! program. Used by `sec unlock --local`, `sec passwd --local`, `sec set` and, when a request
//! finds the vault locked ([`opened_after`]), `sec exec`, `sec unlock DIR` and the hook.

use std::io::{BufRead, BufReader};

use sec_proto::pb;
use secrecy::{ExposeSecret, SecretString};
use tonic::Code;

use crate::daemon_conn::Client;
use crate::report::Failure;

/// Where passphrases come from.
pub enum Source {
    /// One passphrase per line from this descriptor (read once, all lines).
    Fd(i32),
    /// The terminal, else the daemon's askpass program.
    Interactive,
}

impl Source {
    pub fn from_flag(fd: Option<i32>) -> Self {
        fd.map_or(Source::Interactive, Source::Fd)
    }
}

/// Tries at the terminal before giving up on a wrong passphrase.
const TERMINAL_ATTEMPTS: usize = 3;

/// Reads every line of descriptor `fd` as a passphrase (`/dev/fd/N`, so no unsafe handle
/// juggling). The lines are wiped when dropped.
pub fn read_fd(fd: i32) -> Result<Vec<SecretString>, Failure> {
    let path = format!("/dev/fd/{fd}");
    let file = std::fs::File::open(&path).map_err(|e| {
        Failure::new(format!(
            "cannot read the passphrase from descriptor {fd}: {e}"
        ))
    })?;
    let mut lines = Vec::new();
    for line in BufReader::new(file).lines() {
        let mut line =
            line.map_err(|e| Failure::new(format!("cannot read descriptor {fd}: {e}")))?;
        lines.push(SecretString::from(line.as_str()));
        zeroize::Zeroize::zeroize(&mut line);
    }
    Ok(lines)
}

/// A passphrase typed at the terminal without echo; `None` when there is no terminal.
pub(crate) fn from_terminal(prompt: &str) -> Option<Result<SecretString, Failure>> {
    std::fs::File::open("/dev/tty").ok()?;
    Some(
        rpassword::prompt_password(prompt)
            .map(sec_proto::into_secret)
            .map_err(|e| Failure::new(format!("cannot read the passphrase: {e}"))),
    )
}

/// When `refusal` says the local vault is locked: says what is locked (not the daemon's advice
/// to unlock by hand: that happens now), asks for the passphrase, and returns true so the
/// caller sends its request once more. False for any other refusal.
pub async fn opened_after(client: &mut Client, refusal: &tonic::Status) -> Result<bool, Failure> {
    if refusal.code() != Code::Unauthenticated {
        return Ok(false);
    }
    let message = refusal.message();
    let locked = message.split_once("; ").map_or(message, |(what, _)| what);
    eprintln!("sec: {locked}");
    ensure_unlocked(client, &Source::Interactive, false).await?;
    Ok(true)
}

/// Makes sure the local vault is open: creates it first when `create` allows and there is
/// none yet (asking for the new passphrase twice), else unlocks it.
pub async fn ensure_unlocked(
    client: &mut Client,
    source: &Source,
    create: bool,
) -> Result<(), Failure> {
    let status = local_status(client).await?;
    if status.unlocked {
        return Ok(());
    }
    if !status.exists {
        if !create {
            return Err(Failure::new(format!(
                "there is no local vault yet ({}); `sec set local:NAME` creates one",
                status.path
            )));
        }
        return create_vault(client, source, &status.path).await;
    }
    unlock(client, source, &status.path).await
}

pub async fn local_status(client: &mut Client) -> Result<pb::LocalStatusReply, Failure> {
    Ok(client
        .local_status(pb::LocalStatusRequest {})
        .await
        .map_err(Failure::from_status)?
        .into_inner())
}

async fn send(
    client: &mut Client,
    passphrase: Option<SecretString>,
    create: bool,
) -> Result<(), tonic::Status> {
    let request = pb::UnlockLocalRequest {
        use_askpass: passphrase.is_none(),
        passphrase: passphrase
            .map(|p| p.expose_secret().to_string())
            .unwrap_or_default(),
        create,
    };
    client.unlock_local(request).await.map(drop)
}

async fn unlock(client: &mut Client, source: &Source, path: &str) -> Result<(), Failure> {
    match source {
        Source::Fd(fd) => {
            let lines = read_fd(*fd)?;
            let first = lines
                .into_iter()
                .next()
                .ok_or_else(|| Failure::new("no passphrase on the descriptor"))?;
            send(client, Some(first), false)
                .await
                .map_err(Failure::from_status)
        }
        Source::Interactive => {
            for attempt in 1..=TERMINAL_ATTEMPTS {
                let Some(typed) =
                    from_terminal(&format!("passphrase for the local vault {path}: "))
                else {
                    // No terminal: the daemon asks through its askpass program.
                    return send(client, None, false).await.map_err(|status| {
                        let mut failure = Failure::from_status(status);
                        failure.message.push_str(
                            "; without a terminal or askpass, give the passphrase on a descriptor: --passphrase-fd N",
                        );
                        failure
                    });
                };
                match send(client, Some(typed?), false).await {
                    Ok(()) => return Ok(()),
                    Err(status) if status.code() == Code::PermissionDenied => {
                        if attempt == TERMINAL_ATTEMPTS {
                            // The last word must not invite another try: whatever the
                            // user types next goes to the shell.
                            return Err(Failure::new(format!(
                                "the passphrase did not open the local vault {path} in {TERMINAL_ATTEMPTS} tries; it stays locked and nothing was run"
                            )));
                        }
                        eprintln!("sec: {}", status.message());
                    }
                    Err(status) => return Err(Failure::from_status(status)),
                }
            }
            unreachable!("the last attempt returns")
        }
    }
}

async fn create_vault(client: &mut Client, source: &Source, path: &str) -> Result<(), Failure> {
    let passphrase = match source {
        Source::Fd(fd) => {
            let lines = read_fd(*fd)?;
            Some(
                lines
                    .into_iter()
                    .next()
                    .ok_or_else(|| Failure::new("no passphrase on the descriptor"))?,
            )
        }
        Source::Interactive => {
            match from_terminal(&format!("new passphrase for a new local vault {path}: ")) {
                None => None,
                Some(first) => {
                    let first = first?;
                    let again = from_terminal("the same passphrase again: ")
                        .unwrap_or_else(|| Ok(SecretString::from("")))?;
                    if first.expose_secret() != again.expose_secret() {
                        return Err(Failure::new(
                            "the two passphrases differ; no vault was created",
                        ));
                    }
                    Some(first)
                }
            }
        }
    };
    send(client, passphrase, true)
        .await
        .map_err(Failure::from_status)?;
    eprintln!("created the local vault {path}");
    Ok(())
}

/// `sec passwd --local`: the old passphrase, then the new one (twice at a terminal; from a
/// descriptor: two lines, old and new).
pub async fn change(client: &mut Client, source: &Source) -> Result<(), Failure> {
    let status = local_status(client).await?;
    let (old, new) = match source {
        Source::Fd(fd) => {
            let mut lines = read_fd(*fd)?.into_iter();
            match (lines.next(), lines.next()) {
                (Some(old), Some(new)) => (old, new),
                _ => {
                    return Err(Failure::new(
                        "give two lines on the descriptor: the old passphrase, then the new one",
                    ));
                }
            }
        }
        Source::Interactive => {
            let ask = |prompt: &str| {
                from_terminal(prompt).unwrap_or_else(|| {
                    Err(Failure::new(
                        "changing the passphrase needs a terminal or --passphrase-fd N",
                    ))
                })
            };
            let old = ask(&format!("current passphrase of {}: ", status.path))?;
            let new = ask("new passphrase: ")?;
            if ask("the new passphrase again: ")?.expose_secret() != new.expose_secret() {
                return Err(Failure::new(
                    "the two new passphrases differ; nothing was changed",
                ));
            }
            (old, new)
        }
    };
    let request = pb::ChangeLocalPassphraseRequest {
        old_passphrase: old.expose_secret().to_string(),
        new_passphrase: new.expose_secret().to_string(),
    };
    client
        .change_local_passphrase(request)
        .await
        .map_err(Failure::from_status)?;
    eprintln!("the local vault {} has its new passphrase", status.path);
    Ok(())
}
