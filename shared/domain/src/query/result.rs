//! What a query answers, before it is written as JSON: per statement, series of rows.

use chrono_tz::Tz;

/// One value of a row.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    Null,
    /// Nanoseconds since the epoch: written as RFC 3339 or as an `epoch=` integer.
    Time(i64),
    Float(f64),
    Integer(i64),
    Str(String),
    Bool(bool),
}

impl Cell {
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Cell::Float(v) => Some(*v),
            #[allow(clippy::cast_precision_loss)]
            Cell::Integer(v) => Some(*v as f64),
            _ => None,
        }
    }
}

/// A series of an answer: `{"name", "tags", "columns", "values"}`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Series {
    pub name: Option<String>,
    /// Present (possibly empty) only when the statement groups by tags.
    pub tags: Option<Vec<(String, String)>>,
    pub columns: Vec<String>,
    pub values: Vec<Vec<Cell>>,
    /// Continued in the next document of a chunked answer.
    pub partial: bool,
    /// The statement's `tz()`, for writing its times.
    pub tz: Option<Tz>,
}

/// The answer to one statement: series, or an error.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StatementResult {
    pub statement_id: usize,
    pub series: Vec<Series>,
    /// Warnings (`{"level": "warning", "text": ...}`).
    pub messages: Vec<String>,
    pub error: Option<String>,
    pub partial: bool,
    /// A `SELECT`'s series (and a `SHOW … CARDINALITY`'s, which InfluxDB runs as a `SELECT`)
    /// are cut into `chunk_size` rows in a chunked answer; another `SHOW`'s are not.
    pub chunk_rows: bool,
    /// InfluxDB's executor recovered from a panic: the result belongs to no statement
    /// (`statement_id` -1) and ends the query.
    pub query_panicked: bool,
    /// A statement that failed before the last one: InfluxDB's executor sends its own error,
    /// then "not executed" once for each statement after it, all under this statement's id
    /// (query/executor.go). A buffered answer keeps a statement's last result, so `error` is
    /// "not executed"; a chunked answer sends every one: this error, then `error` this many times.
    pub stopped: Option<(String, usize)>,
}

impl StatementResult {
    pub fn new(statement_id: usize) -> Self {
        StatementResult {
            statement_id,
            ..StatementResult::default()
        }
    }

    pub fn error(statement_id: usize, message: impl Into<String>) -> Self {
        StatementResult {
            statement_id,
            error: Some(message.into()),
            ..StatementResult::default()
        }
    }

    pub fn panic(message: impl Into<String>) -> Self {
        StatementResult {
            error: Some(message.into()),
            query_panicked: true,
            ..StatementResult::default()
        }
    }
}

/// The answer to a whole query: one result per statement.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct QueryResults(pub Vec<StatementResult>);
