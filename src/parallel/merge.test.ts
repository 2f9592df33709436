/**
 * Rollups of shards merge into the rollups of one analysis (RollupSet.fromShards), whatever the
 * split and the order of the shards: exact sums, first-seen maps and fields, examples (the first of
 * the largest), location tallies capped at their first distinct locations, connection uses in
 * release order. The requests are the bundled recording's, in the order one analysis releases
 * them (with two fixtures'), varied by fast-check so ties, many locations (a second loop's too), linked/fallback readings and chains of several lengths occur.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { OfflineAnalysis } from '../analyzer.js';
import { addExact, exactValue, RollupSet, type ReleaseKey } from '../detect/rollup.js';
import type { CodeLocation, RequestAnalysis } from '../detect/types.js';
import { createUnitDecoders, readTraceUnits } from '../otlp/file.js';

const inputs = ['../../samples/traces/recruit.jsonl.gz', '../otlp/testdata/django-sqlite-old-semconv.jsonl', '../otlp/testdata/django-sqlite-stable-semconv.otlp.pb'].map(
  (path) => new URL(path, import.meta.url).pathname,
);

async function releasedRequests(): Promise<RequestAnalysis[]> {
  const out: RequestAnalysis[] = [];
  const offline = new OfflineAnalysis({}, (analyses) => out.push(...analyses));
  for (const input of inputs) {
    const decoders = createUnitDecoders();
    for await (const unit of readTraceUnits(input)) offline.addUnit(unit, decoders);
  }
  offline.finish();
  return out;
}

/**
 * A rollup set as plain data, Map and Set order included (the report lists endpoints, findings
 * and rules in it), except histograms' buckets (number keys), which are only read sorted.
 */
function plain(set: RollupSet): unknown {
  const walk = (v: unknown): unknown => {
    if (v instanceof Map) {
      const entries = [...v].map(([k, x]) => [k, walk(x)] as [unknown, unknown]);
      if (entries.every(([k]) => typeof k === 'number')) entries.sort((a, b) => (a[0] as number) - (b[0] as number));
      return { map: entries };
    }
    if (v instanceof Set) return { set: [...v] };
    if (Array.isArray(v)) return v.map(walk);
    if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    return v;
  };
  return walk({ endpoints: set.byEndpoint, connections: set.connections });
}

const LOCATIONS: CodeLocation[] = Array.from({ length: 12 }, (_, i) => ({ file: `app/views_${i % 4}.py`, line: 10 + i, function: `view_${i}` }));

/** A variant of the recording's requests: durations coarsened (ties), locations from a pool larger than a tally keeps, some readings unlinked. */
function vary(requests: RequestAnalysis[], coarse: number, seeds: number[]): RequestAnalysis[] {
  const q = (ms: number): number => (coarse === 0 ? ms : Math.round(ms / coarse) * coarse);
  return requests.map((r, i) => {
    const seed = seeds[i % seeds.length]!;
    return {
      ...r,
      durationMs: q(r.durationMs),
      dbMs: q(r.dbMs) + 0.1,
      cascades: r.cascades.map((c, j) => ({
        ...c,
        totalMs: q(c.totalMs),
        wastedMs: q(c.wastedMs),
        linked: c.linked && (seed + j) % 3 !== 0,
        // Readings of a partial request: a chain one relation short, or an equally long one from another trigger.
        steps: (seed + j) % 4 === 1 ? c.steps.slice(1) : c.steps,
        trigger: c.trigger !== null && (seed + j) % 5 === 2 ? { ...c.trigger, fingerprint: `0${c.trigger.fingerprint.slice(1)}` } : c.trigger,
        location: LOCATIONS[(seed + j) % LOCATIONS.length]!,
        // Another loop running the same query, at another place (it enters the tally with no count).
        ...((seed + j) % 3 === 0 ? { otherLocations: [LOCATIONS[(seed + j + 5) % LOCATIONS.length]!] } : {}),
        triggerLocation: LOCATIONS[(seed * 7 + j) % LOCATIONS.length]!,
      })),
      uses: r.uses.map((u, j) => ({ ...u, totalMs: q(u.totalMs) + 0.01, maxMs: q(u.maxMs), location: LOCATIONS[(seed + 3 * j) % LOCATIONS.length]! })),
      outbound: { ...r.outbound, totalMs: q(r.outbound.totalMs) },
    };
  });
}

describe('RollupSet.fromShards', () => {
  it('equals one RollupSet fed every request in release order, for any split and shard order', async () => {
    const requests = await releasedRequests();
    expect(requests.length).toBeGreaterThan(40);
    fc.assert(
      fc.property(
        fc.constantFrom(0, 1, 5, 50),
        fc.array(fc.nat(1000), { minLength: 1, maxLength: 20 }),
        fc.integer({ min: 1, max: 5 }),
        fc.array(fc.nat(), { minLength: 1, maxLength: 10 }),
        fc.boolean(),
        (coarse, seeds, shardCount, picks, reverse) => {
          const varied = vary(requests, coarse, seeds);
          const one = new RollupSet();
          for (const r of varied) one.add(r);
          // Each trace goes to one shard; a shard adds its requests in release order, keyed by it.
          const shards = Array.from({ length: shardCount }, () => ({ set: new RollupSet({ shard: true }), connections: [] as { key: ReleaseKey; r: RequestAnalysis }[] }));
          const shardOf = new Map<string, number>();
          varied.forEach((r, i) => {
            let s = shardOf.get(r.traceId);
            if (s === undefined) {
              s = picks[shardOf.size % picks.length]! % shardCount;
              shardOf.set(r.traceId, s);
            }
            const key = { round: Math.floor(i / 7), position: i };
            shards[s]!.set.addEndpoint(r, key);
            if (r.connection !== null) shards[s]!.connections.push({ key, r });
          });
          const order = reverse ? [...shards].reverse() : shards;
          const merged = RollupSet.fromShards(order.map((s) => s.set.toShard()));
          const uses = order.flatMap((s) => s.connections).sort((a, b) => a.key.position - b.key.position);
          for (const { r } of uses) merged.addConnection(r.service, r.instance ?? '', r.connection!);
          expect(plain(merged)).toEqual(plain(one));
        },
      ),
      { numRuns: 40 },
    );
  });

  it('merges rollups that crossed threads (structured clone)', async () => {
    const requests = await releasedRequests();
    const one = new RollupSet();
    const a = new RollupSet({ shard: true });
    const b = new RollupSet({ shard: true });
    requests.forEach((r, i) => {
      one.addEndpoint(r);
      (r.traceId < '8' ? a : b).addEndpoint(r, { round: 0, position: i });
    });
    const merged = RollupSet.fromShards([structuredClone(b.toShard()), structuredClone(a.toShard())]);
    expect(plain(merged)).toEqual(plain(one));
  });
});

describe('exact sums', () => {
  it('do not depend on the order of the additions, and round correctly', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: -1e9, max: 1e9, noNaN: true }), { maxLength: 40 }), fc.nat(), (xs, rotate) => {
        const forward: number[] = [];
        const moved: number[] = [];
        for (const x of xs) addExact(forward, x);
        const k = xs.length === 0 ? 0 : rotate % xs.length;
        for (const x of [...xs.slice(k), ...xs.slice(0, k)].reverse()) addExact(moved, x);
        expect(exactValue(moved)).toBe(exactValue(forward));
      }),
    );
    const tenths: number[] = [];
    for (let i = 0; i < 10; i++) addExact(tenths, 0.1);
    expect(exactValue(tenths)).toBe(1);
    const cancel: number[] = [];
    for (const x of [1e100, 1, -1e100]) addExact(cancel, x);
    expect(exactValue(cancel)).toBe(1);
  });
});
