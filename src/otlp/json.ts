/** Decodes an OTLP/JSON ExportTraceServiceRequest into span records, tolerating common writer quirks. */

import { OtlpDecodeError } from './errors.js';
import { BatchBuilder, serviceName, splitNanos } from './to-span.js';
import type { KeyValueLike } from './to-span.js';
import type { DecodedBatch } from './span.js';

type JsonObject = Record<string, unknown>;

const SPAN_KINDS: Readonly<Record<string, number>> = {
  SPAN_KIND_UNSPECIFIED: 0,
  SPAN_KIND_INTERNAL: 1,
  SPAN_KIND_SERVER: 2,
  SPAN_KIND_CLIENT: 3,
  SPAN_KIND_PRODUCER: 4,
  SPAN_KIND_CONSUMER: 5,
};
const STATUS_CODES: Readonly<Record<string, number>> = {
  STATUS_CODE_UNSET: 0,
  STATUS_CODE_OK: 1,
  STATUS_CODE_ERROR: 2,
};

const HEX = /^[0-9a-fA-F]*$/;
const BASE64 = /^[A-Za-z0-9+/_-]+={0,2}$/;
const DIGITS = /^[0-9]+$/;
const MAX_U64 = (1n << 64n) - 1n;

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A field by its lowerCamelCase JSON name or its snake_case proto name; null counts as absent. */
function get(obj: JsonObject, camel: string, snake?: string): unknown {
  const value = obj[camel];
  if (value !== undefined && value !== null) return value;
  return snake === undefined ? undefined : (obj[snake] ?? undefined);
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

function object(value: unknown, path: string): JsonObject {
  if (!isObject(value)) fail(path, 'is not an object');
  return value;
}

/** Scalar attribute values as strings, for the folded fields. */
function readJsonValue(value: JsonObject): string | undefined {
  if (!isObject(value)) return undefined;
  const str = get(value, 'stringValue', 'string_value');
  if (typeof str === 'string') return str;
  for (const [camel, snake] of [['intValue', 'int_value'], ['doubleValue', 'double_value'], ['boolValue', 'bool_value']] as const) {
    const scalar = get(value, camel, snake);
    if (typeof scalar === 'string' || typeof scalar === 'number' || typeof scalar === 'boolean') return String(scalar);
  }
  return undefined;
}

function attributes(obj: JsonObject, path: string): KeyValueLike<JsonObject>[] {
  const list = array(obj, path, 'attributes');
  for (let i = 0; i < list.length; i++) {
    const attr = list[i];
    if (!isObject(attr)) fail(`${path}attributes[${i}]`, 'is not an object');
    if (typeof attr.key !== 'string') fail(`${path}attributes[${i}].key`, 'is not a string');
  }
  return list as KeyValueLike<JsonObject>[];
}

/**
 * An id as lowercase hex of its bytes. OTLP/JSON writes hex; protobuf's own JSON mapping (Python's
 * json_format) writes base64. Exactly 2×bytes hex digits means hex, anything else is tried as
 * base64 (16 bytes is 24 base64 characters, so the two never collide). A wrong length is left for
 * validation to reject; an undecodable string becomes '?', which no length check accepts.
 */
function readId(value: unknown, bytes: number, path: string): string {
  if (value === undefined || value === '') return '';
  if (typeof value !== 'string') fail(path, 'is not a string');
  if (value.length === bytes * 2 && HEX.test(value)) return value.toLowerCase();
  if (BASE64.test(value)) return Buffer.from(value, 'base64').toString('hex');
  return '?';
}

/** Unix nanoseconds as [hi, lo]: a decimal string (the spec) or a JSON number (common). */
function readNanos(value: unknown, path: string): [number, number] {
  if (value === undefined) return [0, 0];
  if (typeof value === 'number') {
    if (!Number.isInteger(value) || value < 0) fail(path, 'is not an unsigned 64-bit integer');
    return [Math.floor(value / 0x1_0000_0000), value % 0x1_0000_0000];
  }
  if (typeof value === 'string' && DIGITS.test(value)) {
    const nanos = BigInt(value);
    if (nanos <= MAX_U64) return splitNanos(nanos);
  }
  return fail(path, 'is not an unsigned 64-bit integer');
}

/** An enum as its number or its name; an unknown name reads as 0 (unspecified / unset). */
function readEnum(value: unknown, names: Readonly<Record<string, number>>, path: string): number {
  if (value === undefined) return 0;
  if (typeof value === 'number' && Number.isInteger(value)) return value;
  if (typeof value === 'string') return names[value] ?? 0;
  return fail(path, 'is not an enum number or name');
}

function readString(value: unknown, path: string): string {
  if (value === undefined) return '';
  if (typeof value !== 'string') fail(path, 'is not a string');
  return value;
}

/**
 * Decodes one OTLP/JSON request: text, UTF-8 bytes, or an already-parsed object. Field names may be
 * lowerCamelCase (the spec) or snake_case; ids hex or base64; enums numbers or names; 64-bit
 * integers strings or numbers; unknown fields are ignored. Invalid spans are counted in
 * `rejected`; invalid JSON or a wrong shape throws OtlpDecodeError naming the path.
 *
 * @example
 * decodeJsonRequest('{"resourceSpans":[]}') // => { spans: [], rejected: [] }
 */
export function decodeJsonRequest(text: string | object): DecodedBatch {
  if (typeof text !== 'string' && !ArrayBuffer.isView(text)) return decodeJsonValue(text);
  const source = typeof text === 'string' ? text : Buffer.from(text.buffer, text.byteOffset, text.byteLength).toString('utf8');
  let request: unknown;
  try {
    request = JSON.parse(source);
  } catch (err) {
    throw new OtlpDecodeError(`invalid JSON (${(err as Error).message})`, { cause: err });
  }
  return decodeJsonValue(request);
}

/** Decodes a parsed JSON value, which must be an ExportTraceServiceRequest object. */
export function decodeJsonValue(request: unknown): DecodedBatch {
  if (!isObject(request)) fail('request', 'is not a JSON object');

  const batch = new BatchBuilder(readJsonValue);
  const resourceSpansList = array(request, '', 'resourceSpans', 'resource_spans');
  for (let i = 0; i < resourceSpansList.length; i++) {
    const rsPath = `resourceSpans[${i}]`;
    const resourceSpans = object(resourceSpansList[i], rsPath);
    const resource = get(resourceSpans, 'resource');
    const service =
      resource === undefined ? '' : serviceName(attributes(object(resource, `${rsPath}.resource`), `${rsPath}.resource.`), readJsonValue);
    const scopeSpansList = array(resourceSpans, `${rsPath}.`, 'scopeSpans', 'scope_spans');
    for (let j = 0; j < scopeSpansList.length; j++) {
      const ssPath = `${rsPath}.scopeSpans[${j}]`;
      const spans = array(object(scopeSpansList[j], ssPath), `${ssPath}.`, 'spans');
      for (let k = 0; k < spans.length; k++) {
        const path = `${ssPath}.spans[${k}]`;
        const span = object(spans[k], path);
        const [startHi, startLo] = readNanos(get(span, 'startTimeUnixNano', 'start_time_unix_nano'), `${path}.startTimeUnixNano`);
        const [endHi, endLo] = readNanos(get(span, 'endTimeUnixNano', 'end_time_unix_nano'), `${path}.endTimeUnixNano`);
        const status = get(span, 'status');
        batch.add(
          {
            traceId: readId(get(span, 'traceId', 'trace_id'), 16, `${path}.traceId`),
            spanId: readId(get(span, 'spanId', 'span_id'), 8, `${path}.spanId`),
            parentSpanId: readId(get(span, 'parentSpanId', 'parent_span_id'), 8, `${path}.parentSpanId`),
            name: readString(get(span, 'name'), `${path}.name`),
            kind: readEnum(get(span, 'kind'), SPAN_KINDS, `${path}.kind`),
            startHi,
            startLo,
            endHi,
            endLo,
            attributes: attributes(span, `${path}.`),
            statusCode:
              status === undefined ? 0 : readEnum(get(object(status, `${path}.status`), 'code'), STATUS_CODES, `${path}.status.code`),
          },
          service,
        );
      }
    }
  }
  return batch.result();
}
