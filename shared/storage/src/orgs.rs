//! Organizations (tenants) and sign-up.

use fieldline_domain::{
    ConduitTier, Email, OrgFields, OrgId, Organization, PasswordHash, Permissions, SignupPolicy,
    Subscription, Timestamp, User, UserId, Uuid,
};

use crate::db::{transaction, Db, Row, Value};
use crate::error::{Conflict, Entity, Error, Result};

/// An organization every tenant-scoped function is confined to. Obtained from storage only
/// (sign-up, [`tenant`], a verified credential), never built from a number.
pub use fieldline_service::Tenant;

/// The subscription's columns of `orgs`, in the order [`subscription_from`] reads them: written
/// once for [`ORG_COLS`] and [`SUBSCRIPTION_COLS`].
macro_rules! subscription_cols {
    () => {
        "points_per_hour, detailed_retention_days, aggregated_retention_days, max_users, \
         notification_emails_per_day, conduit_tier, subscription_expires_at"
    };
}

const ORG_COLS: &str = concat!(
    "id, uuid, name, descr, time_zone, ",
    subscription_cols!(),
    ", created_at"
);

/// The subscription's columns of `orgs`, read by [`subscription_from`].
pub(crate) const SUBSCRIPTION_COLS: &str = subscription_cols!();

pub(crate) fn subscription_from(r: &Row<'_>, at: usize) -> Result<Subscription> {
    Ok(Subscription {
        points_per_hour: r.u64(at)?,
        detailed_retention_days: r.u32(at + 1)?,
        aggregated_retention_days: r.u32(at + 2)?,
        max_users: r.u32(at + 3)?,
        notification_emails_per_day: r.u32(at + 4)?,
        conduit_tier: r.parse(at + 5, ConduitTier::parse)?,
        expires_at: r.opt_ts(at + 6)?,
    })
}

fn org_from(r: &Row<'_>) -> Result<Organization> {
    Ok(Organization {
        id: r.parse(0, OrgId::parse)?,
        uuid: r.parse(1, Uuid::parse)?,
        fields: OrgFields {
            name: r.parse(2, fieldline_domain::OrgName::parse)?,
            descr: r.parse(3, fieldline_domain::Description::parse)?,
            time_zone: r.parse(4, fieldline_domain::TimeZoneName::parse)?,
        },
        subscription: subscription_from(r, 5)?,
        created_at: r.ts(12)?,
    })
}

fn subscription_params(s: &Subscription) -> Result<[Value; 7]> {
    s.validate()?;
    Ok([
        Value::Integer(i64::try_from(s.points_per_hour).unwrap_or(i64::MAX)),
        s.detailed_retention_days.into(),
        s.aggregated_retention_days.into(),
        s.max_users.into(),
        s.notification_emails_per_day.into(),
        s.conduit_tier.as_str().into(),
        s.expires_at.into(),
    ])
}

/// The tenant of an organization id, e.g. the `org` claim of a verified access token.
pub fn tenant(db: &dyn Db, id: OrgId) -> Result<Tenant> {
    let rows = db.execute("SELECT key FROM orgs WHERE id = ?", &[id.into()])?;
    let key = rows
        .first()
        .ok_or(Error::NotFound(Entity::Organization))?
        .i64(0)?;
    Ok(Tenant::new(key, id))
}

/// Every organization with its subscription: for scheduled jobs (rollups, retention) that
/// visit each tenant in turn.
pub fn all_tenants(db: &dyn Db) -> Result<Vec<(Tenant, Subscription)>> {
    let rows = db.execute(
        "SELECT key, id, points_per_hour, detailed_retention_days, aggregated_retention_days, \
         max_users, notification_emails_per_day, conduit_tier, subscription_expires_at \
         FROM orgs ORDER BY key",
        &[],
    )?;
    rows.iter()
        .map(|r| {
            Ok((
                Tenant::new(r.i64(0)?, r.parse(1, OrgId::parse)?),
                subscription_from(&r, 2)?,
            ))
        })
        .collect()
}

fn insert_org(
    db: &dyn Db,
    fields: &OrgFields,
    subscription: &Subscription,
    now: Timestamp,
) -> Result<(Tenant, Organization)> {
    let id = OrgId::generate()?;
    let uuid = Uuid::generate()?;
    let mut params: Vec<Value> = vec![
        id.into(),
        uuid.into(),
        (&fields.name).into(),
        (&fields.descr).into(),
        (&fields.time_zone).into(),
    ];
    params.extend(subscription_params(subscription)?);
    params.push(now.into());
    let rows = db.execute(
        &format!("INSERT INTO orgs ({ORG_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?) RETURNING key"),
        &params,
    )?;
    let key = rows
        .first()
        .ok_or_else(|| Error::Corrupt("INSERT RETURNING gave no row".into()))?
        .i64(0)?;
    let org = Organization {
        id,
        uuid,
        fields: fields.clone(),
        subscription: *subscription,
        created_at: now,
    };
    Ok((Tenant::new(key, id), org))
}

pub(crate) fn insert_membership(
    db: &dyn Db,
    org_key: i64,
    user_key: i64,
    permissions: Permissions,
    now: Timestamp,
) -> Result<()> {
    let rows = db.execute(
        "INSERT INTO memberships (org_key, user_key, permissions, created_at) VALUES (?,?,?,?) \
         ON CONFLICT DO NOTHING RETURNING 1",
        &[
            org_key.into(),
            user_key.into(),
            permissions.bits().into(),
            now.into(),
        ],
    )?;
    if rows.is_empty() {
        return Err(Conflict::AlreadyMember.into());
    }
    Ok(())
}

/// Inserts a user; a taken e-mail address is [`Conflict::EmailTaken`].
pub(crate) fn insert_user(
    db: &dyn Db,
    email: &Email,
    password: &PasswordHash,
    now: Timestamp,
) -> Result<(i64, User)> {
    let id = UserId::generate()?;
    let rows = db.execute(
        "INSERT INTO users (id, email, password_hash, created_at) VALUES (?,?,?,?) \
         ON CONFLICT DO NOTHING RETURNING key",
        &[
            id.into(),
            email.into(),
            password.as_str().into(),
            now.into(),
        ],
    )?;
    // Nothing inserted: the address is taken (the id is random and unique in practice).
    let key = rows.first().ok_or(Conflict::EmailTaken)?.i64(0)?;
    Ok((
        key,
        User {
            id,
            email: email.clone(),
            created_at: now,
        },
    ))
}

/// Sign-up: a new user, a new organization, and the user as its administrator, atomically.
pub fn sign_up(
    db: &dyn Db,
    org: &OrgFields,
    subscription: &Subscription,
    email: &Email,
    password: &PasswordHash,
    now: Timestamp,
) -> Result<(Tenant, Organization, User)> {
    sign_up_under(
        db,
        SignupPolicy::Open,
        org,
        subscription,
        email,
        password,
        now,
    )
}

/// Whether the server has any organization (what [`SignupPolicy::First`] looks at).
pub fn organizations_exist(db: &dyn Db) -> Result<bool> {
    let rows = db.execute("SELECT EXISTS (SELECT 1 FROM orgs)", &[])?;
    rows.first()
        .ok_or_else(|| Error::Corrupt("EXISTS returned no row".into()))?
        .bool(0)
}

/// [`sign_up`] if `policy` allows it, decided inside the transaction that creates the
/// organization, so that two first sign-ups at once make one organization; otherwise
/// [`Conflict::SignupClosed`].
pub fn sign_up_under(
    db: &dyn Db,
    policy: SignupPolicy,
    org: &OrgFields,
    subscription: &Subscription,
    email: &Email,
    password: &PasswordHash,
    now: Timestamp,
) -> Result<(Tenant, Organization, User)> {
    transaction(db, |db| {
        let exist = policy != SignupPolicy::Open && organizations_exist(db)?;
        if !policy.allows(exist) {
            return Err(Conflict::SignupClosed(policy.as_str()).into());
        }
        let (user_key, user) = insert_user(db, email, password, now)?;
        let (tenant, org) = insert_org(db, org, subscription, now)?;
        insert_membership(db, tenant.key, user_key, Permissions::ADMINISTRATOR, now)?;
        Ok((tenant, org, user))
    })
}

/// A further organization, administered by an existing user.
pub fn create_organization(
    db: &dyn Db,
    org: &OrgFields,
    subscription: &Subscription,
    owner: UserId,
    now: Timestamp,
) -> Result<(Tenant, Organization)> {
    transaction(db, |db| {
        let user_key = crate::users::user_key(db, owner)?;
        let (tenant, org) = insert_org(db, org, subscription, now)?;
        insert_membership(db, tenant.key, user_key, Permissions::ADMINISTRATOR, now)?;
        Ok((tenant, org))
    })
}

pub fn organization(db: &dyn Db, tenant: &Tenant) -> Result<Organization> {
    let rows = db.execute(
        &format!("SELECT {ORG_COLS} FROM orgs WHERE key = ?"),
        &[tenant.key.into()],
    )?;
    org_from(&rows.first().ok_or(Error::NotFound(Entity::Organization))?)
}

pub fn update_organization(
    db: &dyn Db,
    tenant: &Tenant,
    fields: &OrgFields,
) -> Result<Organization> {
    let rows = db.execute(
        &format!(
            "UPDATE orgs SET name = ?, descr = ?, time_zone = ? WHERE key = ? RETURNING {ORG_COLS}"
        ),
        &[
            (&fields.name).into(),
            (&fields.descr).into(),
            (&fields.time_zone).into(),
            tenant.key.into(),
        ],
    )?;
    org_from(&rows.first().ok_or(Error::NotFound(Entity::Organization))?)
}

pub fn update_subscription(
    db: &dyn Db,
    tenant: &Tenant,
    subscription: &Subscription,
) -> Result<Organization> {
    let mut params = subscription_params(subscription)?.to_vec();
    params.push(tenant.key.into());
    let rows = db.execute(
        &format!(
            "UPDATE orgs SET points_per_hour = ?, detailed_retention_days = ?, \
             aggregated_retention_days = ?, max_users = ?, notification_emails_per_day = ?, \
             conduit_tier = ?, subscription_expires_at = ? WHERE key = ? RETURNING {ORG_COLS}"
        ),
        &params,
    )?;
    org_from(&rows.first().ok_or(Error::NotFound(Entity::Organization))?)
}

/// Whether the organization's ingestion APIs register a device they do not know on first sight
/// (AlphaX Conduit by network id, InfluxDB `/write`); off until an administrator turns it on.
pub fn auto_registration(db: &dyn Db, tenant: &Tenant) -> Result<bool> {
    let rows = db.execute(
        "SELECT auto_register FROM org_settings WHERE org_key = ?",
        &[tenant.key.into()],
    )?;
    match rows.first() {
        Some(r) => r.bool(0),
        None => Ok(false),
    }
}

pub fn set_auto_registration(db: &dyn Db, tenant: &Tenant, on: bool) -> Result<()> {
    db.execute(
        "INSERT INTO org_settings (org_key, auto_register) VALUES (?, ?) \
         ON CONFLICT (org_key) DO UPDATE SET auto_register = excluded.auto_register",
        &[tenant.key.into(), on.into()],
    )?;
    Ok(())
}
