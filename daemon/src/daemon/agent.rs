//! The SSH keys of a lease: read through the cache like any secret, parsed, and served by
//! the lease's own agent (`lease::agent`), whose socket the command gets as `SSH_AUTH_SOCK`.

use secrecy::{ExposeSecret, SecretString};

use crate::config::Scope;
use crate::daemon::engine::VaultBatch;
use crate::daemon::{Daemon, LeaseError, Resolved};
use crate::lease::agent::{AgentKey, LeaseContext};
use crate::lease::live::LeaseRecord;

/// The variable that points the command's ssh at the lease's agent.
pub const AGENT_VAR: &str = "SSH_AUTH_SOCK";

impl Daemon {
    /// The scope's SSH keys, parsed; a key that is not an unencrypted OpenSSH private key
    /// refuses the lease, naming its reference.
    pub(super) async fn ssh_keys(&self, scope: &Scope) -> Result<Vec<AgentKey>, LeaseError> {
        let mut keys = Vec::with_capacity(scope.ssh_keys.len());
        for entry in &scope.ssh_keys {
            let mut batch = VaultBatch::default();
            let text = self
                .secret(scope, &entry.reference, &mut batch)
                .await
                .map_err(|source| LeaseError::Vault {
                    name: AGENT_VAR.into(),
                    source,
                })?;
            self.revoke_minted("", batch.minted, "an SSH key is not a dynamic credential");
            let key = parse_key(&text).map_err(|reason| LeaseError::SshKey {
                reference: entry.reference.to_string(),
                reason: match entry.reference {
                    // pass gives a `pass:PATH` reference the entry's first line only.
                    crate::store::vault::Reference::Pass(_) => format!(
                        "{reason}; a pass reference reads one line of an entry, so keep SSH keys in the keychain, the local vault or 1Password"
                    ),
                    _ => reason,
                },
            })?;
            keys.push(AgentKey {
                key,
                reference: entry.reference.to_string(),
                confirm: entry.confirm,
            });
        }
        Ok(keys)
    }

    /// Starts the agent of a granted lease and adds `SSH_AUTH_SOCK` to its variables.
    pub(super) fn start_agent(
        &self,
        keys: Vec<AgentKey>,
        record: &LeaseRecord,
        scope: &Scope,
        config: &crate::config::Config,
        vars: &mut Vec<Resolved>,
    ) -> Result<(), LeaseError> {
        if keys.is_empty() {
            return Ok(());
        }
        let context = LeaseContext {
            lease: record.id.clone(),
            holder: record.holder,
            in_place: record.in_place,
            command: sec_proto::shell_words(&record.command),
            dir: scope.dir.clone(),
            askpass: config.defaults.askpass.clone(),
            confirm_timeout: config.defaults.confirm_timeout,
        };
        let socket = self
            .agents
            .start(keys, context, std::sync::Arc::clone(&self.audit))
            .map_err(LeaseError::Agent)?;
        vars.push(Resolved {
            name: AGENT_VAR.into(),
            value: SecretString::from(socket.display().to_string()),
        });
        Ok(())
    }
}

/// An OpenSSH private key from its PEM text; never repeats the text.
pub fn parse_key(text: &SecretString) -> Result<ssh_key::PrivateKey, String> {
    let text = text.expose_secret().trim();
    let key = sec_proto::openssh::read_private_key(
        text,
        |pem| ssh_key::PrivateKey::from_openssh(pem),
        ssh_key::PrivateKey::from_bytes,
    )
    .map_err(|_| {
        "not an OpenSSH private key (`-----BEGIN OPENSSH PRIVATE KEY-----`); `sec import ssh FILE` stores one".to_string()
    })?;
    if key.is_encrypted() {
        return Err(
            "the key is encrypted with a passphrase; `sec import ssh FILE` asks for it once and stores the key decrypted in the vault".into(),
        );
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ssh-key 0.6.7 cannot read an ECDSA key whose private scalar OpenSSH wrote short
    /// (about one P-521 key in four): `parse_key` reads it, and the key's signatures verify
    /// against its public key, so the scalar was mended, not changed.
    #[test]
    fn a_p521_key_with_a_short_scalar_is_read_and_signs() {
        use signature::{Signer, Verifier};
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("key");
        let text = (0..200)
            .find_map(|_| {
                let _ = std::fs::remove_file(&path);
                let _ = std::fs::remove_file(path.with_extension("pub"));
                let status = std::process::Command::new("ssh-keygen")
                    .args(["-q", "-t", "ecdsa", "-b", "521", "-N", "", "-f"])
                    .arg(&path)
                    .status()
                    .expect(
                        "this test needs ssh-keygen: install the Debian package openssh-client",
                    );
                assert!(status.success());
                let text = std::fs::read_to_string(&path).unwrap();
                // The control: ssh-key alone fails on this key.
                ssh_key::PrivateKey::from_openssh(text.trim())
                    .is_err()
                    .then_some(text)
            })
            .expect("200 P-521 keys and none with a short scalar: has ssh-key been fixed?");
        let key = parse_key(&SecretString::from(text)).unwrap();
        let signature: ssh_key::Signature = key.try_sign(b"signed").unwrap();
        Verifier::verify(key.public_key().key_data(), b"signed", &signature).unwrap();
    }
}
