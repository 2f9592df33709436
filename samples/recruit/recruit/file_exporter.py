"""A SpanExporter that appends each export batch to a file as a length-delimited OTLP protobuf
ExportTraceServiceRequest (4-byte big-endian length, then the message): the Collector file
exporter's proto format, which n1lens reads. Used to record test fixtures from the real SDK.

Encoding is the official OTLP exporters' own (`encode_spans`), so the bytes are what an OTLP
receiver would get over the wire.
"""

import struct
import threading
from collections.abc import Sequence

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult


class LengthDelimitedFileExporter(SpanExporter):
    def __init__(self, path: str):
        self._file = open(path, "ab")  # append: one recording may span several app runs
        self._lock = threading.Lock()  # force_flush can export from a request thread

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        message = encode_spans(spans).SerializeToString()
        with self._lock:
            self._file.write(struct.pack(">I", len(message)) + message)
            self._file.flush()
        return SpanExportResult.SUCCESS

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True  # export() already flushed the file

    def shutdown(self) -> None:
        with self._lock:
            self._file.close()


def read_requests(path: str):
    """Yield the ExportTraceServiceRequest messages of a length-delimited file, in order."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    with open(path, "rb") as fh:
        while header := fh.read(4):
            (length,) = struct.unpack(">I", header)
            yield ExportTraceServiceRequest.FromString(fh.read(length))
