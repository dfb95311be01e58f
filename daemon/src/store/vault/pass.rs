//! `pass:PATH` and `pass:PATH#KEY`: an entry of the standard Unix password store, read
//! through the real `pass` program (`pass show PATH`), so gpg, gpg-agent and the store's
//! `.gpg-id` work exactly as they do for the user.
//!
//! Half of this file is tests against a real `pass` with a throwaway GPG key: the backend
//! itself is under 400 lines.
//!
//! * `pass:PATH` is the entry's **first line** (pass's convention for the password).
//! * `pass:PATH#KEY` is the value of the entry's first line of the form `KEY: value`, looked
//!   for from the second line on. KEY matches case-sensitively (surrounding spaces ignored);
//!   the value is trimmed. E.g. `pass:pypi/coveragepy#username` with the entry
//!   `s3cret\nusername: __token__\n` gives `__token__`. The KEY is everything after the first
//!   `#`; it must not contain `:`.
//!
//! PATH is relative to the store (no leading `/` or `-`, no empty, `.` or `..` component).
//!
//! `pass` runs with secd's environment (so `PASSWORD_STORE_DIR`, `GNUPGHOME`,
//! `GPG_AGENT_INFO`... apply), stdin from `/dev/null` and a 30 s timeout: gpg cannot ask for
//! a passphrase here, so the key must be unlocked in gpg-agent (or have none).
//!
//! `sec set pass:PATH` replaces the first line only and keeps the entry's other lines
//! (`pass insert --multiline --force PATH`, fed the new content); a value with several
//! lines is refused, since only its first line would come back. `sec rm pass:PATH` runs
//! `pass rm --force PATH`. `#KEY` references are read-only: edit such lines with
//! `pass edit`.

use std::path::PathBuf;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use tokio::process::Command;
use zeroize::Zeroizing;

use super::program::{Advice, Captured, first_line, run, shorten};
use super::{PassRef, VaultError};

const BACKEND: &str = "the password store (pass)";
const TIMEOUT: Duration = Duration::from_secs(30);

/// The value a reference selects from an entry's decrypted text: the first line, or the
/// value of the first `KEY: value` line after it. `None` if there is no such line.
fn select<'c>(content: &'c str, key: Option<&str>) -> Option<&'c str> {
    let mut lines = content
        .split('\n')
        .map(|line| line.strip_suffix('\r').unwrap_or(line));
    let first = lines.next().unwrap_or("");
    match key {
        None => Some(first),
        Some(key) => lines.find_map(|line| {
            let (k, v) = line.split_once(':')?;
            (k.trim() == key).then(|| v.trim())
        }),
    }
}

/// Everything after an entry's first line (with its line break), kept when the first line
/// is replaced.
fn after_first_line(content: &str) -> &str {
    content.split_once('\n').map_or("", |(_, rest)| rest)
}

pub struct PassBackend {
    program: String,
    /// Added to secd's environment for `pass` only (tests point it at a throwaway store).
    env: Vec<(String, String)>,
    timeout: Duration,
}

impl PassBackend {
    pub fn new() -> Self {
        Self {
            program: "pass".into(),
            env: Vec::new(),
            timeout: TIMEOUT,
        }
    }

    /// A backend whose `pass` runs with these variables added to secd's environment
    /// (e.g. `PASSWORD_STORE_DIR`, `GNUPGHOME`), leaving secd's own environment alone.
    #[cfg(test)]
    pub fn with_env(env: Vec<(String, String)>) -> Self {
        Self { env, ..Self::new() }
    }

    fn var(&self, name: &str) -> Option<std::ffi::OsString> {
        self.env
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into())
            .or_else(|| std::env::var_os(name))
    }

    /// The store's directory, as `pass` finds it.
    fn store_dir(&self) -> Option<PathBuf> {
        match self.var("PASSWORD_STORE_DIR") {
            Some(dir) if !dir.is_empty() => Some(dir.into()),
            _ => self
                .var("HOME")
                .map(|home| PathBuf::from(home).join(".password-store")),
        }
    }

    /// Whether PATH is a folder of the store and not also an entry: `pass show` would print
    /// a tree of it (and succeed), `pass rm` would fail yet exit 0.
    async fn is_only_a_folder(&self, path: &str) -> bool {
        let Some(dir) = self.store_dir() else {
            return false;
        };
        let entry = dir.join(format!("{path}.gpg"));
        if tokio::fs::metadata(&entry).await.is_ok() {
            return false;
        }
        tokio::fs::metadata(dir.join(path))
            .await
            .is_ok_and(|m| m.is_dir())
    }

    async fn pass(
        &self,
        reference: &str,
        args: &[&str],
        input: Option<&[u8]>,
    ) -> Result<Captured, VaultError> {
        let mut command = Command::new(&self.program);
        command
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        run(command, input, self.timeout).await.map_err(|e| {
            e.explain(reference, BACKEND, "pass", Advice {
                not_installed: "the `pass` program is not installed or not on secd's PATH; install it (e.g. `apt install pass`, see https://www.passwordstore.org/)".into(),
                timed_out: format!(
                    "`pass {}` gave no answer within {}s (it was stopped); gpg may be waiting for a passphrase: unlock your key in gpg-agent (e.g. run `pass show` once in a terminal) and try again",
                    args[0],
                    self.timeout.as_secs()
                ),
            })
        })
    }

    fn folder_error(reference: &str, path: &str, what: &str) -> VaultError {
        VaultError::Failed {
            reference: reference.to_string(),
            backend: BACKEND,
            reason: format!("`{path}` is a folder of the password store, not an entry; {what}"),
        }
    }

    /// The entry's whole decrypted text (wiped when dropped).
    async fn show(&self, reference: &str, path: &str) -> Result<Zeroizing<String>, VaultError> {
        let mut captured = self.pass(reference, &["show", "--", path], None).await?;
        if !captured.status.success() {
            return Err(pass_error(
                reference,
                &String::from_utf8_lossy(&captured.stderr),
            ));
        }
        match String::from_utf8(std::mem::take(&mut *captured.stdout)) {
            Ok(text) => Ok(Zeroizing::new(text)),
            Err(e) => {
                drop(Zeroizing::new(e.into_bytes()));
                Err(VaultError::Failed {
                    reference: reference.to_string(),
                    backend: BACKEND,
                    reason: "the entry is not UTF-8 text".into(),
                })
            }
        }
    }

    async fn read(&self, reference: &PassRef) -> Result<SecretString, VaultError> {
        let PassRef { path, key } = reference;
        let name = reference.to_string();
        if self.is_only_a_folder(path).await {
            return Err(Self::folder_error(
                &name,
                path,
                &format!("name an entry in it (see `pass ls {path}`)"),
            ));
        }
        let content = self.show(&name, path).await?;
        match select(&content, key.as_deref()) {
            Some(value) => Ok(SecretString::from(value)),
            None => Err(VaultError::NotFound {
                reference: name,
                backend: BACKEND,
            }),
        }
    }

    async fn write(&self, reference: &PassRef, value: SecretString) -> Result<(), VaultError> {
        let path = whole_entry(
            reference,
            "store",
            "a `pass:PATH#KEY` reference names one line of an entry; edit that line with `pass edit PATH`",
        )?;
        let name = reference.to_string();
        let value = value.expose_secret();
        if value.contains(['\n', '\r']) {
            return Err(VaultError::Failed {
                reference: name,
                backend: BACKEND,
                reason: format!(
                    "the value has several lines, but a `pass:PATH` reference reads back only the first line of an entry; put each part on its own `KEY: value` line with `pass edit {path}` and name it as `pass:{path}#KEY`"
                ),
            });
        }
        // Keep the entry's other lines (`username: ...` and the like).
        let rest = if self.is_only_a_folder(path).await {
            None
        } else {
            match self.show(&name, path).await {
                Ok(content) => Some(Zeroizing::new(after_first_line(&content).to_string())),
                Err(VaultError::NotFound { .. }) => None,
                Err(e) => return Err(e),
            }
        };
        let mut content = Zeroizing::new(String::with_capacity(
            value.len() + 1 + rest.as_ref().map_or(0, |r| r.len()),
        ));
        content.push_str(value);
        content.push('\n');
        if let Some(rest) = &rest {
            content.push_str(rest);
        }
        let captured = self
            .pass(
                &name,
                &["insert", "--multiline", "--force", "--", path],
                Some(content.as_bytes()),
            )
            .await?;
        succeeded(&name, &captured)
    }

    async fn remove(&self, reference: &PassRef) -> Result<(), VaultError> {
        let path = whole_entry(
            reference,
            "delete",
            "a `pass:PATH#KEY` reference names one line of an entry; remove that line with `pass edit PATH`, or delete the whole entry as `pass:PATH`",
        )?;
        let name = reference.to_string();
        if self.is_only_a_folder(path).await {
            return Err(Self::folder_error(
                &name,
                path,
                "sec deletes single entries; remove a folder with `pass rm -r`",
            ));
        }
        let captured = self
            .pass(&name, &["rm", "--force", "--", path], None)
            .await?;
        succeeded(&name, &captured)
    }
}

impl Default for PassBackend {
    fn default() -> Self {
        Self::new()
    }
}

/// Classifies a failed `pass` run by its stderr (pass's own `Error: ...` lines and gpg's).
fn pass_error(reference: &str, stderr: &str) -> VaultError {
    let reference = reference.to_string();
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let find = |needles: &[&str]| {
        lines
            .iter()
            .find(|line| needles.iter().any(|n| line.contains(n)))
            .map(|line| shorten(line))
    };
    if find(&["is not in the password store"]).is_some() {
        return VaultError::NotFound {
            reference,
            backend: BACKEND,
        };
    }
    if find(&["You must run", "before you may use the password store"]).is_some() {
        return VaultError::Unavailable {
            reference,
            backend: BACKEND,
            reason: "the password store is not initialised; run `pass init GPG-ID` (or set PASSWORD_STORE_DIR in secd's environment to your store)".into(),
        };
    }
    if let Some(line) = find(&[
        "decryption failed",
        "No secret key",
        "pinentry",
        "Inappropriate ioctl",
        "Operation cancelled",
        "Bad passphrase",
    ]) {
        return VaultError::Unavailable {
            reference,
            backend: BACKEND,
            reason: format!(
                "gpg could not decrypt the entry ({line}); is your key available (`gpg --list-secret-keys`) and gpg-agent unlocked?"
            ),
        };
    }
    if let Some(line) = find(&["encryption failed", "No public key", "unusable public key"]) {
        return VaultError::Failed {
            reference,
            backend: BACKEND,
            reason: format!(
                "gpg could not encrypt the entry ({line}); check that the key IDs in the store's `.gpg-id` are in `gpg --list-keys`"
            ),
        };
    }
    let line = first_line(stderr);
    VaultError::Failed {
        reference,
        backend: BACKEND,
        reason: if line.is_empty() {
            "`pass` failed without a message".into()
        } else {
            line
        },
    }
}

/// `pass` did what it was asked, or the error its stderr explains.
fn succeeded(name: &str, captured: &Captured) -> Result<(), VaultError> {
    if captured.status.success() {
        Ok(())
    } else {
        Err(pass_error(name, &String::from_utf8_lossy(&captured.stderr)))
    }
}

/// The entry's path of a reference to a whole entry; `pass:PATH#KEY` (one line of an entry)
/// cannot be stored or deleted on its own.
fn whole_entry<'r>(
    reference: &'r PassRef,
    action: &'static str,
    hint: &'static str,
) -> Result<&'r str, VaultError> {
    match reference.key {
        None => Ok(&reference.path),
        Some(_) => Err(VaultError::Unsupported {
            reference: reference.to_string(),
            backend: BACKEND,
            action,
            hint,
        }),
    }
}

impl PassBackend {
    pub async fn get(&self, reference: &PassRef) -> Result<SecretString, VaultError> {
        self.read(reference).await
    }

    pub async fn store(&self, reference: &PassRef, value: SecretString) -> Result<(), VaultError> {
        self.write(reference, value).await
    }

    pub async fn delete(&self, reference: &PassRef) -> Result<(), VaultError> {
        self.remove(reference).await
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::store::vault::Reference;

    #[test]
    fn parses_pass_references() {
        let r = Reference::parse("pass:pypi/coveragepy").unwrap();
        assert_eq!(
            r,
            Reference::Pass(PassRef {
                path: "pypi/coveragepy".into(),
                key: None
            })
        );
        assert_eq!(r.to_string(), "pass:pypi/coveragepy");
        let r = Reference::parse("pass:pypi/coveragepy#username").unwrap();
        assert_eq!(
            r,
            Reference::Pass(PassRef {
                path: "pypi/coveragepy".into(),
                key: Some("username".into())
            })
        );
        assert_eq!(r.to_string(), "pass:pypi/coveragepy#username");
        assert!(!r.runs_program());
        let r = Reference::parse("pass:web/my site#security question #1").unwrap();
        assert_eq!(r.to_string(), "pass:web/my site#security question #1");
        assert!(Reference::parse("pass:token").is_ok());
        for bad in [
            "pass:",
            "pass:#user",
            "pass:/abs/path",
            "pass:-c",
            "pass:a//b",
            "pass:a/",
            "pass:../x",
            "pass:a/./b",
            "pass:a\nb",
            "pass:a#",
            "pass:a#user:name",
            "pass:a# user",
        ] {
            let err = Reference::parse(bad).unwrap_err();
            assert!(err.starts_with("a pass reference is"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn parse_errors_never_repeat_the_text() {
        for text in [
            "pass:/pypi-AgEIcHlwaS5vcmc",
            "pass:pypi-AgEIcHlwaS5vcmc#",
            "pass:-pypi-AgEIcHlwaS5vcmc",
        ] {
            let err = Reference::parse(text).unwrap_err();
            assert!(!err.contains("AgEIcHlwaS5vcmc"), "{err}");
        }
    }

    #[test]
    fn selects_the_first_line_or_a_key() {
        let entry = "s3cret\r\nusername: __token__\nurl:https://pypi.org\n  note : a: b  \nusername: second\n";
        assert_eq!(select(entry, None), Some("s3cret"));
        assert_eq!(select(entry, Some("username")), Some("__token__"));
        assert_eq!(select(entry, Some("url")), Some("https://pypi.org"));
        assert_eq!(select(entry, Some("note")), Some("a: b"));
        assert_eq!(select(entry, Some("Username")), None);
        assert_eq!(select(entry, Some("s3cret")), None);
        assert_eq!(select("only", None), Some("only"));
        assert_eq!(select("", None), Some(""));
        assert_eq!(
            select("user: x\n", Some("user")),
            None,
            "the first line is the password"
        );
        assert_eq!(after_first_line("a\nb: c\n"), "b: c\n");
        assert_eq!(after_first_line("a\n"), "");
        assert_eq!(after_first_line("a"), "");
    }

    #[test]
    fn classifies_pass_errors() {
        let r = "pass:pypi/x";
        let e = pass_error(r, "Error: pypi/x is not in the password store.\n");
        assert!(matches!(e, VaultError::NotFound { .. }), "{e}");
        assert_eq!(
            e.to_string(),
            "pass:pypi/x: no such secret in the password store (pass); store it with `sec set pass:pypi/x`"
        );
        let e = pass_error(
            "pass:pypi/x#username",
            "Error: pypi/x is not in the password store.\n",
        );
        assert!(
            e.to_string()
                .ends_with("run `pass edit pypi/x` and add a line `username: ...`"),
            "{e}"
        );

        let e = pass_error(r, "gpg: decryption failed: No secret key\n");
        assert!(matches!(e, VaultError::Unavailable { .. }), "{e}");
        assert!(
            e.to_string().contains(
                "gpg could not decrypt the entry (gpg: decryption failed: No secret key); is your key available"
            ),
            "{e}"
        );
        let e = pass_error(
            r,
            "gpg: public key decryption failed: Inappropriate ioctl for device\ngpg: decryption failed: No secret key\n",
        );
        assert!(matches!(e, VaultError::Unavailable { .. }), "{e}");
        assert!(e.to_string().contains("gpg-agent unlocked?"), "{e}");

        let e = pass_error(
            r,
            "Error: You must run:\n    pass init your-gpg-id\nbefore you may use the password store.\n\n",
        );
        assert!(matches!(e, VaultError::Unavailable { .. }), "{e}");
        assert!(e.to_string().contains("run `pass init GPG-ID`"), "{e}");

        let e = pass_error(
            r,
            "gpg: DEADBEEF: skipped: No public key\ngpg: [stdin]: encryption failed: No public key\nPassword encryption aborted.\n",
        );
        assert!(matches!(e, VaultError::Failed { .. }), "{e}");
        assert!(e.to_string().contains("gpg could not encrypt"), "{e}");

        let e = pass_error(r, "\nsomething odd happened\nmore\n");
        assert_eq!(
            e.to_string(),
            "pass:pypi/x: the password store (pass) failed: something odd happened"
        );
        let e = pass_error(r, "");
        assert!(e.to_string().ends_with("failed without a message"), "{e}");
    }

    #[tokio::test]
    async fn a_missing_pass_program_says_what_to_do() {
        let backend = PassBackend {
            program: "sec-test-no-such-pass".into(),
            ..PassBackend::new()
        };
        let r = reference("pass:x");
        let err = backend.get(&r).await.unwrap_err();
        assert!(matches!(err, VaultError::Unavailable { .. }), "{err}");
        assert!(err.to_string().contains("install it"), "{err}");
    }

    #[tokio::test]
    async fn key_references_are_read_only() {
        let backend = PassBackend::new();
        let r = reference("pass:x#user");
        let err = backend
            .store(&r, SecretString::from("v"))
            .await
            .unwrap_err();
        assert!(matches!(err, VaultError::Unsupported { .. }), "{err}");
        let err = backend.delete(&r).await.unwrap_err();
        assert!(matches!(err, VaultError::Unsupported { .. }), "{err}");
    }

    /// A throwaway GNUPGHOME with a passphrase-less key and a password store initialised for
    /// it. Its gpg-agent is stopped when dropped.
    struct Store {
        gnupg: tempfile::TempDir,
        store: tempfile::TempDir,
    }

    impl Store {
        fn env(&self) -> Vec<(String, String)> {
            vec![
                ("GNUPGHOME".into(), path_str(self.gnupg.path())),
                ("PASSWORD_STORE_DIR".into(), path_str(self.store.path())),
            ]
        }

        fn run(&self, program: &str, args: &[&str], input: Option<&str>) -> std::process::Output {
            use std::io::Write;
            let mut child = std::process::Command::new(program)
                .args(args)
                .envs(self.env())
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap_or_else(|e| panic!("{program}: {e}"));
            let mut stdin = child.stdin.take().unwrap();
            if let Some(input) = input {
                stdin.write_all(input.as_bytes()).unwrap();
            }
            drop(stdin);
            let output = child.wait_with_output().unwrap();
            assert!(
                output.status.success(),
                "{program} {args:?}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            output
        }

        /// Fails the test, saying what to install, when pass or gpg is missing.
        fn new() -> Store {
            for program in ["pass", "gpg", "gpgconf"] {
                let found = std::process::Command::new(program)
                    .arg("--version")
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .status()
                    .is_ok();
                assert!(
                    found,
                    "this test needs `{program}`: install the Debian packages `pass` and `gnupg` (.ci/run does)"
                );
            }
            // Short paths: gpg-agent's socket lives in GNUPGHOME.
            let gnupg = tempfile::Builder::new()
                .prefix("sec-gpg")
                .tempdir_in("/tmp")
                .unwrap();
            let store = tempfile::Builder::new()
                .prefix("sec-pass")
                .tempdir_in("/tmp")
                .unwrap();
            let store = Store { gnupg, store };
            store.run(
                "gpg",
                &[
                    "--batch",
                    "--passphrase",
                    "",
                    "--quick-gen-key",
                    "test <t@example.invalid>",
                    "future-default",
                    "default",
                    "never",
                ],
                None,
            );
            let fpr = store.fingerprint();
            store.run("pass", &["init", &fpr], None);
            store
        }

        fn fingerprint(&self) -> String {
            let listing = self.run("gpg", &["--list-keys", "--with-colons"], None);
            String::from_utf8_lossy(&listing.stdout)
                .lines()
                .find_map(|l| l.strip_prefix("fpr:"))
                .and_then(|l| l.split(':').find(|f| !f.is_empty()))
                .expect("a fingerprint")
                .to_string()
        }

        fn insert(&self, path: &str, content: &str) {
            self.run("pass", &["insert", "--multiline", path], Some(content));
        }

        fn show(&self, path: &str) -> String {
            String::from_utf8(self.run("pass", &["show", path], None).stdout).unwrap()
        }

        fn exists(&self, path: &str) -> bool {
            self.store.path().join(format!("{path}.gpg")).exists()
        }
    }

    impl Drop for Store {
        fn drop(&mut self) {
            let _ = std::process::Command::new("gpgconf")
                .args(["--kill", "gpg-agent"])
                .env("GNUPGHOME", self.gnupg.path())
                .status();
        }
    }

    fn path_str(path: &Path) -> String {
        path.to_str().unwrap().to_string()
    }

    fn reference(text: &str) -> PassRef {
        PassRef::try_from(Reference::parse(text).unwrap()).unwrap()
    }

    #[tokio::test]
    async fn round_trip_with_a_real_store() {
        let store = Store::new();
        let backend = PassBackend::with_env(store.env());
        store.insert(
            "pypi/coveragepy",
            "s3cret-first\nusername: __token__\nurl: https://upload.pypi.org\n",
        );

        let get = |text: &str| {
            let r = reference(text);
            let backend = &backend;
            async move { backend.get(&r).await.map(|s| s.expose_secret().to_string()) }
        };
        assert_eq!(get("pass:pypi/coveragepy").await.unwrap(), "s3cret-first");
        assert_eq!(
            get("pass:pypi/coveragepy#username").await.unwrap(),
            "__token__"
        );
        assert_eq!(
            get("pass:pypi/coveragepy#url").await.unwrap(),
            "https://upload.pypi.org"
        );

        let err = get("pass:pypi/coveragepy#password").await.unwrap_err();
        assert!(matches!(err, VaultError::NotFound { .. }), "{err}");
        assert!(err.to_string().contains("`password: ...`"), "{err}");
        let err = get("pass:pypi/nope").await.unwrap_err();
        assert!(matches!(err, VaultError::NotFound { .. }), "{err}");

        // A folder is not an entry: `pass show` would print a tree and succeed.
        let err = get("pass:pypi").await.unwrap_err();
        assert!(err.to_string().contains("is a folder"), "{err}");
        let err = backend.delete(&reference("pass:pypi")).await.unwrap_err();
        assert!(err.to_string().contains("is a folder"), "{err}");

        // Storing replaces the first line and keeps the others.
        let r = reference("pass:pypi/coveragepy");
        backend
            .store(&r, SecretString::from("new-token"))
            .await
            .unwrap();
        assert_eq!(
            store.show("pypi/coveragepy"),
            "new-token\nusername: __token__\nurl: https://upload.pypi.org\n"
        );
        let err = backend
            .store(&r, SecretString::from("two\nlines"))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("several lines"), "{err}");
        assert!(!err.to_string().contains("two"), "{err}");

        // A new entry, with a value that needs no quoting anywhere.
        let fresh = reference("pass:new/entry with space");
        backend
            .store(&fresh, SecretString::from(" -x 'q' \"$HOME\" "))
            .await
            .unwrap();
        assert_eq!(store.show("new/entry with space"), " -x 'q' \"$HOME\" \n");
        assert_eq!(
            get("pass:new/entry with space").await.unwrap(),
            " -x 'q' \"$HOME\" "
        );

        backend.delete(&fresh).await.unwrap();
        assert!(!store.exists("new/entry with space"));
        let err = backend.delete(&fresh).await.unwrap_err();
        assert!(matches!(err, VaultError::NotFound { .. }), "{err}");

        // Without the secret key, gpg cannot decrypt.
        let fpr = store.fingerprint();
        store.run(
            "gpg",
            &["--batch", "--yes", "--delete-secret-keys", &fpr],
            None,
        );
        let err = get("pass:pypi/coveragepy").await.unwrap_err();
        assert!(matches!(err, VaultError::Unavailable { .. }), "{err}");
        assert!(err.to_string().contains("gpg could not decrypt"), "{err}");
        // ...and storing must not overwrite lines it could not read.
        let err = backend
            .store(&r, SecretString::from("x"))
            .await
            .unwrap_err();
        assert!(matches!(err, VaultError::Unavailable { .. }), "{err}");
    }
}
