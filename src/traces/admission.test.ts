import { describe, expect, it } from 'vitest';
import { baseRetryFor, decideAdmission, retryDelayMs, type AdmissionLimits, type BufferState } from './admission.js';
import type { BatchSurvey } from './assembler.js';

const limits: AdmissionLimits = { maxTraces: 10, maxBytes: 100_000 };
const survey = (over: Partial<BatchSurvey>): BatchSurvey => ({ newTraces: 0, continued: [], opened: [], bytes: 1000, ...over });
const state = (over: Partial<BufferState>): BufferState => ({ openTraces: 0, bytes: 0, usage: { traces: 0, bytes: 0 }, activeSources: 1, stalled: false, ...over });
const half = () => 0.5;

describe('decideAdmission', () => {
  it('takes anything into an empty buffer, even an export larger than the limits', () => {
    expect(decideAdmission(survey({ newTraces: 19, bytes: 1e9 }), state({}), limits, half)).toEqual({ admit: true });
  });

  it('refuses an export that only opens new traces before it would pass --max-traces, and holds them for the retry', () => {
    const d = decideAdmission(survey({ newTraces: 2, opened: ['a', 'b'] }), state({ openTraces: 9, bytes: 9000 }), limits, half);
    expect(d).toMatchObject({ admit: false, reason: 'max_traces', hold: ['a', 'b'] });
    expect(decideAdmission(survey({ newTraces: 1 }), state({ openTraces: 9, bytes: 9000 }), limits, half)).toEqual({ admit: true });
  });

  it('always takes spans of open traces under the memory limit, even past --max-traces', () => {
    expect(decideAdmission(survey({ newTraces: 5, continued: ['x'] }), state({ openTraces: 10, bytes: 10_000 }), limits, half)).toEqual({ admit: true });
  });

  it('treats spans of released traces (late) as neither new nor open', () => {
    expect(decideAdmission(survey({ newTraces: 0, continued: [] }), state({ openTraces: 50, bytes: 1e9 }), limits, half)).toEqual({ admit: true });
  });

  it('refuses anything past --max-buffer-mib and holds the open traces it continues', () => {
    const d = decideAdmission(survey({ continued: ['x', 'y'], opened: ['z'], newTraces: 1, bytes: 2000 }), state({ openTraces: 3, bytes: 99_000 }), limits, half);
    expect(d).toMatchObject({ admit: false, reason: 'max_buffer', hold: ['x', 'y', 'z'] });
  });

  it('takes new traces past --max-traces into a stalled buffer, but not past --max-buffer-mib or a fair share', () => {
    const full = state({ openTraces: 10, bytes: 10_000, stalled: true });
    expect(decideAdmission(survey({ newTraces: 6, opened: ['a'] }), full, limits, half)).toEqual({ admit: true });
    expect(decideAdmission(survey({ newTraces: 6, bytes: 95_000 }), full, limits, half)).toMatchObject({ admit: false, reason: 'max_buffer' });
    const busy = state({ openTraces: 10, bytes: 10_000, usage: { traces: 8, bytes: 8000 }, activeSources: 2, stalled: true });
    expect(decideAdmission(survey({ newTraces: 1 }), busy, limits, half)).toMatchObject({ admit: false, reason: 'fair_share' });
  });

  it('refuses a transport already holding its even share when another one contends', () => {
    const busy = state({ openTraces: 6, bytes: 6000, usage: { traces: 6, bytes: 6000 }, activeSources: 2 });
    expect(decideAdmission(survey({ newTraces: 1 }), busy, limits, half)).toMatchObject({ admit: false, reason: 'fair_share' });
    const quiet = state({ openTraces: 6, bytes: 6000, usage: { traces: 1, bytes: 1000 }, activeSources: 2 });
    expect(decideAdmission(survey({ newTraces: 1 }), quiet, limits, half)).toEqual({ admit: true });
  });
});

describe('retryDelayMs', () => {
  it('grows with fullness and is jittered so clients do not come back together', () => {
    expect(retryDelayMs(0, limits, half)).toBe(1000);
    expect(retryDelayMs(0.5, limits, half)).toBe(2500);
    expect(retryDelayMs(1, limits, half)).toBe(4000);
    expect(retryDelayMs(1, limits, () => 0)).toBe(2000);
    expect(retryDelayMs(1, limits, () => 0.999)).toBe(5996);
    expect(retryDelayMs(50, { ...limits, baseRetryMs: 10_000 }, half)).toBe(30_000);
  });
});

describe('baseRetryFor', () => {
  it('follows the trace wait within 1–2 s: a wait kept long for another service\'s spans does not slow retries', () => {
    expect(baseRetryFor(100)).toBe(1000);
    expect(baseRetryFor(1500)).toBe(1500);
    expect(baseRetryFor(6000)).toBe(2000);
  });
});
