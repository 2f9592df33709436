#!/usr/bin/env node
/**
 * n1-report --jobs: wall time and CPU of `--jobs 1` against `--jobs N` on the same file, whole
 * processes under GNU time, best wall of `--runs` each, alternated so both see the same machine.
 * Checks the two print the same JSON.
 *
 *   node bench/jobs.mjs /tmp/n1lens-bench/corpus.pb [--jobs 2] [--runs 3]
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const file = process.argv[2] ?? '/tmp/n1lens-bench/corpus.pb';
const arg = (name, fallback) => (process.argv.includes(name) ? Number(process.argv[process.argv.indexOf(name) + 1]) : fallback);
const jobs = arg('--jobs', 2);
const runs = arg('--runs', 3);
const root = fileURLToPath(new URL('..', import.meta.url));

function once(j) {
  const r = spawnSync('/usr/bin/time', ['-f', '%e %U %S %M', process.execPath, 'bin/n1-report.js', '--format', 'json', '--jobs', String(j), file], {
    cwd: root, encoding: 'utf8', maxBuffer: 1 << 28,
  });
  if (r.status !== 0 && r.status !== 1) throw new Error(`--jobs ${j} failed (${r.status}): ${r.stderr}`);
  const [wall, user, sys, rssKb] = r.stderr.trim().split('\n').pop().split(' ').map(Number);
  return { wall, cpu: user + sys, rssMB: Math.round(rssKb / 1024), stdout: r.stdout };
}

const best = { 1: undefined, [jobs]: undefined };
for (let i = 0; i < runs; i++) {
  for (const j of [1, jobs]) {
    const r = once(j);
    if (best[j] === undefined || r.wall < best[j].wall) best[j] = r;
  }
}
if (best[1].stdout !== best[jobs].stdout) throw new Error(`--jobs ${jobs} printed another report than --jobs 1`);
const fig = (r) => ({ wallS: r.wall, cpuS: +r.cpu.toFixed(2), peakRssMB: r.rssMB });
process.stdout.write(
  JSON.stringify({
    bench: 'jobs',
    file,
    jobs,
    one: fig(best[1]),
    many: fig(best[jobs]),
    // Wall-time speed-up of --jobs N over --jobs 1, and the CPU the split costs.
    scaling: +(best[1].wall / best[jobs].wall).toFixed(2),
    cpuRatio: +(best[jobs].cpu / best[1].cpu).toFixed(2),
  }) + '\n',
);
