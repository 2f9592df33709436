"""CPU cost of n1lens_django.tracing.CodeLocationSpanProcessor per DB span, inside a real Django
request (the integration tests' project: a template loop, a view loop, a DRF list, an admin
changelist), with the caches warm as in a running app.

    .venv/bin/python bench/location_processor.py [--rows 200] [--rounds 5]

Prints one JSON line: per scenario, the DB spans timed, the stack depth, and µs per span
(mean, p50, p99) spent in the processor's on_start, measured as this thread's CPU time (thread_time_ns) around each call, so waits for the GIL while the batch processor exports are not counted.
"""

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1] / "integrations" / "django" / "tests"
SCENARIOS = {"template loop": "/books/", "view loop": "/publishers/", "DRF list": "/api/books/",
             "admin changelist": "/admin/shop/book/"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    options = parser.parse_args()

    sys.path.insert(0, str(TESTS))
    import conftest  # the tests' settings and tracing.setup(), with an in-memory exporter

    conftest.pytest_configure()
    from django.test.utils import override_settings

    override_settings(ROOT_URLCONF="shop.tracing_urls").enable()  # the location tests' views
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.test import Client
    from opentelemetry import trace

    from n1lens_django.tracing import CodeLocationSpanProcessor
    from shop.models import Author, Book, Publisher, Tag

    call_command("migrate", run_syncdb=True, verbosity=0)
    admin = User.objects.create_superuser("admin", "admin@example.invalid", "pw")
    for i in range(options.rows):
        book = Book.objects.create(
            title=f"book {i}", author=Author.objects.create(name=f"a{i}"),
            publisher=Publisher.objects.create(name=f"p{i}"), editor=User.objects.create_user(f"e{i}"),
        )
        book.tags.add(Tag.objects.create(label=f"t{i}"))

    provider = trace.get_tracer_provider()
    (processor,) = [p for p in provider._active_span_processor._span_processors
                    if isinstance(p, CodeLocationSpanProcessor)]
    timings: list[int] = []
    depths: list[int] = []
    original = processor.on_start

    def timed_on_start(span, parent_context=None):
        frame, depth = sys._getframe(1), 0
        while frame is not None:
            depth, frame = depth + 1, frame.f_back
        started = time.thread_time_ns()
        original(span, parent_context)
        elapsed = time.thread_time_ns() - started
        if span.attributes and ("db.statement" in span.attributes or "db.query.text" in span.attributes
                                or span.kind.name == "CLIENT"):
            timings.append(elapsed)
            depths.append(depth)

    processor.on_start = timed_on_start
    client = Client()
    client.force_login(admin)
    results = {}
    for name, url in SCENARIOS.items():
        client.get(url)  # warm the per-code-object caches, as a running app's first request does
        timings.clear()
        depths.clear()
        for _ in range(options.rounds):
            assert client.get(url).status_code == 200
        conftest.EXPORTER.clear()
        ordered = sorted(timings)
        results[name] = {
            "dbSpans": len(ordered),
            "stackDepthMax": max(depths),
            "usPerSpanMin": round(ordered[0] / 1000, 2),
            "usPerSpanP50": round(ordered[len(ordered) // 2] / 1000, 2),
            "usPerSpanMean": round(statistics.fmean(ordered) / 1000, 2),
            "usPerSpanP99": round(ordered[int(len(ordered) * 0.99)] / 1000, 2),
        }
    provider.force_flush()
    # The same run's yardsticks: what the SDK itself spends starting and ending a CLIENT span with
    # three attributes (no processor of ours involved), and a dict lookup, so a figure taken on a
    # busy machine can be read against what the machine managed at that moment.
    tracer = provider.get_tracer("bench")
    sdk = []
    for _ in range(2000):
        started = time.thread_time_ns()
        with tracer.start_as_current_span("SELECT", kind=trace.SpanKind.CLIENT) as span:
            span.set_attributes({"db.system": "sqlite", "db.statement": "SELECT 1", "db.name": "x"})
        sdk.append(time.thread_time_ns() - started)
    sdk.sort()
    lookups = {i: i for i in range(100)}
    started = time.perf_counter_ns()
    for _ in range(1_000_000):
        lookups.get(5)
    dict_get_ns = (time.perf_counter_ns() - started) / 1_000_000
    conftest.EXPORTER.clear()
    print(json.dumps({
        "bench": "location_processor", "python": sys.version.split()[0], "loadAverage1m": os.getloadavg()[0],
        "scenarios": results,
        "sdkClientSpanUsP50": round(sdk[len(sdk) // 2] / 1000, 2), "dictGetNs": round(dict_get_ns, 1),
    }))


if __name__ == "__main__":
    main()
