#!/usr/bin/env bash
# pg_regress suite in pg_test/ against the running local cluster.
#   scripts/regress.sh            run the schedule
#   scripts/regress.sh --accept   copy results over expected (review the diff first!)
set -euo pipefail
. "$(dirname "$0")/common.sh"
out="$ROOT/target/regress"
rm -rf "$out" && mkdir -p "$out"
status=0
# ask.sql asks questions of the Chinook sample in a database of its own
bash "$ROOT/scripts/cluster.sh" chinook ai_regress_chinook >/dev/null
"$("$PG_CONFIG" --pkglibdir)/pgxs/src/test/regress/pg_regress" \
  --host="$PGDATA_DIR" --port="$PGPORT_DEMO" --user=postgres \
  --bindir="$PG_BIN" --inputdir="$ROOT/pg_test" --outputdir="$out" \
  --dbname=ai_regress --schedule="$ROOT/pg_test/schedule" || status=$?
if [ "${1:-}" = "--accept" ]; then
  cp "$out"/results/*.out "$ROOT/pg_test/expected/"
  say "regress: expected output updated from results"
fi
exit $status
