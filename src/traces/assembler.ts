/**
 * Buffers spans per trace as they stream in (any order, across batches, files and clients) and
 * releases a trace once it is complete, so memory grows with open traces, not with input size.
 */
import type { SpanRecord, TraceId } from '../otlp/span.js';
import { isRequestSpan } from './assemble.js';

export interface AssemblerOptions {
  /** A rooted trace is complete once it has been quiet this long (clock units). Default 2000. */
  traceWaitMs?: number;
  /** Any trace is complete this long after its first span, rooted or not. Default 30000. */
  maxTraceAgeMs?: number;
  /** Open traces kept at most; past it the oldest is released early and counted. Default 50000. */
  maxOpenTraces?: number;
  /** Completed trace ids remembered to recognise late spans. Default 100000. */
  rememberCompleted?: number;
}

/** A trace released by the assembler, with why it was released. */
export interface CompletedTrace {
  traceId: TraceId;
  spans: SpanRecord[];
  reason: 'quiet' | 'max_age' | 'evicted' | 'flush';
}

export interface AssemblerCounters {
  spansBuffered: number;
  tracesCompleted: number;
  evictions: number;
  lateSpans: number;
}

interface OpenTrace {
  spans: SpanRecord[];
  firstSeen: number;
  lastSeen: number;
  rooted: boolean;
}

/**
 * The clock is whatever the caller passes as `now`: wall-clock ms in `n1lens serve`, spans read so
 * far in `n1-report`, where a file has no clock of its own.
 */
export class TraceAssembler {
  readonly #wait: number;
  readonly #maxAge: number;
  readonly #maxOpen: number;
  readonly #remember: number;
  // Insertion order is kept as "least recently touched first" by re-inserting on every add.
  readonly #open = new Map<TraceId, OpenTrace>();
  // Never re-inserted, so ordered by first span: the max-age sweep stops at the first young trace.
  readonly #byFirstSeen = new Map<TraceId, number>();
  readonly #completed = new Set<TraceId>();
  readonly counters: AssemblerCounters = { spansBuffered: 0, tracesCompleted: 0, evictions: 0, lateSpans: 0 };

  constructor(options: AssemblerOptions = {}) {
    this.#wait = options.traceWaitMs ?? 2000;
    this.#maxAge = options.maxTraceAgeMs ?? 30_000;
    this.#maxOpen = options.maxOpenTraces ?? 50_000;
    this.#remember = options.rememberCompleted ?? 100_000;
  }

  get openTraces(): number {
    return this.#open.size;
  }

  /** True when no new trace can be opened without evicting one. */
  get isFull(): boolean {
    return this.#open.size >= this.#maxOpen;
  }

  /** Counts the traces in `spans` that are not open yet. */
  countNewTraces(spans: readonly SpanRecord[]): number {
    const seen = new Set<TraceId>();
    for (const s of spans) if (!this.#open.has(s.traceId)) seen.add(s.traceId);
    return seen.size;
  }

  /**
   * Adds spans. Spans of an already released trace are counted as late and dropped, so a finding is
   * never counted twice. Returns the traces evicted to stay under the open-trace limit.
   */
  add(spans: readonly SpanRecord[], now: number): CompletedTrace[] {
    const evicted: CompletedTrace[] = [];
    for (const span of spans) {
      if (this.#completed.has(span.traceId)) {
        this.counters.lateSpans++;
        continue;
      }
      let trace = this.#open.get(span.traceId);
      if (trace === undefined) {
        if (this.#open.size >= this.#maxOpen) {
          const oldest = this.#open.keys().next();
          if (!oldest.done) {
            evicted.push(this.#release(oldest.value, 'evicted'));
            this.counters.evictions++;
          }
        }
        trace = { spans: [], firstSeen: now, lastSeen: now, rooted: false };
        this.#byFirstSeen.set(span.traceId, now);
      } else {
        this.#open.delete(span.traceId);
      }
      trace.spans.push(span);
      trace.lastSeen = now;
      if (!trace.rooted && isRequestSpan(span)) trace.rooted = true;
      this.#open.set(span.traceId, trace);
      this.counters.spansBuffered++;
    }
    return evicted;
  }

  /** Releases every trace that is complete at `now`. */
  poll(now: number): CompletedTrace[] {
    const done: CompletedTrace[] = [];
    for (const [traceId, firstSeen] of this.#byFirstSeen) {
      if (now - firstSeen < this.#maxAge) break;
      done.push(this.#release(traceId, 'max_age'));
    }
    for (const [traceId, trace] of this.#open) {
      if (now - trace.lastSeen < this.#wait) break; // ordered by lastSeen: the rest are newer
      if (trace.rooted) done.push(this.#release(traceId, 'quiet'));
    }
    return done;
  }

  /** Releases everything still open (end of input, shutdown). */
  flush(): CompletedTrace[] {
    return [...this.#open.keys()].map((id) => this.#release(id, 'flush'));
  }

  #release(traceId: TraceId, reason: CompletedTrace['reason']): CompletedTrace {
    const trace = this.#open.get(traceId);
    this.#open.delete(traceId);
    this.#byFirstSeen.delete(traceId);
    this.#completed.add(traceId);
    if (this.#completed.size > this.#remember) {
      const first = this.#completed.values().next();
      if (!first.done) this.#completed.delete(first.value);
    }
    this.counters.tracesCompleted++;
    const spans = trace?.spans ?? [];
    this.counters.spansBuffered -= spans.length;
    return { traceId, spans, reason };
  }
}
