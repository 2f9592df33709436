#!/usr/bin/env node
/**
 * Whole process, CPU time: `n1-report` on a protobuf recording against protobufjs merely decoding
 * the same file, and on the JSON-lines form of the same data against JSON.parse alone. Every run is
 * its own `node` process measured by GNU time (user + system CPU, peak RSS), best of `--runs`.
 *
 *   node bench/process.mjs /tmp/n1lens-bench/corpus [--runs 2]
 *   node bench/process.mjs /tmp/n1lens-bench/corpus --ab /tmp/main-checkout [--runs 5]
 *   node bench/process.mjs /tmp/n1lens-bench/corpus --ab . --b-node-flags "--max-semi-space-size=32"
 *
 * `--ab <another checkout, built>`: that checkout's `n1-report --jobs 1` and this one's on the
 * protobuf file and on its JSON-lines form (when there is one), alternated run by run (both orders)
 * with protobufjs's decode of the file (JSON.parse of every line) in the same rounds; fails unless
 * both print the same JSON. Prints each one's CPU and wall time per run, the medians and the
 * paired ratios, with the load average around each file's rounds. `--b-node-flags`: node/V8 flags
 * for this checkout's runs only (with `--ab .`, the same build with and without them).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';

const base = process.argv[2] ?? '/tmp/n1lens-bench/corpus';
const runs = (process.argv.includes('--runs') ? Number(process.argv[process.argv.indexOf('--runs') + 1]) : 2);
const root = fileURLToPath(new URL('..', import.meta.url));

/** One process under GNU time: wall and CPU seconds (user + system), peak RSS, what it printed. */
function once(args, cwd = root, nodeFlags = []) {
  const r = spawnSync('/usr/bin/time', ['-f', '%e %U %S %M', process.execPath, ...nodeFlags, ...args], { cwd, encoding: 'utf8', maxBuffer: 1 << 28 });
  // n1-report exits 1 when findings exceed the budget (they do: the corpus has N+1s).
  if (r.status !== 0 && r.status !== 1) throw new Error(`${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  const [wall, user, sys, rssKb] = r.stderr.trim().split('\n').pop().split(' ').map(Number);
  return { wall, cpu: +(user + sys).toFixed(2), rssMB: Math.round(rssKb / 1024), stdout: r.stdout };
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
  const bFlags = process.argv.includes('--b-node-flags') ? process.argv[process.argv.indexOf('--b-node-flags') + 1].split(' ').filter(Boolean) : [];
  const pb = `${base}.pb`;
  const jsonl = `${base}.jsonl`;
  // The protobuf file, and its JSON-lines form when corpus.mjs --jsonl wrote it.
  const inputs = [{ name: 'pb', file: pb, baseline: 'bench/baseline-protobufjs.mjs' }];
  if (existsSync(jsonl)) inputs.push({ name: 'jsonl', file: jsonl, baseline: 'bench/baseline-jsonparse.mjs' });
  const result = { bench: 'process-ab', corpus: base, other, bNodeFlags: bFlags.join(' '), loadAverage: [+loadavg()[0].toFixed(2)] };
  for (const input of inputs) {
    const report = ['bin/n1-report.js', '--format', 'json', '--jobs', '1', input.file];
    const cpu = { a: [], b: [], baseline: [] };
    const wall = { a: [], b: [] };
    const outputs = {};
    for (let i = 0; i < runs; i++) {
      for (const k of i % 2 === 0 ? ['a', 'b'] : ['b', 'a']) {
        const r = k === 'a' ? once(report, other) : once(report, root, bFlags);
        cpu[k].push(r.cpu);
        wall[k].push(r.wall);
        outputs[k] ??= r.stdout;
      }
      cpu.baseline.push(once([input.baseline, input.file]).cpu);
    }
    if (outputs.a !== outputs.b) throw new Error(`the two builds printed different reports on ${input.file}`);
    result[input.name] = {
      aMedianCpuS: median(cpu.a), bMedianCpuS: median(cpu.b), baselineMedianCpuS: median(cpu.baseline),
      aMedianWallS: median(wall.a), bMedianWallS: median(wall.b),
      // This checkout's over the other's (below 1: faster), as the median of each round's ratio.
      bOverAPairedMedianCpu: median(cpu.b.map((b, i) => b / cpu.a[i])),
      bOverAPairedMedianWall: median(wall.b.map((b, i) => b / wall.a[i])),
      // Over protobufjs decoding the file (pb) or JSON.parse of every line (jsonl), the yardsticks.
      bOverBaseline: +(median(cpu.b) / median(cpu.baseline)).toFixed(2),
      aOverBaseline: +(median(cpu.a) / median(cpu.baseline)).toFixed(2),
      cpu, wall,
    };
    result.loadAverage.push(+loadavg()[0].toFixed(2));
  }
  process.stdout.write(JSON.stringify(result) + '\n');
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
