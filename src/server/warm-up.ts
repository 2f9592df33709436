/**
 * Serve's start-up warm-up: synthetic OTLP exports of Django requests sent over loopback through the
 * whole hot path (OTLP/HTTP and OTLP/gRPC framing, gzip, protobuf and JSON decoding, admission, the
 * open traces' columns, analysis, normalising, rollups and the store's rows), on throwaway parts, before
 * the real listeners open, so the first burst of a flood does not meet code V8 has not compiled yet.
 *
 * Nothing of it reaches the real server: its intake, store (in memory), metrics, wire decoder and
 * spool (in a temporary directory, removed after) are instances of their own, and its listeners are on
 * ephemeral loopback ports closed before the real ones open. What carries over is V8's: compiled and optimised code and type feedback,
 * which closures of the same function share whichever instance made them.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, request as httpRequest, Agent } from 'node:http';
import { connect as http2Connect, constants as h2 } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzip as gzipCallback } from 'node:zlib';
import { promisify } from 'node:util';
import { otlpSchema } from '../otlp/schema.js';
import { protobufToOtlpJson } from '../otlp/to-json.js';
import { Spool } from '../spool/index.js';
import { openStore } from '../store/open.js';
import { startGrpcServer, type GrpcOptions } from './grpc.js';
import { Intake, type IntakeOptions } from './intake.js';
import { createMetrics, type ServerMetrics } from './metrics.js';
import type { RequestHandler } from './otlp-http.js';

const gzip = promisify(gzipCallback);

/** What the warm-up runs: rounds of exports sent at once, each round's traces then analysed and written. */
export interface WarmUpPlan {
  rounds: number;
  /** Protobuf exports per round on each transport (half of them gzip'd). */
  exportsPerTransport: number;
  /** Django requests per export (~40 DB spans each). */
  requestsPerExport: number;
}

export const DEFAULT_WARM_UP: WarmUpPlan = { rounds: 3, exportsPerTransport: 2, requestsPerExport: 10 };

/** The real server's wiring, applied to the warm-up's own intake, store and metrics. */
export interface WarmUpWiring {
  /** The intake's settings, detector settings among them (no store, metrics, spool or record file: the warm-up's own are used). */
  intake: Omit<IntakeOptions, 'store' | 'metrics' | 'spool' | 'recordPath' | 'now' | 'pollIntervalMs'>;
  /** The HTTP listener serve builds around an intake (POST /v1/traces, and the app for every other path). */
  httpListener(intake: Intake, metrics: ServerMetrics): RequestHandler;
  grpc: Omit<GrpcOptions, 'intake' | 'metrics' | 'tls'>;
  /** Bearer token the listeners require, sent by the warm-up's clients. */
  authToken?: string;
  /** The server spools exports: so does the warm-up (the committed-trace check, the append), into a temporary directory. */
  spool?: boolean;
}

export interface WarmUpResult {
  exports: number;
  spans: number;
  requestsAnalysed: number;
  ms: number;
}

/** Runs `plan` through throwaway copies of the server's parts; resolves when they are all closed again. */
export async function warmUp(wiring: WarmUpWiring, plan: WarmUpPlan = DEFAULT_WARM_UP): Promise<WarmUpResult> {
  const started = performance.now();
  const store = await openStore(':memory:');
  const metrics = createMetrics();
  const spoolDir = wiring.spool === true ? mkdtempSync(join(tmpdir(), 'n1lens-warm-up-')) : undefined;
  const spool = spoolDir === undefined ? undefined : Spool.open({ dir: spoolDir });
  // A clock of its own: each round's traces are complete at once, without waiting traceWaitMs.
  let clock = Date.now();
  const intake = new Intake({ ...wiring.intake, ...(spool === undefined ? {} : { spool }), store, metrics, now: () => clock, pollIntervalMs: 3_600_000 });
  const http = createServer(wiring.httpListener(intake, metrics));
  let grpc: Awaited<ReturnType<typeof startGrpcServer>> | undefined;
  const agent = new Agent({ keepAlive: true });
  let session: ReturnType<typeof http2Connect> | undefined;
  const exports = new SyntheticExports(clock);
  let sent = 0;
  let spans = 0;
  try {
    await new Promise<void>((resolve, reject) => {
      http.once('error', reject);
      http.listen(0, '127.0.0.1', () => resolve());
    });
    grpc = await startGrpcServer({ ...wiring.grpc, intake, metrics }, '127.0.0.1', 0);
    const httpPort = (http.address() as AddressInfo).port;
    session = http2Connect(`http://127.0.0.1:${grpc.port}`);
    session.on('error', () => undefined);
    const auth: Record<string, string> = wiring.authToken === undefined ? {} : { authorization: `Bearer ${wiring.authToken}` };
    for (let round = 0; round < plan.rounds; round++) {
      const calls: Promise<void>[] = [];
      for (let i = 0; i < plan.exportsPerTransport; i++) {
        const gzipped = i % 2 === 1;
        const overHttp = exports.next(plan.requestsPerExport);
        const overGrpc = exports.next(plan.requestsPerExport);
        spans += overHttp.spans + overGrpc.spans;
        calls.push(postHttp(agent, httpPort, auth, 'application/x-protobuf', overHttp.bytes, gzipped));
        calls.push(callGrpc(session, auth, overGrpc.bytes, gzipped));
      }
      // OTLP/JSON exporters too: a smaller export, as JSON.
      const json = exports.next(Math.max(1, plan.requestsPerExport >> 2));
      spans += json.spans;
      calls.push(postHttp(agent, httpPort, auth, 'application/json', Buffer.from(protobufToOtlpJson(json.bytes)), false));
      calls.push(getHealth(agent, httpPort));
      await Promise.all(calls);
      sent += calls.length - 1;
      // The traces are complete: the tick analyses them and writes their rows, as serve's timer would.
      clock += 3_600_000;
      await intake.tick();
    }
  } finally {
    agent.destroy();
    session?.destroy();
    await Promise.all([new Promise<void>((resolve) => http.close(() => resolve())), grpc?.close(0)]);
    await intake.close();
    await store.close();
    if (spoolDir !== undefined) rmSync(spoolDir, { recursive: true, force: true });
  }
  return { exports: sent, spans, requestsAnalysed: metricValue(await metrics.requestsAnalysed.get()), ms: performance.now() - started };
}

const metricValue = (m: { values: { value: number }[] }): number => m.values.reduce((n, v) => n + v.value, 0);

async function postHttp(agent: Agent, port: number, auth: Record<string, string>, contentType: string, body: Uint8Array, gzipped: boolean): Promise<void> {
  const payload = gzipped ? await gzip(body) : body;
  const headers: Record<string, string | number> = { ...auth, 'content-type': contentType, 'content-length': payload.length };
  if (gzipped) headers['content-encoding'] = 'gzip';
  await new Promise<void>((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path: '/v1/traces', method: 'POST', agent, headers }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`warm-up export: HTTP ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end(payload);
  });
}

async function getHealth(agent: Agent, port: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path: '/healthz', agent }, (res) => {
      res.resume();
      res.on('end', () => resolve());
    });
    req.on('error', reject);
    req.end();
  });
}

async function callGrpc(session: ReturnType<typeof http2Connect>, auth: Record<string, string>, message: Uint8Array, gzipped: boolean): Promise<void> {
  const payload = gzipped ? await gzip(message) : message;
  const framed = Buffer.allocUnsafe(5 + payload.length);
  framed[0] = gzipped ? 1 : 0;
  framed.writeUInt32BE(payload.length, 1);
  framed.set(payload, 5);
  await new Promise<void>((resolve, reject) => {
    const stream = session.request({
      [h2.HTTP2_HEADER_METHOD]: 'POST',
      [h2.HTTP2_HEADER_PATH]: '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
      'content-type': 'application/grpc',
      te: 'trailers',
      ...(gzipped ? { 'grpc-encoding': 'gzip' } : {}),
      ...auth,
    });
    let status: string | undefined;
    stream.on('trailers', (trailers) => (status = String(trailers['grpc-status'])));
    stream.on('response', (headers) => (status ??= headers['grpc-status'] === undefined ? undefined : String(headers['grpc-status'])));
    stream.on('error', reject);
    stream.on('close', () => (status === '0' ? resolve() : reject(new Error(`warm-up export: grpc-status ${status ?? 'missing'}`))));
    stream.resume();
    stream.end(framed);
  });
}

/** Statements as Django's PostgreSQL backend sends them (psycopg's `%s`), for a recruiting app and a shop. */
const cols = (table: string, names: string[]): string => names.map((c) => `"${table}"."${c}"`).join(', ');
const SQL = {
  session: `SELECT ${cols('django_session', ['session_key', 'session_data', 'expire_date'])} FROM "django_session" WHERE ("django_session"."expire_date" > %s AND "django_session"."session_key" = %s) LIMIT 21`,
  user: `SELECT ${cols('auth_user', ['id', 'password', 'last_login', 'username', 'is_active'])} FROM "auth_user" WHERE "auth_user"."id" = %s LIMIT 21`,
  applications: `SELECT ${cols('recruit_application', ['id', 'candidate_id', 'job_id', 'status'])} FROM "recruit_application" WHERE "recruit_application"."status" = %s ORDER BY "recruit_application"."created_at" DESC LIMIT 50`,
  candidate: `SELECT ${cols('recruit_candidate', ['id', 'name', 'email'])} FROM "recruit_candidate" WHERE "recruit_candidate"."id" = %s LIMIT 21`,
  job: `SELECT ${cols('recruit_job', ['id', 'title', 'company_id'])} FROM "recruit_job" WHERE "recruit_job"."id" = %s LIMIT 21`,
  company: `SELECT ${cols('recruit_company', ['id', 'name'])} FROM "recruit_company" WHERE "recruit_company"."id" = %s LIMIT 21`,
  notesIn: (n: number) => `SELECT ${cols('recruit_note', ['id', 'application_id', 'body'])} FROM "recruit_note" WHERE "recruit_note"."application_id" IN (${Array<string>(n).fill('%s').join(', ')})`,
  count: `SELECT COUNT(*) AS "__count" FROM "recruit_note" WHERE "recruit_note"."application_id" = %s`,
  begin: 'BEGIN',
  update: `UPDATE "recruit_application" SET "status" = %s, "updated_at" = %s WHERE "recruit_application"."id" = %s`,
  commit: 'COMMIT',
  orders: `SELECT ${cols('shop_order', ['id', 'customer_id', 'placed_at'])} FROM "shop_order" WHERE "shop_order"."customer_id" = %s ORDER BY "shop_order"."placed_at" DESC`,
  lines: `SELECT ${cols('shop_orderline', ['id', 'order_id', 'book_id', 'quantity'])} FROM "shop_orderline" WHERE "shop_orderline"."order_id" = %s`,
  book: `SELECT ${cols('shop_book', ['id', 'title', 'price'])} FROM "shop_book" WHERE "shop_book"."id" = %s LIMIT 21`,
  insert: `INSERT INTO "shop_order" ("customer_id", "placed_at") VALUES (%s, %s) RETURNING "shop_order"."id"`,
};

/** Endpoints: route, method and the statements of one request (k varies the loops' lengths). */
const ENDPOINTS: { route: string; method: string; statements(k: number): string[] }[] = [
  { route: 'dashboard/', method: 'GET', statements: (k) => [SQL.session, SQL.user, SQL.applications, ...Array.from({ length: 8 + k }, () => [SQL.candidate, SQL.job, SQL.company]).flat()] },
  { route: 'applications/<int:pk>/notes/', method: 'GET', statements: (k) => [SQL.session, SQL.user, SQL.applications, SQL.notesIn(5 + k), ...Array<string>(6 + k).fill(SQL.count)] },
  { route: 'applications/bulk-status/', method: 'POST', statements: (k) => [SQL.session, SQL.user, SQL.begin, ...Array<string>(5 + k).fill(SQL.update), SQL.commit] },
  { route: 'orders/', method: 'GET', statements: (k) => [SQL.user, SQL.orders, ...Array.from({ length: 4 + k }, () => [SQL.lines, SQL.book, SQL.book]).flat()] },
  { route: 'checkout/', method: 'POST', statements: () => [SQL.user, SQL.begin, SQL.insert, SQL.commit] },
];

type Attribute = { key: string; value: { stringValue: string } | { intValue: number } };
const str = (key: string, value: string): Attribute => ({ key, value: { stringValue: value } });
const int = (key: string, value: number): Attribute => ({ key, value: { intValue: value } });

/**
 * Synthetic exports, each of two services as their SDKs send them: one with the old semantic
 * conventions and sqlcommenter comments, one with the stable conventions and code locations.
 * Trace and span ids are new on every call.
 */
class SyntheticExports {
  #seed = 0x6d2b79f5;
  #startMs: number;

  constructor(nowMs: number) {
    this.#startMs = nowMs - 60_000;
  }

  next(requests: number): { bytes: Uint8Array; spans: number } {
    const byService: Record<'recruit' | 'shop', unknown[]> = { recruit: [], shop: [] };
    const servers: unknown[] = [];
    let spans = 0;
    for (let r = 0; r < requests; r++) {
      const endpoint = ENDPOINTS[this.#random(ENDPOINTS.length)]!;
      const stable = endpoint.route.startsWith('orders') || endpoint.route.startsWith('checkout');
      const made = this.#request(endpoint, stable);
      (stable ? byService.shop : byService.recruit).push(...made.db);
      servers.push({ stable, span: made.server });
      spans += made.db.length + 1;
    }
    const resource = (service: string, stable: boolean): unknown => ({
      resource: {
        attributes: [str('service.name', service), str('telemetry.sdk.language', 'python'), str('telemetry.sdk.name', 'opentelemetry'), str('telemetry.sdk.version', '1.38.0'), str('service.instance.id', `${service}-1`), str('host.name', 'web-1')],
      },
      scopeSpans: [
        { scope: { name: 'opentelemetry.instrumentation.django', version: '0.48b0' }, spans: servers.filter((s) => (s as { stable: boolean }).stable === stable).map((s) => (s as { span: unknown }).span) },
        { scope: { name: stable ? 'opentelemetry.instrumentation.psycopg' : 'opentelemetry.instrumentation.psycopg2', version: '0.48b0' }, spans: stable ? byService.shop : byService.recruit },
      ],
    });
    const type = otlpSchema().ExportTraceServiceRequest;
    const bytes = type.encode(type.fromObject({ resourceSpans: [resource('recruit', false), resource('shop', true)] })).finish();
    return { bytes, spans };
  }

  #request(endpoint: (typeof ENDPOINTS)[number], stable: boolean): { server: unknown; db: unknown[] } {
    const traceId = this.#bytes(16);
    const serverId = this.#bytes(8);
    const statements = endpoint.statements(this.#random(6));
    const ns = (ms: number): string => `${Math.round((this.#startMs + ms) * 1000)}000`;
    const traceparent = `00-${traceId.toString('hex')}-${serverId.toString('hex')}-01`;
    const view = `${stable ? 'shop' : 'recruit'}.views.${endpoint.route.split('/')[0]}`;
    const comment = stable ? '' : ` /*controller='${endpoint.route.split('/')[0]}',db_driver='django.db.backends.postgresql',framework='django%3A5.2',route='${endpoint.route}',traceparent='${traceparent}'*/`;
    let at = 1;
    const db = statements.map((sql) => {
      const start = at;
      at += 0.2 + this.#random(8) / 10;
      const operation = sql.slice(0, sql.indexOf(' ') < 0 ? sql.length : sql.indexOf(' '));
      return {
        traceId,
        spanId: this.#bytes(8),
        parentSpanId: serverId,
        flags: 0x100,
        name: operation,
        kind: 3,
        status: {},
        startTimeUnixNano: ns(start),
        endTimeUnixNano: ns(at - 0.05),
        attributes: stable
          ? [str('db.system.name', 'postgresql'), str('db.namespace', 'shop'), str('db.query.text', sql), str('server.address', 'db'), int('server.port', 5432), str('code.file.path', 'shop/views.py'), int('code.line.number', 40), str('code.function.name', view)]
          : [str('db.system', 'postgresql'), str('db.name', 'recruit'), str('db.user', 'recruit'), str('db.statement', sql + comment), str('net.peer.name', 'db'), int('net.peer.port', 5432)],
      };
    });
    const failed = this.#random(8) === 0;
    const status = failed ? 500 : 200;
    const server = {
      traceId,
      spanId: serverId,
      flags: 0x100,
      name: `${endpoint.method} ${endpoint.route}`,
      kind: 2,
      startTimeUnixNano: ns(0),
      endTimeUnixNano: ns(at + 1),
      attributes: stable
        ? [str('http.request.method', endpoint.method), str('url.scheme', 'http'), str('url.path', `/${endpoint.route}`), str('server.address', 'shop.internal'), int('server.port', 8000), str('client.address', '10.0.3.17'), str('user_agent.original', 'Mozilla/5.0'), str('http.route', endpoint.route), int('http.response.status_code', status)]
        : [str('http.method', endpoint.method), str('http.scheme', 'http'), str('http.host', 'recruit.internal:8000'), str('http.target', `/${endpoint.route}`), str('net.peer.ip', '10.0.3.17'), str('http.user_agent', 'Mozilla/5.0'), str('http.flavor', '1.1'), str('http.route', endpoint.route), int('http.status_code', status)],
      status: failed ? { code: 2 } : {},
    };
    this.#startMs += at + 2;
    return { server, db };
  }

  /** xorshift32: the same exports every start. */
  #next(): number {
    let s = this.#seed;
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    this.#seed = s;
    return s >>> 0;
  }

  #random(n: number): number {
    return this.#next() % n;
  }

  #bytes(n: number): Buffer {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i += 4) b.writeUInt32LE(this.#next(), i);
    return b;
  }
}
