//! Opaque credentials: every credential that is not a JWT (refresh, Conduit, federation and
//! device tokens, invitation links). A secret is 256 random bits, shown once when created and
//! stored only as its SHA-256 hash. A fast hash is enough here, unlike for passwords: the secret
//! is random and long, so there is nothing to guess from a leaked hash.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{ParseError, Result};
use crate::ids::{DeviceId, OrgId, TokenId, UserId};
use crate::random;
use crate::subscription::ConduitTier;
use crate::text::ShortText;
use crate::time::Timestamp;

/// How long a refresh token lives unless used (and so rotated) first.
pub const REFRESH_TOKEN_TTL_SECS: i64 = 30 * 24 * 3600;

const SECRET_BYTES: usize = 32;
/// base64url of 32 bytes, without padding.
const SECRET_CHARS: usize = 43;
const INVITATION_PREFIX: &str = "fli_";
/// A Sensorbis device's push `authorization` string.
const PUSH_PREFIX: &str = "fls_";

/// What a stored token is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenKind {
    /// Exchanged for a new access JWT (and a new refresh token) at login refresh.
    Refresh,
    /// A user's AlphaX Conduit token: that user's data access, limited by tier and services.
    Conduit,
    /// A Sensorbis federation token: manages the organization's devices (a gateway).
    Federation,
    /// A Sensorbis device token: writes and reads one device.
    Device,
}

impl TokenKind {
    pub const ALL: [TokenKind; 4] = [
        TokenKind::Refresh,
        TokenKind::Conduit,
        TokenKind::Federation,
        TokenKind::Device,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Refresh => "refresh",
            TokenKind::Conduit => "conduit",
            TokenKind::Federation => "federation",
            TokenKind::Device => "device",
        }
    }

    pub fn parse(s: &str) -> Result<Self, ParseError> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                ParseError::new(
                    "token kind",
                    format!("{s:?} is not one of refresh, conduit, federation, device"),
                )
            })
    }

    /// The secret's prefix, so that a leaked secret is recognisable (and scannable) for what it is.
    fn prefix(self) -> &'static str {
        match self {
            TokenKind::Refresh => "flr_",
            TokenKind::Conduit => "flc_",
            TokenKind::Federation => "flf_",
            TokenKind::Device => "fld_",
        }
    }
}

/// A token's plaintext: `fl?_` and 43 base64url characters. Exists only between generation and
/// the response that shows it, or between receiving it and hashing it; `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenSecret(String);

impl TokenSecret {
    pub fn generate(kind: TokenKind) -> Result<Self> {
        Self::with_prefix(kind.prefix())
    }

    /// The secret of an invitation link.
    pub fn generate_invitation() -> Result<Self> {
        Self::with_prefix(INVITATION_PREFIX)
    }

    /// A Sensorbis device's push credential (the `authorization` string of its packets).
    pub fn generate_push() -> Result<Self> {
        Self::with_prefix(PUSH_PREFIX)
    }

    /// Whether this is a push credential.
    pub fn is_push(&self) -> bool {
        self.0.starts_with(PUSH_PREFIX)
    }

    fn with_prefix(prefix: &str) -> Result<Self> {
        let bytes = random::bytes::<SECRET_BYTES>()?;
        Ok(TokenSecret(format!(
            "{prefix}{}",
            URL_SAFE_NO_PAD.encode(bytes)
        )))
    }

    /// Checks the shape of a presented secret, so that garbage is refused before any lookup.
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        const WHAT: &str = "token";
        let known = TokenKind::ALL
            .iter()
            .map(|k| k.prefix())
            .chain([INVITATION_PREFIX, PUSH_PREFIX])
            .any(|p| s.starts_with(p));
        if !known || s.len() != 4 + SECRET_CHARS {
            return Err(ParseError::new(WHAT, "not a Fieldline token"));
        }
        if let Some((i, c)) = s[4..]
            .char_indices()
            .find(|&(_, c)| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        {
            return Err(ParseError::at(WHAT, i + 4, format!("{c:?} is not allowed")));
        }
        Ok(TokenSecret(s.to_owned()))
    }

    /// The kind its prefix says (`None` for an invitation secret).
    pub fn kind(&self) -> Option<TokenKind> {
        TokenKind::ALL
            .into_iter()
            .find(|k| self.0.starts_with(k.prefix()))
    }

    /// The plaintext, to show once.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> TokenHash {
        TokenHash(Sha256::digest(self.0.as_bytes()).into())
    }
}

impl fmt::Debug for TokenSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenSecret({}…)", self.0.get(..4).unwrap_or(""))
    }
}

/// SHA-256 of a secret: what storage keeps and looks tokens up by.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash([u8; 32]);

impl TokenHash {
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(TokenHash)
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenHash(")?;
        for b in &self.0[..4] {
            write!(f, "{b:02x}")?;
        }
        write!(f, "…)")
    }
}

/// The Conduit services a token may use (AlphaX v2.0: HTTPS, MQTT, Webhook).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default)]
pub struct ConduitServices {
    pub http: bool,
    pub mqtt: bool,
    pub webhook: bool,
}

impl Default for ConduitServices {
    fn default() -> Self {
        ConduitServices {
            http: true,
            mqtt: true,
            webhook: false,
        }
    }
}

impl ConduitServices {
    pub const NONE: ConduitServices = ConduitServices {
        http: false,
        mqtt: false,
        webhook: false,
    };

    /// Stored as a bit set: http 1, mqtt 2, webhook 4.
    pub fn bits(self) -> i64 {
        i64::from(self.http) | i64::from(self.mqtt) << 1 | i64::from(self.webhook) << 2
    }

    pub fn from_bits(bits: i64) -> Self {
        ConduitServices {
            http: bits & 1 != 0,
            mqtt: bits & 2 != 0,
            webhook: bits & 4 != 0,
        }
    }
}

/// A stored token, as listed in the admin API. The secret is not here: it cannot be recovered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Token {
    pub id: TokenId,
    pub org: OrgId,
    pub kind: TokenKind,
    /// A label chosen by whoever created it.
    pub name: ShortText,
    /// The user a refresh or Conduit token acts for.
    pub user: Option<UserId>,
    /// The device a device token belongs to.
    pub device: Option<DeviceId>,
    /// Conduit tokens only.
    pub tier: Option<ConduitTier>,
    pub services: ConduitServices,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub last_used_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

impl Token {
    pub fn is_usable(&self, now: Timestamp) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|e| now < e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_long_random_prefixed_and_hashed() {
        let a = TokenSecret::generate(TokenKind::Conduit).unwrap();
        let b = TokenSecret::generate(TokenKind::Conduit).unwrap();
        assert_ne!(a, b);
        assert_ne!(a.hash(), b.hash());
        assert!(a.expose().starts_with("flc_"));
        assert_eq!(a.expose().len(), 47);
        assert_eq!(a.kind(), Some(TokenKind::Conduit));
        // parse accepts what generate makes, and hashes the same
        let again = TokenSecret::parse(a.expose()).unwrap();
        assert_eq!(again.hash(), a.hash());
        // the hash is SHA-256 of the text
        assert_eq!(
            hex(TokenSecret("abc".into()).hash().as_bytes()),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let push = TokenSecret::generate_push().unwrap();
        assert!(push.expose().starts_with("fls_") && push.is_push() && !a.is_push());
        assert_eq!(TokenSecret::parse(push.expose()).unwrap().kind(), None);
        let inv = TokenSecret::generate_invitation().unwrap();
        assert_eq!(inv.kind(), None);
        assert!(TokenSecret::parse(inv.expose()).is_ok());
    }

    #[test]
    fn debug_hides_the_secret() {
        let a = TokenSecret::generate(TokenKind::Refresh).unwrap();
        let shown = format!("{a:?}");
        assert_eq!(shown, "TokenSecret(flr_…)");
        assert!(!format!("{:?}", a.hash()).contains(a.expose()));
    }

    #[test]
    fn malformed_secrets_are_refused() {
        let good = TokenSecret::generate(TokenKind::Device).unwrap();
        assert!(TokenSecret::parse("").is_err());
        assert!(TokenSecret::parse("5b131223c23a7abcd81b0617").is_err());
        assert!(TokenSecret::parse(&good.expose()[..46]).is_err());
        let mut bad = good.expose().to_owned();
        bad.replace_range(10..11, "/");
        assert_eq!(TokenSecret::parse(&bad).unwrap_err().offset, Some(10));
        assert!(TokenSecret::parse(&good.expose().replacen("fld_", "flx_", 1)).is_err());
    }

    #[test]
    fn kinds_and_services() {
        for k in TokenKind::ALL {
            assert_eq!(TokenKind::parse(k.as_str()).unwrap(), k);
        }
        assert!(TokenKind::parse("api").is_err());
        for bits in 0..8 {
            assert_eq!(ConduitServices::from_bits(bits).bits(), bits);
        }
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|b| format!("{b:02x}")).collect()
    }
}
