/** Tests for the OTLP/JSON decoder: the spec's encoding and the variants real writers produce. */

import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { OtlpDecodeError } from './errors.js';
import { createJsonDecoder, decodeJsonRequest } from './json.js';
import { decodeProtobufRequest } from './protobuf.js';
import { SpanKind } from './span.js';
import { DEFAULT_TRACE_ID, djangoRequest, encodeJson, repeatedSql, spanIdAt, TRIGGER_SQL, withInstrumentationLibrary } from './testing.js';

const fixture = (name: string) => readFileSync(new URL(`./testdata/${name}`, import.meta.url), 'utf8');

/** One span in one resource, with the given raw JSON span fields. */
function oneSpan(span: Record<string, unknown>, resource: Record<string, unknown> = {}) {
  return { resourceSpans: [{ resource, scopeSpans: [{ spans: [span] }] }] };
}

const base = {
  traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
  spanId: '00f067aa0ba902b7',
  name: 'SELECT',
  kind: 3,
  startTimeUnixNano: '1700000000000000000',
  endTimeUnixNano: '1700000000001000000',
};

describe('decodeJsonRequest', () => {
  test('decodes a Django request in the spec encoding into one server span and its DB spans', () => {
    const batch = decodeJsonRequest(encodeJson(djangoRequest({ repeats: 3 })));
    expect(batch.rejected).toEqual([]);
    expect(batch.spans).toHaveLength(5);
    const [server, trigger, first] = batch.spans;
    expect(server).toMatchObject({
      traceId: DEFAULT_TRACE_ID,
      spanId: spanIdAt(DEFAULT_TRACE_ID, 0),
      parentSpanId: '',
      kind: SpanKind.SERVER,
      httpMethod: 'GET',
      httpRoute: 'dashboard/',
      service: 'recruit',
      startMs: 1_700_000_000_000,
    });
    expect(trigger).toMatchObject({ parentSpanId: server!.spanId, dbSystem: 'postgresql', dbStatement: TRIGGER_SQL, peer: 'db' });
    expect(first).toMatchObject({ dbStatement: repeatedSql(1), startMs: 1_700_000_000_002, endMs: 1_700_000_000_002.5 });
  });

  test('folds the stable semantic-convention names the same way as the old ones', () => {
    const old = decodeJsonRequest(djangoRequest({ semconv: 'old' }));
    const stable = decodeJsonRequest(djangoRequest({ semconv: 'stable' }));
    expect(stable).toEqual(old);
  });

  test('accepts UTF-8 bytes, as an HTTP body arrives', () => {
    expect(decodeJsonRequest(Buffer.from(JSON.stringify(oneSpan(base)))).spans).toHaveLength(1);
  });

  test('accepts an already-parsed object', () => {
    expect(decodeJsonRequest(oneSpan(base)).spans).toHaveLength(1);
  });

  test('lowercases upper-case hex ids', () => {
    const [span] = decodeJsonRequest(oneSpan({ ...base, traceId: base.traceId.toUpperCase(), parentSpanId: '00F067AA0BA902B8' })).spans;
    expect(span).toMatchObject({ traceId: base.traceId, parentSpanId: '00f067aa0ba902b8' });
  });

  test('accepts base64 ids as written by protobuf json_format', () => {
    const span = {
      ...base,
      traceId: Buffer.from(base.traceId, 'hex').toString('base64'),
      spanId: Buffer.from(base.spanId, 'hex').toString('base64'),
      parentSpanId: Buffer.from('00f067aa0ba902b8', 'hex').toString('base64url'),
    };
    const [record] = decodeJsonRequest(oneSpan(span)).spans;
    expect(record).toMatchObject({ traceId: base.traceId, spanId: base.spanId, parentSpanId: '00f067aa0ba902b8' });
  });

  test('accepts enum names for span kind and status code', () => {
    const [record] = decodeJsonRequest(oneSpan({ ...base, kind: 'SPAN_KIND_CONSUMER', status: { code: 'STATUS_CODE_ERROR' } })).spans;
    expect(record).toMatchObject({ kind: SpanKind.CONSUMER, error: true });
  });

  test('accepts 64-bit integers as decimal strings or as JSON numbers', () => {
    const asNumbers = decodeJsonRequest(oneSpan({ ...base, startTimeUnixNano: 1_700_000_000_000_000_000, endTimeUnixNano: 1_700_000_000_001_000_000 }));
    expect(asNumbers.spans[0]).toMatchObject({ startMs: 1_700_000_000_000, endMs: 1_700_000_000_001 });
    // The largest double below 2^64 is still an unsigned 64-bit integer.
    const largest = decodeJsonRequest(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"${base.traceId}","spanId":"${base.spanId}","startTimeUnixNano":18446744073709549568,"endTimeUnixNano":18446744073709549568}]}]}]}`);
    expect(largest.spans[0]).toMatchObject({ startMs: expect.closeTo(18_446_744_073_709.55, 2) });
    const intAttr = decodeJsonRequest(oneSpan({ ...base, attributes: [{ key: 'http.route', value: { intValue: 7 } }] }));
    expect(intAttr.spans[0]!.httpRoute).toBe('7');
  });

  test('ignores unknown fields at every level', () => {
    const batch = decodeJsonRequest({
      futureField: 1,
      resourceSpans: [{ schemaUrl: 'x', extra: [], resource: { attributes: [], entityRefs: [] }, scopeSpans: [{ scope: { name: 's' }, spans: [{ ...base, flags: 257, traceState: '', events: [{ name: 'e' }], novel: {} }] }] }],
    });
    expect(batch.spans).toHaveLength(1);
  });

  test('accepts the snake_case proto field names', () => {
    const snake = {
      resource_spans: [
        {
          resource: { attributes: [{ key: 'service.name', value: { string_value: 'shop' } }] },
          scope_spans: [
            {
              spans: [
                {
                  trace_id: base.traceId,
                  span_id: base.spanId,
                  parent_span_id: '00f067aa0ba902b8',
                  name: 'SELECT',
                  kind: 3,
                  start_time_unix_nano: '1700000000000000000',
                  end_time_unix_nano: '1700000000001000000',
                  attributes: [{ key: 'db.statement', value: { string_value: 'SELECT 1' } }],
                },
              ],
            },
          ],
        },
      ],
    };
    expect(decodeJsonRequest(snake).spans[0]).toMatchObject({ service: 'shop', parentSpanId: '00f067aa0ba902b8', dbStatement: 'SELECT 1' });
  });

  test('reads the pre-1.0 instrumentationLibrarySpans (camelCase or snake_case) as scopeSpans: old Collector files, Tempo 1.x JSON', () => {
    const request = djangoRequest({ repeats: 3 });
    const expected = decodeJsonRequest(request);
    expect(expected.spans).toHaveLength(5);
    expect(decodeJsonRequest(withInstrumentationLibrary(request))).toEqual(expected);
    expect(decodeJsonRequest(JSON.stringify(withInstrumentationLibrary(request, true)))).toEqual(expected);
    // The current name wins when it has spans; an empty list under it leaves the old name to be read.
    const both = { resourceSpans: [{ ...request.resourceSpans[0]!, instrumentationLibrarySpans: [{ spans: [{ ...base, spanId: '00f067aa0ba902b9' }] }] }] };
    expect(decodeJsonRequest(both)).toEqual(expected);
    const emptyCurrent = { resourceSpans: [{ ...(withInstrumentationLibrary(request) as { resourceSpans: object[] }).resourceSpans[0]!, scopeSpans: [] }] };
    expect(decodeJsonRequest(emptyCurrent)).toEqual(expected);
  });

  test('refuses spans under a name OTLP does not have, by path, rather than reading none (an empty report passes a CI gate)', () => {
    const request = djangoRequest({ repeats: 3 });
    const { scope, spans } = request.resourceSpans[0]!.scopeSpans[0]!;
    const hiddenScopes = { resourceSpans: [{ resource: {}, ScopeSpans: [{ scope, spans }] }] };
    expect(() => decodeJsonRequest(hiddenScopes)).toThrow(new OtlpDecodeError('resourceSpans[0].ScopeSpans holds spans under a name OTLP does not have (expected "scopeSpans"): n1lens cannot read this shape'));
    const hiddenSpans = { resourceSpans: [{ resource: {}, scopeSpans: [{ scope, Spans: spans }] }] };
    expect(() => decodeJsonRequest(hiddenSpans)).toThrow('resourceSpans[0].scopeSpans[0].Spans holds spans under a name OTLP does not have (expected "spans")');
    // Unknown lists that hold no spans are still ignored.
    expect(decodeJsonRequest({ resourceSpans: [{ resource: {}, extra: [{ a: 1 }], scopeSpans: [{ scope, links: [{ traceId: 'x' }] }] }] }).spans).toEqual([]);
  });

  test('treats null fields and an empty parent id as absent', () => {
    const [record] = decodeJsonRequest(oneSpan({ ...base, parentSpanId: '', attributes: null, status: null })).spans;
    expect(record).toMatchObject({ parentSpanId: '' });
  });

  test('decodes an empty request to an empty batch', () => {
    expect(decodeJsonRequest('{}')).toEqual({ spans: [], rejected: [] });
  });

  test('counts spans with bad ids or reversed times as rejected instead of throwing', () => {
    const batch = decodeJsonRequest({
      resourceSpans: [
        {
          scopeSpans: [
            {
              spans: [
                base,
                { ...base, traceId: '4bf92f3577b34da6' },
                { ...base, traceId: 'not an id!' },
                { ...base, spanId: Buffer.alloc(7).toString('base64') },
                { ...base, parentSpanId: 'abc' },
                { ...base, endTimeUnixNano: '1699999999999999999' },
                { ...base, spanId: undefined },
              ],
            },
          ],
        },
      ],
    });
    expect(batch.spans).toHaveLength(1);
    expect(batch.rejected).toEqual([
      { reason: 'bad_trace_id', count: 2 },
      { reason: 'bad_span_id', count: 2 },
      { reason: 'bad_parent_span_id', count: 1 },
      { reason: 'end_before_start', count: 1 },
    ]);
  });

  test.each([
    ['{"resourceSpans": [', /^invalid JSON \(/],
    ['[]', /^request is not a JSON object$/],
    ['{"resourceSpans": {}}', /^resourceSpans is not an array$/],
    ['{"resourceSpans": [1]}', /^resourceSpans\[0\] is not an object$/],
    ['{"resourceSpans": [{"scopeSpans": "x"}]}', /^resourceSpans\[0\]\.scopeSpans is not an array$/],
    ['{"resourceSpans": [{"scopeSpans": [{"spans": [{"attributes": [{"key": 1}]}]}]}]}', /^resourceSpans\[0\]\.scopeSpans\[0\]\.spans\[0\]\.attributes\[0\]\.key is not a string$/],
    ['{"resourceSpans": [{"scopeSpans": [{"spans": [{"startTimeUnixNano": "-5"}]}]}]}', /spans\[0\]\.startTimeUnixNano is not an unsigned 64-bit integer$/],
    ['{"resourceSpans": [{"scopeSpans": [{"spans": [{"endTimeUnixNano": "18446744073709551616"}]}]}]}', /endTimeUnixNano is not an unsigned 64-bit integer$/],
    // As JSON numbers, 2^64 and more too: 1.8446744073709552e19 and 18446744073709551615 are the double 2^64.
    ['{"resourceSpans": [{"scopeSpans": [{"spans": [{"startTimeUnixNano": 1e30}]}]}]}', /spans\[0\]\.startTimeUnixNano is not an unsigned 64-bit integer$/],
    ['{"resourceSpans": [{"scopeSpans": [{"spans": [{"endTimeUnixNano": 1.8446744073709552e19}]}]}]}', /endTimeUnixNano is not an unsigned 64-bit integer$/],
    ['{"resourceSpans": [{"scopeSpans": [{"spans": [{"endTimeUnixNano": 18446744073709551615}]}]}]}', /endTimeUnixNano is not an unsigned 64-bit integer$/],
    ['{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": 5}]}]}]}', /spans\[0\]\.traceId is not a string$/],
    ['{"resourceSpans": [{"scopeSpans": [{"spans": [{"kind": true}]}]}]}', /spans\[0\]\.kind is not an enum number or name$/],
  ])('throws OtlpDecodeError naming the problem for %s', (text, message) => {
    expect(() => decodeJsonRequest(text)).toThrow(OtlpDecodeError);
    expect(() => decodeJsonRequest(text)).toThrow(message);
  });
});

describe('createJsonDecoder', () => {
  test('one decoder kept for a stream gives each request what a fresh decode gives, errors included', () => {
    const decoder = createJsonDecoder();
    const requests = [
      djangoRequest({ repeats: 3 }),
      oneSpan({ ...base, traceId: base.traceId.toUpperCase(), parentSpanId: '00F067AA0BA902B8' }),
      djangoRequest({ repeats: 5, semconv: 'stable' }),
      oneSpan({ ...base, traceId: base.traceId.toUpperCase(), parentSpanId: '00F067AA0BA902B8' }),
    ];
    for (const request of requests) expect(decoder.decodeRequest(JSON.stringify(request))).toEqual(decodeJsonRequest(JSON.stringify(request)));
    // A failed request leaves no state behind: the next one's error names its own span.
    const bad = { resourceSpans: [{ scopeSpans: [{ spans: [base, { ...base, kind: 'SPAN_KIND_NOPE' }] }] }] };
    expect(() => decoder.decodeRequest(bad)).toThrow('resourceSpans[0].scopeSpans[0].spans[1].kind');
    expect(() => decoder.decodeRequest(oneSpan({ ...base, name: 7 }))).toThrow('resourceSpans[0].scopeSpans[0].spans[0].name');
    expect(decoder.decodeRequest(oneSpan(base)).spans).toHaveLength(1);
  });
});

describe('real-world JSON fixtures', () => {
  test('decodes Python json_format output (base64 ids, enum names) like the same message in protobuf', () => {
    const fromProtobuf = decodeProtobufRequest(readFileSync(new URL('./testdata/python-json-format.pb', import.meta.url)));
    const camel = decodeJsonRequest(fixture('python-json-format-camel.json'));
    const snake = decodeJsonRequest(fixture('python-json-format-snake.json'));
    expect(camel.spans).toHaveLength(4);
    expect(camel.spans[0]).toMatchObject({ traceId: 'a3ce929d0e0e47364bf92f3577b34da6', spanId: '00f067aa0ba902b7', kind: SpanKind.SERVER, httpRoute: 'dashboard/' });
    expect(camel.spans[1]).toMatchObject({ parentSpanId: '00f067aa0ba902b7', kind: SpanKind.CLIENT, dbSystem: 'postgresql', peer: 'db' });
    expect(camel).toEqual(fromProtobuf);
    expect(snake).toEqual(fromProtobuf);
  });

  test('decodes a Collector file exporter JSON line', () => {
    const [line] = fixture('collector-file-exporter.jsonl').split('\n');
    const batch = decodeJsonRequest(line!);
    expect(batch.rejected).toEqual([]);
    expect(batch.spans.map((s) => s.name)).toEqual(['GET dashboard/', 'SELECT', 'SELECT', 'SELECT', 'SELECT', 'POST']);
    expect(batch.spans[0]).toMatchObject({ error: true, httpMethod: 'GET', startMs: expect.closeTo(1_700_000_000_123.456789, 6) });
    expect(batch.spans[5]).toMatchObject({ peer: 'hooks.slack.com', httpMethod: 'POST' });
  });
});

describe('decodeJsonRequest refuses values of the wrong JSON type (proto3 JSON mapping)', () => {
  const withSpan = (patch: (span: Record<string, unknown>) => void): string => {
    const request = djangoRequest() as unknown as { resourceSpans: { scopeSpans: { spans: Record<string, unknown>[] }[] }[] };
    patch(request.resourceSpans[0]!.scopeSpans[1]!.spans[0]!);
    return JSON.stringify(request);
  };
  test.each([
    ['stringValue: {…}', (s: Record<string, unknown>) => ((s.attributes as { value: unknown }[])[0]!.value = { stringValue: { text: 'SELECT 1' } }), /attributes\[0\]\.value\.stringValue is not a string/],
    ['intValue: "abc"', (s: Record<string, unknown>) => ((s.attributes as { value: unknown }[])[0]!.value = { intValue: 'abc' }), /attributes\[0\]\.value\.intValue is not a 64-bit integer/],
    ['kind: "SERVER_BAD"', (s: Record<string, unknown>) => (s.kind = 'SERVER_BAD'), /\.kind is not one of SPAN_KIND_UNSPECIFIED/],
    ['kind: "constructor" (a name only Object.prototype has)', (s: Record<string, unknown>) => (s.kind = 'constructor'), /\.kind is not one of SPAN_KIND_UNSPECIFIED/],
    ['kind: "__proto__"', (s: Record<string, unknown>) => (s.kind = '__proto__'), /\.kind is not one of SPAN_KIND_UNSPECIFIED/],
    ['status.code: "toString"', (s: Record<string, unknown>) => (s.status = { code: 'toString' }), /\.status\.code is not one of STATUS_CODE_UNSET, STATUS_CODE_OK, STATUS_CODE_ERROR$/],
    ['boolValue: "true"', (s: Record<string, unknown>) => ((s.attributes as { value: unknown }[])[0]!.value = { boolValue: 'true' }), /boolValue is not a boolean/],
  ])('%s', (_name, patch, message) => {
    expect(() => decodeJsonRequest(withSpan(patch))).toThrow(OtlpDecodeError);
    expect(() => decodeJsonRequest(withSpan(patch))).toThrow(message);
  });

  test('still takes what the spec allows: int64 as a number or a string, enum names, doubles as strings', () => {
    const ok = withSpan((s) => {
      s.kind = 'SPAN_KIND_CLIENT';
      (s.attributes as { value: unknown }[]).push({ key: 'n', value: { intValue: 5 } } as never, { key: 'd', value: { doubleValue: 'NaN' } } as never);
    });
    expect(decodeJsonRequest(ok).spans).toHaveLength(7);
  });
});
