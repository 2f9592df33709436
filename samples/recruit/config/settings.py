"""Settings for the recruit sample app: a small, deterministic copy of the seed case study's app.

Database from the environment:
  RECRUIT_DB=sqlite (default)  file at RECRUIT_SQLITE_PATH, default <tmpdir>/n1lens-recruit.sqlite3
  RECRUIT_DB=postgres          RECRUIT_DATABASE_URL=postgresql://user[:password]@host:port/name
                               (what `scripts/postgres.sh url` prints)
RECRUIT_CONN_MAX_AGE=<seconds>  Django's CONN_MAX_AGE (default 0: a new connection per request,
                                Django's own default); "none" keeps connections open for ever.
"""

import os
import tempfile
from pathlib import Path
from urllib.parse import unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

# A sample app on loopback only: a fixed key keeps sessions valid across restarts of a recording.
SECRET_KEY = "n1lens-recruit-sample-not-a-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "n1lens_django",
    "recruit",
]

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]

ROOT_URLCONF = "config.urls"
# Untraced (otel.py excludes it): without this, n1lens's dead_view would list it.
N1LENS_IGNORE_VIEWS = ["recruit.views.flush_traces"]
WSGI_APPLICATION = "config.wsgi.application"
LOGIN_URL = "/login/"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    }
]


def _conn_max_age() -> int | None:
    value = os.environ.get("RECRUIT_CONN_MAX_AGE", "0")
    if value == "none":
        return None
    if not value.isdigit():
        raise ImproperlyConfigured(f"RECRUIT_CONN_MAX_AGE must be seconds or none, not {value!r}")
    return int(value)


def _database() -> dict:
    kind = os.environ.get("RECRUIT_DB", "sqlite")
    if kind == "sqlite":
        default_path = Path(tempfile.gettempdir()) / "n1lens-recruit.sqlite3"
        return {
            "CONN_MAX_AGE": _conn_max_age(),
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("RECRUIT_SQLITE_PATH", str(default_path)),
        }
    if kind == "postgres":
        url = os.environ.get("RECRUIT_DATABASE_URL")
        if not url:
            raise ImproperlyConfigured("RECRUIT_DB=postgres needs RECRUIT_DATABASE_URL")
        parts = urlsplit(url)
        return {
            "CONN_MAX_AGE": _conn_max_age(),
            "ENGINE": "django.db.backends.postgresql",
            "NAME": parts.path.lstrip("/"),
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "",
            "PORT": str(parts.port or ""),
        }
    raise ImproperlyConfigured(f"RECRUIT_DB must be sqlite or postgres, not {kind!r}")


DATABASES = {"default": _database()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Where submit_application's outbound calls go (stub_services.py).
RECRUIT_STUB_URL = os.environ.get("RECRUIT_STUB_URL", "http://127.0.0.1:8765")

USE_TZ = True
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en-gb"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("RECRUIT_LOG_LEVEL", "WARNING")},
}
