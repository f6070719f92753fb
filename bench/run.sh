#!/usr/bin/env bash
# Runs every benchmark in bench/cases/ against the local cluster and writes
# bench/results/<date>-<case>.md with the machine it ran on.
set -euo pipefail
. "$(dirname "$0")/../scripts/common.sh"
RESULTS="$ROOT/bench/results"
mkdir -p "$RESULTS"

machine() {
  echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "- cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //') ($(nproc) cores)"
  echo "- memory: $(free -h | awk '/^Mem:/ {print $2}')"
  echo "- postgres: $("$PG_BIN/postgres" --version)"
  echo "- ai_architect: $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown)"
}

shopt -s nullglob
# BENCH_CASES="impact embed" runs only those
if [ -n "${BENCH_CASES:-}" ]; then
  cases=(); for n in $BENCH_CASES; do cases+=("$ROOT/bench/cases/$n.sh"); done
else
  cases=("$ROOT"/bench/cases/*.sh)
fi
if [ ${#cases[@]} -eq 0 ]; then
  say "bench: no benchmarks yet (add bench/cases/NAME.sh)"
  exit 0
fi
for c in "${cases[@]}"; do
  name=$(basename "$c" .sh)
  out="$RESULTS/$(date -u +%Y%m%dT%H%M)-$name.md"
  say "bench: $name -> ${out#$ROOT/}"
  { echo "# $name"; echo; machine; echo; bash "$c"; } > "$out"
  cat "$out"
done
