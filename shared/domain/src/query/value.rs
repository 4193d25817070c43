//! Typed values in rows: InfluxDB 1.6's arithmetic over floats, integers (exact int64, wrapping
//! as Go's), strings and booleans; its comparisons in conditions; casts (`::integer`, …); and
//! the statement-level type check of field expressions (`type error: …`).

use crate::influxql::{BinaryOp, DataType, Expr};

use super::result::Cell;
use super::{FieldType, Value};

/// A field's value as a cell of an answer.
pub(super) fn cell(v: Value) -> Cell {
    match v {
        Value::Float(f) => Cell::Float(f),
        Value::Integer(i) => Cell::Integer(i),
        Value::String(s) => Cell::Str(s),
        Value::Boolean(b) => Cell::Bool(b),
    }
}

/// A cell's value, if it is one a field holds.
pub(super) fn of_cell(c: &Cell) -> Option<Value> {
    match c {
        Cell::Float(f) => Some(Value::Float(*f)),
        Cell::Integer(i) => Some(Value::Integer(*i)),
        Cell::Str(s) => Some(Value::String(s.clone())),
        Cell::Bool(b) => Some(Value::Boolean(*b)),
        Cell::Null | Cell::Time(_) => None,
    }
}

/// Go's conversion of a float to int64: out of range (or NaN) gives the minimum.
pub(super) fn go_int(v: f64) -> i64 {
    #[allow(clippy::cast_precision_loss)]
    if v.is_nan() || v >= i64::MAX as f64 || v < i64::MIN as f64 {
        i64::MIN
    } else {
        #[allow(clippy::cast_possible_truncation)]
        let i = v as i64;
        i
    }
}

/// A field's value read with a cast: floats and integers convert into each other; a field of
/// another type reads as null.
pub(super) fn cast(c: Cell, to: Option<DataType>) -> Cell {
    match (to, c) {
        (None | Some(DataType::Field), c) => c,
        #[allow(clippy::cast_precision_loss)]
        (Some(DataType::Float), Cell::Integer(i)) => Cell::Float(i as f64),
        (Some(DataType::Float), c @ Cell::Float(_)) => c,
        (Some(DataType::Integer), Cell::Float(f)) => Cell::Integer(go_int(f)),
        (Some(DataType::Integer), c @ Cell::Integer(_)) => c,
        (Some(DataType::String), c @ Cell::Str(_)) => c,
        (Some(DataType::Boolean), c @ Cell::Bool(_)) => c,
        _ => Cell::Null,
    }
}

/// The type a cast gives a field of type `ty` (`None`: it reads as null).
pub(super) fn cast_type(ty: FieldType, to: Option<DataType>) -> Option<FieldType> {
    match (to, ty) {
        (None | Some(DataType::Field), t) => Some(t),
        (Some(DataType::Float), FieldType::Float | FieldType::Integer) => Some(FieldType::Float),
        (Some(DataType::Integer), FieldType::Float | FieldType::Integer) => {
            Some(FieldType::Integer)
        }
        (Some(DataType::String), FieldType::String) => Some(FieldType::String),
        (Some(DataType::Boolean), FieldType::Boolean) => Some(FieldType::Boolean),
        _ => None,
    }
}

/// `l op r` as InfluxDB 1.6 computes it on a row: integers stay integers (wrapping) but `/`
/// divides as floats; a division or remainder by zero is 0; bitwise operators on integers and
/// on booleans; null where either side is null or the types do not combine.
pub(super) fn binary(op: BinaryOp, l: &Cell, r: &Cell) -> Cell {
    match (l, r) {
        (Cell::Integer(a), Cell::Integer(b)) => {
            let (a, b) = (*a, *b);
            match op {
                BinaryOp::Add => Cell::Integer(a.wrapping_add(b)),
                BinaryOp::Sub => Cell::Integer(a.wrapping_sub(b)),
                BinaryOp::Mul => Cell::Integer(a.wrapping_mul(b)),
                #[allow(clippy::cast_precision_loss)]
                BinaryOp::Div => {
                    if b == 0 {
                        Cell::Float(0.0)
                    } else {
                        Cell::Float(a as f64 / b as f64)
                    }
                }
                BinaryOp::Mod => Cell::Integer(if b == 0 { 0 } else { a.wrapping_rem(b) }),
                BinaryOp::BitAnd => Cell::Integer(a & b),
                BinaryOp::BitOr => Cell::Integer(a | b),
                BinaryOp::BitXor => Cell::Integer(a ^ b),
                _ => Cell::Null,
            }
        }
        (Cell::Bool(a), Cell::Bool(b)) => match op {
            BinaryOp::BitAnd => Cell::Bool(*a & *b),
            BinaryOp::BitOr => Cell::Bool(*a | *b),
            BinaryOp::BitXor => Cell::Bool(*a ^ *b),
            _ => Cell::Null,
        },
        (Cell::Float(_) | Cell::Integer(_), Cell::Float(_) | Cell::Integer(_)) => {
            match (l.as_f64(), r.as_f64()) {
                (Some(a), Some(b)) => super::eval::arith(op, a, b).map_or(Cell::Null, Cell::Float),
                _ => Cell::Null,
            }
        }
        _ => Cell::Null,
    }
}

/// Whether `l op r` holds, for a comparison operator (not the regex ones): integers compare
/// exactly, an integer and a float as floats, strings and booleans for equality only; anything
/// else (null, a string against a number) is false, as in InfluxDB 1.x.
pub(super) fn compare(op: BinaryOp, l: &Cell, r: &Cell) -> bool {
    fn ordered<T: PartialOrd>(op: BinaryOp, a: T, b: T) -> bool {
        match op {
            BinaryOp::Eq => a == b,
            BinaryOp::NotEq => a != b,
            BinaryOp::Lt => a < b,
            BinaryOp::LtEq => a <= b,
            BinaryOp::Gt => a > b,
            BinaryOp::GtEq => a >= b,
            _ => false,
        }
    }
    match (l, r) {
        (Cell::Integer(a), Cell::Integer(b)) => ordered(op, a, b),
        (Cell::Float(_) | Cell::Integer(_), Cell::Float(_) | Cell::Integer(_)) => {
            match (l.as_f64(), r.as_f64()) {
                (Some(a), Some(b)) => ordered(op, a, b),
                _ => false,
            }
        }
        (Cell::Str(a), Cell::Str(b)) => match op {
            BinaryOp::Eq => a == b,
            BinaryOp::NotEq => a != b,
            _ => false,
        },
        (Cell::Bool(a), Cell::Bool(b)) => match op {
            BinaryOp::Eq => a == b,
            BinaryOp::NotEq => a != b,
            _ => false,
        },
        _ => false,
    }
}

/// The static type of a literal.
fn literal_type(e: &Expr) -> Option<FieldType> {
    match e {
        Expr::Integer(_) | Expr::Unsigned(_) | Expr::Duration(_) => Some(FieldType::Integer),
        Expr::Number(_) => Some(FieldType::Float),
        Expr::String(_) => Some(FieldType::String),
        Expr::Boolean(_) => Some(FieldType::Boolean),
        _ => None,
    }
}

/// The type of a raw field expression, given each field reference's (`None`: a tag, a missing
/// field, or unknown), or InfluxDB's type error for operands that do not combine:
/// `type error: temp::float & 1: incompatible types: float and integer`.
pub(super) fn check_types(
    e: &Expr,
    ty_of: &dyn Fn(&crate::influxql::VarRef) -> Option<FieldType>,
) -> Result<Option<FieldType>, String> {
    match e {
        Expr::VarRef(v) => Ok(ty_of(v)),
        Expr::Paren(inner) => check_types(inner, ty_of),
        Expr::Binary { op, lhs, rhs } if !op.is_condition() => {
            let l = check_types(lhs, ty_of)?;
            let r = check_types(rhs, ty_of)?;
            let (Some(l), Some(r)) = (l, r) else {
                return Ok(None);
            };
            let bitwise = matches!(op, BinaryOp::BitAnd | BinaryOp::BitOr | BinaryOp::BitXor);
            let numeric = |t: FieldType| matches!(t, FieldType::Float | FieldType::Integer);
            let ok = match (l, r) {
                (FieldType::Integer, FieldType::Integer) => Some(if *op == BinaryOp::Div {
                    FieldType::Float
                } else {
                    FieldType::Integer
                }),
                (a, b) if numeric(a) && numeric(b) && !bitwise => Some(FieldType::Float),
                (FieldType::Boolean, FieldType::Boolean) if bitwise => Some(FieldType::Boolean),
                _ => None,
            };
            match ok {
                Some(t) => Ok(Some(t)),
                None => Err(format!(
                    "type error: {}: incompatible types: {} and {}",
                    typed_text(e, ty_of),
                    l.name(),
                    r.name()
                )),
            }
        }
        Expr::Binary { .. } => Ok(Some(FieldType::Boolean)),
        Expr::Call { .. } => Ok(None),
        other => Ok(literal_type(other)),
    }
}

/// An expression as InfluxDB writes it in a type error: each field with its type as a cast.
fn typed_text(e: &Expr, ty_of: &dyn Fn(&crate::influxql::VarRef) -> Option<FieldType>) -> String {
    fn annotate(e: &mut Expr, ty_of: &dyn Fn(&crate::influxql::VarRef) -> Option<FieldType>) {
        match e {
            Expr::VarRef(v) => {
                if let Some(t) = ty_of(v) {
                    v.data_type = Some(match t {
                        FieldType::Float => DataType::Float,
                        FieldType::Integer => DataType::Integer,
                        FieldType::String => DataType::String,
                        FieldType::Boolean => DataType::Boolean,
                    });
                }
            }
            Expr::Paren(inner) => annotate(inner, ty_of),
            Expr::Binary { lhs, rhs, .. } => {
                annotate(lhs, ty_of);
                annotate(rhs, ty_of);
            }
            Expr::Call { args, .. } => args.iter_mut().for_each(|a| annotate(a, ty_of)),
            _ => {}
        }
    }
    let mut e = e.clone();
    annotate(&mut e, ty_of);
    e.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_stay_exact_and_wrap() {
        let big = Cell::Integer(9_007_199_254_740_993);
        assert_eq!(
            binary(BinaryOp::Add, &big, &Cell::Integer(1)),
            Cell::Integer(9_007_199_254_740_994)
        );
        assert_eq!(
            binary(BinaryOp::Mul, &Cell::Integer(i64::MAX), &Cell::Integer(2)),
            Cell::Integer(-2)
        );
        assert_eq!(
            binary(BinaryOp::Div, &Cell::Integer(7), &Cell::Integer(2)),
            Cell::Float(3.5)
        );
        assert!(compare(
            BinaryOp::Gt,
            &big,
            &Cell::Integer(9_007_199_254_740_992)
        ));
        assert_eq!(
            cast(Cell::Float(69.67), Some(DataType::Integer)),
            Cell::Integer(69)
        );
    }
}
