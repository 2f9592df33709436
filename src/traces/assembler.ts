/**
 * Buffers spans per trace as they stream in (any order, across batches, files and clients) and
 * releases a trace once it is complete, so memory grows with open traces, not with input size.
 */
import { SpanKind, type SpanIdWords, type SpanRecord, type TraceId } from '../otlp/span.js';
import { REFUSAL_WAIT_CAP_MS } from './admission.js';
import { awaitedIds, awaitsParents, callPaths, continuingSpans, isAnswered, isRequestSpan, learnedLast, looksWhole, MAX_AWAITED_CALLS, peerCalls, pendingCalls, type AwaitedCall, type ReleasedTrace } from './assemble.js';
import { PendingHolds } from './holds.js';
import { isProbe, OpaquePeers } from './peers.js';
import { RecentSpans, RecentTraceIds } from './recent.js';

export interface AssemblerOptions {
  /**
   * A trace with a request span is complete once it has been quiet this long (clock units), unless it
   * looks whole sooner, or a span that is no request span still awaits its parent (assemble.ts
   * awaitsParents: then it goes as a trace without a request span does). Default 2000.
   */
  traceWaitMs?: number;
  /**
   * A trace whose spans look whole (assemble.ts `looksWhole`: its root and every parent arrived, every
   * outbound call answered) is complete once it has been quiet this long. Default (and at most):
   * traceWaitMs, so no trace goes sooner.
   */
  traceSettleMs?: number;
  /** Any trace is complete this long after its first span, rooted or not, unless it is still growing (below). Default 30000. */
  maxTraceAgeMs?: number;
  /**
   * A trace past maxTraceAgeMs that a span joined within the last maxTraceAgeMs (or within its pause,
   * below) is still growing: it is kept until this long after its first span, while its spans'
   * estimated bytes stay within maxGrowingTraceBytes. A long Celery task's queries come for minutes
   * before its run's span, which the worker exports last. Default: maxTraceAgeMs (no trace is kept past it).
   */
  maxGrowingTraceAgeMs?: number;
  /**
   * How long a growing trace may go without a span, past maxTraceAgeMs: as long as its spans have run
   * (first to last), up to this. A task that has queried for minutes may compute, or call an API, for
   * a minute before its next query; one killed before its run's span was exported is held as long,
   * so this caps it. Default: maxTraceAgeMs (no longer pause).
   */
  maxGrowingTracePauseMs?: number;
  /** See maxGrowingTraceAgeMs. Default: no limit. */
  maxGrowingTraceBytes?: number;
  /** Open traces kept at most; past it the oldest is released early and counted. Default 50000. */
  maxOpenTraces?: number;
  /**
   * Estimated bytes of open traces kept at most: their spans' (estimateSpanBytes) and OPEN_TRACE_BYTES
   * each. A span that takes them past it releases the least recently touched other traces early, as
   * many as it takes, counted as evictions like maxOpenTraces'. Default: no limit.
   */
  maxOpenBytes?: number;
  /** Completed trace ids remembered to recognise late spans. Default 100000. */
  rememberCompleted?: number;
  /** What the calls those traces still await may take (their JSON's bytes); past it the oldest calls are forgotten. Default MAX_AWAITED_BYTES. */
  maxAwaitedBytes?: number;
}

/** Rough heap bytes a buffered span costs: fixed columns plus its strings (one byte per ASCII char). */
export function estimateSpanBytes(span: SpanRecord): number {
  return span.dbStatement === undefined ? 400 + span.name.length : estimateDbSpanBytes(span.dbStatement);
}

/** estimateSpanBytes of a span with a statement. */
export function estimateDbSpanBytes(statement: string): number {
  return 120 + statement.length;
}

/**
 * Heap bytes an open trace costs beyond its spans, for maxOpenBytes: its entries in the open maps, its
 * bookkeeping and its buffer's empty columns (traces/compact.ts). Measured: 100k open traces of one
 * short DB span each took 1.12 KB of heap apiece after full GCs, some 30–75 B of it the span.
 */
export const OPEN_TRACE_BYTES = 1024;

/** What adding a batch would do to the buffer, worked out without adding it (see traces/admission.ts). */
export interface BatchSurvey {
  /** Traces the batch would open. Spans of released traces are late, not new, unless the trace awaits calls (a continuation). */
  newTraces: number;
  /** Open traces the batch continues. */
  continued: TraceId[];
  /** Traces the batch would open, by id (for holds when it is refused). */
  opened: TraceId[];
  /** Estimated heap bytes the batch would add. */
  bytes: number;
}

/** Open traces and bytes buffered on behalf of one source (a transport), for fair sharing. */
export interface SourceUsage {
  traces: number;
  bytes: number;
}

/**
 * A trace released by the assembler, with why it was released. `spans` is the trace's buffer: the
 * span records themselves unless the assembler was given another TraceBuffer.
 */
export interface CompletedTrace<B = SpanRecord[]> {
  traceId: TraceId;
  spans: B;
  /** `settled`: quiet for the settle time and looking whole; `quiet`: for the trace wait. */
  reason: 'settled' | 'quiet' | 'max_age' | 'evicted' | 'flush';
  /**
   * Set when these spans came after the trace was released (its continuation): the request spans
   * among them that are new work (continuingSpans). Only those are analysed; the rest were late.
   */
  continuing?: ReadonlySet<string>;
  /** The calls the trace awaits now it is released (pendingCalls), when any or when it was a continuation (then maybe none). */
  awaited?: readonly AwaitedCall[];
}

/**
 * How an open trace keeps its spans. The default keeps the records in an array; the Analyzer keeps
 * them in columns (traces/compact.ts), so buffered spans cost a fraction of the memory and the
 * records themselves die young.
 */
export interface TraceBuffer<B> {
  create(): B;
  add(buffer: B, span: SpanRecord): void;
  /** Adds the id of every span in the buffer to `recent`. */
  rememberIds(buffer: B, recent: RecentSpans): void;
  /** `looksWhole` (assemble.ts) of the spans in the buffer, calls to the peers `opaque` names needing no answer. */
  looksWhole(buffer: B, opaque?: (peer: string) => boolean, awaited?: ReadonlySet<string>): boolean;
  /** `awaitsParents` (assemble.ts) of the spans in the buffer. */
  awaitsParents(buffer: B, released?: ReleasedTrace): boolean;
  /** The buffer's spans as records, all but plain DB spans (which are neither calls nor requests). */
  records(buffer: B): readonly SpanRecord[];
}

const RECORDS: TraceBuffer<SpanRecord[]> = {
  create: () => [],
  add: (buffer, span) => void buffer.push(span),
  rememberIds: (buffer, recent) => {
    for (const span of buffer) recent.add(span.spanId);
  },
  looksWhole: (buffer, opaque, awaited) => looksWhole(buffer, [], undefined, opaque, awaited),
  awaitsParents: (buffer, released) => awaitsParents(buffer, [], undefined, released),
  records: (buffer) => buffer,
};

export interface AssemblerCounters {
  spansBuffered: number;
  /** Estimated heap bytes of buffered spans (estimateSpanBytes). */
  bytesBuffered: number;
  tracesCompleted: number;
  /** Traces released after the settle time because they looked whole (the rest of tracesCompleted waited longer). */
  tracesSettled: number;
  evictions: number;
  /**
   * Spans of an already released trace that it did not have. Those below a call it still awaited
   * (a queued task, a late callee) are analysed as a continuation of the trace; the rest are dropped.
   */
  lateSpans: number;
  /** Requests analysed from such a continuation: work that outlived the trace wait. */
  continuedRequests: number;
  /** Copies of spans already taken (exporter retries, a file read twice): dropped. Copies within an open trace are counted where the trace is assembled. */
  duplicateSpans: number;
  /** Queries outside any request (traces/assemble.ts isOutsideRequests): left out. Counted where traces are assembled. */
  queriesOutsideRequests: number;
}

interface OpenTrace<B> {
  spans: B;
  /** Spans in the buffer. */
  count: number;
  firstSeen: number;
  lastSeen: number;
  rooted: boolean;
  /** Index of this trace's last touch in the pending reorder list, -1 when none is pending. */
  touch: number;
  bytes: number;
  /** Who opened the trace (a transport), for per-source usage. */
  source: string;
  /** Not released before this time: more of its spans were refused and will be retried. */
  holdUntil: number;
  /** `count` when the last hold was set (-1: never held): spans joining after it mean the refused ones were resent. */
  countAtHold: number;
  /** `count` when the trace was last found not to look whole (-1: never): a poll looks again once it has grown, or once notWholeFor is learned. */
  notWholeAt: number;
  /** The peer whose unanswered call kept the trace from looking whole then, if that was all. */
  notWholeFor: string | undefined;
  /** `count` when the trace, past its trace wait, was last found to await a span's parent (-1: never): kept as one without a request span is. */
  parentsAt: number;
  /** A continuation (spans that came after the trace was released): the calls it still awaited then. */
  awaited: Awaited | undefined;
}

/** The calls a continuation's trace still awaited when released, and their span ids. */
interface Awaited {
  calls: readonly AwaitedCall[];
  ids: ReadonlySet<string>;
}

/** A batch being added: its source, what it evicted, its fast-path trace, what it opened and touched. */
interface Batch<B> {
  source: string;
  usage: SourceUsage;
  evicted: CompletedTrace<B>[];
  lastId: TraceId | undefined;
  last: OpenTrace<B> | undefined;
  opened: TraceId[];
  touched: RefilledList<OpenTrace<B>>;
}

/**
 * A list emptied and filled again batch after batch. Emptying an array (`length = 0`) hands its
 * storage back, so filling it again grew it again, copy by copy: garbage for the young generation at
 * every export (bench/churn.mjs). Cleared slots hold nothing alive.
 */
class RefilledList<T> {
  readonly #items: (T | undefined)[] = [];
  #length = 0;

  get length(): number {
    return this.#length;
  }

  push(item: T): void {
    this.#items[this.#length++] = item;
  }

  at(i: number): T {
    return this.#items[i] as T;
  }

  clear(): void {
    const items = this.#items;
    for (let i = 0; i < this.#length; i++) items[i] = undefined;
    this.#length = 0;
  }
}

/**
 * The clock is whatever the caller passes as `now`: wall-clock ms in `n1lens serve`, spans read so
 * far in `n1-report`, where a file has no clock of its own.
 */
export class TraceAssembler<B = SpanRecord[]> {
  readonly #wait: number;
  readonly #settle: number;
  readonly #maxAge: number;
  readonly #maxGrowingAge: number;
  readonly #maxGrowingBytes: number;
  readonly #maxGrowingPause: number;
  readonly #maxOpen: number;
  readonly #maxOpenBytes: number;
  // Insertion order is kept as "least recently touched first" by re-inserting on every add.
  readonly #open = new Map<TraceId, OpenTrace<B>>();
  readonly #buffer: TraceBuffer<B>;
  // Never re-inserted, so ordered by first span: the max-age sweep stops at the first young trace.
  readonly #byFirstSeen = new Map<TraceId, number>();
  readonly #completed: RecentTraceIds;
  /** Trace ids touched by the add() in progress, in touch order (see #reorder). */
  readonly #touched = new RefilledList<TraceId>();
  /** The traces the batch in progress touched (Batch.touched), kept from batch to batch. */
  readonly #batchTouched = new RefilledList<OpenTrace<B>>();
  readonly #usage = new Map<string, SourceUsage>();
  /** Holds for traces refused before they opened (or before their continuation did). */
  readonly #pendingHolds: PendingHolds;
  /** No trace is released before this (holdAll): clients may hold any trace's spans behind a refused export. */
  #holdAllUntil = 0;
  /** When a span last joined an open trace. */
  #lastAdded = Number.NEGATIVE_INFINITY;
  /** The last poll found a complete trace that only holdAll kept open. */
  #keptByHoldAll = false;
  /** The batch being added (begin … end). */
  #batch: Batch<B> | undefined;
  /** Where the search for the open trace to evict resumes within the batch (#oldestOpen). */
  #evictFrom: Iterator<TraceId, undefined> | undefined;
  #lastOpened: TraceId[] = [];
  /** The array the next batch lists what it opens in: lastOpened's previous one, emptied (see begin). */
  #spareOpened: TraceId[] = [];
  readonly counters: AssemblerCounters = { spansBuffered: 0, bytesBuffered: 0, tracesCompleted: 0, tracesSettled: 0, evictions: 0, lateSpans: 0, continuedRequests: 0, duplicateSpans: 0, queriesOutsideRequests: 0 };
  /** Span ids of released traces, to tell a retried copy from a late span. */
  readonly #released = new RecentSpans();
  /** Peers whose calls are never answered, learned from released traces (only with a settle time). */
  readonly #opaquePeers = new OpaquePeers();
  readonly #isOpaque = (peer: string): boolean => this.#opaquePeers.isOpaque(peer);
  readonly #wasReleased = (spanId: string): boolean => this.#released.has(spanId);

  /** `buffer` decides how open traces keep their spans; by default as the records themselves. */
  constructor(options: AssemblerOptions = {}, buffer?: TraceBuffer<B>) {
    this.#buffer = buffer ?? (RECORDS as unknown as TraceBuffer<B>);
    this.#wait = options.traceWaitMs ?? 2000;
    this.#settle = Math.min(this.#wait, options.traceSettleMs ?? this.#wait);
    this.#maxAge = options.maxTraceAgeMs ?? 30_000;
    this.#maxGrowingAge = Math.max(this.#maxAge, options.maxGrowingTraceAgeMs ?? this.#maxAge);
    this.#maxGrowingBytes = options.maxGrowingTraceBytes ?? Number.POSITIVE_INFINITY;
    this.#maxGrowingPause = Math.max(this.#maxAge, options.maxGrowingTracePauseMs ?? this.#maxAge);
    this.#maxOpen = options.maxOpenTraces ?? 50_000;
    this.#maxOpenBytes = options.maxOpenBytes ?? Number.POSITIVE_INFINITY;
    const remember = options.rememberCompleted ?? 100_000;
    this.#completed = new RecentTraceIds(remember, options.maxAwaitedBytes);
    this.#pendingHolds = new PendingHolds(remember);
  }

  /** How long a trace that looks whole waits (at most the trace wait). */
  get settleMs(): number {
    return this.#settle;
  }

  get openTraces(): number {
    return this.#open.size;
  }

  /** Bytes of the calls released traces still await (RecentTraceIds.awaitedBytes). */
  get awaitedBytes(): number {
    return this.#completed.awaitedBytes;
  }

  /** What this assembler learned of peers (traces/peers.ts), and the verdicts it shares through the store. */
  get peers(): OpaquePeers {
    return this.#opaquePeers;
  }

  isOpen(traceId: TraceId): boolean {
    return this.#open.has(traceId);
  }

  /** True when no new trace can be opened without evicting one. */
  get isFull(): boolean {
    return this.#open.size >= this.#maxOpen;
  }

  /** Counts the traces in `spans` that would open: neither open nor released, or released but awaiting calls (a continuation). */
  countNewTraces(spans: readonly SpanRecord[]): number {
    return this.survey(spans).newTraces;
  }

  /** What adding `spans` would open, continue and cost; changes nothing. */
  survey(spans: readonly SpanRecord[]): BatchSurvey {
    const runs: TraceId[] = [];
    let bytes = 0;
    let last: TraceId | undefined;
    for (const s of spans) {
      bytes += estimateSpanBytes(s);
      // A batch holds runs of spans of one trace: look each run up once.
      if (s.traceId === last) continue;
      last = s.traceId;
      runs.push(last);
    }
    return this.surveyTraces(runs, bytes);
  }

  /** `survey` of spans known by their trace ids (a run of one trace may be given once) and estimated bytes. */
  surveyTraces(traceIds: readonly TraceId[], bytes: number): BatchSurvey {
    const opened = new Set<TraceId>();
    const continued = new Set<TraceId>();
    for (const id of traceIds) {
      if (this.#open.has(id)) continued.add(id);
      // A released trace that awaits calls opens a continuation: admitted as a new trace is.
      else if (!this.#completed.has(id) || this.#completed.awaits(id)) opened.add(id);
    }
    return { newTraces: opened.size, continued: [...continued], opened: [...opened], bytes };
  }

  /** Open traces and bytes per source (the `source` given to add()). */
  usage(source: string): SourceUsage {
    return this.#usage.get(source) ?? { traces: 0, bytes: 0 };
  }

  /**
   * Marks traces as already released (analysed in an earlier life of the process, or by another
   * instance), so their spans count as late instead of opening a second copy of the trace; `awaited`:
   * the calls some still await, as their commit recorded them, so what answers those continues them.
   * Open traces are left alone.
   */
  markReleased(traceIds: Iterable<TraceId>, awaited?: ReadonlyMap<TraceId, readonly AwaitedCall[]>): void {
    for (const id of traceIds) {
      if (this.#open.has(id) || this.#completed.has(id)) continue;
      this.#completed.add(id, awaited?.get(id));
    }
  }

  /** Stops awaiting these released traces' calls: another writer committed them, so their continuations are its to analyse. */
  forgetAwaited(traceIds: Iterable<TraceId>): void {
    for (const id of traceIds) if (this.#completed.awaits(id)) this.#completed.add(id);
  }

  /**
   * Keeps the given traces from being released before `until`: some of their spans were just refused
   * and the client will retry them. Releasing earlier would split the trace. A trace not open yet
   * gets the hold when it opens (its other spans may arrive first, in an export that is admitted).
   */
  hold(traceIds: Iterable<TraceId>, until: number): void {
    for (const id of traceIds) {
      const trace = this.#open.get(id);
      if (trace !== undefined) {
        trace.holdUntil = Math.max(trace.holdUntil, until);
        trace.countAtHold = trace.count;
      } else if (!this.#completed.has(id) || this.#completed.awaits(id)) {
        // Not open yet, or released still awaiting calls: its answer's spans may be among those refused.
        this.#pendingHolds.set(id, until);
      }
    }
  }

  /**
   * Keeps every trace, open now or opened later, from being released before `until`. An exporter
   * whose export was refused sleeps through its retry delay with the rest of its queue behind it (the
   * Collector's sending queue: each consumer waits out its own retry), so spans of any open trace,
   * not only those of the refused export, may arrive only after that retry is taken.
   */
  holdAll(until: number): void {
    this.#holdAllUntil = Math.max(this.#holdAllUntil, until);
  }

  /** Ends holdAll at once (the buffer has to drain: memory comes first). */
  endHoldAll(): void {
    this.#holdAllUntil = 0;
  }

  /**
   * True while holdAll keeps the buffer and it is not moving: no span has joined an open trace for
   * the trace wait (at most REFUSAL_WAIT_CAP_MS), or the last poll found a trace complete and kept
   * only by the hold. Refusing new traces then frees no room (nothing can be released until the
   * refused exporters come back), while the spans the open traces wait for may be queued behind the
   * very exports being refused.
   */
  isStalled(now: number): boolean {
    if (now >= this.#holdAllUntil || this.#open.size === 0) return false;
    return this.#keptByHoldAll || now - this.#lastAdded >= Math.min(this.#wait, REFUSAL_WAIT_CAP_MS);
  }

  /**
   * Adds spans. Spans of an already released trace are late: dropped, so a finding is never counted
   * twice, unless they continue it (see #late). Returns the traces evicted to stay under the open-trace limit.
   */
  add(spans: readonly SpanRecord[], now: number, source = ''): CompletedTrace<B>[] {
    this.begin(source);
    const buffer = this.#buffer;
    for (let i = 0; i < spans.length; i++) {
      const span = spans[i]!;
      const trace = this.span(span.traceId, span.spanId, estimateSpanBytes(span), isRequestSpan(span));
      if (trace !== undefined) buffer.add(trace, span);
    }
    return this.end(now);
  }

  /**
   * Starts a batch fed span by span (`span`, then `end`), for decoders that write spans straight into
   * the buffers (traces/compact.ts) without a record per span. `add` is this over records.
   */
  begin(source = ''): void {
    let usage = this.#usage.get(source);
    if (usage === undefined) {
      usage = { traces: 0, bytes: 0 };
      this.#usage.set(source, usage);
    }
    // Arrays kept from batch to batch, emptied: a new empty literal holds small integers until its
    // first push, and optimised code that met it so deoptimised at that push ("not a Smi"). What a
    // batch opens outlives it as lastOpened, so two arrays take turns.
    const touched = this.#batchTouched;
    touched.clear();
    const opened = this.#spareOpened;
    opened.length = 0;
    this.#evictFrom = undefined;
    this.#batch = { source, usage, evicted: [], lastId: undefined, last: undefined, opened, touched };
  }

  /**
   * One span of the batch begun: returns the buffer of its open trace to add it to, or undefined when
   * it is dropped (its trace was already released). The batch's time is given to `end`, once the
   * batch is read.
   *
   * The open map is ordered by last touch. Rather than moving a trace to the end on every span, a
   * batch records its touches and moves each touched trace once, in order of its last touch, before
   * an eviction looks at the order and when the batch ends: the same order, at a fraction of the
   * map operations (a batch holds many spans of few traces).
   */
  span(traceId: TraceId, spanId: string, bytes: number, rooting: boolean): B | undefined {
    return this.#enter(traceId, bytes, rooting, undefined) ?? this.#late(traceId, this.#released.has(spanId), bytes, rooting);
  }

  /** `span` of a span whose id (16 hex digits) is given as the two 32-bit words it spells. */
  spanWords(traceId: TraceId, id: SpanIdWords, bytes: number, rooting: boolean): B | undefined {
    return this.#enter(traceId, bytes, rooting, undefined) ?? this.#late(traceId, this.#released.hasWords(id.spanIdHi, id.spanIdLo), bytes, rooting);
  }

  /**
   * A span of a released trace: a copy of one it had is dropped, even while the trace's continuation
   * is open (else it would join it, and a copy of a request span root it). Another opens (or joins)
   * the trace's continuation when the trace still awaited calls, since it may be what answers them;
   * otherwise it is late and dropped.
   */
  #late(traceId: TraceId, copy: boolean, bytes: number, rooting: boolean): B | undefined {
    if (copy) {
      this.counters.duplicateSpans++;
      return undefined;
    }
    // Its continuation is open: the span joins it.
    const open = this.#open.get(traceId)?.awaited;
    if (open !== undefined) return this.#enter(traceId, bytes, rooting, open) ?? undefined;
    const awaited = this.#completed.awaited(traceId);
    if (awaited === undefined) {
      this.counters.lateSpans++;
      return undefined;
    }
    return this.#enter(traceId, bytes, rooting, { calls: awaited, ids: awaitedIds(awaited) }) ?? undefined;
  }

  /** `span` up to the id: null when the trace was already released, its continuation open or not (unless `continuing`, the calls it awaited). */
  #enter(traceId: TraceId, bytes: number, rooting: boolean, continuing: Awaited | undefined): B | null {
    const batch = this.#batch!;
    const touched = this.#touched;
    let trace: OpenTrace<B> | undefined = traceId === batch.lastId ? batch.last : this.#open.get(traceId);
    // A continuation's span may be a copy of one its trace had (an exporter's retry): #late tells first.
    if (trace !== undefined && trace.awaited !== undefined && continuing === undefined) return null;
    if (trace === undefined) {
      if (continuing === undefined && this.#completed.has(traceId)) return null;
      if (this.#open.size >= this.#maxOpen) {
        this.#reorder();
        const oldest = this.#oldestOpen();
        if (oldest !== undefined) {
          batch.evicted.push(this.#release(oldest, 'evicted'));
          this.counters.evictions++;
          // The released trace may be the one the fast path remembers.
          batch.lastId = undefined;
          batch.last = undefined;
        }
      }
      const held = this.#pendingHolds.take(traceId);
      // firstSeen and lastSeen are the batch's time, set by end().
      trace = { spans: this.#buffer.create(), count: 0, firstSeen: 0, lastSeen: 0, rooted: false, touch: -1, bytes: 0, source: batch.source, holdUntil: held ?? 0, countAtHold: held === undefined ? -1 : 0, notWholeAt: -1, notWholeFor: undefined, parentsAt: -1, awaited: continuing };
      this.#byFirstSeen.set(traceId, 0);
      this.#open.set(traceId, trace);
      batch.opened.push(traceId);
      batch.usage.traces++;
    }
    trace.bytes += bytes;
    this.counters.bytesBuffered += bytes;
    const owner = trace.source === batch.source ? batch.usage : this.#usage.get(trace.source);
    if (owner !== undefined) owner.bytes += bytes;
    trace.count++;
    if (!trace.rooted && rooting) trace.rooted = true;
    if (trace !== batch.last) {
      trace.touch = touched.length;
      touched.push(traceId);
      batch.touched.push(trace);
      batch.lastId = traceId;
      batch.last = trace;
    } else trace.touch = touched.length - 1;
    this.counters.spansBuffered++;
    if (this.counters.bytesBuffered + this.#open.size * OPEN_TRACE_BYTES > this.#maxOpenBytes) this.#evictForBytes(traceId);
    return trace.spans;
  }

  /**
   * Releases the least recently touched traces until the open ones are within maxOpenBytes again, all
   * but `keep`, the trace the span in hand joins (a trace past it alone is kept).
   */
  #evictForBytes(keep: TraceId): void {
    const batch = this.#batch!;
    // `keep` was touched last: the reorder makes it the open map's last key.
    this.#reorder();
    while (this.#open.size > 1 && this.counters.bytesBuffered + this.#open.size * OPEN_TRACE_BYTES > this.#maxOpenBytes) {
      const oldest = this.#oldestOpen();
      if (oldest === undefined || oldest === keep) break;
      batch.evicted.push(this.#release(oldest, 'evicted'));
      this.counters.evictions++;
    }
  }

  /** Ends the batch begun at `now`; returns the traces evicted to stay under the open-trace limit. */
  end(now: number): CompletedTrace<B>[] {
    const batch = this.#batch!;
    this.#batch = undefined;
    // An idle Map iterator keeps every table the Map is rebuilt into after it alive: kept only within a batch.
    this.#evictFrom = undefined;
    for (const traceId of batch.opened) {
      const trace = this.#open.get(traceId);
      if (trace === undefined) continue; // evicted within the batch
      trace.firstSeen = now;
      this.#byFirstSeen.set(traceId, now); // an existing key keeps its place
    }
    const touched = batch.touched;
    for (let i = 0; i < touched.length; i++) touched.at(i).lastSeen = now;
    if (touched.length > 0) this.#lastAdded = now;
    touched.clear();
    this.#reorder();
    this.#spareOpened = this.#lastOpened;
    this.#lastOpened = batch.opened;
    return batch.evicted;
  }

  /** The traces the last batch (add, or begin … end) opened, in order: valid until the next batch ends (its array is reused then), so copy it to keep it longer. */
  get lastOpened(): readonly TraceId[] {
    return this.#lastOpened;
  }

  /**
   * The open trace touched least recently: the open map's first key. A fresh iterator reaches it past
   * every entry deleted before it (V8 keeps them as holes until the table is rebuilt), so evicting at
   * every new trace walked them all again: 300k traces open at once took 14 s, 58 % of it in that walk.
   * One iterator kept from eviction to eviction within a batch walks each entry once: every key it
   * passed was evicted, and keys moved or added since come after it, so it is done only when the map
   * is empty.
   */
  #oldestOpen(): TraceId | undefined {
    this.#evictFrom ??= this.#open.keys();
    const next = this.#evictFrom.next();
    if (next.done === true) this.#evictFrom = undefined; // a Map iterator that is done stays done
    return next.value;
  }

  /** Moves the traces touched since the last reorder to the end of the open map, by last touch. */
  #reorder(): void {
    const touched = this.#touched;
    for (let i = 0; i < touched.length; i++) {
      const traceId = touched.at(i);
      const trace = this.#open.get(traceId);
      if (trace === undefined || trace.touch !== i) continue; // released since, or touched again later
      this.#open.delete(traceId);
      this.#open.set(traceId, trace);
      trace.touch = -1;
    }
    touched.clear();
  }

  /**
   * Releases every trace that is complete at `now` (none while holdAll holds). `keepGrowing` false:
   * traces past the maximum age go even while they grow, and those past the trace wait even while a
   * span awaits its parent (memory comes first, as for endHoldAll).
   */
  poll(now: number, keepGrowing = true): CompletedTrace<B>[] {
    this.#pendingHolds.prune(now);
    // One look per poll (not per export): the open traces may be many and all quiet.
    this.#keptByHoldAll = now < this.#holdAllUntil && this.#releasable(now, keepGrowing, () => true);
    if (now < this.#holdAllUntil) return [];
    const done: CompletedTrace<B>[] = [];
    this.#releasable(now, keepGrowing, (traceId, reason) => {
      done.push(this.#release(traceId, reason));
      return false;
    });
    return done;
  }

  /**
   * Calls `each` with every trace complete at `now`: past the maximum age and no longer growing (or
   * growing, unless `keepGrowing`), or
   * rooted and quiet for the trace wait (for the settle time when it looks whole), and not held.
   * Stops early when `each` returns true; returns whether it did.
   */
  #releasable(now: number, keepGrowing: boolean, each: (traceId: TraceId, reason: 'max_age' | 'quiet' | 'settled') => boolean): boolean {
    for (const [traceId, firstSeen] of this.#byFirstSeen) {
      if (now - firstSeen < this.#maxAge) break;
      const trace = this.#open.get(traceId)!;
      if (trace.holdUntil > now || (keepGrowing && this.#isGrowing(trace, firstSeen, now))) continue;
      if (each(traceId, 'max_age')) return true;
    }
    for (const [traceId, trace] of this.#open) {
      const quiet = now - trace.lastSeen;
      if (quiet < this.#settle) break; // ordered by lastSeen: the rest are newer
      if (!trace.rooted || trace.holdUntil > now) continue;
      // Memory first (not `keepGrowing`): a trace kept for a span's parent goes at the wait, as it did.
      if (quiet >= this.#wait ? !(keepGrowing && this.#awaitsParents(trace)) && each(traceId, 'quiet') : this.#looksWhole(trace) && each(traceId, 'settled')) return true;
    }
    return false;
  }

  /**
   * A trace past the maximum age that is kept for now (AssemblerOptions.maxGrowingTraceAgeMs and
   * maxGrowingTracePauseMs): it may pause as long as its spans have run, within the maximum pause,
   * and for the maximum age at least.
   */
  #isGrowing(trace: OpenTrace<B>, firstSeen: number, now: number): boolean {
    const pause = Math.max(this.#maxAge, Math.min(this.#maxGrowingPause, trace.lastSeen - firstSeen));
    return now - firstSeen < this.#maxGrowingAge && now - trace.lastSeen < pause && trace.bytes <= this.#maxGrowingBytes;
  }

  /**
   * The traces kept past the maximum age at `now` because they still grow, oldest first: those whose
   * spans the spool copies apart, so that they pin no segment of other traces' spans
   * (server/spool-compaction.ts). Not those only held (a refusal, holdAll): they go soon.
   */
  growingPastMaxAge(now: number): TraceId[] {
    const growing: TraceId[] = [];
    for (const [traceId, firstSeen] of this.#byFirstSeen) {
      if (now - firstSeen < this.#maxAge) break;
      if (this.#isGrowing(this.#open.get(traceId)!, firstSeen, now)) growing.push(traceId);
    }
    return growing;
  }

  #looksWhole(trace: OpenTrace<B>): boolean {
    if (trace.notWholeAt === trace.count && (trace.notWholeFor === undefined || !this.#isOpaque(trace.notWholeFor))) return false;
    // looksWhole asks about a peer only once every parent has arrived, and stops at the first it is
    // told is not opaque: that peer's call, unanswered, is then what keeps the trace from looking whole.
    let blocking: string | undefined;
    const opaque = (peer: string): boolean => {
      if (this.#isOpaque(peer)) return true;
      blocking = peer;
      return false;
    };
    if (this.#buffer.looksWhole(trace.spans, opaque, trace.awaited?.ids)) return true;
    trace.notWholeAt = trace.count;
    trace.notWholeFor = blocking;
    return false;
  }

  /**
   * Whether a trace quiet for the trace wait still awaits a span's parent (awaitsParents): then only
   * the maximum age lets it go, with its pauses while it grows. Looked at again once it has grown.
   */
  #awaitsParents(trace: OpenTrace<B>): boolean {
    // Offline (no maximum age) the wait is already 200,000 spans, and nothing would end the hold of a
    // trace whose parent was lost: it would be looked at again at every poll until the input ends.
    if (this.#maxAge === Number.POSITIVE_INFINITY) return false;
    if (trace.parentsAt === trace.count) return true;
    const released = trace.awaited === undefined ? undefined : { ids: trace.awaited.ids, had: this.#wasReleased };
    if (!this.#buffer.awaitsParents(trace.spans, released)) return false;
    trace.parentsAt = trace.count;
    return true;
  }

  /** Releases everything still open (end of input, shutdown). */
  flush(): CompletedTrace<B>[] {
    return [...this.#open.keys()].map((id) => this.#release(id, 'flush'));
  }

  #release(traceId: TraceId, reason: CompletedTrace['reason']): CompletedTrace<B> {
    const trace = this.#open.get(traceId);
    this.#open.delete(traceId);
    this.#byFirstSeen.delete(traceId);
    this.counters.tracesCompleted++;
    if (reason === 'settled') this.counters.tracesSettled++;
    this.counters.spansBuffered -= trace?.count ?? 0;
    let continuing: Set<string> | undefined;
    let awaited: AwaitedCall[] | undefined;
    if (trace === undefined) this.#completed.add(traceId);
    else {
      this.#buffer.rememberIds(trace.spans, this.#released);
      const records = this.#buffer.records(trace.spans);
      // A probe awaits its calls to learned peers too, so that an answer, whenever it comes, un-learns them.
      const probe = isProbe(traceId);
      if (trace.awaited === undefined) {
        const paths = callPaths(records, true);
        const pending = pendingCalls(paths, this.#isOpaque, probe);
        if (pending.length > 0) awaited = pending;
        this.#completed.add(traceId, awaited);
        // Only a trace complete by its own rules says whether its peers answer. One some of whose spans
        // were refused counts once spans joined it after the refusal (most often the resend, with any
        // answer in it; a probe corrects a wrong guess). Left out, only traces no refusal touched would
        // teach, and a flood that refuses most exports leaves few of those.
        // One kept past its wait for a span's parent (awaitsParents) waited it out too.
        const waited = reason === 'quiet' || reason === 'settled' || trace.parentsAt === trace.count;
        if (waited && this.#settle < this.#wait && trace.count > trace.countAtHold) {
          for (const call of peerCalls(paths)) this.#opaquePeers.observe(call);
        }
      } else {
        // A continuation: its requests below an awaited call are new work; what they answered is no
        // longer awaited, and what they call unanswered is.
        const { spans: continued, answered } = continuingSpans(records, trace.awaited.ids);
        // A peer whose answer came after the trace wait does send spans: it must not stay (or become) opaque.
        const still: AwaitedCall[] = [];
        for (const call of trace.awaited.calls) {
          if (!isAnswered(call, answered)) still.push(call);
          else if (call.peer !== undefined) this.#opaquePeers.observe({ peer: call.peer, answered: true });
        }
        const pending = learnedLast(still.concat(pendingCalls(callPaths(continued, true), this.#isOpaque, probe)), this.#isOpaque).slice(0, MAX_AWAITED_CALLS);
        awaited = pending;
        this.#completed.add(traceId, pending.length > 0 ? pending : undefined);
        continuing = new Set(continued.filter((r) => r.kind === SpanKind.SERVER || r.kind === SpanKind.CONSUMER).map((r) => r.spanId));
        this.counters.lateSpans += trace.count;
        this.counters.continuedRequests += continuing.size;
      }
      this.counters.bytesBuffered -= trace.bytes;
      const usage = this.#usage.get(trace.source);
      if (usage !== undefined) {
        usage.traces--;
        usage.bytes -= trace.bytes;
      }
    }
    const spans = trace?.spans ?? this.#buffer.create();
    const released: CompletedTrace<B> = { traceId, spans, reason };
    if (continuing !== undefined) released.continuing = continuing;
    if (awaited !== undefined) released.awaited = awaited;
    return released;
  }
}
