/** Runs the digest on a schedule for `n1lens serve`: every fixed duration (`--digest-every 24h`) or on a cron pattern (`--digest-cron`, croner). */
import { Cron } from 'croner';
import { parseDuration } from '../report/period.js';

export interface DigestScheduleOptions {
  /** A duration, `24h`, `7d`, `90m`: the first digest goes out one interval after start. */
  every?: string;
  /** A cron pattern, `0 9 * * 1-5` (minute hour day month weekday; a sixth leading field is seconds). */
  cron?: string;
  /** IANA time zone for `cron`, e.g. `Europe/London`. Default the process's. */
  timezone?: string;
  /** Builds and posts one digest. */
  post: () => Promise<void>;
  /** Told about a failed post; the schedule goes on. Default: one line on stderr. */
  onError?: (error: unknown) => void;
}

export interface DigestSchedule {
  stop(): void;
}

/** Node's timers take at most 2^31-1 ms (about 24.8 days); a longer wait is armed in steps. */
const MAX_TIMEOUT_MS = 2_147_483_647;

/** Runs `run` every `intervalMs` from now, on the wall clock, never catching up missed ticks in a burst. */
function everyInterval(intervalMs: number, run: () => Promise<void>): DigestSchedule {
  let due = Date.now() + intervalMs;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const arm = (): void => {
    if (stopped) return;
    timer = setTimeout(() => {
      const now = Date.now();
      if (now >= due) {
        while (due <= now) due += intervalMs;
        void run();
      }
      arm();
    }, Math.min(Math.max(0, due - Date.now()), MAX_TIMEOUT_MS));
    timer.unref();
  };
  arm();
  return {
    stop: () => {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

/** The message only: errors from the digest path are built to be safe to log (no webhook URL). */
function logError(error: unknown): void {
  process.stderr.write(`n1lens: digest failed: ${error instanceof Error ? error.message : String(error)}\n`);
}

/**
 * Throws the one-line reason a schedule would not start (both or neither of every/cron, a bad
 * duration or cron pattern), so `serve` can refuse before it binds a port.
 */
export function checkDigestSchedule(options: Pick<DigestScheduleOptions, 'every' | 'cron' | 'timezone'>): void {
  const { every, cron } = options;
  if ((every === undefined) === (cron === undefined)) throw new Error('a digest schedule needs exactly one of every (e.g. 24h) and cron (e.g. "0 9 * * 1-5")');
  if (every !== undefined) {
    parseDuration(every);
    return;
  }
  try {
    new Cron(cron ?? '', { paused: true, ...(options.timezone === undefined ? {} : { timezone: options.timezone }) }).stop();
  } catch (error) {
    throw new Error(`"${cron}" is not a cron pattern: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/**
 * Starts posting digests; exactly one of `every` and `cron` is given. A post still running when the
 * next one is due is not doubled: that tick is skipped. Timers are unref'd, so the schedule alone
 * never keeps the process alive (the server's sockets do).
 *
 * @example
 * const schedule = startDigestSchedule({ cron: '0 9 * * 1-5', post: () => postDigest() });
 * process.on('SIGTERM', () => schedule.stop());
 */
export function startDigestSchedule(options: DigestScheduleOptions): DigestSchedule {
  const { every, cron, post } = options;
  checkDigestSchedule(options);
  const onError = options.onError ?? logError;
  let running = false;
  const run = async (): Promise<void> => {
    if (running) return;
    running = true;
    try {
      await post();
    } catch (error) {
      onError(error);
    } finally {
      running = false;
    }
  };

  if (every !== undefined) return everyInterval(parseDuration(every), run);

  const job = new Cron(cron ?? '', { unref: true, ...(options.timezone === undefined ? {} : { timezone: options.timezone }) }, () => run());
  return { stop: () => job.stop() };
}
