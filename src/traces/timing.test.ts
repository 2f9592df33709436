/**
 * Traces as serve gets them: views that call other services and queue tasks, each process exporting
 * what has ended every 5 s (the SDKs' BatchSpanProcessor), a Collector that splits and reorders
 * exports and resends some, clocks that disagree. Every request is analysed once, with its queries.
 */
import { describe, expect, it } from 'vitest';
import { Analyzer } from '../analyzer.js';
import { SpanKind, type SpanRecord } from '../otlp/span.js';

/** A deterministic uniform source in [0, 1). */
function random(seed: number): () => number {
  let state = seed;
  return () => (state = (state * 1103515245 + 12345) % 2147483648) / 2147483648;
}

/** A request: its queries, and the requests it calls (an instrumented service) or queues (a Celery task). */
interface Work {
  service: string;
  name: string;
  kind: SpanKind;
  queries: number;
  calls: { sync: boolean; to: Work }[];
}

interface Ended {
  span: SpanRecord;
  /** When it ended, in true time (spans carry their process's skewed clock). */
  at: number;
}

/** The spans of `traces` traces in `world`, as they end, and `endpoint queries` of every request. */
function simulate(world: number, traces: number): { ended: Ended[]; expected: string[]; r: () => number } {
  const r = random(world * 7919);
  const ended: Ended[] = [];
  const expected: string[] = [];
  const skew = new Map<string, number>();
  const clock = (service: string): number => {
    if (!skew.has(service)) skew.set(service, (r() - 0.5) * 4000);
    return skew.get(service)!;
  };
  let ids = world * 1_000_000;
  const id = (): string => (++ids).toString(16).padStart(16, '0');
  for (let t = 0; t < traces; t++) {
    const traceId = (world * 1000 + t).toString(16).padStart(32, '0');
    let names = 0;
    const work = (depth: number, service: string, kind: SpanKind): Work => {
      const w: Work = { service, name: `${kind === SpanKind.SERVER ? 'GET' : 'run'} ${service}.${names++}`, kind, queries: 5 + Math.floor(r() * 6), calls: [] };
      for (let i = depth < 2 ? Math.floor(r() * 3) : 0; i > 0; i--) {
        const sync = r() < 0.5;
        w.calls.push({ sync, to: work(depth + 1, sync ? `api${Math.floor(r() * 3)}` : 'worker', sync ? SpanKind.SERVER : SpanKind.CONSUMER) });
      }
      return w;
    };
    const queued: (() => void)[] = [];
    const span = (over: Partial<SpanRecord> & Pick<SpanRecord, 'spanId' | 'parentSpanId' | 'kind' | 'service'>, start: number, end: number): Ended => ({
      span: { traceId, name: 'SELECT', ...over, startMs: start + clock(over.service), endMs: end + clock(over.service) },
      at: end,
    });
    /** Runs `w` from `start` below `parent`; returns when it ends. Queries and calls come in random order, with pauses of up to 12 s. */
    const run = (w: Work, start: number, parent: string): number => {
      const self = id();
      expected.push(`${w.name} ${w.queries}`);
      const steps: number[] = Array.from({ length: w.queries }, () => -1);
      w.calls.forEach((_, i) => steps.splice(Math.floor(r() * (steps.length + 1)), 0, i));
      let now = start + 1;
      let q = 0;
      for (const step of steps) {
        now += r() < 0.1 ? 2000 + r() * 10_000 : r() * 300;
        if (step < 0) {
          ended.push(span({ spanId: id(), parentSpanId: self, kind: SpanKind.CLIENT, service: w.service, dbSystem: 'postgresql', dbStatement: `SELECT "a"."id" FROM "a" WHERE "a"."id" = ${q++}` }, now, now + 1));
          now += 1;
          continue;
        }
        const call = w.calls[step]!;
        const callId = id();
        const begin = now;
        if (call.sync) now = run(call.to, now + 5, callId) + 5;
        else {
          queued.push(() => run(call.to, begin + r() * 20_000, callId));
          now += 1;
        }
        const attributes = call.sync ? { httpMethod: 'GET', peer: call.to.service } : { messagingSystem: 'redis' };
        ended.push(span({ spanId: callId, parentSpanId: self, kind: call.sync ? SpanKind.CLIENT : SpanKind.PRODUCER, service: w.service, name: call.sync ? 'GET' : `apply_async/${call.to.name}`, ...attributes }, begin, now));
      }
      now += 1;
      const route = w.kind === SpanKind.SERVER ? { httpMethod: 'GET', httpRoute: w.name.slice(4) } : {};
      ended.push(span({ spanId: self, parentSpanId: parent, kind: w.kind, service: w.service, name: w.name, ...route }, start, now));
      return now;
    };
    run(work(0, 'web', SpanKind.SERVER), r() * 60_000, '');
    while (queued.length > 0) queued.shift()!();
  }
  return { ended, expected, r };
}

/** Each process's exports: what ended since its last, every 5 s (512 spans at most); the Collector splits, reverses, delays (250 ms) and resends some. */
function exportsOf(ended: Ended[], r: () => number): { at: number; spans: SpanRecord[] }[] {
  const exports: { at: number; spans: SpanRecord[] }[] = [];
  for (const service of new Set(ended.map((e) => e.span.service))) {
    const pending = ended.filter((e) => e.span.service === service).sort((a, b) => a.at - b.at);
    for (let tick = r() * 5000; pending.length > 0; tick += 5000) {
      const batch: SpanRecord[] = [];
      while (pending.length > 0 && pending[0]!.at <= tick && batch.length < 512) batch.push(pending.shift()!.span);
      if (batch.length === 0) continue;
      const cut = Math.floor(r() * batch.length);
      for (const part of [batch.slice(0, cut), batch.slice(cut)]) if (part.length > 0) exports.push({ at: tick + r() * 250, spans: r() < 0.5 ? part.reverse() : part });
      if (r() < 0.1) exports.push({ at: tick + 1000 + r() * 30_000, spans: batch.map((s) => ({ ...s })) });
    }
  }
  return exports.sort((a, b) => a.at - b.at);
}

describe('serve under exporters\' timing', () => {
  it('analyses every request once with all its queries: long views, callees, tasks that pause, resent exports, skewed clocks', () => {
    for (let world = 1; world <= 20; world++) {
      const { ended, expected, r } = simulate(world, 20);
      const analyzer = new Analyzer({ traceWaitMs: 6000, traceSettleMs: 500, maxTraceAgeMs: 30_000, maxGrowingTraceAgeMs: 600_000, maxGrowingTracePauseMs: 120_000 });
      const analysed: string[] = [];
      const take = (analyses: { endpoint: string; dbSpans: number }[]) => analysed.push(...analyses.map((a) => `${a.endpoint} ${a.dbSpans}`));
      let now = 0;
      for (const e of exportsOf(ended, r)) {
        for (; now + 125 < e.at; now += 125) take(analyzer.poll(now));
        take(analyzer.add(e.spans, e.at));
      }
      for (const end = now + 600_000; now < end; now += 125) take(analyzer.poll(now));
      expect(analyzer.assembler.openTraces).toBe(0);
      expect(analysed.sort(), `world ${world}`).toEqual(expected.sort());
    }
  });
});
