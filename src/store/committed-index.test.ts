import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CommittedTraceIndex } from './committed-index.js';

const MINUTE = 60_000;
const traceIds = (n: number) => Array.from({ length: n }, () => randomBytes(16).toString('hex'));

describe('CommittedTraceIndex', () => {
  it('finds every id it was given across growing tables and generations, and none it was not', () => {
    const index = new CommittedTraceIndex();
    const noted = traceIds(200_000);
    // 20 writes of 10,000 ids, 15 s apart: five generations, each grown from its first table many times.
    for (let w = 0; w < 20; w++) index.add(noted.slice(w * 10_000, (w + 1) * 10_000), w * 15_000);
    expect(index.size).toBe(200_000);
    expect(noted.every((id) => index.has(id))).toBe(true);
    expect(traceIds(200_000).filter((id) => index.has(id))).toEqual([]);
    // Ids are not only hex: any string is hashed whole.
    index.add(['', 'x', 'not-hex-at-all'], 20 * 15_000);
    expect(['', 'x', 'not-hex-at-all', 'y'].map((id) => index.has(id))).toEqual([true, true, true, false]);
  });

  it('counts an id noted twice in one generation once', () => {
    const index = new CommittedTraceIndex();
    const [a, b] = traceIds(2);
    index.add([a!, a!, b!], 0);
    index.add([a!], 1000);
    expect(index.size).toBe(2);
  });

  it('forgets whole generations noted before the cut, keeping one that spans it', () => {
    const index = new CommittedTraceIndex();
    const [early, spanning, late] = [traceIds(3), traceIds(3), traceIds(3)];
    index.add(early, 0);
    index.add(spanning.slice(0, 2), MINUTE); // a generation from 1:00 ...
    index.add(spanning.slice(2), MINUTE + 50_000); // ... to 1:50
    index.add(late, 2 * MINUTE + 10_000);
    index.dropBefore(MINUTE + 30_000);
    expect(early.some((id) => index.has(id))).toBe(false);
    expect([...spanning, ...late].every((id) => index.has(id))).toBe(true);
    index.dropBefore(3 * MINUTE);
    expect(index.size).toBe(0);
    expect(index.bytes).toBe(0);
  });

  it('puts ids noted under a clock stepped back into the newest generation, so they are kept as long as it', () => {
    const index = new CommittedTraceIndex();
    const [a, b] = traceIds(2);
    index.add([a!], 10 * MINUTE);
    index.add([b!], 5 * MINUTE);
    index.dropBefore(9 * MINUTE);
    expect([index.has(a!), index.has(b!)]).toEqual([true, true]);
  });
});
