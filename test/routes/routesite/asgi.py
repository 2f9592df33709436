"""uvicorn routesite.asgi:application: OpenTelemetry's ASGI middleware around Django."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "routesite.settings")

from routesite.tracing import setup  # noqa: E402

setup()

from django.core.asgi import get_asgi_application  # noqa: E402
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware  # noqa: E402

application = OpenTelemetryMiddleware(get_asgi_application())
