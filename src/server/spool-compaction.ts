/**
 * Spool compaction: the spans of traces kept open past the maximum age (a long Celery task) copied
 * out of the segments they pin into one segment of their own, so that those segments, full of other
 * traces' committed spans, can go. Without it, a task open for ten minutes would keep every segment
 * written meanwhile: at 10 MB/s of gzip'd exports, 6 GB, far past --spool-max-mib.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { TraceId } from '../otlp/span.js';
import { createExportSplitter, type ExportSplitter } from '../otlp/split.js';
import type { Spool, SpoolEncoding, SpoolRecord } from '../spool/index.js';
import { spooledBody } from './body.js';

/**
 * Copies the spans of `traceIds` held in `segments` into a segment apart. `from`: the segments whose
 * spans of theirs are now in `segment` (or that held none); a segment still being written, or one
 * with a record that no longer reads, is left out. `durable` resolves once the copy is on disk: the
 * caller pins `segment` at once, while its write is pending (so that no deletion takes it
 * unpinned), and lets go of `from` only then.
 */
export type CopyApart = (segments: readonly number[], traceIds: ReadonlySet<TraceId>) => Promise<CopiedApart>;

export interface CopiedApart {
  from: readonly number[];
  /** Absent when `from` held none of their spans. */
  segment?: number;
  durable?: Promise<void>;
}

/**
 * CopySegmentsApart: each segment of `wanted` copied for its own traces. `serve --workers` gathers
 * several shards' asks into one pass: a segment one shard asked for is not copied for another's
 * traces, which that shard keeps pinning there and would have copied a second time later.
 */
export type CopySegmentsApart = (wanted: ReadonlyMap<number, ReadonlySet<TraceId>>) => Promise<CopiedApart>;

/** The segments several asks name, each with the traces of the asks that named it (their union). */
export function segmentsWanted(asks: readonly { segments: readonly number[]; traceIds: readonly TraceId[] }[]): Map<number, Set<TraceId>> {
  const wanted = new Map<number, Set<TraceId>>();
  for (const ask of asks) {
    for (const segment of ask.segments) {
      let traces = wanted.get(segment);
      if (traces === undefined) wanted.set(segment, (traces = new Set()));
      for (const id of ask.traceIds) traces.add(id);
    }
  }
  return new Map([...wanted].sort((a, b) => a[0] - b[0]));
}

/** CopyApart over a spool of this thread. */
export function spoolCopier(spool: Spool): CopyApart {
  const copy = spoolSegmentCopier(spool);
  return (segments, traceIds) => copy(new Map(segments.map((segment) => [segment, traceIds])));
}

/** CopySegmentsApart over a spool of this thread. */
export function spoolSegmentCopier(spool: Spool): CopySegmentsApart {
  const split = createExportSplitter();
  return async (wanted) => {
    const from: number[] = [];
    const copies: { encoding: SpoolEncoding; body: Uint8Array }[] = [];
    for (const [segment, traceIds] of wanted) {
      const records = await spool.records(segment);
      if (records === undefined) continue;
      const mine: typeof copies = [];
      let readable = true;
      for (const record of records) {
        // A record at a time, with the event loop let through in between: the thread also takes exports.
        await nextTurn();
        const kept = await keptSpans(record, traceIds, split);
        if (kept === null) readable = false;
        // A record kept whole is a view of the segment's bytes: copied, so that those can go.
        else if (kept !== undefined) mine.push({ encoding: record.encoding, body: kept === record.body ? Buffer.from(kept) : kept });
      }
      if (!readable) continue;
      from.push(segment);
      copies.push(...mine);
    }
    return copies.length === 0 ? { from } : { from, ...spool.appendApart(copies) };
  };
}

/**
 * The export `record` with only the spans of `traceIds` (uncompressed; undefined when it has none),
 * or null when it cannot be read. It was read once already, when it was accepted.
 */
async function keptSpans(record: SpoolRecord, traceIds: ReadonlySet<TraceId>, split: ExportSplitter): Promise<Uint8Array | undefined | null> {
  let body: Buffer;
  try {
    body = await spooledBody(record);
  } catch {
    return null;
  }
  const kept = (hex: string): number => (traceIds.has(hex) ? 1 : 0);
  const pieces = split(record.encoding, body, 2, { ofIdHex: kept, ofIdBytes: (b, p) => kept(Buffer.from(b.buffer, b.byteOffset + p, 16).toString('hex')) });
  return pieces === undefined ? null : pieces[1];
}
