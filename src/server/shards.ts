/**
 * `serve --workers N`: the serving thread's side of N shard threads. Each export is split by trace
 * (otlp/split.ts) and each piece goes to the thread that owns its traces, which runs a whole Intake
 * for them (shard-thread.ts): admission, open traces, analysis and its own connection to the store.
 * Once every piece is taken, the export is spooled here, whole and as it came, and acknowledged when
 * it is on disk; a spool segment is deleted once every shard has given back the pieces it holds.
 */
import { appendFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker, type ResourceLimits } from 'node:worker_threads';
import { OtlpDecodeError } from '../otlp/errors.js';
import { createExportSplitter, type ExportSplitter } from '../otlp/split.js';
import type { Spool, SpoolEncoding } from '../spool/index.js';
import type { DjangoSchema } from '../suggest/schema.js';
import { baseRetryFor, retryDelayMs } from '../traces/admission.js';
import { spooledBody, type CompressedBody } from './body.js';
import { BodiesInFlight, IN_FLIGHT_SHARE_OF_MEMORY, UNCOUNTED_BODY, type BodyInFlight } from './inflight.js';
import { rawExport, recordedLine, REFUSAL_TEXT, spoolFullRetryMs, type AcceptResult, type ExportIntake, type Refusal, type RefusedResult, type ReplayTotals, type Transport } from './intake.js';
import { shardedMetricsText, type MetricsJson, type ServerMetrics } from './metrics.js';
import { segmentsWanted, spoolSegmentCopier, type CopySegmentsApart } from './spool-compaction.js';
import type { PieceResult, Settle, ShardAnalysisSettings, ShardAnswer, ShardCall, ShardLimits, ShardReplayed, ShardThreadData } from './shard-protocol.js';
import type { WarmUpPlan } from './warm-up.js';

export interface ShardedIntakeOptions {
  shards: number;
  db: string;
  storeWriterThread: boolean;
  analysis: ShardAnalysisSettings;
  /** The whole server's limits; each shard gets its share of --max-traces, --max-buffer-mib and --memory-limit-mib. */
  limits: ShardLimits;
  schema?: DjangoSchema;
  /** Durable intake: every export is in it, whole, before it is acknowledged. */
  spool?: Spool;
  warmUp?: WarmUpPlan;
  metrics: ServerMetrics;
  recordPath?: string;
  /** Each shard thread's heap. */
  resourceLimits?: ResourceLimits;
  /** A shard thread stopped (a crash, its heap limit): the server cannot go on without its traces. */
  onFailure(message: string): void;
}

/** Measured memory is per thread: a shard's share of the default (--max-buffer-mib + 128 MiB) keeps the 128 MiB for each. */
const IDLE_HEAP_BYTES = 128 * 1024 * 1024;
/** Spooled exports read back and sent to the shards at once during a replay. */
const REPLAY_WINDOW = 16;
/**
 * Settles wait this long for another call to the same shard to carry them: a postMessage round trip
 * that wakes the other thread cost the test VM 28-73 µs of CPU (bench/post-message.mjs).
 */
const SETTLE_DELAY_MS = 5;
/**
 * How long the serving thread waits for the other shards' copyApart asks before a pass (each shard's
 * ticks are at most a second apart); at most a sixth of the maximum trace age (half a shard's round).
 */
const COPY_GATHER_MS = 1500;
type CopyAsk = Extract<ShardAnswer, { op: 'copyApart' }>;
/** How often segments every shard gave back are deleted, besides each give-back (a segment is deleted only once sealed). */
const SPOOL_SWEEP_MS = 1000;

type Done = Extract<ShardAnswer, { op: 'done' }>['value'];
type Accepted = Extract<ShardAnswer, { op: 'accepted' }>;

interface Pending {
  answered(answer: Accepted | Extract<ShardAnswer, { op: 'done' }>): void;
  fail(error: Error): void;
}

export class ShardedIntake implements ExportIntake {
  readonly #workers: Worker[];
  readonly #openTraces: Int32Array;
  /** Each shard's memory as it last measured it (ShardThreadData.pastMemory). */
  readonly #pastMemory: Int32Array;
  /**
   * The bodies of exports not answered yet, read on this thread, within their share of the whole
   * process's memory limit (every shard's added up): no shard measures this thread's memory.
   */
  readonly #bodies: BodiesInFlight;
  readonly #options: ShardedIntakeOptions;
  readonly #spool: Spool | undefined;
  readonly #pending = new Map<number, Pending>();
  readonly #retryMs: number;
  readonly #split = createExportSplitter();
  /** Copies shards' long-open traces out of the segments they pin (their copyApart). */
  readonly #copier: CopySegmentsApart | undefined;
  /** Shards' copyApart asks waiting for the next pass (#copyPasses). */
  readonly #copyAsks: { shard: number; ask: CopyAsk }[] = [];
  #copyPass: Promise<void> | undefined;
  /** Pieces of each spool segment some shard took and has not given back: the segment is kept while any are left. */
  readonly #held = new Map<number, number>();
  /** The spool's oldestSegmentMs the shards were last told (they forget committed traces by it). */
  #floorSent = Number.NEGATIVE_INFINITY;
  readonly #sweep: NodeJS.Timeout;
  /** Per shard, the settles the next call to it carries. */
  readonly #settles: Settle[][];
  #settleTimer: NodeJS.Timeout | undefined;
  #nextId = 1;
  #closing = false;
  #failed = false;

  private constructor(workers: Worker[], openTraces: Int32Array, pastMemory: Int32Array, memoryLimitBytes: number, options: ShardedIntakeOptions) {
    this.#workers = workers;
    this.#openTraces = openTraces;
    this.#pastMemory = pastMemory;
    this.#bodies = new BodiesInFlight(memoryLimitBytes * IN_FLIGHT_SHARE_OF_MEMORY, options.metrics.requestBytesInFlight);
    this.#options = options;
    this.#spool = options.spool;
    this.#copier = options.spool === undefined ? undefined : spoolSegmentCopier(options.spool);
    this.#retryMs = baseRetryFor(options.analysis.traceWaitMs ?? 2000);
    this.#settles = workers.map(() => []);
    workers.forEach((worker, index) => {
      worker.on('message', (answer: ShardAnswer) => this.#answered(answer, index));
      worker.on('error', (e: NodeJS.ErrnoException) => this.#stopped(index, e.code === 'ERR_WORKER_OUT_OF_MEMORY' ? 'its heap reached its limit' : (e.message ?? String(e)).split('\n')[0]!));
      worker.on('exit', (code) => this.#stopped(index, `exit code ${code}`));
    });
    this.#sweep = setInterval(() => this.#deleteGivenBack(), SPOOL_SWEEP_MS);
    this.#sweep.unref();
  }

  /** Starts the shard threads and resolves once each has opened its store (and warmed up); rejects with the first one's failure. */
  static async start(options: ShardedIntakeOptions): Promise<ShardedIntake> {
    const n = options.shards;
    const shared = new SharedArrayBuffer(4 * n);
    const pastMemory = new SharedArrayBuffer(4 * n);
    const { maxOpenTraces, maxBufferBytes, memoryLimitBytes } = options.limits;
    const bufferShare = Math.floor((maxBufferBytes ?? 256 * 1024 * 1024) / n);
    const memoryShare = memoryLimitBytes === undefined ? bufferShare + IDLE_HEAP_BYTES : Math.floor(memoryLimitBytes / n);
    const limits: ShardLimits = {
      ...options.limits,
      maxOpenTraces: Math.ceil((maxOpenTraces ?? 50_000) / n),
      maxBufferBytes: bufferShare,
      memoryLimitBytes: memoryShare,
    };
    // serve runs from dist/ (bin/n1lens.js), where the thread's module sits beside this one.
    const script = new URL('./shard-thread.js', import.meta.url);
    const workers: Worker[] = [];
    const ready: Promise<void>[] = [];
    for (let index = 0; index < n; index++) {
      const data: ShardThreadData = {
        index,
        db: options.db,
        storeWriterThread: options.storeWriterThread,
        analysis: options.analysis,
        limits,
        spooled: options.spool !== undefined,
        openTraces: shared,
        pastMemory,
        ...(options.schema === undefined ? {} : { schema: options.schema }),
        ...(options.warmUp === undefined ? {} : { warmUp: options.warmUp }),
      };
      const worker = new Worker(script, { workerData: data, ...(options.resourceLimits === undefined ? {} : { resourceLimits: options.resourceLimits }) });
      workers.push(worker);
      ready.push(
        new Promise<void>((resolve, reject) => {
          worker.on('error', (e) => reject(new Error((e.message ?? String(e)).split('\n')[0])));
          worker.on('exit', (code) => reject(new Error(`shard thread ${index} exited (code ${code}) before it was ready`)));
          worker.once('message', (a: ShardAnswer) => (a.op === 'ready' ? resolve() : reject(new Error(`shard thread ${index} answered before it was ready`))));
        }),
      );
    }
    try {
      await Promise.all(ready);
    } catch (e) {
      await Promise.all(workers.map((w) => w.terminate()));
      throw e;
    }
    for (const w of workers) {
      w.removeAllListeners('error');
      w.removeAllListeners('exit');
    }
    return new ShardedIntake(workers, new Int32Array(shared), new Int32Array(pastMemory), memoryShare * n, options);
  }

  get openTraces(): number {
    let n = 0;
    for (let i = 0; i < this.#openTraces.length; i++) n += Atomics.load(this.#openTraces, i);
    return n;
  }

  /**
   * As one intake: a body within the bodies-in-flight budget, a large one refused unread while a
   * shard is past its memory limit with traces open (most exports have a piece for every shard).
   */
  startBody(transport: Transport): BodyInFlight {
    return this.#bodies.start(
      () => this.#memoryRefusal(transport),
      () => this.#fullestPastMemory() > 0,
    );
  }

  /** The largest fullness (in thousandths) of the shards past their memory limit; 0 when none is. */
  #fullestPastMemory(): number {
    let full = 0;
    for (let i = 0; i < this.#pastMemory.length; i++) full = Math.max(full, Atomics.load(this.#pastMemory, i));
    return full;
  }

  #memoryRefusal(transport: Transport): RefusedResult {
    const retryAfterMs = retryDelayMs(this.#fullestPastMemory() / 1000, { maxTraces: 1, maxBytes: 1, baseRetryMs: this.#retryMs }, Math.random);
    return this.#refuse(transport, { ok: false, reason: 'memory', retryAfterMs, message: REFUSAL_TEXT.memory });
  }

  acceptProtobuf(body: Uint8Array, transport: Transport, recordLine?: () => string, compressed?: CompressedBody): Promise<AcceptResult> {
    return this.#dispatch('protobuf', body, transport, recordLine, compressed);
  }

  acceptJson(body: Buffer, transport: Transport, recordLine?: () => string, compressed?: CompressedBody): Promise<AcceptResult> {
    return this.#dispatch('json', body, transport, recordLine, compressed);
  }

  async #dispatch(encoding: SpoolEncoding, body: Uint8Array, transport: Transport, recordLine: (() => string) | undefined, compressed: CompressedBody | undefined): Promise<AcceptResult> {
    if (this.#closing) return this.#refuse(transport, { ok: false, reason: 'closing', retryAfterMs: this.#retryMs, message: REFUSAL_TEXT.closing });
    const line = this.#options.recordPath === undefined || recordLine === undefined ? undefined : recordedLine(recordLine);
    const raw = rawExport(encoding, body, compressed);
    const spoolFull = this.#spool?.wouldOverflow(raw.body.length) ?? false;
    const targets = piecesOf(this.#split, encoding, body, this.#workers.length);
    const calls = targets.map(({ shard, piece, moved }) => {
      const id = this.#nextId++;
      return this.#call<Accepted>(shard, { id, op: 'accept', encoding, transport, body: piece, spoolFull }, moved).then((answer) => ({ shard, id, answer }));
    });
    const answers = await Promise.all(calls);
    const taken = answers.filter((a) => a.answer.result?.ok === true);
    /** The pieces taken of an export that is not spooled after all: unpinned at once. */
    const unsettle = (): void => {
      for (const t of taken) this.#settle(t.shard, t.id, undefined);
    };
    const broken = answers.find((a) => a.answer.decodeError !== undefined || a.answer.error !== undefined);
    if (broken !== undefined) {
      unsettle();
      if (broken.answer.decodeError !== undefined) throw new OtlpDecodeError(broken.answer.decodeError);
      throw new Error(broken.answer.error);
    }
    let refusal: (Extract<PieceResult, { ok: false }> & { shard: number }) | undefined;
    for (const a of answers) {
      const r = a.answer.result!;
      if (!r.ok && (refusal === undefined || r.retryAfterMs > refusal.retryAfterMs)) refusal = { ...r, shard: a.shard };
    }
    if (refusal !== undefined) {
      unsettle();
      // The client's queue waits behind the refused export in every shard, when the shard that refused
      // held its own for it as one intake would (not when short of memory, nor for a full spool).
      if (answers.some((a) => a.answer.result?.ok === false && a.answer.result.heldQueue === true)) {
        this.#workers.forEach((_, shard) => {
          if (!answers.some((a) => a.shard === shard && a.answer.result?.ok === false)) this.#post(shard, { id: 0, op: 'hold', retryAfterMs: refusal.retryAfterMs });
        });
      }
      const { shard: _shard, heldQueue: _held, ...result } = refusal;
      return this.#refuse(transport, { ...result, reason: result.reason as Refusal });
    }
    let durable: Promise<void> = Promise.resolve();
    if (this.#spool !== undefined) {
      // Other exports may have filled it during the shards' round trip (one intake checks and appends at once).
      if (this.#spool.wouldOverflow(raw.body.length)) {
        unsettle();
        return this.#refuse(transport, { ok: false, reason: 'spool_full', retryAfterMs: spoolFullRetryMs(this.#retryMs, Math.random), message: REFUSAL_TEXT.spool_full });
      }
      const appended = this.#spool.append(raw.encoding, raw.body, raw.compression);
      durable = appended.durable;
      for (const t of taken) {
        this.#held.set(appended.segment, (this.#held.get(appended.segment) ?? 0) + 1);
        this.#settle(t.shard, t.id, appended.segment);
      }
      this.#options.metrics.spoolBytes.set(this.#spool.bytes);
    }
    this.#options.metrics.exportsAccepted.inc({ transport });
    const accepted = answers.reduce((n, a) => n + (a.answer.result as Extract<PieceResult, { ok: true }>).accepted, 0);
    this.#options.metrics.spansReceived.inc({ transport }, accepted);
    if (this.#options.recordPath !== undefined && line !== undefined) appendFileSync(this.#options.recordPath, `${line}\n`);
    const rejected = rejectedSpans(answers.map((a) => a.answer.result as Extract<PieceResult, { ok: true }>));
    return { ok: true, accepted, ...rejected, durable };
  }

  #refuse(transport: Transport, refusal: RefusedResult): RefusedResult {
    this.#options.metrics.exportsRefused.inc({ transport, reason: refusal.reason });
    return refusal;
  }

  /** Sends a call, with the settles waiting for its shard. */
  #post(shard: number, call: ShardCall, moved: ArrayBuffer[] = []): void {
    const settles = this.#settles[shard]!;
    if (settles.length > 0) {
      call.settles = settles.splice(0);
    }
    this.#workers[shard]!.postMessage(call, moved);
  }

  /** Tells a shard where an accepted piece's export is, with its next call or after SETTLE_DELAY_MS. */
  #settle(shard: number, piece: number, segment: number | undefined): void {
    this.#settles[shard]!.push([piece, segment]);
    if (this.#settleTimer !== undefined) return;
    this.#settleTimer = setTimeout(() => {
      this.#settleTimer = undefined;
      this.#settles.forEach((waiting, s) => waiting.length > 0 && this.#post(s, { id: 0, op: 'settle' }));
    }, SETTLE_DELAY_MS);
    this.#settleTimer.unref();
  }

  /** Sends a call and resolves with its answer. */
  #call<A extends Accepted | Extract<ShardAnswer, { op: 'done' }>>(shard: number, call: ShardCall, moved: ArrayBuffer[] = []): Promise<A> {
    return new Promise<A>((resolve, reject) => {
      if (this.#failed) {
        reject(new Error('a shard thread stopped'));
        return;
      }
      this.#pending.set(call.id, { answered: (a) => resolve(a as A), fail: reject });
      this.#post(shard, call, moved);
    });
  }

  #answered(answer: ShardAnswer, shard: number): void {
    if (answer.op === 'ready') return;
    if (answer.op === 'copyApart') {
      void this.#copyApartFor(shard, answer);
      return;
    }
    if (answer.op === 'giveBack') {
      this.#giveBack(answer.segment, answer.pieces);
      return;
    }
    const pending = this.#pending.get(answer.id);
    if (pending === undefined) return;
    this.#pending.delete(answer.id);
    pending.answered(answer);
  }

  /** A shard's CopyApart (server/spool-compaction.ts): gathered with the other shards' into one pass. */
  #copyApartFor(shard: number, ask: CopyAsk): void {
    this.#copyAsks.push({ shard, ask });
    this.#copyPass ??= this.#copyPasses().finally(() => (this.#copyPass = undefined));
  }

  /**
   * Copies for every shard that asked within COPY_GATHER_MS (their rounds start in the same period of
   * the clock) in one pass, so each segment is read and inflated once, not once per shard. The copy's
   * segment is held as a piece of each shard that asked while its write is pending, so that no sweep
   * takes it before they pin it; each is answered once it is on disk (nothing copied when that
   * failed, or when closing).
   */
  async #copyPasses(): Promise<void> {
    await sleep(Math.min(COPY_GATHER_MS, (this.#options.analysis.maxTraceAgeMs ?? 30_000) / 6));
    while (this.#copyAsks.length > 0) {
      const asks = this.#copyAsks.splice(0);
      let from: readonly number[] = [];
      let segment: number | undefined;
      try {
        if (this.#copier !== undefined && !this.#closing) {
          const copied = await this.#copier(segmentsWanted(asks.map((a) => a.ask)));
          if (copied.segment !== undefined) {
            segment = copied.segment;
            this.#held.set(segment, (this.#held.get(segment) ?? 0) + asks.length);
            await copied.durable;
          }
          from = copied.from;
        }
      } catch {
        if (segment !== undefined) this.#giveBack(segment, asks.length);
        from = [];
        segment = undefined;
      } finally {
        // Every ask is answered, whatever happened: a shard's tick and close wait for it.
        for (const { shard, ask } of asks) {
          const copied = from.filter((s) => ask.segments.includes(s));
          this.#post(shard, { id: 0, op: 'copiedApart', request: ask.request, from: copied, ...(segment === undefined ? {} : { segment }) });
        }
      }
    }
  }

  /** A shard no longer holds these pieces of `segment`. */
  #giveBack(segment: number, pieces: number): void {
    const left = (this.#held.get(segment) ?? 0) - pieces;
    if (left > 0) this.#held.set(segment, left);
    else this.#held.delete(segment);
    this.#deleteGivenBack();
  }

  /** Deletes the sealed segments no shard holds pieces of. */
  #deleteGivenBack(): void {
    const spool = this.#spool;
    if (spool === undefined) return;
    spool.deleteWhere((segment) => !this.#held.has(segment), { background: !this.#closing });
    this.#options.metrics.spoolBytes.set(spool.bytes);
    // Only segments going move it, which this sweep (or the next, once unlinked) sees.
    const floor = spool.oldestSegmentMs;
    if (floor !== this.#floorSent && !this.#failed) {
      this.#floorSent = floor;
      this.#workers.forEach((_, shard) => this.#post(shard, { id: 0, op: 'spoolFloor', oldestSegmentMs: floor }));
    }
  }

  #stopped(index: number, why: string): void {
    if (this.#failed) return;
    this.#failed = true;
    const error = new Error(`shard thread ${index} stopped: ${why}`);
    for (const p of this.#pending.values()) p.fail(error);
    this.#pending.clear();
    this.#options.onFailure(error.message);
  }

  /** One call to every shard thread, answered with each one's value. */
  #all<T extends Done>(op: 'replayStart' | 'replayEnd' | 'tick' | 'metrics' | 'close'): Promise<T[]> {
    return Promise.all(this.#workers.map((_, shard) => this.#call<Extract<ShardAnswer, { op: 'done' }>>(shard, { id: this.#nextId++, op }).then((a) => a.value as T)));
  }

  /**
   * Reads back what the spool kept of the last run (whatever --workers it ran with) and sends each
   * shard its pieces, as live intake does; a shard holds what came back as one intake would.
   */
  async replay(): Promise<ReplayTotals> {
    const spool = this.#spool;
    const totals: ReplayTotals = { exports: 0, spans: 0, skipped: 0 };
    if (spool === undefined) return totals;
    for (const shard of this.#workers.keys()) this.#post(shard, { id: 0, op: 'replayStart' });
    let window: Promise<void>[] = [];
    for (const record of spool.replay()) {
      let body: Buffer;
      try {
        body = await spooledBody(record);
      } catch {
        continue;
      }
      const pieces = piecesOf(this.#split, record.encoding, body, this.#workers.length).map(({ shard, piece, moved }) => {
        this.#held.set(record.segment, (this.#held.get(record.segment) ?? 0) + 1);
        const id = this.#nextId++;
        return this.#call<Extract<ShardAnswer, { op: 'done' }>>(shard, { id, op: 'replayPiece', segment: record.segment, encoding: record.encoding, body: piece }, moved);
      });
      window.push(
        Promise.all(pieces).then((answers) => {
          // Counted as one intake counts it: an export whose bytes still decode.
          if (answers.every((a) => a.value === true)) totals.exports++;
        }),
      );
      if (window.length >= REPLAY_WINDOW) {
        await Promise.all(window);
        window = [];
      }
    }
    await Promise.all(window);
    let reopened = 0;
    for (const t of await this.#all<ShardReplayed>('replayEnd')) {
      totals.spans += t.spans;
      totals.skipped += t.skipped;
      reopened += t.reopened;
    }
    // As one intake holds every trace once its replay brought any back, whichever shard they are in.
    if (reopened > 0) for (const shard of this.#workers.keys()) this.#post(shard, { id: 0, op: 'holdAfterReplay' });
    return totals;
  }

  async tick(): Promise<boolean> {
    return (await this.#all<boolean>('tick')).every(Boolean);
  }

  /** /metrics: the serving thread's own and every shard's, as one exposition. */
  async metricsText(): Promise<string> {
    return shardedMetricsText(this.#options.metrics, await this.#all<MetricsJson>('metrics'));
  }

  /**
   * Each shard analyses what it holds, writes it and gives back its pieces; then the spool is closed,
   * and what every shard gave back is deleted (what a shard could not write stays for the next start).
   */
  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    clearInterval(this.#sweep);
    // The close calls carry the settles still waiting.
    clearTimeout(this.#settleTimer);
    this.#settleTimer = undefined;
    try {
      await this.#all<undefined>('close');
    } finally {
      // Everything is written and closed by now (or a shard failed, and said so): only the threads' event loops are left.
      this.#failed = true;
      await Promise.all(this.#workers.map((w) => w.terminate()));
      if (this.#spool !== undefined) {
        await this.#spool.close();
        this.#deleteGivenBack();
      }
    }
  }
}

/** One shard's piece of an export, in a buffer of its own to move to the shard thread. */
interface Piece {
  shard: number;
  piece: Uint8Array;
  moved: ArrayBuffer[];
}

/**
 * Each shard's piece of an export: an export without spans, or one the split cannot read, goes
 * whole to the first shard, whose decoder answers it as one intake would. Every piece is moved to
 * its shard in a buffer of its own (`moved`): the split's own, else a copy. Posting a view would
 * clone its whole buffer (a replayed record is a view of its 8 MiB segment), and moving rather than
 * cloning took 11 % off the serving thread's CPU (bench/README.md). The body itself is never moved:
 * the spool still needs it.
 */
function piecesOf(split: ExportSplitter, encoding: SpoolEncoding, body: Uint8Array, shards: number): Piece[] {
  const targets: Piece[] = [];
  const place = (shard: number, piece: Uint8Array): void => {
    const own = piece !== body && ownsBuffer(piece) ? piece : new Uint8Array(piece);
    targets.push({ shard, piece: own, moved: [own.buffer as ArrayBuffer] });
  };
  split(encoding, body, shards)?.forEach((piece, shard) => piece !== undefined && place(shard, piece));
  if (targets.length === 0) place(0, body);
  return targets;
}

/**
 * The serving thread's own part of ShardedIntake, without shard threads, for serve's start-up warm-up
 * (warm-up.ts): each export split and its pieces made as for the shards, then spooled, so the first
 * burst meets compiled split and spool code. Decoding and analysis are the shards' (each warms its
 * own intake); this thread never runs them, so it no longer warms them.
 */
export class SplitWarmUpIntake implements ExportIntake {
  readonly #shards: number;
  readonly #spool: Spool | undefined;
  readonly #split = createExportSplitter();
  /** Pieces made, for the warm-up's figures. */
  pieces = 0;

  constructor(shards: number, spool: Spool | undefined) {
    this.#shards = shards;
    this.#spool = spool;
  }

  readonly openTraces = 0;

  startBody(): BodyInFlight {
    return UNCOUNTED_BODY;
  }

  acceptProtobuf(body: Uint8Array, _transport: Transport, _recordLine?: () => string, compressed?: CompressedBody): Promise<AcceptResult> {
    return Promise.resolve(this.#take('protobuf', body, compressed));
  }

  acceptJson(body: Buffer, _transport: Transport, _recordLine?: () => string, compressed?: CompressedBody): Promise<AcceptResult> {
    return Promise.resolve(this.#take('json', body, compressed));
  }

  #take(encoding: SpoolEncoding, body: Uint8Array, compressed: CompressedBody | undefined): AcceptResult {
    this.pieces += piecesOf(this.#split, encoding, body, this.#shards).length;
    const raw = rawExport(encoding, body, compressed);
    const durable = this.#spool?.append(raw.encoding, raw.body, raw.compression).durable ?? Promise.resolve();
    return { ok: true, accepted: 0, rejected: 0, message: '', durable };
  }

  replay(): Promise<ReplayTotals> {
    return Promise.resolve({ exports: 0, spans: 0, skipped: 0 });
  }

  tick(): Promise<boolean> {
    return Promise.resolve(true);
  }

  /** Closes the spool, as every intake closes the spool it was given. */
  async close(): Promise<void> {
    await this.#spool?.close();
  }
}

/** A piece the split wrote into a buffer of its own (JSON pieces come from Buffer.from's pool). */
const ownsBuffer = (piece: Uint8Array): boolean => piece.byteOffset === 0 && piece.byteLength === piece.buffer.byteLength && piece.buffer instanceof ArrayBuffer;

/** The pieces' rejected spans as one intake reports them: a count per reason, summed across shards. */
function rejectedSpans(results: readonly Extract<PieceResult, { ok: true }>[]): { rejected: number; message: string } {
  let rejected = 0;
  const byReason = new Map<string, number>();
  for (const r of results) {
    rejected += r.rejected;
    if (r.message === '') continue;
    for (const part of r.message.replace(/^rejected spans: /, '').split(', ')) {
      const m = /^(\d+) (.*)$/.exec(part);
      if (m !== null) byReason.set(m[2]!, (byReason.get(m[2]!) ?? 0) + Number(m[1]));
    }
  }
  const message = byReason.size === 0 ? '' : `rejected spans: ${[...byReason].map(([reason, n]) => `${n} ${reason}`).join(', ')}`;
  return { rejected, message };
}
