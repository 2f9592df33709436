/** Reads an OTLP/HTTP request body within a size limit, inflating gzip only up to that limit (gzip bombs stop there). */
import { constants as bufferConstants } from 'node:buffer';
import type { IncomingMessage } from 'node:http';
import { constants as zlibConstants, gunzip, gunzipSync, inflate, inflateSync } from 'node:zlib';
import { promisify } from 'node:util';
import type { SpoolCompression, SpoolRecord } from '../spool/index.js';
import { BodyRefused, UNCOUNTED_BODY, type BodyInFlight } from './inflight.js';

const gunzipAsync = promisify(gunzip);
const inflateAsync = promisify(inflate);

export class BodyError extends Error {
  constructor(
    readonly status: 400 | 413 | 415,
    message: string,
  ) {
    super(message);
    this.name = 'BodyError';
  }
}

/** The client went away before its body was complete. */
export class ClientGone extends Error {
  override name = 'ClientGone';
}

/**
 * Reads a request body as Buffer chunks, refusing once more than `limit` bytes have arrived (a
 * Content-Length above the limit is refused at once; a smaller one is not trusted). The body holds
 * each chunk in `inFlight` as it comes (a declared length costs nothing until its bytes arrive, so a
 * client that sends headers and stalls holds no budget); past the budget of bodies in flight it is
 * refused (BodyRefused) without reading the rest.
 */
export function readBody(req: IncomingMessage, limit: number, inFlight: BodyInFlight = UNCOUNTED_BODY): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    if (Number(req.headers['content-length']) > limit) {
      reject(new BodyError(413, `request body exceeds ${limit} bytes`));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onGone);
      req.off('close', onGone);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        done();
        req.pause();
        reject(new BodyError(413, `request body exceeds ${limit} bytes`));
        return;
      }
      const over = inFlight.hold(chunk.length);
      if (over !== undefined) {
        done();
        req.pause();
        reject(new BodyRefused(over));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      done();
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    };
    const onGone = (): void => {
      done();
      reject(new ClientGone('the client closed the connection before the body was complete'));
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onGone);
    req.on('close', onGone);
  });
}

/** Why a compressed body could not be inflated: past the limit, or not valid gzip/deflate. */
export class InflateError extends Error {
  constructor(
    readonly tooLarge: boolean,
    message: string,
  ) {
    super(message);
    this.name = 'InflateError';
  }
}

/**
 * Inflated on the event loop up to this many bytes: an export's usual size inflates in well under a
 * millisecond, at about half the CPU of zlib's asynchronous calls, which cross to the thread pool
 * once per 16 KiB of output. Past it (a large batch, or a bomb), the body is inflated again on the pool.
 */
const INFLATE_ON_LOOP_BYTES = 4 * 1024 * 1024;

/** A gzip member's header and trailer: 10 + 8 bytes. */
const GZIP_SMALLEST = 18;

/**
 * zlib's output chunk for a body inflated on the event loop. A gzip member ends with its inflated size
 * (mod 2^32), so one chunk of that size holds the whole export, where the 16 KiB default makes ~15
 * chunks and a copy to join them (a third of the inflate's CPU). Only a hint: a wrong or forged size
 * costs more chunks, or one larger than needed, never more than `limit`, and never smaller chunks
 * than the default (trailing zero bytes, which zlib ignores, read as a size of 0: 64-byte chunks
 * made a 4 KB body inflating to 4 MiB hold the event loop 15-30 times longer).
 */
export function outputChunk(raw: Buffer, encoding: SpoolCompression, limit: number): number | undefined {
  if (encoding !== 'gzip' || raw.length < GZIP_SMALLEST) return undefined;
  // One byte over, so a whole output leaves room and zlib ends without a second, empty chunk.
  return Math.max(zlibConstants.Z_DEFAULT_CHUNK, Math.min(raw.readUInt32LE(raw.length - 4) + 1, limit));
}

const isTooLarge = (e: unknown): boolean => (e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE' || e instanceof RangeError;

/** Inflates gzip or deflate, stopping at `limit` output bytes (a bomb stops there). OTLP/HTTP and gRPC share it. */
export async function inflateWithin(raw: Buffer, encoding: SpoolCompression, limit: number): Promise<Buffer> {
  const onLoop = Math.min(limit, INFLATE_ON_LOOP_BYTES);
  try {
    return (encoding === 'gzip' ? gunzipSync : inflateSync)(raw, { maxOutputLength: onLoop, chunkSize: outputChunk(raw, encoding, onLoop) });
  } catch (e) {
    if (!isTooLarge(e) || onLoop === limit) throw new InflateError(isTooLarge(e), (e as Error).message);
  }
  try {
    return await (encoding === 'gzip' ? gunzipAsync : inflateAsync)(raw, { maxOutputLength: limit });
  } catch (e) {
    throw new InflateError(isTooLarge(e), (e as Error).message);
  }
}

/**
 * A spooled export's body as it was accepted: inflated again when the spool kept it compressed
 * (it inflated within the listener's limit then, and its checksum holds). Throws InflateError when
 * it no longer inflates. Replay and the spool's copies read records through it.
 */
export async function spooledBody(record: Pick<SpoolRecord, 'body' | 'compression'>): Promise<Buffer> {
  return record.compression === undefined ? record.body : inflateWithin(record.body, record.compression, bufferConstants.MAX_LENGTH);
}

/** A body as the client sent it, compressed: what the spool keeps of it (several times fewer bytes than inflated). */
export interface CompressedBody {
  bytes: Buffer;
  compression: SpoolCompression;
}

/** Decodes Content-Encoding; the limit applies to the inflated size. `compressed`: the body as sent, when it was. */
export async function decodeContent(raw: Buffer, encoding: string | undefined, limit: number): Promise<{ body: Buffer; compressed?: CompressedBody }> {
  const enc = (encoding ?? 'identity').trim().toLowerCase();
  if (enc === '' || enc === 'identity') return { body: raw };
  if (enc !== 'gzip' && enc !== 'deflate') throw new BodyError(415, `unsupported Content-Encoding: ${enc}`);
  try {
    return { body: await inflateWithin(raw, enc, limit), compressed: { bytes: raw, compression: enc } };
  } catch (e) {
    const err = e as InflateError;
    if (err.tooLarge) throw new BodyError(413, `decompressed body exceeds ${limit} bytes`);
    throw new BodyError(400, `invalid ${enc} body (${err.message})`);
  }
}
