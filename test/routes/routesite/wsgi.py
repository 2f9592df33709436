"""python -m routesite.wsgi PORT: OpenTelemetry's WSGI middleware around Django, under wsgiref."""

import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "routesite.settings")

from routesite.tracing import setup  # noqa: E402

setup()

from django.core.wsgi import get_wsgi_application  # noqa: E402
from opentelemetry.instrumentation.wsgi import OpenTelemetryMiddleware  # noqa: E402

application = OpenTelemetryMiddleware(get_wsgi_application())

if __name__ == "__main__":
    from wsgiref.simple_server import make_server

    make_server("127.0.0.1", int(sys.argv[1]), application).serve_forever()
