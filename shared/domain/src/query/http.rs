//! `/query` as InfluxDB 1.x's HTTP handler serves it: parameters from the URL and from a form
//! body, the refusals of the request as a whole (400 `{"error": ...}`), and the body in the
//! requested shape (`epoch`, `pretty`, `chunked`, `chunk_size`). Components only decode HTTP and
//! authenticate.

use crate::influxql::{parse_query, Statement};

use super::ddl::read_only_warning;
use super::format::{encode, encode_chunked, encode_csv, encode_error, msgpack, Epoch, Format};
use super::{execute, Context, QueryResults, Source, SourceError};

/// Rows per document of a chunked answer when `chunk_size` is absent or not a positive number.
pub const DEFAULT_CHUNK_SIZE: usize = 10_000;

const JSON: &str = "application/json";
/// The content type of a MessagePack answer.
pub const MSGPACK: &str = "application/x-msgpack";

/// The parameters of a `/query` request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QueryParams {
    pub q: Option<String>,
    pub db: Option<String>,
    pub rp: Option<String>,
    pub epoch: Option<String>,
    pub pretty: bool,
    pub chunked: bool,
    pub chunk_size: Option<String>,
    /// InfluxDB 1.x credentials as parameters (`u`, `p`).
    pub user: Option<String>,
    pub password: Option<String>,
    /// `Accept: application/csv` (or `text/csv`): answer in CSV.
    pub csv: bool,
    /// `Accept: application/x-msgpack` (what the Python client `influxdb` 5.x always sends):
    /// answer in MessagePack, refusals (400) included. Wins over `csv`.
    pub msgpack: bool,
    /// The request came as a `GET` (not parsed: the HTTP layer sets it). Statements that
    /// change data run all the same, their results with InfluxDB's warning
    /// ([`super::ddl::read_only_warning`]).
    pub get: bool,
}

impl QueryParams {
    /// From the URL's query string and, for a form POST, the body; a form value wins over the
    /// URL's, as Go's `Request.FormValue` has it.
    pub fn parse(url_query: &str, form: Option<&[u8]>) -> QueryParams {
        let mut p = QueryParams::default();
        let url = form_urlencoded::parse(url_query.as_bytes());
        let body = form.map(form_urlencoded::parse);
        for (k, v) in url.chain(body.into_iter().flatten()) {
            let v = v.into_owned();
            match k.as_ref() {
                "q" => p.q = Some(v),
                "db" => p.db = Some(v),
                "rp" => p.rp = Some(v),
                "epoch" => p.epoch = Some(v),
                "pretty" => p.pretty = v == "true",
                "chunked" => p.chunked = v == "true",
                "chunk_size" => p.chunk_size = Some(v),
                "u" => p.user = Some(v),
                "p" => p.password = Some(v),
                _ => {}
            }
        }
        p
    }

    /// Sets [`QueryParams::csv`] and [`QueryParams::msgpack`] from the request's (first)
    /// `Accept` header as InfluxDB 1.6 reads it: the whole value, spaces around it aside, must be
    /// `application/x-msgpack`, or `application/csv` or `text/csv`; anything else (a list,
    /// parameters such as `q=`, wildcards, another case) is JSON.
    pub fn set_accept(&mut self, accept: Option<&str>) {
        let accept = accept.map(|a| a.trim_matches([' ', '\t']));
        self.msgpack = accept == Some("application/x-msgpack");
        self.csv = matches!(accept, Some("application/csv" | "text/csv"));
    }
}

/// An answer: status, body and its type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueryAnswer {
    pub status: u16,
    /// Text (JSON, CSV) or, for [`QueryParams::msgpack`], binary MessagePack.
    pub body: Vec<u8>,
    /// `application/json`, `text/csv` for an answer in CSV, or `application/x-msgpack`.
    pub content_type: &'static str,
    /// For 400s: InfluxDB repeats the message in `X-Influxdb-Error`.
    pub error: Option<String>,
}

impl QueryAnswer {
    /// The body as text (JSON and CSV answers are UTF-8; MessagePack is shown lossily).
    pub fn text(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.body)
    }
}

/// A request refused as a whole: `{"error": ...}` in JSON, or in MessagePack when asked
/// (InfluxDB writes refusals through the requested formatter).
fn refused(message: String, params: &QueryParams) -> QueryAnswer {
    let (content_type, body) = if params.msgpack {
        (MSGPACK, msgpack::encode_error(&message))
    } else {
        (JSON, encode_error(&message, params.pretty).into_bytes())
    };
    QueryAnswer {
        status: 400,
        content_type,
        body,
        error: Some(message.replace('\n', " ")),
    }
}

/// Parses the query and checks what InfluxDB checks while parsing (time zones).
pub fn parse(q: &str) -> Result<Vec<Statement>, String> {
    let statements = parse_query(q).map_err(|e| format!("error parsing query: {e}"))?;
    for s in &statements {
        if let Statement::Select(sel) = s {
            if let Some(tz) = &sel.tz {
                if tz.parse::<chrono_tz::Tz>().is_err() {
                    return Err(format!(
                        "error parsing query: unable to find time zone {tz}"
                    ));
                }
            }
        }
    }
    Ok(statements)
}

/// Runs a `/query` request. `ctx.db`/`ctx.rp` are taken from the parameters.
pub fn answer(
    params: &QueryParams,
    ctx: &Context,
    source: &mut dyn Source,
) -> Result<QueryAnswer, SourceError> {
    // InfluxDB trims `q` (Go's `strings.TrimSpace`) before calling it missing.
    let Some(q) = params.q.as_deref().filter(|q| !q.trim().is_empty()) else {
        return Ok(refused(r#"missing required parameter "q""#.into(), params));
    };
    let statements = match parse(q) {
        Ok(s) => s,
        Err(e) => return Ok(refused(e, params)),
    };
    let ctx = Context {
        db: params.db.clone(),
        rp: params.rp.clone(),
        ..ctx.clone()
    };
    let mut results = execute(&statements, &ctx, source)?;
    if params.get {
        warn_read_only(&statements, &ctx, &mut results);
    }
    Ok(QueryAnswer {
        status: 200,
        content_type: if params.msgpack {
            MSGPACK
        } else if params.csv {
            "text/csv"
        } else {
            JSON
        },
        body: render(&results, params),
        error: None,
    })
}

/// InfluxDB's warning on each statement of a `GET` that changes data (the catalog, or a
/// measurement through `SELECT … INTO`), when it succeeded (a failed statement's result is its
/// error alone).
fn warn_read_only(statements: &[Statement], ctx: &Context, results: &mut QueryResults) {
    for r in results.0.iter_mut().filter(|r| r.error.is_none()) {
        let warning = match statements.get(r.statement_id) {
            Some(Statement::Select(s)) if s.into.is_some() => Some(format!(
                "deprecated use of '{}' in a read only context, please use a POST request instead",
                super::into::normalized(s, ctx)
            )),
            Some(other) => read_only_warning(other),
            None => None,
        };
        r.messages.extend(warning);
    }
}

/// The body of a successful answer.
pub fn render(results: &QueryResults, params: &QueryParams) -> Vec<u8> {
    let epoch = Epoch::parse(params.epoch.as_deref());
    if params.msgpack {
        // `{"results": []}` even for a query of only `;`; `pretty` does not apply.
        return if params.chunked {
            msgpack::encode_chunked(results, epoch, chunk_size(params))
        } else {
            msgpack::encode(results, epoch)
        };
    }
    // A query of only `;` has no statements: InfluxDB answers `{}`, or nothing when chunked.
    if results.0.is_empty() {
        return if params.chunked {
            Vec::new()
        } else {
            b"{}\n".to_vec()
        };
    }
    if params.csv {
        return encode_csv(results).into_bytes();
    }
    let format = Format {
        epoch,
        pretty: params.pretty,
    };
    if params.chunked {
        encode_chunked(results, &format, chunk_size(params)).into_bytes()
    } else {
        encode(results, &format).into_bytes()
    }
}

/// `chunk_size`, or [`DEFAULT_CHUNK_SIZE`] when absent or not a positive number.
fn chunk_size(params: &QueryParams) -> usize {
    params
        .chunk_size
        .as_deref()
        .and_then(|s| s.parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or(DEFAULT_CHUNK_SIZE)
}
