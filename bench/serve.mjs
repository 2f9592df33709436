#!/usr/bin/env node
/**
 * Live: `n1lens serve` pinned to one core, this load generator on the other. Pre-encoded OTLP
 * protobuf batches of 512 spans (the corpus's), their trace ids re-stamped each pass so every
 * trace is new, POSTed over HTTP keep-alive with several requests in flight; then the same over
 * OTLP/gRPC. Reports accepted spans/s, export latency p50/p99 (client side), the server's CPU use
 * and peak RSS.
 *
 *   taskset -c 0 node bench/serve.mjs [--seconds 20] [--inflight 8] [--server-cpu 1]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { batches } from './corpus.mjs';
import { batchStamper } from './stamp.mjs';

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
/** Extra node flags for the server, e.g. "--cpu-prof --cpu-prof-dir=bench/out" to profile it. */
const serverNodeFlags = (arg('server-node-flags', '') || '').split(' ').filter(Boolean);
const only = arg('only', 'http,grpc').split(',');

const stamper = batchStamper(batches(), templatesCount);
const templates = stamper.templates;
const nextBatch = stamper.next;

// ---------------------------------------------------------------------------------------------

function startServer() {
  const dir = mkdtempSync(join(tmpdir(), 'n1lens-bench-serve-'));
  const child = spawn('taskset', ['-c', serverCpu, process.execPath, ...serverNodeFlags, 'bin/n1lens.js', 'serve', '--http-port', '0', '--grpc-port', '0', '--db', join(dir, 'n1lens.db')], {
    cwd: root,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    let err = '';
    child.stderr.on('data', (d) => {
      err += d;
      const m = /OTLP\/HTTP http:\/\/[^:]+:(\d+)\/v1\/traces · OTLP\/gRPC [^:]+:(\d+)/.exec(err);
      if (m) resolve({ child, dir, httpPort: Number(m[1]), grpcPort: Number(m[2]) });
    });
    child.once('exit', (code) => reject(new Error(`n1lens serve exited (${code}): ${err}`)));
  });
}

/** utime + stime of a process in seconds, and its peak RSS in MB. */
function procStats(pid) {
  // taskset execs node in place, so the pid is node's.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const hwm = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return { cpuS: ticks / 100, peakRssMB: Math.round(hwm / 1024) };
}

const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))];

/** Runs `send` from `inflight` loops for warmup + seconds; counts only the measured window. */
async function load(send, pid) {
  const latencies = [];
  let accepted = 0;
  let refused = 0;
  let failed = 0;
  let measuring = false;
  let stop = false;
  const loop = async () => {
    while (!stop) {
      const { body, spans } = nextBatch();
      const t0 = process.hrtime.bigint();
      const status = await send(body);
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (!measuring) continue;
      latencies.push(ms);
      if (status === 'ok') accepted += spans;
      else if (status === 'refused') refused++;
      else failed++;
    }
  };
  const loops = Array.from({ length: inflight }, loop);
  await new Promise((r) => setTimeout(r, warmup * 1000));
  const before = procStats(pid);
  const client0 = process.cpuUsage();
  measuring = true;
  const t0 = process.hrtime.bigint();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  measuring = false;
  const elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
  const after = procStats(pid);
  const client = process.cpuUsage(client0);
  stop = true;
  await Promise.all(loops);
  latencies.sort((a, b) => a - b);
  return {
    acceptedSpansPerSec: Math.round(accepted / elapsed),
    exports: latencies.length,
    refusedExports: refused,
    failedExports: failed,
    p50Ms: +percentile(latencies, 50).toFixed(2),
    p99Ms: +percentile(latencies, 99).toFixed(2),
    serverCpuUtil: +((after.cpuS - before.cpuS) / elapsed).toFixed(2),
    // The load generator's own CPU: near 1.0 means it, not the server, set the pace.
    clientCpuUtil: +((client.user + client.system) / 1e6 / elapsed).toFixed(2),
    serverPeakRssMB: after.peakRssMB,
  };
}

const server = await startServer();
try {
  const agent = new http.Agent({ keepAlive: true, maxSockets: inflight });
  const httpSend = (body) =>
    new Promise((resolve) => {
      const req = http.request(
        { host: '127.0.0.1', port: server.httpPort, path: '/v1/traces', method: 'POST', agent, headers: { 'content-type': 'application/x-protobuf', 'content-length': body.length } },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode === 200 ? 'ok' : res.statusCode === 503 ? 'refused' : 'error'));
        },
      );
      req.on('error', () => resolve('error'));
      req.end(body);
    });
  const httpResult = only.includes('http') ? await load(httpSend, server.child.pid) : undefined;
  agent.destroy();

  // One connection per in-flight pair: grpc-js's server keeps HTTP/2's 64 KiB flow-control
  // window, so a single connection carrying 250 KB messages is bound by window round trips.
  const connections = Number(arg('grpc-connections', Math.max(1, inflight >> 1)));
  const clients = Array.from(
    { length: connections },
    () => new grpc.Client(`127.0.0.1:${server.grpcPort}`, grpc.credentials.createInsecure(), { 'grpc.max_send_message_length': 64 << 20, 'grpc.use_local_subchannel_pool': 1 }),
  );
  let next = 0;
  const identity = (b) => b;
  const grpcSend = (body) =>
    new Promise((resolve) => {
      const client = clients[next++ % clients.length];
      client.makeUnaryRequest('/opentelemetry.proto.collector.trace.v1.TraceService/Export', identity, identity, body, (err) =>
        resolve(err ? (err.code === grpc.status.UNAVAILABLE ? 'refused' : 'error') : 'ok'),
      );
    });
  const grpcResult = only.includes('grpc') ? { connections, ...(await load(grpcSend, server.child.pid)) } : undefined;
  for (const c of clients) c.close();

  process.stdout.write(
    JSON.stringify({
      bench: 'serve',
      batchSpans: templates[0].spans,
      batchBytes: Math.round(templates.reduce((n, t) => n + t.pb.length, 0) / templates.length),
      inflight,
      seconds,
      http: httpResult,
      grpc: grpcResult,
    }) + '\n',
  );
} finally {
  server.child.kill('SIGTERM');
  await new Promise((r) => server.child.once('exit', r));
  rmSync(server.dir, { recursive: true, force: true });
}
