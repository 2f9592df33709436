#!/usr/bin/env node
/**
 * `n1lens serve`'s intake counted in instructions, for changes smaller than this kind of VM's ±10 %
 * between timed runs: serve runs on the process's main thread (N1LENS_SERVE_THREAD=0) under valgrind's
 * cachegrind with `--single-threaded --predictable-gc-schedule`, as instructions.mjs runs n1-report;
 * this process (not counted) posts a fixed set of gzip'd 512-span corpus exports (the same trace ids
 * every run), waits for every answer, stops serve with SIGTERM (which analyses and stores whatever is
 * still buffered) and reads the store back. Each build is also counted with the first quarter of the
 * exports (`--base-exports`), and the figure per span is the difference over the difference in spans, so
 * it leaves out start-up, shutdown and most of the compiling (`--no-warm-up`: its exports would time
 * out under valgrind):
 *
 *   node bench/serve-instructions.mjs [--transport http|grpc] [--exports 400] [--base-exports 100] [--inflight 8]
 *     [--against <another checkout>] [--runs 1] [--annotate 12] [--serve-args "<serve flags>"]
 *
 * Prints per build: total instructions with and without the exports, instructions per span, and a
 * digest of the stored rows (endpoints, findings, their hourly rows, fingerprints and examples, floats
 * rounded) that must match between builds. `--annotate N`: the N costliest C++ functions of the loaded
 * run (JIT code is anonymous to cachegrind).
 *
 * Not for deciding a change of 1 %: serve's polls and writes follow wall time, which valgrind slows
 * ~50×, so they come at other points of the work in every run. Two runs of one build counted 47.1 k
 * and 51.8 k instructions per span, and with every trace held to the end (`--serve-args
 * "--trace-wait-ms 600000 --trace-settle-ms 600000"`) 35.1 k and 50.9 k, their stored rows differing
 * (traces past 30 s go anyway). intake-instructions.mjs counts on a clock of its own instead. What
 * this script is for is the real process's profile:
 *
 *   --cpu-prof <dir>   serve natively under `node --cpu-prof`, once (self time by function)
 *   --strace <file>    serve natively under `strace -f -c` (STRACE_ARGS replaces `-c`): system calls per export
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { annotatedFunctions } from './cachegrind.mjs';
import { corpusBatches, exportSender, gzipPool } from './load.mjs';

const flag = (name, fallback) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : fallback);
const transport = flag('--transport', 'http');
const exportsCount = Number(flag('--exports', 400));
const inflight = Number(flag('--inflight', 8));
const baseExports = Number(flag('--base-exports', Math.round(exportsCount / 4)));
const runsPerBuild = Number(flag('--runs', 1));
const annotate = Number(flag('--annotate', 0));
/** `--cpu-prof <dir>`: serve run natively under node --cpu-prof instead, once, for where its time goes. */
const cpuProf = flag('--cpu-prof');
/** `--strace <file>`: serve run natively under `strace -f -c` instead, once: its system calls, counted. */
const straceTo = flag('--strace');
/** Serve's own flags (`--serve-args "--trace-wait-ms 600000"`). */
const serveArgs = (flag('--serve-args') ?? '').split(' ').filter(Boolean);
const here = fileURLToPath(new URL('..', import.meta.url));
const builds = [{ name: 'this', root: here }];
if (flag('--against') !== undefined) builds.push({ name: 'against', root: flag('--against') });

const pool = gzipPool(corpusBatches(300).next);
pool.fill(exportsCount);
const bodies = [];
for (let b = pool.next(); b !== undefined; b = pool.next()) bodies.push(b);
const spans = bodies.reduce((n, b) => n + b.spans, 0);

/** One serve under cachegrind, `count` exports sent; its instructions, C++ functions and stored rows' digest. */
async function counted(build, count) {
  const scratch = mkdtempSync(join(tmpdir(), 'n1lens-serve-instr-'));
  const out = join(scratch, 'cg.out');
  const db = join(scratch, 'n1lens.db');
  const serve = [join(build.root, 'bin/n1lens.js'), 'serve', '--db', db, '--http-port', '0', '--grpc-port', '0', '--no-warm-up', ...serveArgs];
  const child =
    cpuProf === undefined && straceTo === undefined
      ? spawn('valgrind', ['--tool=cachegrind', '--cache-sim=no', `--cachegrind-out-file=${out}`, process.execPath, '--single-threaded', '--predictable-gc-schedule', ...serve], {
          env: { ...process.env, N1LENS_SERVE_THREAD: '0' },
          stdio: ['ignore', 'ignore', 'pipe'],
        })
      : straceTo !== undefined
        ? spawn('strace', ['-f', ...(process.env.STRACE_ARGS ?? '-c').split(' '), '-o', straceTo, process.execPath, '--single-threaded', ...serve], { env: { ...process.env, N1LENS_SERVE_THREAD: '0' }, stdio: ['ignore', 'ignore', 'pipe'] })
        : spawn(process.execPath, ['--single-threaded', '--cpu-prof', '--cpu-prof-dir', cpuProf, ...serve], { env: { ...process.env, N1LENS_SERVE_THREAD: '0' }, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const ports = await new Promise((resolve, reject) => {
    child.stderr.on('data', (d) => {
      err += d;
      const m = /OTLP\/HTTP http:\/\/[^:]+:(\d+)\/v1\/traces · OTLP\/gRPC [^:]+:(\d+)/.exec(err);
      if (m) resolve({ http: Number(m[1]), grpc: Number(m[2]) });
    });
    exited.then(({ code }) => reject(new Error(`serve exited (${code}): ${err.slice(-2000)}`)));
  });
  // serve prints its ports before it takes SIGTERM (cli/serve.ts): give it that moment under valgrind.
  await sleep(5000);
  const sender = exportSender(transport, ports, { inflight, connections: Math.min(4, inflight), gzip: true });
  let next = 0;
  const verdicts = { ok: 0, refused: 0, error: 0 };
  await Promise.all(
    Array.from({ length: inflight }, async () => {
      while (next < count) {
        const body = bodies[next++].body;
        verdicts[await sender.send(body)]++;
      }
    }),
  );
  sender.close();
  // Under strace the signal goes to serve, strace's child: strace itself would only detach.
  if (straceTo === undefined) child.kill('SIGTERM');
  else process.kill(Number(readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(' ')[0]), 'SIGTERM');
  const { code } = await exited;
  if (code !== 0) throw new Error(`serve exited ${code}: ${err.slice(-2000)}`);
  const total = Number(/I\s+refs:\s+([\d,]+)/.exec(err)?.[1].replaceAll(',', ''));
  const functions = annotate > 0 && count > 0 ? topFunctions(out) : [];
  const digest = storedDigest(db);
  if (cpuProf !== undefined || straceTo !== undefined) {
    rmSync(scratch, { recursive: true, force: true });
    return { total: 0, verdicts, digest, functions: [] };
  }
  rmSync(scratch, { recursive: true, force: true });
  return { total, verdicts, digest, functions };
}

function topFunctions(out) {
  const rows = annotatedFunctions(out)
    .filter((r) => r.fn.includes(':'))
    .map((r) => ({ ir: r.ir, fn: r.fn.slice(0, 110) }));
  return rows.sort((a, b) => b.ir - a.ir).slice(0, annotate);
}

/** The stored rows that say what serve found, floats to 6 significant digits (sums' order may follow the ticks). */
function storedDigest(file) {
  const d = new Database(file, { readonly: true });
  const tables = ['endpoints', 'statements', 'findings', 'endpoint_hours', 'finding_hours', 'fingerprint_hours', 'examples', 'route_traffic', 'outside_query_hours'];
  const hash = createHash('sha256');
  const counts = {};
  for (const t of tables) {
    let rows;
    try {
      rows = d.prepare(`SELECT * FROM ${t}`).all();
    } catch {
      continue;
    }
    counts[t] = rows.length;
    const lines = rows.map((r) => JSON.stringify(r, (_, v) => (typeof v === 'number' && !Number.isInteger(v) ? Number(v.toPrecision(6)) : v))).sort();
    hash.update(`${t}\n${lines.join('\n')}\n`);
  }
  d.close();
  return { sha: hash.digest('hex').slice(0, 16), counts };
}

if (cpuProf !== undefined || straceTo !== undefined) {
  const { verdicts, digest } = await counted(builds[0], bodies.length);
  process.stdout.write(`${cpuProf ?? straceTo}: ${JSON.stringify(verdicts)}, stored ${digest.sha}\n`);
  process.exit(0);
}
const results = [];
for (let r = 0; r < runsPerBuild; r++) {
  for (const build of builds) {
    const idle = await counted(build, baseExports);
    const loaded = await counted(build, bodies.length);
    const perSpan = (loaded.total - idle.total) / (spans - bodies.slice(0, baseExports).reduce((n, b) => n + b.spans, 0));
    results.push({ build: build.name, run: r, idle: idle.total, loaded: loaded.total, perSpan: Math.round(perSpan), verdicts: loaded.verdicts, digest: loaded.digest.sha });
    process.stdout.write(`${build.name} run ${r}: ${transport}, ${bodies.length} exports, ${spans} spans: ${(loaded.total / 1e9).toFixed(3)} G loaded, ${(idle.total / 1e9).toFixed(3)} G with ${baseExports}, ${Math.round(perSpan)} instructions per span; ${JSON.stringify(loaded.verdicts)}; stored ${loaded.digest.sha} ${JSON.stringify(loaded.digest.counts)}\n`);
    for (const f of loaded.functions) process.stdout.write(`  ${(f.ir / spans).toFixed(0).padStart(6)} /span  ${f.fn}\n`);
  }
}
if (process.argv.includes('--json')) process.stdout.write(`${JSON.stringify(results)}\n`);
