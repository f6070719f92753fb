#!/usr/bin/env bash
# ai.version(): first call in a new backend (loads ONNX Runtime, hashes the 23 MB model)
# against warm calls in the same backend (checksum cache hit). Prints Markdown.
set -euo pipefail
. "$(dirname "$0")/../../scripts/common.sh"
DB=${BENCH_DB:-chinook}
COLD_RUNS=${COLD_RUNS:-20}
WARM_RUNS=${WARM_RUNS:-200}

times() { grep -oE '^Time: [0-9.]+ ms' | awk '{print $2}'; }
stats() { sort -n | awk '{a[NR] = $1} END {
  p50 = a[int((NR + 1) * 0.5)]; p99 = a[int(NR * 0.99) > 0 ? int(NR * 0.99) : 1]
  printf "| %d | %.2f | %.2f | %.2f |\n", NR, a[1], p50, p99 }'; }

cold=$(for _ in $(seq "$COLD_RUNS"); do
  printf '\\timing on\nSELECT ai.version() IS NOT NULL;\n' | psql_local "$DB" -At 2>&1 | times
done)
warm=$( { echo '\timing on'; echo 'SELECT ai.version() IS NOT NULL;';
          for _ in $(seq "$WARM_RUNS"); do echo 'SELECT ai.version() IS NOT NULL;'; done; } |
        psql_local "$DB" -At 2>&1 | times | tail -n +2)

echo "| ai.version() call | runs | min ms | p50 ms | p99 ms |"
echo "|---|---|---|---|---|"
echo -n "| first in a new backend "; echo "$cold" | stats
echo -n "| warm, same backend "; echo "$warm" | stats
