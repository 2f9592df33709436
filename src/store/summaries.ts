/**
 * Narrow period summaries (migration 7): the hourly rollups' additive figures, written per hour with
 * them and built per 6 hours, day and week once those are over, so a period is summed in SQL from
 * a few dozen rows per endpoint instead of decoding every hour's JSON. What the overview reads.
 */
import type { Database, Statement } from 'better-sqlite3';
import { bucketEdgeMs, firstBucketReaching, mergeCounts, type DurationHistogram } from '../detect/histogram.js';
import { emptyEndpointRollup, type CascadeRollup, type EndpointRollup } from '../detect/rollup.js';
import type { LeafShape, RelationStep, TriggerRef } from '../detect/types.js';
import { DAY_MS, HOUR_MS } from '../report/period.js';
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
  endpointId: number;
  startMs: number;
  requests: number;
  dbSpans: number;
  wastedMs: number;
}

type Pairs = [number, number][];

export class Summaries {
  readonly #db: Database;
  // Its own statements: reads here are switched to raw (array) rows, which must not leak into the Store's.
  readonly #statements = new Map<string, Statement>();

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

  /** An endpoint hour's totals as they now stand, plus this batch's queries-per-request and noise counts. */
  endpointHour(endpointId: number, hour: number, merged: EndpointRollup, part: EndpointRollup): void {
    this.#prepare(
      `INSERT INTO summary_endpoints (size, start, endpoint_id, requests, db_spans, wasted_ms, first_seen_ms, last_seen_ms, outbound_requests, outbound_ms)
       VALUES (${HOUR_MS}, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (size, start, endpoint_id) DO UPDATE SET requests = excluded.requests, db_spans = excluded.db_spans, wasted_ms = excluded.wasted_ms,
         first_seen_ms = excluded.first_seen_ms, last_seen_ms = excluded.last_seen_ms, outbound_requests = excluded.outbound_requests, outbound_ms = excluded.outbound_ms`,
    ).run(hour, endpointId, merged.requests, merged.dbSpans, merged.wastedMs, merged.firstSeenMs, merged.lastSeenMs, merged.outbound.requests, merged.outbound.totalMs);
    const queries = this.#prepare(
      `INSERT INTO summary_queries (size, start, endpoint_id, queries, requests) VALUES (${HOUR_MS}, ?, ?, ?, ?)
       ON CONFLICT (size, start, endpoint_id, queries) DO UPDATE SET requests = requests + excluded.requests`,
    );
    for (const [n, requests] of part.queriesPerRequest) queries.run(hour, endpointId, n, requests);
    const noise = this.#prepare(
      `INSERT INTO summary_noise (size, start, endpoint_id, rule, dropped) VALUES (${HOUR_MS}, ?, ?, ?, ?)
       ON CONFLICT (size, start, endpoint_id, rule) DO UPDATE SET dropped = dropped + excluded.dropped`,
    );
    for (const [rule, dropped] of part.noiseDropped) noise.run(hour, endpointId, rule, dropped);
  }

  /** A finding hour's counts as they now stand. */
  findingHour(findingId: number, hour: number, requestsAffected: number, executions: number, wastedMs: number): void {
    this.#prepare(
      `INSERT INTO summary_findings (size, start, finding_id, requests_affected, executions, wasted_ms) VALUES (${HOUR_MS}, ?, ?, ?, ?, ?)
       ON CONFLICT (size, start, finding_id) DO UPDATE SET requests_affected = excluded.requests_affected,
         executions = excluded.executions, wasted_ms = excluded.wasted_ms`,
    ).run(hour, findingId, requestsAffected, executions, wastedMs);
  }

  /**
   * A SELECT's hour as it now stands (hot_lookup and slow_query read these). Hours where it looped
   * are left out by the caller: a statement that is a cascade anywhere in a period is never read
   * as a lookup there, so those rows would only be skipped.
   */
  selectHour(endpointId: number, fingerprint: string, hour: number, requests: number, executions: number, totalMs: number, maxMs: number): void {
    this.#prepare(
      `INSERT INTO summary_selects (size, start, endpoint_id, fingerprint, requests, executions, total_ms, max_ms, durations) VALUES (${HOUR_MS}, ?, ?, ?, ?, ?, ?, ?, NULL)
       ON CONFLICT (size, start, endpoint_id, fingerprint) DO UPDATE SET requests = excluded.requests, executions = excluded.executions,
         total_ms = excluded.total_ms, max_ms = excluded.max_ms`,
    ).run(hour, endpointId, fingerprint, requests, executions, totalMs, maxMs);
  }

  /** A write to an hour makes the built 6-hour, day and week rows around it stale: they are rebuilt when next read. */
  touched(hours: Iterable<number>): void {
    const drop = this.#prepare('DELETE FROM summary_blocks WHERE size = ? AND start = ?');
    for (const hour of hours) for (const size of COARSE) drop.run(size, Math.floor(hour / size) * size);
  }

  // ---- coarse rows, built once their period is over ----

  /** Builds the missing coarse rows of every block inside [lo, hi) that ends before `closedBeforeMs`. */
  #ensure(lo: number, hi: number, closedBeforeMs: number): void {
    const end = Math.min(hi, closedBeforeMs);
    for (let level = 1; level < SIZES.length; level++) {
      const size = SIZES[level]!;
      const first = Math.ceil(lo / size) * size;
      if (first + size > end) continue;
      const built = this.#built(size, first, end);
      for (let start = first; start + size <= end; start += size) {
        if (!built.has(start)) this.#db.transaction(() => this.#build(level, start))();
      }
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
      'INSERT INTO summary_selects (size, start, endpoint_id, fingerprint, requests, executions, total_ms, max_ms, durations) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
    );
    for (const m of merged.values()) {
      insert.run(size, start, m.endpointId, m.fingerprint, m.requests, m.executions, m.totalMs, m.maxMs, JSON.stringify([...m.durations]));
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
      'SELECT endpoint_id, fingerprint, requests, executions, total_ms, max_ms, durations FROM summary_selects WHERE size = ? AND start >= ? AND start < ?',
    ).raw().all(size, from, to) as [number, string, number, number, number, number, string | null][];
  }

  // ---- reads ----

  /** The hours [lo, hi) holding data within a period; undefined when it has none. */
  #span(sinceMs: number | undefined, untilMs: number | undefined): { lo: number; hi: number } | undefined {
    const lo = sinceMs === undefined ? Number.MIN_SAFE_INTEGER : Math.floor(sinceMs / HOUR_MS) * HOUR_MS;
    const hi = untilMs === undefined ? Number.MAX_SAFE_INTEGER : untilMs;
    const row = this.#prepare(`SELECT min(start) AS first, max(start) AS last FROM summary_endpoints WHERE size = ${HOUR_MS} AND start >= ? AND start < ?`).get(lo, hi) as {
      first: number | null;
      last: number | null;
    };
    if (row.first === null || row.last === null) return undefined;
    return { lo: row.first, hi: row.last + HOUR_MS };
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

  /** The first hour with traffic in a period (a chart's start when the period has none). */
  firstHour(sinceMs: number | undefined, untilMs: number | undefined): number | undefined {
    return this.#span(sinceMs, untilMs)?.lo;
  }

  /**
   * Every endpoint with traffic in the period, as a rollup of what the ranking reads (see SummaryEndpoint).
   * `slowMs` is slow_query's threshold: only a statement whose p95 could reach it has its durations read.
   */
  endpoints(sinceMs: number | undefined, untilMs: number | undefined, slowMs: number, closedBeforeMs: number): SummaryEndpoint[] {
    const span = this.#span(sinceMs, untilMs);
    if (span === undefined) return [];
    this.#ensure(span.lo, span.hi, closedBeforeMs);
    const runs = this.#runs(span.lo, span.hi, SIZES);
    const refs = new Map(
      (this.#prepare('SELECT id, service, endpoint FROM endpoints').raw().all() as [number, string, string][]).map(([id, service, endpoint]) => [id, { service, endpoint }]),
    );
    const out = new Map<number, EndpointRollup>();
    const facts = this.#statementFacts();

    for (const run of runs) {
      for (const [id, requests, dbSpans, wastedMs, first, last, outRequests, outMs] of this.#prepare(
        `SELECT endpoint_id, sum(requests), sum(db_spans), sum(wasted_ms), min(first_seen_ms), max(last_seen_ms), sum(outbound_requests), sum(outbound_ms)
         FROM summary_endpoints WHERE size = ? AND start >= ? AND start < ? GROUP BY endpoint_id`,
      ).raw().all(run.size, run.from, run.to) as [number, number, number, number, number, number, number, number][]) {
        let r = out.get(id);
        if (r === undefined) {
          const ref = refs.get(id);
          if (ref === undefined) continue;
          r = emptyEndpointRollup(ref.endpoint, ref.service);
          out.set(id, r);
        }
        r.requests += requests;
        r.dbSpans += dbSpans;
        r.wastedMs += wastedMs;
        r.firstSeenMs = Math.min(r.firstSeenMs, first);
        r.lastSeenMs = Math.max(r.lastSeenMs, last);
        r.outbound.requests += outRequests;
        r.outbound.totalMs += outMs;
      }
      for (const [id, queries, requests] of this.#prepare(
        'SELECT endpoint_id, queries, sum(requests) FROM summary_queries WHERE size = ? AND start >= ? AND start < ? GROUP BY endpoint_id, queries',
      ).raw().all(run.size, run.from, run.to) as [number, number, number][]) {
        const r = out.get(id);
        if (r !== undefined) r.queriesPerRequest.set(queries, (r.queriesPerRequest.get(queries) ?? 0) + requests);
      }
      for (const [id, rule, dropped] of this.#prepare(
        'SELECT endpoint_id, rule, sum(dropped) FROM summary_noise WHERE size = ? AND start >= ? AND start < ? GROUP BY endpoint_id, rule',
      ).raw().all(run.size, run.from, run.to) as [number, string, number][]) {
        const r = out.get(id);
        if (r !== undefined) r.noiseDropped.set(rule, (r.noiseDropped.get(rule) ?? 0) + dropped);
      }
    }

    const findings = new Map(
      (this.#prepare('SELECT id, endpoint_id, fingerprint, kind, link FROM findings').raw().all() as [number, number, string, CascadeRollup['kind'], string][]).map((f) => [f[0], f]),
    );
    for (const run of runs) {
      for (const [findingId, requestsAffected, executions, wastedMs] of this.#prepare(
        'SELECT finding_id, sum(requests_affected), sum(executions), sum(wasted_ms) FROM summary_findings WHERE size = ? AND start >= ? AND start < ? GROUP BY finding_id',
      ).raw().all(run.size, run.from, run.to) as [number, number, number, number][]) {
        const f = findings.get(findingId);
        const r = f === undefined ? undefined : out.get(f[1]);
        if (f === undefined || r === undefined) continue;
        const [, , fingerprint, kind, link] = f;
        let c = r.cascades.get(fingerprint);
        if (c === undefined) {
          const statement = facts(fingerprint);
          if (statement === undefined) continue;
          const l = JSON.parse(link) as { trigger: TriggerRef | null; steps: RelationStep[]; linked: boolean; leaf: LeafShape; firstIndex: number };
          c = {
            kind,
            fingerprint,
            sql: statement.sql,
            facts: statement.facts,
            requestsAffected: 0,
            executions: 0,
            totalMs: 0,
            wastedMs: 0,
            repeats: new Map(),
            trigger: l.trigger,
            steps: l.steps,
            linked: l.linked,
            leaf: l.leaf,
            firstIndex: l.firstIndex,
            example: { traceId: '', wastedMs: -1 },
          };
          r.cascades.set(fingerprint, c);
        }
        c.requestsAffected += requestsAffected;
        c.executions += executions;
        c.wastedMs += wastedMs;
      }
    }

    // SELECTs: counts, and an upper bound on executions in blocks whose slowest call reaches slowMs's bucket.
    const slowBucket = firstBucketReaching(slowMs);
    // One bucket lower than needed, so float rounding can only add candidates, never lose one.
    const slowFloor = slowBucket <= 1 ? -1 : bucketEdgeMs(slowBucket - 2);
    const selects = new Map<string, { endpointId: number; requests: number; executions: number; totalMs: number; maxMs: number; mayBeSlow: number }>();
    for (const run of runs) {
      for (const [id, fingerprint, requests, executions, totalMs, maxMs, mayBeSlow] of this.#prepare(
        `SELECT endpoint_id, fingerprint, sum(requests), sum(executions), sum(total_ms), max(max_ms), sum(CASE WHEN max_ms > ? THEN executions ELSE 0 END)
         FROM summary_selects WHERE size = ? AND start >= ? AND start < ? GROUP BY endpoint_id, fingerprint`,
      ).raw().all(slowFloor, run.size, run.from, run.to) as [number, string, number, number, number, number, number][]) {
        if (!out.has(id)) continue;
        const key = `${id}:${fingerprint}`;
        const s = selects.get(key);
        if (s === undefined) selects.set(key, { endpointId: id, requests, executions, totalMs, maxMs, mayBeSlow });
        else {
          s.requests += requests;
          s.executions += executions;
          s.totalMs += totalMs;
          s.maxMs = Math.max(s.maxMs, maxMs);
          s.mayBeSlow += mayBeSlow;
        }
      }
    }
    const candidates: { endpointId: number; fingerprint: string; durations: DurationHistogram }[] = [];
    for (const [key, s] of selects) {
      const fingerprint = key.slice(key.indexOf(':') + 1);
      const r = out.get(s.endpointId)!;
      if (r.cascades.has(fingerprint)) continue;
      const statement = facts(fingerprint);
      if (statement === undefined) continue;
      const durations: DurationHistogram = new Map();
      // p95 reaches slowMs only if more than N − rank executions lie at or above its bucket.
      const rank = Math.max(1, Math.ceil(0.95 * s.executions));
      if (s.mayBeSlow > s.executions - rank) candidates.push({ endpointId: s.endpointId, fingerprint, durations });
      r.fingerprints.set(fingerprint, {
        fingerprint,
        sql: statement.sql,
        facts: statement.facts,
        requests: s.requests,
        executions: s.executions,
        totalMs: s.totalMs,
        durations,
        example: { traceId: '', maxMs: s.maxMs },
      });
    }
    if (candidates.length > 0) this.#readDurations(runs, candidates);
    return [...out].map(([id, rollup]) => ({ id, rollup }));
  }

  /** The exact duration histograms of the statements that may be slow. */
  #readDurations(runs: readonly Run[], candidates: readonly { endpointId: number; fingerprint: string; durations: DurationHistogram }[]): void {
    const byKey = new Map(candidates.map((c) => [`${c.endpointId}:${c.fingerprint}`, c.durations]));
    const hours = this.#prepare(`SELECT rollup -> '$.durations' FROM fingerprint_hours WHERE endpoint_id = ? AND fingerprint = ? AND hour >= ? AND hour < ?`).raw();
    const coarse = this.#prepare(
      `SELECT endpoint_id, fingerprint, durations FROM summary_selects WHERE size = ? AND start >= ? AND start < ? AND endpoint_id || ':' || fingerprint IN (SELECT value FROM json_each(?))`,
    ).raw();
    const keys = JSON.stringify([...byKey.keys()]);
    for (const run of runs) {
      if (run.size === HOUR_MS) {
        for (const c of candidates) {
          for (const [json] of hours.all(c.endpointId, c.fingerprint, run.from, run.to) as [string | null][]) {
            if (json !== null) mergeCounts(c.durations, new Map(JSON.parse(json) as Pairs));
          }
        }
        continue;
      }
      for (const [endpointId, fingerprint, json] of coarse.all(run.size, run.from, run.to, keys) as [number, string, string | null][]) {
        const into = byKey.get(`${endpointId}:${fingerprint}`);
        if (into !== undefined && json !== null) mergeCounts(into, new Map(JSON.parse(json) as Pairs));
      }
    }
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
   * within the period; rows only where an endpoint had traffic.
   */
  trends(sinceMs: number | undefined, untilMs: number | undefined, axis: { startMs: number; sizeMs: number; count: number }, closedBeforeMs: number): SummaryBucket[] {
    const span = this.#span(sinceMs, untilMs);
    if (span === undefined) return [];
    this.#ensure(span.lo, span.hi, closedBeforeMs);
    // Only sizes that fit in a bucket (all are epoch-aligned, as the axis is), so no row straddles two.
    const runs = this.#runs(span.lo, span.hi, SIZES.filter((s) => axis.sizeMs % s === 0));
    const buckets = new Map<number, SummaryBucket>();
    for (const run of runs) {
      for (const [id, start, requests, dbSpans, wastedMs] of this.#prepare(
        'SELECT endpoint_id, start, requests, db_spans, wasted_ms FROM summary_endpoints WHERE size = ? AND start >= ? AND start < ?',
      ).raw().all(run.size, run.from, run.to) as [number, number, number, number, number][]) {
        const i = Math.floor((start - axis.startMs) / axis.sizeMs);
        if (i < 0 || i >= axis.count) continue;
        const key = id * 4096 + i;
        const b = buckets.get(key);
        if (b === undefined) buckets.set(key, { endpointId: id, startMs: axis.startMs + i * axis.sizeMs, requests, dbSpans, wastedMs });
        else {
          b.requests += requests;
          b.dbSpans += dbSpans;
          b.wastedMs += wastedMs;
        }
      }
    }
    return [...buckets.values()];
  }
}
