#!/usr/bin/env node
/**
 * What one store write's committed trace ids cost as the store remembers more of them: 4,000 random
 * trace ids (about a second's traces at 200 k spans/s) per write, at 0, 250 k, 1 M and 2 M ids
 * remembered (the store keeps 10 minutes of ids). Two ways, each in a SQLite file of its own:
 *
 * - `store`: SqliteStore.writeRowsSync, as `serve` calls it (one spool_commits row per write, the ids
 *   checked against the in-memory index; needs `npm run build`), and one committed() lookup of 50 ids
 *   (an export's traces);
 * - `rowPerTrace`: the schema before it (schema 6-10): a row per trace keyed by its id, with the
 *   store's pragmas.
 *
 * - `postgres` (with `--postgres <url>`, a database it may write): PostgresStore.record's committed
 *   ids alone, a row per trace in one INSERT … unnest … ON CONFLICT, as instances sharing a store
 *   write them; wall ms only (the server's CPU is another process's).
 *
 * Prints one JSON line: CPU and wall ms of each size's writes, best and mean of 5, and the bytes the
 * index holds in array buffers.
 *
 *   npm run build && taskset -c 1 node --expose-gc bench/committed.mjs [--skip-row-per-trace]
 *     [--postgres postgresql://recruit:recruit@127.0.0.1:55432/recruit (bash scripts/postgres.sh start; url)]
 */
import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SQLITE_MIGRATIONS } from '../dist/store/migrations.js';
import { SqliteStore } from '../dist/store/sqlite.js';
import { PostgresStore } from '../dist/store/postgres.js';

const PER_WRITE = 4000;
const SIZES = [0, 250_000, 1_000_000, 2_000_000];
const dir = mkdtempSync(join(tmpdir(), 'n1lens-bench-committed-'));
const traceIds = (n) => Array.from({ length: n }, () => randomBytes(16).toString('hex'));
const round = (x) => +x.toFixed(2);

async function timed(fn) {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await fn();
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  return { wall, cpu: (cpu.user + cpu.system) / 1000 };
}

/** Writes until `size` ids are remembered, then times 5 writes (and `extra` after each). */
async function measure(name, write, extra) {
  const sizes = [];
  let written = 0;
  let nowMs = 0;
  for (const size of SIZES) {
    for (; written < size; written += PER_WRITE) await write(traceIds(PER_WRITE), (nowMs += 1000));
    const runs = [];
    const lookups = [];
    for (let i = 0; i < 5; i++) {
      const ids = traceIds(PER_WRITE);
      runs.push(await timed(() => write(ids, (nowMs += 1000))));
      written += PER_WRITE;
      if (extra !== undefined) lookups.push(await timed(() => extra(ids)));
    }
    const figures = {
      idsBefore: size,
      cpuMsBest: round(Math.min(...runs.map((r) => r.cpu))),
      cpuMsMean: round(runs.reduce((s, r) => s + r.cpu, 0) / runs.length),
      wallMsBest: round(Math.min(...runs.map((r) => r.wall))),
    };
    if (extra !== undefined) figures.lookup50WallMsBest = round(Math.min(...lookups.map((r) => r.wall)));
    sizes.push(figures);
    process.stderr.write(`${name} ${size}: ${JSON.stringify(figures)}\n`);
  }
  return sizes;
}

const buffersBefore = process.memoryUsage().arrayBuffers;
const store = SqliteStore.open(join(dir, 'store.db'));
const storeSizes = await measure(
  'store',
  (ids, nowMs) => store.writeRowsSync(undefined, { traceIds: ids, nowMs }, []),
  (ids) => store.committed([...ids.slice(0, 25), ...traceIds(25)]),
);
// With --expose-gc: tables a resize left behind are not counted (their memory is freed a turn after the GC).
for (let i = 0; i < 3; i++) {
  globalThis.gc?.();
  await new Promise((r) => setTimeout(r, 50));
}
const indexBytes = process.memoryUsage().arrayBuffers - buffersBefore;
store.closeSync();

let rowPerTrace;
if (!process.argv.includes('--skip-row-per-trace')) {
  const db = new Database(join(dir, 'row-per-trace.db'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.exec(SQLITE_MIGRATIONS[5]); // migration 6: spool_committed as schema versions 6-10 had it
  const insert = db.prepare('INSERT INTO spool_committed (trace_id, committed_ms) VALUES (?, ?) ON CONFLICT (trace_id) DO NOTHING');
  const write = db.transaction((ids, nowMs) => {
    for (const id of ids) insert.run(id, nowMs);
  });
  rowPerTrace = await measure('rowPerTrace', (ids, nowMs) => write(ids, nowMs));
  db.close();
}

let postgres;
const postgresAt = process.argv.indexOf('--postgres');
if (postgresAt > 0) {
  const shared = await PostgresStore.open(process.argv[postgresAt + 1]);
  await shared.pruneCommitted(Number.POSITIVE_INFINITY); // a database used before starts empty
  postgres = await measure(
    'postgres',
    (ids, nowMs) => shared.record([], { traceIds: ids, nowMs }),
    (ids) => shared.committed([...ids.slice(0, 25), ...traceIds(25)]),
  );
  await shared.pruneCommitted(Number.POSITIVE_INFINITY);
  await shared.close();
}
rmSync(dir, { recursive: true, force: true });
console.log(JSON.stringify({ perWrite: PER_WRITE, store: storeSizes, indexMiB: round(indexBytes / 2 ** 20), rowPerTrace, postgres }));
