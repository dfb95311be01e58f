//! Fuzzing what reads the vault file: arbitrary and mutated bytes through the age layer
//! (`VaultFile::decrypt`, then `parse`, as `open` does after reading the file), and
//! arbitrary and mutated JSON through `parse`, whose values `decode_json_string` unescapes
//! (checked against `serde_json`). Replay a failure with the command its report prints.

use std::collections::BTreeMap;

use sec_fuzz::{Bytes, MARKER, Rng};

use super::*;

const PASSPHRASE: &str = "fuzz-passphrase-7Qx";

/// Vaults written by this code with [`PASSPHRASE`] at work factor 2^2, and an age file for
/// a key; age's random salts and nonces would make fresh ones differ on every run, so they
/// are files (`cargo test -p sec-daemon write_fuzz_seeds -- --ignored` writes them again).
const SEED_FILES: &[&[u8]] = &[
    include_bytes!("testdata/vault-sample.age"),
    include_bytes!("testdata/vault-empty.age"),
    include_bytes!("testdata/x25519.age"),
];

const FILE_DICTIONARY: &[&str] = &[
    "age-encryption.org/v1\n",
    "-> scrypt ",
    "-> X25519 ",
    "--- ",
    "\n",
    " ",
    "-> ",
    "0",
    "1",
    "20",
    "21",
    "64",
    "255",
    "AAAA",
    "+/",
    "=",
    "-----BEGIN AGE ENCRYPTED FILE-----\n",
];

/// The scrypt work factor mutated headers may ask for at most. secd accepts up to 2^20 on
/// purpose (a GiB and seconds per try), which a fuzz run cannot afford on every case.
const MAX_FUZZ_LOG_N: u8 = 4;

fn vault() -> VaultFile {
    VaultFile::with_work_factor(PathBuf::from("/fuzz/vault.age"), 2)
}

fn sample() -> Contents {
    let mut contents = Contents::new();
    contents.set("github-token", SecretString::from(MARKER));
    contents.set(
        "db",
        SecretString::from(format!("line one\nline \"two\"\t\\ é ✓ 🦀 \u{1} {MARKER}").as_str()),
    );
    contents.set("empty", SecretString::from(""));
    contents
}

#[test]
#[ignore = "writes the seed files of fuzz_vault_file into src/store/vault/local/testdata"]
fn write_fuzz_seeds() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/store/vault/local/testdata");
    fs::create_dir_all(&dir).unwrap();
    let passphrase = SecretString::from(PASSPHRASE);
    let vault = vault();
    let write = |name: &str, bytes: &[u8]| fs::write(dir.join(name), bytes).unwrap();
    write(
        "vault-sample.age",
        &vault.encrypt(&serialize(&sample()), &passphrase).unwrap(),
    );
    write(
        "vault-empty.age",
        &vault
            .encrypt(&serialize(&Contents::new()), &passphrase)
            .unwrap(),
    );
    let key = age::x25519::Identity::generate().to_public();
    write("x25519.age", &age::encrypt(&key, b"{}").unwrap());
}

/// Lowers the work factor of every scrypt stanza that asks for more than [`MAX_FUZZ_LOG_N`]
/// but not more than secd tries: the same paths, without the cost.
fn cap_work_factor(file: &[u8]) -> Vec<u8> {
    let lines = file.split(|&b| b == b'\n').map(|line| {
        let Some(args) = line.strip_prefix(b"-> scrypt ") else {
            return line.to_vec();
        };
        let (head, last) = match args.iter().rposition(|&b| b == b' ') {
            Some(space) => args.split_at(space + 1),
            None => (&[][..], args),
        };
        // As age reads it: decimal digits, no leading zero.
        let digits = last.iter().all(u8::is_ascii_digit) && !last.starts_with(b"0");
        let log_n = std::str::from_utf8(last)
            .ok()
            .and_then(|n| n.parse::<u64>().ok());
        match log_n.filter(|_| digits) {
            Some(n) if n > u64::from(MAX_FUZZ_LOG_N) && n <= u64::from(MAX_OPEN_LOG_N) => {
                [b"-> scrypt ", head, MAX_FUZZ_LOG_N.to_string().as_bytes()].concat()
            }
            _ => line.to_vec(),
        }
    });
    lines.collect::<Vec<_>>().join(&b'\n')
}

fn generate_file(rng: &mut Rng) -> Bytes {
    let mut file = if rng.one_in(16) {
        sec_fuzz::noise(rng, FILE_DICTIONARY)
    } else {
        rng.pick(SEED_FILES).to_vec()
    };
    if rng.one_in(8) {
        return Bytes(cap_work_factor(&file));
    }
    // Half the time only the header, the part age parses before any decryption.
    let header_end = file.windows(4).position(|w| w == b"--- ").and_then(|at| {
        file[at..]
            .iter()
            .position(|&b| b == b'\n')
            .map(|end| at + end + 1)
    });
    let payload = match header_end {
        Some(end) if rng.one_in(2) => file.split_off(end),
        _ => Vec::new(),
    };
    if rng.one_in(4) {
        sec_fuzz::mutate(rng, &mut file, SEED_FILES);
    } else {
        sec_fuzz::mutate(rng, &mut file, FILE_DICTIONARY);
    }
    file.extend_from_slice(&payload);
    Bytes(cap_work_factor(&file))
}

/// Neither the passphrase nor a secret value in any message, and no error that only
/// reading or writing the disk can cause.
fn check_error(error: &LocalVaultError) {
    for shown in [error.to_string(), format!("{error:?}")] {
        assert!(
            !shown.contains(MARKER) && !shown.contains(PASSPHRASE),
            "{shown}"
        );
    }
    assert!(
        !matches!(
            error,
            LocalVaultError::Missing { .. }
                | LocalVaultError::Io { .. }
                | LocalVaultError::NotDurable { .. }
        ),
        "{error:?}"
    );
}

fn check_file(file: &[u8]) {
    let vault = vault();
    let passphrase = SecretString::from(PASSPHRASE);
    match vault
        .decrypt(file, &passphrase)
        .and_then(|plaintext| vault.parse(&plaintext))
    {
        Ok(contents) => assert!(!format!("{contents:?}").contains(MARKER)),
        Err(error) => check_error(&error),
    }
}

#[test]
fn fuzz_vault_file() {
    sec_fuzz::run("fuzz_vault_file", 1000, generate_file, check_file);
}

/// What the `age` crate (the reference `age_scrypt` replaced) makes of a file.
#[derive(Debug)]
enum AgeCrate {
    Opened(Vec<u8>),
    /// Its header does not parse, or breaks the format's rules.
    Unreadable,
    /// A sound header, not for a passphrase.
    NotScrypt,
    /// Refused while unwrapping the file key or checking the header.
    Refused(age::DecryptError),
    /// The header is sound, the payload is not.
    PayloadFailed,
}

fn age_crate(file: &[u8], passphrase: &str, max_log_n: u8) -> AgeCrate {
    let Ok(decryptor) = age::Decryptor::new_buffered(file) else {
        return AgeCrate::Unreadable;
    };
    if !decryptor.is_scrypt() {
        return AgeCrate::NotScrypt;
    }
    let mut identity = age::scrypt::Identity::new(SecretString::from(passphrase));
    identity.set_max_work_factor(max_log_n);
    match decryptor.decrypt(std::iter::once(&identity as &dyn age::Identity)) {
        Ok(mut reader) => {
            let mut plaintext = Vec::new();
            match io::Read::read_to_end(&mut reader, &mut plaintext) {
                Ok(_) => AgeCrate::Opened(plaintext),
                Err(_) => AgeCrate::PayloadFailed,
            }
        }
        Err(e) => AgeCrate::Refused(e),
    }
}

/// `age_scrypt` and the `age` crate open the same files to the same plaintext, and refuse
/// the others for the same reason.
fn check_against_age_crate(file: &[u8]) {
    use age::DecryptError as Age;
    use age_scrypt::DecryptError as Ours;
    let max_log_n = MAX_OPEN_LOG_N;
    let ours = age_scrypt::decrypt(&SecretString::from(PASSPHRASE), file, max_log_n);
    match (ours, age_crate(file, PASSPHRASE, max_log_n)) {
        (Ok(ours), AgeCrate::Opened(theirs)) => assert!(*ours == theirs, "different plaintexts"),
        (Err(Ours::NotAge(_)), AgeCrate::Unreadable)
        | (Err(Ours::BadStanza(_)), AgeCrate::Unreadable | AgeCrate::Refused(Age::InvalidHeader))
        | (Err(Ours::NotPassphrase), AgeCrate::NotScrypt)
        | (Err(Ours::WrongPassphrase), AgeCrate::Refused(Age::DecryptionFailed))
        | (Err(Ours::HeaderMac), AgeCrate::Refused(Age::InvalidMac))
        | (Err(Ours::Payload(_)), AgeCrate::PayloadFailed) => {}
        // The specification wants the work factor as `[1-9][0-9]*`; age 0.12 reads the
        // digits it starts with and ignores the rest ("2Y" is 2). No writer makes such a
        // stanza, so refusing it loses no file.
        (Err(Ours::BadStanza(why)), _) if why.contains("work factor") => {}
        (
            Err(Ours::TooCostly { log_n }),
            AgeCrate::Refused(Age::ExcessiveWork { required, .. }),
        ) if log_n == required => {}
        (ours, theirs) => panic!(
            "age_scrypt: {:?}, the age crate: {theirs:?}",
            ours.map(|_| "opened")
        ),
    }
}

#[test]
fn fuzz_vault_file_against_the_age_crate() {
    sec_fuzz::run(
        "fuzz_vault_file_against_the_age_crate",
        1000,
        generate_file,
        check_against_age_crate,
    );
}

// --- the JSON inside ------------------------------------------------------------------

const JSON_DICTIONARY: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ":",
    ",",
    "\"",
    "\\",
    "\\\"",
    "\\\\",
    "\\/",
    "\\b",
    "\\f",
    "\\n",
    "\\r",
    "\\t",
    "\\u",
    "\\u0000",
    "\\u00e9",
    "\\ud83e\\udd80",
    "\\ud83e",
    "\\udd80",
    "\\uD800\\u0041",
    "\"version\":",
    "\"secrets\":",
    "1",
    "2",
    "0",
    "-1",
    "1.0",
    "1e3",
    "4294967296",
    "null",
    "true",
    "{}",
    "[]",
    " ",
    "\n",
    MARKER,
];

/// A secret's value: the planted one among characters that need escapes.
fn secret_text(rng: &mut Rng) -> String {
    let mut text = String::new();
    for _ in 0..rng.size(6) {
        let part = match rng.below(6) {
            0 => MARKER.to_owned(),
            1 => rng.word(),
            _ => rng
                .pick(&[
                    "\"",
                    "\\",
                    "/",
                    "\n",
                    "\r",
                    "\t",
                    "\u{8}",
                    "\u{c}",
                    "\0",
                    "\u{1f}",
                    "\u{7f}",
                    "é",
                    "✓",
                    "🦀",
                    "\u{2028}",
                    "\u{ffff}",
                    "\u{10ffff}",
                    " ",
                ])
                .to_string(),
        };
        text.push_str(&part);
    }
    text
}

/// `text` as a JSON string, each character written in one of the ways JSON allows.
fn json_string(rng: &mut Rng, text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        let short = match c {
            '"' => Some("\\\""),
            '\\' => Some("\\\\"),
            '\n' => Some("\\n"),
            '\r' => Some("\\r"),
            '\t' => Some("\\t"),
            '\u{8}' => Some("\\b"),
            '\u{c}' => Some("\\f"),
            '/' if rng.one_in(2) => Some("\\/"),
            _ => None,
        };
        match short {
            Some(escape) if !rng.one_in(4) => out.push_str(escape),
            _ if c < ' ' || c == '"' || c == '\\' || rng.one_in(6) => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    if rng.one_in(2) {
                        out.push_str(&format!("\\u{unit:04x}"));
                    } else {
                        out.push_str(&format!("\\u{unit:04X}"));
                    }
                }
            }
            _ => out.push(c),
        }
    }
    out.push('"');
    out
}

fn json_value(rng: &mut Rng) -> String {
    match rng.below(10) {
        0 => (*rng.pick(&["1", "null", "true", "[]", "{}", "-0.5e3"])).to_owned(),
        1 => {
            let text = secret_text(rng);
            format!("[{}]", json_string(rng, &text))
        }
        _ => {
            let text = secret_text(rng);
            json_string(rng, &text)
        }
    }
}

fn payload(rng: &mut Rng) -> String {
    let space = *rng.pick(&["", " ", "\n  "]);
    let version = *rng.pick(&[
        "1",
        "1",
        "1",
        "1",
        "2",
        "0",
        "\"1\"",
        "1.0",
        "-1",
        "4294967296",
    ]);
    let secrets: Vec<String> = (0..rng.size(4))
        .map(|_| {
            let word = rng.word();
            let name = json_string(rng, &word);
            let value = json_value(rng);
            format!("{name}:{space}{value}")
        })
        .collect();
    let mut fields = vec![
        format!("\"version\":{space}{version}"),
        format!(
            "\"secrets\":{space}{{{}}}",
            secrets.join(&format!(",{space}"))
        ),
    ];
    if rng.one_in(5) {
        fields.push("\"later\":{\"x\":[1,2]}".to_owned());
    }
    if rng.one_in(3) {
        fields.reverse();
    }
    format!("{{{space}{}{space}}}", fields.join(&format!(",{space}")))
}

fn generate_payload(rng: &mut Rng) -> Bytes {
    let text = sec_fuzz::text_case(rng, &[], JSON_DICTIONARY, payload);
    let mut bytes = text.into_bytes();
    if rng.one_in(8) {
        // Bytes that are not UTF-8.
        sec_fuzz::mutate(rng, &mut bytes, &[[0xff_u8], [0xc3], [0x80]]);
    }
    Bytes(bytes)
}

/// The same shape as `parse` reads, each value left raw: a name given twice (which sec never
/// writes) keeps its last value, and only that one is decoded.
#[derive(Deserialize)]
struct Expected<'a> {
    version: u32,
    #[serde(borrow)]
    secrets: BTreeMap<String, &'a RawValue>,
}

impl Expected<'_> {
    /// The values as `serde_json` decodes strings, when all of them are strings.
    fn values(&self) -> Option<BTreeMap<&str, String>> {
        self.secrets
            .iter()
            .map(|(name, raw)| Some((name.as_str(), serde_json::from_str(raw.get()).ok()?)))
            .collect()
    }
}

/// A vault's names and values.
fn values(contents: &Contents) -> BTreeMap<&str, String> {
    let secrets = contents.secrets.iter();
    secrets
        .map(|(name, value)| (name.as_str(), value.expose_secret().to_owned()))
        .collect()
}

fn check_payload(plaintext: &[u8]) {
    let vault = vault();
    let parsed = vault.parse(plaintext);
    match (&parsed, serde_json::from_slice::<Expected>(plaintext)) {
        (Ok(contents), Ok(expected)) => {
            assert_eq!(expected.version, FORMAT_VERSION);
            let decoded = values(contents);
            assert_eq!(
                Some(&decoded),
                expected.values().as_ref(),
                "decoded as serde_json does"
            );
            // What it writes back reads back the same.
            let again = vault.parse(&serialize(contents)).unwrap();
            assert_eq!(values(&again), decoded);
        }
        (Ok(_), Err(e)) => panic!("read what serde_json refuses ({e})"),
        (Err(error), Ok(expected)) => assert!(
            expected.version != FORMAT_VERSION || expected.values().is_none(),
            "refused ({error}) what serde_json reads"
        ),
        (Err(_), Err(_)) => {}
    }
    if let Err(error) = &parsed {
        check_error(error);
    }
}

#[test]
fn fuzz_vault_payload() {
    sec_fuzz::run(
        "fuzz_vault_payload",
        20_000,
        generate_payload,
        check_payload,
    );
}
