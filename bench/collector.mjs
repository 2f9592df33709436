#!/usr/bin/env node
/**
 * The OpenTelemetry Collector as the yardstick for `n1lens serve`: both servers pinned to the same
 * core (the Collector with GOMAXPROCS=1; `--server-cpu 0,1` gives both two cores, and the Collector
 * GOMAXPROCS=2), the Collector as an otlp receiver (HTTP and gRPC) → nop exporter that does nothing
 * with the spans, and both driven by `load.mjs`, the load generator of
 * `serve.mjs`, alternately in the same run. Prints one JSON line: spans/s, p50/p99 and CPU of each,
 * per round, and the n1lens / Collector ratio of the rounds' medians for HTTP and for gRPC.
 *
 *   node bench/collector.mjs --collector <otelcol binary> [--seconds 8] [--rounds 2] [--inflight 8] [--server-cpu 1]
 *                            [--baseline <another checkout's bin/n1lens.js>] [--only http,grpc] [--rate <spans/s>]
 *                            [--n1lens-args "<serve flags>"] [--baseline-args "<serve flags>"] [--live-times]
 *                            [--gzip [--gzip-pool <bodies>]] [--grpc-frames]
 * (`bash bench/collector.sh` builds the Collector with ocb and runs this.) `--baseline` adds a second
 * n1lens build to the rotation, for A/B comparisons of a change; without `--collector`, only the two
 * n1lens builds are measured. `--gzip`: every server gets gzip-compressed exports, compressed before
 * each measurement, as `serve.mjs --gzip` (its header says how and why). `--grpc-frames`: uncompressed
 * gRPC through the same `node:http2` client as `--gzip` instead of grpc-js, whose CPU holds the
 * Collector back (load.mjs grpcFrameSender).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GZIP_LEVEL, collectorConfig, corpusBatches, exportSender, freePort, gzipPool, gzipPoolSize, listening, load, spawnServer } from './load.mjs';

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? fallback : process.argv[i + 1];
};
const collectorBin = arg('collector');
const baselineBin = arg('baseline');
/** Extra `serve` arguments for each n1lens, e.g. --baseline-args "--no-spool" (same build twice: --baseline bin/n1lens.js). */
const n1lensArgs = (arg('n1lens-args', '') || '').split(' ').filter(Boolean);
const baselineArgs = (arg('baseline-args', '') || '').split(' ').filter(Boolean);
if (!collectorBin && !baselineBin) {
  process.stderr.write('collector.mjs: give --collector <otelcol binary> (bash bench/collector.sh builds it) and/or --baseline <bin/n1lens.js>\n');
  process.exit(2);
}
const seconds = Number(arg('seconds', 8));
const warmup = Number(arg('warmup', 2));
const rounds = Number(arg('rounds', 2));
const inflight = Number(arg('inflight', 8));
const serverCpu = arg('server-cpu', '1');
/** The Collector's GOMAXPROCS: as many Go threads as the servers get cores (`--server-cpu 0,1` or `0-1`: 2). */
const serverCores = serverCpu.split(',').reduce((n, part) => {
  const [from, to] = part.split('-').map(Number);
  return n + (to === undefined ? 1 : to - from + 1);
}, 0);
const connections = Number(arg('grpc-connections', Math.max(1, inflight >> 1)));
const only = arg('only', 'http,grpc').split(',');
/** Paced load, spans/s (for p99 at a given rate); default: closed loop, as fast as answers come. */
const rate = arg('rate') === undefined ? undefined : Number(arg('rate'));
const root = fileURLToPath(new URL('..', import.meta.url));
/** --live-times: span times moved to now, so serve writes its minute rows as it does for live traffic (stamp.mjs). */
const stamper = corpusBatches(Number(arg('batches', 300)), { liveTimes: process.argv.includes('--live-times') });
/** --gzip: bodies stamped and compressed ahead of each measurement (load.mjs gzipPool), as serve.mjs --gzip. */
const gzip = process.argv.includes('--gzip');
const grpcFrames = process.argv.includes('--grpc-frames');
const pool = gzip ? gzipPool(stamper.next) : undefined;
const poolSize = Number(arg('gzip-pool', gzipPoolSize({ warmup, seconds, rate, batchSpans: stamper.templates[0].spans })));


/** A server on the measured core (taskset), run from the checkout. */
const spawnPinned = (command, args, env, ready) => spawnServer(['taskset', '-c', serverCpu, command, ...args], { cwd: root, env }, ready);

async function startN1lens(dir, bin, extra) {
  const db = join(mkdtempSync(join(dir, 'n1lens-')), 'n1lens.db');
  const server = spawnPinned(process.execPath, [bin, 'serve', '--http-port', '0', '--grpc-port', '0', '--db', db, ...extra], {}, async (logs) => {
    for (;;) {
      const m = /OTLP\/HTTP http:\/\/[^:]+:(\d+)\/v1\/traces · OTLP\/gRPC [^:]+:(\d+)/.exec(logs());
      if (m) return { http: Number(m[1]), grpc: Number(m[2]) };
      await sleep(50);
    }
  });
  return { ...server, ports: await server.ports };
}

async function startCollector(dir) {
  const http = await freePort();
  const grpc = await freePort();
  writeFileSync(join(dir, 'collector.yaml'), collectorConfig({ http, grpc, exporters: '  nop:', pipeline: 'nop' }));
  const server = spawnPinned(collectorBin, ['--config', join(dir, 'collector.yaml')], { GOMAXPROCS: String(serverCores) }, async () => {
    while (!((await listening(http)) && (await listening(grpc)))) await sleep(100);
    return { http, grpc };
  });
  return { ...server, ports: await server.ports };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function measure(server, transport) {
  // Topped up before the clock starts: the client's core compresses nothing while it counts.
  pool?.fill(poolSize);
  const sender = exportSender(transport, server.ports, { inflight, connections, gzip, grpcFrames });
  try {
    return await load({ send: sender.send, pid: server.child.pid, nextBatch: pool ? pool.next : stamper.next, inflight, seconds, warmup, rate });
  } finally {
    sender.close();
    // Let n1lens finish the traces still buffered before the other server is measured.
    await sleep(3000);
  }
}

const dir = mkdtempSync(join(tmpdir(), 'n1lens-bench-collector-'));
const servers = {};
try {
  servers.n1lens = await startN1lens(dir, 'bin/n1lens.js', n1lensArgs);
  if (baselineBin) servers.baseline = await startN1lens(dir, baselineBin, baselineArgs);
  if (collectorBin) servers.collector = await startCollector(dir);
  const names = Object.keys(servers);
  const transports = ['http', 'grpc'].filter((t) => only.includes(t));
  const results = Object.fromEntries(transports.map((t) => [t, Object.fromEntries(names.map((n) => [n, []]))]));
  for (let round = 0; round < rounds; round++) {
    for (const transport of transports) {
      // Rotate who goes first, so drift in the machine's speed does not favour one side.
      const order = names.map((_, i) => names[(i + round) % names.length]);
      for (const name of order) {
        const r = await measure(servers[name], transport);
        results[transport][name].push(r);
        process.stderr.write(`round ${round + 1} ${transport} ${name}: ${r.acceptedSpansPerSec} spans/s, p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms, server CPU ${r.serverCpuUtil} (${r.spansPerServerCpuSec} spans/CPU-s), client CPU ${r.clientCpuUtil}, refused ${r.refusedExports}, failed ${r.failedExports}\n`);
        if (r.batchesRanOut) process.stderr.write(`collector.mjs: the gzip pool ran out after ${r.measuredSeconds} s of this measurement; raise --gzip-pool\n`);
      }
    }
  }
  const summary = {};
  for (const transport of transports) {
    const row = (summary[transport] = {});
    for (const name of names) {
      row[`${name}SpansPerSec`] = median(results[transport][name].map((r) => r.acceptedSpansPerSec));
      row[`${name}P99Ms`] = median(results[transport][name].map((r) => r.p99Ms));
      row[`${name}SpansPerCpuSec`] = median(results[transport][name].map((r) => r.spansPerServerCpuSec));
    }
    // n1lens against each yardstick: the ratio of medians, and each round's own ratio (a slow moment
    // of the machine shows as spread rather than bias).
    for (const other of names.filter((n) => n !== 'n1lens')) {
      const mine = results[transport].n1lens;
      const theirs = results[transport][other];
      row[`ratioTo${other[0].toUpperCase()}${other.slice(1)}`] = +(row.n1lensSpansPerSec / row[`${other}SpansPerSec`]).toFixed(2);
      row[`roundRatiosTo${other[0].toUpperCase()}${other.slice(1)}`] = mine.map((r, i) => +(r.acceptedSpansPerSec / theirs[i].acceptedSpansPerSec).toFixed(2));
      row[`cpuRatioTo${other[0].toUpperCase()}${other.slice(1)}`] = +(row.n1lensSpansPerCpuSec / row[`${other}SpansPerCpuSec`]).toFixed(2);
    }
  }
  const gzipped = pool ? { gzipLevel: GZIP_LEVEL, gzipPool: poolSize, ...pool.stats() } : {};
  const ranOut = Object.values(results).some((byName) => Object.values(byName).some((rs) => rs.some((r) => r.batchesRanOut)));
  process.stdout.write(
    JSON.stringify({ bench: 'collector', inflight, rate, grpcConnections: connections, seconds, rounds, gzip, ...gzipped, ...(ranOut ? { gzipPoolRanOut: true } : {}), summary, perRound: results }) + '\n',
  );
} finally {
  await Promise.all(Object.values(servers).map((s) => s.stop()));
  rmSync(dir, { recursive: true, force: true });
}
