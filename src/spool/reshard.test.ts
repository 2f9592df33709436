import { existsSync, readdirSync } from 'node:fs';
import { gunzipSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { createJsonDecoder, decodeJsonRequest } from '../otlp/json.js';
import { shardOfTraceId } from '../otlp/shard.js';
import { djangoRequest, encodeJson, encodeProtobuf, type OtlpJsonRequest } from '../otlp/testing.js';
import { createWireDecoder } from '../otlp/wire/decoder.js';
import { createExportSplitter } from '../server/shards.js';
import { tempDir } from '../../test/support.js';
import { reshardSpool, shardSpoolDir } from './reshard.js';
import { Spool, type SpoolRecord } from './spool.js';

const traceIdOf = (k: number): string => `${(k + 1).toString(16).padStart(8, '0')}${'c'.repeat(16)}${(k * 2654435761 >>> 0).toString(16).padStart(8, '0')}`;

/** Traces first … first+count-1 in one export. */
function exportOf(first: number, count: number): OtlpJsonRequest {
  return { resourceSpans: Array.from({ length: count }, (_, i) => djangoRequest({ traceId: traceIdOf(first + i), repeats: 3 }).resourceSpans[0]!) };
}

/** Every record's spans as `traceId/spanId`, read as the intake's replay reads them. */
function spansOf(record: SpoolRecord): string[] {
  const body = record.compression === 'gzip' ? gunzipSync(record.body) : record.body;
  if (record.encoding === 'json') return decodeJsonRequest(Buffer.from(body), createJsonDecoder()).spans.map((s) => `${s.traceId}/${s.spanId}`);
  return createWireDecoder().decode(body).spans.map((s) => `${s.traceId}/${s.spanId}`);
}

function replayAll(dir: string): SpoolRecord[] {
  const spool = Spool.open({ dir });
  const records = [...spool.replay()].map((r) => ({ ...r, body: Uint8Array.from(r.body) }));
  void spool.close();
  return records;
}

const segments = (dir: string): string[] => (existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.seg')) : []);

describe('reshardSpool', () => {
  it('moves every spooled span into the shard that owns its trace, from one directory to 3 shards, to 2, and back to one', async () => {
    const dir = tempDir('reshard');
    const spool = Spool.open({ dir });
    const whole = [exportOf(0, 6), exportOf(6, 5), exportOf(11, 1), exportOf(12, 4)];
    spool.append('protobuf', encodeProtobuf(whole[0]!));
    spool.append('protobuf', gzipSync(encodeProtobuf(whole[1]!)), 'gzip');
    const single = spool.append('protobuf', gzipSync(encodeProtobuf(whole[2]!)), 'gzip');
    spool.append('json', Buffer.from(encodeJson(whole[3]!)));
    await single.durable;
    await spool.close();
    const every = whole.flatMap((w) => w.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans.map((x) => `${x.traceId}/${x.spanId}`)))).sort();

    for (const count of [3, 2, 1]) {
      expect(await reshardSpool(dir, count, createExportSplitter())).toEqual({ exports: expect.any(Number) as number });
      const seen: string[] = [];
      for (let k = 0; k < count; k++) {
        for (const record of replayAll(shardSpoolDir(dir, k, count))) {
          const spans = spansOf(record);
          for (const span of spans) expect(shardOfTraceId(span.slice(0, 32), count)).toBe(k);
          seen.push(...spans);
        }
      }
      expect(seen.sort()).toEqual(every);
      // Nothing of another layout is left to replay twice.
      const others = readdirSync(dir).filter((f) => f.startsWith('shard-') && !f.endsWith(`-of-${count}`));
      expect(others).toEqual([]);
      if (count > 1) expect(segments(dir)).toEqual([]);
    }
  });

  it('keeps an export that stays whole as it came (gzip), and one it cannot split whole in the first shard', async () => {
    const dir = tempDir('reshard-whole');
    const spool = Spool.open({ dir });
    const gzipped = gzipSync(encodeProtobuf(exportOf(40, 1)));
    spool.append('protobuf', gzipped, 'gzip');
    const garbage = Uint8Array.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]);
    await spool.append('protobuf', garbage).durable;
    await spool.close();
    await reshardSpool(dir, 4, createExportSplitter());
    const owner = shardOfTraceId(traceIdOf(40), 4);
    const records = replayAll(shardSpoolDir(dir, owner, 4));
    expect(records.find((r) => r.compression === 'gzip')?.body).toEqual(Uint8Array.from(gzipped));
    expect(replayAll(shardSpoolDir(dir, 0, 4)).some((r) => Buffer.from(r.body).equals(Buffer.from(garbage)))).toBe(true);
  });

  it('leaves a spool already in the layout alone', async () => {
    const dir = tempDir('reshard-same');
    const spool = Spool.open({ dir: shardSpoolDir(dir, 1, 2) });
    await spool.append('protobuf', encodeProtobuf(exportOf(50, 2))).durable;
    await spool.close();
    expect(await reshardSpool(dir, 2, createExportSplitter())).toEqual({ exports: 0 });
    expect(segments(shardSpoolDir(dir, 1, 2))).toHaveLength(1);
    expect(await reshardSpool(`${dir}/missing`, 2, createExportSplitter())).toEqual({ exports: 0 });
  });
});
