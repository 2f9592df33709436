import { describe, expect, it } from 'vitest';
import { SpanKind, type SpanRecord } from '../otlp/span.js';
import { assembleTrace } from './assemble.js';
import { TraceAssembler } from './assembler.js';
import { NO_REQUEST_SPAN } from './request.js';

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
