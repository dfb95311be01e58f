//! OpenSSH private keys that ssh-key 0.6 cannot read: an ECDSA key whose private scalar has
//! leading zero bytes. OpenSSH writes the scalar as a minimal mpint (a P-521 key in about
//! one case of four, a P-256 or P-384 key in one of 256), and ssh-key 0.6.7 reads only the
//! curve's full width. [`with_full_ecdsa_scalar`] gives the same key, unencrypted, with the
//! scalar at full width; [`read_private_key`] is how `sec import ssh` and secd's agent read
//! keys (this crate does not link ssh-key: the caller passes its two parsers). The SSH
//! wire encoding's `uint32` and `string` here serve secd's agent protocol too.

use base64::Engine;
use zeroize::Zeroizing;

const BEGIN: &str = "-----BEGIN OPENSSH PRIVATE KEY-----";
const END: &str = "-----END OPENSSH PRIVATE KEY-----";
const MAGIC: &[u8] = b"openssh-key-v1\0";
/// The block size of an unencrypted private section.
const BLOCK: usize = 8;

/// `pem` read by `from_pem`, or, where that fails on a key [`with_full_ecdsa_scalar`] can
/// mend, the mended binary key read by `from_bytes`; otherwise `from_pem`'s error.
pub fn read_private_key<K, E>(
    pem: &str,
    from_pem: impl FnOnce(&str) -> Result<K, E>,
    from_bytes: impl FnOnce(&[u8]) -> Result<K, E>,
) -> Result<K, E> {
    from_pem(pem).or_else(|error| match with_full_ecdsa_scalar(pem) {
        Some(full) => from_bytes(&full),
        None => Err(error),
    })
}

/// The binary key of the unencrypted OpenSSH key `pem`, its ECDSA private scalar padded to
/// the curve's width; `None` when there is nothing to pad (not such a key, encrypted, not
/// ECDSA, already full width) or the key is malformed.
pub fn with_full_ecdsa_scalar(pem: &str) -> Option<Zeroizing<Vec<u8>>> {
    let body: String = pem
        .trim()
        .strip_prefix(BEGIN)?
        .strip_suffix(END)?
        .split_whitespace()
        .collect();
    let binary = Zeroizing::new(
        base64::engine::general_purpose::STANDARD
            .decode(body)
            .ok()?,
    );
    let mut rest = binary.strip_prefix(MAGIC)?;
    let cipher = string(&mut rest)?;
    let kdf = string(&mut rest)?;
    let _kdf_options = string(&mut rest)?;
    if cipher != b"none" || kdf != b"none" || u32_be(&mut rest)? != 1 {
        return None;
    }
    let _public = string(&mut rest)?;
    let header_len = binary.len() - rest.len();
    let mut private = string(&mut rest)?;

    let checks = private.get(..8)?;
    private = &private[8..];
    let key_type = string(&mut private)?;
    let width = match key_type {
        b"ecdsa-sha2-nistp256" => 32,
        b"ecdsa-sha2-nistp384" => 48,
        b"ecdsa-sha2-nistp521" => 66,
        _ => return None,
    };
    let curve = string(&mut private)?;
    let point = string(&mut private)?;
    let scalar = string(&mut private)?;
    if scalar.len() >= width {
        return None;
    }
    let comment = string(&mut private)?;

    let mut section = Zeroizing::new(Vec::with_capacity(256));
    section.extend_from_slice(checks);
    for field in [key_type, curve, point] {
        put_string(&mut section, field);
    }
    // Full width, left-padded with zeros: the top byte is zero, so no sign byte is needed.
    let mut full = Zeroizing::new(vec![0u8; width]);
    full[width - scalar.len()..].copy_from_slice(scalar);
    put_string(&mut section, &full);
    put_string(&mut section, comment);
    let mut pad = 1u8;
    while !section.len().is_multiple_of(BLOCK) {
        section.push(pad);
        pad += 1;
    }
    let mut out = Zeroizing::new(binary[..header_len].to_vec());
    put_string(&mut out, &section);
    Some(out)
}

/// RFC 4251's `uint32` at the front of `input`, which moves past it.
pub fn u32_be(input: &mut &[u8]) -> Option<u32> {
    let (head, tail) = input.split_first_chunk::<4>()?;
    *input = tail;
    Some(u32::from_be_bytes(*head))
}

/// RFC 4251's `string` (a `uint32` length, then the bytes) at the front of `input`.
pub fn string<'a>(input: &mut &'a [u8]) -> Option<&'a [u8]> {
    let length = u32_be(input)? as usize;
    if length > input.len() {
        return None;
    }
    let (head, tail) = input.split_at(length);
    *input = tail;
    Some(head)
}

/// Appends `bytes` as RFC 4251's `string`.
pub fn put_string(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pem(binary: &[u8]) -> String {
        let text = base64::engine::general_purpose::STANDARD.encode(binary);
        format!("{BEGIN}\n{text}\n{END}\n")
    }

    /// An unencrypted key of `key_type` with `scalar`, as OpenSSH lays it out.
    fn key(key_type: &[u8], scalar: &[u8]) -> Vec<u8> {
        let mut section = vec![1, 2, 3, 4, 1, 2, 3, 4];
        for field in [key_type, b"nistp521", b"\x04point", scalar, b"comment"] {
            put_string(&mut section, field);
        }
        let mut pad = 1;
        while section.len() % BLOCK != 0 {
            section.push(pad);
            pad += 1;
        }
        let mut binary = MAGIC.to_vec();
        for field in [&b"none"[..], b"none", b""] {
            put_string(&mut binary, field);
        }
        binary.extend_from_slice(&1u32.to_be_bytes());
        put_string(&mut binary, b"public");
        put_string(&mut binary, &section);
        binary
    }

    #[test]
    fn a_short_scalar_is_padded_and_everything_else_kept() {
        let short = [0x7f; 65];
        let fixed = with_full_ecdsa_scalar(&pem(&key(b"ecdsa-sha2-nistp521", &short))).unwrap();
        let mut full = vec![0u8];
        full.extend_from_slice(&short);
        assert_eq!(*fixed, key(b"ecdsa-sha2-nistp521", &full));
    }

    #[test]
    fn other_keys_are_left_to_ssh_key() {
        let full = [0x01; 66];
        assert!(with_full_ecdsa_scalar(&pem(&key(b"ecdsa-sha2-nistp521", &full))).is_none());
        assert!(with_full_ecdsa_scalar(&pem(&key(b"ssh-ed25519", &[1; 32]))).is_none());
        let mut encrypted = key(b"ecdsa-sha2-nistp521", &[0x7f; 65]);
        encrypted[MAGIC.len() + 4..MAGIC.len() + 8].copy_from_slice(b"aes2");
        assert!(with_full_ecdsa_scalar(&pem(&encrypted)).is_none());
        assert!(with_full_ecdsa_scalar("not a key").is_none());
        let whole = key(b"ecdsa-sha2-nistp521", &[0x7f; 65]);
        for cut in 0..whole.len() {
            assert!(with_full_ecdsa_scalar(&pem(&whole[..cut])).is_none());
        }
    }
}
