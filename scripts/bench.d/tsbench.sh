#!/usr/bin/env bash
# `scripts/bench compare [options]`: Fieldline against InfluxDB 1.x in the same run (ingestion,
# a data set loaded into both, InfluxQL queries whose answers must agree), alternating rounds.
# `scripts/bench query [options]`: p50/p99 of the time-series reads through the host alone.
# This script installs what is missing, builds, starts the servers on 127.0.0.1 with temporary
# state, runs scripts/bench.d/tsbench.py (which drives tsbench, the one client for every
# system) and removes every process and directory it made on exit, failure or Ctrl-C.
# Options: see `scripts/bench compare --help` / `scripts/bench query --help`; the environment
# variable FIELDLINE_SKIP_BUILD=1 uses what is built.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
source "$ROOT/scripts/influx.sh"

mode="$1"
shift
case "$mode" in
  compare | query) ;;
  *) echo "usage: tsbench.sh compare|query [options]" >&2; exit 2 ;;
esac
for a in "$@"; do
  if [ "$a" = -h ] || [ "$a" = --help ]; then
    exec python3 "$ROOT/scripts/bench.d/tsbench.py" "$mode" --help
  fi
done

ensure_toolchain
[ "$mode" = compare ] && ensure_influxdb
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
host_pid="" influx_pid="" driver_pid=""
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  [ -n "$driver_pid" ] && kill "$driver_pid" 2>/dev/null
  [ -n "$host_pid" ] && kill "$host_pid" 2>/dev/null
  [ -n "$influx_pid" ] && stop_influxd "$influx_pid"
  [ -n "$host_pid" ] && wait "$host_pid" 2>/dev/null
  rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

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
