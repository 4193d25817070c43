//! The inner statement's answer as the [`Source`] the outer statement reads: [`Answer`] (one
//! column, as floats) and [`TypedAnswer`] (every column a typed field), and the order in which
//! InfluxDB emits an aggregating inner statement's rows ([`Emission`]).

use std::collections::HashMap;

use crate::influxql::{Expr, SelectStatement};

use super::super::check::Plan;
use super::super::result::{Cell, Series};
use super::super::transform;
use super::super::{FieldType, SeriesMeta, Source, SourceError, TimeRange, Value};

/// The order in which InfluxDB 1.6 emits an aggregating inner statement's rows: window by
/// window (the newest first under DESC; without GROUP BY time, one window) and, in a window,
/// its series in order, as the merge of its reducers hands them over. `SELECT "v" FROM (SELECT
/// max(...) AS "v" ... GROUP BY "line")` lists L1's row at 01:18 before L2's at 01:17. A raw
/// inner statement's rows (and a transformation's, several a window) are merged by time: `None`.
pub(super) struct Emission(pub(super) Option<Plan>);

impl Emission {
    /// For `inner`, planned as `plan`.
    pub(super) fn of(inner: &SelectStatement, plan: Option<Plan>) -> Emission {
        let aggregates = inner.fields.iter().all(|f| {
            f.expr.any(|e| matches!(e, Expr::Call { .. }))
                && !f.expr.any(|e| {
                    matches!(e, Expr::Call { name, .. } if transform::is_transform(name)
                        || matches!(name.as_str(), "top" | "bottom" | "distinct" | "sample"))
                })
        });
        Emission(plan.filter(|p| aggregates && p.aggregate && p.tz.is_none()))
    }

    /// The times of `rows` within `range` ([`Source::emitted_rows`]): every row of an
    /// aggregating inner statement is a row of a raw outer one, all of its columns null too.
    fn rows(&self, rows: Option<&Vec<i64>>, range: TimeRange) -> Option<Vec<i64>> {
        self.0.as_ref()?;
        // As the points are read: a row stamped before the range (at the start of its
        // bucket) is still read.
        Some(rows?.iter().copied().filter(|t| *t <= range.max).collect())
    }

    /// The rank of series `position`'s row at `t` ([`Source::emitted_rank`]).
    fn rank(&self, position: usize, t: i64, desc: bool) -> Option<(i64, usize)> {
        let plan = self.0.as_ref()?;
        let window = match plan.interval {
            Some((interval, offset)) => plan.window_start(t, interval, offset),
            None => 0,
        };
        Some((
            if desc {
                window.saturating_neg()
            } else {
                window
            },
            position,
        ))
    }
}

/// The inner statement's answer as a [`Source`]: one series per answered series, its points the
/// rows' times and their numbers in the column read (rows without one are no points).
pub(super) struct Answer {
    series: Vec<SeriesMeta>,
    points: Vec<Vec<(i64, f64)>>,
    /// By series: the times of its rows, oldest first.
    rows: Vec<Vec<i64>>,
    emission: Emission,
}

/// The times of a series' rows, oldest first.
fn row_times(s: &Series) -> Vec<i64> {
    let mut times: Vec<i64> = s
        .values
        .iter()
        .filter_map(|row| match row.first() {
            Some(Cell::Time(t)) => Some(*t),
            _ => None,
        })
        .collect();
    times.sort_unstable();
    times
}

impl Answer {
    pub(super) fn new(answer: Vec<Series>, column: Option<&str>, emission: Emission) -> Answer {
        let mut series = Vec::with_capacity(answer.len());
        let mut points = Vec::with_capacity(answer.len());
        let mut rows = Vec::with_capacity(answer.len());
        for (key, s) in answer.into_iter().enumerate() {
            let col = column.and_then(|c| s.columns.iter().position(|x| x == c));
            // A column the inner statement does not answer makes no rows (InfluxDB has no
            // iterator to drive them).
            rows.push(if col.is_some() {
                row_times(&s)
            } else {
                Vec::new()
            });
            let mut p: Vec<(i64, f64)> = match col {
                Some(col) => s
                    .values
                    .iter()
                    .filter_map(|row| match (row.first(), row.get(col)) {
                        (Some(Cell::Time(t)), Some(v)) => v.as_f64().map(|v| (*t, v)),
                        _ => None,
                    })
                    .collect(),
                None => Vec::new(),
            };
            // Rows may come newest first (ORDER BY time DESC inside): points are oldest first.
            p.sort_by_key(|x| x.0);
            let mut tags = s.tags.unwrap_or_default();
            tags.sort();
            series.push(SeriesMeta::channel(
                i64::try_from(key).unwrap_or(i64::MAX),
                s.name.unwrap_or_default(),
                tags,
            ));
            points.push(p);
        }
        Answer {
            series,
            points,
            rows,
            emission,
        }
    }
}

impl Source for Answer {
    fn series(&mut self, _: &str, _: Option<&[String]>) -> Result<Vec<SeriesMeta>, SourceError> {
        Ok(self.series.clone())
    }

    fn emitted_rank(&self, key: i64, t: i64, desc: bool) -> Option<(i64, usize)> {
        self.emission.rank(usize::try_from(key).ok()?, t, desc)
    }

    fn emitted_rows(&self, key: i64, range: TimeRange) -> Option<Vec<i64>> {
        self.emission
            .rows(self.rows.get(usize::try_from(key).ok()?), range)
    }

    fn points(
        &mut self,
        key: i64,
        range: TimeRange,
        desc: bool,
        limit: Option<usize>,
    ) -> Result<Vec<(i64, f64)>, SourceError> {
        let all = usize::try_from(key)
            .ok()
            .and_then(|k| self.points.get(k))
            .map_or(&[][..], Vec::as_slice);
        // The inner statement ran within the range already: a row stamped before it (at the
        // start of its bucket) is still read, as InfluxDB reads it.
        let within = TimeRange {
            min: i64::MIN,
            max: range.max,
        };
        Ok(within.read(all, desc, limit))
    }
}

/// The inner statement's answer as a [`Source`] of typed fields: each answered series a
/// series (its measurement and grouped tags), each column but `time` a field, typed by its
/// values (a column of integers and floats is a float one), its points the rows with a value.
pub(super) struct TypedAnswer {
    pub(super) series: Vec<SeriesMeta>,
    /// By field key: the points, oldest first.
    values: Vec<Vec<(i64, Value)>>,
    /// By field key: the position of its series.
    positions: Vec<usize>,
    /// By series: the times of its rows, oldest first.
    rows: Vec<Vec<i64>>,
    emission: Emission,
}

impl TypedAnswer {
    pub(super) fn new(answer: Vec<Series>, emission: Emission) -> TypedAnswer {
        let mut series = Vec::with_capacity(answer.len());
        let mut values: Vec<Vec<(i64, Value)>> = Vec::new();
        for s in answer.into_iter().flat_map(layers) {
            let times = row_times(&s);
            let mut fields = Vec::new();
            for (i, name) in s.columns.iter().enumerate().skip(1) {
                let cells = s
                    .values
                    .iter()
                    .filter_map(|row| match (row.first(), row.get(i)) {
                        (Some(Cell::Time(t)), Some(c)) => Some((*t, c)),
                        _ => None,
                    });
                let typed: Vec<(i64, Value)> = cells
                    .filter_map(|(t, c)| super::super::value::of_cell(c).map(|v| (t, v)))
                    .collect();
                let any_float = typed.iter().any(|(_, v)| matches!(v, Value::Float(_)));
                let Some(first) = typed.first().map(|(_, v)| v.field_type()) else {
                    continue;
                };
                let ty = if any_float { FieldType::Float } else { first };
                let mut points: Vec<(i64, Value)> = typed
                    .into_iter()
                    .filter_map(|(t, v)| match (ty, v) {
                        #[allow(clippy::cast_precision_loss)]
                        (FieldType::Float, Value::Integer(i)) => Some((t, Value::Float(i as f64))),
                        (ty, v) if v.field_type() == ty => Some((t, v)),
                        _ => None,
                    })
                    .collect();
                // Rows may come newest first (ORDER BY time DESC inside).
                points.sort_by_key(|p| p.0);
                fields.push(super::super::FieldMeta {
                    name: name.clone(),
                    ty,
                    key: i64::try_from(values.len()).unwrap_or(i64::MAX),
                });
                values.push(points);
            }
            fields.sort_by(|a, b| a.name.cmp(&b.name));
            let mut tags = s.tags.unwrap_or_default();
            tags.sort();
            series.push((
                SeriesMeta {
                    measurement: s.name.unwrap_or_default(),
                    tags,
                    fields,
                },
                times,
            ));
        }
        series.sort_by(|(a, _), (b, _)| (&a.measurement, &a.tags).cmp(&(&b.measurement, &b.tags)));
        let (series, rows): (Vec<SeriesMeta>, Vec<Vec<i64>>) = series.into_iter().unzip();
        let mut positions = vec![0; values.len()];
        for (position, s) in series.iter().enumerate() {
            for f in &s.fields {
                if let Some(p) = usize::try_from(f.key)
                    .ok()
                    .and_then(|k| positions.get_mut(k))
                {
                    *p = position;
                }
            }
        }
        TypedAnswer {
            series,
            values,
            positions,
            rows,
            emission,
        }
    }

    fn read(
        &self,
        key: i64,
        range: TimeRange,
        desc: bool,
        limit: Option<usize>,
    ) -> Vec<(i64, Value)> {
        let all = usize::try_from(key)
            .ok()
            .and_then(|k| self.values.get(k))
            .map_or(&[][..], Vec::as_slice);
        // As [`Answer`] reads: a row stamped before the range (at the start of its bucket)
        // is still read, as InfluxDB reads it.
        let mut out: Vec<(i64, Value)> = all
            .iter()
            .filter(|(t, _)| *t <= range.max)
            .cloned()
            .collect();
        if desc {
            out.reverse();
        }
        out.truncate(limit.unwrap_or(usize::MAX));
        out
    }
}

/// A series of the inner answer as series that each hold one row a time: the k-th row of each
/// time in the k-th (rows of several inner series at one time, as a raw inner statement
/// answers them, are each a point of the outer statement, which reads a field's row a time).
fn layers(mut s: Series) -> Vec<Series> {
    let mut seen: HashMap<i64, usize> = HashMap::new();
    let depth: Vec<usize> = s
        .values
        .iter()
        .map(|row| match row.first() {
            Some(Cell::Time(t)) => {
                let k = seen.entry(*t).or_insert(0);
                *k += 1;
                *k - 1
            }
            _ => 0,
        })
        .collect();
    let n = depth.iter().max().map_or(1, |d| d + 1);
    if n == 1 {
        return vec![s];
    }
    let rows = std::mem::take(&mut s.values);
    let mut layered: Vec<Series> = vec![s; n];
    for (row, k) in rows.into_iter().zip(depth) {
        layered[k].values.push(row);
    }
    layered
}

impl Source for TypedAnswer {
    fn series(&mut self, _: &str, _: Option<&[String]>) -> Result<Vec<SeriesMeta>, SourceError> {
        Ok(self.series.clone())
    }

    fn emitted_rank(&self, key: i64, t: i64, desc: bool) -> Option<(i64, usize)> {
        let position = *self.positions.get(usize::try_from(key).ok()?)?;
        self.emission.rank(position, t, desc)
    }

    fn emitted_rows(&self, key: i64, range: TimeRange) -> Option<Vec<i64>> {
        let position = *self.positions.get(usize::try_from(key).ok()?)?;
        self.emission.rows(self.rows.get(position), range)
    }

    fn points(
        &mut self,
        key: i64,
        range: TimeRange,
        desc: bool,
        limit: Option<usize>,
    ) -> Result<Vec<(i64, f64)>, SourceError> {
        Ok(self
            .read(key, range, desc, limit)
            .into_iter()
            .filter_map(|(t, v)| match v {
                Value::Float(f) => Some((t, f)),
                _ => None,
            })
            .collect())
    }

    fn values(
        &mut self,
        key: i64,
        range: TimeRange,
        desc: bool,
        limit: Option<usize>,
    ) -> Result<Vec<(i64, Value)>, SourceError> {
        Ok(self.read(key, range, desc, limit))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_of_one_time_are_each_a_point_of_the_typed_answer() {
        let s = Series {
            name: Some("m".into()),
            columns: vec!["time".into(), "v".into()],
            values: vec![
                vec![Cell::Time(1), Cell::Integer(1)],
                vec![Cell::Time(1), Cell::Integer(9_007_199_254_741_178)],
                vec![Cell::Time(2), Cell::Integer(3)],
                vec![Cell::Time(1), Cell::Integer(4)],
            ],
            ..Series::default()
        };
        let mut a = TypedAnswer::new(vec![s], Emission(None));
        let all = TimeRange {
            min: i64::MIN,
            max: i64::MAX,
        };
        // Every value is kept, and each series holds one a time (the typed engine reads a
        // series' fields row by row, by time).
        let metas = a.series("", None).unwrap();
        let mut read: Vec<(i64, Value)> = Vec::new();
        for m in &metas {
            let values = a.values(m.fields[0].key, all, false, None).unwrap();
            let mut times: Vec<i64> = values.iter().map(|p| p.0).collect();
            times.dedup();
            assert_eq!(times.len(), values.len(), "{values:?}");
            read.extend(values);
        }
        read.sort_by_key(|(t, v)| (*t, format!("{v:?}")));
        assert_eq!(
            read,
            vec![
                (1, Value::Integer(1)),
                (1, Value::Integer(4)),
                (1, Value::Integer(9_007_199_254_741_178)),
                (2, Value::Integer(3)),
            ]
        );
    }

    #[test]
    fn an_answer_reads_one_column_and_skips_rows_without_a_number() {
        let s = Series {
            name: Some("m".into()),
            tags: Some(vec![("uuid".into(), "a".into())]),
            columns: vec!["time".into(), "max".into(), "n".into()],
            values: vec![
                vec![Cell::Time(2), Cell::Float(1.5), Cell::Integer(3)],
                vec![Cell::Time(1), Cell::Null, Cell::Integer(4)],
            ],
            ..Series::default()
        };
        let mut a = Answer::new(vec![s.clone()], Some("n"), Emission(None));
        let all = TimeRange {
            min: i64::MIN,
            max: i64::MAX,
        };
        assert_eq!(
            a.points(0, all, false, None).unwrap(),
            vec![(1, 4.0), (2, 3.0)]
        );
        let mut a = Answer::new(vec![s], Some("max"), Emission(None));
        assert_eq!(a.points(0, all, true, None).unwrap(), vec![(2, 1.5)]);
        assert_eq!(
            a.series("", None).unwrap()[0].tags,
            vec![("uuid".into(), "a".into())]
        );
    }
}
