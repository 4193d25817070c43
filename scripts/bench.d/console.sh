#!/usr/bin/env bash
# scripts/bench console: the web console's first screen time to interactive on loopback and a
# chart of 100,000 points drawn in headless Chromium (web/bench/console-bench.mjs, Playwright
# driving Debian's chromium) against a scratch host (debug build unless FIELDLINE_HOST_BIN).
# RUNS (default 15) runs per figure; medians; JSON into bench-results/console.json.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
ensure_toolchain
ensure_chromium
build_components
build_host debug
state="$(mktemp -d)"
HOST_PID=""
cleanup() {
  if [ -n "$HOST_PID" ]; then kill "$HOST_PID" 2>/dev/null || true; wait "$HOST_PID" 2>/dev/null || true; fi
  rm -rf "$state"
}
trap cleanup EXIT
start_scratch_host "$state"
mkdir -p "$ROOT/bench-results"
log "console benchmark against $HOST_BASE"
(cd "$ROOT/web" && FIELDLINE_BASE="$HOST_BASE" node bench/console-bench.mjs) | tee "$ROOT/bench-results/console.json"
