#!/usr/bin/env bash
# ai.impact: 'estimate' on a generated 30-table schema with 3-level cascades (goal: p50 <= 20 ms),
# and 'exact' / 'dry_run' on 1M-row tables against running the bare statement (in a transaction
# that is rolled back), measured side by side in one run. Prints Markdown.
set -euo pipefail
. "$(dirname "$0")/../../scripts/common.sh"
DB=ai_bench_impact
RUNS=${IMPACT_RUNS:-200}
BIG_RUNS=${IMPACT_BIG_RUNS:-3}

psql_local postgres -q -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" >/dev/null
psql_local "$DB" -q >/dev/null <<'SQL'
CREATE EXTENSION ai_architect CASCADE;
CREATE SCHEMA bench;
-- six trees of five tables: r <- a <- b <- c (ON DELETE CASCADE, three levels) and r <- d
-- (SET NULL); every d also references r1, so a DELETE on r1 walks 9 child tables
DO $$
BEGIN
  FOR k IN 1..6 LOOP
    EXECUTE format('CREATE TABLE bench.r%s (id int PRIMARY KEY, name text, email text)', k);
    EXECUTE format('CREATE TABLE bench.a%s (id int PRIMARY KEY, r_id int REFERENCES bench.r%s ON DELETE CASCADE, v int)', k, k);
    EXECUTE format('CREATE TABLE bench.b%s (id int PRIMARY KEY, a_id int REFERENCES bench.a%s ON DELETE CASCADE, v int)', k, k);
    EXECUTE format('CREATE TABLE bench.c%s (id int PRIMARY KEY, b_id int REFERENCES bench.b%s ON DELETE CASCADE, v int)', k, k);
    EXECUTE format('CREATE TABLE bench.d%s (id int PRIMARY KEY, r_id int REFERENCES bench.r%s ON DELETE SET NULL,
                    r1_id int REFERENCES bench.r1 ON DELETE SET NULL)', k, k);
    EXECUTE format('INSERT INTO bench.r%s SELECT i, ''n'' || i, i || ''@x'' FROM generate_series(1, 1000) i', k);
    EXECUTE format('INSERT INTO bench.a%s SELECT i, i %% 1000 + 1, i FROM generate_series(1, 3000) i', k);
    EXECUTE format('INSERT INTO bench.b%s SELECT i, i %% 3000 + 1, i FROM generate_series(1, 9000) i', k);
    EXECUTE format('INSERT INTO bench.c%s SELECT i, i %% 9000 + 1, i FROM generate_series(1, 9000) i', k);
    EXECUTE format('INSERT INTO bench.d%s SELECT i, i %% 1000 + 1, i %% 1000 + 1 FROM generate_series(1, 2000) i', k);
  END LOOP;
END $$;
-- 100k parents, 1M children
CREATE TABLE bench.big_parent (id int PRIMARY KEY, name text);
CREATE TABLE bench.big_child (id int PRIMARY KEY, parent_id int REFERENCES bench.big_parent ON DELETE CASCADE, qty int);
INSERT INTO bench.big_parent SELECT i, 'p' || i FROM generate_series(1, 100000) i;
INSERT INTO bench.big_child SELECT i, i % 100000 + 1, i % 7 FROM generate_series(1, 1000000) i;
CREATE INDEX ON bench.big_child (parent_id);
VACUUM ANALYZE;
SQL

times() { grep -oE '^Time: [0-9.]+ ms' | awk '{print $2}'; }
stats() { sort -n | awk '{a[NR] = $1} END {
  p50 = a[int((NR + 1) * 0.5)]; p99 = a[int(NR * 0.99) > 0 ? int(NR * 0.99) : 1]
  printf "| %d | %.2f | %.2f | %.2f |\n", NR, a[1], p50, p99 }'; }
median() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) * 0.5)]}'; }

# one session, a warm-up call, then RUNS calls
estimate_runs() {
  local sql=$1
  { echo "SELECT ai.impact(\$q\$$sql\$q\$) IS NOT NULL;"; echo '\timing on'
    for _ in $(seq "$RUNS"); do echo "SELECT ai.impact(\$q\$$sql\$q\$) IS NOT NULL;"; done; } |
    psql_local "$DB" -At 2>&1 | times
}

echo "## estimate on the 30-table schema (goal: p50 <= 20 ms)"
echo
echo "| statement | runs | min ms | p50 ms | p99 ms |"
echo "|---|---|---|---|---|"
for sql in "DELETE FROM bench.r1 WHERE id <= 50" "DELETE FROM bench.r3 WHERE id = 7" \
           "UPDATE bench.a2 SET v = v + 1 WHERE id < 100" "ALTER TABLE bench.b4 ADD COLUMN note text"; do
  echo -n "| \`$sql\` "; estimate_runs "$sql" | stats
done
echo
nodes=$(psql_local "$DB" -At -c "SELECT jsonb_array_length(ai.impact('DELETE FROM bench.r1 WHERE id <= 50') -> 'tables')")
echo "The DELETE on r1 reaches $nodes tables (target included)."
echo

# the bare statement, timed inside a transaction that is rolled back
bare() { printf 'BEGIN;\n\\timing on\n%s;\n\\timing off\nROLLBACK;\n' "$1" | psql_local "$DB" -At 2>&1 | times; }
mode() { printf '\\timing on\nSELECT ai.impact($q$%s$q$, $m$%s$m$) IS NOT NULL;\n' "$1" "$2" | psql_local "$DB" -At 2>&1 | times; }

echo "## exact and dry_run on 1M-row tables (median of $BIG_RUNS, ms)"
echo
echo "| statement | rows touched | bare statement | estimate | exact | exact / bare | dry_run | dry_run / bare |"
echo "|---|---|---|---|---|---|---|---|"
for sql in "DELETE FROM bench.big_parent WHERE id <= 10000" "UPDATE bench.big_child SET qty = qty + 1 WHERE id % 10 = 0" \
           "DELETE FROM bench.big_child WHERE parent_id <= 20000"; do
  b=$(for _ in $(seq "$BIG_RUNS"); do bare "$sql"; done | median)
  e=$(for _ in $(seq "$BIG_RUNS"); do mode "$sql" estimate; done | median)
  x=$(for _ in $(seq "$BIG_RUNS"); do mode "$sql" exact; done | median)
  d=$(for _ in $(seq "$BIG_RUNS"); do mode "$sql" dry_run; done | median)
  rows=$(psql_local "$DB" -At -c "SELECT (ai.impact(\$q\$$sql\$q\$, 'exact') ->> 'rows_touched')")
  awk -v s="$sql" -v r="$rows" -v b="$b" -v e="$e" -v x="$x" -v d="$d" \
    'BEGIN { printf "| `%s` | %s | %.1f | %.1f | %.1f | %.2f× | %.1f | %.2f× |\n", s, r, b, e, x, x / b, d, d / b }'
done
psql_local postgres -q -c "DROP DATABASE $DB" >/dev/null
