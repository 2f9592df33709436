#!/usr/bin/env bash
# Creates (or refreshes) the repo's Python virtualenv at .venv: the recruit sample app's pinned
# requirements, the Wagtail test site's (test/wagtail), and the n1lens-django integration in editable mode.
# Idempotent: skips pip entirely when the requirement files are unchanged since the last run.
# Usage: scripts/python-env.sh    then    .venv/bin/python ...
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv="$root/.venv"
reqs="$root/samples/recruit/requirements.txt"
wagtail_reqs="$root/test/wagtail/requirements.txt"
integration="$root/integrations/django"
stamp="$venv/.n1lens-requirements.sha256"

python=${PYTHON:-python3}
want=$(cat "$reqs" "$wagtail_reqs" "$integration/pyproject.toml" | sha256sum | cut -d' ' -f1)

if [[ ! -x "$venv/bin/python" ]]; then
  "$python" -m venv "$venv"
fi
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  exit 0
fi

"$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$reqs" -r "$wagtail_reqs"
"$venv/bin/python" -m pip install -q --disable-pip-version-check -e "$integration"
echo "$want" > "$stamp"
