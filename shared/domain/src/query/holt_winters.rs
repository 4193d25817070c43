//! `holt_winters(aggregate, N, S)` and `holt_winters_with_fit`: InfluxDB 1.x's damped
//! Holt-Winters forecast of a series of `GROUP BY time` buckets (`query/functions.go`,
//! `FloatHoltWintersReducer`), fitted with its Nelder-Mead optimizer (`query/neldermead`) from
//! the same grid of starting guesses, with the same quirks (the recursion reads its own previous
//! forecast, the objective constrains the simplex's vertices in place) and the same float
//! operations in the same order, including Go's `math.Pow`, so that forecasts match InfluxDB's.

/// The arguments of a Holt-Winters call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct HoltWinters {
    /// N: how many values to forecast.
    pub(crate) h: usize,
    /// S: the season's length in buckets (below 2: no seasonality).
    pub(crate) m: usize,
    /// `holt_winters_with_fit`: the fitted values of the buckets are answered too.
    pub(crate) with_fit: bool,
}

/// Bounds the work of one forecast: InfluxDB allocates N values up front.
const MAX_FORECAST: i64 = 1_000_000;

/// Checks the arguments after the first as InfluxDB's compiler does (the first, an aggregate
/// under GROUP BY time, is checked by the caller).
pub(crate) fn check(name: &str, args: &[crate::influxql::Expr]) -> Result<HoltWinters, String> {
    use crate::influxql::Expr;
    if args.len() != 3 {
        return Err(format!(
            "invalid number of arguments for {name}, expected 3, got {}",
            args.len()
        ));
    }
    let h = match &args[1] {
        Expr::Integer(n) if *n > 0 => *n,
        Expr::Integer(n) => {
            return Err(format!(
                "second arg to {name} must be greater than 0, got {n}"
            ))
        }
        _ => return Err(format!("expected integer argument as second arg in {name}")),
    };
    let m = match &args[2] {
        Expr::Integer(s) if *s >= 0 => *s,
        Expr::Integer(s) => return Err(format!("third arg to {name} cannot be negative, got {s}")),
        _ => return Err(format!("expected integer argument as third arg in {name}")),
    };
    if h > MAX_FORECAST || m > MAX_FORECAST {
        return Err(format!(
            "{name}() arguments this large are not supported by Fieldline"
        ));
    }
    Ok(HoltWinters {
        h: usize::try_from(h).unwrap_or(0),
        m: usize::try_from(m).unwrap_or(0),
        with_fit: name == "holt_winters_with_fit",
    })
}

/// InfluxDB's Nelder-Mead minimizer (reflection 1, contraction 0.5, expansion 2, at most 1000
/// iterations). The objective may change the point it is given (InfluxDB's constrains it).
/// Indexed loops, as the algorithm is written.
#[allow(clippy::needless_range_loop)]
fn optimize(
    objective: &mut dyn FnMut(&mut [f64]) -> f64,
    start: &[f64],
    epsilon: f64,
    scale: f64,
) -> (f64, Vec<f64>) {
    let n = start.len();
    #[allow(clippy::cast_precision_loss)]
    let nf = n as f64;
    let mut v: Vec<Vec<f64>> = vec![vec![0.0; n]; n + 1];
    let mut f = vec![0.0; n + 1];
    let (mut vr, mut ve, mut vc, mut vm) = (vec![0.0; n], vec![0.0; n], vec![0.0; n], vec![0.0; n]);
    let pn = scale * ((nf + 1.0).sqrt() - 1.0 + nf) / (nf * 2f64.sqrt());
    let qn = scale * ((nf + 1.0).sqrt() - 1.0) / (nf * 2f64.sqrt());
    v[0].copy_from_slice(start);
    for i in 1..=n {
        for j in 0..n {
            v[i][j] = if i - 1 == j { pn } else { qn } + start[j];
        }
    }
    for j in 0..=n {
        f[j] = objective(&mut v[j]);
    }
    for _ in 0..1000 {
        let (mut vg, mut vs) = (0, 0);
        for i in 0..=n {
            if f[i] > f[vg] {
                vg = i;
            }
            if f[i] < f[vs] {
                vs = i;
            }
        }
        let mut vh = vs;
        for i in 0..=n {
            if f[i] > f[vh] && f[i] < f[vg] {
                vh = i;
            }
        }
        for i in 0..n {
            let mut cent = 0.0;
            for (m, row) in v.iter().enumerate() {
                if m != vg {
                    cent += row[i];
                }
            }
            vm[i] = cent / nf;
        }
        for i in 0..n {
            vr[i] = vm[i] + 1.0 * (vm[i] - v[vg][i]);
        }
        let fr = objective(&mut vr);
        if fr < f[vh] && fr >= f[vs] {
            v[vg].copy_from_slice(&vr);
            f[vg] = fr;
        }
        if fr < f[vs] {
            for i in 0..n {
                ve[i] = vm[i] + 2.0 * (vr[i] - vm[i]);
            }
            let fe = objective(&mut ve);
            if fe < fr {
                v[vg].copy_from_slice(&ve);
                f[vg] = fe;
            } else {
                v[vg].copy_from_slice(&vr);
                f[vg] = fr;
            }
        }
        if fr >= f[vh] {
            if fr < f[vg] && fr >= f[vh] {
                for i in 0..n {
                    vc[i] = vm[i] + 0.5 * (vr[i] - vm[i]);
                }
            } else {
                for i in 0..n {
                    vc[i] = vm[i] - 0.5 * (vm[i] - v[vg][i]);
                }
            }
            let fc = objective(&mut vc);
            if fc < f[vg] {
                v[vg].copy_from_slice(&vc);
                f[vg] = fc;
            } else {
                // Shrink towards the best vertex; only two values are computed again (as
                // InfluxDB does).
                let best = v[vs].clone();
                for (row, vertex) in v.iter_mut().enumerate() {
                    if row != vs {
                        for i in 0..n {
                            vertex[i] = best[i] + (vertex[i] - best[i]) / 2.0;
                        }
                    }
                }
                f[vg] = objective(&mut v[vg]);
                f[vh] = objective(&mut v[vh]);
            }
        }
        let fsum: f64 = f.iter().fold(0.0, |a, x| a + x);
        let favg = fsum / (nf + 1.0);
        let mut s = 0.0;
        for x in &f {
            // Go's math.Pow(d, 2) is d * d here.
            let d = x - favg;
            s += d * d / nf;
        }
        if s.sqrt() < epsilon {
            break;
        }
    }
    let mut vs = 0;
    for i in 0..=n {
        if f[i] < f[vs] {
            vs = i;
        }
    }
    let parameters = v[vs].clone();
    let min = objective(&mut v[vs]);
    (min, parameters)
}

/// The series of values a forecast is fitted to: one per interval, NaN where a bucket is
/// missing.
struct Fit<'a> {
    y: &'a [f64],
    seasonal: bool,
}

impl Fit<'_> {
    /// Clamps alpha, beta, gamma and phi into [0, 1], in place.
    fn constrain(x: &mut [f64]) {
        for v in x.iter_mut().take(4) {
            // NaN stays NaN, as with InfluxDB's comparisons.
            *v = v.clamp(0.0, 1.0);
        }
    }

    /// The fitted values and `h` more; constrains `params` and overwrites its seasonals, as
    /// InfluxDB's does.
    fn forecast(&self, h: usize, params: &mut [f64]) -> Vec<f64> {
        Self::constrain(params);
        let (alpha, beta, gamma, phi) = (params[0], params[1], params[2], params[3]);
        let mut y_t = self.y[0];
        let mut phi_h = phi;
        let (mut l_t, mut b_t) = (params[4], params[5]);
        let seasonals = &mut params[6..];
        let m = seasonals.len();
        let mut so = 0usize;
        if self.seasonal {
            if m == 1 {
                seasonals[0] = 1.0;
            }
            so = m - 1;
        }
        let l = self.y.len();
        let mut out = vec![0.0; l + h];
        out[0] = y_t;
        let (mut stm, mut stmh) = (1.0, 1.0);
        for t in 1..l + h {
            if self.seasonal {
                let hm = t % m;
                stm = seasonals[(t + so - m) % m];
                stmh = seasonals[(t + so + hm - m) % m];
            }
            // The recursion reads the previous forecast, not the observed value.
            let l_prev = l_t;
            let new_l = alpha * (y_t / stm) + (1.0 - alpha) * (l_prev + phi * b_t);
            let new_b = beta * (new_l - l_prev) + (1.0 - beta) * phi * b_t;
            let s_t = gamma * (y_t / (l_prev + phi * b_t)) + (1.0 - gamma) * stm;
            y_t = (new_l + phi_h * new_b) * stmh;
            l_t = new_l;
            b_t = new_b;
            #[allow(clippy::cast_precision_loss)]
            let power = t as f64;
            phi_h += super::go_math::pow(phi, power);
            if self.seasonal {
                seasonals[(t + so) % m] = s_t;
                so += 1;
            }
            out[t] = y_t;
        }
        out
    }

    /// The sum of squared errors of the fit (infinite when it forecasts NaN for a value).
    fn sse(&self, params: &mut [f64]) -> f64 {
        let forecast = self.forecast(0, params);
        let mut sse = 0.0;
        for (f, y) in forecast.iter().zip(self.y) {
            if !y.is_nan() {
                if f.is_nan() {
                    return f64::INFINITY;
                }
                let d = f - y;
                sse += d * d;
            }
        }
        sse
    }
}

impl HoltWinters {
    /// Forecasts one stream of bucket values (times and values, nulls already skipped, in the
    /// statement's order) whose buckets are `interval` apart: the rows InfluxDB answers.
    #[allow(clippy::cast_precision_loss)]
    pub(crate) fn apply(
        self,
        points: &[(i64, f64)],
        interval: i64,
        max_intervals: usize,
    ) -> Result<Vec<(i64, f64)>, String> {
        let seasonal = self.m >= 2;
        let m = self.m;
        if points.len() < 2 || (seasonal && points.len() < m) || self.h == 0 || interval <= 0 {
            return Ok(Vec::new());
        }
        let half = interval / 2;
        let round = |t: i64| {
            if t % interval > half {
                (t / interval).wrapping_add(1).wrapping_mul(interval)
            } else {
                (t / interval).wrapping_mul(interval)
            }
        };
        let (start, stop) = (round(points[0].0), round(points[points.len() - 1].0));
        let count = stop.wrapping_sub(start) / interval;
        if count <= 0 {
            return Ok(Vec::new());
        }
        // Every interval between the first and last bucket is a value of the fit (NaN where a
        // bucket is missing), and each step of the optimizer runs through all of them.
        if usize::try_from(count).map_or(true, |c| c >= max_intervals) {
            return Err(format!(
                "holt_winters() over {} intervals is more than the {max_intervals} Fieldline \
                 fits; use a larger interval or a shorter time range",
                count.saturating_add(1)
            ));
        }
        let mut y = vec![points[0].1];
        let mut t = start;
        for &(time, value) in &points[1..] {
            let rounded = round(time);
            if rounded <= t {
                continue;
            }
            t += interval;
            while rounded != t {
                y.push(f64::NAN);
                t += interval;
            }
            y.push(value);
        }
        if seasonal && y.len() < m {
            return Ok(Vec::new());
        }

        // Starting guesses.
        let mut l0 = 0.0;
        let mut b0 = 0.0;
        if seasonal {
            for v in y.iter().take(m) {
                if !v.is_nan() {
                    l0 += (1.0 / m as f64) * v;
                }
            }
            let mut i = 0;
            while i < m && m + i < y.len() {
                if !y[i].is_nan() && !y[m + i].is_nan() {
                    b0 += 1.0 / (m * m) as f64 * (y[m + i] - y[i]);
                }
                i += 1;
            }
        } else {
            l0 += 0.5 * y[0];
            if !y[1].is_nan() {
                b0 = 0.5 * (y[1] - y[0]);
            }
        }
        let mut parameters = vec![0.0; 6];
        parameters[4] = l0;
        parameters[5] = b0;
        if seasonal {
            parameters.extend(
                y.iter()
                    .take(m)
                    .map(|v| if v.is_nan() { 0.0 } else { v / l0 }),
            );
        }

        let fit = Fit { y: &y, seasonal };
        let mut objective = |p: &mut [f64]| fit.sse(p);
        let mut min_sse = f64::INFINITY;
        let mut best: Option<Vec<f64>> = None;
        let mut alpha = 0.3;
        while alpha < 1.0 {
            let mut beta = 0.3;
            while beta < 1.0 {
                let mut gamma = 0.3;
                while gamma < 1.0 {
                    let mut phi = 0.3;
                    while phi < 1.0 {
                        parameters[..4].copy_from_slice(&[alpha, beta, gamma, phi]);
                        let (sse, params) = optimize(&mut objective, &parameters, 1.0e-4, 1.0);
                        if sse < min_sse || best.is_none() {
                            min_sse = sse;
                            best = Some(params);
                        }
                        phi += 0.4;
                    }
                    gamma += 0.4;
                }
                beta += 0.4;
            }
            alpha += 0.4;
        }
        let Some(mut best) = best else {
            return Ok(Vec::new());
        };
        let forecast = fit.forecast(self.h, &mut best);
        let step = |i: usize| interval.saturating_mul(i64::try_from(i).unwrap_or(i64::MAX));
        Ok(if self.with_fit {
            let start = points[0].0;
            forecast
                .iter()
                .enumerate()
                .filter(|(_, v)| !v.is_nan())
                .map(|(i, v)| (start.saturating_add(step(i)), *v))
                .collect()
        } else {
            let stop = points[points.len() - 1].0;
            forecast[y.len()..]
                .iter()
                .enumerate()
                .filter(|(_, v)| !v.is_nan())
                .map(|(i, v)| (stop.saturating_add(step(i + 1)), *v))
                .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn optimizer_finds_a_quadratic_minimum() {
        let mut f = |x: &mut [f64]| (x[0] - 3.0).powi(2) + (x[1] + 1.0).powi(2);
        let (min, at) = optimize(&mut f, &[0.0, 0.0], 1e-12, 1.0);
        assert!(min < 1e-6, "{min}");
        assert!(
            (at[0] - 3.0).abs() < 1e-3 && (at[1] + 1.0).abs() < 1e-3,
            "{at:?}"
        );
    }

    #[test]
    fn forecasts_follow_the_last_bucket() {
        let hw = HoltWinters {
            h: 2,
            m: 0,
            with_fit: false,
        };
        let points: Vec<(i64, f64)> = (0..10).map(|i| (i * 10, 5.0 + i as f64)).collect();
        let out = hw.apply(&points, 10, 1000).unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!((out[0].0, out[1].0), (100, 110));
        assert!(out.iter().all(|(_, v)| v.is_finite()));
        // Backwards (ORDER BY time DESC) the buckets span no time: nothing.
        let back: Vec<(i64, f64)> = points.iter().rev().copied().collect();
        assert!(hw.apply(&back, 10, 1000).unwrap().is_empty());
        // Too many intervals to fit: refused.
        assert!(hw.apply(&points, 10, 5).is_err());
    }
}
