/**
 * n1-report --jobs N: the files analysed by N worker threads, one shard of the traces each (split
 * by trace id). Every worker reads every file itself (from the page cache) and walks every unit,
 * so each keeps the whole input's span clock, but decodes and analyses only its traces' spans and
 * rolls them up itself. This thread only merges the N rollup sets at the end: rollups add
 * (detect/rollup.ts RollupSet.fromShards), so the report is the one `--jobs 1` prints, to the byte.
 */
import { statSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import type { DetectOptions } from '../detect/request.js';
import { RollupSet } from '../detect/rollup.js';
import { releasedBefore } from '../detect/rollup.js';
import { errorFrom, type ErrorData, type FromWorker, type WorkerSetup } from './protocol.js';
import type { KeyedConnection, ShardResult } from './shard.js';

/** Input, in bytes on disk, from which workers start: below it they would cost more than they save. */
export const PARALLEL_MIN_BYTES = 16 * 1024 * 1024;

export interface ShardedFilesResult {
  rollups: RollupSet;
  lateSpans: number;
}

/** Whether `files` are worth (and fit for) workers: regular files, since each worker opens them itself, of `minBytes` together. */
export function worthSharding(files: readonly string[], minBytes = PARALLEL_MIN_BYTES): boolean {
  let bytes = 0;
  for (const file of files) {
    if (file === '-') return false;
    try {
      const stat = statSync(file);
      if (!stat.isFile()) return false;
      bytes += stat.size;
    } catch {
      // --jobs 1 reports a missing file as it reads it.
      return false;
    }
  }
  return files.length > 0 && bytes >= minBytes;
}

/** Analyses the files with `jobs` shards (see the module comment). `detect.links` must come from `schemaPath`, which the workers load themselves. */
export async function analyseFilesSharded(
  files: readonly string[], detect: DetectOptions, schemaPath: string | undefined, jobs: number,
): Promise<ShardedFilesResult> {
  const { links: _links, noiseFilter: _noise, ...cloneable } = detect;
  const workers: Worker[] = [];
  try {
    const results = await Promise.all(
      Array.from({ length: jobs }, (_, shard) => {
        const setup: WorkerSetup = { shard, shards: jobs, files: [...files], detect: cloneable, ...(schemaPath === undefined ? {} : { schemaPath }) };
        const worker = new Worker(new URL('./worker.js', import.meta.url), { workerData: setup });
        workers.push(worker);
        return outcome(worker, shard);
      }),
    );
    const failures = results.filter((r): r is { unit: number; error: ErrorData } => 'error' in r);
    if (failures.length > 0) {
      // The first unit that failed in any shard is the one --jobs 1 stops at.
      throw errorFrom(failures.reduce((a, b) => (b.unit < a.unit ? b : a)).error);
    }
    const shards = results as ShardResult[];
    const rollups = RollupSet.fromShards(shards.map((s) => s.rollups));
    for (const c of inReleaseOrder(shards.map((s) => s.connections))) rollups.addConnection(c.service, c.instance, c.use);
    return { rollups, lateSpans: shards.reduce((n, s) => n + s.lateSpans, 0) };
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

/** A worker's one answer: its result, or the unit where the input failed. */
function outcome(worker: Worker, shard: number): Promise<ShardResult | { unit: number; error: ErrorData }> {
  return new Promise((resolve, reject) => {
    worker.once('message', (message: FromWorker) => {
      if ('done' in message) resolve(message.done);
      else if ('failed' in message) resolve(message.failed);
      else reject(new Error(`n1-report worker ${shard}: ${message.fatal}`));
    });
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`n1-report worker ${shard} exited with code ${code} before answering`)));
  });
}

/** The shards' connection uses in the order one analysis releases their requests (a trace's stay in order: sort is stable). */
function inReleaseOrder(lists: readonly KeyedConnection[][]): KeyedConnection[] {
  return lists.flat().sort((a, b) => (releasedBefore(a.key, b.key) ? -1 : releasedBefore(b.key, a.key) ? 1 : 0));
}
