//! InfluxDB's data model for anyone's data (schema version 15): an organization's databases
//! besides the model's own, series with exactly the tag set their writer sent, the type of each
//! field per measurement (the first written wins), and typed values per (series, field) with
//! nanosecond times. The model's channels keep `points` ([`crate::points`]); the InfluxQL
//! engine reads both through [`crate::QuerySource`].
//!
//! A write of values is checked against the field types it was planned with: a body of known
//! series reads their keys and types, then writes in one statement that checks no series was
//! deleted since (the organization's epoch); a body that creates any writes in one transaction
//! (the database's write lock). A body planned against older types is answered
//! [`LinesWritten::TypesChanged`] and planned again by the caller.

use std::collections::HashMap;

use fieldline_domain::line_protocol::{FieldValue, Line, SeriesIndex};
use fieldline_domain::query::write_plan::{self, stored_fields};
use fieldline_domain::query::{ddl, FieldType, TimeRange, Value as FieldData};
use fieldline_domain::Timestamp;

use crate::counters;
use crate::db::{placeholders, transaction, Db, Value};
use crate::error::{Entity, Error, Result};
use crate::orgs::{subscription_from, Tenant, SUBSCRIPTION_COLS};
use crate::points::{self, IN_CHUNK};

use fieldline_service::ports::{Databases, FieldTypes, InfluxScope, Reservation};
pub use fieldline_service::ports::{GeneralSeries, LinesWritten, StoredFieldType};

/// Rows per `INSERT` of values: six parameters each stays under SQLite's 32766.
const VALUE_CHUNK_ROWS: usize = 5_000;

/// The type's name as the schema stores it (and InfluxDB names it).
pub fn type_name(t: FieldType) -> &'static str {
    match t {
        FieldType::Float => "float",
        FieldType::Integer => "integer",
        FieldType::String => "string",
        FieldType::Boolean => "boolean",
    }
}

fn parse_type(s: &str) -> Result<FieldType> {
    Ok(match s {
        "float" => FieldType::Float,
        "integer" => FieldType::Integer,
        "string" => FieldType::String,
        "boolean" => FieldType::Boolean,
        other => return Err(Error::Corrupt(format!("unknown field type {other:?}"))),
    })
}

/// A tag set as the `series.tags` column holds it: a JSON array of `[key, value]` pairs in the
/// order given (sorted by key, as [`Line::tags`] are).
pub fn encode_tags<K: serde::Serialize, V: serde::Serialize>(tags: &[(K, V)]) -> String {
    serde_json::to_string(tags).unwrap_or_else(|_| "[]".to_owned())
}

pub(crate) fn decode_tags(s: &str) -> Result<Vec<(String, String)>> {
    serde_json::from_str(s).map_err(|e| Error::Corrupt(format!("series tags {s:?}: {e}")))
}

/// What every InfluxDB request reads first, in one statement: the organization's
/// subscription, its databases besides the model's own (oldest first, with their retention
/// policies), and whether `model_database` holds general series beside the channels (a field
/// type is recorded for each general field written).
pub fn influx_scope(db: &dyn Db, tenant: &Tenant, model_database: &str) -> Result<InfluxScope> {
    let rows = db.execute(
        &format!(
            "SELECT {SUBSCRIPTION_COLS}, EXISTS (SELECT 1 FROM measurement_fields m \
             WHERE m.org_key = o.key AND m.database = ?), d.name, d.default_policy, d.policies \
             FROM orgs o LEFT JOIN databases d ON d.org_key = o.key WHERE o.key = ? \
             ORDER BY d.created_at, d.name"
        ),
        &[model_database.into(), tenant.key.into()],
    )?;
    let first = rows.first().ok_or(Error::NotFound(Entity::Organization))?;
    let mut databases = Vec::new();
    for r in rows.iter() {
        let Some(name) = r.opt_text(8)? else { continue };
        let policies = r.text(10)?;
        databases.push(ddl::Database {
            name: name.to_owned(),
            default_retention_policy: r.text(9)?.to_owned(),
            retention_policies: serde_json::from_str(policies)
                .map_err(|e| Error::Corrupt(format!("retention policies {policies:?}: {e}")))?,
        });
    }
    Ok(InfluxScope {
        subscription: subscription_from(&first, 0)?,
        model_general: first.bool(7)?,
        databases,
    })
}

/// Creates a database (created `now`), or stores its changed retention policies.
pub fn store_database(
    db: &dyn Db,
    tenant: &Tenant,
    database: &ddl::Database,
    now: Timestamp,
) -> Result<()> {
    let policies = serde_json::to_string(&database.retention_policies)
        .map_err(|e| Error::Corrupt(format!("retention policies: {e}")))?;
    db.execute(
        "INSERT INTO databases (org_key, name, default_policy, policies, created_at) \
         VALUES (?, ?, ?, ?, ?) ON CONFLICT (org_key, name) DO UPDATE \
         SET default_policy = excluded.default_policy, policies = excluded.policies",
        &[
            tenant.key.into(),
            database.name.as_str().into(),
            database.default_retention_policy.as_str().into(),
            policies.into(),
            now.into(),
        ],
    )?;
    Ok(())
}

/// Drops a database with every series, field type and value of it, at once; `false` when there
/// was none.
pub fn drop_database(db: &dyn Db, tenant: &Tenant, name: &str) -> Result<bool> {
    transaction(db, |db| {
        delete_series_of(db, tenant, name, None)?;
        let rows = db.execute(
            "DELETE FROM databases WHERE org_key = ? AND name = ? RETURNING 1",
            &[tenant.key.into(), name.into()],
        )?;
        Ok(!rows.is_empty())
    })
}

/// `DROP MEASUREMENT`: the measurement's series in `database`, their values and its field
/// types, at once.
pub fn drop_measurement(
    db: &dyn Db,
    tenant: &Tenant,
    database: &str,
    measurement: &str,
) -> Result<()> {
    transaction(db, |db| {
        delete_series_of(db, tenant, database, Some(measurement))
    })
}

/// Deletes the series of `database` (of `measurement` only, when given), their values and the
/// types of their measurements' fields: the statements of a `DROP DATABASE` or `DROP
/// MEASUREMENT`, inside the caller's transaction.
fn delete_series_of(
    db: &dyn Db,
    tenant: &Tenant,
    database: &str,
    measurement: Option<&str>,
) -> Result<()> {
    let mut p: Vec<Value> = vec![tenant.key.into(), database.into()];
    p.extend(measurement.map(Value::from));
    let of = |prefix: &str| {
        let mut c = format!("{prefix}org_key = ? AND {prefix}database = ?");
        if measurement.is_some() {
            c.push_str(&format!(" AND {prefix}measurement = ?"));
        }
        c
    };
    db.execute(
        &format!(
            "DELETE FROM field_values WHERE field_key IN (SELECT f.key FROM series s \
             JOIN series_fields f ON f.series_key = s.key WHERE {})",
            of("s.")
        ),
        &p,
    )?;
    db.execute(
        &format!(
            "DELETE FROM series_fields WHERE series_key IN (SELECT key FROM series WHERE {})",
            of("")
        ),
        &p,
    )?;
    db.execute(&format!("DELETE FROM series WHERE {}", of("")), &p)?;
    db.execute(
        &format!("DELETE FROM measurement_fields WHERE {}", of("")),
        &p,
    )?;
    Ok(())
}

/// `DROP SERIES` and `DELETE`: the values of these fields (keys of the organization's general
/// series) in `range`, then every series of them left without a value, in one transaction.
/// Field types stay, as InfluxDB keeps them.
pub fn delete_values(db: &dyn Db, tenant: &Tenant, fields: &[i64], range: TimeRange) -> Result<()> {
    transaction(db, |db| {
        for chunk in fields.chunks(IN_CHUNK) {
            let mut p: Vec<Value> = vec![range.min.into(), range.max.into(), tenant.key.into()];
            p.extend(chunk.iter().map(|&k| Value::from(k)));
            db.execute(
                &format!(
                    "DELETE FROM field_values WHERE ts >= ? AND ts <= ? AND field_key IN \
                     (SELECT f.key FROM series_fields f JOIN series s ON s.key = f.series_key \
                     WHERE s.org_key = ? AND f.key IN ({}))",
                    placeholders(chunk.len())
                ),
                &p,
            )?;
        }
        for chunk in fields.chunks(IN_CHUNK) {
            let mut p: Vec<Value> = vec![tenant.key.into()];
            p.extend(chunk.iter().map(|&k| Value::from(k)));
            let empty = db.execute(
                &format!(
                    "SELECT DISTINCT f.series_key FROM series_fields f \
                     JOIN series s ON s.key = f.series_key \
                     WHERE s.org_key = ? AND f.key IN ({}) AND NOT EXISTS ( \
                         SELECT 1 FROM series_fields g JOIN field_values v ON v.field_key = g.key \
                         WHERE g.series_key = f.series_key)",
                    placeholders(chunk.len())
                ),
                &p,
            )?;
            let keys: Vec<Value> = empty
                .iter()
                .map(|r| r.i64(0).map(Value::from))
                .collect::<Result<_>>()?;
            if keys.is_empty() {
                continue;
            }
            let list = placeholders(keys.len());
            db.execute(
                &format!("DELETE FROM series_fields WHERE series_key IN ({list})"),
                &keys,
            )?;
            db.execute(&format!("DELETE FROM series WHERE key IN ({list})"), &keys)?;
        }
        Ok(())
    })
}

/// The stored types of the fields of these measurements of `database`.
pub fn field_types(
    db: &dyn Db,
    tenant: &Tenant,
    database: &str,
    measurements: &[&str],
) -> Result<Vec<StoredFieldType>> {
    let mut out = Vec::new();
    for chunk in measurements.chunks(IN_CHUNK) {
        let mut params: Vec<Value> = vec![tenant.key.into(), database.into()];
        params.extend(chunk.iter().map(|m| Value::from(*m)));
        let rows = db.execute(
            &format!(
                "SELECT measurement, field, type FROM measurement_fields \
                 WHERE org_key = ? AND database = ? AND measurement IN ({})",
                placeholders(chunk.len())
            ),
            &params,
        )?;
        for r in rows.iter() {
            out.push(StoredFieldType {
                measurement: r.text(0)?.to_owned(),
                field: r.text(1)?.to_owned(),
                ty: parse_type(r.text(2)?)?,
            });
        }
    }
    Ok(out)
}

/// Writes the lines' values into `database`, recording `new_fields` (the fields the body
/// creates, with their types) and counting `reservation` (the points-per-hour quota, in values)
/// with them: every value, or nothing when the reservation would pass its limit or a field's
/// stored type is not the one the body was planned with (another write stored it since). A
/// value at a time its (series, field) already has replaces it, as in InfluxDB, and the last of
/// a body wins. Fields named `time` are not stored, as InfluxDB skips them.
///
/// A body whose series and fields all exist (most bodies: a writer repeats its series) is
/// written by [`write_known`] in one statement, which shares the host's group commit with
/// concurrent writes; a body that creates any, or that the single statement finds changed, in
/// one transaction.
pub fn write_lines(
    db: &dyn Db,
    tenant: &Tenant,
    database: &str,
    lines: &[&Line],
    new_fields: &[StoredFieldType],
    reservation: Option<&Reservation>,
) -> Result<LinesWritten> {
    if new_fields.is_empty() && !lines.is_empty() {
        if let Some(written) = write_known(db, tenant, database, lines, reservation)? {
            return Ok(written);
        }
    }
    transaction(db, |db| {
        let Some(to_record) = check_types(db, tenant, database, lines, new_fields)? else {
            return Ok(LinesWritten::TypesChanged);
        };
        if let Some(r) = reservation {
            if counters::increment_within(db, &r.key, r.units, r.limit, r.expires_at)?.is_none() {
                return Ok(LinesWritten::OverLimit);
            }
        }
        record_types(db, tenant, database, &to_record)?;
        if lines.is_empty() {
            return Ok(LinesWritten::Written(0));
        }
        let body = BodySeries::of(lines);
        let mut keys = known_series(db, tenant, database, &body.distinct)?;
        register_series(db, tenant, database, &body.distinct, &mut keys)?;
        let series = body.keys(&keys)?;
        let wanted = body.fields_wanted(lines, &series);
        let mut fields = known_fields(db, &wanted)?;
        register_fields(db, &wanted, &mut fields)?;
        let values = ValueRows::of(lines, &body, &series, &fields)?;
        for chunk in values.rows.chunks(VALUE_CHUNK_ROWS) {
            let mut params = Vec::with_capacity(chunk.len() * 6);
            ValueRows::push_params(&mut params, chunk);
            db.execute(&insert_values_sql(chunk.len()), &params)?;
        }
        Ok(LinesWritten::Written(values.len()))
    })
}

/// [`write_lines`] of a body whose series and fields exist already, with the types its values
/// carry (read outside any transaction), in one `INSERT` into `field_values` led by two control
/// rows (schema version 18): the check that no series of the organization was deleted since
/// the reads began (its epoch), and the quota counter. `None` when something is missing or of
/// another type, when the body is larger than one statement, or when the check fails: then
/// the transaction decides.
fn write_known(
    db: &dyn Db,
    tenant: &Tenant,
    database: &str,
    lines: &[&Line],
    reservation: Option<&Reservation>,
) -> Result<Option<LinesWritten>> {
    // First the epoch: a series deleted after this read changes it.
    let rows = db.execute(
        "SELECT coalesce((SELECT epoch FROM general_epochs WHERE org_key = ?), 0)",
        &[tenant.key.into()],
    )?;
    let epoch = rows
        .first()
        .ok_or_else(|| Error::Corrupt("no epoch row".into()))?
        .i64(0)?;
    if check_types(db, tenant, database, lines, &[])?.is_none() {
        return Ok(None);
    }
    let body = BodySeries::of(lines);
    let keys = known_series(db, tenant, database, &body.distinct)?;
    let Ok(series) = body.keys(&keys) else {
        return Ok(None);
    };
    let wanted = body.fields_wanted(lines, &series);
    let fields = known_fields(db, &wanted)?;
    let Ok(values) = ValueRows::of(lines, &body, &series, &fields) else {
        return Ok(None);
    };
    let controls = 1 + usize::from(reservation.is_some());
    if values.len() + controls > VALUE_CHUNK_ROWS {
        return Ok(None);
    }
    let mut params = Vec::with_capacity(6 * (values.len() + controls));
    params.extend([
        Value::Integer(-1),
        Value::Integer(tenant.key),
        Value::Null,
        Value::Integer(epoch),
        Value::Null,
        Value::Null,
    ]);
    if let Some(r) = reservation {
        params.extend([
            Value::Integer(-2),
            Value::saturating(r.units),
            Value::Null,
            Value::saturating(r.limit),
            Value::Text(r.key.clone()),
            r.expires_at.into(),
        ]);
    }
    ValueRows::push_params(&mut params, &values.rows);
    match db.execute(&insert_values_sql(values.len() + controls), &params) {
        Ok(_) => Ok(Some(LinesWritten::Written(values.len()))),
        Err(e) if points::over_limit(&e).is_some() => Ok(Some(LinesWritten::OverLimit)),
        Err(e) if series_changed(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The epoch check's `RAISE`: a series of the organization was deleted since the write read
/// its keys.
fn series_changed(e: &Error) -> bool {
    matches!(e, Error::Backend { message, .. } if message.contains("fieldline-series-changed"))
}

/// The four value columns of a value: one set, the others NULL.
fn columns(v: &FieldValue) -> [Value; 4] {
    match v {
        FieldValue::Float(f) => [Value::Real(*f), Value::Null, Value::Null, Value::Null],
        FieldValue::Integer(i) => [Value::Null, Value::Integer(*i), Value::Null, Value::Null],
        FieldValue::String(s) => [
            Value::Null,
            Value::Null,
            Value::Text(s.clone()),
            Value::Null,
        ],
        FieldValue::Boolean(b) => [
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Integer(i64::from(*b)),
        ],
    }
}

fn insert_values_sql(rows: usize) -> String {
    let mut sql = String::with_capacity(160 + rows * 14);
    sql.push_str("INSERT INTO field_values (field_key, ts, f, i, s, b) VALUES ");
    for i in 0..rows {
        sql.push_str(if i == 0 {
            "(?,?,?,?,?,?)"
        } else {
            ",(?,?,?,?,?,?)"
        });
    }
    sql.push_str(
        " ON CONFLICT (field_key, ts) DO UPDATE SET f = excluded.f, i = excluded.i, \
         s = excluded.s, b = excluded.b",
    );
    sql
}

/// The fields of `new_fields` not stored yet; `None` when a stored type is not the one the body
/// was planned with (a new field stored since with another type, or a line's value of a type
/// other than its field's).
fn check_types<'a>(
    db: &dyn Db,
    tenant: &Tenant,
    database: &str,
    lines: &[&Line],
    new_fields: &'a [StoredFieldType],
) -> Result<Option<Vec<&'a StoredFieldType>>> {
    let mut measurements: Vec<&str> = lines
        .iter()
        .map(|l| &*l.measurement)
        .chain(new_fields.iter().map(|f| f.measurement.as_str()))
        .collect();
    measurements.sort_unstable();
    measurements.dedup();
    let mut known: FieldTypes = field_types(db, tenant, database, &measurements)?
        .into_iter()
        .collect();
    let mut to_record = Vec::new();
    for f in new_fields {
        match known.get(&f.measurement, &f.field) {
            Some(t) if t == f.ty => {}
            Some(_) => return Ok(None),
            None => {
                known.insert(f.clone());
                to_record.push(f);
            }
        }
    }
    // A line with the measurement, field names and value types of the previous line (most
    // lines of a body) passes as that one did.
    let mut previous: Option<&Line> = None;
    for line in lines {
        let same = previous.is_some_and(|p| {
            p.measurement == line.measurement
                && stored_fields(p)
                    .map(|(f, v)| (f, write_plan::field_type(v)))
                    .eq(stored_fields(line).map(|(f, v)| (f, write_plan::field_type(v))))
        });
        if same {
            continue;
        }
        let types = known.of(&line.measurement);
        for (f, v) in stored_fields(line) {
            if types.and_then(|t| t.get(f)) != Some(&write_plan::field_type(v)) {
                return Ok(None);
            }
        }
        previous = Some(line);
    }
    Ok(Some(to_record))
}

/// Stores the types of fields new to their measurement.
fn record_types(
    db: &dyn Db,
    tenant: &Tenant,
    database: &str,
    new: &[&StoredFieldType],
) -> Result<()> {
    for chunk in new.chunks(IN_CHUNK) {
        let mut params: Vec<Value> = Vec::with_capacity(chunk.len() * 5);
        for f in chunk {
            params.extend([
                tenant.key.into(),
                database.into(),
                f.measurement.as_str().into(),
                f.field.as_str().into(),
                type_name(f.ty).into(),
            ]);
        }
        let values = vec!["(?,?,?,?,?)"; chunk.len()].join(",");
        db.execute(
            &format!(
                "INSERT INTO measurement_fields (org_key, database, measurement, field, type) \
                 VALUES {values}"
            ),
            &params,
        )?;
    }
    Ok(())
}

/// A body's distinct series (a body repeats few series over many lines: only those are
/// encoded, sorted and looked up) and the index of each line's series among them.
struct BodySeries<'a> {
    /// Measurement and encoded tags of each distinct series, in order of first appearance.
    distinct: Vec<(&'a str, String)>,
    of_line: Vec<usize>,
    /// Per line, whether it names the fields of its series' previous line again (most lines
    /// of a body do): its (series, field) pairs, and their keys, are that line's.
    repeats: Vec<bool>,
}

impl<'a> BodySeries<'a> {
    fn of(lines: &[&'a Line]) -> Self {
        let mut index = SeriesIndex::default();
        let mut distinct: Vec<(&'a str, String)> = Vec::new();
        let of_line = lines
            .iter()
            .map(|l| {
                let (n, new) = index.number(&l.measurement, &l.tags);
                if new {
                    distinct.push((&l.measurement, encode_tags(&l.tags)));
                }
                n
            })
            .collect::<Vec<usize>>();
        let mut previous: Vec<Option<&Line>> = vec![None; distinct.len()];
        let repeats = lines
            .iter()
            .zip(&of_line)
            .map(|(line, &i)| {
                previous[i].replace(line).is_some_and(|p| {
                    stored_fields(p)
                        .map(|f| f.0)
                        .eq(stored_fields(line).map(|f| f.0))
                })
            })
            .collect();
        BodySeries {
            distinct,
            of_line,
            repeats,
        }
    }

    /// The key of each distinct series, from `keys`; an error when one is missing.
    fn keys(&self, keys: &HashMap<(String, String), i64>) -> Result<Vec<i64>> {
        self.distinct
            .iter()
            .map(|(m, t)| {
                keys.get(&((*m).to_owned(), t.clone()))
                    .copied()
                    .ok_or_else(|| Error::Corrupt("a series was not registered".into()))
            })
            .collect()
    }

    /// The (series, field) pairs the lines write, sorted and deduplicated (from the lines that
    /// do not repeat their series' previous fields).
    fn fields_wanted<'l>(&self, lines: &[&'l Line], series: &[i64]) -> Vec<(i64, &'l str)> {
        let mut wanted: Vec<(i64, &str)> = Vec::new();
        for ((line, &i), _) in lines
            .iter()
            .zip(&self.of_line)
            .zip(&self.repeats)
            .filter(|(_, &repeats)| !repeats)
        {
            wanted.extend(stored_fields(line).map(|(f, _)| (series[i], f)));
        }
        wanted.sort_unstable();
        wanted.dedup();
        wanted
    }
}

/// The keys of the `distinct` series (measurement, encoded tags) that exist, by both.
fn known_series(
    db: &dyn Db,
    tenant: &Tenant,
    database: &str,
    distinct: &[(&str, String)],
) -> Result<HashMap<(String, String), i64>> {
    let mut wanted: Vec<(&str, &str)> = distinct.iter().map(|(m, t)| (*m, t.as_str())).collect();
    wanted.sort_unstable();
    let mut keys: HashMap<(String, String), i64> = HashMap::new();
    for chunk in wanted.chunks(IN_CHUNK / 2) {
        let mut params: Vec<Value> = vec![tenant.key.into(), database.into()];
        let mut ms: Vec<&str> = chunk.iter().map(|(m, _)| *m).collect();
        ms.dedup();
        params.extend(ms.iter().map(|m| Value::from(*m)));
        params.extend(chunk.iter().map(|(_, t)| Value::from(*t)));
        let rows = db.execute(
            &format!(
                "SELECT key, measurement, tags FROM series WHERE org_key = ? AND database = ? \
                 AND measurement IN ({}) AND tags IN ({})",
                placeholders(ms.len()),
                placeholders(chunk.len())
            ),
            &params,
        )?;
        for r in rows.iter() {
            keys.insert((r.text(1)?.to_owned(), r.text(2)?.to_owned()), r.i64(0)?);
        }
    }
    Ok(keys)
}

/// Registers the `distinct` series missing from `keys`, adding their keys to it.
fn register_series(
    db: &dyn Db,
    tenant: &Tenant,
    database: &str,
    distinct: &[(&str, String)],
    keys: &mut HashMap<(String, String), i64>,
) -> Result<()> {
    let mut missing: Vec<(&str, &str)> = distinct
        .iter()
        .filter(|(m, t)| !keys.contains_key(&((*m).to_owned(), t.clone())))
        .map(|(m, t)| (*m, t.as_str()))
        .collect();
    missing.sort_unstable();
    for chunk in missing.chunks(IN_CHUNK) {
        let mut params: Vec<Value> = Vec::with_capacity(chunk.len() * 4);
        for (m, t) in chunk {
            params.extend([tenant.key.into(), database.into(), (*m).into(), (*t).into()]);
        }
        let values = vec!["(?,?,?,?)"; chunk.len()].join(",");
        let rows = db.execute(
            &format!(
                "INSERT INTO series (org_key, database, measurement, tags) VALUES {values} \
                 RETURNING key, measurement, tags"
            ),
            &params,
        )?;
        for r in rows.iter() {
            keys.insert((r.text(1)?.to_owned(), r.text(2)?.to_owned()), r.i64(0)?);
        }
    }
    Ok(())
}

/// The keys of the `wanted` (series, field) pairs (sorted, distinct) that exist.
fn known_fields<'a>(
    db: &dyn Db,
    wanted: &[(i64, &'a str)],
) -> Result<HashMap<(i64, &'a str), i64>> {
    let mut series: Vec<i64> = wanted.iter().map(|(s, _)| *s).collect();
    series.dedup();
    let mut keys: HashMap<(i64, &'a str), i64> = HashMap::new();
    for chunk in series.chunks(IN_CHUNK) {
        let rows = db.execute(
            &format!(
                "SELECT key, series_key, field FROM series_fields WHERE series_key IN ({})",
                placeholders(chunk.len())
            ),
            &chunk.iter().map(|&k| Value::Integer(k)).collect::<Vec<_>>(),
        )?;
        for r in rows.iter() {
            let s = r.i64(1)?;
            let f = r.text(2)?;
            if let Ok(i) = wanted.binary_search_by(|(ws, wf)| (*ws, *wf).cmp(&(s, f))) {
                keys.insert(wanted[i], r.i64(0)?);
            }
        }
    }
    Ok(keys)
}

/// Registers the `wanted` (series, field) pairs (sorted, distinct) missing from `keys`, adding
/// their keys to it.
fn register_fields<'a>(
    db: &dyn Db,
    wanted: &[(i64, &'a str)],
    keys: &mut HashMap<(i64, &'a str), i64>,
) -> Result<()> {
    let missing: Vec<(i64, &str)> = wanted
        .iter()
        .copied()
        .filter(|w| !keys.contains_key(w))
        .collect();
    for chunk in missing.chunks(IN_CHUNK) {
        let mut params: Vec<Value> = Vec::with_capacity(chunk.len() * 2);
        for (s, f) in chunk {
            params.extend([Value::Integer(*s), Value::from(*f)]);
        }
        let values = vec!["(?,?)"; chunk.len()].join(",");
        let rows = db.execute(
            &format!(
                "INSERT INTO series_fields (series_key, field) VALUES {values} \
                 RETURNING key, series_key, field"
            ),
            &params,
        )?;
        for r in rows.iter() {
            let s = r.i64(1)?;
            let f = r.text(2)?;
            if let Ok(i) = missing.binary_search_by(|(ms, mf)| (*ms, *mf).cmp(&(s, f))) {
                keys.insert(missing[i], r.i64(0)?);
            }
        }
    }
    Ok(())
}

/// A body's values, one per (field key, time): the last of the body wins. Sorted by field key,
/// then time, so that the database inserts each field's values next to each other.
struct ValueRows<'l> {
    rows: Vec<(i64, i64, &'l FieldValue)>,
}

impl<'l> ValueRows<'l> {
    /// An error when a (series, field) of the lines has no key in `fields`.
    fn of(
        lines: &[&'l Line],
        body: &BodySeries<'_>,
        series: &[i64],
        fields: &HashMap<(i64, &str), i64>,
    ) -> Result<Self> {
        let values = lines.iter().map(|l| l.fields.len()).sum();
        let mut rows: Vec<(i64, i64, &FieldValue)> = Vec::with_capacity(values);
        // Per distinct series, the field keys of its latest line: a line that repeats them takes
        // them without looking each one up.
        let mut keys_of: Vec<Vec<i64>> = vec![Vec::new(); series.len()];
        for ((line, &i), &repeats) in lines.iter().zip(&body.of_line).zip(&body.repeats) {
            if !repeats {
                keys_of[i] = stored_fields(line)
                    .map(|(f, _)| {
                        fields
                            .get(&(series[i], f))
                            .copied()
                            .ok_or_else(|| Error::Corrupt("a field was not registered".into()))
                    })
                    .collect::<Result<Vec<i64>>>()?;
            }
            for (&key, (_, v)) in keys_of[i].iter().zip(stored_fields(line)) {
                rows.push((key, line.timestamp_ns, v));
            }
        }
        // Stable: the values of one (field, time) stay in body order, the last of each run wins.
        rows.sort_by_key(|&(key, ts, _)| (key, ts));
        let mut kept: Vec<(i64, i64, &FieldValue)> = Vec::with_capacity(rows.len());
        for row in rows {
            match kept.last_mut() {
                Some(last) if (last.0, last.1) == (row.0, row.1) => *last = row,
                _ => kept.push(row),
            }
        }
        Ok(ValueRows { rows: kept })
    }

    fn len(&self) -> usize {
        self.rows.len()
    }

    /// The six parameters of each of `rows`: field key, time and the value columns.
    fn push_params(params: &mut Vec<Value>, rows: &[(i64, i64, &FieldValue)]) {
        for &(key, ts, v) in rows {
            params.push(Value::Integer(key));
            params.push(Value::Integer(ts));
            params.extend(columns(v));
        }
    }
}

/// The series of `database` (of these measurements), each with its fields and their types,
/// ordered by measurement, then tags.
pub fn list_series(
    db: &dyn Db,
    tenant: &Tenant,
    database: &str,
    measurements: Option<&[String]>,
) -> Result<Vec<GeneralSeries>> {
    let mut sql = String::from(
        "SELECT s.key, s.measurement, s.tags, f.key, f.field, t.type FROM series s \
         JOIN series_fields f ON f.series_key = s.key \
         JOIN measurement_fields t ON t.org_key = s.org_key AND t.database = s.database \
             AND t.measurement = s.measurement AND t.field = f.field \
         WHERE s.org_key = ? AND s.database = ?",
    );
    let mut params: Vec<Value> = vec![tenant.key.into(), database.into()];
    if let Some(names) = measurements {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        sql.push_str(&format!(
            " AND s.measurement IN ({})",
            placeholders(names.len())
        ));
        params.extend(names.iter().map(|n| Value::from(n.as_str())));
    }
    sql.push_str(" ORDER BY s.key, f.field");
    let rows = db.execute(&sql, &params)?;
    let mut out: Vec<GeneralSeries> = Vec::new();
    let mut last = None;
    for r in rows.iter() {
        let key = r.i64(0)?;
        if last != Some(key) {
            last = Some(key);
            out.push(GeneralSeries {
                measurement: r.text(1)?.to_owned(),
                tags: decode_tags(r.text(2)?)?,
                fields: Vec::new(),
            });
        }
        if let Some(s) = out.last_mut() {
            s.fields
                .push((r.text(4)?.to_owned(), parse_type(r.text(5)?)?, r.i64(3)?));
        }
    }
    out.sort_by(|a, b| (&a.measurement, &a.tags).cmp(&(&b.measurement, &b.tags)));
    Ok(out)
}

/// The condition that a field key belongs to the organization (parameters: key, organization).
const FIELD_OF_ORG: &str = "EXISTS (SELECT 1 FROM series_fields f JOIN series s \
    ON s.key = f.series_key WHERE f.key = ? AND s.org_key = ?)";

/// The values of one field in `range`, oldest first (newest first when `desc`), at most
/// `limit`, typed as `ty`.
pub fn values(
    db: &dyn Db,
    tenant: &Tenant,
    field: i64,
    ty: FieldType,
    range: TimeRange,
    desc: bool,
    limit: Option<usize>,
) -> Result<Vec<(i64, FieldData)>> {
    let column = match ty {
        FieldType::Float => "f",
        FieldType::Integer => "i",
        FieldType::String => "s",
        FieldType::Boolean => "b",
    };
    // No limit: the largest one (PostgreSQL refuses the -1 SQLite reads as none).
    let limit = limit.map_or(i64::MAX, |l| i64::try_from(l).unwrap_or(i64::MAX));
    let rows = db.execute(
        &format!(
            "SELECT ts, {column} FROM field_values WHERE field_key = ? AND ts >= ? AND ts <= ? \
             AND {column} IS NOT NULL AND {FIELD_OF_ORG} ORDER BY ts {} LIMIT ?",
            if desc { "DESC" } else { "ASC" }
        ),
        &[
            field.into(),
            range.min.into(),
            range.max.into(),
            field.into(),
            tenant.key.into(),
            limit.into(),
        ],
    )?;
    rows.iter()
        .map(|r| {
            let ts = r.i64(0)?;
            Ok((
                ts,
                match ty {
                    FieldType::Float => FieldData::Float(r.f64(1)?),
                    FieldType::Integer => FieldData::Integer(r.i64(1)?),
                    FieldType::String => FieldData::String(r.text(1)?.to_owned()),
                    FieldType::Boolean => FieldData::Boolean(r.i64(1)? != 0),
                },
            ))
        })
        .collect()
}

/// Retention, one bounded batch: deletes up to `batch` of the organization's values older than
/// `before_ns`; returns how many.
pub fn delete_expired(db: &dyn Db, tenant: &Tenant, before_ns: i64, batch: usize) -> Result<usize> {
    let batch = i64::try_from(batch).unwrap_or(i64::MAX);
    Ok(db
        .execute(
            "DELETE FROM field_values WHERE (field_key, ts) IN ( \
                SELECT v.field_key, v.ts FROM series s \
                JOIN series_fields f ON f.series_key = s.key \
                JOIN field_values v ON v.field_key = f.key AND v.ts < ?2 \
                WHERE s.org_key = ?1 LIMIT ?3) RETURNING 1",
            &[tenant.key.into(), before_ns.into(), batch.into()],
        )?
        .len())
}

impl<D: Db> Databases for crate::SqlStore<D> {
    fn influx_scope(&self, tenant: &Tenant, model_database: &str) -> Result<InfluxScope> {
        influx_scope(&self.0, tenant, model_database)
    }

    fn store_database(
        &self,
        tenant: &Tenant,
        database: &ddl::Database,
        now: Timestamp,
    ) -> Result<()> {
        store_database(&self.0, tenant, database, now)
    }

    fn drop_database(&self, tenant: &Tenant, name: &str) -> Result<bool> {
        drop_database(&self.0, tenant, name)
    }

    fn drop_measurement(&self, tenant: &Tenant, database: &str, measurement: &str) -> Result<()> {
        drop_measurement(&self.0, tenant, database, measurement)
    }

    fn delete_values(&self, tenant: &Tenant, fields: &[i64], range: TimeRange) -> Result<()> {
        delete_values(&self.0, tenant, fields, range)
    }

    fn field_types(
        &self,
        tenant: &Tenant,
        database: &str,
        measurements: &[&str],
    ) -> Result<Vec<StoredFieldType>> {
        field_types(&self.0, tenant, database, measurements)
    }

    fn write_lines(
        &self,
        tenant: &Tenant,
        database: &str,
        lines: &[&Line],
        new_fields: &[StoredFieldType],
        reservation: Option<&Reservation>,
    ) -> Result<LinesWritten> {
        write_lines(&self.0, tenant, database, lines, new_fields, reservation)
    }

    fn delete_expired_values(
        &self,
        tenant: &Tenant,
        before: Timestamp,
        batch: usize,
    ) -> Result<usize> {
        delete_expired(
            &self.0,
            tenant,
            before.as_millis().saturating_mul(1_000_000),
            batch,
        )
    }
}
