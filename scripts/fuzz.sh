#!/usr/bin/env bash
# The differential fuzz test of the guard at full size, against the local cluster.
#   AI_FUZZ_CASES (default 100000) and AI_FUZZ_SEED choose the run.
set -euo pipefail
. "$(dirname "$0")/common.sh"
cd "$ROOT"
AI_FUZZ_CASES="${AI_FUZZ_CASES:-100000}" AI_PGHOST="$PGDATA_DIR" AI_PGPORT="$PGPORT_DEMO" \
  cargo test --release --manifest-path tests/integration/Cargo.toml --target-dir "$ROOT/target/integration" \
  --test guard_fuzz -- --nocapture
