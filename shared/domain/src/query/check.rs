//! Checking a `SELECT` as InfluxDB 1.x's compiler does, before any point is read: the errors it
//! reports come from here, and what passes becomes the [`Plan`] the other modules execute.

use std::collections::BTreeMap;

use chrono_tz::Tz;

use crate::influxql::{
    DataType, Dimension, Expr, Fill, MeasurementName, SelectStatement, Source as FromSource,
    TimeOffset, VarRef,
};

use super::cond::{self, Bounds};
use super::eval::number;
use super::functions::{self, Func, Kind};
use super::selectors::{self, Multi};
use super::transform::{self, Input, Transform};
use super::{Context, StatementError, FIELD};

/// A reducer call of the field list, once per distinct call.
#[derive(Clone, Debug)]
pub(super) struct Call {
    pub(super) func: Func,
    /// The call as written, to find it again in the field expressions.
    pub(super) expr: Expr,
    /// The argument is the field (a tag or an unknown name reads as no points at all).
    pub(super) on_field: bool,
}

/// The statement's transformation (`derivative(mean(value), 1m)`, `integral(value)`): the
/// only call of its field list besides the aggregate it reads.
#[derive(Clone, Debug)]
pub(super) struct TransformCall {
    pub(super) transform: Transform,
    /// The call as written, to find it again in the field expression.
    pub(super) expr: Expr,
    /// It reads the buckets of the statement's one reducer call (the nested form); otherwise
    /// the raw points.
    pub(super) nested: bool,
    /// The raw form reads the field (a tag or an unknown name reads as no points at all).
    pub(super) on_field: bool,
}

/// A column of the answer.
#[derive(Clone, Debug)]
pub(super) struct Column {
    pub(super) name: String,
    pub(super) expr: Expr,
}

/// A statement that passed the checks, resolved into what running it needs.
pub(super) struct Plan {
    pub(super) columns: Vec<Column>,
    pub(super) calls: Vec<Call>,
    pub(super) aggregate: bool,
    /// `GROUP BY time`: interval and offset (reduced modulo the interval), nanoseconds.
    pub(super) interval: Option<(i64, i64)>,
    pub(super) dims: Dims,
    pub(super) fill: Fill,
    pub(super) desc: bool,
    pub(super) limit: usize,
    pub(super) offset: usize,
    pub(super) slimit: usize,
    pub(super) soffset: usize,
    pub(super) tz: Option<Tz>,
    pub(super) bounds: Bounds,
    /// The condition without its time comparisons.
    pub(super) rest: Option<Expr>,
    /// Whether `rest` reads the field (then points are filtered one by one).
    pub(super) filter_points: bool,
    pub(super) sources: Vec<MeasurementName>,
    /// The database of `sources`, and the retention policy whose points are read.
    pub(super) database: String,
    pub(super) retention_policy: String,
    /// The most rows the statement may answer with.
    pub(super) max_rows: usize,
    /// The statement's only reducer is a selector: its point's time (and tags, fields) are
    /// reported.
    pub(super) lone_selector: bool,
    /// The statement reads the store, whose reader InfluxDB stops after the points its LIMIT
    /// and OFFSET need (`top()`/`bottom()` choose among those); not a subquery's answer.
    pub(super) reads_store: bool,
    /// Fields or tags stand beside the (lone) selector: its point is needed, not only its value.
    pub(super) raw_vars: bool,
    /// The field read is an integer field presented as floats ([`super::typed_calls`]): its
    /// `integral` under GROUP BY time keeps InfluxDB's integer reducer's arithmetic.
    pub(super) integer_field: bool,
    /// The field read is a boolean field presented as 0 and 1: of points at one time,
    /// InfluxDB's `first()` keeps false (its `last()` true, the larger, as for numbers).
    pub(super) boolean_field: bool,
    /// Each row of a selector (`first`, `min`, ..., `top`, `bottom`) ends in two more cells, the
    /// key of the series whose point it is and the point's time ([`ORIGIN`]): where fields
    /// beside the call are read
    /// at that point ([`super::typed_calls`]), of equal values at one time it tells which.
    pub(super) origins: bool,
    pub(super) transform: Option<TransformCall>,
    pub(super) multi: Option<MultiCall>,
}

/// The names of the last two columns [`Plan::origins`] adds (the selected point's series key,
/// then its time): no columns of InfluxQL's.
pub(super) const ORIGIN: [&str; 2] = ["\u{0}origin", "\u{0}at"];

/// The statement's selector of several points per bucket (`top`, `bottom`, `distinct`): the
/// only call of its field list.
#[derive(Clone, Debug)]
pub(super) struct MultiCall {
    pub(super) multi: Multi,
    /// The call as written, to find it again in the field expression.
    pub(super) expr: Expr,
    /// It reads the field (a tag or an unknown name reads as no points at all).
    pub(super) on_field: bool,
}

#[derive(Clone, Debug)]
pub(super) enum Dims {
    Tags(Vec<String>),
    /// `GROUP BY *`, or with regexes: resolved per measurement.
    Dynamic {
        names: Vec<String>,
        all: bool,
        regexes: Vec<crate::influxql::Regex>,
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
pub(super) fn column_names(fields: &[(Expr, Option<String>)]) -> Vec<String> {
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
    pub(super) fn new(s: &SelectStatement, ctx: &Context) -> Result<Plan, StatementError> {
        // The statement's own target is `into`'s; a subquery cannot write.
        if s.into.is_some() {
            return Err("SELECT INTO in a subquery is not supported by Fieldline".into());
        }
        let mut sources = Vec::new();
        let mut database: Option<(String, String)> = None;
        for src in &s.from {
            match src {
                FromSource::Measurement(m) => {
                    let (db, rp) =
                        ctx.check_policy(m.database.as_deref(), m.retention_policy.as_deref())?;
                    if let Some((d, r)) = &database {
                        if *d != db {
                            return Err("a statement over measurements of several databases is \
                                        not supported by Fieldline"
                                .into());
                        }
                        if *r != rp {
                            return Err("a statement over measurements of several retention \
                                        policies is not supported by Fieldline"
                                .into());
                        }
                    }
                    database = Some((db, rp));
                    sources.push(m.name.clone());
                }
                FromSource::Subquery(_) => {
                    return Err("subqueries are not supported by Fieldline".into());
                }
            }
        }
        if sources.is_empty() {
            database = Some(ctx.check_policy(None, None)?);
        }
        let (database, retention_policy) = database.unwrap_or_default();
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
                Dimension::Regex(re) => regexes.push(re.clone()),
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
                // InfluxDB expands no wildcard in `distinct()`.
                Expr::Call { name, args }
                    if name == "distinct"
                        && matches!(
                            args.first().map(Expr::unparen),
                            Some(Expr::Wildcard(_) | Expr::Regex(_))
                        ) =>
                {
                    return Err("expected field argument in distinct()".into());
                }
                Expr::Call { name, args }
                    if !args.is_empty()
                        && matches!(args[0].unparen(), Expr::Wildcard(_) | Expr::Regex(_)) =>
                {
                    let matches_field = match args[0].unparen() {
                        Expr::Regex(re) => re.is_match(FIELD),
                        _ => true,
                    };
                    if matches_field {
                        let mut args = args.clone();
                        args[0] = Expr::VarRef(VarRef {
                            name: FIELD.into(),
                            data_type: None,
                        });
                        fields.push((
                            Expr::Call {
                                name: name.clone(),
                                args,
                            },
                            Some(f.alias.clone().unwrap_or_else(|| format!("{name}_{FIELD}"))),
                        ));
                    }
                }
                // `DISTINCT value` is `distinct(value)`.
                Expr::Distinct(name) => fields.push((
                    Expr::Call {
                        name: "distinct".into(),
                        args: vec![Expr::VarRef(VarRef {
                            name: name.clone(),
                            data_type: None,
                        })],
                    },
                    f.alias.clone(),
                )),
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
        let mut found = Found {
            limit: s.limit.unwrap_or(0),
            ..Found::default()
        };
        let time_interval = interval.map(|(i, _)| i);
        for (e, _) in &fields {
            found.visit(e, time_interval)?;
            let has_var =
                e.any(|x| matches!(x, Expr::VarRef(_) | Expr::Wildcard(_) | Expr::Regex(_)));
            if !has_var {
                return Err("field must contain at least one variable".into());
            }
        }
        let Found {
            calls,
            reducers,
            selectors,
            transforms,
            multis,
            ..
        } = found;
        let multi = match multis.as_slice() {
            [] => None,
            [m] => {
                let others = !calls.is_empty() || !transforms.is_empty();
                match &m.multi {
                    Multi::Distinct
                        if others || fields.len() > 1 || fields.iter().any(|(e, _)| raw_var(e)) =>
                    {
                        return Err(
                            "aggregate function distinct() cannot be combined with other \
                                    functions or fields"
                                .into(),
                        );
                    }
                    Multi::Sample(_) if others => {
                        return Err(
                            "sample() together with other functions is not supported by Fieldline"
                                .into(),
                        );
                    }
                    Multi::TopBottom { .. } if others => {
                        return Err(format!(
                            "selector function {}() cannot be combined with other functions",
                            call_name(&m.expr)
                        )
                        .into());
                    }
                    _ => {}
                }
                Some(m.clone())
            }
            [m, ..] => {
                return Err(match m.multi {
                    Multi::Distinct => "aggregate function distinct() cannot be combined with \
                                        other functions or fields"
                        .to_owned(),
                    Multi::TopBottom { .. } => format!(
                        "selector function {}() cannot be combined with other functions",
                        call_name(&m.expr)
                    ),
                    Multi::Sample(_) => {
                        "sample() together with other functions is not supported by Fieldline"
                            .to_owned()
                    }
                }
                .into())
            }
        };
        // `top(value, tag, N)` answers the tag beside the value: right after it, before the
        // columns that follow it.
        if let Some(MultiCall {
            multi: Multi::TopBottom { tags, .. },
            ..
        }) = &multi
        {
            let at = fields
                .iter()
                .position(|(e, _)| {
                    e.any(|x| matches!(x, Expr::Call { name, .. } if selectors::is_multi(name)))
                })
                .map_or(fields.len(), |i| i + 1);
            for (k, t) in tags.iter().enumerate() {
                fields.insert(
                    at + k,
                    (
                        Expr::VarRef(VarRef {
                            name: t.clone(),
                            data_type: None,
                        }),
                        None,
                    ),
                );
            }
        }
        // InfluxDB checks the fields beside the calls before anything else of the statement
        // as a whole; a transformation is no selector.
        if !transforms.is_empty() && fields.iter().any(|(e, _)| raw_var(e)) {
            return Err("mixing aggregate and non-aggregate queries is not supported".into());
        }
        let transform = match transforms.as_slice() {
            [] => None,
            [t] => {
                let fields_with_calls = fields
                    .iter()
                    .filter(|(e, _)| {
                        e.any(|x| matches!(x, Expr::Call { name, .. } if name != "now"))
                    })
                    .count();
                let extra = if t.nested { 1 } else { 0 };
                if fields_with_calls > 1 || calls.len() > extra || reducers > extra {
                    return Err(format!(
                        "{}() together with other functions is not supported by Fieldline",
                        call_name(&t.expr)
                    )
                    .into());
                }
                Some(t.clone())
            }
            [t, ..] => {
                return Err(format!(
                    "{}() together with other functions is not supported by Fieldline",
                    call_name(&t.expr)
                )
                .into())
            }
        };
        let aggregate = reducers > 0 || transform.is_some() || multi.is_some();
        // Variables outside calls (raw fields and tags).
        let raw_vars = fields.iter().any(|(e, _)| raw_var(e));
        // One selector, however often it is written (`max(x) / max(x)`): InfluxDB counts
        // distinct calls.
        let lone_selector = matches!(calls.as_slice(), [c] if c.func.is_selector())
            && selectors == reducers
            && transform.is_none();
        // A call of `*` or `/re/` is no selector to InfluxDB's compiler, whatever it matches.
        if calls_a_pattern(s) && raw_vars {
            return Err("mixing aggregate and non-aggregate queries is not supported".into());
        }
        if aggregate && raw_vars && multi.is_none() {
            if selectors > 1 {
                return Err(
                    "mixing multiple selector functions with tags or fields is not supported"
                        .into(),
                );
            }
            if !lone_selector || transform.is_some() {
                return Err("mixing aggregate and non-aggregate queries is not supported".into());
            }
        }
        if !aggregate {
            match s.fill {
                Fill::None => return Err("fill(none) must be used with a function".into()),
                Fill::Linear => return Err("fill(linear) must be used with a function".into()),
                _ => {}
            }
        }
        if !aggregate && times > 0 && interval.is_some() {
            return Err("GROUP BY requires at least one aggregate function".into());
        }

        let (rest, bounds) = cond::split_select(s.condition.as_ref(), ctx.now)?;
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
            database,
            retention_policy,
            max_rows: ctx.max_rows,
            lone_selector,
            reads_store: true,
            raw_vars,
            integer_field: false,
            boolean_field: false,
            origins: false,
            transform,
            multi,
        })
    }
}

/// Whether a call of the field list reads `*` or `/re/` (`max(*)`, `count(/^usage_/)`), as
/// written.
pub(super) fn calls_a_pattern(s: &SelectStatement) -> bool {
    s.fields.iter().any(|f| {
        f.expr.any(|e| {
            matches!(e, Expr::Call { args, .. }
                if args.first().is_some_and(|a| matches!(a.unparen(), Expr::Wildcard(_) | Expr::Regex(_))))
        })
    })
}

/// The variables outside calls ([`raw_var`]) by name, each once, in name order: what InfluxDB
/// carries beside a selector's points (`IteratorOptions.Aux`).
pub(super) fn aux_names(columns: &[Column]) -> Vec<String> {
    fn walk(e: &Expr, out: &mut Vec<String>) {
        match e {
            Expr::Call { name, .. } if reads_inside(name) => {}
            Expr::Call { args, .. } => args.iter().for_each(|a| walk(a, out)),
            Expr::VarRef(v) if v.name != "time" => out.push(v.name.clone()),
            Expr::Binary { lhs, rhs, .. } => {
                walk(lhs, out);
                walk(rhs, out);
            }
            Expr::Paren(e) => walk(e, out),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for c in columns {
        walk(&c.expr, &mut out);
    }
    out.sort();
    out.dedup();
    out
}

/// Whether a call of `name` reads its arguments itself (a reducer, a transformation, a
/// selector of several points): the variables inside it are not auxiliary.
fn reads_inside(name: &str) -> bool {
    selectors::is_multi(name)
        || functions::kind(name).is_ok_and(|k| matches!(k, Kind::Reducer | Kind::Transform))
}

/// Whether `e` reads a field or tag outside any function call (InfluxDB's auxiliary fields).
pub(super) fn raw_var(e: &Expr) -> bool {
    match e {
        Expr::Call { name, .. } if reads_inside(name) => false,
        Expr::Call { args, .. } => args.iter().any(raw_var),
        Expr::VarRef(v) => v.name != "time",
        Expr::Wildcard(_) | Expr::Regex(_) => true,
        Expr::Binary { lhs, rhs, .. } => raw_var(lhs) || raw_var(rhs),
        Expr::Paren(e) => raw_var(e),
        _ => false,
    }
}

fn call_name(e: &Expr) -> &str {
    match e {
        Expr::Call { name, .. } => name,
        _ => "",
    }
}

/// The calls of a field list, checked.
#[derive(Default)]
struct Found {
    /// Distinct reducer calls.
    calls: Vec<Call>,
    reducers: usize,
    selectors: usize,
    transforms: Vec<TransformCall>,
    multis: Vec<MultiCall>,
    /// The statement's LIMIT (0: none), which bounds `top`'s and `bottom`'s N.
    limit: u64,
}

impl Found {
    fn add(&mut self, call: Call) {
        self.reducers += 1;
        if call.func.is_selector() {
            self.selectors += 1;
        }
        if !self.calls.iter().any(|c| c.expr == call.expr) {
            self.calls.push(call);
        }
    }

    /// Checks the calls of `e`, outer ones first, as InfluxDB's compiler does.
    fn visit(&mut self, e: &Expr, interval: Option<i64>) -> Result<(), String> {
        match e {
            // `now()` is no function of a field list.
            Expr::Call { name, .. } if name == "now" => Err("undefined function now()".into()),
            Expr::Call { name, args } if transform::is_transform(name) => {
                let (t, input) = transform::check(name, args, interval)?;
                let (nested, on_field) = match input {
                    Input::Call(inner) => {
                        let Expr::Call {
                            name: inner_name,
                            args: inner_args,
                        } = &inner
                        else {
                            return Err(format!("expected field argument in {name}()"));
                        };
                        if transform::is_transform(inner_name) {
                            return Err(format!(
                                "{inner_name}() inside {name}() is not supported by Fieldline"
                            ));
                        }
                        match check_call(inner_name, inner_args)? {
                            Some(call) => self.add(call),
                            None => {
                                return Err(format!(
                                    "{inner_name}() inside {name}() is not supported by Fieldline"
                                ))
                            }
                        }
                        (true, false)
                    }
                    Input::Var(v) => (
                        false,
                        matches!(v.unparen(), Expr::VarRef(r)
                            if r.name == FIELD && r.data_type != Some(DataType::Tag)),
                    ),
                };
                self.transforms.push(TransformCall {
                    transform: t,
                    expr: e.clone(),
                    nested,
                    on_field,
                });
                Ok(())
            }
            Expr::Call { name, args } if selectors::is_multi(name) => {
                let (multi, field) = selectors::check(name, args, self.limit)?;
                let on_field = matches!(&field, Expr::VarRef(r)
                    if r.name == FIELD && r.data_type != Some(DataType::Tag));
                self.multis.push(MultiCall {
                    multi,
                    expr: e.clone(),
                    on_field,
                });
                Ok(())
            }
            Expr::Call { name, args } => match check_call(name, args)? {
                // A reducer's argument is a field (or `distinct()` under `count()`).
                Some(call) => {
                    self.add(call);
                    Ok(())
                }
                // A math function's arguments may hold calls.
                None => args.iter().try_for_each(|a| self.visit(a, interval)),
            },
            Expr::Binary { lhs, rhs, .. } => {
                self.visit(lhs, interval)?;
                self.visit(rhs, interval)
            }
            Expr::Paren(inner) => self.visit(inner, interval),
            _ => Ok(()),
        }
    }
}

/// Checks a call's name and arguments; a reducer gives a [`Call`].
fn check_call(name: &str, args: &[Expr]) -> Result<Option<Call>, String> {
    match functions::kind(name)? {
        // Checked by the caller (a transformation in an expression's argument).
        Kind::Transform => Err(format!(
            "{name}() inside another function is not supported by Fieldline"
        )),
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
            let distinct_arg = match args[0].unparen() {
                Expr::Call { name: inner, args } if name == "count" && inner == "distinct" => {
                    Some(selectors::check("distinct", args, 0)?.1)
                }
                Expr::Distinct(field) if name == "count" => Some(Expr::VarRef(VarRef {
                    name: field.clone(),
                    data_type: None,
                })),
                _ => None,
            };
            if let Some(Expr::VarRef(v)) = distinct_arg {
                return Ok(Some(Call {
                    func: Func::CountDistinct,
                    expr: Expr::Call {
                        name: name.to_owned(),
                        args: args.to_vec(),
                    },
                    on_field: v.name == FIELD && v.data_type != Some(DataType::Tag),
                }));
            }
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
