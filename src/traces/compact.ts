/**
 * Open traces in columns, for the Analyzer: a plain DB span (the bulk of a Django trace) is kept as
 * a few values in arrays instead of its SpanRecord, so the records die young and a buffered span
 * costs a fraction of the heap. A completed trace is assembled without leaving them
 * (`assembleColumns`: each request's DB spans as indices, which detect/request.ts analyses in place);
 * `assembleCompact`, the same with the DB spans as objects, gives exactly what `assembleTrace` gives
 * for the same spans in the same order (assemble.test.ts checks the two against each other).
 */
import type { CodeLocation } from '../detect/types.js';
import { DbSpanFields, type SpanRecord } from '../otlp/span.js';
import { StatementSplitter } from '../otlp/statement-split.js';
import { adoptDescendantRoutes, awaitsParents, isDbSpan, type AssemblyStats, isRequestSpan, looksWhole, orphanRequestFor, withoutQueriesOutside, outboundCall, outboundKindOf, peerCalls, requestFor, sortByStart, type ReleasedTrace } from './assemble.js';
import type { TraceBuffer } from './assembler.js';
import type { RecentSpans } from './recent.js';
import type { ColumnRequest, DbSpan, Request } from './request.js';

/**
 * A column of strings that are usually all the same (a trace's DB system, service, parent span):
 * one value until a different one arrives, then an array.
 */
export class UniformColumn<T = string> {
  first: T | undefined;
  values: T[] | undefined;
  length = 0;

  push(value: T): void {
    if (this.values !== undefined) this.values.push(value);
    else if (this.length === 0) this.first = value;
    else if (value !== this.first) {
      this.values = new Array<T>(this.length).fill(this.first as T);
      this.values.push(value);
    }
    this.length++;
  }

  get(i: number): T {
    return (this.values === undefined ? this.first : this.values[i]) as T;
  }
}

/** Values per DB span in `CompactTrace.dbCols`: start (ms), duration (ms), span id high word, low word. */
export const DB_STRIDE = 4;

/**
 * The 32-bit word that 8 lowercase hex digits of `id` from `at` spell, or -1 when they are not 8
 * such digits. Span ids from the wire are 16 of them; any other id (JSON input, tests) is kept as
 * its string (CompactTrace.oddIds).
 */
function hexWord(id: string, at: number): number {
  let word = 0;
  for (let i = at; i < at + 8; i++) {
    const c = id.charCodeAt(i);
    let d: number;
    if (c >= 48 && c <= 57) d = c - 48;
    else if (c >= 97 && c <= 102) d = c - 87;
    else return -1;
    word = word * 16 + d;
  }
  return word;
}

/** The canonical id that two words spell: 16 lowercase hex digits. */
function wordsHex(hi: number, lo: number): string {
  return hi.toString(16).padStart(8, '0') + lo.toString(16).padStart(8, '0');
}

/** The DB span columns detection reads (CompactTrace; detect/request.ts builds one from DbSpan objects too). */
export interface DbColumns {
  /** Each DB span's statement is its entry here followed by its entry in dbComments (see dbStatement). */
  readonly dbStatements: readonly string[];
  /** The trailing comment the wire decoder split off a statement (sqlcommenter's, one per request), '' when none. */
  readonly dbComments: UniformColumn;
  /** DB_STRIDE values per DB span: start, duration, id words. */
  readonly dbCols: readonly number[];
  readonly dbSystems: UniformColumn;
  readonly dbLocations: UniformColumn<CodeLocation | undefined>;
}

/** The whole statement of DB span j. */
export function dbStatement(db: DbColumns, j: number): string {
  const comment = db.dbComments.get(j);
  return comment === '' ? db.dbStatements[j]! : db.dbStatements[j]! + comment;
}

/**
 * One trace's spans: DB spans that are not request spans in columns, every other span as its
 * record. A buffered DB span is four unboxed numbers (its times and its id as two 32-bit words)
 * and a reference to its statement, which the decoder interns; a sqlcommenter comment, the same
 * for every statement of a request, is kept apart, once per trace while it does not vary.
 */
export class CompactTrace implements DbColumns {
  /** Spans added so far; each span's arrival index is the count before it. */
  count = 0;
  /** The trace id (every span of an assembler's trace has it). */
  traceId = '';
  readonly records: SpanRecord[] = [];
  /** Arrival index of each record; DB spans take the other indices, in order. */
  readonly recordSeq: number[] = [];
  readonly dbStatements: string[] = [];
  readonly dbComments = new UniformColumn();
  readonly dbCols: number[] = [];
  /** DB span index → its id, for ids that are not 16 lowercase hex digits (their words are -1). */
  oddIds: Map<number, string> | undefined;
  readonly dbParents = new UniformColumn();
  readonly dbSystems = new UniformColumn();
  readonly dbServices = new UniformColumn();
  /** Interned locations (otlp/location.ts): one reference per span once they differ. */
  readonly dbLocations = new UniformColumn<CodeLocation | undefined>();

  /** DB spans in the columns. */
  get dbCount(): number {
    return this.dbStatements.length;
  }

  /**
   * Adds a span's record; `splitter` splits a DB span's statement as the wire decoder does
   * (StatementSplitter), and a plain DB span is handed to addDbWords through `fields`, which the
   * caller may reuse from span to span as a decoder does.
   */
  add(span: SpanRecord, splitter?: StatementSplitter, fields = new DbSpanFields()): void {
    if (!isDbSpan(span) || isRequestSpan(span)) {
      if (this.count === 0) this.traceId = span.traceId;
      this.recordSeq.push(this.count++);
      this.records.push(span);
      return;
    }
    const spanId = span.spanId;
    fields.spanIdHi = -1;
    fields.spanIdLo = -1;
    if (spanId.length === 16) {
      fields.spanIdHi = hexWord(spanId, 0);
      fields.spanIdLo = fields.spanIdHi < 0 ? -1 : hexWord(spanId, 8);
    }
    if (fields.spanIdLo < 0) {
      fields.spanIdHi = -1;
      (this.oddIds ??= new Map()).set(this.dbStatements.length, spanId);
    }
    fields.traceId = span.traceId;
    fields.parentSpanId = span.parentSpanId;
    fields.startMs = span.startMs;
    fields.endMs = span.endMs;
    fields.system = span.dbSystem!;
    if (splitter === undefined) {
      fields.statement = span.dbStatement!;
      fields.comment = '';
    } else {
      splitter.split(span.dbStatement!);
      fields.statement = splitter.text;
      fields.comment = splitter.comment;
    }
    fields.service = span.service;
    fields.location = span.location;
    this.addDbWords(fields);
  }

  /**
   * A plain DB span as SpanSink.dbSpan gives it: the id as its two words (-1, -1 with the id in
   * oddIds), the statement as its text and trailing comment.
   */
  addDbWords(span: Readonly<DbSpanFields>): void {
    if (this.count++ === 0) this.traceId = span.traceId;
    this.dbStatements.push(span.statement);
    this.dbComments.push(span.comment);
    const startMs = span.startMs;
    this.dbCols.push(startMs, span.endMs - startMs, span.spanIdHi, span.spanIdLo);
    this.dbParents.push(span.parentSpanId);
    this.dbSystems.push(span.system);
    this.dbServices.push(span.service);
    this.dbLocations.push(span.location);
  }

  /** The id of DB span j, as the decoder gave it. */
  dbId(j: number): string {
    const hi = this.dbCols[j * DB_STRIDE + 2]!;
    return hi < 0 ? this.oddIds!.get(j)! : wordsHex(hi, this.dbCols[j * DB_STRIDE + 3]!);
  }

  /** Remembers the id of every span (a released trace's), for telling retried copies from late spans. */
  rememberIds(recent: RecentSpans): void {
    const cols = this.dbCols;
    for (let k = 0; k < cols.length; k += DB_STRIDE) {
      const hi = cols[k + 2]!;
      if (hi >= 0) recent.addWords(hi, cols[k + 3]!);
      else recent.add(this.oddIds!.get(k / DB_STRIDE)!);
    }
    for (const record of this.records) recent.add(record.spanId);
  }

  /** `looksWhole` (assemble.ts) of this trace: its records, and its DB spans by their parents and ids. */
  looksWhole(opaque?: (peer: string) => boolean, awaited?: ReadonlySet<string>): boolean {
    return looksWhole(this.records, this.#dbParentList(), this.#dbIdTest(), opaque, awaited);
  }

  /** `awaitsParents` (assemble.ts) of this trace, as looksWhole. */
  awaitsParents(released?: ReleasedTrace): boolean {
    return awaitsParents(this.records, this.#dbParentList(), this.#dbIdTest(), released);
  }

  #dbParentList(): readonly string[] {
    return this.dbParents.values ?? (this.dbParents.length === 0 ? [] : [this.dbParents.first!]);
  }

  /** Whether an id is a DB span's. Its set is made only if asked: a Django trace's DB spans hang off its request span, a record. */
  #dbIdTest(): (spanId: string) => boolean {
    let dbIds: DbIdSet | undefined;
    return (spanId) => {
      if (dbIds === undefined) {
        dbIds = new DbIdSet(this);
        for (let j = 0; j < this.dbCount; j++) dbIds.add(j);
      }
      return dbIds.has(spanId);
    };
  }

  /** Arrival index of every DB span: the indices records do not take, in order. */
  dbSeq(): number[] {
    const out: number[] = [];
    const n = this.dbCount;
    let r = 0;
    for (let seq = 0; out.length < n; seq++) {
      if (r < this.recordSeq.length && this.recordSeq[r] === seq) r++;
      else out.push(seq);
    }
    return out;
  }
}

/** The columns of DB spans given as objects (the object path: analyseRequest over a Request). */
export function dbColumnsOf(spans: readonly DbSpan[]): CompactTrace {
  const t = new CompactTrace();
  for (const s of spans) {
    t.dbStatements.push(s.statement);
    t.dbComments.push('');
    // The duration as given: start + duration - start need not give it back exactly.
    t.dbCols.push(s.startMs, s.durationMs, -1, -1);
    t.dbSystems.push(s.system);
    t.dbLocations.push(s.location);
  }
  return t;
}

/** A TraceBuffer that keeps open traces as CompactTraces, with its own StatementSplitter and DbSpanFields for records. */
export function compactTraces(): TraceBuffer<CompactTrace> {
  const splitter = new StatementSplitter();
  const fields = new DbSpanFields();
  return {
    create: () => new CompactTrace(),
    add: (trace, span) => trace.add(span, splitter, fields),
    rememberIds: (trace, recent) => trace.rememberIds(recent),
    looksWhole: (trace, opaque, awaited) => trace.looksWhole(opaque, awaited),
    awaitsParents: (trace, released) => trace.awaitsParents(released),
    // Calls and requests are records: a plain DB span is never one.
    records: (trace) => trace.records,
  };
}

/**
 * The ids of a trace's DB spans, for telling a second copy of a span from a new one and for
 * looksWhole's question whether a parent arrived: open addressing over the id words in the trace's
 * own columns, so no id string is made.
 */
class DbIdSet {
  readonly #t: CompactTrace;
  /** DB span index + 1 per slot, 0 for empty. */
  readonly #slots: Int32Array;
  readonly #mask: number;

  constructor(t: CompactTrace) {
    this.#t = t;
    let size = 16;
    while (size < t.dbCount * 2) size *= 2;
    this.#slots = new Int32Array(size);
    this.#mask = size - 1;
  }

  /** Adds DB span j's id; false when an equal id was already added. */
  add(j: number): boolean {
    const cols = this.#t.dbCols;
    const hi = cols[j * DB_STRIDE + 2]!;
    const lo = cols[j * DB_STRIDE + 3]!;
    const odd = hi < 0 ? this.#t.oddIds!.get(j)! : '';
    const slots = this.#slots;
    for (let slot = this.#hash(hi, lo, odd); ; slot = (slot + 1) & this.#mask) {
      const k = slots[slot]!;
      if (k === 0) {
        slots[slot] = j + 1;
        return true;
      }
      if (this.#same(k - 1, hi, lo, odd)) return false;
    }
  }

  /** True when a DB span with this id was added. */
  has(spanId: string): boolean {
    let hi = -1;
    let lo = -1;
    if (spanId.length === 16) {
      hi = hexWord(spanId, 0);
      lo = hi < 0 ? -1 : hexWord(spanId, 8);
    }
    if (lo < 0) hi = -1;
    const odd = hi < 0 ? spanId : '';
    const slots = this.#slots;
    for (let slot = this.#hash(hi, lo, odd); ; slot = (slot + 1) & this.#mask) {
      const k = slots[slot]!;
      if (k === 0) return false;
      if (this.#same(k - 1, hi, lo, odd)) return true;
    }
  }

  #same(j: number, hi: number, lo: number, odd: string): boolean {
    const cols = this.#t.dbCols;
    const jHi = cols[j * DB_STRIDE + 2]!;
    if (jHi !== hi) return false;
    return hi >= 0 ? cols[j * DB_STRIDE + 3] === lo : this.#t.oddIds!.get(j) === odd;
  }

  #hash(hi: number, lo: number, odd: string): number {
    let h = lo ^ Math.imul(hi, 0x9e3779b1);
    for (let i = 0; i < odd.length; i++) h = Math.imul(h ^ odd.charCodeAt(i), 0x01000193);
    return (h ^ (h >>> 15)) & this.#mask;
  }
}

/** A request of the trace, with no DB span yet. */
function columnRequestFor(r: Request, t: CompactTrace): ColumnRequest {
  const request: ColumnRequest = {
    traceId: r.traceId,
    spanId: r.spanId,
    endpoint: r.endpoint,
    service: r.service,
    startMs: r.startMs,
    durationMs: r.durationMs,
    db: t,
    dbOrder: [],
    outbound: r.outbound,
  };
  if (r.path !== undefined) request.path = r.path;
  if (r.instance !== undefined) request.instance = r.instance;
  if (r.client !== undefined) request.client = r.client;
  if (r.status !== undefined) request.status = r.status;
  return request;
}

/**
 * `assembleTrace` over a CompactTrace, with each request's DB spans left in the columns (as
 * indices). Where arrival order across the two kinds of spans matters (the last span with a
 * duplicated id, the first orphan), the arrival indices decide.
 */
export function assembleColumns(t: CompactTrace, stats?: AssemblyStats): ColumnRequest[] {
  const { records } = t;
  const requests = new Map<string, ColumnRequest>();
  let duplicates = 0;
  const requestSpans = new Map<string, SpanRecord>();
  // Low id words of the request spans: a DB span's id is looked up as a string only when its low word is one.
  let requestLow: Set<number> | undefined;
  for (const s of records) {
    if (!isRequestSpan(s)) continue;
    if (requests.has(s.spanId)) duplicates++;
    requests.set(s.spanId, columnRequestFor(requestFor(s), t));
    requestSpans.set(s.spanId, s);
    if (s.spanId.length === 16 && hexWord(s.spanId, 0) >= 0) {
      const lo = hexWord(s.spanId, 8);
      if (lo >= 0) (requestLow ??= new Set()).add(lo);
    }
  }
  const dbCount = t.dbCount;
  const cols = t.dbCols;
  const isRequestId = (j: number): boolean => {
    if (requests.size === 0) return false;
    const hi = cols[j * DB_STRIDE + 2]!;
    if (hi >= 0 && (requestLow === undefined || !requestLow.has(cols[j * DB_STRIDE + 3]!))) return false;
    return requests.has(t.dbId(j));
  };
  // DB span ids already assembled: a second copy of a span is the same span (assembleTrace's rule).
  const taken = new DbIdSet(t);
  // Other spans' ids already assembled.
  const takenRecords = new Set<string>();

  // Span id → the last span with it: a record index i as i, a DB span j as ~j. Built on first need.
  let byId: Map<string, number> | undefined;
  let ownerOf: Map<string, string> | undefined;
  const parentOf = (ref: number): string => (ref >= 0 ? records[ref]!.parentSpanId : t.dbParents.get(~ref));
  let dbSeq: number[] | undefined;
  const idOf = (ref: number): string => (ref >= 0 ? records[ref]!.spanId : t.dbId(~ref));
  const findOwner = (parentSpanId: string): string => {
    if (requests.has(parentSpanId)) return parentSpanId;
    if (byId === undefined) {
      byId = new Map<string, number>();
      // Both lists in arrival order, so a later span with the same id wins, as in assembleTrace.
      dbSeq ??= t.dbSeq();
      let i = 0;
      let j = 0;
      while (i < records.length || j < dbCount) {
        if (j >= dbCount || (i < records.length && t.recordSeq[i]! < dbSeq[j]!)) {
          byId.set(records[i]!.spanId, i);
          i++;
        } else {
          byId.set(t.dbId(j), ~j);
          j++;
        }
      }
      ownerOf = new Map<string, string>();
    }
    const memo = ownerOf!;
    const path: string[] = [];
    let owner = '';
    let current = byId.get(parentSpanId);
    // At most count steps: a longer walk can only be a cycle.
    for (let steps = 0; current !== undefined && steps <= t.count; steps++) {
      const id = idOf(current);
      const known = memo.get(id);
      if (known !== undefined) {
        owner = known;
        break;
      }
      if (requests.has(id)) {
        owner = id;
        break;
      }
      path.push(id);
      const parent = parentOf(current);
      if (parent === '' || parent === id) break;
      current = byId.get(parent);
    }
    for (const id of path) memo.set(id, owner);
    return owner;
  };

  // Route-carrying spans are never plain DB spans, so the records hold them all.
  adoptDescendantRoutes(requestSpans, requests, records, (s) => findOwner(s.parentSpanId));

  // One per service, as in assembleTrace, each with the arrival index of its first orphan.
  let orphans: Map<string, { request: ColumnRequest; seq: number }> | undefined;
  const orphanRequest = (seq: number, traceId: string, service: string, startMs: number): ColumnRequest => {
    orphans ??= new Map();
    const orphan = orphans.get(service);
    if (orphan === undefined) {
      const request = columnRequestFor(orphanRequestFor(traceId, service, startMs), t);
      orphans.set(service, { request, seq });
      return request;
    }
    if (seq < orphan.seq) {
      // assembleTrace makes the orphan request from the first orphan to arrive.
      orphan.request.traceId = traceId;
      orphan.request.startMs = startMs;
      orphan.seq = seq;
    }
    return orphan.request;
  };

  // A trace with one request (the usual case) gives it its DB spans in an array made once at the
  // trace's DB span count, an upper bound, and cut to length after; others grow by push.
  let only: ColumnRequest | undefined;
  let onlyCount = 0;
  if (requests.size === 1) {
    only = requests.values().next().value!;
    only.dbOrder = new Array<number>(dbCount);
  }
  // In a Django trace every DB span's parent is the request span: one owner lookup per run of a parent.
  let lastParent: string | undefined;
  let lastOwner = '';
  for (let j = 0; j < dbCount; j++) {
    if (isRequestId(j)) continue; // a request span is never its own child
    if (!taken.add(j)) {
      duplicates++;
      continue;
    }
    const parent = t.dbParents.get(j);
    if (parent !== lastParent) {
      lastParent = parent;
      lastOwner = findOwner(parent);
    }
    const request = lastOwner === '' ? orphanRequest((dbSeq ??= t.dbSeq())[j]!, t.traceId, t.dbServices.get(j), cols[j * DB_STRIDE]!) : requests.get(lastOwner);
    if (request === undefined) continue;
    if (request === only) request.dbOrder[onlyCount++] = j;
    else request.dbOrder.push(j);
  }
  if (only !== undefined) only.dbOrder.length = onlyCount;
  for (let i = 0; i < records.length; i++) {
    const s = records[i]!;
    // DB spans in records are request spans, which are never their own children.
    const db = isDbSpan(s);
    const outKind = db ? null : outboundKindOf(s);
    if (outKind === null) continue;
    if (requests.has(s.spanId)) continue;
    if (takenRecords.has(s.spanId) || taken.has(s.spanId)) {
      duplicates++;
      continue;
    }
    takenRecords.add(s.spanId);
    const ownerId = findOwner(s.parentSpanId);
    const request = ownerId === '' ? orphanRequest(t.recordSeq[i]!, s.traceId, s.service, s.startMs) : requests.get(ownerId);
    if (request === undefined) continue;
    request.outbound.push(outboundCall(s, outKind));
  }

  if (stats !== undefined) stats.duplicateSpans += duplicates;
  const result = [...requests.values()];
  // In order of their first orphans' arrival, as assembleTrace makes them.
  for (const { request: orphan } of orphans === undefined ? [] : [...orphans.values()].sort((a, b) => a.seq - b.seq)) {
    let first = Infinity;
    let last = -Infinity;
    for (const j of orphan.dbOrder) {
      const start = cols[j * DB_STRIDE]!;
      first = Math.min(first, start);
      last = Math.max(last, start + cols[j * DB_STRIDE + 1]!);
    }
    for (const call of orphan.outbound) {
      first = Math.min(first, call.startMs);
      last = Math.max(last, call.startMs + call.durationMs);
    }
    orphan.startMs = first;
    orphan.durationMs = last - first;
    result.push(orphan);
  }
  for (const r of result) {
    sortByStartIndex(r.dbOrder, cols);
    sortByStart(r.outbound);
  }
  return withoutQueriesOutside(result, requestSpans, (r) => r.dbOrder.length, stats);
}

/** sortByStart over DB span indices: stable, and one pass when they are in order already. */
function sortByStartIndex(order: number[], cols: readonly number[]): void {
  for (let i = 1; i < order.length; i++) {
    if (!(cols[order[i - 1]! * DB_STRIDE]! - cols[order[i]! * DB_STRIDE]! <= 0)) {
      order.sort((a, b) => cols[a * DB_STRIDE]! - cols[b * DB_STRIDE]!);
      return;
    }
  }
}

/** A column request with its DB spans as objects. */
export function requestOfColumns(r: ColumnRequest): Request {
  const { db, dbOrder, ...rest } = r;
  const t = db as CompactTrace;
  const dbSpans = dbOrder.map((j): DbSpan => {
    const span: DbSpan = {
      spanId: t.dbId(j),
      startMs: t.dbCols[j * DB_STRIDE]!,
      durationMs: t.dbCols[j * DB_STRIDE + 1]!,
      system: t.dbSystems.get(j),
      statement: dbStatement(t, j),
    };
    const location = t.dbLocations.get(j);
    if (location !== undefined) span.location = location;
    return span;
  });
  return { ...rest, dbSpans };
}

/** `assembleTrace` over a CompactTrace: assembleColumns with the DB spans as objects. */
export function assembleCompact(t: CompactTrace, stats?: AssemblyStats): Request[] {
  return assembleColumns(t, stats).map(requestOfColumns);
}
