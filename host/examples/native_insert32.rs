//! Benchmark baseline: a native hyper server doing what the probe's `POST /insert32` does — one
//! 32-row `INSERT OR REPLACE` into a `WITHOUT ROWID` table — through the host's own database
//! (WAL, one writer, group commit, answered after the commit), with no WebAssembly in between.
//! What the host adds to a durable 32-row write is `host-insert32` over this, in the same run.
//!
//! Usage: `native_insert32 ADDR STATE_DIR`.

use fieldline_host::db::{Database, SqlValue};
use http_body_util::Full;
use hyper::{body::Bytes, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::sync::Arc;

const ROWS: i64 = 32;

async fn insert(db: &Database, sql: &str, ts: i64) -> Result<(), String> {
    let params = (0..ROWS)
        .flat_map(|i| {
            [
                SqlValue::Integer(i),
                SqlValue::Integer(ts),
                SqlValue::Real(i as f64 * 1.5),
            ]
        })
        .collect();
    let mut session = db.session();
    session
        .execute(sql.to_string(), params)
        .await
        .map(drop)
        .map_err(|e| e.to_string())
}

/// The host's allocator, so that the comparison is of the same allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:3002".into());
    let state = args.next().unwrap_or_else(|| ".spin".into());
    let db = Database::open(&std::path::Path::new(&state).join("native.db"))?;
    db.session()
        .execute(
            "CREATE TABLE IF NOT EXISTS points(channel INTEGER NOT NULL, ts INTEGER NOT NULL, \
             value REAL NOT NULL, PRIMARY KEY(channel, ts)) WITHOUT ROWID"
                .into(),
            vec![],
        )
        .await?;
    let values = vec!["(?,?,?)"; ROWS as usize].join(",");
    let sql: Arc<str> =
        format!("INSERT OR REPLACE INTO points(channel, ts, value) VALUES {values}").into();
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let (db, sql) = (db.clone(), sql.clone());
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req: hyper::Request<_>| {
                let (db, sql) = (db.clone(), sql.clone());
                async move {
                    let ts = req
                        .uri()
                        .query()
                        .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("ts=")))
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0);
                    let resp = match insert(&db, &sql, ts).await {
                        Ok(()) => Response::new(Full::new(Bytes::from("inserted 32"))),
                        Err(e) => {
                            let mut r = Response::new(Full::new(Bytes::from(e)));
                            *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
                            r
                        }
                    };
                    Ok::<_, std::convert::Infallible>(resp)
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}
