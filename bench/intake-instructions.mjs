#!/usr/bin/env node
/**
 * Serve's intake (OTLP/HTTP or OTLP/gRPC listener, gzip, admission, the open traces, the spool, the
 * analysis and the store's write) counted in instructions on a clock of its own, so that the same
 * build counts the same work in every run. serve-instructions.mjs runs the real process, whose polls
 * and writes follow wall time, which valgrind slows ~50×: two runs of one build there differed by
 * 10–40 %, and their stored rows too. Here one process holds serve's parts as serve.ts wires them
 * (an Intake over a SQLite file and a spool, serve's analysis settings, the real listener on
 * loopback) with a frozen clock and no timer of its own; a client in the same process posts the
 * corpus's gzip'd 512-span exports one at a time (the same trace ids every run), and after every
 * `--tick-every` exports the clock moves on by the settle time and `intake.tick()` analyses and
 * writes, as serve's timer would (serve writes once a second: ~600 exports at 300 k spans/s). The
 * exports are made and gzip'd before, in this process, and read from a file by the counted one; the
 * client's share (http.request or http2 frames) is the same for every build.
 *
 *   node bench/intake-instructions.mjs [--transport http|grpc] [--exports 400] [--base-exports 100]
 *     [--tick-every 100] [--against <another checkout>] [--runs 1]
 *
 * Each build is counted under valgrind's cachegrind (`--single-threaded --predictable-gc-schedule`,
 * as instructions.mjs) with `--exports` and with `--base-exports`; the figure per span is the
 * difference over the difference in spans (start-up, compiling and the last write mostly cancel).
 * Also printed: a digest of the stored rows, which must match between builds and runs.
 *
 * The work is the same in every run; the count is not quite: the collector's schedule still moves
 * with the heap's size, and one mark-compact more or less is a few percent of the count (one build,
 * 300 against 100 exports: 31.6 k and 36.0 k instructions per span; 400 against 100: 34.2 k three
 * times). Compare builds over several export counts, and check `--trace-gc` before reading a step.
 * `--inner <root> --count N --bodies <file>`: the counted process itself (what valgrind runs), which
 * can also run under `node --cpu-prof`; `--write-bodies <file>` writes such a file of `--exports`.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { corpusBatches, exportSender, gzipPool } from './load.mjs';

const flag = (name, fallback) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : fallback);
const transport = flag('--transport', 'http');
const exportsCount = Number(flag('--exports', 400));
const baseExports = Number(flag('--base-exports', Math.round(exportsCount / 4)));
const tickEvery = Number(flag('--tick-every', 100));
const here = fileURLToPath(new URL('..', import.meta.url));

/** The stored rows that say what serve found, floats to 6 significant digits. */
async function storedDigest(root, file) {
  const { default: Database } = await import(pathToFileURL(join(root, 'node_modules/better-sqlite3/lib/index.js')).href);
  const d = new Database(file, { readonly: true });
  const hash = createHash('sha256');
  const counts = {};
  for (const t of ['endpoints', 'statements', 'findings', 'endpoint_hours', 'finding_hours', 'fingerprint_hours', 'examples', 'route_traffic', 'spool_commits']) {
    const rows = d.prepare(`SELECT * FROM ${t}`).all();
    counts[t] = rows.length;
    const lines = rows.map((r) => JSON.stringify(r, (_, v) => (typeof v === 'number' && !Number.isInteger(v) ? Number(v.toPrecision(6)) : v))).sort();
    hash.update(`${t}\n${lines.join('\n')}\n`);
  }
  d.close();
  return `${hash.digest('hex').slice(0, 16)} ${JSON.stringify(counts)}`;
}

/** The counted process: serve's parts from `root`'s dist, `count` exports through them. */
/** The first `count` bodies of a file of length-prefixed bodies (writeBodies). */
function readBodies(file, count) {
  const all = readFileSync(file);
  const out = [];
  for (let at = 0; out.length < count; ) {
    const n = all.readUInt32LE(at);
    out.push(all.subarray(at + 4, at + 4 + n));
    at += 4 + n;
  }
  return out;
}

/** The corpus's first `count` exports, stamped and gzip'd once, so that no counted process spends anything making them. */
function writeBodies(file, count) {
  const pool = gzipPool(corpusBatches(300).next);
  pool.fill(count);
  const parts = [];
  for (let b = pool.next(); b !== undefined; b = pool.next()) {
    const head = Buffer.alloc(4);
    head.writeUInt32LE(b.body.length);
    parts.push(head, b.body);
  }
  writeFileSync(file, Buffer.concat(parts));
}

async function inner(root, count) {
  const dist = (path) => import(pathToFileURL(join(root, 'dist', path)).href);
  const [{ Intake }, { createOtlpHttpHandler }, { startGrpcServer }, { createMetrics }, { openStore }, { Spool }] = await Promise.all([
    dist('server/intake.js'),
    dist('server/otlp-http.js'),
    dist('server/grpc.js'),
    dist('server/metrics.js'),
    dist('store/open.js'),
    dist('spool/index.js'),
  ]);
  const bodies = readBodies(flag('--bodies'), count);
  const scratch = mkdtempSync(join(tmpdir(), 'n1lens-intake-instr-'));
  const db = join(scratch, 'n1lens.db');
  const store = await openStore(db);
  const metrics = createMetrics();
  const spool = Spool.open({ dir: join(scratch, 'spool') });
  // Epoch of the corpus's batches is fixed; the clock only needs to move forward from somewhere.
  let clock = 1_800_000_000_000;
  // serve.ts's analysis settings at their defaults (--trace-wait-ms 6000, --trace-settle-ms 500).
  const intake = new Intake({
    traceWaitMs: 6000,
    traceSettleMs: 500,
    maxTraceAgeMs: 30_000,
    maxGrowingTraceAgeMs: 10 * 60_000,
    maxGrowingTracePauseMs: 120_000,
    maxOpenTraces: 50_000,
    spool,
    store,
    metrics,
    now: () => clock,
    pollIntervalMs: 3_600_000,
    writeIntervalMs: 3_600_000,
  });
  const http = createServer(createOtlpHttpHandler({ intake, metrics, maxBodyBytes: 20 << 20 }));
  await new Promise((resolve) => http.listen(0, '127.0.0.1', resolve));
  const grpc = await startGrpcServer({ intake, metrics }, '127.0.0.1', 0);
  const sender = exportSender(transport, { http: http.address().port, grpc: grpc.port }, { inflight: 1, connections: 1, gzip: true });
  const verdicts = { ok: 0, refused: 0, error: 0 };
  for (let i = 0; i < count; i++) {
    verdicts[await sender.send(bodies[i])]++;
    if ((i + 1) % tickEvery === 0) {
      clock += 500;
      await intake.tick();
    }
  }
  sender.close();
  await new Promise((resolve) => http.close(resolve));
  await grpc.close(0);
  clock += 3_600_000;
  await intake.close();
  await store.close();
  process.stdout.write(`${JSON.stringify({ verdicts, stored: await storedDigest(root, db) })}\n`);
  rmSync(scratch, { recursive: true, force: true });
}

function counted(root, count, bodiesFile) {
  const scratch = mkdtempSync(join(tmpdir(), 'n1lens-intake-cg-'));
  const out = join(scratch, 'cg.out');
  const args = [fileURLToPath(import.meta.url), '--inner', root, '--count', String(count), '--transport', transport, '--tick-every', String(tickEvery), '--bodies', bodiesFile];
  const r = spawnSync('valgrind', ['--tool=cachegrind', '--cache-sim=no', `--cachegrind-out-file=${out}`, process.execPath, '--single-threaded', '--predictable-gc-schedule', ...args], {
    encoding: 'utf8',
    maxBuffer: 1 << 28,
  });
  rmSync(scratch, { recursive: true, force: true });
  if (r.status !== 0) throw new Error(`valgrind failed (${r.status}): ${r.stderr.slice(-2000)}`);
  const total = Number(/I\s+refs:\s+([\d,]+)/.exec(r.stderr)?.[1].replaceAll(',', ''));
  return { total, ...JSON.parse(r.stdout.trim().split('\n').at(-1)) };
}

if (process.argv.includes('--write-bodies')) {
  writeBodies(flag('--write-bodies'), exportsCount);
} else if (process.argv.includes('--inner')) {
  await inner(flag('--inner'), Number(flag('--count')));
} else {
  const builds = [{ name: 'this', root: here }];
  if (flag('--against') !== undefined) builds.push({ name: 'against', root: flag('--against') });
  const runs = Number(flag('--runs', 1));
  const scratch = mkdtempSync(join(tmpdir(), 'n1lens-intake-bodies-'));
  const bodiesFile = join(scratch, 'bodies.bin');
  writeBodies(bodiesFile, exportsCount);
  const spansOf = (n) => n * 512;
  for (let r = 0; r < runs; r++) {
    for (const build of builds) {
      const base = counted(build.root, baseExports, bodiesFile);
      const loaded = counted(build.root, exportsCount, bodiesFile);
      const perSpan = (loaded.total - base.total) / (spansOf(exportsCount) - spansOf(baseExports));
      process.stdout.write(
        `${build.name} run ${r}: ${transport}, ${exportsCount} exports ${(loaded.total / 1e9).toFixed(3)} G, ${baseExports} ${(base.total / 1e9).toFixed(3)} G: ` +
          `${Math.round(perSpan)} instructions per span; ${JSON.stringify(loaded.verdicts)}; stored ${loaded.stored}\n`,
      );
    }
  }
  rmSync(scratch, { recursive: true, force: true });
}
