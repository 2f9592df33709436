"""README's "Live" recipe, run as written: the block after the `live-recipe` marker, in one bash
shell from the repository root. Only its ports (4318, 4317, 8000, 8765) are moved to free ones
and /tmp to this test's directory, so it can run next to other tests; the background processes
it starts are stopped when the block ends.
"""

import json
import os
import re
import subprocess

from e2e_processes import ROOT, free_port

MARKER = "<!-- live-recipe:"


def recipe() -> str:
    text = (ROOT / "README.md").read_text()
    after = text[text.index(MARKER):]
    match = re.search(r"```sh\n(.*?)```", after, re.S)
    assert match, "README: no sh block after the live-recipe marker"
    return match.group(1)


def test_readme_live_recipe_reports_the_dashboard_findings_with_their_locations(work_dir):
    tmp = work_dir / "readme-live"
    tmp.mkdir()
    script = recipe()
    for port in ("4318", "4317", "8000", "8765"):
        assert port in script, f"README recipe no longer uses port {port}"
        script = script.replace(port, str(free_port()))
    script = script.replace("/tmp/", f"{tmp}/")
    # Job control on: each background job gets its own process group, so stopping a job also
    # stops what it started (npx's node, manage.py's server).
    wrapped = (
        "set -euo pipefail -m\n"
        "trap 'for job in $(jobs -p); do kill -TERM -- -$job 2>/dev/null || true; done; wait' EXIT\n" + script
    )
    env = {**os.environ, "TMPDIR": str(tmp), "NO_COLOR": "1"}
    for name in ("OTEL_SEMCONV_STABILITY_OPT_IN", "N1LENS_TRACE_FILE", "RECRUIT_DB", "RECRUIT_SQLITE_PATH"):
        env.pop(name, None)
    result = subprocess.run(["bash", "-c", wrapped], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"recipe failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"

    report = json.loads([line for line in result.stdout.splitlines() if line.startswith("{")][-1])
    (dashboard,) = [e for e in report["endpoints"] if e["endpoint"] == "GET dashboard/"]
    assert dashboard["requests"] == 3
    locations = {f["table"]: f.get("location", {}) for f in dashboard["findings"]}
    template = "recruit/templates/recruit/dashboard.html"
    assert locations["recruit_candidate"]["template"] == template, locations
    assert all(loc.get("template") == template and loc.get("templateLine") for loc in locations.values()), locations
    assert all(f["trigger"]["location"]["templateLine"] for f in dashboard["findings"] if f["kind"] == "n_plus_one")
