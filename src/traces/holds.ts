/**
 * Holds set for traces not open yet (TraceAssembler.hold: some of their spans were refused, and the
 * client will retry them), at most `capacity` of them, the one set (or set again) least recently
 * forgotten first, in the order a PlaceRing keeps (once a refusal flood filled 100k holds, forgetting
 * the oldest through a Map's iterator cost each new one 20–85 µs and rising).
 */
import type { TraceId } from '../otlp/span.js';
import { PlaceRing } from './places.js';

interface Hold {
  until: number;
  /** Its place in the ring (PlaceRing.place). */
  place: number;
}

export class PendingHolds {
  readonly #capacity: number;
  readonly #holds = new Map<TraceId, Hold>();
  readonly #order: PlaceRing<TraceId>;

  constructor(capacity: number) {
    this.#capacity = Math.max(1, capacity);
    const holds = this.#holds;
    this.#order = new PlaceRing(this.#capacity, {
      placeOf: (id) => holds.get(id)?.place,
      moved: (id, place) => (holds.get(id)!.place = place),
    });
  }

  get size(): number {
    return this.#holds.size;
  }

  /** Holds the trace until `until` (or later, if it already is) and makes its hold the newest, forgetting the oldest past `capacity`. */
  set(traceId: TraceId, until: number): void {
    let held = this.#holds.get(traceId);
    if (held === undefined) {
      if (this.#holds.size === this.#capacity) this.#forgetOldest();
      held = { until, place: -1 }; // no place yet: a stale place of an earlier hold of this trace is not its
      this.#holds.set(traceId, held);
    } else held.until = Math.max(held.until, until);
    held.place = this.#order.place(traceId);
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
    for (let id = this.#order.oldest(); id !== undefined && this.#holds.get(id)!.until <= now; id = this.#order.oldest()) this.#forgetOldest();
  }

  #forgetOldest(): void {
    const id = this.#order.oldest();
    if (id === undefined) return;
    this.#holds.delete(id);
    this.#order.dropOldest();
  }
}
