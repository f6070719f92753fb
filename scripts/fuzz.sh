#!/usr/bin/env bash
# The long runs, against the local cluster: the differential fuzz test of the guard and the
# property test of impact counts and rollbacks.
#   AI_FUZZ_CASES (default 100000) and AI_FUZZ_SEED choose the guard's run,
#   AI_PROPERTY_CASES (default 5000) and AI_PROPERTY_SEED (hex) the property test's.
set -euo pipefail
. "$(dirname "$0")/common.sh"
cd "$ROOT"
for t in guard_fuzz impact_property; do
  AI_FUZZ_CASES="${AI_FUZZ_CASES:-100000}" AI_PROPERTY_CASES="${AI_PROPERTY_CASES:-5000}" \
  AI_PGHOST="$PGDATA_DIR" AI_PGPORT="$PGPORT_DEMO" \
    cargo test --release --manifest-path tests/integration/Cargo.toml --target-dir "$ROOT/target/integration" \
    --test "$t" -- --nocapture
done
