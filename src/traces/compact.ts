/**
 * Open traces in columns, for the Analyzer: a plain DB span (the bulk of a Django trace) is kept as
 * a few values in arrays instead of its SpanRecord, so the records die young and a buffered span
 * costs a fraction of the heap. `assembleCompact` gives exactly what `assembleTrace` gives for the
 * same spans in the same order (assemble.test.ts checks the two against each other).
 */
import type { CodeLocation } from '../detect/types.js';
import type { SpanRecord } from '../otlp/span.js';
import { adoptDescendantRoutes, finishRequests, isDbSpan, type AssemblyStats, isRequestSpan, orphanRequestFor, outboundCall, outboundKindOf, requestFor } from './assemble.js';
import type { TraceBuffer } from './assembler.js';
import type { DbSpan, Request } from './request.js';

/**
 * A column of strings that are usually all the same (a trace's DB system, service, parent span):
 * one value until a different one arrives, then an array.
 */
class UniformColumn<T = string> {
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

/** One trace's spans: DB spans that are not request spans in columns, every other span as its record. */
export class CompactTrace {
  /** Spans added so far; each span's arrival index is the count before it. */
  count = 0;
  /** The trace id (every span of an assembler's trace has it). */
  traceId = '';
  readonly records: SpanRecord[] = [];
  /** Arrival index of each record; DB spans take the other indices, in order. */
  readonly recordSeq: number[] = [];
  readonly dbIds: string[] = [];
  readonly dbStatements: string[] = [];
  /** start, end (ms) per DB span. */
  readonly dbTimes: number[] = [];
  readonly dbParents = new UniformColumn();
  readonly dbSystems = new UniformColumn();
  readonly dbServices = new UniformColumn();
  /** Interned locations (otlp/location.ts): one reference per span once they differ. */
  readonly dbLocations = new UniformColumn<CodeLocation | undefined>();

  add(span: SpanRecord): void {
    if (isDbSpan(span) && !isRequestSpan(span)) {
      this.addDb(span.traceId, span.spanId, span.parentSpanId, span.startMs, span.endMs, span.dbSystem!, span.dbStatement!, span.service, span.location);
    } else {
      if (this.count === 0) this.traceId = span.traceId;
      this.recordSeq.push(this.count++);
      this.records.push(span);
    }
  }

  /** A plain DB span (one that is not a request span) from its fields: what SpanSink.dbSpan gives. */
  addDb(
    traceId: string, spanId: string, parentSpanId: string, startMs: number, endMs: number,
    system: string, statement: string, service: string, location: CodeLocation | undefined,
  ): void {
    if (this.count++ === 0) this.traceId = traceId;
    this.dbIds.push(spanId);
    this.dbStatements.push(statement);
    this.dbTimes.push(startMs, endMs);
    this.dbParents.push(parentSpanId);
    this.dbSystems.push(system);
    this.dbServices.push(service);
    this.dbLocations.push(location);
  }

  /** Arrival index of every DB span: the indices records do not take, in order. */
  dbSeq(): number[] {
    const out: number[] = [];
    let r = 0;
    for (let seq = 0; out.length < this.dbIds.length; seq++) {
      if (r < this.recordSeq.length && this.recordSeq[r] === seq) r++;
      else out.push(seq);
    }
    return out;
  }
}

/** The TraceBuffer that keeps open traces as CompactTraces. */
export const COMPACT_TRACES: TraceBuffer<CompactTrace> = {
  create: () => new CompactTrace(),
  add: (trace, span) => trace.add(span),
  forEachSpanId: (trace, each) => {
    for (const id of trace.dbIds) each(id);
    for (const record of trace.records) each(record.spanId);
  },
};

/**
 * `assembleTrace` over a CompactTrace. Where arrival order across the two kinds of spans matters
 * (the last span with a duplicated id, the first orphan), the arrival indices decide.
 */
export function assembleCompact(t: CompactTrace, stats?: AssemblyStats): Request[] {
  const { records } = t;
  const requests = new Map<string, Request>();
  let duplicates = 0;
  const requestSpans = new Map<string, SpanRecord>();
  for (const s of records) {
    if (!isRequestSpan(s)) continue;
    if (requests.has(s.spanId)) duplicates++;
    requests.set(s.spanId, requestFor(s));
    requestSpans.set(s.spanId, s);
  }
  // Span ids already assembled: a second copy of a span is the same span (assembleTrace's rule).
  const taken = new Set<string>();

  // Span id → the last span with it: a record index i as i, a DB span j as ~j. Built on first need.
  let byId: Map<string, number> | undefined;
  let ownerOf: Map<string, string> | undefined;
  const parentOf = (ref: number): string => (ref >= 0 ? records[ref]!.parentSpanId : t.dbParents.get(~ref));
  let dbSeq: number[] | undefined;
  const idOf = (ref: number): string => (ref >= 0 ? records[ref]!.spanId : t.dbIds[~ref]!);
  const findOwner = (parentSpanId: string): string => {
    if (requests.has(parentSpanId)) return parentSpanId;
    if (byId === undefined) {
      byId = new Map<string, number>();
      // Both lists in arrival order, so a later span with the same id wins, as in assembleTrace.
      dbSeq ??= t.dbSeq();
      let i = 0;
      let j = 0;
      while (i < records.length || j < t.dbIds.length) {
        if (j >= t.dbIds.length || (i < records.length && t.recordSeq[i]! < dbSeq[j]!)) {
          byId.set(records[i]!.spanId, i);
          i++;
        } else {
          byId.set(t.dbIds[j]!, ~j);
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

  let orphans: Request | undefined;
  let orphanSeq = Infinity;
  const orphanRequest = (seq: number, traceId: string, service: string, startMs: number): Request => {
    if (orphans === undefined) {
      orphans = orphanRequestFor(traceId, service, startMs);
      orphanSeq = seq;
    } else if (seq < orphanSeq) {
      // assembleTrace makes the orphan request from the first orphan to arrive.
      orphans.traceId = traceId;
      orphans.service = service;
      orphans.startMs = startMs;
      orphanSeq = seq;
    }
    return orphans;
  };

  const { dbIds, dbTimes } = t;
  for (let j = 0; j < dbIds.length; j++) {
    const spanId = dbIds[j]!;
    if (requests.has(spanId)) continue; // a request span is never its own child
    if (taken.has(spanId)) {
      duplicates++;
      continue;
    }
    taken.add(spanId);
    const ownerId = findOwner(t.dbParents.get(j));
    const startMs = dbTimes[2 * j]!;
    const request = ownerId === '' ? orphanRequest((dbSeq ??= t.dbSeq())[j]!, t.traceId, t.dbServices.get(j), startMs) : requests.get(ownerId);
    if (request === undefined) continue;
    const dbSpan: DbSpan = {
      spanId,
      startMs,
      durationMs: dbTimes[2 * j + 1]! - startMs,
      system: t.dbSystems.get(j),
      statement: t.dbStatements[j]!,
    };
    const location = t.dbLocations.get(j);
    if (location !== undefined) dbSpan.location = location;
    request.dbSpans.push(dbSpan);
  }
  for (let i = 0; i < records.length; i++) {
    const s = records[i]!;
    // DB spans in records are request spans, which are never their own children.
    const db = isDbSpan(s);
    const outKind = db ? null : outboundKindOf(s);
    if (outKind === null) continue;
    if (requests.has(s.spanId)) continue;
    if (taken.has(s.spanId)) {
      duplicates++;
      continue;
    }
    taken.add(s.spanId);
    const ownerId = findOwner(s.parentSpanId);
    const request = ownerId === '' ? orphanRequest(t.recordSeq[i]!, s.traceId, s.service, s.startMs) : requests.get(ownerId);
    if (request === undefined) continue;
    request.outbound.push(outboundCall(s, outKind));
  }

  if (stats !== undefined) stats.duplicateSpans += duplicates;
  return finishRequests(requests.values(), orphans);
}
