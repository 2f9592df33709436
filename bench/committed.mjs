#!/usr/bin/env node
/**
 * What one store write's committed trace ids cost as the `spool_committed` table grows: 4,000 random
 * trace ids (about a second's traces at 200 k spans/s) inserted in one transaction, the way
 * `SqliteStore.writeRowsSync` inserts them, into a table of 0, 250 k, 1 M and 2 M rows (the table
 * keeps 10 minutes of ids). Same schema and pragmas as the store. Prints one JSON line: CPU and wall
 * ms of each size's inserts, best and mean of 5.
 *
 *   taskset -c 1 node bench/committed.mjs [--blob] [--cache-kib 65536] [--sorted]
 */
import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const blob = process.argv.includes('--blob');
const sorted = process.argv.includes('--sorted');
const cacheAt = process.argv.indexOf('--cache-kib');
const dir = mkdtempSync(join(tmpdir(), 'n1lens-bench-committed-'));
const db = new Database(join(dir, 'store.db'));
db.pragma('journal_mode = WAL');
db.pragma('synchronous = NORMAL');
if (cacheAt > 0) db.pragma(`cache_size = -${Number(process.argv[cacheAt + 1])}`);
db.exec(`CREATE TABLE spool_committed (trace_id ${blob ? 'BLOB' : 'TEXT'} PRIMARY KEY, committed_ms REAL NOT NULL) WITHOUT ROWID;
         CREATE INDEX spool_committed_by_time ON spool_committed(committed_ms);`);
const insert = db.prepare('INSERT INTO spool_committed (trace_id, committed_ms) VALUES (?, ?) ON CONFLICT (trace_id) DO NOTHING');
const PER_WRITE = 4000;

let nowMs = 0;
let rows = 0;
function write() {
  const ids = Array.from({ length: PER_WRITE }, () => (blob ? randomBytes(16) : randomBytes(16).toString('hex')));
  if (sorted) ids.sort(blob ? Buffer.compare : undefined);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  db.transaction(() => {
    for (const id of ids) insert.run(id, nowMs);
  })();
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  rows += PER_WRITE;
  nowMs += 1000;
  return { wall, cpu: (cpu.user + cpu.system) / 1000 };
}

const sizes = [];
for (const target of [0, 250_000, 1_000_000, 2_000_000]) {
  while (rows < target) write();
  const runs = Array.from({ length: 5 }, write);
  const round = (x) => +x.toFixed(1);
  sizes.push({
    rowsBefore: target,
    cpuMsBest: round(Math.min(...runs.map((r) => r.cpu))),
    cpuMsMean: round(runs.reduce((s, r) => s + r.cpu, 0) / runs.length),
    wallMsBest: round(Math.min(...runs.map((r) => r.wall))),
  });
  process.stderr.write(`${target} rows: ${JSON.stringify(sizes.at(-1))}\n`);
}
db.close();
rmSync(dir, { recursive: true, force: true });
process.stdout.write(JSON.stringify({ bench: 'committed', idsPerWrite: PER_WRITE, key: blob ? 'blob' : 'text', sorted, sizes }) + '\n');
