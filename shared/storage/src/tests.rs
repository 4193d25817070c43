//! Repository tests over rusqlite, in memory and on disk.

use std::sync::OnceLock;

use crate::testdb::TestDb;
use fieldline_domain::{
    authorize, Action, AuthFailure, ChannelFields, CommunicationId, ConduitServices, ConduitTier,
    Device, DeviceFields, Email, IncidentKind, Name, NetworkId, NewIncident, OrgFields, OrgName,
    Password, PasswordHash, PasswordHasher, Permissions, Point, Principal, RateLimitPolicy, Sensor,
    SensorFields, SignupPolicy, Subscription, Threshold, ThresholdOp, Thresholds, Timestamp,
    TokenKind, TokenSecret, Unit, User, Uuid,
};

use fieldline_service::limits::{self, Subject};

use crate::*;

pub(crate) fn db() -> TestDb {
    crate::testdb::db()
}

pub(crate) fn now() -> Timestamp {
    Timestamp::from_secs(1_700_000_000).unwrap()
}

fn hash() -> &'static PasswordHash {
    static HASH: OnceLock<PasswordHash> = OnceLock::new();
    HASH.get_or_init(|| {
        PasswordHasher::insecure_fast_for_tests()
            .hash(&Password::parse("correct horse battery").unwrap())
            .unwrap()
    })
}

fn email(s: &str) -> Email {
    Email::parse(s).unwrap()
}

fn name(s: &str) -> Name {
    Name::parse(s).unwrap()
}

pub(crate) fn org(db: &dyn Db, org_name: &str, admin: &str) -> (Tenant, User) {
    let (tenant, _, user) = sign_up(
        db,
        &OrgFields::named(OrgName::parse(org_name).unwrap()),
        &Subscription::default(),
        &email(admin),
        hash(),
        now(),
    )
    .unwrap();
    (tenant, user)
}

fn comm(s: &str) -> CommunicationId {
    CommunicationId::parse(s).unwrap()
}

/// A device with one sensor and channels named by `comms`.
pub(crate) fn device_with_channels(
    db: &dyn Db,
    tenant: &Tenant,
    comms: &[&str],
) -> (Device, Sensor, Vec<fieldline_domain::Channel>) {
    let device = create_device(
        db,
        tenant,
        &DeviceFields::named(name("Boiler")),
        None,
        now(),
    )
    .unwrap();
    let sensor = create_sensor(
        db,
        tenant,
        device.id,
        &SensorFields::named(name("Main")),
        now(),
    )
    .unwrap();
    let channels = comms
        .iter()
        .map(|c| {
            create_channel(
                db,
                tenant,
                sensor.id,
                Some(comm(c)),
                &ChannelFields::named(name(c)),
                now(),
            )
            .unwrap()
        })
        .collect();
    (device, sensor, channels)
}

fn pt(ms: i64, v: f64) -> Point {
    Point::new(Timestamp::from_millis(ms).unwrap(), v).unwrap()
}

fn auth_failure(r: Result<impl std::fmt::Debug>) -> AuthFailure {
    match r {
        Err(Error::Domain(fieldline_domain::Error::Unauthenticated(f))) => f,
        other => panic!("expected an authentication failure, got {other:?}"),
    }
}

fn conflict(r: Result<impl std::fmt::Debug>) -> Conflict {
    match r {
        Err(Error::Conflict(c)) => c,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

fn not_found(r: Result<impl std::fmt::Debug>) {
    match r {
        Err(Error::NotFound(_)) => {}
        other => panic!("expected not found, got {other:?}"),
    }
}

// ---- accounts ----

#[test]
fn sign_up_login_and_membership() {
    let db = db();
    let (tenant, user) = org(&db, "Acme", "Ada@Example.com");
    assert_eq!(user.email.as_str(), "ada@example.com");
    let (found, stored_hash) = find_user_by_email(&db, &email("ada@example.com"))
        .unwrap()
        .unwrap();
    assert_eq!(found, user);
    assert!(PasswordHasher::default().verify(
        &Password::parse("correct horse battery").unwrap(),
        Some(&stored_hash)
    ));
    assert!(find_user_by_email(&db, &email("bob@example.com"))
        .unwrap()
        .is_none());

    let orgs = memberships_of_user(&db, user.id).unwrap();
    assert_eq!(orgs.len(), 1);
    assert_eq!(orgs[0].0, tenant);
    assert_eq!(orgs[0].1.permissions, Permissions::ADMINISTRATOR);

    // the same address cannot sign up twice
    let again = sign_up(
        &db,
        &OrgFields::named(OrgName::parse("Other").unwrap()),
        &Subscription::default(),
        &email("ADA@example.com"),
        hash(),
        now(),
    );
    assert_eq!(conflict(again), Conflict::EmailTaken);
    // and the failed sign-up left no organization behind
    assert_eq!(all_tenants(&db).unwrap().len(), 1);

    // a second organization for the same user
    let (t2, o2) = create_organization(
        &db,
        &OrgFields::named(OrgName::parse("Second").unwrap()),
        &Subscription::default(),
        user.id,
        now(),
    )
    .unwrap();
    assert_eq!(organization(&db, &t2).unwrap(), o2);
    assert_eq!(memberships_of_user(&db, user.id).unwrap().len(), 2);
}

#[test]
fn sign_up_policies_are_decided_with_the_write() {
    let db = db();
    let fields = OrgFields::named(OrgName::parse("First").unwrap());
    let sub = Subscription::default();
    let under =
        |policy, who: &str| sign_up_under(&db, policy, &fields, &sub, &email(who), hash(), now());
    assert_eq!(
        conflict(under(SignupPolicy::Closed, "a@example.com")),
        Conflict::SignupClosed("false")
    );
    assert!(!organizations_exist(&db).unwrap());
    under(SignupPolicy::First, "a@example.com").unwrap();
    assert!(organizations_exist(&db).unwrap());
    // The first organization exists: "first" refuses, and the refusal creates no user.
    assert_eq!(
        conflict(under(SignupPolicy::First, "b@example.com")),
        Conflict::SignupClosed("first")
    );
    assert!(find_user_by_email(&db, &email("b@example.com"))
        .unwrap()
        .is_none());
    under(SignupPolicy::Open, "b@example.com").unwrap();
    assert_eq!(all_tenants(&db).unwrap().len(), 2);
}

#[test]
fn jwt_to_principal_reads_current_permissions() {
    let db = db();
    let (tenant, admin) = org(&db, "Acme", "ada@example.com");
    let key = fieldline_domain::JwtKey::from_secret(&[7u8; 32]).unwrap();
    let jwt = key.issue(admin.id, tenant.id(), now()).unwrap();
    let store = SqlStore(&db);
    let (caller, _) = fieldline_service::auth::access_token(&store, &key, &jwt, now()).unwrap();
    assert_eq!(caller.tenant, tenant);
    authorize(&caller.principal, Action::ManageMembers, caller.tenant.id()).unwrap();

    // a token for an organization the user does not belong to is refused
    let (other, _) = org(&db, "Other", "bob@example.com");
    let foreign = key.issue(admin.id, other.id(), now()).unwrap();
    assert_eq!(
        auth_failure(fieldline_service::auth::access_token(
            &store,
            &key,
            &foreign,
            now()
        )),
        AuthFailure::Revoked
    );
}

#[test]
fn organization_settings_and_subscription() {
    let db = db();
    let (tenant, _) = org(&db, "Acme", "ada@example.com");
    let mut fields = organization(&db, &tenant).unwrap().fields;
    fields.time_zone = fieldline_domain::TimeZoneName::parse("Europe/Rome").unwrap();
    let updated = update_organization(&db, &tenant, &fields).unwrap();
    assert_eq!(updated.fields.time_zone.as_str(), "Europe/Rome");

    let sub = Subscription {
        conduit_tier: ConduitTier::Premium,
        max_users: 3,
        expires_at: Some(now().add_secs(86_400)),
        ..Subscription::default()
    };
    assert_eq!(
        update_subscription(&db, &tenant, &sub)
            .unwrap()
            .subscription,
        sub
    );
    let bad = Subscription {
        aggregated_retention_days: 1,
        ..sub
    };
    let e = update_subscription(&db, &tenant, &bad).unwrap_err();
    assert!(
        matches!(e, Error::Domain(fieldline_domain::Error::Parse(_))),
        "{e}"
    );
    assert_eq!(organization(&db, &tenant).unwrap().subscription, sub);

    // Automatic registration: off by default, per organization, and it can be turned back off.
    let (other, _) = org(&db, "Other", "bob@example.com");
    assert!(!auto_registration(&db, &tenant).unwrap());
    set_auto_registration(&db, &tenant, true).unwrap();
    assert!(auto_registration(&db, &tenant).unwrap());
    assert!(!auto_registration(&db, &other).unwrap());
    set_auto_registration(&db, &tenant, false).unwrap();
    assert!(!auto_registration(&db, &tenant).unwrap());
}

#[test]
fn invitations_and_members() {
    let db = db();
    let (tenant, admin) = org(&db, "Acme", "ada@example.com");
    let viewer = Permissions::VIEW;
    let (inv, secret) = create_invitation(
        &db,
        &tenant,
        &email("bob@example.com"),
        viewer,
        Some(admin.id),
        now(),
    )
    .unwrap();
    assert_eq!(list_invitations(&db, &tenant).unwrap(), vec![inv.clone()]);
    let (t, shown) = invitation_by_secret(&db, &secret).unwrap();
    assert_eq!((t, shown.invited_by), (tenant, Some(admin.id)));

    // a new account for the invited address
    let (t, bob) = accept_invitation(&db, &secret, Accept::NewUser(hash()), now()).unwrap();
    assert_eq!(t, tenant);
    assert_eq!(bob.email.as_str(), "bob@example.com");
    assert_eq!(bob.permissions, viewer);
    // an invitation is accepted once
    let again = accept_invitation(&db, &secret, Accept::NewUser(hash()), now());
    assert_eq!(conflict(again), Conflict::InvitationClosed);
    // inviting a member again is a conflict
    let dup = create_invitation(&db, &tenant, &email("bob@example.com"), viewer, None, now());
    assert_eq!(conflict(dup), Conflict::AlreadyMember);

    // an existing user with another address cannot take someone else's invitation
    let (_, carol) = org(&db, "Carol's", "carol@example.com");
    let (_, for_dave) = create_invitation(
        &db,
        &tenant,
        &email("dave@example.com"),
        viewer,
        None,
        now(),
    )
    .unwrap();
    let wrong = accept_invitation(&db, &for_dave, Accept::Existing(carol.id), now());
    assert!(matches!(
        conflict(wrong),
        Conflict::InvitationForAnotherEmail { .. }
    ));
    let (_, for_carol) = create_invitation(
        &db,
        &tenant,
        &email("carol@example.com"),
        viewer,
        None,
        now(),
    )
    .unwrap();
    // expired
    let late = now().add_secs(fieldline_domain::INVITATION_TTL_SECS + 1);
    let expired = accept_invitation(&db, &for_carol, Accept::Existing(carol.id), late);
    assert_eq!(conflict(expired), Conflict::InvitationClosed);
    accept_invitation(&db, &for_carol, Accept::Existing(carol.id), now()).unwrap();
    assert_eq!(list_members(&db, &tenant).unwrap().len(), 3);

    // the subscription caps members: an invitation made while there was room is refused at
    // acceptance once the limit is reached, and no invitation is made at the limit
    let (_, for_erin) = create_invitation(
        &db,
        &tenant,
        &email("erin@example.com"),
        viewer,
        None,
        now(),
    )
    .unwrap();
    let small = Subscription {
        max_users: 3,
        ..Subscription::default()
    };
    update_subscription(&db, &tenant, &small).unwrap();
    let at_limit = create_invitation(&db, &tenant, &email("fay@example.com"), viewer, None, now());
    assert_eq!(conflict(at_limit), Conflict::MaxUsers(3));
    let full = accept_invitation(&db, &for_erin, Accept::NewUser(hash()), now());
    assert_eq!(conflict(full), Conflict::MaxUsers(3));
    // and the refused acceptance created no account
    assert!(find_user_by_email(&db, &email("erin@example.com"))
        .unwrap()
        .is_none());

    revoke_invitation(&db, &tenant, list_invitations(&db, &tenant).unwrap()[0].id).unwrap();
}

#[test]
fn the_last_administrator_stays() {
    let db = db();
    let (tenant, admin) = org(&db, "Acme", "ada@example.com");
    let demote = set_permissions(&db, &tenant, admin.id, Permissions::VIEW);
    assert_eq!(conflict(demote), Conflict::LastAdministrator);
    assert_eq!(
        conflict(remove_member(&db, &tenant, admin.id, now())),
        Conflict::LastAdministrator
    );
    let (_, secret) = create_invitation(
        &db,
        &tenant,
        &email("bob@example.com"),
        Permissions::ADMINISTRATOR,
        None,
        now(),
    )
    .unwrap();
    let (_, bob) = accept_invitation(&db, &secret, Accept::NewUser(hash()), now()).unwrap();
    let m = set_permissions(&db, &tenant, admin.id, Permissions::VIEW).unwrap();
    assert_eq!(m.permissions, Permissions::VIEW);
    assert_eq!(
        conflict(remove_member(&db, &tenant, bob.user, now())),
        Conflict::LastAdministrator
    );
    remove_member(&db, &tenant, admin.id, now()).unwrap();
    not_found(member(&db, tenant.id(), admin.id));
}

// ---- devices, sensors, channels ----

#[test]
fn device_crud() {
    let db = db();
    let (tenant, _) = org(&db, "Acme", "ada@example.com");
    let mut fields = DeviceFields::named(name("Boiler"));
    fields.network_id = Some(NetworkId::parse("70B3D32111BD648F7").unwrap());
    fields.notification_email = Some(email("alerts@example.com"));
    let uuid = Uuid::parse("355f6856-e9a4-469f-8f22-3f8b037d064a").unwrap();
    let d = create_device(&db, &tenant, &fields, Some(uuid), now()).unwrap();
    assert_eq!(d.fields, fields);
    assert_eq!(device(&db, &tenant, d.id).unwrap(), d);
    assert_eq!(device_by_uuid(&db, &tenant, uuid).unwrap(), d);
    assert_eq!(
        device_by_network_id(&db, &tenant, fields.network_id.as_ref().unwrap()).unwrap(),
        d
    );
    // network id and UUID are unique within the organization
    assert!(matches!(
        conflict(create_device(&db, &tenant, &fields, None, now())),
        Conflict::NetworkIdTaken(_)
    ));
    let plain = DeviceFields::named(name("Pump"));
    assert!(matches!(
        conflict(create_device(&db, &tenant, &plain, Some(uuid), now())),
        Conflict::UuidTaken(_)
    ));
    // devices without network id do not collide
    let p1 = create_device(&db, &tenant, &plain, None, now()).unwrap();
    let p2 = create_device(&db, &tenant, &plain, None, now()).unwrap();
    assert_ne!(p1.uuid, p2.uuid);
    assert_eq!(list_devices(&db, &tenant).unwrap().len(), 3);
    // ... also when a device is changed: another's network id is a conflict, its own is not
    let mut renamed = plain.clone();
    renamed.network_id = fields.network_id.clone();
    assert!(matches!(
        conflict(update_device(&db, &tenant, p1.id, &renamed, now())),
        Conflict::NetworkIdTaken(_)
    ));
    assert_eq!(device(&db, &tenant, p1.id).unwrap().fields, plain);
    let mut same = fields.clone();
    same.name = name("Tank 1 renamed");
    assert_eq!(
        update_device(&db, &tenant, d.id, &same, now())
            .unwrap()
            .fields,
        same
    );
    update_device(&db, &tenant, d.id, &fields, now()).unwrap();
    let unknown = fieldline_domain::DeviceId::generate().unwrap();
    assert!(matches!(
        update_device(&db, &tenant, unknown, &plain, now()),
        Err(Error::NotFound(Entity::Device))
    ));

    set_notification_verified(&db, &tenant, d.id).unwrap();
    assert!(device(&db, &tenant, d.id).unwrap().notification_verified);
    // the same address stays verified, a new one needs verifying
    let later = now().add_secs(5);
    let same = update_device(&db, &tenant, d.id, &fields, later).unwrap();
    assert!(same.notification_verified);
    assert_eq!(same.updated_at, later);
    let mut moved = fields.clone();
    moved.notification_email = Some(email("other@example.com"));
    moved.location = Some(fieldline_domain::Location::new(145.1, -38.1).unwrap());
    let changed = update_device(&db, &tenant, d.id, &moved, later).unwrap();
    assert!(!changed.notification_verified);
    assert_eq!(changed.fields, moved);
}

#[test]
fn channels_follow_the_sensorbis_rules() {
    let db = db();
    let (tenant, _) = org(&db, "Acme", "ada@example.com");
    let (device, sensor, chans) = device_with_channels(&db, &tenant, &["1", "auto~watt"]);
    assert_eq!(chans[1].communication_id.as_str(), "auto~watt");
    assert_eq!(chans[1].device, device.id);

    // without communicationId, the channel id is used
    let c = create_channel(
        &db,
        &tenant,
        sensor.id,
        None,
        &ChannelFields::named(name("x")),
        now(),
    )
    .unwrap();
    assert_eq!(c.communication_id.as_str(), c.id.as_str());

    // communicationId is unique per device, across its sensors
    let s2 = create_sensor(
        &db,
        &tenant,
        device.id,
        &SensorFields::named(name("Aux")),
        now(),
    )
    .unwrap();
    let dup = create_channel(
        &db,
        &tenant,
        s2.id,
        Some(comm("1")),
        &ChannelFields::named(name("y")),
        now(),
    );
    assert_eq!(conflict(dup), Conflict::CommunicationIdTaken("1".into()));
    // but free on another device
    let (_, _, other) = device_with_channels(&db, &tenant, &["1"]);
    assert_eq!(other[0].communication_id.as_str(), "1");

    // update: fields, thresholds, and the same rule
    let mut f = chans[0].fields.clone();
    f.unit = Unit::parse("°C").unwrap();
    f.thresholds = Thresholds::new(
        Some(Threshold::new(ThresholdOp::Lt, 0.0).unwrap()),
        Some(Threshold::new(ThresholdOp::Gt, 10.0).unwrap()),
    )
    .unwrap();
    f.calibration = fieldline_domain::Calibration::new(2.0, 1.0).unwrap();
    f.range = fieldline_domain::ValueRange::new(Some(-40.0), Some(125.0)).unwrap();
    let updated = update_channel(&db, &tenant, chans[0].id, Some(comm("temp")), &f).unwrap();
    assert_eq!(updated.fields, f);
    assert_eq!(updated.communication_id.as_str(), "temp");
    let taken = update_channel(&db, &tenant, chans[0].id, Some(comm("auto~watt")), &f);
    assert!(matches!(conflict(taken), Conflict::CommunicationIdTaken(_)));

    assert_eq!(list_channels(&db, &tenant, sensor.id).unwrap().len(), 3);
    assert_eq!(
        list_device_channels(&db, &tenant, device.id).unwrap().len(),
        3
    );
    let refs = channel_refs(&db, &tenant, device.id).unwrap();
    assert_eq!(refs.len(), 3);
    assert_eq!(refs["temp"].key(), chans[0].key);
    assert_eq!(list_sensors(&db, &tenant, device.id).unwrap().len(), 2);

    let renamed = update_sensor(
        &db,
        &tenant,
        sensor.id,
        &SensorFields::named(name("Renamed")),
    )
    .unwrap();
    assert_eq!(renamed.fields.name.as_str(), "Renamed");
    delete_channel(&db, &tenant, chans[1].id).unwrap();
    not_found(channel(&db, &tenant, chans[1].id));
}

#[test]
fn deleting_cascades_to_data_and_tokens() {
    let db = db();
    let (tenant, _) = org(&db, "Acme", "ada@example.com");
    let (device, sensor, chans) = device_with_channels(&db, &tenant, &["1", "2"]);
    let refs: Vec<_> = chans
        .iter()
        .map(|c| channel_ref(&db, &tenant, c.id).unwrap())
        .collect();
    write_points(
        &db,
        &tenant,
        &[(refs[0], pt(1, 1.0)), (refs[1], pt(1, 2.0))],
    )
    .unwrap();
    rollup_hours(&db, &tenant, Timestamp::MIN, now()).unwrap();
    let (_, secret) = create_token(&db, &tenant, &NewToken::device(device.id), now()).unwrap();

    delete_sensor(&db, &tenant, sensor.id).unwrap();
    not_found(channel(&db, &tenant, chans[0].id));
    delete_device(&db, &tenant, device.id).unwrap();
    not_found(device_by_uuid(&db, &tenant, device.uuid));
    assert_eq!(
        auth_failure(authenticate_token(&db, &secret, now())),
        AuthFailure::InvalidToken
    );
    for table in [
        "points", "rollups", "channels", "sensors", "devices", "tokens",
    ] {
        let n = Db::execute(&db, &format!("SELECT count(*) FROM {table}"), &[]).unwrap();
        assert_eq!(n.first().unwrap().i64(0).unwrap(), 0, "{table}");
    }
    not_found(delete_device(&db, &tenant, device.id));
}

// ---- tokens ----

#[test]
fn api_tokens_authenticate_as_their_principal() {
    let db = db();
    let (tenant, admin) = org(&db, "Acme", "ada@example.com");
    let (device, ..) = device_with_channels(&db, &tenant, &["1"]);

    let (conduit, secret) = create_token(
        &db,
        &tenant,
        &NewToken::conduit(admin.id, ConduitTier::Premium, ConduitServices::default()),
        now(),
    )
    .unwrap();
    assert!(secret.expose().starts_with("flc_"));
    let auth = authenticate_token(&db, &secret, now()).unwrap();
    assert_eq!(auth.tenant, tenant);
    assert_eq!(auth.token.id, conduit.id);
    // The subscription comes with the token: the caller checks it without reading it again.
    let subscription = crate::orgs::organization(&db, &tenant)
        .unwrap()
        .subscription;
    assert_eq!(auth.subscription, subscription);
    match auth.principal {
        Principal::Conduit {
            tier,
            permissions,
            user,
            ..
        } => {
            assert_eq!(tier, ConduitTier::Premium);
            assert_eq!(permissions, Permissions::ADMINISTRATOR);
            assert_eq!(user, admin.id);
        }
        p => panic!("{p:?}"),
    }
    assert_eq!(auth.token.last_used_at, None);
    assert_eq!(
        token(&db, &tenant, conduit.id).unwrap().last_used_at,
        Some(now())
    );

    let (_, dev_secret) = create_token(&db, &tenant, &NewToken::device(device.id), now()).unwrap();
    let dev = authenticate_token(&db, &dev_secret, now()).unwrap();
    assert_eq!(
        dev.principal,
        Principal::Device {
            token: dev.token.id,
            org: tenant.id(),
            device: device.id
        }
    );
    // a new device token replaces the old one
    let (_, dev_secret2) = create_token(&db, &tenant, &NewToken::device(device.id), now()).unwrap();
    assert_eq!(
        auth_failure(authenticate_token(&db, &dev_secret, now())),
        AuthFailure::Revoked
    );
    authenticate_token(&db, &dev_secret2, now()).unwrap();

    let (fed, fed_secret) = create_token(&db, &tenant, &NewToken::federation(), now()).unwrap();
    assert!(matches!(
        authenticate_token(&db, &fed_secret, now())
            .unwrap()
            .principal,
        Principal::Federation { .. }
    ));
    revoke_token(&db, &tenant, fed.id, now()).unwrap();
    assert_eq!(
        auth_failure(authenticate_token(&db, &fed_secret, now())),
        AuthFailure::Revoked
    );

    let mut expiring = NewToken::federation();
    expiring.expires_at = Some(now().add_secs(60));
    let (_, short) = create_token(&db, &tenant, &expiring, now()).unwrap();
    assert_eq!(
        auth_failure(authenticate_token(&db, &short, now().add_secs(61))),
        AuthFailure::Expired
    );

    let unknown = TokenSecret::generate(TokenKind::Conduit).unwrap();
    assert_eq!(
        auth_failure(authenticate_token(&db, &unknown, now())),
        AuthFailure::InvalidToken
    );
    // refresh tokens are not API tokens
    let refresh = issue_refresh_token(&db, &tenant, admin.id, now()).unwrap();
    assert_eq!(
        auth_failure(authenticate_token(&db, &refresh, now())),
        AuthFailure::InvalidToken
    );

    let kinds: Vec<_> = list_tokens(&db, &tenant, None)
        .unwrap()
        .iter()
        .map(|t| t.kind)
        .collect();
    assert_eq!(kinds.len(), 6);
    assert_eq!(
        list_tokens(&db, &tenant, Some(TokenKind::Device))
            .unwrap()
            .len(),
        2
    );
    // only the hash is stored
    let stored = Db::execute(
        &db,
        "SELECT count(*) FROM tokens WHERE hash = ?",
        &[Value::Blob(secret.expose().as_bytes().to_vec())],
    )
    .unwrap();
    assert_eq!(stored.first().unwrap().i64(0).unwrap(), 0);
}

#[test]
fn conduit_tokens_need_a_member_and_follow_their_permissions() {
    let db = db();
    let (tenant, admin) = org(&db, "Acme", "ada@example.com");
    let (_, outsider) = org(&db, "Other", "bob@example.com");
    let new = NewToken::conduit(outsider.id, ConduitTier::Basic, ConduitServices::default());
    not_found(create_token(&db, &tenant, &new, now()));

    let (_, inv) = create_invitation(
        &db,
        &tenant,
        &email("carol@example.com"),
        Permissions::ADMINISTRATOR,
        None,
        now(),
    )
    .unwrap();
    let (_, carol) = accept_invitation(&db, &inv, Accept::NewUser(hash()), now()).unwrap();
    let new = NewToken::conduit(carol.user, ConduitTier::Basic, ConduitServices::default());
    let (_, secret) = create_token(&db, &tenant, &new, now()).unwrap();
    set_permissions(&db, &tenant, carol.user, Permissions::VIEW).unwrap();
    match authenticate_token(&db, &secret, now()).unwrap().principal {
        Principal::Conduit { permissions, .. } => assert_eq!(permissions, Permissions::VIEW),
        p => panic!("{p:?}"),
    }
    let refresh = issue_refresh_token(&db, &tenant, carol.user, now()).unwrap();
    remove_member(&db, &tenant, carol.user, now()).unwrap();
    assert_eq!(
        auth_failure(authenticate_token(&db, &secret, now())),
        AuthFailure::Revoked
    );
    assert_eq!(
        auth_failure(rotate_refresh_token(&db, &refresh, now())),
        AuthFailure::Revoked
    );
    let _ = admin;
}

#[test]
fn refresh_tokens_rotate_and_reuse_revokes_the_family() {
    let db = db();
    let (tenant, admin) = org(&db, "Acme", "ada@example.com");
    let first = issue_refresh_token(&db, &tenant, admin.id, now()).unwrap();
    let r1 = rotate_refresh_token(&db, &first, now().add_secs(1)).unwrap();
    assert_eq!(r1.tenant, tenant);
    assert_eq!(r1.membership.user, admin.id);
    assert_ne!(r1.refresh, first);
    let r2 = rotate_refresh_token(&db, &r1.refresh, now().add_secs(2)).unwrap();

    // replaying an old token: detected, and the live one dies with it
    assert_eq!(
        auth_failure(rotate_refresh_token(&db, &first, now())),
        AuthFailure::Reused
    );
    assert_eq!(
        auth_failure(rotate_refresh_token(&db, &r2.refresh, now())),
        AuthFailure::Revoked
    );

    // another session is not affected; logout ends it
    let other = issue_refresh_token(&db, &tenant, admin.id, now()).unwrap();
    let o1 = rotate_refresh_token(&db, &other, now()).unwrap();
    revoke_refresh_token(&db, &o1.refresh, now()).unwrap();
    assert_eq!(
        auth_failure(rotate_refresh_token(&db, &o1.refresh, now())),
        AuthFailure::Revoked
    );
    revoke_refresh_token(
        &db,
        &TokenSecret::generate(TokenKind::Refresh).unwrap(),
        now(),
    )
    .unwrap();

    // expiry
    let third = issue_refresh_token(&db, &tenant, admin.id, now()).unwrap();
    let late = now().add_secs(fieldline_domain::REFRESH_TOKEN_TTL_SECS);
    assert_eq!(
        auth_failure(rotate_refresh_token(&db, &third, late)),
        AuthFailure::Expired
    );
    let unknown = TokenSecret::generate(TokenKind::Refresh).unwrap();
    assert_eq!(
        auth_failure(rotate_refresh_token(&db, &unknown, now())),
        AuthFailure::InvalidToken
    );
}

// ---- points ----

#[test]
fn devices_with_their_channels_in_one_lookup() {
    let db = db();
    let (tenant, _) = org(&db, "Plant", "a@example.com");
    let (other, _) = org(&db, "Other", "b@example.com");
    let (a, _, channels) = device_with_channels(&db, &tenant, &["1", "2"]);
    let net = NetworkId::parse("line-7").unwrap();
    let mut fields = DeviceFields::named(name("Bare"));
    fields.network_id = Some(net.clone());
    let b = create_device(&db, &tenant, &fields, None, now()).unwrap();
    let found =
        crate::devices::devices_with_channels(&db, &tenant, &[a.uuid], std::slice::from_ref(&net))
            .unwrap();
    let got: Vec<(i64, Vec<(String, i64)>)> = found
        .iter()
        .map(|(d, c)| {
            let mut c: Vec<(String, i64)> = c.iter().map(|(k, r)| (k.clone(), r.key)).collect();
            c.sort();
            (d.key, c)
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                a.key,
                vec![
                    ("1".to_owned(), channels[0].key),
                    ("2".to_owned(), channels[1].key)
                ]
            ),
            (b.key, vec![]),
        ]
    );
    // Another organization finds none of them.
    assert!(
        crate::devices::devices_with_channels(&db, &other, &[a.uuid], &[net])
            .unwrap()
            .is_empty()
    );
    assert!(
        crate::devices::devices_with_channels(&db, &tenant, &[], &[])
            .unwrap()
            .is_empty()
    );
}

#[test]
fn points_last_write_wins_latest_and_ranges() {
    let db = db();
    let (tenant, _) = org(&db, "Acme", "ada@example.com");
    let (device, _, chans) = device_with_channels(&db, &tenant, &["1", "2", "3"]);
    let refs = channel_refs(&db, &tenant, device.id).unwrap();
    let (a, b, c) = (refs["1"], refs["2"], refs["3"]);
    let batch = vec![
        (a, pt(1000, 1.0)),
        (a, pt(2000, 2.0)),
        (a, pt(1000, 1.5)), // same time again in the same batch: last wins
        (b, pt(500, 10.0)),
    ];
    assert_eq!(write_points(&db, &tenant, &batch).unwrap(), 4);
    write_points(&db, &tenant, &[(a, pt(2000, 2.5))]).unwrap(); // and across batches
    write_points(&db, &tenant, &[]).unwrap();

    let range = points_in_range(
        &db,
        &tenant,
        a,
        Timestamp::MIN,
        Timestamp::MAX,
        Order::OldestFirst,
        100,
    )
    .unwrap();
    assert_eq!(range, vec![pt(1000, 1.5), pt(2000, 2.5)]);
    let newest = points_in_range(
        &db,
        &tenant,
        a,
        Timestamp::MIN,
        Timestamp::MAX,
        Order::NewestFirst,
        1,
    )
    .unwrap();
    assert_eq!(newest, vec![pt(2000, 2.5)]);
    // [from, to)
    let t = |ms| Timestamp::from_millis(ms).unwrap();
    assert_eq!(
        points_in_range(&db, &tenant, a, t(1000), t(2000), Order::OldestFirst, 100).unwrap(),
        vec![pt(1000, 1.5)]
    );

    let mut latest = latest_points(&db, &tenant, &[a, b, c]).unwrap();
    latest.sort_by_key(|(r, _)| *r);
    assert_eq!(latest, vec![(a, pt(2000, 2.5)), (b, pt(500, 10.0))]);
    assert_eq!(chans.len(), 3);

    // The first or last point of many channels within a range, in one statement; c has none,
    // and only points inside [from, last] count.
    write_points(&db, &tenant, &[(a, pt(3000, 3.0)), (b, pt(700, 7.0))]).unwrap();
    let keys = [a.key, b.key, c.key];
    let edges = |from, last, order| {
        let mut e = edge_points_between(&db, &tenant, &keys, t(from), t(last), order).unwrap();
        e.sort_by_key(|p| p.0);
        e
    };
    assert_eq!(
        edges(0, 10_000, Order::OldestFirst),
        vec![(a.key, 1000, 1.5), (b.key, 500, 10.0)]
    );
    assert_eq!(
        edges(0, 10_000, Order::NewestFirst),
        vec![(a.key, 3000, 3.0), (b.key, 700, 7.0)]
    );
    assert_eq!(
        edges(600, 2999, Order::NewestFirst),
        vec![(a.key, 2000, 2.5), (b.key, 700, 7.0)]
    );
    assert_eq!(
        edges(1001, 1999, Order::OldestFirst),
        Vec::<(i64, i64, f64)>::new()
    );
}

#[test]
fn large_batches_are_chunked_atomically() {
    let db = db();
    let (tenant, _) = org(&db, "Acme", "ada@example.com");
    let (device, ..) = device_with_channels(&db, &tenant, &["1"]);
    let a = channel_refs(&db, &tenant, device.id).unwrap()["1"];
    let batch: Vec<_> = (0..25_000).map(|i| (a, pt(i, i as f64))).collect();
    assert_eq!(write_points(&db, &tenant, &batch).unwrap(), 25_000);
    let n = Db::execute(&db, "SELECT count(*), sum(value) FROM points", &[]).unwrap();
    let r = n.first().unwrap();
    assert_eq!(r.i64(0).unwrap(), 25_000);
    assert_eq!(
        r.f64(1).unwrap(),
        (0..25_000).map(|i| i as f64).sum::<f64>()
    );
}

#[test]
fn hot_queries_are_index_lookups() {
    // SQLite's query plans (EXPLAIN QUERY PLAN), whatever the run's backend.
    let db = native::open_in_memory().unwrap();
    migrate(&db).unwrap();
    let plan = |sql: &str, n: usize| -> String {
        let params = vec![Value::Integer(1); n];
        Db::execute(&db, &format!("EXPLAIN QUERY PLAN {sql}"), &params)
            .unwrap()
            .iter()
            .map(|r| r.text(3).unwrap().to_owned())
            .collect::<Vec<_>>()
            .join("\n")
    };
    let latest = plan(&crate::points::latest_points_sql(2), 3);
    let range = plan(
        "SELECT ts, value FROM points WHERE channel_key = ?1 AND ts >= ?2 AND ts < ?3 \
         AND EXISTS (SELECT 1 FROM channels WHERE key = ?1 AND org_key = ?4) ORDER BY ts ASC LIMIT ?5",
        5,
    );
    let summaries = plan(crate::series::SUMMARIES_SQL, 10);
    let first = plan(&crate::series::edge_points_sql(Order::OldestFirst, 2), 5);
    let last = plan(&crate::series::edge_points_sql(Order::NewestFirst, 2), 5);
    for p in [&latest, &range, &first, &last] {
        assert!(!p.contains("SCAN"), "full scan in:\n{p}");
        assert!(!p.contains("TEMP B-TREE"), "sort in:\n{p}");
    }
    // A roll-up batch reads the pending hours in their key's order and stops at its size:
    // sorting them all made each batch cost in proportion to the whole backlog.
    let rollup = plan(crate::points::ROLLUP_BATCH_SQL, 2);
    assert!(!rollup.contains("TEMP B-TREE"), "sort in:\n{rollup}");
    assert!(
        range.contains("SEARCH points USING PRIMARY KEY (channel_key=? AND ts>? AND ts<?)"),
        "{range}"
    );
    // An aggregate's summary: seeks into the channel's points, rollups of hours and of minutes
    // and pending hours; it
    // scans only its own parts, and sorts only to group (as interval_stats does).
    for line in summaries.lines().filter(|l| l.contains("SCAN")) {
        assert!(
            line.starts_with("SCAN (subquery-") || line.starts_with("SCAN u"),
            "full scan in:\n{summaries}"
        );
    }
    // The pending hours first, then each one's points: not every point of the range, each
    // looked up among the pending hours.
    assert!(
        summaries.contains(
            "SEARCH q USING PRIMARY KEY (channel_key=? AND hour>? AND hour<?)\n\
             SEARCH p USING PRIMARY KEY (channel_key=? AND ts>? AND ts<?)"
        ),
        "{summaries}"
    );
    for seek in [
        "SEARCH points USING PRIMARY KEY (channel_key=? AND ts>? AND ts<?)",
        "SEARCH r USING PRIMARY KEY (channel_key=? AND hour>? AND hour<?)",
        "SEARCH r USING PRIMARY KEY (channel_key=? AND minute>? AND minute<?)",
        "SEARCH q USING PRIMARY KEY (channel_key=? AND hour=?)",
        "SEARCH q USING PRIMARY KEY (channel_key=? AND hour>? AND hour<?)",
        "SEARCH p USING PRIMARY KEY (channel_key=? AND ts>? AND ts<?)",
    ] {
        assert!(summaries.contains(seek), "{seek} not in:\n{summaries}");
    }
    // Channels named by key are found by key, not by walking the organization's channels.
    for p in [&latest, &first, &last] {
        assert!(
            p.contains("SEARCH c USING INTEGER PRIMARY KEY (rowid=?)"),
            "{p}"
        );
    }
    // A device's channels, and a Conduit read of one device: the device's index.
    let device = plan(&crate::devices::device_channels_sql(), 2);
    let read = plan(
        &format!(
            "{} AND c.device_key = ? ORDER BY p.ts, p.channel_key LIMIT ?",
            crate::conduit::conduit_points_sql(true)
        ),
        5,
    );
    for p in [&device, &read] {
        assert!(
            p.contains("USING INDEX sqlite_autoindex_channels_2 (device_key=?)"),
            "{p}"
        );
    }
    // An InfluxQL query's series: a seek on the organization's channels of its measurements,
    // by communicationId, and by written measurement for InfluxDB's names.
    let series = plan(&crate::series::list_series_sql(None, Some(2), false), 3);
    let influx = plan(&crate::series::list_series_sql(Some(1), Some(2), true), 10);
    assert!(
        series.contains(
            "SEARCH c USING INDEX channels_org_measurement (org_key=? AND communication_id=?)"
        ),
        "{series}"
    );
    for seek in [
        "SEARCH c USING INTEGER PRIMARY KEY (rowid=?)",
        "SEARCH channels USING COVERING INDEX channels_org_measurement (org_key=? AND \
         communication_id=?)",
        "SEARCH channels USING COVERING INDEX channels_org_written (org_key=? AND \
         written_measurement=?)",
    ] {
        assert!(influx.contains(seek), "{seek} not in:\n{influx}");
    }
    assert!(!influx.contains("SCAN"), "{influx}");
    // A statement's series of some devices (`uuid =~ /^(a|b)$/`): their channels, sought by
    // device; the check for other series seeks the channels written as the measurements and
    // the database's general series of them, not every channel of the measurements.
    let devices = plan(&crate::series::device_series_sql(2, 2), 6);
    for seek in [
        "SEARCH d USING INDEX sqlite_autoindex_devices_2 (org_key=? AND uuid=?)",
        "SEARCH c USING INDEX sqlite_autoindex_channels_2 (device_key=?)",
        "SEARCH channels USING INDEX channels_org_written (org_key=? AND written_measurement=?)",
        "SEARCH series USING COVERING INDEX sqlite_autoindex_series_1 (org_key=? AND \
         database=? AND measurement=?)",
    ] {
        assert!(devices.contains(seek), "{seek} not in:\n{devices}");
    }
    assert!(!devices.contains("SCAN"), "{devices}");
    // Every upload resolves its device's channels: the device's index, not the organization's.
    let refs = plan(
        "SELECT communication_id, key FROM channels WHERE device_key = ? AND +org_key = ?",
        2,
    );
    assert!(
        refs.contains("USING INDEX sqlite_autoindex_channels_2 (device_key=?)"),
        "{refs}"
    );
}

#[test]
fn hourly_rollups_and_retention() {
    let db = db();
    let (tenant, _) = org(&db, "Acme", "ada@example.com");
    let (device, ..) = device_with_channels(&db, &tenant, &["1"]);
    let a = channel_refs(&db, &tenant, device.id).unwrap()["1"];
    let h = Timestamp::HOUR_MS;
    let points = [(a, pt(10, 1.0)), (a, pt(20, 3.0)), (a, pt(h + 5, 4.0))];
    write_points(&db, &tenant, &points).unwrap();
    let t = |ms| Timestamp::from_millis(ms).unwrap();
    assert_eq!(rollup_hours(&db, &tenant, t(0), t(2 * h)).unwrap(), 2);
    let r = rollups_in_range(&db, &tenant, a, t(0), t(2 * h)).unwrap();
    let expected = fieldline_domain::rollup_points(points.iter().map(|(_, p)| *p));
    assert_eq!(r, expected);
    assert_eq!(r[0].average(), 2.0);
    // a late point: rolling up again corrects the hour
    write_points(&db, &tenant, &[(a, pt(30, 5.0))]).unwrap();
    rollup_hours(&db, &tenant, t(15), t(16)).unwrap();
    let r = rollups_in_range(&db, &tenant, a, t(0), t(h)).unwrap();
    assert_eq!((r[0].count, r[0].sum, r[0].max), (3, 9.0, 5.0));

    purge_points_before(&db, &tenant, t(h)).unwrap();
    assert_eq!(
        points_in_range(
            &db,
            &tenant,
            a,
            Timestamp::MIN,
            Timestamp::MAX,
            Order::OldestFirst,
            10
        )
        .unwrap(),
        vec![pt(h + 5, 4.0)]
    );
    purge_rollups_before(&db, &tenant, t(h)).unwrap();
    assert_eq!(
        rollups_in_range(&db, &tenant, a, t(0), t(2 * h))
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn pending_hours_are_rolled_up_and_queries_use_rollups_only_where_current() {
    let db = db();
    let (tenant, _) = org(&db, "Acme", "ada@example.com");
    let (device, ..) = device_with_channels(&db, &tenant, &["1"]);
    let a = channel_refs(&db, &tenant, device.id).unwrap()["1"];
    let h = Timestamp::HOUR_MS;
    let t = |ms| Timestamp::from_millis(ms).unwrap();
    // three hours of points, every 10 minutes, value = minute of the day
    let points: Vec<_> = (0..18)
        .map(|i| (a, pt(i * 600_000, f64::from(u32::try_from(i).unwrap()))))
        .collect();
    write_points(&db, &tenant, &points).unwrap();
    let pending = |db: &dyn Db| {
        Db::execute(db, "SELECT count(*) FROM rollup_pending", &[])
            .unwrap()
            .first()
            .unwrap()
            .i64(0)
            .unwrap()
    };
    assert_eq!(pending(&db), 3, "every written hour is pending");
    let per_hour = |db: &dyn Db| -> Vec<(i64, u64, f64)> {
        interval_summaries(db, &tenant, a, t(0), t(3 * h - 1), 0, h)
            .unwrap()
            .iter()
            .map(|s| (s.start_ms, s.count, s.sum))
            .collect()
    };
    let raw = per_hour(&db);
    assert_eq!(raw, vec![(0, 6, 15.0), (h, 6, 51.0), (2 * h, 6, 87.0)]);
    // rolled up in batches, only hours that have ended: 1 ms before the third hour ends, the
    // first two (one a batch); the answers stay the same
    assert_eq!(roll_up_pending(&db, 1, t(3 * h - 1)).unwrap(), 1);
    assert_eq!(roll_up_pending(&db, 10, t(3 * h - 1)).unwrap(), 1);
    assert_eq!(roll_up_pending(&db, 10, t(3 * h - 1)).unwrap(), 0);
    assert_eq!(pending(&db), 1, "the hour being written stays pending");
    assert_eq!(per_hour(&db), raw);
    // once it has ended, it is rolled up
    assert_eq!(roll_up_pending(&db, 2, t(3 * h)).unwrap(), 1);
    assert_eq!(pending(&db), 0);
    assert_eq!(per_hour(&db), raw);
    // with the raw points of the first two hours gone (detailed retention), their rollups
    // answer: the proof that whole rolled-up hours are read from rollups
    purge_points_before(&db, &tenant, t(2 * h)).unwrap();
    assert_eq!(per_hour(&db), raw);
    // a partial hour at either end is read from the points, not from its rollup
    let partial =
        interval_summaries(&db, &tenant, a, t(2 * h + 600_000), t(3 * h - 1), 0, h).unwrap();
    assert_eq!((partial[0].count, partial[0].sum), (5, 87.0 - 12.0));
    // a point rewritten after the roll-up makes its hour pending: read from the points again
    write_points(&db, &tenant, &[(a, pt(2 * h, 100.0))]).unwrap();
    assert_eq!(pending(&db), 1);
    assert_eq!(per_hour(&db)[2], (2 * h, 6, 87.0 - 12.0 + 100.0));
    roll_up_pending(&db, 10, Timestamp::MAX).unwrap();
    assert_eq!(per_hour(&db)[2], (2 * h, 6, 175.0));
    // one interval over the whole range: rollups too (a query without GROUP BY time)
    let all = interval_summaries(&db, &tenant, a, t(0), t(3 * h - 1), 0, 3 * h).unwrap();
    assert_eq!((all[0].count, all[0].sum), (18, 15.0 + 51.0 + 175.0));
    // deleting the channel removes its rollups and pending hours
    write_points(&db, &tenant, &[(a, pt(5 * h, 1.0))]).unwrap();
    let c = list_device_channels(&db, &tenant, device.id).unwrap()[0].id;
    delete_channel(&db, &tenant, c).unwrap();
    assert_eq!(pending(&db), 0);
    let left = Db::execute(&db, "SELECT count(*) FROM rollups", &[]).unwrap();
    assert_eq!(left.first().unwrap().i64(0).unwrap(), 0);
}

/// Summaries by whole minutes (and by hours over ranges that do not start or end on the hour)
/// read the minute rollups of rolled-up hours, and stay what the points alone answer before the
/// roll-up, after it, and with an hour made pending again by a late point.
#[test]
fn minute_intervals_use_minute_rollups_only_where_current() {
    let db = db();
    let (tenant, _) = org(&db, "Acme", "ada@example.com");
    let (device, ..) = device_with_channels(&db, &tenant, &["1"]);
    let a = channel_refs(&db, &tenant, device.id).unwrap()["1"];
    let (h, m) = (Timestamp::HOUR_MS, 60_000);
    let t = |ms| Timestamp::from_millis(ms).unwrap();
    // three hours and a bit of points every 7 s, small integers as values (exact sums)
    let points: Vec<_> = (0..1600_i64)
        .map(|i| (a, pt(i * 7_000, f64::from(u32::try_from(i % 13).unwrap()))))
        .collect();
    write_points(&db, &tenant, &points).unwrap();
    let ranges = [
        (0, 3 * h - 1),
        (90_500, 2 * h + 30 * m + 15_000),
        (h + 1, 3 * h - m - 1),
        (30 * m, 40 * m - 1),
        (5 * m + 1, 5 * m + 59_000),
    ];
    let shapes = [(0, m), (0, 5 * m), (0, h), (0, 2 * h), (-15_000, 10_000)];
    let check = |when: &str| {
        for (from, last) in ranges {
            for (offset, interval) in shapes {
                let base = from - from.rem_euclid(interval) + offset.min(0);
                let base = if base > from { base - interval } else { base };
                let args = (t(from), t(last), base, interval);
                let got = interval_summaries(&db, &tenant, a, args.0, args.1, base, interval);
                let want = interval_stats(&db, &tenant, a, args.0, args.1, base, interval);
                assert_eq!(
                    got.unwrap(),
                    want.unwrap(),
                    "{when}: [{from}, {last}] by {interval} from {base}"
                );
            }
            let one = interval_summaries(&db, &tenant, a, t(from), t(last), from, last + 1 - from);
            let raw = interval_stats(&db, &tenant, a, t(from), t(last), from, last + 1 - from);
            assert_eq!(
                one.unwrap(),
                raw.unwrap(),
                "{when}: [{from}, {last}] as one interval"
            );
        }
    };
    check("every hour pending");
    while roll_up_pending(&db, 2, Timestamp::MAX).unwrap() > 0 {}
    let minutes = db.query_i64("SELECT count(*) FROM rollups_minute");
    assert_eq!(minutes, 1599 * 7_000 / m + 1);
    check("rolled up");
    write_points(&db, &tenant, &[(a, pt(h + 7 * m + 1, 100.0))]).unwrap();
    check("hour 1 pending again");
    roll_up_pending(&db, 10, Timestamp::MAX).unwrap();
    check("rolled up again");
    // The proof that whole minutes of rolled-up hours are read from their rollups: with one
    // minute's points gone behind the rollups' back, minute intervals still count them, and
    // intervals of 10 s (which no rollup answers) do not.
    Db::execute(
        &db,
        "DELETE FROM points WHERE ts >= ? AND ts < ?",
        &[(30 * m).into(), (31 * m).into()],
    )
    .unwrap();
    let count = |interval| -> u64 {
        interval_summaries(&db, &tenant, a, t(30 * m), t(31 * m - 1), 30 * m, interval)
            .unwrap()
            .iter()
            .map(|s| s.count)
            .sum()
    };
    assert_eq!((count(m), count(10_000)), (8, 0));
    // deleting the channel removes its minute rollups
    let c = list_device_channels(&db, &tenant, device.id).unwrap()[0].id;
    delete_channel(&db, &tenant, c).unwrap();
    assert_eq!(db.query_i64("SELECT count(*) FROM rollups_minute"), 0);
}

/// A reader as the host's pool gives one to a component: each statement runs on its own
/// snapshot of the file, and whatever another connection commits between two statements is
/// seen by the second. `between` runs once, after the `at`-th statement.
struct Interleaved<'a> {
    reader: &'a dyn Db,
    statements: std::cell::Cell<usize>,
    at: usize,
    between: std::cell::RefCell<Option<Box<dyn FnOnce() + 'a>>>,
}

impl<'a> Interleaved<'a> {
    fn new(reader: &'a dyn Db, at: usize, between: impl FnOnce() + 'a) -> Self {
        Interleaved {
            reader,
            statements: std::cell::Cell::new(0),
            at,
            between: std::cell::RefCell::new(Some(Box::new(between))),
        }
    }
}

impl Db for Interleaved<'_> {
    fn execute(&self, sql: &str, params: &[Value]) -> Result<Rows> {
        let rows = Db::execute(self.reader, sql, params)?;
        self.statements.set(self.statements.get() + 1);
        if self.statements.get() == self.at {
            if let Some(f) = self.between.borrow_mut().take() {
                f();
            }
        }
        Ok(rows)
    }

    fn dialect(&self) -> Dialect {
        self.reader.dialect()
    }
}

#[test]
fn a_summary_is_one_snapshot_whatever_commits_while_it_is_read() {
    let h = Timestamp::HOUR_MS;
    let t = |ms| Timestamp::from_millis(ms).unwrap();
    // (count, sum) per hour of the three hours, and of all of them as one interval.
    let summaries = |db: &dyn Db, tenant: &Tenant, a: ChannelRef| {
        let per_hour = interval_summaries(db, tenant, a, t(0), t(3 * h - 1), 0, h).unwrap();
        let whole = interval_summaries(db, tenant, a, t(0), t(3 * h - 1), 0, 3 * h).unwrap();
        [per_hour, whole].map(|s| {
            s.iter()
                .map(|s| (s.start_ms, s.count, s.sum))
                .collect::<Vec<_>>()
        })
    };
    let mut wrong = Vec::new();
    // A commit from the writer after each statement of a summary in turn: the roll-up of every
    // pending hour (the maintenance tick), or a point written into a rolled-up hour (ingestion).
    for rolled_up_before in [false, true] {
        for at in 1..=6 {
            let writer = TestDb::shared();
            migrate(&writer).unwrap();
            let reader = writer.connect();
            let (tenant, _) = org(&writer, "Acme", "ada@example.com");
            let (device, ..) = device_with_channels(&writer, &tenant, &["1"]);
            let a = channel_refs(&writer, &tenant, device.id).unwrap()["1"];
            let points: Vec<_> = (0..18)
                .map(|i| (a, pt(i * 600_000, f64::from(u32::try_from(i).unwrap()))))
                .collect();
            write_points(&writer, &tenant, &points).unwrap();
            if rolled_up_before {
                roll_up_pending(&writer, 100, Timestamp::MAX).unwrap();
            }
            let before = summaries(&reader, &tenant, a);
            let commit = || {
                if rolled_up_before {
                    write_points(&writer, &tenant, &[(a, pt(h + 60_000, 100.0))]).unwrap();
                } else {
                    roll_up_pending(&writer, 100, Timestamp::MAX).unwrap();
                }
            };
            let during = summaries(&Interleaved::new(&reader, at, commit), &tenant, a);
            let after = summaries(&reader, &tenant, a);
            // Either all of a summary saw the commit or none of it did.
            for (i, what) in ["per hour", "as one interval"].into_iter().enumerate() {
                let (got, one, other) = (&during[i], &before[i], &after[i]);
                if got != one && got != other {
                    wrong.push(format!(
                        "{what}, rolled up before: {rolled_up_before}, commit after statement \
                         {at}: {got:?}, neither {one:?} nor {other:?}"
                    ));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

// ---- counters ----

#[test]
fn rate_limits_count_per_principal_and_window() {
    let db = db();
    let store = SqlStore(&db);
    let check = |policy: &RateLimitPolicy, who: &str, units: u64, at: Timestamp| {
        limits::check(&store, policy, Subject::Client(who), units, at)
    };
    let policy = limits::ADMIN_API;
    let t0 = Timestamp::from_secs(1_700_000_040).unwrap(); // 1_700_000_040 is a multiple of 60
    for _ in 0..100 {
        check(&policy, "a", 1, t0).unwrap();
    }
    let limited = check(&policy, "a", 1, t0.add_secs(30));
    let e = limited.unwrap_err();
    let r = e.as_rate_limited().unwrap();
    assert_eq!(r.policy, "admin-api");
    assert_eq!(r.retry_after_secs, 30);
    // others are not affected, and the next window starts afresh
    check(&policy, "b", 1, t0).unwrap();
    check(&policy, "a", 1, t0.add_secs(60)).unwrap();
    // quotas count units
    let points = limits::points_per_hour(&Subscription::default());
    check(&points, "x", 360_000, t0).unwrap();
    assert!(check(&points, "x", 1, t0).is_err());

    assert_eq!(purge_expired_counters(&db, t0.add_secs(60)).unwrap(), 2);
    assert_eq!(purge_expired_counters(&db, t0.add_secs(7200)).unwrap(), 2);
}

#[test]
fn a_burst_of_failures_is_throttled_at_the_limit_wherever_a_window_boundary_falls() {
    let db = db();
    let store = SqlStore(&db);
    let policy = limits::LOGIN;
    let t0 = Timestamp::from_secs(1_700_000_040).unwrap(); // a multiple of 60
                                                           // For bursts starting anywhere from well before an aligned boundary to well after it,
                                                           // `limit` failures within a few seconds, then the next attempt is refused.
    for (i, start) in [
        -30_000, -5_000, -1_000, -200, 0, 200, 25_000, 29_900, 31_000,
    ]
    .into_iter()
    .enumerate()
    {
        let who = format!("burst{i}");
        let subject = Subject::Client(&who);
        let mut at = t0.add_millis(start);
        for _ in 0..policy.limit {
            limits::check_failures(&store, &policy, subject, at).unwrap();
            limits::count_failure(&store, &policy, subject, at).unwrap();
            at = at.add_millis(300);
        }
        let e = limits::check_failures(&store, &policy, subject, at)
            .expect_err(&format!("a burst from {start} ms passed the limit"));
        let r = e.as_rate_limited().expect("rate limited");
        assert_eq!(r.policy, "login");
        assert!((1..=60).contains(&r.retry_after_secs), "{r:?}");
        // Once Retry-After has passed, the subject may try again.
        let later = at.add_secs(i64::from(r.retry_after_secs));
        limits::check_failures(&store, &policy, subject, later).unwrap();
    }
    // Failures spread out (one every 7 s) are never refused: none of the windows fills.
    let subject = Subject::Client("slow");
    for k in 0..30 {
        let at = t0.add_secs(7 * k);
        limits::check_failures(&store, &policy, subject, at).unwrap();
        limits::count_failure(&store, &policy, subject, at).unwrap();
    }
}

#[test]
fn purging_takes_every_expired_counter_in_batches_and_keeps_live_ones() {
    let db = db();
    let t0 = now();
    let expired = 2 * PURGE_BATCH + 17;
    for i in 0..expired {
        increment_counter(&db, &format!("old|{i}"), 1, t0.add_secs(-1)).unwrap();
    }
    increment_counter(&db, "at-now", 1, t0).unwrap();
    increment_counter(&db, "live", 3, t0.add_secs(1)).unwrap();
    assert_eq!(purge_expired_counters(&db, t0).unwrap(), expired + 1);
    assert_eq!(purge_expired_counters(&db, t0).unwrap(), 0);
    // the live counter goes on counting where it was
    assert_eq!(
        increment_counter(&db, "live", 1, t0.add_secs(1)).unwrap(),
        4
    );
}

#[test]
fn counters_are_atomic_under_concurrency() {
    let shared = TestDb::shared();
    migrate(&shared).unwrap();
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let db = shared.connect();
            std::thread::spawn(move || {
                for _ in 0..50 {
                    increment_counter(&db, "k", 1, Timestamp::MAX).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(
        increment_counter(&shared, "k", 0, Timestamp::MAX).unwrap(),
        400
    );
}

#[test]
fn of_replicas_claiming_one_tick_at_once_exactly_one_gets_it() {
    let shared = TestDb::shared();
    migrate(&shared).unwrap();
    let t0 = now();
    let tick = 1_796_428_800;
    let claims: Vec<_> = (0..6)
        .map(|i| {
            let db = shared.connect();
            std::thread::spawn(move || {
                // Two jobs, three replicas each, all on the same tick.
                let job = if i % 2 == 0 {
                    "maintenance"
                } else {
                    "notifier"
                };
                (job, claim_tick(&db, job, tick, t0).unwrap())
            })
        })
        .collect();
    let won: Vec<&str> = claims
        .into_iter()
        .filter_map(|t| {
            let (job, mine) = t.join().unwrap();
            mine.then_some(job)
        })
        .collect();
    assert_eq!(won.len(), 2, "{won:?}");
    assert!(won.contains(&"maintenance") && won.contains(&"notifier"));
    // A replica that comes late to that tick finds it taken; the next tick is free.
    assert!(!claim_tick(&shared, "maintenance", tick, t0).unwrap());
    assert!(claim_tick(&shared, "maintenance", tick + 60, t0).unwrap());
    // Claims are remembered for a day, then purged with the counters.
    purge_expired_counters(&shared, t0.add_secs(23 * 3600)).unwrap();
    assert!(!claim_tick(&shared, "maintenance", tick, t0).unwrap());
    purge_expired_counters(&shared, t0.add_secs(25 * 3600)).unwrap();
    assert!(claim_tick(&shared, "maintenance", tick, t0.add_secs(25 * 3600)).unwrap());
}

// ---- incidents ----

#[test]
fn incidents_open_confirm_close() {
    let db = db();
    let (tenant, _) = org(&db, "Acme", "ada@example.com");
    let (device, _, chans) = device_with_channels(&db, &tenant, &["1"]);
    let a = channel_refs(&db, &tenant, device.id).unwrap()["1"];
    let new = NewIncident {
        kind: IncidentKind::Limit,
        deviation: Some(fieldline_domain::DeviationType::AlarmUpper),
        limit: Some(10.0),
        measurement: Some(12.5),
        unit: Unit::parse("°C").unwrap(),
        start: now(),
    };
    let i = open_incident(&db, &tenant, a, &new).unwrap();
    assert!(i.is_active());
    assert_eq!(i.channel, chans[0].id);
    assert_eq!(
        active_incident(&db, &tenant, a, IncidentKind::Limit).unwrap(),
        Some(i.clone())
    );
    assert_eq!(
        active_incident(&db, &tenant, a, IncidentKind::Failure).unwrap(),
        None
    );
    let c1 = confirm_incident(&db, &tenant, i.id, now().add_secs(1)).unwrap();
    assert_eq!((c1.confirm1, c1.confirm2), (Some(now().add_secs(1)), None));
    let c2 = confirm_incident(&db, &tenant, i.id, now().add_secs(2)).unwrap();
    assert_eq!(c2.confirm2, Some(now().add_secs(2)));
    let closed = close_incident(&db, &tenant, i.id, now().add_secs(3)).unwrap();
    assert!(!closed.is_active());
    assert_eq!(
        active_incident(&db, &tenant, a, IncidentKind::Limit).unwrap(),
        None
    );
    assert_eq!(list_incidents(&db, &tenant, false, 10).unwrap().len(), 1);
    assert!(list_incidents(&db, &tenant, true, 10).unwrap().is_empty());
}

// ---- tenancy ----

/// Organization B, holding handles and ids of A's objects, can neither read nor change them
/// through any function.
#[test]
fn no_function_reaches_across_tenants() {
    let db = db();
    let (a, admin_a) = org(&db, "A", "a@example.com");
    let (b, admin_b) = org(&db, "B", "b@example.com");
    let mut fields = DeviceFields::named(name("A's"));
    fields.network_id = Some(NetworkId::parse("NET1").unwrap());
    let dev = create_device(&db, &a, &fields, None, now()).unwrap();
    let sen = create_sensor(&db, &a, dev.id, &SensorFields::named(name("s")), now()).unwrap();
    let ch = create_channel(
        &db,
        &a,
        sen.id,
        Some(comm("1")),
        &ChannelFields::named(name("c")),
        now(),
    )
    .unwrap();
    let a_ref = channel_ref(&db, &a, ch.id).unwrap();
    write_points(&db, &a, &[(a_ref, pt(1, 1.0))]).unwrap();
    rollup_hours(&db, &a, Timestamp::MIN, now()).unwrap();
    let (tok, _) = create_token(&db, &a, &NewToken::device(dev.id), now()).unwrap();
    let (inv, _) = create_invitation(
        &db,
        &a,
        &email("x@example.com"),
        Permissions::VIEW,
        None,
        now(),
    )
    .unwrap();
    let inc = open_incident(
        &db,
        &a,
        a_ref,
        &NewIncident {
            kind: IncidentKind::NoConnection,
            deviation: None,
            limit: None,
            measurement: None,
            unit: Unit::default(),
            start: now(),
        },
    )
    .unwrap();

    // devices, sensors, channels
    not_found(device(&db, &b, dev.id));
    not_found(device_by_uuid(&db, &b, dev.uuid));
    not_found(device_by_network_id(
        &db,
        &b,
        fields.network_id.as_ref().unwrap(),
    ));
    not_found(update_device(&db, &b, dev.id, &fields, now()));
    not_found(set_notification_verified(&db, &b, dev.id));
    not_found(delete_device(&db, &b, dev.id));
    not_found(create_sensor(
        &db,
        &b,
        dev.id,
        &SensorFields::named(name("s")),
        now(),
    ));
    not_found(sensor(&db, &b, sen.id));
    not_found(list_sensors(&db, &b, dev.id));
    not_found(update_sensor(
        &db,
        &b,
        sen.id,
        &SensorFields::named(name("s")),
    ));
    not_found(delete_sensor(&db, &b, sen.id));
    not_found(create_channel(
        &db,
        &b,
        sen.id,
        None,
        &ChannelFields::named(name("c")),
        now(),
    ));
    not_found(channel(&db, &b, ch.id));
    not_found(list_channels(&db, &b, sen.id));
    not_found(list_device_channels(&db, &b, dev.id));
    not_found(update_channel(
        &db,
        &b,
        ch.id,
        None,
        &ChannelFields::named(name("c")),
    ));
    not_found(delete_channel(&db, &b, ch.id));
    not_found(channel_ref(&db, &b, ch.id));
    not_found(channel_refs(&db, &b, dev.id));
    assert!(list_devices(&db, &b).unwrap().is_empty());
    // a network id used in A is free in B
    create_device(&db, &b, &fields, None, now()).unwrap();

    // points, rollups, incidents: A's handle is refused by B's queries
    let cross = |r: Result<()>| assert!(matches!(r, Err(Error::CrossTenant)), "{r:?}");
    cross(write_points(&db, &b, &[(a_ref, pt(2, 2.0))]).map(drop));
    cross(latest_points(&db, &b, &[a_ref]).map(drop));
    assert!(edge_points_between(
        &db,
        &b,
        &[a_ref.key],
        Timestamp::MIN,
        Timestamp::MAX,
        Order::NewestFirst
    )
    .unwrap()
    .is_empty());
    cross(
        points_in_range(
            &db,
            &b,
            a_ref,
            Timestamp::MIN,
            Timestamp::MAX,
            Order::OldestFirst,
            9,
        )
        .map(drop),
    );
    cross(rollups_in_range(&db, &b, a_ref, Timestamp::MIN, Timestamp::MAX).map(drop));
    cross(active_incident(&db, &b, a_ref, IncidentKind::NoConnection).map(drop));
    cross(open_incident(&db, &b, a_ref, &inc.opened).map(drop));
    not_found(incident(&db, &b, inc.id));
    not_found(close_incident(&db, &b, inc.id, now()));
    not_found(confirm_incident(&db, &b, inc.id, now()));
    assert!(list_incidents(&db, &b, false, 10).unwrap().is_empty());
    // B's maintenance does not touch A's data
    assert_eq!(rollup_hours(&db, &b, Timestamp::MIN, now()).unwrap(), 0);
    purge_points_before(&db, &b, Timestamp::MAX).unwrap();
    purge_rollups_before(&db, &b, Timestamp::MAX).unwrap();
    assert_eq!(
        latest_points(&db, &a, &[a_ref]).unwrap(),
        vec![(a_ref, pt(1, 1.0))]
    );
    assert_eq!(
        rollups_in_range(&db, &a, a_ref, Timestamp::MIN, Timestamp::MAX)
            .unwrap()
            .len(),
        1
    );

    // tokens, members, invitations
    not_found(token(&db, &b, tok.id));
    not_found(revoke_token(&db, &b, tok.id, now()));
    not_found(create_token(&db, &b, &NewToken::device(dev.id), now()));
    let conduit_for_a =
        NewToken::conduit(admin_a.id, ConduitTier::Basic, ConduitServices::default());
    not_found(create_token(&db, &b, &conduit_for_a, now()));
    assert!(list_tokens(&db, &b, None).unwrap().is_empty());
    not_found(issue_refresh_token(&db, &b, admin_a.id, now()));
    not_found(set_permissions(&db, &b, admin_a.id, Permissions::VIEW));
    not_found(remove_member(&db, &b, admin_a.id, now()));
    not_found(revoke_invitation(&db, &b, inv.id));
    assert!(list_invitations(&db, &b).unwrap().is_empty());
    let members_b = list_members(&db, &b).unwrap();
    assert_eq!(members_b.len(), 1);
    assert_eq!(members_b[0].user, admin_b.id);
    not_found(member(&db, b.id(), admin_a.id));
    assert_ne!(organization(&db, &b).unwrap().id, a.id());
}

// ---- on disk ----

#[test]
fn on_disk_data_survives_reopening() {
    let shared = TestDb::shared();
    let (tenant_id, channel_id) = {
        let db = shared.connect();
        migrate(&db).unwrap();
        let (tenant, _) = org(&db, "Acme", "ada@example.com");
        let (_, _, chans) = device_with_channels(&db, &tenant, &["1"]);
        let r = channel_ref(&db, &tenant, chans[0].id).unwrap();
        let batch: Vec<_> = (0..1000).map(|i| (r, pt(i, i as f64))).collect();
        write_points(&db, &tenant, &batch).unwrap();
        (tenant.id(), chans[0].id)
    };
    let db = shared.connect();
    assert_eq!(migrate(&db).unwrap(), SCHEMA_VERSION);
    let t = tenant(&db, tenant_id).unwrap();
    let r = channel_ref(&db, &t, channel_id).unwrap();
    assert_eq!(
        latest_points(&db, &t, &[r]).unwrap(),
        vec![(r, pt(999, 999.0))]
    );
    if let Some(dir) = shared.path() {
        assert!(dir.join("db.sqlite-wal").exists());
    }
}

// ---- outbox ----

#[test]
fn outbox_delivers_each_message_until_it_is_sent_and_never_twice_at_once() {
    use fieldline_service::prelude::*;
    let db = db();
    let (tenant, _) = org(&db, "Acme", "ada@example.com");
    let store = SqlStore(&db);
    let t0 = now();
    let minute = |m: i64| t0.add_secs(60 * m);
    assert!(store
        .enqueue(&tenant, "email", "alarm-1", "first", t0)
        .unwrap());
    assert!(store
        .enqueue(&tenant, "email", "alarm-2", "second", minute(1))
        .unwrap());
    assert!(store
        .enqueue(&tenant, "amqp", "deviation-1", "other topic", t0)
        .unwrap());
    // The same idempotency key adds nothing.
    assert!(!store
        .enqueue(&tenant, "email", "alarm-1", "again", minute(2))
        .unwrap());
    assert_eq!(store.backlog("email").unwrap(), (2, Some(t0)));

    // One sender takes the due messages, oldest first, for a lease of 5 minutes.
    let taken = store.claim("email", minute(2), minute(7), 10).unwrap();
    let keys: Vec<&str> = taken.iter().map(|m| m.idempotency_key.as_str()).collect();
    assert_eq!(keys, ["alarm-1", "alarm-2"]);
    assert_eq!(taken[0].payload, "first");
    assert_eq!(taken[0].org, tenant.id());
    assert_eq!(taken[0].attempts, 1);
    // Another sender finds nothing while the lease runs.
    assert!(store
        .claim("email", minute(3), minute(8), 10)
        .unwrap()
        .is_empty());

    // The first is delivered; the second fails and is retried later.
    store.mark_sent(taken[0].id, minute(3)).unwrap();
    store
        .retry_later(taken[1].id, minute(20), "421 try again later")
        .unwrap();
    assert_eq!(store.backlog("email").unwrap(), (1, Some(minute(1))));
    assert!(store
        .claim("email", minute(19), minute(24), 10)
        .unwrap()
        .is_empty());
    let again = store.claim("email", minute(20), minute(25), 10).unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!((again[0].id, again[0].attempts), (taken[1].id, 2));
    // A sender that dies leaves it leased: taken again when the lease ends.
    let after_crash = store.claim("email", minute(25), minute(30), 1).unwrap();
    assert_eq!(
        (after_crash[0].id, after_crash[0].attempts),
        (taken[1].id, 3)
    );
    store.mark_sent(taken[1].id, minute(26)).unwrap();
    assert_eq!(store.backlog("email").unwrap(), (0, None));
    assert!(store
        .claim("email", minute(60), minute(65), 10)
        .unwrap()
        .is_empty());
    // A sent message is not retried.
    assert!(store.retry_later(taken[1].id, minute(70), "late").is_err());
    // The other topic was never touched.
    assert_eq!(store.backlog("amqp").unwrap(), (1, Some(t0)));
}

#[test]
fn atomically_writes_all_or_nothing() {
    use fieldline_service::prelude::*;
    let db = db();
    let (tenant, _) = org(&db, "Acme", "ada@example.com");
    let store = SqlStore(&db);
    let failed = store.atomically(&mut |s| {
        s.enqueue(&tenant, "email", "k1", "lost with the failure", now())?;
        Err(Error::NotFound(Entity::Device))
    });
    assert!(matches!(failed, Err(Error::NotFound(Entity::Device))));
    assert_eq!(store.backlog("email").unwrap(), (0, None));
    store
        .atomically(&mut |s| {
            s.enqueue(&tenant, "email", "k1", "kept", now())?;
            s.enqueue(&tenant, "email", "k2", "kept too", now())?;
            Ok(())
        })
        .unwrap();
    assert_eq!(store.backlog("email").unwrap(), (2, Some(now())));
}

#[test]
fn a_batch_that_does_not_fit_is_refused_as_full_and_leaves_no_point() {
    // SQLite's own page limit stands for a full disk, so this one runs on SQLite whatever the
    // run's backend (PostgreSQL has no per-database limit a test could set).
    let db = native::open_in_memory().unwrap();
    migrate(&db).unwrap();
    let (tenant, _) = org(&db, "Acme", "ada@example.com");
    let comms: Vec<String> = (0..8).map(|c| c.to_string()).collect();
    let comms: Vec<&str> = comms.iter().map(String::as_str).collect();
    let (device, _, _) = device_with_channels(&db, &tenant, &comms);
    let refs = channel_refs(&db, &tenant, device.id).unwrap();
    // 30,000 points: three statements in one transaction, as a /write of 30,000 lines.
    let batch: Vec<_> = (0..30_000i64)
        .map(|i| (refs[comms[(i % 8) as usize]], pt(1_000 * (i / 8), i as f64)))
        .collect();
    let count = |db: &rusqlite::Connection| -> i64 {
        db.query_row("SELECT count(*) FROM points", [], |r| r.get(0))
            .unwrap()
    };
    // A database that is full (as a full disk would make it) before the batch is through.
    let pages: i64 = db.query_row("PRAGMA page_count", [], |r| r.get(0)).unwrap();
    db.pragma_update(None, "max_page_count", pages + 60)
        .unwrap();
    match write_points(&db, &tenant, &batch) {
        Err(Error::Backend {
            kind: BackendFailure::Full,
            ..
        }) => {}
        other => panic!("expected a full database: {other:?}"),
    }
    assert_eq!(count(&db), 0, "nothing of the batch is kept");
    assert!(db.is_autocommit(), "no transaction is left open");
    // Room again: the same batch lands whole.
    db.pragma_update(None, "max_page_count", 1_000_000).unwrap();
    assert_eq!(write_points(&db, &tenant, &batch).unwrap(), 30_000);
    assert_eq!(count(&db), 30_000);
}

#[test]
fn quotas_reserve_exactly_and_count_discards_per_device() {
    use fieldline_service::prelude::*;
    let db = db();
    let (tenant, _) = org(&db, "Acme", "ada@example.com");
    let (device, ..) = device_with_channels(&db, &tenant, &["1"]);
    let store = SqlStore(&db);
    let policy = limits::points_per_hour(&Subscription {
        points_per_hour: 10,
        ..Subscription::default()
    });
    let t0 = now();
    let subject = Subject::Org(tenant.id());
    limits::reserve(&store, &policy, subject, 6, t0).unwrap();
    // 5 more would pass the limit: refused, and nothing counted ...
    let e = limits::reserve(&store, &policy, subject, 5, t0).unwrap_err();
    let r = e.as_rate_limited().unwrap();
    assert_eq!(r.policy, "points-per-hour");
    // ... Retry-After is the next UTC hour ...
    let next_hour = t0.hour_start().add_secs(3600);
    assert_eq!(
        i64::from(r.retry_after_secs),
        (next_hour.as_millis() - t0.as_millis() + 999) / 1000
    );
    // ... so the 4 that fit are still accepted, and then nothing more.
    limits::reserve(&store, &policy, subject, 4, t0).unwrap();
    assert!(limits::reserve(&store, &policy, subject, 1, t0).is_err());
    let w = policy.window(&subject.key(), t0);
    assert_eq!(store.current(&w.key, t0).unwrap(), 10);
    // the next hour starts afresh
    limits::reserve(&store, &policy, subject, 10, next_hour).unwrap();

    let hour = t0.hour_start();
    store
        .count_discarded(&tenant, Some(device.id), hour, 5)
        .unwrap();
    store
        .count_discarded(&tenant, Some(device.id), hour, 1)
        .unwrap();
    store.count_discarded(&tenant, None, hour, 2).unwrap();
    let d = store.discarded(&tenant, hour, next_hour).unwrap();
    assert_eq!(d.len(), 2, "{d:?}");
    let of = |dev: Option<fieldline_domain::DeviceId>| {
        d.iter().find(|x| x.device == dev).map(|x| x.points)
    };
    assert_eq!(of(Some(device.id)), Some(6));
    assert_eq!(of(None), Some(2));
    // another organization sees none of them
    let (other, _) = org(&db, "Other", "bob@example.com");
    assert!(store.discarded(&other, hour, next_hour).unwrap().is_empty());
}

/// PostgreSQL partitions points by month: the maintenance run makes the current month's and the
/// next, a write makes those it needs, and retention drops whole months that every
/// organization's cut-off has passed, once their hours are rolled up. SQLite has no partitions:
/// nothing is dropped there (its retention deletes rows, `delete_expired`).
#[test]
fn whole_months_of_points_are_dropped_once_retention_has_passed_them() {
    use fieldline_service::prelude::*;
    let db = db();
    let store = SqlStore(&db);
    let (tenant, _) = org(&db, "Acme", "ada@example.com");
    let (device, ..) = device_with_channels(&db, &tenant, &["1"]);
    let a = channel_refs(&db, &tenant, device.id).unwrap()["1"];
    let day = 24 * Timestamp::HOUR_MS;
    let t = |ms| Timestamp::from_millis(ms).unwrap();
    // 2023-01-10, 2023-02-10 and 2023-03-10 (UTC)
    let (jan, feb, mar) = (1_673_308_800_000, 1_675_987_200_000, 1_678_406_400_000);
    let points: Vec<_> = [jan, feb, mar].iter().map(|&ts| (a, pt(ts, 1.0))).collect();
    write_points(&db, &tenant, &points).unwrap();
    let count = || db.query_i64("SELECT count(*) FROM points");
    assert_eq!(count(), 3);
    // 2023-02-01 is past: January's month ends there, but its hour is not rolled up yet.
    let cutoff = t(1_675_209_600_000);
    assert_eq!(store.maintain_partitions(t(mar), cutoff).unwrap(), 0);
    assert_eq!(count(), 3, "a pending hour keeps its month");
    while store.roll_up_pending(100, Timestamp::MAX).unwrap() > 0 {}
    let dropped = store.maintain_partitions(t(mar), cutoff).unwrap();
    match db.dialect() {
        Dialect::Postgres => {
            assert_eq!((dropped, count()), (1, 2));
            let months = db
                .query_i64("SELECT count(*) FROM pg_inherits WHERE inhparent = 'points'::regclass");
            // February and March by the writes, April ahead by the maintenance run.
            assert_eq!(months, 3);
        }
        Dialect::Sqlite => assert_eq!((dropped, count()), (0, 3)),
    }
    // January's aggregate outlives its points; a late January value makes its month again.
    let hours = store
        .hourly_aggregates(&tenant, a, t(jan), t(jan + day))
        .unwrap();
    assert_eq!(hours.len(), 1);
    write_points(&db, &tenant, &[(a, pt(jan + 1, 2.0))]).unwrap();
    assert_eq!(
        latest_points(&db, &tenant, &[a]).unwrap()[0].1,
        pt(mar, 1.0)
    );
}

#[test]
fn retention_deletes_in_batches_only_rolled_up_hours_and_aggregates_stay_exact() {
    use fieldline_service::prelude::*;
    let db = db();
    let (tenant, _) = org(&db, "Acme", "ada@example.com");
    let (device, ..) = device_with_channels(&db, &tenant, &["1"]);
    let a = channel_refs(&db, &tenant, device.id).unwrap()["1"];
    let store = SqlStore(&db);
    let h = Timestamp::HOUR_MS;
    let t = |ms| Timestamp::from_millis(ms).unwrap();
    // hour 0: 12,000 points (more than two batches); hour 1: 3; hour 10: 1 (kept)
    let mut points: Vec<_> = (0..12_000).map(|i| (a, pt(i * 100, 1.0))).collect();
    points.extend([(a, pt(h, 2.0)), (a, pt(h + 1, 4.0)), (a, pt(h + 2, 6.0))]);
    points.push((a, pt(10 * h, 7.0)));
    write_points(&db, &tenant, &points).unwrap();
    let (points_before, rollups_before) = (t(2 * h), t(h));

    // Not rolled up yet: the hours are pending, nothing may go.
    assert_eq!(
        store
            .delete_expired(&tenant, points_before, rollups_before, 5000)
            .unwrap(),
        (0, 0)
    );
    while store.roll_up_pending(100, Timestamp::MAX).unwrap() > 0 {}
    // Rolled up: deleted in batches of 5000; hour 0's rollup is older than the aggregated
    // retention and goes too, hour 1's stays; the minute rollups of both hours (20 minutes of
    // hour 0, 1 of hour 1) go with the points.
    let mut batches = Vec::new();
    loop {
        let (p, r) = store
            .delete_expired(&tenant, points_before, rollups_before, 5000)
            .unwrap();
        batches.push((p, r));
        if p < 5000 && r < 5000 {
            break;
        }
    }
    assert_eq!(batches, vec![(5000, 22), (5000, 0), (2003, 0)]);
    assert_eq!(db.query_i64("SELECT count(*) FROM rollups_minute"), 1);
    let left: i64 = db.query_i64("SELECT count(*) FROM points");
    assert_eq!(left, 1);
    // Hour 1 is answered from its rollup, exactly, though its points are gone.
    let hourly = store
        .hourly_aggregates(&tenant, a, t(0), t(11 * h))
        .unwrap();
    let got: Vec<_> = hourly
        .iter()
        .map(|r| (r.hour.as_millis(), r.count, r.sum))
        .collect();
    assert_eq!(got, vec![(h, 3, 12.0), (10 * h, 1, 7.0)]);
}

#[test]
fn hourly_aggregates_take_late_values_at_once() {
    use fieldline_service::prelude::*;
    let db = db();
    let (tenant, _) = org(&db, "Acme", "ada@example.com");
    let (device, ..) = device_with_channels(&db, &tenant, &["1"]);
    let a = channel_refs(&db, &tenant, device.id).unwrap()["1"];
    let store = SqlStore(&db);
    let h = Timestamp::HOUR_MS;
    let t = |ms| Timestamp::from_millis(ms).unwrap();
    let base = 1_000 * h;
    write_points(
        &db,
        &tenant,
        &[(a, pt(base + 1, 1.0)), (a, pt(base + 2, 3.0))],
    )
    .unwrap();
    while store.roll_up_pending(100, Timestamp::MAX).unwrap() > 0 {}
    let hour = |s: &SqlStore<&TestDb>| {
        let r = s
            .hourly_aggregates(&tenant, a, t(base), t(base + h))
            .unwrap();
        (r[0].count, r[0].sum, r[0].min, r[0].max)
    };
    assert_eq!(hour(&store), (2, 4.0, 1.0, 3.0));
    // A value 72 hours late (beyond Sensorbis' 48): in its hour's aggregate as soon as it is
    // written, before any roll-up, and after it.
    write_points(&db, &tenant, &[(a, pt(base + 3, -5.0))]).unwrap();
    assert_eq!(hour(&store), (3, -1.0, -5.0, 3.0));
    while store.roll_up_pending(100, Timestamp::MAX).unwrap() > 0 {}
    assert_eq!(hour(&store), (3, -1.0, -5.0, 3.0));
}

// ---- Sensorbis: push credentials and sealed tokens ----

#[test]
fn sensorbis_push_credentials_and_sealed_device_tokens() {
    let db = db();
    let (a, _) = org(&db, "Alpha", "a@example.com");
    let (b, _) = org(&db, "Beta", "b@example.com");
    let (d, _, channels) = device_with_channels(&db, &a, &["temp"]);
    let first = TokenSecret::generate_push().unwrap();
    assert!(set_push_credential(&db, &a, d.id, &first.hash(), b"sealed-1", true, now()).unwrap());
    // Without `replace` the existing one is kept; with it, the old one stops at once.
    let second = TokenSecret::generate_push().unwrap();
    assert!(!set_push_credential(&db, &a, d.id, &second.hash(), b"x", false, now()).unwrap());
    assert_eq!(push_device(&db, &first).unwrap().device, d.id);
    assert!(set_push_credential(&db, &a, d.id, &second.hash(), b"sealed-2", true, now()).unwrap());
    assert_eq!(
        auth_failure(push_device(&db, &first)),
        AuthFailure::InvalidToken
    );
    let found = push_device(&db, &second).unwrap();
    assert_eq!((found.tenant, found.device, found.uuid), (a, d.id, d.uuid));
    assert_eq!(
        sealed_push_credentials(&db, &a, None).unwrap()[&d.id],
        b"sealed-2".to_vec()
    );
    // Another organization neither sees nor sets it.
    assert!(sealed_push_credentials(&db, &b, None).unwrap().is_empty());
    not_found(set_push_credential(
        &db,
        &b,
        d.id,
        &first.hash(),
        b"x",
        true,
        now(),
    ));

    // A sealed device token: replaced by the next, gone when revoked.
    let seal = |s: &TokenSecret| -> Result<Vec<u8>> { Ok(s.expose().as_bytes().to_vec()) };
    let (t1, s1) = create_sealed_token(&db, &a, &NewToken::device(d.id), &seal, now()).unwrap();
    assert_eq!(
        sealed_device_tokens(&db, &a, Some(d.id), now()).unwrap()[&d.id],
        s1.expose().as_bytes()
    );
    let (t2, s2) = create_sealed_token(&db, &a, &NewToken::device(d.id), &seal, now()).unwrap();
    assert_ne!(t1.id, t2.id);
    assert_eq!(
        sealed_device_tokens(&db, &a, None, now()).unwrap()[&d.id],
        s2.expose().as_bytes()
    );
    revoke_token(&db, &a, t2.id, now()).unwrap();
    assert!(sealed_device_tokens(&db, &a, None, now())
        .unwrap()
        .is_empty());
    // A token made without a sealed copy (the admin API) is not shown again.
    create_token(&db, &a, &NewToken::device(d.id), now()).unwrap();
    assert!(sealed_device_tokens(&db, &a, None, now())
        .unwrap()
        .is_empty());

    // The hour's magnitudes, without the replaced time; deleting the device deletes its
    // credential.
    let r = channel_ref(&db, &a, channels[0].id).unwrap();
    let h = 1_700_000_000_000 - 1_700_000_000_000 % 3_600_000;
    write_points(
        &db,
        &a,
        &[
            (r, pt(h, -2.0)),
            (r, pt(h + 1, 3.0)),
            (r, pt(h + 3_600_000, 5.0)),
        ],
    )
    .unwrap();
    let hour = Timestamp::from_millis(h).unwrap();
    assert_eq!(
        hourly_magnitude(&db, r.key, hour, hour.add_millis(-1)).unwrap(),
        5.0
    );
    assert_eq!(hourly_magnitude(&db, r.key, hour, hour).unwrap(), 3.0);
    delete_device(&db, &a, d.id).unwrap();
    assert_eq!(
        auth_failure(push_device(&db, &second)),
        AuthFailure::InvalidToken
    );
    assert!(sealed_push_credentials(&db, &a, None).unwrap().is_empty());
}

/// Every write marks the (channel, hour) pairs it writes pending for the roll-up, in its own
/// statement: an accepted write marks each hour once, a refused one marks nothing, and the
/// marks never reach the counters.
#[test]
fn writes_mark_the_hours_they_write_pending_and_refused_writes_none() {
    use fieldline_service::ports::{Reservation, Reserved};
    let db = db();
    let (tenant, _) = org(&db, "Acme", "ada@example.com");
    let (device, _, _) = device_with_channels(&db, &tenant, &["1", "2"]);
    let refs = channel_refs(&db, &tenant, device.id).unwrap();
    let (a, b) = (refs["1"], refs["2"]);
    let h = Timestamp::HOUR_MS;
    let pending = || -> Vec<(i64, i64)> {
        Db::execute(
            &db,
            "SELECT channel_key, hour FROM rollup_pending ORDER BY channel_key, hour",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.i64(0).unwrap(), r.i64(1).unwrap()))
        .collect()
    };
    let quota = |units, limit| Reservation {
        key: "quota".to_owned(),
        units,
        limit,
        expires_at: now().add_secs(3600),
    };
    let batch = [
        (a, pt(h + 1, 1.0)),
        (b, pt(3 * h + 5, 2.0)),
        (a, pt(2 * h - 1, 3.0)),
        (a, pt(h + 2, 4.0)),
    ];
    let got = write_points_within(&db, &tenant, &batch, &[quota(4, 4)]).unwrap();
    assert_eq!(got, Reserved::Written(4));
    assert_eq!(pending(), vec![(a.key, h), (b.key, 3 * h)]);
    // Refused past the quota: no point, no mark.
    let got = write_points_within(&db, &tenant, &[(b, pt(7 * h, 1.0))], &[quota(1, 4)]).unwrap();
    assert_eq!(got, Reserved::OverLimit(0));
    assert_eq!(pending(), vec![(a.key, h), (b.key, 3 * h)]);
    // Without a reservation (a registration's write), and a rewrite of a stored time.
    write_points(&db, &tenant, &[(b, pt(7 * h, 1.0)), (a, pt(h + 1, 9.0))]).unwrap();
    assert_eq!(pending(), vec![(a.key, h), (b.key, 3 * h), (b.key, 7 * h)]);
    let counters = Db::execute(&db, "SELECT key FROM counters ORDER BY key", &[]).unwrap();
    let keys: Vec<String> = counters
        .iter()
        .map(|r| r.text(0).unwrap().to_owned())
        .collect();
    assert_eq!(keys, ["quota"]);
}

#[test]
fn points_and_their_counters_are_written_together_or_not_at_all() {
    use fieldline_service::ports::{Reservation, Reserved};
    let db = db();
    let (tenant, _) = org(&db, "Acme", "ada@example.com");
    let (device, _, _) = device_with_channels(&db, &tenant, &["1", "2"]);
    let refs = channel_refs(&db, &tenant, device.id).unwrap();
    let (a, b) = (refs["1"], refs["2"]);
    let expires = now().add_secs(3600);
    let reservation = |key: &str, units, limit| Reservation {
        key: key.to_owned(),
        units,
        limit,
        expires_at: expires,
    };
    let count = |key: &str| counter(&db, key, now()).unwrap();
    let stored = |c| {
        points_in_range(
            &db,
            &tenant,
            c,
            Timestamp::MIN,
            Timestamp::MAX,
            Order::OldestFirst,
            100,
        )
        .unwrap()
    };

    // Within both limits: the points and both counters, exact values.
    let batch = [
        (a, pt(1000, 0.1 + 0.2)),
        (b, pt(1000, -1e-300)),
        (a, pt(2000, f64::MAX)),
    ];
    let got = write_points_within(
        &db,
        &tenant,
        &batch,
        &[reservation("rate", 1, 2), reservation("quota", 3, 5)],
    )
    .unwrap();
    assert_eq!(got, Reserved::Written(3));
    assert_eq!(stored(a), vec![pt(1000, 0.1 + 0.2), pt(2000, f64::MAX)]);
    assert_eq!(stored(b), vec![pt(1000, -1e-300)]);
    assert_eq!((count("rate"), count("quota")), (1, 3));

    // The second reservation would pass its limit (3 + 3 > 5): nothing written, nothing
    // counted, not even the first reservation.
    let more = [(a, pt(3000, 3.0)), (a, pt(4000, 4.0)), (b, pt(3000, 3.0))];
    let got = write_points_within(
        &db,
        &tenant,
        &more,
        &[reservation("rate", 1, 2), reservation("quota", 3, 5)],
    )
    .unwrap();
    assert_eq!(got, Reserved::OverLimit(1));
    assert_eq!(stored(a).len(), 2);
    assert_eq!((count("rate"), count("quota")), (1, 3));

    // The first: index 0, likewise nothing.
    let got = write_points_within(&db, &tenant, &more[..1], &[reservation("rate", 2, 2)]).unwrap();
    assert_eq!(got, Reserved::OverLimit(0));
    assert_eq!(count("rate"), 1);

    // Exactly up to the limit is within it; the same time again replaces the value.
    let got = write_points_within(
        &db,
        &tenant,
        &[(a, pt(1000, 9.0)), (b, pt(5000, 5.0))],
        &[reservation("rate", 1, 2), reservation("quota", 2, 5)],
    )
    .unwrap();
    assert_eq!(got, Reserved::Written(2));
    assert_eq!(stored(a)[0], pt(1000, 9.0));
    assert_eq!((count("rate"), count("quota")), (2, 5));

    // More points than one statement takes: every chunk in one transaction, counted once.
    let many: Vec<_> = (0..(WRITE_CHUNK_ROWS as i64 + 7))
        .map(|i| (b, pt(1_000_000 + i, i as f64)))
        .collect();
    let n = many.len() as u64;
    let got = write_points_within(&db, &tenant, &many, &[reservation("big", n, n)]).unwrap();
    assert_eq!(got, Reserved::Written(many.len()));
    assert_eq!(count("big"), n);
    assert_eq!(
        points_in_range(
            &db,
            &tenant,
            b,
            Timestamp::MIN,
            Timestamp::MAX,
            Order::OldestFirst,
            100_000
        )
        .unwrap()
        .len(),
        many.len() + 2
    );
    let got = write_points_within(&db, &tenant, &many, &[reservation("big", n, n)]).unwrap();
    assert_eq!(
        got,
        Reserved::OverLimit(0),
        "the chunks after the first are undone too"
    );
    assert_eq!(count("big"), n);

    // A counter's name is carried as written, whatever its characters; no reservation is ever
    // stored as a point.
    let odd = "quota \"q\" \\ [1, 2] é";
    let got = write_points_within(&db, &tenant, &batch[..1], &[reservation(odd, 1, 1)]).unwrap();
    assert_eq!(got, Reserved::Written(1));
    assert_eq!(count(odd), 1);
    let got = write_points_within(&db, &tenant, &batch[..1], &[reservation(odd, 1, 1)]).unwrap();
    assert_eq!(got, Reserved::OverLimit(0));
    let controls = Db::execute(
        &db,
        "SELECT count(*) FROM points WHERE channel_key < 0",
        &[],
    );
    assert_eq!(controls.unwrap().first().unwrap().i64(0).unwrap(), 0);

    // Another organization's channel is refused before anything is written.
    let (other, _) = org(&db, "Other", "bob@example.com");
    let got = write_points_within(&db, &other, &batch, &[reservation("x", 1, 1)]);
    assert!(got.is_err());
    assert_eq!(count("x"), 0);
}

/// Hosts in front of one database: concurrent uploads from several connections never pass a
/// quota together, and exactly what was counted was written.
#[test]
fn a_quota_holds_across_concurrent_connections() {
    use fieldline_service::ports::{Reservation, Reserved};
    let shared = TestDb::shared();
    migrate(&shared).unwrap();
    let (tenant, _) = org(&shared, "Acme", "ada@example.com");
    let (device, _, _) = device_with_channels(&shared, &tenant, &["1"]);
    let a = channel_refs(&shared, &tenant, device.id).unwrap()["1"];
    // 6 connections, 20 uploads of 3 points each, against a quota of 100 points.
    let threads: Vec<_> = (0..6i64)
        .map(|c| {
            let db = shared.connect();
            std::thread::spawn(move || {
                let mut written = 0;
                for u in 0..20i64 {
                    let ts = 1_000 * (c * 100 + u * 3);
                    let batch: Vec<_> = (0..3).map(|i| (a, pt(ts + 1_000 * i, 1.0))).collect();
                    let quota = Reservation {
                        key: "quota".into(),
                        units: 3,
                        limit: 100,
                        expires_at: now().add_secs(3600),
                    };
                    match write_points_within(&db, &tenant, &batch, &[quota]).unwrap() {
                        Reserved::Written(n) => written += n,
                        Reserved::OverLimit(0) => {}
                        other => panic!("{other:?}"),
                    }
                }
                written
            })
        })
        .collect();
    let written: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(written, 99, "33 uploads of 3 fit in 100");
    assert_eq!(counter(&shared, "quota", now()).unwrap(), 99);
    assert_eq!(shared.query_i64("SELECT count(*) FROM points"), 99);
}

/// Replicas rolling up at once share the pending hours: each is rolled up once, exactly.
#[test]
fn concurrent_roll_ups_take_each_pending_hour_once() {
    let shared = TestDb::shared();
    migrate(&shared).unwrap();
    let (tenant, _) = org(&shared, "Acme", "ada@example.com");
    let (device, _, _) = device_with_channels(&shared, &tenant, &["1"]);
    let a = channel_refs(&shared, &tenant, device.id).unwrap()["1"];
    let h = Timestamp::HOUR_MS;
    // 200 hours, 3 points each: values 1, 2, 3.
    let points: Vec<_> = (0..200i64)
        .flat_map(|hour| (1..=3i64).map(move |i| (a, pt(hour * h + i, i as f64))))
        .collect();
    write_points(&shared, &tenant, &points).unwrap();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let db = shared.connect();
            std::thread::spawn(move || {
                let mut n = 0;
                loop {
                    let k = roll_up_pending(&db, 7, Timestamp::MAX).unwrap();
                    n += k;
                    if k < 7 {
                        return n;
                    }
                }
            })
        })
        .collect();
    let rolled: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(rolled, 200);
    assert_eq!(shared.query_i64("SELECT count(*) FROM rollup_pending"), 0);
    assert_eq!(
        shared.query_i64(
            "SELECT count(*) FROM rollups WHERE count = 3 AND sum = 6 AND min = 1 AND max = 3"
        ),
        200
    );
}
