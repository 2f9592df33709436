"""OpenTelemetry set-up for the recruit app; call setup_tracing() before Django loads.

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
from opentelemetry.instrumentation.django import DjangoInstrumentor
from opentelemetry.instrumentation.requests import RequestsInstrumentor
from opentelemetry.instrumentation.sqlite3 import SQLite3Instrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

_provider: TracerProvider | None = None


def _exporter():
    path = os.environ.get("N1LENS_TRACE_FILE")
    if path:
        from recruit.file_exporter import LengthDelimitedFileExporter

        return LengthDelimitedFileExporter(path)
    protocol = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or os.environ.get(
        "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"
    )
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()
    if protocol == "http/protobuf":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()
    raise ValueError(f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol!r}: use http/protobuf or grpc")


def setup_tracing(exit_on_sigterm: bool = False) -> TracerProvider:
    """Install the tracer provider and instrument Django, the DB drivers and requests.

    exit_on_sigterm: turn SIGTERM into a normal exit so the SDK's atexit shutdown exports what is
    still buffered (Python's default SIGTERM handling skips atexit). Only for processes that own
    their signals, such as `manage.py runserver`; not under a WSGI server.
    """
    global _provider
    if _provider is not None:
        return _provider
    # A dashboard request makes ~300 spans: export soon and keep a deep queue, so a driver's burst
    # is neither held back for the default 5 s nor dropped at the default 2048 spans.
    os.environ.setdefault("OTEL_BSP_SCHEDULE_DELAY", "500")
    os.environ.setdefault("OTEL_BSP_MAX_QUEUE_SIZE", "16384")

    resource = Resource.create(
        {
            "service.name": "recruit",
            "service.instance.id": str(uuid.uuid4()),
            "process.pid": os.getpid(),
            "host.name": socket.gethostname(),
        }
    )
    _provider = TracerProvider(resource=resource)
    _provider.add_span_processor(BatchSpanProcessor(_exporter()))
    trace.set_tracer_provider(_provider)

    # Django's sqlcommenter puts controller, route and traceparent into every statement the spans
    # record, for both backends. The drivers' own commenters stay off: with both on, each query
    # carries two comments (the instrumentation docs warn about exactly that), and the sqlite3
    # instrumentation has no commenter at all.
    DjangoInstrumentor().instrument(is_sql_commentor_enabled=True, excluded_urls="otel/flush")
    _instrument_postgres_driver()
    SQLite3Instrumentor().instrument()
    RequestsInstrumentor().instrument()

    if exit_on_sigterm:
        signal.signal(signal.SIGTERM, _exit_normally)
    return _provider


def _instrument_postgres_driver() -> None:
    driver = os.environ.get("RECRUIT_PG_DRIVER", "psycopg")
    if driver == "psycopg2":
        sys.modules["psycopg"] = None  # Django's backend then falls back to psycopg2
        from opentelemetry.instrumentation.psycopg2 import Psycopg2Instrumentor

        Psycopg2Instrumentor().instrument()
    elif driver == "psycopg":
        from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor

        PsycopgInstrumentor().instrument()
    else:
        raise ValueError(f"RECRUIT_PG_DRIVER={driver!r}: use psycopg or psycopg2")


def _exit_normally(signum, frame):
    raise SystemExit(0)


def force_flush(timeout_millis: int = 10000) -> bool:
    """Export every span ended so far; False if tracing is off or the export timed out."""
    return _provider.force_flush(timeout_millis) if _provider is not None else False
