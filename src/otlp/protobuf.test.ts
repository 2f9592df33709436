/** Tests for the OTLP/protobuf decoder and the schema it loads. */

import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { OtlpDecodeError } from './errors.js';
import { decodeJsonRequest } from './json.js';
import { decodeProtobufRequest } from './protobuf.js';
import { loadOtlpSchema, otlpSchema } from './schema.js';
import { SpanKind } from './span.js';
import { djangoRequest, encodeProtobuf, int, spanIdAt, str } from './testing.js';
import type { OtlpJsonRequest, OtlpJsonSpan } from './testing.js';

function requestWith(spans: OtlpJsonSpan[]): OtlpJsonRequest {
  return { resourceSpans: [{ resource: { attributes: [] }, scopeSpans: [{ scope: { name: 't' }, spans }] }] };
}

const span: OtlpJsonSpan = {
  traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
  spanId: '00f067aa0ba902b7',
  name: 'SELECT',
  kind: 3,
  startTimeUnixNano: '1700000000000000000',
  endTimeUnixNano: '1700000000001000000',
  attributes: [],
};

describe('decodeProtobufRequest', () => {
  test('decodes a Django request to the same records as its JSON form', () => {
    for (const semconv of ['old', 'stable'] as const) {
      const request = djangoRequest({ semconv, repeats: 4 });
      const batch = decodeProtobufRequest(encodeProtobuf(request));
      expect(batch.spans).toHaveLength(6);
      expect(batch.spans[0]).toMatchObject({ kind: SpanKind.SERVER, httpRoute: 'dashboard/', httpMethod: 'GET' });
      expect(batch).toEqual(decodeJsonRequest(request));
    }
  });

  test('reads 64-bit times exactly enough to order spans a nanosecond apart', () => {
    const batch = decodeProtobufRequest(encodeProtobuf(requestWith([{ ...span, endTimeUnixNano: '1699999999999999999' }])));
    expect(batch.rejected).toEqual([{ reason: 'end_before_start', count: 1 }]);
  });

  test('reads a non-string attribute value as its string form, not as the empty default', () => {
    const [record] = decodeProtobufRequest(encodeProtobuf(requestWith([{ ...span, attributes: [int('http.route', 42)] }]))).spans;
    expect(record!.httpRoute).toBe('42');
  });

  test('counts spans with wrong-length ids as rejected', () => {
    const batch = decodeProtobufRequest(
      encodeProtobuf(
        requestWith([
          span,
          { ...span, traceId: 'abcd' },
          { ...span, spanId: '00f067aa0ba902' },
          { ...span, parentSpanId: '00f067aa0ba902b700' },
          { ...span, spanId: '' },
        ]),
      ),
    );
    expect(batch.spans).toHaveLength(1);
    expect(batch.rejected).toEqual([
      { reason: 'bad_trace_id', count: 1 },
      { reason: 'bad_span_id', count: 2 },
      { reason: 'bad_parent_span_id', count: 1 },
    ]);
  });

  test('takes service.name from each resource', () => {
    const request = djangoRequest({ service: 'web', repeats: 1 });
    request.resourceSpans.push({ resource: { attributes: [str('service.name', 'worker')] }, scopeSpans: [{ scope: { name: 'celery' }, spans: [{ ...span, spanId: spanIdAt(span.traceId, 9) }] }] });
    const services = decodeProtobufRequest(encodeProtobuf(request)).spans.map((s) => s.service);
    expect(services).toEqual(['web', 'web', 'web', 'worker']);
  });

  test('decodes messages whose fields come in reverse order, as the Collector writes them', () => {
    const bytes = readFileSync(new URL('./testdata/collector-file-exporter.binpb', import.meta.url));
    const length = bytes.readUInt32BE(0);
    const batch = decodeProtobufRequest(bytes.subarray(4, 4 + length));
    expect(batch.spans.map((s) => s.name)).toEqual(['GET dashboard/', 'SELECT', 'SELECT', 'SELECT', 'SELECT', 'POST']);
    expect(batch.spans[1]).toMatchObject({ dbSystem: 'postgresql', peer: 'db', parentSpanId: '5b8efff700000001' });
  });

  test('decodes an empty body to an empty batch', () => {
    expect(decodeProtobufRequest(new Uint8Array(0))).toEqual({ spans: [], rejected: [] });
  });

  test.each([
    ['a truncated message', () => encodeProtobuf(djangoRequest()).subarray(0, 50)],
    ['JSON text', () => Buffer.from('{"resourceSpans":[]}')],
    ['an invalid wire type', () => Uint8Array.of(0x0f, 0x00)],
  ])('throws OtlpDecodeError on %s', (_name, bytes) => {
    expect(() => decodeProtobufRequest(bytes())).toThrow(OtlpDecodeError);
    expect(() => decodeProtobufRequest(bytes())).toThrow(/^invalid OTLP protobuf ExportTraceServiceRequest \(/);
  });
});

describe('schema', () => {
  test('loads the message types and the TraceService', () => {
    const schema = loadOtlpSchema();
    expect(schema.ExportTraceServiceRequest.fullName).toBe('.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest');
    expect(Object.keys(schema.TraceService.methods)).toEqual(['Export']);
    expect(schema.root.lookupType('opentelemetry.proto.trace.v1.Span').fields['flags']!.id).toBe(16);
  });

  test('returns one shared schema from otlpSchema', () => {
    expect(otlpSchema()).toBe(otlpSchema());
  });

  test('round-trips a partial-success response and a Status carrying RetryInfo', () => {
    const { ExportTraceServiceResponse, Status, RetryInfo } = otlpSchema();
    const response = ExportTraceServiceResponse.encode({ partialSuccess: { rejectedSpans: 3, errorMessage: '3 spans had bad ids' } }).finish();
    expect(ExportTraceServiceResponse.toObject(ExportTraceServiceResponse.decode(response), { longs: Number })).toEqual({
      partialSuccess: { rejectedSpans: 3, errorMessage: '3 spans had bad ids' },
    });
    const retry = RetryInfo.encode({ retryDelay: { seconds: 5, nanos: 0 } }).finish();
    const status = Status.encode({ code: 8, message: 'busy', details: [{ typeUrl: 'type.googleapis.com/google.rpc.RetryInfo', value: retry }] }).finish();
    const decoded = Status.toObject(Status.decode(status)) as { code: number; details: { typeUrl: string; value: Uint8Array }[] };
    expect(decoded.code).toBe(8);
    expect(RetryInfo.toObject(RetryInfo.decode(decoded.details[0]!.value), { longs: Number })).toEqual({ retryDelay: { seconds: 5 } });
  });
});
