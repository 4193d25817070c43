#!/usr/bin/env python3
"""`scripts/bench compare` and `scripts/bench query`: the measurements, the checks and the report.

scripts/bench.d/tsbench.sh installs what is missing, builds, starts the servers on loopback and
cleans up; this module drives them. Every request is sent by the same client for every system,
`tsbench` (shared/storage/examples/tsbench.rs), which also generates the data set and writes the
SQLite ceiling. Standard library only, except matplotlib for the plot.

compare   Fieldline against InfluxDB 1.x, same data, same client, alternating in rounds:
          ingestion (32 and 1000 points per request, and 1000 Telegraf `cpu` lines) beside
          the rusqlite ceiling, then a data set loaded into both, then InfluxQL queries whose
          answers must agree. With
          `--backend postgres`, Fieldline on PostgreSQL too, in every one of those, and
          ingestion through 1, 2 and 3 hosts in front of one PostgreSQL database.
query     p50/p99 of the time-series reads through the host alone (/epts/last, /epts/data,
          InfluxQL GROUP BY time over one and 30 days).
"""

import argparse
import sqlite3
import base64
import json
import math
import os
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EMAIL = "bench@example.com"
PASSWORD = "bench password, not secret"
DB = "fieldline"
WRITE_PATH = f"/write?db={DB}&precision=ms"


def log(msg):
    print(f"\033[1m==> {msg}\033[0m", file=sys.stderr, flush=True)


def fail(msg):
    print(f"\nFAILED: {msg}", file=sys.stderr, flush=True)
    sys.exit(1)


# ------------------------------------------------------------------------------------------
# HTTP (set-up and answer checks; the measured requests go through tsbench)


def http(method, url, body=None, headers=None, timeout=600):
    data = None
    hdrs = dict(headers or {})
    if body is not None:
        data = json.dumps(body).encode() if not isinstance(body, bytes) else body
        hdrs.setdefault("content-type", "application/json")
    req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw = r.read()
            return r.status, raw
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def http_json(method, url, body=None, headers=None, expect=(200, 201)):
    status, raw = http(method, url, body, headers)
    if status not in expect:
        fail(f"{method} {url}: {status} {raw[:500]!r}")
    return json.loads(raw) if raw else None


class Fieldline:
    """The organization the benchmark uses: sign-up, automatic registration, a subscription
    without limits in the way (points quota, Conduit tier), a Conduit token for HTTP Basic."""

    def __init__(self, addr):
        self.addr = addr
        self.base = f"http://{addr}"
        self.epts_token = None
        self.epts_token_at = 0.0

    def set_up(self):
        s = http_json("POST", self.base + "/api/v1/signup",
                      {"organization": "Bench", "email": EMAIL, "password": PASSWORD})
        auth = {"authorization": "Bearer " + s["access_token"]}
        http_json("PATCH", self.base + "/api/v1/organization", {"autoRegister": True}, auth)
        # The default subscription allows 360,000 points an hour and Basic Conduit tokens
        # (100 uploads a second): the operator lifts both, as for a large customer (tsbench.sh
        # starts the host with SPIN_VARIABLE_OPERATOR_TOKEN).
        operator = {"authorization": "Bearer " + os.environ["SPIN_VARIABLE_OPERATOR_TOKEN"]}
        http_json("PUT", self.base + "/api/v1/operator/organizations/"
                  + s["organization"] + "/subscription", {
                      "pointsPerHour": 2 ** 62, "detailedRetentionDays": 36500,
                      "aggregatedRetentionDays": 36500, "maxUsers": 10,
                      "notificationEmailsPerDay": 100, "conduitTier": "enterprise"}, operator)
        tok = http_json("POST", self.base + "/api/v1/tokens",
                        {"kind": "conduit", "name": "bench", "tier": "enterprise"}, auth)
        self.conduit_token = tok["secret"]
        # InfluxDB clients authenticate with HTTP Basic; a Conduit token as the password costs
        # a hash lookup, where the account password would cost an Argon2 verification.
        self.basic = "Basic " + base64.b64encode(
            f"{EMAIL}:{self.conduit_token}".encode()).decode()

    def bearer(self):
        """An access token from /epts/token, renewed when older than 10 minutes (they last 15)."""
        if self.epts_token is None or time.time() - self.epts_token_at > 600:
            t = http_json("POST", self.base + "/epts/token",
                          {"username": EMAIL, "password": PASSWORD})
            self.epts_token = t["access_token"]
            self.epts_token_at = time.time()
        return "Bearer " + self.epts_token


# ------------------------------------------------------------------------------------------
# tsbench


class Client:
    def __init__(self, binary, seed):
        self.binary = binary
        self.seed = seed

    def run(self, *args):
        cmd = [self.binary, *map(str, args)]
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode != 0:
            fail(f"{' '.join(cmd[:3])} ...: {p.stderr.strip() or p.stdout.strip()}")
        return json.loads(p.stdout)

    def dataset_args(self, ds):
        out = ["--seed", self.seed, "--devices", ds["devices"], "--channels", ds["channels"],
               "--first-device", ds.get("first_device", 0), "--start", ds["start"]]
        if "seconds" in ds:
            out += ["--seconds", ds["seconds"]]
        else:
            out += ["--days", ds["days"]]
        return out

    def info(self, ds):
        return self.run("info", *self.dataset_args(ds))

    def load(self, addr, ds, lines, conns, header=None, path=WRITE_PATH):
        extra = ["--header", header] if header else []
        return self.run("load", "--addr", addr, "--path", path, "--lines", lines,
                        "--conns", conns, *extra, *self.dataset_args(ds))

    def get(self, addr, paths, conns, warmup, duration, header=None):
        args = ["get", "--addr", addr, "--conns", conns, "--warmup", warmup,
                "--duration", duration]
        for p in paths:
            args += ["--path", p]
        if header:
            args += ["--header", header]
        return self.run(*args)


def roll_up(tmp):
    """Runs Fieldline's maintenance job (`fieldline trigger cron maintenance`, what its cron
    trigger runs every minute, also during the load) until no hour is left pending, so that
    queries over whole hours read the hourly rollups as they would a minute after the writes.
    Returns the seconds it took."""
    state = os.path.join(tmp, "spin")
    db = os.path.join(state, "sqlite_db.db")
    started = time.time()
    while True:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            pending = conn.execute("SELECT count(*) FROM rollup_pending").fetchone()[0]
        if pending == 0:
            return time.time() - started
        log(f"  rolling up: {pending:,} channel-hours pending")
        run_maintenance(state)


def run_maintenance(state, env=None):
    """One run of the maintenance job (`fieldline trigger cron maintenance`) on the host's
    state. On SQLite, the host's own cron run of the same job may hold the database's write
    lock for longer than this second process waits (5 s): such a run is tried again, 2 s
    apart, up to 20 times. Any other failure stops the benchmark."""
    for _ in range(20):
        run = subprocess.run([os.path.join(ROOT, "target", "release", "fieldline"), "trigger",
                              "cron", "maintenance", "--from", os.path.join(ROOT, "spin.toml"),
                              "--state-dir", state], capture_output=True, text=True, env=env)
        if run.returncode == 0:
            return
        if "database is locked" not in run.stderr:
            break
        log("  the database was locked (the host's own maintenance run): trying again")
        time.sleep(2)
    fail(f"the maintenance job failed: {run.stdout}{run.stderr}")


def psql(args, sql):
    """One value from the benchmark's PostgreSQL database (psql on 127.0.0.1:5432)."""
    p = subprocess.run(["psql", "-h", "127.0.0.1", "-p", "5432", "-U", "postgres", "-d",
                        args.pg_db, "-X", "-At", "-c", sql], capture_output=True, text=True)
    if p.returncode != 0:
        fail(f"psql {sql!r}: {p.stderr.strip()}")
    return p.stdout.strip()


def roll_up_pg(args):
    """roll_up for the PostgreSQL hosts: the maintenance job run by `fieldline trigger cron`
    with the first PostgreSQL host's variables, until no hour is pending. Returns seconds."""
    env = dict(os.environ, SPIN_VARIABLE_STORAGE="postgres",
               SPIN_VARIABLE_POSTGRES_URL=args.pg_url,
               SPIN_VARIABLE_POSTGRES_HOST="127.0.0.1:5432")
    started = time.time()
    while True:
        pending = int(psql(args, "SELECT count(*) FROM rollup_pending"))
        if pending == 0:
            return time.time() - started
        log(f"  rolling up (PostgreSQL): {pending:,} channel-hours pending")
        run_maintenance(os.path.join(args.tmp, "pg1"), env)


def pg_footprint(args):
    """The benchmark database's size (pg_database_size: tables, indexes, TOAST and the catalog
    of an empty database; not the cluster's WAL) after a VACUUM, and the points it holds."""
    psql(args, "VACUUM")
    return {"bytes": int(psql(args, "SELECT pg_database_size(current_database())")),
            "points": int(psql(args, "SELECT (SELECT count(*) FROM points) + "
                               "(SELECT count(*) FROM field_values)")),
            "empty_bytes": int(psql(args, "SELECT pg_database_size('template1')"))}


def pg_backends_mib(args):
    """The peak resident memory (VmHWM) of each PostgreSQL backend process connected to the
    benchmark database (the hosts' pooled connections live as long as the hosts, so their peaks
    cover the load): their count, sum and largest, in MiB. Each counts the shared buffers it
    touched, which all of them share: the sum overstates, the largest understates."""
    pids = [int(x) for x in psql(args, "SELECT pid FROM pg_stat_activity WHERE datname = "
                                 "current_database() AND pid <> pg_backend_pid()").split()]
    peaks = [rss_peak_mib(pid) for pid in pids]
    peaks = [x for x in peaks if not math.isnan(x)]
    return {"backends": len(peaks), "sum_mib": sum(peaks),
            "max_mib": max(peaks) if peaks else float("nan")}


def rss_reset(pid):
    """Resets the peak resident set size the kernel keeps for `pid` (VmHWM), so that the next
    reading is the peak of what follows (Linux 4.0 and later); False where it cannot."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def load_watched(client, pid, addr, ds, lines, conns, header=None):
    """`client.load` into the server at `addr`, with that server's (`pid`) peak resident memory
    during the load as `peak_rss_mib`."""
    rss_reset(pid)
    res = client.load(addr, ds, lines, conns, header=header)
    res["peak_rss_mib"] = rss_peak_mib(pid)
    return res


def rss_peak_mib(pid):
    """The peak resident set size of `pid` since its start or the last rss_reset, in MiB."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def dir_bytes(*paths):
    """Bytes on disk (allocated blocks, as du counts them) of the files under `paths`."""
    total = 0
    for top in paths:
        for dirpath, _, files in os.walk(top):
            for name in files:
                try:
                    total += os.lstat(os.path.join(dirpath, name)).st_blocks * 512
                except OSError:
                    pass
    return total


def fieldline_footprint(db):
    """Fieldline's database after a checkpoint (the WAL copied into the main file and truncated):
    its bytes on disk and the values it holds, the channels' points and the general series'
    field values (telegraf1000's, four a line) (rollups and every other table count as bytes)."""
    with sqlite3.connect(db, timeout=60) as conn:
        for _ in range(60):
            busy = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
            if not busy:
                break
            time.sleep(1)
        points = conn.execute("SELECT (SELECT count(*) FROM points) + "
                              "(SELECT count(*) FROM field_values)").fetchone()[0]
    size = sum(os.stat(db + ext).st_blocks * 512 for ext in ("", "-wal")
               if os.path.exists(db + ext))
    return {"bytes": size, "points": points}


def influx_footprint(base, influx_dir, limit_s=300):
    """InfluxDB's data and WAL directories once it has settled: its cache snapshotted into TSM
    files and those fully compacted (the bench's influxd snapshots after 30 s without writes and
    compacts fully after 1 min: scripts/bench.d/tsbench.sh), seen as 3 equal sizes in a row with
    an empty WAL; and the values it holds, counted by InfluxQL (every field of every
    measurement: `value` of the data set's, the four of telegraf1000's `cpu`)."""
    dirs = [os.path.join(influx_dir, d) for d in ("data", "wal")]
    sizes, settled, started = [], False, time.time()
    while time.time() - started < limit_s:
        wal = dir_bytes(dirs[1])
        sizes.append(dir_bytes(*dirs))
        if wal == 0 and len(sizes) >= 3 and len(set(sizes[-3:])) == 1:
            settled = True
            break
        time.sleep(5)
    ans = http_json("GET", base + "/query?" + urllib.parse.urlencode(
        {"db": DB, "q": "SELECT count(*) FROM /.*/"}))
    points = sum(sum(x or 0 for x in v[1:]) for s in series_of(ans, "InfluxDB count")
                 for v in s.get("values", []))
    return {"bytes": sizes[-1], "points": points, "settled": settled,
            "waited_s": time.time() - started}


def median(xs):
    xs = [x for x in xs if x is not None and not (isinstance(x, float) and math.isnan(x))]
    return statistics.median(xs) if xs else float("nan")


def influxql_path(q, db=True):
    params = {"q": q, "epoch": "ms"}
    if db:
        params["db"] = DB
    return "/query?" + urllib.parse.urlencode(params)


def rfc3339(ms):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms / 1000))


def uuid_regex(uuids):
    return "/^(" + "|".join(uuids) + ")$/"


# ------------------------------------------------------------------------------------------
# Answer checks


def host_reason(tmp):
    """What the host logged about the last failed request (the guest's own message, else the
    trap), to say why an answer was a 500."""
    try:
        text = open(os.path.join(tmp, "host.log"), errors="replace").read()
    except OSError:
        return ""
    for marker in ("memory allocation of", "panicked at", "wasm trap:"):
        at = text.rfind(marker)
        if at >= 0:
            line = text[at:].splitlines()[0].strip()
            return f" (host log: {line[:120]})"
    return ""


def close(a, b, rel=1e-9):
    if isinstance(a, bool) or isinstance(b, bool) or a is None or b is None:
        return a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b or abs(a - b) <= rel * max(abs(a), abs(b), 1e-12)
    return a == b


def series_of(answer, who):
    results = answer.get("results")
    if not isinstance(results, list) or len(results) != 1:
        fail(f"{who}: unexpected answer {json.dumps(answer)[:300]}")
    r = results[0]
    if "error" in r:
        fail(f"{who}: error {r['error']}")
    ss = r.get("series", [])
    return sorted(ss, key=lambda s: (s.get("name", ""), sorted((s.get("tags") or {}).items())))


def compare_answers(name, fl, ix):
    """Fieldline's answer against InfluxDB's: same series, columns and times, values within a
    relative 1e-9 (sums are added in different orders). Fails loudly on the first difference."""
    a, b = series_of(fl, f"{name} (Fieldline)"), series_of(ix, f"{name} (InfluxDB)")
    if len(a) != len(b):
        fail(f"{name}: Fieldline answers {len(a)} series, InfluxDB {len(b)}")
    rows = 0
    for sa, sb in zip(a, b):
        for key in ("name", "tags", "columns"):
            if sa.get(key) != sb.get(key):
                fail(f"{name}: {key} differs: Fieldline {sa.get(key)!r}, InfluxDB {sb.get(key)!r}")
        va, vb = sa.get("values", []), sb.get("values", [])
        if len(va) != len(vb):
            fail(f"{name}: series {sa.get('tags')}: Fieldline {len(va)} rows, InfluxDB {len(vb)}")
        for i, (ra, rb) in enumerate(zip(va, vb)):
            if len(ra) != len(rb) or not all(close(x, y) for x, y in zip(ra, rb)):
                fail(f"{name}: series {sa.get('tags')} row {i}: Fieldline {ra}, InfluxDB {rb}")
        rows += len(va)
    if rows == 0:
        fail(f"{name}: both answers are empty: the data set did not load")
    return rows


# ------------------------------------------------------------------------------------------
# Reports


def fmt(x, digits=1):
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    return f"{x:,.{digits}f}"


def ratio(a, b):
    if not a or not b or any(isinstance(x, float) and math.isnan(x) for x in (a, b)):
        return float("nan")
    return a / b


def table(headers, rows):
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(headers)]
    line = "  ".join(f"{h:<{w}}" if i == 0 else f"{h:>{w}}" for i, (h, w) in
                     enumerate(zip(headers, widths)))
    out = [line, "  ".join("-" * w for w in widths)]
    for r in rows:
        out.append("  ".join(f"{c:<{w}}" if i == 0 else f"{c:>{w}}" for i, (c, w) in
                             enumerate(zip(r, widths))))
    return "\n".join(out)


def ensure_matplotlib():
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        log("installing matplotlib (PyPI) for the plot")
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "matplotlib"],
                       check=True)
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


# ------------------------------------------------------------------------------------------
# compare

INGEST = [
    # name, what, Fieldline's workload and auth, InfluxDB's workload, ceiling batch shape
    # (None: no ceiling), values per point (fields per line)
    ("ingest-32-conduit", "32 points/request: Fieldline Conduit v2 JSON, InfluxDB line protocol",
     "conduit32", "lp32", "lp32", 1),
    ("ingest-32-lp", "32 points/request: line protocol to both (/write)", "lp32", "lp32", "lp32",
     1),
    ("ingest-1000-lp", "1000 points/request: line protocol to both (/write)", "lp1000", "lp1000",
     "lp1000", 1),
    # Telegraf's `cpu` input: Fieldline stores these lines as general series (typed values in
    # `field_values`, four a line), not as rows of `points`. No ceiling: lp1000's would time
    # 1000 single-value upserts into `points`, a quarter of the values into another table, and
    # FL/ceiling would read as if it were the same work.
    ("ingest-1000-telegraf", "1000 points/request: Telegraf `cpu` lines (5 tags, 3 float "
     "fields and an integer) to both (/write?db=fieldline, ns times)", "telegraf1000",
     "telegraf1000", None, 4),
]


SCALE = [
    # name, tsbench workload
    ("scale-32-lp", "lp32"),
    ("scale-1000-lp", "lp1000"),
]


def ingest_parallel(client, fl, addrs, workload, conns, args, ts_base, device_base):
    """One `tsbench ingest` per address, all at once, the connections split between them (each
    client its own devices): their points/s and requests/s summed, the worst p50 and p99."""
    procs = []
    offset = device_base
    for i, addr in enumerate(addrs):
        n = conns // len(addrs) + (1 if i < conns % len(addrs) else 0)
        cmd = [client.binary, "ingest", "--addr", addr, "--workload", workload, "--conns", n,
               "--warmup", args.warmup, "--duration", args.ingest_secs, "--ts-base", ts_base,
               "--seed", client.seed, "--token", fl.conduit_token, "--device-offset", offset,
               "--header", f"Authorization: {fl.basic}"]
        offset += n
        procs.append(subprocess.Popen(list(map(str, cmd)), stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True))
    outs = []
    for p in procs:
        out, err = p.communicate()
        if p.returncode != 0:
            fail(f"tsbench ingest ({workload}, {len(addrs)} hosts): {err.strip() or out.strip()}")
        outs.append(json.loads(out))
    for o in outs:
        if o.get("errors"):
            fail(f"{workload} through {len(addrs)} hosts: {o['errors']} errors, first: "
                 f"{o.get('first_error')}")
    return {"hosts": len(addrs), "pts_per_s": sum(o["pts_per_s"] for o in outs),
            "rps": sum(o["rps"] for o in outs), "p50_ms": max(o["p50_ms"] for o in outs),
            "p99_ms": max(o["p99_ms"] for o in outs), "clients": outs}


def scaling(args, client, fl, hosts):
    """Ingestion through 1, 2 and 3 hosts in front of one PostgreSQL database, the same total
    connections spread over them, alternating the host counts in rounds; medians."""
    out = {}
    for wi, (name, workload) in enumerate(SCALE):
        raw = {n: [] for n in range(1, len(hosts) + 1)}
        for r in range(args.rounds):
            counts = list(raw)
            if (r + wi) % 2:
                counts.reverse()
            for n in counts:
                log(f"round {r + 1}/{args.rounds}: {name} through {n} PostgreSQL host(s)")
                # Each round and host count its own 10 days, after the ingestion rounds'.
                ts_base = 1_700_000_000_000 + (args.rounds + r * len(hosts) + n) * 864_000_000
                raw[n].append(ingest_parallel(client, fl, hosts[:n], workload,
                                              args.ingest_conns, args, ts_base,
                                              10_000 + 1000 * wi))
        out[name] = {"workload": workload, "rounds": {str(n): v for n, v in raw.items()},
                     "median": {str(n): {k: median([x[k] for x in v]) for k in
                                         ("pts_per_s", "rps", "p50_ms", "p99_ms")}
                                for n, v in raw.items()}}
    return out


def compare(args):
    client = Client(args.bin, args.seed)
    fl = Fieldline(args.fieldline)
    ix_base = f"http://{args.influx}"
    started = time.time()
    log("setting up: Fieldline organization and token, InfluxDB database")
    fl.set_up()
    pg = args.backend == "postgres"
    fl_pg = None
    if pg:
        pg_hosts = args.pg_hosts.split(",")
        fl_pg = Fieldline(pg_hosts[0])
        log(f"setting up: the organization on PostgreSQL (through {pg_hosts[0]})")
        fl_pg.set_up()
    http_json("POST", ix_base + "/query?" + urllib.parse.urlencode({"q": f"CREATE DATABASE {DB}"}))
    report = {"command": args.command_line, "config": vars(args).copy(), "ingest": {},
              "load": {}, "queries": {}}
    report["config"].pop("func", None)

    # ---- 1. ingestion, on empty databases, alternating in rounds ----
    systems = ["fieldline", "influxdb", "ceiling"] + (["postgres"] if pg else [])
    raw = {name: {who: [] for who in systems} for name, *_ in INGEST}
    for r in range(args.rounds):
        ts_base = 1_700_000_000_000 + r * 864_000_000  # each round its own 10 days
        for wi, (name, _, fw, iw, shape, _) in enumerate(INGEST):
            log(f"round {r + 1}/{args.rounds}: {name}")
            runs = {
                "fieldline": lambda: client.run(
                    "ingest", "--addr", args.fieldline, "--workload", fw, "--conns",
                    args.ingest_conns, "--warmup", args.warmup, "--duration", args.ingest_secs,
                    "--ts-base", ts_base, "--seed", args.seed, "--token", fl.conduit_token,
                    "--device-offset", 1000 * wi,
                    "--header", f"Authorization: {fl.basic}"),
                "influxdb": lambda: client.run(
                    "ingest", "--addr", args.influx, "--workload", iw, "--conns",
                    args.ingest_conns, "--warmup", args.warmup, "--duration", args.ingest_secs,
                    "--ts-base", ts_base, "--seed", args.seed, "--device-offset", 1000 * wi,
                    "--header", f"Authorization: {fl.basic}"),
                "ceiling": lambda: client.run(
                    "ceiling", "--db", os.path.join(args.tmp, f"ceiling-{name}.db"),
                    "--workload", shape, "--conns", args.ingest_conns,
                    "--duration", args.ingest_secs, "--ts-base", ts_base),
            }
            if pg:
                runs["postgres"] = lambda: client.run(
                    "ingest", "--addr", fl_pg.addr, "--workload", fw, "--conns",
                    args.ingest_conns, "--warmup", args.warmup, "--duration", args.ingest_secs,
                    "--ts-base", ts_base, "--seed", args.seed, "--token", fl_pg.conduit_token,
                    "--device-offset", 1000 * wi,
                    "--header", f"Authorization: {fl_pg.basic}")
            order = ["influxdb", "fieldline"] + (["ceiling"] if shape else []) + \
                (["postgres"] if pg else [])
            if (r + wi) % 2:
                order.reverse()
            for who in order:
                res = runs[who]()
                if res.get("errors"):
                    fail(f"{name} {who}: {res['errors']} errors, first: {res.get('first_error')}")
                raw[name][who].append(res)
    for name, what, fw, iw, shape, vpp in INGEST:
        # A system that did not run (no ceiling) has NaN medians: "-" in the table.
        m = {who: {k: median([x.get(k) for x in raw[name][who]]) for k in
                   ("pts_per_s", "rps", "p50_ms", "p99_ms")} for who in raw[name]}
        for who in m:
            m[who]["values_per_s"] = m[who]["pts_per_s"] * vpp
        report["ingest"][name] = {
            "what": what, "fieldline_workload": fw, "influxdb_workload": iw,
            "ceiling_workload": shape, "values_per_point": vpp, "rounds": raw[name], "median": m,
            "fieldline_over_influxdb": ratio(m["fieldline"]["pts_per_s"],
                                             m["influxdb"]["pts_per_s"]),
            "fieldline_over_ceiling": ratio(m["fieldline"]["pts_per_s"],
                                            m["ceiling"]["pts_per_s"]),
        }
        if pg:
            report["ingest"][name]["postgres_over_influxdb"] = ratio(
                m["postgres"]["pts_per_s"], m["influxdb"]["pts_per_s"])
            report["ingest"][name]["postgres_over_fieldline"] = ratio(
                m["postgres"]["pts_per_s"], m["fieldline"]["pts_per_s"])
    if pg:
        report["scaling"] = scaling(args, client, fl_pg, pg_hosts)

    # ---- 2. the data set, into both ----
    ds = {"devices": args.devices, "channels": 8, "days": args.days, "start": args.start}
    info = client.info(ds)
    log(f"loading the data set into InfluxDB: {info['points']:,} points "
        f"({args.devices} devices x 8 channels x {args.days:g} days at 1 Hz), "
        f"{args.influx_lines} lines per /write")
    ix_load = load_watched(client, args.influx_pid, args.influx, ds, args.influx_lines,
                           args.load_conns)
    report["load"]["influxdb"] = {"how": f"/write, {args.influx_lines} lines per request, "
                                  f"{args.load_conns} connections", **ix_load}
    log(f"InfluxDB loaded at {ix_load['pts_per_s']:,.0f} points/s")
    write_secs = info["seconds"] if args.fieldline_load == "write" else min(
        args.write_seconds, info["seconds"])
    head = dict(ds, seconds=write_secs)
    head.pop("days")
    log(f"loading into Fieldline through /write: the first {write_secs:,} s "
        f"({write_secs * args.devices * 8:,} points), {args.fieldline_lines} lines per request")
    fl_load = load_watched(client, args.host_pid, args.fieldline, head, args.fieldline_lines,
                           args.load_conns, header=f"Authorization: {fl.basic}")
    report["load"]["fieldline_write"] = {
        "how": f"/write, {args.fieldline_lines} lines per request, {args.load_conns} "
               f"connections (registers the {args.devices * 8} series on first sight)",
        **fl_load}
    log(f"Fieldline /write loaded at {fl_load['pts_per_s']:,.0f} points/s")
    if write_secs < info["seconds"]:
        log(f"loading the remaining {info['points'] - fl_load['points']:,} points into "
            f"Fieldline's SQLite file natively (same rows, same order; see docs/benchmarks.md)")
        native = client.run("load-sqlite", "--db", args.fieldline_db, "--from-second",
                            write_secs, "--lines", 100_000, "--cache-mb", 64,
                            *client.dataset_args(ds))
        report["load"]["fieldline_native"] = {
            "how": "rusqlite into the host's database file, time order, 100,000 rows per "
                   "transaction, while the host is idle", **native}
        log(f"native load at {native['pts_per_s']:,.0f} points/s")
    report["load"]["dataset"] = {k: v for k, v in info.items() if k != "uuids"}
    log("rolling up Fieldline's hours (the maintenance job, as its cron trigger runs it)")
    report["load"]["fieldline_rollup_s"] = roll_up(args.tmp)
    log(f"rolled up in {report['load']['fieldline_rollup_s']:.1f} s")
    if pg:
        # All of it through /write (--fieldline-load native writes SQLite files only).
        log(f"loading into Fieldline on PostgreSQL through /write: {info['points']:,} points, "
            f"{args.fieldline_lines} lines per request")
        pg_load = load_watched(client, args.pg_host_pid, fl_pg.addr, ds, args.fieldline_lines,
                               args.load_conns, header=f"Authorization: {fl_pg.basic}")
        pg_load["backends"] = pg_backends_mib(args)
        report["load"]["postgres_write"] = {
            "how": f"/write, {args.fieldline_lines} lines per request, {args.load_conns} "
                   f"connections, one host", **pg_load}
        log(f"Fieldline on PostgreSQL loaded at {pg_load['pts_per_s']:,.0f} points/s")
        report["load"]["postgres_rollup_s"] = roll_up_pg(args)
        log(f"rolled up in {report['load']['postgres_rollup_s']:.1f} s")

    # ---- 3. queries ----
    uuids = info["uuids"]
    ten = uuids[:10]
    start, end = info["start_ms"], info["end_ms"]
    day0 = max(start, end - 86_400_000)
    one = f"uuid = '{uuids[0]}'"
    many = f"uuid =~ {uuid_regex(ten)}"
    span = f"time >= '{rfc3339(start)}' AND time < '{rfc3339(end)}'"
    day = f"time >= '{rfc3339(day0)}' AND time < '{rfc3339(end)}'"
    n10 = len(ten)
    queries = [
        ("last-10", f"latest value of {n10} series",
         f"SELECT last(value) FROM c01 WHERE {many} GROUP BY uuid"),
        ("raw-1d", "raw points of 1 series over 1 day",
         f"SELECT value FROM c01 WHERE {one} AND {day}"),
        ("mean-1m-1d", "mean by 1 minute, 1 series, 1 day",
         f"SELECT mean(value) FROM c01 WHERE {one} AND {day} GROUP BY time(1m)"),
    ]
    for fn in ("mean", "max", "count"):
        queries.append((f"{fn}-1h-all", f"{fn} by 1 hour, 1 series, whole span",
                        f"SELECT {fn}(value) FROM c01 WHERE {one} AND {span} GROUP BY time(1h)"))
    for fn in ("mean", "max", "count"):
        queries.append((f"{fn}-1h-all-10", f"{fn} by 1 hour, {n10} series, whole span",
                        f"SELECT {fn}(value) FROM c01 WHERE {many} AND {span} "
                        f"GROUP BY time(1h), uuid"))
    auth = f"Authorization: {fl.basic}"
    log("checking that both systems answer every query alike")
    rows, failed = {}, {}
    for name, _, q in queries:
        path = influxql_path(q)
        st_f, body_f = http("GET", fl.base + path, headers={"authorization": fl.basic})
        st_i, body_i = http("GET", ix_base + path)
        if st_f != 200 or st_i != 200:
            # Not a disagreement but a failure to answer: reported in the table, not timed,
            # and the run ends with a non-zero status.
            failed[name] = (f"Fieldline {st_f} {body_f[:200].decode(errors='replace')!r}"
                            f"{host_reason(args.tmp) if st_f >= 500 else ''}, "
                            f"InfluxDB {st_i} {body_i[:200].decode(errors='replace')!r}")
            log(f"  {name}: FAILED: {failed[name]}")
            continue
        rows[name] = compare_answers(name, json.loads(body_f), json.loads(body_i))
        if pg:
            st_p, body_p = http("GET", fl_pg.base + path, headers={"authorization": fl_pg.basic})
            if st_p != 200:
                failed[name] = (f"Fieldline on PostgreSQL {st_p} "
                                f"{body_p[:200].decode(errors='replace')!r}")
                log(f"  {name}: FAILED: {failed[name]}")
                continue
            compare_answers(name + " (PostgreSQL)", json.loads(body_p), json.loads(body_i))
        log(f"  {name}: {rows[name]:,} rows, same numbers")
    qraw = {name: {who: [] for who in ["fieldline", "influxdb"] + (["postgres"] if pg else [])}
            for name, *_ in queries}
    for r in range(args.rounds):
        log(f"round {r + 1}/{args.rounds}: {len(queries) - len(failed)} queries x 2 systems, "
            f"{args.query_conns} connections, {args.query_secs:g} s each")
        for qi, (name, _, q) in enumerate(queries):
            if name in failed:
                continue
            order = [("influxdb", args.influx, auth), ("fieldline", args.fieldline, auth)]
            if pg:
                order.append(("postgres", fl_pg.addr, f"Authorization: {fl_pg.basic}"))
            if (r + qi) % 2:
                order.reverse()
            for who, addr, hdr in order:
                res = client.get(addr, [influxql_path(q)], args.query_conns, args.query_warmup,
                                 args.query_secs, header=hdr)
                if res.get("errors") or not res.get("requests"):
                    fail(f"{name} {who}: {res}")
                qraw[name][who].append(res)
    for name, what, q in queries:
        if name in failed:
            report["queries"][name] = {"what": what, "influxql": q, "failed": failed[name]}
            continue
        m = {who: {k: median([x.get(k) for x in qraw[name][who]]) for k in
                   ("p50_ms", "p99_ms", "rps", "requests", "bytes_per_answer")}
             for who in qraw[name]}
        report["queries"][name] = {
            "what": what, "influxql": q, "rows": rows[name], "rounds": qraw[name], "median": m,
            "p50_fieldline_over_influxdb": ratio(m["fieldline"]["p50_ms"],
                                                 m["influxdb"]["p50_ms"]),
            "p99_fieldline_over_influxdb": ratio(m["fieldline"]["p99_ms"],
                                                 m["influxdb"]["p99_ms"]),
        }
        if pg:
            report["queries"][name]["p50_postgres_over_influxdb"] = ratio(
                m["postgres"]["p50_ms"], m["influxdb"]["p50_ms"])
    # ---- 4. what each system keeps on disk for what it holds, once settled ----
    log("measuring bytes on disk per point: Fieldline after a checkpoint, InfluxDB after its "
        "snapshot and full compaction")
    report["footprint"] = {"fieldline": fieldline_footprint(args.fieldline_db),
                           "influxdb": influx_footprint(ix_base, args.influx_dir)}
    if pg:
        report["footprint"]["postgres"] = pg_footprint(args)
    report["elapsed_s"] = time.time() - started
    print_compare(report, args)
    os.makedirs(args.out, exist_ok=True)
    out_json = os.path.join(args.out, "compare.json")
    with open(out_json, "w") as f:
        json.dump(report, f, indent=1)
    plot_compare(report, os.path.join(args.out, "compare.png"))
    print(f"\nwritten: {out_json}, {os.path.join(args.out, 'compare.png')}")
    if failed:
        fail(f"{len(failed)} queries were not answered: {', '.join(failed)}")


def print_compare(rep, args):
    c = rep["config"]
    print()
    print(f"# scripts/bench compare ({rep['command']})")
    print(f"Fieldline (host, spin.toml) vs InfluxDB {c['influx_version']}, loopback, "
          f"{c['rounds']} alternating rounds, medians of the rounds; "
          f"{os.cpu_count()} CPUs; run took {rep['elapsed_s'] / 60:.1f} min")
    print()
    print(f"## Ingestion: {c['ingest_conns']} connections, {c['ingest_secs']:g} s per run "
          f"(after {c['warmup']:g} s warm-up); points/s and latency (ms)")
    rows = []
    for name, r in rep["ingest"].items():
        m = r["median"]
        rows.append([name, fmt(m["influxdb"]["pts_per_s"]), fmt(m["fieldline"]["pts_per_s"]),
                     fmt(m["ceiling"]["pts_per_s"]),
                     f"{r['fieldline_over_influxdb']:.2f}",
                     fmt(r["fieldline_over_ceiling"], 2),
                     f"{fmt(m['influxdb']['p50_ms'], 2)}/{fmt(m['influxdb']['p99_ms'], 2)}",
                     f"{fmt(m['fieldline']['p50_ms'], 2)}/{fmt(m['fieldline']['p99_ms'], 2)}"])
    print(table(["workload", "InfluxDB pts/s", "Fieldline pts/s", "ceiling pts/s",
                 "FL/Influx", "FL/ceiling", "Influx p50/p99", "FL p50/p99"], rows))
    for name, r in rep["ingest"].items():
        print(f"  {name}: {r['what']}")
        vpp = r.get("values_per_point", 1)
        if vpp > 1:
            m = r["median"]
            print(f"    {vpp} values a point: InfluxDB {fmt(m['influxdb']['values_per_s'])} "
                  f"values/s, Fieldline {fmt(m['fieldline']['values_per_s'])}"
                  + (f", PostgreSQL {fmt(m['postgres']['values_per_s'])}" if "postgres" in m
                     else "")
                  + ("" if r["ceiling_workload"] else "; no ceiling (general series)"))
    print("  ceiling: the same rows with rusqlite alone, one transaction per request's batch, "
          "one thread, WAL, synchronous=FULL")
    pg = "scaling" in rep
    if pg:
        print()
        print("## Ingestion on PostgreSQL (one host, its own database; same workloads, same "
              "rounds as above)")
        rows = []
        for name, r in rep["ingest"].items():
            m = r["median"]
            rows.append([name, fmt(m["fieldline"]["pts_per_s"]), fmt(m["postgres"]["pts_per_s"]),
                         f"{r['postgres_over_fieldline']:.2f}",
                         f"{r['postgres_over_influxdb']:.2f}",
                         f"{fmt(m['postgres']['p50_ms'], 2)}/{fmt(m['postgres']['p99_ms'], 2)}"])
        print(table(["workload", "SQLite pts/s", "PostgreSQL pts/s", "PG/SQLite", "PG/Influx",
                     "PG p50/p99"], rows))
        print()
        print(f"## Ingestion through 1, 2 and 3 hosts in front of one PostgreSQL database: "
              f"{c['ingest_conns']} connections in all, spread over the hosts; points/s summed")
        rows = []
        for name, r in rep["scaling"].items():
            m = r["median"]
            one = m["1"]["pts_per_s"]
            for n, x in m.items():
                rows.append([name if n == "1" else "", n, fmt(x["pts_per_s"]),
                             f"{ratio(x['pts_per_s'], one):.2f}", fmt(x["rps"]),
                             f"{fmt(x['p50_ms'], 2)}/{fmt(x['p99_ms'], 2)}"])
        print(table(["workload", "hosts", "pts/s", "x 1 host", "req/s", "worst p50/p99"], rows))
        print("  the same machine runs every host, PostgreSQL and the clients "
              f"({os.cpu_count()} CPUs): see docs/benchmarks.md")
    print()
    ld = rep["load"]
    rollup_s = ld.get("fieldline_rollup_s")
    print(f"## Loading the data set: {ld['dataset']['points']:,} points "
          f"({c['devices']} devices x 8 channels x {c['days']:g} days at 1 Hz)")
    for k in ("influxdb", "fieldline_write", "fieldline_native", "postgres_write"):
        if k in ld:
            print(f"  {k:<17} {ld[k]['points']:>13,} points in {ld[k]['secs']:7.1f} s = "
                  f"{ld[k]['pts_per_s']:>10,.0f} points/s  ({ld[k]['how']})")
    peaks = [f"{k} {ld[k]['peak_rss_mib']:,.0f} MiB"
             for k in ("influxdb", "fieldline_write", "postgres_write")
             if k in ld and not math.isnan(ld[k].get("peak_rss_mib", float("nan")))]
    if peaks:
        print(f"  peak resident memory of each server while it loaded: {', '.join(peaks)}")
    if rollup_s is not None:
        print(f"  fieldline hours rolled up by the maintenance job in {rollup_s:.1f} s after the "
              "load (its cron trigger also ran during it)")
    if "postgres_write" in ld:
        b = ld["postgres_write"]["backends"]
        print(f"  postgres_write: the host's peak is the Fieldline host's alone; its "
              f"{b['backends']} PostgreSQL backend processes peaked at {fmt(b['max_mib'])} MiB "
              f"the largest, {fmt(b['sum_mib'])} MiB summed (each counts the shared buffers it "
              "touched)")
        print(f"  postgres hours rolled up by the maintenance job in "
              f"{ld['postgres_rollup_s']:.1f} s after the load")
    print()
    print(f"## Queries (InfluxQL /query, epoch=ms): {c['query_conns']} connections, "
          f"{c['query_secs']:g} s per run; latency ms, FL/Influx > 1 means Fieldline is slower")
    rows = []
    for name, r in rep["queries"].items():
        if "failed" in r:
            rows.append([name, "FAILED", "-", "-", "-", "-", "-", "-", "-"])
            continue
        m = r["median"]
        rows.append([name, f"{r['rows']:,}", fmt(m["influxdb"]["p50_ms"], 2),
                     fmt(m["influxdb"]["p99_ms"], 2), fmt(m["fieldline"]["p50_ms"], 2),
                     fmt(m["fieldline"]["p99_ms"], 2),
                     f"{r['p50_fieldline_over_influxdb']:.2f}",
                     f"{r['p99_fieldline_over_influxdb']:.2f}",
                     f"{m['influxdb']['requests']:.0f}/{m['fieldline']['requests']:.0f}"])
    print(table(["query", "rows", "Influx p50", "Influx p99", "FL p50", "FL p99",
                 "FL/Influx p50", "FL/Influx p99", "n Influx/FL"], rows))
    for name, r in rep["queries"].items():
        print(f"  {name}: {r['what']}" + (f"; FAILED: {r['failed']}" if "failed" in r else ""))
    print("  every answer was checked equal (values within a relative 1e-9) before timing")
    if pg:
        print()
        print("## The same queries on PostgreSQL (latency ms)")
        rows = []
        for name, r in rep["queries"].items():
            if "failed" in r:
                rows.append([name, "FAILED", "-", "-", "-", "-"])
                continue
            m = r["median"]
            rows.append([name, fmt(m["fieldline"]["p50_ms"], 2), fmt(m["postgres"]["p50_ms"], 2),
                         fmt(m["postgres"]["p99_ms"], 2),
                         f"{ratio(m['postgres']['p50_ms'], m['fieldline']['p50_ms']):.2f}",
                         f"{r['p50_postgres_over_influxdb']:.2f}"])
        print(table(["query", "SQLite p50", "PG p50", "PG p99", "PG/SQLite p50",
                     "PG/Influx p50"], rows))
        print("  PostgreSQL's answers were checked equal to InfluxDB's too")
    fp = rep.get("footprint")
    if fp:
        print()
        print("## On disk, at the end of the run (every point each system holds, rollups and "
              "indexes included)")
        rows = []
        for who, what in (("influxdb", "data + wal, after snapshot and full compaction"
                           + ("" if fp["influxdb"]["settled"] else " (NOT settled in time)")),
                          ("fieldline", "sqlite_db.db after a WAL checkpoint"),
                          ("postgres", "pg_database_size after VACUUM (an empty database: "
                           f"{fp.get('postgres', {}).get('empty_bytes', 0) / 2**20:.1f} MiB)")):
            if who not in fp:
                continue
            f = fp[who]
            rows.append([who, f"{f['points']:,}", f"{f['bytes'] / 2**20:,.1f}",
                         f"{f['bytes'] / f['points']:.1f}" if f["points"] else "-", what])
        print(table(["system", "points", "MiB", "bytes/point", "measured"], rows))
        print("  points: values stored (a point of the data set or of the 1-value workloads is "
              "one; a telegraf1000 line is four)")
        fi, ff = fp["influxdb"], fp["fieldline"]
        if fi["points"] and ff["points"]:
            print(f"  Fieldline / InfluxDB bytes per point: "
                  f"{(ff['bytes'] / ff['points']) / (fi['bytes'] / fi['points']):.2f}")


def plot_compare(rep, path):
    plt = ensure_matplotlib()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(13, 5.2),
                                 gridspec_kw={"width_ratios": [1, 2.2]})
    names = list(rep["ingest"])
    x = range(len(names))
    w = 0.38
    r1 = [rep["ingest"][n]["fieldline_over_influxdb"] for n in names]
    r2 = [rep["ingest"][n]["fieldline_over_ceiling"] for n in names]
    a1.bar([i - w / 2 for i in x], r1, w, label="Fieldline / InfluxDB")
    a1.bar([i + w / 2 for i in x], r2, w, label="Fieldline / rusqlite ceiling")
    a1.axhline(1, color="black", lw=0.8)
    a1.set_xticks(list(x), [n.replace("ingest-", "") for n in names], rotation=20)
    a1.set_ylabel("points/s ratio (above 1: Fieldline ingests more)")
    a1.set_title("Ingestion throughput")
    a1.legend(fontsize=8)
    for i, (u, v) in enumerate(zip(r1, r2)):
        for at, y in ((i - w / 2, u), (i + w / 2, v)):
            if not math.isnan(y):  # no ceiling: no bar, no label
                a1.annotate(f"{y:.2f}", (at, y), ha="center", va="bottom", fontsize=8)
    qn = [n for n in rep["queries"] if "failed" not in rep["queries"][n]]
    x = range(len(qn))
    p50 = [rep["queries"][n]["p50_fieldline_over_influxdb"] for n in qn]
    p99 = [rep["queries"][n]["p99_fieldline_over_influxdb"] for n in qn]
    a2.bar([i - w / 2 for i in x], p50, w, label="p50 Fieldline / InfluxDB")
    a2.bar([i + w / 2 for i in x], p99, w, label="p99 Fieldline / InfluxDB")
    a2.axhline(1, color="black", lw=0.8)
    a2.set_yscale("log")
    a2.set_xticks(list(x), qn, rotation=30, ha="right")
    a2.set_ylabel("latency ratio, log scale (above 1: Fieldline slower)")
    a2.set_title("InfluxQL query latency")
    a2.legend(fontsize=8)
    for i, u in enumerate(p50):
        a2.annotate(f"{u:.2f}" if u < 10 else f"{u:.0f}", (i - w / 2, u), ha="center",
                    va="bottom", fontsize=7)
    c = rep["config"]
    fig.suptitle(f"Fieldline vs InfluxDB {c['influx_version']}: {c['devices']} devices x 8 "
                 f"channels x {c['days']:g} d at 1 Hz, {c['rounds']} alternating rounds, medians",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


# ------------------------------------------------------------------------------------------
# query (Fieldline alone)


def query(args):
    client = Client(args.bin, args.seed)
    fl = Fieldline(args.fieldline)
    started = time.time()
    log("setting up the organization")
    fl.set_up()
    days = args.days
    # One series with `days` days of 1 Hz (the 1-day and the long queries read it), and nine
    # more with the last day only (for the latest values of 10 series).
    long_ds = {"devices": 1, "channels": 1, "days": days, "start": args.start}
    long_info = client.info(long_ds)
    end = long_info["end_ms"]
    short_ds = {"devices": 9, "first_device": 1, "channels": 1, "days": 1,
                "start": end // 1000 - 86_400}
    log(f"loading {long_info['points']:,} points (1 series x {days:g} days at 1 Hz) and "
        f"{9 * 86_400:,} more (9 series x 1 day) through /write, {args.fieldline_lines} lines "
        "per request")
    load = []
    for ds in (long_ds, short_ds):
        load.append(client.load(args.fieldline, ds, args.fieldline_lines, args.load_conns,
                                header=f"Authorization: {fl.basic}"))
    uuids = long_info["uuids"] + client.info(short_ds)["uuids"]
    log("rolling up the hours (the maintenance job, as its cron trigger runs it)")
    rollup_s = roll_up(args.tmp)
    start = long_info["start_ms"]
    day0 = end - 86_400_000
    u0 = uuids[0]
    span = f"time >= '{rfc3339(start)}' AND time < '{rfc3339(end)}'"
    day = f"time >= '{rfc3339(day0)}' AND time < '{rfc3339(end)}'"
    epts_data = "/epts/data?" + urllib.parse.urlencode({
        "uuid": u0, "timeSeriesName": "c01", "fromDate": rfc3339(day0).replace("Z", ".000Z"),
        "toDate": time.strftime("%Y-%m-%dT%H:%M:%S.999Z", time.gmtime(end / 1000 - 1))})
    queries = [
        ("epts-last-10", "/epts/last, 10 series",
         "/epts/last?" + urllib.parse.urlencode({"uuid": ",".join(uuids[:10]),
                                                 "timeSeriesName": "c01"}), 10),
        ("epts-data-1d", "/epts/data, 1 series, 1 day", epts_data, 86_400),
        ("mean-1m-1d", "InfluxQL mean GROUP BY time(1m), 1 series, 1 day",
         influxql_path(f"SELECT mean(value) FROM c01 WHERE uuid = '{u0}' AND {day} "
                       "GROUP BY time(1m)", db=False), 1440),
        (f"mean-1h-{days:g}d", f"InfluxQL mean GROUP BY time(1h), 1 series, {days:g} days",
         influxql_path(f"SELECT mean(value) FROM c01 WHERE uuid = '{u0}' AND {span} "
                       "GROUP BY time(1h)", db=False), int(days * 24)),
    ]
    # Beside the brief's four: the same reads the ways a Grafana user would write them, which
    # take other paths through the engine (a selector reads every point; see docs/benchmarks.md).
    extra = [
        ("influxql-last-10", "InfluxQL last(value), the same 10 series",
         influxql_path(f"SELECT last(value) FROM c01 WHERE uuid =~ {uuid_regex(uuids[:10])} "
                       "GROUP BY uuid", db=False), 10),
        (f"max-1h-{days:g}d", f"InfluxQL max GROUP BY time(1h), 1 series, {days:g} days",
         influxql_path(f"SELECT max(value) FROM c01 WHERE uuid = '{u0}' AND {span} "
                       "GROUP BY time(1h)", db=False), int(days * 24)),
    ]
    log("checking every answer's size")
    failed = {}
    for name, _, path, expect in queries + extra:
        st, body = http("GET", fl.base + path, headers={"authorization": fl.bearer()})
        if st != 200:
            # Reported in the table and not timed; the run fails if one of the brief's does.
            failed[name] = (f"HTTP {st} {body[:200].decode(errors='replace')!r}"
                            f"{host_reason(args.tmp) if st >= 500 else ''}")
            log(f"  {name}: FAILED: {failed[name]}")
            continue
        ans = json.loads(body)
        if path.startswith("/query"):
            n = sum(len(s.get("values", [])) for s in series_of(ans, name))
        else:
            # /epts/last: {uuid: {metric: [point]}}; /epts/data: [{uuid: {metric: [points]}}]
            docs = ans if isinstance(ans, list) else [ans]
            n = sum(len(pts) for d in docs for metrics in d.values() for pts in metrics.values())
        if n != expect:
            fail(f"{name}: {n} rows or points, expected {expect}: {body[:300]!r}")
    raw = {name: [] for name, *_ in queries + extra}
    for r in range(args.rounds):
        log(f"round {r + 1}/{args.rounds}")
        for name, _, path, _ in queries + extra:
            if name in failed:
                continue
            res = client.get(args.fieldline, [path], args.query_conns, args.query_warmup,
                             args.query_secs, header=f"Authorization: {fl.bearer()}")
            if res.get("errors") or not res.get("requests"):
                fail(f"{name}: {res}")
            raw[name].append(res)
    rep = {"command": args.command_line, "config": vars(args).copy(), "load": load,
           "queries": {}}
    rep["config"].pop("func", None)
    for name, what, path, expect in queries + extra:
        if name in failed:
            rep["queries"][name] = {"what": what, "path": path, "rows": expect,
                                    "extra": (name, what, path, expect) in extra,
                                    "failed": failed[name]}
            continue
        m = {k: median([x.get(k) for x in raw[name]]) for k in
             ("p50_ms", "p99_ms", "rps", "requests", "bytes_per_answer")}
        rep["queries"][name] = {"what": what, "path": path, "rows": expect,
                                "extra": (name, what, path, expect) in extra,
                                "rounds": raw[name], "median": m}
    rep["elapsed_s"] = time.time() - started
    print()
    print(f"# scripts/bench query ({rep['command']})")
    print(f"Fieldline host (spin.toml), loopback, {args.query_conns} connections, "
          f"{args.query_secs:g} s per run, {args.rounds} rounds, medians; Bearer token from "
          f"/epts/token; {os.cpu_count()} CPUs; run took {rep['elapsed_s'] / 60:.1f} min")
    tot = sum(x["points"] for x in load)
    secs = sum(x["secs"] for x in load)
    print(f"data: {tot:,} points loaded through /write in {secs:.1f} s "
          f"({tot / secs:,.0f} points/s), then rolled up by the maintenance job in "
          f"{rollup_s:.1f} s")
    print()
    rows = []
    for name, r in rep["queries"].items():
        if "failed" in r:
            rows.append([name + (" *" if r["extra"] else ""), f"{r['rows']:,}", "FAILED",
                         "-", "-", "-", "-"])
            continue
        m = r["median"]
        rows.append([name + (" *" if r["extra"] else ""), f"{r['rows']:,}",
                     fmt(m["bytes_per_answer"] / 1024), fmt(m["p50_ms"], 2),
                     fmt(m["p99_ms"], 2), fmt(m["rps"]), f"{m['requests']:.0f}"])
    print(table(["query", "rows/points", "answer KiB", "p50 ms", "p99 ms", "req/s", "n"], rows))
    for name, r in rep["queries"].items():
        print(f"  {name}: {r['what']}" + (f"; FAILED: {r['failed']}" if "failed" in r else ""))
    print("  * not in the brief: the same data read the ways InfluxQL users also write it")
    os.makedirs(args.out, exist_ok=True)
    out_json = os.path.join(args.out, "query.json")
    with open(out_json, "w") as f:
        json.dump(rep, f, indent=1)
    print(f"\nwritten: {out_json}")
    brief = [n for n in failed if not rep["queries"][n]["extra"]]
    if brief:
        fail(f"not answered: {', '.join(brief)}")


# ------------------------------------------------------------------------------------------


def main():
    p = argparse.ArgumentParser(prog="scripts/bench")
    sub = p.add_subparsers(dest="cmd", required=True)
    hidden = argparse.SUPPRESS  # given by scripts/bench.d/tsbench.sh
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--bin", required=True, help=hidden)
    common.add_argument("--fieldline", required=True, help=hidden)
    common.add_argument("--out", required=True, help=hidden)
    common.add_argument("--tmp", required=True, help=hidden)
    common.add_argument("--command-line", default="", help=hidden)
    common.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite",
                        help="compare: postgres also measures Fieldline on PostgreSQL (three "
                             "hosts on a fresh database on 127.0.0.1:5432) beside SQLite and "
                             "InfluxDB (default %(default)s; query: sqlite only)")
    common.add_argument("--seed", type=int, default=1,
                        help="the data set's seed (default %(default)s)")
    common.add_argument("--start", type=int, default=1_735_689_600,
                        help="first second of the data set, UTC (default %(default)s, "
                             "2025-01-01)")
    common.add_argument("--rounds", type=int, default=3,
                        help="alternating rounds of every measurement (default %(default)s)")
    common.add_argument("--query-conns", type=int, default=4,
                        help="connections per query run (default %(default)s)")
    common.add_argument("--query-secs", type=float, default=2.0,
                        help="seconds per query run (default %(default)s)")
    common.add_argument("--query-warmup", type=float, default=0.3,
                        help="unmeasured seconds before each query run (default %(default)s)")
    common.add_argument("--load-conns", type=int, default=2,
                        help="connections loading the data set (default %(default)s)")
    common.add_argument("--fieldline-lines", type=int, default=100_000,
                        help="lines per /write loading Fieldline (default %(default)s, the "
                             "most it accepts)")
    c = sub.add_parser("compare", parents=[common],
                       description="Fieldline against InfluxDB 1.x: see docs/benchmarks.md")
    c.add_argument("--influx", required=True, help=hidden)
    c.add_argument("--influx-version", default="1.x", help=hidden)
    c.add_argument("--fieldline-db", required=True, help=hidden)
    c.add_argument("--influx-dir", required=True, help=hidden)
    c.add_argument("--influx-pid", type=int, required=True, help=hidden)
    c.add_argument("--host-pid", type=int, required=True, help=hidden)
    c.add_argument("--pg-hosts", default="", help=hidden)
    c.add_argument("--pg-db", default="", help=hidden)
    c.add_argument("--pg-url", default="", help=hidden)
    c.add_argument("--pg-host-pid", type=int, default=0, help=hidden)
    c.add_argument("--days", type=float, default=1.0,
                   help="span of the data set in days (default %(default)s)")
    c.add_argument("--devices", type=int, default=100,
                   help="devices of 8 channels in the data set (default %(default)s)")
    c.add_argument("--ingest-conns", type=int, default=32,
                   help="connections per ingestion run (default %(default)s)")
    c.add_argument("--ingest-secs", type=float, default=3.0,
                   help="measured seconds per ingestion run (default %(default)s)")
    c.add_argument("--warmup", type=float, default=1.0,
                   help="unmeasured seconds before each ingestion run (default %(default)s)")
    c.add_argument("--influx-lines", type=int, default=5000,
                   help="lines per /write loading InfluxDB (default %(default)s)")
    c.add_argument("--fieldline-load", choices=("write", "native"), default="write",
                   help="write (default): all of the data set through /write; native: the "
                        "first --write-seconds through /write, the rest written into the "
                        "host's SQLite file with rusqlite (faster, for long spans)")
    c.add_argument("--write-seconds", type=int, default=3600,
                   help="see --fieldline-load (default %(default)s)")
    c.set_defaults(func=compare)
    q = sub.add_parser("query", parents=[common],
                       description="Time-series reads through the host: see "
                                   "docs/benchmarks.md")
    q.add_argument("--days", type=float, default=30.0,
                   help="days of 1 Hz data of the series the long query reads "
                        "(default %(default)s)")
    q.set_defaults(func=query)
    args = p.parse_args()
    try:
        args.func(args)
    except KeyboardInterrupt:
        fail("interrupted")


if __name__ == "__main__":
    main()
