"""The endpoint is the Django route, not the raw path, when OpenTelemetry's ASGI middleware (under
uvicorn) or WSGI middleware (under wsgiref) makes the SERVER span and Django's span below it holds
http.route: recorded through the real SDK, analysed by n1-report."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str) -> None:
    """A GET that must answer 200, or the status a `#405` suffix names (a view refusing GET)."""
    url, _, status = url.partition("#")
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            assert r.status == int(status or 200)
    except urllib.error.HTTPError as e:
        assert e.code == int(status or 200), e


def wait_up(url: str, proc: subprocess.Popen) -> None:
    for _ in range(200):
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} never answered")


def wait_server_spans(summary: Path, count: int) -> None:
    for _ in range(200):
        if summary.exists() and sum('"SERVER"' in line for line in summary.read_text().splitlines()) >= count:
            return
        time.sleep(0.05)


BOOKS_AND_SHELVES = [*(f"/books/{pk}/" for pk in range(1, 6)), *(f"/shelves/{uuid.uuid4()}/" for _ in range(3))]


def record(server: str, tmp_path: Path, paths: list[str] = BOOKS_AND_SHELVES) -> tuple[Path, list[dict]]:
    env = {**os.environ, "ROUTES_SQLITE_PATH": str(tmp_path / "db.sqlite3"), "PYTHONPATH": str(HERE)}
    subprocess.run([sys.executable, "-m", "routesite.seed"], cwd=HERE, env=env, check=True)
    trace = tmp_path / "trace.pb"
    env["N1LENS_TRACE_FILE"] = str(trace)
    port = free_port()
    if server == "asgi":
        args = [sys.executable, "-m", "uvicorn", "routesite.asgi:application", "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    elif server == "gunicorn":
        # As in production: gunicorn passes RAW_URI, which the WSGI middleware records as the path.
        args = [sys.executable, "-m", "gunicorn", "routesite.wsgi:application", "--bind", f"127.0.0.1:{port}", "--workers", "1", "--log-level", "warning"]
    else:
        args = [sys.executable, "-m", "routesite.wsgi", str(port)]
    proc = subprocess.Popen(args, cwd=HERE, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_up(f"{base}{paths[0]}", proc)
        for p in paths[1:]:
            get(f"{base}{p}")
        # wsgiref ends the SERVER span after the response is sent: wait for the last one to be written.
        wait_server_spans(Path(f"{trace}.summary.jsonl"), len(paths))
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    summary = [json.loads(line) for line in Path(f"{trace}.summary.jsonl").read_text().splitlines()]
    return trace, summary


def report(trace: Path, *args: str) -> dict:
    out = subprocess.run(
        ["node", str(ROOT / "bin" / "n1-report.js"), "--format", "json", "--max-findings", "100", *args, str(trace)],
        capture_output=True, text=True, check=True,
    )
    return json.loads(out.stdout)


@pytest.mark.parametrize("server", ["asgi", "wsgi"])
def test_endpoint_is_the_route_from_djangos_span_below_the_middlewares_server_span(server, tmp_path):
    trace, spans = record(server, tmp_path)
    # The set-up the issue describes: the SERVER span has no route, Django's INTERNAL span has it.
    servers = [s for s in spans if s["kind"] == "SERVER"]
    assert servers and all(s["route"] is None for s in servers)
    assert {s["route"] for s in spans if s["kind"] == "INTERNAL" and s["route"]} == {"books/<int:pk>/", "shelves/<uuid:shelf>/"}

    r = report(trace)
    endpoints = {e["endpoint"]: e for e in r["endpoints"]}
    assert set(endpoints) == {"GET books/<int:pk>/", "GET shelves/<uuid:shelf>/"}
    books = endpoints["GET books/<int:pk>/"]
    assert books["requests"] == 5
    [finding] = [f for f in books["findings"] if f["kind"] == "n_plus_one"]
    assert finding["table"] == "library_author"
    assert finding["suggestion"]["code"] == ".select_related('author')"
    assert endpoints["GET shelves/<uuid:shelf>/"]["requests"] == 3


@pytest.fixture(scope="module")
def unseen_report(tmp_path_factory):
    """A recording under gunicorn (which gives the path, as in production) of one book, the about page
    in French only and a page of the catch-all; the schema the integration exports; the report
    with --list-unseen."""
    tmp_path = tmp_path_factory.mktemp("unseen")
    trace, spans = record("gunicorn", tmp_path, ["/books/1/", "/fr/about/", "/blog/2024/hello/", "/webhooks/ats/#405", "/api/books/", "/api/books/2/"])
    schema = tmp_path / "schema.json"
    env = {**os.environ, "ROUTES_SQLITE_PATH": str(tmp_path / "db.sqlite3"), "PYTHONPATH": str(HERE), "DJANGO_SETTINGS_MODULE": "routesite.settings"}
    subprocess.run([sys.executable, "-m", "django", "n1lens_schema", "-o", str(schema)], cwd=HERE, env=env, check=True)
    r = report(trace, "--schema", str(schema), "--list-unseen")
    unseen = [f["deadView"]["view"] for f in r["serviceFindings"] if f["kind"] == "dead_view"]
    urls = {u["route"]: u for u in json.loads(schema.read_text())["urls"]}
    return {"spans": spans, "report": r, "unseen": unseen, "schema_urls": urls}


def test_a_catch_all_view_with_traffic_is_not_unseen(unseen_report):
    # n1lens splits the catch-all's endpoint by the path's first segment; the view still had the request.
    assert "GET <path:slug>/ [path: /blog/]" in {e["endpoint"] for e in unseen_report["report"]["endpoints"]}
    assert "library.views.page" not in unseen_report["unseen"]
    assert "library.views.legacy" in unseen_report["unseen"]


def test_a_view_called_under_another_language_is_not_unseen(unseen_report):
    # French visitors only: http.route is fr/about/ (the request's language prefix), while the
    # schema export runs in LANGUAGE_CODE, en.
    assert "fr/about/" in {s["route"] for s in unseen_report["spans"]}
    assert "library.views.about" not in unseen_report["unseen"]
    assert {"library.views.legacy", "library.views.shelf"} <= set(unseen_report["unseen"])


def test_a_post_only_view_that_only_refused_gets_is_unseen(unseen_report):
    # A scanner's GET reaches the route (http.route is set) and gets 405: the view did nothing.
    assert "GET webhooks/ats/" in {e["endpoint"] for e in unseen_report["report"]["endpoints"]}
    assert unseen_report["schema_urls"]["webhooks/ats/"]["methods"] == ["POST"]
    assert unseen_report["unseen"] == ["library.views.legacy", "library.views.shelf", "library.views.ats_webhook"]


def test_a_view_with_traffic_on_one_of_its_routes_is_not_unseen(unseen_report):
    # The router's format-suffix twins (api/books\.(?P<format>...)) had no request; the viewset did.
    suffixed = [route for route, u in unseen_report["schema_urls"].items() if u["view"] == "library.views.BookViewSet" and "format" in route]
    assert len(suffixed) == 2
    assert "library.views.BookViewSet" not in unseen_report["unseen"]
