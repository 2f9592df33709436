#!/usr/bin/env node
/**
 * Live: `n1lens serve` pinned to one core, this load generator on the other. Pre-encoded OTLP
 * protobuf batches of 512 spans (the corpus's), their trace ids re-stamped each pass so every
 * trace is new, POSTed over HTTP keep-alive with several requests in flight; then the same over
 * OTLP/gRPC, each transport on a fresh server. Reports accepted spans/s, export latency p50/p99
 * (client side), the server's CPU use and peak RSS.
 *
 *   taskset -c 0 node bench/serve.mjs [--seconds 20] [--inflight 8] [--server-cpu 1] [--rate <spans/s>]
 *                                     [--bin <another checkout's bin/n1lens.js>] [--serve-args "<serve flags>"]
 *                                     [--live-times] [--json] [--gzip [--gzip-pool <bodies>]]
 *                                     [--call-share <0-1>] [--queue-share <0-1>] [--gc]
 * (`--bin` runs another build, for A/B runs alternated by hand; `--serve-args "--no-spool"` passes flags to serve.)
 * `--gc`: the server under --trace-gc-nvp; each result gains `gc`: scavenges and mark-compacts (with
 * their incremental marking), their ms per million spans accepted, and bytes promoted per span.
 * `--json`: the same batches as OTLP/JSON bodies over HTTP only (trace ids re-stamped in the text).
 * `--gzip`: exports gzip-compressed, as the Collector's otlp and otlphttp exporters send them by
 * default: `Content-Encoding: gzip` over HTTP, compressed messages (`grpc-encoding: gzip`) over gRPC,
 * protobuf or `--json`. Level 6, zlib's default, because it is the exporters' default too (confighttp
 * falls back to zlib.DefaultCompression, grpc-go's gzip codec to gzip.DefaultCompression); ~245 KB →
 * ~17 KB. Compressing costs ~1.8 ms per body, so the bodies are stamped and compressed into a pool
 * before each run (--gzip-pool, default (warmup + seconds) × 1,500 exports/s, or × --rate's exports/s
 * plus a tenth: ~25 s before a 6 s run); a run that spends the pool stops early and says `batchesRanOut`.
 * With --live-times the span times are those of when the pool was filled, seconds before they go.
 * `--call-share 0.2`: a fifth of the requests also call an API that sends no spans (corpus.mjs), so
 * their traces never look whole until serve has learned that peer (src/traces/peers.ts);
 * `--queue-share 1`: every request queues a Celery task whose workers send no spans, learned the same way.
 * `--long-task`: every export also carries two queries of one Celery task that runs through the whole
 * run (its run's span never comes), which serve keeps open as long as it grows. Each result gives the
 * spool's bytes at the end and the segments whose spans of such a trace were copied apart (spool-compaction.ts).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GZIP_LEVEL, corpusBatches, exportSender, gzipPool, gzipPoolSize, load, refusedByReason, spawnServe } from './load.mjs';
import { jsonBatchStamper } from './stamp.mjs';

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? fallback : process.argv[i + 1];
};
const seconds = Number(arg('seconds', 20));
const warmup = Number(arg('warmup', 3));
const inflight = Number(arg('inflight', 8));
const serverCpu = arg('server-cpu', '1');
const templatesCount = Number(arg('batches', 300));
const root = fileURLToPath(new URL('..', import.meta.url));
/** `--gc`: the server's garbage collection under --trace-gc-nvp, summed over its whole run and per span it accepted. */
const gcTrace = process.argv.includes('--gc');
/** Extra node flags for the server, e.g. "--cpu-prof --cpu-prof-dir=bench/out" to profile it. */
const serverNodeFlags = [...(gcTrace ? ['--trace-gc-nvp'] : []), ...(arg('server-node-flags', '') || '').split(' ').filter(Boolean)];
const bin = arg('bin', 'bin/n1lens.js');
const serveArgs = (arg('serve-args', '') || '').split(' ').filter(Boolean);
const json = process.argv.includes('--json');
const only = arg('only', json ? 'http' : 'http,grpc').split(',');
/** Paced load, spans/s (for p99 at a given rate); default: closed loop. */
const rate = arg('rate') === undefined ? undefined : Number(arg('rate'));

const pbStamper = corpusBatches(templatesCount, { liveTimes: process.argv.includes('--live-times'), callShare: Number(arg('call-share', 0)), queueShare: Number(arg('queue-share', 0)) });
const stamper = json
  ? jsonBatchStamper(pbStamper.templates, (await import(new URL('../dist/otlp/to-json.js', import.meta.url).href)).protobufToOtlpJson)
  : pbStamper;
const templates = stamper.templates;
const gzip = process.argv.includes('--gzip');
const longTask = process.argv.includes('--long-task');
/** The batches with two queries of one long task appended (protobuf messages concatenate into one request). */
async function withLongTask(next) {
  const { encodeProtobuf } = await import(new URL('../dist/otlp/testing.js', import.meta.url).href);
  const traceId = 'f00d'.repeat(8);
  const runSpanId = 'feedfacefeedface';
  let n = 0;
  const str = (key, value) => ({ key, value: { stringValue: value } });
  const query = () => {
    const start = BigInt(Date.now()) * 1_000_000n + BigInt(n);
    return {
      traceId, spanId: (0x1000_0000 + ++n).toString(16).padStart(16, '0'), parentSpanId: runSpanId, name: 'SELECT', kind: 3,
      startTimeUnixNano: String(start), endTimeUnixNano: String(start + 400_000n),
      attributes: [str('db.system', 'postgresql'), str('db.statement', 'SELECT "billing_invoice"."id", "billing_invoice"."total" FROM "billing_invoice" WHERE "billing_invoice"."account_id" = %s')],
    };
  };
  return () => {
    const batch = next();
    if (batch === undefined) return batch;
    const task = encodeProtobuf({ resourceSpans: [{ resource: { attributes: [str('service.name', 'recruit-worker')] }, scopeSpans: [{ scope: { name: 'opentelemetry.instrumentation.psycopg2' }, spans: [query(), query()] }] }] });
    return { ...batch, body: Buffer.concat([batch.body, task]), spans: batch.spans + 2 };
  };
}
const nextStamped = longTask ? await withLongTask(stamper.next) : stamper.next;
const pool = gzip ? gzipPool(nextStamped) : undefined;
const poolSize = Number(arg('gzip-pool', gzipPoolSize({ warmup, seconds, rate, batchSpans: templates[0].spans })));
const nextBatch = pool ? pool.next : nextStamped;
/** Tops the gzip pool up before a run (outside its clock), saying how long that took. */
const fillPool = () => {
  if (!pool) return;
  const t0 = Date.now();
  const made = pool.fill(poolSize);
  process.stderr.write(`gzip: ${made} bodies compressed in ${((Date.now() - t0) / 1000).toFixed(1)} s (pool ${poolSize})\n`);
};

// ---------------------------------------------------------------------------------------------

async function startServer() {
  const dir = mkdtempSync(join(tmpdir(), 'n1lens-bench-serve-'));
  const args = ['-c', serverCpu, process.execPath, ...serverNodeFlags, bin, 'serve', '--http-port', '0', '--grpc-port', '0', '--db', join(dir, 'n1lens.db'), ...serveArgs];
  const gc = gcTrace ? new GcTotals() : undefined;
  const { child, http, grpc } = await spawnServe('taskset', args, root, gc === undefined ? {} : { onStdout: (text) => gc.read(text) });
  return { child, dir, httpPort: http, grpcPort: grpc, gc };
}

/** Sums of --trace-gc-nvp lines: scavenges, mark-compacts (with their incremental marking), promoted bytes. */
class GcTotals {
  #partial = '';
  scavenges = 0;
  scavengeMs = 0;
  markCompacts = 0;
  markCompactMs = 0;
  promotedBytes = 0;

  read(text) {
    const lines = (this.#partial + text).split('\n');
    this.#partial = lines.pop();
    for (const line of lines) {
      const field = (name) => Number(new RegExp(` ${name}=([\\d.]+)`).exec(line)?.[1] ?? 0);
      if (line.includes(' gc=s ')) {
        this.scavenges++;
        this.scavengeMs += field('pause');
        this.promotedBytes += field('promoted');
      } else if (line.includes(' gc=mc ')) {
        this.markCompacts++;
        this.markCompactMs += field('pause') + field('incremental');
      }
    }
  }

  /** The totals, and per million spans the server accepted (warm-up included, as the GC lines are). */
  figures(spans) {
    const perMillion = (x) => Math.round((x / spans) * 1e6);
    return {
      spansAccepted: spans,
      scavenges: this.scavenges,
      markCompacts: this.markCompacts,
      scavengeMsPerMillionSpans: perMillion(this.scavengeMs),
      markCompactMsPerMillionSpans: perMillion(this.markCompactMs),
      promotedBytesPerSpan: +(this.promotedBytes / spans).toFixed(1),
    };
  }
}

const connections = Number(arg('grpc-connections', Math.max(1, inflight >> 1)));

/** One transport's run, on a server of its own, so neither run meets what the other left buffered or spooled. */
async function measure(transport) {
  fillPool();
  const server = await startServer();
  const sender = exportSender(transport, { http: server.httpPort, grpc: server.grpcPort }, { inflight, connections, contentType: json ? 'application/json' : 'application/x-protobuf', gzip });
  try {
    const r = await load({ send: sender.send, pid: server.child.pid, nextBatch, inflight, seconds, warmup, rate });
    if (r.batchesRanOut) process.stderr.write(`serve.mjs: ${transport}: the gzip pool ran out after ${r.measuredSeconds} s; raise --gzip-pool\n`);
    // Refused exports so far (warm-up included), by reason: why a run refused any.
    const metricsText = await (await fetch(`http://127.0.0.1:${server.httpPort}/metrics`)).text();
    const refusedBy = refusedByReason(metricsText);
    // A sample's name as /metrics prints it, labels included (their braces taken literally).
    const metric = (name) => Number(new RegExp(`^${name.replace(/[{}]/g, '\\$&')} (\\S+)$`, 'm').exec(metricsText)?.[1] ?? NaN);
    const spool = { spool: { bytes: metric('n1lens_spool_bytes'), segmentsCompacted: metric('n1lens_spool_segments_compacted_total'), openTraces: metric('n1lens_open_traces') } };
    const gc = server.gc === undefined ? {} : { gc: server.gc.figures(metric(`n1lens_spans_received_total{transport="${transport}"}`)) };
    return transport === 'grpc' ? { connections, ...r, refusedBy, ...spool, ...gc } : { ...r, refusedBy, ...spool, ...gc };
  } finally {
    sender.close();
    server.child.kill('SIGTERM');
    await new Promise((r) => server.child.once('exit', r));
    rmSync(server.dir, { recursive: true, force: true });
  }
}

const httpResult = only.includes('http') ? await measure('http') : undefined;
const grpcResult = only.includes('grpc') ? await measure('grpc') : undefined;
process.stdout.write(
  JSON.stringify({
    bench: 'serve',
    batchSpans: templates[0].spans,
    encoding: json ? 'json' : 'protobuf',
    batchBytes: Math.round(templates.reduce((n, t) => n + (t.pb ?? t.text).length, 0) / templates.length),
    gzip,
    ...(pool ? { gzipLevel: GZIP_LEVEL, gzipPool: poolSize, ...pool.stats() } : {}),
    inflight,
    seconds,
    http: httpResult,
    grpc: grpcResult,
  }) + '\n',
);
