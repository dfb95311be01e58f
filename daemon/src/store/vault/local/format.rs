//! The storage layer of the built-in vault behind `local:NAME` references: one encrypted
//! file, `$XDG_DATA_HOME/sec/vault.age` (see `sec_proto::paths::local_vault`), that holds every local
//! secret.
//!
//! Long because the format is security-critical and tested here at length (about 400 of its
//! lines): the file itself, its header and its parsing are under 600.
//!
//! # Why age
//!
//! The file is an [age](https://age-encryption.org/v1) file. age is a small, public,
//! much-reviewed specification with several interoperable implementations, so we invent no
//! cryptography and no container: the passphrase recipient derives the key-wrapping key
//! with scrypt (memory-hard, so a stolen file resists guessing), the payload is
//! ChaCha20-Poly1305 in authenticated 64 KiB chunks, and the header carries an HMAC, so
//! any change to the file is detected. A user can always get their secrets back without
//! sec: `age -d vault.age` (or `rage -d`) with the passphrase prints the JSON below.
//!
//! Only the passphrase (scrypt) recipient is ever used, so that subset of age is written out
//! in [`age_scrypt`] on the RustCrypto primitives (`scrypt`, `chacha20poly1305`, `hkdf`,
//! `hmac`), rather than with the `age` crate (which wrote the vaults until issue 14 and
//! brought about 75 crates into secd's build). Its tests check it against that crate in both
//! directions, and against a vault file that crate wrote.
//!
//! The file is **binary**, not ASCII-armored: only secd reads and writes it, nothing pastes
//! it into a mail or a config, so armor would only add a third to its size and another
//! parser to the path that reads untrusted bytes. The `age` command-line tool reads the
//! binary form as it is.
//!
//! # The plaintext inside
//!
//! `{"version":1,"secrets":{"NAME":"VALUE",...}}`, UTF-8 JSON written by `serde_json`.
//! Names are plain strings; the values are the secrets. A later format bumps `version`,
//! and this code refuses a version it does not know with [`LocalVaultError::NewerFormat`]
//! instead of misreading it.
//!
//! Every buffer that holds plaintext is a [`Zeroizing`] one, sized up front so that it never
//! reallocates (a reallocation would leave a copy behind in freed memory): the JSON is
//! measured before it is written, and the decrypted payload is read into a buffer as large
//! as the plaintext it holds. Values are decoded from the JSON by [`decode_json_string`]
//! straight out of that buffer, because `serde_json` would unescape a string with an escape
//! (a newline in a PEM key, a quote) into an internal scratch buffer that is never wiped.
//! [`age_scrypt`] seals and opens the chunks in place, in buffers sized once, so it leaves
//! no plaintext copy behind either.
//!
//! # Durability
//!
//! [`VaultFile::save`] encrypts in memory, writes the ciphertext to a fresh temporary file
//! in the vault's own directory (created mode 0600), fsyncs it, renames it over the vault
//! and fsyncs the directory. A crash or a full disk at any point leaves either the complete
//! previous vault or the complete new one, never a mix; a failed save deletes its temporary
//! file (only a crash can leave one, `.vault.age.*.tmp`, holding nothing but ciphertext).
//! Values never reach the disk unencrypted.
//!
//! # Cost: scrypt
//!
//! Both [`VaultFile::open`] and [`VaultFile::save`] run scrypt once, and block the thread
//! meanwhile (call them from `spawn_blocking`). The `age` tool calibrates its work factor on
//! the spot to "about a second"; the calibration extrapolates from a small, cache-resident
//! run, so it overshoots: on a 2-core test machine it picked 2^20, which takes 2 to 3
//! seconds and 1 GiB of memory per open or save. So the daemon should decrypt once, at
//! unlock, and keep [`Contents`] in memory; every save costs that again (and needs the
//! passphrase). The daemon fixes the work factor (see `vault::local::WORK_FACTOR`) with
//! [`VaultFile::with_work_factor`]; tests use a tiny one. An open accepts files up to 2^20
//! (or the vault's own factor, if higher), whatever wrote them, and refuses more before
//! running scrypt.

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretString};
use serde::ser::SerializeStruct;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;
use zeroize::{Zeroize, Zeroizing};

use self::age_scrypt::DecryptError;

#[path = "age_scrypt.rs"]
mod age_scrypt;

/// The version of the JSON inside the age payload that this code writes and reads.
const FORMAT_VERSION: u32 = 1;

/// The largest scrypt work factor `open` accepts (2^20: about 1 GiB and a few seconds).
const MAX_OPEN_LOG_N: u8 = 20;

/// The vault's file name in the data directory.
pub const FILE_NAME: &str = "vault.age";

/// Why the vault could not be opened or saved. No message ever contains a secret value or
/// the passphrase; each one says what to do.
#[derive(Debug, thiserror::Error)]
pub enum LocalVaultError {
    #[error(
        "there is no local vault at {} yet; storing a first `local:` secret creates it",
        path.display()
    )]
    Missing { path: PathBuf },
    #[error("the passphrase does not open {}; try again (nothing was changed)", path.display())]
    WrongPassphrase { path: PathBuf },
    #[error(
        "{} is not a readable sec vault: {detail}; restore it from a backup, or move it aside \
         to start a new vault (nothing was changed)",
        path.display()
    )]
    Corrupt { path: PathBuf, detail: String },
    #[error(
        "{} was written by a newer sec (vault format {version}; this one reads format \
         {FORMAT_VERSION}); update sec to open it (nothing was changed)",
        path.display()
    )]
    NewerFormat { path: PathBuf, version: u32 },
    #[error(
        "{} demands far more passphrase work (scrypt 2^{log_n}) than this machine accepts \
         (16 times what it does in a second), so it was not tried; open it on the machine \
         that wrote it, or with the `age` tool if you trust it (nothing was changed)",
        path.display()
    )]
    TooCostly { path: PathBuf, log_n: u8 },
    #[error(
        "cannot {action} {}: {source}; check the free space and the permissions there \
         (the previous vault, if any, is unchanged)",
        path.display()
    )]
    Io {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error(
        "{} was saved, but its directory could not be flushed to disk ({source}); the new \
         vault is in place, yet a crash now could bring back the previous one: check the disk",
        path.display()
    )]
    #[cfg_attr(not(unix), allow(dead_code))]
    NotDurable { path: PathBuf, source: io::Error },
    /// The vault's path is a symbolic link: neither read nor replaced.
    #[error(transparent)]
    Link(#[from] sec_proto::nofollow::LinkRefused),
}

/// The decrypted vault: secret names and their values. `Debug` shows the names only, the
/// values print as `[REDACTED]`.
#[derive(Debug, Clone, Default)]
pub struct Contents {
    secrets: BTreeMap<String, SecretString>,
}

impl Contents {
    /// An empty vault.
    pub fn new() -> Self {
        Self::default()
    }

    /// The value stored under `name`.
    pub fn get(&self, name: &str) -> Option<&SecretString> {
        self.secrets.get(name)
    }

    /// Stores `value` under `name`, replacing any value there. Names are not checked here:
    /// which names `local:NAME` allows is the caller's rule.
    pub fn set(&mut self, name: impl Into<String>, value: SecretString) {
        self.secrets.insert(name.into(), value);
    }

    /// Removes `name`; `false` when there was nothing under it.
    pub fn remove(&mut self, name: &str) -> bool {
        self.secrets.remove(name).is_some()
    }

    /// The names, in sorted order.
    pub fn names(&self) -> impl Iterator<Item = &str> + '_ {
        self.secrets.keys().map(String::as_str)
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.secrets.len()
    }
}

/// The vault file: where it lives and the scrypt work factor new saves use.
pub struct VaultFile {
    path: PathBuf,
    /// scrypt work factor (log2 of N) for new saves.
    work_factor: u8,
}

impl fmt::Debug for VaultFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VaultFile")
            .field("path", &self.path)
            .finish()
    }
}

impl VaultFile {
    /// The vault at `path`, saved with scrypt work factor `N = 2^log_n` (the daemon uses a
    /// fixed 2^18 rather than age's calibration, which overshoots to 2^20 and 1 GiB; tests use
    /// a tiny factor, which would make a stolen file cheap to brute-force). Opening accepts
    /// any factor up to 2^20, or up to `log_n` if that is higher, whatever wrote the file.
    ///
    /// # Panics
    ///
    /// When `log_n` is 0 or above 63 (age's bounds).
    pub fn with_work_factor(path: PathBuf, log_n: u8) -> Self {
        assert!((1..64).contains(&log_n), "scrypt log_n must be in 1..=63");
        Self {
            path,
            work_factor: log_n,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether anything is at the vault's path (a link counts, so that it is refused
    /// rather than replaced by a new vault).
    pub fn exists(&self) -> bool {
        fs::symlink_metadata(&self.path).is_ok()
    }

    /// Decrypts the whole vault. Errors: [`Missing`], [`WrongPassphrase`], [`Corrupt`],
    /// [`NewerFormat`], [`TooCostly`], [`Io`]; none of them changes the file.
    ///
    /// A damaged passphrase stanza in the header cannot be told from a wrong passphrase
    /// (age cannot either), so it reports [`WrongPassphrase`].
    ///
    /// [`Missing`]: LocalVaultError::Missing
    /// [`WrongPassphrase`]: LocalVaultError::WrongPassphrase
    /// [`Corrupt`]: LocalVaultError::Corrupt
    /// [`NewerFormat`]: LocalVaultError::NewerFormat
    /// [`TooCostly`]: LocalVaultError::TooCostly
    /// [`Io`]: LocalVaultError::Io
    pub fn open(&self, passphrase: &SecretString) -> Result<Contents, LocalVaultError> {
        let raw = match sec_proto::nofollow::read(&self.path) {
            Ok(raw) => raw,
            Err(e) if sec_proto::nofollow::is_link_refused(&e) => return Err(self.link()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(LocalVaultError::Missing {
                    path: self.path.clone(),
                });
            }
            Err(e) => return Err(self.io("read", e)),
        };
        let plaintext = self.decrypt(&raw, passphrase)?;
        self.parse(&plaintext)
    }

    /// Encrypts `contents` with `passphrase` and atomically replaces the file; creates the
    /// file, and its directory (mode 0700), when they are missing. On any error the
    /// previous file is untouched (except [`NotDurable`]: then the new one is in place).
    ///
    /// This replaces whatever is there: to keep a vault's secrets, [`open`] it first and
    /// save the changed [`Contents`]. Saving with another passphrase than the one it was
    /// opened with is how the passphrase is changed.
    ///
    /// [`NotDurable`]: LocalVaultError::NotDurable
    /// [`open`]: VaultFile::open
    pub fn save(
        &self,
        contents: &Contents,
        passphrase: &SecretString,
    ) -> Result<(), LocalVaultError> {
        self.save_with(contents, passphrase, |file, bytes| file.write_all(bytes))
    }

    /// [`save`](Self::save), writing the ciphertext into the temporary file with `write`
    /// (tests pass one that fails half-way).
    fn save_with(
        &self,
        contents: &Contents,
        passphrase: &SecretString,
        write: impl FnOnce(&mut fs::File, &[u8]) -> io::Result<()>,
    ) -> Result<(), LocalVaultError> {
        let ciphertext = {
            let plaintext = serialize(contents);
            self.encrypt(&plaintext, passphrase)?
        };
        self.replace_file(&ciphertext, write)
    }

    fn encrypt(
        &self,
        plaintext: &[u8],
        passphrase: &SecretString,
    ) -> Result<Vec<u8>, LocalVaultError> {
        age_scrypt::encrypt(passphrase, self.work_factor, plaintext)
            .map_err(|e| self.io("encrypt", e))
    }

    fn decrypt(
        &self,
        raw: &[u8],
        passphrase: &SecretString,
    ) -> Result<Zeroizing<Vec<u8>>, LocalVaultError> {
        // Accept what we write, and up to 2^20 (the most age's own tool picks).
        let max_log_n = MAX_OPEN_LOG_N.max(self.work_factor);
        age_scrypt::decrypt(passphrase, raw, max_log_n).map_err(|e| match e {
            DecryptError::WrongPassphrase => LocalVaultError::WrongPassphrase {
                path: self.path.clone(),
            },
            DecryptError::TooCostly { log_n } => LocalVaultError::TooCostly {
                path: self.path.clone(),
                log_n,
            },
            DecryptError::NotAge(_) => self.corrupt(format!("it is not an age file ({e})")),
            DecryptError::NotPassphrase => {
                self.corrupt("it is an age file, but not one locked with a passphrase".into())
            }
            DecryptError::BadStanza(_) => self.corrupt(format!("its header is damaged ({e})")),
            DecryptError::HeaderMac => self.corrupt("its header fails its integrity check".into()),
            DecryptError::Payload(_) => self.corrupt(format!(
                "its encrypted contents are damaged or cut short ({e})"
            )),
        })
    }

    fn parse(&self, plaintext: &[u8]) -> Result<Contents, LocalVaultError> {
        // serde_json's own messages can quote the input (`invalid type: string "..."`), and
        // the input is secrets: report only where the JSON went wrong.
        let not_json = |e: serde_json::Error| {
            self.corrupt(format!(
                "its decrypted contents are not vault JSON ({:?} error at line {}, column {})",
                e.classify(),
                e.line(),
                e.column()
            ))
        };
        #[derive(Deserialize)]
        struct Version {
            version: u32,
        }
        #[derive(Deserialize)]
        struct Payload<'a> {
            #[serde(borrow)]
            secrets: BTreeMap<String, &'a RawValue>,
        }
        let Version { version } = serde_json::from_slice(plaintext).map_err(not_json)?;
        if version > FORMAT_VERSION {
            return Err(LocalVaultError::NewerFormat {
                path: self.path.clone(),
                version,
            });
        }
        if version != FORMAT_VERSION {
            return Err(self.corrupt(format!(
                "it claims vault format {version}, which never existed"
            )));
        }
        let payload: Payload = serde_json::from_slice(plaintext).map_err(not_json)?;
        let mut contents = Contents::new();
        for (name, raw) in payload.secrets {
            let value = decode_json_string(raw.get())
                .map_err(|what| self.corrupt(format!("the value of one secret is {what}")))?;
            contents.secrets.insert(name, value);
        }
        Ok(contents)
    }

    /// Writes `bytes` to a 0600 temporary file beside the vault, fsyncs it, renames it over
    /// the vault and fsyncs the directory. The temporary file is deleted on any failure.
    fn replace_file(
        &self,
        bytes: &[u8],
        write: impl FnOnce(&mut fs::File, &[u8]) -> io::Result<()>,
    ) -> Result<(), LocalVaultError> {
        if sec_proto::nofollow::refuse_link(&self.path).is_err() {
            return Err(self.link());
        }
        let dir = match self.path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        sec_proto::paths::create_private_dir_all(dir)
            .map_err(|e| self.io("create the directory of", e))?;

        let file_name = self.path.file_name().unwrap_or(FILE_NAME.as_ref());
        let mut prefix = std::ffi::OsString::from(".");
        prefix.push(file_name);
        prefix.push(".");
        let mut temp = crate::host::state_file::TempFile::new_in(dir, &prefix)
            .map_err(|e| self.io("create a temporary file beside", e))?;
        write(temp.file(), bytes).map_err(|e| self.io("write the new", e))?;
        temp.file()
            .sync_all()
            .map_err(|e| self.io("flush the new", e))?;
        // On failure the temporary file is deleted when dropped.
        temp.persist(&self.path)
            .map_err(|e| self.io("replace", e))?;
        #[cfg(unix)]
        fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|source| LocalVaultError::NotDurable {
                path: self.path.clone(),
                source,
            })?;
        Ok(())
    }

    fn io(&self, action: &'static str, source: io::Error) -> LocalVaultError {
        LocalVaultError::Io {
            action,
            path: self.path.clone(),
            source,
        }
    }

    fn link(&self) -> LocalVaultError {
        LocalVaultError::Link(sec_proto::nofollow::LinkRefused {
            path: self.path.clone(),
        })
    }

    fn corrupt(&self, detail: String) -> LocalVaultError {
        LocalVaultError::Corrupt {
            path: self.path.clone(),
            detail,
        }
    }
}

/// The vault JSON of `contents` in a buffer that is wiped when dropped. The JSON is
/// measured first so the buffer is allocated once at its final size.
fn serialize(contents: &Contents) -> Zeroizing<Vec<u8>> {
    struct Payload<'a>(&'a Contents);
    impl Serialize for Payload<'_> {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            let mut payload = serializer.serialize_struct("Payload", 2)?;
            payload.serialize_field("version", &FORMAT_VERSION)?;
            payload.serialize_field("secrets", &Secrets(&self.0.secrets))?;
            payload.end()
        }
    }
    struct Secrets<'a>(&'a BTreeMap<String, SecretString>);
    impl Serialize for Secrets<'_> {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            serializer.collect_map(
                self.0
                    .iter()
                    .map(|(name, value)| (name, value.expose_secret())),
            )
        }
    }
    struct Count(usize);
    impl Write for Count {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    let mut count = Count(0);
    serde_json::to_writer(&mut count, &Payload(contents)).expect("string maps always serialize");
    let mut json = Zeroizing::new(Vec::with_capacity(count.0));
    serde_json::to_writer(&mut *json, &Payload(contents)).expect("string maps always serialize");
    debug_assert_eq!(json.len(), count.0, "the buffer never reallocated");
    json
}

/// Decodes the JSON string literal `raw` (quotes included, as `serde_json` validated it)
/// into a secret, through one wiped buffer that never grows: unescaping only shortens.
fn decode_json_string(raw: &str) -> Result<SecretString, &'static str> {
    const BAD_ESCAPE: &str = "a JSON string with a bad escape";
    let inner = raw
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .ok_or("not a string")?
        .as_bytes();
    let hex4 = |at: usize| -> Result<u32, &'static str> {
        let digits = inner.get(at..at + 4).ok_or(BAD_ESCAPE)?;
        let digits = std::str::from_utf8(digits).map_err(|_| BAD_ESCAPE)?;
        u32::from_str_radix(digits, 16).map_err(|_| BAD_ESCAPE)
    };
    let mut out = Zeroizing::new(Vec::with_capacity(inner.len()));
    let capacity = out.capacity();
    let mut i = 0;
    while i < inner.len() {
        let byte = inner[i];
        if byte != b'\\' {
            out.push(byte);
            i += 1;
            continue;
        }
        let escape = *inner.get(i + 1).ok_or(BAD_ESCAPE)?;
        i += 2;
        let decoded = match escape {
            b'"' => b'"',
            b'\\' => b'\\',
            b'/' => b'/',
            b'b' => 0x08,
            b'f' => 0x0c,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'u' => {
                let mut code = hex4(i)?;
                i += 4;
                if (0xD800..0xDC00).contains(&code) {
                    // A high surrogate must be followed by `\u` and a low one.
                    if inner.get(i..i + 2) != Some(b"\\u".as_slice()) {
                        return Err(BAD_ESCAPE);
                    }
                    let low = hex4(i + 2)?;
                    if !(0xDC00..0xE000).contains(&low) {
                        return Err(BAD_ESCAPE);
                    }
                    i += 6;
                    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
                }
                // Rejects a lone low surrogate.
                let ch = char::from_u32(code).ok_or(BAD_ESCAPE)?;
                let mut utf8 = [0u8; 4];
                out.extend_from_slice(ch.encode_utf8(&mut utf8).as_bytes());
                utf8.zeroize();
                continue;
            }
            _ => return Err(BAD_ESCAPE),
        };
        out.push(decoded);
    }
    debug_assert_eq!(out.capacity(), capacity, "the buffer never reallocated");
    let text = std::str::from_utf8(&out).map_err(|_| "not UTF-8")?;
    // `From<&str>` allocates exactly `text.len()` bytes: no reallocation, no stray copy.
    Ok(SecretString::from(text))
}

#[cfg(test)]
#[path = "format_fuzz.rs"]
mod fuzz;

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::time::Instant;

    /// Tiny, so a test's scrypt takes microseconds.
    const TEST_LOG_N: u8 = 2;
    const PLANTED: &str = "planted-Value-7f3a9c1e-do-not-leak";

    fn secret(s: &str) -> SecretString {
        SecretString::from(s)
    }

    fn vault_in(dir: &Path) -> VaultFile {
        VaultFile::with_work_factor(dir.join("data/sec").join(FILE_NAME), TEST_LOG_N)
    }

    fn sample() -> Contents {
        let mut contents = Contents::new();
        contents.set("github-token", secret(PLANTED));
        contents.set(
            "db",
            secret("line one\nline \"two\"\t\\ é ✓ 🦀 \u{1} \u{2028}"),
        );
        contents.set("empty", secret(""));
        contents
    }

    fn assert_same(a: &Contents, b: &Contents) {
        assert_eq!(a.names().collect::<Vec<_>>(), b.names().collect::<Vec<_>>());
        for name in a.names() {
            assert_eq!(
                a.get(name).unwrap().expose_secret(),
                b.get(name).unwrap().expose_secret(),
                "{name}"
            );
        }
    }

    fn dir_entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    /// The `log_n` in the scrypt stanza of an age file's header.
    fn stanza_log_n(raw: &[u8]) -> u8 {
        let header = String::from_utf8_lossy(&raw[..raw.len().min(400)]);
        let line = header
            .lines()
            .find(|l| l.starts_with("-> scrypt "))
            .unwrap();
        line.rsplit(' ').next().unwrap().parse().unwrap()
    }

    #[test]
    fn round_trip() {
        let tmp = tempfile::tempdir().unwrap();
        let vault = vault_in(tmp.path());
        assert!(!vault.exists());
        let pass = secret("correct horse battery staple");
        vault.save(&sample(), &pass).unwrap();
        assert!(vault.exists());
        let opened = vault.open(&pass).unwrap();
        assert_same(&opened, &sample());
        assert_eq!(opened.len(), 3);
        assert_eq!(stanza_log_n(&fs::read(vault.path()).unwrap()), TEST_LOG_N);

        // Change, save, reopen.
        let mut changed = opened.clone();
        assert!(changed.remove("db"));
        assert!(!changed.remove("db"));
        changed.set("new", secret("v2"));
        vault.save(&changed, &pass).unwrap();
        let reopened = vault.open(&pass).unwrap();
        assert_same(&reopened, &changed);
        assert!(reopened.get("db").is_none());

        // An empty vault round-trips too.
        vault.save(&Contents::new(), &pass).unwrap();
        assert_eq!(vault.open(&pass).unwrap().len(), 0);
    }

    #[test]
    fn the_file_never_holds_plaintext() {
        let tmp = tempfile::tempdir().unwrap();
        let vault = vault_in(tmp.path());
        let pass = secret("pass");
        vault.save(&sample(), &pass).unwrap();
        let raw = fs::read(vault.path()).unwrap();
        assert!(
            raw.starts_with(b"age-encryption.org/v1\n"),
            "binary age, no armor"
        );
        assert!(!contains(&raw, PLANTED.as_bytes()));
        assert!(!contains(&raw, b"github-token"), "names are encrypted too");
        assert!(!contains(&raw, b"secrets"));
        assert!(!contains(&raw, b"pass"));
        // Nothing else was left in the directory.
        assert_eq!(dir_entries(vault.path().parent().unwrap()), [FILE_NAME]);
    }

    #[test]
    fn wrong_passphrase_is_clear_and_changes_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let vault = vault_in(tmp.path());
        vault.save(&sample(), &secret("right")).unwrap();
        let before = fs::read(vault.path()).unwrap();

        let err = vault.open(&secret("wrong-guess")).unwrap_err();
        assert!(
            matches!(err, LocalVaultError::WrongPassphrase { .. }),
            "{err:?}"
        );
        let message = err.to_string();
        assert_eq!(
            message,
            format!(
                "the passphrase does not open {}; try again (nothing was changed)",
                vault.path().display()
            )
        );
        assert!(!message.contains("wrong-guess") && !message.contains(PLANTED));
        assert_eq!(fs::read(vault.path()).unwrap(), before);
        assert_same(&vault.open(&secret("right")).unwrap(), &sample());
    }

    #[test]
    fn a_failed_write_keeps_the_previous_vault_whole() {
        let tmp = tempfile::tempdir().unwrap();
        let vault = vault_in(tmp.path());
        let pass = secret("pass");
        vault.save(&sample(), &pass).unwrap();
        let before = fs::read(vault.path()).unwrap();
        let dir = vault.path().parent().unwrap().to_owned();

        let mut bigger = sample();
        bigger.set("another", secret("x".repeat(200_000).as_str()));
        let mut temp_mode = None;
        let err = vault
            .save_with(&bigger, &pass, |file, bytes| {
                temp_mode = Some(file.metadata()?.permissions().mode() & 0o777);
                file.write_all(&bytes[..bytes.len() / 2])?;
                file.sync_all()?;
                Err(io::Error::new(
                    io::ErrorKind::StorageFull,
                    "no space left on device",
                ))
            })
            .unwrap_err();
        assert_eq!(
            temp_mode,
            Some(0o600),
            "the temporary file is private from the start"
        );
        assert!(matches!(err, LocalVaultError::Io { .. }), "{err:?}");
        assert!(
            err.to_string()
                .contains("the previous vault, if any, is unchanged")
        );
        assert_eq!(fs::read(vault.path()).unwrap(), before, "byte-identical");
        assert_same(&vault.open(&pass).unwrap(), &sample());
        assert_eq!(dir_entries(&dir), [FILE_NAME], "no temporary file left");

        // A first save that fails leaves no vault and no temporary file.
        let fresh = VaultFile::with_work_factor(dir.join("other.age"), TEST_LOG_N);
        fresh
            .save_with(&sample(), &pass, |file, bytes| {
                file.write_all(&bytes[..10])?;
                Err(io::Error::other("injected"))
            })
            .unwrap_err();
        assert!(!fresh.exists());
        assert_eq!(dir_entries(&dir), [FILE_NAME]);
    }

    #[test]
    fn file_0600_and_new_directories_0700() {
        let tmp = tempfile::tempdir().unwrap();
        let vault = vault_in(tmp.path());
        vault.save(&sample(), &secret("p")).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(vault.path()), 0o600);
        assert_eq!(mode(&tmp.path().join("data/sec")), 0o700);
        assert_eq!(mode(&tmp.path().join("data")), 0o700);

        // A loose file is replaced by a 0600 one on the next save.
        fs::set_permissions(vault.path(), fs::Permissions::from_mode(0o644)).unwrap();
        vault.save(&sample(), &secret("p")).unwrap();
        assert_eq!(mode(vault.path()), 0o600);
    }

    #[test]
    fn changing_the_passphrase() {
        let tmp = tempfile::tempdir().unwrap();
        let vault = vault_in(tmp.path());
        let (old, new) = (secret("old passphrase"), secret("new passphrase"));
        vault.save(&sample(), &old).unwrap();

        let contents = vault.open(&old).unwrap();
        vault.save(&contents, &new).unwrap();

        let err = vault.open(&old).unwrap_err();
        assert!(
            matches!(err, LocalVaultError::WrongPassphrase { .. }),
            "{err:?}"
        );
        assert_same(&vault.open(&new).unwrap(), &sample());
    }

    #[test]
    fn missing_and_corrupt_files() {
        let tmp = tempfile::tempdir().unwrap();
        let vault = vault_in(tmp.path());
        let pass = secret("pass");
        let err = vault.open(&pass).unwrap_err();
        assert!(matches!(err, LocalVaultError::Missing { .. }), "{err:?}");

        let corrupt = |bytes: &[u8]| {
            fs::create_dir_all(vault.path().parent().unwrap()).unwrap();
            fs::write(vault.path(), bytes).unwrap();
            let err = vault.open(&pass).unwrap_err();
            assert!(matches!(err, LocalVaultError::Corrupt { .. }), "{err:?}");
            let message = err.to_string();
            assert!(
                !message.contains(PLANTED) && !message.contains("pass\""),
                "{message}"
            );
            message
        };
        // Random bytes (deterministic: a hash chain).
        let mut noise = Vec::new();
        let mut block = [7u8; 32];
        while noise.len() < 4096 {
            use sha2::Digest;
            block = sha2::Sha256::digest(block).into();
            noise.extend_from_slice(&block);
        }
        corrupt(&noise);
        corrupt(b"");
        corrupt(b"age-encryption.org/v1\n-> X25519 garbage\n--- 00\n");
        // A sound age file, but for a key, not a passphrase.
        let key = age::x25519::Identity::generate().to_public();
        let message = corrupt(&age::encrypt(&key, b"{}").unwrap());
        assert!(
            message.contains("not one locked with a passphrase"),
            "{message}"
        );

        // A good vault, damaged: truncated, or one payload byte flipped.
        vault.save(&sample(), &pass).unwrap();
        let good = fs::read(vault.path()).unwrap();
        corrupt(&good[..good.len() - 20]);
        let mut flipped = good.clone();
        *flipped.last_mut().unwrap() ^= 1;
        corrupt(&flipped);
        // A header byte flipped after the stanza (in the MAC).
        let mac_at = good.windows(4).position(|w| w == b"--- ").unwrap() + 6;
        let mut flipped = good.clone();
        flipped[mac_at] ^= 1;
        corrupt(&flipped);
    }

    /// Encrypts arbitrary plaintext as a vault file would be, for payloads sec never writes.
    fn write_payload(vault: &VaultFile, pass: &SecretString, json: &str) {
        fs::create_dir_all(vault.path().parent().unwrap()).unwrap();
        fs::write(vault.path(), vault.encrypt(json.as_bytes(), pass).unwrap()).unwrap();
    }

    #[test]
    fn bad_payloads_are_corrupt_and_never_quoted() {
        let tmp = tempfile::tempdir().unwrap();
        let vault = vault_in(tmp.path());
        let pass = secret("pass");
        for json in [
            format!("{{\"version\":1,\"secrets\":\"{PLANTED}\"}}"),
            format!("{{\"version\":1,\"secrets\":{{\"a\":[\"{PLANTED}\"]}}}}"),
            format!("{{\"version\":1,\"secrets\":{{\"a\":\"{PLANTED}\\q\"}}}}"),
            format!("{{\"version\":\"{PLANTED}\"}}"),
            format!("{{\"secrets\":{{\"a\":\"{PLANTED}\"}}}}"),
            PLANTED.to_owned(),
            "{\"version\":0,\"secrets\":{}}".to_owned(),
            "{\"version\":1,\"secrets\":{\"a\":\"\\ud800\"}}".to_owned(),
        ] {
            write_payload(&vault, &pass, &json);
            let err = vault.open(&pass).unwrap_err();
            assert!(
                matches!(err, LocalVaultError::Corrupt { .. }),
                "{json}: {err:?}"
            );
            assert!(!err.to_string().contains(PLANTED), "{err}");
            assert!(!format!("{err:?}").contains(PLANTED), "{err:?}");
        }

        write_payload(&vault, &pass, "{\"version\":2,\"whatever\":true}");
        let err = vault.open(&pass).unwrap_err();
        assert!(
            matches!(err, LocalVaultError::NewerFormat { version: 2, .. }),
            "{err:?}"
        );
    }

    #[test]
    fn json_strings_decode_like_serde_json() {
        let mut samples: Vec<String> = (0u32..0x80)
            .filter_map(char::from_u32)
            .map(String::from)
            .collect();
        samples.extend(
            [
                "",
                "plain",
                "a\"b\\c/d",
                "é✓🦀",
                "\u{7f}\u{80}\u{ffff}\u{10ffff}",
                "\u{2028}\u{2029}",
            ]
            .map(String::from),
        );
        for sample in &samples {
            let raw = serde_json::to_string(sample).unwrap();
            assert_eq!(
                decode_json_string(&raw).unwrap().expose_secret(),
                sample,
                "{raw}"
            );
        }
        // Escapes serde_json does not write but JSON allows.
        for (raw, want) in [
            (r#""\/\u00e9\u00E9""#, "/éé"),
            (r#""\ud83e\udd80x""#, "🦀x"),
            (r#""\b\f\n\r\t""#, "\u{8}\u{c}\n\r\t"),
        ] {
            assert_eq!(
                decode_json_string(raw).unwrap().expose_secret(),
                want,
                "{raw}"
            );
        }
        for bad in [
            r#""\ud83e""#,
            r#""\udd80""#,
            r#""\ud83e\u0041""#,
            r#""\x""#,
            r#""\u12""#,
            "\"",
            "1",
            "null",
        ] {
            assert!(decode_json_string(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn debug_and_errors_never_show_values() {
        let contents = sample();
        let debug = format!("{contents:?}");
        assert!(debug.contains("github-token"), "{debug}");
        assert!(debug.contains("REDACTED"), "{debug}");
        assert!(!debug.contains(PLANTED), "{debug}");
        assert!(!debug.contains("line one"), "{debug}");
        let vault = VaultFile::with_work_factor(PathBuf::from("/x/vault.age"), TEST_LOG_N);
        assert_eq!(format!("{vault:?}"), "VaultFile { path: \"/x/vault.age\" }");
    }

    /// The figures for the daemon's work factor. Slow on purpose:
    /// `cargo test -p sec-daemon [--release] local_vault::tests::timing -- --ignored --nocapture`
    #[test]
    #[ignore = "measures the daemon's scrypt cost (most of a second per call)"]
    fn timing() {
        let tmp = tempfile::tempdir().unwrap();
        let vault = VaultFile::with_work_factor(
            tmp.path().join(FILE_NAME),
            crate::store::vault::local::WORK_FACTOR,
        );
        let pass = secret("pass");
        let started = Instant::now();
        vault.save(&sample(), &pass).unwrap();
        let saved = started.elapsed();
        let started = Instant::now();
        vault.open(&pass).unwrap();
        let opened = started.elapsed();
        let started = Instant::now();
        let _ = vault.open(&secret("wrong")).unwrap_err();
        let wrong = started.elapsed();
        let log_n = stanza_log_n(&fs::read(vault.path()).unwrap());

        let small = VaultFile::with_work_factor(tmp.path().join("small.age"), TEST_LOG_N);
        let started = Instant::now();
        small.save(&sample(), &pass).unwrap();
        let small_saved = started.elapsed();
        let started = Instant::now();
        small.open(&pass).unwrap();
        let small_opened = started.elapsed();
        println!(
            "daemon log_n={log_n}: save {saved:?}, open {opened:?}, wrong passphrase {wrong:?}; \
             log_n={TEST_LOG_N}: save {small_saved:?}, open {small_opened:?}"
        );
    }
}
