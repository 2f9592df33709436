"""Configures a minimal Django project for the tests: auth, contenttypes, sessions, admin, Django
REST framework and the `shop` test app, traced by n1lens_django.tracing.setup() into an in-memory
exporter (set up before Django loads, as a project's wsgi.py or manage.py would)."""

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
