import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RequestAnalysis } from '../detect/types.js';
import { buildReport, summariseReport, type ReportOptions } from '../report/model.js';
import { analyseSample } from '../ui/testing.js';
import { tempDir } from '../../test/support.js';
import { SQLITE_SPOOL_COMMITTED } from '../../test/stores.js';
import { SqliteStore as Store } from './sqlite.js';
import type { PeriodQuery } from './store.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
// A Monday 00:00 UTC: weeks (epoch-aligned, Thursday to Thursday) and days both cut through the data.
const T0 = Date.UTC(2026, 10, 2);
const END = T0 + 12 * DAY;

let analyses: RequestAnalysis[];
let options: Omit<ReportOptions, 'endpoint'>;

/**
 * The sample's requests replayed over 12 days at a few hours a day, so 6-hour, day and week
 * summaries all carry data: the dashboard only on even days (its loops come and go), the
 * webhook's traffic tripled on day 5 (its lookup's share and rate change), an endpoint renamed
 * after day 8.
 */
function traffic(): RequestAnalysis[] {
  const first = Math.min(...analyses.map((a) => a.startMs));
  const out: RequestAnalysis[] = [];
  for (let d = 0; d < 12; d++) {
    for (const h of [0, 5, 7, 13, 23]) {
      for (const a of analyses) {
        if (a.endpoint === 'GET dashboard/' && d % 2 === 1) continue;
        const copies = a.endpoint === 'POST webhooks/ats/' && d === 5 ? 3 : 1;
        for (let c = 0; c < copies; c++) {
          const endpoint = a.endpoint === 'POST login/' && d > 8 ? 'POST accounts/login/' : a.endpoint;
          out.push({ ...a, endpoint, traceId: `${a.traceId.slice(0, 24)}${(d * 100 + h * 4 + c).toString(16).padStart(8, '0')}`, startMs: a.startMs - first + T0 + d * DAY + h * HOUR + c * 60_000 });
        }
      }
    }
  }
  return out;
}

/** What the overview shows per endpoint, from the full rollups and the report builder (the reference). */
async function reference(store: Store, query: PeriodQuery, o: Omit<ReportOptions, 'endpoint'>) {
  const report = buildReport(await store.rollups(query), o);
  return {
    summary: report.summary,
    endpoints: report.endpoints.map((e) => ({
      endpoint: e.endpoint,
      service: e.service,
      requests: e.requests,
      queriesPerRequest: e.queriesPerRequest,
      wastedMsPerRequest: e.wastedMsPerRequest,
      findings: e.findings.map((f) => ({ kind: f.kind, table: f.table, fingerprint: f.fingerprint, wastedMs: f.wastedMs, signature: f.signature })),
    })),
  };
}

/** The same from the period summaries, as the overview computes it. */
async function fast(store: Store, query: PeriodQuery, o: Omit<ReportOptions, 'endpoint'>, closedBeforeMs = END) {
  return summariseReport(
    (await store.periodSummary(query, { slowMs: o.slowMs ?? 100, closedBeforeMs })).map((s) => s.rollup),
    o,
  );
}

/** Trend buckets the way the overview used to add them up: every hour row of the period. */
async function referenceTrend(store: Store, query: Pick<PeriodQuery, 'sinceMs' | 'untilMs'>, axis: { startMs: number; sizeMs: number; count: number }) {
  const out = new Map<string, { requests: number; dbSpans: number; wastedMs: number }>();
  for (const h of await store.endpointHours(query)) {
    const i = Math.floor((h.hour - axis.startMs) / axis.sizeMs);
    if (i < 0 || i >= axis.count) continue;
    const k = `${h.endpointId}@${axis.startMs + i * axis.sizeMs}`;
    const b = out.get(k) ?? { requests: 0, dbSpans: 0, wastedMs: 0 };
    b.requests += h.requests;
    b.dbSpans += h.dbSpans;
    b.wastedMs += h.wastedMs;
    out.set(k, b);
  }
  return out;
}

const round = (m: Map<string, { requests: number; dbSpans: number; wastedMs: number }>) =>
  new Map([...m].map(([k, b]) => [k, { ...b, wastedMs: Math.round(b.wastedMs * 1000) / 1000 }]));

const PERIODS: [string, PeriodQuery][] = [
  ['all', {}],
  ['aligned week and days', { sinceMs: T0, untilMs: T0 + 9 * DAY }],
  ['unaligned: hours, 6-hour blocks, days and a week', { sinceMs: T0 + 3 * HOUR + 17 * 60_000, untilMs: T0 + 10 * DAY + 14 * HOUR + 5 }],
  ['the last 24 hours', { sinceMs: END - DAY - 30 * 60_000 }],
  ['one hour', { sinceMs: T0 + 5 * DAY + 5 * HOUR, untilMs: T0 + 5 * DAY + 6 * HOUR }],
  ['a day without the dashboard', { sinceMs: T0 + DAY, untilMs: T0 + 2 * DAY }],
  ['nothing recorded', { sinceMs: END + DAY }],
  ['one service, by glob', { service: 'recruit', endpoint: 'POST *' }],
  // Within the last 48 h (the store's clock is END), edges inside an hour are read from its minute rows.
  ['minute edges in the last 48 h', { sinceMs: T0 + 10 * DAY + 5 * HOUR + 90_000, untilMs: T0 + 11 * DAY + 13 * HOUR + 90_000 }],
  ['minutes inside one hour', { sinceMs: T0 + 11 * DAY + 7 * HOUR + 20_000, untilMs: T0 + 11 * DAY + 7 * HOUR + 50 * 60_000 }],
];

describe('period summaries', () => {
  let store: Store;
  let path: string;

  beforeAll(async () => {
    const sample = await analyseSample();
    analyses = sample.analyses;
    // A lower daily rate for hot_lookup: the replay has 100 webhook calls a day, not thousands.
    options = { schema: sample.schema, hotLookupMinPerDay: 50 };
    path = join(tempDir('summaries'), 'n1lens.db');
    store = Store.open(path, { now: () => END });
    // Several batches, one hour at a time, so hours merge as `serve` writes them.
    const all = traffic();
    for (let i = 0; i < all.length; i += 97) await store.record(all.slice(i, i + 97));
  });

  it.each(PERIODS)('rank endpoints exactly as the full report does: %s', async (_name, query) => {
    const want = await reference(store, query, options);
    expect(await fast(store, query, options)).toEqual(want);
    if (_name === 'all') {
      // The data covers every kind the overview has to decide from counts alone.
      const kinds = new Set(want.endpoints.flatMap((e) => e.findings.map((f) => f.kind)));
      expect([...kinds].sort()).toEqual(['hot_lookup', 'n_plus_one', 'slow_query', 'sync_fanout']);
      // ...and was read from blocks of every size.
      const built = store.db.prepare('SELECT DISTINCT size FROM summary_blocks ORDER BY size').pluck().all();
      expect(built).toEqual([6 * HOUR, DAY, 7 * DAY]);
    }
  });

  it.each([0, 1, 5, 30, 100, 250, 1000, 5000])('decides slow_query exactly with --slow-ms %d', async (slowMs) => {
    for (const [, query] of PERIODS.slice(0, 4)) {
      expect(await fast(store, query, { ...options, slowMs })).toEqual(await reference(store, query, { ...options, slowMs }));
    }
  });

  it('read the edges of a recent period from minute rows: the hour before `since` is left out, the minutes before `until` kept', async () => {
    const minuteEdges = PERIODS.find(([name]) => name === 'minute edges in the last 48 h')![1];
    const requests = async (q: PeriodQuery) => (await fast(store, q, options)).summary.requests;
    const perHour = analyses.length;
    // Hours at 5, 7, 13 and 23 o'clock on day 10, and every hour of day 11 up to 13 o'clock; each hour's requests lie in its first 17 s.
    const days = (d: number) => analyses.filter((a) => a.endpoint !== 'GET dashboard/' || d % 2 === 0).length;
    expect(await requests(minuteEdges)).toBe(days(10) * 3 + days(11) * 4);
    expect(perHour).toBe(days(10));
    expect(await requests({ sinceMs: T0 + 10 * DAY + 5 * HOUR, untilMs: minuteEdges.untilMs! })).toBe(days(10) * 4 + days(11) * 4);
  });

  it('applies the report options: ignored endpoints and tables, --min-wasted-ms, warm-up share', async () => {
    const o = { ...options, ignoreEndpoints: ['POST webhooks/*'], ignoreTables: ['recruit_note'], minWastedMs: 50, minShare: 0.9 };
    for (const [, query] of PERIODS.slice(0, 4)) expect(await fast(store, query, o)).toEqual(await reference(store, query, o));
  });

  it('sums trend buckets of every size as the hour rows do', async () => {
    for (const sizeMs of [HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, DAY, 7 * DAY]) {
      for (const query of [{}, { sinceMs: T0 + 3 * HOUR, untilMs: T0 + 10 * DAY + 14 * HOUR }, { sinceMs: END - 7 * DAY }, { sinceMs: T0 + 10 * DAY + 5 * HOUR + 90_000, untilMs: T0 + 11 * DAY + 13 * HOUR + 90_000 }]) {
        const since = query.sinceMs ?? (await store.firstHour())!;
        const startMs = Math.floor(since / sizeMs) * sizeMs;
        const axis = { startMs, sizeMs, count: Math.ceil(((query.untilMs ?? END) - startMs) / sizeMs) };
        const got = new Map(
          [...(await store.trendBuckets(query, axis, END))].flatMap(([id, buckets]) =>
            buckets.filter((b) => b.requests > 0).map((b) => [`${id}@${b.startMs}`, { requests: b.requests, dbSpans: b.dbSpans, wastedMs: b.wastedMs }] as const),
          ),
        );
        expect(round(got)).toEqual(round(await referenceTrend(store, query, axis)));
      }
    }
  });

  it('rebuilds a built block when a late request lands in one of its hours', async () => {
    const query = { sinceMs: T0, untilMs: T0 + 9 * DAY };
    await fast(store, query, options); // builds the blocks
    const late = analyses.filter((a) => a.endpoint === 'GET dashboard/').map((a, i) => ({ ...a, traceId: `late${i}`.padEnd(32, '0'), startMs: T0 + DAY + 2 * HOUR }));
    await store.record(late);
    expect(await fast(store, query, options)).toEqual(await reference(store, query, options));
    expect((await fast(store, { sinceMs: T0 + DAY, untilMs: T0 + 2 * DAY }, options)).endpoints.map((e) => e.endpoint)).toContain('GET dashboard/');
  });

  it('add the hours still open to the settled ones kept from the last request, as requests keep arriving', async () => {
    // The clock mid-way through day 10: hours after 07:00 are open, blocks before are settled and kept.
    const now = T0 + 10 * DAY + 7 * HOUR + 5 * 60_000;
    const periods: PeriodQuery[] = [{}, { sinceMs: now - 7 * DAY }, { sinceMs: now - DAY + 17 * 60_000 }];
    for (const q of periods) expect(await fast(store, q, options, now)).toEqual(await reference(store, q, options));
    for (const q of periods) expect(await fast(store, q, options, now)).toEqual(await reference(store, q, options));
    // More requests in an open hour and in a settled one.
    const more = analyses.slice(0, 12).flatMap((a, i) => [
      { ...a, traceId: `open${i}`.padEnd(32, '0'), startMs: T0 + 10 * DAY + 9 * HOUR + i },
      { ...a, traceId: `settled${i}`.padEnd(32, '0'), startMs: T0 + 3 * DAY + 2 * HOUR + i },
    ]);
    const trend = async (q: PeriodQuery, sizeMs: number) => {
      const startMs = Math.floor((q.sinceMs ?? (await store.firstHour())!) / sizeMs) * sizeMs;
      const axis = { startMs, sizeMs, count: Math.ceil((END - startMs) / sizeMs) };
      const got = new Map(
        [...(await store.trendBuckets(q, axis, now))].flatMap(([id, buckets]) =>
          buckets.filter((b) => b.requests > 0).map((b) => [`${id}@${b.startMs}`, { requests: b.requests, dbSpans: b.dbSpans, wastedMs: b.wastedMs }] as const),
        ),
      );
      expect(round(got)).toEqual(round(await referenceTrend(store, q, axis)));
    };
    for (const q of periods) for (const size of [HOUR, 6 * HOUR, DAY]) await trend(q, size);
    await store.record(more);
    for (const q of periods) expect(await fast(store, q, options, now)).toEqual(await reference(store, q, options));
    for (const q of periods) for (const size of [HOUR, 6 * HOUR, DAY]) await trend(q, size);
  });

  it('drop what they kept when another process writes the same file', async () => {
    const query = { sinceMs: T0, untilMs: T0 + 9 * DAY };
    await fast(store, query, options); // keeps the settled sums
    const other = Store.open(path);
    const late = analyses.filter((a) => a.endpoint === 'POST webhooks/ats/').map((a, i) => ({ ...a, traceId: `other${i}`.padEnd(32, '0'), startMs: T0 + 4 * DAY + 3 * HOUR }));
    other.recordSync(late);
    other.closeSync();
    expect(await fast(store, query, options)).toEqual(await reference(store, query, options));
  });

  it('are backfilled from the hourly rollups when a store written before them is opened', async () => {
    store.db.exec(`
      DROP TABLE summary_endpoints; DROP TABLE summary_queries; DROP TABLE summary_noise;
      DROP TABLE summary_findings; DROP TABLE summary_selects; DROP TABLE summary_durations; DROP TABLE summary_blocks;
      ${SQLITE_SPOOL_COMMITTED};
      PRAGMA user_version = 6;`);
    store.closeSync();
    store = Store.open(path, { now: () => END });
    // Against the rollups read afresh: a store from before minute rows reads the hour of its upgrade whole.
    for (const [, q] of PERIODS) expect(await fast(store, q, options)).toEqual(await reference(store, q, options));
  });

  afterAll(() => store.closeSync());
});

describe('period summaries beside another connection writing the file', () => {
  // serve's writer thread, a shard (--workers) or a digest process: another connection to the file
  // writes while the web UI's connection builds day and week blocks for the overview.
  let path: string;
  let writer: Store;
  let reader: Store;
  const query = { sinceMs: T0, untilMs: T0 + 9 * DAY };

  beforeAll(async () => {
    const sample = await analyseSample();
    analyses = sample.analyses;
    options = { schema: sample.schema, hotLookupMinPerDay: 50 };
    path = join(tempDir('summaries-busy'), 'n1lens.db');
    writer = Store.open(path, { now: () => END });
    for (let i = 0, all = traffic(); i < all.length; i += 500) writer.recordSync(all.slice(i, i + 500));
    writer.db.pragma('busy_timeout = 0');
  });
  afterAll(() => {
    reader?.closeSync();
    writer.closeSync();
  });

  it('builds a day block while the other connection takes the write lock (its transaction holds the lock from its start)', async () => {
    reader = Store.open(path, { now: () => END });
    // The other connection asks for the write lock just as the build is about to write: the build
    // already read the finer blocks, so in a deferred transaction it failed with SQLITE_BUSY at once.
    const prepare = reader.db.prepare.bind(reader.db);
    let tried = false;
    (reader.db as { prepare: typeof prepare }).prepare = ((sql: string) => {
      const statement = prepare(sql);
      if (!sql.startsWith('DELETE FROM summary_endpoints WHERE size = ? AND start = ?')) return statement;
      const run = statement.run.bind(statement);
      return Object.assign(statement, {
        run: (...args: unknown[]) => {
          if (args[0] === DAY && !tried) {
            tried = true;
            try {
              writer.db.exec('BEGIN IMMEDIATE');
            } catch {
              // The build holds the lock: the other connection waits its turn.
            }
          }
          return run(...args);
        },
      });
    }) as typeof prepare;
    try {
      expect(await fast(reader, query, options)).toEqual(await reference(reader, query, options));
      expect(tried).toBe(true);
    } finally {
      if (writer.db.inTransaction) writer.db.exec('COMMIT');
      reader.closeSync();
    }
  });

  it('sums the hours instead while another connection holds the file, without waiting out the busy timeout, and builds the blocks on a later read', async () => {
    reader = Store.open(path, { now: () => END });
    // A read runs on the thread that takes exports: waiting there would hold every export up.
    reader.db.pragma('busy_timeout = 20000');
    reader.db.exec('DELETE FROM summary_blocks');
    writer.db.exec('BEGIN IMMEDIATE');
    try {
      const started = performance.now();
      expect(await fast(reader, query, options)).toEqual(await reference(reader, query, options));
      expect(performance.now() - started).toBeLessThan(10_000);
      expect(reader.db.pragma('busy_timeout', { simple: true })).toBe(20000);
      expect(reader.db.prepare('SELECT count(*) FROM summary_blocks').pluck().get()).toBe(0);
    } finally {
      writer.db.exec('COMMIT');
    }
    expect(await fast(reader, query, options)).toEqual(await reference(reader, query, options));
    expect(reader.db.prepare('SELECT DISTINCT size FROM summary_blocks ORDER BY size').pluck().all()).toEqual([6 * HOUR, DAY]);
    reader.closeSync();
  });
});
