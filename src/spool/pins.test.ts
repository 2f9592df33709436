import { describe, expect, it } from 'vitest';
import { SegmentPins } from './pins.js';

describe('SegmentPins', () => {
  it('keeps a segment pinned while any trace with spans in it is uncommitted, and each trace pins every segment it has spans in', () => {
    const pins = new SegmentPins();
    pins.pin('a', 1);
    pins.pin('b', 1);
    pins.pin('b', 2);
    pins.pin('b', 2); // again: counted once
    expect([1, 2, 3].map((s) => pins.isPinned(s))).toEqual([true, true, false]);
    pins.release('a');
    expect([1, 2].map((s) => pins.isPinned(s))).toEqual([true, true]);
    pins.release('b');
    expect([1, 2].map((s) => pins.isPinned(s))).toEqual([false, false]);
    pins.pin('c', 2);
    pins.release('b'); // a trace released twice (a replayed copy) changes nothing
    expect(pins.isPinned(2)).toBe(true);
  });

  it('moves provisional pins to the segment named later, skipping traces committed meanwhile, and drops them for an export not spooled', () => {
    const pins = new SegmentPins();
    pins.pin('a', 3);
    pins.pin('a', -7);
    pins.pin('b', -7);
    pins.pin('c', -7);
    pins.pin('d', -8);
    pins.release('c'); // committed before the serving thread said where its export went
    pins.settle(-7, 4);
    expect([3, 4, -7].map((s) => pins.isPinned(s))).toEqual([true, true, false]);
    pins.release('a');
    expect([3, 4].map((s) => pins.isPinned(s))).toEqual([false, true]);
    pins.settle(-8, undefined); // another shard refused that export: it is in no segment
    expect(pins.isPinned(-8)).toBe(false);
    pins.release('b');
    expect(pins.isPinned(4)).toBe(false);
    pins.settle(-7, 9); // settled twice: nothing left to move
    expect(pins.isPinned(9)).toBe(false);
  });
});
