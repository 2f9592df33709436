import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { detectEndpoint, type HotLookupFinding, type SlowQueryFinding, type SyncFanoutFinding } from '../detect/endpoint.js';
import { analyseRequest } from '../detect/request.js';
import { RollupSet } from '../detect/rollup.js';
import { SESSION, requestOf, type RequestShape, type Step } from '../detect/testing.js';
import { createSqlNormalizer } from '../sql/index.js';
import { conventionNaming } from './naming.js';
import { suggestCache, suggestConnectionFix, suggestIndex, suggestTaskQueue, wholeWithCommas } from './operational.js';
import { addConnectionUse, connectionFigures, emptyConnectionRollup } from '../detect/connections.js';

const normalize = createSqlNormalizer();
const naming = conventionNaming(['recruit_application', 'recruit_candidate', 'recruit_status']);

function findings(requests: { steps: Step[]; shape?: RequestShape }[]) {
  const set = new RollupSet();
  requests.forEach((r, i) => set.add(analyseRequest(requestOf('GET x/', r.steps, { traceId: String(i).padStart(32, '0'), ...r.shape }), normalize)));
  return detectEndpoint(set.values()[0]!);
}

describe('operational fixes', () => {
  it('gives the slow pipeline query a concurrent composite index migration: equality, then range/order with direction', () => {
    const sql =
      'SELECT "recruit_application"."id" FROM "recruit_application" WHERE ("recruit_application"."status_id" = %s AND "recruit_application"."user_id" = %s AND "recruit_application"."created" >= %s) ORDER BY "recruit_application"."created" DESC';
    const slow = findings([{ steps: [{ sql, ms: 200 }] }]).find((f): f is SlowQueryFinding => f.kind === 'slow_query')!;
    // Django sorts filter() kwargs, so status_id can come first in SQL; usage puts user_id first.
    expect(suggestIndex(slow).path).toBe('recruit_application (status_id, user_id, created DESC)');
    const s = suggestIndex(slow, new Map([['recruit_application.user_id', 50], ['recruit_application.status_id', 3]]));
    expect(s.method).toBe('index');
    expect(s.path).toBe('recruit_application (user_id, status_id, created DESC)');
    expect(s.code).toContain('atomic = False');
    expect(s.code.replace(/'\n\s*'/g, '')).toContain(
      'CREATE INDEX CONCURRENTLY IF NOT EXISTS "idx_application_user_status_created" ON "recruit_application" ("user_id", "status_id", "created" DESC);',
    );
    expect(s.code.replace(/'\n\s*'/g, '')).toContain('reverse_sql=\'DROP INDEX CONCURRENTLY IF EXISTS "idx_application_user_status_created";\'');
  });

  it('caches the webhook lookup by its unique key, with a TTL, invalidation and the observed rate', () => {
    const sql = (i: number) => `SELECT "recruit_candidate"."id" FROM "recruit_candidate" WHERE "recruit_candidate"."external_id" = 'e${i}' LIMIT 21`;
    const hot = findings(Array.from({ length: 12 }, (_, i) => ({ steps: [sql(i)], shape: { startMs: i * 5000 } }))).find(
      (f): f is HotLookupFinding => f.kind === 'hot_lookup',
    )!;
    const s = suggestCache(hot, naming);
    expect(s.method).toBe('cache');
    expect(s.code).toContain('Candidate.objects.get(external_id=external_id)');
    expect(s.code).toContain('cache.set(key, obj, timeout=300)');
    expect(s.code).toMatch(/post_save \/ post_delete of Candidate: cache.delete\(key\)/);
    // 12 calls in 55 s: no daily rate is projected from that.
    expect(s.note).toMatch(/runs in 100% of requests: 12 calls in 55 s observed, too short a window for a daily rate/);
    expect(s.note).not.toMatch(/calls\/day/);
  });

  it('gives the daily rate over the observed window with ten minutes or more of traffic', () => {
    const sql = (i: number) => `SELECT "recruit_candidate"."id" FROM "recruit_candidate" WHERE "recruit_candidate"."external_id" = 'e${i}' LIMIT 21`;
    const hot = findings(Array.from({ length: 12 }, (_, i) => ({ steps: [sql(i)], shape: { startMs: i * 60_000 } }))).find(
      (f): f is HotLookupFinding => f.kind === 'hot_lookup',
    )!;
    // 12 calls over 11 minutes.
    expect(suggestCache(hot, naming).note).toMatch(/~1,571 calls\/day over the 11 min observed/);
  });

  it('moves serial outbound calls to a task queue with idempotency keys and says what latency goes', () => {
    const fan = findings([{ steps: [SESSION], shape: { outbound: [[50, false], [50, false], [50, false]] } }]).find(
      (f): f is SyncFanoutFinding => f.kind === 'sync_fanout',
    )!;
    const s = suggestTaskQueue(fan);
    expect(s.method).toBe('task_queue');
    expect(s.code).toContain('transaction.on_commit');
    expect(s.code).toContain('Idempotency-Key');
    expect(s.note).toMatch(/^3 serial outbound calls \(hr\.example\) take 150 ms .* the request loses ~150 ms/);
  });
});

describe('the connection fixes', () => {
  // The recorded shape of CONN_MAX_AGE=0: a set-up statement opening a connection in every request.
  const churn = (maxConnections: number) => {
    const r = emptyConnectionRollup('recruit');
    for (let i = 0; i < 40; i++) addConnectionUse(r, `w${i % 4}`, { opened: 1, observable: true, postgresql: true, heldFromMs: i * 200, heldUntilMs: i * 200 + 150, dbMs: 20 });
    return connectionFigures(r, { dbMaxConnections: maxConnections })!;
  };
  const live = (code: string): string[] => code.split('\n').filter((l) => l.trim() !== '' && !/^\s*[#;]/.test(l));

  it("keeps connections under WSGI, and under ASGI, where Django's docs say persistent connections stay off, pools them (Django 5.1+) instead", () => {
    const s = suggestConnectionFix(churn(100));
    expect(live(s.code)).toEqual(['DATABASES["default"]["CONN_MAX_AGE"] = 60', 'DATABASES["default"]["CONN_HEALTH_CHECKS"] = True']);
    // The pool is the ASGI alternative, never beside CONN_MAX_AGE: Django refuses the two together.
    expect(s.code).toContain('# served by ASGI');
    expect(s.code).toContain('# DATABASES["default"].setdefault("OPTIONS", {})["pool"] = True');
    expect(s.note).toMatch(/Under ASGI.*CONN_MAX_AGE = 0/);
  });

  it('a crowded fleet on a database other than PostgreSQL gets no PgBouncer and no PostgreSQL default', () => {
    // MySQL with isolation_level None: no set-up statement n1lens reads, so no request is observable.
    const r = emptyConnectionRollup('shop');
    for (let p = 0; p < 3; p++) for (let t = 0; t < 20; t++) addConnectionUse(r, `host${p}`, { opened: 0, observable: false, postgresql: false, heldFromMs: t * 10, heldUntilMs: 5_000, dbMs: 100 });
    const figures = connectionFigures(r)!;
    expect(figures.reasons).toEqual(['near_max_connections']);
    const s = suggestConnectionFix(figures);
    expect(s.path).not.toMatch(/PgBouncer/);
    expect(s.code).not.toMatch(/pgbouncer|DISABLE_SERVER_SIDE_CURSORS|prepare_threshold/i);
    expect(s.note).not.toMatch(/PostgreSQL/);
    expect(s.note).toMatch(/60 connections held at peak across 3 processes/);
  });

  it("PgBouncer: prepared statements only with psycopg 3's server-side binding, which Django leaves off", () => {
    const s = suggestConnectionFix(churn(4));
    expect(s.path).toBe('PgBouncer (transaction mode)');
    // Django's psycopg 3 cursors bind client-side and prepare nothing: the setting is for those who
    // turned server-side binding on, not a line every app needs.
    expect(live(s.code).some((l) => l.includes('prepare_threshold'))).toBe(false);
    expect(s.code).toContain('"server_side_binding": True');
    expect(s.note).not.toMatch(/psycopg 3 prepares after 5 executions/);
    expect(s.note).toMatch(/none with Django's defaults/);
    expect(live(s.code)).toContain('    "DISABLE_SERVER_SIDE_CURSORS": True,');
  });
});

describe('wholeWithCommas', () => {
  it('prints what Math.round(n).toLocaleString("en-US") prints, for any number', () => {
    const same = (n: number): void => {
      expect(wholeWithCommas(n)).toBe(Math.round(n).toLocaleString('en-US'));
    };
    for (const n of [0, -0, -0.4, 0.5, 99.5, 999, 1000, 1234.5, -1234, 1e6, -999_999.5, 2 ** 53 - 1, 2 ** 53, 1e21, -1e300, Infinity, -Infinity, NaN]) same(n);
    fc.assert(fc.property(fc.double(), same), { numRuns: 2000 });
    fc.assert(fc.property(fc.integer({ min: -1e12, max: 1e12 }), same), { numRuns: 2000 });
  });
});
