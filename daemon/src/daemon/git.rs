//! `sec git-credential`: git asks for a host's credential (and may offer one to store, or
//! tell that one was rejected); the answer comes from the `[scope.git]` entry of the
//! caller's scope, through the rules every lease follows: `[[untrusted]]`, `commands`
//! (matched against the git command that asked), `confirm`, and the audit log.

use std::path::PathBuf;

use secrecy::SecretString;

use crate::daemon::engine::VaultBatch;
use crate::daemon::{Daemon, LeaseError};
use crate::lease::audit::{Event, Record};
use crate::lease::{confirm, procs};
use crate::store::cache::Key;

/// git's question.
pub struct GitAsk {
    pub action: String,
    pub host: String,
    pub path: String,
    /// What git offers to store (`store` only).
    pub password: Option<SecretString>,
    pub cwd: PathBuf,
    /// The `sec git-credential` process.
    pub pid: u32,
}

/// The credential for git, or none when no entry covers the host.
pub struct GitAnswer {
    pub username: String,
    pub password: SecretString,
}

impl Daemon {
    pub async fn git_credential(&self, ask: GitAsk) -> Result<Option<GitAnswer>, LeaseError> {
        let snapshot = self.current_config();
        if let Some(dir) = snapshot.config.untrusted_for(&ask.cwd) {
            return Err(LeaseError::Untrusted {
                dir: dir.to_path_buf(),
            });
        }
        let Some(scope) = self.effective(&snapshot.config, &ask.cwd).scope else {
            return Ok(None);
        };
        // The longest path prefix wins, as the deepest scope does.
        let Some(entry) = scope
            .git
            .iter()
            .filter(|g| g.covers(&ask.host, &ask.path))
            .max_by_key(|g| g.path.len())
            .cloned()
        else {
            return Ok(None);
        };
        let git_argv = git_command(ask.pid as i32);
        // How the entry is named in prompts and the audit log.
        let target = format!("git:{}", entry.target());
        let record = Record {
            scope: scope.dir.display().to_string(),
            names: vec![target.clone()],
            references: vec![entry.secret.to_string()],
            command: git_argv.clone(),
            pid: Some(ask.pid),
            ..Default::default()
        };
        let key = Key {
            scope: scope.dir.clone(),
            reference: entry.secret.clone(),
        };
        match ask.action.as_str() {
            "get" => {}
            "erase" => {
                // git says the credential was rejected: the vault keeps it, but the cached
                // copy goes, so a token replaced in the vault is read anew.
                self.cache.revoke(|k| *k == key);
                self.audit.note(
                    Event::Revoke,
                    &Record {
                        reason: format!(
                            "git rejected the credential for {target}; its cached copy dropped"
                        ),
                        ..record
                    },
                );
                return Ok(None);
            }
            "store" if entry.store => {
                let Some(password) = ask.password else {
                    return Ok(None);
                };
                self.vaults
                    .store(&entry.secret, password)
                    .await
                    .map_err(|source| LeaseError::Vault {
                        name: target.clone(),
                        source,
                    })?;
                self.cache.revoke(|k| k.reference == entry.secret);
                self.audit.note(
                    Event::Config,
                    &Record {
                        reason: format!("git stored a new credential for {target}"),
                        ..record
                    },
                );
                return Ok(None);
            }
            // `store` without `store = true`, or an action git may add one day: nothing.
            _ => return Ok(None),
        }
        let refused = |error: LeaseError| {
            self.audit.note(
                Event::Deny,
                &Record {
                    reason: error.to_string(),
                    ..record.clone()
                },
            );
            error
        };
        if let Some(error) = super::grant::commands_refusal(&scope, &git_argv) {
            return Err(refused(error));
        }
        let protected = crate::policy::tripwire::protected_in(&snapshot.config);
        if entry.confirm || protected.contains(&entry.secret) {
            let prompt = format!(
                "sec: allow `{}` in {} to receive the git credential for {target}?",
                sec_proto::shell_words(&git_argv),
                scope.dir.display()
            );
            let defaults = &snapshot.config.defaults;
            let program = confirm::askpass_program(defaults.askpass.as_deref());
            confirm::confirm(program.as_deref(), &prompt, defaults.confirm_timeout)
                .await
                .map_err(|source| {
                    refused(LeaseError::Confirm {
                        names: target.clone(),
                        source,
                    })
                })?;
        }
        let mut batch = VaultBatch::default();
        let password = self
            .secret(&scope, &entry.secret, &mut batch)
            .await
            .map_err(|source| {
                refused(LeaseError::Vault {
                    name: target.clone(),
                    source,
                })
            })?;
        // A git token is not a per-command credential: a dynamic one is not kept alive.
        self.revoke_minted("", batch.minted, "git credentials are not leases");
        self.audit
            .write(Event::Grant, &record)
            .map_err(|source| LeaseError::Audit {
                path: self.audit.path().to_path_buf(),
                source,
            })?;
        Ok(Some(GitAnswer {
            username: entry.username,
            password,
        }))
    }
}

/// The git command that asked: the outermost `git` of the chain of `git…` processes above
/// the helper (git runs helpers through `git credential-…` and `git-remote-https`; the
/// outermost is the user's command, `git push`), as its argv.
fn git_command(helper: i32) -> Vec<String> {
    let mut pid = procs::parent(helper);
    let mut nearest = Vec::new();
    for _ in 0..8 {
        let Some(p) = pid else { break };
        let argv = procs::cmdline(p);
        let program = argv
            .first()
            .and_then(|a| std::path::Path::new(a).file_name())
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        if program == "git" {
            nearest = argv;
        } else if !nearest.is_empty() && !program.starts_with("git") {
            break;
        }
        pid = procs::parent(p);
    }
    nearest
}
