/**
 * The memos through which the wire decoder (wire/strings.ts) and the lazy JSON reader (json-lazy.ts)
 * make their strings, so repeated ids, names and statements become the same string object (whose
 * hash V8 then computes once) without decoding their bytes again: hex ids keyed by their 32-bit
 * words, short strings and statements keyed by their raw bytes.
 *
 * Every memo is used the same way: `find` gives the string (or slot) when the key is held; on a miss
 * it claims a slot for the key, the caller makes the string its own way (UTF-8, JSON escapes, hex)
 * and hands it to `keep`, which is what makes the slot valid. Keyed by raw bytes, an encoding's
 * escapes are part of the key, so the string kept for them is always the one they decode to.
 */

/** Direct-mapped slots for trace ids (a trace's spans share one) and span ids (parents repeat). */
const TRACE_SLOTS = 1024;
const SPAN_SLOTS = 4096;
/** Short strings (names, systems, methods, routes, hosts): memo slots of up to SHORT_MAX bytes. */
export const SHORT_MAX = 48;
const SHORT_SLOTS = 1024;
/**
 * Statements: an N+1 loop sends the same text (sqlcommenter's traceparent included) again and
 * again, while other requests in flight send the same statement with their own traceparent. A
 * two-way set-associative memo keeps the last statements' bytes; the set is chosen from words at
 * the start, middle and end (where a traceparent sits; statementHash), so concurrent requests'
 * copies of one statement do not evict each other. Statements longer than STMT_MAX are not kept.
 */
export const STMT_MAX = 2048;
export const STMT_SETS = 512;

/**
 * Buffer's compare and copy, called as constants: the key's buffer is the message being decoded,
 * and looking the method up on it missed the inline cache in a profile.
 */
const bufferCompare = Buffer.prototype.compare;
const bufferCopy = Buffer.prototype.copy;
/**
 * Keys up to this long are compared here, eight bytes a step; longer ones by Buffer#compare, whose
 * argument checks and native call cost ~65 ns before its first byte (its JavaScript loop is the
 * cheaper up to ~200 bytes: bench/README.md, "Short statements compared in JavaScript").
 */
const WORD_COMPARE_MAX = 192;

/** Whether a[start, end) (read through `av`, a view of the same bytes) equals the bytes of `bv` from `base`. */
function sameBytes(av: DataView, start: number, end: number, bv: DataView, base: number): boolean {
  let q = base;
  let p = start;
  for (const stop = end - 8; p <= stop; p += 8, q += 8) {
    if (av.getInt32(p, true) !== bv.getInt32(q, true) || av.getInt32(p + 4, true) !== bv.getInt32(q + 4, true)) return false;
  }
  for (; p < end; p++, q++) if (av.getUint8(p) !== bv.getUint8(q)) return false;
  return true;
}

/** The little-endian 32-bit word at p (signed). */
export function wordAt(b: Uint8Array, p: number): number {
  return b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24);
}

/** The set hash of a statement's bytes b[start, end), longer than SHORT_MAX: words past its first keyword, at its middle and in a traceparent's ids. */
export function statementHash(b: Uint8Array, start: number, end: number): number {
  const n = end - start;
  let h = Math.imul(wordAt(b, start + 16) ^ n, 0x9e3779b1);
  h = Math.imul(h ^ wordAt(b, start + (n >>> 1)), 0x85ebca6b);
  h = Math.imul(h ^ wordAt(b, end - 12), 0xc2b2ae35);
  h = Math.imul(h ^ wordAt(b, end - 28) ^ (h >>> 15), 0x27d4eb2f);
  return h ^ (h >>> 16);
}

/** Trace and span ids as hex strings, keyed by the id's words (any fixed order of its bytes). */
export class IdMemo {
  readonly #traceWords = new Int32Array(TRACE_SLOTS * 4);
  readonly #traceHex: (string | undefined)[] = new Array<string | undefined>(TRACE_SLOTS).fill(undefined);
  readonly #spanWords = new Int32Array(SPAN_SLOTS * 2);
  readonly #spanHex: (string | undefined)[] = new Array<string | undefined>(SPAN_SLOTS).fill(undefined);
  /** The slot the last missed `trace` / `span` claimed. */
  #traceSlot = 0;
  #spanSlot = 0;

  /** The trace id of these words when held; undefined otherwise, and keepTrace must follow with its hex. */
  trace(w0: number, w1: number, w2: number, w3: number): string | undefined {
    const slot = (w3 ^ (w3 >>> 10) ^ w0) & (TRACE_SLOTS - 1);
    const k = slot * 4;
    const words = this.#traceWords;
    const cached = this.#traceHex[slot];
    if (cached !== undefined && words[k] === w0 && words[k + 1] === w1 && words[k + 2] === w2 && words[k + 3] === w3) {
      return cached;
    }
    words[k] = w0;
    words[k + 1] = w1;
    words[k + 2] = w2;
    words[k + 3] = w3;
    this.#traceHex[slot] = undefined;
    this.#traceSlot = slot;
    return undefined;
  }

  keepTrace(hex: string): string {
    this.#traceHex[this.#traceSlot] = hex;
    return hex;
  }

  /** The span id of these words when held; undefined otherwise, and keepSpan must follow with its hex. */
  span(w0: number, w1: number): string | undefined {
    const slot = (w1 ^ (w1 >>> 12) ^ w0) & (SPAN_SLOTS - 1);
    const k = slot * 2;
    const words = this.#spanWords;
    const cached = this.#spanHex[slot];
    if (cached !== undefined && words[k] === w0 && words[k + 1] === w1) return cached;
    words[k] = w0;
    words[k + 1] = w1;
    this.#spanHex[slot] = undefined;
    this.#spanSlot = slot;
    return undefined;
  }

  keepSpan(hex: string): string {
    this.#spanHex[this.#spanSlot] = hex;
    return hex;
  }
}

/** Strings of 1 to SHORT_MAX bytes, direct-mapped by a hash of their length and three of their bytes. */
export class ShortMemo {
  readonly #bytes = new Uint8Array(SHORT_SLOTS * SHORT_MAX);
  readonly #length = new Int32Array(SHORT_SLOTS).fill(-1);
  readonly #string: string[] = new Array<string>(SHORT_SLOTS).fill('');
  /** The slot the last missed `find` claimed, and its key's length. */
  #slot = 0;
  #n = 0;

  /** The string kept for the bytes b[start, end) (1 to SHORT_MAX of them); undefined otherwise, and `keep` must follow with it. */
  find(b: Uint8Array, start: number, end: number): string | undefined {
    const n = end - start;
    const slot = (n * 0x9e3 + b[start]! * 31 + b[end - 1]! * 7 + b[start + (n >>> 1)]!) & (SHORT_SLOTS - 1);
    const base = slot * SHORT_MAX;
    const bytes = this.#bytes;
    if (this.#length[slot] === n) {
      let i = 0;
      while (i < n && bytes[base + i] === b[start + i]) i++;
      if (i === n) return this.#string[slot]!;
    }
    for (let i = 0; i < n; i++) bytes[base + i] = b[start + i]!;
    this.#length[slot] = -1;
    this.#slot = slot;
    this.#n = n;
    return undefined;
  }

  keep(s: string): string {
    this.#length[this.#slot] = this.#n;
    this.#string[this.#slot] = s;
    return s;
  }
}

/**
 * Byte strings of up to `max` bytes in a two-way set-associative memo, the set chosen by the
 * caller's hash (it knows where keys differ). The memo holds the keys; the caller keeps its own
 * values per slot (0 to 2 × sets - 1). On a miss the way used less recently is replaced.
 */
export class SetMemo {
  readonly #sets: number;
  readonly #max: number;
  /** Allocated on first use (2 × sets × max bytes), with a view of them for word reads. */
  #bytes: Buffer | undefined;
  #view: DataView | undefined;
  readonly #length: Int32Array;
  /** Per set: which way was used last. */
  readonly #recent: Uint8Array;
  /** The slot the last missed `find` claimed, and its key's length. */
  #slot = 0;
  #n = 0;

  /** `sets` is a power of two. */
  constructor(sets: number, max: number) {
    this.#sets = sets;
    this.#max = max;
    this.#length = new Int32Array(sets * 2).fill(-1);
    this.#recent = new Uint8Array(sets);
  }

  /**
   * The slot holding the bytes b[start, end) (at most `max` of them, which the caller checks; `view` is a DataView of b) in
   * set `hash`: ≥ 0 when they were kept; otherwise ~slot of the slot now claimed for them, whose
   * values the caller makes afresh before `keep`.
   */
  find(b: Buffer, view: DataView, start: number, end: number, hash: number): number {
    const n = end - start;
    const set = hash & (this.#sets - 1);
    const max = this.#max;
    const bytes = this.bytes();
    const lengths = this.#length;
    for (let way = 0; way < 2; way++) {
      const slot = set * 2 + way;
      const base = slot * max;
      if (lengths[slot] === n && (n <= WORD_COMPARE_MAX ? sameBytes(view, start, end, this.#view!, base) : bufferCompare.call(b, bytes, base, base + n, start, end) === 0)) {
        this.#recent[set] = way;
        return slot;
      }
    }
    const way = this.#recent[set]! ^ 1;
    const slot = set * 2 + way;
    bufferCopy.call(b, bytes, slot * max, start, end);
    lengths[slot] = -1;
    this.#recent[set] = way;
    this.#slot = slot;
    this.#n = n;
    return ~slot;
  }

  /** Makes the slot the last `find` claimed hold its key (the caller's values for it made). */
  keep(): void {
    this.#length[this.#slot] = this.#n;
  }

  /** The bytes of slot `slot`'s key start at bytes()[slot × max] (for values made from the kept copy). */
  bytes(): Buffer {
    if (this.#bytes === undefined) {
      this.#bytes = Buffer.alloc(this.#sets * 2 * this.#max);
      this.#view = new DataView(this.#bytes.buffer, this.#bytes.byteOffset, this.#bytes.byteLength);
    }
    return this.#bytes;
  }

  /** A view of bytes(). */
  view(): DataView {
    this.bytes();
    return this.#view!;
  }
}
