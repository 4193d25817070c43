//! `SELECT`: checking the statement as InfluxDB 1.x's compiler does, choosing the series,
//! grouping them by tags, and computing raw rows or aggregates per `GROUP BY time` bucket with
//! `fill`.

use std::collections::{BTreeMap, HashMap};

use chrono_tz::Tz;

use crate::influxql::{
    BinaryOp, DataType, Dimension, Expr, Fill, MeasurementName, SelectStatement,
    Source as FromSource, TimeOffset, VarRef, WildcardKind,
};

use super::cond::{self, Bounds, Truth};
use super::format::tz_offset_ns;
use super::functions::{self, Func, Kind};
use super::result::{Cell, Series};
use super::{
    Context, IntervalStats, SeriesMeta, Source, SourceError, StatementError, StatementOutcome,
    TimeRange, FIELD,
};

/// Runs one `SELECT`.
pub(crate) fn run(s: &SelectStatement, ctx: &Context, source: &mut dyn Source) -> StatementOutcome {
    let plan = match Plan::new(s, ctx) {
        Ok(p) => p,
        Err(e) => return Ok(Err(e)),
    };
    plan.execute(ctx, source)
}

/// `a op b` on numbers as InfluxDB computes it (a division by zero is 0).
pub(crate) fn arith(op: BinaryOp, a: f64, b: f64) -> Option<f64> {
    Some(match op {
        BinaryOp::Add => a + b,
        BinaryOp::Sub => a - b,
        BinaryOp::Mul => a * b,
        BinaryOp::Div => {
            if b == 0.0 {
                0.0
            } else {
                a / b
            }
        }
        BinaryOp::Mod => {
            if b == 0.0 {
                0.0
            } else {
                a % b
            }
        }
        _ => return None,
    })
}

/// A reducer call of the field list, once per distinct call.
#[derive(Clone, Debug)]
struct Call {
    func: Func,
    /// The call as written, to find it again in the field expressions.
    expr: Expr,
    /// The argument is the field (a tag or an unknown name reads as no points at all).
    on_field: bool,
}

/// A column of the answer.
#[derive(Clone, Debug)]
struct Column {
    name: String,
    expr: Expr,
}

struct Plan {
    columns: Vec<Column>,
    calls: Vec<Call>,
    aggregate: bool,
    /// `GROUP BY time`: interval and offset (reduced modulo the interval), nanoseconds.
    interval: Option<(i64, i64)>,
    dims: Dims,
    fill: Fill,
    desc: bool,
    limit: usize,
    offset: usize,
    slimit: usize,
    soffset: usize,
    tz: Option<Tz>,
    bounds: Bounds,
    /// The condition without its time comparisons.
    rest: Option<Expr>,
    /// Whether `rest` reads the field (then points are filtered one by one).
    filter_points: bool,
    sources: Vec<MeasurementName>,
    /// The most rows the statement may answer with.
    max_rows: usize,
    /// The statement's only reducer is a selector: its point's time (and tags, fields) are
    /// reported.
    lone_selector: bool,
    /// Fields or tags stand beside the (lone) selector: its point is needed, not only its value.
    raw_vars: bool,
}

#[derive(Clone, Debug)]
enum Dims {
    Tags(Vec<String>),
    /// `GROUP BY *`, or with regexes: resolved per measurement.
    Dynamic {
        names: Vec<String>,
        all: bool,
        regexes: Vec<regex::Regex>,
    },
}

fn var(e: &Expr) -> Option<&VarRef> {
    match e.unparen() {
        Expr::VarRef(v) => Some(v),
        _ => None,
    }
}

fn is_time_ref(e: &Expr) -> bool {
    var(e).is_some_and(|v| v.name == "time")
}

/// The name InfluxDB gives a field without an alias: a call's function, a variable's name, the
/// names inside an arithmetic expression joined by `_`.
fn field_name(e: &Expr) -> String {
    fn walk(e: &Expr, out: &mut Vec<String>) {
        match e {
            Expr::VarRef(v) => out.push(v.name.clone()),
            Expr::Call { name, .. } => out.push(name.clone()),
            Expr::Binary { lhs, rhs, .. } => {
                walk(lhs, out);
                walk(rhs, out);
            }
            Expr::Paren(e) => walk(e, out),
            _ => {}
        }
    }
    match e {
        Expr::Call { name, .. } => name.clone(),
        Expr::VarRef(v) => v.name.clone(),
        Expr::Paren(inner) => field_name(inner),
        other => {
            let mut names = Vec::new();
            walk(other, &mut names);
            names.join("_")
        }
    }
}

/// Column names with InfluxDB's suffixes for duplicates (`value`, `value_1`); aliases first.
fn column_names(fields: &[(Expr, Option<String>)]) -> Vec<String> {
    let mut names: BTreeMap<String, usize> = BTreeMap::new();
    let mut out: Vec<Option<String>> = fields.iter().map(|(_, a)| a.clone()).collect();
    for a in out.iter().flatten() {
        names.insert(a.clone(), 1);
    }
    for (i, (expr, _)) in fields.iter().enumerate() {
        if out[i].is_some() {
            continue;
        }
        let mut name = field_name(expr);
        if let Some(&count) = names.get(&name) {
            let mut count = count;
            loop {
                let candidate = format!("{name}_{count}");
                if !names.contains_key(&candidate) {
                    names.insert(name.clone(), count + 1);
                    name = candidate;
                    break;
                }
                count += 1;
            }
        }
        *names.entry(name.clone()).or_insert(0) += 1;
        out[i] = Some(name);
    }
    out.into_iter().map(Option::unwrap_or_default).collect()
}

fn to_usize(n: Option<u64>) -> usize {
    n.and_then(|n| usize::try_from(n).ok()).unwrap_or(0)
}

impl Plan {
    fn new(s: &SelectStatement, ctx: &Context) -> Result<Plan, StatementError> {
        if s.into.is_some() {
            return Err("SELECT INTO is not supported by Fieldline".into());
        }
        let mut sources = Vec::new();
        for src in &s.from {
            match src {
                FromSource::Measurement(m) => {
                    ctx.check_database(m.database.as_deref(), m.retention_policy.as_deref())?;
                    sources.push(m.name.clone());
                }
                FromSource::Subquery(_) => {
                    return Err("subqueries are not supported by Fieldline".into());
                }
            }
        }
        if sources.is_empty() {
            ctx.check_database(None, None)?;
        }
        let tz = match &s.tz {
            Some(name) => Some(
                name.parse::<Tz>()
                    .map_err(|_| format!("unable to find time zone {name}"))?,
            ),
            None => None,
        };

        // GROUP BY
        let mut interval = None;
        let mut times = 0;
        let mut names = Vec::new();
        let mut regexes = Vec::new();
        let mut all = false;
        for d in &s.group_by {
            match d {
                Dimension::Time {
                    interval: i,
                    offset,
                } => {
                    times += 1;
                    if *i > 0 {
                        let off = match offset {
                            None => 0,
                            Some(TimeOffset::Duration(o)) => *o,
                            Some(TimeOffset::Now) => ctx.now,
                        };
                        interval = Some((*i, off.rem_euclid(*i)));
                    }
                }
                Dimension::Tag(v) => names.push(v.name.clone()),
                Dimension::Wildcard => all = true,
                Dimension::Regex(re) => regexes.push(re.as_regex().clone()),
                Dimension::Invalid { reason, .. } => return Err(reason.clone().into()),
            }
        }
        if times > 1 {
            return Err("multiple time dimensions not allowed".into());
        }
        let dims = if all || !regexes.is_empty() {
            Dims::Dynamic {
                names,
                all,
                regexes,
            }
        } else {
            Dims::Tags(names)
        };

        // The field list: `time` is implicit; wildcards expand per measurement later, except in
        // calls, where `*` and `/re/` mean the field.
        let mut fields: Vec<(Expr, Option<String>)> = Vec::new();
        for f in &s.fields {
            if is_time_ref(&f.expr) && f.alias.is_none() {
                continue;
            }
            match &f.expr {
                Expr::Call { name, args }
                    if args.len() == 1
                        && matches!(args[0].unparen(), Expr::Wildcard(_) | Expr::Regex(_)) =>
                {
                    let matches_field = match args[0].unparen() {
                        Expr::Regex(re) => re.is_match(FIELD),
                        _ => true,
                    };
                    if matches_field {
                        fields.push((
                            Expr::Call {
                                name: name.clone(),
                                args: vec![Expr::VarRef(VarRef {
                                    name: FIELD.into(),
                                    data_type: None,
                                })],
                            },
                            Some(f.alias.clone().unwrap_or_else(|| format!("{name}_{FIELD}"))),
                        ));
                    }
                }
                e => fields.push((e.clone(), f.alias.clone())),
            }
        }
        if fields.is_empty()
            && !s.fields.is_empty()
            && s.fields.iter().all(|f| is_time_ref(&f.expr))
        {
            return Err("at least 1 non-time field must be queried".into());
        }

        // Calls: check names and arguments as InfluxDB's compiler does.
        let mut calls: Vec<Call> = Vec::new();
        let mut reducers = 0;
        let mut selectors = 0;
        for (e, _) in &fields {
            let mut err = None;
            e.walk(&mut |x| {
                if err.is_some() {
                    return;
                }
                if let Expr::Call { name, args } = x {
                    if name == "now" {
                        return;
                    }
                    match check_call(name, args) {
                        Ok(Some(call)) => {
                            reducers += 1;
                            if call.func.is_selector() {
                                selectors += 1;
                            }
                            if !calls.iter().any(|c| c.expr == call.expr) {
                                calls.push(call);
                            }
                        }
                        Ok(None) => {}
                        Err(e) => err = Some(e),
                    }
                }
            });
            if let Some(e) = err {
                return Err(e.into());
            }
            let has_var =
                e.any(|x| matches!(x, Expr::VarRef(_) | Expr::Wildcard(_) | Expr::Regex(_)));
            if !has_var {
                return Err("field must contain at least one variable".into());
            }
        }
        let aggregate = reducers > 0;
        // Variables outside calls (raw fields and tags).
        let raw_vars = fields.iter().any(|(e, _)| raw_var(e));
        let lone_selector = reducers == 1 && selectors == 1;
        if aggregate && raw_vars {
            if selectors > 1 {
                return Err(
                    "mixing multiple selector functions with tags or fields is not supported"
                        .into(),
                );
            }
            if !lone_selector {
                return Err("mixing aggregate and non-aggregate queries is not supported".into());
            }
        }
        if !aggregate && times > 0 && interval.is_some() {
            return Err("GROUP BY requires at least one aggregate function".into());
        }

        let (rest, bounds) = cond::split(s.condition.as_ref(), ctx.now)?;
        let filter_points = rest.as_ref().is_some_and(cond::uses_field);

        let columns = column_names(&fields)
            .into_iter()
            .zip(fields)
            .map(|(name, (expr, _))| Column { name, expr })
            .collect();
        Ok(Plan {
            columns,
            calls,
            aggregate,
            interval: if aggregate { interval } else { None },
            dims,
            fill: s.fill,
            desc: s.is_descending(),
            limit: to_usize(s.limit),
            offset: to_usize(s.offset),
            slimit: to_usize(s.slimit),
            soffset: to_usize(s.soffset),
            tz,
            bounds,
            rest,
            filter_points,
            sources,
            max_rows: ctx.max_rows,
            lone_selector,
            raw_vars,
        })
    }

    fn execute(&self, ctx: &Context, source: &mut dyn Source) -> StatementOutcome {
        let from: Vec<&MeasurementName> = self.sources.iter().collect();
        let all = super::series_of(source, &from)?;
        // `*` (in the field list and in GROUP BY) stands for the tag keys of every measurement
        // of the statement together.
        let mut tag_keys: Vec<String> = all
            .iter()
            .flat_map(|s| s.tags.iter().map(|(k, _)| k.clone()))
            .collect();
        tag_keys.sort();
        tag_keys.dedup();

        // Per measurement: its series that pass the tag condition, grouped by the dimensions.
        let range = self.bounds.range();
        if range.min > range.max {
            return Ok(Ok(Vec::new()));
        }
        let dims = self.dims_of(&tag_keys);
        let mut groups: Vec<Group<'_>> = Vec::new();
        // `all` is ordered by measurement: one run per measurement.
        for members in all.chunk_by(|a, b| a.measurement == b.measurement) {
            let m = &members[0].measurement;
            let mut by_key: BTreeMap<Vec<String>, Vec<(&SeriesMeta, bool)>> = BTreeMap::new();
            for s in members {
                let check = match &self.rest {
                    None => Truth::True,
                    Some(c) => cond::eval(c, s, None),
                };
                if check == Truth::False {
                    continue;
                }
                let key: Vec<String> = dims
                    .iter()
                    .map(|d| s.tag(d).unwrap_or_default().to_owned())
                    .collect();
                by_key
                    .entry(key)
                    .or_default()
                    .push((s, check == Truth::Unknown));
            }
            for (key, series) in by_key {
                groups.push(Group {
                    tag_keys: &tag_keys,
                    measurement: m.clone(),
                    tags: dims.iter().cloned().zip(key).collect(),
                    grouped: !dims.is_empty(),
                    series,
                });
            }
        }
        let groups: Vec<Group<'_>> = groups.into_iter().skip(self.soffset).collect();
        let groups = if self.slimit > 0 {
            groups.into_iter().take(self.slimit).collect()
        } else {
            groups
        };

        let mut out = Vec::new();
        let mut rows = 0usize;
        // GROUP BY time without a lower bound starts at the first point of the statement.
        let mut range = range;
        if self.interval.is_some() {
            if self.bounds.min.is_none() {
                let first = source
                    .edge_points(&series_keys(&groups), range, false)?
                    .into_iter()
                    .flatten()
                    .map(|p| p.0)
                    .min();
                match first {
                    Some(f) => range.min = f,
                    None => return Ok(Ok(Vec::new())),
                }
            }
            if self.bounds.max.is_none() {
                range.max = ctx.now;
            }
            if range.min > range.max {
                return Ok(Ok(Vec::new()));
            }
        }
        // `first()` and `last()` without GROUP BY time need one point per series: ask for all of
        // them at once rather than series by series.
        let mut prefetched;
        let source: &mut dyn Source = match self.edge_directions() {
            Some(directions) => {
                prefetched = EdgePoints::load(source, &series_keys(&groups), range, &directions)?;
                &mut prefetched
            }
            None => source,
        };
        for g in &groups {
            let series = if self.aggregate {
                match self.aggregate_group(g, range, source)? {
                    Ok(s) => s,
                    Err(e) => return Ok(Err(e.into())),
                }
            } else {
                self.raw_group(g, range, source)?
            };
            if let Some(s) = series {
                rows += s.values.len();
                if rows > ctx.max_rows {
                    return Ok(Err(format!(
                        "the answer would have more than {} rows; use a larger GROUP BY time \
                         interval, a shorter time range or LIMIT",
                        ctx.max_rows
                    )
                    .into()));
                }
                out.push(s);
            }
        }
        Ok(Ok(out))
    }

    /// The tag keys a measurement's series are grouped by.
    fn dims_of(&self, tag_keys: &[String]) -> Vec<String> {
        match &self.dims {
            Dims::Tags(names) => names.clone(),
            Dims::Dynamic {
                names,
                all,
                regexes,
            } => {
                let mut keys: Vec<String> = tag_keys
                    .iter()
                    .filter(|k| *all || regexes.iter().any(|r| r.is_match(k)))
                    .cloned()
                    .collect();
                for n in names {
                    if !keys.contains(n) {
                        keys.push(n.clone());
                    }
                }
                keys.sort();
                keys
            }
        }
    }

    fn series_shell(&self, g: &Group<'_>, columns: Vec<String>) -> Series {
        Series {
            name: Some(g.measurement.clone()),
            tags: g.grouped.then(|| g.tags.clone()),
            columns,
            values: Vec::new(),
            partial: false,
            tz: self.tz,
        }
    }

    /// The group's points in `range`, merged in time order (then series order); with the
    /// series' index. Filtered by the condition's field comparisons.
    fn merged_points(
        &self,
        g: &Group<'_>,
        range: TimeRange,
        limit: Option<usize>,
        desc: bool,
        source: &mut dyn Source,
    ) -> Result<Vec<GroupPoint>, SourceError> {
        let mut merged = Vec::new();
        for (i, (s, filter)) in g.series.iter().enumerate() {
            let points = source.points(s.key, range, desc, if *filter { None } else { limit })?;
            for (t, v) in points {
                if *filter {
                    if let Some(c) = &self.rest {
                        if cond::eval(c, s, Some(v)) != Truth::True {
                            continue;
                        }
                    }
                }
                merged.push((t, v, i));
            }
        }
        merged.sort_by_key(|p| (p.0, p.2));
        if desc {
            merged.reverse();
        }
        Ok(merged)
    }

    fn expanded_columns(&self, g: &Group<'_>) -> Vec<Column> {
        // `*` and `/re/` in a raw field list: the field and the tags (not those grouped by),
        // merged in name order.
        let tag_keys: Vec<&String> = g
            .tag_keys
            .iter()
            .filter(|k| !g.tags.iter().any(|(d, _)| d == *k))
            .collect();
        let mut out: Vec<(Expr, Option<String>)> = Vec::new();
        for c in &self.columns {
            let (kind, re) = match c.expr.unparen() {
                Expr::Wildcard(k) => (Some(*k), None),
                Expr::Regex(re) => (Some(WildcardKind::All), Some(re.clone())),
                _ => (None, None),
            };
            match kind {
                Some(kind) => {
                    let mut names: Vec<(String, bool)> = Vec::new();
                    if kind != WildcardKind::Tags {
                        names.push((FIELD.to_owned(), true));
                    }
                    if kind != WildcardKind::Fields {
                        names.extend(tag_keys.iter().map(|k| ((*k).clone(), false)));
                    }
                    names.sort();
                    for (n, is_field) in names {
                        if re.as_ref().is_some_and(|r| !r.is_match(&n)) {
                            continue;
                        }
                        out.push((
                            Expr::VarRef(VarRef {
                                name: n,
                                data_type: Some(if is_field {
                                    DataType::Field
                                } else {
                                    DataType::Tag
                                }),
                            }),
                            None,
                        ));
                    }
                }
                None => out.push((c.expr.clone(), Some(c.name.clone()))),
            }
        }
        let names = column_names(&out);
        names
            .into_iter()
            .zip(out)
            .map(|(name, (expr, _))| Column { name, expr })
            .collect()
    }

    fn raw_group(
        &self,
        g: &Group<'_>,
        range: TimeRange,
        source: &mut dyn Source,
    ) -> Result<Option<Series>, SourceError> {
        let columns = self.expanded_columns(g);
        // Rows come from the field's points; columns of tags alone make no rows.
        if !columns.iter().any(|c| reads_field(&c.expr)) {
            return Ok(None);
        }
        let want = (self.limit > 0).then(|| self.limit + self.offset);
        let points = self.merged_points(g, range, want, self.desc, source)?;
        let mut series = self.series_shell(
            g,
            std::iter::once("time".to_owned())
                .chain(columns.iter().map(|c| c.name.clone()))
                .collect(),
        );
        let take = if self.limit > 0 {
            self.limit
        } else {
            usize::MAX
        };
        for (t, v, i) in points.into_iter().skip(self.offset).take(take) {
            let s = g.series[i].0;
            let mut row = Vec::with_capacity(columns.len() + 1);
            row.push(Cell::Time(t));
            for c in &columns {
                row.push(eval_raw(&c.expr, t, v, s));
            }
            series.values.push(row);
        }
        Ok((!series.values.is_empty()).then_some(series))
    }

    fn aggregate_group(
        &self,
        g: &Group<'_>,
        range: TimeRange,
        source: &mut dyn Source,
    ) -> Result<Result<Option<Series>, String>, SourceError> {
        let columns: Vec<String> = std::iter::once("time".to_owned())
            .chain(self.columns.iter().map(|c| c.name.clone()))
            .collect();
        let series = self.series_shell(g, columns);
        if !self.calls.iter().any(|c| c.on_field) {
            return Ok(Ok(None));
        }
        // Buckets are never all materialized: only those with points are computed, and empty
        // ones are produced while the answer is written (and only when `fill` emits them).
        let first = match self.interval {
            None => self.bounds.min.unwrap_or(0),
            Some((interval, offset)) => {
                let first = self.window_start(range.min, interval, offset);
                if self.fill != Fill::None {
                    let last = self.window_start(range.max, interval, offset);
                    let buckets = (last - first) / interval + 1;
                    if usize::try_from(buckets).map_or(true, |b| b > self.max_rows) {
                        return Ok(Err(format!(
                            "GROUP BY time({}) over this range makes {buckets} buckets, more \
                             than the {} rows an answer may have; use a larger interval, a \
                             shorter time range, or fill(none)",
                            super::format::go_duration(interval),
                            self.max_rows
                        )));
                    }
                }
                first
            }
        };
        let data = match self.stats_buckets(g, range, first, source)? {
            Some(data) => data,
            None => self.point_buckets(g, range, first, source)?,
        };
        Ok(Ok(self.finish_aggregate(g, range, first, &data, series)))
    }

    /// The bucket holding `t`: its start.
    fn bucket_of(&self, t: i64, first: i64) -> i64 {
        match self.interval {
            None => first,
            Some((interval, offset)) => self.window_start(t, interval, offset),
        }
    }

    /// Per bucket with points, from per-interval summaries computed by the source, when every
    /// call can be (`count`, `sum`, `mean`, `min`, `max`, `spread`, with fixed-length
    /// intervals: no `tz()`) and no point has to be checked against the condition; `None`
    /// otherwise.
    fn stats_buckets(
        &self,
        g: &Group<'_>,
        range: TimeRange,
        first: i64,
        source: &mut dyn Source,
    ) -> Result<Option<BTreeMap<i64, Bucket>>, SourceError> {
        // A lone selector's value suffices under GROUP BY time (the row's time is the bucket's);
        // without it, or with fields beside it, its point is needed.
        let needs_point = self.lone_selector && (self.interval.is_none() || self.raw_vars);
        if self.filter_points
            || needs_point
            || self.tz.is_some()
            || !self.calls.iter().all(|c| c.func.summarizable())
        {
            return Ok(None);
        }
        let mut acc: BTreeMap<i64, (u64, f64, f64, f64)> = BTreeMap::new();
        for (s, _) in &g.series {
            let stats = match self.interval {
                Some((interval, _)) => source.interval_stats(s.key, range, first, interval)?,
                // Without GROUP BY time: one bucket, the whole range.
                None => source.range_stats(s.key, range)?.map(|st| {
                    let whole = IntervalStats { start: first, ..st };
                    if st.count == 0 {
                        Vec::new()
                    } else {
                        vec![whole]
                    }
                }),
            };
            let Some(stats) = stats else {
                return Ok(None);
            };
            for st in stats {
                let e = acc
                    .entry(st.start)
                    .or_insert((0, 0.0, f64::INFINITY, f64::NEG_INFINITY));
                e.0 += st.count;
                e.1 += st.sum;
                e.2 = e.2.min(st.min);
                e.3 = e.3.max(st.max);
            }
        }
        Ok(Some(
            acc.into_iter()
                .map(|(start, (count, sum, min, max))| {
                    let values = self
                        .calls
                        .iter()
                        .map(|c| {
                            if c.on_field {
                                c.func.reduce_stats(count, sum, min, max)
                            } else {
                                Cell::Null
                            }
                        })
                        .collect();
                    (start, (values, None))
                })
                .collect(),
        ))
    }

    /// Which ends of each series [`Self::decisive_points`] will ask for (`true`: the last
    /// point), when it will be used and some of its calls are `first` or `last`.
    fn edge_directions(&self) -> Option<Vec<bool>> {
        if !self.aggregate || self.interval.is_some() || self.filter_points {
            return None;
        }
        let on_field = || self.calls.iter().filter(|c| c.on_field);
        if !on_field().all(|c| matches!(c.func, Func::First | Func::Last | Func::Min | Func::Max)) {
            return None;
        }
        let mut directions: Vec<bool> = on_field()
            .filter_map(|c| match c.func {
                Func::First => Some(false),
                Func::Last => Some(true),
                _ => None,
            })
            .collect();
        directions.sort_unstable();
        directions.dedup();
        (!directions.is_empty()).then_some(directions)
    }

    /// Without GROUP BY time, the only points that can decide `first`, `last`, `min` and
    /// `max`: each series' first, last, smallest or largest point, asked of the source (an
    /// index lookup each for `first` and `last`), instead of every point of the range. `None`
    /// when another function is asked for or points must be checked against the condition.
    fn decisive_points(
        &self,
        g: &Group<'_>,
        range: TimeRange,
        source: &mut dyn Source,
    ) -> Result<Option<Vec<GroupPoint>>, SourceError> {
        let deciding = |f: Func| matches!(f, Func::First | Func::Last | Func::Min | Func::Max);
        if self.interval.is_some()
            || self.filter_points
            || !self
                .calls
                .iter()
                .filter(|c| c.on_field)
                .all(|c| deciding(c.func))
        {
            return Ok(None);
        }
        let mut out: Vec<GroupPoint> = Vec::new();
        for (i, (s, _)) in g.series.iter().enumerate() {
            for c in self.calls.iter().filter(|c| c.on_field) {
                let p = match c.func {
                    Func::First => source
                        .points(s.key, range, false, Some(1))?
                        .first()
                        .copied(),
                    Func::Last => source.points(s.key, range, true, Some(1))?.first().copied(),
                    _ => source.extreme(s.key, range, c.func == Func::Max)?,
                };
                if let Some((t, v)) = p {
                    if !out.contains(&(t, v, i)) {
                        out.push((t, v, i));
                    }
                }
            }
        }
        out.sort_by_key(|p| (p.0, p.2));
        Ok(Some(out))
    }

    /// Per bucket with points, from the points.
    fn point_buckets(
        &self,
        g: &Group<'_>,
        range: TimeRange,
        first: i64,
        source: &mut dyn Source,
    ) -> Result<BTreeMap<i64, Bucket>, SourceError> {
        let points = match self.decisive_points(g, range, source)? {
            Some(points) => points,
            None => self.merged_points(g, range, None, false, source)?,
        };
        let mut data = BTreeMap::new();
        let mut begin = 0;
        while begin < points.len() {
            let bucket = self.bucket_of(points[begin].0, first);
            let end = begin
                + points[begin..]
                    .iter()
                    .take_while(|p| self.bucket_of(p.0, first) == bucket)
                    .count();
            let slice = &points[begin..end];
            begin = end;
            let tv: Vec<(i64, f64)> = slice.iter().map(|p| (p.0, p.1)).collect();
            let mut selected = None;
            let mut no_point = false;
            let values: Vec<Cell> = self
                .calls
                .iter()
                .map(|c| {
                    if !c.on_field {
                        return Cell::Null;
                    }
                    let (cell, sel) = c.func.reduce(&tv);
                    if let Some(i) = sel {
                        selected = Some(slice[i]);
                    }
                    // A percentile that selects no point (percentile 0) emits nothing.
                    no_point |= matches!(c.func, Func::Percentile(_)) && sel.is_none();
                    cell
                })
                .collect();
            if !no_point {
                data.insert(bucket, (values, selected));
            }
        }
        Ok(data)
    }

    /// The value of an empty bucket at `start` under `fill`; `None` when it is left out.
    fn filled(
        &self,
        start: i64,
        data: &BTreeMap<i64, Bucket>,
        previous: Option<&Vec<Cell>>,
    ) -> Option<Vec<Cell>> {
        let n = self.calls.len();
        match self.fill {
            Fill::None => None,
            Fill::Null => Some(self.calls.iter().map(|c| c.func.empty()).collect()),
            Fill::Integer(_) | Fill::Float(_) => {
                #[allow(clippy::cast_precision_loss)]
                let f = match self.fill {
                    Fill::Integer(i) => i as f64,
                    Fill::Float(f) => f,
                    _ => 0.0,
                };
                Some(
                    self.calls
                        .iter()
                        .map(|c| {
                            if c.func == Func::Count {
                                #[allow(clippy::cast_possible_truncation)]
                                Cell::Integer(f.trunc() as i64)
                            } else if let Fill::Integer(i) = self.fill {
                                Cell::Integer(i)
                            } else {
                                Cell::Float(f)
                            }
                        })
                        .collect(),
                )
            }
            Fill::Previous => Some(previous.cloned().unwrap_or_else(|| vec![Cell::Null; n])),
            Fill::Linear => {
                let before = data.range(..start).next_back();
                let after = data.range(start + 1..).next();
                Some(
                    (0..n)
                        .map(|ci| match (before, after) {
                            (Some((t0, (v0, _))), Some((t1, (v1, _)))) => {
                                linear(start, (*t0, &v0[ci]), (*t1, &v1[ci]))
                            }
                            _ => Cell::Null,
                        })
                        .collect(),
                )
            }
        }
    }

    /// The rows: buckets with points and, as `fill` says, the empty ones between the first and
    /// the last bucket of the range; the field expressions evaluated; ORDER, LIMIT and OFFSET.
    fn finish_aggregate(
        &self,
        g: &Group<'_>,
        range: TimeRange,
        first: i64,
        data: &BTreeMap<i64, Bucket>,
        mut series: Series,
    ) -> Option<Series> {
        if data.is_empty() {
            return None;
        }
        let mut rows: Vec<(i64, Vec<Cell>, Option<Selected>)> = Vec::new();
        match self.interval {
            Some((interval, offset)) if self.fill != Fill::None => {
                let mut start = first;
                while start <= range.max {
                    let row = match data.get(&start) {
                        Some((v, sel)) => Some((v.clone(), *sel)),
                        None => self
                            .filled(start, data, rows.last().map(|r| &r.1))
                            .map(|v| (v, None)),
                    };
                    if let Some((values, selected)) = row {
                        rows.push((start, values, selected));
                    }
                    let next = self.window_start(start.saturating_add(interval), interval, offset);
                    start = if next <= start {
                        start.saturating_add(interval)
                    } else {
                        next
                    };
                }
            }
            _ => {
                for (start, (values, selected)) in data {
                    let time = match (self.interval, selected) {
                        (None, Some(p)) if self.lone_selector => p.0,
                        _ => *start,
                    };
                    rows.push((time, values.clone(), *selected));
                }
            }
        }
        if self.desc {
            rows.reverse();
        }
        let take = if self.limit > 0 {
            self.limit
        } else {
            usize::MAX
        };
        for (time, values, selected) in rows.into_iter().skip(self.offset).take(take) {
            let mut row = Vec::with_capacity(self.columns.len() + 1);
            row.push(Cell::Time(time));
            for c in &self.columns {
                row.push(self.eval_aggregate(&c.expr, &values, selected, g));
            }
            series.values.push(row);
        }
        (!series.values.is_empty()).then_some(series)
    }

    fn eval_aggregate(
        &self,
        e: &Expr,
        values: &[Cell],
        selected: Option<(i64, f64, usize)>,
        g: &Group<'_>,
    ) -> Cell {
        if let Some(i) = self.calls.iter().position(|c| c.expr == *e) {
            return values[i].clone();
        }
        match e {
            Expr::Paren(inner) => self.eval_aggregate(inner, values, selected, g),
            Expr::Binary { op, lhs, rhs } => {
                let l = self.eval_aggregate(lhs, values, selected, g);
                let r = self.eval_aggregate(rhs, values, selected, g);
                combine(*op, &l, &r)
            }
            Expr::Call { name, args } => {
                let inner = args
                    .first()
                    .map_or(Cell::Null, |a| self.eval_aggregate(a, values, selected, g));
                let arg = args.get(1).and_then(number);
                match inner.as_f64() {
                    Some(v) => functions::math(name, v, arg).map_or(Cell::Null, Cell::Float),
                    None => Cell::Null,
                }
            }
            // Fields and tags beside a lone selector: those of the selected point.
            Expr::VarRef(_) => match selected {
                Some((t, v, i)) => eval_raw(e, t, v, g.series[i].0),
                None => Cell::Null,
            },
            other => literal(other),
        }
    }

    /// The start of the `GROUP BY time` bucket holding `t` (InfluxDB's `Window`, with the
    /// zone's offset under `tz()`).
    fn window_start(&self, t: i64, interval: i64, offset: i64) -> i64 {
        let t = t.saturating_sub(offset);
        let zone = self.tz.map_or(0, |tz| tz_offset_ns(tz, t));
        let dt = (t.saturating_add(zone)).rem_euclid(interval);
        let mut start = t.saturating_sub(dt);
        if let Some(tz) = self.tz {
            let o = zone - tz_offset_ns(tz, start);
            if o != 0 && o.abs() < interval {
                start += o;
            }
        }
        start.saturating_add(offset)
    }
}

/// fill(linear): the value at `t` on the line between two buckets with values (InfluxDB's
/// integer arithmetic for counts).
fn linear(t: i64, (t0, v0): (i64, &Cell), (t1, v1): (i64, &Cell)) -> Cell {
    #[allow(clippy::cast_precision_loss)]
    match (v0, v1) {
        (Cell::Integer(a), Cell::Integer(b)) => {
            let m = (b - a) as f64 / (t1 - t0) as f64;
            let x = (t - t0) as f64;
            #[allow(clippy::cast_possible_truncation)]
            Cell::Integer((m * x + *a as f64) as i64)
        }
        (a, b) => match (a.as_f64(), b.as_f64()) {
            (Some(a), Some(b)) => Cell::Float(a + (b - a) * (t - t0) as f64 / (t1 - t0) as f64),
            _ => Cell::Null,
        },
    }
}

/// A bucket's reduced values (one per call) and the point a selector chose (time, value,
/// series index).
type Bucket = (Vec<Cell>, Option<Selected>);
/// A point of a group: time, value, index of its series in the group.
type GroupPoint = (i64, f64, usize);
/// The point a selector chose.
type Selected = GroupPoint;

/// The keys of every series of `groups`.
fn series_keys(groups: &[Group<'_>]) -> Vec<i64> {
    groups
        .iter()
        .flat_map(|g| g.series.iter().map(|(s, _)| s.key))
        .collect()
}

/// A source that already holds the first and/or last point in one range of a set of series,
/// fetched together; everything else goes to the source behind it.
struct EdgePoints<'s> {
    inner: &'s mut dyn Source,
    range: TimeRange,
    known: HashMap<(i64, bool), Option<(i64, f64)>>,
}

impl<'s> EdgePoints<'s> {
    fn load(
        inner: &'s mut dyn Source,
        keys: &[i64],
        range: TimeRange,
        directions: &[bool],
    ) -> Result<Self, SourceError> {
        let mut known = HashMap::new();
        for &desc in directions {
            let points = inner.edge_points(keys, range, desc)?;
            known.extend(keys.iter().zip(points).map(|(&k, p)| ((k, desc), p)));
        }
        Ok(EdgePoints {
            inner,
            range,
            known,
        })
    }
}

impl Source for EdgePoints<'_> {
    fn series(&mut self, measurements: Option<&[String]>) -> Result<Vec<SeriesMeta>, SourceError> {
        self.inner.series(measurements)
    }

    fn points(
        &mut self,
        key: i64,
        range: TimeRange,
        desc: bool,
        limit: Option<usize>,
    ) -> Result<Vec<(i64, f64)>, SourceError> {
        match self.known.get(&(key, desc)) {
            Some(p) if range == self.range && limit == Some(1) => Ok(p.iter().copied().collect()),
            _ => self.inner.points(key, range, desc, limit),
        }
    }

    fn edge_points(
        &mut self,
        keys: &[i64],
        range: TimeRange,
        desc: bool,
    ) -> Result<Vec<Option<(i64, f64)>>, SourceError> {
        self.inner.edge_points(keys, range, desc)
    }

    fn interval_stats(
        &mut self,
        key: i64,
        range: TimeRange,
        base: i64,
        interval: i64,
    ) -> Result<Option<Vec<IntervalStats>>, SourceError> {
        self.inner.interval_stats(key, range, base, interval)
    }

    fn range_stats(
        &mut self,
        key: i64,
        range: TimeRange,
    ) -> Result<Option<IntervalStats>, SourceError> {
        self.inner.range_stats(key, range)
    }

    fn extreme(
        &mut self,
        key: i64,
        range: TimeRange,
        largest: bool,
    ) -> Result<Option<(i64, f64)>, SourceError> {
        self.inner.extreme(key, range, largest)
    }
}

/// One output series: a measurement's series sharing the dimensions' tag values.
struct Group<'a> {
    /// The tag keys of the statement's measurements (what `*` expands to).
    tag_keys: &'a [String],
    measurement: String,
    tags: Vec<(String, String)>,
    grouped: bool,
    /// With whether each needs its points checked against the condition.
    series: Vec<(&'a SeriesMeta, bool)>,
}

fn raw_var(e: &Expr) -> bool {
    match e {
        Expr::Call { name, .. }
            if functions::kind(name).is_ok_and(|k| matches!(k, Kind::Reducer)) =>
        {
            false
        }
        Expr::Call { args, .. } => args.iter().any(raw_var),
        Expr::VarRef(v) => v.name != "time",
        Expr::Wildcard(_) | Expr::Regex(_) => true,
        Expr::Binary { lhs, rhs, .. } => raw_var(lhs) || raw_var(rhs),
        Expr::Paren(e) => raw_var(e),
        _ => false,
    }
}

fn reads_field(e: &Expr) -> bool {
    e.any(|x| matches!(x, Expr::VarRef(v) if v.name == FIELD && v.data_type != Some(DataType::Tag)))
}

fn number(e: &Expr) -> Option<f64> {
    match e.unparen() {
        #[allow(clippy::cast_precision_loss)]
        Expr::Integer(i) => Some(*i as f64),
        Expr::Number(f) => Some(*f),
        _ => None,
    }
}

fn literal(e: &Expr) -> Cell {
    match e.unparen() {
        Expr::Integer(i) => Cell::Integer(*i),
        Expr::Number(f) => Cell::Float(*f),
        Expr::String(s) => Cell::Str(s.clone()),
        Expr::Boolean(b) => Cell::Bool(*b),
        _ => Cell::Null,
    }
}

/// `l op r` on cells: integers stay integers (but `/` divides as floats), null propagates.
fn combine(op: BinaryOp, l: &Cell, r: &Cell) -> Cell {
    if let (Cell::Integer(a), Cell::Integer(b)) = (l, r) {
        if op != BinaryOp::Div {
            return match op {
                BinaryOp::Add => Cell::Integer(a.wrapping_add(*b)),
                BinaryOp::Sub => Cell::Integer(a.wrapping_sub(*b)),
                BinaryOp::Mul => Cell::Integer(a.wrapping_mul(*b)),
                BinaryOp::Mod => Cell::Integer(if *b == 0 { 0 } else { a.wrapping_rem(*b) }),
                BinaryOp::BitAnd => Cell::Integer(a & b),
                BinaryOp::BitOr => Cell::Integer(a | b),
                BinaryOp::BitXor => Cell::Integer(a ^ b),
                _ => Cell::Null,
            };
        }
    }
    match (l.as_f64(), r.as_f64()) {
        (Some(a), Some(b)) => arith(op, a, b).map_or(Cell::Null, Cell::Float),
        _ => Cell::Null,
    }
}

/// Go's conversion of a float to int64: out of range (or NaN) gives the minimum.
fn go_int(v: f64) -> i64 {
    #[allow(clippy::cast_precision_loss)]
    if v.is_nan() || v >= i64::MAX as f64 || v < i64::MIN as f64 {
        i64::MIN
    } else {
        #[allow(clippy::cast_possible_truncation)]
        let i = v as i64;
        i
    }
}

/// One raw row's value of a field expression.
fn eval_raw(e: &Expr, t: i64, v: f64, s: &SeriesMeta) -> Cell {
    match e {
        Expr::VarRef(var) if var.name == "time" => Cell::Time(t),
        Expr::VarRef(var) if var.name == FIELD && var.data_type != Some(DataType::Tag) => {
            match var.data_type {
                Some(DataType::Integer) => Cell::Integer(go_int(v)),
                Some(DataType::String | DataType::Boolean | DataType::Unsigned) => Cell::Null,
                _ => Cell::Float(v),
            }
        }
        Expr::VarRef(var) => match var.data_type {
            Some(DataType::Field | DataType::Float | DataType::Integer) => Cell::Null,
            _ => s
                .tag(&var.name)
                .map_or(Cell::Null, |x| Cell::Str(x.to_owned())),
        },
        Expr::Paren(inner) => eval_raw(inner, t, v, s),
        Expr::Binary { op, lhs, rhs } => {
            let l = eval_raw(lhs, t, v, s);
            let r = eval_raw(rhs, t, v, s);
            combine(*op, &l, &r)
        }
        Expr::Call { name, args } => {
            let inner = args.first().map_or(Cell::Null, |a| eval_raw(a, t, v, s));
            let arg = args.get(1).and_then(number);
            match inner.as_f64() {
                Some(x) => functions::math(name, x, arg).map_or(Cell::Null, Cell::Float),
                None => Cell::Null,
            }
        }
        other => literal(other),
    }
}

/// Checks a call's name and arguments; a reducer gives a [`Call`].
fn check_call(name: &str, args: &[Expr]) -> Result<Option<Call>, String> {
    match functions::kind(name)? {
        Kind::Math => {
            let want = if matches!(name, "pow" | "log" | "atan2") {
                2
            } else {
                1
            };
            if args.len() != want {
                return Err(format!(
                    "invalid number of arguments for {name}, expected {want}, got {}",
                    args.len()
                ));
            }
            Ok(None)
        }
        Kind::Reducer => {
            let want = if name == "percentile" { 2 } else { 1 };
            if args.len() != want {
                return Err(format!(
                    "invalid number of arguments for {name}, expected {want}, got {}",
                    args.len()
                ));
            }
            let pct = if name == "percentile" {
                Some(
                    number(&args[1])
                        .ok_or_else(|| "expected float argument in percentile()".to_owned())?,
                )
            } else {
                None
            };
            let on_field = match args[0].unparen() {
                Expr::VarRef(v) => v.name == FIELD && v.data_type != Some(DataType::Tag),
                Expr::Call { name: inner, .. } => {
                    return Err(format!(
                        "{inner}() inside {name}() is not supported by Fieldline"
                    ));
                }
                _ => return Err(format!("expected field argument in {name}()")),
            };
            let func =
                Func::new(name, pct).ok_or_else(|| format!("undefined function {name}()"))?;
            Ok(Some(Call {
                func,
                expr: Expr::Call {
                    name: name.to_owned(),
                    args: args.to_vec(),
                },
                on_field,
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{execute, Context, SeriesMeta, Source, SourceError, TimeRange};
    use crate::influxql::parse_query;

    /// Ten series of one measurement, `device` = d0..d9, points at 1..=5 s with value
    /// `10·series + second`; counts what the engine asks for.
    #[derive(Default)]
    struct Counting {
        points_calls: usize,
        edge_calls: usize,
        batched: bool,
    }

    fn series_points(key: i64) -> Vec<(i64, f64)> {
        (1..=5)
            .map(|s| (s * 1_000_000_000, (10 * key + s) as f64))
            .collect()
    }

    impl Source for Counting {
        fn series(&mut self, _: Option<&[String]>) -> Result<Vec<SeriesMeta>, SourceError> {
            Ok((0..10)
                .map(|k| SeriesMeta {
                    key: k,
                    measurement: "m".into(),
                    tags: vec![("device".into(), format!("d{k}"))],
                })
                .collect())
        }

        fn points(
            &mut self,
            key: i64,
            range: TimeRange,
            desc: bool,
            limit: Option<usize>,
        ) -> Result<Vec<(i64, f64)>, SourceError> {
            self.points_calls += 1;
            let mut p: Vec<_> = series_points(key)
                .into_iter()
                .filter(|p| range.min <= p.0 && p.0 <= range.max)
                .collect();
            if desc {
                p.reverse();
            }
            p.truncate(limit.unwrap_or(usize::MAX));
            Ok(p)
        }

        fn edge_points(
            &mut self,
            keys: &[i64],
            range: TimeRange,
            desc: bool,
        ) -> Result<Vec<Option<(i64, f64)>>, SourceError> {
            // The trait's own answer, series by series; counted as one request when batched.
            let before = self.points_calls;
            let out = keys
                .iter()
                .map(|&k| Ok(self.points(k, range, desc, Some(1))?.first().copied()))
                .collect();
            if self.batched {
                self.edge_calls += 1;
                self.points_calls = before;
            }
            out
        }
    }

    fn run(q: &str, source: &mut Counting) -> String {
        let ctx = Context {
            database: "db".into(),
            retention: 0,
            db: Some("db".into()),
            rp: None,
            now: 10_000_000_000,
            max_rows: 10_000,
        };
        let statements = parse_query(q).expect("parses");
        format!("{:?}", execute(&statements, &ctx, source).expect("runs"))
    }

    #[test]
    fn first_and_last_of_many_series_are_one_request_per_direction() {
        let q = "SELECT first(value), last(value), max(value) FROM m \
                 WHERE time >= 2s AND time <= 4s GROUP BY device";
        let mut batched = Counting {
            batched: true,
            ..Counting::default()
        };
        let mut one_by_one = Counting::default();
        let answer = run(q, &mut batched);
        assert_eq!(
            answer,
            run(q, &mut one_by_one),
            "the same answer either way"
        );
        assert!(answer.contains("d9") && answer.contains("94.0"), "{answer}");
        assert_eq!(batched.edge_calls, 2, "one request for first, one for last");
        // max() still reads each series' range (the default `extreme` reads its points).
        assert_eq!(batched.points_calls, 10);
        assert_eq!(one_by_one.points_calls, 30);
    }

    #[test]
    fn group_by_time_without_a_lower_bound_finds_the_first_point_in_one_request() {
        let q = "SELECT count(value) FROM m GROUP BY time(1s) fill(none)";
        let mut batched = Counting {
            batched: true,
            ..Counting::default()
        };
        let answer = run(q, &mut batched);
        assert_eq!(answer, run(q, &mut Counting::default()));
        assert_eq!(batched.edge_calls, 1);
    }
}
