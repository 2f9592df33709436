#!/usr/bin/env bash
# Records the bundled sample: the recruit app on PostgreSQL with the large data set (seed_demo
# --large), driven through its fixed request plan
# (samples/recruit/drive.py), exported over OTLP/HTTP to `n1lens serve --record`. Writes
#   samples/traces/recruit.jsonl.gz     the OTLP JSON lines n1lens received, gzipped
#   samples/traces/recruit-schema.json  the app's schema (manage.py n1lens_schema)
# Semantic conventions follow OTEL_SEMCONV_STABILITY_OPT_IN from the caller (default: old names).
# Usage: scripts/record-sample.sh     (root, or an installed postgresql; node; npm ci done)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
recruit="$root/samples/recruit"
traces="$root/samples/traces"
n1lens="$root/bin/n1lens.js"
[[ -f "$n1lens" ]] || { echo "record-sample.sh: $n1lens is missing (the n1lens CLI)" >&2; exit 1; }

bash scripts/python-env.sh
npm run --silent build
PY="$root/.venv/bin/python"
source "$recruit/lib.sh"

work=$(mktemp -d)
export N1LENS_PG_STATE="$work/postgres.env"
stub_pid= n1lens_pid= app_pid=
cleanup() {
  for pid in "$app_pid" "$n1lens_pid" "$stub_pid"; do [[ -n "$pid" ]] && stop_pid "$pid"; done
  bash scripts/postgres.sh stop
  rm -rf "$work"
}
trap cleanup EXIT

bash scripts/postgres.sh start
export RECRUIT_DB=postgres RECRUIT_DATABASE_URL="$(bash scripts/postgres.sh url)"
# The normal data set plus 3 million applications of big agency accounts, generated server-side
# (~30 s): their pipeline report (GET reports/pipeline/) is the slow query of seed fix 2.
(cd "$recruit" && "$PY" manage.py migrate -v0 && "$PY" manage.py seed_demo --large >/dev/null)

stub_port=$(free_port)
"$PY" "$recruit/stub_services.py" --port "$stub_port" >"$work/stub.log" 2>&1 &
stub_pid=$!
wait_http "http://127.0.0.1:$stub_port/"

mkdir -p "$traces"
rm -f "$traces/recruit.jsonl" "$traces/recruit.jsonl.gz"
http_port=$(free_port)
grpc_port=$(free_port)
node "$n1lens" serve --record "$traces/recruit.jsonl" --http-port "$http_port" --grpc-port "$grpc_port" \
  --db "$work/n1lens.db" --trace-wait-ms 300 >"$work/n1lens.log" 2>&1 &
n1lens_pid=$!
wait_http "http://127.0.0.1:$http_port/api/report"

app_port=$(free_port)
(
  cd "$recruit"
  export OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$http_port" OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf
  export RECRUIT_STUB_URL="http://127.0.0.1:$stub_port"
  exec "$PY" manage.py runserver --noreload "127.0.0.1:$app_port"
) >"$work/app.log" 2>&1 &
app_pid=$!
"$PY" "$recruit/drive.py" --base-url "http://127.0.0.1:$app_port"

stop_pid "$app_pid"  # exits through the SDK's shutdown: nothing left buffered
app_pid=
sleep 1  # past --trace-wait-ms, so the last traces are complete before n1lens stops
stop_pid "$n1lens_pid"
n1lens_pid=
if [[ ! -s "$traces/recruit.jsonl" ]]; then
  echo "record-sample.sh: n1lens recorded nothing" >&2
  cat "$work/n1lens.log" >&2
  exit 1
fi
gzip -9 -n -f "$traces/recruit.jsonl"
(cd "$recruit" && "$PY" manage.py n1lens_schema -o "$traces/recruit-schema.json")
echo "wrote $traces/recruit.jsonl.gz ($(wc -c <"$traces/recruit.jsonl.gz") bytes)" \
  "and $traces/recruit-schema.json"
