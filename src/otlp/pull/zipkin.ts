/** Pulls traces from a Zipkin server's API v2: GET /api/v2/traces lists whole traces of Zipkin v2 JSON spans. */
import { OtlpDecodeError } from '../errors.js';
import { decodeZipkinSpans } from '../zipkin.js';
import type { DecodedBatch } from '../span.js';
import { displayUrl, httpGet, jsonBody, PullError, statusError } from './http.js';
import {
  apiUrl, decodeTraceList, FailedOnce, listedTraces, noteHtmlPage,
  type ProbeNotes, type PullQuery, type PullStats, type SearchPage, type SourceOptions, type TraceListFormat, type TraceSource,
} from './source.js';

/**
 * Probes `base` for Zipkin: GET /api/v2/services answers a list of names. Returns undefined when it
 * does not (so the caller can say what `base` is not), and throws PullError for 401/403 or an
 * unreachable host.
 */
export async function probeZipkin(base: URL, opts: SourceOptions, notes: ProbeNotes = {}): Promise<TraceSource | undefined> {
  if (opts.apis !== undefined && !opts.apis.includes('zipkin')) return undefined;
  const url = apiUrl(base, '/api/v2/services');
  const response = await httpGet(url, 'application/json', opts);
  if (response.status === 401 || response.status === 403) throw statusError(url, response);
  noteHtmlPage(notes, url, response);
  if (response.status !== 200) return undefined;
  let services: unknown;
  try {
    services = JSON.parse(response.body.toString('utf8'));
  } catch {
    return undefined;
  }
  return Array.isArray(services) && services.every((s) => typeof s === 'string') ? new ZipkinSource(base, services as string[], opts) : undefined;
}

/** A listed trace: its spans, by the first span's `traceId` (Zipkin lists a trace's spans together). */
const ZIPKIN_TRACES: TraceListFormat = {
  name: '',
  idOf(trace) {
    const first: unknown = Array.isArray(trace) ? trace[0] : undefined;
    const id = typeof first === 'object' && first !== null ? (first as { traceId?: unknown }).traceId : undefined;
    return typeof id === 'string' ? id.toLowerCase() : undefined;
  },
  decode(trace, where) {
    if (!Array.isArray(trace)) throw new OtlpDecodeError(`${where} is not a list of spans`);
    return decodeZipkinSpans(trace);
  },
};

class ZipkinSource implements TraceSource {
  readonly api = 'Zipkin API v2';
  /** Traces already counted as failed: overlapping windows return them again. */
  readonly #failed = new FailedOnce();

  constructor(
    private readonly base: URL,
    private readonly services: readonly string[],
    private readonly opts: SourceOptions,
  ) {}

  /** The service to search, checked against Zipkin's list (which it keeps, and matches, in lower case); none searches every service. */
  private service(query: PullQuery): string | undefined {
    if (query.service === undefined) return undefined;
    const service = query.service.toLowerCase();
    if (this.services.includes(service)) return service;
    const known = this.services.slice(0, 10).join(', ');
    throw new PullError(`${displayUrl(this.base)}: Zipkin has no service "${query.service}"${known === '' ? ' (it has no traces yet)' : ` (it has: ${known})`}`);
  }

  /** Every trace in the window (see listedTraces; Zipkin's endTs and lookback are milliseconds), one batch per trace. */
  async *traces(query: PullQuery, stats: PullStats): AsyncGenerator<DecodedBatch> {
    const service = this.service(query);
    const pageSize = this.opts.pageSize ?? 100;
    yield* listedTraces(query, pageSize, stats, (startMs, endMs, seen) => this.page(service, startMs, endMs, pageSize, seen, stats));
  }

  /** One search: the traces that start in [startMs, endMs], newest first, at most `limit`. */
  private async page(
    service: string | undefined, startMs: number, endMs: number, limit: number, seen: Set<string>, stats: PullStats,
  ): Promise<SearchPage<DecodedBatch>> {
    const url = apiUrl(this.base, '/api/v2/traces', {
      serviceName: service,
      endTs: String(Math.ceil(endMs)),
      lookback: String(Math.ceil(endMs) - Math.floor(startMs)),
      limit: String(limit),
    });
    const response = await httpGet(url, 'application/json', this.opts);
    if (response.status !== 200) throw statusError(url, response);
    const traces = jsonBody(url, response);
    if (!Array.isArray(traces)) throw new PullError(`${displayUrl(url)}: not a Zipkin response (not a list of traces)`);
    return { items: decodeTraceList(traces, ZIPKIN_TRACES, url.search, this.#failed, seen, stats), returned: traces.length };
  }
}
