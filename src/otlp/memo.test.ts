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

  it('SetMemo keeps two keys per set and replaces the one used less recently', () => {
    const memo = new SetMemo(1, 16);
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
});
