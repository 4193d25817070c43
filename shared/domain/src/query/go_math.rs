//! The math functions of InfluxQL computed as InfluxDB 1.6 computes them, to the last bit: its
//! `MathValuer` calls Go's `math` package (Go 1.19, amd64), whose algorithms differ from the
//! C library's behind Rust's `f64` methods in the last bits of a third to a half of all
//! answers (measured over the general corpus' data set: `ln` 40 of 1,611 values, `tan` 581,
//! `pow(x, 1.5)` 764). These are the same algorithms, the same constants and the same
//! operations in the same order:
//!
//! - `log` as Go's amd64 assembly computes it, which is FreeBSD's `e_log.c` (Copyright (C) 1993
//!   by Sun Microsystems, Inc.: "Permission to use, copy, modify, and distribute this software
//!   is freely granted, provided that this notice is preserved."), reduced by the exponent's
//!   bits; `log2` and `log10` from it as Go derives them;
//! - `exp` as Go's amd64 assembly computes it on a processor with FMA (every x86-64 since
//!   2013), after Naoki Shibata's SLEEF (public domain);
//! - `sin`, `cos`, `tan` and `atan` (and `asin`, `acos`, `atan2` from it) after the Cephes Math
//!   Library (Copyright 1984-2000 by Stephen L. Moshier, "may be used freely"), as Go
//!   implements them; arguments of `sin`, `cos` and `tan` from 2^29 up, which Go reduces by
//!   Payne and Hanek's method, are left to the C library's `sin`, `cos` and `tan`;
//! - `pow` by Go's own method: the fractional part of the exponent through `exp` and `log`,
//!   the integer part by repeated squaring of the mantissa, the exponents added apart.
//!
//! Checked against InfluxDB 1.6's answers in the general golden corpus
//! (`arith_math_functions_to_the_last_bit`).

// The constants as their sources publish them (more digits than a double holds), so that each
// can be checked against its source.
#![allow(clippy::excessive_precision)]

use std::f64::consts::{FRAC_1_SQRT_2, FRAC_PI_2, FRAC_PI_4, LOG10_E, LOG2_E, PI};

const SIGN: u64 = 1 << 63;
const EXPONENT: u64 = 0x7FF << 52;
const MANTISSA: u64 = (1 << 52) - 1;

/// `x` scaled into the normal range, and the power of two taken out.
fn normalize(x: f64) -> (f64, i32) {
    if x.abs() < f64::MIN_POSITIVE {
        return (x * (1u64 << 52) as f64, -52);
    }
    (x, 0)
}

/// Go's `Frexp`: a fraction in [0.5, 1) and a power of two.
fn frexp(x: f64) -> (f64, i32) {
    if x == 0.0 || !x.is_finite() {
        return (x, 0);
    }
    let (x, e) = normalize(x);
    let b = x.to_bits();
    let exp = e + i32::try_from((b & EXPONENT) >> 52).unwrap_or(0) - 1022;
    (f64::from_bits((b & !EXPONENT) | (1022 << 52)), exp)
}

/// Go's `Ldexp`: `frac` × 2^`exp`, rounded once into a subnormal.
fn ldexp(frac: f64, exp: i64) -> f64 {
    if frac == 0.0 || !frac.is_finite() {
        return frac;
    }
    let (frac, e) = normalize(frac);
    let x = frac.to_bits();
    let mut exp = exp + i64::from(e) + i64::try_from((x & EXPONENT) >> 52).unwrap_or(0) - 1023;
    if exp < -1075 {
        return 0f64.copysign(frac);
    }
    if exp > 1023 {
        return f64::INFINITY.copysign(frac);
    }
    let mut m = 1.0;
    if exp < -1022 {
        exp += 53;
        m = 1.0 / (1u64 << 53) as f64;
    }
    let biased = u64::try_from(exp + 1023).unwrap_or(0);
    m * f64::from_bits((x & !EXPONENT) | (biased << 52))
}

/// The natural logarithm (Go's `archLog` on amd64).
pub(crate) fn ln(x: f64) -> f64 {
    const LN2_HI: u64 = 0x3FE6_2E42_FEE0_0000;
    const LN2_LO: u64 = 0x3DEA_39EF_3579_3C76;
    const L: [u64; 7] = [
        0x3FE5_5555_5555_5593,
        0x3FD9_9999_9997_FA04,
        0x3FD2_4924_9422_9359,
        0x3FCC_71C5_1D8E_78AF,
        0x3FC7_4664_96CB_03DE,
        0x3FC3_9A09_D078_C69F,
        0x3FC2_F112_DF3E_5244,
    ];
    let l = L.map(f64::from_bits);
    let b = x.to_bits();
    if b & !SIGN == 0 {
        return f64::NEG_INFINITY;
    }
    if b & SIGN != 0 {
        return f64::NAN;
    }
    if b >= EXPONENT {
        return x;
    }
    // The exponent's bits alone (a subnormal is not normalized first).
    let mut f1 = f64::from_bits((b & MANTISSA) | 0.5f64.to_bits());
    let mut k = f64::from(i32::try_from((b & EXPONENT) >> 52).unwrap_or(0) - 0x3FE);
    if f1 <= FRAC_1_SQRT_2 {
        k -= 1.0;
        f1 *= 2.0;
    }
    let f = f1 - 1.0;
    let s = f / (2.0 + f);
    let s2 = s * s;
    let s4 = s2 * s2;
    let t1 = s2 * (l[0] + s4 * (l[2] + s4 * (l[4] + s4 * l[6])));
    let t2 = s4 * (l[1] + s4 * (l[3] + s4 * l[5]));
    let r = t1 + t2;
    let hfsq = 0.5 * f * f;
    k * f64::from_bits(LN2_HI) - ((hfsq - (s * (hfsq + r) + k * f64::from_bits(LN2_LO))) - f)
}

/// The binary logarithm (exact at powers of two).
pub(crate) fn log2(x: f64) -> f64 {
    let (frac, exp) = frexp(x);
    if frac == 0.5 {
        return f64::from(exp - 1);
    }
    ln(frac) * LOG2_E + f64::from(exp)
}

/// The decimal logarithm.
pub(crate) fn log10(x: f64) -> f64 {
    ln(x) * LOG10_E
}

/// e^x (Go's amd64 assembly, its FMA path).
pub(crate) fn exp(x: f64) -> f64 {
    const LN2U: f64 = 0.693_147_180_559_662_956_511_601_805_686_950_683_593_75;
    const LN2L: f64 = 0.282_352_905_630_315_771_225_884_481_750_134_360_255_254_120_68e-12;
    const OVERFLOW: f64 = 7.097_827_128_933_84e2;
    const TAYLOR: [f64; 7] = [
        1.984_126_984_126_984_127_0e-4,
        1.388_888_888_888_888_888_9e-3,
        8.333_333_333_333_333_333_3e-3,
        4.166_666_666_666_666_666_7e-2,
        1.666_666_666_666_666_666_7e-1,
        0.5,
        1.0,
    ];
    const LAST: f64 = 2.480_158_730_158_730_158_7e-5;
    if x.is_nan() || x == f64::INFINITY {
        return x;
    }
    if x == f64::NEG_INFINITY {
        return 0.0;
    }
    if x > OVERFLOW {
        return f64::INFINITY;
    }
    // CVTSD2SL: to the nearest integer, ties to even; out of range, the lowest int32.
    let scaled = (LOG2_E * x).round_ties_even();
    #[allow(clippy::cast_possible_truncation)]
    let k: i32 = if (-2_147_483_648.0..=2_147_483_647.0).contains(&scaled) {
        scaled as i32
    } else {
        i32::MIN
    };
    let kf = f64::from(k);
    let mut x0 = (-kf).mul_add(LN2U, x);
    x0 = (-kf).mul_add(LN2L, x0);
    x0 *= 0.0625;
    let mut x1 = LAST;
    for c in TAYLOR {
        x1 = x1.mul_add(x0, c);
    }
    x0 *= x1;
    for _ in 0..3 {
        x1 = x0 + 2.0;
        x0 *= x1;
    }
    x1 = x0 + 2.0;
    x0 = x0.mul_add(x1, 1.0);
    let biased = k.wrapping_add(0x3FF);
    if biased <= 0 {
        return 0.0;
    }
    if biased >= 0x7FF {
        return f64::INFINITY;
    }
    x0 * f64::from_bits(u64::from(biased.unsigned_abs()) << 52)
}

/// π/4 in three parts, for the reduction of sin, cos and tan.
const PI4: [f64; 3] = [
    7.853_981_256_484_985_351_56e-1,
    3.774_894_707_930_798_176_68e-8,
    2.695_151_429_079_059_526_45e-15,
];
/// 4/π, rounded.
const FOUR_OVER_PI: u64 = 0x3FF4_5F30_6DC9_C883;
/// From here Go reduces by Payne and Hanek's method, not reproduced here.
const REDUCE_THRESHOLD: f64 = (1u64 << 29) as f64;

const SIN: [f64; 6] = [
    1.589_623_015_765_465_680_60e-10,
    -2.505_074_776_285_780_728_66e-8,
    2.755_731_362_138_572_452_13e-6,
    -1.984_126_982_958_953_859_96e-4,
    8.333_333_333_322_118_588_78e-3,
    -1.666_666_666_666_663_072_95e-1,
];
const COS: [f64; 6] = [
    -1.135_853_652_138_768_173_00e-11,
    2.087_570_084_197_473_167_78e-9,
    -2.755_731_417_929_673_881_12e-7,
    2.480_158_728_885_170_453_48e-5,
    -1.388_888_888_887_305_641_16e-3,
    4.166_666_666_666_659_292_18e-2,
];

/// The octant of `x` (not negative, below the threshold), mapped to an even one, and the
/// remainder.
fn octant(x: f64) -> (u64, f64) {
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let mut j = (x * f64::from_bits(FOUR_OVER_PI)) as u64;
    #[allow(clippy::cast_precision_loss)]
    let mut y = j as f64;
    if j & 1 == 1 {
        j += 1;
        y += 1.0;
    }
    (j, ((x - y * PI4[0]) - y * PI4[1]) - y * PI4[2])
}

fn sin_poly(z: f64, zz: f64) -> f64 {
    z + z
        * zz
        * (((((SIN[0] * zz + SIN[1]) * zz + SIN[2]) * zz + SIN[3]) * zz + SIN[4]) * zz + SIN[5])
}

fn cos_poly(zz: f64) -> f64 {
    1.0 - 0.5 * zz
        + zz * zz
            * (((((COS[0] * zz + COS[1]) * zz + COS[2]) * zz + COS[3]) * zz + COS[4]) * zz + COS[5])
}

/// `sin(x)` or `tan(x)` where Go answers without its reduction: ±0 and NaN themselves,
/// infinities NaN, and (not reproduced) arguments from the threshold up by the C library's `f`.
fn unreduced(x: f64, f: fn(f64) -> f64) -> Option<f64> {
    if x == 0.0 || x.is_nan() {
        Some(x)
    } else if x.is_infinite() {
        Some(f64::NAN)
    } else if x.abs() >= REDUCE_THRESHOLD {
        Some(f(x))
    } else {
        None
    }
}

pub(crate) fn sin(x: f64) -> f64 {
    if let Some(y) = unreduced(x, f64::sin) {
        return y;
    }
    let mut sign = x < 0.0;
    let (mut j, z) = octant(x.abs());
    j &= 7;
    if j > 3 {
        sign = !sign;
        j -= 4;
    }
    let zz = z * z;
    let y = if j == 1 || j == 2 {
        cos_poly(zz)
    } else {
        sin_poly(z, zz)
    };
    if sign {
        -y
    } else {
        y
    }
}

pub(crate) fn cos(x: f64) -> f64 {
    if !x.is_finite() {
        return f64::NAN;
    }
    if x.abs() >= REDUCE_THRESHOLD {
        return x.cos();
    }
    let mut sign = false;
    let (mut j, z) = octant(x.abs());
    j &= 7;
    if j > 3 {
        j -= 4;
        sign = !sign;
    }
    if j > 1 {
        sign = !sign;
    }
    let zz = z * z;
    let y = if j == 1 || j == 2 {
        sin_poly(z, zz)
    } else {
        cos_poly(zz)
    };
    if sign {
        -y
    } else {
        y
    }
}

pub(crate) fn tan(x: f64) -> f64 {
    const P: [f64; 3] = [
        -1.309_369_391_813_837_776_46e4,
        1.153_516_648_385_874_161_40e6,
        -1.795_652_519_764_848_779_88e7,
    ];
    const Q: [f64; 4] = [
        1.368_129_634_706_929_546_78e4,
        -1.320_892_344_402_109_674_47e6,
        2.500_838_018_233_579_158_39e7,
        -5.386_957_559_294_546_298_81e7,
    ];
    if let Some(y) = unreduced(x, f64::tan) {
        return y;
    }
    let (j, z) = octant(x.abs());
    let zz = z * z;
    let mut y = if zz > 1e-14 {
        z + z
            * (zz * ((P[0] * zz + P[1]) * zz + P[2])
                / ((((zz + Q[0]) * zz + Q[1]) * zz + Q[2]) * zz + Q[3]))
    } else {
        z
    };
    if j & 2 == 2 {
        y = -1.0 / y;
    }
    if x < 0.0 {
        -y
    } else {
        y
    }
}

/// The arctangent of `x` in [0, 0.66].
fn xatan(x: f64) -> f64 {
    const P: [f64; 5] = [
        -8.750_608_600_031_904_122_785e-1,
        -1.615_753_718_733_365_076_637e1,
        -7.500_855_792_314_704_667_340e1,
        -1.228_866_684_490_136_173_410e2,
        -6.485_021_904_942_025_371_773e1,
    ];
    const Q: [f64; 5] = [
        2.485_846_490_142_306_297_962e1,
        1.650_270_098_316_988_542_046e2,
        4.328_810_604_912_902_668_951e2,
        4.853_903_996_359_136_964_868e2,
        1.945_506_571_482_613_964_425e2,
    ];
    let z = x * x;
    let z = z * ((((P[0] * z + P[1]) * z + P[2]) * z + P[3]) * z + P[4])
        / (((((z + Q[0]) * z + Q[1]) * z + Q[2]) * z + Q[3]) * z + Q[4]);
    x * z + x
}

/// The arctangent of a positive `x`, reduced to [0, 0.66].
fn satan(x: f64) -> f64 {
    const MOREBITS: f64 = 6.123_233_995_736_765_886_130e-17;
    const TAN_3PI_8: f64 = 2.414_213_562_373_095_048_80;
    if x <= 0.66 {
        return xatan(x);
    }
    if x > TAN_3PI_8 {
        return FRAC_PI_2 - xatan(1.0 / x) + MOREBITS;
    }
    FRAC_PI_4 + xatan((x - 1.0) / (x + 1.0)) + 0.5 * MOREBITS
}

pub(crate) fn atan(x: f64) -> f64 {
    if x == 0.0 || x.is_nan() {
        return x;
    }
    if x > 0.0 {
        satan(x)
    } else {
        -satan(-x)
    }
}

pub(crate) fn asin(x: f64) -> f64 {
    if x == 0.0 {
        return x;
    }
    let a = x.abs();
    if a > 1.0 || a.is_nan() {
        return f64::NAN;
    }
    let t = (1.0 - a * a).sqrt();
    let t = if a > 0.7 {
        FRAC_PI_2 - satan(t / a)
    } else {
        satan(a / t)
    };
    if x < 0.0 {
        -t
    } else {
        t
    }
}

pub(crate) fn acos(x: f64) -> f64 {
    FRAC_PI_2 - asin(x)
}

pub(crate) fn atan2(y: f64, x: f64) -> f64 {
    if y.is_nan() || x.is_nan() {
        return f64::NAN;
    }
    if y == 0.0 {
        return if x >= 0.0 && !x.is_sign_negative() {
            0f64.copysign(y)
        } else {
            PI.copysign(y)
        };
    }
    if x == 0.0 {
        return FRAC_PI_2.copysign(y);
    }
    if x.is_infinite() {
        return match (x > 0.0, y.is_infinite()) {
            (true, true) => FRAC_PI_4.copysign(y),
            (true, false) => 0f64.copysign(y),
            (false, true) => (3.0 * FRAC_PI_4).copysign(y),
            (false, false) => PI.copysign(y),
        };
    }
    if y.is_infinite() {
        return FRAC_PI_2.copysign(y);
    }
    let q = atan(y / x);
    if x < 0.0 {
        if q <= 0.0 {
            q + PI
        } else {
            q - PI
        }
    } else {
        q
    }
}

/// Whether `x` is an odd integer (as Go 1.19 on amd64 tells it: beyond 2^63, never).
fn odd_integer(x: f64) -> bool {
    let i = x.trunc();
    #[allow(clippy::cast_possible_truncation)]
    let odd = i.abs() < 9.223_372_036_854_775_808e18 && (i as i64) & 1 == 1;
    x == i && odd
}

/// x^y for an infinite `y`, or an even one too large to be anything but 0 or infinite (or 1).
fn beyond_any_power(x: f64, y: f64) -> f64 {
    if x == -1.0 {
        1.0
    } else if (x.abs() < 1.0) == (y > 0.0) {
        0.0
    } else {
        f64::INFINITY
    }
}

pub(crate) fn pow(x: f64, y: f64) -> f64 {
    if y == 0.0 || x == 1.0 {
        return 1.0;
    }
    if y == 1.0 {
        return x;
    }
    if x.is_nan() || y.is_nan() {
        return f64::NAN;
    }
    if x == 0.0 {
        return match (y < 0.0, odd_integer(y)) {
            (true, true) => f64::INFINITY.copysign(x),
            (true, false) => f64::INFINITY,
            (false, true) => x,
            (false, false) => 0.0,
        };
    }
    if y.is_infinite() {
        return beyond_any_power(x, y);
    }
    if x.is_infinite() {
        if x < 0.0 {
            return pow(1.0 / x, -y);
        }
        return if y < 0.0 { 0.0 } else { f64::INFINITY };
    }
    if y == 0.5 {
        return x.sqrt();
    }
    if y == -0.5 {
        return 1.0 / x.sqrt();
    }
    let mut yi = y.abs().trunc();
    let mut yf = y.abs() - yi;
    if yf != 0.0 && x < 0.0 {
        return f64::NAN;
    }
    if yi >= 9.223_372_036_854_775_808e18 {
        return beyond_any_power(x, y);
    }
    let mut a1 = 1.0;
    let mut ae: i64 = 0;
    if yf != 0.0 {
        if yf > 0.5 {
            yf -= 1.0;
            yi += 1.0;
        }
        a1 = exp(yf * ln(x));
    }
    let (mut x1, xe) = frexp(x);
    let mut xe = i64::from(xe);
    #[allow(clippy::cast_possible_truncation)]
    let mut i = yi as i64;
    while i != 0 {
        if !(-(1 << 12)..=(1 << 12)).contains(&xe) {
            ae += xe;
            break;
        }
        if i & 1 == 1 {
            a1 *= x1;
            ae += xe;
        }
        x1 *= x1;
        xe <<= 1;
        if x1 < 0.5 {
            x1 += x1;
            xe -= 1;
        }
        i >>= 1;
    }
    if y < 0.0 {
        a1 = 1.0 / a1;
        ae = -ae;
    }
    ldexp(a1, ae)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Answers of InfluxDB 1.6 (Go 1.19, amd64), where the C library's differ in the last bit.
    #[test]
    fn answers_as_go_does_where_the_c_library_differs() {
        // From one recorded answer each (tests/golden/influxdb-general), where Rust's methods
        // answer otherwise.
        type Case = (fn(f64) -> f64, f64, f64);
        let cases: [Case; 10] = [
            (ln, 69.31, 4.238589195929894),
            (log2, 69.85, 6.1261882105221),
            (log10, 69.4, 1.8413594704548548),
            (exp, 7.053, 1156.3225120678378),
            (sin, 70.68, 0.9999829781525776),
            (cos, 70.68, 0.005834672664479684),
            (tan, 69.4, 0.2929339301742706),
            (asin, 0.7053, 0.7828462423182102),
            (acos, 0.7053, 0.7879500844766864),
            (atan, 70.63, 1.5566389830460656),
        ];
        for (f, x, want) in cases {
            assert_eq!(
                f(x).to_bits(),
                want.to_bits(),
                "{x}: {} against {want}",
                f(x)
            );
        }
        assert_eq!(pow(70.53, 1.5), 592.3260401814191);
        assert_eq!(atan2(69.67, 3.0), 1.527762770252072);
    }

    #[test]
    fn special_values_as_go_gives_them() {
        assert_eq!(ln(0.0), f64::NEG_INFINITY);
        assert!(ln(-1.0).is_nan());
        assert_eq!(log2(8.0), 3.0);
        assert_eq!(exp(f64::NEG_INFINITY), 0.0);
        assert_eq!(exp(1000.0), f64::INFINITY);
        assert_eq!(exp(-1000.0), 0.0);
        assert_eq!(pow(0.0, -3.0), f64::INFINITY);
        assert_eq!(pow(-0.0, -3.0), f64::NEG_INFINITY);
        assert!(pow(-2.0, 0.5).is_nan());
        assert_eq!(pow(2.0, 10.0), 1024.0);
        assert_eq!(pow(2.0, -1075.0), 0.0);
        assert_eq!(pow(0.5, 3.0), 0.125);
        assert_eq!(pow(0.0, 2.0), 0.0);
        assert_eq!(pow(0.5, 1100.0), 0.0);
        assert_eq!(pow(0.5, 1074.0), f64::from_bits(1));
        assert_eq!(frexp(8.0), (0.5, 4));
        assert_eq!(ldexp(0.5, 4), 8.0);
        assert_eq!(atan2(0.0, -1.0), PI);
        assert_eq!(acos(1.0), 0.0);
    }
}
