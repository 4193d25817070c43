//! Route handlers. Each answers with a plain-text body (JSON for `/probe/headers`); host errors
//! are reported with their `Debug` form so tests can match on the WIT variant name.

use std::borrow::Cow;
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use spin_sdk::http::{Params, Request, Response};
use spin_sdk::sqlite::{self, Connection, Value};
use spin_sdk::{key_value, mqtt, variables};

type Reply = Result<Response, Response>;

/// The layout of Fieldline's own `points` table (shared/storage/src/schema.rs): the primary key
/// is the row's place in the table, so a row is written once, not to a table and an index.
const CREATE_POINTS: &str = "CREATE TABLE IF NOT EXISTS points(\
    channel INTEGER NOT NULL, ts INTEGER NOT NULL, value REAL NOT NULL, \
    PRIMARY KEY(channel, ts)) WITHOUT ROWID";

pub fn constant(_req: Request, _params: Params) -> Response {
    Response::new(200, "ok")
}

pub fn insert32(req: Request, _params: Params) -> Reply {
    const ROWS: i64 = 32;
    let ts = optional(&req, "ts")?.unwrap_or_else(now_nanos);
    let values = vec!["(?,?,?)"; ROWS as usize].join(",");
    let sql = format!("INSERT OR REPLACE INTO points(channel, ts, value) VALUES {values}");
    let params: Vec<Value> = (0..ROWS)
        .flat_map(|i| {
            [
                Value::Integer(i),
                Value::Integer(ts),
                Value::Real(i as f64 * 1.5),
            ]
        })
        .collect();

    let db = Connection::open_default().map_err(server_error)?;
    if let Err(e) = db.execute(&sql, &params) {
        if !is_no_such_table(&e) {
            return Err(server_error(e));
        }
        db.execute(CREATE_POINTS, &[]).map_err(server_error)?;
        db.execute(&sql, &params).map_err(server_error)?;
    }
    Ok(Response::new(200, format!("inserted {ROWS}")))
}

pub fn count(_req: Request, _params: Params) -> Reply {
    let db = Connection::open_default().map_err(server_error)?;
    let n = match db.execute("SELECT count(*) FROM points", &[]) {
        Ok(result) => result
            .rows
            .first()
            .and_then(|row| row.get::<i64>(0))
            .unwrap_or(0),
        Err(e) if is_no_such_table(&e) => 0,
        Err(e) => return Err(server_error(e)),
    };
    Ok(Response::new(200, n.to_string()))
}

pub fn trap(_req: Request, _params: Params) -> Response {
    panic!("probe trap")
}

pub fn spin_forever(_req: Request, _params: Params) -> Response {
    // `black_box` keeps the optimiser from proving the loop has no effect.
    let mut n = 0u64;
    loop {
        n = std::hint::black_box(n.wrapping_add(1));
    }
}

/// Answers after `ms` milliseconds, saying on stderr when it starts, so tests can act while a
/// request is in flight.
/// 256 KiB of static memory (several pages of `.bss`), written by `/leftover`.
static SCRATCH: [std::sync::atomic::AtomicU8; 256 * 1024] =
    [const { std::sync::atomic::AtomicU8::new(0) }; 256 * 1024];

/// Counts the bytes of static memory and of a fresh 1 MiB heap allocation that are not zero, then
/// fills both with 0xAB. Every request gets a fresh instance, so every answer must be
/// `static=0 heap=0`: anything else is memory left behind by an earlier request. The heap vector
/// comes from `alloc_zeroed`, which trusts memory the guest has just grown into to be zero.
pub fn leftover(_req: Request, _params: Params) -> Response {
    use std::sync::atomic::Ordering::Relaxed;
    let left_static = SCRATCH.iter().filter(|b| b.load(Relaxed) != 0).count();
    let mut heap = vec![0u8; 1 << 20];
    let left_heap = heap.iter().filter(|&&b| b != 0).count();
    SCRATCH.iter().for_each(|b| b.store(0xAB, Relaxed));
    heap.fill(0xAB);
    std::hint::black_box(&heap);
    Response::new(200, format!("static={left_static} heap={left_heap}"))
}

pub fn sleep(req: Request, _params: Params) -> Reply {
    let ms: u64 = parse(&req, "ms")?;
    eprintln!("probe: sleeping {ms} ms");
    std::thread::sleep(std::time::Duration::from_millis(ms));
    Ok(Response::new(200, format!("slept {ms} ms")))
}

pub fn key_value(req: Request, _params: Params) -> Reply {
    let name = required(&req, "store")?;
    let store = key_value::Store::open(&name).map_err(server_error)?;
    store.set("k", b"v").map_err(server_error)?;
    match store.get("k").map_err(server_error)? {
        Some(v) if v == b"v" => Ok(Response::new(200, "ok")),
        other => Err(Response::new(
            500,
            format!("read back {other:?}, expected \"v\""),
        )),
    }
}

pub fn sqlite(req: Request, _params: Params) -> Reply {
    let name = required(&req, "db")?;
    Connection::open(&name)
        .and_then(|db| db.execute("SELECT 1", &[]))
        .map_err(server_error)?;
    Ok(Response::new(200, "ok"))
}

pub fn variable(req: Request, _params: Params) -> Reply {
    let name = required(&req, "name")?;
    let value = variables::get(&name).map_err(server_error)?;
    Ok(Response::new(200, value))
}

pub fn env(req: Request, _params: Params) -> Reply {
    let name = required(&req, "name")?;
    match std::env::var(&*name) {
        Ok(value) => Ok(Response::new(200, value)),
        Err(_) => Ok(Response::new(404, "unset")),
    }
}

pub fn headers(req: Request, params: Params) -> Response {
    let mut body: serde_json::Map<String, serde_json::Value> = req
        .headers()
        .filter(|(name, _)| name.to_ascii_lowercase().starts_with("spin-"))
        .map(|(name, value)| {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            (name.to_ascii_lowercase(), value.into())
        })
        .collect();
    body.insert("suffix".into(), params.wildcard().into());
    body.insert("method".into(), req.method().to_string().into());
    body.insert("uri".into(), req.uri().into());
    Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .body(serde_json::Value::Object(body).to_string())
        .build()
}

pub async fn outbound(req: Request, _params: Params) -> Reply {
    let url = required(&req, "url")?;
    let upstream: Response = spin_sdk::http::send(Request::get(&*url))
        .await
        .map_err(|e| Response::new(502, format!("{e:?}")))?;
    let body = String::from_utf8_lossy(upstream.body());
    let status = upstream.status();
    Ok(Response::new(200, format!("status={status} body={body}")))
}

pub fn file(req: Request, _params: Params) -> Reply {
    let path = required(&req, "path")?;
    match std::fs::read_to_string(&*path) {
        Ok(content) => Ok(Response::new(200, content)),
        Err(e) => Ok(Response::new(404, e.to_string())),
    }
}

pub fn echo(req: Request, _params: Params) -> Response {
    Response::new(200, req.body().len().to_string())
}

pub fn mqtt(req: Request, _params: Params) -> Reply {
    let address = required(&req, "address")?;
    let topic = required(&req, "topic")?;
    let payload = required(&req, "payload")?;
    let bad_gateway = |e: mqtt::Error| Response::new(502, format!("{e:?}"));
    let conn = mqtt::Connection::open(&address, "", "", 30).map_err(bad_gateway)?;
    conn.publish(&topic, payload.as_bytes(), mqtt::Qos::AtLeastOnce)
        .map_err(bad_gateway)?;
    Ok(Response::new(200, "published"))
}

/// `BEGIN`, two rows, then either `COMMIT` or a failing statement and `ROLLBACK`, all on one
/// connection, so tests can see that the host keeps a connection's transaction state.
pub fn transaction(req: Request, _params: Params) -> Reply {
    let ts: i64 = parse(&req, "ts")?;
    let fail = match query(&req, "fail").as_deref() {
        None | Some("0") => false,
        Some("1") => true,
        Some(other) => return Err(bad_request(format!("fail must be 0 or 1, not {other:?}"))),
    };

    let db = Connection::open_default().map_err(server_error)?;
    db.execute(CREATE_POINTS, &[]).map_err(server_error)?;
    db.execute("BEGIN", &[]).map_err(server_error)?;
    let rows = [
        Value::Integer(0),
        Value::Integer(ts),
        Value::Real(0.0),
        Value::Integer(1),
        Value::Integer(ts),
        Value::Real(1.5),
    ];
    let inserted = db.execute(
        "INSERT OR REPLACE INTO points(channel, ts, value) VALUES (?,?,?),(?,?,?)",
        &rows,
    );
    if let Err(e) = inserted {
        let _ = db.execute("ROLLBACK", &[]);
        return Err(server_error(e));
    }

    if fail {
        let outcome = db.execute("INSERT INTO no_such_table VALUES (1)", &[]);
        db.execute("ROLLBACK", &[]).map_err(server_error)?;
        return match outcome {
            Err(_) => Ok(Response::new(409, "rolled back")),
            Ok(_) => Err(Response::new(
                500,
                "the invalid statement unexpectedly succeeded",
            )),
        };
    }
    db.execute("COMMIT", &[]).map_err(server_error)?;
    Ok(Response::new(200, "committed"))
}

fn query<'a>(req: &'a Request, name: &str) -> Option<Cow<'a, str>> {
    form_urlencoded::parse(req.query().as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value)
}

fn required<'a>(req: &'a Request, name: &str) -> Result<Cow<'a, str>, Response> {
    query(req, name).ok_or_else(|| missing(name))
}

fn missing(name: &str) -> Response {
    bad_request(format!("missing query parameter `{name}`"))
}

fn parse<T: FromStr>(req: &Request, name: &str) -> Result<T, Response> {
    optional(req, name)?.ok_or_else(|| missing(name))
}

fn optional<T: FromStr>(req: &Request, name: &str) -> Result<Option<T>, Response> {
    let Some(raw) = query(req, name) else {
        return Ok(None);
    };
    raw.parse()
        .map(Some)
        .map_err(|_| bad_request(format!("query parameter `{name}` is not valid: {raw:?}")))
}

fn now_nanos() -> i64 {
    // Before 1970 or after 2262 the clock is wrong anyway; 0 still gives a usable row.
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

fn is_no_such_table(e: &sqlite::Error) -> bool {
    matches!(e, sqlite::Error::Io(msg) if msg.contains("no such table"))
}

fn bad_request(msg: String) -> Response {
    Response::new(400, msg)
}

fn server_error(e: impl std::fmt::Debug) -> Response {
    Response::new(500, format!("{e:?}"))
}
