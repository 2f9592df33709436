/** Tests for the saved trace file reader: every format, gzip, streaming, and precise errors. */

import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, describe, expect, test, vi } from 'vitest';
import { TraceFileError } from './errors.js';
import { errorAtUnit, RangeReadError, readJsonLineRange, readProtobufFrames, readTraceFile, readTraceUnits } from './file.js';
import type { ReadTraceFileOptions } from './file.js';
import type { DecodedBatch } from './span.js';
import { djangoRequest, encodeJson, encodeProtobuf, gzip, jsonLines, lengthDelimited } from './testing.js';
import type { OtlpJsonRequest } from './testing.js';
import { tempDir } from '../../test/support.js';

const dir = tempDir('otlp');
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const fixture = (name: string) => new URL(`./testdata/${name}`, import.meta.url).pathname;

function write(name: string, content: string | Uint8Array): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

async function collect(source: string | NodeJS.ReadableStream, opts?: ReadTraceFileOptions): Promise<DecodedBatch[]> {
  const batches: DecodedBatch[] = [];
  for await (const batch of readTraceFile(source, opts)) batches.push(batch);
  return batches;
}

/** The batches read before the error, and the error. */
async function collectUntilError(source: string | NodeJS.ReadableStream, opts?: ReadTraceFileOptions) {
  const batches: DecodedBatch[] = [];
  try {
    for await (const batch of readTraceFile(source, opts)) batches.push(batch);
  } catch (error) {
    return { batches, error: error as TraceFileError };
  }
  throw new Error('expected readTraceFile to throw');
}

/** A stream that hands out `data` in chunks of `size` bytes, to cross every boundary. */
function chunked(data: string | Uint8Array, size: number): Readable {
  const bytes = Buffer.from(data);
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size));
  return Readable.from(chunks, { objectMode: false });
}

const traceIds = ['4bf92f3577b34da6a3ce929d0e0e4736', '0af7651916cd43dd8448eb211c80319c', '5b8efff798038103d269b633813fc60c'];
const requests: OtlpJsonRequest[] = traceIds.map((traceId, i) => djangoRequest({ traceId, repeats: i + 1, semconv: i % 2 ? 'stable' : 'old' }));

/** Each format, with the trace ids of the batches it holds, in order. */
const formats: [string, () => string | Uint8Array, string[]][] = [
  ['JSON lines', () => jsonLines(requests), traceIds],
  ['one pretty-printed JSON document', () => encodeJson(requests[0]!, 2), traceIds.slice(0, 1)],
  ['several pretty-printed JSON documents in a row', () => requests.map((r) => encodeJson(r, 2)).join('\n'), traceIds],
  ['length-delimited protobuf', () => lengthDelimited(requests), traceIds],
  ['one bare protobuf message', () => encodeProtobuf(requests[1]!), traceIds.slice(1, 2)],
];

/** Each batch is one djangoRequest: a server span, then its trigger and i+1 repeated queries. */
function expectRequests(batches: DecodedBatch[], expectedTraceIds: string[]): void {
  expect(batches.map((b) => b.spans[0]?.traceId)).toEqual(expectedTraceIds);
  for (const batch of batches) {
    const i = traceIds.indexOf(batch.spans[0]!.traceId);
    expect(batch.rejected).toEqual([]);
    expect(batch.spans).toHaveLength(i + 3);
    expect(batch.spans[0]).toMatchObject({ name: 'GET dashboard/', httpMethod: 'GET', httpRoute: 'dashboard/', kind: 2, service: 'recruit' });
    expect(batch.spans.slice(1).every((s) => s.dbSystem === 'postgresql' && s.parentSpanId === batch.spans[0]!.spanId)).toBe(true);
  }
}

describe('readTraceFile formats', () => {
  test.each(formats)('reads %s', async (_name, content, ids) => {
    expectRequests(await collect(write('plain', content())), ids);
  });

  test.each(formats)('reads gzip-compressed %s, detected by magic bytes not by name', async (_name, content, ids) => {
    expectRequests(await collect(write('no-extension', gzip(content()))), ids);
  });

  test.each(formats)('reads %s from a stream that arrives a few bytes at a time', async (_name, content, ids) => {
    expectRequests(await collect(chunked(content(), 7)), ids);
    expectRequests(await collect(chunked(gzip(content()), 5)), ids);
  });

  test('reads a stream of plain Uint8Array chunks', async () => {
    const bytes = lengthDelimited(requests);
    const chunks = [Uint8Array.from(bytes.subarray(0, 10)), Uint8Array.from(bytes.subarray(10))];
    expectRequests(await collect(Readable.from(chunks, { objectMode: true })), traceIds);
  });

  test('reads standard input for "-"', async () => {
    vi.spyOn(process, 'stdin', 'get').mockReturnValue(chunked(jsonLines(requests), 100) as unknown as typeof process.stdin);
    try {
      expectRequests(await collect('-'), traceIds);
    } finally {
      vi.restoreAllMocks();
    }
  });

  test('skips blank lines and CRLF line ends in JSON lines', async () => {
    const text = '\n' + jsonLines(requests).replaceAll('\n', '\r\n\r\n   \n');
    expectRequests(await collect(write('blank.jsonl', text)), traceIds);
  });

  test('reads OTLP requests whose first key is another, skipping the other keys as JSON.parse + json.ts do', async () => {
    // The unknown key's value holds brackets and quotes, so skipping it must parse it, not scan for bytes.
    const otherFirst = (r: OtlpJsonRequest): object => ({ exportedBy: { name: 'x}"]', tags: [1, { a: null }] }, ...r, trailer: true });
    const lines = requests.map((r) => JSON.stringify(otherFirst(r))).join('\n') + '\n';
    const pretty = `\n${JSON.stringify(otherFirst(requests[0]!), null, 2)}\n`;
    expectRequests(await collect(write('other-first.jsonl', lines)), traceIds);
    expectRequests(await collect(write('other-first.json', pretty)), traceIds.slice(0, 1));
    expectRequests(await collect(chunked(gzip(lines), 5)), traceIds);
    // n1-report reads raw units: these come out decoded, the same batches.
    const units = [];
    for await (const unit of readTraceUnits(write('other-first-units.jsonl', lines))) units.push(unit);
    expect(units).toEqual(await collect(write('plain-units.jsonl', jsonLines(requests))));
    // An object with neither an OTLP key nor a Jaeger trace's is still not trace data.
    const path = write('other.json', '{"foo": 1, "bar": [2]}');
    await expect(collect(path)).rejects.toThrow(`${path}: not trace data (this looks like a JSON object with keys "foo", "bar")`);
  });

  test('skips a UTF-8 byte order mark', async () => {
    expectRequests(await collect(write('bom.json', '\ufeff' + encodeJson(requests[0]!, 2))), traceIds.slice(0, 1));
  });

  test('skips a byte order mark at the start of any line or document: files joined with cat keep one each', async () => {
    const lines = jsonLines(requests).split('\n');
    const joined = `\ufeff${lines[0]}\n\ufeff${lines[1]}\n\ufeff\n\ufeff${lines[2]}\n`;
    expectRequests(await collect(write('joined.jsonl', joined)), traceIds);
    expectRequests(await collect(chunked(gzip(joined), 7)), traceIds);
    const documents = requests.map((r) => `\ufeff${encodeJson(r, 2)}\n`).join('');
    expectRequests(await collect(write('joined.json', documents)), traceIds);
    expectRequests(await collect(chunked(documents, 2)), traceIds);
    // Objects with another key first (readJsonObjects reads them) likewise.
    const otherFirst = requests.map((r) => `\ufeff${JSON.stringify({ x: 1, ...r })}\n`).join('');
    expectRequests(await collect(write('joined-other-first.jsonl', otherFirst)), traceIds);
    // A file whose first part was blank lines (an empty file joined first) then a byte order mark.
    const blankFirst = `\n\r\n\ufeff${lines[0]}\n\ufeff${lines[1]}\n${lines[2]}\n`;
    expectRequests(await collect(write('joined-blank-first.jsonl', blankFirst)), traceIds);
    expectRequests(await collect(chunked(blankFirst, 3)), traceIds);
    expectRequests(await collect(write('joined-blank-first.json', `\n\ufeff${encodeJson(requests[0]!, 2)}`)), traceIds.slice(0, 1));
  });

  test.each([
    ['{', 0x7b],
    ['[', 0x5b],
  ])('reads a bare message whose first length byte happens to be "%s", after the 0x0a of its tag', async (_char, length) => {
    // Grow the service name until the first ResourceSpans is that many bytes long.
    let bytes: Uint8Array | undefined;
    for (let n = 1; n < 200 && bytes?.[1] !== length; n++) {
      const request: OtlpJsonRequest = {
        resourceSpans: [{ resource: { attributes: [{ key: 'service.name', value: { stringValue: 'x'.repeat(n) } }] }, scopeSpans: [] }],
      };
      request.resourceSpans.push(...djangoRequest({ repeats: 1 }).resourceSpans);
      bytes = encodeProtobuf(request);
    }
    expect([...bytes!.subarray(0, 2)]).toEqual([0x0a, length]);
    const [batch] = await collect(write('brace.pb', bytes!));
    expect(batch!.spans).toHaveLength(3);
    const [streamed] = await collect(chunked(bytes!, 3));
    expect(streamed).toEqual(batch);
  });

  test.each([
    ['a tab', '\t'],
    ['a newline', '\n'],
    ['a carriage return', '\r'],
    ['a space', ' '],
  ])('reads JSON after %s, and takes that byte and "[" or "{" before protobuf for a length prefix', async (_name, space) => {
    // JSON: an OTLP document, JSON lines and an array of requests, after the whitespace byte.
    expectRequests(await collect(write('doc.json', space + encodeJson(requests[0]!, 2))), traceIds.slice(0, 1));
    expectRequests(await collect(write('lines.jsonl', space + jsonLines(requests))), traceIds);
    expectRequests(await collect(write('array.json', `${space}[${requests.map((r) => encodeJson(r)).join(',')}]`)), traceIds);
    expect((await collect(write('empty-object.json', `${space}{}${space}`))).flatMap((b) => b.spans)).toEqual([]);
    // Protobuf: a length prefix whose first bytes are the whitespace and a bracket (a first message
    // of 151 MB or more), before a message: read as one, not as JSON. 0x0a first is a bare message.
    const message = encodeProtobuf(requests[0]!);
    for (const bracket of ['[', '{']) {
      // `{"A` even looks like the start of an object's first key.
      const prefix = Buffer.from(space + bracket + '"A');
      const path = write('prefix.binpb', Buffer.concat([prefix, message]));
      const { error } = await collectUntilError(path);
      const length = prefix.readUInt32BE(0);
      if (space === '\n') expect(error.message).toMatch(new RegExp(`^${path}: message at byte 0: invalid OTLP protobuf`));
      else if (length > 256 * 1024 * 1024) expect(error.message).toBe(`${path}: length prefix at byte 0 announces ${length} bytes, more than the 268435456-byte limit (not a length-delimited OTLP file?)`);
      else expect(error.message).toBe(`${path}: truncated length-delimited message at byte 4: need ${length} bytes, have ${message.length}`);
    }
  });

  test('reads the Collector file exporter JSON and proto output', async () => {
    const json = await collect(fixture('collector-file-exporter.jsonl'));
    const proto = await collect(fixture('collector-file-exporter.binpb'));
    expect(json).toHaveLength(2);
    expect(proto).toEqual(json);
    expect(json[1]!.spans[1]).toMatchObject({ traceId: '0af7651916cd43dd8448eb211c80319c', dbSystem: 'postgresql', peer: 'db' });
  });

  test('reads a pretty-printed document from Python json_format', async () => {
    const [batch] = await collect(fixture('python-json-format-camel.json'));
    expect(batch!.spans).toHaveLength(4);
  });

  test('uses the given name in errors', async () => {
    const { error } = await collectUntilError(Readable.from([Buffer.alloc(0)]), { name: 'upload.jsonl' });
    expect(error.message).toBe('upload.jsonl: empty file');
  });
});

describe('readTraceFile streaming', () => {
  /** A source of `count` batches in `encode`'s format that records how many it has produced. */
  function lazySource(count: number, encode: (r: OtlpJsonRequest) => Uint8Array) {
    const state = { produced: 0 };
    async function* generate() {
      for (let i = 0; i < count; i++) {
        state.produced++;
        yield Buffer.from(encode(djangoRequest({ traceId: (i + 1).toString(16).padStart(32, '0'), repeats: 20 })));
      }
    }
    return { state, stream: Readable.from(generate(), { objectMode: false, highWaterMark: 1024 }) };
  }

  test.each([
    ['JSON lines', (r: OtlpJsonRequest) => Buffer.from(encodeJson(r) + '\n')],
    ['length-delimited protobuf', (r: OtlpJsonRequest) => lengthDelimited([r])],
  ])('yields the first %s batch long before the source is exhausted', async (_name, encode) => {
    const { state, stream } = lazySource(2000, encode);
    let seen = 0;
    for await (const batch of readTraceFile(stream)) {
      expect(batch.spans).toHaveLength(22);
      seen++;
      if (seen === 1) expect(state.produced).toBeLessThan(50);
      if (seen === 300) break;
    }
    expect(seen).toBe(300);
    expect(state.produced).toBeLessThan(400);
  });
});

describe('readTraceFile errors', () => {
  test('reports an empty file', async () => {
    const path = write('empty.jsonl', '');
    await expect(collect(path)).rejects.toThrow(new TraceFileError(path, 'empty file'));
  });

  test('reports a file of only whitespace, and an empty gzip', async () => {
    const blank = write('blank.json', '\n  \n');
    await expect(collect(blank)).rejects.toThrow(`${blank}: empty file (only whitespace)`);
    const emptyGz = write('empty.gz', gzip(''));
    await expect(collect(emptyGz)).rejects.toThrow(`${emptyGz}: empty file (the gzip content is empty)`);
  });

  test('reports a missing file', async () => {
    const path = join(dir, 'missing.jsonl');
    await expect(collect(path)).rejects.toThrow(`${path}: cannot read (ENOENT`);
  });

  test('yields the good lines before a truncated JSON line, then names its line number', async () => {
    const lines = jsonLines(requests).split('\n');
    const path = write('truncated.jsonl', [lines[0], '', lines[1], lines[2]!.slice(0, 80), ''].join('\n'));
    const { batches, error } = await collectUntilError(path);
    expect(batches).toHaveLength(2);
    expect(error).toBeInstanceOf(TraceFileError);
    expect(error.message).toMatch(new RegExp(`^${path}: line 4: invalid JSON \\(`));
    expect(error).toMatchObject({ file: path, line: 4 });
  });

  test('reports a JSON line of the wrong shape with its line number', async () => {
    const path = write('shape.jsonl', jsonLines(requests.slice(0, 1)) + '{"resourceSpans": 5}\n');
    const { batches, error } = await collectUntilError(path);
    expect(batches).toHaveLength(1);
    expect(error.message).toBe(`${path}: line 2: resourceSpans is not an array`);
  });

  test('reports a JSON line holding a string rather than parsing the string again', async () => {
    const path = write('string.jsonl', jsonLines(requests.slice(0, 1)) + JSON.stringify(jsonLines(requests.slice(0, 1)).trim()) + '\n');
    const { batches, error } = await collectUntilError(path);
    expect(batches).toHaveLength(1);
    expect(error.message).toBe(`${path}: line 2: request is not a JSON object`);
  });

  test('reports a bad first line that is complete, rather than reading on as a document', async () => {
    const path = write('bad-first.jsonl', '{"resourceSpans": [],}\n' + jsonLines(requests));
    await expect(collect(path)).rejects.toThrow(new RegExp(`^${path}: line 1: invalid JSON \\(`));
  });

  test('reports a pretty-printed document cut short', async () => {
    const text = encodeJson(requests[0]!, 2);
    const path = write('cut.json', '\n\n' + text.slice(0, text.length / 2));
    await expect(collect(path)).rejects.toThrow(`${path}: line 3: truncated JSON document: the file ends inside it`);
  });

  test('reports junk after a pretty-printed document with its line', async () => {
    const path = write('junk.json', encodeJson(requests[0]!, 2) + '\n\nxyz');
    const { batches, error } = await collectUntilError(path);
    expect(batches).toHaveLength(1);
    expect(error.message).toBe(`${path}: line ${encodeJson(requests[0]!, 2).split('\n').length + 2}: unexpected "x" after a JSON document`);
  });

  test('reports the start line of the invalid document among several', async () => {
    const docs = requests.map((r) => encodeJson(r, 2));
    const bad = docs[1]!.replace('"resourceSpans"', 'resourceSpans');
    const path = write('docs.json', [docs[0], bad, docs[2]].join('\n'));
    const { batches, error } = await collectUntilError(path);
    expect(batches).toHaveLength(1);
    expect(error.message).toMatch(new RegExp(`^${path}: line ${docs[0]!.split('\n').length + 1}: invalid JSON \\(`));
  });

  test('refuses a JSON line or document longer than the cap', async () => {
    const path = write('long.jsonl', jsonLines(requests));
    await expect(collect(path, { maxJsonBytes: 1000 })).rejects.toThrow(`${path}: line 1: JSON text longer than 1000 bytes`);
    const pretty = write('long.json', encodeJson(requests[0]!, 2));
    await expect(collect(pretty, { maxJsonBytes: 1000 })).rejects.toThrow(`${pretty}: line 1: JSON document longer than 1000 bytes`);
  });

  test('yields the good messages before a corrupt one, then names its byte offset', async () => {
    const good = lengthDelimited(requests.slice(0, 2));
    const corrupt = Buffer.from([0, 0, 0, 3, 0x0a, 0x05, 0x01]);
    const path = write('corrupt.binpb', Buffer.concat([good, corrupt]));
    const { batches, error } = await collectUntilError(path);
    expect(batches).toHaveLength(2);
    expect(error.message).toMatch(new RegExp(`^${path}: message at byte ${good.length + 4}: invalid OTLP protobuf ExportTraceServiceRequest \\(`));
    expect(error.byte).toBe(good.length + 4);
  });

  test('reports a truncated length prefix with its offset', async () => {
    const good = lengthDelimited(requests.slice(0, 1));
    const path = write('prefix.binpb', Buffer.concat([good, Buffer.from([0, 0])]));
    const { batches, error } = await collectUntilError(path);
    expect(batches).toHaveLength(1);
    expect(error.message).toBe(`${path}: truncated length prefix at byte ${good.length}: need 4 bytes, have 2`);
  });

  test('reports a truncated length-delimited message with what it needed and had', async () => {
    const data = lengthDelimited(requests.slice(0, 2));
    const firstLength = data.readUInt32BE(0);
    const secondLength = data.readUInt32BE(4 + firstLength);
    const path = write('short.binpb', data.subarray(0, data.length - 10));
    const { batches, error } = await collectUntilError(path);
    expect(batches).toHaveLength(1);
    expect(error.message).toBe(
      `${path}: truncated length-delimited message at byte ${firstLength + 8}: need ${secondLength} bytes, have ${secondLength - 10}`,
    );
  });

  test('counts offsets in decompressed bytes for gzip files, and says so', async () => {
    const good = lengthDelimited(requests.slice(0, 1));
    const path = write('prefix.gz', gzip(Buffer.concat([good, Buffer.from([0])])));
    await expect(collect(path)).rejects.toThrow(`${path}: truncated length prefix at byte ${good.length} of the gunzipped data: need 4 bytes, have 1`);
  });

  test('refuses a length prefix beyond the message cap, as in a file of some other format', async () => {
    const path = write('text.txt', 'GET / HTTP/1.1\r\n');
    await expect(collect(path)).rejects.toThrow(`${path}: length prefix at byte 0 announces 1195725856 bytes, more than the 268435456-byte limit`);
  });

  test('refuses a bare message beyond the cap', async () => {
    const path = write('big.pb', encodeProtobuf(requests[2]!));
    await expect(collect(path, { maxMessageBytes: 100 })).rejects.toThrow(`${path}: single protobuf message longer than 100 bytes`);
  });

  test('reports a corrupt bare message', async () => {
    const bytes = encodeProtobuf(requests[0]!);
    const path = write('cut.pb', bytes.subarray(0, bytes.length - 3));
    await expect(collect(path)).rejects.toThrow(new RegExp(`^${path}: message at byte 0: invalid OTLP protobuf ExportTraceServiceRequest \\(truncated resource_spans: needs \\d+ bytes, only \\d+ left in its message at byte 3\\)$`));
  });

  test('reports a truncated gzip file after yielding what it could decompress', async () => {
    const compressed = gzip(jsonLines(requests));
    const path = write('cut.jsonl.gz', compressed.subarray(0, compressed.length - 12));
    const { batches, error } = await collectUntilError(path);
    expect(batches).toHaveLength(2);
    expect(error).toBeInstanceOf(TraceFileError);
    expect(error.message).toBe(`${path}: invalid gzip data (unexpected end of file)`);
  });

  test('reports gzip data that is not deflate', async () => {
    const path = write('bad.gz', Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0xde, 0xad, 0xbe, 0xef, 0x00, 0x03, 0xff, 0xff, 0xff]));
    await expect(collect(path)).rejects.toThrow(new RegExp(`^${path}: invalid gzip data \\(`));
  });

  test('stops cleanly when the consumer breaks early', async () => {
    const path = write('many.jsonl', jsonLines(requests));
    for await (const batch of readTraceFile(path)) {
      expect(batch.spans.length).toBeGreaterThan(0);
      break;
    }
    const gz = write('many.jsonl.gz', gzip(readFileSync(path)));
    for await (const _batch of readTraceFile(gz)) break;
  });
});

describe('readJsonLineRange', () => {
  const lines = jsonLines([djangoRequest({ repeats: 3 }), djangoRequest({ repeats: 5 }), djangoRequest({ repeats: 2 })]).trim().split('\n');
  // Blank lines, CRLF, and no newline at the end.
  const text = `${lines[0]}\n\n${lines[1]}\r\n   \n${lines[2]}\n${lines[0]}`;
  const file = join(dir, 'ranges.jsonl');
  writeFileSync(file, text);

  test("reads, over every split into ranges, each line readTraceUnits reads, once, at its offset", async () => {
    const whole: { offset?: number; bytes: string }[] = [];
    for await (const unit of readTraceUnits(file)) if ('raw' in unit && unit.raw === 'json-line') whole.push({ offset: unit.offset, bytes: unit.bytes.toString() });
    expect(whole).toHaveLength(4); // the first line too: parsed to tell the format, then handed on as its bytes
    expect(whole[0]!.offset).toBe(0);
    const from = whole[0]!.offset!;
    for (const size of [1, 7, 100, 1000, lines[1]!.length, text.length]) {
      const got: { offset?: number; bytes: string }[] = [];
      for (let start = from; start < text.length; start += size) {
        for (const unit of await readJsonLineRange(file, start, start + size)) got.push({ offset: unit.offset, bytes: unit.bytes.toString() });
      }
      expect(got, `ranges of ${size}`).toEqual(whole);
    }
  });

  test('reads the first line after a byte order mark at its offset, as readTraceUnits does (--jobs lost it)', async () => {
    const bom = join(dir, 'ranges-bom.jsonl');
    writeFileSync(bom, `\ufeff${text}`);
    const whole: { offset?: number; bytes: string }[] = [];
    for await (const unit of readTraceUnits(bom)) if ('raw' in unit && unit.raw === 'json-line') whole.push({ offset: unit.offset, bytes: unit.bytes.toString() });
    expect(whole).toHaveLength(4);
    expect(whole[0]).toEqual({ offset: 3, bytes: lines[0] });
    const size = Buffer.byteLength(text) + 3;
    for (const step of [1, 2, 3, 100, size]) {
      const got: { offset?: number; bytes: string }[] = [];
      for (let start = 3; start < size; start += step) {
        for (const unit of await readJsonLineRange(bom, start, start + step)) got.push({ offset: unit.offset, bytes: unit.bytes.toString() });
      }
      expect(got, `ranges of ${step}`).toEqual(whole);
    }
  });

  test('reads lines that start with a byte order mark (files joined with cat) without it, at their offset, as readTraceUnits does', async () => {
    const joined = join(dir, 'ranges-joined.jsonl');
    const content = `\ufeff${lines[0]}\n\ufeff${lines[1]}\r\n\ufeff\n\ufeff${lines[2]}`;
    writeFileSync(joined, content);
    const whole: { offset?: number; bytes: string }[] = [];
    for await (const unit of readTraceUnits(joined)) if ('raw' in unit && unit.raw === 'json-line') whole.push({ offset: unit.offset, bytes: unit.bytes.toString() });
    expect(whole.map((u) => u.bytes)).toEqual([lines[0], `${lines[1]}\r`, lines[2]]);
    expect(whole[1]!.offset).toBe(Buffer.byteLength(`\ufeff${lines[0]}\n`));
    const size = Buffer.byteLength(content);
    for (const step of [1, 2, 3, 4, 100, size]) {
      const got: { offset?: number; bytes: string }[] = [];
      for (let start = 3; start < size; start += step) {
        for (const unit of await readJsonLineRange(joined, start, start + step)) got.push({ offset: unit.offset, bytes: unit.bytes.toString() });
      }
      expect(got, `ranges of ${step}`).toEqual(whole);
    }
  });

  test('refuses a line past maxJsonBytes, naming where it starts; errorAtUnit gives the error readTraceUnits throws there', async () => {
    const max = lines[1]!.length - 1;
    const second = text.indexOf(lines[1]!);
    await expect(readJsonLineRange(file, second, second + 10, { maxJsonBytes: max })).rejects.toEqual(new RangeReadError(second, `JSON line at byte ${second} longer than ${max} bytes`));
    await expect(readJsonLineRange(file, second, text.length, { maxJsonBytes: max })).rejects.toBeInstanceOf(RangeReadError);
    const error = await errorAtUnit(file, second, { maxJsonBytes: max });
    expect(error).toBeInstanceOf(TraceFileError);
    expect((error as Error).message).toContain('line 3');
    // A line that reads and decodes has no error.
    expect(await errorAtUnit(file, second)).toBeUndefined();
    // One that does not decode: json.ts's error, with the line as --jobs 1 numbers it.
    const bad = join(dir, 'ranges-bad.jsonl');
    writeFileSync(bad, text.replace(lines[2]!, '{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":5}]}]}]}'));
    const at = text.indexOf(lines[2]!);
    expect(((await errorAtUnit(bad, at)) as Error).message).toMatch(/line 5/);
  });
});

describe('readProtobufFrames', () => {
  const requests = [djangoRequest({ repeats: 3 }), djangoRequest({ repeats: 40 }), djangoRequest({ repeats: 1 })];
  const messages = requests.map((r) => encodeProtobuf(r));
  const file = join(dir, 'frames.pb');
  writeFileSync(file, lengthDelimited(requests));

  test('reads the messages readTraceUnits reads, only those wanted, the others by their length prefixes alone', async () => {
    const whole: { bytes: Buffer; byte: number; frame?: number }[] = [];
    for await (const unit of readTraceUnits(file)) if ('raw' in unit && unit.raw === 'protobuf') whole.push({ bytes: unit.bytes, byte: unit.byte, frame: unit.frame });
    expect(whole.map((u) => u.frame)).toEqual([0, 4 + messages[0]!.length, 8 + messages[0]!.length + messages[1]!.length]);
    const odd: (Buffer | undefined)[] = [];
    for await (const unit of readProtobufFrames(file, 0, (k) => k % 2 === 1)) odd.push(unit?.bytes);
    expect(odd).toEqual([undefined, whole[1]!.bytes, undefined]);
    const all: { bytes: Buffer; byte: number; frame?: number }[] = [];
    for await (const unit of readProtobufFrames(file, whole[1]!.frame!, () => true)) all.push({ bytes: unit!.bytes, byte: unit!.byte, frame: unit!.frame });
    expect(all).toEqual(whole.slice(1));
  });

  test('refuses a frame cut short or past maxMessageBytes at its message\'s first byte; errorAtUnit gives readTraceUnits\' error there', async () => {
    const cut = join(dir, 'frames-cut.pb');
    const bytes = lengthDelimited(requests);
    writeFileSync(cut, bytes.subarray(0, bytes.length - 3));
    const third = 8 + messages[0]!.length + messages[1]!.length;
    const read = async (path: string, opts = {}): Promise<unknown> => {
      try {
        for await (const _ of readProtobufFrames(path, 0, () => false, opts)) void _;
      } catch (error) {
        return error;
      }
      return undefined;
    };
    expect(await read(cut)).toEqual(new RangeReadError(third + 4, `bad length-delimited frame at byte ${third}`));
    expect(await read(file, { maxMessageBytes: messages[1]!.length - 1 })).toBeInstanceOf(RangeReadError);
    const error = await errorAtUnit(cut, third + 4);
    expect(error).toBeInstanceOf(TraceFileError);
    expect((error as Error).message).toContain(`truncated length-delimited message at byte ${third + 4}`);
    expect(await errorAtUnit(file, third + 4)).toBeUndefined();
  });
});

describe('ReadTraceFileOptions.bytes', () => {
  test('reads a file as it was at that size, however it grows: readTraceUnits, readJsonLineRange and readProtobufFrames alike', async () => {
    const lines = jsonLines([djangoRequest({ repeats: 3 }), djangoRequest({ repeats: 4 }), djangoRequest({ repeats: 5 })]).trim().split('\n');
    const file = join(dir, 'growing.jsonl');
    writeFileSync(file, `${lines[0]}\n${lines[1]}\n${lines[2]}\n`);
    const bytes = lines[0]!.length + 1 + lines[1]!.length + 1 + 10; // the third line only begun
    const raws: string[] = [];
    const error = await (async () => {
      try {
        for await (const unit of readTraceUnits(file, { bytes })) if ('raw' in unit) raws.push(unit.bytes.toString());
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    // The cut third line is what --jobs 1 would have met had it read the file at that moment (its decode then fails).
    expect(error).toBeUndefined();
    expect(raws).toEqual([lines[0], lines[1], lines[2]!.slice(0, 10)]);
    const ranged = await readJsonLineRange(file, lines[0]!.length + 1, bytes, { bytes });
    expect(ranged.map((u) => u.bytes.toString())).toEqual([lines[1], lines[2]!.slice(0, 10)]);
    const requests = [djangoRequest({ repeats: 3 }), djangoRequest({ repeats: 4 })];
    const pb = join(dir, 'growing.pb');
    writeFileSync(pb, lengthDelimited(requests));
    const first = 4 + encodeProtobuf(requests[0]!).length;
    const frames: (Buffer | undefined)[] = [];
    for await (const unit of readProtobufFrames(pb, 0, () => true, { bytes: first })) frames.push(unit?.bytes);
    expect(frames).toHaveLength(1);
  });
});
