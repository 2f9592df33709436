"""OpenTelemetry set-up for the recruit app; call setup_tracing() before Django loads.

n1lens_django.tracing.setup() does the work: it reuses the provider made here, adds the exporter,
instruments Django (with sqlcommenter), psycopg / psycopg2, sqlite3 and requests, and adds the
processor that puts the code location (view line, template line) on every query span.
Spans go to, in order of precedence:
  N1LENS_TRACE_FILE=path            a length-delimited OTLP protobuf file (file_exporter.py)
  OTEL_EXPORTER_OTLP_PROTOCOL=grpc  OTLP/gRPC at OTEL_EXPORTER_OTLP_ENDPOINT (default :4317)
  otherwise                         OTLP/HTTP protobuf at OTEL_EXPORTER_OTLP_ENDPOINT (default :4318)
Semantic conventions follow OTEL_SEMCONV_STABILITY_OPT_IN as the instrumentations read it: unset
gives the old names (db.statement, http.method), "database,http" the stable ones (db.query.text,
http.request.method).
PostgreSQL driver: RECRUIT_PG_DRIVER=psycopg (default, psycopg 3) or psycopg2. Django prefers psycopg 3
when both are importable, so psycopg2 is chosen by making `import psycopg` fail in this process.
The resource carries service.instance.id, process.pid and host.name: under gunicorn every worker
is its own process with its own connections, and n1lens's connection_pressure counts per process.
"""

import os
import signal
import socket
import sys
import uuid

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

from n1lens_django.tracing import exporter_from_environment, setup


def setup_tracing(exit_on_sigterm: bool = False) -> TracerProvider:
    """Trace this process (idempotent).

    exit_on_sigterm: turn SIGTERM into a normal exit so the SDK's atexit shutdown exports what is
    still buffered (Python's default SIGTERM handling skips atexit). Only for processes that own
    their signals, such as `manage.py runserver`; not under a WSGI server.
    """
    # A dashboard request makes ~300 spans: export soon and keep a deep queue, so a driver's burst
    # is neither held back for the default 5 s nor dropped at the default 2048 spans.
    os.environ.setdefault("OTEL_BSP_SCHEDULE_DELAY", "500")
    os.environ.setdefault("OTEL_BSP_MAX_QUEUE_SIZE", "16384")
    os.environ.setdefault("OTEL_PYTHON_DJANGO_EXCLUDED_URLS", "otel/flush")
    _choose_postgres_driver()
    exporter = None
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        # The app's own provider, for its per-process resource; setup() reuses it.
        resource = Resource.create(
            {
                "service.name": "recruit",
                "service.instance.id": str(uuid.uuid4()),
                "process.pid": os.getpid(),
                "host.name": socket.gethostname(),
            }
        )
        trace.set_tracer_provider(TracerProvider(resource=resource))
        path = os.environ.get("N1LENS_TRACE_FILE")
        if path:
            from recruit.file_exporter import LengthDelimitedFileExporter

            exporter = LengthDelimitedFileExporter(path)
        else:
            exporter = exporter_from_environment()
    provider = setup(exporter=exporter)
    if exit_on_sigterm:
        signal.signal(signal.SIGTERM, _exit_normally)
    return provider


def _choose_postgres_driver() -> None:
    driver = os.environ.get("RECRUIT_PG_DRIVER", "psycopg")
    if driver == "psycopg2":
        sys.modules["psycopg"] = None  # Django's backend then falls back to psycopg2
    elif driver != "psycopg":
        raise ValueError(f"RECRUIT_PG_DRIVER={driver!r}: use psycopg or psycopg2")


def _exit_normally(signum, frame):
    raise SystemExit(0)


def force_flush(timeout_millis: int = 10000) -> bool:
    """Export every span ended so far; False if tracing is off or the export timed out."""
    provider = trace.get_tracer_provider()
    return provider.force_flush(timeout_millis) if isinstance(provider, TracerProvider) else False
