/** Cross-request detectors: read one endpoint's rollup and name its findings, from cascades to hot lookups, fan-outs and slow queries. */
import type { Fingerprint, SqlFacts } from '../sql/types.js';
import { countMax, countQuantile, durationQuantile } from './histogram.js';
import type { CascadeRollup, EndpointRollup } from './rollup.js';
import { mostCommonLocation, type LocationTally } from './location.js';
import type { CodeLocation, FindingKind } from './types.js';
import { compareText } from './order.js';

export interface EndpointDetectOptions {
  /** warm_up: with at least 3 requests, a cascade seen in fewer than this share of them is warm-up. Default 0.5. */
  minShare?: number;
  /**
   * The requests are a test suite's (`--test-suite`): each test is its own first visit with its own
   * data, so a loop seen in few of them is still an N+1. No warm_up, and minShare does not apply.
   * No hot_lookup either: it describes production traffic (a read most calls repeat), which tests are not.
   */
  testSuite?: boolean;
  /** hot_lookup: share of the endpoint's requests that run the lookup. Default 0.8. */
  hotLookupMinShare?: number;
  /** hot_lookup: requests of the endpoint needed before the share means anything. Default 10. */
  hotLookupMinRequests?: number;
  /** hot_lookup: calls per day at which a cache pays. Default 1000. */
  hotLookupMinPerDay?: number;
  /** hot_lookup: tables every request reads by design (sessions, the logged-in user); never reported. */
  hotLookupIgnoreTables?: readonly string[];
  /** slow_query: p95 at or above this is slow. Default 100 ms. */
  slowMs?: number;
  /** slow_query: what an indexed lookup costs, for the time an index would save. Default 5 ms. */
  indexedMs?: number;
}

/** Requests of an endpoint needed before a cascade's share of them can tell warm-up from steady state. */
export const STEADY_STATE_MIN_REQUESTS = 3;

/**
 * Tables a Django request reads for the framework, not its view: the session and the logged-in user
 * (middleware), the content types and permissions behind them. Never a hot_lookup, nor a sign that
 * a view ran (routes.ts usesRoute).
 */
export const PER_REQUEST_FRAMEWORK_TABLES: readonly string[] = ['django_session', 'auth_user', 'django_content_type', 'auth_permission'];

/** The detectors' settings when options leave them out. */
export const ENDPOINT_DETECT_DEFAULTS = {
  minShare: 0.5,
  testSuite: false,
  hotLookupMinShare: 0.8,
  hotLookupMinRequests: 10,
  hotLookupMinPerDay: 1000,
  hotLookupIgnoreTables: PER_REQUEST_FRAMEWORK_TABLES,
  slowMs: 100,
  indexedMs: 5,
} satisfies Required<EndpointDetectOptions>;

const DAY_MS = 86_400_000;
/** Less traffic than this span of time gives no daily rate: 20 calls in a minute are not 28,800 a day. */
export const MIN_RATE_WINDOW_MS = 10 * 60_000;

interface FindingBase {
  kind: FindingKind;
  fingerprint: Fingerprint;
  sql: string;
  facts: SqlFacts | null;
  repeatsPerRequest: { p50: number; max: number };
  /** How many of the endpoint's requests it was seen in: a count, not a share. */
  requestsAffected: number;
  /** What the fix saves over the observed period: DB ms for query findings, request latency for sync_fanout. */
  wastedMs: number;
  exampleTraceId: string;
  /** Where the query is issued: the most common place across the requests seen. */
  location?: CodeLocation;
  /** A loop's other places issuing the same query (another loop, another request's), most seen first. */
  otherLocations?: CodeLocation[];
}

export interface CascadeFinding extends FindingBase {
  /** warm_up: the loop ran in too few of the endpoint's requests to be its steady state. */
  kind: 'n_plus_one' | 'repeated_write' | 'warm_up';
  facts: SqlFacts;
  cascade: CascadeRollup;
}

export interface HotLookupFinding extends FindingBase {
  kind: 'hot_lookup';
  facts: SqlFacts;
  /**
   * Rates are over the observed window (first to last request of the endpoint); under ten minutes
   * of it there is no daily rate (null) and the per-day threshold is not applied.
   */
  hotLookup: { callsPerDay: number | null; shareOfRequests: number; meanMs: number; dbMsPerDay: number | null; observedCalls: number; observedMs: number };
}

export interface SyncFanoutFinding extends FindingBase {
  kind: 'sync_fanout';
  syncFanout: { callsPerRequest: number; outboundMsPerRequest: number; requestMsPerRequest: number; peers: string[] };
}

export interface SlowQueryFinding extends FindingBase {
  kind: 'slow_query';
  facts: SqlFacts;
  slowQuery: { p95Ms: number; executions: number };
}

export type EndpointFinding = CascadeFinding | HotLookupFinding | SyncFanoutFinding | SlowQueryFinding;

/** All findings of one endpoint, worst (most wasted time) first. */
export function detectEndpoint(rollup: EndpointRollup, options: EndpointDetectOptions = {}): EndpointFinding[] {
  const o = { ...ENDPOINT_DETECT_DEFAULTS, ...options };
  const findings: EndpointFinding[] = [];

  // A test suite's requests are no traffic: a loop seen in one test of three is the N+1 that test shows.
  const steady = !o.testSuite && rollup.requests >= STEADY_STATE_MIN_REQUESTS;
  for (const c of rollup.cascades.values()) {
    // Both counts are additive, so merged rollups (hours, instances) give the same verdict.
    const warmUp = steady && c.requestsAffected / rollup.requests < o.minShare;
    findings.push({
      kind: warmUp ? 'warm_up' : c.kind,
      fingerprint: c.fingerprint,
      sql: c.sql,
      facts: c.facts,
      repeatsPerRequest: { p50: countQuantile(c.repeats, 0.5), max: countMax(c.repeats) },
      requestsAffected: c.requestsAffected,
      wastedMs: c.wastedMs,
      exampleTraceId: c.example.traceId,
      ...located(c.locations),
      ...elsewhere(c.locations),
      cascade: c,
    });
  }

  const observedMs = Math.max(0, rollup.lastSeenMs - rollup.firstSeenMs);
  const rated = observedMs >= MIN_RATE_WINDOW_MS;
  for (const f of rollup.fingerprints.values()) {
    const facts = f.facts;
    if (facts.operation !== 'SELECT' || facts.transactionControl || rollup.cascades.has(f.fingerprint)) continue;
    const p95 = durationQuantile(f.durations, 0.95);
    const base = {
      fingerprint: f.fingerprint,
      sql: f.sql,
      facts,
      repeatsPerRequest: { p50: 1, max: 1 },
      requestsAffected: f.requests,
      exampleTraceId: f.example.traceId,
      ...located(f.locations),
    };
    if (p95 >= o.slowMs) {
      findings.push({
        ...base,
        kind: 'slow_query',
        wastedMs: Math.max(0, f.totalMs - f.executions * o.indexedMs),
        slowQuery: { p95Ms: p95, executions: f.executions },
      });
      continue;
    }
    const share = f.requests / rollup.requests;
    const callsPerDay = rated ? (f.executions / observedMs) * DAY_MS : null;
    // A test suite's requests are no traffic to cache for: hot_lookup would be advice about the tests.
    if (
      !o.testSuite &&
      isSingleRowLookup(facts) &&
      !o.hotLookupIgnoreTables.includes(facts.table) &&
      rollup.requests >= o.hotLookupMinRequests &&
      share >= o.hotLookupMinShare &&
      (callsPerDay === null || callsPerDay >= o.hotLookupMinPerDay)
    ) {
      const meanMs = f.totalMs / f.executions;
      findings.push({
        ...base,
        kind: 'hot_lookup',
        wastedMs: f.totalMs,
        hotLookup: {
          callsPerDay,
          shareOfRequests: share,
          meanMs,
          dbMsPerDay: callsPerDay === null ? null : callsPerDay * meanMs,
          observedCalls: f.executions,
          observedMs,
        },
      });
    }
  }

  const out = rollup.outbound;
  if (out.requests > 0) {
    findings.push({
      kind: 'sync_fanout',
      fingerprint: '',
      sql: '',
      facts: null,
      repeatsPerRequest: { p50: Math.round(out.sequentialCalls / out.requests), max: Math.round(out.sequentialCalls / out.requests) },
      requestsAffected: out.requests,
      wastedMs: out.totalMs,
      exampleTraceId: out.example.traceId,
      syncFanout: {
        callsPerRequest: out.calls / out.requests,
        outboundMsPerRequest: out.totalMs / out.requests,
        requestMsPerRequest: out.requestMs / out.requests,
        peers: [...out.peers].sort(),
      },
    });
  }

  // Ties break on kind and fingerprint so live (store) and offline reports list findings identically.
  return findings.sort((a, b) => b.wastedMs - a.wastedMs || compareText(a.kind, b.kind) || compareText(a.fingerprint, b.fingerprint));
}

function located(tally: LocationTally | undefined): { location?: CodeLocation } {
  const location = mostCommonLocation(tally);
  return location === undefined ? {} : { location };
}

/**
 * The tally's locations but the most common, most seen first (ties by key, as mostCommonLocation
 * breaks them), that name a place in code: a request traced without code attributes names only its
 * view (sqlcommenter's controller), the same loop told less precisely, not a second one.
 */
function elsewhere(tally: LocationTally | undefined): { otherLocations?: CodeLocation[] } {
  if (tally === undefined || tally.size < 2) return {};
  const main = mostCommonLocation(tally);
  const rest = [...tally]
    .filter(([, e]) => e.location !== main && (e.location.file !== undefined || e.location.template !== undefined))
    .sort(([ka, a], [kb, b]) => b.count - a.count || compareText(ka, kb));
  return rest.length === 0 ? {} : { otherLocations: rest.map(([, e]) => e.location) };
}

/** A read of one row by a unique key: `.get(pk=…)`, `.get(external_id=…)` (Django adds LIMIT 21). */
function isSingleRowLookup(facts: SqlFacts): boolean {
  if (facts.aggregate !== null || facts.joins.length > 0) return false;
  const ownFilters = facts.equalityFilters.filter((f) => f.startsWith(`${facts.table}.`));
  return ownFilters.length >= 1 && (facts.limit === 21 || facts.limit === 1 || ownFilters.some((f) => f.endsWith('.id')));
}
