/**
 * The SQLite store's writer thread (src/store/writer.ts), the built thread against real store files:
 * it writes what the inline store writes, counts a trace once however often it is sent, reports a
 * failed transaction without stopping, and the intake frees spool segments only after its commit.
 */
import BetterSqlite3 from 'better-sqlite3';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { OfflineAnalysis } from '../src/analyzer.js';
import type { RequestAnalysis } from '../src/detect/types.js';
import { createUnitDecoders, readTraceUnits } from '../src/otlp/file.js';
import { decodeJsonRequest } from '../src/otlp/json.js';
import { djangoRequest, encodeJson } from '../src/otlp/testing.js';
import { Intake } from '../src/server/intake.js';
import { createMetrics } from '../src/server/metrics.js';
import { Spool } from '../src/spool/index.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { StoreWriteError } from '../src/store/writer.js';
import { tempDir } from './support.js';

/** The built thread: the sources under test run in vitest, the thread's module must be JavaScript. */
const writerThread = { script: new URL('../dist/store/writer-thread.js', import.meta.url) };

async function recordedRequests(): Promise<RequestAnalysis[]> {
  const out: RequestAnalysis[] = [];
  const offline = new OfflineAnalysis({}, (analyses) => out.push(...analyses));
  const decoders = createUnitDecoders();
  for await (const unit of readTraceUnits(new URL('../samples/traces/recruit.jsonl.gz', import.meta.url).pathname)) offline.addUnit(unit, decoders);
  offline.finish();
  return out;
}

/** Everything a reader sees of a store: the report, endpoints, every finding with its example, the overview's sums. */
async function contents(store: SqliteStore): Promise<unknown> {
  const endpoints = await store.endpoints();
  const ids = [...(await store.findingIds()).values()].sort((a, b) => a - b);
  return {
    report: await store.report(),
    endpoints,
    findings: await Promise.all(ids.map((id) => store.finding(id))),
    summary: await store.periodSummary({}, { slowMs: 100, closedBeforeMs: 0 }),
    traffic: await store.routeTraffic(),
  };
}

/** Makes every transaction that notes a committed trace fail, as a full disk or a broken file would. */
function breakWrites(path: string, broken: boolean): void {
  const db = new BetterSqlite3(path);
  if (broken) db.exec("CREATE TRIGGER IF NOT EXISTS fail_writes BEFORE INSERT ON spool_commits BEGIN SELECT RAISE(ABORT, 'disk I/O error (test)'); END");
  else db.exec('DROP TRIGGER IF EXISTS fail_writes');
  db.close();
}

describe('the SQLite store with a writer thread', () => {
  it('stores what the inline store stores, written in several batches', async () => {
    const analyses = await recordedRequests();
    expect(analyses.length).toBeGreaterThan(20);
    // A clock just after the recording, so minute rows are written too.
    const now = () => Math.max(...analyses.map((a) => a.startMs)) + 60_000;
    const dir = tempDir('writer-same');
    const inline = SqliteStore.open(join(dir, 'inline.db'), { now });
    const threaded = SqliteStore.open(join(dir, 'threaded.db'), { now, writerThread });
    const third = Math.ceil(analyses.length / 3);
    for (let i = 0; i < analyses.length; i += third) {
      const part = analyses.slice(i, i + third);
      const committed = { traceIds: part.map((a) => a.traceId), nowMs: now() };
      await inline.record(part, committed);
      await threaded.record(part, committed);
    }
    expect(await threaded.findingCount()).toBeGreaterThan(0);
    expect(await contents(threaded)).toEqual(await contents(inline));
    await inline.close();
    await threaded.close();
  });

  it('counts a trace once when a batch repeats traces another write committed', async () => {
    const analyses = await recordedRequests();
    const now = () => Math.max(...analyses.map((a) => a.startMs)) + 60_000;
    const dir = tempDir('writer-once');
    const threaded = SqliteStore.open(join(dir, 'threaded.db'), { now, writerThread });
    const reference = SqliteStore.open(join(dir, 'reference.db'), { now });
    const half = Math.floor(analyses.length / 2);
    const first = analyses.slice(0, half);
    const ids = (xs: RequestAnalysis[]) => ({ traceIds: xs.map((a) => a.traceId), nowMs: now() });
    await threaded.record(first, ids(first));
    // The first half again with the rest (a replay after a crash): only the rest is new.
    await threaded.record(analyses, ids(analyses));
    await threaded.record(first, ids(first));
    await reference.record(analyses, ids(analyses));
    expect((await threaded.report()).summary.requests).toBe(analyses.length);
    expect(await contents(threaded)).toEqual(await contents(reference));
    expect(await threaded.committed([analyses[0]!.traceId, 'f'.repeat(32)])).toEqual(new Set([analyses[0]!.traceId]));
    await threaded.close();
    await reference.close();
  });

  it('reports a failed transaction in one line, writes nothing of it, and keeps writing afterwards', async () => {
    const analyses = (await recordedRequests()).slice(0, 10);
    const path = join(tempDir('writer-fail'), 'n1lens.db');
    const store = SqliteStore.open(path, { writerThread });
    const committed = { traceIds: analyses.map((a) => a.traceId), nowMs: Date.now() };
    breakWrites(path, true);
    const failed = await store.record(analyses, committed).then(() => undefined, (e: unknown) => e);
    expect(failed).toBeInstanceOf(StoreWriteError);
    expect((failed as Error).message).toMatch(/^disk I\/O error \(test\)$/);
    expect(await store.findingCount()).toBe(0);
    expect(await store.committed(committed.traceIds)).toEqual(new Set());
    breakWrites(path, false);
    await store.record(analyses, committed);
    expect((await store.report()).summary.requests).toBe(analyses.length);
    await store.close();
  });

  it('writes the queries outside requests the writer thread is given with their traces\' commit, once', async () => {
    const path = join(tempDir('writer-outside'), 'n1lens.db');
    const store = SqliteStore.open(path, { writerThread });
    const startMs = Date.now();
    const setUp = { traceId: 'e'.repeat(32), startMs, service: 'recruit', queries: 9 };
    await store.record([], { traceIds: [setUp.traceId], nowMs: startMs }, undefined, [setUp]);
    await store.record([], { traceIds: [setUp.traceId], nowMs: startMs }, undefined, [setUp]); // a replay's: committed already
    await store.close();
    const reopened = SqliteStore.open(path);
    expect((await reopened.report()).summary.queriesOutsideRequests).toBe(9);
    reopened.closeSync();
  });

  it('writes a statement again after the transaction that first wrote it failed', async () => {
    const analyses = (await recordedRequests()).slice(0, 10);
    for (const writer of [undefined, writerThread]) {
      const path = join(tempDir('writer-rollback'), 'n1lens.db');
      const store = SqliteStore.open(path, writer === undefined ? {} : { writerThread: writer });
      // Fails after the statements and rows were inserted (examples come last): all of it rolls back.
      const db = new BetterSqlite3(path);
      db.exec("CREATE TRIGGER fail_examples BEFORE INSERT ON examples BEGIN SELECT RAISE(ABORT, 'disk I/O error (test)'); END");
      await expect(store.record(analyses)).rejects.toThrow(/disk I\/O error/);
      expect(db.prepare('SELECT count(*) AS n FROM statements').get()).toEqual({ n: 0 });
      db.exec('DROP TRIGGER fail_examples');
      db.close();
      await store.record(analyses);
      expect((await store.report()).summary.findings).toBeGreaterThan(0);
      for (const id of (await store.findingIds()).values()) expect((await store.finding(id))?.sql).toMatch(/^SELECT/);
      await store.close();
    }
  });

  it('lets the intake free spool segments only once the thread has committed their traces', async () => {
    const dir = tempDir('writer-spool');
    const path = join(dir, 'n1lens.db');
    const spoolDir = join(dir, 'spool');
    const clock = { now: 1_000_000 };
    const metrics = createMetrics();
    let store = SqliteStore.open(path, { writerThread });
    // Tiny segments: every export seals one, so each can be freed on its own.
    // Ticks only when the test says (the first intake is abandoned, as a killed process would be).
    let intake = new Intake({ store, metrics, spool: Spool.open({ dir: spoolDir, commitMs: 1, segmentBytes: 1 }), traceWaitMs: 100, pollIntervalMs: 3_600_000, now: () => clock.now });
    const send = async (traceId: string): Promise<number> => {
      const body = Buffer.from(encodeJson(djangoRequest({ traceId, repeats: 6 })));
      const batch = decodeJsonRequest(body);
      const accepted = await intake.accept(batch, 'http', { encoding: 'json', body });
      expect(accepted.ok).toBe(true);
      if (accepted.ok) await accepted.durable;
      return batch.spans.length;
    };

    breakWrites(path, true);
    await send('a'.repeat(32));
    await send('b'.repeat(32));
    const segments = readdirSync(spoolDir).length;
    expect(segments).toBeGreaterThanOrEqual(2);
    clock.now += 1000;
    expect(await intake.tick()).toBe(false);
    expect(await metrics.registry.metrics()).toMatch(/n1lens_store_write_failures_total [1-9]/);
    expect(readdirSync(spoolDir)).toHaveLength(segments); // nothing committed: every segment stays

    breakWrites(path, false);
    expect(await intake.tick()).toBe(true);
    // Freed on the thread pool (spool.deleteBefore), so a moment later.
    await vi.waitFor(() => expect(readdirSync(spoolDir).length).toBeLessThan(segments));
    expect((await store.report()).summary.requests).toBe(2);

    // A third request, then the process dies before its write (no close): the next start replays it, and only it.
    breakWrites(path, true);
    const spans = await send('c'.repeat(32));
    clock.now += 1000;
    expect(await intake.tick()).toBe(false);
    store.closeSync();
    breakWrites(path, false);
    store = SqliteStore.open(path, { writerThread });
    intake = new Intake({ store, metrics: createMetrics(), spool: Spool.open({ dir: spoolDir, commitMs: 1, segmentBytes: 1 }), traceWaitMs: 100, now: () => clock.now });
    expect((await intake.replay()).spans).toBe(spans);
    await intake.close();
    expect((await store.report()).summary.requests).toBe(3);
    expect(readdirSync(spoolDir)).toHaveLength(0);
    await store.close();
  });
});
