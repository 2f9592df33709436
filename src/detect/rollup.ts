/** Per-endpoint rollups of analysed requests: additive, so they merge across batches, files, hours and instances. */
import type { Fingerprint, SqlFacts } from '../sql/types.js';
import {
  addCount,
  addDuration,
  mergeCounts,
  mergeDurations,
  type CountHistogram,
  type DurationHistogram,
} from './histogram.js';
import { locationKey, MAX_DISTINCT, mergeTallies, tallyLocation, type LocationTally } from './location.js';
import { addConnectionUse, emptyConnectionRollup, mergeConnectionRollups, type ConnectionRollup, type ConnectionUse } from './connections.js';
import { addRouteRequest, addRouteTraffic, type RouteTraffic } from './routes.js';
import type { Cascade, CodeLocation, LeafShape, RelationStep, RequestAnalysis, TriggerRef } from './types.js';

function copyTally(tally: LocationTally): LocationTally {
  return new Map([...tally].map(([key, entry]) => [key, { ...entry }]));
}

/** One cascade fingerprint across the requests of an endpoint. */
export interface CascadeRollup {
  kind: Cascade['kind'];
  fingerprint: Fingerprint;
  sql: string;
  facts: SqlFacts;
  requestsAffected: number;
  executions: number;
  totalMs: number;
  wastedMs: number;
  repeats: CountHistogram;
  trigger: TriggerRef | null;
  steps: RelationStep[];
  linked: boolean;
  leaf: LeafShape;
  /** Where this cascade first shows in a request: orders the combined fix like the code reads. */
  firstIndex: number;
  /** The request where it wasted the most time. */
  example: { traceId: string; wastedMs: number };
  /**
   * Where the repeated query and its trigger were issued, per request seen (absent until one was).
   * A request's other places for the query (Cascade.otherLocations: another loop) enter `locations`
   * with no count: listed, never outvoting the place each request ran it from most.
   */
  locations?: LocationTally;
  triggerLocations?: LocationTally;
}

/** One fingerprint across the requests of an endpoint, for the cross-request detectors. */
export interface FingerprintRollup {
  fingerprint: Fingerprint;
  sql: string;
  facts: SqlFacts;
  /** Requests that ran it at least once. */
  requests: number;
  executions: number;
  totalMs: number;
  durations: DurationHistogram;
  example: { traceId: string; maxMs: number };
  /** Where it was issued, per request seen (absent until one was). */
  locations?: LocationTally;
}

/** Requests of an endpoint with serial outbound calls, for sync_fanout. */
export interface OutboundRollup {
  requests: number;
  calls: number;
  sequentialCalls: number;
  /** Time spent in outbound calls, and in the requests that made them. */
  totalMs: number;
  requestMs: number;
  peers: Set<string>;
  example: { traceId: string; totalMs: number };
}

export interface EndpointRollup {
  endpoint: string;
  service: string;
  requests: number;
  dbSpans: number;
  dbMs: number;
  requestMs: number;
  wastedMs: number;
  /** Requests with at least one cascade. */
  requestsAffected: number;
  queriesPerRequest: CountHistogram;
  requestDurations: DurationHistogram;
  firstSeenMs: number;
  lastSeenMs: number;
  cascades: Map<Fingerprint, CascadeRollup>;
  fingerprints: Map<Fingerprint, FingerprintRollup>;
  /** Only the requests whose serial outbound calls met the sync_fanout rule. */
  outbound: OutboundRollup;
  /** Framework-internal statements dropped before detection, by sql/noise.ts rule id. */
  noiseDropped: Map<string, number>;
}

export function emptyEndpointRollup(endpoint: string, service: string): EndpointRollup {
  return {
    endpoint,
    service,
    requests: 0,
    dbSpans: 0,
    dbMs: 0,
    requestMs: 0,
    wastedMs: 0,
    requestsAffected: 0,
    queriesPerRequest: new Map(),
    requestDurations: new Map(),
    firstSeenMs: Infinity,
    lastSeenMs: -Infinity,
    cascades: new Map(),
    fingerprints: new Map(),
    outbound: emptyOutbound(),
    noiseDropped: new Map(),
  };
}

function emptyOutbound(): OutboundRollup {
  return { requests: 0, calls: 0, sequentialCalls: 0, totalMs: 0, requestMs: 0, peers: new Set(), example: { traceId: '', totalMs: 0 } };
}

/** How a cascade links to its trigger, as one request read it. */
export type LinkReading = Pick<Cascade, 'linked' | 'steps' | 'trigger'>;

/** 0 for the fallback reading ("the last SELECT before"), else 1 + the relations from the trigger's table. */
export const linkCompleteness = (r: LinkReading): number => (r.linked ? 1 + r.steps.length : 0);

/**
 * True when reading `a` of a cascade's link is more complete than `b`: read from SQL beats the
 * fallback, a longer chain beats a shorter one (a request whose batches arrived partly can only link
 * part of the chain), and between linked chains of one length the trigger with the smaller
 * fingerprint, so the choice does not depend on the order requests, shards or instances come in.
 * Otherwise the reading already kept stays. The stores' findings upserts apply the same rule in SQL.
 */
export function moreCompleteLink(a: LinkReading, b: LinkReading): boolean {
  const ca = linkCompleteness(a);
  const cb = linkCompleteness(b);
  if (ca !== cb) return ca > cb;
  return ca > 0 && a.trigger !== null && b.trigger !== null && a.trigger.fingerprint < b.trigger.fingerprint;
}

/**
 * Adds one request to its endpoint's rollup. `maxLocations` caps each location tally; a shard of
 * n1-report --jobs keeps every location, because one it saw late may be among the first few of the
 * whole input, and the merge caps them (RollupSet.fromShards).
 */
export function addRequest(rollup: EndpointRollup, analysis: RequestAnalysis, maxLocations = MAX_DISTINCT): void {
  rollup.requests++;
  rollup.dbSpans += analysis.dbSpans;
  rollup.dbMs += analysis.dbMs;
  rollup.requestMs += analysis.durationMs;
  addCount(rollup.queriesPerRequest, analysis.dbSpans);
  addDuration(rollup.requestDurations, analysis.durationMs);
  rollup.firstSeenMs = Math.min(rollup.firstSeenMs, analysis.startMs);
  rollup.lastSeenMs = Math.max(rollup.lastSeenMs, analysis.startMs + analysis.durationMs);
  if (analysis.cascades.length > 0) rollup.requestsAffected++;
  for (const rule in analysis.noise) addTo(rollup.noiseDropped, rule, analysis.noise[rule]!);

  for (const c of analysis.cascades) {
    rollup.wastedMs += c.wastedMs;
    let r = rollup.cascades.get(c.fingerprint);
    if (r === undefined) {
      r = {
        kind: c.kind,
        fingerprint: c.fingerprint,
        sql: c.sql,
        facts: c.facts,
        requestsAffected: 0,
        executions: 0,
        totalMs: 0,
        wastedMs: 0,
        repeats: new Map(),
        trigger: c.trigger,
        steps: c.steps,
        linked: c.linked,
        leaf: c.leaf,
        firstIndex: c.firstIndex,
        example: { traceId: analysis.traceId, wastedMs: -1 },
      };
      rollup.cascades.set(c.fingerprint, r);
    }
    r.requestsAffected++;
    r.executions += c.executions;
    r.totalMs += c.totalMs;
    r.wastedMs += c.wastedMs;
    addCount(r.repeats, c.executions);
    if (c.location !== undefined) tallyLocation((r.locations ??= new Map()), c.location, 1, maxLocations);
    if (c.otherLocations !== undefined) for (const l of c.otherLocations) tallyLocation((r.locations ??= new Map()), l, 0, maxLocations);
    if (c.triggerLocation !== undefined) tallyLocation((r.triggerLocations ??= new Map()), c.triggerLocation, 1, maxLocations);
    // A request whose cascade arrived partial (a late batch) can link a shorter chain: keep the most complete reading.
    if (moreCompleteLink(c, r)) Object.assign(r, { trigger: c.trigger, steps: c.steps, linked: true, leaf: c.leaf });
    if (c.wastedMs > r.example.wastedMs) r.example = { traceId: analysis.traceId, wastedMs: c.wastedMs };
  }

  for (const u of analysis.uses) {
    let f = rollup.fingerprints.get(u.fingerprint);
    if (f === undefined) {
      f = {
        fingerprint: u.fingerprint,
        sql: u.sql,
        facts: u.facts,
        requests: 0,
        executions: 0,
        totalMs: 0,
        durations: new Map(),
        example: { traceId: analysis.traceId, maxMs: -1 },
      };
      rollup.fingerprints.set(u.fingerprint, f);
    }
    f.requests++;
    f.executions += u.executions;
    f.totalMs += u.totalMs;
    const durations = u.durationsMs;
    for (let i = 0; i < durations.length; i++) addDuration(f.durations, durations[i]!);
    if (u.location !== undefined) tallyLocation((f.locations ??= new Map()), u.location, 1, maxLocations);
    if (u.maxMs > f.example.maxMs) f.example = { traceId: analysis.traceId, maxMs: u.maxMs };
  }

  const out = analysis.outbound;
  if (out.fanout) {
    const o = rollup.outbound;
    o.requests++;
    o.calls += out.calls;
    o.sequentialCalls += out.sequentialCalls;
    o.totalMs += out.totalMs;
    o.requestMs += analysis.durationMs;
    for (const p of out.peers) o.peers.add(p);
    if (out.totalMs > o.example.totalMs) o.example = { traceId: analysis.traceId, totalMs: out.totalMs };
  }
}

/** The parts of a merge that are exact in any order: counts, histograms and the seen span (float sums are the caller's). */
function mergeEndpointTallies(into: EndpointRollup, from: EndpointRollup): void {
  into.requests += from.requests;
  into.dbSpans += from.dbSpans;
  into.requestsAffected += from.requestsAffected;
  mergeCounts(into.queriesPerRequest, from.queriesPerRequest);
  mergeDurations(into.requestDurations, from.requestDurations);
  into.firstSeenMs = Math.min(into.firstSeenMs, from.firstSeenMs);
  into.lastSeenMs = Math.max(into.lastSeenMs, from.lastSeenMs);
}

/** Merges `from` into `into` (same endpoint), e.g. hourly rollups into a period. */
export function mergeRollups(into: EndpointRollup, from: EndpointRollup): void {
  mergeEndpointTallies(into, from);
  into.dbMs += from.dbMs;
  into.requestMs += from.requestMs;
  into.wastedMs += from.wastedMs;
  for (const [rule, n] of from.noiseDropped) addTo(into.noiseDropped, rule, n);
  for (const [fp, c] of from.cascades) {
    const r = into.cascades.get(fp);
    if (r === undefined) {
      const copy: CascadeRollup = { ...c, repeats: new Map(c.repeats), example: { ...c.example } };
      if (c.locations !== undefined) copy.locations = copyTally(c.locations);
      if (c.triggerLocations !== undefined) copy.triggerLocations = copyTally(c.triggerLocations);
      into.cascades.set(fp, copy);
      continue;
    }
    if (c.locations !== undefined) mergeTallies((r.locations ??= new Map()), c.locations);
    if (c.triggerLocations !== undefined) mergeTallies((r.triggerLocations ??= new Map()), c.triggerLocations);
    r.requestsAffected += c.requestsAffected;
    r.executions += c.executions;
    r.totalMs += c.totalMs;
    r.wastedMs += c.wastedMs;
    mergeCounts(r.repeats, c.repeats);
    if (moreCompleteLink(c, r)) Object.assign(r, { trigger: c.trigger, steps: c.steps, linked: true, leaf: c.leaf });
    if (c.example.wastedMs > r.example.wastedMs) r.example = { ...c.example };
  }
  for (const [fp, f] of from.fingerprints) {
    const r = into.fingerprints.get(fp);
    if (r === undefined) {
      const copy: FingerprintRollup = { ...f, durations: new Map(f.durations), example: { ...f.example } };
      if (f.locations !== undefined) copy.locations = copyTally(f.locations);
      into.fingerprints.set(fp, copy);
      continue;
    }
    if (f.locations !== undefined) mergeTallies((r.locations ??= new Map()), f.locations);
    r.requests += f.requests;
    r.executions += f.executions;
    r.totalMs += f.totalMs;
    mergeDurations(r.durations, f.durations);
    if (f.example.maxMs > r.example.maxMs) r.example = { ...f.example };
  }
  const o = into.outbound;
  const p = from.outbound;
  o.requests += p.requests;
  o.calls += p.calls;
  o.sequentialCalls += p.sequentialCalls;
  o.totalMs += p.totalMs;
  o.requestMs += p.requestMs;
  for (const peer of p.peers) o.peers.add(peer);
  if (p.example.totalMs > o.example.totalMs) o.example = { ...p.example };
}

function addTo(counts: Map<string, number>, key: string, n: number): void {
  counts.set(key, (counts.get(key) ?? 0) + n);
}


/**
 * Where one analysis of the whole input released a request (n1-report --jobs): `round` orders the
 * input units and the phases within one, `position` the traces released in the same round. A
 * RollupSet keeps the key of the request behind each first-seen choice, so shards' rollups merge
 * into what one analysis would have built, whatever their order.
 */
export interface ReleaseKey {
  round: number;
  position: number;
}

export function releasedBefore(a: ReleaseKey, b: ReleaseKey): boolean {
  return a.round < b.round || (a.round === b.round && a.position < b.position);
}

/**
 * Adds x to an exact float sum kept as non-overlapping partials (Shewchuk's algorithm, as Python's
 * math.fsum) and returns the sum correctly rounded. The result depends only on the numbers added,
 * not on their order or grouping, so rollups summed in shards equal one analysis's to the bit.
 */
export function addExact(partials: number[], x: number): number {
  let n = 0;
  for (let i = 0; i < partials.length; i++) {
    let y = partials[i]!;
    if (Math.abs(x) < Math.abs(y)) {
      const t = x;
      x = y;
      y = t;
    }
    const hi = x + y;
    const lo = y - (hi - x);
    if (lo !== 0) partials[n++] = lo;
    x = hi;
  }
  // Written in place before the length is cut: cutting to 0 first would drop the array's store and
  // the push would allocate a new one, on every sum that one partial absorbs.
  partials[n] = x;
  partials.length = n + 1;
  return exactValue(partials);
}

/** The correctly rounded value of an exact sum's partials (CPython's fsum rounding, half-even included). */
export function exactValue(partials: readonly number[]): number {
  let n = partials.length;
  if (n === 0) return 0;
  let hi = partials[--n]!;
  let lo = 0;
  while (n > 0) {
    const x = hi;
    const y = partials[--n]!;
    hi = x + y;
    lo = y - (hi - x);
    if (lo !== 0) break;
  }
  if (n > 0 && ((lo < 0 && partials[n - 1]! < 0) || (lo > 0 && partials[n - 1]! > 0))) {
    const y = lo * 2;
    const x = hi + y;
    if (y === x - hi) hi = x;
  }
  return hi;
}

/** The exact sums and first-seen keys behind one endpoint's rollup (plain data: it crosses threads). */
interface EndpointLedger {
  first: ReleaseKey;
  dbMs: number[];
  requestMs: number[];
  wastedMs: number[];
  outboundMs: number[];
  outboundRequestMs: number[];
  outboundExample: ReleaseKey | undefined;
  noise: Map<string, ReleaseKey>;
  cascades: Map<Fingerprint, CascadeLedger>;
  fingerprints: Map<Fingerprint, FingerprintLedger>;
}

interface CascadeLedger {
  first: ReleaseKey;
  /** The request whose linked reading the rollup keeps (the first of the most complete: moreCompleteLink). */
  linked: ReleaseKey | undefined;
  example: ReleaseKey;
  totalMs: number[];
  wastedMs: number[];
  /** Location key → when it entered the tally (the tally keeps the first few distinct ones). */
  locations: Map<string, ReleaseKey>;
  triggerLocations: Map<string, ReleaseKey>;
}

interface FingerprintLedger {
  first: ReleaseKey;
  example: ReleaseKey;
  totalMs: number[];
  locations: Map<string, ReleaseKey>;
}

/** One shard's endpoint rollups with their ledgers, as RollupSet.toShard gives them to RollupSet.fromShards. */
export interface ShardRollups {
  endpoints: { rollup: EndpointRollup; ledger: EndpointLedger }[];
}

/** Keyed rollups for a whole run: one per `service + endpoint`, and one connection rollup per service. */
export class RollupSet {
  readonly byEndpoint = new Map<string, EndpointRollup>();
  readonly connections = new Map<string, ConnectionRollup>();
  /**
   * Route traffic by service and endpoint, of the requests that used their route (detect/routes.ts
   * usesRoute): what `n1-report --list-unseen` judges, by the rule serve's store keeps. Filled by
   * addRoute (offline analyses), not by add.
   */
  readonly routes = new Map<string, RouteTraffic>();
  /** Per endpoint key: its exact sums (the rollup's float figures are their rounded values) and first-seen keys. */
  readonly #ledgers = new Map<string, EndpointLedger>();
  /** Release order of requests added without a key. */
  #released = 0;
  /** Distinct locations kept per tally: all of them in a shard (see addRequest). */
  readonly #maxLocations: number;

  /** `shard`: one shard of n1-report --jobs, whose rollups only RollupSet.fromShards reads. */
  constructor(options: { shard?: boolean } = {}) {
    this.#maxLocations = options.shard === true ? Number.POSITIVE_INFINITY : MAX_DISTINCT;
  }

  add(analysis: RequestAnalysis): void {
    if (analysis.connection !== null) this.addConnection(analysis.service, analysis.instance ?? '', analysis.connection);
    this.addEndpoint(analysis);
  }

  /** Adds a request to the route traffic (routes). */
  addRoute(analysis: RequestAnalysis): void {
    addRouteRequest(this.routes, analysis);
  }

  /** Adds another set's (a shard's) route traffic. */
  mergeRoutes(traffic: Iterable<RouteTraffic>): void {
    for (const t of traffic) addRouteTraffic(this.routes, t);
  }

  /** One request's connection use (add without the endpoint part, for n1-report --jobs, which adds these in release order). */
  addConnection(service: string, instance: string, use: ConnectionUse): void {
    addConnectionUse(this.#connections(service), instance, use);
  }

  /**
   * Adds a request to its endpoint's rollup, with exact float sums. `key` says where a single
   * analysis released it (n1-report --jobs); without one, requests are in release order.
   */
  addEndpoint(analysis: RequestAnalysis, key: ReleaseKey = { round: 0, position: this.#released++ }): void {
    const id = `${analysis.service}\u0000${analysis.endpoint}`;
    let r = this.byEndpoint.get(id);
    let ledger = this.#ledgers.get(id);
    if (r === undefined || ledger === undefined) {
      r = emptyEndpointRollup(analysis.endpoint, analysis.service);
      this.byEndpoint.set(id, r);
      ledger = {
        first: key, dbMs: [], requestMs: [], wastedMs: [], outboundMs: [], outboundRequestMs: [], outboundExample: undefined,
        noise: new Map(), cascades: new Map(), fingerprints: new Map(),
      };
      this.#ledgers.set(id, ledger);
    }
    // Which of this request's cascades replace the link kept so far (decided before addRequest keeps it).
    // Pushed, not mapped: TurboFan's inlined map makes arrays of another elements kind than the
    // builtin's, and account(), optimised on one, was deoptimised by the other mid-run.
    const relinks: boolean[] = [];
    for (const c of analysis.cascades) {
      const kept = r.cascades.get(c.fingerprint);
      relinks.push(kept === undefined ? c.linked : moreCompleteLink(c, kept));
    }
    addRequest(r, analysis, this.#maxLocations);
    account(r, ledger, analysis, key, relinks);
  }

  #connections(service: string): ConnectionRollup {
    let c = this.connections.get(service);
    if (c === undefined) {
      c = emptyConnectionRollup(service);
      this.connections.set(service, c);
    }
    return c;
  }

  mergeConnections(rollup: ConnectionRollup): void {
    mergeConnectionRollups(this.#connections(rollup.service), rollup);
  }

  merge(rollup: EndpointRollup): void {
    const key = `${rollup.service}\u0000${rollup.endpoint}`;
    const r = this.byEndpoint.get(key);
    if (r === undefined) {
      const copy = emptyEndpointRollup(rollup.endpoint, rollup.service);
      mergeRollups(copy, rollup);
      this.byEndpoint.set(key, copy);
    } else mergeRollups(r, rollup);
  }

  values(): EndpointRollup[] {
    return [...this.byEndpoint.values()];
  }

  /** The endpoint rollups with their ledgers, cloneable (connections are not included). */
  toShard(): ShardRollups {
    return { endpoints: [...this.byEndpoint].map(([id, rollup]) => ({ rollup, ledger: this.#ledgers.get(id)! })) };
  }

  /**
   * The endpoint rollups of shards that each added their requests with release keys, merged into
   * the ones a single RollupSet adding every request in release order holds: sums exact, maps in
   * first-seen order, examples the first of the largest, location tallies the first few locations.
   */
  static fromShards(shards: readonly ShardRollups[]): RollupSet {
    const groups = groupBy(shards, (shard) => shard.endpoints.map((part) => [`${part.rollup.service}\u0000${part.rollup.endpoint}`, part] as [string, ShardRollups['endpoints'][number]]));
    const set = new RollupSet();
    for (const [id, parts] of inFirstSeenOrder(groups, (p) => p.ledger.first)) {
      const { rollup, ledger } = mergeEndpointParts(parts);
      set.byEndpoint.set(id, rollup);
      set.#ledgers.set(id, ledger);
    }
    return set;
  }
}

/** Replaces addRequest's float sums by exact ones and notes the keys of what this request was first to set. */
function account(r: EndpointRollup, ledger: EndpointLedger, analysis: RequestAnalysis, key: ReleaseKey, relinks: readonly boolean[]): void {
  r.dbMs = addExact(ledger.dbMs, analysis.dbMs);
  r.requestMs = addExact(ledger.requestMs, analysis.durationMs);
  for (const rule in analysis.noise) if (!ledger.noise.has(rule)) ledger.noise.set(rule, key);
  for (let i = 0; i < analysis.cascades.length; i++) {
    const c = analysis.cascades[i]!;
    r.wastedMs = addExact(ledger.wastedMs, c.wastedMs);
    const cr = r.cascades.get(c.fingerprint)!;
    let cl = ledger.cascades.get(c.fingerprint);
    if (cl === undefined) {
      cl = { first: key, linked: undefined, example: key, totalMs: [], wastedMs: [], locations: new Map(), triggerLocations: new Map() };
      ledger.cascades.set(c.fingerprint, cl);
    }
    cr.totalMs = addExact(cl.totalMs, c.totalMs);
    cr.wastedMs = addExact(cl.wastedMs, c.wastedMs);
    if (relinks[i] === true) cl.linked = key;
    if (cr.example.traceId === analysis.traceId) cl.example = key;
    if (c.location !== undefined) noteLocation(cr.locations, cl.locations, c.location, key);
    if (c.otherLocations !== undefined) for (const l of c.otherLocations) noteLocation(cr.locations, cl.locations, l, key);
    if (c.triggerLocation !== undefined) noteLocation(cr.triggerLocations, cl.triggerLocations, c.triggerLocation, key);
  }
  for (const u of analysis.uses) {
    const fr = r.fingerprints.get(u.fingerprint)!;
    let fl = ledger.fingerprints.get(u.fingerprint);
    if (fl === undefined) {
      fl = { first: key, example: key, totalMs: [], locations: new Map() };
      ledger.fingerprints.set(u.fingerprint, fl);
    }
    fr.totalMs = addExact(fl.totalMs, u.totalMs);
    if (fr.example.traceId === analysis.traceId) fl.example = key;
    if (u.location !== undefined) noteLocation(fr.locations, fl.locations, u.location, key);
  }
  const out = analysis.outbound;
  if (out.fanout) {
    const o = r.outbound;
    o.totalMs = addExact(ledger.outboundMs, out.totalMs);
    o.requestMs = addExact(ledger.outboundRequestMs, analysis.durationMs);
    if (o.example.traceId === analysis.traceId) ledger.outboundExample = key;
  }
}

function noteLocation(tally: LocationTally | undefined, keys: Map<string, ReleaseKey>, location: CodeLocation, key: ReleaseKey): void {
  // Tallies only grow: while every entry has its key, this request added none.
  if (tally === undefined || keys.size === tally.size) return;
  const id = locationKey(location);
  if (tally.has(id) && !keys.has(id)) keys.set(id, key);
}

/**
 * Map entries by the earliest first-seen key among their parts. Entries first seen by the same
 * request (or trace) share a key and come from one shard: their order in its map decides.
 */
function inFirstSeenOrder<K, P>(groups: Map<K, { part: P; index: number }[]>, first: (part: P) => ReleaseKey): [K, P[]][] {
  const earliest = (parts: { part: P; index: number }[]): { at: ReleaseKey; index: number } => {
    let best = { at: first(parts[0]!.part), index: parts[0]!.index };
    for (const p of parts.slice(1)) {
      const at = first(p.part);
      if (releasedBefore(at, best.at)) best = { at, index: p.index };
    }
    return best;
  };
  return [...groups]
    .map(([k, parts]) => ({ k, parts, seen: earliest(parts) }))
    .sort((a, b) => (releasedBefore(a.seen.at, b.seen.at) ? -1 : releasedBefore(b.seen.at, a.seen.at) ? 1 : a.seen.index - b.seen.index))
    .map(({ k, parts }) => [k, parts.map((p) => p.part)]);
}

/** Each part's entries grouped by key, with their index in the part (see inFirstSeenOrder). */
function groupBy<K, V, P>(parts: readonly P[], entries: (part: P) => Iterable<[K, V]>): Map<K, { part: V; index: number }[]> {
  const out = new Map<K, { part: V; index: number }[]>();
  for (const part of parts) {
    let index = 0;
    for (const [k, value] of entries(part)) {
      const group = out.get(k);
      const entry = { part: value, index: index++ };
      if (group === undefined) out.set(k, [entry]);
      else group.push(entry);
    }
  }
  return out;
}

function mergeExact(parts: readonly number[][]): { partials: number[]; value: number } {
  const partials: number[] = [];
  let value = 0;
  for (const p of parts) for (const x of p) value = addExact(partials, x);
  return { partials, value };
}

/** The part holding the largest figure, ties to the one released first. */
function largest<P>(parts: readonly P[], figure: (p: P) => number, key: (p: P) => ReleaseKey | undefined): P {
  let best = parts[0] as P;
  for (const p of parts.slice(1)) {
    const a = figure(p);
    const b = figure(best);
    const kp = key(p);
    const kb = key(best);
    if (a > b || (a === b && kp !== undefined && (kb === undefined || releasedBefore(kp, kb)))) best = p;
  }
  return best;
}

/** Location tallies merged as one tally fed in release order would be: the first distinct ones kept, counts added. */
function mergeTallyParts(parts: readonly { tally: LocationTally | undefined; keys: Map<string, ReleaseKey> }[]): LocationTally | undefined {
  const seen: { at: ReleaseKey; index: number; location: CodeLocation; count: number }[] = [];
  for (const { tally, keys } of parts) {
    if (tally === undefined) continue;
    let index = 0;
    for (const [id, { location, count }] of tally) seen.push({ at: keys.get(id) ?? { round: Infinity, position: Infinity }, index: index++, location, count });
  }
  if (seen.length === 0) return undefined;
  // Locations first seen by one request share its key: their order in its shard's tally decides.
  seen.sort((a, b) => (releasedBefore(a.at, b.at) ? -1 : releasedBefore(b.at, a.at) ? 1 : a.index - b.index));
  const tally: LocationTally = new Map();
  for (const { location, count } of seen) tallyLocation(tally, location, count);
  return tally;
}

function mergeEndpointParts(parts: readonly { rollup: EndpointRollup; ledger: EndpointLedger }[]): { rollup: EndpointRollup; ledger: EndpointLedger } {
  const first = parts.reduce((a, b) => (releasedBefore(b.ledger.first, a.ledger.first) ? b : a));
  const r = emptyEndpointRollup(first.rollup.endpoint, first.rollup.service);
  const sums = (pick: (l: EndpointLedger) => number[]): { partials: number[]; value: number } => mergeExact(parts.map((p) => pick(p.ledger)));
  const dbMs = sums((l) => l.dbMs);
  const requestMs = sums((l) => l.requestMs);
  const wastedMs = sums((l) => l.wastedMs);
  const outboundMs = sums((l) => l.outboundMs);
  const outboundRequestMs = sums((l) => l.outboundRequestMs);
  const ledger: EndpointLedger = {
    first: first.ledger.first, dbMs: dbMs.partials, requestMs: requestMs.partials, wastedMs: wastedMs.partials,
    outboundMs: outboundMs.partials, outboundRequestMs: outboundRequestMs.partials, outboundExample: undefined,
    noise: new Map(), cascades: new Map(), fingerprints: new Map(),
  };
  for (const { rollup: p } of parts) mergeEndpointTallies(r, p);
  r.dbMs = dbMs.value;
  r.requestMs = requestMs.value;
  r.wastedMs = wastedMs.value;

  const noise = groupBy(parts, (p) => [...p.rollup.noiseDropped].map(([rule, n]) => [rule, { n, at: p.ledger.noise.get(rule)! }] as [string, { n: number; at: ReleaseKey }]));
  for (const [rule, group] of inFirstSeenOrder(noise, (g) => g.at)) {
    r.noiseDropped.set(rule, group.reduce((n, g) => n + g.n, 0));
    ledger.noise.set(rule, group.map((g) => g.at).reduce((a, b) => (releasedBefore(b, a) ? b : a)));
  }

  type CascadePart = { c: CascadeRollup; l: CascadeLedger };
  const cascades = groupBy(parts, (p) => [...p.rollup.cascades].map(([fp, c]) => [fp, { c, l: p.ledger.cascades.get(fp)! }] as [Fingerprint, CascadePart]));
  for (const [fp, g] of inFirstSeenOrder(cascades, (x) => x.l.first)) {
    const head = g.reduce((a, b) => (releasedBefore(b.l.first, a.l.first) ? b : a));
    // The most complete reading; among equally complete ones, the first released (as one analysis keeps it).
    const linked = g
      .filter((x) => x.l.linked !== undefined)
      .reduce<CascadePart | undefined>(
        (a, b) => (a === undefined || moreCompleteLink(b.c, a.c) || (!moreCompleteLink(a.c, b.c) && releasedBefore(b.l.linked!, a.l.linked!)) ? b : a),
        undefined,
      );
    const total = mergeExact(g.map((x) => x.l.totalMs));
    const wasted = mergeExact(g.map((x) => x.l.wastedMs));
    const example = largest(g, (x) => x.c.example.wastedMs, (x) => x.l.example);
    const c: CascadeRollup = {
      ...head.c,
      requestsAffected: 0,
      executions: 0,
      totalMs: total.value,
      wastedMs: wasted.value,
      repeats: new Map(),
      example: { ...example.c.example },
    };
    delete c.locations;
    delete c.triggerLocations;
    if (linked !== undefined) Object.assign(c, { trigger: linked.c.trigger, steps: linked.c.steps, linked: true, leaf: linked.c.leaf });
    for (const x of g) {
      c.requestsAffected += x.c.requestsAffected;
      c.executions += x.c.executions;
      mergeCounts(c.repeats, x.c.repeats);
    }
    const locations = mergeTallyParts(g.map((x) => ({ tally: x.c.locations, keys: x.l.locations })));
    if (locations !== undefined) c.locations = locations;
    const triggerLocations = mergeTallyParts(g.map((x) => ({ tally: x.c.triggerLocations, keys: x.l.triggerLocations })));
    if (triggerLocations !== undefined) c.triggerLocations = triggerLocations;
    r.cascades.set(fp, c);
    ledger.cascades.set(fp, {
      first: head.l.first, linked: linked?.l.linked, example: example.l.example, totalMs: total.partials, wastedMs: wasted.partials,
      locations: earliestKeys(g.map((x) => x.l.locations)), triggerLocations: earliestKeys(g.map((x) => x.l.triggerLocations)),
    });
  }

  type FingerprintPart = { f: FingerprintRollup; l: FingerprintLedger };
  const fingerprints = groupBy(parts, (p) => [...p.rollup.fingerprints].map(([fp, f]) => [fp, { f, l: p.ledger.fingerprints.get(fp)! }] as [Fingerprint, FingerprintPart]));
  for (const [fp, g] of inFirstSeenOrder(fingerprints, (x) => x.l.first)) {
    const head = g.reduce((a, b) => (releasedBefore(b.l.first, a.l.first) ? b : a));
    const total = mergeExact(g.map((x) => x.l.totalMs));
    const example = largest(g, (x) => x.f.example.maxMs, (x) => x.l.example);
    const f: FingerprintRollup = { ...head.f, requests: 0, executions: 0, totalMs: total.value, durations: new Map(), example: { ...example.f.example } };
    delete f.locations;
    for (const x of g) {
      f.requests += x.f.requests;
      f.executions += x.f.executions;
      mergeDurations(f.durations, x.f.durations);
    }
    const locations = mergeTallyParts(g.map((x) => ({ tally: x.f.locations, keys: x.l.locations })));
    if (locations !== undefined) f.locations = locations;
    r.fingerprints.set(fp, f);
    ledger.fingerprints.set(fp, { first: head.l.first, example: example.l.example, totalMs: total.partials, locations: earliestKeys(g.map((x) => x.l.locations)) });
  }

  const o = r.outbound;
  for (const { rollup: p } of parts) {
    o.requests += p.outbound.requests;
    o.calls += p.outbound.calls;
    o.sequentialCalls += p.outbound.sequentialCalls;
    for (const peer of p.outbound.peers) o.peers.add(peer);
  }
  o.totalMs = outboundMs.value;
  o.requestMs = outboundRequestMs.value;
  const withExample = parts.filter((p) => p.ledger.outboundExample !== undefined);
  if (withExample.length > 0) {
    const best = largest(withExample, (p) => p.rollup.outbound.example.totalMs, (p) => p.ledger.outboundExample);
    o.example = { ...best.rollup.outbound.example };
    ledger.outboundExample = best.ledger.outboundExample;
  }
  return { rollup: r, ledger };
}

function earliestKeys(maps: readonly Map<string, ReleaseKey>[]): Map<string, ReleaseKey> {
  const out = new Map<string, ReleaseKey>();
  for (const m of maps) {
    for (const [id, at] of m) {
      const seen = out.get(id);
      if (seen === undefined || releasedBefore(at, seen)) out.set(id, at);
    }
  }
  return out;
}
