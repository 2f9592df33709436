import { describe, expect, it } from 'vitest';
import { IdMemo, SetMemo, ShortMemo } from './memo.js';

describe('memo', () => {
  it('IdMemo hands back the string kept for the same words, and nothing for a slot claimed but not kept', () => {
    const ids = new IdMemo();
    expect(ids.trace(1, 2, 3, 4)).toBeUndefined();
    ids.keepTrace('t');
    expect(ids.trace(1, 2, 3, 4)).toBe('t');
    expect(ids.trace(9, 2, 3, 4)).toBeUndefined();
    expect(ids.span(7, 8)).toBeUndefined();
    expect(ids.span(7, 8)).toBeUndefined(); // claimed, never kept
    ids.keepSpan('s');
    expect(ids.span(7, 8)).toBe('s');
  });

  it('ShortMemo keys by the bytes, wherever they sit', () => {
    const memo = new ShortMemo();
    const a = Buffer.from('xxGETyy');
    expect(memo.find(a, 2, 5)).toBeUndefined();
    memo.keep('GET');
    expect(memo.find(Buffer.from('GET'), 0, 3)).toBe('GET');
    expect(memo.find(Buffer.from('GEU'), 0, 3)).toBeUndefined();
  });

  /** SetMemo.find of a whole buffer, with its view. */
  const findIn = (memo: SetMemo, b: Buffer, start: number, end: number, hash: number): number =>
    memo.find(b, new DataView(b.buffer, b.byteOffset, b.byteLength), start, end, hash);

  it('SetMemo keeps two keys per set and replaces the one used less recently', () => {
    const inner = new SetMemo(1, 16);
    const memo = { find: (b: Buffer, start: number, end: number, hash: number) => findIn(inner, b, start, end, hash), keep: () => inner.keep() };
    const key = (s: string): Buffer => Buffer.from(s);
    expect(memo.find(key('first'), 0, 5, 0)).toBeLessThan(0);
    const first = memo.find(key('first'), 0, 5, 0); // the slot claimed before was never kept
    expect(first).toBeLessThan(0);
    memo.keep();
    const second = memo.find(key('second'), 0, 6, 0);
    expect(second).toBeLessThan(0);
    memo.keep();
    expect(~second).not.toBe(~first);
    expect(memo.find(key('first'), 0, 5, 0)).toBe(~first);
    expect(memo.find(key('second'), 0, 6, 0)).toBe(~second);
    // 'second' was used last: a third key replaces 'first'.
    expect(memo.find(key('third'), 0, 5, 0)).toBe(first);
    memo.keep();
    expect(memo.find(key('second'), 0, 6, 0)).toBe(~second);
    expect(memo.find(key('first'), 0, 5, 0)).toBeLessThan(0);
  });

  it('SetMemo tells keys apart by every byte, however long and wherever they sit (word and native compares alike)', () => {
    const memo = new SetMemo(1, 400);
    for (const n of [1, 7, 8, 9, 15, 16, 17, 63, 191, 192, 193, 200, 399]) {
      const text = Buffer.alloc(n);
      for (let i = 0; i < n; i++) text[i] = 0x41 + ((i * 7) % 26);
      // The key at an odd offset of a larger buffer, whose view starts past the buffer's own start.
      const framed = Buffer.concat([Buffer.from('xyz'), text, Buffer.from('!')]).subarray(1);
      expect(findIn(memo, framed, 2, 2 + n, 0)).toBeLessThan(0);
      memo.keep();
      const slot = findIn(memo, framed, 2, 2 + n, 0);
      expect(slot, `length ${n}`).toBeGreaterThanOrEqual(0);
      expect(findIn(memo, Buffer.from(text), 0, n, 0), `length ${n}, its own buffer`).toBe(slot);
      for (const at of new Set([0, 1, n >>> 1, n - 8, n - 2, n - 1].filter((i) => i >= 0 && i < n))) {
        const other = Buffer.from(text);
        other[at] = other[at]! ^ 0x20;
        // A miss claims the other way; the kept key is still found after it.
        expect(findIn(memo, other, 0, n, 0), `length ${n}, byte ${at} differs`).toBeLessThan(0);
        expect(findIn(memo, framed, 2, 2 + n, 0)).toBe(slot);
      }
    }
  });
});
