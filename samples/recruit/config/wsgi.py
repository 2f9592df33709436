"""WSGI entry point; starts tracing before Django loads, like manage.py runserver does."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from recruit.otel import setup_tracing  # noqa: E402  (tracing must wrap Django before setup)

setup_tracing()

from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()
