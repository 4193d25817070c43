//! Access tokens: short-lived HS256 JWTs (`Authorization: Bearer`), as Hexastate and Proficloud
//! issue them. Claims: `iss`, `sub` (user id), `org` (organization id), `iat`, `exp`, `nbf`.
//! Signing and checking are jwt-simple's, which refuses any `alg` but HS256 (so `none` too).

use jwt_simple::prelude::{
    Claims, Duration, HS256Key, HashSet, JWTClaims, MACLike as _, UnixTimeStamp,
    VerificationOptions,
};
use jwt_simple::JWTError;
use serde::{Deserialize, Serialize};

use crate::error::{AuthFailure, Error, ParseError, Result};
use crate::ids::{OrgId, UserId};
use crate::time::Timestamp;

/// `iss` of every access token.
pub const JWT_ISSUER: &str = "fieldline";
/// Lifetime of an access token: 15 minutes; the client refreshes after that.
pub const ACCESS_TOKEN_TTL_SECS: i64 = 15 * 60;
/// Clock difference tolerated between the instance that issued a token and the one checking it.
const CLOCK_TOLERANCE_SECS: u64 = 5;
/// Longer tokens are refused before they are parsed.
const MAX_TOKEN_LENGTH: usize = 4096;

#[derive(Serialize, Deserialize)]
struct OrgClaim {
    org: String,
}

/// The verified content of an access token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccessClaims {
    pub user: UserId,
    pub org: OrgId,
    pub issued_at: Timestamp,
    pub expires_at: Timestamp,
}

/// The key that signs and checks access tokens, made from a secret (a Spin variable).
pub struct JwtKey {
    key: HS256Key,
}

impl std::fmt::Debug for JwtKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JwtKey(***)")
    }
}

fn unix(t: Timestamp) -> UnixTimeStamp {
    Duration::from_secs(u64::try_from(t.as_secs()).unwrap_or(0))
}

fn from_unix(d: UnixTimeStamp) -> Option<Timestamp> {
    Timestamp::from_secs(i64::try_from(d.as_secs()).ok()?).ok()
}

impl JwtKey {
    /// A secret shorter than this is refused: HS256 wants at least 256 bits of key.
    pub const MIN_SECRET_BYTES: usize = 32;

    pub fn from_secret(secret: &[u8]) -> Result<Self, ParseError> {
        if secret.len() < Self::MIN_SECRET_BYTES {
            return Err(ParseError::new(
                "JWT secret",
                format!(
                    "has {} bytes; use at least {} random bytes (e.g. `openssl rand -hex 32`)",
                    secret.len(),
                    Self::MIN_SECRET_BYTES
                ),
            ));
        }
        Ok(JwtKey {
            key: HS256Key::from_bytes(secret),
        })
    }

    /// A signed access token for `user` in `org`, valid from `now` for
    /// [`ACCESS_TOKEN_TTL_SECS`].
    pub fn issue(&self, user: UserId, org: OrgId, now: Timestamp) -> Result<String> {
        let ttl = Duration::from_secs(ACCESS_TOKEN_TTL_SECS.unsigned_abs());
        let mut claims: JWTClaims<OrgClaim> = Claims::with_custom_claims(
            OrgClaim {
                org: org.to_string(),
            },
            ttl,
        )
        .with_issuer(JWT_ISSUER)
        .with_subject(user);
        // Times come from the caller, not from jwt-simple's clock, so that they can be tested.
        claims.issued_at = Some(unix(now));
        claims.invalid_before = Some(unix(now));
        claims.expires_at = Some(unix(now) + ttl);
        self.key
            .authenticate(claims)
            .map_err(|e| Error::Internal(format!("signing an access token failed: {e}")))
    }

    /// Checks signature, algorithm, issuer and times, and returns the claims.
    pub fn verify(&self, token: &str, now: Timestamp) -> Result<AccessClaims> {
        let options = VerificationOptions {
            allowed_issuers: Some(HashSet::from([JWT_ISSUER.to_owned()])),
            time_tolerance: Some(Duration::from_secs(CLOCK_TOLERANCE_SECS)),
            max_validity: Some(Duration::from_secs(
                ACCESS_TOKEN_TTL_SECS.unsigned_abs() + CLOCK_TOLERANCE_SECS,
            )),
            max_token_length: Some(MAX_TOKEN_LENGTH),
            artificial_time: Some(unix(now)),
            ..VerificationOptions::default()
        };
        let claims = self
            .key
            .verify_token::<OrgClaim>(token, Some(options))
            .map_err(|e| match e.downcast_ref::<JWTError>() {
                Some(JWTError::TokenHasExpired | JWTError::TokenIsTooOld) => AuthFailure::Expired,
                _ => AuthFailure::InvalidToken,
            })?;
        let invalid = || Error::Unauthenticated(AuthFailure::InvalidToken);
        // jwt-simple accepts a token without `exp` or `iss`; ours always have them.
        if claims.issuer.as_deref() != Some(JWT_ISSUER) {
            return Err(invalid());
        }
        let expires_at = claims.expires_at.and_then(from_unix).ok_or_else(invalid)?;
        let issued_at = claims.issued_at.and_then(from_unix).ok_or_else(invalid)?;
        let user = claims
            .subject
            .as_deref()
            .and_then(|s| UserId::parse(s).ok())
            .ok_or_else(invalid)?;
        let org = OrgId::parse(&claims.custom.org).map_err(|_| invalid())?;
        Ok(AccessClaims {
            user,
            org,
            issued_at,
            expires_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;

    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn setup() -> (JwtKey, UserId, OrgId, Timestamp) {
        (
            JwtKey::from_secret(SECRET).unwrap(),
            UserId::parse("user000000001").unwrap(),
            OrgId::parse("org0000000001").unwrap(),
            Timestamp::from_secs(1_700_000_000).unwrap(),
        )
    }

    fn b64(s: &str) -> String {
        URL_SAFE_NO_PAD.encode(s)
    }

    fn unauth(r: Result<AccessClaims>) -> AuthFailure {
        match r {
            Err(Error::Unauthenticated(f)) => f,
            other => panic!("expected an authentication failure, got {other:?}"),
        }
    }

    #[test]
    fn issue_and_verify() {
        let (key, user, org, now) = setup();
        let token = key.issue(user, org, now).unwrap();
        let claims = key.verify(&token, now.add_secs(60)).unwrap();
        assert_eq!(claims.user, user);
        assert_eq!(claims.org, org);
        assert_eq!(claims.issued_at, now);
        assert_eq!(claims.expires_at, now.add_secs(ACCESS_TOKEN_TTL_SECS));
        let payload = token.split('.').nth(1).unwrap();
        let json: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        assert_eq!(json["sub"], "user000000001");
        assert_eq!(json["org"], "org0000000001");
        assert_eq!(json["iss"], "fieldline");
        assert_eq!(json["iat"], 1_700_000_000);
        assert_eq!(json["exp"], 1_700_000_000 + ACCESS_TOKEN_TTL_SECS);
    }

    #[test]
    fn expired_and_future_tokens_are_refused() {
        let (key, user, org, now) = setup();
        let token = key.issue(user, org, now).unwrap();
        let late = now.add_secs(ACCESS_TOKEN_TTL_SECS + 60);
        assert_eq!(unauth(key.verify(&token, late)), AuthFailure::Expired);
        let early = now.add_secs(-3600);
        assert_eq!(unauth(key.verify(&token, early)), AuthFailure::InvalidToken);
    }

    #[test]
    fn tampered_tokens_are_refused() {
        let (key, user, org, now) = setup();
        let token = key.issue(user, org, now).unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        // another org in the payload, same signature
        let forged_payload = b64(&format!(
            r#"{{"iat":{0},"exp":{1},"nbf":{0},"iss":"fieldline","sub":"user000000001","org":"org0000000002"}}"#,
            now.as_secs(),
            now.as_secs() + 900
        ));
        let forged = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
        assert_eq!(unauth(key.verify(&forged, now)), AuthFailure::InvalidToken);
        // a flipped signature character
        let mut sig = parts[2].to_owned();
        let c = if sig.starts_with('A') { "B" } else { "A" };
        sig.replace_range(0..1, c);
        let bad_sig = format!("{}.{}.{}", parts[0], parts[1], sig);
        assert_eq!(unauth(key.verify(&bad_sig, now)), AuthFailure::InvalidToken);
        // signed with another key
        let other = JwtKey::from_secret(b"another secret of at least 32 bytes!").unwrap();
        let foreign = other.issue(user, org, now).unwrap();
        assert_eq!(unauth(key.verify(&foreign, now)), AuthFailure::InvalidToken);
        assert_eq!(
            unauth(key.verify("not.a.jwt", now)),
            AuthFailure::InvalidToken
        );
        assert_eq!(unauth(key.verify("", now)), AuthFailure::InvalidToken);
    }

    #[test]
    fn alg_none_is_refused() {
        let (key, user, org, now) = setup();
        let token = key.issue(user, org, now).unwrap();
        let payload = token.split('.').nth(1).unwrap();
        for header in [
            r#"{"alg":"none","typ":"JWT"}"#,
            r#"{"alg":"HS512","typ":"JWT"}"#,
        ] {
            let unsigned = format!("{}.{}.", b64(header), payload);
            assert_eq!(
                unauth(key.verify(&unsigned, now)),
                AuthFailure::InvalidToken
            );
        }
    }

    #[test]
    fn tokens_without_our_claims_are_refused() {
        let (key, _, _, now) = setup();
        // correctly signed, but no exp / no org / no issuer
        let raw = HS256Key::from_bytes(SECRET);
        let no_org = Claims::create(Duration::from_secs(60))
            .with_issuer(JWT_ISSUER)
            .with_subject("user000000001");
        let mut no_org = no_org;
        no_org.issued_at = Some(unix(now));
        no_org.expires_at = Some(unix(now.add_secs(60)));
        let t = raw.authenticate(no_org).unwrap();
        assert_eq!(unauth(key.verify(&t, now)), AuthFailure::InvalidToken);
        let mut no_exp = Claims::with_custom_claims(
            OrgClaim {
                org: "org0000000001".into(),
            },
            Duration::from_secs(60),
        )
        .with_issuer(JWT_ISSUER)
        .with_subject("user000000001");
        no_exp.issued_at = Some(unix(now));
        no_exp.expires_at = None;
        let t = raw.authenticate(no_exp).unwrap();
        assert_eq!(unauth(key.verify(&t, now)), AuthFailure::InvalidToken);
    }

    #[test]
    fn short_secrets_are_refused() {
        assert!(JwtKey::from_secret(b"too short").is_err());
        assert_eq!(
            format!("{:?}", JwtKey::from_secret(SECRET).unwrap()),
            "JwtKey(***)"
        );
    }
}
