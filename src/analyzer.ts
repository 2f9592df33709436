/** The hot path in one object: spans in (any order, any batching), analysed requests out. */
import { analyseRequest, type DetectOptions, type Normalizer } from './detect/request.js';
import { RollupSet } from './detect/rollup.js';
import type { RequestAnalysis } from './detect/types.js';
import type { SpanRecord } from './otlp/span.js';
import { createSqlNormalizer } from './sql/index.js';
import { createNoiseFilter } from './sql/noise.js';
import { assembleCompact, COMPACT_TRACES, type CompactTrace } from './traces/compact.js';
import { TraceAssembler, type AssemblerOptions, type CompletedTrace } from './traces/assembler.js';

export interface AnalyzerOptions extends AssemblerOptions, DetectOptions {
  /** Raw statements whose normalisation is cached. Default 10000. */
  sqlCacheEntries?: number;
  /** Told of every trace released for analysis, whatever its requests (the spool's bookkeeping). */
  onRelease?: (traceId: string) => void;
}

/** Buffers spans into traces and analyses each request of a trace once the trace completes. */
export class Analyzer {
  /** Open traces, kept in columns (traces/compact.ts) so buffered spans stay small. */
  readonly assembler: TraceAssembler<CompactTrace>;
  readonly #normalize: Normalizer;
  readonly #detect: DetectOptions;
  readonly #onRelease: ((traceId: string) => void) | undefined;
  requestsAnalysed = 0;

  constructor(options: AnalyzerOptions = {}) {
    this.assembler = new TraceAssembler(options, COMPACT_TRACES);
    this.#normalize = createSqlNormalizer({ maxEntries: options.sqlCacheEntries ?? 10_000 });
    // One noise filter per run, so its per-statement memo is shared by every request.
    this.#detect = { ...options, noiseFilter: options.noiseFilter ?? createNoiseFilter(options.ignoreSql) };
    this.#onRelease = options.onRelease;
  }

  /** Adds spans; returns the requests of any trace evicted to stay under the open-trace limit. */
  add(spans: readonly SpanRecord[], now: number, source?: string): RequestAnalysis[] {
    return this.#analyse(this.assembler.add(spans, now, source));
  }

  /** Analyses the traces complete at `now`, at most `limit` of them. */
  poll(now: number, limit?: number): RequestAnalysis[] {
    return this.#analyse(this.assembler.poll(now, limit));
  }

  /** Analyses everything still buffered (end of input, shutdown). */
  flush(): RequestAnalysis[] {
    return this.#analyse(this.assembler.flush());
  }

  #analyse(traces: CompletedTrace<CompactTrace>[]): RequestAnalysis[] {
    const out: RequestAnalysis[] = [];
    for (const t of traces) {
      this.#onRelease?.(t.traceId);
      // Copies within the trace are dropped (and counted) as it is assembled.
      for (const request of assembleCompact(t.spans, this.assembler.counters)) {
        out.push(analyseRequest(request, this.#normalize, this.#detect));
      }
    }
    this.requestsAnalysed += out.length;
    return out;
  }
}

/**
 * The Analyzer's settings offline. A file has no clock, so the clock is spans read: a trace is
 * complete once 200k spans have gone by without one of its own, at the 50k open-trace limit, or at
 * the end. Split into `shards` (n1-report --jobs), each shard keeps its share of the limits.
 */
export function offlineAnalyzerOptions(options: DetectOptions, shards = 1): AnalyzerOptions {
  return {
    ...options,
    traceWaitMs: 200_000,
    maxTraceAgeMs: Infinity,
    maxOpenTraces: Math.ceil(50_000 / shards),
    rememberCompleted: Math.ceil(100_000 / shards),
  };
}

/** The offline pipeline (n1-report, digest from files): spans in, rollups out (see offlineAnalyzerOptions). */
export class OfflineAnalysis {
  readonly analyzer: Analyzer;
  readonly rollups = new RollupSet();
  #spansRead = 0;

  /** Also given every analysed request (the HTML report keeps their timelines in a store). */
  readonly #onAnalysed: ((analyses: RequestAnalysis[]) => void) | undefined;

  constructor(options: DetectOptions = {}, onAnalysed?: (analyses: RequestAnalysis[]) => void) {
    this.analyzer = new Analyzer(offlineAnalyzerOptions(options));
    this.#onAnalysed = onAnalysed;
  }

  add(spans: readonly SpanRecord[]): void {
    this.#spansRead += spans.length;
    this.#take(this.analyzer.add(spans, this.#spansRead));
    this.#take(this.analyzer.poll(this.#spansRead));
  }

  /** Analyses what is still buffered and returns the rollups. */
  finish(): RollupSet {
    this.#take(this.analyzer.flush());
    return this.rollups;
  }

  #take(analyses: RequestAnalysis[]): void {
    for (const a of analyses) this.rollups.add(a);
    if (analyses.length > 0) this.#onAnalysed?.(analyses);
  }
}
