import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SpanKind, type SpanRecord, type TraceId } from '../otlp/span.js';
import { REFUSAL_WAIT_CAP_MS } from './admission.js';
import { assembleTrace, callPaths, isRequestSpan, learnablePeer, looksWhole, MAX_AWAITED_CALLS, peerCalls } from './assemble.js';
import { estimateSpanBytes, OPEN_TRACE_BYTES, TraceAssembler } from './assembler.js';
import { NO_REQUEST_SPAN } from './request.js';
import { assembleCompact, CompactTrace, compactTraces } from './compact.js';
import { isProbe, OPAQUE_AFTER_TRACES } from './peers.js';
import type { AssemblerCounters, AssemblerOptions } from './assembler.js';

const T = 'a'.repeat(32);
let next = 0;
const id = (): string => (++next).toString(16).padStart(16, '0');

function span(over: Partial<SpanRecord>): SpanRecord {
  return { traceId: T, spanId: id(), parentSpanId: '', name: 'x', kind: SpanKind.INTERNAL, startMs: 0, endMs: 1, service: 'recruit', ...over };
}

function djangoTrace(traceId = T): SpanRecord[] {
  const server = span({ traceId, name: 'GET dashboard/', kind: SpanKind.SERVER, httpMethod: 'GET', httpRoute: 'dashboard/', startMs: 0, endMs: 100 });
  const render = span({ traceId, parentSpanId: server.spanId, name: 'render', startMs: 10, endMs: 90 });
  const db = [1, 2, 3].map((i) =>
    span({ traceId, parentSpanId: render.spanId, kind: SpanKind.CLIENT, name: 'SELECT', dbSystem: 'postgresql', dbStatement: `SELECT ${i}`, startMs: 20 + i, endMs: 21 + i }),
  );
  const http = span({ traceId, parentSpanId: server.spanId, kind: SpanKind.CLIENT, name: 'POST', httpMethod: 'POST', peer: 'hr.local', startMs: 95, endMs: 99 });
  return [server, render, ...db, http];
}

describe('assembleTrace', () => {
  it('puts DB spans under their nearest enclosing request at any depth', () => {
    const [req] = assembleTrace(djangoTrace());
    expect(req?.endpoint).toBe('GET dashboard/');
    expect(req?.dbSpans.map((d) => d.statement)).toEqual(['SELECT 1', 'SELECT 2', 'SELECT 3']);
    expect(req?.outbound).toHaveLength(1);
    expect(req?.outbound[0]).toMatchObject({ kind: 'http', peer: 'hr.local', durationMs: 4 });
  });

  it('gives the same requests whatever order the spans arrive in', () => {
    const spans = djangoTrace();
    const reversed = assembleTrace([...spans].reverse());
    expect(reversed).toEqual(assembleTrace(spans));
  });

  it('assigns DB spans inside a Celery task to the task, not the outer view', () => {
    const server = span({ name: 'POST applications/submit/', kind: SpanKind.SERVER, httpMethod: 'POST', httpRoute: 'applications/submit/' });
    const task = span({ parentSpanId: server.spanId, name: 'run/notify', kind: SpanKind.CONSUMER, httpRoute: 'ignored' });
    const q = span({ parentSpanId: task.spanId, kind: SpanKind.CLIENT, dbSystem: 'postgresql', dbStatement: 'SELECT 1' });
    const requests = assembleTrace([q, task, server]);
    expect(requests.find((r) => r.endpoint === 'run/notify')?.dbSpans).toHaveLength(1);
    expect(requests.find((r) => r.endpoint === 'POST applications/submit/')?.dbSpans).toHaveLength(0);
  });

  it('gathers DB spans whose request span never arrived under (no request span)', () => {
    const q = span({ parentSpanId: 'ffffffffffffffff', kind: SpanKind.CLIENT, dbSystem: 'sqlite', dbStatement: 'SELECT 1', startMs: 5, endMs: 7 });
    const [req] = assembleTrace([q]);
    expect(req).toMatchObject({ endpoint: NO_REQUEST_SPAN, spanId: '', startMs: 5, durationMs: 2 });
    expect(req?.dbSpans).toHaveLength(1);
  });

  it('gathers the orphaned queries of each service apart, whatever order they come in', () => {
    // Neither the web view's span nor the API's view's span arrived: two processes' queries, not one request's.
    const orphan = (parentSpanId: string, service: string, i: number) => span({ parentSpanId, service, kind: SpanKind.CLIENT, dbSystem: 'postgresql', dbStatement: `SELECT ${i}`, startMs: i, endMs: i + 1 });
    const web = [1, 2, 3].map((i) => orphan('aaaaaaaaaaaaaaa1', 'web', i));
    const api = [4, 5].map((i) => orphan('bbbbbbbbbbbbbbb1', 'api', i));
    const byService = (requests: ReturnType<typeof assembleTrace>) => requests.map((r) => `${r.service} ${r.endpoint} ${r.dbSpans.map((d) => d.statement).join(',')}`).sort();
    const expected = ['api (no request span) SELECT 4,SELECT 5', 'web (no request span) SELECT 1,SELECT 2,SELECT 3'];
    for (const order of [[...web, ...api], [...api, ...web]]) {
      expect(byService(assembleTrace(order))).toEqual(expected);
      const t = new CompactTrace();
      for (const s of order) t.add(s);
      expect(byService(assembleCompact(t))).toEqual(expected);
    }
  });

  it('leaves a query with no parent out of every request, and counts it: a test database\'s set-up is no endpoint', () => {
    // `manage.py test` creating the test database: each statement a trace of its own, with no span above it.
    const setUp = ['CREATE TABLE "t" ("id" integer)', 'PRAGMA foreign_keys = 0', 'INSERT INTO "t" VALUES (1)'].map((sql, i) =>
      span({ traceId: String(i).repeat(32), kind: SpanKind.CLIENT, name: sql.split(' ')[0], dbSystem: 'sqlite', dbStatement: sql }),
    );
    for (const s of setUp) {
      const stats = { duplicateSpans: 0, queriesOutsideRequests: 0 };
      expect(assembleTrace([s, s], stats)).toEqual([]);
      expect(stats).toEqual({ duplicateSpans: 1, queriesOutsideRequests: 1 });
      const compactStats = { duplicateSpans: 0, queriesOutsideRequests: 0 };
      const t = new CompactTrace();
      t.add(s);
      t.add(s);
      expect(assembleCompact(t, compactStats)).toEqual([]);
      expect(compactStats).toEqual(stats);
    }
    // A root span that is no query (a test's, a task's) is still a request, with the queries below it.
    const test = span({ name: 'test tests/test_jobs.py::JobsTests::test_counts', startMs: 0, endMs: 10 });
    const q = span({ parentSpanId: test.spanId, kind: SpanKind.CLIENT, dbSystem: 'sqlite', dbStatement: 'SELECT 1', startMs: 1, endMs: 2 });
    const [request] = assembleTrace([q, test]);
    expect(request).toMatchObject({ endpoint: 'test tests/test_jobs.py::JobsTests::test_counts', spanId: test.spanId });
    expect(request?.dbSpans.map((d) => d.statement)).toEqual(['SELECT 1']);
  });

  it('leaves an outbound call with no parent out of every request, like a query with none, and counts the queries below it', () => {
    // A management command calling an API: its HTTP CLIENT span roots the trace, with no view or task above it.
    const call = span({ kind: SpanKind.CLIENT, name: 'POST', httpMethod: 'POST', peer: 'hr.local', startMs: 0, endMs: 10 });
    const below = span({ parentSpanId: call.spanId, kind: SpanKind.CLIENT, dbSystem: 'sqlite', dbStatement: 'SELECT 1', startMs: 1, endMs: 2 });
    // The API's own view, answering it in the same trace, is a request as before.
    const callee = span({ parentSpanId: call.spanId, name: 'POST people/', kind: SpanKind.SERVER, httpMethod: 'POST', httpRoute: 'people/', startMs: 2, endMs: 9 });
    const calleeQuery = span({ parentSpanId: callee.spanId, kind: SpanKind.CLIENT, dbSystem: 'postgresql', dbStatement: 'SELECT 2', startMs: 3, endMs: 4 });
    const trace = [call, below, callee, calleeQuery];
    const stats = { duplicateSpans: 0, queriesOutsideRequests: 0 };
    expect(assembleTrace(trace, stats).map((r) => `${r.endpoint} ${r.dbSpans.map((d) => d.statement).join(',')}`)).toEqual(['POST people/ SELECT 2']);
    expect(stats).toEqual({ duplicateSpans: 0, queriesOutsideRequests: 1 });
    const compactStats = { duplicateSpans: 0, queriesOutsideRequests: 0 };
    const t = new CompactTrace();
    for (const s of trace) t.add(s);
    expect(assembleCompact(t, compactStats).map((r) => r.endpoint)).toEqual(['POST people/']);
    expect(compactStats).toEqual(stats);
    // Alone (the API not traced), the call is no request and no query: nothing to count.
    const alone = { duplicateSpans: 0, queriesOutsideRequests: 0 };
    expect(assembleTrace([span({ kind: SpanKind.CLIENT, name: 'GET', httpMethod: 'GET', peer: 'api.example.com' })], alone)).toEqual([]);
    expect(alone.queriesOutsideRequests).toBe(0);
  });

  it('ends the walk on parent cycles and self-parents instead of hanging', () => {
    const a = span({ spanId: '00000000000000aa', parentSpanId: '00000000000000bb', kind: SpanKind.CLIENT, dbSystem: 'sqlite', dbStatement: 'SELECT a' });
    const b = span({ spanId: '00000000000000bb', parentSpanId: '00000000000000aa' });
    const self = span({ spanId: '00000000000000cc', parentSpanId: '00000000000000cc', kind: SpanKind.CLIENT, dbSystem: 'sqlite', dbStatement: 'SELECT c' });
    const requests = assembleTrace([a, b, self]);
    expect(requests).toHaveLength(1);
    expect(requests[0]?.endpoint).toBe(NO_REQUEST_SPAN);
    expect(requests[0]?.dbSpans).toHaveLength(2);
  });

  it('walks a 100k-deep span chain without recursion', () => {
    const spans: SpanRecord[] = [span({ spanId: '0000000000000001', kind: SpanKind.SERVER, name: 'GET deep/' })];
    for (let i = 2; i <= 100_000; i++) {
      spans.push(span({ spanId: i.toString(16).padStart(16, '0'), parentSpanId: (i - 1).toString(16).padStart(16, '0') }));
    }
    spans.push(span({ parentSpanId: (100_000).toString(16).padStart(16, '0'), kind: SpanKind.CLIENT, dbSystem: 'sqlite', dbStatement: 'SELECT 1' }));
    const [req] = assembleTrace(spans);
    expect(req?.dbSpans).toHaveLength(1);
  });
});

describe('TraceAssembler', () => {
  const traceIds = ['1', '2', '3'].map((c) => c.repeat(32));

  it('releases a rooted trace once it has been quiet for traceWaitMs', () => {
    const asm = new TraceAssembler({ traceWaitMs: 100 });
    const spans = djangoTrace(traceIds[0]);
    asm.add(spans.slice(1), 0); // children first, no root yet
    expect(asm.poll(500)).toEqual([]); // quiet but unrooted: still waiting for the root
    asm.add(spans.slice(0, 1), 600);
    expect(asm.poll(650)).toEqual([]);
    const done = asm.poll(700);
    expect(done).toHaveLength(1);
    expect(done[0]?.spans).toHaveLength(spans.length);
    expect(done[0]?.reason).toBe('quiet');
  });

  it('releases an unrooted trace at max age and counts spans arriving after release as late', () => {
    const asm = new TraceAssembler({ traceWaitMs: 100, maxTraceAgeMs: 1000 });
    const spans = djangoTrace(traceIds[1]);
    asm.add(spans.slice(1, 3), 0);
    expect(asm.poll(999)).toEqual([]);
    expect(asm.poll(1000).map((t) => t.reason)).toEqual(['max_age']);
    asm.add(spans.slice(0, 1), 1001);
    expect(asm.counters.lateSpans).toBe(1);
    expect(asm.openTraces).toBe(0);
  });

  it('evicts the least recently touched trace past maxOpenTraces and counts it', () => {
    const asm = new TraceAssembler({ maxOpenTraces: 2 });
    asm.add(djangoTrace(traceIds[0]), 0);
    asm.add(djangoTrace(traceIds[1]), 1);
    asm.add(djangoTrace(traceIds[0]).slice(0, 1), 2); // touch trace 0 again
    const evicted = asm.add(djangoTrace(traceIds[2]), 3);
    expect(evicted.map((t) => t.traceId)).toEqual([traceIds[1]]);
    expect(asm.counters.evictions).toBe(1);
    expect(asm.isFull).toBe(true);
  });

  it('past maxOpenBytes, evicts the least recently touched traces until the new one fits, however many that takes', () => {
    const bytes = (spans: SpanRecord[]) => OPEN_TRACE_BYTES + spans.reduce((n, s) => n + estimateSpanBytes(s), 0);
    const traces = traceIds.map((t) => djangoTrace(t));
    const small = djangoTrace('d'.repeat(32)).slice(0, 1);
    // Room for the three traces and the one span of a fourth, not for a fourth whole trace.
    const asm = new TraceAssembler({ maxOpenBytes: bytes(traces[0]!) + bytes(traces[1]!) + bytes(traces[2]!) + bytes(small) });
    for (const [i, spans] of traces.entries()) asm.add(spans.slice(0, 1), i);
    for (const i of [1, 2, 0]) asm.add(traces[i]!.slice(1), 10 + i); // trace 0 touched last
    expect(asm.add(small, 30)).toEqual([]);
    expect(asm.counters.evictions).toBe(0);
    // A trace twice as large takes the place of the two least recently touched, as it grows.
    const large = [...djangoTrace('e'.repeat(32)), ...djangoTrace('e'.repeat(32))];
    const evicted = asm.add(large, 40);
    expect(evicted.map((t) => [t.traceId, t.reason])).toEqual([[traceIds[1], 'evicted'], [traceIds[2], 'evicted']]);
    expect(asm.counters.evictions).toBe(2);
    expect(asm.openTraces).toBe(3);
    expect(asm.isFull).toBe(false); // no count limit was reached
    // A trace past the limit on its own is kept, the others released.
    expect(asm.add([...large, ...large].map((s) => ({ ...s, spanId: id() })), 50).map((t) => t.traceId)).toEqual([traceIds[0], 'd'.repeat(32)]);
    expect(asm.openTraces).toBe(1);
    expect(asm.isOpen('e'.repeat(32))).toBe(true);
  });

  it('holdAll keeps every trace, even one opened after it, until the refused exporter is due back', () => {
    const asm = new TraceAssembler({ traceWaitMs: 100, maxTraceAgeMs: 1000 });
    asm.add(djangoTrace(traceIds[0]), 0);
    asm.holdAll(5000);
    asm.add(djangoTrace(traceIds[1]), 10);
    asm.add(djangoTrace(traceIds[2]).slice(1), 20); // no root: only max age releases it
    expect(asm.poll(4999)).toEqual([]); // past the trace wait and the maximum age, but held
    expect(asm.poll(5000).map((t) => t.traceId)).toEqual(traceIds);
  });

  it('is stalled while holdAll holds and nothing moves: no span for the trace wait, or a poll found a trace complete but held', () => {
    const asm = new TraceAssembler({ traceWaitMs: 100 });
    expect(asm.isStalled(0)).toBe(false); // nothing open
    asm.add(djangoTrace(traceIds[0]).slice(1), 0); // no root yet
    expect(asm.isStalled(500)).toBe(false); // no hold: polling would release what is complete
    asm.holdAll(10_000);
    expect(asm.isStalled(50)).toBe(false); // spans joined just now
    expect(asm.isStalled(150)).toBe(true); // no span for the trace wait
    asm.add(djangoTrace(traceIds[1]), 200); // complete once quiet
    expect(asm.isStalled(250)).toBe(false);
    asm.add(djangoTrace(traceIds[2]).slice(1, 2), 320);
    expect(asm.isStalled(330)).toBe(false); // not polled since trace 1 became complete
    expect(asm.poll(330)).toEqual([]);
    expect(asm.isStalled(330)).toBe(true); // trace 1 is complete and kept only by the hold
    expect(asm.isStalled(10_000)).toBe(false); // the hold is over
  });

  it('is stalled after at most REFUSAL_WAIT_CAP_MS without a span, however long the trace wait', () => {
    const asm = new TraceAssembler({ traceWaitMs: 6000 });
    asm.add(djangoTrace(traceIds[0]).slice(1), 0); // no root yet
    asm.holdAll(60_000);
    expect(asm.isStalled(REFUSAL_WAIT_CAP_MS - 1)).toBe(false);
    expect(asm.isStalled(REFUSAL_WAIT_CAP_MS)).toBe(true);
  });

  it('releases a trace that looks whole once quiet for traceSettleMs, the others after traceWaitMs', () => {
    const asm = new TraceAssembler({ traceWaitMs: 2000, traceSettleMs: 200 });
    const [a, b, c, d, e] = ['a', 'b', 'c', 'd', 'e'].map((ch) => ch.repeat(32)) as [TraceId, TraceId, TraceId, TraceId, TraceId];
    const view = (traceId: TraceId, over: Partial<SpanRecord> = {}): SpanRecord => span({ traceId, kind: SpanKind.SERVER, name: 'GET x/', ...over });
    const query = (traceId: TraceId, parentSpanId: string): SpanRecord =>
      span({ traceId, parentSpanId, kind: SpanKind.CLIENT, dbSystem: 'postgresql', dbStatement: 'SELECT 1' });
    // a: a view and its queries. b: djangoTrace, whose HTTP call has no span of its callee.
    const aView = view(a);
    // c: a query under a render span that has not arrived yet.
    const cView = view(c);
    const render = span({ traceId: c, parentSpanId: cView.spanId });
    // d: a view whose caller (another service's span) has not arrived.
    const dView = view(d, { parentSpanId: 'f'.repeat(16) });
    // e: djangoTrace, and the view its HTTP call reached in another service.
    const eSpans = djangoTrace(e);
    const call = eSpans.find((s) => s.kind === SpanKind.CLIENT && s.httpMethod !== undefined)!;
    const callee = view(e, { parentSpanId: call.spanId, service: 'hr' });
    asm.add([aView, query(a, aView.spanId), query(a, aView.spanId), ...djangoTrace(b), cView, query(c, render.spanId), dView, query(d, dView.spanId), ...eSpans, callee], 0);
    const released = (now: number): TraceId[] => asm.poll(now).map((t) => t.traceId);
    expect(released(199)).toEqual([]);
    expect(released(200)).toEqual([a, e]);
    asm.add([render], 300); // c's missing link
    expect(released(499)).toEqual([]);
    expect(released(500)).toEqual([c]);
    expect(released(1999)).toEqual([]);
    expect(released(2000)).toEqual([b, d]);
  });

  it('takes a call as answered only by a span of what it called: a SERVER or CONSUMER span, or a nested call answered in turn', () => {
    const view = span({ kind: SpanKind.SERVER });
    const enqueue = span({ parentSpanId: view.spanId, kind: SpanKind.PRODUCER, name: 'apply_async/report', messagingSystem: 'redis' });
    // kombu's LPUSH, in the web process under Celery's apply_async: not the task's answer.
    const lpush = span({ parentSpanId: enqueue.spanId, kind: SpanKind.CLIENT, dbSystem: 'redis', dbStatement: 'LPUSH celery ?' });
    const task = span({ parentSpanId: enqueue.spanId, kind: SpanKind.CONSUMER, name: 'run/report' });
    expect(looksWhole([view, enqueue, lpush])).toBe(false);
    expect(looksWhole([view, enqueue, lpush, task])).toBe(true);
    const compactOf = (spans: SpanRecord[]): CompactTrace => {
      const t = new CompactTrace();
      for (const s of spans) t.add(s);
      return t;
    };
    expect(compactOf([view, enqueue, lpush]).looksWhole()).toBe(false);
    // requests' span, then urllib3's inside it, then the service it reached.
    const outer = span({ parentSpanId: view.spanId, kind: SpanKind.CLIENT, httpMethod: 'GET' });
    const inner = span({ parentSpanId: outer.spanId, kind: SpanKind.CLIENT, httpMethod: 'GET' });
    const callee = span({ parentSpanId: inner.spanId, kind: SpanKind.SERVER, service: 'hr' });
    expect(looksWhole([view, outer, inner])).toBe(false);
    expect(looksWhole([view, outer, inner, callee])).toBe(true);
    const selfCall = span({ kind: SpanKind.CLIENT, httpMethod: 'GET' });
    selfCall.parentSpanId = selfCall.spanId;
    expect(looksWhole([view, selfCall])).toBe(false);
  });

  it('learns an HTTP or RPC call by its host, a queue by its span name, and no name too long to keep', () => {
    const call = (over: Partial<SpanRecord>): string | undefined => learnablePeer(span({ kind: SpanKind.CLIENT, ...over }));
    expect(call({ httpMethod: 'POST', peer: 'API.Stripe.com' })).toBe('api.stripe.com');
    expect(call({ rpcSystem: 'grpc', peer: 'hr.internal' })).toBe('hr.internal');
    expect(call({ httpMethod: 'POST' })).toBeUndefined(); // no host to learn
    expect(call({ name: 'LPUSH' })).toBeUndefined(); // a client span of no known kind
    expect(call({ kind: SpanKind.PRODUCER, name: 'apply_async/mail.send', peer: 'redis' })).toBe('queue:apply_async/mail.send');
    expect(call({ messagingSystem: 'kafka', name: 'send orders', peer: 'kafka-0' })).toBe('queue:send orders');
    expect(call({ dbSystem: 'redis', dbStatement: 'LPUSH celery ?' })).toBeUndefined(); // a query, not a call
    expect(call({ kind: SpanKind.SERVER, httpMethod: 'GET', peer: 'x' })).toBeUndefined();
    expect(call({ kind: SpanKind.PRODUCER, name: 'x'.repeat(294) })).toHaveLength(300);
    expect(call({ kind: SpanKind.PRODUCER, name: 'x'.repeat(295) })).toBeUndefined();
    expect(call({ httpMethod: 'GET', peer: 'h'.repeat(301) })).toBeUndefined();
  });

  it('probes one trace in 64', () => {
    const probed = Array.from({ length: 6400 }, (_, n) => (n * 0x9e3779b1 >>> 0).toString(16).padStart(32, '0')).filter(isProbe);
    expect(probed).toHaveLength(100);
  });

  describe.each([
    ['records', () => new TraceAssembler({ traceWaitMs: 2000, traceSettleMs: 200 })],
    ['columns', () => new TraceAssembler({ traceWaitMs: 2000, traceSettleMs: 200 }, compactTraces())],
  ] as const)('over %s: peers that never answer', (_, make) => {
    const withCalls = (n: number, peer: string, { answered = false, calls = 1, kind = SpanKind.CLIENT as SpanKind } = {}): SpanRecord[] => {
      const traceId = n.toString(16).padStart(32, '0');
      const view = span({ traceId, kind: SpanKind.SERVER });
      const out = Array.from({ length: calls }, () => span({ traceId, parentSpanId: view.spanId, kind, httpMethod: 'POST', peer }));
      const query = span({ traceId, parentSpanId: view.spanId, kind: SpanKind.CLIENT, dbSystem: 'postgresql', dbStatement: 'SELECT 1' });
      return answered ? [view, ...out, query, span({ traceId, parentSpanId: out[0]!.spanId, kind: SpanKind.SERVER, service: 'hr' })] : [view, ...out, query];
    };
    // Trace ids that are not probes.
    const ids = function* (from: number): Generator<number> {
      for (let n = from; ; n++) if (!isProbe(n.toString(16).padStart(32, '0'))) yield n;
    };
    const run = (asm: TraceAssembler<unknown>) => {
      let now = 0;
      // Released after `ms` of quiet, and not before.
      return (spans: SpanRecord[], ms: number) => {
        asm.add(spans, now);
        expect(asm.poll(now + ms - 1)).toEqual([]);
        const released = asm.poll(now + ms);
        expect(released.map((t) => t.traceId)).toEqual([spans[0]!.traceId]);
        now += ms;
        return released[0]!;
      };
    };

    it('learns one from traces that waited it out, lets its callers settle, and forgets it once a probe is answered', () => {
      const asm = make();
      const releasedAfter = run(asm);
      const next = ids(1);
      for (let i = 0; i < OPAQUE_AFTER_TRACES; i++) releasedAfter(withCalls(next.next().value, 'API.stripe.com'), 2000);
      expect(asm.peers.count).toBe(1);
      expect(releasedAfter(withCalls(next.next().value, 'api.stripe.com'), 200).awaited).toBeUndefined(); // learned, whatever the case
      // A probe settles too, but awaits the call, and the answer that comes after is a continuation.
      const [view, call] = withCalls(0x1000, 'api.stripe.com');
      expect(releasedAfter([view!, call!], 200).awaited).toHaveLength(1);
      const answer = span({ traceId: view!.traceId, parentSpanId: call!.spanId, kind: SpanKind.SERVER, service: 'stripe' });
      expect(releasedAfter([answer], 200).continuing).toEqual(new Set([answer.spanId]));
      expect(asm.peers.count).toBe(0);
      releasedAfter(withCalls(next.next().value, 'api.stripe.com'), 2000); // so the peer is waited for again
    });

    it('takes an answer within a trace as for good', () => {
      const asm = make();
      const releasedAfter = run(asm);
      const next = ids(1);
      for (let i = 0; i < OPAQUE_AFTER_TRACES; i++) releasedAfter(withCalls(next.next().value, 'api.stripe.com'), 2000);
      releasedAfter(withCalls(next.next().value, 'api.stripe.com', { answered: true }), 200);
      expect(asm.peers.count).toBe(0);
      for (let i = 0; i < OPAQUE_AFTER_TRACES + 1; i++) releasedAfter(withCalls(next.next().value, 'api.stripe.com'), 2000);
    });

    it('counts traces, not calls', () => {
      const asm = make();
      const releasedAfter = run(asm);
      const next = ids(1);
      releasedAfter(withCalls(next.next().value, 'hooks.local', { calls: 2 * OPAQUE_AFTER_TRACES }), 2000);
      releasedAfter(withCalls(next.next().value, 'hooks.local'), 2000);
    });

    it('learns a queue nobody consumes by its span name; a probe still awaits it, and an answer after the wait un-learns it', () => {
      const asm = make();
      const releasedAfter = run(asm);
      const next = ids(1);
      const queued = (n: number, name = 'apply_async/mail.send'): SpanRecord[] => {
        const traceId = n.toString(16).padStart(32, '0');
        const view = span({ traceId, kind: SpanKind.SERVER });
        return [view, span({ traceId, parentSpanId: view.spanId, kind: SpanKind.PRODUCER, name })];
      };
      for (let i = 0; i < OPAQUE_AFTER_TRACES; i++) expect(releasedAfter(queued(next.next().value), 2000).awaited).toHaveLength(1);
      expect(asm.peers.isOpaque('queue:apply_async/mail.send')).toBe(true);
      // Its callers settle, and nothing of theirs is awaited any more; another task's still wait.
      expect(releasedAfter(queued(next.next().value), 200).awaited).toBeUndefined();
      expect(releasedAfter(queued(next.next().value, 'apply_async/mail.digest'), 2000).awaited).toHaveLength(1);
      // A probe settles too, but awaits its task; the task's run, whenever it comes, un-learns the queue.
      const probe = queued(0x1000);
      expect(releasedAfter(probe, 200).awaited).toEqual([{ spanId: probe[1]!.spanId, peer: 'queue:apply_async/mail.send' }]);
      const task = span({ traceId: probe[0]!.traceId, parentSpanId: probe[1]!.spanId, kind: SpanKind.CONSUMER, name: 'run/mail.send' });
      expect(releasedAfter([task], 200).continuing).toEqual(new Set([task.spanId]));
      expect(asm.peers.count).toBe(0);
      expect(releasedAfter(queued(next.next().value), 2000).awaited).toHaveLength(1);
    });

    it('learns from a trace some of whose spans were refused once they were resent: a flood refusing every trace still teaches', () => {
      const asm = make();
      const next = ids(1);
      let now = 0;
      for (let i = 0; i < OPAQUE_AFTER_TRACES; i++) {
        const [view, call, query] = withCalls(next.next().value, 'cdn.local');
        asm.add([view!, call!], now);
        asm.hold([view!.traceId], now + 3000); // the export with its query was refused…
        asm.add([query!], now + 1000); // …and resent, with no answer to the call in it
        expect(asm.poll(now + 2999)).toEqual([]);
        expect(asm.poll(now + 3000)).toHaveLength(1);
        now += 3000;
      }
      expect(asm.peers.count).toBe(1);
    });

    it('learns nothing from a trace whose refused spans never came back', () => {
      const asm = make();
      const next = ids(1);
      let now = 0;
      for (let i = 0; i < OPAQUE_AFTER_TRACES; i++) {
        const spans = withCalls(next.next().value, 'cdn.local');
        asm.add(spans, now);
        asm.hold([spans[0]!.traceId], now + 3000); // refused, and never resent: its answer may be among them
        expect(asm.poll(now + 3000)).toHaveLength(1);
        now += 3000;
      }
      expect(asm.peers.count).toBe(0);
    });
  });

  it('keeps a trace that looks whole while it is held', () => {
    const asm = new TraceAssembler({ traceWaitMs: 2000, traceSettleMs: 200 });
    const root = span({ kind: SpanKind.SERVER });
    asm.add([root, span({ parentSpanId: root.spanId, kind: SpanKind.CLIENT, dbSystem: 'postgresql', dbStatement: 'SELECT 1' })], 0);
    asm.hold([T], 1000);
    expect(asm.poll(999)).toEqual([]);
    expect(asm.poll(1000)).toHaveLength(1);
  });

  it('keeps the hold set before a released trace\'s continuation opened, as for a new trace', () => {
    const asm = new TraceAssembler({ traceWaitMs: 2000, traceSettleMs: 200 });
    const traceId = 'c'.repeat(32);
    const view = span({ traceId, kind: SpanKind.SERVER });
    const enqueue = span({ traceId, parentSpanId: view.spanId, kind: SpanKind.PRODUCER, name: 'apply_async/mail.send', messagingSystem: 'celery' });
    asm.add([view, enqueue], 0);
    expect(asm.poll(2000)[0]!.awaited).toEqual([{ spanId: enqueue.spanId, peer: 'queue:apply_async/mail.send' }]);
    // The export with the task's queries is refused; the one with its run is taken, and looks whole.
    asm.hold([traceId], 9000);
    asm.add([span({ traceId, parentSpanId: enqueue.spanId, kind: SpanKind.CONSUMER, name: 'run/mail.send' })], 5000);
    expect(asm.poll(8999)).toEqual([]);
    expect(asm.poll(9000)[0]!.continuing!.size).toBe(1);
  });

  it('interleaves traces from many batches and flushes all at the end', () => {
    const asm = new TraceAssembler();
    const all = traceIds.flatMap((t) => djangoTrace(t));
    for (let i = all.length - 1; i >= 0; i -= 2) asm.add(all.slice(Math.max(0, i - 1), i + 1), 0);
    const flushed = asm.flush();
    expect(flushed.map((t) => t.traceId).sort()).toEqual([...traceIds].sort());
    expect(flushed.reduce((n, t) => n + t.spans.length, 0)).toBe(all.length);
    expect(asm.counters.spansBuffered).toBe(0);
  });
});

describe.each([
  ['records', () => new TraceAssembler({ traceWaitMs: 2000, traceSettleMs: 200 })],
  ['columns', () => new TraceAssembler({ traceWaitMs: 2000, traceSettleMs: 200 }, compactTraces())],
] as const)('over %s: calls nested in calls', (_, make) => {
  const hex = (n: number): string => n.toString(16).padStart(32, '0');
  // Trace ids that are not probes.
  const ids = function* (): Generator<string> {
    for (let n = 1; ; n++) if (!isProbe(hex(n))) yield hex(n);
  };
  /** Celery's apply_async over SQS: botocore's SendMessage inside it; the task's run, when it comes, hangs off apply_async. */
  const celeryOverSqs = (traceId: string, task = 'apply_async/mail.send') => {
    const view = span({ traceId, kind: SpanKind.SERVER });
    const enqueue = span({ traceId, parentSpanId: view.spanId, kind: SpanKind.PRODUCER, name: task });
    const send = span({ traceId, parentSpanId: enqueue.spanId, kind: SpanKind.CLIENT, name: 'SQS.SendMessage', messagingSystem: 'aws.sqs', rpcSystem: 'aws-api' });
    const run = span({ traceId, parentSpanId: enqueue.spanId, kind: SpanKind.CONSUMER, name: 'run/mail.send' });
    return { view, enqueue, send, run };
  };

  it('takes an answer below any call of a chain as its answer, and learns the chain by its outermost call', () => {
    const t = celeryOverSqs(T);
    expect(looksWhole([t.view, t.enqueue, t.send])).toBe(false);
    expect(looksWhole([t.view, t.enqueue, t.send, t.run])).toBe(true);
    expect(peerCalls(callPaths([t.view, t.enqueue, t.send]))).toEqual([{ peer: 'queue:apply_async/mail.send', answered: false }]);
    expect(peerCalls(callPaths([t.view, t.enqueue, t.send, t.run]))).toEqual([{ peer: 'queue:apply_async/mail.send', answered: true }]);
    // A retry: the first attempt got no answer, so the call still waits for it.
    const wrapper = span({ kind: SpanKind.CLIENT, parentSpanId: t.view.spanId, name: 'fetch' });
    const [first, second] = [0, 1].map(() => span({ kind: SpanKind.CLIENT, parentSpanId: wrapper.spanId, httpMethod: 'GET', peer: 'hr.local' }));
    const callee = span({ kind: SpanKind.SERVER, parentSpanId: second!.spanId, service: 'hr' });
    expect(looksWhole([t.view, wrapper, first!, second!, callee])).toBe(false);
    expect(looksWhole([t.view, wrapper, first!, second!, callee, span({ kind: SpanKind.SERVER, parentSpanId: first!.spanId, service: 'hr' })])).toBe(true);
  });

  it('never learns a broker client that tasks answer around: a late task is still analysed', () => {
    const asm = make();
    const next = ids();
    let now = 0;
    // Traced workers that answer in time: the chain is answered, its broker client with it.
    for (let i = 0; i < OPAQUE_AFTER_TRACES + 1; i++) {
      const t = celeryOverSqs(next.next().value);
      asm.add([t.view, t.enqueue, t.send, t.run], now);
      expect(asm.poll(now + 200)).toHaveLength(1);
      now += 200;
    }
    expect(asm.peers.count).toBe(0);
    // A task that runs later than the wait: the trace awaits both calls, and the run continues it.
    const late = celeryOverSqs(next.next().value);
    asm.add([late.view, late.enqueue, late.send], now);
    expect(asm.poll(now + 1999)).toEqual([]);
    const [released] = asm.poll(now + 2000);
    expect(released!.awaited).toEqual([{ spanId: late.send.spanId, peer: 'queue:apply_async/mail.send', via: [late.enqueue.spanId] }]);
    asm.add([late.run], now + 10_000);
    const [continued] = asm.poll(now + 10_200);
    expect(continued!.continuing).toEqual(new Set([late.run.spanId]));
    expect(continued!.awaited).toEqual([]); // the broker client was answered with the task it sent
  });

  /** A view; a hand-made CLIENT span around calls to `hosts` (none has an answer yet). */
  const wrapped = (traceId: string, hosts: string[]) => {
    const view = span({ traceId, kind: SpanKind.SERVER });
    const wrapper = span({ traceId, parentSpanId: view.spanId, kind: SpanKind.CLIENT, name: 'checkout' });
    const calls = hosts.map((peer) => span({ traceId, parentSpanId: wrapper.spanId, kind: SpanKind.CLIENT, httpMethod: 'POST', peer }));
    const answer = (i: number) => span({ traceId, parentSpanId: calls[i]!.spanId, kind: SpanKind.SERVER, service: hosts[i] });
    return { view, wrapper, calls, answer };
  };

  it('judges each call a wrapper makes by its own peer, and takes each answer as that call\'s', () => {
    const asm = make();
    const next = ids();
    let now = 0;
    for (let i = 0; i < OPAQUE_AFTER_TRACES; i++) {
      const w = wrapped(next.next().value, ['stripe.example', 'billing.local']);
      asm.add([w.view, w.wrapper, ...w.calls, w.answer(1)], now);
      expect(asm.poll(now + 2000)).toHaveLength(1);
      now += 2000;
    }
    expect(asm.peers.isOpaque('stripe.example')).toBe(true);
    expect(asm.peers.isOpaque('billing.local')).toBe(false); // answered each time
    // Billing, slower than the settle, is still waited for, then awaited; Stripe is neither.
    const w = wrapped(next.next().value, ['stripe.example', 'billing.local']);
    asm.add([w.view, w.wrapper, ...w.calls], now);
    expect(asm.poll(now + 1999)).toEqual([]);
    const [released] = asm.poll(now + 2000);
    expect(released!.awaited).toEqual([{ spanId: w.calls[1]!.spanId, peer: 'billing.local', via: [w.wrapper.spanId] }]);
    const billing = w.answer(1);
    asm.add([billing], now + 5000);
    expect(asm.poll(now + 5200)[0]!.continuing).toEqual(new Set([billing.spanId]));
    // Learning reads each call apart too: an answer from Stripe alone is Stripe's.
    expect(peerCalls(callPaths([w.view, w.wrapper, ...w.calls, w.answer(0)]))).toEqual([
      { peer: 'stripe.example', answered: true },
      { peer: 'billing.local', answered: false },
    ]);
  });

  it('continues a fan-out once per late answer, and un-learns only the peer that answered', () => {
    const asm = make();
    const next = ids();
    let now = 0;
    for (let i = 0; i < OPAQUE_AFTER_TRACES; i++) {
      const w = wrapped(next.next().value, ['stripe.example']);
      asm.add([w.view, w.wrapper, ...w.calls], now);
      expect(asm.poll(now + 2000)).toHaveLength(1);
      now += 2000;
    }
    expect(asm.peers.isOpaque('stripe.example')).toBe(true);
    // A probe calls Stripe, HR and payroll through one wrapper; HR and payroll answer late, apart.
    const w = wrapped(hex(0x1000), ['stripe.example', 'hr.local', 'pay.local']);
    asm.add([w.view, w.wrapper, ...w.calls], now);
    const [released] = asm.poll(now + 2000);
    expect(released!.awaited!.map((c) => c.peer)).toEqual(['hr.local', 'pay.local', 'stripe.example']);
    const hr = w.answer(1);
    asm.add([hr], now + 5000);
    const [first] = asm.poll(now + 5200);
    expect(first!.continuing).toEqual(new Set([hr.spanId]));
    expect(first!.awaited!.map((c) => c.peer)).toEqual(['pay.local', 'stripe.example']);
    expect(asm.peers.isOpaque('stripe.example')).toBe(true);
    const pay = w.answer(2);
    asm.add([pay], now + 8000);
    expect(asm.poll(now + 8200)[0]!.continuing).toEqual(new Set([pay.spanId]));
    expect(asm.counters.continuedRequests).toBe(2);
  });

  it('awaits a call nested in another as one call, answered below either', () => {
    const asm = make();
    const traceId = hex(7);
    const view = span({ traceId, kind: SpanKind.SERVER });
    // requests' span with urllib3's inside, sixteen times: all sixteen are awaited.
    const pairs = Array.from({ length: MAX_AWAITED_CALLS }, () => {
      const outer = span({ traceId, parentSpanId: view.spanId, kind: SpanKind.CLIENT, httpMethod: 'GET', peer: 'hr.local' });
      return [outer, span({ traceId, parentSpanId: outer.spanId, kind: SpanKind.CLIENT, httpMethod: 'GET', peer: 'hr.local' })] as const;
    });
    asm.add([view, ...pairs.flat()], 0);
    const [released] = asm.poll(2000);
    expect(released!.awaited).toHaveLength(MAX_AWAITED_CALLS);
    // One callee's view below urllib3's span, another below requests' span: each answers its pair.
    const belowInner = span({ traceId, parentSpanId: pairs[0]![1].spanId, kind: SpanKind.SERVER, service: 'hr' });
    const belowOuter = span({ traceId, parentSpanId: pairs[1]![0].spanId, kind: SpanKind.SERVER, service: 'hr' });
    asm.add([belowInner, belowOuter], 5000);
    const [continued] = asm.poll(5200);
    expect(continued!.continuing).toEqual(new Set([belowInner.spanId, belowOuter.spanId]));
    expect(continued!.awaited).toEqual(pairs.slice(2).map(([outer, inner]) => ({ spanId: inner.spanId, peer: 'hr.local', via: [outer.spanId] })));
  });

  /** A view and `depth` HTTP client calls, each nested in the one before. */
  const nestedCalls = (traceId: string, depth: number) => {
    const view = span({ traceId, kind: SpanKind.SERVER });
    const chain: SpanRecord[] = [];
    for (let i = 0; i < depth; i++) chain.push(span({ traceId, parentSpanId: (chain[i - 1] ?? view).spanId, kind: SpanKind.CLIENT, httpMethod: 'GET', peer: 'hr.local' }));
    return { view, chain };
  };

  it('keeps the outermost and the nearest calls of a deep path, below which an answer comes', () => {
    const asm = make();
    const traceId = hex(9);
    const { view, chain } = nestedCalls(traceId, 7);
    asm.add([view, ...chain], 0);
    const [released] = asm.poll(2000);
    const [c0, , , c3, c4, c5, c6] = chain.map((c) => c.spanId);
    expect(released!.awaited).toEqual([{ spanId: c6, peer: 'hr.local', via: [c0, c3, c4, c5] }]);
    const answer = span({ traceId, parentSpanId: c5!, kind: SpanKind.SERVER, service: 'hr' });
    asm.add([answer], 5000);
    const [continued] = asm.poll(5200);
    expect(continued!.continuing).toEqual(new Set([answer.spanId]));
    expect(continued!.awaited).toEqual([]);
  });

  it('continues a late chain of nested calls with an answer below each, every answer once', () => {
    const asm = make();
    const traceId = hex(11);
    const view = span({ traceId, kind: SpanKind.SERVER });
    const outer = span({ traceId, parentSpanId: view.spanId, kind: SpanKind.CLIENT, name: 'batch' });
    asm.add([view, outer], 0);
    expect(asm.poll(2000)[0]!.awaited).toEqual([{ spanId: outer.spanId }]);
    // The calls inside it came late, nested 300 deep, each answered.
    const late: SpanRecord[] = [];
    let parent = outer.spanId;
    for (let i = 0; i < 300; i++) {
      const call = span({ traceId, parentSpanId: parent, kind: SpanKind.CLIENT, httpMethod: 'GET', peer: 'hr.local' });
      late.push(call, span({ traceId, parentSpanId: call.spanId, kind: SpanKind.SERVER, service: 'hr' }));
      parent = call.spanId;
    }
    asm.add(late, 5000);
    const [continued] = asm.poll(5200);
    expect(continued!.continuing!.size).toBe(300);
    expect(asm.counters.continuedRequests).toBe(300);
  });

  /** requests' span with urllib3's first attempt (never answered) and its retry inside; the retry's callee. */
  const retryBesideFailure = (traceId: string) => {
    const view = span({ traceId, kind: SpanKind.SERVER });
    const outer = span({ traceId, parentSpanId: view.spanId, kind: SpanKind.CLIENT, httpMethod: 'GET', peer: 'hr.local' });
    const [failed, retry] = [0, 1].map(() => span({ traceId, parentSpanId: outer.spanId, kind: SpanKind.CLIENT, httpMethod: 'GET', peer: 'hr.local' })) as [SpanRecord, SpanRecord];
    const served = span({ traceId, parentSpanId: retry.spanId, kind: SpanKind.SERVER, service: 'hr' });
    return { view, outer, failed, retry, served };
  };

  it('takes a copy of an answered retry for no answer to the failed attempt beside it', () => {
    const asm = make();
    const traceId = hex(13);
    const { view, outer, failed, retry, served } = retryBesideFailure(traceId);
    const query = span({ traceId, parentSpanId: served.spanId, kind: SpanKind.CLIENT, dbSystem: 'postgresql', dbStatement: 'SELECT 1', service: 'hr' });
    asm.add([view, outer, failed, retry, served, query], 0);
    // Not below requests' span, which an answered path goes through: a copy of that answer would sit there.
    const awaited = [{ spanId: failed.spanId, peer: 'hr.local' }];
    expect(asm.poll(2000)[0]!.awaited).toEqual(awaited);
    // After a restart, the spool replays the retry's export (or the client resends it): its span ids are not remembered.
    const restarted = make();
    restarted.markReleased([traceId], new Map([[traceId, awaited]]));
    restarted.add([retry, served, query], 5000);
    // Nothing tells the copies from a callee's work whose view is still to come below the failed attempt
    // (their parent is no span the trace is known to have had), so they wait as such work does, then go as no work.
    expect(restarted.poll(34_999)).toEqual([]);
    const [continued] = restarted.poll(35_000);
    expect(continued).toMatchObject({ reason: 'max_age', continuing: new Set() });
    expect(continued!.awaited).toEqual(awaited);
    // The failed attempt's own answer, later still, continues the trace.
    const late = span({ traceId, parentSpanId: failed.spanId, kind: SpanKind.SERVER, service: 'hr' });
    restarted.add([late], 36_000);
    const [answered] = restarted.poll(36_200);
    expect(answered!.continuing).toEqual(new Set([late.spanId]));
    expect(answered!.awaited).toEqual([]);
  });

  it('leaves every call up an answered path out of a sibling\'s via, past the via window too', () => {
    const asm = make();
    const traceId = hex(17);
    const { view, chain } = nestedCalls(traceId, 6);
    const served = span({ traceId, parentSpanId: chain[5]!.spanId, kind: SpanKind.SERVER, service: 'hr' });
    // A sibling below the second call, never answered: the answered path's window skips that call.
    const sibling = span({ traceId, parentSpanId: chain[1]!.spanId, kind: SpanKind.CLIENT, httpMethod: 'GET', peer: 'hr.local' });
    asm.add([view, ...chain, served, sibling], 0);
    const awaited = [{ spanId: sibling.spanId, peer: 'hr.local' }];
    expect(asm.poll(2000)[0]!.awaited).toEqual(awaited);
    // The spool replays the answered path's inner calls and its answer after a restart: no new work.
    const restarted = make();
    restarted.markReleased([traceId], new Map([[traceId, awaited]]));
    restarted.add([...chain.slice(2), served], 5000);
    // Copies nothing tells from a callee's work still awaiting its view below the sibling: kept as such work is.
    expect(restarted.poll(7000)).toEqual([]);
    const [replayed] = restarted.poll(35_000);
    expect(replayed!.continuing).toEqual(new Set());
    expect(replayed!.awaited).toEqual(awaited);
  });

  it('takes a retry first seen after its trace was released, with its answer, for new work', () => {
    const asm = make();
    const { view, outer, failed, retry, served } = retryBesideFailure(hex(15));
    // The export with the retry and its answer was refused, and came back after the trace wait.
    asm.add([view, outer, failed], 0);
    expect(asm.poll(2000)[0]!.awaited).toEqual([{ spanId: failed.spanId, peer: 'hr.local', via: [outer.spanId] }]);
    asm.add([retry, served], 5000);
    const [continued] = asm.poll(5200);
    expect(continued!.continuing).toEqual(new Set([served.spanId]));
  });

  it('looks again at a trace found not whole once the peer it called is learned, without waiting for it to grow', () => {
    const asm = make();
    const next = ids();
    const call = (traceId: string) => {
      const view = span({ traceId, kind: SpanKind.SERVER });
      return [view, span({ traceId, parentSpanId: view.spanId, kind: SpanKind.CLIENT, httpMethod: 'GET', peer: 'stripe.example' })];
    };
    for (let i = 0; i < OPAQUE_AFTER_TRACES; i++) asm.add(call(next.next().value), 0);
    const waiting = next.next().value;
    asm.add(call(waiting), 1500);
    expect(asm.poll(1800)).toEqual([]); // quiet past the settle, but its call is unanswered
    // The others waited the whole wait: Stripe is learned as they go, and the trace looks whole now.
    const released = asm.poll(2000);
    expect(asm.peers.isOpaque('stripe.example')).toBe(true);
    expect(released.find((t) => t.traceId === waiting)?.reason).toBe('settled');
  });

  it('learns a queue nobody consumes by its task, not by the broker client every queue shares', () => {
    const asm = make();
    const next = ids();
    let now = 0;
    for (let i = 0; i < OPAQUE_AFTER_TRACES; i++) {
      const t = celeryOverSqs(next.next().value, 'apply_async/audit.log');
      asm.add([t.view, t.enqueue, t.send], now);
      expect(asm.poll(now + 2000)).toHaveLength(1);
      now += 2000;
    }
    expect(asm.peers.isOpaque('queue:apply_async/audit.log')).toBe(true);
    expect(asm.peers.isOpaque('queue:SQS.SendMessage')).toBe(false);
    // Another task, over the same client, still waits for its run.
    const other = celeryOverSqs(next.next().value);
    asm.add([other.view, other.enqueue, other.send], now);
    expect(asm.poll(now + 1999)).toEqual([]);
    expect(asm.poll(now + 2000)).toHaveLength(1);
  });

  it('lists a probe\'s calls to learned peers after the others, so they never crowd out a task', () => {
    const asm = make();
    const next = ids();
    let now = 0;
    const apiCalls = (traceId: string, view: SpanRecord, n: number) =>
      Array.from({ length: n }, () => span({ traceId, parentSpanId: view.spanId, kind: SpanKind.CLIENT, httpMethod: 'POST', peer: 'api.stripe.com' }));
    for (let i = 0; i < OPAQUE_AFTER_TRACES; i++) {
      const traceId = next.next().value;
      const view = span({ traceId, kind: SpanKind.SERVER });
      asm.add([view, ...apiCalls(traceId, view, 1)], now);
      expect(asm.poll(now + 2000)).toHaveLength(1);
      now += 2000;
    }
    expect(asm.peers.isOpaque('api.stripe.com')).toBe(true);
    const probeId = hex(0x1000);
    expect(isProbe(probeId)).toBe(true);
    const view = span({ traceId: probeId, kind: SpanKind.SERVER });
    const enqueue = span({ traceId: probeId, parentSpanId: view.spanId, kind: SpanKind.PRODUCER, name: 'apply_async/report' });
    asm.add([view, ...apiCalls(probeId, view, MAX_AWAITED_CALLS), enqueue], now);
    const [released] = asm.poll(now + 2000);
    expect(released!.awaited).toHaveLength(MAX_AWAITED_CALLS);
    expect(released!.awaited![0]).toEqual({ spanId: enqueue.spanId, peer: 'queue:apply_async/report' });
    // The task's run continues it; what the task calls goes before the probe's calls to the learned peer.
    const run = span({ traceId: probeId, parentSpanId: enqueue.spanId, kind: SpanKind.CONSUMER });
    const charge = span({ traceId: probeId, parentSpanId: run.spanId, kind: SpanKind.CLIENT, httpMethod: 'POST', peer: 'api.stripe.com' });
    const report = span({ traceId: probeId, parentSpanId: run.spanId, kind: SpanKind.CLIENT, httpMethod: 'POST', peer: 'reports.local' });
    const chained = span({ traceId: probeId, parentSpanId: run.spanId, kind: SpanKind.PRODUCER, name: 'apply_async/report.mail' });
    asm.add([run, charge, report, chained], now + 10_000);
    const [continued] = asm.poll(now + 12_000);
    expect(continued!.continuing).toEqual(new Set([run.spanId]));
    expect(continued!.awaited).toHaveLength(MAX_AWAITED_CALLS);
    expect(continued!.awaited!.slice(0, 2).map((c) => c.spanId)).toEqual([report.spanId, chained.spanId]);
  });
});

describe.each([
  ['records', () => new TraceAssembler({ traceWaitMs: 2000, traceSettleMs: 200 })],
  ['columns', () => new TraceAssembler({ traceWaitMs: 2000, traceSettleMs: 200 }, compactTraces())],
] as const)('over %s: work that outlives its trace', (_, make) => {
  const traceId = 'b'.repeat(32);
  /** A view that queues a task and calls an HTTP API; `task`: the task's run and its query, which come later. */
  const traffic = () => {
    const view = span({ traceId, kind: SpanKind.SERVER, httpMethod: 'POST', httpRoute: 'reports/' });
    const enqueue = span({ traceId, parentSpanId: view.spanId, kind: SpanKind.PRODUCER, messagingSystem: 'rabbitmq' });
    const api = span({ traceId, parentSpanId: view.spanId, kind: SpanKind.CLIENT, httpMethod: 'POST', peer: 'api.stripe.com' });
    const viewQuery = span({ traceId, parentSpanId: view.spanId, kind: SpanKind.CLIENT, dbSystem: 'postgresql', dbStatement: 'SELECT 1' });
    const task = span({ traceId, parentSpanId: enqueue.spanId, kind: SpanKind.CONSUMER, name: 'run/reports.build' });
    const taskQuery = span({ traceId, parentSpanId: task.spanId, kind: SpanKind.CLIENT, dbSystem: 'postgresql', dbStatement: 'SELECT 2' });
    const chained = span({ traceId, parentSpanId: task.spanId, kind: SpanKind.PRODUCER, messagingSystem: 'rabbitmq' });
    const next = span({ traceId, parentSpanId: chained.spanId, kind: SpanKind.CONSUMER, name: 'run/reports.mail' });
    return { view, enqueue, api, viewQuery, task, taskQuery, chained, next };
  };
  const released = (asm: TraceAssembler<unknown>, now: number) => asm.poll(now).map((t) => ({ reason: t.reason, continuing: t.continuing === undefined ? undefined : [...t.continuing] }));

  it('analyses the spans below a call the trace still awaited as a continuation: the queued task, then the task it queued', () => {
    const asm = make();
    const t = traffic();
    asm.add([t.view, t.enqueue, t.api, t.viewQuery], 0);
    expect(released(asm, 2000)).toEqual([{ reason: 'quiet', continuing: undefined }]);
    // The task ran later, with a late query of the view's in the same export: only the task continues.
    asm.add([t.task, t.taskQuery, t.chained, span({ ...t.viewQuery, spanId: id() })], 10_000);
    expect(released(asm, 10_200)).toEqual([]); // the view's late query has no parent here: not whole
    expect(released(asm, 12_000)).toEqual([{ reason: 'quiet', continuing: [t.task.spanId] }]);
    expect(asm.counters.continuedRequests).toBe(1);
    expect(asm.counters.lateSpans).toBe(4);
    // A copy of the task's export (its exporter retrying) is no new work; the task it queued, later still, is.
    asm.add([span({ ...t.task })], 15_000);
    expect(asm.openTraces).toBe(0);
    asm.add([t.next], 20_000);
    expect(released(asm, 20_200)).toEqual([{ reason: 'settled', continuing: [t.next.spanId] }]);
    expect(asm.counters.continuedRequests).toBe(2);
    // The API call is still awaited, so a late query of the second task's waits with it (for a request span, to the
    // maximum age) and continues nothing.
    asm.add([span({ traceId, parentSpanId: t.next.spanId, kind: SpanKind.CLIENT, dbSystem: 'postgresql', dbStatement: 'SELECT 3' })], 30_000);
    expect(released(asm, 59_999)).toEqual([]);
    expect(released(asm, 60_000)).toEqual([{ reason: 'max_age', continuing: [] }]);
    expect(asm.counters).toMatchObject({ lateSpans: 4 + 1 + 1, duplicateSpans: 1, continuedRequests: 2 });
  });

  it('keeps a long task\'s first queries until its run\'s span comes, however quiet it was meanwhile', () => {
    const asm = make();
    const t = traffic();
    asm.add([t.view, t.enqueue, t.viewQuery], 0);
    expect(released(asm, 2000)).toHaveLength(1);
    // The worker sent the queries it had made so far, then worked on for 10 s; its run's span came at the end.
    asm.add([t.taskQuery, span({ ...t.taskQuery, spanId: id() })], 5000);
    expect(released(asm, 15_000)).toEqual([]);
    asm.add([t.task], 15_000);
    expect(released(asm, 15_200)).toEqual([{ reason: 'settled', continuing: [t.task.spanId] }]);
  });

  it('settles a continuation that looks whole: its entry answers the awaited call', () => {
    const asm = make();
    const t = traffic();
    asm.add([t.view, t.enqueue, t.viewQuery], 0);
    expect(released(asm, 2000)).toHaveLength(1);
    asm.add([t.task, t.taskQuery], 5000);
    expect(released(asm, 5199)).toEqual([]);
    expect(released(asm, 5200)).toEqual([{ reason: 'settled', continuing: [t.task.spanId] }]);
  });

  it('takes a late answer as a peer that sends spans: it is never learned as opaque', () => {
    const asm = make();
    const t = traffic();
    asm.add([t.view, t.api, t.viewQuery], 0);
    expect(released(asm, 2000)).toHaveLength(1);
    const callee = span({ traceId, parentSpanId: t.api.spanId, kind: SpanKind.SERVER, service: 'stripe' });
    asm.add([callee], 7000);
    expect(released(asm, 7200)).toEqual([{ reason: 'settled', continuing: [callee.spanId] }]);
    for (let n = 1; n <= OPAQUE_AFTER_TRACES; n++) {
      const other = n.toString(16).padStart(32, '0');
      const view = span({ traceId: other, kind: SpanKind.SERVER });
      asm.add([view, span({ traceId: other, parentSpanId: view.spanId, kind: SpanKind.CLIENT, httpMethod: 'POST', peer: 'api.stripe.com' })], 10_000 * n);
      asm.poll(10_000 * n + 2000);
    }
    expect(asm.peers.isOpaque('api.stripe.com')).toBe(false);
  });

  it('awaits at most MAX_AWAITED_CALLS calls of a trace', () => {
    const asm = make();
    const view = span({ traceId, kind: SpanKind.SERVER });
    const calls = Array.from({ length: MAX_AWAITED_CALLS + 2 }, () => span({ traceId, parentSpanId: view.spanId, kind: SpanKind.PRODUCER, messagingSystem: 'rabbitmq' }));
    asm.add([view, ...calls], 0);
    expect(released(asm, 2000)).toHaveLength(1);
    const first = span({ traceId, parentSpanId: calls[0]!.spanId, kind: SpanKind.CONSUMER });
    const last = span({ traceId, parentSpanId: calls.at(-1)!.spanId, kind: SpanKind.CONSUMER });
    asm.add([first, last], 5000);
    expect(released(asm, 7000)).toEqual([{ reason: 'quiet', continuing: [first.spanId] }]);
  });

  it('continues only from an answer: a late span below a call that is no answer neither continues nor answers it', () => {
    // As after a restart, when nothing tells a copy from a late span: the trace's awaited calls come from its commit.
    const asm = make();
    const view = span({ traceId, kind: SpanKind.SERVER });
    const call = span({ traceId, parentSpanId: view.spanId, kind: SpanKind.CLIENT, httpMethod: 'GET' });
    const inner = span({ traceId, parentSpanId: call.spanId, name: 'retry' });
    const enqueue = span({ traceId, parentSpanId: view.spanId, kind: SpanKind.PRODUCER, messagingSystem: 'rabbitmq' });
    const lpush = span({ traceId, parentSpanId: enqueue.spanId, kind: SpanKind.CLIENT, name: 'LPUSH' });
    asm.markReleased([traceId], new Map([[traceId, [{ spanId: call.spanId }, { spanId: enqueue.spanId }]]]));
    // A copy of a callee's request that sat below an INTERNAL span of the call, and of the broker client's span.
    asm.add([inner, span({ traceId, parentSpanId: inner.spanId, kind: SpanKind.SERVER }), lpush], 0);
    expect(released(asm, 30_000)).toEqual([{ reason: 'max_age', continuing: [] }]);
    // The task still answers its call.
    const task = span({ traceId, parentSpanId: enqueue.spanId, kind: SpanKind.CONSUMER });
    asm.add([task], 31_000);
    expect(released(asm, 31_200)).toEqual([{ reason: 'settled', continuing: [task.spanId] }]);
  });

  it('awaits no call to a peer learned to send no spans: what comes later of such a trace is late', () => {
    const asm = make();
    asm.peers.adopt([{ peer: 'api.stripe.com', opaque: true }]);
    const t = traffic();
    asm.add([t.view, t.api, t.viewQuery], 0);
    expect(released(asm, 200)).toEqual([{ reason: 'settled', continuing: undefined }]);
    asm.add([span({ traceId, parentSpanId: t.api.spanId, kind: SpanKind.SERVER, service: 'stripe' })], 1000);
    expect(asm.openTraces).toBe(0);
    expect(asm.counters.lateSpans).toBe(1);
  });
});

describe('assembleCompact', () => {
  const compact = (spans: readonly SpanRecord[]): CompactTrace => {
    const t = new CompactTrace();
    for (const s of spans) t.add(s);
    return t;
  };

  it('assembles a Django trace like assembleTrace, in any arrival order', () => {
    const spans = djangoTrace();
    expect(assembleCompact(compact(spans))).toEqual(assembleTrace(spans));
    expect(assembleCompact(compact([...spans].reverse()))).toEqual(assembleTrace([...spans].reverse()));
  });

  it('assembles any trace like assembleTrace: nesting, orphans, cycles, duplicate ids, several services', () => {
    // A few ids so that parents, duplicates and cycles happen often.
    // The columns keep a wire span id as two 32-bit words: ids alike in one word, and ids that are
    // not 16 lowercase hex digits (kept as strings), must still tell apart exactly.
    const ids = ['', '0000000000000001', '0000000000000002', '0000000000000003', '0000000000000004', '0000000000000005', '0000000000000006', 'ffffffff00000001', '00000002ffffffff', 'ABCDEF0123456789', 'odd'];
    const record = fc.record({
      spanId: fc.constantFrom(...ids.slice(1)),
      parentSpanId: fc.constantFrom(...ids),
      kind: fc.constantFrom(0, 1, 2, 3, 4, 5),
      startMs: fc.integer({ min: 0, max: 20 }),
      duration: fc.integer({ min: 0, max: 5 }),
      service: fc.constantFrom('web', 'worker'),
      db: fc.constantFrom(0, 0, 1, 2),
      http: fc.boolean(),
      peer: fc.option(fc.constantFrom('hr.local', 'db'), { nil: undefined }),
      messaging: fc.boolean(),
    });
    fc.assert(
      fc.property(fc.array(record, { maxLength: 14 }), (drafts) => {
        const spans = drafts.map((d, i): SpanRecord => {
          const s: SpanRecord = { traceId: T, spanId: d.spanId, parentSpanId: d.parentSpanId, name: `s${i}`, kind: d.kind as SpanKind, startMs: d.startMs, endMs: d.startMs + d.duration, service: d.service };
          if (d.db > 0) {
            s.dbSystem = 'postgresql';
            s.dbStatement = d.db === 1 ? `SELECT ${i}` : '';
          }
          if (d.http) s.httpMethod = 'GET';
          if (d.http && d.kind === SpanKind.SERVER) s.httpRoute = 'r/';
          if (d.peer !== undefined) s.peer = d.peer;
          if (d.messaging) s.messagingSystem = 'rabbitmq';
          return s;
        });
        expect(assembleCompact(compact(spans))).toEqual(assembleTrace(spans));
        expect(compact(spans).looksWhole()).toBe(looksWhole(spans));
        const opaque = (peer: string): boolean => peer === 'hr.local';
        expect(compact(spans).looksWhole(opaque)).toBe(looksWhole(spans, [], undefined, opaque));
        expect(peerCalls(callPaths(compact(spans).records))).toEqual(peerCalls(callPaths(spans)));
      }),
      { numRuns: 5000 },
    );
  });
});

// The assembler as first written (one map move per span), the reference for the batched version.
interface RefCompleted {
  traceId: string;
  spans: SpanRecord[];
  reason: 'settled' | 'quiet' | 'max_age' | 'evicted' | 'flush';
}
interface RefOpenTrace {
  spans: SpanRecord[];
  firstSeen: number;
  lastSeen: number;
  rooted: boolean;
}

/**
 * The clock is whatever the caller passes as `now`: wall-clock ms in `n1lens serve`, spans read so
 * far in `n1-report`, where a file has no clock of its own.
 */
class ReferenceAssembler {
  readonly #wait: number;
  readonly #settle: number;
  readonly #maxAge: number;
  readonly #maxGrowingAge: number;
  readonly #maxGrowingPause: number;
  readonly #maxGrowingSpans: number;
  readonly #maxOpen: number;
  readonly #remember: number;
  // Insertion order is kept as "least recently touched first" by re-inserting on every add.
  readonly #open = new Map<TraceId, RefOpenTrace>();
  // Never re-inserted, so ordered by first span: the max-age sweep stops at the first young trace.
  readonly #byFirstSeen = new Map<TraceId, number>();
  readonly #completed = new Set<TraceId>();
  readonly counters: Omit<AssemblerCounters, 'bytesBuffered'> = { spansBuffered: 0, tracesCompleted: 0, tracesSettled: 0, evictions: 0, lateSpans: 0, continuedRequests: 0, duplicateSpans: 0, queriesOutsideRequests: 0 };
  readonly #releasedSpans = new Set<string>();

  constructor(options: AssemblerOptions = {}) {
    this.#wait = options.traceWaitMs ?? 2000;
    this.#settle = Math.min(this.#wait, options.traceSettleMs ?? this.#wait);
    this.#maxAge = options.maxTraceAgeMs ?? 30_000;
    this.#maxGrowingPause = options.maxGrowingTracePauseMs ?? this.#maxAge;
    this.#maxGrowingAge = options.maxGrowingTraceAgeMs ?? this.#maxAge;
    // Each test span is estimated at the same size: a byte limit is a span count here.
    this.#maxGrowingSpans = (options.maxGrowingTraceBytes ?? Number.POSITIVE_INFINITY) / estimateSpanBytes(span({}));
    this.#maxOpen = options.maxOpenTraces ?? 50_000;
    this.#remember = options.rememberCompleted ?? 100_000;
  }

  get openTraces(): number {
    return this.#open.size;
  }

  /** True when no new trace can be opened without evicting one. */
  get isFull(): boolean {
    return this.#open.size >= this.#maxOpen;
  }

  /** Counts the traces in `spans` that are not open yet. */
  countNewTraces(spans: readonly SpanRecord[]): number {
    const seen = new Set<TraceId>();
    for (const s of spans) if (!this.#open.has(s.traceId)) seen.add(s.traceId);
    return seen.size;
  }

  /**
   * Adds spans. Spans of an already released trace are counted as late and dropped, so a finding is
   * never counted twice. Returns the traces evicted to stay under the open-trace limit.
   */
  add(spans: readonly SpanRecord[], now: number): RefCompleted[] {
    const evicted: RefCompleted[] = [];
    for (const span of spans) {
      if (this.#completed.has(span.traceId)) {
        if (this.#releasedSpans.has(span.spanId)) this.counters.duplicateSpans++;
        else this.counters.lateSpans++;
        continue;
      }
      let trace = this.#open.get(span.traceId);
      if (trace === undefined) {
        if (this.#open.size >= this.#maxOpen) {
          const oldest = this.#open.keys().next();
          if (!oldest.done) {
            evicted.push(this.#release(oldest.value, 'evicted'));
            this.counters.evictions++;
          }
        }
        trace = { spans: [], firstSeen: now, lastSeen: now, rooted: false };
        this.#byFirstSeen.set(span.traceId, now);
      } else {
        this.#open.delete(span.traceId);
      }
      trace.spans.push(span);
      trace.lastSeen = now;
      if (!trace.rooted && isRequestSpan(span)) trace.rooted = true;
      this.#open.set(span.traceId, trace);
      this.counters.spansBuffered++;
    }
    return evicted;
  }

  /** Releases every trace that is complete at `now`. */
  poll(now: number): RefCompleted[] {
    const done: RefCompleted[] = [];
    for (const [traceId, firstSeen] of this.#byFirstSeen) {
      const age = now - firstSeen;
      if (age < this.#maxAge) break;
      const trace = this.#open.get(traceId)!;
      // It may pause as long as it has run (first span to last), up to the maximum pause, the maximum age at least.
      const pause = Math.max(this.#maxAge, Math.min(this.#maxGrowingPause, trace.lastSeen - firstSeen));
      const growing = age < this.#maxGrowingAge && now - trace.lastSeen < pause && trace.spans.length <= this.#maxGrowingSpans;
      if (!growing) done.push(this.#release(traceId, 'max_age'));
    }
    for (const [traceId, trace] of this.#open) {
      const quiet = now - trace.lastSeen;
      if (quiet < this.#settle) break; // ordered by lastSeen: the rest are newer
      if (!trace.rooted) continue;
      // A span that is no request span and whose parent has not come keeps it to the maximum age;
      // offline (no maximum age) the wait alone.
      const awaitsParent = this.#maxAge !== Number.POSITIVE_INFINITY && trace.spans.some((s) => !isRequestSpan(s) && s.parentSpanId !== '' && !trace.spans.some((p) => p.spanId === s.parentSpanId));
      if (quiet >= this.#wait) {
        if (!awaitsParent) done.push(this.#release(traceId, 'quiet'));
      } else if (looksWhole(trace.spans)) done.push(this.#release(traceId, 'settled'));
    }
    return done;
  }

  /** Releases everything still open (end of input, shutdown). */
  flush(): RefCompleted[] {
    return [...this.#open.keys()].map((id) => this.#release(id, 'flush'));
  }

  #release(traceId: TraceId, reason: RefCompleted['reason']): RefCompleted {
    const trace = this.#open.get(traceId);
    this.#open.delete(traceId);
    this.#byFirstSeen.delete(traceId);
    this.#completed.add(traceId);
    if (this.#completed.size > this.#remember) {
      const first = this.#completed.values().next();
      if (!first.done) this.#completed.delete(first.value);
    }
    this.counters.tracesCompleted++;
    if (reason === 'settled') this.counters.tracesSettled++;
    const spans = trace?.spans ?? [];
    this.counters.spansBuffered -= spans.length;
    for (const span of spans) this.#releasedSpans.add(span.spanId);
    return { traceId, spans, reason };
  }
}


describe.each([
  ['records', (o: AssemblerOptions) => new TraceAssembler(o)],
  ['columns', (o: AssemblerOptions) => new TraceAssembler(o, compactTraces())],
] as const)('over %s: traces that keep growing past the maximum age', (_, make) => {
  // As serve sets it up: a 6 s trace wait, 30 s without a request span, growing traces kept 10 minutes through pauses of up to 2.
  const serveLike = (over: AssemblerOptions = {}) => make({ traceWaitMs: 6000, traceSettleMs: 200, maxTraceAgeMs: 30_000, maxGrowingTraceAgeMs: 600_000, maxGrowingTracePauseMs: 120_000, ...over });
  const spansOf = (t: { spans: unknown }): number => (Array.isArray(t.spans) ? t.spans.length : (t.spans as CompactTrace).count);
  const traceId = 'c'.repeat(32);
  const query = (parentSpanId: string) => span({ traceId, parentSpanId, kind: SpanKind.CLIENT, dbSystem: 'postgresql', dbStatement: 'SELECT * FROM "orders_line" WHERE "order_id" = %s' });

  it('keeps a five-minute task\'s queries, exported every 5 s, until its run\'s span comes last', () => {
    const asm = serveLike();
    const view = span({ traceId, kind: SpanKind.SERVER, httpMethod: 'POST', httpRoute: 'reports/' });
    const enqueue = span({ traceId, parentSpanId: view.spanId, kind: SpanKind.PRODUCER, name: 'apply_async/reports.build', messagingSystem: 'rabbitmq' });
    asm.add([view, enqueue], 0);
    expect(asm.poll(6000)).toHaveLength(1); // the view, awaiting its task
    const run = span({ traceId, parentSpanId: enqueue.spanId, kind: SpanKind.CONSUMER, name: 'run/reports.build' });
    for (let t = 10_000; t < 310_000; t += 5000) {
      asm.add([query(run.spanId), query(run.spanId)], t);
      expect(asm.poll(t + 4999)).toEqual([]);
    }
    asm.add([run], 310_000);
    const [task] = asm.poll(310_200);
    expect(task).toMatchObject({ reason: 'settled', continuing: new Set([run.spanId]) });
    expect(spansOf(task!)).toBe(121);
  });

  it('keeps a view that called another service early, then ran a query longer than the trace wait: the callee\'s view does not let it go', () => {
    const asm = serveLike();
    const view = span({ traceId, kind: SpanKind.SERVER, httpMethod: 'GET', httpRoute: 'reports/yearly/', name: 'GET reports/yearly/' });
    const call = span({ traceId, parentSpanId: view.spanId, kind: SpanKind.CLIENT, httpMethod: 'GET', peer: 'rates.local' });
    const callee = span({ traceId, parentSpanId: call.spanId, kind: SpanKind.SERVER, httpMethod: 'GET', httpRoute: 'rates/', name: 'GET rates/', service: 'rates' });
    // Both processes export what has ended: the call and the callee's request; the view's 10 s report query has not.
    asm.add([call], 1000);
    asm.add([query(callee.spanId), callee], 1200);
    expect(asm.poll(12_000)).toEqual([]);
    asm.add([query(view.spanId), view], 12_000);
    const [trace] = asm.poll(12_200);
    expect(trace).toMatchObject({ reason: 'settled' });
    expect(asm.counters.lateSpans).toBe(0);
    const requests = Array.isArray(trace!.spans) ? assembleTrace(trace!.spans) : assembleCompact(trace!.spans as CompactTrace);
    expect(requests.map((r) => `${r.endpoint} ${r.dbSpans.length}`).sort()).toEqual(['GET rates/ 1', 'GET reports/yearly/ 1']);
  });

  it('keeps a task\'s first queries, come before its view\'s trace went, for its run\'s span: they are the task\'s, not orphans', () => {
    const asm = serveLike();
    const view = span({ traceId, kind: SpanKind.SERVER, httpMethod: 'POST', httpRoute: 'reports/' });
    const enqueue = span({ traceId, parentSpanId: view.spanId, kind: SpanKind.PRODUCER, name: 'apply_async/reports.build', messagingSystem: 'rabbitmq' });
    const run = span({ traceId, parentSpanId: enqueue.spanId, kind: SpanKind.CONSUMER, name: 'run/reports.build', service: 'worker' });
    asm.add([view, enqueue], 0);
    // The worker exported the queries it had made so far, then called an API for 10 s; its run's span came at the end.
    asm.add([query(run.spanId), query(run.spanId)], 1000);
    expect(asm.poll(11_000)).toEqual([]);
    asm.add([query(run.spanId), run], 11_000);
    const [trace] = asm.poll(11_200);
    expect(trace).toMatchObject({ reason: 'settled' });
    const requests = Array.isArray(trace!.spans) ? assembleTrace(trace!.spans) : assembleCompact(trace!.spans as CompactTrace);
    expect(requests.map((r) => `${r.endpoint} ${r.dbSpans.length}`).sort()).toEqual(['POST reports/ 0', 'run/reports.build 3']);
  });

  /** The requests of a released trace, `endpoint queries` (a continuation's: only those it continues). */
  const requestsOf = (t: { spans: unknown; continuing?: ReadonlySet<string> }): string[] =>
    (Array.isArray(t.spans) ? assembleTrace(t.spans as SpanRecord[]) : assembleCompact(t.spans as CompactTrace))
      .filter((r) => t.continuing === undefined || t.continuing.has(r.spanId))
      .map((r) => `${r.endpoint} ${r.dbSpans.length}`)
      .sort();

  it('keeps a task\'s first queries, come after its view\'s trace went and beside another task it queued, for its run\'s span', () => {
    const asm = serveLike();
    const view = span({ traceId, kind: SpanKind.SERVER, httpMethod: 'POST', httpRoute: 'reports/' });
    const mail = span({ traceId, parentSpanId: view.spanId, kind: SpanKind.PRODUCER, name: 'apply_async/reports.mail', messagingSystem: 'rabbitmq' });
    const build = span({ traceId, parentSpanId: view.spanId, kind: SpanKind.PRODUCER, name: 'apply_async/reports.build', messagingSystem: 'rabbitmq' });
    const mailRun = span({ traceId, parentSpanId: mail.spanId, kind: SpanKind.CONSUMER, name: 'run/reports.mail', service: 'worker' });
    const buildRun = span({ traceId, parentSpanId: build.spanId, kind: SpanKind.CONSUMER, name: 'run/reports.build', service: 'worker' });
    asm.add([view, mail, build], 0);
    expect(asm.poll(6000).map((t) => t.reason)).toEqual(['quiet']); // the view, awaiting both tasks
    // The worker's export: the mail task, done, and the build task's first queries; the build task then calls an API for 10 s.
    asm.add([query(mailRun.spanId), mailRun, query(buildRun.spanId), query(buildRun.spanId)], 7000);
    expect(asm.poll(17_000)).toEqual([]);
    asm.add([query(buildRun.spanId), buildRun], 17_000);
    const [continued] = asm.poll(17_200);
    expect(continued).toMatchObject({ reason: 'settled' });
    expect(requestsOf(continued!)).toEqual(['run/reports.build 3', 'run/reports.mail 1']);
  });

  it('takes a copy of a span its trace had, come while the trace\'s continuation is open, for a copy: it neither joins nor roots it', () => {
    const asm = serveLike();
    const view = span({ traceId, kind: SpanKind.SERVER, httpMethod: 'POST', httpRoute: 'reports/' });
    const enqueue = span({ traceId, parentSpanId: view.spanId, kind: SpanKind.PRODUCER, name: 'apply_async/reports.build', messagingSystem: 'rabbitmq' });
    const run = span({ traceId, parentSpanId: enqueue.spanId, kind: SpanKind.CONSUMER, name: 'run/reports.build', service: 'worker' });
    asm.add([view, enqueue], 0);
    expect(asm.poll(6000).map((t) => t.reason)).toEqual(['quiet']);
    asm.add([query(run.spanId), query(run.spanId)], 7000);
    // The web process's exporter sends the view's span again (its first send timed out).
    asm.add([{ ...view }], 8000);
    expect(asm.counters.duplicateSpans).toBe(1);
    expect(asm.poll(20_000)).toEqual([]);
    asm.add([query(run.spanId), run], 20_000);
    const [continued] = asm.poll(20_200);
    expect(continued).toMatchObject({ reason: 'settled' });
    expect(requestsOf(continued!)).toEqual(['run/reports.build 3']);
    expect(asm.counters).toMatchObject({ duplicateSpans: 1, lateSpans: 4, continuedRequests: 1 });
  });

  it('lets a continuation go at the trace wait when what has no parent sits right below a call its trace awaited: it awaits no request span', () => {
    const asm = serveLike();
    const [mail, build] = ['1', '2'].map((c) => c.repeat(16)) as [string, string];
    // After a restart (nothing remembers the trace's span ids), the view's trace awaits both tasks it queued.
    asm.markReleased([traceId], new Map([[traceId, [{ spanId: mail }, { spanId: build }]]]));
    const run = span({ traceId, parentSpanId: mail, kind: SpanKind.CONSUMER, name: 'run/reports.mail', service: 'worker' });
    // The mail task's run, and a replayed copy of the broker client's span inside the second apply_async.
    const lpush = span({ traceId, parentSpanId: build, kind: SpanKind.CLIENT, name: 'LPUSH' });
    asm.add([run, lpush], 0);
    expect(asm.poll(6000)).toMatchObject([{ reason: 'quiet', continuing: new Set([run.spanId]) }]);
  });

  it('lets a trace kept for a span\'s parent go at the trace wait once memory comes first', () => {
    const asm = serveLike();
    const view = span({ traceId, kind: SpanKind.SERVER });
    asm.add([view, query('e'.repeat(16))], 0);
    expect(asm.poll(6000)).toEqual([]);
    expect(asm.poll(6125, false).map((t) => t.reason)).toEqual(['quiet']);
  });

  it('learns a peer that sends no spans from traces kept past the trace wait for a span\'s parent that never came', () => {
    const asm = serveLike();
    // Every trace of this service has a query whose parent span the SDK never sends, and calls an API that sends none.
    const at = (n: number) => n * 40_000;
    for (let n = 0; n < OPAQUE_AFTER_TRACES; n++) {
      const id = (n + 1).toString(16).padStart(32, '0');
      const view = span({ traceId: id, kind: SpanKind.SERVER });
      const api = span({ traceId: id, parentSpanId: view.spanId, kind: SpanKind.CLIENT, httpMethod: 'POST', peer: 'api.stripe.com' });
      asm.add([view, api, span({ traceId: id, parentSpanId: 'e'.repeat(16), kind: SpanKind.CLIENT, dbSystem: 'postgresql', dbStatement: 'SELECT 1' })], at(n));
      expect(asm.poll(at(n) + 29_999)).toEqual([]);
      expect(asm.poll(at(n) + 30_000).map((t) => t.reason)).toEqual(['max_age']);
    }
    expect(asm.peers.isOpaque('api.stripe.com')).toBe(true);
  });

  it('keeps a periodic task\'s queries (a trace of its own) until its run\'s span comes', () => {
    const asm = serveLike();
    const run = span({ traceId, kind: SpanKind.CONSUMER, name: 'run/billing.nightly' });
    for (let t = 0; t < 120_000; t += 5000) asm.add([query(run.spanId)], t);
    expect(asm.poll(120_000)).toEqual([]);
    asm.add([run], 121_000);
    const [task] = asm.poll(121_200);
    expect(task!.reason).toBe('settled');
    expect(spansOf(task!)).toBe(25);
  });

  it('lets a trace without a request span go 30 s after its last span', () => {
    const asm = serveLike();
    asm.add([query('d'.repeat(16)), query('d'.repeat(16))], 0);
    asm.add([query('d'.repeat(16))], 20_000);
    expect(asm.poll(49_999)).toEqual([]);
    const [fragment] = asm.poll(50_000);
    expect(fragment!.reason).toBe('max_age');
    expect(spansOf(fragment!)).toBe(3);
  });

  it('keeps a task that pauses for as long as it has run, up to 2 minutes, and lets it go once it has paused longer', () => {
    const run = span({ traceId, kind: SpanKind.CONSUMER, name: 'run/reports.build' });
    /** One query every 5 s from `fromMs` to `toMs`. */
    const queried = <T extends TraceAssembler<unknown>>(asm: T, fromMs: number, toMs: number): T => {
      for (let t = fromMs; t <= toMs; t += 5000) asm.add([query(run.spanId)], t);
      return asm;
    };
    /** Still open 1 ms before `at`, released at `at`. */
    const releasedAt = (asm: TraceAssembler<unknown>, at: number) => {
      expect(asm.poll(at - 1)).toEqual([]);
      return asm.poll(at);
    };
    // A minute of queries, then 50 s computing (or calling an API) before the rest and its run's span.
    const asm = queried(serveLike(), 0, 60_000);
    expect(asm.poll(109_999)).toEqual([]);
    queried(asm, 110_000, 140_000).add([run], 141_000);
    const [task] = asm.poll(141_200);
    expect(task!.reason).toBe('settled');
    expect(spansOf(task!)).toBe(21);
    // One that has run 40 s and then pauses for longer goes 40 s after its last span, with what it has.
    const [cut] = releasedAt(queried(serveLike(), 0, 40_000), 80_000);
    expect(cut!.reason).toBe('max_age');
    expect(spansOf(cut!)).toBe(9);
    // One killed after five minutes of queries, its run's span never exported: held 2 minutes, not 5.
    expect(releasedAt(queried(serveLike(), 0, 300_000), 420_000).map((t) => t.reason)).toEqual(['max_age']);
    // Without a maximum pause, none longer than the maximum age.
    expect(releasedAt(queried(serveLike({ maxGrowingTracePauseMs: undefined }), 0, 300_000), 330_000).map((t) => t.reason)).toEqual(['max_age']);
  });

  it('lets a growing trace go at the maximum age once its spans pass maxGrowingTraceBytes, and at maxGrowingTraceAgeMs anyway', () => {
    const q = query('d'.repeat(16));
    const small = serveLike({ maxGrowingTraceBytes: 10 * estimateSpanBytes(q) });
    const large = serveLike();
    for (let t = 0; t <= 30_000; t += 5000) {
      small.add(Array.from({ length: 2 }, () => query('d'.repeat(16))), t);
      large.add([query('d'.repeat(16))], t);
    }
    expect(small.poll(30_000).map((t) => t.reason)).toEqual(['max_age']); // 14 spans: past 10
    expect(large.poll(30_000)).toEqual([]);
    for (let t = 35_000; t < 600_000; t += 5000) large.add([query('d'.repeat(16))], t);
    expect(large.poll(599_999)).toEqual([]);
    expect(large.poll(600_000).map((t) => t.reason)).toEqual(['max_age']);
  });

  it('names the traces kept past the maximum age because they grow, not those only held, and lets them go when told memory comes first', () => {
    const asm = serveLike();
    const [a, b, c] = ['a', 'b', 'c'].map((x) => x.repeat(32)) as [string, string, string];
    const grow = (id: string, at: number) => asm.add([span({ traceId: id, parentSpanId: 'd'.repeat(16), kind: SpanKind.CLIENT, dbSystem: 'postgresql', dbStatement: 'SELECT 1' })], at);
    grow(a, 0);
    grow(c, 1000);
    grow(b, 5000);
    asm.hold([c], 100_000); // some of its spans were refused: held, not growing
    for (let t = 10_000; t <= 40_000; t += 5000) grow(a, t);
    expect(asm.growingPastMaxAge(29_000)).toEqual([]); // none is 30 s old yet
    expect(asm.growingPastMaxAge(40_000)).toEqual([a]); // b has been quiet for 35 s
    expect(asm.poll(40_000).map((t) => t.traceId)).toEqual([b]);
    expect(asm.poll(40_000, false).map((t) => t.traceId)).toEqual([a]); // c is still held
  });
});

describe('TraceAssembler against its first version', () => {
  it('releases the same traces, in the same order, with the same counters, for any sequence of calls', () => {
    const traceIds = ['1', '2', '3', '4', '5'].map((c) => c.repeat(32));
    const op = fc.oneof(
      { weight: 6, arbitrary: fc.record({ kind: fc.constant('add' as const), spans: fc.array(fc.record({ t: fc.nat(4), root: fc.boolean() }), { maxLength: 8 }), dt: fc.nat(60) }) },
      { weight: 2, arbitrary: fc.record({ kind: fc.constant('poll' as const), dt: fc.nat(200) }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('flush' as const), dt: fc.constant(0) }) },
    );
    const options = fc.record({ traceWaitMs: fc.constantFrom(10, 50, 100), traceSettleMs: fc.constantFrom(undefined, 5, 20, 200), maxTraceAgeMs: fc.constantFrom(100, 300, Infinity), maxGrowingTraceAgeMs: fc.constantFrom(undefined, 250, 1000), maxGrowingTracePauseMs: fc.constantFrom(undefined, 150, 600), maxGrowingTraceBytes: fc.constantFrom(undefined, 3 * estimateSpanBytes(span({}))), maxOpenTraces: fc.constantFrom(1, 2, 3, 10), rememberCompleted: fc.constantFrom(1, 2, 100) });
    fc.assert(
      fc.property(options, fc.array(op, { maxLength: 30 }), (opts: AssemblerOptions, ops) => {
        const fast = new TraceAssembler(opts);
        const reference = new ReferenceAssembler(opts);
        let now = 0;
        let n = 0;
        for (const o of ops) {
          now += o.dt;
          if (o.kind === 'add') {
            const spans = o.spans.map((s) => span({ traceId: traceIds[s.t]!, spanId: (++n).toString(16).padStart(16, '0'), parentSpanId: s.root ? '' : 'ffffffffffffffff' }));
            expect(fast.add(spans, now)).toEqual(reference.add(spans, now));
          } else if (o.kind === 'poll') expect(fast.poll(now)).toEqual(reference.poll(now));
          else expect(fast.flush()).toEqual(reference.flush());
          const { bytesBuffered, ...counters } = fast.counters;
          expect(counters).toEqual(reference.counters);
          expect(bytesBuffered >= 0 && (fast.openTraces > 0 || bytesBuffered === 0)).toBe(true);
          expect(fast.openTraces).toBe(reference.openTraces);
        }
      }),
      { numRuns: 3000 },
    );
  });
});

describe('TraceAssembler: released traces past the budget of awaited calls', () => {
  it('still counts as late a span of a trace released 40k traces ago, however many calls the traces since await', () => {
    // 40k traces of 16 awaited calls each: past the calls' 32 MiB budget, which forgets calls, never released traces.
    const hex = (n: number): string => n.toString(16).padStart(32, '0');
    const asm = new TraceAssembler({ traceWaitMs: 2000 });
    asm.markReleased(['f'.repeat(32)]); // released, awaits nothing
    const awaited = new Map<string, { spanId: string; peer: string }[]>();
    const ids: string[] = [];
    for (let i = 1; i <= 40_000; i++) {
      ids.push(hex(i));
      awaited.set(hex(i), Array.from({ length: 16 }, (_, j) => ({ spanId: (i * 16 + j).toString(16).padStart(16, '0'), peer: `tenant-${i % 1000}.hooks.example.com` })));
    }
    asm.markReleased(ids, awaited);
    const late: SpanRecord = { traceId: 'f'.repeat(32), spanId: '1'.repeat(16), parentSpanId: '2'.repeat(16), name: 'x', kind: SpanKind.INTERNAL, startMs: 0, endMs: 1, service: 's' };
    asm.add([late], 10);
    expect(asm.isOpen('f'.repeat(32))).toBe(false);
    expect(asm.counters.lateSpans).toBe(1);
    // The oldest of them lost their calls to the budget, not their place: a span of one is late too.
    asm.add([{ ...late, traceId: hex(1) }], 11);
    expect(asm.isOpen(hex(1))).toBe(false);
    expect(asm.counters.lateSpans).toBe(2);
    // The newest trace's calls are still awaited: what answers them continues it.
    const answer: SpanRecord = { traceId: hex(40_000), spanId: '3'.repeat(16), parentSpanId: (40_000 * 16).toString(16).padStart(16, '0'), name: 'task', kind: SpanKind.CONSUMER, startMs: 0, endMs: 1, service: 'worker' };
    asm.add([answer], 12);
    expect(asm.isOpen(hex(40_000))).toBe(true);
  });
});
