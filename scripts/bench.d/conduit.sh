#!/usr/bin/env bash
# `scripts/bench conduit`: points per second and p50/p99 latency of AlphaX Conduit v2 uploads of
# 32 channels (POST /post/v2) from many concurrent connections (wrk), through the host serving
# spin.toml, beside the storage layer's native ceiling for the same rows measured in the same run
# (shared/storage/examples/conduit_bench.rs), reported as ratios.
# Options via environment: DURATION (default 10s), CONNECTIONS (64), THREADS (2),
# FIELDLINE_SKIP_BUILD (use what is built).
set -euo pipefail
source "$(dirname "$0")/../lib.sh"

DURATION="${DURATION:-10s}"
# DURATION in whole seconds for the native side, from any form wrk takes (10, 10s, 1m, 2h);
# checked before anything runs.
duration_secs() {
  local n mult
  case "$1" in
    *[0-9]) n="$1" mult=1 ;;
    *s) n="${1%s}" mult=1 ;;
    *m) n="${1%m}" mult=60 ;;
    *h) n="${1%h}" mult=3600 ;;
    *) n="" mult=0 ;;
  esac
  if ! [[ "$n" =~ ^[0-9]+$ ]] || [ "$n" -eq 0 ]; then
    echo "DURATION=$1 is not a duration wrk takes: a whole number of seconds, minutes or hours (10s, 1m, 2h)" >&2
    return 1
  fi
  echo $((n * mult))
}
secs="$(duration_secs "$DURATION")"

ensure_toolchain
command -v wrk >/dev/null || apt_install wrk
# FIELDLINE_SKIP_BUILD=1: use the components and binaries already built (as the tests do).
if [ -z "${FIELDLINE_SKIP_BUILD:-}" ]; then
  build_components
  log "building the host and the native ceiling (release)"
  cargo build --release -p fieldline-host --bin fieldline
  cargo build --release -p fieldline-storage --features native --example conduit_bench
fi

CONNECTIONS="${CONNECTIONS:-64}"
THREADS="${THREADS:-2}"
out_dir="$ROOT/bench-results"
mkdir -p "$out_dir"
state="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$state"
}
trap cleanup EXIT


bench_bin="target/release/examples/conduit_bench"
mkdir -p "$state/spin"
CONDUIT_TOKEN="$("$bench_bin" setup "$state/spin/sqlite_db.db")"
export CONDUIT_TOKEN

port="$(free_port)"
FIELDLINE_LOG=warn SPIN_VARIABLE_JWT_SECRET="$(head -c 32 /dev/urandom | base64)" \
  target/release/fieldline up --from spin.toml --listen "127.0.0.1:$port" \
  --state-dir "$state/spin" >"$state/host.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 600); do port_open "$port" && break; sleep 0.1; done
port_open "$port" || { cat "$state/host.log"; exit 1; }
url="http://127.0.0.1:$port"

log "checking one upload"
curl -sf -X POST "$url/post/v2" -H 'content-type: application/json' \
  -d "{\"token\":\"$CONDUIT_TOKEN\",\"networkId\":\"bench-device\",\"timestamp\":1600000000000,\"data\":[{\"channelId\":1,\"value\":1}]}" \
  >/dev/null || { echo "the warm-up upload failed:"; cat "$state/host.log"; exit 1; }

log "warm-up"
wrk -t2 -c8 -d2s -s "$ROOT/scripts/bench.d/conduit_v2.lua" "$url" >/dev/null

log "measuring: wrk -t$THREADS -c$CONNECTIONS -d$DURATION, POST /post/v2 with 32 channels"
http="$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --timeout 10s \
  -s "$ROOT/scripts/bench.d/conduit_v2.lua" "$url" 2>&1 | awk '/^JSON /{sub(/^JSON /,""); print}')"
[ -n "$http" ] || { echo "wrk produced no report"; cat "$state/host.log"; exit 1; }
rows="$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("select count(*) from points").fetchone()[0])' "$state/spin/sqlite_db.db")"

kill "${pids[0]}" 2>/dev/null || true
wait "${pids[0]}" 2>/dev/null || true
log "measuring the native ceiling (${secs}s per side)"
native="$("$bench_bin" ceiling "$state" "$secs")"

python3 - "$http" "$native" "$rows" "$CONNECTIONS" "$THREADS" "$DURATION" "$out_dir/conduit.json" <<'PY'
import json, sys
http, native = json.loads(sys.argv[1]), json.loads(sys.argv[2])
rows, conns, threads, duration = int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6]
pts = http["rps"] * 32
print(f"POST /post/v2, 32 channels, wrk -t{threads} -c{conns} -d{duration}")
print(f"  uploads/s {http['rps']:.0f}  points/s {pts:.0f}  p50 {http['p50_ms']:.2f} ms  "
      f"p99 {http['p99_ms']:.2f} ms  errors {http['errors']}  (points stored: {rows})")
print("storage layer, native, same rows (authenticate + conduit_ingest per upload):")
print(f"  one transaction per upload: {native['same_path_pts']:.0f} points/s")
print(f"  512 uploads per transaction: {native['grouped_pts']:.0f} points/s")
print(f"host / native one per upload: {pts / native['same_path_pts']:.2f}")
print(f"host / native grouped:        {pts / native['grouped_pts']:.2f}")
json.dump({"http": http, "points_per_sec": pts, "rows": rows, "native": native,
           "connections": int(conns), "threads": int(threads), "duration": duration},
          open(sys.argv[7], "w"), indent=2)
print(f"\nwritten: {sys.argv[7]}")
PY
