#!/usr/bin/env bash
# Retakes the README's screenshots of the web UI into docs/ (or $N1LENS_SHOTS_DIR):
#   bash scripts/screenshots.sh [name.png ...]
# Builds dist/, installs Chromium from Debian when missing (scripts/chromium.sh), then drives it.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
npm run --silent build
N1LENS_CHROMIUM=$(bash scripts/chromium.sh)
export N1LENS_CHROMIUM
node scripts/screenshots.mjs "$@"
