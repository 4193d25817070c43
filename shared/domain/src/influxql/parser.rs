//! The parser: tokens to [`Statement`]s, following influxql's `parser.go` clause by clause so
//! that the same queries parse and the same errors come out.

use super::ast::{
    AlterRetentionPolicy, BinaryOp, Cardinality, CreateDatabase, CreateRetentionPolicy, DataType,
    DatabasePolicy, DeleteSeries, Dimension, Expr, Field, Fill, Measurement, MeasurementName,
    NameOrAll, Order, Regex, SelectStatement, ShowCardinality, ShowFieldKeys, ShowMeasurements,
    ShowRetentionPolicies, ShowSeries, ShowTagKeys, ShowTagValues, Source, Statement, TagKeyFilter,
    Target, TimeOffset, VarRef, WildcardKind,
};
use super::display::quote_ident_segments;
use super::duration::parse_duration;
use super::error::{ParseError, Position};
use super::lexer::{self, Keyword, Tok, Token};

/// Parentheses, calls and subqueries nest at most this deep, so that a hostile query cannot
/// exhaust the stack (influxql has no limit; no real query comes near it).
const MAX_DEPTH: usize = 32;
/// Binary operators in one expression, for the same reason (the tree is as deep as its longest
/// chain of operators).
const MAX_OPERATORS: usize = 256;

const ONLY_ORDER_BY_TIME: &str = "only ORDER BY time supported at this time";

pub(crate) struct Parser<'a> {
    src: &'a str,
    /// Byte offset after the last token consumed.
    pos: usize,
    /// The last token consumed was one after which influxql's scanner has read past the end.
    prev_eats_eof: bool,
    /// A look for a regex (influxql's `peekRune`) hit the end of the input, which also moves
    /// influxql's position of the end one character right, when it is scanned afterwards.
    eof_touched: bool,
    peeked: Option<Token>,
    depth: usize,
    /// The first error of the kind influxql's query compiler reports (GROUP BY dimensions): it
    /// is returned only if the whole query parses, as it would be in InfluxDB.
    deferred: Option<ParseError>,
}

impl<'a> Parser<'a> {
    pub(crate) fn new(src: &'a str) -> Parser<'a> {
        Parser {
            src,
            pos: 0,
            prev_eats_eof: false,
            eof_touched: false,
            peeked: None,
            depth: 0,
            deferred: None,
        }
    }

    /// `statement (; statement)*`, with empty statements and a trailing `;` allowed.
    pub(crate) fn query(mut self) -> Result<Vec<Statement>, ParseError> {
        let mut statements = Vec::new();
        let mut after_semicolon = true;
        loop {
            match self.peek().tok {
                Tok::Eof => break,
                Tok::Semicolon => {
                    self.next();
                    after_semicolon = true;
                }
                _ if !after_semicolon => {
                    let t = self.next();
                    return Err(self.expected(&t, &[";"]));
                }
                _ => {
                    statements.push(self.statement()?);
                    after_semicolon = false;
                }
            }
        }
        self.finish(statements)
    }

    /// One expression and nothing else.
    pub(crate) fn whole_expr(mut self) -> Result<Expr, ParseError> {
        let expr = self.expr()?;
        let t = self.next();
        if t.tok != Tok::Eof {
            return Err(self.expected(&t, &["EOF"]));
        }
        self.finish(expr)
    }

    fn finish<T>(self, value: T) -> Result<T, ParseError> {
        match self.deferred {
            Some(e) => Err(e),
            None => Ok(value),
        }
    }

    // ---- tokens

    fn peek(&mut self) -> &Token {
        let t = match self.peeked.take() {
            Some(t) => t,
            None => self.lex(),
        };
        self.peeked.insert(t)
    }

    fn next(&mut self) -> Token {
        let t = match self.peeked.take() {
            Some(t) => t,
            None => self.lex(),
        };
        self.pos = t.end;
        self.prev_eats_eof = t.eats_eof;
        t
    }

    /// Scans the next token. influxql fixes the position of the end of input when its scanner
    /// reads it, so a look for a regex moves it only when it comes first.
    fn lex(&self) -> Token {
        let mut t = lexer::lex(self.src, self.pos, self.prev_eats_eof);
        if t.tok == Tok::Eof {
            t.eats_eof |= self.eof_touched;
        }
        t
    }

    fn peek_keyword(&mut self) -> Option<Keyword> {
        match self.peek().tok {
            Tok::Keyword(k) => Some(k),
            _ => None,
        }
    }

    fn eat_keyword(&mut self, keyword: Keyword) -> bool {
        let found = self.peek_keyword() == Some(keyword);
        if found {
            self.next();
        }
        found
    }

    fn eat(&mut self, tok: &Tok) -> bool {
        let found = &self.peek().tok == tok;
        if found {
            self.next();
        }
        found
    }

    /// The next token is `tok` and follows the previous one without whitespace.
    fn peek_adjacent(&mut self, tok: &Tok) -> bool {
        let t = self.peek();
        &t.tok == tok && !t.ws_before
    }

    fn expect_keyword(&mut self, keyword: Keyword) -> Result<(), ParseError> {
        let t = self.next();
        if t.tok == Tok::Keyword(keyword) {
            Ok(())
        } else {
            Err(self.expected(&t, &[keyword.as_str()]))
        }
    }

    fn expect(&mut self, tok: &Tok) -> Result<(), ParseError> {
        let t = self.next();
        if &t.tok == tok {
            Ok(())
        } else {
            Err(self.expected(&t, &[tok.describe()]))
        }
    }

    fn position(&self, t: &Token) -> Position {
        let bump = t.tok == Tok::Eof && t.eats_eof;
        Position::of(self.src, t.pos, bump)
    }

    /// influxql's `found X, expected A, B at line L, char C`.
    fn expected(&self, t: &Token, expected: &[&str]) -> ParseError {
        let message = format!(
            "found {}, expected {}",
            t.tok.describe(),
            expected.join(", ")
        );
        ParseError::at(message, self.position(t))
    }

    /// The character right after the last token, past plain whitespace (what influxql's
    /// `peekRune` sees in the places where we use this).
    fn peek_char(&mut self, skip_whitespace: bool) -> Option<u8> {
        let b = self.src.as_bytes();
        let mut i = self.pos;
        while skip_whitespace && matches!(b.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            i += 1;
        }
        let c = b.get(i).copied();
        if c.is_none() {
            self.eof_touched = true;
        }
        c
    }

    fn nested<T>(
        &mut self,
        parse: impl FnOnce(&mut Self) -> Result<T, ParseError>,
    ) -> Result<T, ParseError> {
        if self.depth >= MAX_DEPTH {
            let t = self.peek().clone();
            return Err(ParseError::at(
                format!("query nested more than {MAX_DEPTH} levels deep"),
                self.position(&t),
            ));
        }
        self.depth += 1;
        let result = parse(self);
        self.depth -= 1;
        result
    }

    fn ident(&mut self) -> Result<String, ParseError> {
        let t = self.next();
        match t.tok {
            Tok::Ident(s) => Ok(s),
            _ => Err(self.expected(&t, &["identifier"])),
        }
    }

    fn ident_list(&mut self) -> Result<Vec<String>, ParseError> {
        let mut idents = vec![self.ident()?];
        while self.eat(&Tok::Comma) {
            idents.push(self.ident()?);
        }
        Ok(idents)
    }

    /// A regex literal, if one comes next (influxql's `parseRegex`).
    fn regex(&mut self) -> Result<Option<Regex>, ParseError> {
        let at = lexer::skip_blank(self.src, self.pos, self.prev_eats_eof).at;
        let b = self.src.as_bytes();
        match b.get(at) {
            None => {
                self.eof_touched = true;
                Ok(None)
            }
            Some(b'/') if b.get(at + 1) != Some(&b'*') => {
                // Like influxql, at the character before the `/`.
                let position = Position::of(self.src, lexer::char_before(self.src, at), false);
                let Some((pattern, end)) = lexer::regex(self.src, at) else {
                    return Err(ParseError::at("bad regex: missing closing /", position));
                };
                let re = Regex::new(&pattern)
                    .map_err(|e| ParseError::at(regex_error(&pattern, &e), position))?;
                self.pos = end;
                self.prev_eats_eof = false;
                self.peeked = None;
                Ok(Some(re))
            }
            _ => Ok(None),
        }
    }

    // ---- statements

    fn statement(&mut self) -> Result<Statement, ParseError> {
        let t = self.next();
        let start = t.start;
        match t.tok {
            Tok::Keyword(Keyword::Select) => Ok(Statement::Select(Box::new(self.select()?))),
            Tok::Keyword(Keyword::Show) => self.show(start),
            Tok::Keyword(Keyword::Delete) => Ok(Statement::Delete(self.delete_series()?)),
            Tok::Keyword(Keyword::Create) => self.create(start),
            Tok::Keyword(Keyword::Drop) => self.drop_(start),
            Tok::Keyword(Keyword::Explain) => self.unsupported("EXPLAIN", start),
            Tok::Keyword(Keyword::Grant) => self.unsupported("GRANT", start),
            Tok::Keyword(Keyword::Revoke) => self.unsupported("REVOKE", start),
            Tok::Keyword(Keyword::Alter) => {
                self.expect_keyword(Keyword::Retention)?;
                self.expect_keyword(Keyword::Policy)?;
                self.alter_retention_policy()
            }
            Tok::Keyword(Keyword::Set) => {
                self.expect_keyword(Keyword::Password)?;
                self.expect_keyword(Keyword::For)?;
                self.unsupported("SET PASSWORD", start)
            }
            Tok::Keyword(Keyword::Kill) => {
                self.expect_keyword(Keyword::Query)?;
                self.unsupported("KILL QUERY", start)
            }
            _ => Err(self.expected(
                &t,
                &[
                    "SELECT", "DELETE", "SHOW", "CREATE", "DROP", "EXPLAIN", "GRANT", "REVOKE",
                    "ALTER", "SET", "KILL",
                ],
            )),
        }
    }

    /// The rest of a statement Fieldline does not run, up to the next `;`.
    fn unsupported(&mut self, what: &'static str, start: usize) -> Result<Statement, ParseError> {
        let mut end = self.pos;
        loop {
            let t = self.peek();
            let division_at = match t.tok {
                Tok::Eof
                | Tok::Semicolon
                | Tok::Illegal(_)
                | Tok::BadString(_)
                | Tok::BadEscape(_) => break,
                Tok::Op(BinaryOp::Div) => Some(t.start),
                _ => None,
            };
            // A regex (`DROP SERIES FROM /cpu.*/`) may hold a `;`.
            if let Some((_, regex_end)) = division_at.and_then(|at| lexer::regex(self.src, at)) {
                (self.pos, self.prev_eats_eof, self.peeked) = (regex_end, false, None);
                end = regex_end;
                continue;
            }
            end = self.next().end;
        }
        Ok(Statement::Unsupported {
            what,
            text: self.src[start..end].to_string(),
        })
    }

    fn show(&mut self, start: usize) -> Result<Statement, ParseError> {
        let t = self.next();
        let Tok::Keyword(keyword) = t.tok else {
            return Err(self.show_expected(&t));
        };
        match keyword {
            Keyword::Continuous => {
                self.expect_keyword(Keyword::Queries)?;
                self.unsupported("SHOW CONTINUOUS QUERIES", start)
            }
            Keyword::Databases => Ok(Statement::ShowDatabases),
            Keyword::Diagnostics => self.unsupported("SHOW DIAGNOSTICS", start),
            Keyword::Field => {
                let t = self.next();
                match t.tok {
                    Tok::Keyword(Keyword::Key) => {
                        let exact = self.cardinality()?;
                        self.show_cardinality(Cardinality::FieldKey, exact)
                    }
                    Tok::Keyword(Keyword::Keys) => self.show_field_keys(),
                    _ => Err(self.expected(&t, &["KEY", "KEYS"])),
                }
            }
            Keyword::Grants => {
                self.expect_keyword(Keyword::For)?;
                self.unsupported("SHOW GRANTS", start)
            }
            Keyword::Measurement => {
                let t = self.next();
                match t.tok {
                    Tok::Keyword(Keyword::Exact) => {
                        self.expect_keyword(Keyword::Cardinality)?;
                        self.show_cardinality(Cardinality::Measurement, true)
                    }
                    Tok::Keyword(Keyword::Cardinality) => {
                        self.show_cardinality(Cardinality::Measurement, false)
                    }
                    _ => Err(self.expected(&t, &["EXACT", "CARDINALITY"])),
                }
            }
            Keyword::Measurements => self.show_measurements(),
            Keyword::Queries => self.unsupported("SHOW QUERIES", start),
            Keyword::Retention => {
                self.expect_keyword(Keyword::Policies)?;
                Ok(Statement::ShowRetentionPolicies(ShowRetentionPolicies {
                    database: self.on_database()?,
                }))
            }
            Keyword::Series => {
                // As in influxql, `SHOW SERIES EXACT` without CARDINALITY is `SHOW SERIES`.
                let exact = self.eat_keyword(Keyword::Exact);
                if self.eat_keyword(Keyword::Cardinality) {
                    return self.show_cardinality(Cardinality::Series, exact);
                }
                self.show_series()
            }
            Keyword::Shard => {
                self.expect_keyword(Keyword::Groups)?;
                self.unsupported("SHOW SHARD GROUPS", start)
            }
            Keyword::Shards => self.unsupported("SHOW SHARDS", start),
            Keyword::Stats => self.unsupported("SHOW STATS", start),
            Keyword::Subscriptions => self.unsupported("SHOW SUBSCRIPTIONS", start),
            Keyword::Tag => {
                let t = self.next();
                match t.tok {
                    Tok::Keyword(Keyword::Key) => {
                        let exact = self.cardinality()?;
                        self.show_cardinality(Cardinality::TagKey, exact)
                    }
                    Tok::Keyword(Keyword::Keys) => self.show_tag_keys(),
                    Tok::Keyword(Keyword::Values) => {
                        if self.eat_keyword(Keyword::Exact) {
                            self.expect_keyword(Keyword::Cardinality)?;
                            self.show_tag_values_cardinality(true)
                        } else if self.eat_keyword(Keyword::Cardinality) {
                            self.show_tag_values_cardinality(false)
                        } else {
                            self.show_tag_values()
                        }
                    }
                    _ => Err(self.expected(&t, &["KEY", "KEYS", "VALUES"])),
                }
            }
            Keyword::Users => self.unsupported("SHOW USERS", start),
            _ => Err(self.show_expected(&t)),
        }
    }

    fn show_expected(&self, t: &Token) -> ParseError {
        self.expected(
            t,
            &[
                "CONTINUOUS",
                "DATABASES",
                "DIAGNOSTICS",
                "FIELD",
                "GRANTS",
                "MEASUREMENT",
                "MEASUREMENTS",
                "QUERIES",
                "RETENTION",
                "SERIES",
                "SHARD",
                "SHARDS",
                "STATS",
                "SUBSCRIPTIONS",
                "TAG",
                "USERS",
            ],
        )
    }

    /// `[EXACT] CARDINALITY` after `SHOW FIELD KEY` or `SHOW TAG KEY`: whether EXACT.
    fn cardinality(&mut self) -> Result<bool, ParseError> {
        let is_exact = self.eat_keyword(Keyword::Exact);
        let t = self.next();
        if t.tok != Tok::Keyword(Keyword::Cardinality) {
            let expected: &[&str] = if is_exact {
                &["CARDINALITY"]
            } else {
                &["EXACT", "CARDINALITY"]
            };
            return Err(self.expected(&t, expected));
        }
        Ok(is_exact)
    }

    /// What follows `SHOW … [EXACT] CARDINALITY` (but `SHOW TAG VALUES`'): `[ON db] [FROM …]
    /// [WHERE …] [GROUP BY …] [LIMIT n] [OFFSET n]`.
    fn show_cardinality(
        &mut self,
        what: Cardinality,
        exact: bool,
    ) -> Result<Statement, ParseError> {
        let database = self.on_database()?;
        let from = self.opt_from()?;
        self.cardinality_tail(what, exact, database, from)
    }

    /// `SHOW TAG VALUES [EXACT] CARDINALITY [ON db] [FROM …] WITH KEY … [WHERE …] …`.
    fn show_tag_values_cardinality(&mut self, exact: bool) -> Result<Statement, ParseError> {
        let database = self.on_database()?;
        let from = self.opt_from()?;
        let key = self.with_key()?;
        self.cardinality_tail(Cardinality::TagValues(key), exact, database, from)
    }

    fn cardinality_tail(
        &mut self,
        what: Cardinality,
        exact: bool,
        database: Option<String>,
        from: Vec<Measurement>,
    ) -> Result<Statement, ParseError> {
        Ok(Statement::ShowCardinality(ShowCardinality {
            what,
            exact,
            database,
            from,
            condition: self.condition()?,
            group_by: self.dimensions()?,
            limit: self.limit(Keyword::Limit)?,
            offset: self.limit(Keyword::Offset)?,
        }))
    }

    fn create(&mut self, start: usize) -> Result<Statement, ParseError> {
        let t = self.next();
        let what = match t.tok {
            Tok::Keyword(Keyword::Continuous) => {
                self.expect_keyword(Keyword::Query)?;
                "CREATE CONTINUOUS QUERY"
            }
            Tok::Keyword(Keyword::Database) => return self.create_database(),
            Tok::Keyword(Keyword::User) => "CREATE USER",
            Tok::Keyword(Keyword::Retention) => {
                self.expect_keyword(Keyword::Policy)?;
                return self.create_retention_policy();
            }
            Tok::Keyword(Keyword::Subscription) => "CREATE SUBSCRIPTION",
            _ => {
                return Err(self.expected(
                    &t,
                    &[
                        "CONTINUOUS",
                        "DATABASE",
                        "USER",
                        "RETENTION",
                        "SUBSCRIPTION",
                    ],
                ))
            }
        };
        self.unsupported(what, start)
    }

    fn drop_(&mut self, start: usize) -> Result<Statement, ParseError> {
        let t = self.next();
        let what = match t.tok {
            Tok::Keyword(Keyword::Continuous) => {
                self.expect_keyword(Keyword::Query)?;
                "DROP CONTINUOUS QUERY"
            }
            Tok::Keyword(Keyword::Database) => return Ok(Statement::DropDatabase(self.ident()?)),
            Tok::Keyword(Keyword::Measurement) => {
                return Ok(Statement::DropMeasurement(self.ident()?))
            }
            Tok::Keyword(Keyword::Retention) => {
                self.expect_keyword(Keyword::Policy)?;
                let name = self.ident()?;
                self.expect_keyword(Keyword::On)?;
                let database = self.ident()?;
                return Ok(Statement::DropRetentionPolicy { name, database });
            }
            Tok::Keyword(Keyword::Series) => {
                return Ok(Statement::DropSeries(self.delete_series()?))
            }
            Tok::Keyword(Keyword::Shard) => "DROP SHARD",
            Tok::Keyword(Keyword::Subscription) => "DROP SUBSCRIPTION",
            Tok::Keyword(Keyword::User) => "DROP USER",
            _ => {
                return Err(self.expected(
                    &t,
                    &[
                        "CONTINUOUS",
                        "DATABASE",
                        "MEASUREMENT",
                        "RETENTION",
                        "SERIES",
                        "SHARD",
                        "SUBSCRIPTION",
                        "USER",
                    ],
                ))
            }
        };
        self.unsupported(what, start)
    }

    /// After `CREATE DATABASE` (influxql's `parseCreateDatabaseStatement`, as of 1.6).
    fn create_database(&mut self) -> Result<Statement, ParseError> {
        let name = self.ident()?;
        if !self.eat_keyword(Keyword::With) {
            return Ok(Statement::CreateDatabase(CreateDatabase {
                name,
                with: None,
            }));
        }
        let t = self.peek().clone();
        let options = [
            Keyword::Duration,
            Keyword::Name,
            Keyword::Replication,
            Keyword::Shard,
        ];
        if !options.iter().any(|&k| t.tok == Tok::Keyword(k)) {
            return Err(self.expected(&t, &["DURATION", "NAME", "REPLICATION", "SHARD"]));
        }
        let mut with = DatabasePolicy::default();
        if self.eat_keyword(Keyword::Duration) {
            with.duration = Some(self.policy_duration()?);
        }
        if self.eat_keyword(Keyword::Replication) {
            with.replication = Some(self.replication()?);
        }
        if self.eat_keyword(Keyword::Shard) {
            self.expect_keyword(Keyword::Duration)?;
            with.shard_duration = Some(self.policy_duration()?);
        }
        if self.eat_keyword(Keyword::Name) {
            with.name = Some(self.ident()?);
        }
        Ok(Statement::CreateDatabase(CreateDatabase {
            name,
            with: Some(with),
        }))
    }

    /// After `CREATE RETENTION POLICY` (influxql's `parseCreateRetentionPolicyStatement`).
    fn create_retention_policy(&mut self) -> Result<Statement, ParseError> {
        let name = self.ident()?;
        self.expect_keyword(Keyword::On)?;
        let database = self.ident()?;
        self.expect_keyword(Keyword::Duration)?;
        let duration = self.policy_duration()?;
        self.expect_keyword(Keyword::Replication)?;
        let replication = self.replication()?;
        let shard_duration = if self.eat_keyword(Keyword::Shard) {
            self.expect_keyword(Keyword::Duration)?;
            Some(self.shard_duration()?)
        } else {
            None
        };
        Ok(Statement::CreateRetentionPolicy(CreateRetentionPolicy {
            name,
            database,
            duration,
            replication,
            shard_duration,
            default: self.eat_keyword(Keyword::Default),
        }))
    }

    /// After `ALTER RETENTION POLICY` (influxql's `parseAlterRetentionPolicyStatement`, as of
    /// 1.6: no `FUTURE`/`PAST LIMIT`).
    fn alter_retention_policy(&mut self) -> Result<Statement, ParseError> {
        let t = self.next();
        let name = match t.tok {
            Tok::Keyword(Keyword::Default) => "default".to_owned(),
            Tok::Ident(name) => name,
            _ => return Err(self.expected(&t, &["identifier"])),
        };
        self.expect_keyword(Keyword::On)?;
        let mut s = AlterRetentionPolicy {
            name,
            database: self.ident()?,
            duration: None,
            replication: None,
            shard_duration: None,
            default: false,
        };
        let mut found: Vec<Keyword> = Vec::new();
        loop {
            let t = self.peek().clone();
            let keyword = match t.tok {
                Tok::Keyword(
                    k @ (Keyword::Duration
                    | Keyword::Replication
                    | Keyword::Shard
                    | Keyword::Default),
                ) => k,
                _ if found.is_empty() => {
                    self.next();
                    return Err(self.expected(&t, &["DURATION", "REPLICATION", "SHARD", "DEFAULT"]));
                }
                _ => break,
            };
            self.next();
            if found.contains(&keyword) {
                return Err(ParseError::at(
                    format!("found duplicate {} option", keyword.as_str()),
                    self.position(&t),
                ));
            }
            found.push(keyword);
            match keyword {
                Keyword::Duration => s.duration = Some(self.policy_duration()?),
                Keyword::Replication => s.replication = Some(self.replication()?),
                Keyword::Shard => {
                    self.expect_keyword(Keyword::Duration)?;
                    s.shard_duration = Some(self.shard_duration()?);
                }
                _ => s.default = true,
            }
        }
        Ok(Statement::AlterRetentionPolicy(s))
    }

    /// A retention policy's duration (influxql's `ParseDuration`): a duration literal, or `INF`
    /// (0).
    fn policy_duration(&mut self) -> Result<i64, ParseError> {
        let t = self.next();
        match &t.tok {
            Tok::Keyword(Keyword::Inf) => Ok(0),
            Tok::Duration(text) => {
                parse_duration(text).map_err(|e| ParseError::at(e, self.position(&t)))
            }
            _ => Err(self.expected(&t, &["duration"])),
        }
    }

    /// A shard group duration: a duration literal, not `INF`.
    fn shard_duration(&mut self) -> Result<i64, ParseError> {
        let t = self.peek().clone();
        if t.tok == Tok::Keyword(Keyword::Inf) {
            self.next();
            return Err(ParseError::at(
                "invalid duration INF for shard duration",
                self.position(&t),
            ));
        }
        self.policy_duration()
    }

    /// `REPLICATION n` (influxql's `ParseInt(1, math.MaxInt32)`).
    fn replication(&mut self) -> Result<u32, ParseError> {
        const MAX: i64 = i32::MAX as i64;
        let t = self.next();
        let Tok::Integer(text) = &t.tok else {
            return Err(self.expected(&t, &["integer"]));
        };
        let n: i64 = text.parse().map_err(|_| {
            ParseError::at(
                format!("strconv.Atoi: parsing {text:?}: value out of range"),
                self.position(&t),
            )
        })?;
        u32::try_from(n)
            .ok()
            .filter(|&n| (1..=MAX).contains(&i64::from(n)))
            .ok_or_else(|| {
                ParseError::at(
                    format!("invalid value {n}: must be 1 <= n <= {MAX}"),
                    self.position(&t),
                )
            })
    }

    fn show_measurements(&mut self) -> Result<Statement, ParseError> {
        let mut s = ShowMeasurements::default();
        if self.eat_keyword(Keyword::On) {
            s.database = Some(self.name_or_all()?);
            if self.eat(&Tok::Dot) {
                s.retention_policy = Some(self.name_or_all()?);
            }
        }
        if self.eat_keyword(Keyword::With) {
            self.expect_keyword(Keyword::Measurement)?;
            let t = self.next();
            if !matches!(t.tok, Tok::Op(BinaryOp::Eq | BinaryOp::EqRegex)) {
                return Err(self.expected(&t, &["=", "=~"]));
            }
            s.with_measurement = Some(self.measurement()?);
        }
        s.condition = self.condition()?;
        s.order_by = self.order_by()?;
        s.limit = self.limit(Keyword::Limit)?;
        s.offset = self.limit(Keyword::Offset)?;
        Ok(Statement::ShowMeasurements(s))
    }

    fn name_or_all(&mut self) -> Result<NameOrAll, ParseError> {
        let t = self.next();
        match t.tok {
            Tok::Ident(name) => Ok(NameOrAll::Name(name)),
            Tok::Op(BinaryOp::Mul) => Ok(NameOrAll::All),
            _ => Err(self.expected(&t, &["identifier or *"])),
        }
    }

    fn show_tag_keys(&mut self) -> Result<Statement, ParseError> {
        let database = self.on_database()?;
        let from = self.opt_from()?;
        let with_key = match self.peek_keyword() {
            Some(Keyword::With) => Some(self.with_key()?),
            _ => None,
        };
        Ok(Statement::ShowTagKeys(ShowTagKeys {
            database,
            from,
            with_key,
            condition: self.condition()?,
            order_by: self.order_by()?,
            limit: self.limit(Keyword::Limit)?,
            offset: self.limit(Keyword::Offset)?,
            slimit: self.limit(Keyword::Slimit)?,
            soffset: self.limit(Keyword::Soffset)?,
        }))
    }

    fn show_tag_values(&mut self) -> Result<Statement, ParseError> {
        Ok(Statement::ShowTagValues(ShowTagValues {
            database: self.on_database()?,
            from: self.opt_from()?,
            with_key: self.with_key()?,
            condition: self.condition()?,
            order_by: self.order_by()?,
            limit: self.limit(Keyword::Limit)?,
            offset: self.limit(Keyword::Offset)?,
        }))
    }

    /// `WITH KEY = k | != k | =~ /re/ | !~ /re/ | IN (k1, k2)`.
    fn with_key(&mut self) -> Result<TagKeyFilter, ParseError> {
        self.expect_keyword(Keyword::With)?;
        self.expect_keyword(Keyword::Key)?;
        let t = self.next();
        match t.tok {
            Tok::Keyword(Keyword::In) => {
                self.expect(&Tok::LParen)?;
                let keys = self.ident_list()?;
                self.expect(&Tok::RParen)?;
                Ok(TagKeyFilter::In(keys))
            }
            Tok::Op(BinaryOp::Eq) => Ok(TagKeyFilter::Eq(self.ident()?)),
            Tok::Op(BinaryOp::NotEq) => Ok(TagKeyFilter::NotEq(self.ident()?)),
            Tok::Op(op @ (BinaryOp::EqRegex | BinaryOp::NotEqRegex)) => {
                let re = self.required_regex()?;
                Ok(if op == BinaryOp::EqRegex {
                    TagKeyFilter::Regex(re)
                } else {
                    TagKeyFilter::NotRegex(re)
                })
            }
            _ => Err(self.expected(&t, &["IN", "=", "=~"])),
        }
    }

    fn required_regex(&mut self) -> Result<Regex, ParseError> {
        match self.regex()? {
            Some(re) => Ok(re),
            None => {
                let t = self.next();
                Err(self.expected(&t, &["regex"]))
            }
        }
    }

    fn show_field_keys(&mut self) -> Result<Statement, ParseError> {
        Ok(Statement::ShowFieldKeys(ShowFieldKeys {
            database: self.on_database()?,
            from: self.opt_from()?,
            order_by: self.order_by()?,
            limit: self.limit(Keyword::Limit)?,
            offset: self.limit(Keyword::Offset)?,
        }))
    }

    fn show_series(&mut self) -> Result<Statement, ParseError> {
        Ok(Statement::ShowSeries(ShowSeries {
            database: self.on_database()?,
            from: self.opt_from()?,
            condition: self.condition()?,
            order_by: self.order_by()?,
            limit: self.limit(Keyword::Limit)?,
            offset: self.limit(Keyword::Offset)?,
        }))
    }

    /// `[FROM …] [WHERE …]` of `DROP SERIES` and `DELETE`, one of them at least (influxql's
    /// `parseDropSeriesStatement`, `parseDeleteStatement`).
    fn delete_series(&mut self) -> Result<DeleteSeries, ParseError> {
        let t = self.peek().clone();
        let from = self.opt_from()?;
        let condition = self.condition()?;
        if from.is_empty() && condition.is_none() {
            return Err(self.expected(&t, &["FROM", "WHERE"]));
        }
        Ok(DeleteSeries { from, condition })
    }

    fn on_database(&mut self) -> Result<Option<String>, ParseError> {
        if self.eat_keyword(Keyword::On) {
            Ok(Some(self.ident()?))
        } else {
            Ok(None)
        }
    }

    fn opt_from(&mut self) -> Result<Vec<Measurement>, ParseError> {
        let mut from = Vec::new();
        if self.eat_keyword(Keyword::From) {
            loop {
                from.push(self.measurement()?);
                if !self.eat(&Tok::Comma) {
                    break;
                }
            }
        }
        Ok(from)
    }

    // ---- SELECT

    fn select(&mut self) -> Result<SelectStatement, ParseError> {
        let fields = self.fields()?;
        let into = self.target()?;
        self.expect_keyword(Keyword::From)?;
        let mut from = Vec::new();
        loop {
            from.push(self.source()?);
            if !self.eat(&Tok::Comma) {
                break;
            }
        }
        Ok(SelectStatement {
            fields,
            into,
            from,
            condition: self.condition()?,
            group_by: self.dimensions()?,
            fill: self.fill()?,
            order_by: self.order_by()?,
            limit: self.limit(Keyword::Limit)?,
            offset: self.limit(Keyword::Offset)?,
            slimit: self.limit(Keyword::Slimit)?,
            soffset: self.limit(Keyword::Soffset)?,
            tz: self.tz()?,
        })
    }

    fn fields(&mut self) -> Result<Vec<Field>, ParseError> {
        let mut fields = Vec::new();
        loop {
            fields.push(self.field()?);
            if !self.eat(&Tok::Comma) {
                return Ok(fields);
            }
        }
    }

    fn field(&mut self) -> Result<Field, ParseError> {
        let expr = match self.regex()? {
            Some(re) => Expr::Regex(re),
            None => {
                let first = self.peek().clone();
                let expr = self.expr()?;
                let mut bad = None;
                condition_op(&expr, &mut bad);
                if let Some(op) = bad {
                    let message = format!("invalid operator {} in SELECT clause", op.as_str());
                    return Err(ParseError::at(message, self.position(&first))
                        .with_trailer("; operator is intended for WHERE clause"));
                }
                expr
            }
        };
        let alias = if self.eat_keyword(Keyword::As) {
            Some(self.ident()?)
        } else {
            None
        };
        Ok(Field { expr, alias })
    }

    /// `INTO [db.][rp.]measurement` or `INTO [db.][rp.]:MEASUREMENT`.
    fn target(&mut self) -> Result<Option<Target>, ParseError> {
        if !self.eat_keyword(Keyword::Into) {
            return Ok(None);
        }
        let mut idents = self.segmented_idents()?;
        if idents.len() < 3 && self.peek_char(true) == Some(b':') {
            self.expect(&Tok::Colon)?;
            self.expect_keyword(Keyword::Measurement)?;
            idents.push(String::new());
        }
        let n = idents.len();
        let mut idents = idents.into_iter().map(non_empty);
        let mut take = || idents.next().flatten();
        let (database, retention_policy, measurement) = match n {
            1 => (None, None, take()),
            2 => (None, take(), take()),
            _ => (take(), take(), take()),
        };
        Ok(Some(Target {
            database,
            retention_policy,
            measurement,
        }))
    }

    /// `ident(.ident)*`, at most three segments, `db..m` giving an empty middle one
    /// (influxql's `parseSegmentedIdents`).
    fn segmented_idents(&mut self) -> Result<Vec<String>, ParseError> {
        let first = self.ident()?;
        self.segments_after(first)
    }

    fn segments_after(&mut self, first: String) -> Result<Vec<String>, ParseError> {
        let mut idents = vec![first];
        while self.peek_adjacent(&Tok::Dot) {
            self.next();
            match self.peek_char(false) {
                // A regex or `:MEASUREMENT` follows: the caller reads it.
                Some(b'/' | b':') => break,
                Some(b'.') => {
                    idents.push(String::new());
                    continue;
                }
                _ => idents.push(self.ident()?),
            }
        }
        if idents.len() > 3 {
            let message = format!("too many segments in {}", quote_ident_segments(&idents));
            return Err(ParseError::at(message, Position::START));
        }
        Ok(idents)
    }

    /// A `FROM` source of a SELECT: a measurement, a regex or a subquery.
    fn source(&mut self) -> Result<Source, ParseError> {
        if self.peek().tok == Tok::LParen {
            self.next();
            self.expect_keyword(Keyword::Select)?;
            let select = self.nested(|p| p.select())?;
            self.expect(&Tok::RParen)?;
            return Ok(Source::Subquery(Box::new(select)));
        }
        self.measurement().map(Source::Measurement)
    }

    /// `[db.][rp.]name` or `[db.][rp.]/regex/` (influxql's `parseSource`).
    fn measurement(&mut self) -> Result<Measurement, ParseError> {
        if let Some(re) = self.regex()? {
            return Ok(Measurement {
                database: None,
                retention_policy: None,
                name: MeasurementName::Regex(re),
            });
        }
        let idents = self.segmented_idents()?;
        let n = idents.len();
        let mut idents = idents.into_iter();
        let mut take = || idents.next().unwrap_or_default();
        if n == 3 {
            return Ok(Measurement {
                database: non_empty(take()),
                retention_policy: non_empty(take()),
                name: MeasurementName::Name(take()),
            });
        }
        // As in influxql, a regex may follow the segments, even after whitespace
        // (`FROM rp /re/` reads from the regex in retention policy `rp`).
        let re = self.regex()?;
        let (database, retention_policy, name) = match (n, re) {
            (1, Some(re)) => (None, non_empty(take()), MeasurementName::Regex(re)),
            (1, None) => (None, None, MeasurementName::Name(take())),
            (_, Some(re)) => (
                non_empty(take()),
                non_empty(take()),
                MeasurementName::Regex(re),
            ),
            (_, None) => (None, non_empty(take()), MeasurementName::Name(take())),
        };
        Ok(Measurement {
            database,
            retention_policy,
            name,
        })
    }

    fn condition(&mut self) -> Result<Option<Expr>, ParseError> {
        if self.eat_keyword(Keyword::Where) {
            Ok(Some(self.expr()?))
        } else {
            Ok(None)
        }
    }

    /// `GROUP BY`. influxql accepts any expression here and leaves the checks to its query
    /// compiler; we make the same checks, with the same messages, and report them once the
    /// whole query has parsed.
    fn dimensions(&mut self) -> Result<Vec<Dimension>, ParseError> {
        if !self.eat_keyword(Keyword::Group) {
            return Ok(Vec::new());
        }
        self.expect_keyword(Keyword::By)?;
        let mut raw = Vec::new();
        loop {
            raw.push(match self.regex()? {
                Some(re) => Expr::Regex(re),
                None => self.expr()?,
            });
            if !self.eat(&Tok::Comma) {
                break;
            }
        }
        Ok(typed_dimensions(raw))
    }

    fn fill(&mut self) -> Result<Fill, ParseError> {
        if !matches!(&self.peek().tok, Tok::Ident(s) if s.eq_ignore_ascii_case("fill")) {
            return Ok(Fill::Null);
        }
        let Expr::Call { args, .. } = self.expr()? else {
            return Err(ParseError::plain("fill must be a function call"));
        };
        let [arg] = args.as_slice() else {
            return Err(ParseError::plain(
                "fill requires an argument, e.g.: 0, null, none, previous, linear",
            ));
        };
        Ok(match arg.to_string().as_str() {
            "null" => Fill::Null,
            "none" => Fill::None,
            "previous" => Fill::Previous,
            "linear" => Fill::Linear,
            _ => match arg {
                Expr::Integer(n) => Fill::Integer(*n),
                Expr::Number(n) => Fill::Float(*n),
                _ => return Err(ParseError::plain("expected number argument in fill()")),
            },
        })
    }

    /// `ORDER BY time [ASC|DESC]` or `ORDER BY ASC|DESC`: InfluxDB sorts by time only.
    fn order_by(&mut self) -> Result<Option<Order>, ParseError> {
        if !self.eat_keyword(Keyword::Order) {
            return Ok(None);
        }
        self.expect_keyword(Keyword::By)?;
        let t = self.next();
        let order = match &t.tok {
            Tok::Keyword(Keyword::Asc) => Order::Asc,
            Tok::Keyword(Keyword::Desc) => Order::Desc,
            Tok::Ident(name) => {
                let order = self.direction();
                if name != "time" {
                    return Err(ParseError::plain(ONLY_ORDER_BY_TIME));
                }
                order
            }
            _ => return Err(self.expected(&t, &["identifier", "ASC", "DESC"])),
        };
        if self.eat(&Tok::Comma) {
            self.ident()?;
            return Err(ParseError::plain(ONLY_ORDER_BY_TIME));
        }
        Ok(Some(order))
    }

    fn direction(&mut self) -> Order {
        if self.eat_keyword(Keyword::Desc) {
            Order::Desc
        } else {
            self.eat_keyword(Keyword::Asc);
            Order::Asc
        }
    }

    /// `LIMIT n` and the like. influxql stores 0 as "none", and so do we.
    fn limit(&mut self, keyword: Keyword) -> Result<Option<u64>, ParseError> {
        if !self.eat_keyword(keyword) {
            return Ok(None);
        }
        let t = self.next();
        let Tok::Integer(text) = &t.tok else {
            return Err(self.expected(&t, &["integer"]));
        };
        // influxql ignores the overflow error and keeps the largest int64.
        let n = text.parse::<u64>().map_or(I64_MAX, |n| n.min(I64_MAX));
        Ok((n > 0).then_some(n))
    }

    fn tz(&mut self) -> Result<Option<String>, ParseError> {
        if !matches!(&self.peek().tok, Tok::Ident(s) if s.eq_ignore_ascii_case("tz")) {
            return Ok(None);
        }
        let Expr::Call { mut args, .. } = self.expr()? else {
            return Err(ParseError::plain("tz must be a function call"));
        };
        if args.len() != 1 {
            return Err(ParseError::plain("tz requires exactly one argument"));
        }
        match args.pop() {
            Some(Expr::String(zone)) => Ok(Some(zone)),
            _ => Err(ParseError::plain("expected string argument in tz()")),
        }
    }

    // ---- expressions

    /// influxql's `ParseExpr`: operators by precedence, equal precedence grouping to the left.
    pub(crate) fn expr(&mut self) -> Result<Expr, ParseError> {
        let mut root = self.unary()?;
        let mut operators = 0;
        loop {
            let op = match self.peek().tok {
                Tok::Op(op) => op,
                Tok::Keyword(Keyword::And) => BinaryOp::And,
                Tok::Keyword(Keyword::Or) => BinaryOp::Or,
                Tok::Keyword(Keyword::In) => BinaryOp::In,
                _ => return Ok(root),
            };
            let t = self.next();
            if operators == MAX_OPERATORS {
                return Err(ParseError::at(
                    format!("expression has more than {MAX_OPERATORS} operators"),
                    self.position(&t),
                ));
            }
            operators += 1;
            let rhs = if matches!(op, BinaryOp::EqRegex | BinaryOp::NotEqRegex) {
                Expr::Regex(self.required_regex()?)
            } else {
                self.unary()?
            };
            root = insert(root, op, rhs);
        }
    }

    /// influxql's `parseUnaryExpr`: an operand.
    fn unary(&mut self) -> Result<Expr, ParseError> {
        if self.eat(&Tok::LParen) {
            let expr = self.nested(|p| p.expr())?;
            self.expect(&Tok::RParen)?;
            return Ok(Expr::Paren(Box::new(expr)));
        }
        let t = self.next();
        match &t.tok {
            Tok::Ident(name) => {
                let name = name.clone();
                if self.peek_adjacent(&Tok::LParen) {
                    self.next();
                    return self.nested(|p| p.call(name));
                }
                self.var_ref(name).map(Expr::VarRef)
            }
            Tok::Keyword(Keyword::Distinct) => {
                let next = self.peek().clone();
                if next.tok == Tok::LParen && !next.ws_before {
                    self.next();
                    return self.nested(|p| p.call("distinct".into()));
                }
                if !next.ws_before {
                    return Err(self.expected(&next, &["(", "identifier"]));
                }
                self.ident().map(Expr::Distinct)
            }
            Tok::Str(s) => Ok(Expr::String(s.clone())),
            Tok::Number(text) => text
                .parse()
                .map(Expr::Number)
                .map_err(|_| ParseError::at("unable to parse number", self.position(&t))),
            Tok::Integer(text) => match (text.parse::<i64>(), text.parse::<u64>()) {
                (Ok(n), _) => Ok(Expr::Integer(n)),
                (_, Ok(n)) => Ok(Expr::Unsigned(n)),
                _ => Err(ParseError::at("unable to parse integer", self.position(&t))),
            },
            Tok::Keyword(Keyword::True) => Ok(Expr::Boolean(true)),
            Tok::Keyword(Keyword::False) => Ok(Expr::Boolean(false)),
            Tok::Duration(text) => parse_duration(text)
                .map(Expr::Duration)
                .map_err(ParseError::plain),
            Tok::Op(BinaryOp::Mul) => {
                if !self.peek_adjacent(&Tok::DoubleColon) {
                    return Ok(Expr::Wildcard(WildcardKind::All));
                }
                self.next();
                let t = self.next();
                match t.tok {
                    Tok::Keyword(Keyword::Field) => Ok(Expr::Wildcard(WildcardKind::Fields)),
                    Tok::Keyword(Keyword::Tag) => Ok(Expr::Wildcard(WildcardKind::Tags)),
                    _ => Err(self.expected(&t, &["field", "tag"])),
                }
            }
            Tok::BoundParam(param) => Err(ParseError::plain(match &param[1..] {
                "" => "empty bound parameter".to_string(),
                name => format!("missing parameter: {name}"),
            })),
            Tok::Op(sign @ (BinaryOp::Add | BinaryOp::Sub)) => {
                let negative = *sign == BinaryOp::Sub;
                let next = self.peek();
                if !matches!(
                    next.tok,
                    Tok::Number(_)
                        | Tok::Integer(_)
                        | Tok::Duration(_)
                        | Tok::LParen
                        | Tok::Ident(_)
                ) {
                    let next = self.next();
                    return Err(self.expected(&next, &["identifier", "number", "duration", "("]));
                }
                let operand = self.nested(|p| p.unary())?;
                Ok(match operand {
                    Expr::Number(n) if negative => Expr::Number(-n),
                    Expr::Integer(n) if negative => Expr::Integer(-n),
                    Expr::Duration(n) if negative => Expr::Duration(-n),
                    Expr::Unsigned(n) if negative => match 0i64.checked_sub_unsigned(n) {
                        Some(n) => Expr::Integer(n),
                        None => {
                            return Err(ParseError::plain(format!(
                                "constant -{n} underflows int64"
                            )))
                        }
                    },
                    e @ (Expr::VarRef(_) | Expr::Call { .. } | Expr::Paren(_)) => Expr::Binary {
                        op: BinaryOp::Mul,
                        lhs: Box::new(Expr::Integer(if negative { -1 } else { 1 })),
                        rhs: Box::new(e),
                    },
                    e => e,
                })
            }
            _ => Err(self.expected(&t, &["identifier", "string", "number", "bool"])),
        }
    }

    /// A call's arguments, after `name(`.
    fn call(&mut self, name: String) -> Result<Expr, ParseError> {
        let name = name.to_lowercase();
        let mut args = Vec::new();
        loop {
            match self.regex()? {
                Some(re) => args.push(Expr::Regex(re)),
                None if args.is_empty() && self.eat(&Tok::RParen) => {
                    return Ok(Expr::Call { name, args })
                }
                None => args.push(self.expr()?),
            }
            if !self.eat(&Tok::Comma) {
                break;
            }
        }
        self.expect(&Tok::RParen)?;
        Ok(Expr::Call { name, args })
    }

    /// A field or tag reference whose first identifier has been read, with its `::type`.
    fn var_ref(&mut self, first: String) -> Result<VarRef, ParseError> {
        let name = self.segments_after(first)?.join(".");
        if !self.peek_adjacent(&Tok::DoubleColon) {
            return Ok(VarRef {
                name,
                data_type: None,
            });
        }
        self.next();
        let t = self.next();
        let data_type = match &t.tok {
            Tok::Ident(s) => match s.to_ascii_lowercase().as_str() {
                "float" => DataType::Float,
                "integer" => DataType::Integer,
                "unsigned" => DataType::Unsigned,
                "string" => DataType::String,
                "boolean" => DataType::Boolean,
                _ => {
                    return Err(self.expected(
                        &t,
                        &[
                            "float", "integer", "unsigned", "string", "boolean", "field", "tag",
                        ],
                    ))
                }
            },
            Tok::Keyword(Keyword::Field) => DataType::Field,
            Tok::Keyword(Keyword::Tag) => DataType::Tag,
            _ => {
                return Err(self.expected(
                    &t,
                    &["float", "integer", "string", "boolean", "field", "tag"],
                ))
            }
        };
        Ok(VarRef {
            name,
            data_type: Some(data_type),
        })
    }
}

const I64_MAX: u64 = i64::MAX as u64;

fn non_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

/// Adds `op rhs` to the tree `node` the way influxql's `ParseExpr` does: down the right edge
/// while the operators there bind less tightly than `op`.
fn insert(node: Expr, op: BinaryOp, rhs: Expr) -> Expr {
    match node {
        Expr::Binary {
            op: node_op,
            lhs,
            rhs: node_rhs,
        } if node_op.precedence() < op.precedence() => Expr::Binary {
            op: node_op,
            lhs,
            rhs: Box::new(insert(*node_rhs, op, rhs)),
        },
        node => Expr::Binary {
            op,
            lhs: Box::new(node),
            rhs: Box::new(rhs),
        },
    }
}

/// The operator influxql's `validateField` reports in a field: the last condition operator
/// found, not looking inside one already found.
fn condition_op(expr: &Expr, found: &mut Option<BinaryOp>) {
    match expr {
        Expr::Binary { op, .. } if op.is_condition() => *found = Some(*op),
        Expr::Binary { lhs, rhs, .. } => {
            condition_op(lhs, found);
            condition_op(rhs, found);
        }
        Expr::Call { args, .. } => args.iter().for_each(|a| condition_op(a, found)),
        Expr::Paren(e) => condition_op(e, found),
        _ => {}
    }
}

/// The checks of influxql's query compiler (`validateDimensions`), with its messages. InfluxDB
/// reports them for the statement, not as parse errors, so a dimension that fails one is kept
/// as [`Dimension::Invalid`] for the engine to report (as it reports `multiple time dimensions
/// not allowed`).
fn typed_dimensions(raw: Vec<Expr>) -> Vec<Dimension> {
    raw.into_iter()
        .map(|expr| {
            typed_dimension(&expr).unwrap_or_else(|reason| Dimension::Invalid { expr, reason })
        })
        .collect()
}

fn typed_dimension(expr: &Expr) -> Result<Dimension, String> {
    match expr.clone() {
        Expr::VarRef(v) if v.name.eq_ignore_ascii_case("time") => {
            Err("time() is a function and expects at least one argument".into())
        }
        Expr::VarRef(v) => Ok(Dimension::Tag(v)),
        Expr::Wildcard(_) => Ok(Dimension::Wildcard),
        Expr::Regex(re) => Ok(Dimension::Regex(re)),
        Expr::Call { name, args } => {
            if name != "time" {
                return Err("only time() calls allowed in dimensions".into());
            }
            let (interval, offset) = match args.as_slice() {
                [interval] => (interval, None),
                [interval, offset] => (interval, Some(offset)),
                _ => return Err("time dimension expected 1 or 2 arguments".into()),
            };
            let Expr::Duration(interval) = *interval else {
                return Err("time dimension must have duration argument".into());
            };
            let offset = match offset {
                None => None,
                Some(Expr::Duration(d)) => Some(TimeOffset::Duration(*d)),
                Some(Expr::Call { name, args }) if name == "now" && args.is_empty() => {
                    Some(TimeOffset::Now)
                }
                Some(Expr::Call { name, .. }) if name == "now" => {
                    return Err("time dimension offset now() function requires no arguments".into())
                }
                Some(Expr::Call { .. }) => {
                    return Err("time dimension offset function must be now()".into())
                }
                Some(_) => return Err("time dimension offset must be duration or now()".into()),
            };
            Ok(Dimension::Time { interval, offset })
        }
        _ => Err("only time and tag dimensions allowed".into()),
    }
}

/// influxql reports Go's `regexp` errors, e.g. ``error parsing regexp: missing closing ]: `[` ``:
/// the reason in RE2's words and the offending part of the pattern. The `regex` crate's common
/// reasons are translated, with the part its caret line points at; others keep its words.
fn regex_error(pattern: &str, e: &regex::Error) -> String {
    let regex::Error::Syntax(text) = e else {
        return format!("error parsing regexp: {e}: `{pattern}`");
    };
    let mut lines = text.lines();
    let reason = lines
        .next_back()
        .and_then(|l| l.strip_prefix("error: "))
        .unwrap_or(text);
    // The caret line, under the pattern indented by four spaces: `    ^^`.
    let (skip, len) = lines
        .next_back()
        .and_then(|line| {
            let indented = line.strip_prefix("    ")?;
            let carets = indented.trim_start_matches(' ');
            let len = carets.chars().take_while(|&c| c == '^').count();
            Some((indented.len() - carets.len(), len))
        })
        .unwrap_or((0, pattern.chars().count()));
    let span: String = pattern.chars().skip(skip).take(len).collect();
    let from_span: String = pattern.chars().skip(skip).collect();
    let (reason, expr) = match reason {
        "unclosed character class" => ("missing closing ]", from_span.as_str()),
        "unclosed group" => ("missing closing )", pattern),
        "unopened group" => ("unexpected )", pattern),
        "repetition operator missing expression" => {
            ("missing argument to repetition operator", span.as_str())
        }
        "unrecognized escape sequence" => ("invalid escape sequence", span.as_str()),
        r if r.starts_with("invalid character class range") => {
            ("invalid character class range", span.as_str())
        }
        r if r.starts_with("invalid repetition count range") => {
            ("invalid repeat count", span.as_str())
        }
        r if r.starts_with("incomplete escape sequence") => {
            ("trailing backslash at end of expression", "")
        }
        r => (r, pattern),
    };
    format!("error parsing regexp: {reason}: `{expr}`")
}
