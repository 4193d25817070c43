//! Hexastate's topic subscriptions, do-not-disturb periods and the e-mails they hold
//! ([`fieldline_service::ports::Alarms`]; schema, "topic subscriptions and do-not-disturb").

use fieldline_domain::topics::{Kinds, QuietHours, Scope, TopicSubscription};
use fieldline_domain::{ChannelId, DeviceId, Email, OrgId, Timestamp, UserId};
use fieldline_service::ports::{
    NewTopicSubscription, Subscriber, TopicSubscriptionView, TopicTarget,
};

use crate::db::{transaction, Db, Value};
use crate::error::{Entity, Error, Result};
use crate::orgs::Tenant;

/// The member's user key (they must be a member of the organization).
fn member_key(db: &dyn Db, tenant: &Tenant, user: UserId) -> Result<i64> {
    db.execute(
        "SELECT u.key FROM users u JOIN memberships m ON m.user_key = u.key \
         WHERE u.id = ? AND m.org_key = ?",
        &[user.into(), tenant.key.into()],
    )?
    .first()
    .ok_or(Error::NotFound(Entity::Member))?
    .i64(0)
}

fn quiet_from(json: Option<&str>) -> Result<QuietHours> {
    match json {
        None => Ok(QuietHours::default()),
        Some(s) => serde_json::from_str(s).map_err(|e| Error::Corrupt(format!("quiet hours: {e}"))),
    }
}

fn scope_from(scope: &str, target: Option<i64>) -> Result<Scope> {
    match (scope, target) {
        ("org", _) => Ok(Scope::Organization),
        ("device", Some(k)) => Ok(Scope::Device(k)),
        ("channel", Some(k)) => Ok(Scope::Channel(k)),
        (s, t) => Err(Error::Corrupt(format!("subscription scope {s} {t:?}"))),
    }
}

fn kinds_from(bits: i64) -> Result<Kinds> {
    u8::try_from(bits)
        .map(Kinds::from_bits)
        .map_err(|e| Error::Corrupt(format!("subscription kinds: {e}")))
}

pub fn subscribers(db: &dyn Db, org_key: i64) -> Result<Vec<Subscriber>> {
    let rows = db.execute(
        "SELECT s.user_key, s.scope, s.target_key, s.kinds, s.email, u.id, u.email, q.settings \
         FROM notification_subscriptions s \
         JOIN memberships m ON m.org_key = s.org_key AND m.user_key = s.user_key \
         JOIN users u ON u.key = s.user_key \
         LEFT JOIN notification_quiet_hours q ON q.org_key = s.org_key AND q.user_key = s.user_key \
         WHERE s.org_key = ? ORDER BY s.key",
        &[org_key.into()],
    )?;
    rows.iter()
        .map(|r| {
            Ok(Subscriber {
                subscription: TopicSubscription {
                    user_key: r.i64(0)?,
                    scope: scope_from(r.text(1)?, r.opt_i64(2)?)?,
                    kinds: kinds_from(r.i64(3)?)?,
                    email: r.bool(4)?,
                },
                user_id: r.parse(5, UserId::parse)?,
                email: r.parse(6, Email::parse)?,
                quiet: quiet_from(r.opt_text(7)?)?,
            })
        })
        .collect()
}

const VIEW: &str = "SELECT s.key, s.scope, d.id, c.id, s.kinds, s.email, s.created_at \
     FROM notification_subscriptions s \
     LEFT JOIN devices d ON s.scope = 'device' AND d.key = s.target_key \
     LEFT JOIN channels c ON s.scope = 'channel' AND c.key = s.target_key";

fn view_from(r: &crate::db::Row<'_>) -> Result<TopicSubscriptionView> {
    let target = match r.text(1)? {
        "org" => TopicTarget::Organization,
        "device" => TopicTarget::Device(r.parse(2, DeviceId::parse)?),
        "channel" => TopicTarget::Channel(r.parse(3, ChannelId::parse)?),
        other => return Err(Error::Corrupt(format!("subscription scope {other}"))),
    };
    Ok(TopicSubscriptionView {
        id: r.i64(0)?,
        target,
        kinds: kinds_from(r.i64(4)?)?,
        email: r.bool(5)?,
        created_at: r.ts(6)?,
    })
}

pub fn topic_subscriptions(
    db: &dyn Db,
    tenant: &Tenant,
    user: UserId,
) -> Result<Vec<TopicSubscriptionView>> {
    let user_key = member_key(db, tenant, user)?;
    let rows = db.execute(
        &format!("{VIEW} WHERE s.org_key = ? AND s.user_key = ? ORDER BY s.key"),
        &[tenant.key.into(), user_key.into()],
    )?;
    rows.iter().map(|r| view_from(&r)).collect()
}

/// Subscriptions per member and organization, at most.
pub const MAX_SUBSCRIPTIONS: i64 = 500;

pub fn add_topic_subscription(
    db: &dyn Db,
    tenant: &Tenant,
    user: UserId,
    topic: &NewTopicSubscription,
    now: Timestamp,
) -> Result<TopicSubscriptionView> {
    transaction(db, |db| {
        let user_key = member_key(db, tenant, user)?;
        let (scope, target) = match &topic.target {
            TopicTarget::Organization => ("org", Value::Null),
            TopicTarget::Device(id) => (
                "device",
                Value::Integer(crate::devices::device_key(db, tenant, *id)?),
            ),
            TopicTarget::Channel(id) => (
                "channel",
                Value::Integer(crate::devices::channel_ref(db, tenant, *id)?.key),
            ),
        };
        let count = db
            .execute(
                "SELECT count(*) FROM notification_subscriptions WHERE org_key = ? AND user_key = ?",
                &[tenant.key.into(), user_key.into()],
            )?
            .first()
            .ok_or_else(|| Error::Corrupt("count(*) gave no row".into()))?
            .i64(0)?;
        if count >= MAX_SUBSCRIPTIONS {
            return Err(Error::TooLarge(format!(
                "at most {MAX_SUBSCRIPTIONS} subscriptions per member"
            )));
        }
        let key = db
            .execute(
                "INSERT INTO notification_subscriptions (org_key, user_key, scope, target_key, \
                 kinds, email, created_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING key",
                &[
                    tenant.key.into(),
                    user_key.into(),
                    scope.into(),
                    target,
                    i64::from(topic.kinds.bits()).into(),
                    topic.email.into(),
                    now.into(),
                ],
            )?
            .first()
            .ok_or_else(|| Error::Corrupt("INSERT RETURNING gave no row".into()))?
            .i64(0)?;
        let rows = db.execute(&format!("{VIEW} WHERE s.key = ?"), &[key.into()])?;
        view_from(
            &rows
                .first()
                .ok_or(Error::NotFound(Entity::TopicSubscription))?,
        )
    })
}

pub fn delete_topic_subscription(
    db: &dyn Db,
    tenant: &Tenant,
    user: UserId,
    id: i64,
) -> Result<()> {
    let rows = db.execute(
        "DELETE FROM notification_subscriptions WHERE key = ? AND org_key = ? \
         AND user_key = (SELECT key FROM users WHERE id = ?) RETURNING 1",
        &[id.into(), tenant.key.into(), user.into()],
    )?;
    if rows.is_empty() {
        return Err(Error::NotFound(Entity::TopicSubscription));
    }
    Ok(())
}

pub fn quiet_hours(db: &dyn Db, tenant: &Tenant, user: UserId) -> Result<QuietHours> {
    let user_key = member_key(db, tenant, user)?;
    let rows = db.execute(
        "SELECT settings FROM notification_quiet_hours WHERE org_key = ? AND user_key = ?",
        &[tenant.key.into(), user_key.into()],
    )?;
    quiet_from(rows.first().map(|r| r.text(0)).transpose()?)
}

pub fn set_quiet_hours(
    db: &dyn Db,
    tenant: &Tenant,
    user: UserId,
    quiet: &QuietHours,
) -> Result<()> {
    let user_key = member_key(db, tenant, user)?;
    let json = serde_json::to_string(quiet).map_err(|e| Error::Corrupt(e.to_string()))?;
    db.execute(
        "INSERT INTO notification_quiet_hours (org_key, user_key, settings) VALUES (?, ?, ?) \
         ON CONFLICT (org_key, user_key) DO UPDATE SET settings = excluded.settings",
        &[tenant.key.into(), user_key.into(), json.into()],
    )?;
    Ok(())
}

pub fn hold_mail(
    db: &dyn Db,
    org_key: i64,
    user_key: i64,
    release_at: Timestamp,
    mail: &str,
    now: Timestamp,
) -> Result<()> {
    db.execute(
        "INSERT INTO held_mails (org_key, user_key, release_at, mail, created_at) \
         VALUES (?, ?, ?, ?, ?)",
        &[
            org_key.into(),
            user_key.into(),
            release_at.into(),
            mail.into(),
            now.into(),
        ],
    )?;
    Ok(())
}

pub fn members_with_released_mail(
    db: &dyn Db,
    now: Timestamp,
    n: usize,
) -> Result<Vec<(Tenant, i64)>> {
    db.execute(
        "SELECT h.org_key, o.id, h.user_key FROM held_mails h JOIN orgs o ON o.key = h.org_key \
         WHERE h.release_at <= ? GROUP BY h.org_key, o.id, h.user_key ORDER BY min(h.release_at) \
         LIMIT ?",
        &[
            now.into(),
            Value::Integer(i64::try_from(n).unwrap_or(i64::MAX)),
        ],
    )?
    .iter()
    .map(|r| Ok((Tenant::new(r.i64(0)?, r.parse(1, OrgId::parse)?), r.i64(2)?)))
    .collect()
}

pub fn take_released_mail(
    db: &dyn Db,
    org_key: i64,
    user_key: i64,
    now: Timestamp,
) -> Result<Vec<(i64, String)>> {
    let mut out: Vec<(i64, String)> = db
        .execute(
            "DELETE FROM held_mails WHERE org_key = ? AND user_key = ? AND release_at <= ? \
             RETURNING key, mail",
            &[org_key.into(), user_key.into(), now.into()],
        )?
        .iter()
        .map(|r| Ok((r.i64(0)?, r.text(1)?.to_owned())))
        .collect::<Result<_>>()?;
    out.sort_by_key(|(k, _)| *k);
    Ok(out)
}
