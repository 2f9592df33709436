import { describe, expect, it } from 'vitest';
import { BodiesInFlight } from './inflight.js';
import type { RefusedResult } from './intake.js';

const refusal: RefusedResult = { ok: false, reason: 'memory', retryAfterMs: 1000, message: 'refused' };

describe('BodiesInFlight', () => {
  it('refuses a body that would take the bodies in flight past the budget, never one alone, and gives every byte back once', () => {
    const bodies = new BodiesInFlight(100);
    let refused = 0;
    const refuse = (): RefusedResult => (refused++, refusal);
    const a = bodies.start(refuse);
    // Alone, a body is taken whatever its size: a budget below one export cannot refuse every export.
    expect(a.hold(150)).toBeUndefined();
    const b = bodies.start(refuse);
    expect(b.hold(1)).toBe(refusal);
    expect(bodies.bytes).toBe(150);
    a.end();
    a.end();
    expect(bodies.bytes).toBe(0);
    // A body refused holds nothing more, and ending it again changes nothing.
    expect(b.hold(10)).toBeUndefined();
    b.end();
    expect(bodies.bytes).toBe(0);
    const c = bodies.start(refuse);
    const d = bodies.start(refuse);
    expect(c.hold(60)).toBeUndefined();
    expect(d.hold(40)).toBeUndefined();
    // Chunks of a body without a declared length count as they come; the one that would pass the budget is refused, and its body's bytes go back.
    expect(d.hold(1)).toBe(refusal);
    expect(bodies.bytes).toBe(60);
    expect(c.hold(40)).toBeUndefined();
    c.end();
    d.end();
    expect({ bytes: bodies.bytes, refused }).toEqual({ bytes: 0, refused: 2 });
  });
});
