#!/usr/bin/env python3
"""Fieldline's chaos scenarios (scripts/chaos): each starts the release host on a state
directory of its own, on loopback, does harm in a bounded way, and prints its figures.

- kill:    many clients ingest through Conduit v2, InfluxDB /write and Conduit MQTT (QoS 1)
           while the host is killed with SIGKILL and restarted, several times; afterwards every
           point whose request got a 2xx, or whose message the broker acknowledged, is stored,
           and none twice.
- hostile: bodies meant to hurt (a gzip bomb, a body over the limit, deep JSON, invalid UTF-8,
           a line with a million fields, a 100 KB InfluxQL statement, a pathological regex):
           each is refused with its API's error, the host's memory stays bounded (RSS before
           and after) and it keeps serving.
- slow:    hundreds of connections sending a byte a second; others (and /health) are served
           meanwhile, and the slow ones are cut off at the header and body deadlines.
- outage:  the MQTT broker stopped and restarted while messages flow (QoS 1 messages it
           acknowledged all arrive), and the database's disk filling up (a small tmpfs): each
           API answers with its "database is full" error, nothing acknowledged is lost, and
           writes succeed again once space is freed.
- soak:    ingestion at a steady rate with queries beside it; zero 5xx, RSS measured over time.

Every scenario exits non-zero when its promise is broken. --short runs each briefly (CI).
"""

import argparse
import base64
import getpass
import gzip
import http.client
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# scripts/test runs the short scenarios on the debug build it has already made.
HOST_BIN = os.environ.get("FIELDLINE_HOST_BIN",
                          os.path.join(ROOT, "target", "release", "fieldline"))
EMAIL = "chaos@example.com"
PASSWORD = "chaos password, not secret"
JWT_SECRET = base64.b64encode(os.urandom(32)).decode()
OPERATOR_TOKEN = base64.b64encode(os.urandom(24)).decode()
FAILURES = []


def log(msg):
    print(f"\033[1m==> {msg}\033[0m", file=sys.stderr, flush=True)


def figure(scenario, name, value):
    print(f"{scenario:8} {name:58} {value}", flush=True)


def check(ok, what):
    if not ok:
        FAILURES.append(what)
        print(f"FAILED: {what}", file=sys.stderr, flush=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Host:
    """The release host on a state directory that outlives kills."""

    def __init__(self, state, extra=()):
        self.state = state
        self.extra = list(extra)
        self.port = free_port()
        self.proc = None
        self.log_path = os.path.join(state, "host.log")

    def start(self):
        env = dict(os.environ, SPIN_VARIABLE_JWT_SECRET=JWT_SECRET,
                   SPIN_VARIABLE_OPERATOR_TOKEN=OPERATOR_TOKEN, FIELDLINE_LOG="warn")
        logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [HOST_BIN, "up", "--from", os.path.join(ROOT, "spin.toml"),
             "--listen", f"127.0.0.1:{self.port}", "--state-dir", os.path.join(self.state, "spin"),
             *self.extra],
            stdout=logf, stderr=logf, stdin=subprocess.DEVNULL, env=env)
        deadline = time.time() + 120
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"the host exited: see {self.log_path}")
            try:
                if request(self.port, "GET", "/health", timeout=2)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise SystemExit("the host did not start within 120 s")

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()

    def rss_kib(self, field="VmRSS"):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        return 0

    def db(self):
        return os.path.join(self.state, "spin", "sqlite_db.db")


def request(port, method, path, body=None, headers=None, timeout=30):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def set_up(port):
    """An organization with automatic registration, room in its subscription, a Conduit token."""
    def call(method, path, body, auth=None, ok=(200, 201)):
        h = {"content-type": "application/json"}
        if auth:
            h["authorization"] = auth
        s, b = request(port, method, path, json.dumps(body).encode(), h)
        if s not in ok:
            raise SystemExit(f"set-up: {method} {path}: {s} {b[:300]!r}")
        return json.loads(b) if b else None

    s = call("POST", "/api/v1/signup",
             {"organization": "Chaos", "email": EMAIL, "password": PASSWORD})
    bearer = "Bearer " + s["access_token"]
    call("PATCH", "/api/v1/organization", {"autoRegister": True}, bearer)
    sub = {"pointsPerHour": 2 ** 62, "detailedRetentionDays": 36500,
           "aggregatedRetentionDays": 36500, "maxUsers": 10, "notificationEmailsPerDay": 100,
           "conduitTier": "enterprise"}
    # Subscriptions are the operator's to set.
    call("PUT", f"/api/v1/operator/organizations/{s['organization']}/subscription", sub,
         "Bearer " + OPERATOR_TOKEN)
    tok = call("POST", "/api/v1/tokens", {"kind": "conduit", "name": "chaos", "tier": "enterprise"},
               bearer)
    return tok["secret"], bearer


# ------------------------------------------------------------------------------------------
# kill


class Acked:
    """What the host (or the broker) acknowledged: (device, channel, ms) triples."""

    def __init__(self):
        self.lock = threading.Lock()
        self.points = set()
        self.requests = 0
        self.refused = 0
        self.errors = 0

    def add(self, pts):
        with self.lock:
            self.points.update(pts)
            self.requests += 1


def conduit_client(port_of, token, n, acked, stop):
    dev = f"chaos-c{n}"
    ts = 1_700_000_000_000 + n * 10_000_000_000
    while not stop.is_set():
        ts += 1000
        body = json.dumps({"token": token, "networkId": dev, "timestamp": ts,
                           "data": [{"channelId": ch, "value": ch + ts % 97} for ch in range(1, 9)]})
        try:
            s, _ = request(port_of(), "POST", "/post/v2", body.encode(),
                           {"content-type": "application/json"}, timeout=10)
        except OSError:
            with acked.lock:
                acked.errors += 1
            time.sleep(0.05)
            continue
        if 200 <= s < 300:
            acked.add((dev, str(ch), ts) for ch in range(1, 9))
        else:
            with acked.lock:
                acked.refused += 1
            time.sleep(0.05)


def write_client(port_of, token, n, acked, stop, uuids):
    dev = str(uuid.uuid4())
    uuids[dev] = dev
    auth = "Basic " + base64.b64encode(f"{EMAIL}:{token}".encode()).decode()
    ts = 1_700_000_000_000 + n * 10_000_000_000
    while not stop.is_set():
        lines, pts = [], []
        for _ in range(50):
            ts += 1000
            lines.append(f"temp,uuid={dev} value={ts % 1013} {ts}")
            pts.append((dev, "temp", ts))
        try:
            s, _ = request(port_of(), "POST", "/write?db=fieldline&precision=ms",
                           "\n".join(lines).encode(), {"authorization": auth}, timeout=10)
        except OSError:
            with acked.lock:
                acked.errors += 1
            time.sleep(0.05)
            continue
        if s == 204:
            acked.add(pts)
        else:
            with acked.lock:
                acked.refused += 1
            time.sleep(0.05)


def mqtt_client(token, acked, stop, rate):
    import paho.mqtt.client as mqtt
    dev = "chaos-mqtt"
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"chaos-pub-{os.getpid()}")
    c.max_inflight_messages_set(100)
    c.connect("127.0.0.1", 1883)
    c.loop_start()
    published = Published(c)
    ts = 1_600_000_000_000
    while not stop.is_set():
        ts += 1000
        published.send(f"{token}/{dev}/1/data", ts, ts % 101, (dev, "1", ts))
        time.sleep(1 / rate)
    acked.add(published.acknowledged(30))
    c.loop_stop()
    c.disconnect()


class Published:
    """QoS 1 messages published with paho, and which of them the broker acknowledged (PUBACK).

    No lock is held around paho's `publish`: paho calls `on_publish` holding its own lock, so a
    callback taking a lock the publishing thread holds deadlocks both (it did, once the broker
    came back and acknowledged a burst). The callback only adds the packet id to a set; ids are
    told apart while fewer than 65,535 messages are published (paho then reuses them)."""

    def __init__(self, client):
        self.client, self.points, self.acked = client, {}, set()
        client.on_publish = lambda client, userdata, mid, *rest: self.acked.add(mid)

    def send(self, topic, ts, value, point):
        info = self.client.publish(topic, json.dumps({"timestamp": ts, "value": value}), qos=1)
        self.points[info.mid] = point

    def __len__(self):
        return len(self.points)

    def acknowledged(self, wait):
        """The points of the messages the broker acknowledged, waiting up to `wait` seconds for
        those still in flight (messages published while it was down go once the client has
        reconnected)."""
        deadline = time.time() + wait
        while time.time() < deadline and not set(self.points) <= self.acked:
            time.sleep(0.2)
        return [p for mid, p in list(self.points.items()) if mid in self.acked]


def stored(db):
    con = sqlite3.connect(db)
    try:
        rows = con.execute(
            "SELECT COALESCE(d.network_id, d.uuid), c.communication_id, p.ts FROM points p "
            "JOIN channels c ON c.key = p.channel_key JOIN devices d ON d.key = c.device_key"
        ).fetchall()
    finally:
        con.close()
    return rows


def scenario_kill(args):
    state = tempfile.mkdtemp(prefix="chaos-kill-")
    host = Host(state)
    host.start()
    token, _ = set_up(host.port)
    acked, mqtt_acked = Acked(), Acked()
    stop = threading.Event()
    uuids = {}
    port_of = lambda: host.port  # noqa: E731 (the port survives restarts)
    threads = [threading.Thread(target=conduit_client, args=(port_of, token, n, acked, stop))
               for n in range(args.clients)]
    threads += [threading.Thread(target=write_client,
                                 args=(port_of, token, n, acked, stop, uuids))
                for n in range(args.clients)]
    mqtt_ok = True
    try:
        import paho.mqtt.client  # noqa: F401
    except ImportError:
        mqtt_ok = False
        log("paho-mqtt is missing: the MQTT clients are left out")
    if mqtt_ok:
        threads.append(threading.Thread(target=mqtt_client,
                                        args=(token, mqtt_acked, stop, args.mqtt_rate)))
    for t in threads:
        t.start()
    down = 0.0
    for k in range(args.kills):
        time.sleep(random.uniform(args.interval / 2, args.interval))
        host.kill()
        t0 = time.time()
        time.sleep(random.uniform(0.2, 1.0))
        host.start()
        down += time.time() - t0
        log(f"kill {k + 1} of {args.kills}: down {time.time() - t0:.1f} s")
    time.sleep(args.interval / 2)
    stop.set()
    for t in threads:
        t.join()
    # What the broker acknowledged reaches the host through its persistent session: wait for it.
    want = acked.points | mqtt_acked.points
    deadline = time.time() + 120
    while True:
        have = set(stored(host.db()))
        if want <= have or time.time() > deadline:
            break
        time.sleep(1)
    host.stop()
    rows = stored(host.db())
    have = set(rows)
    lost_http = len(acked.points - have)
    lost_mqtt = len(mqtt_acked.points - have)
    figure("kill", "kills (SIGKILL) and restarts", args.kills)
    figure("kill", "HTTP requests acknowledged (2xx)", acked.requests)
    figure("kill", "HTTP requests refused (non-2xx) / failed (no answer)",
           f"{acked.refused} / {acked.errors}")
    figure("kill", "HTTP points acknowledged", len(acked.points))
    figure("kill", "HTTP points acknowledged and not stored (lost)", lost_http)
    figure("kill", "MQTT QoS 1 messages acknowledged by the broker", len(mqtt_acked.points))
    figure("kill", "MQTT messages acknowledged and not stored (lost)", lost_mqtt)
    figure("kill", "points stored twice", len(rows) - len(have))
    figure("kill", "seconds the host was down, in all", f"{down:.1f}")
    check(lost_http == 0, f"kill: {lost_http} acknowledged HTTP points lost")
    check(lost_mqtt == 0, f"kill: {lost_mqtt} acknowledged MQTT messages lost")
    check(len(rows) == len(have), "kill: points stored twice")
    check(acked.requests > 0, "kill: no request was acknowledged at all")


# ------------------------------------------------------------------------------------------
# hostile


def scenario_hostile(args):
    state = tempfile.mkdtemp(prefix="chaos-hostile-")
    host = Host(state)
    host.start()
    token, bearer = set_up(host.port)
    basic = "Basic " + base64.b64encode(f"{EMAIL}:{token}".encode()).decode()
    rss0 = host.rss_kib()
    bomb = gzip.compress(b"0" * (256 << 20), 9)
    million = "m," + "uuid=" + str(uuid.uuid4()) + " " + ",".join(
        f"f{i}=1" for i in range(1_000_000)) + " 1700000000000"
    long_query = "SELECT value FROM x WHERE " + " OR ".join(
        f"uuid = '{i}'" for i in range(5000))
    cases = [
        ("gzip bomb to /post/v2 (256 MiB inflated)", "POST", "/post/v2", bomb,
         {"content-encoding": "gzip", "content-type": "application/json"}, (400, 413)),
        ("gzip bomb to /write", "POST", "/write?db=fieldline&precision=ms", bomb,
         {"content-encoding": "gzip", "authorization": basic}, (400, 413)),
        ("JSON nested 100,000 deep to /post/v2", "POST", "/post/v2",
         b"[" * 100_000 + b"]" * 100_000, {"content-type": "application/json"}, (400,)),
        ("JSON nested 10,000 deep to the admin API", "POST", "/api/v1/tokens",
         b"{\"a\":" * 10_000 + b"1" + b"}" * 10_000,
         {"content-type": "application/json", "authorization": bearer}, (400, 422)),
        ("invalid UTF-8 to /write", "POST", "/write?db=fieldline", b"m\xff\xfe value=1 1",
         {"authorization": basic}, (400,)),
        ("invalid UTF-8 to /post/v2", "POST", "/post/v2", b"{\"token\":\"\xff\"}",
         {"content-type": "application/json"}, (400,)),
        ("a line with a million fields to /write", "POST", "/write?db=fieldline&precision=ms",
         million.encode(), {"authorization": basic}, (400,)),
        (f"a {len(long_query) // 1000} KB InfluxQL statement", "POST", "/query",
         ("db=fieldline&q=" + long_query).encode(),
         {"authorization": basic, "content-type": "application/x-www-form-urlencoded"},
         (200, 400)),
        ("a pathological regex in InfluxQL", "POST", "/query",
         ("db=fieldline&q=" + "SELECT value FROM /(a+)+(b+)+(c+)+$/").encode(),
         {"authorization": basic, "content-type": "application/x-www-form-urlencoded"},
         (200, 400)),
    ]
    # A body announced over --max-body-bytes: the host answers before the client sends it.
    with socket.create_connection(("127.0.0.1", host.port), timeout=30) as sock:
        sock.sendall(b"POST /write?db=fieldline HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Length: 17825792\r\n\r\n" + b"x" * 65536)
        head = sock.recv(1024).split(b"\r\n", 1)[0].decode(errors="replace")
    figure("hostile", "a 17 MiB body announced (over --max-body-bytes)", head)
    check(" 413 " in head + " ", f"hostile: a 17 MiB body: {head}")
    for name, method, path, body, headers, ok in cases:
        t0 = time.time()
        try:
            s, b = request(host.port, method, path, body, headers, timeout=60)
        except OSError as e:
            s, b = 0, str(e).encode()
        ms = (time.time() - t0) * 1000
        figure("hostile", name, f"{s} in {ms:.0f} ms")
        check(s in ok, f"hostile: {name}: {s} {b[:200]!r}, expected one of {ok}")
        check(request(host.port, "GET", "/health")[0] == 200,
              f"hostile: /health after {name}")
    rss1 = host.rss_kib()
    peak = host.rss_kib("VmHWM")
    figure("hostile", "host RSS before / after / peak (MiB)",
           f"{rss0 / 1024:.0f} / {rss1 / 1024:.0f} / {peak / 1024:.0f}")
    check(peak < 2 * 1024 * 1024, f"hostile: host peak RSS {peak / 1024:.0f} MiB")
    host.stop()


# ------------------------------------------------------------------------------------------
# slow


def scenario_slow(args):
    state = tempfile.mkdtemp(prefix="chaos-slow-")
    host = Host(state, ["--header-timeout", f"{args.slow_timeout}s",
                        "--body-timeout", f"{args.slow_timeout}s"])
    host.start()
    stop = threading.Event()
    cut = {"headers": 0, "bodies": 0}
    lock = threading.Lock()

    def slow(kind):
        s = socket.create_connection(("127.0.0.1", host.port))
        try:
            if kind == "bodies":
                s.sendall(b"POST /post/v2 HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
            else:
                s.sendall(b"GET /health HTTP/1.1\r\nHo")
            while not stop.is_set():
                s.sendall(b"x")
                time.sleep(1)
        except OSError:
            with lock:
                cut[kind] += 1
        finally:
            s.close()

    threads = [threading.Thread(target=slow, args=("bodies" if i % 2 else "headers",))
               for i in range(args.slow_clients)]
    for t in threads:
        t.start()
    time.sleep(1)
    latencies, statuses = [], []
    end = time.time() + args.slow_timeout + 3
    while time.time() < end:
        t0 = time.time()
        s, _ = request(host.port, "GET", "/health", timeout=30)
        latencies.append((time.time() - t0) * 1000)
        statuses.append(s)
        time.sleep(0.2)
    stop.set()
    for t in threads:
        t.join()
    latencies.sort()
    figure("slow", "slow connections (half slow headers, half slow bodies)", args.slow_clients)
    figure("slow", "/health answered meanwhile (200s / requests)",
           f"{statuses.count(200)} / {len(statuses)}")
    figure("slow", "/health latency meanwhile p50 / max (ms)",
           f"{latencies[len(latencies) // 2]:.1f} / {latencies[-1]:.1f}")
    figure("slow", "slow connections cut off by the host (headers / bodies)",
           f"{cut['headers']} / {cut['bodies']}")
    check(statuses and all(s == 200 for s in statuses), "slow: /health failed meanwhile")
    check(cut["headers"] + cut["bodies"] == args.slow_clients,
          "slow: some slow connections were never cut off")
    host.stop()


# ------------------------------------------------------------------------------------------
# outage


def start_broker(port, state):
    conf = os.path.join(state, "mosquitto.conf")
    with open(conf, "w") as f:
        # `user`: started as root, Mosquitto would run as `mosquitto`, unable to write its
        # persistence file into this private directory; it then restarted with no sessions and
        # dropped what came before the host subscribed again (as any broker without
        # persistence does). Running as this user, root or not, keeps them.
        f.write(f"listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 100000\n"
                f"persistence true\npersistence_location {state}/\nautosave_interval 1\n"
                f"user {getpass.getuser()}\n")
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    proc = subprocess.Popen([exe, "-c", conf], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc
        except OSError:
            time.sleep(0.1)
    raise SystemExit("the private broker did not start")


def outage_broker(args):
    state = tempfile.mkdtemp(prefix="chaos-outage-")
    port = free_port()
    broker = start_broker(port, state)
    os.environ["SPIN_VARIABLE_MQTT_ADDRESS"] = f"mqtt://127.0.0.1:{port}"
    host = Host(state)
    try:
        host.start()
    finally:
        del os.environ["SPIN_VARIABLE_MQTT_ADDRESS"]
    token, _ = set_up(host.port)
    import paho.mqtt.client as mqtt
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"chaos-outage-{os.getpid()}",
                    clean_session=False)
    c.max_inflight_messages_set(100)
    c.reconnect_delay_set(0.2, 1)
    published = Published(c)
    c.connect("127.0.0.1", port)
    c.loop_start()
    health_during = []
    ts = 1_650_000_000_000
    t_end = time.time() + args.outage_seconds * 3
    stopped_at = time.time() + args.outage_seconds
    down_at, restarted, saved = None, False, False
    while time.time() < t_end:
        ts += 1000
        published.send(f"{token}/chaos-broker/1/data", ts, ts % 89, ("chaos-broker", "1", ts))
        if down_at is None and time.time() > stopped_at:
            # Once: SIGTERM saves the broker's persistence file, as a restart does.
            broker.send_signal(signal.SIGTERM)
            broker.wait()
            broker, down_at, down_ts = None, time.time(), ts
            saved = os.path.exists(os.path.join(state, "mosquitto.db"))
        if broker is None:
            health_during.append(request(host.port, "GET", "/health")[0])
            if time.time() > down_at + args.outage_seconds:
                broker = start_broker(port, state)
                restarted = True
        time.sleep(0.01)
    acked = set(published.acknowledged(60))
    # Those published from the moment the broker went down: what the restart is about.
    after = sum(1 for p in acked if down_at is not None and p[2] >= down_ts)
    c.loop_stop()
    c.disconnect()
    deadline = time.time() + 120
    while True:
        have = set(stored(host.db()))
        if acked <= have or time.time() > deadline:
            break
        time.sleep(1)
    lost = len(acked - have)
    figure("outage", "broker: messages published / acknowledged by the broker",
           f"{len(published)} / {len(acked)}")
    figure("outage", "broker: of those, published once it was down", after)
    figure("outage", "broker: acknowledged and not stored (lost)", lost)
    figure("outage", "broker: /health while the broker was down (200s / requests)",
           f"{health_during.count(200)} / {len(health_during)}")
    check(lost == 0, f"outage: {lost} acknowledged MQTT messages lost across a broker restart")
    check(saved, "outage: the broker saved no persistence file: the scenario tests nothing")
    check(restarted and after > 0,
          "outage: no message published during the outage was acknowledged after the restart")
    check(health_during and all(s == 200 for s in health_during),
          "outage: /health failed while the broker was down")
    host.stop()
    if broker:
        broker.terminate()
        broker.wait()


def outage_disk(args):
    state = tempfile.mkdtemp(prefix="chaos-outage-")
    mnt = os.path.join(state, "disk")
    os.makedirs(mnt)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={args.disk_mib}m", "tmpfs", mnt],
                      stderr=subprocess.DEVNULL).returncode != 0:
        figure("outage", "disk full", "skipped: cannot mount a tmpfs here (needs root)")
        return
    try:
        host = Host(mnt)
        host.start()
        token, _ = set_up(host.port)
        basic = "Basic " + base64.b64encode(f"{EMAIL}:{token}".encode()).decode()
        # A filler that is freed once the disk is full: the operator making room.
        filler = os.path.join(mnt, "filler")
        with open(filler, "wb") as f:
            f.write(b"\0" * (args.disk_mib // 4 << 20))
        acked, statuses, full_bodies = set(), {}, set()
        dev = str(uuid.uuid4())
        ts = 1_700_000_000_000
        freed_at = None
        recovered = 0
        for _ in range(100_000):
            lines, pts = [], []
            for _ in range(500):
                ts += 1000
                lines.append(f"temp,uuid={dev} value={ts % 1013} {ts}")
                pts.append((dev, "temp", ts))
            s, b = request(host.port, "POST", "/write?db=fieldline&precision=ms",
                           "\n".join(lines).encode(), {"authorization": basic}, timeout=60)
            statuses[s] = statuses.get(s, 0) + 1
            if s == 204:
                acked.update(pts)
                if freed_at is not None:
                    recovered += 1
                    if recovered >= 5:
                        break
            elif s >= 500:
                full_bodies.add(b.decode(errors="replace")[:160])
                # Conduit says it its own way while the disk is full.
                cs, cb = request(host.port, "POST", "/post/v2", json.dumps(
                    {"token": token, "networkId": "chaos-disk", "timestamp": ts,
                     "data": [{"channelId": 1, "value": 1}]}).encode(),
                    {"content-type": "application/json"})
                full_bodies.add(f"Conduit {cs}: " + cb.decode(errors="replace")[:120])
                if freed_at is None:
                    os.remove(filler)
                    freed_at = time.time()
        health = request(host.port, "GET", "/health")[0]
        host.stop()
        have = set(stored(host.db()))
        lost = len(acked - have)
        figure("outage", f"disk full ({args.disk_mib} MiB tmpfs): /write answers by status",
               ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items())))
        for body in sorted(full_bodies):
            figure("outage", "disk full: the answer", body)
        figure("outage", "disk full: points acknowledged / lost", f"{len(acked)} / {lost}")
        figure("outage", "disk full: writes accepted after space was freed", recovered)
        check(freed_at is not None, "outage: the disk never filled up")
        check(all("full" in b for b in full_bodies), "outage: a full disk answered without saying so")
        check(lost == 0, f"outage: {lost} acknowledged points lost on a full disk")
        check(recovered >= 5, "outage: writes did not recover after space was freed")
        check(health == 200, "outage: /health after the disk filled")
    finally:
        subprocess.run(["umount", "-l", mnt], stderr=subprocess.DEVNULL)


def scenario_outage(args):
    outage_broker(args)
    outage_disk(args)


# ------------------------------------------------------------------------------------------
# soak


def scenario_soak(args):
    state = tempfile.mkdtemp(prefix="chaos-soak-")
    host = Host(state)
    host.start()
    token, _ = set_up(host.port)
    basic = "Basic " + base64.b64encode(f"{EMAIL}:{token}".encode()).decode()
    stop = threading.Event()
    counts = {"ok": 0, "4xx": 0, "5xx": 0, "failed": 0}
    lock = threading.Lock()
    samples = []

    def tally(s):
        with lock:
            counts["ok" if s < 400 else "4xx" if s < 500 else "5xx"] += 1

    def writer(n):
        acked = Acked()
        period = 1 / args.soak_rate
        port_of = lambda: host.port  # noqa: E731
        dev = f"soak-{n}"
        ts = 1_700_000_000_000 + n * 10_000_000_000
        while not stop.is_set():
            ts += 1000
            body = json.dumps({"token": token, "networkId": dev, "timestamp": ts,
                               "data": [{"channelId": ch, "value": ch} for ch in range(1, 33)]})
            try:
                s, _ = request(port_of(), "POST", "/post/v2", body.encode(),
                               {"content-type": "application/json"})
                tally(s)
            except OSError:
                with lock:
                    counts["failed"] += 1
            time.sleep(period)
        del acked

    def reader():
        q = "db=fieldline&q=" + "SELECT mean(value) FROM \"1\" WHERE time > now() - 1000d GROUP BY time(1h) LIMIT 100"
        while not stop.is_set():
            try:
                s, _ = request(host.port, "POST", "/query", q.encode(),
                               {"authorization": basic,
                                "content-type": "application/x-www-form-urlencoded"})
                tally(s)
            except OSError:
                with lock:
                    counts["failed"] += 1
            time.sleep(0.5)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(args.clients)]
    threads.append(threading.Thread(target=reader))
    for t in threads:
        t.start()
    end = time.time() + args.soak_seconds
    while time.time() < end:
        samples.append(host.rss_kib())
        time.sleep(min(10, args.soak_seconds / 10))
    stop.set()
    for t in threads:
        t.join()
    samples.append(host.rss_kib())
    figure("soak", "seconds / writers / uploads per second each",
           f"{args.soak_seconds} / {args.clients} / {args.soak_rate}")
    figure("soak", "answers: <400 / 4xx / 5xx / no answer",
           f"{counts['ok']} / {counts['4xx']} / {counts['5xx']} / {counts['failed']}")
    figure("soak", "host RSS first / last / max (MiB)",
           f"{samples[0] / 1024:.0f} / {samples[-1] / 1024:.0f} / {max(samples) / 1024:.0f}")
    check(counts["5xx"] == 0 and counts["failed"] == 0, "soak: 5xx or unanswered requests")
    host.stop()


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("scenarios", nargs="*",
                   default=["kill", "hostile", "slow", "outage", "soak"])
    p.add_argument("--short", action="store_true", help="a brief run of each (CI)")
    p.add_argument("--clients", type=int, default=8, help="HTTP clients of each API")
    p.add_argument("--kills", type=int, default=5)
    p.add_argument("--interval", type=float, default=4.0, help="seconds between kills, at most")
    p.add_argument("--mqtt-rate", type=float, default=200, help="MQTT messages per second")
    p.add_argument("--slow-clients", type=int, default=300)
    p.add_argument("--slow-timeout", type=int, default=10, help="the host's header/body timeouts")
    p.add_argument("--outage-seconds", type=float, default=5, help="how long the broker is down")
    p.add_argument("--disk-mib", type=int, default=64, help="the full disk's size")
    p.add_argument("--soak-seconds", type=int, default=600)
    p.add_argument("--soak-rate", type=float, default=20, help="uploads per second per writer")
    args = p.parse_args()
    log(f"host: {HOST_BIN}")
    if args.short:
        args.clients, args.kills, args.interval = 4, 2, 2.0
        args.slow_clients, args.slow_timeout = 60, 3
        args.soak_seconds, args.soak_rate = 20, 10
        args.outage_seconds, args.disk_mib = 2, 32
    for s in args.scenarios:
        fn = globals().get(f"scenario_{s}")
        if fn is None:
            raise SystemExit(f"no scenario {s}: kill, hostile, slow, outage or soak")
        log(f"scenario {s}")
        before = set(os.listdir(tempfile.gettempdir()))
        try:
            fn(args)
        finally:
            for d in set(os.listdir(tempfile.gettempdir())) - before:
                if d.startswith(f"chaos-{s}-"):
                    shutil.rmtree(os.path.join(tempfile.gettempdir(), d), ignore_errors=True)
    if FAILURES:
        print(f"\n{len(FAILURES)} promise(s) broken:", *FAILURES, sep="\n  ", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
