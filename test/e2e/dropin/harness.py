"""Runs the drop-in fix test site in one process per command, so each command gets a fresh Django:

  prepare                  migrate and seed (recruit's demo data, a small library)
  schema OUT               write the n1lens schema file
  record OUT               drive the dashboard, the admin changelist and the API with the Django test
                           client, recording the real SDK's spans to OUT (length-delimited OTLP protobuf)
  measure KIND REPORT      paste the report's printed fix for KIND (dashboard, admin, drf) into the
                           running app and print the query counts {"before", "optimum", "after"} as JSON

Run with PYTHONPATH=test/e2e:samples/recruit DJANGO_SETTINGS_MODULE=dropin.settings DROPIN_SQLITE_PATH=…
"""

import json
import sys

import django

django.setup()

from django.contrib.auth.models import User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connections  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from dropin import paste  # noqa: E402
from dropin.library.models import Author, Book, Publisher, Review  # noqa: E402

ADMIN_USERNAME = "admin"
ROUTES = {"dashboard": "/dashboard/", "admin": "/admin/library/book/", "drf": "/api/books/"}
ENDPOINTS = {"dashboard": "GET dashboard/", "admin": "GET admin/library/book/", "drf": None}


def prepare() -> None:
    from recruit.seed import seed

    call_command("migrate", verbosity=0)
    seed(applications=1000)
    User.objects.create_superuser(ADMIN_USERNAME, "admin@example.invalid", "not-a-secret")
    authors = Author.objects.bulk_create([Author(name=f"author {i}") for i in range(8)])
    publishers = Publisher.objects.bulk_create([Publisher(name=f"publisher {i}") for i in range(5)])
    books = Book.objects.bulk_create(
        [
            Book(title=f"book {i:02d}", author=authors[i % 8], publisher=None if i % 4 == 0 else publishers[i % 5])
            for i in range(40)
        ]
    )
    Review.objects.bulk_create([Review(book=b, stars=1 + (i + j) % 5) for i, b in enumerate(books) for j in range(i % 4)])


def logged_in(kind: str) -> Client:
    client = Client()
    client.force_login(User.objects.get(username=ADMIN_USERNAME if kind == "admin" else "demo"))
    return client


def record(path: str) -> None:
    from opentelemetry import trace
    from opentelemetry.instrumentation.django import DjangoInstrumentor
    from opentelemetry.instrumentation.sqlite3 import SQLite3Instrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from recruit.file_exporter import LengthDelimitedFileExporter

    clients = {kind: logged_in(kind) for kind in ROUTES}
    # Logging in ran untraced; reconnect so every query of the requests below is traced.
    connections.close_all()
    provider = TracerProvider(resource=Resource.create({"service.name": "dropin"}))
    provider.add_span_processor(SimpleSpanProcessor(LengthDelimitedFileExporter(path)))
    trace.set_tracer_provider(provider)
    DjangoInstrumentor().instrument(is_sql_commentor_enabled=True)
    SQLite3Instrumentor().instrument()
    for kind, route in ROUTES.items():
        for _ in range(3):
            response = clients[kind].get(route)
            assert response.status_code == 200, (route, response.status_code)
    provider.shutdown()


def count(kind: str, client: Client, route: str | None = None) -> int:
    with CaptureQueriesContext(connections["default"]) as queries:
        response = client.get(route or ROUTES[kind])
        assert response.status_code == 200, (kind, response.status_code)
        if hasattr(response, "render") and not response.is_rendered:
            response.render()
    return len(queries)


def measure(kind: str, report_path: str) -> dict:
    with open(report_path) as f:
        report = json.load(f)
    client = logged_in(kind)
    client.get(ROUTES[kind])  # warm caches (content types, templates) so counts compare like with like
    before = count(kind, client)
    with paste.optimum(kind) as route:
        optimum = count(kind, client, route)
    with paste.printed_fix(kind, paste.endpoint(report, kind)):
        after = count(kind, client)
    return {"before": before, "optimum": optimum, "after": after}


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    if command == "prepare":
        prepare()
    elif command == "schema":
        call_command("n1lens_schema", "-o", args[0])
    elif command == "record":
        record(args[0])
    elif command == "measure":
        print(json.dumps(measure(args[0], args[1])))
    else:
        sys.exit(f"unknown command {command!r}")
