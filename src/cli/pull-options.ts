/** The --from flags `n1-report` and `n1lens digest` share, and the loop that feeds pulled traces to the offline analysis. */
import type { Command } from 'commander';
import { OfflineAnalysis } from '../analyzer.js';
import type { DetectOptions } from '../detect/request.js';
import type { RollupSet } from '../detect/rollup.js';
import type { RequestAnalysis } from '../detect/types.js';
// The pull clients (and protobufjs, which Tempo's protobuf answers need) load only for --from.
import type { PullQuery, PullStats } from '../otlp/pull/index.js';
import type { RefusedSpans } from '../otlp/span.js';
import { parseDuration, parseInstant } from '../report/period.js';
import { loadSchema, schemaNaming } from '../suggest/index.js';
import type { ReportOptions } from '../report/index.js';
import { CliError } from './errors.js';
import { repeatable, wholeNumber } from './detector-options.js';

export interface PullCliOptions {
  from?: string;
  service?: string;
  since?: string;
  start?: string;
  end?: string;
  /** --limit; DEFAULT_PULL_LIMIT when absent (no commander default, so that a --limit without --from can be told apart and refused). */
  limit?: number;
  /** Repeated --header values; absent when none was given. */
  header?: string[];
}

/** Traces pulled when --limit is not given. */
export const DEFAULT_PULL_LIMIT = 1000;


/** Adds --from and its query flags (--service is the caller's: digest already has one). */
export function addPullOptions(command: Command, { service }: { service: boolean }): Command {
  command
    .option('--from <url>', 'pull traces from Jaeger (query API, e.g. http://127.0.0.1:16686), Tempo (e.g. http://tempo:3200) or Zipkin (e.g. http://zipkin:9411)')
    .option('--start <time>', 'with --from: oldest trace start (ISO 8601, e.g. 2026-12-01T09:00:00Z, or an epoch in s, ms, µs or ns)')
    .option('--end <time>', 'with --from: newest trace start (default now)')
    .option('--limit <n>', `with --from: most traces to pull (default ${DEFAULT_PULL_LIMIT})`, wholeNumber('--limit', 1))
    .option('--header <name: value>', "with --from: HTTP header, repeatable, e.g. 'Authorization: Bearer <token>'", repeatable(String));
  if (service) command.option('--service <name>', 'with --from: the service.name whose traces to pull');
  return command;
}

/** Digits of an epoch → how many of its units make a millisecond, as a power of ten (negative: units per ms are fewer than 1). */
const EPOCH_UNITS: readonly { maxDigits: number; name: string; perMsPow10: number }[] = [
  { maxDigits: 10, name: 'seconds', perMsPow10: -3 },
  { maxDigits: 13, name: 'milliseconds', perMsPow10: 0 },
  { maxDigits: 16, name: 'microseconds', perMsPow10: 3 },
  { maxDigits: 19, name: 'nanoseconds', perMsPow10: 6 },
];

/**
 * A --start/--end value as epoch milliseconds: an epoch number whose unit its digit count tells (up
 * to 10 seconds, 11–13 milliseconds, 14–16 microseconds as Jaeger's URLs have, 17–19 nanoseconds as
 * Grafana and Tempo show; so 2001–2286 in any unit), or a date-time parseInstant reads (ISO 8601, UTC
 * unless it names a zone; RFC 2822; years 0000 to 9999). Sub-millisecond epochs are rounded down for
 * --start and up for --end, so the window keeps the traces in it. A negative epoch (before 1970) or
 * more than 19 digits is a one-line error.
 */
export function parseTime(flag: string, text: string, round: 'down' | 'up' = 'down'): number {
  const trimmed = text.trim();
  const epoch = /^([+-]?)0*(\d+)$/.exec(trimmed);
  if (epoch !== null) {
    const [, sign, digits] = epoch as unknown as [string, string, string];
    if (sign === '-' && /[1-9]/.test(digits)) throw new CliError(`${flag} ${JSON.stringify(text)} is before 1970: give an epoch in s, ms, µs or ns, or ISO 8601, e.g. 2026-12-01T09:00:00Z`);
    const unit = EPOCH_UNITS.find((u) => digits.length <= u.maxDigits);
    if (unit === undefined) {
      throw new CliError(`${flag} ${JSON.stringify(text)} has ${digits.length} digits, more than an epoch in nanoseconds (19): give s, ms, µs or ns, or ISO 8601`);
    }
    if (unit.perMsPow10 <= 0) return Number(digits) * 10 ** -unit.perMsPow10;
    const per = 10n ** BigInt(unit.perMsPow10);
    const value = BigInt(digits);
    return Number(value / per + (round === 'up' && value % per !== 0n ? 1n : 0n));
  }
  // An ISO 8601 date-time (UTC unless it names a zone, as the web UI reads one) or anything else Date.parse reads (RFC 2822).
  try {
    return parseInstant(trimmed);
  } catch {
    throw new CliError(`${flag} ${JSON.stringify(text)} is not a time: use ISO 8601, e.g. 2026-12-01T09:00:00Z`);
  }
}

/** The query the flags describe; --since (default 24h) and --start are alternatives. */
export function pullQuery(o: PullCliOptions, nowMs = Date.now()): PullQuery {
  if (o.since !== undefined && o.start !== undefined) throw new CliError('give --since or --start, not both');
  const endMs = o.end === undefined ? nowMs : parseTime('--end', o.end, 'up');
  let startMs: number;
  if (o.start !== undefined) startMs = parseTime('--start', o.start);
  else {
    try {
      // A --since longer than since 1970 means all of it (and keeps the window a Date can print).
      startMs = Math.max(0, endMs - parseDuration(o.since ?? '24h'));
    } catch (e) {
      throw new CliError(`--since: ${(e as Error).message}`);
    }
  }
  if (startMs >= endMs) throw new CliError('--start must be before --end');
  return { ...(o.service === undefined ? {} : { service: o.service }), startMs, endMs, limit: o.limit ?? DEFAULT_PULL_LIMIT };
}

/** Rejects pull flags without --from, and --from with files. */
export function checkPullFlags(o: PullCliOptions, files: readonly string[]): void {
  if (o.from !== undefined && files.length > 0) throw new CliError('give trace files or --from, not both');
  if (o.from === undefined) {
    const used = (['start', 'end', 'limit', 'header'] as const).filter((k) => o[k] !== undefined);
    if (used.length > 0) throw new CliError(`--${used[0]} applies to --from`);
  }
}

/** Writes "N traces fetched, M analysed" to stderr: in place on a terminal, every 10 s otherwise. */
function progressLine(program: string, stats: PullStats, offline: OfflineAnalysis): { update(): void; done(api: string, url: string): void } {
  const tty = process.stderr.isTTY === true;
  let last = 0;
  const line = () =>
    `${program}: ${stats.fetched} trace${stats.fetched === 1 ? '' : 's'} fetched, ${offline.analyzer.assembler.counters.tracesCompleted} analysed${stats.failed ? `, ${stats.failed} failed` : ''}`;
  return {
    update() {
      const now = Date.now();
      if (now - last < (tty ? 200 : 10_000)) return;
      last = now;
      process.stderr.write(tty ? `\r${line()}\u001b[K` : `${line()}\n`);
    },
    done(api, url) {
      process.stderr.write(`${tty ? '\r\u001b[K' : ''}${line()} (${api} at ${url})\n`);
      for (const failure of stats.failures) process.stderr.write(`${program}: failed: ${failure}\n`);
      if (stats.failed > stats.failures.length) process.stderr.write(`${program}: … and ${stats.failed - stats.failures.length} more failures\n`);
    },
  };
}

/**
 * The line that says a pull left traces (or searches) out after retries, so the report covers part of
 * the window; `allowed`: --allow-partial, which lets the gate judge what was fetched.
 */
export function partialPullWarning(program: string, stats: PullStats, allowed: boolean): string {
  const what = `${stats.failed} trace${stats.failed === 1 ? '' : 's'} or search${stats.failed === 1 ? '' : 'es'} failed after retries`;
  return allowed
    ? `${program}: the report is partial: ${what} (named above) and ${stats.failed === 1 ? 'is' : 'are'} left out (--allow-partial)\n`
    : `${program}: the report is partial: ${what} (named above) and ${stats.failed === 1 ? 'is' : 'are'} left out, so it passes no gate: exit 2 (pull again, or pass --allow-partial to judge what was fetched)\n`;
}

/**
 * Pulls the query's traces and analyses them as n1-report analyses a file. Zero traces is a usage
 * error (a wrong --service or window must not pass a CI gate as "no findings"), unless `allowEmpty`
 * (the digest, which then says "No requests in this period").
 */
export async function analysePull(
  o: PullCliOptions & { from: string },
  options: DetectOptions & { schemaPath?: string; onAnalysed?: (analyses: RequestAnalysis[]) => void },
  program: string,
  { allowEmpty = false }: { allowEmpty?: boolean } = {},
): Promise<{
  rollups: RollupSet;
  reportOptions: Pick<ReportOptions, 'schema'>;
  source: string;
  evictedTraces: number;
  /** Spans the decoder refused, by reason. */
  refused: RefusedSpans;
  /** Queries outside any request (traces/assemble.ts isOutsideRequests), left out. */
  queriesOutsideRequests: number;
  pull: PullStats;
  /** The window searched, epoch ms. */
  query: Pick<PullQuery, 'startMs' | 'endMs'>;
}> {
  const { schemaPath, onAnalysed, ...detect } = options;
  const query = pullQuery(o);
  const schema = schemaPath === undefined ? undefined : await loadSchema(schemaPath);
  const { connection, openTraceSource } = await import('../otlp/pull/index.js');
  const { base, headers } = connection(o.from, o.header ?? []);
  const source = await openTraceSource(base, { headers });
  const offline = new OfflineAnalysis({ ...detect, ...(schema === undefined ? {} : { links: schemaNaming(schema) }) }, onAnalysed);
  const stats: PullStats = { fetched: 0, failed: 0, failures: [] };
  const progress = progressLine(program, stats, offline);
  for await (const batch of source.traces(query, stats)) {
    offline.addBatch(batch);
    progress.update();
  }
  const rollups = offline.finish();
  const where = `${base.protocol}//${base.host}${base.pathname.replace(/\/$/, '')}`;
  progress.done(source.api, where);
  if (stats.fetched === 0 && !allowEmpty) {
    const window = `${new Date(query.startMs).toISOString()} – ${new Date(query.endMs).toISOString()}`;
    throw new CliError(`no traces${query.service === undefined ? '' : ` of service "${query.service}"`} in ${window} from ${where}: check --service and --since/--start`);
  }
  return { rollups, reportOptions: schema === undefined ? {} : { schema }, source: where, evictedTraces: offline.analyzer.assembler.counters.evictions, refused: offline.refused, queriesOutsideRequests: offline.analyzer.assembler.counters.queriesOutsideRequests, pull: stats, query };
}
