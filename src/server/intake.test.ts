import { readdirSync, readFileSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { deflateSync, gunzipSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { Analyzer } from '../analyzer.js';
import { timelineReleased } from '../detect/request.js';
import type { RequestAnalysis } from '../detect/types.js';
import { decodeJsonRequest } from '../otlp/json.js';
import { decodeProtobufRequest } from '../otlp/protobuf.js';
import { SpanKind, type SpanRecord } from '../otlp/span.js';
import { djangoRequest, encodeProtobuf, spanIdAt, type OtlpJsonRequest, type OtlpJsonSpan } from '../otlp/testing.js';
import type { NoiseFilter } from '../sql/noise.js';
import { Spool } from '../spool/index.js';
import type { SegmentFile } from '../spool/spool.js';
import { SqliteStore as Store } from '../store/sqlite.js';
import { StoreWriteError } from '../store/writer.js';
import { estimateSpanBytes } from '../traces/assembler.js';
import { baseRetryFor } from '../traces/admission.js';
import { isProbe, OPAQUE_AFTER_TRACES } from '../traces/peers.js';
import { LARGE_BODY_BYTES } from './inflight.js';
import { Intake, type AcceptResult, type Transport } from './intake.js';
import { createMetrics } from './metrics.js';
import { spoolCopier } from './spool-compaction.js';
import { tempDir, until } from '../../test/support.js';

const TRACES = 19;
const REPEATS = 8;

/** An export as the transports hand it over: protobuf bytes, OTLP/JSON bytes, and the records they decode to. */
interface Export {
  spans: SpanRecord[];
  bytes: Uint8Array;
  json: Buffer;
}

/**
 * How an export enters the intake: decoded to records, as protobuf bytes or OTLP/JSON bytes decoded
 * into columns once admitted, or as JSON the lazy reader gives up (snake_case ids), decoded by json.ts.
 */
type Path = 'records' | 'protobuf' | 'json' | 'json-given-up';
const PATHS: Path[] = ['records', 'protobuf', 'json', 'json-given-up'];

function send(intake: Intake, path: Path, e: Export, transport: Transport): Promise<AcceptResult> {
  switch (path) {
    case 'records':
      return intake.accept({ spans: e.spans, rejected: [] }, transport);
    case 'protobuf':
      return intake.acceptProtobuf(e.bytes, transport);
    case 'json':
    case 'json-given-up':
      return intake.acceptJson(jsonBody(e, path), transport);
  }
}

/** The export's OTLP/JSON body: as written, or with snake_case trace ids, which the lazy reader gives up. */
const jsonBody = (e: Export, path: 'json' | 'json-given-up'): Buffer => (path === 'json' ? e.json : Buffer.from(e.json.toString('utf8').replace(/"traceId"/g, '"trace_id"')));

/** One export of these spans, as a Django service's SDK would send them. */
function exportOf(spans: readonly OtlpJsonSpan[]): Export {
  const request: OtlpJsonRequest = { resourceSpans: [{ resource: { attributes: [{ key: 'service.name', value: { stringValue: 'recruit' } }] }, scopeSpans: [{ scope: { name: 'opentelemetry.instrumentation.django' }, spans: [...spans] }] }] };
  const bytes = encodeProtobuf(request);
  return { spans: decodeProtobufRequest(bytes).spans, bytes, json: Buffer.from(JSON.stringify(request)) };
}

/** The spans of one Django request (djangoRequest), server span first. */
const requestSpans = (options: Parameters<typeof djangoRequest>[0]): OtlpJsonSpan[] => djangoRequest(options).resourceSpans[0]!.scopeSpans.flatMap((s) => s.spans);
/** A view that queues a Celery task (a PRODUCER span), and the task's run (CONSUMER) with an N+1 of 8 queries, as OTLP spans of one trace. */
function queuedTask(traceId: string): { view: OtlpJsonSpan[]; task: OtlpJsonSpan[] } {
  const view = requestSpans({ traceId, repeats: 0 });
  const enqueue: OtlpJsonSpan = {
    ...view[0]!, spanId: spanIdAt(traceId, 30), parentSpanId: view[0]!.spanId, name: 'apply_async/reports.build', kind: 4,
    attributes: [{ key: 'messaging.system', value: { stringValue: 'rabbitmq' } }],
  };
  // The task's spans get ids of their own (spanIdAt prefixes the trace id's first 8 digits).
  const task = requestSpans({ traceId: `ab${traceId.slice(2)}`, repeats: 8 }).map((span) => ({ ...span, traceId }));
  Object.assign(task[0]!, { parentSpanId: enqueue.spanId, kind: 5, name: 'run/reports.build', attributes: [] });
  return { view: [...view, enqueue], task };
}

/** Intake options under which it analyses and writes only when a test calls tick() (its timer's period is an hour). */
const TICKS_ONLY_WHEN_TOLD = { pollIntervalMs: 3_600_000, writeIntervalMs: 3_600_000 };

/** A clock the test moves, and the options of the intakes that continue a queued task's trace (queuedTask) on it. */
function continuationOptions() {
  const clock = { now: 1_000_000 };
  return { clock, options: { metrics: createMetrics(), traceWaitMs: 6000, traceSettleMs: 100, minRepeats: 5, now: () => clock.now, ...TICKS_ONLY_WHEN_TOLD } };
}

/** A start after a crash on the same spool and store file (continuationOptions): the queued task's requests in the store once it has replayed and written. */
async function taskRequestsAfterRestart(file: string, dir: string, options: ReturnType<typeof continuationOptions>['options'], clock: { now: number }): Promise<number | undefined> {
  const store = Store.open(file);
  const intake = new Intake({ ...options, store, spool: Spool.open({ dir, commitMs: 1 }), replayWaitMs: 1000 });
  await intake.replay();
  clock.now += 7000;
  await intake.tick();
  await intake.close();
  const requests = (await store.report()).endpoints.find((e) => e.endpoint === 'run/reports.build')?.requests;
  store.closeSync();
  return requests;
}

/** 19 requests, some overlapping, spans in the order they end (the root last), cut into exports of 5 spans as a Collector batches them. */
function overlappingExports(): Export[] {
  const timed: { at: number; span: OtlpJsonSpan }[] = [];
  for (let t = 0; t < TRACES; t++) {
    const traceId = (t + 1).toString(16).padStart(32, 'c');
    const spans = requestSpans({ traceId, repeats: REPEATS });
    const root = spans.find((s) => s.parentSpanId === undefined)!;
    const rest = spans.filter((s) => s !== root);
    rest.forEach((span, i) => timed.push({ at: t * 12 + i, span }));
    timed.push({ at: t * 12 + rest.length, span: root });
  }
  timed.sort((a, b) => a.at - b.at);
  const exports: Export[] = [];
  for (let i = 0; i < timed.length; i += 5) exports.push(exportOf(timed.slice(i, i + 5).map((x) => x.span)));
  return exports;
}

/** Sends every export through the intake like a Collector with retry_on_failure: a refused export comes back after the delay it was told. */
async function runRetryingClient(intake: Intake, path: Path, clock: { now: number }, exports: Export[], transport: Transport = 'grpc'): Promise<{ refusals: number }> {
  const queue = exports.map((e, i) => ({ e, due: i * 100 }));
  let refusals = 0;
  while (queue.length > 0 && clock.now < 600_000) {
    for (const item of queue.filter((q) => q.due <= clock.now)) {
      const r = await send(intake, path, item.e, transport);
      if (r.ok) queue.splice(queue.indexOf(item), 1);
      else {
        refusals++;
        item.due = clock.now + r.retryAfterMs;
      }
    }
    clock.now += 50;
    await intake.tick();
  }
  for (let i = 0; i < 100; i++) {
    clock.now += 100;
    await intake.tick();
  }
  return { refusals };
}

/**
 * Sends exports the way the Collector's exporterhelper does: a FIFO sending queue drained by
 * `consumers` workers, each of which sleeps through its export's retry delay before taking the next
 * one. Once every worker sleeps on a refused export, the rest of the queue (spans of traces already
 * open among them) waits behind it: head-of-line blocking.
 */
async function runCollectorQueue(intake: Intake, path: Path, clock: { now: number }, exports: Export[], consumers: number): Promise<{ refusals: number }> {
  const queue = [...exports];
  const workers: { e: Export | undefined; due: number }[] = Array.from({ length: consumers }, () => ({ e: undefined, due: 0 }));
  let refusals = 0;
  while ((queue.length > 0 || workers.some((w) => w.e !== undefined)) && clock.now < 600_000) {
    for (const w of workers) {
      while (w.due <= clock.now && (w.e !== undefined || queue.length > 0)) {
        w.e ??= queue.shift()!;
        const r = await send(intake, path, w.e, 'grpc');
        if (r.ok) w.e = undefined;
        else {
          refusals++;
          w.due = clock.now + r.retryAfterMs;
        }
      }
    }
    clock.now += 50;
    await intake.tick();
  }
  expect(queue.length).toBe(0);
  for (let i = 0; i < 100; i++) {
    clock.now += 1000;
    await intake.tick();
  }
  return { refusals };
}

/** The sample's exports (33 requests, some in one export, some spread over six), as the Collector received them. */
function sampleExports(): Export[] {
  const file = new URL('../../samples/traces/recruit.jsonl.gz', import.meta.url);
  return gunzipSync(readFileSync(file))
    .toString('utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => ({ spans: decodeJsonRequest(line).spans, bytes: encodeProtobuf(JSON.parse(line) as OtlpJsonRequest), json: Buffer.from(line) }));
}

describe('Intake admission behind the Collector\'s sending queue (workers blocked while they back off)', () => {
  it.each(PATHS.flatMap((path) => [
    [2, 10, path],
    [2, 3, path],
    [10, 10, path],
    [19, 10, path],
  ] as const))('analyses every request of the sample whole with --max-traces %i and %i consumers (%s)', async (maxTraces, consumers, path) => {
    const clock = { now: 0 };
    const store = Store.open(':memory:');
    const metrics = createMetrics();
    const intake = new Intake({ store, metrics, traceWaitMs: 3000, maxOpenTraces: maxTraces, minRepeats: 5, now: () => clock.now, random: () => 0.5 });
    const exports = sampleExports();
    // Shuffled the same way each run: the receiver takes concurrent POSTs in no particular order.
    let seed = 7;
    const random = (): number => ((seed = (seed * 48271) % 2147483647) / 2147483647);
    for (let i = exports.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [exports[i], exports[j]] = [exports[j]!, exports[i]!];
    }
    // What the file gives analysed whole, all at once.
    const whole = Store.open(':memory:');
    const offline = new Analyzer({ minRepeats: 5 });
    offline.add(exports.flatMap((e) => e.spans), 0);
    whole.recordSync(offline.flush());
    const { refusals } = await runCollectorQueue(intake, path, clock, exports, consumers);
    await intake.close();
    expect(await store.report()).toEqual(await whole.report());
    expect((await store.report()).summary.requests).toBe(33);
    expect(intake.openTraces).toBe(0);
    if (maxTraces < 19) expect(refusals).toBeGreaterThan(0);
    store.closeSync();
    whole.close();
  });
});

describe('Intake admission behind a retrying exporter', () => {
  it.each(PATHS.flatMap((path) => [[2, path], [10, path], [19, path]] as const))('analyses every request whole with --max-traces %i: no eviction, no late span (%s)', async (maxTraces, path) => {
    const clock = { now: 0 };
    const store = Store.open(':memory:');
    const metrics = createMetrics();
    const intake = new Intake({ store, metrics, traceWaitMs: 2000, maxTraceAgeMs: 30_000, maxOpenTraces: maxTraces, minRepeats: 5, now: () => clock.now, random: () => 0.5 });
    const { refusals } = await runRetryingClient(intake, path, clock, overlappingExports());
    await intake.close();
    const report = await store.report();
    expect(report.summary.requests).toBe(TRACES);
    expect(report.summary.dbSpans).toBe(TRACES * (REPEATS + 1));
    const dashboard = report.endpoints[0]!;
    expect(dashboard.queriesPerRequest).toEqual({ p50: REPEATS + 1, max: REPEATS + 1 });
    expect(dashboard.findings[0]?.repeatsPerRequest).toEqual({ p50: REPEATS, max: REPEATS });
    expect(intake.openTraces).toBe(0);
    expect(metrics.registry.getSingleMetric('n1lens_late_spans_total')).toBeDefined();
    if (maxTraces === 2) expect(refusals).toBeGreaterThan(0);
    store.closeSync();
  });

  it.each(PATHS)('after a refusal keeps every open trace until the retry is due, unless the buffer is past half of --max-buffer-mib (%s)', async (path) => {
    const a = exportOf(requestSpans({ traceId: 'a'.repeat(32) }));
    const b = exportOf(requestSpans({ traceId: 'b'.repeat(32) }));
    const aBytes = a.spans.reduce((n, span) => n + estimateSpanBytes(span), 0);
    for (const maxBufferBytes of [256 * 1024 * 1024, 2 * aBytes - 1]) {
      const clock = { now: 0 };
      const store = Store.open(':memory:');
      const intake = new Intake({ store, metrics: createMetrics(), traceWaitMs: 100, maxOpenTraces: 1, maxBufferBytes, now: () => clock.now, random: () => 0.5 });
      expect((await send(intake, path, a, 'grpc')).ok).toBe(true);
      const refused = await send(intake, path, b, 'grpc');
      expect(refused.ok).toBe(false);
      clock.now = 500; // a is rooted and quiet
      await intake.tick();
      // With room, a waits for the refused exporter (its queue may hold a's other spans); near the memory limit it drains.
      expect(intake.openTraces).toBe(maxBufferBytes > 2 * aBytes ? 1 : 0);
      // Held for twice the retry delay and the base delay again (the resent spans' time to arrive).
      clock.now += 2 * (refused.ok ? 0 : refused.retryAfterMs) + baseRetryFor(100);
      await intake.tick();
      expect(intake.openTraces).toBe(0);
      void await intake.close();
      store.closeSync();
    }
  });

  it.each(PATHS)('holds a refused exporter\'s traces until its retry is due, however long --trace-wait-ms is (%s)', async (path) => {
    const clock = { now: 0 };
    const store = Store.open(':memory:');
    const intake = new Intake({ store, metrics: createMetrics(), traceWaitMs: 6000, traceSettleMs: 100, maxOpenTraces: 1, now: () => clock.now, random: () => 0.5 });
    expect((await send(intake, path, exportOf(requestSpans({ traceId: 'a'.repeat(32) })), 'grpc')).ok).toBe(true);
    const refused = await send(intake, path, exportOf(requestSpans({ traceId: 'b'.repeat(32) })), 'grpc');
    if (refused.ok) throw new Error('expected a refusal');
    expect(refused.retryAfterMs).toBe(8000); // the 2 s base, 4× at a full buffer (jitter at its middle)
    // a looks whole: after the hold it goes at the settle time, not at the 6 s wait.
    const due = 2 * refused.retryAfterMs + baseRetryFor(6000);
    clock.now = due - 1;
    await intake.tick();
    expect(intake.openTraces).toBe(1);
    clock.now = due;
    await intake.tick();
    expect(intake.openTraces).toBe(0);
    void (await intake.close());
    store.closeSync();
  });

  it.each(PATHS)('counts spans of an analysed trace as late, not as a new trace to refuse (%s)', async (path) => {
    const clock = { now: 0 };
    const store = Store.open(':memory:');
    const metrics = createMetrics();
    const intake = new Intake({ store, metrics, traceWaitMs: 100, maxOpenTraces: 1, now: () => clock.now });
    const a = requestSpans({ traceId: 'a'.repeat(32) });
    const b = exportOf(requestSpans({ traceId: 'b'.repeat(32) }));
    expect((await send(intake, path, exportOf(a.slice(0, -1)), 'http')).ok).toBe(true);
    clock.now = 1000;
    await intake.tick(); // a is rooted and quiet: analysed
    expect((await send(intake, path, b, 'http')).ok).toBe(true); // b fills the buffer
    expect((await send(intake, path, exportOf(a.slice(-1)), 'http')).ok).toBe(true); // late, not new
    expect((await metrics.registry.getSingleMetric('n1lens_late_spans_total')?.get())?.values[0]?.value).toBe(1);
    // The same export again (an exporter's retry of an answer it lost): copies, not late spans, and not a second request.
    expect((await send(intake, path, exportOf(a.slice(0, -1)), 'http')).ok).toBe(true);
    await intake.close();
    expect((await metrics.registry.getSingleMetric('n1lens_duplicate_spans_total')?.get())?.values[0]?.value).toBe(a.length - 1);
    expect((await store.report()).summary.requests).toBe(2);
    store.closeSync();
  });

  it.each(PATHS)('refuses past --max-buffer-mib with a delay that grows with fullness, and keeps the continued trace until the retry (%s)', async (path) => {
    const clock = { now: 0 };
    const store = Store.open(':memory:');
    const metrics = createMetrics();
    const big = requestSpans({ traceId: 'd'.repeat(32), repeats: 40 });
    const intake = new Intake({ store, metrics, traceWaitMs: 100, maxOpenTraces: 1000, maxBufferBytes: 8000, now: () => clock.now, random: () => 0.5 });
    expect((await send(intake, path, exportOf(big.slice(0, 30)), 'http')).ok).toBe(true);
    const refused = await send(intake, path, exportOf(big.slice(30)), 'http');
    expect(refused).toMatchObject({ ok: false, reason: 'max_buffer' });
    const delay = refused.ok ? 0 : refused.retryAfterMs;
    expect(delay).toBeGreaterThan(1000);
    // The trace's root is in the buffer and it is quiet, but its refused spans are due back: not analysed yet.
    clock.now += 500;
    await intake.tick();
    expect(intake.openTraces).toBe(1);
    clock.now += delay;
    expect((await send(intake, path, exportOf(big.slice(30)), 'http')).ok).toBe(false); // still over: the buffer holds it all
    clock.now += 3 * delay + 1000;
    await intake.tick();
    await intake.close();
    store.closeSync();
  });

  it.each(PATHS.map((path) => ({ path })))('shares the buffer between HTTP and gRPC flooding at once: each gets at least 30% ($path)', async ({ path }) => {
    const clock = { now: 0 };
    const store = Store.open(':memory:');
    const metrics = createMetrics();
    const intake = new Intake({ store, metrics, traceWaitMs: 200, maxOpenTraces: 20, now: () => clock.now });
    const accepted = { http: 0, grpc: 0 };
    let n = 0;
    const nextTrace = (): Export => exportOf(requestSpans({ traceId: (++n).toString(16).padStart(32, '0') })); // padding with a hex digit would repeat ids (0xe1 as 1)
    // HTTP sends five exports for every gRPC one, and retries at once; gRPC waits as told.
    let grpcDue = 0;
    for (let step = 0; step < 1000; step++) {
      for (let k = 0; k < 5; k++) {
        const e = nextTrace();
        if ((await send(intake, path, e, 'http')).ok) accepted.http += e.spans.length;
      }
      if (clock.now >= grpcDue) {
        const e = nextTrace();
        const r = await send(intake, path, e, 'grpc');
        if (r.ok) accepted.grpc += e.spans.length;
        else grpcDue = clock.now + r.retryAfterMs;
      }
      clock.now += 20;
      await intake.tick();
    }
    await intake.close();
    const total = accepted.http + accepted.grpc;
    expect(accepted.grpc / total).toBeGreaterThanOrEqual(0.3);
    expect(accepted.http / total).toBeGreaterThanOrEqual(0.3);
    store.closeSync();
  });
});

describe('Intake past its measured memory limit', () => {
  it('collects garbage before refusing for memory, refuses only when that leaves it past the limit, and collects less often while it does', async () => {
    const store = Store.open(':memory:');
    const metrics = createMetrics();
    let used = 0;
    let collections = 0;
    let collectionFrees = true;
    const intake = new Intake({
      store,
      metrics,
      traceWaitMs: 60_000,
      maxOpenTraces: 1000,
      memoryLimitBytes: 200,
      memoryUsed: () => used,
      collectGarbage: () => {
        collections++;
        if (collectionFrees) used = 100;
      },
    });
    const exportOfTrace = (c: string): Export => exportOf(requestSpans({ traceId: c.repeat(32) }));
    const sampled = (): Promise<void> => new Promise((r) => setTimeout(r, 60)); // past the 50 ms between samples
    expect((await intake.acceptProtobuf(exportOfTrace('a').bytes, 'http')).ok).toBe(true);
    // Past the limit with garbage: one collection frees it, and the export is taken.
    used = 500;
    await sampled();
    expect((await intake.acceptProtobuf(exportOfTrace('b').bytes, 'http')).ok).toBe(true);
    expect(collections).toBe(1);
    // Past it again at once: no second collection within 2 s, so refused.
    collectionFrees = false;
    used = 500;
    await sampled();
    const refused = await intake.acceptProtobuf(exportOfTrace('c').bytes, 'http');
    expect(refused.ok || refused.reason).toBe('memory');
    expect(collections).toBe(1);
    const wait = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
    // 2 s on, a collection that frees nothing: refused, and the next one waits 4 s.
    await wait(2050);
    expect((await intake.acceptProtobuf(exportOfTrace('c').bytes, 'http')).ok).toBe(false);
    expect(collections).toBe(2);
    await wait(2050);
    expect((await intake.acceptProtobuf(exportOfTrace('c').bytes, 'http')).ok).toBe(false);
    expect(collections).toBe(2);
    // 4 s on, a collection that frees it: taken, and the interval is back to 2 s.
    collectionFrees = true;
    await wait(2050);
    expect((await intake.acceptProtobuf(exportOfTrace('c').bytes, 'http')).ok).toBe(true);
    expect(collections).toBe(3);
    collectionFrees = false;
    used = 500;
    await wait(2050);
    expect((await intake.acceptProtobuf(exportOfTrace('d').bytes, 'http')).ok).toBe(false);
    expect(collections).toBe(4);
    used = 0;
    await intake.close();
    store.closeSync();
  }, 25_000);

  it('past the limit, refuses a large declared body unread, and reads a usual one to refuse it with its traces held until the retry', async () => {
    const clock = { now: 0 };
    let used = 0;
    const store = Store.open(':memory:');
    const intake = new Intake({
      store, metrics: createMetrics(), traceWaitMs: 100, traceSettleMs: 100, maxOpenTraces: 1000, memoryLimitBytes: 200, memoryUsed: () => used,
      collectGarbage: () => undefined, now: () => clock.now, random: () => 0.5, ...TICKS_ONLY_WHEN_TOLD,
    });
    const sampled = (): Promise<void> => new Promise((r) => setTimeout(r, 60)); // past the 50 ms between samples
    const spans = requestSpans({ traceId: 'a'.repeat(32), repeats: 6 });
    const queries = spans.filter((s) => s.name.startsWith('SELECT'));
    expect((await intake.acceptProtobuf(exportOf(spans.filter((s) => !queries.includes(s))).bytes, 'http')).ok).toBe(true);
    used = 500;
    await sampled();
    const large = intake.startBody('http');
    expect(large.declare(LARGE_BODY_BYTES)).toMatchObject({ ok: false, reason: 'memory' });
    // The export with the trace's queries is read (it cannot be known to continue the trace before),
    // and refused by admission, which keeps the trace open for the retry.
    const usual = intake.startBody('http');
    expect(usual.declare(exportOf(queries).bytes.length)).toBeUndefined();
    expect(await intake.acceptProtobuf(exportOf(queries).bytes, 'http')).toMatchObject({ ok: false, reason: 'memory' });
    usual.end();
    used = 0;
    await sampled();
    clock.now += 1000; // past the trace wait, before the retry is due
    await intake.tick();
    expect((await intake.acceptProtobuf(exportOf(queries).bytes, 'http')).ok).toBe(true);
    clock.now += 60_000;
    await intake.close();
    const dashboard = (await store.report()).endpoints.find((e) => e.endpoint === 'GET dashboard/');
    expect(dashboard?.findings.filter((f) => f.kind === 'n_plus_one')).toHaveLength(1);
    store.closeSync();
  });
});

describe('Intake writes', () => {
  it('analyses every poll but writes at most once per write interval, and writes everything by close', async () => {
    const store = Store.open(':memory:');
    const record = store.record.bind(store);
    const writes: number[] = [];
    store.record = async (analyses, committed, rows) => {
      writes.push(analyses.length);
      return record(analyses, committed, rows);
    };
    const intake = new Intake({ store, metrics: createMetrics(), traceWaitMs: 30, pollIntervalMs: 10, writeIntervalMs: 300 });
    let sent = 0;
    const started = performance.now();
    while (performance.now() - started < 900) {
      const traceId = (++sent).toString(16).padStart(32, '0');
      expect((await intake.acceptProtobuf(exportOf(requestSpans({ traceId })).bytes, 'http')).ok).toBe(true);
      await new Promise((resolve) => setTimeout(resolve, 15));
    }
    const whileRunning = writes.length;
    await intake.close();
    // ~60 traces over 0.9 s, analysed as they complete: a write per 10 ms poll would be dozens.
    expect(sent).toBeGreaterThan(20);
    expect(whileRunning).toBeGreaterThanOrEqual(1);
    expect(whileRunning).toBeLessThanOrEqual(5);
    expect(writes.reduce((n, w) => n + w, 0)).toBe(sent);
    store.closeSync();
  });
});

describe('Intake peers across restarts', () => {
  /** A request that POSTs to `peer`; with `answered`, the callee's SERVER span came too. */
  const callingRequest = (traceId: string, peer: string, answered = false): Export => {
    const spans = requestSpans({ traceId });
    const [view] = spans;
    const call: OtlpJsonSpan = {
      traceId, spanId: spanIdAt(traceId, 40), parentSpanId: view!.spanId, name: 'POST', kind: 3, startTimeUnixNano: view!.startTimeUnixNano, endTimeUnixNano: view!.endTimeUnixNano,
      attributes: [{ key: 'http.request.method', value: { stringValue: 'POST' } }, { key: 'server.address', value: { stringValue: peer } }],
    };
    const callee: OtlpJsonSpan = { ...call, spanId: spanIdAt(traceId, 41), parentSpanId: call.spanId, kind: 2, attributes: [{ key: 'http.request.method', value: { stringValue: 'POST' } }] };
    return exportOf(answered ? [...spans, call, callee] : [...spans, call]);
  };
  const ids = (from: number, probe: boolean): string[] =>
    Array.from({ length: 4096 }, (_, i) => (from + i).toString(16).padStart(32, '0')).filter((id) => isProbe(id) === probe);

  it.each(PATHS)('starts from the peers an earlier run learned, and shares a probe\'s answer that un-learns one (%s)', async (path) => {
    const file = join(tempDir('intake-peers'), 'n1lens.db');
    const options = { metrics: createMetrics(), traceWaitMs: 6000, traceSettleMs: 100, ...TICKS_ONLY_WHEN_TOLD };
    // The first run learns that api.stripe.com sends no spans: its callers waited the whole 6 s.
    const clock = { now: 0 };
    let store = Store.open(file);
    let intake = new Intake({ ...options, store, now: () => clock.now });
    for (const traceId of ids(1, false).slice(0, OPAQUE_AFTER_TRACES)) expect((await send(intake, path, callingRequest(traceId, 'api.stripe.com'), 'http')).ok).toBe(true);
    clock.now = 6000;
    await intake.tick();
    expect(intake.openTraces).toBe(0);
    await intake.close();
    store.closeSync();
    expect(await Store.open(file).peerVerdicts()).toEqual([{ peer: 'api.stripe.com', opaque: true }]);

    // The next run's first write reads it: a caller goes after the settle time, not the trace wait.
    store = Store.open(file);
    intake = new Intake({ ...options, store, now: () => clock.now });
    await intake.tick();
    const [caller] = ids(0x10000, false);
    expect((await send(intake, path, callingRequest(caller!, 'api.stripe.com'), 'http')).ok).toBe(true);
    clock.now += 99;
    await intake.tick();
    expect(intake.openTraces).toBe(1);
    clock.now += 1;
    await intake.tick();
    expect(intake.openTraces).toBe(0);
    // A probe's call to the learned peer, answered here: the verdict turns for every process.
    const [probe] = ids(0x20000, true);
    expect((await send(intake, path, callingRequest(probe!, 'api.stripe.com', true), 'http')).ok).toBe(true);
    clock.now += 100;
    await intake.tick();
    expect(intake.openTraces).toBe(0);
    await intake.close();
    expect(await store.peerVerdicts()).toEqual([{ peer: 'api.stripe.com', opaque: false }]);
    expect((await store.report()).summary.requests).toBe(OPAQUE_AFTER_TRACES + 3); // the callee's request too
    store.closeSync();
  });

  it.each(PATHS)('learns a queue whose workers send no spans by the task queued, and lets its callers settle (%s)', async (path) => {
    const store = Store.open(':memory:');
    const clock = { now: 0 };
    const intake = new Intake({ metrics: createMetrics(), traceWaitMs: 6000, traceSettleMs: 100, ...TICKS_ONLY_WHEN_TOLD, store, now: () => clock.now });
    /** A request that queues a Celery task (a PRODUCER span, as opentelemetry-instrumentation-celery names it); nothing answers. */
    const queueing = (traceId: string): Export => {
      const spans = requestSpans({ traceId });
      const [view] = spans;
      const enqueue: OtlpJsonSpan = {
        traceId, spanId: spanIdAt(traceId, 40), parentSpanId: view!.spanId, name: 'apply_async/mail.send', kind: 4,
        startTimeUnixNano: view!.startTimeUnixNano, endTimeUnixNano: view!.endTimeUnixNano,
        attributes: [{ key: 'celery.action', value: { stringValue: 'apply_async' } }, { key: 'messaging.destination', value: { stringValue: 'celery' } }],
      };
      return exportOf([...spans, enqueue]);
    };
    for (const traceId of ids(1, false).slice(0, OPAQUE_AFTER_TRACES)) expect((await send(intake, path, queueing(traceId), 'http')).ok).toBe(true);
    clock.now = 5999;
    await intake.tick();
    expect(intake.openTraces).toBe(OPAQUE_AFTER_TRACES); // each waits the whole trace wait
    clock.now = 6000;
    await intake.tick();
    expect(intake.openTraces).toBe(0);
    const [caller] = ids(0x10000, false);
    expect((await send(intake, path, queueing(caller!), 'http')).ok).toBe(true);
    clock.now += 100;
    await intake.tick();
    expect(intake.openTraces).toBe(0); // settled: the queue is learned
    await intake.close();
    expect(await store.peerVerdicts()).toEqual([{ peer: 'queue:apply_async/mail.send', opaque: true }]);
    expect((await store.report()).summary.requests).toBe(OPAQUE_AFTER_TRACES + 1);
    store.closeSync();
  });
});

describe('Intake: work that outlives its trace', () => {
  /** A view that queues a Celery task (PRODUCER), and the task (CONSUMER) with an N+1 of `repeats` queries, all `startMs` on. */
  const celery = (traceId: string, startMs: number, repeats: number) => {
    const base = { traceId, service: 'recruit', startMs, endMs: startMs + 5 } as const;
    const view: SpanRecord = { ...base, spanId: '1'.repeat(16), parentSpanId: '', name: 'POST reports/', kind: SpanKind.SERVER, httpMethod: 'POST', httpRoute: 'reports/' };
    const enqueue: SpanRecord = { ...base, spanId: '2'.repeat(16), parentSpanId: view.spanId, name: 'apply_async/reports.build', kind: SpanKind.PRODUCER, messagingSystem: 'rabbitmq' };
    const task: SpanRecord = { ...base, service: 'recruit-worker', spanId: '3'.repeat(16), parentSpanId: enqueue.spanId, name: 'run/reports.build', kind: SpanKind.CONSUMER, endMs: startMs + 100 };
    const queries: SpanRecord[] = Array.from({ length: repeats }, (_, k) => ({
      ...base, service: 'recruit-worker', spanId: (0x4000 + k).toString(16).padStart(16, '0'), parentSpanId: task.spanId, name: 'SELECT', kind: SpanKind.CLIENT,
      startMs: startMs + 10 + k, endMs: startMs + 10.5 + k, dbSystem: 'postgresql', dbStatement: `SELECT "recruit_candidate"."id" FROM "recruit_candidate" WHERE "recruit_candidate"."id" = ${k} LIMIT 21`,
    }));
    return { view: [view, enqueue], task: [task, ...queries] };
  };

  it('analyses a task whose spans come after its trace was analysed, as its own request, once', async () => {
    const clock = { now: 0 };
    const store = Store.open(':memory:');
    const metrics = createMetrics();
    // Committed traces noted, as with a spool: the continuation must not count as the trace committed twice.
    const intake = new Intake({ store, metrics, traceWaitMs: 6000, traceSettleMs: 100, minRepeats: 5, trackCommitted: true, now: () => clock.now, ...TICKS_ONLY_WHEN_TOLD });
    const { view, task } = celery('c'.repeat(32), 0, 8);
    expect((await intake.accept({ spans: view, rejected: [] }, 'http')).ok).toBe(true);
    clock.now = 6000; // the queued task never answered within the trace wait: the view is analysed alone
    await intake.tick();
    expect(intake.openTraces).toBe(0);
    clock.now = 40_000; // the task ran long after, and its worker exported it then, with a late query of the view's
    const lateQuery: SpanRecord = { ...task[1]!, spanId: 'e'.repeat(16), parentSpanId: view[0]!.spanId, service: 'recruit' };
    expect((await intake.accept({ spans: [...task, lateQuery], rejected: [] }, 'http')).ok).toBe(true);
    clock.now += 6000; // the view's query has no parent among them: not whole, so the trace wait
    await intake.tick();
    expect(intake.openTraces).toBe(0);
    // The same export again (the worker's exporter retrying an answer it lost), and the view's again: copies.
    expect((await intake.accept({ spans: task, rejected: [] }, 'http')).ok).toBe(true);
    expect((await intake.accept({ spans: view, rejected: [] }, 'http')).ok).toBe(true);
    await intake.close();
    const report = await store.report();
    expect(report.endpoints.map((e) => [e.endpoint, e.requests]).sort()).toEqual([['POST reports/', 1], ['run/reports.build', 1]]);
    expect(report.endpoints.find((e) => e.endpoint === 'run/reports.build')?.findings[0]?.repeatsPerRequest).toEqual({ p50: 8, max: 8 });
    const counter = async (name: string) => (await metrics.registry.getSingleMetric(name)?.get())?.values[0]?.value;
    expect(await counter('n1lens_continued_requests_total')).toBe(1);
    expect(await counter('n1lens_late_spans_total')).toBe(task.length + 1);
    expect(await counter('n1lens_duplicate_spans_total')).toBe(task.length + view.length);
    store.closeSync();
  });
});

describe('Intake: an analysis that throws', () => {
  it("drops only the trace whose analysis throws, counted and logged, and analyses, writes and unpins every other of the tick's parts", async () => {
    const dir = join(tempDir('analysis-throws'), 'spool');
    const clock = { now: 1_000_000 };
    const metrics = createMetrics();
    const store = Store.open(join(tempDir('analysis-throws-db'), 'n1lens.db'));
    const logged: string[] = [];
    // A detector bug that one statement sets off, stood in for by a noise filter that throws on it.
    const noiseFilter: NoiseFilter = (n) => {
      if (n.sql.includes('poison')) throw new Error('detector bug');
      return null;
    };
    const intake = new Intake({
      store, metrics, spool: Spool.open({ dir, commitMs: 1, segmentBytes: 1 }), traceWaitMs: 100, noiseFilter, log: (line) => logged.push(line), now: () => clock.now,
      ...TICKS_ONLY_WHEN_TOLD,
    });
    const poisoned = (traceId: string): OtlpJsonSpan[] =>
      requestSpans({ traceId, repeats: 6 }).map((span) => ({
        ...span,
        attributes: span.attributes?.map((a) => (a.key === 'db.statement' ? { ...a, value: { stringValue: 'SELECT "poison"."id" FROM "poison" WHERE "poison"."id" = 1' } } : a)),
      }));
    // Past 2,000 spans, so the tick analyses them in parts: the poisoned trace second in the first.
    const ids = Array.from({ length: 30 }, (_, k) => (0x100 + k).toString(16).padStart(32, 'd'));
    for (const [k, traceId] of ids.entries()) {
      const accepted = await intake.acceptProtobuf(exportOf(k === 1 ? poisoned(traceId) : requestSpans({ traceId, repeats: 100 })).bytes, 'http');
      if (!accepted.ok) throw new Error(accepted.message);
      await accepted.durable;
    }
    clock.now += 1000;
    expect(await intake.tick()).toBe(true);
    expect((await store.report()).summary.requests).toBe(ids.length - 1);
    expect((await metrics.registry.getSingleMetric('n1lens_analysis_failures_total')?.get())?.values[0]?.value).toBe(1);
    expect(logged).toEqual([`n1lens serve: trace ${ids[1]} dropped: its analysis failed: detector bug`]);
    // Every trace is written or dropped: no segment stays pinned (but the one still being written).
    await until(async () => readdirSync(dir).length <= 1);
    await intake.close();
    store.closeSync();
  });
  it("analyses the tick's later parts when the rows of a part cannot be made as it is taken, and writes every request", async () => {
    const clock = { now: 1_000_000 };
    const store = Store.open(':memory:');
    const rowBuilder = store.rowBuilder.bind(store);
    let failOnce = true;
    store.rowBuilder = () => {
      const builder = rowBuilder();
      const add = builder.add.bind(builder);
      builder.add = (analyses) => {
        if (!failOnce) return add(analyses);
        failOnce = false;
        throw new Error('rollup bug');
      };
      return builder;
    };
    const logged: string[] = [];
    const intake = new Intake({ store, metrics: createMetrics(), traceWaitMs: 100, log: (line) => logged.push(line), now: () => clock.now, ...TICKS_ONLY_WHEN_TOLD });
    const ids = Array.from({ length: 30 }, (_, k) => (0x100 + k).toString(16).padStart(32, 'd'));
    for (const traceId of ids) expect((await intake.acceptProtobuf(exportOf(requestSpans({ traceId, repeats: 100 })).bytes, 'http')).ok).toBe(true);
    clock.now += 1000;
    expect(await intake.tick()).toBe(true);
    expect(intake.openTraces).toBe(0);
    expect((await store.report()).summary.requests).toBe(ids.length);
    expect(logged).toEqual([expect.stringMatching(/rollup bug$/)]);
    await intake.close();
    store.closeSync();
  });
});

describe('Intake: a task that runs for minutes, and the spool', () => {
  it("keeps its queries until its run's span comes, copied out of the segments other traces share: those go, and a crash loses none", async () => {
    const clock = { now: 1_000_000 };
    const dir = join(tempDir('spool-long-task'), 'spool');
    const store = Store.open(':memory:');
    const open = (metrics: ReturnType<typeof createMetrics>, copy = true): Intake => {
      // A segment per export.
      const spool = Spool.open({ dir, commitMs: 1, segmentBytes: 1, now: () => clock.now });
      return new Intake({
        store, metrics, spool, ...(copy ? { copyApart: spoolCopier(spool) } : {}), traceWaitMs: 6000, traceSettleMs: 100, maxTraceAgeMs: 30_000, maxGrowingTraceAgeMs: 600_000,
        minRepeats: 5, now: () => clock.now, ...TICKS_ONLY_WHEN_TOLD,
      });
    };
    const onDisk = (): number => readdirSync(dir).filter((f) => f.endsWith('.seg')).reduce((n, f) => n + statSync(join(dir, f)).size, 0);
    const settled = async (): Promise<number> => {
      // Deleted segments are unlinked on the thread pool.
      let last = -1;
      for (let i = 0; i < 50 && onDisk() !== last; i++) {
        last = onDisk();
        await new Promise((r) => setTimeout(r, 20));
      }
      return onDisk();
    };
    // A nightly task, a trace of its own: its worker exports two queries every 5 s for two minutes, its run's span at the end.
    const [run, ...queries] = requestSpans({ traceId: 'a'.repeat(32), repeats: 47 });
    Object.assign(run!, { kind: 5, name: 'run/billing.nightly', attributes: [] });
    const take = async (intake: Intake, spans: OtlpJsonSpan[]): Promise<number> => {
      const body = exportOf(spans).bytes;
      const result = await intake.acceptProtobuf(body, 'http');
      if (!result.ok) throw new Error(result.message);
      await result.durable;
      return body.length;
    };
    const twoMinutes = async (intake: Intake): Promise<number> => {
      let sent = 0;
      for (let i = 0; i < 24; i++) {
        // In the same export as a view's whole request: a Collector batches both.
        sent += await take(intake, [...queries.slice(2 * i, 2 * i + 2), ...requestSpans({ traceId: (i + 1).toString(16).padStart(32, 'c'), repeats: 30 })]);
        clock.now += 5000;
        await intake.tick();
      }
      return sent;
    };
    const metrics = createMetrics();
    const intake = open(metrics);
    const sent = await twoMinutes(intake);
    expect(intake.openTraces).toBe(1); // the views were analysed; the task is still growing
    expect((await store.report()).summary.requests).toBe(24);
    const compacted = (await metrics.registry.getSingleMetric('n1lens_spool_segments_compacted_total')?.get())?.values[0]?.value;
    expect(compacted).toBeGreaterThanOrEqual(15);
    // What the spool keeps is the task's queries, not the views' segments they were exported with.
    expect(await settled()).toBeLessThan(sent / 4);

    // kill -9: the process is gone as it was; the next one replays the spool.
    const again = open(createMetrics());
    await again.replay();
    expect(again.openTraces).toBe(1);
    await take(again, [run!]);
    clock.now += 31_000; // past the replay's wait for the senders' retries
    await again.tick();
    await again.close();
    const report = await store.report();
    expect(report.summary.requests).toBe(25);
    expect(report.endpoints.find((e) => e.endpoint === 'run/billing.nightly')?.findings[0]?.repeatsPerRequest).toEqual({ p50: 47, max: 47 });
    store.closeSync();
  });

  it('lets go of the copied segments only once the copy is on disk, and keeps them when its write fails', async () => {
    const clock = { now: 1_000_000 };
    const dir = join(tempDir('spool-long-task-write'), 'spool');
    // Real files whose writes the test holds back, or fails.
    let held: (() => void)[] | undefined;
    let failing = false;
    const openSegment = async (path: string, flags: number): Promise<SegmentFile> => {
      const file = await open(path, flags);
      return {
        writev: async (buffers, position) => {
          if (failing) throw new Error('no space left on device');
          if (held !== undefined) await new Promise<void>((resume) => held!.push(resume));
          return file.writev(buffers, position);
        },
        datasync: () => file.datasync(),
        close: () => file.close(),
      };
    };
    const spool = Spool.open({ dir, commitMs: 1, segmentBytes: 1, now: () => clock.now, openSegment });
    const metrics = createMetrics();
    const intake = new Intake({
      store: Store.open(':memory:'), metrics, spool, copyApart: spoolCopier(spool), traceWaitMs: 6000, traceSettleMs: 100, maxTraceAgeMs: 30_000, maxGrowingTraceAgeMs: 600_000,
      now: () => clock.now, ...TICKS_ONLY_WHEN_TOLD,
    });
    const segments = (): string[] => readdirSync(dir).filter((f) => f.endsWith('.seg')).sort();
    const compacted = async (): Promise<number | undefined> => (await metrics.registry.getSingleMetric('n1lens_spool_segments_compacted_total')?.get())?.values[0]?.value;
    const queries = requestSpans({ traceId: 'a'.repeat(32), repeats: 47 }).slice(1);
    // 25 s of the task's queries with views (a round every 10 s of the clock: none yet past the age).
    const step = async (i: number): Promise<void> => {
      const result = await intake.acceptProtobuf(exportOf([...queries.slice(2 * i, 2 * i + 2), ...requestSpans({ traceId: (i + 1).toString(16).padStart(32, 'c'), repeats: 30 })]).bytes, 'http');
      if (!result.ok) throw new Error(result.message);
      await result.durable;
      clock.now += 5000;
    };
    for (let i = 0; i < 5; i++) {
      await step(i);
      await intake.tick();
    }
    expect(await compacted()).toBe(0);
    await step(5);
    await step(6); // 35 s on, in the next period of the clock: the next tick starts a round
    // The copy's write does not return: the segments it copies stay.
    held = [];
    const before = segments();
    const ticking = intake.tick();
    for (let i = 0; i < 200 && held.length === 0; i++) await new Promise((r) => setTimeout(r, 5));
    expect(held.length).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 50));
    expect(segments().filter((f) => before.includes(f))).toEqual(before);
    const resume = held;
    held = undefined;
    for (const r of resume) r();
    await ticking;
    const copied = (await compacted())!;
    expect(copied).toBeGreaterThan(0);
    for (let i = 0; i < 100 && segments().filter((f) => before.includes(f)).length > before.length - copied; i++) await new Promise((r) => setTimeout(r, 10));
    expect(segments().filter((f) => before.includes(f))).toHaveLength(before.length - copied);
    // A round whose write fails lets go of nothing.
    for (let i = 7; i < 9; i++) await step(i);
    const kept = segments();
    failing = true;
    await intake.tick();
    failing = false;
    expect(await compacted()).toBe(copied);
    expect(segments().filter((f) => kept.includes(f))).toEqual(kept);
    await intake.close().catch(() => undefined);
  });

  it('lets a growing task go once the buffer is past half full, as it lets go of holds', async () => {
    const clock = { now: 1_000_000 };
    const intake = new Intake({
      store: Store.open(':memory:'), metrics: createMetrics(), traceWaitMs: 6000, traceSettleMs: 100, maxTraceAgeMs: 30_000, maxGrowingTraceAgeMs: 600_000,
      maxBufferBytes: 200_000, now: () => clock.now, ...TICKS_ONLY_WHEN_TOLD,
    });
    const queries = exportOf(requestSpans({ traceId: 'a'.repeat(32), repeats: 47 }).slice(1)).spans;
    const send = (spans: SpanRecord[]) => intake.accept({ spans, rejected: [] }, 'http');
    for (let i = 0; i < 8; i++) {
      expect((await send(queries.slice(2 * i, 2 * i + 2))).ok).toBe(true);
      clock.now += 5000;
      await intake.tick();
    }
    expect(intake.openTraces).toBe(1); // 40 s old and growing
    // Another trace's queries, without their request yet, take the buffer past half.
    const other = exportOf(requestSpans({ traceId: 'b'.repeat(32), repeats: 500 }).slice(1)).spans;
    expect(other.reduce((n, s) => n + estimateSpanBytes(s), 0)).toBeGreaterThan(100_000);
    expect((await send([...other, ...queries.slice(16, 18)])).ok).toBe(true);
    await intake.tick();
    expect(intake.openTraces).toBe(1); // the task went; the other trace is young
    await intake.close();
  });

  it('without copying apart, keeps every segment the task has spans in', async () => {
    // The same traffic: what the copying saves.
    const clock = { now: 1_000_000 };
    const dir = join(tempDir('spool-long-task-kept'), 'spool');
    const spool = Spool.open({ dir, commitMs: 1, segmentBytes: 1, now: () => clock.now });
    const intake = new Intake({ store: Store.open(':memory:'), metrics: createMetrics(), spool, traceWaitMs: 6000, traceSettleMs: 100, maxTraceAgeMs: 30_000, maxGrowingTraceAgeMs: 600_000, now: () => clock.now, ...TICKS_ONLY_WHEN_TOLD });
    const queries = requestSpans({ traceId: 'a'.repeat(32), repeats: 47 }).slice(1);
    for (let i = 0; i < 24; i++) {
      const result = await intake.acceptProtobuf(exportOf([...queries.slice(2 * i, 2 * i + 2), ...requestSpans({ traceId: (i + 1).toString(16).padStart(32, 'c'), repeats: 30 })]).bytes, 'http');
      if (!result.ok) throw new Error(result.message);
      await result.durable;
      clock.now += 5000;
      await intake.tick();
    }
    expect(readdirSync(dir).filter((f) => f.endsWith('.seg'))).toHaveLength(24);
    await intake.close();
  });
});

describe('Intake writes after a failed write', () => {
  it("writes a failed write's requests again with those analysed while it was out and after: none lost, none counted twice", async () => {
    const store = Store.open(':memory:');
    const record = store.record.bind(store);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let entered!: () => void;
    const writing = new Promise<void>((resolve) => (entered = resolve));
    let calls = 0;
    let failWrites = true;
    store.record = async (analyses, committed, built) => {
      if (++calls === 1) {
        entered();
        await gate;
      }
      if (failWrites) throw new Error('database is locked');
      return record(analyses, committed, built);
    };
    const clock = { now: 1_000_000 };
    const intake = new Intake({ store, metrics: createMetrics(), traceWaitMs: 100, now: () => clock.now, ...TICKS_ONLY_WHEN_TOLD });
    const sendTrace = async (traceId: string): Promise<void> => {
      expect((await intake.acceptProtobuf(exportOf(requestSpans({ traceId })).bytes, 'http')).ok).toBe(true);
    };
    await sendTrace('a'.repeat(32));
    clock.now += 1000;
    // Analyses a and writes it; the write waits at the gate, then fails.
    const failing = intake.tick();
    await writing;
    await sendTrace('b'.repeat(32));
    clock.now += 1000;
    // Analyses b while that write is out (its rows apart from a's), then waits for that write.
    const during = intake.tick();
    await new Promise((resolve) => setImmediate(resolve));
    release();
    expect(await failing).toBe(false);
    expect(await during).toBe(false);
    // a and b are pending again; c is analysed before the next write, which takes all three.
    failWrites = false;
    await sendTrace('c'.repeat(32));
    clock.now += 1000;
    expect(await intake.tick()).toBe(true);
    expect(calls).toBe(2);
    expect((await store.report()).summary.requests).toBe(3);
    await intake.close();
    store.closeSync();
  });

  it("counts a continuation once when its write committed but the answer was lost (the writer thread died after its commit)", async () => {
    const dir = join(tempDir('continue-ambiguous'), 'spool');
    const file = join(tempDir('continue-ambiguous-db'), 'n1lens.db');
    const { clock, options } = continuationOptions();
    const { view, task } = queuedTask('7'.repeat(32));
    const store = Store.open(file);
    const record = store.record.bind(store);
    let loseAnswer = false;
    store.record = async (...args) => {
      const theirs = await record(...args);
      if (!loseAnswer) return theirs;
      loseAnswer = false;
      throw new StoreWriteError("the store's writer thread stopped: exit code 1");
    };
    const intake = new Intake({ ...options, store, spool: Spool.open({ dir, commitMs: 1 }) });
    expect((await intake.acceptProtobuf(exportOf(view).bytes, 'http')).ok).toBe(true);
    clock.now += 6000;
    expect(await intake.tick()).toBe(true); // the view, committed awaiting its task
    const late = await intake.acceptProtobuf(exportOf(task).bytes, 'http');
    if (!late.ok) throw new Error(late.message);
    await late.durable;
    loseAnswer = true;
    clock.now += 7000;
    expect(await intake.tick()).toBe(false); // the continuation is committed, but the intake cannot know
    expect(await intake.tick()).toBe(true); // so it writes it again
    await intake.close();
    const requests = (await store.report()).endpoints.map((e) => [e.endpoint, e.requests]).sort();
    expect(requests).toEqual([['GET dashboard/', 1], ['run/reports.build', 1]]);
    store.closeSync();
  });
});

describe('Intake holds analyses without their spans', () => {
  it("keeps each finding's worst request whole through a failed write, and writes a batch made again without a trace another writer committed", async () => {
    const store = Store.open(':memory:');
    const record = store.record.bind(store);
    const written: RequestAnalysis[][] = [];
    let failNext = true;
    store.record = async (analyses, committed, built) => {
      written.push([...analyses]);
      if (failNext) {
        failNext = false;
        throw new Error('database is locked');
      }
      return record(analyses, committed, built);
    };
    const clock = { now: 1_000_000 };
    const intake = new Intake({ store, metrics: createMetrics(), traceWaitMs: 100, trackCommitted: true, now: () => clock.now, ...TICKS_ONLY_WHEN_TOLD });
    const id = (c: string): string => c.repeat(32);
    const spansOf = (c: string, repeats: number) => exportOf(requestSpans({ traceId: id(c), repeats }));
    const send = async (c: string, repeats: number): Promise<void> => {
      expect((await intake.acceptProtobuf(spansOf(c, repeats).bytes, 'http')).ok).toBe(true);
    };
    const released = (batch: RequestAnalysis[]) => Object.fromEntries(batch.map((a) => [a.traceId[0], timelineReleased(a)]));
    const examples = async () => {
      const ids = [...(await store.findingIds()).values()];
      expect(ids.length).toBeGreaterThan(0);
      return new Set(await Promise.all(ids.map(async (f) => { const x = (await store.finding(f))?.example; return `${x?.traceId[0]} ${x?.timeline.length}`; })));
    };

    await send('a', 6);
    await send('b', 12);
    await send('c', 8);
    clock.now += 1000;
    expect(await intake.tick()).toBe(false); // the write fails
    expect(released(written[0]!)).toEqual({ a: true, b: false, c: false }); // b the worst, c the runner-up
    // Made again from the analyses with d's: b is still every finding's worst, its timeline whole.
    await send('d', 10);
    clock.now += 1000;
    expect(await intake.tick()).toBe(true);
    expect(await examples()).toEqual(new Set([`b ${12 + 1}`]));

    // e, f and 9 open here; another writer commits e (20 repeats) first.
    await send('e', 20);
    await send('f', 15);
    await send('9', 10);
    const other = new Analyzer({});
    other.add(spansOf('e', 20).spans, 0);
    await record(other.flush(), { traceIds: [id('e')], nowMs: clock.now });
    expect(await examples()).toEqual(new Set([`e ${20 + 1}`]));
    clock.now += 1000;
    // This write counts f and 9, made again without e: f is the worst left, and the other writer's e stays the example.
    expect(await intake.tick()).toBe(true);
    expect(released(written.at(-1)!)).toEqual({ e: false, f: false, 9: true });
    expect((await store.report()).summary.requests).toBe(7);
    expect(await examples()).toEqual(new Set([`e ${20 + 1}`]));
    await intake.close();
    store.closeSync();
  });

  it("shows the runner-up when another writer, whose view of the worst request's trace lacked the finding, committed it first", async () => {
    const store = Store.open(':memory:');
    const record = store.record.bind(store);
    const clock = { now: 1_000_000 };
    const intake = new Intake({ store, metrics: createMetrics(), traceWaitMs: 100, trackCommitted: true, now: () => clock.now, ...TICKS_ONLY_WHEN_TOLD });
    const spansOf = (c: string, repeats: number) => exportOf(requestSpans({ traceId: c.repeat(32), repeats }));
    for (const [c, repeats] of [['e', 20], ['f', 15], ['9', 10]] as const) expect((await intake.acceptProtobuf(spansOf(c, repeats).bytes, 'http')).ok).toBe(true);
    // Another instance got e's root and two of its queries (no cascade), and committed it first.
    const other = new Analyzer({});
    other.add(spansOf('e', 2).spans, 0);
    await record(other.flush(), { traceIds: ['e'.repeat(32)], nowMs: clock.now });
    clock.now += 1000;
    expect(await intake.tick()).toBe(true);
    const ids = [...(await store.findingIds()).values()];
    expect(ids.length).toBeGreaterThan(0);
    for (const id of ids) expect((await store.finding(id))?.example).toMatchObject({ traceId: 'f'.repeat(32), timeline: { length: 16 } });
    await intake.close();
    store.closeSync();
  });
});

describe('Intake replay after a crash', () => {
  it.each(['protobuf', 'json', 'json-given-up'] as const)('replays a %s spool into the analyses the same exports make live, leaving out the traces already committed', async (path) => {
    const now = 1_000_000;
    const exports = sampleExports();
    const spans = exports.flatMap((e) => e.spans);
    const ids = [...new Set(spans.map((s) => s.traceId))].sort();
    // A third of the traces were analysed and committed before the crash; their exports are still in the spool.
    const done = new Set(ids.filter((_, i) => i % 3 === 0));
    const doneSpans = spans.filter((s) => done.has(s.traceId)).length;
    expect(exports.some((e) => e.spans.some((s) => done.has(s.traceId)) && e.spans.some((s) => !done.has(s.traceId)))).toBe(true);
    const storeWithDone = async (): Promise<Store> => {
      const store = Store.open(':memory:');
      const earlier = new Analyzer({ minRepeats: 5 });
      earlier.add(spans.filter((s) => done.has(s.traceId)), 0);
      await store.record(earlier.flush(), { traceIds: done, nowMs: now });
      return store;
    };

    const live = await storeWithDone();
    const liveIntake = new Intake({ store: live, metrics: createMetrics(), spool: Spool.open({ dir: join(tempDir('replay-live'), 'spool'), commitMs: 1 }), minRepeats: 5, now: () => now });
    for (const e of exports) expect((await send(liveIntake, path, e, 'http')).ok).toBe(true);
    await liveIntake.close();

    const dir = join(tempDir('replay-columns'), 'spool');
    const spool = Spool.open({ dir, commitMs: 1 });
    spool.append('protobuf', Buffer.from([0x0a, 0x05, 0x01])); // no longer decodes: skipped
    // Kept as they arrived: plain, gzip'd and deflated by turns.
    exports.forEach((e, i) => {
      const body = path === 'protobuf' ? e.bytes : jsonBody(e, path);
      const compression = ([undefined, 'gzip', 'deflate'] as const)[i % 3];
      spool.append(path === 'protobuf' ? 'protobuf' : 'json', compression === undefined ? body : compression === 'gzip' ? gzipSync(body) : deflateSync(body), compression);
    });
    spool.append('json', Buffer.from('{"resourceSpans": [')); // nor does this
    spool.append('protobuf', Buffer.from('not gzip'), 'gzip'); // nor this
    await spool.close();
    const store = await storeWithDone();
    const metrics = createMetrics();
    const intake = new Intake({ store, metrics, spool: Spool.open({ dir, commitMs: 1 }), minRepeats: 5, now: () => now });
    expect(await intake.replay()).toEqual({ exports: exports.length, spans: spans.length - doneSpans, skipped: doneSpans });
    const gauge = async (name: string): Promise<number | undefined> => (await metrics.registry.getSingleMetric(name)?.get())?.values[0]?.value;
    expect(await gauge('n1lens_late_spans_total')).toBe(0); // skipped, not late
    expect(intake.openTraces).toBe(ids.length - done.size);
    // A committed trace's export resent after the restart: its spans are late, not a second request.
    const resent = exports.find((e) => e.spans.every((s) => done.has(s.traceId)))!;
    expect((await send(intake, path, resent, 'http')).ok).toBe(true);
    expect(await gauge('n1lens_late_spans_total')).toBe(resent.spans.length);
    await intake.close();
    expect(await store.report()).toEqual(await live.report());
    expect((await store.report()).summary.requests).toBe(33);
    store.closeSync();
    live.closeSync();
  });

  it("deletes each spool segment once its traces are committed, while an older one waits for a trace's root", async () => {
    const clock = { now: 1_000_000 };
    const dir = join(tempDir('spool-pins'), 'spool');
    // Ticks only when the test says: a timer's tick could commit a trace before the test looks.
    const intake = new Intake({
      store: Store.open(':memory:'), metrics: createMetrics(), spool: Spool.open({ dir, commitMs: 1, segmentBytes: 1 }), traceWaitMs: 100, now: () => clock.now,
      ...TICKS_ONLY_WHEN_TOLD,
    });
    const segments = (): string[] => readdirSync(dir).filter((f) => f.endsWith('.seg')).sort();
    const take = async (spans: OtlpJsonSpan[]): Promise<string> => {
      const result = await intake.acceptProtobuf(exportOf(spans).bytes, 'http');
      if (!result.ok) throw new Error(result.message);
      await result.durable;
      return segments().at(-1)!; // a segment per export
    };
    const gone = async (names: string[]): Promise<void> => {
      for (let i = 0; i < 100 && segments().some((f) => names.includes(f)); i++) await new Promise((r) => setTimeout(r, 10)); // unlinked on the thread pool
    };
    // Spans whose root never comes: the trace waits for the maximum age (30 s).
    const waiting = await take(requestSpans({ traceId: '1'.repeat(32), repeats: 6 }).filter((s) => s.parentSpanId !== undefined));
    const done = [await take(requestSpans({ traceId: '2'.repeat(32), repeats: 6 })), await take(requestSpans({ traceId: '3'.repeat(32), repeats: 6 }))];
    // A trace whose queries come in two exports, and its root only later.
    const continued = requestSpans({ traceId: '4'.repeat(32), repeats: 6 });
    const root = continued.find((s) => s.parentSpanId === undefined)!;
    const queries = continued.filter((s) => s !== root);
    const parts = [await take(queries.slice(0, 3)), await take(queries.slice(3))];
    // A segment sealed (here at its first export) with every trace in it committed goes, the last too.
    const filler = await take(requestSpans({ traceId: '6'.repeat(32), repeats: 6 }));
    expect(segments()).toEqual([waiting, ...done, ...parts, filler]);
    clock.now += 1000;
    await intake.tick();
    await gone([...done, filler]);
    // The rooted traces are committed and their segments deleted; the older one, and both of the open trace's, kept.
    expect(segments()).toEqual([waiting, ...parts]);
    const last = await take([root]);
    clock.now += 1000;
    await intake.tick();
    await gone([...parts, last]);
    expect(segments()).toEqual([waiting]);
    clock.now += 30_000;
    await intake.tick();
    await gone([waiting]);
    expect(segments()).toEqual([]);
    await intake.close();
  });

  it('deletes segments of late spans only without waiting for a trace to complete, so a spool filled by resent exports drains', async () => {
    const clock = { now: 1_000_000 };
    const dir = join(tempDir('spool-late'), 'spool');
    const store = Store.open(':memory:');
    const spool = Spool.open({ dir, commitMs: 1, segmentBytes: 1, maxBytes: 64 * 1024 });
    const intake = new Intake({ store, metrics: createMetrics(), spool, traceWaitMs: 100, now: () => clock.now, ...TICKS_ONLY_WHEN_TOLD });
    const body = exportOf(requestSpans({ traceId: '7'.repeat(32), repeats: 6 })).bytes;
    const send = () => intake.acceptProtobuf(body, 'http');
    const first = await send();
    if (!first.ok) throw new Error(first.message);
    await first.durable;
    clock.now += 1000;
    await intake.tick();
    expect((await store.report()).summary.requests).toBe(1);
    // The sender resends its committed export (a lost acknowledgement) until the spool is full.
    let refused: Awaited<ReturnType<typeof send>> | undefined;
    for (let i = 0; i < 10_000 && refused === undefined; i++) {
      const again = await send();
      if (again.ok) await again.durable;
      else refused = again;
    }
    expect(refused).toMatchObject({ ok: false, reason: 'spool_full' });
    // Nothing completes, nothing is written: the tick still lets the late spans' segments go.
    clock.now += 1000;
    await intake.tick();
    for (let i = 0; i < 100 && spool.wouldOverflow(body.length); i++) await new Promise((r) => setTimeout(r, 10));
    const next = await intake.acceptProtobuf(exportOf(requestSpans({ traceId: '8'.repeat(32), repeats: 6 })).bytes, 'http');
    expect(next.ok).toBe(true);
    clock.now += 1000;
    await intake.close();
    expect((await store.report()).summary.requests).toBe(2);
    store.closeSync();
  });

  it('drains a spool that filled within one segment once its traces are committed, and takes exports again', async () => {
    const clock = { now: 1_000_000 };
    const dir = join(tempDir('spool-one-full'), 'spool');
    const body = (digit: string): Uint8Array => exportOf(requestSpans({ traceId: digit.repeat(32), repeats: 5 })).bytes;
    // Room for three exports, all in the segment being written (8 MiB or a second by default).
    const spool = Spool.open({ dir, commitMs: 1, maxBytes: 3 * (body('a').length + 9) + 10, now: () => clock.now });
    const store = Store.open(':memory:');
    const intake = new Intake({ store, metrics: createMetrics(), spool, traceWaitMs: 100, now: () => clock.now, ...TICKS_ONLY_WHEN_TOLD });
    for (const digit of ['a', 'b', 'c']) {
      const taken = await intake.acceptProtobuf(body(digit), 'http');
      if (!taken.ok) throw new Error(taken.message);
      await taken.durable;
    }
    expect(await intake.acceptProtobuf(body('d'), 'http')).toMatchObject({ ok: false, reason: 'spool_full' });
    // Every trace completes and is written; no export comes to close the segment's file.
    clock.now += 5000;
    await intake.tick();
    expect((await store.report()).summary.requests).toBe(3);
    for (let i = 0; i < 100 && spool.bytes > 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(spool.bytes).toBe(0);
    expect(await intake.acceptProtobuf(body('d'), 'http')).toMatchObject({ ok: true });
    await intake.close();
    store.closeSync();
  });

  it('spools a compressed export as it arrived: fewer bytes to write than inflated', async () => {
    const [e] = sampleExports();
    const spool = Spool.open({ dir: join(tempDir('spool-compressed'), 'spool'), commitMs: 1 });
    const intake = new Intake({ store: Store.open(':memory:'), metrics: createMetrics(), spool, minRepeats: 5 });
    const gzipped = gzipSync(e!.bytes);
    const result = await intake.acceptProtobuf(e!.bytes, 'http', undefined, { bytes: gzipped, compression: 'gzip' });
    expect(result.ok).toBe(true);
    expect(spool.bytes).toBe(9 + gzipped.length);
    expect(gzipped.length).toBeLessThan(e!.bytes.length / 2);
    await intake.close();
  });

  it('shows on /metrics the bytes of the calls analysed traces still await, until they are answered', async () => {
    const { clock, options } = continuationOptions();
    const { view, task } = queuedTask('7'.repeat(32));
    const intake = new Intake({ ...options, store: Store.open(':memory:') });
    const awaitedBytes = async (): Promise<number | undefined> => (await options.metrics.registry.getSingleMetric('n1lens_awaited_call_bytes')?.get())?.values[0]?.value;
    expect((await intake.acceptProtobuf(exportOf(view).bytes, 'http')).ok).toBe(true);
    clock.now += 6000;
    await intake.tick();
    expect(await awaitedBytes()).toBeGreaterThan(20); // the queued task's span id and its queue
    expect((await intake.acceptProtobuf(exportOf(task).bytes, 'http')).ok).toBe(true);
    clock.now += 7000;
    await intake.tick();
    expect(await awaitedBytes()).toBe(0);
    await intake.close();
  });

  it("continues a trace committed before the crash with a queued task's spans made durable after it, once, and a restart's copies are late", async () => {
    const dir = join(tempDir('replay-continue'), 'spool');
    const file = join(tempDir('replay-continue-db'), 'n1lens.db');
    const { clock, options } = continuationOptions();
    const { view, task } = queuedTask('7'.repeat(32));

    // The view was analysed and committed awaiting its task; the task's export was acknowledged, then the process died.
    const crashed = new Intake({ ...options, store: Store.open(file), spool: Spool.open({ dir, commitMs: 1 }) });
    expect((await crashed.acceptProtobuf(exportOf(view).bytes, 'http')).ok).toBe(true);
    clock.now += 6000;
    await crashed.tick();
    const late = await crashed.acceptProtobuf(exportOf(task).bytes, 'http');
    if (!late.ok) throw new Error(late.message);
    await late.durable;

    const store = Store.open(file);
    const intake = new Intake({ ...options, store, spool: Spool.open({ dir, commitMs: 1 }), replayWaitMs: 1000 });
    await intake.replay();
    clock.now += 7000;
    await intake.tick();
    expect(intake.openTraces).toBe(0);
    await intake.close();
    const requests = async () => (await store.report()).endpoints.map((e) => [e.endpoint, e.requests]).sort();
    expect(await requests()).toEqual([['GET dashboard/', 1], ['run/reports.build', 1]]);
    expect((await store.report()).endpoints.find((e) => e.endpoint === 'run/reports.build')?.findings[0]?.repeatsPerRequest).toEqual({ p50: 8, max: 8 });

    // Another start, the task's exporter retrying: nothing is awaited any more, so its spans are late.
    const restarted = new Intake({ ...options, store, trackCommitted: true });
    expect((await restarted.acceptProtobuf(exportOf(task).bytes, 'http')).ok).toBe(true);
    clock.now += 7000;
    await restarted.close();
    expect(await requests()).toEqual([['GET dashboard/', 1], ['run/reports.build', 1]]);
    store.closeSync();
  });

  it("keeps a continuation's spool segment while it waits for the next write, though its trace's write finished meanwhile", async () => {
    const dir = join(tempDir('continue-pins'), 'spool');
    const file = join(tempDir('continue-pins-db'), 'n1lens.db');
    const { clock, options } = continuationOptions();
    const { view, task } = queuedTask('7'.repeat(32));
    const sealed = () => new Promise((resolve) => setTimeout(resolve, 20)); // segments roll after 5 ms
    const durably = async (intake: Intake, spans: OtlpJsonSpan[]): Promise<void> => {
      const accepted = await intake.acceptProtobuf(exportOf(spans).bytes, 'http');
      if (!accepted.ok) throw new Error(accepted.message);
      await accepted.durable;
      await sealed();
    };
    // The view's write is held in flight while the task's export comes and its continuation is analysed.
    const store = Store.open(file);
    const record = store.record.bind(store);
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let first = true;
    store.record = async (...args) => {
      if (first) {
        first = false;
        await held;
      }
      return record(...args);
    };
    const crashed = new Intake({ ...options, store, spool: Spool.open({ dir, commitMs: 1, segmentMs: 5 }) });
    await durably(crashed, view);
    clock.now += 6000;
    const viewWrite = crashed.tick();
    await durably(crashed, task);
    await durably(crashed, requestSpans({ traceId: 'f'.repeat(32), repeats: 0 }));
    clock.now += 6000;
    void crashed.tick(); // analyses the continuation, then joins the write in flight
    release();
    await viewWrite;
    await sealed();
    // The process dies before the continuation's write.
    expect(await taskRequestsAfterRestart(file, dir, options, clock)).toBe(1);
  });

  it("keeps a continuation's spool segment when its trace's write finishes between two parts of the tick that analyses it", async () => {
    const dir = join(tempDir('continue-parts'), 'spool');
    const file = join(tempDir('continue-parts-db'), 'n1lens.db');
    const { clock, options } = continuationOptions();
    const { view, task } = queuedTask('7'.repeat(32));
    const durably = async (intake: Intake, spans: OtlpJsonSpan[]): Promise<void> => {
      const accepted = await intake.acceptProtobuf(exportOf(spans).bytes, 'http');
      if (!accepted.ok) throw new Error(accepted.message);
      await accepted.durable;
    };
    // The view's write is committed but its answer held; the write after it never ends (the crash).
    const store = Store.open(file);
    const record = store.record.bind(store);
    let answer!: () => void;
    const answered = new Promise<void>((resolve) => (answer = resolve));
    let writes = 0;
    store.record = async (...args) => {
      if (++writes > 1) return new Promise<string[]>(() => undefined);
      const theirs = await record(...args);
      await answered;
      return theirs;
    };
    const crashed = new Intake({ ...options, store, spool: Spool.open({ dir, commitMs: 1, segmentBytes: 1 }) });
    await durably(crashed, view);
    clock.now += 6000;
    void crashed.tick();
    // Past 2,000 spans before the task's, so the next tick analyses the continuation in a later part.
    for (let k = 0; k < 27; k++) await durably(crashed, requestSpans({ traceId: (0x100 + k).toString(16).padStart(32, 'd'), repeats: 100 }));
    await durably(crashed, task);
    clock.now += 6000;
    void crashed.tick(); // analyses the first part, then lets the event loop through…
    answer(); // …where the view's write ends
    await new Promise((resolve) => setTimeout(resolve, 100));
    // The process dies before the continuation's write.
    expect(await taskRequestsAfterRestart(file, dir, options, clock)).toBe(1);
  });

  it('leaves a trace another writer committed first to that writer to continue', async () => {
    const file = join(tempDir('continue-writers'), 'n1lens.db');
    const { clock, options } = continuationOptions();
    const stores = [Store.open(file), Store.open(file)] as const;
    const [a, b] = stores.map((store) => new Intake({ ...options, trackCommitted: true, store }));
    const { view, task } = queuedTask('9'.repeat(32));
    // The view went to a, the task to b, which committed the trace first.
    expect((await a!.acceptProtobuf(exportOf(view).bytes, 'http')).ok).toBe(true);
    expect((await b!.acceptProtobuf(exportOf(task).bytes, 'http')).ok).toBe(true);
    clock.now += 6000;
    await b!.tick();
    await a!.tick();
    // The worker's exporter retries the task to a: not a's to continue.
    expect((await a!.acceptProtobuf(exportOf(task).bytes, 'http')).ok).toBe(true);
    clock.now += 6000;
    await a!.close();
    await b!.close();
    expect((await stores[0].report()).endpoints.find((e) => e.endpoint === 'run/reports.build')?.requests).toBe(1);
    for (const store of stores) store.closeSync();
  });

  it("remembers a committed trace while a spool segment holds its spans, past ten minutes of downtime, so a second crash's replay skips it again", async () => {
    const dir = join(tempDir('replay-prune'), 'spool');
    const file = join(tempDir('replay-prune-db'), 'n1lens.db');
    const clock = { now: 1_000_000 };
    const options = { metrics: createMetrics(), traceWaitMs: 6000, traceSettleMs: 100, replayWaitMs: 1000, now: () => clock.now, ...TICKS_ONLY_WHEN_TOLD };
    const start = () => new Intake({ ...options, store: Store.open(file), spool: Spool.open({ dir, commitMs: 1, now: () => clock.now }) });
    const durably = async (intake: Intake, spans: OtlpJsonSpan[]): Promise<void> => {
      const accepted = await intake.acceptProtobuf(exportOf(spans).bytes, 'http');
      if (!accepted.ok) throw new Error(accepted.message);
      await accepted.durable;
    };
    // One export: trace 1 whole, and trace 2's queries, whose view's span never comes (so it waits 30 s of quiet).
    const done = requestSpans({ traceId: '1'.repeat(32), repeats: 6 });
    const rootless = requestSpans({ traceId: '2'.repeat(32), repeats: 6 }).slice(1);
    const first = start();
    await durably(first, [...done, ...rootless]);
    clock.now += 1000;
    await first.tick(); // trace 1 is committed; its segment stays for trace 2
    // The process dies, and starts again eleven minutes later: trace 2 comes back and keeps the segment.
    clock.now += 11 * 60_000;
    const second = start();
    expect(await second.replay()).toMatchObject({ spans: rootless.length, skipped: done.length });
    await durably(second, requestSpans({ traceId: '3'.repeat(32), repeats: 6 }));
    clock.now += 2000;
    await second.tick(); // writes trace 3 while trace 2 waits for its view
    // The process dies again: the segment still holds trace 1, which is still committed.
    clock.now += 1000;
    const third = start();
    expect(await third.replay()).toMatchObject({ skipped: done.length });
    clock.now += 31_000;
    await third.tick(); // trace 2 is written at last (30 s of quiet without a request span), and the last runs' segments go
    await until(async () => readdirSync(dir).length === 0);
    // Then trace 1 is forgotten as before: ten minutes after its commit, and with no segment left that holds it.
    await durably(third, requestSpans({ traceId: '4'.repeat(32), repeats: 6 }));
    clock.now += 61_000;
    await third.tick();
    await third.close();
    const store = Store.open(file);
    expect(await store.committed(['1'.repeat(32), '4'.repeat(32)])).toEqual(new Set(['4'.repeat(32)]));
    // Traces 1, 3 and 4 once each, and trace 2's queries as what they are.
    expect((await store.report()).endpoints.map((e) => [e.endpoint, e.requests]).sort()).toEqual([['(no request span)', 1], ['GET dashboard/', 3]]);
    store.closeSync();
  });

  it('keeps every trace open until the senders have resent what the crash cut off, so each request is analysed whole', async () => {
    const dir = join(tempDir('replay-wait'), 'spool');
    const clock = { now: 1_000_000 };
    const spans = requestSpans({ traceId: 'e'.repeat(32), repeats: 8 });
    const root = spans.find((s) => s.parentSpanId === undefined)!;
    const queries = spans.filter((s) => s !== root);
    // The root and the first queries were acknowledged (so spooled); the process died before the rest came.
    const crashed = new Intake({ store: Store.open(':memory:'), metrics: createMetrics(), spool: Spool.open({ dir, commitMs: 1 }), traceWaitMs: 100, now: () => clock.now });
    const first = await crashed.acceptProtobuf(exportOf([root, ...queries.slice(0, 3)]).bytes, 'http');
    if (!first.ok) throw new Error(first.message);
    await first.durable;

    const store = Store.open(':memory:');
    const intake = new Intake({ store, metrics: createMetrics(), spool: Spool.open({ dir, commitMs: 1 }), traceWaitMs: 100, replayWaitMs: 5000, now: () => clock.now });
    expect((await intake.replay()).spans).toBe(4);
    // Rooted and quiet for far longer than the trace wait: the sender's retry backoff has not ended yet.
    clock.now += 4000;
    await intake.tick();
    expect((await store.report()).summary.requests).toBe(0);
    // A trace the crashed run never saw, its root in one retried export and its queries in another.
    const unseen = requestSpans({ traceId: 'f'.repeat(32), repeats: 8 });
    const unseenRoot = unseen.find((s) => s.parentSpanId === undefined)!;
    expect((await intake.acceptProtobuf(exportOf([unseenRoot]).bytes, 'http')).ok).toBe(true);
    clock.now += 800;
    await intake.tick();
    expect((await store.report()).summary.requests).toBe(0);
    for (const rest of [queries.slice(3), unseen.filter((s) => s !== unseenRoot)]) expect((await intake.acceptProtobuf(exportOf(rest).bytes, 'grpc')).ok).toBe(true);
    clock.now += 1200;
    await intake.tick();
    const report = await store.report();
    expect(report.summary.requests).toBe(2);
    expect(report.summary.dbSpans).toBe(queries.length + unseen.length - 1);
    await intake.close();
    store.closeSync();
  });
});

describe('Intake, queries outside requests', () => {
  /** A trace of `queries` DB spans with no parent: a test database's set-up, as Django's test runner sends it. */
  const setUpQueries = (traceId: string, queries: number): OtlpJsonSpan[] =>
    Array.from({ length: queries }, (_, i) => ({
      traceId,
      spanId: spanIdAt(traceId, i),
      name: 'CREATE',
      kind: 3,
      startTimeUnixNano: String(1_000_000_000_000_000 + i * 1_000_000),
      endTimeUnixNano: String(1_000_000_000_000_000 + i * 1_000_000 + 500_000),
      attributes: [
        { key: 'db.system', value: { stringValue: 'postgresql' } },
        { key: 'db.statement', value: { stringValue: `CREATE TABLE "t${i}" ("id" integer)` } },
      ],
    }));

  it('stores them with their traces\' commit: read back from the file after a crash, a replayed export counted once', async () => {
    const dir = join(tempDir('outside-spool'), 'spool');
    const file = join(tempDir('outside-db'), 'n1lens.db');
    const { clock, options } = continuationOptions();
    const crashed = new Intake({ ...options, store: Store.open(file), spool: Spool.open({ dir, commitMs: 1 }) });
    const first = await crashed.acceptProtobuf(exportOf([...requestSpans({ traceId: '1'.repeat(32) }), ...setUpQueries('2'.repeat(32), 3)]).bytes, 'http');
    if (!first.ok) throw new Error(first.message);
    await first.durable;
    clock.now += 7000;
    await crashed.tick();
    // Acknowledged and durable, not analysed: then kill -9. Its segment holds the first export too.
    const second = await crashed.acceptProtobuf(exportOf(setUpQueries('3'.repeat(32), 2)).bytes, 'http');
    if (!second.ok) throw new Error(second.message);
    await second.durable;

    const store = Store.open(file);
    const intake = new Intake({ ...options, store, spool: Spool.open({ dir, commitMs: 1 }), replayWaitMs: 1000 });
    const replayed = await intake.replay();
    expect(replayed.skipped).toBeGreaterThanOrEqual(3); // the first export's committed traces were read again, and skipped
    clock.now += 7000;
    await intake.tick();
    await intake.close();
    store.closeSync();

    const reopened = Store.open(file);
    const report = await reopened.report();
    expect(report.endpoints.map((e) => [e.endpoint, e.requests])).toEqual([['GET dashboard/', 1]]);
    expect(report.summary.queriesOutsideRequests).toBe(5);
    expect((await reopened.report({ service: 'recruit' })).summary.queriesOutsideRequests).toBe(5);
    expect((await reopened.report({ service: 'billing' })).summary.queriesOutsideRequests).toBeUndefined();
    reopened.closeSync();
  });
});
