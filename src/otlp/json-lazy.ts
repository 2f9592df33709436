/**
 * The lazy OTLP/JSON reader: one JSON line's bytes straight into a SpanSink, as the wire decoder's
 * `decodeTo` does for protobuf, reading only what detection uses and skipping every other value.
 *
 * It walks the UTF-8 bytes once, without decoding the line or building its objects: keys are
 * matched as bytes at their position (length, then bytes), ids are read from hex straight into
 * words, and strings are made only for the values that are folded (statements and short strings
 * through memos keyed by their raw bytes, so an N+1 loop's repeated statement costs a compare).
 * Skipped values are still validated as JSON (string escapes and control characters, numbers,
 * literals, nesting), so a line JSON.parse refuses is never read.
 *
 * It understands the shape OTLP/JSON writers produce (the spec's lowerCamelCase names, hex ids,
 * decimal-string or integer times, enum numbers or names) and nothing else: snake_case names,
 * base64 ids, nulls where a value is read, a resource after its spans, duplicate keys, escaped keys,
 * doubles written as strings and the like make it give the line up (`decodeTo` returns undefined,
 * having handed nothing over), and the caller decodes that line with JSON.parse and json.ts, whose
 * errors and quirks then apply unchanged (otlp/file.ts `decodeJsonLineTo`).
 */
import { AttributeFolder, type AttributeSource } from './fold.js';
import { locationOf } from './location.js';
import { IdMemo, SHORT_MAX, STMT_MAX, STMT_SETS, SetMemo, ShortMemo, statementHash } from './memo.js';
import { DbSpanFields, type SpanKind, type SpanRecord, type SpanSink } from './span.js';
import { buildRecord, instanceOf, nanosToMs } from './to-span.js';
import type { SinkBatch } from './wire/decoder.js';
import { K_HOST_NAME, K_PROCESS_PID, K_SERVICE_INSTANCE_ID, K_SERVICE_NAME, keyCode } from './wire/keys.js';
import { REJECT_ORDER } from './wire/span.js';
import { latin1Slice, utf8Slice } from './slice.js';
import { StatementSplitter } from './statement-split.js';
import { SPAN_KINDS, STATUS_CODES } from './json.js';

/**
 * Reads OTLP/JSON lines one at a time. It owns its memo tables, so a reader kept for a file hands
 * out the same strings for repeated ids, systems and statements across its lines.
 */
export interface LazyJsonReader {
  /**
   * Reads one line (an ExportTraceServiceRequest as UTF-8 JSON) and hands its valid spans to the
   * sink, as WireDecoder.decodeTo does; undefined, with nothing handed over, when the line is not
   * in the shape this reader understands (or is not valid JSON).
   */
  decodeTo(line: Uint8Array, sink: SpanSink): SinkBatch | undefined;
  /**
   * `decodeTo` in two steps, so that an export can be admitted between them (serve's OTLP/HTTP JSON):
   * reads the line and keeps its spans, returning their trace ids and their sizes' sum, or undefined,
   * keeping nothing, when it gives the line up. `handOver` or `drop` must follow before the reader
   * reads another line.
   */
  read(line: Uint8Array, sizeOf: SpanSizes): LazyJsonScan | undefined;
  /** Hands the spans `read` kept to the sink, as decodeTo would have, and forgets them. */
  handOver(sink: SpanSink): SinkBatch;
  /** Forgets what `read` kept without handing it over (an export refused). */
  drop(): void;
  /** During decodeTo and handOver: the index of the span being handed to the sink among the line's spans, valid or not. */
  readonly spanIndex: number;
}

/** How `read` sizes the spans it keeps, as the sink would take them (serve: the assembler's buffer estimate). */
export interface SpanSizes {
  dbSpan(statement: string, comment: string): number;
  span(record: SpanRecord): number;
}

/** What `read` found in a line: each run of consecutive spans of one trace once, in order, the valid spans, and their sizes' sum. */
export interface LazyJsonScan {
  traceIds: string[];
  spans: number;
  bytes: number;
}

export function createLazyJsonReader(): LazyJsonReader {
  return new LazyReader();
}

/** Thrown (never out of decodeTo) when the line is not understood: the caller falls back. */
const GIVE_UP = Symbol('give up');
function giveUp(): never {
  throw GIVE_UP;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const MINUS = 0x2d;
const ZERO = 0x30;
const NINE = 0x39;

/** 1 for the bytes that end a run of plain string content: a quote, a backslash, a control character. */
const STRING_STOP = new Uint8Array(256);
for (let c = 0; c < 0x20; c++) STRING_STOP[c] = 1;
STRING_STOP[QUOTE] = 1;
STRING_STOP[BACKSLASH] = 1;
/** Hex digit values, -1 for other bytes; A-F also carry bit 16, so an OR of them tells both "not hex" and "has uppercase". */
const HEX_VALUE = new Int8Array(256).fill(-1);
for (let c = 0; c < 10; c++) HEX_VALUE[0x30 + c] = c;
for (let c = 0; c < 6; c++) {
  HEX_VALUE[0x61 + c] = 10 + c;
  HEX_VALUE[0x41 + c] = 16 + 10 + c;
}
const HEX_UPPER = 16;
/** The escapes JSON allows after a backslash (besides \u). */
const SIMPLE_ESCAPE = new Uint8Array(256);
for (const c of '"\\/bfnrt') SIMPLE_ESCAPE[c.charCodeAt(0)] = 1;
/** Deeper nesting in a skipped value is left to JSON.parse. */
const MAX_DEPTH = 64;
/** json.ts's checkAnyValue stops validating nested array and kvlist values at this depth. */
const ANY_VALUE_DEPTH = 8;

const NO_BYTES = new DataView(new ArrayBuffer(0));
/** Sets of the statement text memo: distinct statement texts are few (an app's queries), their comments many. */
const TEXT_SETS = 256;
const TWO_32 = 0x1_0000_0000;
const TWO_16 = 0x1_0000;
/** JSON-number times from 2^64 on are refused by json.ts (exact as a double; see json.ts). */
const TWO_64 = 2 ** 64;
const MAX_U64_TEXT = Buffer.from('18446744073709551615');

/**
 * Bytes (at least 4) that #matches compares four at a time: their length and the little-endian
 * word at each offset (the last word overlaps the one before when the length is not a multiple of 4).
 */
interface Pattern {
  length: number;
  words: Int32Array;
}
function pattern(text: string): Pattern {
  const bytes = Buffer.from(text, 'latin1');
  const words = new Int32Array(bytes.length - 3);
  for (let i = 0; i < words.length; i++) words[i] = bytes.readInt32LE(i);
  return { length: bytes.length, words };
}
/** The keys #spanKey tells, closing quote included. */
const SK_TRACE_ID = pattern('traceId"');
const SK_SPAN_ID = pattern('spanId"');
const SK_PARENT_SPAN_ID = pattern('parentSpanId"');
const SK_NAME = pattern('name"');
const SK_KIND = pattern('kind"');
const SK_START = pattern('startTimeUnixNano"');
const SK_END = pattern('endTimeUnixNano"');
const SK_STATUS = pattern('status"');
const SK_ATTRIBUTES = pattern('attributes"');
const SK_FLAGS = pattern('flags"');

/** Keys as bytes. */
const key = (text: string): Uint8Array => Buffer.from(text, 'latin1');
const K_RESOURCE_SPANS = key('resourceSpans');
const K_RESOURCE_SPANS_SNAKE = key('resource_spans');
const K_RESOURCE = key('resource');
const K_SCOPE_SPANS = key('scopeSpans');
const K_SCOPE_SPANS_SNAKE = key('scope_spans');
const K_ATTRIBUTES = key('attributes');
const K_SPANS = key('spans');
const K_TRACE_ID = key('traceId');
const K_TRACE_ID_SNAKE = key('trace_id');
const K_SPAN_ID = key('spanId');
const K_SPAN_ID_SNAKE = key('span_id');
const K_PARENT_SPAN_ID = key('parentSpanId');
const K_PARENT_SPAN_ID_SNAKE = key('parent_span_id');
const K_NAME = key('name');
const K_KIND = key('kind');
const K_START = key('startTimeUnixNano');
const K_START_SNAKE = key('start_time_unix_nano');
const K_END = key('endTimeUnixNano');
const K_END_SNAKE = key('end_time_unix_nano');
const K_STATUS = key('status');
const K_CODE = key('code');
const K_KEY = key('key');
const K_VALUE = key('value');
const K_VALUES = key('values');
const K_STRING_VALUE = key('stringValue');
const K_INT_VALUE = key('intValue');
const K_DOUBLE_VALUE = key('doubleValue');
const K_BOOL_VALUE = key('boolValue');
const K_BYTES_VALUE = key('bytesValue');
const K_ARRAY_VALUE = key('arrayValue');
const K_KVLIST_VALUE = key('kvlistValue');
/** `"value":{` after an attribute's key. */
const VALUE_MEMBER = pattern('"value":{"');
/** `"value":{"stringValue":"` after an attribute's key: the usual value, a string. */
const STRING_VALUE_MEMBER = pattern('"value":{"stringValue":"');
/** AnyValue's snake_case member names, which json.ts also reads: the line is given up. */
const ANY_VALUE_SNAKE = ['string_value', 'int_value', 'double_value', 'bool_value', 'bytes_value', 'array_value', 'kvlist_value'].map(key);

/** What an AnyValue held (its member, when it had exactly one). */
const V_NONE = 0;
const V_STRING = 1;
const V_INT = 2;
const V_DOUBLE = 3;
const V_BOOL = 4;
/** bytes, array and kvlist values: read as "no string", as json.ts's readJsonValue does. */
const V_OTHER = 5;

/** What an object's members (#member) and an array's elements (#element) are. */
const O_REQUEST = 0;
const O_RESOURCE_SPANS = 1;
const O_RESOURCE = 2;
const O_SCOPE_SPANS = 3;
const O_STATUS = 5;
const O_KEY_VALUE = 6;
const O_ANY_VALUE = 7;
const O_LIST = 8;
/** A span's fields (#spanField); F_SKIP for a member that is only checked as JSON. */
const F_SKIP = 0;
const F_NAME = 1;
const F_KIND = 2;
const F_SPAN_ID = 3;
const F_STATUS = 4;
const F_TRACE_ID = 5;
const F_ATTRIBUTES = 6;
const F_PARENT_SPAN_ID = 7;
const F_END = 8;
const F_START = 9;
/** Each field's key length, in F_* order, from its pattern (which ends with the closing quote); flags' for F_SKIP, the only skipped key #spanKey tells. */
const SPAN_KEY_LENGTH = [SK_FLAGS, SK_NAME, SK_KIND, SK_SPAN_ID, SK_STATUS, SK_TRACE_ID, SK_ATTRIBUTES, SK_PARENT_SPAN_ID, SK_END, SK_START].map((key) => key.length - 1);
const A_RESOURCE_SPANS = 0;
const A_RESOURCE_ATTRIBUTES = 1;
const A_SCOPE_SPANS = 2;
const A_SPANS = 3;
const A_SPAN_ATTRIBUTES = 4;
const A_LIST_ANY = 5;
const A_LIST_KV = 6;

class LazyReader implements LazyJsonReader {
  #b: Buffer = Buffer.alloc(0);
  #n = 0;
  /** The line's bytes again, for reading them four at a time (#matches, #sameId). */
  #dv: DataView<ArrayBufferLike> = NO_BYTES;
  /** Set by #stringEnd: whether the string just scanned held an escape. */
  #escaped = false;

  // The current AnyValue (#anyValue): its member and where its text is.
  #vKind = V_NONE;
  #vStart = 0;
  #vEnd = 0;
  #vEscaped = false;
  /** The current attribute (#keyValue): its key's code (wire/keys.ts), -1 for keys not read, and whether it had a value. */
  #kvCode = -1;
  #kvHasValue = false;

  // The current resource: as to-span.ts's serviceName and resourceInstance read it.
  #service: string | undefined;
  #instanceId: string | undefined;
  #host: string | undefined;
  #pid: string | undefined;

  // The current span.
  readonly #folder = new AttributeFolder();
  /**
   * The current attribute's value for the folder (a statement's comment lands in #comment, then in
   * `comment`). A data property, not a getter: V8 makes an object literal with a getter in
   * dictionary mode, and the folder reads this one for every attribute it keeps.
   */
  readonly #source: AttributeSource = ((reader: LazyReader): AttributeSource => {
    const source = {
      comment: '',
      value(statementLike: boolean): string | undefined {
        reader.#comment = '';
        const value = reader.#value(statementLike);
        source.comment = reader.#comment;
        return value;
      },
    };
    return source;
  })(this);
  #comment = '';
  #nanosHi = 0;
  #nanosLo = 0;
  /** Hex id words of the last #readId, and whether its text had A-F. */
  #w0 = 0;
  #w1 = 0;
  #w2 = 0;
  #w3 = 0;
  #upper = false;

  // What the line hands over, kept until the whole line has been read: a plain DB span's fields, or a record.
  #count = 0;
  readonly #records: (SpanRecord | undefined)[] = [];
  readonly #traceIds: string[] = [];
  readonly #spanWords: number[] = [];
  readonly #parents: string[] = [];
  readonly #times: number[] = [];
  /** handOver's plain DB span, refilled for each. */
  readonly #dbSpan = new DbSpanFields();
  readonly #systems: string[] = [];
  readonly #statements: string[] = [];
  readonly #comments: string[] = [];
  readonly #services: string[] = [];
  readonly #locations: (ReturnType<typeof locationOf>)[] = [];
  readonly #rejected = [0, 0, 0, 0];

  // Memos (otlp/memo.ts, as the wire decoder's), keyed by the raw bytes, escapes and all.
  readonly #ids = new IdMemo();
  readonly #short = new ShortMemo();
  readonly #stmts = new SetMemo(STMT_SETS, STMT_MAX);
  /** Per statement memo slot: its text before the comment, and the comment. */
  readonly #stmtBody: string[] = new Array<string>(STMT_SETS * 2).fill('');
  readonly #stmtComment: string[] = new Array<string>(STMT_SETS * 2).fill('');
  readonly #splitter = new StatementSplitter();
  /** Statements' texts before their comment, by their bytes (#splitBytes). */
  readonly #texts = new SetMemo(TEXT_SETS, STMT_MAX);
  readonly #textOf: string[] = new Array<string>(TEXT_SETS * 2).fill('');

  /** Each kept span's index among the line's spans, valid or not (spanIndex while it is handed over). */
  readonly #positions: number[] = [];
  #spanIndex = 0;

  get spanIndex(): number {
    return this.#spanIndex;
  }

  decodeTo(line: Uint8Array, sink: SpanSink): SinkBatch | undefined {
    return this.#read(line) ? this.handOver(sink) : undefined;
  }

  /** Reads a line and keeps its spans for handOver; false, with nothing kept, when it gives the line up. */
  #read(line: Uint8Array): boolean {
    this.#keepLastIds();
    this.#b = Buffer.isBuffer(line) ? line : Buffer.from(line.buffer, line.byteOffset, line.byteLength);
    this.#n = line.length;
    this.#dv = new DataView(line.buffer, line.byteOffset, line.byteLength);
    this.#count = 0;
    this.#spansRead = 0;
    this.#rejected.fill(0);
    try {
      let p = this.#request(this.#ws(0));
      // Bounded here, not in #ws: a line most often ends right after its object, and a read past the
      // end there deoptimised the whole of #read in mid-run.
      if (p < this.#n) p = this.#ws(p);
      if (p !== this.#n) giveUp();
    } catch (error) {
      if (error === GIVE_UP) {
        this.#release();
        return false;
      }
      throw error;
    }
    return true;
  }

  read(line: Uint8Array, sizeOf: SpanSizes): LazyJsonScan | undefined {
    if (!this.#read(line)) return undefined;
    const traceIds: string[] = [];
    let bytes = 0;
    let last: string | undefined;
    for (let i = 0; i < this.#count; i++) {
      const record = this.#records[i];
      const traceId = record === undefined ? this.#traceIds[i]! : record.traceId;
      bytes += record === undefined ? sizeOf.dbSpan(this.#statements[i]!, this.#comments[i]!) : sizeOf.span(record);
      if (traceId === last) continue;
      last = traceId;
      traceIds.push(traceId);
    }
    return { traceIds, spans: this.#count, bytes };
  }

  drop(): void {
    this.#release();
  }

  handOver(sink: SpanSink): SinkBatch {
    const count = this.#count;
    const positions = this.#positions;
    for (let i = 0; i < count; i++) {
      this.#spanIndex = positions[i]!;
      const record = this.#records[i];
      if (record !== undefined) sink.span(record);
      else {
        const span = this.#dbSpan;
        span.traceId = this.#traceIds[i]!;
        span.spanIdHi = this.#spanWords[2 * i]!;
        span.spanIdLo = this.#spanWords[2 * i + 1]!;
        span.parentSpanId = this.#parents[i]!;
        span.startMs = this.#times[2 * i]!;
        span.endMs = this.#times[2 * i + 1]!;
        span.system = this.#systems[i]!;
        span.statement = this.#statements[i]!;
        span.comment = this.#comments[i]!;
        span.service = this.#services[i]!;
        span.location = this.#locations[i];
        sink.dbSpan(span);
      }
    }
    const rejected: SinkBatch['rejected'] = [];
    for (let i = 0; i < 4; i++) if (this.#rejected[i]! > 0) rejected.push({ reason: REJECT_ORDER[i]!, count: this.#rejected[i]! });
    this.#release();
    return { accepted: count, rejected };
  }

  /** Drops the line and what it handed over, so the reader keeps nothing of it alive. */
  #release(): void {
    this.#keepLastIds();
    this.#b = Buffer.alloc(0);
    this.#n = 0;
    this.#dv = NO_BYTES;
    const count = this.#count;
    this.#count = 0;
    this.#records.fill(undefined, 0, count);
    this.#locations.fill(undefined, 0, count);
  }

  // ---------------------------------------------------------------------------------------------
  // JSON structure.

  #ws(p: number): number {
    const b = this.#b;
    let c = b[p]!;
    // One compare for the usual case, a structural byte or a quote (past the end, c is undefined).
    while (c <= 0x20 && (c === 0x20 || c === 0x09 || c === 0x0d || c === 0x0a)) c = b[++p]!;
    return p;
  }

  /** The index of the quote that closes the string whose content starts at p; sets #escaped. */
  #stringEnd(p: number): number {
    const b = this.#b;
    const n = this.#n;
    const stop = STRING_STOP;
    const dv = this.#dv;
    let escaped = false;
    for (;;) {
      // Four bytes at a time while none is a quote, a backslash or a control character (each test
      // sets bit 7 of a byte, and only when some byte is one), then byte by byte to the one that is.
      while (p + 4 <= n) {
        const x = dv.getInt32(p, true);
        const q = x ^ 0x22222222;
        const s = x ^ 0x5c5c5c5c;
        if ((((x - 0x20202020) & ~x) | ((q - 0x01010101) & ~q) | ((s - 0x01010101) & ~s)) & 0x80808080) break;
        p += 4;
      }
      while (stop[b[p]!] === 0) p++;
      if (p >= n) giveUp();
      const c = b[p]!;
      if (c === QUOTE) {
        this.#escaped = escaped;
        return p;
      }
      if (c !== BACKSLASH) giveUp(); // a raw control character
      escaped = true;
      const e = b[p + 1]!;
      if (e === 0x75) {
        if ((HEX_VALUE[b[p + 2]!]! | HEX_VALUE[b[p + 3]!]! | HEX_VALUE[b[p + 4]!]! | HEX_VALUE[b[p + 5]!]!) < 0 || p + 6 > n) giveUp();
        p += 6;
      } else if (SIMPLE_ESCAPE[e] === 1 && p + 2 <= n) p += 2;
      else giveUp();
    }
  }

  /** After a number's first byte at p (a digit or '-'): the index past it, checked against JSON's grammar. */
  #numberEnd(p: number): number {
    const b = this.#b;
    if (b[p] === MINUS) p++;
    let c = b[p]!;
    if (c === ZERO) p++;
    else if (c > ZERO && c <= NINE) {
      p++;
      while ((c = b[p]!) >= ZERO && c <= NINE) p++;
    } else giveUp();
    if (b[p] === 0x2e) {
      p++;
      if (!((c = b[p]!) >= ZERO && c <= NINE)) giveUp();
      while ((c = b[p]!) >= ZERO && c <= NINE) p++;
    }
    if (b[p] === 0x65 || b[p] === 0x45) {
      p++;
      if (b[p] === 0x2b || b[p] === MINUS) p++;
      if (!((c = b[p]!) >= ZERO && c <= NINE)) giveUp();
      while ((c = b[p]!) >= ZERO && c <= NINE) p++;
    }
    return p;
  }

  /** Any JSON value at p, skipped: the index past it. */
  #skip(p: number, depth: number): number {
    const b = this.#b;
    const c = b[p];
    if (c === QUOTE) return this.#stringEnd(p + 1) + 1;
    if (c === OPEN_BRACE) {
      if (depth >= MAX_DEPTH) giveUp();
      p = this.#ws(p + 1);
      if (b[p] === CLOSE_BRACE) return p + 1;
      for (;;) {
        if (b[p] !== QUOTE) giveUp();
        p = this.#ws(this.#stringEnd(p + 1) + 1);
        if (b[p] !== COLON) giveUp();
        p = this.#ws(this.#skip(this.#ws(p + 1), depth + 1));
        if (b[p] === COMMA) p = this.#ws(p + 1);
        else if (b[p] === CLOSE_BRACE) return p + 1;
        else giveUp();
      }
    }
    if (c === OPEN_BRACKET) {
      if (depth >= MAX_DEPTH) giveUp();
      p = this.#ws(p + 1);
      if (b[p] === CLOSE_BRACKET) return p + 1;
      for (;;) {
        p = this.#ws(this.#skip(p, depth + 1));
        if (b[p] === COMMA) p = this.#ws(p + 1);
        else if (b[p] === CLOSE_BRACKET) return p + 1;
        else giveUp();
      }
    }
    if (c === 0x74) return this.#literal(p, 0x72, 0x75, 0x65); // true
    if (c === 0x6e) return this.#literal(p, 0x75, 0x6c, 0x6c); // null
    if (c === 0x66) {
      if (b[p + 4] !== 0x65) giveUp();
      return this.#literal(p, 0x61, 0x6c, 0x73) + 1; // false
    }
    if (c === MINUS || (c !== undefined && c >= ZERO && c <= NINE)) return this.#numberEnd(p);
    return giveUp();
  }

  #literal(p: number, x: number, y: number, z: number): number {
    const b = this.#b;
    if (b[p + 1] !== x || b[p + 2] !== y || b[p + 3] !== z) giveUp();
    return p + 4;
  }

  /** Whether the key whose content is b[start, end) is `name`. */
  #is(start: number, end: number, name: Uint8Array): boolean {
    if (end - start !== name.length) return false;
    const b = this.#b;
    for (let i = 0; i < name.length; i++) if (b[start + i] !== name[i]) return false;
    return true;
  }

  /**
   * The object at p, each member read as `what` (O_*) by `#member(what, keyStart, keyEnd, valueAt)`,
   * which returns the index past the value; the index past the object. Escaped keys are given up (they could spell a
   * key that is read).
   */
  #object(p: number, what: number): number {
    const b = this.#b;
    if (b[p] !== OPEN_BRACE) giveUp();
    p = this.#ws(p + 1);
    if (b[p] === CLOSE_BRACE) return p + 1;
    for (;;) {
      if (b[p] !== QUOTE) giveUp();
      const keyStart = p + 1;
      const keyEnd = this.#stringEnd(keyStart);
      if (this.#escaped) giveUp();
      p = this.#ws(keyEnd + 1);
      if (b[p] !== COLON) giveUp();
      p = this.#ws(this.#member(what, keyStart, keyEnd, this.#ws(p + 1)));
      if (b[p] === COMMA) p = this.#ws(p + 1);
      else if (b[p] === CLOSE_BRACE) return p + 1;
      else giveUp();
    }
  }

  /** An object member of `what` (O_*): direct calls, so each stays monomorphic. */
  #member(what: number, ks: number, ke: number, at: number): number {
    switch (what) {
      case O_KEY_VALUE:
        return this.#keyValueMember(ks, ke, at);
      case O_ANY_VALUE:
        return this.#anyValueMember(ks, ke, at);
      case O_STATUS:
        return this.#statusMember(ks, ke, at);
      case O_SCOPE_SPANS:
        return this.#scopeSpansMember(ks, ke, at);
      case O_RESOURCE:
        return this.#resourceMember(ks, ke, at);
      case O_RESOURCE_SPANS:
        return this.#resourceSpansMember(ks, ke, at);
      case O_REQUEST:
        return this.#requestMember(ks, ke, at);
      default:
        return this.#listMember(ks, ke, at);
    }
  }

  /** An array element of `what` (A_*). */
  #element(what: number, p: number): number {
    switch (what) {
      case A_SPAN_ATTRIBUTES:
        return this.#spanAttribute(p);
      case A_SPANS:
        return this.#span(p);
      case A_SCOPE_SPANS:
        return this.#scopeSpans(p);
      case A_RESOURCE_ATTRIBUTES:
        return this.#resourceAttribute(p);
      case A_RESOURCE_SPANS:
        return this.#resourceSpans(p);
      case A_LIST_KV:
        return this.#keyValue(p, this.#listDepth + 1);
      default:
        return this.#anyValue(p, this.#listDepth + 1);
    }
  }

  /** The array at p, each element read as `what` (A_*). */
  #array(p: number, what: number): number {
    const b = this.#b;
    if (b[p] !== OPEN_BRACKET) giveUp();
    p = this.#ws(p + 1);
    if (b[p] === CLOSE_BRACKET) return p + 1;
    for (;;) {
      p = this.#ws(this.#element(what, p));
      if (b[p] === COMMA) p = this.#ws(p + 1);
      else if (b[p] === CLOSE_BRACKET) return p + 1;
      else giveUp();
    }
  }

  // ---------------------------------------------------------------------------------------------
  // OTLP structure.

  #requestMember(ks: number, ke: number, at: number): number {
    if (this.#is(ks, ke, K_RESOURCE_SPANS)) {
      if (this.#seenResourceSpans) giveUp();
      this.#seenResourceSpans = true;
      return this.#array(at, A_RESOURCE_SPANS);
    }
    if (this.#is(ks, ke, K_RESOURCE_SPANS_SNAKE)) giveUp();
    return this.#skip(at, 1);
  }
  #seenResourceSpans = false;

  /** The request object at p: the index past it. A request without resourceSpans is left to json.ts and file.ts. */
  #request(p: number): number {
    this.#seenResourceSpans = false;
    p = this.#object(p, O_REQUEST);
    if (!this.#seenResourceSpans) giveUp();
    return p;
  }

  #rsSeen = 0;
  #resourceSpansMember(ks: number, ke: number, at: number): number {
    const n = ke - ks;
    if (n === 8 && this.#is(ks, ke, K_RESOURCE)) {
      // A resource after the spans (or twice) is left to json.ts.
      if (this.#rsSeen !== 0) giveUp();
      this.#rsSeen = 1;
      if (this.#b[at] === 0x6e) giveUp();
      this.#resourceAttributesSeen = false;
      return this.#object(at, O_RESOURCE);
    }
    if (n === 10 && this.#is(ks, ke, K_SCOPE_SPANS)) {
      if (this.#rsSeen === 2) giveUp();
      this.#rsSeen = 2;
      return this.#array(at, A_SCOPE_SPANS);
    }
    if (n === 11 && this.#is(ks, ke, K_SCOPE_SPANS_SNAKE)) giveUp();
    // Another list (instrumentationLibrarySpans, spans under a name OTLP does not have) is json.ts's to read or refuse.
    if (this.#b[at] === OPEN_BRACKET) giveUp();
    return this.#skip(at, 2);
  }

  #resourceSpans(p: number): number {
    this.#service = this.#instanceId = this.#host = this.#pid = undefined;
    this.#rsSeen = 0;
    return this.#object(p, O_RESOURCE_SPANS);
  }

  #resourceAttributesSeen = false;
  #resourceMember(ks: number, ke: number, at: number): number {
    if (this.#is(ks, ke, K_ATTRIBUTES)) {
      // Written twice (null or not): JSON.parse keeps the last, while #resourceAttribute keeps the first service.name.
      if (this.#resourceAttributesSeen) giveUp();
      this.#resourceAttributesSeen = true;
      if (this.#b[at] === 0x6e) return this.#skip(at, 3);
      return this.#array(at, A_RESOURCE_ATTRIBUTES);
    }
    return this.#skip(at, 3);
  }

  #resourceAttribute(p: number): number {
    p = this.#keyValue(p, 0);
    if (!this.#kvHasValue) return p;
    switch (this.#kvCode) {
      case K_SERVICE_NAME:
        this.#service ??= this.#value(false) ?? '';
        break;
      case K_SERVICE_INSTANCE_ID:
        if (!this.#instanceId) this.#instanceId = this.#value(false);
        break;
      case K_HOST_NAME:
        this.#host = this.#value(false);
        break;
      case K_PROCESS_PID:
        this.#pid = this.#value(false);
        break;
      default:
        break;
    }
    return p;
  }

  #spansSeen = false;
  #scopeSpansMember(ks: number, ke: number, at: number): number {
    if (this.#is(ks, ke, K_SPANS)) {
      if (this.#spansSeen) giveUp();
      this.#spansSeen = true;
      if (this.#b[at] === 0x6e) giveUp();
      return this.#array(at, A_SPANS);
    }
    // A list under another name may be spans under a name OTLP does not have: json.ts refuses those.
    if (this.#b[at] === OPEN_BRACKET) giveUp();
    return this.#skip(at, 3);
  }

  #scopeSpans(p: number): number {
    this.#spansSeen = false;
    return this.#object(p, O_SCOPE_SPANS);
  }

  /**
   * The last valid trace and parent ids read, as text and as the bytes they were read from: where
   * they are in the current line (-1 when read from an earlier line), copied out only when the
   * reader leaves the line (#keepLastIds), not for each new id.
   */
  #lastTraceId = '';
  #lastTraceAt = -1;
  /** The last trace id's bytes as little-endian words, when read from an earlier line. */
  readonly #lastTrace = new Int32Array(8);
  #lastParentId = '';
  #lastParentAt = -1;
  readonly #lastParent = new Int32Array(4);

  /** Copies the last ids' bytes out of the line being left. */
  #keepLastIds(): void {
    if (this.#lastTraceAt >= 0) this.#keepWords(this.#lastTraceAt, this.#lastTrace);
    if (this.#lastParentAt >= 0) this.#keepWords(this.#lastParentAt, this.#lastParent);
    this.#lastTraceAt = this.#lastParentAt = -1;
  }

  /** Whether the `length` bytes at p are those of the last id, at `lastAt` in this line or else in `last`. */
  #sameId(p: number, lastAt: number, last: Int32Array, length: number): boolean {
    const dv = this.#dv;
    if (p + length > this.#n) return false;
    if (lastAt < 0) {
      for (let i = 0; i < length; i += 4) if (dv.getInt32(p + i, true) !== last[i >> 2]) return false;
      return true;
    }
    for (let i = 0; i < length; i += 4) if (dv.getInt32(p + i, true) !== dv.getInt32(lastAt + i, true)) return false;
    return true;
  }

  /** Copies the line's bytes at p into `words`, as little-endian words. */
  #keepWords(p: number, words: Int32Array): void {
    const dv = this.#dv;
    for (let i = 0; i < words.length; i++) words[i] = dv.getInt32(p + 4 * i, true);
  }

  /** Whether the bytes at p are `pattern`'s. */
  #matches(p: number, pattern: Pattern): boolean {
    const n = pattern.length;
    if (p + n > this.#n) return false;
    const dv = this.#dv;
    const words = pattern.words;
    for (let i = 0; i + 4 < n; i += 4) if (dv.getInt32(p + i, true) !== words[i]) return false;
    return dv.getInt32(p + n - 4, true) === words[n - 4];
  }

  // The current span's fields as read (see #span).
  #seen = 0;
  #traceState = 0; // 0 absent or '', 1 valid, 2 all zero
  /** Spans of the line begun so far, valid or not. */
  #spansRead = 0;
  #traceId = '';
  #spanState = 0;
  #spanHi = 0;
  #spanLo = 0;
  #spanIdStart = 0;
  #parent = '';
  #nameStart = 0;
  #nameEnd = 0;
  #nameEscaped = false;
  #kind = 0;
  #startHi = 0;
  #startLo = 0;
  #endHi = 0;
  #endLo = 0;
  #status = 0;

  /**
   * The span's member whose key is b[ks, ke): its field (F_*) read at `at`; keys not read are
   * skipped, snake_case ones given up.
   */
  #spanMember(ks: number, ke: number, at: number): number {
    let field = F_SKIP;
    switch (ke - ks) {
      case 4:
        if (this.#is(ks, ke, K_NAME)) field = F_NAME;
        else if (this.#is(ks, ke, K_KIND)) field = F_KIND;
        break;
      case 6:
        if (this.#is(ks, ke, K_SPAN_ID)) field = F_SPAN_ID;
        else if (this.#is(ks, ke, K_STATUS)) field = F_STATUS;
        break;
      case 7:
        if (this.#is(ks, ke, K_TRACE_ID)) field = F_TRACE_ID;
        else if (this.#is(ks, ke, K_SPAN_ID_SNAKE)) giveUp();
        break;
      case 8:
        if (this.#is(ks, ke, K_TRACE_ID_SNAKE)) giveUp();
        break;
      case 10:
        if (this.#is(ks, ke, K_ATTRIBUTES)) field = F_ATTRIBUTES;
        break;
      case 12:
        if (this.#is(ks, ke, K_PARENT_SPAN_ID)) field = F_PARENT_SPAN_ID;
        break;
      case 14:
        if (this.#is(ks, ke, K_PARENT_SPAN_ID_SNAKE)) giveUp();
        break;
      case 15:
        if (this.#is(ks, ke, K_END)) field = F_END;
        break;
      case 17:
        if (this.#is(ks, ke, K_START)) field = F_START;
        break;
      case 18:
        if (this.#is(ks, ke, K_END_SNAKE)) giveUp();
        break;
      case 20:
        if (this.#is(ks, ke, K_START_SNAKE)) giveUp();
        break;
      default:
        break;
    }
    return this.#spanField(field, at);
  }

  /**
   * The span member at k (just past its key's opening quote) when its key is one writers use, told
   * by its first byte and then matched whole, closing quote included: its field (F_*), else -1 (the
   * key is then read as any other).
   */
  #spanKey(k: number): number {
    switch (this.#b[k]) {
      case 0x74: // t
        return this.#matches(k, SK_TRACE_ID) ? F_TRACE_ID : -1;
      case 0x73: // s
        return this.#matches(k, SK_SPAN_ID) ? F_SPAN_ID : this.#matches(k, SK_START) ? F_START : this.#matches(k, SK_STATUS) ? F_STATUS : -1;
      case 0x70: // p
        return this.#matches(k, SK_PARENT_SPAN_ID) ? F_PARENT_SPAN_ID : -1;
      case 0x6e: // n
        return this.#matches(k, SK_NAME) ? F_NAME : -1;
      case 0x6b: // k
        return this.#matches(k, SK_KIND) ? F_KIND : -1;
      case 0x65: // e
        return this.#matches(k, SK_END) ? F_END : -1;
      case 0x61: // a
        return this.#matches(k, SK_ATTRIBUTES) ? F_ATTRIBUTES : -1;
      case 0x66: // f
        return this.#matches(k, SK_FLAGS) ? F_SKIP : -1;
      default:
        return -1;
    }
  }

  /** The span object at p, as #object(p, O_SPAN) reads it, with the usual keys told by #spanKey. The index past it. */
  #spanObject(p: number): number {
    const b = this.#b;
    if (b[p] !== OPEN_BRACE) giveUp();
    p = this.#ws(p + 1);
    if (b[p] === CLOSE_BRACE) return p + 1;
    for (;;) {
      if (b[p] !== QUOTE) giveUp();
      const field = this.#spanKey(p + 1);
      if (field >= 0) {
        p = this.#ws(p + 2 + SPAN_KEY_LENGTH[field]!);
        if (b[p] !== COLON) giveUp();
        p = this.#ws(this.#spanField(field, this.#ws(p + 1)));
      } else {
        const keyStart = p + 1;
        const keyEnd = this.#stringEnd(keyStart);
        if (this.#escaped) giveUp();
        p = this.#ws(keyEnd + 1);
        if (b[p] !== COLON) giveUp();
        p = this.#ws(this.#spanMember(keyStart, keyEnd, this.#ws(p + 1)));
      }
      if (b[p] === COMMA) p = this.#ws(p + 1);
      else if (b[p] === CLOSE_BRACE) return p + 1;
      else giveUp();
    }
  }

  /** The span's field `field` (F_*) read from its value at `at`: the index past it. */
  #spanField(field: number, at: number): number {
    const b = this.#b;
    let bit = 0;
    let p: number;
    switch (field) {
      case F_NAME:
        bit = 1;
        if (b[at] !== QUOTE) giveUp();
        this.#nameStart = at + 1;
        this.#nameEnd = this.#stringEnd(at + 1);
        this.#nameEscaped = this.#escaped;
        p = this.#nameEnd + 1;
        break;
      case F_KIND:
        bit = 2;
        p = this.#enumValue(at, SPAN_KINDS);
        this.#kind = this.#enum;
        break;
      case F_SPAN_ID:
        bit = 4;
        p = this.#readId(at, 16);
        this.#spanState = p < 0 ? 0 : (this.#w0 | this.#w1) === 0 ? 2 : 1;
        if (p < 0) p = -p;
        else {
          this.#spanHi = this.#w0;
          this.#spanLo = this.#w1;
          this.#spanIdStart = at + 1;
        }
        break;
      case F_STATUS:
        bit = 8;
        if (b[at] === 0x6e) giveUp();
        this.#status = 0;
        p = this.#object(at, O_STATUS);
        break;
      case F_TRACE_ID:
        bit = 16;
        // A span of the same trace as the span before: the same text, already read.
        if (this.#lastTraceId !== '' && b[at] === QUOTE && b[at + 33] === QUOTE && this.#sameId(at + 1, this.#lastTraceAt, this.#lastTrace, 32)) {
          this.#traceState = 1;
          this.#traceId = this.#lastTraceId;
          p = at + 34;
        } else {
          p = this.#readId(at, 32);
          if (p < 0) {
            this.#traceState = 0;
            p = -p;
          } else if ((this.#w0 | this.#w1 | this.#w2 | this.#w3) === 0) this.#traceState = 2;
          else {
            this.#traceState = 1;
            this.#traceId = this.#lastTraceId = this.#traceHex(at + 1);
            this.#lastTraceAt = at + 1;
          }
        }
        break;
      case F_ATTRIBUTES:
        bit = 32;
        if (b[at] === 0x6e) giveUp();
        p = this.#array(at, A_SPAN_ATTRIBUTES);
        break;
      case F_PARENT_SPAN_ID:
        bit = 64;
        if (this.#lastParentId !== '' && b[at] === QUOTE && b[at + 17] === QUOTE && this.#sameId(at + 1, this.#lastParentAt, this.#lastParent, 16)) {
          this.#parent = this.#lastParentId;
          p = at + 18;
        } else {
          p = this.#readId(at, 16);
          if (p < 0 || (this.#w0 | this.#w1) === 0) {
            this.#parent = '';
            if (p < 0) p = -p;
          } else {
            this.#parent = this.#lastParentId = this.#parentHex(at + 1);
            this.#lastParentAt = at + 1;
          }
        }
        break;
      case F_END:
        bit = 128;
        p = this.#nanos(at);
        this.#endHi = this.#nanosHi;
        this.#endLo = this.#nanosLo;
        break;
      case F_START:
        bit = 256;
        p = this.#nanos(at);
        this.#startHi = this.#nanosHi;
        this.#startLo = this.#nanosLo;
        break;
      default:
        return this.#skip(at, 4);
    }
    // A field written twice: JSON.parse keeps the last, which this reader does not track.
    if ((this.#seen & bit) !== 0) giveUp();
    this.#seen |= bit;
    return p;
  }

  #statusMember(ks: number, ke: number, at: number): number {
    if (this.#is(ks, ke, K_CODE)) {
      const p = this.#enumValue(at, STATUS_CODES);
      this.#status = this.#enum;
      return p;
    }
    return this.#skip(at, 5);
  }

  #enum = 0;
  /** An enum at p, as its number (digits only) or its name: into #enum; the index past it. */
  #enumValue(p: number, names: ReadonlyMap<string, number>): number {
    const b = this.#b;
    const c = b[p]!;
    if (c === QUOTE) {
      const end = this.#stringEnd(p + 1);
      if (this.#escaped) giveUp();
      const value = names.get(latin1Slice.call(b, p + 1, end));
      if (value === undefined) giveUp();
      this.#enum = value;
      return end + 1;
    }
    if (c < ZERO || c > NINE) giveUp();
    const end = this.#numberEnd(p);
    if (end - p > 9) giveUp();
    let value = 0;
    for (let i = p; i < end; i++) {
      const d = b[i]! - ZERO;
      if (d < 0 || d > 9) giveUp(); // a fraction or exponent
      value = value * 10 + d;
    }
    this.#enum = value;
    return end;
  }

  /**
   * A hex id of `digits` digits at p (a string) into #w0..#w3 (big-endian words); the index past it,
   * or minus that index for an empty string. Anything else (base64, another length) is given up.
   */
  #readId(p: number, digits: number): number {
    const b = this.#b;
    if (b[p] !== QUOTE) giveUp();
    if (b[p + 1] === QUOTE) return -(p + 2);
    if (b[p + 1 + digits] !== QUOTE) giveUp();
    this.#hexFlags = 0;
    this.#w0 = this.#hexWord(p + 1);
    this.#w1 = this.#hexWord(p + 9);
    if (digits === 32) {
      this.#w2 = this.#hexWord(p + 17);
      this.#w3 = this.#hexWord(p + 25);
    }
    const flags = this.#hexFlags;
    if (flags < 0) giveUp();
    this.#upper = (flags & HEX_UPPER) !== 0;
    return p + digits + 2;
  }

  #hexFlags = 0;
  /** The word 8 hex digits at q spell; their HEX_VALUEs ORed into #hexFlags. */
  #hexWord(q: number): number {
    const b = this.#b;
    const h = HEX_VALUE;
    const d0 = h[b[q]!]!;
    const d1 = h[b[q + 1]!]!;
    const d2 = h[b[q + 2]!]!;
    const d3 = h[b[q + 3]!]!;
    const d4 = h[b[q + 4]!]!;
    const d5 = h[b[q + 5]!]!;
    const d6 = h[b[q + 6]!]!;
    const d7 = h[b[q + 7]!]!;
    this.#hexFlags |= d0 | d1 | d2 | d3 | d4 | d5 | d6 | d7;
    return ((d0 & 15) << 28) | ((d1 & 15) << 24) | ((d2 & 15) << 20) | ((d3 & 15) << 16) | ((d4 & 15) << 12) | ((d5 & 15) << 8) | ((d6 & 15) << 4) | (d7 & 15);
  }

  /** The trace id whose words #readId left, its text at p: lowercase hex, from the memo when seen. */
  #traceHex(p: number): string {
    return this.#ids.trace(this.#w0, this.#w1, this.#w2, this.#w3) ?? this.#ids.keepTrace(this.#hexText(p, 32));
  }

  /** The parent span id whose words #readId left, its text at p: lowercase hex, from the memo when seen. */
  #parentHex(p: number): string {
    return this.#ids.span(this.#w0, this.#w1) ?? this.#ids.keepSpan(this.#hexText(p, 16));
  }

  /** The `digits` hex digits at p that #readId read, lowercase. */
  #hexText(p: number, digits: number): string {
    const hex = latin1Slice.call(this.#b, p, p + digits);
    return this.#upper ? hex.toLowerCase() : hex;
  }

  /** Unix nanoseconds at p (a decimal string, or a non-negative JSON integer below 2^64) into #nanosHi/#nanosLo; the index past it. */
  #nanos(p: number): number {
    const b = this.#b;
    const c = b[p]!;
    if (c === QUOTE) {
      const start = p + 1;
      if (b[start + 19] === QUOTE) {
        // The usual 19 digits, read in one pass (each byte checked to be a digit: bad turns negative).
        let high = 0;
        let low = 0;
        let bad = 0;
        for (let i = start; i < start + 10; i++) {
          const d = b[i]! - ZERO;
          bad |= d | (9 - d);
          high = high * 10 + d;
        }
        for (let i = start + 10; i < start + 19; i++) {
          const d = b[i]! - ZERO;
          bad |= d | (9 - d);
          low = low * 10 + d;
        }
        if (bad >= 0) {
          this.#setNanos(high, low);
          return start + 20;
        }
      }
      let end = start;
      let d: number;
      while ((d = b[end]!) >= ZERO && d <= NINE) end++;
      if (b[end] !== QUOTE) giveUp(); // not digits only: json.ts says why
      const n = end - start;
      if (n === 0 || n > 20 || (n === 20 && b.compare(MAX_U64_TEXT, 0, 20, start, end) > 0)) giveUp();
      this.#splitDecimal(start, end);
      return end + 1;
    }
    if (c < ZERO || c > NINE) giveUp();
    const end = this.#numberEnd(p);
    // What JSON.parse makes of the number, as json.ts reads it (which refuses 2^64 and more).
    const value = Number(latin1Slice.call(b, p, end));
    if (!Number.isInteger(value) || value >= TWO_64) giveUp();
    this.#nanosHi = Math.floor(value / TWO_32);
    this.#nanosLo = value % TWO_32;
    return end;
  }

  /** json.ts's #splitDecimal on the digits b[start, end) (1-20 of them, below 2^64). */
  #splitDecimal(start: number, end: number): void {
    const b = this.#b;
    const split = Math.max(start, end - 9);
    let high = 0;
    let low = 0;
    for (let i = start; i < split; i++) high = high * 10 + (b[i]! - ZERO);
    for (let i = split; i < end; i++) low = low * 10 + (b[i]! - ZERO);
    this.#setNanos(high, low);
  }

  /** #nanosHi/#nanosLo from a decimal's digits before its last nine (high) and its last nine (low). */
  #setNanos(high: number, low: number): void {
    const hh = Math.floor(high / TWO_16);
    const hl = high - hh * TWO_16;
    const a = hl * 1e9 + low;
    const x = hh * 1e9;
    const xHigh = Math.floor(x / TWO_16);
    const lowWord = (x - xHigh * TWO_16) * TWO_16 + a;
    const carry = Math.floor(lowWord / TWO_32);
    this.#nanosHi = xHigh + carry;
    this.#nanosLo = lowWord - carry * TWO_32;
  }

  // ---------------------------------------------------------------------------------------------
  // Attributes.

  #kvSeen = 0;
  #kvKeyStart = -1;
  #kvKeyEnd = -1;
  #kvDepth = 0;
  #keyValueMember(ks: number, ke: number, at: number): number {
    if (ke - ks === 3 && this.#is(ks, ke, K_KEY)) {
      if ((this.#kvSeen & 1) !== 0 || this.#b[at] !== QUOTE) giveUp();
      this.#kvSeen |= 1;
      const end = this.#stringEnd(at + 1);
      if (this.#escaped && this.#kvDepth === 0) giveUp();
      this.#kvKeyStart = at + 1;
      this.#kvKeyEnd = end;
      return end + 1;
    }
    if (ke - ks === 5 && this.#is(ks, ke, K_VALUE)) {
      if ((this.#kvSeen & 2) !== 0 || this.#b[at] === 0x6e) giveUp();
      this.#kvSeen |= 2;
      return this.#anyValue(at, this.#kvDepth);
    }
    return this.#skip(at, this.#kvDepth + 8);
  }

  /**
   * One KeyValue at p: its key's code into #kvCode, its value (checked as json.ts's checkAnyValue
   * does, `depth` being its nesting in arrayValue / kvlistValue) into the value registers; the index past it.
   */
  #keyValue(p: number, depth: number): number {
    const b = this.#b;
    // Fast path: {"key":"…","value":{"<member>":…}}, as writers lay an attribute out. Anything
    // else (spaces, another order, more members) takes the general path from p.
    if (b[p] === OPEN_BRACE && b[p + 1] === QUOTE && b[p + 2] === 0x6b && b[p + 3] === 0x65 && b[p + 4] === 0x79 && b[p + 5] === QUOTE && b[p + 6] === COLON && b[p + 7] === QUOTE) {
      const ks = p + 8;
      const ke = this.#stringEnd(ks);
      const at = ke + 11;
      // An escaped key is only read inside arrayValue / kvlistValue, where no key is folded.
      if ((!this.#escaped || depth > 0) && b[ke + 1] === COMMA && this.#matches(ke + 2, STRING_VALUE_MEMBER)) {
        // The value's member read as #anyValueMember reads a stringValue, without matching its name again.
        const vs = ke + 26;
        const ve = this.#stringEnd(vs);
        if (b[ve + 1] === CLOSE_BRACE && b[ve + 2] === CLOSE_BRACE) {
          this.#vKind = V_STRING;
          this.#vStart = vs;
          this.#vEnd = ve;
          this.#vEscaped = this.#escaped;
          this.#kvHasValue = true;
          this.#kvCode = keyCode(b, ks, ke);
          return ve + 3;
        }
      } else if ((!this.#escaped || depth > 0) && b[ke + 1] === COMMA && this.#matches(ke + 2, VALUE_MEMBER) && b[at] === QUOTE) {
        const me = this.#stringEnd(at + 1);
        if (!this.#escaped && b[me + 1] === COLON) {
          this.#anySeen = 0;
          this.#anyDepth = depth;
          this.#vKind = V_NONE;
          const q = this.#anyValueMember(at + 1, me, me + 2);
          if (b[q] === CLOSE_BRACE && b[q + 1] === CLOSE_BRACE) {
            this.#kvHasValue = true;
            this.#kvCode = keyCode(b, ks, ke);
            return q + 2;
          }
        }
      }
    }
    this.#kvSeen = 0;
    this.#kvDepth = depth;
    this.#vKind = V_NONE;
    p = this.#object(p, O_KEY_VALUE);
    if ((this.#kvSeen & 1) === 0) giveUp(); // no key: json.ts refuses it
    this.#kvHasValue = (this.#kvSeen & 2) !== 0;
    this.#kvCode = keyCode(this.#b, this.#kvKeyStart, this.#kvKeyEnd);
    return p;
  }

  #anySeen = 0;
  #anyDepth = 0;
  #anyValueMember(ks: number, ke: number, at: number): number {
    const b = this.#b;
    const n = ke - ks;
    let kind = V_NONE;
    let p: number;
    const c = b[at]!;
    if (c === 0x6e) giveUp(); // null members are skipped by json.ts; rare enough to leave to it
    if (n === 11 && this.#is(ks, ke, K_STRING_VALUE)) {
      if (c !== QUOTE) giveUp();
      kind = V_STRING;
      this.#vStart = at + 1;
      this.#vEnd = this.#stringEnd(at + 1);
      this.#vEscaped = this.#escaped;
      p = this.#vEnd + 1;
    } else if (n === 8 && this.#is(ks, ke, K_INT_VALUE)) {
      kind = V_INT;
      if (c === QUOTE) {
        // A decimal string: -?[0-9]+ (json.ts's INT64_TEXT).
        let q = at + 1;
        if (b[q] === MINUS) q++;
        const digits = q;
        let d: number;
        while ((d = b[q]!) >= ZERO && d <= NINE) q++;
        if (q === digits || b[q] !== QUOTE) giveUp();
        this.#vStart = at + 1;
        this.#vEnd = q;
        this.#vEscaped = false;
        p = q + 1;
      } else {
        if (c !== MINUS && (c < ZERO || c > NINE)) giveUp();
        p = this.#numberEnd(at);
        for (let i = at; i < p; i++) if (b[i] === 0x2e || b[i] === 0x65 || b[i] === 0x45) giveUp(); // integral only
        this.#vStart = at;
        this.#vEnd = p;
        this.#vEscaped = true; // a JSON number: its text is String(Number(...))
      }
    } else if (n === 11 && this.#is(ks, ke, K_DOUBLE_VALUE)) {
      if (c !== MINUS && (c < ZERO || c > NINE)) giveUp(); // strings ("NaN", "1.5") are left to json.ts
      kind = V_DOUBLE;
      this.#vStart = at;
      p = this.#vEnd = this.#numberEnd(at);
    } else if (n === 9 && this.#is(ks, ke, K_BOOL_VALUE)) {
      kind = V_BOOL;
      if (c === 0x74) p = this.#literal(at, 0x72, 0x75, 0x65);
      else if (c === 0x66 && b[at + 4] === 0x65) p = this.#literal(at, 0x61, 0x6c, 0x73) + 1;
      else return giveUp();
      this.#vStart = at;
    } else if (n === 10 && this.#is(ks, ke, K_BYTES_VALUE)) {
      if (c !== QUOTE) giveUp();
      kind = V_OTHER;
      p = this.#base64(at + 1) + 1;
    } else if ((n === 10 && this.#is(ks, ke, K_ARRAY_VALUE)) || (n === 11 && this.#is(ks, ke, K_KVLIST_VALUE))) {
      kind = V_OTHER;
      p = this.#listValue(at, n === 11, this.#anyDepth);
    } else {
      for (const snake of ANY_VALUE_SNAKE) if (this.#is(ks, ke, snake)) giveUp();
      return this.#skip(at, this.#anyDepth + 8);
    }
    // Two members (or one twice): json.ts's reading order decides; leave it to json.ts.
    if (this.#anySeen !== 0) giveUp();
    this.#anySeen = 1;
    this.#vKind = kind;
    return p;
  }

  /** An AnyValue object at p, checked; its member into the value registers. The index past it. */
  #anyValue(p: number, depth: number): number {
    this.#anySeen = 0;
    this.#anyDepth = depth;
    this.#vKind = V_NONE;
    if (this.#b[p] !== OPEN_BRACE) giveUp();
    return this.#object(p, O_ANY_VALUE);
  }

  /** The content of a bytesValue string at p, checked as base64 (json.ts's BASE64, or empty): the index of its closing quote. */
  #base64(p: number): number {
    const b = this.#b;
    const start = p;
    let c: number;
    while (((c = b[p]!) >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= ZERO && c <= NINE) || c === 0x2b || c === 0x2f || c === 0x5f || c === MINUS) p++;
    if (p > start) {
      if (b[p] === 0x3d) p++;
      if (b[p] === 0x3d) p++;
    }
    if (b[p] !== QUOTE) giveUp();
    return p;
  }

  #listDepth = 0;
  #listKv = false;
  #listSeen = false;
  #listMember(ks: number, ke: number, at: number): number {
    if (this.#is(ks, ke, K_VALUES)) {
      if (this.#listSeen || this.#b[at] === 0x6e) giveUp();
      this.#listSeen = true;
      const depth = this.#listDepth;
      // Deeper values are not checked by json.ts either: only their JSON matters.
      if (depth >= ANY_VALUE_DEPTH) return this.#skip(at, depth);
      return this.#array(at, this.#listKv ? A_LIST_KV : A_LIST_ANY);
    }
    return this.#skip(at, this.#listDepth + 8);
  }

  /** An arrayValue or kvlistValue object at p, its values checked (json.ts's checkAnyValue): the index past it. */
  #listValue(p: number, kv: boolean, depth: number): number {
    if (depth > 40) giveUp();
    const outer = [this.#listDepth, this.#listKv, this.#listSeen, this.#anySeen, this.#anyDepth, this.#kvSeen, this.#kvDepth, this.#kvKeyStart, this.#kvKeyEnd] as const;
    this.#listDepth = depth;
    this.#listKv = kv;
    this.#listSeen = false;
    const end = this.#object(p, O_LIST);
    [this.#listDepth, this.#listKv, this.#listSeen, this.#anySeen, this.#anyDepth, this.#kvSeen, this.#kvDepth, this.#kvKeyStart, this.#kvKeyEnd] = outer;
    return end;
  }

  /** The current AnyValue as json.ts's readJsonValue gives it: scalars as strings, undefined otherwise. */
  #value(statementLike: boolean): string | undefined {
    switch (this.#vKind) {
      case V_STRING:
        if (statementLike) return this.#statement(this.#vStart, this.#vEnd, this.#vEscaped);
        return this.#text(this.#vStart, this.#vEnd, this.#vEscaped);
      case V_INT:
        // A decimal string is its own text; a JSON number is what String() makes of it.
        return this.#vEscaped ? String(Number(latin1Slice.call(this.#b, this.#vStart, this.#vEnd))) : latin1Slice.call(this.#b, this.#vStart, this.#vEnd);
      case V_DOUBLE:
        return String(Number(latin1Slice.call(this.#b, this.#vStart, this.#vEnd)));
      case V_BOOL:
        return this.#b[this.#vStart] === 0x74 ? 'true' : 'false';
      default:
        return undefined;
    }
  }

  /** A string's content b[start, end) as a string (escapes decoded when it has any). */
  #decode(start: number, end: number, escaped: boolean): string {
    return escaped ? (JSON.parse(utf8Slice.call(this.#b, start - 1, end + 1)) as string) : utf8Slice.call(this.#b, start, end);
  }

  /** A short string through the short-string memo, keyed by its raw bytes. */
  #text(start: number, end: number, escaped: boolean): string {
    const n = end - start;
    if (n === 0) return '';
    if (n > SHORT_MAX) return this.#decode(start, end, escaped);
    return this.#short.find(this.#b, start, end) ?? this.#short.keep(this.#decode(start, end, escaped));
  }

  /**
   * A statement: its text before a trailing block comment (shared across requests), with the
   * comment in #comment ('' when none), through the statement memo keyed by the raw bytes (escapes
   * and all: equal raw bytes decode to equal text), so a repeated statement is neither decoded nor
   * split again. Up to SHORT_MAX bytes it is the short-string memo's string, split each time (short
   * statements carry no sqlcommenter comment, and the splitter tells that from the last character).
   */
  #statement(start: number, end: number, escaped: boolean): string {
    const n = end - start;
    const b = this.#b;
    if (n <= SHORT_MAX) return this.#split(this.#text(start, end, escaped));
    if (n > STMT_MAX) return this.#split(this.#decode(start, end, escaped));
    const found = this.#stmts.find(b, this.#dv, start, end, statementHash(b, start, end));
    if (found >= 0) {
      this.#comment = this.#stmtComment[found]!;
      return this.#stmtBody[found]!;
    }
    const body = this.#splitBytes(start, end, escaped) ?? this.#split(this.#decode(start, end, escaped));
    this.#stmtBody[~found] = body;
    this.#stmtComment[~found] = this.#comment;
    this.#stmts.keep();
    return body;
  }

  /**
   * A statement missed by the statement memo split as #split splits its text, on its bytes: its
   * text before the trailing comment through a memo of those bytes (requests share it, and an N+1
   * loop's statements differ from other requests' only in the comment), the comment (#comment)
   * made from its own bytes. Undefined when the bytes do not tell the split for certain (an escape
   * in or just before the comment, no comment, a comment under 4 bytes): #split decides then.
   */
  #splitBytes(start: number, end: number, escaped: boolean): string | undefined {
    const b = this.#b;
    if (b[end - 1] !== 0x2f || b[end - 2] !== 0x2a) return undefined;
    // The last '/*' starting at most 3 bytes before the end, with no escape from there on, decodes
    // to the text's last '/*' (the splitter's lastIndexOf(n - 3)) at the same place in the comment.
    let open = end - 3;
    while (open > start && !(b[open] === 0x2f && b[open + 1] === 0x2a)) {
      if (b[open] === BACKSLASH) return undefined;
      open--;
    }
    if (open <= start || b[open - 1] === BACKSLASH || end - open < 4) return undefined;
    let text: string;
    if (open - start <= SHORT_MAX) text = this.#short.find(b, start, open) ?? this.#short.keep(this.#decodeUnquoted(start, open, escaped));
    else {
      const found = this.#texts.find(b, this.#dv, start, open, statementHash(b, start, open));
      if (found >= 0) text = this.#textOf[found]!;
      else {
        text = this.#decodeUnquoted(start, open, escaped);
        this.#textOf[~found] = text;
        this.#texts.keep();
      }
    }
    this.#comment = utf8Slice.call(b, open, end);
    return text;
  }

  /** #decode for string content b[start, end) that is not followed by its closing quote. */
  #decodeUnquoted(start: number, end: number, escaped: boolean): string {
    return escaped ? (JSON.parse(`"${utf8Slice.call(this.#b, start, end)}"`) as string) : utf8Slice.call(this.#b, start, end);
  }

  #split(statement: string): string {
    const splitter = this.#splitter;
    splitter.split(statement);
    this.#comment = splitter.comment;
    return splitter.text;
  }

  #spanAttribute(p: number): number {
    p = this.#keyValue(p, 0);
    const code = this.#kvCode;
    if (code < 0 || !this.#kvHasValue) return p;
    this.#folder.fold(code, this.#source);
    return p;
  }


  /** One span at p: validated as to-span.ts's rejectReason does, then kept for the sink. The index past it. */
  #span(p: number): number {
    const folder = this.#folder;
    const f = folder.fields;
    folder.reset();
    this.#seen = 0;
    this.#traceState = this.#spanState = 0;
    this.#parent = '';
    this.#nameStart = this.#nameEnd = 0;
    this.#nameEscaped = false;
    this.#kind = this.#status = 0;
    this.#startHi = this.#startLo = this.#endHi = this.#endLo = 0;
    if (this.#b[p] !== OPEN_BRACE) giveUp();
    const position = this.#spansRead++;
    p = this.#spanObject(p);

    if (this.#traceState !== 1) {
      this.#rejected[0]!++;
      return p;
    }
    if (this.#spanState !== 1) {
      this.#rejected[1]!++;
      return p;
    }
    const startHi = this.#startHi;
    const startLo = this.#startLo;
    const endHi = this.#endHi;
    const endLo = this.#endLo;
    if (endHi < startHi || (endHi === startHi && endLo < startLo)) {
      this.#rejected[3]!++;
      return p;
    }
    const i = this.#count++;
    this.#positions[i] = position;
    const kind = this.#kind;
    const statement = f.dbStatement;
    const parent = this.#parent;
    const service = this.#service ?? '';
    if (f.dbSystem !== undefined && statement !== undefined && statement !== '' && parent !== '' && kind !== 2 && kind !== 5) {
      this.#records[i] = undefined;
      this.#traceIds[i] = this.#traceId;
      this.#spanWords[2 * i] = this.#spanHi >>> 0;
      this.#spanWords[2 * i + 1] = this.#spanLo >>> 0;
      this.#parents[i] = parent;
      this.#times[2 * i] = nanosToMs(startHi, startLo);
      this.#times[2 * i + 1] = nanosToMs(endHi, endLo);
      this.#systems[i] = f.dbSystem;
      this.#statements[i] = statement;
      this.#comments[i] = folder.dbComment;
      this.#services[i] = service;
      this.#locations[i] = f.location === undefined ? undefined : locationOf(f.location);
      return p;
    }
    if (folder.dbComment !== '') f.dbStatement = statement! + folder.dbComment;
    const spanId = this.#spanIdText();
    const name = this.#nameEnd > this.#nameStart ? this.#text(this.#nameStart, this.#nameEnd, this.#nameEscaped) : '';
    this.#records[i] = buildRecord(
      this.#traceId, spanId, parent, name, (kind >= 0 && kind <= 5 ? kind : 0) as SpanKind,
      nanosToMs(startHi, startLo), nanosToMs(endHi, endLo), service, this.#status === 2, f, this.#instanceId || instanceOf(this.#host, this.#pid),
    );
    return p;
  }

  /** The current span's id as lowercase hex. */
  #spanIdText(): string {
    const start = this.#spanIdStart;
    const text = latin1Slice.call(this.#b, start, start + 16);
    let upper = false;
    for (let i = start; i < start + 16; i++) {
      const c = this.#b[i]!;
      if (c >= 0x41 && c <= 0x46) upper = true;
    }
    return upper ? text.toLowerCase() : text;
  }
}
