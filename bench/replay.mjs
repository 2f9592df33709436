#!/usr/bin/env node
/**
 * `n1lens serve`'s spool replay after a crash (Intake.replay): how long reading a large spool back
 * into the open traces takes, and the process's peak RSS by then. One child process per replay, so
 * each starts cold as serve does; with `--ab <another checkout, built>` this build and that one are
 * alternated run by run (the order flips every round) on the same spools.
 *
 * The spools are made once from a corpus (bench/corpus.mjs) with this build's Spool: every message
 * of <corpus>.pb as a protobuf record, and every line of <corpus>.jsonl as a JSON record (8 MiB
 * segments, as serve writes them). Each child copies the spool to a scratch directory (untimed),
 * opens an in-memory SQLite store and an Intake on that copy, and times replay() (wall and CPU).
 * `--committed`: the store starts with about 5/16 of the corpus's traces committed (every trace whose
 * id's last hex digit is 0-4), so replay skips their spans. After the timed part the child closes
 * the intake (analyses and writes everything, untimed) and prints a hash of the store's report; the
 * parent fails unless every run of both builds printed the same totals and report.
 *
 *   node bench/replay.mjs /tmp/corpora/django [--ab /tmp/replaycols-base] [--rounds 5] [--committed] [--only pb|json]
 *
 * Prints one JSON line per spool encoding: each build's runs (ms wall, ms CPU, MiB peak RSS), their
 * medians, and the ratio of the medians (this build / the other), plus the load average.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const root = resolve(new URL('..', import.meta.url).pathname);
const load = (dist, path) => import(pathToFileURL(join(dist, path)).href);

if (args[0] === '--child') {
  // --child <dist> <spool dir> <committed ids file | ->
  const [, dist, spoolDir, committedFile] = args;
  const { Intake } = await load(dist, 'server/intake.js');
  const { Spool } = await load(dist, 'spool/index.js');
  const { SqliteStore } = await load(dist, 'store/sqlite.js');
  const { createMetrics } = await load(dist, 'server/metrics.js');
  const scratch = mkdtempSync(join(tmpdir(), 'n1lens-replay-'));
  try {
    cpSync(spoolDir, scratch, { recursive: true });
    const store = SqliteStore.open(':memory:');
    if (committedFile !== '-') await store.record([], { traceIds: readFileSync(committedFile, 'utf8').split('\n').filter(Boolean), nowMs: Date.now() });
    const intake = new Intake({ store, metrics: createMetrics(), spool: Spool.open({ dir: scratch }) });
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const totals = await intake.replay();
    const ms = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    const rssMiB = process.resourceUsage().maxRSS / 1024;
    await intake.close();
    const report = createHash('sha256').update(JSON.stringify(await store.report())).digest('hex').slice(0, 16);
    store.closeSync();
    console.log(JSON.stringify({ ms: Math.round(ms), cpuMs: Math.round((cpu.user + cpu.system) / 1000), rssMiB: Math.round(rssMiB), totals, report }));
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  process.exit(0);
}

const corpus = args.find((a, i) => !a.startsWith('--') && !['--ab', '--rounds', '--only'].includes(args[i - 1])) ?? '/tmp/corpora/django';
const rounds = Number(opt('--rounds', 5));
const other = opt('--ab', undefined);
const committed = args.includes('--committed');
const only = opt('--only', undefined);
const work = join(tmpdir(), `n1lens-replay-bench-${corpus.split('/').pop()}`);

/** The spools and the committed-id list, made once per corpus with this build. */
async function prepare() {
  if (existsSync(join(work, 'done'))) return;
  rmSync(work, { recursive: true, force: true });
  const dist = join(root, 'dist');
  const { Spool } = await load(dist, 'spool/index.js');
  const { readTraceUnits, isRawUnit } = await load(dist, 'otlp/file.js');
  const { decodeProtobufRequest } = await load(dist, 'otlp/protobuf.js');
  const ids = new Set();
  const pb = Spool.open({ dir: join(work, 'pb') });
  for await (const unit of readTraceUnits(`${corpus}.pb`)) {
    if (!isRawUnit(unit)) throw new Error(`${corpus}.pb: not OTLP protobuf messages`);
    const body = Buffer.from(unit.bytes); // a view into the reader's buffer
    for (const s of decodeProtobufRequest(body).spans) ids.add(s.traceId);
    pb.append('protobuf', body);
  }
  await pb.close();
  // The JSON lines as they are (readTraceUnits decodes a file's first line to tell its format).
  const json = Spool.open({ dir: join(work, 'jsonl') });
  for (const line of readFileSync(`${corpus}.jsonl`, 'utf8').split('\n')) if (line.trim() !== '') json.append('json', Buffer.from(line));
  await json.close();
  writeFileSync(join(work, 'committed.txt'), [...ids].filter((id) => parseInt(id.at(-1), 16) < 5).join('\n'));
  writeFileSync(join(work, 'done'), '');
}

await prepare();
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const builds = { this: join(root, 'dist'), ...(other ? { other: join(resolve(other), 'dist') } : {}) };
for (const ext of ['pb', 'jsonl'].filter((e) => only === undefined || e.startsWith(only))) {
  const runs = Object.fromEntries(Object.keys(builds).map((b) => [b, []]));
  const outputs = new Set();
  for (let r = 0; r < rounds; r++) {
    const order = Object.keys(builds);
    if (r % 2 === 1) order.reverse();
    for (const name of order) {
      const child = spawnSync(process.execPath, [new URL(import.meta.url).pathname, '--child', builds[name], join(work, ext), committed ? join(work, 'committed.txt') : '-'], { encoding: 'utf8' });
      if (child.status !== 0) throw new Error(`${name} replay failed (${child.status}): ${child.stderr}`);
      const run = JSON.parse(child.stdout.trim().split('\n').pop());
      runs[name].push(run);
      outputs.add(JSON.stringify([run.totals, run.report]));
    }
  }
  if (outputs.size !== 1) throw new Error(`the runs disagree on what was replayed: ${[...outputs].join(' ')}`);
  const summary = Object.fromEntries(
    Object.entries(runs).map(([name, rs]) => [name, { ms: rs.map((x) => x.ms), cpuMs: rs.map((x) => x.cpuMs), rssMiB: rs.map((x) => x.rssMiB), median: { ms: median(rs.map((x) => x.ms)), cpuMs: median(rs.map((x) => x.cpuMs)), rssMiB: median(rs.map((x) => x.rssMiB)) } }]),
  );
  const ratio = other ? Object.fromEntries(['ms', 'cpuMs', 'rssMiB'].map((k) => [k, +(summary.this.median[k] / summary.other.median[k]).toFixed(2)])) : undefined;
  const { totals } = runs.this[0];
  console.log(JSON.stringify({ spool: `${corpus}.${ext}`, committed, totals, ...summary, ...(ratio ? { thisOverOther: ratio } : {}), load: loadavg().map((x) => +x.toFixed(2)) }));
}
