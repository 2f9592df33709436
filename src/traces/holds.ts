/**
 * Holds set for traces not open yet (TraceAssembler.hold: some of their spans were refused, and the
 * client will retry them), at most `capacity` of them, forgotten in the order they were first set.
 * The order is kept in a ring, not by deleting a Map's oldest entry through its iterator: that walks
 * every entry deleted before it, so once a refusal flood filled 100k holds each new one cost 20–85 µs
 * and rising (bench/README.md, "Holds past their cap").
 */
import type { TraceId } from '../otlp/span.js';

interface Hold {
  until: number;
  /** Its place in the ring (a count of holds ever set), to tell it from a later hold of the same trace. */
  seq: number;
}

export class PendingHolds {
  readonly #holds = new Map<TraceId, Hold>();
  readonly #ring: (TraceId | undefined)[];
  /** The oldest place still in the ring, and the next one to fill. */
  #head = 0;
  #tail = 0;

  constructor(capacity: number) {
    this.#ring = new Array<TraceId | undefined>(Math.max(1, capacity)).fill(undefined);
  }

  get size(): number {
    return this.#holds.size;
  }

  /** Holds the trace until `until` (or later, if it already is), forgetting the hold set first once `capacity` were set since. */
  set(traceId: TraceId, until: number): void {
    const held = this.#holds.get(traceId);
    if (held !== undefined) {
      held.until = Math.max(held.until, until);
      return;
    }
    if (this.#tail - this.#head === this.#ring.length) this.#forgetOldest();
    this.#ring[this.#tail % this.#ring.length] = traceId;
    this.#holds.set(traceId, { until, seq: this.#tail++ });
  }

  /** The trace's hold, removed (it is opening); undefined when it has none. */
  take(traceId: TraceId): number | undefined {
    const held = this.#holds.get(traceId);
    if (held === undefined) return undefined;
    this.#holds.delete(traceId);
    return held.until;
  }

  /** Forgets the holds that ended by `now`, oldest first, up to the first that has not (holds are roughly in order of their ends). */
  prune(now: number): void {
    while (this.#head < this.#tail) {
      const traceId = this.#ring[this.#head % this.#ring.length]!;
      const held = this.#holds.get(traceId);
      if (held !== undefined && held.seq === this.#head && held.until > now) return;
      this.#forgetOldest();
    }
  }

  #forgetOldest(): void {
    const slot = this.#head % this.#ring.length;
    const traceId = this.#ring[slot]!;
    // Taken since, or taken and set again later (then held.seq is that later place): not this one's to forget.
    if (this.#holds.get(traceId)?.seq === this.#head) this.#holds.delete(traceId);
    this.#ring[slot] = undefined;
    this.#head++;
  }
}
