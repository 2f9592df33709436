"""Configures a minimal Django project for the tests: auth, contenttypes, sessions, admin, Django
REST framework and the `shop` test app, traced by n1lens_django.tracing.setup() into an in-memory
exporter (set up before Django loads, as a project's wsgi.py or manage.py would)."""

import os
import subprocess
from pathlib import Path

import django
import pytest
from django.conf import settings
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from n1lens_django import tracing

EXPORTER = InMemorySpanExporter()


def pytest_configure():
    settings.configure(
        BASE_DIR=Path(__file__).resolve().parent,
        INSTALLED_APPS=[
            "django.contrib.admin",
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.messages",
            "django.contrib.sessions",
            "rest_framework",
            "taggit",
            "n1lens_django",
            "shop",
            "printing.apps.PressConfig",
        ],
        MIDDLEWARE=[
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
            "django.contrib.messages.middleware.MessageMiddleware",
        ],
        TEMPLATES=[{
            "BACKEND": "django.template.backends.django.DjangoTemplates",
            "APP_DIRS": True,
            "OPTIONS": {"context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]},
        }],
        REST_FRAMEWORK={"DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"]},
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
        SECRET_KEY="n1lens-tests-not-a-secret",
        ALLOWED_HOSTS=["testserver"],
        USE_TZ=True,
        ROOT_URLCONF="shop.urls",
        N1LENS_IGNORE_VIEWS=["shop.views.health"],
    )
    tracing.setup(service_name="shop-tests", exporter=EXPORTER)
    django.setup()


@pytest.fixture(scope="session")
def exporter():
    return EXPORTER


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory):
    """A private PostgreSQL cluster (scripts/postgres.sh with its own state file) whose role may
    create the test database, as Django's test runner does."""
    state = tmp_path_factory.mktemp("postgres") / "postgres.env"
    env = {**os.environ, "N1LENS_PG_STATE": str(state)}
    script = Path(__file__).resolve().parents[3] / "scripts" / "postgres.sh"
    try:
        subprocess.run(["bash", script, "start"], env=env, check=True)
        url = subprocess.run(["bash", script, "url"], env=env, check=True, capture_output=True, text=True).stdout.strip()
        port = url.rsplit(":", 1)[1].split("/")[0]
        psql = Path(next(line.split("=", 1)[1] for line in state.read_text().splitlines() if line.startswith("PG_BIN="))) / "psql"
        subprocess.run([psql, "-q", "-h", "127.0.0.1", "-p", port, "-U", "postgres", "-d", "postgres",
                        "-c", "ALTER ROLE recruit CREATEDB"], check=True)
        yield url
    finally:
        subprocess.run(["bash", script, "stop"], env=env, check=False)
