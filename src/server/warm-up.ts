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
import protobuf from 'protobufjs';
import { Spool } from '../spool/index.js';
import { openStore } from '../store/open.js';
import { startGrpcServer, type GrpcOptions } from './grpc.js';
import { Intake, type ExportIntake, type IntakeOptions } from './intake.js';
import { createMetrics, type ServerMetrics } from './metrics.js';
import type { RequestHandler } from './otlp-http.js';

const gzip = promisify(gzipCallback);
const { Writer } = protobuf;
type Writer = protobuf.Writer;

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
  httpListener(intake: ExportIntake, metrics: ServerMetrics): RequestHandler;
  grpc: Omit<GrpcOptions, 'intake' | 'metrics' | 'tls'>;
  /** Bearer token the listeners require, sent by the warm-up's clients. */
  authToken?: string;
  /** The server spools exports: so does the warm-up (the committed-trace check, the append), into a temporary directory. */
  spool?: boolean;
  /**
   * The throwaway intake behind the listeners, over the warm-up's spool (`serve --workers`: the
   * serving thread's split, shards.ts SplitWarmUpIntake); an Intake with `intake`'s settings over an
   * in-memory store when absent.
   */
  throwaway?: (spool: Spool | undefined) => ExportIntake;
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
  const store = wiring.throwaway === undefined ? await openStore(':memory:') : undefined;
  const metrics = createMetrics();
  const spoolDir = wiring.spool === true ? mkdtempSync(join(tmpdir(), 'n1lens-warm-up-')) : undefined;
  const spool = spoolDir === undefined ? undefined : Spool.open({ dir: spoolDir });
  // A clock of its own: each round's traces are complete at once, without waiting traceWaitMs.
  let clock = Date.now();
  let intake: ExportIntake | undefined;
  let http: ReturnType<typeof createServer> | undefined;
  let grpc: Awaited<ReturnType<typeof startGrpcServer>> | undefined;
  const agent = new Agent({ keepAlive: true });
  let session: ReturnType<typeof http2Connect> | undefined;
  const exports = new SyntheticExports(clock);
  let sent = 0;
  let spans = 0;
  try {
    intake =
      store === undefined
        ? wiring.throwaway!(spool)
        : new Intake({ ...wiring.intake, ...(spool === undefined ? {} : { spool }), store, metrics, now: () => clock, pollIntervalMs: 3_600_000 });
    const server = (http = createServer(wiring.httpListener(intake, metrics)));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    grpc = await startGrpcServer({ ...wiring.grpc, intake, metrics }, '127.0.0.1', 0);
    const httpPort = (server.address() as AddressInfo).port;
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
        calls.push(postHttp(agent, httpPort, auth, 'application/x-protobuf', overHttp.protobuf, gzipped));
        calls.push(callGrpc(session, auth, overGrpc.protobuf, gzipped));
      }
      // OTLP/JSON exporters too: a smaller export, as JSON.
      const json = exports.next(Math.max(1, plan.requestsPerExport >> 2));
      spans += json.spans;
      calls.push(postHttp(agent, httpPort, auth, 'application/json', Buffer.from(json.json()), false));
      calls.push(getHealth(agent, httpPort));
      await Promise.all(calls);
      sent += calls.length - 1;
      // The ticks analyse the traces and write their rows, as serve's timer would: those that look
      // whole at the settle time (so looksWhole is compiled too; shards warm their own), the rest after.
      if (intake instanceof Intake) {
        clock += intake.settleMs;
        await intake.tick();
      }
      clock += 3_600_000;
      await intake.tick();
    }
  } finally {
    agent.destroy();
    session?.destroy();
    const server = http;
    await Promise.all([server === undefined ? undefined : new Promise<void>((resolve) => server.close(() => resolve())), grpc?.close(0)]);
    // The intake closes its spool; one never made leaves the spool to close here.
    await (intake === undefined ? spool?.close() : intake.close());
    await store?.close();
    if (spoolDir !== undefined) rmSync(spoolDir, { recursive: true, force: true });
  }
  return { exports: sent, spans, requestsAnalysed: metricValue(await metrics.requestsAnalysed.get()), ms: performance.now() - started };
}

/**
 * The intake half of the warm-up, for a thread that has no listeners (a `serve --workers` shard):
 * the same rounds of exports straight into a throwaway Intake made with `settings`, protobuf and
 * JSON. A shard spools nothing itself (the serving thread does), so neither does this.
 */
export async function warmUpIntake(settings: WarmUpWiring['intake'], plan: WarmUpPlan): Promise<void> {
  const store = await openStore(':memory:');
  let clock = Date.now();
  const intake = new Intake({ ...settings, store, metrics: createMetrics(), now: () => clock, pollIntervalMs: 3_600_000 });
  const exports = new SyntheticExports(clock);
  try {
    for (let round = 0; round < plan.rounds; round++) {
      const accepted: Promise<unknown>[] = [];
      for (let i = 0; i < 2 * plan.exportsPerTransport; i++) {
        const made = exports.next(plan.requestsPerExport);
        accepted.push(intake.acceptProtobuf(made.protobuf, i % 2 === 0 ? 'http' : 'grpc').then((r) => (r.ok ? r.durable : undefined)));
      }
      const json = exports.next(Math.max(1, plan.requestsPerExport >> 2));
      accepted.push(intake.acceptJson(Buffer.from(json.json()), 'http').then((r) => (r.ok ? r.durable : undefined)));
      await Promise.all(accepted);
      clock += intake.settleMs;
      await intake.tick();
      clock += 3_600_000;
      await intake.tick();
    }
  } finally {
    await intake.close();
    await store.close();
  }
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
  // Values written into the statement (SQLite's DB-API instrumentation, raw SQL): each one new to the normaliser.
  {
    route: 'reports/pipeline/',
    method: 'GET',
    statements: (k) => [
      `SELECT ${cols('recruit_application', ['id', 'candidate_id', 'status'])} FROM "recruit_application" WHERE ("recruit_application"."status" IN ('new', 'screening') AND "recruit_application"."score" >= ${k}.5) ORDER BY "recruit_application"."id" ASC`,
      ...Array.from({ length: 6 + k }, (_, row) => [
        `SELECT ${cols('recruit_note', ['id', 'body'])} FROM "recruit_note" WHERE "recruit_note"."application_id" = ${100 * k + row} ORDER BY "recruit_note"."created_at" DESC`,
        `SELECT "recruit_tag"."name" FROM "recruit_tag" INNER JOIN "recruit_candidate_tags" ON ("recruit_tag"."id" = "recruit_candidate_tags"."tag_id") WHERE "recruit_candidate_tags"."candidate_id" = ${7 * row + k} AND "recruit_tag"."name" <> 'it''s archived'`,
      ]).flat(),
    ],
  },
];

type Attribute = { key: string; value: { stringValue: string } | { intValue: number } };
const str = (key: string, value: string): Attribute => ({ key, value: { stringValue: value } });
const int = (key: string, value: number): Attribute => ({ key, value: { intValue: value } });

/** A span as the warm-up writes it: ids as bytes, times in ns (decimal text), the fields Python's SDK sets. */
interface SyntheticSpan {
  traceId: Buffer;
  spanId: Buffer;
  parentSpanId?: Buffer;
  name: string;
  kind: number;
  startNs: string;
  endNs: string;
  attributes: Attribute[];
  error: boolean;
}

interface SyntheticScope {
  name: string;
  spans: SyntheticSpan[];
}

interface SyntheticResource {
  attributes: Attribute[];
  scopes: SyntheticScope[];
}

/** An export in both encodings an exporter may send. */
export interface SyntheticExport {
  protobuf: Uint8Array;
  json: () => string;
  spans: number;
}

/**
 * Synthetic exports, each of two services as their SDKs send them: one with the old semantic
 * conventions and sqlcommenter comments, one with the stable conventions and code locations.
 * Trace and span ids are new on every call. Written by hand (protobufjs's reflection would take
 * longer than the warm-up itself).
 */
export class SyntheticExports {
  #seed = 0x6d2b79f5;
  #startMs: number;

  constructor(nowMs: number) {
    this.#startMs = nowMs - 60_000;
  }

  next(requests: number): SyntheticExport {
    const servers: Record<'recruit' | 'shop', SyntheticSpan[]> = { recruit: [], shop: [] };
    const queries: Record<'recruit' | 'shop', SyntheticSpan[]> = { recruit: [], shop: [] };
    let spans = 0;
    for (let r = 0; r < requests; r++) {
      const endpoint = ENDPOINTS[this.#random(ENDPOINTS.length)]!;
      const stable = endpoint.route.startsWith('orders') || endpoint.route.startsWith('checkout');
      const service = stable ? 'shop' : 'recruit';
      const made = this.#request(endpoint, stable);
      servers[service].push(made.server);
      queries[service].push(...made.db);
      spans += made.db.length + 1;
    }
    const resources: SyntheticResource[] = (['recruit', 'shop'] as const).map((service) => ({
      attributes: [str('service.name', service), str('telemetry.sdk.language', 'python'), str('telemetry.sdk.name', 'opentelemetry'), str('telemetry.sdk.version', '1.38.0'), str('service.instance.id', `${service}-1`), str('host.name', 'web-1')],
      scopes: [
        { name: 'opentelemetry.instrumentation.django', spans: servers[service] },
        { name: service === 'shop' ? 'opentelemetry.instrumentation.psycopg' : 'opentelemetry.instrumentation.psycopg2', spans: queries[service] },
      ],
    }));
    return { protobuf: encodeRequest(resources), json: () => JSON.stringify(jsonRequest(resources)), spans };
  }

  #request(endpoint: (typeof ENDPOINTS)[number], stable: boolean): { server: SyntheticSpan; db: SyntheticSpan[] } {
    const traceId = this.#bytes(16);
    const serverId = this.#bytes(8);
    const statements = endpoint.statements(this.#random(6));
    const ns = (ms: number): string => `${Math.round((this.#startMs + ms) * 1000)}000`;
    const traceparent = `00-${traceId.toString('hex')}-${serverId.toString('hex')}-01`;
    const view = `${stable ? 'shop' : 'recruit'}.views.${endpoint.route.split('/')[0]}`;
    const comment = stable ? '' : ` /*controller='${endpoint.route.split('/')[0]}',db_driver='django.db.backends.postgresql',framework='django%3A5.2',route='${endpoint.route}',traceparent='${traceparent}'*/`;
    let at = 1;
    const db = statements.map((sql): SyntheticSpan => {
      const start = at;
      at += 0.2 + this.#random(8) / 10;
      const operation = sql.slice(0, sql.indexOf(' ') < 0 ? sql.length : sql.indexOf(' '));
      return {
        traceId,
        spanId: this.#bytes(8),
        parentSpanId: serverId,
        name: operation,
        kind: 3,
        startNs: ns(start),
        endNs: ns(at - 0.05),
        error: false,
        attributes: stable
          ? [str('db.system.name', 'postgresql'), str('db.namespace', 'shop'), str('db.query.text', sql), str('server.address', 'db'), int('server.port', 5432), str('code.file.path', 'shop/views.py'), int('code.line.number', 40), str('code.function.name', view)]
          : [str('db.system', 'postgresql'), str('db.name', 'recruit'), str('db.user', 'recruit'), str('db.statement', sql + comment), str('net.peer.name', 'db'), int('net.peer.port', 5432)],
      };
    });
    const failed = this.#random(8) === 0;
    const status = failed ? 500 : 200;
    const server: SyntheticSpan = {
      traceId,
      spanId: serverId,
      name: `${endpoint.method} ${endpoint.route}`,
      kind: 2,
      startNs: ns(0),
      endNs: ns(at + 1),
      error: failed,
      attributes: stable
        ? [str('http.request.method', endpoint.method), str('url.scheme', 'http'), str('url.path', `/${endpoint.route}`), str('server.address', 'shop.internal'), int('server.port', 8000), str('client.address', '10.0.3.17'), str('user_agent.original', 'Mozilla/5.0'), str('http.route', endpoint.route), int('http.response.status_code', status)]
        : [str('http.method', endpoint.method), str('http.scheme', 'http'), str('http.host', 'recruit.internal:8000'), str('http.target', `/${endpoint.route}`), str('net.peer.ip', '10.0.3.17'), str('http.user_agent', 'Mozilla/5.0'), str('http.flavor', '1.1'), str('http.route', endpoint.route), int('http.status_code', status)],
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

// Protobuf, as the OpenTelemetry SDKs write an ExportTraceServiceRequest (field numbers of opentelemetry-proto's
// trace.proto), with protobufjs's low-level writer: its reflection (fromObject, encode) took longer than the warm-up.
const LENGTH_DELIMITED = 2;
const open = (w: Writer, field: number): Writer => w.uint32((field << 3) | LENGTH_DELIMITED).fork();
const text = (w: Writer, field: number, value: string): Writer => w.uint32((field << 3) | LENGTH_DELIMITED).string(value);
const bytes = (w: Writer, field: number, value: Uint8Array): Writer => w.uint32((field << 3) | LENGTH_DELIMITED).bytes(value);

function keyValue(w: Writer, field: number, a: Attribute): void {
  text(open(w, field), 1, a.key);
  open(w, 2);
  if ('stringValue' in a.value) text(w, 1, a.value.stringValue);
  else w.uint32(3 << 3).int64(a.value.intValue);
  w.ldelim().ldelim();
}

/** Unix nanoseconds as protobufjs's 64-bit value (beyond a double's exact integers). */
function nanos(decimal: string): protobuf.Long {
  const v = BigInt(decimal);
  return { low: Number(v & 0xffffffffn) | 0, high: Number(v >> 32n) | 0, unsigned: true };
}

function encodeSpan(w: Writer, s: SyntheticSpan): void {
  open(w, 2);
  bytes(w, 1, s.traceId);
  bytes(w, 2, s.spanId);
  if (s.parentSpanId !== undefined) bytes(w, 4, s.parentSpanId);
  text(w, 5, s.name);
  w.uint32(6 << 3).uint32(s.kind);
  w.uint32((7 << 3) | 1).fixed64(nanos(s.startNs));
  w.uint32((8 << 3) | 1).fixed64(nanos(s.endNs));
  for (const a of s.attributes) keyValue(w, 9, a);
  open(w, 15);
  if (s.error) w.uint32(3 << 3).uint32(2);
  w.ldelim();
  w.uint32((16 << 3) | 5).fixed32(0x100);
  w.ldelim();
}

function encodeRequest(resources: SyntheticResource[]): Uint8Array {
  const w = Writer.create();
  for (const r of resources) {
    open(w, 1);
    open(w, 1);
    for (const a of r.attributes) keyValue(w, 1, a);
    w.ldelim();
    for (const scope of r.scopes) {
      open(w, 2);
      text(text(open(w, 1), 1, scope.name), 2, '0.48b0').ldelim();
      for (const span of scope.spans) encodeSpan(w, span);
      w.ldelim();
    }
    w.ldelim();
  }
  return w.finish();
}

/** The same request as OTLP/JSON: hex ids, decimal-string nanoseconds and int64s. */
function jsonRequest(resources: SyntheticResource[]): unknown {
  const attributes = (as: Attribute[]): unknown[] => as.map((a) => ({ key: a.key, value: 'stringValue' in a.value ? a.value : { intValue: String(a.value.intValue) } }));
  return {
    resourceSpans: resources.map((r) => ({
      resource: { attributes: attributes(r.attributes) },
      scopeSpans: r.scopes.map((scope) => ({
        scope: { name: scope.name, version: '0.48b0' },
        spans: scope.spans.map((s) => ({
          traceId: s.traceId.toString('hex'),
          spanId: s.spanId.toString('hex'),
          ...(s.parentSpanId === undefined ? {} : { parentSpanId: s.parentSpanId.toString('hex') }),
          flags: 0x100,
          name: s.name,
          kind: s.kind,
          startTimeUnixNano: s.startNs,
          endTimeUnixNano: s.endNs,
          attributes: attributes(s.attributes),
          status: s.error ? { code: 2 } : {},
        })),
      })),
    })),
  };
}
