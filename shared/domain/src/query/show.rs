//! The `SHOW` statements Grafana and the `influx` CLI send: databases, retention policies,
//! measurements, tag keys and values, field keys, series.

use std::collections::BTreeSet;

use crate::influxql::{
    BinaryOp, Expr, Measurement, MeasurementName, NameOrAll, Statement, TagKeyFilter,
};

use super::cond::{self, Truth};
use super::ddl;
use super::result::{Cell, Series};
use super::{Context, FieldType, SeriesMeta, Source, StatementError, StatementOutcome};

/// Shard groups last a week when the retention is infinite or long (InfluxDB's default).
pub(super) const SHARD_GROUP_DURATION: i64 = 7 * 24 * 3_600_000_000_000;

pub(crate) fn run(
    statement: &Statement,
    ctx: &Context,
    source: &mut dyn Source,
) -> StatementOutcome {
    if let Some(e) = condition_error(statement) {
        return Ok(Err(StatementError::Failed(e.into())));
    }
    let result = match statement {
        Statement::ShowDatabases => Ok(vec![ddl::show_databases(&ctx.catalog)]),
        Statement::ShowRetentionPolicies(s) => {
            match ctx.check_database(s.database.as_deref(), None) {
                Err(e) => Err(e),
                Ok(db) => ddl::show_retention_policies(&ctx.catalog, Some(&db))
                    .map(|s| vec![s])
                    .map_err(StatementError::Failed),
            }
        }
        Statement::ShowMeasurements(s) => {
            let db = match &s.database {
                Some(NameOrAll::Name(n)) => Some(n.as_str()),
                _ => None,
            };
            // An unknown database lists nothing (InfluxDB does not call it an error here).
            match ctx.check_database(db, None) {
                Err(StatementError::Preparation(_)) => return Ok(Ok(Vec::new())),
                Err(e) => Err(e),
                Ok(db) => {
                    let every = filtered(source, &db, None, &[], None, ctx)?;
                    let by_tags = s
                        .condition
                        .as_ref()
                        .and_then(|c| measurements_by_tags(c, &every));
                    let all = match by_tags {
                        Some(chosen) => every
                            .into_iter()
                            .filter(|s| chosen.contains(&s.measurement))
                            .collect(),
                        None => filtered(source, &db, None, &[], s.condition.as_ref(), ctx)?,
                    };
                    let mut names: Vec<String> = Vec::new();
                    for m in all.iter().map(|s| &s.measurement) {
                        let keep = match &s.with_measurement {
                            None => true,
                            Some(w) => matches(&w.name, m),
                        };
                        if keep && names.last() != Some(m) {
                            names.push(m.clone());
                        }
                    }
                    let rows = page(names, s.offset, s.limit)
                        .into_iter()
                        .map(|n| vec![Cell::Str(n)])
                        .collect();
                    Ok(nonempty(series(Some("measurements"), &["name"], rows)))
                }
            }
        }
        Statement::ShowTagKeys(s) => match ctx.check_database(s.database.as_deref(), None) {
            Err(e) => Err(e),
            Ok(db) => {
                let all = filtered(source, &db, None, &s.from, s.condition.as_ref(), ctx)?;
                Ok(per_measurement(&all, |members| {
                    let mut keys: Vec<String> = Vec::new();
                    for m in members {
                        for (k, _) in &m.tags {
                            let keep = s.with_key.as_ref().is_none_or(|f| f.matches(k));
                            if keep && !keys.contains(k) {
                                keys.push(k.clone());
                            }
                        }
                    }
                    keys.sort();
                    let rows = page(keys, s.offset, s.limit)
                        .into_iter()
                        .map(|k| vec![Cell::Str(k)])
                        .collect();
                    (vec!["tagKey"], rows)
                }))
            }
        },
        Statement::ShowTagValues(s) => match ctx.check_database(s.database.as_deref(), None) {
            Err(e) => Err(e),
            Ok(db) => {
                let all = filtered(source, &db, None, &s.from, s.condition.as_ref(), ctx)?;
                Ok(per_measurement(&all, |members| {
                    let mut pairs: Vec<(String, String)> = Vec::new();
                    for m in members {
                        for (k, v) in &m.tags {
                            if key_matches(&s.with_key, k)
                                && !pairs.iter().any(|(a, b)| a == k && b == v)
                            {
                                pairs.push((k.clone(), v.clone()));
                            }
                        }
                    }
                    pairs.sort();
                    let rows = page(pairs, s.offset, s.limit)
                        .into_iter()
                        .map(|(k, v)| vec![Cell::Str(k), Cell::Str(v)])
                        .collect();
                    (vec!["key", "value"], rows)
                }))
            }
        },
        Statement::ShowFieldKeys(s) => match ctx.check_database(s.database.as_deref(), None) {
            Err(e) => Err(e),
            Ok(db) => {
                // InfluxDB reads the field keys of one retention policy's shards.
                let rp = policy_read(ctx, &db, &s.from);
                let all = filtered(source, &db, Some(&rp), &s.from, None, ctx)?;
                Ok(per_measurement(&all, |members| {
                    let rows = page(field_keys(members), s.offset, s.limit)
                        .into_iter()
                        .map(|(k, t)| vec![Cell::Str(k), Cell::Str(t.name().into())])
                        .collect();
                    (vec!["fieldKey", "fieldType"], rows)
                }))
            }
        },
        Statement::ShowSeries(s) => match ctx.check_database(s.database.as_deref(), None) {
            Err(e) => Err(e),
            Ok(db) => {
                let all = filtered(source, &db, None, &s.from, s.condition.as_ref(), ctx)?;
                let keys: Vec<String> = all.iter().map(series_key).collect();
                let rows = page(keys, s.offset, s.limit)
                    .into_iter()
                    .map(|k| vec![Cell::Str(k)])
                    .collect();
                Ok(nonempty(series(None, &["key"], rows)))
            }
        },
        Statement::Select(_)
        | Statement::ShowCardinality(_)
        | Statement::DropMeasurement(_)
        | Statement::DropSeries(_)
        | Statement::Delete(_)
        | Statement::Unsupported { .. } => {
            Err(StatementError::Failed("not a SHOW statement".into()))
        }
        Statement::CreateDatabase(_)
        | Statement::DropDatabase(_)
        | Statement::CreateRetentionPolicy(_)
        | Statement::AlterRetentionPolicy(_)
        | Statement::DropRetentionPolicy { .. } => {
            Err(StatementError::Failed("not a SHOW statement".into()))
        }
    };
    Ok(result)
}

/// What InfluxDB 1.6's index refuses in the `WHERE` of SHOW MEASUREMENTS, SERIES, TAG KEYS and
/// TAG VALUES: time in SHOW MEASUREMENTS' (`doesn't support time`), and a comparison by order
/// (`<`, `<=`, `>`, `>=`) of anything but time, such as a field's (`"usage_idle" > 90`), which
/// its index reads as a tag comparison (`invalid tag comparison operator`). SHOW SERIES with a
/// time condition is a SELECT in InfluxDB, which does not refuse it.
fn condition_error(statement: &Statement) -> Option<&'static str> {
    let condition = match statement {
        Statement::ShowMeasurements(s) => {
            let c = s.condition.as_ref()?;
            if mentions_time(c) {
                return Some("SHOW MEASUREMENTS doesn't support time in WHERE clause");
            }
            c
        }
        Statement::ShowSeries(s) => s.condition.as_ref().filter(|c| !mentions_time(c))?,
        Statement::ShowTagKeys(s) => s.condition.as_ref()?,
        Statement::ShowTagValues(s) => s.condition.as_ref()?,
        _ => return None,
    };
    orders_other_than_time(condition).then_some("invalid tag comparison operator")
}

/// Whether `e`, through `AND`, `OR` and parentheses, compares by order anything but time.
fn orders_other_than_time(e: &Expr) -> bool {
    let Expr::Binary { op, lhs, rhs } = e.unparen() else {
        return false;
    };
    match op {
        BinaryOp::And | BinaryOp::Or => orders_other_than_time(lhs) || orders_other_than_time(rhs),
        BinaryOp::Lt | BinaryOp::LtEq | BinaryOp::Gt | BinaryOp::GtEq => {
            !is_time(lhs) && !is_time(rhs)
        }
        _ => false,
    }
}

/// Whether `e` compares time (a `time` reference anywhere through `AND`, `OR`, parentheses).
fn mentions_time(e: &Expr) -> bool {
    let Expr::Binary { op, lhs, rhs } = e.unparen() else {
        return false;
    };
    match op {
        BinaryOp::And | BinaryOp::Or => mentions_time(lhs) || mentions_time(rhs),
        _ => is_time(lhs) || is_time(rhs),
    }
}

fn is_time(e: &Expr) -> bool {
    matches!(e.unparen(), Expr::VarRef(v) if v.name.eq_ignore_ascii_case("time"))
}

fn series(name: Option<&str>, columns: &[&str], values: Vec<Vec<Cell>>) -> Series {
    Series {
        name: name.map(str::to_owned),
        tags: None,
        columns: columns.iter().map(|c| (*c).to_owned()).collect(),
        values,
        partial: false,
        tz: None,
    }
}

fn nonempty(s: Series) -> Vec<Series> {
    if s.values.is_empty() {
        Vec::new()
    } else {
        vec![s]
    }
}

fn page<T>(items: Vec<T>, offset: Option<u64>, limit: Option<u64>) -> Vec<T> {
    let offset = offset.and_then(|o| usize::try_from(o).ok()).unwrap_or(0);
    let limit = limit
        .and_then(|l| usize::try_from(l).ok())
        .unwrap_or(usize::MAX);
    items.into_iter().skip(offset).take(limit).collect()
}

fn matches(name: &MeasurementName, measurement: &str) -> bool {
    match name {
        MeasurementName::Name(n) => n == measurement,
        MeasurementName::Regex(re) => re.is_match(measurement),
    }
}

fn key_matches(filter: &TagKeyFilter, key: &str) -> bool {
    filter.matches(key)
}

/// The retention policy a statement over `from` in `database` reads: the first source's, else
/// the `rp` parameter, else the database's default.
fn policy_read(ctx: &Context, database: &str, from: &[Measurement]) -> String {
    from.iter()
        .find_map(|m| m.retention_policy.clone())
        .or(ctx.rp.clone())
        .filter(|r| !r.is_empty())
        .or_else(|| {
            ctx.catalog
                .database(database)
                .map(|d| d.default_retention_policy.clone())
        })
        .unwrap_or_default()
}

/// The measurements `SHOW MEASUREMENTS WHERE` chooses by tags, as InfluxDB 1.6's index does:
/// a comparison chooses the measurements that have the key and some series whose value matches
/// (`=`, `=~`) or none (`!=`, `!~`: `"host" != 'server01'` leaves out every measurement holding
/// server01); `AND` intersects, `OR` unites. `None` for any other condition (time, fields,
/// `_name`), which is read series by series.
fn measurements_by_tags(condition: &Expr, all: &[SeriesMeta]) -> Option<BTreeSet<String>> {
    let Expr::Binary { op, lhs, rhs } = condition.unparen() else {
        return None;
    };
    if matches!(op, BinaryOp::And | BinaryOp::Or) {
        let l = measurements_by_tags(lhs, all)?;
        let r = measurements_by_tags(rhs, all)?;
        return Some(if *op == BinaryOp::And {
            l.intersection(&r).cloned().collect()
        } else {
            l.union(&r).cloned().collect()
        });
    }
    let Expr::VarRef(key) = lhs.unparen() else {
        return None;
    };
    if key.name == "time" || key.name == "_name" {
        return None;
    }
    let matches = |v: &str| match (op, rhs.unparen()) {
        (BinaryOp::Eq | BinaryOp::NotEq, Expr::String(s)) => Some(v == s),
        (BinaryOp::EqRegex | BinaryOp::NotEqRegex, Expr::Regex(re)) => Some(re.is_match(v)),
        _ => None,
    };
    matches("")?;
    let positive = matches!(op, BinaryOp::Eq | BinaryOp::EqRegex);
    let mut chosen = BTreeSet::new();
    for members in all.chunk_by(|a, b| a.measurement == b.measurement) {
        let values: Vec<&str> = members.iter().filter_map(|s| s.tag(&key.name)).collect();
        let matched = values.iter().any(|v| matches(v) == Some(true));
        if !values.is_empty() && matched == positive {
            chosen.insert(members[0].measurement.clone());
        }
    }
    Some(chosen)
}

/// The series of the sources (all when none, of the retention policy `rp` when one is given)
/// that pass the condition's tag comparisons and,
/// when it bounds time, have a point in that range; ordered by measurement and tags.
fn filtered(
    source: &mut dyn Source,
    database: &str,
    rp: Option<&str>,
    from: &[Measurement],
    condition: Option<&crate::influxql::Expr>,
    ctx: &Context,
) -> Result<Vec<SeriesMeta>, super::SourceError> {
    let names: Vec<&MeasurementName> = from.iter().map(|m| &m.name).collect();
    let mut all = super::series_of(source, database, rp, &names)?;
    // A condition that does not parse as time bounds keeps everything, as InfluxDB's metadata
    // queries only filter by what they understand.
    let (rest, bounds) = cond::split(condition, ctx.now).unwrap_or((None, cond::Bounds::default()));
    if let Some(rest) = &rest {
        all.retain(|s| cond::eval(rest, s, None) != Truth::False);
    }
    if bounds.min.is_some() || bounds.max.is_some() {
        let range = bounds.range();
        let mut kept = Vec::with_capacity(all.len());
        for s in all {
            if range.min <= range.max && super::edge_time(source, &s, range, false)?.is_some() {
                kept.push(s);
            }
        }
        all = kept;
    }
    Ok(all)
}

/// The fields of a measurement's series, with their types, in name order.
pub(super) fn field_keys(members: &[SeriesMeta]) -> Vec<(String, FieldType)> {
    let mut keys: Vec<(String, FieldType)> = members
        .iter()
        .flat_map(|m| m.fields.iter().map(|f| (f.name.clone(), f.ty)))
        .collect();
    keys.sort();
    keys.dedup_by(|a, b| a.0 == b.0);
    keys
}

/// One series per measurement, built from that measurement's series; empty ones left out.
fn per_measurement(
    all: &[SeriesMeta],
    mut build: impl FnMut(&[SeriesMeta]) -> (Vec<&'static str>, Vec<Vec<Cell>>),
) -> Vec<Series> {
    let mut out = Vec::new();
    for members in all.chunk_by(|a, b| a.measurement == b.measurement) {
        let (columns, rows) = build(members);
        if !rows.is_empty() {
            out.push(series(Some(&members[0].measurement), &columns, rows));
        }
    }
    out
}

/// A series key as InfluxDB writes it: `measurement,tag=value,...` with `,`, ` ` (and `=` in
/// tags) escaped by a backslash.
fn series_key(s: &SeriesMeta) -> String {
    fn escape(out: &mut String, s: &str, equals: bool) {
        for c in s.chars() {
            if c == ',' || c == ' ' || (equals && c == '=') {
                out.push('\\');
            }
            out.push(c);
        }
    }
    let mut out = String::new();
    escape(&mut out, &s.measurement, false);
    for (k, v) in &s.tags {
        out.push(',');
        escape(&mut out, k, true);
        out.push('=');
        escape(&mut out, v, true);
    }
    out
}
