import { join } from 'node:path';
import { deflateSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { djangoRequest, encodeProtobuf, type OtlpJsonRequest } from '../src/otlp/testing.js';
import { SqliteStore as Store } from '../src/store/sqlite.js';
import { servePorts, spawnBin, tempDir, type Spawned } from './support.js';

const ROUTES = 20;
const REPEATS = 6;

/**
 * Trace k's id: unique, as are its span ids (djangoRequest derives them from the id's first 8 hex
 * digits). Padding k with 'f' would not do: 0xf1…0xff pad to the same ids as 1…15.
 */
const traceIdOf = (k: number): string => `${(k + 1).toString(16).padStart(8, '0')}${'f'.repeat(24)}`;

/** A body as sent: plain, or compressed with its Content-Encoding (the spool keeps it compressed). */
interface Sent {
  body: Uint8Array;
  encoding?: 'gzip' | 'deflate';
}

/**
 * Traces k … k + perExport - 1 as two exports, their DB spans then their roots, on routes `r<k % 20>/`:
 * plain, gzip'd or deflated by turns. Two traces per export make `serve --workers` split each export.
 */
function traceExports(k: number, perExport: number): Sent[] {
  const encoding = ([undefined, 'gzip', 'deflate'] as const)[k % 3];
  return protobufExports(k, perExport).map((body) => (encoding === undefined ? { body } : { body: encoding === 'gzip' ? gzipSync(body) : deflateSync(body), encoding }));
}

function protobufExports(k: number, perExport: number): Uint8Array[] {
  const traces = Array.from({ length: perExport }, (_, i) => {
    const request = djangoRequest({ traceId: traceIdOf(k + i), repeats: REPEATS });
    const [serverScope, dbScope] = request.resourceSpans[0]!.scopeSpans;
    const route = serverScope!.spans[0]!.attributes!.find((a) => a.key === 'http.route')!;
    route.value = { stringValue: `r${(k + i) % ROUTES}/` };
    return { resource: request.resourceSpans[0]!, serverScope: serverScope!, dbScope: dbScope! };
  });
  const part = (scope: 'serverScope' | 'dbScope'): OtlpJsonRequest => ({ resourceSpans: traces.map((t) => ({ ...t.resource, scopeSpans: [t[scope]] })) });
  return [encodeProtobuf(part('dbScope')), encodeProtobuf(part('serverScope'))];
}

describe('the spool across kill -9 (the real n1lens serve)', () => {
  // With --store-writer-thread the store's transactions run on a thread of their own, and a crash can come between a commit there and the spool's deletion here.
  // --workers: a different count at every start, so each start first moves the last run's spool into its own layout.
  it.each([
    ['', () => [], 1],
    ['--store-writer-thread', () => ['--store-writer-thread'], 1],
    ['--workers 1, 2 and 3 by turns, two traces per export', (round: number) => ['--workers', String((round % 3) + 1)], 2],
  ])('keeps every acknowledged span, plain or compressed, and counts every request exactly once over 10 crashes during steady ingest %s', async (_name, flags: (round: number) => string[], perExport) => {
    const dir = tempDir('spool-crash');
    const db = join(dir, 'n1lens.db');
    const args = (round: number): string[] => ['serve', '--http-port', '0', '--grpc-port', '0', '--db', db, '--trace-wait-ms', '300', '--spool-commit-ms', '5', ...flags(round)];
    // The client behaves like a Collector with retry_on_failure: an export is sent until it gets a 200.
    const unacked: Sent[] = [];
    let traces = 0;
    let acked = 0;
    const sendAll = async (port: number, until: () => boolean): Promise<void> => {
      const worker = async (): Promise<void> => {
        while (!until()) {
          if (unacked.length === 0) {
            unacked.push(...traceExports(traces, perExport));
            traces += perExport;
          }
          const sent = unacked.shift()!;
          try {
            const headers = { 'Content-Type': 'application/x-protobuf', ...(sent.encoding === undefined ? {} : { 'Content-Encoding': sent.encoding }) };
            const res = await fetch(`http://127.0.0.1:${port}/v1/traces`, { method: 'POST', body: sent.body, headers });
            if (res.status === 200) acked++;
            else unacked.push(sent);
          } catch {
            unacked.push(sent); // killed mid-request: not acknowledged, send again
            return;
          }
        }
      };
      await Promise.all([worker(), worker(), worker(), worker()]);
    };

    let replayedTotal = 0;
    for (let round = 0; round < 10; round++) {
      const s: Spawned = spawnBin(args(round));
      const { http } = await servePorts(s);
      const replayed = /replayed (\d+) spans/.exec(s.stderr());
      replayedTotal += Number(replayed?.[1] ?? 0);
      const killAt = Date.now() + 200 + Math.random() * 800;
      const sending = sendAll(http, () => Date.now() > killAt + 2000);
      await new Promise((r) => setTimeout(r, killAt - Date.now()));
      s.child.kill('SIGKILL');
      await s.exited;
      await sending;
    }
    // Last run: resend what was never acknowledged, then stop cleanly.
    const last = spawnBin(args(10));
    const { http } = await servePorts(last);
    while (unacked.length > 0) await sendAll(http, () => unacked.length === 0);
    last.child.kill('SIGTERM');
    expect(await last.exited).toBe(0);

    expect(traces).toBeGreaterThan(20);
    expect(replayedTotal).toBeGreaterThan(0); // the crashes did leave acknowledged, unanalysed exports behind
    const store = Store.open(db);
    const report = await store.report();
    store.closeSync();
    expect(report.summary.requests).toBe(traces);
    for (let r = 0; r < ROUTES; r++) {
      const expected = Math.floor(traces / ROUTES) + (r < traces % ROUTES ? 1 : 0);
      expect(report.endpoints.find((e) => e.endpoint === `GET r${r}/`)?.requests ?? 0).toBe(expected);
    }
    // A resent copy of an export that was durable but not acknowledged adds no span (dedupe by trace and span id).
    expect(report.summary.dbSpans).toBe(traces * (REPEATS + 1));
  }, 180_000);
});
