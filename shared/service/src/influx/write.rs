//! `/write`: lines of the model's shape into channels through [`crate::ingest`], any other line
//! into the database's general series as the write plan decides ([`write_plan::plan`]).

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use fieldline_domain::line_protocol::{Line, LineError, SeriesIndex};
use fieldline_domain::query::write::{field_points, model_tags, outcome, DeviceKey};
use fieldline_domain::query::write_plan::{self, Destination, WriteAnswer};
use fieldline_domain::query::{self, ddl, FieldType};
use fieldline_domain::{Action, Subscription, Timestamp};

use super::{context, ns};
use crate::auth::Caller;
use crate::error::{BackendFailure, Error, Result};
use crate::ingest::{self, Api, Incoming, IngestReport, Naming};
use crate::limits::{self, Subject};
use crate::ports::{
    FieldTypes, InfluxScope, LinesWritten, SeriesFilter, Store, StoredFieldType, Tenant,
};

/// The naming of a series of the model's shape: `None` for a line that is not of it.
fn naming_of(line: &Line) -> Option<(DeviceKey, Arc<Naming>)> {
    let tags = model_tags(line)?;
    let naming = Naming {
        network_id: tags.network_id,
        device_name: tags.device_name,
        sensor: tags.sensor,
        channel_name: None,
        unit: tags.unit,
        written_tags: Some(
            (line.tags.iter())
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ),
    };
    Some((tags.device, Arc::new(naming)))
}

/// What a `/write` did: InfluxDB's answer, and how many points were stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriteReport {
    pub answer: WriteAnswer,
    pub written: usize,
    /// Parsed points not stored (refused, conflicting, beyond retention).
    pub dropped: usize,
}

/// Writes the parsed lines of a `/write` body into `db`, with `rp` as named. In the model's
/// database (`database`) a line of the model's shape (a device's `uuid` or `network_id`, the
/// model's tags, numeric fields) is a point of each of its fields' channels of that device
/// ([`fieldline_domain::query::write::series_points`]), through [`ingest::ingest`]; any other
/// line, in any database, is a point of a general series with its tags as written and its
/// fields typed ([`write_general`]). `scope` is the organization's, as read for this request
/// ([`super::scope`]).
#[allow(clippy::too_many_arguments)]
pub fn write(
    store: &(impl Store + ?Sized),
    caller: &Caller,
    scope: &InfluxScope,
    database: &str,
    db: &str,
    rp: Option<&str>,
    lines: &[Line],
    parse_errors: &[LineError],
    now: Timestamp,
) -> Result<WriteReport> {
    caller.may(Action::ReadOrg)?;
    let ctx = context(scope, database, now);
    let destination = ddl::write_destination(&ctx.catalog, Some(db), rp, ns(now));
    if !matches!(destination, Destination::Found { .. }) {
        // Nothing is written; InfluxDB still answers a body of which no line parses first.
        let plan = write_plan::plan(lines, parse_errors, destination, &|_, _| None);
        return Ok(WriteReport {
            answer: plan.answer,
            written: 0,
            dropped: 0,
        });
    }
    let mut points = Vec::new();
    let mut general_lines: Vec<usize> = Vec::new();
    // Only the model's database has channels: another's lines are not looked at twice.
    let model_db = db == database;
    // The tags of each series, read once for all its lines: a body repeats a few series.
    let mut series = SeriesIndex::default();
    let mut named_series: Vec<Option<(DeviceKey, Arc<Naming>)>> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let named = if model_db {
            let (n, new) = series.number(&line.measurement, &line.tags);
            if new {
                named_series.push(naming_of(line));
            }
            named_series[n].as_ref()
        } else {
            None
        };
        match named.and_then(|n| Some((n, field_points(line).ok()?))) {
            Some(((device, naming), fields)) => points.extend(fields.into_iter().map(|f| {
                let mut incoming =
                    Incoming::named(device.clone(), f.channel, f.point, naming.clone());
                incoming.written_field = f.written;
                incoming.line = i;
                incoming
            })),
            None => general_lines.push(i),
        }
    }
    let model = if points.is_empty() {
        IngestReport::default()
    } else {
        ingest::ingest(
            store,
            &caller.tenant,
            &caller.principal,
            Api::InfluxWrite,
            &points,
            &scope.subscription,
            now,
        )?
    };
    // The lines of general series: the body's own when it has no other (no copy of a large
    // body), else a copy of them, with the fields of a device or channel the organization does
    // not have (no automatic registration) in the place of their line.
    let general: Cow<'_, [Line]> = if general_lines.len() == lines.len() {
        Cow::Borrowed(lines)
    } else {
        Cow::Owned(general_series_lines(lines, &general_lines, &model.unrouted))
    };
    if general.is_empty() && !points.is_empty() {
        // The model's answer (`query::write::outcome`).
        let answer = match outcome(parse_errors, lines.len(), &model.rejected) {
            None => WriteAnswer {
                status: 204,
                error: None,
            },
            Some(message) => WriteAnswer {
                status: 400,
                error: Some(message),
            },
        };
        return Ok(WriteReport {
            answer,
            written: model.written,
            dropped: model.rejected.len(),
        });
    }
    let channels = if model_db {
        channel_fields(store, &caller.tenant, &general)?
    } else {
        HashSet::new()
    };
    let mut report = write_general(
        store,
        caller,
        &scope.subscription,
        db,
        destination,
        &channels,
        &general,
        parse_errors,
        now,
    )?;
    report.written += model.written;
    if !model.rejected.is_empty() {
        report.dropped += model.rejected.len();
        let message = match report.answer.error.take() {
            // Both refused some: the general reason, every point dropped counted.
            Some(m) => match m.rsplit_once(" dropped=") {
                Some((reason, _)) => format!("{reason} dropped={}", report.dropped),
                None => m,
            },
            None => format!(
                "partial write: {} dropped={}",
                model.rejected[0],
                model.rejected.len()
            ),
        };
        report.answer = WriteAnswer {
            status: 400,
            error: Some(message),
        };
    }
    Ok(report)
}

/// The lines of `general` (indices into `lines`), and the lines of the `unrouted` points with
/// those points' fields only, in the body's order.
fn general_series_lines<'a>(
    lines: &[Line<'a>],
    general: &[usize],
    unrouted: &[Incoming],
) -> Vec<Line<'a>> {
    let mut fields: BTreeMap<usize, HashSet<&str>> = BTreeMap::new();
    for p in unrouted {
        let field = p
            .written_field
            .as_ref()
            .map_or(query::FIELD, |(_, f)| f.as_str());
        fields.entry(p.line).or_default().insert(field);
    }
    let mut out: Vec<(usize, Line)> = general.iter().map(|&i| (i, lines[i].clone())).collect();
    for (i, names) in fields {
        let mut line = lines[i].clone();
        line.fields.retain(|(f, _)| names.contains(&**f));
        out.push((i, line));
    }
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, l)| l).collect()
}

/// The (measurement, field) pairs of `lines`' measurements that are channels of the
/// organization as InfluxQL reads them: floats in the model's database.
fn channel_fields(
    store: &(impl Store + ?Sized),
    tenant: &Tenant,
    lines: &[Line],
) -> Result<HashSet<(String, String)>> {
    let mut names: Vec<&str> = lines.iter().map(|l| &*l.measurement).collect();
    names.sort_unstable();
    names.dedup();
    let names: Vec<String> = names.into_iter().map(str::to_owned).collect();
    let filter = SeriesFilter {
        uuids: None,
        measurements: Some(&names),
        influx_names: true,
    };
    Ok(store
        .list_series(tenant, filter)?
        .iter()
        .map(|s| {
            let (m, f) = s.influx_name();
            (m.to_owned(), f.to_owned())
        })
        .collect())
}

/// How many times a body is planned again when another write stored a field's type first.
const TYPE_RETRIES: usize = 3;

/// Writes lines into `db`'s general series as InfluxDB 1.6 decides them
/// ([`write_plan::plan`], to `destination`): each field keeps the type it was first written
/// with; a point with a field of another type is dropped (`field type conflict`); points older
/// than the retention policy keeps are dropped. `channels` are the (measurement, field) pairs
/// that are channels, floats (in the model's database). Counted by the points-per-hour quota of
/// `subscription` (the organization's, in force), one unit a value.
#[allow(clippy::too_many_arguments)]
pub fn write_general(
    store: &(impl Store + ?Sized),
    caller: &Caller,
    subscription: &Subscription,
    db: &str,
    destination: Destination<'_>,
    channels: &HashSet<(String, String)>,
    lines: &[Line],
    parse_errors: &[LineError],
    now: Timestamp,
) -> Result<WriteReport> {
    caller.may(Action::RegisterFromData)?;
    let quota = limits::points_per_hour(subscription);
    let mut measurements: Vec<&str> = lines.iter().map(|l| &*l.measurement).collect();
    measurements.sort_unstable();
    measurements.dedup();
    for _ in 0..TYPE_RETRIES {
        let stored: FieldTypes = store
            .field_types(&caller.tenant, db, &measurements)?
            .into_iter()
            .collect();
        let lookup = |m: &str, f: &str| {
            stored.get(m, f).or_else(|| {
                let key = (m.to_owned(), f.to_owned());
                channels.contains(&key).then_some(FieldType::Float)
            })
        };
        let plan = write_plan::plan(lines, parse_errors, destination, &lookup);
        let accepted: Vec<&Line> = plan.points.iter().map(|&i| &lines[i]).collect();
        let mut new_fields: Vec<StoredFieldType> = plan
            .new_fields
            .iter()
            .map(|f| StoredFieldType {
                measurement: f.measurement.clone(),
                field: f.field.clone(),
                ty: f.field_type,
            })
            .collect();
        // A channel's field, the first time a general series of its measurement has it.
        for key in channels {
            let (m, field) = key;
            let used = accepted.iter().any(|l| {
                l.measurement == *m && write_plan::stored_fields(l).any(|(f, _)| f == field)
            });
            if used && stored.get(m, field).is_none() {
                new_fields.push(StoredFieldType {
                    measurement: m.clone(),
                    field: field.clone(),
                    ty: FieldType::Float,
                });
            }
        }
        let units: u64 = accepted
            .iter()
            .map(|l| write_plan::stored_fields(l).count() as u64)
            .sum();
        let reservation = (units > 0)
            .then(|| limits::reservation(&quota, Subject::Org(caller.tenant.id()), units, now));
        if accepted.is_empty() && new_fields.is_empty() {
            return Ok(WriteReport {
                answer: plan.answer,
                written: 0,
                dropped: plan.dropped,
            });
        }
        match store.write_lines(
            &caller.tenant,
            db,
            &accepted,
            &new_fields,
            reservation.as_ref(),
        )? {
            LinesWritten::Written(_) => {
                return Ok(WriteReport {
                    answer: plan.answer,
                    written: accepted.len(),
                    dropped: plan.dropped,
                })
            }
            LinesWritten::OverLimit => {
                return Err(limits::over_limit(
                    &quota,
                    Subject::Org(caller.tenant.id()),
                    units,
                    now,
                ))
            }
            LinesWritten::TypesChanged => continue,
        }
    }
    Err(Error::backend(
        BackendFailure::Other,
        "field types kept changing while the body was written; try again",
    ))
}
