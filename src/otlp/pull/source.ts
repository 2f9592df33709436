/** What every trace backend client (Jaeger, Tempo, Zipkin) offers: a query in, trace batches and a tally out. */
import type { DecodedBatch } from '../span.js';
import { isHtmlPage, type HttpOptions, type HttpResponse } from './http.js';

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

/** Failures already counted, by key (a trace id): overlapping search windows return the same trace again. */
export class FailedOnce {
  readonly #keys = new Set<string>();

  has(key: string): boolean {
    return this.#keys.has(key);
  }

  /** Counts `what` unless `key` failed before. */
  count(stats: PullStats, key: string, what: string): void {
    if (this.#keys.has(key)) return;
    this.#keys.add(key);
    countFailure(stats, what);
  }
}

/** One backend's client. */
export interface TraceSource {
  /** Names the API for messages, e.g. "Jaeger query API v3 (OTLP)". */
  readonly api: string;
  /** Pulls the query's traces, one or more per batch, never the same trace twice. */
  traces(query: PullQuery, stats: PullStats): AsyncGenerator<DecodedBatch>;
}

/** The APIs openTraceSource knows, in the order it asks for them. */
export type ApiName = 'jaeger-v3' | 'jaeger-v1' | 'tempo' | 'zipkin';

/** What a probe met that was no API's answer, for openTraceSource's message. */
export interface ProbeNotes {
  /** The first API request answered with a web page, and where redirects led. */
  htmlPage?: { asked: URL; redirectedTo?: URL };
}

/** Notes the first probe answered with a web page (HttpResponse's isHtmlPage), for openTraceSource's message. */
export function noteHtmlPage(notes: ProbeNotes, asked: URL, response: HttpResponse): void {
  if (notes.htmlPage !== undefined || !isHtmlPage(response)) return;
  notes.htmlPage = { asked, ...(response.redirectedTo === undefined ? {} : { redirectedTo: response.redirectedTo }) };
}

/** The settings every client shares. */
export interface SourceOptions extends HttpOptions {
  /** Which APIs to try, in order. Default all: Jaeger v3 (OTLP), Jaeger's classic API, Tempo, Zipkin. */
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
export function newTraces(batch: DecodedBatch, seen: Set<string>): DecodedBatch {
  const fresh = new Set<string>();
  const spans = batch.spans.filter((s) => {
    if (seen.has(s.traceId)) return false;
    fresh.add(s.traceId);
    return true;
  });
  for (const id of fresh) seen.add(id);
  return { spans, rejected: batch.rejected };
}

/** How a search answer that lists whole traces (Jaeger's /api/traces, Zipkin's /api/v2/traces) is read. */
export interface TraceListFormat {
  /** The list's name in messages: `data` gives `data[3]`. */
  name: string;
  /** A listed trace's id as the backend spells it, when it has one. */
  idOf(trace: unknown): string | undefined;
  /** Decodes one listed trace; throws when it cannot. */
  decode(trace: unknown, where: string): DecodedBatch;
}

/**
 * The new traces of a search answer, a batch each. A trace that fails to decode is counted once
 * (`failed`), named by its id, and the others go on; traces in `seen` are dropped. `search` tells
 * apart, in `failed`, undecodable traces without an id.
 */
export function decodeTraceList(
  list: readonly unknown[], format: TraceListFormat, search: string, failed: FailedOnce, seen: Set<string>, stats: PullStats,
): DecodedBatch[] {
  const batches: DecodedBatch[] = [];
  for (let i = 0; i < list.length; i++) {
    const where = `${format.name}[${i}]`;
    const id = format.idOf(list[i]);
    if (id !== undefined && failed.has(id)) continue;
    let decoded: DecodedBatch;
    try {
      decoded = format.decode(list[i], where);
    } catch (error) {
      failed.count(stats, id ?? `${where} of ${search}`, `trace ${id ?? where}: ${(error as Error).message}`);
      continue;
    }
    const fresh = newTraces(decoded, seen);
    if (fresh.spans.length > 0) batches.push(fresh);
  }
  return batches;
}

/**
 * The query's traces from a client whose searches list whole traces (Jaeger's classic API, Zipkin's):
 * windowedSearch over `page`, which is given the trace ids already handed on so it returns only new
 * ones, a batch per trace, until the query's limit.
 */
export async function* listedTraces(
  query: PullQuery,
  pageSize: number,
  stats: PullStats,
  page: (startMs: number, endMs: number, seen: Set<string>) => Promise<SearchPage<DecodedBatch>>,
): AsyncGenerator<DecodedBatch> {
  const seen = new Set<string>();
  for await (const batches of windowedSearch(query, pageSize, 1, stats, (startMs, endMs) => page(startMs, endMs, seen))) {
    for (const batch of batches) {
      if (stats.fetched >= query.limit) return;
      stats.fetched++;
      yield batch;
    }
  }
}

/** One search's answer: what it found and how many traces it returned in all (seen ones included). */
export interface SearchPage<T> {
  items: T[];
  returned: number;
}

/**
 * Searches [startMs, endMs] in windows, newest first, halving any window whose search came back
 * full (`returned >= pageSize`) until each returns fewer, so no trace is missed whatever order the
 * backend picks hits in (Jaeger's memory store, for one, returns the most recently stored). Windows
 * overlap at their edges; the caller drops traces it has seen. A failed search of the first window is
 * thrown (a wrong URL or token); a later one is counted and the other windows go on.
 */
export async function* windowedSearch<T>(
  query: Pick<PullQuery, 'startMs' | 'endMs'>,
  pageSize: number,
  minWidthMs: number,
  stats: PullStats,
  search: (startMs: number, endMs: number) => Promise<SearchPage<T>>,
): AsyncGenerator<T[]> {
  const windows: [number, number][] = [[query.startMs, query.endMs]];
  let searched = 0;
  while (windows.length > 0) {
    const [start, end] = windows.pop()!;
    let page: SearchPage<T>;
    try {
      page = await search(start, end);
    } catch (error) {
      if (searched === 0 || !(error instanceof Error) || error.name !== 'PullError') throw error;
      countFailure(stats, `search of ${new Date(start).toISOString()} – ${new Date(end).toISOString()} failed: ${error.message}`);
      continue;
    }
    searched++;
    yield page.items;
    if (page.returned >= pageSize && end - start > minWidthMs) {
      const mid = start + Math.floor((end - start) / 2);
      // Older half below, so the newer half is searched next.
      windows.push([start, mid], [mid, end]);
    }
  }
}
