/**
 * The JSON decoder against its first, straightforward version (kept below as the reference): the
 * faster one (lazy error paths, exact 64-bit splitting without BigInt, id and statement memos)
 * must decode every request to the same records and refuse the same ones with the same message.
 */

import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { OtlpDecodeError } from './errors.js';
import { decodeJsonRequest } from './json.js';
import { BatchBuilder, serviceName, splitNanos } from './to-span.js';
import type { KeyValueLike } from './to-span.js';
import type { DecodedBatch } from './span.js';
import { isObject, type JsonObject } from './json-value.js';

// ---------------------------------------------------------------------------------------------
// The reference: json.ts as first written.

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
    if (attr.value !== undefined && attr.value !== null) checkValue(attr.value, `${path}attributes[${i}].value`);
  }
  return list as KeyValueLike<JsonObject>[];
}

/** The proto3 JSON types of an AnyValue's scalar fields (the reference checks scalars and one array level). */
function checkValue(value: unknown, path: string): void {
  if (!isObject(value)) fail(path, 'is not an AnyValue object');
  const checks: [string[], (v: unknown) => boolean, string][] = [
    [['stringValue', 'string_value'], (v) => typeof v === 'string', 'is not a string'],
    [['boolValue', 'bool_value'], (v) => typeof v === 'boolean', 'is not a boolean'],
    [['intValue', 'int_value'], (v) => (typeof v === 'number' ? Number.isInteger(v) : typeof v === 'string' && /^-?\d+$/.test(v)), 'is not a 64-bit integer'],
    [['doubleValue', 'double_value'], (v) => typeof v === 'number' || (typeof v === 'string' && (['NaN', 'Infinity', '-Infinity'].includes(v) || (v.trim() !== '' && !Number.isNaN(Number(v))))), 'is not a number'],
  ];
  for (const key of Object.keys(value)) {
    const field = value[key];
    if (field === null || field === undefined) continue;
    for (const [names, ok, problem] of checks) if (names.includes(key) && !ok(field)) fail(`${path}.${key}`, problem);
    if (key === 'arrayValue' && !isObject(field)) fail(`${path}.${key}`, 'is not an object');
  }
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
    if (!Number.isInteger(value) || value < 0 || value >= 2 ** 64) fail(path, 'is not an unsigned 64-bit integer');
    return [Math.floor(value / 0x1_0000_0000), value % 0x1_0000_0000];
  }
  if (typeof value === 'string' && DIGITS.test(value)) {
    const nanos = BigInt(value);
    if (nanos <= MAX_U64) return splitNanos(nanos);
  }
  return fail(path, 'is not an unsigned 64-bit integer');
}

/** An enum as its number or its name; an unknown name (one only Object.prototype has included) is an error. */
function readEnum(value: unknown, names: Readonly<Record<string, number>>, path: string): number {
  if (value === undefined) return 0;
  if (typeof value === 'number' && Number.isInteger(value)) return value;
  if (typeof value === 'string') return Object.hasOwn(names, value) ? names[value]! : fail(path, `is not one of ${Object.keys(names).join(', ')}`);
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
function referenceDecodeJsonRequest(text: string | object): DecodedBatch {
  if (typeof text !== 'string' && !ArrayBuffer.isView(text)) return referenceDecodeJsonValue(text);
  const source = typeof text === 'string' ? text : Buffer.from(text.buffer, text.byteOffset, text.byteLength).toString('utf8');
  let request: unknown;
  try {
    request = JSON.parse(source);
  } catch (err) {
    throw new OtlpDecodeError(`invalid JSON (${(err as Error).message})`, { cause: err });
  }
  return referenceDecodeJsonValue(request);
}

/** Decodes a parsed JSON value, which must be an ExportTraceServiceRequest object. */
function referenceDecodeJsonValue(request: unknown): DecodedBatch {
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

// ---------------------------------------------------------------------------------------------

const hex = (n: number) => fc.uint8Array({ minLength: n, maxLength: n }).map((b) => Buffer.from(b).toString('hex'));
const id = (n: number) =>
  fc.oneof(
    { weight: 6, arbitrary: hex(n) },
    { weight: 1, arbitrary: hex(n).map((h) => h.toUpperCase()) },
    { weight: 1, arbitrary: fc.uint8Array({ minLength: n, maxLength: n }).map((b) => Buffer.from(b).toString('base64')) },
    { weight: 1, arbitrary: fc.constantFrom('', 'zz', '0'.repeat(2 * n), 'not base64!', 5 as unknown as string) },
  );
const nanos = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom('1700000000000000000', '1700000000000000001') },
  { weight: 4, arbitrary: fc.bigInt({ min: 1_700_000_000_000_000_000n, max: 1_700_000_000_100_000_000n }).map(String) },
  { weight: 2, arbitrary: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map(String) },
  { weight: 1, arbitrary: fc.bigInt({ min: (1n << 64n) - 5n, max: (1n << 64n) + 5n }).map(String) },
  { weight: 1, arbitrary: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map((v) => `000${v}`) },
  { weight: 1, arbitrary: fc.nat().map((v) => v * 1000) },
  { weight: 1, arbitrary: fc.constantFrom('-5', '1e9', '', ' 1', 1.5 as unknown as string, 99999999999999999999 as unknown as string) },
  { weight: 1, arbitrary: fc.constantFrom(1e30, 2 ** 64, 2 ** 64 - 2048, 2 ** 63, Number.MAX_SAFE_INTEGER) as fc.Arbitrary<unknown> as fc.Arbitrary<string> },
);
const value = fc.oneof(
  { weight: 6, arbitrary: fc.record({ stringValue: fc.constantFrom('GET', 'db', 'SELECT 1', 'SELECT 2', 'https://x.example/a', '') }) },
  fc.record({ string_value: fc.constantFrom('POST', 'SELECT 2') }),
  fc.record({ intValue: fc.oneof(fc.integer().map(String), fc.integer()) }),
  fc.record({ doubleValue: fc.double() }),
  fc.record({ boolValue: fc.boolean() }),
  fc.record({ arrayValue: fc.constant({ values: [] }) }),
  fc.constantFrom({ stringValue: { nested: 1 } }, { intValue: 'abc' }, { boolValue: 'true' }, { doubleValue: 'x' }, { intValue: '-12' }, { doubleValue: '1.5' }, 5),
  fc.constant({}),
  fc.constant(null),
);
const keys = fc.constantFrom('http.method', 'http.request.method', 'http.route', 'db.system', 'db.system.name', 'db.statement', 'db.query.text', 'server.address', 'net.peer.name', 'url.full', 'http.url', 'messaging.system', 'rpc.system', 'service.name', 'x');
const attribute = fc.oneof({ weight: 40, arbitrary: fc.record({ key: keys, value }) }, { weight: 1, arbitrary: fc.constantFrom(1, { key: 2 }, null) });
const spanFields = {
    traceId: fc.oneof({ weight: 3, arbitrary: fc.constantFrom('4bf92f3577b34da6a3ce929d0e0e4736') }, { weight: 1, arbitrary: id(16) }),
    spanId: id(8),
    parentSpanId: fc.oneof(fc.constant(''), id(8)),
    name: fc.oneof(fc.constantFrom('SELECT', 'GET x'), fc.constant(7 as unknown as string)),
    kind: fc.oneof(fc.integer({ min: 0, max: 6 }), fc.constantFrom('SPAN_KIND_SERVER', 'SPAN_KIND_CLIENT', 'NOPE', 'constructor', true as unknown as string)),
    startTimeUnixNano: nanos,
    endTimeUnixNano: nanos,
    attributes: fc.oneof({ weight: 10, arbitrary: fc.array(attribute, { maxLength: 5 }) }, { weight: 1, arbitrary: fc.constant(null) }),
    status: fc.oneof(fc.constant(undefined), fc.record({ code: fc.constantFrom(0, 1, 2, 'STATUS_CODE_ERROR', 'X', 'toString') }), fc.constant(3)),
};
// Mostly complete spans (so most decode to records), sometimes any field missing.
const span = fc.oneof(
  { weight: 4, arbitrary: fc.record(spanFields, { requiredKeys: ['traceId', 'spanId', 'attributes'] }) },
  { weight: 1, arbitrary: fc.record(spanFields, { requiredKeys: [] }) },
);
const request = fc.oneof(
  { weight: 10, arbitrary: fc.record({ resourceSpans: fc.array(fc.record({ resource: fc.record({ attributes: fc.array(attribute, { maxLength: 3 }) }), scopeSpans: fc.array(fc.record({ spans: fc.array(fc.oneof({ weight: 20, arbitrary: span }, { weight: 1, arbitrary: fc.constant(4) })) }), { maxLength: 2 }) }), { maxLength: 2 }) }) },
  { weight: 1, arbitrary: fc.record({ resource_spans: fc.array(fc.record({ scope_spans: fc.array(fc.record({ spans: fc.array(span) })) }), { maxLength: 1 }) }) },
);

function outcome(decode: (text: string) => DecodedBatch, text: string): DecodedBatch | string {
  try {
    return decode(text);
  } catch (err) {
    if (!(err instanceof OtlpDecodeError)) throw err;
    return err.message;
  }
}

describe('decodeJsonRequest', () => {
  test('decodes every request as its first version did, errors and messages included', () => {
    fc.assert(
      fc.property(request, (r) => {
        // Through JSON text, as files and HTTP bodies arrive (numbers beyond 2^53 round-trip as written).
        const text = JSON.stringify(r);
        expect(outcome(decodeJsonRequest, text)).toEqual(outcome(referenceDecodeJsonRequest, text));
      }),
      { numRuns: 3000 },
    );
  });

  test('splits every 64-bit timestamp exactly', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), (v) => {
        const r = { resourceSpans: [{ scopeSpans: [{ spans: [{ traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', startTimeUnixNano: String(v), endTimeUnixNano: String(v) }] }] }] };
        expect(decodeJsonRequest(r)).toEqual(referenceDecodeJsonRequest(r));
      }),
      { numRuns: 5000 },
    );
  });
});
