#!/usr/bin/env bash
# Headless Chromium for the browser tests and the README screenshots, from Debian's package.
#   scripts/chromium.sh          install it when missing (root: apt-get; otherwise say how), print its path
# The path is also what N1LENS_CHROMIUM may point at to use another build.
set -euo pipefail

find_chromium() {
  if [[ -n "${N1LENS_CHROMIUM:-}" && -x "$N1LENS_CHROMIUM" ]]; then echo "$N1LENS_CHROMIUM"; return 0; fi
  local c
  for c in /usr/bin/chromium /usr/bin/chromium-browser; do
    [[ -x "$c" ]] && { echo "$c"; return 0; }
  done
  return 1
}

if ! find_chromium >/dev/null; then
  if [[ $EUID -ne 0 ]]; then
    echo "chromium.sh: chromium is not installed; run as root, or: sudo apt-get install -y chromium" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
fi
path=$(find_chromium) || { echo "chromium.sh: apt-get installed chromium but no chromium binary was found" >&2; exit 1; }
echo "$path"
