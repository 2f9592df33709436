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
});
