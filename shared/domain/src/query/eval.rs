//! Evaluating field expressions: a raw row's value from its point and series, an aggregate
//! row's from its bucket's reduced values, with InfluxDB's arithmetic on integers and floats.

use crate::influxql::{BinaryOp, DataType, Expr};

use super::check::Plan;
use super::functions;
use super::result::Cell;
use super::select::Group;
use super::{SeriesMeta, FIELD};

/// `a op b` on numbers as InfluxDB computes it (a division by zero is 0).
pub(super) fn arith(op: BinaryOp, a: f64, b: f64) -> Option<f64> {
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

impl Plan {
    pub(super) fn eval_aggregate(
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
                functions::math_call(name, args, |a| self.eval_aggregate(a, values, selected, g))
            }
            // Fields and tags beside a lone selector: those of the selected point.
            Expr::VarRef(_) => match selected {
                Some((t, v, i)) => eval_raw(e, t, v, g.series[i].0),
                None => Cell::Null,
            },
            other => literal(other),
        }
    }
}

/// A field expression whose calls have values (`value_of`), as InfluxDB evaluates it on an
/// output row: math functions and arithmetic around them; null where a call has no value.
pub(super) fn eval_calls(e: &Expr, value_of: &dyn Fn(&Expr) -> Option<Cell>) -> Cell {
    if let Some(v) = value_of(e) {
        return v;
    }
    match e {
        Expr::Paren(inner) => eval_calls(inner, value_of),
        Expr::Binary { op, lhs, rhs } => {
            let l = eval_calls(lhs, value_of);
            let r = eval_calls(rhs, value_of);
            combine(*op, &l, &r)
        }
        Expr::Call { name, args } => functions::math_call(name, args, |a| eval_calls(a, value_of)),
        Expr::VarRef(_) => Cell::Null,
        other => literal(other),
    }
}

pub(super) fn number(e: &Expr) -> Option<f64> {
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
pub(super) fn eval_raw(e: &Expr, t: i64, v: f64, s: &SeriesMeta) -> Cell {
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
        Expr::Call { name, args } => functions::math_call(name, args, |a| eval_raw(a, t, v, s)),
        other => literal(other),
    }
}
