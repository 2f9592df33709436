/**
 * Holds set for traces not open yet (TraceAssembler.hold: some of their spans were refused, and the
 * client will retry them), at most `capacity` of them, the one set (or set again) least recently
 * forgotten first, in the order a PlaceRing keeps (once a refusal flood filled 100k holds, forgetting
 * the oldest through a Map's iterator cost each new one 20–85 µs and rising).
 */
import type { TraceId } from '../otlp/span.js';
import { PlaceRing } from './places.js';

export class PendingHolds {
  /** Each held trace's end. */
  readonly #until = new Map<TraceId, number>();
  /** The held traces, last set newest. */
  readonly #order: PlaceRing<TraceId>;

  constructor(capacity: number) {
    this.#order = new PlaceRing(capacity);
  }

  get size(): number {
    return this.#until.size;
  }

  /** Holds the trace until `until` (or later, if it already is) and makes its hold the newest, forgetting the oldest past `capacity`. */
  set(traceId: TraceId, until: number): void {
    const evicted = this.#order.place(traceId);
    if (evicted !== undefined) this.#until.delete(evicted);
    this.#until.set(traceId, Math.max(this.#until.get(traceId) ?? until, until));
  }

  /** The trace's hold, removed (it is opening); undefined when it has none. */
  take(traceId: TraceId): number | undefined {
    const until = this.#until.get(traceId);
    if (until === undefined) return undefined;
    this.#until.delete(traceId);
    this.#order.delete(traceId);
    return until;
  }

  /** Forgets the holds that ended by `now`, oldest first, up to the first that has not (holds are roughly in order of their ends). */
  prune(now: number): void {
    for (let id = this.#order.oldest(); id !== undefined && this.#until.get(id)! <= now; id = this.#order.oldest()) {
      this.#until.delete(id);
      this.#order.dropOldest();
    }
  }
}
