//! The syntax tree [`parse_query`](super::parse_query) returns. It follows influxql's `ast.go`
//! where the query engine needs it (same node kinds, same operator precedence, durations in
//! nanoseconds) and is typed where influxql defers checks to its query compiler (GROUP BY
//! dimensions, `fill`, `ORDER BY`).

use std::fmt;

/// One statement of a query.
#[derive(Clone, Debug, PartialEq)]
pub enum Statement {
    Select(Box<SelectStatement>),
    ShowDatabases,
    ShowMeasurements(ShowMeasurements),
    ShowTagKeys(ShowTagKeys),
    ShowTagValues(ShowTagValues),
    ShowFieldKeys(ShowFieldKeys),
    ShowRetentionPolicies(ShowRetentionPolicies),
    ShowSeries(ShowSeries),
    ShowCardinality(ShowCardinality),
    CreateDatabase(CreateDatabase),
    /// `DROP DATABASE <name>`.
    DropDatabase(String),
    CreateRetentionPolicy(CreateRetentionPolicy),
    AlterRetentionPolicy(AlterRetentionPolicy),
    /// `DROP RETENTION POLICY <name> ON <database>`.
    DropRetentionPolicy {
        name: String,
        database: String,
    },
    /// `DROP MEASUREMENT <name>`: the measurement's series, points and field types.
    DropMeasurement(String),
    /// `DROP SERIES [FROM …] [WHERE …]`: the series whose tags match, with every point.
    DropSeries(DeleteSeries),
    /// `DELETE [FROM …] [WHERE …]`: the points of the matching series in the condition's time
    /// range (all time without one); a series left without a point goes with them.
    Delete(DeleteSeries),
    /// A statement InfluxDB 1.x knows and Fieldline does not run (`GRANT`,
    /// `SHOW USERS`, `CREATE CONTINUOUS QUERY`, …). Only its leading keywords
    /// are checked; the rest, up to the next `;`, is kept as written.
    Unsupported {
        /// The statement's leading keywords in upper case, e.g. `"CREATE DATABASE"`.
        what: &'static str,
        /// The statement's text as written, without the `;`.
        text: String,
    },
}

impl Statement {
    /// The leading keywords of a statement that manages databases or retention policies
    /// (`"CREATE DATABASE"`, …), `None` for any other.
    pub fn ddl_keywords(&self) -> Option<&'static str> {
        match self {
            Statement::CreateDatabase(_) => Some("CREATE DATABASE"),
            Statement::DropDatabase(_) => Some("DROP DATABASE"),
            Statement::CreateRetentionPolicy(_) => Some("CREATE RETENTION POLICY"),
            Statement::AlterRetentionPolicy(_) => Some("ALTER RETENTION POLICY"),
            Statement::DropRetentionPolicy { .. } => Some("DROP RETENTION POLICY"),
            _ => None,
        }
    }
}

/// What `DROP SERIES` and `DELETE` delete: series of these measurements (every measurement
/// when none) whose tags pass the condition; at least one of the two is given.
#[derive(Clone, Debug, PartialEq)]
pub struct DeleteSeries {
    pub from: Vec<Measurement>,
    pub condition: Option<Expr>,
}

/// `CREATE DATABASE <name> [WITH [DURATION d] [REPLICATION n] [SHARD DURATION d] [NAME rp]]`:
/// the options come in this order, at least one after `WITH`. Durations are nanoseconds, `0`
/// for `INF`, as in influxql.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreateDatabase {
    pub name: String,
    /// `WITH …`: the database's default retention policy, created with it.
    pub with: Option<DatabasePolicy>,
}

/// The `WITH` clause of `CREATE DATABASE`; what is absent takes InfluxDB's default.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DatabasePolicy {
    pub duration: Option<i64>,
    pub replication: Option<u32>,
    pub shard_duration: Option<i64>,
    pub name: Option<String>,
}

/// `CREATE RETENTION POLICY <name> ON <database> DURATION d REPLICATION n [SHARD DURATION d]
/// [DEFAULT]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreateRetentionPolicy {
    pub name: String,
    pub database: String,
    /// Nanoseconds, `0` for `INF`.
    pub duration: i64,
    /// 1 to `i32::MAX`.
    pub replication: u32,
    /// Nanoseconds; absent (or `0s`), InfluxDB derives it from the duration.
    pub shard_duration: Option<i64>,
    pub default: bool,
}

/// `ALTER RETENTION POLICY <name> ON <database>` and at least one of `DURATION d`,
/// `REPLICATION n`, `SHARD DURATION d`, `DEFAULT`, in any order, each at most once.
/// `ALTER RETENTION POLICY DEFAULT ON …` names a policy called `default`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlterRetentionPolicy {
    pub name: String,
    pub database: String,
    pub duration: Option<i64>,
    pub replication: Option<u32>,
    pub shard_duration: Option<i64>,
    pub default: bool,
}

/// `SELECT <fields> [INTO <target>] FROM <sources> [WHERE <condition>] [GROUP BY <dimensions>]
/// [fill(<option>)] [ORDER BY time ASC|DESC] [LIMIT n] [OFFSET n] [SLIMIT n] [SOFFSET n]
/// [tz('<zone>')]`.
#[derive(Clone, Debug, PartialEq)]
pub struct SelectStatement {
    pub fields: Vec<Field>,
    /// `INTO`: parsed so that the engine can refuse it.
    pub into: Option<Target>,
    pub from: Vec<Source>,
    pub condition: Option<Expr>,
    pub group_by: Vec<Dimension>,
    pub fill: Fill,
    /// `ORDER BY time ASC|DESC`; absent means ascending.
    pub order_by: Option<Order>,
    /// `LIMIT`, `OFFSET`, `SLIMIT`, `SOFFSET`: never `Some(0)`, which InfluxDB treats as absent.
    pub limit: Option<u64>,
    pub offset: Option<u64>,
    pub slimit: Option<u64>,
    pub soffset: Option<u64>,
    /// `tz('Europe/Paris')`: the name as written, not checked against the time zone database.
    pub tz: Option<String>,
}

impl SelectStatement {
    /// The first `GROUP BY time(…)` dimension, if any. InfluxDB allows one and answers
    /// `multiple time dimensions not allowed` for the statement otherwise: that check is the
    /// engine's.
    pub fn group_by_time(&self) -> Option<GroupByTime> {
        self.group_by.iter().find_map(|d| match d {
            Dimension::Time { interval, offset } => Some(GroupByTime {
                interval: *interval,
                offset: *offset,
            }),
            _ => None,
        })
    }

    /// The tag names of `GROUP BY`, in order (not `time(…)`, `*` or regexes).
    pub fn group_by_tags(&self) -> impl Iterator<Item = &str> {
        self.group_by.iter().filter_map(|d| match d {
            Dimension::Tag(v) => Some(v.name.as_str()),
            _ => None,
        })
    }

    /// True when no field calls a function: influxql's `IsRawQuery`.
    pub fn is_raw_query(&self) -> bool {
        !self
            .fields
            .iter()
            .any(|f| f.expr.any(|e| matches!(e, Expr::Call { .. })))
    }

    /// True for `ORDER BY time DESC`.
    pub fn is_descending(&self) -> bool {
        self.order_by == Some(Order::Desc)
    }
}

/// One item of the field list: an expression and its `AS` alias.
#[derive(Clone, Debug, PartialEq)]
pub struct Field {
    pub expr: Expr,
    pub alias: Option<String>,
}

/// `INTO [db.][rp.]measurement`, or `INTO [db.][rp.]:MEASUREMENT` (`measurement: None`) to
/// write back into the measurement each row was read from.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    pub database: Option<String>,
    pub retention_policy: Option<String>,
    pub measurement: Option<String>,
}

/// A `FROM` source.
#[derive(Clone, Debug, PartialEq)]
pub enum Source {
    Measurement(Measurement),
    /// `FROM (SELECT …)`.
    Subquery(Box<SelectStatement>),
}

/// `[db.][rp.]name` or `[db.][rp.]/regex/`; `db..name` has a database and no retention policy.
#[derive(Clone, Debug, PartialEq)]
pub struct Measurement {
    pub database: Option<String>,
    pub retention_policy: Option<String>,
    pub name: MeasurementName,
}

/// A measurement's name, or a regex matching the names.
#[derive(Clone, Debug, PartialEq)]
pub enum MeasurementName {
    Name(String),
    Regex(Regex),
}

/// A `GROUP BY` item. influxql's compiler rejects everything else; Fieldline rejects it when
/// parsing, with the compiler's message (`only time and tag dimensions allowed`), except a second
/// `time(…)`, which the engine refuses.
#[derive(Clone, Debug, PartialEq)]
pub enum Dimension {
    /// `time(interval)` or `time(interval, offset)`; the interval in nanoseconds.
    Time {
        interval: i64,
        offset: Option<TimeOffset>,
    },
    /// A tag, e.g. `"uuid"`.
    Tag(VarRef),
    /// `*`: every tag.
    Wildcard,
    /// `/regex/`: every tag whose key matches.
    Regex(Regex),
    /// A dimension influxql's query compiler refuses (`GROUP BY time(1m, 'x')`), with its
    /// message: InfluxDB reports it as the statement's error, not as a parse error.
    Invalid { expr: Expr, reason: String },
}

/// The second argument of `GROUP BY time(interval, offset)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeOffset {
    /// In nanoseconds, possibly negative, as written (not yet reduced modulo the interval).
    Duration(i64),
    /// `now()`: the offset that aligns the buckets on the query's `now`.
    Now,
}

/// What [`SelectStatement::group_by_time`] returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GroupByTime {
    /// Nanoseconds.
    pub interval: i64,
    pub offset: Option<TimeOffset>,
}

/// `fill(…)`: what to emit for an empty `GROUP BY time` bucket. `Null` is the default and is
/// what an absent `fill` means.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum Fill {
    #[default]
    Null,
    None,
    Previous,
    Linear,
    Integer(i64),
    Float(f64),
}

/// `ASC` or `DESC` in `ORDER BY time`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    Asc,
    Desc,
}

/// `SHOW MEASUREMENTS [ON db[.rp]] [WITH MEASUREMENT =~ /re/ | = name] [WHERE …]
/// [ORDER BY time ASC|DESC] [LIMIT n] [OFFSET n]`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ShowMeasurements {
    pub database: Option<NameOrAll>,
    /// Only with a database: `ON db.rp`, `ON db.*`.
    pub retention_policy: Option<NameOrAll>,
    /// `WITH MEASUREMENT`: `=~` when the measurement is a regex, `=` otherwise.
    pub with_measurement: Option<Measurement>,
    pub condition: Option<Expr>,
    pub order_by: Option<Order>,
    pub limit: Option<u64>,
    pub offset: Option<u64>,
}

/// A name, or `*` for all of them (`SHOW MEASUREMENTS ON *`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NameOrAll {
    Name(String),
    All,
}

/// `SHOW TAG KEYS [ON db] [FROM …] [WITH KEY …] [WHERE …] [ORDER BY time ASC|DESC] [LIMIT n]
/// [OFFSET n] [SLIMIT n] [SOFFSET n]`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ShowTagKeys {
    pub database: Option<String>,
    pub from: Vec<Measurement>,
    pub with_key: Option<TagKeyFilter>,
    pub condition: Option<Expr>,
    pub order_by: Option<Order>,
    pub limit: Option<u64>,
    pub offset: Option<u64>,
    pub slimit: Option<u64>,
    pub soffset: Option<u64>,
}

/// `SHOW TAG VALUES [ON db] [FROM …] WITH KEY … [WHERE …] [ORDER BY time ASC|DESC] [LIMIT n]
/// [OFFSET n]`.
#[derive(Clone, Debug, PartialEq)]
pub struct ShowTagValues {
    pub database: Option<String>,
    pub from: Vec<Measurement>,
    pub with_key: TagKeyFilter,
    pub condition: Option<Expr>,
    pub order_by: Option<Order>,
    pub limit: Option<u64>,
    pub offset: Option<u64>,
}

/// `WITH KEY = k`, `!= k`, `=~ /re/`, `!~ /re/` or `IN (k1, k2)`.
#[derive(Clone, Debug, PartialEq)]
pub enum TagKeyFilter {
    Eq(String),
    NotEq(String),
    Regex(Regex),
    NotRegex(Regex),
    In(Vec<String>),
}

impl TagKeyFilter {
    /// Whether the tag key `key` passes the filter.
    pub fn matches(&self, key: &str) -> bool {
        match self {
            TagKeyFilter::Eq(k) => k == key,
            TagKeyFilter::NotEq(k) => k != key,
            TagKeyFilter::Regex(re) => re.is_match(key),
            TagKeyFilter::NotRegex(re) => !re.is_match(key),
            TagKeyFilter::In(keys) => keys.iter().any(|k| k == key),
        }
    }
}

/// `SHOW FIELD KEYS [ON db] [FROM …] [ORDER BY time ASC|DESC] [LIMIT n] [OFFSET n]`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ShowFieldKeys {
    pub database: Option<String>,
    pub from: Vec<Measurement>,
    pub order_by: Option<Order>,
    pub limit: Option<u64>,
    pub offset: Option<u64>,
}

/// `SHOW RETENTION POLICIES [ON db]`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ShowRetentionPolicies {
    pub database: Option<String>,
}

/// `SHOW SERIES [ON db] [FROM …] [WHERE …] [ORDER BY time ASC|DESC] [LIMIT n] [OFFSET n]`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ShowSeries {
    pub database: Option<String>,
    pub from: Vec<Measurement>,
    pub condition: Option<Expr>,
    pub order_by: Option<Order>,
    pub limit: Option<u64>,
    pub offset: Option<u64>,
}

/// What a `SHOW … CARDINALITY` statement counts.
#[derive(Clone, Debug, PartialEq)]
pub enum Cardinality {
    /// `SHOW SERIES [EXACT] CARDINALITY`.
    Series,
    /// `SHOW MEASUREMENT [EXACT] CARDINALITY`.
    Measurement,
    /// `SHOW TAG KEY [EXACT] CARDINALITY`.
    TagKey,
    /// `SHOW TAG VALUES [EXACT] CARDINALITY … WITH KEY …`.
    TagValues(TagKeyFilter),
    /// `SHOW FIELD KEY [EXACT] CARDINALITY`.
    FieldKey,
}

/// `SHOW SERIES|MEASUREMENT|TAG KEY|FIELD KEY [EXACT] CARDINALITY [ON db] [FROM …] [WHERE …]
/// [GROUP BY …] [LIMIT n] [OFFSET n]`, and `SHOW TAG VALUES [EXACT] CARDINALITY [ON db]
/// [FROM …] WITH KEY … [WHERE …] [GROUP BY …] [LIMIT n] [OFFSET n]`.
#[derive(Clone, Debug, PartialEq)]
pub struct ShowCardinality {
    pub what: Cardinality,
    pub exact: bool,
    pub database: Option<String>,
    pub from: Vec<Measurement>,
    pub condition: Option<Expr>,
    pub group_by: Vec<Dimension>,
    pub limit: Option<u64>,
    pub offset: Option<u64>,
}

/// An expression: in the field list, `WHERE`, call arguments.
///
/// Unary minus folds into number and duration literals (`-5`, `-1h`); on anything else it is,
/// as in influxql, a multiplication by `-1` (`-value` is `-1 * value`).
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// A field or tag (or `time`), possibly with a `::type` cast.
    VarRef(VarRef),
    /// A function call; the name is in lower case (`MEAN(x)` is `mean`).
    Call {
        name: String,
        args: Vec<Expr>,
    },
    Binary {
        op: BinaryOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    /// Parentheses, kept so that the text can be reproduced.
    Paren(Box<Expr>),
    /// `*`, `*::field` or `*::tag`.
    Wildcard(WildcardKind),
    /// `DISTINCT field` (the form without parentheses; `DISTINCT(field)` is a call).
    Distinct(String),
    Integer(i64),
    /// An integer literal above `i64::MAX`.
    Unsigned(u64),
    Number(f64),
    /// A single-quoted string; time strings (`'2020-07-21T10:00:00Z'`) are strings too, see
    /// [`parse_time_string`](super::parse_time_string).
    String(String),
    Boolean(bool),
    /// A duration literal in nanoseconds. Epoch times written with a unit
    /// (`1595324700000ms`) are durations as well.
    Duration(i64),
    Regex(Regex),
}

impl Expr {
    /// Calls `f` on this expression and on every expression inside it, parents first.
    pub fn walk<'a>(&'a self, f: &mut impl FnMut(&'a Expr)) {
        f(self);
        match self {
            Expr::Call { args, .. } => args.iter().for_each(|a| a.walk(f)),
            Expr::Binary { lhs, rhs, .. } => {
                lhs.walk(f);
                rhs.walk(f);
            }
            Expr::Paren(e) => e.walk(f),
            _ => {}
        }
    }

    /// Calls `f` on this expression and on every expression inside it, parents first, so that
    /// it can rewrite them (e.g. replace `now()` by a time).
    pub fn walk_mut(&mut self, f: &mut impl FnMut(&mut Expr)) {
        f(self);
        match self {
            Expr::Call { args, .. } => args.iter_mut().for_each(|a| a.walk_mut(f)),
            Expr::Binary { lhs, rhs, .. } => {
                lhs.walk_mut(f);
                rhs.walk_mut(f);
            }
            Expr::Paren(e) => e.walk_mut(f),
            _ => {}
        }
    }

    /// Whether this expression or one inside it satisfies `pred`.
    pub fn any(&self, mut pred: impl FnMut(&Expr) -> bool) -> bool {
        let mut found = false;
        self.walk(&mut |e| found = found || pred(e));
        found
    }

    /// The expression inside any number of parentheses.
    pub fn unparen(&self) -> &Expr {
        match self {
            Expr::Paren(e) => e.unparen(),
            e => e,
        }
    }
}

/// A reference to a field, a tag or `time`: `value`, `"auto~watt"`, `value::float`, `host::tag`.
/// A dotted reference (`a.b`) is one name, `"a.b"`, as in influxql.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VarRef {
    pub name: String,
    pub data_type: Option<DataType>,
}

/// The `::type` of a [`VarRef`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataType {
    Float,
    Integer,
    Unsigned,
    String,
    Boolean,
    /// `::field`: any field, not a tag.
    Field,
    /// `::tag`.
    Tag,
}

impl DataType {
    pub fn as_str(self) -> &'static str {
        match self {
            DataType::Float => "float",
            DataType::Integer => "integer",
            DataType::Unsigned => "unsigned",
            DataType::String => "string",
            DataType::Boolean => "boolean",
            DataType::Field => "field",
            DataType::Tag => "tag",
        }
    }
}

/// Which columns a `*` stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WildcardKind {
    /// `*`: fields and tags.
    All,
    /// `*::field`.
    Fields,
    /// `*::tag`.
    Tags,
}

/// A binary operator, with influxql's precedence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    BitAnd,
    BitOr,
    BitXor,
    And,
    Or,
    /// `IN`: influxql scans it as an operator but nothing evaluates it.
    In,
    Eq,
    /// `!=` or `<>`.
    NotEq,
    /// `=~`
    EqRegex,
    /// `!~`
    NotEqRegex,
    Lt,
    LtEq,
    Gt,
    GtEq,
}

impl BinaryOp {
    /// 1 (`OR`) to 5 (`*`); higher binds tighter; equal precedence groups to the left.
    pub fn precedence(self) -> u8 {
        match self {
            BinaryOp::Or => 1,
            BinaryOp::And => 2,
            BinaryOp::Eq
            | BinaryOp::NotEq
            | BinaryOp::EqRegex
            | BinaryOp::NotEqRegex
            | BinaryOp::Lt
            | BinaryOp::LtEq
            | BinaryOp::Gt
            | BinaryOp::GtEq
            | BinaryOp::In => 3,
            BinaryOp::Add | BinaryOp::Sub | BinaryOp::BitOr | BinaryOp::BitXor => 4,
            BinaryOp::Mul | BinaryOp::Div | BinaryOp::Mod | BinaryOp::BitAnd => 5,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Mod => "%",
            BinaryOp::BitAnd => "&",
            BinaryOp::BitOr => "|",
            BinaryOp::BitXor => "^",
            BinaryOp::And => "AND",
            BinaryOp::Or => "OR",
            BinaryOp::In => "IN",
            BinaryOp::Eq => "=",
            BinaryOp::NotEq => "!=",
            BinaryOp::EqRegex => "=~",
            BinaryOp::NotEqRegex => "!~",
            BinaryOp::Lt => "<",
            BinaryOp::LtEq => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::GtEq => ">=",
        }
    }

    /// Comparisons and `AND`/`OR`: what influxql allows in `WHERE` but not in the field list.
    pub fn is_condition(self) -> bool {
        self.precedence() <= 3 && self != BinaryOp::In
    }
}

/// A regex literal (`/^auto/`). Two regexes are equal when their patterns are. Cheap to clone.
///
/// A pattern that matches exactly a few whole strings (`/^(a|b|c)$/`: Grafana's multi-value
/// variables, a dashboard's chosen series) is matched by looking the text up in that set, and
/// never compiled: compiling it and building its DFA's cache took a quarter of such a query's
/// time, for a hundred comparisons. Every other pattern is compiled.
#[derive(Clone, Debug)]
pub struct Regex(std::sync::Arc<(String, Matcher)>);

#[derive(Debug)]
enum Matcher {
    /// The strings the pattern matches, when it is a set of whole strings.
    Strings(std::collections::HashSet<String>),
    Compiled(regex::Regex),
}

/// At most this many strings make a pattern a set (more are matched by the compiled regex).
const REGEX_SET_MAX: usize = 256;

impl Regex {
    /// Reads `pattern` (the text between the slashes, with `\/` already unescaped): a set of
    /// strings, or else compiled (its errors are the compiler's).
    pub fn new(pattern: &str) -> Result<Regex, regex::Error> {
        let matcher = match whole_strings(pattern) {
            Some(set) => Matcher::Strings(set),
            None => Matcher::Compiled(regex::Regex::new(pattern)?),
        };
        Ok(Regex(std::sync::Arc::new((pattern.to_owned(), matcher))))
    }

    /// The strings it matches, whole, when it is a set of them (see [`Regex::new`]).
    pub fn strings(&self) -> Option<Vec<String>> {
        match &self.0 .1 {
            Matcher::Strings(set) => Some(set.iter().cloned().collect()),
            Matcher::Compiled(_) => None,
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0 .0
    }

    pub fn is_match(&self, text: &str) -> bool {
        match &self.0 .1 {
            Matcher::Strings(set) => set.contains(text),
            Matcher::Compiled(re) => re.is_match(text),
        }
    }
}

/// The strings `pattern` matches when it matches exactly those, whole (`^` and `$` around
/// literals, alternations, groups and small classes, in the default flags), at most
/// [`REGEX_SET_MAX`] of them; else `None`.
fn whole_strings(pattern: &str) -> Option<std::collections::HashSet<String>> {
    literal_alternation(pattern).or_else(|| parsed_whole_strings(pattern))
}

/// [`whole_strings`] of the commonest such pattern, without the parser (which took a tenth of a
/// `last()` query's time in WebAssembly): `^(a|b|...)$`, `^(?:a|b|...)$` or `^a$`, each
/// alternative a non-empty run of ASCII letters, digits, `-` and `_` (Grafana's multi-value
/// variables of UUIDs and names). Anything else is left to the parser.
fn literal_alternation(pattern: &str) -> Option<std::collections::HashSet<String>> {
    let body = pattern.strip_prefix('^')?.strip_suffix('$')?;
    let alternatives = match body.strip_prefix("(?:").or_else(|| body.strip_prefix('(')) {
        Some(group) => group.strip_suffix(')')?,
        // `^a|b$` is `(^a)|(b$)`: without a group, one literal only.
        None if body.contains('|') => return None,
        None => body,
    };
    let literal = |a: &str| {
        !a.is_empty()
            && a.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    let mut set = std::collections::HashSet::new();
    for a in alternatives.split('|') {
        if !literal(a) || set.len() >= REGEX_SET_MAX {
            return None;
        }
        set.insert(a.to_owned());
    }
    Some(set)
}

/// [`whole_strings`] from the pattern's parsed form.
fn parsed_whole_strings(pattern: &str) -> Option<std::collections::HashSet<String>> {
    use regex_syntax::hir::{Hir, HirKind, Look};
    let hir = regex_syntax::Parser::new().parse(pattern).ok()?;
    let HirKind::Concat(parts) = hir.kind() else {
        return None;
    };
    let [start, middle @ .., end] = parts.as_slice() else {
        return None;
    };
    if start.kind() != &HirKind::Look(Look::Start) || end.kind() != &HirKind::Look(Look::End) {
        return None;
    }
    // Every string a piece matches, or None where it matches other things (a repetition, a
    // look-around, a large class) or too many.
    fn strings(hir: &Hir) -> Option<Vec<Vec<u8>>> {
        let out = match hir.kind() {
            HirKind::Empty => vec![Vec::new()],
            HirKind::Literal(l) => vec![l.0.to_vec()],
            HirKind::Capture(c) => strings(&c.sub)?,
            HirKind::Class(regex_syntax::hir::Class::Unicode(c)) => {
                let mut out = Vec::new();
                for r in c.ranges() {
                    for ch in r.start()..=r.end() {
                        if out.len() >= REGEX_SET_MAX {
                            return None;
                        }
                        out.push(ch.to_string().into_bytes());
                    }
                }
                out
            }
            HirKind::Concat(parts) => concat(parts)?,
            HirKind::Alternation(alts) => {
                let mut out = Vec::new();
                for a in alts {
                    out.extend(strings(a)?);
                    if out.len() > REGEX_SET_MAX {
                        return None;
                    }
                }
                out
            }
            _ => return None,
        };
        Some(out)
    }
    // Every string of the pieces in a row: each of the first's followed by each of the rest's.
    fn concat(parts: &[Hir]) -> Option<Vec<Vec<u8>>> {
        let mut out = vec![Vec::new()];
        for p in parts {
            let tails = strings(p)?;
            if out.len() * tails.len() > REGEX_SET_MAX {
                return None;
            }
            out = out
                .iter()
                .flat_map(|head| tails.iter().map(move |t| [head.as_slice(), t].concat()))
                .collect();
        }
        Some(out)
    }
    concat(middle)?
        .into_iter()
        .map(|s| String::from_utf8(s).ok())
        .collect()
}

impl PartialEq for Regex {
    fn eq(&self, other: &Regex) -> bool {
        self.as_str() == other.as_str()
    }
}

impl fmt::Display for Regex {
    /// `/pattern/`, with `/` escaped as `\/`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("/")?;
        for (i, part) in self.as_str().split('/').enumerate() {
            if i > 0 {
                f.write_str("\\/")?;
            }
            f.write_str(part)?;
        }
        f.write_str("/")
    }
}

#[cfg(test)]
mod regex_tests {
    use super::*;

    /// A pattern matched as a set of strings matches exactly what the compiled regex matches,
    /// and the patterns a dashboard sends for chosen series are taken as sets.
    #[test]
    fn sets_of_whole_strings_match_as_the_regex_does() {
        let uuids = "^(cfc544d9-16a8-4567-84df-78a53cf00ff1|c6363d45-b674-4c0d-b191-db07425b246e\
                     |4c32a083-d0b5-4b90-82ad-b6371e91bff2)$";
        let cases = [
            (uuids, true),
            ("^(abc|abd|x)$", true),
            ("^abc$", true),
            ("^$", true),
            ("^(a|b)c$", true),
            ("^[ab]c(d|e)?$", false),
            ("^[ab]c$", true),
            ("^(?:host|region)$", true),
            ("^a|b$", false),
            ("^a.*$", false),
            ("(?i)^abc$", true),
            ("^a+$", false),
            ("abc", false),
            ("^abc", false),
            ("^\\d$", false),
            ("(?m)^abc$", false),
            ("^caf\u{e9}|x$", false),
            ("^(café|日本)$", true),
            ("^[0-9a-f]{2}$", false),
        ];
        let texts = [
            "",
            "a",
            "b",
            "c",
            "abc",
            "abd",
            "abcd",
            "x",
            "ac",
            "bc",
            "ABC",
            "aBc",
            "a\n",
            "abc\n",
            "\nabc",
            "host",
            "region",
            "hostregion",
            "café",
            "日本",
            "cd",
            "ace",
            "0f",
            "cfc544d9-16a8-4567-84df-78a53cf00ff1",
            "c6363d45-b674-4c0d-b191-db07425b246e",
            "4c32a083-d0b5-4b90-82ad-b6371e91bff2",
            "cfc544d9-16a8-4567-84df-78a53cf00ff",
        ];
        for (pattern, is_set) in cases {
            let ours = Regex::new(pattern).unwrap();
            let theirs = regex::Regex::new(pattern).unwrap();
            assert_eq!(
                matches!(ours.0 .1, Matcher::Strings(_)),
                is_set,
                "{pattern}"
            );
            for t in texts {
                assert_eq!(ours.is_match(t), theirs.is_match(t), "{pattern} on {t:?}");
            }
        }
        // the errors are the compiler's
        assert!(Regex::new("^(a|b$").is_err());
    }

    #[test]
    fn literal_alternations_read_without_the_parser_as_with_it() {
        for pattern in [
            "^(cfc544d9-16a8-4567-84df-78a53cf00ff1|c6363d45-b674-4c0d-b191-db07425b246e)$",
            "^(abc|abd|x)$",
            "^(?:host|region|host)$",
            "^abc$",
            "^(A_b-9)$",
        ] {
            let fast = literal_alternation(pattern);
            assert!(fast.is_some(), "{pattern}");
            assert_eq!(fast, parsed_whole_strings(pattern), "{pattern}");
        }
        // Left to the parser: not only literals, or not one group around the alternatives.
        for pattern in [
            "^a|b$",
            "^(a)|(b)$",
            "^(a|)$",
            "^()$",
            "^$",
            "^(a|b)c$",
            "^(a.b)$",
            "^(?i:abc)$",
            "(?i)^abc$",
            "^(caf\u{e9})$",
            "^(a|b",
            r"^a\$",
        ] {
            assert_eq!(literal_alternation(pattern), None, "{pattern}");
        }
    }
}
