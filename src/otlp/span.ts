/** The plain span record every decoder produces: only the fields n1lens reads, with ids as lowercase hex. */
import type { CodeLocation } from '../detect/types.js';

/** OTLP SpanKind enum values (trace.proto). */
export const SpanKind = {
  UNSPECIFIED: 0,
  INTERNAL: 1,
  SERVER: 2,
  CLIENT: 3,
  PRODUCER: 4,
  CONSUMER: 5,
} as const;
export type SpanKind = (typeof SpanKind)[keyof typeof SpanKind];

/** 32 lowercase hex characters. */
export type TraceId = string;
/** 16 lowercase hex characters; '' means "no parent". */
export type SpanId = string;

/**
 * One span, reduced to what detection uses. Attribute values are kept only for the keys below;
 * both the old and the stable semantic-convention names are folded into one field.
 */
export interface SpanRecord {
  traceId: TraceId;
  spanId: SpanId;
  parentSpanId: SpanId;
  name: string;
  kind: SpanKind;
  /** Unix epoch milliseconds (fractional); ns precision is not needed for detection. */
  startMs: number;
  endMs: number;
  /** resource attribute service.name, '' when absent. */
  service: string;
  /**
   * The process that emitted the span, from resource attributes: service.instance.id, else
   * host.name and process.pid joined by '/', else whichever of the two is there. Connection
   * concurrency is counted per process (a worker's connections are its own).
   */
  instance?: string;
  /** http.request.method | http.method */
  httpMethod?: string;
  /** http.route */
  httpRoute?: string;
  /** url.path | http.target: the raw path (ids and all), for servers that do not set a route. */
  httpTarget?: string;
  /** http.response.status_code | http.status_code of a SERVER span (or one without a parent): what the request was answered (dead_view: a 404 or 405 is no use of the route). */
  httpStatus?: number;
  /** db.system.name | db.system */
  dbSystem?: string;
  /** db.query.text | db.statement */
  dbStatement?: string;
  /** messaging.system, rpc.system: marks outbound non-HTTP client work. */
  messagingSystem?: string;
  rpcSystem?: string;
  /** server.address | net.peer.name | url.full host | http.url host: who an outbound call went to. */
  peer?: string;
  /** client.address | http.client_ip | net.peer.ip, then user_agent.original | http.user_agent, joined by ' ': who sent a request (periodic callers). */
  client?: string;
  /** status.code == ERROR */
  error?: boolean;
  /** code.* and n1lens.* attributes (otlp/location.ts); interned, so spans of one loop share it. */
  location?: CodeLocation;
}

/**
 * A plain DB span as a decoder hands it to SpanSink.dbSpan. Each decoder owns one and refills it for
 * every span, so it is valid only during the call: its numbers are written in place, where numbers
 * passed as arguments would each be boxed (a heap number per time and per id word past 2^31, about
 * 50 bytes a span for the young generation to collect).
 */
export class DbSpanFields {
  traceId: TraceId = '';
  /** The span id (16 hex digits) as the two 32-bit words its first and last 8 digits spell. */
  spanIdHi = 0;
  spanIdLo = 0;
  parentSpanId: SpanId = '';
  /** As SpanRecord's. */
  startMs = 0;
  endMs = 0;
  system = '';
  /**
   * The statement is `statement + comment`, split before a trailing block comment (sqlcommenter's
   * carries the request's traceparent) so the text before it is shared across requests; `comment`
   * is '' when nothing was split off.
   */
  statement = '';
  comment = '';
  service = '';
  location: CodeLocation | undefined = undefined;
}

/** A span id given as the two 32-bit words its 16 hex digits spell. */
export type SpanIdWords = Readonly<Pick<DbSpanFields, 'spanIdHi' | 'spanIdLo'>>;

/**
 * Where a decoder writes a batch's valid spans, in order, instead of making a record of each
 * (WireDecoder.decodeTo): a plain DB span (a statement and a system, a parent, kind neither SERVER
 * nor CONSUMER) as its fields, any other span as its record.
 */
export interface SpanSink {
  /** A plain DB span; `span` is the decoder's, refilled after the call (copy what outlives it). */
  dbSpan(span: Readonly<DbSpanFields>): void;
  span(record: SpanRecord): void;
}

/**
 * Why a decoded span was refused (OTLP partial_success). `no_timestamp`: a Zipkin v2 span the spec
 * allows to be incomplete, with no start time (files only: OTLP's start time is a required field).
 */
export type SpanRejectReason = 'bad_trace_id' | 'bad_span_id' | 'bad_parent_span_id' | 'end_before_start' | 'no_timestamp';

/** The result of decoding one ExportTraceServiceRequest. */
export interface DecodedBatch {
  spans: SpanRecord[];
  rejected: { reason: SpanRejectReason; count: number }[];
  /** Set when some span was refused (to-span.ts BatchBuilder, the wire decoder's `decode`): each record's index among all the request's spans. */
  ordinals?: number[];
}

/** Spans refused, by reason (n1-report's `summary.spansDropped`). */
export type RefusedSpans = Partial<Record<SpanRejectReason, number>>;

/** Adds a batch's refused spans to `into`. */
export function countRefused(into: RefusedSpans, batch: Pick<DecodedBatch, 'rejected'>): void {
  for (const r of batch.rejected) into[r.reason] = (into[r.reason] ?? 0) + r.count;
}

/** The spans a batch refused. */
export function refusedIn(batch: Pick<DecodedBatch, 'rejected'>): number {
  let n = 0;
  for (const r of batch.rejected) n += r.count;
  return n;
}
