/** The hot path in one object: spans in (any order, any batching), analysed requests out. */
import { analyseColumns, type DetectOptions, type Normalizer } from './detect/request.js';
import { createStatementMemo } from './detect/statements.js';
import { RollupSet } from './detect/rollup.js';
import type { RequestAnalysis } from './detect/types.js';
import { decodeJsonLineTo, inProtobufUnit, isRawUnit, type TraceUnit, type UnitDecoders } from './otlp/file.js';
import { countRefused, refusedIn, type DbSpanFields, type DecodedBatch, type RefusedSpans, type SpanRecord, type SpanSink, type TraceId } from './otlp/span.js';
import { spansRead, type SinkBatch, type WireDecoder } from './otlp/wire/decoder.js';
import { isRequestSpan, type AssemblyStats, type OutsideQueries } from './traces/assemble.js';
import { createSqlNormalizer } from './sql/index.js';
import { createNoiseFilter } from './sql/noise.js';
import { assembleColumns, compactTraces, type CompactTrace } from './traces/compact.js';
import { estimateDbSpanBytes, estimateSpanBytes, TraceAssembler, type AssemblerOptions, type CompletedTrace } from './traces/assembler.js';
import { MAX_AWAITED_BYTES } from './traces/recent.js';

/** What a released trace tells the spool's bookkeeping. */
export type ReleasedTrace = Pick<CompletedTrace<unknown>, 'traceId' | 'continuing' | 'awaited'>;

export interface AnalyzerOptions extends AssemblerOptions, DetectOptions {
  /** Raw statements whose normalisation is cached. Default 10000. */
  sqlCacheEntries?: number;
  /**
   * Told of every trace released for analysis, whatever its requests (the spool's bookkeeping): its
   * id, whether it was a continuation and the calls it still awaits (traces/assembler.ts CompletedTrace).
   */
  onRelease?: (released: ReleasedTrace) => void;
  /**
   * Told of a trace whose analysis threw (a detector's bug met in the wild): the trace is dropped,
   * none of its requests counted, and the traces analysed with it go on. Without it the error is thrown.
   */
  onAnalysisError?: (traceId: TraceId, error: unknown) => void;
  /**
   * Told, for each trace analysed whole, of its work outside any request that ran queries (left out
   * of every request, traces/assemble.ts isOutsideRequests): serve stores it with the trace's commit.
   */
  onOutsideQueries?: (outside: readonly OutsideQueries[]) => void;
}

/** Traces analysed together by Analyzer.flushEach. */
const FLUSH_SLICE = 64;

/** Buffers spans into traces and analyses each request of a trace once the trace completes. */
export class Analyzer {
  /** Open traces, kept in columns (traces/compact.ts) so buffered spans stay small. */
  readonly assembler: TraceAssembler<CompactTrace>;
  readonly #normalize: Normalizer;
  readonly #detect: DetectOptions;
  readonly #onRelease: ((released: ReleasedTrace) => void) | undefined;
  readonly #onAnalysisError: ((traceId: TraceId, error: unknown) => void) | undefined;
  readonly #onOutsideQueries: ((outside: readonly OutsideQueries[]) => void) | undefined;
  readonly #sink: SpanSink;
  /** Traces evicted by a message that then failed to decode, not analysed yet. */
  readonly #evicted: CompletedTrace<CompactTrace>[] = [];
  requestsAnalysed = 0;

  constructor(options: AnalyzerOptions = {}) {
    this.assembler = new TraceAssembler(options, compactTraces());
    this.#normalize = createSqlNormalizer({ maxEntries: options.sqlCacheEntries ?? 10_000 });
    // One noise filter per run, so its per-statement memo is shared by every request.
    // Likewise one statement memo, in front of the normaliser (detect/statements.ts).
    this.#detect = {
      ...options,
      noiseFilter: options.noiseFilter ?? createNoiseFilter(options.ignoreSql),
      statements: createStatementMemo(options.sqlCacheEntries ?? 10_000),
    };
    this.#onRelease = options.onRelease;
    this.#onAnalysisError = options.onAnalysisError;
    this.#onOutsideQueries = options.onOutsideQueries;
    this.#sink = new OpenTraceSink(this.assembler);
  }

  /** Adds spans; returns the requests of any trace evicted to stay under the open-trace limit. */
  add(spans: readonly SpanRecord[], now: number, source?: string): RequestAnalysis[] {
    return this.#analyse(this.assembler.add(spans, now, source));
  }

  /**
   * `add` for one OTLP/protobuf message, decoded straight into the open traces' columns (no record
   * per DB span). `now` is told how many spans the message held, valid or not, and returns the batch's time.
   */
  addMessage(decoder: WireDecoder, bytes: Uint8Array, now: (read: number) => number, source?: string): { batch: SinkBatch; analyses: RequestAnalysis[] } {
    return this.addDecoded((sink) => decoder.decodeTo(bytes, sink), now, source);
  }

  /** `addMessage` for any decoder that writes into a SpanSink (an OTLP JSON line: otlp/file.ts decodeJsonLineTo). */
  addDecoded(decode: (sink: SpanSink) => SinkBatch, now: (read: number) => number, source?: string): { batch: SinkBatch; analyses: RequestAnalysis[] } {
    const assembler = this.assembler;
    assembler.begin(source);
    let batch: SinkBatch;
    try {
      batch = decode(this.#sink);
    } catch (error) {
      // A message that throws keeps the spans before the damage (see WireDecoder.decodeTo), and
      // what they evicted is analysed with the next call's traces.
      this.#evicted.push(...assembler.end(now(0)));
      throw error;
    }
    return { batch, analyses: this.#analyse(assembler.end(now(spansRead(batch)))) };
  }

  /** Analyses the traces complete at `now`. */
  poll(now: number): RequestAnalysis[] {
    return this.#analyse(this.assembler.poll(now));
  }

  /** Analyses traces the assembler released (its poll or flush), for a caller that analyses them a part at a time (inParts). */
  analyse(traces: CompletedTrace<CompactTrace>[]): RequestAnalysis[] {
    return this.#analyse(traces);
  }

  /** Analyses everything still buffered (end of input, shutdown). */
  flush(): RequestAnalysis[] {
    return this.#analyse(this.assembler.flush());
  }

  /**
   * `flush` a slice of traces at a time, each slice's analyses handed to `take` before the next
   * slice is analysed. A file's end releases every open trace at once (up to the trace wait's worth
   * of spans): analyses taken as they come die young, where analyses held until the last one is
   * made are all copied by the young generation's collections.
   */
  flushEach(take: (analyses: RequestAnalysis[]) => void): void {
    const traces = this.assembler.flush();
    let i = 0;
    // At least once: #analyse also takes the traces a damaged message evicted.
    do take(this.#analyse(traces.slice(i, i + FLUSH_SLICE)));
    while ((i += FLUSH_SLICE) < traces.length);
  }

  #analyse(traces: CompletedTrace<CompactTrace>[]): RequestAnalysis[] {
    if (this.#evicted.length > 0) traces = this.#evicted.splice(0).concat(traces);
    const out: RequestAnalysis[] = [];
    for (const t of traces) {
      this.#onRelease?.(t);
      const before = out.length;
      const counters = this.assembler.counters;
      // The trace's own outside work, told only once its analysis succeeded (a trace counts whole or not at all).
      const stats: AssemblyStats = { duplicateSpans: 0, queriesOutsideRequests: 0, ...(this.#onOutsideQueries === undefined ? {} : { outside: [] }) };
      try {
        // Copies within the trace are dropped (and counted) as it is assembled; DB spans stay in the columns.
        for (const request of assembleColumns(t.spans, stats)) {
          // A continuation's other requests (late or copied spans of requests analysed before) are not analysed again.
          if (t.continuing !== undefined && !t.continuing.has(request.spanId)) continue;
          const analysis = analyseColumns(request, this.#normalize, this.#detect);
          if (t.continuing !== undefined) analysis.continuationSpanId = request.spanId;
          out.push(analysis);
        }
        // A continuation's spans came after its trace was told: work outside requests roots a trace of its own.
        if (t.continuing === undefined && stats.outside !== undefined && stats.outside.length > 0) this.#onOutsideQueries?.(stats.outside);
      } catch (error) {
        if (this.#onAnalysisError === undefined) throw error;
        // A trace counts whole or not at all: its requests analysed before the throw go too.
        out.length = before;
        this.#onAnalysisError(t.traceId, error);
      } finally {
        counters.duplicateSpans += stats.duplicateSpans;
        counters.queriesOutsideRequests += stats.queriesOutsideRequests;
      }
    }
    this.requestsAnalysed += out.length;
    return out;
  }
}

/** Writes decoded spans into the assembler's open traces (WireDecoder.decodeTo). */
class OpenTraceSink implements SpanSink {
  readonly #assembler: TraceAssembler<CompactTrace>;

  constructor(assembler: TraceAssembler<CompactTrace>) {
    this.#assembler = assembler;
  }

  dbSpan(span: Readonly<DbSpanFields>): void {
    this.#assembler.spanWords(span.traceId, span, estimateDbSpanBytes(span.statement) + span.comment.length, false)?.addDbWords(span);
  }

  span(record: SpanRecord): void {
    this.#assembler.span(record.traceId, record.spanId, estimateSpanBytes(record), isRequestSpan(record))?.add(record);
  }
}

/**
 * Estimated bytes of open traces n1-report keeps (AssemblerOptions.maxOpenBytes), shared by its
 * --jobs shards. A buffered span takes ~75 B of heap in the columns (bench/README.md, memory.mjs: 73–79 B)
 * and is estimated at 120 B + its statement (a DB span; the decoder interns statements) or 400 B + its
 * name, so estimates overstate its heap 2× and more; each open trace counts OPEN_TRACE_BYTES, about
 * what it takes. So this is ~256 MiB of heap at most (traces of one span), far less for traces of
 * many DB spans: serve's default --max-buffer-mib. A file's rooted traces complete 200k spans after
 * their last, so a realistic file keeps ~200k spans open, plus the traces in progress: ~80 MiB of
 * estimates at 400 B a span, a third of this. Only many traces whose spans are far apart in the
 * input, or that never get a request span, come near it.
 */
export const OFFLINE_OPEN_BYTES = 256 * 1024 * 1024;

/**
 * The Analyzer's settings offline. A file has no clock, so the clock is spans read, valid or not
 * (so that a `--jobs` shard need not read another shard's span past its trace id): a trace is
 * complete once 200k spans have gone by without one of its own, when the open traces' memory
 * reaches OFFLINE_OPEN_BYTES (evicted: n1-report says how many), or at the end.
 *
 * Split into `shards` (n1-report --jobs), each shard keeps its share of the limits, so N threads
 * hold no more than one. Traces are split evenly by id, so each shard needs about its share, and the
 * budget leaves room for a shard that gets more than that: what one thread keeps open without
 * evicting, N do too. No count of open traces limits them (it would bind long before the memory
 * does on traces of a few spans: 50k was 12.5k a shard at --jobs 4): counting OPEN_TRACE_BYTES per
 * trace bounds the count, at 262,144 for one thread.
 */
export function offlineAnalyzerOptions(options: DetectOptions, shards = 1, openBytes = OFFLINE_OPEN_BYTES): AnalyzerOptions {
  return {
    ...options,
    traceWaitMs: 200_000,
    maxTraceAgeMs: Infinity,
    maxOpenTraces: Number.POSITIVE_INFINITY,
    maxOpenBytes: Math.ceil(openBytes / shards),
    rememberCompleted: Math.ceil(100_000 / shards),
    maxAwaitedBytes: Math.ceil(MAX_AWAITED_BYTES / shards),
  };
}

/** The offline pipeline (n1-report, digest from files): spans in, rollups out (see offlineAnalyzerOptions). */
export class OfflineAnalysis {
  readonly analyzer: Analyzer;
  readonly rollups = new RollupSet();
  /** Spans the decoders refused (a Zipkin span without a timestamp, a bad id), by reason: the report says so. */
  readonly refused: RefusedSpans = {};
  #spansRead = 0;

  /** Also given every analysed request (the HTML report keeps their timelines in a store). */
  readonly #onAnalysed: ((analyses: RequestAnalysis[]) => void) | undefined;

  /** `openBytes`: OFFLINE_OPEN_BYTES, smaller in tests. */
  constructor(options: DetectOptions = {}, onAnalysed?: (analyses: RequestAnalysis[]) => void, openBytes?: number) {
    this.analyzer = new Analyzer(offlineAnalyzerOptions(options, 1, openBytes));
    this.#onAnalysed = onAnalysed;
  }

  /** Adds decoded spans; `refused`: how many more spans their request held that were refused (the clock counts them too). */
  add(spans: readonly SpanRecord[], refused = 0): void {
    this.#spansRead += spans.length + refused;
    this.#take(this.analyzer.add(spans, this.#spansRead));
    this.#take(this.analyzer.poll(this.#spansRead));
  }

  /** `add` for a decoded batch, its refused spans counted. */
  addBatch(batch: Pick<DecodedBatch, 'spans' | 'rejected'>): void {
    countRefused(this.refused, batch);
    this.add(batch.spans, refusedIn(batch));
  }

  /** `add` for one OTLP/protobuf message, decoded straight into columns (Analyzer.addMessage). */
  addMessage(decoder: WireDecoder, bytes: Uint8Array): void {
    const { batch, analyses } = this.analyzer.addMessage(decoder, bytes, (read) => (this.#spansRead += read));
    countRefused(this.refused, batch);
    this.#take(analyses);
    this.#take(this.analyzer.poll(this.#spansRead));
  }

  /** One unit of otlp/file.ts's readTraceUnits, with the decoders of its file: protobuf messages and JSON lines go straight into columns. */
  addUnit(unit: TraceUnit, decoders: UnitDecoders): void {
    if (!isRawUnit(unit)) this.addBatch(unit);
    else if (unit.raw === 'protobuf') inProtobufUnit(unit, (bytes) => this.addMessage(decoders.wire, bytes));
    else {
      const { batch, analyses } = this.analyzer.addDecoded((sink) => decodeJsonLineTo(unit, decoders, sink), (read) => (this.#spansRead += read));
      countRefused(this.refused, batch);
      this.#take(analyses);
      this.#take(this.analyzer.poll(this.#spansRead));
    }
  }

  /** Analyses what is still buffered and returns the rollups. */
  finish(): RollupSet {
    this.analyzer.flushEach((analyses) => this.#take(analyses));
    return this.rollups;
  }

  #take(analyses: RequestAnalysis[]): void {
    for (const a of analyses) {
      this.rollups.add(a);
      this.rollups.addRoute(a);
    }
    if (analyses.length > 0) this.#onAnalysed?.(analyses);
  }
}

/**
 * Spans of completed traces analysed in one go (inParts) before serve's tick lets the event loop
 * through (~5–10 ms on the bench's Django corpus): a flood completes ~10k spans per tick, and
 * /healthz and exports should not wait for all of them. The tick still writes once.
 */
export const ANALYSIS_PART_SPANS = 2000;

/** Released traces in consecutive parts of `spans` spans or a little more (one trace each at least), in order. */
export function* inParts(traces: readonly CompletedTrace<CompactTrace>[], spans = ANALYSIS_PART_SPANS): Generator<CompletedTrace<CompactTrace>[]> {
  for (let i = 0; i < traces.length; ) {
    const start = i;
    for (let n = 0; i < traces.length && (i === start || n < spans); ) n += traces[i++]!.spans.count;
    yield traces.slice(start, i);
  }
}
