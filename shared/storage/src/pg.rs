//! What every PostgreSQL [`Db`](crate::Db) shares, whatever carries it (the `postgres` crate
//! natively, Spin's `pg4` interface in components): the translation of this crate's SQLite-style
//! statements and the classification of PostgreSQL's errors by SQLSTATE.

use crate::db::Value;
use crate::error::{BackendFailure, Error};

/// The statement with its `?` and `?N` placeholders as PostgreSQL's `$N`, each cast to the
/// type of the value bound to it (`$1::int8`, `::float8`, `::text`, `::bytea`), so that
/// PostgreSQL never has to infer a parameter's type from its context (it cannot in
/// `SELECT $1` or `$1 <= $2`, and would pick the column's type where SQLite compares values).
/// A NULL parameter is left uncast: its type comes from where it is used. `?` inside string
/// literals, quoted identifiers and comments is left alone.
pub fn translate(sql: &str, params: &[Value]) -> String {
    let mut out = String::with_capacity(sql.len() + params.len() * 8);
    let mut chars = sql.char_indices().peekable();
    let mut next = 0usize; // the number of the last anonymous `?`
    while let Some((_, c)) = chars.next() {
        match c {
            '\'' | '"' => {
                out.push(c);
                for (_, d) in chars.by_ref() {
                    out.push(d);
                    if d == c {
                        break;
                    }
                }
            }
            '-' if chars.peek().map(|&(_, d)| d) == Some('-') => {
                out.push(c);
                for (_, d) in chars.by_ref() {
                    out.push(d);
                    if d == '\n' {
                        break;
                    }
                }
            }
            '?' => {
                let mut digits = String::new();
                while let Some(&(_, d)) = chars.peek() {
                    if d.is_ascii_digit() {
                        digits.push(d);
                        chars.next();
                    } else {
                        break;
                    }
                }
                let n = if digits.is_empty() {
                    next += 1;
                    next
                } else {
                    let n = digits.parse().unwrap_or(0);
                    next = next.max(n);
                    n
                };
                out.push('$');
                out.push_str(&n.to_string());
                out.push_str(match params.get(n.wrapping_sub(1)) {
                    Some(Value::Integer(_)) => "::int8",
                    Some(Value::Real(_)) => "::float8",
                    Some(Value::Text(_)) => "::text",
                    Some(Value::Blob(_)) => "::bytea",
                    Some(Value::Null) | None => "",
                });
            }
            _ => out.push(c),
        }
    }
    out
}

/// A PostgreSQL error by its SQLSTATE: connection failures and a server shutting down are
/// [`BackendFailure::Unavailable`], a full disk or too many connections
/// [`BackendFailure::Full`]; the message keeps the code for whoever reads it.
pub fn backend_error(sqlstate: Option<&str>, message: String) -> Error {
    let kind = match sqlstate {
        None => BackendFailure::Unavailable,
        // 08: connection exception; 57P: operator intervention (shutdown); 3D000: no database.
        Some(code) if code.starts_with("08") || code.starts_with("57P") || code == "3D000" => {
            BackendFailure::Unavailable
        }
        // 53100 disk full, 53200 out of memory, 53300 too many connections.
        Some(code) if code.starts_with("53") => BackendFailure::Full,
        Some(_) => BackendFailure::Other,
    };
    let message = match sqlstate {
        Some(code) => format!("{message} (SQLSTATE {code})"),
        None => message,
    };
    Error::backend(kind, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_typed_and_numbered() {
        let p = [
            Value::Integer(1),
            Value::Real(2.0),
            Value::Text("?".into()),
            Value::Blob(vec![1]),
            Value::Null,
        ];
        assert_eq!(
            translate("SELECT ?, ?, '?', ?, \"a?\", ? -- ?\n, ?", &p),
            "SELECT $1::int8, $2::float8, '?', $3::text, \"a?\", $4::bytea -- ?\n, $5"
        );
        assert_eq!(
            translate("WHERE a = ?2 AND b = ?1 OR c = ?2", &p[..2]),
            "WHERE a = $2::float8 AND b = $1::int8 OR c = $2::float8"
        );
    }

    #[test]
    fn errors_are_classified_by_sqlstate() {
        let kind = |code| match backend_error(code, "x".into()) {
            Error::Backend { kind, .. } => kind,
            other => panic!("{other:?}"),
        };
        assert_eq!(kind(Some("08006")), BackendFailure::Unavailable);
        assert_eq!(kind(Some("53100")), BackendFailure::Full);
        assert_eq!(kind(Some("23505")), BackendFailure::Other);
        assert_eq!(kind(None), BackendFailure::Unavailable);
    }
}
