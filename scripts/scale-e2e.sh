#!/usr/bin/env bash
# Scale-out end to end: the ocb-built OpenTelemetry Collector (loadbalancing exporter, routing by
# traceID) in front of two `n1lens serve` instances sharing one PostgreSQL (scripts/postgres.sh),
# one of them killed mid-stream. Builds dist/ (the instances run bin/n1lens.js) and the Collector
# (cached once per machine) first; extra arguments go to vitest, e.g. --reporter=json --outputFile.json=F.
# The PostgreSQL cluster is the tests' one ($N1LENS_PG_STATE); it is stopped at the end when this
# script started it.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
export N1LENS_PG_STATE=${N1LENS_PG_STATE:-${TMPDIR:-/tmp}/n1lens-pg-tests.env}  # the store tests' cluster (test/support.ts)
started=0
if ! bash scripts/postgres.sh url >/dev/null 2>&1; then started=1; fi
trap '[[ $started == 1 ]] && bash scripts/postgres.sh stop' EXIT

npm run --silent build
bash scripts/collector.sh build >/dev/null
N1LENS_SCALE_E2E=1 npx vitest run test/scale-e2e.test.ts "$@"
