//! Sensorbis: who calls the management API (a federation manager with the federation token, a
//! device with its device token), the secrets it issues and shows again (sealed with the
//! domain's [`SealKey`]), and the device push, which goes through the one ingestion path.

use base64::Engine as _;
use fieldline_domain::sensorbis::PushPacket;
use fieldline_domain::{
    DeviceId, Organization, Point, Principal, SealKey, Timestamp, TokenKind, TokenSecret,
};

use crate::auth::Caller;
use crate::error::{Error, Refusal, Result};
use crate::ingest::{ingest, Api, Incoming};
use crate::ports::{NewToken, Store, Tenant};

/// The token of an `Authorization: Basic ...` header: the raw token as the Sensorbis document
/// prints it (`Basic <token>`), or what HTTP clients' Basic support sends, base64 of `<token>`
/// or of `<token>:` (the token as the user name, no password).
pub fn basic_token(header: Option<&str>) -> Option<String> {
    let value = header.map(str::trim).filter(|v| !v.is_empty())?;
    let (scheme, rest) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let rest = rest.trim();
    if TokenSecret::parse(rest).is_ok() {
        return Some(rest.to_owned());
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(rest)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())?;
    let token = decoded.strip_suffix(':').unwrap_or(&decoded);
    Some(token.to_owned())
}

/// A management API caller, with its organization (for the subscription check, error 30).
#[derive(Clone, Debug)]
pub struct ManagementCaller {
    pub caller: Caller,
    pub organization: Organization,
}

impl ManagementCaller {
    /// The device of a device token; `None` for the federation manager.
    pub fn device(&self) -> Option<DeviceId> {
        match self.caller.principal {
            Principal::Device { device, .. } => Some(device),
            _ => None,
        }
    }
}

/// Authenticates a management API call: the federation token or a device token, by `Basic`.
pub fn management_caller(
    store: &(impl Store + ?Sized),
    authorization: Option<&str>,
    now: Timestamp,
) -> Result<ManagementCaller> {
    if authorization.is_none_or(|a| a.trim().is_empty()) {
        return Err(Refusal::MissingCredentials(
            "no Authorization header: send `Authorization: Basic <token>` with the federation \
             token or the device token",
        )
        .into());
    }
    let wrong = || {
        Error::from(Refusal::WrongCredentials(
            "the Authorization header must be `Basic <token>` with the federation token or \
             a device token",
        ))
    };
    let token = basic_token(authorization).ok_or_else(wrong)?;
    let secret = TokenSecret::parse(&token).map_err(|_| wrong())?;
    if !matches!(
        secret.kind(),
        Some(TokenKind::Federation | TokenKind::Device)
    ) {
        return Err(wrong());
    }
    let auth = store.authenticate_token(&secret, now)?;
    let organization = store.organization(&auth.tenant)?;
    Ok(ManagementCaller {
        caller: Caller {
            tenant: auth.tenant,
            principal: auth.principal,
        },
        organization,
    })
}

/// Refuses an organization whose subscription has ended (Sensorbis error 30, 403); its data
/// is kept.
pub fn require_subscription(organization: &Organization, now: Timestamp) -> Result<()> {
    crate::auth::active(organization.subscription, now).map(|_| ())
}

/// What a device's push credential is sealed for.
pub fn push_context(device: DeviceId) -> String {
    format!("sensorbis-push:{device}")
}

/// What a device token is sealed for.
pub fn device_token_context(device: DeviceId) -> String {
    format!("sensorbis-device-token:{device}")
}

/// A new push credential for `device`, replacing its previous one at once; returns it.
pub fn issue_push_credential(
    store: &(impl Store + ?Sized),
    key: &SealKey,
    tenant: &Tenant,
    device: DeviceId,
    now: Timestamp,
) -> Result<TokenSecret> {
    Ok(new_push_credential(store, key, tenant, device, true, now)?.0)
}

/// Generates a push credential for `device`, seals it and stores it (`replace`: over the
/// existing one); returns it and whether it was stored.
fn new_push_credential(
    store: &(impl Store + ?Sized),
    key: &SealKey,
    tenant: &Tenant,
    device: DeviceId,
    replace: bool,
    now: Timestamp,
) -> Result<(TokenSecret, bool)> {
    let secret = TokenSecret::generate_push()?;
    let sealed = key.seal(secret.expose(), &push_context(device))?;
    let stored =
        store.set_push_credential(tenant, device, &secret.hash(), &sealed, replace, now)?;
    Ok((secret, stored))
}

/// The push credential of `device`, issued now if it has none (a device made by another API):
/// a concurrent issue keeps the first one, which both callers return.
pub fn ensure_push_credential(
    store: &(impl Store + ?Sized),
    key: &SealKey,
    tenant: &Tenant,
    device: DeviceId,
    now: Timestamp,
) -> Result<String> {
    let (secret, stored) = new_push_credential(store, key, tenant, device, false, now)?;
    if stored {
        return Ok(secret.expose().to_owned());
    }
    let kept = store
        .sealed_push_credentials(tenant, Some(device))?
        .remove(&device)
        .ok_or(Error::NotFound(crate::Entity::Device))?;
    Ok(key.open(&kept, &push_context(device))?)
}

/// A new device token for `device`, replacing its previous one at once; kept sealed so that
/// the methods returning the device show it.
pub fn issue_device_token(
    store: &(impl Store + ?Sized),
    key: &SealKey,
    tenant: &Tenant,
    device: DeviceId,
    now: Timestamp,
) -> Result<TokenSecret> {
    let context = device_token_context(device);
    let seal = |s: &TokenSecret| -> Result<Vec<u8>> { Ok(key.seal(s.expose(), &context)?) };
    let (_, secret) = store.create_sealed_token(tenant, &NewToken::device(device), &seal, now)?;
    Ok(secret)
}

/// A new federation token, replacing the previous one at once (shown once: no method returns
/// it again).
pub fn issue_federation_token(
    store: &(impl Store + ?Sized),
    tenant: &Tenant,
    now: Timestamp,
) -> Result<TokenSecret> {
    let (_, secret) = store.create_token(tenant, &NewToken::federation(), now)?;
    Ok(secret)
}

/// The push credential and token of a device, opened, as every method returning it shows them
/// (`None` where it has none: a device made by another API has no push credential until one is
/// issued; a device token made by the admin API is shown once only).
#[derive(Clone, Debug, Default)]
pub struct DeviceSecrets {
    pub authorization: Option<String>,
    pub token: Option<String>,
}

/// The opened secrets of the organization's devices, or of one.
pub fn device_secrets(
    store: &(impl Store + ?Sized),
    key: &SealKey,
    tenant: &Tenant,
    device: Option<DeviceId>,
    now: Timestamp,
) -> Result<std::collections::HashMap<DeviceId, DeviceSecrets>> {
    let mut out: std::collections::HashMap<DeviceId, DeviceSecrets> = Default::default();
    for (d, sealed) in store.sealed_push_credentials(tenant, device)? {
        out.entry(d).or_default().authorization = Some(key.open(&sealed, &push_context(d))?);
    }
    for (d, sealed) in store.sealed_device_tokens(tenant, device, now)? {
        out.entry(d).or_default().token = Some(key.open(&sealed, &device_token_context(d))?);
    }
    Ok(out)
}

/// The credential of a push, as its `Authorization` header carries it: the string itself, as
/// the document sends it (also accepted after `Basic ` or `Bearer `).
fn push_secret(authorization: Option<&str>) -> Result<TokenSecret> {
    let value = authorization
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or(Refusal::MissingCredentials(
            "no Authorization header: send the device's authorization string",
        ))?;
    let value = match value.split_once(' ') {
        Some((scheme, rest))
            if scheme.eq_ignore_ascii_case("basic") || scheme.eq_ignore_ascii_case("bearer") =>
        {
            rest.trim()
        }
        _ => value,
    };
    TokenSecret::parse(value)
        .ok()
        .filter(TokenSecret::is_push)
        .ok_or_else(|| {
            Refusal::WrongCredentials(
                "the Authorization header is not a device's authorization string (as GetDevice \
                 returns it)",
            )
            .into()
        })
}

/// A device push to the device's `uri` (whose last segment is `device`): authenticated by the
/// device's authorization string, refused whole when the subscription has ended, then stored
/// through [`ingest`] (limits and quota included) at `t`, or `now` when the packet has none.
/// Returns how many values were stored (all of them).
/// The packet is read after the credential is checked, so an unknown sender learns nothing
/// about the format from the answers.
pub fn push(
    store: &(impl Store + ?Sized),
    device: &str,
    authorization: Option<&str>,
    body: &[u8],
    now: Timestamp,
) -> Result<usize> {
    let secret = push_secret(authorization)?;
    let owner = store.push_device(&secret)?;
    if owner.device.as_str() != device {
        return Err(Refusal::WrongCredentials(
            "the authorization string is not the one of the device this uri names",
        )
        .into());
    }
    let organization = store.organization(&owner.tenant)?;
    require_subscription(&organization, now)?;
    let packet = PushPacket::parse(body)?;
    let t = packet.t.unwrap_or(now);
    let points = packet
        .items
        .iter()
        .map(|(i, v)| {
            Ok(Incoming::new(
                fieldline_domain::query::write::DeviceKey::Uuid(owner.uuid),
                i.clone(),
                Point::new(t, *v)?,
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    let principal = Principal::Device {
        token: owner.credential,
        org: owner.tenant.id(),
        device: owner.device,
    };
    let report = ingest(
        store,
        &owner.tenant,
        &principal,
        Api::SensorbisPush,
        &points,
        &organization.subscription,
        now,
    )?;
    Ok(report.written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_carries_the_raw_token_or_base64() {
        let t = TokenSecret::generate(TokenKind::Federation).unwrap();
        let raw = t.expose();
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        assert_eq!(basic_token(Some(&format!("Basic {raw}"))).unwrap(), raw);
        assert_eq!(basic_token(Some(&format!("basic  {raw} "))).unwrap(), raw);
        assert_eq!(
            basic_token(Some(&format!("Basic {}", b64(raw)))).unwrap(),
            raw
        );
        assert_eq!(
            basic_token(Some(&format!("Basic {}", b64(&format!("{raw}:"))))).unwrap(),
            raw
        );
        assert_eq!(basic_token(Some(&format!("Bearer {raw}"))), None);
        assert_eq!(basic_token(Some(raw)), None);
        assert_eq!(basic_token(None), None);
        assert!(push_secret(Some(raw)).is_err());
        let p = TokenSecret::generate_push().unwrap();
        assert_eq!(push_secret(Some(p.expose())).unwrap(), p);
        assert_eq!(
            push_secret(Some(&format!("Basic {}", p.expose()))).unwrap(),
            p
        );
        assert!(push_secret(None).is_err());
    }
}
