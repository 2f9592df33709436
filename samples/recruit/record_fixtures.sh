#!/usr/bin/env bash
# Records the OTLP test fixtures in src/otlp/testdata from the real Python SDK, on SQLite: one
# session's login, then 1 request each of dashboard/, dashboard/optimised/ and webhooks/ats/,
# once per semantic-convention mode. Each mode gives three files with the same spans:
#   django-sqlite-<mode>-semconv.otlp.pb       length-delimited ExportTraceServiceRequest protobuf
#   django-sqlite-<mode>-semconv.jsonl         OTLP/JSON lines (hex ids), as the Collector writes
#   django-sqlite-<mode>-semconv.pbjson.jsonl  protobuf JSON mapping lines (base64 ids)
# Usage: samples/recruit/record_fixtures.sh [OUT_DIR]   (needs scripts/python-env.sh first)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
out=$(realpath -m "${1:-$root/src/otlp/testdata}")
PY="$root/.venv/bin/python"
source "$here/lib.sh"

work=$(mktemp -d)
app_pid=
cleanup() {
  [[ -n "$app_pid" ]] && stop_pid "$app_pid"
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$out"
cd "$here"

export RECRUIT_DB=sqlite RECRUIT_SQLITE_PATH="$work/recruit.sqlite3"
"$PY" manage.py migrate -v0
"$PY" manage.py seed_demo >/dev/null

for mode in old stable; do
  trace="$work/$mode.otlp.pb"
  port=$(free_port)
  (
    export N1LENS_TRACE_FILE="$trace"
    if [[ $mode == stable ]]; then export OTEL_SEMCONV_STABILITY_OPT_IN=database,http; fi
    exec "$PY" manage.py runserver --noreload "127.0.0.1:$port"
  ) >"$work/app-$mode.log" 2>&1 &
  app_pid=$!
  "$PY" drive.py --base-url "http://127.0.0.1:$port" --only dashboard,optimised,webhook --repeat 1
  stop_pid "$app_pid"
  app_pid=

  name="django-sqlite-$mode-semconv"
  cp "$trace" "$out/$name.otlp.pb"
  "$PY" otlp_to_json.py "$trace" "$out/$name.jsonl" --flavour otlp
  "$PY" otlp_to_json.py "$trace" "$out/$name.pbjson.jsonl" --flavour pbjson
  echo "wrote $out/$name.{otlp.pb,jsonl,pbjson.jsonl}"
done
