import { describe, expect, it } from 'vitest';
import { analyseRequest, releaseTimeline } from '../detect/request.js';
import { RollupSet } from '../detect/rollup.js';
import { APPLICATIONS, DASHBOARD_ROW, loop, requestOf } from '../detect/testing.js';
import type { RequestAnalysis } from '../detect/types.js';
import { HOUR_MS, MINUTE_MS } from '../report/period.js';
import { createSqlNormalizer } from '../sql/index.js';
import { rowBatch, RowBatchBuilder } from './rows.js';

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
    const byFinding = (x: { endpoint: string; fingerprint: string }): string => `${x.endpoint} ${x.fingerprint}`;
    const again = rowBatch(rest, T0 + HOUR_MS, T0 - 48 * HOUR_MS).examples.sort((x, y) => byFinding(x).localeCompare(byFinding(y)));
    // The same examples a batch of fresh analyses of those requests shows.
    const fresh = rowBatch(analyses().filter((a) => a.traceId !== dashboardWorst), T0 + HOUR_MS, T0 - 48 * HOUR_MS).examples;
    expect(again).toEqual(fresh.sort((x, y) => byFinding(x).localeCompare(byFinding(y))));
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
