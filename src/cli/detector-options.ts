/** The detector thresholds every command shares (report, serve, digest): one definition, one parser. */
import { InvalidArgumentError, type Command } from 'commander';
import type { ConnectionDetectOptions } from '../detect/connections.js';
import type { EndpointDetectOptions } from '../detect/endpoint.js';
import type { DetectOptions } from '../detect/request.js';
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
  /** `--test-suite` (report and capture): the requests are tests, not traffic; no warm_up. */
  testSuite?: boolean;
  /** Extra framework-noise patterns (regular expressions over the normalised SQL). */
  ignoreSql: string[];
  dbMaxConnections?: number;
}

export const wholeNumber = (name: string, min = 0) => (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`${name} must be a whole number ≥ ${min}`);
  return n;
};

/** A TCP port; 0 picks a free one. */
export const portNumber = (name: string) => (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65_535) throw new InvalidArgumentError(`${name} must be a port number, 0 to 65535 (0 picks a free port)`);
  return n;
};

const positive = (name: string) => (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${name} must be a whole number ≥ 1`);
  return n;
};

const share = (name: string) => (value: string): number => {
  const n = Number(value);
  if (!(n >= 0 && n <= 1)) throw new InvalidArgumentError(`${name} must be a share between 0 and 1`);
  return n;
};

/** Adds the detector flags with their defaults. */
export function addDetectorOptions(command: Command): Command {
  return command
    // One execution is no loop: 0 or 1 would make every query a cascade.
    .option('--min-repeats <n>', 'executions of one query in one request that make a cascade (≥ 2)', wholeNumber('--min-repeats', 2), 5)
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
