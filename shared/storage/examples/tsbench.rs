//! The client behind `scripts/bench compare` and `scripts/bench query`: one program for every
//! system measured, so that InfluxDB and Fieldline see the same requests from the same code.
//!
//! ```text
//! tsbench lines   [data set]                     print the data set as line protocol (a check)
//! tsbench info    [data set]                     its devices' UUIDs, first and end time, size
//! tsbench load    --addr A --path P [--header H]... [--conns 2] [--lines 5000] [data set]
//! tsbench load-sqlite --db FILE [--from-second 0] [--lines 100000] [data set]
//! tsbench ingest  --addr A --workload conduit32|lp32|lp1000|telegraf1000 [--header H]...
//!                 [--token T] [--conns 32] [--warmup 1] [--duration 4] [--ts-base MS]
//!                 [--seed S] [--device-offset 0]
//! tsbench get     --addr A --path P [--path P]... [--header H]... [--conns 4] [--warmup 0.5]
//!                 [--duration 3] [--min-requests 2]
//! tsbench ceiling --db FILE --workload conduit32|lp32|lp1000 [--duration 4] [--ts-base MS]
//!                 [--group 1]                    (requests a transaction)
//! tsbench sql     --db FILE --query Q [--query Q]... plans and best-of-7 times (diagnostics)
//! tsbench lp-parse [--workload W] [--n 2000]     the line-protocol parser natively, ms per
//!                                                body of an lp workload (diagnostics)
//! tsbench roll-up --db FILE [--channels 1000] [--minutes 30]  one maintenance tick's roll-up
//!                                                of an hour being written (diagnostics)
//! data set: [--seed 1] [--devices 100] [--first-device 0] [--channels 8] [--days 1]
//!           [--seconds N] [--start 1735689600]
//! ```
//!
//! Every command prints one JSON object on stdout.
//!
//! **The data set** is a pure function of its options: device `d` (uuid derived from the seed),
//! channels `c01`..`c08` (measurement = communicationId), one point per second per series from
//! `--start` (seconds, UTC; default 2025-01-01) for `--days` days, values a daily sine with
//! noise, printed with two decimals (so that both systems parse the same decimal text). Lines
//! are in time order (every series' point of second 0, then of second 1, ...), as devices
//! reporting live would send them, tagged `device`, `sensor`, `unit`, `uuid` (sorted keys).
//!
//! **HTTP** is a minimal HTTP/1.1 client over `std::net` (keep-alive, Content-Length or chunked
//! answers), one thread and one connection per `--conns`, closed loop: each connection sends
//! its next request when the answer to the previous one has been read completely (`get`: and
//! goes on past `--duration` until it has `--min-requests` answers, for slow queries). Latency is
//! measured from the first byte written to the last byte read. A non-2xx answer is an error.
//!
//! **Ingest workloads** write new points only: connection `k` writes device `k` (plus
//! `--device-offset`) of the workload, and its `i`-th request carries times after those of request `i - 1`, from
//! `--ts-base` (the caller gives each round its own base).
//! - `conduit32`: `POST /post/v2`, AlphaX Conduit JSON with 32 channels (1..32) at one time
//!   for device (network id) `c32-k`;
//! - `lp32`: `POST /write`, the same 32 points as line protocol (measurements `1`..`32`,
//!   tags `device=lp32-k`, `uuid`);
//! - `lp1000`: `POST /write`, 1000 points: channels `c01`..`c08` of device `lp1k-k` at 125
//!   consecutive seconds.
//! - `telegraf1000`: `POST /write?db=fieldline` (nanosecond times, no `precision`, as Telegraf
//!   sends them), 1000 lines shaped like Telegraf's `cpu` input: `cpu,cpu=cpu<c>,host=host<k>,
//!   region=<R>,dc=<D>,rack=<Q> usage_user=<f>,usage_system=<f>,usage_idle=<f>,procs=<n>i <ts>`
//!   (5 tags in that order, 3 float fields with Telegraf's full-precision text and an integer)
//!   for `cpu0`..`cpu7` of host `k` at 125 consecutive seconds: the `lp1000` shape, so the two
//!   differ by what a line carries. One point is one line, as InfluxDB counts points (4 values
//!   each). Not of the model's shape (no `uuid`, no lone `value`): Fieldline stores it as
//!   general series of its `fieldline` database. It has no ceiling (`ceiling` refuses it).
//!
//! **The ceiling** writes the rows of an ingest workload with rusqlite alone into a database
//! file of Fieldline's schema (`fieldline_storage::migrate`: WAL, the `points` table), one
//! transaction per request's batch (`--group N`: per N requests' batches), a cached prepared
//! statement per row (the same upsert as Fieldline's), `synchronous=FULL` as the host runs
//! SQLite, from one thread.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use serde_json::json;

// ---------------------------------------------------------------------------------------------
// Options

struct Args {
    values: HashMap<String, Vec<String>>,
}

impl Args {
    fn parse(args: &[String]) -> Result<Args> {
        let mut values: HashMap<String, Vec<String>> = HashMap::new();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let key = a
                .strip_prefix("--")
                .ok_or_else(|| anyhow!("unexpected argument {a:?}"))?;
            let v = it.next().ok_or_else(|| anyhow!("--{key} needs a value"))?;
            values.entry(key.to_owned()).or_default().push(v.clone());
        }
        Ok(Args { values })
    }

    fn opt(&self, key: &str) -> Option<&str> {
        self.values
            .get(key)
            .and_then(|v| v.last())
            .map(String::as_str)
    }

    fn all(&self, key: &str) -> Vec<String> {
        self.values.get(key).cloned().unwrap_or_default()
    }

    fn req(&self, key: &str) -> Result<&str> {
        self.opt(key).ok_or_else(|| anyhow!("--{key} is required"))
    }

    fn num<T: std::str::FromStr>(&self, key: &str, default: T) -> Result<T> {
        match self.opt(key) {
            None => Ok(default),
            Some(s) => s
                .parse()
                .map_err(|_| anyhow!("--{key} {s:?} is not a number")),
        }
    }

    fn secs(&self, key: &str, default: f64) -> Result<Duration> {
        let s: f64 = self.num(key, default)?;
        if !(0.0..1e6).contains(&s) {
            bail!("--{key} must be between 0 and 1e6 seconds");
        }
        Ok(Duration::from_secs_f64(s))
    }

    /// `Name: value` header lines, each ending in CRLF.
    fn headers(&self) -> String {
        self.all("header")
            .iter()
            .map(|h| format!("{h}\r\n"))
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// The data set

fn mix(mut z: u64) -> u64 {
    // splitmix64's finalizer
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn hash(seed: u64, a: u64, b: u64, c: u64) -> u64 {
    mix(mix(mix(seed ^ a) ^ b) ^ c)
}

/// An RFC 4122 version-4-shaped UUID drawn from `(seed, n)`.
fn uuid(seed: u64, n: u64) -> String {
    let hi = hash(seed, 0x5555, n, 1);
    let lo = hash(seed, 0x5555, n, 2);
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        hi >> 32,
        (hi >> 16) & 0xffff,
        hi & 0xfff,
        0x8000 | ((lo >> 48) & 0x3fff),
        lo & 0xffff_ffff_ffff
    )
}

const UNITS: [&str; 8] = ["C", "pct", "hPa", "V", "A", "W", "lx", "ppm"];

#[derive(Clone)]
struct DataSet {
    seed: u64,
    first_device: u64,
    devices: u64,
    channels: u64,
    start_s: i64,
    seconds: u64,
    /// Per series `d * channels + c`: the line up to `value=`.
    prefixes: Vec<String>,
}

impl DataSet {
    fn from_args(a: &Args) -> Result<DataSet> {
        let seed = a.num("seed", 1u64)?;
        let first_device = a.num("first-device", 0u64)?;
        let devices = a.num("devices", 100u64)?;
        let channels = a.num("channels", 8u64)?;
        let days: f64 = a.num("days", 1.0)?;
        let seconds = match a.opt("seconds") {
            Some(_) => a.num("seconds", 0u64)?,
            None => (days * 86_400.0).round() as u64,
        };
        let start_s = a.num("start", 1_735_689_600i64)?;
        if devices == 0 || channels == 0 || channels > 99 || seconds == 0 {
            bail!("the data set needs devices >= 1, 1..=99 channels and a span of at least 1 s");
        }
        let mut prefixes = Vec::with_capacity((devices * channels) as usize);
        for d in first_device..first_device + devices {
            let u = uuid(seed, d);
            for c in 0..channels {
                prefixes.push(format!(
                    "c{:02},device=dev-{d},sensor=probe,unit={},uuid={u} value=",
                    c + 1,
                    UNITS[(c % 8) as usize]
                ));
            }
        }
        Ok(DataSet {
            seed,
            first_device,
            devices,
            channels,
            start_s,
            seconds,
            prefixes,
        })
    }

    fn series(&self) -> u64 {
        self.devices * self.channels
    }

    fn points(&self) -> u64 {
        self.series() * self.seconds
    }

    /// The value of device `d`'s channel `c` at second `t` of the span, with two decimals.
    fn value(&self, d: u64, c: u64, t: u64) -> f64 {
        let h = hash(self.seed, d, c, u64::MAX);
        let phase = (h % 10_000) as f64 / 10_000.0 * std::f64::consts::TAU;
        let base = 10.0 * (c + 1) as f64 + ((h >> 32) % 50) as f64;
        let day = (t % 86_400) as f64 / 86_400.0 * std::f64::consts::TAU;
        let noise = ((hash(self.seed, d, c, t) % 1001) as f64 - 500.0) / 1000.0;
        ((base + 5.0 * (day + phase).sin() + noise) * 100.0).round() / 100.0
    }

    /// Appends point `p` (time order: second, then device, then channel) as a line.
    fn line(&self, out: &mut String, p: u64) {
        let t = p / self.series();
        let s = p % self.series();
        let (d, c) = (s / self.channels, s % self.channels);
        let v = self.value(self.first_device + d, c, t);
        let ts_ms = (self.start_s + t as i64) * 1000;
        out.push_str(&self.prefixes[s as usize]);
        let _ = writeln!(out, "{v:.2} {ts_ms}");
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP/1.1

struct Http {
    addr: String,
    stream: Option<BufReader<TcpStream>>,
}

struct Answer {
    status: u16,
    body: Vec<u8>,
}

impl Http {
    fn new(addr: &str) -> Http {
        Http {
            addr: addr.to_owned(),
            stream: None,
        }
    }

    /// Sends one request; a kept-alive connection the server closed meanwhile is reopened once.
    fn send(&mut self, method: &str, path: &str, headers: &str, body: &[u8]) -> io::Result<Answer> {
        let reused = self.stream.is_some();
        match self.try_send(method, path, headers, body) {
            Err(_) if reused => {
                self.stream = None;
                self.try_send(method, path, headers, body)
            }
            other => other,
        }
    }

    fn try_send(
        &mut self,
        method: &str,
        path: &str,
        headers: &str,
        body: &[u8],
    ) -> io::Result<Answer> {
        if self.stream.is_none() {
            let s = TcpStream::connect(&self.addr)?;
            s.set_nodelay(true)?;
            self.stream = Some(BufReader::with_capacity(1 << 16, s));
        }
        let Some(r) = self.stream.as_mut() else {
            return Err(io::Error::other("no connection"));
        };
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\n{headers}",
            self.addr
        );
        if method != "GET" || !body.is_empty() {
            let _ = write!(head, "Content-Length: {}\r\n", body.len());
        }
        head.push_str("\r\n");
        if body.len() < 1 << 16 {
            let mut buf = head.into_bytes();
            buf.extend_from_slice(body);
            r.get_mut().write_all(&buf)?;
        } else {
            r.get_mut().write_all(head.as_bytes())?;
            r.get_mut().write_all(body)?;
        }
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed",
            ));
        }
        let status: u16 = line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| io::Error::other(format!("bad status line {line:?}")))?;
        let (mut length, mut chunked, mut close) = (None, false, false);
        loop {
            line.clear();
            if r.read_line(&mut line)? == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "in headers"));
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().to_ascii_lowercase());
                match k.as_str() {
                    "content-length" => length = v.parse::<usize>().ok(),
                    "transfer-encoding" => chunked = v.contains("chunked"),
                    "connection" => close = v == "close",
                    _ => {}
                }
            }
        }
        let mut body = Vec::new();
        if status == 204 || status == 304 || status < 200 || method == "HEAD" {
        } else if chunked {
            loop {
                line.clear();
                r.read_line(&mut line)?;
                let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
                    .map_err(|_| io::Error::other(format!("bad chunk size {line:?}")))?;
                if size == 0 {
                    // trailers, then the empty line
                    loop {
                        line.clear();
                        if r.read_line(&mut line)? == 0 || line.trim_end().is_empty() {
                            break;
                        }
                    }
                    break;
                }
                let at = body.len();
                body.resize(at + size, 0);
                r.read_exact(&mut body[at..])?;
                line.clear();
                r.read_line(&mut line)?;
            }
        } else if let Some(n) = length {
            body.resize(n, 0);
            r.read_exact(&mut body)?;
        } else {
            r.read_to_end(&mut body)?;
            close = true;
        }
        if close {
            self.stream = None;
        }
        Ok(Answer { status, body })
    }
}

// ---------------------------------------------------------------------------------------------
// Closed-loop runs and their statistics

/// What one connection saw while measuring.
#[derive(Default)]
struct Tally {
    latencies_us: Vec<u32>,
    errors: u64,
    first_error: Option<String>,
    points: u64,
    bytes: u64,
    last_end: Option<Instant>,
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    // nearest rank
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    f64::from(sorted[rank.clamp(1, sorted.len()) - 1]) / 1000.0
}

/// One request of a run: method, path, extra headers, body, and the points it carries.
type MakeRequest = dyn Fn(usize, u64) -> (&'static str, String, String, Vec<u8>, u64) + Sync;

/// `conns` connections, each sending `make(k, i)` for i = 0, 1, ... for `warmup` (not
/// counted) then `duration`, and past it until it has `min_each` counted answers (so that a
/// request slower than the run still gets measured). Returns the statistics as JSON.
fn run(
    addr: &str,
    conns: usize,
    warmup: Duration,
    duration: Duration,
    min_each: usize,
    make: &MakeRequest,
) -> Result<serde_json::Value> {
    let begin = Instant::now();
    let measure_from = begin + warmup;
    let deadline = measure_from + duration;
    let tallies: Vec<Tally> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..conns)
            .map(|k| {
                scope.spawn(move || {
                    let mut http = Http::new(addr);
                    let mut t = Tally::default();
                    let mut i = 0u64;
                    loop {
                        let start = Instant::now();
                        if start >= deadline && t.latencies_us.len() + t.errors as usize >= min_each
                        {
                            break;
                        }
                        let (method, path, headers, body, points) = make(k, i);
                        i += 1;
                        let answer = http.send(method, &path, &headers, &body);
                        let end = Instant::now();
                        if start < measure_from {
                            if let Ok(a) = &answer {
                                if !(200..300).contains(&a.status) && t.first_error.is_none() {
                                    t.first_error = Some(format!(
                                        "warm-up: {} {}",
                                        a.status,
                                        String::from_utf8_lossy(&a.body[..a.body.len().min(300)])
                                    ));
                                }
                            }
                            continue;
                        }
                        match answer {
                            Ok(a) if (200..300).contains(&a.status) => {
                                let us = end.duration_since(start).as_micros();
                                t.latencies_us.push(u32::try_from(us).unwrap_or(u32::MAX));
                                t.points += points;
                                t.bytes += a.body.len() as u64;
                            }
                            Ok(a) => {
                                t.errors += 1;
                                if t.first_error.is_none() {
                                    t.first_error = Some(format!(
                                        "{} {}",
                                        a.status,
                                        String::from_utf8_lossy(&a.body[..a.body.len().min(300)])
                                    ));
                                }
                            }
                            Err(e) => {
                                t.errors += 1;
                                if t.first_error.is_none() {
                                    t.first_error = Some(e.to_string());
                                }
                                std::thread::sleep(Duration::from_millis(10));
                            }
                        }
                        t.last_end = Some(end);
                    }
                    t
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .collect()
    });
    let mut all: Vec<u32> = tallies
        .iter()
        .flat_map(|t| t.latencies_us.iter().copied())
        .collect();
    all.sort_unstable();
    let end = tallies
        .iter()
        .filter_map(|t| t.last_end)
        .max()
        .unwrap_or(deadline);
    let secs = end.saturating_duration_since(measure_from).as_secs_f64();
    let requests = all.len() as u64;
    let points: u64 = tallies.iter().map(|t| t.points).sum();
    let errors: u64 = tallies.iter().map(|t| t.errors).sum();
    let first_error = tallies.iter().find_map(|t| t.first_error.clone());
    let bytes: u64 = tallies.iter().map(|t| t.bytes).sum();
    let mean = if all.is_empty() {
        f64::NAN
    } else {
        all.iter().map(|&u| f64::from(u)).sum::<f64>() / all.len() as f64 / 1000.0
    };
    Ok(json!({
        "requests": requests,
        "errors": errors,
        "first_error": first_error,
        "secs": secs,
        "rps": requests as f64 / secs,
        "points": points,
        "pts_per_s": points as f64 / secs,
        "p50_ms": percentile(&all, 50.0),
        "p90_ms": percentile(&all, 90.0),
        "p99_ms": percentile(&all, 99.0),
        "max_ms": percentile(&all, 100.0),
        "mean_ms": mean,
        "bytes_per_answer": bytes.checked_div(requests).unwrap_or(0),
        "conns": conns,
    }))
}

// ---------------------------------------------------------------------------------------------
// Ingest workloads

#[derive(Clone, Copy, PartialEq)]
enum Workload {
    Conduit32,
    Lp32,
    Lp1000,
    Telegraf1000,
}

impl Workload {
    fn parse(s: &str) -> Result<Workload> {
        Ok(match s {
            "conduit32" => Workload::Conduit32,
            "lp32" => Workload::Lp32,
            "lp1000" => Workload::Lp1000,
            "telegraf1000" => Workload::Telegraf1000,
            _ => bail!("--workload {s:?} is not conduit32, lp32, lp1000 or telegraf1000"),
        })
    }

    fn points(self) -> u64 {
        match self {
            Workload::Conduit32 | Workload::Lp32 => 32,
            Workload::Lp1000 | Workload::Telegraf1000 => 1000,
        }
    }

    /// Milliseconds between the first times of consecutive requests of one connection.
    fn step_ms(self) -> i64 {
        match self {
            Workload::Conduit32 | Workload::Lp32 => 1000,
            Workload::Lp1000 | Workload::Telegraf1000 => 125_000,
        }
    }

    /// The rows of request `i` of connection `k`: (device slot, channel index, time, value).
    fn rows(self, k: usize, i: u64, ts_base: i64) -> Vec<(usize, u64, i64, f64)> {
        let t0 = ts_base + i as i64 * self.step_ms();
        let v = |c: u64, j: u64| ((i * 37 + c * 11 + j * 7 + k as u64) % 100_000) as f64 / 100.0;
        match self {
            Workload::Conduit32 | Workload::Lp32 => (0..32).map(|c| (k, c, t0, v(c, 0))).collect(),
            // telegraf1000: 8 CPUs at 125 seconds, each row one line (its values: `telegraf_fields`).
            Workload::Lp1000 | Workload::Telegraf1000 => (0..125)
                .flat_map(|j| (0..8).map(move |c| (k, c, t0 + j as i64 * 1000, v(c, j))))
                .collect(),
        }
    }
}

/// Where host `k` of `telegraf1000` stands: its `region`, `dc` and `rack` tags.
const REGIONS: [&str; 4] = ["us-east-1", "us-west-2", "eu-central-1", "ap-southeast-1"];

/// The fields of `telegraf1000`'s line for CPU `c` of host `host` at `ts_ms`, after
/// `usage_user=`: floats printed as Rust prints an `f64` (the shortest text that reads back
/// exactly, up to 17 digits, as Telegraf's are), `usage_idle` the rest of 100, `procs` an
/// integer.
fn telegraf_fields(out: &mut String, seed: u64, host: u64, c: u64, ts_ms: i64) {
    let unit =
        |n: u64| (hash(seed, host * 64 + c, ts_ms as u64, n) >> 11) as f64 / (1u64 << 53) as f64;
    let user = 40.0 * unit(1);
    let system = 15.0 * unit(2);
    let idle = 100.0 - user - system;
    let procs = 150 + hash(seed, host * 64 + c, ts_ms as u64, 3) % 200;
    let _ = write!(
        out,
        "{user},usage_system={system},usage_idle={idle},procs={procs}i"
    );
}

/// The line prefixes (up to the first field's `=`) of device `k` of an lp workload, by channel;
/// none for `conduit32`.
fn line_prefixes(w: Workload, seed: u64, k: usize) -> Vec<String> {
    match w {
        Workload::Lp32 => {
            let u = uuid(seed, 1_000_000 + k as u64);
            (1..=32)
                .map(|c| format!("{c},device=lp32-{k},uuid={u} value="))
                .collect()
        }
        Workload::Lp1000 => {
            let u = uuid(seed, 2_000_000 + k as u64);
            (0..8)
                .map(|c| {
                    format!(
                        "c{:02},device=lp1k-{k},sensor=probe,unit={},uuid={u} value=",
                        c + 1,
                        UNITS[c]
                    )
                })
                .collect()
        }
        Workload::Telegraf1000 => {
            let region = REGIONS[k % REGIONS.len()];
            let (dc, rack) = ((k / REGIONS.len()) % 3, (k / 12) % 16);
            (0..8)
                .map(|c| {
                    format!(
                        "cpu,cpu=cpu{c},host=host{k},region={region},dc={region}-dc{dc},\
                         rack=rack{rack:02} usage_user="
                    )
                })
                .collect()
        }
        Workload::Conduit32 => Vec::new(),
    }
}

/// The line-protocol body of `rows` (`Workload::rows`) of an lp workload: `prefixes[k]` are the
/// prefixes of connection `k`'s device, whose number is `offset + k`.
fn lp_body(
    body: &mut String,
    w: Workload,
    prefixes: &[Vec<String>],
    rows: &[(usize, u64, i64, f64)],
    seed: u64,
    offset: usize,
) {
    for (k, c, ts, v) in rows {
        body.push_str(&prefixes[*k][*c as usize]);
        if w == Workload::Telegraf1000 {
            telegraf_fields(body, seed, (offset + k) as u64, *c, *ts);
            let _ = writeln!(body, " {}", ts * 1_000_000);
        } else {
            let _ = writeln!(body, "{v:.2} {ts}");
        }
    }
}

fn ingest(a: &Args) -> Result<serde_json::Value> {
    let addr = a.req("addr")?.to_owned();
    let w = Workload::parse(a.req("workload")?)?;
    let conns: usize = a.num("conns", 32)?;
    let seed: u64 = a.num("seed", 1)?;
    let ts_base: i64 = a.num("ts-base", 1_700_000_000_000)?;
    let headers = a.headers();
    let token = a.opt("token").unwrap_or_default().to_owned();
    // Devices are numbered from --device-offset, so that two runs of one workload into the
    // same database can write different devices.
    let offset: usize = a.num("device-offset", 0)?;
    // Per connection: the device's line prefixes (lp) or network id (conduit).
    let prefixes: Vec<Vec<String>> = (offset..offset + conns)
        .map(|k| line_prefixes(w, seed, k))
        .collect();
    let make = move |k: usize, i: u64| {
        let rows = w.rows(k, i, ts_base);
        let mut body = String::with_capacity(rows.len() * 180);
        let (path, headers) = match w {
            Workload::Conduit32 => {
                let _ = write!(
                    body,
                    r#"{{"token":"{token}","networkId":"c32-{}","timestamp":{},"data":["#,
                    offset + k,
                    rows[0].2
                );
                for (j, (_, c, _, v)) in rows.iter().enumerate() {
                    if j > 0 {
                        body.push(',');
                    }
                    let _ = write!(body, r#"{{"channelId":{},"value":{v:.2}}}"#, c + 1);
                }
                body.push_str("]}");
                (
                    "/post/v2".to_owned(),
                    format!("{headers}Content-Type: application/json\r\n"),
                )
            }
            Workload::Lp32 | Workload::Lp1000 => {
                lp_body(&mut body, w, &prefixes, &rows, seed, offset);
                (
                    "/write?db=fieldline&precision=ms".to_owned(),
                    headers.clone(),
                )
            }
            Workload::Telegraf1000 => {
                lp_body(&mut body, w, &prefixes, &rows, seed, offset);
                ("/write?db=fieldline".to_owned(), headers.clone())
            }
        };
        ("POST", path, headers, body.into_bytes(), w.points())
    };
    let mut out = run(
        &addr,
        conns,
        a.secs("warmup", 1.0)?,
        a.secs("duration", 4.0)?,
        0,
        &make,
    )?;
    out["workload"] = json!(a.req("workload")?);
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Queries

fn get(a: &Args) -> Result<serde_json::Value> {
    let addr = a.req("addr")?.to_owned();
    let paths = a.all("path");
    if paths.is_empty() {
        bail!("--path is required");
    }
    let headers = a.headers();
    let make = move |_k: usize, i: u64| {
        let path = paths[(i % paths.len() as u64) as usize].clone();
        ("GET", path, headers.clone(), Vec::new(), 0)
    };
    run(
        &addr,
        a.num("conns", 4)?,
        a.secs("warmup", 0.5)?,
        a.secs("duration", 3.0)?,
        a.num("min-requests", 2)?,
        &make,
    )
}

// ---------------------------------------------------------------------------------------------
// Loading the data set

fn load(a: &Args) -> Result<serde_json::Value> {
    let addr = a.req("addr")?.to_owned();
    let path = a.req("path")?.to_owned();
    let headers = a.headers();
    let conns: usize = a.num("conns", 2)?;
    let per: u64 = a.num("lines", 5000)?;
    let ds = Arc::new(DataSet::from_args(a)?);
    let total = ds.points();
    let bodies = total.div_ceil(per);
    let next = AtomicU64::new(0);
    let failed: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..conns {
            scope.spawn(|| {
                let mut http = Http::new(&addr);
                let mut body = String::with_capacity(per as usize * 110);
                loop {
                    let j = next.fetch_add(1, Ordering::Relaxed);
                    if j >= bodies || failed.lock().map(|f| f.is_some()).unwrap_or(true) {
                        return;
                    }
                    body.clear();
                    for p in j * per..((j + 1) * per).min(total) {
                        ds.line(&mut body, p);
                    }
                    let outcome = match http.send("POST", &path, &headers, body.as_bytes()) {
                        Ok(r) if (200..300).contains(&r.status) => None,
                        Ok(r) => Some(format!(
                            "body {j}: {} {}",
                            r.status,
                            String::from_utf8_lossy(&r.body[..r.body.len().min(500)])
                        )),
                        Err(e) => Some(format!("body {j}: {e}")),
                    };
                    if let Some(e) = outcome {
                        if let Ok(mut f) = failed.lock() {
                            f.get_or_insert(e);
                        }
                        return;
                    }
                }
            });
        }
    });
    if let Some(e) = failed.lock().map_err(|_| anyhow!("poisoned"))?.take() {
        bail!("loading failed: {e}");
    }
    let secs = started.elapsed().as_secs_f64();
    Ok(json!({
        "points": total,
        "requests": bodies,
        "lines_per_request": per,
        "conns": conns,
        "secs": secs,
        "pts_per_s": total as f64 / secs,
    }))
}

/// The data set's points from second `--from-second` on, written straight into a Fieldline
/// database file (whose devices and channels exist already: a `load` through `/write` of the
/// first seconds registered them) with rusqlite: the same rows in the same order as `load`
/// sends them, `--lines` rows per transaction, so that the table's b-tree is built by the same
/// sequence of inserts. For when loading everything through `/write` takes too long.
fn load_sqlite(a: &Args) -> Result<serde_json::Value> {
    let ds = DataSet::from_args(a)?;
    let from_second: u64 = a.num("from-second", 0)?;
    let per: u64 = a.num("lines", 100_000)?;
    let db = rusqlite::Connection::open(a.req("db")?)?;
    db.busy_timeout(Duration::from_secs(30))?;
    db.pragma_update(None, "synchronous", "NORMAL")?;
    if let Some(mb) = a.opt("cache-mb") {
        db.pragma_update(
            None,
            "cache_size",
            format!("-{}", mb.parse::<u64>()? * 1024),
        )?;
    }
    // (uuid, communicationId) -> channel key
    let mut keys: HashMap<(String, String), i64> = HashMap::new();
    {
        let mut stmt = db.prepare(
            "SELECT d.uuid, c.communication_id, c.key FROM channels c \
             JOIN devices d ON d.key = c.device_key",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            keys.insert((r.get(0)?, r.get(1)?), r.get(2)?);
        }
    }
    let mut series_keys = Vec::with_capacity(ds.series() as usize);
    for d in ds.first_device..ds.first_device + ds.devices {
        let u = uuid(ds.seed, d);
        for c in 0..ds.channels {
            let comm = format!("c{:02}", c + 1);
            let key = keys.get(&(u.clone(), comm.clone())).ok_or_else(|| {
                anyhow!("device {u} has no channel {comm}: write its first points through /write")
            })?;
            series_keys.push(*key);
        }
    }
    let started = Instant::now();
    let (first, total) = (from_second * ds.series(), ds.points());
    let mut p = first;
    while p < total {
        let end = (p + per).min(total);
        let tx = db.unchecked_transaction()?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO points (channel_key, ts, value) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (channel_key, ts) DO UPDATE SET value = excluded.value",
            )?;
            let mut hours = std::collections::BTreeSet::new();
            for q in p..end {
                let t = q / ds.series();
                let s = q % ds.series();
                let (d, c) = (s / ds.channels, s % ds.channels);
                let v = ds.value(ds.first_device + d, c, t);
                let ts_ms = (ds.start_s + t as i64) * 1000;
                stmt.execute((series_keys[s as usize], ts_ms, v))?;
                hours.insert((series_keys[s as usize], ts_ms - ts_ms % 3_600_000));
            }
            mark_pending(&tx, hours)?;
        }
        tx.commit()?;
        p = end;
    }
    let secs = started.elapsed().as_secs_f64();
    Ok(json!({
        "points": total - first,
        "rows_per_transaction": per,
        "secs": secs,
        "pts_per_s": (total - first) as f64 / secs,
    }))
}

/// The data set's shape: its devices' UUIDs, first and last time, and size.
fn info(a: &Args) -> Result<serde_json::Value> {
    let ds = DataSet::from_args(a)?;
    let uuids: Vec<String> = (ds.first_device..ds.first_device + ds.devices)
        .map(|d| uuid(ds.seed, d))
        .collect();
    Ok(json!({
        "uuids": uuids,
        "channels": ds.channels,
        "start_ms": ds.start_s * 1000,
        "end_ms": (ds.start_s + ds.seconds as i64) * 1000,
        "seconds": ds.seconds,
        "points": ds.points(),
    }))
}

fn lines(a: &Args) -> Result<()> {
    let ds = DataSet::from_args(a)?;
    let mut out = io::BufWriter::new(io::stdout().lock());
    let mut s = String::new();
    for p in 0..ds.points() {
        s.clear();
        ds.line(&mut s, p);
        out.write_all(s.as_bytes())?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The SQLite ceiling

fn ceiling(a: &Args) -> Result<serde_json::Value> {
    let path = a.req("db")?;
    let w = Workload::parse(a.req("workload")?)?;
    if w == Workload::Telegraf1000 {
        // Its lines are general series (four typed values each, in `field_values`), not rows
        // of `points`: the channels' upsert below would be another workload's ceiling.
        bail!("telegraf1000 has no ceiling");
    }
    let duration = a.secs("duration", 4.0)?;
    let conns: usize = a.num("conns", 32)?;
    let ts_base: i64 = a.num("ts-base", 1_700_000_000_000)?;
    let db = fieldline_storage::native::open(std::path::Path::new(path))?;
    fieldline_storage::migrate(&db)?;
    db.pragma_update(None, "synchronous", "FULL")?;
    // Channel keys: `conns` devices of 32 (or 8) channels, as the HTTP workloads create them.
    let per_device: i64 = if w == Workload::Lp1000 { 8 } else { 32 };
    // `--group N`: N requests' batches a transaction, as the host's writer commits a group
    // of the requests that wait for it (1: the plain ceiling).
    let group: u64 = a.num("group", 1u64)?.max(1);
    let (mut batches, mut rows, started) = (0u64, 0u64, Instant::now());
    // Requests go round the devices as the connections' requests interleave.
    let mut next_i = vec![0u64; conns];
    while started.elapsed() < duration {
        let tx = db.unchecked_transaction()?;
        for _ in 0..group {
            let k = (batches % conns as u64) as usize;
            let batch = w.rows(k, next_i[k], ts_base);
            next_i[k] += 1;
            let mut stmt = tx.prepare_cached(
                "INSERT INTO points (channel_key, ts, value) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (channel_key, ts) DO UPDATE SET value = excluded.value",
            )?;
            for (k, c, ts, v) in &batch {
                stmt.execute((1 + *k as i64 * per_device + *c as i64, ts, v))?;
            }
            batches += 1;
            rows += batch.len() as u64;
        }
        tx.commit()?;
    }
    let secs = started.elapsed().as_secs_f64();
    Ok(json!({
        "workload": a.req("workload")?,
        "batches": batches,
        "points": rows,
        "secs": secs,
        "pts_per_s": rows as f64 / secs,
        "batch_ms": secs * 1000.0 / batches as f64,
        "group": group,
    }))
}

// ---------------------------------------------------------------------------------------------
// Diagnostics for docs/benchmarks.md

/// Each `--query`'s plan (`EXPLAIN QUERY PLAN`) and its best time of 7 runs, stepping every
/// row, on a read-only connection to `--db`: the SQLite the host links, outside the host.
fn sql(a: &Args) -> Result<serde_json::Value> {
    let db = rusqlite::Connection::open_with_flags(
        a.req("db")?,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )?;
    let mut out = Vec::new();
    for q in a.all("query") {
        let plan: Vec<String> = db
            .prepare(&format!("EXPLAIN QUERY PLAN {q}"))?
            .query_map([], |r| r.get::<_, String>(3))?
            .collect::<Result<_, _>>()?;
        let mut stmt = db.prepare(&q)?;
        let (mut best, mut rows) = (f64::MAX, 0u64);
        for _ in 0..7 {
            let t = Instant::now();
            let mut it = stmt.query([])?;
            rows = 0;
            while it.next()?.is_some() {
                rows += 1;
            }
            best = best.min(t.elapsed().as_secs_f64() * 1000.0);
        }
        out.push(json!({"query": q, "plan": plan, "best_ms": best, "rows": rows}));
    }
    Ok(json!({"sqlite": rusqlite::version(), "queries": out}))
}

/// The domain's line-protocol parser natively, on the first body an ingest workload sends
/// (`--workload lp1000`, the default, or `telegraf1000`, `lp32`): milliseconds per body for the
/// parse alone and with the model conversion (`series_points`, what `/write` does with a
/// line of the model's shape).
fn lp_parse(a: &Args) -> Result<serde_json::Value> {
    use fieldline_domain::line_protocol::{parse, Precision};
    use fieldline_domain::query::write::series_points;
    let w = Workload::parse(a.opt("workload").unwrap_or("lp1000"))?;
    if w == Workload::Conduit32 {
        bail!("lp-parse: conduit32 sends no line protocol");
    }
    let prefixes = vec![line_prefixes(w, 1, 0)];
    let mut body = String::new();
    lp_body(
        &mut body,
        w,
        &prefixes,
        &w.rows(0, 0, 1_700_000_000_000),
        1,
        0,
    );
    let precision = if w == Workload::Telegraf1000 {
        Precision::Nanoseconds
    } else {
        Precision::Milliseconds
    };
    let n: u32 = a.num("n", 2000)?;
    let time = |convert: bool| -> Result<(f64, usize)> {
        let started = Instant::now();
        let mut points = 0usize;
        for _ in 0..n {
            let (lines, errors) = parse(&body, precision, 0);
            if !errors.is_empty() {
                bail!("the body does not parse: {}", errors[0]);
            }
            points += if convert {
                lines
                    .iter()
                    .filter_map(series_points)
                    .map(|(_, fields)| fields.len())
                    .sum::<usize>()
            } else {
                lines.len()
            };
        }
        let ms = started.elapsed().as_secs_f64() * 1000.0 / f64::from(n);
        Ok((ms, points / n as usize))
    };
    let (parse_ms, lines) = time(false)?;
    let (both_ms, points) = time(true)?;
    Ok(
        json!({"workload": a.opt("workload").unwrap_or("lp1000"), "bytes": body.len(),
              "lines": lines, "points": points, "parse_ms_per_body": parse_ms,
              "ms_per_body": both_ms}),
    )
}

/// Marks the (channel, hour) pairs a bulk load wrote pending for the roll-up, as the storage
/// layer's writes do with their control row (schema version 20).
fn mark_pending(
    tx: &rusqlite::Connection,
    hours: impl IntoIterator<Item = (i64, i64)>,
) -> Result<()> {
    let mut mark = tx.prepare_cached(
        "INSERT INTO rollup_pending (channel_key, hour) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
    )?;
    for (channel, hour) in hours {
        mark.execute((channel, hour))?;
    }
    Ok(())
}

/// What rolling up an hour that is still being written costs: `--channels` channels with
/// `--minutes` of 1 Hz points in one hour, in a fresh database of Fieldline's schema at `--db`,
/// then `roll_up_pending` in batches of 100 channel-hours, each a transaction. `ticking`: during
/// the hour, which rolls up nothing (only ended hours are); `ended`: once it has ended, the one
/// roll-up of the hour, which every minute's tick repeated when the hour being written was
/// rolled up too.
fn roll_up(a: &Args) -> Result<serde_json::Value> {
    let path = a.req("db")?;
    let channels: i64 = a.num("channels", 1000)?;
    let minutes: i64 = a.num("minutes", 30)?;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{path}{suffix}"));
    }
    let db = fieldline_storage::native::open(std::path::Path::new(path))?;
    fieldline_storage::migrate(&db)?;
    let hour = fieldline_domain::Timestamp::now().hour_start().as_millis();
    let tx = db.unchecked_transaction()?;
    {
        let mut insert =
            tx.prepare("INSERT INTO points (channel_key, ts, value) VALUES (?1, ?2, ?3)")?;
        for c in 1..=channels {
            for s in 0..minutes * 60 {
                insert.execute((c, hour + s * 1000, (c + s) as f64))?;
            }
        }
        mark_pending(&tx, (1..=channels).map(|c| (c, hour)))?;
    }
    tx.commit()?;
    let tick = |ended_by: fieldline_domain::Timestamp| -> Result<(usize, f64)> {
        let started = Instant::now();
        let mut rolled = 0;
        loop {
            let n = fieldline_storage::roll_up_pending(&db, 100, ended_by)?;
            rolled += n;
            if n < 100 {
                return Ok((rolled, started.elapsed().as_secs_f64()));
            }
        }
    };
    let at = |ms: i64| fieldline_domain::Timestamp::from_millis(ms).map_err(|e| anyhow!("{e}"));
    let (during, during_s) = tick(at(hour + minutes * 60_000)?)?;
    let (ended, ended_s) = tick(at(hour + 3_600_000)?)?;
    Ok(json!({
        "channels": channels, "minutes": minutes,
        "ticking": {"channel_hours": during, "secs": during_s},
        "ended": {"channel_hours": ended, "secs": ended_s},
    }))
}

fn main() -> Result<()> {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let Some((cmd, rest)) = argv.split_first() else {
        bail!("usage: tsbench lines|load|ingest|get|ceiling [--option value]... (see the source)");
    };
    let a = Args::parse(rest)?;
    let out = match cmd.as_str() {
        "lines" => return lines(&a),
        "info" => info(&a),
        "load" => load(&a),
        "load-sqlite" => load_sqlite(&a),
        "ingest" => ingest(&a),
        "get" => get(&a),
        "ceiling" => ceiling(&a),
        "sql" => sql(&a),
        "lp-parse" => lp_parse(&a),
        "roll-up" => roll_up(&a),
        other => bail!("unknown command {other:?}"),
    }
    .with_context(|| format!("tsbench {cmd}"))?;
    println!("{out}");
    Ok(())
}
