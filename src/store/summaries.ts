/**
 * Narrow period summaries (migration 7): the hourly rollups' additive figures, written per hour (and
 * per minute for the last 48 h, read at a period's edges) with them and built per 6 hours, day and week once those are over, so a period is summed in SQL from
 * a few dozen rows per endpoint instead of decoding every hour's JSON. What the overview reads.
 * Sums over blocks that are over are kept in memory until a write lands in one of their hours, and
 * so are the minute rows of a settled hour a period's edge falls in (see MinuteHour).
 */
import type { Database, Statement } from 'better-sqlite3';
import { bucketEdgeMs, firstBucketReaching, mergeCounts, type DurationHistogram } from '../detect/histogram.js';
import { emptyEndpointRollup, type CascadeRollup, type EndpointRollup } from '../detect/rollup.js';
import type { LeafShape, RelationStep, TriggerRef } from '../detect/types.js';
import { DAY_MS, HOUR_MS, MINUTE_MS } from '../report/period.js';
import { MinuteHour } from './minute-hour.js';
import type { PeriodRows, StartRange } from './store.js';
import type { SqlFacts } from '../sql/types.js';

/** Summary row sizes, smallest first; each divides the next and all are aligned to the epoch. */
const SIZES = [HOUR_MS, 6 * HOUR_MS, DAY_MS, 7 * DAY_MS] as const;
const COARSE = SIZES.slice(1);

/** A run of same-size summary rows: starts in [from, to). */
interface Run {
  size: number;
  from: number;
  to: number;
}

/** An endpoint's figures over a period, from its summary rows. */
export interface SummaryEndpoint {
  id: number;
  /**
   * What the ranking reads: totals, queries per request, framework noise, outbound calls, each cascade's
   * counts and each SELECT's counts (durations only for a statement whose p95 may reach `slowMs`).
   * Left out: request durations, DB ms, repeats per request, examples and code locations.
   */
  rollup: EndpointRollup;
}

/** One trend bucket of an endpoint. */
export interface SummaryBucket {
  startMs: number;
  requests: number;
  dbSpans: number;
  wastedMs: number;
}

type Pairs = [number, number][];

/** The period summaries of one store connection: written by Store.record, read by the overview. */
export class Summaries {
  readonly #db: Database;
  // Its own statements: reads here are switched to raw (array) rows, which must not leak into the Store's.
  readonly #statements = new Map<string, Statement>();
  /** Results over settled runs, least recently used first (see #cached). */
  readonly #settled = new Map<string, { from: number; to: number; value: unknown; rows: number }>();
  /** SQLite's data_version when they were kept: it moves when another connection commits. */
  #settledVersion = -1;
  /** Settled hours' minute rows, read at a period edge inside them; least recently used first (see #minuteHour). */
  readonly #minuteHours = new Map<number, MinuteHour>();

  constructor(db: Database) {
    this.#db = db;
  }

  #prepare(sql: string): Statement {
    let statement = this.#statements.get(sql);
    if (statement === undefined) {
      statement = this.#db.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }

  // ---- writes, beside the hourly rollups ----

  /** An endpoint hour's (or minute's: `size`) totals as they now stand, plus this batch's queries-per-request and noise counts. */
  endpointRow(size: number, endpointId: number, hour: number, merged: EndpointRollup, part: EndpointRollup): void {
    this.#prepare(
      `INSERT INTO summary_endpoints (size, start, endpoint_id, requests, db_spans, wasted_ms, first_seen_ms, last_seen_ms, outbound_requests, outbound_ms)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (size, start, endpoint_id) DO UPDATE SET requests = excluded.requests, db_spans = excluded.db_spans, wasted_ms = excluded.wasted_ms,
         first_seen_ms = excluded.first_seen_ms, last_seen_ms = excluded.last_seen_ms, outbound_requests = excluded.outbound_requests, outbound_ms = excluded.outbound_ms`,
    ).run(size, hour, endpointId, merged.requests, merged.dbSpans, merged.wastedMs, merged.firstSeenMs, merged.lastSeenMs, merged.outbound.requests, merged.outbound.totalMs);
    const queries = this.#prepare(
      `INSERT INTO summary_queries (size, start, endpoint_id, queries, requests) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (size, start, endpoint_id, queries) DO UPDATE SET requests = requests + excluded.requests`,
    );
    for (const [n, requests] of part.queriesPerRequest) queries.run(size, hour, endpointId, n, requests);
    const noise = this.#prepare(
      `INSERT INTO summary_noise (size, start, endpoint_id, rule, dropped) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (size, start, endpoint_id, rule) DO UPDATE SET dropped = dropped + excluded.dropped`,
    );
    for (const [rule, dropped] of part.noiseDropped) noise.run(size, hour, endpointId, rule, dropped);
  }

  /** A finding hour's (or minute's) counts as they now stand. */
  findingRow(size: number, findingId: number, hour: number, requestsAffected: number, executions: number, wastedMs: number): void {
    this.#prepare(
      `INSERT INTO summary_findings (size, start, finding_id, requests_affected, executions, wasted_ms) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (size, start, finding_id) DO UPDATE SET requests_affected = excluded.requests_affected,
         executions = excluded.executions, wasted_ms = excluded.wasted_ms`,
    ).run(size, hour, findingId, requestsAffected, executions, wastedMs);
  }

  /**
   * A SELECT's hour as it now stands (hot_lookup and slow_query read these). Hours where it looped
   * are left out by the caller: a statement that is a cascade anywhere in a period is never read
   * as a lookup there, so those rows would only be skipped.
   */
  selectRow(size: number, endpointId: number, fingerprint: string, hour: number, requests: number, executions: number, totalMs: number, maxMs: number): void {
    this.#prepare(
      `INSERT INTO summary_selects (size, start, endpoint_id, fingerprint, requests, executions, total_ms, max_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (size, start, endpoint_id, fingerprint) DO UPDATE SET requests = excluded.requests, executions = excluded.executions,
         total_ms = excluded.total_ms, max_ms = excluded.max_ms`,
    ).run(size, hour, endpointId, fingerprint, requests, executions, totalMs, maxMs);
  }

  /** Deletes the minute rows of hours before `horizon` (they are kept 48 h; see minuteHorizon). */
  pruneMinutes(horizon: number): void {
    for (const table of ['summary_endpoints', 'summary_queries', 'summary_noise', 'summary_findings', 'summary_selects']) {
      this.#prepare(`DELETE FROM ${table} WHERE size = ${MINUTE_MS} AND start < ?`).run(horizon);
    }
    for (const hour of this.#minuteHours.keys()) if (hour < horizon) this.#minuteHours.delete(hour);
  }

  /**
   * Retention: deletes every summary row starting before `beforeMs`, as the hourly rows are. A coarse
   * block reaching past it is deleted with its mark, and rebuilt from the hours left when next read.
   */
  pruneBefore(beforeMs: number): void {
    for (const table of ['summary_endpoints', 'summary_queries', 'summary_noise', 'summary_findings', 'summary_selects', 'summary_durations', 'summary_blocks']) {
      this.#prepare(`DELETE FROM ${table} WHERE start < ?`).run(beforeMs);
    }
    this.#settled.clear();
    this.#minuteHours.clear();
  }

  /** A write to an hour makes the built 6-hour, day and week rows around it stale: they are rebuilt when next read. */
  touched(hours: Iterable<number>): void {
    const drop = this.#prepare('DELETE FROM summary_blocks WHERE size = ? AND start = ?');
    for (const hour of hours) {
      for (const size of COARSE) drop.run(size, Math.floor(hour / size) * size);
      for (const [key, kept] of this.#settled) if (hour >= kept.from && hour < kept.to) this.#settled.delete(key);
      this.#minuteHours.delete(hour);
    }
  }

  // ---- coarse rows, built once their period is over ----

  /**
   * Builds the missing coarse rows of every block inside [lo, hi) that ends before `closedBeforeMs`.
   * A block is built in an IMMEDIATE transaction: it reads the finer rows before it writes, and a
   * deferred transaction doing that while another connection writes the file (serve's writer thread,
   * a shard, a digest) fails with SQLITE_BUSY when it comes to write. When the file is locked, the
   * blocks are left for a later read: the period is summed from
   * its hours meanwhile (#runs takes only built blocks). The lock is tried once, without the
   * connection's busy timeout: a read runs on the thread that takes exports, and waiting there for
   * another connection's write (serve's writer thread, a shard) would hold every export up with it.
   */
  #ensure(lo: number, hi: number, closedBeforeMs: number): void {
    const end = Math.min(hi, closedBeforeMs);
    for (let level = 1; level < SIZES.length; level++) {
      const size = SIZES[level]!;
      const first = Math.ceil(lo / size) * size;
      if (first + size > end) continue;
      const built = this.#built(size, first, end);
      for (let start = first; start + size <= end; start += size) {
        if (built.has(start)) continue;
        if (!this.#buildOnce(level, start)) return;
      }
    }
  }

  /** One block built in an IMMEDIATE transaction, its lock tried once (see #ensure); false when the file was locked. */
  #buildOnce(level: number, start: number): boolean {
    const busyTimeout = this.#db.pragma('busy_timeout', { simple: true }) as number;
    this.#db.pragma('busy_timeout = 0');
    try {
      this.#db.transaction(() => this.#build(level, start)).immediate();
      return true;
    } catch (e) {
      if (String((e as { code?: unknown }).code).startsWith('SQLITE_BUSY')) return false;
      throw e;
    } finally {
      this.#db.pragma(`busy_timeout = ${busyTimeout}`);
    }
  }

  #built(size: number, from: number, to: number): Set<number> {
    const rows = this.#prepare('SELECT start FROM summary_blocks WHERE size = ? AND start >= ? AND start < ?').raw().all(size, from, to) as [number][];
    return new Set(rows.map((r) => r[0]));
  }

  /** One coarse block from the next smaller size when all of its blocks are built, else from the hours. */
  #build(level: number, start: number): void {
    const size = SIZES[level]!;
    const end = start + size;
    const finer = SIZES[level - 1]!;
    const source = finer === HOUR_MS || this.#built(finer, start, end).size === size / finer ? finer : HOUR_MS;
    for (const table of ['summary_endpoints', 'summary_queries', 'summary_noise', 'summary_findings', 'summary_selects']) {
      this.#prepare(`DELETE FROM ${table} WHERE size = ? AND start = ?`).run(size, start);
    }
    // Keyed statement first, so this one scans; a block is rebuilt only after a late write.
    this.#prepare('DELETE FROM summary_durations WHERE size = ? AND start = ?').run(size, start);
    const range = [size, start, source, start, end] as const;
    this.#prepare(
      `INSERT INTO summary_endpoints SELECT ?, ?, endpoint_id, sum(requests), sum(db_spans), sum(wasted_ms), min(first_seen_ms), max(last_seen_ms),
         sum(outbound_requests), sum(outbound_ms)
       FROM summary_endpoints WHERE size = ? AND start >= ? AND start < ? GROUP BY endpoint_id`,
    ).run(...range);
    this.#prepare(
      `INSERT INTO summary_queries SELECT ?, ?, endpoint_id, queries, sum(requests)
       FROM summary_queries WHERE size = ? AND start >= ? AND start < ? GROUP BY endpoint_id, queries`,
    ).run(...range);
    this.#prepare(
      `INSERT INTO summary_noise SELECT ?, ?, endpoint_id, rule, sum(dropped)
       FROM summary_noise WHERE size = ? AND start >= ? AND start < ? GROUP BY endpoint_id, rule`,
    ).run(...range);
    this.#prepare(
      `INSERT INTO summary_findings SELECT ?, ?, finding_id, sum(requests_affected), sum(executions), sum(wasted_ms)
       FROM summary_findings WHERE size = ? AND start >= ? AND start < ? GROUP BY finding_id`,
    ).run(...range);
    // Durations merge in JS: hour rows keep theirs in fingerprint_hours' JSON.
    const merged = new Map<string, { endpointId: number; fingerprint: string; requests: number; executions: number; totalMs: number; maxMs: number; durations: DurationHistogram }>();
    for (const [endpointId, fingerprint, requests, executions, totalMs, maxMs, durations] of this.#durationRows(source, start, end)) {
      const key = `${endpointId}:${fingerprint}`;
      let m = merged.get(key);
      if (m === undefined) {
        m = { endpointId, fingerprint, requests: 0, executions: 0, totalMs: 0, maxMs: -1, durations: new Map() };
        merged.set(key, m);
      }
      m.requests += requests;
      m.executions += executions;
      m.totalMs += totalMs;
      if (maxMs > m.maxMs) m.maxMs = maxMs;
      if (durations !== null) mergeCounts(m.durations, new Map(JSON.parse(durations) as Pairs));
    }
    const insert = this.#prepare(
      'INSERT INTO summary_selects (size, start, endpoint_id, fingerprint, requests, executions, total_ms, max_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
    );
    const insertDurations = this.#prepare('INSERT INTO summary_durations (endpoint_id, fingerprint, size, start, durations) VALUES (?, ?, ?, ?, ?)');
    for (const m of merged.values()) {
      insert.run(size, start, m.endpointId, m.fingerprint, m.requests, m.executions, m.totalMs, m.maxMs);
      insertDurations.run(m.endpointId, m.fingerprint, size, start, JSON.stringify([...m.durations]));
    }
    this.#prepare('INSERT OR REPLACE INTO summary_blocks (size, start) VALUES (?, ?)').run(size, start);
  }

  /** SELECT rows of one size in [from, to) with their durations JSON. */
  #durationRows(size: number, from: number, to: number): [number, string, number, number, number, number, string | null][] {
    if (size === HOUR_MS) {
      return this.#prepare(
        `SELECT s.endpoint_id, s.fingerprint, s.requests, s.executions, s.total_ms, s.max_ms, h.rollup -> '$.durations'
         FROM summary_selects s LEFT JOIN fingerprint_hours h ON h.endpoint_id = s.endpoint_id AND h.fingerprint = s.fingerprint AND h.hour = s.start
         WHERE s.size = ${HOUR_MS} AND s.start >= ? AND s.start < ?`,
      ).raw().all(from, to) as [number, string, number, number, number, number, string | null][];
    }
    return this.#prepare(
      `SELECT s.endpoint_id, s.fingerprint, s.requests, s.executions, s.total_ms, s.max_ms, d.durations
       FROM summary_selects s LEFT JOIN summary_durations d ON d.endpoint_id = s.endpoint_id AND d.fingerprint = s.fingerprint AND d.size = s.size AND d.start = s.start
       WHERE s.size = ? AND s.start >= ? AND s.start < ?`,
    ).raw().all(size, from, to) as [number, string, number, number, number, number, string | null][];
  }

  // ---- reads ----

  /** The hours [lo, hi) holding data within hour starts [lo, hi); undefined when they have none. */
  #span({ lo, hi }: StartRange): { lo: number; hi: number } | undefined {
    if (lo >= hi) return undefined;
    // Two ordered lookups: a min() and a max() in one query would scan every row between them.
    const first = this.#prepare(`SELECT start FROM summary_endpoints WHERE size = ${HOUR_MS} AND start >= ? AND start < ? ORDER BY start LIMIT 1`).pluck().get(lo, hi) as number | undefined;
    const last = this.#prepare(`SELECT start FROM summary_endpoints WHERE size = ${HOUR_MS} AND start >= ? AND start < ? ORDER BY start DESC LIMIT 1`).pluck().get(lo, hi) as number | undefined;
    return first === undefined || last === undefined ? undefined : { lo: first, hi: last + HOUR_MS };
  }

  /** [lo, hi) as runs of the largest built blocks that fit, from `sizes`. */
  #runs(lo: number, hi: number, sizes: readonly number[]): Run[] {
    const built = new Map(sizes.filter((s) => s !== HOUR_MS).map((s) => [s, this.#built(s, Math.floor(lo / s) * s, hi)]));
    const runs: Run[] = [];
    const bySize = [...sizes].sort((a, b) => b - a);
    for (let p = lo; p < hi; ) {
      const size = bySize.find((s) => p % s === 0 && p + s <= hi && (s === HOUR_MS || built.get(s)!.has(p)))!;
      const last = runs[runs.length - 1];
      if (last !== undefined && last.size === size && last.to === p) last.to = p + size;
      else runs.push({ size, from: p, to: p + size });
      p += size;
    }
    return runs;
  }

  /**
   * Sums `columns` of `table` over every run, grouped by the `keys` expressions: one statement (the
   * runs as UNION ALL branches), so SQLite adds each group once and JS sees one row per group.
   * `extra` binds the `?`s of keys and columns, in that order.
   */
  #sum(table: string, keys: readonly string[], columns: string, runs: readonly Run[], extra: readonly unknown[] = []): unknown[][] {
    const branch = `SELECT * FROM ${table} WHERE size = ? AND start >= ? AND start < ?`;
    const sql = `SELECT ${keys.join(', ')}, ${columns} FROM (${runs.map(() => branch).join(' UNION ALL ')}) GROUP BY ${keys.map((_, i) => i + 1).join(', ')}`;
    return this.#prepare(sql).raw().all(...extra, ...runs.flatMap((r) => [r.size, r.from, r.to])) as unknown[][];
  }

  /** A period's whole hours as runs of the largest built blocks (coarse blocks over by `closedBeforeMs` are built first), then its edge minutes. */
  #periodRuns(rows: PeriodRows, sizes: readonly number[], closedBeforeMs: number): Run[] {
    const runs: Run[] = [];
    const span = this.#span(rows.hours);
    if (span !== undefined) {
      this.#ensure(span.lo, span.hi, closedBeforeMs);
      runs.push(...this.#runs(span.lo, span.hi, sizes));
    }
    for (const m of rows.minutes) runs.push({ size: MINUTE_MS, from: m.lo, to: m.hi });
    return runs;
  }

  /** Where a period's first row with traffic starts: an hour, or a minute at its edge (a chart's start when the period has none). */
  firstHour(rows: PeriodRows): number | undefined {
    const first = this.#prepare(`SELECT start FROM summary_endpoints WHERE size = ${MINUTE_MS} AND start >= ? AND start < ? ORDER BY start LIMIT 1`).pluck();
    const starts = [this.#span(rows.hours)?.lo, ...rows.minutes.map((m) => first.get(m.lo, m.hi) as number | undefined)].filter((s): s is number => s !== undefined);
    return starts.length === 0 ? undefined : Math.min(...starts);
  }

  /**
   * Every endpoint with traffic in the period, as a rollup of what the ranking reads (see SummaryEndpoint).
   * `slowMs` is slow_query's threshold: only a statement whose p95 could reach it has its durations read.
   */
  endpoints(rows: PeriodRows, slowMs: number, closedBeforeMs: number): SummaryEndpoint[] {
    const runs = this.#periodRuns(rows, SIZES, closedBeforeMs);
    if (runs.length === 0) return [];
    // SELECTs: an upper bound on executions in blocks whose slowest call reaches slowMs's bucket,
    // one bucket lower than needed, so float rounding can only add candidates, never lose one.
    const slowBucket = firstBucketReaching(slowMs);
    const slowFloor = slowBucket <= 1 ? -1 : bucketEdgeMs(slowBucket - 2);
    const { closed, edges, open } = splitRuns(runs, closedBeforeMs);
    const rowsOf = (t: Totals): number => t.endpoints.size + t.queries.size + t.noise.size + t.findings.size + t.selects.size;
    const settled = closed.length === 0 ? undefined : this.#cached(`totals ${slowFloor} ${JSON.stringify(closed)}`, closed, () => this.#totals(closed, slowFloor), rowsOf);
    const atEdges = edges.map((run) => this.#minuteHour(run).totals(run.from, run.to, slowFloor));
    const fresh = open.length === 0 ? undefined : this.#totals(open, slowFloor);
    const totals = mergeTotals(settled, [...atEdges, ...(fresh === undefined ? [] : [fresh])]);

    const refs = new Map(
      (this.#prepare('SELECT id, service, endpoint FROM endpoints').raw().all() as [number, string, string][]).map(([id, service, endpoint]) => [id, { service, endpoint }]),
    );
    const facts = this.#statementFacts();
    const out = new Map<number, EndpointRollup>();
    for (const [id, [requests, dbSpans, wastedMs, first, last, outRequests, outMs]] of totals.endpoints) {
      const ref = refs.get(id);
      if (ref === undefined) continue;
      const r = emptyEndpointRollup(ref.endpoint, ref.service);
      Object.assign(r, { requests, dbSpans, wastedMs, firstSeenMs: first, lastSeenMs: last });
      r.outbound.requests = outRequests!;
      r.outbound.totalMs = outMs!;
      r.queriesPerRequest = new Map(totals.queries.get(id));
      r.noiseDropped = new Map(totals.noise.get(id));
      out.set(id, r);
    }
    const findings = new Map(
      (this.#prepare('SELECT id, endpoint_id, fingerprint, kind, link FROM findings').raw().all() as [number, number, string, CascadeRollup['kind'], string][]).map((f) => [f[0], f]),
    );
    for (const [findingId, [requestsAffected, executions, wastedMs]] of totals.findings) {
      const f = findings.get(findingId);
      const r = f === undefined ? undefined : out.get(f[1]);
      if (f === undefined || r === undefined) continue;
      const [, , fingerprint, kind, link] = f;
      const statement = facts(fingerprint);
      if (statement === undefined) continue;
      const l = JSON.parse(link) as { trigger: TriggerRef | null; steps: RelationStep[]; linked: boolean; leaf: LeafShape; firstIndex: number };
      r.cascades.set(fingerprint, {
        kind,
        fingerprint,
        sql: statement.sql,
        facts: statement.facts,
        requestsAffected: requestsAffected!,
        executions: executions!,
        totalMs: 0,
        wastedMs: wastedMs!,
        repeats: new Map(),
        trigger: l.trigger,
        steps: l.steps,
        linked: l.linked,
        leaf: l.leaf,
        firstIndex: l.firstIndex,
        example: { traceId: '', wastedMs: -1 },
      });
    }
    for (const [key, [requests, executions, totalMs, maxMs, mayBeSlow]] of totals.selects) {
      const colon = key.indexOf(':');
      const endpointId = Number(key.slice(0, colon));
      const fingerprint = key.slice(colon + 1);
      const r = out.get(endpointId);
      if (r === undefined || r.cascades.has(fingerprint)) continue;
      const statement = facts(fingerprint);
      if (statement === undefined) continue;
      // p95 reaches slowMs only if more than N − rank executions lie at or above its bucket;
      // otherwise its histogram cannot make it slow and is left empty.
      const rank = Math.max(1, Math.ceil(0.95 * executions!));
      const durations: DurationHistogram = mayBeSlow! > executions! - rank ? this.#durations(key, closed, edges, open) : new Map();
      r.fingerprints.set(fingerprint, {
        fingerprint,
        sql: statement.sql,
        facts: statement.facts,
        requests: requests!,
        executions: executions!,
        totalMs: totalMs!,
        durations,
        example: { traceId: '', maxMs: maxMs! },
      });
    }
    return [...out].map(([id, rollup]) => ({ id, rollup }));
  }

  /** Sums of every summary table over runs, by endpoint, finding and statement. */
  #totals(runs: readonly Run[], slowFloor: number): Totals {
    const totals = emptyTotals();
    for (const [id, ...values] of this.#sum(
      'summary_endpoints',
      ['endpoint_id'],
      'sum(requests), sum(db_spans), sum(wasted_ms), min(first_seen_ms), max(last_seen_ms), sum(outbound_requests), sum(outbound_ms)',
      runs,
    ) as [number, ...number[]][]) {
      totals.endpoints.set(id, values);
    }
    for (const [id, queries, requests] of this.#sum('summary_queries', ['endpoint_id', 'queries'], 'sum(requests)', runs) as [number, number, number][]) {
      getOrAdd(totals.queries, id).set(queries, requests);
    }
    for (const [id, rule, dropped] of this.#sum('summary_noise', ['endpoint_id', 'rule'], 'sum(dropped)', runs) as [number, string, number][]) {
      getOrAdd(totals.noise, id).set(rule, dropped);
    }
    for (const [id, ...values] of this.#sum('summary_findings', ['finding_id'], 'sum(requests_affected), sum(executions), sum(wasted_ms)', runs) as [number, ...number[]][]) {
      totals.findings.set(id, values);
    }
    for (const [id, fingerprint, ...values] of this.#sum(
      'summary_selects',
      ['endpoint_id', 'fingerprint'],
      'sum(requests), sum(executions), sum(total_ms), max(max_ms), sum(CASE WHEN max_ms > ? THEN executions ELSE 0 END)',
      runs,
      [slowFloor],
    ) as [number, string, ...number[]][]) {
      totals.selects.set(`${id}:${fingerprint}`, values);
    }
    return totals;
  }

  /** A statement's exact duration histogram over the runs (`endpointId:fingerprint`); the settled part is kept. */
  #durations(key: string, closed: readonly Run[], edges: readonly Run[], open: readonly Run[]): DurationHistogram {
    const histogram: DurationHistogram = new Map();
    if (closed.length > 0) {
      // One kept entry per settled span, holding every statement's histogram read so far.
      const read = this.#cached(`durations ${JSON.stringify(closed)}`, closed, () => new Map<string, DurationHistogram>());
      let settled = read.get(key);
      if (settled === undefined) {
        settled = this.#readDurations(key, closed);
        read.set(key, settled);
      }
      mergeCounts(histogram, settled);
    }
    for (const run of edges) this.#minuteHour(run).addDurations(histogram, key, run.from, run.to);
    if (open.length > 0) mergeCounts(histogram, this.#readDurations(key, open));
    return histogram;
  }

  /**
   * The minute rows of the settled hour `edge` lies in, read once and kept until a write lands in
   * that hour (touched) or another process writes: an edge moving a minute at a time through a
   * settled hour then costs a pass over rows in memory per request, not SQL summing them again.
   */
  #minuteHour(edge: Run): MinuteHour {
    this.#checkVersion();
    const hour = Math.floor(edge.from / HOUR_MS) * HOUR_MS;
    let kept = this.#minuteHours.get(hour);
    if (kept === undefined) kept = new MinuteHour(this.#db, hour);
    // Most recently used last; the least recently used go first, down to the rows allowed (this one is always kept).
    this.#minuteHours.delete(hour);
    this.#minuteHours.set(hour, kept);
    let rows = 0;
    for (const h of this.#minuteHours.values()) rows += h.rows;
    for (const [h, old] of this.#minuteHours) {
      if (h === hour || rows <= MINUTE_HOUR_ROWS) break;
      this.#minuteHours.delete(h);
      rows -= old.rows;
    }
    return kept;
  }

  /** Another process writing the same file bypasses touched(): then nothing kept can be trusted. */
  #checkVersion(): void {
    const version = this.#prepare('PRAGMA data_version').pluck().get() as number;
    if (version !== this.#settledVersion) {
      this.#settled.clear();
      this.#minuteHours.clear();
      this.#settledVersion = version;
    }
  }

  /** One statement's duration histogram over runs: a range read per run. */
  #readDurations(key: string, runs: readonly Run[]): DurationHistogram {
    const colon = key.indexOf(':');
    const endpointId = Number(key.slice(0, colon));
    const fingerprint = key.slice(colon + 1);
    const hours = this.#prepare(`SELECT rollup -> '$.durations' FROM fingerprint_hours WHERE endpoint_id = ? AND fingerprint = ? AND hour >= ? AND hour < ?`).pluck();
    const minutes = this.#prepare(`SELECT rollup -> '$.durations' FROM fingerprint_minutes WHERE endpoint_id = ? AND fingerprint = ? AND minute >= ? AND minute < ?`).pluck();
    const coarse = this.#prepare('SELECT durations FROM summary_durations WHERE endpoint_id = ? AND fingerprint = ? AND size = ? AND start >= ? AND start < ?').pluck();
    const histogram: DurationHistogram = new Map();
    for (const run of runs) {
      const rows = (
        run.size === HOUR_MS
          ? hours.all(endpointId, fingerprint, run.from, run.to)
          : run.size === MINUTE_MS
            ? minutes.all(endpointId, fingerprint, run.from, run.to)
            : coarse.all(endpointId, fingerprint, run.size, run.from, run.to)
      ) as (string | null)[];
      for (const json of rows) if (json !== null) for (const [bucket, n] of JSON.parse(json) as Pairs) histogram.set(bucket, (histogram.get(bucket) ?? 0) + n);
    }
    return histogram;
  }

  /**
   * Results over settled runs (every block in them over and built) do not change until a late write
   * lands in one of their hours (touched() then drops them): kept for the next request, a few at a time.
   */
  #cached<T>(key: string, runs: readonly Run[], compute: () => T, rowsOf: (value: T) => number = () => 0): T {
    this.#checkVersion();
    const hit = this.#settled.get(key);
    if (hit !== undefined) {
      // Most recently used last.
      this.#settled.delete(key);
      this.#settled.set(key, hit);
      return hit.value as T;
    }
    const value = compute();
    this.#settled.set(key, { from: runs[0]!.from, to: runs[runs.length - 1]!.to, value, rows: rowsOf(value) });
    // Least recently used out first, until a few ranges' worth and a bounded number of rows are left.
    let rows = 0;
    for (const kept of this.#settled.values()) rows += kept.rows;
    for (const [k, kept] of this.#settled) {
      if (this.#settled.size <= 1 || (this.#settled.size <= SETTLED_KEPT && rows <= SETTLED_ROWS)) break;
      this.#settled.delete(k);
      rows -= kept.rows;
    }
    return value;
  }

  /** Statements by fingerprint, facts parsed on first use. */
  #statementFacts(): (fingerprint: string) => { sql: string; facts: SqlFacts } | undefined {
    const get = this.#prepare('SELECT sql, facts FROM statements WHERE fingerprint = ?');
    const seen = new Map<string, { sql: string; facts: SqlFacts } | undefined>();
    return (fingerprint) => {
      if (seen.has(fingerprint)) return seen.get(fingerprint);
      const row = get.get(fingerprint) as { sql: string; facts: string } | undefined;
      const statement = row === undefined ? undefined : { sql: row.sql, facts: JSON.parse(row.facts) as SqlFacts };
      seen.set(fingerprint, statement);
      return statement;
    };
  }

  /**
   * Every endpoint's requests, DB spans and wasted ms per chart bucket (`sizeMs` wide from `startMs`)
   * within the period, by endpoint id; endpoints without traffic in it are absent.
   */
  trends(rows: PeriodRows, axis: { startMs: number; sizeMs: number; count: number }, closedBeforeMs: number): Map<number, SummaryBucket[]> {
    const out = new Map<number, SummaryBucket[]>();
    // Only sizes that fit in a bucket (all are epoch-aligned, as the axis is), so no row straddles two.
    const runs = this.#periodRuns(rows, SIZES.filter((s) => axis.sizeMs % s === 0), closedBeforeMs);
    if (runs.length === 0) return out;
    const sums = (part: readonly Run[]) =>
      this.#sum('summary_endpoints', ['endpoint_id', '(start - CAST(? AS INTEGER)) / CAST(? AS INTEGER)'], 'sum(requests), sum(db_spans), sum(wasted_ms)', part, [
        axis.startMs,
        axis.sizeMs,
      ]) as [number, number, number, number, number][];
    const split = splitRuns(runs, closedBeforeMs);
    const { closed } = split;
    // Kept minute rows serve an edge when its hour lies in one bucket (an axis of whole hours), else SQL sums them.
    const edges = axis.sizeMs % HOUR_MS === 0 ? split.edges : [];
    const open = axis.sizeMs % HOUR_MS === 0 ? split.open : [...split.edges, ...split.open];
    const settled = closed.length === 0 ? [] : this.#cached(`trends ${JSON.stringify(axis)} ${JSON.stringify(closed)}`, closed, () => sums(closed), (rows) => rows.length);
    const atEdges = edges.flatMap((run) => {
      const i = Math.floor((run.from - axis.startMs) / axis.sizeMs);
      return [...this.#minuteHour(run).endpointSums(run.from, run.to)].map(([id, [requests, dbSpans, wastedMs]]) => [id, i, requests!, dbSpans!, wastedMs!] as [number, number, number, number, number]);
    });
    const fresh = open.length === 0 ? [] : sums(open);
    for (const rows of [settled, atEdges, fresh]) {
      for (const [id, i, requests, dbSpans, wastedMs] of rows) {
        if (i < 0 || i >= axis.count) continue;
        let buckets = out.get(id);
        if (buckets === undefined) {
          buckets = Array.from({ length: axis.count }, (_, k) => ({ startMs: axis.startMs + k * axis.sizeMs, requests: 0, dbSpans: 0, wastedMs: 0 }));
          out.set(id, buckets);
        }
        const b = buckets[i]!;
        b.requests += requests;
        b.dbSpans += dbSpans;
        b.wastedMs += wastedMs;
      }
    }
    return out;
  }
}

/**
 * How many results over settled runs are kept: a few ranges (24h, 7d, 30d) with their trends, and
 * rows enough for them at a few thousand endpoints (1,000 endpoints: ~10k rows of sums, ~30k of trend).
 */
const SETTLED_KEPT = 12;
const SETTLED_ROWS = 400_000;
/**
 * How many minute rows of settled hours are kept (see #minuteHour; the last one used always is): one
 * hour at 1,000 endpoints busy every minute (430k rows, 26 MB of typed arrays, which count toward
 * serve's --memory-limit-mib), a few at quieter ones.
 */
const MINUTE_HOUR_ROWS = 500_000;

/** Sums over some runs: per endpoint, queries-per-request and noise counts, per finding, per `endpointId:fingerprint` SELECT. */
interface Totals {
  endpoints: Map<number, number[]>;
  queries: Map<number, Map<number, number>>;
  noise: Map<number, Map<string, number>>;
  findings: Map<number, number[]>;
  selects: Map<string, number[]>;
}

const emptyTotals = (): Totals => ({ endpoints: new Map(), queries: new Map(), noise: new Map(), findings: new Map(), selects: new Map() });

function getOrAdd<K, V>(m: Map<number, Map<K, V>>, id: number): Map<K, V> {
  let inner = m.get(id);
  if (inner === undefined) {
    inner = new Map();
    m.set(id, inner);
  }
  return inner;
}

/** Endpoint sums: requests, DB spans, wasted ms, first seen (min), last seen (max), outbound requests and ms. */
const ENDPOINT_OPS = ['+', '+', '+', 'min', 'max', '+', '+'] as const;
/** SELECT sums: requests, executions, total ms, slowest (max), executions that may be slow. */
const SELECT_OPS = ['+', '+', '+', 'max', '+'] as const;
const FINDING_OPS = ['+', '+', '+'] as const;

function combine(a: readonly number[], b: readonly number[], ops: readonly ('+' | 'min' | 'max')[]): number[] {
  return ops.map((op, i) => (op === '+' ? a[i]! + b[i]! : op === 'min' ? Math.min(a[i]!, b[i]!) : Math.max(a[i]!, b[i]!)));
}

function mergeRows<K>(into: Map<K, number[]>, from: Map<K, number[]>, ops: readonly ('+' | 'min' | 'max')[]): void {
  for (const [k, v] of from) {
    const have = into.get(k);
    into.set(k, have === undefined ? v : combine(have, v, ops));
  }
}

/** Settled sums with the others added, without changing any of them (the settled ones are kept). */
function mergeTotals(settled: Totals | undefined, others: readonly Totals[]): Totals {
  if (others.length === 0) return settled ?? emptyTotals();
  if (settled === undefined && others.length === 1) return others[0]!;
  const base = settled ?? emptyTotals();
  const out: Totals = {
    endpoints: new Map(base.endpoints),
    queries: new Map([...base.queries].map(([id, m]) => [id, new Map(m)])),
    noise: new Map([...base.noise].map(([id, m]) => [id, new Map(m)])),
    findings: new Map(base.findings),
    selects: new Map(base.selects),
  };
  for (const part of others) {
    mergeRows(out.endpoints, part.endpoints, ENDPOINT_OPS);
    mergeRows(out.findings, part.findings, FINDING_OPS);
    mergeRows(out.selects, part.selects, SELECT_OPS);
    for (const [id, m] of part.queries) mergeCounts(getOrAdd(out.queries, id), m);
    for (const [id, m] of part.noise) {
      const into = getOrAdd(out.noise, id);
      for (const [rule, n] of m) into.set(rule, (into.get(rule) ?? 0) + n);
    }
  }
  return out;
}

/**
 * Runs cut where settling ends: hours before the one `closedBeforeMs` falls in are over (later writes
 * to them are late writes). `edges` are minute runs inside one such hour, read from its kept minute rows.
 */
function splitRuns(runs: readonly Run[], closedBeforeMs: number): { closed: Run[]; edges: Run[]; open: Run[] } {
  const settledUntil = Math.floor(closedBeforeMs / HOUR_MS) * HOUR_MS;
  const closed: Run[] = [];
  const edges: Run[] = [];
  const open: Run[] = [];
  for (const run of runs) {
    // Edge minutes move with the clock: summed as runs, they would be kept for a minute at most.
    if (run.size === MINUTE_MS) (inSettledHour(run, settledUntil) ? edges : open).push(run);
    else if (run.to <= settledUntil) closed.push(run);
    else if (run.from >= settledUntil) open.push(run);
    else {
      // Only hour runs can straddle it: coarse blocks are built (so settled) only when over.
      const cut = run.from + Math.floor((settledUntil - run.from) / run.size) * run.size;
      if (cut > run.from) closed.push({ ...run, to: cut });
      open.push({ ...run, from: cut });
    }
  }
  return { closed, edges, open };
}

/** True when a run lies inside one hour that is over before `settledUntil`. */
function inSettledHour(run: Run, settledUntil: number): boolean {
  const hour = Math.floor(run.from / HOUR_MS) * HOUR_MS;
  return run.to <= hour + HOUR_MS && hour + HOUR_MS <= settledUntil;
}
