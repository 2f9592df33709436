import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { connectionFigures } from '../detect/connections.js';
import { analyseRequest } from '../detect/request.js';
import { detectDeadViews } from '../detect/routes.js';
import { RollupSet } from '../detect/rollup.js';
import { APPLICATIONS, DASHBOARD_ROW, loop, requestOf } from '../detect/testing.js';
import { buildReport } from '../report/model.js';
import { createSqlNormalizer } from '../sql/index.js';
import pg from 'pg';
import { POSTGRES_MIGRATIONS, SCHEMA_VERSION } from './migrations.js';
import { PostgresStore } from './postgres.js';
import { SqliteStore } from './sqlite.js';
import type { Store } from './store.js';
import { postgresDatabase, tempDir } from '../../test/support.js';

const normalize = createSqlNormalizer();
const HOUR = 3_600_000;
const T0 = Date.parse('2025-01-13T09:00:00Z');
const SECRET = 'jane.doe+secret@example.com';

const dashboard = (i: number, startMs: number, rows = 20) =>
  analyseRequest(
    requestOf(
      'GET dashboard/',
      [
        `SELECT "auth_user"."id" FROM "auth_user" WHERE "auth_user"."email" = '${SECRET}' LIMIT 21`,
        APPLICATIONS,
        ...loop(rows, ...DASHBOARD_ROW),
      ],
      { traceId: i.toString(16).padStart(32, '0'), startMs },
    ),
    normalize,
  );

function tempDb(): string {
  return join(tempDir('store'), 'n1lens.db');
}

/** Each backend opens a fresh, empty store. */
const backends: [string, () => Promise<Store>][] = [
  ['SQLite', async () => SqliteStore.open(tempDb())],
  ['PostgreSQL', async () => PostgresStore.open(await postgresDatabase('store'))],
];

describe('SQLite store', () => {
  it('migrates a new file to the current user_version and refuses a newer one', async () => {
    const path = tempDb();
    const store = SqliteStore.open(path);
    expect(store.db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    expect(store.db.pragma('journal_mode', { simple: true })).toBe('wal');
    store.db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    store.closeSync();
    expect(() => SqliteStore.open(path)).toThrow(/newer than this n1lens understands/);
  });

  it('never writes literal values from statements to the database file', async () => {
    const path = tempDb();
    const store = SqliteStore.open(path);
    await store.record([dashboard(1, T0)]);
    store.db.pragma('wal_checkpoint(TRUNCATE)');
    store.closeSync();
    const bytes = readFileSync(path).toString('latin1');
    expect(bytes).toContain('recruit_candidate');
    expect(bytes).not.toContain(SECRET);
    expect(bytes).not.toContain('jane.doe');
  });

});

describe.each(backends)('%s store', (_name, open) => {
  it('reports from stored hourly rollups exactly what the in-memory rollups give', async () => {
    const store = await open();
    const analyses = [dashboard(1, T0 + 10), dashboard(2, T0 + HOUR + 10, 30), dashboard(3, T0 + 2 * HOUR + 10)];
    await store.record(analyses.slice(0, 2));
    await store.record(analyses.slice(2));
    const memory = new RollupSet();
    for (const a of analyses) memory.add(a);
    expect(await store.report()).toEqual(buildReport(memory.values()));
    await store.close();
  });

  it('answers a period with only the hours inside it', async () => {
    const store = await open();
    await store.record([dashboard(1, T0 + 10), dashboard(2, T0 + HOUR + 10), dashboard(3, T0 + 2 * HOUR + 10)]);
    expect((await store.report({ sinceMs: T0 + HOUR })).summary.requests).toBe(2);
    expect((await store.report({ sinceMs: T0 + HOUR, untilMs: T0 + 2 * HOUR })).summary.requests).toBe(1);
    expect((await store.report({ endpoint: 'GET other/*' })).endpoints).toEqual([]);
    await store.close();
  });

  it('keeps the worst request of each finding as its example, with the DB timeline', async () => {
    const store = await open();
    await store.record([dashboard(1, T0, 10)]);
    await store.record([dashboard(2, T0 + 5, 40), dashboard(3, T0 + 9, 20)]);
    const ids = [...(await store.findingIds()).values()];
    expect(ids).toHaveLength(6);
    const finding = await store.finding(ids[0]!);
    expect(finding?.example?.traceId).toBe('2'.padStart(32, '0'));
    expect(finding?.example?.timeline).toHaveLength(2 + 40 * 6);
    expect(finding?.executions).toBe(70);
    expect(await store.finding(99_999)).toBeUndefined();
    await store.close();
  });

  it('adds connection seconds across writes and gives the figures the in-memory rollup gives', async () => {
    const store = await open();
    const withSetup = (i: number, startMs: number, instance: string) => {
      const r = requestOf('GET webhooks/ats/', ["SELECT set_config('TimeZone', %s, false)", APPLICATIONS], { traceId: i.toString(16).padStart(32, '0'), startMs });
      r.instance = instance;
      r.durationMs = 400;
      return analyseRequest(r, normalize);
    };
    const analyses = Array.from({ length: 30 }, (_, i) => withSetup(i + 1, T0 + i * 150, `worker-${i % 3}`));
    await store.record(analyses.slice(0, 11));
    await store.record(analyses.slice(11));
    const memory = new RollupSet();
    for (const a of analyses) memory.add(a);
    const stored = await store.connections();
    expect(stored).toHaveLength(1);
    expect(connectionFigures(stored[0]!)).toEqual(connectionFigures([...memory.connections.values()][0]!));
    expect(stored[0]).toMatchObject({ dbRequests: 30, observableRequests: 30, opened: 30 });
    expect(await store.connections({ sinceMs: T0 + HOUR })).toEqual([]);
    await store.close();
  });

  it('keeps each route\'s traffic (first and last seen, when, from whom) for dead_view', async () => {
    const store = await open();
    const DAY = 24 * HOUR;
    const cron = (day: number) => {
      const r = requestOf('GET internal/nightly/', [APPLICATIONS], { traceId: (100 + day).toString(16).padStart(32, '0'), startMs: T0 - day * DAY + 60_000 });
      r.client = '10.0.0.9 curl/8.5';
      return analyseRequest(r, normalize);
    };
    await store.record([cron(5), cron(4)]);
    await store.record([cron(3), cron(2), dashboard(1, T0)]);
    const traffic = await store.routeTraffic();
    const nightly = traffic.find((t) => t.endpoint === 'GET internal/nightly/')!;
    expect(nightly).toMatchObject({ requests: 4, firstSeenMs: T0 - 5 * DAY + 60_000 });
    expect(await store.historySinceMs()).toBe(T0 - 5 * DAY + 60_000);
    const views = detectDeadViews(
      [
        { route: 'internal/nightly/', view: 'app.views.nightly' },
        { route: 'dashboard/', view: 'app.views.dashboard' },
        { route: 'old/', view: 'app.views.old' },
        { route: 'admin/login/', view: 'django.contrib.admin.sites.AdminSite.login' },
      ],
      traffic,
      { windowMs: 3 * DAY, nowMs: T0 + HOUR, historySinceMs: (await store.historySinceMs())! },
    );
    expect(views.map((v) => [v.route, v.status])).toEqual([
      ['internal/nightly/', 'periodic'],
      ['old/', 'dead'],
    ]);
    expect(views[0]?.periodic).toEqual({ minuteOfDay: 9 * 60 + 1, days: 4, client: '10.0.0.9 curl/8.5', requests: 4 });
    await store.close();
  });

  it('drops hourly rows older than the retention, keeping findings and route history', async () => {
    const store = await open();
    await store.record([dashboard(1, T0), dashboard(2, T0 + 3 * HOUR)]);
    expect(await store.pruneBefore(T0 + HOUR)).toBeGreaterThan(0);
    expect((await store.report()).summary.requests).toBe(1);
    expect(await store.findingCount()).toBe(6);
    expect((await store.routeTraffic())[0]?.requests).toBe(2);
    await store.close();
  });

  it('counts a trace committed twice once: the second writer (a replay, another instance) adds nothing', async () => {
    const store = await open();
    const a = dashboard(1, T0);
    await store.record([a], { traceIds: [a.traceId], nowMs: T0 });
    await store.record([a], { traceIds: [a.traceId], nowMs: T0 + 1 });
    expect((await store.report()).summary.requests).toBe(1);
    expect(await store.committed([a.traceId, 'f'.repeat(32)])).toEqual(new Set([a.traceId]));
    await store.pruneCommitted(T0 + 1);
    expect(await store.committed([a.traceId])).toEqual(new Set());
    await store.close();
  });
});

describe('PostgreSQL store', () => {
  it('has a migration for every SQLite migration', () => {
    expect(POSTGRES_MIGRATIONS).toHaveLength(SCHEMA_VERSION);
  });

  it('migrates once when instances start together, and refuses a newer schema in one line without the password', async () => {
    const url = await postgresDatabase('migrate');
    const stores = await Promise.all(Array.from({ length: 4 }, () => PostgresStore.open(url)));
    await Promise.all(stores.map((s) => s.close()));
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    try {
      expect((await admin.query('SELECT version FROM n1lens_schema')).rows).toEqual([{ version: SCHEMA_VERSION }]);
      await admin.query('UPDATE n1lens_schema SET version = version + 1');
    } finally {
      await admin.end();
    }
    const refused = PostgresStore.open(url);
    await expect(refused).rejects.toThrow(/^cannot open the store postgresql:\/\/recruit:\*\*\*@127\.0\.0\.1:\d+\/\w+: database schema version \d+ is newer than this n1lens understands/);
    await expect(PostgresStore.open(url.replace(/\/\w+$/, '/no_such_db'))).rejects.toThrow(/^cannot open the store postgresql:\/\/recruit:\*\*\*@[^\n]*"no_such_db" does not exist$/);
  });

  it('never loses an increment: 8 writers adding to the same rows at once sum to the in-memory rollup', async () => {
    const url = await postgresDatabase('writers');
    const writers = await Promise.all(Array.from({ length: 8 }, () => PostgresStore.open(url)));
    const memory = new RollupSet();
    let n = 0;
    // Every writer, every round: the same endpoint, findings and hours, so every row is contended.
    const rounds = Array.from({ length: 12 }, () =>
      writers.map(() => {
        const batch = [dashboard(++n, T0 + (n % 7) * 1000, 10 + (n % 5)), dashboard(++n, T0 + HOUR + n, 12), dashboard(++n, T0 + 5, 10 + (n % 9))];
        for (const a of batch) memory.add(a);
        return batch;
      }),
    );
    for (const round of rounds) await Promise.all(round.map((batch, w) => writers[w]!.record(batch)));
    const report = await writers[0]!.report();
    const expected = buildReport(memory.values());
    expect(report.summary).toEqual(expected.summary);
    expect(report.summary.requests).toBe(8 * 12 * 3);
    // Equal requests can tie for the worst: which of them is the example depends on who wrote first.
    const withoutExamples = (r: typeof report) => r.endpoints.map((e) => ({ ...e, findings: e.findings.map(({ exampleTraceId: _, ...f }) => f) }));
    expect(withoutExamples(report)).toEqual(withoutExamples(expected));
    // The worst request per finding across all writers is the example.
    const worst = Math.max(...[...[...memory.values()][0]!.cascades.values()].map((c) => c.example.wastedMs));
    const examples = await Promise.all([...(await writers[0]!.findingIds()).values()].map((id) => writers[0]!.finding(id)));
    expect(Math.max(...examples.map((f) => f?.example?.wastedMs ?? 0))).toBe(worst);
    await Promise.all(writers.map((w) => w.close()));
  }, 120_000);
});
