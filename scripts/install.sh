#!/usr/bin/env bash
# Builds ai_architect and installs it, with its runtime assets, into the PostgreSQL
# installation of $PG_CONFIG: a server needs nothing else.
set -euo pipefail
. "$(dirname "$0")/common.sh"

cd "$ROOT"
say "install: building ai_architect (release) into $(pg_pkglibdir)"
quiet cargo pgrx install --release --pg-config "$PG_CONFIG"

share="$(pg_sharedir)/extension/ai_architect"
mkdir -p "$share"
install -C -m 0644 "$ASSET_DIR/model.onnx" "$ASSET_DIR/tokenizer.json" "$share/"
install -C -m 0755 "$ASSET_DIR/$ORT_LIB" "$(pg_pkglibdir)/$ORT_LIB"
say "install: model and tokenizer in $share, ONNX Runtime in $(pg_pkglibdir)"
