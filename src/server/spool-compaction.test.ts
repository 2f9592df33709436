import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../test/support.js';
import { decodeProtobufRequest } from '../otlp/protobuf.js';
import { djangoRequest, encodeProtobuf } from '../otlp/testing.js';
import { Spool } from '../spool/index.js';
import { segmentsWanted, spoolSegmentCopier } from './spool-compaction.js';

const [A, B] = ['a', 'b'].map((c) => `${c.repeat(8)}${'0'.repeat(24)}`) as [string, string];
/** One export with a request of each trace. */
const both = (): Uint8Array => encodeProtobuf({ resourceSpans: [A, B].flatMap((traceId) => djangoRequest({ traceId, repeats: 2 }).resourceSpans) });

describe('spool compaction', () => {
  it('copies each segment for the traces of the asks that named it, not for every ask in the pass', () => {
    const wanted = segmentsWanted([
      { segments: [3, 1], traceIds: [A] },
      { segments: [3, 2], traceIds: [B] },
    ]);
    expect([...wanted].map(([segment, traces]) => [segment, [...traces].sort()])).toEqual([[1, [A]], [2, [B]], [3, [A, B]]]);
  });

  it("writes each segment's chosen traces' spans, as they were, to a segment apart, from compressed records too", async () => {
    let now = 0;
    const spool = Spool.open({ dir: join(tempDir('copy-apart'), 'spool'), commitMs: 1, segmentMs: 10, now: () => now });
    const first = spool.append('protobuf', gzipSync(both()), 'gzip');
    now = 20;
    const second = spool.append('protobuf', both());
    await Promise.all([first.durable, second.durable]);
    now = 40;
    await spool.append('protobuf', both()).durable; // seals the second segment (its file closes once a later write returns)
    const copy = spoolSegmentCopier(spool);
    const copied = await copy(new Map([[first.segment, new Set([A])], [second.segment, new Set([A, B])], [second.segment + 99, new Set([A])]]));
    expect(copied.from).toEqual([first.segment, second.segment]); // the last is no segment of this spool
    await copied.durable;
    const records = (await spool.records(copied.segment!))!;
    const traces = records.map((r) => [...new Set(decodeProtobufRequest(r.body).spans.map((s) => s.traceId))]);
    expect(traces).toEqual([[A], [A, B]]);
    expect(records.every((r) => r.compression === undefined)).toBe(true);
    const whole = decodeProtobufRequest(both()).spans;
    expect(decodeProtobufRequest(records[1]!.body).spans).toEqual(whole);
    expect(await copy(new Map([[first.segment, new Set(['f'.repeat(32)])]]))).toEqual({ from: [first.segment] }); // none of its spans there
    await spool.close();
  });
});
