#!/usr/bin/env node
/**
 * n1-report --jobs: wall time and CPU of `--jobs N` against `--jobs 1` on the same file, whole
 * processes under GNU time, alternated so all see the same machine, best wall of `--runs` each.
 * The one-thread run is measured twice: on every core (V8's helper threads, mostly TurboFan's
 * concurrent compile jobs, then use the second core) and pinned to one core with taskset (the
 * one-core rate the "1 → 2 cores" compares with). Each figure carries its CPU split by
 * thread (bench/threads.mjs: main thread, V8's platform threads, the rest = `--jobs` workers).
 * Checks that every run prints the same JSON.
 *
 *   node bench/jobs.mjs /tmp/n1lens-bench/corpus.pb [--jobs 2] [--runs 3] [--bin /work/main/bin/n1-report.js]
 *     [--node-flags "--single-threaded-gc"]
 *
 * `--bin` adds that build's `--jobs N` to the rotation (e.g. main's, to compare the designs).
 * `--node-flags` adds `--jobs 1` and `--jobs N` run with those node/V8 flags (A/B of V8 tuning).
 */
import { fileURLToPath } from 'node:url';
import { loadavg } from 'node:os';
import { timedWithThreads } from './threads.mjs';

const file = process.argv[2] ?? '/tmp/n1lens-bench/corpus.pb';
const flag = (name) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : undefined);
const jobs = Number(flag('--jobs') ?? 2);
const runs = Number(flag('--runs') ?? 3);
const other = flag('--bin');
const nodeFlags = flag('--node-flags')?.split(' ').filter(Boolean);
const root = fileURLToPath(new URL('..', import.meta.url));
const bin = 'bin/n1-report.js';

function once({ j, pin, binary, flags = [] }) {
  const cmd = [process.execPath, ...flags, binary, '--format', 'json', '--jobs', String(j), file];
  return timedWithThreads(pin ? ['taskset', '-c', '0', ...cmd] : cmd, { cwd: root });
}

const variants = {
  oneCore: { j: 1, pin: true, binary: bin },
  one: { j: 1, pin: false, binary: bin },
  many: { j: jobs, pin: false, binary: bin },
  ...(other === undefined ? {} : { otherMany: { j: jobs, pin: false, binary: other } }),
  ...(nodeFlags === undefined ? {} : {
    oneFlagged: { j: 1, pin: false, binary: bin, flags: nodeFlags },
    manyFlagged: { j: jobs, pin: false, binary: bin, flags: nodeFlags },
  }),
};
const best = {};
const load = [loadavg()[0]];
for (let i = 0; i < runs; i++) {
  for (const [name, v] of Object.entries(variants)) {
    const r = await once(v);
    if (best[name] === undefined || r.wall < best[name].wall) best[name] = r;
  }
  load.push(loadavg()[0]);
}
for (const name of Object.keys(variants)) {
  if (best[name].stdout !== best.one.stdout) throw new Error(`${name} printed another report than --jobs 1`);
}
const fig = (r) => ({ wallS: r.wall, cpuS: +r.cpu.toFixed(2), peakRssMB: r.rssMB, threadsCpuS: r.threads });
const ratio = (a, b) => +(best[a].wall / best[b].wall).toFixed(2);
process.stdout.write(
  JSON.stringify({
    bench: 'jobs',
    file,
    jobs,
    runs,
    ...(nodeFlags === undefined ? {} : { nodeFlags: nodeFlags.join(' ') }),
    // The 1-minute load average before the first round and after each: other work on the machine.
    loadAverage: load.map((l) => +l.toFixed(2)),
    ...Object.fromEntries(Object.keys(variants).map((name) => [name, fig(best[name])])),
    // Wall-time speed-ups of --jobs N: over --jobs 1 pinned to one core, and over --jobs 1 free to use every core.
    scalingFromOneCore: ratio('oneCore', 'many'),
    scalingFromJobs1: ratio('one', 'many'),
    ...(other === undefined ? {} : { scalingOverOtherBuild: ratio('otherMany', 'many') }),
    ...(nodeFlags === undefined ? {} : { flaggedScalingFromOneCore: ratio('oneCore', 'manyFlagged'), flaggedOneOverOne: ratio('oneFlagged', 'one') }),
    cpuRatio: +(best.many.cpu / best.one.cpu).toFixed(2),
  }) + '\n',
);
