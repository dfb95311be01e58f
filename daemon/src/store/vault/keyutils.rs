//! `keyutils:NAME`: the Linux kernel keyring, through the `keyctl` system calls
//! (linux-keyutils), without keyring-core.
//!
//! A secret is a key of type `user` with the description `sec:NAME` linked into the
//! caller's **user keyring** (`@u`). The user keyring belongs to the uid, not to a login
//! session: every process of the user sees the same keys, and they outlive secd's restarts
//! and the user's logouts, but **not a reboot** (the kernel keeps them in memory only). Use
//! it for tokens that are cheap to fetch again, or as a cache that `sec set` refills.
//!
//! NAME is any text without whitespace or control characters, at most 255 bytes; `/` and
//! `:` are allowed (`keyutils:pypi/coveragepy`). `keyctl search @u user sec:NAME` finds the
//! key, `keyctl print` shows it.
//!
//! Keys are stored with all permissions for their possessor and for their user (the
//! kernel's default gives the user only "view"), so a process of the same uid whose session
//! keyring does not link `@u` can read them too. Other uids get nothing.
//!
//! Checked on Linux 6.18 as root with no PAM session (a container): `@u` works without
//! joining a session keyring. That is unlike the *session* keyring, which falls back to
//! `_uid_ses.<uid>` there and breaks keyring-core's keyutils store (checked when this backend
//! was written).
//! A key added to `@u` by `nobody` was still there after every process of `nobody` had
//! exited (since Linux 5.3 the user keyring is anchored in the user namespace; on older
//! kernels it could vanish with the uid's last process). Containers whose seccomp profile
//! blocks `keyctl` (Docker's default does) get an `Unavailable` error.
//!
//! The system calls take microseconds but are blocking, so they run on the blocking pool.

use secrecy::SecretString;

use super::{KeyutilsRef, VaultError};

const BACKEND: &str = "the kernel keyring";
/// The prefix that keeps sec's keys apart from other programs' keys in `@u`.
const PREFIX: &str = "sec:";

#[derive(Default)]
pub struct KeyutilsBackend;

impl KeyutilsBackend {
    pub fn new() -> Self {
        Self
    }
}

#[cfg(target_os = "linux")]
mod imp {
    use linux_keyutils::{
        Key, KeyError, KeyPermissionsBuilder, KeyRing, KeyRingIdentifier, Permission,
    };
    use secrecy::{ExposeSecret, SecretString};
    use zeroize::Zeroizing;

    use super::{BACKEND, VaultError};

    /// The largest payload of a `user` key.
    const MAX_VALUE: usize = 32767;

    /// Which step failed: reaching `@u` at all, or working with the key.
    #[derive(Debug)]
    pub(super) enum Fail {
        Ring(KeyError),
        Key(KeyError),
        NotText,
        TooLong,
    }

    fn user_keyring() -> Result<KeyRing, Fail> {
        KeyRing::from_special_id(KeyRingIdentifier::User, true).map_err(Fail::Ring)
    }

    fn find(ring: &KeyRing, description: &str) -> Result<Key, Fail> {
        ring.search(description).map_err(Fail::Key)
    }

    pub(super) fn get(description: &str) -> Result<SecretString, Fail> {
        let ring = user_keyring()?;
        let key = find(&ring, description)?;
        let payload = Zeroizing::new(key.read_to_vec().map_err(Fail::Key)?);
        let text = std::str::from_utf8(&payload).map_err(|_| Fail::NotText)?;
        Ok(SecretString::from(text))
    }

    pub(super) fn store(description: &str, value: &SecretString) -> Result<(), Fail> {
        let value = value.expose_secret().as_bytes();
        if value.len() > MAX_VALUE {
            return Err(Fail::TooLong);
        }
        let ring = user_keyring()?;
        // Replaces the payload of an existing `sec:NAME` key in @u, or adds one.
        let key = ring.add_key(description, value).map_err(Fail::Key)?;
        let perms = KeyPermissionsBuilder::builder()
            .posessor(Permission::ALL)
            .user(Permission::ALL)
            .build();
        key.set_perms(perms).map_err(Fail::Key)
    }

    pub(super) fn delete(description: &str) -> Result<(), Fail> {
        let ring = user_keyring()?;
        let key = find(&ring, description)?;
        // Invalidating removes the key from every keyring at once; unlinking from @u is
        // the fallback should the kernel refuse it.
        match key.invalidate() {
            Ok(()) => Ok(()),
            Err(_) => ring.unlink_key(key).map_err(Fail::Key),
        }
    }

    fn errno_text(error: KeyError) -> String {
        match error {
            KeyError::Unknown(errno) => std::io::Error::from_raw_os_error(errno).to_string(),
            other => format!("{other:?}"),
        }
    }

    pub(super) fn describe(reference: String, description: &str, fail: Fail) -> VaultError {
        let failed = |reason: String| VaultError::Failed {
            reference: reference.clone(),
            backend: BACKEND,
            reason,
        };
        match fail {
            Fail::Ring(e) => VaultError::Unavailable {
                reference,
                backend: BACKEND,
                reason: format!(
                    "secd cannot reach the user keyring ({}); containers often block the keyctl system calls (Docker's default seccomp profile does): use another backend there",
                    errno_text(e)
                ),
            },
            Fail::Key(KeyError::KeyDoesNotExist | KeyError::KeyRevoked | KeyError::KeyExpired) => {
                VaultError::NotFound {
                    reference,
                    backend: BACKEND,
                }
            }
            Fail::Key(KeyError::QuotaExceeded) => failed(
                "the user's kernel key quota is full (see /proc/sys/kernel/keys/maxkeys and maxbytes); free space with `keyctl unlink` on keys you no longer need".into(),
            ),
            Fail::Key(e @ (KeyError::AccessDenied | KeyError::PermissionDenied)) => {
                failed(format!(
                    "the kernel refused access to the key `{description}` ({}); check its owner and permissions with `keyctl describe $(keyctl search @u user {description})`",
                    errno_text(e)
                ))
            }
            Fail::Key(e) => failed(format!(
                "keyctl failed on `{description}` ({})",
                errno_text(e)
            )),
            Fail::NotText => failed(format!(
                "the key `{description}` holds something that is not UTF-8 text"
            )),
            Fail::TooLong => failed(format!(
                "the value is longer than the {MAX_VALUE} bytes a kernel `user` key can hold"
            )),
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    use secrecy::SecretString;

    use super::{BACKEND, VaultError};

    pub(super) struct Fail;

    pub(super) fn get(_description: &str) -> Result<SecretString, Fail> {
        Err(Fail)
    }

    pub(super) fn store(_description: &str, _value: &SecretString) -> Result<(), Fail> {
        Err(Fail)
    }

    pub(super) fn delete(_description: &str) -> Result<(), Fail> {
        Err(Fail)
    }

    pub(super) fn describe(reference: String, _description: &str, _fail: Fail) -> VaultError {
        VaultError::Unavailable {
            reference,
            backend: BACKEND,
            reason: "the kernel keyring exists only on Linux; use `keyring:SERVICE/ACCOUNT` for this system's keychain".into(),
        }
    }
}

/// Runs `op` on the key's description on the blocking pool.
async fn on_key<T: Send + 'static>(
    reference: &KeyutilsRef,
    op: impl FnOnce(&str) -> Result<T, imp::Fail> + Send + 'static,
) -> Result<T, VaultError> {
    let description = format!("{PREFIX}{}", reference.name);
    let (description, result) = tokio::task::spawn_blocking(move || {
        let result = op(&description);
        (description, result)
    })
    .await
    .map_err(|join| VaultError::Failed {
        reference: reference.to_string(),
        backend: BACKEND,
        reason: format!("the keyctl call did not finish ({join})"),
    })?;
    result.map_err(|fail| imp::describe(reference.to_string(), &description, fail))
}

impl KeyutilsBackend {
    pub async fn get(&self, reference: &KeyutilsRef) -> Result<SecretString, VaultError> {
        on_key(reference, imp::get).await
    }

    pub async fn store(
        &self,
        reference: &KeyutilsRef,
        value: SecretString,
    ) -> Result<(), VaultError> {
        on_key(reference, move |description| {
            imp::store(description, &value)
        })
        .await
    }

    pub async fn delete(&self, reference: &KeyutilsRef) -> Result<(), VaultError> {
        on_key(reference, imp::delete).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::vault::Reference;

    #[test]
    fn parses_keyutils_references() {
        let r = Reference::parse("keyutils:pypi/coveragepy").unwrap();
        assert_eq!(
            r,
            Reference::Keyutils(KeyutilsRef {
                name: "pypi/coveragepy".into()
            })
        );
        assert_eq!(r.to_string(), "keyutils:pypi/coveragepy");
        assert!(!r.runs_program());
        assert!(Reference::parse("keyutils:a:b").is_ok());
        assert!(
            Reference::parse(&format!(
                "keyutils:{}",
                "n".repeat(sec_proto::reference::MAX_KEYUTILS_NAME)
            ))
            .is_ok()
        );
        for bad in [
            "keyutils:".to_string(),
            "keyutils:a b".into(),
            "keyutils:a\tb".into(),
            "keyutils:a\u{7}".into(),
            format!(
                "keyutils:{}",
                "n".repeat(sec_proto::reference::MAX_KEYUTILS_NAME + 1)
            ),
        ] {
            let err = Reference::parse(&bad).unwrap_err();
            assert!(err.starts_with("a keyutils reference is"), "{bad:?}: {err}");
            assert!(!err.contains("nnnn"), "{err}");
        }
    }

    #[test]
    fn not_found_says_keys_do_not_survive_a_reboot() {
        let e = VaultError::NotFound {
            reference: "keyutils:pypi".into(),
            backend: BACKEND,
        };
        assert_eq!(
            e.to_string(),
            "keyutils:pypi: no such secret in the kernel keyring; kernel keyring keys last only until the next reboot; store it again with `sec set keyutils:pypi`"
        );
    }

    #[cfg(not(target_os = "linux"))]
    #[tokio::test]
    async fn exists_only_on_linux() {
        let r = KeyutilsRef { name: "x".into() };
        let err = KeyutilsBackend::new().get(&r).await.unwrap_err();
        assert!(matches!(err, VaultError::Unavailable { .. }), "{err}");
        assert!(err.to_string().contains("only on Linux"), "{err}");
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn round_trip_in_the_user_keyring() {
        use secrecy::ExposeSecret;

        if let Err(e) =
            linux_keyutils::KeyRing::from_special_id(linux_keyutils::KeyRingIdentifier::User, true)
        {
            panic!(
                "this test needs the kernel keyring: run it where keyctl is allowed (not in a container whose seccomp profile blocks it): {e:?}"
            );
        }
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let name = format!("test/{}-{nanos}", std::process::id());
        let r = KeyutilsRef { name: name.clone() };
        let backend = KeyutilsBackend::new();

        let err = backend.get(&r).await.unwrap_err();
        assert!(matches!(err, VaultError::NotFound { .. }), "{err}");

        backend
            .store(&r, SecretString::from("first"))
            .await
            .unwrap();
        assert_eq!(backend.get(&r).await.unwrap().expose_secret(), "first");
        backend
            .store(&r, SecretString::from("second value"))
            .await
            .unwrap();
        assert_eq!(
            backend.get(&r).await.unwrap().expose_secret(),
            "second value"
        );

        // Another process of the user sees it where the docs say it is.
        if let Ok(out) = std::process::Command::new("keyctl")
            .args(["search", "@u", "user", &format!("sec:{name}")])
            .output()
        {
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
            let out = std::process::Command::new("keyctl")
                .args(["pipe", &id])
                .output()
                .unwrap();
            assert_eq!(out.stdout, b"second value");
        } else {
            eprintln!("`keyctl` is not installed: checked through secd's own calls only");
        }

        let too_long = "x".repeat(40_000);
        let err = backend
            .store(&r, SecretString::from(too_long))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("32767 bytes"), "{err}");
        assert!(!err.to_string().contains("xxxx"), "{err}");

        backend.delete(&r).await.unwrap();
        let err = backend.get(&r).await.unwrap_err();
        assert!(matches!(err, VaultError::NotFound { .. }), "{err}");
        let err = backend.delete(&r).await.unwrap_err();
        assert!(matches!(err, VaultError::NotFound { .. }), "{err}");
    }
}
