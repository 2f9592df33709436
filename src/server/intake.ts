/** The live pipeline behind both transports: accepts decoded batches, completes traces on a timer, writes findings in batched transactions. */
import { appendFileSync } from 'node:fs';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { Analyzer, inParts, type AnalyzerOptions, type ReleasedTrace } from '../analyzer.js';
import { releaseTimeline } from '../detect/request.js';
import type { CodeLocation, RequestAnalysis } from '../detect/types.js';
import { OtlpDecodeError } from '../otlp/errors.js';
import { createJsonDecoder, decodeJsonRequest } from '../otlp/json.js';
import { createLazyJsonReader, type LazyJsonReader, type LazyJsonScan, type SpanSizes } from '../otlp/json-lazy.js';
import { createWireDecoder, type SinkBatch, type WireDecoder } from '../otlp/wire/decoder.js';
import type { DbSpanFields, DecodedBatch, SpanRecord, SpanSink, TraceId } from '../otlp/span.js';
import { SegmentPins, type Spool, type SpoolCompression, type SpoolEncoding, type SpoolRecord } from '../spool/index.js';
import type { RowBatchBuilder } from '../store/rows.js';
import type { Store } from '../store/store.js';
import type { AwaitedCall, OutsideQueries } from '../traces/assemble.js';
import { estimateDbSpanBytes, estimateSpanBytes, type BatchSurvey } from '../traces/assembler.js';
import { baseRetryFor, decideAdmission, fullness, retryDelayMs, type Admission, type AdmissionLimits, type RefusalReason } from '../traces/admission.js';
import { spooledBody, type CompressedBody } from './body.js';
import { fullCollection, heapAndExternal } from './heap.js';
import { BodiesInFlight, IN_FLIGHT_SHARE_OF_MEMORY, type BodyInFlight } from './inflight.js';
import type { ServerMetrics } from './metrics.js';
import type { CopyApart } from './spool-compaction.js';

export interface IntakeOptions extends AnalyzerOptions {
  store: Store;
  /** Estimated bytes of buffered spans at which exports are refused. Default 256 MiB. */
  maxBufferBytes?: number;
  /**
   * Durable intake: each export is on disk before it is acknowledged; replay() reads it back. A shard
   * of `serve --workers` gets the serving thread's spool as a ShardSpool (shard-spool.ts).
   */
  spool?: IntakeSpool;
  /**
   * Note each committed trace in the store, so that spans re-sent after it was analysed count as late
   * (#markCommitted). Default: with a spool. A shard of `serve --workers` also needs it without one: its
   * piece may be taken while another shard refuses the export, which the client then sends again.
   */
  trackCommitted?: boolean;
  /**
   * When replay() brought traces back, how long no trace is released (the traces it brought back
   * wait that long even under memory pressure). The crash cut every sender off mid-flight, and they
   * resend what the last run never acknowledged only when their retry backoff ends. Default 30 s,
   * the Collector's default retry max_interval.
   */
  replayWaitMs?: number;
  /** Random source for retry jitter, injectable for tests. */
  random?: () => number;
  metrics: ServerMetrics;
  /** Appends each accepted export as one OTLP/JSON line. */
  recordPath?: string;
  /** How often complete traces are analysed. Default: a quarter of the settle time (traceSettleMs, at most traceWaitMs), at most 250 ms. */
  pollIntervalMs?: number;
  /**
   * How often the analyses are written. Default: half of traceWaitMs, at least the poll interval, at
   * most 1 s. A write's cost is mostly per row (an endpoint's, a finding's, a fingerprint's hour and
   * minute), and each tick's requests touch about the same rows, so fewer writes of more requests cost
   * less; the acknowledgement waits for the spool, not for this.
   */
  writeIntervalMs?: number;
  /** Wall clock, injectable for tests. */
  now?: () => number;
  /**
   * Copies the spans of traces open past the maximum age out of the spool segments they pin
   * (server/spool-compaction.ts): `serve` passes the spool's, a shard the serving thread's. Without
   * it, such a trace keeps every segment written while it is open.
   */
  copyApart?: CopyApart;
  /**
   * Measured memory (V8 heap in use + buffers outside it) at which exports are refused, whatever the
   * buffer's estimate says: a large one before its body is read (startBody), the others at admission
   * with their traces held. Default: maxBufferBytes + 128 MiB. Bodies in flight may hold a fifth of
   * it (inflight.ts).
   */
  memoryLimitBytes?: number;
  /** Where a line is written about what the intake drops (a trace whose analysis threw). Default: standard error. */
  log?: (line: string) => void;
  /** How that memory is measured, injectable for tests. Default: process.memoryUsage(). */
  memoryUsed?: () => number;
  /**
   * A full garbage collection, run when that memory is past the limit (at most every
   * FORCED_COLLECTION_MS) before an export is refused for it, as the Collector's memory_limiter
   * collects past its hard limit. Injectable for tests. Default: V8's (server/heap.ts).
   */
  collectGarbage?: () => void;
}

export type Transport = 'http' | 'grpc';

/** What an Intake uses of its spool (spool/spool.ts, or a shard's view of the serving thread's). */
export type IntakeSpool = Pick<Spool, 'wouldOverflow' | 'append' | 'deleteWhere' | 'deleteBefore' | 'bytes' | 'close' | 'replay' | 'oldestSegmentMs'>;

/**
 * An export piece the caller spools (`serve --workers`: the serving thread, once every shard took its
 * piece). Its traces are pinned under the provisional key `pending` (negative, never a segment) until
 * settleSpooled() names the segment. `full`: the caller's spool has no room; refuse it as spool_full.
 */
export interface SpooledElsewhere {
  pending: number;
  full: boolean;
}

/** One replay, a record at a time (replay(), or a shard fed by the serving thread). */
export interface ReplaySession {
  /** False for a record that no longer decodes. */
  add(record: SpoolRecord): Promise<boolean>;
  /** Holds what came back (IntakeOptions.replayWaitMs) and ends the replay. */
  finish(): ReplayTotals;
  /** Traces the replay opened again: when any did, every trace waits for the senders' retries (holdAfterReplay). */
  readonly reopened: number;
}

export type Refusal = RefusalReason | 'spool_full' | 'closing' | 'memory';


export type AcceptResult =
  | {
      ok: true;
      /** Spans taken into their traces. */
      accepted: number;
      rejected: number;
      message: string;
      /** Resolves once the export is in the spool (at once without one); acknowledge only then. */
      durable: Promise<void>;
    }
  | {
      ok: false;
      reason: Refusal;
      retryAfterMs: number;
      message: string;
      /** Every open trace is held for the retry (the client's queue waits behind it); not when memory is short. */
      heldQueue?: boolean;
    };

export type RefusedResult = Extract<AcceptResult, { ok: false }>;

/**
 * What the transports and the server need of an intake: one Intake, or the shard threads' behind
 * ShardedIntake (`serve --workers N`, shards.ts).
 */
export interface ExportIntake {
  /**
   * An export's headers are in: its body in flight, which the transport declares the size of when it
   * is known (a large body is refused unread while the process is past its memory limit), holds its
   * bytes in as they come (refused past the budget of bodies in flight, inflight.ts), and ends on
   * every path that ends it.
   */
  startBody(transport: Transport): BodyInFlight;
  acceptProtobuf(body: Uint8Array, transport: Transport, recordLine?: () => string, compressed?: CompressedBody): Promise<AcceptResult>;
  acceptJson(body: Buffer, transport: Transport, recordLine?: () => string, compressed?: CompressedBody): Promise<AcceptResult>;
  readonly openTraces: number;
  /** Buffers what the spool kept of the last run; before the listeners open. */
  replay(): Promise<ReplayTotals>;
  /** Analyses the traces complete now and writes what is pending; true when nothing is left pending. */
  tick(): Promise<boolean>;
  /** Stops intake, analyses everything buffered and writes it. */
  close(): Promise<void>;
}

/** What replay() read back: exports, their spans buffered again, and spans of traces already committed. */
export interface ReplayTotals {
  exports: number;
  spans: number;
  skipped: number;
}

/** The export as the spool keeps it: its body as it arrived, still compressed when it came compressed. */
export interface RawExport {
  encoding: SpoolEncoding;
  body: Uint8Array;
  compression?: SpoolCompression;
}

export function rawExport(encoding: SpoolEncoding, body: Uint8Array, compressed: CompressedBody | undefined): RawExport {
  return compressed === undefined ? { encoding, body } : { encoding, body: compressed.bytes, compression: compressed.compression };
}

/** The export's --record line; an export that cannot be written as one is not an export serve takes. */
export function recordedLine(recordLine: () => string): string {
  try {
    return recordLine();
  } catch (e) {
    throw new OtlpDecodeError(`cannot write this export to the --record file as OTLP/JSON: ${(e as Error).message}`, { cause: e });
  }
}

/** Committed trace ids are remembered this long, so late spans replayed after a crash stay late. */
const COMMITTED_RETENTION_MS = 10 * 60_000;

/**
 * Before when committed trace ids may be forgotten (Store.pruneCommitted), or undefined for not yet:
 * COMMITTED_RETENTION_MS before now, and before the oldest spool segment still on disk (the spool's
 * oldestSegmentMs), since a replay of that segment skips the traces it holds only while they are
 * remembered. Never while a segment the last run left is there (−∞: it may hold traces committed
 * any time before, the downtime included). Those segments go once their traces are written (a
 * store outage or a long task's ten minutes at most), so the ids stay bounded.
 */
export function forgetCommittedBefore(nowMs: number, oldestSegmentMs = Number.POSITIVE_INFINITY): number | undefined {
  const from = Math.min(nowMs, oldestSegmentMs);
  return from === Number.NEGATIVE_INFINITY ? undefined : from - COMMITTED_RETENTION_MS;
}
/**
 * A trace kept past the maximum age because it still grows (a long Celery task) may take up to this
 * share of --max-buffer-mib (AssemblerOptions.maxGrowingTraceBytes): beyond it, it goes at the maximum age as before.
 */
const GROWING_TRACE_BUFFER_SHARE = 8;
/** How often the spans of traces open past the maximum age are copied out of the segments they pin (#startCopyingApart); at most a third of that age. */
const COPY_APART_EVERY_MS = 10_000;

/** A transport counts as contending for the buffer this long after its last export. */
const ACTIVE_SOURCE_MS = 10_000;
/** The longest default wait between two writes of the analyses (IntakeOptions.writeIntervalMs). */
const MAX_WRITE_INTERVAL_MS = 1000;

/** The findings gauge counts a table; once a second is enough for a gauge. */
const FINDINGS_GAUGE_MS = 1000;

/** How often the verdicts on peers that other processes shared are read (the first write reads them at once). */
const PEER_READ_MS = 5000;

export const REFUSAL_TEXT: Record<Refusal, string> = {
  spool_full: 'n1lens spool is at --spool-max-mib; retry later',
  max_traces: 'n1lens is at --max-traces open traces; retry later',
  max_buffer: 'n1lens is at --max-buffer-mib of buffered spans; retry later',
  fair_share: 'n1lens is sharing its buffer with another transport; retry later',
  closing: 'n1lens is shutting down; retry against the next instance or later',
  memory: 'n1lens is at its memory limit (--memory-limit-mib); retry later',
};

/**
 * The delay asked of an export refused because the spool is full: 2-6× the base delay, jittered. Traces
 * must complete and commit before segments go, which takes longer than the buffer's turnover.
 */
export function spoolFullRetryMs(baseRetryMs: number, random: () => number): number {
  return Math.round(baseRetryMs * 4 * (0.5 + random()));
}

/** The measured memory is read at most this often: V8's heap statistics walk the heap's spaces. */
const MEMORY_SAMPLE_MS = 50;
/**
 * Past the memory limit, a full collection at most this often. Under a flood most of the heap in use
 * can be garbage V8 has not collected yet (its old generation may grow to 4× the buffer: at
 * `--max-buffer-mib 512`, 640 MiB in use fell to 172–309 MiB in 98–229 ms), and refusing for it sends
 * exporters into seconds of retry delay. While collections leave memory past the limit (the buffer
 * really is that large), the interval doubles up to MAX_FORCED_COLLECTION_MS.
 */
const FORCED_COLLECTION_MS = 2000;
const MAX_FORCED_COLLECTION_MS = 32_000;

const MAX_IDLE_JSON_READERS = 4;

/** A kept span's share of the buffer estimate, as the assembler reckons it for the span the sink takes. */
const SPAN_SIZES: SpanSizes = {
  dbSpan: (statement, comment) => estimateDbSpanBytes(statement) + comment.length,
  span: estimateSpanBytes,
};

export class Intake implements ExportIntake {
  readonly #analyzer: Analyzer;
  /** The protobuf exports' decoder (one, so both transports share its memo of ids and statements). */
  readonly #decoder: WireDecoder = createWireDecoder();
  /** The JSON exports' lazy readers not in use (acceptJson), and the decoder of the bodies they give up. */
  readonly #jsonReaders: LazyJsonReader[] = [];
  readonly #json = createJsonDecoder();
  readonly #store: Store;
  readonly #metrics: ServerMetrics;
  readonly #log: (line: string) => void;
  readonly #record: string | undefined;
  readonly #now: () => number;
  readonly #limits: AdmissionLimits & { baseRetryMs: number };
  readonly #random: () => number;
  readonly #replayWaitMs: number;
  /** Last export time per transport, for fair sharing. */
  readonly #lastExport = new Map<Transport, number>();
  readonly #spool: IntakeSpool | undefined;
  readonly #trackCommitted: boolean;
  /** The spool segments holding spans of each open or uncommitted trace; the others can go. */
  readonly #pins = new SegmentPins();
  readonly #copyApart: CopyApart | undefined;
  /** How often (at most a third of the maximum trace age, after which a trace is copied apart). */
  readonly #copyEveryMs: number;
  /** Segments written by copyApart that traces still pin: they hold only those traces' spans, so they are never copied again. */
  readonly #copiedApart = new Set<number>();
  #copying: Promise<void> | undefined;
  #copyPeriod = Number.NEGATIVE_INFINITY;
  /** Traces released since the last write, committed with its analyses. */
  #released: TraceId[] = [];
  /**
   * Continuations released since the last write (spans that came after their trace was committed):
   * written without a second commit of the trace, which would make the store drop them as counted.
   * Their spans pin segments until then, like any trace's.
   */
  #continued: TraceId[] = [];
  /**
   * Traces the tick's poll released whose part is not analysed yet (#analyse yields between parts):
   * neither open nor in #released or #continued, so a write that ends meanwhile must not let go
   * of their segments.
   */
  readonly #unanalysed = new Set<TraceId>();
  /** The calls traces released since the last write still await, kept with its commit (CommittedTraces.awaited). */
  #awaited = new Map<TraceId, readonly AwaitedCall[]>();
  #lastPrune = 0;
  #lastFindingsGauge = Number.NEGATIVE_INFINITY;
  #peersReadAt = Number.NEGATIVE_INFINITY;
  #sharing: Promise<void> | undefined;
  #pending: RequestAnalysis[] = [];
  /** Work outside any request of the traces analysed since the last write: stored with their commit, so a replay counts it once. */
  #outside: OutsideQueries[] = [];
  /**
   * The rows of #pending, rolled up as each analysis is taken (Store.rowBuilder); undefined while a
   * failed write's analyses are back in #pending without them (the next write makes them again).
   */
  #pendingRows: RowBatchBuilder | undefined;
  #timer: NodeJS.Timeout | undefined;
  /** The timer's ticks write at most this often (see IntakeOptions.writeIntervalMs). */
  readonly #writeEveryMs: number;
  #lastWrite = Number.NEGATIVE_INFINITY;
  /** The tick's analysis, a slice at a time; a tick that finds one running waits for it. */
  #analysing: Promise<void> | undefined;
  #writing: Promise<boolean> | undefined;
  #replaying = false;
  #closed = false;
  readonly #memoryLimit: number;
  readonly #memoryUsed: () => number;
  readonly #collectGarbage: () => void;
  #memorySampled = Number.NEGATIVE_INFINITY;
  #collected = Number.NEGATIVE_INFINITY;
  #collectEveryMs = FORCED_COLLECTION_MS;
  #memory = 0;
  /** The bodies of exports not answered yet, both transports', within their share of the memory limit. */
  readonly #bodies: BodiesInFlight;

  constructor(options: IntakeOptions) {
    // Admission keeps the buffer within limits before accepting; the assembler never evicts early.
    const maxBytes = options.maxBufferBytes ?? 256 * 1024 * 1024;
    this.#analyzer = new Analyzer({
      ...options,
      maxOpenTraces: Number.POSITIVE_INFINITY,
      maxGrowingTraceBytes: options.maxGrowingTraceBytes ?? maxBytes / GROWING_TRACE_BUFFER_SHARE,
      onRelease: (r) => this.#noteReleased(r),
      onAnalysisError: (traceId, error) => this.#analysisFailed(traceId, error),
      onOutsideQueries: (outside) => this.#outside.push(...outside),
    });
    this.#spool = options.spool;
    this.#copyApart = options.spool === undefined ? undefined : options.copyApart;
    this.#copyEveryMs = Math.min(COPY_APART_EVERY_MS, (options.maxTraceAgeMs ?? 30_000) / 3);
    this.#trackCommitted = options.trackCommitted ?? options.spool !== undefined;
    this.#store = options.store;
    this.#metrics = options.metrics;
    this.#log = options.log ?? ((line) => void process.stderr.write(`${line}\n`));
    this.#record = options.recordPath;
    this.#now = options.now ?? Date.now;
    const wait = options.traceWaitMs ?? 2000;
    this.#replayWaitMs = options.replayWaitMs ?? 30_000;
    this.#limits = {
      maxTraces: options.maxOpenTraces ?? 50_000,
      maxBytes,
      baseRetryMs: baseRetryFor(wait),
    };
    this.#random = options.random ?? Math.random;
    this.#memoryLimit = options.memoryLimitBytes ?? this.#limits.maxBytes + 128 * 1024 * 1024;
    this.#memoryUsed = options.memoryUsed ?? heapAndExternal;
    this.#collectGarbage = options.collectGarbage ?? fullCollection;
    this.#bodies = new BodiesInFlight(this.#memoryLimit * IN_FLIGHT_SHARE_OF_MEMORY, this.#metrics.requestBytesInFlight);
    const interval = options.pollIntervalMs ?? Math.min(250, Math.max(10, this.#analyzer.assembler.settleMs / 4));
    this.#writeEveryMs = options.writeIntervalMs ?? Math.max(interval, Math.min(MAX_WRITE_INTERVAL_MS, wait / 2));
    this.#timer = setInterval(() => void this.#tickOnTimer(), interval);
    this.#timer.unref();
    this.#refreshGauges();
  }

  /**
   * Takes one decoded export whole, or refuses it whole with a retry delay (traces/admission.ts):
   * nothing is dropped silently and no open trace is analysed early to make room.
   */
  async accept(batch: DecodedBatch, transport: Transport, raw?: RawExport, recordLine?: () => string, spooled?: SpooledElsewhere): Promise<AcceptResult> {
    const assembler = this.#analyzer.assembler;
    await this.#markCommitted(() => assembler.survey(batch.spans).opened);
    return this.#admit(() => assembler.survey(batch.spans), transport, raw, recordLine, spooled, (now) => {
      this.#take(this.#analyzer.add(batch.spans, now, transport));
      return { accepted: batch.spans.length, rejected: batch.rejected };
    });
  }

  /**
   * `accept` for an OTLP/protobuf export as its bytes (decompressed): admission reads only its trace
   * ids (WireDecoder.scanTraces, a span estimated at its size on the wire), and an admitted export is
   * decoded straight into the open traces' columns (Analyzer.addMessage), without a record per span.
   * Throws OtlpDecodeError for bytes that are not an export: before admission when the structure is
   * broken; after it when the damage is inside a span's attributes (which only decoding reads), and
   * then the spans before the damage stay buffered, as n1-report keeps them, and the export is not
   * spooled. `compressed`: the body as the client sent it, which the spool keeps instead.
   */
  async acceptProtobuf(body: Uint8Array, transport: Transport, recordLine?: () => string, compressed?: CompressedBody, spooled?: SpooledElsewhere): Promise<AcceptResult> {
    const scan = this.#decoder.scanTraces(body);
    const assembler = this.#analyzer.assembler;
    // An id comes again past the scan's last 16 (more requests interleaved than that); the export is
    // surveyed twice, so once over its distinct traces.
    const traceIds = [...new Set(scan.traceIds)];
    const survey = (): BatchSurvey => assembler.surveyTraces(traceIds, scan.wireBytes);
    await this.#markCommitted(() => survey().opened);
    return this.#admit(survey, transport, rawExport('protobuf', body, compressed), recordLine, spooled, (now) => {
      const { batch, analyses } = this.#analyzer.addMessage(this.#decoder, body, () => now, transport);
      this.#take(analyses);
      return batch;
    });
  }

  /**
   * `accept` for an OTLP/JSON export as its bytes (decompressed), as acceptProtobuf: the lazy reader
   * (otlp/json-lazy.ts) reads the body once and keeps its spans, admission surveys their trace ids
   * and sizes, and an admitted export is handed straight into the open traces' columns. A body the
   * reader gives up (a shape it does not read, e.g. snake_case names) is decoded by JSON.parse +
   * json.ts and accepted as `accept` takes it. Throws OtlpDecodeError for a body that is not an
   * export, before admission, with json.ts's message. `compressed` as in acceptProtobuf.
   */
  async acceptJson(body: Buffer, transport: Transport, recordLine?: () => string, compressed?: CompressedBody, spooled?: SpooledElsewhere): Promise<AcceptResult> {
    const raw = rawExport('json', body, compressed);
    return this.#withJsonReader(async (reader) => {
      const scan = reader.read(body, SPAN_SIZES);
      if (scan === undefined) return this.accept(decodeJsonRequest(body, this.#json), transport, raw, recordLine, spooled);
      const traceIds = [...new Set(scan.traceIds)];
      const bytes = scan.bytes;
      const survey = (): BatchSurvey => this.#analyzer.assembler.surveyTraces(traceIds, bytes);
      await this.#markCommitted(() => survey().opened);
      return this.#admit(survey, transport, raw, recordLine, spooled, (now) => {
        const { batch, analyses } = this.#analyzer.addDecoded((sink) => reader.handOver(sink), () => now, transport);
        this.#take(analyses);
        return batch;
      });
    });
  }

  /**
   * Runs `use` with a lazy JSON reader of the pool. A reader per export in flight: admission may wait
   * for the store, and another export may arrive meanwhile. What it read and did not hand over (an
   * export refused, or one that threw) is dropped afterwards.
   */
  async #withJsonReader<T>(use: (reader: LazyJsonReader) => Promise<T>): Promise<T> {
    const reader = this.#jsonReaders.pop() ?? createLazyJsonReader();
    try {
      return await use(reader);
    } finally {
      reader.drop();
      // Readers beyond a few concurrent exports' are let go (each holds its memo tables).
      if (this.#jsonReaders.length < MAX_IDLE_JSON_READERS) this.#jsonReaders.push(reader);
    }
  }

  /**
   * With a spool: a retry of an export this store already analysed (acknowledged, or made durable just
   * before a crash, in an earlier run or by another instance) has traces that are done, so its spans
   * are late, not a second request (but for those below calls the trace still awaits, which continue
   * it). Only a shortcut: record() skips committed traces in its own transaction, so a store that
   * cannot answer now (database down) never makes a double count; it does cost a continuation, whose
   * spans then open a trace that record() finds committed.
   */
  async #markCommitted(opened: () => TraceId[]): Promise<void> {
    if (!this.#trackCommitted || this.#closed) return;
    const ids = opened();
    if (ids.length === 0) return;
    const done = await this.#store.committed(ids).catch(() => new Set<string>());
    if (done.size === 0) return;
    const awaited = await this.#store.awaitedCalls([...done]).catch(() => new Map<string, AwaitedCall[]>());
    this.#analyzer.assembler.markReleased(done, awaited);
  }

  /** Books a released trace for the next write: committed with it, or written as a continuation, with the calls it awaits. */
  #noteReleased(r: ReleasedTrace): void {
    (r.continuing === undefined ? this.#released : this.#continued).push(r.traceId);
    // The newest entry of a trace released twice before a write (then continued) wins.
    if (r.awaited !== undefined) this.#awaited.set(r.traceId, r.awaited);
  }

  /**
   * A trace whose analysis threw is dropped, said and counted: released already, it is committed
   * with no requests at the next write (so neither a resent export nor a replay meets the bug again)
   * and its segments go; the traces analysed with it go on.
   */
  #analysisFailed(traceId: TraceId, error: unknown): void {
    this.#metrics.analysisFailures.inc();
    const why = error instanceof Error ? error.message : String(error);
    this.#log(`n1lens serve: trace ${traceId} dropped: its analysis failed: ${why.split('\n')[0]}`);
  }

  /** Notes the spool segment `segment` holds spans of those of `traceIds` that are open. */
  #pin(traceIds: Iterable<TraceId>, segment: number): void {
    const assembler = this.#analyzer.assembler;
    for (const id of traceIds) if (assembler.isOpen(id)) this.#pins.pin(id, segment);
  }

  startBody(transport: Transport): BodyInFlight {
    return this.#bodies.start(
      () => this.#memoryRefusal(transport),
      () => this.pastMemory() !== undefined,
    );
  }

  /**
   * The buffer's fullness while the process is past its memory limit with traces open: an export
   * that adds to the buffer is then refused for memory. Undefined otherwise: an empty buffer still
   * takes an export, so a limit set below what the process needs idle cannot refuse for ever.
   */
  pastMemory(): number | undefined {
    const assembler = this.#analyzer.assembler;
    if (assembler.openTraces === 0 || !this.#overMemory()) return undefined;
    return this.#fullness();
  }

  #fullness(): number {
    const assembler = this.#analyzer.assembler;
    return fullness({ openTraces: assembler.openTraces, bytes: assembler.counters.bytesBuffered }, this.#limits);
  }

  /** A refusal for memory (past the limit, or bodies in flight past their share of it), counted. */
  #memoryRefusal(transport: Transport): RefusedResult {
    this.#metrics.exportsRefused.inc({ transport, reason: 'memory' });
    return { ok: false, reason: 'memory', retryAfterMs: retryDelayMs(this.#fullness(), this.#limits, this.#random), message: REFUSAL_TEXT.memory };
  }

  #overMemory(): boolean {
    const now = performance.now();
    if (now - this.#memorySampled >= MEMORY_SAMPLE_MS) {
      this.#memorySampled = now;
      this.#memory = this.#memoryUsed();
      if (this.#memory > this.#memoryLimit && now - this.#collected >= this.#collectEveryMs) {
        this.#collected = now;
        try {
          this.#collectGarbage();
        } catch {
          // Only a chance to free memory: without it the export is refused for memory, as it was.
        }
        this.#memory = this.#memoryUsed();
        this.#collectEveryMs = this.#memory > this.#memoryLimit ? Math.min(2 * this.#collectEveryMs, MAX_FORCED_COLLECTION_MS) : FORCED_COLLECTION_MS;
      }
    }
    return this.#memory > this.#memoryLimit;
  }

  /**
   * accept() after the committed check: synchronous, so admission sees the buffer as it is. `take`
   * buffers the admitted export at `now` (it may throw for a message that does not decode; the
   * export is then not spooled).
   */
  #admit(
    surveyNow: () => BatchSurvey,
    transport: Transport,
    raw: RawExport | undefined,
    recordLine: (() => string) | undefined,
    spooled: SpooledElsewhere | undefined,
    take: (now: number) => SinkBatch,
  ): AcceptResult {
    const now = this.#now();
    if (this.#closed) return { ok: false, reason: 'closing', retryAfterMs: this.#limits.baseRetryMs, message: REFUSAL_TEXT.closing };
    const assembler = this.#analyzer.assembler;
    this.#lastExport.set(transport, now);
    const survey = surveyNow();
    const stalled = assembler.isStalled(now);
    const decision = decideAdmission(
      survey,
      {
        openTraces: assembler.openTraces,
        bytes: assembler.counters.bytesBuffered,
        usage: assembler.usage(transport),
        activeSources: [...this.#lastExport.values()].filter((t) => now - t < ACTIVE_SOURCE_MS).length,
        stalled,
      },
      this.#limits,
      this.#random,
    );
    // Measured memory is a hard limit like --max-buffer-mib, on what the process really holds (bodies
    // being read and decoded, garbage not yet collected), not the buffer's estimate. Checked here for
    // every export (startBody refuses only large ones unread), so the traces it continues are held.
    const full = decision.admit && (survey.newTraces > 0 || survey.continued.length > 0) ? this.pastMemory() : undefined;
    const refusal: Admission | { admit: false; reason: 'memory'; retryAfterMs: number; hold: TraceId[] } =
      full !== undefined ? { admit: false, reason: 'memory', retryAfterMs: retryDelayMs(full, this.#limits, this.#random), hold: [...survey.continued, ...survey.opened] } : decision;
    if (!refusal.admit) {
      // The client will send these spans again: keep the traces they continue until then.
      assembler.hold(refusal.hold, this.#retryDueBy(now, refusal.retryAfterMs));
      const heldQueue = this.#holdQueue(now, refusal.retryAfterMs, stalled);
      this.#metrics.exportsRefused.inc({ transport, reason: refusal.reason });
      return { ok: false, reason: refusal.reason, retryAfterMs: refusal.retryAfterMs, message: REFUSAL_TEXT[refusal.reason], heldQueue };
    }
    const spool = this.#spool;
    if (spooled?.full === true || (spooled === undefined && spool !== undefined && raw !== undefined && spool.wouldOverflow(raw.body.length))) {
      const retryAfterMs = spoolFullRetryMs(this.#limits.baseRetryMs, this.#random);
      assembler.hold([...survey.continued, ...survey.opened], this.#retryDueBy(now, retryAfterMs));
      this.#metrics.exportsRefused.inc({ transport, reason: 'spool_full' });
      return { ok: false, reason: 'spool_full', retryAfterMs, message: REFUSAL_TEXT.spool_full };
    }
    // Made before the export is taken: an export --record cannot write as a JSON line (protobufjs
    // stops at 100 levels of nested values, the wire decoder skips them) is refused whole.
    const line = this.#record === undefined || recordLine === undefined ? undefined : recordedLine(recordLine);
    const batch = take(now);
    let durable: Promise<void> = Promise.resolve();
    if (spooled !== undefined) {
      // Provisionally: settleSpooled() moves these pins to the segment the caller wrote the export to.
      this.#pin(survey.continued, spooled.pending);
      this.#pin(assembler.lastOpened, spooled.pending);
    } else if (spool !== undefined && raw !== undefined) {
      const appended = spool.append(raw.encoding, raw.body, raw.compression);
      durable = appended.durable;
      // The traces it continued, and those it opened as decoded (the protobuf survey only estimates them).
      this.#pin(survey.continued, appended.segment);
      this.#pin(assembler.lastOpened, appended.segment);
    }
    let rejected = 0;
    const reasons: string[] = [];
    for (const r of batch.rejected) {
      rejected += r.count;
      reasons.push(`${r.count} ${r.reason.replace(/_/g, ' ')}`);
      this.#metrics.spansRejected.inc({ reason: r.reason }, r.count);
    }
    this.#metrics.exportsAccepted.inc({ transport });
    this.#metrics.spansReceived.inc({ transport }, batch.accepted);
    if (this.#record !== undefined && line !== undefined) appendFileSync(this.#record, `${line}\n`);
    this.#refreshGauges();
    return { ok: true, accepted: batch.accepted, rejected, message: rejected === 0 ? '' : `rejected spans: ${reasons.join(', ')}`, durable };
  }

  /**
   * Until when a refused export's traces are kept open: its retry, doubled for a sender's own backoff,
   * and the base delay again for the resent spans to arrive.
   */
  #retryDueBy(now: number, retryAfterMs: number): number {
    return now + 2 * retryAfterMs + this.#limits.baseRetryMs;
  }

  /**
   * A client's queue waits behind a refused export, with spans of any open trace in it: keep them all
   * until its retry is due. Not once stalled (a refusal then is for fair share), nor past half the
   * memory budget: memory is the hard limit, and a buffer that cannot move, or that fills, must be able to drain.
   */
  #holdQueue(now: number, retryAfterMs: number, stalled: boolean): boolean {
    if (stalled || this.#memoryContended()) return false;
    this.#analyzer.assembler.holdAll(this.#retryDueBy(now, retryAfterMs));
    return true;
  }

  /**
   * Another shard refused an export and held its queue (`serve --workers`): the client's queue waits
   * behind it here too, as one intake would hold it.
   */
  holdForRetry(retryAfterMs: number): void {
    const now = this.#now();
    this.#holdQueue(now, retryAfterMs, this.#analyzer.assembler.isStalled(now));
  }

  /**
   * The export a SpooledElsewhere piece came in is in `segment` of the caller's spool (undefined: it
   * was not spooled after all, another shard refused it). Traces committed meanwhile hold no pin.
   */
  settleSpooled(pending: number, segment: number | undefined): void {
    this.#pins.settle(pending, segment);
  }

  /**
   * Reads back the spool's segments left by the last run (just before the listeners open): spans of
   * traces whose analysis was committed are skipped, the rest are buffered as if just received. When
   * any came back, no trace is released for replayWaitMs. Returns the spans replayed.
   */
  async replay(): Promise<ReplayTotals> {
    if (this.#spool === undefined) return { exports: 0, spans: 0, skipped: 0 };
    const session = this.startReplay();
    try {
      for (const record of this.#spool.replay()) await session.add(record);
    } catch (error) {
      session.finish();
      throw error;
    }
    return session.finish();
  }

  /**
   * replay() a record at a time, for records read elsewhere (`serve --workers`: the serving thread
   * reads its spool and sends each shard its pieces). No write happens until finish().
   */
  startReplay(): ReplaySession {
    this.#replaying = true;
    const totals: ReplayTotals = { exports: 0, spans: 0, skipped: 0 };
    const committed = new Map<TraceId, boolean>();
    const reopened = new Set<TraceId>();
    return {
      add: async (record) => {
        const replayed = await this.#replayRecord(record, committed, reopened);
        if (replayed === undefined) return false; // it decoded when it was accepted; a record that no longer does was never acknowledged whole
        totals.exports++;
        totals.skipped += replayed.skipped;
        totals.spans += replayed.spans;
        return true;
      },
      finish: () => {
        this.#replaying = false;
        this.#analyzer.assembler.hold(reopened, this.#now() + this.#replayWaitMs);
        if (reopened.size > 0) this.holdAfterReplay();
        this.#refreshGauges();
        return totals;
      },
      get reopened() {
        return reopened.size;
      },
    };
  }

  /**
   * The crash cut every sender off mid-flight, not only those it had taken spans from: a trace whose
   * spans all wait in a sender's queue may arrive split across that queue's retries. So once a replay
   * brought traces back, no trace is released for replayWaitMs (in every shard of `serve --workers`).
   */
  holdAfterReplay(): void {
    this.#analyzer.assembler.holdAll(this.#now() + this.#replayWaitMs);
  }

  /**
   * One spooled export back into the open traces, decoded as live intake decodes it (acceptProtobuf,
   * acceptJson): its trace ids are read first (the wire decoder's scan, the lazy JSON reader's read,
   * or json.ts's records when that reader gives the body up), the store is asked which of them it
   * has committed (`committed` remembers its answers for the whole replay), and the export goes into
   * the columns with those traces' spans skipped. Undefined for a record that no longer decodes.
   */
  async #replayRecord(record: SpoolRecord, committed: Map<TraceId, boolean>, reopened: Set<TraceId>): Promise<{ spans: number; skipped: number } | undefined> {
    let body: Buffer;
    try {
      body = await spooledBody(record);
    } catch {
      return undefined;
    }
    if (record.encoding === 'protobuf') {
      let traceIds: TraceId[];
      try {
        traceIds = this.#decoder.scanTraces(body).traceIds;
      } catch {
        return undefined;
      }
      const skip = await this.#committedOf(traceIds, committed);
      return this.#replayInto(record.segment, traceIds, skip, reopened, (sink) => this.#decoder.decodeTo(body, sink));
    }
    return this.#withJsonReader(async (reader) => {
      let scan: LazyJsonScan | undefined;
      let batch: DecodedBatch | undefined;
      try {
        scan = reader.read(body, SPAN_SIZES);
        batch = scan === undefined ? decodeJsonRequest(body, this.#json) : undefined;
      } catch {
        return undefined;
      }
      if (batch !== undefined) {
        const { spans, rejected } = batch;
        const traceIds = spans.map((s) => s.traceId);
        const skip = await this.#committedOf(traceIds, committed);
        // The records as `accept` takes them (Analyzer.add: each span into its trace's columns).
        return this.#replayInto(record.segment, traceIds, skip, reopened, (sink) => {
          for (const span of spans) sink.span(span);
          return { accepted: spans.length, rejected };
        });
      }
      const skip = await this.#committedOf(scan!.traceIds, committed);
      return this.#replayInto(record.segment, scan!.traceIds, skip, reopened, (sink) => reader.handOver(sink));
    });
  }

  /**
   * Which of these traces the store has committed, asking it only about those this replay has not
   * asked about yet. A committed trace that still awaits calls is not skipped: it is marked released
   * with them, so the spans that answer them continue it (a task's, made durable before the crash).
   */
  async #committedOf(traceIds: readonly TraceId[], known: Map<TraceId, boolean>): Promise<ReadonlySet<TraceId>> {
    const unknown = [...new Set(traceIds)].filter((id) => !known.has(id));
    if (unknown.length > 0) {
      const done = await this.#store.committed(unknown);
      const awaited = done.size === 0 ? new Map<string, AwaitedCall[]>() : await this.#store.awaitedCalls([...done]);
      this.#analyzer.assembler.markReleased(awaited.keys(), awaited);
      for (const id of unknown) known.set(id, done.has(id) && !awaited.has(id));
    }
    const skip = new Set<TraceId>();
    for (const id of traceIds) if (known.get(id) === true) skip.add(id);
    return skip;
  }

  /**
   * Decodes a spooled export into the open traces at the replay's time, the spans of the traces in
   * `skip` left out, and remembers each trace it opened with its segment. The traces skipped are
   * marked released: the client may still resend the export that carried them, and its spans are late.
   */
  #replayInto(segment: number, traceIds: readonly TraceId[], skip: ReadonlySet<TraceId>, reopened: Set<TraceId>, decode: (sink: SpanSink) => SinkBatch): { spans: number; skipped: number } | undefined {
    const assembler = this.#analyzer.assembler;
    // A sink in between only for an export with committed traces in it (rare: a crash between a write and its segment's deletion).
    let skipping: SkippingSink | undefined;
    let undecodable = false;
    let added: ReturnType<Analyzer['addDecoded']> | undefined;
    try {
      added = this.#analyzer.addDecoded((sink) => {
        try {
          return decode(skip.size === 0 ? sink : (skipping = new SkippingSink(sink, skip)));
        } catch (error) {
          undecodable = true;
          throw error;
        }
      }, () => this.#now(), 'spool');
    } catch (error) {
      // Only a protobuf export whose damage is inside a span (which the scan skips over): the spans
      // before it stay in their traces, as acceptProtobuf keeps them, and the export counts as not replayed.
      if (!undecodable) throw error;
    } finally {
      if (skipping !== undefined) assembler.markReleased(skipping.skippedTraces);
      for (const id of assembler.lastOpened) reopened.add(id);
      this.#pin(traceIds, segment);
    }
    if (added === undefined) return undefined;
    this.#take(added.analyses);
    const skipped = skipping?.skipped ?? 0;
    return { spans: added.batch.accepted - skipped, skipped };
  }

  /** The timer's tick: analyses every time, writes once writeIntervalMs has passed since the last write. */
  async #tickOnTimer(): Promise<void> {
    // Real time, not the injectable clock (which dates spans and traces): a test's frozen clock must not stop writes.
    if (performance.now() - this.#lastWrite >= this.#writeEveryMs) {
      await this.tick();
      return;
    }
    if (this.#replaying) return;
    this.#analysing ??= this.#analyse().finally(() => (this.#analysing = undefined));
    await this.#analysing;
    this.#refreshGauges();
  }

  /**
   * Analyses the traces complete now and writes what is pending, and copies long-open traces' spans
   * apart when due (#startCopyingApart). Writes never overlap: while one is in flight (a slow or
   * unreachable database), analyses queue for the next.
   */
  async tick(): Promise<boolean> {
    // A write now would delete spool segments the replay has not read yet.
    if (this.#replaying) return false;
    this.#analysing ??= this.#analyse().finally(() => (this.#analysing = undefined));
    await this.#analysing;
    this.#lastWrite = performance.now();
    this.#writing ??= this.#write().finally(() => {
      this.#writing = undefined;
      this.#refreshGauges();
    });
    this.#startCopyingApart();
    const written = await this.#writing;
    await this.#copying;
    return written;
  }

  /**
   * Every COPY_APART_EVERY_MS (10 s): the sealed segments that only traces kept past the maximum age
   * because they grow still pin (a long task's, whose spans keep coming for minutes) have those
   * traces' spans copied into a segment of their own, which they pin instead, so the segments can go.
   */
  #startCopyingApart(): void {
    const copyApart = this.#copyApart;
    // Short of memory, the next poll lets growing traces go: nothing to copy for them.
    if (copyApart === undefined || this.#copying !== undefined || this.#closed || this.#memoryContended()) return;
    const now = this.#now();
    // Rounds by the clock's periods, not since the last: shards start theirs together, and the
    // serving thread copies for all of them in one pass (shards.ts).
    const period = Math.floor(now / this.#copyEveryMs);
    if (period === this.#copyPeriod) return;
    this.#copyPeriod = period;
    const traceIds = this.#analyzer.assembler.growingPastMaxAge(now);
    if (traceIds.length === 0) return;
    const segments = this.#pins.heldOnlyBy(traceIds).filter((segment) => !this.#copiedApart.has(segment));
    if (segments.length === 0) return;
    this.#copying = (async () => {
      const copy = await copyApart(segments, new Set(traceIds)).catch(() => undefined);
      if (copy === undefined || copy.from.length === 0) return;
      const from = new Set(copy.from);
      if (copy.segment !== undefined) {
        // Pinned while its write is still pending, so no deletion takes it; the others go once it is on disk.
        const to = copy.segment;
        for (const id of traceIds) this.#pins.pinWith(id, from, to);
        this.#copiedApart.add(to);
        try {
          await copy.durable;
        } catch {
          for (const id of traceIds) this.#pins.unpin(id, new Set([to]));
          return;
        }
      }
      for (const id of traceIds) this.#pins.unpin(id, from);
      this.#metrics.spoolSegmentsCompacted.inc(from.size);
      this.#deleteUnpinnedSegments();
    })().finally(() => {
      this.#copying = undefined;
      for (const segment of this.#copiedApart) if (!this.#pins.isPinned(segment)) this.#copiedApart.delete(segment);
    });
  }

  /** Analyses the traces complete now, a part at a time (inParts), yielding to the event loop in between. */
  async #analyse(): Promise<void> {
    // Holding the whole buffer, or traces that keep growing, would only fill it.
    const contended = this.#memoryContended();
    if (contended) this.#analyzer.assembler.endHoldAll();
    const polled = this.#analyzer.assembler.poll(this.#now(), !contended);
    for (const t of polled) this.#unanalysed.add(t.traceId);
    try {
      let first = true;
      for (const part of inParts(polled)) {
        if (!first && !this.#closed) await nextTurn();
        first = false;
        try {
          this.#take(this.#analyzer.analyse(part));
        } catch (error) {
          // Not a trace's analysis (the analyzer drops those one at a time: #analysisFailed) but the
          // rows made as requests are taken (#take): the analyses are pending, and the write makes
          // their rows again. The later parts are out of the buffer already: they are analysed all the same.
          this.#log(`n1lens serve: the rows of analysed requests could not be made now, the write makes them: ${error instanceof Error ? error.message : String(error)}`);
        }
        for (const t of part) this.#unanalysed.delete(t.traceId);
      }
    } finally {
      this.#unanalysed.clear();
    }
  }

  /** Stops intake, analyses everything buffered and writes it; the spool is then empty and closed. */
  async close(): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#closed = true;
    await this.#analysing;
    await this.#writing;
    this.#take(this.#analyzer.flush());
    const written = await this.tick();
    await this.#sharing;
    await this.#copying;
    if (this.#spool !== undefined) {
      await this.#spool.close();
      // What could not be written stays in the spool, for the next start to replay.
      if (written) this.#spool.deleteBefore(Number.POSITIVE_INFINITY);
    }
  }

  get openTraces(): number {
    return this.#analyzer.assembler.openTraces;
  }

  /** How long a trace that looks whole waits before it is analysed. */
  get settleMs(): number {
    return this.#analyzer.assembler.settleMs;
  }

  /** Buffered spans past half of --max-buffer-mib, or the process at its memory limit: holding the whole buffer would only fill it. */
  #memoryContended(): boolean {
    return this.#analyzer.assembler.counters.bytesBuffered > this.#limits.maxBytes / 2 || this.#memory > this.#memoryLimit;
  }

  #take(analyses: RequestAnalysis[]): void {
    if (analyses.length === 0) return;
    this.#metrics.requestsAnalysed.inc(analyses.length);
    if (this.#pending.length === 0) this.#pendingRows = this.#store.rowBuilder();
    for (const a of analyses) {
      for (const rule in a.noise) this.#metrics.noiseDropped.inc({ rule }, a.noise[rule]!);
      this.#pending.push(a);
    }
    try {
      // Held only in case the rows must be made again, which never show these requests' timelines.
      const unshown = this.#pendingRows?.add(analyses);
      if (unshown !== undefined) for (const a of unshown) releaseTimeline(a);
    } catch (error) {
      // Rows that miss some of #pending must never be written: the next write makes them afresh.
      this.#pendingRows = undefined;
      throw error;
    }
  }

  /** Writes the pending analyses in one transaction; true when nothing is left pending. */
  async #write(): Promise<boolean> {
    if (this.#pending.length === 0 && this.#released.length === 0 && this.#continued.length === 0 && this.#outside.length === 0) {
      // Segments of late or duplicate spans only (a sender resending exports already committed) pin
      // nothing: they go now, not at the next write. A full spool refuses every new trace, so waiting
      // for one to complete would keep it full for good.
      this.#deleteUnpinnedSegments();
      this.#startSharingPeers();
      return true;
    }
    // The tick's analysis and its SQLite transaction are each a synchronous stretch: let requests
    // waiting on the event loop (/healthz, exports) in between, so a tick holds it for one of them at a
    // time. Same polls and transactions as before, so the CPU cost is the same (unlike smaller slices).
    if (!this.#closed) await nextTurn();
    const batch = this.#pending;
    const rows = this.#pendingRows;
    const released = this.#released;
    const continued = this.#continued;
    const awaited = this.#awaited;
    const outside = this.#outside;
    this.#pending = [];
    this.#outside = [];
    this.#pendingRows = undefined;
    this.#released = [];
    this.#continued = [];
    this.#awaited = new Map();
    const nowMs = this.#now();
    try {
      const theirs = await this.#store.record(batch, this.#trackCommitted ? { traceIds: released, nowMs, awaited: [...awaited] } : undefined, rows, outside);
      // Traces another writer committed first are its to continue.
      if (theirs.length > 0) this.#analyzer.assembler.forgetAwaited(theirs);
    } catch {
      // The database is unreachable or failed the transaction: nothing of it was written. Keep the
      // batch for the next tick; the spool keeps its exports, so even a crash now loses nothing.
      this.#pending = batch.concat(this.#pending);
      this.#outside = outside.concat(this.#outside);
      this.#pendingRows = undefined;
      this.#released = released.concat(this.#released);
      this.#continued = continued.concat(this.#continued);
      for (const [traceId, calls] of awaited) if (!this.#awaited.has(traceId)) this.#awaited.set(traceId, calls);
      this.#metrics.storeWriteFailures.inc();
      return false;
    }
    this.#startSharingPeers();
    if (this.#spool !== undefined) {
      // A trace continued since it was released (open now, or released again during this write) keeps
      // its segments until the continuation is written.
      const again = new Set([...this.#released, ...this.#continued]);
      for (const id of [...released, ...continued]) if (!this.#analyzer.assembler.isOpen(id) && !again.has(id) && !this.#unanalysed.has(id)) this.#pins.release(id);
      this.#deleteUnpinnedSegments();
    }
    if (this.#trackCommitted && nowMs - this.#lastPrune > 60_000) {
      this.#lastPrune = nowMs;
      const before = forgetCommittedBefore(nowMs, this.#spool?.oldestSegmentMs);
      if (before !== undefined) await this.#store.pruneCommitted(before).catch(() => undefined);
    }
    if (nowMs - this.#lastFindingsGauge >= FINDINGS_GAUGE_MS || this.#closed) {
      this.#lastFindingsGauge = nowMs;
      const findings = await this.#store.findingCount().catch(() => undefined);
      if (findings !== undefined) this.#metrics.findings.set(findings);
    }
    return this.#pending.length === 0;
  }

  /**
   * #sharePeers after a write that reached the store, never in its way: a database that cannot be
   * reached costs the write its timeout once, and SQLite's writer thread has just let go of the lock.
   */
  #startSharingPeers(): void {
    this.#sharing ??= this.#sharePeers().finally(() => (this.#sharing = undefined));
  }

  /**
   * Shares the verdicts on peers reached here, and every PEER_READ_MS takes those reached elsewhere
   * (an earlier run, the other shards, other instances on the database): a restart does not learn its
   * peers again while every trace that calls them waits the whole trace wait. With SQLite's writer
   * thread this is the serve thread's one write, a few rows whenever a peer is learned or answers.
   */
  async #sharePeers(): Promise<void> {
    const peers = this.#analyzer.assembler.peers;
    const verdicts = peers.takeVerdicts();
    const readDue = performance.now() - this.#peersReadAt >= PEER_READ_MS;
    if (verdicts.length === 0 && !readDue) return;
    try {
      if (verdicts.length > 0) await this.#store.recordPeerVerdicts(verdicts);
      if (readDue) {
        this.#peersReadAt = performance.now();
        peers.adopt(await this.#store.peerVerdicts());
      }
    } catch {
      // The database is unreachable: share them with the next write (sharing one twice changes nothing).
      peers.restoreVerdicts(verdicts);
    }
  }

  /** Deletes the sealed spool segments no open or uncommitted trace has spans in. */
  #deleteUnpinnedSegments(): void {
    this.#spool?.deleteWhere((segment) => !this.#pins.isPinned(segment), { background: true });
  }

  #refreshGauges(): void {
    const c = this.#analyzer.assembler.counters;
    this.#metrics.openTraces.set(this.#analyzer.assembler.openTraces);
    this.#metrics.pendingRequests.set(this.#pending.length);
    this.#metrics.bufferBytes.set(c.bytesBuffered);
    if (this.#spool !== undefined) this.#metrics.spoolBytes.set(this.#spool.bytes);
    this.#metrics.evictions.set(c.evictions);
    this.#metrics.lateSpans.set(c.lateSpans);
    this.#metrics.continuedRequests.set(c.continuedRequests);
    this.#metrics.tracesSettled.set(c.tracesSettled);
    this.#metrics.opaquePeers.set(this.#analyzer.assembler.peers.count);
    this.#metrics.awaitedCallBytes.set(this.#analyzer.assembler.awaitedBytes);
    this.#metrics.duplicateSpans.set(c.duplicateSpans);
    this.#metrics.queriesOutsideRequests.set(c.queriesOutsideRequests);
  }
}

/** A sink that passes on the spans of every trace but those in `skip`, and counts the ones it leaves out (replay: committed traces). */
class SkippingSink implements SpanSink {
  readonly #inner: SpanSink;
  readonly #skip: ReadonlySet<TraceId>;
  skipped = 0;
  /** The skipped spans' traces. */
  readonly skippedTraces = new Set<TraceId>();

  constructor(inner: SpanSink, skip: ReadonlySet<TraceId>) {
    this.#inner = inner;
    this.#skip = skip;
  }

  dbSpan(span: Readonly<DbSpanFields>): void {
    if (!this.#skipped(span.traceId)) this.#inner.dbSpan(span);
  }

  span(record: SpanRecord): void {
    if (!this.#skipped(record.traceId)) this.#inner.span(record);
  }

  #skipped(traceId: TraceId): boolean {
    if (!this.#skip.has(traceId)) return false;
    this.skipped++;
    this.skippedTraces.add(traceId);
    return true;
  }
}
