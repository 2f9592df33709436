/** Test helper: a loopback server answering as Tempo's published HTTP API documents it, over given OTLP traces. */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { encodeProtobuf, type OtlpJsonRequest } from '../testing.js';

export const idOf = (r: OtlpJsonRequest): string => r.resourceSpans[0]!.scopeSpans[0]!.spans[0]!.traceId;
export const startOf = (r: OtlpJsonRequest): bigint => BigInt(r.resourceSpans[0]!.scopeSpans[0]!.spans[0]!.startTimeUnixNano);

/** What the server saw. */
export interface TempoLog {
  searches: URLSearchParams[];
  inFlight: number;
  maxInFlight: number;
  accepts: string[];
}

export interface FakeTempo {
  url: string;
  log: TempoLog;
  close(): Promise<void>;
}

export interface FakeTempoOptions {
  /** Required bearer token; default 'secret'. */
  token?: string;
  /** Trace ids answered with 500 every time. */
  failing?: readonly string[];
  /** Trace ids the search finds but /api/traces answers 404 (not retried). */
  missing?: readonly string[];
  /** Trace ids answered with one 429 before succeeding. */
  throttledOnce?: readonly string[];
  /** Answers traces as this JSON (a proxy that ignored Accept, Tempo 1.x) instead of protobuf. */
  json?: (trace: OtlpJsonRequest) => object;
}

const KIND_NAMES = ['unspecified', 'internal', 'server', 'client', 'producer', 'consumer'];

/**
 * Whether a trace has a span that the TraceQL spanset `{ … }` selects, for the TraceQL the client
 * writes: `&&` of clauses, each one predicate or a parenthesised `||` of them, over
 * `resource.service.name = "…"` and `kind = <name>`; `{ }` selects every span. Anything else throws
 * (the server answers 400), so a query the fake cannot judge fails the test instead of matching.
 */
export function traceQlMatches(q: string, trace: OtlpJsonRequest): boolean {
  const body = /^\s*\{(.*)\}\s*$/s.exec(q)?.[1];
  if (body === undefined) throw new Error(`not a spanset: ${q}`);
  const clauses = body.trim() === '' ? [] : body.split('&&').map((c) => c.trim().replace(/^\((.*)\)$/s, '$1').split('||').map((p) => p.trim()));
  const holds = (predicate: string, service: string | undefined, kind: number): boolean => {
    const svc = /^resource\.service\.name\s*=\s*"((?:[^"\\]|\\.)*)"$/.exec(predicate);
    if (svc) return svc[1]!.replace(/\\(.)/g, '$1') === service;
    const k = /^kind\s*=\s*(\w+)$/.exec(predicate);
    if (k) return KIND_NAMES[kind] === k[1];
    throw new Error(`TraceQL the fake Tempo does not know: ${predicate}`);
  };
  return trace.resourceSpans.some((rs) => {
    const service = rs.resource.attributes.find((a) => a.key === 'service.name')?.value.stringValue;
    return rs.scopeSpans.some((ss) => ss.spans.some((span) => clauses.every((any) => any.some((p) => holds(p, service, span.kind)))));
  });
}

/**
 * GET /api/echo → "echo"; GET /api/search?q&start&end&limit&spss → {"traces": [...in no time order], "metrics": {...}}
 * (q evaluated by traceQlMatches; 400 when it cannot be); GET /api/traces/<id> → OTLP protobuf.
 */
export async function startFakeTempo(traces: readonly OtlpJsonRequest[], options: FakeTempoOptions = {}): Promise<FakeTempo> {
  const token = options.token ?? 'secret';
  const throttled = new Set<string>();
  const log: TempoLog = { searches: [], inFlight: 0, maxInFlight: 0, accepts: [] };
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://tempo');
    if (req.headers.authorization !== `Bearer ${token}`) {
      res.writeHead(401).end('Unauthorized');
      return;
    }
    if (url.pathname === '/api/echo') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('echo');
      return;
    }
    if (url.pathname === '/api/search') {
      log.searches.push(url.searchParams);
      const start = BigInt(url.searchParams.get('start')!) * 1_000_000_000n;
      const end = BigInt(url.searchParams.get('end')!) * 1_000_000_000n;
      const limit = Number(url.searchParams.get('limit') ?? 20);
      const q = url.searchParams.get('q') ?? '{ }';
      let selected: OtlpJsonRequest[];
      try {
        selected = traces.filter((t) => traceQlMatches(q, t));
      } catch (error) {
        res.writeHead(400, { 'content-type': 'text/plain' }).end((error as Error).message);
        return;
      }
      // Tempo's docs promise no order: hand hits out scrambled, so a client that assumes one misses traces.
      const hits = selected
        .map((t, i) => ({ t, rank: (i * 7919) % 101 }))
        .sort((a, b) => a.rank - b.rank)
        .map(({ t }) => t)
        .filter((t) => startOf(t) >= start && startOf(t) <= end)
        .slice(0, limit)
        .map((t) => ({
          traceID: idOf(t),
          rootServiceName: 'recruit',
          rootTraceName: t.resourceSpans[0]!.scopeSpans[0]!.spans[0]!.name,
          startTimeUnixNano: String(startOf(t)),
          durationMs: 9,
          spanSets: [{ spans: [{ spanID: t.resourceSpans[0]!.scopeSpans[0]!.spans[0]!.spanId, startTimeUnixNano: String(startOf(t)), durationNanos: '9000000' }], matched: 1 }],
        }));
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ traces: hits, metrics: { inspectedBytes: '1000', completedJobs: 1, totalJobs: 1 } }));
      return;
    }
    const match = /^\/api\/traces\/([0-9a-f]{32})$/.exec(url.pathname);
    const id = match?.[1];
    const trace = id === undefined ? undefined : traces.find((t) => idOf(t) === id);
    if (id === undefined || trace === undefined) {
      res.writeHead(404).end('trace not found');
      return;
    }
    log.accepts.push(String(req.headers.accept));
    log.inFlight++;
    log.maxInFlight = Math.max(log.maxInFlight, log.inFlight);
    setTimeout(() => {
      log.inFlight--;
      if (options.failing?.includes(id)) res.writeHead(500).end('internal error');
      else if (options.missing?.includes(id)) res.writeHead(404).end('trace not found');
      else if (options.throttledOnce?.includes(id) && !throttled.has(id)) {
        throttled.add(id);
        res.writeHead(429, { 'retry-after': '0' }).end('slow down');
      } else if (options.json !== undefined) res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(options.json(trace)));
      else res.writeHead(200, { 'content-type': 'application/protobuf' }).end(Buffer.from(encodeProtobuf(trace)));
    }, 5);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    log,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
