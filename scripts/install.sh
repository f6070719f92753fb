#!/usr/bin/env bash
# Builds ai_architect and installs it, with its runtime assets, into the PostgreSQL
# installation of $PG_CONFIG: a server needs nothing else. Then the MCP server,
# ai-architect-mcp, into $MCP_PREFIX/bin (/usr/local/bin).
#
# Files are packaged first and then installed with install(1), which replaces a file
# instead of writing into it: a running server that has the old library mapped keeps
# working until it is restarted (scripts/cluster.sh start does that when it changed).
#
#   scripts/install.sh          all of it
#   scripts/install.sh assets   only the runtime assets (model, tokenizer, ONNX Runtime)
set -euo pipefail
. "$(dirname "$0")/common.sh"

install_assets() {
  local libdir extdir
  libdir="$(pg_pkglibdir)"
  extdir="$(pg_sharedir)/extension"
  mkdir -p "$extdir/ai_architect"
  install -C -m 0644 "$ASSET_DIR/model.onnx" "$ASSET_DIR/tokenizer.json" "$extdir/ai_architect/"
  install -C -m 0755 "$ASSET_DIR/$ORT_LIB" "$libdir/$ORT_LIB"
}

cd "$ROOT"
if [ "${1:-}" = assets ]; then
  install_assets
  exit 0
fi
say "install: building ai_architect (release)"
quiet cargo pgrx package --pg-config "$PG_CONFIG"

pkg="$ROOT/target/release/ai_architect-pg$PG_MAJOR"
libdir="$(pg_pkglibdir)"
extdir="$(pg_sharedir)/extension"
install -C -m 0755 "$pkg$libdir/ai_architect.so" "$libdir/ai_architect.so"
install -C -m 0644 "$pkg$extdir"/ai_architect.control "$pkg$extdir"/ai_architect--*.sql "$extdir/"

# earlier versions' install scripts, as released, and the upgrade scripts: the state schema
# changes written by hand (sql/upgrade/FROM--TO.sql), then the functions that are new or
# changed between the two install scripts, then the privileges of TO (its script's own)
install -C -m 0644 sql/versions/ai_architect--*.sql sql/versions/ai_architect--*.control "$extdir/"
for lib in "$CACHE_DIR"/previous/pg"$PG_MAJOR"/*/ai_architect-*.so; do
  [ -f "$lib" ] && install -C -m 0755 "$lib" "$libdir/"
done
for up in sql/upgrade/*--*.sql; do
  hop=$(basename "$up" .sql)
  from=${hop%%--*} to=${hop##*--}
  to_sql="sql/versions/ai_architect--$to.sql"
  [ -f "$to_sql" ] || to_sql="$pkg$extdir/ai_architect--$to.sql"
  [ -f "$to_sql" ] || die "no install script of version $to for $up"
  { cat "$up"; python3 scripts/upgrade_functions.py "sql/versions/ai_architect--$from.sql" "$to_sql"; } \
    > "$ROOT/target/ai_architect--$hop.sql"
  install -C -m 0644 "$ROOT/target/ai_architect--$hop.sql" "$extdir/"
done
# From a release more than one hop back, one direct script to this version (PostgreSQL takes
# the shortest path): each hop's state schema in order, then the functions and privileges of
# this version once. Chained hops would load two releases' libraries into one session (the
# intermediate one's functions, then this one's), which defines every setting twice.
current=$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$pkg$extdir/ai_architect.control")
[ -f "$pkg$extdir/ai_architect--$current.sql" ] || die "no install script of version $current"
for released in sql/versions/ai_architect--*.sql; do
  from=$(basename "$released" .sql); from=${from#ai_architect--}
  at=$from hops=()
  while [ "$at" != "$current" ]; do
    next=$(ls sql/upgrade/"$at"--*.sql 2>/dev/null | head -n1)
    [ -n "$next" ] || die "no upgrade step from $at (on the way from $from to $current)"
    hops+=("$next"); at=$(basename "$next" .sql); at=${at##*--}
  done
  [ ${#hops[@]} -gt 1 ] || continue
  { cat "${hops[@]}"
    python3 scripts/upgrade_functions.py "$released" "$pkg$extdir/ai_architect--$current.sql"; } \
    > "$ROOT/target/ai_architect--$from--$current.sql"
  install -C -m 0644 "$ROOT/target/ai_architect--$from--$current.sql" "$extdir/"
done

install_assets
say "install: ai_architect in $libdir, model and tokenizer in $extdir/ai_architect"

# the MCP server (a program of its own, beside the extension)
MCP_PREFIX="${MCP_PREFIX:-/usr/local}"
quiet cargo build --release -p ai-architect-mcp
install -C -m 0755 "$ROOT/target/release/ai-architect-mcp" "$MCP_PREFIX/bin/ai-architect-mcp"
say "install: ai-architect-mcp in $MCP_PREFIX/bin"
