/**
 * Span ids of recently analysed traces, in a fixed 1 MiB table, to tell a late copy of an analysed
 * span (an exporter retry) from a span that genuinely arrived late. Direct-mapped and lossy by design:
 * a copy it has forgotten can open a trace's continuation (assembler.ts #late), where it continues
 * nothing, since what it answered is no longer awaited; a late span it mistakes for a copy is dropped.
 */
import type { AwaitedCall } from './assemble.js';
import { PlaceRing } from './places.js';

const SLOTS = 1 << 18;

export class RecentSpans {
  #tags: Uint32Array | undefined;

  /** Remembers a span id (16 hex characters). */
  add(spanId: string): void {
    const tags = (this.#tags ??= new Uint32Array(SLOTS));
    tags[slotOf(spanId)] = tagOf(spanId);
  }

  /** `add` of a span id of 16 lowercase hex digits, given as the 32-bit words they spell. */
  addWords(hi: number, lo: number): void {
    const tags = (this.#tags ??= new Uint32Array(SLOTS));
    tags[lo & (SLOTS - 1)] = (hi | 1) >>> 0;
  }

  /** `has` of a span id given as its two words (see addWords). */
  hasWords(hi: number, lo: number): boolean {
    return this.#tags !== undefined && this.#tags[lo & (SLOTS - 1)] === (hi | 1) >>> 0;
  }

  /** True when the span id was added recently (rarely a false yes after 2^18 others). */
  has(spanId: string): boolean {
    return this.#tags !== undefined && this.#tags[slotOf(spanId)] === tagOf(spanId);
  }
}

function slotOf(spanId: string): number {
  return parseInt(spanId.slice(8, 16), 16) & (SLOTS - 1);
}

/** Never 0, so an empty slot matches nothing. */
function tagOf(spanId: string): number {
  return (parseInt(spanId.slice(0, 8), 16) | 1) >>> 0;
}

/**
 * What the awaited calls of remembered traces may take, as their JSON: past it the oldest traces'
 * calls are forgotten (the traces themselves stay remembered, so their late spans still count as
 * late, never as a trace of their own). A trace keeps at most MAX_AWAITED_CALLS of ~60–150 bytes each,
 * so 100k traces could otherwise hold ~240 MB outside --max-buffer-mib; at one call a trace they
 * take ~8 MB. What answers a forgotten call is then a late span, as after the trace wait.
 */
export const MAX_AWAITED_BYTES = 32 * 1024 * 1024;

/**
 * The ids of the last `capacity` traces released, for telling their late spans from a new trace, in
 * the order a PlaceRing keeps (released again, a trace is the newest). Each id may carry the calls
 * its trace still awaited when released (assemble.ts pendingCalls), as their JSON: one string of ~80
 * bytes where the objects took ~250, which counts when every request queues work nobody traces.
 */
export class RecentTraceIds {
  readonly #ids: PlaceRing<string>;
  /** The calls' JSON of the ids that await some. */
  readonly #calls = new Map<string, string>();
  /** The ids that await calls, in the order their calls were set (for the budget). */
  readonly #callOrder: PlaceRing<string>;
  #callBytes = 0;
  readonly #maxCallBytes: number;

  constructor(capacity: number, maxCallBytes: number = MAX_AWAITED_BYTES) {
    this.#ids = new PlaceRing(capacity);
    // Calls are only ever held for ids held, so this ring never fills past them.
    this.#callOrder = new PlaceRing(capacity);
    this.#maxCallBytes = maxCallBytes;
  }

  has(traceId: string): boolean {
    return this.#ids.has(traceId);
  }

  /** The calls the trace awaited when it was last released; undefined for none (or a trace not remembered). */
  awaited(traceId: string): readonly AwaitedCall[] | undefined {
    const calls = this.#calls.get(traceId);
    return calls === undefined ? undefined : (JSON.parse(calls) as AwaitedCall[]);
  }

  /** Whether the trace awaited calls when it was last released. */
  awaits(traceId: string): boolean {
    return this.#calls.has(traceId);
  }

  /** Bytes of awaited calls held (their JSON's length), at most the budget given to the constructor. */
  get awaitedBytes(): number {
    return this.#callBytes;
  }

  /** Remembers a trace id as the newest (with the calls it awaits), forgetting the oldest once `capacity` are held; past their budget, the oldest calls are forgotten. */
  add(traceId: string, awaited?: readonly AwaitedCall[]): void {
    const forgotten = this.#ids.place(traceId);
    if (forgotten !== undefined) this.#dropCalls(forgotten);
    this.#dropCalls(traceId);
    if (awaited === undefined || awaited.length === 0) return;
    const json = JSON.stringify(awaited);
    this.#callOrder.place(traceId);
    this.#calls.set(traceId, json);
    this.#callBytes += json.length;
    // Never the calls just added: the budget holds the newest trace's whatever their size.
    while (this.#callBytes > this.#maxCallBytes && this.#callOrder.oldest() !== traceId) this.#dropCalls(this.#callOrder.dropOldest()!);
  }

  #dropCalls(traceId: string): void {
    const calls = this.#calls.get(traceId);
    if (calls === undefined) return;
    this.#calls.delete(traceId);
    this.#callOrder.delete(traceId);
    this.#callBytes -= calls.length;
  }
}
