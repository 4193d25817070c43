//! AlphaX Conduit's reads: the points of a read across devices and channels in page order, and
//! the channels they belong to. Uploads go through `fieldline_service::ingest`.

use fieldline_domain::{Channel, Point};
use fieldline_service::PointPage;

use crate::db::{placeholders, Db, Value};
use crate::devices::{channel_from, CHANNEL_SELECT};
use crate::error::Result;
use crate::orgs::Tenant;

/// The start of [`point_page`]' statement (parameters: from, to, organization). For one
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

/// A page of points for a Conduit read: the organization's (or one device's) channels,
/// optionally one communicationId, `from <= ts < to`, in page order (oldest first, then by
/// channel key), after the cursor when a page went before, at most `limit`. Returns (channel
/// key, point).
pub fn point_page(db: &dyn Db, tenant: &Tenant, page: &PointPage<'_>) -> Result<Vec<(i64, Point)>> {
    let mut sql = conduit_points_sql(page.device.is_some());
    let mut params: Vec<Value> = vec![page.from.into(), page.to.into(), tenant.key.into()];
    if let Some((ts, channel)) = page.after {
        sql.push_str(" AND (p.ts, p.channel_key) > (?, ?)");
        params.push(ts.into());
        params.push(Value::Integer(channel));
    }
    if let Some(d) = page.device {
        sql.push_str(" AND c.device_key = ?");
        params.push(d.key.into());
    }
    if let Some(c) = page.channel {
        sql.push_str(" AND c.communication_id = ?");
        params.push(c.into());
    }
    sql.push_str(" ORDER BY p.ts, p.channel_key LIMIT ?");
    params.push(Value::Integer(
        i64::try_from(page.limit).unwrap_or(i64::MAX),
    ));
    db.execute(&sql, &params)?
        .iter()
        .map(|r| {
            let p = Point::new(r.ts(1)?, r.f64(2)?).map_err(crate::error::corrupt)?;
            Ok((r.i64(0)?, p))
        })
        .collect()
}

/// The organization's channels with these keys (the channels a read's points belong to).
pub fn channels_by_key(db: &dyn Db, tenant: &Tenant, keys: &[i64]) -> Result<Vec<Channel>> {
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
    use crate::store::SqlStore;
    use fieldline_domain::conduit::{ConduitChannel, ReadQuery, Reading};
    use fieldline_domain::{ConduitTier, Device, DeviceFields, Name, NetworkId, Timestamp};
    use fieldline_service::auth::{ConduitCaller, ConduitService};
    use fieldline_service::ingest::conduit_upload;
    use fieldline_service::{Error, Refusal};

    fn conduit_caller(
        db: &crate::testdb::TestDb,
        token: Option<&str>,
        service: ConduitService,
        now: Timestamp,
    ) -> fieldline_service::Result<ConduitCaller> {
        fieldline_service::auth::conduit_caller(&SqlStore(db), token, service, now)
    }

    fn conduit_ingest(
        db: &crate::testdb::TestDb,
        caller: &ConduitCaller,
        network_id: &NetworkId,
        timestamp: Timestamp,
        readings: &[Reading],
        now: Timestamp,
    ) -> fieldline_service::Result<usize> {
        let store = SqlStore(db);
        conduit_upload(&store, caller, network_id, timestamp, readings, now)
    }

    fn conduit_points(
        db: &crate::testdb::TestDb,
        tenant: &Tenant,
        device: Option<&Device>,
        query: &ReadQuery,
        limit: usize,
    ) -> Result<Vec<(i64, Point)>> {
        let page = PointPage {
            device,
            channel: query.channel.as_ref(),
            from: query.from,
            to: query.to,
            after: query.cursor.map(|c| (c.ts, c.channel)),
            limit,
        };
        point_page(db, tenant, &page)
    }

    fn unauthenticated(e: &Error) -> bool {
        matches!(
            e,
            Error::Refused(Refusal::MissingCredentials(_) | Refusal::WrongCredentials(_))
                | Error::Domain(fieldline_domain::Error::Unauthenticated(_))
        )
    }

    fn forbidden(e: &Error) -> bool {
        matches!(
            e,
            Error::Refused(Refusal::ServiceDisabled(_) | Refusal::SubscriptionExpired(_))
                | Error::Domain(fieldline_domain::Error::Forbidden(_))
        )
    }
    use crate::tokens::{create_token, NewToken};
    use fieldline_domain::conduit::PageCursor;
    use fieldline_domain::CommunicationId;

    fn now() -> Timestamp {
        Timestamp::from_secs(1_700_000_000).unwrap()
    }

    fn setup(services: ConduitServices) -> (crate::testdb::TestDb, Tenant, String) {
        let db = crate::testdb::db();
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
        db: &crate::testdb::TestDb,
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
        assert!(forbidden(&e), "{e}");
        for bad in [None, Some(""), Some("5b131223c23a7abcd81b0617")] {
            let e = conduit_caller(&db, bad, ConduitService::Http, now()).unwrap_err();
            assert!(unauthenticated(&e), "{bad:?}: {e}");
        }
    }

    #[test]
    fn uploads_register_devices_only_when_allowed_and_read_back_in_order() {
        let (db, tenant, token) = setup(ConduitServices::default());
        let caller = conduit_caller(&db, Some(&token), ConduitService::Http, now()).unwrap();
        let id = NetworkId::parse("70B3D32111BD648F7").unwrap();
        let r = readings(&[(1, 4.0), (255, 4106.0)]);
        let e = conduit_ingest(&db, &caller, &id, now(), &r, now()).unwrap_err();
        assert!(matches!(e, Error::UnknownDevice(_)), "{e}");
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
        // An upload older than the detailed retention (90 days by default) is refused whole.
        let old = now().add_secs(-91 * 86_400);
        let e = conduit_ingest(&db, &caller, &id, old, &r2, now()).unwrap_err();
        assert!(e.to_string().contains("beyond retention policy"), "{e}");

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
        // uploading for the same network id again registers no second device
        conduit_ingest(&db, &caller, &id, later, &r2, now()).unwrap();
        assert_eq!(crate::devices::list_devices(&db, &tenant).unwrap().len(), 1);

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
        assert_eq!(channels_by_key(&db, &tenant, &keys).unwrap().len(), 3);
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
        crate::devices::create_device(&db, &tenant, &fields, None, now()).unwrap();
        let unknown = NetworkId::parse("unknown-device").unwrap();
        let r = readings(&[(1, 1.0), (2, 2.0)]);

        // More refusals than the write limit allows calls, each bigger than the quota.
        for _ in 0..120 {
            let e = conduit_ingest(&db, &writer, &unknown, now(), &r, now()).unwrap_err();
            assert!(matches!(e, Error::UnknownDevice(_)), "{e}");
            let e = conduit_ingest(&db, &viewer, &known, now(), &r, now()).unwrap_err();
            assert!(forbidden(&e), "{e}");
        }
        assert_eq!(
            conduit_ingest(&db, &writer, &known, now(), &r, now()).unwrap(),
            2,
            "refused uploads counted against the quota or the rate limit"
        );
        // What is stored is counted: the quota is used up now.
        let e = conduit_ingest(&db, &writer, &known, now(), &r, now()).unwrap_err();
        assert!(e.as_rate_limited().is_some(), "{e}");
        // A registration refused by the quota registers nothing.
        crate::orgs::set_auto_registration(&db, &tenant, true).unwrap();
        let e = conduit_ingest(&db, &writer, &unknown, now(), &r, now()).unwrap_err();
        assert!(e.as_rate_limited().is_some(), "{e}");
        assert!(matches!(
            crate::devices::device_by_network_id(&db, &tenant, &unknown),
            Err(Error::NotFound(_))
        ));
        // ... and a view-only member may not register devices, whatever the quota.
        let e = conduit_ingest(&db, &viewer, &unknown, now(), &r, now()).unwrap_err();
        assert!(forbidden(&e), "{e}");
    }
}
