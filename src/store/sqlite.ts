/** The embedded SQLite store (better-sqlite3, WAL): hourly additive rollups per endpoint, finding and statement, plus one example per finding. */
import { setImmediate as nextTurn } from 'node:timers/promises';
import BetterSqlite3, { type Database, type Statement } from 'better-sqlite3';
import type { ConnectionRollup } from '../detect/connections.js';
import type { CascadeRollup, EndpointRollup } from '../detect/rollup.js';
import type { RouteTraffic } from '../detect/routes.js';
import type { RequestAnalysis } from '../detect/types.js';
import type { Acknowledgement } from '../report/acknowledge.js';
import type { SqlFacts } from '../sql/types.js';
import type { AwaitedCall, OutsideQueries } from '../traces/assemble.js';
import { MAX_PEERS, type PeerVerdict } from '../traces/peers.js';
import { migrate, MINUTE_ROWS_MARK } from './migrations.js';
import { Summaries, type SummaryBucket, type SummaryEndpoint } from './summaries.js';
import { StoreWriter, type CommittedIds, type StoreWriterOptions } from './writer.js';
import { CommittedTraceIndex } from './committed-index.js';
import {
  assembleRollups,
  endpointHourRollup,
  connectionSecondRows,
  findingLink,
  mergeEndpointHour,
  mergeFindingHour,
  mergeFingerprintHourWithMax,
  mergeRouteTraffic,
  RowBatchBuilder,
  type RowBatch,
  type ExampleRow,
  rangesOf,
  byEndpointAndStart,
  HOUR_ROWS,
  MINUTE_ROWS,
  type Grain,
  acknowledgementOf,
  findingIdMap,
  storedFinding,
  type AcknowledgementRow,
  type ExampleRead,
  type FindingIdRow,
  type EndpointHourRow,
  type FindingHourRow,
  type FingerprintHourRow,
  type RouteTrafficRow,
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
  type CommittedTraces,
  type StoreOptions,
  type EndpointHour,
  type EndpointRef,
  type FindingHour,
  type PeriodQuery,
  type StoredEndpoint,
  type StoredFinding,
} from './store.js';

/** How often a writer deletes minute rows past the horizon. */
const MINUTE_PRUNE_EVERY_MS = 5 * 60_000;

/** The row merges' SQL of one grain, built once: the write path looks its statements up by these same strings. */
function writeSql(grain: Grain) {
  const { key } = grain;
  return {
    endpointRow: `SELECT requests, db_spans, repeats, wasted_ms, rollup FROM ${grain.endpoints} WHERE endpoint_id = ? AND ${key} = ?`,
    endpointUpsert: `INSERT INTO ${grain.endpoints} (endpoint_id, ${key}, requests, db_spans, repeats, wasted_ms, rollup) VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (endpoint_id, ${key}) DO UPDATE SET requests = excluded.requests, db_spans = excluded.db_spans,
         repeats = excluded.repeats, wasted_ms = excluded.wasted_ms, rollup = excluded.rollup`,
    findingRow: `SELECT requests_affected, executions, wasted_ms, rollup FROM ${grain.findings} WHERE finding_id = ? AND ${key} = ?`,
    findingUpsert: `INSERT INTO ${grain.findings} (finding_id, ${key}, requests_affected, executions, wasted_ms, rollup) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (finding_id, ${key}) DO UPDATE SET requests_affected = excluded.requests_affected,
           executions = excluded.executions, wasted_ms = excluded.wasted_ms, rollup = excluded.rollup`,
    fingerprintRow: `SELECT requests, executions, total_ms, rollup FROM ${grain.fingerprints} WHERE endpoint_id = ? AND fingerprint = ? AND ${key} = ?`,
    fingerprintUpsert: `INSERT INTO ${grain.fingerprints} (endpoint_id, fingerprint, ${key}, requests, executions, total_ms, rollup) VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (endpoint_id, fingerprint, ${key}) DO UPDATE SET requests = excluded.requests,
           executions = excluded.executions, total_ms = excluded.total_ms, rollup = excluded.rollup`,
    connectionsUpsert: `INSERT INTO ${grain.connections} (service, ${key}, db_requests, observable_requests, postgresql_requests, opened) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (service, ${key}) DO UPDATE SET db_requests = db_requests + excluded.db_requests,
         observable_requests = observable_requests + excluded.observable_requests,
         postgresql_requests = postgresql_requests + excluded.postgresql_requests, opened = opened + excluded.opened`,
  };
}

const WRITE_SQL: ReadonlyMap<Grain, ReturnType<typeof writeSql>> = new Map([HOUR_ROWS, MINUTE_ROWS].map((g) => [g, writeSql(g)]));

/** A stored link's completeness in SQL, as detect/rollup.ts's linkCompleteness computes it. */
const completeness = (link: string): string => `(CASE WHEN json_extract(${link}, '$.linked') THEN 1 + json_array_length(${link}, '$.steps') ELSE 0 END)`;

/**
 * One finding per (endpoint, fingerprint). Its link is replaced only by a more complete one
 * (detect/rollup.ts's moreCompleteLink: longer chain, then the smaller trigger fingerprint), so a
 * request whose cascade arrived partial and was written first does not keep its shorter chain.
 */
const FINDING_UPSERT = `INSERT INTO findings (endpoint_id, fingerprint, kind, link, first_seen_ms, last_seen_ms) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (endpoint_id, fingerprint) DO UPDATE SET
         link = CASE WHEN ${completeness('excluded.link')} > ${completeness('link')}
           OR (${completeness('excluded.link')} = ${completeness('link')} AND ${completeness('link')} > 0
             AND json_extract(excluded.link, '$.trigger.fingerprint') < json_extract(link, '$.trigger.fingerprint'))
           THEN excluded.link ELSE link END,
         first_seen_ms = min(first_seen_ms, excluded.first_seen_ms),
         last_seen_ms = max(last_seen_ms, excluded.last_seen_ms)
       RETURNING id`;

/**
 * Requests whose rollups are made in one go before letting the event loop through (a write made on a
 * writer thread; ~5 ms on the bench's Django corpus).
 */
const ROWS_SLICE = 64;

/** A writer-thread write rolled back because some of its traces were already committed. */
const RECOUNT = Symbol('recount');

/**
 * How long opening waits for another process's write lock: processes creating one store at once take
 * turns through the WAL switch and each migration, and on a loaded CI machine one of four serve starts
 * waited past better-sqlite3's 5 s default and exited "database is locked".
 */
const OPEN_BUSY_WAIT_MS = 60_000;
/** Once open, better-sqlite3's default: a write waiting longer is retried by its caller (spool, summaries). */
const BUSY_WAIT_MS = 5_000;

export interface SqliteStoreOptions extends StoreOptions {
  /**
   * Writes (record, the prunes) on a thread of their own with a connection of their own (writer.ts),
   * so the SQL merge never holds this thread's event loop. Not for `:memory:` (one connection's database).
   */
  writerThread?: boolean | StoreWriterOptions;
}

export class SqliteStore extends Store {
  readonly db: Database;
  readonly location: string;

  // Prepared once per statement text: record() runs every tick and would otherwise re-prepare per row.
  readonly #statements = new Map<string, Statement>();

  readonly #summaries: Summaries;

  /** When minute rows older than 48 h were last deleted (see #pruneMinutes). */
  #minutesPrunedAt = Number.NEGATIVE_INFINITY;

  /** Fingerprints known to be in `statements` (committed by this connection): see #statement. */
  readonly #statementsStored = new Set<string>();
  #statementsWritten: string[] = [];

  /** With a writer thread, record() and the prunes go through it; this connection reads. */
  readonly #writer: StoreWriter | undefined;

  /** The committed traces of spool_commits rows up to id #committedSeen (see committed-index.ts). */
  readonly #committedIndex = new CommittedTraceIndex();
  #committedSeen = 0;

  private constructor(db: Database, location: string, options: SqliteStoreOptions, minuteRowsSinceMs: number | undefined) {
    super(options, minuteRowsSinceMs);
    this.db = db;
    this.location = location;
    this.#summaries = new Summaries(db);
    this.#writer = options.writerThread === undefined || options.writerThread === false ? undefined : new StoreWriter(location, options.writerThread === true ? {} : options.writerThread);
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
  static open(path: string, options: SqliteStoreOptions = {}): SqliteStore {
    if (options.writerThread !== undefined && options.writerThread !== false && path === ':memory:') throw new StoreOpenError('an in-memory store cannot have a writer thread');
    let db: Database | undefined;
    try {
      db = new BetterSqlite3(path, { timeout: OPEN_BUSY_WAIT_MS });
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      db.pragma('foreign_keys = ON');
      migrate(db, (options.now ?? Date.now)());
      db.pragma(`busy_timeout = ${BUSY_WAIT_MS}`);
      const mark = db.prepare('SELECT at_ms FROM store_marks WHERE name = ?').get(MINUTE_ROWS_MARK) as { at_ms: number } | undefined;
      return new SqliteStore(db, path, options, mark?.at_ms);
    } catch (e) {
      db?.close();
      throw new StoreOpenError(`cannot open the store ${path}: ${(e as Error).message}`);
    }
  }

  async close(): Promise<void> {
    await this.#writer?.close();
    this.closeSync();
  }

  /** Closes at once (the file handle; a writer thread is stopped, its write in flight rolled back); for callers that cannot wait. */
  closeSync(): void {
    this.#writer?.terminate();
    if (this.db.open) this.db.close();
  }

  /**
   * The rows are made ROWS_SLICE requests at a time, letting the event loop through in between (serve
   * calls this from its intake), then written in one transaction: on the writer thread when there is
   * one, here otherwise.
   */
  async record(analyses: readonly RequestAnalysis[], committed?: CommittedTraces, built?: RowBatchBuilder, outside: readonly OutsideQueries[] = []): Promise<string[]> {
    const continuations = committed === undefined ? [] : continuationKeys(analyses);
    const traceIds: CommittedIds | undefined =
      committed === undefined ? undefined : { traceIds: [...new Set([...committed.traceIds, ...continuations])], nowMs: committed.nowMs, awaited: committed.awaited ?? [] };
    let counted = analyses;
    const known: string[] = [];
    for (;;) {
      const rows =
        counted.length === 0 ? undefined : counted === analyses && built !== undefined ? await this.#finishYielding(built) : await this.#rowsYielding(counted);
      const again = this.#writer === undefined ? this.writeRowsSync(rows, traceIds, known, outside) : await this.#writer.write(rows, traceIds, known, outside);
      if (again.length === 0) {
        const continued = new Set(continuations);
        return known.filter((id) => !continued.has(id));
      }
      // Another write committed some of these first: nothing was written; count the rest.
      known.push(...again);
      counted = notCommitted(analyses, new Set(known));
    }
  }

  /** The batch's rows, built ROWS_SLICE requests at a time, then summed, with the event loop let through in between. */
  async #rowsYielding(analyses: readonly RequestAnalysis[]): Promise<RowBatch> {
    const builder = this.rowBuilder();
    for (let i = 0; i < analyses.length; i += ROWS_SLICE) {
      if (i > 0) await nextTurn();
      builder.add(analyses.slice(i, i + ROWS_SLICE));
    }
    return this.#finishYielding(builder);
  }

  /**
   * Sums a batch's rows. Summing (its hours, examples, route traffic) and the transaction are
   * stretches of their own, 10-40 ms each for a second's requests on a busy core: exports waiting go
   * in between.
   */
  async #finishYielding(builder: RowBatchBuilder): Promise<RowBatch> {
    await nextTurn();
    const rows = builder.finish();
    await nextTurn();
    return rows;
  }

  /**
   * The writer thread's write (writer.ts): `rows`, `outside` (but for the traces in `known`) and the
   * committed traces in one transaction. A trace already committed (by an earlier run, another
   * instance), unless in `known`, makes it write nothing and return those traces, so the caller
   * counts its batch again without them.
   */
  writeRowsSync(rows: RowBatch | undefined, committed: CommittedIds | undefined, known: readonly string[], outside: readonly OutsideQueries[] = []): string[] {
    const again: string[] = [];
    const fresh: string[] = [];
    let appended: number | undefined;
    try {
      this.#transaction(() => {
        if (committed !== undefined) {
          // Inside the write lock, so no other connection's commit can come between the check and the append.
          this.#catchUpCommitted();
          const skip = new Set(known);
          for (const id of committed.traceIds) {
            if (!this.#committedIndex.has(id)) fresh.push(id);
            else if (!skip.has(id)) again.push(id);
          }
          if (again.length > 0) throw RECOUNT; // rolls the transaction back
          if (fresh.length > 0) {
            appended = Number(this.#prepare('INSERT INTO spool_commits (committed_ms, trace_ids) VALUES (?, ?)').run(committed.nowMs, JSON.stringify(fresh)).lastInsertRowid);
          }
          // What another writer committed, it awaits: never overwritten here.
          for (const [traceId, calls] of committed.awaited) {
            if (skip.has(traceId)) continue;
            if (calls.length === 0) this.#prepare('DELETE FROM commit_awaits WHERE trace_id = ?').run(traceId);
            else this.#prepare('INSERT OR REPLACE INTO commit_awaits (trace_id, committed_ms, calls) VALUES (?, ?, ?)').run(traceId, committed.nowMs, JSON.stringify(calls));
          }
        }
        if (rows !== undefined) this.#writeRows(rows);
        const add = this.#prepare(
          'INSERT INTO outside_query_hours (hour, service, queries) VALUES (?, ?, ?) ON CONFLICT (hour, service) DO UPDATE SET queries = queries + excluded.queries',
        );
        for (const row of outsideQueryHours(outside, new Set(known))) add.run(...row);
      });
    } catch (e) {
      if (e !== RECOUNT) throw e;
      return again;
    }
    // Only once the transaction has committed: a rolled-back write notes nothing.
    if (appended !== undefined) {
      this.#committedIndex.add(fresh, committed!.nowMs);
      this.#committedSeen = appended;
    }
    return again;
  }

  /** Adds to the index the commits appended since it last looked (by the writer thread, another connection, an earlier run). */
  #catchUpCommitted(): void {
    const rows = this.#prepare('SELECT id, committed_ms, trace_ids FROM spool_commits WHERE id > ? ORDER BY id').all(this.#committedSeen) as {
      id: number;
      committed_ms: number;
      trace_ids: string;
    }[];
    for (const row of rows) {
      this.#committedIndex.add(JSON.parse(row.trace_ids) as string[], row.committed_ms);
      this.#committedSeen = row.id;
    }
  }

  /** record() without the promise: the offline report fills an in-memory store as it analyses. */
  recordSync(analyses: readonly RequestAnalysis[]): void {
    this.#transaction(() => this.#record(analyses));
  }

  async committed(traceIds: readonly string[]): Promise<Set<string>> {
    this.#catchUpCommitted();
    return new Set(traceIds.filter((id) => this.#committedIndex.has(id)));
  }

  async awaitedCalls(traceIds: readonly string[]): Promise<Map<string, AwaitedCall[]>> {
    const get = this.#prepare('SELECT calls FROM commit_awaits WHERE trace_id = ?');
    const out = new Map<string, AwaitedCall[]>();
    for (const id of new Set(traceIds)) {
      const row = get.get(id) as { calls: string } | undefined;
      if (row !== undefined) out.set(id, JSON.parse(row.calls) as AwaitedCall[]);
    }
    return out;
  }

  async pruneCommitted(beforeMs: number): Promise<void> {
    if (this.#writer === undefined) return this.pruneCommittedSync(beforeMs);
    this.#committedIndex.dropBefore(beforeMs);
    return this.#writer.pruneCommitted(beforeMs);
  }

  pruneCommittedSync(beforeMs: number): void {
    // The newest row stays: with the table empty, the next commit would take id 1 again, and every
    // other connection, having read past it, would never see it (#catchUpCommitted reads by id).
    this.#prepare('DELETE FROM spool_commits WHERE committed_ms < ? AND id < (SELECT max(id) FROM spool_commits)').run(beforeMs);
    this.#prepare('DELETE FROM commit_awaits WHERE committed_ms < ?').run(beforeMs);
    this.#committedIndex.dropBefore(beforeMs);
  }

  async pruneBefore(beforeMs: number): Promise<number> {
    if (this.#writer === undefined) return this.pruneBeforeSync(beforeMs);
    // This connection's overview sums in memory are dropped when it sees the commit (Summaries checks data_version).
    return this.#writer.pruneBefore(beforeMs);
  }

  pruneBeforeSync(beforeMs: number): number {
    const cut = retentionStart(beforeMs);
    return this.db.transaction(() => {
      let n = 0;
      for (const grain of [HOUR_ROWS, MINUTE_ROWS]) {
        for (const table of [grain.findings, grain.fingerprints, grain.endpoints, grain.connections]) {
          n += this.#prepare(`DELETE FROM ${table} WHERE ${grain.key} < ?`).run(cut).changes;
        }
      }
      n += this.#prepare('DELETE FROM connection_seconds WHERE second < ?').run(cut / 1000).changes;
      n += this.#prepare('DELETE FROM outside_query_hours WHERE hour < ?').run(cut).changes;
      // The overview's sums must not outlive the rows they sum.
      this.#summaries.pruneBefore(cut);
      return n;
    })();
  }

  #record(analyses: readonly RequestAnalysis[]): void {
    if (analyses.length === 0) return;
    this.#writeRows(this.rowsNow(analyses));
  }

  /** Merges a batch's rows into the store (inside the writing transaction). */
  #writeRows(rows: RowBatch): void {
    this.#pruneMinutes(rows.nowMs);
    this.#summaries.touched(rows.hours.map((h) => h.start));
    for (const [grain, sets] of [[HOUR_ROWS, rows.hours], [MINUTE_ROWS, rows.minutes]] as const) {
      for (const { start, endpoints, connections } of sets) {
        for (const r of endpoints) this.#mergeRow(grain, start, r);
        for (const c of connections) this.#addConnections(grain, start, c);
      }
    }
    this.#keepExamples(rows.examples);
    for (const t of rows.traffic) this.#addRouteTraffic(t);
  }

  /** Deletes minute rows of hours past the horizon, at most every few minutes (inside the writing transaction). */
  #pruneMinutes(nowMs: number): void {
    if (nowMs - this.#minutesPrunedAt < MINUTE_PRUNE_EVERY_MS) return;
    this.#minutesPrunedAt = nowMs;
    const horizon = minuteHorizon(nowMs);
    for (const table of [MINUTE_ROWS.endpoints, MINUTE_ROWS.findings, MINUTE_ROWS.fingerprints, MINUTE_ROWS.connections]) {
      this.#prepare(`DELETE FROM ${table} WHERE minute < ?`).run(horizon);
    }
    this.#summaries.pruneMinutes(horizon);
  }

  /** Additive upserts: any number of writers may add to the same second. The seconds are written with the hour rows. */
  #addConnections(grain: Grain, start: number, c: ConnectionRollup): void {
    this.#prepare(WRITE_SQL.get(grain)!.connectionsUpsert).run(c.service, start, c.dbRequests, c.observableRequests, c.postgresqlRequests, c.opened);
    if (grain !== HOUR_ROWS) return;
    const upsert = this.#prepare(
      `INSERT INTO connection_seconds (service, instance, second, held, held_ms, db_ms, opened) VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (service, second, instance) DO UPDATE SET held = held + excluded.held, held_ms = held_ms + excluded.held_ms,
         db_ms = db_ms + excluded.db_ms, opened = opened + excluded.opened`,
    );
    for (const row of connectionSecondRows(c)) upsert.run(c.service, ...row);
  }

  #addRouteTraffic(t: RouteTraffic): void {
    const old = this.#prepare('SELECT requests, first_seen_ms, last_seen_ms, pattern, set_aside FROM route_traffic WHERE service = ? AND endpoint = ?').get(t.service, t.endpoint) as
      | RouteTrafficRow
      | undefined;
    const row = mergeRouteTraffic(old, t);
    this.#prepare(
      `INSERT INTO route_traffic (service, endpoint, requests, first_seen_ms, last_seen_ms, pattern, set_aside) VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (service, endpoint) DO UPDATE SET requests = excluded.requests, first_seen_ms = excluded.first_seen_ms,
         last_seen_ms = excluded.last_seen_ms, pattern = excluded.pattern, set_aside = excluded.set_aside`,
    ).run(t.service, t.endpoint, row.requests, row.first_seen_ms, row.last_seen_ms, row.pattern, row.set_aside);
  }

  async queriesOutsideRequests(query: Pick<PeriodQuery, 'sinceMs' | 'untilMs' | 'service'> = {}): Promise<number> {
    const { lo, hi, service } = outsideQueryRange(query);
    const row = this.#prepare(
      'SELECT coalesce(sum(queries), 0) AS n FROM outside_query_hours WHERE hour >= ? AND hour < ? AND (? IS NULL OR service = ?)',
    ).get(lo, hi, service, service) as { n: number };
    return row.n;
  }

  async connections(query: Pick<PeriodQuery, 'sinceMs' | 'untilMs' | 'byMinute'> = {}): Promise<ConnectionRollup[]> {
    const rows = this.rowsOf(query);
    const sums: ConnectionSumRow[] = [];
    for (const [g, { lo, hi }] of rangesOf(rows)) {
      const range = this.#prepare(
        `SELECT service, sum(db_requests) AS db_requests, sum(observable_requests) AS observable_requests,
           sum(postgresql_requests) AS postgresql_requests, sum(opened) AS opened
         FROM ${g.connections} WHERE ${g.key} >= ? AND ${g.key} < ? GROUP BY service`,
      ).all(lo, hi) as ConnectionSumRow[];
      sums.push(...range);
    }
    const span = periodSpan(rows);
    const seconds = this.#prepare(
      'SELECT service, instance, second, held, held_ms, db_ms, opened FROM connection_seconds WHERE second >= ? AND second < ?',
    ).all(Math.floor(span.lo / 1000), Math.ceil(span.hi / 1000)) as ConnectionSecondRow[];
    return connectionRollups(sums, seconds);
  }

  async routeTraffic(): Promise<RouteTraffic[]> {
    const rows = this.#prepare('SELECT service, endpoint, requests, first_seen_ms, last_seen_ms, pattern, set_aside FROM route_traffic').all() as (RouteTrafficRow & {
      service: string; endpoint: string;
    })[];
    return rows.map(routeTrafficFromRow);
  }


  #endpointId(r: EndpointRollup): number {
    const row = this.#prepare(
      `INSERT INTO endpoints (service, endpoint, first_seen_ms, last_seen_ms) VALUES (?, ?, ?, ?)
       ON CONFLICT (service, endpoint) DO UPDATE SET
         first_seen_ms = min(first_seen_ms, excluded.first_seen_ms),
         last_seen_ms = max(last_seen_ms, excluded.last_seen_ms)
       RETURNING id`,
    ).get(r.service, r.endpoint, r.firstSeenMs, r.lastSeenMs) as { id: number };
    return row.id;
  }

  /** Statements are never deleted, so one this connection has seen committed needs no INSERT again. */
  #statement(fingerprint: string, sql: string, facts: SqlFacts): void {
    if (this.#statementsStored.has(fingerprint)) return;
    this.#prepare('INSERT OR IGNORE INTO statements (fingerprint, sql, facts) VALUES (?, ?, ?)').run(fingerprint, sql, JSON.stringify(facts));
    this.#statementsWritten.push(fingerprint);
  }

  /** Runs a writing transaction; the statements it inserted count as stored only once it commits. */
  #transaction<T>(write: () => T): T {
    this.#statementsWritten = [];
    // IMMEDIATE: a write that reads first (the committed check) holds the write lock from its start.
    const result = this.db.transaction(write).immediate();
    for (const fingerprint of this.#statementsWritten) this.#statementsStored.add(fingerprint);
    this.#statementsWritten = [];
    return result;
  }

  #findingId(endpointId: number, c: CascadeRollup, r: EndpointRollup): number {
    const row = this.#prepare(FINDING_UPSERT).get(endpointId, c.fingerprint, c.kind, JSON.stringify(findingLink(c)), r.firstSeenMs, r.lastSeenMs) as { id: number };
    return row.id;
  }

  /** Merges an endpoint's rollup into its rows starting at `start` (an hour or a minute), with the period summaries beside them. */
  #mergeRow(grain: Grain, start: number, r: EndpointRollup): void {
    const sql = WRITE_SQL.get(grain)!;
    const endpointId = this.#endpointId(r);
    const old = this.#prepare(sql.endpointRow).get(endpointId, start) as
      | EndpointHourRow
      | undefined;
    const e = mergeEndpointHour(old, r);
    this.#prepare(sql.endpointUpsert).run(endpointId, start, e.requests, e.db_spans, e.repeats, e.wasted_ms, e.rollup);
    this.#summaries.endpointRow(grain.sizeMs, endpointId, start, endpointHourRollup(r.endpoint, r.service, e), r);

    for (const c of r.cascades.values()) {
      this.#statement(c.fingerprint, c.sql, c.facts);
      const findingId = this.#findingId(endpointId, c, r);
      const prev = this.#prepare(sql.findingRow).get(findingId, start) as
        | FindingHourRow
        | undefined;
      const f = mergeFindingHour(prev, c);
      this.#summaries.findingRow(grain.sizeMs, findingId, start, f.requests_affected, f.executions, f.wasted_ms);
      this.#prepare(sql.findingUpsert).run(findingId, start, f.requests_affected, f.executions, f.wasted_ms, f.rollup);
    }

    for (const fp of r.fingerprints.values()) {
      this.#statement(fp.fingerprint, fp.sql, fp.facts);
      const prev = this.#prepare(sql.fingerprintRow).get(endpointId, fp.fingerprint, start) as FingerprintHourRow | undefined;
      const [f, exampleMaxMs] = mergeFingerprintHourWithMax(prev, fp);
      if (fp.facts.operation === 'SELECT' && !fp.facts.transactionControl && !r.cascades.has(fp.fingerprint)) {
        this.#summaries.selectRow(grain.sizeMs, endpointId, fp.fingerprint, start, f.requests, f.executions, f.total_ms, exampleMaxMs);
      }
      this.#prepare(sql.fingerprintUpsert).run(endpointId, fp.fingerprint, start, f.requests, f.executions, f.total_ms, f.rollup);
    }
  }

  /** Keeps, per finding, the request where it wasted the most, with that request's DB timeline. */
  #keepExamples(examples: readonly ExampleRow[]): void {
    const find = this.#prepare(
      `SELECT f.id FROM findings f JOIN endpoints e ON e.id = f.endpoint_id WHERE e.service = ? AND e.endpoint = ? AND f.fingerprint = ?`,
    );
    const upsert = this.#prepare(
      `INSERT INTO examples (finding_id, trace_id, wasted_ms, timeline, location, trigger_location) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (finding_id) DO UPDATE SET trace_id = excluded.trace_id, wasted_ms = excluded.wasted_ms, timeline = excluded.timeline,
         location = excluded.location, trigger_location = excluded.trigger_location
       WHERE excluded.wasted_ms > examples.wasted_ms`,
    );
    for (const x of examples) {
      const row = find.get(x.service, x.endpoint, x.fingerprint) as { id: number } | undefined;
      if (row === undefined) continue;
      upsert.run(row.id, x.traceId, x.wastedMs, x.timeline, x.location, x.triggerLocation);
    }
  }

  async rollups(query: PeriodQuery = {}): Promise<EndpointRollup[]> {
    const ranges = rangesOf(this.rowsOf(query));
    const keep = endpointsOf(query);
    const endpoints = this.#prepare('SELECT id, service, endpoint FROM endpoints').all() as { id: number; service: string; endpoint: string }[];
    const kept = endpoints.filter(keep).map((e) => e.id);
    if (kept.length === 0) return [];
    // One pass per table and range (whole hours, minutes at the edges). The ranges never overlap, so a
    // minute row never shares its (endpoint, start) with an hour row. One endpoint's page (or a service)
    // reads only its endpoints' rows; a whole report reads every row without the id list.
    const only = kept.length === endpoints.length ? undefined : JSON.stringify(kept);
    const ids = (column: string): string => (only === undefined ? '' : `AND ${column} IN (SELECT value FROM json_each(?))`);
    const args = (lo: number, hi: number): unknown[] => (only === undefined ? [lo, hi] : [lo, hi, only]);
    // flatMap, not push(...rows): a week of a thousand endpoints is more rows than a call's arguments may be.
    const endpointRows = ranges.flatMap(
      ([g, { lo, hi }]) =>
        this.#prepare(
          `SELECT endpoint_id, ${g.key} AS hour, requests, db_spans, wasted_ms, rollup FROM ${g.endpoints}
           WHERE ${g.key} >= ? AND ${g.key} < ? ${ids('endpoint_id')} ORDER BY endpoint_id, ${g.key}`,
        ).all(...args(lo, hi)) as Parameters<typeof assembleRollups>[1][number][],
    );
    const findingRows = ranges.flatMap(
      ([g, { lo, hi }]) =>
        this.#prepare(
          `SELECT f.endpoint_id, h.${g.key} AS hour, f.fingerprint, f.kind, f.link, s.sql, s.facts, h.requests_affected, h.executions, h.wasted_ms, h.rollup
           FROM ${g.findings} h JOIN findings f ON f.id = h.finding_id JOIN statements s ON s.fingerprint = f.fingerprint
           WHERE h.${g.key} >= ? AND h.${g.key} < ? ${ids('f.endpoint_id')} ORDER BY h.finding_id, h.${g.key}`,
        ).all(...args(lo, hi)) as Parameters<typeof assembleRollups>[2][number][],
    );
    const fingerprintRows = ranges.flatMap(
      ([g, { lo, hi }]) =>
        this.#prepare(
          `SELECT h.endpoint_id, h.${g.key} AS hour, h.fingerprint, s.sql, s.facts, h.requests, h.executions, h.total_ms, h.rollup
           FROM ${g.fingerprints} h JOIN statements s ON s.fingerprint = h.fingerprint
           WHERE h.${g.key} >= ? AND h.${g.key} < ? ${ids('h.endpoint_id')} ORDER BY h.endpoint_id, h.fingerprint, h.${g.key}`,
        ).all(...args(lo, hi)) as Parameters<typeof assembleRollups>[3][number][],
    );
    return assembleRollups(endpoints, ranges.length > 1 ? byEndpointAndStart(endpointRows) : endpointRows, findingRows, fingerprintRows);
  }

  override async periodSummary(query: PeriodQuery, options: { slowMs: number; closedBeforeMs: number }): Promise<SummaryEndpoint[]> {
    const keep = endpointsOf(query);
    return this.#summaries.endpoints(this.rowsOf(query), options.slowMs, options.closedBeforeMs).filter((e) => keep(e.rollup));
  }

  override async trendBuckets(
    query: Pick<PeriodQuery, 'sinceMs' | 'untilMs' | 'byMinute'>,
    axis: { startMs: number; sizeMs: number; count: number },
    closedBeforeMs: number,
  ): Promise<Map<number, SummaryBucket[]>> {
    return this.#summaries.trends(this.rowsOf(query), axis, closedBeforeMs);
  }

  override async firstHour(query: Pick<PeriodQuery, 'sinceMs' | 'untilMs' | 'byMinute'> = {}): Promise<number | undefined> {
    return this.#summaries.firstHour(this.rowsOf(query));
  }

  async endpoints(): Promise<StoredEndpoint[]> {
    return this.#prepare(
      `SELECT e.id, e.service, e.endpoint, e.first_seen_ms AS firstSeenMs, e.last_seen_ms AS lastSeenMs,
         coalesce(sum(h.requests), 0) AS requests, coalesce(sum(h.db_spans), 0) AS dbSpans,
         coalesce(sum(h.wasted_ms), 0) AS wastedMs,
         (SELECT count(*) FROM findings f WHERE f.endpoint_id = e.id) AS findings
       FROM endpoints e LEFT JOIN endpoint_hours h ON h.endpoint_id = e.id
       GROUP BY e.id ORDER BY wastedMs DESC, e.endpoint`,
    ).all() as StoredEndpoint[];
  }

  async finding(id: number): Promise<StoredFinding | undefined> {
    const row = this.#prepare(
      `SELECT f.id, e.service, e.endpoint, f.fingerprint, f.kind, s.sql, f.link, f.first_seen_ms AS firstSeenMs, f.last_seen_ms AS lastSeenMs,
         coalesce(sum(h.requests_affected), 0) AS requestsAffected, coalesce(sum(h.executions), 0) AS executions,
         coalesce(sum(h.wasted_ms), 0) AS wastedMs
       FROM findings f JOIN endpoints e ON e.id = f.endpoint_id JOIN statements s ON s.fingerprint = f.fingerprint
       LEFT JOIN finding_hours h ON h.finding_id = f.id WHERE f.id = ? GROUP BY f.id`,
    ).get(id) as (Omit<StoredFinding, 'trigger' | 'steps' | 'example'> & { link: string }) | undefined;
    if (row === undefined || row.id === null) return undefined;
    const ex = this.#prepare('SELECT trace_id, wasted_ms, timeline, location, trigger_location FROM examples WHERE finding_id = ?').get(id) as ExampleRead | undefined;
    return storedFinding(row, ex);
  }

  async endpointHours(query: Pick<PeriodQuery, 'sinceMs' | 'untilMs' | 'byMinute'> = {}, endpointId?: number): Promise<EndpointHour[]> {
    const ranges = rangesOf(this.rowsOf(query));
    const out = ranges.flatMap(([g, { lo, hi }]) => {
      const columns = `endpoint_id, endpoint_id AS endpointId, ${g.key} AS hour, requests, db_spans AS dbSpans, wasted_ms AS wastedMs`;
      const rows =
        endpointId === undefined
          ? this.#prepare(`SELECT ${columns} FROM ${g.endpoints} WHERE ${g.key} >= ? AND ${g.key} < ? ORDER BY endpoint_id, ${g.key}`).all(lo, hi)
          : this.#prepare(`SELECT ${columns} FROM ${g.endpoints} WHERE endpoint_id = ? AND ${g.key} >= ? AND ${g.key} < ? ORDER BY ${g.key}`).all(endpointId, lo, hi);
      return rows as (EndpointHour & { endpoint_id: number })[];
    });
    return (ranges.length > 1 ? byEndpointAndStart(out) : out).map(({ endpoint_id: _, ...h }) => h);
  }

  async findingHours(findingId: number, query: Pick<PeriodQuery, 'sinceMs' | 'untilMs' | 'byMinute'> = {}): Promise<FindingHour[]> {
    const out: FindingHour[] = [];
    for (const [g, { lo, hi }] of rangesOf(this.rowsOf(query))) {
      out.push(
        ...(this.#prepare(
          `SELECT ${g.key} AS hour, requests_affected AS requestsAffected, executions, wasted_ms AS wastedMs
           FROM ${g.findings} WHERE finding_id = ? AND ${g.key} >= ? AND ${g.key} < ? ORDER BY ${g.key}`,
        ).all(findingId, lo, hi) as FindingHour[]),
      );
    }
    return out.sort((a, b) => a.hour - b.hour);
  }

  async endpointRefs(): Promise<EndpointRef[]> {
    return this.#prepare('SELECT id, service, endpoint FROM endpoints ORDER BY service, endpoint').all() as EndpointRef[];
  }

  async statementSql(fingerprints: readonly string[]): Promise<Map<string, string>> {
    const get = this.#prepare('SELECT sql FROM statements WHERE fingerprint = ?');
    const out = new Map<string, string>();
    for (const fp of new Set(fingerprints)) {
      const row = get.get(fp) as { sql: string } | undefined;
      if (row !== undefined) out.set(fp, row.sql);
    }
    return out;
  }

  async services(): Promise<string[]> {
    return (this.#prepare('SELECT DISTINCT service FROM endpoints ORDER BY service').all() as { service: string }[]).map((r) => r.service);
  }

  async acknowledge(a: Acknowledgement): Promise<void> {
    this.#prepare(
      `INSERT INTO acknowledgements (signature, service, endpoint, kind, table_name, state, reason, expires, created_ms)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (signature) DO UPDATE SET state = excluded.state, reason = excluded.reason, expires = excluded.expires, created_ms = excluded.created_ms`,
    ).run(a.signature, a.service, a.endpoint, a.kind, a.table, a.state, a.reason, a.expires ?? null, a.createdMs);
  }

  async unacknowledge(signature: string): Promise<boolean> {
    return this.#prepare('DELETE FROM acknowledgements WHERE signature = ?').run(signature).changes > 0;
  }

  async acknowledgements(): Promise<Acknowledgement[]> {
    const rows = this.#prepare(
      'SELECT signature, service, endpoint, kind, table_name, state, reason, expires, created_ms FROM acknowledgements ORDER BY created_ms, signature',
    ).all() as AcknowledgementRow[];
    return rows.map(acknowledgementOf);
  }

  async peerVerdicts(): Promise<PeerVerdict[]> {
    const rows = this.#prepare(`SELECT peer, opaque FROM peer_verdicts ORDER BY changed_ms DESC, peer LIMIT ${MAX_PEERS}`).all() as { peer: string; opaque: number }[];
    return rows.map((r) => ({ peer: r.peer, opaque: r.opaque === 1 }));
  }

  async recordPeerVerdicts(verdicts: readonly PeerVerdict[]): Promise<void> {
    const upsert = this.#prepare(
      `INSERT INTO peer_verdicts (peer, opaque, changed_ms) VALUES (?, ?, ?)
       ON CONFLICT (peer) DO UPDATE SET opaque = excluded.opaque, changed_ms = excluded.changed_ms WHERE peer_verdicts.opaque = 1`,
    );
    const prune = this.#prepare(PRUNE_PEER_VERDICTS);
    const nowMs = this.now();
    this.db.transaction(() => {
      for (const v of verdicts) upsert.run(v.peer, v.opaque ? 1 : 0, nowMs);
      if (verdicts.length > 0) prune.run();
    })();
  }

  async mark(name: string): Promise<number | undefined> {
    return (this.#prepare('SELECT at_ms FROM store_marks WHERE name = ?').get(name) as { at_ms: number } | undefined)?.at_ms;
  }

  async moveMark(name: string, from: number | undefined, to: number | undefined): Promise<boolean> {
    if (from === undefined && to === undefined) return (await this.mark(name)) === undefined;
    const moved =
      from === undefined
        ? this.#prepare('INSERT INTO store_marks (name, at_ms) VALUES (?, ?) ON CONFLICT (name) DO NOTHING').run(name, to)
        : to === undefined
          ? this.#prepare('DELETE FROM store_marks WHERE name = ? AND at_ms = ?').run(name, from)
          : this.#prepare('UPDATE store_marks SET at_ms = ? WHERE name = ? AND at_ms = ?').run(to, name, from);
    return moved.changes === 1;
  }

  async findingCount(): Promise<number> {
    return (this.#prepare('SELECT count(*) AS n FROM findings').get() as { n: number }).n;
  }

  async findingIds(): Promise<Map<string, number>> {
    const rows = this.#prepare('SELECT f.id, e.service, e.endpoint, f.fingerprint FROM findings f JOIN endpoints e ON e.id = f.endpoint_id').all() as FindingIdRow[];
    return findingIdMap(rows);
  }
}
