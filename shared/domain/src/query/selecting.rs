//! `SELECT` with a selector of several points per bucket (`top`, `bottom`, `distinct`): per
//! group and bucket, the points it chooses ([`super::selectors`]), one row each, then OFFSET and
//! LIMIT, and the field expressions (fields and tags beside `top` are those of its points).

use crate::influxql::Expr;

use super::check::Plan;
use super::eval::{eval_calls, eval_raw};
use super::result::{Cell, Series};
use super::select::Group;
use super::selectors::{distinct, sample, top_bottom, top_bottom_heap, Multi, Pick};
use super::{Source, SourceError, TimeRange};

impl Plan {
    pub(super) fn multi_group(
        &self,
        g: &Group<'_>,
        range: TimeRange,
        source: &mut dyn Source,
    ) -> Result<Option<Series>, SourceError> {
        let Some(m) = &self.multi else {
            return Ok(None);
        };
        if !m.on_field {
            return Ok(None);
        }
        // Of points of one time, InfluxDB's sorted merge hands top() and bottom() first the
        // one whose tags written beside the call come first: of equal values, that one is kept.
        // (Not where LIMIT stops its reader, below: left as measured.)
        let reader_limited = self.reads_store && (self.limit > 0 || self.offset > 0);
        let plain_top_bottom = matches!(&m.multi, Multi::TopBottom { tags, .. } if tags.is_empty());
        let aux = if plain_top_bottom && !reader_limited {
            super::check::aux_names(&self.columns)
        } else {
            Vec::new()
        };
        let mut points = self.streamed_points_with(g, range, false, &aux, source)?;
        // InfluxDB 1.6 hands top() and bottom() of a field the reader of the statement's
        // LIMIT and OFFSET, which (in its storage engine) stops after LIMIT + OFFSET + 1
        // points and leaves the offset to the answer: they choose among those points only,
        // the latest ones under ORDER BY time DESC (its reader then runs backwards).
        if plain_top_bottom && reader_limited {
            let read = self.limit.saturating_add(self.offset).saturating_add(1);
            if self.desc {
                points.drain(..points.len().saturating_sub(read));
            } else {
                points.truncate(read);
            }
        }
        // Without GROUP BY time, one bucket, at the start of the range (0 without one).
        let bucket_of = |t: i64| match self.interval {
            Some((interval, offset)) => self.window_start(t, interval, offset),
            None => self.bounds.min.unwrap_or(0),
        };
        // Per bucket, its rows.
        let mut buckets: Vec<Vec<(i64, Pick)>> = Vec::new();
        for bucket in points.chunk_by(|a, b| bucket_of(a.0) == bucket_of(b.0)) {
            let start = bucket_of(bucket[0].0);
            let mut rows: Vec<(i64, Pick)> = Vec::new();
            match &m.multi {
                // Under DESC InfluxDB's reducer meets each value's latest point first and keeps
                // its time, by which (then by value) the values are answered.
                Multi::Distinct if self.desc => {
                    let newest_first: Vec<Pick> = bucket.iter().rev().copied().collect();
                    rows.extend(distinct(&newest_first).into_iter().map(|p| (start, p)));
                }
                Multi::Distinct => {
                    rows.extend(distinct(bucket).into_iter().map(|p| (start, p)));
                }
                Multi::Sample(n) => {
                    rows.extend(sample(bucket, *n).into_iter().map(|p| (p.0, p)));
                }
                Multi::TopBottom { largest, n, tags } if tags.is_empty() => {
                    rows.extend(
                        top_bottom_heap(bucket, *n, *largest)
                            .into_iter()
                            .map(|p| (p.0, p)),
                    );
                }
                Multi::TopBottom { largest, n, tags } => {
                    // The largest (smallest) point per combination of the tags' values (the
                    // earliest of equal ones), then the best `n` of those.
                    let mut best: Vec<(Vec<&str>, Pick)> = Vec::new();
                    for p in bucket {
                        let s = g.series[p.2].0;
                        let key: Vec<&str> =
                            tags.iter().map(|t| s.tag(t).unwrap_or_default()).collect();
                        match best.iter_mut().find(|(k, _)| *k == key) {
                            Some((_, b)) => {
                                let better = if *largest { p.1 > b.1 } else { p.1 < b.1 };
                                if better || (p.1 == b.1 && p.0 < b.0) {
                                    *b = *p;
                                }
                            }
                            None => best.push((key, *p)),
                        }
                    }
                    if !self.reads_store {
                        // Over a subquery, InfluxDB's max() (min()) per combination hands its
                        // points to top() in time order, and of one time in the order of their
                        // tag values (its tags' IDs, keys by name): the first of equal ones wins.
                        let mut names: Vec<usize> = (0..tags.len()).collect();
                        names.sort_by_key(|&i| &tags[i]);
                        best.sort_by(|(ka, a), (kb, b)| {
                            a.0.cmp(&b.0).then_with(|| {
                                names
                                    .iter()
                                    .map(|&i| ka[i])
                                    .cmp(names.iter().map(|&i| kb[i]))
                            })
                        });
                    }
                    let candidates: Vec<Pick> = best.into_iter().map(|(_, p)| p).collect();
                    let choose = if self.reads_store {
                        top_bottom
                    } else {
                        top_bottom_heap
                    };
                    rows.extend(
                        choose(&candidates, *n, *largest)
                            .into_iter()
                            .map(|p| (p.0, p)),
                    );
                }
            }
            buckets.push(rows);
        }
        // ORDER BY time DESC orders the buckets, not the rows of a bucket (as InfluxDB does).
        if self.desc {
            buckets.reverse();
        }
        let rows = buckets.into_iter().flatten();

        let mut columns = self.time_and_columns();
        if self.origins {
            columns.extend(super::check::ORIGIN.map(str::to_owned));
        }
        let mut series = self.series_shell(g, columns);
        for (time, (t, v, i)) in rows.skip(self.offset).take(self.row_limit()) {
            let s = g.series[i].0;
            let lookup = |e: &Expr| {
                if *e == m.expr {
                    Some(Cell::Float(v))
                } else if matches!(e, Expr::VarRef(_)) {
                    Some(eval_raw(e, t, v, s))
                } else {
                    None
                }
            };
            let mut row = Vec::with_capacity(self.columns.len() + 1);
            row.push(Cell::Time(time));
            for c in &self.columns {
                row.push(eval_calls(&c.expr, &lookup));
            }
            if self.origins {
                row.extend([Cell::Integer(super::select::key(s)), Cell::Time(t)]);
            }
            series.values.push(row);
        }
        Ok((!series.values.is_empty()).then_some(series))
    }
}
