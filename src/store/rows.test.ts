import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { analyseRequest, releaseTimeline } from '../detect/request.js';
import { RollupSet } from '../detect/rollup.js';
import { APPLICATIONS, DASHBOARD_ROW, loop, requestOf, type Step } from '../detect/testing.js';
import type { RequestAnalysis } from '../detect/types.js';
import { HOUR_MS, MINUTE_MS } from '../report/period.js';
import { createSqlNormalizer } from '../sql/index.js';
import { rowBatch, RowBatchBuilder, type ExampleRow } from './rows.js';

const T0 = Date.UTC(2026, 11, 3, 18, 0, 0);

/** Dashboard requests spread over three minutes of one hour, with N+1 loops of varying length. */
function analyses(): ReturnType<typeof analyseRequest>[] {
  const normalize = createSqlNormalizer();
  return Array.from({ length: 30 }, (_, i) =>
    analyseRequest(
      requestOf(i % 3 === 0 ? 'GET dashboard/' : 'GET applications/', [APPLICATIONS, ...loop(5 + (i % 7), ...DASHBOARD_ROW)], {
        traceId: (i + 1).toString(16).padStart(32, '0'),
        startMs: T0 + (i % 3) * MINUTE_MS + i * 1000 + 0.25,
      }),
      normalize,
    ),
  );
}

/** Per finding (endpoint and fingerprint), its requests' trace ids, the worst first (the first of equals first). */
function ranked(all: readonly RequestAnalysis[]): Record<string, string[]> {
  const byKey: Record<string, { traceId: string; wastedMs: number; at: number }[]> = {};
  all.forEach((a, at) => {
    for (const c of a.cascades) (byKey[`${a.endpoint} ${c.fingerprint}`] ??= []).push({ traceId: a.traceId, wastedMs: c.wastedMs, at });
  });
  return Object.fromEntries(Object.entries(byKey).map(([key, r]) => [key, r.sort((x, y) => y.wastedMs - x.wastedMs || x.at - y.at).map((x) => x.traceId)]));
}

/** The figures a row is written from, without float noise in the last bit. */
const figures = (set: RollupSet) =>
  set.values().map((r) => ({
    endpoint: r.endpoint,
    requests: r.requests,
    dbSpans: r.dbSpans,
    dbMs: r.dbMs.toFixed(6),
    queriesPerRequest: [...r.queriesPerRequest].sort(),
    requestDurations: [...r.requestDurations].sort(),
    cascades: [...r.cascades.values()].map((c) => ({ fingerprint: c.fingerprint, requests: c.requestsAffected, executions: c.executions, wastedMs: c.wastedMs.toFixed(6), repeats: [...c.repeats].sort(), example: c.example })),
    fingerprints: [...r.fingerprints.values()].map((f) => ({ fingerprint: f.fingerprint, requests: f.requests, executions: f.executions, totalMs: f.totalMs.toFixed(6), durations: [...f.durations].sort(), example: f.example })),
  }));

describe('rowBatch', () => {
  it("sums each minute's rollups into its hour: the hour rows are those of every request added to one rollup", () => {
    const all = analyses();
    const batch = rowBatch(all, T0 + HOUR_MS, T0 - 48 * HOUR_MS);
    expect(batch.minutes.map((m) => m.start)).toEqual([T0, T0 + MINUTE_MS, T0 + 2 * MINUTE_MS]);
    expect(batch.hours.map((h) => h.start)).toEqual([T0]);
    const whole = new RollupSet();
    for (const a of all) whole.add(a);
    const hour = new RollupSet();
    for (const r of batch.hours[0]!.endpoints) hour.merge(r);
    expect(figures(whole).map((r) => r.cascades.length)).toEqual([expect.any(Number), expect.any(Number)]);
    expect(figures(whole).every((r) => r.cascades.length > 0 && r.requests > 1)).toBe(true);
    expect(figures(hour)).toEqual(figures(whole));
    const connections = batch.hours[0]!.connections;
    expect(connections.map((c) => [c.service, c.dbRequests, c.opened])).toEqual([...whole.connections.values()].map((c) => [c.service, c.dbRequests, c.opened]));
  });

  it('sums once: finish() gives the same rows again (a retried transaction writes them twice) and takes no request after', () => {
    const all = analyses();
    const builder = new RowBatchBuilder(T0 + HOUR_MS, T0 - 48 * HOUR_MS);
    builder.add(all.slice(0, 10));
    builder.add(all.slice(10));
    const first = builder.finish();
    expect(builder.finish()).toBe(first);
    const hour = new RollupSet();
    for (const r of first.hours[0]!.endpoints) hour.merge(r);
    expect(hour.values().reduce((n, r) => n + r.requests, 0)).toBe(all.length);
    expect(() => builder.add(all.slice(0, 1))).toThrow(/after finish/);
  });

  it("chooses each finding's example as requests come, and says which requests are neither a finding's worst nor its runner-up", () => {
    const all = analyses();
    const held = new Set(Object.values(ranked(all)).flatMap((r) => r.slice(0, 2)));
    expect(held.size).toBeGreaterThan(1);
    expect(held.size).toBeLessThan(all.length / 2);
    const builder = new RowBatchBuilder(T0 + HOUR_MS, T0 - 48 * HOUR_MS);
    const unshown: string[] = [];
    for (let i = 0; i < all.length; i += 7) {
      for (const a of builder.add(all.slice(i, i + 7))) {
        unshown.push(a.traceId);
        releaseTimeline(a); // as serve's intake does: the examples below must not need them
      }
    }
    // Every request is told once, unless it still holds a place at the end.
    expect(unshown.sort()).toEqual(all.map((a) => a.traceId).filter((id) => !held.has(id)).sort());
    const examples = builder.finish().examples;
    expect(examples.map((x) => [`${x.endpoint} ${x.fingerprint}`, x.traceId]).sort()).toEqual(Object.entries(ranked(all)).map(([key, r]) => [key, r[0]]).sort());
    for (const x of examples) expect(JSON.parse(x.timeline)).toHaveLength(all.find((a) => a.traceId === x.traceId)!.dbSpans);
  });

  it('made again without the worst request of some findings (another writer committed it), shows the worst left: the runner-up', () => {
    const all = analyses();
    const builder = new RowBatchBuilder(T0 + HOUR_MS, T0 - 48 * HOUR_MS);
    for (const a of builder.add(all)) releaseTimeline(a);
    const dashboardWorst = ranked(all)[Object.keys(ranked(all)).find((key) => key.startsWith('GET dashboard/'))!]![0];
    const rest = all.filter((a) => a.traceId !== dashboardWorst);
    const again = sorted(rowBatch(rest, T0 + HOUR_MS, T0 - 48 * HOUR_MS).examples);
    // The same examples a batch of fresh analyses of those requests shows.
    expect(again).toEqual(sorted(rowBatch(analyses().filter((a) => a.traceId !== dashboardWorst), T0 + HOUR_MS, T0 - 48 * HOUR_MS).examples));
    expect(again.some((x) => x.endpoint === 'GET dashboard/')).toBe(true);
    // Without its runner-up too, a finding shows what is left whole, here nothing.
    const second = ranked(all)[Object.keys(ranked(all)).find((key) => key.startsWith('GET dashboard/'))!]![1];
    expect(rowBatch(rest.filter((a) => a.traceId !== second), T0 + HOUR_MS, T0 - 48 * HOUR_MS).examples.some((x) => x.endpoint === 'GET dashboard/')).toBe(false);
  });

  it('keeps a request whole while it holds a place for any of its findings, and tells it once it holds none', () => {
    const normalize = createSqlNormalizer();
    const request = (c: string, steps: ReturnType<typeof loop>) =>
      analyseRequest(requestOf('GET dashboard/', steps, { traceId: c.repeat(32), startMs: T0 + 0.25 }), normalize);
    const [row0, row1] = DASHBOARD_ROW;
    const builder = new RowBatchBuilder(T0 + HOUR_MS, T0 - 48 * HOUR_MS);
    const told: string[] = [];
    const add = (a: ReturnType<typeof request>): void => {
      for (const u of builder.add([a])) {
        told.push(u.traceId[0]!);
        releaseTimeline(u);
      }
    };
    add(request('a', loop(10, row0!, row1!))); // worst of both findings
    add(request('b', loop(20, row0!))); // row0: b, then a
    add(request('c', loop(30, row1!))); // row1: c, then a
    add(request('d', loop(25, row0!))); // row0: d, then b; a still row1's runner-up
    expect(told).toEqual([]);
    add(request('e', loop(15, row1!))); // row1: c, then e
    expect(told).toEqual(['a']);
    add(request('f', loop(5, row0!, row1!))); // places nowhere
    expect(told).toEqual(['a', 'f']);
    expect(builder.finish().examples.map((x) => x.traceId[0]).sort()).toEqual(['c', 'd']);
  });

  it('writes no minute rows for requests past the minute horizon, and still their hour rows', () => {
    const all = analyses();
    const batch = rowBatch(all, T0 + 72 * HOUR_MS, T0 + 24 * HOUR_MS);
    expect(batch.minutes).toEqual([]);
    const whole = new RollupSet();
    for (const a of all) whole.add(a);
    const hour = new RollupSet();
    for (const r of batch.hours[0]!.endpoints) hour.merge(r);
    expect(figures(hour)).toEqual(figures(whole));
  });
});

const NOW = T0 + HOUR_MS;
const HORIZON = T0 - 48 * HOUR_MS;

/** A request: its endpoint, and per finding (a DASHBOARD_ROW statement) its loop's length and each execution's ms. */
interface Spec {
  /** Its trace, of a few (one trace may hold several requests: a view and the Celery tasks it queued); -1: a trace of its own. */
  trace: number;
  endpoint: number;
  cascades: { statement: number; rows: number; ms: number }[];
}

const spec = (traces: number): fc.Arbitrary<Spec> => fc.record({
  trace: traces === 0 ? fc.constant(-1) : fc.integer({ min: 0, max: traces - 1 }),
  endpoint: fc.integer({ min: 0, max: 1 }),
  // wastedMs = ms * (rows - 1): 4, 5, 6, 8, 10, 12 (twice), 15, 18, so ties are common.
  cascades: fc.uniqueArray(fc.record({ statement: fc.integer({ min: 0, max: 3 }), rows: fc.integer({ min: 5, max: 7 }), ms: fc.integer({ min: 1, max: 3 }) }), {
    selector: (c) => c.statement,
    maxLength: 3,
  }),
});

/** Fresh analyses of `specs` (a new normaliser each time: nothing shared with an earlier copy). */
function make(specs: readonly Spec[]): RequestAnalysis[] {
  const normalize = createSqlNormalizer();
  return specs.map((s, i) => {
    const steps: Step[] = [];
    const longest = Math.max(0, ...s.cascades.map((c) => c.rows));
    for (let r = 0; r < longest; r++) for (const c of s.cascades) if (r < c.rows) steps.push({ sql: DASHBOARD_ROW[c.statement]!(r), ms: c.ms });
    return analyseRequest(requestOf(`GET e${s.endpoint}/`, steps, { traceId: (s.trace < 0 ? 1000 + i : s.trace + 1).toString(16).padStart(32, '0'), startMs: T0 + i * 1000 + 0.25 }), normalize);
  });
}

const key = (x: { endpoint: string; fingerprint: string }): string => `${x.endpoint} ${x.fingerprint}`;
const sorted = (examples: readonly ExampleRow[]): ExampleRow[] => [...examples].sort((x, y) => key(x).localeCompare(key(y)));

/**
 * Per finding, the indices in `all` of the worst request and the runner-up, the worst of the other
 * traces' requests (the first of equals each), by a plain sort.
 */
function topTwo(all: readonly RequestAnalysis[]): Set<number> {
  const byKey = new Map<string, { at: number; traceId: string; wastedMs: number }[]>();
  all.forEach((a, at) => {
    for (const c of a.cascades) {
      const k = `${a.endpoint} ${c.fingerprint}`;
      byKey.set(k, [...(byKey.get(k) ?? []), { at, traceId: a.traceId, wastedMs: c.wastedMs }]);
    }
  });
  const held = new Set<number>();
  for (const list of byKey.values()) {
    const [worst, ...rest] = list.sort((p, q) => q.wastedMs - p.wastedMs || p.at - q.at);
    held.add(worst!.at);
    const second = rest.find((x) => x.traceId !== worst!.traceId);
    if (second !== undefined) held.add(second.at);
  }
  return held;
}

describe('RowBatchBuilder examples (property)', () => {
  it.each([
    ['a trace each', 0],
    ['a few traces, several requests in some', 4],
  ])('tells each request once it holds no place, never before; shows a fresh batch’s examples, and again without any one trace (%s)', (_, traces) => {
    fc.assert(
      fc.property(fc.array(spec(traces), { minLength: 1, maxLength: 14 }), fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 14, maxLength: 14 }), (specs, chunks) => {
        const all = make(specs);
        const index = new Map(all.map((a, i) => [a, i]));
        const builder = new RowBatchBuilder(NOW, HORIZON);
        const told = new Set<number>();
        let added = 0;
        for (let c = 0; added < all.length; c++) {
          const next = Math.min(all.length, added + chunks[c % chunks.length]!);
          const unshown = builder.add(all.slice(added, next));
          added = next;
          const held = topTwo(all.slice(0, added));
          for (const u of unshown) {
            const i = index.get(u)!;
            expect(i).toBeLessThan(added);
            expect(told.has(i)).toBe(false); // told once
            expect(held.has(i)).toBe(false); // never while it holds a place
            told.add(i);
            releaseTimeline(u);
          }
          // Everything that holds no place has been told by now.
          for (let i = 0; i < added; i++) expect(told.has(i) || held.has(i)).toBe(true);
        }
        expect(sorted(builder.finish().examples)).toEqual(sorted(rowBatch(make(specs), NOW, HORIZON).examples));
        // Made again after a failed write: the same examples.
        expect(sorted(rowBatch(all, NOW, HORIZON).examples)).toEqual(sorted(builder.finish().examples));
        // Made again without one trace (another writer committed it first): as a fresh batch of the rest.
        for (const traceId of new Set(all.map((a) => a.traceId))) {
          const rest = all.filter((a) => a.traceId !== traceId);
          const fresh = make(specs).filter((a) => a.traceId !== traceId);
          expect(sorted(rowBatch(rest, NOW, HORIZON).examples)).toEqual(sorted(rowBatch(fresh, NOW, HORIZON).examples));
        }
      }),
      { numRuns: 150 },
    );
  });
});
