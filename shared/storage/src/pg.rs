//! What every PostgreSQL [`Db`](crate::Db) shares, whatever carries it (the `postgres` crate
//! natively, Spin's `pg4` interface in components): the translation of this crate's SQLite-style
//! statements and the classification of PostgreSQL's errors by SQLSTATE.

use crate::db::Value;
use crate::error::{BackendFailure, Error};

/// The statement with its `?` and `?N` placeholders as PostgreSQL's `$N`, each cast to the
/// type of the value bound to it (`$1::int8`, `::float8`, `::text`, `::bytea`), so that
/// PostgreSQL never has to infer a parameter's type from its context (it cannot in
/// `SELECT $1` or `$1 IS NULL`). A NULL parameter is written as the literal `NULL` (whose type
/// comes from where it stands, as SQLite's untyped NULL) and left out of the parameters; the
/// others are renumbered. Returns the statement and the parameters to send, in order. `?`
/// inside string literals, quoted identifiers and comments is left alone.
pub fn translate(sql: &str, params: &[Value]) -> (String, Vec<Value>) {
    let mut out = String::with_capacity(sql.len() + params.len() * 8);
    // The number each parameter is sent as, once it is used.
    let mut number: Vec<Option<usize>> = vec![None; params.len()];
    let mut sent: Vec<Value> = Vec::with_capacity(params.len());
    let mut chars = sql.chars().peekable();
    let mut next = 0usize; // the number of the last anonymous `?`
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' => {
                out.push(c);
                for d in chars.by_ref() {
                    out.push(d);
                    if d == c {
                        break;
                    }
                }
            }
            '-' if chars.peek() == Some(&'-') => {
                out.push(c);
                for d in chars.by_ref() {
                    out.push(d);
                    if d == '\n' {
                        break;
                    }
                }
            }
            '?' => {
                let mut digits = String::new();
                while let Some(&d) = chars.peek() {
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
                let Some(value) = n.checked_sub(1).and_then(|i| params.get(i)) else {
                    // No such parameter: left for the server to refuse.
                    out.push('$');
                    out.push_str(&n.to_string());
                    continue;
                };
                let cast = match value {
                    Value::Null => {
                        out.push_str("NULL");
                        continue;
                    }
                    Value::Integer(_) => "::int8",
                    Value::Real(_) => "::float8",
                    Value::Text(_) => "::text",
                    Value::Blob(_) => "::bytea",
                };
                let k = *number[n - 1].get_or_insert_with(|| {
                    sent.push(value.clone());
                    sent.len()
                });
                out.push('$');
                out.push_str(&k.to_string());
                out.push_str(cast);
            }
            _ => out.push(c),
        }
    }
    (out, sent)
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
            Value::Null,
            Value::Blob(vec![1]),
        ];
        let (sql, sent) = translate("SELECT ?, ?, '?', ?, \"a?\", ? -- ?\n, ?", &p);
        assert_eq!(
            sql,
            "SELECT $1::int8, $2::float8, '?', $3::text, \"a?\", NULL -- ?\n, $4::bytea"
        );
        assert_eq!(
            sent,
            [p[0].clone(), p[1].clone(), p[2].clone(), p[4].clone()]
        );
        // numbered ones keep one number each, in the order of first use
        let (sql, sent) = translate("WHERE a = ?2 AND b = ?4 OR c = ?2 AND d = ?1", &p);
        assert_eq!(
            sql,
            "WHERE a = $1::float8 AND b = NULL OR c = $1::float8 AND d = $2::int8"
        );
        assert_eq!(sent, [p[1].clone(), p[0].clone()]);
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
