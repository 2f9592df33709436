import { describe, expect, it } from 'vitest';
import { analyseRequest, releaseTimeline } from '../detect/request.js';
import { RollupSet } from '../detect/rollup.js';
import { APPLICATIONS, DASHBOARD_ROW, loop, requestOf } from '../detect/testing.js';
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

  it("chooses each finding's example as requests come, and says which requests no example shows any longer", () => {
    const all = analyses();
    // The worst request per (endpoint, fingerprint), the first of equals, chosen over the whole batch at once.
    const worst = new Map<string, { traceId: string; wastedMs: number }>();
    for (const a of all) {
      for (const c of a.cascades) {
        const key = `${a.endpoint} ${c.fingerprint}`;
        if (!(c.wastedMs <= (worst.get(key)?.wastedMs ?? -1))) worst.set(key, { traceId: a.traceId, wastedMs: c.wastedMs });
      }
    }
    const shown = new Set([...worst.values()].map((w) => w.traceId));
    expect(shown.size).toBeGreaterThan(1);
    expect(shown.size).toBeLessThan(all.length / 2);
    const builder = new RowBatchBuilder(T0 + HOUR_MS, T0 - 48 * HOUR_MS);
    const unshown: string[] = [];
    for (let i = 0; i < all.length; i += 7) {
      for (const a of builder.add(all.slice(i, i + 7))) {
        unshown.push(a.traceId);
        releaseTimeline(a); // as serve's intake does: the examples below must not need them
      }
    }
    // Every request is told once, unless it is an example at the end.
    expect(unshown.sort()).toEqual(all.map((a) => a.traceId).filter((id) => !shown.has(id)).sort());
    const examples = builder.finish().examples;
    expect(examples.map((x) => [`${x.endpoint} ${x.fingerprint}`, x.traceId, x.wastedMs]).sort()).toEqual([...worst].map(([key, w]) => [key, w.traceId, w.wastedMs]).sort());
    for (const x of examples) expect(JSON.parse(x.timeline)).toHaveLength(all.find((a) => a.traceId === x.traceId)!.dbSpans);
  });

  it('passes over a request whose timeline was released: a batch made again without the traces another writer committed', () => {
    const all = analyses();
    const worst = all.reduce((w, a) => (a.endpoint === 'GET dashboard/' && a.cascades[0]!.wastedMs > w.cascades[0]!.wastedMs ? a : w), all[0]!);
    const rest = all.filter((a) => a.endpoint === 'GET dashboard/' && a !== worst);
    for (const a of rest) releaseTimeline(a);
    // Only the worst request of GET dashboard/ kept its timeline; without it, that endpoint shows no example.
    expect(rowBatch(rest, T0 + HOUR_MS, T0 - 48 * HOUR_MS).examples).toEqual([]);
    expect(new Set(rowBatch([...rest, worst], T0 + HOUR_MS, T0 - 48 * HOUR_MS).examples.map((x) => x.traceId))).toEqual(new Set([worst.traceId]));
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
