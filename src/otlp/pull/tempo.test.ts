/**
 * The Tempo client against a loopback server that answers as Tempo's published HTTP API documents it
 * (GET /api/echo, GET /api/search?q=&start=&end=&limit=&spss= with {"traces": [...], "metrics": {...}},
 * GET /api/traces/<id> as OTLP protobuf when asked with Accept: application/protobuf). Tempo itself
 * is AGPL and not available here.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { decodeJsonValue } from '../json.js';
import type { SpanRecord } from '../span.js';
import { djangoRequest, withInstrumentationLibrary, type OtlpJsonRequest } from '../testing.js';
import { connection, openTraceSource, PullError, traceQl, type PullStats } from './index.js';
import { idOf, startFakeTempo, traceQlMatches, type FakeTempo } from './testing.js';

const BASE_NS = 1_760_000_000_000_000_000n;
/** 30 traces, one a second, newest last; trace 7 always fails with 500, trace 3 gets a 429 first. */
const traces: OtlpJsonRequest[] = Array.from({ length: 30 }, (_, i) =>
  djangoRequest({ traceId: (i + 1).toString(16).padStart(32, 'a'), repeats: 5 + (i % 3), startNs: BASE_NS + BigInt(i) * 1_000_000_000n }),
);
const FAILING = idOf(traces[7]!);
const THROTTLED_ONCE = idOf(traces[3]!);

let tempo: FakeTempo;
let base: string;
beforeAll(async () => {
  tempo = await startFakeTempo(traces, { failing: [FAILING], throttledOnce: [THROTTLED_ONCE] });
  base = tempo.url;
});
afterAll(() => tempo.close());

const byId = (spans: SpanRecord[]) => [...spans].sort((a, b) => (a.traceId + a.spanId).localeCompare(b.traceId + b.spanId));

describe('Tempo client', () => {
  test('pages a TraceQL search backwards in time, fetches each trace as protobuf with at most 4 in flight, retries a 429, counts a failing trace and goes on', async () => {
    const { base: url, headers } = connection(base, ['Authorization: Bearer secret']);
    const source = await openTraceSource(url, { headers, pageSize: 8, concurrency: 4, backoffMs: 1, retries: 2 });
    expect(source.api).toContain('Tempo');
    const stats: PullStats = { fetched: 0, failed: 0, failures: [] };
    const spans: SpanRecord[] = [];
    const startMs = Number(BASE_NS / 1_000_000n) - 1000;
    for await (const batch of source.traces({ service: 'recruit', startMs, endMs: startMs + 60_000, limit: 1000 }, stats)) spans.push(...batch.spans);

    const expected = traces.filter((t) => idOf(t) !== FAILING).flatMap((t) => decodeJsonValue(t).spans);
    expect(byId(spans)).toEqual(byId(expected));
    expect(stats).toMatchObject({ fetched: 29, failed: 1 });
    expect(stats.failures[0]).toContain(FAILING);
    expect(stats.failures[0]).toContain('HTTP 500 after 3 tries');
    expect(tempo.log.searches.length).toBeGreaterThanOrEqual(4);
    expect(tempo.log.searches[0]!.get('q')).toBe('{ resource.service.name = "recruit" }');
    expect(tempo.log.searches.every((s) => s.get('limit') === '8' && s.get('spss') === '1')).toBe(true);
    expect(tempo.log.maxInFlight).toBeLessThanOrEqual(4);
    expect(tempo.log.maxInFlight).toBeGreaterThan(1);
    expect(tempo.log.accepts.every((a) => a === 'application/protobuf')).toBe(true);
  });

  test('--limit caps the traces pulled', async () => {
    const { base: url, headers } = connection(base, ['Authorization: Bearer secret']);
    const source = await openTraceSource(url, { headers, pageSize: 4 });
    const stats: PullStats = { fetched: 0, failed: 0, failures: [] };
    const ids = new Set<string>();
    const startMs = Number(BASE_NS / 1_000_000n) - 1000;
    for await (const batch of source.traces({ startMs, endMs: startMs + 60_000, limit: 6 }, stats)) for (const s of batch.spans) ids.add(s.traceId);
    expect(ids.size).toBe(6);
    expect(stats.fetched).toBe(6);
  });

  test('a JSON answer in Tempo 1.x\'s shape ("batches" of instrumentationLibrarySpans) gives the spans the protobuf one does', async () => {
    const old = await startFakeTempo(traces.slice(0, 3), { json: (t) => ({ batches: (withInstrumentationLibrary(t) as { resourceSpans: object[] }).resourceSpans }) });
    try {
      const { base: url, headers } = connection(old.url, ['Authorization: Bearer secret']);
      const source = await openTraceSource(url, { headers });
      const stats: PullStats = { fetched: 0, failed: 0, failures: [] };
      const spans: SpanRecord[] = [];
      const startMs = Number(BASE_NS / 1_000_000n) - 1000;
      for await (const batch of source.traces({ startMs, endMs: startMs + 60_000, limit: 100 }, stats)) spans.push(...batch.spans);
      expect(stats).toMatchObject({ fetched: 3, failed: 0 });
      expect(byId(spans)).toEqual(byId(traces.slice(0, 3).flatMap((t) => decodeJsonValue(t).spans)));
    } finally {
      await old.close();
    }
  });

  test('TraceQL quotes the service name', () => {
    expect(traceQl('a"b\\c')).toBe('{ resource.service.name = "a\\"b\\\\c" }');
    expect(traceQl(undefined)).toBe('{ }');
  });

  test('a Celery task (root CONSUMER span, a request per DESIGN) is pulled as a Django view is: no kind filter in the TraceQL', async () => {
    const view = djangoRequest({ traceId: 'a1'.repeat(16), repeats: 6, startNs: BASE_NS });
    const task = djangoRequest({ traceId: 'b2'.repeat(16), repeats: 6, startNs: BASE_NS + 1_000_000_000n });
    const root = task.resourceSpans[0]!.scopeSpans[0]!.spans[0]!;
    root.kind = 5;
    root.name = 'run/recruit.tasks.sync';
    root.attributes = [];
    const other = djangoRequest({ traceId: 'c3'.repeat(16), repeats: 6, startNs: BASE_NS + 2_000_000_000n, service: 'billing' });
    // The fake evaluates the query: the old one found the view only.
    expect([view, task, other].filter((t) => traceQlMatches('{ resource.service.name = "recruit" && kind = server }', t))).toEqual([view]);
    const fake = await startFakeTempo([view, task, other]);
    try {
      const { base: url, headers } = connection(fake.url, ['Authorization: Bearer secret']);
      const source = await openTraceSource(url, { headers });
      const stats: PullStats = { fetched: 0, failed: 0, failures: [] };
      const ids = new Set<string>();
      const startMs = Number(BASE_NS / 1_000_000n) - 1000;
      for await (const batch of source.traces({ service: 'recruit', startMs, endMs: startMs + 60_000, limit: 100 }, stats)) for (const span of batch.spans) ids.add(span.traceId);
      expect([...ids].sort()).toEqual([idOf(view), idOf(task)]);
    } finally {
      await fake.close();
    }
  });

  test('a 401 is one line that says how to pass credentials', async () => {
    const { base: url, headers } = connection(base, ['Authorization: Bearer wrong']);
    const error = await openTraceSource(url, { headers }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PullError);
    expect((error as Error).message).toMatch(/HTTP 401 unauthorized: pass credentials with --header/);
  });

  test('user:password in the URL becomes basic auth, and a bad --header is refused', () => {
    const { base: url, headers } = connection('http://me:p%40ss@127.0.0.1:3200/tempo', []);
    expect(url.href).toBe('http://127.0.0.1:3200/tempo');
    expect(headers.Authorization).toBe(`Basic ${Buffer.from('me:p@ss').toString('base64')}`);
    expect(() => connection(base, ['no colon here'])).toThrow(/is not "Name: value"/);
  });

  test('a password with a % that is not percent-encoding (50%off) is basic auth as typed, not a URIError', () => {
    const { base: url, headers } = connection('http://me:50%off@127.0.0.1:3200', []);
    expect(url.href).toBe('http://127.0.0.1:3200/');
    expect(headers.Authorization).toBe(`Basic ${Buffer.from('me:50%off').toString('base64')}`);
    expect(connection('http://100%25:x%2@h', []).headers.Authorization).toBe(`Basic ${Buffer.from('100%:x%2').toString('base64')}`);
  });
});
