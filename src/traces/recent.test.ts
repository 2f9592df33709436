import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { AwaitedCall } from './assemble.js';
import { RecentTraceIds } from './recent.js';

/** What RecentTraceIds must do, on Maps re-inserted at every add (no cost bound, nothing lossy). */
class ModelIds {
  readonly #ids = new Set<string>();
  readonly #calls = new Map<string, string>();
  constructor(
    readonly capacity: number,
    readonly maxCallBytes: number,
  ) {}
  add(id: string, calls?: readonly AwaitedCall[]): void {
    this.#ids.delete(id);
    this.#ids.add(id);
    this.#calls.delete(id);
    if (this.#ids.size > this.capacity) {
      const oldest = this.#ids.values().next().value!;
      this.#ids.delete(oldest);
      this.#calls.delete(oldest);
    }
    if (calls === undefined || calls.length === 0) return;
    this.#calls.set(id, JSON.stringify(calls));
    while (this.bytes > this.maxCallBytes && this.#calls.keys().next().value !== id) this.#calls.delete(this.#calls.keys().next().value!);
  }
  has(id: string): boolean {
    return this.#ids.has(id);
  }
  awaited(id: string): AwaitedCall[] | undefined {
    const calls = this.#calls.get(id);
    return calls === undefined ? undefined : (JSON.parse(calls) as AwaitedCall[]);
  }
  get bytes(): number {
    let n = 0;
    for (const calls of this.#calls.values()) n += calls.length;
    return n;
  }
}

const call = (spanId: string, peer?: string): AwaitedCall => (peer === undefined ? { spanId } : { spanId, peer });
const pad = (n: number, width: number): string => `${n}`.padStart(width, '0');

describe('RecentTraceIds', () => {
  it('forgets the trace released least recently: one released again (a continuation) is the newest', () => {
    const ids = new RecentTraceIds(3);
    ids.add('a', [call('1111111111111111')]);
    ids.add('b');
    ids.add('c');
    // a's continuation is released, still awaiting a call: it must outlive b and c.
    ids.add('a', [call('2222222222222222')]);
    ids.add('d');
    ids.add('e');
    expect(ids.has('b')).toBe(false);
    expect(ids.has('c')).toBe(false);
    expect(ids.awaited('a')).toEqual([call('2222222222222222')]);
    expect(ids.awaits('a')).toBe(true);
  });

  it('keeps the awaited calls within their budget by forgetting the oldest calls, never the traces nor the calls just added', () => {
    const calls = (i: number): AwaitedCall[] => Array.from({ length: 16 }, (_, j) => call(pad(i, 8) + pad(j, 8), `tenant-${pad(i, 3)}.hooks.example.com`));
    const size = JSON.stringify(calls(0)).length;
    const ids = new RecentTraceIds(1000, 10 * size);
    ids.add('plain');
    for (let i = 0; i < 100; i++) ids.add(`t${i}`, calls(i));
    expect(ids.awaitedBytes).toBeLessThanOrEqual(10 * size);
    // Still known as released, so a late span of it is late, not a trace of its own; its calls are gone.
    expect(ids.has('t89')).toBe(true);
    expect(ids.awaits('t89')).toBe(false);
    expect(ids.has('plain')).toBe(true);
    for (let i = 90; i < 100; i++) expect(ids.awaited(`t${i}`)).toEqual(calls(i));
    const huge = new RecentTraceIds(10, 1);
    huge.add('x', calls(1));
    expect(huge.awaited('x')).toEqual(calls(1));
    huge.add('y', calls(2));
    expect(huge.has('x')).toBe(true);
    expect(huge.awaited('x')).toBeUndefined();
    expect(huge.awaited('y')).toEqual(calls(2));
  });

  it('answers as the re-inserting Map does, whatever the adds', () => {
    const op = fc.record({ id: fc.integer({ min: 0, max: 40 }), calls: fc.integer({ min: 0, max: 3 }) });
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 12 }), fc.integer({ min: 0, max: 400 }), fc.array(op, { maxLength: 300 }), (capacity, budget, ops) => {
        const ids = new RecentTraceIds(capacity, budget);
        const model = new ModelIds(capacity, budget);
        for (const { id, calls } of ops) {
          const awaited = Array.from({ length: calls }, (_, j) => call(pad(id, 14) + pad(j, 2)));
          ids.add(`t${id}`, awaited);
          model.add(`t${id}`, awaited);
          expect(ids.awaitedBytes).toBe(model.bytes);
        }
        for (let id = 0; id <= 40; id++) {
          expect(ids.has(`t${id}`)).toBe(model.has(`t${id}`));
          expect(ids.awaited(`t${id}`)).toEqual(model.awaited(`t${id}`));
        }
      }),
      { numRuns: 300 },
    );
  });

  it('answers as the re-inserting Map does at a capacity whose rings grow past their first length', () => {
    const capacity = 700;
    const ids = new RecentTraceIds(capacity, 5000);
    const model = new ModelIds(capacity, 5000);
    let seed = 3;
    for (let i = 0; i < 40_000; i++) {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      const id = `t${seed % 1200}`;
      const awaited = (seed >>> 16) % 8 === 0 ? Array.from({ length: 1 + ((seed >>> 8) % 3) }, (_, j) => call(pad(i, 14) + pad(j, 2))) : undefined;
      ids.add(id, awaited);
      model.add(id, awaited);
      if (ids.awaitedBytes !== model.bytes) throw new Error(`${ids.awaitedBytes} bytes against ${model.bytes} after ${i} adds`);
    }
    for (let k = 0; k < 1200; k++) {
      expect(ids.has(`t${k}`)).toBe(model.has(`t${k}`));
      expect(ids.awaited(`t${k}`)).toEqual(model.awaited(`t${k}`));
    }
  });
});
