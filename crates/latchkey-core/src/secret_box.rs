//! Authenticated encryption of secrets at rest under the server key.
//!
//! XChaCha20-Poly1305: its 192-bit random nonces never repeat in practice, so
//! no nonce counter has to be kept in sync between several processes.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};

use hmac::{Hmac, Mac};
use sha2::Sha256;

const NONCE_LEN: usize = 24;

/// Why a server key could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The text is not base64 of exactly 32 bytes.
    #[error("the secret key must be 32 bytes encoded in base64")]
    Malformed,
}

/// The sealed value is not authentic under this key and associated data.
#[derive(Debug, thiserror::Error)]
#[error("sealed value does not open under this key")]
pub struct OpenError;

/// The server key: the cipher built from it, and the HMAC that derives a
/// key of its own for each other use (the log's chain, known clients'
/// tokens). `Debug` never shows either.
#[derive(Clone)]
pub struct SecretBox {
    cipher: XChaCha20Poly1305,
    derivation: Hmac<Sha256>,
}

/// Feeds fields to a hash or MAC, each length-prefixed so that no two
/// different lists of fields encode alike (shifting text from one field to
/// the next changes the input).
pub(crate) fn length_prefixed(fields: &[&[u8]], mut update: impl FnMut(&[u8])) {
    for field in fields {
        update(&(field.len() as u64).to_be_bytes());
        update(field);
    }
}

/// HMAC-SHA256 keyed with 32 bytes (zero-padded to the block, as HMAC does).
pub(crate) fn hmac_sha256(key: &[u8; 32]) -> Hmac<Sha256> {
    let mut block = hmac::digest::Key::<Hmac<Sha256>>::default();
    block[..key.len()].copy_from_slice(key);
    <Hmac<Sha256> as hmac::digest::KeyInit>::new(&block)
}

impl SecretBox {
    /// A fresh random key, returned with its base64 form for storing.
    pub fn generate() -> (Self, String) {
        let key = XChaCha20Poly1305::generate_key(&mut OsRng);
        let encoded = STANDARD.encode(key);
        (SecretBox::from_key(&key), encoded)
    }

    /// Reads a key from base64 text (surrounding whitespace ignored).
    pub fn from_base64(text: &str) -> Result<Self, KeyError> {
        let bytes = STANDARD.decode(text.trim()).map_err(|_| KeyError::Malformed)?;
        if bytes.len() != 32 {
            return Err(KeyError::Malformed);
        }
        Ok(SecretBox::from_key(Key::from_slice(&bytes)))
    }

    fn from_key(key: &Key) -> Self {
        SecretBox { cipher: XChaCha20Poly1305::new(key), derivation: hmac_sha256(&(*key).into()) }
    }

    /// A key for one use of the server key, named by `label`: HMAC-SHA256 of
    /// the label under the server key, so no use's key tells anything of
    /// another's or of the server key.
    pub(crate) fn derive(&self, label: &[u8]) -> [u8; 32] {
        let mut mac = self.derivation.clone();
        mac.update(label);
        mac.finalize().into_bytes().into()
    }

    /// Encrypts `plaintext`, binding it to `associated` (e.g. the owner's id) so
    /// that a sealed value copied to another context does not open there.
    pub fn seal(&self, plaintext: &[u8], associated: &[u8]) -> Vec<u8> {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let payload = Payload { msg: plaintext, aad: associated };
        // Encryption only fails for messages beyond 256 GiB; ours are bytes long.
        let ciphertext = self.cipher.encrypt(&nonce, payload).unwrap_or_default();
        let mut out = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        out
    }

    /// Decrypts a value made by [`SecretBox::seal`] with the same associated data.
    pub fn open(&self, sealed: &[u8], associated: &[u8]) -> Result<Vec<u8>, OpenError> {
        if sealed.len() < NONCE_LEN {
            return Err(OpenError);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let payload = Payload { msg: ciphertext, aad: associated };
        self.cipher.decrypt(XNonce::from_slice(nonce), payload).map_err(|_| OpenError)
    }
}

impl fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretBox(<key redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_value_opens_only_with_its_key_and_associated_data() -> Result<(), OpenError> {
        let (boxed, encoded) = SecretBox::generate();
        let sealed = boxed.seal(b"seed", b"user-1");
        assert_eq!(boxed.open(&sealed, b"user-1")?, b"seed");
        assert!(boxed.open(&sealed, b"user-2").is_err());
        let same = SecretBox::from_base64(&encoded).map_err(|_| OpenError)?;
        assert_eq!(same.open(&sealed, b"user-1")?, b"seed");
        let (other, _) = SecretBox::generate();
        assert!(other.open(&sealed, b"user-1").is_err());
        assert!(boxed.open(&sealed[..10], b"user-1").is_err());
        Ok(())
    }

    #[test]
    fn keys_must_be_32_bytes_of_base64() {
        assert!(SecretBox::from_base64("not base64!").is_err());
        assert!(SecretBox::from_base64(&STANDARD.encode([0u8; 16])).is_err());
        assert!(SecretBox::from_base64(&STANDARD.encode([7u8; 32])).is_ok());
    }
}
