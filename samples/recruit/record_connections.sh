#!/usr/bin/env bash
# Records the connection fixtures in src/detect/testdata/connections: what each database driver
# shows in the spans of the real Python SDK when Django opens a connection. One login, then 2
# requests each of dashboard/optimised/ and webhooks/ats/, served by runserver (threaded, one
# process), under CONN_MAX_AGE=0 (a new connection per request) and CONN_MAX_AGE=600 (persistent):
#   sqlite-age{0,600}.jsonl  pg-psycopg-age{0,600}.jsonl  pg-psycopg2-age{0,600}.jsonl
# Usage: samples/recruit/record_connections.sh [OUT_DIR]
#   (needs scripts/python-env.sh; PostgreSQL from scripts/postgres.sh, root or an installed server)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
out=$(realpath -m "${1:-$root/src/detect/testdata/connections}")
PY="$root/.venv/bin/python"
source "$here/lib.sh"

work=$(mktemp -d)
export N1LENS_PG_STATE="$work/postgres.env"
app_pid=
cleanup() {
  [[ -n "$app_pid" ]] && stop_pid "$app_pid"
  bash "$root/scripts/postgres.sh" stop
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$out"
cd "$here"

# record NAME: serves the app with the current RECRUIT_* environment and drives it.
record() {
  local name=$1 trace="$work/$1.otlp.pb" port
  port=$(free_port)
  (
    export N1LENS_TRACE_FILE="$trace"
    exec "$PY" manage.py runserver --noreload "127.0.0.1:$port"
  ) >"$work/app-$name.log" 2>&1 &
  app_pid=$!
  "$PY" drive.py --base-url "http://127.0.0.1:$port" --only optimised,webhook --repeat 2 >/dev/null
  stop_pid "$app_pid"
  app_pid=
  "$PY" otlp_to_json.py "$trace" "$out/$name.jsonl" --flavour otlp
  echo "wrote $out/$name.jsonl"
}

export RECRUIT_DB=sqlite RECRUIT_SQLITE_PATH="$work/recruit.sqlite3"
"$PY" manage.py migrate -v0
"$PY" manage.py seed_demo >/dev/null
for age in 0 600; do RECRUIT_CONN_MAX_AGE=$age record "sqlite-age$age"; done

bash "$root/scripts/postgres.sh" start
export RECRUIT_DB=postgres RECRUIT_DATABASE_URL="$(bash "$root/scripts/postgres.sh" url)"
"$PY" manage.py migrate -v0
"$PY" manage.py seed_demo >/dev/null
for driver in psycopg psycopg2; do
  for age in 0 600; do RECRUIT_PG_DRIVER=$driver RECRUIT_CONN_MAX_AGE=$age record "pg-$driver-age$age"; done
done
