//! InfluxDB 1.x's technical-analysis transformations — `exponential_moving_average`,
//! `double_exponential_moving_average`, `triple_exponential_moving_average`,
//! `relative_strength_index`, `triple_exponential_derivative`, `kaufmans_efficiency_ratio`,
//! `kaufmans_adaptive_moving_average` and `chande_momentum_oscillator` — computed as its stream
//! reducers compute them (`query/functions.go` over `query/internal/gota`): every point of the
//! stream (nulls skipped) is added to the indicator, and once more points than the hold period
//! were added, each point answers the indicator's value at its time. The same operations in the
//! same order, so that answers match InfluxDB's to the last bit.

use crate::influxql::Expr;

use super::result::Cell;

/// How an exponential average starts, before it has seen `period` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Warmup {
    /// `'exponential'` (the default): the weight of a new value starts at 1 and falls to 2 / (N+1).
    Exponential,
    /// `'simple'`: the plain mean of the values so far.
    Simple,
    /// `'none'` (`chande_momentum_oscillator` only, its default): the unsmoothed oscillator.
    None,
}

/// Which indicator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Ema,
    Dema,
    Tema,
    Rsi,
    Trix,
    Ker,
    Kama,
    Cmo,
}

/// A technical-analysis transformation and its arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Indicator {
    pub(crate) kind: Kind,
    /// N, as Go's int: InfluxDB's arithmetic on it wraps.
    pub(crate) period: i64,
    /// The hold period as written (`-1`, the default, is the indicator's own warm-up count).
    pub(crate) hold: i64,
    pub(crate) warmup: Warmup,
}

/// The most values an indicator with a window keeps (`kaufmans_*`, `chande_momentum_oscillator`):
/// InfluxDB allocates the whole window up front.
const MAX_WINDOW: i64 = 1_000_000;

/// The names this module runs.
pub(crate) fn kind_of(name: &str) -> Option<Kind> {
    Some(match name {
        "exponential_moving_average" => Kind::Ema,
        "double_exponential_moving_average" => Kind::Dema,
        "triple_exponential_moving_average" => Kind::Tema,
        "relative_strength_index" => Kind::Rsi,
        "triple_exponential_derivative" => Kind::Trix,
        "kaufmans_efficiency_ratio" => Kind::Ker,
        "kaufmans_adaptive_moving_average" => Kind::Kama,
        "chande_momentum_oscillator" => Kind::Cmo,
        _ => return None,
    })
}

/// Checks the arguments after the first as InfluxDB's compiler does (same errors, same order).
pub(crate) fn check(name: &str, kind: Kind, args: &[Expr]) -> Result<Indicator, String> {
    let kaufmans = matches!(kind, Kind::Ker | Kind::Kama);
    let max = if kaufmans { 3 } else { 4 };
    if args.len() < 2 || args.len() > max {
        return Err(format!(
            "invalid number of arguments for {name}, expected at least 2 but no more than {max}, \
             got {}",
            args.len()
        ));
    }
    let period = match &args[1] {
        Expr::Integer(n) if *n >= 1 => *n,
        Expr::Integer(_) => {
            return Err(format!("{name} period must be greater than or equal to 1"))
        }
        _ => return Err(format!("{name} period must be an integer")),
    };
    let hold = match args.get(2) {
        None => -1,
        Some(Expr::Integer(h)) => {
            if kind == Kind::Trix && *h < 1 && *h != -1 {
                return Err(format!(
                    "{name} hold period must be greater than or equal to 1"
                ));
            }
            if *h < 0 && *h != -1 {
                return Err(format!(
                    "{name} hold period must be greater than or equal to 0"
                ));
            }
            *h
        }
        Some(_) => return Err(format!("{name} hold period must be an integer")),
    };
    let warmup = match args.get(3) {
        None if kind == Kind::Cmo => Warmup::None,
        None => Warmup::Exponential,
        Some(Expr::String(s)) => match s.as_str() {
            "exponential" => Warmup::Exponential,
            "simple" => Warmup::Simple,
            "none" if kind == Kind::Cmo => Warmup::None,
            _ if kind == Kind::Cmo => {
                return Err(format!(
                    "{name} warmup type must be one of: 'none' 'exponential' 'simple'"
                ))
            }
            _ => {
                return Err(format!(
                    "{name} warmup type must be one of: 'exponential' 'simple'"
                ))
            }
        },
        Some(_) => return Err(format!("{name} warmup type must be a string")),
    };
    Ok(Indicator {
        kind,
        period,
        hold,
        warmup,
    })
}

impl Indicator {
    /// Refuses, once the call passed InfluxDB's checks, what Fieldline does not run: a window
    /// too large to allocate.
    pub(crate) fn runnable(self, name: &str) -> Result<(), String> {
        let windowed = matches!(self.kind, Kind::Ker | Kind::Kama)
            || (self.kind == Kind::Cmo && self.warmup == Warmup::None);
        if windowed && self.period > MAX_WINDOW {
            return Err(format!(
                "{name} period {} is larger than Fieldline allows",
                self.period
            ));
        }
        Ok(())
    }

    /// Whether InfluxDB 1.6 panics once a value reaches the indicator: its
    /// `chande_momentum_oscillator(x, 1)` without warmup indexes an empty window
    /// ([`super::influxdb_panic`]).
    pub(crate) fn panics(self) -> bool {
        self.kind == Kind::Cmo && self.warmup == Warmup::None && self.period == 1
    }
}

/// An exponential moving average (gota's EMA). Counts are Go's int, as InfluxDB's.
#[derive(Clone, Debug)]
struct Ema {
    period: i64,
    last: f64,
    count: i64,
    alpha: f64,
    warmup: Warmup,
}

impl Ema {
    #[allow(clippy::cast_precision_loss)]
    fn new(period: i64, warmup: Warmup) -> Ema {
        Ema {
            period,
            last: 0.0,
            count: 0,
            alpha: 2.0 / period.wrapping_add(1) as f64,
            warmup,
        }
    }

    fn warm_count(&self) -> i64 {
        self.period.wrapping_sub(1)
    }

    fn warmed(&self) -> bool {
        self.count == self.period
    }

    #[allow(clippy::cast_precision_loss)]
    fn add(&mut self, v: f64) -> f64 {
        let avg = if self.count == 0 {
            v
        } else if self.warmed() {
            (v - self.last) * self.alpha + self.last
        } else if self.warmup == Warmup::Simple {
            (self.last * self.count as f64 + v) / (self.count + 1) as f64
        } else {
            // The weight of a new value during warm-up, so that the first one does not dominate.
            let alpha = 2.0 / (self.count + 2) as f64;
            (v - self.last) * alpha + self.last
        };
        self.last = avg;
        if self.count < self.period {
            self.count += 1;
        }
        avg
    }

    /// Whether the next average in a chain reads this one's value (gota's DEMA, TEMA, TRIX).
    fn feeds_next(&self) -> bool {
        self.warmed() || self.warmup == Warmup::Exponential
    }
}

/// The averages of up and down moves (gota's RSI and smoothed CMO): an EMA over N+1 values with
/// the weight 1/N, fed the change from the previous value (from 0 for the first one).
#[derive(Clone, Debug)]
struct Moves {
    up: Ema,
    down: Ema,
    last_v: f64,
}

impl Moves {
    #[allow(clippy::cast_precision_loss)]
    fn new(period: i64, warmup: Warmup) -> Moves {
        let mut ema = Ema::new(period.wrapping_add(1), warmup);
        ema.alpha = 1.0 / period as f64;
        Moves {
            up: ema.clone(),
            down: ema,
            last_v: 0.0,
        }
    }

    fn add(&mut self, v: f64) -> (f64, f64) {
        let (mut up, mut down) = (0.0, 0.0);
        if v > self.last_v {
            up = v - self.last_v;
        } else if v < self.last_v {
            down = self.last_v - v;
        }
        self.up.add(up);
        self.down.add(down);
        self.last_v = v;
        (self.up.last, self.down.last)
    }
}

/// Kaufman's efficiency ratio over a window of `n` (price, absolute change) pairs.
#[derive(Clone, Debug)]
struct Ker {
    points: Vec<(f64, f64)>,
    noise: f64,
    count: usize,
    idx: usize,
}

impl Ker {
    fn new(n: i64) -> Ker {
        Ker {
            points: vec![(0.0, 0.0); usize::try_from(n).unwrap_or(0)],
            noise: 0.0,
            count: 0,
            idx: 0,
        }
    }

    fn warmed(&self) -> bool {
        self.count == self.points.len() + 1
    }

    fn add(&mut self, v: f64) -> f64 {
        let mut oldest = self.idx + 1;
        if oldest >= self.points.len() {
            oldest = 0;
        }
        let signal = (v - self.points[oldest].0).abs();
        let diff = (v - self.points[self.idx].0).abs();
        self.noise -= self.points[oldest].1;
        self.noise += diff;
        let noise = self.noise;
        self.idx = oldest;
        self.points[oldest] = (v, diff);
        if !self.warmed() {
            self.count += 1;
        }
        if signal == 0.0 || noise == 0.0 {
            0.0
        } else {
            signal / noise
        }
    }
}

/// The unsmoothed Chande momentum oscillator over a window of N-1 (price, change) pairs.
#[derive(Clone, Debug)]
struct Cmo {
    points: Vec<(f64, f64)>,
    sum_up: f64,
    sum_down: f64,
    count: usize,
    idx: usize,
}

impl Cmo {
    fn new(period: i64) -> Cmo {
        Cmo {
            points: vec![(0.0, 0.0); usize::try_from(period - 1).unwrap_or(0)],
            sum_up: 0.0,
            sum_down: 0.0,
            count: 0,
            idx: 0,
        }
    }

    fn add(&mut self, v: f64) -> f64 {
        let mut oldest = self.idx + 1;
        if oldest == self.points.len() {
            oldest = 0;
        }
        let mut diff = 0.0;
        if self.count != 0 {
            diff = v - self.points[self.idx].0;
            if diff > 0.0 {
                self.sum_up += diff;
            } else if diff < 0.0 {
                self.sum_down -= diff;
            }
        }
        let out = if self.sum_up != 0.0 || self.sum_down != 0.0 {
            100.0 * ((self.sum_up - self.sum_down) / (self.sum_up + self.sum_down))
        } else {
            0.0
        };
        let old = self.points[oldest].1;
        if old > 0.0 {
            self.sum_up -= old;
        } else if old < 0.0 {
            self.sum_down += old;
        }
        self.points[oldest] = (v, diff);
        self.idx = oldest;
        if self.count != self.points.len() + 2 {
            self.count += 1;
        }
        out
    }
}

/// The running state of one indicator.
enum State {
    Ema(Ema),
    Dema(Ema, Ema),
    Tema(Ema, Ema, Ema),
    Rsi(Moves),
    Trix {
        emas: [Ema; 3],
        last: f64,
        count: u8,
    },
    Ker(Ker),
    Kama {
        ker: Ker,
        last: f64,
    },
    Cmo(Cmo),
    Cmos(Moves),
}

/// 2/(2+1) - 2/(30+1) and 2/(30+1): Go evaluates these constant expressions exactly, then
/// rounds once.
const KAMA_SPAN: f64 = 56.0 / 93.0;
const KAMA_SLOW: f64 = 2.0 / 31.0;

impl State {
    fn new(i: Indicator) -> State {
        let (p, w) = (i.period, i.warmup);
        match i.kind {
            Kind::Ema => State::Ema(Ema::new(p, w)),
            Kind::Dema => State::Dema(Ema::new(p, w), Ema::new(p, w)),
            Kind::Tema => State::Tema(Ema::new(p, w), Ema::new(p, w), Ema::new(p, w)),
            Kind::Rsi => State::Rsi(Moves::new(p, w)),
            Kind::Trix => State::Trix {
                emas: [Ema::new(p, w), Ema::new(p, w), Ema::new(p, w)],
                last: 0.0,
                count: 0,
            },
            Kind::Ker => State::Ker(Ker::new(p)),
            Kind::Kama => State::Kama {
                ker: Ker::new(p),
                last: 0.0,
            },
            Kind::Cmo if w == Warmup::None => State::Cmo(Cmo::new(p)),
            Kind::Cmo => State::Cmos(Moves::new(p, w)),
        }
    }

    /// How many values the indicator needs to be warm: the default hold period (Go's int).
    fn warm_count(&self) -> i64 {
        let window = |points: &Vec<(f64, f64)>| i64::try_from(points.len()).unwrap_or(i64::MAX);
        match self {
            State::Ema(e) => e.warm_count(),
            State::Dema(e, _) if e.warmup == Warmup::Exponential => e.warm_count(),
            State::Dema(e, f) => e.warm_count().wrapping_add(f.warm_count()),
            State::Tema(e, _, _) if e.warmup == Warmup::Exponential => e.warm_count(),
            State::Tema(e, f, g) => e
                .warm_count()
                .wrapping_add(f.warm_count())
                .wrapping_add(g.warm_count()),
            State::Rsi(m) | State::Cmos(m) => m.up.warm_count(),
            State::Trix { emas, .. } if emas[0].warmup == Warmup::Exponential => {
                emas[0].warm_count().wrapping_add(1)
            }
            State::Trix { emas, .. } => emas[0].warm_count().wrapping_mul(3).wrapping_add(1),
            State::Ker(k) | State::Kama { ker: k, .. } => window(&k.points),
            State::Cmo(c) => window(&c.points),
        }
    }

    /// Adds a value; returns the indicator's value, or None where InfluxDB answers no row (an
    /// infinite rate or ratio).
    fn add(&mut self, v: f64) -> Option<f64> {
        let out = match self {
            State::Ema(e) => e.add(v),
            State::Dema(e1, e2) => {
                let a1 = e1.add(v);
                let a2 = if e1.feeds_next() { e2.add(a1) } else { a1 };
                2.0 * a1 - a2
            }
            State::Tema(e1, e2, e3) => {
                let a1 = e1.add(v);
                let a2 = if e1.feeds_next() { e2.add(a1) } else { a1 };
                let a3 = if e2.feeds_next() { e3.add(a2) } else { a2 };
                3.0 * a1 - 3.0 * a2 + a3
            }
            State::Rsi(m) => {
                let (up, down) = m.add(v);
                100.0 - (100.0 / (1.0 + up / down))
            }
            State::Cmos(m) => {
                let (up, down) = m.add(v);
                100.0 * ((up - down) / (up + down))
            }
            State::Trix { emas, last, count } => {
                let mut cur = emas[0].add(v);
                if emas[0].feeds_next() {
                    cur = emas[1].add(cur);
                    if emas[1].feeds_next() {
                        cur = emas[2].add(cur);
                    }
                }
                let rate = ((cur / *last) - 1.0) * 100.0;
                *last = cur;
                if *count != 2 && emas[2].warmed() {
                    *count += 1;
                }
                if rate.is_infinite() {
                    return None;
                }
                rate
            }
            State::Ker(k) => {
                let r = k.add(v);
                if r.is_infinite() {
                    return None;
                }
                r
            }
            State::Kama { ker, last } => {
                if !ker.warmed() {
                    // Starts from the last value seen.
                    *last = ker.points[ker.idx].0;
                }
                let er = ker.add(v);
                let sc = square(er * KAMA_SPAN + KAMA_SLOW);
                *last += sc * (v - *last);
                if last.is_infinite() {
                    return None;
                }
                *last
            }
            State::Cmo(c) => c.add(v),
        };
        Some(out)
    }
}

/// Go's `math.Pow(x, 2)`: the square of the mantissa, scaled back; as `x * x` wherever that is
/// normal (and the one use here lies in [0.004, 0.45]).
fn square(x: f64) -> f64 {
    x * x
}

impl Indicator {
    /// Applies the indicator to one stream in the order the statement reads it; null values are
    /// skipped (InfluxDB's stream iterators skip nil points). A NaN value (0/0) is answered as
    /// null, as InfluxDB's JSON answers it.
    pub(crate) fn apply(self, stream: &[(i64, Cell)]) -> Vec<(i64, Cell)> {
        let mut state = State::new(self);
        // The hold period, converted to a uint32 as InfluxDB converts it (keeping its low bits).
        let hold = if self.hold == -1 {
            state.warm_count()
        } else {
            self.hold
        };
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let hold = u64::from(hold as u32);
        let mut count: u64 = 0;
        let mut out = Vec::new();
        for (t, c) in stream {
            let Some(v) = c.as_f64() else { continue };
            let value = state.add(v);
            count += 1;
            if count <= hold {
                continue;
            }
            if let Some(value) = value {
                let cell = if value.is_nan() {
                    Cell::Null
                } else {
                    Cell::Float(value)
                };
                out.push((*t, cell));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(kind: Kind, period: i64, hold: i64, warmup: Warmup, values: &[f64]) -> Vec<Cell> {
        let stream: Vec<(i64, Cell)> = values
            .iter()
            .enumerate()
            .map(|(i, v)| (i64::try_from(i).unwrap(), Cell::Float(*v)))
            .collect();
        Indicator {
            kind,
            period,
            hold,
            warmup,
        }
        .apply(&stream)
        .into_iter()
        .map(|(_, c)| c)
        .collect()
    }

    #[test]
    fn ema_warms_up_then_weights_by_two_over_n_plus_one() {
        // Exponential warm-up: 1, then (2-1)*2/3+1, then weight 2/4 = 0.5 once warm.
        let out = run(Kind::Ema, 3, 0, Warmup::Exponential, &[1.0, 2.0, 4.0, 8.0]);
        let a2 = (2.0 - 1.0) * (2.0 / 3.0) + 1.0;
        let a3 = (4.0 - a2) * 0.5 + a2;
        let a4 = (8.0 - a3) * 0.5 + a3;
        assert_eq!(
            out,
            vec![
                Cell::Float(1.0),
                Cell::Float(a2),
                Cell::Float(a3),
                Cell::Float(a4)
            ]
        );
        // The default hold is period - 1; simple warm-up is the plain mean.
        let out = run(Kind::Ema, 3, -1, Warmup::Simple, &[1.0, 2.0, 6.0]);
        assert_eq!(out, vec![Cell::Float(3.0)]);
    }

    #[test]
    fn no_moves_at_all_are_null_and_infinite_rates_are_dropped() {
        assert_eq!(
            run(Kind::Rsi, 2, 1, Warmup::Exponential, &[0.0, 0.0, 0.0]),
            vec![Cell::Null, Cell::Null]
        );
        // TRIX divides by the previous average: 0 at first, then 0 again (0/0).
        assert_eq!(
            run(Kind::Trix, 2, 0, Warmup::Exponential, &[0.0, 0.0]),
            vec![Cell::Null, Cell::Null]
        );
        assert!(run(Kind::Trix, 2, 0, Warmup::Exponential, &[1.0]).is_empty());
    }

    #[test]
    fn efficiency_ratio_is_net_move_over_path() {
        // 1 → 3 → 2 → 4 over a window of 3: |4 - 1| / (2 + 1 + 2).
        let out = run(Kind::Ker, 3, -1, Warmup::Exponential, &[1.0, 3.0, 2.0, 4.0]);
        assert_eq!(out, vec![Cell::Float(3.0 / 5.0)]);
    }

    #[test]
    fn unsmoothed_cmo_sums_moves_over_the_window() {
        let out = run(Kind::Cmo, 3, 0, Warmup::None, &[1.0, 3.0, 2.0]);
        assert_eq!(
            out,
            vec![
                Cell::Float(0.0),
                Cell::Float(100.0),
                Cell::Float(100.0 * ((2.0 - 1.0) / (2.0 + 1.0)))
            ]
        );
    }
}
