/** Streams a saved trace file (OTLP JSON lines / JSON document / protobuf, Jaeger or Zipkin JSON, optionally gzip) as batches. */

import { createReadStream } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { Readable, pipeline } from 'node:stream';
import { constants as bufferConstants } from 'node:buffer';
import { createGunzip } from 'node:zlib';
import { OtlpDecodeError, TraceFileError } from './errors.js';
import { describeJsonValue, describeObjectKeys, notTraceData } from './describe.js';
import { decodeJaegerTrace, isJaegerTrace } from './jaeger.js';
import { createJsonDecoder, type JsonDecoder } from './json.js';
import { createLazyJsonReader, type LazyJsonReader } from './json-lazy.js';
import { isZipkinSpan, ZipkinBatch } from './zipkin.js';
import { createWireDecoder, type WireDecoder } from './wire/decoder.js';
import type { DecodedBatch, SpanSink } from './span.js';
import type { SinkBatch } from './wire/decoder.js';

/** Options for readTraceFile. */
export interface ReadTraceFileOptions {
  /** Name used in error messages; default: the path, `stdin` for '-', `<stream>` for a stream. */
  name?: string;
  /** Largest JSON line or document held in memory; default 512 MiB (capped by V8's string limit). */
  maxJsonBytes?: number;
  /** Largest protobuf message held in memory; default 256 MiB. */
  maxMessageBytes?: number;
  /**
   * Of a file, the first this many bytes only: the file as it was at that size, however it grows
   * while it is read (n1-report --jobs: every thread reads the same file).
   */
  bytes?: number;
}

const MiB = 1024 * 1024;
/**
 * Read size for files and gunzip output: large enough that a 512-span batch (~250 KB) mostly sits
 * inside one chunk and is decoded in place, small enough to keep memory flat.
 */
const CHUNK_BYTES = MiB;
const DEFAULT_MAX_JSON_BYTES = Math.min(512 * MiB, bufferConstants.MAX_STRING_LENGTH);
const DEFAULT_MAX_MESSAGE_BYTES = 256 * MiB;
const EMPTY = Buffer.alloc(0);

const NEWLINE = 0x0a;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const COMMA = 0x2c;
const COLON = 0x3a;
/** Top-level keys that mark an OTLP ExportTraceServiceRequest. */
const OTLP_KEYS = new Set(['resourceSpans', 'resource_spans']);
/** First keys of a single Jaeger trace object: the API's (traceID, spans, processes) or the UI's trace model. */
const JAEGER_TRACE_KEYS = new Set(['traceID', 'spans', 'processes', 'services']);
/** The keys of a Jaeger trace object that its decoding reads (jaeger.ts decodeJaegerTrace); kept by readJsonObjects wherever they come. */
const JAEGER_DECODED_KEYS = new Set(['traceID', 'spans', 'processes']);
/** Zipkin spans decoded per batch. */
const ZIPKIN_BATCH_SPANS = 1000;
/** Largest object key or Jaeger `errors` value kept while streaming. */
const SMALL_JSON_BYTES = 1024 * 1024;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
/** protobuf tag of ExportTraceServiceRequest.resource_spans: field 1, wire type 2 (length-delimited). */
const RESOURCE_SPANS_TAG = 0x0a;

function isSpace(byte: number): boolean {
  return byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09;
}

/** A pull reader over a chunk stream with exact offsets: buffers only what the caller asks for. */
class ByteReader {
  /** Unconsumed bytes. */
  buf: Buffer = EMPTY;
  /** Offset in the stream of buf[0]. */
  offset = 0;
  private ended = false;

  constructor(private readonly chunks: AsyncIterator<Buffer>) {}

  /** Appends the next chunk to buf; false at end of stream. */
  async more(): Promise<boolean> {
    if (this.ended) return false;
    const next = await this.chunks.next();
    if (next.done) {
      this.ended = true;
      return false;
    }
    this.buf = this.buf.length === 0 ? next.value : Buffer.concat([this.buf, next.value]);
    return true;
  }

  /** Buffers at least n bytes (one concatenation for many chunks); false if the stream ends first. */
  async ensure(n: number): Promise<boolean> {
    if (this.buf.length >= n) return true;
    const { parts, length } = await this.gather(n);
    this.buf = parts.length === 1 ? this.buf : Buffer.concat(parts, length);
    return length >= n;
  }

  /** buf and the chunks read after it until they hold n bytes or the stream ends, not yet joined. */
  private async gather(n: number): Promise<{ parts: Buffer[]; length: number }> {
    const parts = [this.buf];
    let length = this.buf.length;
    while (length < n && !this.ended) {
      const next = await this.chunks.next();
      if (next.done) this.ended = true;
      else {
        parts.push(next.value);
        length += next.value.length;
      }
    }
    return { parts, length };
  }

  /**
   * The next n bytes as one buffer, consumed; undefined (all buffered, nothing consumed) if the stream
   * ends first. Where they straddle chunks only they are copied, not the whole last chunk as `ensure`
   * would: its rest stays unconsumed as it is (a length-delimited message per 1 MiB chunk).
   */
  async takeWhole(n: number): Promise<Buffer | undefined> {
    if (this.buf.length >= n) return this.take(n);
    const { parts, length } = await this.gather(n);
    if (length < n) {
      this.buf = Buffer.concat(parts, length);
      return undefined;
    }
    const last = parts.pop()!;
    const head = length - last.length;
    const out = head === 0 ? last.subarray(0, n) : Buffer.concat([...parts, last.subarray(0, n - head)], n);
    this.buf = last.subarray(n - head);
    this.offset += n;
    return out;
  }

  take(n: number): Buffer {
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    this.offset += n;
    return out;
  }

  /** Everything up to the next '\n' (excluded) or the end; null at the end with nothing left. */
  async line(max: number, tooLong: (length: number) => never): Promise<Buffer | null> {
    let parts: Buffer[] | undefined;
    let length = 0;
    for (;;) {
      const nl = this.buf.indexOf(NEWLINE);
      if (nl >= 0) {
        if (length + nl > max) tooLong(length + nl);
        const tail = this.take(nl);
        this.take(1);
        return parts ? Buffer.concat([...parts, tail], length + nl) : tail;
      }
      if (this.buf.length > 0) {
        length += this.buf.length;
        if (length > max) tooLong(length);
        (parts ??= []).push(this.take(this.buf.length));
      }
      if (!(await this.more())) {
        return parts ? Buffer.concat(parts, length) : null;
      }
    }
  }
}

/** Tracks whether the bytes seen so far close a JSON value: depth of {[ outside strings. */
class JsonDepth {
  depth = 0;
  private inString = false;
  private escaped = false;
  /** Newlines seen, for line numbers. */
  newlines = 0;

  /**
   * Scans bytes[from..]; returns the index just past the byte that closes the value, or -1. Inside
   * a string it jumps from quote to quote with indexOf: string contents (SQL, attribute values) are
   * most of the bytes, and JSON strings hold no raw newline to count.
   */
  scan(bytes: Buffer, from = 0): number {
    const n = bytes.length;
    let i = from;
    while (i < n) {
      if (this.inString) {
        if (this.escaped) {
          this.escaped = false;
          i++;
          continue;
        }
        const quote = bytes.indexOf(QUOTE, i);
        const stop = quote < 0 ? n : quote;
        // A quote (or the chunk's end) after an odd run of backslashes is escaped.
        let backslashes = 0;
        while (stop - backslashes - 1 >= i && bytes[stop - backslashes - 1] === BACKSLASH) backslashes++;
        if (quote < 0) {
          this.escaped = backslashes % 2 === 1;
          return -1;
        }
        if (backslashes % 2 === 0) this.inString = false;
        i = quote + 1;
        continue;
      }
      const b = bytes[i]!;
      if (b === NEWLINE) this.newlines++;
      else if (b === QUOTE) this.inString = true;
      else if (b === OPEN_BRACE || b === OPEN_BRACKET) this.depth++;
      else if (b === CLOSE_BRACE || b === CLOSE_BRACKET) {
        if (--this.depth === 0) return i + 1;
      }
      i++;
    }
    return -1;
  }
}

async function* bufferChunks(stream: AsyncIterable<unknown>, file: string): AsyncGenerator<Buffer> {
  try {
    for await (const chunk of stream) {
      if (Buffer.isBuffer(chunk)) yield chunk;
      else if (chunk instanceof Uint8Array) yield Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      // A stream with an encoding set yields strings; binary content is already mangled then.
      else yield Buffer.from(String(chunk));
    }
  } catch (err) {
    throw err instanceof TraceFileError ? err : new TraceFileError(file, `cannot read (${(err as Error).message})`, {}, { cause: err });
  }
}

/** The stream's iterator, leaving streams we do not own open when the consumer stops early. */
function iterate(stream: NodeJS.ReadableStream, owned: boolean): AsyncIterable<unknown> {
  const readable = stream as Partial<Readable>;
  if (!owned && typeof readable.iterator === 'function') return readable.iterator({ destroyOnReturn: false });
  return stream as AsyncIterable<unknown>;
}

/**
 * Reads a saved trace file batch by batch, one decoded ExportTraceServiceRequest at a time.
 * Memory grows with the largest batch, not with the file: JSON lines, length-delimited protobuf and
 * gzip are streamed; a single JSON document or bare `.pb` message must be held whole (capped).
 *
 * Formats (sniffed from the content, never the name): gzip (magic 1f 8b) around any of: OTLP JSON
 * lines (the Collector file exporter), one pretty-printed JSON document or several in a row,
 * length-delimited protobuf (4-byte big-endian length + message, the file exporter's proto format),
 * one bare protobuf message (first byte 0x0a, the resource_spans tag), Jaeger JSON (`{"data": [trace,
 * ...]}` from the query API or the UI, or one trace object), Jaeger v2's `{"result": {OTLP}}`, and
 * Zipkin v2 JSON (an array of spans, or of traces). Jaeger's `data` and Zipkin's arrays are streamed
 * element by element, so memory grows with the largest trace (Jaeger) or span (Zipkin), not the file.
 * JSON that is none of these is an error that says what it looks like. A UTF-8 byte order mark at the
 * start of the file, of a line or of a document is skipped (files joined with `cat` keep one each).
 *
 * Errors are TraceFileErrors naming the file and the line (JSON) or byte offset (protobuf; offsets
 * count decompressed bytes). Batches yielded before an error stay yielded.
 *
 * @example
 * for await (const batch of readTraceFile('traces.jsonl.gz')) assemble(batch.spans);
 */
export function readTraceFile(source: string | NodeJS.ReadableStream, opts: ReadTraceFileOptions = {}): AsyncGenerator<DecodedBatch, void, undefined> {
  // Without `raw`, every unit is decoded where it is read: only batches come out.
  return readSource(source, opts, false) as AsyncGenerator<DecodedBatch, void, undefined>;
}

/**
 * A protobuf message or an OTLP JSON line, read but not decoded (readTraceUnits), with what its
 * errors name. `bytes` may be a view into the reader's buffer: valid until the next unit is read.
 */
export type RawUnit<B extends Uint8Array = Buffer> =
  /** `frame`: where its length prefix starts, in an uncompressed length-delimited file (readProtobufFrames reads from it). */
  | { raw: 'protobuf'; bytes: B; file: string; byte: number; at: string; frame?: number }
  /** `offset`: where the line starts, in an uncompressed file (readJsonLineRange reads from it); `line` 0 when not counted (readJsonLineRange). */
  | { raw: 'json-line'; bytes: B; file: string; line: number; offset?: number };

/** What readTraceUnits yields: the hot formats' messages raw, every other format's batches decoded. */
export type TraceUnit = DecodedBatch | RawUnit;

export function isRawUnit(unit: TraceUnit): unit is RawUnit {
  return 'raw' in unit;
}

/**
 * readTraceFile, except that OTLP protobuf messages and OTLP JSON lines (the hot formats) come out
 * raw, for decodeUnit to decode elsewhere (n1-report --jobs decodes them in worker threads).
 */
export function readTraceUnits(source: string | NodeJS.ReadableStream, opts: ReadTraceFileOptions = {}): AsyncGenerator<TraceUnit, void, undefined> {
  return readSource(source, opts, true);
}

/** The decoders of one stream of raw units (a file): one of each, so their memo tables serve every unit. */
export interface UnitDecoders {
  wire: WireDecoder;
  json: JsonDecoder;
  /** JSON lines into a sink (decodeJsonLineTo); `json` decodes the lines it gives up. */
  lazyJson: LazyJsonReader;
}

export function createUnitDecoders(): UnitDecoders {
  return { wire: createWireDecoder(), json: createJsonDecoder(), lazyJson: createLazyJsonReader() };
}

/** Decodes a raw unit exactly as readTraceFile would have, errors included. */
export function decodeUnit(unit: RawUnit, decoders: UnitDecoders): DecodedBatch {
  if (unit.raw === 'protobuf') return decodeMessageAt(unit.file, unit.at, unit.bytes, unit.byte, decoders.wire);
  return decodeAt(parseLine(unit.file, unit.bytes, unit.line), unit.file, unit.line, decoders.json);
}

/**
 * A raw JSON line into a sink, as WireDecoder.decodeTo does for protobuf: the lazy reader's spans
 * when it understands the line (otlp/json-lazy.ts), otherwise decodeUnit's records, each handed
 * over as a record, with decodeUnit's errors (nothing is handed over before one).
 */
export function decodeJsonLineTo(unit: Extract<RawUnit, { raw: 'json-line' }>, decoders: UnitDecoders, sink: SpanSink): SinkBatch {
  const batch = decoders.lazyJson.decodeTo(unit.bytes, sink);
  if (batch !== undefined) return batch;
  const decoded = decodeUnit(unit, decoders);
  for (const span of decoded.spans) sink.span(span);
  return { accepted: decoded.spans.length, rejected: decoded.rejected };
}

/**
 * readJsonLineRange or readProtobufFrames met a unit it does not hand over (a line longer than
 * maxJsonBytes, a frame cut short or too long): `offset` is where that unit starts (a line's first
 * byte, a message's first byte after its length prefix), for errorAtUnit.
 */
export class RangeReadError extends Error {
  override name = 'RangeReadError';
  constructor(readonly offset: number, message: string) {
    super(message);
  }
}

/**
 * The OTLP JSON lines of an uncompressed file that start in the byte range [from, to), read from
 * there without the lines before: n1-report --jobs splits a large file into such ranges, each read
 * by one thread (parallel/shard.ts). `from` is a line's start or any byte (the first line starting
 * at or after it is the first read); the last line is read past `to` to its end. Blank lines are
 * skipped as readTraceUnits skips them. Lines are not counted (`line` is 0), so a line too long
 * throws a RangeReadError, and errorAtUnit gives the error readTraceUnits would have for it.
 */
export async function readJsonLineRange(path: string, from: number, to: number, opts: ReadTraceFileOptions = {}): Promise<Extract<RawUnit, { raw: 'json-line' }>[]> {
  const max = opts.maxJsonBytes ?? DEFAULT_MAX_JSON_BYTES;
  const file = opts.name ?? path;
  const handle = await open(path, 'r');
  try {
    const end = opts.bytes ?? Infinity;
    const readAt = (position: number, length: number): Promise<Buffer> => readFully(handle, Buffer.allocUnsafe(Math.max(0, Math.min(length, end - position))), position);
    // Bytes from `base` on. A line starts at `from` when it is the file's start, follows a newline,
    // or follows the byte order mark the file starts with (readTraceUnits skips it, as it skips one
    // at the start of any line, which stays part of that line's offset).
    const base = from === BOM_BYTES ? 0 : Math.max(0, from - 1);
    let buf = await readAt(base, to - base);
    const lineAtFrom = from === 0 || buf[from - base - 1] === NEWLINE || (from === BOM_BYTES && startsWithBom(buf));
    let start = lineAtFrom ? from : base + buf.indexOf(NEWLINE, from - base) + 1;
    if (from > 0 && start === base) return []; // no newline in range: every line here started before it
    const units: Extract<RawUnit, { raw: 'json-line' }>[] = [];
    while (start < to) {
      let nl = buf.indexOf(NEWLINE, start - base);
      while (nl < 0) {
        // The range's last line goes on past it: read on to its end.
        if (buf.length - (start - base) > max) throw new RangeReadError(start, `JSON line at byte ${start} longer than ${max} bytes`);
        const more = await readAt(base + buf.length, Math.max(buf.length, 1024 * 1024));
        if (more.length === 0) break;
        const searchFrom = buf.length;
        buf = Buffer.concat([buf, more]);
        nl = buf.indexOf(NEWLINE, searchFrom);
      }
      const end = nl < 0 ? buf.length : nl;
      if (end - (start - base) > max) throw new RangeReadError(start, `JSON line at byte ${start} longer than ${max} bytes`);
      const line = withoutBom(buf.subarray(start - base, end));
      if (!isBlank(line)) units.push({ raw: 'json-line', bytes: line, file, line: 0, offset: start });
      if (nl < 0) break;
      start = base + nl + 1;
    }
    return units;
  } finally {
    await handle.close();
  }
}

/**
 * The messages of an uncompressed length-delimited OTLP protobuf file from the length prefix at byte
 * `from` on, frame by frame, as readTraceUnits reads them; a message's bytes are read only when
 * `wanted(k)` for its index k from `from` (otherwise undefined stands for it). n1-report --jobs: a
 * thread reads the messages it decodes for all threads, and of the others only the length prefixes
 * (and small ones whole, with the prefixes around them). A frame cut short or longer than
 * maxMessageBytes throws a RangeReadError (errorAtUnit says how).
 */
export async function* readProtobufFrames(
  path: string, from: number, wanted: (k: number) => boolean, opts: ReadTraceFileOptions = {},
): AsyncGenerator<Extract<RawUnit, { raw: 'protobuf' }> | undefined> {
  const max = opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  const file = opts.name ?? path;
  const handle = await open(path, 'r');
  try {
    const size = opts.bytes ?? (await handle.stat()).size;
    // A window of the file: after small messages, the next prefixes (and bodies) come from one read;
    // after a large one, only the prefix is read.
    let window: Buffer = Buffer.alloc(0);
    let windowAt = 0;
    let ahead = 64 * 1024;
    const bytesAt = async (offset: number, length: number): Promise<Buffer> => {
      if (offset < windowAt || offset + length > windowAt + window.length) {
        window = await readFully(handle, Buffer.allocUnsafe(Math.min(length + ahead, size - offset)), offset);
        windowAt = offset;
      }
      return window.subarray(offset - windowAt, offset - windowAt + length);
    };
    for (let at = from, k = 0; at < size; k++) {
      if (at + 4 > size) throw new RangeReadError(at + 4, `truncated length prefix at byte ${at}`);
      const length = (await bytesAt(at, 4)).readUInt32BE(0);
      const start = at + 4;
      if (length > max || start + length > size) throw new RangeReadError(start, `bad length-delimited frame at byte ${at}`);
      ahead = length < 16 * 1024 ? 64 * 1024 : 4;
      // Copied out of the window, which the next read replaces.
      yield wanted(k) ? { raw: 'protobuf', bytes: Buffer.from(await bytesAt(start, length)), file, byte: start, at: '', frame: at } : undefined;
      at = start + length;
    }
  } finally {
    await handle.close();
  }
}

/** `buf` filled from the file at `position`, or as much of it as the file holds from there. */
async function readFully(handle: FileHandle, buf: Buffer, position: number): Promise<Buffer> {
  let got = 0;
  while (got < buf.length) {
    const { bytesRead } = await handle.read(buf, got, buf.length - got, position + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return got === buf.length ? buf : buf.subarray(0, got);
}

/**
 * What readTraceUnits and decodeUnit throw for the raw unit at `offset` of `path` (a JSON line's
 * first byte, a protobuf message's), read from the start of the file: the error, with the line
 * numbered as --jobs 1 numbers it, that a unit read by readJsonLineRange or readProtobufFrames met;
 * undefined if that unit reads and decodes.
 */
export async function errorAtUnit(path: string, offset: number, opts: ReadTraceFileOptions = {}): Promise<unknown> {
  const decoders = createUnitDecoders();
  try {
    for await (const unit of readTraceUnits(path, opts)) {
      if (!isRawUnit(unit)) continue;
      const at = unit.raw === 'json-line' ? unit.offset : unit.byte;
      if (at === undefined || at < offset) continue;
      if (at > offset) return undefined;
      decodeUnit(unit, decoders);
      return undefined;
    }
  } catch (error) {
    return error;
  }
  return undefined;
}

/** Runs `decode` on a raw protobuf unit's bytes; its errors become the TraceFileError decodeUnit would throw. */
export function inProtobufUnit<T>(unit: Extract<RawUnit, { raw: 'protobuf' }>, decode: (bytes: Buffer) => T): T {
  return atMessage(unit.file, unit.at, unit.byte, () => decode(unit.bytes));
}

async function* readSource(source: string | NodeJS.ReadableStream, opts: ReadTraceFileOptions, raw: boolean): AsyncGenerator<TraceUnit, void, undefined> {
  const file = opts.name ?? (source === '-' ? 'stdin' : typeof source === 'string' ? source : '<stream>');
  const owned = typeof source === 'string' && source !== '-';
  const stream: NodeJS.ReadableStream =
    source === '-'
      ? process.stdin
      : typeof source === 'string'
        ? opts.bytes === 0
          ? Readable.from([])
          : createReadStream(source, { highWaterMark: CHUNK_BYTES, ...(opts.bytes === undefined ? {} : { end: opts.bytes - 1 }) })
        : source;
  const cleanups: (() => void)[] = [];
  if (owned) cleanups.push(() => (stream as Readable).destroy());
  try {
    let reader = new ByteReader(bufferChunks(iterate(stream, owned), file)[Symbol.asyncIterator]());
    let gzipped = false;
    if (!(await reader.ensure(1))) throw new TraceFileError(file, 'empty file');
    await reader.ensure(2);
    if (reader.buf[0] === 0x1f && reader.buf[1] === 0x8b) {
      gzipped = true;
      reader = gunzipReader(reader, file, cleanups);
      if (!(await reader.ensure(1))) throw new TraceFileError(file, 'empty file (the gzip content is empty)');
    }
    const ctx: Context = {
      file,
      reader,
      at: gzipped ? ' of the gunzipped data' : '',
      maxJsonBytes: opts.maxJsonBytes ?? DEFAULT_MAX_JSON_BYTES,
      maxMessageBytes: opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
      decoder: createWireDecoder(),
      json: createJsonDecoder(),
      raw,
    };
    const format = await sniff(reader);
    if (format === 'blank') throw new TraceFileError(file, 'empty file (only whitespace)');
    if (format === 'json') {
      const key = await firstKey(reader);
      // One Jaeger trace per document: held whole, as a trace is the unit of analysis anyway.
      if (key !== undefined && JAEGER_TRACE_KEYS.has(key)) yield* readJson(ctx, decodeJaegerAt);
      else if (key === undefined || key === '' || OTLP_KEYS.has(key)) yield* readJson(ctx, decodeAt);
      // Any other first key: Jaeger's `{"data": […]}`, streamed, or a trace or request with another key first.
      else yield* readJsonObjects(ctx);
    } else if (format === 'json-array') yield* readJsonArray(ctx);
    else if (format === 'json-scalar') {
      throw new TraceFileError(file, notTraceData(`this looks like ${describeJsonValue(JSON.parse(reader.buf.toString('utf8', 0, Math.min(reader.buf.length, 4096))))}`));
    }
    else if (format === 'bare-protobuf') yield await readBareProtobuf(ctx);
    else yield* readDelimitedProtobuf(ctx);
  } finally {
    for (const cleanup of cleanups) cleanup();
  }
}

interface Context {
  file: string;
  reader: ByteReader;
  /** Appended to byte offsets, to say they count decompressed bytes. */
  at: string;
  maxJsonBytes: number;
  maxMessageBytes: number;
  /** The file's protobuf decoder: one per file, so its memo tables serve every message. */
  decoder: WireDecoder;
  /** The file's OTLP/JSON decoder, likewise. */
  json: JsonDecoder;
  /** Yield protobuf messages and OTLP JSON lines undecoded (readTraceUnits). */
  raw: boolean;
}

/** A reader over the gunzipped bytes of the rest of `raw` (its buffered bytes included). */
function gunzipReader(raw: ByteReader, file: string, cleanups: (() => void)[]): ByteReader {
  async function* compressed(): AsyncGenerator<Buffer> {
    yield raw.take(raw.buf.length);
    while (await raw.more()) yield raw.take(raw.buf.length);
  }
  const gunzip = createGunzip({ chunkSize: 256 * 1024 });
  const source = Readable.from(compressed());
  cleanups.push(() => {
    source.destroy();
    gunzip.destroy();
  });
  // pipeline forwards a read error into gunzip, whose iterator then throws it.
  pipeline(source, gunzip, () => {});
  async function* inflated(): AsyncGenerator<Buffer> {
    try {
      for await (const chunk of gunzip) yield chunk as Buffer;
    } catch (err) {
      if (err instanceof TraceFileError) throw err;
      throw new TraceFileError(file, `invalid gzip data (${(err as Error).message})`, {}, { cause: err });
    }
  }
  return new ByteReader(inflated());
}

/**
 * JSON when the first non-whitespace byte is `{` and it is followed by `"` + a letter or by `}`, or
 * is `[`. A bare protobuf message starts with 0x0a, a "whitespace" byte, and its first length byte can
 * happen to be 0x7b or 0x5b (a ResourceSpans of 123 or 91 bytes); a length prefix can start with
 * 0x09, 0x0a, 0x0d or 0x20 and go on with either. So after leading whitespace, `{` or `[` is JSON
 * only when the text around it is (isJsonText).
 */
async function sniff(reader: ByteReader): Promise<'json' | 'json-array' | 'json-scalar' | 'bare-protobuf' | 'delimited-protobuf' | 'blank'> {
  let i = 0;
  // Skip a UTF-8 byte order mark: some editors write one.
  if ((await reader.ensure(BOM_BYTES)) && startsWithBom(reader.buf)) reader.take(BOM_BYTES);
  const first = reader.buf[0];
  for (;;) {
    if (!(await reader.ensure(i + 1))) return 'blank';
    if (isSpace(reader.buf[i]!)) i++;
    // One after blank lines too: an empty file joined first with cat.
    else if (reader.buf[i] === 0xef && (await reader.ensure(i + BOM_BYTES)) && startsWithBom(reader.buf.subarray(i))) i += BOM_BYTES;
    else break;
  }
  if (reader.buf[i] === OPEN_BRACE) {
    if (first === OPEN_BRACE) return 'json'; // even invalid JSON: JSON was meant, so let the parser say why
    let j = i + 1;
    while ((await reader.ensure(j + 1)) && isSpace(reader.buf[j]!)) j++;
    const next = reader.buf[j];
    const key = next === QUOTE && (await reader.ensure(j + 2)) && /[A-Za-z_]/.test(String.fromCharCode(reader.buf[j + 1]!));
    if ((next === CLOSE_BRACE || key) && (await isJsonText(reader))) return 'json';
  }
  // A length prefix starting 0x5b would announce over 1.5 GB, so `[` first is a JSON array (Zipkin).
  if (reader.buf[i] === OPEN_BRACKET && (i === 0 || (await isJsonText(reader)))) {
    reader.take(i);
    return 'json-array';
  }
  // Likewise for a lone JSON string, number or literal: say so rather than blame a length prefix.
  if (/["0-9tfn-]/.test(String.fromCharCode(reader.buf[i]!))) {
    await reader.ensure(4096);
    try {
      JSON.parse(reader.buf.toString('utf8', 0, Math.min(reader.buf.length, 4096)));
      return 'json-scalar';
    } catch {
      // Not JSON after all: protobuf decides.
    }
  }
  return first === RESOURCE_SPANS_TAG ? 'bare-protobuf' : 'delimited-protobuf';
}

/** Bytes isJsonText looks at. */
const JSON_TEXT_BYTES = 4096;

/**
 * Whether the reader's first 4 KiB could be JSON text: no control byte but tab, newline and carriage
 * return, which JSON allows nowhere else (not even in strings, where they are escaped). Protobuf has
 * them within its first ResourceSpans: the tags of its fields past the first (0x12, 0x1a), lengths
 * under 32, the zero bytes of ids and times.
 */
async function isJsonText(reader: ByteReader): Promise<boolean> {
  await reader.ensure(JSON_TEXT_BYTES);
  const end = Math.min(reader.buf.length, JSON_TEXT_BYTES);
  for (let k = 0; k < end; k++) {
    const b = reader.buf[k]!;
    if (b < 0x20 && !isSpace(b)) return false;
  }
  return true;
}

function decodeError(err: unknown): string {
  return err instanceof OtlpDecodeError ? err.message : String(err);
}

/**
 * JSON lines when the first non-blank line parses on its own; otherwise one or more multi-line
 * documents, delimited by bracket depth so finding each end is linear, not a parse per line.
 */
type DecodeAt = (parsed: unknown, file: string, line: number, json: JsonDecoder) => DecodedBatch;

async function* readJson(ctx: Context, decode: DecodeAt): AsyncGenerator<TraceUnit> {
  const { file, reader } = ctx;
  const tooLong = (line: number) => (length: number): never => {
    throw new TraceFileError(file, `JSON text longer than ${ctx.maxJsonBytes} bytes (${length} read so far)`, { line });
  };
  let lineNo = 0;
  let first: Buffer | null;
  let offset: number;
  do {
    offset = reader.offset;
    first = await jsonLine(reader, ctx.maxJsonBytes, tooLong(lineNo + 1));
    lineNo++;
  } while (first !== null && isBlank(first));
  if (first === null) return;

  let parsed: unknown;
  let firstError: Error | undefined;
  try {
    parsed = JSON.parse(first.toString('utf8'));
  } catch (err) {
    firstError = err as Error;
  }
  if (firstError === undefined) {
    // Parsed only to tell JSON lines from a document: in raw mode an OTLP line goes on as its bytes,
    // read like every line after it, not decoded a second way (and, cold, more slowly).
    if (ctx.raw && decode === decodeAt && otlpObject(parsed, file, lineNo)) yield jsonLineUnit(ctx, first, lineNo, offset);
    else yield decode(parsed, file, lineNo, ctx.json);
    yield* readJsonLines(ctx, lineNo, tooLong, decode);
    return;
  }
  const depth = new JsonDepth();
  const end = depth.scan(first);
  if (end >= 0) {
    // The first line closes its value yet does not parse: a bad JSON line, not a document.
    throw new TraceFileError(file, `invalid JSON (${firstError.message})`, { line: lineNo });
  }
  yield* readJsonDocuments(ctx, lineNo, first, depth, decode);
}

async function* readJsonLines(
  ctx: Context, lineNo: number, tooLong: (line: number) => (length: number) => never, decode: DecodeAt,
): AsyncGenerator<TraceUnit> {
  const raw = ctx.raw && decode === decodeAt;
  for (;;) {
    const offset = ctx.reader.offset;
    const line = await jsonLine(ctx.reader, ctx.maxJsonBytes, tooLong(lineNo + 1));
    if (line === null) return;
    lineNo++;
    if (isBlank(line)) continue;
    if (raw) yield jsonLineUnit(ctx, line, lineNo, offset);
    else yield decode(parseLine(ctx.file, line, lineNo), ctx.file, lineNo, ctx.json);
  }
}

/** A JSON line as its bytes; `offset`, where it starts in the file, only kept on an uncompressed one. */
function jsonLineUnit(ctx: Context, bytes: Buffer, line: number, offset: number): RawUnit {
  return ctx.at === '' ? { raw: 'json-line', bytes, file: ctx.file, line, offset } : { raw: 'json-line', bytes, file: ctx.file, line };
}

function parseLine(file: string, line: Buffer, lineNo: number): unknown {
  try {
    return JSON.parse(line.toString('utf8'));
  } catch (err) {
    throw new TraceFileError(file, `invalid JSON (${(err as Error).message})`, { line: lineNo }, { cause: err });
  }
}

/** Documents that span lines; `head` is the first line of the first one, already scanned into `depth`. */
async function* readJsonDocuments(
  ctx: Context, startLine: number, head: Buffer, depth: JsonDepth, decode: DecodeAt,
): AsyncGenerator<DecodedBatch> {
  const { file, reader } = ctx;
  // head was one line, so the newline after it belongs to the document too.
  let parts: Buffer[] = [head, Buffer.from('\n')];
  let length = head.length + 1;
  depth.newlines = 1;
  let docLine = startLine;
  for (;;) {
    // Find the end of the current document in the buffered bytes, pulling more as needed.
    let end = depth.scan(reader.buf);
    while (end < 0) {
      length += reader.buf.length;
      if (length > ctx.maxJsonBytes) {
        throw new TraceFileError(file, `JSON document longer than ${ctx.maxJsonBytes} bytes`, { line: docLine });
      }
      parts.push(reader.take(reader.buf.length));
      if (!(await reader.more())) {
        throw new TraceFileError(file, `truncated JSON document: the file ends inside it (${depth.depth} brackets open)`, {
          line: docLine,
        });
      }
      end = depth.scan(reader.buf);
    }
    length += end;
    if (length > ctx.maxJsonBytes) throw new TraceFileError(file, `JSON document longer than ${ctx.maxJsonBytes} bytes`, { line: docLine });
    parts.push(reader.take(end));
    let parsed: unknown;
    try {
      parsed = JSON.parse(Buffer.concat(parts, length).toString('utf8'));
    } catch (err) {
      throw new TraceFileError(file, `invalid JSON (${(err as Error).message})`, { line: docLine }, { cause: err });
    }
    parts = [];
    length = 0;
    yield decode(parsed, file, docLine, ctx.json);

    // Between documents only whitespace and byte order marks (documents joined with `cat`); count
    // its newlines for the next document's line.
    let lines = startLine + depth.newlines;
    for (;;) {
      let i = 0;
      while (i < reader.buf.length && isSpace(reader.buf[i]!)) {
        if (reader.buf[i] === NEWLINE) lines++;
        i++;
      }
      reader.take(i);
      if (await takeBom(reader)) continue;
      if (reader.buf.length > 0 || !(await reader.more())) break;
    }
    if (reader.buf.length === 0) return;
    if (reader.buf[0] !== OPEN_BRACE) {
      throw new TraceFileError(file, `unexpected ${JSON.stringify(String.fromCharCode(reader.buf[0]!))} after a JSON document`, { line: lines });
    }
    startLine = docLine = lines;
    depth.newlines = 0;
  }
}

/** A UTF-8 byte order mark: EF BB BF. */
const BOM_BYTES = 3;
const startsWithBom = (b: Uint8Array): boolean => b.length >= BOM_BYTES && b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf;
/** A JSON line without the byte order mark it may start with: files joined with `cat` keep one each. */
const withoutBom = (line: Buffer): Buffer => (startsWithBom(line) ? line.subarray(BOM_BYTES) : line);

/** ByteReader.line for JSON text: a byte order mark at the line's start is skipped as whitespace is. */
async function jsonLine(reader: ByteReader, max: number, tooLong: (length: number) => never): Promise<Buffer | null> {
  const line = await reader.line(max, tooLong);
  return line === null ? null : withoutBom(line);
}

/** Takes a byte order mark at the reader, if one is there; whether it was. */
async function takeBom(reader: ByteReader): Promise<boolean> {
  if (reader.buf[0] !== 0xef || !(await reader.ensure(BOM_BYTES)) || !startsWithBom(reader.buf)) return false;
  reader.take(BOM_BYTES);
  return true;
}

function isBlank(line: Buffer): boolean {
  for (const byte of line) if (!isSpace(byte)) return false;
  return true;
}

/**
 * Whether `parsed` is a JSON object with an OTLP request's keys (false for anything else decodeAt
 * reports on); throws decodeAt's error for an object with keys and none of them OTLP's.
 */
function otlpObject(parsed: unknown, file: string, line: number): boolean {
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return false;
  const keys = Object.keys(parsed);
  if (keys.length > 0 && !keys.some((k) => OTLP_KEYS.has(k))) {
    throw new TraceFileError(file, notTraceData(`this looks like ${describeObjectKeys(keys)}`), { line });
  }
  return keys.length > 0;
}

/** An OTLP request; a JSON object without resourceSpans is some other file, never an empty batch. */
function decodeAt(parsed: unknown, file: string, line: number, json: JsonDecoder): DecodedBatch {
  otlpObject(parsed, file, line);
  try {
    return json.decodeValue(parsed);
  } catch (err) {
    throw new TraceFileError(file, decodeError(err), { line }, { cause: err });
  }
}

/** One Jaeger trace object per document or line. */
function decodeJaegerAt(parsed: unknown, file: string, line: number): DecodedBatch {
  if (!isJaegerTrace(parsed)) throw new TraceFileError(file, notTraceData(`this looks like ${describeJsonValue(parsed)}`), { line });
  try {
    return decodeJaegerTrace(parsed);
  } catch (err) {
    throw new TraceFileError(file, decodeError(err), { line }, { cause: err });
  }
}

/** `frame`: its length prefix's offset in a length-delimited file, kept on a raw unit of an uncompressed one. */
function decodeMessage(ctx: Context, message: Buffer, byte: number, frame?: number): TraceUnit {
  if (ctx.raw) return { raw: 'protobuf', bytes: message, file: ctx.file, byte, at: ctx.at, ...(frame === undefined || ctx.at !== '' ? {} : { frame }) };
  return decodeMessageAt(ctx.file, ctx.at, message, byte, ctx.decoder);
}

function decodeMessageAt(file: string, at: string, message: Uint8Array, byte: number, decoder: WireDecoder): DecodedBatch {
  return atMessage(file, at, byte, () => decoder.decode(message));
}

function atMessage<T>(file: string, at: string, byte: number, decode: () => T): T {
  try {
    return decode();
  } catch (err) {
    throw new TraceFileError(file, `message at byte ${byte}${at}: ${decodeError(err)}`, { byte }, { cause: err });
  }
}

async function readBareProtobuf(ctx: Context): Promise<TraceUnit> {
  const { reader } = ctx;
  // Collect chunks and concatenate once: appending chunk by chunk would copy quadratically.
  const parts: Buffer[] = [];
  let length = 0;
  do {
    length += reader.buf.length;
    if (length > ctx.maxMessageBytes) {
      throw new TraceFileError(
        ctx.file,
        `single protobuf message longer than ${ctx.maxMessageBytes} bytes; write length-delimited messages instead`,
        { byte: 0 },
      );
    }
    parts.push(reader.take(reader.buf.length));
  } while (await reader.more());
  return decodeMessage(ctx, Buffer.concat(parts, length), 0);
}

async function* readDelimitedProtobuf(ctx: Context): AsyncGenerator<TraceUnit> {
  const { file, reader } = ctx;
  for (;;) {
    const at = reader.offset;
    if (!(await reader.ensure(4))) {
      if (reader.buf.length === 0) return;
      throw new TraceFileError(file, `truncated length prefix at byte ${at}${ctx.at}: need 4 bytes, have ${reader.buf.length}`, { byte: at });
    }
    const length = reader.buf.readUInt32BE(0);
    if (length > ctx.maxMessageBytes) {
      throw new TraceFileError(
        file,
        `length prefix at byte ${at}${ctx.at} announces ${length} bytes, more than the ${ctx.maxMessageBytes}-byte limit (not a length-delimited OTLP file?)`,
        { byte: at },
      );
    }
    reader.take(4);
    const start = reader.offset;
    const message = await reader.takeWhole(length);
    if (message === undefined) {
      throw new TraceFileError(
        file,
        `truncated length-delimited message at byte ${start}${ctx.at}: need ${length} bytes, have ${reader.buf.length}`,
        { byte: start },
      );
    }
    yield decodeMessage(ctx, message, start, at);
  }
}

/**
 * The first key of the JSON object at the reader (which sits on its `{` after whitespace), without
 * consuming anything: '' for `{}`, undefined when it cannot tell (not a plain key within 4 KiB).
 */
async function firstKey(reader: ByteReader): Promise<string | undefined> {
  let i = 0;
  const at = async (k: number): Promise<number> => ((await reader.ensure(k + 1)) ? reader.buf[k]! : -1);
  while (isSpace(await at(i))) i++;
  if ((await at(i)) !== OPEN_BRACE) return undefined;
  i++;
  while (isSpace(await at(i))) i++;
  const b = await at(i);
  if (b === CLOSE_BRACE) return '';
  if (b !== QUOTE) return undefined;
  const start = ++i;
  for (; i - start < 4096; i++) {
    const c = await at(i);
    if (c === -1 || c === BACKSLASH) return undefined;
    if (c === QUOTE) return reader.buf.toString('utf8', start, i);
  }
  return undefined;
}

/** Skips whitespace; the next byte without consuming it, or -1 at the end. */
async function peekByte(reader: ByteReader): Promise<number> {
  for (;;) {
    let i = 0;
    while (i < reader.buf.length && isSpace(reader.buf[i]!)) i++;
    reader.take(i);
    if (reader.buf.length > 0) return reader.buf[0]!;
    if (!(await reader.more())) return -1;
  }
}

/** peekByte between top-level values, where byte order marks are skipped too (files joined with `cat`). */
async function peekTopLevel(reader: ByteReader): Promise<number> {
  for (;;) {
    const c = await peekByte(reader);
    if (!(await takeBom(reader))) return c;
  }
}

/** Finds where one JSON value ends, across chunks: a container by bracket depth, a string by its quote, a scalar by the next delimiter. */
class ValueEnd {
  private mode: 'start' | 'container' | 'string' | 'scalar' = 'start';
  private readonly depth = new JsonDepth();
  private escaped = false;

  /** Scans bytes[from..]; the index just past the value's last byte, or -1. */
  scan(bytes: Buffer, from = 0): number {
    let i = from;
    if (this.mode === 'start' && i < bytes.length) {
      const b = bytes[i]!;
      this.mode = b === OPEN_BRACE || b === OPEN_BRACKET ? 'container' : b === QUOTE ? 'string' : 'scalar';
      if (this.mode === 'string') i++;
    }
    if (this.mode === 'container') return this.depth.scan(bytes, i);
    for (; i < bytes.length; i++) {
      const b = bytes[i]!;
      if (this.mode === 'string') {
        if (this.escaped) this.escaped = false;
        else if (b === BACKSLASH) this.escaped = true;
        else if (b === QUOTE) return i + 1;
      } else if (b === COMMA || b === CLOSE_BRACE || b === CLOSE_BRACKET || isSpace(b)) return i;
    }
    return -1;
  }
}

/**
 * Reads the JSON value at the reader (after peekByte): parsed when `keep`, skipped otherwise (its
 * bytes are dropped as they are scanned, so a skipped value costs no memory).
 */
async function readValue(ctx: Context, keep: boolean, max: number, where: string): Promise<unknown> {
  const { reader, file } = ctx;
  const end = new ValueEnd();
  const parts: Buffer[] = [];
  let length = 0;
  let stop = end.scan(reader.buf);
  while (stop < 0) {
    length += reader.buf.length;
    if (keep && length > max) throw new TraceFileError(file, `${where} is longer than ${max} bytes`);
    const chunk = reader.take(reader.buf.length);
    if (keep) parts.push(chunk);
    if (!(await reader.more())) {
      // A scalar may end with the file.
      if (!keep || reader.buf.length > 0) throw new TraceFileError(file, `truncated JSON: the file ends inside ${where}`);
      stop = 0;
      break;
    }
    stop = end.scan(reader.buf);
  }
  const tail = reader.take(stop);
  if (!keep) return undefined;
  length += stop;
  if (length > max) throw new TraceFileError(file, `${where} is longer than ${max} bytes`);
  try {
    return JSON.parse(Buffer.concat([...parts, tail], length).toString('utf8'));
  } catch (err) {
    throw new TraceFileError(file, `invalid JSON in ${where} (${(err as Error).message})`, {}, { cause: err });
  }
}

function unexpected(ctx: Context, byte: number, where: string): TraceFileError {
  const what = byte < 0 ? 'the end of the file' : JSON.stringify(String.fromCharCode(byte));
  return new TraceFileError(ctx.file, `invalid JSON: unexpected ${what} ${where}`);
}

/** The elements of the JSON array at the reader (on its `[`), parsed one at a time. */
async function* arrayElements(ctx: Context, where: string): AsyncGenerator<unknown> {
  const { reader } = ctx;
  reader.take(1);
  let c = await peekByte(reader);
  if (c === CLOSE_BRACKET) {
    reader.take(1);
    return;
  }
  for (let index = 0; ; index++) {
    if (c < 0) throw unexpected(ctx, c, `inside ${where}`);
    yield await readValue(ctx, true, ctx.maxJsonBytes, `${where}[${index}]`);
    c = await peekByte(reader);
    if (c === CLOSE_BRACKET) {
      reader.take(1);
      return;
    }
    if (c !== COMMA) throw unexpected(ctx, c, `after ${where}[${index}]`);
    reader.take(1);
    c = await peekByte(reader);
  }
}

function decodeIn(ctx: Context, decode: () => DecodedBatch): DecodedBatch {
  try {
    return decode();
  } catch (err) {
    throw new TraceFileError(ctx.file, decodeError(err), {}, { cause: err });
  }
}

/**
 * A top-level JSON array: Zipkin v2 spans, Zipkin traces (arrays of spans), Jaeger traces or OTLP
 * requests, one element at a time. Zipkin spans are decoded in batches of ZIPKIN_BATCH_SPANS.
 */
async function* readJsonArray(ctx: Context): AsyncGenerator<DecodedBatch> {
  let zipkin = new ZipkinBatch();
  let index = 0;
  for await (const element of arrayElements(ctx, 'the top-level array')) {
    const where = `element ${index} of the top-level array`;
    if (isZipkinSpan(element)) decodeIn(ctx, () => (zipkin.add(element, where), zipkin.result()));
    else if (Array.isArray(element) && element.every(isZipkinSpan)) {
      decodeIn(ctx, () => {
        element.forEach((span, j) => zipkin.add(span, `${where}[${j}]`));
        return zipkin.result();
      });
    } else if (isJaegerTrace(element)) {
      yield decodeIn(ctx, () => decodeJaegerTrace(element, where));
    } else if (typeof element === 'object' && element !== null && Object.keys(element).some((k) => OTLP_KEYS.has(k))) {
      yield decodeIn(ctx, () => ctx.json.decodeValue(element));
    } else {
      throw new TraceFileError(ctx.file, notTraceData(`${where} is ${describeJsonValue(element)}`));
    }
    if (zipkin.size >= ZIPKIN_BATCH_SPANS) {
      yield zipkin.result();
      zipkin = new ZipkinBatch();
    }
    index++;
  }
  if (zipkin.size > 0) yield zipkin.result();
  const c = await peekTopLevel(ctx.reader);
  if (c >= 0) throw unexpected(ctx, c, 'after the top-level array');
}

/** A Jaeger query API error body: `{"data": null, "errors": [{"code": 500, "msg": "…"}]}`. */
function jaegerErrors(errors: unknown): string | undefined {
  if (!Array.isArray(errors) || errors.length === 0) return undefined;
  const messages = errors.map((e) => {
    const { msg, message } = (typeof e === 'object' && e !== null ? e : {}) as { msg?: unknown; message?: unknown };
    return typeof msg === 'string' ? msg : typeof message === 'string' ? message : JSON.stringify(e);
  });
  return messages.join('; ');
}

/**
 * JSON objects whose first key is not an OTLP request's, one after another: Jaeger's `{"data":
 * [trace, ...]}` (streamed trace by trace), Jaeger v2's `{"result": {OTLP}}`, a Jaeger trace or an
 * OTLP request whose first key is another (`{"warnings": null, "traceID": …}`, `{"foo": 1,
 * "resourceSpans": […]}`: the values they are decoded from are kept as they come, the rest skipped,
 * as json.ts skips unknown keys), or an error saying what the object looks like.
 */
async function* readJsonObjects(ctx: Context): AsyncGenerator<DecodedBatch> {
  const { reader } = ctx;
  for (let c = await peekTopLevel(reader); c >= 0; c = await peekTopLevel(reader)) {
    if (c !== OPEN_BRACE) throw unexpected(ctx, c, 'after a JSON object');
    reader.take(1);
    const keys: string[] = [];
    let traces = false;
    let errors: unknown;
    const jaeger: Record<string, unknown> = {};
    const otlp: Record<string, unknown> = {};
    for (c = await peekByte(reader); c !== CLOSE_BRACE; c = await peekByte(reader)) {
      if (c !== QUOTE) throw unexpected(ctx, c, 'where an object key should be');
      const key = String(await readValue(ctx, true, SMALL_JSON_BYTES, 'an object key'));
      keys.push(key);
      c = await peekByte(reader);
      if (c !== COLON) throw unexpected(ctx, c, `after the key ${JSON.stringify(key)}`);
      reader.take(1);
      c = await peekByte(reader);
      if (key === 'data' && c === OPEN_BRACKET) {
        traces = true;
        let i = 0;
        for await (const trace of arrayElements(ctx, 'data')) {
          if (!isJaegerTrace(trace)) {
            const what = typeof trace === 'string' ? 'this looks like a Jaeger /api/services response: names, not traces' : `data[${i}] is ${describeJsonValue(trace)}`;
            throw new TraceFileError(ctx.file, notTraceData(what));
          }
          yield decodeIn(ctx, () => decodeJaegerTrace(trace, `data[${i}]`));
          i++;
        }
      } else if (key === 'result' && c === OPEN_BRACE) {
        // Jaeger v2's /api/v3 responses: one OTLP request under "result".
        traces = true;
        const result = await readValue(ctx, true, ctx.maxJsonBytes, 'result');
        yield decodeAt(result, ctx.file, 1, ctx.json);
      } else if (key === 'errors' || key === 'error') {
        errors = await readValue(ctx, true, SMALL_JSON_BYTES, key);
        if (key === 'error') errors = [errors];
      } else if (OTLP_KEYS.has(key)) {
        otlp[key] = await readValue(ctx, true, ctx.maxJsonBytes, `the value of ${JSON.stringify(key)}`);
      } else if (JAEGER_DECODED_KEYS.has(key)) {
        jaeger[key] = await readValue(ctx, true, ctx.maxJsonBytes, `the value of ${JSON.stringify(key)}`);
      } else {
        await readValue(ctx, false, 0, `the value of ${JSON.stringify(key)}`);
      }
      c = await peekByte(reader);
      if (c === COMMA) reader.take(1);
      else if (c !== CLOSE_BRACE) throw unexpected(ctx, c, `after the value of ${JSON.stringify(key)}`);
    }
    reader.take(1);
    // An OTLP key makes the object a request, whatever else it holds, as it does on decodeAt's path.
    if (Object.keys(otlp).length > 0) {
      yield decodeIn(ctx, () => ctx.json.decodeValue(otlp));
      continue;
    }
    if (!traces && isJaegerTrace(jaeger)) {
      yield decodeIn(ctx, () => decodeJaegerTrace(jaeger));
      continue;
    }
    const failed = jaegerErrors(errors);
    if (failed !== undefined && !traces) throw new TraceFileError(ctx.file, `an error response, not traces: ${failed}`);
    if (!traces) throw new TraceFileError(ctx.file, notTraceData(`this looks like ${describeObjectKeys(keys)}`));
  }
}
