//! Stored tokens: created with a secret shown once, looked up by the secret's hash, revoked;
//! refresh tokens rotate on every use, and a reused one revokes its whole family.

use fieldline_domain::{
    AuthFailure, ConduitServices, ConduitTier, DeviceId, OrgId, Permissions, Principal, ShortText,
    Timestamp, Token, TokenId, TokenKind, TokenSecret, UserId, REFRESH_TOKEN_TTL_SECS,
};

use crate::db::{transaction, Db, Row, Value};
use crate::error::{Entity, Error, Result};
use crate::orgs::{subscription_from, Tenant, SUBSCRIPTION_COLS};

pub use fieldline_service::ports::NewToken;

const TOKEN_COLS: &str = "t.id, o.id, t.kind, t.name, u.id, d.id, t.tier, t.services, \
    t.created_at, t.expires_at, t.last_used_at, t.revoked_at, t.key, o.key, m.permissions";
/// The first column after [`TOKEN_COLS`].
const AFTER_TOKEN_COLS: usize = 15;
const TOKEN_FROM: &str = "FROM tokens t JOIN orgs o ON o.key = t.org_key \
    LEFT JOIN users u ON u.key = t.user_key \
    LEFT JOIN devices d ON d.key = t.device_key \
    LEFT JOIN memberships m ON m.org_key = t.org_key AND m.user_key = t.user_key";

fn token_from(r: &Row<'_>) -> Result<Token> {
    Ok(Token {
        id: r.parse(0, TokenId::parse)?,
        org: r.parse(1, OrgId::parse)?,
        kind: r.parse(2, TokenKind::parse)?,
        name: r.parse(3, ShortText::parse)?,
        user: r.opt_parse(4, UserId::parse)?,
        device: r.opt_parse(5, DeviceId::parse)?,
        tier: r.opt_parse(6, ConduitTier::parse)?,
        services: ConduitServices::from_bits(r.i64(7)?),
        created_at: r.ts(8)?,
        expires_at: r.opt_ts(9)?,
        last_used_at: r.opt_ts(10)?,
        revoked_at: r.opt_ts(11)?,
    })
}

fn insert_token(
    db: &dyn Db,
    org_key: i64,
    new: &NewToken,
    user_key: Option<i64>,
    device_key: Option<i64>,
    family: Option<&str>,
    now: Timestamp,
) -> Result<(TokenId, TokenSecret)> {
    let id = TokenId::generate()?;
    let secret = TokenSecret::generate(new.kind())?;
    db.execute(
        "INSERT INTO tokens (id, org_key, kind, hash, name, user_key, device_key, family, tier, \
         services, created_at, expires_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        &[
            id.into(),
            org_key.into(),
            new.kind().as_str().into(),
            secret.hash().as_bytes().as_slice().into(),
            (&new.name).into(),
            user_key.into(),
            device_key.into(),
            family.into(),
            new.tier().map(|t| t.as_str()).into(),
            new.services().bits().into(),
            now.into(),
            new.expires_at.into(),
        ],
    )?;
    Ok((id, secret))
}

fn one_key(db: &dyn Db, sql: &str, params: &[Value], what: Entity) -> Result<i64> {
    db.execute(sql, params)?
        .first()
        .ok_or(Error::NotFound(what))?
        .i64(0)
}

/// Creates a token and returns it with its secret, which is shown once and never stored.
pub fn create_token(
    db: &dyn Db,
    tenant: &Tenant,
    new: &NewToken,
    now: Timestamp,
) -> Result<(Token, TokenSecret)> {
    create_token_sealed(db, tenant, new, None, now)
}

/// What makes a token's sealed copy from its secret.
pub(crate) type Seal<'a> = &'a dyn Fn(&TokenSecret) -> Result<Vec<u8>>;

/// [`create_token`], also keeping `seal(secret)` (an encrypted copy, for Sensorbis device
/// tokens, which are shown again) in the same transaction.
pub(crate) fn create_token_sealed(
    db: &dyn Db,
    tenant: &Tenant,
    new: &NewToken,
    seal: Option<Seal<'_>>,
    now: Timestamp,
) -> Result<(Token, TokenSecret)> {
    let (id, secret) = transaction(db, |db| {
        let user_key = new
            .user()
            .map(|u| {
                one_key(
                    db,
                    "SELECT m.user_key FROM memberships m JOIN users u ON u.key = m.user_key \
                     WHERE m.org_key = ? AND u.id = ?",
                    &[tenant.key.into(), u.into()],
                    Entity::Member,
                )
            })
            .transpose()?;
        let device_key = new
            .device_id()
            .map(|d| {
                one_key(
                    db,
                    "SELECT key FROM devices WHERE org_key = ? AND id = ?",
                    &[tenant.key.into(), d.into()],
                    Entity::Device,
                )
            })
            .transpose()?;
        // Sensorbis has one federation token and one token per device: a new one replaces it.
        match new.kind() {
            TokenKind::Federation => {
                db.execute(
                    "UPDATE tokens SET revoked_at = ? WHERE org_key = ? AND kind = 'federation' \
                     AND revoked_at IS NULL",
                    &[now.into(), tenant.key.into()],
                )?;
            }
            TokenKind::Device => {
                db.execute(
                    "UPDATE tokens SET revoked_at = ? WHERE org_key = ? AND kind = 'device' \
                     AND device_key = ? AND revoked_at IS NULL",
                    &[now.into(), tenant.key.into(), device_key.into()],
                )?;
            }
            TokenKind::Conduit | TokenKind::Refresh => {}
        }
        let (id, secret) = insert_token(db, tenant.key, new, user_key, device_key, None, now)?;
        if let Some(seal) = seal {
            db.execute(
                "UPDATE tokens SET sealed = ? WHERE org_key = ? AND id = ?",
                &[
                    seal(&secret)?.as_slice().into(),
                    tenant.key.into(),
                    id.into(),
                ],
            )?;
        }
        Ok((id, secret))
    })?;
    Ok((token(db, tenant, id)?, secret))
}

pub fn token(db: &dyn Db, tenant: &Tenant, id: TokenId) -> Result<Token> {
    let rows = db.execute(
        &format!("SELECT {TOKEN_COLS} {TOKEN_FROM} WHERE t.org_key = ? AND t.id = ?"),
        &[tenant.key.into(), id.into()],
    )?;
    token_from(&rows.first().ok_or(Error::NotFound(Entity::Token))?)
}

/// The organization's tokens, newest first, optionally of one kind.
pub fn list_tokens(db: &dyn Db, tenant: &Tenant, kind: Option<TokenKind>) -> Result<Vec<Token>> {
    let rows = db.execute(
        &format!(
            "SELECT {TOKEN_COLS} {TOKEN_FROM} WHERE t.org_key = ? AND (?2 IS NULL OR t.kind = ?2) \
             ORDER BY t.created_at DESC, t.key DESC"
        ),
        &[tenant.key.into(), kind.map(|k| k.as_str()).into()],
    )?;
    rows.iter().map(|r| token_from(&r)).collect()
}

pub fn revoke_token(db: &dyn Db, tenant: &Tenant, id: TokenId, now: Timestamp) -> Result<()> {
    let rows = db.execute(
        "UPDATE tokens SET revoked_at = coalesce(revoked_at, ?) WHERE org_key = ? AND id = ? \
         RETURNING key",
        &[now.into(), tenant.key.into(), id.into()],
    )?;
    if rows.is_empty() {
        return Err(Error::NotFound(Entity::Token));
    }
    Ok(())
}

pub use fieldline_service::Authenticated;

/// `last_used_at` is refreshed at most this often, so that using a token stays a read.
const LAST_USED_RESOLUTION_MS: i64 = 3_600_000;

/// Authenticates a Conduit, federation or device token presented by a client.
pub fn authenticate_token(
    db: &dyn Db,
    secret: &TokenSecret,
    now: Timestamp,
) -> Result<Authenticated> {
    // The organization's subscription in the same statement: every caller checks it next.
    let rows = db.execute(
        &format!("SELECT {TOKEN_COLS}, {SUBSCRIPTION_COLS} {TOKEN_FROM} WHERE t.hash = ?"),
        &[secret.hash().as_bytes().as_slice().into()],
    )?;
    let r = rows.first().ok_or(AuthFailure::InvalidToken)?;
    let token = token_from(&r)?;
    let (token_key, org_key) = (r.i64(12)?, r.i64(13)?);
    if token.revoked_at.is_some() {
        return Err(AuthFailure::Revoked.into());
    }
    if !token.is_usable(now) {
        return Err(AuthFailure::Expired.into());
    }
    let principal = match token.kind {
        TokenKind::Refresh => return Err(AuthFailure::InvalidToken.into()),
        TokenKind::Conduit => {
            // The token carries its user's current permissions; a former member's is dead.
            let permissions = r.opt_i64(14)?.ok_or(AuthFailure::Revoked)?;
            Principal::Conduit {
                token: token.id,
                user: token.user.ok_or(AuthFailure::Revoked)?,
                org: token.org,
                permissions: Permissions::from_bits(permissions),
                tier: token.tier.unwrap_or_default(),
                services: token.services,
            }
        }
        TokenKind::Federation => Principal::Federation {
            token: token.id,
            org: token.org,
        },
        TokenKind::Device => Principal::Device {
            token: token.id,
            org: token.org,
            device: token.device.ok_or(AuthFailure::Revoked)?,
        },
    };
    let stale = token
        .last_used_at
        .is_none_or(|t| now.as_millis() - t.as_millis() >= LAST_USED_RESOLUTION_MS);
    if stale {
        db.execute(
            "UPDATE tokens SET last_used_at = ? WHERE key = ?",
            &[now.into(), token_key.into()],
        )?;
    }
    Ok(Authenticated {
        tenant: Tenant::new(org_key, token.org),
        principal,
        subscription: subscription_from(&r, AFTER_TOKEN_COLS)?,
        token,
    })
}

/// Starts a login session: a refresh token for a member, the first of a new family.
pub fn issue_refresh_token(
    db: &dyn Db,
    tenant: &Tenant,
    user: UserId,
    now: Timestamp,
) -> Result<TokenSecret> {
    let user_key = one_key(
        db,
        "SELECT m.user_key FROM memberships m JOIN users u ON u.key = m.user_key \
         WHERE m.org_key = ? AND u.id = ?",
        &[tenant.key.into(), user.into()],
        Entity::Member,
    )?;
    let family = TokenId::generate()?;
    let new = refresh_token_spec(now);
    let (_, secret) = insert_token(
        db,
        tenant.key,
        &new,
        Some(user_key),
        None,
        Some(family.as_str()),
        now,
    )?;
    Ok(secret)
}

fn refresh_token_spec(now: Timestamp) -> NewToken {
    NewToken::refresh(now.add_secs(REFRESH_TOKEN_TTL_SECS))
}

pub use fieldline_service::Rotated;

/// Exchanges a refresh token for a new one. A token that was already used (a stolen copy, or
/// a replay) revokes its whole family: both the thief and the user must log in again.
pub fn rotate_refresh_token(db: &dyn Db, secret: &TokenSecret, now: Timestamp) -> Result<Rotated> {
    let outcome = transaction(db, |db| {
        let rows = db.execute(
            "SELECT t.key, t.family, t.used_at, t.revoked_at, t.expires_at, t.org_key, t.user_key, \
             u.id, o.id, m.permissions IS NOT NULL \
             FROM tokens t JOIN orgs o ON o.key = t.org_key JOIN users u ON u.key = t.user_key \
             LEFT JOIN memberships m ON m.org_key = t.org_key AND m.user_key = t.user_key \
             WHERE t.hash = ? AND t.kind = 'refresh'",
            &[secret.hash().as_bytes().as_slice().into()],
        )?;
        let Some(r) = rows.first() else {
            return Ok(Err(AuthFailure::InvalidToken));
        };
        let (key, family) = (r.i64(0)?, r.text(1)?.to_owned());
        let revoke_family = |db: &dyn Db| {
            db.execute(
                "UPDATE tokens SET revoked_at = ? WHERE family = ? AND revoked_at IS NULL",
                &[now.into(), family.as_str().into()],
            )
        };
        if r.opt_i64(2)?.is_some() {
            revoke_family(db)?;
            return Ok(Err(AuthFailure::Reused));
        }
        if r.opt_i64(3)?.is_some() {
            return Ok(Err(AuthFailure::Revoked));
        }
        if r.opt_ts(4)?.is_some_and(|e| now >= e) {
            return Ok(Err(AuthFailure::Expired));
        }
        if !r.bool(9)? {
            revoke_family(db)?;
            return Ok(Err(AuthFailure::Revoked));
        }
        let (org_key, user_key) = (r.i64(5)?, r.i64(6)?);
        let user = r.parse(7, UserId::parse)?;
        let org = r.parse(8, OrgId::parse)?;
        db.execute(
            "UPDATE tokens SET used_at = ?, last_used_at = ? WHERE key = ?",
            &[now.into(), now.into(), key.into()],
        )?;
        let (_, refresh) = insert_token(
            db,
            org_key,
            &refresh_token_spec(now),
            Some(user_key),
            None,
            Some(&family),
            now,
        )?;
        Ok(Ok((Tenant::new(org_key, org), user, refresh)))
    })?;
    // Committed either way: a detected reuse must stay revoked.
    let (tenant, user, refresh) = outcome?;
    let (_, membership) = crate::users::member(db, tenant.id(), user)?;
    Ok(Rotated {
        tenant,
        membership,
        refresh,
    })
}

/// Logout: revokes the presented refresh token's whole family. Unknown tokens are ignored.
pub fn revoke_refresh_token(db: &dyn Db, secret: &TokenSecret, now: Timestamp) -> Result<()> {
    db.execute(
        "UPDATE tokens SET revoked_at = ? WHERE revoked_at IS NULL AND family = \
         (SELECT family FROM tokens WHERE hash = ? AND kind = 'refresh')",
        &[now.into(), secret.hash().as_bytes().as_slice().into()],
    )?;
    Ok(())
}
