#!/usr/bin/env node
/**
 * How late a trace's spans still arrive, behind a real OpenTelemetry Collector, after the trace
 * first "looked whole" — the wait `n1lens serve` needs before releasing a trace early.
 *
 *   node bench/reorder.mjs [--collector <otelcol binary>] [--via otlphttp|loadbalancing] [--workers 4]
 *                          [--rps 50] [--seconds 20] [--call-share 0.2] [--refuse-share 0]
 *
 * Clients: the OpenTelemetry JS SDK (BasicTracerProvider + BatchSpanProcessor with its defaults:
 * 5 s delay, 512-span batches, 2048-span queue + OTLPTraceExporter over OTLP/HTTP protobuf), one
 * tracer provider per gunicorn worker of service `a` (`--workers` of them, requests one after
 * another, paced to `--rps` in all): a SERVER span with 5–200 DB spans (CLIENT, db.system.name), and
 * for `--call-share` of the requests one outbound HTTP CLIENT span answered by service `b` (as many
 * providers of its own): a SERVER span, child of that CLIENT span through W3C traceparent
 * propagation, with 1–5 DB spans. Spans end children first, as in a real app, and requests yield to
 * the event loop after every DB span, so workers and batch exports interleave.
 * They export to the Collector (default: the ocb build of scripts/collector.sh) with an OTLP/HTTP
 * receiver and, by default, the `otlp_http` exporter with its default sending_queue (10 consumers
 * that send batches in parallel, so they can reorder them); `--via loadbalancing` instead uses the
 * `load_balancing` exporter (routing_key traceID, static resolver) whose per-backend OTLP/gRPC
 * exporter has its own queue. The sink (OTLP/HTTP, or gRPC through @grpc/grpc-js) runs in a worker
 * thread so the clients' busy event loop does not delay its arrival times; it keeps each body with
 * the time it was fully received and decodes them (protobufjs, proto/) after the run. It answers at
 * once; `--refuse-share` makes it refuse that share of exports (503 / UNAVAILABLE), as serve does when
 * its buffer is full, so the Collector retries them after its default backoff.
 *
 * A trace "looks whole" (serve's own `looksWhole`, src/traces/assemble.ts) once the spans arrived so
 * far have (a) a parentless root, (b) every other span's parent among them, and (c) a child for every
 * outbound call (CLIENT/PRODUCER span without db.system / db.system.name). Lateness = last arrival after that moment − that moment. Prints one
 * JSON line: achieved requests/s and spans/s, the bench process's and the Collector's CPU (2 cores
 * shared by all), and for all traces, those with and those without an
 * outbound call: how many looked whole, how many got spans afterwards (and which), lateness
 * p50/p99/p99.9/max, the traces that would lose spans if released 50…2000 ms after looking whole,
 * and, for comparison with the trace wait (serve's rule for a trace that does not look whole: one
 * with a request span is complete after `trace_wait` without a new span), the traces whose largest
 * gap between arrivals, from their first request span on, exceeds those waits; and under serve's own
 * rule (quiet 500 ms once the trace looks whole, the trace wait before), the traces it would release
 * before their last spans came, for trace waits of 2–8 s. Not in run.sh or CI.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { once } from 'node:events';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { gunzipSync } from 'node:zlib';
import { Server, ServerCredentials, status as grpcStatus } from '@grpc/grpc-js';
import { DiagConsoleLogger, DiagLogLevel, ROOT_CONTEXT, SpanKind, TraceFlags, diag, trace } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { otlpSchema } from '../dist/otlp/schema.js';
import { isRequestSpan, looksWhole, outboundKindOf } from '../dist/traces/assemble.js';
import { collectorConfig, freePort, listening, procStats, spawnServer } from './load.mjs';

const SETTLE_MS = [50, 100, 250, 500, 1000, 2000];
/** Trace waits tried against serve's whole rule (a trace that looks whole goes after 500 ms quiet, any other after the wait). */
const WAIT_MS = [2000, 3000, 4000, 5000, 6000, 8000];
const KIND = ['UNSPECIFIED', 'INTERNAL', 'SERVER', 'CLIENT', 'PRODUCER', 'CONSUMER'];
const EXPORT_PATH = '/opentelemetry.proto.collector.trace.v1.TraceService/Export';

// ---------------------------------------------------------------------------------------------
// The sink (worker thread): keeps every body with its arrival time, analyses them when asked.

async function sink({ via, refuseShare }) {
  const bodies = [];
  let badRequests = 0;
  let refused = 0;
  /** Keeps a body, or refuses it (--refuse-share) as a receiver out of room would, for the Collector to retry. */
  const keep = (body, encoding) => {
    if (Math.random() < refuseShare) return (refused++, false);
    bodies.push({ t: performance.now(), body, encoding });
    return true;
  };
  let close;
  if (via === 'loadbalancing') {
    const server = new Server();
    const identity = (b) => b;
    // grpc-js has already undone the exporter's gzip message compression when the handler runs.
    const method = { path: EXPORT_PATH, requestStream: false, responseStream: false, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity };
    server.addService({ Export: method }, { Export: (call, done) => (keep(call.request, 'identity') ? done(null, Buffer.alloc(0)) : done({ code: grpcStatus.UNAVAILABLE, details: 'refused' })) });
    const port = await new Promise((resolve, reject) => server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
    parentPort.postMessage({ port });
    close = () => server.forceShutdown();
  } else {
    const server = createHttpServer((req, res) => {
      const encoding = req.headers['content-encoding'] ?? 'identity';
      if (req.method !== 'POST' || req.url !== '/v1/traces' || !/^application\/x-protobuf/.test(req.headers['content-type'] ?? '') || !['gzip', 'identity'].includes(encoding)) {
        badRequests++;
        req.resume();
        res.writeHead(req.url === '/v1/traces' ? 415 : 404).end();
        return;
      }
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        if (keep(Buffer.concat(chunks), encoding)) res.writeHead(200, { 'content-type': 'application/x-protobuf', 'content-length': 0 }).end();
        else res.writeHead(503).end();
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    parentPort.postMessage({ port: server.address().port });
    close = () => server.close();
  }
  parentPort.on('message', (command) => {
    if (command === 'status') parentPort.postMessage({ quietMs: bodies.length ? performance.now() - bodies.at(-1).t : Infinity, badRequests, refused });
    else if (command === 'analyse') {
      close();
      parentPort.postMessage({ refusedExports: refused, ...analyse(bodies) });
    }
  });
}

/** Per trace: its arrival times, when it first had a request span and first looked whole, and what came after. */
function analyse(bodies) {
  const type = otlpSchema().ExportTraceServiceRequest;
  const hex = (b) => Buffer.from(b.buffer, b.byteOffset, b.length).toString('hex');
  const traces = new Map();
  let spans = 0;
  let maxBodySpans = 0;
  for (const { t, body, encoding } of bodies) {
    const request = type.decode(encoding === 'gzip' ? gunzipSync(body) : body);
    const byTrace = new Map();
    let n = 0;
    for (const rs of request.resourceSpans) {
      const service = rs.resource?.attributes.find((a) => a.key === 'service.name')?.value?.stringValue ?? '?';
      for (const ss of rs.scopeSpans) {
        for (const s of ss.spans) {
          const traceId = hex(s.traceId);
          const db = s.attributes.some((a) => a.key === 'db.system' || a.key === 'db.system.name');
          // What serve's looksWhole, isRequestSpan and outboundKindOf read of a span record.
          const span = { spanId: hex(s.spanId), parentSpanId: s.parentSpanId?.length ? hex(s.parentSpanId) : '', kind: s.kind, dbSystem: db ? 'db' : undefined, service };
          (byTrace.get(traceId) ?? byTrace.set(traceId, []).get(traceId)).push(span);
          n++;
        }
      }
    }
    spans += n;
    maxBodySpans = Math.max(maxBodySpans, n);
    for (const [traceId, arrived] of byTrace) {
      let tr = traces.get(traceId);
      // Arrival times, the first with a request span (the trace wait's clock starts there) and the
      // first after which the trace looked whole; Infinity for none.
      if (!tr) traces.set(traceId, (tr = { spans: [], hasCall: false, late: [], arrivals: [], requestFrom: Infinity, wholeFrom: Infinity }));
      if (tr.requestFrom === Infinity && arrived.some(isRequestSpan)) tr.requestFrom = tr.arrivals.length;
      tr.arrivals.push(t);
      if (arrived.some((s) => outboundKindOf(s) !== null)) tr.hasCall = true;
      if (tr.wholeFrom !== Infinity) {
        tr.late.push(...arrived);
        continue;
      }
      tr.spans.push(...arrived);
      if (looksWhole(tr.spans)) {
        tr.wholeFrom = tr.arrivals.length - 1;
        tr.spans = undefined; // only lateness and gaps are needed from here on
      }
    }
  }
  const all = [...traces.values()];
  return {
    bodies: bodies.length,
    spansReceived: spans,
    spansPerBody: { mean: +(spans / Math.max(1, bodies.length)).toFixed(1), max: maxBodySpans },
    all: summarise(all),
    withCall: summarise(all.filter((tr) => tr.hasCall)),
    withoutCall: summarise(all.filter((tr) => !tr.hasCall)),
  };
}

function summarise(traces) {
  const whole = traces.filter((tr) => tr.wholeFrom !== Infinity);
  // From looking whole to the last arrival.
  const latenessOf = (tr) => tr.arrivals.at(-1) - tr.arrivals[tr.wholeFrom];
  const lateness = whole.map(latenessOf).sort((a, b) => a - b);
  const pct = (q) => (lateness.length ? +lateness[Math.min(lateness.length - 1, Math.ceil(q * lateness.length) - 1)].toFixed(1) : null);
  const lateSpans = {};
  for (const tr of whole) {
    for (const s of tr.late) {
      const key = `${s.service} ${KIND[s.kind]}${s.dbSystem === undefined ? '' : ' db'}`;
      lateSpans[key] = (lateSpans[key] ?? 0) + 1;
    }
  }
  return {
    traces: traces.length,
    tracesInSeveralBodies: traces.filter((tr) => tr.arrivals.length > 1).length,
    lookedWhole: whole.length,
    neverLookedWhole: traces.length - whole.length,
    spanAfterLookingWhole: whole.filter((tr) => tr.late.length > 0).length,
    lateSpans,
    latenessMs: { p50: pct(0.5), p99: pct(0.99), p999: pct(0.999), max: lateness.length ? +lateness.at(-1).toFixed(1) : null },
    lostAtSettleMs: Object.fromEntries(SETTLE_MS.map((ms) => [ms, whole.filter((tr) => latenessOf(tr) > ms).length])),
    // The old rule: the trace wait for every trace, whole or not.
    lostAtGapWaitMs: Object.fromEntries(SETTLE_MS.map((ms) => [ms, traces.filter((tr) => releasedEarly(tr, ms, ms)).length])),
    lostAtSettle500WaitMs: Object.fromEntries(WAIT_MS.map((ms) => [ms, traces.filter((tr) => releasedEarly(tr, 500, ms)).length])),
  };
}

/** Whether serve's rule (quiet `settleMs` once the trace looks whole, `waitMs` before, from its first request span on) releases it before its last arrival. */
function releasedEarly(tr, settleMs, waitMs) {
  for (let i = 0; i + 1 < tr.arrivals.length; i++) {
    const quiet = tr.arrivals[i + 1] - tr.arrivals[i];
    const limit = i >= tr.wholeFrom ? settleMs : i >= tr.requestFrom ? waitMs : Infinity;
    if (quiet > limit) return true;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// The main thread: the Collector, the clients, and the report.

async function main() {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`usage: node bench/reorder.mjs [--collector <otelcol binary>] [--via otlphttp|loadbalancing] [--workers 4]
                          [--rps 50] [--seconds 20] [--call-share 0.2] [--refuse-share 0]
Measures how late spans arrive, behind the OpenTelemetry Collector, after their trace first looked whole.
--collector   default: the ocb build of scripts/collector.sh (bash scripts/collector.sh build)
--via         otlphttp: otlp_http exporter → OTLP/HTTP sink (default); loadbalancing: load_balancing exporter → OTLP/gRPC sink
--workers     tracer providers (gunicorn workers) per service, a and b
--rps         requests/s to service a, over all its workers
--seconds     how long requests are sent
--call-share  share of a's requests that also call service b
--refuse-share  share of exports the sink refuses (HTTP 503 / gRPC UNAVAILABLE) for the Collector to retry
`);
    return;
  }
  const arg = (name, fallback) => {
    const i = argv.indexOf(`--${name}`);
    return i < 0 ? fallback : argv[i + 1];
  };
  const cache = process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache');
  const settings = {
    collector: arg('collector', join(cache, 'n1lens/otelcol-v0.161.0/otelcol-n1lens')),
    via: arg('via', 'otlphttp'),
    workers: Number(arg('workers', 4)),
    rps: Number(arg('rps', 50)),
    seconds: Number(arg('seconds', 20)),
    callShare: Number(arg('call-share', 0.2)),
    refuseShare: Number(arg('refuse-share', 0)),
  };
  const dir = mkdtempSync(join(tmpdir(), 'n1lens-bench-reorder-'));
  let collector;
  let worker;
  let code = 0;
  try {
    if (!['otlphttp', 'loadbalancing'].includes(settings.via)) throw new Error(`--via must be otlphttp or loadbalancing, not ${settings.via}`);
    for (const k of ['workers', 'rps', 'seconds']) if (!(settings[k] > 0)) throw new Error(`--${k} must be a positive number`);
    if (!(settings.callShare >= 0 && settings.callShare <= 1)) throw new Error('--call-share must be between 0 and 1');
    if (!(settings.refuseShare >= 0 && settings.refuseShare < 1)) throw new Error('--refuse-share must be at least 0 and below 1');
    if (!existsSync(settings.collector)) throw new Error(`no Collector at ${settings.collector} (bash scripts/collector.sh build, or --collector)`);
    // The SDK's own warnings (a full BatchSpanProcessor queue dropping spans, failed exports) to stderr.
    diag.setLogger(new DiagConsoleLogger(), DiagLogLevel.WARN);

    worker = new Worker(new URL(import.meta.url), { workerData: { via: settings.via, refuseShare: settings.refuseShare } });
    const failed = new Promise((_, reject) => {
      worker.once('error', reject);
      worker.once('exit', (c) => reject(new Error(`the sink's thread exited (${c})`)));
    });
    failed.catch(() => {});
    const reply = () => Promise.race([once(worker, 'message').then(([m]) => m), failed]);
    const ask = (command) => {
      const answer = reply();
      worker.postMessage(command);
      return answer;
    };
    const { port: sinkPort } = await reply();

    collector = await startCollector(dir, settings, sinkPort);
    const cpu0 = procStats(collector.pid).cpuS;
    const run = await drive(settings, collector.port);
    const collectorCpuUtil = +((procStats(collector.pid).cpuS - cpu0) / run.elapsedS).toFixed(2);

    // Until the Collector's queue has drained to the sink: 2 s without a new body, or 15 s when
    // refusing, to outlast the exporters' default retry backoff (5 s ± 50 %, then × 1.5).
    const quietMs = settings.refuseShare > 0 ? 15_000 : 2000;
    const deadline = performance.now() + 120_000;
    for (;;) {
      const status = await ask('status');
      if (status.badRequests) throw new Error(`the sink got ${status.badRequests} requests other than POST /v1/traces protobuf, gzip or identity`);
      if (status.quietMs >= quietMs || performance.now() > deadline) break;
      await sleep(200);
    }
    await collector.stop();
    const result = await ask('analyse');
    if (result.spansReceived === 0) throw new Error(`the sink received no spans; Collector log:\n${collector.logs().slice(-2000)}`);
    if (result.spansReceived !== run.spansEnded) process.stderr.write(`reorder.mjs: the clients ended ${run.spansEnded} spans, the sink received ${result.spansReceived}\n`);
    if (collector.logs().trim()) process.stderr.write(`reorder.mjs: the Collector logged:\n${collector.logs().slice(-2000)}\n`);
    process.stdout.write(JSON.stringify({ bench: 'reorder', ...settings, ...run, collectorCpuUtil, ...result }) + '\n');
  } catch (err) {
    process.stderr.write(`reorder.mjs: ${err instanceof Error ? err.message : err}\n`);
    code = 1;
  } finally {
    await collector?.stop();
    await worker?.terminate();
    rmSync(dir, { recursive: true, force: true });
  }
  // The exporters' keep-alive sockets would hold the process open.
  process.exit(code);
}

async function startCollector(dir, { collector, via }, sinkPort) {
  const port = await freePort();
  // Exporter defaults left alone (sending_queue: enabled, 10 consumers; retry on; gzip): they are what is measured.
  const exporter =
    via === 'loadbalancing'
      ? `  load_balancing:
    routing_key: traceID
    protocol:
      otlp:
        tls:
          insecure: true
    resolver:
      static:
        hostnames: [127.0.0.1:${sinkPort}]`
      : `  otlp_http:
    endpoint: http://127.0.0.1:${sinkPort}`;
  writeFileSync(join(dir, 'collector.yaml'), collectorConfig({ http: port, exporters: exporter, pipeline: via === 'loadbalancing' ? 'load_balancing' : 'otlp_http' }));
  const server = spawnServer([collector, '--config', join(dir, 'collector.yaml')], {}, async (logs) => {
    const deadline = performance.now() + 60_000;
    while (!(await listening(port))) {
      if (performance.now() > deadline) throw new Error(`the Collector did not listen within 60 s:\n${logs().slice(-2000)}`);
      await sleep(100);
    }
  });
  try {
    await server.ports;
  } catch (error) {
    await server.stop();
    throw new Error(`the Collector did not start: ${error.message}`);
  }
  return { port, pid: server.child.pid, stop: server.stop, logs: server.logs };
}

/** Runs the clients for `seconds`, then flushes every provider; returns what they achieved. */
async function drive({ workers, rps, seconds, callShare }, collectorPort) {
  const url = `http://127.0.0.1:${collectorPort}/v1/traces`;
  const provider = (service) =>
    new BasicTracerProvider({
      resource: resourceFromAttributes({ 'service.name': service }),
      spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url }))],
    });
  const providers = { a: Array.from({ length: workers }, () => provider('a')), b: Array.from({ length: workers }, () => provider('b')) };
  const tracersB = providers.b.map((p) => p.getTracer('bench-reorder'));
  const randInt = (lo, hi) => lo + Math.floor(Math.random() * (hi - lo + 1));
  const tick = () => new Promise(setImmediate);
  let spans = 0;
  let requests = 0;
  let calls = 0;
  const end = (span) => (span.end(), spans++);

  const query = (tracer, ctx) => {
    const n = randInt(1, 1e6);
    end(tracer.startSpan('SELECT', { kind: SpanKind.CLIENT, attributes: { 'db.system.name': 'postgresql', 'db.query.text': `SELECT * FROM shop_item WHERE id = ${n}` } }, ctx));
  };

  /** Service b answering a call: its parent comes only from the traceparent header, as over HTTP. */
  const serveB = async (headers) => {
    const tracer = tracersB[randInt(0, workers - 1)];
    const [, traceId, spanId] = headers.traceparent.split('-');
    const parent = trace.setSpanContext(ROOT_CONTEXT, { traceId, spanId, traceFlags: TraceFlags.SAMPLED, isRemote: true });
    const server = tracer.startSpan('GET /stock/', { kind: SpanKind.SERVER, attributes: { 'http.request.method': 'GET', 'http.route': 'stock/' } }, parent);
    const ctx = trace.setSpan(parent, server);
    for (let i = randInt(1, 5); i > 0; i--) {
      query(tracer, ctx);
      await tick();
    }
    end(server);
  };

  const call = async (tracer, ctx) => {
    const client = tracer.startSpan('GET', { kind: SpanKind.CLIENT, attributes: { 'http.request.method': 'GET', 'server.address': 'b' } }, ctx);
    const { traceId, spanId } = client.spanContext();
    const headers = { traceparent: `00-${traceId}-${spanId}-01` };
    await serveB(headers);
    end(client);
    calls++;
  };

  const request = async (tracer) => {
    const root = tracer.startSpan('GET /items/', { kind: SpanKind.SERVER, attributes: { 'http.request.method': 'GET', 'http.route': 'items/' } }, ROOT_CONTEXT);
    const ctx = trace.setSpan(ROOT_CONTEXT, root);
    const m = randInt(5, 200);
    const callAt = Math.random() < callShare ? randInt(0, m) : -1;
    for (let i = 0; i <= m; i++) {
      if (i === callAt) await call(tracer, ctx);
      if (i === m) break;
      query(tracer, ctx);
      await tick();
    }
    end(root);
    requests++;
  };

  // Each worker serves its share of --rps one request at a time; behind schedule, it runs flat out.
  const interval = (workers * 1000) / rps;
  const t0 = performance.now();
  const stopAt = t0 + seconds * 1000;
  const cpu0 = process.cpuUsage();
  await Promise.all(
    providers.a.map(async (p, i) => {
      const tracer = p.getTracer('bench-reorder');
      for (let next = t0 + (i * interval) / workers; next < stopAt && performance.now() < stopAt; next += interval) {
        const wait = next - performance.now();
        if (wait > 0) await sleep(wait);
        await request(tracer);
      }
    }),
  );
  const elapsed = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  await Promise.all([...providers.a, ...providers.b].map((p) => p.forceFlush()));
  await Promise.all([...providers.a, ...providers.b].map((p) => p.shutdown()));
  return {
    requests,
    calls,
    spansEnded: spans,
    elapsedS: +elapsed.toFixed(2),
    achievedRequestsPerSec: +(requests / elapsed).toFixed(1),
    achievedSpansPerSec: Math.round(spans / elapsed),
    // The whole process: the clients and the sink's thread, which only stores bodies meanwhile.
    processCpuUtil: +((cpu.user + cpu.system) / 1e6 / elapsed).toFixed(2),
  };
}

// One file, two roles: the main thread, and the sink's worker thread it starts.
if (isMainThread) await main();
else await sink(workerData);
