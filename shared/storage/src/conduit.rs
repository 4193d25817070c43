//! AlphaX Conduit's storage needs: who a Conduit token is (and whether it may use a service),
//! uploads (rate limit, device by network id with automatic registration, channels by AlphaX
//! number created on first use, the write), and the points of a read across devices and
//! channels, oldest first. HTTP and MQTT ingestion share [`conduit_ingest`].

use std::collections::HashMap;

use fieldline_domain::conduit::{ConduitChannel, ConduitError, ReadQuery, Reading, Status};
use fieldline_domain::{
    authorize, Action, Channel, ChannelFields, ConduitTier, Device, DeviceFields, Name, NetworkId,
    Permission, Point, Principal, RateLimitPolicy, SensorFields, SensorId, Timestamp, TokenSecret,
    Unit,
};

use crate::db::{placeholders, Db, Value};
use crate::devices::{
    channel_from, create_channel, create_device, create_sensor, list_sensors, ChannelRef,
    CHANNEL_SELECT,
};
use crate::error::{Conflict, Error, Result};
use crate::orgs::Tenant;
use crate::tokens::{authenticate_token, Authenticated};

/// A storage error in Conduit's terms: "not found" is a 404, the domain's errors keep their
/// status, anything else is a 500.
pub fn conduit_error(e: Error) -> ConduitError {
    match e {
        Error::NotFound(what) => ConduitError::new(Status::NotFound, format!("{what} not found")),
        Error::Domain(d) => d.into(),
        other => ConduitError::new(Status::Internal, other.to_string()),
    }
}

/// The Conduit services a request comes through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConduitService {
    Http,
    Mqtt,
}

/// The holder of a Conduit token, checked: a Conduit token (not another kind of Fieldline
/// token), usable, of a current member, with the service enabled.
#[derive(Clone, Debug)]
pub struct ConduitCaller {
    pub auth: Authenticated,
    pub tier: ConduitTier,
    can_modify: bool,
}

/// Authenticates the token a Conduit client presented (`None`: it sent none).
pub fn conduit_caller(
    db: &dyn Db,
    token: Option<&str>,
    service: ConduitService,
    now: Timestamp,
) -> Result<ConduitCaller, ConduitError> {
    let token = token
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ConduitError::new(
                Status::Unauthorised,
                "no token: every request needs a Conduit token",
            )
        })?;
    let not_conduit =
        || ConduitError::new(Status::Unauthorised, "the token is not a Conduit token");
    let secret = TokenSecret::parse(token).map_err(|_| not_conduit())?;
    let auth = authenticate_token(db, &secret, now).map_err(conduit_error)?;
    let Principal::Conduit {
        tier,
        services,
        permissions,
        ..
    } = auth.principal
    else {
        return Err(not_conduit());
    };
    let (enabled, name) = match service {
        ConduitService::Http => (services.http, "HTTP"),
        ConduitService::Mqtt => (services.mqtt, "MQTT"),
    };
    if !enabled {
        return Err(ConduitError::new(
            Status::Forbidden,
            format!("the {name} service is not enabled for this Conduit token"),
        ));
    }
    Ok(ConduitCaller {
        tier,
        can_modify: permissions.has(Permission::Modify),
        auth,
    })
}

/// Counts one call against `policy` (none: unlimited) for the caller's token.
pub fn conduit_rate_limit(
    db: &dyn Db,
    caller: &ConduitCaller,
    policy: Option<RateLimitPolicy>,
    now: Timestamp,
) -> Result<(), ConduitError> {
    if let Some(policy) = policy {
        crate::counters::check_rate_limit(
            db,
            &policy,
            &caller.auth.principal.rate_limit_key(),
            1,
            now,
        )
        .map_err(conduit_error)?;
    }
    Ok(())
}

/// The device an upload names, without writing anything: `None` for an unknown network id the
/// upload may register, which it may only when the organization turned automatic registration
/// on and the token's user may modify devices.
fn upload_target(
    db: &dyn Db,
    caller: &ConduitCaller,
    network_id: &NetworkId,
) -> Result<Option<Device>, ConduitError> {
    let tenant = &caller.auth.tenant;
    match crate::devices::device_by_network_id(db, tenant, network_id) {
        Ok(device) => {
            authorize(
                &caller.auth.principal,
                Action::WritePoints(device.id),
                tenant.id(),
            )?;
            return Ok(Some(device));
        }
        Err(Error::NotFound(_)) => {}
        Err(e) => return Err(conduit_error(e)),
    }
    if !crate::orgs::auto_registration(db, tenant).map_err(conduit_error)? {
        return Err(ConduitError::new(
            Status::NotFound,
            format!(
                "no device with networkId {:?}: register it first, or turn on automatic \
                 registration for the organization",
                network_id.as_str()
            ),
        ));
    }
    if !caller.can_modify {
        return Err(ConduitError::new(
            Status::Forbidden,
            "registering a device needs the Modify permission",
        ));
    }
    Ok(None)
}

/// Stores an upload: the device (registered when allowed) and the permission to write it are
/// settled first, so that a refused upload (404, 403) costs no quota; then the write rate limit
/// of the token's tier and the organization's hourly points quota are counted; then the device
/// is registered if it must be, its channels created on first use, and the points written, all
/// at `timestamp`. Returns how many points were written.
pub fn conduit_ingest(
    db: &dyn Db,
    caller: &ConduitCaller,
    network_id: &NetworkId,
    timestamp: Timestamp,
    readings: &[Reading],
    now: Timestamp,
) -> Result<usize, ConduitError> {
    let target = upload_target(db, caller, network_id)?;
    let tenant = &caller.auth.tenant;
    conduit_rate_limit(db, caller, caller.tier.write_policy(), now)?;
    // The organization's hourly points quota (its subscription), counted in points.
    let subscription = crate::orgs::organization(db, tenant)
        .map_err(conduit_error)?
        .subscription;
    crate::counters::check_rate_limit(
        db,
        &subscription.points_policy(),
        &format!("org:{}", tenant.id()),
        readings.len() as u64,
        now,
    )
    .map_err(conduit_error)?;
    let device = match target {
        Some(device) => device,
        None => {
            let device =
                register_conduit_device(db, tenant, network_id, now).map_err(conduit_error)?;
            authorize(
                &caller.auth.principal,
                Action::WritePoints(device.id),
                tenant.id(),
            )?;
            device
        }
    };
    let wanted: Vec<ConduitChannel> = readings.iter().map(|r| r.channel).collect();
    let refs = conduit_channels(db, tenant, &device, &wanted, now).map_err(conduit_error)?;
    let mut points = Vec::with_capacity(readings.len());
    for r in readings {
        let channel = refs.get(&r.channel).copied().ok_or_else(|| {
            ConduitError::new(Status::Internal, "a channel is missing after its creation")
        })?;
        points.push((channel, Point::new(timestamp, r.value)?));
    }
    crate::points::write_points(db, tenant, &points).map_err(conduit_error)
}

/// The sensor Conduit's channels are created under: the device's first, or a new one.
fn conduit_sensor(
    db: &dyn Db,
    tenant: &Tenant,
    device: &Device,
    now: Timestamp,
) -> Result<SensorId> {
    if let Some(s) = list_sensors(db, tenant, device.id)?.into_iter().next() {
        return Ok(s.id);
    }
    let name = Name::parse("Conduit").map_err(crate::error::corrupt)?;
    Ok(create_sensor(db, tenant, device.id, &SensorFields::named(name), now)?.id)
}

/// Registers a device seen for the first time under `network_id` (automatic registration). Its
/// name is the network id (cut to 30 characters); a concurrent registration of the same id wins
/// and is returned.
pub fn register_conduit_device(
    db: &dyn Db,
    tenant: &Tenant,
    network_id: &NetworkId,
    now: Timestamp,
) -> Result<Device> {
    let name: String = network_id.as_str().chars().take(30).collect();
    let mut fields = DeviceFields::named(Name::parse(&name).map_err(crate::error::corrupt)?);
    fields.network_id = Some(network_id.clone());
    match create_device(db, tenant, &fields, None, now) {
        Err(Error::Conflict(Conflict::NetworkIdTaken(_))) => {
            crate::devices::device_by_network_id(db, tenant, network_id)
        }
        other => other,
    }
}

/// The handles of a device's AlphaX channels `wanted`, creating the missing ones: the AlphaX
/// channel plan (1..32, 252..255) is fixed by the protocol, so a channel a device sends is
/// registered on first use, named "Channel n" (or "Device voltage", ...).
pub fn conduit_channels(
    db: &dyn Db,
    tenant: &Tenant,
    device: &Device,
    wanted: &[ConduitChannel],
    now: Timestamp,
) -> Result<HashMap<ConduitChannel, ChannelRef>> {
    let mut refs = crate::devices::channel_refs_by_key(db, tenant, device.key)?;
    let missing: Vec<ConduitChannel> = wanted
        .iter()
        .copied()
        .filter(|c| !refs.contains_key(c.communication_id().as_str()))
        .collect();
    if !missing.is_empty() {
        let sensor = conduit_sensor(db, tenant, device, now)?;
        for c in missing {
            let (name, unit) = c.default_name_and_unit();
            let mut fields =
                ChannelFields::named(Name::parse(&name).map_err(crate::error::corrupt)?);
            fields.unit = Unit::parse(unit).map_err(crate::error::corrupt)?;
            match create_channel(db, tenant, sensor, Some(c.communication_id()), &fields, now) {
                // Created meanwhile by a concurrent request: read it back below.
                Ok(_) | Err(Error::Conflict(Conflict::CommunicationIdTaken(_))) => {}
                Err(e) => return Err(e),
            }
        }
        refs = crate::devices::channel_refs_by_key(db, tenant, device.key)?;
    }
    wanted
        .iter()
        .map(|c| {
            refs.get(c.communication_id().as_str())
                .map(|r| (*c, *r))
                .ok_or(Error::NotFound("channel"))
        })
        .collect()
}

/// The start of [`conduit_points`]' statement (parameters: from, to, organization). For one
/// device its channels are found on the device's index, the organization being a check (`+`:
/// not an index to walk all of the organization's channels by).
pub(crate) fn conduit_points_sql(one_device: bool) -> String {
    let org = if one_device {
        "+c.org_key"
    } else {
        "c.org_key"
    };
    format!(
        "SELECT p.channel_key, p.ts, p.value FROM channels c \
         JOIN points p ON p.channel_key = c.key AND p.ts >= ? AND p.ts < ? \
         WHERE {org} = ?"
    )
}

/// Points for a Conduit read: the organization's (or one `device`'s) channels, optionally the
/// query's communicationId, `from <= ts < to`, in page order (oldest first, then by channel
/// key), after the query's cursor when a page went before, at most `limit`. Returns (channel
/// key, point).
pub fn conduit_points(
    db: &dyn Db,
    tenant: &Tenant,
    device: Option<&Device>,
    query: &ReadQuery,
    limit: usize,
) -> Result<Vec<(i64, Point)>> {
    let mut sql = conduit_points_sql(device.is_some());
    let mut params: Vec<Value> = vec![query.from.into(), query.to.into(), tenant.key.into()];
    if let Some(after) = query.cursor {
        sql.push_str(" AND (p.ts, p.channel_key) > (?, ?)");
        params.push(after.ts.into());
        params.push(Value::Integer(after.channel));
    }
    if let Some(d) = device {
        sql.push_str(" AND c.device_key = ?");
        params.push(d.key.into());
    }
    if let Some(c) = &query.channel {
        sql.push_str(" AND c.communication_id = ?");
        params.push(c.into());
    }
    sql.push_str(" ORDER BY p.ts, p.channel_key LIMIT ?");
    params.push(Value::Integer(i64::try_from(limit).unwrap_or(i64::MAX)));
    db.execute(&sql, &params)?
        .iter()
        .map(|r| {
            let p = Point::new(r.ts(1)?, r.f64(2)?).map_err(crate::error::corrupt)?;
            Ok((r.i64(0)?, p))
        })
        .collect()
}

/// The organization's channels with these keys (the channels a read's points belong to).
pub fn conduit_channels_by_key(db: &dyn Db, tenant: &Tenant, keys: &[i64]) -> Result<Vec<Channel>> {
    let mut out = Vec::with_capacity(keys.len());
    for chunk in keys.chunks(500) {
        let sql = format!(
            "{CHANNEL_SELECT} WHERE c.org_key = ? AND c.key IN ({})",
            placeholders(chunk.len())
        );
        let mut params: Vec<Value> = vec![tenant.key.into()];
        params.extend(chunk.iter().map(|k| Value::Integer(*k)));
        for r in db.execute(&sql, &params)?.iter() {
            out.push(channel_from(&r)?);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use fieldline_domain::{
        ConduitServices, Email, OrgFields, OrgName, Password, PasswordHasher, Permissions,
        Subscription,
    };

    use super::*;
    use crate::native;
    use crate::tokens::{create_token, NewToken};
    use fieldline_domain::conduit::PageCursor;
    use fieldline_domain::CommunicationId;

    fn now() -> Timestamp {
        Timestamp::from_secs(1_700_000_000).unwrap()
    }

    fn setup(services: ConduitServices) -> (rusqlite::Connection, Tenant, String) {
        let db = native::open_in_memory().unwrap();
        crate::schema::migrate(&db).unwrap();
        let hash = PasswordHasher::insecure_fast_for_tests()
            .hash(&Password::parse("correct horse battery").unwrap())
            .unwrap();
        let (tenant, _, user) = crate::orgs::sign_up(
            &db,
            &OrgFields::named(OrgName::parse("Acme").unwrap()),
            &Subscription::default(),
            &Email::parse("a@example.com").unwrap(),
            &hash,
            now(),
        )
        .unwrap();
        let new = NewToken::conduit(user.id, ConduitTier::Enterprise, services);
        let (_, secret) = create_token(&db, &tenant, &new, now()).unwrap();
        (db, tenant, secret.expose().to_owned())
    }

    /// A member with `permissions` and their Conduit token of `tier`.
    fn member_token(
        db: &rusqlite::Connection,
        tenant: &Tenant,
        email: &str,
        permissions: Permissions,
        tier: ConduitTier,
    ) -> String {
        let (_, invitation) = crate::users::create_invitation(
            db,
            tenant,
            &Email::parse(email).unwrap(),
            permissions,
            None,
            now(),
        )
        .unwrap();
        let hash = PasswordHasher::insecure_fast_for_tests()
            .hash(&Password::parse("member password").unwrap())
            .unwrap();
        let (_, membership) = crate::users::accept_invitation(
            db,
            &invitation,
            crate::users::Accept::NewUser(&hash),
            now(),
        )
        .unwrap();
        let new = NewToken::conduit(membership.user, tier, ConduitServices::default());
        let (_, secret) = create_token(db, tenant, &new, now()).unwrap();
        secret.expose().to_owned()
    }

    fn readings(pairs: &[(i64, f64)]) -> Vec<Reading> {
        pairs
            .iter()
            .map(|&(c, value)| Reading {
                channel: ConduitChannel::new(c).unwrap(),
                value,
            })
            .collect()
    }

    #[test]
    fn callers_need_a_conduit_token_with_the_service() {
        let (db, _, token) = setup(ConduitServices {
            http: true,
            mqtt: false,
            webhook: false,
        });
        let http = conduit_caller(&db, Some(&token), ConduitService::Http, now()).unwrap();
        assert_eq!(http.tier, ConduitTier::Enterprise);
        let e = conduit_caller(&db, Some(&token), ConduitService::Mqtt, now()).unwrap_err();
        assert_eq!(e.status, Status::Forbidden);
        for bad in [None, Some(""), Some("5b131223c23a7abcd81b0617")] {
            let e = conduit_caller(&db, bad, ConduitService::Http, now()).unwrap_err();
            assert_eq!(e.status, Status::Unauthorised, "{bad:?}");
        }
    }

    #[test]
    fn uploads_register_devices_only_when_allowed_and_read_back_in_order() {
        let (db, tenant, token) = setup(ConduitServices::default());
        let caller = conduit_caller(&db, Some(&token), ConduitService::Http, now()).unwrap();
        let id = NetworkId::parse("70B3D32111BD648F7").unwrap();
        let r = readings(&[(1, 4.0), (255, 4106.0)]);
        let e = conduit_ingest(&db, &caller, &id, now(), &r, now()).unwrap_err();
        assert_eq!(e.status, Status::NotFound);
        assert!(e.to_string().contains("automatic registration"), "{e}");

        crate::orgs::set_auto_registration(&db, &tenant, true).unwrap();
        assert_eq!(
            conduit_ingest(&db, &caller, &id, now(), &r, now()).unwrap(),
            2
        );
        let later = now().add_secs(1);
        let r2 = readings(&[(1, 5.0), (2, 6.0)]);
        assert_eq!(
            conduit_ingest(&db, &caller, &id, later, &r2, now()).unwrap(),
            2
        );

        let device = crate::devices::device_by_network_id(&db, &tenant, &id).unwrap();
        let channels = crate::devices::list_device_channels(&db, &tenant, device.id).unwrap();
        let mut names: Vec<(String, String)> = channels
            .iter()
            .map(|c| (c.communication_id.to_string(), c.fields.name.to_string()))
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                ("1".into(), "Channel 1".into()),
                ("2".into(), "Channel 2".into()),
                ("255".into(), "Device voltage".into())
            ]
        );
        // registering the same network id again returns the device
        assert_eq!(
            register_conduit_device(&db, &tenant, &id, now())
                .unwrap()
                .id,
            device.id
        );

        let range = |from: Timestamp, to: Timestamp, channel: Option<&str>| ReadQuery {
            token: None,
            id: None,
            channel: channel.map(|c| CommunicationId::parse(c).unwrap()),
            from,
            to,
            cursor: None,
        };
        let everything = range(now(), later.add_secs(1), None);
        let all = conduit_points(&db, &tenant, None, &everything, 10).unwrap();
        let order: Vec<(i64, i64)> = all.iter().map(|(k, p)| (p.ts().as_millis(), *k)).collect();
        assert_eq!(order.len(), 4);
        assert!(
            order.windows(2).all(|w| w[0] < w[1]),
            "(time, channel) order"
        );
        let ch1 = range(now(), later, Some("1"));
        let ch1 = conduit_points(&db, &tenant, Some(&device), &ch1, 10).unwrap();
        assert_eq!(ch1.len(), 1, "`to` is exclusive");
        assert_eq!(ch1[0].1.value(), 4.0);
        let limited = conduit_points(&db, &tenant, None, &everything, 3).unwrap();
        assert_eq!(limited.len(), 3);
        // A cursor continues after its record, also inside one timestamp.
        for (i, (key, p)) in all.iter().enumerate() {
            let after = ReadQuery {
                cursor: Some(PageCursor {
                    ts: p.ts(),
                    channel: *key,
                }),
                ..everything.clone()
            };
            let rest = conduit_points(&db, &tenant, None, &after, 10).unwrap();
            assert_eq!(rest, all[i + 1..], "after record {i}");
        }
        let keys: Vec<i64> = all.iter().map(|(k, _)| *k).collect();
        assert_eq!(
            conduit_channels_by_key(&db, &tenant, &keys).unwrap().len(),
            3
        );
    }

    #[test]
    fn refused_uploads_cost_no_quota_and_no_rate_limit() {
        let (db, tenant, _) = setup(ConduitServices::default());
        // A quota of 2 points an hour; Basic tokens (100 uploads a second) of a Modify and a
        // view-only member; everything at one instant, so the counters share their windows.
        let small = Subscription {
            points_per_hour: 2,
            ..Subscription::default()
        };
        crate::orgs::update_subscription(&db, &tenant, &small).unwrap();
        let modify = Permissions {
            modify: true,
            ..Permissions::VIEW
        };
        let writer = member_token(&db, &tenant, "w@example.com", modify, ConduitTier::Basic);
        let viewer = member_token(
            &db,
            &tenant,
            "v@example.com",
            Permissions::VIEW,
            ConduitTier::Basic,
        );
        let writer = conduit_caller(&db, Some(&writer), ConduitService::Http, now()).unwrap();
        let viewer = conduit_caller(&db, Some(&viewer), ConduitService::Http, now()).unwrap();
        let known = NetworkId::parse("known-device").unwrap();
        let mut fields = DeviceFields::named(Name::parse("Known").unwrap());
        fields.network_id = Some(known.clone());
        create_device(&db, &tenant, &fields, None, now()).unwrap();
        let unknown = NetworkId::parse("unknown-device").unwrap();
        let r = readings(&[(1, 1.0), (2, 2.0)]);

        // More refusals than the write limit allows calls, each bigger than the quota.
        for _ in 0..120 {
            let e = conduit_ingest(&db, &writer, &unknown, now(), &r, now()).unwrap_err();
            assert_eq!(e.status, Status::NotFound, "{e}");
            let e = conduit_ingest(&db, &viewer, &known, now(), &r, now()).unwrap_err();
            assert_eq!(e.status, Status::Forbidden, "{e}");
        }
        assert_eq!(
            conduit_ingest(&db, &writer, &known, now(), &r, now()).unwrap(),
            2,
            "refused uploads counted against the quota or the rate limit"
        );
        // What is stored is counted: the quota is used up now.
        let e = conduit_ingest(&db, &writer, &known, now(), &r, now()).unwrap_err();
        assert_eq!(e.status, Status::TooManyRequests, "{e}");
        // A registration refused by the quota registers nothing.
        crate::orgs::set_auto_registration(&db, &tenant, true).unwrap();
        let e = conduit_ingest(&db, &writer, &unknown, now(), &r, now()).unwrap_err();
        assert_eq!(e.status, Status::TooManyRequests, "{e}");
        assert!(matches!(
            crate::devices::device_by_network_id(&db, &tenant, &unknown),
            Err(Error::NotFound(_))
        ));
        // ... and a view-only member may not register devices, whatever the quota.
        let e = conduit_ingest(&db, &viewer, &unknown, now(), &r, now()).unwrap_err();
        assert_eq!(e.status, Status::Forbidden, "{e}");
    }
}
