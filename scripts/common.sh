# Shared settings for the scripts; sourced, never run.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# This checkout's own cache: the runtime assets it installs (.cache/assets), scratch space.
CACHE_DIR="$ROOT/.cache"
# What does not change between clones lives in one cache outside the checkout, shared by every
# clone on the machine: PostgreSQL 17 and 18 built from source (with pgvector, HypoPG and
# pg_cron), the downloaded sources and wheels, the libraries of earlier releases, the MCP
# client's virtualenv, and cargo's intermediate build files (CARGO_BUILD_BUILD_DIR). Each entry
# is keyed by the exact checksums of what it was built from and verified before it is used;
# a missing or damaged entry is rebuilt, so an empty directory is always a valid cache.
#   AI_ARCHITECT_CACHE=/path  choose it (default /var/cache/ai_architect, or
#                             ~/.cache/ai_architect for a user who cannot write there)
if [ -n "${AI_ARCHITECT_CACHE:-}" ]; then
  SHARED_CACHE=$AI_ARCHITECT_CACHE
elif mkdir -p /var/cache/ai_architect 2>/dev/null && [ -w /var/cache/ai_architect ]; then
  SHARED_CACHE=/var/cache/ai_architect
else
  SHARED_CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/ai_architect"
fi
mkdir -p "$SHARED_CACHE"
SHARED_CACHE="$(cd "$SHARED_CACHE" && pwd)"
export AI_ARCHITECT_CACHE="$SHARED_CACHE"
# cargo's intermediate files, kept across clones made at the same path (a CI workspace): the
# dependencies are compiled once, not per clone; the final artifacts stay in this checkout's
# target/. One directory per checkout path: cargo names a workspace crate's files by its path
# relative to the workspace, so two checkouts at different paths sharing one directory would
# take each other's builds of the extension for fresh. Cargo locks it while it builds.
export CARGO_BUILD_BUILD_DIR="${CARGO_BUILD_BUILD_DIR:-$SHARED_CACHE/cargo-build/$(printf '%s' "$ROOT" | sha256sum | cut -c1-16)}"
# The PostgreSQL major version everything runs on: PG=15 (Debian's packages, the default),
# PG=17 or PG=18 (built from source into .cache/pgNN by scripts/setup.sh); or the server of
# PG_CONFIG=/path/to/pg_config (make install into your own server). Each version has its own
# local cluster (./.pgdata, ./.pgdata-17, ./.pgdata-18) on its own port.
if [ -n "${PG:-}" ]; then
  PG_MAJOR=$PG
elif [ -n "${PG_CONFIG:-}" ]; then
  PG_MAJOR=$("$PG_CONFIG" --version | sed -E 's/^PostgreSQL ([0-9]+).*/\1/')
else
  PG_MAJOR=15
fi
# the pg_config of a version this repository provides: Debian's for 15, the shared cache's
# for 17 and 18
pg_config_of() {
  case "$1" in
    15) echo /usr/lib/postgresql/15/bin/pg_config ;;
    *) echo "$SHARED_CACHE/pg$1/bin/pg_config" ;;
  esac
}
case "$PG_MAJOR" in
  15) PGDATA_DIR="$ROOT/.pgdata"; PGPORT_DEMO=28815 ;;
  17) PGDATA_DIR="$ROOT/.pgdata-17"; PGPORT_DEMO=28825 ;;
  18) PGDATA_DIR="$ROOT/.pgdata-18"; PGPORT_DEMO=28835 ;;
  13|14|16) [ -n "${PG_CONFIG:-}" ] || { printf 'error: PG=%s: name its pg_config with PG_CONFIG=\n' "$PG_MAJOR" >&2; exit 2; }
            PGDATA_DIR="$ROOT/.pgdata-$PG_MAJOR"; PGPORT_DEMO=$((28840 + PG_MAJOR)) ;;
  *) printf 'error: PG=%s: ai_architect runs on PostgreSQL 13 to 18 (tested: 15, 17, 18)\n' "$PG_MAJOR" >&2; exit 2 ;;
esac
case "$PG_MAJOR" in 15|17|18) PG_CONFIG="${PG_CONFIG:-$(pg_config_of "$PG_MAJOR")}" ;; esac
export PG="$PG_MAJOR"
PG_BIN="$(dirname "$PG_CONFIG")"
ASSET_DIR="$CACHE_DIR/assets"
ORT_LIB=libonnxruntime.so.1.31.1
DEMO_DB=chinook
CHINOOK_SQL="$ROOT/data/chinook/Chinook_PostgreSql.sql"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }
pg_sharedir() { "$PG_CONFIG" --sharedir; }
pg_pkglibdir() { "$PG_CONFIG" --pkglibdir; }
# run a command as the postgres OS user
as_pg() { sudo -u postgres -- "$@"; }
# psql against the local cluster: psql_local DB [psql args...]
psql_local() { local db=$1; shift; as_pg "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PGDATA_DIR" -p "$PGPORT_DEMO" -d "$db" "$@"; }
# with_lock NAME CMD...: runs CMD holding the shared cache's lock NAME, so that two clones
# filling the same entry at once wait for each other instead of building it twice
with_lock() {
  local name=$1; shift
  mkdir -p "$SHARED_CACHE/locks"
  (
    flock 9
    "$@"
  ) 9>"$SHARED_CACHE/locks/$name.lock"
}
# run a command, showing its output only when it fails
quiet() {
  local log; log=$(mktemp)
  if ! "$@" >"$log" 2>&1; then cat "$log" >&2; rm -f "$log"; die "failed: $*"; fi
  rm -f "$log"
}
# The postgres OS user must reach directories inside the checkout (./.pgdata, the test data
# directory). A checkout under a private home directory would stop it: grant traverse-only
# (o+x, not read) on the directories above, and say so.
ensure_traversable() {
  local dir=$1
  while [ "$dir" != "/" ]; do
    if ! sudo -u postgres test -x "$dir" 2>/dev/null; then
      say "granting the postgres user traverse (o+x) on $dir"
      chmod o+x "$dir"
    fi
    dir=$(dirname "$dir")
  done
}
