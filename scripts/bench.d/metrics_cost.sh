#!/usr/bin/env bash
# `scripts/bench metrics-cost [ROUNDS]`: what measuring costs (issue 23). Two release hosts on
# tests/fixtures/bench.toml, side by side: one without --metrics-listen (nothing measured), one
# with it and scraped once a second, as Prometheus would. Each round starts a fresh pair (which
# of the two processes measures alternates, as does which side runs first) and runs
# `host-constant` and `host-insert32` (wrk, as `scripts/bench host` does) against both, so both
# meet the same machine load. Prints each round and the ratio of the sums
# (measured / unmeasured req/s; 1.00 is free). ROUNDS defaults to 4; DURATION (10s),
# CONNECTIONS (32), THREADS (2) as for `scripts/bench host`.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
cd "$ROOT"
rounds="${1:-4}"
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || { echo "usage: scripts/bench metrics-cost [ROUNDS]" >&2; exit 2; }
DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-32}"
THREADS="${THREADS:-2}"

ensure_toolchain
command -v wrk >/dev/null || apt_install wrk
if [ -z "${FIELDLINE_SKIP_BUILD:-}" ]; then
  build_components
  build_host release
fi
bin="${FIELDLINE_HOST_BIN:-target/release/fieldline}"

state="$(mktemp -d)"
pair=()
scraper=""
cleanup() {
  for p in "${pair[@]}" ${scraper:-}; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$state"
}
trap cleanup EXIT

manifest=tests/fixtures/bench.toml
mkdir -p "$state/a" "$state/b"
metrics_port="$(free_port)"
# Starts the pair for round $1: two fresh host processes on their own state directories, host a
# measuring in odd rounds and host b in even ones, so that neither process's placement on the
# machine favours one side; the measuring one is scraped once a second for the round (bounded).
start_pair() {
  local round="$1" side
  off_port="$(free_port)"
  on_port="$(free_port)"
  for side in a b; do
    local port="$off_port" extra=()
    if { [ "$side" = a ] && (( round % 2 )); } || { [ "$side" = b ] && ! (( round % 2 )); }; then
      port="$on_port" extra=(--metrics-listen "127.0.0.1:$metrics_port")
    fi
    FIELDLINE_LOG=warn "$bin" up --from "$manifest" --listen "127.0.0.1:$port" \
      --state-dir "$state/$side" "${extra[@]}" >"$state/$side.log" 2>&1 &
    pair+=($!)
  done
  wait_port "$off_port" || { cat "$state/a.log" "$state/b.log"; exit 1; }
  wait_port "$on_port" || { cat "$state/a.log" "$state/b.log"; exit 1; }
  wait_port "$metrics_port" || { cat "$state/a.log" "$state/b.log"; exit 1; }
  ( for _ in $(seq 1 $(( 4 * (seconds + 5) + 10 ))); do
      curl -sf -o /dev/null "http://127.0.0.1:$metrics_port/metrics" || true
      sleep 1
    done ) &
  scraper=$!
  for port in "$off_port" "$on_port"; do
    wrk -t2 -c8 -d2s "http://127.0.0.1:$port/probe/const" >/dev/null
    curl -sf -X POST "http://127.0.0.1:$port/probe/insert32?ts=0" >/dev/null
  done
}
stop_pair() {
  scraped="$(curl -sf "http://127.0.0.1:$metrics_port/metrics" | grep -c '^fieldline_' || true)"
  kill "${pair[@]}" "$scraper" 2>/dev/null || true
  wait "${pair[@]}" "$scraper" 2>/dev/null || true
  pair=()
}
seconds="${DURATION%s}"
[[ "$seconds" =~ ^[0-9]+$ ]] || seconds=10

run_wrk() { # side workload url [lua]
  local lua="${4:-$ROOT/scripts/bench.d/report.lua}"
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --timeout 5s -s "$lua" "$3" 2>&1 \
    | awk -v s="$1" -v w="$2" -v r="$round" '/^JSON /{sub(/^JSON /,""); print r "\t" s "\t" w "\t" $0}'
}
results="$state/results.tsv"
log "metrics cost: $rounds rounds, wrk -t$THREADS -c$CONNECTIONS -d$DURATION per workload and side"
for round in $(seq 1 "$rounds"); do
  start_pair "$round" >&2
  if (( round % 2 )); then order="off on"; else order="on off"; fi
  for side in $order; do
    if [ "$side" = off ]; then port="$off_port"; else port="$on_port"; fi
    run_wrk "$side" host-constant "http://127.0.0.1:$port/probe/const"
    run_wrk "$side" host-insert32 "http://127.0.0.1:$port/probe/insert32" "$ROOT/scripts/bench.d/insert32.lua"
  done
  stop_pair >&2
done >"$results"

python3 - "$results" "$scraped" <<'PY'
import json, sys
rows = [l.rstrip("\n").split("\t", 3) for l in open(sys.argv[1])]
data = {}
for r, side, w, js in rows:
    data.setdefault(w, {}).setdefault(int(r), {})[side] = json.loads(js)
print(f"{'workload':<15}{'round':>6}{'off req/s':>11}{'on req/s':>10}{'on/off':>8}{'off p99':>9}{'on p99':>8}")
for w, by_round in data.items():
    tot = {"off": 0.0, "on": 0.0}
    for r in sorted(by_round):
        o, n = by_round[r]["off"], by_round[r]["on"]
        tot["off"] += o["rps"]; tot["on"] += n["rps"]
        print(f"{w:<15}{r:>6}{o['rps']:>11.0f}{n['rps']:>10.0f}{n['rps']/o['rps']:>8.3f}{o['p99_ms']:>9.2f}{n['p99_ms']:>8.2f}")
    print(f"{w:<15}{'sum':>6}{tot['off']:>11.0f}{tot['on']:>10.0f}{tot['on']/tot['off']:>8.3f}")
print(f"\nmeasured host's last scrape: {sys.argv[2]} fieldline_ sample lines")
print("on/off: req/s with --metrics-listen (scraped each second) over req/s without; 1.00 = free")
PY
