/** The one mapping from a decoded OTLP span (any encoding) to a SpanRecord, with validation. */

import { locationOf, locationSlot, newLocationParts, type LocationParts } from './location.js';
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
/** Nanoseconds per high word, in milliseconds: 2^32 / 1e6 (the wire decoder's DB spans use it inline). */
export const MS_PER_HI = 4294.967296;
const REJECT_REASONS: readonly SpanRejectReason[] = ['bad_trace_id', 'bad_span_id', 'bad_parent_span_id', 'end_before_start', 'no_timestamp'];

/** Fractional Unix epoch milliseconds from split nanoseconds. */
export function nanosToMs(hi: number, lo: number): number {
  return hi * MS_PER_HI + lo / 1e6;
}

/** Splits a non-negative nanosecond count (< 2^64) into 32-bit words. */
export function splitNanos(nanos: bigint): [hi: number, lo: number] {
  return [Number((nanos >> 32n) & 0xffffffffn), Number(nanos & 0xffffffffn)];
}

/**
 * Splits a non-negative whole number of microseconds (Jaeger, Zipkin) into nanosecond words, exactly:
 * µs = a·2^32 + b, so ns = 1000a·2^32 + 1000b and every product stays below 2^53.
 */
export function splitMicros(micros: number): [hi: number, lo: number] {
  const us = Math.max(0, Math.round(micros));
  const a = Math.floor(us / TWO_32);
  const b = (us - a * TWO_32) * 1000;
  const carry = Math.floor(b / TWO_32);
  return [a * 1000 + carry, b - carry * TWO_32];
}
const TWO_32 = 0x1_0000_0000;

/** A hex id of up to `chars` digits, left-padded with zeros (Jaeger and Zipkin write 64-bit trace ids as 16), lowercased; '?' when not hex. */
export function paddedHexId(value: unknown, chars: number): string {
  if (value === undefined || value === null || value === '') return '';
  if (typeof value !== 'string' || value.length > chars || !/^[0-9a-fA-F]+$/.test(value)) return '?';
  return value.padStart(chars, '0').toLowerCase();
}

/** A scalar JSON value as a string (Jaeger tag values, Zipkin tags); undefined for objects and arrays. */
export function readScalar(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return undefined;
}

/** The resource's service.name, '' when absent. */
export function serviceName<V>(attributes: readonly KeyValueLike<V>[] | null | undefined, read: ValueReader<V>): string {
  if (!attributes) return '';
  for (const attr of attributes) {
    if (attr.key === 'service.name' && attr.value) return read(attr.value) ?? '';
  }
  return '';
}

/**
 * The process a resource stands for (SpanRecord.instance): service.instance.id, else
 * `host.name/process.pid`, else either alone; undefined when the resource names none.
 */
export function resourceInstance<V>(attributes: readonly KeyValueLike<V>[] | null | undefined, read: ValueReader<V>): string | undefined {
  if (!attributes) return undefined;
  let host: string | undefined;
  let pid: string | undefined;
  for (const attr of attributes) {
    if (!attr.value) continue;
    if (attr.key === 'service.instance.id') {
      const id = read(attr.value);
      if (id) return id;
    } else if (attr.key === 'host.name') host = read(attr.value);
    else if (attr.key === 'process.pid') pid = read(attr.value);
  }
  return instanceOf(host, pid);
}

/** `host/pid`, either alone, or undefined. */
export function instanceOf(host: string | undefined, pid: string | undefined): string | undefined {
  if (host && pid) return `${host}/${pid}`;
  return host || pid || undefined;
}

/** Why these fields cannot become a SpanRecord, or undefined when they can. */
export function rejectReason<V>(span: SpanFields<V>): SpanRejectReason | undefined {
  return rejectReasonOf(span.traceId, span.spanId, span.parentSpanId, span.startHi, span.startLo, span.endHi, span.endLo);
}

/** rejectReason on the fields themselves (the decoders' hot path: no SpanFields object). */
export function rejectReasonOf(
  traceId: string, spanId: string, parentSpanId: string, startHi: number, startLo: number, endHi: number, endLo: number,
): SpanRejectReason | undefined {
  // An all-zero id is invalid per the OTLP spec, same as a wrong length.
  if (traceId.length !== 32 || traceId === ZERO_TRACE_ID) return 'bad_trace_id';
  if (spanId.length !== 16 || spanId === ZERO_SPAN_ID) return 'bad_span_id';
  if (parentSpanId.length !== 0 && parentSpanId.length !== 16) return 'bad_parent_span_id';
  if (endHi < startHi || (endHi === startHi && endLo < startLo)) return 'end_before_start';
  return undefined;
}

/** Maps valid fields to a SpanRecord, folding old and stable semantic-convention attribute names. */
export function toSpanRecord<V>(span: SpanFields<V>, service: string, read: ValueReader<V>, instance?: string): SpanRecord {
  return spanRecordOf(
    span.traceId, span.spanId, span.parentSpanId, span.name, span.kind,
    span.startHi, span.startLo, span.endHi, span.endLo, span.attributes, span.statusCode, service, read, emptyFolded(), instance,
  );
}

/**
 * toSpanRecord on the fields themselves (the decoders' hot path: no SpanFields object). `folded` is
 * the caller's scratch, overwritten here, so a batch of records reuses one.
 */
export function spanRecordOf<V>(
  traceId: string, spanId: string, parentSpanId: string, name: string, kind: number,
  startHi: number, startLo: number, endHi: number, endLo: number,
  attributes: readonly KeyValueLike<V>[] | null | undefined, statusCode: number, service: string, read: ValueReader<V>,
  folded: FoldedFields, instance?: string,
): SpanRecord {
  folded.httpMethod = folded.httpRoute = folded.httpTarget = folded.httpStatus = folded.dbSystem = folded.dbStatement = undefined;
  folded.messagingSystem = folded.rpcSystem = folded.peer = folded.location = undefined;
  folded.clientAddress = folded.userAgent = undefined;
  if (attributes) foldAttributes(folded, attributes, read);
  return buildRecord(
    traceId, spanId, parentSpanId === ZERO_SPAN_ID ? '' : parentSpanId, name, toKind(kind),
    nanosToMs(startHi, startLo), nanosToMs(endHi, endLo), service, statusCode === STATUS_CODE_ERROR, folded, instance,
  );
}

/** The optional SpanRecord fields, collected before the record is made. */
export interface FoldedFields {
  httpMethod: string | undefined;
  httpRoute: string | undefined;
  httpTarget: string | undefined;
  /** The status code as the attribute's text; SpanRecord.httpStatus when it is one. */
  httpStatus: string | undefined;
  dbSystem: string | undefined;
  dbStatement: string | undefined;
  messagingSystem: string | undefined;
  rpcSystem: string | undefined;
  peer: string | undefined;
  /** Location attribute values by otlp/location.ts slot; undefined until the span has one. */
  location: LocationParts | undefined;
  /** client.address (stable) beats http.client_ip and net.peer.ip (old); joined with the user agent into SpanRecord.client. */
  clientAddress: string | undefined;
  userAgent: string | undefined;
}

/** FoldedFields with nothing set: scratch for spanRecordOf and the wire decoder. */
export function emptyFolded(): FoldedFields {
  return {
    httpMethod: undefined, httpRoute: undefined, httpTarget: undefined, httpStatus: undefined, dbSystem: undefined, dbStatement: undefined,
    messagingSystem: undefined, rpcSystem: undefined, peer: undefined, clientAddress: undefined, userAgent: undefined, location: undefined,
  };
}

/**
 * SpanRecord.httpStatus from the folded text: an HTTP status code (100–599) of a span that can be a
 * request (SERVER, or without a parent), else none; an outbound call's status says nothing n1lens reads.
 */
function statusOf(kind: SpanKind, parentSpanId: string, text: string | undefined): number | undefined {
  if (text === undefined || (kind !== 2 && parentSpanId !== '')) return undefined;
  const code = Number(text);
  return Number.isInteger(code) && code >= 100 && code <= 599 ? code : undefined;
}

/** SpanRecord.client from the folded address and user agent. */
function clientOf(f: FoldedFields): string | undefined {
  if (f.clientAddress === undefined) return f.userAgent;
  return f.userAgent === undefined ? f.clientAddress : `${f.clientAddress} ${f.userAgent}`;
}

/**
 * A SpanRecord with exactly the optional fields that are set. The common shapes (a DB span, an
 * HTTP server span) are single object literals, so V8 allocates them with their properties in
 * place instead of growing the object field by field.
 */
export function buildRecord(
  traceId: string, spanId: string, parentSpanId: string, name: string, kind: SpanKind,
  startMs: number, endMs: number, service: string, error: boolean, f: FoldedFields, instance?: string,
): SpanRecord {
  const location = f.location === undefined ? undefined : locationOf(f.location);
  if (!error && f.messagingSystem === undefined && f.rpcSystem === undefined && f.clientAddress === undefined && f.userAgent === undefined) {
    if (f.dbSystem !== undefined && f.dbStatement !== undefined && f.httpMethod === undefined && f.httpRoute === undefined && f.httpTarget === undefined) {
      // One literal per shape (location or not, peer or not), so V8 allocates the properties in place.
      const db: SpanRecord =
        location !== undefined
          ? f.peer === undefined
            ? { traceId, spanId, parentSpanId, name, kind, startMs, endMs, service, dbSystem: f.dbSystem, dbStatement: f.dbStatement, location }
            : { traceId, spanId, parentSpanId, name, kind, startMs, endMs, service, dbSystem: f.dbSystem, dbStatement: f.dbStatement, peer: f.peer, location }
          : f.peer === undefined
            ? { traceId, spanId, parentSpanId, name, kind, startMs, endMs, service, dbSystem: f.dbSystem, dbStatement: f.dbStatement }
            : { traceId, spanId, parentSpanId, name, kind, startMs, endMs, service, dbSystem: f.dbSystem, dbStatement: f.dbStatement, peer: f.peer };
      if (instance !== undefined) db.instance = instance;
      return db;
    }
    if (f.httpMethod !== undefined && f.httpRoute !== undefined && f.dbSystem === undefined && f.dbStatement === undefined && f.peer === undefined && location === undefined) {
      const http: SpanRecord = { traceId, spanId, parentSpanId, name, kind, startMs, endMs, service, httpMethod: f.httpMethod, httpRoute: f.httpRoute };
      if (f.httpTarget !== undefined) http.httpTarget = f.httpTarget;
      const status = statusOf(kind, parentSpanId, f.httpStatus);
      if (status !== undefined) http.httpStatus = status;
      if (instance !== undefined) http.instance = instance;
      return http;
    }
  }
  const r: SpanRecord = { traceId, spanId, parentSpanId, name, kind, startMs, endMs, service };
  if (instance !== undefined) r.instance = instance;
  if (error) r.error = true;
  if (f.httpMethod !== undefined) r.httpMethod = f.httpMethod;
  if (f.httpRoute !== undefined) r.httpRoute = f.httpRoute;
  if (f.httpTarget !== undefined) r.httpTarget = f.httpTarget;
  const status = statusOf(kind, parentSpanId, f.httpStatus);
  if (status !== undefined) r.httpStatus = status;
  if (f.dbSystem !== undefined) r.dbSystem = f.dbSystem;
  if (f.dbStatement !== undefined) r.dbStatement = f.dbStatement;
  if (f.messagingSystem !== undefined) r.messagingSystem = f.messagingSystem;
  if (f.rpcSystem !== undefined) r.rpcSystem = f.rpcSystem;
  if (f.peer !== undefined) r.peer = f.peer;
  if (location !== undefined) r.location = location;
  const client = clientOf(f);
  if (client !== undefined) r.client = client;
  return r;
}

/** Out-of-range kinds become UNSPECIFIED rather than a value SpanKind does not have. */
function toKind(kind: number): SpanKind {
  return (kind >= 0 && kind <= 5 && Number.isInteger(kind) ? kind : 0) as SpanKind;
}

type FoldedField = 'httpMethod' | 'httpRoute' | 'httpTarget' | 'httpStatus' | 'dbSystem' | 'dbStatement' | 'messagingSystem' | 'rpcSystem';
type Folded = { field: FoldedField; stable: boolean } | { peer: number } | { client: number } | { userAgent: boolean };

/**
 * Attribute keys that fold into a record field. `stable` names win over old ones whatever the
 * attribute order; `peer` ranks the sources of SpanRecord.peer, best first.
 */
const HTTP_METHOD_STABLE: Folded = { field: 'httpMethod', stable: true };
const HTTP_METHOD_OLD: Folded = { field: 'httpMethod', stable: false };
const HTTP_ROUTE: Folded = { field: 'httpRoute', stable: true };
const URL_PATH: Folded = { field: 'httpTarget', stable: true };
const HTTP_TARGET_OLD: Folded = { field: 'httpTarget', stable: false };
const HTTP_STATUS_STABLE: Folded = { field: 'httpStatus', stable: true };
const HTTP_STATUS_OLD: Folded = { field: 'httpStatus', stable: false };
const DB_SYSTEM_STABLE: Folded = { field: 'dbSystem', stable: true };
const DB_SYSTEM_OLD: Folded = { field: 'dbSystem', stable: false };
const DB_STATEMENT_STABLE: Folded = { field: 'dbStatement', stable: true };
const DB_STATEMENT_OLD: Folded = { field: 'dbStatement', stable: false };
const MESSAGING_SYSTEM: Folded = { field: 'messagingSystem', stable: true };
const RPC_SYSTEM: Folded = { field: 'rpcSystem', stable: true };
const SERVER_ADDRESS: Folded = { peer: 1 };
const NET_PEER_NAME: Folded = { peer: 2 };
const URL_FULL: Folded = { peer: 3 };
const HTTP_URL: Folded = { peer: 4 };
const CLIENT_ADDRESS: Folded = { client: 1 };
const HTTP_CLIENT_IP: Folded = { client: 2 };
const NET_PEER_IP: Folded = { client: 3 };
const USER_AGENT_STABLE: Folded = { userAgent: true };
const USER_AGENT_OLD: Folded = { userAgent: false };

/** The fold target of an attribute key: dispatch on length, then compare, so other keys cost a length check. */
function foldedTarget(key: string): Folded | undefined {
  switch (key.length) {
    case 8:
      return key === 'url.full' ? URL_FULL : key === 'http.url' ? HTTP_URL : key === 'url.path' ? URL_PATH : undefined;
    case 9:
      return key === 'db.system' ? DB_SYSTEM_OLD : undefined;
    case 10:
      return key === 'http.route' ? HTTP_ROUTE : key === 'rpc.system' ? RPC_SYSTEM : undefined;
    case 11:
      return key === 'http.method' ? HTTP_METHOD_OLD : key === 'net.peer.ip' ? NET_PEER_IP : key === 'http.target' ? HTTP_TARGET_OLD : undefined;
    case 12:
      return key === 'db.statement' ? DB_STATEMENT_OLD : undefined;
    case 13:
      return key === 'db.query.text' ? DB_STATEMENT_STABLE : key === 'net.peer.name' ? NET_PEER_NAME : undefined;
    case 14:
      return key === 'db.system.name'
        ? DB_SYSTEM_STABLE
        : key === 'server.address'
          ? SERVER_ADDRESS
          : key === 'client.address'
            ? CLIENT_ADDRESS
            : key === 'http.client_ip'
              ? HTTP_CLIENT_IP
              : undefined;
    case 15:
      return key === 'http.user_agent' ? USER_AGENT_OLD : undefined;
    case 16:
      return key === 'messaging.system' ? MESSAGING_SYSTEM : key === 'http.status_code' ? HTTP_STATUS_OLD : undefined;
    case 19:
      return key === 'http.request.method' ? HTTP_METHOD_STABLE : key === 'user_agent.original' ? USER_AGENT_STABLE : undefined;
    case 25:
      return key === 'http.response.status_code' ? HTTP_STATUS_STABLE : undefined;
    default:
      return undefined;
  }
}

function foldAttributes<V>(record: FoldedFields, attributes: readonly KeyValueLike<V>[], read: ValueReader<V>): void {
  let peerRank = Infinity;
  let clientRank = Infinity;
  for (const attr of attributes) {
    const target = foldedTarget(attr.key);
    // Only keys of interest pay for reading the value.
    if (target === undefined) {
      // code.* and n1lens.*: a prefix check first, so other keys skip the lookup.
      const c = attr.key.charCodeAt(0);
      if ((c === 0x63 || c === 0x6e) && attr.value) {
        const slot = locationSlot(attr.key);
        if (slot >= 0) (record.location ??= newLocationParts())[slot] = read(attr.value);
      }
      continue;
    }
    if (!attr.value) continue;
    if ('field' in target) {
      if (!target.stable && record[target.field] !== undefined) continue;
      const value = read(attr.value);
      if (value !== undefined) record[target.field] = value;
    } else if ('client' in target) {
      if (target.client >= clientRank) continue;
      const value = read(attr.value);
      if (value) {
        record.clientAddress = value;
        clientRank = target.client;
      }
    } else if ('userAgent' in target) {
      if (!target.userAgent && record.userAgent !== undefined) continue;
      const value = read(attr.value);
      if (value) record.userAgent = value;
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
  private readonly counts: number[] = REJECT_REASONS.map(() => 0);
  private readonly folded = emptyFolded();
  /** Spans added so far, valid or not. */
  private read = 0;
  /** Each record's index among them, once one span was refused (until then, its index in `spans`). */
  private ordinals: number[] | undefined;

  constructor(private readonly readValue: ValueReader<V>) {}

  /** Adds the span's record, or counts why it was refused; returns the record (undefined when refused). */
  add(span: SpanFields<V>, service: string, instance?: string): SpanRecord | undefined {
    return this.addFields(
      span.traceId, span.spanId, span.parentSpanId, span.name, span.kind,
      span.startHi, span.startLo, span.endHi, span.endLo, span.attributes, span.statusCode, service, instance,
    );
  }

  /** `add` on the fields themselves. */
  addFields(
    traceId: string, spanId: string, parentSpanId: string, name: string, kind: number,
    startHi: number, startLo: number, endHi: number, endLo: number,
    attributes: readonly KeyValueLike<V>[] | null | undefined, statusCode: number, service: string, instance?: string,
  ): SpanRecord | undefined {
    const ordinal = this.read++;
    const reason = rejectReasonOf(traceId, spanId, parentSpanId, startHi, startLo, endHi, endLo);
    if (reason !== undefined) {
      this.#count(reason);
      return undefined;
    }
    const record = spanRecordOf(traceId, spanId, parentSpanId, name, kind, startHi, startLo, endHi, endLo, attributes, statusCode, service, this.readValue, this.folded, instance);
    this.spans.push(record);
    this.ordinals?.push(ordinal);
    return record;
  }

  /** Counts a span the decoder refused before it had fields to add (a Zipkin span with no timestamp). */
  reject(reason: SpanRejectReason): void {
    this.read++;
    this.#count(reason);
  }

  #count(reason: SpanRejectReason): void {
    this.counts[REJECT_REASONS.indexOf(reason)]!++;
    this.ordinals ??= this.spans.map((_, i) => i);
  }

  result(): DecodedBatch {
    const rejected: DecodedBatch['rejected'] = [];
    for (let i = 0; i < REJECT_REASONS.length; i++) {
      const count = this.counts[i]!;
      if (count) rejected.push({ reason: REJECT_REASONS[i]!, count });
    }
    return this.ordinals === undefined ? { spans: this.spans, rejected } : { spans: this.spans, rejected, ordinals: this.ordinals };
  }
}
