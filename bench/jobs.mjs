#!/usr/bin/env node
/**
 * n1-report --jobs: wall time and CPU of `--jobs N` against `--jobs 1` on the same file, whole
 * processes under GNU time, alternated so all see the same machine, best wall of `--runs` each.
 * The one-thread run is measured twice: on every core (V8's GC helper threads then use the
 * second core) and pinned to one core with taskset (the one-core rate the issue's "1 → 2 cores"
 * compares with). Checks that every run prints the same JSON.
 *
 *   node bench/jobs.mjs /tmp/n1lens-bench/corpus.pb [--jobs 2] [--runs 3] [--bin /work/main/bin/n1-report.js]
 *
 * `--bin` adds that build's `--jobs N` to the rotation (e.g. main's, to compare the designs).
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const file = process.argv[2] ?? '/tmp/n1lens-bench/corpus.pb';
const flag = (name) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : undefined);
const jobs = Number(flag('--jobs') ?? 2);
const runs = Number(flag('--runs') ?? 3);
const other = flag('--bin');
const root = fileURLToPath(new URL('..', import.meta.url));
const bin = 'bin/n1-report.js';

function once({ j, pin, binary }) {
  const cmd = [process.execPath, binary, '--format', 'json', '--jobs', String(j), file];
  const argv = pin ? ['taskset', '-c', '0', ...cmd] : cmd;
  const r = spawnSync('/usr/bin/time', ['-f', '%e %U %S %M', ...argv], { cwd: root, encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.status !== 0 && r.status !== 1) throw new Error(`--jobs ${j} failed (${r.status}): ${r.stderr}`);
  const [wall, user, sys, rssKb] = r.stderr.trim().split('\n').pop().split(' ').map(Number);
  return { wall, cpu: user + sys, rssMB: Math.round(rssKb / 1024), stdout: r.stdout };
}

const variants = {
  oneCore: { j: 1, pin: true, binary: bin },
  one: { j: 1, pin: false, binary: bin },
  many: { j: jobs, pin: false, binary: bin },
  ...(other === undefined ? {} : { otherMany: { j: jobs, pin: false, binary: other } }),
};
const best = {};
for (let i = 0; i < runs; i++) {
  for (const [name, v] of Object.entries(variants)) {
    const r = once(v);
    if (best[name] === undefined || r.wall < best[name].wall) best[name] = r;
  }
}
for (const name of Object.keys(variants)) {
  if (best[name].stdout !== best.one.stdout) throw new Error(`${name} printed another report than --jobs 1`);
}
const fig = (r) => ({ wallS: r.wall, cpuS: +r.cpu.toFixed(2), peakRssMB: r.rssMB });
const ratio = (a, b) => +(best[a].wall / best[b].wall).toFixed(2);
process.stdout.write(
  JSON.stringify({
    bench: 'jobs',
    file,
    jobs,
    runs,
    ...Object.fromEntries(Object.keys(variants).map((name) => [name, fig(best[name])])),
    // Wall-time speed-ups of --jobs N: over --jobs 1 pinned to one core, and over --jobs 1 free to use every core.
    scalingFromOneCore: ratio('oneCore', 'many'),
    scalingFromJobs1: ratio('one', 'many'),
    ...(other === undefined ? {} : { scalingOverOtherBuild: ratio('otherMany', 'many') }),
    cpuRatio: +(best.many.cpu / best.one.cpu).toFixed(2),
  }) + '\n',
);
