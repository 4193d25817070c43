//! InfluxQL, the query language of InfluxDB 1.x: a parser faithful to influxdata/influxql (its
//! grammar, operator precedence, quirks and error messages) and canonical text for every node.
//!
//! [`parse_query`] turns the text of `/query?q=…` into [`Statement`]s. SELECT, the SHOW
//! statements Grafana and the InfluxDB tools send, and CREATE/DROP DATABASE and
//! CREATE/ALTER/DROP RETENTION POLICY are parsed in full; every other statement
//! InfluxDB knows becomes [`Statement::Unsupported`], so that the engine can answer it with a
//! per-statement error, as InfluxDB answers what it cannot do. Each node's `Display` gives text
//! that parses back to the same node.
//!
//! Where Fieldline differs from InfluxDB 1.x:
//! - GROUP BY dimensions are checked when parsing, with the messages of influxql's query compiler
//!   (`only time and tag dimensions allowed`), reported only if the whole query parses; InfluxDB
//!   reports them for the statement alone. A second `time(…)` is left to the engine.
//! - Unsupported statements are checked up to their leading keywords only.
//! - Bound parameters (`$name`) are refused (`missing parameter: name`).
//! - Comments are allowed everywhere whitespace is; influxql reads `/* … */` as a regex where a
//!   regex may start.
//! - Regexes are compiled by the `regex` crate, whose syntax is RE2's as Go's is; its common
//!   errors are put in Go's words (``error parsing regexp: missing closing ]: `[` ``), the rare
//!   others keep the crate's.
//! - `tz('…')` is not checked against the time zone database.
//! - Nesting deeper than 32 levels (parentheses, calls, subqueries), or more than 256 operators in
//!   one expression, is refused, so that parsing and walking a query fit in a component's stack.

mod ast;
mod display;
mod duration;
mod error;
mod lexer;
mod parser;

#[cfg(test)]
mod tests;

pub use ast::{
    AlterRetentionPolicy, BinaryOp, Cardinality, CreateDatabase, CreateRetentionPolicy, DataType,
    DatabasePolicy, DeleteSeries, Dimension, Expr, Field, Fill, GroupByTime, Measurement,
    MeasurementName, NameOrAll, Order, Regex, SelectStatement, ShowCardinality, ShowFieldKeys,
    ShowMeasurements, ShowRetentionPolicies, ShowSeries, ShowTagKeys, ShowTagValues, Source,
    Statement, TagKeyFilter, Target, TimeOffset, VarRef, WildcardKind,
};
pub use display::{quote_ident, quote_string};
pub use duration::{format_duration, parse_duration};
pub use error::{ParseError, Position};

/// Parses a query: statements separated by `;` (empty statements and a trailing `;` are
/// allowed), with `--` and `/* */` comments.
pub fn parse_query(text: &str) -> Result<Vec<Statement>, ParseError> {
    parser::Parser::new(text).query()
}

/// Parses a lone expression, e.g. `time >= now() - 1h AND "host" = 'a'`.
pub fn parse_expr(text: &str) -> Result<Expr, ParseError> {
    parser::Parser::new(text).whole_expr()
}

/// The nanoseconds since the epoch of a time string as InfluxQL compares it with `time`:
/// RFC 3339 with or without fractional seconds (`2020-07-21T10:00:00Z`,
/// `2020-07-21T12:00:00.5+02:00`), `2020-07-21 10:00:00[.999999]` or `2020-07-21`, the last two
/// in UTC. `None` when the string is none of these or lies outside 1677–2262.
pub fn parse_time_string(s: &str) -> Option<i64> {
    use chrono::{DateTime, NaiveDate, NaiveDateTime};
    let utc = if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        t.naive_utc()
    } else if let Ok(t) = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f") {
        t
    } else {
        NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .ok()?
            .and_hms_opt(0, 0, 0)?
    };
    utc.and_utc().timestamp_nanos_opt()
}
