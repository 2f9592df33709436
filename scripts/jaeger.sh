#!/usr/bin/env bash
# A throwaway Jaeger v2 (all-in-one, in-memory storage) for the Jaeger/Zipkin/--from tests.
#   scripts/jaeger.sh build   build the jaeger binary from the Go module proxy (go get -tool) once
#                             per machine, cached in ~/.cache/n1lens/jaeger-<version>; prints its path
#   scripts/jaeger.sh start   start it on 127.0.0.1 with free ports; state in $N1LENS_JAEGER_STATE
#                             (default /tmp/n1lens-jaeger.env): JAEGER_PID, JAEGER_QUERY (http base
#                             of the query API and UI), JAEGER_OTLP_HTTP, JAEGER_OTLP_GRPC
#   scripts/jaeger.sh stop    stop it
# Go comes from the machine (/usr/local/go/bin or PATH); the Jaeger module and its dependencies come
# from the Go module proxy. The build needs no network after the first time.
set -euo pipefail

version=${N1LENS_JAEGER_VERSION:-v1.75.0}
cache=${XDG_CACHE_HOME:-$HOME/.cache}/n1lens/jaeger-$version
state=${N1LENS_JAEGER_STATE:-/tmp/n1lens-jaeger.env}

die() { echo "jaeger.sh: $*" >&2; exit 1; }

go_bin() {
  if command -v go >/dev/null 2>&1; then command -v go; return; fi
  [[ -x /usr/local/go/bin/go ]] && { echo /usr/local/go/bin/go; return; }
  die "Go is not installed (needed once to build Jaeger $version)"
}

build() {
  if [[ -x "$cache/bin/jaeger" ]]; then echo "$cache/bin/jaeger"; return 0; fi
  local go mod
  go=$(go_bin)
  echo "jaeger.sh: building Jaeger $version into $cache (once per machine)" >&2
  mkdir -p "$cache"
  mod=$(mktemp -d "$cache/build.XXXXXX")
  # A module of its own that only records the tool, so `go tool` resolves jaeger's pinned deps.
  (
    cd "$mod"
    export GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0
    "$go" mod init n1lens.invalid/jaeger-tool >/dev/null 2>&1
    "$go" get -tool "github.com/jaegertracing/jaeger/cmd/jaeger@$version" >&2
    mkdir -p "$cache/bin"
    "$go" build -trimpath -ldflags='-s -w' -o "$cache/bin/jaeger.tmp" github.com/jaegertracing/jaeger/cmd/jaeger >&2
    mv "$cache/bin/jaeger.tmp" "$cache/bin/jaeger"
  ) || { rm -rf "$mod"; die "building Jaeger $version failed"; }
  rm -rf "$mod"
  echo "$cache/bin/jaeger"
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

load_state() {
  [[ -f "$state" ]] || return 1
  # shellcheck disable=SC1090
  source "$state"
}

running() { load_state && kill -0 "$JAEGER_PID" 2>/dev/null; }

start() {
  if running; then cat "$state"; return 0; fi
  local bin dir query otlp_http otlp_grpc metrics health
  bin=$(build)
  dir=$(mktemp -d /tmp/n1lens-jaeger.XXXXXX)
  query=$(free_port); otlp_http=$(free_port); otlp_grpc=$(free_port); metrics=$(free_port); health=$(free_port)
  # Jaeger v2 is an OpenTelemetry Collector: this is its all-in-one pipeline with every listener
  # moved to loopback and free ports.
  cat >"$dir/config.yaml" <<YAML
service:
  extensions: [jaeger_storage, jaeger_query, healthcheckv2]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
    logs:
      level: warn
extensions:
  healthcheckv2:
    use_v2: true
    http:
      endpoint: 127.0.0.1:$health
  jaeger_query:
    storage:
      traces: memstore
    http:
      endpoint: 127.0.0.1:$query
    grpc:
      endpoint: 127.0.0.1:$(free_port)
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: 100000
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:$otlp_grpc
      http:
        endpoint: 127.0.0.1:$otlp_http
processors:
  batch:
    timeout: 100ms
exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
YAML
  "$bin" --config "$dir/config.yaml" >"$dir/jaeger.log" 2>&1 &
  local pid=$!
  cat >"$state" <<ENV
JAEGER_PID=$pid
JAEGER_DIR=$dir
JAEGER_QUERY=http://127.0.0.1:$query
JAEGER_OTLP_HTTP=http://127.0.0.1:$otlp_http
JAEGER_OTLP_GRPC=127.0.0.1:$otlp_grpc
ENV
  for _ in $(seq 1 100); do
    if ! kill -0 "$pid" 2>/dev/null; then cat "$dir/jaeger.log" >&2; rm -f "$state"; die "jaeger exited at start-up"; fi
    if (exec 3<>"/dev/tcp/127.0.0.1/$query") 2>/dev/null && (exec 3<>"/dev/tcp/127.0.0.1/$otlp_http") 2>/dev/null; then
      cat "$state"; return 0
    fi
    sleep 0.1
  done
  kill "$pid" 2>/dev/null || true
  cat "$dir/jaeger.log" >&2; rm -f "$state"
  die "jaeger did not become ready in 10 s"
}

stop() {
  load_state || return 0
  if kill -0 "$JAEGER_PID" 2>/dev/null; then
    kill "$JAEGER_PID" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$JAEGER_PID" 2>/dev/null || break; sleep 0.1; done
    # Still shutting down after 10 s: stop returns only once its ports are free for the next start.
    if kill -0 "$JAEGER_PID" 2>/dev/null; then
      kill -9 "$JAEGER_PID" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$JAEGER_PID" 2>/dev/null || break; sleep 0.1; done
    fi
  fi
  rm -rf "$JAEGER_DIR" "$state"
}

case "${1:-}" in
  build) build ;;
  start) start ;;
  stop) stop ;;
  *) die "usage: scripts/jaeger.sh build|start|stop" ;;
esac
