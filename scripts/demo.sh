#!/usr/bin/env bash
# The demo database: Chinook with ai_architect, then demo/showcase.sql.
set -euo pipefail
. "$(dirname "$0")/common.sh"

if [ "$(psql_local postgres -Atc "SELECT count(*) FROM pg_database WHERE datname = '$DEMO_DB'")" = 0 ]; then
  say "demo: creating database $DEMO_DB from the Chinook sample"
  bash "$ROOT/scripts/cluster.sh" chinook "$DEMO_DB"
fi
# Recreate the extension so the demo always shows the installed build.
psql_local "$DEMO_DB" -c "SET client_min_messages = warning" \
  -c "DROP EXTENSION IF EXISTS ai_architect" -c "CREATE EXTENSION ai_architect CASCADE"
say "demo: demo/showcase.sql"
psql_local "$DEMO_DB" -P pager=off -f "$ROOT/demo/showcase.sql"
echo
say "connect: psql -h $PGDATA_DIR -p $PGPORT_DEMO -U postgres $DEMO_DB"
