//! The scanner: text to tokens, one at a time and on demand, because whether `/` starts a regex
//! or is a division depends on where the parser is (as with influxql's scanner).

use super::ast::BinaryOp;

/// A token, with what influxql's `tokstr` prints for it in `found …` (see [`Tok::describe`]).
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Tok {
    Eof,
    /// A character that starts no token, or an unterminated `/*` comment (empty text).
    Illegal(String),
    /// An unterminated quoted string or identifier: the text read so far.
    BadString(String),
    /// An unknown escape in a quoted string or identifier, e.g. `\q`.
    BadEscape(String),
    /// An identifier, unquoted or double-quoted (unescaped).
    Ident(String),
    Keyword(Keyword),
    /// `$name`, with the `$`.
    BoundParam(String),
    /// A number with a decimal point, as written (`1.5`, `.5`).
    Number(String),
    Integer(String),
    Duration(String),
    /// A single-quoted string, unescaped.
    Str(String),
    /// A symbol operator; `AND`, `OR` and `IN` are keywords.
    Op(BinaryOp),
    LParen,
    RParen,
    Comma,
    Colon,
    DoubleColon,
    Semicolon,
    Dot,
}

impl Tok {
    /// What influxql prints for the token in `found …`: its text, or its name when it has none.
    pub(crate) fn describe(&self) -> &str {
        fn or<'a>(text: &'a str, name: &'a str) -> &'a str {
            if text.is_empty() {
                name
            } else {
                text
            }
        }
        match self {
            Tok::Eof => "EOF",
            Tok::Illegal(s) => or(s, "ILLEGAL"),
            Tok::BadString(s) => or(s, "BADSTRING"),
            Tok::BadEscape(s) => or(s, "BADESCAPE"),
            Tok::Ident(s) => or(s, "IDENT"),
            Tok::Keyword(k) => k.as_str(),
            Tok::BoundParam(s) | Tok::Number(s) | Tok::Integer(s) | Tok::Duration(s) => s,
            Tok::Str(s) => or(s, "STRING"),
            Tok::Op(op) => op.as_str(),
            Tok::LParen => "(",
            Tok::RParen => ")",
            Tok::Comma => ",",
            Tok::Colon => ":",
            Tok::DoubleColon => "::",
            Tok::Semicolon => ";",
            Tok::Dot => ".",
        }
    }
}

/// A token and where it is.
#[derive(Clone, Debug)]
pub(crate) struct Token {
    pub(crate) tok: Tok,
    /// Byte offset of its first character.
    pub(crate) start: usize,
    /// Byte offset just after it.
    pub(crate) end: usize,
    /// Byte offset an error about it points at: `start`, except for a bad escape (the escaped
    /// character, as influxql reports it).
    pub(crate) pos: usize,
    /// Whitespace or a comment comes right before it.
    pub(crate) ws_before: bool,
    /// influxql's scanner has read past the end of the input when it returns this token: true
    /// for an unquoted identifier or keyword that ends the input and, on [`Tok::Eof`], when the
    /// input ends with one, with whitespace or with a `--` comment. influxql then reports the
    /// end of input one character further, and so do we.
    pub(crate) eats_eof: bool,
}

macro_rules! keywords {
    ($($variant:ident => $text:literal,)*) => {
        /// influxql's keywords: reserved, so a field called `select` must be written `"select"`.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub(crate) enum Keyword { $($variant,)* }

        impl Keyword {
            #[cfg(test)]
            pub(crate) const ALL: &'static [Keyword] = &[$(Keyword::$variant,)*];

            pub(crate) fn as_str(self) -> &'static str {
                match self { $(Keyword::$variant => $text,)* }
            }

            /// The keyword spelled `upper` (in capitals).
            fn from_upper(upper: &str) -> Option<Keyword> {
                match upper {
                    $($text => Some(Keyword::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

keywords! {
    All => "ALL", Alter => "ALTER", Analyze => "ANALYZE", And => "AND", Any => "ANY", As => "AS",
    Asc => "ASC", Begin => "BEGIN", By => "BY", Cardinality => "CARDINALITY", Create => "CREATE",
    Continuous => "CONTINUOUS", Database => "DATABASE", Databases => "DATABASES",
    Default => "DEFAULT", Delete => "DELETE", Desc => "DESC", Destinations => "DESTINATIONS",
    Diagnostics => "DIAGNOSTICS", Distinct => "DISTINCT", Drop => "DROP", Duration => "DURATION",
    End => "END", Every => "EVERY", Exact => "EXACT", Explain => "EXPLAIN", False => "FALSE",
    Field => "FIELD", For => "FOR", From => "FROM", Grant => "GRANT", Grants => "GRANTS",
    Group => "GROUP", Groups => "GROUPS", In => "IN", Inf => "INF", Insert => "INSERT",
    Into => "INTO", Key => "KEY", Keys => "KEYS", Kill => "KILL", Limit => "LIMIT",
    Measurement => "MEASUREMENT", Measurements => "MEASUREMENTS", Name => "NAME",
    Offset => "OFFSET", On => "ON", Or => "OR", Order => "ORDER", Password => "PASSWORD",
    Policy => "POLICY", Policies => "POLICIES", Privileges => "PRIVILEGES", Queries => "QUERIES",
    Query => "QUERY", Read => "READ", Replication => "REPLICATION", Resample => "RESAMPLE",
    Retention => "RETENTION", Revoke => "REVOKE", Select => "SELECT", Series => "SERIES",
    Set => "SET", Show => "SHOW", Shard => "SHARD", Shards => "SHARDS", Slimit => "SLIMIT",
    Soffset => "SOFFSET", Stats => "STATS", Subscription => "SUBSCRIPTION",
    Subscriptions => "SUBSCRIPTIONS", Tag => "TAG", To => "TO", True => "TRUE", User => "USER",
    Users => "USERS", Values => "VALUES", Where => "WHERE", With => "WITH", Write => "WRITE",
}

impl Keyword {
    /// The keyword spelled `word`, in any case.
    pub(crate) fn lookup(word: &str) -> Option<Keyword> {
        // The longest keyword has 13 letters; capitalized on the stack, then one `match`.
        let mut buf = [0u8; 16];
        let upper = buf.get_mut(..word.len())?;
        upper.copy_from_slice(word.as_bytes());
        upper.make_ascii_uppercase();
        // ASCII capitals of a `str` are still UTF-8.
        Keyword::from_upper(std::str::from_utf8(upper).ok()?)
    }
}

pub(crate) fn is_ident_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// What comes before the next token.
pub(crate) struct Blank {
    /// Where the next token starts.
    pub(crate) at: usize,
    pub(crate) ws: bool,
    pub(crate) eats_eof: bool,
}

/// Skips whitespace and comments from `at`. An unterminated `/*` is left for [`lex`], which
/// reports it. `prev_eats_eof` is the previous token's [`Token::eats_eof`].
pub(crate) fn skip_blank(src: &str, mut at: usize, prev_eats_eof: bool) -> Blank {
    let b = src.as_bytes();
    let (mut ws, mut eats_eof) = (false, prev_eats_eof);
    loop {
        match b.get(at) {
            Some(b' ' | b'\t' | b'\n' | b'\r') => {
                while matches!(b.get(at), Some(b' ' | b'\t' | b'\n' | b'\r')) {
                    at += 1;
                }
                eats_eof = at == b.len();
            }
            Some(b'-') if b.get(at + 1) == Some(&b'-') => match src[at..].find(['\n', '\r']) {
                Some(n) => {
                    at += n + 1;
                    if b[at - 1] == b'\r' && b.get(at) == Some(&b'\n') {
                        at += 1;
                    }
                    eats_eof = false;
                }
                None => (at, eats_eof) = (b.len(), true),
            },
            Some(b'/') if b.get(at + 1) == Some(&b'*') => match src[at + 2..].find("*/") {
                Some(n) => (at, eats_eof) = (at + 2 + n + 2, false),
                None => break,
            },
            _ => break,
        }
        ws = true;
    }
    Blank { at, ws, eats_eof }
}

/// Scans the token after `at` (skipping whitespace and comments).
pub(crate) fn lex(src: &str, at: usize, prev_eats_eof: bool) -> Token {
    let blank = skip_blank(src, at, prev_eats_eof);
    let start = blank.at;
    let token = |tok: Tok, end: usize| Token {
        tok,
        start,
        end,
        pos: start,
        ws_before: blank.ws,
        eats_eof: false,
    };
    let b = src.as_bytes();
    let Some(c) = src[start..].chars().next() else {
        return Token {
            eats_eof: blank.eats_eof,
            ..token(Tok::Eof, start)
        };
    };
    let next = b.get(start + 1).copied();
    let op = |op: BinaryOp, len: usize| token(Tok::Op(op), start + len);
    match c {
        'a'..='z' | 'A'..='Z' | '_' => {
            let end = start + b[start..].iter().take_while(|&&c| is_ident_char(c)).count();
            if b.get(end) == Some(&b'"') {
                // influxql's quirk: `abc"def"` is the identifier `def`.
                return quoted(src, end, '"', Tok::Ident, start, blank.ws);
            }
            let word = &src[start..end];
            let tok = Keyword::lookup(word).map_or_else(|| Tok::Ident(word.into()), Tok::Keyword);
            Token {
                eats_eof: end == b.len(),
                ..token(tok, end)
            }
        }
        '"' => quoted(src, start, '"', Tok::Ident, start, blank.ws),
        '\'' => quoted(src, start, '\'', Tok::Str, start, blank.ws),
        '0'..='9' => number(src, start, blank.ws),
        '.' if next.is_some_and(|c| c.is_ascii_digit()) => number(src, start, blank.ws),
        '.' => token(Tok::Dot, start + 1),
        '$' => {
            let name_end = start
                + 1
                + b[start + 1..]
                    .iter()
                    .take_while(|&&c| is_ident_char(c))
                    .count();
            if b.get(name_end) == Some(&b'"') {
                let mut t = quoted(src, name_end, '"', Tok::BoundParam, start, blank.ws);
                if let Tok::BoundParam(name) | Tok::BadString(name) = &mut t.tok {
                    name.insert(0, '$');
                }
                return t;
            }
            token(Tok::BoundParam(src[start..name_end].into()), name_end)
        }
        '+' => op(BinaryOp::Add, 1),
        '-' => op(BinaryOp::Sub, 1),
        '*' => op(BinaryOp::Mul, 1),
        // An unterminated `/*`, which influxql reports as `ILLEGAL`.
        '/' if next == Some(b'*') => token(Tok::Illegal(String::new()), b.len()),
        '/' => op(BinaryOp::Div, 1),
        '%' => op(BinaryOp::Mod, 1),
        '&' => op(BinaryOp::BitAnd, 1),
        '|' => op(BinaryOp::BitOr, 1),
        '^' => op(BinaryOp::BitXor, 1),
        '=' if next == Some(b'~') => op(BinaryOp::EqRegex, 2),
        '=' => op(BinaryOp::Eq, 1),
        '!' if next == Some(b'=') => op(BinaryOp::NotEq, 2),
        '!' if next == Some(b'~') => op(BinaryOp::NotEqRegex, 2),
        '>' if next == Some(b'=') => op(BinaryOp::GtEq, 2),
        '>' => op(BinaryOp::Gt, 1),
        '<' if next == Some(b'=') => op(BinaryOp::LtEq, 2),
        '<' if next == Some(b'>') => op(BinaryOp::NotEq, 2),
        '<' => op(BinaryOp::Lt, 1),
        '(' => token(Tok::LParen, start + 1),
        ')' => token(Tok::RParen, start + 1),
        ',' => token(Tok::Comma, start + 1),
        ';' => token(Tok::Semicolon, start + 1),
        ':' if next == Some(b':') => token(Tok::DoubleColon, start + 2),
        ':' => token(Tok::Colon, start + 1),
        c => token(Tok::Illegal(c.into()), start + c.len_utf8()),
    }
}

/// A quoted string or identifier starting at the quote at `at`, with influxql's escapes `\n`,
/// `\\`, `\"` and `\'`. A line break or the end of input before the closing quote makes a
/// [`Tok::BadString`].
fn quoted(
    src: &str,
    at: usize,
    quote: char,
    make: impl FnOnce(String) -> Tok,
    start: usize,
    ws_before: bool,
) -> Token {
    let token = |tok: Tok, end: usize, pos: usize| Token {
        tok,
        start,
        end,
        pos,
        ws_before,
        eats_eof: false,
    };
    // influxql reports a string, and an unterminated string or identifier, at the character
    // before the opening quote (its scanner's `curr()` after an `unread()`).
    let before = char_before(src, at);
    let ok_pos = if quote == '\'' { before } else { start };
    let mut out = String::new();
    let mut chars = src[at + 1..].char_indices().map(|(i, c)| (at + 1 + i, c));
    while let Some((i, c)) = chars.next() {
        match c {
            c if c == quote => return token(make(out), i + 1, ok_pos),
            '\n' | '\r' => return token(Tok::BadString(out), i, before),
            '\\' => match chars.next() {
                Some((_, 'n')) => out.push('\n'),
                Some((_, c @ ('\\' | '"' | '\''))) => out.push(c),
                Some((j, c)) => {
                    return token(Tok::BadEscape(format!("\\{c}")), j + c.len_utf8(), j)
                }
                None => break,
            },
            c => out.push(c),
        }
    }
    token(Tok::BadString(out), src.len(), before)
}

/// The offset of the character before `at` (a `\r\n` counting as one), or 0: where influxql
/// reports strings and regexes.
pub(crate) fn char_before(src: &str, at: usize) -> usize {
    let Some(c) = src[..at].chars().next_back() else {
        return 0;
    };
    let prev = at - c.len_utf8();
    if c == '\n' && prev > 0 && src.as_bytes()[prev - 1] == b'\r' {
        prev - 1
    } else {
        prev
    }
}

/// A number, integer or duration starting at `at` (a digit, or `.` before a digit), read as
/// influxql's scanner reads it: `1.` is the number `1` (the dot is dropped), `1e3` is a (bad)
/// duration, `10.5h` is the number `10.5` followed by the identifier `h`.
fn number(src: &str, at: usize, ws_before: bool) -> Token {
    let b = src.as_bytes();
    let digits = |from: usize| from + b[from..].iter().take_while(|c| c.is_ascii_digit()).count();
    let token = |tok: Tok, end: usize| Token {
        tok,
        start: at,
        end,
        pos: at,
        ws_before,
        eats_eof: false,
    };
    let mut end = digits(at);
    if b.get(end) == Some(&b'.') {
        let text_end = if b.get(end + 1).is_some_and(u8::is_ascii_digit) {
            digits(end + 1)
        } else {
            end
        };
        return token(Tok::Number(src[at..text_end].into()), text_end.max(end + 1));
    }
    let is_unit = |c: char| c.is_ascii_alphabetic() || c == 'µ';
    if src[end..].starts_with(is_unit) {
        end += src[end..]
            .find(|c: char| !is_unit(c))
            .unwrap_or(src.len() - end);
        end += src[end..]
            .find(|c: char| !(is_unit(c) || c.is_ascii_digit()))
            .unwrap_or(src.len() - end);
        return token(Tok::Duration(src[at..end].into()), end);
    }
    token(Tok::Integer(src[at..end].into()), end)
}

/// Scans the regex literal whose opening `/` is at `at`, as influxql's `ScanRegex`: `\/` is a
/// slash and every other escape is kept for the regex engine. Returns the pattern and the
/// offset after the closing `/`, or `None` when a line break or the end of input comes first.
pub(crate) fn regex(src: &str, at: usize) -> Option<(String, usize)> {
    let mut out = String::new();
    let mut chars = src[at + 1..]
        .char_indices()
        .map(|(i, c)| (at + 1 + i, c))
        .peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '/' => return Some((out, i + 1)),
            '\n' | '\r' => return None,
            '\\' if chars.peek().is_some_and(|&(_, c)| c == '/') => {
                chars.next();
                out.push('/');
            }
            c => out.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(src: &str) -> Vec<Tok> {
        let mut out = Vec::new();
        let (mut at, mut eats) = (0, false);
        loop {
            let t = lex(src, at, eats);
            (at, eats) = (t.end, t.eats_eof);
            if t.tok == Tok::Eof {
                return out;
            }
            out.push(t.tok);
        }
    }

    #[test]
    fn scans_identifiers_keywords_and_quoted_names() {
        assert_eq!(
            toks(r#"select Value FROM "auto~watt" "a\"b\\c""#),
            [
                Tok::Keyword(Keyword::Select),
                Tok::Ident("Value".into()),
                Tok::Keyword(Keyword::From),
                Tok::Ident("auto~watt".into()),
                Tok::Ident("a\"b\\c".into()),
            ]
        );
        assert_eq!(toks("true FALSE and Or in"), {
            use Keyword::*;
            [True, False, And, Or, In].map(Tok::Keyword)
        });
    }

    #[test]
    fn every_keyword_is_one_in_any_case_and_nothing_else_is() {
        for &k in Keyword::ALL {
            let upper = k.as_str();
            let lower = upper.to_ascii_lowercase();
            let mixed: String = lower
                .chars()
                .enumerate()
                .map(|(i, c)| {
                    if i % 2 == 0 {
                        c.to_ascii_uppercase()
                    } else {
                        c
                    }
                })
                .collect();
            for word in [upper, &lower, &mixed] {
                assert_eq!(Keyword::lookup(word), Some(k), "{word}");
                assert_eq!(toks(word), [Tok::Keyword(k)], "{word}");
            }
            // One letter more or less is a name.
            assert_eq!(Keyword::lookup(&format!("{upper}S{upper}")), None);
            assert_eq!(Keyword::lookup(&upper[1..]).filter(|&o| o == k), None);
        }
        for word in [
            "",
            "value",
            "SUBSCRIPTIONSS",
            "selectselectselectselect",
            "sélect",
        ] {
            assert_eq!(Keyword::lookup(word), None, "{word}");
        }
    }

    #[test]
    fn scans_strings_with_escapes() {
        assert_eq!(toks(r"'it\'s\n\\'"), [Tok::Str("it's\n\\".into())]);
        assert_eq!(toks("'abc"), [Tok::BadString("abc".into())]);
        assert_eq!(toks(r"'a\qb'")[0], Tok::BadEscape(r"\q".into()));
    }

    #[test]
    fn scans_numbers_integers_and_durations() {
        assert_eq!(
            toks("1 1.5 .5 10 1h30m 1595324700000ms 5µ 1e3"),
            [
                Tok::Integer("1".into()),
                Tok::Number("1.5".into()),
                Tok::Number(".5".into()),
                Tok::Integer("10".into()),
                Tok::Duration("1h30m".into()),
                Tok::Duration("1595324700000ms".into()),
                Tok::Duration("5µ".into()),
                Tok::Duration("1e3".into()),
            ]
        );
        assert_eq!(
            toks("10.5h"),
            [Tok::Number("10.5".into()), Tok::Ident("h".into())]
        );
        assert_eq!(toks("1.)"), [Tok::Number("1".into()), Tok::RParen]);
    }

    #[test]
    fn scans_operators_and_skips_comments() {
        use BinaryOp::*;
        assert_eq!(
            toks("+ - * / % & | ^ = != <> =~ !~ < <= > >= -- comment\n/* block */ :: : ; , . ( )"),
            [
                Tok::Op(Add),
                Tok::Op(Sub),
                Tok::Op(Mul),
                Tok::Op(Div),
                Tok::Op(Mod),
                Tok::Op(BitAnd),
                Tok::Op(BitOr),
                Tok::Op(BitXor),
                Tok::Op(Eq),
                Tok::Op(NotEq),
                Tok::Op(NotEq),
                Tok::Op(EqRegex),
                Tok::Op(NotEqRegex),
                Tok::Op(Lt),
                Tok::Op(LtEq),
                Tok::Op(Gt),
                Tok::Op(GtEq),
                Tok::DoubleColon,
                Tok::Colon,
                Tok::Semicolon,
                Tok::Comma,
                Tok::Dot,
                Tok::LParen,
                Tok::RParen,
            ]
        );
        assert_eq!(toks("/* open"), [Tok::Illegal(String::new())]);
        assert_eq!(toks("#"), [Tok::Illegal("#".into())]);
        assert_eq!(
            toks("$host $"),
            [Tok::BoundParam("$host".into()), Tok::BoundParam("$".into())]
        );
    }

    #[test]
    fn scans_regexes() {
        assert_eq!(regex(r"/a\/b\d/ x", 0), Some((r"a/b\d".into(), 8)));
        assert_eq!(regex("/abc", 0), None);
        assert_eq!(regex("/a\nb/", 0), None);
    }
}
