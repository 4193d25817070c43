//! `SELECT` over series of any fields and types (InfluxDB's general data model), where the
//! model's engine ([`super::select`]) reads one float field, `value`: field references resolved
//! by name per measurement, raw rows of several fields aligned by time (null where a point lacks
//! a field), conditions on fields of every type. Statements of calls over one float field run
//! on the model's engine, the field presented as its `value`
//! ([`super::typed_calls`]); what neither answers is refused by name.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use crate::influxql::{BinaryOp, DataType, Expr, SelectStatement, VarRef, WildcardKind};

use super::check::{column_names, Column, Plan};
use super::cond::Truth;
use super::result::{Cell, Series};
use super::select::Group;
use super::value::{self, binary, cast};
use super::{
    Context, FieldMeta, FieldType, SeriesMeta, Source, SourceError, StatementError,
    StatementOutcome, TimeRange,
};

/// Whether every series is a channel of Fieldline's model (one float field, `value`): then
/// the model's engine runs the statement as it always has.
pub(super) fn model_shaped(all: &[SeriesMeta]) -> bool {
    all.iter().all(|s| {
        matches!(s.fields.as_slice(), [f] if f.name == super::FIELD && f.ty == FieldType::Float)
    })
}

/// The fields of the statement's measurements: per measurement, each field's type.
#[derive(Clone)]
pub(super) struct Fields {
    by_measurement: BTreeMap<String, BTreeMap<String, FieldType>>,
}

impl Fields {
    pub(super) fn of(all: &[SeriesMeta]) -> Fields {
        let mut by_measurement: BTreeMap<String, BTreeMap<String, FieldType>> = BTreeMap::new();
        for s in all {
            let m = by_measurement.entry(s.measurement.clone()).or_default();
            for f in &s.fields {
                m.entry(f.name.clone()).or_insert(f.ty);
            }
        }
        Fields { by_measurement }
    }

    /// The type of a reference in a measurement, if it names a field there (a `::tag` never
    /// does; a name that is both a tag and a field is the field).
    pub(super) fn field(&self, measurement: &str, v: &VarRef) -> Option<FieldType> {
        if v.data_type == Some(DataType::Tag) || v.name == "time" {
            return None;
        }
        self.by_measurement.get(measurement)?.get(&v.name).copied()
    }

    /// The type of a reference in any of the measurements (the first, by name, that has it).
    pub(super) fn any(&self, v: &VarRef) -> Option<FieldType> {
        self.by_measurement.keys().find_map(|m| self.field(m, v))
    }

    /// Every field name of every measurement, in name order.
    pub(super) fn names(&self) -> BTreeSet<&str> {
        self.by_measurement
            .values()
            .flat_map(|m| m.keys().map(String::as_str))
            .collect()
    }
}

/// Runs a statement over series that are not all channels of the model.
pub(super) fn run(
    s: &SelectStatement,
    plan: &Plan,
    ctx: &Context,
    source: &mut dyn Source,
    all: Vec<SeriesMeta>,
) -> StatementOutcome {
    let fields = Fields::of(&all);
    // A call of `*` or `/re/` is checked against the model's field alone: one matching none
    // of it is no call of the plan.
    if plan.aggregate
        || plan.transform.is_some()
        || plan.multi.is_some()
        || super::check::calls_a_pattern(s)
    {
        return super::typed_calls::run(s, plan, ctx, source, all, &fields);
    }
    // The aliases of the field list, in the plan's order of columns (`time` alone is none).
    let aliases: Vec<Option<String>> = s
        .fields
        .iter()
        .filter(|f| {
            f.alias.is_some() || !matches!(f.expr.unparen(), Expr::VarRef(v) if v.name == "time")
        })
        .map(|f| f.alias.clone())
        .collect();
    raw(plan, &aliases, ctx, source, &all, &fields)
}

/// The tag keys of every series, in name order.
pub(super) fn tag_keys(all: &[SeriesMeta]) -> Vec<String> {
    let keys: BTreeSet<&String> = all
        .iter()
        .flat_map(|s| s.tags.iter().map(|(k, _)| k))
        .collect();
    keys.into_iter().cloned().collect()
}

/// The series of each group: per measurement, the series passing the condition's tag
/// comparisons, grouped by the dimensions (as [`Plan::execute`] groups them), then SOFFSET and
/// SLIMIT over the shard groups `range` reads ([`super::select::series_window`]); `Err`: why
/// Fieldline cannot answer as InfluxDB would.
pub(super) fn groups<'a>(
    plan: &Plan,
    all: &'a [SeriesMeta],
    tag_keys: &'a [String],
    fields: &Fields,
    source: &mut dyn Source,
    range: TimeRange,
) -> Result<Result<Vec<Group<'a>>, String>, SourceError> {
    let dims = plan.dims_of(tag_keys);
    let mut groups = Vec::new();
    for members in all.chunk_by(|a, b| a.measurement == b.measurement) {
        let m = &members[0].measurement;
        let mut by_key: BTreeMap<Vec<String>, Vec<(&SeriesMeta, bool)>> = BTreeMap::new();
        for s in members {
            let check = match &plan.rest {
                None => Truth::True,
                Some(c) => eval_cond(c, s, fields, None),
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
                tag_keys,
                measurement: m.clone(),
                tags: dims.iter().cloned().zip(key).collect(),
                grouped: !dims.is_empty(),
                series,
                without: Vec::new(),
            });
        }
    }
    super::select::series_window(groups, plan.soffset, plan.slimit, source, range)
}

/// A value in a condition.
enum Operand {
    Cell(Cell),
    Regex(crate::influxql::Regex),
    /// A field, not read yet.
    Unknown,
}

/// Evaluates a (time-free) condition for one series, with the values of its fields at one
/// time when known (`row`: by field name).
pub(super) fn eval_cond(
    cond: &Expr,
    s: &SeriesMeta,
    fields: &Fields,
    row: Option<&BTreeMap<&str, Cell>>,
) -> Truth {
    match cond {
        Expr::Paren(inner) => eval_cond(inner, s, fields, row),
        Expr::Binary { op, lhs, rhs } if matches!(op, BinaryOp::And | BinaryOp::Or) => {
            let l = eval_cond(lhs, s, fields, row);
            let decisive = if *op == BinaryOp::And {
                Truth::False
            } else {
                Truth::True
            };
            if l == decisive {
                return decisive;
            }
            let r = eval_cond(rhs, s, fields, row);
            if r == decisive {
                decisive
            } else if l == Truth::Unknown || r == Truth::Unknown {
                Truth::Unknown
            } else {
                l
            }
        }
        Expr::Binary { op, lhs, rhs } if op.is_condition() => {
            if let (Expr::VarRef(a), Expr::VarRef(b)) = (lhs.unparen(), rhs.unparen()) {
                if let Some(t) = super::cond::identifiers(*op, a, b, s, |v| {
                    fields.field(&s.measurement, v).is_some()
                }) {
                    return t;
                }
            }
            let l = operand(lhs, s, fields, row);
            let r = operand(rhs, s, fields, row);
            match (l, r) {
                (Operand::Unknown, _) | (_, Operand::Unknown) => Truth::Unknown,
                (Operand::Cell(Cell::Str(a)), Operand::Regex(re)) => {
                    truth(re.is_match(&a) == (*op == BinaryOp::EqRegex))
                }
                (Operand::Cell(a), Operand::Cell(b)) => truth(value::compare(*op, &a, &b)),
                _ => Truth::False,
            }
        }
        // Arithmetic standing as a condition passes every point in InfluxDB 1.x.
        Expr::Binary { .. } => Truth::True,
        other => match operand(other, s, fields, row) {
            Operand::Unknown => Truth::Unknown,
            Operand::Cell(Cell::Bool(b)) => truth(b),
            _ => Truth::False,
        },
    }
}

fn truth(b: bool) -> Truth {
    if b {
        Truth::True
    } else {
        Truth::False
    }
}

fn operand(
    e: &Expr,
    s: &SeriesMeta,
    fields: &Fields,
    row: Option<&BTreeMap<&str, Cell>>,
) -> Operand {
    match e {
        Expr::Paren(inner) => operand(inner, s, fields, row),
        Expr::VarRef(v) => match fields.field(&s.measurement, v) {
            Some(_) => match row {
                None => Operand::Unknown,
                Some(row) => Operand::Cell(
                    row.get(v.name.as_str())
                        .cloned()
                        .map_or(Cell::Null, |c| cast(c, v.data_type)),
                ),
            },
            // A name that is no field is a tag; an absent tag is the empty string.
            None if matches!(v.data_type, None | Some(DataType::Tag)) => {
                Operand::Cell(Cell::Str(s.tag(&v.name).unwrap_or_default().to_owned()))
            }
            None => Operand::Cell(Cell::Null),
        },
        Expr::Regex(re) => Operand::Regex(re.clone()),
        Expr::Binary { op, lhs, rhs } if !op.is_condition() => {
            match (operand(lhs, s, fields, row), operand(rhs, s, fields, row)) {
                (Operand::Unknown, _) | (_, Operand::Unknown) => Operand::Unknown,
                // InfluxDB's condition evaluator divides integers as integers (truncating, 0
                // by 0), where a field is read; literals alone were reduced to a float.
                (Operand::Cell(Cell::Integer(a)), Operand::Cell(Cell::Integer(b)))
                    if *op == BinaryOp::Div && e.any(|x| matches!(x, Expr::VarRef(_))) =>
                {
                    Operand::Cell(Cell::Integer(if b == 0 { 0 } else { a.wrapping_div(b) }))
                }
                (Operand::Cell(a), Operand::Cell(b)) => Operand::Cell(binary(*op, &a, &b)),
                _ => Operand::Cell(Cell::Null),
            }
        }
        Expr::Binary { .. } => match eval_cond(e, s, fields, row) {
            Truth::True => Operand::Cell(Cell::Bool(true)),
            Truth::False => Operand::Cell(Cell::Bool(false)),
            Truth::Unknown => Operand::Unknown,
        },
        other => Operand::Cell(literal(other)),
    }
}

fn literal(e: &Expr) -> Cell {
    match e {
        Expr::Integer(i) => Cell::Integer(*i),
        #[allow(clippy::cast_precision_loss)]
        Expr::Unsigned(u) => Cell::Float(*u as f64),
        Expr::Number(f) => Cell::Float(*f),
        Expr::Duration(d) => Cell::Integer(*d),
        Expr::String(s) => Cell::Str(s.clone()),
        Expr::Boolean(b) => Cell::Bool(*b),
        _ => Cell::Null,
    }
}

/// The field list with `*`, `*::field`, `*::tag` and `/re/` expanded into the fields and tags
/// of the statement's measurements (those grouped by left out), in name order.
fn expanded_columns(
    plan: &Plan,
    aliases: &[Option<String>],
    fields: &Fields,
    tag_keys: &[String],
    g: &Group<'_>,
) -> Vec<Column> {
    let tags: Vec<&String> = tag_keys
        .iter()
        .filter(|k| !g.tags.iter().any(|(d, _)| d == *k))
        .collect();
    let field_names = fields.names();
    let mut out: Vec<(Expr, Option<String>)> = Vec::new();
    // Names are given after the wildcards are expanded (`SELECT *, rpm + 1`: `rpm`, `rpm_1`),
    // aliases kept.
    for (i, c) in plan.columns.iter().enumerate() {
        let (kind, re) = match c.expr.unparen() {
            Expr::Wildcard(k) => (Some(*k), None),
            Expr::Regex(re) => (Some(WildcardKind::All), Some(re.clone())),
            _ => (None, None),
        };
        let Some(kind) = kind else {
            let alias = aliases.get(i).cloned().flatten();
            out.push((c.expr.clone(), alias));
            continue;
        };
        let mut names: Vec<(String, bool)> = Vec::new();
        if kind != WildcardKind::Tags {
            names.extend(field_names.iter().map(|n| ((*n).to_owned(), true)));
        }
        if kind != WildcardKind::Fields {
            names.extend(
                tags.iter()
                    .filter(|k| !field_names.contains(k.as_str()))
                    .map(|k| ((*k).clone(), false)),
            );
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
    let names = column_names(&out);
    names
        .into_iter()
        .zip(out)
        .map(|(name, (expr, _))| Column { name, expr })
        .collect()
}

/// The field names an expression reads in a measurement.
fn field_refs<'e>(e: &'e Expr, m: &str, fields: &Fields, out: &mut BTreeSet<&'e str>) {
    e.walk(&mut |x| {
        if let Expr::VarRef(v) = x {
            if fields.field(m, v).is_some() {
                out.insert(v.name.as_str());
            }
        }
    });
}

/// The fields of `m` that `e` reads a value of: a cast to a type the field cannot take
/// (`temp::boolean`) reads none, so InfluxDB answers no row for it alone.
fn castable_refs<'e>(e: &'e Expr, m: &str, fields: &Fields, out: &mut BTreeSet<&'e str>) {
    e.walk(&mut |x| {
        if let Expr::VarRef(v) = x {
            let castable = fields
                .field(m, v)
                .and_then(|t| value::cast_type(t, v.data_type));
            if castable.is_some() {
                out.insert(v.name.as_str());
            }
        }
    });
}

/// The values of one field in `range`: a float field through [`Source::points`], any other
/// through [`Source::values`].
pub(super) fn read_field(
    source: &mut dyn Source,
    f: &FieldMeta,
    range: TimeRange,
    desc: bool,
    limit: Option<usize>,
) -> Result<Vec<(i64, Cell)>, SourceError> {
    Ok(if f.ty == FieldType::Float {
        source
            .points(f.key, range, desc, limit)?
            .into_iter()
            .map(|(t, v)| (t, Cell::Float(v)))
            .collect()
    } else {
        source
            .values(f.key, range, desc, limit)?
            .into_iter()
            .map(|(t, v)| (t, value::cell(v)))
            .collect()
    })
}

/// One series' rows: per time (in time order) the values of the fields read, by name.
pub(super) fn series_rows<'n>(
    source: &mut dyn Source,
    s: &SeriesMeta,
    names: &BTreeSet<&'n str>,
    range: TimeRange,
    limit: Option<usize>,
    desc: bool,
) -> Result<BTreeMap<i64, BTreeMap<&'n str, Cell>>, SourceError> {
    let mut rows: BTreeMap<i64, BTreeMap<&'n str, Cell>> = BTreeMap::new();
    for name in names {
        if let Some(f) = s.field(name) {
            for (t, c) in read_field(source, f, range, desc, limit)? {
                rows.entry(t).or_default().insert(name, c);
            }
        }
    }
    Ok(rows)
}

/// A raw row's value of a field expression in a series.
pub(super) fn eval_row(
    e: &Expr,
    t: i64,
    row: &BTreeMap<&str, Cell>,
    s: &SeriesMeta,
    fields: &Fields,
) -> Cell {
    match e {
        Expr::VarRef(v) if v.name == "time" => Cell::Time(t),
        Expr::VarRef(v) => match fields.field(&s.measurement, v) {
            Some(_) => row
                .get(v.name.as_str())
                .cloned()
                .map_or(Cell::Null, |c| cast(c, v.data_type)),
            None if matches!(v.data_type, None | Some(DataType::Tag)) => s
                .tag(&v.name)
                .map_or(Cell::Null, |x| Cell::Str(x.to_owned())),
            None => Cell::Null,
        },
        Expr::Paren(inner) => eval_row(inner, t, row, s, fields),
        Expr::Binary { op, lhs, rhs } => {
            let l = eval_row(lhs, t, row, s, fields);
            let r = eval_row(rhs, t, row, s, fields);
            binary(*op, &l, &r)
        }
        Expr::Call { name, args } => {
            super::functions::math_call(name, args, |a| eval_row(a, t, row, s, fields))
        }
        other => literal(other),
    }
}

/// A raw row of one series: its time, its cells, and InfluxDB's auxiliary strings (a tag's
/// value borrowed from its series, a string field's value owned).
type AuxRow<'a> = (i64, Vec<Cell>, Vec<Option<Cow<'a, str>>>);

/// Where an auxiliary name's string comes from, decided once per series: its tag's value
/// (the same on every row), or each row's string field.
enum AuxSource<'a> {
    Tag(Option<&'a str>),
    Field(&'a str),
}

/// Raw rows: per group, the times at which a selected field has a value, merged across the
/// group's series in time order (then series order).
fn raw(
    plan: &Plan,
    aliases: &[Option<String>],
    ctx: &Context,
    source: &mut dyn Source,
    all: &[SeriesMeta],
    fields: &Fields,
) -> StatementOutcome {
    let range = plan.bounds.range();
    if range.min > range.max {
        return Ok(Ok(Vec::new()));
    }
    let tag_keys = tag_keys(all);
    // The types of the field list, checked once for the statement.
    for c in &plan.columns {
        if let Err(e) = value::check_types(&c.expr, &|v| {
            fields.any(v).and_then(|t| value::cast_type(t, v.data_type))
        }) {
            return Ok(Err(StatementError::Failed(e)));
        }
    }
    let groups = match groups(plan, all, &tag_keys, fields, source, range)? {
        Ok(groups) => groups,
        Err(e) => return Ok(Err(StatementError::Failed(e))),
    };
    let mut out = Vec::new();
    let mut total = 0usize;
    for g in &groups {
        let columns = expanded_columns(plan, aliases, fields, &tag_keys, g);
        // InfluxDB's auxiliary fields (every name the columns read, in name order): points of
        // one time are told apart by those that are strings (tags, string fields).
        let mut aux_names = BTreeSet::new();
        for c in &columns {
            c.expr.walk(&mut |e| {
                if let Expr::VarRef(v) = e {
                    if v.name != "time" {
                        aux_names.insert(v.name.as_str());
                    }
                }
            });
        }
        // Per series, in the order InfluxDB's index lists them: (time, cells, aux strings).
        let metas: Vec<&SeriesMeta> = g.series.iter().map(|(s, _)| *s).collect();
        let order = super::merge::key_order(&metas);
        let mut per_series: Vec<Vec<AuxRow<'_>>> = Vec::with_capacity(order.len());
        let mut read_series: Vec<&SeriesMeta> = Vec::with_capacity(order.len());
        for (s, _) in order.iter().map(|&i| &g.series[i]) {
            let mut rows = Vec::new();
            // Only points of different series are told apart by them: one series needs none.
            let aux_sources: Vec<AuxSource<'_>> = if g.series.len() > 1 {
                aux_names
                    .iter()
                    .map(|&n| {
                        let v = VarRef {
                            name: n.to_owned(),
                            data_type: None,
                        };
                        if fields.field(&s.measurement, &v).is_some() {
                            AuxSource::Field(n)
                        } else {
                            AuxSource::Tag(s.tag(n).filter(|x| !x.is_empty()))
                        }
                    })
                    .collect()
            } else {
                Vec::new()
            };
            let mut selected = BTreeSet::new();
            for c in &columns {
                castable_refs(&c.expr, &s.measurement, fields, &mut selected);
            }
            if selected.is_empty() {
                continue;
            }
            let mut read = selected.clone();
            if let Some(c) = &plan.rest {
                field_refs(c, &s.measurement, fields, &mut read);
            }
            // Without a condition on fields, the first rows come from the first points.
            let filtered = read.len() > selected.len()
                || plan.rest.as_ref().is_some_and(|c| {
                    let mut refs = BTreeSet::new();
                    field_refs(c, &s.measurement, fields, &mut refs);
                    !refs.is_empty()
                });
            let limit = (plan.limit > 0 && !filtered).then(|| plan.limit + plan.offset);
            let mut series_rows = series_rows(source, s, &read, range, limit, plan.desc)?;
            // A subquery's rows without the columns read are rows too, of nulls.
            let emitted = s
                .fields
                .first()
                .and_then(|f| source.emitted_rows(f.key, range));
            for t in emitted.iter().flatten() {
                series_rows.entry(*t).or_default();
            }
            for (t, row) in series_rows {
                if emitted.is_none() && !selected.iter().any(|n| row.contains_key(n)) {
                    continue;
                }
                if let Some(c) = &plan.rest {
                    if eval_cond(c, s, fields, Some(&row)) != Truth::True {
                        continue;
                    }
                }
                let cells = columns
                    .iter()
                    .map(|c| eval_row(&c.expr, t, &row, s, fields))
                    .collect();
                let aux = aux_sources
                    .iter()
                    .map(|a| match a {
                        AuxSource::Tag(v) => v.map(Cow::Borrowed),
                        AuxSource::Field(n) => match row.get(*n) {
                            Some(Cell::Str(x)) => Some(Cow::Owned(x.clone())),
                            _ => None,
                        },
                    })
                    .collect();
                rows.push((t, cells, aux));
            }
            if plan.desc {
                rows.reverse();
            }
            per_series.push(rows);
            read_series.push(s);
        }
        // InfluxDB's sorted merge: at one time, by the auxiliary strings up to the first that
        // is not one, else as its heap leaves them.
        let rows: Vec<(i64, usize, Vec<Cell>)> = super::merge::merge_series(
            per_series,
            |r| r.0,
            |x, y| {
                for (a, b) in x.2.iter().zip(&y.2) {
                    match (a, b) {
                        (Some(a), Some(b)) if a == b => continue,
                        (Some(a), Some(b)) => return if plan.desc { a > b } else { a < b },
                        _ => return false,
                    }
                }
                false
            },
            plan.desc,
        )
        .into_iter()
        .map(|(i, (t, cells, _))| (t, i, cells))
        .collect();
        // A subquery's aggregates come in the order its answer emits them.
        let rows = super::select::in_emitted_order(rows, |(t, i, _)| {
            let key = read_series[*i].fields.first()?.key;
            source.emitted_rank(key, *t, plan.desc)
        });
        let mut series = Series {
            name: Some(g.measurement.clone()),
            tags: g.grouped.then(|| g.tags.clone()),
            columns: std::iter::once("time".to_owned())
                .chain(columns.iter().map(|c| c.name.clone()))
                .collect(),
            values: Vec::new(),
            partial: false,
            tz: plan.tz,
        };
        for (t, _, cells) in rows.into_iter().skip(plan.offset).take(plan.row_limit()) {
            let mut row = Vec::with_capacity(cells.len() + 1);
            row.push(Cell::Time(t));
            row.extend(cells);
            series.values.push(row);
        }
        total += series.values.len();
        if total > ctx.max_rows {
            return Ok(Err(format!(
                "the answer would have more than {} rows; use a shorter time range or LIMIT",
                ctx.max_rows
            )
            .into()));
        }
        if !series.values.is_empty() {
            out.push(series);
        }
    }
    Ok(Ok(out))
}

#[cfg(test)]
mod tests {
    use super::super::{execute, Context, FieldMeta, FieldType, SeriesMeta, Source, Value};
    use super::*;
    use crate::influxql::parse_query;

    /// One series `m,host=a` with a float `f` at 1 and 2 s, an integer `i` at 2 and 3 s
    /// (2^53 + 1 and 2^53 + 3) and a string `s` at 1 s.
    struct Typed;

    const BIG: i64 = (1 << 53) + 1;

    fn field(key: i64) -> Vec<(i64, Value)> {
        let s = 1_000_000_000;
        match key {
            0 => vec![(s, Value::Float(1.5)), (2 * s, Value::Float(2.5))],
            1 => vec![
                (2 * s, Value::Integer(BIG)),
                (3 * s, Value::Integer(BIG + 2)),
            ],
            _ => vec![(s, Value::String("on".into()))],
        }
    }

    impl Source for Typed {
        fn series(
            &mut self,
            _: &str,
            _: Option<&[String]>,
        ) -> Result<Vec<SeriesMeta>, SourceError> {
            let f = |name: &str, ty, key| FieldMeta {
                name: name.into(),
                ty,
                key,
            };
            Ok(vec![SeriesMeta {
                measurement: "m".into(),
                tags: vec![("host".into(), "a".into())],
                fields: vec![
                    f("f", FieldType::Float, 0),
                    f("i", FieldType::Integer, 1),
                    f("s", FieldType::String, 2),
                ],
            }])
        }

        fn points(
            &mut self,
            key: i64,
            range: TimeRange,
            desc: bool,
            limit: Option<usize>,
        ) -> Result<Vec<(i64, f64)>, SourceError> {
            assert_eq!(key, 0, "only the float field is read as points");
            let points: Vec<(i64, f64)> = field(0)
                .into_iter()
                .filter_map(|(t, v)| match v {
                    Value::Float(f) => Some((t, f)),
                    _ => None,
                })
                .collect();
            Ok(range.read(&points, desc, limit))
        }

        fn values(
            &mut self,
            key: i64,
            range: TimeRange,
            desc: bool,
            limit: Option<usize>,
        ) -> Result<Vec<(i64, Value)>, SourceError> {
            let mut v: Vec<(i64, Value)> = field(key)
                .into_iter()
                .filter(|(t, _)| range.min <= *t && *t <= range.max)
                .collect();
            if desc {
                v.reverse();
            }
            v.truncate(limit.unwrap_or(usize::MAX));
            Ok(v)
        }
    }

    fn run(q: &str) -> String {
        let mut ctx = Context::model("db", 0, 10_000_000_000, 1000);
        ctx.db = Some("db".into());
        let statements = parse_query(q).expect("parses");
        format!(
            "{:?}",
            execute(&statements, &ctx, &mut Typed).expect("runs")
        )
    }

    #[test]
    fn fields_are_aligned_by_time_with_nulls() {
        let a = run("SELECT f, i, s FROM m");
        assert!(
            a.contains(&format!(
                "values: [[Time(1000000000), Float(1.5), Null, Str(\"on\")], \
                 [Time(2000000000), Float(2.5), Integer({BIG}), Null], \
                 [Time(3000000000), Null, Integer({}), Null]]",
                BIG + 2
            )),
            "{a}"
        );
    }

    #[test]
    fn integers_beyond_2_53_stay_exact() {
        let a = run("SELECT i + 1 FROM m WHERE i > 9007199254740992");
        assert!(a.contains(&format!("Integer({})", BIG + 1)), "{a}");
        let a = run("SELECT sum(i), max(i) FROM m");
        assert!(a.contains(&format!("Integer({})", 2 * BIG + 2)), "{a}");
        assert!(a.contains(&format!("Integer({})", BIG + 2)), "{a}");
    }

    #[test]
    fn types_that_do_not_combine_are_errors() {
        let a = run("SELECT s + 1 FROM m");
        assert!(
            a.contains("type error: s::string + 1: incompatible types: string and integer"),
            "{a}"
        );
        let a = run("SELECT mean(s) FROM m");
        assert!(
            a.contains("unsupported mean iterator type: *query.stringInterruptIterator"),
            "{a}"
        );
    }

    #[test]
    fn a_condition_on_a_string_field_selects_points_of_another() {
        let a = run("SELECT count(f) FROM m WHERE s = 'on'");
        assert!(a.contains("Integer(1)"), "{a}");
    }
}
