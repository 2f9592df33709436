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
import { addConnectionUse, emptyConnectionRollup, mergeConnectionRollups, type ConnectionRollup } from './connections.js';
import type { Cascade, LeafShape, RelationStep, RequestAnalysis, TriggerRef } from './types.js';

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
  };
}

function emptyOutbound(): OutboundRollup {
  return { requests: 0, calls: 0, sequentialCalls: 0, totalMs: 0, requestMs: 0, peers: new Set(), example: { traceId: '', totalMs: 0 } };
}

/** Adds one analysed request to its endpoint's rollup. */
export function addRequest(rollup: EndpointRollup, analysis: RequestAnalysis): void {
  rollup.requests++;
  rollup.dbSpans += analysis.dbSpans;
  rollup.dbMs += analysis.dbMs;
  rollup.requestMs += analysis.durationMs;
  addCount(rollup.queriesPerRequest, analysis.dbSpans);
  addDuration(rollup.requestDurations, analysis.durationMs);
  rollup.firstSeenMs = Math.min(rollup.firstSeenMs, analysis.startMs);
  rollup.lastSeenMs = Math.max(rollup.lastSeenMs, analysis.startMs + analysis.durationMs);
  if (analysis.cascades.length > 0) rollup.requestsAffected++;

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
    // A linked reading beats a fallback one; keep the first linked reading seen.
    if (!r.linked && c.linked) Object.assign(r, { trigger: c.trigger, steps: c.steps, linked: true, leaf: c.leaf });
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
    for (const d of u.durationsMs) addDuration(f.durations, d);
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

/** Merges `from` into `into` (same endpoint), e.g. hourly rollups into a period. */
export function mergeRollups(into: EndpointRollup, from: EndpointRollup): void {
  into.requests += from.requests;
  into.dbSpans += from.dbSpans;
  into.dbMs += from.dbMs;
  into.requestMs += from.requestMs;
  into.wastedMs += from.wastedMs;
  into.requestsAffected += from.requestsAffected;
  mergeCounts(into.queriesPerRequest, from.queriesPerRequest);
  mergeDurations(into.requestDurations, from.requestDurations);
  into.firstSeenMs = Math.min(into.firstSeenMs, from.firstSeenMs);
  into.lastSeenMs = Math.max(into.lastSeenMs, from.lastSeenMs);
  for (const [fp, c] of from.cascades) {
    const r = into.cascades.get(fp);
    if (r === undefined) {
      into.cascades.set(fp, { ...c, repeats: new Map(c.repeats), example: { ...c.example } });
      continue;
    }
    r.requestsAffected += c.requestsAffected;
    r.executions += c.executions;
    r.totalMs += c.totalMs;
    r.wastedMs += c.wastedMs;
    mergeCounts(r.repeats, c.repeats);
    if (!r.linked && c.linked) Object.assign(r, { trigger: c.trigger, steps: c.steps, linked: true, leaf: c.leaf });
    if (c.example.wastedMs > r.example.wastedMs) r.example = { ...c.example };
  }
  for (const [fp, f] of from.fingerprints) {
    const r = into.fingerprints.get(fp);
    if (r === undefined) {
      into.fingerprints.set(fp, { ...f, durations: new Map(f.durations), example: { ...f.example } });
      continue;
    }
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

/** Keyed rollups for a whole run: one per `service + endpoint`, and one connection rollup per service. */
export class RollupSet {
  readonly byEndpoint = new Map<string, EndpointRollup>();
  readonly connections = new Map<string, ConnectionRollup>();

  add(analysis: RequestAnalysis): void {
    if (analysis.connection !== null) addConnectionUse(this.#connections(analysis.service), analysis.instance ?? '', analysis.connection);
    const key = `${analysis.service}\u0000${analysis.endpoint}`;
    let r = this.byEndpoint.get(key);
    if (r === undefined) {
      r = emptyEndpointRollup(analysis.endpoint, analysis.service);
      this.byEndpoint.set(key, r);
    }
    addRequest(r, analysis);
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
}
