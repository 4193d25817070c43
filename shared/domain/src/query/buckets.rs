//! `GROUP BY time` buckets and `fill`: which bucket a point falls in, each bucket's reduced
//! values (from the source's summaries or from the points), and the rows with the empty buckets
//! `fill` asks for.

use std::collections::BTreeMap;

use crate::influxql::Fill;

use super::check::Plan;
use super::engine_merge::{engine_order, merge_parts, EngineOrder, Parts};
use super::format::tz_offset_ns;
use super::functions::Func;
use super::result::{Cell, Series};
use super::select::{Group, GroupPoint};
use super::{IntervalStats, Source, SourceError, TimeRange};

/// A bucket's reduced values (one per call) and the point a selector chose (time, value,
/// series index).
pub(super) type Bucket = (Vec<Cell>, Option<Selected>);
/// The point a selector chose.
type Selected = GroupPoint;
/// A bucket's row: its time, its reduced values, the point a selector chose.
pub(super) type BucketRow = (i64, Vec<Cell>, Option<Selected>);

impl Plan {
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
    pub(super) fn stats_buckets(
        &self,
        g: &Group<'_>,
        range: TimeRange,
        first: i64,
        source: &mut dyn Source,
    ) -> Result<Option<BTreeMap<i64, Bucket>>, SourceError> {
        // A lone selector's value suffices under GROUP BY time (the row's time is the bucket's);
        // without it, or with fields beside it, its point is needed.
        let needs_point = self.lone_selector && (self.interval.is_none() || self.raw_vars);
        // Under a transformation the buckets are summed as InfluxDB sums them, point by point:
        // a moving average or a derivative of nearly equal means keeps only the last bits of
        // each, where SQLite's compensated SUM differs.
        if self.filter_points
            || self.transform.is_some()
            || needs_point
            || self.tz.is_some()
            || !self.calls.iter().all(|c| c.func.summarizable())
        {
            return Ok(None);
        }
        let mut acc: BTreeMap<i64, (u64, f64, f64, f64)> = BTreeMap::new();
        for (s, _) in &g.series {
            let stats = match self.interval {
                Some((interval, _)) => {
                    source.interval_stats(super::select::key(s), range, first, interval)?
                }
                // Without GROUP BY time: one bucket, the whole range.
                None => source.range_stats(super::select::key(s), range)?.map(|st| {
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

    /// Without GROUP BY time, the only points that can decide `first`, `last`, `min` and
    /// `max`: each series' first, last, smallest or largest point, asked of the source (an
    /// index lookup each for `first` and `last`), instead of every point of the range. `None`
    /// when another function is asked for or points must be checked against the condition,
    /// or for a subquery's rows: several of one time can be one series' first, and the
    /// reducer takes the larger.
    fn decisive_points(
        &self,
        g: &Group<'_>,
        range: TimeRange,
        source: &mut dyn Source,
    ) -> Result<Option<Vec<GroupPoint>>, SourceError> {
        let deciding = |f: Func| matches!(f, Func::First | Func::Last | Func::Min | Func::Max);
        if self.interval.is_some()
            || self.filter_points
            || !self.reads_store
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
                        .points(super::select::key(s), range, false, Some(1))?
                        .first()
                        .copied(),
                    Func::Last => source
                        .points(super::select::key(s), range, true, Some(1))?
                        .first()
                        .copied(),
                    _ => source.extreme(super::select::key(s), range, c.func == Func::Max)?,
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

    /// Without GROUP BY time (one window), what [`engine_order`] needs where the points are
    /// each series' decisive ones ([`Plan::decisive_points`]): one point of each series in
    /// each shard (week) of the range where the decisive points tie, as InfluxDB's index
    /// holds every series with points in a shard.
    fn shard_presence(
        &self,
        g: &Group<'_>,
        range: TimeRange,
        decisive: &[GroupPoint],
        source: &mut dyn Source,
    ) -> Result<Vec<GroupPoint>, SourceError> {
        let mut weeks: Vec<i64> = decisive
            .windows(2)
            .filter(|w| w[0].0 == w[1].0)
            .map(|w| super::cardinality::shard_group_start(w[0].0))
            .collect();
        weeks.dedup();
        let mut out = Vec::new();
        for week in weeks {
            let shard = TimeRange {
                min: week.max(range.min),
                max: (week.saturating_add(super::show::SHARD_GROUP_DURATION - 1)).min(range.max),
            };
            for (i, (s, _)) in g.series.iter().enumerate() {
                let point = source.points(super::select::key(s), shard, false, Some(1))?;
                out.extend(point.first().map(|&(t, v)| (t, v, i)));
            }
        }
        Ok(out)
    }

    /// Per bucket with points, from the points.
    pub(super) fn point_buckets(
        &self,
        g: &Group<'_>,
        range: TimeRange,
        first: i64,
        source: &mut dyn Source,
    ) -> Result<BTreeMap<i64, Bucket>, SourceError> {
        // `mode()` and `percentile()` break ties by the order InfluxDB's reducer receives the
        // store's points in: its sorted merge of the series, newest first under DESC; the
        // floats of `stddev()` add up in that order.
        let streamed_call = |f: Func| matches!(f, Func::Mode | Func::Percentile(_) | Func::Stddev);
        let aux = super::check::aux_names(&self.columns);
        let stream = if self.reads_store
            && self
                .calls
                .iter()
                .any(|c| c.on_field && streamed_call(c.func))
        {
            Some(self.streamed_points_with(g, range, self.desc, &aux, source)?)
        } else {
            None
        };
        let decisive = self.decisive_points(g, range, source)?;
        let decided = decisive.is_some();
        let mut points = match decisive {
            Some(points) => points,
            // The same points in time order, then series order, as merged_points gives them.
            None => match &stream {
                Some(stream) => {
                    let mut points = stream.clone();
                    points.sort_by_key(|p| (p.0, p.2));
                    points
                }
                None => self.merged_points(g, range, None, false, source)?,
            },
        };
        // Of equal points (time and value) of several series a selector takes the one the
        // engine merged first: its order is needed where such points are.
        let selects = self.reads_store && self.selects_by_engine() && equal_points(&points);
        let engine = if self.reads_store && (self.sums_series() || selects) {
            let present;
            let points: &[GroupPoint] = if decided {
                present = self.shard_presence(g, range, &points, source)?;
                &present
            } else {
                &points
            };
            let metas: Vec<&super::SeriesMeta> = g.series.iter().map(|(s, _)| *s).collect();
            let at = points.iter().map(|p| (p.0, p.2));
            Some(engine_order(&metas, &g.without, at, self.desc, |t| {
                self.bucket_of(t, first)
            }))
        } else {
            None
        };
        // Of one time, the points in the order the engine merged them: of equal ones, its
        // reducers keep the first (the other calls do not depend on that order).
        if let Some(e) = engine.as_ref().filter(|_| selects) {
            points.sort_by_cached_key(|p| {
                let week = super::cardinality::shard_group_start(p.0);
                (p.0, e.rank(week, self.bucket_of(p.0, first), p.2))
            });
        }
        let aux = super::select::aux_strings(g, &aux);
        let streamed: Option<BTreeMap<i64, Vec<GroupPoint>>> = stream.map(|stream| {
            let mut buckets: BTreeMap<i64, Vec<GroupPoint>> = BTreeMap::new();
            for p in stream {
                buckets
                    .entry(self.bucket_of(p.0, first))
                    .or_default()
                    .push(p);
            }
            buckets
        });
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
            let (mut reading, mut silent) = (0, 0);
            let values: Vec<Cell> = self
                .calls
                .iter()
                .map(|c| {
                    if !c.on_field {
                        return Cell::Null;
                    }
                    // InfluxDB's store hands over each series' point in its heap's order; a
                    // subquery's rows are reduced as they come (of equal times, the larger).
                    // Of booleans at one time, InfluxDB's first() keeps false.
                    let false_first = self.boolean_field && c.func == Func::First;
                    let heap_pick = if self.reads_store
                        && self.interval.is_none()
                        && matches!(c.func, Func::First | Func::Last)
                    {
                        selector_of_several(c.func == Func::Last, false_first, slice, g, &aux)
                    } else {
                        None
                    };
                    let received = streamed
                        .as_ref()
                        .filter(|_| streamed_call(c.func))
                        .and_then(|b| b.get(&bucket))
                        .map(Vec::as_slice);
                    let (cell, sel): (Cell, Option<GroupPoint>) = match heap_pick {
                        Some(i) => (Cell::Float(slice[i].1), Some(slice[i])),
                        None if c.func == Func::Mode && self.boolean_field => {
                            (Cell::Float(super::functions::boolean_mode(&tv)), None)
                        }
                        None if received.is_some() => {
                            let received = received.unwrap_or_default();
                            let tv: Vec<(i64, f64)> = received.iter().map(|p| (p.0, p.1)).collect();
                            let (cell, sel) = c.func.reduce(&tv);
                            (cell, sel.map(|i| received[i]))
                        }
                        None if false_first => {
                            let flipped: Vec<(i64, f64)> =
                                tv.iter().map(|&(t, v)| (t, -v)).collect();
                            let (_, sel) = c.func.reduce(&flipped);
                            (
                                sel.map_or(Cell::Null, |i| Cell::Float(tv[i].1)),
                                sel.map(|i| slice[i]),
                            )
                        }
                        // The store's points are summed as InfluxDB's storage engine sums
                        // them: each series of each shard on its own, in the query's order.
                        None if self.reads_store && matches!(c.func, Func::Sum | Func::Mean) => (
                            engine_sum_or_mean(
                                c.func == Func::Mean,
                                slice,
                                self.desc,
                                bucket,
                                engine.as_ref(),
                            ),
                            None,
                        ),
                        // A subquery's rows come newest first under DESC, and floats sum
                        // in the order they come.
                        None if self.desc
                            && matches!(c.func, Func::Sum | Func::Mean | Func::Stddev) =>
                        {
                            let newest_first: Vec<(i64, f64)> = tv.iter().rev().copied().collect();
                            let (cell, sel) = c.func.reduce(&newest_first);
                            (cell, sel.map(|i| slice[slice.len() - 1 - i]))
                        }
                        None => {
                            let (cell, sel) = c.func.reduce(&tv);
                            (cell, sel.map(|i| slice[i]))
                        }
                    };
                    if sel.is_some() {
                        selected = sel;
                    }
                    // A percentile that selects no point (percentile 0) emits nothing.
                    reading += 1;
                    if matches!(c.func, Func::Percentile(_)) && sel.is_none() {
                        silent += 1;
                    }
                    cell
                })
                .collect();
            // InfluxDB runs each call on its own: the bucket has a row (null for the silent
            // percentiles) when another call emits a value.
            if reading == 0 || silent < reading {
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
                            if matches!(c.func, Func::Count | Func::CountDistinct) {
                                #[allow(clippy::cast_possible_truncation)]
                                Cell::Integer(f.trunc() as i64)
                            } else if let Fill::Integer(i) = self.fill {
                                Cell::Integer(i)
                            } else if self.integer_field && c.func.keeps_integers() {
                                // InfluxDB casts the value to the integer the call answers
                                // before a transformation reads it (`fill(2.5)` is 2).
                                Cell::Float(f.trunc())
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
                let interval = self.interval.map_or(1, |(i, _)| i);
                Some(
                    (0..n)
                        .map(|ci| match (before, after) {
                            (Some((t0, (v0, _))), Some((t1, (v1, _)))) => {
                                let (a, b) = (&v0[ci], &v1[ci]);
                                match (a.as_f64(), b.as_f64()) {
                                    // An integer the call answers (presented as a float) is
                                    // interpolated as InfluxDB's `linearInteger` does it,
                                    // truncated before any arithmetic reads it.
                                    #[allow(clippy::cast_possible_truncation)]
                                    (Some(a), Some(b))
                                        if self.integer_field
                                            && self.calls[ci].func.keeps_integers()
                                            && matches!(
                                                (&v0[ci], &v1[ci]),
                                                (Cell::Float(_), Cell::Float(_))
                                            ) =>
                                    {
                                        #[allow(clippy::cast_precision_loss)]
                                        match linear(
                                            start,
                                            (*t0, &Cell::Integer(a as i64)),
                                            (*t1, &Cell::Integer(b as i64)),
                                            interval,
                                        ) {
                                            Cell::Integer(i) => Cell::Float(i as f64),
                                            other => other,
                                        }
                                    }
                                    _ => linear(start, (*t0, a), (*t1, b), interval),
                                }
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
    pub(super) fn finish_aggregate(
        &self,
        g: &Group<'_>,
        range: TimeRange,
        first: i64,
        data: &BTreeMap<i64, Bucket>,
        mut series: Series,
    ) -> Option<Series> {
        let rows = self.bucket_rows(range, first, data);
        for (time, values, selected) in rows.into_iter().skip(self.offset).take(self.row_limit()) {
            let mut row = Vec::with_capacity(self.columns.len() + 1);
            row.push(Cell::Time(time));
            for c in &self.columns {
                row.push(self.eval_aggregate(&c.expr, &values, selected, g));
            }
            if self.origins {
                row.extend(match selected {
                    Some(p) => [
                        Cell::Integer(super::select::key(g.series[p.2].0)),
                        Cell::Time(p.0),
                    ],
                    None => [Cell::Null, Cell::Null],
                });
            }
            series.values.push(row);
        }
        (!series.values.is_empty()).then_some(series)
    }

    /// The buckets' rows in the statement's order (time, reduced values, the selected point):
    /// those with points and, as `fill` says, the empty ones between the first and the last
    /// bucket of the range.
    pub(super) fn bucket_rows(
        &self,
        range: TimeRange,
        first: i64,
        data: &BTreeMap<i64, Bucket>,
    ) -> Vec<BucketRow> {
        let mut rows: Vec<BucketRow> = Vec::new();
        if data.is_empty() {
            return rows;
        }
        match self.interval {
            // InfluxDB's fill iterator: from the range's first window (its last under ORDER BY
            // time DESC), a point no later (no earlier) than the window it expects is emitted
            // in that window's place, else the window is filled; either way it then expects
            // the next window. So a subquery's row stamped before the range (the start of its
            // own, longer or offset bucket) takes the first window's place, and every window
            // after it moves on by one.
            Some((interval, offset)) if self.fill != Fill::None => {
                let last = self.window_start(range.max, interval, offset);
                let mut window = if self.desc { last } else { first };
                let mut points: Box<dyn Iterator<Item = (&i64, &Bucket)>> = if self.desc {
                    Box::new(data.iter().rev())
                } else {
                    Box::new(data.iter())
                };
                let mut next = points.next();
                loop {
                    let expected = next.is_some_and(|(t, _)| {
                        if self.desc {
                            *t >= window
                        } else {
                            *t <= window
                        }
                    });
                    if expected {
                        let Some((t, (values, selected))) = next else {
                            break;
                        };
                        let values = self.fill_silent(window, values, data, &rows);
                        rows.push((*t, values, *selected));
                        next = points.next();
                    } else if next.is_some()
                        || (!self.desc && window <= range.max)
                        || (self.desc && window >= first)
                    {
                        let previous = self.previous(window, data, &rows);
                        if let Some(values) = self.filled(window, data, previous) {
                            rows.push((window, values, None));
                        }
                    } else {
                        break;
                    }
                    let moved = if self.desc {
                        self.window_start(window.saturating_sub(1), interval, offset)
                    } else {
                        self.next_window(window, interval, offset)
                    };
                    if moved == window {
                        break;
                    }
                    window = moved;
                }
                return rows;
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
        rows
    }

    /// A bucket's values with each percentile that selected no point (`percentile(x, 0)`, or
    /// 5 of fewer than 10 points) filled as an empty bucket of that call: InfluxDB runs each
    /// call on its own iterator, and its fill iterator fills the window such a call emits
    /// nothing for, though the row is there for the other calls (with `fill(-1)`, -1; with
    /// `fill(previous)`, that call's previous value).
    fn fill_silent(
        &self,
        start: i64,
        values: &[Cell],
        data: &BTreeMap<i64, Bucket>,
        rows: &[BucketRow],
    ) -> Vec<Cell> {
        let silent = |i: usize| {
            let c = &self.calls[i];
            c.on_field && matches!(c.func, Func::Percentile(_)) && values[i] == Cell::Null
        };
        if !matches!(
            self.fill,
            Fill::Integer(_) | Fill::Float(_) | Fill::Previous
        ) || !(0..values.len()).any(silent)
        {
            return values.to_vec();
        }
        let fill = self.filled(start, data, self.previous(start, data, rows));
        values
            .iter()
            .enumerate()
            .map(|(i, v)| match &fill {
                Some(f) if silent(i) => f[i].clone(),
                _ => v.clone(),
            })
            .collect()
    }

    /// The start of the window after the one at `start`.
    fn next_window(&self, start: i64, interval: i64, offset: i64) -> i64 {
        let next = self.window_start(start.saturating_add(interval), interval, offset);
        if next <= start {
            start.saturating_add(interval)
        } else {
            next
        }
    }

    /// The bucket `fill(previous)` copies into the empty one at `start`: the one before it in
    /// the answer's order, as InfluxDB fills, so under `DESC` the nearest later bucket with
    /// points (a filled row only copies one).
    fn previous<'a>(
        &self,
        start: i64,
        data: &'a BTreeMap<i64, Bucket>,
        rows: &'a [BucketRow],
    ) -> Option<&'a Vec<Cell>> {
        if self.desc {
            data.range(start.saturating_add(1)..)
                .next()
                .map(|(_, (v, _))| v)
        } else {
            rows.last().map(|r| &r.1)
        }
    }

    /// The start of the `GROUP BY time` bucket holding `t` (InfluxDB's `Window`, with the
    /// zone's offset under `tz()`).
    pub(super) fn window_start(&self, t: i64, interval: i64, offset: i64) -> i64 {
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
fn linear(t: i64, (t0, v0): (i64, &Cell), (t1, v1): (i64, &Cell), interval: i64) -> Cell {
    // InfluxDB's `linearFloat`/`linearInteger`, with times counted in intervals (truncated),
    // as its fill iterator passes them: y = m·x + b, m the slope, b the earlier value.
    let interval = interval.max(1);
    let (t, t0, t1) = (t / interval, t0 / interval, t1 / interval);
    if t1 == t0 {
        return Cell::Null;
    }
    #[allow(clippy::cast_precision_loss)]
    let (dt, x) = ((t1 - t0) as f64, (t - t0) as f64);
    match (v0, v1) {
        (Cell::Integer(a), Cell::Integer(b)) => {
            #[allow(clippy::cast_precision_loss)]
            let m = b.wrapping_sub(*a) as f64 / dt;
            #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
            Cell::Integer((m * x + *a as f64) as i64)
        }
        (a, b) => match (a.as_f64(), b.as_f64()) {
            (Some(a), Some(b)) => Cell::Float((b - a) / dt * x + a),
            _ => Cell::Null,
        },
    }
}

/// Whether points (in time order) of one time have equal values.
fn equal_points(points: &[GroupPoint]) -> bool {
    let mut begin = 0;
    while begin < points.len() {
        let t = points[begin].0;
        let n = points[begin..].iter().take_while(|p| p.0 == t).count();
        if n > 1 {
            let mut values: Vec<f64> = points[begin..begin + n].iter().map(|p| p.1).collect();
            values.sort_by(f64::total_cmp);
            if values.windows(2).any(|w| w[0] == w[1]) {
                return true;
            }
        }
        begin += n;
    }
    false
}

/// `sum()` or `mean()` of a bucket of the store's points (in time order, then series order)
/// as InfluxDB 1.6 computes it: its storage engine adds each series' floats of a shard on
/// their own, in the query's order (newest first under DESC), then merges them
/// ([`super::engine_merge::merge_parts`]). Floats added in another order differ in their last
/// bits.
fn engine_sum_or_mean(
    mean: bool,
    slice: &[GroupPoint],
    desc: bool,
    window: i64,
    engine: Option<&EngineOrder>,
) -> Cell {
    let mut series: Parts = BTreeMap::new();
    let mut add = |p: &GroupPoint| {
        let week = super::cardinality::shard_group_start(p.0);
        let part = series.entry((week, p.2)).or_insert((0.0, 0));
        part.0 += p.1;
        part.1 += 1;
    };
    if desc {
        slice.iter().rev().for_each(&mut add);
    } else {
        slice.iter().for_each(&mut add);
    }
    for (sum, n) in series.values_mut() {
        #[allow(clippy::cast_precision_loss)]
        if mean {
            *sum /= *n as f64;
        }
    }
    merge_parts(mean, &series, window, engine).map_or(Cell::Null, Cell::Float)
}

/// `first()` or `last()` without GROUP BY time over several series with points at the deciding
/// time, as InfluxDB 1.6 chooses: its engine reads the group's series (of the shard holding
/// that time) through its sorted merge iterator (a Go heap, [`super::merge`], which orders
/// points of one time by their auxiliary strings `aux`, by series) limited to one
/// point, a limit its storage engine lets one point more through (`tsm1`'s
/// `limitIterator`), and the reducer keeps the first of those two points unless the second
/// has the same time and a greater value (a smaller one with `smaller_wins`: `first()` of
/// booleans keeps false). The index in `slice` of the point chosen; `None` when one series
/// alone has points at that time.
fn selector_of_several(
    last: bool,
    smaller_wins: bool,
    slice: &[GroupPoint],
    g: &Group<'_>,
    aux: &[Vec<Option<&str>>],
) -> Option<usize> {
    // Each series' deciding point (its first, or last, in the range).
    let mut heads: BTreeMap<usize, usize> = BTreeMap::new();
    for (k, p) in slice.iter().enumerate() {
        let e = heads.entry(p.2).or_insert(k);
        let q = slice[*e];
        if (last && p.0 > q.0) || (!last && p.0 < q.0) {
            *e = k;
        }
    }
    let times = heads.values().map(|&k| slice[k].0);
    let t = if last { times.max()? } else { times.min()? };
    if heads.values().filter(|&&k| slice[k].0 == t).count() < 2 {
        return None;
    }
    let shard = super::cardinality::shard_group_start(t);
    // The heap's items: the series with points in that shard, in the index's order (reversed
    // for `last`, read newest first).
    let metas: Vec<&super::SeriesMeta> = g.series.iter().map(|(s, _)| *s).collect();
    let mut order = super::merge::key_order(&metas);
    if last {
        order.reverse();
    }
    let mut items: Vec<usize> = order
        .into_iter()
        .filter_map(|i| heads.get(&i).copied())
        .filter(|&k| super::cardinality::shard_group_start(slice[k].0) == shard)
        .collect();
    // By time, then (of one time) by the auxiliary strings.
    let less = |a: &usize, b: &usize| {
        let (x, y) = (slice[*a], slice[*b]);
        if x.0 != y.0 {
            return if last { x.0 > y.0 } else { x.0 < y.0 };
        }
        super::select::aux_less(&aux[x.2], &aux[y.2], last)
    };
    // Go's container/heap: Init, then Pop (its point), then the new top.
    let n = items.len();
    for i in (0..n / 2).rev() {
        super::merge::go_heap_down(&mut items, i, n, less);
    }
    let end = n.checked_sub(1)?;
    items.swap(0, end);
    super::merge::go_heap_down(&mut items, 0, end, less);
    let first = items.pop()?;
    let Some(&second) = items.first() else {
        return Some(first);
    };
    let (p1, p2) = (slice[first], slice[second]);
    let replaces = if smaller_wins {
        p2.1 < p1.1
    } else {
        p2.1 > p1.1
    };
    Some(if p2.0 == p1.0 && replaces {
        second
    } else {
        first
    })
}
