//! The part of [age v1](https://age-encryption.org/v1) that the vault file uses, written out
//! here instead of pulling in the `age` crate (issue 14): a binary (not armored) file whose
//! header has exactly one recipient stanza, `scrypt`, for a passphrase.
//!
//! ```text
//! age-encryption.org/v1
//! -> scrypt <salt: 16 bytes, base64> <log_n>
//! <file key wrapped with ChaCha20-Poly1305 under the scrypt key: 32 bytes, base64>
//! --- <HMAC-SHA-256 of the header up to and including "---": 32 bytes, base64>
//! <16-byte nonce><payload: STREAM, ChaCha20-Poly1305 in 64 KiB chunks>
//! ```
//!
//! base64 is the standard alphabet without padding, canonical only; stanza bodies are
//! wrapped at 64 columns and end with a shorter line. The file key is 16 random bytes; the
//! scrypt key is scrypt(N = 2^log_n, r = 8, p = 1, salt = "age-encryption.org/v1/scrypt" ||
//! salt) and wraps it with an all-zero nonce; the header's MAC key is HKDF-SHA-256(file key,
//! salt empty, info "header"); the payload key is HKDF-SHA-256(file key, salt = the nonce,
//! info "payload"). Chunk `i` is sealed with the nonce `i` (11 bytes, big endian) || 0x01 for
//! the final chunk, 0x00 before it; only the final chunk may be shorter than 64 KiB, and it
//! is empty only when the whole plaintext is.
//!
//! Reading follows the `age` crate (0.12), which wrote every vault before this module: an
//! scrypt stanza must be alone in the header; its salt must decode to 16 bytes, its work
//! factor be `[1-9][0-9]*` and its body 32 bytes; a file asking for more work than the
//! caller allows is refused before any scrypt runs. (The crate reads a work factor such as
//! `2Y` as 2; the specification forbids it, and so do we.) The tests below check both
//! directions against that crate (a dev-dependency only), and `format_fuzz.rs` requires
//! the same verdict as the crate on every fuzzed file.
//!
//! No plaintext copy is left behind in freed memory: `encrypt` copies each chunk into the
//! output and seals it there, `decrypt` opens each chunk in place in the [`Zeroizing`]
//! buffer it returns, and both buffers are sized once. The keys are [`Zeroizing`] too;
//! nothing here logs.

use std::fmt;
use std::io;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD as BASE64;
use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce, Tag};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use zeroize::Zeroizing;

const VERSION_LINE: &[u8] = b"age-encryption.org/v1\n";
const STANZA_PREFIX: &[u8] = b"-> ";
const MAC_PREFIX: &[u8] = b"--- ";
const SCRYPT_TAG: &[u8] = b"scrypt";
const SCRYPT_SALT_LABEL: &[u8] = b"age-encryption.org/v1/scrypt";
const HEADER_KEY_LABEL: &[u8] = b"header";
const PAYLOAD_KEY_LABEL: &[u8] = b"payload";

const FILE_KEY_LEN: usize = 16;
const SALT_LEN: usize = 16;
const TAG_LEN: usize = 16;
const WRAPPED_KEY_LEN: usize = FILE_KEY_LEN + TAG_LEN;
const MAC_LEN: usize = 32;
const ENCODED_MAC_LEN: usize = 43;
const NONCE_LEN: usize = 16;
const CHUNK_LEN: usize = 64 * 1024;
const SEALED_CHUNK_LEN: usize = CHUNK_LEN + TAG_LEN;
const COLUMNS: usize = 64;

/// Why [`decrypt`] refused a file. No variant carries file contents, let alone a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecryptError {
    /// Not an age v1 file, or a header that breaks age's grammar or its rules.
    NotAge(&'static str),
    /// A well-formed age header, but for recipients other than a passphrase.
    NotPassphrase,
    /// The scrypt stanza is malformed.
    BadStanza(&'static str),
    /// The stanza asks for scrypt work above the caller's limit (or beyond scrypt's own).
    TooCostly { log_n: u8 },
    /// The passphrase does not unwrap the file key. A changed salt, work factor or wrapped
    /// key looks the same: age cannot tell them apart either.
    WrongPassphrase,
    /// The file key unwrapped, but the header's MAC does not match: the header was changed.
    HeaderMac,
    /// The payload is damaged, cut short, or has bytes after its final chunk.
    Payload(&'static str),
}

impl fmt::Display for DecryptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotAge(detail) | Self::BadStanza(detail) | Self::Payload(detail) => {
                f.write_str(detail)
            }
            Self::NotPassphrase => f.write_str("not locked with a passphrase"),
            Self::TooCostly { log_n } => write!(f, "scrypt work factor 2^{log_n} is too high"),
            Self::WrongPassphrase => f.write_str("wrong passphrase"),
            Self::HeaderMac => f.write_str("the header's MAC does not match"),
        }
    }
}

/// Encrypts `plaintext` for `passphrase` with scrypt work factor `N = 2^log_n`: a complete
/// binary age file. Errors when `log_n` is 0 or beyond what scrypt accepts, or when the
/// system's random number generator fails.
pub fn encrypt(passphrase: &SecretString, log_n: u8, plaintext: &[u8]) -> io::Result<Vec<u8>> {
    let mut file_key = Zeroizing::new([0u8; FILE_KEY_LEN]);
    random(file_key.as_mut_slice())?;
    let mut salt = [0u8; SALT_LEN];
    random(&mut salt)?;
    let mut nonce = [0u8; NONCE_LEN];
    random(&mut nonce)?;
    encrypt_with(passphrase, log_n, plaintext, &file_key, &salt, &nonce)
}

/// [`encrypt`] with its random values given: the file key, the scrypt salt and the
/// payload nonce (tests choose them).
fn encrypt_with(
    passphrase: &SecretString,
    log_n: u8,
    plaintext: &[u8],
    file_key: &[u8; FILE_KEY_LEN],
    salt: &[u8; SALT_LEN],
    nonce: &[u8; NONCE_LEN],
) -> io::Result<Vec<u8>> {
    if log_n == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the scrypt work factor must be at least 2^1",
        ));
    }
    let wrap_key = scrypt_key(passphrase, salt, log_n).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("scrypt cannot run with work factor 2^{log_n}"),
        )
    })?;
    // The wrapped key: the file key sealed in place, then its tag.
    let mut wrapped = Zeroizing::new([0u8; WRAPPED_KEY_LEN]);
    wrapped[..FILE_KEY_LEN].copy_from_slice(file_key);
    let tag = ChaCha20Poly1305::new(Key::from_slice(wrap_key.as_slice()))
        .encrypt_in_place_detached(&Nonce::default(), b"", &mut wrapped[..FILE_KEY_LEN])
        .expect("16 bytes are within ChaCha20-Poly1305's limits");
    wrapped[FILE_KEY_LEN..].copy_from_slice(&tag);

    let mut header = Vec::with_capacity(160);
    header.extend_from_slice(VERSION_LINE);
    header.extend_from_slice(STANZA_PREFIX);
    header.extend_from_slice(SCRYPT_TAG);
    header.push(b' ');
    header.extend_from_slice(BASE64.encode(salt).as_bytes());
    header.extend_from_slice(format!(" {log_n}\n").as_bytes());
    push_wrapped_base64(&mut header, wrapped.as_slice());
    header.extend_from_slice(&MAC_PREFIX[..3]);
    let mut mac = header_mac(file_key);
    mac.update(&header);
    header.push(b' ');
    header.extend_from_slice(BASE64.encode(mac.finalize().into_bytes()).as_bytes());
    header.push(b'\n');

    // Sized once, so that the plaintext copied in (and sealed in place) is never left
    // behind by a reallocation.
    let chunks = plaintext.len().div_ceil(CHUNK_LEN).max(1);
    let capacity = header.len() + NONCE_LEN + plaintext.len() + chunks * TAG_LEN;
    let mut file = Vec::with_capacity(capacity);
    file.extend_from_slice(&header);
    file.extend_from_slice(nonce);
    let aead = payload_cipher(file_key, nonce);
    // An empty plaintext is one empty final chunk.
    let empty: &[u8] = &[];
    let pieces = plaintext
        .chunks(CHUNK_LEN)
        .chain(plaintext.is_empty().then_some(empty));
    for (index, chunk) in pieces.enumerate() {
        let start = file.len();
        file.extend_from_slice(chunk);
        let tag = aead
            .encrypt_in_place_detached(
                &chunk_nonce(index, index + 1 == chunks),
                b"",
                &mut file[start..],
            )
            .expect("a 64 KiB chunk is within ChaCha20-Poly1305's limits");
        file.extend_from_slice(&tag);
    }
    debug_assert_eq!(file.len(), capacity, "the buffer never reallocated");
    Ok(file)
}

/// Decrypts a file [`encrypt`] (or any age implementation) wrote for one passphrase,
/// refusing, before running scrypt, a work factor above `2^max_log_n`.
pub fn decrypt(
    passphrase: &SecretString,
    file: &[u8],
    max_log_n: u8,
) -> Result<Zeroizing<Vec<u8>>, DecryptError> {
    let header = Header::parse(file)?;
    let stanza = header.scrypt_stanza()?;

    let (salt, log_n) = match stanza.args[..] {
        [salt, log_n] => match (decode_salt(salt), decode_log_n(log_n)) {
            (Some(salt), Some(log_n)) => (salt, log_n),
            (None, _) => return Err(DecryptError::BadStanza("its salt is not 16 bytes")),
            (_, None) => {
                return Err(DecryptError::BadStanza(
                    "its work factor is not a decimal number",
                ));
            }
        },
        _ => {
            return Err(DecryptError::BadStanza(
                "the passphrase stanza needs a salt and a work factor",
            ));
        }
    };
    let mut wrapped = Zeroizing::new([0u8; WRAPPED_KEY_LEN + 1]);
    let wrapped_len = match stanza.body[..] {
        [line] => BASE64.decode_slice(line, wrapped.as_mut_slice()).ok(),
        _ => None,
    };
    if wrapped_len != Some(WRAPPED_KEY_LEN) {
        return Err(DecryptError::BadStanza("its wrapped key is not 32 bytes"));
    }
    if log_n > max_log_n {
        return Err(DecryptError::TooCostly { log_n });
    }
    let wrap_key = scrypt_key(passphrase, &salt, log_n).ok_or(DecryptError::TooCostly { log_n })?;

    let mut file_key = Zeroizing::new([0u8; FILE_KEY_LEN]);
    file_key.copy_from_slice(&wrapped[..FILE_KEY_LEN]);
    ChaCha20Poly1305::new(Key::from_slice(wrap_key.as_slice()))
        .decrypt_in_place_detached(
            &Nonce::default(),
            b"",
            file_key.as_mut_slice(),
            Tag::from_slice(&wrapped[FILE_KEY_LEN..WRAPPED_KEY_LEN]),
        )
        .map_err(|_| DecryptError::WrongPassphrase)?;

    let mut mac = header_mac(&file_key);
    mac.update(header.authenticated);
    mac.verify_slice(&header.mac)
        .map_err(|_| DecryptError::HeaderMac)?;

    decrypt_payload(&file_key, header.payload)
}

/// The payload after the header: the nonce, then the sealed chunks.
fn decrypt_payload(
    file_key: &[u8; FILE_KEY_LEN],
    payload: &[u8],
) -> Result<Zeroizing<Vec<u8>>, DecryptError> {
    let (nonce, sealed) = payload.split_at(NONCE_LEN);
    if sealed.is_empty() {
        return Err(DecryptError::Payload("it has no final chunk"));
    }
    let chunks = sealed.len().div_ceil(SEALED_CHUNK_LEN);
    let last_len = sealed.len() - (chunks - 1) * SEALED_CHUNK_LEN;
    if last_len < TAG_LEN {
        return Err(DecryptError::Payload("its last chunk is cut short"));
    }
    if last_len == TAG_LEN && chunks > 1 {
        return Err(DecryptError::Payload(
            "its final chunk is empty after full ones",
        ));
    }
    let aead = payload_cipher(file_key, nonce);
    let capacity = sealed.len() - chunks * TAG_LEN;
    let mut plaintext = Zeroizing::new(Vec::with_capacity(capacity));
    for (index, chunk) in sealed.chunks(SEALED_CHUNK_LEN).enumerate() {
        let last = index + 1 == chunks;
        let (data, tag) = chunk.split_at(chunk.len() - TAG_LEN);
        let start = plaintext.len();
        plaintext.extend_from_slice(data);
        aead.decrypt_in_place_detached(
            &chunk_nonce(index, last),
            b"",
            &mut plaintext[start..],
            Tag::from_slice(tag),
        )
        .map_err(|_| {
            DecryptError::Payload(if last {
                "its final chunk fails its check: changed, cut short or followed by more bytes"
            } else {
                "a chunk fails its check"
            })
        })?;
    }
    debug_assert_eq!(plaintext.capacity(), capacity, "never reallocated");
    Ok(plaintext)
}

/// A parsed header: its stanzas, its MAC, the bytes the MAC covers and what follows it.
struct Header<'a> {
    stanzas: Vec<Stanza<'a>>,
    mac: [u8; MAC_LEN],
    /// From the version line up to and including `---`.
    authenticated: &'a [u8],
    /// After the MAC line: at least the 16-byte nonce.
    payload: &'a [u8],
}

/// A recipient stanza: its type, its other arguments, its body's base64 lines.
struct Stanza<'a> {
    tag: &'a [u8],
    args: Vec<&'a [u8]>,
    body: Vec<&'a [u8]>,
}

impl<'a> Header<'a> {
    fn parse(file: &'a [u8]) -> Result<Self, DecryptError> {
        let Some(mut rest) = file.strip_prefix(VERSION_LINE) else {
            return Err(DecryptError::NotAge(
                if file.starts_with(b"age-encryption.org/") {
                    "a version other than v1"
                } else {
                    "no age-encryption.org/v1 line"
                },
            ));
        };
        let mut stanzas: Vec<Stanza<'a>> = Vec::new();
        loop {
            let (line, after) = next_line(rest)?;
            if let Some(args) = line.strip_prefix(STANZA_PREFIX) {
                let mut args: Vec<&[u8]> = args.split(|&b| b == b' ').collect();
                if args.iter().any(|arg| !is_arbitrary_string(arg)) {
                    return Err(DecryptError::NotAge("a malformed stanza line"));
                }
                let tag = args.remove(0);
                rest = after;
                let mut body = Vec::new();
                // Body lines: full ones, then a shorter one. Like the age crate, accept a
                // body ending at a full line right before the next stanza or the MAC, as
                // its early versions wrote for bodies of a multiple of 48 bytes.
                loop {
                    let (line, after) = next_line(rest)?;
                    if !line.iter().all(|&b| is_base64_char(b)) {
                        if line.starts_with(STANZA_PREFIX) || line.starts_with(b"---") {
                            break;
                        }
                        return Err(DecryptError::NotAge("a stanza body that is not base64"));
                    }
                    if line.len() > COLUMNS {
                        return Err(DecryptError::NotAge("a stanza body not wrapped at 64"));
                    }
                    rest = after;
                    body.push(line);
                    if line.len() < COLUMNS {
                        // Full lines decode on their own; the last must be canonical too.
                        if BASE64.decode_slice(line, &mut [0u8; 48]).is_err() {
                            return Err(DecryptError::NotAge(
                                "a stanza body that is not canonical base64",
                            ));
                        }
                        break;
                    }
                }
                stanzas.push(Stanza { tag, args, body });
            } else if let Some(encoded) = line.strip_prefix(MAC_PREFIX) {
                if stanzas.is_empty() {
                    return Err(DecryptError::NotAge("a header without a recipient"));
                }
                let mut mac = [0u8; MAC_LEN + 1];
                if encoded.len() != ENCODED_MAC_LEN
                    || BASE64.decode_slice(encoded, &mut mac).ok() != Some(MAC_LEN)
                {
                    return Err(DecryptError::NotAge("a malformed MAC line"));
                }
                if after.len() < NONCE_LEN {
                    return Err(DecryptError::NotAge("cut short after its header"));
                }
                let mac_line_at = file.len() - rest.len();
                return Ok(Self {
                    stanzas,
                    mac: mac[..MAC_LEN].try_into().expect("32 bytes"),
                    authenticated: &file[..mac_line_at + MAC_PREFIX.len() - 1],
                    payload: after,
                });
            } else {
                return Err(DecryptError::NotAge("a header line age does not know"));
            }
        }
    }

    /// The scrypt stanza, which age requires to be the only one.
    fn scrypt_stanza(&self) -> Result<&Stanza<'a>, DecryptError> {
        match &self.stanzas[..] {
            [stanza] if stanza.tag == SCRYPT_TAG => Ok(stanza),
            stanzas if stanzas.iter().any(|s| s.tag == SCRYPT_TAG) => Err(DecryptError::BadStanza(
                "its passphrase stanza is not alone, as age requires",
            )),
            _ => Err(DecryptError::NotPassphrase),
        }
    }
}

/// The line at the start of `input` (without its `\n`) and what follows it.
fn next_line(input: &[u8]) -> Result<(&[u8], &[u8]), DecryptError> {
    match input.iter().position(|&b| b == b'\n') {
        Some(end) => Ok((&input[..end], &input[end + 1..])),
        None => Err(DecryptError::NotAge("cut short in its header")),
    }
}

/// age's "arbitrary string": one or more ASCII characters from 33 to 126.
fn is_arbitrary_string(arg: &[u8]) -> bool {
    !arg.is_empty() && arg.iter().all(|b| (33..=126).contains(b))
}

fn is_base64_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'+' || b == b'/'
}

/// Appends `data` as age writes a stanza body: base64 lines of 64 columns, the last one
/// shorter (empty when the encoding fills its lines exactly).
fn push_wrapped_base64(out: &mut Vec<u8>, data: &[u8]) {
    let encoded = BASE64.encode(data);
    let mut lines = encoded.as_bytes().chunks(COLUMNS).peekable();
    while let Some(line) = lines.next() {
        out.extend_from_slice(line);
        out.push(b'\n');
        if lines.peek().is_none() && line.len() == COLUMNS {
            out.push(b'\n');
        }
    }
    if encoded.is_empty() {
        out.push(b'\n');
    }
}

/// A canonical base64 salt of exactly 16 bytes.
fn decode_salt(arg: &[u8]) -> Option<[u8; SALT_LEN]> {
    let mut salt = [0u8; SALT_LEN + 2];
    match BASE64.decode_slice(arg, &mut salt) {
        Ok(SALT_LEN) => salt[..SALT_LEN].try_into().ok(),
        _ => None,
    }
}

/// A work factor as age writes it: decimal digits without a leading zero.
fn decode_log_n(arg: &[u8]) -> Option<u8> {
    if arg.first().is_none_or(|&b| b == b'0') || !arg.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(arg).ok()?.parse().ok()
}

/// The key that wraps the file key; `None` when scrypt refuses `log_n`.
fn scrypt_key(
    passphrase: &SecretString,
    salt: &[u8; SALT_LEN],
    log_n: u8,
) -> Option<Zeroizing<[u8; 32]>> {
    let params = scrypt::Params::new(log_n, 8, 1, 32).ok()?;
    let mut label_and_salt = [0u8; SCRYPT_SALT_LABEL.len() + SALT_LEN];
    label_and_salt[..SCRYPT_SALT_LABEL.len()].copy_from_slice(SCRYPT_SALT_LABEL);
    label_and_salt[SCRYPT_SALT_LABEL.len()..].copy_from_slice(salt);
    let mut key = Zeroizing::new([0u8; 32]);
    scrypt::scrypt(
        passphrase.expose_secret().as_bytes(),
        &label_and_salt,
        &params,
        key.as_mut_slice(),
    )
    .expect("32 bytes is a valid scrypt output length");
    Some(key)
}

/// HKDF-SHA-256 of the file key: 32 bytes.
fn hkdf(file_key: &[u8; FILE_KEY_LEN], salt: &[u8], info: &[u8]) -> Zeroizing<[u8; 32]> {
    let mut key = Zeroizing::new([0u8; 32]);
    Hkdf::<Sha256>::new(Some(salt), file_key)
        .expand(info, key.as_mut_slice())
        .expect("32 bytes is a valid HKDF-SHA-256 length");
    key
}

/// The HMAC that authenticates the header.
fn header_mac(file_key: &[u8; FILE_KEY_LEN]) -> Hmac<Sha256> {
    let key = hkdf(file_key, b"", HEADER_KEY_LABEL);
    <Hmac<Sha256> as Mac>::new_from_slice(key.as_slice()).expect("HMAC takes a key of any length")
}

/// The cipher for the payload's chunks.
fn payload_cipher(file_key: &[u8; FILE_KEY_LEN], nonce: &[u8]) -> ChaCha20Poly1305 {
    let key = hkdf(file_key, nonce, PAYLOAD_KEY_LABEL);
    ChaCha20Poly1305::new(Key::from_slice(key.as_slice()))
}

/// STREAM's nonce for chunk `index`: an 11-byte big-endian counter, then the last-chunk flag.
fn chunk_nonce(index: usize, last: bool) -> Nonce {
    let mut nonce = Nonce::default();
    nonce[3..11].copy_from_slice(&(index as u64).to_be_bytes());
    nonce[11] = u8::from(last);
    nonce
}

fn random(buf: &mut [u8]) -> io::Result<()> {
    getrandom::fill(buf)
        .map_err(|e| io::Error::other(format!("the system's random number generator failed ({e})")))
}

/// Compatibility with the `age` crate (0.12, a dev-dependency only), both ways, and the
/// refusals the specification asks for.
#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    /// Tiny, so each scrypt takes microseconds.
    const LOG_N: u8 = 2;
    const PASS: &str = "correct horse battery staple";
    /// Around the 64 KiB chunk: empty, one byte, a byte short of a chunk, exactly one (a
    /// full final chunk, no empty one after it), a byte over, and several chunks.
    const SIZES: [usize; 6] = [0, 1, 65_535, 65_536, 65_537, 200_000];

    fn pass(s: &str) -> SecretString {
        SecretString::from(s)
    }

    /// `len` bytes of a fixed pseudo-random sequence.
    fn data(len: usize) -> Vec<u8> {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64 ^ len as u64;
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state.to_le_bytes()[3]
            })
            .collect()
    }

    fn ours(plaintext: &[u8]) -> Vec<u8> {
        encrypt(&pass(PASS), LOG_N, plaintext).unwrap()
    }

    fn open(file: &[u8]) -> Result<Zeroizing<Vec<u8>>, DecryptError> {
        decrypt(&pass(PASS), file, 20)
    }

    fn age_encrypt(plaintext: &[u8]) -> Vec<u8> {
        let mut recipient = age::scrypt::Recipient::new(pass(PASS));
        recipient.set_work_factor(LOG_N);
        age::encrypt(&recipient, plaintext).unwrap()
    }

    fn age_decrypt(passphrase: &str, file: &[u8]) -> Result<Vec<u8>, age::DecryptError> {
        let mut identity = age::scrypt::Identity::new(pass(passphrase));
        identity.set_max_work_factor(20);
        let decryptor = age::Decryptor::new_buffered(file)?;
        let mut reader = decryptor.decrypt(std::iter::once(&identity as &dyn age::Identity))?;
        let mut plaintext = Vec::new();
        reader.read_to_end(&mut plaintext)?;
        Ok(plaintext)
    }

    /// Where the MAC line starts.
    fn mac_line(file: &[u8]) -> usize {
        file.windows(4).position(|w| w == b"--- ").unwrap()
    }

    /// Where the payload (its nonce first) starts.
    fn payload_at(file: &[u8]) -> usize {
        mac_line(file) + 4 + ENCODED_MAC_LEN + 1
    }

    /// `file` refused both by this module, with `expected`, and by the `age` crate.
    fn refused(file: &[u8], expected: DecryptError) {
        assert_eq!(open(file).unwrap_err(), expected);
        assert!(
            age_decrypt(PASS, file).is_err(),
            "the age crate accepted it"
        );
    }

    #[test]
    fn our_files_open_with_the_age_crate() {
        for size in SIZES {
            let plaintext = data(size);
            let file = ours(&plaintext);
            assert_eq!(age_decrypt(PASS, &file).unwrap(), plaintext, "{size} bytes");
            assert_eq!(open(&file).unwrap().as_slice(), plaintext, "{size} bytes");
        }
    }

    #[test]
    fn age_crate_files_open_with_ours() {
        for size in SIZES {
            let plaintext = data(size);
            let file = age_encrypt(&plaintext);
            assert_eq!(open(&file).unwrap().as_slice(), plaintext, "{size} bytes");
        }
    }

    #[test]
    fn the_layout_is_age_s() {
        for size in SIZES {
            let plaintext = data(size);
            let file = ours(&plaintext);
            // The same length as the age crate's: the same header lines, the same chunks
            // (so 64 KiB is one full final chunk, and nothing is empty but an empty file).
            assert_eq!(file.len(), age_encrypt(&plaintext).len(), "{size} bytes");
            let chunks = size.div_ceil(CHUNK_LEN).max(1);
            assert_eq!(
                file.len(),
                payload_at(&file) + NONCE_LEN + size + chunks * TAG_LEN
            );
        }
        let file = ours(b"x");
        let header = std::str::from_utf8(&file[..payload_at(&file)]).unwrap();
        let lines: Vec<&str> = header.lines().collect();
        assert_eq!(lines.len(), 4, "{header}");
        assert_eq!(lines[0], "age-encryption.org/v1");
        let stanza: Vec<&str> = lines[1].split(' ').collect();
        assert_eq!(stanza[..2], ["->", "scrypt"]);
        assert_eq!(stanza.len(), 4);
        assert_eq!(decode_salt(stanza[2].as_bytes()).map(|s| s.len()), Some(16));
        assert_eq!(stanza[3], "2");
        assert_eq!(lines[2].len(), 43, "32 bytes, unpadded base64, one line");
        assert!(lines[3].starts_with("--- ") && lines[3].len() == 4 + 43);
        assert!(!header.contains('='), "no padding");
        assert!(!file.windows(PASS.len()).any(|w| w == PASS.as_bytes()));

        // Fresh randomness each time: salt, file key, nonce.
        assert_ne!(ours(b"x")[..payload_at(&file)], file[..payload_at(&file)]);
    }

    #[test]
    fn stanza_bodies_wrap_at_64_columns() {
        let wrapped = |len: usize| {
            let mut out = Vec::new();
            push_wrapped_base64(&mut out, &vec![0xa5; len]);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(wrapped(0), "\n");
        assert_eq!(wrapped(32).lines().map(str::len).collect::<Vec<_>>(), [43]);
        assert_eq!(
            wrapped(48).lines().map(str::len).collect::<Vec<_>>(),
            [64, 0]
        );
        assert_eq!(
            wrapped(100).lines().map(str::len).collect::<Vec<_>>(),
            [64, 64, 6]
        );
        assert!(wrapped(48).ends_with("\n\n"));
    }

    /// The vault file the `age` crate wrote before issue 14 (a copy of the fuzz seed
    /// `vault-sample.age`, kept apart so rewriting the seeds never replaces it).
    #[test]
    fn a_vault_written_by_the_age_crate_opens() {
        let file = include_bytes!("testdata/vault-written-by-age-0.12.age");
        let plaintext = decrypt(&pass("fuzz-passphrase-7Qx"), file, 20).unwrap();
        let vault = super::super::VaultFile::with_work_factor("/x/vault.age".into(), LOG_N);
        let contents = vault.parse(&plaintext).unwrap();
        assert_eq!(
            contents.names().collect::<Vec<_>>(),
            ["db", "empty", "github-token"]
        );
        let value = |name| contents.get(name).unwrap().expose_secret().to_owned();
        let marker = sec_fuzz::MARKER;
        assert_eq!(value("github-token"), marker);
        assert_eq!(
            value("db"),
            format!("line one\nline \"two\"\t\\ é ✓ 🦀 \u{1} {marker}")
        );
        assert_eq!(value("empty"), "");
        assert_eq!(
            decrypt(&pass("not it"), file, 20).unwrap_err(),
            DecryptError::WrongPassphrase
        );
        // What we write from it, the age crate reads back.
        let again = encrypt(&pass("fuzz-passphrase-7Qx"), LOG_N, &plaintext).unwrap();
        assert_eq!(
            age_decrypt("fuzz-passphrase-7Qx", &again).unwrap(),
            plaintext.as_slice()
        );
    }

    #[test]
    fn a_wrong_passphrase() {
        for file in [ours(b"secret"), age_encrypt(b"secret")] {
            assert_eq!(
                decrypt(&pass("wrong"), &file, 20).unwrap_err(),
                DecryptError::WrongPassphrase
            );
            assert!(matches!(
                age_decrypt("wrong", &file),
                Err(age::DecryptError::DecryptionFailed)
            ));
        }
        // A changed salt or wrapped key cannot be told from a wrong passphrase.
        let file = ours(b"secret");
        let salt_at = file.windows(10).position(|w| w == b"-> scrypt ").unwrap() + 10;
        let body_at = file[salt_at..].iter().position(|&b| b == b'\n').unwrap() + salt_at + 1;
        for at in [salt_at, body_at] {
            let mut changed = file.clone();
            changed[at] = if changed[at] == b'A' { b'B' } else { b'A' };
            refused(&changed, DecryptError::WrongPassphrase);
        }
    }

    #[test]
    fn a_changed_header_mac() {
        let file = ours(&data(1000));
        let at = mac_line(&file) + 4;
        // Still canonical base64 (the first character's bits all count), but wrong.
        let mut changed = file.clone();
        changed[at] = if changed[at] == b'A' { b'B' } else { b'A' };
        refused(&changed, DecryptError::HeaderMac);
        // A MAC that is not base64 makes a malformed header.
        let mut changed = file.clone();
        changed[at + 10] ^= 0x80;
        assert!(matches!(open(&changed), Err(DecryptError::NotAge(_))));
    }

    #[test]
    fn a_changed_payload() {
        for size in [0, 1000, 200_000] {
            let file = ours(&data(size));
            let payload = payload_at(&file);
            // In the nonce (so the payload key), the first chunk, the last byte.
            for at in [payload, payload + NONCE_LEN, file.len() - 1] {
                let mut changed = file.clone();
                changed[at] ^= 0x01;
                assert!(
                    matches!(open(&changed), Err(DecryptError::Payload(_))),
                    "{size} bytes, byte {at}"
                );
                assert!(age_decrypt(PASS, &changed).is_err());
            }
        }
    }

    #[test]
    fn a_truncated_file() {
        let file = ours(&data(200_000));
        let payload = payload_at(&file);
        let chunk_end = |n: usize| payload + NONCE_LEN + n * SEALED_CHUNK_LEN;
        for (len, why) in [
            (file.len() - 1, "a byte short"),
            (file.len() - 20, "into the last tag"),
            (chunk_end(3) + 10, "the last chunk shorter than its tag"),
            (chunk_end(3), "at a chunk boundary: no final chunk"),
            (chunk_end(1), "after the first chunk"),
            (payload + NONCE_LEN, "no chunk at all"),
        ] {
            assert!(
                matches!(open(&file[..len]), Err(DecryptError::Payload(_))),
                "{why}"
            );
            assert!(age_decrypt(PASS, &file[..len]).is_err(), "{why}");
        }
        for len in [payload + 5, payload, payload - 1, 30, 0] {
            assert!(
                matches!(open(&file[..len]), Err(DecryptError::NotAge(_))),
                "{len}"
            );
            assert!(age_decrypt(PASS, &file[..len]).is_err(), "{len}");
        }
        // Bytes after the final chunk.
        let mut longer = ours(b"short");
        longer.push(0);
        refused(
            &longer,
            DecryptError::Payload(
                "its final chunk fails its check: changed, cut short or followed by more bytes",
            ),
        );
    }

    /// A full chunk followed by an empty final one: what a careless writer of a 64 KiB
    /// plaintext would produce, and what the specification forbids.
    #[test]
    fn an_empty_final_chunk_after_a_full_one() {
        let (file_key, salt, nonce) = ([7u8; 16], [8u8; 16], [9u8; 16]);
        let passphrase = pass(PASS);
        let header_only = encrypt_with(&passphrase, LOG_N, b"", &file_key, &salt, &nonce).unwrap();
        let mut file = header_only[..header_only.len() - TAG_LEN].to_vec();
        let aead = payload_cipher(&file_key, &nonce);
        for (index, last, len) in [(0, false, CHUNK_LEN), (1, true, 0)] {
            let mut chunk = vec![0x42; len];
            let tag = aead
                .encrypt_in_place_detached(&chunk_nonce(index, last), b"", &mut chunk)
                .unwrap();
            file.extend_from_slice(&chunk);
            file.extend_from_slice(&tag);
        }
        refused(
            &file,
            DecryptError::Payload("its final chunk is empty after full ones"),
        );
        // The same chunk as the final one is the right encoding, and opens.
        let good = encrypt_with(
            &passphrase,
            LOG_N,
            &[0x42; CHUNK_LEN],
            &file_key,
            &salt,
            &nonce,
        )
        .unwrap();
        assert_eq!(good.len(), file.len() - TAG_LEN);
        assert_eq!(open(&good).unwrap().as_slice(), [0x42; CHUNK_LEN]);
        assert_eq!(age_decrypt(PASS, &good).unwrap(), [0x42; CHUNK_LEN]);
    }

    /// `file` with `stanza` (whole lines) inserted before the MAC line.
    fn with_stanza(file: &[u8], stanza: &str) -> Vec<u8> {
        let at = mac_line(file);
        [&file[..at], stanza.as_bytes(), &file[at..]].concat()
    }

    #[test]
    fn the_passphrase_stanza_must_be_alone() {
        let file = ours(b"secret");
        let x25519 = "-> X25519 CJM36AHmTbdHSuOQL+NESqyVQE75f2e610iRdLPEN20\n\
                      C3ZAeY64NXS4QFrksLm3EGz+uPRyI0eQsWw7LWbbYig\n";
        let alone = DecryptError::BadStanza("its passphrase stanza is not alone, as age requires");
        refused(&with_stanza(&file, x25519), alone.clone());
        // Before it, too.
        let after_version = VERSION_LINE.len();
        let before = [
            &file[..after_version],
            x25519.as_bytes(),
            &file[after_version..],
        ]
        .concat();
        refused(&before, alone.clone());
        // Twice.
        let own = &file[after_version..mac_line(&file)];
        refused(
            &with_stanza(&file, std::str::from_utf8(own).unwrap()),
            alone,
        );
        // A grease-like stanza with an empty body.
        refused(
            &with_stanza(&file, "-> ab-grease x\n\n"),
            DecryptError::BadStanza("its passphrase stanza is not alone, as age requires"),
        );
    }

    #[test]
    fn files_for_keys_are_not_passphrase_files() {
        let key = age::x25519::Identity::generate();
        let file = age::encrypt(&key.to_public(), b"{}").unwrap();
        assert_eq!(open(&file).unwrap_err(), DecryptError::NotPassphrase);
        let fixture = include_bytes!("testdata/x25519.age");
        assert_eq!(open(fixture).unwrap_err(), DecryptError::NotPassphrase);
    }

    /// `file` with the scrypt stanza's arguments replaced.
    fn with_args(file: &[u8], args: &str) -> Vec<u8> {
        let start = VERSION_LINE.len() + "-> scrypt ".len();
        let end = start + file[start..].iter().position(|&b| b == b'\n').unwrap();
        [&file[..start], args.as_bytes(), &file[end..]].concat()
    }

    #[test]
    fn work_factors() {
        let file = ours(b"secret");
        let salt = std::str::from_utf8(&file[VERSION_LINE.len() + 10..][..22]).unwrap();
        // Above the caller's limit: refused before scrypt runs (2^40 would take hours).
        for (log_n, max) in [(21, 20), (40, 20), (63, 20), (255, 20), (3, 2)] {
            let changed = with_args(&file, &format!("{salt} {log_n}"));
            assert_eq!(
                decrypt(&pass(PASS), &changed, max).unwrap_err(),
                DecryptError::TooCostly { log_n },
                "{log_n}"
            );
        }
        // Within it, but not what the stanza was made with: the key differs.
        let changed = with_args(&file, &format!("{salt} 3"));
        assert_eq!(open(&changed).unwrap_err(), DecryptError::WrongPassphrase);
        // Not written as age writes a work factor.
        for bad in ["0", "02", "-2", "+2", "2.0", "", "256", "2 2", "x"] {
            let changed = with_args(&file, &format!("{salt} {bad}"));
            assert!(
                matches!(
                    open(&changed),
                    Err(DecryptError::BadStanza(_) | DecryptError::NotAge(_))
                ),
                "{bad:?}"
            );
            assert!(age_decrypt(PASS, &changed).is_err(), "{bad:?}");
        }
        // Salts: not 16 bytes, padded, not canonical, not base64.
        let last = salt.chars().last().unwrap();
        let not_canonical = format!("{}{}", &salt[..21], if last == 'B' { 'C' } else { 'B' });
        for bad in [
            &salt[..21],
            &format!("{salt}AA"),
            &format!("{salt}=="),
            &not_canonical,
            &format!("{}*", &salt[..21]),
        ] {
            let changed = with_args(&file, &format!("{bad} 2"));
            assert!(
                matches!(
                    open(&changed),
                    Err(DecryptError::BadStanza(_) | DecryptError::NotAge(_))
                ),
                "{bad:?}"
            );
            assert!(age_decrypt(PASS, &changed).is_err(), "{bad:?}");
        }
        // What encrypt refuses.
        assert!(encrypt(&pass(PASS), 0, b"").is_err());
        assert!(encrypt(&pass(PASS), 200, b"").is_err());
    }

    #[test]
    fn not_age_files() {
        for file in [
            &b""[..],
            b"{\"version\":1}",
            b"age-encryption.org/v2\n",
            b"age-encryption.org/v1\n",
            b"age-encryption.org/v1\n--- AAAA\n",
            b"-----BEGIN AGE ENCRYPTED FILE-----\nYWdl\n-----END AGE ENCRYPTED FILE-----\n",
        ] {
            assert!(
                matches!(open(file), Err(DecryptError::NotAge(_))),
                "{}",
                String::from_utf8_lossy(file)
            );
        }
    }
}
