/**
 * The store every reader and the server's write path use: one asynchronous interface over the embedded
 * SQLite file (default) and a shared PostgreSQL database that any number of `n1lens serve` instances add to.
 */
import type { ConnectionRollup } from '../detect/connections.js';
import type { EndpointRollup } from '../detect/rollup.js';
import { detectDeadViews, type DeadView, type RouteEntry, type RouteTraffic } from '../detect/routes.js';
import type { CodeLocation, RelationStep, RequestAnalysis, TimelineEntry, TriggerRef } from '../detect/types.js';
import type { Acknowledgement } from '../report/acknowledge.js';
import { buildReport, type Report, type ReportOptions } from '../report/model.js';
import { HOUR_MS } from '../report/period.js';
import type { SummaryBucket, SummaryEndpoint } from './summaries.js';

export interface PeriodQuery {
  /** Epoch ms, inclusive (rounded down to the hour). */
  sinceMs?: number;
  /** Epoch ms, exclusive. */
  untilMs?: number;
  /** Endpoint glob. */
  endpoint?: string;
  /** Only this service's endpoints. */
  service?: string;
}

/** One hour of an endpoint's traffic, for trend charts. */
export interface EndpointHour {
  endpointId: number;
  hour: number;
  requests: number;
  dbSpans: number;
  wastedMs: number;
}

/** One hour of a finding's occurrences, for trend charts. */
export interface FindingHour {
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
}

/** The store cannot be opened or migrated; the message is one line naming it (never its password). */
export class StoreOpenError extends Error {
  override name = 'StoreOpenError';
}

/**
 * A store of hourly, additive rollups. Every method is asynchronous so a network database fits; the
 * SQLite store answers at once (its reads are local and short, as they always were).
 */
export abstract class Store {
  /** What it is, for log lines: the file, or the PostgreSQL URL without its password. */
  abstract readonly location: string;

  /**
   * Adds analysed requests in one transaction, merging into the hourly rows they fall in. With
   * `committed`, also notes those traces as done in the same transaction; a trace another writer (or
   * an earlier run) already committed is not counted again.
   */
  abstract record(analyses: readonly RequestAnalysis[], committed?: CommittedTraces): Promise<void>;
  /** Which of these traces have a committed analysis (not yet pruned): their spans are not new. */
  abstract committed(traceIds: readonly string[]): Promise<Set<string>>;
  /** Forgets committed traces noted before `beforeMs`. */
  abstract pruneCommitted(beforeMs: number): Promise<void>;
  /** Deletes hourly and per-second rows before `beforeMs` (time-based retention); returns rows deleted. */
  abstract pruneBefore(beforeMs: number): Promise<number>;
  /** Rebuilds endpoint rollups for a period by adding its hourly rows. */
  abstract rollups(query?: PeriodQuery): Promise<EndpointRollup[]>;
  /** Per-service connection rollups over a period (seconds and hours within it). */
  abstract connections(query?: Pick<PeriodQuery, 'sinceMs' | 'untilMs'>): Promise<ConnectionRollup[]>;
  /** Every route's traffic since the store began (route_traffic is never pruned). */
  abstract routeTraffic(): Promise<RouteTraffic[]>;
  /** When the store's traffic history starts: its first request, or undefined when it has none. */
  abstract historySinceMs(): Promise<number | undefined>;
  abstract endpoints(): Promise<StoredEndpoint[]>;
  abstract finding(id: number): Promise<StoredFinding | undefined>;
  /** A finding's hour rows in a period, oldest first. */
  abstract findingHours(findingId: number, query?: Pick<PeriodQuery, 'sinceMs' | 'untilMs'>): Promise<FindingHour[]>;
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
  abstract findingCount(): Promise<number>;
  /** Finding ids by `service \0 endpoint \0 fingerprint`, so the API can link report entries to /api/findings/:id. */
  abstract findingIds(): Promise<Map<string, number>>;
  abstract close(): Promise<void>;

  /** Hour rows of every endpoint in a period, or of one (no JSON decoding: cheap enough for a sparkline per endpoint). */
  abstract endpointHours(query?: Pick<PeriodQuery, 'sinceMs' | 'untilMs'>, endpointId?: number): Promise<EndpointHour[]>;

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
  async trendBuckets(query: Pick<PeriodQuery, 'sinceMs' | 'untilMs'>, axis: { startMs: number; sizeMs: number; count: number }, _closedBeforeMs: number): Promise<Map<number, SummaryBucket[]>> {
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
  async firstHour(query: Pick<PeriodQuery, 'sinceMs' | 'untilMs'> = {}): Promise<number | undefined> {
    const hours = await this.endpointHours(query);
    return hours.length === 0 ? undefined : Math.min(...hours.map((h) => h.hour));
  }

  /** The DESIGN report over a period of stored data, with the period's connection_pressure. */
  async report(query: PeriodQuery = {}, options: Omit<ReportOptions, 'endpoint'> = {}): Promise<Report> {
    const [rollups, connections] = await Promise.all([this.rollups(query), this.connections(query)]);
    return buildReport(rollups, { connections, ...options, ...(query.endpoint === undefined ? {} : { endpoint: query.endpoint }) });
  }

  /** dead_view over the store's whole route history: app routes with no request in `windowMs` before `nowMs`, or only a periodic caller. */
  async deadViews(routes: readonly RouteEntry[], windowMs: number, nowMs: number): Promise<DeadView[]> {
    const [traffic, since] = await Promise.all([this.routeTraffic(), this.historySinceMs()]);
    return detectDeadViews(routes, traffic, { windowMs, nowMs, historySinceMs: since ?? nowMs });
  }
}

/** A period as the hour-aligned bounds the hourly tables are keyed by. */
export function hourRange(query: Pick<PeriodQuery, 'sinceMs' | 'untilMs'>): { lo: number; hi: number } {
  return {
    lo: query.sinceMs === undefined ? Number.MIN_SAFE_INTEGER : Math.floor(query.sinceMs / HOUR_MS) * HOUR_MS,
    hi: query.untilMs === undefined ? Number.MAX_SAFE_INTEGER : query.untilMs,
  };
}

/** True for a `postgres://` or `postgresql://` URL: the shared store. Anything else is a SQLite path. */
export const isPostgresUrl = (location: string): boolean => /^postgres(ql)?:\/\//i.test(location);

/** The URL with its password masked, for messages. */
export function redactUrl(url: string): string {
  return url.replace(/^(postgres(?:ql)?:\/\/[^:/@]*:)[^@]*@/i, '$1***@');
}
