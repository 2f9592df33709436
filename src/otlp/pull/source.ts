/** What every trace backend client (Jaeger, Tempo) offers: a query in, trace batches and a tally out. */
import type { DecodedBatch } from '../span.js';
import type { HttpOptions } from './http.js';

/** Which traces to pull. Times are Unix epoch milliseconds; a trace is in when it starts in [startMs, endMs]. */
export interface PullQuery {
  /** service.name; required by Jaeger unless it has only one service. */
  service?: string;
  startMs: number;
  endMs: number;
  /** Most traces to pull. */
  limit: number;
}

/** Running totals, updated as traces arrive (read them for the progress line). */
export interface PullStats {
  /** Traces decoded and handed on. */
  fetched: number;
  /** Traces (or search pages) that could not be fetched or decoded after retries. */
  failed: number;
  /** The first few failures, one line each. */
  failures: string[];
}

export const MAX_FAILURES_KEPT = 5;

export function countFailure(stats: PullStats, what: string): void {
  stats.failed++;
  if (stats.failures.length < MAX_FAILURES_KEPT) stats.failures.push(what);
}

/** One backend's client. */
export interface TraceSource {
  /** Names the API for messages, e.g. "Jaeger query API v3 (OTLP)". */
  readonly api: string;
  /** Pulls the query's traces, one or more per batch, never the same trace twice. */
  traces(query: PullQuery, stats: PullStats): AsyncGenerator<DecodedBatch>;
}

/** The APIs openTraceSource knows, in the order it asks for them. */
export type ApiName = 'jaeger-v3' | 'jaeger-v1' | 'tempo';

/** The settings every client shares. */
export interface SourceOptions extends HttpOptions {
  /** Which APIs to try, in order. Default all: Jaeger v3 (OTLP), Jaeger's classic API, Tempo. */
  apis?: readonly ApiName[];
  /** Traces asked for per search request. Default 100. */
  pageSize?: number;
  /** Trace fetches in flight at once (Tempo). Default 4. */
  concurrency?: number;
}

/** `path` under the base URL, keeping a base path such as /jaeger. */
export function apiUrl(base: URL, path: string, params: Record<string, string | undefined> = {}): URL {
  const url = new URL(base.href);
  url.pathname = `${base.pathname.replace(/\/+$/, '')}${path}`;
  url.search = '';
  url.hash = '';
  for (const [key, value] of Object.entries(params)) if (value !== undefined) url.searchParams.set(key, value);
  return url;
}

/** Groups a batch's spans by trace id, keeping only traces not seen before (a paged search may return one twice). */
export function newTraces(batch: DecodedBatch, seen: Set<string>): { batch: DecodedBatch; starts: Map<string, number> } {
  const starts = new Map<string, number>();
  const spans = batch.spans.filter((s) => {
    if (seen.has(s.traceId)) return false;
    starts.set(s.traceId, Math.min(starts.get(s.traceId) ?? Infinity, s.startMs));
    return true;
  });
  for (const id of starts.keys()) seen.add(id);
  return { batch: { spans, rejected: batch.rejected }, starts };
}
