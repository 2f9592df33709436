#!/usr/bin/env node
/**
 * `n1-report` counted in instructions instead of CPU seconds, for changes too small for this kind
 * of VM's ±10 % between runs: each run is a whole process under valgrind's cachegrind (no cache
 * simulation), with `node --single-threaded` so V8's compiles and collections run on the counted
 * threads too. Two runs of one build agree within 0.2 % (see below). Prints, per build, the instructions of the
 * run and the share that V8's optimising compiler (TurboFan) and its garbage collector took, as
 * cg_annotate names them; fails unless every build prints the same report. ~50× slower than a
 * plain run (the lean corpus: ~35 s protobuf, ~50 s JSON lines). Needs valgrind (Debian: `apt-get
 * install valgrind`). Not in run.sh.
 *
 *   node bench/instructions.mjs /tmp/n1lens-bench/lean.pb [--jobs 8] [--against <another checkout>]
 *     [--node-flags "--max-inlined-bytecode-size=230"]
 *
 * `--against`: that checkout's `bin/n1-report.js` too (built). `--node-flags`: the same build again
 * with those node/V8 flags. `--jobs N` counts every thread's work, the split's total cost.
 *
 * Every run gets `--predictable-gc-schedule`: without it V8 sizes the heap from the collector's and
 * the program's measured speed (wall time), which valgrind and the machine's load change, so the
 * same build's collections, and with them its count, moved by up to 8 % (GC share 2.4 % in one run,
 * 6.8 % in another; bench/README.md, twenty-fifth session). With it two runs agree within 0.2 %;
 * the GC share is then that schedule's, not a plain run's. `--live-gc` leaves the flag out.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { annotatedFunctions } from './cachegrind.mjs';

const file = process.argv[2] ?? '/tmp/n1lens-bench/lean.pb';
const flag = (name) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : undefined);
const jobs = flag('--jobs') ?? '1';
const gcFlags = process.argv.includes('--live-gc') ? [] : ['--predictable-gc-schedule'];
const here = fileURLToPath(new URL('..', import.meta.url));
const runs = [{ name: 'this', root: here, flags: [] }];
if (flag('--against') !== undefined) runs.push({ name: 'against', root: flag('--against'), flags: [] });
if (flag('--node-flags') !== undefined) runs.push({ name: 'flags', root: here, flags: flag('--node-flags').split(' ').filter(Boolean) });

const scratch = mkdtempSync(join(tmpdir(), 'n1lens-instructions-'));
/** Instructions of one cg_annotate line's function, by the part of V8 it belongs to. */
const kindOf = (fn) => (/compiler::|turboshaft/.test(fn) ? 'compile' : /Scaveng|Marking|MarkCompact|Sweeper|Evacuat|Heap::|BodyDescriptor|Worklist/.test(fn) ? 'gc' : 'other');

function counted(run, i) {
  const out = join(scratch, `cg.${i}.out`);
  const r = spawnSync(
    'valgrind',
    ['--tool=cachegrind', '--cache-sim=no', `--cachegrind-out-file=${out}`, process.execPath, '--single-threaded', ...gcFlags, ...run.flags, join(run.root, 'bin/n1-report.js'), '--format', 'json', '--jobs', jobs, file],
    { encoding: 'utf8', maxBuffer: 1 << 28 },
  );
  if (r.error?.code === 'ENOENT') {
    process.stderr.write('bench/instructions.mjs: valgrind is not installed (Debian: apt-get install valgrind)\n');
    process.exit(2);
  }
  // n1-report exits 1 when findings exceed the budget (the corpora's N+1s do).
  if (r.error !== undefined || (r.status !== 0 && r.status !== 1)) throw new Error(`${run.name}: valgrind failed (${r.error?.message ?? r.status}): ${r.stderr.slice(-2000)}`);
  const total = Number(/I\s+refs:\s+([\d,]+)/.exec(r.stderr)?.[1].replaceAll(',', ''));
  const by = { compile: 0, gc: 0, other: 0 };
  for (const { ir, fn } of annotatedFunctions(out)) by[kindOf(fn)] += ir;
  return {
    name: run.name,
    flags: run.flags.join(' '),
    instructionsG: +(total / 1e9).toFixed(3),
    compileShare: +(by.compile / total).toFixed(3),
    gcShare: +(by.gc / total).toFixed(3),
    report: createHash('sha256').update(r.stdout).digest('hex').slice(0, 12),
  };
}

try {
  const results = runs.map(counted);
  if (new Set(results.map((r) => r.report)).size > 1) throw new Error(`the builds printed different reports: ${JSON.stringify(results)}`);
  const ratio = results.length > 1 ? { [`${results[1].name}OverThis`]: +(results[1].instructionsG / results[0].instructionsG).toFixed(3) } : {};
  process.stdout.write(JSON.stringify({ bench: 'instructions', file, jobs: Number(jobs), gcSchedule: gcFlags.length > 0 ? 'predictable' : 'live', runs: results, ...ratio }) + '\n');
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
