/** Durations, hour-aligned store windows and how periods read. */
import { describe, expect, it } from 'vitest';
import { DurationError, EARLIEST_MS, HOUR_MS, LATEST_MS, isCalendarDate, parseInstant, MINUTE_MS, formatDuration, formatPeriod, parseDuration, parseSince, storePeriods } from './period.js';

describe('parseDuration', () => {
  it('reads minutes, hours, days, weeks and sums of them', () => {
    expect(parseDuration('90m')).toBe(90 * 60_000);
    expect(parseDuration('24h')).toBe(24 * HOUR_MS);
    expect(parseDuration('7d')).toBe(7 * 24 * HOUR_MS);
    expect(parseDuration('2w')).toBe(14 * 24 * HOUR_MS);
    expect(parseDuration('1d12h')).toBe(36 * HOUR_MS);
    expect(parseDuration(' 24H ')).toBe(24 * HOUR_MS);
  });

  it('refuses what is not a whole, positive duration with a unit', () => {
    for (const bad of ['', '24', 'h', '1.5h', '-1h', '0h', '24 hours', '10s', 'PT24H']) {
      expect(() => parseDuration(bad), bad).toThrow(DurationError);
    }
    expect(() => parseDuration('1.5h')).toThrow(/e\.g\. 90m, 24h, 7d/);
  });
});

describe('formatDuration', () => {
  it('spells a duration the way people say it', () => {
    expect(formatDuration(parseDuration('24h'))).toBe('24h');
    expect(formatDuration(parseDuration('7d'))).toBe('7d');
    expect(formatDuration(parseDuration('90m'))).toBe('90m');
    expect(formatDuration(parseDuration('1h30m'))).toBe('90m');
    expect(formatDuration(parseDuration('48h'))).toBe('2d');
  });
});

describe('storePeriods', () => {
  const now = Date.parse('2025-01-14T09:30:12Z');

  it('ends with the current minute and puts an equal period right before, on the minute within 48 h', () => {
    const { current, previous } = storePeriods(parseDuration('24h'), now);
    expect(new Date(current.untilMs).toISOString()).toBe('2025-01-14T09:31:00.000Z');
    expect(new Date(current.sinceMs).toISOString()).toBe('2025-01-13T09:31:00.000Z');
    expect(previous.untilMs).toBe(current.sinceMs);
    expect(previous.untilMs - previous.sinceMs).toBe(current.untilMs - current.sinceMs);
    expect(storePeriods(parseDuration('90m'), now).current.untilMs - storePeriods(parseDuration('90m'), now).current.sinceMs).toBe(90 * MINUTE_MS);
  });

  it('starts a window longer than 24h on the hour (older edges are read by whole hours), the previous period whole hours long', () => {
    const { current, previous } = storePeriods(parseDuration('7d'), now);
    expect(new Date(current.untilMs).toISOString()).toBe('2025-01-14T09:31:00.000Z');
    expect(new Date(current.sinceMs).toISOString()).toBe('2025-01-07T09:00:00.000Z');
    expect(previous.untilMs).toBe(current.sinceMs);
    expect(previous.untilMs - previous.sinceMs).toBe(7 * 24 * HOUR_MS);
  });
});

describe('formatPeriod', () => {
  it('writes UTC with minute precision, leaving out a repeated date', () => {
    expect(formatPeriod({ sinceMs: Date.parse('2025-01-13T09:00Z'), untilMs: Date.parse('2025-01-14T09:00Z') })).toBe(
      '2025-01-13 09:00 → 2025-01-14 09:00 UTC',
    );
    expect(formatPeriod({ sinceMs: Date.parse('2025-01-13T08:12Z'), untilMs: Date.parse('2025-01-13T10:12Z') })).toBe('2025-01-13 08:12 → 10:12 UTC');
    expect(formatPeriod({ sinceMs: Infinity, untilMs: -Infinity })).toBe('no timestamps');
  });
});

describe('parseSince', () => {
  const now = Date.parse('2025-01-14T09:30:00Z');
  it('reads a duration back from now, an ISO date, or epoch ms', () => {
    expect(parseSince('24h', now)).toBe(now - 86_400_000);
    expect(parseSince('2025-01-13T00:00:00Z', now)).toBe(Date.parse('2025-01-13T00:00:00Z'));
    expect(parseSince('1736700000000', now)).toBe(1736700000000);
  });
  it('refuses anything else with a clear error', () => {
    expect(() => parseSince('yesterday', now)).toThrow(DurationError);
    expect(() => parseSince('2025-13-45', now)).toThrow(/not a date/);
  });
  it('refuses times outside years 0000 to 9999, which no period of traces reaches and Date cannot always print', () => {
    expect(() => parseSince('9999999999999999', now)).toThrow(DurationError);
    expect(() => parseSince('14300000w', now)).toThrow(/before the year 0000/);
    expect(parseSince('0000-01-01T00:00:00Z', now)).toBe(EARLIEST_MS);
    expect(parseSince('253402300799999', now)).toBe(LATEST_MS - 1);
  });
});

/** Runs `fn` with the process in time zone `tz` (Node rereads TZ when it is set). */
function inTimeZone<T>(tz: string, fn: () => T): T {
  const saved = process.env.TZ;
  process.env.TZ = tz;
  try {
    return fn();
  } finally {
    if (saved === undefined) delete process.env.TZ;
    else process.env.TZ = saved;
  }
}

describe('parseInstant', () => {
  it('reads an ISO date or date-time without a zone as UTC, whatever the zone of the machine', () => {
    inTimeZone('America/New_York', () => {
      // The point: Date.parse alone reads a date-time without a zone in the local zone.
      expect(Date.parse('2026-12-01T09:00')).not.toBe(Date.UTC(2026, 11, 1, 9));
      expect(parseInstant('2026-12-01T09:00')).toBe(Date.UTC(2026, 11, 1, 9));
      expect(parseInstant('2026-12-01T09:00:30.5')).toBe(Date.UTC(2026, 11, 1, 9, 0, 30, 500));
      expect(parseInstant('2026-12-01')).toBe(Date.UTC(2026, 11, 1));
      expect(parseSince('2026-12-01T09:00', 0)).toBe(Date.UTC(2026, 11, 1, 9));
    });
  });
  it('keeps a zone the text names, and refuses a day the calendar does not have', () => {
    expect(parseInstant('2026-12-01T09:00+02:00')).toBe(Date.UTC(2026, 11, 1, 7));
    expect(parseInstant('2026-12-01T09:00:00Z')).toBe(Date.UTC(2026, 11, 1, 9));
    expect(() => parseInstant('2026-02-31T09:00')).toThrow(/not a date/);
    expect(() => parseInstant('+100000-01-01')).toThrow(/outside years 0000 to 9999/);
  });
});

describe('isCalendarDate', () => {
  it('takes YYYY-MM-DD days the calendar has, not those Date.parse rolls over', () => {
    expect(['2024-02-29', '2099-12-31', '0000-01-01'].map(isCalendarDate)).toEqual([true, true, true]);
    expect(['2099-02-31', '2023-02-29', '2026-04-31', '2026-13-01', '2026-1-01', '2026-01-01T00:00'].map(isCalendarDate)).toEqual([false, false, false, false, false, false]);
  });
});
