#!/usr/bin/env bash
# Every test layer, one summary line each; exits non-zero if anything failed.
#   1. unit         cargo test: the pure-Rust parts, no PostgreSQL
#   2. pgrx         cargo pgrx test: #[pg_test] functions inside a throw-away server
#   3. regress      pg_regress: pg_test/sql vs pg_test/expected, on the local cluster
#   4. integration  tests/integration: a driver, several sessions, a second cluster
#   5. mcp          tests/mcp: ai-architect-mcp driven by the official MCP client (Python SDK);
#                   tests/console: its web console in Debian's Chromium, driven by Playwright
# PG=17 or PG=18: the same on that server (built into .cache/ by scripts/setup.sh), all but
# the unit layer, which does not depend on the server.
set -uo pipefail
. "$(dirname "$0")/common.sh"
cd "$ROOT"

LOGDIR="$ROOT/target/test-logs"
[ "$PG_MAJOR" = 15 ] || LOGDIR="$LOGDIR/pg$PG_MAJOR"
mkdir -p "$LOGDIR"
declare -a SUMMARY=()
TOTAL_PASS=0
TOTAL_FAIL=0

# cargo's "test result: ok. 3 passed; 1 failed; ..." lines, summed
cargo_counts() {
  awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
       END { printf "%d %d\n", p, f }' "$1"
}

# each layer's wall-clock time, from the start of the step before it to its record
LAYER_START=$SECONDS
RUN_START=$SECONDS
record() { # layer passed failed rc log
  local layer=$1 p=$2 f=$3 rc=$4 log=$5 took=$((SECONDS - LAYER_START))
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi  # a layer that broke before counting
  TOTAL_PASS=$((TOTAL_PASS + p)); TOTAL_FAIL=$((TOTAL_FAIL + f))
  SUMMARY+=("$(printf '%-12s %4d passed, %d failed %6ss   (log: %s)' "$layer:" "$p" "$f" "$took" "${log#$ROOT/}")")
  if [ "$rc" -ne 0 ]; then failures "$log" >&2; tail -n 60 "$log" >&2; fi
  LAYER_START=$SECONDS
}
# what each failed test said (its panic and the lines after it), whatever the log's length:
# a layer's last lines show one failure at most
failures() { # log
  grep -E -A 12 "^thread '.*' \([0-9]+\) panicked at|^thread '.*' panicked at|^(FAILED|ERROR) tests/" "$1" |
    grep -vE '^ +[0-9]+: |^ +at ' | head -n 150
}
# a preparation step (no tests of its own): timed, and a failure counts as one
step() { # name log cmd...
  local name=$1 log=$2 rc=0; shift 2
  "$@" >"$log" 2>&1 || rc=$?
  local took=$((SECONDS - LAYER_START))
  SUMMARY+=("$(printf '%-12s %-25s %6ss   (log: %s)' "$name:" "$([ $rc -eq 0 ] && echo ok || echo FAILED)" "$took" "${log#$ROOT/}")")
  if [ "$rc" -ne 0 ]; then tail -n 60 "$log" >&2; TOTAL_FAIL=$((TOTAL_FAIL + 1)); fi
  LAYER_START=$SECONDS
  return $rc
}

run_unit() {
  local log="$LOGDIR/unit.log" rc=0
  say "test: unit (cargo test, pure Rust)"
  # and no import circle between the files of src/ (scripts/import_cycles.py)
  { cargo test --lib -- --skip pg_tests:: && cargo test -p ai-architect-mcp &&
    python3 scripts/import_cycles.py src &&
    python3 -m unittest -q scripts/test_prune_build_dir.py; } >"$log" 2>&1 || rc=$?
  read -r p f < <(cargo_counts "$log")
  record unit "$p" "$f" "$rc" "$log"
}

run_pgrx() {
  local log="$LOGDIR/pgrx.log" rc=0 pgdata="$ROOT/target/pgrx-test-pgdata"
  say "test: pgrx (cargo pgrx test pg$PG_MAJOR, #[pg_test] in a throw-away server)"
  # cargo pgrx test installs its own build over the installed library: stop the local
  # cluster first so no running server has that file mapped.
  bash scripts/cluster.sh stop
  # the throw-away server reads the runtime assets from the installation's directories
  bash scripts/install.sh assets
  rm -rf "$pgdata" && mkdir -p "$pgdata" && chown postgres:postgres "$pgdata"
  ensure_traversable "$ROOT/target"
  cargo pgrx test "pg$PG_MAJOR" --runas postgres --pgdata "$pgdata" pg_tests >"$log" 2>&1 || rc=$?
  read -r p f < <(cargo_counts "$log")
  record pgrx "$p" "$f" "$rc" "$log"
}

run_regress() {
  local log="$LOGDIR/regress.log" rc=0 p f
  say "test: regress (pg_regress, pg_test/)"
  bash scripts/regress.sh >"$log" 2>&1 || rc=$?
  if grep -qE 'All [0-9]+ tests passed' "$log"; then
    p=$(grep -oE 'All [0-9]+ tests passed' "$log" | grep -oE '[0-9]+'); f=0
  else
    read -r f n < <(grep -oE '[0-9]+ of [0-9]+ tests failed' "$log" | awk '{print $1, $3}')
    f=${f:-0}; n=${n:-0}; p=$((n - f))
    [ -f "$ROOT/target/regress/regression.diffs" ] && cat "$ROOT/target/regress/regression.diffs" >>"$log"
  fi
  record regress "$p" "$f" "$rc" "$log"
}

run_integration() {
  local log="$LOGDIR/integration.log" rc=0
  say "test: integration (tests/integration against the local cluster)"
  # on 17 and 18 the random tests run a smaller fixed-seed slice (they test the same code,
  # and the matrix must fit in CI's time); on 15 their full make-test size
  if [ "$PG_MAJOR" != 15 ]; then
    export AI_PROPERTY_CASES="${AI_PROPERTY_CASES:-150}" AI_FUZZ_CASES="${AI_FUZZ_CASES:-2000}"
  fi
  export AI_PGHOST="$PGDATA_DIR" AI_PGPORT="$PGPORT_DEMO" AI_PGBIN="$PG_BIN"
  local it=(cargo test --manifest-path tests/integration/Cargo.toml
            --target-dir "$ROOT/target/integration" --no-fail-fast)
  # The binaries that make clusters of their own (and mostly wait on them: the worker's
  # minutes, a standby's replay, an upgrade) run beside the ones that share the local
  # cluster; they share no server, role or port with them.
  local own=(worker standby upgrade online) shared=() t rc_own=0
  for t in tests/integration/tests/*.rs; do
    t=$(basename "$t" .rs)
    [[ " ${own[*]} " == *" $t "* ]] || shared+=(--test "$t")
  done
  {
    "${it[@]}" --no-run >"$log" 2>&1 &&
      { "${it[@]}" $(printf -- '--test %s ' "${own[@]}") >"$log.own" 2>&1 & local pid=$!
        "${it[@]}" "${shared[@]}" >>"$log" 2>&1 || rc=$?
        wait "$pid" || rc_own=$?; }
  } || rc=$?
  [ -f "$log.own" ] && { cat "$log.own" >>"$log"; rm -f "$log.own"; }
  [ "$rc" -ne 0 ] || rc=$rc_own
  read -r p f < <(cargo_counts "$log")
  record integration "$p" "$f" "$rc" "$log"
}

run_mcp() {
  local log="$LOGDIR/mcp.log" rc=0 p f
  say "test: mcp (ai-architect-mcp with the official MCP client, stdio and HTTP; its web console in Chromium)"
  AI_PGHOST="$PGDATA_DIR" AI_PGPORT="$PGPORT_DEMO" AI_PGBIN="$PG_BIN" AI_ROOT="$ROOT" \
    AI_MCP_BIN="$ROOT/target/release/ai-architect-mcp" \
    "$SHARED_CACHE/mcp-venv/bin/python" -m pytest -q -p no:cacheprovider "$ROOT/tests/mcp" "$ROOT/tests/console" >"$log" 2>&1 || rc=$?
  p=$(grep -oE '[0-9]+ passed' "$log" | tail -n1 | grep -oE '[0-9]+' || true)
  f=$(grep -oE '[0-9]+ (failed|error)' "$log" | awk '{s += $1} END {print s + 0}')
  record mcp "${p:-0}" "$f" "$rc" "$log"
}

say "test: setup (scripts/setup.sh; shared cache $SHARED_CACHE)"
step setup "$LOGDIR/setup.log" bash scripts/setup.sh || {
  echo "setup failed (log: ${LOGDIR#$ROOT/}/setup.log)" >&2; exit 1; }
say "test: PostgreSQL $PG_MAJOR ($("$PG_CONFIG" --version))"
[ "$PG_MAJOR" = 15 ] && run_unit
run_pgrx
# back to the release build for the layers that use the local cluster
# (with the libraries of earlier releases, for the upgrade test)
say "test: install (the release build, earlier releases' libraries, the local cluster)"
step install "$LOGDIR/install.log" \
  bash -c 'bash scripts/setup.sh previous && bash scripts/install.sh && bash scripts/cluster.sh start'
run_regress
run_integration
run_mcp

echo
echo "============ test summary (PostgreSQL $PG_MAJOR) ============"
for line in "${SUMMARY[@]}"; do echo "$line"; done
echo "------------------------------------------------------"
printf 'total: %d passed, %d failed in %ss\n' "$TOTAL_PASS" "$TOTAL_FAIL" "$((SECONDS - RUN_START))"
# one line per version for make test-all's closing table
[ -n "${AI_TEST_TOTALS:-}" ] &&
  printf 'PostgreSQL %-3s %5d passed, %d failed %6ss\n' "$PG_MAJOR" "$TOTAL_PASS" "$TOTAL_FAIL" \
    "$((SECONDS - RUN_START))" >> "$AI_TEST_TOTALS"
[ "$TOTAL_FAIL" -eq 0 ]
