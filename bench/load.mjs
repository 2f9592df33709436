/**
 * The OTLP load generator `serve.mjs` and `collector.mjs` share, so n1lens and the Collector are
 * measured under exactly the same client: pre-encoded 512-span corpus batches (trace ids re-stamped
 * every pass), `inflight` exports at once over HTTP keep-alive or over gRPC, spans/s accepted and
 * client-side export latency, the server's CPU use and peak RSS from /proc. With gzip (`gzipPool`),
 * the bodies are stamped and compressed before the measured run, so the client's one core spends
 * nothing on compression while it counts.
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import { connect, createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { gzipSync } from 'node:zlib';
import * as grpc from '@grpc/grpc-js';
import { batches } from './corpus.mjs';
import { batchStamper } from './stamp.mjs';

/** A loopback port free a moment ago, for a server (the Collector) that cannot report the one it bound. */
export const freePort = () =>
  new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

/** Whether something accepts connections on the loopback port. */
export const listening = (port) =>
  new Promise((resolve) => {
    const c = connect({ host: '127.0.0.1', port });
    c.once('connect', () => (c.destroy(), resolve(true)));
    c.once('error', () => resolve(false));
  });

/**
 * Spawns a server (`argv`, behind taskset or not) and keeps its output: `ports` is what `ready(logs,
 * child)` resolves to once it serves, or rejects with the output's tail if it exits first; `stop()`
 * sends SIGTERM, then SIGKILL after 20 s.
 */
export function spawnServer(argv, { cwd, env } = {}, ready) {
  const [command, ...args] = argv;
  const child = spawn(command, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let logs = '';
  child.stdout.on('data', (d) => (logs += d));
  child.stderr.on('data', (d) => (logs += d));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const ports = Promise.race([ready(() => logs, child), exited.then((code) => Promise.reject(new Error(`${command} exited (${code}):\n${logs.slice(-2000)}`)))]);
  return {
    child,
    ports,
    logs: () => logs,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const stuck = await Promise.race([exited.then(() => false), sleep(20_000).then(() => true)]);
      if (stuck) {
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
}

/**
 * A Collector config: the otlp receiver on the loopback ports given (`grpc` optional), `exporters`
 * (their YAML, indented under `exporters:`), one traces pipeline into `pipeline`, its own telemetry quiet.
 */
export const collectorConfig = ({ http, grpc, exporters, pipeline }) => `receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:${http}
${grpc === undefined ? '' : `      grpc:
        endpoint: 127.0.0.1:${grpc}
`}exporters:
${exporters}
service:
  telemetry:
    metrics:
      level: none
    logs:
      level: warn
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [${pipeline}]
`;

/**
 * Spawns `n1lens serve` (`command args`, both ports 0) and resolves once its banner names the ports
 * it bound: `{ child, http, grpc }`. Rejects with its stderr if it exits first. `onStdout`: given
 * what it prints (V8's --trace-gc-nvp lines), which is otherwise dropped.
 */
export function spawnServe(command, args, cwd, { onStdout } = {}) {
  const child = spawn(command, args, { cwd, stdio: ['ignore', onStdout === undefined ? 'ignore' : 'pipe', 'pipe'] });
  child.stdout?.setEncoding('utf8').on('data', onStdout);
  return new Promise((resolve, reject) => {
    let err = '';
    child.stderr.on('data', (d) => {
      err += d;
      const m = /OTLP\/HTTP http:\/\/[^:]+:(\d+)\/v1\/traces · OTLP\/gRPC [^:]+:(\d+)/.exec(err);
      if (m) resolve({ child, http: Number(m[1]), grpc: Number(m[2]) });
    });
    child.once('exit', (code) => reject(new Error(`n1lens serve exited (${code}): ${err}`)));
  });
}

/** Exports a server refused, by `transport/reason`, from the text of its /metrics. */
export function refusedByReason(metricsText) {
  const out = {};
  for (const m of metricsText.matchAll(/^n1lens_exports_refused_total\{transport="(\w+)",reason="(\w+)"\} (\d+)/gm)) out[`${m[1]}/${m[2]}`] = Number(m[3]);
  return out;
}

/** utime and stime (clock ticks) of a /proc stat file. */
const statTicks = (path) => {
  const stat = readFileSync(path, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: Number(fields[11]), system: Number(fields[12]) };
};

/** utime + stime of a process in seconds (and each apart), its threads' CPU by thread id, and its peak RSS in MB. */
export function procStats(pid) {
  // taskset execs the server in place, so the pid is the server's.
  const { user, system } = statTicks(`/proc/${pid}/stat`);
  const threads = {};
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const t = statTicks(`/proc/${pid}/task/${tid}/stat`);
      threads[tid] = (t.user + t.system) / 100;
    } catch {
      // the thread ended between the listing and the read
    }
  }
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const hwm = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return { cpuS: (user + system) / 100, userS: user / 100, systemS: system / 100, threads, peakRssMB: Math.round(hwm / 1024) };
}

/**
 * Where the server's CPU went between two procStats: user and system shares, and the busiest threads'
 * shares (Node names none of them: the busiest is the serve thread, then V8's GC helpers and libuv's
 * pool), then every thread's of 2 % or more by thread id.
 */
function cpuSplit(before, after) {
  const total = Math.max(0.01, after.cpuS - before.cpuS);
  const threads = Object.entries(after.threads)
    .map(([tid, s]) => s - (before.threads[tid] ?? 0))
    .filter((s) => s > 0)
    .sort((a, b) => b - a)
    .slice(0, 5)
    .map((s) => +(s / total).toFixed(3));
  // The same shares in the order the threads were made (thread ids grow): the serve thread comes
  // before the shard threads it starts (`--workers`), which come before the pool threads they start.
  const byTid = Object.entries(after.threads)
    .map(([tid, s]) => [Number(tid), s - (before.threads[tid] ?? 0)])
    .filter(([, s]) => s / total >= 0.02)
    .sort((a, b) => a[0] - b[0])
    .map(([, s]) => +(s / total).toFixed(3));
  return { user: +((after.userS - before.userS) / total).toFixed(3), system: +((after.systemS - before.systemS) / total).toFixed(3), threads, byTid };
}

/** The p-th percentile of sorted latencies, to 0.01 ms; null when there are none (batches spent in the warmup). */
const percentile = (sorted, p) => (sorted.length === 0 ? null : +sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))].toFixed(2));

/**
 * The corpus's batches, `count` templates, re-stamped on every pass (`liveTimes`: span times moved to
 * now, see stamp.mjs; `callShare`: that share of requests also calls an API that sends no spans;
 * `queueShare`: that share queues a task whose workers send none; corpus.mjs).
 */
export function corpusBatches(count, { callShare = 0, queueShare = 0, ...options } = {}) {
  return batchStamper(batches({ callShare, queueShare }), count, options);
}

/**
 * Runs `send` from `inflight` loops for warmup + seconds against the server `pid`; counts only the
 * measured window. `send(body)` resolves to 'ok', 'refused' or 'error'. With `rate` (spans/s),
 * exports leave on a fixed schedule instead of as fast as answers come back, and latency is counted
 * from each export's scheduled time, so a server that falls behind is not flattered by the queue.
 * `nextBatch()` may run out (undefined: a gzip pool spent): the window then ends there, shorter, and
 * the result says `batchesRanOut` rather than any trace id going out twice.
 */
export async function load({ send, pid, nextBatch, inflight, seconds, warmup, rate }) {
  const latencies = [];
  let accepted = 0;
  let refused = 0;
  let failed = 0;
  let measuring = false;
  let stop = false;
  const start = process.hrtime.bigint();
  let slot = 0;
  let ranOut;
  const spent = new Promise((resolve) => (ranOut = resolve));
  const loop = async () => {
    while (!stop) {
      const batch = nextBatch();
      if (batch === undefined) return ranOut(true);
      const { body, spans } = batch;
      let t0 = process.hrtime.bigint();
      if (rate) {
        const due = start + BigInt(Math.round(((slot++ * spans) / rate) * 1e9));
        if (due > t0) await new Promise((r) => setTimeout(r, Number(due - t0) / 1e6));
        t0 = due;
      }
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
  /** Waits `s` seconds, or less if the batches run out; true if they did. */
  const wait = async (s) => {
    let timer;
    const ran = await Promise.race([spent, new Promise((r) => (timer = setTimeout(r, s * 1000, false)))]);
    clearTimeout(timer);
    return ran;
  };
  await wait(warmup);
  const before = procStats(pid);
  const client0 = process.cpuUsage();
  measuring = true;
  const t0 = process.hrtime.bigint();
  const batchesRanOut = await wait(seconds);
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
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    serverCpuUtil: +((after.cpuS - before.cpuS) / elapsed).toFixed(2),
    // Spans per second of the server's own CPU: steadier than spans/s when other work shares its core.
    spansPerServerCpuSec: Math.round(accepted / Math.max(0.01, after.cpuS - before.cpuS)),
    // The load generator's own CPU: near 1.0 means it, not the server, set the pace.
    clientCpuUtil: +((client.user + client.system) / 1e6 / elapsed).toFixed(2),
    serverPeakRssMB: after.peakRssMB,
    // Shares of that CPU: user / system, and the busiest threads.
    serverCpuSplit: cpuSplit(before, after),
    ...(batchesRanOut ? { batchesRanOut, measuredSeconds: +elapsed.toFixed(2) } : {}),
  };
}

/**
 * OTLP/HTTP exports (protobuf, or `contentType`) over `inflight` keep-alive sockets; close() frees them.
 * `gzip`: the bodies are gzip already (`gzipPool`), sent with `Content-Encoding: gzip`.
 */
export function httpSender(port, inflight, contentType = 'application/x-protobuf', { gzip = false } = {}) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: inflight });
  const encoding = gzip ? { 'content-encoding': 'gzip' } : {};
  const send = (body) =>
    new Promise((resolve) => {
      const req = http.request(
        { host: '127.0.0.1', port, path: '/v1/traces', method: 'POST', agent, headers: { 'content-type': contentType, 'content-length': body.length, ...encoding } },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode === 200 ? 'ok' : res.statusCode === 503 || res.statusCode === 429 ? 'refused' : 'error'));
        },
      );
      req.on('error', () => resolve('error'));
      req.end(body);
    });
  return { send, close: () => agent.destroy() };
}

/**
 * OTLP/gRPC exports over `connections` channels, round robin. One connection per in-flight pair by
 * default: HTTP/2 flow control bounds a single connection carrying 250 KB messages by window round trips.
 */
export function grpcSender(port, connections) {
  const clients = Array.from(
    { length: connections },
    () => new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { 'grpc.max_send_message_length': 64 << 20, 'grpc.use_local_subchannel_pool': 1 }),
  );
  let next = 0;
  const identity = (b) => b;
  const send = (body) =>
    new Promise((resolve) => {
      const client = clients[next++ % clients.length];
      client.makeUnaryRequest('/opentelemetry.proto.collector.trace.v1.TraceService/Export', identity, identity, body, (err) =>
        resolve(err ? (err.code === grpc.status.UNAVAILABLE || err.code === grpc.status.RESOURCE_EXHAUSTED ? 'refused' : 'error') : 'ok'),
      );
    });
  return { send, close: () => clients.forEach((c) => c.close()) };
}

const EXPORT_PATH = '/opentelemetry.proto.collector.trace.v1.TraceService/Export';

/** What a finished call's grpc-status means to `load`: OK, refused (UNAVAILABLE, RESOURCE_EXHAUSTED: retry later), or error. */
const grpcVerdict = (status) => (status === '0' ? 'ok' : status === '14' || status === '8' ? 'refused' : 'error');

/**
 * OTLP/gRPC exports as gRPC over HTTP/2 on `node:http2` directly, their messages gzip already
 * (`gzipPool`; `gzip: false`: sent as they are): grpc-js compresses every message itself (zlib's
 * default level, on this process's core, in the measured window) and cannot be handed compressed
 * bytes, and uncompressed it costs the client enough CPU to hold back a fast server (the Collector).
 * Each call writes the 5-byte prefix (compressed flag set with gzip, and `grpc-encoding: gzip`) and
 * reads grpc-status from the trailers (or from the headers of a trailers-only answer). `connections`
 * sessions, round robin, as grpcSender.
 */
export function grpcFrameSender(port, connections, { gzip = true } = {}) {
  const sessions = Array.from({ length: connections }, () => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    // A session that fails fails its calls (they resolve 'error'); nothing to do here.
    session.on('error', () => {});
    return session;
  });
  let next = 0;
  const headers = {
    ':method': 'POST',
    ':path': EXPORT_PATH,
    'content-type': 'application/grpc',
    te: 'trailers',
    ...(gzip ? { 'grpc-encoding': 'gzip' } : {}),
    'grpc-accept-encoding': 'identity,gzip',
  };
  const send = (body) =>
    new Promise((resolve) => {
      const prefix = Buffer.allocUnsafe(5);
      prefix[0] = gzip ? 1 : 0;
      prefix.writeUInt32BE(body.length, 1);
      let status;
      let stream;
      try {
        stream = sessions[next++ % sessions.length].request(headers);
      } catch {
        return resolve('error');
      }
      stream.on('response', (h) => {
        if (h[':status'] !== 200) status = 'http';
        else if (h['grpc-status'] !== undefined) status = String(h['grpc-status']);
      });
      stream.on('trailers', (t) => {
        if (status === undefined) status = String(t['grpc-status']);
      });
      // The server may close a refused call's stream before reading all of it.
      stream.on('error', () => {});
      stream.on('close', () => resolve(grpcVerdict(status)));
      stream.resume();
      stream.end(Buffer.concat([prefix, body], 5 + body.length));
    });
  return { send, close: () => sessions.forEach((s) => s.close()) };
}

/**
 * The client for one transport's run, as serve.mjs and collector.mjs both choose it: OTLP/HTTP, or
 * OTLP/gRPC through grpc-js, or as frames on `node:http2` (grpcFrameSender) with gzip or `grpcFrames`.
 */
export function exportSender(transport, ports, { inflight, connections, contentType, gzip = false, grpcFrames = false }) {
  if (transport === 'http') return httpSender(ports.http, inflight, contentType, { gzip });
  return gzip || grpcFrames ? grpcFrameSender(ports.grpc, connections, { gzip }) : grpcSender(ports.grpc, connections);
}

/** zlib's default level (Z_DEFAULT_COMPRESSION is 6): the level the Collector's exporters use unless told otherwise (serve.mjs's header). */
export const GZIP_LEVEL = 6;

/**
 * The gzip pool's default size: warmup + seconds at `rate`'s exports/s plus a tenth, or in a closed
 * loop at 1,500 exports/s (the Collector → nop took up to ~750 gzip exports/s of 512 spans on one
 * core of the first test machine, ~1,350 on the AMD EPYC of 6 Dec 2026).
 */
export const gzipPoolSize = ({ warmup, seconds, rate, batchSpans }) => Math.ceil((warmup + seconds) * (rate ? (rate / batchSpans) * 1.1 : 1500));

/**
 * Stamped batches from `next` (a stamper's next), gzip-compressed ahead of the run: fill(n) tops the
 * pool up to n bodies, each stamped once (so each carries trace ids never sent before, however many
 * runs draw from the pool); next() hands them out in order and returns undefined once the pool is
 * spent, so no body, and no trace id, goes out twice. stats(): the bodies' mean size before and after.
 */
export function gzipPool(next, level = GZIP_LEVEL) {
  const bodies = [];
  let head = 0;
  let raw = 0;
  let packed = 0;
  let made = 0;
  return {
    fill(n) {
      const want = n - (bodies.length - head);
      bodies.splice(0, head);
      head = 0;
      for (let i = 0; i < want; i++) {
        const { body, spans } = next();
        const gz = gzipSync(body, { level });
        raw += body.length;
        packed += gz.length;
        made++;
        bodies.push({ body: gz, spans });
      }
      return Math.max(0, want);
    },
    next: () => (head < bodies.length ? bodies[head++] : undefined),
    stats: () => ({ batchBytes: Math.round(raw / Math.max(1, made)), gzipBatchBytes: Math.round(packed / Math.max(1, made)), compressed: made }),
  };
}
