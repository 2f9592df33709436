/**
 * Runs the digest on a schedule for `n1lens serve`: every fixed duration (`--digest-every 24h`) or on a
 * cron pattern (`--digest-cron`, croner). When the next digest is due and what it covers are computed
 * from the end of the last digest's period, kept in the store, so a restart neither resets the
 * countdown nor forgets a digest missed while the server was down.
 */
import { Cron } from 'croner';
import { DAY_MS, MINUTE_MS, parseDuration, type Period } from '../report/period.js';

/**
 * Where the end of the last digest's period is kept. The store's (source.ts storeDigestMarks) is shared
 * by every instance on it, and survives restarts; memoryDigestMarks() is neither.
 */
export interface DigestMarks {
  /** The end of the last digest's period, epoch ms on the minute; undefined before the first. */
  read(): Promise<number | undefined>;
  /**
   * Sets it to `to` (undefined: forgets it) only if it still holds `from` (undefined: none), atomically:
   * false when another instance moved it first.
   */
  move(from: number | undefined, to: number | undefined): Promise<boolean>;
}

export interface DigestScheduleOptions {
  /** A duration, `24h`, `7d`, `90m`: a digest one interval after the last (the first, one interval after the first start). */
  every?: string;
  /** A cron pattern, `0 9 * * 1-5` (minute hour day month weekday; a sixth leading field is seconds). */
  cron?: string;
  /** IANA time zone for `cron`, e.g. `Europe/London`. Default the process's. */
  timezone?: string;
  /** A fixed length for every digest's period (`--digest-since`); by default a digest covers the time since the last one. */
  windowMs?: number;
  /** How far back a period may reach: older rows are gone (the store's retention). */
  maxWindowMs?: number;
  /** Where the end of the last digest's period is kept. Default: memory (each start begins afresh). */
  marks?: DigestMarks;
  /** The clock. Default Date.now. */
  now?: () => number;
  /** Builds and posts the digest of one period. */
  post: (period: Period) => Promise<void>;
  /** Told about a failed post; the schedule goes on. Default: one line on stderr. */
  onError?: (error: unknown) => void;
}

export interface DigestSchedule {
  stop(): void;
}

/** A checked schedule: a fixed interval, or a cron pattern (a croner job that never runs, asked only for dates). */
export type DigestRule = { everyMs: number } | { cron: Cron };

/** Node's timers take at most 2^31-1 ms (about 24.8 days); a longer wait is armed in steps. */
const MAX_TIMEOUT_MS = 2_147_483_647;
/** After an attempt that threw, the next one: a store outage is asked about once a minute. */
const RETRY_MS = 60_000;

const minuteOf = (ms: number): number => Math.floor(ms / MINUTE_MS) * MINUTE_MS;

/** The message only: errors from the digest path are built to be safe to log (no webhook URL). */
function logError(error: unknown): void {
  process.stderr.write(`n1lens: digest failed: ${error instanceof Error ? error.message : String(error)}\n`);
}

/**
 * The schedule `options` ask for. Throws the one-line reason it cannot be (both or neither of
 * every/cron, a bad duration or cron pattern), so `serve` can refuse before it binds a port.
 */
export function digestRule(options: Pick<DigestScheduleOptions, 'every' | 'cron' | 'timezone'>): DigestRule {
  const { every, cron } = options;
  if ((every === undefined) === (cron === undefined)) throw new Error('a digest schedule needs exactly one of every (e.g. 24h) and cron (e.g. "0 9 * * 1-5")');
  if (every !== undefined) return { everyMs: parseDuration(every) };
  try {
    return { cron: new Cron(cron ?? '', { paused: true, ...(options.timezone === undefined ? {} : { timezone: options.timezone }) }) };
  } catch (error) {
    throw new Error(`"${cron}" is not a cron pattern: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** Throws the one-line reason a schedule would not start (see digestRule). */
export function checkDigestSchedule(options: Pick<DigestScheduleOptions, 'every' | 'cron' | 'timezone'>): void {
  digestRule(options);
}

/**
 * When the digest after the one whose period ended at `lastUntilMs` is due; at or before `nowMs`
 * means at once, and however many were missed that is one digest, never a burst. Every: one interval
 * after the last. Cron: its first run in a minute after the last (periods end on the minute, so a
 * seconds pattern posts at most once a minute). With no last digest: one interval from now, or the next run.
 *
 * @example nextDigestDue({ everyMs: DAY_MS }, Date.parse('2025-01-13T09:00Z'), Date.parse('2025-01-13T20:00Z')) // 2025-01-14 09:00
 */
export function nextDigestDue(rule: DigestRule, lastUntilMs: number | undefined, nowMs: number): number {
  if ('everyMs' in rule) return (lastUntilMs ?? minuteOf(nowMs)) + rule.everyMs;
  const next = rule.cron.nextRun(new Date(lastUntilMs === undefined ? nowMs : lastUntilMs + MINUTE_MS - 1));
  return next === null ? Number.POSITIVE_INFINITY : next.getTime();
}

/**
 * Where the first digest's period starts, for a schedule started at `nowMs` with no digest posted
 * yet: here (every: the countdown starts at the first start, not at each restart), or at the cron's
 * last run, so the first digest covers a whole regular period (a Monday's, the weekend).
 *
 * @example firstDigestSince({ cron }, Date.parse('2025-01-13T08:58Z')) // 2025-01-10 09:00, the Friday before
 */
export function firstDigestSince(rule: DigestRule, nowMs: number): number {
  if ('everyMs' in rule) return minuteOf(nowMs);
  const previous = rule.cron.previousRuns(1, new Date(nowMs))[0];
  return minuteOf(previous === undefined ? nowMs - DAY_MS : previous.getTime());
}

/**
 * What a digest posted at `nowMs` covers: up to the start of the current minute, from the end of the
 * last digest's period, so consecutive digests neither overlap nor leave a gap (a weekday cron's
 * Monday digest covers the weekend). `windowMs` fixes the length instead; `maxWindowMs` bounds it.
 *
 * @example digestPeriod(Date.parse('2025-01-10T09:00Z'), Date.parse('2025-01-13T09:00:00.004Z'))
 * // { sinceMs: 2025-01-10 09:00 (Friday), untilMs: 2025-01-13 09:00 (Monday) }
 */
export function digestPeriod(lastUntilMs: number, nowMs: number, options: Pick<DigestScheduleOptions, 'windowMs' | 'maxWindowMs'> = {}): Period {
  const untilMs = minuteOf(nowMs);
  const sinceMs = options.windowMs === undefined ? lastUntilMs : untilMs - options.windowMs;
  const bounded = options.maxWindowMs === undefined ? sinceMs : Math.max(sinceMs, untilMs - options.maxWindowMs);
  // At least a minute, even for a clock stepped back behind the last digest.
  return { sinceMs: Math.min(bounded, untilMs - MINUTE_MS), untilMs };
}

/** Marks kept in this process only: every start begins afresh (the library default; serve keeps them in the store). */
export function memoryDigestMarks(): DigestMarks {
  let untilMs: number | undefined;
  return {
    read: async () => untilMs,
    move: async (from, to) => {
      if (untilMs !== from) return false;
      untilMs = to;
      return true;
    },
  };
}

/**
 * Starts posting digests; exactly one of `every` and `cron` is given. Each one claims its period in
 * `marks` before posting, so of several instances sharing a store one posts it; a failed post gives
 * the period back, to be covered by the next digest. A post still running when the next one is due
 * is not doubled: that tick is skipped. Timers are unref'd, so the schedule alone never keeps the
 * process alive (the server's sockets do).
 *
 * @example
 * const schedule = startDigestSchedule({ cron: '0 9 * * 1-5', marks: storeDigestMarks(store), post: (period) => postDigest(period) });
 * process.on('SIGTERM', () => schedule.stop());
 */
export function startDigestSchedule(options: DigestScheduleOptions): DigestSchedule {
  const rule = digestRule(options);
  const now = options.now ?? Date.now;
  const marks = options.marks ?? memoryDigestMarks();
  const onError = options.onError ?? logError;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  /** The regular tick after the last attempt: a failed or slow post is not retried in a burst. */
  let notBeforeMs = Number.NEGATIVE_INFINITY;
  const nextTickAfter = (ms: number): number => nextDigestDue(rule, minuteOf(ms), ms);

  /** Posts the digest if one is due; returns when to look again. */
  const attempt = async (): Promise<number> => {
    const nowMs = now();
    let lastUntilMs = await marks.read();
    if (lastUntilMs === undefined) {
      // Kept, so a restart does not start the countdown again (a service deployed daily still posts).
      const since = firstDigestSince(rule, nowMs);
      await marks.move(undefined, since);
      lastUntilMs = (await marks.read()) ?? since;
    }
    const dueMs = Math.max(nextDigestDue(rule, lastUntilMs, nowMs), notBeforeMs);
    if (dueMs > nowMs) return dueMs;
    const period = digestPeriod(lastUntilMs, nowMs, options);
    // Another instance posted first: look again (it has moved the mark on).
    if (!(await marks.move(lastUntilMs, period.untilMs))) return nowMs;
    try {
      await options.post(period);
    } catch (error) {
      // Not posted: the period goes back, for the next digest to cover.
      await marks.move(period.untilMs, lastUntilMs).catch((e: unknown) => onError(e));
      throw error;
    } finally {
      notBeforeMs = nextTickAfter(now());
    }
    return notBeforeMs;
  };

  const arm = (atMs: number): void => {
    if (stopped) return;
    timer = setTimeout(() => void tick(), Math.min(Math.max(0, atMs - now()), MAX_TIMEOUT_MS));
    timer.unref();
  };
  const tick = async (): Promise<void> => {
    let nextMs: number;
    try {
      nextMs = await attempt();
    } catch (error) {
      onError(error);
      // Soon again, not a whole interval later: a store that could not be read (at start, say) would
      // otherwise put the first digest off by one. A failed post waits for its next tick anyway (notBeforeMs).
      const nowMs = now();
      nextMs = Math.min(nowMs + RETRY_MS, nextTickAfter(nowMs));
    }
    arm(nextMs);
  };
  void tick();
  return {
    stop: () => {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
