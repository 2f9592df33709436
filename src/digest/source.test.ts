/** Digests from a real store (spans through the Analyzer) and from trace-file rollups. */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Analyzer } from '../analyzer.js';
import { RollupSet } from '../detect/rollup.js';
import type { RequestAnalysis } from '../detect/types.js';
import { APPLICATIONS, AUTH_USER, DASHBOARD_ROW, SESSION } from '../detect/testing.js';
import { SpanKind, type SpanRecord } from '../otlp/span.js';
import { SqliteStore as Store } from '../store/sqlite.js';
import { buildDigest } from './blocks.js';
import { sections } from './testing.js';
import { parseDuration } from '../report/period.js';
import { digestFromRollups, digestFromStore, periodWindow } from './source.js';
import { digestPeriod } from './schedule.js';
import { tempDir } from '../../test/support.js';

const dir = tempDir('digest');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let traces = 0;

/** The spans of one Django request: a SERVER span and its DB spans, 1 ms each, the way the OTel SDK exports them. */
function requestSpans(opts: { service: string; route: string; startMs: number; rows: number }): SpanRecord[] {
  const traceId = (++traces).toString(16).padStart(32, '0');
  const statements = [SESSION, AUTH_USER, APPLICATIONS];
  for (let r = 0; r < opts.rows; r++) for (const row of DASHBOARD_ROW) statements.push(row(r));
  const server: SpanRecord = {
    traceId,
    spanId: 'a'.repeat(16),
    parentSpanId: '',
    name: `GET ${opts.route}`,
    kind: SpanKind.SERVER,
    startMs: opts.startMs,
    endMs: opts.startMs + statements.length * 1.1 + 5,
    service: opts.service,
    httpMethod: 'GET',
    httpRoute: opts.route,
  };
  const db = statements.map(
    (statement, i): SpanRecord => ({
      traceId,
      spanId: (i + 1).toString(16).padStart(16, '0'),
      parentSpanId: server.spanId,
      name: 'SELECT',
      kind: SpanKind.CLIENT,
      startMs: opts.startMs + 1 + i * 1.1,
      endMs: opts.startMs + 2 + i * 1.1,
      service: opts.service,
      dbSystem: 'postgresql',
      dbStatement: statement,
    }),
  );
  return [server, ...db];
}

/** Spans through the real pipeline (assembly, SQL normalisation, detection) into analysed requests. */
function analyse(spans: SpanRecord[]): RequestAnalysis[] {
  const analyzer = new Analyzer();
  return [...analyzer.add(spans, 0), ...analyzer.flush()];
}

const at = (iso: string): number => Date.parse(iso);
const NOW = at('2025-01-14T09:30:00Z');

function seededStore(): Store {
  // The store's clock is the digest's: minute rows are kept and read relative to it.
  const store = Store.open(join(dir, `n1lens-${traces}.db`), { now: () => NOW });
  const spans: SpanRecord[] = [];
  const add = (n: number, iso: string, rows: number, service = 'recruit', route = 'dashboard/'): void => {
    for (let i = 0; i < n; i++) spans.push(...requestSpans({ service, route, startMs: at(iso) + i * 1000, rows }));
  };
  add(2, '2025-01-11T12:00:00Z', 50); // before both periods
  add(2, '2025-01-12T12:00:00Z', 50); // previous 24h: 2 requests, 50-row loops
  add(4, '2025-01-13T12:00:00Z', 10); // current 24h: twice the traffic, 10-row loops
  add(3, '2025-01-13T15:00:00Z', 20, 'billing', 'invoices/');
  add(5, '2025-01-14T09:10:00Z', 50); // the current, unfinished hour: in the digest
  add(1, '2025-01-13T09:20:00Z', 50); // 24h10m ago: in the previous period, not the current
  store.recordSync(analyse(spans));
  return store;
}

describe('digestFromStore', () => {
  it('reports the last 24h up to the current minute, the unfinished hour included, and the equal period before it', async () => {
    const store = seededStore();
    try {
      const input = await digestFromStore(store, { windowMs: parseDuration('24h'), service: 'recruit', nowMs: NOW });
      expect(input.period).toEqual({ sinceMs: at('2025-01-13T09:30:00Z'), untilMs: at('2025-01-14T09:30:00Z'), window: '24h' });
      // 4 yesterday afternoon and 5 twenty minutes ago; the hour the periods meet in is split at 09:30.
      expect(input.report.summary.requests).toBe(9);
      expect(input.previous?.summary.requests).toBe(3);
      expect(input.report.endpoints.map((e) => e.endpoint)).toEqual(['GET dashboard/']);
      expect(input.report.endpoints[0]?.fix).toContain("select_related('candidate', 'job__company', 'status')");
    } finally {
      store.closeSync();
    }
  });

  it('shows the change against the previous period in the Slack message', async () => {
    const store = seededStore();
    try {
      const input = await digestFromStore(store, { windowMs: parseDuration('24h'), service: 'recruit', nowMs: NOW });
      const [m] = buildDigest(input);
      const summary = sections(m!)[0];
      // 4 requests × 6 loops × 9 wasted ms plus 5 × 6 × 49 ms now, against 3 × 6 × 49 ms the day before.
      expect(input.report.summary.wastedMs).toBeCloseTo(216 + 1470, 0);
      expect(input.previous?.summary.wastedMs).toBeCloseTo(882, 0);
      expect(summary).toContain('*Requests analysed:* 9 (up 200% from 3 in the previous 24h)');
      expect(m!.text).toMatch(/^n1lens digest for recruit, last 24h \(2025-01-13 09:30 → 2025-01-14 09:30 UTC\): 9 requests analysed/);
    } finally {
      store.closeSync();
    }
  });

  it('keeps to one service when asked, and names every service otherwise', async () => {
    const store = seededStore();
    try {
      const billing = await digestFromStore(store, { windowMs: parseDuration('24h'), service: 'billing', nowMs: NOW });
      expect(billing.report.endpoints.map((e) => `${e.service} ${e.endpoint}`)).toEqual(['billing GET invoices/']);
      expect(billing.previous?.summary.requests).toBe(0);
      const all = await digestFromStore(store, { windowMs: parseDuration('24h'), nowMs: NOW });
      expect(all.report.summary.requests).toBe(12);
      expect(buildDigest(all)[0]!.text).toMatch(/^n1lens digest for 2 services: billing, recruit, last 24h/);
    } finally {
      store.closeSync();
    }
  });
});

describe('queries outside any request in a digest', () => {
  it('counts, from the store, the period\'s queries no request ran (scripts, migrations) for the service, and says so in the summary', async () => {
    const store = Store.open(join(dir, 'outside.db'), { now: () => NOW });
    try {
      const outside = [
        { traceId: 'c'.repeat(32), startMs: at('2025-01-13T12:00:00Z'), service: 'recruit', queries: 370 },
        { traceId: 'd'.repeat(32), startMs: at('2025-01-13T13:00:00Z'), service: 'billing', queries: 5 },
        { traceId: 'e'.repeat(32), startMs: at('2025-01-12T12:00:00Z'), service: 'recruit', queries: 9 }, // the previous 24h
      ];
      await store.record(analyse(requestSpans({ service: 'recruit', route: 'dashboard/', startMs: at('2025-01-13T12:00:00Z'), rows: 10 })), undefined, undefined, outside);
      const input = await digestFromStore(store, { windowMs: parseDuration('24h'), service: 'recruit', nowMs: NOW });
      expect(input.report.summary.queriesOutsideRequests).toBe(370);
      const [m] = buildDigest(input);
      const summary = sections(m!)[0];
      expect(summary).toContain('*Queries outside any request:* 370');
      const quiet = await digestFromStore(store, { windowMs: parseDuration('24h'), service: 'billing', nowMs: NOW });
      expect(quiet.report.summary.queriesOutsideRequests).toBe(5);
    } finally {
      store.closeSync();
    }
  });

  it('says nothing of them when there were none', async () => {
    const store = seededStore();
    try {
      const input = await digestFromStore(store, { windowMs: parseDuration('24h'), service: 'recruit', nowMs: NOW });
      expect(input.report.summary.queriesOutsideRequests).toBeUndefined();
      expect(JSON.stringify(buildDigest(input))).not.toContain('outside any request');
    } finally {
      store.closeSync();
    }
  });
});

describe('a scheduled digest from the store (periodWindow)', () => {
  it("covers exactly its period: a weekday cron's Monday digest counts the weekend", async () => {
    const monday = at('2025-01-20T09:00:00.004Z');
    const store = Store.open(join(dir, 'weekend.db'), { now: () => monday });
    try {
      const spans: SpanRecord[] = [];
      for (const [n, iso] of [[3, '2025-01-17T08:00:00Z'], [2, '2025-01-17T12:00:00Z'], [3, '2025-01-18T12:00:00Z'], [4, '2025-01-19T12:00:00Z'], [1, '2025-01-20T08:00:00Z']] as const) {
        for (let i = 0; i < n; i++) spans.push(...requestSpans({ service: 'recruit', route: 'dashboard/', startMs: at(iso) + i * 1000, rows: 10 }));
      }
      store.recordSync(analyse(spans));
      const period = digestPeriod(at('2025-01-17T09:00:00Z'), monday); // Friday's digest ended at 09:00
      const input = await digestFromStore(store, { ...periodWindow(period), service: 'recruit' });
      expect(input.period).toEqual({ sinceMs: at('2025-01-17T09:00:00Z'), untilMs: at('2025-01-20T09:00:00Z'), window: '3d' });
      expect(input.report.summary.requests).toBe(10);
      expect(input.previous?.summary.requests).toBe(3);
      // A fixed 24h window (serve's default before) would have missed Friday afternoon and Saturday.
      expect((await digestFromStore(store, { windowMs: parseDuration('24h'), nowMs: monday, service: 'recruit' })).report.summary.requests).toBe(5);
    } finally {
      store.closeSync();
    }
  });
});

describe('digestFromRollups', () => {
  it('takes its period from the traces and has nothing to compare with', async () => {
    const set = new RollupSet();
    for (const a of analyse(requestSpans({ service: 'recruit', route: 'dashboard/', startMs: at('2025-01-13T08:12:00Z'), rows: 10 }))) set.add(a);
    for (const a of analyse(requestSpans({ service: 'recruit', route: 'dashboard/', startMs: at('2025-01-13T10:12:00Z'), rows: 10 }))) set.add(a);
    const input = digestFromRollups(set.values(), { source: 'traces.jsonl.gz' });
    expect(input.previous).toBeUndefined();
    expect(input.period.sinceMs).toBe(at('2025-01-13T08:12:00Z'));
    expect(buildDigest(input)[0]!.text).toMatch(/^n1lens digest for recruit, traces 2025-01-13 08:12 → 10:12 UTC, traces\.jsonl\.gz: 2 requests analysed/);
  });
});
