/**
 * A period whose edges fall inside an hour reads minute rows there (a settled hour's are kept in
 * memory by the SQLite store's summaries): its ranking, report and trend equal the plain sums of
 * the requests inside it, on both backends.
 */
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { RollupSet } from '../detect/rollup.js';
import type { RequestAnalysis } from '../detect/types.js';
import { buildReport, summariseReport, type ReportOptions } from '../report/model.js';
import { overview } from '../ui/data.js';
import { analyseSample } from '../ui/testing.js';
import { postgresDatabase, tempDir } from '../../test/support.js';
import { upgradableStores } from '../../test/stores.js';
import { PostgresStore } from './postgres.js';
import { SqliteStore } from './sqlite.js';
import type { PeriodQuery, Store, StoreOptions } from './store.js';

const MINUTE = 60_000;
const HOUR = 3_600_000;
// Hours H..H+4 carry traffic in many of their minutes; the clock stands 20 minutes into H+5, so
// H..H+4 are settled (over by more than the overview's 10 minutes) and H+5 is still open.
const H = Date.parse('2026-12-02T09:00:00Z');
const NOW = H + 5 * HOUR + 20 * MINUTE;
const CLOSED_BEFORE = NOW - 10 * MINUTE;
const MINUTES = [0, 1, 2, 7, 13, 29, 30, 31, 44, 58, 59];

let sample: RequestAnalysis[];
let options: Omit<ReportOptions, 'endpoint'>;

/**
 * The sample's requests spread over the minutes of hours H..H+5 (each minute of MINUTES takes every
 * third request, in turn), so any edge inside an hour cuts through different endpoints' traffic.
 */
function traffic(hours: number[]): RequestAnalysis[] {
  const first = Math.min(...sample.map((a) => a.startMs));
  return hours.flatMap((h) =>
    MINUTES.flatMap((m, k) =>
      sample
        .filter((_, i) => (i + k + h) % 3 === 0)
        .map((a, i) => ({ ...a, traceId: `${h.toString(16)}${m.toString(16).padStart(2, '0')}${i.toString(16).padStart(5, '0')}`.padEnd(32, '0'), startMs: H + h * HOUR + m * MINUTE + ((a.startMs - first) % 50_000) })),
    ),
  );
}

/** The plain way: every request in the period (edges on the minute) added into fresh rollups. */
function plainSet(analyses: readonly RequestAnalysis[], q: PeriodQuery, floorSince = (ms: number) => ms): RollupSet {
  const since = q.sinceMs === undefined ? -Infinity : floorSince(Math.floor(q.sinceMs / MINUTE) * MINUTE);
  const until = q.untilMs === undefined ? Infinity : Math.ceil(q.untilMs / MINUTE) * MINUTE;
  const set = new RollupSet();
  for (const a of analyses) if (a.startMs >= since && a.startMs < until) set.add(a);
  return set;
}
const plain = (...args: Parameters<typeof plainSet>) => [...plainSet(...args).values()];
/** The full report of the plain rollups (connection_pressure, read from other rows, left out). */
const plainReport = (...args: Parameters<typeof plainSet>) => buildReport(plainSet(...args).values(), options);
/** The store's full report from its rollups, as /api/report serves it (connection_pressure left out). */
async function storeReport(store: Store, q: PeriodQuery) {
  const { serviceFindings: _, ...report } = await store.report(q, options);
  return report;
}

/** What the overview ranks, from the store's period summary (SQLite's summaries; PostgreSQL's hourly rows). */
async function ranked(store: Store, q: PeriodQuery, closedBeforeMs = CLOSED_BEFORE) {
  return summariseReport((await store.periodSummary(q, { slowMs: options.slowMs ?? 100, closedBeforeMs })).map((s) => s.rollup), options);
}

/** Requests per endpoint and hour bucket from the overview's trend, against the plain requests in each hour. */
async function trend(store: Store, q: PeriodQuery, analyses: readonly RequestAnalysis[], floorSince?: (ms: number) => number) {
  const startMs = Math.floor(q.sinceMs! / HOUR) * HOUR;
  const axis = { startMs, sizeMs: HOUR, count: Math.ceil(((q.untilMs ?? NOW) - startMs) / HOUR) };
  const names = new Map((await store.endpointRefs()).map((r) => [r.id, r.endpoint]));
  const got = new Map<string, number>();
  for (const [id, buckets] of await store.trendBuckets(q, axis, CLOSED_BEFORE)) {
    for (const b of buckets) if (b.requests > 0) got.set(`${names.get(id)} @${(b.startMs - H) / HOUR}`, b.requests);
  }
  const want = new Map<string, number>();
  const since = q.sinceMs === undefined ? -Infinity : (floorSince ?? ((ms: number) => ms))(Math.floor(q.sinceMs / MINUTE) * MINUTE);
  const until = q.untilMs === undefined ? Infinity : Math.ceil(q.untilMs / MINUTE) * MINUTE;
  for (const a of analyses) {
    if (a.startMs < since || a.startMs >= until) continue;
    const k = `${a.endpoint} @${Math.floor((a.startMs - H) / HOUR)}`;
    want.set(k, (want.get(k) ?? 0) + 1);
  }
  expect(got).toEqual(want);
}

/** Periods with edges inside settled hours, inside one hour, and inside the open hour. */
const PERIODS: [string, PeriodQuery][] = [
  ['a 24 h overview starting a minute into an hour', { sinceMs: H + HOUR + MINUTE }],
  ['starting in the hour\'s last minute', { sinceMs: H + HOUR + 59 * MINUTE + 30_000 }],
  ['both edges inside settled hours', { sinceMs: H + HOUR + 30 * MINUTE, untilMs: H + 3 * HOUR + 17 * MINUTE + 1 }],
  ['entirely inside one settled hour', { sinceMs: H + 2 * HOUR + 7 * MINUTE, untilMs: H + 2 * HOUR + 45 * MINUTE }],
  ['entirely inside one hour, up to its end', { sinceMs: H + 4 * HOUR + 29 * MINUTE, untilMs: H + 5 * HOUR }],
  ['starting inside the open hour', { sinceMs: NOW - 15 * MINUTE }],
  ['starting inside the last settled hour, until inside the open one', { sinceMs: H + 4 * HOUR + 44 * MINUTE, untilMs: NOW - 5 * MINUTE }],
];

const backends: [string, (o: StoreOptions) => Promise<Store>][] = [
  ['SQLite', async (o) => SqliteStore.open(join(tempDir('edges'), 'n1lens.db'), o)],
  ['PostgreSQL', async (o) => PostgresStore.open(await postgresDatabase('edges'), o)],
];

beforeAll(async () => {
  const s = await analyseSample();
  sample = s.analyses;
  options = { schema: s.schema, hotLookupMinPerDay: 50 };
});

describe.each(backends)('%s store: a period with edges inside an hour', (name, open) => {
  it.each(PERIODS)('is ranked as the plain sum of its requests: %s', async (_period, q) => {
    const store = await open({ now: () => NOW });
    const analyses = traffic([0, 1, 2, 3, 4, 5]);
    for (let i = 0; i < analyses.length; i += 211) await store.record(analyses.slice(i, i + 211));
    const want = plain(analyses, q);
    expect(want.length).toBeGreaterThan(0);
    // Twice: the second reads what the first kept.
    for (let i = 0; i < 2; i++) expect(await ranked(store, q)).toEqual(summariseReport(want, options));
    expect(await storeReport(store, q)).toEqual(plainReport(analyses, q));
    await trend(store, q, analyses);
    await store.close();
  });

  it('gives the plain sums at every minute as the start moves through a settled hour, and after a late write to it', async () => {
    const store = await open({ now: () => NOW });
    const analyses = traffic([1, 2]);
    await store.record(analyses);
    // PostgreSQL rebuilds full rollups per period: every third minute there keeps the test short.
    const step = name === 'SQLite' ? 1 : 3;
    for (let m = 0; m < 60; m += step) {
      const q = { sinceMs: H + HOUR + m * MINUTE };
      expect(await ranked(store, q), `since +${m} min`).toEqual(summariseReport(plain(analyses, q), options));
    }
    // A late request in the edge hour, then in the hour after it: what was kept of them is dropped.
    const late = sample.slice(0, 40).map((a, i) => ({ ...a, traceId: `late${i}`.padEnd(32, '0'), startMs: H + HOUR + 50 * MINUTE + i }));
    await store.record(late);
    const all = [...analyses, ...late];
    for (const m of [1, 49, 50, 51]) {
      const q = { sinceMs: H + HOUR + m * MINUTE };
      expect(await ranked(store, q), `since +${m} min after the late write`).toEqual(summariseReport(plain(all, q), options));
    }
    await trend(store, { sinceMs: H + HOUR + 31 * MINUTE }, all);
    await store.close();
  });
});

describe('SQLite store: kept minute rows', () => {
  it('are read through SQLite\'s JSON, which gives every REAL back as the same double', () => {
    // MinuteHour reads an hour's rows as one JSON array: exact only while SQLite writes round-trip digits.
    const db = SqliteStore.open(':memory:').db;
    db.exec('CREATE TABLE t (i INTEGER, x REAL)');
    const insert = db.prepare('INSERT INTO t VALUES (?, ?)');
    let seed = 7;
    const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
    const values = Array.from({ length: 5000 }, (_, i) => (i % 2 === 0 ? random() * 10 ** (random() * 16 - 4) : 0.1 * i + random() / 3));
    values.forEach((x, i) => insert.run(i, x));
    const back = JSON.parse(db.prepare('SELECT json_group_array(json_array(i, x)) FROM t').pluck().get() as string) as [number, number][];
    expect(back.filter(([i, x]) => x !== values[i])).toEqual([]);
    db.close();
  });

  it('are dropped when another process writes the same file', async () => {
    const path = join(tempDir('edges'), 'n1lens.db');
    const store = SqliteStore.open(path, { now: () => NOW });
    const analyses = traffic([1]);
    await store.record(analyses);
    const q = { sinceMs: H + HOUR + 20 * MINUTE };
    expect(await ranked(store, q)).toEqual(summariseReport(plain(analyses, q), options));
    const other = SqliteStore.open(path, { now: () => NOW });
    const late = sample.slice(0, 30).map((a, i) => ({ ...a, traceId: `other${i}`.padEnd(32, '0'), startMs: H + HOUR + 40 * MINUTE + i }));
    other.recordSync(late);
    other.closeSync();
    expect(await ranked(store, q)).toEqual(summariseReport(plain([...analyses, ...late], q), options));
    store.closeSync();
  });

  it('serve the overview page\'s figures: the same ranking and totals as the plain sum', async () => {
    const store = SqliteStore.open(':memory:', { now: () => NOW });
    const analyses = traffic([0, 1, 2, 3, 4, 5]);
    await store.record(analyses);
    const page = await overview({ store, report: options, nowMs: NOW }, { range: 'custom', sinceMs: H + HOUR + 41 * MINUTE });
    const want = summariseReport(plain(analyses, { sinceMs: H + HOUR + 41 * MINUTE }), options);
    expect(page.summary).toEqual(want.summary);
    expect(page.rows.map((r) => ({ endpoint: r.endpoint.endpoint, requests: r.endpoint.requests, wasted: r.wastedMs }))).toEqual(
      want.endpoints.map((e) => ({ endpoint: e.endpoint, requests: e.requests, wasted: Math.round(e.wastedMsPerRequest * e.requests * 10) / 10 })),
    );
    store.closeSync();
  });
});

/** Each backend's store, and a way to make it one written before minute rows existed (schema 8). */
const upgradable = upgradableStores('edges-upgrade');

describe.each(upgradable)('%s store upgraded from before minute rows: edges inside an hour', (_name, make) => {
  it('read the upgrade hour whole and later hours by the minute, as the plain sums say', async () => {
    const { open, predateMinuteRows } = await make();
    // Written before the upgrade, which happens at H+2:20 (its clock): hours H+1 and H+2 have hour rows only.
    const before = await open({ now: () => H + 2 * HOUR + 20 * MINUTE });
    const early = traffic([1, 2]).filter((a) => a.startMs < H + 2 * HOUR + 20 * MINUTE);
    await before.record(early);
    await before.close();
    await predateMinuteRows();
    let now = H + 2 * HOUR + 20 * MINUTE;
    const store = await open({ now: () => now });
    expect(store.minuteReadHorizon()).toBe(H + 3 * HOUR);
    const late = traffic([2, 3, 4]).filter((a) => a.startMs >= H + 2 * HOUR + 20 * MINUTE);
    await store.record(late);
    now = NOW;
    const all = [...early, ...late];
    const hourOf = (ms: number) => Math.floor(ms / HOUR) * HOUR;
    const cases: [PeriodQuery, (ms: number) => number][] = [
      // In the upgrade hour, a start is read from its hour: the minutes before it count too.
      [{ sinceMs: H + 2 * HOUR + 31 * MINUTE }, hourOf],
      [{ sinceMs: H + 2 * HOUR + 44 * MINUTE, untilMs: H + 3 * HOUR + 13 * MINUTE }, hourOf],
      // From the next hour on, by the minute.
      [{ sinceMs: H + 3 * HOUR + 29 * MINUTE }, (ms) => ms],
      [{ sinceMs: H + 3 * HOUR + 2 * MINUTE, untilMs: H + 3 * HOUR + 58 * MINUTE }, (ms) => ms],
    ];
    for (const [q, floorSince] of cases) {
      const want = plain(all, q, floorSince);
      for (let i = 0; i < 2; i++) expect(await ranked(store, q)).toEqual(summariseReport(want, options));
      expect(await storeReport(store, q)).toEqual(plainReport(all, q, floorSince));
      await trend(store, q, all, floorSince);
    }
    await store.close();
  });
});
