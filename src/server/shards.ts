/**
 * `serve --workers N`: the serving thread's side of N shard threads. Each export is split by trace
 * (otlp/split.ts) and each piece goes to the thread that owns its traces, which runs a whole Intake
 * for them (shard-thread.ts): admission, its own spool directory, open traces, analysis and its own
 * connection to the store. The export is acknowledged when every piece is accepted and durable.
 */
import { appendFileSync } from 'node:fs';
import { Worker, type ResourceLimits } from 'node:worker_threads';
import { OtlpDecodeError } from '../otlp/errors.js';
import { createProtobufSplitter, splitJsonExport } from '../otlp/split.js';
import type { SpoolEncoding, SpoolOptions } from '../spool/index.js';
import { shardSpoolDir, type ExportSplitter } from '../spool/index.js';
import type { DjangoSchema } from '../suggest/schema.js';
import type { CompressedBody } from './body.js';
import type { AcceptResult, ExportIntake, Refusal, ReplayTotals, Transport } from './intake.js';
import { shardedMetricsText, type MetricsJson, type ServerMetrics } from './metrics.js';
import type { PieceResult, ShardAnswer, ShardCall, ShardIntakeSettings, ShardThreadData } from './shard-protocol.js';
import type { WarmUpPlan } from './warm-up.js';

export interface ShardedIntakeOptions {
  shards: number;
  db: string;
  storeWriterThread: boolean;
  /** The whole server's settings and limits; each shard gets its share of --max-traces, --max-buffer-mib, --memory-limit-mib and --spool-max-mib. */
  intake: ShardIntakeSettings;
  schema?: DjangoSchema;
  /** Each shard spools into `<dir>/shard-<k>-of-<N>` (spool/reshard.ts moves another layout's records there first). */
  spool?: Pick<SpoolOptions, 'dir' | 'maxBytes' | 'commitMs'>;
  warmUp?: WarmUpPlan;
  metrics: ServerMetrics;
  recordPath?: string;
  /** Each shard thread's heap. */
  resourceLimits?: ResourceLimits;
  /** A shard thread stopped while serving (a crash, its heap limit): the server cannot go on without its traces. */
  onFailure(message: string): void;
  /** The thread's module; tests running the TypeScript sources point it at the build. */
  script?: URL;
}

/** Measured memory is per thread: a shard's share of the default (--max-buffer-mib + 128 MiB) keeps the 128 MiB for each. */
const IDLE_HEAP_BYTES = 128 * 1024 * 1024;

interface Pending {
  accepted(answer: Extract<ShardAnswer, { op: 'accepted' | 'done' }>): void;
  durable?: (error: string | undefined) => void;
  failed(error: Error): void;
}

/** A shard thread's answer to an accepted piece, and its durability to come. */
interface PieceAnswer {
  answer: Extract<ShardAnswer, { op: 'accepted' }>;
  durable: Promise<void>;
}

/**
 * One export's pieces per shard (otlp/split.ts), as ShardedIntake and the spool's resharding take
 * them; undefined for a body the split cannot read, which then stays whole.
 */
export function createExportSplitter(): ExportSplitter {
  const splitProtobuf = createProtobufSplitter();
  return (encoding, body, shards) => {
    if (encoding === 'json') return splitJsonExport(body, shards);
    try {
      return splitProtobuf(body, shards);
    } catch {
      return undefined;
    }
  };
}

export class ShardedIntake implements ExportIntake {
  readonly #workers: Worker[];
  readonly #openTraces: Int32Array;
  readonly #metrics: ServerMetrics;
  readonly #record: string | undefined;
  readonly #pending = new Map<number, Pending>();
  readonly #retryMs: number;
  readonly #split = createExportSplitter();
  #nextId = 1;
  #closing = false;

  private constructor(workers: Worker[], openTraces: Int32Array, options: ShardedIntakeOptions) {
    this.#workers = workers;
    this.#openTraces = openTraces;
    this.#metrics = options.metrics;
    this.#record = options.recordPath;
    this.#retryMs = Math.max(1000, options.intake.traceWaitMs ?? 2000);
    workers.forEach((worker, index) => {
      worker.on('message', (answer: ShardAnswer) => this.#answered(answer));
      const stopped = (why: string): void => {
        if (this.#closing) return;
        const error = new Error(`shard thread ${index} stopped: ${why}`);
        for (const p of this.#pending.values()) p.failed(error);
        this.#pending.clear();
        options.onFailure(error.message);
      };
      worker.on('error', (e: NodeJS.ErrnoException) => stopped(e.code === 'ERR_WORKER_OUT_OF_MEMORY' ? 'its heap reached its limit' : (e.message ?? String(e)).split('\n')[0]!));
      worker.on('exit', (code) => stopped(`exit code ${code}`));
    });
  }

  /** Starts the shard threads and resolves once each has opened its store and spool (and warmed up); rejects with the first one's failure. */
  static async start(options: ShardedIntakeOptions): Promise<ShardedIntake> {
    const n = options.shards;
    const shared = new SharedArrayBuffer(4 * n);
    const { maxOpenTraces, maxBufferBytes, memoryLimitBytes } = options.intake;
    const bufferShare = Math.floor((maxBufferBytes ?? 256 * 1024 * 1024) / n);
    const intake: ShardIntakeSettings = {
      ...options.intake,
      maxOpenTraces: Math.ceil((maxOpenTraces ?? 50_000) / n),
      maxBufferBytes: bufferShare,
      memoryLimitBytes: memoryLimitBytes === undefined ? bufferShare + IDLE_HEAP_BYTES : Math.floor(memoryLimitBytes / n),
    };
    const script = options.script ?? new URL('./shard-thread.js', import.meta.url);
    const workers: Worker[] = [];
    const ready: Promise<void>[] = [];
    for (let index = 0; index < n; index++) {
      const data: ShardThreadData = {
        index,
        count: n,
        db: options.db,
        storeWriterThread: options.storeWriterThread,
        intake,
        openTraces: shared,
        ...(options.schema === undefined ? {} : { schema: options.schema }),
        ...(options.warmUp === undefined ? {} : { warmUp: options.warmUp }),
        ...(options.spool === undefined
          ? {}
          : { spool: { ...options.spool, dir: shardSpoolDir(options.spool.dir, index, n), ...(options.spool.maxBytes === undefined ? {} : { maxBytes: Math.floor(options.spool.maxBytes / n) }) } }),
      };
      const worker = new Worker(script, { workerData: data, ...(options.resourceLimits === undefined ? {} : { resourceLimits: options.resourceLimits }) });
      workers.push(worker);
      ready.push(
        new Promise<void>((resolve, reject) => {
          const fail = (e: Error): void => reject(new Error((e.message ?? String(e)).split('\n')[0]));
          worker.once('error', fail);
          worker.once('exit', (code) => reject(new Error(`shard thread ${index} exited (code ${code}) before it was ready`)));
          worker.once('message', (a: ShardAnswer) => {
            worker.off('error', fail);
            worker.removeAllListeners('exit');
            if (a.op === 'ready') resolve();
            else reject(new Error(`shard thread ${index} answered before it was ready`));
          });
        }),
      );
    }
    try {
      await Promise.all(ready);
    } catch (e) {
      await Promise.all(workers.map((w) => w.terminate()));
      throw e;
    }
    return new ShardedIntake(workers, new Int32Array(shared), options);
  }

  get shards(): number {
    return this.#workers.length;
  }

  get openTraces(): number {
    let n = 0;
    for (let i = 0; i < this.#openTraces.length; i++) n += Atomics.load(this.#openTraces, i);
    return n;
  }

  acceptProtobuf(body: Uint8Array, transport: Transport, recordLine?: () => string, compressed?: CompressedBody): Promise<AcceptResult> {
    return this.#dispatch('protobuf', body, this.#split('protobuf', body, this.#workers.length), transport, recordLine, compressed);
  }

  acceptJson(body: Buffer, transport: Transport, recordLine?: () => string, compressed?: CompressedBody): Promise<AcceptResult> {
    return this.#dispatch('json', body, this.#split('json', body, this.#workers.length), transport, recordLine, compressed);
  }

  async #dispatch(
    encoding: SpoolEncoding,
    body: Uint8Array,
    split: (Uint8Array | undefined)[] | undefined,
    transport: Transport,
    recordLine: (() => string) | undefined,
    compressed: CompressedBody | undefined,
  ): Promise<AcceptResult> {
    if (this.#closing) return this.#refuse(transport, { ok: false, reason: 'closing', retryAfterMs: this.#retryMs, message: 'n1lens is shutting down; retry against the next instance or later' });
    const targets: [number, Uint8Array][] = [];
    split?.forEach((piece, shard) => piece !== undefined && targets.push([shard, piece]));
    // An export without spans, or one the split could not read, goes whole to the first shard, whose
    // decoder answers it as one intake would (and names what is wrong with it).
    if (targets.length === 0) targets.push([0, body]);
    const whole = targets.length === 1 && targets[0]![1] === body;
    const calls = targets.map(([shard, piece]) =>
      this.#accept(shard, {
        op: 'accept',
        encoding,
        transport,
        body: piece,
        ...(whole && compressed !== undefined ? { compressed: { bytes: compressed.bytes, compression: compressed.compression } } : {}),
      }),
    );
    const pieces = await Promise.all(calls);
    const results: PieceResult[] = [];
    for (const { answer } of pieces) {
      if (answer.decodeError !== undefined) throw new OtlpDecodeError(answer.decodeError);
      if (answer.error !== undefined) throw new Error(answer.error);
      results.push(answer.result!);
    }
    // A piece refused: the client sends the whole export again, and the shards that took theirs drop the copies as duplicates.
    let refusal: Extract<PieceResult, { ok: false }> | undefined;
    for (const r of results) if (!r.ok && (refusal === undefined || r.retryAfterMs > refusal.retryAfterMs)) refusal = r;
    if (refusal !== undefined) return this.#refuse(transport, { ...refusal, reason: refusal.reason as Refusal });
    let rejected = 0;
    const reasons: string[] = [];
    for (const r of results) {
      if (!r.ok) continue;
      rejected += r.rejected;
      if (r.message !== '') reasons.push(r.message.replace(/^rejected spans: /, ''));
    }
    this.#metrics.exportsAccepted.inc({ transport });
    if (this.#record !== undefined && recordLine !== undefined) appendFileSync(this.#record, `${recordLine()}\n`);
    return {
      ok: true,
      rejected,
      message: reasons.length === 0 ? '' : `rejected spans: ${reasons.join(', ')}`,
      durable: Promise.all(pieces.map((p) => p.durable)).then(() => undefined),
    };
  }

  #refuse(transport: Transport, refusal: Extract<AcceptResult, { ok: false }>): AcceptResult {
    this.#metrics.exportsRefused.inc({ transport, reason: refusal.reason });
    return refusal;
  }

  /** Sends one piece; resolves with the shard's answer, and a promise of the piece being on disk. */
  #accept(shard: number, call: Omit<Extract<ShardCall, { op: 'accept' }>, 'id'>): Promise<PieceAnswer> {
    const id = this.#nextId++;
    let settleDurable!: (error: string | undefined) => void;
    const durable = new Promise<void>((resolve, reject) => {
      settleDurable = (error) => (error === undefined ? resolve() : reject(new Error(error)));
    });
    // Awaited only by an export whose pieces were all accepted.
    durable.catch(() => undefined);
    return new Promise<PieceAnswer>((resolve, reject) => {
      this.#pending.set(id, {
        accepted: (answer) => {
          const accepted = answer as Extract<ShardAnswer, { op: 'accepted' }>;
          // Only an accepted piece is followed by its durability.
          if (accepted.result?.ok === true) this.#pending.set(id, { accepted: () => undefined, durable: settleDurable, failed: (e) => settleDurable(e.message) });
          resolve({ answer: accepted, durable });
        },
        failed: reject,
      });
      this.#workers[shard]!.postMessage({ ...call, id } satisfies ShardCall);
    });
  }

  #answered(answer: ShardAnswer): void {
    if (answer.op === 'ready') return;
    const pending = this.#pending.get(answer.id);
    if (pending === undefined) return;
    if (answer.op === 'durable') {
      this.#pending.delete(answer.id);
      pending.durable?.(answer.error);
      return;
    }
    this.#pending.delete(answer.id);
    pending.accepted(answer);
  }

  /** One call to every shard thread, answered with each one's value. */
  #all<T>(op: 'replay' | 'tick' | 'metrics' | 'close'): Promise<T[]> {
    return Promise.all(
      this.#workers.map(
        (worker) =>
          new Promise<T>((resolve, reject) => {
            const id = this.#nextId++;
            this.#pending.set(id, { accepted: (a) => resolve((a as Extract<ShardAnswer, { op: 'done' }>).value as T), failed: reject });
            worker.postMessage({ id, op } satisfies ShardCall);
          }),
      ),
    );
  }

  async replay(): Promise<ReplayTotals> {
    const totals: ReplayTotals = { exports: 0, spans: 0, skipped: 0 };
    for (const t of await this.#all<ReplayTotals>('replay')) {
      totals.exports += t.exports;
      totals.spans += t.spans;
      totals.skipped += t.skipped;
    }
    return totals;
  }

  async tick(): Promise<boolean> {
    return (await this.#all<boolean>('tick')).every(Boolean);
  }

  /** /metrics: the serving thread's own and every shard's, as one exposition. */
  async metricsText(): Promise<string> {
    return shardedMetricsText(this.#metrics, await this.#all<MetricsJson>('metrics'));
  }

  /** Each shard analyses what it holds, writes it and closes its spool and store; then the threads end. */
  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    await this.#all<undefined>('close');
    // Everything is written and closed by now; only the threads' event loops are left.
    await Promise.all(this.#workers.map((w) => w.terminate()));
  }
}
