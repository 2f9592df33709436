/**
 * The lazy JSON reader against JSON.parse + json.ts (what n1-report ran per line before it): every
 * line it reads hands the sink exactly the spans the decoded records stand for, and every line it
 * does not understand, or JSON.parse refuses, it gives up with nothing handed over.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Analyzer } from '../analyzer.js';
import type { RequestAnalysis } from '../detect/types.js';
import { OtlpDecodeError } from './errors.js';
import { createUnitDecoders, decodeJsonLineTo } from './file.js';
import { createJsonDecoder } from './json.js';
import { createLazyJsonReader, type LazyJsonReader } from './json-lazy.js';
import { StatementSplitter } from './statement-split.js';
import { refusedIn, type DecodedBatch, type SpanRecord, type SpanSink } from './span.js';
import { spansRead } from './wire/decoder.js';
import { djangoRequest, jsonLines, withInstrumentationLibrary, type OtlpJsonRequest } from './testing.js';

/** What a sink is handed, as comparable values: a plain DB span as its record's fields, others as records. */
type Handed = SpanRecord | { db: true; traceId: string; spanId: string; parentSpanId: string; startMs: number; endMs: number; dbSystem: string; dbStatement: string; service: string; location: unknown };

function collect(): { sink: SpanSink; handed: Handed[] } {
  const handed: Handed[] = [];
  const hex = (w: number) => w.toString(16).padStart(8, '0');
  return {
    handed,
    sink: {
      dbSpan(s) {
        handed.push({
          db: true, traceId: s.traceId, spanId: hex(s.spanIdHi) + hex(s.spanIdLo), parentSpanId: s.parentSpanId, startMs: s.startMs, endMs: s.endMs,
          dbSystem: s.system, dbStatement: s.statement + s.comment, service: s.service, location: s.location,
        });
      },
      span(record) {
        handed.push(record);
      },
    },
  };
}

/** The wire decoder's (and CompactTrace's) rule for a plain DB span, on a record. */
function asHanded(r: SpanRecord): Handed {
  if (r.dbSystem !== undefined && r.dbStatement !== undefined && r.dbStatement !== '' && r.parentSpanId !== '' && r.kind !== 2 && r.kind !== 5) {
    return { db: true, traceId: r.traceId, spanId: r.spanId, parentSpanId: r.parentSpanId, startMs: r.startMs, endMs: r.endMs, dbSystem: r.dbSystem, dbStatement: r.dbStatement, service: r.service, location: r.location };
  }
  return r;
}

/** JSON.parse + json.ts on the line's bytes (as file.ts decodes them): its batch, or the error message. */
function reference(line: Buffer): DecodedBatch | string {
  try {
    return createJsonDecoder().decodeRequest(line);
  } catch (err) {
    if (!(err instanceof OtlpDecodeError)) throw err;
    return err.message;
  }
}

/** Checks one line; returns whether the lazy reader read it (false: it gave it up). */
function check(reader: LazyJsonReader, line: string | Buffer): boolean {
  // A test's string may hold lone surrogates; both readers get the same UTF-8 bytes.
  const bytes = typeof line === 'string' ? Buffer.from(line, 'utf8') : line;
  const expected = reference(bytes);
  const { sink, handed } = collect();
  const batch = reader.decodeTo(bytes, sink);
  if (batch === undefined) {
    expect(handed).toEqual([]);
    return false;
  }
  if (typeof expected === 'string') throw new Error(`the lazy reader read a line json.ts refuses (${expected}): ${bytes.toString('utf8', 0, 300)}`);
  expect(handed).toEqual(expected.spans.map(asHanded));
  expect(batch.accepted).toBe(expected.spans.length);
  expect(batch.rejected).toEqual(expected.rejected);
  return true;
}

// ---------------------------------------------------------------------------------------------
// Requests as writers produce them (the reader must read every one), and with the quirks json.ts accepts.

const hexId = (bytes: number) => fc.uint8Array({ minLength: bytes, maxLength: bytes }).map((b) => Buffer.from(b).toString('hex'));
const text = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('GET', 'db', 'postgresql', 'sqlite', 'api/jobs/<int:pk>/', 'https://api.example.com:8443/x', 'web-1', '') },
  { weight: 2, arbitrary: fc.string({ maxLength: 20 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 20 }) },
  { weight: 1, arbitrary: fc.constantFrom('tab\there', 'quote " and \\ backslash', 'naïve café ✓ 𝄞', '\u2028\u2029', '\ud800 lone', '/* c */') },
);
const statement = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('SELECT "auth_user"."id", "auth_user"."username" FROM "auth_user" WHERE "auth_user"."id" = %s LIMIT 21', 'SELECT 1', 'BEGIN', 'UPDATE "t" SET "v" = %s WHERE "id" = %s') },
  { weight: 2, arbitrary: fc.tuple(fc.constantFrom('SELECT "a"."id" FROM "a" WHERE "a"."b_id" = %s', 'SELECT * FROM t WHERE x = \'é\''), hexId(16)).map(([sql, trace]) => `${sql} /*controller='index',traceparent='00-${trace}-00f067aa0ba902b7-01'*/`) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 200 }) },
  { weight: 1, arbitrary: fc.string({ minLength: 40, maxLength: 3000 }) },
);
const plainValue = fc.oneof(
  { weight: 6, arbitrary: text.map((stringValue) => ({ stringValue })) },
  { weight: 1, arbitrary: fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n }).map((v) => ({ intValue: String(v) })) },
  { weight: 1, arbitrary: fc.integer().map((intValue) => ({ intValue })) },
  { weight: 1, arbitrary: fc.double({ noNaN: true, noDefaultInfinity: true }).map((doubleValue) => ({ doubleValue })) },
  { weight: 1, arbitrary: fc.boolean().map((boolValue) => ({ boolValue })) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 6 }).map((b) => ({ bytesValue: Buffer.from(b).toString('base64') })) },
  { weight: 1, arbitrary: fc.array(text.map((stringValue) => ({ stringValue })), { maxLength: 3 }).map((values) => ({ arrayValue: { values } })) },
  { weight: 1, arbitrary: fc.array(fc.record({ key: text, value: text.map((stringValue) => ({ stringValue })) }), { maxLength: 3 }).map((values) => ({ kvlistValue: { values } })) },
  { weight: 1, arbitrary: fc.constant({}) },
);
const foldedKeys = fc.constantFrom(
  'http.method', 'http.request.method', 'http.route', 'url.path', 'http.target', 'db.system', 'db.system.name', 'server.address',
  'net.peer.name', 'url.full', 'http.url', 'messaging.system', 'rpc.system', 'client.address', 'http.client_ip', 'net.peer.ip',
  'user_agent.original', 'http.user_agent', 'code.filepath', 'code.lineno', 'code.function', 'code.namespace', 'n1lens.view',
  'n1lens.template.path', 'n1lens.template.line', 'service.name', 'db.name', 'net.peer.port', 'x',
);
const attribute = fc.oneof(
  { weight: 6, arbitrary: fc.record({ key: foldedKeys, value: plainValue }) },
  { weight: 3, arbitrary: fc.record({ key: fc.constantFrom('db.statement', 'db.query.text'), value: statement.map((stringValue) => ({ stringValue })) }) },
  { weight: 1, arbitrary: fc.record({ key: foldedKeys }) },
);
const nanos = fc.oneof(
  { weight: 6, arbitrary: fc.bigInt({ min: 1_700_000_000_000_000_000n, max: 1_700_000_000_100_000_000n }).map(String) },
  { weight: 1, arbitrary: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map(String) },
  { weight: 1, arbitrary: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map((v) => `000${v}`.slice(-20)) },
  { weight: 1, arbitrary: fc.maxSafeNat() },
);
const traceIds = fc.oneof({ weight: 4, arbitrary: fc.constantFrom('4bf92f3577b34da6a3ce929d0e0e4736', '5af92f3577b34da6a3ce929d0e0e4737') }, { weight: 1, arbitrary: hexId(16) }, { weight: 1, arbitrary: fc.constantFrom('0'.repeat(32), '') });
const spanFields = {
  traceId: traceIds,
  spanId: fc.oneof({ weight: 8, arbitrary: hexId(8) }, { weight: 1, arbitrary: fc.constantFrom('0'.repeat(16), '') }),
  parentSpanId: fc.oneof(fc.constantFrom('', '0'.repeat(16), '00f067aa0ba902b7'), hexId(8)),
  traceState: fc.constant(''),
  flags: fc.constantFrom(0, 256, 257),
  name: text,
  kind: fc.oneof(fc.integer({ min: 0, max: 6 }), fc.constantFrom('SPAN_KIND_SERVER', 'SPAN_KIND_CLIENT', 'SPAN_KIND_INTERNAL')),
  startTimeUnixNano: nanos,
  endTimeUnixNano: nanos,
  attributes: fc.array(attribute, { maxLength: 8 }),
  droppedAttributesCount: fc.nat(3),
  events: fc.array(fc.record({ timeUnixNano: nanos, name: text, attributes: fc.array(fc.record({ key: text, value: plainValue }), { maxLength: 2 }) }), { maxLength: 2 }),
  links: fc.constant([]),
  status: fc.oneof(fc.constant({}), fc.record({ code: fc.constantFrom(0, 1, 2, 'STATUS_CODE_ERROR', 'STATUS_CODE_OK'), message: text }, { requiredKeys: [] })),
};
const span = fc.record(spanFields, { requiredKeys: ['traceId', 'spanId'] });
const resourceAttribute = fc.oneof(
  fc.record({ key: fc.constantFrom('service.name', 'service.instance.id', 'host.name', 'process.pid', 'telemetry.sdk.name'), value: plainValue }),
  fc.record({ key: fc.constantFrom('service.name', 'host.name') }),
);
const request = fc.record({
  resourceSpans: fc.array(
    fc.record(
      {
        resource: fc.record({ attributes: fc.array(resourceAttribute, { maxLength: 5 }), droppedAttributesCount: fc.nat(2) }, { requiredKeys: [] }),
        scopeSpans: fc.array(fc.record({ scope: fc.record({ name: text, version: text }), spans: fc.array(span, { maxLength: 6 }), schemaUrl: text }, { requiredKeys: ['spans'] }), { maxLength: 2 }),
        schemaUrl: text,
      },
      { requiredKeys: ['scopeSpans'] },
    ),
    { maxLength: 3 },
  ),
});

/** Rewrites of the JSON text that json.ts accepts (or refuses) and the lazy reader may give up. */
const quirk = fc.constantFrom(
  (t: string) => t.replace(/"traceId"/g, '"trace_id"'),
  (t: string) => t.replace(/"spanId"/, '"span_id"'),
  (t: string) => t.replace(/"startTimeUnixNano"/, '"start_time_unix_nano"'),
  (t: string) => t.replace(/"stringValue"/, '"string_value"'),
  (t: string) => t.replace(/"scopeSpans"/, '"scope_spans"'),
  (t: string) => t.replace(/"resourceSpans"/, '"resource_spans"'),
  (t: string) => t.replace(/"traceId":"([0-9a-f]{32})"/, (_, h: string) => `"traceId":"${Buffer.from(h, 'hex').toString('base64')}"`),
  (t: string) => t.replace(/"parentSpanId":"([0-9a-f]{16})"/, (_, h: string) => `"parentSpanId":"${h.toUpperCase()}"`),
  (t: string) => t.replace(/"startTimeUnixNano":"(\d+)"/, (_, n: string) => `"startTimeUnixNano":${n}`),
  (t: string) => t.replace(/"kind":(\d)/, (_, k: string) => `"kind":${k}.0`),
  (t: string) => t.replace(/"status":\{\}/, '"status":null'),
  (t: string) => t.replace(/"attributes":\[/, '"attributes":null,"x":['),
  (t: string) => t.replace(/"name":/, '"name":null,"name":'),
  (t: string) => t.replace(/"traceId":/, '"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","traceId":'),
  (t: string) => t.replace(/\{"key":"([^"]*)","value":(\{[^{}]*\})\}/, '{"value":$2,"key":"$1"}'),
  (t: string) => t.replace(/"value":\{"stringValue"/, '"value":{"intValue":"1","stringValue"'),
  (t: string) => t.replace(/"intValue":"(-?\d+)"/, '"intValue":$1'),
  (t: string) => t.replace(/"intValue":"(-?\d+)"/, '"doubleValue":"$1"'),
  (t: string) => t.replace(/"boolValue":(true|false)/, '"boolValue":"$1"'),
  (t: string) => t.replace(/"resource":(\{[^[\]]*\}),"scopeSpans":(\[.*?\])\}/, '"scopeSpans":$2,"resource":$1}'),
  (t: string) => t.replace(/,/g, ' ,\t').replace(/:/g, ' : '),
  (t: string) => ` \r${t}\r `,
  (t: string) => t.replace(/"key":"db\.system"/, '"key":"db\\u002esystem"'),
  (t: string) => t.replace(/"name":"/, '"name":"\\u00e9\\n\\"'),
  (t: string) => t.replace(/\{"stringValue":"/, '{"stringValue":"\\ud83d\\ude00'),
  (t: string) => `{"x":1,${t.slice(1)}`,
  (t: string) => `\ufeff${t}`,
  (t: string) => t.replace(/\}$/, ',"resourceSpans":[]}'),
  (t: string) => t.replace(/"flags":\d+/, '"flags":1e400'),
  (t: string) => t.replace(/"flags":\d+/, '"flags":[[[{"a":[true,false,null,-0.5e-3]}]]]'),
);
/** Damage: what JSON.parse refuses (or, rarely, still accepts). */
const damage = fc.tuple(fc.nat(), fc.constantFrom('', '"', '\\', '{', '}', ',', ':', '\u0001', '\t', 'x', '0', '\\u12', '\\x', '-', '01', 'tru', '\u0000', '\u007f', 'é'), fc.nat(3)).map(
  ([at, insert, drop]) =>
    (t: string) => {
      const i = at % (t.length + 1);
      return t.slice(0, i) + insert + t.slice(i + drop);
    },
);

describe('createLazyJsonReader', () => {
  it('reads every request as writers lay it out, handing over what JSON.parse + json.ts decode', () => {
    const reader = createLazyJsonReader();
    fc.assert(
      fc.property(request, (r) => {
        expect(check(reader, JSON.stringify(r))).toBe(true);
      }),
      { numRuns: 1500 },
    );
  });

  it('gives up or reads exactly as json.ts does every line with a quirk json.ts tolerates or refuses', () => {
    const reader = createLazyJsonReader();
    let read = 0;
    let gaveUp = 0;
    fc.assert(
      fc.property(request, fc.array(quirk, { minLength: 1, maxLength: 3 }), (r, quirks) => {
        const line = quirks.reduce((t, q) => q(t), JSON.stringify(r));
        if (line.includes('\n')) return;
        if (check(reader, line)) read++;
        else gaveUp++;
      }),
      { numRuns: 2000 },
    );
    expect(read).toBeGreaterThan(0);
    expect(gaveUp).toBeGreaterThan(0);
  });

  it('never reads a line that JSON.parse refuses', () => {
    const reader = createLazyJsonReader();
    fc.assert(
      fc.property(request, fc.array(damage, { minLength: 1, maxLength: 2 }), (r, damages) => {
        const line = damages.reduce((t, d) => d(t), JSON.stringify(r));
        if (line.includes('\n')) return;
        try {
          check(reader, line);
        } catch (err) {
          throw new Error(`${(err as Error).message.slice(0, 2000)}\nLINE ${line}`);
        }
      }),
      { numRuns: 3000, endOnFailure: true },
    );
  });

  it('finds a control character, a quote or a backslash at every place in a string it scans four bytes at a time', () => {
    const reader = createLazyJsonReader();
    const line = jsonLines([djangoRequest({ repeats: 2 })]).trim();
    const at = line.indexOf('SELECT');
    expect(at).toBeGreaterThan(0);
    for (let i = at; i < at + 24; i++) {
      for (const inserted of ['\u0001', '\u001f', '\t', '"', '\\', '\\n', '\\"', '\\u00e9', 'é', '\u007f']) {
        // Every variant is either read exactly as json.ts reads it, or given up with nothing handed over.
        check(reader, line.slice(0, i) + inserted + line.slice(i));
      }
    }
  });

  it("splits statements missed by its memo at their comment exactly as the splitter splits their text", () => {
    const reader = createLazyJsonReader();
    const tp = (i: number) => `traceparent='00-4bf92f3577b34da6a3ce929d0e0e47${String(i).padStart(2, '0')}-00f067aa0ba902b7-01'`;
    const long = 'SELECT "recruit_note"."id", "recruit_note"."body" FROM "recruit_note" WHERE "recruit_note"."candidate_id" = %s';
    const statements = [
      ...[1, 2, 3].map((i) => `${long} /*controller='notes',${tp(i)}*/`), // one text, three comments
      `SELECT a FROM t WHERE x = 1 AND y = 2 AND z = 3 AND w = 4 /*k='v'*/`, // no escape at all
      `${long} /*c="x",${tp(4)}*/`, // an escape inside the comment
      `${long} '\\'/*${tp(5)}*/`, // an escaped backslash just before it
      `SELECT 1 /*${tp(6)}*/`, // a short text
      `${long} /*/`, // a 3-byte comment
      `${long} /**/`,
      `${long} */`, // an end but no start
      `/*${tp(7)}*/`, // nothing before the comment
      `SELECT /* a */ x FROM "t" WHERE y = 'é' /* b ${tp(8)} ✓ */`, // two comments, non-ASCII
      `${long} x@/* c ${tp(10)} */`, // an escaped slash starting it (x\/* in the line)
      `SELECT 'caf@' FROM "t" WHERE a = %s AND b = %s AND c = %s /*${tp(9)}*/`, // a unicode escape before it
    ];
    const lines: Buffer[] = statements.map((sql, i) => {
      const r = djangoRequest({ repeats: 1 });
      const spans = r.resourceSpans[0]!.scopeSpans[1]!.spans;
      const attribute = spans[0]!.attributes!.find((a) => a.key === 'db.statement')!;
      attribute.value = { stringValue: sql };
      spans[1]!.attributes!.find((a) => a.key === 'db.statement')!.value = { stringValue: sql.replace(tp(i + 1), tp(i + 20)) };
      return Buffer.from(jsonLines([r]).trim().replaceAll('x@/*', 'x\\/*').replaceAll('caf@', 'caf\\u00e9'));
    });
    // Invalid UTF-8 just before a comment (decoded on its own it must give the same U+FFFD).
    const broken = Buffer.from(jsonLines([djangoRequest({ repeats: 1 })]).trim());
    const at = broken.indexOf('"stringValue":"', broken.indexOf('"db.statement"')) + 15;
    lines.push(Buffer.concat([broken.subarray(0, at), Buffer.from(`${JSON.stringify(long).slice(1, -1)} \\"x`), Buffer.from([0xe2, 0x82]), Buffer.from(`/*${tp(30)}*/`), broken.subarray(broken.indexOf('"}}', at))]));
    for (const line of [...lines, ...lines]) {
      const expected = new StatementSplitter();
      const want: [string, string][] = [];
      for (const rs of (JSON.parse(line.toString('utf8')) as OtlpJsonRequest).resourceSpans) {
        for (const span of rs.scopeSpans.flatMap((ss) => ss.spans)) {
          const sql = span.attributes?.find((a) => a.key === 'db.statement')?.value.stringValue;
          if (sql === undefined) continue;
          expected.split(sql);
          want.push([expected.text, expected.comment]);
        }
      }
      const got: [string, string][] = [];
      const batch = reader.decodeTo(line, {
        dbSpan(s) {
          got.push([s.statement, s.comment]);
        },
        span() {},
      });
      expect(batch).toBeDefined();
      expect(got).toEqual(want);
    }
  });

  it('reads every line of the real fixtures and the recording as json.ts does', () => {
    const files = [
      ...readdirSync('src/otlp/testdata').filter((f) => f.endsWith('.jsonl')).map((f) => join('src/otlp/testdata', f)),
      ...readdirSync('src/detect/testdata/connections').filter((f) => f.endsWith('.jsonl')).map((f) => join('src/detect/testdata/connections', f)),
      'samples/traces/recruit.jsonl.gz',
    ];
    const reader = createLazyJsonReader();
    let read = 0;
    for (const file of files) {
      let data = readFileSync(file);
      if (file.endsWith('.gz')) data = gunzipSync(data);
      for (const line of data.toString('utf8').split('\n')) {
        if (line.trim() === '') continue;
        // Python's json_format files (base64 ids) are json.ts's to read.
        if (check(reader, line)) read++;
        else expect(file).toMatch(/pbjson/);
      }
    }
    expect(read).toBeGreaterThan(30);
  });

  it("gives up a resource whose attributes are written twice, whichever is null (JSON.parse keeps the last)", () => {
    const reader = createLazyJsonReader();
    const line = jsonLines([djangoRequest({ repeats: 2 })]).trim();
    const first = '[{"key":"service.name","value":{"stringValue":"first"}}]';
    expect(line).toContain('"resource":{"attributes":[');
    for (const twice of [`"attributes":${first},"attributes":`, `"attributes":${first},"x":1,"attributes":`, '"attributes":null,"attributes":', `"attributes":${first},"attributes":null,"y":`]) {
      const doubled = line.replace('"resource":{"attributes":', `"resource":{${twice}`);
      expect(reference(Buffer.from(doubled))).not.toBeTypeOf('string');
      expect(check(reader, doubled)).toBe(false);
    }
    expect(check(reader, line)).toBe(true);
  });

  it('gives up a list under a name it does not read (instrumentationLibrarySpans, spans under an unknown name), which json.ts reads or refuses', () => {
    const reader = createLazyJsonReader();
    const request = djangoRequest({ repeats: 2 });
    const line = jsonLines([request]).trim();
    for (const given of [JSON.stringify(withInstrumentationLibrary(request)), JSON.stringify(withInstrumentationLibrary(request, true)), line.replace('"scopeSpans":', '"ScopeSpans":'), line.replace('"spans":', '"Spans":')]) {
      expect(check(reader, given)).toBe(false);
    }
    expect(reference(Buffer.from(JSON.stringify(withInstrumentationLibrary(request))))).toEqual(reference(Buffer.from(line)));
    expect(reference(Buffer.from(line.replace('"spans":', '"Spans":')))).toMatch(/Spans holds spans under a name OTLP does not have/);
    // A scope, schemaUrl or any other value that is not a list is still skipped.
    expect(check(reader, line.replace('"scopeSpans":', '"schemaUrl":"x","other":{"a":[1]},"scopeSpans":'))).toBe(true);
  });

  it("gives up an enum name that only an object's prototype has, which json.ts refuses as any unknown name", () => {
    const reader = createLazyJsonReader();
    const line = jsonLines([djangoRequest({ repeats: 2 })]).trim();
    for (const name of ['constructor', 'toString', '__proto__', 'hasOwnProperty', 'SPAN_KIND_BOGUS']) {
      for (const field of [`"kind":"${name}"`, `"kind":2,"status":{"code":"${name}"}`]) {
        const bad = line.replace('"kind":2', field);
        expect(reference(Buffer.from(bad))).toMatch(/(\.kind|\.status\.code) is not one of /);
        expect(check(reader, bad)).toBe(false);
      }
    }
  });

  it('gives up a JSON-number time of 2^64 or more, which json.ts refuses as it refuses the decimal string', () => {
    const reader = createLazyJsonReader();
    const line = jsonLines([djangoRequest({ repeats: 2 })]).trim();
    const at = (time: string) => line.replace(/"startTimeUnixNano":"\d+"/, `"startTimeUnixNano":${time}`);
    for (const time of ['1e30', '18446744073709551616', '1.8446744073709552e19', '18446744073709551615', '"18446744073709551616"']) {
      expect(reference(Buffer.from(at(time)))).toMatch(/startTimeUnixNano is not an unsigned 64-bit integer$/);
      expect(check(reader, at(time))).toBe(false);
    }
    // The largest double below 2^64 is read (its span then ends before it starts).
    expect(check(reader, at('18446744073709549568'))).toBe(true);
  });

  it('reads invalid UTF-8 inside strings as decoding the whole line does (U+FFFD), and refuses it outside', () => {
    const reader = createLazyJsonReader();
    const line = Buffer.from(jsonLines([djangoRequest({ repeats: 3 })]).trim());
    for (const bad of [[0xff], [0xc3], [0xe2, 0x82], [0xf0, 0x9f, 0x98], [0xed, 0xa0, 0x80], [0xc0, 0xaf]]) {
      for (const at of ['FROM', 'GET', 'django']) {
        const i = line.indexOf(at);
        const damaged = Buffer.concat([line.subarray(0, i), Buffer.from(bad), line.subarray(i)]);
        expect(check(reader, damaged)).toBe(true);
      }
      const outside = line.indexOf('"spans"');
      expect(check(reader, Buffer.concat([line.subarray(0, outside), Buffer.from(bad), line.subarray(outside)]))).toBe(false);
    }
  });

  it('keeps nothing of a line it gave up, and its memos hand over the same strings across lines', () => {
    const reader = createLazyJsonReader();
    const lines = jsonLines([djangoRequest({ repeats: 5 }), djangoRequest({ repeats: 5, traceId: '5af92f3577b34da6a3ce929d0e0e4737' })]).trim().split('\n');
    expect(reader.decodeTo(Buffer.from(`${lines[0]!}x`), collect().sink)).toBeUndefined();
    const first = collect();
    const second = collect();
    reader.decodeTo(Buffer.from(lines[0]!), first.sink);
    reader.decodeTo(Buffer.from(lines[1]!), second.sink);
    expect(first.handed.length).toBeGreaterThan(5);
    const statements = (h: Handed[]) => h.flatMap((s) => ('db' in s ? [s.dbStatement] : []));
    expect(statements(second.handed)).toEqual(statements(first.handed));
  });

  it('reads the ids of a line whose buffer held the line before, and the same ids at another place', () => {
    const reader = createLazyJsonReader();
    const [a, b] = jsonLines([djangoRequest({ repeats: 3 }), djangoRequest({ repeats: 3, traceId: '5af92f3577b34da6a3ce929d0e0e4737' })]).trim().split('\n');
    expect(a!.length).toBe(b!.length);
    // The caller reuses one buffer: the previous line's ids must not be compared against its new bytes.
    const buffer = Buffer.from(a!);
    expect(check(reader, buffer)).toBe(true);
    buffer.write(b!);
    expect(check(reader, buffer)).toBe(true);
    // The last line's trace id again, after a longer prefix (the reader compares it with the bytes it kept).
    const moved = b!.replace('{"resourceSpans":[', '{"resourceSpans":  [');
    expect(check(reader, moved)).toBe(true);
    expect(check(reader, a!)).toBe(true);
  });
});

describe('LazyJsonReader.spanIndex', () => {
  it("gives each span handed over its index among all the line's spans, refused ones counted", () => {
    const data = gunzipSync(readFileSync('samples/traces/recruit.jsonl.gz')).toString('utf8');
    const lines = data.split('\n').filter((l) => l.trim() !== '').slice(0, 40);
    // Two traces in one request, and a span the reader refuses (all-zero id) between valid ones: indexes count it.
    const [a, b] = jsonLines([djangoRequest({ repeats: 3 }), djangoRequest({ repeats: 2, traceId: '5af92f3577b34da6a3ce929d0e0e4737' })]).trim().split('\n');
    const both = JSON.stringify({ resourceSpans: [...JSON.parse(a!).resourceSpans, ...JSON.parse(b!).resourceSpans] });
    let n = 0;
    lines.push(both.replace(/"spanId":"[0-9a-f]{16}"/g, (id) => (++n === 3 ? '"spanId":"0000000000000000"' : id)));
    const reader = createLazyJsonReader();
    let refused = 0;
    for (const line of lines) {
      const { sink, handed } = collect();
      const at: number[] = [];
      const batch = reader.decodeTo(Buffer.from(line), {
        dbSpan: (span) => (at.push(reader.spanIndex), sink.dbSpan(span)),
        span: (record) => (at.push(reader.spanIndex), sink.span(record)),
      });
      expect(batch).toBeDefined();
      const read = spansRead(batch!);
      expect(batch!.accepted).toBe(handed.length);
      const expected = reference(Buffer.from(line));
      if (typeof expected === 'string') throw new Error(expected);
      expect(at).toEqual(expected.spans.map((_, i) => expected.ordinals?.[i] ?? i));
      expect(at.every((x, i) => x < read && (i === 0 || x > at[i - 1]!))).toBe(true);
      if (read > handed.length) refused++;
    }
    expect(refused).toBe(1);
  });
});

describe('decodeJsonLineTo', () => {
  it('analyses a recording exactly as Analyzer.add of json.ts records does, lines given up included', () => {
    let data = gunzipSync(readFileSync('samples/traces/recruit.jsonl.gz')).toString('utf8');
    // Every third line in a shape the lazy reader gives up (snake_case), so both paths interleave.
    const lines = data.split('\n').filter((l) => l.trim() !== '').map((l, i) => (i % 3 === 2 ? l.replace(/"traceId"/g, '"trace_id"') : l));
    data = '';
    const options = { maxOpenTraces: 3, traceWaitMs: 40 };
    const byRecords = new Analyzer(options);
    const byLines = new Analyzer(options);
    const decoders = createUnitDecoders();
    const json = createJsonDecoder();
    const expected: RequestAnalysis[] = [];
    const actual: RequestAnalysis[] = [];
    let clock = 0;
    let lineClock = 0;
    lines.forEach((line, i) => {
      const decoded = json.decodeRequest(line);
      const spans = decoded.spans;
      clock += spans.length + refusedIn(decoded);
      expected.push(...byRecords.add(spans, clock), ...byRecords.poll(clock));
      const unit = { raw: 'json-line' as const, bytes: Buffer.from(line), file: 'recruit.jsonl', line: i + 1 };
      const { analyses } = byLines.addDecoded((sink) => decodeJsonLineTo(unit, decoders, sink), (read) => (lineClock += read));
      actual.push(...analyses, ...byLines.poll(lineClock));
    });
    expected.push(...byRecords.flush());
    actual.push(...byLines.flush());
    expect(actual.length).toBeGreaterThan(10);
    expect(actual).toEqual(expected);
  });

  it('throws what decodeUnit throws for a bad line, having handed nothing over', () => {
    const decoders = createUnitDecoders();
    const { sink, handed } = collect();
    const unit = { raw: 'json-line' as const, bytes: Buffer.from('{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":5}]}]}]}'), file: 'x.jsonl', line: 7 };
    expect(() => decodeJsonLineTo(unit, decoders, sink)).toThrow('x.jsonl: line 7: resourceSpans[0].scopeSpans[0].spans[0].traceId is not a string');
    const bad = { ...unit, bytes: Buffer.from('{"resourceSpans":[') };
    expect(() => decodeJsonLineTo(bad, decoders, sink)).toThrow(/x\.jsonl: line 7: invalid JSON/);
    const other = { ...unit, bytes: Buffer.from('{"data":[]}') };
    expect(() => decodeJsonLineTo(other, decoders, sink)).toThrow(/not trace data|looks like/);
    expect(handed).toEqual([]);
  });
});
