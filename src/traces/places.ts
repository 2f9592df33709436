/**
 * Keys in the order they were last placed, at most `capacity` of them, the least recently placed
 * forgotten first in amortised O(1). Deleting a Map's first entry through a fresh iterator instead
 * walks every entry deleted before it (V8 keeps them as holes until the table is rebuilt), which grew
 * without bound past a cap (bench/README.md, "A release that walked deleted entries", "Holds past
 * their cap").
 *
 * Each key's place is a count; placing a key again, or deleting it, leaves its earlier place stale in
 * the ring, and a stale place is skipped when the ring reaches it.
 */

/** The ring's first length; it doubles from there as keys come. */
const FIRST_LENGTH = 1024;

export class PlaceRing<K> {
  readonly #capacity: number;
  /** Each key's place. */
  readonly #places = new Map<K, number>();
  /**
   * Grows by doubling from FIRST_LENGTH to twice the capacity, so that a ring full of stale places is
   * compacted at most every `capacity` placings; a ring of few keys stays small.
   */
  #ring: (K | undefined)[] = [];
  readonly #maxLength: number;
  /** The oldest place still in the ring, and the next one to fill (counts: the slot is the count modulo the ring's length). */
  #head = 0;
  #tail = 0;

  constructor(capacity: number) {
    this.#capacity = Math.max(1, capacity);
    this.#maxLength = 2 * this.#capacity;
  }

  /** Keys held. */
  get size(): number {
    return this.#places.size;
  }

  /** Places in the ring, stale ones included: at most twice the capacity. */
  get placed(): number {
    return this.#tail - this.#head;
  }

  has(key: K): boolean {
    return this.#places.has(key);
  }

  /** Makes `key` the newest; returns the oldest key, forgotten to make room for a new one past `capacity`. */
  place(key: K): K | undefined {
    const evicted = !this.#places.has(key) && this.#places.size === this.#capacity ? this.dropOldest() : undefined;
    if (this.#tail - this.#head === this.#ring.length) {
      if (this.#ring.length < this.#maxLength) this.#grow();
      else this.#compact();
    }
    this.#ring[this.#tail % this.#ring.length] = key;
    this.#places.set(key, this.#tail++);
    return evicted;
  }

  /** Forgets `key` (its place goes stale); whether it was held. */
  delete(key: K): boolean {
    return this.#places.delete(key);
  }

  /** The least recently placed key held, stale places before it dropped. */
  oldest(): K | undefined {
    while (this.#head < this.#tail) {
      const slot = this.#head % this.#ring.length;
      const key = this.#ring[slot]!;
      if (this.#places.get(key) === this.#head) return key;
      this.#ring[slot] = undefined;
      this.#head++;
    }
    return undefined;
  }

  /** Forgets the least recently placed key; returns it (undefined when none is held). */
  dropOldest(): K | undefined {
    const key = this.oldest();
    if (key === undefined) return undefined;
    this.#places.delete(key);
    this.#ring[this.#head % this.#ring.length] = undefined;
    this.#head++;
    return key;
  }

  /** A ring twice as long, every place kept (a place's slot is the place modulo the ring's length). */
  #grow(): void {
    const from = this.#ring;
    const ring = new Array<K | undefined>(Math.min(this.#maxLength, Math.max(FIRST_LENGTH, 2 * from.length))).fill(undefined);
    for (let place = this.#head; place < this.#tail; place++) ring[place % ring.length] = from[place % from.length];
    this.#ring = ring;
  }

  /** Rewrites the ring with current places only, in order (at most `capacity` of its 2 × capacity places). */
  #compact(): void {
    const from = this.#ring;
    const ring = new Array<K | undefined>(from.length).fill(undefined);
    let count = 0;
    for (let place = this.#head; place < this.#tail; place++) {
      const key = from[place % from.length]!;
      if (this.#places.get(key) !== place) continue;
      ring[count] = key;
      this.#places.set(key, count++);
    }
    this.#ring = ring;
    this.#head = 0;
    this.#tail = count;
  }
}
