"""End to end, issue 18: connection_pressure under concurrent load, and dead views from the store.

Connections: the recruit app under gunicorn (6 sync workers, so 6 processes with their own
process.pid and service.instance.id) on PostgreSQL, 20 parallel clients, exporting to `n1lens
serve`. A sampler polls pg_stat_activity during the run; n1lens's peak concurrency must match its
peak within 20% under CONN_MAX_AGE=0, and with CONN_MAX_AGE=600 there is no finding.

Dead views: a real recording of the app (drive.py's plan plus one call of the cron-only view by a
"cron" client) is replayed into `n1lens serve`, with the cron call's trace copied onto 02:00 UTC of
each of the last 35 days; `n1lens report --db --dead-after` must list the unused view as dead, the
cron-only view as periodic, and nothing that had traffic.
"""

import copy
import json
import os
import shutil
import subprocess
import threading
import time
import urllib.request

import psycopg
import pytest
import requests

from e2e_processes import N1LENS_COMMAND, PYTHON, RECRUIT, ROOT, Process, free_port, get_json, wait_for

WORKERS = 6
CLIENTS = 20
LOAD_SECONDS = 10
DAY_NS = 86_400 * 10**9
CRON_AGENT = "cron-nightly-rollup/1.0"


def serve(logs, *extra):
    http_port, grpc_port = free_port(), free_port()
    process = Process(
        "n1lens",
        [*N1LENS_COMMAND, "serve", "--http-port", http_port, "--grpc-port", grpc_port,
         "--db", logs / "n1lens.db", "--trace-wait-ms", 300, *extra],
        logs,
    )
    wait_for(process, f"http://127.0.0.1:{http_port}/healthz")
    return process, http_port


def wait_for_requests(n1lens, http_port, want: int, timeout: float = 90.0) -> dict:
    """/api/report once it has counted at least `want` requests and the count stopped moving."""
    api = f"http://127.0.0.1:{http_port}/api/report"
    deadline = time.monotonic() + timeout
    last = -1
    while True:
        n1lens.check_alive()
        body = get_json(api, timeout=30)
        count = body["summary"]["requests"]
        if count >= want and count == last:
            return body
        if time.monotonic() > deadline:
            pytest.fail(f"n1lens counted {count} requests after {timeout:.0f} s, want {want}\n{n1lens.log_tail()}")
        last = count
        time.sleep(1.0)


class ActivitySampler(threading.Thread):
    """Polls pg_stat_activity for the app's client connections (its own excluded) every 50 ms."""

    def __init__(self, url: str):
        super().__init__(daemon=True)
        self.url = url
        self.peak = 0
        self.samples = 0
        self.stop = threading.Event()

    def run(self):
        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self.stop.is_set():
                (n,) = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
                ).fetchone()
                self.peak = max(self.peak, n)
                self.samples += 1
                time.sleep(0.05)


def load(base: str, seconds: float) -> int:
    """CLIENTS logged-in users reloading the (optimised: light on a shared CI machine's CPU)
    dashboard for `seconds`; returns requests sent."""
    sent = []
    errors = []

    def client():
        session = requests.Session()
        try:
            session.post(f"{base}/login/", timeout=60).raise_for_status()
            n = 1
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                session.get(f"{base}/dashboard/optimised/", timeout=60).raise_for_status()
                n += 1
            sent.append(n)
        except requests.RequestException as e:
            errors.append(e)

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        pytest.fail(f"{len(errors)} clients failed, first: {errors[0]}")
    return sum(sent)


@pytest.fixture(scope="module")
def pg_env(database_env, postgres_url):
    return database_env("postgres", postgres_url)


def run_under_load(work_dir, pg_env, postgres_url, conn_max_age: int):
    logs = work_dir / f"connections-age{conn_max_age}"
    logs.mkdir()
    n1lens, http_port = serve(logs)
    app = None
    try:
        port = free_port()
        env = {
            **pg_env,
            "RECRUIT_CONN_MAX_AGE": str(conn_max_age),
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{http_port}",
        }
        app = Process(
            "gunicorn",
            [PYTHON, "-m", "gunicorn", "--workers", WORKERS, "--bind", f"127.0.0.1:{port}",
             "--graceful-timeout", 10, "config.wsgi:application"],
            logs, env=env, cwd=RECRUIT,
        )
        base = f"http://127.0.0.1:{port}"
        wait_for(app, f"{base}/otel/flush/")
        sampler = ActivitySampler(postgres_url)
        sampler.start()
        sent = load(base, LOAD_SECONDS)
        sampler.stop.set()
        sampler.join()
        app.stop(30)  # SIGTERM: each worker exits and its SDK exports what is still buffered
        app = None
        report = wait_for_requests(n1lens, http_port, sent)
        return report, sampler
    finally:
        if app is not None:
            app.stop()
        n1lens.stop()


def pressure(report):
    found = [f for f in report.get("serviceFindings", []) if f["kind"] == "connection_pressure"]
    return found[0] if found else None


def test_conn_max_age_0_peak_matches_pg_stat_activity(work_dir, pg_env, postgres_url):
    report, sampler = run_under_load(work_dir, pg_env, postgres_url, 0)
    finding = pressure(report)
    assert finding is not None, json.dumps(report.get("serviceFindings"), indent=1)
    p = finding["connectionPressure"]
    assert sampler.samples > 50
    assert abs(p["peakConnections"] - sampler.peak) <= 0.2 * sampler.peak, (p, sampler.peak)
    assert p["processes"] == WORKERS
    assert p["reasons"] == ["connection_per_request"]
    assert p["newConnectionShare"] == pytest.approx(1.0, abs=0.02)
    assert p["openedPerSecond"] > 1
    assert "CONN_MAX_AGE" in finding["suggestion"]["code"]


def test_conn_max_age_600_no_finding(work_dir, pg_env, postgres_url):
    report, sampler = run_under_load(work_dir, pg_env, postgres_url, 600)
    assert sampler.peak > 0
    assert pressure(report) is None, json.dumps(report.get("serviceFindings"), indent=1)


TRANSACTIONAL_TESTS = """
import pytest

from recruit.models import Company


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("i", range(30))
def test_a_company_round_trip(i):
    Company.objects.create(name=f"Company {i}")
    assert Company.objects.count() == 1
"""


def test_a_test_run_names_no_connection_pressure(work_dir, postgres_url):
    # Django's TransactionTestCase (pytest-django's transaction=True) closes every connection after
    # each test, so each test's first query opens one: a test run's churn, which no CONN_MAX_AGE
    # changes. pytest --n1lens (n1-report --test-suite) must not print a connection fix for it.
    logs = work_dir / "test-suite-connections"
    app = logs / "recruit"
    shutil.copytree(RECRUIT, app, ignore=shutil.ignore_patterns("__pycache__"))
    (app / "tests" / "test_transactional.py").write_text(TRANSACTIONAL_TESTS)
    # pytest-django creates (and drops) test_recruit: the role needs CREATEDB (the cluster trusts loopback).
    with psycopg.connect(postgres_url.replace("recruit:recruit@", "postgres@").rsplit("/", 1)[0] + "/postgres", autocommit=True) as su:
        su.execute("ALTER ROLE recruit CREATEDB")
    env = {**os.environ, "RECRUIT_DB": "postgres", "RECRUIT_DATABASE_URL": postgres_url,
           "N1LENS_BIN": str(ROOT / "bin" / "n1-report.js"), "NO_COLOR": "1"}
    env.pop("PYTEST_ADDOPTS", None)
    traces, result = logs / "traces.pb.gz", logs / "report.json"
    done = subprocess.run(
        [PYTHON, "-m", "pytest", "-p", "no:cacheprovider", "--n1lens", f"--n1lens-traces={traces}",
         f"--n1lens-format=json={result}", "tests/test_transactional.py"],
        cwd=app, env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    # The spans do show a new connection in every test: read as production traffic, they are churn.
    plain = subprocess.run(["node", str(ROOT / "bin" / "n1-report.js"), "--format", "json", "--max-findings", "1000", str(traces)],
                           capture_output=True, text=True, check=True)
    churn = pressure(json.loads(plain.stdout))
    assert churn is not None and churn["connectionPressure"]["newConnectionShare"] > 0.9, plain.stdout[-2000:]
    assert pressure(json.loads(result.read_text())) is None
    assert "CONN_MAX_AGE" not in done.stdout


# ---------------------------------------------------------------------------------------------
# Dead views.


def record_app(work_dir, database_env, stub_url) -> list[dict]:
    """drive.py's plan and one cron call of the nightly view, recorded by the app's file exporter, as OTLP JSON requests."""
    logs = work_dir / "dead-views-recording"
    logs.mkdir()
    trace = logs / "trace.otlp.pb"
    env = {**database_env("sqlite"), "N1LENS_TRACE_FILE": str(trace), "RECRUIT_STUB_URL": stub_url}
    port = free_port()
    app = Process("app", [PYTHON, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"], logs, env=env, cwd=RECRUIT)
    try:
        base = f"http://127.0.0.1:{port}"
        drive = subprocess.run([PYTHON, RECRUIT / "drive.py", "--base-url", base], capture_output=True, text=True, timeout=300)
        if drive.returncode != 0:
            pytest.fail(f"drive.py failed:\n{drive.stdout}\n{drive.stderr}\n{app.log_tail()}")
        requests.get(f"{base}/internal/nightly-rollup/", headers={"User-Agent": CRON_AGENT}, timeout=30).raise_for_status()
    finally:
        app.stop()
    jsonl = logs / "trace.jsonl"
    subprocess.run([PYTHON, RECRUIT / "otlp_to_json.py", trace, jsonl, "--flavour", "otlp"], check=True)
    return [json.loads(line) for line in jsonl.read_text().splitlines() if line.strip()]


def attribute(span, key):
    return next((list(a["value"].values())[0] for a in span.get("attributes", []) if a["key"] == key), None)


def cron_copies(requests_json: list[dict], days: int) -> list[dict]:
    """The cron call's trace, copied onto 02:00:07 UTC of each of the last `days` days (new trace ids)."""
    spans = [
        (rs, ss, span)
        for body in requests_json for rs in body["resourceSpans"] for ss in rs["scopeSpans"] for span in ss["spans"]
    ]
    roots = [span for _, _, span in spans if attribute(span, "http.route") == "internal/nightly-rollup/"]
    assert len(roots) == 1, "the recording has one cron call"
    trace_id = roots[0]["traceId"]
    start = int(roots[0]["startTimeUnixNano"])
    today = time.time_ns() // DAY_NS * DAY_NS
    copies = []
    for k in range(1, days + 1):
        shift = today - k * DAY_NS + (2 * 3600 + 7) * 10**9 - start
        body = {"resourceSpans": []}
        for rs in {id(rs): rs for rs, _, _ in spans}.values():
            kept_rs = {"resource": rs["resource"], "scopeSpans": []}
            for ss in rs["scopeSpans"]:
                kept = []
                for span in ss["spans"]:
                    if span["traceId"] != trace_id:
                        continue
                    s = copy.deepcopy(span)
                    s["traceId"] = f"{k:02x}{trace_id[2:]}"
                    s["startTimeUnixNano"] = str(int(s["startTimeUnixNano"]) + shift)
                    s["endTimeUnixNano"] = str(int(s["endTimeUnixNano"]) + shift)
                    kept.append(s)
                if kept:
                    kept_rs["scopeSpans"].append({"scope": ss.get("scope", {}), "spans": kept})
            if kept_rs["scopeSpans"]:
                body["resourceSpans"].append(kept_rs)
        copies.append(body)
    return copies


def without_trace(body: dict, trace_id: str) -> dict:
    out = copy.deepcopy(body)
    for rs in out["resourceSpans"]:
        for ss in rs["scopeSpans"]:
            ss["spans"] = [s for s in ss["spans"] if s["traceId"] != trace_id]
    return out


def post_json(http_port, body):
    request = urllib.request.Request(
        f"http://127.0.0.1:{http_port}/v1/traces", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200


def report_db(db, schema_file, *extra):
    result = subprocess.run(
        [*N1LENS_COMMAND, "report", "--db", db, "--schema", schema_file, "-f", "json", *extra],
        capture_output=True, text=True, timeout=120,
    )
    if result.returncode not in (0, 1) or not result.stdout:
        pytest.fail(f"n1lens report exited {result.returncode}:\n{result.stderr}")
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def dead_view_store(work_dir, database_env, stub_url):
    recorded = record_app(work_dir, database_env, stub_url)
    logs = work_dir / "dead-views"
    logs.mkdir()
    n1lens, http_port = serve(logs)
    try:
        copies = cron_copies(recorded, CRON_DAYS)
        cron_trace = next(
            span["traceId"] for body in recorded for rs in body["resourceSpans"] for ss in rs["scopeSpans"]
            for span in ss["spans"] if attribute(span, "http.route") == "internal/nightly-rollup/"
        )
        # Today's traffic is drive.py's; the cron call is only ever seen at its nightly time.
        for body in recorded:
            post_json(http_port, without_trace(body, cron_trace))
        for body in copies:
            post_json(http_port, body)
        wait_for_requests(n1lens, http_port, 1 + 3 + 3 + 20 + 3 + 3 + CRON_DAYS)
    finally:
        n1lens.stop()
    return logs / "n1lens.db"


# More than the 30 days a window needs before dead_view calls anything dead.
CRON_DAYS = 35


def dead_views(report):
    return {f["subject"]: f for f in report.get("serviceFindings", []) if f["kind"] == "dead_view"}


def test_store_lists_the_unused_view_as_dead_and_the_cron_view_as_periodic(dead_view_store, schema_file):
    views = dead_views(report_db(dead_view_store, schema_file, "--dead-after", "30d"))
    assert set(views) == {"reports/legacy-export/", "internal/nightly-rollup/"}, views
    dead = views["reports/legacy-export/"]
    assert dead["deadView"]["status"] == "dead"
    assert dead["deadView"]["enoughHistory"] is True
    assert dead["location"] == {"view": "recruit.views.legacy_export", "file": "recruit/views.py", "line": dead["deadView"]["line"]}
    periodic = views["internal/nightly-rollup/"]["deadView"]
    assert periodic["status"] == "periodic"
    assert periodic["periodic"]["minuteOfDay"] == 2 * 60
    assert periodic["periodic"]["days"] == CRON_DAYS
    assert CRON_AGENT in periodic["periodic"]["client"]


def test_store_withholds_the_delete_advice_over_a_short_window(dead_view_store, schema_file):
    views = dead_views(report_db(dead_view_store, schema_file, "--dead-after", "3d"))
    legacy = views["reports/legacy-export/"]
    assert legacy["deadView"]["status"] == "too_short_window"
    assert "--dead-after 30d" in legacy["suggestion"]["note"]
    assert "remove" not in legacy["suggestion"]["code"] and "delete" not in legacy["suggestion"]["note"]


def test_store_says_how_much_history_it_has_when_the_window_is_longer(dead_view_store, schema_file):
    views = dead_views(report_db(dead_view_store, schema_file, "--dead-after", "90d"))
    legacy = views["reports/legacy-export/"]["deadView"]
    assert legacy["status"] == "no_traffic_yet"
    assert legacy["enoughHistory"] is False
    assert (CRON_DAYS - 1) * DAY_NS // 10**6 < legacy["historyMs"] < (CRON_DAYS + 1) * DAY_NS // 10**6
    assert "history" in views["reports/legacy-export/"]["suggestion"]["note"]
