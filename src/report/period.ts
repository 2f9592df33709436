/** Periods users type (`90m`, `24h`, `7d`, an ISO date), the windows they make in the store, and how both read in a message. */

export const MINUTE_MS = 60_000;
export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;

const UNIT_MS = { m: MINUTE_MS, h: HOUR_MS, d: DAY_MS, w: 7 * DAY_MS } as const;

/** A duration or period that cannot be used; the message names the input and what is accepted. */
export class DurationError extends Error {
  override name = 'DurationError';
}

/** A stretch of time, epoch ms, `sinceMs` inclusive and `untilMs` exclusive. */
export interface Period {
  sinceMs: number;
  untilMs: number;
}

/**
 * Parses `90m`, `24h`, `7d`, `2w` or a sum such as `1d12h` into milliseconds.
 * Whole numbers only, and at least one minute: a digest window finer than that means nothing.
 *
 * @example parseDuration('24h') // 86_400_000
 */
export function parseDuration(text: string): number {
  const s = text.trim().toLowerCase();
  if (!/^(\d+[mhdw])+$/.test(s)) {
    throw new DurationError(`"${text}" is not a duration: use a whole number and a unit, m, h, d or w (e.g. 90m, 24h, 7d)`);
  }
  let ms = 0;
  for (const [, n, unit] of s.matchAll(/(\d+)([mhdw])/g)) ms += Number(n) * UNIT_MS[unit as keyof typeof UNIT_MS];
  if (ms <= 0 || !Number.isSafeInteger(ms)) throw new DurationError(`"${text}" is not a usable duration: it must be at least 1m`);
  return ms;
}

/**
 * The shortest exact spelling of a duration: `24h`, `7d`, `90m` (days only from two days up, since
 * "last 24h" is how people say it).
 *
 * @example formatDuration(86_400_000) // '24h'
 */
export function formatDuration(ms: number): string {
  if (ms >= 2 * DAY_MS && ms % DAY_MS === 0) return `${ms / DAY_MS}d`;
  if (ms >= HOUR_MS && ms % HOUR_MS === 0) return `${ms / HOUR_MS}h`;
  if (ms % MINUTE_MS === 0) return `${ms / MINUTE_MS}m`;
  return `${Math.round(ms / 1000)}s`;
}

/** How long the store keeps minute rows beside its hourly ones: period edges within this of now are exact to the minute. */
export const MINUTE_ROWS_KEPT_MS = 48 * HOUR_MS;

/**
 * A store digest's periods: the last `durationMs`, ending with the current minute (so requests of
 * the hour still under way count), and the equal period before it. When both fit in the 48 h the
 * store keeps minute rows for, every edge is on the minute and the two are exactly as long; a longer
 * window starts on the hour (older edges are read by whole hours), so the current period is up to
 * an hour longer than the whole-hour previous one.
 *
 * @example storePeriods(parseDuration('24h'), Date.parse('2025-01-14T09:06:30Z'))
 * // current: 2025-01-13 09:07 -> 2025-01-14 09:07, previous: 2025-01-12 09:07 -> 2025-01-13 09:07
 */
export function storePeriods(durationMs: number, nowMs: number): { current: Period; previous: Period } {
  const untilMs = Math.ceil(nowMs / MINUTE_MS) * MINUTE_MS;
  const unit = 2 * durationMs <= MINUTE_ROWS_KEPT_MS ? MINUTE_MS : HOUR_MS;
  const lengthMs = Math.max(1, Math.ceil(durationMs / unit)) * unit;
  const sinceMs = Math.floor((untilMs - lengthMs) / unit) * unit;
  return { current: { sinceMs, untilMs }, previous: { sinceMs: sinceMs - lengthMs, untilMs: sinceMs } };
}

const pad = (n: number): string => String(n).padStart(2, '0');
const day = (d: Date): string => `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
const time = (d: Date): string => `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;

/**
 * A period in UTC, minute precision; the end date is left out when it is the start's.
 *
 * @example formatPeriod({ sinceMs: Date.parse('2025-01-13T09:00Z'), untilMs: Date.parse('2025-01-14T09:00Z') })
 * // '2025-01-13 09:00 → 2025-01-14 09:00 UTC'
 */
export function formatPeriod(p: Period): string {
  if (!Number.isFinite(p.sinceMs) || !Number.isFinite(p.untilMs)) return 'no timestamps';
  const a = new Date(p.sinceMs);
  const b = new Date(p.untilMs);
  return day(a) === day(b) ? `${day(a)} ${time(a)} → ${time(b)} UTC` : `${day(a)} ${time(a)} → ${day(b)} ${time(b)} UTC`;
}

/** The instants a period may start or end at: years 0000 to 9999, as ISO dates write them. Anything else is a typo or an attack, not a period. */
export const EARLIEST_MS = -62_167_219_200_000; // 0000-01-01T00:00Z
export const LATEST_MS = 253_402_300_800_000; // 10000-01-01T00:00Z, exclusive

/** True for epoch ms a period may start or end at (EARLIEST_MS to LATEST_MS). */
export const isUsableInstant = (ms: number): boolean => Number.isFinite(ms) && ms >= EARLIEST_MS && ms < LATEST_MS;

/** True for `YYYY-MM-DD` naming a day of the calendar (Date.parse reads `2099-02-31` as 3 March). */
export function isCalendarDate(text: string): boolean {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(text)) return false;
  const t = Date.parse(`${text}T00:00Z`);
  return !Number.isNaN(t) && new Date(t).toISOString().slice(0, 10) === text;
}

/**
 * `2026-12-01`, `2026-12-01T09:00` (a datetime-local value) or any ISO date-time, read as UTC unless
 * it names a zone, whatever the machine's time zone; anything else Date.parse reads (RFC 2822) as is.
 * Throws a DurationError for text that is not a date or lies outside years 0000 to 9999.
 *
 * @example parseInstant('2026-12-01T09:00') // Date.parse('2026-12-01T09:00Z')
 */
export function parseInstant(text: string): number {
  const local = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?$/.test(text);
  const t = Date.parse(local ? `${text.replace(' ', 'T')}${text.length > 10 ? 'Z' : 'T00:00Z'}` : text);
  if (Number.isNaN(t) || (local && !isCalendarDate(text.slice(0, 10)))) throw new DurationError(`"${text}" is not a date: use e.g. 2026-12-01T09:00 (UTC)`);
  if (!isUsableInstant(t)) throw new DurationError(`"${text}" is outside years 0000 to 9999`);
  return t;
}

/** `--since 24h` / `?since=24h` means that long before now; an ISO date (UTC unless it names a zone, see parseInstant) or epoch ms is taken as is. */
export function parseSince(text: string, nowMs: number): number {
  if (/^\d{10,}$/.test(text)) {
    const ms = Number(text);
    if (!isUsableInstant(ms)) throw new DurationError(`"${text}" is not a time: epoch milliseconds before the year 10000`);
    return ms;
  }
  if (/^\d{4}-\d{2}-\d{2}/.test(text)) return parseInstant(text);
  const ms = nowMs - parseDuration(text);
  if (!isUsableInstant(ms)) throw new DurationError(`"${text}" reaches back before the year 0000`);
  return ms;
}
