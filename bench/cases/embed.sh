#!/usr/bin/env bash
# In-process embeddings against Python onnxruntime, side by side (bench/embed_bench.py).
set -euo pipefail
. "$(dirname "$0")/../../scripts/common.sh"
DB=${BENCH_DB:-chinook}
THREADS_LIST=${BENCH_THREADS:-1 2}
WORK="$ROOT/target/bench"
mkdir -p "$WORK"

# 1,000 sentences of varied length built from the Chinook catalogue.
CORPUS="$WORK/corpus.txt"
psql_local "$DB" -At -c "
  SELECT format('%s is a %s track by %s on the album %s, %s seconds long%s',
                t.name, g.name, coalesce(t.composer, ar.name), al.title, t.milliseconds / 1000,
                CASE WHEN t.track_id % 3 = 0
                     THEN ', sold for ' || t.unit_price || ' dollars per copy in the online store and listed in several playlists'
                     ELSE '' END)
    FROM track t JOIN album al USING (album_id) JOIN artist ar USING (artist_id) JOIN genre g USING (genre_id)
   ORDER BY t.track_id LIMIT 1000" > "$CORPUS"

# The reference runs in a venv of its own, with pinned versions.
VENV="$ROOT/bench/.venv"
if ! "$VENV/bin/python" -c "import onnxruntime, tokenizers, numpy, psycopg" 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q onnxruntime==1.31.1 tokenizers==0.22.2 numpy==2.4.6 "psycopg[binary]==3.2.10" >/dev/null
fi
share="$(pg_sharedir)/extension/ai_architect"
for threads in $THREADS_LIST; do
  echo "## ai_architect.embedding_threads = $threads"
  echo
  "$VENV/bin/python" "$ROOT/bench/embed_bench.py" "$CORPUS" "$share/model.onnx" "$share/tokenizer.json" "$threads" \
    "host=$PGDATA_DIR port=$PGPORT_DEMO user=postgres dbname=$DB"
  echo
done
