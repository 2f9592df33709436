#!/usr/bin/env bash
# actionlint, the GitHub Actions workflow linter, built from its Go module with the Go toolchain
# and cached under ~/.cache/n1lens/actionlint-<version>, so a machine builds each version once.
#   scripts/actionlint.sh --install     build it if missing, print its path
#   scripts/actionlint.sh [ARGS...]     run it (building it first if needed), e.g. on a workflow file
set -euo pipefail

version=1.7.12
dir="${XDG_CACHE_HOME:-$HOME/.cache}/n1lens/actionlint-$version"
bin="$dir/actionlint"

if [[ ! -x "$bin" ]]; then
  if ! command -v go >/dev/null; then
    # A fresh CI machine: Debian's Go (Go fetches a newer toolchain through the module proxy if the
    # module asks for one).
    [[ $EUID -eq 0 ]] || { echo "actionlint.sh: go is not installed; run as root, or: sudo apt-get install -y golang-go" >&2; exit 2; }
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq golang-go >/dev/null
  fi
  mkdir -p "$dir"
  # A private GOPATH/GOBIN: nothing lands outside the cache folder but Go's own module cache.
  GOBIN="$dir" GOFLAGS=-mod=mod go install "github.com/rhysd/actionlint/cmd/actionlint@v$version" >&2
fi

if [[ "${1:-}" == "--install" ]]; then
  echo "$bin"
  exit 0
fi
exec "$bin" "$@"
