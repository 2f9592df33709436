#!/usr/bin/env bash
# README's test command: installs what the tests need (npm ci, the Python venv, Chromium from Debian
# for the browser tests, Java from Debian and Zipkin's server jar from Maven Central for the Zipkin pull
# test, Jaeger v2 and the OpenTelemetry Collector (ocb) built from the Go module proxy
# once per machine, actionlint from its Go module, PostgreSQL and PgBouncer from Debian when the e2e starts them) and
# runs the whole suite: typecheck, vitest (the store tests start a PostgreSQL with scripts/postgres.sh), pytest for the
# Django integration, the end-to-end test of the instrumented sample app against n1lens serve, and the
# scale-out e2e (scripts/scale-e2e.sh: Collector loadbalancing → two instances → one PostgreSQL).
# Ends with one line "N passed, N failed" over every runner.
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

set -e
# Debian's packages first: apt takes one lock at a time, and actionlint.sh may need it for Go.
N1LENS_CHROMIUM=$(bash scripts/chromium.sh)
export N1LENS_CHROMIUM
# Java (apt, so here) and the Zipkin server jar test/zipkin-pull.test.ts starts (a few seconds' download, once).
bash scripts/zipkin.sh build >/dev/null
# The Go-built tools, cached once per machine, build beside the npm and Python installs: cold, the
# Collector alone takes ~9 minutes, and an install mostly waits on the network.
(
  bash scripts/actionlint.sh --install >/dev/null   # the README workflow's linter
  # test/jaeger.test.ts starts it; building here keeps the cold build out of test timeouts.
  bash scripts/jaeger.sh build >/dev/null
  # The real Collector for test/collector.test.ts and the scale-out e2e; if it fails, those fail, not the run.
  bash scripts/collector.sh build >/dev/null || echo "test-all.sh: the Collector did not build" >&2
) 2>"$out/go-tools.log" &
go_tools=$!
npm ci --no-audit --no-fund
bash scripts/python-env.sh
npm run --silent typecheck
wait "$go_tools" || { cat "$out/go-tools.log" >&2; echo "test-all.sh: building actionlint or Jaeger failed" >&2; exit 1; }
cat "$out/go-tools.log" >&2   # the cold build times, when there were builds
set +e

status=0
npx vitest run --reporter=default --reporter=json --outputFile.json="$out/vitest.json" || status=1
.venv/bin/python -m pytest -q -p no:cacheprovider --junitxml="$out/schema.xml" integrations/django || status=1
bash scripts/e2e.sh -p no:cacheprovider --junitxml="$out/e2e.xml" || status=1
# Two n1lens instances behind the Collector's loadbalancing exporter, sharing PostgreSQL (about a minute).
bash scripts/scale-e2e.sh --reporter=default --reporter=json --outputFile.json="$out/scale.json" || status=1
# The PostgreSQL cluster the store tests started (test/support.ts postgresState()).
N1LENS_PG_STATE="${N1LENS_PG_STATE:-${TMPDIR:-/tmp}/n1lens-pg-tests.env}" bash scripts/postgres.sh stop
# After e2e.sh, which builds dist/ (the route tests run bin/n1-report.js).
.venv/bin/python -m pytest -q -p no:cacheprovider --junitxml="$out/routes.xml" test/routes || status=1
.venv/bin/python -m pytest -q -p no:cacheprovider --junitxml="$out/wagtail.xml" test/wagtail || status=1

node --input-type=module - "$out" <<'JS'
import { readFileSync, existsSync } from 'node:fs';
const dir = process.argv[2];
let passed = 0, failed = 0;
for (const f of ['vitest.json', 'scale.json']) {
  const v = existsSync(`${dir}/${f}`) ? JSON.parse(readFileSync(`${dir}/${f}`, 'utf8')) : null;
  if (v) { passed += v.numPassedTests; failed += v.numFailedTests; } else failed += 1;
}
for (const f of ['schema.xml', 'routes.xml', 'wagtail.xml', 'e2e.xml']) {
  if (!existsSync(`${dir}/${f}`)) { failed += 1; continue; }
  const xml = readFileSync(`${dir}/${f}`, 'utf8');
  const m = /<testsuite [^>]*errors="(\d+)" failures="(\d+)" skipped="(\d+)" tests="(\d+)"/.exec(xml);
  if (!m) { failed += 1; continue; }
  const [errors, failures, skipped, tests] = m.slice(1).map(Number);
  passed += tests - errors - failures - skipped;
  failed += errors + failures;
}
console.log(`${passed} passed, ${failed} failed`);
JS
exit $status
