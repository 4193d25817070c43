//! `SHOW SERIES|MEASUREMENT|TAG KEY|TAG VALUES|FIELD KEY [EXACT] CARDINALITY`, answered as
//! InfluxDB 1.6 answers them.
//!
//! `SHOW SERIES CARDINALITY` and `SHOW MEASUREMENT CARDINALITY` with nothing after them (but
//! `ON db`) are the index's estimates: one row, column `cardinality estimation`, 0 for an
//! unknown database. Every other form InfluxDB rewrites into
//! `SELECT count(distinct(x)) AS count FROM <sources, all by default> WHERE … GROUP BY …
//! LIMIT … OFFSET …` over values its storage engine makes up per series, all at time 0: the
//! series key (counted, not distinct-counted), the measurement's name, the series' tag keys,
//! its tag values whose key passes `WITH KEY`, the measurement's field keys. So the answer has
//! one series per measurement (none for `MEASUREMENT`, whose names are stripped) and tag set of
//! `GROUP BY`, with one row `count`; a group with nothing to count has no series, `OFFSET` ≥ 1
//! leaves none, and a comparison with the field is false (the values have no field value).
//!
//! Those values are made per shard, from the shard's index: a series counts in the shard groups
//! (a week each, from Monday 00:00 UTC, as Fieldline's `SHOW RETENTION POLICIES` says) where it
//! has points, and overlapping the statement's time range. So the exact series count counts a
//! series once per week it has points in, while the estimate counts it once. `GROUP BY time`
//! gives each group a row per window ([`windows`]).

mod windows;

use std::collections::{BTreeMap, BTreeSet};

use crate::influxql::{
    BinaryOp, Cardinality, Dimension, Expr, MeasurementName, ShowCardinality, TimeOffset, VarRef,
};

use super::cond::{self, Truth};
use super::format::go_duration;
use super::result::{Cell, Series};
use super::show::SHARD_GROUP_DURATION;
use super::{
    Context, SeriesMeta, Source, SourceError, StatementError, StatementOutcome, TimeRange,
};
use windows::{Rows, Windows};

pub(crate) fn run(s: &ShowCardinality, ctx: &Context, source: &mut dyn Source) -> StatementOutcome {
    let estimate = !s.exact
        && matches!(s.what, Cardinality::Series | Cardinality::Measurement)
        && s.from.is_empty()
        && s.condition.is_none()
        && s.group_by.is_empty()
        && s.limit.is_none()
        && s.offset.is_none();
    if estimate {
        return estimated(s, ctx, source);
    }
    // The rewrite refuses time in WHERE (but for tag values), before the database is looked at.
    if !matches!(s.what, Cardinality::TagValues(_)) && s.condition.as_ref().is_some_and(has_time) {
        let what = match s.what {
            Cardinality::Series => "SHOW SERIES EXACT CARDINALITY",
            Cardinality::Measurement => "SHOW MEASUREMENT EXACT CARDINALITY",
            Cardinality::TagKey => "SHOW TAG KEY EXACT CARDINALITY",
            _ => "SHOW FIELD KEY CARDINALITY",
        };
        return Ok(Err(StatementError::Preparation(format!(
            "{what} doesn't support time in WHERE clause"
        ))));
    }
    let prepared = match prepare(s, ctx) {
        Err(e) => return Ok(Err(e)),
        Ok(p) => p,
    };
    let rows = match prepared.windows {
        None => Rows {
            len: 1,
            count_at: 0,
        },
        Some(w) => {
            let rows = w.rows(&prepared.bounds, ctx.now);
            if usize::try_from(rows.len).map_or(true, |n| n > ctx.max_rows) {
                return Ok(Err(StatementError::Failed(format!(
                    "GROUP BY time({}) over this range makes {} buckets, more than the {} rows \
                     an answer may have; use a larger interval or a shorter time range",
                    go_duration(w.interval),
                    rows.len,
                    ctx.max_rows
                ))));
            }
            rows
        }
    };
    exact(s, &prepared, rows, source).map(Ok)
}

/// The index's estimate: exact on Fieldline's series.
fn estimated(s: &ShowCardinality, ctx: &Context, source: &mut dyn Source) -> StatementOutcome {
    let db = s
        .database
        .as_deref()
        .or(ctx.db.as_deref())
        .filter(|d| !d.is_empty());
    let Some(db) = db else {
        return Ok(Err(StatementError::Preparation(
            "database name required".into(),
        )));
    };
    let n = if ctx.catalog.database(db).is_some() {
        let all = super::series_of(source, db, None, &[])?;
        match s.what {
            Cardinality::Measurement => {
                let mut names: Vec<&str> = all.iter().map(|m| m.measurement.as_str()).collect();
                names.dedup();
                names.len()
            }
            _ => all.len(),
        }
    } else {
        0
    };
    Ok(Ok(vec![Series {
        columns: vec!["cardinality estimation".into()],
        values: vec![vec![Cell::Integer(i64::try_from(n).unwrap_or(i64::MAX))]],
        ..Series::default()
    }]))
}

/// influxql's `HasTimeExpr`: a comparison whose left side is `time`, through `AND`, `OR` and
/// parentheses.
fn has_time(e: &Expr) -> bool {
    match e {
        Expr::Paren(inner) => has_time(inner),
        Expr::Binary { op, lhs, rhs } => {
            if matches!(op, BinaryOp::And | BinaryOp::Or) {
                has_time(lhs) || has_time(rhs)
            } else {
                matches!(&**lhs, Expr::VarRef(VarRef { name, .. }) if name.eq_ignore_ascii_case("time"))
            }
        }
        _ => false,
    }
}

/// What the checks of a rewritten statement leave: the `GROUP BY` and the condition.
struct Prepared {
    /// The database counted in.
    database: String,
    names: Vec<String>,
    all_tags: bool,
    regexes: Vec<crate::influxql::Regex>,
    windows: Option<Windows>,
    rest: Option<Expr>,
    bounds: cond::Bounds,
}

fn prepare(s: &ShowCardinality, ctx: &Context) -> Result<Prepared, StatementError> {
    let mut database = String::new();
    if s.from.is_empty() {
        database = ctx.check_database(s.database.as_deref(), None)?;
    }
    for m in &s.from {
        let db = m.database.as_deref().or(s.database.as_deref());
        database = ctx.check_database(db, m.retention_policy.as_deref())?;
    }
    let mut names = Vec::new();
    let mut all_tags = false;
    let mut regexes = Vec::new();
    let mut windows = None;
    let mut times = 0;
    for d in &s.group_by {
        match d {
            Dimension::Tag(v) => names.push(v.name.clone()),
            Dimension::Wildcard => all_tags = true,
            Dimension::Regex(re) => regexes.push(re.clone()),
            Dimension::Invalid { reason, .. } => return Err(reason.clone().into()),
            Dimension::Time { interval, offset } => {
                times += 1;
                if *interval > 0 {
                    let offset = match offset {
                        None => 0,
                        Some(TimeOffset::Duration(o)) => *o,
                        Some(TimeOffset::Now) => ctx.now,
                    };
                    windows = Some(Windows {
                        interval: *interval,
                        offset: offset.rem_euclid(*interval),
                    });
                }
            }
        }
    }
    if times > 1 {
        return Err("multiple time dimensions not allowed".into());
    }
    let (rest, bounds) = cond::split(s.condition.as_ref(), ctx.now)?;
    Ok(Prepared {
        database,
        names,
        all_tags,
        regexes,
        windows,
        rest,
        bounds,
    })
}

fn exact(
    s: &ShowCardinality,
    p: &Prepared,
    rows: Rows,
    source: &mut dyn Source,
) -> Result<Vec<Series>, SourceError> {
    let Prepared {
        database,
        names,
        all_tags,
        regexes,
        windows,
        rest,
        bounds,
    } = p;
    // The counted values stand at time 0: only GROUP BY time answers them from a range
    // without it.
    let range = bounds.range();
    if windows.is_none() && (range.min > 0 || range.max < 0) {
        return Ok(Vec::new());
    }
    let from: Vec<&MeasurementName> = s.from.iter().map(|m| &m.name).collect();
    let all = super::series_of(source, database, None, &from)?;
    // The shards a statement reads: the shard groups overlapping its time range.
    let shards = TimeRange {
        min: shard_group_start(range.min),
        max: shard_group_start(range.max).saturating_add(SHARD_GROUP_DURATION - 1),
    };
    let bounded = bounds.min.is_some() || bounds.max.is_some();

    // GROUP BY `*` and regexes stand for the tag keys of every measurement of the statement.
    let mut dims: Vec<String> = all
        .iter()
        .flat_map(|m| m.tags.iter().map(|(k, _)| k))
        .filter(|k| *all_tags || regexes.iter().any(|r| r.is_match(k)))
        .cloned()
        .collect();
    dims.extend(names.iter().cloned());
    dims.sort();
    dims.dedup();

    let strip_name = matches!(s.what, Cardinality::Measurement);
    let mut groups: BTreeMap<(String, Vec<String>), BTreeSet<String>> = BTreeMap::new();
    let mut counted: BTreeMap<(String, Vec<String>), usize> = BTreeMap::new();
    for m in &all {
        if let Some(c) = rest {
            // Tag values are matched by evaluating the condition on the series' tags, where an
            // absent tag is no value (a comparison with it is false), not the empty string.
            let pass = match s.what {
                Cardinality::TagValues(_) => true_on_present_tags(c, m),
                _ if names_measurement(c) => {
                    // The index reads `_name` as the measurement's name.
                    let mut named = m.clone();
                    named.tags.push(("_name".into(), m.measurement.clone()));
                    cond::eval(c, &named, None) == Truth::True
                }
                _ => cond::eval(c, m, None) == Truth::True,
            };
            if !pass {
                continue;
            }
        }
        if bounded
            && !matches!(s.what, Cardinality::Series)
            && super::edge_time(source, m, shards, false)?.is_none()
        {
            continue;
        }
        let name = if strip_name {
            String::new()
        } else {
            m.measurement.clone()
        };
        let tags: Vec<String> = dims
            .iter()
            .map(|d| m.tag(d).unwrap_or_default().to_owned())
            .collect();
        let key = (name, tags);
        let values: Vec<String> = match &s.what {
            Cardinality::Series => {
                // count(_seriesKey), not distinct: a series counts once per source naming it.
                let times = if s.from.is_empty() {
                    1
                } else {
                    s.from
                        .iter()
                        .filter(|f| names_it(&f.name, &m.measurement))
                        .count()
                };
                // and once per shard group holding its points.
                let groups = shard_groups(source, m, shards)?;
                if groups > 0 {
                    *counted.entry(key).or_default() += times * groups;
                }
                continue;
            }
            Cardinality::Measurement => vec![m.measurement.clone()],
            Cardinality::TagKey => m.tags.iter().map(|(k, _)| k.clone()).collect(),
            Cardinality::TagValues(filter) => m
                .tags
                .iter()
                .filter(|(k, _)| filter.matches(k))
                .map(|(_, v)| v.clone())
                .collect(),
            Cardinality::FieldKey => m.fields.iter().map(|f| f.name.clone()).collect(),
        };
        if !values.is_empty() {
            groups.entry(key).or_default().extend(values);
        }
    }
    for (key, set) in groups {
        counted.insert(key, set.len());
    }

    // The group's rows (one without GROUP BY time), then OFFSET and LIMIT on them.
    let offset = s.offset.map_or(0, |o| i64::try_from(o).unwrap_or(i64::MAX));
    let limit = s
        .limit
        .filter(|l| *l > 0)
        .map_or(i64::MAX, |l| i64::try_from(l).unwrap_or(i64::MAX));
    let kept = offset.min(rows.len)..offset.saturating_add(limit).min(rows.len);
    if kept.is_empty() {
        return Ok(Vec::new());
    }
    Ok(counted
        .into_iter()
        .map(|((name, tags), n)| Series {
            name: (!strip_name).then_some(name),
            tags: (!dims.is_empty()).then(|| dims.iter().cloned().zip(tags).collect()),
            columns: vec!["count".into()],
            values: kept
                .clone()
                .map(|row| {
                    let count = if row == rows.count_at {
                        i64::try_from(n).unwrap_or(i64::MAX)
                    } else {
                        0
                    };
                    vec![Cell::Integer(count)]
                })
                .collect(),
            ..Series::default()
        })
        .collect())
}

/// Shard groups start on Mondays: Go truncates times to multiples of a week since January 1st
/// of year 1, a Monday; the Unix epoch is a Thursday.
const FIRST_MONDAY: i64 = 4 * 24 * 3_600_000_000_000;

pub(super) fn shard_group_start(t: i64) -> i64 {
    let since = i128::from(t) - i128::from(FIRST_MONDAY);
    let week = i128::from(SHARD_GROUP_DURATION);
    let start = since.div_euclid(week) * week + i128::from(FIRST_MONDAY);
    i64::try_from(start).unwrap_or(i64::MIN)
}

/// In how many shard groups within `shards` the series has points.
fn shard_groups(
    source: &mut dyn Source,
    m: &SeriesMeta,
    shards: TimeRange,
) -> Result<usize, SourceError> {
    let Some(first) = super::edge_time(source, m, shards, false)? else {
        return Ok(0);
    };
    let from = TimeRange {
        min: shard_group_start(first),
        max: shards.max,
    };
    if let [f] = m.fields.as_slice() {
        if f.ty == super::FieldType::Float {
            let stats = source.interval_stats(f.key, from, from.min, SHARD_GROUP_DURATION)?;
            if let Some(stats) = stats {
                return Ok(stats.iter().filter(|s| s.count > 0).count());
            }
        }
    }
    // Else one point per group: from each group with points, on to the next one.
    Ok(super::select::shard_weeks(source, m, from)?.len())
}

fn names_it(name: &MeasurementName, measurement: &str) -> bool {
    match name {
        MeasurementName::Name(n) => n == measurement,
        MeasurementName::Regex(re) => re.is_match(measurement),
    }
}

fn names_measurement(e: &Expr) -> bool {
    e.any(|x| matches!(x, Expr::VarRef(v) if v.name == "_name"))
}

/// influxql's `EvalBool` over a series' tags: a comparison involving a tag the series does not
/// have (or the field, which the counted values lack) is false.
fn true_on_present_tags(e: &Expr, series: &SeriesMeta) -> bool {
    match e.unparen() {
        Expr::Binary {
            op: BinaryOp::And,
            lhs,
            rhs,
        } => true_on_present_tags(lhs, series) && true_on_present_tags(rhs, series),
        Expr::Binary {
            op: BinaryOp::Or,
            lhs,
            rhs,
        } => true_on_present_tags(lhs, series) || true_on_present_tags(rhs, series),
        other => {
            let absent =
                other.any(|x| matches!(x, Expr::VarRef(v) if series.tag(&v.name).is_none()));
            !absent && cond::eval(other, series, None) == Truth::True
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::influxql::{parse_query, Statement, TagKeyFilter};
    use crate::query::execute;
    use crate::query::format::{encode, Epoch, Format};

    fn parse(text: &str) -> ShowCardinality {
        let statements = parse_query(text).unwrap();
        let [Statement::ShowCardinality(s)] = statements.as_slice() else {
            panic!("{text}: {statements:?}");
        };
        // Displayed, it parses back to the same tree.
        let shown = statements[0].to_string();
        assert_eq!(
            parse_query(&shown).unwrap(),
            statements,
            "{text} shown as {shown}"
        );
        s.clone()
    }

    #[test]
    fn every_form_parses() {
        let s = parse("SHOW SERIES CARDINALITY ON db");
        assert_eq!(
            (s.what, s.exact, s.database.as_deref()),
            (Cardinality::Series, false, Some("db"))
        );
        let s = parse(
            "SHOW MEASUREMENT EXACT CARDINALITY FROM /a/ WHERE x = 'y' GROUP BY x LIMIT 2 OFFSET 1",
        );
        assert_eq!(
            (s.what, s.exact, s.limit, s.offset),
            (Cardinality::Measurement, true, Some(2), Some(1))
        );
        assert_eq!(s.group_by.len(), 1);
        let s = parse(
            "SHOW TAG VALUES EXACT CARDINALITY ON db FROM m WITH KEY IN (a, b) WHERE x = 'y'",
        );
        assert_eq!(
            s.what,
            Cardinality::TagValues(TagKeyFilter::In(vec!["a".into(), "b".into()]))
        );
        for text in [
            "SHOW SERIES EXACT CARDINALITY FROM db.rp.m, /x/ WHERE a = 'b' GROUP BY *",
            "SHOW MEASUREMENT CARDINALITY",
            "SHOW TAG KEY CARDINALITY GROUP BY /u/, host",
            "SHOW TAG KEY EXACT CARDINALITY ON db",
            "SHOW TAG VALUES CARDINALITY WITH KEY =~ /u/ GROUP BY host LIMIT 1",
            "SHOW TAG VALUES CARDINALITY WITH KEY != host",
            "SHOW FIELD KEY CARDINALITY FROM m",
            "SHOW FIELD KEY EXACT CARDINALITY OFFSET 3",
        ] {
            parse(text);
        }
        for (text, message) in [
            (
                "SHOW TAG VALUES CARDINALITY",
                "found EOF, expected WITH at line 1, char 29",
            ),
            (
                "SHOW SERIES EXACT CARDINALITY SLIMIT 1",
                "found SLIMIT, expected ; at line 1, char 31",
            ),
            (
                "SHOW TAG KEY EXACT",
                "found EOF, expected CARDINALITY at line 1, char 20",
            ),
        ] {
            assert_eq!(
                parse_query(text).unwrap_err().to_string(),
                message,
                "{text}"
            );
        }
    }

    /// Series, each with its points.
    struct Mem(Vec<(SeriesMeta, Vec<(i64, f64)>)>);

    impl Source for Mem {
        fn series(
            &mut self,
            _: &str,
            m: Option<&[String]>,
        ) -> Result<Vec<SeriesMeta>, SourceError> {
            Ok(self
                .0
                .iter()
                .map(|(s, _)| s)
                .filter(|s| m.is_none_or(|m| m.contains(&s.measurement)))
                .cloned()
                .collect())
        }

        fn points(
            &mut self,
            key: i64,
            range: TimeRange,
            desc: bool,
            limit: Option<usize>,
        ) -> Result<Vec<(i64, f64)>, SourceError> {
            let points = &self.0[usize::try_from(key).unwrap()].1;
            Ok(range.read(points, desc, limit))
        }
    }

    /// 2020-07-21T10:00:00Z, a Tuesday.
    const JULY: i64 = 1_595_325_600_000_000_000;
    const DAY: i64 = 86_400_000_000_000;

    fn answer(q: &str) -> String {
        // cpu,host=a: Tuesday and the next Monday (two shard groups); the others: Tuesday.
        answer_over(
            q,
            &[
                (
                    "cpu",
                    &[("host", "a"), ("region", "eu")],
                    &[JULY, JULY + 6 * DAY],
                ),
                (
                    "cpu",
                    &[("host", "b"), ("region", "eu")],
                    &[JULY, JULY + 5 * DAY],
                ),
                ("mem", &[("host", "a")], &[JULY]),
            ],
        )
    }

    type Line<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a [i64]);

    fn answer_over(q: &str, lines: &[Line<'_>]) -> String {
        let mut mem = Mem(Vec::new());
        for (i, (m, tags, times)) in lines.iter().enumerate() {
            let meta = SeriesMeta::channel(
                i64::try_from(i).unwrap(),
                (*m).into(),
                tags.iter()
                    .map(|(k, v)| ((*k).into(), (*v).into()))
                    .collect(),
            );
            mem.0
                .push((meta, times.iter().map(|t| (*t, 1.0)).collect()));
        }
        let ctx = Context {
            db: Some("db".into()),
            ..Context::model("db", 0, 0, 1000)
        };
        let results = execute(&parse_query(q).unwrap(), &ctx, &mut mem).unwrap();
        let format = Format {
            epoch: Epoch::Rfc3339,
            pretty: false,
        };
        let body = encode(&results, &format);
        body.trim_end()
            .strip_prefix(r#"{"results":["#)
            .and_then(|b| b.strip_suffix("]}"))
            .unwrap()
            .to_owned()
    }

    #[test]
    fn counts_per_measurement_and_tag_set() {
        assert_eq!(
            answer("SHOW SERIES CARDINALITY"),
            r#"{"statement_id":0,"series":[{"columns":["cardinality estimation"],"values":[[3]]}]}"#
        );
        assert_eq!(
            answer("SHOW MEASUREMENT CARDINALITY ON other"),
            r#"{"statement_id":0,"series":[{"columns":["cardinality estimation"],"values":[[0]]}]}"#
        );
        assert_eq!(
            answer("SHOW TAG VALUES CARDINALITY WITH KEY IN (host, region)"),
            r#"{"statement_id":0,"series":[{"name":"cpu","columns":["count"],"values":[[3]]},{"name":"mem","columns":["count"],"values":[[1]]}]}"#
        );
        assert_eq!(
            answer("SHOW MEASUREMENT EXACT CARDINALITY GROUP BY host"),
            r#"{"statement_id":0,"series":[{"tags":{"host":"a"},"columns":["count"],"values":[[2]]},{"tags":{"host":"b"},"columns":["count"],"values":[[1]]}]}"#
        );
        assert_eq!(
            answer("SHOW TAG VALUES CARDINALITY WITH KEY = region"),
            r#"{"statement_id":0,"series":[{"name":"cpu","columns":["count"],"values":[[1]]}]}"#
        );
        assert_eq!(
            answer("SHOW SERIES EXACT CARDINALITY FROM cpu, /c/"),
            r#"{"statement_id":0,"series":[{"name":"cpu","columns":["count"],"values":[[6]]}]}"#
        );
        assert_eq!(
            answer("SHOW SERIES EXACT CARDINALITY OFFSET 1"),
            r#"{"statement_id":0}"#
        );
        assert_eq!(
            answer("SHOW TAG KEY CARDINALITY WHERE time > 0"),
            r#"{"statement_id":0,"error":"SHOW TAG KEY EXACT CARDINALITY doesn't support time in WHERE clause"}"#
        );
        // GROUP BY time: the windows from time 0 to now (the test's now is 0).
        assert_eq!(
            answer("SHOW SERIES EXACT CARDINALITY GROUP BY time(1h)"),
            r#"{"statement_id":0,"series":[{"name":"cpu","columns":["count"],"values":[[3]]},{"name":"mem","columns":["count"],"values":[[1]]}]}"#
        );
        assert_eq!(
            answer("SHOW MEASUREMENT CARDINALITY GROUP BY time(1h), time(2h)"),
            r#"{"statement_id":0,"error":"multiple time dimensions not allowed"}"#
        );
    }

    #[test]
    fn group_by_time_answers_the_count_in_one_window_and_0_in_the_others() {
        let lines: &[Line<'_>] = &[
            ("m", &[("host", "a")], &[JULY]),
            ("m", &[("host", "b")], &[JULY]),
        ];
        let q = |tail: &str| {
            format!(
                "SHOW TAG VALUES CARDINALITY WITH KEY = host WHERE time >= '2020-07-21T10:00:00Z' \
                 AND time < '2020-07-21T13:00:00Z' GROUP BY time(1h){tail}"
            )
        };
        let values = |v: &str| {
            format!(
                r#"{{"statement_id":0,"series":[{{"name":"m","columns":["count"],"values":{v}}}]}}"#
            )
        };
        assert_eq!(answer_over(&q(""), lines), values("[[2],[0],[0]]"));
        assert_eq!(
            answer_over(&q(" LIMIT 2 OFFSET 1"), lines),
            values("[[0],[0]]")
        );
        assert_eq!(answer_over(&q(" OFFSET 3"), lines), r#"{"statement_id":0}"#);
    }

    #[test]
    fn series_count_once_per_shard_group() {
        // What influxd 1.6.7 answers: host=a written on 2020-07-21 and 2020-01-01 (two weekly
        // shard groups), host=b on 2020-01-01.
        let jan = 1_577_836_800_000_000_000;
        let lines: &[Line<'_>] = &[
            ("m", &[("host", "a")], &[jan, JULY]),
            ("m", &[("host", "b")], &[jan]),
        ];
        let count = |n: u32| {
            format!(
                r#"{{"statement_id":0,"series":[{{"name":"m","columns":["count"],"values":[[{n}]]}}]}}"#
            )
        };
        assert_eq!(
            answer_over("SHOW SERIES EXACT CARDINALITY", lines),
            count(3)
        );
        assert_eq!(
            answer_over("SHOW SERIES CARDINALITY FROM m", lines),
            count(3)
        );
        assert_eq!(
            answer_over("SHOW SERIES CARDINALITY", lines),
            r#"{"statement_id":0,"series":[{"columns":["cardinality estimation"],"values":[[2]]}]}"#
        );
        assert_eq!(
            answer_over("SHOW TAG VALUES CARDINALITY WITH KEY = host", lines),
            count(2)
        );
        // Time 0 is in the range, and the range overlaps the shard group of 2020-01-01.
        let q = "SHOW TAG VALUES CARDINALITY WITH KEY = host WHERE time >= 0 AND time < '2020-01-02T00:00:00Z'";
        assert_eq!(answer_over(q, lines), count(2));
        // No shard group overlaps a range ending at 0.
        let q = "SHOW TAG VALUES CARDINALITY WITH KEY = host WHERE time <= 0";
        assert_eq!(answer_over(q, lines), r#"{"statement_id":0}"#);
        // Monday 2019-12-30 starts the group of 2020-01-01; Sunday 2019-12-29 ends the one before.
        assert_eq!(shard_group_start(jan), jan - 2 * DAY);
        assert_eq!(shard_group_start(jan - 2 * DAY - 1), jan - 9 * DAY);
    }
}
