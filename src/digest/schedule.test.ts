/** The digest schedule on fake timers: fixed intervals, cron, overlap and failures; restarts, missed runs and shared stores on a real SQLite file. */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Period } from '../report/period.js';
import { SqliteStore } from '../store/sqlite.js';
import { tempDir } from '../../test/support.js';
import { digestPeriod, digestRule, firstDigestSince, nextDigestDue, startDigestSchedule, type DigestSchedule, type DigestScheduleOptions } from './schedule.js';
import { storeDigestMarks } from './source.js';

const MINUTE = 60_000;

beforeEach(() => {
  vi.useFakeTimers();
  vi.setSystemTime(new Date('2025-01-13T08:58:00Z')); // a Monday
});
afterEach(() => {
  vi.useRealTimers();
});

describe('startDigestSchedule', () => {
  it('posts every interval, first one interval after start, until stopped', async () => {
    const post = vi.fn(async () => {});
    const schedule = startDigestSchedule({ every: '90m', post });
    await vi.advanceTimersByTimeAsync(89 * MINUTE);
    expect(post).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(1 * MINUTE);
    expect(post).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(90 * MINUTE);
    expect(post).toHaveBeenCalledTimes(2);
    schedule.stop();
    await vi.advanceTimersByTimeAsync(900 * MINUTE);
    expect(post).toHaveBeenCalledTimes(2);
  });

  it('waits intervals longer than a Node timer can hold (about 24.8 days)', async () => {
    const post = vi.fn(async () => {});
    const schedule = startDigestSchedule({ every: '30d', post });
    await vi.advanceTimersByTimeAsync(29 * 24 * 60 * MINUTE);
    expect(post).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(24 * 60 * MINUTE);
    expect(post).toHaveBeenCalledTimes(1);
    schedule.stop();
  });

  it('posts on a cron pattern: weekdays at 09:00', async () => {
    const post = vi.fn(async () => {});
    const monday = startDigestSchedule({ cron: '0 9 * * 1-5', timezone: 'UTC', post });
    await vi.advanceTimersByTimeAsync(1 * MINUTE);
    expect(post).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(2 * MINUTE); // 09:01 Monday
    expect(post).toHaveBeenCalledTimes(1);
    monday.stop();

    vi.setSystemTime(new Date('2025-01-18T08:58:00Z')); // Saturday
    const saturday = startDigestSchedule({ cron: '0 9 * * 1-5', timezone: 'UTC', post });
    await vi.advanceTimersByTimeAsync(3 * MINUTE);
    expect(post).toHaveBeenCalledTimes(1);
    saturday.stop();
  });

  it('skips a tick while the previous digest is still posting', async () => {
    let release: () => void = () => {};
    const post = vi.fn(() => new Promise<void>((resolve) => (release = resolve)));
    const schedule = startDigestSchedule({ every: '1m', post });
    await vi.advanceTimersByTimeAsync(3 * MINUTE);
    expect(post).toHaveBeenCalledTimes(1);
    release();
    await vi.advanceTimersByTimeAsync(1 * MINUTE);
    expect(post).toHaveBeenCalledTimes(2);
    schedule.stop();
  });

  it('reports a failed post and carries on', async () => {
    const errors: unknown[] = [];
    const post = vi.fn(async () => {
      throw new Error('Slack refused the digest: HTTP 404 channel_not_found');
    });
    const schedule = startDigestSchedule({ every: '1h', post, onError: (e) => errors.push(e) });
    await vi.advanceTimersByTimeAsync(120 * MINUTE);
    expect(post).toHaveBeenCalledTimes(2);
    expect(errors.map((e) => (e as Error).message)).toEqual([
      'Slack refused the digest: HTTP 404 channel_not_found',
      'Slack refused the digest: HTTP 404 channel_not_found',
    ]);
    schedule.stop();
  });

  it('asks a store that could not be read again within a minute: the first digest is not an interval late', async () => {
    const errors: unknown[] = [];
    const post = vi.fn(async () => {});
    let reads = 0;
    let lastUntilMs: number | undefined;
    const marks = {
      read: async () => {
        if (reads++ === 0) throw new Error('the store is not reachable');
        return lastUntilMs;
      },
      move: async (from: number | undefined, to: number) => {
        if (from !== lastUntilMs) return false;
        lastUntilMs = to;
        return true;
      },
    };
    const schedule = startDigestSchedule({ every: '24h', post, marks, onError: (e) => errors.push(e) });
    await vi.advanceTimersByTimeAsync(24 * 60 * MINUTE + 2 * MINUTE);
    expect(errors.map((e) => (e as Error).message)).toEqual(['the store is not reachable']);
    expect(post).toHaveBeenCalledTimes(1);
    schedule.stop();
  });

  it('needs exactly one of every and cron, and a valid pattern', () => {
    const post = async (): Promise<void> => {};
    expect(() => startDigestSchedule({ post })).toThrow(/exactly one of every/);
    expect(() => startDigestSchedule({ every: '1h', cron: '0 9 * * *', post })).toThrow(/exactly one of every/);
    expect(() => startDigestSchedule({ every: 'daily', post })).toThrow(/not a duration/);
    expect(() => startDigestSchedule({ cron: '0 25 * * *', post })).toThrow(/"0 25 \* \* \*" is not a cron pattern/);
  });
});

/** A real store file, as serve keeps its digest marks in; reopened to stand for a restart. Clock: the fake timers'. */
function storeFile(name: string): { open: () => SqliteStore; path: string } {
  const path = join(dir, `${name}.db`);
  return { path, open: () => SqliteStore.open(path, { now: clock }) };
}
const dir = tempDir('digest-schedule');
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const clock = (): number => Date.now();
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const at = (iso: string): number => Date.parse(iso);
const iso = (p: Period): string => `${new Date(p.sinceMs).toISOString()} → ${new Date(p.untilMs).toISOString()}`;

/** A schedule on a store, recording the periods it posts. */
function scheduleOn(store: SqliteStore, options: Omit<DigestScheduleOptions, 'post'>, posted: Period[]): DigestSchedule {
  return startDigestSchedule({ ...options, marks: storeDigestMarks(store), now: clock, post: async (p) => void posted.push(p) });
}

describe('--digest-every across restarts (the countdown is kept in the store)', () => {
  it('a service restarted every 23 hours still posts once a day, each digest taking up where the last ended', async () => {
    vi.setSystemTime(at('2025-01-13T09:00:00Z'));
    const file = storeFile('daily-deploys');
    const posted: Period[] = [];
    for (let deploy = 0; deploy < 5; deploy++) {
      const store = file.open();
      const schedule = scheduleOn(store, { every: '24h' }, posted);
      await vi.advanceTimersByTimeAsync(23 * HOUR);
      schedule.stop();
      store.closeSync();
    }
    // Started at 09:00 Monday; restarted at 08:00 Tuesday, 07:00 Wednesday, …; up to 08:00 Saturday.
    expect(posted.map(iso)).toEqual([
      '2025-01-13T09:00:00.000Z → 2025-01-14T09:00:00.000Z',
      '2025-01-14T09:00:00.000Z → 2025-01-15T09:00:00.000Z',
      '2025-01-15T09:00:00.000Z → 2025-01-16T09:00:00.000Z',
      '2025-01-16T09:00:00.000Z → 2025-01-17T09:00:00.000Z',
    ]);
  });

  it('posts at once when the last digest is more than an interval old, covering the time since, then one interval later', async () => {
    const file = storeFile('overdue');
    const store = file.open();
    await storeDigestMarks(store).move(undefined, at('2025-01-12T06:00:00Z'));
    vi.setSystemTime(at('2025-01-13T12:30:20Z'));
    const posted: Period[] = [];
    const schedule = scheduleOn(store, { every: '24h' }, posted);
    await vi.advanceTimersByTimeAsync(0);
    expect(posted.map(iso)).toEqual(['2025-01-12T06:00:00.000Z → 2025-01-13T12:30:00.000Z']);
    await vi.advanceTimersByTimeAsync(DAY);
    expect(posted.map(iso)).toEqual(['2025-01-12T06:00:00.000Z → 2025-01-13T12:30:00.000Z', '2025-01-13T12:30:00.000Z → 2025-01-14T12:30:00.000Z']);
    schedule.stop();
    store.closeSync();
  });

  it('instances sharing a store post each period once, whenever each started', async () => {
    vi.setSystemTime(at('2025-01-13T09:00:00Z'));
    const file = storeFile('shared');
    const posted: Period[][] = [[], [], []];
    const stores = [file.open()];
    const schedules = [scheduleOn(stores[0]!, { every: '24h' }, posted[0]!)];
    for (const i of [1, 2]) {
      await vi.advanceTimersByTimeAsync(5 * HOUR);
      stores.push(file.open());
      schedules.push(scheduleOn(stores[i]!, { every: '24h' }, posted[i]!));
    }
    await vi.advanceTimersByTimeAsync(3 * DAY);
    expect(posted.map((p) => p.length)).toEqual([3, 0, 0]); // the first started keeps the countdown
    expect(posted.flat().map(iso).sort()).toEqual([
      '2025-01-13T09:00:00.000Z → 2025-01-14T09:00:00.000Z',
      '2025-01-14T09:00:00.000Z → 2025-01-15T09:00:00.000Z',
      '2025-01-15T09:00:00.000Z → 2025-01-16T09:00:00.000Z',
    ]);
    schedules.forEach((s) => s.stop());
    stores.forEach((s) => s.closeSync());
  });

  it('an instance whose post is still running holds the period: another due at the same moment does not post it too', async () => {
    vi.setSystemTime(at('2025-01-13T09:00:00Z'));
    const file = storeFile('racing');
    const [a, b] = [file.open(), file.open()];
    let release: () => void = () => {};
    const slow = vi.fn(() => new Promise<void>((resolve) => (release = resolve)));
    const fast = vi.fn(async () => {});
    const one = startDigestSchedule({ every: '1h', marks: storeDigestMarks(a), now: clock, post: slow });
    const two = startDigestSchedule({ every: '1h', marks: storeDigestMarks(b), now: clock, post: fast });
    await vi.advanceTimersByTimeAsync(HOUR + MINUTE);
    expect([slow.mock.calls.length, fast.mock.calls.length]).toEqual([1, 0]);
    release();
    await vi.advanceTimersByTimeAsync(HOUR);
    expect(slow.mock.calls.length + fast.mock.calls.length).toBe(2);
    one.stop();
    two.stop();
    a.closeSync();
    b.closeSync();
  });

  it('a failed post gives its period back: the next digest covers it', async () => {
    vi.setSystemTime(at('2025-01-13T09:00:00Z'));
    const store = storeFile('failed').open();
    const periods: Period[] = [];
    let fail = true;
    const schedule = startDigestSchedule({
      every: '24h',
      marks: storeDigestMarks(store),
      now: clock,
      onError: () => {},
      post: async (p) => {
        periods.push(p);
        if (fail) throw new Error('Slack could not be reached');
      },
    });
    await vi.advanceTimersByTimeAsync(DAY);
    fail = false;
    await vi.advanceTimersByTimeAsync(DAY);
    expect(periods.map(iso)).toEqual(['2025-01-13T09:00:00.000Z → 2025-01-14T09:00:00.000Z', '2025-01-13T09:00:00.000Z → 2025-01-15T09:00:00.000Z']);
    expect(await storeDigestMarks(store).read()).toBe(at('2025-01-15T09:00:00Z'));
    schedule.stop();
    store.closeSync();
  });
});

describe('--digest-cron: runs missed while the server was down', () => {
  const weekdays = { cron: '0 9 * * 1-5', timezone: 'UTC' };

  it('posts once at start, not once per missed run, covering the time since the last digest', async () => {
    const store = storeFile('cron-missed').open();
    await storeDigestMarks(store).move(undefined, at('2025-01-14T09:00:00Z')); // Tuesday's digest, then the server went down
    vi.setSystemTime(at('2025-01-16T10:17:30Z')); // back up on Thursday after 09:00: Wednesday's and Thursday's missed
    const posted: Period[] = [];
    const schedule = scheduleOn(store, weekdays, posted);
    await vi.advanceTimersByTimeAsync(0);
    expect(posted.map(iso)).toEqual(['2025-01-14T09:00:00.000Z → 2025-01-16T10:17:00.000Z']);
    await vi.advanceTimersByTimeAsync(DAY);
    expect(posted.map(iso)).toEqual(['2025-01-14T09:00:00.000Z → 2025-01-16T10:17:00.000Z', '2025-01-16T10:17:00.000Z → 2025-01-17T09:00:00.000Z']);
    schedule.stop();
    store.closeSync();
  });

  it('posts nothing at start when no run was missed', async () => {
    const store = storeFile('cron-current').open();
    await storeDigestMarks(store).move(undefined, at('2025-01-16T09:00:00Z'));
    vi.setSystemTime(at('2025-01-16T10:17:30Z'));
    const posted: Period[] = [];
    const schedule = scheduleOn(store, weekdays, posted);
    await vi.advanceTimersByTimeAsync(22 * HOUR);
    expect(posted).toEqual([]);
    await vi.advanceTimersByTimeAsync(HOUR);
    expect(posted.map(iso)).toEqual(['2025-01-16T09:00:00.000Z → 2025-01-17T09:00:00.000Z']);
    schedule.stop();
    store.closeSync();
  });

  it('reaches back no further than the retention after a long outage', async () => {
    const store = storeFile('cron-retention').open();
    await storeDigestMarks(store).move(undefined, at('2024-11-01T09:00:00Z'));
    vi.setSystemTime(at('2025-01-16T10:17:30Z'));
    const posted: Period[] = [];
    const schedule = scheduleOn(store, { ...weekdays, maxWindowMs: 30 * DAY }, posted);
    await vi.advanceTimersByTimeAsync(0);
    expect(posted.map(iso)).toEqual(['2024-12-17T10:17:00.000Z → 2025-01-16T10:17:00.000Z']);
    schedule.stop();
    store.closeSync();
  });
});

describe('a digest covers the time since the last one (a weekday cron and weekends)', () => {
  const weekdays = { cron: '0 9 * * 1-5', timezone: 'UTC' };

  it("Monday's digest covers Friday 09:00 to Monday 09:00", async () => {
    vi.setSystemTime(at('2025-01-17T08:30:00Z')); // Friday
    const store = storeFile('weekend').open();
    const posted: Period[] = [];
    const schedule = scheduleOn(store, weekdays, posted);
    await vi.advanceTimersByTimeAsync(3 * DAY + HOUR); // to Monday 09:30
    expect(posted.map(iso)).toEqual([
      '2025-01-16T09:00:00.000Z → 2025-01-17T09:00:00.000Z', // the first: since the run before it
      '2025-01-17T09:00:00.000Z → 2025-01-20T09:00:00.000Z',
    ]);
    schedule.stop();
    store.closeSync();
  });

  it("a first digest covers a whole regular period: a Monday's, the weekend", () => {
    const rule = digestRule(weekdays);
    expect(new Date(firstDigestSince(rule, at('2025-01-20T08:58:00Z'))).toISOString()).toBe('2025-01-17T09:00:00.000Z');
    expect(new Date(firstDigestSince(digestRule({ every: '6h' }), at('2025-01-20T08:58:20Z'))).toISOString()).toBe('2025-01-20T08:58:00.000Z');
    const friday = at('2025-01-17T09:00:00Z');
    expect(iso(digestPeriod(friday, at('2025-01-20T09:00:00.004Z')))).toBe('2025-01-17T09:00:00.000Z → 2025-01-20T09:00:00.000Z');
    expect(iso(digestPeriod(friday, at('2025-01-20T09:00:00.004Z'), { windowMs: DAY }))).toBe('2025-01-19T09:00:00.000Z → 2025-01-20T09:00:00.000Z');
  });

  it('--digest-since fixes the window instead', async () => {
    vi.setSystemTime(at('2025-01-17T08:30:00Z'));
    const store = storeFile('fixed-window').open();
    const posted: Period[] = [];
    const schedule = scheduleOn(store, { ...weekdays, windowMs: DAY }, posted);
    await vi.advanceTimersByTimeAsync(3 * DAY + HOUR); // to Monday 09:30
    expect(posted.map(iso)).toEqual(['2025-01-16T09:00:00.000Z → 2025-01-17T09:00:00.000Z', '2025-01-19T09:00:00.000Z → 2025-01-20T09:00:00.000Z']);
    schedule.stop();
    store.closeSync();
  });
});

describe('nextDigestDue', () => {
  it('is one interval after the last digest, or the first cron run in a later minute; at or before now means at once', () => {
    const now = at('2025-01-16T10:17:30Z');
    expect(nextDigestDue(digestRule({ every: '24h' }), at('2025-01-16T09:00:00Z'), now)).toBe(at('2025-01-17T09:00:00Z'));
    expect(nextDigestDue(digestRule({ every: '24h' }), at('2025-01-14T09:00:00Z'), now)).toBe(at('2025-01-15T09:00:00Z'));
    expect(nextDigestDue(digestRule({ every: '24h' }), undefined, now)).toBe(at('2025-01-17T10:17:00Z'));
    const weekdays = digestRule({ cron: '0 9 * * 1-5', timezone: 'UTC' });
    expect(nextDigestDue(weekdays, at('2025-01-14T09:00:00Z'), now)).toBe(at('2025-01-15T09:00:00Z'));
    expect(nextDigestDue(weekdays, at('2025-01-17T09:00:00Z'), now)).toBe(at('2025-01-20T09:00:00Z'));
    expect(nextDigestDue(weekdays, undefined, now)).toBe(at('2025-01-17T09:00:00Z'));
    // A seconds pattern posts at most once a minute: periods end on the minute.
    expect(nextDigestDue(digestRule({ cron: '* * * * * *' }), at('2025-01-16T10:17:00Z'), now)).toBe(at('2025-01-16T10:18:00Z'));
  });
});
