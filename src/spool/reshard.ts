/**
 * Moves what an earlier run of `serve` spooled under another --workers count into this run's layout
 * (one directory, or one per shard thread), before anything replays it, so changing the count loses
 * nothing acknowledged.
 */
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, inflateSync } from 'node:zlib';
import { Spool, type SpoolEncoding, type SpoolRecord } from './spool.js';

/** Splits one export's uncompressed body into one piece per shard (undefined: no spans there); undefined when it cannot be read. */
export type ExportSplitter = (encoding: SpoolEncoding, body: Uint8Array, shards: number) => (Uint8Array | undefined)[] | undefined;

const SHARD_DIR = /^shard-(\d+)-of-(\d+)$/;
const SEGMENT_FILE = /^\d{12}\.seg$/;

/** The directory shard `index` of `count` spools into: the spool directory itself for one shard. */
export function shardSpoolDir(dir: string, index: number, count: number): string {
  return count === 1 ? dir : join(dir, `shard-${index}-of-${count}`);
}

/**
 * Re-spools every record of another layout into `shards` shard directories, each export split by
 * `split` (whole into the first shard when it cannot be split), and deletes the old segments once
 * the new ones are on disk. A crash in between leaves both: the next start moves the old ones again,
 * and the copies replay as duplicate spans, which the intake drops.
 */
export async function reshardSpool(dir: string, shards: number, split: ExportSplitter): Promise<{ exports: number }> {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return { exports: 0 }; // a spool directory not made yet
  }
  const sources: string[] = [];
  if (shards > 1 && entries.some((f) => SEGMENT_FILE.test(f))) sources.push(dir);
  for (const name of entries) {
    const m = SHARD_DIR.exec(name);
    if (m !== null && Number(m[2]) !== shards) sources.push(join(dir, name));
  }
  if (sources.length === 0) return { exports: 0 };
  const targets = Array.from({ length: shards }, (_, k) => Spool.open({ dir: shardSpoolDir(dir, k, shards) }));
  let exports = 0;
  try {
    for (const source of sources) {
      const old = Spool.open({ dir: source });
      const durable: Promise<void>[] = [];
      for (const record of old.replay()) {
        exports++;
        for (const [k, body, compression] of placements(record, shards, split)) durable.push(targets[k]!.append(record.encoding, body, compression).durable);
      }
      await Promise.all(durable);
      await old.close();
      old.deleteBefore(Number.POSITIVE_INFINITY);
      if (source !== dir) rmSync(source, { recursive: true, force: true });
    }
  } finally {
    await Promise.all(targets.map((t) => t.close()));
  }
  return { exports };
}

/** Where one old record goes: as it is when it stays whole, else its pieces uncompressed. */
function placements(record: SpoolRecord, shards: number, split: ExportSplitter): [number, Uint8Array, SpoolRecord['compression']][] {
  const whole: [number, Uint8Array, SpoolRecord['compression']][] = [[0, record.body, record.compression]];
  if (shards === 1) return whole;
  let body: Uint8Array;
  try {
    // It inflated within the listener's limit when it was accepted, and its checksum holds.
    body = record.compression === 'gzip' ? gunzipSync(record.body) : record.compression === 'deflate' ? inflateSync(record.body) : record.body;
  } catch {
    return whole;
  }
  let pieces: (Uint8Array | undefined)[] | undefined;
  try {
    pieces = split(record.encoding, body, shards);
  } catch {
    return whole;
  }
  const placed: [number, Uint8Array, SpoolRecord['compression']][] = [];
  pieces?.forEach((piece, k) => piece !== undefined && placed.push([k, piece, undefined]));
  if (placed.length === 0) return whole;
  if (placed.length === 1 && placed[0]![1] === body) return [[placed[0]![0], record.body, record.compression]];
  return placed;
}
