#!/usr/bin/env bash
# The real OpenTelemetry Collector for the tests, built with the Collector's own builder (ocb) from the
# Go module proxy, once per machine, cached in ~/.cache/n1lens/otelcol-<version>.
#   scripts/collector.sh build   build it if missing; prints the binary's path (stdout) and, on a cold
#                                build, how long it took (stderr)
#   scripts/collector.sh path    the binary's path, or exit 1 when it is not built
# Components: otlp receiver; otlp, otlphttp, loadbalancing, file and nop exporters; bearertokenauth.
# Go comes from the machine (/usr/local/go/bin or PATH). No network is needed after the first build.
set -euo pipefail

version=${N1LENS_OTELCOL_VERSION:-v0.161.0}
cache=${XDG_CACHE_HOME:-$HOME/.cache}/n1lens/otelcol-$version
bin=$cache/otelcol-n1lens

die() { echo "collector.sh: $*" >&2; exit 1; }

go_bin() {
  if command -v go >/dev/null 2>&1; then command -v go; return; fi
  [[ -x /usr/local/go/bin/go ]] && { echo /usr/local/go/bin/go; return; }
  die "Go is not installed (needed once to build the OpenTelemetry Collector $version)"
}

build() {
  if [[ -x "$bin" ]]; then echo "$bin"; return 0; fi
  local go work started
  go=$(go_bin)
  started=$(date +%s)
  echo "collector.sh: building the OpenTelemetry Collector $version with ocb into $cache (once per machine)" >&2
  mkdir -p "$cache"
  work=$(mktemp -d "$cache/build.XXXXXX")
  cat >"$work/manifest.yaml" <<YAML
dist:
  name: otelcol-n1lens
  description: OpenTelemetry Collector for the n1lens tests
  output_path: $work/dist
receivers:
  - gomod: go.opentelemetry.io/collector/receiver/otlpreceiver $version
exporters:
  - gomod: go.opentelemetry.io/collector/exporter/otlpexporter $version
  - gomod: go.opentelemetry.io/collector/exporter/otlphttpexporter $version
  - gomod: go.opentelemetry.io/collector/exporter/nopexporter $version
  - gomod: github.com/open-telemetry/opentelemetry-collector-contrib/exporter/loadbalancingexporter $version
  - gomod: github.com/open-telemetry/opentelemetry-collector-contrib/exporter/fileexporter $version
extensions:
  - gomod: github.com/open-telemetry/opentelemetry-collector-contrib/extension/bearertokenauthextension $version
replaces:
  # v1.48.0, which the loadbalancing exporter's AWS Cloud Map resolver asks for, is withdrawn from the Go proxy.
  - github.com/aws/aws-sdk-go-v2/service/servicediscovery => github.com/aws/aws-sdk-go-v2/service/servicediscovery v1.49.0
YAML
  (
    export GOTOOLCHAIN=local CGO_ENABLED=0 GOBIN="$work/bin" GOFLAGS=-mod=mod
    "$go" install "go.opentelemetry.io/collector/cmd/builder@$version" >&2
    PATH="$(dirname "$go"):$PATH" "$work/bin/builder" --config "$work/manifest.yaml" --ldflags='-s -w' >&2
    mv "$work/dist/otelcol-n1lens" "$bin"
  ) || { rm -rf "$work"; die "building the Collector $version failed"; }
  rm -rf "$work"
  echo "collector.sh: cold build took $(( $(date +%s) - started )) s" >&2
  echo "$bin"
}

case "${1:-}" in
  build) build ;;
  path) [[ -x "$bin" ]] && echo "$bin" || exit 1 ;;
  *) die "usage: scripts/collector.sh build|path" ;;
esac
