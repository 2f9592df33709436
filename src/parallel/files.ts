/**
 * n1-report --jobs N: the files analysed in N shards of the traces (split by trace id), shard 0 on
 * this thread while N - 1 worker threads start and take the others. Each shard reads every file
 * itself and keeps the whole input's span clock, but each raw unit (an OTLP JSON line, a protobuf
 * message) is decoded by one shard, which sends each other shard its spans of it
 * (parallel/exchange.ts; in uncompressed files the others do not even read it: shard.ts), so every
 * span is decoded once; only gzip'd protobuf is walked by every shard. Each shard analyses and
 * rolls up its own traces; the N rollup sets then merge exactly (detect/rollup.ts
 * RollupSet.fromShards): the report is the one `--jobs 1` prints, to the byte.
 */
import { statSync } from 'node:fs';
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import type { DetectOptions } from '../detect/request.js';
import { RollupSet, releasedBefore } from '../detect/rollup.js';
import { errorFrom, type ErrorData, type FromWorker, type WorkerSetup } from './protocol.js';
import { Peers } from './exchange.js';
import type { RefusedSpans } from '../otlp/span.js';
import { analyseShard, ShardAnalysis, type KeyedConnection, type ShardReading, type ShardResult } from './shard.js';

/** Input, in bytes on disk, from which workers start: below it they would cost more than they save. */
export const PARALLEL_MIN_BYTES = 16 * 1024 * 1024;

export interface ShardedFilesResult {
  rollups: RollupSet;
  lateSpans: number;
  /** Traces the shards released early, before the end of their spans could be known (their memory ran out). */
  evictedTraces: number;
  /** Spans the decoders refused, by reason. */
  refused: RefusedSpans;
  /** Queries outside any request (traces/assemble.ts isOutsideRequests), left out. */
  queriesOutsideRequests: number;
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
  files: readonly string[], detect: DetectOptions, schemaPath: string | undefined, jobs: number, rangeBytes?: number, openBytes?: number,
): Promise<ShardedFilesResult> {
  // Taken once for all shards: a file still being written is read as it was now by every one of them.
  const reading: ShardReading = { sizes: files.map((file) => statSync(file).size), ...(rangeBytes === undefined ? {} : { rangeBytes }) };
  const { links: _links, noiseFilter: _noise, ...cloneable } = detect;
  const workers: Worker[] = [];
  const ports = peerPorts(jobs);
  const peers = new Peers(ports[0]!);
  try {
    // Shards 1.. in workers, shard 0 here while they start: one thread and one heap fewer.
    const started = Array.from({ length: jobs - 1 }, (_, i) => {
      const own = ports[i + 1]!;
      const setup: WorkerSetup = {
        shard: i + 1, shards: jobs, files: [...files], peers: own, reading, detect: cloneable,
        ...(schemaPath === undefined ? {} : { schemaPath }), ...(openBytes === undefined ? {} : { openBytes }),
      };
      // The bundled worker (rolldown.config.mjs): this module runs from dist/parallel/ or, bundled, dist/bundle/.
      const worker = new Worker(new URL('../bundle/worker.js', import.meta.url), {
        workerData: setup,
        transferList: own.filter((port): port is MessagePort => port !== undefined),
      });
      workers.push(worker);
      return outcome(worker, i + 1);
    });
    // Awaited below; a failure here first must not leave them unhandled.
    for (const p of started) p.catch(() => undefined);
    const here = await analyseShard(files, new ShardAnalysis(detect, 0, jobs, openBytes), peers, reading);
    const results = [unpack(here), ...(await Promise.all(started))];
    const failures = results.filter((r): r is { unit: number; error: ErrorData } => 'error' in r);
    if (failures.length > 0) {
      // The first unit that failed in any shard is the one --jobs 1 stops at.
      throw errorFrom(failures.reduce((a, b) => (b.unit < a.unit ? b : a)).error);
    }
    const shards = results as ShardResult[];
    // Every shard counts the whole input's refused spans (ShardResult.refused): shard 0's are all of them.
    const rollups = RollupSet.fromShards(shards.map((s) => s.rollups));
    for (const c of inReleaseOrder(shards.map((s) => s.connections))) rollups.addConnection(c.service, c.instance, c.use);
    for (const s of shards) rollups.mergeRoutes(s.routes);
    return { rollups, lateSpans: shards.reduce((n, s) => n + s.lateSpans, 0), evictedTraces: shards.reduce((n, s) => n + s.evictedTraces, 0), refused: shards[0]!.refused, queriesOutsideRequests: shards.reduce((n, s) => n + s.queriesOutsideRequests, 0) };
  } finally {
    peers.close();
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

/** A channel between every two shards: `ports[i][j]` is shard i's end of its channel to shard j. */
function peerPorts(shards: number): (MessagePort | undefined)[][] {
  const ports = Array.from({ length: shards }, () => new Array<MessagePort | undefined>(shards).fill(undefined));
  for (let i = 0; i < shards; i++) {
    for (let j = i + 1; j < shards; j++) {
      const { port1, port2 } = new MessageChannel();
      ports[i]![j] = port1;
      ports[j]![i] = port2;
    }
  }
  return ports;
}

/** A worker's one answer: its result, or the unit where the input failed. */
function outcome(worker: Worker, shard: number): Promise<ShardResult | { unit: number; error: ErrorData }> {
  return new Promise((resolve, reject) => {
    worker.once('message', (message: FromWorker) => {
      if ('fatal' in message) reject(new Error(`n1-report worker ${shard}: ${message.fatal}`));
      else resolve(unpack(message));
    });
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`n1-report worker ${shard} exited with code ${code} before answering`)));
  });
}

function unpack(message: Exclude<FromWorker, { fatal: string }>): ShardResult | { unit: number; error: ErrorData } {
  return 'done' in message ? message.done : message.failed;
}

/** The shards' connection uses in the order one analysis releases their requests (a trace's stay in order: sort is stable). */
function inReleaseOrder(lists: readonly KeyedConnection[][]): KeyedConnection[] {
  return lists.flat().sort((a, b) => (releasedBefore(a.key, b.key) ? -1 : releasedBefore(b.key, a.key) ? 1 : 0));
}
