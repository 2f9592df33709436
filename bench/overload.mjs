#!/usr/bin/env node
/**
 * Overload: OTLP/HTTP and OTLP/gRPC flood `n1lens serve` at once for --seconds (default 180), each
 * client honouring the retry delay it is given (Retry-After / RetryInfo), as a Collector with
 * retry_on_failure does. Prints the server's peak RSS against --max-buffer-mib + 150 MiB, /healthz
 * latency under load (probed from the load generator's thread and from a thread of its own), each
 * transport's share of the accepted spans, refusals by reason and transport errors by their text. Not a CI test.
 *
 *   node bench/overload.mjs [--seconds 180] [--max-buffer-mib 64] [--inflight 8] [--cpu-prof DIR] [--root CHECKOUT]
 *                           [--memory-log FILE] [--node-options "--trace-gc …"] [--serve-args "--store-writer-thread"]
 *
 * --cpu-prof writes the server's V8 CPU profile to DIR (open it in Chrome DevTools), to find what
 * holds its event loop when /healthz is slow. The machine's load average is printed with the figures:
 * the clients share the cores with the server.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import * as grpc from '@grpc/grpc-js';
import { batches } from './corpus.mjs';
import { batchStamper } from './stamp.mjs';
import { refusedByReason, spawnServe } from './load.mjs';

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? fallback : process.argv[i + 1];
};
const seconds = Number(arg('seconds', 180));
const maxBufferMib = Number(arg('max-buffer-mib', 64));
const inflight = Number(arg('inflight', 8));
const cpuProf = arg('cpu-prof', undefined);
// --memory-log FILE writes the server's memory figures every 2 s as JSON lines.
const memoryLogPath = arg('memory-log', undefined);
// --node-options "…" adds V8/Node flags to the server's command line (the environment's NODE_OPTIONS also reaches it).
const nodeOptions = (arg('node-options', '') ?? '').split(' ').filter(Boolean);
// --serve-args "…" adds flags to `n1lens serve` (A/B of a serve setting under the same load).
const serveArgs = (arg('serve-args', '') ?? '').split(' ').filter(Boolean);
// --root DIR runs another checkout's build (A/B against a copy of main) under the same load.
const root = arg('root', fileURLToPath(new URL('..', import.meta.url)));
const stamper = batchStamper(batches(), 200);

const dir = mkdtempSync(join(tmpdir(), 'n1lens-bench-overload-'));
const { child, ...ports } = await spawnServe(
  process.execPath,
  [...nodeOptions, ...(cpuProf === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${cpuProf}`]), 'bin/n1lens.js', 'serve', '--http-port', '0', '--grpc-port', '0', '--db', join(dir, 'n1lens.db'), '--max-buffer-mib', String(maxBufferMib), '--trace-wait-ms', '2000', ...serveArgs],
  root,
);

/** CPU seconds of the server's threads: [all, per thread id], from /proc (100 ticks/s). */
function cpuSeconds() {
  let all = 0;
  const main = new Map();
  for (const tid of readdirSync(`/proc/${child.pid}/task`)) {
    let stat;
    try {
      stat = readFileSync(`/proc/${child.pid}/task/${tid}/stat`, 'utf8');
    } catch {
      continue; // the thread ended
    }
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const s = (Number(f[11]) + Number(f[12])) / 100;
    all += s;
    main.set(tid, s);
  }
  return [all, main];
}
/** The intake thread is the busiest one (serve's own worker thread; the main thread with N1LENS_SERVE_THREAD=0). */
const busiestThread = (at0, at1) => Math.max(...[...at1].map(([tid, s]) => s - (at0.get(tid) ?? 0)));
const rssMiB = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let stop = false;
const stats = { http: { spans: 0, exports: 0, refused: 0, errors: 0 }, grpc: { spans: 0, exports: 0, refused: 0, errors: 0 } };
/** Exports that ended without a status the client could act on, by transport and error text. */
const errorTexts = {};

/** One in-flight loop: send, and on a refusal wait the delay asked for. */
async function loop(transport, send) {
  while (!stop) {
    const { body, spans } = stamper.next();
    const r = await send(body);
    const s = stats[transport];
    if (r.status === 'ok') {
      s.spans += spans;
      s.exports++;
    } else if (r.status === 'refused') {
      s.refused++;
      await sleep(r.retryMs);
    } else {
      s.errors++;
      const key = `${transport}: ${r.text}`;
      errorTexts[key] = (errorTexts[key] ?? 0) + 1;
      await sleep(100);
    }
  }
}

const agent = new http.Agent({ keepAlive: true, maxSockets: inflight });
const httpSend = (body) =>
  new Promise((resolve) => {
    const req = http.request(
      { host: '127.0.0.1', port: ports.http, path: '/v1/traces', method: 'POST', agent, headers: { 'content-type': 'application/x-protobuf', 'content-length': body.length } },
      (res) => {
        res.resume();
        res.on('end', () =>
          resolve(
            res.statusCode === 200
              ? { status: 'ok' }
              : res.statusCode === 503 || res.statusCode === 429
                ? { status: 'refused', retryMs: Number(res.headers['retry-after'] ?? 1) * 1000 }
                : { status: 'error', text: `HTTP ${res.statusCode}` },
          ),
        );
        res.on('error', (e) => resolve({ status: 'error', text: `response: ${e.code ?? ''} ${e.message}` }));
      },
    );
    req.on('error', (e) => resolve({ status: 'error', text: `${req.reusedSocket ? 'reused socket' : 'new socket'}: ${e.code ?? ''} ${e.message}` }));
    req.end(body);
  });

const clients = Array.from({ length: Math.max(1, inflight >> 1) }, () => new grpc.Client(`127.0.0.1:${ports.grpc}`, grpc.credentials.createInsecure(), { 'grpc.max_send_message_length': 64 << 20, 'grpc.use_local_subchannel_pool': 1 }));
let nextClient = 0;
const identity = (b) => b;
/** The RetryInfo delay from grpc-status-details-bin: google.rpc.Status.details[0].value → Duration (seconds, nanos). */
function retryInfoMs(err) {
  const raw = err.metadata?.get('grpc-status-details-bin')?.[0];
  if (!Buffer.isBuffer(raw)) return 1000;
  const text = raw.toString('latin1');
  const at = text.indexOf('RetryInfo');
  if (at < 0) return 1000;
  // After the type URL: value (field 2, bytes) → RetryInfo.retry_delay (field 1) → seconds (1), nanos (2).
  const tail = raw.subarray(at + 'RetryInfo'.length);
  let pos = 0;
  const varint = () => {
    let v = 0;
    let shift = 0;
    for (;;) {
      const b = tail[pos++];
      v += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return v;
      shift += 7;
    }
  };
  let seconds = 0;
  let nanos = 0;
  while (pos < tail.length) {
    const tag = varint();
    if (tag === 0x08) seconds = varint();
    else if (tag === 0x10) nanos = varint();
    else if ((tag & 7) === 2) varint();
    else if ((tag & 7) === 0) varint();
  }
  return seconds * 1000 + nanos / 1e6;
}
const grpcSend = (body) =>
  new Promise((resolve) => {
    clients[nextClient++ % clients.length].makeUnaryRequest('/opentelemetry.proto.collector.trace.v1.TraceService/Export', identity, identity, body, (err) =>
      resolve(
        err === null
          ? { status: 'ok' }
          : err.code === grpc.status.UNAVAILABLE || err.code === grpc.status.RESOURCE_EXHAUSTED
            ? { status: 'refused', retryMs: retryInfoMs(err) }
            : { status: 'error', text: `${grpc.status[err.code]}: ${err.details}` },
      ),
    );
  });

/** The server's own view of its memory (MiB), from /metrics; empty for a build without the gauges. */
async function memorySample() {
  const text = await fetch(`http://127.0.0.1:${ports.http}/metrics`).then((r) => r.text(), () => '');
  const out = {};
  for (const m of text.matchAll(/^n1lens_process_memory_bytes\{kind="(\w+)"\} (\d+)/gm)) out[m[1]] = +(Number(m[2]) / 2 ** 20).toFixed(1);
  const buffer = /^n1lens_buffer_bytes (\d+)/m.exec(text);
  if (buffer) out.buffer = +(Number(buffer[1]) / 2 ** 20).toFixed(1);
  return out;
}

let peakRss = 0;
/** Peaks of the server's memory figures, and the whole sample taken at the highest RSS seen in one. */
const memoryPeaks = {};
let atPeakRss = {};
const memoryLog = [];
const load = [];
const health = [];
// /healthz is probed twice: from this thread, as before, and from a thread of its own, where the load
// generator's own work (stamping and sending 250 KB exports) cannot delay the probe. Each probe's
// client sends one /healthz before the flood (as an orchestrator's readiness check would), so the
// first answer timed under load times the server, not the client's own first request (loading fetch).
const healthOwnThread = [];
let started = Date.now();
const prober = new Worker(
  `const { parentPort, workerData } = require('node:worker_threads');
  const http = require('node:http');
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const probe = () => {
    const t0 = process.hrtime.bigint();
    const done = (ok) => {
      parentPort.postMessage({ ms: Number(process.hrtime.bigint() - t0) / 1e6, ok, at: Date.now() });
      setTimeout(probe, 500);
    };
    http.get({ host: '127.0.0.1', port: workerData.port, path: '/healthz', agent }, (res) => {
      res.resume();
      res.on('end', () => done(res.statusCode === 200));
    }).on('error', () => done(false));
  };
  probe();`,
  { eval: true, workerData: { port: ports.http } },
);
const proberReady = new Promise((resolve) => prober.once('message', resolve));
await fetch(`http://127.0.0.1:${ports.http}/healthz`);
await proberReady;
const [cpuAt0, mainAt0] = cpuSeconds();
started = Date.now();
prober.on('message', (h) => healthOwnThread.push({ ms: h.ms, ok: h.ok, atS: (h.at - started) / 1000 }));
const loops = [...Array.from({ length: inflight }, () => loop('http', httpSend)), ...Array.from({ length: inflight }, () => loop('grpc', grpcSend))];
let ticks = 0;
while (Date.now() - started < seconds * 1000) {
  peakRss = Math.max(peakRss, rssMiB());
  if (ticks % 20 === 0) load.push(Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]));
  if (ticks++ % 4 === 2) {
    const sample = await memorySample();
    for (const [k, v] of Object.entries(sample)) memoryPeaks[k] = Math.max(memoryPeaks[k] ?? 0, v);
    if ((sample.rss ?? 0) >= (atPeakRss.rss ?? 0)) atPeakRss = sample;
    if (memoryLogPath !== undefined) memoryLog.push({ s: +((Date.now() - started) / 1000).toFixed(1), ...sample });
  }
  const t0 = process.hrtime.bigint();
  const ok = await fetch(`http://127.0.0.1:${ports.http}/healthz`).then((r) => r.ok, () => false);
  health.push({ ms: Number(process.hrtime.bigint() - t0) / 1e6, ok, atS: (Date.now() - started) / 1000 });
  await sleep(500);
}
await prober.terminate();
const [cpuAt1, mainAt1] = cpuSeconds();
// The kernel's high-water mark catches what the 500 ms samples miss.
const hwmMiB = Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
peakRss = Math.max(peakRss, hwmMiB);
stop = true;
await Promise.all(loops);
agent.destroy();
for (const c of clients) c.close();
const metrics = await (await fetch(`http://127.0.0.1:${ports.http}/metrics`)).text();
child.kill('SIGTERM');
await new Promise((r) => child.once('exit', r));
rmSync(dir, { recursive: true, force: true });
if (memoryLogPath !== undefined) writeFileSync(memoryLogPath, memoryLog.map((m) => JSON.stringify(m)).join('\n') + '\n');

/** p50 / p99 / max of /healthz samples, those after the first 5 s apart, and when the slowest came. */
function latency(samples) {
  const ms = samples.map((h) => h.ms).sort((a, b) => a - b);
  if (ms.length === 0) return {};
  const warm = samples.filter((h) => h.atS >= 5).map((h) => h.ms).sort((a, b) => a - b);
  return {
    samples: ms.length,
    failed: samples.filter((h) => !h.ok).length,
    p50Ms: +ms[Math.floor(ms.length / 2)].toFixed(1),
    p99Ms: +ms[Math.floor(ms.length * 0.99)].toFixed(1),
    maxMs: +ms.at(-1).toFixed(1),
    over100Ms: ms.filter((x) => x >= 100).length,
    // After the first 5 s: the first wave of exports meets cold code.
    afterStart: warm.length === 0 ? {} : { p99Ms: +warm[Math.floor(warm.length * 0.99)].toFixed(1), maxMs: +warm.at(-1).toFixed(1), over100Ms: warm.filter((x) => x >= 100).length },
    // When the slowest answers came (seconds into the run).
    slowest: [...samples].sort((a, b) => b.ms - a.ms).slice(0, 5).map((h) => `${h.ms.toFixed(0)} ms at ${h.atS.toFixed(1)} s`),
  };
}
const total = stats.http.spans + stats.grpc.spans;
const refusedBy = refusedByReason(metrics);
process.stdout.write(
  JSON.stringify(
    {
      bench: 'overload',
      seconds,
      loadAverage: { min: Math.min(...load), max: Math.max(...load), cores: (await import('node:os')).availableParallelism() },
      maxBufferMib,
      inflightPerTransport: inflight,
      peakRssMiB: Math.round(peakRss),
      rssLimitMiB: maxBufferMib + 150,
      rssWithinLimit: peakRss < maxBufferMib + 150,
      // The server's /metrics figures (MiB), sampled every 2 s: the peak of each, and the sample at the highest RSS.
      memoryPeaksMiB: memoryPeaks,
      memoryAtPeakRssMiB: atPeakRss,
      // Probed from the load generator's thread (comparable with earlier runs), and from a thread of its own.
      healthz: latency(health),
      healthzOwnThread: latency(healthOwnThread),
      acceptedSpansPerSec: Math.round(total / seconds),
      // Threads that ended during the run (none expected) drop out of the sum.
      serverCpuSeconds: +(cpuAt1 - cpuAt0).toFixed(1),
      intakeThreadCpuSeconds: +busiestThread(mainAt0, mainAt1).toFixed(1),
      spansPerServerCpuSecond: Math.round(total / (cpuAt1 - cpuAt0)),
      spansPerIntakeThreadCpuSecond: Math.round(total / busiestThread(mainAt0, mainAt1)),
      share: { http: +(stats.http.spans / total).toFixed(3), grpc: +(stats.grpc.spans / total).toFixed(3) },
      http: stats.http,
      grpc: stats.grpc,
      refusedBy,
      transportErrors: errorTexts,
      nodeOptions: [process.env.NODE_OPTIONS ?? '', ...nodeOptions].join(' ').trim(),
      serveArgs: serveArgs.join(' '),
    },
    null,
    1,
  ) + '\n',
);
