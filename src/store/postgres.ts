/**
 * The shared PostgreSQL store: the SQLite store's schema and semantics, written by any number of
 * `n1lens serve` instances at once. Counters are added in SQL (INSERT … ON CONFLICT DO UPDATE); rows
 * that carry a JSON histogram are locked (SELECT … FOR UPDATE, in key order) and merged by the same
 * code as SQLite, so no writer's increment is lost and both backends agree row for row.
 */
import pg from 'pg';
import type { ConnectionRollup } from '../detect/connections.js';
import { moreCompleteLink, type EndpointRollup } from '../detect/rollup.js';
import type { RouteTraffic } from '../detect/routes.js';
import type { RequestAnalysis } from '../detect/types.js';
import type { Acknowledgement } from '../report/acknowledge.js';
import type { AwaitedCall, OutsideQueries } from '../traces/assemble.js';
import { MAX_PEERS, type PeerVerdict } from '../traces/peers.js';
import { gainsMinuteRows, MINUTE_ROWS_MARK, POSTGRES_MIGRATIONS } from './migrations.js';
import {
  acknowledgementOf,
  assembleRollups,
  connectionSecondRows,
  findingIdMap,
  findingLink,
  mergeEndpointHour,
  mergeFindingHour,
  mergeFingerprintHour,
  mergeRouteTraffic,
  rangesOf,
  byEndpointAndStart,
  HOUR_ROWS,
  MINUTE_ROWS,
  type Grain,
  storedFinding,
  type AcknowledgementRow,
  type EndpointHourRow,
  type ExampleRead,
  type FindingIdRow,
  type Link,
  type RouteTrafficRow,
  type RowBatch,
  type RowBatchBuilder,
  connectionRollups,
  routeTrafficFromRow,
  type ConnectionSecondRow,
  type ConnectionSumRow,
  PRUNE_PEER_VERDICTS,
  outsideQueryHours,
  outsideQueryRange,
} from './rows.js';
import {
  Store,
  StoreOpenError,
  continuationKeys,
  endpointsOf,
  minuteHorizon,
  notCommitted,
  periodSpan,
  retentionStart,
  redactUrl,
  type StoreOptions,
  type CommittedTraces,
  type EndpointHour,
  type EndpointRef,
  type FindingHour,
  type PeriodQuery,
  type StoredEndpoint,
  type StoredFinding,
} from './store.js';
import { compareText } from '../detect/order.js';

/** Held while migrating, so instances starting together migrate once. */
const MIGRATION_LOCK = 0x6e316c656e73; // "n1lens"

/** bigint (sums, counts, epoch-ms keys) and numeric (sum of bigint) as JS numbers: every value fits in 2^53. */
const TYPES = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === 20 || oid === 1700) return (text: string) => Number(text);
    return pg.types.getTypeParser(oid, format);
  },
} as pg.CustomTypesConfig;

/** How often a writer deletes minute rows past the horizon. */
const MINUTE_PRUNE_EVERY_MS = 5 * 60_000;

/** SQLSTATEs after which a write transaction is simply run again: deadlock, serialization failure. */
const RETRYABLE = new Set(['40P01', '40001']);

/** A stored link's completeness in SQL, as detect/rollup.ts's linkCompleteness computes it. */
const completeness = (link: string): string =>
  `(CASE WHEN (${link}::jsonb ->> 'linked')::boolean THEN 1 + jsonb_array_length(${link}::jsonb -> 'steps') ELSE 0 END)`;
const triggerFingerprint = (link: string): string => `((${link}::jsonb -> 'trigger' ->> 'fingerprint') COLLATE "C")`;

/** True when the incoming finding link is more complete than the stored one (moreCompleteLink: longer chain, then the smaller trigger fingerprint). */
const PG_MORE_COMPLETE_LINK = `(${completeness('excluded.link')} > ${completeness('findings.link')}
             OR (${completeness('excluded.link')} = ${completeness('findings.link')} AND ${completeness('findings.link')} > 0
               AND ${triggerFingerprint('excluded.link')} < ${triggerFingerprint('findings.link')}))`;

export interface PostgresStoreOptions extends StoreOptions {
  /** Pool size per instance. Default 4: one writer and the readers of the API. */
  maxConnections?: number;
}

export class PostgresStore extends Store {
  readonly location: string;
  readonly #pool: pg.Pool;

  /** When this instance last deleted minute rows past the horizon (any instance may; the deletes are idempotent). */
  #minutesPrunedAt = Number.NEGATIVE_INFINITY;

  private constructor(pool: pg.Pool, location: string, options: StoreOptions, minuteRowsSinceMs: number | undefined) {
    super(options, minuteRowsSinceMs);
    this.#pool = pool;
    this.location = location;
  }

  /**
   * Connects, and migrates under an advisory lock (instances starting together migrate once). A URL
   * that cannot be reached or logged into, or a schema written by a newer n1lens, throws a one-line
   * StoreOpenError without the password.
   */
  static async open(url: string, options: PostgresStoreOptions = {}): Promise<PostgresStore> {
    const location = redactUrl(url);
    const pool = new pg.Pool({ connectionString: url, max: options.maxConnections ?? 4, types: TYPES, connectionTimeoutMillis: 10_000 });
    // An idle connection dropped by the server (restart, failover) must not crash the process; the next query reconnects.
    pool.on('error', () => undefined);
    try {
      await migratePostgres(pool, (options.now ?? Date.now)());
      const mark = await pool.query<{ at_ms: number }>('SELECT at_ms FROM store_marks WHERE name = $1', [MINUTE_ROWS_MARK]);
      return new PostgresStore(pool, location, options, mark.rows[0]?.at_ms);
    } catch (e) {
      await pool.end().catch(() => undefined);
      const err = e as Error & { code?: string };
      const why = (err.message || err.code || String(e)).split('\n')[0];
      throw new StoreOpenError(`cannot open the store ${location}: ${why}`);
    }
  }

  async close(): Promise<void> {
    await this.#pool.end();
  }

  /** Runs `work` in one transaction on one connection, again from the start after a deadlock. */
  async #transaction<T>(work: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const c = await this.#pool.connect();
      try {
        await c.query('BEGIN');
        const out = await work(c);
        await c.query('COMMIT');
        return out;
      } catch (e) {
        await c.query('ROLLBACK').catch(() => undefined);
        if (attempt < 5 && RETRYABLE.has((e as { code?: string }).code ?? '')) continue;
        throw e;
      } finally {
        c.release();
      }
    }
  }

  async record(analyses: readonly RequestAnalysis[], committed?: CommittedTraces, built?: RowBatchBuilder, outside: readonly OutsideQueries[] = []): Promise<string[]> {
    const continuations = committed === undefined ? [] : continuationKeys(analyses);
    const ids = committed === undefined ? [] : [...new Set([...committed.traceIds, ...continuations])].sort();
    const awaited = committed?.awaited ?? [];
    if (analyses.length === 0 && ids.length === 0 && awaited.length === 0 && outside.length === 0) return [];
    return this.#transaction(async (c) => {
      let counted = analyses;
      let again = new Set<string>();
      if (committed !== undefined && ids.length > 0) {
        const fresh = await c.query<{ trace_id: string }>(
          'INSERT INTO spool_committed (trace_id, committed_ms) SELECT unnest($1::text[]), $2 ON CONFLICT (trace_id) DO NOTHING RETURNING trace_id',
          [ids, committed.nowMs],
        );
        if (fresh.rowCount !== ids.length) {
          // Another instance (or an earlier run, or a write whose COMMIT's answer was lost) committed
          // these traces or continuations: their requests are counted already.
          const now = new Set(fresh.rows.map((r) => r.trace_id));
          again = new Set(ids.filter((id) => !now.has(id)));
          counted = notCommitted(analyses, again);
        }
      }
      // What another writer committed, it awaits: never overwritten here. One row per trace, the last
      // entry winning, upserted in trace order (every writer locks rows in that order); then those left
      // awaiting nothing go, their rows already locked.
      const latest = new Map(awaited.filter(([traceId]) => !again.has(traceId)));
      const ours = [...latest].sort((a, b) => compareText(a[0], b[0]));
      if (ours.length > 0) {
        await c.query(
          `INSERT INTO commit_awaits (trace_id, committed_ms, calls) SELECT trace_id, $3, calls FROM unnest($1::text[], $2::text[]) AS v(trace_id, calls)
           ON CONFLICT (trace_id) DO UPDATE SET committed_ms = excluded.committed_ms, calls = excluded.calls`,
          [ours.map(([traceId]) => traceId), ours.map(([, calls]) => JSON.stringify(calls)), committed!.nowMs],
        );
        await c.query(`DELETE FROM commit_awaits WHERE trace_id = ANY($1::text[]) AND calls = '[]'`, [ours.map(([traceId]) => traceId)]);
      }
      if (counted.length > 0) await this.#write(c, counted === analyses && built !== undefined ? built.finish() : this.rowsNow(counted));
      // In (hour, service) order, as every writer locks the rows.
      const hours = outsideQueryHours(outside, again).sort((a, b) => a[0] - b[0] || compareText(a[1], b[1]));
      if (hours.length > 0) {
        await c.query(
          `INSERT INTO outside_query_hours (hour, service, queries) SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[])
           ON CONFLICT (hour, service) DO UPDATE SET queries = outside_query_hours.queries + excluded.queries`,
          [hours.map((h) => h[0]), hours.map((h) => h[1]), hours.map((h) => h[2])],
        );
      }
      const continued = new Set(continuations);
      return [...again].filter((id) => !continued.has(id));
    });
  }

  /** Merges a batch's rows into the store (inside the writing transaction): the same RowBatch the SQLite store writes. */
  async #write(c: pg.PoolClient, batch: RowBatch): Promise<void> {
    const nowMs = batch.nowMs;
    if (nowMs - this.#minutesPrunedAt >= MINUTE_PRUNE_EVERY_MS) {
      this.#minutesPrunedAt = nowMs;
      const horizon = minuteHorizon(nowMs);
      for (const table of [MINUTE_ROWS.endpoints, MINUTE_ROWS.findings, MINUTE_ROWS.fingerprints, MINUTE_ROWS.connections]) {
        await c.query(`DELETE FROM ${table} WHERE minute < $1`, [horizon]);
      }
    }
    // Rows in start order, so concurrent writers lock them in the same order.
    const byHour = [...batch.hours].sort((a, b) => a.start - b.start);
    const rollups: { hour: number; r: EndpointRollup }[] = byHour.flatMap(({ start, endpoints }) => endpoints.map((r) => ({ hour: start, r })));
    // The batch has minute rows only where they are kept (rows.ts).
    const byMinute = [...batch.minutes].sort((a, b) => a.start - b.start);
    const minuteRollups: { hour: number; r: EndpointRollup }[] = byMinute.flatMap(({ start, endpoints }) => endpoints.map((r) => ({ hour: start, r })));

    // Endpoints, then statements and findings: identity rows first, in key order.
    const endpointSpan = new Map<string, { service: string; endpoint: string; first: number; last: number }>();
    for (const { r } of rollups) {
      const k = key(r.service, r.endpoint);
      const e = endpointSpan.get(k);
      if (e === undefined) endpointSpan.set(k, { service: r.service, endpoint: r.endpoint, first: r.firstSeenMs, last: r.lastSeenMs });
      else Object.assign(e, { first: Math.min(e.first, r.firstSeenMs), last: Math.max(e.last, r.lastSeenMs) });
    }
    const eps = [...endpointSpan.values()].sort((a, b) => compareText(key(a.service, a.endpoint), key(b.service, b.endpoint)));
    const endpointIds = new Map<string, number>();
    const epRows = await c.query<{ id: number; service: string; endpoint: string }>(
      `INSERT INTO endpoints (service, endpoint, first_seen_ms, last_seen_ms)
       SELECT * FROM unnest($1::text[], $2::text[], $3::float8[], $4::float8[])
       ON CONFLICT (service, endpoint) DO UPDATE SET first_seen_ms = least(endpoints.first_seen_ms, excluded.first_seen_ms),
         last_seen_ms = greatest(endpoints.last_seen_ms, excluded.last_seen_ms)
       RETURNING id, service, endpoint`,
      [eps.map((e) => e.service), eps.map((e) => e.endpoint), eps.map((e) => e.first), eps.map((e) => e.last)],
    );
    for (const row of epRows.rows) endpointIds.set(key(row.service, row.endpoint), row.id);
    const endpointIdOf = (r: { service: string; endpoint: string }): number => endpointIds.get(key(r.service, r.endpoint))!;

    const statements = new Map<string, { sql: string; facts: string }>();
    for (const { r } of rollups) {
      for (const x of [...r.cascades.values(), ...r.fingerprints.values()]) {
        if (!statements.has(x.fingerprint)) statements.set(x.fingerprint, { sql: x.sql, facts: JSON.stringify(x.facts) });
      }
    }
    const fps = [...statements.keys()].sort(compareText);
    if (fps.length > 0) {
      await c.query(
        `INSERT INTO statements (fingerprint, sql, facts) SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) ON CONFLICT (fingerprint) DO NOTHING`,
        [fps, fps.map((f) => statements.get(f)!.sql), fps.map((f) => statements.get(f)!.facts)],
      );
    }

    // One finding row per (endpoint, fingerprint): the most complete link wins (moreCompleteLink), as in SQLite's upserts.
    const findings = new Map<string, { endpointId: number; fingerprint: string; kind: string; link: Link; first: number; last: number }>();
    for (const { r } of rollups) {
      const endpointId = endpointIdOf(r);
      for (const cascade of r.cascades.values()) {
        const k = key(String(endpointId).padStart(10, '0'), cascade.fingerprint);
        const f = findings.get(k);
        const link = findingLink(cascade);
        if (f === undefined) findings.set(k, { endpointId, fingerprint: cascade.fingerprint, kind: cascade.kind, link, first: r.firstSeenMs, last: r.lastSeenMs });
        else Object.assign(f, { link: moreCompleteLink(link, f.link) ? link : f.link, first: Math.min(f.first, r.firstSeenMs), last: Math.max(f.last, r.lastSeenMs) });
      }
    }
    const findingList = [...findings.entries()].sort(([a], [b]) => compareText(a, b)).map(([, f]) => f);
    const findingIds = new Map<string, number>();
    if (findingList.length > 0) {
      const res = await c.query<{ id: number; endpoint_id: number; fingerprint: string }>(
        `INSERT INTO findings (endpoint_id, fingerprint, kind, link, first_seen_ms, last_seen_ms)
         SELECT * FROM unnest($1::int[], $2::text[], $3::text[], $4::text[], $5::float8[], $6::float8[])
         ON CONFLICT (endpoint_id, fingerprint) DO UPDATE SET
           link = CASE WHEN ${PG_MORE_COMPLETE_LINK} THEN excluded.link ELSE findings.link END,
           first_seen_ms = least(findings.first_seen_ms, excluded.first_seen_ms),
           last_seen_ms = greatest(findings.last_seen_ms, excluded.last_seen_ms)
         RETURNING id, endpoint_id, fingerprint`,
        [
          findingList.map((f) => f.endpointId),
          findingList.map((f) => f.fingerprint),
          findingList.map((f) => f.kind),
          findingList.map((f) => JSON.stringify(f.link)),
          findingList.map((f) => f.first),
          findingList.map((f) => f.last),
        ],
      );
      for (const row of res.rows) findingIds.set(key(String(row.endpoint_id), row.fingerprint), row.id);
    }
    const findingIdOf = (endpointId: number, fingerprint: string): number => findingIds.get(key(String(endpointId), fingerprint))!;

    // The hourly rows, then the minute rows: locked, merged in code, written back.
    for (const [grain, list] of [[HOUR_ROWS, rollups], [MINUTE_ROWS, minuteRollups]] as const) {
      const t = mergedTables(grain);
      await lockAndMerge<EndpointRollup, EndpointHourRow>(c, t.endpoints, list.map(({ hour, r }) => ({ key: [endpointIdOf(r), hour], delta: r })), mergeEndpointHour);
      await lockAndMerge(
        c,
        t.findings,
        list.flatMap(({ hour, r }) => [...r.cascades.values()].map((cascade) => ({ key: [findingIdOf(endpointIdOf(r), cascade.fingerprint), hour], delta: cascade }))),
        mergeFindingHour,
      );
      await lockAndMerge(
        c,
        t.fingerprints,
        list.flatMap(({ hour, r }) => [...r.fingerprints.values()].map((f) => ({ key: [endpointIdOf(r), f.fingerprint, hour], delta: f }))),
        mergeFingerprintHour,
      );
    }

    // Connections: plain additions.
    const hoursRows = new Map<string, [string, number, number, number, number, number]>();
    const secondsRows = new Map<string, [string, string, number, number, number, number, number]>();
    for (const { start: hour, connections } of byHour) {
      for (const conn of connections) {
        const hk = key(conn.service, String(hour));
        const h = hoursRows.get(hk) ?? [conn.service, hour, 0, 0, 0, 0];
        hoursRows.set(hk, [conn.service, hour, h[2] + conn.dbRequests, h[3] + conn.observableRequests, h[4] + conn.postgresqlRequests, h[5] + conn.opened]);
        for (const [instance, second, held, heldMs, dbMs, opened] of connectionSecondRows(conn)) {
          const sk = key(conn.service, String(second).padStart(12, '0'), instance);
          const s = secondsRows.get(sk) ?? [conn.service, instance, second, 0, 0, 0, 0];
          secondsRows.set(sk, [conn.service, instance, second, s[3] + held, s[4] + heldMs, s[5] + dbMs, s[6] + opened]);
        }
      }
    }
    const minuteRows = new Map<string, [string, number, number, number, number, number]>();
    for (const { start: minute, connections } of byMinute) {
      for (const conn of connections) {
        const mk = key(conn.service, String(minute).padStart(15, '0'));
        const m = minuteRows.get(mk) ?? [conn.service, minute, 0, 0, 0, 0];
        minuteRows.set(mk, [conn.service, minute, m[2] + conn.dbRequests, m[3] + conn.observableRequests, m[4] + conn.postgresqlRequests, m[5] + conn.opened]);
      }
    }
    for (const [grain, sums] of [[HOUR_ROWS, hoursRows], [MINUTE_ROWS, minuteRows]] as const) {
      if (sums.size === 0) continue;
      const rows = [...sums.entries()].sort(([a], [b]) => compareText(a, b)).map(([, v]) => v);
      const t = grain.connections;
      await c.query(
        `INSERT INTO ${t} (service, ${grain.key}, db_requests, observable_requests, postgresql_requests, opened)
         SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[])
         ON CONFLICT (service, ${grain.key}) DO UPDATE SET db_requests = ${t}.db_requests + excluded.db_requests,
           observable_requests = ${t}.observable_requests + excluded.observable_requests,
           postgresql_requests = ${t}.postgresql_requests + excluded.postgresql_requests, opened = ${t}.opened + excluded.opened`,
        columns(rows, 6),
      );
    }
    if (secondsRows.size > 0) {
      const rows = [...secondsRows.entries()].sort(([a], [b]) => compareText(a, b)).map(([, v]) => v);
      await c.query(
        `INSERT INTO connection_seconds (service, instance, second, held, held_ms, db_ms, opened)
         SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::float8[], $5::float8[], $6::float8[], $7::bigint[])
         ON CONFLICT (service, second, instance) DO UPDATE SET held = connection_seconds.held + excluded.held,
           held_ms = connection_seconds.held_ms + excluded.held_ms, db_ms = connection_seconds.db_ms + excluded.db_ms,
           opened = connection_seconds.opened + excluded.opened`,
        columns(rows, 7),
      );
    }

    // Examples: the worst request per finding across every instance wins.
    const examples = batch.examples
      .map((x) => ({ ...x, findingId: findingIds.get(key(String(endpointIds.get(key(x.service, x.endpoint))), x.fingerprint)) }))
      .filter((x): x is typeof x & { findingId: number } => x.findingId !== undefined)
      .sort((a, b) => a.findingId - b.findingId);
    if (examples.length > 0) {
      await c.query(
        `INSERT INTO examples (finding_id, trace_id, wasted_ms, timeline, location, trigger_location)
         SELECT * FROM unnest($1::int[], $2::text[], $3::float8[], $4::text[], $5::text[], $6::text[])
         ON CONFLICT (finding_id) DO UPDATE SET trace_id = excluded.trace_id, wasted_ms = excluded.wasted_ms, timeline = excluded.timeline,
           location = excluded.location, trigger_location = excluded.trigger_location
         WHERE excluded.wasted_ms > examples.wasted_ms`,
        [
          examples.map((x) => x.findingId),
          examples.map((x) => x.traceId),
          examples.map((x) => x.wastedMs),
          examples.map((x) => x.timeline),
          examples.map((x) => x.location),
          examples.map((x) => x.triggerLocation),
        ],
      );
    }

    await lockAndMerge(c, ROUTE_TRAFFIC, batch.traffic.map((t) => ({ key: [t.service, t.endpoint], delta: t })), mergeRouteTraffic);
  }

  async committed(traceIds: readonly string[]): Promise<Set<string>> {
    if (traceIds.length === 0) return new Set();
    const res = await this.#pool.query<{ trace_id: string }>('SELECT trace_id FROM spool_committed WHERE trace_id = ANY($1::text[])', [[...traceIds]]);
    return new Set(res.rows.map((r) => r.trace_id));
  }

  async awaitedCalls(traceIds: readonly string[]): Promise<Map<string, AwaitedCall[]>> {
    if (traceIds.length === 0) return new Map();
    const res = await this.#pool.query<{ trace_id: string; calls: string }>('SELECT trace_id, calls FROM commit_awaits WHERE trace_id = ANY($1::text[])', [[...traceIds]]);
    return new Map(res.rows.map((r) => [r.trace_id, JSON.parse(r.calls) as AwaitedCall[]]));
  }

  async pruneCommitted(beforeMs: number): Promise<void> {
    await this.#pool.query('DELETE FROM spool_committed WHERE committed_ms < $1', [beforeMs]);
    await this.#pool.query('DELETE FROM commit_awaits WHERE committed_ms < $1', [beforeMs]);
  }

  async pruneBefore(beforeMs: number): Promise<number> {
    const cut = retentionStart(beforeMs);
    return this.#transaction(async (c) => {
      let n = 0;
      for (const grain of [HOUR_ROWS, MINUTE_ROWS]) {
        for (const table of [grain.findings, grain.fingerprints, grain.endpoints, grain.connections]) {
          n += (await c.query(`DELETE FROM ${table} WHERE ${grain.key} < $1`, [cut])).rowCount ?? 0;
        }
      }
      n += (await c.query('DELETE FROM connection_seconds WHERE second < $1', [cut / 1000])).rowCount ?? 0;
      n += (await c.query('DELETE FROM outside_query_hours WHERE hour < $1', [cut])).rowCount ?? 0;
      return n;
    });
  }

  async queriesOutsideRequests(query: Pick<PeriodQuery, 'sinceMs' | 'untilMs' | 'service'> = {}): Promise<number> {
    const { lo, hi, service } = outsideQueryRange(query);
    const res = await this.#pool.query<{ n: string }>(
      'SELECT coalesce(sum(queries), 0) AS n FROM outside_query_hours WHERE hour >= $1 AND hour < $2 AND ($3::text IS NULL OR service = $3)',
      [lo, hi, service],
    );
    return Number(res.rows[0]!.n);
  }

  async connections(query: Pick<PeriodQuery, 'sinceMs' | 'untilMs' | 'byMinute'> = {}): Promise<ConnectionRollup[]> {
    const rows = this.rowsOf(query);
    const span = periodSpan(rows);
    const [sums, seconds] = await Promise.all([
      Promise.all(
        rangesOf(rows).map(([g, { lo, hi }]) =>
          this.#pool.query<ConnectionSumRow>(
            `SELECT service, sum(db_requests) AS db_requests, sum(observable_requests) AS observable_requests,
               sum(postgresql_requests) AS postgresql_requests, sum(opened) AS opened
             FROM ${g.connections} WHERE ${g.key} >= $1 AND ${g.key} < $2 GROUP BY service ORDER BY service`,
            [lo, hi],
          ),
        ),
      ),
      this.#pool.query<ConnectionSecondRow>(
        'SELECT service, instance, second, held, held_ms, db_ms, opened FROM connection_seconds WHERE second >= $1 AND second < $2 ORDER BY service, second, instance',
        [Math.floor(span.lo / 1000), Math.ceil(span.hi / 1000)],
      ),
    ]);
    return connectionRollups(
      sums.flatMap((r) => r.rows),
      seconds.rows,
    );
  }

  async routeTraffic(): Promise<RouteTraffic[]> {
    const res = await this.#pool.query<RouteTrafficRow & { service: string; endpoint: string }>(
      'SELECT service, endpoint, requests, first_seen_ms, last_seen_ms, pattern, set_aside FROM route_traffic ORDER BY service, endpoint',
    );
    return res.rows.map(routeTrafficFromRow);
  }


  async rollups(query: PeriodQuery = {}): Promise<EndpointRollup[]> {
    const ranges = rangesOf(this.rowsOf(query));
    const keep = endpointsOf(query);
    // One snapshot for every read, so a write committing meanwhile is seen whole or not at all.
    const c = await this.#pool.connect();
    try {
      await c.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const endpoints = (await c.query<{ id: number; service: string; endpoint: string }>('SELECT id, service, endpoint FROM endpoints ORDER BY id')).rows;
      const kept = endpoints.filter(keep).map((e) => e.id);
      if (kept.length === 0) return [];
      // One endpoint's page (or a service) reads only its endpoints' rows (see the SQLite store).
      const only = kept.length === endpoints.length ? null : kept;
      const endpointRows: Parameters<typeof assembleRollups>[1][number][][] = [];
      const findingRows: Parameters<typeof assembleRollups>[2][number][][] = [];
      const fingerprintRows: Parameters<typeof assembleRollups>[3][number][][] = [];
      // Whole hours, then the minutes at the edges: the ranges never overlap.
      for (const [g, { lo, hi }] of ranges) {
        const endpointHours = await c.query<Parameters<typeof assembleRollups>[1][number]>(
          `SELECT endpoint_id, ${g.key} AS hour, requests, db_spans, wasted_ms, rollup FROM ${g.endpoints} WHERE ${g.key} >= $1 AND ${g.key} < $2 AND ($3::int[] IS NULL OR endpoint_id = ANY($3)) ORDER BY endpoint_id, ${g.key}`,
          [lo, hi, only],
        );
        const findingHours = await c.query<Parameters<typeof assembleRollups>[2][number]>(
          `SELECT f.endpoint_id, h.${g.key} AS hour, f.fingerprint, f.kind, f.link, s.sql, s.facts, h.requests_affected, h.executions, h.wasted_ms, h.rollup
           FROM ${g.findings} h JOIN findings f ON f.id = h.finding_id JOIN statements s ON s.fingerprint = f.fingerprint
           WHERE h.${g.key} >= $1 AND h.${g.key} < $2 AND ($3::int[] IS NULL OR f.endpoint_id = ANY($3)) ORDER BY h.finding_id, h.${g.key}`,
          [lo, hi, only],
        );
        const fingerprintHours = await c.query<Parameters<typeof assembleRollups>[3][number]>(
          `SELECT h.endpoint_id, h.${g.key} AS hour, h.fingerprint, s.sql, s.facts, h.requests, h.executions, h.total_ms, h.rollup
           FROM ${g.fingerprints} h JOIN statements s ON s.fingerprint = h.fingerprint
           WHERE h.${g.key} >= $1 AND h.${g.key} < $2 AND ($3::int[] IS NULL OR h.endpoint_id = ANY($3)) ORDER BY h.endpoint_id, h.fingerprint COLLATE "C", h.${g.key}`,
          [lo, hi, only],
        );
        endpointRows.push(endpointHours.rows);
        findingRows.push(findingHours.rows);
        fingerprintRows.push(fingerprintHours.rows);
      }
      // flat(), not push(...rows): a week of a thousand endpoints is more rows than a call's arguments may be.
      return assembleRollups(endpoints, ranges.length > 1 ? byEndpointAndStart(endpointRows.flat()) : endpointRows.flat(), findingRows.flat(), fingerprintRows.flat());
    } finally {
      await c.query('COMMIT').catch(() => undefined);
      c.release();
    }
  }

  async endpoints(): Promise<StoredEndpoint[]> {
    const res = await this.#pool.query<StoredEndpoint>(
      `SELECT e.id, e.service, e.endpoint, e.first_seen_ms AS "firstSeenMs", e.last_seen_ms AS "lastSeenMs",
         coalesce(sum(h.requests), 0) AS requests, coalesce(sum(h.db_spans), 0) AS "dbSpans",
         coalesce(sum(h.wasted_ms), 0) AS "wastedMs",
         (SELECT count(*) FROM findings f WHERE f.endpoint_id = e.id) AS findings
       FROM endpoints e LEFT JOIN endpoint_hours h ON h.endpoint_id = e.id
       GROUP BY e.id ORDER BY "wastedMs" DESC, e.endpoint COLLATE "C"`,
    );
    return res.rows;
  }

  async finding(id: number): Promise<StoredFinding | undefined> {
    const res = await this.#pool.query<Omit<StoredFinding, 'trigger' | 'steps' | 'example'> & { link: string }>(
      `SELECT f.id, e.service, e.endpoint, f.fingerprint, f.kind, s.sql, f.link, f.first_seen_ms AS "firstSeenMs", f.last_seen_ms AS "lastSeenMs",
         coalesce(sum(h.requests_affected), 0) AS "requestsAffected", coalesce(sum(h.executions), 0) AS executions,
         coalesce(sum(h.wasted_ms), 0) AS "wastedMs"
       FROM findings f JOIN endpoints e ON e.id = f.endpoint_id JOIN statements s ON s.fingerprint = f.fingerprint
       LEFT JOIN finding_hours h ON h.finding_id = f.id WHERE f.id = $1 GROUP BY f.id, e.service, e.endpoint, s.sql`,
      [id],
    );
    const row = res.rows[0];
    if (row === undefined) return undefined;
    const ex = await this.#pool.query<ExampleRead>('SELECT trace_id, wasted_ms, timeline, location, trigger_location FROM examples WHERE finding_id = $1', [id]);
    return storedFinding(row, ex.rows[0]);
  }

  async endpointHours(query: Pick<PeriodQuery, 'sinceMs' | 'untilMs' | 'byMinute'> = {}, endpointId?: number): Promise<EndpointHour[]> {
    const ranges = rangesOf(this.rowsOf(query));
    const results = await Promise.all(
      ranges.map(([g, { lo, hi }]) =>
        this.#pool.query<EndpointHour & { endpoint_id: number }>(
          `SELECT endpoint_id, endpoint_id AS "endpointId", ${g.key} AS hour, requests, db_spans AS "dbSpans", wasted_ms AS "wastedMs"
           FROM ${g.endpoints} WHERE ${g.key} >= $1 AND ${g.key} < $2 AND ($3::int IS NULL OR endpoint_id = $3) ORDER BY endpoint_id, ${g.key}`,
          [lo, hi, endpointId ?? null],
        ),
      ),
    );
    const rows = results.flatMap((r) => r.rows);
    return (ranges.length > 1 ? byEndpointAndStart(rows) : rows).map(({ endpoint_id: _, ...h }) => h);
  }

  /** The first row start with traffic: min() over each range's index, not every hour row brought over to be compared in JS. */
  override async firstHour(query: Pick<PeriodQuery, 'sinceMs' | 'untilMs' | 'byMinute'> = {}): Promise<number | undefined> {
    const results = await Promise.all(
      rangesOf(this.rowsOf(query)).map(([g, { lo, hi }]) =>
        this.#pool.query<{ first: number | null }>(`SELECT min(${g.key}) AS first FROM ${g.endpoints} WHERE ${g.key} >= $1 AND ${g.key} < $2`, [lo, hi]),
      ),
    );
    let first: number | undefined;
    for (const r of results) {
      const start = r.rows[0]?.first ?? undefined;
      if (start !== undefined && (first === undefined || start < first)) first = start;
    }
    return first;
  }

  async findingHours(findingId: number, query: Pick<PeriodQuery, 'sinceMs' | 'untilMs' | 'byMinute'> = {}): Promise<FindingHour[]> {
    const results = await Promise.all(
      rangesOf(this.rowsOf(query)).map(([g, { lo, hi }]) =>
        this.#pool.query<FindingHour>(
          `SELECT ${g.key} AS hour, requests_affected AS "requestsAffected", executions, wasted_ms AS "wastedMs"
           FROM ${g.findings} WHERE finding_id = $1 AND ${g.key} >= $2 AND ${g.key} < $3 ORDER BY ${g.key}`,
          [findingId, lo, hi],
        ),
      ),
    );
    return results.flatMap((r) => r.rows).sort((a, b) => a.hour - b.hour);
  }

  async endpointRefs(): Promise<EndpointRef[]> {
    return (await this.#pool.query<EndpointRef>('SELECT id, service, endpoint FROM endpoints ORDER BY service COLLATE "C", endpoint COLLATE "C"')).rows;
  }

  async statementSql(fingerprints: readonly string[]): Promise<Map<string, string>> {
    if (fingerprints.length === 0) return new Map();
    const res = await this.#pool.query<{ fingerprint: string; sql: string }>('SELECT fingerprint, sql FROM statements WHERE fingerprint = ANY($1::text[])', [
      [...new Set(fingerprints)],
    ]);
    return new Map(res.rows.map((r) => [r.fingerprint, r.sql]));
  }

  async services(): Promise<string[]> {
    return (await this.#pool.query<{ service: string }>('SELECT DISTINCT service COLLATE "C" AS service FROM endpoints ORDER BY 1')).rows.map((r) => r.service);
  }

  async acknowledge(a: Acknowledgement): Promise<void> {
    await this.#pool.query(
      `INSERT INTO acknowledgements (signature, service, endpoint, kind, table_name, state, reason, expires, created_ms)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
       ON CONFLICT (signature) DO UPDATE SET state = excluded.state, reason = excluded.reason, expires = excluded.expires, created_ms = excluded.created_ms`,
      [a.signature, a.service, a.endpoint, a.kind, a.table, a.state, a.reason, a.expires ?? null, a.createdMs],
    );
  }

  async unacknowledge(signature: string): Promise<boolean> {
    return ((await this.#pool.query('DELETE FROM acknowledgements WHERE signature = $1', [signature])).rowCount ?? 0) > 0;
  }

  async acknowledgements(): Promise<Acknowledgement[]> {
    const res = await this.#pool.query<AcknowledgementRow>(
      'SELECT signature, service, endpoint, kind, table_name, state, reason, expires, created_ms FROM acknowledgements ORDER BY created_ms, signature COLLATE "C"',
    );
    return res.rows.map(acknowledgementOf);
  }

  async peerVerdicts(): Promise<PeerVerdict[]> {
    const res = await this.#pool.query<PeerVerdict>(`SELECT peer, opaque FROM peer_verdicts ORDER BY changed_ms DESC, peer COLLATE "C" LIMIT ${MAX_PEERS}`);
    return res.rows.map((r) => ({ peer: r.peer, opaque: r.opaque }));
  }

  async recordPeerVerdicts(verdicts: readonly PeerVerdict[]): Promise<void> {
    if (verdicts.length === 0) return;
    // One row per peer (an upsert may not touch a row twice), an answer winning.
    const byPeer = new Map<string, boolean>();
    for (const v of verdicts) byPeer.set(v.peer, (byPeer.get(v.peer) ?? true) && v.opaque);
    verdicts = [...byPeer].map(([peer, opaque]) => ({ peer, opaque }));
    await this.#pool.query(
      `INSERT INTO peer_verdicts (peer, opaque, changed_ms) SELECT peer, opaque, $3 FROM unnest($1::text[], $2::boolean[]) AS v(peer, opaque)
       ON CONFLICT (peer) DO UPDATE SET opaque = excluded.opaque, changed_ms = excluded.changed_ms WHERE peer_verdicts.opaque`,
      [verdicts.map((v) => v.peer), verdicts.map((v) => v.opaque), this.now()],
    );
    await this.#pool.query(PRUNE_PEER_VERDICTS);
  }

  async mark(name: string): Promise<number | undefined> {
    return (await this.#pool.query<{ at_ms: number }>('SELECT at_ms FROM store_marks WHERE name = $1', [name])).rows[0]?.at_ms;
  }

  async moveMark(name: string, from: number | undefined, to: number | undefined): Promise<boolean> {
    if (from === undefined && to === undefined) return (await this.mark(name)) === undefined;
    // One statement each: under READ COMMITTED a second instance's UPDATE waits for the first's commit,
    // then finds at_ms changed and moves nothing; a second INSERT meets the conflict.
    const moved =
      from === undefined
        ? await this.#pool.query('INSERT INTO store_marks (name, at_ms) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING', [name, to])
        : to === undefined
          ? await this.#pool.query('DELETE FROM store_marks WHERE name = $1 AND at_ms = $2', [name, from])
          : await this.#pool.query('UPDATE store_marks SET at_ms = $1 WHERE name = $2 AND at_ms = $3', [to, name, from]);
    return moved.rowCount === 1;
  }

  async findingCount(): Promise<number> {
    return (await this.#pool.query<{ n: number }>('SELECT count(*) AS n FROM findings')).rows[0]!.n;
  }

  async findingIds(): Promise<Map<string, number>> {
    const res = await this.#pool.query<FindingIdRow>('SELECT f.id, e.service, e.endpoint, f.fingerprint FROM findings f JOIN endpoints e ON e.id = f.endpoint_id');
    return findingIdMap(res.rows);
  }
}

/** Brings the database to the newest schema under an advisory lock; refuses one written by a newer n1lens. Marks a store that gains minute rows now, as SQLite's migrate() does. */
export async function migratePostgres(pool: pg.Pool, nowMs: number): Promise<void> {
  const c = await pool.connect();
  try {
    await c.query('BEGIN');
    await c.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    await c.query('CREATE TABLE IF NOT EXISTS n1lens_schema (version integer NOT NULL)');
    const row = (await c.query<{ version: number }>('SELECT version FROM n1lens_schema')).rows[0];
    const current = row?.version ?? 0;
    if (row === undefined) await c.query('INSERT INTO n1lens_schema (version) VALUES (0)');
    if (current > POSTGRES_MIGRATIONS.length) {
      throw new Error(`database schema version ${current} is newer than this n1lens understands (${POSTGRES_MIGRATIONS.length})`);
    }
    for (let v = current; v < POSTGRES_MIGRATIONS.length; v++) await c.query(POSTGRES_MIGRATIONS[v]!);
    if (gainsMinuteRows(current)) {
      await c.query('INSERT INTO store_marks (name, at_ms) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING', [MINUTE_ROWS_MARK, nowMs]);
    }
    await c.query('UPDATE n1lens_schema SET version = $1', [POSTGRES_MIGRATIONS.length]);
    await c.query('COMMIT');
  } catch (e) {
    await c.query('ROLLBACK').catch(() => undefined);
    throw e;
  } finally {
    c.release();
  }
}

/** An hourly table merged in code: its key and value columns with their PostgreSQL array types. */
interface MergedTable {
  name: string;
  keys: readonly [column: string, type: string][];
  values: readonly [column: string, type: string][];
}

/** The merged tables of one row size (hours, or the minutes kept for 48 h). */
function mergedTables(grain: Grain): { endpoints: MergedTable; findings: MergedTable; fingerprints: MergedTable } {
  return {
    endpoints: {
      name: grain.endpoints,
      keys: [['endpoint_id', 'int'], [grain.key, 'bigint']],
      values: [['requests', 'bigint'], ['db_spans', 'bigint'], ['repeats', 'bigint'], ['wasted_ms', 'float8'], ['rollup', 'text']],
    },
    findings: {
      name: grain.findings,
      keys: [['finding_id', 'int'], [grain.key, 'bigint']],
      values: [['requests_affected', 'bigint'], ['executions', 'bigint'], ['wasted_ms', 'float8'], ['rollup', 'text']],
    },
    fingerprints: {
      name: grain.fingerprints,
      keys: [['endpoint_id', 'int'], ['fingerprint', 'text'], [grain.key, 'bigint']],
      values: [['requests', 'bigint'], ['executions', 'bigint'], ['total_ms', 'float8'], ['rollup', 'text']],
    },
  };
}
const ROUTE_TRAFFIC: MergedTable = {
  name: 'route_traffic',
  keys: [['service', 'text'], ['endpoint', 'text']],
  values: [['requests', 'bigint'], ['first_seen_ms', 'float8'], ['last_seen_ms', 'float8'], ['pattern', 'text'], ['set_aside', 'bigint']],
};

type Key = (string | number)[];

/**
 * Adds deltas to rows that carry histograms: locks the existing rows in key order, inserts the
 * missing ones (ON CONFLICT DO NOTHING: a row another writer inserted meanwhile is locked and merged
 * instead), merges each delta into what is stored and writes the result back.
 */
async function lockAndMerge<D, R extends object>(
  c: pg.PoolClient,
  table: MergedTable,
  entries: readonly { key: Key; delta: D }[],
  merge: (old: R | undefined, delta: D) => R,
): Promise<void> {
  if (entries.length === 0) return;
  // Deltas for the same key (none today, but cheap to honour) merge in order.
  const byKey = new Map<string, { key: Key; deltas: D[] }>();
  for (const e of entries) {
    const k = JSON.stringify(e.key);
    const slot = byKey.get(k);
    if (slot === undefined) byKey.set(k, { key: e.key, deltas: [e.delta] });
    else slot.deltas.push(e.delta);
  }
  const sorted = [...byKey.values()].sort((a, b) => compareKeys(a.key, b.key));
  const keyCols = table.keys.map(([col]) => col).join(', ');
  const valueCols = table.values.map(([col]) => col);
  const unnestKeys = table.keys.map(([, type], i) => `$${i + 1}::${type}[]`).join(', ');
  const keyArrays = (rows: readonly { key: Key }[]): unknown[] => table.keys.map((_, i) => rows.map((r) => r.key[i]));

  const lock = async (rows: readonly { key: Key }[]): Promise<Map<string, R>> => {
    const res = await c.query<Record<string, unknown>>(
      `SELECT ${keyCols}, ${valueCols.join(', ')} FROM ${table.name} WHERE (${keyCols}) IN (SELECT * FROM unnest(${unnestKeys}))
       ORDER BY ${table.keys.map(([col, type]) => (type === 'text' ? `${col} COLLATE "C"` : col)).join(', ')} FOR UPDATE`,
      keyArrays(rows),
    );
    return new Map(res.rows.map((row) => [JSON.stringify(table.keys.map(([col]) => row[col])), row as R]));
  };
  const fold = (old: R | undefined, deltas: readonly D[]): R => deltas.reduce<R | undefined>((acc, d) => merge(acc, d), old)!;
  const write = async (rows: readonly { key: Key; value: R }[], insert: boolean): Promise<Set<string>> => {
    const all = [...table.keys, ...table.values];
    const params = [...keyArrays(rows), ...table.values.map(([col]) => rows.map((r) => (r.value as Record<string, unknown>)[col]))];
    const unnestAll = all.map(([, type], i) => `$${i + 1}::${type}[]`).join(', ');
    if (insert) {
      const res = await c.query<Record<string, unknown>>(
        `INSERT INTO ${table.name} (${all.map(([col]) => col).join(', ')}) SELECT * FROM unnest(${unnestAll})
         ON CONFLICT (${keyCols}) DO NOTHING RETURNING ${keyCols}`,
        params,
      );
      return new Set(res.rows.map((row) => JSON.stringify(table.keys.map(([col]) => row[col]))));
    }
    await c.query(
      `UPDATE ${table.name} AS t SET ${valueCols.map((col) => `${col} = u.${col}`).join(', ')}
       FROM unnest(${unnestAll}) AS u(${all.map(([col]) => col).join(', ')})
       WHERE ${table.keys.map(([col]) => `t.${col} = u.${col}`).join(' AND ')}`,
      params,
    );
    return new Set();
  };

  const stored = await lock(sorted);
  const updates: { key: Key; value: R }[] = [];
  const inserts: { key: Key; value: R; deltas: D[] }[] = [];
  for (const { key: k, deltas } of sorted) {
    const old = stored.get(JSON.stringify(k));
    if (old === undefined) inserts.push({ key: k, value: fold(undefined, deltas), deltas });
    else updates.push({ key: k, value: fold(old, deltas) });
  }
  if (inserts.length > 0) {
    const inserted = await write(inserts, true);
    // Inserted by another writer since we looked: lock it now and merge into what it holds.
    const raced = inserts.filter((r) => !inserted.has(JSON.stringify(r.key)));
    if (raced.length > 0) {
      const now = await lock(raced);
      for (const r of raced) updates.push({ key: r.key, value: fold(now.get(JSON.stringify(r.key)), r.deltas) });
    }
  }
  if (updates.length > 0) await write(updates, false);
}

const key = (...parts: string[]): string => parts.join('\u0000');

function compareKeys(a: Key, b: Key): number {
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    const d = typeof x === 'number' && typeof y === 'number' ? x - y : compareText(String(x), String(y));
    if (d !== 0) return d;
  }
  return 0;
}

/** Rows as one array per column, for unnest(). */
function columns(rows: readonly unknown[][], width: number): unknown[][] {
  return Array.from({ length: width }, (_, i) => rows.map((r) => r[i]));
}
