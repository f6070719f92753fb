#!/usr/bin/env bash
# ai.ask and the catalog as the schema grows: N tables of 8 columns (a key, a foreign key to
# the table before, a name, a category, an amount, a date, a note, a quantity), 1,000 rows
# each, for N in SCALE_TABLES (default 10 200 2000; 10000 takes about 20 minutes more).
# For each N, in one database: the first catalog build, a warm ai.ask (engine, no
# execution), the first ai.ask after one CREATE TABLE, the peak memory of the asking
# backend and of the building one (its own memory sampled, and VmHWM), and the embedding
# rate of the build beside the raw ai.embed rate of the same texts. Prints Markdown.
set -euo pipefail
. "$(dirname "$0")/../../scripts/common.sh"
SIZES=${SCALE_TABLES:-10 200 2000}
DB=ai_bench_scale
REPS=${SCALE_REPS:-5}
WORDS=(apple birch cedar delta ember falcon garnet harbor indigo juniper kestrel lagoon maple
       nectar onyx pepper quartz raven saffron timber umber velvet willow xenon yarrow zephyr
       amber basil cobalt dune)

ms() { grep -oE '^Time: [0-9.]+ ms' | awk '{print $2}'; }
median() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }

build() { # $1: number of tables
  local n=$1
  psql_local postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
  psql_local "$DB" -c "CREATE EXTENSION ai_architect CASCADE"
  # tables named word_word_NNNNN; each references the one before; committed every 200 tables
  local words; words=$(printf "'%s'," "${WORDS[@]}"); words="ARRAY[${words%,}]"
  local from=0
  while [ "$from" -lt "$n" ]; do
    local to=$(( from + 200 < n ? from + 200 : n ))
    psql_local "$DB" -c "
      DO \$\$
      DECLARE w text[] := $words; nm text; prev text;
      BEGIN
        FOR i IN $from .. $to - 1 LOOP
          nm := format('%s_%s_%s', w[1 + i % 30], w[1 + (i / 30) % 30], lpad(i::text, 5, '0'));
          prev := CASE WHEN i > 0 THEN format('%s_%s_%s', w[1 + (i - 1) % 30], w[1 + ((i - 1) / 30) % 30],
                                                lpad((i - 1)::text, 5, '0')) END;
          EXECUTE format('CREATE TABLE public.%I (id integer PRIMARY KEY, parent_id integer %s,
                            name text NOT NULL, category text NOT NULL, amount numeric(10,2),
                            created date, note text, quantity integer)',
                         nm, CASE WHEN prev IS NULL THEN '' ELSE format('REFERENCES public.%I', prev) END);
          EXECUTE format('INSERT INTO public.%I SELECT g, %s, %L || '' item '' || g,
                            (ARRAY[''open'',''closed'',''pending'',''archived''])[1 + g %% 4],
                            (g * 7 %% 1000) / 10.0, date ''2024-01-01'' + g %% 365,
                            ''note number '' || g, g %% 50
                          FROM generate_series(1, 1000) g',
                         nm, CASE WHEN prev IS NULL THEN 'NULL' ELSE 'g' END, nm);
        END LOOP;
      END \$\$;"
    from=$to
  done
  psql_local "$DB" -c "VACUUM ANALYZE"
}

row() { echo "| $1 | $2 |"; }

# The highest private memory (RssAnon, MB) of backend $1, sampled every 20 ms until file $2
# exists: what the backend holds of its own, without the shared buffers it touched.
private_peak() {
  local max=0 key value _
  until [ -e "$2" ] || [ ! -r "/proc/$1/status" ]; do
    while read -r key value _; do
      if [ "$key" = RssAnon: ] && [ "$value" -gt "$max" ]; then max=$value; fi
    done < "/proc/$1/status"
    sleep 0.02
  done
  echo $(( max / 1024 ))
}

for n in $SIZES; do
  build "$n" >/dev/null
  # a table in the middle of the schema, and a question about it
  i=$(( n / 2 ))
  t1=${WORDS[$(( i % 30 ))]}; t2=${WORDS[$(( (i / 30) % 30 ))]}
  table=$(printf '%s_%s_%05d' "$t1" "$t2" "$i")
  q="How many $t1 $t2 $(printf %05d "$i") rows are archived?"
  texts=$(psql_local "$DB" -At -c "SELECT count(*) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace s ON s.oid = c.relnamespace WHERE s.nspname = 'public' AND c.relkind = 'r'")
  log=$(mktemp); pidf=$(mktemp); done_mark=$(mktemp -u)
  chmod a+rw "$pidf"
  { echo "SELECT pg_backend_pid() AS pid \\gset"
           echo "\\setenv BUILDING_PID :pid"
           echo "\\! echo \$BUILDING_PID > $pidf"
           echo "SELECT pg_catalog.pg_sleep(0.2);"
           echo '\timing on'
           echo "SELECT ai.refresh_catalog() IS NOT NULL;"
           echo "\\! touch $done_mark"
           echo "\\! grep -E '^VmHWM' /proc/\$BUILDING_PID/status"
           echo "SELECT ai.ask('$q', false) IS NOT NULL;"
           for _ in $(seq "$REPS"); do echo "SELECT ai.ask('$q', false) IS NOT NULL;"; done
           echo "CREATE TABLE public.scale_probe_extra (id integer PRIMARY KEY, label text);"
           echo "SELECT ai.ask('$q', false) IS NOT NULL;"
           echo "DROP TABLE public.scale_probe_extra;"
         } | psql_local "$DB" -At > "$log" 2>&1 &
  session=$!
  until [ -s "$pidf" ] || ! kill -0 "$session" 2>/dev/null; do sleep 0.05; done
  build_private=$(private_peak "$(cat "$pidf")" "$done_mark")
  wait "$session"
  out=$(ms < "$log")
  build_mem=$(awk '/VmHWM/ {printf "%d", $2 / 1024}' "$log")
  rm -f "$log" "$pidf" "$done_mark"
  mapfile -t t <<< "$out"
  refresh=${t[0]}
  warm=$(printf '%s\n' "${t[@]:2:$REPS}" | median)
  after_ddl=${t[$(( REPS + 3 ))]}
  # peak memory of one backend that refreshes nothing and asks REPS times
  mem=$( { echo "SELECT pg_backend_pid() AS pid \\gset"
           echo "\\setenv ASKING_PID :pid"
           for _ in $(seq "$REPS"); do echo "SELECT ai.ask('$q', false) IS NOT NULL;"; done
           echo "\\! grep -E '^VmHWM' /proc/\$ASKING_PID/status"; } | psql_local "$DB" -At 2>&1 | awk '/VmHWM/ {printf "%d", $2 / 1024}')
  # the distinct texts of tables and columns: what the build embedded (each once)
  texts_sql="SELECT description FROM ai.catalog_tables UNION SELECT description FROM ai.catalog_columns"
  embedded=$(psql_local "$DB" -At -c "SELECT count(*) FROM ($texts_sql) d")
  raw=$( { echo '\timing on'
           echo "SELECT pg_catalog.array_length(ai.embed(array_agg(description)), 1) FROM (SELECT description FROM ($texts_sql) d ORDER BY md5(description) LIMIT 2000) d;"
         } | psql_local "$DB" -At 2>&1 | ms)
  rawn=$(( embedded < 2000 ? embedded : 2000 ))
  answer=$(psql_local "$DB" -At -c "SELECT coalesce(a->>'sql', a->>'error') FROM ai.ask('$q', false) a" 2>&1 | tr '\n' ' ' | cut -c1-160)
  echo "## $n tables ($texts in public), 1,000 rows each"
  echo
  echo "| measure | value |"
  echo "|---|---|"
  row "first catalog build (\`ai.refresh_catalog\`)" "$(awk -v x="$refresh" 'BEGIN {printf "%.1f s", x / 1000}')"
  row "distinct texts embedded by the build / per second of the build" "$embedded / $(awk -v e="$embedded" -v x="$refresh" 'BEGIN {printf "%.0f", e / (x / 1000)}')"
  row "raw \`ai.embed(text[])\` of $rawn of the same texts" "$(awk -v e="$rawn" -v x="$raw" 'BEGIN {printf "%.0f per s", e / (x / 1000)}')"
  row "warm \`ai.ask(q, false)\`, median of $REPS" "$(awk -v x="$warm" 'BEGIN {printf "%.0f ms", x}')"
  row "first \`ai.ask\` after one CREATE TABLE" "$(awk -v x="$after_ddl" 'BEGIN {printf "%.0f ms", x}')"
  row "peak memory of an asking backend (VmHWM, shared_buffers 128MB included)" "${mem} MB"
  row "peak memory of the building backend (VmHWM, the same)" "${build_mem} MB"
  row "peak private memory of the building backend (RssAnon, sampled every 20 ms)" "${build_private} MB"
  row "question / answer" "$q → \`$answer\`"
  echo
done
[ -n "${SCALE_KEEP:-}" ] || psql_local postgres -q -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null
