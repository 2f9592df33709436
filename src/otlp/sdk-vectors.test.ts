/** Decodes payloads serialised by the official OpenTelemetry JS SDK (otlp-transformer), as exporters send them. */

import { describe, expect, test } from 'vitest';
import { context, SpanKind as ApiSpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { HrTime } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
// Not a direct dependency: installed with the OTLP exporters, which serialise with exactly these.
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { decodeJsonRequest } from './json.js';
import { decodeProtobufRequest } from './protobuf.js';
import { SpanKind } from './span.js';
import type { DecodedBatch } from './span.js';

const T0: HrTime = [1_700_000_000, 123_456_789];
const at = (ms: number): HrTime => [T0[0], T0[1] + ms * 1e6];
const T0_MS = 1_700_000_000_123.456789;

/** A Django-like request: SERVER span, two CLIENT DB spans (old and stable names), an outbound call. */
async function djangoSpans(): Promise<ReadableSpan[]> {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'recruit' }),
    spanProcessors: [new SimpleSpanProcessor(exporter)],
  });
  const tracer = provider.getTracer('opentelemetry.instrumentation.django', '0.48b0');
  const server = tracer.startSpan('GET dashboard/', {
    kind: ApiSpanKind.SERVER,
    startTime: T0,
    attributes: { 'http.method': 'GET', 'http.route': 'dashboard/', 'http.status_code': 500 },
  });
  const inRequest = trace.setSpan(context.active(), server);
  const oldDb = tracer.startSpan(
    'SELECT',
    {
      kind: ApiSpanKind.CLIENT,
      startTime: at(1),
      attributes: {
        'db.system': 'postgresql',
        'db.statement': 'SELECT "recruit_application"."id" FROM "recruit_application"',
        'net.peer.name': 'db',
      },
    },
    inRequest,
  );
  oldDb.end(at(1.5));
  const stableDb = tracer.startSpan(
    'SELECT recruit_candidate',
    {
      kind: ApiSpanKind.CLIENT,
      startTime: at(2),
      attributes: {
        'db.system.name': 'postgresql',
        'db.query.text': 'SELECT "recruit_candidate"."id" FROM "recruit_candidate" WHERE "recruit_candidate"."id" = %s LIMIT 21',
        'server.address': 'db.internal',
        'server.port': 5432,
      },
    },
    inRequest,
  );
  stableDb.end(at(2.25));
  const outbound = tracer.startSpan(
    'POST',
    { kind: ApiSpanKind.CLIENT, startTime: at(3), attributes: { 'http.request.method': 'POST', 'url.full': 'https://Hooks.Slack.com:443/x?y=1' } },
    inRequest,
  );
  outbound.end(at(4));
  server.setStatus({ code: SpanStatusCode.ERROR, message: 'boom' });
  server.end(at(5));
  await provider.forceFlush();
  const spans = exporter.getFinishedSpans();
  await provider.shutdown();
  return spans;
}

function expectDjangoRecords(batch: DecodedBatch, spans: ReadableSpan[]): void {
  expect(batch.rejected).toEqual([]);
  const byName = new Map(batch.spans.map((s) => [s.name, s]));
  const sdk = new Map(spans.map((s) => [s.name, s.spanContext()]));
  const traceId = sdk.get('GET dashboard/')!.traceId;
  const serverId = sdk.get('GET dashboard/')!.spanId;

  expect(byName.get('GET dashboard/')).toEqual({
    traceId,
    spanId: serverId,
    parentSpanId: '',
    name: 'GET dashboard/',
    kind: SpanKind.SERVER,
    startMs: expect.closeTo(T0_MS, 6),
    endMs: expect.closeTo(T0_MS + 5, 6),
    service: 'recruit',
    httpMethod: 'GET',
    httpRoute: 'dashboard/',
    // The SERVER span's http.status_code (a CLIENT span's is not kept).
    httpStatus: 500,
    error: true,
  });
  expect(byName.get('SELECT')).toEqual({
    traceId,
    spanId: sdk.get('SELECT')!.spanId,
    parentSpanId: serverId,
    name: 'SELECT',
    kind: SpanKind.CLIENT,
    startMs: expect.closeTo(T0_MS + 1, 6),
    endMs: expect.closeTo(T0_MS + 1.5, 6),
    service: 'recruit',
    dbSystem: 'postgresql',
    dbStatement: 'SELECT "recruit_application"."id" FROM "recruit_application"',
    peer: 'db',
  });
  expect(byName.get('SELECT recruit_candidate')).toMatchObject({
    parentSpanId: serverId,
    kind: SpanKind.CLIENT,
    dbSystem: 'postgresql',
    dbStatement: expect.stringContaining('WHERE "recruit_candidate"."id" = %s LIMIT 21'),
    peer: 'db.internal',
  });
  expect(byName.get('SELECT recruit_candidate')!.endMs - byName.get('SELECT recruit_candidate')!.startMs).toBeCloseTo(0.25, 6);
  expect(byName.get('POST')).toMatchObject({ httpMethod: 'POST', peer: 'hooks.slack.com' });
  expect(byName.get('POST')!.error).toBeUndefined();
}

describe('payloads from the OpenTelemetry JS SDK', () => {
  test('decodes the protobuf body an OTLP/HTTP protobuf exporter sends into span records', async () => {
    const spans = await djangoSpans();
    const body = ProtobufTraceSerializer.serializeRequest(spans);
    expect(body).toBeInstanceOf(Uint8Array);
    expectDjangoRecords(decodeProtobufRequest(body!), spans);
  });

  test('decodes the JSON body an OTLP/HTTP JSON exporter sends into the same span records', async () => {
    const spans = await djangoSpans();
    const body = JsonTraceSerializer.serializeRequest(spans);
    const text = new TextDecoder().decode(body);
    expect(text).toContain('"traceId"');
    expectDjangoRecords(decodeJsonRequest(text), spans);
  });

  test('decodes both encodings of one request to identical records', async () => {
    const spans = await djangoSpans();
    const fromProtobuf = decodeProtobufRequest(ProtobufTraceSerializer.serializeRequest(spans)!);
    const fromJson = decodeJsonRequest(new TextDecoder().decode(JsonTraceSerializer.serializeRequest(spans)));
    expect(fromJson).toEqual(fromProtobuf);
  });
});
