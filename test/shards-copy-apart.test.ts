/**
 * `serve --workers`: a task that runs past the maximum trace age has its spans copied out of the
 * spool segments it shares with other traces, by the serving thread for the shard that holds it
 * (server/spool-compaction.ts). In process against the built shard threads, with the maximum age
 * cut to 1.5 s so that the task runs for ages of it in a few seconds.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { createMetrics } from '../dist/server/metrics.js';
import { ShardedIntake } from '../dist/server/shards.js';
import { Spool } from '../dist/spool/index.js';
import { SqliteStore } from '../dist/store/sqlite.js';
import { decodeProtobufRequest } from '../src/otlp/protobuf.js';
import { shardOfTraceId } from '../src/otlp/shard.js';
import type { SpanRecord } from '../src/otlp/span.js';
import { djangoRequest, encodeProtobuf, type OtlpJsonSpan } from '../src/otlp/testing.js';
import { tempDir } from './support.js';

const EXPORTS = 30;

/**
 * `n` trace ids in each of 2 shards (the shard is taken from an id's last 8 digits), each with span
 * ids of its own (djangoRequest takes them from its first 8 digits).
 */
function idsByShard(n: number, from: number): [string[], string[]] {
  const ids: [string[], string[]] = [[], []];
  for (let k = from; ids[0].length < n || ids[1].length < n; k++) {
    const hex = k.toString(16).padStart(8, '0');
    const id = `${hex}${'e'.repeat(16)}${hex}`;
    const mine = ids[shardOfTraceId(id, 2)]!;
    if (mine.length < n) mine.push(id);
  }
  return ids;
}

const spansOf = (traceId: string, repeats: number): OtlpJsonSpan[] => djangoRequest({ traceId, repeats }).resourceSpans[0]!.scopeSpans.flatMap((s) => s.spans);
const exportOf = (spans: OtlpJsonSpan[]): Uint8Array => encodeProtobuf({ resourceSpans: [{ resource: { attributes: [{ key: 'service.name', value: { stringValue: 'recruit' } }] }, scopeSpans: [{ scope: { name: 'x' }, spans }] }] });

/** The spans of every export in the spool's segments (uncompressed here; a segment deleted meanwhile holds none that are needed). */
function onDiskSpans(dir: string): SpanRecord[] {
  const spans: SpanRecord[] = [];
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.seg'))) {
    let data: Buffer;
    try {
      data = readFileSync(join(dir, file));
    } catch {
      continue;
    }
    // Records: u32 length, u32 CRC-32, u8 kind (0: protobuf, uncompressed), then the body; a copy
    // being written may end in a torn record, as replay would find it.
    for (let at = 0; at + 9 <= data.length && at + 9 + data.readUInt32LE(at) <= data.length; at += 9 + data.readUInt32LE(at)) {
      expect(data[at + 8]).toBe(0);
      spans.push(...decodeProtobufRequest(data.subarray(at + 9, at + 9 + data.readUInt32LE(at))).spans);
    }
  }
  return spans;
}

describe('serve --workers: a task that runs past the maximum trace age', () => {
  it("has each shard's long task copied apart by the serving thread: the segments shared with other traces go, and every query is analysed", async () => {
    const dir = tempDir('shards-copy-apart');
    const spoolDir = join(dir, 'spool');
    const db = join(dir, 'n1lens.db');
    const metrics = createMetrics();
    const intake = await ShardedIntake.start({
      shards: 2, db, storeWriterThread: false,
      analysis: { traceWaitMs: 300, traceSettleMs: 100, maxTraceAgeMs: 1500, maxGrowingTraceAgeMs: 60_000, minRepeats: 5 },
      limits: {}, metrics, spool: Spool.open({ dir: spoolDir, commitMs: 1, segmentBytes: 1 }), // a segment per export
      onFailure: (message: string) => expect.unreachable(message),
    });
    // Two nightly tasks, one in each shard: their workers export two queries each every 150 ms, their runs' spans at the end.
    const [taskIds, viewIds] = [idsByShard(1, 0xa000), idsByShard(EXPORTS, 0x100)];
    const tasks = [taskIds[0][0]!, taskIds[1][0]!].map((traceId) => {
      const [run, ...queries] = spansOf(traceId, 2 * EXPORTS - 1);
      Object.assign(run!, { kind: 5, name: 'run/billing.nightly', attributes: [] });
      return { run: run!, queries };
    });
    const take = async (spans: OtlpJsonSpan[]): Promise<number> => {
      const body = exportOf(spans);
      const result = await intake.acceptProtobuf(body, 'http');
      if (!result.ok) throw new Error(result.message);
      await result.durable;
      return body.length;
    };
    let sent = 0;
    for (let i = 0; i < EXPORTS; i++) {
      // With a view's whole request from each shard: a Collector batches them together.
      const views = [viewIds[0][i]!, viewIds[1][i]!].flatMap((id) => spansOf(id, 30));
      sent += await take([...tasks.flatMap((t) => t.queries.slice(2 * i, 2 * i + 2)), ...views]);
      // The shards analyse, write and copy on their own timers (a tick waits for the copy in flight).
      await sleep(150);
    }
    const onDisk = (): number => readdirSync(spoolDir).filter((f) => f.endsWith('.seg')).reduce((n, f) => n + statSync(join(spoolDir, f)).size, 0);
    for (let i = 0; i < 50 && onDisk() > sent / 4; i++) await sleep(20); // unlinked on the thread pool
    expect(onDisk()).toBeLessThan(sent / 4);
    expect(Number(/^n1lens_spool_segments_compacted_total (\d+)$/m.exec(await intake.metricsText())?.[1])).toBeGreaterThanOrEqual(10);
    // A crash now would lose none of the tasks' queries: every one is in a segment on disk.
    const taskTraces = new Set(tasks.map((t) => t.run.traceId));
    const spooled = new Set(onDiskSpans(spoolDir).filter((span) => taskTraces.has(span.traceId)).map((span) => span.spanId));
    expect(spooled.size).toBe(tasks.reduce((n, t) => n + t.queries.length, 0));
    await take(tasks.map((t) => t.run));
    await sleep(400);
    await intake.close();
    // Every trace committed: no segment is left, copies included.
    expect(readdirSync(spoolDir).filter((f) => f.endsWith('.seg'))).toEqual([]);
    const store = SqliteStore.open(db);
    const report = await store.report();
    store.closeSync();
    expect(report.summary.requests).toBe(2 * EXPORTS + 2);
    const nightly = report.endpoints.find((e) => e.endpoint === 'run/billing.nightly');
    expect(nightly?.requests).toBe(2);
    expect(nightly?.findings[0]?.repeatsPerRequest).toEqual({ p50: 2 * EXPORTS - 1, max: 2 * EXPORTS - 1 });
  });

  it("copies a segment only for the traces of the shards that asked for it: a task's spans are on disk at most twice, while another shard's trace keeps the original", async () => {
    const dir = tempDir('shards-copy-once');
    const spoolDir = join(dir, 'spool');
    const intake = await ShardedIntake.start({
      shards: 2, db: join(dir, 'n1lens.db'), storeWriterThread: false,
      analysis: { traceWaitMs: 300, traceSettleMs: 100, maxTraceAgeMs: 1500, maxGrowingTraceAgeMs: 60_000, minRepeats: 5 },
      limits: {}, metrics: createMetrics(), spool: Spool.open({ dir: spoolDir, commitMs: 1, segmentBytes: 1 }),
      onFailure: (message: string) => expect.unreachable(message),
    });
    const exports = 40;
    const [taskIds, fragmentIds] = [idsByShard(1, 0xa000), idsByShard(exports, 0x100)];
    const [x, y] = [taskIds[0][0]!, taskIds[1][0]!].map((id) => spansOf(id, 2 * exports).slice(1)) as [OtlpJsonSpan[], OtlpJsonSpan[]];
    const copies = (traceId: string): { spans: number; twice: number; most: number } => {
      const seen = new Map<string, number>();
      for (const span of onDiskSpans(spoolDir)) if (span.traceId === traceId) seen.set(span.spanId, (seen.get(span.spanId) ?? 0) + 1);
      return { spans: seen.size, twice: [...seen.values()].filter((n) => n > 1).length, most: Math.max(0, ...seen.values()) };
    };
    let mostCopies = 0;
    for (let i = 0; i < exports; i++) {
      // Each export also holds queries of a trace in shard 1 whose request never comes: it keeps the
      // segment there until the maximum age, after shard 0 has had its task's spans copied out of it.
      const fragment = spansOf(fragmentIds[1][i]!, 3).slice(1);
      const result = await intake.acceptProtobuf(exportOf([...x.slice(2 * i, 2 * i + 2), ...y.slice(2 * i, 2 * i + 2), ...fragment]), 'http');
      if (!result.ok) throw new Error(result.message);
      await result.durable;
      await sleep(150);
      if (i % 5 === 4) mostCopies = Math.max(mostCopies, copies(x[0]!.traceId).most, copies(y[0]!.traceId).most);
    }
    // Copied once for the shard that asked; each original goes once no shard needs it.
    expect(mostCopies).toBeLessThanOrEqual(2);
    const [left, right] = [copies(x[0]!.traceId), copies(y[0]!.traceId)];
    expect([left.spans, right.spans]).toEqual([2 * exports, 2 * exports]);
    // Copied for every asking shard's traces, both had 76 of 80 on disk twice.
    expect(left.twice).toBeLessThan(exports);
    expect(right.twice).toBeLessThan(exports);
    await intake.close();
  });
});
