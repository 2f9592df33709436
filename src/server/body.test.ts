import { constants as zlibConstants, deflateSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { decodeContent, InflateError, inflateWithin, outputChunk } from './body.js';

const MIB = 1024 * 1024;

describe('inflateWithin', () => {
  it('inflates an export-sized body, and one past what it inflates on the event loop (on the thread pool), whole', async () => {
    for (const size of [300 * 1024, 9 * MIB]) {
      const body = Buffer.alloc(size, 'span ');
      expect((await inflateWithin(gzipSync(body), 'gzip', 20 * MIB)).equals(body)).toBe(true);
      expect((await inflateWithin(deflateSync(body), 'deflate', 20 * MIB)).equals(body)).toBe(true);
    }
  });

  it('inflates whole whatever size a gzip trailer claims, and a bomb that claims a small size still stops at the limit', async () => {
    const body = Buffer.alloc(300 * 1024, 'span ');
    for (const claimed of [0, 1, 1000, 300 * 1024 - 1, 300 * 1024, 0xffffffff]) {
      const gz = gzipSync(body);
      gz.writeUInt32LE(claimed, gz.length - 4);
      // zlib checks the trailer's CRC-32 and size only after the output: a wrong size is an error, never a short body.
      const out = await inflateWithin(gz, 'gzip', 20 * MIB).catch((e: unknown) => e);
      if (claimed === 300 * 1024) expect((out as Buffer).equals(body)).toBe(true);
      else expect(out).toBeInstanceOf(InflateError);
    }
    const bomb = gzipSync(Buffer.alloc(64 * MIB));
    bomb.writeUInt32LE(100, bomb.length - 4);
    expect(((await inflateWithin(bomb, 'gzip', MIB).catch((e: unknown) => e)) as InflateError).tooLarge).toBe(true);
  });

  it("sizes zlib's output chunk by the gzip trailer, never below its default (trailing zero bytes read as a size of 0)", async () => {
    const body = Buffer.alloc(4 * MIB - 16);
    const gz = gzipSync(body);
    expect(outputChunk(gz, 'gzip', 4 * MIB)).toBe(4 * MIB - 15);
    expect(outputChunk(gzipSync(Buffer.from('small')), 'gzip', 4 * MIB)).toBe(zlibConstants.Z_DEFAULT_CHUNK);
    const padded = Buffer.concat([gz, Buffer.alloc(4)]);
    expect(outputChunk(padded, 'gzip', 4 * MIB)).toBe(zlibConstants.Z_DEFAULT_CHUNK);
    expect((await inflateWithin(padded, 'gzip', 4 * MIB)).equals(body)).toBe(true); // zlib ignores the zeros
  });

  it('stops a bomb at the limit, below and above what it inflates on the event loop', async () => {
    const bomb = gzipSync(Buffer.alloc(64 * MIB));
    for (const limit of [MIB, 20 * MIB]) {
      const error = await inflateWithin(bomb, 'gzip', limit).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InflateError);
      expect((error as InflateError).tooLarge).toBe(true);
    }
  });

  it('tells bytes that are not gzip from a body too large', async () => {
    const error = await inflateWithin(Buffer.from('not gzip at all'), 'gzip', 20 * MIB).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InflateError);
    expect((error as InflateError).tooLarge).toBe(false);
  });
});

describe('decodeContent', () => {
  it('returns a compressed body inflated, and as sent for the spool; a plain one as it is', async () => {
    const body = Buffer.from('protobuf bytes');
    const gzipped = gzipSync(body);
    const inflated = await decodeContent(gzipped, ' GZIP ', MIB);
    expect(inflated.body.equals(body)).toBe(true);
    expect(inflated.compressed).toEqual({ bytes: gzipped, compression: 'gzip' });
    expect(await decodeContent(body, undefined, MIB)).toEqual({ body });
    expect(await decodeContent(body, 'identity', MIB)).toEqual({ body });
  });
});
