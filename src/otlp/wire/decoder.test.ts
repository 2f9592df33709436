/**
 * The wire decoder against protobufjs (the reference): random messages written with every wire
 * shape protobuf allows (fields in any order, repeated scalars, split messages, unknown fields of
 * every wire type, packed and unpacked, non-canonical varints), the real fixtures, and damaged bytes.
 */

import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { context, SpanKind as ApiSpanKind, trace } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { OtlpDecodeError } from '../errors.js';
import { decodeProtobufRequestReference } from '../protobuf.js';
import type { DecodedBatch, SpanSink } from '../span.js';
import { djangoRequest, encodeProtobuf } from '../testing.js';
import { createWireDecoder, type ShardBatch } from './decoder.js';
import { shardOfTraceId } from '../shard.js';

/** One decoder for the whole file, so its memo tables carry over from message to message as in a real stream. */
const decoder = createWireDecoder();
const decodeOtlpTraces = (bytes: Uint8Array) => decoder.decode(bytes);

// ---------------------------------------------------------------------------------------------
// A tiny protobuf writer that can write anything the wire format allows.

const VARINT = 0;
const I64 = 1;
const LEN = 2;
const SGROUP = 3;
const I32 = 5;

/** One field as written: its payload is the varint bytes, the fixed bytes, the LEN content, or the group's fields. */
type Field =
  | { no: number; wire: typeof VARINT | typeof I64 | typeof I32; bytes: number[]; pad?: number }
  | { no: number; wire: typeof LEN; content: Field[] | number[]; pad?: number }
  | { no: number; wire: typeof SGROUP; content: Field[]; pad?: number };

/** Varint bytes of an unsigned value below 2^64, padded with `pad` redundant continuation bytes. */
function varint(value: bigint, pad = 0): number[] {
  const out: number[] = [];
  let v = BigInt.asUintN(64, value);
  do {
    out.push(Number(v & 0x7fn));
    v >>= 7n;
  } while (v > 0n);
  for (let i = 0; i < pad; i++) out.push(0);
  for (let i = 0; i < out.length - 1; i++) out[i]! |= 0x80;
  return out;
}

function write(fields: readonly Field[], out: number[] = []): number[] {
  for (const f of fields) {
    // A padded tag or length stays within the 5 bytes protobufjs accepts.
    const tagBytes = varint(BigInt(f.no * 8 + f.wire), Math.min(f.pad ?? 0, 5 - varint(BigInt(f.no * 8 + f.wire)).length));
    out.push(...tagBytes);
    if (f.wire === LEN) {
      const content = isFields(f.content) ? write(f.content) : f.content;
      const len = varint(BigInt(content.length));
      out.push(...varint(BigInt(content.length), Math.min(f.pad ?? 0, 5 - len.length)), ...content);
    } else if (f.wire === SGROUP) {
      write(f.content, out);
      out.push(...varint(BigInt(f.no * 8 + 4)));
    } else out.push(...f.bytes);
  }
  return out;
}

function isFields(content: Field[] | number[]): content is Field[] {
  return content.length > 0 && typeof content[0] === 'object';
}

const bytesOf = (fields: readonly Field[]): Buffer => Buffer.from(write(fields));
const str = (no: number, s: string): Field => ({ no, wire: LEN, content: [...Buffer.from(s, 'utf8')] });
const msg = (no: number, content: Field[]): Field => ({ no, wire: LEN, content: content.length === 0 ? [] : content });
const u64 = (no: number, v: bigint): Field => ({ no, wire: VARINT, bytes: varint(v) });
const fixed64 = (no: number, v: bigint): Field => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt.asUintN(64, v));
  return { no, wire: I64, bytes: [...b] };
};

// ---------------------------------------------------------------------------------------------
// Arbitraries.

const FOLDED_KEYS = [
  'service.name', 'http.request.method', 'http.method', 'http.route', 'db.system.name', 'db.system',
  'db.query.text', 'db.statement', 'messaging.system', 'rpc.system', 'server.address', 'net.peer.name',
  'url.full', 'http.url', 'client.address', 'http.client_ip', 'net.peer.ip', 'user_agent.original',
  'http.user_agent', 'service.instance.id', 'host.name', 'process.pid',
];
const OTHER_KEYS = ['db.name', 'net.peer.port', 'http.status_code', 'db.system.nam', 'http.routes', 'url.fulL', ''];

const utf8ish = fc.oneof(
  fc.constantFrom('GET', 'postgresql', 'sqlite', 'dashboard/', 'db', 'https://User:pw@API.Example.com:443/x?q', 'http://[::1]:80/', 'not a url', ''),
  fc.string({ maxLength: 12 }),
  fc.string({ unit: 'grapheme', maxLength: 6 }),
  fc.constantFrom(`SELECT "t"."id" FROM "t" WHERE "t"."id" = %s LIMIT 21 /*controller='x',traceparent='00-${'a'.repeat(32)}-${'b'.repeat(16)}-01'*/`),
);
// Valid UTF-8: protobufjs refuses invalid UTF-8 in any string field (see the test on it below).
const stringBytes = utf8ish.map((s) => [...Buffer.from(s, 'utf8')]);
const u64Value = fc.oneof(fc.bigInt({ min: 0n, max: 300n }), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), fc.constantFrom(-1n, -(1n << 63n)));
const pad = fc.oneof({ weight: 6, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 4 }) });

/** Any field of any wire type: an unknown field, or a known field number with the wrong wire type. */
function junk(numbers: fc.Arbitrary<number>, depth = 0): fc.Arbitrary<Field> {
  const group: fc.Arbitrary<Field> =
    depth >= 2
      ? numbers.map((no) => ({ no, wire: SGROUP, content: [] }))
      : fc.record({ no: numbers, wire: fc.constant(SGROUP), content: fc.array(junk(fc.integer({ min: 1, max: 40 }), depth + 1), { maxLength: 3 }) });
  return fc.oneof(
    fc.record({ no: numbers, wire: fc.constant(VARINT), bytes: fc.tuple(u64Value, fc.integer({ min: 0, max: 12 })).map(([v, p]) => varint(v, p)) }),
    fc.record({ no: numbers, wire: fc.constant(I64), bytes: fc.array(fc.nat(255), { minLength: 8, maxLength: 8 }) }),
    fc.record({ no: numbers, wire: fc.constant(I32), bytes: fc.array(fc.nat(255), { minLength: 4, maxLength: 4 }) }),
    // LEN: raw bytes, or a packed run of varints.
    fc.record({ no: numbers, wire: fc.constant(LEN), content: fc.uint8Array({ maxLength: 10 }).map((a) => [...a]), pad }),
    fc.record({ no: numbers, wire: fc.constant(LEN), content: fc.array(u64Value, { maxLength: 4 }).map((vs) => vs.flatMap((v) => varint(v))) }),
    group,
  ) as fc.Arbitrary<Field>;
}

/** Unknown numbers for a message with these known fields, plus the known ones under a wrong wire type. */
function junkFor(known: Record<number, number>): fc.Arbitrary<Field> {
  const unknown = fc.integer({ min: 1, max: 3000 }).filter((n) => !(n in known));
  const wrongWire = fc
    .tuple(fc.constantFrom(...Object.keys(known).map(Number)), junk(fc.constant(0)))
    .filter(([no, f]) => f.wire !== known[no])
    .map(([no, f]) => ({ ...f, no }) as Field);
  return fc.oneof(junk(unknown), wrongWire);
}

function shuffled(parts: fc.Arbitrary<Field[]>[]): fc.Arbitrary<Field[]> {
  return fc
    .tuple(...parts)
    .map((lists) => lists.flat())
    .chain((fields) => fc.shuffledSubarray(fields, { minLength: fields.length, maxLength: fields.length }));
}

const some = <T>(arb: fc.Arbitrary<T>, max: number): fc.Arbitrary<T[]> => fc.array(arb, { maxLength: max });

const { anyValue, keyValue } = fc.letrec<{ anyValue: Field[]; keyValue: Field[] }>((tie) => ({
  anyValue: shuffled([
    some(
      fc.oneof(
        { weight: 4, arbitrary: stringBytes.map((content): Field => ({ no: 1, wire: LEN, content })) },
        { weight: 1, arbitrary: fc.tuple(u64Value, fc.integer({ min: 0, max: 3 })).map(([v, p]): Field => ({ no: 2, wire: VARINT, bytes: varint(v % 3n === 0n ? v : v & 1n, v < 128n ? p : 0) })) },
        { weight: 1, arbitrary: u64Value.map((v) => u64(3, v)) },
        { weight: 1, arbitrary: fc.oneof(fc.double(), fc.constantFrom(-0, NaN, 1e21, 0.1)).map((d): Field => { const b = Buffer.alloc(8); b.writeDoubleLE(d); return { no: 4, wire: I64, bytes: [...b] }; }) },
        { weight: 1, arbitrary: fc.option(some(tie('anyValue'), 2), { nil: [] }).map((vs): Field => msg(5, vs.map((v) => msg(1, v)))) },
        { weight: 1, arbitrary: some(tie('keyValue'), 2).map((kvs): Field => msg(6, kvs.map((kv) => msg(1, kv)))) },
        { weight: 1, arbitrary: fc.uint8Array({ maxLength: 4 }).map((a): Field => ({ no: 7, wire: LEN, content: [...a] })) },
      ),
      2,
    ),
    some(junkFor({ 1: LEN, 2: VARINT, 3: VARINT, 4: I64, 5: LEN, 6: LEN, 7: LEN }), 1),
  ]),
  keyValue: shuffled([
    fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...FOLDED_KEYS, ...OTHER_KEYS).map((k) => [str(1, k)]) }, { weight: 1, arbitrary: some(fc.constantFrom(...FOLDED_KEYS).map((k) => str(1, k)), 2) }),
    fc.oneof({ weight: 6, arbitrary: tie('anyValue').map((v) => [msg(2, v)]) }, { weight: 1, arbitrary: some(tie('anyValue').map((v) => msg(2, v)), 2) }),
    some(junkFor({ 1: LEN, 2: LEN }), 1),
  ]),
}));

const attributes = (no: number, max: number): fc.Arbitrary<Field[]> => some(keyValue.map((kv) => msg(no, kv)), max);

const TRACE_POOL = ['4bf92f3577b34da6a3ce929d0e0e4736', '282df95abc1ce7625429eab4bb9814d7'].map((h) => [...Buffer.from(h, 'hex')]);
const SPAN_POOL = ['00f067aa0ba902b7', '6dac102ca678c55c', 'ffffffffffffffff'].map((h) => [...Buffer.from(h, 'hex')]);
/** Mostly valid ids (a pool, so traces and parents repeat), sometimes all-zero or of a wrong length. */
const idBytes = (pool: number[][], size: number): fc.Arbitrary<number[]> =>
  fc.oneof(
    { weight: 8, arbitrary: fc.constantFrom(...pool) },
    { weight: 3, arbitrary: fc.array(fc.nat(255), { minLength: size, maxLength: size }) },
    { weight: 1, arbitrary: fc.constant(new Array<number>(size).fill(0)) },
    { weight: 1, arbitrary: fc.array(fc.nat(255), { maxLength: size + 3 }) },
  );
const T0 = 1_700_000_000_000_000_000n;
const anyTime = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
const time = fc.oneof(fc.bigInt({ min: T0, max: T0 + 10_000n }), anyTime);
// Mostly end ≥ start, sometimes a nanosecond before it.
const startTime = fc.oneof({ weight: 8, arbitrary: fc.bigInt({ min: T0, max: T0 + 5_000n }) }, { weight: 1, arbitrary: anyTime });
const endTime = fc.oneof({ weight: 8, arbitrary: fc.bigInt({ min: T0 + 4_999n, max: T0 + 10_000n }) }, { weight: 1, arbitrary: anyTime });
const once = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T[]> =>
  fc.oneof({ weight: 8, arbitrary: arb.map((f) => [f]) }, { weight: 1, arbitrary: fc.constant<T[]>([]) }, { weight: 1, arbitrary: fc.array(arb, { minLength: 2, maxLength: 3 }) });

const status: fc.Arbitrary<Field> = shuffled([
  some(fc.constantFrom(0n, 1n, 2n, 2n, 2n, 3n, (1n << 32n) + 2n, -1n).map((c) => u64(3, c)), 3),
  some(utf8ish.map((s) => str(2, s)), 1),
  some(junkFor({ 2: LEN, 3: VARINT }), 1),
]).map((fields) => msg(15, fields));

const event: fc.Arbitrary<Field> = shuffled([once(time.map((t) => fixed64(1, t))), once(utf8ish.map((s) => str(2, s))), attributes(3, 2)]).map((f) => msg(11, f));
const link: fc.Arbitrary<Field> = shuffled([
  once(idBytes(TRACE_POOL, 16).map((b): Field => ({ no: 1, wire: LEN, content: b }))),
  once(idBytes(SPAN_POOL, 8).map((b): Field => ({ no: 2, wire: LEN, content: b }))),
  attributes(4, 1),
]).map((f) => msg(13, f));

const SPAN_FIELDS = { 1: LEN, 2: LEN, 3: LEN, 4: LEN, 5: LEN, 6: VARINT, 7: I64, 8: I64, 9: LEN, 10: VARINT, 11: LEN, 12: VARINT, 13: LEN, 14: VARINT, 15: LEN, 16: I32 };
const span: fc.Arbitrary<Field> = shuffled([
  once(fc.tuple(idBytes(TRACE_POOL, 16), pad).map(([b, p]): Field => ({ no: 1, wire: LEN, content: b, pad: p }))),
  once(idBytes(SPAN_POOL, 8).map((b): Field => ({ no: 2, wire: LEN, content: b }))),
  some(utf8ish.map((s) => str(3, s)), 1),
  fc.oneof(fc.constant<Field[]>([]), once(idBytes(SPAN_POOL, 8).map((b): Field => ({ no: 4, wire: LEN, content: b })))),
  once(utf8ish.map((s) => str(5, s))),
  once(fc.oneof(fc.bigInt({ min: 0n, max: 6n }), u64Value).map((k) => u64(6, k))),
  once(startTime.map((t) => fixed64(7, t))),
  once(endTime.map((t) => fixed64(8, t))),
  attributes(9, 6),
  some(u64Value.map((v) => u64(10, v)), 1),
  some(event, 1),
  some(u64Value.map((v) => u64(12, v)), 1),
  some(link, 1),
  some(status, 2),
  some(fc.array(fc.nat(255), { minLength: 4, maxLength: 4 }).map((b): Field => ({ no: 16, wire: I32, bytes: b })), 1),
  some(junkFor(SPAN_FIELDS), 2),
]).map((f) => msg(2, f));

const scope: fc.Arbitrary<Field> = shuffled([some(utf8ish.map((s) => str(1, s)), 1), some(utf8ish.map((s) => str(2, s)), 1), attributes(3, 1), some(u64Value.map((v) => u64(4, v)), 1)]).map((f) => msg(1, f));
const scopeSpans: fc.Arbitrary<Field> = shuffled([some(scope, 1), some(span, 4), some(utf8ish.map((s) => str(3, s)), 1), some(junkFor({ 1: LEN, 2: LEN, 3: LEN }), 1)]).map((f) => msg(2, f));
const resource: fc.Arbitrary<Field> = shuffled([attributes(1, 3), some(u64Value.map((v) => u64(2, v)), 1), some(junkFor({ 1: LEN, 2: VARINT }), 1)]).map((f) => msg(1, f));
const resourceSpans: fc.Arbitrary<Field> = shuffled([some(resource, 2), some(scopeSpans, 3), some(utf8ish.map((s) => str(3, s)), 1), some(junkFor({ 1: LEN, 2: LEN, 3: LEN }), 1)]).map((f) => msg(1, f));
const request: fc.Arbitrary<Buffer> = shuffled([some(resourceSpans, 3), some(junkFor({ 1: LEN }), 2)]).map(bytesOf);

// ---------------------------------------------------------------------------------------------

type Outcome = { ok: true; batch: DecodedBatch } | { ok: false; error: unknown };
function run(decode: (b: Uint8Array) => DecodedBatch, bytes: Uint8Array): Outcome {
  try {
    return { ok: true, batch: decode(bytes) };
  } catch (error) {
    return { ok: false, error };
  }
}

/**
 * decodeShard's contract, for every shard of `shards`: when the whole message decodes, exactly its
 * shard's records, every valid span counted, positions indexing them; whatever the bytes, nothing
 * thrown but an OtlpDecodeError (a shard may skip the damaged part of another shard's span).
 */
function shardsAgree(bytes: Uint8Array, shards: number): void {
  const whole = run(decodeOtlpTraces, bytes);
  for (let shard = 0; shard < shards; shard++) {
    const part = run((b) => decoder.decodeShard(b, shard, shards), bytes);
    if (!part.ok) expect(part.error).toBeInstanceOf(OtlpDecodeError);
    if (!whole.ok) continue;
    if (!part.ok) throw part.error;
    const batch = part.batch as ShardBatch;
    const mine = whole.batch.spans.flatMap((s, i) => (shardOfTraceId(s.traceId, shards) === shard ? [i] : []));
    expect(batch.accepted).toBe(whole.batch.spans.length);
    expect(batch.positions).toEqual(mine);
    expect(batch.spans).toEqual(mine.map((i) => whole.batch.spans[i]));
  }
}

/**
 * The contract: whatever protobufjs accepts, the wire decoder decodes to the same records; what
 * protobufjs refuses, the wire decoder refuses with an OtlpDecodeError or (when the damage is in a
 * part it skips) decodes. It never throws anything else.
 */
function agree(bytes: Uint8Array): boolean {
  const reference = run(decodeProtobufRequestReference, bytes);
  const wire = run(decodeOtlpTraces, bytes);
  if (!wire.ok && !(wire.error instanceof OtlpDecodeError)) throw wire.error;
  if (!wire.ok) expect((wire.error as Error).message).toMatch(/^invalid OTLP protobuf ExportTraceServiceRequest \(.* at byte \d+\)$/);
  if (reference.ok) {
    if (!wire.ok) throw new Error(`protobufjs accepts what the wire decoder refuses: ${(wire.error as Error).message}`);
    expect(wire.batch).toEqual(reference.batch);
  }
  return reference.ok;
}

function fixture(name: string): Buffer {
  return readFileSync(new URL(`../testdata/${name}`, import.meta.url));
}

/** The messages of a length-delimited file. */
function messages(file: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at + 4 <= file.length; ) {
    const n = file.readUInt32BE(at);
    out.push(file.subarray(at + 4, at + 4 + n));
    at += 4 + n;
  }
  return out;
}

async function sdkMessage(): Promise<Buffer> {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ resource: resourceFromAttributes({ 'service.name': 'recruit', 'n': 3 }), spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const tracer = provider.getTracer('django');
  const server = tracer.startSpan('GET dashboard/', { kind: ApiSpanKind.SERVER, attributes: { 'http.method': 'GET', 'http.route': 'dashboard/', 'http.status_code': 200 } });
  const ctx = trace.setSpan(context.active(), server);
  for (let i = 0; i < 3; i++) {
    const q = tracer.startSpan('SELECT', { kind: ApiSpanKind.CLIENT, attributes: { 'db.system': 'postgresql', 'db.statement': `SELECT ${i}`, 'db.rows': [1, 2], ok: true, ratio: 0.5 } }, ctx);
    q.addEvent('row', { n: i });
    q.end();
  }
  server.end();
  return Buffer.from(ProtobufTraceSerializer.serializeRequest(exporter.getFinishedSpans())!);
}

const REAL = [
  ...messages(fixture('collector-file-exporter.binpb')),
  ...messages(fixture('django-sqlite-old-semconv.otlp.pb')),
  ...messages(fixture('django-sqlite-stable-semconv.otlp.pb')),
  fixture('python-json-format.pb'),
  Buffer.from(encodeProtobuf(djangoRequest({ semconv: 'stable', repeats: 7 }))),
];

describe('decodeOtlpTraces', () => {
  test('decodes every real fixture to what protobufjs decodes, the reverse-order Collector one included', async () => {
    for (const bytes of [...REAL, await sdkMessage()]) {
      expect(agree(bytes)).toBe(true);
      expect(decodeOtlpTraces(bytes).spans.length).toBeGreaterThan(0);
    }
    const [collector] = messages(fixture('collector-file-exporter.binpb'));
    expect(decodeOtlpTraces(collector!).spans[1]).toMatchObject({ service: expect.any(String), dbSystem: 'postgresql', peer: 'db' });
  });

  test('agrees with protobufjs on random messages: any field order, repeats, splits, unknown and mistyped fields', () => {
    let accepted = 0;
    let total = 0;
    fc.assert(
      fc.property(request, (bytes) => {
        total++;
        if (agree(bytes)) accepted++;
      }),
      { numRuns: 2500 },
    );
    // The generator writes valid protobuf: protobufjs must accept (nearly) all of it, or the test proves little.
    expect(accepted / total).toBeGreaterThan(0.95);
    // 2500 messages through both decoders: past vitest's 30 s on a shared 2-core machine under load.
  }, 120_000);

  test("decodeShard: each shard gets exactly its traces' records, every shard counts every valid span, positions index them", () => {
    for (const bytes of REAL) for (const shards of [2, 3]) shardsAgree(bytes, shards);
    fc.assert(
      fc.property(request, fc.integer({ min: 2, max: 4 }), (bytes, shards) => shardsAgree(bytes, shards)),
      { numRuns: 400 },
    );
  }, 120_000);

  test("decodeShardTo: the sink gets exactly decodeShard's spans of the shard, spanIndex giving each one's position", () => {
    const check = (bytes: Uint8Array, shards: number): void => {
      for (let shard = 0; shard < shards; shard++) {
        const part = run((b) => decoder.decodeShard(b, shard, shards), bytes);
        if (!part.ok) continue;
        const batch = part.batch as ShardBatch;
        const seen: { traceId: string; spanId: string; statement: string | undefined; at: number }[] = [];
        const word = (w: number): string => w.toString(16).padStart(8, '0');
        const sink: SpanSink = {
          // A plain DB span's id comes as words, its statement as text + comment: together they must be the record's.
          dbSpan: (s) => void seen.push({ traceId: s.traceId, spanId: word(s.spanIdHi) + word(s.spanIdLo), statement: s.statement + s.comment, at: decoder.spanIndex }),
          span: (r) => void seen.push({ traceId: r.traceId, spanId: r.spanId, statement: r.dbStatement, at: decoder.spanIndex }),
        };
        const sunk = decoder.decodeShardTo(bytes, sink, shard, shards);
        expect(sunk.accepted).toBe(batch.accepted);
        expect(sunk.rejected).toEqual(batch.rejected);
        expect(seen).toEqual(batch.spans.map((s, i) => ({ traceId: s.traceId, spanId: s.spanId, statement: s.dbStatement, at: batch.positions[i] })));
      }
    };
    for (const bytes of REAL) for (const shards of [1, 2, 3]) check(bytes, shards);
    fc.assert(
      fc.property(request, fc.integer({ min: 1, max: 4 }), (bytes, shards) => check(bytes, shards)),
      { numRuns: 300 },
    );
  }, 120_000);

  test('scanTraces: the trace ids decode finds, in order of first span, without decoding; on any message decode takes, no throw and no span missed', () => {
    for (const bytes of REAL) {
      const scan = decoder.scanTraces(bytes);
      const spans = decodeOtlpTraces(bytes).spans;
      expect([...new Set(scan.traceIds)]).toEqual([...new Set(spans.map((s) => s.traceId))]);
      // An id comes again only past the last 16 noted: interleaved requests are not one entry per span.
      scan.traceIds.forEach((id, i) => expect(scan.traceIds.slice(Math.max(0, i - 16), i)).not.toContain(id));
      expect(scan.spans).toBe(spans.length);
      expect(scan.wireBytes).toBeGreaterThan(0);
      expect(scan.wireBytes).toBeLessThan(bytes.length);
    }
    fc.assert(
      fc.property(request, (bytes) => {
        const whole = run(decodeOtlpTraces, bytes);
        if (!whole.ok) return;
        const scan = decoder.scanTraces(bytes);
        // Every valid span is noted (a span whose first trace id the decode overrides with a later one, by that first id).
        expect(scan.spans).toBeGreaterThanOrEqual(whole.batch.spans.length);
        expect(scan.traceIds.length).toBeLessThanOrEqual(scan.spans);
      }),
      { numRuns: 500 },
    );
  }, 120_000);

  test("decodeTo: a statement's trailing comment comes apart, the text before it shared across requests and the comment across a request's statements", () => {
    const STATEMENTS = [
      'SELECT "auth_user"."id", "auth_user"."username" FROM "auth_user" WHERE "auth_user"."id" = %s LIMIT 21',
      'SELECT "recruit_note"."id", "recruit_note"."body" FROM "recruit_note" WHERE "recruit_note"."application_id" = %s',
    ];
    const comment = (t: number): string => ` /*controller='recruit.views.dashboard',traceparent='00-${t}${'a'.repeat(31)}-00f067aa0ba902b7-01'*/`;
    const bodies = [
      ...[1, 2].flatMap((t) => STATEMENTS.map((sql) => ({ t, sql: sql + comment(t) }))),
      // Not split (a comment that is not trailing, one with non-ASCII bytes, one that is all the statement), yet whole.
      { t: 3, sql: `${STATEMENTS[0]} /* a */ -- b` },
      { t: 3, sql: `${STATEMENTS[0]} /* ünïcode */` },
      { t: 3, sql: `/* only a comment, long enough for the statement memo to keep it */` },
      { t: 3, sql: `${STATEMENTS[1]}é/*x*/` },
    ];
    const request = {
      resourceSpans: [{
        resource: { attributes: [{ key: 'service.name', value: { stringValue: 'recruit' } }] },
        scopeSpans: [{
          scope: { name: 's' },
          spans: bodies.map(({ t, sql }, i) => ({
            traceId: `${t}${'a'.repeat(31)}`, spanId: (i + 16).toString(16).padStart(16, '0'), parentSpanId: '00f067aa0ba902b7', name: 'SELECT', kind: 3,
            startTimeUnixNano: '1700000000000000000', endTimeUnixNano: '1700000000001000000',
            attributes: [{ key: 'db.system', value: { stringValue: 'postgresql' } }, { key: 'db.statement', value: { stringValue: sql } }],
          })),
        }],
      }],
    };
    const bytes = encodeProtobuf(request);
    const seen: { text: string; comment: string }[] = [];
    createWireDecoder().decodeTo(bytes, { dbSpan: (s) => void seen.push({ text: s.statement, comment: s.comment }), span: () => expect.fail('a plain DB span') });
    expect(seen.map((s) => s.text + s.comment)).toEqual(bodies.map((b) => b.sql));
    expect(seen.slice(0, 4).map((s) => s.text)).toEqual([...STATEMENTS, ...STATEMENTS].map((sql) => `${sql} `));
    expect(seen.slice(0, 4).map((s) => s.comment)).toEqual([comment(1), comment(1), comment(2), comment(2)].map((c) => c.slice(1)));
    expect(seen.slice(4).map((s) => s.comment)).toEqual(['', '', '', '']);
    // decode() (records) gives the whole statements.
    expect(createWireDecoder().decode(bytes).spans.map((s) => s.dbStatement)).toEqual(bodies.map((b) => b.sql));
  });

  test('agrees on a Uint8Array that is not a Buffer', () => {
    const bytes = new Uint8Array(REAL[1]!);
    expect(decodeOtlpTraces(bytes)).toEqual(decodeProtobufRequestReference(Buffer.from(bytes)));
  });

  test('reads every AnyValue type under a folded key as readPbValue does', () => {
    const value = (v: Field[]): Buffer =>
      bytesOf([msg(1, [msg(2, [msg(2, [{ no: 1, wire: LEN, content: TRACE_POOL[0]! }, { no: 2, wire: LEN, content: SPAN_POOL[0]! }, msg(9, [str(1, 'http.route'), msg(2, v)]), msg(9, [str(1, 'http.url'), msg(2, v)])])])])]);
    const cases: [Field[], string | undefined][] = [
      [[str(1, 'orders/')], 'orders/'],
      [[u64(2, 1n)], 'true'],
      [[u64(2, 0n)], 'false'],
      [[u64(3, -42n)], '-42'],
      [[u64(3, 1n << 40n)], String(1n << 40n)],
      [[fixed64(4, 0x3ff8000000000000n)], '1.5'],
      [[msg(5, [msg(1, [str(1, 'x')])])], undefined],
      [[msg(6, [])], undefined],
      [[{ no: 7, wire: LEN, content: [1, 2] }], undefined],
      [[], undefined],
      [[str(1, 'a'), u64(3, 7n)], '7'], // a oneof keeps its last member
      [[u64(3, 7n), str(1, 'a')], 'a'],
    ];
    for (const [v, expected] of cases) {
      const bytes = value(v);
      expect(agree(bytes)).toBe(true);
      expect(decodeOtlpTraces(bytes).spans[0]?.httpRoute).toBe(expected);
    }
  });

  test('reads invalid UTF-8 in a field it uses as U+FFFD, where protobufjs refuses the whole message', () => {
    const bytes = bytesOf([msg(1, [msg(2, [msg(2, [{ no: 1, wire: LEN, content: TRACE_POOL[0]! }, { no: 2, wire: LEN, content: SPAN_POOL[0]! }, { no: 5, wire: LEN, content: [0x47, 0xff, 0x45] }])])])]);
    expect(() => decodeProtobufRequestReference(bytes)).toThrow(OtlpDecodeError);
    expect(decodeOtlpTraces(bytes).spans[0]?.name).toBe('G\uFFFDE');
  });

  test('skips unknown fields written packed and unpacked, and groups with nested groups', () => {
    const packed: Field = { no: 99, wire: LEN, content: [...varint(1n), ...varint(300n), ...varint(1n << 60n)] };
    const unpacked: Field[] = [u64(99, 1n), u64(99, 300n), u64(99, 1n << 60n)];
    const group: Field = { no: 77, wire: SGROUP, content: [u64(1, 5n), { no: 2, wire: SGROUP, content: [str(3, 'x')] }, fixed64(4, 1n)] };
    const base = [{ no: 1, wire: LEN, content: TRACE_POOL[0]! }, { no: 2, wire: LEN, content: SPAN_POOL[0]! }, str(5, 'GET x') ] as Field[];
    for (const extra of [[packed], unpacked, [group], [packed, group, ...unpacked]]) {
      const bytes = bytesOf([msg(1, [...extra, msg(2, [...extra, msg(2, [...extra, ...base, ...extra])])])]);
      expect(agree(bytes)).toBe(true);
      expect(decodeOtlpTraces(bytes).spans).toHaveLength(1);
    }
  });

  test('names the byte offset of truncation and corruption', () => {
    const good = REAL[0]!;
    expect(() => decodeOtlpTraces(good.subarray(0, good.length - 1))).toThrow(/truncated .* at byte \d+\)$/);
    expect(() => decodeOtlpTraces(Uint8Array.of(0x0f, 0x00))).toThrow('invalid OTLP protobuf ExportTraceServiceRequest (invalid wire type 7 for field 1 at byte 1)');
    expect(() => decodeOtlpTraces(Uint8Array.of(0x0c))).toThrow(/invalid wire type 4/);
    expect(() => decodeOtlpTraces(Uint8Array.of(0x02, 0x00))).toThrow(/invalid field number 0 at byte 0/);
    expect(() => decodeOtlpTraces(Uint8Array.of(0x0b, 0x14))).toThrow(/end-group tag 2 inside group 1 at byte 1/);
    expect(() => decodeOtlpTraces(Uint8Array.of(0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f))).toThrow(/invalid length/);
  });

  test('names the part of the message a truncation cuts, and refuses tags and lengths past 32 bits', () => {
    const cases: [number[], RegExp][] = [
      [[0x0a], /\(truncated length of resource_spans: /],
      [[0x0a, 0x05], /\(truncated resource_spans: needs 5 bytes, only 0 left/],
      [[0x0a, 0x01, 0x0a], /\(truncated length of ResourceSpans field: /],
      [[0x0a, 0x02, 0x0a, 0x05], /\(truncated resource: needs 5 bytes/],
      [[0x0a, 0x02, 0x12, 0x05], /\(truncated scope_spans: needs 5 bytes/],
      [[0x0a, 0x03, 0x0a, 0x01, 0x0a], /\(truncated length of a resource attribute: /],
      [[0x0a, 0x04, 0x0a, 0x02, 0x0a, 0x05], /\(truncated resource attribute: needs 5 bytes/],
      [[0x0a, 0x03, 0x12, 0x01, 0x12], /\(truncated length of a span: /],
      [[0x0a, 0x04, 0x12, 0x02, 0x12, 0x05], /\(truncated span: needs 5 bytes/],
      [[0x80, 0x80, 0x80, 0x80, 0x10], /invalid field tag \(more than 32 bits\) at byte 0/],
      [[0x80, 0x80], /\(truncated field tag: /],
      [[0x0a, 0xff, 0xff, 0xff, 0xff, 0x08], /invalid length \(2\^31 bytes or more\) at byte 1/],
      [[0x0a, 0xff, 0xff], /\(truncated length: /],
    ];
    for (const [bytes, message] of cases) expect(() => decodeOtlpTraces(Uint8Array.from(bytes)), bytes.join(',')).toThrow(message);
  });

  test('refuses groups nested past 100 without exhausting the stack', () => {
    const depth = 100_000;
    const bytes = Buffer.alloc(depth * 2);
    for (let i = 0; i < depth; i++) bytes[i] = 0x0b; // field 1, start group
    expect(() => decodeOtlpTraces(bytes)).toThrow(/groups nested more than 100 deep/);
  });

  test('throws only OtlpDecodeError on damaged messages, and agrees whenever protobufjs accepts them', () => {
    const damaged = fc
      .tuple(fc.oneof(fc.constantFrom(...REAL), request), fc.nat(), fc.nat(255), fc.constantFrom('truncate', 'flip', 'insert', 'delete', 'ff'))
      .map(([bytes, at, byte, how]) => {
        const i = bytes.length === 0 ? 0 : at % bytes.length;
        const b = Buffer.from(bytes);
        switch (how) {
          case 'truncate':
            return b.subarray(0, i);
          case 'flip':
            if (b.length > 0) b[i] = b[i]! ^ (1 << (byte & 7));
            return b;
          case 'insert':
            return Buffer.concat([b.subarray(0, i), Buffer.of(byte), b.subarray(i)]);
          case 'delete':
            return Buffer.concat([b.subarray(0, i), b.subarray(i + 1 + (byte & 3))]);
          default:
            if (b.length > 0) b[i] = 0xff;
            return b;
        }
      });
    fc.assert(fc.property(damaged, (bytes) => void agree(bytes)), { numRuns: 3000 });
    // Shards walk other shards' spans by their own path (SpanReader's fast walk): the same contract.
    fc.assert(fc.property(damaged, fc.integer({ min: 2, max: 3 }), (bytes, shards) => shardsAgree(bytes, shards)), { numRuns: 1000 });
  }, 120_000);

  test('throws only OtlpDecodeError on random bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => void agree(bytes)), { numRuns: 3000 });
  });
});
