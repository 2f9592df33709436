import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PlaceRing } from './places.js';

/** A PlaceRing used as PendingHolds and RecentTraceIds use one. */
function placedMap(capacity: number): { ring: PlaceRing<string>; put(key: string): void; forgetOldest(): string | undefined } {
  const ring = new PlaceRing<string>(capacity);
  return { ring, put: (key) => void ring.place(key), forgetOldest: () => ring.dropOldest() };
}

describe('PlaceRing', () => {
  it('gives the keys back least recently placed first, skipping the places a key left', () => {
    const m = placedMap(3);
    for (const key of ['a', 'b', 'c', 'a', 'b', 'a']) m.put(key);
    expect([m.forgetOldest(), m.forgetOldest(), m.forgetOldest(), m.forgetOldest()]).toEqual(['c', 'b', 'a', undefined]);
  });

  it('forgets the oldest key to place a new one past its capacity, and skips a deleted key', () => {
    const ring = new PlaceRing<string>(2);
    expect([ring.place('a'), ring.place('b'), ring.place('a')]).toEqual([undefined, undefined, undefined]);
    expect(ring.place('c')).toBe('b');
    expect(ring.delete('a')).toBe(true);
    expect(ring.size).toBe(1);
    expect(ring.place('d')).toBeUndefined();
    expect([ring.dropOldest(), ring.dropOldest(), ring.dropOldest()]).toEqual(['c', 'd', undefined]);
  });

  it('never holds more than twice its capacity in places, however often keys are placed again', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 6 }), fc.array(fc.integer({ min: 0, max: 9 }), { maxLength: 400 }), (capacity, keys) => {
        const m = placedMap(capacity);
        const model: string[] = [];
        for (const k of keys) {
          const key = `k${k}`;
          m.put(key);
          if (model.includes(key)) model.splice(model.indexOf(key), 1);
          else if (model.length === capacity) model.shift();
          model.push(key);
          expect(m.ring.placed).toBeLessThanOrEqual(2 * capacity);
        }
        const order: string[] = [];
        for (let key = m.forgetOldest(); key !== undefined; key = m.forgetOldest()) order.push(key);
        expect(order).toEqual(model);
      }),
      { numRuns: 300 },
    );
  });

  it('keeps the order while its ring grows from a small one to twice a large capacity', () => {
    const capacity = 3000;
    const m = placedMap(capacity);
    const model = new Map<string, true>();
    let seed = 7;
    for (let i = 0; i < 30_000; i++) {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      // New keys first, so that the oldest are forgotten before the ring has grown; then mostly keys placed again.
      const key = i < 4000 ? `k${i}` : `k${1000 + (seed % 3200)}`;
      m.put(key);
      if (!model.delete(key) && model.size === capacity) model.delete(model.keys().next().value!);
      model.set(key, true);
      if (m.ring.placed > 2 * capacity) throw new Error(`${m.ring.placed} places after ${i} puts`);
    }
    const order: string[] = [];
    for (let key = m.forgetOldest(); key !== undefined; key = m.forgetOldest()) order.push(key);
    expect(order).toEqual([...model.keys()]);
  });
});
