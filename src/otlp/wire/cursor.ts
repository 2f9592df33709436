/**
 * The byte-level half of the wire decoder: one message's bytes, varints, tags and lengths, and
 * skipping fields by their wire type, with every error naming the byte offset.
 */
import { OtlpDecodeError } from '../errors.js';

const EMPTY = Buffer.alloc(0);
const EMPTY_VIEW = new DataView(new ArrayBuffer(0));
/** protobufjs's Reader.recursionLimit: skipField refuses groups nested deeper. */
const RECURSION_LIMIT = 100;
export const WIRE_VARINT = 0;
export const WIRE_FIXED64 = 1;
export const WIRE_LEN = 2;
const WIRE_START_GROUP = 3;
const WIRE_END_GROUP = 4;
export const WIRE_FIXED32 = 5;

export function fail(problem: string, at: number): never {
  throw new OtlpDecodeError(`invalid OTLP protobuf ExportTraceServiceRequest (${problem} at byte ${at})`);
}

export function truncated(what: string, at: number, need: number, end: number): never {
  return fail(`truncated ${what}: needs ${need} bytes, only ${Math.max(0, end - at)} left in its message`, at);
}

/**
 * `fail` and `truncated` for problems that name field numbers: each `#` in the text stands for the
 * next number. On the hot paths a template literal with a number in it was turned into a string on
 * every pass (3 % of the decoder's CPU in a profile), not only when it was thrown.
 */
export function failNumbered(problem: string, at: number, first: number, second = 0): never {
  return fail(numbered(problem, first, second), at);
}

export function truncatedNumbered(what: string, field: number, at: number, need: number, end: number): never {
  return truncated(numbered(what, field, 0), at, need, end);
}

function numbered(text: string, first: number, second: number): string {
  return text.replace('#', String(first)).replace('#', String(second));
}

/**
 * The bytes being decoded and the second results of the varint readers. Readers take positions and
 * return positions; a varint reader also leaves the position after the varint in `after`. Varint
 * limits follow protobufjs so that whatever it accepts is accepted here: a tag is at most 5 bytes and
 * fits in 32 bits, a length at most 5 bytes and below 2^31, a value at most 10 bytes.
 */
export class WireCursor {
  buf: Buffer = EMPTY;
  /** The same bytes, for whole words: a DataView read is one load, small enough for TurboFan to inline wherever it is called. */
  view: DataView = EMPTY_VIEW;
  /** The position after the last varint read by a *Slow reader or varint64. */
  after = 0;
  /** High 32 bits of the last varint64 read, and whether any of its 7-bit groups was non-zero (protobufjs's bool). */
  varintHi = 0;
  varintNonZero = false;

  /** Starts on a new message; `release` drops it so the decoder does not keep the bytes alive. */
  start(bytes: Uint8Array): void {
    const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.buf = buf;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  release(): void {
    this.buf = EMPTY;
    this.view = EMPTY_VIEW;
  }

  /** The little-endian 32-bit word at p (signed); p + 4 is within the message. */
  word(p: number): number {
    return this.view.getInt32(p, true);
  }

  /** The field tag at pos; sets `after`. For the loops over a message's few fields (the span and attribute loops inline it). */
  tag(pos: number, end: number): number {
    const b = this.buf[pos]!;
    if (b < 0x80) {
      this.after = pos + 1;
      return b;
    }
    return this.tagSlow(pos, end);
  }

  /**
   * The length at pos of a length-delimited field whose tag was just read, its bytes checked to end
   * by `end`; sets `after` to the first of them. `lengthWhat` and `what` name the two in errors.
   */
  length(pos: number, end: number, lengthWhat: string, what: string): number {
    if (pos >= end) truncated(lengthWhat, pos, 1, end);
    let n = this.buf[pos]!;
    if (n < 0x80) this.after = pos + 1;
    else n = this.lengthSlow(pos, end);
    if (n > end - this.after) truncated(what, this.after, n, end);
    return n;
  }

  /** A tag whose first byte is ≥ 0x80; sets `after`. */
  tagSlow(pos: number, end: number): number {
    // Two bytes first: fields 16 to 2047 (Span.flags is field 16). A fifth byte may add bits 28-31 only.
    return this.#varint32(pos, end, 'field tag', 0x0f, 'invalid field tag (more than 32 bits)');
  }

  /** A length whose first byte is ≥ 0x80; sets `after`. */
  lengthSlow(pos: number, end: number): number {
    // Two bytes first: statements, the KeyValues and AnyValues around them and most spans are 128 B to 16 KiB long.
    return this.#varint32(pos, end, 'length', 7, 'invalid length (2^31 bytes or more)');
  }

  /** A varint of at most 5 bytes whose fifth is at most `maxFifth`, two-byte ones first; sets `after`. */
  #varint32(pos: number, end: number, what: string, maxFifth: number, tooLarge: string): number {
    const buf = this.buf;
    if (pos + 1 < end && buf[pos + 1]! < 0x80) {
      this.after = pos + 2;
      return (buf[pos]! & 0x7f) | (buf[pos + 1]! << 7);
    }
    let value = 0;
    for (let i = 0; i < 5; i++) {
      if (pos + i >= end) truncated(what, pos, i + 1, end);
      const b = buf[pos + i]!;
      if (i === 4) {
        if (b > maxFifth) fail(tooLarge, pos);
        this.after = pos + 5;
        return (value | (b << 28)) >>> 0;
      }
      value |= (b & 0x7f) << (7 * i);
      if (b < 0x80) {
        this.after = pos + i + 1;
        return value >>> 0;
      }
    }
    return fail(`invalid ${what}`, pos);
  }

  /** A varint of up to 10 bytes: returns the low 32 bits (unsigned), sets varintHi, varintNonZero and `after`. */
  varint64(pos: number, end: number): number {
    const buf = this.buf;
    let lo = 0;
    let hi = 0;
    let any = 0;
    for (let i = 0; i < 10; i++) {
      if (pos + i >= end) truncated('varint', pos, i + 1, end);
      const b = buf[pos + i]!;
      const bits = b & 0x7f;
      any |= bits;
      if (i < 4) lo |= bits << (7 * i);
      else if (i === 4) {
        lo |= bits << 28;
        hi = bits >>> 4;
      } else hi |= bits << (7 * i - 32);
      if (b < 0x80) {
        this.after = pos + i + 1;
        this.varintHi = hi >>> 0;
        this.varintNonZero = any !== 0;
        return lo >>> 0;
      }
    }
    return fail('invalid varint (more than 10 bytes)', pos);
  }

  /** Skips a varint of any length, as protobufjs does for fields it does not know. */
  skipVarint(pos: number, end: number): number {
    const buf = this.buf;
    for (let p = pos; p < end; p++) if (buf[p]! < 0x80) return p + 1;
    return truncated('varint', pos, end - pos + 1, end);
  }

  /**
   * Skips one field's payload (the tag already read) and returns the position after it. `depth` is
   * the nesting depth of the enclosing message, counted as protobufjs does, for the group limit.
   */
  skipField(pos: number, end: number, wire: number, field: number, depth: number): number {
    if (depth > RECURSION_LIMIT) fail('groups nested more than 100 deep', pos);
    if (field === 0) fail('invalid field number 0', pos);
    const buf = this.buf;
    switch (wire) {
      case WIRE_VARINT:
        return this.skipVarint(pos, end);
      case WIRE_FIXED64:
        if (end - pos < 8) truncatedNumbered('fixed64 field #', field, pos, 8, end);
        return pos + 8;
      case WIRE_LEN: {
        if (pos >= end) truncatedNumbered('length of field #', field, pos, 1, end);
        let n = buf[pos]!;
        if (n < 0x80) pos++;
        else {
          n = this.lengthSlow(pos, end);
          pos = this.after;
        }
        if (n > end - pos) truncatedNumbered('field #', field, pos, n, end);
        return pos + n;
      }
      case WIRE_START_GROUP:
        for (;;) {
          if (pos >= end) truncatedNumbered('group # (no end-group tag)', field, pos, 1, end);
          const at = pos;
          const tag = this.tag(pos, end);
          pos = this.after;
          const inner = tag >>> 3;
          if (inner === 0) fail('invalid field number 0', at);
          if ((tag & 7) === WIRE_END_GROUP) {
            if (inner !== field) failNumbered('end-group tag # inside group #', at, inner, field);
            return pos;
          }
          pos = this.skipField(pos, end, tag & 7, inner, depth + 1);
        }
      case WIRE_FIXED32:
        if (end - pos < 4) truncatedNumbered('fixed32 field #', field, pos, 4, end);
        return pos + 4;
      default:
        return failNumbered('invalid wire type # for field #', pos, wire, field);
    }
  }
}
