//! Passwords, hashed with Argon2id (OWASP parameters by default) into a PHC string.

use std::fmt;

use argon2::password_hash::phc;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::error::{Error, ParseError, Result};
use crate::random;

/// A password as typed: 8 to 1024 characters (NIST SP 800-63B: a minimum length and no
/// composition rules). `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    pub const MIN_CHARS: usize = 8;
    pub const MAX_CHARS: usize = 1024;

    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let n = s.chars().count();
        if n < Self::MIN_CHARS {
            return Err(ParseError::new(
                "password",
                format!("must have at least {} characters", Self::MIN_CHARS),
            ));
        }
        if n > Self::MAX_CHARS {
            return Err(ParseError::new(
                "password",
                format!("must have at most {} characters", Self::MAX_CHARS),
            ));
        }
        Ok(Password(s.to_owned()))
    }

    fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

/// A stored password hash: an Argon2id PHC string (`$argon2id$v=19$m=19456,t=2,p=1$...`), which
/// carries its own parameters and salt.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    /// Checks that a stored string is an Argon2id PHC hash.
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let parsed = phc::PasswordHash::new(s)
            .map_err(|e| ParseError::new("password hash", e.to_string()))?;
        if parsed.algorithm.as_str() != "argon2id" {
            return Err(ParseError::new(
                "password hash",
                format!("algorithm {} is not argon2id", parsed.algorithm),
            ));
        }
        Ok(PasswordHash(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(***)")
    }
}

/// Hashes and verifies passwords with one set of Argon2id parameters.
#[derive(Clone, Debug)]
pub struct PasswordHasher {
    params: Params,
}

impl Default for PasswordHasher {
    /// OWASP's recommendation: m = 19 MiB, t = 2, p = 1.
    fn default() -> Self {
        PasswordHasher {
            params: Params::DEFAULT,
        }
    }
}

impl PasswordHasher {
    /// Cheaper parameters, for tests only: verifying still reads the parameters from the hash.
    pub fn insecure_fast_for_tests() -> Self {
        PasswordHasher {
            params: Params::new(256, 1, 1, None).unwrap_or(Params::DEFAULT),
        }
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    pub fn hash(&self, password: &Password) -> Result<PasswordHash> {
        let salt = random::bytes::<16>()?;
        let hash = self
            .argon2()
            .hash_password_with_salt(password.as_bytes(), &salt)
            .map_err(|e| Error::Internal(format!("password hashing failed: {e}")))?;
        Ok(PasswordHash(hash.to_string()))
    }

    /// Whether `password` matches `hash`. With no hash (an unknown e-mail address) it still does
    /// the work of one verification, so that response times do not tell which addresses exist.
    pub fn verify(&self, password: &Password, hash: Option<&PasswordHash>) -> bool {
        let Some(hash) = hash else {
            let _ = self.hash(password);
            return false;
        };
        let Ok(parsed) = phc::PasswordHash::new(&hash.0) else {
            return false;
        };
        self.argon2()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_and_verify() {
        let h = PasswordHasher::insecure_fast_for_tests();
        let pw = Password::parse("correct horse battery").unwrap();
        let hash = h.hash(&pw).unwrap();
        assert!(hash.as_str().starts_with("$argon2id$v=19$"));
        assert!(h.verify(&pw, Some(&hash)));
        assert!(!h.verify(
            &Password::parse("wrong horse battery").unwrap(),
            Some(&hash)
        ));
        assert!(!h.verify(&pw, None));
        // salted: the same password hashes differently
        assert_ne!(h.hash(&pw).unwrap(), hash);
        assert_eq!(PasswordHash::parse(hash.as_str()).unwrap(), hash);
    }

    #[test]
    fn default_parameters_are_owasp() {
        let h = PasswordHasher::default();
        let pw = Password::parse("correct horse battery").unwrap();
        let hash = h.hash(&pw).unwrap();
        assert!(
            hash.as_str().contains("m=19456,t=2,p=1"),
            "{}",
            hash.as_str()
        );
        // verification takes the parameters from the hash, whatever the hasher's own
        assert!(PasswordHasher::insecure_fast_for_tests().verify(&pw, Some(&hash)));
    }

    #[test]
    fn password_rules_and_secrecy() {
        assert!(Password::parse("short").is_err());
        assert!(Password::parse(&"p".repeat(1025)).is_err());
        assert_eq!(
            format!("{:?}", Password::parse("secret-pass").unwrap()),
            "Password(***)"
        );
        assert!(PasswordHash::parse("$argon2i$v=19$m=16,t=2,p=1$c2FsdHNhbHQ$aGFzaA").is_err());
        assert!(PasswordHash::parse("plain").is_err());
    }
}
