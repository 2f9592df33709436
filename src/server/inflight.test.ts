import { describe, expect, it } from 'vitest';
import { BodiesInFlight, LARGE_BODY_BYTES } from './inflight.js';
import type { RefusedResult } from './intake.js';

const refusal: RefusedResult = { ok: false, reason: 'memory', retryAfterMs: 1000, message: 'refused' };

describe('BodiesInFlight', () => {
  it('refuses a body that would take the bodies in flight past the budget, never one alone, and gives every byte back once', () => {
    const bodies = new BodiesInFlight(100);
    let refused = 0;
    const refuse = (): RefusedResult => (refused++, refusal);
    const fine = (): boolean => false;
    const a = bodies.start(refuse, fine);
    // Alone, a body is taken whatever its size: a budget below one export cannot refuse every export.
    expect(a.hold(150)).toBeUndefined();
    const b = bodies.start(refuse, fine);
    expect(b.hold(1)).toBe(refusal);
    expect(bodies.bytes).toBe(150);
    a.end();
    a.end();
    expect(bodies.bytes).toBe(0);
    // A body refused holds nothing more, and ending it again changes nothing.
    expect(b.hold(10)).toBeUndefined();
    b.end();
    expect(bodies.bytes).toBe(0);
    const c = bodies.start(refuse, fine);
    const d = bodies.start(refuse, fine);
    expect(c.hold(60)).toBeUndefined();
    expect(d.hold(40)).toBeUndefined();
    // Chunks count as they come; the one that would pass the budget is refused, and its body's bytes go back.
    expect(d.hold(1)).toBe(refusal);
    expect(bodies.bytes).toBe(60);
    expect(c.hold(40)).toBeUndefined();
    c.end();
    d.end();
    expect({ bytes: bodies.bytes, refused }).toEqual({ bytes: 0, refused: 2 });
  });

  it('refuses a declared body of LARGE_BODY_BYTES or more while past the memory limit, and holds nothing for a declared size', () => {
    const bodies = new BodiesInFlight(100);
    let past = false;
    const body = bodies.start(() => refusal, () => past);
    // A declared size holds no budget: a client that sends its headers and stalls takes none.
    expect(body.declare(LARGE_BODY_BYTES)).toBeUndefined();
    expect(bodies.bytes).toBe(0);
    past = true;
    expect(body.declare(LARGE_BODY_BYTES - 1)).toBeUndefined(); // read, and refused at admission with its traces held
    expect(body.hold(10)).toBeUndefined();
    expect(body.declare(LARGE_BODY_BYTES)).toBe(refusal);
    expect(bodies.bytes).toBe(0);
  });
});
