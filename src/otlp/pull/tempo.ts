/** Pulls traces from Grafana Tempo: TraceQL search on /api/search, then each trace from /api/traces/<id> as OTLP protobuf. */
import { decodeJsonValue } from '../json.js';
import { decodeProtobufRequest } from '../protobuf.js';
import type { DecodedBatch } from '../span.js';
import { boundedMap, displayUrl, httpGet, jsonBody, PullError, statusError } from './http.js';
import { apiUrl, countFailure, type PullQuery, type PullStats, type SourceOptions, type TraceSource } from './source.js';

/** Tempo answers GET /api/echo with "echo": the documented way to tell it is there. */
export async function probeTempo(base: URL, opts: SourceOptions): Promise<TraceSource | undefined> {
  if (opts.apis !== undefined && !opts.apis.includes('tempo')) return undefined;
  const url = apiUrl(base, '/api/echo');
  const response = await httpGet(url, 'text/plain', opts);
  if (response.status === 401 || response.status === 403) throw statusError(url, response);
  return response.status === 200 && response.body.toString('utf8').trim() === 'echo' ? new TempoSource(base, opts) : undefined;
}

/** A TraceQL string literal. */
function quote(text: string): string {
  return `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** The request spans of a service: `{ resource.service.name = "recruit" && kind = server }`. */
export function traceQl(service: string | undefined): string {
  return service === undefined ? '{ kind = server }' : `{ resource.service.name = ${quote(service)} && kind = server }`;
}

interface SearchHit {
  traceId: string;
  startMs: number;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The hits of a search response, `{"traces": [{"traceID", "startTimeUnixNano", ...}]}`. */
function searchHits(url: URL, body: unknown): SearchHit[] {
  const traces = isRecord(body) ? body.traces : undefined;
  if (traces === undefined || traces === null) {
    if (isRecord(body) && 'metrics' in body) return [];
    throw new PullError(`${displayUrl(url)}: not a Tempo search response (no "traces")`);
  }
  if (!Array.isArray(traces)) throw new PullError(`${displayUrl(url)}: not a Tempo search response ("traces" is not a list)`);
  const hits: SearchHit[] = [];
  for (const t of traces) {
    if (!isRecord(t) || typeof t.traceID !== 'string' || !/^[0-9a-fA-F]{1,32}$/.test(t.traceID)) continue;
    const nanos = typeof t.startTimeUnixNano === 'string' || typeof t.startTimeUnixNano === 'number' ? Number(t.startTimeUnixNano) : Number.NaN;
    hits.push({ traceId: t.traceID.toLowerCase().padStart(32, '0'), startMs: nanos / 1e6 });
  }
  return hits;
}

class TempoSource implements TraceSource {
  readonly api = 'Tempo (/api/search + /api/traces)';

  constructor(
    private readonly base: URL,
    private readonly opts: SourceOptions,
  ) {}

  /**
   * Searches backwards in time (Tempo's start/end are whole seconds): each page's oldest start
   * becomes the next end, seen ids are skipped. The traces of a page are fetched with a bounded
   * number in flight; one that fails after retries is counted and the run goes on.
   */
  async *traces(query: PullQuery, stats: PullStats): AsyncGenerator<DecodedBatch> {
    const pageSize = this.opts.pageSize ?? 100;
    const startS = Math.floor(query.startMs / 1000);
    let endS = Math.ceil(query.endMs / 1000);
    const seen = new Set<string>();
    let handedOut = 0;
    while (handedOut < query.limit && endS > startS) {
      const want = Math.min(pageSize, query.limit - handedOut);
      const url = apiUrl(this.base, '/api/search', {
        q: traceQl(query.service),
        start: String(startS),
        end: String(endS),
        limit: String(want),
        spss: '1',
      });
      let hits: SearchHit[];
      try {
        const response = await httpGet(url, 'application/json', this.opts);
        if (response.status !== 200) throw statusError(url, response);
        hits = searchHits(url, jsonBody(url, response));
      } catch (error) {
        if (!(error instanceof PullError) || handedOut === 0) throw error;
        countFailure(stats, `search stopped early: ${error.message}`);
        return;
      }
      const fresh = hits.filter((h) => !seen.has(h.traceId)).slice(0, query.limit - handedOut);
      for (const h of fresh) seen.add(h.traceId);
      handedOut += fresh.length;
      for await (const batch of boundedMap(fresh, this.opts.concurrency ?? 4, (hit) => this.fetchTrace(hit.traceId, stats))) {
        if (batch === undefined) continue;
        stats.fetched++;
        yield batch;
      }
      if (hits.length < want) return;
      const oldest = Math.min(...hits.map((h) => h.startMs).filter(Number.isFinite));
      endS = fresh.length === 0 || !Number.isFinite(oldest) ? endS - 1 : Math.min(endS, Math.ceil(oldest / 1000));
    }
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
        return decodeJsonValue(request);
      }
      return decodeProtobufRequest(response.body);
    } catch (error) {
      countFailure(stats, `trace ${traceId}: ${(error as Error).message}`);
      return undefined;
    }
  }
}
