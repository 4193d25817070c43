//! Secrets that must be shown again (a Sensorbis device's push `authorization` string and its
//! device token, which every method returning the device answers with), kept encrypted:
//! XChaCha20-Poly1305 (the RustCrypto `chacha20poly1305` crate, pure Rust, so it runs in the
//! components) under a key derived from a secret variable, with a fresh random 192-bit nonce
//! per secret, bound to what it is for (the associated data), so that a sealed value copied to
//! another row does not open there. Plain text is never stored, and `Debug` shows nothing.

use std::fmt;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};

use crate::error::{Error, ParseError, Result};
use crate::random;

const NONCE_BYTES: usize = 24;

/// The key sealed secrets are encrypted with.
#[derive(Clone)]
pub struct SealKey(XChaCha20Poly1305);

impl SealKey {
    /// The minimum length of the secret the key is derived from (32 bytes, as `jwt_secret`).
    pub const MIN_SECRET_BYTES: usize = 32;

    /// The key derived (SHA-256) from a secret of at least 32 bytes, such as 32 random bytes in
    /// base64 (what `scripts/up` generates).
    pub fn from_secret(secret: &[u8]) -> Result<Self, ParseError> {
        if secret.len() < Self::MIN_SECRET_BYTES {
            return Err(ParseError::new(
                "sealing secret",
                format!(
                    "must have at least {} bytes, has {}",
                    Self::MIN_SECRET_BYTES,
                    secret.len()
                ),
            ));
        }
        let key = Sha256::digest(secret);
        Ok(SealKey(XChaCha20Poly1305::new(
            chacha20poly1305::Key::from_slice(key.as_slice()),
        )))
    }

    /// `plaintext` encrypted for `context` (what and whose it is, e.g. `push:<device id>`):
    /// the nonce followed by the ciphertext and its tag.
    pub fn seal(&self, plaintext: &str, context: &str) -> Result<Vec<u8>> {
        let nonce = random::bytes::<NONCE_BYTES>()?;
        let sealed = self
            .0
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| Error::Internal("sealing a secret failed".into()))?;
        let mut out = Vec::with_capacity(NONCE_BYTES + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// The plaintext of a value [`SealKey::seal`] made for `context`; an error when the key or
    /// the context differs, or the value was altered.
    pub fn open(&self, sealed: &[u8], context: &str) -> Result<String> {
        let fail = || {
            Error::Internal(format!(
                "a sealed secret ({context}) does not open with this key: was the sealing \
                 secret changed?"
            ))
        };
        if sealed.len() < NONCE_BYTES {
            return Err(fail());
        }
        let (nonce, body) = sealed.split_at(NONCE_BYTES);
        let plain = self
            .0
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: body,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| fail())?;
        String::from_utf8(plain).map_err(|_| fail())
    }
}

impl fmt::Debug for SealKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SealKey(…)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens_only_with_its_key_and_context() {
        let key = SealKey::from_secret(&[7u8; 32]).unwrap();
        let a = key.seal("fls_secret", "push:dev0000000001").unwrap();
        let b = key.seal("fls_secret", "push:dev0000000001").unwrap();
        assert_ne!(a, b, "a fresh nonce each time");
        assert!(!a.windows(10).any(|w| w == b"fls_secret"));
        assert_eq!(key.open(&a, "push:dev0000000001").unwrap(), "fls_secret");
        assert!(key.open(&a, "push:dev0000000002").is_err());
        let other = SealKey::from_secret(&[8u8; 32]).unwrap();
        assert!(other.open(&a, "push:dev0000000001").is_err());
        let mut tampered = a.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(key.open(&tampered, "push:dev0000000001").is_err());
        assert!(key.open(&a[..10], "push:dev0000000001").is_err());
        assert!(SealKey::from_secret(b"short").is_err());
        assert_eq!(format!("{key:?}"), "SealKey(…)");
    }
}
