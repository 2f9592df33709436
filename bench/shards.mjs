#!/usr/bin/env node
/**
 * What `n1-report --jobs N` costs in all, on a machine with fewer cores than N: in one process and
 * one thread (run it with `node --single-threaded`, so V8 compiles and collects on the measured
 * thread and CPU time is all of it), the whole analysis (`OfflineAnalysis`, as `--jobs 1`) and the
 * N shards of `--jobs N` (`analyseShard`, each as a `--jobs N` thread runs it, all N at once on this
 * thread, exchanging JSON lines' packs over real MessageChannels). All warm: one untimed pass of
 * each first, so no figure holds V8's first compile, which every `--jobs` thread pays once more
 * (bench/README.md).
 *
 *   taskset -c 1 node --single-threaded bench/shards.mjs /tmp/n1lens-bench/corpus.pb [--shards 8] [--rounds 2]
 *     [--against <another checkout>/dist]
 *
 * Prints the whole analysis's CPU, the N shards' CPU together, and the expected speed-up on N idle
 * cores (whole ÷ (shards ÷ N), the shards' work spread evenly). `--against` measures that build too,
 * alternated round by round. Reads the file every pass: keep it in the page cache (a VM that
 * reclaims it makes later rounds read from disk).
 */
import { MessageChannel } from 'node:worker_threads';
import { existsSync, statSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

const file = process.argv[2] ?? '/tmp/n1lens-bench/corpus.pb';
const flag = (name) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : undefined);
const shards = Number(flag('--shards') ?? 8);
const rounds = Number(flag('--rounds') ?? 2);
const dists = [fileURLToPath(new URL('../dist', import.meta.url)), ...(flag('--against') === undefined ? [] : [flag('--against')])];

const cpuSeconds = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

async function build(dist) {
  const at = (path) => pathToFileURL(`${dist}/${path}`).href;
  const { OfflineAnalysis } = await import(at('analyzer.js'));
  const { ShardAnalysis, analyseShard } = await import(at('parallel/shard.js'));
  const { createUnitDecoders, readTraceUnits } = await import(at('otlp/file.js'));
  // Builds before the exchange (4382ffb and older) have no peers: their shards read every line themselves.
  const Peers = existsSync(`${dist}/parallel/exchange.js`) ? (await import(at('parallel/exchange.js'))).Peers : undefined;
  return {
    dist,
    async whole() {
      const offline = new OfflineAnalysis({});
      const decoders = createUnitDecoders();
      for await (const unit of readTraceUnits(file)) offline.addUnit(unit, decoders);
      offline.finish();
    },
    /** All `n` shards at once, as `--jobs n` runs them on n threads. */
    async shards(n) {
      const ports = Array.from({ length: n }, () => new Array(n).fill(undefined));
      for (let i = 0; i < n; i++) {
        for (let j = i + 1; j < n; j++) {
          const { port1, port2 } = new MessageChannel();
          ports[i][j] = port1;
          ports[j][i] = port2;
        }
      }
      const peers = ports.map((own) => (Peers === undefined ? undefined : new Peers(own)));
      try {
        const reading = { sizes: [statSync(file).size] };
        const results = await Promise.all(peers.map((p, shard) => analyseShard([file], new ShardAnalysis({}, shard, n), p, reading)));
        for (const result of results) if (!('done' in result)) throw new Error(`${file}: a shard of ${n} failed: ${result.failed?.error.message}`);
      } finally {
        for (const own of ports) for (const port of own) port?.close();
      }
    },
    figures: { whole: [], shards: [] },
  };
}

async function timed(run) {
  const before = cpuSeconds();
  await run();
  return cpuSeconds() - before;
}

const builds = [];
for (const dist of dists) builds.push(await build(dist));
for (const b of builds) {
  await b.whole();
  await b.shards(shards);
}
for (let round = 0; round < rounds; round++) {
  for (const b of builds) {
    b.figures.whole.push(await timed(() => b.whole()));
    b.figures.shards.push(await timed(() => b.shards(shards)));
  }
}

const round3 = (x) => Math.round(x * 1000) / 1000;
const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
for (const b of builds) {
  const { whole, shards: split } = b.figures;
  console.log(
    JSON.stringify({
      bench: 'shards',
      dist: b.dist,
      file,
      shards,
      rounds,
      wholeCpuS: whole.map(round3),
      allShardsCpuS: split.map(round3),
      splitCost: round3(mean(split) / mean(whole)),
      expectedSpeedup: round3(mean(whole) / (mean(split) / shards)),
    }),
  );
}
