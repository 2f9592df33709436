import { describe, expect, it } from 'vitest';
import { PendingHolds } from './holds.js';

describe('PendingHolds', () => {
  it('keeps the later end of a trace held twice, and hands it over once', () => {
    const holds = new PendingHolds(4);
    holds.set('a', 500);
    holds.set('a', 300);
    expect(holds.take('a')).toBe(500);
    expect(holds.take('a')).toBeUndefined();
    expect(holds.size).toBe(0);
  });

  it('forgets the hold set first once capacity holds were set, not one taken and set again since', () => {
    const holds = new PendingHolds(3);
    holds.set('a', 100);
    holds.set('b', 100);
    // 'a' opened, then was refused again: its new hold is the newest.
    expect(holds.take('a')).toBe(100);
    holds.set('a', 200);
    holds.set('c', 100); // full: the oldest place ('a''s first) is freed, and 'a''s new hold kept
    expect(holds.size).toBe(3);
    holds.set('d', 100); // full: 'b' goes
    expect(holds.take('b')).toBeUndefined();
    expect(holds.take('a')).toBe(200);
    expect([holds.take('c'), holds.take('d')]).toEqual([100, 100]);
  });

  it('prunes ended holds oldest first, up to the first that has not ended', () => {
    const holds = new PendingHolds(10);
    holds.set('a', 100);
    holds.set('b', 300);
    holds.set('c', 200);
    holds.prune(250);
    expect(holds.take('a')).toBeUndefined();
    // 'c' ended too, but sits behind 'b': pruned once 'b' has ended.
    expect(holds.size).toBe(2);
    holds.prune(300);
    expect(holds.size).toBe(0);
    // Its places are free again: capacity more holds fit.
    for (let i = 0; i < 10; i++) holds.set(`t${i}`, 1000);
    expect(holds.size).toBe(10);
    expect(holds.take('t0')).toBe(1000);
  });

  it('skips the places of taken holds when pruning and when full', () => {
    const holds = new PendingHolds(2);
    holds.set('a', 100);
    expect(holds.take('a')).toBe(100);
    holds.set('b', 900);
    holds.prune(500); // 'a''s place goes; 'b' has not ended
    expect(holds.size).toBe(1);
    holds.set('c', 900);
    holds.set('d', 900); // full: 'b' goes
    expect(holds.take('b')).toBeUndefined();
    expect(holds.take('c')).toBe(900);
    expect(holds.take('d')).toBe(900);
  });
});
