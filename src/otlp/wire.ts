/**
 * The hot-path OTLP/protobuf decoder: ExportTraceServiceRequest bytes straight to SpanRecords, with no
 * message tree in between. Not a general-purpose protobuf reader: it knows the OTLP trace schema
 * (proto/opentelemetry/proto/{collector/trace,trace,common,resource}/v1) and reads only this much:
 *
 *   ExportTraceServiceRequest.resource_spans (1)
 *     ResourceSpans.resource (1) → Resource.attributes (1): `service.name`, and the process
 *       (`service.instance.id`, `host.name`, `process.pid`)
 *     ResourceSpans.scope_spans (2) → ScopeSpans.spans (2) → Span:
 *       trace_id 1, span_id 2, parent_span_id 4, name 5, kind 6, start 7, end 8, attributes 9, status 15 → code 3
 *   KeyValue key 1, value 2 → AnyValue string 1, bool 2, int 3, double 4 (array 5, kvlist 6 and bytes 7 read as "no string")
 *
 * Everything else is skipped by its length without looking inside: schema URLs, the instrumentation
 * scope, trace_state, flags, dropped counts, events, links, Status.message, the values of attribute
 * keys n1lens does not fold, and unknown fields of every wire type (a group is skipped up to its
 * matching end-group tag, nested at most 100 deep). Attribute keys are compared as bytes; only the
 * values detection uses become strings, and repeated ids, names and statements are interned (the
 * same bytes give the same string object, whose hash V8 then computes once).
 *
 * Results equal protobufjs's (`decodeProtobufRequestReference`) for every message protobufjs
 * accepts: the last value of a scalar wins, repeated fields concatenate, a singular message that
 * occurs twice is merged, a oneof keeps its last member, and a known field that arrives with an
 * unexpected wire type is skipped like an unknown one (protobufjs 8 does all of these). Validation
 * and rejection are to-span.ts's `rejectReason` and `toSpanRecord`, applied to the raw bytes.
 * It is lazier than protobufjs in two ways: damage inside a skipped field (an event, the scope, an
 * attribute it does not read) is not noticed, and a string it reads is decoded as Buffer#toString
 * does (invalid UTF-8 becomes U+FFFD) where protobufjs refuses the whole message. Anything that
 * breaks the structure it walks throws an OtlpDecodeError naming the byte offset.
 */

import { OtlpDecodeError } from './errors.js';
import type { DecodedBatch, SpanKind, SpanRecord, SpanRejectReason } from './span.js';
import { buildRecord, instanceOf, nanosToMs, urlHost } from './to-span.js';
import type { FoldedFields } from './to-span.js';

const EMPTY = Buffer.alloc(0);
/** protobufjs's Reader.recursionLimit: skipType refuses groups nested deeper. */
const RECURSION_LIMIT = 100;
const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LEN = 2;
const WIRE_START_GROUP = 3;
const WIRE_END_GROUP = 4;
const WIRE_FIXED32 = 5;

/** The bytes being decoded (a decode runs start to end without yielding, so one module-level cursor state is safe). */
let buf: Buffer = EMPTY;
/** Second result of the varint readers: the position after the varint. */
let after = 0;

function fail(problem: string, at: number): never {
  throw new OtlpDecodeError(`invalid OTLP protobuf ExportTraceServiceRequest (${problem} at byte ${at})`);
}

function truncated(what: string, at: number, need: number, end: number): never {
  return fail(`truncated ${what}: needs ${need} bytes, only ${Math.max(0, end - at)} left in its message`, at);
}

// ---------------------------------------------------------------------------------------------
// Varints. Limits follow protobufjs so that whatever it accepts is accepted here: a tag is at most
// 5 bytes and fits in 32 bits, a length at most 5 bytes and below 2^31, a value at most 10 bytes.

/** A tag whose first byte is ≥ 0x80; sets `after`. */
function tagSlow(pos: number, end: number): number {
  let value = 0;
  for (let i = 0; i < 5; i++) {
    if (pos + i >= end) truncated('field tag', pos, i + 1, end);
    const b = buf[pos + i]!;
    if (i === 4) {
      if (b >= 0x80 || (b & 0x70) !== 0) fail('invalid field tag (more than 32 bits)', pos);
      after = pos + 5;
      return (value | (b << 28)) >>> 0;
    }
    value |= (b & 0x7f) << (7 * i);
    if (b < 0x80) {
      after = pos + i + 1;
      return value >>> 0;
    }
  }
  return fail('invalid field tag', pos);
}

/** A length whose first byte is ≥ 0x80; sets `after`. */
function lengthSlow(pos: number, end: number): number {
  let value = 0;
  for (let i = 0; i < 5; i++) {
    if (pos + i >= end) truncated('length', pos, i + 1, end);
    const b = buf[pos + i]!;
    if (i === 4) {
      if (b > 7) fail('invalid length (2^31 bytes or more)', pos);
      after = pos + 5;
      return (value | (b << 28)) >>> 0;
    }
    value |= (b & 0x7f) << (7 * i);
    if (b < 0x80) {
      after = pos + i + 1;
      return value >>> 0;
    }
  }
  return fail('invalid length', pos);
}

/** High 32 bits of the last varint64 read, and whether any of its 7-bit groups was non-zero (protobufjs's bool). */
let varintHi = 0;
let varintNonZero = false;

/** A varint of up to 10 bytes: returns the low 32 bits (unsigned), sets varintHi and `after`. */
function varint64(pos: number, end: number): number {
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
      after = pos + i + 1;
      varintHi = hi >>> 0;
      varintNonZero = any !== 0;
      return lo >>> 0;
    }
  }
  return fail('invalid varint (more than 10 bytes)', pos);
}

/** Skips a varint of any length, as protobufjs does for fields it does not know. */
function skipVarint(pos: number, end: number): number {
  for (let p = pos; p < end; p++) if (buf[p]! < 0x80) return p + 1;
  return truncated('varint', pos, end - pos + 1, end);
}

/**
 * Skips one field's payload (the tag already read) and returns the position after it. `depth` is
 * the nesting depth of the enclosing message, counted as protobufjs does, for the group limit.
 */
function skipField(pos: number, end: number, wire: number, field: number, depth: number): number {
  if (depth > RECURSION_LIMIT) fail('groups nested more than 100 deep', pos);
  if (field === 0) fail('invalid field number 0', pos);
  switch (wire) {
    case WIRE_VARINT:
      return skipVarint(pos, end);
    case WIRE_FIXED64:
      if (end - pos < 8) truncated(`fixed64 field ${field}`, pos, 8, end);
      return pos + 8;
    case WIRE_LEN: {
      if (pos >= end) truncated(`length of field ${field}`, pos, 1, end);
      let n = buf[pos]!;
      if (n < 0x80) pos++;
      else {
        n = lengthSlow(pos, end);
        pos = after;
      }
      if (n > end - pos) truncated(`field ${field}`, pos, n, end);
      return pos + n;
    }
    case WIRE_START_GROUP:
      for (;;) {
        if (pos >= end) truncated(`group ${field} (no end-group tag)`, pos, 1, end);
        const at = pos;
        let tag = buf[pos]!;
        if (tag < 0x80) pos++;
        else {
          tag = tagSlow(pos, end);
          pos = after;
        }
        const inner = tag >>> 3;
        if (inner === 0) fail('invalid field number 0', at);
        if ((tag & 7) === WIRE_END_GROUP) {
          if (inner !== field) fail(`end-group tag ${inner} inside group ${field}`, at);
          return pos;
        }
        pos = skipField(pos, end, tag & 7, inner, depth + 1);
      }
    case WIRE_FIXED32:
      if (end - pos < 4) truncated(`fixed32 field ${field}`, pos, 4, end);
      return pos + 4;
    default:
      return fail(`invalid wire type ${wire} for field ${field}`, pos);
  }
}

// ---------------------------------------------------------------------------------------------
// Strings. Ids become lowercase hex; short strings and statements are interned by their bytes.

const HEX_CODES = new Uint8Array([48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 97, 98, 99, 100, 101, 102]);

function hex8(p: number): string {
  const b = buf;
  const h = HEX_CODES;
  return String.fromCharCode(
    h[b[p]! >>> 4]!, h[b[p]! & 15]!, h[b[p + 1]! >>> 4]!, h[b[p + 1]! & 15]!,
    h[b[p + 2]! >>> 4]!, h[b[p + 2]! & 15]!, h[b[p + 3]! >>> 4]!, h[b[p + 3]! & 15]!,
    h[b[p + 4]! >>> 4]!, h[b[p + 4]! & 15]!, h[b[p + 5]! >>> 4]!, h[b[p + 5]! & 15]!,
    h[b[p + 6]! >>> 4]!, h[b[p + 6]! & 15]!, h[b[p + 7]! >>> 4]!, h[b[p + 7]! & 15]!,
  );
}

/** 32 hex digits in one flat string (concatenating two halves would make a cons string that every hash flattens). */
function hex16(p: number): string {
  const b = buf;
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

/** The little-endian 32-bit word at p (signed). */
function word(p: number): number {
  const b = buf;
  return b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24);
}

/**
 * A direct-mapped memo from id bytes to their hex string: the spans of a trace share a trace id,
 * and their parent ids are a few span ids. Slots hold the id's 32-bit words.
 */
const TRACE_SLOTS = 1024;
const traceWords = new Int32Array(TRACE_SLOTS * 4);
const traceHex: (string | undefined)[] = new Array<string | undefined>(TRACE_SLOTS).fill(undefined);

/** The trace id at p as hex, or '' when all 16 bytes are zero (invalid per OTLP). */
function traceIdHex(p: number): string {
  const w0 = word(p);
  const w1 = word(p + 4);
  const w2 = word(p + 8);
  const w3 = word(p + 12);
  if ((w0 | w1 | w2 | w3) === 0) return '';
  const slot = (w3 ^ (w3 >>> 10) ^ w0) & (TRACE_SLOTS - 1);
  const k = slot * 4;
  const cached = traceHex[slot];
  if (cached !== undefined && traceWords[k] === w0 && traceWords[k + 1] === w1 && traceWords[k + 2] === w2 && traceWords[k + 3] === w3) {
    return cached;
  }
  const hex = hex16(p);
  traceWords[k] = w0;
  traceWords[k + 1] = w1;
  traceWords[k + 2] = w2;
  traceWords[k + 3] = w3;
  traceHex[slot] = hex;
  return hex;
}

const SPAN_SLOTS = 4096;
const spanWords = new Int32Array(SPAN_SLOTS * 2);
const spanHex: (string | undefined)[] = new Array<string | undefined>(SPAN_SLOTS).fill(undefined);

/** The span id at p as hex, or '' when all 8 bytes are zero. */
function spanIdHex(p: number): string {
  const w0 = word(p);
  const w1 = word(p + 4);
  if ((w0 | w1) === 0) return '';
  const slot = (w1 ^ (w1 >>> 12) ^ w0) & (SPAN_SLOTS - 1);
  const k = slot * 2;
  const cached = spanHex[slot];
  if (cached !== undefined && spanWords[k] === w0 && spanWords[k + 1] === w1) return cached;
  const hex = hex8(p);
  spanWords[k] = w0;
  spanWords[k + 1] = w1;
  spanHex[slot] = hex;
  return hex;
}

/** Short strings (names, systems, methods, routes, hosts): memo slots of up to 48 bytes. */
const SHORT_MAX = 48;
const SHORT_SLOTS = 1024;
const shortBytes = new Uint8Array(SHORT_SLOTS * SHORT_MAX);
const shortLength = new Int32Array(SHORT_SLOTS).fill(-1);
const shortString: string[] = new Array<string>(SHORT_SLOTS).fill('');

type Slice = (this: Buffer, start: number, end: number) => string;
/** Buffer's own UTF-8 slice (what toString('utf8', s, e) ends in, without its argument checks); invalid bytes become U+FFFD. */
const utf8Slice: Slice =
  (Buffer.prototype as unknown as { utf8Slice?: Slice }).utf8Slice ??
  function (this: Buffer, start: number, end: number): string {
    return this.toString('utf8', start, end);
  };

function utf8(start: number, end: number): string {
  return utf8Slice.call(buf, start, end);
}

/** The string of buf[start, end), from the memo when these bytes were seen recently. */
function text(start: number, end: number): string {
  const n = end - start;
  if (n === 0) return '';
  if (n > SHORT_MAX) return utf8(start, end);
  const b = buf;
  const slot = (n * 0x9e3 + b[start]! * 31 + b[end - 1]! * 7 + b[start + (n >>> 1)]!) & (SHORT_SLOTS - 1);
  const base = slot * SHORT_MAX;
  if (shortLength[slot] === n) {
    let i = 0;
    while (i < n && shortBytes[base + i] === b[start + i]) i++;
    if (i === n) return shortString[slot]!;
  }
  const s = utf8(start, end);
  for (let i = 0; i < n; i++) shortBytes[base + i] = b[start + i]!;
  shortLength[slot] = n;
  shortString[slot] = s;
  return s;
}

/**
 * Statements: an N+1 loop sends the same text (sqlcommenter's traceparent included) again and
 * again, while other requests in flight send the same statement with their own traceparent. A
 * two-way set-associative memo keeps the last statements' bytes and strings; the set is chosen from
 * words at the start, middle and end (where a traceparent sits), so concurrent requests' copies
 * of one statement do not evict each other. Statements longer than STMT_MAX are not kept.
 */
const STMT_MAX = 2048;
const STMT_SETS = 512;
const stmtBytes = Buffer.alloc(STMT_SETS * 2 * STMT_MAX);
const stmtLength = new Int32Array(STMT_SETS * 2).fill(-1);
const stmtString: string[] = new Array<string>(STMT_SETS * 2).fill('');
/** Per set: which way was used last (the other is replaced on a miss). */
const stmtRecent = new Uint8Array(STMT_SETS);

function statement(start: number, end: number): string {
  const n = end - start;
  if (n <= SHORT_MAX) return text(start, end);
  if (n > STMT_MAX) return utf8(start, end);
  const b = buf;
  let h = Math.imul(word(start + 16) ^ n, 0x9e3779b1);
  h = Math.imul(h ^ word(start + (n >>> 1)), 0x85ebca6b);
  h = Math.imul(h ^ word(end - 12), 0xc2b2ae35);
  h = Math.imul(h ^ word(end - 28) ^ (h >>> 15), 0x27d4eb2f);
  const set = (h ^ (h >>> 16)) & (STMT_SETS - 1);
  for (let way = 0; way < 2; way++) {
    const slot = set * 2 + way;
    const base = slot * STMT_MAX;
    if (stmtLength[slot] === n && b.compare(stmtBytes, base, base + n, start, end) === 0) {
      stmtRecent[set] = way;
      return stmtString[slot]!;
    }
  }
  const way = stmtRecent[set]! ^ 1;
  const slot = set * 2 + way;
  const s = utf8(start, end);
  b.copy(stmtBytes, slot * STMT_MAX, start, end);
  stmtLength[slot] = n;
  stmtString[slot] = s;
  stmtRecent[set] = way;
  return s;
}

// ---------------------------------------------------------------------------------------------
// Attribute keys n1lens folds into a SpanRecord (to-span.ts FOLDED), matched as bytes.

const K_HTTP_METHOD_STABLE = 0;
const K_HTTP_METHOD_OLD = 1;
const K_HTTP_ROUTE = 2;
const K_DB_SYSTEM_STABLE = 3;
const K_DB_SYSTEM_OLD = 4;
const K_DB_STATEMENT_STABLE = 5;
const K_DB_STATEMENT_OLD = 6;
const K_MESSAGING_SYSTEM = 7;
const K_RPC_SYSTEM = 8;
const K_SERVER_ADDRESS = 9;
const K_NET_PEER_NAME = 10;
const K_URL_FULL = 11;
const K_HTTP_URL = 12;
const K_SERVICE_NAME = 13;
const K_CLIENT_ADDRESS = 14;
const K_HTTP_CLIENT_IP = 15;
const K_NET_PEER_IP = 16;
const K_USER_AGENT_STABLE = 17;
const K_USER_AGENT_OLD = 18;
const K_SERVICE_INSTANCE_ID = 19;
const K_HOST_NAME = 20;
const K_PROCESS_PID = 21;

const KEYS: readonly (readonly [string, number])[] = [
  ['http.request.method', K_HTTP_METHOD_STABLE],
  ['http.method', K_HTTP_METHOD_OLD],
  ['http.route', K_HTTP_ROUTE],
  ['db.system.name', K_DB_SYSTEM_STABLE],
  ['db.system', K_DB_SYSTEM_OLD],
  ['db.query.text', K_DB_STATEMENT_STABLE],
  ['db.statement', K_DB_STATEMENT_OLD],
  ['messaging.system', K_MESSAGING_SYSTEM],
  ['rpc.system', K_RPC_SYSTEM],
  ['server.address', K_SERVER_ADDRESS],
  ['net.peer.name', K_NET_PEER_NAME],
  ['url.full', K_URL_FULL],
  ['http.url', K_HTTP_URL],
  ['service.name', K_SERVICE_NAME],
  ['client.address', K_CLIENT_ADDRESS],
  ['http.client_ip', K_HTTP_CLIENT_IP],
  ['net.peer.ip', K_NET_PEER_IP],
  ['user_agent.original', K_USER_AGENT_STABLE],
  ['http.user_agent', K_USER_AGENT_OLD],
  ['service.instance.id', K_SERVICE_INSTANCE_ID],
  ['host.name', K_HOST_NAME],
  ['process.pid', K_PROCESS_PID],
];
const MAX_KEY = 19;
/**
 * The keys as little-endian 32-bit words (the last word zero-padded), grouped by length: KEY_WORDS
 * holds each key's words, KEY_CODE its code, KEY_AT[n]..KEY_AT[n + 1] the keys of length n.
 */
const KEY_AT = new Int32Array(MAX_KEY + 2);
const KEY_CODE: number[] = [];
const KEY_WORDS: number[] = [];
{
  const sorted = [...KEYS].sort((a, b) => a[0].length - b[0].length);
  let k = 0;
  for (let n = 0; n <= MAX_KEY + 1; n++) {
    KEY_AT[n] = k;
    while (k < sorted.length && sorted[k]![0].length === n) {
      const bytes = Buffer.alloc(20);
      bytes.write(sorted[k]![0], 'latin1');
      for (let w = 0; w < 5; w++) KEY_WORDS.push(bytes.readInt32LE(w * 4));
      KEY_CODE.push(sorted[k]![1]);
      k++;
    }
  }
}
const KEY_WORD_TABLE = Int32Array.from(KEY_WORDS);

/** The code of the folded key in buf[start, end), or -1: compared four bytes at a time. */
function keyCode(start: number, end: number): number {
  const n = end - start;
  if (n > MAX_KEY || n < 4) return -1;
  const b = buf;
  const first = word(start);
  // The last word, from the key's own bytes, masked to the bytes that belong to it.
  const tailAt = (n - 1) & ~3;
  const tailBytes = n - tailAt;
  let tail = b[start + tailAt]!;
  if (tailBytes > 1) tail |= b[start + tailAt + 1]! << 8;
  if (tailBytes > 2) tail |= b[start + tailAt + 2]! << 16;
  if (tailBytes > 3) tail |= b[start + tailAt + 3]! << 24;
  const words = KEY_WORD_TABLE;
  for (let k = KEY_AT[n]!; k < KEY_AT[n + 1]!; k++) {
    const base = k * 5;
    if (words[base] !== first || words[base + (tailAt >> 2)] !== tail) continue;
    let w = 1;
    while (w < tailAt >> 2 && words[base + w] === word(start + w * 4)) w++;
    if (w >= tailAt >> 2) return KEY_CODE[k]!;
  }
  return -1;
}

// ---------------------------------------------------------------------------------------------
// AnyValue: the oneof member set last, over every occurrence of KeyValue.value (they merge).

const V_NONE = 0;
const V_STRING = 1;
const V_BOOL = 2;
const V_INT = 3;
const V_DOUBLE = 4;
/** array_value, kvlist_value, bytes_value: read as "no string", as readPbValue does. */
const V_OTHER = 5;

let valueKind = V_NONE;
/** V_STRING: byte range; V_DOUBLE: valueStart; V_INT: valueLo/valueHi; V_BOOL: valueLo 0/1. */
let valueStart = 0;
let valueEnd = 0;
let valueLo = 0;
let valueHi = 0;

function readAnyValue(pos: number, end: number, depth: number): void {
  while (pos < end) {
    const at = pos;
    let tag = buf[pos]!;
    if (tag < 0x80) pos++;
    else {
      tag = tagSlow(pos, end);
      pos = after;
    }
    const field = tag >>> 3;
    const wire = tag & 7;
    if (wire === WIRE_LEN && field >= 1 && field <= 7 && field !== 2 && field !== 3 && field !== 4) {
      if (pos >= end) truncated('AnyValue length', pos, 1, end);
      let n = buf[pos]!;
      if (n < 0x80) pos++;
      else {
        n = lengthSlow(pos, end);
        pos = after;
      }
      if (n > end - pos) truncated(`AnyValue field ${field}`, pos, n, end);
      if (field === 1) {
        valueKind = V_STRING;
        valueStart = pos;
        valueEnd = pos + n;
      } else valueKind = V_OTHER;
      pos += n;
    } else if (wire === WIRE_VARINT && (field === 2 || field === 3)) {
      valueLo = varint64(pos, end);
      valueHi = varintHi;
      pos = after;
      if (field === 2) {
        valueKind = V_BOOL;
        valueLo = varintNonZero ? 1 : 0;
      } else valueKind = V_INT;
    } else if (wire === WIRE_FIXED64 && field === 4) {
      if (end - pos < 8) truncated('AnyValue double_value', pos, 8, end);
      valueKind = V_DOUBLE;
      valueStart = pos;
      pos += 8;
    } else {
      if (field === 0) fail('invalid field number 0', at);
      pos = skipField(pos, end, wire, field, depth);
    }
  }
}

/** The value as readPbValue gives it: scalars as strings, undefined for none/array/kvlist/bytes. */
function valueString(statementLike: boolean): string | undefined {
  switch (valueKind) {
    case V_STRING:
      return statementLike ? statement(valueStart, valueEnd) : text(valueStart, valueEnd);
    case V_BOOL:
      return valueLo === 1 ? 'true' : 'false';
    case V_INT:
      return valueHi === 0 && valueLo <= 0x7fffffff
        ? String(valueLo)
        : BigInt.asIntN(64, (BigInt(valueHi) << 32n) | BigInt(valueLo)).toString();
    case V_DOUBLE:
      return String(buf.readDoubleLE(valueStart));
    default:
      return undefined;
  }
}

/**
 * One KeyValue at [start, end): returns the folded key code when the key is one n1lens reads and a
 * value is present, with the value loaded into the value* registers; -1 otherwise.
 */
function readKeyValue(start: number, end: number, depth: number): number {
  // Fast path: key once then value once, as every SDK writes a KeyValue.
  if (buf[start] === 0x0a && end - start > 2) {
    const keyLength = buf[start + 1]!;
    const keyEnd = start + 2 + keyLength;
    if (keyLength < 0x80 && keyEnd + 2 <= end && buf[keyEnd] === 0x12) {
      let n = buf[keyEnd + 1]!;
      let valueAt = keyEnd + 2;
      if (n >= 0x80) {
        // A two-byte length (statements); longer ones take the general path.
        if (valueAt < end && buf[valueAt]! < 0x80) n = (n & 0x7f) | (buf[valueAt++]! << 7);
        else n = -1;
      }
      if (n >= 0 && valueAt + n === end) {
        const code = keyCode(start + 2, keyEnd);
        if (code < 0) return -1;
        valueKind = V_NONE;
        readAnyValue(valueAt, end, depth + 1);
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
      tag = tagSlow(pos, end);
      pos = after;
    }
    if (tag === 0x0a || tag === 0x12) {
      if (pos >= end) truncated('KeyValue length', pos, 1, end);
      let n = buf[pos]!;
      if (n < 0x80) pos++;
      else {
        n = lengthSlow(pos, end);
        pos = after;
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
      pos = skipField(pos, end, tag & 7, tag >>> 3, depth);
    }
  }
  if (values === 0 || keyStart < 0) return -1;
  const code = keyCode(keyStart, keyEnd);
  if (code < 0) return -1;
  valueKind = V_NONE;
  if (values === 1) readAnyValue(lastValueStart, lastValueEnd, depth + 1);
  else {
    // Several value fields merge, in order (rare; only encoders that split a message do it).
    pos = start;
    while (pos < end) {
      let tag = buf[pos]!;
      if (tag < 0x80) pos++;
      else {
        tag = tagSlow(pos, end);
        pos = after;
      }
      if (tag === 0x12) {
        let n = buf[pos]!;
        if (n < 0x80) pos++;
        else {
          n = lengthSlow(pos, end);
          pos = after;
        }
        readAnyValue(pos, pos + n, depth + 1);
        pos += n;
      } else pos = skipField(pos, end, tag & 7, tag >>> 3, depth);
    }
  }
  return code;
}

// ---------------------------------------------------------------------------------------------
// Span attributes folded in order, with to-span.ts's rules: a stable name beats an old one, the
// best-ranked peer source wins.

/** The current span's folded attributes (to-span.ts's buildRecord makes the record from them). */
const f: FoldedFields = {
  httpMethod: undefined, httpRoute: undefined, dbSystem: undefined, dbStatement: undefined,
  messagingSystem: undefined, rpcSystem: undefined, peer: undefined, clientAddress: undefined, userAgent: undefined,
};
/** Rank of the source f.peer came from (1 best); 5 while there is none. */
let peerRank = 5;
/** Rank of the source f.clientAddress came from (1 best); 4 while there is none. */
let clientRank = 4;

function foldAttribute(start: number, end: number): void {
  const code = readKeyValue(start, end, 4);
  if (code < 0) return;
  let value: string | undefined;
  switch (code) {
    case K_HTTP_METHOD_OLD:
      if (f.httpMethod !== undefined) return;
    // falls through
    case K_HTTP_METHOD_STABLE:
      value = valueString(false);
      if (value !== undefined) f.httpMethod = value;
      return;
    case K_HTTP_ROUTE:
      value = valueString(false);
      if (value !== undefined) f.httpRoute = value;
      return;
    case K_DB_SYSTEM_OLD:
      if (f.dbSystem !== undefined) return;
    // falls through
    case K_DB_SYSTEM_STABLE:
      value = valueString(false);
      if (value !== undefined) f.dbSystem = value;
      return;
    case K_DB_STATEMENT_OLD:
      if (f.dbStatement !== undefined) return;
    // falls through
    case K_DB_STATEMENT_STABLE:
      value = valueString(true);
      if (value !== undefined) f.dbStatement = value;
      return;
    case K_MESSAGING_SYSTEM:
      value = valueString(false);
      if (value !== undefined) f.messagingSystem = value;
      return;
    case K_RPC_SYSTEM:
      value = valueString(false);
      if (value !== undefined) f.rpcSystem = value;
      return;
    case K_SERVER_ADDRESS:
    case K_NET_PEER_NAME:
    case K_URL_FULL:
    case K_HTTP_URL: {
      const rank = code - K_SERVER_ADDRESS + 1;
      if (rank >= peerRank) return;
      const raw = valueString(false);
      const peer = rank <= 2 ? raw : urlHost(raw);
      if (peer) {
        f.peer = peer;
        peerRank = rank;
      }
      return;
    }
    case K_CLIENT_ADDRESS:
    case K_HTTP_CLIENT_IP:
    case K_NET_PEER_IP: {
      const rank = code - K_CLIENT_ADDRESS + 1;
      if (rank >= clientRank) return;
      value = valueString(false);
      if (value) {
        f.clientAddress = value;
        clientRank = rank;
      }
      return;
    }
    case K_USER_AGENT_OLD:
      if (f.userAgent !== undefined) return;
    // falls through
    case K_USER_AGENT_STABLE:
      value = valueString(false);
      if (value) f.userAgent = value;
      return;
    default:
      return; // resource keys on a span are just attributes
  }
}

// ---------------------------------------------------------------------------------------------
// Messages.

let spans: SpanRecord[] = [];
let rejectedTraceId = 0;
let rejectedSpanId = 0;
let rejectedParentId = 0;
let rejectedEndBeforeStart = 0;

/** Status.code, over every occurrence of Span.status (they merge: the last code written wins). */
function statusCode(pos: number, end: number, code: number): number {
  while (pos < end) {
    const at = pos;
    let tag = buf[pos]!;
    if (tag < 0x80) pos++;
    else {
      tag = tagSlow(pos, end);
      pos = after;
    }
    if (tag === 0x18) {
      code = varint64(pos, end) | 0;
      pos = after;
    } else {
      if (tag >>> 3 === 0) fail('invalid field number 0', at);
      pos = skipField(pos, end, tag & 7, tag >>> 3, 4);
    }
  }
  return code;
}

function readSpan(pos: number, end: number, service: string, instance: string | undefined): void {
  let traceStart = -1;
  let traceLength = 0;
  let spanStart = -1;
  let spanLength = 0;
  let parentStart = -1;
  let parentLength = 0;
  let nameStart = 0;
  let nameEnd = 0;
  let kind = 0;
  let startLo = 0;
  let startHi = 0;
  let endLo = 0;
  let endHi = 0;
  let status = 0;
  f.httpMethod = f.httpRoute = f.dbSystem = f.dbStatement = f.messagingSystem = f.rpcSystem = f.peer = undefined;
  f.clientAddress = f.userAgent = undefined;
  peerRank = 5;
  clientRank = 4;

  while (pos < end) {
    const at = pos;
    let tag = buf[pos]!;
    if (tag < 0x80) pos++;
    else {
      tag = tagSlow(pos, end);
      pos = after;
    }
    const wire = tag & 7;
    const field = tag >>> 3;
    if (wire === WIRE_LEN && (field <= 5 || field === 9 || field === 15) && field !== 3) {
      if (pos >= end) truncated(`length of Span field ${field}`, pos, 1, end);
      let n = buf[pos]!;
      if (n < 0x80) pos++;
      else {
        n = lengthSlow(pos, end);
        pos = after;
      }
      if (n > end - pos) truncated(`Span field ${field}`, pos, n, end);
      switch (field) {
        case 9:
          foldAttribute(pos, pos + n);
          break;
        case 1:
          traceStart = pos;
          traceLength = n;
          break;
        case 2:
          spanStart = pos;
          spanLength = n;
          break;
        case 4:
          parentStart = pos;
          parentLength = n;
          break;
        case 5:
          nameStart = pos;
          nameEnd = pos + n;
          break;
        case 15:
          status = statusCode(pos, pos + n, status);
          break;
        default:
          fail(`invalid field number ${field}`, at);
      }
      pos += n;
    } else if (wire === WIRE_FIXED64 && (field === 7 || field === 8)) {
      if (end - pos < 8) truncated(`Span field ${field} (fixed64)`, pos, 8, end);
      const lo = word(pos) >>> 0;
      const hi = word(pos + 4) >>> 0;
      if (field === 7) {
        startLo = lo;
        startHi = hi;
      } else {
        endLo = lo;
        endHi = hi;
      }
      pos += 8;
    } else if (tag === 0x30) {
      kind = varint64(pos, end) | 0;
      pos = after;
    } else {
      if (field === 0) fail('invalid field number 0', at);
      pos = skipField(pos, end, wire, field, 3);
    }
  }

  // to-span.ts rejectReason, on the bytes: ids of the right length and not all zero, end ≥ start.
  const traceId = traceLength === 16 ? traceIdHex(traceStart) : '';
  if (traceId === '') {
    rejectedTraceId++;
    return;
  }
  const spanId = spanLength === 8 ? spanIdHex(spanStart) : '';
  if (spanId === '') {
    rejectedSpanId++;
    return;
  }
  if (parentLength !== 0 && parentLength !== 8) {
    rejectedParentId++;
    return;
  }
  if (endHi < startHi || (endHi === startHi && endLo < startLo)) {
    rejectedEndBeforeStart++;
    return;
  }
  spans.push(
    buildRecord(
      traceId,
      spanId,
      parentLength === 0 ? '' : spanIdHex(parentStart),
      text(nameStart, nameEnd),
      (kind >= 0 && kind <= 5 ? kind : 0) as SpanKind,
      nanosToMs(startHi, startLo),
      nanosToMs(endHi, endLo),
      service,
      status === 2,
      f,
      instance,
    ),
  );
}

function readScopeSpans(pos: number, end: number, service: string, instance: string | undefined): void {
  while (pos < end) {
    const at = pos;
    let tag = buf[pos]!;
    if (tag < 0x80) pos++;
    else {
      tag = tagSlow(pos, end);
      pos = after;
    }
    if (tag === 0x12) {
      if (pos >= end) truncated('length of a span', pos, 1, end);
      let n = buf[pos]!;
      if (n < 0x80) pos++;
      else {
        n = lengthSlow(pos, end);
        pos = after;
      }
      if (n > end - pos) truncated('span', pos, n, end);
      readSpan(pos, pos + n, service, instance);
      pos += n;
    } else {
      if (tag >>> 3 === 0) fail('invalid field number 0', at);
      pos = skipField(pos, end, tag & 7, tag >>> 3, 2);
    }
  }
}

/** What one ResourceSpans' resource says, over all its occurrences (see readResource). */
let resService: string | undefined;
let resInstanceId: string | undefined;
let resHost: string | undefined;
let resPid: string | undefined;

/**
 * Reads one Resource occurrence into the res* registers: the first service.name (the string, ''
 * for a present but non-string value) and the first non-empty service.instance.id count; host.name
 * and process.pid, the last (as to-span.ts's resourceInstance reads them).
 */
function readResource(pos: number, end: number): void {
  while (pos < end) {
    const at = pos;
    let tag = buf[pos]!;
    if (tag < 0x80) pos++;
    else {
      tag = tagSlow(pos, end);
      pos = after;
    }
    if (tag === 0x0a) {
      if (pos >= end) truncated('length of a resource attribute', pos, 1, end);
      let n = buf[pos]!;
      if (n < 0x80) pos++;
      else {
        n = lengthSlow(pos, end);
        pos = after;
      }
      if (n > end - pos) truncated('resource attribute', pos, n, end);
      switch (readKeyValue(pos, pos + n, 3)) {
        case K_SERVICE_NAME:
          resService ??= valueString(false) ?? '';
          break;
        case K_SERVICE_INSTANCE_ID:
          if (!resInstanceId) resInstanceId = valueString(false);
          break;
        case K_HOST_NAME:
          resHost = valueString(false);
          break;
        case K_PROCESS_PID:
          resPid = valueString(false);
          break;
        default:
          break;
      }
      pos += n;
    } else {
      if (tag >>> 3 === 0) fail('invalid field number 0', at);
      pos = skipField(pos, end, tag & 7, tag >>> 3, 2);
    }
  }
}

/**
 * One ResourceSpans. Encoders may write scope_spans before resource (the Collector's pdata writes
 * fields in reverse order), so a first pass finds service.name and a second reads the spans.
 */
function readResourceSpans(start: number, end: number): void {
  resService = resInstanceId = resHost = resPid = undefined;
  let scopes = 0;
  let pos = start;
  while (pos < end) {
    const at = pos;
    let tag = buf[pos]!;
    if (tag < 0x80) pos++;
    else {
      tag = tagSlow(pos, end);
      pos = after;
    }
    if (tag === 0x0a || tag === 0x12) {
      if (pos >= end) truncated('length of ResourceSpans field', pos, 1, end);
      let n = buf[pos]!;
      if (n < 0x80) pos++;
      else {
        n = lengthSlow(pos, end);
        pos = after;
      }
      if (n > end - pos) truncated(tag === 0x0a ? 'resource' : 'scope_spans', pos, n, end);
      // Resource occurrences merge: their attribute lists concatenate, the first service.name counts.
      if (tag === 0x0a) readResource(pos, pos + n);
      else scopes++;
      pos += n;
    } else {
      if (tag >>> 3 === 0) fail('invalid field number 0', at);
      pos = skipField(pos, end, tag & 7, tag >>> 3, 1);
    }
  }
  if (scopes === 0) return;
  const name = resService ?? '';
  const instance = resInstanceId || instanceOf(resHost, resPid);
  pos = start;
  while (pos < end) {
    let tag = buf[pos]!;
    if (tag < 0x80) pos++;
    else {
      tag = tagSlow(pos, end);
      pos = after;
    }
    if (tag === 0x12) {
      let n = buf[pos]!;
      if (n < 0x80) pos++;
      else {
        n = lengthSlow(pos, end);
        pos = after;
      }
      readScopeSpans(pos, pos + n, name, instance);
      pos += n;
    } else pos = skipField(pos, end, tag & 7, tag >>> 3, 1);
  }
}

const REJECT_ORDER: readonly SpanRejectReason[] = ['bad_trace_id', 'bad_span_id', 'bad_parent_span_id', 'end_before_start'];

/**
 * Decodes one OTLP/protobuf ExportTraceServiceRequest (already decompressed) into span records.
 * Invalid spans are counted in `rejected`; bytes that are not such a message throw OtlpDecodeError
 * with the byte offset of the problem.
 *
 * @example
 * const { spans, rejected } = decodeOtlpTraces(body);
 */
export function decodeOtlpTraces(bytes: Uint8Array): DecodedBatch {
  buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  spans = [];
  rejectedTraceId = rejectedSpanId = rejectedParentId = rejectedEndBeforeStart = 0;
  try {
    const end = buf.length;
    let pos = 0;
    while (pos < end) {
      const at = pos;
      let tag = buf[pos]!;
      if (tag < 0x80) pos++;
      else {
        tag = tagSlow(pos, end);
        pos = after;
      }
      if (tag === 0x0a) {
        if (pos >= end) truncated('length of resource_spans', pos, 1, end);
        let n = buf[pos]!;
        if (n < 0x80) pos++;
        else {
          n = lengthSlow(pos, end);
          pos = after;
        }
        if (n > end - pos) truncated('resource_spans', pos, n, end);
        readResourceSpans(pos, pos + n);
        pos += n;
      } else {
        if (tag >>> 3 === 0) fail('invalid field number 0', at);
        pos = skipField(pos, end, tag & 7, tag >>> 3, 0);
      }
    }
    const counts = [rejectedTraceId, rejectedSpanId, rejectedParentId, rejectedEndBeforeStart];
    const rejected: DecodedBatch['rejected'] = [];
    for (let i = 0; i < 4; i++) if (counts[i]! > 0) rejected.push({ reason: REJECT_ORDER[i]!, count: counts[i]! });
    return { spans, rejected };
  } finally {
    buf = EMPTY;
    spans = [];
  }
}
