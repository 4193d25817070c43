#!/usr/bin/env bash
# `scripts/bench sensorbis`: Sensorbis device pushes (POST <uri>, {"t":..,"c":[..]}) of 10 and of
# 100 items from CONNECTIONS concurrent connections (wrk), through the host serving spin.toml:
# points/s and p50/p99, beside InfluxDB 1.x taking the same points per /write (one line per
# channel, ms precision) in the same run, reported as ratios. Each workload starts on an empty
# database. The federation (signed up through the admin API) gets a points-per-hour
# subscription large enough for the run, set in the database, so the quota is not what is
# measured.
# Options via environment: DURATION (default 10s), CONNECTIONS (64), THREADS (2),
# FIELDLINE_SKIP_BUILD (use what is built).
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../influx.sh"

DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-64}"
THREADS="${THREADS:-2}"

ensure_toolchain
command -v wrk >/dev/null || apt_install wrk
have_influx=1
ensure_influxdb || { have_influx=""; echo "InfluxDB could not be installed: its side is skipped" >&2; }
if [ -z "${FIELDLINE_SKIP_BUILD:-}" ]; then
  build_components
  log "building the host (release)"
  cargo build --release -p fieldline-host --bin fieldline
fi

out_dir="$ROOT/bench-results"
mkdir -p "$out_dir"
state="$(mktemp -d)"
host_pid=""
influx_pid=""
cleanup() {
  [ -n "$host_pid" ] && kill "$host_pid" 2>/dev/null || true
  stop_influxd "$influx_pid"
  wait 2>/dev/null || true
  rm -rf "$state"
}
trap cleanup EXIT

# A port below the ephemeral range whose next port is free too.
low_port_pair() {
  python3 -c '
import random, socket
for _ in range(200):
    p = random.randrange(20000, 32000)
    try:
        for q in (p, p + 1):
            s = socket.socket(); s.bind(("127.0.0.1", q)); s.close()
    except OSError:
        continue
    print(p); break'
}

# A host on an empty state directory with a federation, a device of 100 channels (c0 .. c99,
# 10 sensors of 10), and its push uri and authorization in PUSH_PATH and PUSH_AUTH.
start_host() {
  local dir="$state/spin-$1"
  mkdir -p "$dir"
  port="$(free_port)"
  FIELDLINE_LOG=warn SPIN_VARIABLE_JWT_SECRET="$(head -c 32 /dev/urandom | base64)" \
    SPIN_VARIABLE_SENSORBIS_SECRET="$(head -c 32 /dev/urandom | base64)" \
    target/release/fieldline up --from spin.toml --listen "127.0.0.1:$port" \
    --state-dir "$dir" >"$dir/host.log" 2>&1 &
  host_pid=$!
  for _ in $(seq 1 600); do port_open "$port" && break; sleep 0.1; done
  port_open "$port" || { cat "$dir/host.log"; exit 1; }
  url="http://127.0.0.1:$port"
  local out
  out="$(python3 - "$url" "$dir/sqlite_db.db" <<'PY'
import json, sqlite3, sys, urllib.request
url, db = sys.argv[1], sys.argv[2]
def call(path, body, headers=None):
    req = urllib.request.Request(url + path, data=json.dumps(body).encode(),
                                 headers={"content-type": "application/json", **(headers or {})})
    return json.load(urllib.request.urlopen(req))
call("/api/v1/signup", {"organization": "Bench", "email": "bench@example.com",
                        "password": "correct horse battery"})
login = call("/api/v1/login", {"email": "bench@example.com", "password": "correct horse battery"})
auth = {"authorization": "Bearer " + login["access_token"]}
fed = call("/api/v1/tokens", {"kind": "federation"}, auth)["secret"]
con = sqlite3.connect(db)
# No quota, and retention long enough for the workload's timestamps (from 2020 on).
con.execute("UPDATE orgs SET points_per_hour = 1000000000000, detailed_retention_days = 36500, "
            "aggregated_retention_days = 36500")
con.commit()
sensors = [{"name": f"s{s}", "channels": [
    {"communicationId": f"c{s * 10 + c}", "name": f"c{s * 10 + c}", "enumerated": False,
     "grouping": "M"} for c in range(10)]} for s in range(10)]
d = call("/V0100/Service.svc/rest/AddDevices",
         {"federation": {}, "devices": [{"name": "bench", "sensors": sensors}]},
         {"authorization": "Basic " + fed})["devices"][0]
print(d["uri"].split("://", 1)[1].split("/", 1)[1])
print(d["authorization"])
PY
)" || { cat "$dir/host.log"; exit 1; }
  PUSH_PATH="/$(sed -n 1p <<<"$out")"
  PUSH_AUTH="$(sed -n 2p <<<"$out")"
  export PUSH_PATH PUSH_AUTH
  curl -sf -X POST "$url$PUSH_PATH" -H "authorization: $PUSH_AUTH" \
    -d '{"t":1600000000000,"c":[{"i":"c0","v":1}]}' >/dev/null \
    || { echo "the warm-up push failed:"; cat "$dir/host.log"; exit 1; }
}

stop_host() {
  kill "$host_pid" 2>/dev/null || true
  wait "$host_pid" 2>/dev/null || true
  host_pid=""
}

run_wrk() { # name url script
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --timeout 10s -s "$3" "$2" 2>&1 \
    | awk '/^JSON /{sub(/^JSON /,""); print}'
}

results="{}"
add() { results="$(python3 -c 'import json,sys; r=json.loads(sys.argv[1]); r[sys.argv[2]]=json.loads(sys.argv[3]); print(json.dumps(r))' "$results" "$1" "$2")"; }

for items in 10 100; do
  export ITEMS="$items"
  start_host "$items"
  log "Fieldline: wrk -t$THREADS -c$CONNECTIONS -d$DURATION, pushes of $items items"
  wrk -t2 -c8 -d1s -s scripts/bench.d/sensorbis_push.lua "$url" >/dev/null
  r="$(run_wrk "push$items" "$url" scripts/bench.d/sensorbis_push.lua)"
  [ -n "$r" ] || { echo "wrk produced no report"; exit 1; }
  add "fieldline$items" "$r"
  stop_host
  if [ -n "$have_influx" ]; then
    # Below the ephemeral range: after a run, wrk's closed connections hold many ephemeral ports
    # (TIME_WAIT), and influxd binds its RPC listener on the port after its HTTP one.
    for attempt in 1 2 3 4 5; do
      influx_port="$(low_port_pair)"
      influx_pid="$(start_influxd "$state/influx-$items-$attempt" "$influx_port")" && break
      influx_pid=""
    done
    [ -n "$influx_pid" ] || { echo "influxd did not start"; exit 1; }
    curl -sf -o /dev/null -X POST "http://127.0.0.1:$influx_port/query" --data-urlencode "q=CREATE DATABASE bench"
    iurl="http://127.0.0.1:$influx_port/write?db=bench&precision=ms"
    log "InfluxDB: the same points per /write"
    wrk -t2 -c8 -d1s -s scripts/bench.d/influx_points.lua "$iurl" >/dev/null
    r="$(run_wrk "influx$items" "$iurl" scripts/bench.d/influx_points.lua)"
    add "influx$items" "$r"
    stop_influxd "$influx_pid"
    influx_pid=""
  fi
done

python3 - "$results" "$CONNECTIONS" "$THREADS" "$DURATION" "$out_dir/sensorbis.json" <<'PY'
import json, sys
r, conns, threads, duration, out = json.loads(sys.argv[1]), *sys.argv[2:]
print(f"Sensorbis push vs InfluxDB 1.x /write, same points, wrk -t{threads} -c{conns} -d{duration}")
print(f"{'workload':<34}{'req/s':>10}{'points/s':>12}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}")
summary = {}
for n in (10, 100):
    for side, label in (("fieldline", f"Fieldline push, {n} items"), ("influx", f"InfluxDB /write, {n} lines")):
        x = r.get(f"{side}{n}")
        if not x:
            continue
        x["points_per_sec"] = x["rps"] * n
        print(f"{label:<34}{x['rps']:>10.0f}{x['points_per_sec']:>12.0f}{x['p50_ms']:>9.2f}"
              f"{x['p99_ms']:>9.2f}{x['errors']:>8}")
    f, i = r.get(f"fieldline{n}"), r.get(f"influx{n}")
    if f and i:
        summary[f"ratio{n}"] = f["points_per_sec"] / i["points_per_sec"]
        print(f"  Fieldline / InfluxDB points/s ({n} items): {summary[f'ratio{n}']:.2f}")
json.dump({"results": r, **summary, "connections": int(conns), "threads": int(threads),
           "duration": duration}, open(out, "w"), indent=2)
print(f"\nwritten: {out}")
PY
