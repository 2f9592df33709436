import { describe, expect, it } from 'vitest';
import { pullQuery } from './pull-options.js';

describe('pullQuery', () => {
  it('reads --start and --end without a zone as UTC, as the web UI reads from= and since=', () => {
    const saved = process.env.TZ;
    process.env.TZ = 'Asia/Kolkata';
    try {
      const q = pullQuery({ start: '2026-12-01T09:00', end: '2026-12-01T10:30:00', limit: 10 });
      expect([q.startMs, q.endMs]).toEqual([Date.UTC(2026, 11, 1, 9), Date.UTC(2026, 11, 1, 10, 30)]);
      expect(pullQuery({ start: '2026-12-01T09:00+05:30', end: '1796115600', limit: 10 }).startMs).toBe(Date.UTC(2026, 11, 1, 3, 30));
    } finally {
      if (saved === undefined) delete process.env.TZ;
      else process.env.TZ = saved;
    }
  });

  it('refuses a time it cannot read', () => {
    expect(() => pullQuery({ start: '2026-02-31T09:00', limit: 10 })).toThrow(/--start "2026-02-31T09:00" is not a time/);
  });
});
