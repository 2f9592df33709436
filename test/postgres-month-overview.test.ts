/**
 * The shared PostgreSQL store's overview over a month of a few hundred endpoints: 144k hour rows,
 * more than a JS call takes arguments (firstHour once spread every hour row into Math.min and the
 * overview answered 500 "Maximum call stack size exceeded").
 */
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { PostgresStore } from '../src/store/postgres.js';
import { uiRoutes } from '../src/ui/routes.js';
import { analyseSample } from '../src/ui/testing.js';
import { postgresDatabase } from './support.js';

const HOUR = 3_600_000;
const NOW = Date.UTC(2026, 10, 30, 12);
const FIRST = NOW - 30 * 24 * HOUR;
let store: PostgresStore;
let url: string;

beforeAll(async () => {
  url = await postgresDatabase('month_overview');
  store = await PostgresStore.open(url, { now: () => NOW });
  const { analyses } = await analyseSample();
  await store.record(analyses.slice(0, 1).map((a) => ({ ...a, startMs: NOW - 2 * HOUR })));
  // 200 endpoints × 30 days of hour rows (what 200 busy endpoints write in a month), the rollup JSON copied from the real row.
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query(`INSERT INTO endpoints (service, endpoint, first_seen_ms, last_seen_ms) SELECT 'svc', 'GET e' || i || '/', 0, 0 FROM generate_series(1, 200) i`);
    await c.query(
      `INSERT INTO endpoint_hours (endpoint_id, hour, requests, db_spans, repeats, wasted_ms, rollup)
       SELECT e.id, $1::bigint - h::bigint * ${HOUR}, 1, 1, 0, 0, (SELECT rollup FROM endpoint_hours LIMIT 1)
       FROM endpoints e, generate_series(3, 30 * 24) h WHERE e.service = 'svc'`,
      [NOW],
    );
  } finally {
    await c.end();
  }
}, 300_000);
afterAll(async () => store?.close());

it('gives the first hour of a month of 144k hour rows', async () => {
  await expect(store.firstHour({ sinceMs: FIRST })).resolves.toBe(FIRST);
  await expect(store.firstHour({ sinceMs: FIRST + HOUR, untilMs: NOW })).resolves.toBe(FIRST + HOUR);
  await expect(store.firstHour({ sinceMs: NOW })).resolves.toBeUndefined();
});

it('serves the overview for range=30d', async () => {
  const app = uiRoutes({ store, now: () => NOW });
  const res = await app.request('/api/endpoints?range=30d');
  expect(res.status).toBe(200);
  const body = (await res.json()) as { axis: { startMs: number; count: number }; endpoints: unknown[] };
  expect(body.endpoints).toHaveLength(201);
  expect(body.axis.count).toBeLessThanOrEqual(48);
}, 120_000);
