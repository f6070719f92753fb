#!/usr/bin/env bash
# ai.suggest_indexes on a generated shop (orders 1.5M rows, events 1M, customers 200k, products
# 20k; skewed values) with a workload of 200+ distinct statements run through pgbench.
# Compared side by side in one run: no new index; the greedy workload advice; the per-query
# baseline (every single-column index any one statement's plan uses, as per-query advisors
# do); and, on a small workload, greedy against an exhaustive search over the same candidates.
# Reports time to advise, planner cost of the workload and its real pgbench runtime. Markdown.
set -euo pipefail
. "$(dirname "$0")/../../scripts/common.sh"
DB=ai_bench_advisor
TX=${ADVISOR_TX:-300}
WL=$(mktemp -d)
trap 'rm -rf "$WL"' EXIT
NQ=$(python3 "$ROOT/bench/advisor_workload.py" "$WL")

psql_local postgres -q -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" >/dev/null
psql_local "$DB" -q >/dev/null <<'SQL'
CREATE EXTENSION ai_architect CASCADE;
CREATE EXTENSION hypopg;
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
SELECT setseed(0.42);
CREATE TABLE customers (id int PRIMARY KEY, country int NOT NULL, segment int NOT NULL, score int NOT NULL,
                        created_at timestamptz NOT NULL);
CREATE TABLE products (id int PRIMARY KEY, category int NOT NULL, brand int NOT NULL, price int NOT NULL);
CREATE TABLE orders (id bigint PRIMARY KEY, customer_id int NOT NULL, product_id int NOT NULL, status int NOT NULL,
                     channel int NOT NULL, region_id int NOT NULL, total numeric NOT NULL, created_at timestamptz NOT NULL);
CREATE TABLE events (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, customer_id int NOT NULL, kind int NOT NULL,
                     at timestamptz NOT NULL);
-- skew: a few countries, statuses and event kinds hold most rows
INSERT INTO customers SELECT g, 1 + floor(20 * random() ^ 3)::int, 1 + g % 5, (random() * 1000)::int,
                             timestamptz '2024-01-01' + g * interval '5 minutes' FROM generate_series(1, 200000) g;
INSERT INTO products SELECT g, 1 + g % 50, 1 + floor(50 * random() ^ 2)::int, (random() * 1000)::int
  FROM generate_series(1, 20000) g;
INSERT INTO orders SELECT g, 1 + floor(200000 * random() ^ 1.5)::int, 1 + (random() * 19999)::int,
                          1 + floor(5 * random() ^ 4)::int, 1 + g % 8, 1 + g % 50, (random() * 1000)::numeric(10,2),
                          timestamptz '2026-01-01' - (random() * 730) * interval '1 day'
  FROM generate_series(1, 1500000) g;
INSERT INTO events (customer_id, kind, at) SELECT 1 + (random() * 199999)::int, 1 + floor(30 * random() ^ 3)::int,
                          timestamptz '2026-01-01' - (random() * 2000) * interval '1 hour'
  FROM generate_series(1, 1000000) g;
VACUUM ANALYZE;
SQL

scripts=(); for f in "$WL"/*.sql; do scripts+=(-f "$f"); done
run_workload() { # label -> elapsed seconds of TX transactions, same seed every time
  local t0 t1
  t0=$(date +%s.%N)
  "$PG_BIN/pgbench" -h "$PGDATA_DIR" -p "$PGPORT_DEMO" -U postgres -n -c 2 -j 2 -t "$TX" \
    --random-seed=42 "${scripts[@]}" "$DB" >/dev/null 2>&1
  t1=$(date +%s.%N)
  echo "$t1 - $t0" | bc
}
q() { psql_local "$DB" -Atq -c "$1"; }
cost_now() { q "SELECT ai.suggest_indexes_report(NULL, 1, 400)" | sed -n 's/^workload planner cost now: //p'; }
advise() { # search -> "ms|n|sql;sql"
  q "SET ai_architect.advisor_search = '$1';
     CREATE TEMP TABLE t AS SELECT clock_timestamp() AS s;
     CREATE TEMP TABLE a AS SELECT * FROM ai.suggest_indexes(NULL, ${2:-10}, ${3:-400}) WHERE index_sql LIKE 'CREATE%';
     SELECT round(extract(epoch FROM clock_timestamp() - s) * 1000) || '|' || (SELECT count(*) FROM a) || '|'
            || coalesce((SELECT string_agg(index_sql, ';') FROM a), '') FROM t;" | tail -1
}
apply() { # "sql;sql" -> create them (not concurrently: nothing else runs), analyze
  local IFS=';'
  for s in $1; do q "${s/CONCURRENTLY /}" >/dev/null; done
  q "ANALYZE" >/dev/null
}
drop_new() { q "DO \$\$ DECLARE r record; BEGIN FOR r IN SELECT indexrelid::regclass AS i FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid WHERE c.relname IN ('orders','customers','products','events') AND NOT i.indisprimary LOOP EXECUTE 'DROP INDEX ' || r.i; END LOOP; END \$\$" >/dev/null; }

q "SELECT pg_stat_statements_reset()" >/dev/null
base_time=$(run_workload)
distinct=$(q "SELECT count(*) FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND query ~* '^(select|update|insert)' AND query !~ 'ai\.|pg_'")
base_cost=$(cost_now)

IFS='|' read -r g_ms g_n g_sql < <(advise greedy)
apply "$g_sql"; g_cost=$(cost_now); g_time=$(run_workload); drop_new
IFS='|' read -r p_ms p_n p_sql < <(advise per_query)
apply "$p_sql"; p_cost=$(cost_now); p_time=$(run_workload); drop_new

# small workload: the 12 heaviest statements, at most 3 indexes, greedy against exhaustive
small_cost() { q "SET ai_architect.advisor_search = '$1'; SELECT ai.suggest_indexes_report(NULL, 3, 12)" \
  | sed -n 's/^with the advised indexes: \([0-9.]*\).*/\1/p'; }
small_base=$(q "SELECT ai.suggest_indexes_report(NULL, 3, 12)" | sed -n 's/^workload planner cost now: //p')
sg=$(small_cost greedy); t0=$(date +%s.%N); se=$(small_cost exhaustive); t1=$(date +%s.%N)
se_ms=$(echo "($t1 - $t0) * 1000" | bc | cut -d. -f1)

pct() { echo "scale=1; 100 * ($1 - $2) / $1" | bc; }
echo "Workload: $NQ statement shapes in $(ls "$WL" | wc -l) pgbench scripts, $distinct distinct statements in pg_stat_statements; $TX transactions"
echo "per client (2 clients, seed 42) for each runtime below. Planner cost: the workload's statements"
echo "weighted by their calls, EXPLAINed with the real indexes in place."
echo
echo "| configuration | indexes | time to advise | workload planner cost | cost reduction | pgbench runtime | speed-up |"
echo "|---|---|---|---|---|---|---|"
echo "| no new index | 0 | - | $base_cost | - | ${base_time} s | 1.0x |"
echo "| greedy (ai.suggest_indexes) | $g_n | $g_ms ms | $g_cost | $(pct "$base_cost" "$g_cost")% | ${g_time} s | $(echo "scale=1; $base_time / $g_time" | bc)x |"
echo "| per-query single-column baseline | $p_n | $p_ms ms | $p_cost | $(pct "$base_cost" "$p_cost")% | ${p_time} s | $(echo "scale=1; $base_time / $p_time" | bc)x |"
echo
echo "Greedy indexes:"; echo; echo "$g_sql" | tr ';' '\n' | sed 's/^/    /'; echo
echo "Baseline indexes:"; echo; echo "$p_sql" | tr ';' '\n' | sed 's/^/    /'; echo
echo "Small workload (12 heaviest statements, at most 3 indexes), hypothetical planner cost:"
echo
echo "| search | workload cost | reduction | share of the exhaustive reduction |"
echo "|---|---|---|---|"
echo "| none | $small_base | - | - |"
echo "| exhaustive (${se_ms} ms) | $se | $(pct "$small_base" "$se")% | 100% |"
echo "| greedy | $sg | $(pct "$small_base" "$sg")% | $(echo "scale=1; 100 * ($small_base - $sg) / ($small_base - $se)" | bc)% |"
