/**
 * KeyValue and AnyValue on the wire: finds whether an attribute's key is one n1lens reads, and if so
 * reads its value (the oneof member set last, over every occurrence of KeyValue.value, as they
 * merge) into registers, turned into a string only when asked.
 */
import { fail, truncated, truncatedNumbered, WIRE_FIXED64, WIRE_LEN, WIRE_VARINT, type WireCursor } from './cursor.js';
import { keyCode } from './keys.js';
import type { WireStrings } from './strings.js';

const V_NONE = 0;
const V_STRING = 1;
const V_BOOL = 2;
const V_INT = 3;
const V_DOUBLE = 4;
/** array_value, kvlist_value, bytes_value: read as "no string", as protobuf.ts's readPbValue does. */
const V_OTHER = 5;

/** Reads one attribute at a time; the value of the last one read stays in its registers. */
export class AttributeReader {
  readonly #cursor: WireCursor;
  readonly #strings: WireStrings;
  #valueKind = V_NONE;
  /** V_STRING: byte range; V_DOUBLE: valueStart; V_INT: valueLo/valueHi; V_BOOL: valueLo 0/1. */
  #valueStart = 0;
  #valueEnd = 0;
  #valueLo = 0;
  #valueHi = 0;
  /** After value(true): the comment split off the statement (WireStrings.statement), '' when none. */
  comment = '';

  constructor(cursor: WireCursor, strings: WireStrings) {
    this.#cursor = cursor;
    this.#strings = strings;
  }

  /**
   * One KeyValue at [start, end): returns the key's code (keys.ts) when n1lens reads the key and a
   * value is present, with the value loaded into the registers; -1 otherwise.
   */
  read(start: number, end: number, depth: number): number {
    const c = this.#cursor;
    const buf = c.buf;
    // Fast path: key once then value once, as every SDK writes a KeyValue. Lengths may take more
    // bytes than they need (writers that reserve a fixed width and fill it in afterwards do that).
    if (buf[start] === 0x0a && end - start > 2) {
      let keyLength = buf[start + 1]!;
      let keyAt = start + 2;
      if (keyLength >= 0x80) {
        keyLength = c.lengthSlow(start + 1, end);
        keyAt = c.after;
      }
      const keyEnd = keyAt + keyLength;
      if (keyEnd + 2 <= end && buf[keyEnd] === 0x12) {
        let n = buf[keyEnd + 1]!;
        let valueAt = keyEnd + 2;
        if (n >= 0x80) {
          n = c.lengthSlow(keyEnd + 1, end);
          valueAt = c.after;
        }
        if (valueAt + n === end) {
          const code = keyCode(buf, keyAt, keyEnd);
          if (code < 0) return -1;
          // A string_value alone, as SDKs write one.
          if (buf[valueAt] === 0x0a && valueAt + 1 < end) {
            let m = buf[valueAt + 1]!;
            let stringAt = valueAt + 2;
            if (m >= 0x80) {
              m = c.lengthSlow(valueAt + 1, end);
              stringAt = c.after;
            }
            if (stringAt + m === end) {
              this.#valueKind = V_STRING;
              this.#valueStart = stringAt;
              this.#valueEnd = end;
              return code;
            }
          }
          this.#valueKind = V_NONE;
          this.#readAnyValue(valueAt, end, depth + 1);
          return code;
        }
      }
    }
    let pos = start;
    let keyStart = -1;
    let keyEnd = -1;
    let values = 0;
    let lastValueStart = 0;
    let lastValueEnd = 0;
    while (pos < end) {
      const at = pos;
      let tag = buf[pos]!;
      if (tag < 0x80) pos++;
      else {
        tag = c.tagSlow(pos, end);
        pos = c.after;
      }
      if (tag === 0x0a || tag === 0x12) {
        if (pos >= end) truncated('KeyValue length', pos, 1, end);
        let n = buf[pos]!;
        if (n < 0x80) pos++;
        else {
          n = c.lengthSlow(pos, end);
          pos = c.after;
        }
        if (n > end - pos) truncated(tag === 0x0a ? 'attribute key' : 'attribute value', pos, n, end);
        if (tag === 0x0a) {
          keyStart = pos;
          keyEnd = pos + n;
        } else {
          values++;
          lastValueStart = pos;
          lastValueEnd = pos + n;
        }
        pos += n;
      } else {
        if (tag >>> 3 === 0) fail('invalid field number 0', at);
        pos = c.skipField(pos, end, tag & 7, tag >>> 3, depth);
      }
    }
    if (values === 0 || keyStart < 0) return -1;
    const code = keyCode(buf, keyStart, keyEnd);
    if (code < 0) return -1;
    this.#valueKind = V_NONE;
    if (values === 1) this.#readAnyValue(lastValueStart, lastValueEnd, depth + 1);
    else {
      // Several value fields merge, in order (rare; only encoders that split a message do it).
      pos = start;
      while (pos < end) {
        let tag = buf[pos]!;
        if (tag < 0x80) pos++;
        else {
          tag = c.tagSlow(pos, end);
          pos = c.after;
        }
        if (tag === 0x12) {
          let n = buf[pos]!;
          if (n < 0x80) pos++;
          else {
            n = c.lengthSlow(pos, end);
            pos = c.after;
          }
          this.#readAnyValue(pos, pos + n, depth + 1);
          pos += n;
        } else pos = c.skipField(pos, end, tag & 7, tag >>> 3, depth);
      }
    }
    return code;
  }

  /** The value read last as protobuf.ts's readPbValue gives it: scalars as strings, undefined for none/array/kvlist/bytes. */
  value(statementLike: boolean): string | undefined {
    this.comment = '';
    switch (this.#valueKind) {
      case V_STRING:
        if (!statementLike) return this.#strings.text(this.#valueStart, this.#valueEnd);
        {
          const text = this.#strings.statement(this.#valueStart, this.#valueEnd);
          this.comment = this.#strings.comment;
          return text;
        }
      case V_BOOL:
        return this.#valueLo === 1 ? 'true' : 'false';
      case V_INT: {
        const lo = this.#valueLo;
        const hi = this.#valueHi;
        return hi === 0 && lo <= 0x7fffffff ? String(lo) : BigInt.asIntN(64, (BigInt(hi) << 32n) | BigInt(lo)).toString();
      }
      case V_DOUBLE:
        return String(this.#cursor.buf.readDoubleLE(this.#valueStart));
      default:
        return undefined;
    }
  }

  #readAnyValue(pos: number, end: number, depth: number): void {
    const c = this.#cursor;
    const buf = c.buf;
    while (pos < end) {
      const at = pos;
      let tag = buf[pos]!;
      if (tag < 0x80) pos++;
      else {
        tag = c.tagSlow(pos, end);
        pos = c.after;
      }
      const field = tag >>> 3;
      const wire = tag & 7;
      if (wire === WIRE_LEN && field >= 1 && field <= 7 && field !== 2 && field !== 3 && field !== 4) {
        if (pos >= end) truncated('AnyValue length', pos, 1, end);
        let n = buf[pos]!;
        if (n < 0x80) pos++;
        else {
          n = c.lengthSlow(pos, end);
          pos = c.after;
        }
        if (n > end - pos) truncatedNumbered('AnyValue field #', field, pos, n, end);
        if (field === 1) {
          this.#valueKind = V_STRING;
          this.#valueStart = pos;
          this.#valueEnd = pos + n;
        } else this.#valueKind = V_OTHER;
        pos += n;
      } else if (wire === WIRE_VARINT && (field === 2 || field === 3)) {
        this.#valueLo = c.varint64(pos, end);
        this.#valueHi = c.varintHi;
        pos = c.after;
        if (field === 2) {
          this.#valueKind = V_BOOL;
          this.#valueLo = c.varintNonZero ? 1 : 0;
        } else this.#valueKind = V_INT;
      } else if (wire === WIRE_FIXED64 && field === 4) {
        if (end - pos < 8) truncated('AnyValue double_value', pos, 8, end);
        this.#valueKind = V_DOUBLE;
        this.#valueStart = pos;
        pos += 8;
      } else {
        if (field === 0) fail('invalid field number 0', at);
        pos = c.skipField(pos, end, wire, field, depth);
      }
    }
  }
}
