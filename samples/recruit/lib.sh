# Process helpers for the scripts that run the recruit app (sourced, not run).
# Expects $PY: the repo venv's python.

# Prints a free TCP port on 127.0.0.1.
free_port() {
  "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_http URL [SECONDS]: waits until URL answers with any HTTP status.
wait_http() {
  "$PY" - "$1" "${2:-30}" <<'PYEOF'
import sys, time, urllib.error, urllib.request
url, deadline = sys.argv[1], time.monotonic() + float(sys.argv[2])
while True:
    try:
        urllib.request.urlopen(url, timeout=2)
        break
    except urllib.error.HTTPError:
        break  # it answered
    except OSError:
        if time.monotonic() > deadline:
            sys.exit(f"{url} did not answer within {sys.argv[2]} s")
        time.sleep(0.2)
PYEOF
}

# stop_pid PID [SECONDS]: SIGTERM, wait for a clean exit (flushes spans / recordings), then SIGKILL.
stop_pid() {
  local pid=$1 limit=${2:-15} i
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < limit * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    sleep 0.1
  done
  echo "pid $pid ignored SIGTERM for ${limit} s; killing it" >&2
  kill -KILL "$pid" 2>/dev/null || true
}
