//! Canonical InfluxQL text for every node, such that parsing it gives the same tree back.
//! Identifiers are quoted only when they must be (influxql's `QuoteIdent`).

use std::borrow::Cow;
use std::fmt::{self, Display, Formatter, Write};

use super::ast::{
    AlterRetentionPolicy, BinaryOp, Cardinality, CreateDatabase, CreateRetentionPolicy, DataType,
    DeleteSeries, Dimension, Expr, Field, Fill, Measurement, MeasurementName, NameOrAll, Order,
    SelectStatement, ShowCardinality, ShowFieldKeys, ShowMeasurements, ShowRetentionPolicies,
    ShowSeries, ShowTagKeys, ShowTagValues, Source, Statement, TagKeyFilter, Target, TimeOffset,
    VarRef, WildcardKind,
};
use super::duration::format_duration;
use super::lexer::{is_ident_char, Keyword};

/// `name` as an InfluxQL identifier: as is when it is a plain identifier
/// (`[A-Za-z_][A-Za-z0-9_]*`, not a keyword), otherwise double-quoted with `"`, `\` and line
/// breaks escaped.
pub fn quote_ident(name: &str) -> Cow<'_, str> {
    let plain = name
        .bytes()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == b'_')
        && name.bytes().all(is_ident_char)
        && Keyword::lookup(name).is_none();
    if plain {
        return Cow::Borrowed(name);
    }
    let mut out = String::with_capacity(name.len() + 2);
    out.push('"');
    escape_into(&mut out, name, '"');
    out.push('"');
    Cow::Owned(out)
}

/// `s` as a single-quoted InfluxQL string, with `'`, `\` and line breaks escaped.
pub fn quote_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    escape_into(&mut out, s, '\'');
    out.push('\'');
    out
}

fn escape_into(out: &mut String, s: &str, quote: char) {
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\\' => out.push_str("\\\\"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
}

/// influxql's `QuoteIdent(segments...)`, used in its `too many segments in …` message: every
/// segment but the last is quoted.
pub(crate) fn quote_ident_segments(segments: &[String]) -> String {
    let last = segments.len().saturating_sub(1);
    let mut out = String::new();
    for (i, segment) in segments.iter().enumerate() {
        let quote =
            (i < last && !segment.is_empty()) || ((i == 0 || i == last) && segment.is_empty());
        if quote {
            out.push('"');
            escape_into(&mut out, segment, '"');
            out.push('"');
        } else if !segment.is_empty() {
            out.push_str(&quote_ident(segment));
        }
        if i < last {
            out.push('.');
        }
    }
    out
}

/// A float that reads back as the same float and as a number, not an integer: `1.0`, `0.1`.
fn write_float(f: &mut Formatter<'_>, n: f64) -> fmt::Result {
    let text = n.to_string();
    f.write_str(&text)?;
    if n.is_finite() && !text.contains('.') {
        f.write_str(".0")?;
    }
    Ok(())
}

fn list<T: Display>(f: &mut Formatter<'_>, items: &[T]) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{item}")?;
    }
    Ok(())
}

fn on(f: &mut Formatter<'_>, database: &Option<String>) -> fmt::Result {
    match database {
        Some(db) => write!(f, " ON {}", quote_ident(db)),
        None => Ok(()),
    }
}

fn from(f: &mut Formatter<'_>, sources: &[Measurement]) -> fmt::Result {
    if sources.is_empty() {
        return Ok(());
    }
    f.write_str(" FROM ")?;
    list(f, sources)
}

fn condition(f: &mut Formatter<'_>, condition: &Option<Expr>) -> fmt::Result {
    match condition {
        Some(c) => write!(f, " WHERE {c}"),
        None => Ok(()),
    }
}

fn order_by(f: &mut Formatter<'_>, order: Option<Order>) -> fmt::Result {
    match order {
        Some(Order::Asc) => f.write_str(" ORDER BY time ASC"),
        Some(Order::Desc) => f.write_str(" ORDER BY time DESC"),
        None => Ok(()),
    }
}

fn limit(f: &mut Formatter<'_>, keyword: &str, value: Option<u64>) -> fmt::Result {
    match value {
        Some(n) => write!(f, " {keyword} {n}"),
        None => Ok(()),
    }
}

impl Display for Statement {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Statement::Select(s) => s.fmt(f),
            Statement::ShowDatabases => f.write_str("SHOW DATABASES"),
            Statement::ShowMeasurements(s) => s.fmt(f),
            Statement::ShowTagKeys(s) => s.fmt(f),
            Statement::ShowTagValues(s) => s.fmt(f),
            Statement::ShowFieldKeys(s) => s.fmt(f),
            Statement::ShowRetentionPolicies(s) => s.fmt(f),
            Statement::ShowSeries(s) => s.fmt(f),
            Statement::ShowCardinality(s) => s.fmt(f),
            Statement::CreateDatabase(s) => s.fmt(f),
            Statement::DropDatabase(name) => write!(f, "DROP DATABASE {}", quote_ident(name)),
            Statement::CreateRetentionPolicy(s) => s.fmt(f),
            Statement::AlterRetentionPolicy(s) => s.fmt(f),
            Statement::DropRetentionPolicy { name, database } => write!(
                f,
                "DROP RETENTION POLICY {} ON {}",
                quote_ident(name),
                quote_ident(database)
            ),
            Statement::DropMeasurement(name) => {
                write!(f, "DROP MEASUREMENT {}", quote_ident(name))
            }
            Statement::DropSeries(s) => {
                f.write_str("DROP SERIES")?;
                s.fmt(f)
            }
            Statement::Delete(s) => {
                f.write_str("DELETE")?;
                s.fmt(f)
            }
            Statement::Unsupported { text, .. } => f.write_str(text),
        }
    }
}

/// A retention policy's duration: `INF` for 0 (keep everything), else the literal.
fn policy_duration(f: &mut Formatter<'_>, keyword: &str, ns: Option<i64>) -> fmt::Result {
    match ns {
        Some(0) => write!(f, " {keyword} INF"),
        Some(ns) => write!(f, " {keyword} {}", format_duration(ns)),
        None => Ok(()),
    }
}

fn policy_options(
    f: &mut Formatter<'_>,
    duration: Option<i64>,
    replication: Option<u32>,
    shard_duration: Option<i64>,
) -> fmt::Result {
    policy_duration(f, "DURATION", duration)?;
    if let Some(n) = replication {
        write!(f, " REPLICATION {n}")?;
    }
    // influxql refuses `SHARD DURATION INF`: 0 is written `0s`.
    match shard_duration {
        Some(ns) => write!(f, " SHARD DURATION {}", format_duration(ns)),
        None => Ok(()),
    }
}

impl Display for CreateDatabase {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "CREATE DATABASE {}", quote_ident(&self.name))?;
        if let Some(with) = &self.with {
            f.write_str(" WITH")?;
            policy_options(f, with.duration, with.replication, with.shard_duration)?;
            if let Some(name) = &with.name {
                write!(f, " NAME {}", quote_ident(name))?;
            }
        }
        Ok(())
    }
}

impl Display for CreateRetentionPolicy {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "CREATE RETENTION POLICY {} ON {}",
            quote_ident(&self.name),
            quote_ident(&self.database)
        )?;
        policy_options(
            f,
            Some(self.duration),
            Some(self.replication),
            self.shard_duration,
        )?;
        if self.default {
            f.write_str(" DEFAULT")?;
        }
        Ok(())
    }
}

impl Display for AlterRetentionPolicy {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ALTER RETENTION POLICY {} ON {}",
            quote_ident(&self.name),
            quote_ident(&self.database)
        )?;
        policy_options(f, self.duration, self.replication, self.shard_duration)?;
        if self.default {
            f.write_str(" DEFAULT")?;
        }
        Ok(())
    }
}

/// ` FROM … WHERE …`, each where given.
impl Display for DeleteSeries {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if !self.from.is_empty() {
            f.write_str(" FROM ")?;
            list(f, &self.from)?;
        }
        condition(f, &self.condition)
    }
}

impl Display for SelectStatement {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str("SELECT ")?;
        list(f, &self.fields)?;
        if let Some(into) = &self.into {
            write!(f, " {into}")?;
        }
        f.write_str(" FROM ")?;
        list(f, &self.from)?;
        condition(f, &self.condition)?;
        if !self.group_by.is_empty() {
            f.write_str(" GROUP BY ")?;
            list(f, &self.group_by)?;
        }
        match self.fill {
            Fill::Null => {}
            Fill::None => f.write_str(" fill(none)")?,
            Fill::Previous => f.write_str(" fill(previous)")?,
            Fill::Linear => f.write_str(" fill(linear)")?,
            Fill::Integer(n) => write!(f, " fill({n})")?,
            Fill::Float(n) => {
                f.write_str(" fill(")?;
                write_float(f, n)?;
                f.write_str(")")?;
            }
        }
        order_by(f, self.order_by)?;
        limit(f, "LIMIT", self.limit)?;
        limit(f, "OFFSET", self.offset)?;
        limit(f, "SLIMIT", self.slimit)?;
        limit(f, "SOFFSET", self.soffset)?;
        if let Some(tz) = &self.tz {
            write!(f, " tz({})", quote_string(tz))?;
        }
        Ok(())
    }
}

impl Display for Field {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.expr)?;
        if let Some(alias) = &self.alias {
            write!(f, " AS {}", quote_ident(alias))?;
        }
        Ok(())
    }
}

impl Display for Target {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str("INTO ")?;
        match (&self.database, &self.retention_policy, &self.measurement) {
            // `INTO :MEASUREMENT` does not parse; this does, to the same target.
            (None, None, None) => return f.write_str("\"\".:MEASUREMENT"),
            (db, rp, _) => qualifier(f, db, rp)?,
        }
        match &self.measurement {
            Some(m) => f.write_str(&quote_ident(m)),
            None => f.write_str(":MEASUREMENT"),
        }
    }
}

/// `db.rp.`, `db..`, `rp.` or nothing, before a measurement.
fn qualifier(f: &mut Formatter<'_>, db: &Option<String>, rp: &Option<String>) -> fmt::Result {
    if let Some(db) = db {
        write!(f, "{}.", quote_ident(db))?;
    }
    if let Some(rp) = rp {
        f.write_str(&quote_ident(rp))?;
    }
    if db.is_some() || rp.is_some() {
        f.write_char('.')?;
    }
    Ok(())
}

impl Display for Source {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Source::Measurement(m) => m.fmt(f),
            Source::Subquery(s) => write!(f, "({s})"),
        }
    }
}

impl Display for Measurement {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        qualifier(f, &self.database, &self.retention_policy)?;
        match &self.name {
            MeasurementName::Name(name) => f.write_str(&quote_ident(name)),
            MeasurementName::Regex(re) => re.fmt(f),
        }
    }
}

impl Display for Dimension {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Dimension::Time { interval, offset } => {
                write!(f, "time({}", format_duration(*interval))?;
                match offset {
                    Some(TimeOffset::Duration(d)) => write!(f, ", {}", format_duration(*d))?,
                    Some(TimeOffset::Now) => f.write_str(", now()")?,
                    None => {}
                }
                f.write_str(")")
            }
            Dimension::Tag(v) => v.fmt(f),
            Dimension::Wildcard => f.write_str("*"),
            Dimension::Regex(re) => re.fmt(f),
            Dimension::Invalid { expr, .. } => expr.fmt(f),
        }
    }
}

impl Display for ShowMeasurements {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str("SHOW MEASUREMENTS")?;
        if let Some(db) = &self.database {
            write!(f, " ON {db}")?;
            if let Some(rp) = &self.retention_policy {
                write!(f, ".{rp}")?;
            }
        }
        if let Some(m) = &self.with_measurement {
            let op = match m.name {
                MeasurementName::Regex(_) => "=~",
                MeasurementName::Name(_) => "=",
            };
            write!(f, " WITH MEASUREMENT {op} {m}")?;
        }
        condition(f, &self.condition)?;
        order_by(f, self.order_by)?;
        limit(f, "LIMIT", self.limit)?;
        limit(f, "OFFSET", self.offset)
    }
}

impl Display for NameOrAll {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            NameOrAll::Name(name) => f.write_str(&quote_ident(name)),
            NameOrAll::All => f.write_str("*"),
        }
    }
}

impl Display for ShowTagKeys {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str("SHOW TAG KEYS")?;
        on(f, &self.database)?;
        from(f, &self.from)?;
        if let Some(k) = &self.with_key {
            write!(f, " {k}")?;
        }
        condition(f, &self.condition)?;
        order_by(f, self.order_by)?;
        limit(f, "LIMIT", self.limit)?;
        limit(f, "OFFSET", self.offset)?;
        limit(f, "SLIMIT", self.slimit)?;
        limit(f, "SOFFSET", self.soffset)
    }
}

impl Display for ShowTagValues {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str("SHOW TAG VALUES")?;
        on(f, &self.database)?;
        from(f, &self.from)?;
        write!(f, " {}", self.with_key)?;
        condition(f, &self.condition)?;
        order_by(f, self.order_by)?;
        limit(f, "LIMIT", self.limit)?;
        limit(f, "OFFSET", self.offset)
    }
}

impl Display for TagKeyFilter {
    /// `WITH KEY = "uuid"` and the like.
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str("WITH KEY ")?;
        match self {
            TagKeyFilter::Eq(k) => write!(f, "= {}", quote_ident(k)),
            TagKeyFilter::NotEq(k) => write!(f, "!= {}", quote_ident(k)),
            TagKeyFilter::Regex(re) => write!(f, "=~ {re}"),
            TagKeyFilter::NotRegex(re) => write!(f, "!~ {re}"),
            TagKeyFilter::In(keys) => {
                f.write_str("IN (")?;
                for (i, k) in keys.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    f.write_str(&quote_ident(k))?;
                }
                f.write_str(")")
            }
        }
    }
}

impl Display for ShowFieldKeys {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str("SHOW FIELD KEYS")?;
        on(f, &self.database)?;
        from(f, &self.from)?;
        order_by(f, self.order_by)?;
        limit(f, "LIMIT", self.limit)?;
        limit(f, "OFFSET", self.offset)
    }
}

impl Display for ShowRetentionPolicies {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str("SHOW RETENTION POLICIES")?;
        on(f, &self.database)
    }
}

impl Display for ShowSeries {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str("SHOW SERIES")?;
        on(f, &self.database)?;
        from(f, &self.from)?;
        condition(f, &self.condition)?;
        order_by(f, self.order_by)?;
        limit(f, "LIMIT", self.limit)?;
        limit(f, "OFFSET", self.offset)
    }
}

impl Display for ShowCardinality {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(match self.what {
            Cardinality::Series => "SHOW SERIES",
            Cardinality::Measurement => "SHOW MEASUREMENT",
            Cardinality::TagKey => "SHOW TAG KEY",
            Cardinality::TagValues(_) => "SHOW TAG VALUES",
            Cardinality::FieldKey => "SHOW FIELD KEY",
        })?;
        if self.exact {
            f.write_str(" EXACT")?;
        }
        f.write_str(" CARDINALITY")?;
        on(f, &self.database)?;
        from(f, &self.from)?;
        if let Cardinality::TagValues(key) = &self.what {
            write!(f, " {key}")?;
        }
        condition(f, &self.condition)?;
        if !self.group_by.is_empty() {
            f.write_str(" GROUP BY ")?;
            list(f, &self.group_by)?;
        }
        limit(f, "LIMIT", self.limit)?;
        limit(f, "OFFSET", self.offset)
    }
}

impl Display for Expr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Expr::VarRef(v) => v.fmt(f),
            Expr::Call { name, args } => {
                // `distinct` is a keyword, but `distinct(` reads back as the call.
                if name == "distinct" {
                    f.write_str(name)?;
                } else {
                    f.write_str(&quote_ident(name))?;
                }
                f.write_str("(")?;
                list(f, args)?;
                f.write_str(")")
            }
            // The parser's reading of `-value`; `-1 * value` would read back differently after
            // a `/` (`a / -1 * value` is `(a / -1) * value`).
            Expr::Binary {
                op: BinaryOp::Mul,
                lhs,
                rhs,
            } if **lhs == Expr::Integer(-1)
                && matches!(**rhs, Expr::VarRef(_) | Expr::Call { .. } | Expr::Paren(_)) =>
            {
                write!(f, "-{rhs}")
            }
            Expr::Binary { op, lhs, rhs } => write!(f, "{lhs} {} {rhs}", op.as_str()),
            Expr::Paren(e) => write!(f, "({e})"),
            Expr::Wildcard(WildcardKind::All) => f.write_str("*"),
            Expr::Wildcard(WildcardKind::Fields) => f.write_str("*::field"),
            Expr::Wildcard(WildcardKind::Tags) => f.write_str("*::tag"),
            Expr::Distinct(name) => write!(f, "DISTINCT {}", quote_ident(name)),
            Expr::Integer(n) => write!(f, "{n}"),
            Expr::Unsigned(n) => write!(f, "{n}"),
            Expr::Number(n) => write_float(f, *n),
            Expr::String(s) => f.write_str(&quote_string(s)),
            Expr::Boolean(b) => write!(f, "{b}"),
            Expr::Duration(d) => f.write_str(&format_duration(*d)),
            Expr::Regex(re) => re.fmt(f),
        }
    }
}

impl Display for VarRef {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(&quote_ident(&self.name))?;
        if let Some(t) = self.data_type {
            write!(f, "::{t}")?;
        }
        Ok(())
    }
}

impl Display for DataType {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Display for BinaryOp {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
