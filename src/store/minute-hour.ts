/**
 * One settled hour's minute summary rows held in memory, per key in minute order, so a period edge
 * inside that hour is summed in JS from rows read once, instead of SQL adding up to 59 rows per
 * endpoint on every request (the 24 h overview's start moves a minute at a time through one hour).
 */
import type { Database } from 'better-sqlite3';
import type { DurationHistogram } from '../detect/histogram.js';
import { HOUR_MS, MINUTE_MS } from '../report/period.js';

/** How a column adds up: a sum, or the least or greatest value. */
export type Op = '+' | 'min' | 'max';

/** One table's rows of the hour: key i's rows are offsets[i] to offsets[i + 1], their minutes ascending. */
interface KeyedRows<K> {
  keys: K[];
  offsets: Int32Array;
  /** Each row's minute within the hour, 0 to 59. */
  minutes: Uint8Array;
  /** `width` values per row. */
  values: Float64Array;
  width: number;
}

/** Sums over a stretch of the hour's minutes, shaped as Summaries' totals (see Totals there). */
export interface MinuteTotals {
  endpoints: Map<number, number[]>;
  queries: Map<number, Map<number, number>>;
  noise: Map<number, Map<string, number>>;
  findings: Map<number, number[]>;
  /** By `endpointId:fingerprint`: requests, executions, total ms, slowest, executions in minutes whose slowest call is over `slowFloor`. */
  selects: Map<string, number[]>;
}

/** Endpoint columns: requests, DB spans, wasted ms, first seen, last seen, outbound requests and ms. */
const ENDPOINT_OPS: readonly Op[] = ['+', '+', '+', 'min', 'max', '+', '+'];
const FINDING_OPS: readonly Op[] = ['+', '+', '+'];
/** SELECT columns as stored: requests, executions, total ms, slowest. */
const SELECT_OPS: readonly Op[] = ['+', '+', '+', 'max'];

type Pairs = [number, number][];

export class MinuteHour {
  readonly hour: number;
  readonly #endpoints: KeyedRows<number>;
  readonly #queries: KeyedRows<[number, number]>;
  readonly #noise: KeyedRows<[number, string]>;
  readonly #findings: KeyedRows<number>;
  readonly #selects: KeyedRows<[number, string]>;
  /** Each statement's duration histograms by minute, read when first asked for (only statements that may be slow are). */
  readonly #durations = new Map<string, { minute: number; histogram: Pairs }[]>();
  readonly #db: Database;

  /** Reads every minute row of the hour starting at `hour` (a few hundred thousand at 1,000 busy endpoints). */
  constructor(db: Database, hour: number) {
    this.#db = db;
    this.hour = hour;
    // In key order (start, then key): sorting by key in SQL costs more than grouping in JS.
    const read = (table: string, keys: string, columns: string): unknown[][] =>
      db
        .prepare(`SELECT ${keys}, start, ${columns} FROM ${table} WHERE size = ${MINUTE_MS} AND start >= ? AND start < ?`)
        .raw()
        .all(hour, hour + HOUR_MS) as unknown[][];
    const one = (row: unknown[]) => row[0] as number;
    const two = <T>(row: unknown[]) => [row[0] as number, row[1] as T] as [number, T];
    this.#endpoints = keyed(
      read('summary_endpoints', 'endpoint_id', 'requests, db_spans, wasted_ms, first_seen_ms, last_seen_ms, outbound_requests, outbound_ms'),
      1,
      one,
      hour,
    );
    this.#queries = keyed(read('summary_queries', 'endpoint_id, queries', 'requests'), 2, two<number>, hour);
    this.#noise = keyed(read('summary_noise', 'endpoint_id, rule', 'dropped'), 2, two<string>, hour);
    this.#findings = keyed(read('summary_findings', 'finding_id', 'requests_affected, executions, wasted_ms'), 1, one, hour);
    this.#selects = keyed(read('summary_selects', 'endpoint_id, fingerprint', 'requests, executions, total_ms, max_ms'), 2, two<string>, hour);
  }

  /** How many rows it holds, for the cache's bound. */
  get rows(): number {
    return [this.#endpoints, this.#queries, this.#noise, this.#findings, this.#selects].reduce((n, t) => n + t.minutes.length, 0);
  }

  /** Sums over minute rows starting in [fromMs, toMs), both within the hour. */
  totals(fromMs: number, toMs: number, slowFloor: number): MinuteTotals {
    const [a, b] = this.#minutes(fromMs, toMs);
    const out: MinuteTotals = { endpoints: new Map(), queries: new Map(), noise: new Map(), findings: new Map(), selects: new Map() };
    fold(this.#endpoints, a, b, ENDPOINT_OPS, (id, v) => out.endpoints.set(id, v));
    fold(this.#findings, a, b, FINDING_OPS, (id, v) => out.findings.set(id, v));
    fold(this.#queries, a, b, ['+'], ([id, n], v) => inner(out.queries, id).set(n, v[0]!));
    fold(this.#noise, a, b, ['+'], ([id, rule], v) => inner(out.noise, id).set(rule, v[0]!));
    // The fifth SELECT column counts executions of minutes whose slowest call is over slowFloor, as the SQL sum does.
    const t = this.#selects;
    for (let i = 0; i < t.keys.length; i++) {
      let v: number[] | undefined;
      for (let j = first(t, i, a); j < t.offsets[i + 1]! && t.minutes[j]! < b; j++) {
        const r = j * t.width;
        const executions = t.values[r + 1]!;
        const slow = t.values[r + 3]! > slowFloor ? executions : 0;
        if (v === undefined) v = [t.values[r]!, executions, t.values[r + 2]!, t.values[r + 3]!, slow];
        else {
          v[0]! += t.values[r]!;
          v[1]! += executions;
          v[2]! += t.values[r + 2]!;
          if (t.values[r + 3]! > v[3]!) v[3] = t.values[r + 3]!;
          v[4]! += slow;
        }
      }
      if (v !== undefined) out.selects.set(`${t.keys[i]![0]}:${t.keys[i]![1]}`, v);
    }
    return out;
  }

  /** Each endpoint's requests, DB spans and wasted ms over minute rows starting in [fromMs, toMs). */
  endpointSums(fromMs: number, toMs: number): Map<number, number[]> {
    const [a, b] = this.#minutes(fromMs, toMs);
    const out = new Map<number, number[]>();
    fold(this.#endpoints, a, b, ['+', '+', '+'], (id, v) => out.set(id, v));
    return out;
  }

  /** A statement's (`endpointId:fingerprint`) duration histogram over minute rows starting in [fromMs, toMs), added into `into`. */
  addDurations(into: DurationHistogram, key: string, fromMs: number, toMs: number): void {
    let rows = this.#durations.get(key);
    if (rows === undefined) {
      const colon = key.indexOf(':');
      const read = this.#db
        .prepare(
          `SELECT minute, rollup -> '$.durations' FROM fingerprint_minutes WHERE endpoint_id = ? AND fingerprint = ? AND minute >= ? AND minute < ? ORDER BY minute`,
        )
        .raw()
        .all(Number(key.slice(0, colon)), key.slice(colon + 1), this.hour, this.hour + HOUR_MS) as [number, string | null][];
      rows = read.flatMap(([minute, json]) => (json === null ? [] : [{ minute, histogram: JSON.parse(json) as Pairs }]));
      this.#durations.set(key, rows);
    }
    for (const { minute, histogram } of rows) {
      if (minute < fromMs || minute >= toMs) continue;
      for (const [bucket, n] of histogram) into.set(bucket, (into.get(bucket) ?? 0) + n);
    }
  }

  /** [fromMs, toMs) as minute indexes within the hour. */
  #minutes(fromMs: number, toMs: number): [number, number] {
    return [Math.max(0, (fromMs - this.hour) / MINUTE_MS), Math.min(60, (toMs - this.hour) / MINUTE_MS)];
  }
}

/** Rows ordered by start (`keyWidth` key columns, the start, then values) as KeyedRows: grouped by key, each key's rows in start order. */
function keyed<K>(rows: readonly unknown[][], keyWidth: number, keyOf: (row: unknown[]) => K, hour: number): KeyedRows<K> {
  const width = rows.length === 0 ? 0 : rows[0]!.length - keyWidth - 1;
  // Each row's key index, in order of first appearance; then a counting sort keeps each key's rows in start order.
  const keys: K[] = [];
  const index = new Map<unknown, number | Map<unknown, number>>();
  const keyOfRow = new Int32Array(rows.length);
  for (let j = 0; j < rows.length; j++) {
    const row = rows[j]!;
    let k: number | undefined;
    if (keyWidth === 1) k = index.get(row[0]) as number | undefined;
    else {
      let second = index.get(row[0]) as Map<unknown, number> | undefined;
      if (second === undefined) index.set(row[0], (second = new Map()));
      k = second.get(row[1]);
      if (k === undefined) second.set(row[1], keys.length);
    }
    if (k === undefined) {
      k = keys.length;
      if (keyWidth === 1) index.set(row[0], k);
      keys.push(keyOf(row));
    }
    keyOfRow[j] = k;
  }
  const offsets = new Int32Array(keys.length + 1);
  for (let j = 0; j < rows.length; j++) offsets[keyOfRow[j]! + 1]!++;
  for (let i = 0; i < keys.length; i++) offsets[i + 1]! += offsets[i]!;
  const next = offsets.slice(0, keys.length);
  const minutes = new Uint8Array(rows.length);
  const values = new Float64Array(rows.length * width);
  for (let j = 0; j < rows.length; j++) {
    const row = rows[j]!;
    const at = next[keyOfRow[j]!]!++;
    minutes[at] = ((row[keyWidth] as number) - hour) / MINUTE_MS;
    for (let c = 0; c < width; c++) values[at * width + c] = row[keyWidth + 1 + c] as number;
  }
  return { keys, offsets, minutes, values, width };
}

/** Key i's first row at or after minute a. */
function first<K>(t: KeyedRows<K>, i: number, a: number): number {
  let j = t.offsets[i]!;
  while (j < t.offsets[i + 1]! && t.minutes[j]! < a) j++;
  return j;
}

/** Adds up the first `ops.length` columns of each key's rows in minutes [a, b); calls `set` for keys that have any. */
function fold<K>(t: KeyedRows<K>, a: number, b: number, ops: readonly Op[], set: (key: K, values: number[]) => void): void {
  for (let i = 0; i < t.keys.length; i++) {
    let v: number[] | undefined;
    for (let j = first(t, i, a); j < t.offsets[i + 1]! && t.minutes[j]! < b; j++) {
      const r = j * t.width;
      if (v === undefined) {
        v = Array.from(ops, (_, c) => t.values[r + c]!);
        continue;
      }
      for (let c = 0; c < ops.length; c++) {
        const x = t.values[r + c]!;
        const op = ops[c];
        if (op === '+') v[c]! += x;
        else if (op === 'min' ? x < v[c]! : x > v[c]!) v[c] = x;
      }
    }
    if (v !== undefined) set(t.keys[i]!, v);
  }
}

function inner<V>(m: Map<number, Map<V, number>>, id: number): Map<V, number> {
  let into = m.get(id);
  if (into === undefined) {
    into = new Map();
    m.set(id, into);
  }
  return into;
}
