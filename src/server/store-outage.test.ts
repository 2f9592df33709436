/** The intake while its PostgreSQL store refuses connections: nothing acknowledged is lost, nothing is counted twice. */
import pg from 'pg';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { encodeJson, djangoRequest } from '../otlp/testing.js';
import { decodeJsonRequest } from '../otlp/json.js';
import { Spool } from '../spool/index.js';
import { PostgresStore } from '../store/postgres.js';
import { postgresDatabase, tempDir } from '../../test/support.js';
import { Intake } from './intake.js';
import { createMetrics } from './metrics.js';

/** Cuts the database off (new connections refused, open ones ended) or lets it back, as an outage would. */
async function setReachable(url: string, reachable: boolean): Promise<void> {
  const { port, pathname } = new URL(url);
  const db = pathname.slice(1);
  const admin = new pg.Client({ connectionString: `postgresql://postgres@127.0.0.1:${port}/postgres` });
  await admin.connect();
  try {
    if (reachable) await admin.query(`ALTER DATABASE ${db} ALLOW_CONNECTIONS true`);
    else {
      await admin.query(`ALTER DATABASE ${db} ALLOW_CONNECTIONS false`);
      await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1', [db]);
    }
  } finally {
    await admin.end();
  }
}

const request = (traceId: string) => {
  const body = Buffer.from(encodeJson(djangoRequest({ traceId, repeats: 6 })));
  return { batch: decodeJsonRequest(body), raw: { encoding: 'json' as const, body } };
};

describe('Intake on PostgreSQL during an outage', () => {
  it('keeps taking exports, keeps failed writes for later, and leaves what it could not write in the spool', async () => {
    const url = await postgresDatabase('outage');
    const dir = join(tempDir('outage'), 'spool');
    const clock = { now: 1_000_000 };
    const metrics = createMetrics();
    let store = await PostgresStore.open(url);
    let intake = new Intake({ store, metrics, spool: Spool.open({ dir, commitMs: 1 }), traceWaitMs: 100, now: () => clock.now });

    await setReachable(url, false);
    const a = request('a'.repeat(32));
    const accepted = await intake.accept(a.batch, 'http', a.raw);
    expect(accepted.ok).toBe(true);
    if (accepted.ok) await accepted.durable;
    clock.now += 1000;
    expect(await intake.tick()).toBe(false); // the write failed and was kept
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/n1lens_store_write_failures_total [1-9]/);
    expect(text).toMatch(/n1lens_pending_requests 1/);

    await setReachable(url, true);
    expect(await intake.tick()).toBe(true);
    expect((await store.report()).summary.requests).toBe(1);

    // Down again, then this instance stops: its unwritten request stays in the spool for the next start.
    await setReachable(url, false);
    const b = request('b'.repeat(32));
    const second = await intake.accept(b.batch, 'http', b.raw);
    if (second.ok) await second.durable;
    clock.now += 1000;
    await intake.close();
    await store.close();

    await setReachable(url, true);
    store = await PostgresStore.open(url);
    intake = new Intake({ store, metrics: createMetrics(), spool: Spool.open({ dir, commitMs: 1 }), traceWaitMs: 100, now: () => clock.now });
    const replayed = await intake.replay();
    expect(replayed.spans).toBe(b.batch.spans.length); // a was committed: only b comes back
    await intake.close();
    expect((await store.report()).summary.requests).toBe(2);
    await store.close();
  }, 60_000);
});

describe('Intake on PostgreSQL, queries outside requests during an outage', () => {
  it('keeps them with the failed write and stores them once the database is back, once', async () => {
    const url = await postgresDatabase('outage-outside');
    const clock = { now: 1_000_000 };
    const store = await PostgresStore.open(url);
    const intake = new Intake({ store, metrics: createMetrics(), spool: Spool.open({ dir: join(tempDir('outage-outside'), 'spool'), commitMs: 1 }), traceWaitMs: 100, now: () => clock.now });
    // A test database's set-up: the request's queries with no span above them (3: the list and two lookups).
    const setUp = djangoRequest({ traceId: 'c'.repeat(32), repeats: 2 });
    const scopes = setUp.resourceSpans[0]!.scopeSpans;
    scopes.splice(0, 1);
    for (const span of scopes[0]!.spans) delete span.parentSpanId;
    const body = Buffer.from(encodeJson(setUp));

    await setReachable(url, false);
    const accepted = await intake.accept(decodeJsonRequest(body), 'http', { encoding: 'json', body });
    expect(accepted.ok).toBe(true);
    if (accepted.ok) await accepted.durable;
    clock.now += 1000;
    expect(await intake.tick()).toBe(false);
    await setReachable(url, true);
    expect(await intake.tick()).toBe(true);
    await intake.close();
    expect((await store.report()).summary.queriesOutsideRequests).toBe(3);
    await store.close();
  });
});
