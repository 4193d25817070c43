//! What the Sensorbis API keeps beyond the shared model (schema: the Sensorbis migration): each
//! device's push credential (`sensorbis_push`: the hash packets are authenticated by, and the
//! sealed plaintext the API shows again) and the sealed copy of a device token
//! (`tokens.sealed`). Sealing is the caller's (the domain's `SealKey`); nothing here sees a key
//! or stores a plaintext.

use std::collections::HashMap;

use fieldline_domain::{
    AuthFailure, DeviceId, OrgId, Timestamp, Token, TokenHash, TokenId, TokenSecret, Uuid,
};

use crate::db::Db;
use crate::error::{Entity, Error, Result};
use crate::orgs::Tenant;
use crate::tokens::NewToken;

pub use fieldline_service::ports::PushDevice;

/// Sets a device's push credential, replacing the one it has when `replace`; returns whether
/// this one was stored (`false`: the device already had one, kept).
pub fn set_push_credential(
    db: &dyn Db,
    tenant: &Tenant,
    device: DeviceId,
    hash: &TokenHash,
    sealed: &[u8],
    replace: bool,
    now: Timestamp,
) -> Result<bool> {
    let id = TokenId::generate()?;
    let rows = db.execute(
        "INSERT INTO sensorbis_push (device_key, org_key, id, hash, sealed, created_at) \
         SELECT d.key, d.org_key, ?, ?, ?, ? FROM devices d WHERE d.org_key = ? AND d.id = ? \
         ON CONFLICT (device_key) DO UPDATE SET id = excluded.id, hash = excluded.hash, \
         sealed = excluded.sealed, created_at = excluded.created_at WHERE ? <> 0 \
         RETURNING device_key",
        &[
            id.into(),
            hash.as_bytes().as_slice().into(),
            sealed.into(),
            now.into(),
            tenant.key.into(),
            device.into(),
            replace.into(),
        ],
    )?;
    if !rows.is_empty() {
        return Ok(true);
    }
    let kept = db.execute(
        "SELECT 1 FROM sensorbis_push p JOIN devices d ON d.key = p.device_key \
         WHERE d.org_key = ? AND d.id = ?",
        &[tenant.key.into(), device.into()],
    )?;
    if kept.is_empty() {
        return Err(Error::NotFound(Entity::Device));
    }
    Ok(false)
}

/// The device a push credential belongs to (one indexed lookup per packet).
pub fn push_device(db: &dyn Db, secret: &TokenSecret) -> Result<PushDevice> {
    let rows = db.execute(
        "SELECT p.id, p.org_key, o.id, d.id, d.uuid FROM sensorbis_push p \
         JOIN devices d ON d.key = p.device_key JOIN orgs o ON o.key = p.org_key \
         WHERE p.hash = ?",
        &[secret.hash().as_bytes().as_slice().into()],
    )?;
    let r = rows.first().ok_or(AuthFailure::InvalidToken)?;
    Ok(PushDevice {
        credential: r.parse(0, TokenId::parse)?,
        tenant: Tenant::new(r.i64(1)?, r.parse(2, OrgId::parse)?),
        device: r.parse(3, DeviceId::parse)?,
        uuid: r.parse(4, Uuid::parse)?,
    })
}

/// The sealed push credentials of the organization's devices, or of one.
pub fn sealed_push_credentials(
    db: &dyn Db,
    tenant: &Tenant,
    device: Option<DeviceId>,
) -> Result<HashMap<DeviceId, Vec<u8>>> {
    let rows = db.execute(
        "SELECT d.id, p.sealed FROM sensorbis_push p JOIN devices d ON d.key = p.device_key \
         WHERE p.org_key = ?1 AND (?2 IS NULL OR d.id = ?2)",
        &[tenant.key.into(), device.into()],
    )?;
    rows.iter()
        .map(|r| Ok((r.parse(0, DeviceId::parse)?, r.blob(1)?.to_vec())))
        .collect()
}

/// The sealed copies of the current (usable) device tokens of the organization's devices, or
/// of one. Tokens made without one (by the admin API) are absent.
pub fn sealed_device_tokens(
    db: &dyn Db,
    tenant: &Tenant,
    device: Option<DeviceId>,
    now: Timestamp,
) -> Result<HashMap<DeviceId, Vec<u8>>> {
    let rows = db.execute(
        "SELECT d.id, t.sealed FROM tokens t JOIN devices d ON d.key = t.device_key \
         WHERE t.org_key = ?1 AND t.kind = 'device' AND t.revoked_at IS NULL \
         AND t.sealed IS NOT NULL AND (t.expires_at IS NULL OR t.expires_at > ?3) \
         AND (?2 IS NULL OR d.id = ?2) ORDER BY t.key",
        &[tenant.key.into(), device.into(), now.into()],
    )?;
    rows.iter()
        .map(|r| Ok((r.parse(0, DeviceId::parse)?, r.blob(1)?.to_vec())))
        .collect()
}

/// A token made as [`crate::create_token`] makes it (replacing the previous federation or
/// device token), with `seal(secret)` kept beside its hash, in the same transaction.
pub fn create_sealed_token(
    db: &dyn Db,
    tenant: &Tenant,
    new: &NewToken,
    seal: &dyn Fn(&TokenSecret) -> Result<Vec<u8>>,
    now: Timestamp,
) -> Result<(Token, TokenSecret)> {
    crate::tokens::create_token_sealed(db, tenant, new, Some(seal), now)
}

/// The sum of the magnitudes of a channel's values in the hour starting at `hour`, without
/// the value at `except` (which the write being checked replaces).
pub fn hourly_magnitude(
    db: &dyn Db,
    channel_key: i64,
    hour: Timestamp,
    except: Timestamp,
) -> Result<f64> {
    let rows = db.execute(
        "SELECT coalesce(sum(abs(value)), 0.0) FROM points WHERE channel_key = ? AND ts >= ? AND ts < ? \
         AND ts <> ?",
        &[
            channel_key.into(),
            hour.into(),
            hour.add_millis(Timestamp::HOUR_MS).into(),
            except.into(),
        ],
    )?;
    rows.first().map_or(Ok(0.0), |r| r.f64(0))
}
