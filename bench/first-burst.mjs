#!/usr/bin/env node
/**
 * The first burst against a freshly started `n1lens serve`: how long its start-up takes (spawn to the
 * banner), then `--exports` OTLP/HTTP and as many OTLP/gRPC exports of the Django corpus sent at once
 * with a /healthz beside them, as the overload's first wave does; /healthz is then probed every 10 ms
 * for 3 s (the first tick analyses and writes those traces), and the same burst is sent again (warm).
 * Two serve settings are alternated, run after run, so a loaded machine hits both alike; CPU times
 * (start-up, and the serve thread during each burst) are read from /proc, which load does not inflate
 * the way it does wall times. Not a CI test.
 *
 *   node bench/first-burst.mjs [--runs 5] [--exports 8] [--a "" ] [--b "--no-warm-up"] [--root CHECKOUT] [--root-b CHECKOUT]
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { batches } from './corpus.mjs';
import { batchStamper } from './stamp.mjs';
import { spawnServe } from './load.mjs';

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? fallback : process.argv[i + 1];
};
const runs = Number(arg('runs', 5));
const exports = Number(arg('exports', 8));
const root = arg('root', fileURLToPath(new URL('..', import.meta.url)));
const variants = [
  { name: 'A', args: (arg('a', '') ?? '').split(' ').filter(Boolean), root },
  { name: 'B', args: (arg('b', '--no-warm-up') ?? '').split(' ').filter(Boolean), root: arg('root-b', root) },
];
const stamper = batchStamper(batches(), 200);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const identity = (b) => b;

function httpCall(agent, port, method, path, body) {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const req = http.request({ host: '127.0.0.1', port, path, method, agent, headers: body === undefined ? {} : { 'content-type': 'application/x-protobuf', 'content-length': body.length } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ ms: performance.now() - t0, ok: res.statusCode === 200 }));
    });
    req.on('error', () => resolve({ ms: performance.now() - t0, ok: false }));
    req.end(body);
  });
}

function grpcCall(client, body) {
  return new Promise((resolve) => {
    const t0 = performance.now();
    client.makeUnaryRequest('/opentelemetry.proto.collector.trace.v1.TraceService/Export', identity, identity, body, (err) => resolve({ ms: performance.now() - t0, ok: err === null }));
  });
}

/** CPU time (ms) of each of the server's threads, from /proc (schedstat: time on a CPU, in ns): load on the machine delays a thread but does not add to it. */
function threadCpuMs(pid) {
  const out = new Map();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      out.set(tid, Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]) / 1e6);
    } catch {
      // the thread ended
    }
  }
  return out;
}
const sumCpu = (m) => [...m.values()].reduce((a, b) => a + b, 0);
/** The busiest thread's CPU between two readings: the serve thread, which answers /healthz. */
const busiest = (a, b) => Math.max(...[...b].map(([tid, ms]) => ms - (a.get(tid) ?? 0)));

/** One burst: `exports` HTTP and `exports` gRPC exports at once, and a /healthz sent beside them. */
async function burst(agent, clients, ports, pid) {
  const bodies = Array.from({ length: 2 * exports }, () => stamper.next().body);
  const cpu0 = threadCpuMs(pid);
  const sent = [
    ...bodies.slice(0, exports).map((b) => httpCall(agent, ports.http, 'POST', '/v1/traces', b)),
    ...bodies.slice(exports).map((b, i) => grpcCall(clients[i % clients.length], b)),
  ];
  const health = await httpCall(agent, ports.http, 'GET', '/healthz');
  const done = await Promise.all(sent);
  return { exportMaxMs: Math.max(...done.map((d) => d.ms)), failed: done.filter((d) => !d.ok).length, healthzMs: health.ms, serveThreadCpuMs: busiest(cpu0, threadCpuMs(pid)) };
}

async function measure(variant) {
  const dir = mkdtempSync(join(tmpdir(), 'n1lens-bench-first-'));
  const t0 = performance.now();
  const { child, ...ports } = await spawnServe(process.execPath, ['bin/n1lens.js', 'serve', '--http-port', '0', '--grpc-port', '0', '--db', join(dir, 'n1lens.db'), '--max-buffer-mib', '64', '--trace-wait-ms', '2000', ...variant.args], variant.root);
  const startupMs = performance.now() - t0;
  const startupCpuMs = sumCpu(threadCpuMs(child.pid));
  const agent = new http.Agent({ keepAlive: true, maxSockets: exports + 1 });
  const clients = Array.from({ length: Math.max(1, exports >> 1) }, () => new grpc.Client(`127.0.0.1:${ports.grpc}`, grpc.credentials.createInsecure(), { 'grpc.max_send_message_length': 64 << 20, 'grpc.use_local_subchannel_pool': 1 }));
  const first = await burst(agent, clients, ports, child.pid);
  // The first tick's analysis and write of those traces (trace wait 2 s): the slowest /healthz in 3 s.
  let tickHealthMs = 0;
  const until = performance.now() + 3000;
  while (performance.now() < until) {
    tickHealthMs = Math.max(tickHealthMs, (await httpCall(agent, ports.http, 'GET', '/healthz')).ms);
    await sleep(10);
  }
  const again = await burst(agent, clients, ports, child.pid);
  agent.destroy();
  for (const c of clients) c.close();
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  rmSync(dir, { recursive: true, force: true });
  return { startupMs, startupCpuMs, first, tickHealthMs, again };
}

const load = () => Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
// The bench's own client code is cold on its first call: one run thrown away.
await measure(variants[1]);
const results = { A: [], B: [] };
const loads = [load()];
for (let r = 0; r < runs; r++) {
  for (const v of r % 2 === 0 ? variants : [...variants].reverse()) results[v.name].push(await measure(v));
  loads.push(load());
}
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return +s[Math.floor(s.length / 2)].toFixed(1);
};
const list = (xs) => xs.map((x) => Math.round(x)).join(' ');
const summary = {};
for (const v of variants) {
  const rs = results[v.name];
  summary[`${v.name}: ${v.root === root ? '' : `${v.root} `}serve ${v.args.join(' ')}`.trim()] = {
    startupMs: { median: median(rs.map((r) => r.startupMs)), runs: list(rs.map((r) => r.startupMs)) },
    startupCpuMs: { median: median(rs.map((r) => r.startupCpuMs)), runs: list(rs.map((r) => r.startupCpuMs)) },
    firstBurstServeThreadCpuMs: { median: median(rs.map((r) => r.first.serveThreadCpuMs)), runs: list(rs.map((r) => r.first.serveThreadCpuMs)) },
    laterBurstServeThreadCpuMs: { median: median(rs.map((r) => r.again.serveThreadCpuMs)), runs: list(rs.map((r) => r.again.serveThreadCpuMs)) },
    firstBurstExportMaxMs: { median: median(rs.map((r) => r.first.exportMaxMs)), runs: list(rs.map((r) => r.first.exportMaxMs)) },
    firstBurstHealthzMs: { median: median(rs.map((r) => r.first.healthzMs)), runs: list(rs.map((r) => r.first.healthzMs)) },
    firstTickHealthzMaxMs: { median: median(rs.map((r) => r.tickHealthMs)), runs: list(rs.map((r) => r.tickHealthMs)) },
    laterBurstExportMaxMs: { median: median(rs.map((r) => r.again.exportMaxMs)), runs: list(rs.map((r) => r.again.exportMaxMs)) },
    laterBurstHealthzMs: { median: median(rs.map((r) => r.again.healthzMs)), runs: list(rs.map((r) => r.again.healthzMs)) },
    failedExports: rs.reduce((n, r) => n + r.first.failed + r.again.failed, 0),
  };
}
process.stdout.write(`${JSON.stringify({ bench: 'first-burst', runs, exportsPerTransport: exports, loadAverage: { min: Math.min(...loads), max: Math.max(...loads) }, ...summary }, null, 1)}\n`);
