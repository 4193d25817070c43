//! Parse errors, worded as influxql's `ParseError` words them.

use std::fmt;

/// Where an error was found: 1-based line and character (as InfluxDB prints them, counting
/// characters, not bytes, and `\r\n` as one line break), and the byte offset into the query.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Position {
    pub line: u32,
    pub column: u32,
    pub offset: usize,
}

impl Position {
    /// Line 1, char 1: where influxql reports errors that carry no position of their own
    /// (`too many segments in …`).
    pub(crate) const START: Position = Position {
        line: 1,
        column: 1,
        offset: 0,
    };

    /// The position of byte `offset` in `src`. `bump` moves it one character right: influxql's
    /// scanner reports an end of input one character further once it has read past it (after
    /// an identifier, a keyword or whitespace), and the error positions follow that.
    pub(crate) fn of(src: &str, offset: usize, bump: bool) -> Position {
        let (mut line, mut column) = (1u32, 1u32);
        let mut chars = src[..offset.min(src.len())].chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\n' => (line, column) = (line + 1, 1),
                '\r' => {
                    (line, column) = (line + 1, 1);
                    if chars.peek() == Some(&'\n') {
                        chars.next();
                    }
                }
                _ => column += 1,
            }
        }
        Position {
            line,
            column: column + u32::from(bump),
            offset,
        }
    }
}

/// Why a query does not parse. `Display` gives InfluxDB's text, e.g.
/// `found FROM, expected identifier, string, number, bool at line 1, char 8`; the HTTP layer
/// prefixes it with `error parsing query: `.
///
/// Some of influxql's errors carry no position (`invalid duration`, `fill must be a function
/// call`, `only ORDER BY time supported at this time`); so do these.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    message: String,
    position: Option<Position>,
    /// Text after the position: influxql words one error as `… at line 1, char 8; operator is
    /// intended for WHERE clause`.
    trailer: &'static str,
}

impl ParseError {
    pub(crate) fn at(message: impl Into<String>, position: Position) -> ParseError {
        ParseError {
            message: message.into(),
            position: Some(position),
            trailer: "",
        }
    }

    pub(crate) fn plain(message: impl Into<String>) -> ParseError {
        ParseError {
            message: message.into(),
            position: None,
            trailer: "",
        }
    }

    pub(crate) fn with_trailer(mut self, trailer: &'static str) -> ParseError {
        self.trailer = trailer;
        self
    }

    /// The message without its position, e.g. `found FROM, expected identifier`.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Where the error is, when influxql gives a position for it.
    pub fn position(&self) -> Option<Position> {
        self.position
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(p) = self.position {
            write!(f, " at line {}, char {}{}", p.line, p.column, self.trailer)?;
        }
        Ok(())
    }
}

impl std::error::Error for ParseError {}
