/**
 * Holds set for traces not open yet (TraceAssembler.hold: some of their spans were refused, and the
 * client will retry them), at most `capacity` of them, the one set (or set again) least recently
 * forgotten first. The order is kept in a ring, not by deleting a Map's oldest entry through its
 * iterator: that walks every entry deleted before it, so once a refusal flood filled 100k holds each
 * new one cost 20–85 µs and rising (bench/README.md, "Holds past their cap").
 */
import type { TraceId } from '../otlp/span.js';

interface Hold {
  until: number;
  /** Its place in the ring: an earlier place holding the same trace id is stale. */
  seq: number;
}

export class PendingHolds {
  readonly #capacity: number;
  readonly #holds = new Map<TraceId, Hold>();
  /** Twice the capacity, so that a ring full of places made stale by takes and re-sets is compacted at most every `capacity` sets; made at the first hold. */
  #ring: (TraceId | undefined)[] = [];
  /** The oldest place still in the ring, and the next one to fill (counts: the slot is the count modulo the ring's length). */
  #head = 0;
  #tail = 0;

  constructor(capacity: number) {
    this.#capacity = Math.max(1, capacity);
  }

  get size(): number {
    return this.#holds.size;
  }

  /** Holds the trace until `until` (or later, if it already is) and makes its hold the newest, forgetting the oldest past `capacity`. */
  set(traceId: TraceId, until: number): void {
    if (this.#ring.length === 0) this.#ring = new Array<TraceId | undefined>(2 * this.#capacity).fill(undefined);
    let held = this.#holds.get(traceId);
    if (held === undefined) {
      if (this.#holds.size === this.#capacity) this.#forgetOldest();
      held = { until, seq: -1 }; // no place yet: a stale place of an earlier hold of this trace is not its
      this.#holds.set(traceId, held);
    } else held.until = Math.max(held.until, until);
    if (this.#tail - this.#head === this.#ring.length) this.#compact();
    this.#ring[this.#tail % this.#ring.length] = traceId;
    held.seq = this.#tail++;
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
    for (let held = this.#oldest(); held !== undefined && held.until <= now; held = this.#oldest()) this.#forgetOldest();
  }

  /** The oldest live hold, its stale places before it dropped from the ring. */
  #oldest(): Hold | undefined {
    while (this.#head < this.#tail) {
      const slot = this.#head % this.#ring.length;
      const held = this.#holds.get(this.#ring[slot]!);
      if (held !== undefined && held.seq === this.#head) return held;
      this.#ring[slot] = undefined;
      this.#head++;
    }
    return undefined;
  }

  #forgetOldest(): void {
    if (this.#oldest() === undefined) return;
    const slot = this.#head % this.#ring.length;
    this.#holds.delete(this.#ring[slot]!);
    this.#ring[slot] = undefined;
    this.#head++;
  }

  /** Rewrites the ring with the live holds only, in order (at most `capacity` of its 2 × capacity places). */
  #compact(): void {
    const ring = new Array<TraceId | undefined>(this.#ring.length).fill(undefined);
    let count = 0;
    for (let seq = this.#head; seq < this.#tail; seq++) {
      const traceId = this.#ring[seq % this.#ring.length]!;
      const held = this.#holds.get(traceId);
      if (held === undefined || held.seq !== seq) continue;
      ring[count] = traceId;
      held.seq = count++;
    }
    this.#ring = ring;
    this.#head = 0;
    this.#tail = count;
  }
}
