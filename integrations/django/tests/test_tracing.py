"""n1lens_django.tracing on a real Django app: requests through the test client, the real Django,
sqlite3 and DRF code paths, the SDK's batch processor, spans read back from the exporter."""

import logging
import os
import sys
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from asgiref.sync import async_to_sync
from django.test import AsyncClient, Client, override_settings
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from n1lens_django import tracing
from shop.models import Author, Book, Publisher, Tag

HERE = Path(__file__).resolve().parent
ROWS = 4


def line_of(relative: str, text: str) -> int:
    lines = (HERE / relative).read_text().splitlines()
    matches = [number for number, line in enumerate(lines, 1) if text in line]
    assert len(matches) == 1, f"{text!r} in {relative}: lines {matches}"
    return matches[0]


@pytest.fixture(scope="module", autouse=True)
def tracing_urls(django_db_blocker):
    # One database for the module, as a running app has: pytest-django (installed for the pytest
    # plugin's tests) would otherwise refuse every query outside a django_db test.
    with override_settings(ROOT_URLCONF="shop.tracing_urls"), django_db_blocker.unblock():
        yield


@pytest.fixture(scope="module")
def client(tracing_urls):
    call_command("migrate", run_syncdb=True, verbosity=0)
    admin = User.objects.create_superuser("admin", "admin@example.invalid", "pw")
    for i in range(ROWS):
        author = Author.objects.create(name=f"author {i}")
        publisher = Publisher.objects.create(name=f"publisher {i}")
        editor = User.objects.create_user(f"editor{i}")
        book = Book.objects.create(title=f"book {i}", author=author, publisher=publisher, editor=editor)
        book.tags.add(Tag.objects.create(label=f"tag {i}"))
    client = Client()
    client.force_login(admin)
    return client


def db_spans(client, exporter, url: str):
    """The DB client spans of one request, with their attributes."""
    assert trace.get_tracer_provider().force_flush(10_000)
    exporter.clear()
    response = client.get(url)
    assert response.status_code == 200, response.content[:500]
    assert trace.get_tracer_provider().force_flush(10_000)
    spans = [s for s in exporter.get_finished_spans() if s.kind is SpanKind.CLIENT]
    assert spans, "no DB spans exported"
    return spans


def on_table(spans, table: str):
    found = [s for s in spans if f'FROM "{table}"' in s.attributes.get("db.statement", "")]
    assert found, f"no query on {table}: {[s.attributes.get('db.statement') for s in spans]}"
    return found


def test_a_template_loop_names_the_template_line_and_the_view_that_rendered_it(client, exporter):
    spans = db_spans(client, exporter, "/books/")
    rows = on_table(spans, "shop_author")
    assert len(rows) == ROWS
    for span in rows:
        attributes = span.attributes
        assert attributes["n1lens.template.path"] == "shop/templates/shop/books.html"
        assert attributes["n1lens.template.line"] == line_of("shop/templates/shop/books.html", "book.author.name")
        assert attributes["code.file.path"] == "shop/tracing_views.py"
        assert attributes["code.line.number"] == line_of("shop/tracing_views.py", 'render(request, "shop/books.html"')
        assert attributes["code.function.name"] == "shop.tracing_views.book_list"
        assert attributes["n1lens.view"] == "shop.tracing_views.book_list"
    # The trigger: the queryset is evaluated by the {% for %} tag.
    (books,) = on_table(spans, "shop_book")
    assert books.attributes["n1lens.template.line"] == line_of("shop/templates/shop/books.html", "{% for book")


def test_a_loop_in_the_view_names_the_line_that_reads_the_relation(client, exporter):
    spans = db_spans(client, exporter, "/publishers/")
    rows = on_table(spans, "publishing_house")
    assert len(rows) == ROWS
    for span in rows:
        assert span.attributes["code.file.path"] == "shop/tracing_views.py"
        assert span.attributes["code.line.number"] == line_of("shop/tracing_views.py", "book.publisher.name")
        assert span.attributes["code.function.name"] == "shop.tracing_views.publisher_names"
        assert "n1lens.template.path" not in span.attributes
    (books,) = on_table(spans, "shop_book")
    assert books.attributes["code.line.number"] == line_of("shop/tracing_views.py", "for book in Book.objects")


@pytest.mark.parametrize(("url", "table", "view"), [
    ("/titles/", "shop_book", "shop.tracing_views.book_titles"),  # async def
    ("/publishers/", "publishing_house", "shop.tracing_views.publisher_names"),  # sync, run in a thread
])
def test_under_asgi_queries_name_the_view_they_run_for(client, exporter, url, table, view):
    # AsyncClient goes through Django's ASGIHandler: the view's queries run in asgiref's threads,
    # whose stacks never reach the handler coroutine that resolved the view.
    async_client = AsyncClient()
    async_client.force_login(User.objects.get(username="admin"))
    assert trace.get_tracer_provider().force_flush(10_000)
    exporter.clear()
    response = async_to_sync(async_client.get)(url)
    assert response.status_code == 200, response.content[:500]
    assert trace.get_tracer_provider().force_flush(10_000)
    spans = on_table([s for s in exporter.get_finished_spans() if s.kind is SpanKind.CLIENT], table)
    assert [s.attributes.get("n1lens.view") for s in spans] == [view] * len(spans)
    # Nothing stays behind for the next request: a query outside any request names no view.
    with trace.get_tracer("n1lens.tests").start_as_current_span("outside"):
        assert Book.objects.count() == ROWS
    assert trace.get_tracer_provider().force_flush(10_000)
    (outside,) = [s for s in exporter.get_finished_spans() if s.kind is SpanKind.CLIENT and "COUNT(*)" in s.attributes.get("db.statement", "")]
    assert "n1lens.view" not in outside.attributes


def test_a_drf_serializer_field_names_the_serializer_the_field_and_where_it_is_defined(client, exporter):
    spans = db_spans(client, exporter, "/api/books/")
    rows = on_table(spans, "shop_author")
    assert len(rows) == ROWS
    for span in rows:
        attributes = span.attributes
        assert attributes["n1lens.drf.serializer"] == "BookSerializer"
        assert attributes["n1lens.drf.field"] == "author"
        assert attributes["n1lens.drf.file"] == "shop/serializers.py"
        assert attributes["n1lens.drf.line"] == line_of("shop/serializers.py", "author = AuthorSerializer()")
        assert attributes["n1lens.view"] == "shop.tracing_views.BookListAPI"
        # A DRF loop has no application frame on its stack at all.
        assert "code.file.path" not in attributes
    (books,) = on_table(spans, "shop_book")
    assert books.attributes["n1lens.drf.serializer"] == "BookSerializer"
    assert "n1lens.drf.field" not in books.attributes
    assert books.attributes["n1lens.drf.line"] == line_of("shop/serializers.py", "class BookSerializer")


def test_an_admin_changelist_names_the_model_admin_and_the_list_display_entry(client, exporter):
    spans = db_spans(client, exporter, "/admin/shop/book/")
    editors = [s for s in on_table(spans, "auth_user") if s.attributes.get("n1lens.admin.list_display")]
    assert len(editors) == ROWS
    for span in editors:
        attributes = span.attributes
        assert attributes["n1lens.admin.model_admin"] == "BookAdmin"
        assert attributes["n1lens.admin.list_display"] == "editor"
        assert attributes["n1lens.admin.file"] == "shop/admin.py"
        assert attributes["n1lens.admin.line"] == line_of("shop/admin.py", "list_display = (")
        assert attributes["n1lens.view"] == "shop.admin.BookAdmin.changelist_view"
    counts = on_table(spans, "shop_book_tags")  # book.tags.count() counts the join table's rows
    for span in counts:
        attributes = span.attributes
        assert attributes["n1lens.admin.list_display"] == "tag_count"
        assert attributes["n1lens.admin.line"] == line_of("shop/admin.py", "def tag_count")
        # The method is application code: its line is the first app frame, named with its class.
        assert attributes["code.file.path"] == "shop/admin.py"
        assert attributes["code.line.number"] == line_of("shop/admin.py", "book.tags.count()")
        assert attributes["code.function.name"] == "shop.admin.BookAdmin.tag_count"


def test_only_db_spans_get_locations(client, exporter):
    assert trace.get_tracer_provider().force_flush(10_000)
    exporter.clear()
    client.get("/publishers/")
    assert trace.get_tracer_provider().force_flush(10_000)
    (server,) = [s for s in exporter.get_finished_spans() if s.kind is SpanKind.SERVER]
    assert not [key for key in server.attributes if key.startswith(("code.", "n1lens."))]


def test_setup_again_is_a_no_op_without_warnings(caplog):
    provider = trace.get_tracer_provider()
    processors = list(provider._active_span_processor._span_processors)
    with caplog.at_level(logging.DEBUG):
        assert tracing.setup() is provider
        assert tracing.setup(service_name="other") is provider
    assert list(provider._active_span_processor._span_processors) == processors
    noisy = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert noisy == []


def test_locate_outside_any_request_finds_the_calling_test():
    processor = tracing.CodeLocationSpanProcessor(base_dir=HERE)
    import sys

    attributes = processor.locate(sys._getframe())
    assert attributes["code.file.path"] == "test_tracing.py"
    assert attributes["code.function.name"].endswith("test_locate_outside_any_request_finds_the_calling_test")


def test_a_failing_location_never_fails_the_query(client, exporter, monkeypatch):
    provider = trace.get_tracer_provider()
    (processor,) = [p for p in provider._active_span_processor._span_processors
                    if isinstance(p, tracing.CodeLocationSpanProcessor)]

    def broken(frame):
        raise RuntimeError("boom")

    monkeypatch.setattr(processor, "locate", broken)
    rows = on_table(db_spans(client, exporter, "/publishers/"), "publishing_house")
    assert len(rows) == ROWS
    assert all("code.file.path" not in span.attributes for span in rows)


class _Base:
    def method(self):
        return sys._getframe()

    @classmethod
    def made(cls):
        return sys._getframe()

    @property
    def value(self):
        return sys._getframe()


class _Child(_Base):
    pass


def _plain():
    return sys._getframe()


def test_qualnames_without_co_qualname_come_from_self_or_cls():
    # Python 3.10's code objects have no co_qualname: the class is the one in self's (or cls's)
    # MRO whose attribute is this very code, so an inherited method names the class defining it.
    for frame, expected in [
        (_Child().method(), "_Base.method"),
        (_Child.made(), "_Base.made"),
        (_Child().value, "_Base.value"),
        (_plain(), "_plain"),
    ]:
        assert tracing.qualname_from_locals(frame.f_code, frame.f_locals) == expected


def test_database_tracing_names_each_aliass_driver_and_whether_it_is_traced(monkeypatch):
    databases = {
        "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"},
        "main": {"ENGINE": "django.db.backends.postgresql", "NAME": "shop"},
        "gis": {"ENGINE": "django.contrib.gis.db.backends.postgis", "NAME": "shop"},
        "legacy": {"ENGINE": "mssql", "NAME": "old"},
        "nothing": {"ENGINE": "django.db.backends.dummy"},
    }
    found = {d.alias: d for d in tracing.database_tracing(databases)}
    assert list(found) == ["default", "main", "gis", "legacy"]
    assert (found["default"].driver, found["default"].traced, found["default"].problem) == ("sqlite3", True, None)
    # Django's choice: psycopg (3) when it imports; both are installed here, and traced by setup().
    assert (found["main"].vendor, found["main"].driver, found["main"].traced) == ("postgresql", "psycopg", True)
    assert found["gis"].driver == "psycopg"
    legacy = found["legacy"]
    assert (legacy.vendor, legacy.driver, legacy.known, legacy.traced) == ("", None, False, False)
    assert "traces PostgreSQL, MySQL and SQLite only" in legacy.problem
    assert [d.alias for d in tracing.untraced_databases(databases)] == ["legacy"]

    # psycopg 3 not importable: Django's backend uses psycopg2, and so does the check.
    import django.db.backends.postgresql.psycopg_any as psycopg_any

    monkeypatch.setattr(psycopg_any, "is_psycopg3", False)
    (main,) = tracing.database_tracing({"main": databases["main"]})
    assert (main.driver, main.package, main.traced) == ("psycopg2", "opentelemetry-instrumentation-psycopg2", True)


RUNTIME = """
import sys
sys.modules["opentelemetry.instrumentation.psycopg"] = None  # as if never installed
from n1lens_django.tracing import setup
setup()
setup()
import django
django.setup()
from django.db import connection
connection.ensure_connection()
"""


def test_an_untraced_database_is_one_warning_when_the_app_starts(postgres_url):
    # The recruit sample's real settings on PostgreSQL, as `runserver` or gunicorn load them (set-up
    # before Django, twice, then a connection): one warning, with the line that fixes it.
    import os
    import subprocess

    sample = HERE.parents[2] / "samples" / "recruit"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "OTEL_TRACES_EXPORTER": "none",
        "RECRUIT_DB": "postgres",
        "RECRUIT_DATABASE_URL": postgres_url,
    }
    done = subprocess.run([sys.executable, "-c", RUNTIME], cwd=sample, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    warnings = [line for line in done.stderr.splitlines() if "opentelemetry-instrumentation-psycopg is not installed" in line]
    assert len(warnings) == 1, done.stderr
    assert warnings[0].startswith("n1lens: DATABASES['default'] (django.db.backends.postgresql) runs its queries through psycopg")
    assert "    pip install opentelemetry-instrumentation-psycopg==" in done.stderr
    assert "pip install 'n1lens-django[postgresql]'" in done.stderr


def test_each_unittest_test_method_runs_in_a_root_span_of_its_own_as_pytest_names_it(exporter, tracing_urls):
    # What `manage.py test` runs (Django's runner is unittest's): setup() puts each test method, sync
    # or async, in a root span `test <file>::<Class>::<method>`; setUp's queries stay outside it.
    import unittest

    from django.test import SimpleTestCase

    call_command("migrate", run_syncdb=True, verbosity=0)
    here = Path(__file__).resolve()

    class Books(unittest.TestCase):
        def setUp(self):
            Author.objects.create(name="set-up")  # a fixture, not the code under test

        def test_sync(self):
            self.assertGreaterEqual(Author.objects.count(), 1)

    class AsyncBooks(unittest.IsolatedAsyncioTestCase):
        async def test_async(self):
            # No ORM here: its thread would open a new :memory: database. Any span shows the context.
            with trace.get_tracer("shop").start_as_current_span("SELECT work"):
                pass

    class DjangoAsyncBooks(SimpleTestCase):
        databases = {"default"}

        async def test_django_async(self):
            self.assertGreaterEqual(await Author.objects.acount(), 0)

    assert trace.get_tracer_provider().force_flush(10_000)
    exporter.clear()
    suite = unittest.TestSuite(
        [Books("test_sync"), AsyncBooks("test_async"), DjangoAsyncBooks("test_django_async")]
    )
    result = unittest.TextTestRunner(stream=open(os.devnull, "w")).run(suite)
    assert result.wasSuccessful(), result.errors + result.failures
    assert trace.get_tracer_provider().force_flush(10_000)
    spans = exporter.get_finished_spans()
    roots = {s.name: s for s in spans if s.parent is None and s.kind is SpanKind.INTERNAL}
    relative = here.relative_to(Path.cwd()) if here.is_relative_to(Path.cwd()) else None
    assert relative is not None, "the tests run from the repository, above this file"
    prefix = f"test {relative.as_posix()}::test_each_unittest_test_method_runs_in_a_root_span_of_its_own_as_pytest_names_it::<locals>"
    names = {
        f"{prefix}::Books::test_sync",
        f"{prefix}::AsyncBooks::test_async",
        f"{prefix}::DjangoAsyncBooks::test_django_async",
    }
    assert names <= set(roots), sorted(roots)
    for name in names:
        test_span = roots[name]
        below = [s for s in spans if s.parent is not None and s.parent.span_id == test_span.context.span_id]
        assert [s.name.split(" ")[0] for s in below] == ["SELECT"], (name, below)
        assert test_span.attributes["code.filepath"] == str(here)
    inserts = [s for s in spans if s.attributes.get("db.statement", "").startswith("INSERT")]
    assert inserts and all(s.parent is None for s in inserts)  # setUp: outside every test's span
