/** Test helpers: realistic Django-shaped OTLP requests, encoded the ways exporters and trace files do. */

import { gzipSync } from 'node:zlib';
import { otlpSchema } from './schema.js';

/** An OTLP/JSON attribute (only the value kinds the helpers write). */
export interface OtlpJsonAttribute {
  key: string;
  value: { stringValue?: string; intValue?: string; boolValue?: boolean; doubleValue?: number };
}

/** An OTLP/JSON span: hex ids, decimal-string nanoseconds, numeric enums. */
export interface OtlpJsonSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: OtlpJsonAttribute[];
  status?: { code: number; message?: string };
}

/** An ExportTraceServiceRequest in OTLP/JSON form; `encodeProtobuf` turns it into wire bytes. */
export interface OtlpJsonRequest {
  resourceSpans: {
    resource: { attributes: OtlpJsonAttribute[] };
    scopeSpans: { scope: { name: string; version?: string }; spans: OtlpJsonSpan[] }[];
  }[];
}

/** Old (Django + psycopg2 instrumentation defaults today) or stable semantic-convention names. */
export type Semconv = 'old' | 'stable';

export interface DjangoRequestOptions {
  /** default '4bf92f3577b34da6a3ce929d0e0e4736' */
  traceId?: string;
  /** resource service.name; default 'recruit' */
  service?: string;
  /** default 'old' */
  semconv?: Semconv;
  /** how many times the N+1 query repeats; default 5 */
  repeats?: number;
  /** start of the request, Unix ns; default 1_700_000_000_000_000_000n */
  startNs?: bigint;
}

export const DEFAULT_TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
export const DEFAULT_START_NS = 1_700_000_000_000_000_000n;

/** A string attribute. */
export function str(key: string, value: string): OtlpJsonAttribute {
  return { key, value: { stringValue: value } };
}
/** An int attribute (int64 as a decimal string, as OTLP/JSON writes it). */
export function int(key: string, value: number): OtlpJsonAttribute {
  return { key, value: { intValue: String(value) } };
}

/** The span id of the i-th span of a trace: unique across traces built with distinct trace ids. */
export function spanIdAt(traceId: string, i: number): string {
  return traceId.slice(0, 8) + (i + 1).toString(16).padStart(8, '0');
}

/** The trigger query of djangoRequest: the list whose rows the view then loops over. */
export const TRIGGER_SQL =
  'SELECT "recruit_application"."id", "recruit_application"."candidate_id" FROM "recruit_application" WHERE "recruit_application"."job_id" = 7';
/** The k-th repeated query of djangoRequest: one candidate per application row. */
export function repeatedSql(k: number): string {
  return `SELECT "recruit_candidate"."id", "recruit_candidate"."name" FROM "recruit_candidate" WHERE "recruit_candidate"."id" = ${k} LIMIT 21`;
}

/**
 * One Django request: a SERVER span `GET dashboard/` (span index 0) whose view runs the trigger
 * query (index 1) and then `repeats` candidate lookups (indexes 2..), each a CLIENT span with
 * db.system postgresql. Queries start 1 ms apart and last 0.5 ms.
 */
export function djangoRequest(opts: DjangoRequestOptions = {}): OtlpJsonRequest {
  const traceId = opts.traceId ?? DEFAULT_TRACE_ID;
  const stable = (opts.semconv ?? 'old') === 'stable';
  const repeats = opts.repeats ?? 5;
  const start = opts.startNs ?? DEFAULT_START_NS;
  const ms = (n: number) => String(start + BigInt(Math.round(n * 1e6)));
  const serverId = spanIdAt(traceId, 0);

  const server: OtlpJsonSpan = {
    traceId,
    spanId: serverId,
    name: 'GET dashboard/',
    kind: 2,
    startTimeUnixNano: ms(0),
    endTimeUnixNano: ms(repeats + 3),
    attributes: stable
      ? [str('http.request.method', 'GET'), str('url.scheme', 'http'), str('url.path', '/dashboard/'), str('http.route', 'dashboard/'), int('http.response.status_code', 200)]
      : [str('http.method', 'GET'), str('http.scheme', 'http'), str('http.target', '/dashboard/'), str('http.route', 'dashboard/'), int('http.status_code', 200)],
  };
  const query = (i: number, sql: string): OtlpJsonSpan => ({
    traceId,
    spanId: spanIdAt(traceId, i),
    parentSpanId: serverId,
    name: 'SELECT',
    kind: 3,
    startTimeUnixNano: ms(i),
    endTimeUnixNano: ms(i + 0.5),
    attributes: stable
      ? [str('db.system.name', 'postgresql'), str('db.namespace', 'recruit'), str('db.query.text', sql), str('server.address', 'db'), int('server.port', 5432)]
      : [str('db.system', 'postgresql'), str('db.name', 'recruit'), str('db.statement', sql), str('net.peer.name', 'db'), int('net.peer.port', 5432)],
  });
  const queries = [query(1, TRIGGER_SQL)];
  for (let k = 1; k <= repeats; k++) queries.push(query(k + 1, repeatedSql(k)));

  return {
    resourceSpans: [
      {
        resource: { attributes: [str('service.name', opts.service ?? 'recruit'), str('telemetry.sdk.language', 'python')] },
        scopeSpans: [
          { scope: { name: 'opentelemetry.instrumentation.django', version: '0.48b0' }, spans: [server] },
          { scope: { name: 'opentelemetry.instrumentation.psycopg2', version: '0.48b0' }, spans: queries },
        ],
      },
    ],
  };
}

const ID_FIELDS = new Set(['traceId', 'spanId', 'parentSpanId']);

/** The request with hex ids turned into bytes, the form protobufjs's fromObject expects. */
function withBinaryIds(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withBinaryIds);
  if (typeof value !== 'object' || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(value)) {
    out[key] = ID_FIELDS.has(key) && typeof field === 'string' ? Buffer.from(field, 'hex') : withBinaryIds(field);
  }
  return out;
}

/** OTLP/protobuf wire bytes of a request (what an OTLP/HTTP protobuf exporter POSTs). */
export function encodeProtobuf(request: OtlpJsonRequest): Uint8Array {
  const type = otlpSchema().ExportTraceServiceRequest;
  return type.encode(type.fromObject(withBinaryIds(request) as Record<string, unknown>)).finish();
}

/** OTLP/JSON text of a request (what an OTLP/HTTP JSON exporter POSTs). */
export function encodeJson(request: OtlpJsonRequest, space?: number): string {
  return JSON.stringify(request, null, space);
}

/** A Collector file exporter JSON lines file: one request per line. */
export function jsonLines(requests: readonly OtlpJsonRequest[]): string {
  return requests.map((r) => encodeJson(r) + '\n').join('');
}

/** A Collector file exporter proto file: each message prefixed by its 4-byte big-endian length. */
export function lengthDelimited(requests: readonly OtlpJsonRequest[]): Buffer {
  const parts: Buffer[] = [];
  for (const request of requests) {
    const message = encodeProtobuf(request);
    const prefix = Buffer.alloc(4);
    prefix.writeUInt32BE(message.length);
    parts.push(prefix, Buffer.from(message));
  }
  return Buffer.concat(parts);
}

/** gzip bytes, as `gzip file` would write them. */
export function gzip(data: string | Uint8Array): Buffer {
  return gzipSync(data);
}

/**
 * The request as OTLP/JSON wrote it before `scopeSpans` (proto 0.15; Collectors before v0.50, Tempo
 * 1.x): `instrumentationLibrarySpans` holding `instrumentationLibrary`, or with `snake` the proto
 * names `instrumentation_library_spans` and `instrumentation_library`.
 */
export function withInstrumentationLibrary(request: OtlpJsonRequest, snake = false): object {
  return {
    resourceSpans: request.resourceSpans.map(({ resource, scopeSpans }) => ({
      resource,
      [snake ? 'instrumentation_library_spans' : 'instrumentationLibrarySpans']: scopeSpans.map(({ scope, spans }) => ({
        [snake ? 'instrumentation_library' : 'instrumentationLibrary']: scope,
        spans,
      })),
    })),
  };
}
