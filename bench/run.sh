#!/usr/bin/env bash
# One command: builds, generates the corpora (in $N1LENS_BENCH_DIR, default /tmp/n1lens-bench),
# runs every benchmark and prints the results table. Raw figures land in bench/out/*.json.
#   bash bench/run.sh            # everything (~5 minutes, ~2.5 GB of scratch files)
#   SKIP_BIG=1 bash bench/run.sh # without the 1 GB memory run
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${N1LENS_BENCH_DIR:-/tmp/n1lens-bench}
OUT=bench/out
mkdir -p "$DIR" "$OUT"
# Load generator and server each get a core when there are two.
SERVER_CPU=1
CLIENT_CPU=0
if [ "$(nproc)" -lt 2 ]; then SERVER_CPU=0; fi

echo "== build" >&2
npm run build >/dev/null

echo "== corpus (500k spans, protobuf + JSON lines)" >&2
node bench/corpus.mjs --out "$DIR/corpus" --spans 500000 --jsonl --check > "$OUT/corpus.json"
echo "== lean corpus (the same requests, ~330 bytes/span)" >&2
node bench/corpus.mjs --out "$DIR/lean" --spans 500000 --jsonl --check --lean > "$OUT/corpus-lean.json"
if [ -z "${SKIP_BIG:-}" ]; then
  echo "== corpus (1 GB protobuf)" >&2
  [ -f "$DIR/big.pb" ] && [ "$(stat -c %s "$DIR/big.pb")" -ge 1073741824 ] || node bench/corpus.mjs --out "$DIR/big" --bytes 1073741824 > "$OUT/big.json"
fi

echo "== pipeline (in process, one core)" >&2
taskset -c "$SERVER_CPU" node bench/pipeline.mjs "$DIR/corpus.pb" --rounds 5 > "$OUT/pipeline.json"
taskset -c "$SERVER_CPU" node bench/pipeline.mjs "$DIR/lean.pb" --rounds 5 > "$OUT/pipeline-lean.json"
taskset -c "$SERVER_CPU" node bench/phases.mjs "$DIR/corpus.pb" > "$OUT/phases.json"

echo "== whole process (CPU time)" >&2
node bench/process.mjs "$DIR/corpus" --runs 3 > "$OUT/process.json"
node bench/process.mjs "$DIR/lean" --runs 3 > "$OUT/process-lean.json"

echo "== n1-report --jobs $(nproc) against --jobs 1" >&2
node bench/jobs.mjs "$DIR/corpus.pb" --jobs "$(nproc)" --runs 3 > "$OUT/jobs.json"
node bench/jobs.mjs "$DIR/lean.pb" --jobs "$(nproc)" --runs 3 > "$OUT/jobs-lean.json"

echo "== Jaeger and Zipkin files (whole process)" >&2
node bench/foreign-files.mjs --dir "$DIR" --runs 2 > "$OUT/foreign-files.json"

echo "== SQL normaliser" >&2
taskset -c "$SERVER_CPU" node bench/sql.mjs > "$OUT/sql.json"

echo "== memory" >&2
if [ -z "${SKIP_BIG:-}" ]; then
  node --expose-gc bench/memory.mjs "$DIR/corpus.pb" --report "$DIR/big.pb" --small "$DIR/corpus.pb" > "$OUT/memory.json"
else
  node --expose-gc bench/memory.mjs "$DIR/corpus.pb" > "$OUT/memory.json"
fi

echo "== live (n1lens serve on cpu $SERVER_CPU, load on cpu $CLIENT_CPU)" >&2
taskset -c "$CLIENT_CPU" node bench/serve.mjs --seconds 20 --server-cpu "$SERVER_CPU" > "$OUT/serve.json"

node bench/table.mjs "$OUT"
