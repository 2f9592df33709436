#!/usr/bin/env bash
# End-to-end tests: the instrumented recruit sample app (SQLite and PostgreSQL, old and stable
# semantic conventions, OTLP/HTTP and OTLP/gRPC) exporting to `n1lens serve`, whose /api/report
# must name the dashboard's N+1 fix. Needs node, npm ci done, and root or an installed postgresql.
# Usage: scripts/e2e.sh [pytest args...]     e.g. scripts/e2e.sh -k sqlite
# N1LENS_COMMAND overrides how n1lens starts (default: node bin/n1lens.js, built first).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bash scripts/python-env.sh
if [[ -z "${N1LENS_COMMAND:-}" ]]; then
  npm run --silent build
fi
exec .venv/bin/python -m pytest -q test/e2e "$@"
