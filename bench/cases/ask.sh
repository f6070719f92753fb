#!/usr/bin/env bash
# ai.ask on the embedded path (no LLM): latency without execution, beside the embedding of
# the same question alone (the floor of any retrieval), and the engine's precision and
# execution accuracy per schema and category on seven own question sets and the public ones, with accuracy by the
# confidence it reported (tests/integration/tests/ask_engine.rs).
# Prints Markdown.
set -euo pipefail
. "$(dirname "$0")/../../scripts/common.sh"
DB=ai_bench_ask
REPS=${ASK_REPS:-5}
bash "$ROOT/scripts/cluster.sh" chinook "$DB" >/dev/null
psql_local "$DB" -q -c "CREATE EXTENSION IF NOT EXISTS ai_architect CASCADE" >/dev/null

mapfile -t QUESTIONS < <(python3 -c "import json; [print(c['question']) for c in json.load(open('$ROOT/tests/nl2sql/chinook.json'))]")
times() { grep -oE '^Time: [0-9.]+ ms' | awk '{print $2}'; }
stats() { sort -n | awk '{a[NR] = $1} END {
  p50 = a[int((NR + 1) * 0.5)]; p99 = a[int(NR * 0.99) > 0 ? int(NR * 0.99) : 1]
  printf "| %d | %.1f | %.1f | %.1f |\n", NR, a[1], p50, p99 }'; }
run() { # $1: SQL template with %s for the quoted question
  { echo "SELECT ai.ask('warm up', false) IS NOT NULL;"; echo '\timing on'
    for _ in $(seq "$REPS"); do for q in "${QUESTIONS[@]}"; do
      printf "$1\n" "'${q//\'/\'\'}'"; done; done; } | psql_local "$DB" -At 2>&1 | times; }
ask=$(run "SELECT ai.ask(%s, false) IS NOT NULL;")
embed=$(run "SELECT ai.embed(%s) IS NOT NULL;")

echo "## Latency, Chinook, ${#QUESTIONS[@]} questions × $REPS, one warm backend"
echo
echo "| call | calls | min ms | p50 ms | p99 ms |"
echo "|---|---|---|---|---|"
echo -n "| ai.ask(q, execute => false): embed, catalog, samples, value linking, engine, EXPLAIN "; echo "$ask" | stats
echo -n "| reference: ai.embed(q) alone "; echo "$embed" | stats
a50=$(echo "$ask" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)*0.5)]}')
e50=$(echo "$embed" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)*0.5)]}')
echo
echo "p50 ratio ai.ask / ai.embed: $(awk -v a="$a50" -v e="$e50" 'BEGIN {printf "%.1f", a / e}')×"
echo
echo "## Execution accuracy of the engine (gold SQL and generated SQL both run, results compared)"
echo
report=$(mktemp)
AI_NL2SQL_REPORT=$report AI_PGHOST="$PGDATA_DIR" AI_PGPORT="$PGPORT_DEMO" \
  cargo test -q --manifest-path "$ROOT/tests/integration/Cargo.toml" --target-dir "$ROOT/target/integration" \
  --test ask_engine -- --test-threads 1 engine_accuracy the_public_sets >/dev/null 2>&1 || true
sed 's/^### /### /' "$report"
rm -f "$report"
echo
echo "## The held-out public set (BIRD dev: superhero), and after teaching words"
echo
report=$(mktemp)
AI_NL2SQL_HELD_OUT=1 AI_NL2SQL_REPORT=$report AI_PGHOST="$PGDATA_DIR" AI_PGPORT="$PGPORT_DEMO" \
  cargo test -q --manifest-path "$ROOT/tests/integration/Cargo.toml" --target-dir "$ROOT/target/integration" \
  --test ask_engine -- --test-threads 1 the_public_sets >/dev/null 2>&1 || true
# (the figures and the calibration table; the held-out questions themselves are not shown)
grep -A20 -E "^### (BIRD|Calibration|[a-z]+: |[a-z]+, taught)" "$report" | grep -v -e "^- " -e "^--$" || true
rm -f "$report"
echo
echo "The question sets and their schemas are in tests/nl2sql/. Chinook, the library and the"
echo "garden (lookup tables) are development sets (the engine was written on them); the hospital, logistics and university"
echo "schemas were written after it, with a vocabulary of their own, and the engine was then"
echo "improved on them; the airline was held out and never used to tune it. An answer counts"
echo "as given when its confidence reaches ai_architect.ask_min_confidence (0.6): precision is"
echo "right / given, accuracy right / questions. Spider dev and BIRD dev's toxicology"
echo "(tests/nl2sql/public/) are the public development sets: questions written by other people;"
echo "BIRD dev's superhero is held out: its questions are never read to tune the engine. Each BIRD"
echo "database is also taught its most frequent unknown words (tests/nl2sql/public/vocabulary/,"
echo "from the schema and BIRD's evidence) and runs again. Results are compared as multisets, but"
echo "BIRD's, compared as sets of rows as BIRD's own evaluation does."
psql_local postgres -q -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null
