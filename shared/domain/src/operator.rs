//! The installation's operator: the one credential above organizations. Subscriptions are
//! the operator's to set (Sensorbis sells them; an organization's own administrators may not
//! raise their limits). The operator token is a secret variable of the installation
//! (`operator_token`), compared in constant time.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::ParseError;

/// The configured operator token.
pub struct OperatorToken(String);

impl OperatorToken {
    /// Shorter secrets are refused: they could be guessed.
    pub const MIN_LEN: usize = 16;

    pub fn parse(configured: &str) -> Result<Self, ParseError> {
        let t = configured.trim();
        if t.chars().count() < Self::MIN_LEN {
            return Err(ParseError::new(
                "operator_token",
                format!("must be at least {} characters", Self::MIN_LEN),
            ));
        }
        Ok(OperatorToken(t.to_owned()))
    }

    /// Whether `presented` is the token. Both are hashed first, so the comparison takes the
    /// same time whatever their lengths and wherever they differ.
    pub fn matches(&self, presented: &str) -> bool {
        let a = Sha256::digest(self.0.as_bytes());
        let b = Sha256::digest(presented.trim().as_bytes());
        a.as_slice().ct_eq(b.as_slice()).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_only_the_token() {
        assert!(OperatorToken::parse("short").is_err());
        let t = OperatorToken::parse("an operator token of some length").unwrap();
        assert!(t.matches("an operator token of some length"));
        assert!(!t.matches("an operator token of some lengtH"));
        assert!(!t.matches(""));
    }
}
