/** The digest schedule on fake timers: fixed intervals, cron, overlap and failures. */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { startDigestSchedule } from './schedule.js';

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

  it('needs exactly one of every and cron, and a valid pattern', () => {
    const post = async (): Promise<void> => {};
    expect(() => startDigestSchedule({ post })).toThrow(/exactly one of every/);
    expect(() => startDigestSchedule({ every: '1h', cron: '0 9 * * *', post })).toThrow(/exactly one of every/);
    expect(() => startDigestSchedule({ every: 'daily', post })).toThrow(/not a duration/);
    expect(() => startDigestSchedule({ cron: '0 25 * * *', post })).toThrow(/"0 25 \* \* \*" is not a cron pattern/);
  });
});
