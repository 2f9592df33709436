/** Pulls traces from Grafana Tempo: TraceQL search on /api/search, then each trace from /api/traces/<id> as OTLP protobuf. */
import { createJsonDecoder } from '../json.js';
import { decodeProtobufRequest } from '../protobuf.js';
import { createWireDecoder } from '../wire/decoder.js';
import type { DecodedBatch } from '../span.js';
import { boundedMap, displayUrl, httpGet, jsonBody, PullError, statusError } from './http.js';
import { apiUrl, countFailure, windowedSearch, noteHtmlPage, type ProbeNotes, type PullQuery, type PullStats, type SearchPage, type SourceOptions, type TraceSource } from './source.js';

/** Tempo answers GET /api/echo with "echo": the documented way to tell it is there. */
export async function probeTempo(base: URL, opts: SourceOptions, notes: ProbeNotes = {}): Promise<TraceSource | undefined> {
  if (opts.apis !== undefined && !opts.apis.includes('tempo')) return undefined;
  const url = apiUrl(base, '/api/echo');
  const response = await httpGet(url, 'text/plain', opts);
  if (response.status === 401 || response.status === 403) throw statusError(url, response);
  noteHtmlPage(notes, url, response);
  return response.status === 200 && response.body.toString('utf8').trim() === 'echo' ? new TempoSource(base, opts) : undefined;
}

/** A TraceQL string literal. */
function quote(text: string): string {
  return `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/**
 * The traces with a span of the service: `{ resource.service.name = "recruit" }` (every trace: `{ }`).
 * No kind filter: a request is a SERVER span (a Django view), a CONSUMER span (a Celery task) or a
 * span with no parent (DESIGN), and which spans of a trace are requests is the analysis's call, as
 * for a file of the same traces (and as Jaeger's search by service does).
 */
export function traceQl(service: string | undefined): string {
  return service === undefined ? '{ }' : `{ resource.service.name = ${quote(service)} }`;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The trace ids of a search response, `{"traces": [{"traceID", "startTimeUnixNano", ...}]}`. */
function searchHits(url: URL, body: unknown): string[] {
  const traces = isRecord(body) ? body.traces : undefined;
  if (traces === undefined || traces === null) {
    if (isRecord(body) && 'metrics' in body) return [];
    throw new PullError(`${displayUrl(url)}: not a Tempo search response (no "traces")`);
  }
  if (!Array.isArray(traces)) throw new PullError(`${displayUrl(url)}: not a Tempo search response ("traces" is not a list)`);
  const ids: string[] = [];
  for (const t of traces) {
    // Tempo drops leading zeros from trace ids.
    if (isRecord(t) && typeof t.traceID === 'string' && /^[0-9a-fA-F]{1,32}$/.test(t.traceID)) ids.push(t.traceID.toLowerCase().padStart(32, '0'));
  }
  return ids;
}

class TempoSource implements TraceSource {
  readonly api = 'Tempo (/api/search + /api/traces)';
  readonly #decoder = createWireDecoder();
  readonly #json = createJsonDecoder();

  constructor(
    private readonly base: URL,
    private readonly opts: SourceOptions,
  ) {}

  /**
   * Every trace the TraceQL query finds in the window (see windowedSearch; Tempo's start and end are
   * whole seconds). The traces of each search are fetched with a bounded number in flight; one that
   * fails after retries is counted and the run goes on.
   */
  async *traces(query: PullQuery, stats: PullStats): AsyncGenerator<DecodedBatch> {
    const pageSize = this.opts.pageSize ?? 100;
    const seen = new Set<string>();
    let handedOut = 0;
    const window = { startMs: Math.floor(query.startMs / 1000) * 1000, endMs: Math.ceil(query.endMs / 1000) * 1000 };
    for await (const hits of windowedSearch(window, pageSize, 1000, stats, (startMs, endMs) => this.search(query.service, startMs, endMs, pageSize))) {
      const fresh = hits.filter((id) => !seen.has(id)).slice(0, query.limit - handedOut);
      for (const id of fresh) seen.add(id);
      handedOut += fresh.length;
      for await (const batch of boundedMap(fresh, this.opts.concurrency ?? 4, (id) => this.fetchTrace(id, stats))) {
        if (batch === undefined) continue;
        stats.fetched++;
        yield batch;
      }
      if (handedOut >= query.limit) return;
    }
  }

  /** One TraceQL search: the trace ids it found. */
  private async search(service: string | undefined, startMs: number, endMs: number, limit: number): Promise<SearchPage<string>> {
    const url = apiUrl(this.base, '/api/search', {
      q: traceQl(service),
      start: String(Math.floor(startMs / 1000)),
      end: String(Math.ceil(endMs / 1000)),
      limit: String(limit),
      spss: '1',
    });
    const response = await httpGet(url, 'application/json', this.opts);
    if (response.status !== 200) throw statusError(url, response);
    const ids = searchHits(url, jsonBody(url, response));
    return { items: ids, returned: ids.length };
  }

  /** One trace as OTLP protobuf (tempopb.Trace has ExportTraceServiceRequest's wire shape); undefined when it failed (counted). */
  private async fetchTrace(traceId: string, stats: PullStats): Promise<DecodedBatch | undefined> {
    const url = apiUrl(this.base, `/api/traces/${traceId}`);
    try {
      const response = await httpGet(url, 'application/protobuf', this.opts);
      if (response.status !== 200) throw statusError(url, response);
      if (response.contentType.includes('json')) {
        // A proxy that ignored Accept; older Tempo names the list "batches".
        const body = jsonBody(url, response);
        const request = isRecord(body) && !('resourceSpans' in body) && Array.isArray(body.batches) ? { resourceSpans: body.batches } : body;
        return this.#json.decodeValue(request);
      }
      return decodeProtobufRequest(response.body, this.#decoder);
    } catch (error) {
      countFailure(stats, `trace ${traceId}: ${(error as Error).message}`);
      return undefined;
    }
  }
}
