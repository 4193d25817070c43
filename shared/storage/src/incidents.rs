//! Incidents: deviations of a channel, open until they end.

use fieldline_domain::alarm::ConditionKey;
use fieldline_domain::{
    ChannelId, DeviationType, Incident, IncidentKind, NewIncident, Timestamp, Unit,
};
use fieldline_service::ports::IncidentFilter;

use crate::db::{Db, Row};
use crate::devices::ChannelRef;
use crate::error::{Conflict, Entity, Error, Result};
use crate::orgs::Tenant;

const INCIDENT_SELECT: &str = "SELECT i.key, c.id, i.kind, i.deviation, i.limit_value, \
    i.measurement, i.unit, i.start_at, i.end_at, i.confirm1_at, i.confirm2_at \
    FROM incidents i JOIN channels c ON c.key = i.channel_key";

fn incident_from(r: &Row<'_>) -> Result<Incident> {
    let kind = r.text(2)?;
    let deviation = r.opt_text(3)?;
    Ok(Incident {
        id: r.i64(0)?,
        channel: r.parse(1, ChannelId::parse)?,
        opened: NewIncident {
            kind: IncidentKind::parse(kind)
                .ok_or_else(|| Error::Corrupt(format!("incident kind {kind:?}")))?,
            deviation: deviation
                .map(|d| {
                    DeviationType::parse(d)
                        .ok_or_else(|| Error::Corrupt(format!("deviation type {d:?}")))
                })
                .transpose()?,
            limit: r.opt_f64(4)?,
            measurement: r.opt_f64(5)?,
            unit: r.parse(6, Unit::parse)?,
            start: r.ts(7)?,
        },
        end: r.opt_ts(8)?,
        confirm1: r.opt_ts(9)?,
        confirm2: r.opt_ts(10)?,
    })
}

/// The stored name of a condition (`incidents.condition`).
pub fn condition_name(c: ConditionKey) -> String {
    format!("{c:?}")
}

pub fn open_incident(
    db: &dyn Db,
    tenant: &Tenant,
    channel: ChannelRef,
    new: &NewIncident,
) -> Result<Incident> {
    open_condition_incident(db, tenant, channel, None, new)
}

/// Opens an incident of `condition` (the engine's) on a channel.
pub fn open_condition_incident(
    db: &dyn Db,
    tenant: &Tenant,
    channel: ChannelRef,
    condition: Option<ConditionKey>,
    new: &NewIncident,
) -> Result<Incident> {
    channel.check(tenant)?;
    let key = db
        .execute(
            "INSERT INTO incidents (org_key, channel_key, kind, deviation, limit_value, \
             measurement, unit, start_at, condition) VALUES (?,?,?,?,?,?,?,?,?) RETURNING key",
            &[
                tenant.key.into(),
                channel.key.into(),
                new.kind.as_str().into(),
                new.deviation.map(|d| d.as_str()).into(),
                new.limit.into(),
                new.measurement.into(),
                (&new.unit).into(),
                new.start.into(),
                condition.map(condition_name).into(),
            ],
        )?
        .first()
        .ok_or_else(|| Error::Corrupt("INSERT RETURNING gave no row".into()))?
        .i64(0)?;
    incident(db, tenant, key)
}

pub fn incident(db: &dyn Db, tenant: &Tenant, id: i64) -> Result<Incident> {
    let rows = db.execute(
        &format!("{INCIDENT_SELECT} WHERE i.org_key = ? AND i.key = ?"),
        &[tenant.key.into(), id.into()],
    )?;
    incident_from(&rows.first().ok_or(Error::NotFound(Entity::Incident))?)
}

/// The open incident of this kind on a channel, if any (so an alarm is raised once).
pub fn active_incident(
    db: &dyn Db,
    tenant: &Tenant,
    channel: ChannelRef,
    kind: IncidentKind,
) -> Result<Option<Incident>> {
    channel.check(tenant)?;
    let rows = db.execute(
        &format!(
            "{INCIDENT_SELECT} WHERE i.org_key = ? AND i.channel_key = ? AND i.kind = ? \
             AND i.end_at IS NULL ORDER BY i.key DESC LIMIT 1"
        ),
        &[tenant.key.into(), channel.key.into(), kind.as_str().into()],
    )?;
    rows.first().map(|r| incident_from(&r)).transpose()
}

/// The open incident of `condition` on a channel, if any.
pub fn active_condition_incident(
    db: &dyn Db,
    tenant: &Tenant,
    channel: ChannelRef,
    condition: ConditionKey,
) -> Result<Option<Incident>> {
    channel.check(tenant)?;
    let rows = db.execute(
        &format!(
            "{INCIDENT_SELECT} WHERE i.org_key = ? AND i.channel_key = ? AND i.condition = ? \
             AND i.end_at IS NULL ORDER BY i.key DESC LIMIT 1"
        ),
        &[
            tenant.key.into(),
            channel.key.into(),
            condition_name(condition).into(),
        ],
    )?;
    rows.first().map(|r| incident_from(&r)).transpose()
}

/// The organization's incidents that `filter` selects, newest first.
pub fn filter_incidents(
    db: &dyn Db,
    tenant: &Tenant,
    filter: &IncidentFilter,
) -> Result<Vec<Incident>> {
    let rows = db.execute(
        &format!(
            "{INCIDENT_SELECT} JOIN devices d ON d.key = c.device_key \
             WHERE i.org_key = ?1 \
             AND (?2 IS NULL OR (?2 = 1) = (i.end_at IS NULL)) \
             AND (?3 IS NULL OR i.kind = ?3) AND (?4 IS NULL OR d.id = ?4) \
             AND (?5 IS NULL OR c.id = ?5) \
             ORDER BY i.start_at DESC, i.key DESC LIMIT ?6"
        ),
        &[
            tenant.key.into(),
            filter.active.into(),
            filter.kind.map(IncidentKind::as_str).into(),
            filter.device.map(|d| d.as_str().to_owned()).into(),
            filter.channel.map(|c| c.as_str().to_owned()).into(),
            i64::try_from(filter.limit).unwrap_or(i64::MAX).into(),
        ],
    )?;
    rows.iter().map(|r| incident_from(&r)).collect()
}

/// The organization's incidents, newest first.
pub fn list_incidents(
    db: &dyn Db,
    tenant: &Tenant,
    active_only: bool,
    limit: usize,
) -> Result<Vec<Incident>> {
    let rows = db.execute(
        &format!(
            "{INCIDENT_SELECT} WHERE i.org_key = ? AND (? = 0 OR i.end_at IS NULL) \
             ORDER BY i.start_at DESC, i.key DESC LIMIT ?"
        ),
        &[
            tenant.key.into(),
            active_only.into(),
            i64::try_from(limit).unwrap_or(i64::MAX).into(),
        ],
    )?;
    rows.iter().map(|r| incident_from(&r)).collect()
}

pub fn close_incident(db: &dyn Db, tenant: &Tenant, id: i64, end: Timestamp) -> Result<Incident> {
    let rows = db.execute(
        "UPDATE incidents SET end_at = coalesce(end_at, ?) WHERE org_key = ? AND key = ? \
         RETURNING key",
        &[end.into(), tenant.key.into(), id.into()],
    )?;
    if rows.is_empty() {
        return Err(Error::NotFound(Entity::Incident));
    }
    incident(db, tenant, id)
}

/// Records a person's confirmation: the first fills `confirm1`, the second `confirm2`; a third
/// changes nothing and is a conflict.
pub fn confirm_incident(db: &dyn Db, tenant: &Tenant, id: i64, at: Timestamp) -> Result<Incident> {
    let before = incident(db, tenant, id)?;
    if before.confirm2.is_some() {
        return Err(Error::Conflict(Conflict::AlreadyConfirmed));
    }
    db.execute(
        "UPDATE incidents SET \
             confirm2_at = CASE WHEN confirm1_at IS NOT NULL THEN coalesce(confirm2_at, ?1) END, \
             confirm1_at = coalesce(confirm1_at, ?1) \
         WHERE org_key = ?2 AND key = ?3 RETURNING key",
        &[at.into(), tenant.key.into(), id.into()],
    )?;
    incident(db, tenant, id)
}
