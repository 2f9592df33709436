/**
 * split.ts: each piece of a split export decodes (protobufjs, the wire decoder, the JSON decoder) to
 * exactly its shard's spans of the whole, under equal resources and scopes; damaged bytes throw
 * OtlpDecodeError and nothing else; JSON that is not a request gives undefined.
 */

import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { OtlpDecodeError } from './errors.js';
import { createJsonDecoder, decodeJsonRequest } from './json.js';
import { otlpSchema } from './schema.js';
import { shardOfTraceId, shardOfTraceIdBytes } from './shard.js';
import { createExportSplitter, createProtobufSplitter, splitJsonExport } from './split.js';
import { jsonTextDeep } from './json-value.js';
import { protobufToOtlpJson } from './to-json.js';
import { createWireDecoder } from './wire/decoder.js';

const splitProtobufExport = createProtobufSplitter();

const { ExportTraceServiceRequest } = otlpSchema();

// ---------------------------------------------------------------------------------------------
// Random exports, as protobufjs objects.

const attribute = fc.record({
  key: fc.constantFrom('service.name', 'db.system', 'db.statement', 'http.route', 'k', 'x.y'),
  value: fc.oneof(
    fc.string({ maxLength: 40 }).map((s) => ({ stringValue: s })),
    fc.integer({ min: -1000, max: 1000 }).map((n) => ({ intValue: n })),
    fc.boolean().map((b) => ({ boolValue: b })),
  ),
});
const attributes = fc.array(attribute, { maxLength: 4 });

/** A trace id: mostly one of a small pool (traces repeat), sometimes none or 8 bytes (both shard 0). */
function exportOf(pool: Uint8Array[]) {
  const traceId = fc.oneof(
    { weight: 12, arbitrary: fc.constantFrom(...pool) },
    { weight: 1, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: fc.uint8Array({ minLength: 8, maxLength: 8 }) },
  );
  const span = fc.record(
    {
      traceId,
      spanId: fc.uint8Array({ minLength: 8, maxLength: 8 }).map((b) => ((b[0] = b[0]! | 1), b)),
      name: fc.string({ maxLength: 150 }),
      kind: fc.integer({ min: 0, max: 5 }),
      startTimeUnixNano: fc.integer({ min: 1, max: 2 ** 40 }),
      endTimeUnixNano: fc.integer({ min: 2 ** 40, max: 2 ** 41 }),
      attributes,
    },
    { requiredKeys: ['spanId', 'name', 'startTimeUnixNano', 'endTimeUnixNano', 'attributes'] },
  );
  const scope = fc.record(
    {
      scope: fc.record({ name: fc.string({ maxLength: 10 }), version: fc.string({ maxLength: 5 }) }, { requiredKeys: [] }),
      schemaUrl: fc.constantFrom('https://opentelemetry.io/schemas/1.21.0', 's'),
      spans: fc.array(span, { maxLength: 6 }),
    },
    { requiredKeys: ['spans'] },
  );
  const resource = fc.record(
    {
      resource: attributes.map((a) => ({ attributes: a })),
      schemaUrl: fc.constantFrom('https://opentelemetry.io/schemas/1.24.0', 'r'),
      scopeSpans: fc.array(scope, { maxLength: 3 }),
    },
    { requiredKeys: ['scopeSpans'] },
  );
  return fc.record({ resourceSpans: fc.array(resource, { maxLength: 4 }) });
}

const arbitraryExport = fc
  .array(fc.uint8Array({ minLength: 16, maxLength: 16 }), { minLength: 1, maxLength: 6 })
  .chain((pool) => exportOf(pool))
  .map((request) => Buffer.from(ExportTraceServiceRequest.encode(ExportTraceServiceRequest.fromObject(request)).finish()));

// ---------------------------------------------------------------------------------------------
// Decoded pieces, as plain objects.

interface Flat {
  resource: unknown;
  resourceRest: unknown;
  scope: unknown;
  scopeRest: unknown;
  span: { traceId?: string };
}
type Obj = Record<string, unknown>;

function toObject(bytes: Uint8Array): { resourceSpans?: Obj[] } {
  return ExportTraceServiceRequest.toObject(ExportTraceServiceRequest.decode(bytes), { longs: String, bytes: String, defaults: false });
}

/** Every span with the resource and scope messages (and the rest of their fields) it sits under. */
function flatten(request: { resourceSpans?: Obj[] }): Flat[] {
  const out: Flat[] = [];
  for (const { scopeSpans, resource, ...resourceRest } of request.resourceSpans ?? []) {
    for (const { spans, scope, ...scopeRest } of (scopeSpans as Obj[] | undefined) ?? []) {
      for (const span of (spans as Flat['span'][] | undefined) ?? []) out.push({ resource, resourceRest, scope, scopeRest, span });
    }
  }
  return out;
}

function shardOfSpan(traceId: string | undefined, shards: number): number {
  const bytes = Buffer.from(traceId ?? '', 'base64');
  return bytes.length === 16 ? shardOfTraceIdBytes(bytes, 0, shards) : 0;
}

/** True when the request has a ResourceSpans without ScopeSpans with spans, or a ScopeSpans without spans. */
function hasEmpty(request: { resourceSpans?: Obj[] }): boolean {
  return (request.resourceSpans ?? []).some((rs) => {
    const scopes = (rs.scopeSpans as Obj[] | undefined) ?? [];
    return scopes.length === 0 || scopes.some((ss) => ((ss.spans as unknown[] | undefined) ?? []).length === 0);
  });
}

/** Checks the pieces of `body` against the whole, decoded by protobufjs. */
function checkPieces(body: Buffer, shards: number): void {
  const pieces = splitProtobufExport(body, shards);
  expect(pieces).toHaveLength(shards);
  const whole = flatten(toObject(body));
  if (shards === 1) {
    expect(pieces[0]).toBe(body);
    return;
  }
  let union = 0;
  for (let k = 0; k < shards; k++) {
    const mine = whole.filter((f) => shardOfSpan(f.span.traceId, shards) === k);
    const piece = pieces[k];
    if (mine.length === 0) {
      expect(piece).toBeUndefined();
      continue;
    }
    expect(piece).toBeDefined();
    const decoded = toObject(piece!);
    expect(flatten(decoded)).toEqual(mine);
    // A written piece keeps no ResourceSpans or ScopeSpans without spans, and owns its memory.
    if (piece !== body) {
      expect(hasEmpty(decoded)).toBe(false);
      expect(piece!.byteOffset).toBe(0);
      expect(piece!.buffer.byteLength).toBe(piece!.byteLength);
    }
    union += mine.length;
  }
  expect(union).toBe(whole.length);
}

/** The length-delimited messages of a fixture file (4-byte big-endian length, then the message). */
function framed(path: string): Buffer[] {
  const file = readFileSync(new URL(path, import.meta.url));
  const out: Buffer[] = [];
  for (let at = 0; at < file.length; ) {
    const n = file.readUInt32BE(at);
    out.push(file.subarray(at + 4, at + 4 + n));
    at += 4 + n;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// A raw protobuf writer, for exact bytes and damage.

function varint(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}
const len = (field: number, content: number[] | Uint8Array): number[] => [...varint((field << 3) | 2), ...varint(content.length), ...content];
const text = (s: string): number[] => [...Buffer.from(s)];
const idOfShard = (k: number, shards: number, salt = 0): Buffer => {
  for (let i = salt; ; i++) {
    const id = Buffer.alloc(16, 7);
    id.writeUInt32BE(i, 12);
    if (shardOfTraceIdBytes(id, 0, shards) === k) return id;
  }
};
/** A span whose only fields are a trace id (if given), a span id and a name. */
const rawSpan = (traceId: Uint8Array | undefined, name: string): number[] => [
  ...(traceId === undefined ? [] : len(1, traceId)),
  ...len(2, [1, 2, 3, 4, 5, 6, 7, 8]),
  ...len(5, text(name)),
];

describe('splitProtobufExport', () => {
  test('property: every piece decodes (protobufjs) to exactly its shard’s spans, in order, under equal resources and scopes', () => {
    fc.assert(
      fc.property(arbitraryExport, fc.integer({ min: 1, max: 4 }), (body, shards) => checkPieces(body, shards)),
      { numRuns: 400 },
    );
  });

  test('the fixtures through the wire decoder: the pieces give the whole’s span records, partitioned by shard', () => {
    const messages = [
      ...framed('./testdata/django-sqlite-old-semconv.otlp.pb'),
      ...framed('./testdata/django-sqlite-stable-semconv.otlp.pb'),
      ...framed('./testdata/collector-file-exporter.binpb'),
    ];
    // Concatenated messages are one message (repeated fields concatenate): many traces in one export.
    const bodies = [...messages, Buffer.concat(messages)];
    const decoder = createWireDecoder();
    let split = 0;
    for (const body of bodies) {
      const whole = decoder.decode(body);
      for (const shards of [2, 3, 4, 8]) {
        const pieces = splitProtobufExport(body, shards);
        for (let k = 0; k < shards; k++) {
          const mine = whole.spans.filter((s) => shardOfTraceId(s.traceId, shards) === k);
          const piece = pieces[k];
          if (mine.length === 0) expect(piece).toBeUndefined();
          else {
            if (piece !== body) split++;
            const got = decoder.decode(piece!);
            expect(got.spans).toEqual(mine);
            expect(got.rejected).toEqual([]);
          }
        }
      }
    }
    expect(split).toBeGreaterThan(0);
  });

  test('a partition of the caller\'s (spool compaction): the piece it names holds exactly the chosen traces\' spans, in both encodings', () => {
    const messages = [...framed('./testdata/django-sqlite-old-semconv.otlp.pb'), ...framed('./testdata/collector-file-exporter.binpb')];
    const body = Buffer.concat(messages);
    const decoder = createWireDecoder();
    const whole = decoder.decode(body).spans;
    const ids = [...new Set(whole.map((s) => s.traceId))];
    expect(ids.length).toBeGreaterThan(2);
    for (const keep of [new Set(ids.filter((_, i) => i % 2 === 1)), new Set(ids.slice(0, 1)), new Set(ids), new Set<string>()]) {
      const wanted = whole.filter((s) => keep.has(s.traceId));
      const [, kept] = splitProtobufExport(body, 2, (b, p) => (keep.has(Buffer.from(b.subarray(p, p + 16)).toString('hex')) ? 1 : 0));
      expect(kept === undefined ? [] : decoder.decode(kept).spans).toEqual(wanted);
      const [, keptJson] = splitJsonExport(Buffer.from(protobufToOtlpJson(body)), 2, (hex) => (keep.has(hex) ? 1 : 0))!;
      expect(keptJson === undefined ? [] : decodeJsonRequest(keptJson.toString(), createJsonDecoder()).spans).toEqual(wanted);
    }
  });

  test('spans without a trace id, or with an 8-byte one, go to shard 0', () => {
    const shards = 4;
    const spans = [
      rawSpan(idOfShard(1, shards), 'one'),
      rawSpan(undefined, 'none'),
      rawSpan(idOfShard(2, shards), 'two'),
      rawSpan(Buffer.alloc(8, 9), 'eight'),
      // The last trace id counts, as in the decoders: 8 bytes after a good one is shard 0 ...
      [...len(1, idOfShard(3, shards)), ...rawSpan(Buffer.alloc(8, 9), 'last-eight')],
      // ... and a good one after 8 bytes is its shard.
      [...len(1, Buffer.alloc(8, 9)), ...rawSpan(idOfShard(3, shards), 'last-three')],
    ];
    const body = Buffer.from(len(1, len(2, spans.flatMap((s) => len(2, s)))));
    const names = splitProtobufExport(body, shards).map((p) => (p === undefined ? [] : flatten(toObject(p)).map((f) => (f.span as { name: string }).name)));
    expect(names).toEqual([['none', 'eight', 'last-eight'], ['one'], ['two'], ['last-three']]);
  });

  test('exact bytes: other fields of ResourceSpans and ScopeSpans copied in order, lengths re-encoded, empty scopes and request fields dropped', () => {
    const shards = 2;
    const long = 'x'.repeat(60);
    const a = rawSpan(idOfShard(0, shards), long);
    const b = rawSpan(idOfShard(1, shards), long);
    const a2 = rawSpan(idOfShard(0, shards, 100), 'a2');
    const unknownVarint = [0x38, 0x96, 0x01]; // field 7, varint 150
    const unknownFixed32 = [0x4d, 1, 2, 3, 4]; // field 9, fixed32
    const unknownFixed64 = [0x51, 1, 2, 3, 4, 5, 6, 7, 8]; // field 10, fixed64
    const resource = len(1, len(1, [...len(1, text('service.name')), ...len(2, len(1, text('svc')))]));
    const scopeA = len(1, [...len(1, text('django')), ...len(2, text('1.0'))]);
    const ss1 = [...scopeA, ...len(2, a), ...unknownFixed64, ...len(2, b), ...len(2, a2), ...len(3, text('ss-url'))];
    const ss2 = [...len(2, b)];
    const ssEmpty = [...scopeA];
    const rs1 = [...unknownVarint, ...len(2, ss1), ...resource, ...len(2, ssEmpty), ...len(2, ss2), ...len(3, text('rs-url')), ...unknownFixed32];
    const rs2 = [...resource, ...len(2, ss2)];
    const body = Buffer.from([...len(1, rs1), ...len(9, text('request-level')), ...len(1, rs2)]);
    expect(body.length).toBeGreaterThan(300); // rs1's length needs two bytes; piece 0's only one

    const want0 = len(1, [...unknownVarint, ...len(2, [...scopeA, ...len(2, a), ...unknownFixed64, ...len(2, a2), ...len(3, text('ss-url'))]), ...resource, ...len(3, text('rs-url')), ...unknownFixed32]);
    const want1 = [
      ...len(1, [...unknownVarint, ...len(2, [...scopeA, ...unknownFixed64, ...len(2, b), ...len(3, text('ss-url'))]), ...resource, ...len(2, ss2), ...len(3, text('rs-url')), ...unknownFixed32]),
      ...len(1, rs2),
    ];
    const [p0, p1] = splitProtobufExport(body, shards);
    expect([...p0!]).toEqual(want0);
    expect([...p1!]).toEqual(want1);
  });

  test('every span in one shard: that entry is the body itself; no spans: all undefined; one shard: [body]', () => {
    const id = idOfShard(2, 3);
    const body = Buffer.from(len(1, [...len(2, len(2, rawSpan(id, 'a'))), ...len(2, [])]));
    expect(splitProtobufExport(body, 3)).toEqual([undefined, undefined, body]);
    expect(splitProtobufExport(body, 3)[2]).toBe(body);
    const empty = Buffer.from(len(1, [...len(1, []), ...len(2, len(1, []))]));
    expect(splitProtobufExport(empty, 3)).toEqual([undefined, undefined, undefined]);
    expect(splitProtobufExport(new Uint8Array(0), 2)).toEqual([undefined, undefined]);
    expect(splitProtobufExport(body, 1)[0]).toBe(body);
  });

  const throwsDecodeError = (bytes: Uint8Array, shards = 3): void => {
    expect(() => splitProtobufExport(bytes, shards)).toThrow(OtlpDecodeError);
  };
  /** Splits, or throws OtlpDecodeError: nothing else. */
  const splitsOrRefuses = (bytes: Uint8Array, shards: number): void => {
    try {
      splitProtobufExport(bytes, shards);
    } catch (err) {
      if (!(err instanceof OtlpDecodeError)) throw err;
    }
  };

  test('every truncation of a valid export splits or throws OtlpDecodeError', () => {
    const [body] = framed('./testdata/collector-file-exporter.binpb');
    let refused = 0;
    for (let n = 0; n < body!.length; n++) {
      try {
        splitProtobufExport(body!.subarray(0, n), 3);
      } catch (err) {
        expect(err).toBeInstanceOf(OtlpDecodeError);
        refused++;
      }
    }
    expect(refused).toBeGreaterThan(body!.length / 2);
  });

  test('damaged bytes: lengths of 2^31, groups, field 0, wire types 6 and 7, lengths past the end', () => {
    const span = len(2, rawSpan(idOfShard(1, 3), 'a'));
    throwsDecodeError(Uint8Array.from([0x0a, 0x80, 0x80, 0x80, 0x80, 0x08])); // resource_spans of 2^31 bytes
    throwsDecodeError(Uint8Array.from([0x0a, 6, 0x12, 0x80, 0x80, 0x80, 0x80, 0x08])); // scope_spans of 2^31
    throwsDecodeError(Uint8Array.from([0x0b, 0x0c])); // resource_spans as a group
    throwsDecodeError(Uint8Array.from([0x0a, 2, 0x13, 0x14])); // scope_spans as a group
    // A group among a scope's fields, or in a span: skipped, as the decoders skip it, and kept.
    const grouped = Uint8Array.from(len(1, len(2, [0x1b, 0x1c, ...len(2, [0x0a, 16, ...Buffer.alloc(16, 1), 0x1b, 0x1c]), ...len(2, [0x0a, 16, ...Buffer.alloc(16, 2)])])));
    const pieces = splitProtobufExport(grouped, 2);
    expect(pieces.filter((p) => p !== undefined).reduce((n, p) => n + p.length, 0)).toBeGreaterThan(grouped.length);
    for (const piece of pieces) if (piece !== undefined) expect(Buffer.from(piece).includes(Buffer.from([0x1b, 0x1c]))).toBe(true);
    throwsDecodeError(Uint8Array.from(len(1, len(2, [...span, 0x0e])))); // wire type 6
    throwsDecodeError(Uint8Array.from(len(1, len(2, [...span, 0x0f])))); // wire type 7
    throwsDecodeError(Uint8Array.from([0x02, 0])); // field 0
    throwsDecodeError(Uint8Array.from(len(1, len(2, len(2, [0x02, 0]))))); // field 0 in a span
    throwsDecodeError(Uint8Array.from([0x0a, 5, 0x12, 3, 0x12, 9, 0])); // a span past its scope's end
    throwsDecodeError(Uint8Array.from([0x08])); // a truncated varint field
    throwsDecodeError(Uint8Array.from([0x0a, 0xff])); // a truncated length
    throwsDecodeError(Uint8Array.from([0x8a])); // a truncated tag
    throwsDecodeError(Uint8Array.from([0x08, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80])); // a varint that never ends
    // A known field with the wrong wire type (a varint 0, which read as a length would be an empty message).
    throwsDecodeError(Uint8Array.from([0x08, 0]));
    throwsDecodeError(Uint8Array.from(len(1, [0x10, 0])));
    throwsDecodeError(Uint8Array.from(len(1, len(2, [0x10, 0]))));
    // Groups nested far deeper than any stack: refused at the first start-group tag of a known field, or past the decoders' depth.
    throwsDecodeError(new Uint8Array(1_000_000).fill(0x0b));
    throwsDecodeError(Uint8Array.from([...len(1, len(2, [])), ...new Uint8Array(100_000).fill(0x1b)]));
  });

  test('property: random and mutated bytes split or throw OtlpDecodeError', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), fc.integer({ min: 2, max: 4 }), splitsOrRefuses), { numRuns: 2000 });
    fc.assert(
      fc.property(arbitraryExport, fc.nat(), fc.integer({ min: 0, max: 255 }), (body, at, value) => {
        if (body.length === 0) return;
        const damaged = Buffer.from(body);
        damaged[at % body.length] = value;
        splitsOrRefuses(damaged, 3);
      }),
      { numRuns: 500 },
    );
  });
});

// ---------------------------------------------------------------------------------------------

describe('splitJsonExport', () => {
  /** The records the JSON decoder makes of each piece against those of the whole. */
  function checkJson(json: string, shards: number): void {
    const body = Buffer.from(json);
    const pieces = splitJsonExport(body, shards)!;
    expect(pieces).toHaveLength(shards);
    const decoder = createJsonDecoder();
    const whole = decodeJsonRequest(json, decoder);
    if (shards === 1) {
      expect(pieces[0]!.equals(body)).toBe(true);
      return;
    }
    // What the decoder rejects lands in shard 0 (with json.ts's rule for the id: none, or not 16 bytes).
    const wholeRejected = whole.rejected.reduce((n, r) => n + r.count, 0);
    let rejected = 0;
    for (let k = 0; k < shards; k++) {
      const mine = whole.spans.filter((s) => shardOfTraceId(s.traceId, shards) === k);
      const piece = pieces[k];
      if (piece === undefined) {
        expect(mine).toEqual([]);
        continue;
      }
      const got = decodeJsonRequest(piece.toString(), decoder);
      expect(got.spans).toEqual(mine);
      const n = got.rejected.reduce((m, r) => m + r.count, 0);
      if (k !== 0) expect(n).toBe(0);
      rejected += n;
      expect(mine.length + n).toBeGreaterThan(0);
    }
    expect(rejected).toBe(wholeRejected);
  }

  test('property: every piece decodes (json.ts) to exactly its shard’s span records of the whole', () => {
    fc.assert(
      fc.property(arbitraryExport, fc.integer({ min: 1, max: 4 }), (body, shards) => checkJson(protobufToOtlpJson(body), shards)),
      { numRuns: 300 },
    );
  });

  /** The same request with snake_case keys, upper-case or base64 trace ids. */
  const snake = (json: string): string => json.replace(/"(resourceSpans|scopeSpans|traceId|spanId|startTimeUnixNano|endTimeUnixNano)"/g, (_, k: string) => `"${k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)}"`);
  const upper = (json: string): string => json.replace(/"traceId":"([0-9a-f]{32})"/g, (_, id: string) => `"traceId":"${id.toUpperCase()}"`);
  const base64 = (json: string): string => json.replace(/"traceId":"([0-9a-f]{32})"/g, (_, id: string) => `"traceId":"${Buffer.from(id, 'hex').toString('base64')}"`);

  /** The same request with the pre-1.0 name for scopeSpans (instrumentationLibrarySpans), camelCase or snake_case. */
  const instrumentationLibrary = (json: string): string => json.replace(/"scopeSpans"/g, '"instrumentationLibrarySpans"');
  const instrumentationLibrarySnake = (json: string): string => snake(json).replace(/"scope_spans"/g, '"instrumentation_library_spans"');

  test('property: snake_case keys, upper-case hex ids, base64 ids and the pre-1.0 instrumentationLibrarySpans shard as json.ts reads them', () => {
    fc.assert(
      fc.property(arbitraryExport, fc.integer({ min: 2, max: 4 }), fc.constantFrom(snake, upper, base64, instrumentationLibrary, instrumentationLibrarySnake), (body, shards, form) => {
        const json = form(protobufToOtlpJson(body));
        checkJson(json, shards);
        // And they split where the plain form splits.
        const plain = splitJsonExport(Buffer.from(protobufToOtlpJson(body)), shards)!;
        expect(splitJsonExport(Buffer.from(json), shards)!.map((p) => p === undefined)).toEqual(plain.map((p) => p === undefined));
      }),
      { numRuns: 200 },
    );
  });

  test('spans under a name json.ts does not read: undefined, so that shard 0 decodes the body and refuses it', () => {
    const [a, b] = [0, 1].map((k) => idOfShard(k, 2).toString('hex'));
    const spans = [{ traceId: a, spanId: '00f067aa0ba902b7' }, { traceId: b, spanId: '00f067aa0ba902b8' }];
    for (const request of [{ resourceSpans: [{ ScopeSpans: [{ spans }] }] }, { resourceSpans: [{ scopeSpans: [{ Spans: spans }] }] }]) {
      const body = Buffer.from(JSON.stringify(request));
      expect(() => decodeJsonRequest(body)).toThrow(OtlpDecodeError);
      expect(splitJsonExport(body, 2)).toBeUndefined();
    }
  });

  test('the JSON fixtures: pieces give the whole’s records', () => {
    for (const file of ['./testdata/django-sqlite-old-semconv.jsonl', './testdata/collector-file-exporter.jsonl', './testdata/django-sqlite-stable-semconv.pbjson.jsonl']) {
      const lines = readFileSync(new URL(file, import.meta.url), 'utf8').split('\n').filter((l) => l.trim() !== '');
      for (const line of lines) for (const shards of [2, 4]) checkJson(line, shards);
    }
    for (const file of ['./testdata/python-json-format-camel.json', './testdata/python-json-format-snake.json']) {
      checkJson(readFileSync(new URL(file, import.meta.url), 'utf8'), 3);
    }
  });

  test('other keys of the request, resources and scopes are kept; the alias json.ts ignores is left out', () => {
    const id = (k: number): string => idOfShard(k, 2).toString('hex');
    const request = {
      extra: 1,
      resourceSpans: [
        {
          resource: { attributes: [{ key: 'service.name', value: { stringValue: 'svc' } }] },
          schemaUrl: 'r',
          scope_spans: [{ ignored: true }],
          scopeSpans: [
            { scope: { name: 'django' }, schemaUrl: 's', spans: [{ traceId: id(0), name: 'a' }, { trace_id: id(1), name: 'b' }] },
            { scope: { name: 'empty' } },
          ],
        },
      ],
      resource_spans: [{ ignored: true }],
    };
    const [p0, p1] = splitJsonExport(Buffer.from(JSON.stringify(request)), 2)!;
    const resource = request.resourceSpans[0]!;
    const piece = (span: object) => ({
      extra: 1,
      resourceSpans: [{ resource: resource.resource, schemaUrl: 'r', scopeSpans: [{ scope: { name: 'django' }, schemaUrl: 's', spans: [span] }] }],
    });
    expect(JSON.parse(p0!.toString())).toEqual(piece(request.resourceSpans[0]!.scopeSpans[0]!.spans![0]!));
    expect(JSON.parse(p1!.toString())).toEqual(piece(request.resourceSpans[0]!.scopeSpans[0]!.spans![1]!));
  });

  test('a value nested deeper than JSON.stringify recurses, in keys json.ts ignores: split as any other request', () => {
    const [a, b] = [0, 1].map((k) => idOfShard(k, 2).toString('hex'));
    const deep = `${'['.repeat(20_000)}${']'.repeat(20_000)}`;
    const span = (id: string) => `{"traceId":"${id}","spanId":"00f067aa0ba902b7","name":"GET","startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000000001000000"}`;
    const request = (...ids: string[]) => `{"resourceSpans":[{"x":${deep},"scopeSpans":[{"scope":{"y":${deep}},"spans":[${ids.map(span).join(',')}]}]}],"z":${deep}}`;
    const body = Buffer.from(request(a!, b!));
    expect(() => JSON.stringify(JSON.parse(body.toString()))).toThrow(RangeError);
    expect(decodeJsonRequest(body).spans).toHaveLength(2);
    expect(splitJsonExport(body, 2)!.map((piece) => piece?.toString())).toEqual([request(a!), request(b!)]);
    expect(createExportSplitter()('json', body, 2)!.map((piece) => Buffer.from(piece!).toString())).toEqual([request(a!), request(b!)]);
  });

  test('property: the deep values\' writer writes what JSON.stringify writes', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        expect(jsonTextDeep(value)).toBe(JSON.stringify(value));
      }),
      { numRuns: 500 },
    );
    const line = readFileSync(new URL('./testdata/collector-file-exporter.jsonl', import.meta.url), 'utf8').split('\n')[0]!;
    expect(jsonTextDeep(JSON.parse(line))).toBe(JSON.stringify(JSON.parse(line)));
    expect(jsonTextDeep({ a: undefined, b: [undefined, -0, '\u2028"\ud800'], c: {} })).toBe(JSON.stringify({ a: undefined, b: [undefined, -0, '\u2028"\ud800'], c: {} }));
  });

  test('not JSON, or not shaped as a request along the way to the ids: undefined; no spans: all undefined', () => {
    const split = (text: string) => splitJsonExport(Buffer.from(text), 3);
    for (const bad of [
      '',
      '{',
      'null',
      '[]',
      '"text"',
      '{"resourceSpans":{}}',
      '{"resourceSpans":[1]}',
      '{"resourceSpans":[{"resource":[]}]}',
      '{"resourceSpans":[{"scopeSpans":{}}]}',
      '{"resourceSpans":[{"scopeSpans":[null]}]}',
      '{"resourceSpans":[{"scopeSpans":[{"spans":{}}]}]}',
      '{"resourceSpans":[{"scopeSpans":[{"spans":[[]]}]}]}',
      '{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":5}]}]}]}',
    ]) {
      expect(split(bad), bad).toBeUndefined();
      // Each of these the decoder refuses as a whole, which is why the caller sends it to one shard.
      expect(() => decodeJsonRequest(bad)).toThrow(OtlpDecodeError);
    }
    for (const empty of ['{}', '{"resourceSpans":[]}', '{"resourceSpans":null}', '{"resourceSpans":[{}, {"scopeSpans":[{"spans":[]}, {}]}]}']) {
      expect(split(empty), empty).toEqual([undefined, undefined, undefined]);
    }
    const one = '{"resourceSpans":[{"scopeSpans":[{"spans":[{"name":"no id"}]}]}]}';
    const body = Buffer.from(one);
    const pieces = splitJsonExport(body, 3)!;
    expect(pieces[0]!.equals(body)).toBe(true);
    expect(pieces.slice(1)).toEqual([undefined, undefined]);
  });
});
