import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { connectionFigures } from '../detect/connections.js';
import { analyseRequest } from '../detect/request.js';
import { detectDeadViews, periodicCaller, urlconfHistorySince } from '../detect/routes.js';
import { RollupSet } from '../detect/rollup.js';
import { APPLICATIONS, DASHBOARD_ROW, loop, requestOf } from '../detect/testing.js';
import { buildReport } from '../report/model.js';
import { createSqlNormalizer } from '../sql/index.js';
import pg from 'pg';
import { POSTGRES_MIGRATIONS, SCHEMA_VERSION } from './migrations.js';
import { PostgresStore } from './postgres.js';
import { SqliteStore } from './sqlite.js';
import { minuteHorizon, periodRows, type Store, type StoreOptions } from './store.js';
import { digestFromStore } from '../digest/source.js';
import { parseDuration } from '../report/period.js';
import { postgresDatabase, tempDir } from '../../test/support.js';
import { MAX_PEERS } from '../traces/peers.js';
import { SQLITE_SPOOL_COMMITTED, upgradableStores } from '../../test/stores.js';

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

  it('waits for another process that holds the new file\'s write lock longer than one busy wait (a start under load), then migrates it', async () => {
    const path = tempDb();
    // Another process takes the write lock of the new file and keeps it past better-sqlite3's 5 s busy wait.
    const holder = spawn(process.execPath, ['--input-type=module', '-e', `
      import Database from 'better-sqlite3';
      const db = new Database(${JSON.stringify(path)});
      db.pragma('journal_mode = WAL');
      db.exec('BEGIN IMMEDIATE');
      console.log('held');
      setTimeout(() => { db.exec('COMMIT'); db.close(); }, 6500);
    `], { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'inherit'] });
    await once(holder.stdout!, 'data');
    const store = SqliteStore.open(path);
    expect(store.db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    store.closeSync();
    await once(holder, 'exit');
  }, 30_000);

  it('reads the clients of route traffic written before callers as callers, so an old row and a new one are one cron job', async () => {
    const store = SqliteStore.open(tempDb());
    const DAY = 24 * HOUR;
    // A row as an older n1lens wrote it: clients keyed by address and user agent.
    const pattern = { minutes: [[120, 2]], clients: [['10.0.1.5 curl/8.5', 1], ['10.0.2.5 curl/8.5', 1]], days: [20100, 20101] };
    store.db
      .prepare('INSERT INTO route_traffic (service, endpoint, requests, first_seen_ms, last_seen_ms, pattern) VALUES (?, ?, ?, ?, ?, ?)')
      .run('recruit', 'GET nightly/', 2, 20100 * DAY + 2 * HOUR, 20101 * DAY + 2 * HOUR, JSON.stringify(pattern));
    const r = requestOf('GET nightly/', [APPLICATIONS], { traceId: 'c'.repeat(32), startMs: 20102 * DAY + 2 * HOUR });
    r.client = '10.0.3.5 curl/8.5';
    await store.record([analyseRequest(r, normalize)]);
    const [nightly] = await store.routeTraffic();
    expect([...nightly!.pattern.clients!]).toEqual([['curl/8.5', 3]]);
    store.closeSync();
  });

  it('keeps the address of each caller by day in route traffic, so two hosts sending one user agent on one day stay two callers; an old row with more addresses than days is read so too', async () => {
    const store = SqliteStore.open(tempDb());
    const DAY = 24 * HOUR;
    const request = (n: number, day: number, client: string) => {
      const r = requestOf('GET api/export/', [APPLICATIONS], { traceId: n.toString(16).padStart(32, '0'), startMs: (20100 + day) * DAY + 2 * HOUR + n });
      r.client = client;
      return analyseRequest(r, normalize);
    };
    // Two partners' nightly scripts, both python-requests, written in separate batches.
    for (let d = 0; d < 4; d++) {
      await store.record([request(2 * d + 1, d, '203.0.113.7 python-requests/2.32.3')]);
      await store.record([request(2 * d + 2, d, '198.51.100.23 python-requests/2.32.3')]);
    }
    const [exportRoute] = await store.routeTraffic();
    expect([...exportRoute!.pattern.clients!]).toEqual([['python-requests/2.32.3', 8]]);
    expect(exportRoute!.pattern.addresses!.get('python-requests/2.32.3')).toBeNull();
    expect(periodicCaller(exportRoute!)).toBeNull();
    // A row as an older n1lens wrote it (clients by address and user agent, no addresses): two addresses on one day.
    const pattern = { minutes: [[120, 2]], clients: [['10.0.1.5 curl/8.5', 1], ['10.0.2.5 curl/8.5', 1]], days: [20100] };
    store.db
      .prepare('INSERT INTO route_traffic (service, endpoint, requests, first_seen_ms, last_seen_ms, pattern) VALUES (?, ?, ?, ?, ?, ?)')
      .run('recruit', 'GET nightly/', 2, 20100 * DAY + 2 * HOUR, 20100 * DAY + 2 * HOUR, JSON.stringify(pattern));
    const nightly = (await store.routeTraffic()).find((t) => t.endpoint === 'GET nightly/');
    expect(nightly!.pattern.addresses!.get('curl/8.5')).toBeNull();
    store.closeSync();
  });

  it('notes committed traces in one row per write, which another connection to the file reads before it counts a trace', async () => {
    const path = tempDb();
    const first = SqliteStore.open(path);
    const second = SqliteStore.open(path);
    const [a, b, c] = [dashboard(1, T0), dashboard(2, T0), dashboard(3, T0)];
    await first.record([a, b], { traceIds: [a.traceId, b.traceId], nowMs: T0 });
    expect(await second.committed([a.traceId, c.traceId])).toEqual(new Set([a.traceId]));
    // A replay by the second of a and c counts c only; the first then sees c committed too.
    await second.record([a, c], { traceIds: [a.traceId, c.traceId], nowMs: T0 + 1000 });
    expect((await first.report()).summary.requests).toBe(3);
    expect(await first.committed([c.traceId])).toEqual(new Set([c.traceId]));
    expect(first.db.prepare('SELECT committed_ms, trace_ids FROM spool_commits ORDER BY id').all()).toEqual([
      { committed_ms: T0, trace_ids: JSON.stringify([a.traceId, b.traceId]) },
      { committed_ms: T0 + 1000, trace_ids: JSON.stringify([c.traceId]) },
    ]);
    first.closeSync();
    second.closeSync();
    // Reopened, the store reads its committed traces back.
    const reopened = SqliteStore.open(path);
    expect(await reopened.committed([a.traceId, b.traceId, c.traceId, 'f'.repeat(32)])).toEqual(new Set([a.traceId, b.traceId, c.traceId]));
    reopened.closeSync();
  });

  it('keeps the newest commit row through a prune, so a connection that read it still sees the commits after an idle spell', async () => {
    const path = tempDb();
    const first = SqliteStore.open(path);
    const second = SqliteStore.open(path);
    const [a, b] = [dashboard(1, T0), dashboard(2, T0)];
    await first.record([a], { traceIds: [a.traceId], nowMs: T0 });
    expect(await second.committed([a.traceId])).toEqual(new Set([a.traceId]));
    // Ten minutes without a write: the prune would leave the table empty, and the next row would take id 1 again.
    await first.pruneCommitted(T0 + 600_000);
    await first.record([b], { traceIds: [b.traceId], nowMs: T0 + 600_001 });
    expect(await second.committed([b.traceId])).toEqual(new Set([b.traceId]));
    first.closeSync();
    second.closeSync();
  });

  it('keeps the committed traces of a store from before spool_commits (schema 10) through the upgrade', async () => {
    const path = tempDb();
    const old = SqliteStore.open(path).db;
    old.exec(SQLITE_SPOOL_COMMITTED);
    const insert = old.prepare('INSERT INTO spool_committed (trace_id, committed_ms) VALUES (?, ?)');
    const ids = ['a', 'b', 'c'].map((x) => x.repeat(32));
    insert.run(ids[0], T0);
    insert.run(ids[1], T0);
    insert.run(ids[2], T0 + 1000);
    old.pragma('user_version = 10');
    old.close();
    const store = SqliteStore.open(path);
    expect(store.db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    expect(await store.committed([...ids, 'f'.repeat(32)])).toEqual(new Set(ids));
    const a = { ...dashboard(1, T0), traceId: ids[0]! };
    await store.record([a], { traceIds: [a.traceId], nowMs: T0 + 2000 });
    expect((await store.report()).summary.requests).toBe(0);
    await store.pruneCommitted(T0 + 2 * 60_000);
    expect(await store.committed(ids)).toEqual(new Set());
    // The newest row stays, so that the next one takes a higher id (pruneCommittedSync).
    expect(store.db.prepare('SELECT count(*) AS n FROM spool_commits').get()).toEqual({ n: 1 });
    store.closeSync();
  });

  it('reads a period of more rows than a call may take arguments (years of hours): no stack overflow', async () => {
    const store = SqliteStore.open(tempDb());
    await store.record([dashboard(1, T0)]);
    const ROWS = 300_000;
    store.db.exec(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${ROWS - 1})
      INSERT INTO endpoint_hours (endpoint_id, hour, requests, db_spans, repeats, wasted_ms, rollup)
      SELECT endpoint_id, hour - i * ${HOUR}, requests, db_spans, repeats, wasted_ms, rollup FROM endpoint_hours, n`);
    const hours = await store.endpointHours();
    expect(hours.length).toBe(ROWS);
    expect(hours.reduce((n, h) => n + h.requests, 0)).toBe(ROWS);
    store.closeSync();
  });

  it('lets the event loop through between summing a write and its transaction (serve answers exports meanwhile)', async () => {
    const store = SqliteStore.open(tempDb());
    let turns = 0;
    const turnsAtWrite: number[] = [];
    const writeRowsSync = store.writeRowsSync.bind(store);
    vi.spyOn(store, 'writeRowsSync').mockImplementation((...args) => {
      turnsAtWrite.push(turns);
      return writeRowsSync(...args);
    });
    const recorded = store.record([dashboard(1, T0)]);
    // A turn queued now runs before the transaction only if the write yields after summing.
    setImmediate(() => turns++);
    setImmediate(() => turns++);
    await recorded;
    expect(turnsAtWrite).toEqual([2]);
    expect((await store.endpoints()).map((e) => e.requests)).toEqual([1]);
    store.closeSync();
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

  it('reads one endpoint or one service as the same rollups a whole read gives for them', async () => {
    const store = await open();
    const renamed = (i: number, endpoint: string, service: string) => ({ ...dashboard(i, T0 + i * 60_000), endpoint, service });
    await store.record([renamed(1, 'GET dashboard/', 'recruit'), renamed(2, 'GET jobs/', 'recruit'), renamed(3, 'GET dashboard/', 'billing'), renamed(4, 'GET jobs/', 'recruit')]);
    const all = await store.rollups();
    expect(all).toHaveLength(3);
    expect(await store.rollups({ endpoint: 'GET jobs/' })).toEqual(all.filter((r) => r.endpoint === 'GET jobs/'));
    expect(await store.rollups({ service: 'billing' })).toEqual(all.filter((r) => r.service === 'billing'));
    expect(await store.rollups({ endpoint: 'GET dashboard/', service: 'recruit', sinceMs: T0 })).toEqual(
      all.filter((r) => r.endpoint === 'GET dashboard/' && r.service === 'recruit'),
    );
    await store.close();
  });

  it('reads one endpoint by its exact name, a `*` in it matching only itself', async () => {
    const store = await open();
    const renamed = (i: number, endpoint: string) => ({ ...dashboard(i, T0 + i * 60_000), endpoint });
    await store.record([renamed(1, 'GET files/*/'), renamed(2, 'GET files/a/'), renamed(3, 'GET files/*/')]);
    expect((await store.rollups({ endpoint: 'GET files/*/' })).map((r) => r.endpoint).sort()).toEqual(['GET files/*/', 'GET files/a/']);
    expect((await store.rollups({ endpointName: 'GET files/*/' })).map((r) => [r.endpoint, r.requests])).toEqual([['GET files/*/', 2]]);
    expect((await store.report({ endpointName: 'GET files/a/' })).endpoints.map((e) => e.endpoint)).toEqual(['GET files/a/']);
    expect(await store.rollups({ endpointName: 'GET files/' })).toEqual([]);
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
    expect(stored[0]).toMatchObject({ dbRequests: 30, observableRequests: 30, postgresqlRequests: 30, opened: 30 });
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
    const routes = [
      { route: 'internal/nightly/', view: 'app.views.nightly' },
      { route: 'dashboard/', view: 'app.views.dashboard' },
      { route: 'old/', view: 'app.views.old' },
      { route: 'admin/login/', view: 'django.contrib.admin.sites.AdminSite.login' },
    ];
    expect(urlconfHistorySince(routes, traffic)).toBe(T0 - 5 * DAY + 60_000);
    const views = detectDeadViews(routes, traffic, { windowMs: 3 * DAY, minWindowMs: DAY, minRequests: 0, nowMs: T0 + HOUR, historySinceMs: urlconfHistorySince(routes, traffic)! });
    expect(views.map((v) => [v.route, v.status])).toEqual([
      ['internal/nightly/', 'periodic'],
      ['old/', 'dead'],
    ]);
    expect(views[0]?.periodic).toEqual({ minuteOfDay: 9 * 60 + 1, days: 4, client: 'curl/8.5', requests: 4 });
    await store.close();
  });

  it('keeps how many requests each route set aside (404 or 405 without use) beside its traffic, across batches', async () => {
    const store = await open();
    const DAY = 24 * HOUR;
    const probe = (n: number) => {
      const r = requestOf('GET <path:slug>/', [APPLICATIONS], { traceId: (0x700 + n).toString(16).padStart(32, '0'), startMs: T0 - n * HOUR });
      r.status = 404;
      return analyseRequest(r, normalize);
    };
    await store.record([probe(1), dashboard(1, T0 - 40 * DAY)]);
    await store.record([probe(2)]);
    const slug = (await store.routeTraffic()).find((t) => t.endpoint === 'GET <path:slug>/');
    expect(slug).toMatchObject({ requests: 0, setAside: 2 });
    const routes = [
      { route: 'dashboard/', view: 'app.views.dashboard' },
      { route: '<path:slug>/', view: 'app.views.page' },
    ];
    const views = await store.deadViews(routes, 30 * DAY, T0);
    expect(views.map((v) => [v.route, v.lastSeenMs, v.setAsideRequests])).toEqual([['dashboard/', T0 - 40 * DAY, undefined], ['<path:slug>/', null, 2]]);
    await store.close();
  });

  it("judges a URLconf's views by the history of its own routes, not by older traffic of other services in the store", async () => {
    const store = await open();
    const DAY = 24 * HOUR;
    const at = (endpoint: string, service: string, startMs: number, n: number) => {
      const r = requestOf(endpoint, [APPLICATIONS], { traceId: (0x500 + n).toString(16).padStart(32, '0'), startMs });
      r.service = service;
      return analyseRequest(r, normalize);
    };
    // A Celery worker traced since 120 days ago and another app since 100; this app's web service since yesterday.
    await store.record([at('recruit.tasks.send_digest', 'worker', T0 - 120 * DAY, 1), at('GET posts/', 'blog', T0 - 100 * DAY, 2)]);
    await store.record([at('GET dashboard/', 'recruit', T0 - DAY, 3), at('recruit.tasks.send_digest', 'worker', T0 - DAY, 4)]);
    const routes = [
      { route: 'dashboard/', view: 'recruit.views.dashboard' },
      { route: 'reports/legacy/', view: 'recruit.views.legacy' },
    ];
    const views = await store.deadViews(routes, 90 * DAY, T0);
    expect(views.map((v) => [v.route, v.status, v.historyMs])).toEqual([['reports/legacy/', 'no_traffic_yet', DAY]]);
    await store.close();
  });

  it('drops hourly rows older than the retention, keeping findings and route history', async () => {
    const store = await open();
    await store.record([dashboard(1, T0), dashboard(2, T0 + 3 * HOUR)]);
    expect(await store.pruneBefore(T0 + HOUR)).toBeGreaterThan(0);
    expect((await store.report()).summary.requests).toBe(1);
    // The overview's figures too (SQLite sums its period summaries, which are pruned with the hours).
    expect((await store.periodSummary({}, { slowMs: 100, closedBeforeMs: T0 + 4 * HOUR })).map((e) => e.rollup.requests)).toEqual([1]);
    expect(await store.findingCount()).toBe(6);
    expect((await store.routeTraffic())[0]?.requests).toBe(2);
    await store.close();
  });

  it('keeps the hour the retention cut falls in: its rows hold requests after the cut too', async () => {
    const store = await open();
    await store.record([dashboard(1, T0 + 10 * 60_000), dashboard(2, T0 + 45 * 60_000), dashboard(3, T0 + 3 * HOUR)]);
    // 09:30: the 09:00 hour holds a request of 09:45, within the retention; it stays whole.
    expect(await store.pruneBefore(T0 + 30 * 60_000)).toBe(0);
    expect((await store.report()).summary.requests).toBe(3);
    expect((await store.periodSummary({}, { slowMs: 100, closedBeforeMs: T0 + 4 * HOUR })).map((e) => e.rollup.requests)).toEqual([3]);
    // Past 10:00, the 09:00 hour is wholly older than the cut.
    expect(await store.pruneBefore(T0 + HOUR + 1)).toBeGreaterThan(0);
    expect((await store.report()).summary.requests).toBe(1);
    expect((await store.periodSummary({}, { slowMs: 100, closedBeforeMs: T0 + 4 * HOUR })).map((e) => e.rollup.requests)).toEqual([1]);
    await store.close();
  });

  it('writes the rows built as the requests came (rowBuilder) as it makes them itself, and makes them again when a trace was committed already', async () => {
    const built = await open();
    const made = await open();
    // Within the last 48 h on the stores' clock, so minute rows are written and summed into hours too.
    const recent = Math.floor(Date.now() / HOUR) * HOUR - 2 * HOUR;
    const analyses = [dashboard(1, recent + 10), dashboard(2, recent + HOUR + 10, 30), dashboard(3, recent + HOUR + 60_020, 10)];
    const rows = built.rowBuilder();
    rows.add(analyses.slice(0, 1));
    rows.add(analyses.slice(1));
    await built.record(analyses, undefined, rows);
    await made.record(analyses);
    expect(await built.report()).toEqual(await made.report());
    const byMinute = { sinceMs: recent, byMinute: true };
    expect((await built.rollups(byMinute)).map((r) => r.requests)).toEqual([3]);
    expect(await built.rollups(byMinute)).toEqual(await made.rollups(byMinute));
    const examples = async (store: Store) => Promise.all([...(await store.findingIds()).values()].map(async (id) => (await store.finding(id))?.example));
    expect(await examples(built)).toEqual(await examples(made));

    // Trace 4 was committed by an earlier write: a batch with it is counted without it, though its rows had it.
    const a = dashboard(4, T0);
    const b = dashboard(5, T0 + 5);
    await built.record([a], { traceIds: [a.traceId], nowMs: T0 });
    const again = built.rowBuilder();
    again.add([a, b]);
    await built.record([a, b], { traceIds: [a.traceId, b.traceId], nowMs: T0 + 1 }, again);
    expect((await built.report()).summary.requests).toBe(5);
    await built.close();
    await made.close();
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

  it("counts a continuation's request once when its write is made again (the first one's answer lost), and each of its requests once", async () => {
    const store = await open();
    const view = dashboard(1, T0);
    await store.record([view], { traceIds: [view.traceId], nowMs: T0 });
    // The trace's queued tasks, analysed after it was committed: requests of the same trace.
    const task = { ...dashboard(1, T0 + 10), continuationSpanId: '3'.repeat(16) };
    const other = { ...dashboard(1, T0 + 20), continuationSpanId: '4'.repeat(16) };
    expect(await store.record([task], { traceIds: [], nowMs: T0 + 1 })).toEqual([]);
    expect(await store.record([task, other], { traceIds: [], nowMs: T0 + 2 })).toEqual([]);
    expect((await store.report()).summary.requests).toBe(3);
    expect(await store.committed([view.traceId])).toEqual(new Set([view.traceId]));
    await store.close();
  });

  it('keeps the calls committed traces await with their commit, clears them when none are left, and never overwrites another writer\'s', async () => {
    const store = await open();
    const [a, b] = [dashboard(1, T0), dashboard(2, T0)];
    const task = [{ spanId: '1'.repeat(16) }, { spanId: '2'.repeat(16), peer: 'hr.local' }];
    expect(await store.record([a, b], { traceIds: [a.traceId, b.traceId], nowMs: T0, awaited: [[a.traceId, task], [b.traceId, task.slice(0, 1)]] })).toEqual([]);
    expect(await store.awaitedCalls([a.traceId, b.traceId, 'f'.repeat(32)])).toEqual(new Map([[a.traceId, task], [b.traceId, task.slice(0, 1)]]));
    // a's continuation answered one call, b's both; another writer's commit of b, again, leaves a's entry alone.
    await store.record([], { traceIds: [], nowMs: T0 + 1, awaited: [[a.traceId, task.slice(1)], [b.traceId, []]] });
    expect(await store.awaitedCalls([a.traceId, b.traceId])).toEqual(new Map([[a.traceId, task.slice(1)]]));
    expect(await store.record([a], { traceIds: [a.traceId], nowMs: T0 + 2, awaited: [[a.traceId, []]] })).toEqual([a.traceId]);
    expect(await store.awaitedCalls([a.traceId])).toEqual(new Map([[a.traceId, task.slice(1)]]));
    expect((await store.report()).summary.requests).toBe(2);
    // A trace released, then continued, before one write: its last entry wins.
    const c = dashboard(3, T0);
    await store.record([c], { traceIds: [c.traceId], nowMs: T0 + 1, awaited: [[c.traceId, task], [c.traceId, []]] });
    await store.record([], { traceIds: [], nowMs: T0 + 1, awaited: [[b.traceId, []], [b.traceId, task]] });
    expect(await store.awaitedCalls([b.traceId, c.traceId])).toEqual(new Map([[b.traceId, task]]));
    await store.pruneCommitted(T0 + 2);
    expect(await store.awaitedCalls([a.traceId])).toEqual(new Map());
    await store.close();
  });

  it('shares verdicts on peers, and never turns a peer seen to answer opaque again', async () => {
    const store = await open();
    expect(await store.peerVerdicts()).toEqual([]);
    await store.recordPeerVerdicts([]);
    await store.recordPeerVerdicts([{ peer: 'api.stripe.com', opaque: true }, { peer: 'users.svc', opaque: false }]);
    await store.recordPeerVerdicts([{ peer: 'cdn.local', opaque: true }]);
    expect(await store.peerVerdicts()).toEqual(expect.arrayContaining([{ peer: 'api.stripe.com', opaque: true }, { peer: 'users.svc', opaque: false }, { peer: 'cdn.local', opaque: true }]));
    // One instance saw the CDN answer; another, late to learn, says opaque: the answer stands.
    await store.recordPeerVerdicts([{ peer: 'cdn.local', opaque: false }]);
    await store.recordPeerVerdicts([{ peer: 'cdn.local', opaque: true }, { peer: 'users.svc', opaque: true }]);
    const verdicts = await store.peerVerdicts();
    expect(verdicts).toHaveLength(3);
    expect(verdicts).toEqual(expect.arrayContaining([{ peer: 'api.stripe.com', opaque: true }, { peer: 'users.svc', opaque: false }, { peer: 'cdn.local', opaque: false }]));
    await store.close();
  });
});

describe('periodRows', () => {
  const NOW = Date.parse('2026-12-03T10:06:30Z');
  const t = (iso: string) => Date.parse(`2026-12-${iso}Z`);
  const iso = (r: { lo: number; hi: number }) => [r.lo, r.hi].map((ms) => (Math.abs(ms) >= Number.MAX_SAFE_INTEGER ? ms : new Date(ms).toISOString().slice(8, 16)));

  it('reads whole hours, and minutes at edges inside an hour within 48 h', () => {
    const rows = periodRows({ sinceMs: NOW - 10 * 60_000 }, NOW);
    expect(iso(rows.hours)).toEqual(['03T10:00', Number.MAX_SAFE_INTEGER]);
    expect(rows.minutes.map(iso)).toEqual([['03T09:56', '03T10:00']]);
    const both = periodRows({ sinceMs: t('02T08:15:10'), untilMs: t('03T09:30:00.001') }, NOW);
    expect(iso(both.hours)).toEqual(['02T09:00', '03T09:00']);
    expect(both.minutes.map(iso)).toEqual([['02T08:15', '02T09:00'], ['03T09:00', '03T09:31']]);
    expect(periodRows({ sinceMs: t('03T09:00'), untilMs: t('03T10:00') }, NOW)).toEqual({ hours: { lo: t('03T09:00'), hi: t('03T10:00') }, minutes: [] });
  });

  it('takes an edge older than 48 h as its whole hour, and a short recent period by the minute when asked', () => {
    // The horizon is 01T10:00: 09:59 is read as the hour 09:00, 10:01 from minute rows.
    expect(periodRows({ sinceMs: t('01T09:59'), untilMs: t('01T09:59:30') }, NOW)).toEqual({ hours: { lo: t('01T09:00'), hi: t('01T09:59:30') }, minutes: [] });
    expect(periodRows({ sinceMs: t('01T09:59'), untilMs: t('01T10:01') }, NOW)).toEqual({ hours: { lo: t('01T09:00'), hi: t('01T10:00') }, minutes: [{ lo: t('01T10:00'), hi: t('01T10:01') }] });
    expect(periodRows({ sinceMs: t('03T09:06:30'), byMinute: true }, NOW)).toEqual({ hours: { lo: t('03T09:06'), hi: t('03T09:06') }, minutes: [{ lo: t('03T09:06'), hi: Number.MAX_SAFE_INTEGER }] });
    expect(periodRows({ sinceMs: t('01T09:06:30'), byMinute: true }, NOW).minutes).toEqual([]);
  });
});

/** Each backend opened on a clock the test moves, with counts read straight from the database: its minute rows in all, and any one table's rows. */
const clocked: [string, (options: StoreOptions) => Promise<{ store: Store; minuteRows: () => Promise<number>; rowsOf: (table: string) => Promise<number> }>][] = [
  [
    'SQLite',
    async (options) => {
      const store = SqliteStore.open(tempDb(), options);
      const minuteRows = async (): Promise<number> =>
        [
          'endpoint_minutes',
          'finding_minutes',
          'fingerprint_minutes',
          'connection_minutes',
          // The period summaries' minute rows (SQLite only) are kept and pruned with them.
          ...['summary_endpoints', 'summary_queries', 'summary_findings', 'summary_selects'].map((t) => `${t} WHERE size = 60000`),
        ]
          .map((t) => (store.db.prepare(`SELECT count(*) AS n FROM ${t}`).get() as { n: number }).n)
          .reduce((a, b) => a + b, 0);
      const rowsOf = async (table: string): Promise<number> => (store.db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
      return { store, minuteRows, rowsOf };
    },
  ],
  [
    'PostgreSQL',
    async (options) => {
      const url = await postgresDatabase('minutes');
      const store = await PostgresStore.open(url, options);
      const count = async (sql: string): Promise<number> => {
        const c = new pg.Client({ connectionString: url });
        await c.connect();
        try {
          return Number((await c.query<{ n: string }>(sql)).rows[0]!.n);
        } finally {
          await c.end();
        }
      };
      const minuteRows = (): Promise<number> =>
        count(
          `SELECT (SELECT count(*) FROM endpoint_minutes) + (SELECT count(*) FROM finding_minutes)
             + (SELECT count(*) FROM fingerprint_minutes) + (SELECT count(*) FROM connection_minutes) AS n`,
        );
      const rowsOf = (table: string): Promise<number> => count(`SELECT count(*) AS n FROM ${table}`);
      return { store, minuteRows, rowsOf };
    },
  ],
];

describe.each(clocked)('%s store, verdicts on peers', (_name, open) => {
  it('keeps the newest MAX_PEERS verdicts, the ones any writer reads', async () => {
    let now = 1;
    const { store, rowsOf } = await open({ now: () => now });
    await store.recordPeerVerdicts([{ peer: 'old.tenant', opaque: true }]);
    now = 2;
    await store.recordPeerVerdicts(Array.from({ length: MAX_PEERS - 1 }, (_, i) => ({ peer: `t${i}.hooks.local`, opaque: true })));
    expect(await store.peerVerdicts()).toContainEqual({ peer: 'old.tenant', opaque: true });
    now = 3;
    await store.recordPeerVerdicts([{ peer: 'queue:apply_async/mail.send', opaque: true }]);
    const verdicts = await store.peerVerdicts();
    expect(verdicts).toHaveLength(MAX_PEERS);
    expect(verdicts).not.toContainEqual({ peer: 'old.tenant', opaque: true });
    expect(await rowsOf('peer_verdicts')).toBe(MAX_PEERS); // gone from the table, not only from what is read
    await store.close();
  });
});

describe.each(clocked)('%s store, minute rows', (_name, open) => {
  const MINUTE = 60_000;
  // Six and a half minutes past an hour, so `since=10m` reaches into the hour before.
  const NOW = Date.parse('2026-12-03T10:06:30Z');
  const ago = (ms: number) => NOW - ms;
  const memoryReport = (analyses: Parameters<RollupSet['add']>[0][]) => {
    const memory = new RollupSet();
    for (const a of analyses) memory.add(a);
    return buildReport(memory.values());
  };

  it('a request 6 minutes ago is in since=10m and a 24h digest; one 20 minutes ago is not in since=10m', async () => {
    const { store } = await open({ now: () => NOW });
    const six = dashboard(1, ago(6 * MINUTE));
    const nine = dashboard(2, ago(9 * MINUTE + 30_000), 30); // 09:57:00, in the hour before
    const twenty = dashboard(3, ago(20 * MINUTE), 40);
    await store.record([twenty, nine]);
    await store.record([six]);
    const tenMinutes = await store.report({ sinceMs: ago(10 * MINUTE) });
    expect(tenMinutes.summary.requests).toBe(2);
    // Exactly the rollups of those two requests: the minute rows rebuild them whole, findings and all.
    expect(tenMinutes).toEqual(memoryReport([six, nine]));
    expect((await store.report({ sinceMs: ago(30 * MINUTE) })).summary.requests).toBe(3);
    expect((await store.endpointHours({ sinceMs: ago(10 * MINUTE) })).reduce((n, h) => n + h.requests, 0)).toBe(2);
    const [finding] = [...(await store.findingIds()).values()];
    expect((await store.findingHours(finding!, { sinceMs: ago(10 * MINUTE) })).reduce((n, h) => n + h.requestsAffected, 0)).toBe(2);
    expect((await store.periodSummary({ sinceMs: ago(10 * MINUTE) }, { slowMs: 100, closedBeforeMs: ago(10 * MINUTE) }))[0]?.rollup.requests).toBe(2);
    const digest = await digestFromStore(store, { windowMs: parseDuration('24h'), nowMs: NOW });
    expect(digest.report.summary.requests).toBe(3);
    expect(digest.period).toMatchObject({ untilMs: Date.parse('2026-12-03T10:07:00Z'), window: '24h' });
    await store.close();
  });

  it('splits periods exactly on the hour and the minute', async () => {
    const { store } = await open({ now: () => NOW });
    const at = (iso: string, i: number) => dashboard(i, Date.parse(iso));
    const analyses = [
      at('2026-12-03T08:59:59.999Z', 1),
      at('2026-12-03T09:00:00.000Z', 2),
      at('2026-12-03T09:30:00.000Z', 3),
      at('2026-12-03T09:59:59.999Z', 4),
      at('2026-12-03T10:00:00.000Z', 5),
    ];
    await store.record(analyses);
    const requests = async (since: string, until?: string) =>
      (await store.report({ sinceMs: Date.parse(since), ...(until === undefined ? {} : { untilMs: Date.parse(until) }) })).summary.requests;
    expect(await requests('2026-12-03T09:00Z', '2026-12-03T10:00Z')).toBe(3);
    expect(await requests('2026-12-03T08:59Z', '2026-12-03T09:00Z')).toBe(1);
    expect(await requests('2026-12-03T09:30Z', '2026-12-03T10:00Z')).toBe(2);
    expect(await requests('2026-12-03T09:00Z', '2026-12-03T09:30Z')).toBe(1);
    // Inside one hour: one run of its minutes; the until edge rounds up to the minute.
    expect(await requests('2026-12-03T09:10Z', '2026-12-03T09:30:00.001Z')).toBe(1);
    expect(await requests('2026-12-03T08:30Z', '2026-12-03T10:00:00.500Z')).toBe(5);
    expect(await requests('2026-12-03T08:59:30Z')).toBe(5);
    // Adjacent periods split anywhere count each request once.
    for (const edge of ['2026-12-03T09:00Z', '2026-12-03T09:30Z', '2026-12-03T09:45:10Z']) {
      expect((await requests('2026-12-03T08:00Z', edge)) + (await requests(edge, '2026-12-03T11:00Z'))).toBe(5);
    }
    const connections = await store.connections({ sinceMs: Date.parse('2026-12-03T09:30Z'), untilMs: Date.parse('2026-12-03T10:00Z') });
    expect(connections.reduce((n, c) => n + c.dbRequests, 0)).toBe(2);
    await store.close();
  });

  it('writes no minute rows for requests past the 48 h horizon, and prunes them once they are past it', async () => {
    let now = NOW;
    const { store, minuteRows } = await open({ now: () => now });
    // Three days old: hour rows only, and a period edge in that hour takes the whole hour.
    const old = NOW - 72 * HOUR;
    await store.record([dashboard(1, old + 40 * MINUTE), dashboard(2, old + 50 * MINUTE)]);
    expect(await minuteRows()).toBe(0);
    expect((await store.report({ sinceMs: old + 45 * MINUTE, untilMs: old + 46 * MINUTE })).summary.requests).toBe(2);
    await store.record([dashboard(3, ago(MINUTE))]);
    const written = await minuteRows();
    expect(written).toBeGreaterThan(0);
    // 47 hours on, the rows are still kept; past the horizon, the next write deletes them.
    now = NOW + 47 * HOUR;
    await store.record([dashboard(4, now)]);
    expect(await minuteRows()).toBe(2 * written);
    now = NOW + 50 * HOUR;
    expect(minuteHorizon(now)).toBeGreaterThan(ago(MINUTE));
    await store.record([dashboard(5, now)]);
    expect(await minuteRows()).toBe(2 * written);
    // The hour rows keep everything.
    expect((await store.report()).summary.requests).toBe(5);
    await store.close();
  });
});

/**
 * Each backend's store at `location`, and a way to turn it back into a store written before minute
 * rows existed (schema 8): the tables that came later dropped or emptied, as if never written.
 */
const upgradable = upgradableStores('upgrade');

describe.each(upgradable)('%s store upgraded from before minute rows', (_name, make) => {
  const MINUTE = 60_000;
  const at = (hhmm: string) => Date.parse(`2026-12-03T${hhmm}:00Z`);

  it('reads the hour of the upgrade whole, as before it, and by the minute from the next hour', async () => {
    const { open, predateMinuteRows } = await make();
    let now = at('10:06') + 30_000;
    const before = await open({ now: () => now });
    await before.record([dashboard(1, at('09:20')), dashboard(2, at('09:57')), dashboard(3, at('10:01'))]);
    await before.close();
    await predateMinuteRows();

    // Upgraded at 10:06:30: requests recorded before it have hour rows only.
    const store = await open({ now: () => now });
    expect(new Date(store.minuteReadHorizon()).toISOString()).toBe('2026-12-03T11:00:00.000Z');
    await store.record([dashboard(4, at('10:05'))]);
    const requests = async (sinceMs: number) => (await store.report({ sinceMs })).summary.requests;
    // Minute rows would have held only 10:05 (a gap of 09:57 and 10:01); the hours hold them all.
    expect(await requests(now - 10 * MINUTE)).toBe(4);
    expect(await requests(at('10:03'))).toBe(2);

    // From the next hour on, edges are exact to the minute again.
    now = at('12:06') + 30_000;
    await store.record([dashboard(5, at('11:50')), dashboard(6, at('12:00'))]);
    expect(await requests(now - 10 * MINUTE)).toBe(1);
    expect(await requests(at('11:40'))).toBe(2);
    await store.close();

    // The mark stays: reopening (no migration this time) still reads the upgrade hour whole.
    const reopened = await open({ now: () => now });
    expect(reopened.minuteReadHorizon(at('10:06'))).toBe(at('11:00'));
    await reopened.close();
  });

  it('has no mark when the store is new: minute rows came with it', async () => {
    const { open } = await make();
    const store = await open({ now: () => at('10:06') });
    expect(store.minuteReadHorizon()).toBe(minuteHorizon(at('10:06')));
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

describe.each(upgradableStores('set-aside-upgrade'))('%s store upgraded from before set-aside counts (migration 16)', (_name, make) => {
  it("reads its routes' traffic back as it was, none set aside, then counts what is set aside on them; dead views from it as before", async () => {
    const { open, predateSetAside } = await make();
    const DAY = 24 * HOUR;
    const before = await open({});
    await before.record([dashboard(1, T0 - 40 * DAY), dashboard(2, T0 - 2 * DAY)]);
    const old = await before.routeTraffic();
    await before.close();
    await predateSetAside();

    const store = await open({});
    expect(await store.routeTraffic()).toEqual(old.map((t) => ({ ...t, setAside: 0 })));
    const probe = requestOf('GET dashboard/', [], { traceId: '7'.repeat(32), startMs: T0 - DAY });
    probe.status = 404;
    await store.record([analyseRequest(probe, normalize)]);
    const [t] = await store.routeTraffic();
    expect(t).toMatchObject({ endpoint: 'GET dashboard/', requests: 2, setAside: 1, firstSeenMs: T0 - 40 * DAY, lastSeenMs: T0 - 2 * DAY });
    const routes = [{ route: 'dashboard/', view: 'app.views.dashboard' }, { route: 'old/', view: 'app.views.old' }];
    expect((await store.deadViews(routes, 30 * DAY, T0)).map((v) => [v.route, v.status, v.historyRequests])).toEqual([['old/', 'too_little_traffic', 2]]);
    await store.close();
  });
});

describe.each(upgradableStores('outside'))('%s store, queries outside requests', (_name, make) => {
  it('keeps them per hour and service with their traces\' commit, once, read back after reopening, by period and service, pruned with the hour rows', async () => {
    const { open } = await make();
    const store = await open({});
    const setUp = { traceId: 'a'.repeat(32), startMs: T0 + 10, service: 'recruit', queries: 3 };
    const command = { traceId: 'b'.repeat(32), startMs: T0 + HOUR + 5, service: 'billing', queries: 2 };
    const request = dashboard(1, T0 + 20);
    await store.record([request], { traceIds: [request.traceId, setUp.traceId, command.traceId], nowMs: T0 }, undefined, [setUp, command]);
    // The same write again (its answer was lost, or a replay after a crash): its traces are committed, nothing counts twice.
    await store.record([request], { traceIds: [request.traceId, setUp.traceId], nowMs: T0 }, undefined, [setUp]);
    // Without a spool nothing is committed: counted as it comes.
    await store.record([], undefined, undefined, [{ traceId: 'c'.repeat(32), startMs: T0 + 30, service: 'recruit', queries: 1 }]);
    await store.close();

    const reopened = await open({});
    const outside = async (query: Parameters<Store['report']>[0]) => (await reopened.report(query)).summary.queriesOutsideRequests;
    expect(await outside({})).toBe(6);
    expect((await reopened.report()).endpoints.map((e) => e.requests)).toEqual([1]);
    expect(await outside({ service: 'recruit' })).toBe(4);
    expect(await outside({ service: 'billing' })).toBe(2);
    expect(await outside({ sinceMs: T0 + HOUR })).toBe(2);
    expect(await outside({ untilMs: T0 + HOUR })).toBe(4);
    expect(await outside({ sinceMs: T0 + 2 * HOUR })).toBeUndefined();
    await reopened.pruneBefore(T0 + HOUR + 1);
    expect(await outside({})).toBe(2);
    await reopened.close();
  });
});
