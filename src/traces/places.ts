/**
 * The order in which a map's keys were last placed, so that the map can forget its oldest key in
 * amortised O(1). Deleting a Map's first entry through a fresh iterator instead walks every entry
 * deleted before it (V8 keeps them as holes until the table is rebuilt), which grew without bound
 * past a cap (bench/README.md, "A release that walked deleted entries", "Holds past their cap").
 *
 * The map owning the keys stores each key's place; placing a key again makes its earlier place
 * stale, and a stale place is skipped when the ring reaches it.
 */

/** How the owning map reads and moves a key's place. */
export interface PlaceBook<K> {
  /** The key's current place, undefined once the map no longer holds it. */
  placeOf(key: K): number | undefined;
  /** The key's place after the ring was compacted. */
  moved(key: K, place: number): void;
}

/** The ring's first length; it doubles from there as keys come. */
const FIRST_LENGTH = 1024;

export class PlaceRing<K> {
  readonly #book: PlaceBook<K>;
  /**
   * Grows by doubling from FIRST_LENGTH to twice the capacity, so that a ring full of stale places is
   * compacted at most every `capacity` placings; a map that holds few keys keeps a small ring.
   */
  #ring: (K | undefined)[] = [];
  readonly #maxLength: number;
  /** The oldest place still in the ring, and the next one to fill (counts: the slot is the count modulo the ring's length). */
  #head = 0;
  #tail = 0;

  /** For a map holding at most `capacity` keys. */
  constructor(capacity: number, book: PlaceBook<K>) {
    this.#maxLength = 2 * Math.max(1, capacity);
    this.#book = book;
  }

  /** Places in the ring, stale ones included: at most twice the capacity. */
  get placed(): number {
    return this.#tail - this.#head;
  }

  /** Makes `key` the newest; returns its place, which the map stores for placeOf. */
  place(key: K): number {
    const ring = this.#ring;
    if (this.#tail - this.#head === ring.length) {
      if (ring.length < this.#maxLength) this.#grow();
      else this.#compact();
    }
    this.#ring[this.#tail % this.#ring.length] = key;
    return this.#tail++;
  }

  /** The oldest key the map still holds at its place, stale places before it dropped. */
  oldest(): K | undefined {
    const book = this.#book;
    while (this.#head < this.#tail) {
      const slot = this.#head % this.#ring.length;
      const key = this.#ring[slot]!;
      if (book.placeOf(key) === this.#head) return key;
      this.#ring[slot] = undefined;
      this.#head++;
    }
    return undefined;
  }

  /** Drops the oldest place: the map forgets the key oldest() gave just before. */
  dropOldest(): void {
    if (this.#head === this.#tail) return;
    this.#ring[this.#head % this.#ring.length] = undefined;
    this.#head++;
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
    const book = this.#book;
    const from = this.#ring;
    const ring = new Array<K | undefined>(from.length).fill(undefined);
    let count = 0;
    for (let place = this.#head; place < this.#tail; place++) {
      const key = from[place % from.length]!;
      if (book.placeOf(key) !== place) continue;
      ring[count] = key;
      book.moved(key, count++);
    }
    this.#ring = ring;
    this.#head = 0;
    this.#tail = count;
  }
}
