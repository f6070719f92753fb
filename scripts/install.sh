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
# changed between the two install scripts, then the privileges
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
  { cat "$up"; python3 scripts/upgrade_functions.py "sql/versions/ai_architect--$from.sql" "$to_sql"
    cat sql/privileges.sql; } > "$ROOT/target/ai_architect--$hop.sql"
  install -C -m 0644 "$ROOT/target/ai_architect--$hop.sql" "$extdir/"
done

install_assets
say "install: ai_architect in $libdir, model and tokenizer in $extdir/ai_architect"

# the MCP server (a program of its own, beside the extension)
MCP_PREFIX="${MCP_PREFIX:-/usr/local}"
quiet cargo build --release -p ai-architect-mcp
install -C -m 0755 "$ROOT/target/release/ai-architect-mcp" "$MCP_PREFIX/bin/ai-architect-mcp"
say "install: ai-architect-mcp in $MCP_PREFIX/bin"
