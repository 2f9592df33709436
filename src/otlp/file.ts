/** Streams a saved trace file (OTLP JSON lines / JSON document / protobuf, optionally gzip) as batches. */

import { createReadStream } from 'node:fs';
import { Readable, pipeline } from 'node:stream';
import { constants as bufferConstants } from 'node:buffer';
import { createGunzip } from 'node:zlib';
import { OtlpDecodeError, TraceFileError } from './errors.js';
import { decodeJsonValue } from './json.js';
import { decodeProtobufRequest } from './protobuf.js';
import type { DecodedBatch } from './span.js';

/** Options for readTraceFile. */
export interface ReadTraceFileOptions {
  /** Name used in error messages; default: the path, `stdin` for '-', `<stream>` for a stream. */
  name?: string;
  /** Largest JSON line or document held in memory; default 512 MiB (capped by V8's string limit). */
  maxJsonBytes?: number;
  /** Largest protobuf message held in memory; default 256 MiB. */
  maxMessageBytes?: number;
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
    this.buf = parts.length === 1 ? this.buf : Buffer.concat(parts, length);
    return length >= n;
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

  /** Scans bytes[from..]; returns the index just past the byte that closes the value, or -1. */
  scan(bytes: Buffer, from = 0): number {
    for (let i = from; i < bytes.length; i++) {
      const b = bytes[i]!;
      if (b === NEWLINE) this.newlines++;
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (b === BACKSLASH) this.escaped = true;
        else if (b === QUOTE) this.inString = false;
      } else if (b === QUOTE) this.inString = true;
      else if (b === OPEN_BRACE || b === 0x5b) this.depth++;
      else if (b === 0x7d || b === 0x5d) {
        if (--this.depth === 0) return i + 1;
      }
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
 * or one bare protobuf message (first byte 0x0a, the resource_spans tag).
 *
 * Errors are TraceFileErrors naming the file and the line (JSON) or byte offset (protobuf; offsets
 * count decompressed bytes). Batches yielded before an error stay yielded.
 *
 * @example
 * for await (const batch of readTraceFile('traces.jsonl.gz')) assemble(batch.spans);
 */
export async function* readTraceFile(
  source: string | NodeJS.ReadableStream,
  opts: ReadTraceFileOptions = {},
): AsyncGenerator<DecodedBatch, void, undefined> {
  const file = opts.name ?? (source === '-' ? 'stdin' : typeof source === 'string' ? source : '<stream>');
  const owned = typeof source === 'string' && source !== '-';
  const stream: NodeJS.ReadableStream =
    source === '-' ? process.stdin : typeof source === 'string' ? createReadStream(source, { highWaterMark: CHUNK_BYTES }) : source;
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
    };
    const format = await sniff(reader);
    if (format === 'blank') throw new TraceFileError(file, 'empty file (only whitespace)');
    if (format === 'json') yield* readJson(ctx);
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
 * JSON when the first non-whitespace byte is `{` and it is followed by `"` + a letter or by `}`:
 * a bare protobuf message also starts with 0x0a, a "whitespace" byte, and its length byte can
 * happen to be 0x7b, so `{` alone is not proof.
 */
async function sniff(reader: ByteReader): Promise<'json' | 'bare-protobuf' | 'delimited-protobuf' | 'blank'> {
  let i = 0;
  // Skip a UTF-8 byte order mark: some editors write one.
  if ((await reader.ensure(3)) && reader.buf[0] === 0xef && reader.buf[1] === 0xbb && reader.buf[2] === 0xbf) {
    reader.take(3);
  }
  const first = reader.buf[0];
  for (;;) {
    if (!(await reader.ensure(i + 1))) return 'blank';
    if (!isSpace(reader.buf[i]!)) break;
    i++;
  }
  if (reader.buf[i] === OPEN_BRACE) {
    let j = i + 1;
    while ((await reader.ensure(j + 1)) && isSpace(reader.buf[j]!)) j++;
    const next = reader.buf[j];
    if (next === 0x7d) return 'json';
    if (next === QUOTE && (await reader.ensure(j + 2)) && /[A-Za-z_]/.test(String.fromCharCode(reader.buf[j + 1]!))) return 'json';
    if (first === OPEN_BRACE) return 'json'; // invalid JSON, but JSON was meant: let the parser say why
  }
  return first === RESOURCE_SPANS_TAG ? 'bare-protobuf' : 'delimited-protobuf';
}

function decodeError(err: unknown): string {
  return err instanceof OtlpDecodeError ? err.message : String(err);
}

/**
 * JSON lines when the first non-blank line parses on its own; otherwise one or more multi-line
 * documents, delimited by bracket depth so finding each end is linear, not a parse per line.
 */
async function* readJson(ctx: Context): AsyncGenerator<DecodedBatch> {
  const { file, reader } = ctx;
  const tooLong = (line: number) => (length: number): never => {
    throw new TraceFileError(file, `JSON text longer than ${ctx.maxJsonBytes} bytes (${length} read so far)`, { line });
  };
  let lineNo = 0;
  let first: Buffer | null;
  do {
    first = await reader.line(ctx.maxJsonBytes, tooLong(lineNo + 1));
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
    yield decodeAt(parsed, file, lineNo);
    yield* readJsonLines(ctx, lineNo, tooLong);
    return;
  }
  const depth = new JsonDepth();
  const end = depth.scan(first);
  if (end >= 0) {
    // The first line closes its value yet does not parse: a bad JSON line, not a document.
    throw new TraceFileError(file, `invalid JSON (${firstError.message})`, { line: lineNo });
  }
  yield* readJsonDocuments(ctx, lineNo, first, depth);
}

async function* readJsonLines(ctx: Context, lineNo: number, tooLong: (line: number) => (length: number) => never): AsyncGenerator<DecodedBatch> {
  for (;;) {
    const line = await ctx.reader.line(ctx.maxJsonBytes, tooLong(lineNo + 1));
    if (line === null) return;
    lineNo++;
    if (isBlank(line)) continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line.toString('utf8'));
    } catch (err) {
      throw new TraceFileError(ctx.file, `invalid JSON (${(err as Error).message})`, { line: lineNo }, { cause: err });
    }
    yield decodeAt(parsed, ctx.file, lineNo);
  }
}

/** Documents that span lines; `head` is the first line of the first one, already scanned into `depth`. */
async function* readJsonDocuments(ctx: Context, startLine: number, head: Buffer, depth: JsonDepth): AsyncGenerator<DecodedBatch> {
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
    yield decodeAt(parsed, file, docLine);

    // Between documents only whitespace; count its newlines for the next document's line.
    let lines = startLine + depth.newlines;
    for (;;) {
      let i = 0;
      while (i < reader.buf.length && isSpace(reader.buf[i]!)) {
        if (reader.buf[i] === NEWLINE) lines++;
        i++;
      }
      reader.take(i);
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

function isBlank(line: Buffer): boolean {
  for (const byte of line) if (!isSpace(byte)) return false;
  return true;
}

function decodeAt(parsed: unknown, file: string, line: number): DecodedBatch {
  try {
    return decodeJsonValue(parsed);
  } catch (err) {
    throw new TraceFileError(file, decodeError(err), { line }, { cause: err });
  }
}

function decodeMessage(ctx: Context, message: Uint8Array, byte: number): DecodedBatch {
  try {
    return decodeProtobufRequest(message);
  } catch (err) {
    throw new TraceFileError(ctx.file, `message at byte ${byte}${ctx.at}: ${decodeError(err)}`, { byte }, { cause: err });
  }
}

async function readBareProtobuf(ctx: Context): Promise<DecodedBatch> {
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

async function* readDelimitedProtobuf(ctx: Context): AsyncGenerator<DecodedBatch> {
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
    if (!(await reader.ensure(length))) {
      throw new TraceFileError(
        file,
        `truncated length-delimited message at byte ${start}${ctx.at}: need ${length} bytes, have ${reader.buf.length}`,
        { byte: start },
      );
    }
    yield decodeMessage(ctx, reader.take(length), start);
  }
}
