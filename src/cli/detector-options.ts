/** The detector thresholds every command shares (report, serve, digest): one definition, one parser. */
import { InvalidArgumentError, type Command } from 'commander';
import type { ConnectionDetectOptions } from '../detect/connections.js';
import type { EndpointDetectOptions } from '../detect/endpoint.js';
import { DEFAULT_MIN_REPEATS, type DetectOptions } from '../detect/request.js';
import { invalidNoisePattern } from '../sql/noise.js';

export interface DetectorCliOptions {
  minRepeats: number;
  slowMs: number;
  hotShare: number;
  hotMinRequests: number;
  hotMinPerDay: number;
  fanoutMinCalls: number;
  fanoutMinShare: number;
  minShare: number;
  /** `--test-suite` (report and capture): the requests are tests, not traffic; no warm_up, no hot_lookup. */
  testSuite?: boolean;
  /** Extra framework-noise patterns (regular expressions over the normalised SQL). */
  ignoreSql: string[];
  dbMaxConnections?: number;
}

/**
 * A flag's number, written in decimal: Number() alone reads '' and ' ' as 0 and 0x10 as 16, so
 * `--slow-ms ""` (an unset shell variable) would quietly be 0. NaN when it is no decimal number.
 */
export function decimal(value: string): number {
  return /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$/.test(value) ? Number(value) : Number.NaN;
}

/** A whole number from `min` (to `max`, where a larger one would be wrong, e.g. past what a timer can wait). */
export const wholeNumber = (name: string, min = 0, max = Number.MAX_SAFE_INTEGER) => (value: string): number => {
  const n = decimal(value);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new InvalidArgumentError(`${name} must be a whole number ${max === Number.MAX_SAFE_INTEGER ? `≥ ${min}` : `from ${min} to ${max}`}`);
  }
  return n;
};

/** A number ≥ 0, fractions allowed (a time in ms such as a finding's waste per request). */
export const nonNegativeNumber = (name: string) => (value: string): number => {
  const n = decimal(value);
  if (!(n >= 0)) throw new InvalidArgumentError(`${name} must be a number ≥ 0`);
  return n;
};

/** The longest wait a Node timer keeps (2^31 - 1 ms, about 24.8 days): past it, setTimeout fires after 1 ms. */
export const MAX_TIMER_MS = 2_147_483_647;

/** A wait in milliseconds, from 0 to what a timer can wait. */
export const milliseconds = (name: string, max = MAX_TIMER_MS) => wholeNumber(name, 0, max);

/** A repeatable flag's values, each read by `parse` (which throws InvalidArgumentError for a bad one). */
export const repeatable = <T>(parse: (value: string) => T) => (value: string, previous: T[] | undefined): T[] => [...(previous ?? []), parse(value)];

/** A TCP port; 0 picks a free one. */
export const portNumber = (name: string) => (value: string): number => {
  const n = decimal(value);
  if (!Number.isInteger(n) || n < 0 || n > 65_535) throw new InvalidArgumentError(`${name} must be a port number, 0 to 65535 (0 picks a free port)`);
  return n;
};

const positive = (name: string) => wholeNumber(name, 1);

const share = (name: string) => (value: string): number => {
  const n = decimal(value);
  if (!(n >= 0 && n <= 1)) throw new InvalidArgumentError(`${name} must be a share between 0 and 1`);
  return n;
};

/** Adds the detector flags with their defaults. */
export function addDetectorOptions(command: Command): Command {
  return command
    // One execution is no loop: 0 or 1 would make every query a cascade.
    .option('--min-repeats <n>', 'executions of one query in one request that make a cascade (≥ 2)', wholeNumber('--min-repeats', 2), DEFAULT_MIN_REPEATS)
    .option('--slow-ms <ms>', 'slow_query: p95 at or above which a query is slow', wholeNumber('--slow-ms'), 100)
    .option('--hot-share <0..1>', "hot_lookup: share of an endpoint's requests that run the lookup", share('--hot-share'), 0.8)
    .option('--hot-min-requests <n>', 'hot_lookup: requests of the endpoint before it is judged', wholeNumber('--hot-min-requests'), 10)
    .option('--hot-min-per-day <n>', 'hot_lookup: calls per day at which a cache pays', wholeNumber('--hot-min-per-day'), 1000)
    .option('--fanout-min-calls <n>', 'sync_fanout: serial outbound calls in one request', wholeNumber('--fanout-min-calls'), 3)
    .option('--fanout-min-share <0..1>', "sync_fanout: share of the request's time they take", share('--fanout-min-share'), 0.5)
    .option('--db-max-connections <n>', "connection_pressure: the database's max_connections (default: PostgreSQL's 100)", positive('--db-max-connections'))
    .option(
      '--min-share <0..1>',
      "warm_up: with ≥ 3 requests, a loop seen in fewer than this share of an endpoint's requests is warm-up, not N+1 (not with --test-suite)",
      share('--min-share'),
      0.5,
    )
    .option(
      '--ignore-sql <regex>',
      'framework noise to leave out, on top of the built-in list (repeatable; matched against normalised SQL, literals as ?)',
      regexList,
      [] as string[],
    );
}

function regexList(value: string, previous: string[]): string[] {
  const problem = invalidNoisePattern([value]);
  if (problem !== null) throw new InvalidArgumentError(problem);
  return [...previous, value];
}

/** Per-request options (used while analysing). */
export function requestDetectOptions(o: DetectorCliOptions): DetectOptions {
  return { minRepeats: o.minRepeats, fanoutMinCalls: o.fanoutMinCalls, fanoutMinShare: o.fanoutMinShare, ignoreSql: o.ignoreSql };
}

/** Per-endpoint and per-service options (used when the report is built). */
export function endpointDetectOptions(o: DetectorCliOptions): EndpointDetectOptions & ConnectionDetectOptions {
  return {
    minShare: o.minShare,
    ...(o.testSuite === true ? { testSuite: true } : {}),
    slowMs: o.slowMs,
    hotLookupMinShare: o.hotShare,
    hotLookupMinRequests: o.hotMinRequests,
    hotLookupMinPerDay: o.hotMinPerDay,
    ...(o.dbMaxConnections === undefined ? {} : { dbMaxConnections: o.dbMaxConnections }),
  };
}
