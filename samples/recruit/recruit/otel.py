"""OpenTelemetry set-up for the recruit app; call setup_tracing() before Django loads.

n1lens_django.tracing.setup() does the work: TracerProvider, OTLP exporter from the OTEL_*
variables, Django (with sqlcommenter), psycopg, sqlite3 and requests instrumentation, and the
processor that puts the code location (view line, template line) on every query span.
Spans go to, in order of precedence:
  N1LENS_TRACE_FILE=path            a length-delimited OTLP protobuf file (file_exporter.py)
  OTEL_EXPORTER_OTLP_PROTOCOL=grpc  OTLP/gRPC at OTEL_EXPORTER_OTLP_ENDPOINT (default :4317)
  otherwise                         OTLP/HTTP protobuf at OTEL_EXPORTER_OTLP_ENDPOINT (default :4318)
Semantic conventions follow OTEL_SEMCONV_STABILITY_OPT_IN as the instrumentations read it: unset
gives the old names (db.statement, http.method), "database,http" the stable ones (db.query.text,
http.request.method).
"""

import os
import signal

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from n1lens_django.tracing import setup


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
    exporter = None
    path = os.environ.get("N1LENS_TRACE_FILE")
    if path:
        from recruit.file_exporter import LengthDelimitedFileExporter

        exporter = LengthDelimitedFileExporter(path)
    provider = setup(service_name="recruit", exporter=exporter)
    if exit_on_sigterm:
        signal.signal(signal.SIGTERM, _exit_normally)
    return provider


def _exit_normally(signum, frame):
    raise SystemExit(0)


def force_flush(timeout_millis: int = 10000) -> bool:
    """Export every span ended so far; False if tracing is off or the export timed out."""
    provider = trace.get_tracer_provider()
    return provider.force_flush(timeout_millis) if isinstance(provider, TracerProvider) else False
