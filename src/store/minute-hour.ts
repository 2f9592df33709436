/**
 * One settled hour's minute summary rows held in memory, per key in minute order, so a period edge
 * inside that hour is summed in JS from rows read once, instead of SQL adding up to 59 rows per
 * endpoint on every request (the 24 h overview's start moves a minute at a time through one hour).
 */
import type { Database, Statement } from 'better-sqlite3';
import type { DurationHistogram } from '../detect/histogram.js';
import { HOUR_MS, MINUTE_MS } from '../report/period.js';

/** How a column adds up: a sum, or the least or greatest value. */
export type Op = '+' | 'min' | 'max';

/**
 * One table's rows of the hour: key i's rows are offsets[i] to offsets[i + 1], their minutes
 * ascending. `suffix` holds, per row, its key's figures from that row to the end of the hour, so
 * a stretch reaching the hour's end (a period's start) is one lookup per key.
 */
interface KeyedRows<K> {
  keys: K[];
  offsets: Int32Array;
  /** Each row's minute within the hour, 0 to 59. */
  minutes: Uint8Array;
  /** `ops.length` values per row. */
  values: Float64Array;
  suffix: Float64Array;
  ops: readonly Op[];
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
const COUNT_OPS: readonly Op[] = ['+'];
const MINUTES_PER_HOUR = HOUR_MS / MINUTE_MS;

type Pairs = [number, number][];

export class MinuteHour {
  readonly hour: number;
  readonly #endpoints: KeyedRows<number>;
  readonly #queries: KeyedRows<[number, number]>;
  readonly #noise: KeyedRows<[number, string]>;
  readonly #findings: KeyedRows<number>;
  /** Keyed `endpointId:fingerprint`, as Summaries' totals are. */
  readonly #selects: KeyedRows<string>;
  /** Each statement's duration histograms by minute, read when first asked for (only statements that may be slow are). */
  readonly #durations = new Map<string, { minute: number; histogram: Pairs }[]>();
  /** See #slowExecutions. */
  readonly #slow = new Map<number, Float64Array>();
  readonly #db: Database;
  #readDurations: Statement | undefined;

  /** Reads every minute row of the hour starting at `hour` (a few hundred thousand at 1,000 busy endpoints). */
  constructor(db: Database, hour: number) {
    this.#db = db;
    this.hour = hour;
    // As one JSON array per table, in primary-key order (start, then key): a row each costs 1.5× as
    // much, and sorting by key in SQL more than grouping in JS. SQLite writes REALs in JSON with the
    // digits that read back the same double (minute-edges.test.ts holds the sums to the plain ones).
    const read = (table: string, keys: string, columns: string): unknown[][] =>
      JSON.parse(
        db
          .prepare(
            `SELECT coalesce(json_group_array(json_array(${keys}, (start - ?) / ${MINUTE_MS}, ${columns})), '[]')
             FROM ${table} WHERE size = ${MINUTE_MS} AND start >= ? AND start < ?`,
          )
          .pluck()
          .get(hour, hour, hour + HOUR_MS) as string,
      ) as unknown[][];
    const one = (row: unknown[]) => row[0] as number;
    const two = <T>(row: unknown[]) => [row[0] as number, row[1] as T] as [number, T];
    this.#endpoints = keyed(
      read('summary_endpoints', 'endpoint_id', 'requests, db_spans, wasted_ms, first_seen_ms, last_seen_ms, outbound_requests, outbound_ms'),
      1,
      one,
      ENDPOINT_OPS,
    );
    this.#queries = keyed(read('summary_queries', 'endpoint_id, queries', 'requests'), 2, two<number>, COUNT_OPS);
    this.#noise = keyed(read('summary_noise', 'endpoint_id, rule', 'dropped'), 2, two<string>, COUNT_OPS);
    this.#findings = keyed(read('summary_findings', 'finding_id', 'requests_affected, executions, wasted_ms'), 1, one, FINDING_OPS);
    this.#selects = keyed(read('summary_selects', 'endpoint_id, fingerprint', 'requests, executions, total_ms, max_ms'), 2, (row) => `${row[0] as number}:${row[1] as string}`, SELECT_OPS);
  }

  /** How many rows it holds, for the cache's bound (each takes 17 to 113 bytes: a minute, its values and their suffix). */
  get rows(): number {
    return [this.#endpoints, this.#queries, this.#noise, this.#findings, this.#selects].reduce((n, t) => n + t.minutes.length, 0);
  }

  /** Sums over minute rows starting in [fromMs, toMs), both within the hour. */
  totals(fromMs: number, toMs: number, slowFloor: number): MinuteTotals {
    const [a, b] = this.#minutes(fromMs, toMs);
    const out: MinuteTotals = { endpoints: new Map(), queries: new Map(), noise: new Map(), findings: new Map(), selects: new Map() };
    fold(this.#endpoints, a, b, (id, v) => out.endpoints.set(id, v));
    fold(this.#findings, a, b, (id, v) => out.findings.set(id, v));
    fold(this.#queries, a, b, ([id, n], v) => inner(out.queries, id).set(n, v[0]!));
    fold(this.#noise, a, b, ([id, rule], v) => inner(out.noise, id).set(rule, v[0]!));
    // The fifth SELECT column counts executions of minutes whose slowest call is over slowFloor, as the SQL sum does.
    const slow = this.#slowExecutions(slowFloor);
    fold(this.#selects, a, b, (key, v, from, to, end) => {
      // Counts of executions: the difference of two suffixes within one key is exact.
      v.push(slow[from]! - (to === end ? 0 : slow[to]!));
      out.selects.set(key, v);
    });
    return out;
  }

  /** Per SELECT row: executions from that row to its key's last whose minute's slowest call is over `slowFloor` (kept per floor: serve has one). */
  #slowExecutions(slowFloor: number): Float64Array {
    let suffix = this.#slow.get(slowFloor);
    if (suffix === undefined) {
      const t = this.#selects;
      const w = t.ops.length;
      suffix = new Float64Array(t.minutes.length);
      for (let i = 0; i < t.keys.length; i++) {
        let after = 0;
        for (let j = t.offsets[i + 1]! - 1; j >= t.offsets[i]!; j--) {
          after += t.values[j * w + 3]! > slowFloor ? t.values[j * w + 1]! : 0;
          suffix[j] = after;
        }
      }
      this.#slow.set(slowFloor, suffix);
    }
    return suffix;
  }

  /** Each endpoint's requests, DB spans and wasted ms over minute rows starting in [fromMs, toMs). */
  endpointSums(fromMs: number, toMs: number): Map<number, number[]> {
    const [a, b] = this.#minutes(fromMs, toMs);
    const out = new Map<number, number[]>();
    fold(this.#endpoints, a, b, (id, v) => out.set(id, v.slice(0, 3)));
    return out;
  }

  /** A statement's (`endpointId:fingerprint`) duration histogram over minute rows starting in [fromMs, toMs), added into `into`. */
  addDurations(into: DurationHistogram, key: string, fromMs: number, toMs: number): void {
    let rows = this.#durations.get(key);
    if (rows === undefined) {
      const colon = key.indexOf(':');
      this.#readDurations ??= this.#db
        .prepare(`SELECT minute, rollup -> '$.durations' FROM fingerprint_minutes WHERE endpoint_id = ? AND fingerprint = ? AND minute >= ? AND minute < ? ORDER BY minute`)
        .raw();
      const read = this.#readDurations.all(Number(key.slice(0, colon)), key.slice(colon + 1), this.hour, this.hour + HOUR_MS) as [number, string | null][];
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
    return [Math.max(0, (fromMs - this.hour) / MINUTE_MS), Math.min(MINUTES_PER_HOUR, (toMs - this.hour) / MINUTE_MS)];
  }
}

/** Rows (`keyWidth` key columns, the minute in the hour, then one value per op) as KeyedRows: grouped by key, each key's rows in minute order. */
function keyed<K>(rows: readonly unknown[][], keyWidth: number, keyOf: (row: unknown[]) => K, ops: readonly Op[]): KeyedRows<K> {
  const w = ops.length;
  // Each row's key index, in order of first appearance; then two counting sorts, by minute and then
  // (stable) by key, put each key's rows in minute order whatever order SQLite gave them in.
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
  const byMinute = new Int32Array(MINUTES_PER_HOUR + 1);
  for (const row of rows) byMinute[(row[keyWidth] as number) + 1]!++;
  for (let m = 0; m < MINUTES_PER_HOUR; m++) byMinute[m + 1]! += byMinute[m]!;
  const order = new Int32Array(rows.length);
  for (let j = 0; j < rows.length; j++) order[byMinute[rows[j]![keyWidth] as number]!++] = j;
  const offsets = new Int32Array(keys.length + 1);
  for (let j = 0; j < rows.length; j++) offsets[keyOfRow[j]! + 1]!++;
  for (let i = 0; i < keys.length; i++) offsets[i + 1]! += offsets[i]!;
  const next = offsets.slice(0, keys.length);
  const minutes = new Uint8Array(rows.length);
  const values = new Float64Array(rows.length * w);
  for (const j of order) {
    const row = rows[j]!;
    const at = next[keyOfRow[j]!]!++;
    minutes[at] = row[keyWidth] as number;
    for (let c = 0; c < w; c++) values[at * w + c] = row[keyWidth + 1 + c] as number;
  }
  // Each key's figures from each of its rows to its last, built backwards.
  const suffix = new Float64Array(values.length);
  for (let i = 0; i < keys.length; i++) {
    const last = offsets[i + 1]! - 1;
    for (let j = last; j >= offsets[i]!; j--) {
      for (let c = 0; c < w; c++) {
        const x = values[j * w + c]!;
        suffix[j * w + c] = j === last ? x : combine(ops[c]!, x, suffix[(j + 1) * w + c]!);
      }
    }
  }
  return { keys, offsets, minutes, values, suffix, ops };
}

/** Row j's `w` values as an array (a subarray view per row would cost more than the copy). */
function row(values: Float64Array, j: number, w: number): number[] {
  const v: number[] = [];
  for (let c = 0; c < w; c++) v.push(values[j * w + c]!);
  return v;
}

function combine(op: Op, a: number, b: number): number {
  return op === '+' ? a + b : op === 'min' ? Math.min(a, b) : Math.max(a, b);
}

/** Key i's first row at or after minute a (its rows' minutes ascend). */
function first<K>(t: KeyedRows<K>, i: number, a: number): number {
  let lo = t.offsets[i]!;
  let hi = t.offsets[i + 1]!;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (t.minutes[mid]! < a) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Each key's figures over its rows in minutes [a, b): `set` gets them with the rows' index range
 * [from, to) and where the key's rows end. Up to the key's last row they are one suffix lookup
 * (a period's start); otherwise the rows are added up.
 */
function fold<K>(t: KeyedRows<K>, a: number, b: number, set: (key: K, values: number[], from: number, to: number, end: number) => void): void {
  const w = t.ops.length;
  for (let i = 0; i < t.keys.length; i++) {
    const end = t.offsets[i + 1]!;
    const from = first(t, i, a);
    const to = b >= MINUTES_PER_HOUR ? end : first(t, i, b);
    if (from >= to) continue;
    if (to === end) {
      set(t.keys[i]!, row(t.suffix, from, w), from, to, end);
      continue;
    }
    const v = row(t.values, from, w);
    for (let j = from + 1; j < to; j++) for (let c = 0; c < w; c++) v[c] = combine(t.ops[c]!, v[c]!, t.values[j * w + c]!);
    set(t.keys[i]!, v, from, to, end);
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
