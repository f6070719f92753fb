#!/usr/bin/env bash
# The local cluster used by the demo and the tests: ./.pgdata, port 28815, socket in ./.pgdata
# (PG=17: ./.pgdata-17, port 28825; PG=18: ./.pgdata-18, port 28835; scripts/common.sh).
#
#   scripts/cluster.sh start        initdb when needed, start (restart when the installed
#                                   library changed since the server started)
#   scripts/cluster.sh stop
#   scripts/cluster.sh clean        stop and remove ./.pgdata
#   scripts/cluster.sh chinook DB   (re)create database DB from the Chinook sample
#   scripts/cluster.sh psql [DB]    psql on the cluster (database chinook by default)
set -euo pipefail
. "$(dirname "$0")/common.sh"

LIB_STAMP="$PGDATA_DIR/ai_architect.so.sha256"

installed_lib_sum() { sha256sum "$(pg_pkglibdir)/ai_architect.so" 2>/dev/null | cut -d' ' -f1; }
running() { [ -f "$PGDATA_DIR/postmaster.pid" ] && as_pg "$PG_BIN/pg_ctl" -D "$PGDATA_DIR" status >/dev/null 2>&1; }

init_cluster() {
  say "cluster: initdb in $PGDATA_DIR"
  ensure_traversable "$ROOT"
  mkdir -p "$PGDATA_DIR"
  chown postgres:postgres "$PGDATA_DIR"
  chmod 700 "$PGDATA_DIR"
  quiet as_pg "$PG_BIN/initdb" -D "$PGDATA_DIR" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8
  cat >> "$PGDATA_DIR/postgresql.conf" <<CONF

# --- ai_architect demo / test cluster ---
port = $PGPORT_DEMO
listen_addresses = '127.0.0.1'
unix_socket_directories = '$PGDATA_DIR'
shared_preload_libraries = 'pg_stat_statements,ai_architect'
pg_stat_statements.track = all
max_connections = 150   # integration tests open 50+ sessions at once
shared_buffers = 128MB
fsync = off
synchronous_commit = off
full_page_writes = off
logging_collector = off
log_min_messages = warning
CONF
}

start() {
  [ -f "$PGDATA_DIR/PG_VERSION" ] || init_cluster
  local sum; sum=$(installed_lib_sum)
  if running; then
    if [ "$(cat "$LIB_STAMP" 2>/dev/null)" = "$sum" ]; then
      say "cluster: running on port $PGPORT_DEMO"
      return
    fi
    say "cluster: ai_architect was reinstalled, restarting"
    quiet as_pg "$PG_BIN/pg_ctl" -D "$PGDATA_DIR" -m fast -w stop
  fi
  if "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PGPORT_DEMO" >/dev/null 2>&1; then
    die "port $PGPORT_DEMO is taken by another server (another checkout's cluster? stop it with its 'make stop')"
  fi
  if ! as_pg "$PG_BIN/pg_ctl" -D "$PGDATA_DIR" -l "$PGDATA_DIR/server.log" -w -t 60 start >/dev/null 2>&1; then
    tail -n 20 "$PGDATA_DIR/server.log" >&2
    die "the cluster in $PGDATA_DIR did not start (log above)"
  fi
  echo "$sum" | as_pg tee "$LIB_STAMP" >/dev/null
  # the background worker's own role: a non-superuser that reads statistics
  psql_local postgres -c "DO \$\$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ai_architect_worker') THEN CREATE ROLE ai_architect_worker LOGIN IN ROLE pg_monitor; END IF; END \$\$" >/dev/null
  say "cluster: started on port $PGPORT_DEMO (log: $PGDATA_DIR/server.log)"
}

stop() {
  if running; then
    quiet as_pg "$PG_BIN/pg_ctl" -D "$PGDATA_DIR" -m fast -w stop
    say "cluster: stopped"
  else
    say "cluster: not running"
  fi
}

clean() {
  stop
  rm -rf "$PGDATA_DIR"
  say "cluster: $PGDATA_DIR removed"
}

# chinook DB: the Chinook sample, loaded into DB (the script's own CREATE DATABASE is skipped).
chinook() {
  local db=$1
  [ -f "$CHINOOK_SQL" ] || die "Chinook sample not found at $CHINOOK_SQL"
  psql_local postgres -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" -c "CREATE DATABASE \"$db\""
  sed '1,/^\\c chinook;/d' "$CHINOOK_SQL" | psql_local "$db" >/dev/null
  psql_local "$db" -c "ANALYZE"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  clean) clean ;;
  chinook) chinook "${2:?database name}" ;;
  psql) exec "$PG_BIN/psql" -h "$PGDATA_DIR" -p "$PGPORT_DEMO" -U postgres "${2:-$DEMO_DB}" ;;
  *) die "usage: $0 start|stop|clean|chinook DB|psql [DB]" ;;
esac
