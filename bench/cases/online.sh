#!/usr/bin/env bash
# A writer's latency (single-row INSERTs and UPDATEs through a driver, each its own
# transaction) while an index is built on a 1,000,000-row table: a plain CREATE INDEX by hand,
# CREATE INDEX CONCURRENTLY by hand, and the same through the approval workflow (run by a
# background worker of its own). Runs tests/integration/tests/online.rs, which measures the
# three side by side in one database. Prints Markdown.
set -euo pipefail
. "$(dirname "$0")/../../scripts/common.sh"
RUNS=${ONLINE_RUNS:-3}
echo "## A writer's latency while an index is built on 1,000,000 rows ($RUNS runs)"
echo
echo "| run | plain CREATE INDEX by hand: p99 / max ms | CONCURRENTLY by hand: p99 / max ms | CONCURRENTLY through the workflow: p99 / max ms |"
echo "|---|---|---|---|"
for i in $(seq "$RUNS"); do
  line=$(AI_PGHOST="$PGDATA_DIR" AI_PGPORT="$PGPORT_DEMO" AI_PGBIN="$PG_BIN" \
    cargo test -q --manifest-path "$ROOT/tests/integration/Cargo.toml" --target-dir "$ROOT/target/integration" \
    --test online -- --nocapture approved_statements 2>/dev/null | grep '^writer latency' || echo "failed")
  echo "$line" | python3 -c "
import re, sys
l = sys.stdin.read()
n = re.findall(r'p99 ([0-9.]+) ms max ([0-9.]+) ms', l)
print('| $i | ' + ' | '.join(f'{a} / {b}' for a, b in n) + ' |' if len(n) == 3 else '| $i | failed | | |')"
done
echo
echo "A plain build holds SHARE on the table: every write waits for the whole build. A concurrent"
echo "build (SHARE UPDATE EXCLUSIVE) blocks no write; through the workflow it runs the same way,"
echo "outside a transaction block, as the requester."
echo
echo "## Batches: a DELETE of 500,000 rows with a streaming standby"
echo
echo "ai.request(..., batch_rows => 20000), each batch its own transaction with its analysis, backup"
echo "and audit entry; ai_architect.batch_max_replay_lag = 8MB; the standby's replay paused for 2.5 s"
echo "mid-run (the batches wait for it). tests/integration/tests/online.rs, clusters of its own."
echo
AI_PGHOST="$PGDATA_DIR" AI_PGPORT="$PGPORT_DEMO" AI_PGBIN="$PG_BIN" \
  cargo test -q --manifest-path "$ROOT/tests/integration/Cargo.toml" --target-dir "$ROOT/target/integration" \
  --test online -- --nocapture a_batched_delete_waits 2>/dev/null | grep '^batched DELETE' || echo "failed"
