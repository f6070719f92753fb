#!/usr/bin/env bash
# The fresh-machine path: make test (PG=15 unless PG says otherwise) with an empty shared
# cache, so that every download and build the cache normally saves runs again and is tested.
# Run on every release (docs/contributing.md); CI uses the warm cache.
set -euo pipefail
. "$(dirname "$0")/common.sh"
cold=$(mktemp -d /tmp/ai_architect-cold.XXXXXX)
trap 'rm -rf "$cold"' EXIT
chmod 755 "$cold"
say "test-cold: make test PG=$PG_MAJOR with the empty cache $cold"
unset CARGO_BUILD_BUILD_DIR
AI_ARCHITECT_CACHE="$cold" bash "$ROOT/scripts/test.sh"
