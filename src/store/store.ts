/** The embedded SQLite store: hourly additive rollups per endpoint, finding and statement, plus one example per finding. */
import BetterSqlite3, { type Database, type Statement } from 'better-sqlite3';
import { emptyConnectionRollup, type ConnectionRollup, type ConnectionSecond } from '../detect/connections.js';
import { RollupSet, emptyEndpointRollup, mergeRollups, type CascadeRollup, type EndpointRollup } from '../detect/rollup.js';
import { mergeTallies, tallyLocation, type LocationTally } from '../detect/location.js';
import {
  detectDeadViews,
  emptyPattern,
  mergePatterns,
  routeTraffic,
  type DeadView,
  type RouteEntry,
  type RouteTraffic,
  type TrafficPattern,
} from '../detect/routes.js';
import type { Cascade, CodeLocation, FindingKind, LeafShape, RelationStep, RequestAnalysis, TimelineEntry, TriggerRef } from '../detect/types.js';
import type { Acknowledgement, AcknowledgementState } from '../report/acknowledge.js';
import { buildReport, endpointMatcher, type Report, type ReportOptions } from '../report/model.js';
import { HOUR_MS } from '../report/period.js';
import type { SqlFacts } from '../sql/types.js';
import { migrate } from './migrations.js';
import { Summaries, type SummaryBucket, type SummaryEndpoint } from './summaries.js';


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

/** A location tally as stored in a finding hour's rollup JSON: [location, requests] pairs. */
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

/** A fingerprint hour's rollup JSON. */
interface FingerprintHourJson {
  durations: Pairs;
  example: { traceId: string; maxMs: number };
  locations?: TallyJson;
}

/** A finding hour's rollup JSON. */
interface FindingHourJson {
  totalMs: number;
  repeats: Pairs;
  example: { traceId: string; wastedMs: number };
  locations?: TallyJson;
  triggerLocations?: TallyJson;
}

interface Link {
  trigger: TriggerRef | null;
  steps: RelationStep[];
  linked: boolean;
  leaf: LeafShape;
  firstIndex: number;
}

type Pairs = [number, number][];
const toPairs = (m: Map<number, number>): Pairs => [...m];
const fromPairs = (p: Pairs): Map<number, number> => new Map(p);

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

/** The store file cannot be opened or migrated; the message is one line naming the file. */
export class StoreOpenError extends Error {
  override name = 'StoreOpenError';
}

export class Store {
  readonly db: Database;

  // Prepared once per statement text: record() runs every tick and would otherwise re-prepare per row.
  readonly #statements = new Map<string, Statement>();

  readonly #summaries: Summaries;

  private constructor(db: Database) {
    this.db = db;
    this.#summaries = new Summaries(db);
  }

  #prepare(sql: string): Statement {
    let statement = this.#statements.get(sql);
    if (statement === undefined) {
      statement = this.db.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }

  /**
   * Opens (creating and migrating) a store file; `:memory:` works for tests. A path that cannot be a
   * store (missing directory, not writable, not SQLite, a newer schema) throws a one-line StoreOpenError.
   */
  static open(path: string): Store {
    let db: Database | undefined;
    try {
      db = new BetterSqlite3(path);
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      db.pragma('foreign_keys = ON');
      migrate(db);
      return new Store(db);
    } catch (e) {
      db?.close();
      throw new StoreOpenError(`cannot open the store ${path}: ${(e as Error).message}`);
    }
  }

  close(): void {
    this.db.close();
  }

  /**
   * Adds analysed requests in one transaction, merging into the hourly rows they fall in. With
   * `committed`, also notes those traces as done in the same transaction (the spool's exactly-once).
   */
  record(analyses: readonly RequestAnalysis[], committed?: { traceIds: Iterable<string>; nowMs: number }): void {
    if (committed !== undefined) {
      this.db.transaction(() => {
        this.#record(analyses);
        const insert = this.#prepare('INSERT OR IGNORE INTO spool_committed (trace_id, committed_ms) VALUES (?, ?)');
        for (const id of committed.traceIds) insert.run(id, committed.nowMs);
      })();
      return;
    }
    this.#record(analyses);
  }

  /** True when the trace's analysis was committed (and not yet pruned): its spans are not new. */
  isCommitted(traceId: string): boolean {
    return this.#prepare('SELECT 1 FROM spool_committed WHERE trace_id = ?').get(traceId) !== undefined;
  }

  /** Forgets committed traces noted before `beforeMs`. */
  pruneCommitted(beforeMs: number): void {
    this.#prepare('DELETE FROM spool_committed WHERE committed_ms < ?').run(beforeMs);
  }

  #record(analyses: readonly RequestAnalysis[]): void {
    if (analyses.length === 0) return;
    const byHour = new Map<number, RollupSet>();
    for (const a of analyses) {
      const hour = Math.floor(a.startMs / HOUR_MS) * HOUR_MS;
      let set = byHour.get(hour);
      if (set === undefined) {
        set = new RollupSet();
        byHour.set(hour, set);
      }
      set.add(a);
    }
    this.db.transaction(() => {
      this.#summaries.touched(byHour.keys());
      for (const [hour, set] of byHour) {
        for (const r of set.values()) this.#mergeHour(hour, r);
        for (const c of set.connections.values()) this.#addConnections(hour, c);
      }
      this.#keepExamples(analyses);
      for (const t of routeTraffic(analyses)) this.#addRouteTraffic(t);
    })();
  }

  /** Additive upserts: any number of writers may add to the same second. */
  #addConnections(hour: number, c: ConnectionRollup): void {
    this.#prepare(
      `INSERT INTO connection_hours (service, hour, db_requests, observable_requests, opened) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (service, hour) DO UPDATE SET db_requests = db_requests + excluded.db_requests,
         observable_requests = observable_requests + excluded.observable_requests, opened = opened + excluded.opened`,
    ).run(c.service, hour, c.dbRequests, c.observableRequests, c.opened);
    const upsert = this.#prepare(
      `INSERT INTO connection_seconds (service, instance, second, held, held_ms, db_ms, opened) VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (service, second, instance) DO UPDATE SET held = held + excluded.held, held_ms = held_ms + excluded.held_ms,
         db_ms = db_ms + excluded.db_ms, opened = opened + excluded.opened`,
    );
    for (const [instance, seconds] of c.seconds) {
      for (const [second, [held, heldMs, dbMs, opened]] of seconds) upsert.run(c.service, instance, second, held, heldMs, dbMs, opened);
    }
  }

  #addRouteTraffic(t: RouteTraffic): void {
    const old = this.#prepare('SELECT requests, first_seen_ms, last_seen_ms, pattern FROM route_traffic WHERE service = ? AND endpoint = ?').get(t.service, t.endpoint) as
      | { requests: number; first_seen_ms: number; last_seen_ms: number; pattern: string }
      | undefined;
    const pattern = old === undefined ? emptyPattern() : patternFromJson(old.pattern);
    mergePatterns(pattern, t.pattern);
    this.#prepare(
      `INSERT INTO route_traffic (service, endpoint, requests, first_seen_ms, last_seen_ms, pattern) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (service, endpoint) DO UPDATE SET requests = requests + excluded.requests,
         first_seen_ms = min(first_seen_ms, excluded.first_seen_ms), last_seen_ms = max(last_seen_ms, excluded.last_seen_ms),
         pattern = excluded.pattern`,
    ).run(t.service, t.endpoint, t.requests, t.firstSeenMs, t.lastSeenMs, JSON.stringify(patternJson(pattern)));
  }

  /** Per-service connection rollups over a period (seconds and hours within it). */
  connections(query: Pick<PeriodQuery, 'sinceMs' | 'untilMs'> = {}): ConnectionRollup[] {
    const since = query.sinceMs === undefined ? Number.MIN_SAFE_INTEGER : Math.floor(query.sinceMs / HOUR_MS) * HOUR_MS;
    const until = query.untilMs ?? Number.MAX_SAFE_INTEGER;
    const byService = new Map<string, ConnectionRollup>();
    const get = (service: string): ConnectionRollup => {
      let c = byService.get(service);
      if (c === undefined) {
        c = emptyConnectionRollup(service);
        byService.set(service, c);
      }
      return c;
    };
    const hours = this.#prepare(
      `SELECT service, sum(db_requests) AS dbRequests, sum(observable_requests) AS observableRequests, sum(opened) AS opened
       FROM connection_hours WHERE hour >= ? AND hour < ? GROUP BY service`,
    ).all(since, until) as { service: string; dbRequests: number; observableRequests: number; opened: number }[];
    for (const h of hours) Object.assign(get(h.service), { dbRequests: h.dbRequests, observableRequests: h.observableRequests, opened: h.opened });
    const rows = this.#prepare(
      'SELECT service, instance, second, held, held_ms, db_ms, opened FROM connection_seconds WHERE second >= ? AND second < ?',
    ).all(Math.floor(since / 1000), Math.ceil(until / 1000)) as { service: string; instance: string; second: number; held: number; held_ms: number; db_ms: number; opened: number }[];
    for (const r of rows) {
      const c = get(r.service);
      let seconds = c.seconds.get(r.instance);
      if (seconds === undefined) {
        seconds = new Map();
        c.seconds.set(r.instance, seconds);
      }
      const row: ConnectionSecond = [r.held, r.held_ms, r.db_ms, r.opened];
      seconds.set(r.second, row);
    }
    return [...byService.values()];
  }

  /** Every route's traffic since the store began (route_traffic is never pruned). */
  routeTraffic(): RouteTraffic[] {
    const rows = this.#prepare('SELECT service, endpoint, requests, first_seen_ms, last_seen_ms, pattern FROM route_traffic').all() as {
      service: string; endpoint: string; requests: number; first_seen_ms: number; last_seen_ms: number; pattern: string;
    }[];
    return rows.map((r) => ({
      service: r.service,
      endpoint: r.endpoint,
      requests: r.requests,
      firstSeenMs: r.first_seen_ms,
      lastSeenMs: r.last_seen_ms,
      pattern: patternFromJson(r.pattern),
    }));
  }

  /** dead_view over the store's whole route history: app routes with no request in `windowMs` before `nowMs`, or only a periodic caller. */
  deadViews(routes: readonly RouteEntry[], windowMs: number, nowMs: number): DeadView[] {
    return detectDeadViews(routes, this.routeTraffic(), { windowMs, nowMs, historySinceMs: this.historySinceMs() ?? nowMs });
  }

  /** When the store's traffic history starts: its first request, or undefined when it has none. */
  historySinceMs(): number | undefined {
    const row = this.#prepare('SELECT min(first_seen_ms) AS first FROM route_traffic').get() as { first: number | null };
    return row.first ?? undefined;
  }

  #endpointId(r: EndpointRollup): number {
    const row = this.db
      .prepare(
        `INSERT INTO endpoints (service, endpoint, first_seen_ms, last_seen_ms) VALUES (?, ?, ?, ?)
         ON CONFLICT (service, endpoint) DO UPDATE SET
           first_seen_ms = min(first_seen_ms, excluded.first_seen_ms),
           last_seen_ms = max(last_seen_ms, excluded.last_seen_ms)
         RETURNING id`,
      )
      .get(r.service, r.endpoint, r.firstSeenMs, r.lastSeenMs) as { id: number };
    return row.id;
  }

  #statement(fingerprint: string, sql: string, facts: SqlFacts): void {
    this.#prepare('INSERT OR IGNORE INTO statements (fingerprint, sql, facts) VALUES (?, ?, ?)').run(fingerprint, sql, JSON.stringify(facts));
  }

  #findingId(endpointId: number, c: CascadeRollup, r: EndpointRollup): number {
    const link: Link = { trigger: c.trigger, steps: c.steps, linked: c.linked, leaf: c.leaf, firstIndex: c.firstIndex };
    const row = this.db
      .prepare(
        `INSERT INTO findings (endpoint_id, fingerprint, kind, link, first_seen_ms, last_seen_ms) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (endpoint_id, fingerprint) DO UPDATE SET
           link = CASE WHEN json_extract(link, '$.linked') THEN link ELSE excluded.link END,
           first_seen_ms = min(first_seen_ms, excluded.first_seen_ms),
           last_seen_ms = max(last_seen_ms, excluded.last_seen_ms)
         RETURNING id`,
      )
      .get(endpointId, c.fingerprint, c.kind, JSON.stringify(link), r.firstSeenMs, r.lastSeenMs) as { id: number };
    return row.id;
  }

  #mergeHour(hour: number, r: EndpointRollup): void {
    const endpointId = this.#endpointId(r);
    const old = this.#prepare('SELECT requests, db_spans, repeats, wasted_ms, rollup FROM endpoint_hours WHERE endpoint_id = ? AND hour = ?').get(endpointId, hour) as
      | { requests: number; db_spans: number; repeats: number; wasted_ms: number; rollup: string }
      | undefined;
    const merged = emptyEndpointRollup(r.endpoint, r.service);
    if (old !== undefined) this.#hydrateEndpointHour(merged, old);
    mergeEndpointTotals(merged, r);
    let repeats = old?.repeats ?? 0;
    for (const c of r.cascades.values()) repeats += c.executions;
    this.db
      .prepare(
        `INSERT INTO endpoint_hours (endpoint_id, hour, requests, db_spans, repeats, wasted_ms, rollup) VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (endpoint_id, hour) DO UPDATE SET requests = excluded.requests, db_spans = excluded.db_spans,
           repeats = excluded.repeats, wasted_ms = excluded.wasted_ms, rollup = excluded.rollup`,
      )
      .run(endpointId, hour, merged.requests, merged.dbSpans, repeats, merged.wastedMs, JSON.stringify(endpointHourJson(merged)));
    this.#summaries.endpointHour(endpointId, hour, merged, r);

    for (const c of r.cascades.values()) {
      this.#statement(c.fingerprint, c.sql, c.facts);
      const findingId = this.#findingId(endpointId, c, r);
      const prev = this.#prepare('SELECT requests_affected, executions, wasted_ms, rollup FROM finding_hours WHERE finding_id = ? AND hour = ?').get(findingId, hour) as
        | { requests_affected: number; executions: number; wasted_ms: number; rollup: string }
        | undefined;
      const p: FindingHourJson = prev === undefined ? { totalMs: 0, repeats: [] as Pairs, example: { traceId: '', wastedMs: -1 } } : (JSON.parse(prev.rollup) as FindingHourJson);
      const repeatsMap = fromPairs(p.repeats);
      for (const [k, v] of c.repeats) repeatsMap.set(k, (repeatsMap.get(k) ?? 0) + v);
      const example = c.example.wastedMs > p.example.wastedMs ? c.example : p.example;
      const counts = [(prev?.requests_affected ?? 0) + c.requestsAffected, (prev?.executions ?? 0) + c.executions, (prev?.wasted_ms ?? 0) + c.wastedMs] as const;
      this.#summaries.findingHour(findingId, hour, ...counts);
      this.db
        .prepare(
          `INSERT INTO finding_hours (finding_id, hour, requests_affected, executions, wasted_ms, rollup) VALUES (?, ?, ?, ?, ?, ?)
           ON CONFLICT (finding_id, hour) DO UPDATE SET requests_affected = excluded.requests_affected,
             executions = excluded.executions, wasted_ms = excluded.wasted_ms, rollup = excluded.rollup`,
        )
        .run(
          findingId,
          hour,
          ...counts,
          JSON.stringify({
            totalMs: p.totalMs + c.totalMs,
            repeats: toPairs(repeatsMap),
            example,
            locations: mergeTallyJson(p.locations, c.locations),
            triggerLocations: mergeTallyJson(p.triggerLocations, c.triggerLocations),
          } satisfies FindingHourJson),
        );
    }

    for (const f of r.fingerprints.values()) {
      this.#statement(f.fingerprint, f.sql, f.facts);
      const prev = this.#prepare('SELECT requests, executions, total_ms, rollup FROM fingerprint_hours WHERE endpoint_id = ? AND fingerprint = ? AND hour = ?').get(endpointId, f.fingerprint, hour) as
        | { requests: number; executions: number; total_ms: number; rollup: string }
        | undefined;
      const p: FingerprintHourJson = prev === undefined ? { durations: [] as Pairs, example: { traceId: '', maxMs: -1 } } : (JSON.parse(prev.rollup) as FingerprintHourJson);
      const durations = fromPairs(p.durations);
      for (const [k, v] of f.durations) durations.set(k, (durations.get(k) ?? 0) + v);
      const example = f.example.maxMs > p.example.maxMs ? f.example : p.example;
      const counts = [(prev?.requests ?? 0) + f.requests, (prev?.executions ?? 0) + f.executions, (prev?.total_ms ?? 0) + f.totalMs] as const;
      if (f.facts.operation === 'SELECT' && !f.facts.transactionControl && !r.cascades.has(f.fingerprint)) {
        this.#summaries.selectHour(endpointId, f.fingerprint, hour, ...counts, example.maxMs);
      }
      this.db
        .prepare(
          `INSERT INTO fingerprint_hours (endpoint_id, fingerprint, hour, requests, executions, total_ms, rollup) VALUES (?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (endpoint_id, fingerprint, hour) DO UPDATE SET requests = excluded.requests,
             executions = excluded.executions, total_ms = excluded.total_ms, rollup = excluded.rollup`,
        )
        .run(
          endpointId, f.fingerprint, hour, ...counts,
          JSON.stringify({ durations: toPairs(durations), example, locations: mergeTallyJson(p.locations, f.locations) } satisfies FingerprintHourJson),
        );
    }
  }

  /** Keeps, per finding, the request where it wasted the most, with that request's DB timeline. */
  #keepExamples(analyses: readonly RequestAnalysis[]): void {
    const find = this.#prepare(
      `SELECT f.id FROM findings f JOIN endpoints e ON e.id = f.endpoint_id WHERE e.service = ? AND e.endpoint = ? AND f.fingerprint = ?`,
    );
    const upsert = this.#prepare(
      `INSERT INTO examples (finding_id, trace_id, wasted_ms, timeline, location, trigger_location) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (finding_id) DO UPDATE SET trace_id = excluded.trace_id, wasted_ms = excluded.wasted_ms, timeline = excluded.timeline,
         location = excluded.location, trigger_location = excluded.trigger_location
       WHERE excluded.wasted_ms > examples.wasted_ms`,
    );
    // The worst request per finding in this batch first, so each finding costs one write, not one per request.
    const worst = new Map<string, { a: RequestAnalysis; c: Cascade }>();
    for (const a of analyses) {
      for (const c of a.cascades) {
        const key = `${a.service}\u0000${a.endpoint}\u0000${c.fingerprint}`;
        const best = worst.get(key);
        if (best === undefined || c.wastedMs > best.c.wastedMs) worst.set(key, { a, c });
      }
    }
    const json = (location: CodeLocation | undefined): string | null => (location === undefined ? null : JSON.stringify(location));
    for (const { a, c } of worst.values()) {
      const row = find.get(a.service, a.endpoint, c.fingerprint) as { id: number } | undefined;
      if (row === undefined) continue;
      const timeline = a.timeline.map((t) => [round3(t.offsetMs), round3(t.durationMs), t.fingerprint]);
      upsert.run(row.id, a.traceId, c.wastedMs, JSON.stringify(timeline), json(c.location), json(c.triggerLocation));
    }
  }

  #hydrateEndpointHour(into: EndpointRollup, row: { requests: number; db_spans: number; wasted_ms: number; rollup: string }): void {
    const j = JSON.parse(row.rollup) as EndpointHourJson;
    const part = emptyEndpointRollup(into.endpoint, into.service);
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
    mergeEndpointTotals(into, part);
  }

  /** Rebuilds endpoint rollups for a period by adding its hourly rows. */
  rollups(query: PeriodQuery = {}): EndpointRollup[] {
    const since = query.sinceMs === undefined ? -Infinity : Math.floor(query.sinceMs / HOUR_MS) * HOUR_MS;
    const until = query.untilMs ?? Infinity;
    const matches = endpointMatcher(query.endpoint);
    const set = new RollupSet();
    const endpoints = this.#prepare('SELECT id, service, endpoint FROM endpoints').all() as { id: number; service: string; endpoint: string }[];
    const hours = this.#prepare('SELECT hour, requests, db_spans, wasted_ms, rollup FROM endpoint_hours WHERE endpoint_id = ? AND hour >= ? AND hour < ?');
    const findingRows = this.#prepare(
      `SELECT f.fingerprint, f.kind, f.link, s.sql, s.facts, h.requests_affected, h.executions, h.wasted_ms, h.rollup
       FROM finding_hours h JOIN findings f ON f.id = h.finding_id JOIN statements s ON s.fingerprint = f.fingerprint
       WHERE f.endpoint_id = ? AND h.hour = ?`,
    );
    const fingerprintRows = this.#prepare(
      `SELECT h.fingerprint, s.sql, s.facts, h.requests, h.executions, h.total_ms, h.rollup
       FROM fingerprint_hours h JOIN statements s ON s.fingerprint = h.fingerprint WHERE h.endpoint_id = ? AND h.hour = ?`,
    );
    const lo = Number.isFinite(since) ? since : Number.MIN_SAFE_INTEGER;
    const hi = Number.isFinite(until) ? until : Number.MAX_SAFE_INTEGER;
    for (const e of endpoints) {
      if (!matches(e.endpoint) || (query.service !== undefined && e.service !== query.service)) continue;
      for (const h of hours.all(e.id, lo, hi) as { hour: number; requests: number; db_spans: number; wasted_ms: number; rollup: string }[]) {
        const r = emptyEndpointRollup(e.endpoint, e.service);
        this.#hydrateEndpointHour(r, h);
        for (const f of findingRows.all(e.id, h.hour) as {
          fingerprint: string; kind: CascadeRollup['kind']; link: string; sql: string; facts: string;
          requests_affected: number; executions: number; wasted_ms: number; rollup: string;
        }[]) {
          const link = JSON.parse(f.link) as Link;
          const roll = JSON.parse(f.rollup) as FindingHourJson;
          const locations = tallyFromJson(roll.locations);
          const triggerLocations = tallyFromJson(roll.triggerLocations);
          r.cascades.set(f.fingerprint, {
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
          });
        }
        for (const f of fingerprintRows.all(e.id, h.hour) as {
          fingerprint: string; sql: string; facts: string; requests: number; executions: number; total_ms: number; rollup: string;
        }[]) {
          const roll = JSON.parse(f.rollup) as FingerprintHourJson;
          const locations = tallyFromJson(roll.locations);
          r.fingerprints.set(f.fingerprint, {
            ...(locations === undefined ? {} : { locations }),
            fingerprint: f.fingerprint,
            sql: f.sql,
            facts: JSON.parse(f.facts) as SqlFacts,
            requests: f.requests,
            executions: f.executions,
            totalMs: f.total_ms,
            durations: fromPairs(roll.durations),
            example: roll.example,
          });
        }
        set.merge(r);
      }
    }
    return set.values();
  }

  /** The DESIGN report over a period of stored data, with the period's connection_pressure. */
  report(query: PeriodQuery = {}, options: Omit<ReportOptions, 'endpoint'> = {}): Report {
    return buildReport(this.rollups(query), {
      connections: this.connections(query),
      ...options,
      ...(query.endpoint === undefined ? {} : { endpoint: query.endpoint }),
    });
  }

  /**
   * The endpoints of a period as the overview ranks them, summed from the period summaries (a few
   * rows per endpoint) rather than rebuilt hour by hour: see SummaryEndpoint for what each rollup
   * holds. Summaries of 6-hour, day and week blocks that end before `closedBeforeMs` are built on
   * first use.
   */
  periodSummary(query: PeriodQuery, options: { slowMs: number; closedBeforeMs: number }): SummaryEndpoint[] {
    const matches = endpointMatcher(query.endpoint);
    return this.#summaries
      .endpoints(query.sinceMs, query.untilMs, options.slowMs, options.closedBeforeMs)
      .filter((e) => matches(e.rollup.endpoint) && (query.service === undefined || e.rollup.service === query.service));
  }

  /** Every endpoint's requests, DB spans and wasted ms per chart bucket in a period (by endpoint id), from the period summaries. */
  trendBuckets(query: Pick<PeriodQuery, 'sinceMs' | 'untilMs'>, axis: { startMs: number; sizeMs: number; count: number }, closedBeforeMs: number): Map<number, SummaryBucket[]> {
    return this.#summaries.trends(query.sinceMs, query.untilMs, axis, closedBeforeMs);
  }

  /** The first hour with traffic in a period, or undefined when it has none. */
  firstHour(query: Pick<PeriodQuery, 'sinceMs' | 'untilMs'> = {}): number | undefined {
    return this.#summaries.firstHour(query.sinceMs, query.untilMs);
  }

  endpoints(): StoredEndpoint[] {
    return this.db
      .prepare(
        `SELECT e.id, e.service, e.endpoint, e.first_seen_ms AS firstSeenMs, e.last_seen_ms AS lastSeenMs,
           coalesce(sum(h.requests), 0) AS requests, coalesce(sum(h.db_spans), 0) AS dbSpans,
           coalesce(sum(h.wasted_ms), 0) AS wastedMs,
           (SELECT count(*) FROM findings f WHERE f.endpoint_id = e.id) AS findings
         FROM endpoints e LEFT JOIN endpoint_hours h ON h.endpoint_id = e.id
         GROUP BY e.id ORDER BY wastedMs DESC, e.endpoint`,
      )
      .all() as StoredEndpoint[];
  }

  finding(id: number): StoredFinding | undefined {
    const row = this.db
      .prepare(
        `SELECT f.id, e.service, e.endpoint, f.fingerprint, f.kind, s.sql, f.link, f.first_seen_ms AS firstSeenMs, f.last_seen_ms AS lastSeenMs,
           coalesce(sum(h.requests_affected), 0) AS requestsAffected, coalesce(sum(h.executions), 0) AS executions,
           coalesce(sum(h.wasted_ms), 0) AS wastedMs
         FROM findings f JOIN endpoints e ON e.id = f.endpoint_id JOIN statements s ON s.fingerprint = f.fingerprint
         LEFT JOIN finding_hours h ON h.finding_id = f.id WHERE f.id = ? GROUP BY f.id`,
      )
      .get(id) as (Omit<StoredFinding, 'trigger' | 'steps' | 'example'> & { link: string }) | undefined;
    if (row === undefined || row.id === null) return undefined;
    const ex = this.#prepare('SELECT trace_id, wasted_ms, timeline, location, trigger_location FROM examples WHERE finding_id = ?').get(id) as
      | { trace_id: string; wasted_ms: number; timeline: string; location: string | null; trigger_location: string | null }
      | undefined;
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
              timeline: (JSON.parse(ex.timeline) as [number, number, string][]).map(([offsetMs, durationMs, fingerprint]) => ({ offsetMs, durationMs, fingerprint })),
              ...(ex.location === null ? {} : { location: JSON.parse(ex.location) as CodeLocation }),
              ...(ex.trigger_location === null ? {} : { triggerLocation: JSON.parse(ex.trigger_location) as CodeLocation }),
            },
    };
  }

  /** Hour rows of every endpoint in a period, or of one (no JSON decoding: cheap enough for a sparkline per endpoint). */
  endpointHours(query: Pick<PeriodQuery, 'sinceMs' | 'untilMs'> = {}, endpointId?: number): EndpointHour[] {
    const { lo, hi } = hourRange(query);
    if (endpointId !== undefined) {
      return this.#prepare(
        `SELECT endpoint_id AS endpointId, hour, requests, db_spans AS dbSpans, wasted_ms AS wastedMs
         FROM endpoint_hours WHERE endpoint_id = ? AND hour >= ? AND hour < ? ORDER BY hour`,
      ).all(endpointId, lo, hi) as EndpointHour[];
    }
    return this.#prepare(
      `SELECT endpoint_id AS endpointId, hour, requests, db_spans AS dbSpans, wasted_ms AS wastedMs
       FROM endpoint_hours WHERE hour >= ? AND hour < ? ORDER BY endpoint_id, hour`,
    ).all(lo, hi) as EndpointHour[];
  }

  /** A finding's hour rows in a period, oldest first. */
  findingHours(findingId: number, query: Pick<PeriodQuery, 'sinceMs' | 'untilMs'> = {}): FindingHour[] {
    const { lo, hi } = hourRange(query);
    return this.#prepare(
      `SELECT hour, requests_affected AS requestsAffected, executions, wasted_ms AS wastedMs
       FROM finding_hours WHERE finding_id = ? AND hour >= ? AND hour < ? ORDER BY hour`,
    ).all(findingId, lo, hi) as FindingHour[];
  }

  /** Every stored endpoint's id, service and name. */
  endpointRefs(): EndpointRef[] {
    return this.#prepare('SELECT id, service, endpoint FROM endpoints ORDER BY service, endpoint').all() as EndpointRef[];
  }

  /** Normalised SQL by fingerprint, for labelling the fingerprints of an example timeline. */
  statementSql(fingerprints: readonly string[]): Map<string, string> {
    const get = this.#prepare('SELECT sql FROM statements WHERE fingerprint = ?');
    const out = new Map<string, string>();
    for (const fp of new Set(fingerprints)) {
      const row = get.get(fp) as { sql: string } | undefined;
      if (row !== undefined) out.set(fp, row.sql);
    }
    return out;
  }

  /** The services that have sent requests, for the service filter. */
  services(): string[] {
    return (this.#prepare('SELECT DISTINCT service FROM endpoints ORDER BY service').all() as { service: string }[]).map((r) => r.service);
  }

  /** Records (or replaces) a decision about a finding. */
  acknowledge(a: Acknowledgement): void {
    this.#prepare(
      `INSERT INTO acknowledgements (signature, service, endpoint, kind, table_name, state, reason, expires, created_ms)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (signature) DO UPDATE SET state = excluded.state, reason = excluded.reason, expires = excluded.expires, created_ms = excluded.created_ms`,
    ).run(a.signature, a.service, a.endpoint, a.kind, a.table, a.state, a.reason, a.expires ?? null, a.createdMs);
  }

  /** Withdraws a decision; false when there was none. */
  unacknowledge(signature: string): boolean {
    return this.#prepare('DELETE FROM acknowledgements WHERE signature = ?').run(signature).changes > 0;
  }

  /** Every decision, expired or not, oldest first. */
  acknowledgements(): Acknowledgement[] {
    const rows = this.#prepare(
      'SELECT signature, service, endpoint, kind, table_name, state, reason, expires, created_ms FROM acknowledgements ORDER BY created_ms, signature',
    ).all() as { signature: string; service: string; endpoint: string; kind: FindingKind; table_name: string; state: AcknowledgementState; reason: string; expires: string | null; created_ms: number }[];
    return rows.map((r) => ({
      signature: r.signature,
      service: r.service,
      endpoint: r.endpoint,
      kind: r.kind,
      table: r.table_name,
      state: r.state,
      reason: r.reason,
      ...(r.expires === null ? {} : { expires: r.expires }),
      createdMs: r.created_ms,
    }));
  }

  findingCount(): number {
    return (this.#prepare('SELECT count(*) AS n FROM findings').get() as { n: number }).n;
  }

  /** Finding ids by endpoint and fingerprint, so the API can link report entries to /api/findings/:id. */
  findingIds(): Map<string, number> {
    const rows = this.#prepare('SELECT f.id, e.service, e.endpoint, f.fingerprint FROM findings f JOIN endpoints e ON e.id = f.endpoint_id').all() as {
      id: number; service: string; endpoint: string; fingerprint: string;
    }[];
    return new Map(rows.map((r) => [`${r.service}\u0000${r.endpoint}\u0000${r.fingerprint}`, r.id]));
  }
}

const round3 = (n: number): number => Math.round(n * 1000) / 1000;

/** A period as the hour-aligned bounds the hourly tables are keyed by. */
function hourRange(query: Pick<PeriodQuery, 'sinceMs' | 'untilMs'>): { lo: number; hi: number } {
  return {
    lo: query.sinceMs === undefined ? Number.MIN_SAFE_INTEGER : Math.floor(query.sinceMs / HOUR_MS) * HOUR_MS,
    hi: query.untilMs === undefined ? Number.MAX_SAFE_INTEGER : query.untilMs,
  };
}

interface PatternJson {
  minutes: Pairs | null;
  clients: [string, number][] | null;
  days: number[] | null;
}

function patternJson(p: TrafficPattern): PatternJson {
  return { minutes: p.minutes && [...p.minutes], clients: p.clients && [...p.clients], days: p.days && [...p.days] };
}

function patternFromJson(text: string): TrafficPattern {
  const j = JSON.parse(text) as PatternJson;
  return { minutes: j.minutes && new Map(j.minutes), clients: j.clients && new Map(j.clients), days: j.days && new Set(j.days) };
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
