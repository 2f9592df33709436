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

  it('names the segments only some traces pin, and moves those traces to a copy of their spans: pinned at once, the others let go of after', () => {
    const pins = new SegmentPins();
    pins.pin('long', 1);
    pins.pin('long', 2);
    pins.pin('short', 2);
    pins.pin('long', 3);
    pins.pin('other', 3);
    pins.pin('other', 4);
    pins.pin('long', -5); // provisional: never named
    pins.pin('later', 6);
    expect(pins.heldOnlyBy(['long'])).toEqual([1]);
    expect(pins.heldOnlyBy(['long', 'other'])).toEqual([1, 3, 4]);
    pins.release('short');
    expect(pins.heldOnlyBy(['long'])).toEqual([1, 2]);
    const from = new Set([1, 2]);
    pins.pinWith('long', from, 7);
    pins.pinWith('later', from, 7); // none of its spans were there
    expect([1, 2, 7].map((s) => pins.isPinned(s))).toEqual([true, true, true]);
    pins.unpin('long', from);
    pins.unpin('later', from);
    expect([1, 2, 3, 6, 7].map((s) => pins.isPinned(s))).toEqual([false, false, true, true, true]);
    expect(pins.heldOnlyBy(['long'])).toEqual([7]);
    pins.release('long');
    expect([3, 7].map((s) => pins.isPinned(s))).toEqual([true, false]);
    pins.unpin('long', new Set([3])); // committed meanwhile: nothing to let go of
    pins.pinWith('long', new Set([3]), 8);
    expect([3, 8].map((s) => pins.isPinned(s))).toEqual([true, false]);
  });
});
