/** Pulls traces from Jaeger's query service: the v3 API (OTLP JSON, Jaeger v2) or the classic /api/traces (Jaeger JSON). */
import { decodeJaegerTrace } from '../jaeger.js';
import { createJsonDecoder } from '../json.js';
import type { DecodedBatch } from '../span.js';
import { displayUrl, httpGet, jsonBody, PullError, statusError, type HttpResponse } from './http.js';
import {
  apiUrl, decodeTraceList, FailedOnce, listedTraces, newTraces, noteHtmlPage,
  type ProbeNotes, type PullQuery, type PullStats, type SearchPage, type SourceOptions, type TraceListFormat, type TraceSource,
} from './source.js';

type Version = 'v3' | 'v1';

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The service names a Jaeger services response lists (v3: {"services": [...]}, v1: {"data": [...]}). */
function serviceNames(value: unknown, version: Version): string[] | undefined {
  const list = isRecord(value) ? value[version === 'v3' ? 'services' : 'data'] : undefined;
  if (list === null) return [];
  return Array.isArray(list) && list.every((s) => typeof s === 'string') ? (list as string[]) : undefined;
}

/**
 * Probes `base` for Jaeger's query API, v3 first. Returns undefined when neither answers like
 * Jaeger (so another backend can be tried), and throws PullError for 401/403 or an unreachable host.
 */
export async function probeJaeger(base: URL, opts: SourceOptions, notes: ProbeNotes = {}): Promise<TraceSource | undefined> {
  const apis = opts.apis ?? ['jaeger-v3', 'jaeger-v1'];
  for (const version of (['v3', 'v1'] as const).filter((v) => apis.includes(`jaeger-${v}`))) {
    const url = apiUrl(base, version === 'v3' ? '/api/v3/services' : '/api/services');
    const response = await httpGet(url, 'application/json', opts);
    if (response.status === 401 || response.status === 403) throw statusError(url, response);
    noteHtmlPage(notes, url, response);
    if (response.status !== 200) continue;
    let body: unknown;
    try {
      body = JSON.parse(response.body.toString('utf8'));
    } catch {
      continue;
    }
    const services = serviceNames(body, version);
    if (services !== undefined) return new JaegerSource(base, version, services, opts);
  }
  return undefined;
}

/** The traces of /api/traces's `data`, by `traceID`. */
const JAEGER_TRACES: TraceListFormat = {
  name: 'data',
  idOf: (trace) => (isRecord(trace) && typeof trace.traceID === 'string' ? trace.traceID : undefined),
  decode: decodeJaegerTrace,
};

/** Jaeger's services besides its own self-tracing one. */
function userServices(services: readonly string[]): string[] {
  return services.filter((s) => s !== 'jaeger' && s !== 'jaeger-all-in-one' && s !== 'jaeger-query');
}

class JaegerSource implements TraceSource {
  readonly api: string;
  readonly #json = createJsonDecoder();
  /** Traces (or errors without one) already counted as failed: overlapping windows return them again. */
  readonly #failed = new FailedOnce();

  constructor(
    private readonly base: URL,
    private readonly version: Version,
    private readonly services: readonly string[],
    private readonly opts: SourceOptions,
  ) {
    this.api = version === 'v3' ? 'Jaeger query API v3 (OTLP)' : 'Jaeger query API (/api/traces)';
  }

  /** Jaeger searches one service at a time: the given one, or the only one there is. */
  private service(query: PullQuery): string {
    const known = userServices(this.services);
    if (query.service !== undefined) {
      if (!this.services.includes(query.service)) {
        throw new PullError(`${displayUrl(this.base)}: Jaeger has no service "${query.service}"${known.length ? ` (it has: ${known.slice(0, 10).join(', ')})` : ' (it has no traces yet)'}`);
      }
      return query.service;
    }
    if (known.length === 1) return known[0]!;
    throw new PullError(
      known.length === 0 ? `${displayUrl(this.base)}: Jaeger has no traces yet` : `give --service: Jaeger has ${known.length} services (${known.slice(0, 10).join(', ')})`,
    );
  }

  /** Every trace of the service in the window (see listedTraces), one batch per trace. */
  async *traces(query: PullQuery, stats: PullStats): AsyncGenerator<DecodedBatch> {
    const service = this.service(query);
    const pageSize = this.opts.pageSize ?? 100;
    yield* listedTraces(query, pageSize, stats, (startMs, endMs, seen) => this.page(service, startMs, endMs, pageSize, seen, stats));
  }

  /** One search: the new traces, a batch each, and how many traces came back in all. */
  private async page(
    service: string, startMs: number, endMs: number, limit: number, seen: Set<string>, stats: PullStats,
  ): Promise<SearchPage<DecodedBatch>> {
    const url =
      this.version === 'v3'
        ? apiUrl(this.base, '/api/v3/traces', {
            'query.service_name': service,
            'query.start_time_min': new Date(startMs).toISOString(),
            'query.start_time_max': new Date(endMs).toISOString(),
            'query.num_traces': String(limit),
          })
        : apiUrl(this.base, '/api/traces', {
            service,
            start: String(Math.floor(startMs * 1000)),
            end: String(Math.ceil(endMs * 1000)),
            limit: String(limit),
          });
    const response = await httpGet(url, 'application/json', this.opts);
    return this.version === 'v3' ? this.v3Page(url, response, seen) : this.v1Page(url, response, seen, stats);
  }

  private v3Page(url: URL, response: HttpResponse, seen: Set<string>): SearchPage<DecodedBatch> {
    // Jaeger answers an empty search with 404 "No traces found".
    if (response.status === 404 && response.body.includes('No traces found')) return { items: [], returned: 0 };
    if (response.status !== 200) throw statusError(url, response);
    const body = jsonBody(url, response);
    const result = isRecord(body) ? body.result : undefined;
    if (!isRecord(result)) throw new PullError(`${displayUrl(url)}: not a Jaeger v3 response (no "result")`);
    let decoded: DecodedBatch;
    try {
      decoded = this.#json.decodeValue(result);
    } catch (error) {
      throw new PullError(`${displayUrl(url)}: ${(error as Error).message}`);
    }
    const returned = new Set(decoded.spans.map((s) => s.traceId)).size;
    const batch = newTraces(decoded, seen);
    // One batch per trace, so the fetched count and the limit are in traces.
    const byTrace = new Map<string, DecodedBatch>();
    for (const span of batch.spans) {
      let b = byTrace.get(span.traceId);
      if (!b) byTrace.set(span.traceId, (b = { spans: [], rejected: [] }));
      b.spans.push(span);
    }
    return { items: [...byTrace.values()], returned };
  }

  private v1Page(url: URL, response: HttpResponse, seen: Set<string>, stats: PullStats): SearchPage<DecodedBatch> {
    if (response.status !== 200) throw statusError(url, response);
    const body = jsonBody(url, response);
    const data = isRecord(body) ? body.data : undefined;
    // Traces Jaeger could not load are listed beside the data; windows overlap, so each counts once.
    const errors = isRecord(body) && Array.isArray(body.errors) ? (body.errors as unknown[]) : [];
    for (const e of errors) {
      const id = isRecord(e) && typeof e.traceID === 'string' && e.traceID !== '' ? e.traceID : undefined;
      const what = isRecord(e) && typeof e.msg === 'string' ? e.msg : JSON.stringify(e);
      this.#failed.count(stats, id ?? what, `${id === undefined ? displayUrl(url) : `trace ${id}`}: Jaeger: ${what}`);
    }
    if (data === null) return { items: [], returned: 0 };
    if (!Array.isArray(data)) throw new PullError(`${displayUrl(url)}: not a Jaeger response (no "data" list)`);
    return { items: decodeTraceList(data, JAEGER_TRACES, url.search, this.#failed, seen, stats), returned: data.length };
  }
}
