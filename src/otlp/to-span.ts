/** The one mapping from a decoded OTLP span (any encoding) to a SpanRecord, with validation. */

import type { DecodedBatch, SpanKind, SpanRecord, SpanRejectReason } from './span.js';

/** An attribute as both decoders see it; V is the encoding's AnyValue shape. */
export interface KeyValueLike<V> {
  key: string;
  value?: V | null;
}

/** Reads a scalar AnyValue as a string; undefined for empty, array, kvlist and bytes values. */
export type ValueReader<V> = (value: V) => string | undefined;

/**
 * One span, as a decoder hands it over. Ids are the lowercase hex of the raw bytes, whatever their
 * length ('' when absent); the length checks happen here. Times are unsigned 64-bit Unix nanoseconds
 * split into high and low 32-bit words, so they compare exactly without a BigInt per span.
 */
export interface SpanFields<V> {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: number;
  startHi: number;
  startLo: number;
  endHi: number;
  endLo: number;
  attributes: readonly KeyValueLike<V>[] | null | undefined;
  statusCode: number;
}

const STATUS_CODE_ERROR = 2;
const ZERO_TRACE_ID = '0'.repeat(32);
const ZERO_SPAN_ID = '0'.repeat(16);
/** Nanoseconds per high word, in milliseconds: 2^32 / 1e6. */
const MS_PER_HI = 4294.967296;
const REJECT_REASONS: readonly SpanRejectReason[] = ['bad_trace_id', 'bad_span_id', 'bad_parent_span_id', 'end_before_start'];

/** Fractional Unix epoch milliseconds from split nanoseconds. */
export function nanosToMs(hi: number, lo: number): number {
  return hi * MS_PER_HI + lo / 1e6;
}

/** Splits a non-negative nanosecond count (< 2^64) into 32-bit words. */
export function splitNanos(nanos: bigint): [hi: number, lo: number] {
  return [Number((nanos >> 32n) & 0xffffffffn), Number(nanos & 0xffffffffn)];
}

/** The resource's service.name, '' when absent. */
export function serviceName<V>(attributes: readonly KeyValueLike<V>[] | null | undefined, read: ValueReader<V>): string {
  if (!attributes) return '';
  for (const attr of attributes) {
    if (attr.key === 'service.name' && attr.value) return read(attr.value) ?? '';
  }
  return '';
}

/** Why these fields cannot become a SpanRecord, or undefined when they can. */
export function rejectReason<V>(span: SpanFields<V>): SpanRejectReason | undefined {
  // An all-zero id is invalid per the OTLP spec, same as a wrong length.
  if (span.traceId.length !== 32 || span.traceId === ZERO_TRACE_ID) return 'bad_trace_id';
  if (span.spanId.length !== 16 || span.spanId === ZERO_SPAN_ID) return 'bad_span_id';
  if (span.parentSpanId.length !== 0 && span.parentSpanId.length !== 16) return 'bad_parent_span_id';
  if (span.endHi < span.startHi || (span.endHi === span.startHi && span.endLo < span.startLo)) return 'end_before_start';
  return undefined;
}

/** Maps valid fields to a SpanRecord, folding old and stable semantic-convention attribute names. */
export function toSpanRecord<V>(span: SpanFields<V>, service: string, read: ValueReader<V>): SpanRecord {
  const record: SpanRecord = {
    traceId: span.traceId,
    spanId: span.spanId,
    parentSpanId: span.parentSpanId === ZERO_SPAN_ID ? '' : span.parentSpanId,
    name: span.name,
    kind: toKind(span.kind),
    startMs: nanosToMs(span.startHi, span.startLo),
    endMs: nanosToMs(span.endHi, span.endLo),
    service,
  };
  if (span.statusCode === STATUS_CODE_ERROR) record.error = true;
  if (span.attributes) foldAttributes(record, span.attributes, read);
  return record;
}

/** Out-of-range kinds become UNSPECIFIED rather than a value SpanKind does not have. */
function toKind(kind: number): SpanKind {
  return (kind >= 0 && kind <= 5 && Number.isInteger(kind) ? kind : 0) as SpanKind;
}

type FoldedField = 'httpMethod' | 'httpRoute' | 'dbSystem' | 'dbStatement' | 'messagingSystem' | 'rpcSystem';

/**
 * Attribute keys that fold into a record field. `stable` names win over old ones whatever the
 * attribute order; `peer` ranks the sources of SpanRecord.peer, best first.
 */
const FOLDED = new Map<string, { field: FoldedField; stable: boolean } | { peer: number }>([
  ['http.request.method', { field: 'httpMethod', stable: true }],
  ['http.method', { field: 'httpMethod', stable: false }],
  ['http.route', { field: 'httpRoute', stable: true }],
  ['db.system.name', { field: 'dbSystem', stable: true }],
  ['db.system', { field: 'dbSystem', stable: false }],
  ['db.query.text', { field: 'dbStatement', stable: true }],
  ['db.statement', { field: 'dbStatement', stable: false }],
  ['messaging.system', { field: 'messagingSystem', stable: true }],
  ['rpc.system', { field: 'rpcSystem', stable: true }],
  ['server.address', { peer: 1 }],
  ['net.peer.name', { peer: 2 }],
  ['url.full', { peer: 3 }],
  ['http.url', { peer: 4 }],
]);

function foldAttributes<V>(record: SpanRecord, attributes: readonly KeyValueLike<V>[], read: ValueReader<V>): void {
  let peerRank = Infinity;
  for (const attr of attributes) {
    const target = FOLDED.get(attr.key);
    // Only keys of interest pay for reading the value.
    if (target === undefined || !attr.value) continue;
    if ('field' in target) {
      if (!target.stable && record[target.field] !== undefined) continue;
      const value = read(attr.value);
      if (value !== undefined) record[target.field] = value;
    } else if (target.peer < peerRank) {
      const raw = read(attr.value);
      const peer = target.peer <= 2 ? raw : urlHost(raw);
      if (peer) {
        record.peer = peer;
        peerRank = target.peer;
      }
    }
  }
}

const URL_HOST = /^[a-z][a-z0-9+.-]*:\/\/(?:[^@/?#]*@)?(\[[^\]/?#]*\]|[^:/?#]*)/i;

/** The host of an absolute URL, without port or credentials; undefined when not a URL. */
export function urlHost(url: string | undefined): string | undefined {
  if (!url) return undefined;
  const host = URL_HOST.exec(url)?.[1];
  return host ? host.toLowerCase() : undefined;
}

/** Collects the records and rejection counts of one request. */
export class BatchBuilder<V> {
  private readonly spans: SpanRecord[] = [];
  private readonly counts = new Map<SpanRejectReason, number>();

  constructor(private readonly read: ValueReader<V>) {}

  add(span: SpanFields<V>, service: string): void {
    const reason = rejectReason(span);
    if (reason) this.counts.set(reason, (this.counts.get(reason) ?? 0) + 1);
    else this.spans.push(toSpanRecord(span, service, this.read));
  }

  result(): DecodedBatch {
    const rejected: DecodedBatch['rejected'] = [];
    for (const reason of REJECT_REASONS) {
      const count = this.counts.get(reason);
      if (count) rejected.push({ reason, count });
    }
    return { spans: this.spans, rejected };
  }
}
