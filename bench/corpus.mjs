#!/usr/bin/env node
/**
 * A realistic Django trace corpus for the benchmarks: two services (psycopg2 instrumentation with
 * old semantic-convention names and sqlcommenter comments; stable names without), each request one
 * SERVER span plus 10-300 DB spans with Django's real statement shapes (`%s` placeholders, `LIMIT
 * 21`, `IN (%s, …)` prefetches of varying length, transactions), concurrent requests interleaved in
 * end-time order, exported in batches of 512 spans as a BatchSpanProcessor would.
 *
 * Written straight to protobuf wire bytes (the field layout the OpenTelemetry SDKs emit) and to
 * OTLP/JSON lines, both as the Collector's file exporter frames them. `--check` decodes the first
 * batches with protobufjs and the JSON decoder and compares, so the writer cannot drift from OTLP.
 *
 *   node bench/corpus.mjs --out /tmp/n1lens-bench/corpus --spans 500000 [--jsonl] [--check] [--locations] [--lean]
 *
 * `--lean`: the same requests as lean spans (~350 bytes each in protobuf): `service.name` the only
 * resource attribute, DB spans with short statements (columns unqualified, no sqlcommenter comment)
 * and the system, database, user or operation, and peer attributes psycopg2's and the stable
 * conventions' instrumentations set. The ratio against a
 * generic decoder depends on span size, so every figure is reported on both corpora.
 *   node bench/corpus.mjs --out /tmp/n1lens-bench/big --bytes 1073741824
 */
import { createWriteStream } from 'node:fs';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { once } from 'node:events';

// ---------------------------------------------------------------------------------------------
// Deterministic randomness (xorshift32), so every run writes the same corpus.
let seed = 0x2545f491;
function rand() {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return (seed >>> 0) / 0x1_0000_0000;
}
const pick = (xs) => xs[Math.floor(rand() * xs.length)];
const between = (lo, hi) => lo + Math.floor(rand() * (hi - lo + 1));
function randomBytes(n) {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i += 4) b.writeUInt32LE((rand() * 0x1_0000_0000) >>> 0, i);
  return b;
}

// ---------------------------------------------------------------------------------------------
// Django statements (what psycopg2's cursor.execute receives: `%s` placeholders, LIMIT inlined).
const q = (t, cols) => cols.map((c) => `"${t}"."${c}"`).join(', ');
const CANDIDATE = ['id', 'name', 'email'];
const JOB = ['id', 'title', 'company_id'];
const APPLICATION = ['id', 'candidate_id', 'job_id', 'status_id'];
const USER = ['id', 'password', 'username', 'is_active'];
const SQL = {
  session: `SELECT ${q('django_session', ['session_key', 'session_data'])} FROM "django_session" WHERE "django_session"."session_key" = %s LIMIT 21`,
  user: `SELECT ${q('auth_user', USER)} FROM "auth_user" WHERE "auth_user"."id" = %s LIMIT 21`,
  applications: `SELECT ${q('recruit_application', APPLICATION)} FROM "recruit_application" WHERE "recruit_application"."job_id" IN (SELECT U0."id" FROM "recruit_job" U0 WHERE U0."company_id" = %s) ORDER BY "recruit_application"."submitted_at" DESC LIMIT 50`,
  candidate: `SELECT ${q('recruit_candidate', CANDIDATE)} FROM "recruit_candidate" WHERE "recruit_candidate"."id" = %s LIMIT 21`,
  job: `SELECT ${q('recruit_job', JOB)} FROM "recruit_job" WHERE "recruit_job"."id" = %s LIMIT 21`,
  company: `SELECT ${q('recruit_company', ['id', 'name', 'domain'])} FROM "recruit_company" WHERE "recruit_company"."id" = %s LIMIT 21`,
  status: `SELECT ${q('recruit_status', ['id', 'name', 'order'])} FROM "recruit_status" WHERE "recruit_status"."id" = %s LIMIT 21`,
  joined: `SELECT ${q('recruit_application', APPLICATION)}, ${q('recruit_candidate', CANDIDATE)}, ${q('recruit_job', JOB)} FROM "recruit_application" INNER JOIN "recruit_candidate" ON ("recruit_application"."candidate_id" = "recruit_candidate"."id") INNER JOIN "recruit_job" ON ("recruit_application"."job_id" = "recruit_job"."id") ORDER BY "recruit_application"."submitted_at" DESC LIMIT 50`,
  notesIn: (n) => `SELECT ${q('recruit_note', ['id', 'application_id', 'body'])} FROM "recruit_note" WHERE "recruit_note"."application_id" IN (${Array(n).fill('%s').join(', ')})`,
  jobById: `SELECT ${q('recruit_job', JOB)} FROM "recruit_job" WHERE "recruit_job"."id" = %s LIMIT 21`,
  jobApplications: `SELECT ${q('recruit_application', APPLICATION)} FROM "recruit_application" WHERE "recruit_application"."job_id" = %s ORDER BY "recruit_application"."score" DESC`,
  noteCount: `SELECT COUNT(*) AS "__count" FROM "recruit_note" WHERE "recruit_note"."application_id" = %s`,
  begin: 'BEGIN',
  commit: 'COMMIT',
  updateStatus: `UPDATE "recruit_application" SET "status_id" = %s, "updated_at" = %s WHERE "recruit_application"."id" = %s`,
  pipeline: `SELECT ${q('recruit_application', APPLICATION)} FROM "recruit_application" WHERE ("recruit_application"."submitted_at" >= %s AND "recruit_application"."status_id" IN (%s, %s, %s)) ORDER BY "recruit_application"."id" ASC`,
  notes: `SELECT ${q('recruit_note', ['id', 'application_id', 'body'])} FROM "recruit_note" WHERE "recruit_note"."application_id" = %s ORDER BY "recruit_note"."created_at" DESC`,
  tags: `SELECT "recruit_tag"."id", "recruit_tag"."name" FROM "recruit_tag" INNER JOIN "recruit_candidate_tags" ON ("recruit_tag"."id" = "recruit_candidate_tags"."tag_id") WHERE "recruit_candidate_tags"."candidate_id" = %s`,
  loginUser: `SELECT ${q('auth_user', USER)} FROM "auth_user" WHERE "auth_user"."username" = %s LIMIT 21`,
  sessionExists: 'SELECT 1 AS "a" FROM "django_session" WHERE "django_session"."session_key" = %s LIMIT 1',
  sessionInsert: 'INSERT INTO "django_session" ("session_key", "session_data", "expire_date") VALUES (%s, %s, %s)',
  lastLogin: 'UPDATE "auth_user" SET "last_login" = %s WHERE "auth_user"."id" = %s',
  candidates: `SELECT ${q('recruit_candidate', CANDIDATE)} FROM "recruit_candidate" ORDER BY "recruit_candidate"."created_at" DESC LIMIT 20`,
  hasApplication: 'SELECT 1 AS "a" FROM "recruit_application" WHERE "recruit_application"."candidate_id" = %s LIMIT 1',
  orders: 'SELECT "shop_order"."id", "shop_order"."customer_id", "shop_order"."placed_at", "shop_order"."total" FROM "shop_order" WHERE "shop_order"."customer_id" = %s ORDER BY "shop_order"."placed_at" DESC',
  lines: 'SELECT "shop_orderline"."id", "shop_orderline"."order_id", "shop_orderline"."book_id", "shop_orderline"."quantity" FROM "shop_orderline" WHERE "shop_orderline"."order_id" = %s',
  book: 'SELECT "shop_book"."id", "shop_book"."title", "shop_book"."author_id", "shop_book"."price" FROM "shop_book" WHERE "shop_book"."id" = %s LIMIT 21',
};

/** Endpoint plans: [method, route, weight, () => statements]. Averages ~100 DB spans per request. */
const ENDPOINTS = [
  ['GET', 'dashboard/', 3, () => {
    const n = between(30, 50);
    const out = [SQL.session, SQL.user, SQL.applications];
    for (let i = 0; i < n; i++) out.push(SQL.candidate, SQL.job, SQL.company);
    return out;
  }],
  ['GET', 'dashboard/optimised/', 3, () => [SQL.session, SQL.user, SQL.joined, SQL.notesIn(between(20, 50)), SQL.status, SQL.company, SQL.job, SQL.candidate, SQL.tags, SQL.noteCount]],
  ['GET', 'jobs/<int:pk>/', 3, () => {
    const n = between(10, 30);
    const out = [SQL.session, SQL.user, SQL.jobById, SQL.jobApplications];
    for (let i = 0; i < n; i++) out.push(SQL.noteCount);
    return out;
  }],
  ['POST', 'applications/bulk-status/', 2, () => {
    const n = between(10, 40);
    const out = [SQL.session, SQL.user, SQL.begin];
    for (let i = 0; i < n; i++) out.push(SQL.updateStatus);
    out.push(SQL.commit);
    return out;
  }],
  ['GET', 'reports/pipeline/', 1, () => {
    const n = between(100, 148);
    const out = [SQL.session, SQL.user, SQL.pipeline];
    for (let i = 0; i < n; i++) out.push(SQL.notes, SQL.tags);
    return out;
  }],
  ['POST', 'login/', 2, () => [SQL.loginUser, SQL.sessionExists, SQL.begin, SQL.sessionInsert, SQL.commit, SQL.begin, SQL.lastLogin, SQL.commit, SQL.sessionExists, SQL.user]],
  ['GET', 'api/candidates/', 3, () => {
    const out = [SQL.session, SQL.user, SQL.candidates];
    for (let i = 0; i < 20; i++) out.push(SQL.hasApplication);
    return out;
  }],
  ['GET', 'orders/', 2, () => {
    const orders = between(5, 20);
    const out = [SQL.session, SQL.user, SQL.orders];
    for (let i = 0; i < orders; i++) {
      out.push(SQL.lines);
      for (let k = between(1, 5); k > 0; k--) out.push(SQL.book);
    }
    return out;
  }],
];
const WEIGHTED = ENDPOINTS.flatMap((e) => Array(e[2]).fill(e));

const SERVICES = [
  {
    name: 'recruit',
    semconv: 'old',
    sqlcommenter: true,
    resource: { 'service.name': 'recruit', 'telemetry.sdk.language': 'python', 'telemetry.sdk.name': 'opentelemetry', 'telemetry.sdk.version': '1.45.1', 'service.instance.id': 'c298607c-0847-4c99-8732-e74b0e1235ae', 'host.name': 'web-1' },
  },
  {
    name: 'shop',
    semconv: 'stable',
    sqlcommenter: false,
    resource: { 'service.name': 'shop', 'telemetry.sdk.language': 'python', 'telemetry.sdk.name': 'opentelemetry', 'telemetry.sdk.version': '1.45.1', 'service.instance.id': '5f1b8e0a-2c44-4d1e-9b7a-61f0c3d2a9e4', 'host.name': 'web-2' },
  },
];

// ---------------------------------------------------------------------------------------------
// Spans. Times are ns BigInt offsets from T0.
const T0 = 1_795_613_023_000_000_000n;

/** --locations: what n1lens_django's location processor adds, one template line per table (a loop's spans share it). */
let WITH_LOCATIONS = false;
/** --lean: see the header. */
let LEAN = false;

/** A statement as a lean corpus carries it: `"table"."column"` written as `"column"`. */
const shortSql = (sql) => sql.replace(/"[a-z_]+"\."([a-z_]+)"/g, '"$1"');
function locationAttributes(service, route, table = '') {
  const view = route.split('/')[0] || 'index';
  let line = 7;
  for (let i = 0; i < table.length; i++) line = (line * 31 + table.charCodeAt(i)) % 40;
  return [
    ['code.file.path', `${service.name}/views.py`],
    ['code.line.number', 20 + view.length],
    ['code.function.name', `${service.name}.views.${view}`],
    ['n1lens.view', `${service.name}.views.${view}`],
    ['n1lens.template.path', `${service.name}/templates/${service.name}/${view}.html`],
    ['n1lens.template.line', line + 3],
  ];
}

/**
 * One request's spans, ending in its SERVER span. With `calls.callShare`, that share of requests also
 * calls a payments API that sends no spans (an HTTP CLIENT span nothing answers); with
 * `calls.queueShare`, that share queues a Celery task whose workers send no spans (a PRODUCER span
 * nothing answers). 0 draws nothing, so the corpus stays the one written before the options.
 */
function* requestSpans(service, startNs, { callShare = 0, queueShare = 0 } = {}) {
  const [method, route, , plan] = pick(WEIGHTED);
  const traceId = randomBytes(16);
  const serverId = randomBytes(8);
  const statements = plan();
  const stable = service.semconv === 'stable';
  const traceparent = `00-${traceId.toString('hex')}-${serverId.toString('hex')}-01`;
  const comment = service.sqlcommenter
    ? ` /*controller='recruit.views.${route.split('/')[0] || 'index'}',db_driver='django.db.backends.postgresql',framework='django%%3A5.2.19',route='${route}',traceparent='${traceparent}'*/`
    : '';
  let t = startNs + BigInt(between(200_000, 900_000));
  for (const sql of statements) {
    const start = t;
    const end = start + BigInt(between(60_000, 900_000));
    t = end + BigInt(between(20_000, 300_000));
    const op = sql.slice(0, sql.indexOf(' ') < 0 ? sql.length : sql.indexOf(' '));
    const table = /(?:FROM|INTO|UPDATE) "([a-z_]+)"/.exec(sql)?.[1];
    if (LEAN) {
      yield {
        traceId, spanId: randomBytes(8), parentSpanId: serverId, name: op, kind: 3, start, end, scope: 'db',
        attributes: stable
          ? [['db.system.name', 'postgresql'], ['db.namespace', service.name], ['db.operation.name', op], ['db.query.text', shortSql(sql)], ['server.address', 'db'], ['server.port', 5432]]
          : [['db.system', 'postgresql'], ['db.name', service.name], ['db.user', service.name], ['db.statement', shortSql(sql)], ['net.peer.name', 'db'], ['net.peer.port', 5432]],
      };
      continue;
    }
    yield {
      traceId,
      spanId: randomBytes(8),
      parentSpanId: serverId,
      name: stable && table ? `${op} ${table}` : op,
      kind: 3,
      start,
      end,
      scope: 'db',
      attributes: [
        ...(stable
          ? [['db.system.name', 'postgresql'], ['db.namespace', service.name], ['db.query.text', sql + comment], ['server.address', 'db'], ['server.port', 5432]]
          : [['db.system', 'postgresql'], ['db.name', service.name], ['db.statement', sql + comment], ['net.peer.name', 'db'], ['net.peer.port', 5432]]),
        ...(WITH_LOCATIONS ? locationAttributes(service, route, table) : []),
      ],
    };
  }
  if (callShare > 0 && rand() < callShare) {
    const start = t;
    t = start + BigInt(between(20_000_000, 80_000_000));
    yield {
      traceId, spanId: randomBytes(8), parentSpanId: serverId, name: 'POST', kind: 3, start, end: t, scope: 'requests',
      attributes: [['http.request.method', 'POST'], ['server.address', 'api.payments.example'], ['url.full', 'https://api.payments.example/v1/charges'], ['http.response.status_code', 200]],
    };
  }
  if (queueShare > 0 && rand() < queueShare) {
    const start = t;
    t = start + BigInt(between(300_000, 1_500_000));
    const task = `${service.name}.tasks.notify_${route.split('/')[0] || 'index'}`;
    yield {
      traceId, spanId: randomBytes(8), parentSpanId: serverId, name: `apply_async/${task}`, kind: 4, start, end: t, scope: 'celery',
      attributes: [['celery.action', 'apply_async'], ['celery.task_name', task], ['messaging.message.id', randomBytes(16).toString('hex')], ['messaging.destination', 'celery']],
    };
  }
  const end = t + BigInt(between(300_000, 2_000_000));
  const path = `/${route.replace('<int:pk>', String(between(1, 999)))}`;
  yield {
    traceId,
    spanId: serverId,
    parentSpanId: null,
    name: `${method} ${route}`,
    kind: 2,
    start: startNs,
    end,
    scope: 'django',
    status: method === 'POST' && rand() < 0.02 ? 2 : 0,
    attributes: LEAN
      ? [[stable ? 'http.request.method' : 'http.method', method], ['http.route', route]]
      : stable
      ? [['http.request.method', method], ['url.scheme', 'http'], ['url.path', path], ['server.address', 'recruit.internal'], ['server.port', 8000], ['client.address', '10.0.3.17'], ['user_agent.original', 'Mozilla/5.0'], ['http.route', route], ['http.response.status_code', 200]]
      : [['http.method', method], ['http.scheme', 'http'], ['http.host', 'recruit.internal:8000'], ['http.target', path], ['net.peer.ip', '10.0.3.17'], ['http.user_agent', 'Mozilla/5.0'], ['http.flavor', '1.1'], ['http.route', route], ['http.status_code', 200]],
  };
}

/** Spans of one service in end-time order: `workers` requests in flight at once, as in a gunicorn pool. */
function* serviceSpans(service, workers, calls) {
  const streams = [];
  for (let w = 0; w < workers; w++) {
    const start = T0 + BigInt(w * 1_700_000);
    streams.push({ it: requestSpans(service, start, calls), head: null, next: start });
  }
  for (const s of streams) s.head = s.it.next().value;
  for (;;) {
    let best = streams[0];
    for (const s of streams) if (s.head.end < best.head.end) best = s;
    yield best.head;
    const r = best.it.next();
    if (r.done) {
      best.it = requestSpans(service, best.head.end + BigInt(between(100_000, 3_000_000)), calls);
      best.head = best.it.next().value;
    } else best.head = r.value;
  }
}

// ---------------------------------------------------------------------------------------------
// Protobuf writer (the layout of opentelemetry-js's ProtobufTraceSerializer and Python's encoder).
class Writer {
  constructor(size = 1 << 20) {
    this.buf = Buffer.allocUnsafe(size);
    this.pos = 0;
  }
  ensure(n) {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }
  varint(v) {
    this.ensure(10);
    while (v > 0x7f) {
      this.buf[this.pos++] = (v & 0x7f) | 0x80;
      v = Math.floor(v / 128);
    }
    this.buf[this.pos++] = v;
  }
  tag(field, wire) {
    this.varint(field * 8 + wire);
  }
  bytes(field, b) {
    this.tag(field, 2);
    this.varint(b.length);
    this.ensure(b.length);
    b.copy(this.buf, this.pos);
    this.pos += b.length;
  }
  string(field, s) {
    this.bytes(field, Buffer.from(s, 'utf8'));
  }
  fixed64(field, v) {
    this.tag(field, 1);
    this.ensure(8);
    this.buf.writeBigUInt64LE(v, this.pos);
    this.pos += 8;
  }
  fixed32(field, v) {
    this.tag(field, 5);
    this.ensure(4);
    this.buf.writeUInt32LE(v, this.pos);
    this.pos += 4;
  }
  /** A length-delimited sub-message: reserves 3 length bytes (messages < 2 MiB), fills them in after. */
  message(field, body) {
    this.tag(field, 2);
    this.ensure(3);
    const at = this.pos;
    this.pos += 3;
    body();
    const len = this.pos - at - 3;
    if (len >= 1 << 21) throw new Error('sub-message too long');
    this.buf[at] = (len & 0x7f) | 0x80;
    this.buf[at + 1] = ((len >> 7) & 0x7f) | 0x80;
    this.buf[at + 2] = len >> 14;
  }
  take() {
    const out = Buffer.from(this.buf.subarray(0, this.pos));
    this.pos = 0;
    return out;
  }
}

function writeKeyValue(w, field, key, value) {
  w.message(field, () => {
    w.string(1, key);
    w.message(2, () => {
      if (typeof value === 'number') {
        w.tag(3, 0);
        w.varint(value);
      } else w.string(1, value);
    });
  });
}

function writeSpan(w, s) {
  w.message(2, () => {
    w.bytes(1, s.traceId);
    w.bytes(2, s.spanId);
    if (s.parentSpanId) w.bytes(4, s.parentSpanId);
    w.fixed32(16, 0x100);
    w.string(5, s.name);
    w.tag(6, 0);
    w.varint(s.kind);
    w.fixed64(7, s.start);
    w.fixed64(8, s.end);
    for (const [k, v] of s.attributes) writeKeyValue(w, 9, k, v);
    w.message(15, () => {
      if (s.status) {
        w.tag(3, 0);
        w.varint(s.status);
      }
    });
  });
}

const SCOPES = {
  django: ['opentelemetry.instrumentation.django', '0.66b1'],
  db: ['opentelemetry.instrumentation.psycopg2', '0.66b1'],
  requests: ['opentelemetry.instrumentation.requests', '0.66b1'],
  celery: ['opentelemetry.instrumentation.celery', '0.66b1'],
};

/** The resource attributes written: only service.name in a lean corpus. */
const resourceOf = (service) => (LEAN ? { 'service.name': service.resource['service.name'] } : service.resource);

function encodeBatch(w, service, spans) {
  w.message(1, () => {
    w.message(1, () => {
      for (const [k, v] of Object.entries(resourceOf(service))) writeKeyValue(w, 1, k, v);
    });
    for (const scope of Object.keys(SCOPES)) {
      const mine = spans.filter((s) => s.scope === scope);
      if (mine.length === 0) continue;
      w.message(2, () => {
        w.message(1, () => {
          w.string(1, SCOPES[scope][0]);
          w.string(2, SCOPES[scope][1]);
        });
        for (const s of mine) writeSpan(w, s);
      });
    }
  });
  return w.take();
}

const jsonValue = (v) => (typeof v === 'number' ? { intValue: String(v) } : { stringValue: v });
const jsonAttrs = (attrs) => attrs.map(([key, value]) => ({ key, value: jsonValue(value) }));

function encodeJson(service, spans) {
  const scopeSpans = [];
  for (const scope of Object.keys(SCOPES)) {
    const mine = spans.filter((s) => s.scope === scope);
    if (mine.length === 0) continue;
    scopeSpans.push({
      scope: { name: SCOPES[scope][0], version: SCOPES[scope][1] },
      spans: mine.map((s) => ({
        traceId: s.traceId.toString('hex'),
        spanId: s.spanId.toString('hex'),
        ...(s.parentSpanId ? { parentSpanId: s.parentSpanId.toString('hex') } : {}),
        flags: 256,
        name: s.name,
        kind: s.kind,
        startTimeUnixNano: String(s.start),
        endTimeUnixNano: String(s.end),
        attributes: jsonAttrs(s.attributes),
        status: s.status ? { code: s.status } : {},
      })),
    });
  }
  return JSON.stringify({ resourceSpans: [{ resource: { attributes: jsonAttrs(Object.entries(resourceOf(service))) }, scopeSpans }] });
}

// ---------------------------------------------------------------------------------------------

/**
 * Yields batches: { service, spans, pb } (and json when asked), the two services' exports
 * interleaved as a Collector receiving from both would write them.
 */
export function* batches({ batchSize = 512, json = false, workers = 4, callShare = 0, queueShare = 0 } = {}) {
  const w = new Writer();
  const streams = SERVICES.map((service) => ({ service, spans: serviceSpans(service, workers, { callShare, queueShare }) }));
  for (let i = 0; ; i++) {
    const { service, spans } = streams[i % streams.length];
    const batch = [];
    for (let k = 0; k < batchSize; k++) batch.push(spans.next().value);
    yield { service, spans: batch, pb: encodeBatch(w, service, batch), json: json ? encodeJson(service, batch) : undefined };
  }
}

/** Resets the generator's randomness (each call to batches() after it writes the same corpus). */
export function reseed(value = 0x2545f491) {
  seed = value;
}

async function writeAll(stream, chunks) {
  if (!stream.write(Buffer.concat(chunks))) await once(stream, 'drain');
}

async function main() {
  const args = process.argv.slice(2);
  const opt = (name, fallback) => {
    const i = args.indexOf(`--${name}`);
    return i < 0 ? fallback : args[i + 1];
  };
  const out = opt('out', '/tmp/n1lens-bench/corpus');
  const maxSpans = Number(opt('spans', Infinity));
  const maxBytes = Number(opt('bytes', Infinity));
  const withJson = args.includes('--jsonl');
  WITH_LOCATIONS = args.includes('--locations');
  LEAN = args.includes('--lean');
  if (!Number.isFinite(maxSpans) && !Number.isFinite(maxBytes)) throw new Error('give --spans N or --bytes N');
  mkdirSync(dirname(out), { recursive: true });
  const pb = createWriteStream(`${out}.pb`);
  const jl = withJson ? createWriteStream(`${out}.jsonl`) : undefined;
  let spans = 0;
  let bytes = 0;
  let jsonBytes = 0;
  let requests = 0;
  let dbSpans = 0;
  let pending = [];
  let pendingJson = [];
  let checked = !args.includes('--check');
  for (const batch of batches({ json: withJson })) {
    if (!checked) {
      await check(batch);
      checked = true;
    }
    const prefix = Buffer.alloc(4);
    prefix.writeUInt32BE(batch.pb.length);
    pending.push(prefix, batch.pb);
    bytes += 4 + batch.pb.length;
    if (jl) {
      const line = batch.json + '\n';
      pendingJson.push(Buffer.from(line));
      jsonBytes += Buffer.byteLength(line);
    }
    for (const s of batch.spans) {
      if (s.kind === 2) requests++;
      else dbSpans++;
    }
    spans += batch.spans.length;
    if (pending.length >= 64) {
      await writeAll(pb, pending);
      pending = [];
      if (jl) {
        await writeAll(jl, pendingJson);
        pendingJson = [];
      }
    }
    if (spans >= maxSpans || bytes >= maxBytes) break;
  }
  if (pending.length) await writeAll(pb, pending);
  if (jl && pendingJson.length) await writeAll(jl, pendingJson);
  pb.end();
  jl?.end();
  await Promise.all([once(pb, 'close'), jl ? once(jl, 'close') : undefined]);
  const summary = { pb: `${out}.pb`, jsonl: jl ? `${out}.jsonl` : undefined, spans, requests, dbSpans, pbBytes: bytes, jsonBytes, bytesPerSpan: +(bytes / spans).toFixed(1) };
  process.stdout.write(JSON.stringify(summary) + '\n');
}

/** Decodes a batch with protobufjs (the reference) and the JSON decoder; both must agree and see every span. */
async function check(batch) {
  const { decodeProtobufRequestReference } = await import('../dist/otlp/protobuf.js');
  const { decodeJsonRequest } = await import('../dist/otlp/json.js');
  const { isDeepStrictEqual } = await import('node:util');
  const a = decodeProtobufRequestReference(batch.pb);
  if (a.spans.length !== batch.spans.length || a.rejected.length) throw new Error('corpus check: protobufjs does not see every span');
  if (batch.json !== undefined && !isDeepStrictEqual(a, decodeJsonRequest(batch.json))) throw new Error('corpus check: JSON and protobuf differ');
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
