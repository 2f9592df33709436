import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { djangoRequest, encodeProtobuf } from '../src/otlp/testing.js';
import type { Report } from '../src/report/model.js';
import { decodeJsonRequest } from '../src/otlp/json.js';
import { decodeProtobufRequest, decodeProtobufRequestReference } from '../src/otlp/protobuf.js';
import { startServer, type RunningServer } from '../src/server/serve.js';
import { shardOfTraceId } from '../src/otlp/shard.js';
import { createOtlpHttpHandler } from '../src/server/otlp-http.js';
import { SplitWarmUpIntake } from '../src/server/shards.js';
import { SyntheticExports, warmUp } from '../src/server/warm-up.js';
import { Spool } from '../src/spool/index.js';
import { tempDir, testServeOptions } from './support.js';

const running: RunningServer[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.close()));
});

async function start(warmUp: boolean): Promise<{ server: RunningServer; url: string; dir: string }> {
  const dir = tempDir(warmUp ? 'warm' : 'cold');
  const server = await startServer(testServeOptions(dir, { warmUp, spool: { dir: join(dir, 'spool') }, traceWaitMs: 100 }));
  running.push(server);
  return { server, url: `http://127.0.0.1:${server.httpPort}`, dir };
}

/** /metrics without the figures that are timings or the process's memory, which differ between any two servers. */
const countedMetrics = async (url: string): Promise<string> =>
  (await (await fetch(`${url}/metrics`)).text())
    .split('\n')
    .filter((line) => !line.startsWith('n1lens_process_memory') && !/^n1lens_export_duration_seconds_(bucket|sum)/.test(line))
    .join('\n');

/** Rows in every table of a SQLite store (read through a second connection, as the UI's readers do). */
function tableRows(dbPath: string): Record<string, number> {
  const db = new BetterSqlite3(dbPath, { readonly: true });
  try {
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as { name: string }[];
    return Object.fromEntries(tables.map(({ name }) => [name, (db.prepare(`SELECT COUNT(*) AS n FROM "${name}"`).get() as { n: number }).n]));
  } finally {
    db.close();
  }
}

const spoolFiles = (dir: string): [string, number][] => readdirSync(join(dir, 'spool')).map((f) => [f, statSync(join(dir, 'spool', f)).size]);

async function reportOnce(url: string, requests: number): Promise<Report> {
  for (let i = 0; i < 200; i++) {
    const report = (await (await fetch(`${url}/api/report`)).json()) as Report;
    if (report.endpoints.reduce((n, e) => n + e.requests, 0) >= requests) return report;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${requests} requests`);
}

describe('serve warm-up', () => {
  it('runs synthetic exports through the whole path before listening, and leaves no trace of them', async () => {
    // Its spool goes to a temporary directory, removed after.
    const tmp = tempDir('warm-tmp');
    const previousTmp = process.env.TMPDIR;
    process.env.TMPDIR = tmp;
    const warm = await start(true).finally(() => {
      if (previousTmp === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = previousTmp;
    });
    expect(readdirSync(tmp).filter((f) => f.startsWith('n1lens-warm-up-'))).toEqual([]);
    const cold = await start(false);
    // It ran: exports over both transports, their traces analysed and written (to its own store).
    expect(warm.server.warmUpError).toBeUndefined();
    expect(warm.server.warmedUp?.exports).toBeGreaterThanOrEqual(6);
    expect(warm.server.warmedUp?.requestsAnalysed).toBeGreaterThan(50);
    expect(cold.server.warmedUp).toBeUndefined();

    // Nothing of it in the real server: no open trace, no counted export or request, no row, no spool record.
    expect(warm.server.intake.openTraces).toBe(0);
    expect(await countedMetrics(warm.url)).toBe(await countedMetrics(cold.url));
    expect(await countedMetrics(warm.url)).toMatch(/n1lens_requests_analysed_total 0/);
    expect(await warm.server.store.findingCount()).toBe(0);
    expect(tableRows(join(warm.dir, 'n1lens.db'))).toEqual(tableRows(join(cold.dir, 'n1lens.db')));
    expect(spoolFiles(warm.dir)).toEqual(spoolFiles(cold.dir));

    // The same exports then give the same report, with or without the warm-up before them.
    const exports = [
      djangoRequest({ traceId: 'aa000000000000000000000000000001', repeats: 7 }),
      djangoRequest({ traceId: 'aa000000000000000000000000000002', repeats: 9, semconv: 'stable', service: 'shop' }),
    ].map(encodeProtobuf);
    for (const { url } of [warm, cold]) {
      for (const body of exports) {
        const res = await fetch(`${url}/v1/traces`, { method: 'POST', body, headers: { 'content-type': 'application/x-protobuf' } });
        expect(res.status).toBe(200);
      }
    }
    const [warmReport, coldReport] = await Promise.all([reportOnce(warm.url, 2), reportOnce(cold.url, 2)]);
    expect(warmReport.endpoints.flatMap((e) => e.findings).length).toBeGreaterThan(0);
    expect(warmReport).toEqual(coldReport);
    // The counters alike too (gauges such as the spool's bytes are read at moments that differ).
    const counters = async (url: string): Promise<string[]> => (await countedMetrics(url)).split('\n').filter((line) => /^n1lens_\w+_total/.test(line));
    expect(await counters(warm.url)).toEqual(await counters(cold.url));
  });

  it('sends the bearer token the listeners require, and is not refused by tight admission limits', async () => {
    const dir = tempDir('warm-auth');
    const server = await startServer(testServeOptions(dir, { warmUp: true, authToken: 's3cret', maxTraces: 2, maxBufferBytes: 1024 }));
    running.push(server);
    expect(server.warmUpError).toBeUndefined();
    expect(server.warmedUp?.requestsAnalysed).toBeGreaterThan(50);
    expect(await server.store.findingCount()).toBe(0);
  });

  it('with --workers, warms the serving thread on the split and the spool only, which is all it runs of an export', async () => {
    const tmp = tempDir('warm-split-tmp');
    const previousTmp = process.env.TMPDIR;
    process.env.TMPDIR = tmp;
    let split: SplitWarmUpIntake | undefined;
    const result = await warmUp(
      {
        intake: { traceWaitMs: 100 },
        httpListener: (intake, metrics) => createOtlpHttpHandler({ intake, metrics, maxBodyBytes: 4 * 1024 * 1024 }),
        grpc: { maxReceiveBytes: 4 * 1024 * 1024 },
        spool: true,
        throwaway: (spool) => (split = new SplitWarmUpIntake(2, spool)),
      },
      { rounds: 2, exportsPerTransport: 2, requestsPerExport: 10 },
    ).finally(() => {
      if (previousTmp === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = previousTmp;
    });
    // Ten requests per export fall to both shards: two pieces each (the JSON exports hold 2 requests).
    expect(result.exports).toBe(10);
    expect(split!.pieces).toBeGreaterThanOrEqual(18);
    expect(result.requestsAnalysed).toBe(0);
    expect(readdirSync(tmp).filter((f) => f.startsWith('n1lens-warm-up-'))).toEqual([]);
  });

  it('splits an export as the shards get it and spools it as it came', async () => {
    const dir = tempDir('split-warm-up');
    const spool = Spool.open({ dir });
    const intake = new SplitWarmUpIntake(2, spool);
    const traceIds = ['aa000000000000000000000000000001', 'aa000000000000000000000000000002', 'aa000000000000000000000000000003'];
    expect(new Set(traceIds.map((id) => shardOfTraceId(id, 2))).size).toBe(2);
    const body = encodeProtobuf({ resourceSpans: traceIds.map((traceId) => djangoRequest({ traceId }).resourceSpans[0]!) });
    const result = await intake.acceptProtobuf(body, 'http');
    expect(result.ok).toBe(true);
    if (result.ok) await result.durable;
    await intake.close();
    expect(intake.pieces).toBe(2);
    const replayed = [...Spool.open({ dir }).replay()];
    expect(replayed.map((r) => Buffer.from(r.body))).toEqual([Buffer.from(body)]);
  });

  it('writes exports that protobufjs, the wire decoder and the JSON decoder read alike', () => {
    const exports = new SyntheticExports(Date.parse('2026-01-05T10:00:00Z'));
    for (const x of [exports.next(10), exports.next(3)]) {
      const reference = decodeProtobufRequestReference(x.protobuf);
      expect(reference.spans).toHaveLength(x.spans);
      expect(reference.rejected).toEqual([]);
      expect(decodeProtobufRequest(x.protobuf).spans).toEqual(reference.spans);
      expect(decodeJsonRequest(x.json()).spans).toEqual(reference.spans);
      expect(reference.spans.filter((s) => s.kind === 2).every((s) => s.httpRoute !== undefined)).toBe(true);
    }
  });
});
