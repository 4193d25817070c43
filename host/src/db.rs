//! A SQLite database shared by every instance: WAL, one writer connection fed by a queue, readers
//! on a pool, and group commit.
//!
//! Concurrent autocommit writes from many requests share one transaction; each runs inside its
//! own savepoint, so a failing statement rolls back alone, and each is answered only after the
//! shared transaction has committed, so a request that was told "ok" is as durable as it would be
//! alone. A guest that opens an explicit transaction (`BEGIN` or `SAVEPOINT`) gets the writer to
//! itself until the transaction ends, as SQLite's own write lock would give it; its reads in the
//! meantime see its own writes.
//!
//! The writer checkpoints the WAL every 10,000 frames (SQLite's auto-checkpoint: 1,000), after
//! it has answered the commit that crossed the line rather than inside that commit.

use crate::metrics::{db_label, metrics, DatabaseLabels};
use prometheus_client::metrics::histogram::Histogram;
use rusqlite::{types::ValueRef, Connection, OpenFlags};
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// The most autocommit statements committed together.
const MAX_GROUP: usize = 512;
/// How long an explicit transaction may sit idle holding the writer before it is rolled back.
const SESSION_IDLE_LIMIT: Duration = Duration::from_secs(60);
/// Idle reader connections kept open.
const MAX_IDLE_READERS: usize = 8;
/// How long a connection waits for a lock another holds (a checkpoint's, WAL recovery's).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// A read outside a transaction first runs on the calling thread (the request's), with no wait
/// for locks and at most this long, and only if it takes longer does it run again on the
/// blocking pool: the hand-over to a pool thread and back cost more than most of a request's
/// reads (an index seek or two), and made up most of a short query's latency under load.
/// (docs/benchmarks.md, 2026-12-05, night.)
const INLINE_READ_BUDGET: Duration = Duration::from_micros(250);
/// How many SQLite VM instructions between two looks at the clock during such a read.
const INLINE_READ_CHECK_OPS: std::ffi::c_int = 500;
/// WAL frames after which the writer checkpoints: 10,000 pages, a WAL of about 40 MB. SQLite's
/// default is 1,000. Appending rows touches the same pages commit after commit (each series' last
/// leaf), and a checkpoint copies each page once however often it changed, so a longer WAL copies
/// far fewer pages: 10 s of 32-row inserts from an empty database went from about 10,000 to
/// 11,500 requests/s, with the same p99 (docs/benchmarks.md, 2026-12-02).
const CHECKPOINT_FRAMES: i32 = 10_000;

thread_local! {
    /// Frames in the WAL after the last commit of this thread's writer connection.
    static WAL_FRAMES: std::cell::Cell<i32> = const { std::cell::Cell::new(0) };
}

/// Replaces SQLite's auto-checkpoint, which runs inside the commit that crosses the threshold:
/// notes the WAL's size so that the writer checkpoints after it has answered the requests of
/// that commit instead of before.
fn note_wal_frames(_wal: &rusqlite::hooks::Wal, frames: std::ffi::c_int) -> rusqlite::Result<()> {
    WAL_FRAMES.set(frames);
    Ok(())
}

#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    Integer(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
    Null,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueryResult {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<SqlValue>>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SqlError {
    #[error("the database is full")]
    DatabaseFull,
    #[error("{0}")]
    Io(String),
}

impl From<rusqlite::Error> for SqlError {
    fn from(e: rusqlite::Error) -> Self {
        match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DiskFull) => SqlError::DatabaseFull,
            _ => SqlError::Io(e.to_string()),
        }
    }
}

/// How a statement must be run, from its leading keyword.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Probably a read: tried on a reader, sent to the writer if it turns out to write.
    Read,
    /// A write that can share a group transaction.
    Write,
    /// Must run outside any transaction (`PRAGMA`, `VACUUM`, `ATTACH`, a stray `COMMIT`).
    Standalone,
    /// Opens an explicit transaction (`BEGIN`, `SAVEPOINT`).
    Begin,
}

fn classify(sql: &str) -> Kind {
    let mut rest = sql.trim_start();
    // Skip leading comments.
    loop {
        if let Some(r) = rest.strip_prefix("--") {
            rest = r.split_once('\n').map_or("", |(_, r)| r).trim_start();
        } else if let Some(r) = rest.strip_prefix("/*") {
            rest = r.split_once("*/").map_or("", |(_, r)| r).trim_start();
        } else {
            break;
        }
    }
    let word: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect::<String>()
        .to_ascii_uppercase();
    match word.as_str() {
        "SELECT" | "WITH" | "VALUES" | "EXPLAIN" => Kind::Read,
        "BEGIN" | "SAVEPOINT" => Kind::Begin,
        "PRAGMA" => Kind::Standalone,
        "COMMIT" | "END" | "ROLLBACK" | "RELEASE" | "VACUUM" | "ATTACH" | "DETACH" => {
            Kind::Standalone
        }
        _ => Kind::Write,
    }
}

fn bind_and_run(
    conn: &Connection,
    sql: &str,
    params: &[SqlValue],
) -> Result<QueryResult, SqlError> {
    let mut stmt = conn.prepare_cached(sql)?;
    run_prepared(&mut stmt, params)
}

fn run_prepared(
    stmt: &mut rusqlite::CachedStatement<'_>,
    params: &[SqlValue],
) -> Result<QueryResult, SqlError> {
    check_parameter_count(stmt, params)?;
    Ok(query_rows(stmt, params)?)
}

fn check_parameter_count(
    stmt: &rusqlite::Statement<'_>,
    params: &[SqlValue],
) -> Result<(), SqlError> {
    let expected = stmt.parameter_count();
    if expected != params.len() {
        return Err(SqlError::Io(format!(
            "the statement takes {expected} parameters, {} were given",
            params.len()
        )));
    }
    Ok(())
}

/// Runs a read on a reader connection: `None` if the statement turned out to write, the
/// statement's own error inside, SQLite's outside (for the caller to tell an interrupted or
/// locked-out read from the statement's failure).
fn read_on(
    conn: &Connection,
    sql: &str,
    params: &[SqlValue],
) -> rusqlite::Result<Option<Result<QueryResult, SqlError>>> {
    let mut stmt = conn.prepare_cached(sql)?;
    if !stmt.readonly() {
        return Ok(None);
    }
    if let Err(e) = check_parameter_count(&stmt, params) {
        return Ok(Some(Err(e)));
    }
    query_rows(&mut stmt, params).map(|rows| Some(Ok(rows)))
}

/// Binds `params` (as many as the statement takes) and reads every row.
fn query_rows(
    stmt: &mut rusqlite::CachedStatement<'_>,
    params: &[SqlValue],
) -> rusqlite::Result<QueryResult> {
    for (i, p) in params.iter().enumerate() {
        let idx = i + 1;
        match p {
            SqlValue::Integer(v) => stmt.raw_bind_parameter(idx, v)?,
            SqlValue::Real(v) => stmt.raw_bind_parameter(idx, v)?,
            SqlValue::Text(v) => stmt.raw_bind_parameter(idx, v.as_str())?,
            SqlValue::Blob(v) => stmt.raw_bind_parameter(idx, v.as_slice())?,
            SqlValue::Null => stmt.raw_bind_parameter(idx, rusqlite::types::Null)?,
        }
    }
    let columns: Vec<String> = stmt
        .column_names()
        .into_iter()
        .map(str::to_string)
        .collect();
    let n = columns.len();
    let mut rows = Vec::new();
    let mut raw = stmt.raw_query();
    while let Some(row) = raw.next()? {
        let mut values = Vec::with_capacity(n);
        for i in 0..n {
            values.push(match row.get_ref(i)? {
                ValueRef::Null => SqlValue::Null,
                ValueRef::Integer(v) => SqlValue::Integer(v),
                ValueRef::Real(v) => SqlValue::Real(v),
                ValueRef::Text(t) => SqlValue::Text(String::from_utf8_lossy(t).into_owned()),
                ValueRef::Blob(b) => SqlValue::Blob(b.to_vec()),
            });
        }
        rows.push(values);
    }
    Ok(QueryResult { columns, rows })
}

type Reply = oneshot::Sender<(Result<QueryResult, SqlError>, bool)>;

enum Job {
    Exec {
        session: u64,
        kind: Kind,
        sql: String,
        params: Vec<SqlValue>,
        /// The result and whether the session is (still) inside an explicit transaction.
        reply: Reply,
    },
    EndSession(u64),
    Shutdown,
}

impl Job {
    fn session(&self) -> Option<u64> {
        match self {
            Job::Exec { session, .. } => Some(*session),
            Job::EndSession(s) => Some(*s),
            Job::Shutdown => None,
        }
    }
}

struct Inner {
    path: PathBuf,
    jobs: Mutex<mpsc::Sender<Job>>,
    readers: Mutex<Vec<Connection>>,
    next_session: AtomicU64,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Autocommit transactions the writer has committed: one per group, however many statements.
    commits: Arc<AtomicU64>,
}

/// A database file, shared by every instance that declared it.
#[derive(Clone)]
pub struct Database {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("path", &self.inner.path)
            .finish()
    }
}

fn open_connection(path: &Path, write: bool) -> rusqlite::Result<Connection> {
    let flags = if write {
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE
    } else {
        OpenFlags::SQLITE_OPEN_READ_ONLY
    } | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.set_prepared_statement_cache_capacity(128);
    // Each grouped write runs in its own savepoint, whose statement journal stays in memory
    // whatever its size (STMTJRNL_SPILL=-1, set for the bundled SQLite in .cargo/config.toml,
    // which says why). Not `temp_store=MEMORY` on readers: their GROUP BY sorts measured twice
    // as slow in memory as in temporary files, which the OS page cache keeps in memory anyway
    // (scripts/bench query, mean-1m-1d).
    Ok(conn)
}

impl Database {
    /// Opens (creating if needed) the database at `path` and starts its writer thread.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let writer = open_connection(path, true)
            .map_err(|e| anyhow::anyhow!("cannot open SQLite database {}: {e}", path.display()))?;
        // WAL lets readers run beside the writer; FULL keeps every commit durable, which group
        // commit makes cheap by sharing one sync among many requests.
        writer.pragma_update(None, "journal_mode", "WAL")?;
        writer.pragma_update(None, "synchronous", "FULL")?;
        writer.wal_hook(Some(note_wal_frames));
        let (tx, rx) = mpsc::channel();
        let commits = Arc::new(AtomicU64::new(0));
        let counted = commits.clone();
        let handle = std::thread::Builder::new()
            .name(format!("sqlite-writer:{}", path.display()))
            .spawn({
                let path = path.to_path_buf();
                move || Writer::new(writer, rx, counted, &path).run()
            })?;
        Ok(Database {
            inner: Arc::new(Inner {
                path: path.to_path_buf(),
                jobs: Mutex::new(tx),
                readers: Mutex::new(Vec::new()),
                next_session: AtomicU64::new(1),
                writer: Mutex::new(Some(handle)),
                commits,
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// How many autocommit transactions the writer has committed so far: a group of statements
    /// committed together counts once. Explicit (`BEGIN`) transactions are not counted.
    pub fn commits(&self) -> u64 {
        self.inner.commits.load(Ordering::Acquire)
    }

    /// A new session: the guest-side state of one opened connection.
    pub fn session(&self) -> Session {
        Session {
            db: self.clone(),
            id: self.inner.next_session.fetch_add(1, Ordering::Relaxed),
            in_transaction: false,
        }
    }

    fn send(&self, job: Job) -> bool {
        match self.inner.jobs.lock() {
            Ok(tx) => tx.send(job).is_ok(),
            Err(_) => false,
        }
    }

    async fn to_writer(
        &self,
        session: u64,
        kind: Kind,
        sql: String,
        params: Vec<SqlValue>,
    ) -> (Result<QueryResult, SqlError>, bool) {
        let (reply, rx) = oneshot::channel();
        if !self.send(Job::Exec {
            session,
            kind,
            sql,
            params,
            reply,
        }) {
            return (
                Err(SqlError::Io("the database is shutting down".into())),
                false,
            );
        }
        rx.await.unwrap_or_else(|_| {
            (
                Err(SqlError::Io("the database writer stopped".into())),
                false,
            )
        })
    }

    fn take_reader(&self) -> Result<Connection, SqlError> {
        let pooled = self.inner.readers.lock().ok().and_then(|mut p| p.pop());
        match pooled {
            Some(c) => Ok(c),
            None => Ok(open_connection(&self.inner.path, false)?),
        }
    }

    fn return_reader(&self, conn: Connection) {
        if let Ok(mut pool) = self.inner.readers.lock() {
            if pool.len() < MAX_IDLE_READERS {
                pool.push(conn);
            }
        }
    }

    /// Runs a read on a pooled reader on the calling thread if it is quick: `Err(())` when it
    /// would wait for a lock or runs longer than [`INLINE_READ_BUDGET`], to be run again with
    /// [`Database::read_blocking`] (a read changes nothing, so running it twice is safe).
    /// Otherwise as `read_blocking` answers.
    fn read_inline(
        &self,
        sql: &str,
        params: &[SqlValue],
    ) -> Result<Option<Result<QueryResult, SqlError>>, ()> {
        let conn = match self.take_reader() {
            Ok(c) => c,
            Err(e) => return Ok(Some(Err(e))),
        };
        let started = Instant::now();
        conn.progress_handler(
            INLINE_READ_CHECK_OPS,
            Some(move || started.elapsed() > INLINE_READ_BUDGET),
        );
        // Not SQLite's busy wait on this thread: the blocking pool waits instead.
        let _ = conn.busy_timeout(Duration::ZERO);
        let outcome = read_on(&conn, sql, params);
        conn.progress_handler(0, None::<fn() -> bool>);
        let _ = conn.busy_timeout(BUSY_TIMEOUT);
        self.return_reader(conn);
        match outcome {
            Err(e)
                if matches!(
                    e.sqlite_error_code(),
                    Some(
                        rusqlite::ErrorCode::OperationInterrupted
                            | rusqlite::ErrorCode::DatabaseBusy
                            | rusqlite::ErrorCode::DatabaseLocked
                    )
                ) =>
            {
                Err(())
            }
            Err(e) => Ok(Some(Err(e.into()))),
            Ok(answer) => Ok(answer),
        }
    }

    /// Runs a read on a pooled reader; `None` if the statement turned out to write.
    fn read_blocking(
        &self,
        sql: &str,
        params: &[SqlValue],
    ) -> Option<Result<QueryResult, SqlError>> {
        let conn = match self.take_reader() {
            Ok(c) => c,
            Err(e) => return Some(Err(e)),
        };
        let outcome = read_on(&conn, sql, params);
        self.return_reader(conn);
        outcome.unwrap_or_else(|e| Some(Err(e.into())))
    }

    /// Stops the writer after the jobs already queued.
    pub fn shutdown(&self) {
        self.send(Job::Shutdown);
        let handle = self.inner.writer.lock().ok().and_then(|mut h| h.take());
        if let Some(h) = handle {
            let _ = h.join();
        }
    }
}

/// One guest connection's view of the database.
#[derive(Debug)]
pub struct Session {
    db: Database,
    id: u64,
    in_transaction: bool,
}

impl Session {
    /// Executes one statement, as Spin's `sqlite.execute` does.
    pub async fn execute(
        &mut self,
        sql: String,
        params: Vec<SqlValue>,
    ) -> Result<QueryResult, SqlError> {
        let kind = classify(&sql);
        if !self.in_transaction && kind == Kind::Read {
            let read = match self.db.read_inline(&sql, &params) {
                Ok(read) => read,
                Err(()) => {
                    let db = self.db.clone();
                    let (s, p) = (sql.clone(), params.clone());
                    tokio::task::spawn_blocking(move || db.read_blocking(&s, &p))
                        .await
                        .map_err(|e| SqlError::Io(format!("reader failed: {e}")))?
                }
            };
            if let Some(result) = read {
                return result;
            }
        }
        let kind = if kind == Kind::Read {
            Kind::Write
        } else {
            kind
        };
        let (result, in_tx) = self.db.to_writer(self.id, kind, sql, params).await;
        self.in_transaction = in_tx;
        result
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if self.in_transaction {
            // A guest that trapped or timed out inside a transaction: roll it back, free the writer.
            self.db.send(Job::EndSession(self.id));
        }
    }
}

struct Writer {
    conn: Connection,
    rx: mpsc::Receiver<Job>,
    /// Jobs received while a session held the writer, in arrival order.
    pending: VecDeque<Job>,
    commits: Arc<AtomicU64>,
    /// This database's series of the host's metrics.
    commit_seconds: Histogram,
    group_statements: Histogram,
    checkpoint_seconds: Histogram,
}

impl Writer {
    fn new(
        conn: Connection,
        rx: mpsc::Receiver<Job>,
        commits: Arc<AtomicU64>,
        path: &Path,
    ) -> Self {
        let labels = DatabaseLabels {
            database: db_label(path),
        };
        let m = metrics();
        Writer {
            conn,
            rx,
            pending: VecDeque::new(),
            commits,
            commit_seconds: m.commit_duration.get_or_create(&labels).clone(),
            group_statements: m.group_size.get_or_create(&labels).clone(),
            checkpoint_seconds: m.checkpoint_duration.get_or_create(&labels).clone(),
        }
    }

    /// Counts a group commit of `statements` that began at `started`.
    fn committed(&self, started: Instant, statements: usize) {
        self.commits.fetch_add(1, Ordering::Release);
        if crate::metrics::recording().is_some() {
            self.commit_seconds.observe(started.elapsed().as_secs_f64());
            self.group_statements.observe(statements as f64);
        }
    }

    fn next(&mut self) -> Option<Job> {
        self.pending.pop_front().or_else(|| self.rx.recv().ok())
    }

    fn run(mut self) {
        while let Some(job) = self.next() {
            match job {
                Job::Shutdown => break,
                Job::EndSession(_) => {} // its transaction already ended
                Job::Exec {
                    kind: Kind::Write | Kind::Read,
                    session,
                    sql,
                    params,
                    reply,
                } => self.group((session, sql, params, reply)),
                Job::Exec {
                    kind: Kind::Standalone,
                    sql,
                    params,
                    reply,
                    ..
                } => {
                    let r = bind_and_run(&self.conn, &sql, &params);
                    let _ = reply.send((r, false));
                }
                Job::Exec {
                    kind: Kind::Begin,
                    session,
                    sql,
                    params,
                    reply,
                } => {
                    let r = bind_and_run(&self.conn, &sql, &params);
                    let open = !self.conn.is_autocommit();
                    let _ = reply.send((r, open));
                    if open {
                        self.hold(session);
                    }
                }
            }
            self.checkpoint_if_due();
        }
        // Leave nothing half-done behind.
        if !self.conn.is_autocommit() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }

    /// Copies the WAL back into the database once it holds `CHECKPOINT_FRAMES`, as SQLite's
    /// auto-checkpoint would, but only after the commit that crossed the line has been answered.
    /// PASSIVE: it never waits for readers, and what it cannot copy yet waits for the next one.
    fn checkpoint_if_due(&mut self) {
        if WAL_FRAMES.get() < CHECKPOINT_FRAMES || !self.conn.is_autocommit() {
            return;
        }
        WAL_FRAMES.set(0);
        let started = std::time::Instant::now();
        let done = self
            .conn
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
                Ok((r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
            });
        self.checkpoint_seconds
            .observe(started.elapsed().as_secs_f64());
        match done {
            Ok((log, copied)) => tracing::debug!(
                "checkpoint: {copied} of {log} WAL frames copied in {:.2} ms",
                started.elapsed().as_secs_f64() * 1000.0
            ),
            Err(e) => tracing::warn!("WAL checkpoint failed: {e}"),
        }
    }

    /// A transaction-control statement, prepared once: it runs twice per grouped statement.
    fn control(&self, sql: &str) -> Result<(), SqlError> {
        self.conn.prepare_cached(sql)?.execute([])?;
        Ok(())
    }

    /// Runs autocommit writes together: `first` plus whatever else is already queued.
    fn group(&mut self, first: (u64, String, Vec<SqlValue>, Reply)) {
        let mut batch = vec![first];
        while batch.len() < MAX_GROUP {
            let job = match self.pending.pop_front() {
                Some(j) => j,
                None => match self.rx.try_recv() {
                    Ok(j) => j,
                    Err(_) => break,
                },
            };
            match job {
                Job::Exec {
                    kind: Kind::Write | Kind::Read,
                    session,
                    sql,
                    params,
                    reply,
                } => batch.push((session, sql, params, reply)),
                other => {
                    // Keep it for after this group, in order.
                    self.pending.push_front(other);
                    break;
                }
            }
        }
        let started = Instant::now();
        let statements = batch.len();
        if batch.len() == 1 {
            let (_, sql, params, reply) = batch.remove(0);
            let r = bind_and_run(&self.conn, &sql, &params);
            if r.is_ok() {
                self.committed(started, 1);
            }
            let _ = reply.send((r, false));
            return;
        }
        if let Err(err) = self.control("BEGIN IMMEDIATE") {
            for (_, _, _, reply) in batch {
                let _ = reply.send((Err(err.clone()), false));
            }
            return;
        }
        let mut results = Vec::with_capacity(batch.len());
        for (_, sql, params, reply) in batch {
            let r = match self.control("SAVEPOINT fieldline_group") {
                Err(e) => Err(e),
                Ok(()) => {
                    let r = bind_and_run(&self.conn, &sql, &params);
                    let end = if r.is_ok() {
                        Ok(())
                    } else {
                        self.control("ROLLBACK TO fieldline_group")
                    };
                    match end.and_then(|()| self.control("RELEASE fieldline_group")) {
                        Ok(()) => r,
                        Err(e) => Err(e),
                    }
                }
            };
            results.push((r, reply));
        }
        match self.control("COMMIT") {
            Ok(()) => {
                self.committed(started, statements);
                for (r, reply) in results {
                    let _ = reply.send((r, false));
                }
            }
            Err(err) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                for (_, reply) in results {
                    let _ = reply.send((Err(err.clone()), false));
                }
            }
        }
    }

    /// Gives the writer to one session until its explicit transaction ends.
    fn hold(&mut self, session: u64) {
        loop {
            let job = match self.rx.recv_timeout(SESSION_IDLE_LIMIT) {
                Ok(j) => j,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    tracing::warn!(
                        "rolling back a SQLite transaction idle for {SESSION_IDLE_LIMIT:?}"
                    );
                    let _ = self.conn.execute_batch("ROLLBACK");
                    return;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            };
            if job.session() != Some(session) {
                if matches!(job, Job::Shutdown) {
                    let _ = self.conn.execute_batch("ROLLBACK");
                    self.pending.push_back(job);
                    return;
                }
                self.pending.push_back(job);
                continue;
            }
            match job {
                Job::Exec {
                    sql, params, reply, ..
                } => {
                    let r = bind_and_run(&self.conn, &sql, &params);
                    let open = !self.conn.is_autocommit();
                    let _ = reply.send((r, open));
                    if !open {
                        return;
                    }
                }
                Job::EndSession(_) => {
                    if !self.conn.is_autocommit() {
                        let _ = self.conn.execute_batch("ROLLBACK");
                    }
                    return;
                }
                Job::Shutdown => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_db() -> (tempfile::TempDir, Database) {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Database::open(&dir.path().join("t.db")).expect("open");
        (dir, db)
    }

    async fn exec(
        s: &mut Session,
        sql: &str,
        params: Vec<SqlValue>,
    ) -> Result<QueryResult, SqlError> {
        s.execute(sql.to_string(), params).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_read_too_long_for_the_request_thread_is_answered_whole_by_the_pool() {
        let (_dir, db) = temp_db();
        let mut s = db.session();
        // Millions of VM steps: far past the inline budget.
        let long = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c \
                    WHERE x < 3000000) SELECT count(*), sum(x) FROM c";
        assert_eq!(
            db.read_inline(long, &[]),
            Err(()),
            "given up on the request's thread"
        );
        let answer = exec(&mut s, long, vec![]).await.expect("long read");
        assert_eq!(
            answer.rows,
            [[
                SqlValue::Integer(3_000_000),
                SqlValue::Integer(4_500_001_500_000)
            ]]
        );
        // A short read runs where it is asked, on the reader the long one left behind (without
        // its budget).
        assert_eq!(
            db.read_inline("SELECT ?1 + 1", &[SqlValue::Integer(41)]),
            Ok(Some(Ok(QueryResult {
                columns: vec!["?1 + 1".into()],
                rows: vec![vec![SqlValue::Integer(42)]],
            })))
        );
        let again = exec(&mut s, long, vec![]).await.expect("long read again");
        assert_eq!(again.rows, answer.rows);
        // Errors are the statement's, not a reason to run it again.
        let bad = db.read_inline("SELECT nope FROM nowhere", &[]);
        assert!(
            matches!(bad, Ok(Some(Err(SqlError::Io(ref m)))) if m.contains("nowhere")),
            "{bad:?}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_wal_is_checkpointed_and_reused_instead_of_growing() {
        let (dir, db) = temp_db();
        let mut s = db.session();
        exec(&mut s, "CREATE TABLE t(b BLOB)", vec![])
            .await
            .expect("create");
        // 120 MB in 1,200 commits of 100 KB (25 pages each): 30,000 WAL frames in all, three
        // times the checkpoint threshold.
        for _ in 0..1200 {
            exec(
                &mut s,
                "INSERT INTO t SELECT zeroblob(4000) FROM (SELECT 1 UNION ALL SELECT 2 \
                 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5) a, \
                 (SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 \
                 UNION ALL SELECT 5) b",
                vec![],
            )
            .await
            .expect("insert");
        }
        let wal = std::fs::metadata(dir.path().join("t.db-wal"))
            .expect("wal")
            .len();
        // A checkpoint every 10,000 frames (40 MB) lets the WAL start over; without one it would
        // hold all 120 MB.
        assert!(wal < 48 << 20, "the WAL grew to {wal} bytes");
        let db_file = std::fs::metadata(dir.path().join("t.db"))
            .expect("db")
            .len();
        assert!(
            db_file > 80 << 20,
            "checkpoints copied only {db_file} bytes"
        );
        let r = exec(&mut s, "SELECT count(*) FROM t", vec![])
            .await
            .expect("count");
        assert_eq!(r.rows, vec![vec![SqlValue::Integer(30_000)]]);
    }

    #[test]
    fn statement_journals_stay_in_memory() {
        let conn = Connection::open_in_memory().expect("open");
        let mut stmt = conn.prepare("PRAGMA compile_options").expect("prepare");
        let options: Vec<String> = stmt
            .query_map([], |r| r.get(0))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        assert!(
            options.iter().any(|o| o == "STMTJRNL_SPILL=-1"),
            "SQLite was built without LIBSQLITE3_FLAGS from .cargo/config.toml: {options:?}"
        );
    }

    /// `big`: 3,000 rows of 3 KB (`n` = `id`), about 12 MB of pages, so that an UPDATE of them
    /// all journals far more than a statement journal keeps in memory.
    async fn big_table(s: &mut Session) {
        exec(
            s,
            "CREATE TABLE big(id INTEGER PRIMARY KEY, n INTEGER NOT NULL, pad BLOB)",
            vec![],
        )
        .await
        .expect("create");
        exec(
            s,
            "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 3000) \
             INSERT INTO big SELECT i, i, zeroblob(3000) FROM c",
            vec![],
        )
        .await
        .expect("fill");
    }

    /// `sql` on a session of its own, in the background.
    fn spawn_write(
        db: &Database,
        sql: &'static str,
    ) -> tokio::task::JoinHandle<Result<QueryResult, SqlError>> {
        let db = db.clone();
        tokio::spawn(async move { db.session().execute(sql.into(), vec![]).await })
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_failing_statement_with_a_12_mb_journal_still_rolls_back_alone() {
        let (_dir, db) = temp_db();
        let mut s = db.session();
        big_table(&mut s).await;
        exec(&mut s, "CREATE TABLE small(v INTEGER)", vec![])
            .await
            .expect("create");
        // Hold the writer so that the three writes below queue up and run as one group.
        exec(&mut s, "BEGIN", vec![]).await.expect("begin");
        let spawn = |sql: &'static str| spawn_write(&db, sql);
        let before = spawn("INSERT INTO small VALUES (1)");
        tokio::time::sleep(Duration::from_millis(50)).await;
        // Rewrites every row, then fails on the last one (NOT NULL).
        let failing = spawn(
            "UPDATE big SET n = CASE WHEN id = 3000 THEN NULL ELSE n + 1 END, \
             pad = zeroblob(3000)",
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        let after = spawn("INSERT INTO small VALUES (2)");
        tokio::time::sleep(Duration::from_millis(200)).await;
        let commits = db.commits();
        exec(&mut s, "COMMIT", vec![]).await.expect("commit");
        before.await.expect("join").expect("first insert");
        // For its NOT NULL constraint: with a spill threshold above 128 KiB it failed instead
        // with "the database is full", when its journal was copied to the temporary file (its
        // 12 MB journal now stays in memory).
        match failing.await.expect("join") {
            Err(SqlError::Io(m)) if m.contains("NOT NULL") => {}
            other => panic!("the update must fail for its NOT NULL constraint: {other:?}"),
        }
        after.await.expect("join").expect("last insert");
        assert_eq!(
            db.commits() - commits,
            1,
            "the three writes shared one commit"
        );
        let r = exec(&mut s, "SELECT sum(n), count(*) FROM big", vec![])
            .await
            .expect("sum");
        assert_eq!(
            r.rows,
            vec![vec![
                SqlValue::Integer(3000 * 3001 / 2),
                SqlValue::Integer(3000)
            ]]
        );
        let r = exec(&mut s, "SELECT v FROM small ORDER BY v", vec![])
            .await
            .expect("small");
        assert_eq!(
            r.rows,
            vec![vec![SqlValue::Integer(1)], vec![SqlValue::Integer(2)]]
        );
    }

    #[test]
    fn classifies_statements() {
        assert_eq!(classify("  select 1"), Kind::Read);
        assert_eq!(
            classify("-- c\n/* x */ WITH a AS (SELECT 1) SELECT * FROM a"),
            Kind::Read
        );
        assert_eq!(classify("INSERT INTO t VALUES (1)"), Kind::Write);
        assert_eq!(classify("begin immediate"), Kind::Begin);
        assert_eq!(classify("PRAGMA journal_mode=WAL"), Kind::Standalone);
        assert_eq!(classify("COMMIT"), Kind::Standalone);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_writes_all_land_and_failures_stay_isolated() {
        let (_dir, db) = temp_db();
        let mut s = db.session();
        exec(
            &mut s,
            "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT NOT NULL)",
            vec![],
        )
        .await
        .expect("create");
        let mut tasks = Vec::new();
        for i in 0..200i64 {
            let db = db.clone();
            tasks.push(tokio::spawn(async move {
                let mut s = db.session();
                // Every tenth statement violates NOT NULL and must fail alone.
                let v = if i % 10 == 0 {
                    SqlValue::Null
                } else {
                    SqlValue::Text(format!("v{i}"))
                };
                s.execute(
                    "INSERT INTO t(id, v) VALUES (?, ?)".into(),
                    vec![SqlValue::Integer(i), v],
                )
                .await
            }));
        }
        let mut failed = 0;
        for t in tasks {
            if t.await.expect("join").is_err() {
                failed += 1;
            }
        }
        assert_eq!(failed, 20);
        let r = exec(&mut s, "SELECT count(*) FROM t", vec![])
            .await
            .expect("count");
        assert_eq!(r.rows, vec![vec![SqlValue::Integer(180)]]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn explicit_transactions_commit_and_roll_back() {
        let (_dir, db) = temp_db();
        let mut s = db.session();
        exec(&mut s, "CREATE TABLE t(v INTEGER)", vec![])
            .await
            .expect("create");
        exec(&mut s, "BEGIN", vec![]).await.expect("begin");
        exec(&mut s, "INSERT INTO t VALUES (1)", vec![])
            .await
            .expect("insert");
        // Our own uncommitted write is visible to us...
        let mine = exec(&mut s, "SELECT count(*) FROM t", vec![])
            .await
            .expect("read");
        assert_eq!(mine.rows, vec![vec![SqlValue::Integer(1)]]);
        // ...and a concurrent autocommit write waits for our commit instead of failing.
        let db2 = db.clone();
        let other = tokio::spawn(async move {
            let mut s2 = db2.session();
            s2.execute("INSERT INTO t VALUES (2)".into(), vec![]).await
        });
        exec(&mut s, "COMMIT", vec![]).await.expect("commit");
        other.await.expect("join").expect("other insert");
        exec(&mut s, "BEGIN", vec![]).await.expect("begin");
        exec(&mut s, "INSERT INTO t VALUES (3)", vec![])
            .await
            .expect("insert");
        exec(&mut s, "ROLLBACK", vec![]).await.expect("rollback");
        let r = exec(&mut s, "SELECT v FROM t ORDER BY v", vec![])
            .await
            .expect("read");
        assert_eq!(
            r.rows,
            vec![vec![SqlValue::Integer(1)], vec![SqlValue::Integer(2)]]
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_dropped_session_rolls_back_and_frees_the_writer() {
        let (_dir, db) = temp_db();
        let mut s = db.session();
        exec(&mut s, "CREATE TABLE t(v INTEGER)", vec![])
            .await
            .expect("create");
        {
            let mut abandoned = db.session();
            exec(&mut abandoned, "BEGIN", vec![]).await.expect("begin");
            exec(&mut abandoned, "INSERT INTO t VALUES (1)", vec![])
                .await
                .expect("insert");
        }
        exec(&mut s, "INSERT INTO t VALUES (2)", vec![])
            .await
            .expect("writer is free");
        let r = exec(&mut s, "SELECT v FROM t", vec![]).await.expect("read");
        assert_eq!(r.rows, vec![vec![SqlValue::Integer(2)]]);
    }

    #[tokio::test]
    async fn values_round_trip_and_errors_are_values() {
        let (_dir, db) = temp_db();
        let mut s = db.session();
        exec(&mut s, "CREATE TABLE t(a, b, c, d, e)", vec![])
            .await
            .expect("create");
        let row = vec![
            SqlValue::Integer(-7),
            SqlValue::Real(1.5),
            SqlValue::Text("é".into()),
            SqlValue::Blob(vec![0, 255]),
            SqlValue::Null,
        ];
        exec(&mut s, "INSERT INTO t VALUES (?,?,?,?,?)", row.clone())
            .await
            .expect("insert");
        let r = exec(&mut s, "SELECT a, b, c, d, e FROM t", vec![])
            .await
            .expect("select");
        assert_eq!(r.columns, vec!["a", "b", "c", "d", "e"]);
        assert_eq!(r.rows, vec![row]);
        assert!(exec(&mut s, "SELECT * FROM missing", vec![]).await.is_err());
        assert!(exec(&mut s, "INSERT INTO t VALUES (?)", vec![])
            .await
            .is_err());
        assert!(exec(&mut s, "COMMIT", vec![]).await.is_err());
        // A CTE that writes is recognised and sent to the writer.
        exec(
            &mut s,
            "WITH x(v) AS (SELECT 9) INSERT INTO t(a) SELECT v FROM x",
            vec![],
        )
        .await
        .expect("cte insert");
        let r = exec(&mut s, "SELECT count(*) FROM t", vec![])
            .await
            .expect("count");
        assert_eq!(r.rows, vec![vec![SqlValue::Integer(2)]]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn group_commit_shares_commits_and_answers_only_durable_writes() {
        let (dir, db) = temp_db();
        let path = dir.path().join("t.db");
        let mut s = db.session();
        exec(&mut s, "CREATE TABLE t(id INTEGER PRIMARY KEY)", vec![])
            .await
            .expect("create");
        // Hold the writer in an explicit transaction so the writes below queue up behind it.
        exec(&mut s, "BEGIN", vec![]).await.expect("begin");
        let before = db.commits();
        const N: i64 = 200;
        let tasks: Vec<_> = (0..N)
            .map(|i| {
                let (db, path) = (db.clone(), path.clone());
                tokio::spawn(async move {
                    let mut w = db.session();
                    w.execute(
                        "INSERT INTO t(id) VALUES (?)".into(),
                        vec![SqlValue::Integer(i)],
                    )
                    .await
                    .expect("insert");
                    // Answered only after the commit: another connection already sees the row.
                    let other =
                        Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY)
                            .expect("open");
                    let seen: i64 = other
                        .query_row("SELECT count(*) FROM t WHERE id = ?", [i], |r| r.get(0))
                        .expect("read");
                    assert_eq!(
                        seen, 1,
                        "statement {i} was answered before it was committed"
                    );
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(200)).await;
        exec(&mut s, "COMMIT", vec![]).await.expect("commit");
        for t in tasks {
            t.await.expect("task");
        }
        let commits = db.commits() - before;
        assert!(
            (1..N as u64 / 4).contains(&commits),
            "{N} statements took {commits} commits"
        );
        let r = exec(&mut s, "SELECT count(*) FROM t", vec![])
            .await
            .expect("count");
        assert_eq!(r.rows, vec![vec![SqlValue::Integer(N)]]);
        // Durable: a fresh connection after the writer has stopped sees every row.
        db.shutdown();
        let count: i64 = Connection::open(&path)
            .and_then(|c| c.query_row("SELECT count(*) FROM t", [], |r| r.get(0)))
            .expect("reopen");
        assert_eq!(count, N);
    }
    /// Fieldline's table of points and the trigger that notes the hours to roll up, as the
    /// schema has them: the rows of a `/write` land here.
    async fn points_schema(s: &mut Session) {
        for sql in [
            "CREATE TABLE points (channel_key INTEGER NOT NULL, ts INTEGER NOT NULL, \
             value REAL NOT NULL, PRIMARY KEY (channel_key, ts)) WITHOUT ROWID",
            "CREATE TABLE rollup_pending (channel_key INTEGER NOT NULL, hour INTEGER NOT NULL, \
             PRIMARY KEY (channel_key, hour)) WITHOUT ROWID",
            "CREATE TRIGGER points_insert_pending AFTER INSERT ON points BEGIN \
             INSERT INTO rollup_pending (channel_key, hour) \
             VALUES (NEW.channel_key, NEW.ts - NEW.ts % 3600000) ON CONFLICT DO NOTHING; END",
        ] {
            exec(s, sql, vec![]).await.expect("schema");
        }
    }

    /// `INSERT INTO points` of `rows` rows, as shared/storage's `write_points` writes them.
    fn insert_points_sql(rows: usize) -> String {
        format!(
            "INSERT INTO points (channel_key, ts, value) VALUES {} \
             ON CONFLICT (channel_key, ts) DO UPDATE SET value = excluded.value",
            vec!["(?,?,?)"; rows].join(",")
        )
    }

    /// Issue 18: `scripts/bench compare` loading 100,000 lines per `/write` (800 series, time
    /// order) failed with "the database is full" on its third request. Such a request is one
    /// explicit transaction of ten 10,000-row statements; once the table is large enough, a
    /// statement's journal outgrew the in-memory threshold, and SQLite copied the in-memory
    /// journal to its temporary file with one write of the whole 4 MiB chunk, which the unix
    /// VFS cuts to `n & 0x1ffff` bytes (0): a short write, SQLITE_FULL. Fails at round 2 with
    /// SQLITE_STMTJRNL_SPILL=4194304; passes with journals that never spill (-1), and with
    /// 131071 (spills in writes the VFS takes whole).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writes_of_100_000_rows_with_large_statement_journals_succeed() {
        let (_dir, db) = temp_db();
        let mut s = db.session();
        points_schema(&mut s).await;
        const ROWS: usize = 10_000;
        const SERIES: u64 = 800;
        let sql = insert_points_sql(ROWS);
        let mut p = 0u64;
        for round in 0..5 {
            exec(&mut s, "BEGIN IMMEDIATE", vec![])
                .await
                .expect("begin");
            for statement in 0..10 {
                let mut params = Vec::with_capacity(ROWS * 3);
                for _ in 0..ROWS {
                    let (t, c) = (p / SERIES, p % SERIES);
                    params.push(SqlValue::Integer(c as i64 + 1));
                    params.push(SqlValue::Integer(1_700_000_000_000 + t as i64 * 1000));
                    params.push(SqlValue::Real(p as f64));
                    p += 1;
                }
                if let Err(e) = s.execute(sql.clone(), params).await {
                    panic!("request {round}, statement {statement}: {e}");
                }
            }
            exec(&mut s, "COMMIT", vec![]).await.expect("commit");
        }
        let r = exec(&mut s, "SELECT count(*) FROM points", vec![])
            .await
            .expect("count");
        assert_eq!(r.rows, vec![vec![SqlValue::Integer(p as i64)]]);
    }

    /// A statement journaling about 12 MB, far past the in-memory threshold, succeeds both in a
    /// group (its own savepoint) and in an explicit transaction.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn statements_with_large_journals_succeed_in_groups_and_transactions() {
        let (_dir, db) = temp_db();
        let mut s = db.session();
        big_table(&mut s).await;
        const UPDATE: &str = "UPDATE big SET n = n + 1, pad = zeroblob(3000)";
        // A group: hold the writer so that two statements queue up behind it.
        exec(&mut s, "BEGIN", vec![]).await.expect("begin");
        let first = spawn_write(&db, UPDATE);
        tokio::time::sleep(Duration::from_millis(50)).await;
        let second = spawn_write(&db, UPDATE);
        tokio::time::sleep(Duration::from_millis(200)).await;
        exec(&mut s, "COMMIT", vec![]).await.expect("commit");
        first.await.expect("join").expect("first update");
        second.await.expect("join").expect("second update");
        // An explicit transaction of two such statements.
        exec(&mut s, "BEGIN IMMEDIATE", vec![])
            .await
            .expect("begin");
        exec(&mut s, UPDATE, vec![]).await.expect("third update");
        exec(&mut s, UPDATE, vec![]).await.expect("fourth update");
        exec(&mut s, "COMMIT", vec![]).await.expect("commit");
        let r = exec(&mut s, "SELECT min(n), max(n) FROM big", vec![])
            .await
            .expect("read");
        assert_eq!(
            r.rows,
            vec![vec![SqlValue::Integer(5), SqlValue::Integer(3004)]]
        );
    }

    /// A database that really is full (here: at `max_page_count`) answers `DatabaseFull`, and
    /// the statement or transaction that hit it leaves nothing behind, in a group and in an
    /// explicit transaction alike; once there is room again, writes succeed.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_full_database_answers_database_full_and_writes_nothing() {
        let (_dir, db) = temp_db();
        let mut s = db.session();
        points_schema(&mut s).await;
        let rows = |from: u64, n: usize| -> Vec<SqlValue> {
            (from..from + n as u64)
                .flat_map(|i| {
                    [
                        SqlValue::Integer((i % 800) as i64 + 1),
                        SqlValue::Integer(1_700_000_000_000 + (i / 800) as i64 * 1000),
                        SqlValue::Real(i as f64),
                    ]
                })
                .collect()
        };
        let sql = insert_points_sql(5_000);
        exec(&mut s, &sql, rows(0, 5_000))
            .await
            .expect("first rows");
        let pages = exec(&mut s, "PRAGMA page_count", vec![])
            .await
            .expect("page_count");
        let SqlValue::Integer(pages) = pages.rows[0][0] else {
            panic!("page_count: {pages:?}")
        };
        exec(
            &mut s,
            &format!("PRAGMA max_page_count = {}", pages + 10),
            vec![],
        )
        .await
        .expect("max_page_count");
        let count = |db: Database| async move {
            let r = db
                .session()
                .execute("SELECT count(*) FROM points".into(), vec![])
                .await
                .expect("count");
            r.rows[0][0].clone()
        };

        // An explicit transaction, as a /write of more than 10,000 points is: the statement
        // that does not fit fails, and the transaction is gone or is rolled back.
        exec(&mut s, "BEGIN IMMEDIATE", vec![])
            .await
            .expect("begin");
        let mut failed = None;
        for k in 1..20 {
            if let Err(e) = exec(&mut s, &sql, rows(k * 5_000, 5_000)).await {
                failed = Some(e);
                break;
            }
        }
        assert_eq!(failed, Some(SqlError::DatabaseFull));
        let _ = exec(&mut s, "ROLLBACK", vec![]).await;
        assert_eq!(count(db.clone()).await, SqlValue::Integer(5_000));

        // Grouped autocommit statements: the one that does not fit fails alone.
        exec(&mut s, "BEGIN", vec![]).await.expect("begin");
        let spawn = |sql: String, params: Vec<SqlValue>| {
            let db = db.clone();
            tokio::spawn(async move { db.session().execute(sql, params).await })
        };
        let small = spawn(insert_points_sql(1), rows(100_000, 1));
        tokio::time::sleep(Duration::from_millis(50)).await;
        let big = spawn(insert_points_sql(10_000), rows(200_000, 10_000));
        tokio::time::sleep(Duration::from_millis(200)).await;
        exec(&mut s, "COMMIT", vec![]).await.expect("commit");
        small.await.expect("join").expect("the small insert");
        assert_eq!(
            big.await.expect("join").map(|_| ()),
            Err(SqlError::DatabaseFull)
        );
        assert_eq!(count(db.clone()).await, SqlValue::Integer(5_001));

        // Room again: the same write succeeds.
        exec(&mut s, "PRAGMA max_page_count = 1000000", vec![])
            .await
            .expect("max_page_count");
        exec(&mut s, &insert_points_sql(10_000), rows(200_000, 10_000))
            .await
            .expect("insert after making room");
        assert_eq!(count(db).await, SqlValue::Integer(15_001));
    }
}
