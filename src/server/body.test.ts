import { deflateSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { decodeContent, InflateError, inflateWithin } from './body.js';

const MIB = 1024 * 1024;

describe('inflateWithin', () => {
  it('inflates an export-sized body, and one past what it inflates on the event loop (on the thread pool), whole', async () => {
    for (const size of [300 * 1024, 9 * MIB]) {
      const body = Buffer.alloc(size, 'span ');
      expect((await inflateWithin(gzipSync(body), 'gzip', 20 * MIB)).equals(body)).toBe(true);
      expect((await inflateWithin(deflateSync(body), 'deflate', 20 * MIB)).equals(body)).toBe(true);
    }
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
