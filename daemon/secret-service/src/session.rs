//! The Secret Service's encrypted session, `dh-ietf1024-sha256-aes128-cbc-pkcs7` (the
//! specification's "Transfer of Secrets"): Diffie-Hellman in RFC 2409's second Oakley group,
//! HKDF-SHA256 of the shared secret (no salt, no info) to an AES-128 key, and secrets sent as
//! AES-128-CBC with PKCS#7 padding under a fresh IV each. libsecret and gnome-keyring do the
//! same, so a process watching the bus sees no secret.

use aes::cipher::block_padding::Pkcs7;
use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use num_bigint_dig::BigUint;
use zeroize::Zeroizing;

pub const ALGORITHM: &str = "dh-ietf1024-sha256-aes128-cbc-pkcs7";

/// RFC 2409 section 6.2, the 1024-bit MODP group; its generator is 2.
const PRIME: [u8; 128] = [
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xC9, 0x0F, 0xDA, 0xA2, 0x21, 0x68, 0xC2, 0x34,
    0xC4, 0xC6, 0x62, 0x8B, 0x80, 0xDC, 0x1C, 0xD1, 0x29, 0x02, 0x4E, 0x08, 0x8A, 0x67, 0xCC, 0x74,
    0x02, 0x0B, 0xBE, 0xA6, 0x3B, 0x13, 0x9B, 0x22, 0x51, 0x4A, 0x08, 0x79, 0x8E, 0x34, 0x04, 0xDD,
    0xEF, 0x95, 0x19, 0xB3, 0xCD, 0x3A, 0x43, 0x1B, 0x30, 0x2B, 0x0A, 0x6D, 0xF2, 0x5F, 0x14, 0x37,
    0x4F, 0xE1, 0x35, 0x6D, 0x6D, 0x51, 0xC2, 0x45, 0xE4, 0x85, 0xB5, 0x76, 0x62, 0x5E, 0x7E, 0xC6,
    0xF4, 0x4C, 0x42, 0xE9, 0xA6, 0x37, 0xED, 0x6B, 0x0B, 0xFF, 0x5C, 0xB6, 0xF4, 0x06, 0xB7, 0xED,
    0xEE, 0x38, 0x6B, 0xFB, 0x5A, 0x89, 0x9F, 0xA5, 0xAE, 0x9F, 0x24, 0x11, 0x7C, 0x4B, 0x1F, 0xE6,
    0x49, 0x28, 0x66, 0x51, 0xEC, 0xE6, 0x53, 0x81, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
];

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("no randomness from the system: {0}")]
    Random(getrandom::Error),
    #[error("the Secret Service sent an unusable public key")]
    BadPublicKey,
    #[error("a secret from the Secret Service did not decrypt")]
    Decrypt,
}

/// Our half of the key exchange.
pub struct Keypair {
    private: Zeroizing<BigUint>,
    pub public: Vec<u8>,
}

impl Keypair {
    pub fn generate() -> Result<Keypair, SessionError> {
        let mut bytes = Zeroizing::new([0u8; 128]);
        getrandom::fill(&mut bytes[..]).map_err(SessionError::Random)?;
        let private = Zeroizing::new(BigUint::from_bytes_be(&bytes[..]));
        let public = BigUint::from(2u32)
            .modpow(&private, &BigUint::from_bytes_be(&PRIME))
            .to_bytes_be();
        Ok(Keypair { private, public })
    }

    /// The session's AES key, from the service's public key.
    pub fn session_key(&self, service_public: &[u8]) -> Result<SessionKey, SessionError> {
        let prime = BigUint::from_bytes_be(&PRIME);
        let theirs = BigUint::from_bytes_be(service_public);
        // 0, 1 and p-1 (and anything out of range) would make the shared secret guessable.
        if theirs <= BigUint::from(1u32) || theirs >= &prime - 1u32 {
            return Err(SessionError::BadPublicKey);
        }
        let shared = Zeroizing::new(theirs.modpow(&self.private, &prime));
        let shared = Zeroizing::new(shared.to_bytes_be());
        // Left-padded to the prime's length, as libsecret and gnome-keyring derive it.
        let mut ikm = Zeroizing::new([0u8; 128]);
        ikm[128 - shared.len()..].copy_from_slice(&shared);
        let mut key = Zeroizing::new([0u8; 16]);
        hkdf::Hkdf::<sha2::Sha256>::new(None, &ikm[..])
            .expand(&[], &mut key[..])
            .expect("16 bytes is a valid HKDF-SHA256 length");
        Ok(SessionKey(key))
    }
}

pub struct SessionKey(Zeroizing<[u8; 16]>);

type Encryptor = cbc::Encryptor<aes::Aes128>;
type Decryptor = cbc::Decryptor<aes::Aes128>;

impl SessionKey {
    /// `(iv, ciphertext)` for a secret.
    pub fn encrypt(&self, plain: &[u8]) -> Result<(Vec<u8>, Vec<u8>), SessionError> {
        let mut iv = [0u8; 16];
        getrandom::fill(&mut iv).map_err(SessionError::Random)?;
        let cipher = Encryptor::new(&(*self.0).into(), &iv.into());
        Ok((iv.to_vec(), cipher.encrypt_padded_vec_mut::<Pkcs7>(plain)))
    }

    pub fn decrypt(
        &self,
        iv: &[u8],
        ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, SessionError> {
        let iv: [u8; 16] = iv.try_into().map_err(|_| SessionError::Decrypt)?;
        let cipher = Decryptor::new(&(*self.0).into(), &iv.into());
        cipher
            .decrypt_padded_vec_mut::<Pkcs7>(ciphertext)
            .map(Zeroizing::new)
            .map_err(|_| SessionError::Decrypt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_sides_derive_one_key_and_secrets_round_trip() {
        let (ours, theirs) = (Keypair::generate().unwrap(), Keypair::generate().unwrap());
        let a = ours.session_key(&theirs.public).unwrap();
        let b = theirs.session_key(&ours.public).unwrap();
        assert_eq!(*a.0, *b.0);
        let (iv, sealed) = a.encrypt(b"pypi-token").unwrap();
        assert!(!sealed.windows(10).any(|w| w == b"pypi-token"));
        assert_eq!(&b.decrypt(&iv, &sealed).unwrap()[..], b"pypi-token");
        // A fresh IV each time.
        assert_ne!(a.encrypt(b"pypi-token").unwrap().0, iv);
        assert!(b.decrypt(&iv[..8], &sealed).is_err());
    }

    #[test]
    fn degenerate_public_keys_are_refused() {
        let ours = Keypair::generate().unwrap();
        let p_minus_1 = (BigUint::from_bytes_be(&PRIME) - 1u32).to_bytes_be();
        for bad in [&[][..], &[1], &p_minus_1, &PRIME] {
            assert!(ours.session_key(bad).is_err());
        }
    }
}
