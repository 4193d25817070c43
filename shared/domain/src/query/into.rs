//! `SELECT … INTO`, as InfluxDB 1.6 runs it (`coordinator/statement_executor.go`'s
//! `writeInto` and `convertRowToPoints`): the `SELECT` runs as it would alone, each row of its
//! answer becomes a point (the target's measurement, or the row's series' for `:MEASUREMENT`;
//! the series' `GROUP BY` tags; the row's non-null columns as fields; rows without one are
//! skipped), the points go to the target through [`Source::write_points`] as a `/write`'s
//! would, and the statement answers how many were written: one series, `result`, with the
//! columns `time` (the epoch) and `written`.
//!
//! The target is resolved as InfluxDB normalizes it before the statement runs: no database is
//! the `db` parameter's (`database name required` without one, `database not found: x` for one
//! the catalog lacks), no retention policy the `rp` parameter's, else the database's default.
//! A retention policy the database does not have is refused when points are written
//! (`retention policy not found: x`), so a `SELECT` that selects nothing writes nothing and is
//! not refused.

use crate::influxql::{Measurement, SelectStatement, Source as FromSource, Target};
use crate::line_protocol::{FieldValue, Line};
use std::borrow::Cow;

use super::result::{Cell, Series};
use super::{select, Context, Source, StatementError, StatementOutcome};

/// Where the points of a `SELECT … INTO` go.
struct Destination {
    database: String,
    retention_policy: String,
    /// `None` for `:MEASUREMENT`: each series' own.
    measurement: Option<String>,
}

/// Resolves the target as InfluxDB's `normalizeMeasurement` does.
fn destination(target: &Target, ctx: &Context) -> Result<Destination, StatementError> {
    let database = target
        .database
        .as_deref()
        .or(ctx.db.as_deref())
        .filter(|d| !d.is_empty())
        .ok_or_else(|| StatementError::Failed("database name required".into()))?;
    let db = ctx
        .catalog
        .database(database)
        .ok_or_else(|| StatementError::Preparation(format!("database not found: {database}")))?;
    let retention_policy = target
        .retention_policy
        .as_deref()
        .or(ctx.rp.as_deref())
        .filter(|r| !r.is_empty())
        .unwrap_or(&db.default_retention_policy);
    if retention_policy.is_empty() {
        return Err(StatementError::Failed(format!(
            "default retention policy not set for: {database}"
        )));
    }
    Ok(Destination {
        database: database.to_owned(),
        retention_policy: retention_policy.to_owned(),
        measurement: target.measurement.clone(),
    })
}

/// Runs a `SELECT … INTO`.
pub(crate) fn run(
    s: &SelectStatement,
    target: &Target,
    ctx: &Context,
    source: &mut dyn Source,
) -> StatementOutcome {
    let to = match destination(target, ctx) {
        Ok(d) => d,
        Err(e) => return Ok(Err(e)),
    };
    let select = SelectStatement {
        into: None,
        ..s.clone()
    };
    let series = match select::run(&select, ctx, source)? {
        Ok(series) => series,
        Err(e) => return Ok(Err(e)),
    };
    let points: Vec<Line> = series
        .iter()
        .flat_map(|s| points(s, to.measurement.as_deref()))
        .collect();
    let written = if points.is_empty() {
        0
    } else {
        let has_policy = ctx
            .catalog
            .database(&to.database)
            .is_some_and(|d| d.retention_policy(&to.retention_policy).is_some());
        if !has_policy {
            return Ok(Err(StatementError::Failed(format!(
                "retention policy not found: {}",
                to.retention_policy
            ))));
        }
        match source.write_points(&to.database, &to.retention_policy, &points)? {
            Ok(n) => n,
            Err(e) => return Ok(Err(StatementError::Failed(e))),
        }
    };
    Ok(Ok(vec![Series {
        name: Some("result".into()),
        columns: vec!["time".into(), "written".into()],
        values: vec![vec![
            Cell::Time(0),
            Cell::Integer(i64::try_from(written).unwrap_or(i64::MAX)),
        ]],
        ..Series::default()
    }]))
}

/// The points of one series of the answer (`convertRowToPoints`): a point per row with a
/// non-null column, its tags the series' (empty values left out, as a point cannot hold them).
fn points<'a>(series: &'a Series, measurement: Option<&'a str>) -> Vec<Line<'a>> {
    let Some(time) = series.columns.iter().position(|c| c == "time") else {
        return Vec::new();
    };
    let measurement = measurement.or(series.name.as_deref()).unwrap_or_default();
    let mut tags: Vec<(Cow<'a, str>, Cow<'a, str>)> = series
        .tags
        .iter()
        .flatten()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (Cow::Borrowed(k.as_str()), Cow::Borrowed(v.as_str())))
        .collect();
    tags.sort();
    series
        .values
        .iter()
        .filter_map(|row| {
            let Some(Cell::Time(t)) = row.get(time) else {
                return None;
            };
            let fields: Vec<(Cow<'a, str>, FieldValue)> = series
                .columns
                .iter()
                .zip(row)
                .enumerate()
                .filter(|(i, _)| *i != time)
                .filter_map(|(_, (c, cell))| Some((Cow::Borrowed(c.as_str()), field_value(cell)?)))
                .collect();
            (!fields.is_empty()).then(|| Line {
                measurement: Cow::Borrowed(measurement),
                tags: tags.clone(),
                fields,
                timestamp_ns: *t,
            })
        })
        .collect()
}

/// A cell as the field value it is written as; `None` for a null.
fn field_value(cell: &Cell) -> Option<FieldValue> {
    Some(match cell {
        Cell::Null => return None,
        Cell::Float(f) => FieldValue::Float(*f),
        Cell::Integer(i) | Cell::Time(i) => FieldValue::Integer(*i),
        Cell::Str(s) => FieldValue::String(s.clone()),
        Cell::Bool(b) => FieldValue::Boolean(*b),
    })
}

/// The statement as InfluxDB writes it in the warning of a `GET` (`SELECT n INTO
/// copy.autogen.x FROM general.autogen.big`): the target and the measurements it reads
/// qualified with their database and retention policy, as InfluxDB normalizes them.
pub(crate) fn normalized(s: &SelectStatement, ctx: &Context) -> SelectStatement {
    let default_policy = |db: &str| {
        ctx.rp
            .clone()
            .filter(|r| !r.is_empty())
            .or_else(|| {
                ctx.catalog
                    .database(db)
                    .map(|d| d.default_retention_policy.clone())
            })
            .filter(|r| !r.is_empty())
    };
    let mut out = s.clone();
    if let Some(t) = &mut out.into {
        if t.database.is_none() {
            t.database = ctx.db.clone().filter(|d| !d.is_empty());
        }
        if t.retention_policy.is_none() {
            t.retention_policy = t.database.as_deref().and_then(default_policy);
        }
    }
    for from in &mut out.from {
        if let FromSource::Measurement(Measurement {
            database,
            retention_policy,
            ..
        }) = from
        {
            if database.is_none() {
                database.clone_from(&ctx.db.clone().filter(|d| !d.is_empty()));
            }
            if retention_policy.is_none() {
                *retention_policy = database.as_deref().and_then(default_policy);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_become_points_without_their_nulls() {
        let series = Series {
            name: Some("cpu".into()),
            tags: Some(vec![
                ("region".into(), String::new()),
                ("host".into(), "a".into()),
            ]),
            columns: ["time", "mean", "last", "n"].map(String::from).to_vec(),
            values: vec![
                vec![
                    Cell::Time(10),
                    Cell::Float(1.5),
                    Cell::Null,
                    Cell::Integer(3),
                ],
                // No field: no point.
                vec![Cell::Time(20), Cell::Null, Cell::Null, Cell::Null],
                vec![
                    Cell::Time(30),
                    Cell::Null,
                    Cell::Str("x".into()),
                    Cell::Null,
                ],
            ],
            ..Series::default()
        };
        let host = vec![("host".into(), "a".into())];
        assert_eq!(
            points(&series, Some("copy")),
            [
                Line {
                    measurement: "copy".into(),
                    tags: host.clone(),
                    fields: vec![
                        ("mean".into(), FieldValue::Float(1.5)),
                        ("n".into(), FieldValue::Integer(3)),
                    ],
                    timestamp_ns: 10,
                },
                Line {
                    measurement: "copy".into(),
                    tags: host,
                    fields: vec![("last".into(), FieldValue::String("x".into()))],
                    timestamp_ns: 30,
                },
            ]
        );
        // `:MEASUREMENT`: the series' own.
        assert!(points(&series, None).iter().all(|p| p.measurement == "cpu"));
    }
}
