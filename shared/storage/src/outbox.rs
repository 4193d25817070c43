//! The outbox ([`fieldline_service::ports::Outbox`]): messages for the e-mail and broker
//! senders, leased to one sender at a time, kept until they are delivered.

use fieldline_domain::{OrgId, Timestamp};
use fieldline_service::OutboxMessage;

use crate::db::{Db, Row};
use crate::error::{Entity, Error, Result};
use crate::orgs::Tenant;

/// Adds a message unless its idempotency key is there already; `true` when added.
pub fn enqueue(
    db: &dyn Db,
    tenant: &Tenant,
    topic: &str,
    idempotency_key: &str,
    payload: &str,
    now: Timestamp,
) -> Result<bool> {
    let rows = db.execute(
        "INSERT INTO outbox (org_key, topic, idempotency_key, payload, created_at, \
         next_attempt_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING key",
        &[
            tenant.key.into(),
            topic.into(),
            idempotency_key.into(),
            payload.into(),
            now.into(),
            now.into(),
        ],
    )?;
    Ok(!rows.is_empty())
}

fn message_from(r: &Row<'_>) -> Result<OutboxMessage> {
    Ok(OutboxMessage {
        id: r.i64(0)?,
        org: r.parse(1, OrgId::parse)?,
        topic: r.text(2)?.to_owned(),
        idempotency_key: r.text(3)?.to_owned(),
        payload: r.text(4)?.to_owned(),
        attempts: r.u32(5)?,
        created_at: r.ts(6)?,
    })
}

/// Leases up to `limit` due messages of `topic`, oldest first, in one statement (so two
/// senders never take the same one).
pub fn claim(
    db: &dyn Db,
    topic: &str,
    now: Timestamp,
    lease_until: Timestamp,
    limit: usize,
) -> Result<Vec<OutboxMessage>> {
    let mut out = lease(
        db,
        "SELECT key FROM outbox WHERE topic = ?2 AND sent_at IS NULL AND next_attempt_at <= ?3 \
         ORDER BY next_attempt_at, key LIMIT ?4",
        topic,
        now,
        lease_until,
        limit,
    )?;
    // RETURNING gives no order: oldest first, as the lease took them.
    out.sort_by_key(|m| (m.created_at, m.id));
    Ok(out)
}

/// Leases the messages `selection` picks (a `SELECT key` over `outbox` with the parameters ?2
/// topic, ?3 now and ?4 limit) until `lease_until` (?1), in one statement; in no order.
pub(crate) fn lease(
    db: &dyn Db,
    selection: &str,
    topic: &str,
    now: Timestamp,
    lease_until: Timestamp,
    limit: usize,
) -> Result<Vec<OutboxMessage>> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    // PostgreSQL: lock what is taken and skip what another replica is taking, so that two
    // concurrent senders never lease one message (READ COMMITTED would let both select it).
    let selection = match db.dialect() {
        crate::db::Dialect::Sqlite => selection.to_owned(),
        crate::db::Dialect::Postgres => format!("{selection} FOR UPDATE SKIP LOCKED"),
    };
    let rows = db.execute(
        &format!(
            "UPDATE outbox SET next_attempt_at = ?1, attempts = attempts + 1 WHERE key IN \
             ({selection}) RETURNING key, (SELECT id FROM orgs WHERE orgs.key = outbox.org_key), \
             topic, idempotency_key, payload, attempts, created_at"
        ),
        &[lease_until.into(), topic.into(), now.into(), limit.into()],
    )?;
    rows.iter().map(|r| message_from(&r)).collect()
}

fn one(db: &dyn Db, sql: &str, params: &[crate::db::Value]) -> Result<()> {
    if db.execute(sql, params)?.is_empty() {
        return Err(Error::NotFound(Entity::OutboxMessage));
    }
    Ok(())
}

pub fn mark_sent(db: &dyn Db, id: i64, now: Timestamp) -> Result<()> {
    one(
        db,
        "UPDATE outbox SET sent_at = ?, last_error = NULL WHERE key = ? RETURNING key",
        &[now.into(), id.into()],
    )
}

pub fn retry_later(db: &dyn Db, id: i64, retry_at: Timestamp, error: &str) -> Result<()> {
    one(
        db,
        "UPDATE outbox SET next_attempt_at = ?, last_error = ? WHERE key = ? AND sent_at IS NULL \
         RETURNING key",
        &[retry_at.into(), error.into(), id.into()],
    )
}

/// Unsent messages of `topic` and the oldest one's creation time.
pub fn backlog(db: &dyn Db, topic: &str) -> Result<(u64, Option<Timestamp>)> {
    let rows = db.execute(
        "SELECT count(*), min(created_at) FROM outbox WHERE topic = ? AND sent_at IS NULL",
        &[topic.into()],
    )?;
    let r = rows
        .first()
        .ok_or_else(|| Error::Corrupt("count(*) gave no row".into()))?;
    Ok((r.u64(0)?, r.opt_ts(1)?))
}

/// Deletes up to `limit` delivered messages of `topic` sent before `sent_before`.
pub fn purge_sent(db: &dyn Db, topic: &str, sent_before: Timestamp, limit: usize) -> Result<usize> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    Ok(db
        .execute(
            "DELETE FROM outbox WHERE key IN (SELECT key FROM outbox WHERE topic = ? \
             AND sent_at IS NOT NULL AND sent_at < ? LIMIT ?) RETURNING 1",
            &[topic.into(), sent_before.into(), limit.into()],
        )?
        .len())
}
