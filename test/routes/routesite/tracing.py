"""Tracing for the route tests: the real SDK, Django + sqlite3 instrumentation, and an exporter that
appends length-delimited OTLP protobuf (what n1-report reads) plus a span summary for assertions."""

import json
import os
import struct

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.instrumentation.django import DjangoInstrumentor
from opentelemetry.instrumentation.sqlite3 import SQLite3Instrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult


class FileExporter(SpanExporter):
    def __init__(self, path: str):
        self.path = path

    def export(self, spans):
        message = encode_spans(spans).SerializeToString()
        with open(self.path, "ab") as f:
            f.write(struct.pack(">I", len(message)) + message)
        with open(self.path + ".summary.jsonl", "a") as f:
            for s in spans:
                f.write(json.dumps({"name": s.name, "kind": s.kind.name, "route": s.attributes.get("http.route")}) + "\n")
        return SpanExportResult.SUCCESS

    def shutdown(self):
        pass


def setup():
    provider = TracerProvider(resource=Resource.create({"service.name": "routes"}))
    provider.add_span_processor(SimpleSpanProcessor(FileExporter(os.environ["N1LENS_TRACE_FILE"])))
    trace.set_tracer_provider(provider)
    DjangoInstrumentor().instrument()
    SQLite3Instrumentor().instrument()
