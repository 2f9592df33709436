/** Decodes an OTLP/JSON ExportTraceServiceRequest into span records, tolerating common writer quirks. */

import { OtlpDecodeError } from './errors.js';
import { BatchBuilder, resourceInstance, serviceName, splitNanos } from './to-span.js';
import type { KeyValueLike } from './to-span.js';
import type { DecodedBatch } from './span.js';
import { isObject, type JsonObject } from './json-value.js';

/**
 * SpanKind by its proto3 JSON enum name. A Map, not an object: a name read from the input must not
 * find what an object inherits ("constructor", "toString", "__proto__").
 */
export const SPAN_KINDS: ReadonlyMap<string, number> = new Map([
  ['SPAN_KIND_UNSPECIFIED', 0],
  ['SPAN_KIND_INTERNAL', 1],
  ['SPAN_KIND_SERVER', 2],
  ['SPAN_KIND_CLIENT', 3],
  ['SPAN_KIND_PRODUCER', 4],
  ['SPAN_KIND_CONSUMER', 5],
]);
/** Status.code by its proto3 JSON enum name (a Map, as SPAN_KINDS). */
export const STATUS_CODES: ReadonlyMap<string, number> = new Map([
  ['STATUS_CODE_UNSET', 0],
  ['STATUS_CODE_OK', 1],
  ['STATUS_CODE_ERROR', 2],
]);

const BASE64 = /^[A-Za-z0-9+/_-]+={0,2}$/;
const DIGITS = /^[0-9]+$/;
const MAX_U64 = (1n << 64n) - 1n;

/** Which name a field is read by: its lowerCamelCase JSON name, else its snake_case proto name; null counts as absent. */
export function fieldKey(obj: JsonObject, camel: string, snake?: string): string | undefined {
  const value = obj[camel];
  if (value !== undefined && value !== null) return camel;
  return snake !== undefined && obj[snake] !== undefined && obj[snake] !== null ? snake : undefined;
}

/** A field by its lowerCamelCase JSON name or its snake_case proto name (fieldKey). */
function get(obj: JsonObject, camel: string, snake?: string): unknown {
  const key = fieldKey(obj, camel, snake);
  return key === undefined ? undefined : obj[key];
}

/**
 * An id as lowercase hex of its bytes. OTLP/JSON writes hex; protobuf's own JSON mapping (Python's
 * json_format) writes base64. Exactly 2×bytes hex digits means hex, anything else is tried as base64
 * (16 bytes is 24 base64 characters, so the two never collide). A wrong length is left for
 * validation to reject; an undecodable string becomes '?', which no length check accepts.
 */
export function idHex(value: string, bytes: number): string {
  if (value.length === bytes * 2) {
    const hex = lowerHex(value);
    if (hex !== undefined) return hex;
  }
  return BASE64.test(value) ? Buffer.from(value, 'base64').toString('hex') : '?';
}

function fail(path: string, problem: string): never {
  throw new OtlpDecodeError(`${path} ${problem}`);
}

function array(obj: JsonObject, path: string, camel: string, snake?: string): unknown[] {
  const value = get(obj, camel, snake);
  if (value === undefined) return [];
  if (!Array.isArray(value)) fail(`${path}${camel}`, 'is not an array');
  return value;
}

/**
 * The key a ResourceSpans' scope spans are read by: `scopeSpans` (`scope_spans`), else the pre-1.0
 * `instrumentationLibrarySpans` (`instrumentation_library_spans`) that Collectors before v0.50 and
 * Tempo 1.x wrote (the same shape but for `instrumentationLibrary` in place of `scope`, which is not
 * read), when the current name is absent or an empty list; undefined when there is neither.
 * splitJsonExport reads the same key.
 */
export function scopeSpansKey(resourceSpans: JsonObject): string | undefined {
  const current = fieldKey(resourceSpans, 'scopeSpans', 'scope_spans');
  const value = current === undefined ? undefined : resourceSpans[current];
  if (current !== undefined && !(Array.isArray(value) && value.length === 0)) return current;
  return fieldKey(resourceSpans, 'instrumentationLibrarySpans', 'instrumentation_library_spans') ?? current;
}

const OLD_SCOPE_SPANS = new Set(['instrumentationLibrarySpans', 'instrumentation_library_spans']);

/** An array with an element shaped like ScopeSpans (an object with a `spans` array). */
const isScopeSpansList = (value: unknown): boolean => Array.isArray(value) && value.some((e) => isObject(e) && Array.isArray(e.spans));
/** An array with an element shaped like a Span (an object with a trace and a span id). */
const isSpanList = (value: unknown): boolean =>
  Array.isArray(value) && value.some((e) => isObject(e) && (e.traceId ?? e.trace_id) !== undefined && (e.spanId ?? e.span_id) !== undefined);

/**
 * The key of a ResourceSpans (`within` 'resourceSpans') or ScopeSpans ('scopeSpans') that holds what
 * OTLP puts under `scopeSpans` or `spans` under a name it does not have; undefined when none does.
 * Unknown fields are ignored (OTLP/JSON), but spans read as nothing would be an empty report, which a
 * CI gate passes: the decoder refuses them by name (call it when the known name gave nothing).
 */
export function hiddenSpansKey(obj: JsonObject, within: 'resourceSpans' | 'scopeSpans'): string | undefined {
  const holdsSpans = within === 'resourceSpans' ? isScopeSpansList : isSpanList;
  return Object.keys(obj).find((key) => holdsSpans(obj[key]));
}

function refuseHiddenSpans(obj: JsonObject, path: string, within: 'resourceSpans' | 'scopeSpans'): void {
  const key = hiddenSpansKey(obj, within);
  const expected = within === 'resourceSpans' ? 'scopeSpans' : 'spans';
  if (key !== undefined) fail(`${path}.${key}`, `holds spans under a name OTLP does not have (expected "${expected}"): n1lens cannot read this shape`);
}

function object(value: unknown, path: string): JsonObject {
  if (!isObject(value)) fail(path, 'is not an object');
  return value;
}

/** Scalar attribute values as strings, for the folded fields. */
function readJsonValue(value: JsonObject): string | undefined {
  if (!isObject(value)) return undefined;
  const str = get(value, 'stringValue', 'string_value');
  if (typeof str === 'string') return str;
  for (const [camel, snake] of SCALARS) {
    const scalar = get(value, camel, snake);
    if (typeof scalar === 'string' || typeof scalar === 'number' || typeof scalar === 'boolean') return String(scalar);
  }
  return undefined;
}
const SCALARS = [['intValue', 'int_value'], ['doubleValue', 'double_value'], ['boolValue', 'bool_value']] as const;

/** The attribute list, each checked to be an object with a string key; `prefix` makes the path of an error. */
function attributes(obj: JsonObject, prefix: () => string): KeyValueLike<JsonObject>[] {
  const value = obj.attributes;
  if (value === undefined || value === null) return [];
  const path = prefix;
  if (!Array.isArray(value)) fail(`${path()}attributes`, 'is not an array');
  for (let i = 0; i < value.length; i++) {
    const attr: unknown = value[i];
    if (!isObject(attr)) fail(`${path()}attributes[${i}]`, 'is not an object');
    if (typeof attr.key !== 'string') fail(`${path()}attributes[${i}].key`, 'is not a string');
    const v = attr.value;
    if (v !== undefined && v !== null) checkAnyValue(v, () => `${path()}attributes[${i}].value`, 0);
  }
  return value as KeyValueLike<JsonObject>[];
}

const INT64_TEXT = /^-?[0-9]+$/;
const DOUBLE_WORDS = new Set(['NaN', 'Infinity', '-Infinity']);

/**
 * Checks an AnyValue against the proto3 JSON mapping OTLP/JSON uses: stringValue a string,
 * boolValue a boolean, intValue an integer (number or decimal string), doubleValue a number (or
 * its string form), bytesValue base64, arrayValue/kvlistValue objects holding `values`. A value of
 * the wrong type is a malformed request (400), never silently read as something else.
 */
function checkAnyValue(value: unknown, path: () => string, depth: number): void {
  if (!isObject(value)) fail(path(), 'is not an AnyValue object');
  for (const key in value) {
    const field = value[key];
    if (field === null || field === undefined) continue;
    switch (key) {
      case 'stringValue':
      case 'string_value':
        if (typeof field !== 'string') fail(`${path()}.${key}`, 'is not a string');
        break;
      case 'boolValue':
      case 'bool_value':
        if (typeof field !== 'boolean') fail(`${path()}.${key}`, 'is not a boolean');
        break;
      case 'intValue':
      case 'int_value':
        if (!(typeof field === 'number' ? Number.isInteger(field) : typeof field === 'string' && INT64_TEXT.test(field))) fail(`${path()}.${key}`, 'is not a 64-bit integer');
        break;
      case 'doubleValue':
      case 'double_value':
        if (!(typeof field === 'number' || (typeof field === 'string' && (DOUBLE_WORDS.has(field) || (field.trim() !== '' && !Number.isNaN(Number(field))))))) fail(`${path()}.${key}`, 'is not a number');
        break;
      case 'bytesValue':
      case 'bytes_value':
        if (typeof field !== 'string' || (field !== '' && !BASE64.test(field))) fail(`${path()}.${key}`, 'is not base64');
        break;
      case 'arrayValue':
      case 'array_value':
      case 'kvlistValue':
      case 'kvlist_value': {
        if (!isObject(field)) fail(`${path()}.${key}`, 'is not an object');
        const values = field.values;
        if (values === undefined || values === null) break;
        if (!Array.isArray(values)) fail(`${path()}.${key}.values`, 'is not an array');
        if (depth >= 8) break; // deeper nesting is not read; its shape does not matter to detection
        const kv = key.startsWith('kvlist');
        for (let i = 0; i < values.length; i++) {
          const item: unknown = values[i];
          const at = () => `${path()}.${key}.values[${i}]`;
          if (!kv) checkAnyValue(item, at, depth + 1);
          else {
            if (!isObject(item) || typeof item.key !== 'string') fail(at(), 'is not a key-value object');
            if (item.value !== undefined && item.value !== null) checkAnyValue(item.value, () => `${at()}.value`, depth + 1);
          }
        }
        break;
      }
      default:
        break; // unknown fields are ignored, as the spec asks
    }
  }
}

/** The text itself when it is lowercase hex, lowercased when it has A-F, undefined when not hex. */
function lowerHex(text: string): string | undefined {
  let upper = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c <= 57 ? c >= 48 : c >= 97 ? c <= 102 : c >= 65 && c <= 70 && (upper = true)) continue;
    return undefined;
  }
  return upper ? text.toLowerCase() : text;
}

const TWO_32 = 0x1_0000_0000;
const TWO_16 = 0x1_0000;
/** 2^64, exact as a double: a JSON-number time must be below it (the double nearest 2^64 - 1 is 2^64 itself). */
const TWO_64 = 2 ** 64;
/** The largest unsigned 64-bit integer, 20 digits: longer or larger decimal strings are refused. */
const MAX_U64_TEXT = '18446744073709551615';

/**
 * Hex ids seen last, input → lowercase output: the spans of a request share a trace id and a
 * parent, so most ids need no validation or case folding.
 */
const ID_MEMO = 4;
/** Memo 0 holds trace ids, memo 1 parent span ids; a span's own id is new every time. */
const MEMO_TRACE = 0;
const MEMO_PARENT = 1;
const NO_MEMO = -1;
/**
 * Statements seen last. An N+1 loop repeats one statement in many spans, and JSON.parse makes a
 * new string for each; handing on the first one means the normaliser's memo hashes it once.
 * Comparing against a handful of recent statements costs less than hashing a long one.
 */
const RECENT_STATEMENTS = 16;

/**
 * Decodes OTLP/JSON requests one at a time. It owns its memo tables, so a decoder kept for a
 * stream of requests (a file, a server) hands out the same strings for repeated ids and statements
 * across them.
 */
export interface JsonDecoder {
  /** decodeJsonRequest with this decoder's memo tables. */
  decodeRequest(text: string | object): DecodedBatch;
  /** decodeJsonValue with this decoder's memo tables. */
  decodeValue(request: unknown): DecodedBatch;
}

/**
 * @example
 * const decoder = createJsonDecoder();
 * for (const line of lines) analyzer.add(decoder.decodeRequest(line).spans, Date.now());
 */
export function createJsonDecoder(): JsonDecoder {
  return new OtlpJsonDecoder();
}

class OtlpJsonDecoder implements JsonDecoder {
  /**
   * The span being decoded, for error messages: its path is built only when there is a problem to
   * report (building it per span would cost more than decoding the span).
   */
  #spanScope = '';
  #spanIndex = 0;
  readonly #idMemoIn: string[] = new Array<string>(2 * ID_MEMO).fill('');
  readonly #idMemoOut: string[] = new Array<string>(2 * ID_MEMO).fill('');
  readonly #idMemoNext = [0, 0];
  /** The two words readNanos read (hi, lo): registers rather than a tuple per timestamp. */
  #nanosHi = 0;
  #nanosLo = 0;
  readonly #recentStatements: string[] = new Array<string>(RECENT_STATEMENTS).fill('');
  #recentNext = 0;
  readonly #spanPrefix = (): string => this.#spanPath('.');

  #spanPath(field: string): string {
    return `${this.#spanScope}.spans[${this.#spanIndex}]${field}`;
  }

  /** idHex, with the last hex ids of a kind (`memo`) remembered: a trace's spans repeat its id. */
  #readId(value: unknown, bytes: number, field: string, memo: number): string {
    if (value === undefined || value === '') return '';
    if (typeof value !== 'string') fail(this.#spanPath(field), 'is not a string');
    const base = memo * ID_MEMO;
    const memoIn = this.#idMemoIn;
    const hexLength = value.length === bytes * 2;
    if (memo >= 0 && hexLength) for (let i = base; i < base + ID_MEMO; i++) if (memoIn[i] === value) return this.#idMemoOut[i]!;
    const hex = idHex(value, bytes);
    // Only ids read as hex are kept (base64 of 2×bytes characters decodes to more bytes than that).
    if (memo >= 0 && hexLength && hex.length === value.length) {
      const next = this.#idMemoNext;
      const slot = base + next[memo]!;
      memoIn[slot] = value;
      this.#idMemoOut[slot] = hex;
      next[memo] = (next[memo]! + 1) % ID_MEMO;
    }
    return hex;
  }

  /** Unix nanoseconds into #nanosHi/#nanosLo: a decimal string (the spec) or a JSON number (common). */
  #readNanos(value: unknown, field: string): void {
    if (value === undefined) {
      this.#nanosHi = this.#nanosLo = 0;
      return;
    }
    if (typeof value === 'number') {
      if (!Number.isInteger(value) || value < 0 || value >= TWO_64) fail(this.#spanPath(field), 'is not an unsigned 64-bit integer');
      this.#nanosHi = Math.floor(value / TWO_32);
      this.#nanosLo = value % TWO_32;
      return;
    }
    if (typeof value === 'string') {
      const n = value.length;
      if (n > 0 && (n < 20 || (n === 20 && value <= MAX_U64_TEXT)) && this.#splitDecimal(value)) return;
      if (DIGITS.test(value)) {
        // Leading zeros, or really too large: let BigInt decide.
        const nanos = BigInt(value);
        if (nanos <= MAX_U64) {
          [this.#nanosHi, this.#nanosLo] = splitNanos(nanos);
          return;
        }
      }
    }
    fail(this.#spanPath(field), 'is not an unsigned 64-bit integer');
  }

  /**
   * Reads a decimal string of 1-20 digits below 2^64 into #nanosHi/#nanosLo, or returns false if a
   * character is not a digit. Exact with doubles: value = high·10^9 + low, and
   * high·10^9 = (hh·2^16 + hl)·10^9, where every product stays below 2^53.
   */
  #splitDecimal(text: string): boolean {
    const n = text.length;
    const split = Math.max(0, n - 9);
    let high = 0;
    let low = 0;
    for (let i = 0; i < n; i++) {
      const d = text.charCodeAt(i) - 48;
      if (d < 0 || d > 9) return false;
      if (i < split) high = high * 10 + d;
      else low = low * 10 + d;
    }
    const hh = Math.floor(high / TWO_16);
    const hl = high - hh * TWO_16;
    const a = hl * 1e9 + low; // < 2^16·10^9 + 10^9
    const b = hh * 1e9; // < 2^19·10^9
    const bHigh = Math.floor(b / TWO_16);
    const lowWord = (b - bHigh * TWO_16) * TWO_16 + a;
    const carry = Math.floor(lowWord / TWO_32);
    this.#nanosHi = bHigh + carry;
    this.#nanosLo = lowWord - carry * TWO_32;
    return true;
  }

  /** An enum as its number or its name; a name the enum does not have is an error, as proto3 JSON says. */
  #readEnum(value: unknown, names: ReadonlyMap<string, number>, field: string): number {
    if (value === undefined) return 0;
    if (typeof value === 'number' && Number.isInteger(value)) return value;
    if (typeof value === 'string') {
      const n = names.get(value);
      if (n !== undefined) return n;
      return fail(this.#spanPath(field), `is not one of ${[...names.keys()].join(', ')}`);
    }
    return fail(this.#spanPath(field), 'is not an enum number or name');
  }

  #readString(value: unknown, field: string): string {
    if (value === undefined) return '';
    if (typeof value !== 'string') fail(this.#spanPath(field), 'is not a string');
    return value;
  }

  #internStatement(statement: string): string {
    const recent = this.#recentStatements;
    for (let i = 0; i < RECENT_STATEMENTS; i++) {
      const seen = recent[i]!;
      if (seen.length === statement.length && seen === statement) return seen;
    }
    recent[this.#recentNext] = statement;
    this.#recentNext = (this.#recentNext + 1) % RECENT_STATEMENTS;
    return statement;
  }

  decodeRequest(text: string | object): DecodedBatch {
    if (typeof text !== 'string' && !ArrayBuffer.isView(text)) return this.decodeValue(text);
    const source = typeof text === 'string' ? text : Buffer.from(text.buffer, text.byteOffset, text.byteLength).toString('utf8');
    let request: unknown;
    try {
      request = JSON.parse(source);
    } catch (err) {
      throw new OtlpDecodeError(`invalid JSON (${(err as Error).message})`, { cause: err });
    }
    return this.decodeValue(request);
  }

  decodeValue(request: unknown): DecodedBatch {
    if (!isObject(request)) fail('request', 'is not a JSON object');

    const batch = new BatchBuilder(readJsonValue);
    const resourceSpansList = array(request, '', 'resourceSpans', 'resource_spans');
    for (let i = 0; i < resourceSpansList.length; i++) {
      const rsPath = `resourceSpans[${i}]`;
      const resourceSpans = object(resourceSpansList[i], rsPath);
      const resource = get(resourceSpans, 'resource');
      const resourceAttributes = resource === undefined ? undefined : attributes(object(resource, `${rsPath}.resource`), () => `${rsPath}.resource.`);
      const service = serviceName(resourceAttributes, readJsonValue);
      const instance = resourceInstance(resourceAttributes, readJsonValue);
      const scopeKey = scopeSpansKey(resourceSpans);
      const scopeName = scopeKey !== undefined && OLD_SCOPE_SPANS.has(scopeKey) ? 'instrumentationLibrarySpans' : 'scopeSpans';
      const scopeSpansList = scopeKey === undefined ? [] : array(resourceSpans, `${rsPath}.`, scopeName, scopeKey);
      if (scopeSpansList.length === 0) refuseHiddenSpans(resourceSpans, rsPath, 'resourceSpans');
      for (let j = 0; j < scopeSpansList.length; j++) {
        const ssPath = `${rsPath}.${scopeName}[${j}]`;
        const scopeSpans = object(scopeSpansList[j], ssPath);
        const spans = array(scopeSpans, `${ssPath}.`, 'spans');
        if (spans.length === 0) refuseHiddenSpans(scopeSpans, ssPath, 'scopeSpans');
        this.#spanScope = ssPath;
        for (let k = 0; k < spans.length; k++) {
          this.#spanIndex = k;
          const span = spans[k];
          if (!isObject(span)) fail(this.#spanPath(''), 'is not an object');
          this.#readNanos(get(span, 'startTimeUnixNano', 'start_time_unix_nano'), '.startTimeUnixNano');
          const startHi = this.#nanosHi;
          const startLo = this.#nanosLo;
          this.#readNanos(get(span, 'endTimeUnixNano', 'end_time_unix_nano'), '.endTimeUnixNano');
          const endHi = this.#nanosHi;
          const endLo = this.#nanosLo;
          const status = get(span, 'status');
          const record = batch.addFields(
            this.#readId(get(span, 'traceId', 'trace_id'), 16, '.traceId', MEMO_TRACE),
            this.#readId(get(span, 'spanId', 'span_id'), 8, '.spanId', NO_MEMO),
            this.#readId(get(span, 'parentSpanId', 'parent_span_id'), 8, '.parentSpanId', MEMO_PARENT),
            this.#readString(get(span, 'name'), '.name'),
            this.#readEnum(get(span, 'kind'), SPAN_KINDS, '.kind'),
            startHi,
            startLo,
            endHi,
            endLo,
            attributes(span, this.#spanPrefix),
            status === undefined ? 0 : this.#readEnum(get(object(status, this.#spanPath('.status')), 'code'), STATUS_CODES, '.status.code'),
            service,
            instance,
          );
          if (record?.dbStatement !== undefined) record.dbStatement = this.#internStatement(record.dbStatement);
        }
      }
    }
    return batch.result();
  }
}

/**
 * Decodes one OTLP/JSON request: text, UTF-8 bytes, or an already-parsed object. Field names may be
 * lowerCamelCase (the spec) or snake_case; ids hex or base64; enums numbers or names; 64-bit
 * integers strings or numbers; unknown fields are ignored. Invalid spans are counted in
 * `rejected`; invalid JSON or a wrong shape throws OtlpDecodeError naming the path. Pass the
 * decoder of a stream (a file, a server) so its memo tables serve every request of it.
 *
 * @example
 * decodeJsonRequest('{"resourceSpans":[]}') // => { spans: [], rejected: [] }
 */
export function decodeJsonRequest(text: string | object, decoder: JsonDecoder = createJsonDecoder()): DecodedBatch {
  return decoder.decodeRequest(text);
}

/** Decodes a parsed JSON value, which must be an ExportTraceServiceRequest object. */
export function decodeJsonValue(request: unknown, decoder: JsonDecoder = createJsonDecoder()): DecodedBatch {
  return decoder.decodeValue(request);
}
