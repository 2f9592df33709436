/**
 * n1-report --jobs N: the files' spans analysed by N worker threads, one shard of the traces each
 * (split by trace id), the rollups made here from their requests in the order a single analysis
 * releases them, so the report is the one `--jobs 1` prints.
 *
 * This thread only reads the files (gunzip and framing included), posts each protobuf message or
 * OTLP JSON line, undecoded, to every worker on shared memory, and merges: each worker decodes
 * only its traces' spans (parallel/shard.ts). Other formats are decoded here and each worker is
 * sent its spans. Inputs under PARALLEL_MIN_BYTES are analysed here alone: starting workers would
 * cost more than they save.
 */
import { Worker } from 'node:worker_threads';
import { OfflineAnalysis } from '../analyzer.js';
import type { DetectOptions } from '../detect/request.js';
import { RollupSet } from '../detect/rollup.js';
import { createUnitDecoders, decodeUnit, isRawUnit, readTraceUnits, type TraceUnit } from '../otlp/file.js';
import type { DecodedBatch } from '../otlp/span.js';
import { AnalysisUnpacker, asBuffer, type FromWorker, type SharedRawUnit, type ToWorker, type WorkerSetup } from './protocol.js';
import { mergeKeyed, shardSpans, type KeyedAnalysis } from './shard.js';

/** Input read before the workers start; smaller inputs never start them. */
export const PARALLEL_MIN_BYTES = 16 * 1024 * 1024;
/** Units posted but not yet merged, at most: bounds the memory the workers' lag can hold. */
const MAX_IN_FLIGHT = 64;

export interface ShardedFilesResult {
  rollups: RollupSet;
  lateSpans: number;
}

/** A unit kept on this thread: decoded, or raw with its bytes copied to shared memory. */
type HeldUnit = DecodedBatch | (SharedRawUnit & { slab: Slab });

const SLAB_BYTES = 8 * 1024 * 1024;

interface Slab {
  memory: SharedArrayBuffer;
  used: number;
  /** Units in it not merged yet. */
  units: number;
}

/**
 * Shared memory for the units in flight, in slabs reused once every unit in them is merged, rather
 * than a new zero-filled SharedArrayBuffer (external memory V8 counts towards its GC limits) per
 * message. A unit larger than a slab gets its own, dropped after use.
 */
class Slabs {
  readonly #free: Slab[] = [];
  #current: Slab | undefined;

  hold(unit: TraceUnit): { held: HeldUnit; bytes: number } {
    if (!isRawUnit(unit)) return { held: unit, bytes: unit.spans.length * 200 };
    const n = unit.bytes.length;
    let slab = this.#current;
    if (slab === undefined || slab.used + n > slab.memory.byteLength) {
      if (slab !== undefined && slab.units === 0 && slab.memory.byteLength === SLAB_BYTES) this.#free.push(slab);
      slab = n > SLAB_BYTES ? { memory: new SharedArrayBuffer(n), used: 0, units: 0 } : (this.#free.pop() ?? { memory: new SharedArrayBuffer(SLAB_BYTES), used: 0, units: 0 });
      slab.used = 0;
      this.#current = slab;
    }
    const bytes = new Uint8Array(slab.memory, slab.used, n);
    bytes.set(unit.bytes);
    slab.used += n;
    slab.units++;
    return { held: { ...unit, bytes, slab }, bytes: n };
  }

  release(slab: Slab): void {
    if (--slab.units === 0 && slab !== this.#current && slab.memory.byteLength === SLAB_BYTES) this.#free.push(slab);
  }
}

/**
 * Analyses the files with `jobs` shards (see the module comment). `detect.links` must come from
 * `schemaPath`, which the workers load themselves.
 */
export async function analyseFilesSharded(
  files: readonly string[], detect: DetectOptions, schemaPath: string | undefined, jobs: number, minBytes = PARALLEL_MIN_BYTES,
): Promise<ShardedFilesResult> {
  const units = (async function* (): AsyncGenerator<TraceUnit> {
    for (const file of files) yield* readTraceUnits(file);
  })();
  // Read ahead until the input proves big enough for workers.
  const slabs = new Slabs();
  const held: HeldUnit[] = [];
  let heldBytes = 0;
  let ended = false;
  for (;;) {
    const next = await units.next();
    if (next.done) {
      ended = true;
      break;
    }
    const h = slabs.hold(next.value);
    held.push(h.held);
    heldBytes += h.bytes;
    if (jobs > 1 && heldBytes >= minBytes) break;
  }
  if (ended) return analyseHere(held, detect);
  return new ShardPool(jobs, detect, schemaPath, slabs).run(held, units);
}

/** The --jobs 1 pipeline over units already read. */
function analyseHere(held: HeldUnit[], detect: DetectOptions): ShardedFilesResult {
  const offline = new OfflineAnalysis(detect);
  const decoders = createUnitDecoders();
  for (const unit of held) offline.addUnit('raw' in unit ? asBuffer(unit) : unit, decoders);
  const rollups = offline.finish();
  return { rollups, lateSpans: offline.analyzer.assembler.counters.lateSpans };
}

/** The error --jobs 1 reports for a unit some shard could not decode: the unit decoded whole, as it would be there. */
function wholeUnitError(unit: SharedRawUnit): Error {
  try {
    decodeUnit(asBuffer(unit), createUnitDecoders());
  } catch (error) {
    return error as Error;
  }
  return new Error(`${unit.file}: a shard could not decode a unit that decodes whole`);
}

interface Pending {
  /** Per shard: its keyed requests, or 'failed' when the unit did not decode there. */
  results: (KeyedAnalysis[] | 'failed' | undefined)[];
  waiting: number;
  /** The raw unit, to decode whole for the exact error if a shard failed. */
  raw?: SharedRawUnit & { slab: Slab };
}

class ShardPool {
  readonly #jobs: number;
  readonly #slabs: Slabs;
  readonly #workers: Worker[] = [];
  /** Per worker (its shard): the tables its packed analyses refer to. */
  readonly #unpackers: AnalysisUnpacker[] = [];
  readonly #rollups = new RollupSet();
  readonly #pending = new Map<number, Pending>();
  #posted = 0;
  #merged = 0;
  #finished: KeyedAnalysis[][] = [];
  #lateSpans = 0;
  #failure: Error | undefined;
  #wake: (() => void) | undefined;

  constructor(jobs: number, detect: DetectOptions, schemaPath: string | undefined, slabs: Slabs) {
    this.#jobs = jobs;
    this.#slabs = slabs;
    const { links: _links, noiseFilter: _noise, ...cloneable } = detect;
    for (let shard = 0; shard < jobs; shard++) {
      const setup: WorkerSetup = { shard, shards: jobs, detect: cloneable, ...(schemaPath === undefined ? {} : { schemaPath }) };
      const worker = new Worker(new URL('./worker.js', import.meta.url), { workerData: setup });
      worker.on('message', (message: FromWorker) => this.#receive(shard, message));
      worker.on('error', (error) => this.#fail(error));
      worker.on('exit', (code) => {
        if (code !== 0) this.#fail(new Error(`n1-report worker ${shard} exited with code ${code}`));
      });
      this.#workers.push(worker);
      this.#unpackers.push(new AnalysisUnpacker());
    }
  }

  async run(held: HeldUnit[], rest: AsyncGenerator<TraceUnit>): Promise<ShardedFilesResult> {
    try {
      let readError: unknown;
      try {
        for (const unit of held) this.#post(unit);
        held.length = 0;
        // After a unit fails, read no further: its error is the one to report.
        while (this.#failure === undefined) {
          const next = await rest.next();
          if (next.done) break;
          this.#post(this.#slabs.hold(next.value).held);
          while (this.#posted - this.#merged > MAX_IN_FLIGHT) await this.#progress();
        }
      } catch (error) {
        // A reading error comes after every unit already read, whose own errors come first.
        readError = error;
      }
      while (this.#merged < this.#posted) await this.#progress();
      if (readError !== undefined) throw readError;
      for (const worker of this.#workers) worker.postMessage({ finish: true } satisfies ToWorker);
      while (this.#finished.length < this.#jobs) await this.#progress();
      for (const k of mergeKeyed(this.#finished)) this.#rollups.add(k.analysis);
      return { rollups: this.#rollups, lateSpans: this.#lateSpans };
    } finally {
      await Promise.all(this.#workers.map((w) => w.terminate()));
    }
  }

  /** Posts one unit to the workers: raw units whole (each decodes its shard), decoded ones split by shard. */
  #post(unit: HeldUnit): void {
    const index = this.#posted++;
    const pending: Pending = { results: new Array(this.#jobs).fill(undefined), waiting: this.#jobs };
    this.#pending.set(index, pending);
    if ('raw' in unit) {
      pending.raw = unit;
      const { slab: _slab, ...raw } = unit;
      for (const worker of this.#workers) worker.postMessage({ unit: index, raw } satisfies ToWorker);
    } else {
      this.#workers.forEach((worker, shard) => worker.postMessage({ unit: index, spans: shardSpans(unit.spans, shard, this.#jobs) } satisfies ToWorker));
    }
  }

  #receive(shard: number, message: FromWorker): void {
    if ('fatal' in message) this.#fail(new Error(`n1-report worker ${shard}: ${message.fatal}`));
    else if ('finished' in message) {
      this.#finished.push(this.#unpackers[shard]!.unpack(message.finished));
      this.#lateSpans += message.lateSpans;
    } else this.#settle(message.unit, shard, 'failed' in message ? 'failed' : this.#unpackers[shard]!.unpack(message.packed));
    this.#wake?.();
  }

  #settle(index: number, shard: number, result: KeyedAnalysis[] | 'failed'): void {
    const pending = this.#pending.get(index);
    if (pending === undefined) return;
    pending.results[shard] = result;
    pending.waiting--;
    // Merge every unit whose shards have all answered, in order.
    for (let p = this.#pending.get(this.#merged); p !== undefined && p.waiting === 0; p = this.#pending.get(this.#merged)) {
      if (p.results.includes('failed')) {
        this.#fail(wholeUnitError(p.raw!));
        return;
      }
      for (const k of mergeKeyed(p.results as KeyedAnalysis[][])) this.#rollups.add(k.analysis);
      if (p.raw !== undefined) this.#slabs.release(p.raw.slab);
      this.#pending.delete(this.#merged);
      this.#merged++;
    }
  }

  #fail(error: Error): void {
    this.#failure ??= error;
    this.#wake?.();
  }

  /** Waits for a worker message (or a failure, thrown). */
  async #progress(): Promise<void> {
    if (this.#failure !== undefined) throw this.#failure;
    await new Promise<void>((resolve) => (this.#wake = resolve));
    this.#wake = undefined;
    if (this.#failure !== undefined) throw this.#failure;
  }
}
