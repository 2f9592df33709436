/**
 * The store every reader and the server's write path use: one asynchronous interface over the embedded
 * SQLite file (default) and a shared PostgreSQL database that any number of `n1lens serve` instances add to.
 */
import type { ConnectionRollup } from '../detect/connections.js';
import type { EndpointRollup } from '../detect/rollup.js';
import { detectDeadViews, urlconfHistorySince, type DeadView, type RouteEntry, type RouteTraffic } from '../detect/routes.js';
import type { CodeLocation, RelationStep, RequestAnalysis, TimelineEntry, TriggerRef } from '../detect/types.js';
import type { AwaitedCall, OutsideQueries } from '../traces/assemble.js';
import type { PeerVerdict } from '../traces/peers.js';
import type { Acknowledgement } from '../report/acknowledge.js';
import { buildReport, endpointMatcher, type Report, type ReportOptions } from '../report/model.js';
import { HOUR_MS, MINUTE_MS, MINUTE_ROWS_KEPT_MS } from '../report/period.js';
import { rowBatch, RowBatchBuilder, type RowBatch } from './rows.js';
import type { SummaryBucket, SummaryEndpoint } from './summaries.js';

export interface PeriodQuery {
  /** Epoch ms, inclusive: rounded down to the minute within the last 48 h, to the hour before (see periodRows). */
  sinceMs?: number;
  /** Epoch ms, exclusive: rounded up like `sinceMs` is rounded down. */
  untilMs?: number;
  /** Endpoint glob. */
  endpoint?: string;
  /** One endpoint by its exact name (its page), instead of `endpoint`: a name may hold a `*` and is no glob. */
  endpointName?: string;
  /** Only this service's endpoints. */
  service?: string;
  /**
   * Read the whole period from minute rows (a chart of minute buckets), when its start is within the
   * 48 h they are kept; otherwise, and by default, whole hours with minutes at the edges.
   */
  byMinute?: boolean;
}

/** One hour of an endpoint's traffic, for trend charts (a minute at a period's edges within the last 48 h). */
export interface EndpointHour {
  endpointId: number;
  /** Where the row starts: an hour, or a minute at a period's edge. */
  hour: number;
  requests: number;
  dbSpans: number;
  wastedMs: number;
}

/** One hour of a finding's occurrences, for trend charts (a minute at a period's edges, as EndpointHour). */
export interface FindingHour {
  /** Where the row starts: an hour, or a minute at a period's edge. */
  hour: number;
  requestsAffected: number;
  executions: number;
  wastedMs: number;
}

/** A stored endpoint's identity. */
export interface EndpointRef {
  id: number;
  service: string;
  endpoint: string;
}

export interface StoredEndpoint {
  id: number;
  service: string;
  endpoint: string;
  requests: number;
  dbSpans: number;
  wastedMs: number;
  findings: number;
  firstSeenMs: number;
  lastSeenMs: number;
}

export interface StoredFinding {
  id: number;
  service: string;
  endpoint: string;
  fingerprint: string;
  kind: string;
  sql: string;
  requestsAffected: number;
  executions: number;
  wastedMs: number;
  firstSeenMs: number;
  lastSeenMs: number;
  trigger: TriggerRef | null;
  steps: RelationStep[];
  /** Where the example request issued the repeated query, and evaluated its trigger. */
  example: { traceId: string; wastedMs: number; timeline: TimelineEntry[]; location?: CodeLocation; triggerLocation?: CodeLocation } | null;
}

/** Traces whose analyses a write commits, for the spool's exactly-once (see spool/). */
export interface CommittedTraces {
  traceIds: Iterable<string>;
  nowMs: number;
  /**
   * The calls released traces still await (traces/assemble.ts pendingCalls), kept with the commit so
   * that a restart, a replay or another instance can still continue them; none for a trace clears its entry.
   */
  awaited?: readonly AwaitedEntry[];
}

/**
 * What a write with CommittedTraces commits an analysed request under: its trace's id, or for a
 * request that continues a trace committed before (RequestAnalysis.continuationSpanId), the trace's id
 * and its request span's. The trace's own commit is taken, and a continuation written again after a
 * write whose outcome was unknown (the writer thread died after its commit, PostgreSQL lost the
 * COMMIT's answer) must find itself counted, as a trace does. A request is analysed once, so its
 * span names it across retries, restarts and instances.
 */
export function commitKeyOf(a: Pick<RequestAnalysis, 'traceId' | 'continuationSpanId'>): string {
  return a.continuationSpanId === undefined ? a.traceId : `${a.traceId}/${a.continuationSpanId}`;
}

/** The keys (commitKeyOf) of the continuations' requests among `analyses`. */
export function continuationKeys(analyses: readonly RequestAnalysis[]): string[] {
  const keys: string[] = [];
  for (const a of analyses) if (a.continuationSpanId !== undefined) keys.push(commitKeyOf(a));
  return keys;
}

/** The analyses a write still counts once it found `done` (trace ids and continuation keys) committed already. */
export function notCommitted(analyses: readonly RequestAnalysis[], done: ReadonlySet<string>): RequestAnalysis[] {
  return analyses.filter((a) => !done.has(a.traceId) && !done.has(commitKeyOf(a)));
}

/** A released trace and the calls it still awaits. */
export type AwaitedEntry = [traceId: string, calls: readonly AwaitedCall[]];

/** The store cannot be opened or migrated; the message is one line naming it (never its password). */
export class StoreOpenError extends Error {
  override name = 'StoreOpenError';
}

/** What every store is opened with besides its location. */
export interface StoreOptions {
  /** The clock deciding which minute rows are kept and read (see periodRows). Default Date.now. */
  now?: () => number;
}

/**
 * A store of hourly, additive rollups, with minute rows beside them for the last 48 h so a period's
 * edges there are exact to the minute. Every method is asynchronous so a network database fits; the
 * SQLite store answers at once (its reads are local and short, as they always were).
 */
export abstract class Store {
  /** What it is, for log lines: the file, or the PostgreSQL URL without its password. */
  abstract readonly location: string;
  /** Epoch ms now: minute rows are written and read only within MINUTE_ROWS_KEPT_MS of it. */
  protected readonly now: () => number;
  /** When a store that had hour rows before minute rows existed was upgraded (see MINUTE_ROWS_MARK); undefined when minute rows came with the store. */
  readonly #minuteRowsSinceMs: number | undefined;

  constructor(options: StoreOptions = {}, minuteRowsSinceMs?: number) {
    this.now = options.now ?? Date.now;
    this.#minuteRowsSinceMs = minuteRowsSinceMs;
  }

  /** The first hour whose minute rows this store can read at `nowMs` (see minuteHorizon). */
  minuteReadHorizon(nowMs: number = this.now()): number {
    return minuteHorizon(nowMs, this.#minuteRowsSinceMs);
  }

  /** The rows a period reads now (periodRows with this store's clock and upgrade mark). */
  protected rowsOf(query: Pick<PeriodQuery, 'sinceMs' | 'untilMs' | 'byMinute'>): PeriodRows {
    return periodRows(query, this.now(), this.#minuteRowsSinceMs);
  }

  /**
   * The rows of a coming record(), built as its requests are analysed (serve's intake): each request
   * is rolled up while its analysis is fresh rather than a second later, which measured cheaper in
   * process (bench/README.md), and the write has only the sums left. On this store's clock, taken
   * when the batch starts.
   */
  rowBuilder(): RowBatchBuilder {
    const nowMs = this.now();
    return new RowBatchBuilder(nowMs, minuteHorizon(nowMs));
  }

  /** The rows of `analyses` on this store's clock now (rows.ts rowBatch). */
  protected rowsNow(analyses: readonly RequestAnalysis[]): RowBatch {
    const nowMs = this.now();
    return rowBatch(analyses, nowMs, minuteHorizon(nowMs));
  }

  /**
   * Adds analysed requests in one transaction, merging into the hourly rows they fall in (and the
   * minute rows, for requests within the last 48 h; older minute rows are pruned meanwhile). With
   * `committed`, also notes those traces, and each continuation's request among `analyses` (under its
   * commitKeyOf), as done in the same transaction; a trace or continuation another writer (or an
   * earlier run, or an earlier write whose answer was lost) already committed is not counted again.
   * `built`: a rowBuilder() given exactly `analyses`, in order, whose rows are written unless some
   * are not counted (they are then made again from the analyses). `outside`: the work outside any
   * request of traces analysed for this write, added per hour and service (outside_query_hours) in
   * the same transaction but for the traces found committed already, so a replay counts it once.
   * Resolves with the traces of `committed` another writer committed first.
   */
  abstract record(analyses: readonly RequestAnalysis[], committed?: CommittedTraces, built?: RowBatchBuilder, outside?: readonly OutsideQueries[]): Promise<string[]>;
  /**
   * Queries outside any request (AssemblyStats.queriesOutsideRequests) in a period, of one service or
   * all: the rows of the hours it overlaps (they are kept by the hour only, so a period's edge counts
   * its hour whole).
   */
  abstract queriesOutsideRequests(query?: Pick<PeriodQuery, 'sinceMs' | 'untilMs' | 'service'>): Promise<number>;
  /** Which of these traces have a committed analysis (not yet pruned): their spans are not new. */
  abstract committed(traceIds: readonly string[]): Promise<Set<string>>;
  /** The calls these committed traces still await (CommittedTraces.awaited), for those that await any. */
  abstract awaitedCalls(traceIds: readonly string[]): Promise<Map<string, AwaitedCall[]>>;
  /** Forgets committed traces noted before `beforeMs`. */
  abstract pruneCommitted(beforeMs: number): Promise<void>;
  /**
   * Time-based retention: deletes hourly, minute and per-second rows (and the SQLite period summaries)
   * of the hours before the one `beforeMs` falls in (retentionStart); returns rows deleted.
   */
  abstract pruneBefore(beforeMs: number): Promise<number>;
  /** Rebuilds endpoint rollups for a period by adding its hour rows and the minute rows at its edges (see periodRows). */
  abstract rollups(query?: PeriodQuery): Promise<EndpointRollup[]>;
  /** Per-service connection rollups over a period (seconds and hours within it). */
  abstract connections(query?: Pick<PeriodQuery, 'sinceMs' | 'untilMs' | 'byMinute'>): Promise<ConnectionRollup[]>;
  /** Every route's traffic since the store began (route_traffic is never pruned). */
  abstract routeTraffic(): Promise<RouteTraffic[]>;
  abstract endpoints(): Promise<StoredEndpoint[]>;
  abstract finding(id: number): Promise<StoredFinding | undefined>;
  /** A finding's hour rows in a period, oldest first. */
  abstract findingHours(findingId: number, query?: Pick<PeriodQuery, 'sinceMs' | 'untilMs' | 'byMinute'>): Promise<FindingHour[]>;
  /** Every stored endpoint's id, service and name. */
  abstract endpointRefs(): Promise<EndpointRef[]>;
  /** Normalised SQL by fingerprint, for labelling the fingerprints of an example timeline. */
  abstract statementSql(fingerprints: readonly string[]): Promise<Map<string, string>>;
  /** The services that have sent requests, for the service filter. */
  abstract services(): Promise<string[]>;
  /** Records (or replaces) a decision about a finding. */
  abstract acknowledge(a: Acknowledgement): Promise<void>;
  /** Withdraws a decision; false when there was none. */
  abstract unacknowledge(signature: string): Promise<boolean>;
  /** Every decision, expired or not, oldest first. */
  abstract acknowledgements(): Promise<Acknowledgement[]>;
  /** The newest MAX_PEERS verdicts on peers (traces/peers.ts) that any writer shared. */
  abstract peerVerdicts(): Promise<PeerVerdict[]>;
  /** Shares verdicts on peers, one per peer. A peer once seen to answer keeps that verdict. */
  abstract recordPeerVerdicts(verdicts: readonly PeerVerdict[]): Promise<void>;
  /** A dated mark of the store's own history (store_marks), e.g. where the last scheduled digest ended; undefined when it has none. */
  abstract mark(name: string): Promise<number | undefined>;
  /**
   * Sets a mark to `to` (undefined: removes it) only if it still holds `from` (undefined: none), in one
   * statement, so of several instances sharing the store exactly one moves it; false when it did not hold `from`.
   */
  abstract moveMark(name: string, from: number | undefined, to: number | undefined): Promise<boolean>;
  abstract findingCount(): Promise<number>;
  /** Finding ids by `service \0 endpoint \0 fingerprint`, so the API can link report entries to /api/findings/:id. */
  abstract findingIds(): Promise<Map<string, number>>;
  abstract close(): Promise<void>;

  /** Hour rows of every endpoint in a period, or of one (no JSON decoding: cheap enough for a sparkline per endpoint). */
  abstract endpointHours(query?: Pick<PeriodQuery, 'sinceMs' | 'untilMs' | 'byMinute'>, endpointId?: number): Promise<EndpointHour[]>;

  /**
   * The endpoints of a period as the overview ranks them (see SummaryEndpoint). This rebuilds the
   * full rollups; the SQLite store sums its period summaries instead.
   */
  async periodSummary(query: PeriodQuery, _options: { slowMs: number; closedBeforeMs: number }): Promise<SummaryEndpoint[]> {
    const [rollups, refs] = await Promise.all([this.rollups(query), this.endpointRefs()]);
    const ids = new Map(refs.map((r) => [`${r.service}\u0000${r.endpoint}`, r.id]));
    return rollups.flatMap((rollup) => {
      const id = ids.get(`${rollup.service}\u0000${rollup.endpoint}`);
      return id === undefined ? [] : [{ id, rollup }];
    });
  }

  /** Every endpoint's requests, DB spans and wasted ms per chart bucket in a period, by endpoint id. */
  async trendBuckets(query: Pick<PeriodQuery, 'sinceMs' | 'untilMs' | 'byMinute'>, axis: { startMs: number; sizeMs: number; count: number }, _closedBeforeMs: number): Promise<Map<number, SummaryBucket[]>> {
    const out = new Map<number, SummaryBucket[]>();
    for (const h of await this.endpointHours(query)) {
      const i = Math.floor((h.hour - axis.startMs) / axis.sizeMs);
      if (i < 0 || i >= axis.count) continue;
      let buckets = out.get(h.endpointId);
      if (buckets === undefined) {
        buckets = Array.from({ length: axis.count }, (_, k) => ({ startMs: axis.startMs + k * axis.sizeMs, requests: 0, dbSpans: 0, wastedMs: 0 }));
        out.set(h.endpointId, buckets);
      }
      const b = buckets[i]!;
      b.requests += h.requests;
      b.dbSpans += h.dbSpans;
      b.wastedMs += h.wastedMs;
    }
    return out;
  }

  /** The first hour with traffic in a period, or undefined when it has none. */
  async firstHour(query: Pick<PeriodQuery, 'sinceMs' | 'untilMs' | 'byMinute'> = {}): Promise<number | undefined> {
    // A loop, not Math.min(...hours): a month of a few hundred endpoints is more hour rows than a call takes arguments.
    let first: number | undefined;
    for (const h of await this.endpointHours(query)) if (first === undefined || h.hour < first) first = h.hour;
    return first;
  }

  /** The DESIGN report over a period of stored data, with the period's connection_pressure. */
  async report(query: PeriodQuery = {}, options: Omit<ReportOptions, 'endpoint'> = {}): Promise<Report> {
    const [rollups, connections, queriesOutsideRequests] = await Promise.all([this.rollups(query), this.connections(query), this.queriesOutsideRequests(query)]);
    return buildReport(rollups, { connections, queriesOutsideRequests, ...options, ...(query.endpoint === undefined ? {} : { endpoint: query.endpoint }) });
  }

  /**
   * dead_view over the store's whole route history: app routes with no request in `windowMs` before
   * `nowMs`, or only a periodic caller. The history is the URLconf's own (from the first request to
   * one of its routes), not that of every service sharing the store.
   */
  async deadViews(routes: readonly RouteEntry[], windowMs: number, nowMs: number): Promise<DeadView[]> {
    const traffic = await this.routeTraffic();
    return detectDeadViews(routes, traffic, { windowMs, nowMs, historySinceMs: urlconfHistorySince(routes, traffic) ?? nowMs });
  }
}

/**
 * The first hour whose minute rows are kept (and read) at `nowMs`: hours that ended more than 48 h ago
 * have none. With `minuteRowsSinceMs` (the moment an older store gained minute rows), not before the
 * first whole hour after it either: the hour of the upgrade has hour rows for requests its minute
 * rows never saw, so an edge in it reads the whole hour, as it did before the upgrade.
 */
export function minuteHorizon(nowMs: number, minuteRowsSinceMs?: number): number {
  const kept = Math.floor((nowMs - MINUTE_ROWS_KEPT_MS) / HOUR_MS) * HOUR_MS;
  return minuteRowsSinceMs === undefined ? kept : Math.max(kept, Math.ceil(minuteRowsSinceMs / HOUR_MS) * HOUR_MS);
}

/**
 * Where retention cuts: the start of the hour `beforeMs` falls in. An hour row holds requests from
 * all of its hour, so deleting it because it starts before `beforeMs` would lose those after it,
 * which the retention promises to keep; every grain (minutes, seconds, summaries) is cut there too,
 * so the rows left still add up to the same hours.
 */
export const retentionStart = (beforeMs: number): number => Math.floor(beforeMs / HOUR_MS) * HOUR_MS;

/** A stretch of row starts, epoch ms: [lo, hi). */
export interface StartRange {
  lo: number;
  hi: number;
}

/** The rows that cover a period: hour rows with starts in `hours`, and minute rows with starts in each of `minutes` (its edges). */
export interface PeriodRows {
  hours: StartRange;
  minutes: StartRange[];
}

/**
 * The rows a period reads. An edge on the hour needs nothing more; an edge inside an hour whose minute
 * rows are kept is read from that hour's minute rows, `sinceMs` rounded down to the minute and
 * `untilMs` up; an edge inside an older hour takes that whole hour (as the store always did). The
 * hour and minute ranges never overlap, so their rows add up without counting anything twice.
 *
 * @example periodRows({ sinceMs: Date.parse('2026-12-03T09:50:30Z') }, Date.parse('2026-12-03T10:00:30Z'))
 * // { hours: { lo: 10:00, hi: MAX }, minutes: [{ lo: 09:50, hi: 10:00 }] }
 */
export function periodRows(query: Pick<PeriodQuery, 'sinceMs' | 'untilMs' | 'byMinute'>, nowMs: number, minuteRowsSinceMs?: number): PeriodRows {
  const horizon = minuteHorizon(nowMs, minuteRowsSinceMs);
  const floorHour = (ms: number): number => Math.floor(ms / HOUR_MS) * HOUR_MS;
  if (query.byMinute === true && query.sinceMs !== undefined && floorHour(query.sinceMs) >= horizon) {
    const lo = Math.floor(query.sinceMs / MINUTE_MS) * MINUTE_MS;
    const hi = query.untilMs === undefined ? Number.MAX_SAFE_INTEGER : Math.ceil(query.untilMs / MINUTE_MS) * MINUTE_MS;
    return { hours: { lo, hi: lo }, minutes: lo < hi ? [{ lo, hi }] : [] };
  }
  const hours: StartRange = { lo: Number.MIN_SAFE_INTEGER, hi: Number.MAX_SAFE_INTEGER };
  let head: StartRange | undefined;
  let tail: StartRange | undefined;
  if (query.sinceMs !== undefined) {
    const hour = floorHour(query.sinceMs);
    if (query.sinceMs === hour || hour < horizon) hours.lo = hour;
    else {
      hours.lo = hour + HOUR_MS;
      head = { lo: Math.floor(query.sinceMs / MINUTE_MS) * MINUTE_MS, hi: hours.lo };
    }
  }
  if (query.untilMs !== undefined) {
    const hour = floorHour(query.untilMs);
    // Beyond the horizon, the hour the period ends in is read whole (hour rows starting before untilMs).
    if (query.untilMs === hour || hour < horizon) hours.hi = query.untilMs;
    else {
      hours.hi = hour;
      tail = { lo: hour, hi: Math.ceil(query.untilMs / MINUTE_MS) * MINUTE_MS };
    }
  }
  if (head !== undefined && tail !== undefined && head.hi > tail.lo) {
    // Both edges inside one hour: one run of its minutes, and no hour rows.
    return { hours: { lo: head.lo, hi: head.lo }, minutes: head.lo < tail.hi ? [{ lo: head.lo, hi: tail.hi }] : [] };
  }
  return { hours, minutes: [head, tail].filter((r): r is StartRange => r !== undefined && r.lo < r.hi) };
}

/** Every start the rows of a period may have: [first, end), for tables keyed finer than minutes (connection seconds). */
export function periodSpan(rows: PeriodRows): StartRange {
  const starts = [rows.hours.lo < rows.hours.hi ? rows.hours : undefined, ...rows.minutes].filter((r): r is StartRange => r !== undefined);
  if (starts.length === 0) return { lo: 0, hi: 0 };
  return { lo: Math.min(...starts.map((r) => r.lo)), hi: Math.max(...starts.map((r) => r.hi)) };
}

/** The endpoints a query keeps: of its service, and named exactly (`endpointName`) or matching its glob. */
export function endpointsOf(query: Pick<PeriodQuery, 'endpoint' | 'endpointName' | 'service'>): (e: { service: string; endpoint: string }) => boolean {
  const { endpointName, service } = query;
  const matches = endpointName === undefined ? endpointMatcher(query.endpoint) : (name: string): boolean => name === endpointName;
  return (e) => matches(e.endpoint) && (service === undefined || e.service === service);
}

/** True for a `postgres://` or `postgresql://` URL: the shared store. Anything else is a SQLite path. */
export const isPostgresUrl = (location: string): boolean => /^postgres(ql)?:\/\//i.test(location);

/** The URL with its password masked, for messages. */
export function redactUrl(url: string): string {
  return url.replace(/^(postgres(?:ql)?:\/\/[^:/@]*:)[^@]*@/i, '$1***@');
}
