import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PendingHolds } from './holds.js';

/** What PendingHolds must do, on a Map re-inserted at every set (the code it replaced, minus its cost). */
class ModelHolds {
  readonly #holds = new Map<string, number>();
  constructor(readonly capacity: number) {}
  set(id: string, until: number): void {
    const before = this.#holds.get(id);
    this.#holds.delete(id);
    this.#holds.set(id, Math.max(before ?? until, until));
    if (this.#holds.size > this.capacity) this.#holds.delete(this.#holds.keys().next().value!);
  }
  take(id: string): number | undefined {
    const until = this.#holds.get(id);
    this.#holds.delete(id);
    return until;
  }
  prune(now: number): void {
    for (const [id, until] of this.#holds) {
      if (until > now) break;
      this.#holds.delete(id);
    }
  }
  get size(): number {
    return this.#holds.size;
  }
}

describe('PendingHolds', () => {
  it('keeps the later end of a trace held twice, and hands it over once', () => {
    const holds = new PendingHolds(4);
    holds.set('a', 500);
    holds.set('a', 300);
    expect(holds.take('a')).toBe(500);
    expect(holds.take('a')).toBeUndefined();
    expect(holds.size).toBe(0);
  });

  it('forgets the hold set or set again least recently once capacity are held', () => {
    const holds = new PendingHolds(2);
    holds.set('a', 100);
    holds.set('b', 100);
    holds.set('a', 200); // refused again: the client is still retrying it
    holds.set('c', 100);
    expect(holds.take('b')).toBeUndefined();
    expect(holds.take('a')).toBe(200);
    expect(holds.take('c')).toBe(100);
  });

  it('counts only the holds it keeps: taken ones make room, however many come and go', () => {
    const holds = new PendingHolds(3);
    holds.set('a', 100);
    for (let i = 0; i < 50; i++) {
      holds.set(`t${i}`, 100);
      expect(holds.take(`t${i}`)).toBe(100);
    }
    expect(holds.size).toBe(1);
    holds.set('b', 900);
    holds.prune(100); // 'a' is still the oldest, and ended
    expect(holds.take('a')).toBeUndefined();
    expect(holds.take('b')).toBe(900);
  });

  it('prunes ended holds oldest first, up to the first that has not ended', () => {
    const holds = new PendingHolds(10);
    holds.set('a', 100);
    holds.set('b', 300);
    holds.set('c', 200);
    holds.prune(250);
    expect(holds.take('a')).toBeUndefined();
    expect(holds.size).toBe(2); // 'c' ended too, but sits behind 'b'
    holds.prune(300);
    expect(holds.size).toBe(0);
  });

  it('does what a Map re-inserted at every set does, for any sequence of sets, takes and prunes', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5 }),
        fc.array(fc.tuple(fc.constantFrom('set', 'set', 'take', 'prune'), fc.integer({ min: 0, max: 7 }), fc.integer({ min: 0, max: 60 })), { maxLength: 300 }),
        (capacity, ops) => {
          const holds = new PendingHolds(capacity);
          const model = new ModelHolds(capacity);
          for (const [op, k, t] of ops) {
            if (op === 'set') {
              holds.set(`k${k}`, t);
              model.set(`k${k}`, t);
            } else if (op === 'take') expect(holds.take(`k${k}`)).toBe(model.take(`k${k}`));
            else {
              holds.prune(t);
              model.prune(t);
            }
            expect(holds.size).toBe(model.size);
          }
          for (let k = 0; k <= 7; k++) expect(holds.take(`k${k}`)).toBe(model.take(`k${k}`));
        },
      ),
      { numRuns: 500 },
    );
  });

  it('does what the re-inserting Map does at capacities whose ring grows past its first length', () => {
    for (const capacity of [511, 700, 1500]) {
      const holds = new PendingHolds(capacity);
      const model = new ModelHolds(capacity);
      let seed = capacity;
      for (let i = 0; i < 12_000; i++) {
        seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
        const id = `t${seed % Math.floor(capacity * 1.6)}`;
        const op = (seed >>> 20) % 10;
        const until = (seed >>> 8) % 1000;
        if (op < 7) {
          holds.set(id, until);
          model.set(id, until);
        } else if (op < 9) expect(holds.take(id)).toBe(model.take(id));
        else if (i % 50 === 0) {
          holds.prune(until / 20);
          model.prune(until / 20);
        }
        if (holds.size !== model.size) throw new Error(`${holds.size} holds against ${model.size} after ${i} steps at capacity ${capacity}`);
      }
    }
  });
});
