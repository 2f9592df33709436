/** Jaeger and Zipkin JSON files: decoded to the same records as OTLP, streamed, gzip, and wrong JSON refused with what it looks like. */

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, describe, expect, test } from 'vitest';
import { TraceFileError } from './errors.js';
import { readTraceFile } from './file.js';
import { decodeJaegerTraces } from './jaeger.js';
import { decodeJsonValue } from './json.js';
import type { SpanRecord } from './span.js';
import { djangoRequest, gzip, type OtlpJsonRequest, type OtlpJsonSpan } from './testing.js';
import { decodeZipkinSpans } from './zipkin.js';

const dir = mkdtempSync(join(tmpdir(), 'n1lens-jaeger-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const KIND_NAMES = ['', 'internal', 'server', 'client', 'producer', 'consumer'];
const ZIPKIN_KINDS = [undefined, undefined, 'SERVER', 'CLIENT', 'PRODUCER', 'CONSUMER'];
const micros = (ns: string) => Number(BigInt(ns) / 1000n);
const scalar = (v: Record<string, unknown>) => v.stringValue ?? (v.intValue === undefined ? v.boolValue : Number(v.intValue));
const spansOf = (r: OtlpJsonRequest) => r.resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans));
const serviceOf = (r: OtlpJsonRequest) => String(scalar(r.resourceSpans[0]!.resource.attributes[0]!.value as Record<string, unknown>));

/** A Jaeger trace as the query API writes one (OTLP → Jaeger as Jaeger's own translator maps it). */
function toJaeger(request: OtlpJsonRequest): object {
  const spans = spansOf(request).map((s: OtlpJsonSpan) => ({
    traceID: s.traceId,
    spanID: s.spanId,
    operationName: s.name,
    references: s.parentSpanId ? [{ refType: 'CHILD_OF', traceID: s.traceId, spanID: s.parentSpanId }] : [],
    startTime: micros(s.startTimeUnixNano),
    duration: micros(s.endTimeUnixNano) - micros(s.startTimeUnixNano),
    tags: [
      ...s.attributes.map((a) => ({ key: a.key, type: 'string', value: scalar(a.value as Record<string, unknown>) })),
      { key: 'span.kind', type: 'string', value: KIND_NAMES[s.kind] },
    ],
    logs: [],
    processID: 'p1',
    warnings: null,
  }));
  return { traceID: spans[0]!.traceID, spans, processes: { p1: { serviceName: serviceOf(request), tags: [] } }, warnings: null };
}

/** The object with its keys in this order. */
function keysInOrder(value: object, keys: string[]): object {
  const entries = new Map(Object.entries(value));
  expect(keys.toSorted()).toEqual([...entries.keys()].toSorted());
  return Object.fromEntries(keys.map((k) => [k, entries.get(k)]));
}

/** Zipkin v2 spans for a request. */
function toZipkin(request: OtlpJsonRequest): object[] {
  return spansOf(request).map((s) => ({
    traceId: s.traceId,
    id: s.spanId,
    ...(s.parentSpanId ? { parentId: s.parentSpanId } : {}),
    ...(ZIPKIN_KINDS[s.kind] ? { kind: ZIPKIN_KINDS[s.kind] } : {}),
    name: s.name,
    timestamp: micros(s.startTimeUnixNano),
    duration: micros(s.endTimeUnixNano) - micros(s.startTimeUnixNano),
    localEndpoint: { serviceName: serviceOf(request) },
    tags: Object.fromEntries(s.attributes.map((a) => [a.key, String(scalar(a.value as Record<string, unknown>))])),
  }));
}

const requests = [
  djangoRequest({ traceId: '4bf92f3577b34da6a3ce929d0e0e4736', repeats: 6, semconv: 'old' }),
  djangoRequest({ traceId: '0af7651916cd43dd8448eb211c80319c', repeats: 3, semconv: 'stable' }),
];
const otlpSpans = requests.flatMap((r) => decodeJsonValue(r).spans);

function write(name: string, content: string | Uint8Array): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

async function read(source: string | NodeJS.ReadableStream): Promise<SpanRecord[]> {
  const spans: SpanRecord[] = [];
  for await (const batch of readTraceFile(source)) spans.push(...batch.spans);
  return spans;
}

async function readError(source: string | NodeJS.ReadableStream): Promise<TraceFileError> {
  try {
    await read(source);
  } catch (error) {
    return error as TraceFileError;
  }
  throw new Error('expected an error');
}

function chunked(text: string, size: number): Readable {
  const bytes = Buffer.from(text);
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size));
  return Readable.from(chunks);
}

const jaegerApi = JSON.stringify({ data: requests.map(toJaeger), total: 0, limit: 0, offset: 0, errors: null });
const jaegerUi = JSON.stringify({ data: requests.map(toJaeger) }, null, 2);
const zipkinSpans = JSON.stringify(requests.flatMap(toZipkin));
const zipkinTraces = JSON.stringify(requests.map(toZipkin), null, 1);

describe('Jaeger and Zipkin JSON give the records OTLP gives', () => {
  test('decoders map kinds, parents, services, microsecond times and old/stable db.* and http.* tags', () => {
    expect(decodeJaegerTraces(requests.map(toJaeger)).spans).toEqual(otlpSpans);
    expect(decodeZipkinSpans(requests.flatMap(toZipkin)).spans).toEqual(otlpSpans);
  });

  test.each([
    ['Jaeger query API {"data": [...]}', jaegerApi],
    ['Jaeger UI download, pretty-printed', jaegerUi],
    ['Zipkin v2 span list', zipkinSpans],
    ['Zipkin API list of traces', zipkinTraces],
    ['one Jaeger trace object', JSON.stringify(toJaeger(requests[0]!), null, 2) + '\n' + JSON.stringify(toJaeger(requests[1]!))],
    ['one Jaeger trace object whose first key is not one of its own', JSON.stringify(keysInOrder(toJaeger(requests[0]!), ['warnings', 'traceID', 'spans', 'processes']), null, 2) + '\n' + JSON.stringify(keysInOrder(toJaeger(requests[1]!), ['warnings', 'processes', 'spans', 'traceID']))],
  ])('%s: from a file, gzip, and a stream cut every 7 bytes', async (_name, text) => {
    expect(await read(write('plain.json', text))).toEqual(otlpSpans);
    expect(await read(write('z', gzip(text)))).toEqual(otlpSpans);
    expect(await read(chunked(text, 7))).toEqual(otlpSpans);
  });

  test('Jaeger: 64-bit trace ids are padded, FOLLOWS_FROM parents when there is no CHILD_OF, embedded process, error tag', () => {
    const trace = {
      traceID: 'a3ce929d0e0e4736',
      spans: [
        { traceID: 'a3ce929d0e0e4736', spanID: '00f067aa0ba902b7', operationName: 'task', references: [], startTime: 1_700_000_000_000_001, duration: 5, tags: [{ key: 'span.kind', type: 'string', value: 'consumer' }], process: { serviceName: 'worker' } },
        { traceID: 'a3ce929d0e0e4736', spanID: '00f067aa0ba902b8', operationName: 'q', references: [{ refType: 'FOLLOWS_FROM', traceID: 'a3ce929d0e0e4736', spanID: '00f067aa0ba902b7' }], startTime: 1_700_000_000_000_002, duration: 1, tags: [{ key: 'error', type: 'bool', value: true }, { key: 'db.system', type: 'string', value: 'mysql' }, { key: 'db.statement', type: 'string', value: 'SELECT 1' }], process: { serviceName: 'worker' } },
      ],
    };
    const [task, query] = decodeJaegerTraces([trace]).spans;
    expect(task).toMatchObject({ traceId: '0000000000000000a3ce929d0e0e4736', kind: 5, service: 'worker', parentSpanId: '', startMs: 1_700_000_000_000.001 });
    expect(query).toMatchObject({ parentSpanId: '00f067aa0ba902b7', error: true, dbSystem: 'mysql', dbStatement: 'SELECT 1' });
  });

  test('escaped quotes and backslashes in strings survive every chunk boundary', async () => {
    const tricky = 'SELECT "a\\" FROM "t\\\\" WHERE x = \'\\"}]\' -- \\';
    const trace = toJaeger(djangoRequest({ traceId: '5b8efff798038103d269b633813fc60c', repeats: 1 })) as { spans: { tags: { key: string; value: unknown }[] }[] };
    trace.spans[1]!.tags.find((t) => t.key === 'db.statement')!.value = tricky;
    const text = JSON.stringify({ data: [trace, trace] });
    for (const size of [1, 2, 3, 5]) {
      const spans = await read(chunked(text, size));
      expect(spans[1]!.dbStatement).toBe(tricky);
      expect(spans).toHaveLength(2 * trace.spans.length);
    }
  });
});

describe('JSON that is not trace data is refused with what it looks like', () => {
  test.each([
    ['{"foo":1}', 'not trace data (this looks like a JSON object with key "foo")'],
    ['{"resourceMetrics":[]}', 'this looks like an OTLP metrics export'],
    ['[{"a":1}]', 'element 0 of the top-level array is a JSON object with key "a"'],
    ['{"data":["recruit"],"total":1}', 'a Jaeger /api/services response'],
    ['{"data":null,"errors":[{"code":500,"msg":"storage down"}]}', 'an error response, not traces: storage down'],
    ['{"resourceSpans":[]}\n{"n1lensReport":1}\n', 'line 2: not trace data (this looks like an n1lens report'],
    ['"hello"\n', 'not trace data (this looks like a JSON string)'],
    ['42', 'not trace data (this looks like a JSON number)'],
  ])('%s', async (text, message) => {
    const error = await readError(write('bad.json', text));
    expect(error).toBeInstanceOf(TraceFileError);
    expect(error.message).toContain(message);
    expect(error.message).not.toContain('\n');
  });

  test('a huge skipped value is never held: a 40 MB unrelated field, then data', async () => {
    const text = `{"padding":"${'x'.repeat(40 * 1024 * 1024)}","data":${JSON.stringify(requests.map(toJaeger))}}`;
    expect(await read(chunked(text, 1024 * 1024))).toEqual(otlpSpans);
  });
});

describe('Zipkin spans the v2 reader cannot take as they are', () => {
  const ep = { serviceName: 'recruit', ipv4: '10.0.0.1' };
  const v1 = [
    { traceId: 'a3ce929d0e0e4736', id: '00000000000000b2', name: 'get', timestamp: 1_700_000_000_000_000, duration: 18, annotations: [{ timestamp: 1_700_000_000_000_000, value: 'sr', endpoint: ep }], binaryAnnotations: [{ key: 'http.route', value: 'dashboard/', endpoint: ep }] },
  ];

  test('Zipkin v1 (binaryAnnotations, or annotations with an endpoint) is refused in one line naming /api/v2/traces, not read as spans without tags', async () => {
    const annotationsOnly = [{ ...v1[0]!, binaryAnnotations: undefined }];
    for (const spans of [v1, annotationsOnly]) {
      expect(() => decodeZipkinSpans(spans)).toThrow(/\[0\] is a Zipkin v1 span .*export the traces from \/api\/v2\/traces/);
      const error = await readError(write('v1.json', JSON.stringify(spans)));
      expect(error).toBeInstanceOf(TraceFileError);
      expect(error.message).toContain('element 0 of the top-level array is a Zipkin v1 span');
      expect(error.message).not.toContain('\n');
    }
    // v1 as the API's list of traces too.
    expect((await readError(write('v1-traces.json', JSON.stringify([v1])))).message).toContain('is a Zipkin v1 span');
  });

  test('v2 annotations (timestamp and value, no endpoint) are still v2', () => {
    const spans = requests.flatMap(toZipkin).map((s) => ({ ...s, annotations: [{ timestamp: 1, value: 'wire send' }] }));
    expect(decodeZipkinSpans(spans).spans).toEqual(otlpSpans);
  });

  test('a span without timestamp (v2: "possibly absent if incomplete") is dropped and counted as no_timestamp; the rest is read', async () => {
    const incomplete = { traceId: '00000000000000000000000000000abc', id: '0000000000000abc', kind: 'CLIENT', name: 'get', localEndpoint: { serviceName: 'frontend' } };
    const spans = [...requests.flatMap(toZipkin), incomplete];
    const batch = decodeZipkinSpans(spans);
    expect(batch.spans).toEqual(otlpSpans);
    expect(batch.rejected).toEqual([{ reason: 'no_timestamp', count: 1 }]);
    expect(batch.ordinals).toEqual(otlpSpans.map((_, i) => i));
    expect(await read(write('incomplete.json', JSON.stringify(spans)))).toEqual(otlpSpans);
    // A timestamp that is there but not a number is still an error.
    expect(() => decodeZipkinSpans([{ ...incomplete, timestamp: 'soon' }])).toThrow('[0].timestamp is not a number of microseconds');
  });
});
