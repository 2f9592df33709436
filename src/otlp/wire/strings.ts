/**
 * The wire decoder's strings: ids as lowercase hex, short strings and statements from UTF-8, each
 * through a memo keyed by the raw bytes, so repeated ids, names and statements become the same
 * string object (whose hash V8 then computes once) without decoding the bytes again.
 */
import type { WireCursor } from './cursor.js';

const HEX_CODES = new Uint8Array([48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 97, 98, 99, 100, 101, 102]);

function hex8(b: Buffer, p: number): string {
  const h = HEX_CODES;
  return String.fromCharCode(
    h[b[p]! >>> 4]!, h[b[p]! & 15]!, h[b[p + 1]! >>> 4]!, h[b[p + 1]! & 15]!,
    h[b[p + 2]! >>> 4]!, h[b[p + 2]! & 15]!, h[b[p + 3]! >>> 4]!, h[b[p + 3]! & 15]!,
    h[b[p + 4]! >>> 4]!, h[b[p + 4]! & 15]!, h[b[p + 5]! >>> 4]!, h[b[p + 5]! & 15]!,
    h[b[p + 6]! >>> 4]!, h[b[p + 6]! & 15]!, h[b[p + 7]! >>> 4]!, h[b[p + 7]! & 15]!,
  );
}

/** 32 hex digits in one flat string (concatenating two halves would make a cons string that every hash flattens). */
function hex16(b: Buffer, p: number): string {
  const h = HEX_CODES;
  return String.fromCharCode(
    h[b[p]! >>> 4]!, h[b[p]! & 15]!, h[b[p + 1]! >>> 4]!, h[b[p + 1]! & 15]!,
    h[b[p + 2]! >>> 4]!, h[b[p + 2]! & 15]!, h[b[p + 3]! >>> 4]!, h[b[p + 3]! & 15]!,
    h[b[p + 4]! >>> 4]!, h[b[p + 4]! & 15]!, h[b[p + 5]! >>> 4]!, h[b[p + 5]! & 15]!,
    h[b[p + 6]! >>> 4]!, h[b[p + 6]! & 15]!, h[b[p + 7]! >>> 4]!, h[b[p + 7]! & 15]!,
    h[b[p + 8]! >>> 4]!, h[b[p + 8]! & 15]!, h[b[p + 9]! >>> 4]!, h[b[p + 9]! & 15]!,
    h[b[p + 10]! >>> 4]!, h[b[p + 10]! & 15]!, h[b[p + 11]! >>> 4]!, h[b[p + 11]! & 15]!,
    h[b[p + 12]! >>> 4]!, h[b[p + 12]! & 15]!, h[b[p + 13]! >>> 4]!, h[b[p + 13]! & 15]!,
    h[b[p + 14]! >>> 4]!, h[b[p + 14]! & 15]!, h[b[p + 15]! >>> 4]!, h[b[p + 15]! & 15]!,
  );
}

type Slice = (this: Buffer, start: number, end: number) => string;
/** Buffer's own UTF-8 slice (what toString('utf8', s, e) ends in, without its argument checks); invalid bytes become U+FFFD. */
const utf8Slice: Slice =
  (Buffer.prototype as unknown as { utf8Slice?: Slice }).utf8Slice ??
  function (this: Buffer, start: number, end: number): string {
    return this.toString('utf8', start, end);
  };

/** Direct-mapped memo slots for trace ids (a trace's spans share one) and span ids (parents repeat). */
const TRACE_SLOTS = 1024;
const SPAN_SLOTS = 4096;
/** Short strings (names, systems, methods, routes, hosts): memo slots of up to 48 bytes. */
export const SHORT_MAX = 48;
const SHORT_SLOTS = 1024;
/**
 * Statements: an N+1 loop sends the same text (sqlcommenter's traceparent included) again and
 * again, while other requests in flight send the same statement with their own traceparent. A
 * two-way set-associative memo keeps the last statements' bytes and strings; the set is chosen from
 * words at the start, middle and end (where a traceparent sits), so concurrent requests' copies
 * of one statement do not evict each other. Statements longer than STMT_MAX are not kept.
 */
const STMT_MAX = 2048;
const STMT_SETS = 512;

/** The memo tables of one decoder, reading the bytes its cursor is on. */
export class WireStrings {
  readonly #cursor: WireCursor;
  /** Slots hold the id's 32-bit words. */
  readonly #traceWords = new Int32Array(TRACE_SLOTS * 4);
  readonly #traceHex: (string | undefined)[] = new Array<string | undefined>(TRACE_SLOTS).fill(undefined);
  readonly #spanWords = new Int32Array(SPAN_SLOTS * 2);
  readonly #spanHex: (string | undefined)[] = new Array<string | undefined>(SPAN_SLOTS).fill(undefined);
  readonly #shortBytes = new Uint8Array(SHORT_SLOTS * SHORT_MAX);
  readonly #shortLength = new Int32Array(SHORT_SLOTS).fill(-1);
  readonly #shortString: string[] = new Array<string>(SHORT_SLOTS).fill('');
  /** Allocated on the first statement longer than SHORT_MAX (1 MiB per way). */
  #stmtBytes: Buffer | undefined;
  readonly #stmtLength = new Int32Array(STMT_SETS * 2).fill(-1);
  /** Per slot, made on first use: the whole statement; its text before the comment and the comment. */
  readonly #stmtString: (string | undefined)[] = new Array<string | undefined>(STMT_SETS * 2).fill(undefined);
  readonly #stmtBody: (string | undefined)[] = new Array<string | undefined>(STMT_SETS * 2).fill(undefined);
  readonly #stmtComment: (string | undefined)[] = new Array<string | undefined>(STMT_SETS * 2).fill(undefined);
  /** Per slot: bytes before the trailing comment (the length when there is none). */
  readonly #stmtSplit = new Int32Array(STMT_SETS * 2);
  /** Statement texts without their comments, and comments: shared across requests and across a request's statements. */
  readonly #bodies = new InternTable(STMT_SETS, STMT_MAX);
  readonly #comments = new InternTable(64, 512);
  /** `statement` splits a trailing comment off (WireDecoder.decodeTo); otherwise it gives the whole text. */
  splitComments = false;
  /** The comment of the statement read last, when split off; '' otherwise. */
  comment = '';
  /** Per set: which way was used last (the other is replaced on a miss). */
  readonly #stmtRecent = new Uint8Array(STMT_SETS);

  constructor(cursor: WireCursor) {
    this.#cursor = cursor;
  }

  /** The trace id at p as hex, or '' when all 16 bytes are zero (invalid per OTLP). */
  traceIdHex(p: number): string {
    const c = this.#cursor;
    const w0 = c.word(p);
    const w1 = c.word(p + 4);
    const w2 = c.word(p + 8);
    const w3 = c.word(p + 12);
    if ((w0 | w1 | w2 | w3) === 0) return '';
    const slot = (w3 ^ (w3 >>> 10) ^ w0) & (TRACE_SLOTS - 1);
    const k = slot * 4;
    const words = this.#traceWords;
    const cached = this.#traceHex[slot];
    if (cached !== undefined && words[k] === w0 && words[k + 1] === w1 && words[k + 2] === w2 && words[k + 3] === w3) {
      return cached;
    }
    const hex = hex16(c.buf, p);
    words[k] = w0;
    words[k + 1] = w1;
    words[k + 2] = w2;
    words[k + 3] = w3;
    this.#traceHex[slot] = hex;
    return hex;
  }

  /** The span id at p as hex, or '' when all 8 bytes are zero. */
  spanIdHex(p: number): string {
    const c = this.#cursor;
    const w0 = c.word(p);
    const w1 = c.word(p + 4);
    if ((w0 | w1) === 0) return '';
    const slot = (w1 ^ (w1 >>> 12) ^ w0) & (SPAN_SLOTS - 1);
    const k = slot * 2;
    const words = this.#spanWords;
    const cached = this.#spanHex[slot];
    if (cached !== undefined && words[k] === w0 && words[k + 1] === w1) return cached;
    const hex = hex8(c.buf, p);
    words[k] = w0;
    words[k + 1] = w1;
    this.#spanHex[slot] = hex;
    return hex;
  }

  /** The string of the bytes [start, end), from the memo when these bytes were seen recently. */
  text(start: number, end: number): string {
    const n = end - start;
    if (n === 0) return '';
    const b = this.#cursor.buf;
    if (n > SHORT_MAX) return utf8Slice.call(b, start, end);
    const slot = (n * 0x9e3 + b[start]! * 31 + b[end - 1]! * 7 + b[start + (n >>> 1)]!) & (SHORT_SLOTS - 1);
    const base = slot * SHORT_MAX;
    const bytes = this.#shortBytes;
    if (this.#shortLength[slot] === n) {
      let i = 0;
      while (i < n && bytes[base + i] === b[start + i]) i++;
      if (i === n) return this.#shortString[slot]!;
    }
    const s = utf8Slice.call(b, start, end);
    for (let i = 0; i < n; i++) bytes[base + i] = b[start + i]!;
    this.#shortLength[slot] = n;
    this.#shortString[slot] = s;
    return s;
  }

  /**
   * A statement's string: `text` for short ones, the statement memo up to STMT_MAX bytes. With
   * `splitComments` on, a statement that ends in a block comment (sqlcommenter's, which carries the
   * request's traceparent) comes back as its text before the comment, shared across requests, with
   * the comment in `comment` (interned, so a request's statements share one); `comment` is '' otherwise.
   */
  statement(start: number, end: number): string {
    this.comment = '';
    const n = end - start;
    if (n <= SHORT_MAX) return this.text(start, end);
    const c = this.#cursor;
    const b = c.buf;
    if (n > STMT_MAX) return utf8Slice.call(b, start, end);
    let h = Math.imul(c.word(start + 16) ^ n, 0x9e3779b1);
    h = Math.imul(h ^ c.word(start + (n >>> 1)), 0x85ebca6b);
    h = Math.imul(h ^ c.word(end - 12), 0xc2b2ae35);
    h = Math.imul(h ^ c.word(end - 28) ^ (h >>> 15), 0x27d4eb2f);
    const set = (h ^ (h >>> 16)) & (STMT_SETS - 1);
    const stmtBytes = (this.#stmtBytes ??= Buffer.alloc(STMT_SETS * 2 * STMT_MAX));
    const lengths = this.#stmtLength;
    for (let way = 0; way < 2; way++) {
      const slot = set * 2 + way;
      const base = slot * STMT_MAX;
      if (lengths[slot] === n && b.compare(stmtBytes, base, base + n, start, end) === 0) {
        this.#stmtRecent[set] = way;
        return this.#parts(slot, n);
      }
    }
    const way = this.#stmtRecent[set]! ^ 1;
    const slot = set * 2 + way;
    b.copy(stmtBytes, slot * STMT_MAX, start, end);
    lengths[slot] = n;
    this.#stmtString[slot] = undefined;
    this.#stmtBody[slot] = undefined;
    this.#stmtComment[slot] = undefined;
    this.#stmtSplit[slot] = commentStart(stmtBytes, slot * STMT_MAX, slot * STMT_MAX + n) - slot * STMT_MAX;
    this.#stmtRecent[set] = way;
    return this.#parts(slot, n);
  }

  /** The strings of memo slot `slot` (n bytes), made on first use: the whole text, or its text and comment. */
  #parts(slot: number, n: number): string {
    const bytes = this.#stmtBytes!;
    const base = slot * STMT_MAX;
    const split = this.#stmtSplit[slot]!;
    if (this.splitComments && split < n) {
      this.comment = this.#stmtComment[slot] ??= this.#comments.intern(bytes, base + split, base + n);
      return (this.#stmtBody[slot] ??= this.#bodies.intern(bytes, base, base + split));
    }
    return (this.#stmtString[slot] ??= utf8Slice.call(bytes, base, base + n));
  }
}

/**
 * Where the block comment that ends the statement in b[start, end) starts, or `end`: the bytes end
 * in star-slash and the last slash-star opens it. Only an ASCII comment after an ASCII byte is
 * split off, so the two halves decode to exactly the whole text's characters.
 */
function commentStart(b: Buffer, start: number, end: number): number {
  if (end - start < 5 || b[end - 1] !== 0x2f || b[end - 2] !== 0x2a) return end;
  for (let p = end - 3; p > start; p--) {
    const x = b[p]!;
    if (x >= 0x80) return end;
    if (x === 0x2a && b[p - 1] === 0x2f) {
      const open = p - 1;
      return open > start && b[open - 1]! < 0x80 ? open : end;
    }
  }
  return end;
}

/**
 * Strings interned by their bytes: a two-way set-associative memo of the last ones seen, so equal
 * bytes give the same string object while it stays in the memo. Longer than `max` bytes: a new string.
 */
class InternTable {
  readonly #max: number;
  readonly #sets: number;
  /** Allocated on first use. */
  #bytes: Buffer | undefined;
  readonly #length: Int32Array;
  readonly #string: string[];
  readonly #recent: Uint8Array;

  constructor(sets: number, max: number) {
    this.#sets = sets;
    this.#max = max;
    this.#length = new Int32Array(sets * 2).fill(-1);
    this.#string = new Array<string>(sets * 2).fill('');
    this.#recent = new Uint8Array(sets);
  }

  intern(b: Buffer, start: number, end: number): string {
    const n = end - start;
    if (n > this.#max || n < 8) return utf8Slice.call(b, start, end);
    let h = Math.imul(wordAt(b, start) ^ n, 0x9e3779b1);
    h = Math.imul(h ^ wordAt(b, start + (n >>> 1) - 2), 0x85ebca6b);
    h = Math.imul(h ^ wordAt(b, end - 4) ^ (h >>> 15), 0xc2b2ae35);
    const set = (h ^ (h >>> 16)) & (this.#sets - 1);
    const max = this.#max;
    const bytes = (this.#bytes ??= Buffer.alloc(this.#sets * 2 * max));
    const lengths = this.#length;
    for (let way = 0; way < 2; way++) {
      const slot = set * 2 + way;
      if (lengths[slot] === n && b.compare(bytes, slot * max, slot * max + n, start, end) === 0) {
        this.#recent[set] = way;
        return this.#string[slot]!;
      }
    }
    const way = this.#recent[set]! ^ 1;
    const slot = set * 2 + way;
    const s = utf8Slice.call(b, start, end);
    b.copy(bytes, slot * max, start, end);
    lengths[slot] = n;
    this.#string[slot] = s;
    this.#recent[set] = way;
    return s;
  }
}

function wordAt(b: Buffer, p: number): number {
  return b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24);
}
