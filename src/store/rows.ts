/** The store's rows as both backends read and write them: how a batch becomes hourly deltas, how a delta merges into a stored row, and how rows rebuild rollups. Pure. */
import { emptyConnectionRollup, type ConnectionRollup, type ConnectionSecond } from '../detect/connections.js';
import { mergeTallies, tallyLocation, type LocationTally } from '../detect/location.js';
import { RollupSet, emptyEndpointRollup, mergeRollups, type CascadeRollup, type EndpointRollup, type FingerprintRollup } from '../detect/rollup.js';
import { timelineReleased } from '../detect/request.js';
import { callerOf, emptyPattern, mergePatterns, routeTraffic as routeTrafficOf, type RouteTraffic, type TrafficPattern } from '../detect/routes.js';
import type { Cascade, CodeLocation, FindingKind, LeafShape, RelationStep, RequestAnalysis, TimelineEntry, TriggerRef } from '../detect/types.js';
import type { Acknowledgement, AcknowledgementState } from '../report/acknowledge.js';
import type { PeriodQuery, PeriodRows, StartRange, StoredFinding } from './store.js';
import { HOUR_MS, MINUTE_MS } from '../report/period.js';
import { MAX_PEERS } from '../traces/peers.js';
import type { SqlFacts } from '../sql/types.js';
import type { OutsideQueries } from '../traces/assemble.js';

type Pairs = [number, number][];
const toPairs = (m: Map<number, number>): Pairs => [...m];
const fromPairs = (p: Pairs): Map<number, number> => new Map(p);

/** A location tally as stored in rollup JSON: [location, requests] pairs. */
type TallyJson = [CodeLocation, number][];
const tallyToJson = (t: LocationTally | undefined): TallyJson | undefined => (t === undefined ? undefined : [...t.values()].map((e) => [e.location, e.count]));
function tallyFromJson(j: TallyJson | undefined): LocationTally | undefined {
  if (j === undefined) return undefined;
  const tally: LocationTally = new Map();
  for (const [location, count] of j) tallyLocation(tally, location, count);
  return tally;
}
function mergeTallyJson(a: TallyJson | undefined, b: LocationTally | undefined): TallyJson | undefined {
  const tally = tallyFromJson(a) ?? (b === undefined ? undefined : new Map());
  if (tally !== undefined && b !== undefined) mergeTallies(tally, b);
  return tallyToJson(tally);
}

/** Serialised per-hour parts of an EndpointRollup not kept in columns. */
interface EndpointHourJson {
  dbMs: number;
  requestMs: number;
  requestsAffected: number;
  queriesPerRequest: Pairs;
  requestDurations: Pairs;
  firstSeenMs: number;
  lastSeenMs: number;
  outbound: { requests: number; calls: number; sequentialCalls: number; totalMs: number; requestMs: number; peers: string[]; example: { traceId: string; totalMs: number } };
  /** Framework noise dropped, by rule id; absent in rows written before it was counted. */
  noiseDropped?: Record<string, number>;
}

/** A finding hour's rollup JSON. */
interface FindingHourJson {
  totalMs: number;
  repeats: Pairs;
  example: { traceId: string; wastedMs: number };
  locations?: TallyJson;
  triggerLocations?: TallyJson;
}

/** A fingerprint hour's rollup JSON. */
interface FingerprintHourJson {
  durations: Pairs;
  example: { traceId: string; maxMs: number };
  locations?: TallyJson;
}

/** How a finding's loop links to its trigger, stored once per finding. */
export interface Link {
  trigger: TriggerRef | null;
  steps: RelationStep[];
  linked: boolean;
  leaf: LeafShape;
  firstIndex: number;
}

export interface EndpointHourRow {
  requests: number;
  db_spans: number;
  repeats: number;
  wasted_ms: number;
  rollup: string;
}

export interface FindingHourRow {
  requests_affected: number;
  executions: number;
  wasted_ms: number;
  rollup: string;
}

export interface FingerprintHourRow {
  requests: number;
  executions: number;
  total_ms: number;
  rollup: string;
}

export interface RouteTrafficRow {
  requests: number;
  first_seen_ms: number;
  last_seen_ms: number;
  pattern: string;
  set_aside: number;
}

/** The tables of one row size: the hourly rows kept for as long as the retention says, or the minute rows kept for 48 h. */
export interface Grain {
  sizeMs: number;
  /** The start column's name. */
  key: 'hour' | 'minute';
  endpoints: string;
  findings: string;
  fingerprints: string;
  connections: string;
}

export const HOUR_ROWS: Grain = {
  sizeMs: HOUR_MS, key: 'hour', endpoints: 'endpoint_hours', findings: 'finding_hours', fingerprints: 'fingerprint_hours', connections: 'connection_hours',
};
export const MINUTE_ROWS: Grain = {
  sizeMs: MINUTE_MS, key: 'minute', endpoints: 'endpoint_minutes', findings: 'finding_minutes', fingerprints: 'fingerprint_minutes', connections: 'connection_minutes',
};

/** A period's rows as (tables, start range) pairs to read: its whole hours, then the minutes at its edges; empty ranges left out. */
export function rangesOf(rows: PeriodRows): [Grain, StartRange][] {
  const out: [Grain, StartRange][] = [];
  if (rows.hours.lo < rows.hours.hi) out.push([HOUR_ROWS, rows.hours]);
  for (const m of rows.minutes) out.push([MINUTE_ROWS, m]);
  return out;
}

/** Rows of several ranges in one list ordered by (endpoint, start), as assembleRollups and the trend charts take them. */
export const byEndpointAndStart = <T extends { endpoint_id: number; hour: number }>(rows: T[]): T[] =>
  rows.sort((a, b) => a.endpoint_id - b.endpoint_id || a.hour - b.hour);

/** An outside_query_hours row: queries outside any request (traces/assemble.ts isOutsideRequests) of one service in one hour. */
export type OutsideQueryHour = [hour: number, service: string, queries: number];

/** The outside_query_hours deltas of a write: `outside` summed per hour and service, but for the traces in `skip` (committed already). */
export function outsideQueryHours(outside: readonly OutsideQueries[], skip: ReadonlySet<string>): OutsideQueryHour[] {
  const sums = new Map<string, OutsideQueryHour>();
  for (const o of outside) {
    if (skip.has(o.traceId)) continue;
    const hour = Math.floor(o.startMs / HOUR_MS) * HOUR_MS;
    const key = `${hour}\u0000${o.service}`;
    const row = sums.get(key);
    if (row === undefined) sums.set(key, [hour, o.service, o.queries]);
    else row[2] += o.queries;
  }
  return [...sums.values()];
}

/**
 * The outside_query_hours a period reads: those of the hours it overlaps (the count is kept by the
 * hour only), of one service (null: all).
 */
export function outsideQueryRange(query: Pick<PeriodQuery, 'sinceMs' | 'untilMs' | 'service'>): { lo: number; hi: number; service: string | null } {
  return {
    lo: query.sinceMs === undefined ? Number.MIN_SAFE_INTEGER : Math.floor(query.sinceMs / HOUR_MS) * HOUR_MS,
    hi: query.untilMs === undefined ? Number.MAX_SAFE_INTEGER : Math.ceil(query.untilMs),
    service: query.service ?? null,
  };
}

/** One row start's rollups in a RowBatch. */
export interface RowsAt {
  start: number;
  endpoints: EndpointRollup[];
  connections: ConnectionRollup[];
}

/**
 * What one write adds, computed from analysed requests: the rollups of each hour and (within the 48 h
 * minute rows are kept, from `minuteHorizon`) each minute, the worst example per finding, and route
 * traffic. Plain data, so it crosses to the store's writer thread as one message (store/writer.ts).
 */
export interface RowBatch {
  /** The write's clock: which minute rows are pruned. */
  nowMs: number;
  hours: RowsAt[];
  minutes: RowsAt[];
  examples: ExampleRow[];
  traffic: RouteTraffic[];
}

export function rowBatch(analyses: readonly RequestAnalysis[], nowMs: number, minuteHorizon: number): RowBatch {
  const builder = new RowBatchBuilder(nowMs, minuteHorizon);
  builder.add(analyses);
  return builder.finish();
}

/**
 * A RowBatch built a part of the requests at a time (the same rollups as rowBatch over all of them,
 * requests added in the same order), so the thread building it can answer requests in between.
 */
export class RowBatchBuilder {
  readonly #nowMs: number;
  readonly #minuteHorizon: number;
  readonly #hours = new Map<number, RollupSet>();
  readonly #minutes = new Map<number, RollupSet>();
  readonly #analyses: RequestAnalysis[] = [];
  readonly #examples = new WorstRequests();
  /** The rows, once summed: summing merges the minutes into their hours, which must happen once. */
  #finished: RowBatch | undefined;

  constructor(nowMs: number, minuteHorizon: number) {
    this.#nowMs = nowMs;
    this.#minuteHorizon = minuteHorizon;
  }

  /**
   * Adds requests, in order. Returns those of the batch (these, and any added before) that are now
   * neither a finding's worst request nor its runner-up (WorstRequests): no rows of the batch, made
   * now or again, read their timelines (releaseTimeline).
   */
  add(analyses: readonly RequestAnalysis[]): RequestAnalysis[] {
    if (this.#finished !== undefined) throw new Error('RowBatchBuilder.add after finish');
    const unshown: RequestAnalysis[] = [];
    for (const a of analyses) {
      // Minute rows only where they are kept: an old trace file loaded now would write rows pruned at once.
      // A request is added to one rollup, its minute's; finish() sums the minutes into their hours.
      if (a.startMs >= this.#minuteHorizon) setAt(this.#minutes, a.startMs, MINUTE_MS).add(a);
      else setAt(this.#hours, a.startMs, HOUR_MS).add(a);
      this.#examples.add(a, unshown);
      this.#analyses.push(a);
    }
    return unshown;
  }

  /** The batch's rows; the same object on every call. */
  finish(): RowBatch {
    return (this.#finished ??= this.#sum());
  }

  #sum(): RowBatch {
    // Rollups add: an hour's delta is the sum of its minutes' (a write covers a few minutes at most), at
    // the cost of a merge per endpoint instead of a second RollupSet.add per request.
    for (const [start, minute] of this.#minutes) {
      const hour = setAt(this.#hours, start, HOUR_MS);
      for (const r of minute.byEndpoint.values()) hour.merge(r);
      for (const c of minute.connections.values()) hour.mergeConnections(c);
    }
    const at = (sets: Map<number, RollupSet>): RowsAt[] =>
      [...sets].map(([start, set]) => ({ start, endpoints: set.values(), connections: [...set.connections.values()] }));
    return { nowMs: this.#nowMs, hours: at(this.#hours), minutes: at(this.#minutes), examples: this.#examples.rows(), traffic: routeTrafficOf(this.#analyses) };
  }
}

function setAt(sets: Map<number, RollupSet>, startMs: number, sizeMs: number): RollupSet {
  const start = Math.floor(startMs / sizeMs) * sizeMs;
  let set = sets.get(start);
  if (set === undefined) {
    set = new RollupSet();
    sets.set(start, set);
  }
  return set;
}

export const findingLink = (c: CascadeRollup): Link => ({ trigger: c.trigger, steps: c.steps, linked: c.linked, leaf: c.leaf, firstIndex: c.firstIndex });

/** An endpoint hour with `r` added to what was stored (nothing when `old` is undefined). */
export function mergeEndpointHour(old: EndpointHourRow | undefined, r: EndpointRollup): EndpointHourRow {
  const merged = emptyEndpointRollup(r.endpoint, r.service);
  if (old !== undefined) mergeEndpointTotals(merged, endpointHourRollup(r.endpoint, r.service, old));
  mergeEndpointTotals(merged, r);
  let repeats = old?.repeats ?? 0;
  for (const c of r.cascades.values()) repeats += c.executions;
  return { requests: merged.requests, db_spans: merged.dbSpans, repeats, wasted_ms: merged.wastedMs, rollup: JSON.stringify(endpointHourJson(merged)) };
}

/** A finding hour with cascade `c` added; the example is the worse of the two. */
export function mergeFindingHour(old: FindingHourRow | undefined, c: CascadeRollup): FindingHourRow {
  const p: FindingHourJson = old === undefined ? { totalMs: 0, repeats: [], example: { traceId: '', wastedMs: -1 } } : (JSON.parse(old.rollup) as FindingHourJson);
  const repeats = fromPairs(p.repeats);
  for (const [k, v] of c.repeats) repeats.set(k, (repeats.get(k) ?? 0) + v);
  return {
    requests_affected: (old?.requests_affected ?? 0) + c.requestsAffected,
    executions: (old?.executions ?? 0) + c.executions,
    wasted_ms: (old?.wasted_ms ?? 0) + c.wastedMs,
    rollup: JSON.stringify({
      totalMs: p.totalMs + c.totalMs,
      repeats: toPairs(repeats),
      example: c.example.wastedMs > p.example.wastedMs ? c.example : p.example,
      locations: mergeTallyJson(p.locations, c.locations),
      triggerLocations: mergeTallyJson(p.triggerLocations, c.triggerLocations),
    } satisfies FindingHourJson),
  };
}

/** A fingerprint hour with `f` added; the example is the slower of the two. */
export function mergeFingerprintHour(old: FingerprintHourRow | undefined, f: FingerprintRollup): FingerprintHourRow {
  return mergeFingerprintHourWithMax(old, f)[0];
}

/** mergeFingerprintHour, and the slowest execution the merged row keeps (so the caller need not parse the row again). */
export function mergeFingerprintHourWithMax(old: FingerprintHourRow | undefined, f: FingerprintRollup): [FingerprintHourRow, number] {
  const p: FingerprintHourJson = old === undefined ? { durations: [], example: { traceId: '', maxMs: -1 } } : (JSON.parse(old.rollup) as FingerprintHourJson);
  const durations = fromPairs(p.durations);
  for (const [k, v] of f.durations) durations.set(k, (durations.get(k) ?? 0) + v);
  const example = f.example.maxMs > p.example.maxMs ? f.example : p.example;
  const row = {
    requests: (old?.requests ?? 0) + f.requests,
    executions: (old?.executions ?? 0) + f.executions,
    total_ms: (old?.total_ms ?? 0) + f.totalMs,
    rollup: JSON.stringify({ durations: toPairs(durations), example, locations: mergeTallyJson(p.locations, f.locations) } satisfies FingerprintHourJson),
  };
  return [row, example.maxMs];
}

/** A route's traffic with `t` added. */
export function mergeRouteTraffic(old: RouteTrafficRow | undefined, t: RouteTraffic): RouteTrafficRow {
  const pattern = old === undefined ? emptyPattern() : patternFromJson(old.pattern);
  mergePatterns(pattern, t.pattern);
  return {
    requests: (old?.requests ?? 0) + t.requests,
    first_seen_ms: Math.min(old?.first_seen_ms ?? Infinity, t.firstSeenMs),
    last_seen_ms: Math.max(old?.last_seen_ms ?? -Infinity, t.lastSeenMs),
    pattern: JSON.stringify(patternJson(pattern)),
    set_aside: (old?.set_aside ?? 0) + t.setAside,
  };
}

/** One example request per finding: the one in the batch where it wasted the most. */
export interface ExampleRow {
  service: string;
  endpoint: string;
  fingerprint: string;
  traceId: string;
  wastedMs: number;
  timeline: string;
  location: string | null;
  triggerLocation: string | null;
}

/** A request that may show a finding: the request, and its cascade of that finding. */
interface Candidate {
  a: RequestAnalysis;
  c: Cascade;
}

/**
 * Per finding (service, endpoint, fingerprint), the request of a batch where it wasted the most, so
 * that each finding costs one write, not one per request; the first of equals is kept. The
 * runner-up, the worst request of the other traces, is kept too: a batch made again without a
 * trace another writer committed first (whose view of it may lack the finding) then shows the
 * worst request left, as before. Without several of a finding's worst traces, it shows the worst
 * of the requests still held whole (for other findings), or none. A request whose timeline was
 * released (detect/request.ts) is passed over.
 */
class WorstRequests {
  /** Per finding: its worst request so far, and the runner-up. */
  readonly #ranked = new Map<string, [Candidate, Candidate | undefined]>();
  /** How many places in #ranked each request holds. */
  readonly #places = new Map<RequestAnalysis, number>();

  /** Adds `a`; appends to `unshown` each request that holds no place any longer (`a` itself, when it takes none). */
  add(a: RequestAnalysis, unshown: RequestAnalysis[]): void {
    if (a.cascades.length > 0 && !timelineReleased(a)) {
      for (const c of a.cascades) {
        const key = `${a.service}\u0000${a.endpoint}\u0000${c.fingerprint}`;
        const ranked = this.#ranked.get(key);
        let out: Candidate | undefined;
        if (ranked === undefined) this.#ranked.set(key, [{ a, c }, undefined]);
        else if (c.wastedMs > ranked[0].c.wastedMs) {
          // The runner-up is of another trace than the worst: another writer commits a trace with all its requests.
          if (a.traceId === ranked[0].a.traceId) out = ranked[0];
          else {
            out = ranked[1];
            ranked[1] = ranked[0];
          }
          ranked[0] = { a, c };
        } else if (a.traceId !== ranked[0].a.traceId && (ranked[1] === undefined || c.wastedMs > ranked[1].c.wastedMs)) {
          out = ranked[1];
          ranked[1] = { a, c };
        } else continue;
        this.#places.set(a, (this.#places.get(a) ?? 0) + 1);
        if (out !== undefined) this.#leave(out.a, unshown);
      }
    }
    if (!this.#places.has(a)) unshown.push(a);
  }

  /** `r` lost a place: told once it holds none. */
  #leave(r: RequestAnalysis, unshown: RequestAnalysis[]): void {
    const left = this.#places.get(r)! - 1;
    if (left > 0) this.#places.set(r, left);
    else {
      this.#places.delete(r);
      unshown.push(r);
    }
  }

  rows(): ExampleRow[] {
    const json = (location: CodeLocation | undefined): string | null => (location === undefined ? null : JSON.stringify(location));
    return [...this.#ranked.values()].map(([{ a, c }]) => ({
      service: a.service,
      endpoint: a.endpoint,
      fingerprint: c.fingerprint,
      traceId: a.traceId,
      wastedMs: c.wastedMs,
      timeline: JSON.stringify(a.timeline.map((t) => [round3(t.offsetMs), round3(t.durationMs), t.fingerprint])),
      location: json(c.location),
      triggerLocation: json(c.triggerLocation),
    }));
  }
}

/** A stored example's timeline, as the API serves it. */
const timelineFromJson = (text: string): TimelineEntry[] =>
  (JSON.parse(text) as [number, number, string][]).map(([offsetMs, durationMs, fingerprint]) => ({ offsetMs, durationMs, fingerprint }));

/** A connection rollup's per-second rows: plain additions, nothing to merge in code. */
export function connectionSecondRows(c: ConnectionRollup): [instance: string, second: number, held: number, heldMs: number, dbMs: number, opened: number][] {
  const rows: [string, number, number, number, number, number][] = [];
  for (const [instance, perSecond] of c.seconds) {
    for (const [second, [held, heldMs, dbMs, opened]] of perSecond) rows.push([instance, second, held, heldMs, dbMs, opened]);
  }
  return rows;
}

/** An endpoint hour row as a rollup without cascades or fingerprints. */
export function endpointHourRollup(endpoint: string, service: string, row: Pick<EndpointHourRow, 'requests' | 'db_spans' | 'wasted_ms' | 'rollup'>): EndpointRollup {
  const j = JSON.parse(row.rollup) as EndpointHourJson;
  const part = emptyEndpointRollup(endpoint, service);
  Object.assign(part, {
    requests: row.requests,
    dbSpans: row.db_spans,
    wastedMs: row.wasted_ms,
    dbMs: j.dbMs,
    requestMs: j.requestMs,
    requestsAffected: j.requestsAffected,
    queriesPerRequest: fromPairs(j.queriesPerRequest),
    requestDurations: fromPairs(j.requestDurations),
    firstSeenMs: j.firstSeenMs,
    lastSeenMs: j.lastSeenMs,
    outbound: { ...j.outbound, peers: new Set(j.outbound.peers) },
    noiseDropped: new Map(Object.entries(j.noiseDropped ?? {})),
  });
  return part;
}

/** A finding hour row (with its finding's identity and statement) as a cascade rollup. */
function cascadeFromRow(f: {
  fingerprint: string; kind: CascadeRollup['kind']; link: string; sql: string; facts: string; requests_affected: number; executions: number; wasted_ms: number; rollup: string;
}): CascadeRollup {
  const link = JSON.parse(f.link) as Link;
  const roll = JSON.parse(f.rollup) as FindingHourJson;
  const locations = tallyFromJson(roll.locations);
  const triggerLocations = tallyFromJson(roll.triggerLocations);
  return {
    ...(locations === undefined ? {} : { locations }),
    ...(triggerLocations === undefined ? {} : { triggerLocations }),
    kind: f.kind,
    fingerprint: f.fingerprint,
    sql: f.sql,
    facts: JSON.parse(f.facts) as SqlFacts,
    requestsAffected: f.requests_affected,
    executions: f.executions,
    totalMs: roll.totalMs,
    wastedMs: f.wasted_ms,
    repeats: fromPairs(roll.repeats),
    ...link,
    example: roll.example,
  };
}

/** A fingerprint hour row (with its statement) as a fingerprint rollup. */
function fingerprintFromRow(f: { fingerprint: string; sql: string; facts: string; requests: number; executions: number; total_ms: number; rollup: string }): FingerprintRollup {
  const roll = JSON.parse(f.rollup) as FingerprintHourJson;
  const locations = tallyFromJson(roll.locations);
  return {
    ...(locations === undefined ? {} : { locations }),
    fingerprint: f.fingerprint,
    sql: f.sql,
    facts: JSON.parse(f.facts) as SqlFacts,
    requests: f.requests,
    executions: f.executions,
    totalMs: f.total_ms,
    durations: fromPairs(roll.durations),
    example: roll.example,
  };
}

export type HourRowOf<T> = T & { endpoint_id: number; hour: number };

/**
 * Rebuilds endpoint rollups from a period's rows: endpoint hours ordered by (endpoint, hour), finding
 * and fingerprint hours in any order. Each endpoint hour is merged whole, as it was written. The rows
 * are already those of the endpoints asked for (the stores filter by id in SQL); a row of an endpoint
 * not in `endpoints` (written after they were listed) is left out.
 */
export function assembleRollups(
  endpoints: readonly { id: number; service: string; endpoint: string }[],
  endpointHours: readonly HourRowOf<Pick<EndpointHourRow, 'requests' | 'db_spans' | 'wasted_ms' | 'rollup'>>[],
  findingHours: readonly HourRowOf<Parameters<typeof cascadeFromRow>[0]>[],
  fingerprintHours: readonly HourRowOf<Parameters<typeof fingerprintFromRow>[0]>[],
): EndpointRollup[] {
  const byId = new Map(endpoints.map((e) => [e.id, e]));
  const hourKey = (endpointId: number, hour: number): string => `${endpointId}:${hour}`;
  const group = <T extends { endpoint_id: number; hour: number }>(rows: readonly T[]): Map<string, T[]> => {
    const out = new Map<string, T[]>();
    for (const r of rows) {
      const k = hourKey(r.endpoint_id, r.hour);
      let list = out.get(k);
      if (list === undefined) out.set(k, (list = []));
      list.push(r);
    }
    return out;
  };
  const findings = group(findingHours);
  const fingerprints = group(fingerprintHours);
  const set = new RollupSet();
  for (const h of endpointHours) {
    const e = byId.get(h.endpoint_id);
    if (e === undefined) continue;
    const r = emptyEndpointRollup(e.endpoint, e.service);
    mergeEndpointTotals(r, endpointHourRollup(e.endpoint, e.service, h));
    for (const f of findings.get(hourKey(h.endpoint_id, h.hour)) ?? []) r.cascades.set(f.fingerprint, cascadeFromRow(f));
    for (const f of fingerprints.get(hourKey(h.endpoint_id, h.hour)) ?? []) r.fingerprints.set(f.fingerprint, fingerprintFromRow(f));
    set.merge(r);
  }
  return set.values();
}

interface PatternJson {
  minutes: Pairs | null;
  clients: [string, number][] | null;
  days: number[] | null;
  /** Absent in rows written before it: TrafficPattern.addresses, each caller's [day, address] pairs or null. */
  addresses?: [string, [number, string][] | null][] | null;
}

function patternJson(p: TrafficPattern): PatternJson {
  return {
    minutes: p.minutes && [...p.minutes],
    clients: p.clients && [...p.clients],
    days: p.days && [...p.days],
    addresses: p.addresses && [...p.addresses].map(([caller, byDay]) => [caller, byDay && [...byDay]]),
  };
}

function patternFromJson(text: string): TrafficPattern {
  const j = JSON.parse(text) as PatternJson;
  let clients: Map<string, number> | null = null;
  const addresses: TrafficPattern['addresses'] = j.addresses === undefined ? new Map() : j.addresses && new Map(j.addresses.map(([caller, byDay]) => [caller, byDay && new Map(byDay)]));
  if (j.clients !== null) {
    // Rows written before callers (routes.ts callerOf) keyed clients by address and user agent, with
    // no days to the addresses: more addresses under one user agent than days is two on one day.
    clients = new Map();
    const seen = new Map<string, Set<string>>();
    for (const [client, n] of j.clients) {
      const caller = callerOf(client);
      clients.set(caller, (clients.get(caller) ?? 0) + n);
      if (caller === client) continue;
      const of = seen.get(caller);
      if (of === undefined) seen.set(caller, new Set([client]));
      else of.add(client);
    }
    if (addresses !== null && j.days !== null) for (const [caller, of] of seen) if (of.size > j.days.length) addresses.set(caller, null);
  }
  return { minutes: j.minutes && new Map(j.minutes), clients, days: j.days && new Set(j.days), addresses };
}

function endpointHourJson(r: EndpointRollup): EndpointHourJson {
  return {
    dbMs: r.dbMs,
    requestMs: r.requestMs,
    requestsAffected: r.requestsAffected,
    queriesPerRequest: toPairs(r.queriesPerRequest),
    requestDurations: toPairs(r.requestDurations),
    firstSeenMs: r.firstSeenMs,
    lastSeenMs: r.lastSeenMs,
    outbound: { ...r.outbound, peers: [...r.outbound.peers] },
    noiseDropped: Object.fromEntries(r.noiseDropped),
  };
}

/** Adds the endpoint-level totals of `from` (not its cascades or fingerprints). */
function mergeEndpointTotals(into: EndpointRollup, from: EndpointRollup): void {
  mergeRollups(into, { ...from, cascades: new Map(), fingerprints: new Map() });
}

const round3 = (n: number): number => Math.round(n * 1000) / 1000;

export interface ExampleRead {
  trace_id: string;
  wasted_ms: number;
  timeline: string;
  location: string | null;
  trigger_location: string | null;
}

/** A finding row, its summed hours and its example as the API serves them. */
export function storedFinding(row: Omit<StoredFinding, 'trigger' | 'steps' | 'example'> & { link: string }, ex: ExampleRead | undefined): StoredFinding {
  const { link, ...rest } = row;
  const parsed = JSON.parse(link) as Link;
  return {
    ...rest,
    trigger: parsed.trigger,
    steps: parsed.steps,
    example:
      ex === undefined
        ? null
        : {
            traceId: ex.trace_id,
            wastedMs: ex.wasted_ms,
            timeline: timelineFromJson(ex.timeline),
            ...(ex.location === null ? {} : { location: JSON.parse(ex.location) as CodeLocation }),
            ...(ex.trigger_location === null ? {} : { triggerLocation: JSON.parse(ex.trigger_location) as CodeLocation }),
          },
  };
}

export interface AcknowledgementRow {
  signature: string; service: string; endpoint: string; kind: FindingKind; table_name: string; state: AcknowledgementState; reason: string; expires: string | null; created_ms: number;
}

export const acknowledgementOf = (r: AcknowledgementRow): Acknowledgement => ({
  signature: r.signature,
  service: r.service,
  endpoint: r.endpoint,
  kind: r.kind,
  table: r.table_name,
  state: r.state,
  reason: r.reason,
  ...(r.expires === null ? {} : { expires: r.expires }),
  createdMs: r.created_ms,
});

export interface FindingIdRow {
  id: number; service: string; endpoint: string; fingerprint: string;
}

/**
 * Deletes the verdicts on peers older than the newest MAX_PEERS, which no writer reads any more
 * (Store.peerVerdicts): per-tenant hosts or queues would otherwise grow the table for good. Rows as
 * old as the MAX_PEERS-th stay; a table shorter than that makes the bound NULL, and deletes nothing.
 */
export const PRUNE_PEER_VERDICTS = `DELETE FROM peer_verdicts WHERE changed_ms < (SELECT changed_ms FROM peer_verdicts ORDER BY changed_ms DESC LIMIT 1 OFFSET ${MAX_PEERS - 1})`;

export const findingIdMap = (rows: readonly FindingIdRow[]): Map<string, number> => new Map(rows.map((r) => [`${r.service}\u0000${r.endpoint}\u0000${r.fingerprint}`, r.id]));

/** A service's connection sums over one range of rows, as both backends select them. */
export interface ConnectionSumRow {
  service: string;
  db_requests: number;
  observable_requests: number;
  postgresql_requests: number;
  opened: number;
}

/** One instance's connection use in one second, as stored. */
export interface ConnectionSecondRow {
  service: string;
  instance: string;
  second: number;
  held: number;
  held_ms: number;
  db_ms: number;
  opened: number;
}

/** Folds a period's connection sums and per-second rows into one rollup per service. */
export function connectionRollups(sums: Iterable<ConnectionSumRow>, seconds: Iterable<ConnectionSecondRow>): ConnectionRollup[] {
  const byService = new Map<string, ConnectionRollup>();
  const get = (service: string): ConnectionRollup => {
    let c = byService.get(service);
    if (c === undefined) byService.set(service, (c = emptyConnectionRollup(service)));
    return c;
  };
  for (const h of sums) {
    const c = get(h.service);
    c.dbRequests += h.db_requests;
    c.observableRequests += h.observable_requests;
    c.postgresqlRequests += h.postgresql_requests;
    c.opened += h.opened;
  }
  for (const r of seconds) {
    const c = get(r.service);
    let perSecond = c.seconds.get(r.instance);
    if (perSecond === undefined) c.seconds.set(r.instance, (perSecond = new Map()));
    const row: ConnectionSecond = [r.held, r.held_ms, r.db_ms, r.opened];
    perSecond.set(r.second, row);
  }
  return [...byService.values()];
}

/** A `route_traffic` row as the route detector reads it. */
export function routeTrafficFromRow(r: RouteTrafficRow & { service: string; endpoint: string }): RouteTraffic {
  return {
    service: r.service,
    endpoint: r.endpoint,
    requests: r.requests,
    firstSeenMs: r.first_seen_ms,
    lastSeenMs: r.last_seen_ms,
    pattern: patternFromJson(r.pattern),
    setAside: r.set_aside,
  };
}
