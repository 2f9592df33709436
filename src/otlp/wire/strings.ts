/**
 * The wire decoder's strings: ids as lowercase hex, short strings and statements from UTF-8, each
 * through otlp/memo.ts's memos, so repeated ids, names and statements become the same string object
 * without decoding the bytes again; statements' trailing comments split off by bytes.
 */
import { IdMemo, SHORT_MAX, STMT_MAX, STMT_SETS, SetMemo, ShortMemo, statementHash, wordAt } from '../memo.js';
import { utf8Slice } from '../slice.js';
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

/** The memo tables of one decoder (otlp/memo.ts), reading the bytes its cursor is on. */
export class WireStrings {
  readonly #cursor: WireCursor;
  readonly #ids = new IdMemo();
  readonly #short = new ShortMemo();
  readonly #stmts = new SetMemo(STMT_SETS, STMT_MAX);
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
    return this.#ids.trace(w0, w1, w2, w3) ?? this.#ids.keepTrace(hex16(c.buf, p));
  }

  /** The span id at p as hex, or '' when all 8 bytes are zero. */
  spanIdHex(p: number): string {
    const c = this.#cursor;
    const w0 = c.word(p);
    const w1 = c.word(p + 4);
    if ((w0 | w1) === 0) return '';
    return this.#ids.span(w0, w1) ?? this.#ids.keepSpan(hex8(c.buf, p));
  }

  /** The string of the bytes [start, end), from the memo when these bytes were seen recently. */
  text(start: number, end: number): string {
    const n = end - start;
    if (n === 0) return '';
    const b = this.#cursor.buf;
    if (n > SHORT_MAX) return utf8Slice.call(b, start, end);
    return this.#short.find(b, start, end) ?? this.#short.keep(utf8Slice.call(b, start, end));
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
    const b = this.#cursor.buf;
    if (n > STMT_MAX) return utf8Slice.call(b, start, end);
    const found = this.#stmts.find(b, this.#cursor.view, start, end, statementHash(b, start, end));
    if (found >= 0) return this.#parts(found, n);
    const slot = ~found;
    const base = slot * STMT_MAX;
    this.#stmtString[slot] = undefined;
    this.#stmtBody[slot] = undefined;
    this.#stmtComment[slot] = undefined;
    this.#stmtSplit[slot] = commentStart(this.#stmts.bytes(), base, base + n) - base;
    this.#stmts.keep();
    return this.#parts(slot, n);
  }

  /** The strings of memo slot `slot` (n bytes), made on first use from the memo's copy: the whole text, or its text and comment. */
  #parts(slot: number, n: number): string {
    const bytes = this.#stmts.bytes();
    const base = slot * STMT_MAX;
    const split = this.#stmtSplit[slot]!;
    if (this.splitComments && split < n) {
      this.comment = this.#stmtComment[slot] ??= this.#comments.intern(bytes, this.#stmts.view(), base + split, base + n);
      return (this.#stmtBody[slot] ??= this.#bodies.intern(bytes, this.#stmts.view(), base, base + split));
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

/** Strings interned by their bytes (a SetMemo of the last ones seen), so equal bytes give the same string object while it stays in the memo. Under 8 or longer than `max` bytes: a new string. */
class InternTable {
  readonly #max: number;
  readonly #memo: SetMemo;
  readonly #string: string[];

  constructor(sets: number, max: number) {
    this.#max = max;
    this.#memo = new SetMemo(sets, max);
    this.#string = new Array<string>(sets * 2).fill('');
  }

  /** `view` is a DataView of b. */
  intern(b: Buffer, view: DataView, start: number, end: number): string {
    const n = end - start;
    if (n > this.#max || n < 8) return utf8Slice.call(b, start, end);
    let h = Math.imul(wordAt(b, start) ^ n, 0x9e3779b1);
    h = Math.imul(h ^ wordAt(b, start + (n >>> 1) - 2), 0x85ebca6b);
    h = Math.imul(h ^ wordAt(b, end - 4) ^ (h >>> 15), 0xc2b2ae35);
    const found = this.#memo.find(b, view, start, end, h ^ (h >>> 16));
    if (found >= 0) return this.#string[found]!;
    const s = utf8Slice.call(b, start, end);
    this.#string[~found] = s;
    this.#memo.keep();
    return s;
  }
}
