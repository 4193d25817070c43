#!/usr/bin/env bash
# `scripts/bench alternate OTHER ROUNDS WHAT [ARGS...]`: runs `scripts/bench WHAT ARGS` in another
# checkout (OTHER: say, a worktree of the commit before a change) and in this one, alternately,
# ROUNDS times each, so that both builds meet the same machine load; one output file per run
# under bench-results/alternate/ and a summary of the lines that compare (ratios, req/s, p50).
# Each checkout builds into its own target/ (give OTHER a copy of this one's target/ to build
# only what differs). Set FIELDLINE_SKIP_BUILD=1 to use what both have built where WHAT honours it.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"

[ $# -ge 3 ] || { echo "usage: scripts/bench alternate OTHER ROUNDS host|conduit|compare|query [ARGS...]" >&2; exit 2; }
other="$(cd "$1" && pwd)"
rounds="$2"
shift 2
[ -x "$other/scripts/bench" ] || { echo "$other has no scripts/bench" >&2; exit 2; }
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || { echo "ROUNDS must be a positive whole number" >&2; exit 2; }

out="$ROOT/bench-results/alternate"
mkdir -p "$out"
label() { git -C "$1" rev-parse --short HEAD; }
a="$(label "$other")"
b="$(label "$ROOT")"
for r in $(seq 1 "$rounds"); do
  for side in other this; do
    if [ "$side" = other ]; then dir="$other" rev="$a"; else dir="$ROOT" rev="$b"; fi
    file="$out/$1-round$r-$rev.txt"
    log "round $r: $rev ($dir)"
    (cd "$dir" && scripts/bench "$@") >"$file" 2>&1 || { tail -20 "$file"; exit 1; }
  done
done

log "summary ($a = other, $b = this)"
for f in "$out/$1"-round*-"$a".txt "$out/$1"-round*-"$b".txt; do
  echo "== $(basename "$f")"
  grep -E '^(host|native|influx|workload|insert32|[a-z_]+ +[0-9])|/|points/s|p50' "$f" | grep -v '^==>' | head -40 || true
done
