#!/usr/bin/env bash
# `scripts/bench compare [options]`: Fieldline against InfluxDB 1.x in the same run (ingestion,
# a data set loaded into both, InfluxQL queries whose answers must agree), alternating rounds.
# `scripts/bench query [options]`: p50/p99 of the time-series reads through the host alone.
# This script installs what is missing, builds, starts the servers on 127.0.0.1 with temporary
# state, runs scripts/bench.d/tsbench.py (which drives tsbench, the one client for every
# system) and removes every process and directory it made on exit, failure or Ctrl-C.
# `scripts/bench compare --backend postgres` also starts three hosts on PostgreSQL (a fresh
# database on 127.0.0.1:5432, created here and dropped on exit): the first measured beside the
# SQLite host and InfluxDB, all three for ingestion through 1, 2 and 3 hosts in front of it.
# Options: see `scripts/bench compare --help` / `scripts/bench query --help`; the environment
# variable FIELDLINE_SKIP_BUILD=1 uses what is built; FIELDLINE_BENCH_PORTS=N takes the servers'
# ports from N upwards (default: any free port).
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
source "$ROOT/scripts/influx.sh"

mode="$1"
shift
case "$mode" in
  compare | query) ;;
  *) echo "usage: tsbench.sh compare|query [options]" >&2; exit 2 ;;
esac
backend=sqlite
prev=""
for a in "$@"; do
  if [ "$a" = -h ] || [ "$a" = --help ]; then
    exec python3 "$ROOT/scripts/bench.d/tsbench.py" "$mode" --help
  fi
  case "$prev" in --backend) backend="$a" ;; esac
  case "$a" in --backend=*) backend="${a#--backend=}" ;; esac
  prev="$a"
done
case "$mode:$backend" in
  compare:sqlite | compare:postgres | query:sqlite) ;;
  *) echo "--backend $backend: compare takes sqlite (default) or postgres; query, sqlite" >&2
     exit 2 ;;
esac

ensure_toolchain
[ "$mode" = compare ] && ensure_influxdb
[ "$backend" = postgres ] && ensure_postgres
command -v curl >/dev/null || apt_install curl
if [ -z "${FIELDLINE_SKIP_BUILD:-}" ]; then
  build_components
  log "building the host and the benchmark client (release)"
  cargo build --release -p fieldline-host --bin fieldline
  cargo build --release -p fieldline-storage --features native --example tsbench
fi
python3 -c 'import matplotlib' 2>/dev/null || {
  log "installing matplotlib (PyPI) for the plot"
  python3 -m pip install --quiet matplotlib
}

tmp="$(mktemp -d "${TMPDIR:-/tmp}/fieldline-bench.XXXXXX")"
host_pid="" influx_pid="" driver_pid="" pg_db=""
pg_pids=()
pg=(-h 127.0.0.1 -p 5432 -U postgres)
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  # Every step, even where one fails (a host that died cannot be killed): no errexit here.
  set +e
  [ -n "$driver_pid" ] && kill "$driver_pid" 2>/dev/null
  [ -n "$host_pid" ] && kill "$host_pid" 2>/dev/null
  for p in "${pg_pids[@]}"; do kill "$p" 2>/dev/null; done
  [ -n "$influx_pid" ] && stop_influxd "$influx_pid"
  [ -n "$host_pid" ] && wait "$host_pid" 2>/dev/null
  for p in "${pg_pids[@]}"; do wait "$p" 2>/dev/null; done
  [ -n "$pg_db" ] && dropdb "${pg[@]}" --if-exists --force "$pg_db"
  rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

next_port="${FIELDLINE_BENCH_PORTS:-}"
free_port() {
  if [ -n "$next_port" ]; then
    while port_open "$next_port"; do next_port=$((next_port + 1)); done
    echo "$next_port"
    next_port=$((next_port + 1))
  else
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
  fi
}

args=()
if [ "$mode" = compare ]; then
  # start_influxd gives the RPC listener the next free port, which a client's ephemeral port
  # can still hold without listening: then influxd cannot bind it. Try other ports.
  for attempt in 1 2 3; do
    influx_port="$(free_port)"
    log "starting influxd on 127.0.0.1:$influx_port (data in $tmp/influx)"
    # Its cache snapshotted after 30 s without writes and its files fully compacted after
    # 1 min (defaults: 10 min and 4 h), so that the bytes per point measured at the end are
    # those of settled data. It writes throughout the ingestion rounds, so neither fires there.
    influx_pid="$(INFLUXD_DATA_SETTINGS='  cache-snapshot-write-cold-duration = "30s"
  compact-full-write-cold-duration = "1m"' start_influxd "$tmp/influx" "$influx_port")" && break
    influx_pid=""
    [ "$attempt" -lt 3 ] || exit 1
  done
  args+=(--influx "127.0.0.1:$influx_port" --influx-version "$(influxd version | awk '{print $2}')"
    --fieldline-db "$tmp/spin/sqlite_db.db" --influx-dir "$tmp/influx" --influx-pid "$influx_pid")
fi

# The host as `scripts/up` runs it, with a temporary state directory. Its MQTT trigger points at
# a closed loopback port, so that no broker another program runs on this machine can send it
# work while it is measured (it retries in the background, backing off to 30 s).
host_port="$(free_port)"
mqtt_port="$(free_port)"
mkdir -p "$tmp/spin"
log "starting the host on 127.0.0.1:$host_port (state in $tmp/spin)"
# Exported: the driver runs the maintenance job (`fieldline trigger cron`) with the same variables.
SPIN_VARIABLE_JWT_SECRET="$(head -c 32 /dev/urandom | base64)"
SPIN_VARIABLE_MQTT_ADDRESS="mqtt://127.0.0.1:$mqtt_port"
# The operator's credential: tsbench.py sets the benchmark organization's subscription with it.
SPIN_VARIABLE_OPERATOR_TOKEN="$(head -c 32 /dev/urandom | base64 | tr -d '/+=')"
export SPIN_VARIABLE_JWT_SECRET SPIN_VARIABLE_MQTT_ADDRESS SPIN_VARIABLE_OPERATOR_TOKEN
FIELDLINE_LOG="${FIELDLINE_LOG:-error}" \
  target/release/fieldline up --from spin.toml --listen "127.0.0.1:$host_port" \
  --state-dir "$tmp/spin" >"$tmp/host.log" 2>&1 &
host_pid=$!
for _ in $(seq 1 600); do port_open "$host_port" && break; sleep 0.1; done
port_open "$host_port" || { cat "$tmp/host.log"; exit 1; }
# compare reads the host's peak resident memory while it loads the data set.
[ "$mode" = compare ] && args+=(--host-pid "$host_pid")

if [ "$backend" = postgres ]; then
  # Three hosts on one fresh PostgreSQL database, each with its own state directory (the
  # key-value store and the MQTT trigger's; their points, accounts and limits are in the
  # database). The schema is migrated by the first request that opens the store, under the
  # writer lock that every replica takes (docs/storage.md).
  pg_db="fl_bench_$$_$(date +%s)"
  log "creating the PostgreSQL database $pg_db on 127.0.0.1:5432"
  createdb "${pg[@]}" "$pg_db"
  pg_url="postgres://postgres@127.0.0.1:5432/$pg_db"
  pg_addrs=""
  for i in 1 2 3; do
    port="$(free_port)"
    mkdir -p "$tmp/pg$i"
    log "starting PostgreSQL host $i on 127.0.0.1:$port"
    SPIN_VARIABLE_STORAGE=postgres SPIN_VARIABLE_POSTGRES_URL="$pg_url" \
      SPIN_VARIABLE_POSTGRES_HOST=127.0.0.1:5432 FIELDLINE_LOG="${FIELDLINE_LOG:-error}" \
      target/release/fieldline up --from spin.toml --listen "127.0.0.1:$port" \
      --state-dir "$tmp/pg$i" >"$tmp/host-pg$i.log" 2>&1 &
    pg_pids+=($!)
    for _ in $(seq 1 600); do port_open "$port" && break; sleep 0.1; done
    port_open "$port" || { cat "$tmp/host-pg$i.log"; exit 1; }
    pg_addrs="$pg_addrs${pg_addrs:+,}127.0.0.1:$port"
  done
  args+=(--backend postgres --pg-hosts "$pg_addrs" --pg-db "$pg_db" --pg-url "$pg_url"
    --pg-host-pid "${pg_pids[0]}")
fi

# In the background with `wait`, so that the traps run at once on Ctrl-C or TERM.
python3 "$ROOT/scripts/bench.d/tsbench.py" "$mode" --bin "$ROOT/target/release/examples/tsbench" \
  --fieldline "127.0.0.1:$host_port" --out "$ROOT/bench-results" --tmp "$tmp" \
  --command-line "scripts/bench $mode${*:+ $*}" "${args[@]}" "$@" &
driver_pid=$!
status=0
wait "$driver_pid" || status=$?
driver_pid=""
if [ "$status" -ne 0 ]; then
  echo "the host's log (last 20 lines):" >&2
  tail -n 20 "$tmp/host.log" >&2 || true
fi
exit "$status"
