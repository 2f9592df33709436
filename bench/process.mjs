#!/usr/bin/env node
/**
 * Whole process, CPU time: `n1-report` on a protobuf recording against protobufjs merely decoding
 * the same file, and on the JSON-lines form of the same data against JSON.parse alone. Every run is
 * its own `node` process measured by GNU time (user + system CPU, peak RSS), best of `--runs`.
 *
 *   node bench/process.mjs /tmp/n1lens-bench/corpus [--runs 2]
 */
import { spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const base = process.argv[2] ?? '/tmp/n1lens-bench/corpus';
const runs = (process.argv.includes('--runs') ? Number(process.argv[process.argv.indexOf('--runs') + 1]) : 2);
const root = fileURLToPath(new URL('..', import.meta.url));

function timed(args) {
  let best;
  for (let i = 0; i < runs; i++) {
    const r = spawnSync('/usr/bin/time', ['-f', '%U %S %M', process.execPath, ...args], { cwd: root, encoding: 'utf8', maxBuffer: 1 << 28 });
    // n1-report exits 1 when findings exceed the budget (they do: the corpus has N+1s).
    if (r.status !== 0 && r.status !== 1) throw new Error(`${args.join(' ')} failed (${r.status}): ${r.stderr}`);
    const [user, sys, rssKb] = r.stderr.trim().split('\n').pop().split(' ').map(Number);
    const cpu = user + sys;
    if (best === undefined || cpu < best.cpu) best = { cpu, rssMB: Math.round(rssKb / 1024), stdoutBytes: r.stdout.length };
  }
  return best;
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
