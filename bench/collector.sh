#!/usr/bin/env bash
# `n1lens serve` against the OpenTelemetry Collector (otlp receiver → nop exporter) under the same
# load generator, both pinned to one core, alternated in one run: spans/s and the n1lens / Collector
# ratio for OTLP/HTTP and OTLP/gRPC. Builds the Collector with ocb once per machine (scripts/collector.sh)
# and n1lens's dist/. Not in run.sh or CI. Arguments go to bench/collector.mjs:
#   bash bench/collector.sh [--seconds 8] [--rounds 2] [--inflight 8] [--server-cpu 1] [--gzip]
set -euo pipefail
cd "$(dirname "$0")/.."
collector=$(bash scripts/collector.sh build)
[[ -f dist/cli/n1lens.js ]] || npm run build >&2
mkdir -p bench/out
# The load generator on the other core than the servers.
taskset -c 0 node bench/collector.mjs --collector "$collector" "$@" | tee bench/out/collector.json
