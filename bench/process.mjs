#!/usr/bin/env node
/**
 * Whole process, CPU time: `n1-report` on a protobuf recording against protobufjs merely decoding
 * the same file, and on the JSON-lines form of the same data against JSON.parse alone. Every run is
 * its own `node` process measured by GNU time (user + system CPU, peak RSS), best of `--runs`.
 *
 *   node bench/process.mjs /tmp/n1lens-bench/corpus [--runs 2]
 *   node bench/process.mjs /tmp/n1lens-bench/corpus --ab /tmp/main-checkout [--runs 5]
 *
 * `--ab <another checkout, built>`: that checkout's `n1-report --jobs 1` and this one's on the
 * protobuf file, alternated run by run (both orders) with protobufjs's decode of the file in the same
 * rounds; fails unless both print the same JSON. Prints each one's CPU per run and the medians.
 */
import { spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const base = process.argv[2] ?? '/tmp/n1lens-bench/corpus';
const runs = (process.argv.includes('--runs') ? Number(process.argv[process.argv.indexOf('--runs') + 1]) : 2);
const root = fileURLToPath(new URL('..', import.meta.url));

/** One process under GNU time: CPU seconds (user + system), peak RSS, what it printed. */
function once(args, cwd = root) {
  const r = spawnSync('/usr/bin/time', ['-f', '%U %S %M', process.execPath, ...args], { cwd, encoding: 'utf8', maxBuffer: 1 << 28 });
  // n1-report exits 1 when findings exceed the budget (they do: the corpus has N+1s).
  if (r.status !== 0 && r.status !== 1) throw new Error(`${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  const [user, sys, rssKb] = r.stderr.trim().split('\n').pop().split(' ').map(Number);
  return { cpu: +(user + sys).toFixed(2), rssMB: Math.round(rssKb / 1024), stdout: r.stdout };
}

function timed(args) {
  let best;
  for (let i = 0; i < runs; i++) {
    const r = once(args);
    if (best === undefined || r.cpu < best.cpu) best = { cpu: r.cpu, rssMB: r.rssMB, stdoutBytes: r.stdout.length };
  }
  return best;
}

const median = (xs) => {
  const sorted = [...xs].sort((x, y) => x - y);
  return +((sorted[(sorted.length - 1) >> 1] + sorted[sorted.length >> 1]) / 2).toFixed(3);
};

if (process.argv.includes('--ab')) {
  const other = process.argv[process.argv.indexOf('--ab') + 1];
  const pb = `${base}.pb`;
  const report = ['bin/n1-report.js', '--format', 'json', '--jobs', '1', pb];
  const cpu = { a: [], b: [], protobufjs: [] };
  const outputs = {};
  for (let i = 0; i < runs; i++) {
    for (const k of i % 2 === 0 ? ['a', 'b'] : ['b', 'a']) {
      const r = once(report, k === 'a' ? other : root);
      cpu[k].push(r.cpu);
      outputs[k] ??= r.stdout;
    }
    cpu.protobufjs.push(once(['bench/baseline-protobufjs.mjs', pb]).cpu);
  }
  if (outputs.a !== outputs.b) throw new Error('the two builds printed different reports');
  process.stdout.write(
    JSON.stringify({
      bench: 'process-ab', corpus: pb, other,
      aMedianCpuS: median(cpu.a), bMedianCpuS: median(cpu.b), protobufjsMedianCpuS: median(cpu.protobufjs),
      // This checkout's CPU over the other's (below 1: faster), as the median of each round's ratio.
      bOverAPairedMedian: median(cpu.b.map((b, i) => b / cpu.a[i])),
      bOverProtobufjs: +(median(cpu.b) / median(cpu.protobufjs)).toFixed(2),
      aOverProtobufjs: +(median(cpu.a) / median(cpu.protobufjs)).toFixed(2),
      cpu,
    }) + '\n',
  );
  process.exit(0);
}

const pb = `${base}.pb`;
const jsonl = `${base}.jsonl`;
const protobufjs = timed(['bench/baseline-protobufjs.mjs', pb]);
// One thread: the figure the targets are about (--jobs is bench/jobs.mjs).
const reportPb = timed(['bin/n1-report.js', '--format', 'json', '--jobs', '1', pb]);
const jsonParse = timed(['bench/baseline-jsonparse.mjs', jsonl]);
const reportJson = timed(['bin/n1-report.js', '--format', 'json', '--jobs', '1', jsonl]);
process.stdout.write(
  JSON.stringify({
    bench: 'process',
    corpus: base,
    pbMB: Math.round(statSync(pb).size / 1e6),
    jsonlMB: Math.round(statSync(jsonl).size / 1e6),
    protobufjsDecodeCpuS: protobufjs.cpu,
    reportPbCpuS: reportPb.cpu,
    reportPbRatio: +(reportPb.cpu / protobufjs.cpu).toFixed(2),
    reportPbPeakRssMB: reportPb.rssMB,
    jsonParseCpuS: jsonParse.cpu,
    reportJsonCpuS: reportJson.cpu,
    reportJsonRatio: +(reportJson.cpu / jsonParse.cpu).toFixed(2),
    reportJsonPeakRssMB: reportJson.rssMB,
  }) + '\n',
);
