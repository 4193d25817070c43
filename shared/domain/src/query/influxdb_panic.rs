//! What InfluxDB 1.6 answers when a statement makes its query engine panic: its executor
//! recovers, answers one more result without a statement (`statement_id` -1) whose error is
//! the whole query as it then stands (the statements run so far with their sources qualified
//! by database and retention policy, the others as written, joined by `;` and a line break)
//! followed by `[panic:…]`, and runs no further statement.
//!
//! The one panic Fieldline reproduces: `chande_momentum_oscillator(x, 1)` without warmup, whose
//! reducer indexes an empty window as soon as it is given a value ([`super::technical`]). Its
//! text is Fieldline's canonical InfluxQL, which is InfluxDB's but for number literals (Go
//! writes three decimals), `tz()` (Go writes `TZ(`) and statements other than `SELECT`: a query
//! holding those is refused by name instead.

use crate::influxql::{Expr, Fill, Measurement, SelectStatement, Source, Statement};

use super::result::StatementResult;
use super::{Context, RETENTION_POLICY};

/// The panic InfluxDB reports after the query's text (see [`answer`]).
const CMO_PANIC: &str = "[panic:runtime error: index out of range [1] with length 0]";

/// Answered instead when InfluxDB would write the query otherwise than Fieldline does.
const REFUSAL: &str = "chande_momentum_oscillator() with period 1 and warmup type 'none' is not \
                       supported by Fieldline in a query with number literals, tz() or \
                       statements other than SELECT (InfluxDB 1.6 fails on it with a panic \
                       quoting the query)";

/// The result of statement `id` of `statements`, which panicked: InfluxDB's, or Fieldline's
/// refusal when the query is not made of SELECTs only.
pub(crate) fn answer(statements: &[Statement], id: usize, ctx: &Context) -> StatementResult {
    let mut texts = Vec::with_capacity(statements.len());
    for (i, statement) in statements.iter().enumerate() {
        let Statement::Select(s) = statement else {
            return StatementResult::error(id, REFUSAL);
        };
        if !written_alike(s) {
            return StatementResult::error(id, REFUSAL);
        }
        if i <= id {
            texts.push(normalized(s, ctx).to_string());
        } else {
            texts.push(s.to_string());
        }
    }
    StatementResult::panic(format!("{} {CMO_PANIC}", texts.join(";\n")))
}

/// Whether InfluxDB writes the statement as Fieldline's [`std::fmt::Display`] does.
fn written_alike(s: &SelectStatement) -> bool {
    let number = |e: &Expr| e.any(|x| matches!(x, Expr::Number(_)));
    s.tz.is_none()
        && !matches!(s.fill, Fill::Float(_))
        && !s.fields.iter().any(|f| number(&f.expr))
        && !s.condition.as_ref().is_some_and(number)
        && s.from.iter().all(|source| match source {
            Source::Measurement(_) => true,
            Source::Subquery(inner) => written_alike(inner),
        })
}

/// The statement as InfluxDB's executor leaves it before running it: every measurement, in
/// subqueries too, qualified by its database and retention policy.
fn normalized(s: &SelectStatement, ctx: &Context) -> SelectStatement {
    let mut s = s.clone();
    for source in &mut s.from {
        match source {
            Source::Measurement(m) => qualify(m, ctx),
            Source::Subquery(inner) => **inner = normalized(inner, ctx),
        }
    }
    s
}

fn qualify(m: &mut Measurement, ctx: &Context) {
    if m.database.as_deref().unwrap_or_default().is_empty() {
        m.database = ctx.db.clone();
    }
    if m.retention_policy.as_deref().unwrap_or_default().is_empty() {
        let rp = ctx.rp.as_deref().filter(|rp| !rp.is_empty());
        m.retention_policy = Some(rp.unwrap_or(RETENTION_POLICY).to_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::influxql::parse_query;

    fn ctx() -> Context {
        Context {
            db: Some("db".into()),
            ..Context::model("db", 0, 0, 100)
        }
    }

    #[test]
    fn the_query_so_far_is_the_error() {
        let q = parse_query(
            "SELECT mean(value) FROM m; SELECT chande_momentum_oscillator(value, 1) FROM \"a b\"; \
             SELECT max(value) FROM m",
        )
        .unwrap();
        let r = answer(&q, 1, &ctx());
        assert_eq!(r.error.as_deref(), Some(
            "SELECT mean(value) FROM db.autogen.m;\nSELECT chande_momentum_oscillator(value, 1) \
             FROM db.autogen.\"a b\";\nSELECT max(value) FROM m [panic:runtime error: index out \
             of range [1] with length 0]"
        ));
        assert!(r.query_panicked);
    }

    #[test]
    fn what_fieldline_would_write_otherwise_is_refused_by_name() {
        for (q, id) in [
            (
                "SHOW DATABASES; SELECT chande_momentum_oscillator(value, 1) FROM m",
                1,
            ),
            (
                "SELECT chande_momentum_oscillator(value, 1) FROM m WHERE value > 0.5",
                0,
            ),
            (
                "SELECT chande_momentum_oscillator(value, 1) FROM m tz('Europe/Berlin')",
                0,
            ),
            (
                "SELECT chande_momentum_oscillator(value, 1) FROM (SELECT value * 1.5 FROM m)",
                0,
            ),
        ] {
            let r = answer(&parse_query(q).unwrap(), id, &ctx());
            assert_eq!((r.statement_id, r.query_panicked), (id, false), "{q}");
            assert!(
                r.error.unwrap().contains("not supported by Fieldline"),
                "{q}"
            );
        }
    }
}
