"""Writes a Django-shaped ExportTraceServiceRequest with Python's protobuf json_format (base64 ids, enum names)."""
import sys

from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

TRACE = bytes.fromhex("a3ce929d0e0e47364bf92f3577b34da6")
SERVER = bytes.fromhex("00f067aa0ba902b7")
BASE = 1_700_000_002_000_000_000


def kv(key, value):
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=value))


req = ExportTraceServiceRequest()
rs = req.resource_spans.add()
rs.resource.attributes.append(kv("service.name", "recruit"))
ss = rs.scope_spans.add()
ss.scope.name = "opentelemetry.instrumentation.django"
ss.spans.append(Span(
    trace_id=TRACE, span_id=SERVER, name="GET dashboard/", kind=Span.SPAN_KIND_SERVER,
    start_time_unix_nano=BASE, end_time_unix_nano=BASE + 8_000_000,
    attributes=[kv("http.method", "GET"), kv("http.route", "dashboard/"), kv("http.status_code", 200)],
    status=Status(code=Status.STATUS_CODE_UNSET),
))
for i in range(3):
    ss.spans.append(Span(
        trace_id=TRACE, span_id=bytes.fromhex("00f067aa0ba902c%d" % i), parent_span_id=SERVER,
        name="SELECT", kind=Span.SPAN_KIND_CLIENT,
        start_time_unix_nano=BASE + (i + 1) * 1_000_000, end_time_unix_nano=BASE + (i + 1) * 1_000_000 + 250_000,
        attributes=[kv("db.system", "postgresql"), kv("net.peer.name", "db"),
                    kv("db.statement", 'SELECT "recruit_job"."id" FROM "recruit_job" WHERE "recruit_job"."id" = %d LIMIT 21' % (i + 1))],
    ))

camel = json_format.MessageToJson(req)
snake = json_format.MessageToJson(req, preserving_proto_field_name=True)
open(sys.argv[1] + "-camel.json", "w").write(camel + "\n")
open(sys.argv[1] + "-snake.json", "w").write(snake + "\n")
open(sys.argv[1] + ".pb", "wb").write(req.SerializeToString())
