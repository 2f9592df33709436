import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { OfflineAnalysis } from '../analyzer.js';
import { createSqlNormalizer } from '../sql/index.js';
import { analyseRequest } from './request.js';
import { AUTH_USER, loop, requestOf } from './testing.js';
import { readTraceFile } from '../otlp/file.js';
import {
  addConnectionUse,
  connectionFigures,
  detectConnectionPressure,
  emptyConnectionRollup,
  isConnectionSetup,
  mergeConnectionRollups,
  type ConnectionUse,
} from './connections.js';

const fixture = (name: string): string => fileURLToPath(new URL(`./testdata/connections/${name}.jsonl`, import.meta.url));

async function rollupOf(name: string) {
  const offline = new OfflineAnalysis();
  for await (const batch of readTraceFile(fixture(name))) offline.add(batch.spans);
  const set = offline.finish();
  const rollup = set.connections.get('recruit');
  if (rollup === undefined) throw new Error(`${name}: no connection rollup`);
  return rollup;
}

describe('connection set-up statements', () => {
  it("recognises Django's time zone and role set-up, with or without a leading comment", () => {
    expect(isConnectionSetup("SELECT set_config('TimeZone', %s, false)")).toBe(true);
    expect(isConnectionSetup("/*controller='x'*/ SELECT set_config('TimeZone', 'UTC', false)")).toBe(true);
    expect(isConnectionSetup("SET TIME ZONE 'UTC'")).toBe(true);
    expect(isConnectionSetup('SET ROLE "reporting"')).toBe(true);
    expect(isConnectionSetup('SELECT "recruit_job"."id" FROM "recruit_job" WHERE "recruit_job"."id" = %s')).toBe(false);
    expect(isConnectionSetup("SELECT set_config('app.tenant', %s, true)")).toBe(false);
    expect(isConnectionSetup('SAVEPOINT "s1"')).toBe(false);
  });
});

describe('per-cursor session statements', () => {
  it('does not count django-tenants\' search_path, set before every cursor, as connections opened', () => {
    // django-tenants (TENANT_LIMIT_SET_CALLS off, its default) runs SET search_path on each cursor of
    // a persistent connection (CONN_MAX_AGE=600): no connection is opened in this request.
    const steps = loop(5, () => "SET search_path = 'tenant_1','public'", (r) => AUTH_USER.replace('%s', String(r)));
    const a = analyseRequest(requestOf('GET x/', steps), createSqlNormalizer());
    expect(a.connection?.opened).toBe(0);
    expect(isConnectionSetup("SELECT set_config('search_path', 'tenant_1', false)")).toBe(false);
  });
});

describe("MySQL's connection set-up", () => {
  // Django's MySQL backend, init_connection_state(): one statement through the connection's cursor,
  // "SET SQL_AUTO_IS_NULL = 0" first where the server has it on.
  const ISOLATION = 'SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED';
  const BOOK = 'SELECT `shop_book`.`id`, `shop_book`.`title` FROM `shop_book` WHERE `shop_book`.`id` = %s LIMIT 21';

  it('is recognised, in every form Django sends it', () => {
    expect(isConnectionSetup(ISOLATION)).toBe(true);
    expect(isConnectionSetup(`SET SQL_AUTO_IS_NULL = 0; ${ISOLATION}`)).toBe(true);
    expect(isConnectionSetup('SET SQL_AUTO_IS_NULL = 0')).toBe(true);
  });

  it('shows CONN_MAX_AGE=0 churn on MySQL, with advice for MySQL rather than PostgreSQL', async () => {
    const { suggestConnectionFix } = await import('../suggest/operational.js');
    for (const system of ['mysql', 'mariadb']) {
      const rollup = emptyConnectionRollup('shop');
      for (let i = 0; i < 40; i++) {
        const r = requestOf('GET books/', [ISOLATION, BOOK], { traceId: i.toString(16).padStart(32, '0'), startMs: i * 250, system });
        const a = analyseRequest(r, createSqlNormalizer());
        expect(a.connection).toMatchObject({ opened: 1, observable: true });
        addConnectionUse(rollup, '', a.connection!);
      }
      const p = detectConnectionPressure(rollup)!;
      expect(p).toMatchObject({ newConnectionShare: 1, reasons: ['connection_per_request'], postgresql: false });
      const fix = suggestConnectionFix(p);
      expect(fix.path).toBe('CONN_MAX_AGE');
      expect(`${fix.code}\n${fix.note}`).not.toMatch(/PgBouncer|psycopg|"pool"/);
    }
  });
});

describe("an app's own isolation level for one transaction", () => {
  const opened = (steps: string[], system?: string) => analyseRequest(requestOf('POST transfer/', steps, system === undefined ? {} : { system }), createSqlNormalizer()).connection?.opened;
  const ACCOUNT = 'SELECT "bank_account"."id", "bank_account"."balance" FROM "bank_account" WHERE "bank_account"."id" = %s FOR UPDATE';

  it('opens no connection: SET TRANSACTION (no SESSION) configures the transaction it starts, on the connection held', () => {
    // with transaction.atomic(): cursor.execute('SET TRANSACTION ISOLATION LEVEL SERIALIZABLE'); …
    expect(opened([AUTH_USER, 'SET TRANSACTION ISOLATION LEVEL SERIALIZABLE', ACCOUNT, ACCOUNT])).toBe(0);
    expect(opened([AUTH_USER, 'SET TRANSACTION ISOLATION LEVEL REPEATABLE READ', ACCOUNT, 'SET TRANSACTION ISOLATION LEVEL REPEATABLE READ', ACCOUNT])).toBe(0);
    const BOOK = 'SELECT `shop_book`.`id` FROM `shop_book` WHERE `shop_book`.`id` = %s LIMIT 21';
    expect(opened([BOOK, 'SET TRANSACTION ISOLATION LEVEL SERIALIZABLE', BOOK], 'mysql')).toBe(0);
    // Django's MySQL set-up says SESSION: a connection opened, wherever it shows.
    expect(opened([BOOK, 'SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED', BOOK], 'mysql')).toBe(1);
  });
});

describe("the app's own SET ROLE", () => {
  const opened = (steps: string[]) => analyseRequest(requestOf('GET reports/', steps), createSqlNormalizer()).connection?.opened;
  const REPORT = 'SELECT "recruit_job"."id" FROM "recruit_job" WHERE "recruit_job"."company_id" = %s';

  it('issued mid-request on a connection already in use opens none', () => {
    // with connection.cursor() as c: c.execute('SET ROLE reporting'); … ; c.execute('RESET ROLE')
    expect(opened([AUTH_USER, 'SET ROLE "reporting"', REPORT, 'RESET ROLE'])).toBe(0);
    expect(opened([AUTH_USER, "SELECT set_config('role', 'reporting', false)", REPORT])).toBe(0);
    // Twice in one request: still none.
    expect(opened([AUTH_USER, 'SET ROLE "reporting"', REPORT, 'RESET ROLE', 'SET ROLE "reporting"', REPORT])).toBe(0);
  });

  it("Django's assume_role at a connection's start opens one: first on the connection, or right after the time zone", () => {
    expect(opened(["SELECT set_config('TimeZone', %s, false)", "SET ROLE 'reporting'", AUTH_USER])).toBe(1);
    // The server's time zone already matches: the role is the connection's only set-up.
    expect(opened(["SET ROLE 'reporting'", AUTH_USER, REPORT])).toBe(1);
    // A second connection (another alias) mid-request shows its time zone, then its role.
    expect(opened(["SELECT set_config('TimeZone', %s, false)", AUTH_USER, "SELECT set_config('TimeZone', %s, false)", "SET ROLE 'reporting'", REPORT])).toBe(2);
  });
});

describe('cache calls are no database connection', () => {
  // Django's cache on Redis (django-redis, or the built-in RedisCache) traced by
  // opentelemetry-instrumentation-redis: db.system "redis", db.statement the command ("GET ?").
  const cached = (steps: string[], redisFirst: number, traceId: string, startMs: number) => {
    const r = requestOf('GET webhooks/ats/', steps, { traceId, startMs });
    for (const s of r.dbSpans.slice(0, redisFirst)) s.system = 'redis';
    return Object.assign(analyseRequest(r, createSqlNormalizer()), { spans: r.dbSpans });
  };

  it('a request served from the cache alone holds no database connection', () => {
    const a = cached(['GET ?', 'EXPIRE ? ?'], 2, 'a'.repeat(32), 0);
    expect(a.connection).toBeNull();
  });

  it('a request that reads the cache before its first query shows the connection that query opened', () => {
    const a = cached(['GET ?', "SELECT set_config('TimeZone', %s, false)", AUTH_USER], 1, 'b'.repeat(32), 0);
    expect(a.connection).toMatchObject({ opened: 1, observable: true });
    // Held from the first query, not from the cache read before it.
    expect(a.connection?.heldFromMs).toBe(a.spans[1]!.startMs);
  });

  it("CONN_MAX_AGE=0 churn shows when every request reads its session from the cache first", () => {
    const rollup = emptyConnectionRollup('recruit');
    for (let i = 0; i < 40; i++) {
      const a = cached(['GET ?', "SELECT set_config('TimeZone', %s, false)", AUTH_USER], 1, i.toString(16).padStart(32, '0'), i * 250);
      addConnectionUse(rollup, '', a.connection!);
    }
    expect(detectConnectionPressure(rollup)).toMatchObject({ newConnectionShare: 1, reasons: ['connection_per_request'] });
  });
});

describe('SQLite has no server connections', () => {
  it('gives no connection_pressure, and no advice, however many requests overlap', async () => {
    const { buildServiceFindings } = await import('../report/model.js');
    const findingsOn = (system: string) => {
      const rollup = emptyConnectionRollup('recruit');
      // 60 requests within 0.6 s, each in a 3 s query: 60 at once, 60% of an assumed max_connections 100.
      for (let i = 0; i < 60; i++) {
        const r = requestOf('GET export/', [{ sql: AUTH_USER, ms: 3000 }], { traceId: i.toString(16).padStart(32, '0'), startMs: i * 10, system });
        const a = analyseRequest(r, createSqlNormalizer());
        if (a.connection !== null) addConnectionUse(rollup, '', a.connection);
      }
      return buildServiceFindings({ connections: [rollup] }).filter((f) => f.kind === 'connection_pressure');
    };
    expect(findingsOn('postgresql').map((f) => f.connectionPressure?.reasons)).toEqual([['near_max_connections']]);
    expect(findingsOn('sqlite')).toEqual([]);
  });
});

describe('a request on two databases', () => {
  it('opens a connection on each, and the figures say per request rather than more than all requests', async () => {
    // A router reading from a replica alias and writing to default: CONN_MAX_AGE=0 opens both, each
    // with its own set-up statement before its first query.
    const steps = ["SELECT set_config('TimeZone', %s, false)", AUTH_USER, "SELECT set_config('TimeZone', %s, false)", 'UPDATE "auth_user" SET "last_login" = %s WHERE "auth_user"."id" = %s'];
    const rollup = emptyConnectionRollup('recruit');
    for (let i = 0; i < 40; i++) {
      const a = analyseRequest(requestOf('GET dashboard/', steps, { traceId: i.toString(16).padStart(32, '0'), startMs: i * 250 }), createSqlNormalizer());
      expect(a.connection?.opened).toBe(2);
      addConnectionUse(rollup, '', a.connection!);
    }
    const p = detectConnectionPressure(rollup)!;
    expect(p.reasons).toEqual(['connection_per_request']);
    const { serviceFindingFigures } = await import('../report/text.js');
    const { suggestConnectionFix } = await import('../suggest/operational.js');
    const figures = serviceFindingFigures({ kind: 'connection_pressure', service: 'recruit', subject: 'recruit', suggestion: suggestConnectionFix(p), connectionPressure: p });
    const note = suggestConnectionFix(p).note ?? '';
    for (const text of [figures, note]) expect(text).not.toMatch(/200%/);
    expect(figures).toContain('2.0 per request');
    expect(note).toMatch(/^Every request opens 2\.0 new connections on average/);
  });
});

describe('connection use on real recordings (testdata/connections, see its README)', () => {
  for (const driver of ['psycopg', 'psycopg2']) {
    it(`${driver}, CONN_MAX_AGE=0: every request opens a connection`, async () => {
      const r = await rollupOf(`pg-${driver}-age0`);
      expect(r).toMatchObject({ dbRequests: 5, observableRequests: 5, opened: 5 });
      expect(r.seconds.size).toBe(1); // one runserver process
      const f = connectionFigures(r)!;
      expect(f.newConnectionShare).toBe(1);
      expect(f.processes).toBe(1);
      // The driver sends one request at a time: one connection held at once.
      expect(f.peakConnections).toBe(1);
    });

    it(`${driver}, CONN_MAX_AGE=600: only a thread's first request opens one`, async () => {
      const r = await rollupOf(`pg-${driver}-age600`);
      expect(r).toMatchObject({ dbRequests: 5, observableRequests: 5, opened: 2 });
      expect(connectionFigures(r)!.newConnectionShare).toBeCloseTo(0.4);
    });
  }

  it('SQLite holds no server connection: no connection rollup at all', async () => {
    for (const age of [0, 600]) {
      const offline = new OfflineAnalysis();
      for await (const batch of readTraceFile(fixture(`sqlite-age${age}`))) offline.add(batch.spans);
      expect(offline.finish().connections.size).toBe(0);
    }
  });
});

const use = (fromMs: number, untilMs: number, opened = 1, dbMs = 1): ConnectionUse => ({ opened, observable: true, postgresql: true, heldFromMs: fromMs, heldUntilMs: untilMs, dbMs });

describe('connection rollups', () => {
  it('counts overlapping requests per process and sums the processes at the peak', () => {
    const r = emptyConnectionRollup('web');
    // Process a: three requests overlapping second 10's start; process b: two.
    for (const [from, until] of [[9_500, 10_400], [9_800, 10_900], [9_990, 10_050]] as const) addConnectionUse(r, 'a', use(from, until));
    for (const [from, until] of [[9_700, 10_300], [9_900, 11_200]] as const) addConnectionUse(r, 'b', use(from, until));
    addConnectionUse(r, 'b', use(20_000, 20_100));
    const f = connectionFigures(r)!;
    expect(f.peakConnections).toBe(5);
    expect(f.peakAtMs).toBe(10_000);
    expect(f.processes).toBe(2);
    expect(f.perProcessPeakSum).toBe(5);
    expect(f.opened).toBe(6);
  });

  it('a busy second with no request over its start still counts from its connection-ms', () => {
    const r = emptyConnectionRollup('web');
    // Three requests of 700 ms inside second 5, none spanning 5000 exactly: at least 3 at once.
    for (let i = 0; i < 3; i++) addConnectionUse(r, 'a', use(5_100 + i, 5_800 + i));
    expect(connectionFigures(r)!.peakConnections).toBe(3);
  });

  it('merging halves gives what adding everything to one rollup gives (scale-out: any split of traces)', () => {
    const uses = Array.from({ length: 200 }, (_, i) => [`p${i % 3}`, use(1_000 + i * 37, 1_000 + i * 37 + ((i * 7919) % 1500))] as const);
    const whole = emptyConnectionRollup('web');
    const left = emptyConnectionRollup('web');
    const right = emptyConnectionRollup('web');
    uses.forEach(([p, u], i) => {
      addConnectionUse(whole, p, u);
      addConnectionUse(i % 2 === 0 ? left : right, p, u);
    });
    mergeConnectionRollups(left, right);
    expect(connectionFigures(left)).toEqual(connectionFigures(whole));
  });

  it('is a finding on churn (a connection per request, fast enough) or near max_connections, not otherwise', () => {
    const churn = emptyConnectionRollup('web');
    for (let i = 0; i < 40; i++) addConnectionUse(churn, 'a', use(i * 250, i * 250 + 100));
    expect(detectConnectionPressure(churn)?.reasons).toEqual(['connection_per_request']);

    const persistent = emptyConnectionRollup('web');
    for (let i = 0; i < 40; i++) addConnectionUse(persistent, 'a', use(i * 250, i * 250 + 100, i < 2 ? 1 : 0));
    expect(detectConnectionPressure(persistent)).toBeNull();

    const crowded = emptyConnectionRollup('web');
    for (let p = 0; p < 14; p++) for (let t = 0; t < 20; t++) addConnectionUse(crowded, `host${p}`, use(t * 10, 5_000, 0));
    // The seed's fleet: 14 hosts, 280 connections at peak against max_connections 400.
    const seed = detectConnectionPressure(crowded, { dbMaxConnections: 400 });
    expect(seed).toMatchObject({ peakConnections: 280, processes: 14, shareOfMax: 0.7, reasons: ['near_max_connections'] });
    expect(detectConnectionPressure(crowded, { dbMaxConnections: 1000 })).toBeNull();
  });

  it('gives the connections opened per second over the time the traffic spans, not over the seconds that had a request', () => {
    // A quiet app: one request every 30 s for 20 minutes, each opening its connection (CONN_MAX_AGE=0).
    const quiet = emptyConnectionRollup('web');
    for (let i = 0; i < 40; i++) addConnectionUse(quiet, 'a', use(i * 30_000, i * 30_000 + 120));
    const f = connectionFigures(quiet)!;
    expect(f.newConnectionShare).toBe(1);
    expect(f.openedPerSecond).toBeCloseTo(40 / 1171, 3);
    // Under one connection a second: no churn worth a setting.
    expect(detectConnectionPressure(quiet)).toBeNull();
  });
});

describe('connection churn over a report of several days', () => {
  // CONN_MAX_AGE=0: every request opens a connection; 2 requests a second from 09:00 to 10:00, nothing at night.
  const T0 = Date.parse('2026-11-02T09:00:00Z');
  const morning = (day: number): number[] => Array.from({ length: 2 * 3600 }, (_, i) => T0 + day * 86_400_000 + i * 500);

  it('finds the same churn over two mornings a day apart as over one: opened per second over the minutes with traffic, not over the night between', () => {
    for (const days of [[0], [0, 1]]) {
      const rollup = emptyConnectionRollup('web');
      for (const day of days) for (const t of morning(day)) addConnectionUse(rollup, 'a', use(t, t + 120, 1, 5));
      const p = detectConnectionPressure(rollup);
      expect(p?.reasons).toEqual(['connection_per_request']);
      expect(p?.openedPerSecond).toBeCloseTo(2, 1);
    }
  });
});

describe('the process of a span, from every input format', () => {
  it('Jaeger: the resource attributes the Collector turns into process tags', async () => {
    const { decodeJaegerTraces } = await import('../otlp/jaeger.js');
    const trace = {
      traceID: 'a'.repeat(32),
      spans: [{ traceID: 'a'.repeat(32), spanID: 'b'.repeat(16), operationName: 'GET dashboard/', startTime: 1_700_000_000_000_000, duration: 1000, processID: 'p1', tags: [] }],
      processes: { p1: { serviceName: 'recruit', tags: [{ key: 'host.name', type: 'string', value: 'web-3' }, { key: 'process.pid', type: 'int64', value: 4242 }] } },
    };
    expect(decodeJaegerTraces([trace]).spans[0]).toMatchObject({ service: 'recruit', instance: 'web-3/4242' });
  });
});
