#!/usr/bin/env bash
# A throwaway PostgreSQL for the recruit sample app and the e2e tests.
#   scripts/postgres.sh start   install Debian's postgresql if missing, initdb a temp cluster,
#                               start it on 127.0.0.1 (port $N1LENS_PG_PORT, default 55432, or a
#                               free one if that is taken), create role and database "recruit"
#   scripts/postgres.sh url     print postgresql://recruit:recruit@127.0.0.1:PORT/recruit
#   scripts/postgres.sh stop    stop it and delete its data dir
# The server runs as the "postgres" user when started by root (CI), as the caller otherwise.
# State (data dir, port) lives in $N1LENS_PG_STATE (default /tmp/n1lens-postgres.env), so several
# clusters can coexist by giving each its own state file. `start` on a running cluster is a no-op.
set -euo pipefail

state=${N1LENS_PG_STATE:-/tmp/n1lens-postgres.env}
role=recruit
db=recruit

die() { echo "postgres.sh: $*" >&2; exit 1; }

bin_dir() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [[ -n "$dir" && -x "$dir/initdb" ]] && echo "$dir"
}

ensure_installed() {
  bin_dir >/dev/null && return 0
  [[ $EUID -eq 0 ]] || die "postgresql is not installed; run as root, or: sudo apt-get install -y postgresql"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  bin_dir >/dev/null || die "apt-get installed postgresql but /usr/lib/postgresql/*/bin/initdb is missing"
}

# as_owner CMD...: run as the cluster owner; cwd / so the postgres user can always enter it.
as_owner() {
  if [[ $EUID -eq 0 ]]; then
    (cd / && runuser -u postgres -- "$@")
  else
    (cd / && "$@")
  fi
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

load_state() {
  [[ -f "$state" ]] || return 1
  # shellcheck disable=SC1090
  source "$state"
}

running() { load_state && as_owner "$PG_BIN/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; }

start() {
  if running; then return 0; fi
  [[ -f "$state" ]] && stop  # stale state from a crashed run
  ensure_installed
  PG_BIN=$(bin_dir)
  PG_PORT=${N1LENS_PG_PORT:-55432}
  if port_in_use "$PG_PORT"; then PG_PORT=$(free_port); fi
  PG_DATA=$(mktemp -d /tmp/n1lens-pgdata.XXXXXX)
  [[ $EUID -eq 0 ]] && chown postgres: "$PG_DATA"
  printf 'PG_BIN=%q\nPG_DATA=%q\nPG_PORT=%q\n' "$PG_BIN" "$PG_DATA" "$PG_PORT" > "$state"

  as_owner "$PG_BIN/initdb" -D "$PG_DATA" -U postgres --auth=trust --encoding=UTF8 --no-locale >/dev/null
  # Loopback only, sockets in the data dir; a test cluster needs no durability, so no fsync.
  local server_opts="-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PG_DATA"
  server_opts+=" -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
  as_owner "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_DATA/server.log" -w -t 60 -o "$server_opts" \
    start >/dev/null || { cat "$PG_DATA/server.log" >&2; die "server did not start"; }
  local i
  for ((i = 0; i < 100; i++)); do
    as_owner "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" && break
    sleep 0.1
  done
  as_owner "$PG_BIN/psql" -q -h "$PG_DATA" -p "$PG_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 \
    -c "CREATE ROLE $role LOGIN PASSWORD '$role'" -c "CREATE DATABASE $db OWNER $role" >/dev/null
}

stop() {
  load_state || return 0
  if [[ -d "$PG_DATA" ]]; then
    as_owner "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w stop >/dev/null 2>&1 || true
    rm -rf "$PG_DATA"
  fi
  rm -f "$state"
}

url() {
  running || die "not running (scripts/postgres.sh start)"
  echo "postgresql://$role:$role@127.0.0.1:$PG_PORT/$db"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  url) url ;;
  *) die "usage: scripts/postgres.sh start|stop|url" ;;
esac
