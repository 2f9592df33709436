/** What a request is once its spans are assembled: the unit every per-request detector reads. */
import type { CodeLocation } from '../detect/types.js';
import type { SpanId, TraceId } from '../otlp/span.js';
import type { DbColumns } from './compact.js';

/** Endpoint name used for DB spans whose request span never arrived. */
export const NO_REQUEST_SPAN = '(no request span)';

/** A span that ran one SQL statement. */
export interface DbSpan {
  spanId: SpanId;
  startMs: number;
  durationMs: number;
  /** db.system(.name), e.g. postgresql, sqlite. */
  system: string;
  /** The raw statement, literals and all: it is normalised before anything is kept. */
  statement: string;
  /** Where the app issued it (code.* / n1lens.* attributes), when the span says. */
  location?: CodeLocation;
}

export type OutboundKind = 'http' | 'messaging' | 'rpc' | 'other';

/** An outbound CLIENT span that is not a database call (HTTP, messaging, SMTP, RPC). */
export interface OutboundCall {
  spanId: SpanId;
  name: string;
  kind: OutboundKind;
  peer: string;
  startMs: number;
  durationMs: number;
}

/** A local root of work (Django view, Celery task) and the DB and outbound spans beneath it. */
export interface Request {
  traceId: TraceId;
  /** '' for the synthetic request that gathers orphaned DB spans. */
  spanId: SpanId;
  /** `METHOD route`, a task's span name, or NO_REQUEST_SPAN. */
  endpoint: string;
  /** The request span's raw path (url.path | http.target), when it has one: splits catch-all routes. */
  path?: string;
  service: string;
  /** The process that served it (SpanRecord.instance of the request span), when the resource says. */
  instance?: string;
  /** Who sent it (SpanRecord.client of the request span), when the span says. */
  client?: string;
  /** The HTTP status it was answered with (SpanRecord.httpStatus of the request span), when the span says. */
  status?: number;
  startMs: number;
  durationMs: number;
  /** Sorted by start time. */
  dbSpans: DbSpan[];
  /** Sorted by start time. */
  outbound: OutboundCall[];
}

/**
 * A request whose DB spans stay in their trace's columns (traces/compact.ts): what the Analyzer
 * detects on, with no object per DB span. `Request` is the same request with the spans as objects.
 */
export interface ColumnRequest extends Omit<Request, 'dbSpans'> {
  /** The columns the DB spans are in. */
  db: DbColumns;
  /** This request's DB spans, as indices into `db`, sorted by start time. */
  dbOrder: number[];
}
