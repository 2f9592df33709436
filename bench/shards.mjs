#!/usr/bin/env node
/**
 * What `n1-report --jobs N` costs shard by shard, on a machine with fewer cores than N: in one
 * process and one thread (run it with `node --single-threaded`, so V8 compiles and collects on the
 * measured thread and CPU time is all of it), the whole analysis (`OfflineAnalysis`, as `--jobs 1`),
 * each shard of N (`analyseShard`, as a `--jobs N` thread), and a shard that owns no trace (what
 * every shard pays to walk the input). All warm: one untimed pass of each first, so no figure holds
 * V8's first compile, which every `--jobs` thread pays once more (bench/README.md).
 *
 *   taskset -c 1 node --single-threaded bench/shards.mjs /tmp/n1lens-bench/corpus.pb [--shards 8] [--rounds 2]
 *     [--against <another checkout>/dist]
 *
 * Prints the whole analysis's CPU, the mean and slowest shard's, the walk alone, and the expected
 * speed-up on N cores (whole ÷ mean shard; the slowest shard bounds it from below). `--against`
 * measures that build too, alternated round by round. Reads the file every pass: keep it in the
 * page cache (a VM that reclaims it makes later rounds read from disk).
 */
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
  return {
    dist,
    async whole() {
      const offline = new OfflineAnalysis({});
      const decoders = createUnitDecoders();
      for await (const unit of readTraceUnits(file)) offline.addUnit(unit, decoders);
      offline.finish();
    },
    /** Shard `shard` of `n`; shard n owns no trace (the walk alone). */
    async shard(shard, n) {
      const result = await analyseShard([file], new ShardAnalysis({}, shard, n));
      if (!('done' in result)) throw new Error(`${file}: shard ${shard} of ${n} failed: ${result.failed?.error.message}`);
    },
    figures: { whole: [], shard: [], walk: [] },
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
  await b.shard(0, shards);
  await b.shard(shards, shards);
}
for (let round = 0; round < rounds; round++) {
  for (const b of builds) {
    b.figures.whole.push(await timed(() => b.whole()));
    for (let s = 0; s < shards; s++) b.figures.shard.push(await timed(() => b.shard(s, shards)));
    b.figures.walk.push(await timed(() => b.shard(shards, shards)));
  }
}

const round3 = (x) => Math.round(x * 1000) / 1000;
const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
for (const b of builds) {
  const { whole, shard, walk } = b.figures;
  const shardMean = mean(shard);
  console.log(
    JSON.stringify({
      bench: 'shards',
      dist: b.dist,
      file,
      shards,
      rounds,
      wholeCpuS: whole.map(round3),
      shardMeanCpuS: round3(shardMean),
      shardMaxCpuS: round3(Math.max(...shard)),
      walkAloneCpuS: walk.map(round3),
      expectedSpeedup: round3(mean(whole) / shardMean),
      expectedSpeedupBySlowest: round3(mean(whole) / Math.max(...shard)),
    }),
  );
}
