#!/usr/bin/env bash
# A throwaway Zipkin server (in-memory storage, loopback, a free port) for the Zipkin --from tests.
#   scripts/zipkin.sh build   install Java from Debian when it is missing (root; otherwise say how) and
#                             download Zipkin's server jar from Maven Central once per machine, checked
#                             against its pinned and published checksums, into
#                             ~/.cache/n1lens/zipkin-<version>; prints the jar's path
#   scripts/zipkin.sh start   start it on 127.0.0.1 on a free port; state in $N1LENS_ZIPKIN_STATE
#                             (default /tmp/n1lens-zipkin.env): ZIPKIN_PID, ZIPKIN_URL (the base URL
#                             of its API, POST /api/v2/spans and GET /api/v2/traces, and of its UI)
#   scripts/zipkin.sh stop    stop it
# Zipkin 3 needs Java 17 or newer. The start needs no network after the first build.
set -euo pipefail

version=${N1LENS_ZIPKIN_VERSION:-3.6.1}
# sha256 of zipkin-server-3.6.1-exec.jar as Maven Central publishes it; another version is checked
# against its published checksums only.
pinned_sha256=d8326e0ed4f43855dba81228f688554706e52578a7c782d9a90b73f8680654a1
cache=${XDG_CACHE_HOME:-$HOME/.cache}/n1lens/zipkin-$version
jar=$cache/zipkin-server-$version-exec.jar
url=https://repo1.maven.org/maven2/io/zipkin/zipkin-server/$version/zipkin-server-$version-exec.jar
state=${N1LENS_ZIPKIN_STATE:-/tmp/n1lens-zipkin.env}

die() { echo "zipkin.sh: $*" >&2; exit 1; }

# The major version of a java binary (8 for "1.8.0_…", 17 for "17.0.15"); 0 when it does not say.
java_major() {
  local major
  major=$("$1" -version 2>&1 | sed -n 's/.*version "\(1\.\)\{0,1\}\([0-9]*\).*/\2/p' | head -n 1)
  echo "${major:-0}"
}

# A Java 17+ on PATH (or JAVA_HOME), installed from Debian when there is none and this is root.
ensure_java() {
  local java
  for java in "${JAVA_HOME:+$JAVA_HOME/bin/java}" "$(command -v java 2>/dev/null || true)"; do
    if [[ -n "$java" && -x "$java" ]] && (( $(java_major "$java") >= 17 )); then echo "$java"; return 0; fi
  done
  [[ $EUID -eq 0 ]] || die "Zipkin $version needs Java 17 or newer, and none is installed; run as root, or: sudo apt-get install -y default-jre-headless"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends default-jre-headless >/dev/null
  java=$(command -v java 2>/dev/null) || die "apt-get installed default-jre-headless but there is no java on PATH"
  (( $(java_major "$java") >= 17 )) || die "Debian's default Java is $(java_major "$java"); Zipkin $version needs 17 or newer: apt-get install -y openjdk-17-jre-headless"
  echo "$java"
}

build() {
  ensure_java >/dev/null
  if [[ -f "$jar" ]]; then echo "$jar"; return 0; fi
  echo "zipkin.sh: downloading Zipkin $version into $cache (once per machine)" >&2
  mkdir -p "$cache"
  local tmp sha256 sha1
  tmp=$(mktemp "$cache/download.XXXXXX")
  if ! curl -fsSL --retry 3 -o "$tmp" "$url" \
    || ! sha256=$(curl -fsSL --retry 3 "$url.sha256") \
    || ! sha1=$(curl -fsSL --retry 3 "$url.sha1"); then
    rm -f "$tmp"; die "downloading $url (or its .sha256/.sha1) failed"
  fi
  # Published checksum files hold the hex digest, sometimes followed by the file name.
  sha256=${sha256%% *}; sha1=${sha1%% *}
  local got256 got1
  got256=$(sha256sum "$tmp" | cut -d' ' -f1)
  got1=$(sha1sum "$tmp" | cut -d' ' -f1)
  if [[ "$got256" != "$sha256" || "$got1" != "$sha1" ]] || { [[ "$version" == 3.6.1 ]] && [[ "$got256" != "$pinned_sha256" ]]; }; then
    rm -f "$tmp"; die "$url does not match its checksums (sha256 $got256, sha1 $got1)"
  fi
  mv "$tmp" "$jar"
  echo "$jar"
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

load_state() {
  [[ -f "$state" ]] || return 1
  # shellcheck disable=SC1090
  source "$state"
}

running() { load_state && kill -0 "$ZIPKIN_PID" 2>/dev/null; }

start() {
  if running; then cat "$state"; return 0; fi
  local java dir port
  build >/dev/null
  java=$(ensure_java)
  dir=$(mktemp -d /tmp/n1lens-zipkin.XXXXXX)
  port=$(free_port)
  # A small heap, serial GC, the C1 compiler only and Spring's lazy start (about 15 s instead of 20 on a
  # loaded 2-core machine). Armeria listens on loopback only; the other collectors (Kafka, …) are off by default.
  STORAGE_TYPE=mem MEM_MAX_SPANS=500000 SELF_TRACING_ENABLED=false \
    "$java" -Xms64m -Xmx512m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xss512k \
    -jar "$jar" \
    --armeria.ports[0].ip=127.0.0.1 --armeria.ports[0].port="$port" --armeria.ports[0].protocols=http \
    --logging.level.root=WARN --spring.main.banner-mode=off --spring.main.lazy-initialization=true \
    >"$dir/zipkin.log" 2>&1 &
  local pid=$!
  cat >"$state" <<ENV
ZIPKIN_PID=$pid
ZIPKIN_DIR=$dir
ZIPKIN_URL=http://127.0.0.1:$port
ENV
  # The JVM takes a few seconds, longer on a loaded machine: ready once /health says UP.
  for _ in $(seq 1 600); do
    if ! kill -0 "$pid" 2>/dev/null; then cat "$dir/zipkin.log" >&2; rm -f "$state"; die "zipkin exited at start-up"; fi
    if curl -fsS -m 2 "http://127.0.0.1:$port/health" 2>/dev/null | grep -q '"UP"'; then
      cat "$state"; return 0
    fi
    sleep 0.2
  done
  kill "$pid" 2>/dev/null || true
  cat "$dir/zipkin.log" >&2; rm -f "$state"
  die "zipkin did not become ready in 120 s"
}

stop() {
  load_state || return 0
  if kill -0 "$ZIPKIN_PID" 2>/dev/null; then
    kill "$ZIPKIN_PID" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$ZIPKIN_PID" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$ZIPKIN_PID" 2>/dev/null; then
      kill -9 "$ZIPKIN_PID" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$ZIPKIN_PID" 2>/dev/null || break; sleep 0.1; done
    fi
  fi
  rm -rf "$ZIPKIN_DIR" "$state"
}

case "${1:-}" in
  build) build ;;
  start) start ;;
  stop) stop ;;
  *) die "usage: scripts/zipkin.sh build|start|stop" ;;
esac
