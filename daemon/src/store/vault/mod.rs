//! Vault backends. A [`Reference`] (its syntax is `sec_proto::reference`) names a secret
//! (`SCHEME:REST`); the [`Vaults`] registry hands the scheme's own reference type to the
//! backend for that scheme, so no backend sees references it does not serve. Adding a
//! backend means a variant and type in `Reference`, a module with inherent async
//! `get`/`store`/`delete`, and an arm in each of `Vaults`' methods.

mod cmd;
mod keyring;
mod keyutils;
pub mod local;
mod op;
pub mod openbao;
mod pass;
mod program;

use secrecy::SecretString;

pub use self::cmd::CmdBackend;
pub use self::keyring::KeyringBackend;
pub use self::keyutils::KeyutilsBackend;
pub use self::local::{LocalBackend, LocalError, LocalVault};

/// Where `sec set NAME` without a scheme stores: the OS keychain when a persistent one
/// answers, else the local vault; and why.
pub struct DefaultStore {
    pub scheme: &'static str,
    pub reason: String,
}
pub use self::op::OpBackend;
pub use self::openbao::OpenBaoBackend;
pub use self::pass::PassBackend;
pub use sec_proto::reference::{
    CmdRef, KeyringRef, KeyutilsRef, LocalRef, OpRef, PassRef, Reference, VaultRef,
};

/// Why a vault could not give, store or delete a secret. Every message names the reference
/// and the backend and says what to do; none ever holds a secret value.
#[derive(Debug, Clone, thiserror::Error)]
pub enum VaultError {
    #[error("{reference}: no such secret in {backend}; {hint}", hint = not_found_hint(reference))]
    NotFound {
        reference: String,
        backend: &'static str,
    },
    #[error("{reference}: {backend} is not reachable: {reason}")]
    Unavailable {
        reference: String,
        backend: &'static str,
        reason: String,
    },
    #[error("{reference}: {backend} failed: {reason}")]
    Failed {
        reference: String,
        backend: &'static str,
        reason: String,
    },
    #[error(
        "{reference}: the local vault is locked; `sec unlock --local` opens it (sec exec and sec set ask for the passphrase themselves)"
    )]
    Locked { reference: String },
    #[error("{reference} already holds a value; `sec set --force {reference}` replaces it")]
    Exists { reference: String },
    #[error("{reference}: {backend} cannot {action} secrets; {hint}")]
    Unsupported {
        reference: String,
        backend: &'static str,
        action: &'static str,
        hint: &'static str,
    },
}

/// What to do about a missing secret: usually `sec set`, but a `pass:PATH#KEY` line is
/// added by editing the entry, and the kernel keyring forgets everything at reboot.
fn not_found_hint(reference: &str) -> String {
    match Reference::parse(reference) {
        Ok(Reference::Pass(PassRef {
            path,
            key: Some(key),
        })) => format!("run `pass edit {path}` and add a line `{key}: ...`"),
        Ok(Reference::Keyutils(_)) => format!(
            "kernel keyring keys last only until the next reboot; store it again with `sec set {reference}`"
        ),
        _ => format!("store it with `sec set {reference}`"),
    }
}

/// All backends, by scheme. Each call goes to the backend of the reference's scheme;
/// backends block nothing: blocking store calls go to `spawn_blocking`, programs run under
/// `tokio::process` with a timeout.
pub struct Vaults {
    keyring: KeyringBackend,
    op: OpBackend,
    pass: PassBackend,
    cmd: CmdBackend,
    keyutils: KeyutilsBackend,
    local: LocalBackend,
    pub openbao: OpenBaoBackend,
}

impl Vaults {
    pub fn new(local: std::sync::Arc<LocalVault>) -> Self {
        Self {
            local: LocalBackend::new(local),
            keyring: KeyringBackend::new(),
            op: OpBackend::new(),
            pass: PassBackend::new(),
            cmd: CmdBackend::new(),
            keyutils: KeyutilsBackend::new(),
            openbao: OpenBaoBackend::new(),
        }
    }

    pub async fn default_store(&self) -> DefaultStore {
        match self.keyring.reachable().await {
            Ok(()) => DefaultStore {
                scheme: "keyring",
                reason: "a persistent OS keychain answers".into(),
            },
            Err(why) => {
                // The first clause says why; the advice after it is for another context.
                let why = why.split("; ").next().unwrap_or(&why).to_string();
                DefaultStore {
                    scheme: "local",
                    reason: format!("no OS keychain answers: {why}"),
                }
            }
        }
    }

    /// The secret `reference` names.
    pub async fn get(&self, reference: &Reference) -> Result<SecretString, VaultError> {
        match reference {
            Reference::Keyring(r) => self.keyring.get(r).await,
            Reference::OnePassword(r) => self.op.get(r).await,
            Reference::Pass(r) => self.pass.get(r).await,
            Reference::Command(r) => self.cmd.get(r).await,
            Reference::Keyutils(r) => self.keyutils.get(r).await,
            Reference::Local(r) => self.local.get(r).await,
            Reference::Vault(r) => self.vault_static(r).await,
        }
    }

    /// Stores `value` under `reference` (read-only stores refuse, saying what to do).
    pub async fn store(
        &self,
        reference: &Reference,
        value: SecretString,
    ) -> Result<(), VaultError> {
        match reference {
            Reference::Keyring(r) => self.keyring.store(r, value).await,
            Reference::OnePassword(r) => Err(op::refusal(r, "store")),
            Reference::Pass(r) => self.pass.store(r, value).await,
            Reference::Command(r) => Err(cmd::refusal(r, "store")),
            Reference::Keyutils(r) => self.keyutils.store(r, value).await,
            Reference::Local(r) => self.local.store(r, value).await,
            Reference::Vault(r) => self.openbao.engine(r)?.store(r, value, self).await,
        }
    }

    /// Deletes what `reference` names (read-only stores refuse, saying what to do).
    pub async fn delete(&self, reference: &Reference) -> Result<(), VaultError> {
        match reference {
            Reference::Keyring(r) => self.keyring.delete(r).await,
            Reference::OnePassword(r) => Err(op::refusal(r, "delete")),
            Reference::Pass(r) => self.pass.delete(r).await,
            Reference::Command(r) => Err(cmd::refusal(r, "delete")),
            Reference::Keyutils(r) => self.keyutils.delete(r).await,
            Reference::Local(r) => self.local.delete(r).await,
            Reference::Vault(r) => self.openbao.engine(r)?.delete(r, self).await,
        }
    }

    /// A `vault:` value outside a lease (read-back after `sec set`, a login credential):
    /// a dynamic credential minted by this read is revoked at once, and refused.
    async fn vault_static(&self, reference: &VaultRef) -> Result<SecretString, VaultError> {
        let engine = self.openbao.engine(reference)?;
        let read = engine.read(reference, self).await?;
        if let Some(lease) = &read.lease {
            let _ = engine.revoke_lease(&lease.id, self).await;
            return Err(VaultError::Failed {
                reference: reference.to_string(),
                backend: "OpenBao/Vault",
                reason: "this path gives a new credential at each read (an engine lease); only `sec exec` gets one, revoked when its command ends".into(),
            });
        }
        read.value(reference)
    }
}

/// The answer of a read-only vault to `store` or `delete`.
pub fn unsupported(
    reference: &impl std::fmt::Display,
    backend: &'static str,
    action: &'static str,
    hint: &'static str,
) -> VaultError {
    VaultError::Unsupported {
        reference: reference.to_string(),
        backend,
        action,
        hint,
    }
}

pub use sec_proto::into_secret;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_keyring_references() {
        let r = Reference::parse("keyring:pypi/coveragepy").unwrap();
        assert_eq!(
            r,
            Reference::Keyring(KeyringRef {
                service: "pypi".into(),
                account: "coveragepy".into()
            })
        );
        assert_eq!(r.to_string(), "keyring:pypi/coveragepy");
        let nested = Reference::parse("keyring:svc/a/b").unwrap();
        assert_eq!(nested.to_string(), "keyring:svc/a/b");
        assert!(Reference::parse("keyring:pypi").is_err());
        assert!(Reference::parse("keyring:/x").is_err());
    }

    #[test]
    fn parses_1password_references() {
        assert!(Reference::parse("op://Private/GitHub/credential").is_ok());
        assert!(Reference::parse("op://Private/GitHub/section/credential").is_ok());
        assert!(Reference::parse("op://Private/GitHub").is_err());
        assert!(Reference::parse("op:Private/GitHub/x").is_err());
    }

    #[test]
    fn errors_never_repeat_what_might_be_a_pasted_token() {
        for text in [
            "pypi-AgEIcHlwaS5vcmcCJDQ",
            "ghp_Secret123:morestuff",
            "Token:xyz",
        ] {
            let err = Reference::parse(text).unwrap_err();
            assert!(!err.contains(text), "{err}");
            assert!(!err.contains("xyz") && !err.contains("Secret123"), "{err}");
            assert!(err.contains("{ value = \"...\" }"), "{err}");
        }
    }

    #[test]
    fn unknown_schemes_list_every_backend() {
        let err = Reference::parse("hashi:x").unwrap_err();
        for scheme in ["keyring:", "op://", "pass:", "keyutils:", "vault:", "cmd:"] {
            assert!(err.contains(scheme), "{err}");
        }
    }

    #[test]
    fn only_cmd_references_run_a_program() {
        for (text, runs) in [
            ("cmd:secret-tool lookup service pypi", true),
            ("keyring:pypi/coveragepy", false),
            ("op://P/GitHub/credential", false),
            ("pass:pypi/coveragepy#username", false),
            ("keyutils:pypi", false),
        ] {
            let r = Reference::parse(text).unwrap();
            assert_eq!(r.runs_program(), runs, "{text}");
            assert_eq!(r.to_string(), text);
        }
    }

    #[test]
    fn not_found_tells_how_to_store() {
        let e = VaultError::NotFound {
            reference: "keyring:pypi/x".into(),
            backend: "the OS keychain",
        };
        assert_eq!(
            e.to_string(),
            "keyring:pypi/x: no such secret in the OS keychain; store it with `sec set keyring:pypi/x`"
        );
    }

    #[test]
    fn secrets_debug_as_a_placeholder() {
        let s = into_secret("canary-value".to_string());
        assert!(!format!("{s:?}").contains("canary"));
    }
}
