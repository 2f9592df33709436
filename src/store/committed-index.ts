/**
 * The trace ids a SQLite store has committed, held in memory by 64-bit hash in typed arrays, so that
 * noting a second's traces appends one row instead of thousands of random B-tree inserts.
 *
 * Why not a table keyed by trace id: each random key dirties its own page, and SQLite's WAL writes
 * whole pages, so a second's 4,000 ids cost 10 ms of CPU into an empty table and 100 ms into the 2 M
 * rows ten minutes of a busy `serve` keep; this way, 4-8 ms (bench/committed.mjs). Ids are grouped in
 * generations of about a minute, so forgetting old ones drops whole tables; a lookup probes each live
 * generation (about 11).
 *
 * Two different ids share a hash with probability about n / 2^64 per lookup (1e-13 for 2 M ids): then
 * a new trace would be taken for a committed one. Typed arrays keep millions of ids out of the V8
 * heap (no marking work), at about 12 bytes each: 23 MiB for 2 M ids.
 */

/** Ids noted within this long of a generation's first go into it. */
const GENERATION_MS = 60_000;
/** A generation's table doubles past this share of full slots (linear probing stays short), and is rebuilt at it once closed. */
const MAX_LOAD = 0.7;
const FIRST_CAPACITY = 1024;

/** The id's 64-bit hash as two 32-bit halves (two multiply-rotate lanes, each finished by murmur3's fmix32); never (0, 0), which marks an empty slot. */
function hashOf(id: string): [number, number] {
  let h1 = 0x9747b28c;
  let h2 = 0x85ebca6b ^ id.length;
  for (let i = 0; i < id.length; i++) {
    const c = id.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 0xcc9e2d51);
    h1 = (h1 << 15) | (h1 >>> 17);
    h2 = Math.imul(h2 ^ c, 0x1b873593);
    h2 = (h2 << 13) | (h2 >>> 19);
    h2 = Math.imul(h2, 5) + 0xe6546b64;
  }
  h1 = fmix32(h1 ^ h2);
  h2 = fmix32(h2 + h1);
  return h1 === 0 && h2 === 0 ? [0, 1] : [h1 >>> 0, h2 >>> 0];
}

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/**
 * One generation: an open-addressing set of 64-bit hashes (slot i holds keys[2i], keys[2i + 1]),
 * probed linearly from a slot scaled from the high half, so a table can have any number of slots.
 */
class HashGeneration {
  readonly firstMs: number;
  lastMs: number;
  #keys = new Uint32Array(2 * FIRST_CAPACITY);
  #size = 0;

  constructor(atMs: number) {
    this.firstMs = atMs;
    this.lastMs = atMs;
  }

  get size(): number {
    return this.#size;
  }

  get bytes(): number {
    return this.#keys.byteLength;
  }

  has(hi: number, lo: number): boolean {
    return occupied(this.#keys, probe(this.#keys, hi, lo));
  }

  add(hi: number, lo: number): void {
    if (this.#size + 1 > (this.#keys.length / 2) * MAX_LOAD) this.#resize(2 * this.#keys.length);
    if (place(this.#keys, hi, lo)) this.#size++;
  }

  /** A generation no longer added to is rebuilt at MAX_LOAD: doubling left it up to twice as large. */
  compact(): void {
    this.#resize(2 * Math.ceil(this.#size / MAX_LOAD + 1));
  }

  #resize(length: number): void {
    const old = this.#keys;
    const keys = new Uint32Array(length);
    for (let slot = 0; slot < old.length / 2; slot++) if (occupied(old, slot)) place(keys, old[2 * slot]!, old[2 * slot + 1]!);
    this.#keys = keys;
  }
}

/**
 * The slot holding the key, or the empty slot where it would go: linear probing from its high half
 * scaled to the table (uniform for any size).
 */
function probe(keys: Uint32Array, hi: number, lo: number): number {
  const slots = keys.length / 2;
  for (let slot = Math.floor((hi / 4294967296) * slots); ; slot = slot + 1 === slots ? 0 : slot + 1) {
    const h = keys[2 * slot]!;
    const l = keys[2 * slot + 1]!;
    if ((h === hi && l === lo) || (h === 0 && l === 0)) return slot;
  }
}

/** Whether slot `slot` holds a key ((0, 0) marks an empty one). */
function occupied(keys: Uint32Array, slot: number): boolean {
  return keys[2 * slot] !== 0 || keys[2 * slot + 1] !== 0;
}

/** Puts the key in `keys` unless there already; true when put. */
function place(keys: Uint32Array, hi: number, lo: number): boolean {
  const slot = probe(keys, hi, lo);
  if (occupied(keys, slot)) return false;
  keys[2 * slot] = hi;
  keys[2 * slot + 1] = lo;
  return true;
}

export class CommittedTraceIndex {
  /** Oldest first; ids go into the last. */
  #generations: HashGeneration[] = [];

  /** Notes `traceIds` as committed at `atMs`. */
  add(traceIds: Iterable<string>, atMs: number): void {
    let current = this.#generations.at(-1);
    if (current === undefined || atMs - current.firstMs >= GENERATION_MS) {
      current?.compact();
      current = new HashGeneration(atMs);
      this.#generations.push(current);
    }
    // A clock stepped back still lands in the newest generation, which is dropped last.
    current.lastMs = Math.max(current.lastMs, atMs);
    for (const id of traceIds) {
      const [hi, lo] = hashOf(id);
      current.add(hi, lo);
    }
  }

  has(traceId: string): boolean {
    const [hi, lo] = hashOf(traceId);
    for (let i = this.#generations.length - 1; i >= 0; i--) if (this.#generations[i]!.has(hi, lo)) return true;
    return false;
  }

  /**
   * Forgets the generations whose every id was noted before `beforeMs`. A generation spanning it is
   * kept whole: ids are remembered up to a generation longer than asked, never shorter.
   */
  dropBefore(beforeMs: number): void {
    this.#generations = this.#generations.filter((g) => g.lastMs >= beforeMs);
  }

  /** Ids remembered (each counted once per generation that holds it). */
  get size(): number {
    return this.#generations.reduce((n, g) => n + g.size, 0);
  }

  /** Bytes of the hash tables. */
  get bytes(): number {
    return this.#generations.reduce((n, g) => n + g.bytes, 0);
  }
}
