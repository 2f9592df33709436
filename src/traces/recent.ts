/**
 * Span ids of recently analysed traces, in a fixed 1 MiB table, to tell a late copy of an analysed
 * span (an exporter retry) from a span that genuinely arrived late. Direct-mapped and lossy by design:
 * a copy it has forgotten can open a trace's continuation (assembler.ts #late), where it continues
 * nothing, since what it answered is no longer awaited; a late span it mistakes for a copy is dropped.
 */
import type { AwaitedCall } from './assemble.js';

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
 * The ids of the last `capacity` traces released, for telling their late spans from a new trace: a
 * Map for lookups and a ring for the order they are forgotten in. Forgetting a Map's oldest through
 * its iterator instead walks every entry deleted before it (V8 keeps them as holes until the table is
 * rebuilt): with 100k ids, each release cost 3 → 20 µs and rising, a quarter of a busy serve's CPU
 * after a minute (bench/README.md, "A release that walked deleted entries"). Each id may carry the
 * calls its trace still awaited when released (assemble.ts pendingCalls), as their JSON: one string
 * of ~80 bytes where the objects took ~250, which counts when every request queues work nobody traces.
 */
export class RecentTraceIds {
  readonly #ids = new Map<string, string | undefined>();
  readonly #ring: (string | undefined)[];
  #next = 0;

  constructor(capacity: number) {
    this.#ring = new Array<string | undefined>(Math.max(1, capacity)).fill(undefined);
  }

  has(traceId: string): boolean {
    return this.#ids.has(traceId);
  }

  /** The calls the trace awaited when it was last released; undefined for none (or a trace not remembered). */
  awaited(traceId: string): readonly AwaitedCall[] | undefined {
    const calls = this.#ids.get(traceId);
    return calls === undefined ? undefined : (JSON.parse(calls) as AwaitedCall[]);
  }

  /** Whether the trace awaited calls when it was last released. */
  awaits(traceId: string): boolean {
    return this.#ids.get(traceId) !== undefined;
  }

  /** Remembers a trace id (with the calls it awaits), forgetting the oldest once `capacity` are held. */
  add(traceId: string, awaited?: readonly AwaitedCall[]): void {
    const calls = awaited === undefined || awaited.length === 0 ? undefined : JSON.stringify(awaited);
    if (this.#ids.has(traceId)) {
      this.#ids.set(traceId, calls);
      return;
    }
    const oldest = this.#ring[this.#next];
    if (oldest !== undefined) this.#ids.delete(oldest);
    this.#ring[this.#next] = traceId;
    this.#next = this.#next + 1 === this.#ring.length ? 0 : this.#next + 1;
    this.#ids.set(traceId, calls);
  }
}
