#!/usr/bin/env node
/**
 * serve's OTLP/HTTP JSON intake in process, one core: every line of an OTLP JSON-lines file taken as
 * one export body by `Intake.acceptJson` (the lazy reader: admission on its trace ids, spans into
 * the columns) and by what the HTTP handler did before it (JSON.parse + json.ts, then
 * `Intake.accept` of the records), alternated round by round, a fresh intake and in-memory store
 * each time. CPU time of the accepts alone and of the whole run (accepts, analysis, store writes at
 * close), best of `--rounds`; checks that both store the same report.
 *
 *   node bench/json-intake.mjs /tmp/n1lens-bench/django.jsonl [--rounds 5]
 */
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';

const file = process.argv[2] ?? '/tmp/n1lens-bench/django.jsonl';
const flag = (name) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : undefined);
const rounds = Number(flag('--rounds') ?? 5);
const dist = new URL('../dist/', import.meta.url);
const { Intake } = await import(new URL('server/intake.js', dist).href);
const { createMetrics } = await import(new URL('server/metrics.js', dist).href);
const { SqliteStore } = await import(new URL('store/sqlite.js', dist).href);
const { createJsonDecoder, decodeJsonRequest } = await import(new URL('otlp/json.js', dist).href);

const bodies = readFileSync(file).toString('latin1').split('\n').filter((l) => l.trim() !== '').map((l) => Buffer.from(l, 'latin1'));
const cpuMs = (start) => {
  const u = process.cpuUsage(start);
  return (u.user + u.system) / 1000;
};

async function run(variant) {
  const store = SqliteStore.open(':memory:');
  let clock = 0;
  const intake = new Intake({ store, metrics: createMetrics(), traceWaitMs: 1000, maxOpenTraces: 1_000_000, maxBufferBytes: 4 * 1024 ** 3, memoryLimitBytes: 8 * 1024 ** 3, now: () => clock });
  const json = createJsonDecoder();
  const start = process.cpuUsage();
  let acceptMs = 0;
  for (const body of bodies) {
    const at = process.cpuUsage();
    const result =
      variant === 'lazy'
        ? await intake.acceptJson(body, 'http')
        : await intake.accept(decodeJsonRequest(body, json), 'http', { encoding: 'json', body });
    acceptMs += cpuMs(at);
    if (!result.ok) throw new Error(`${variant}: export refused (${result.message})`);
    clock += 10;
  }
  await intake.close();
  const totalMs = cpuMs(start);
  const report = JSON.stringify(await store.report());
  store.closeSync();
  return { acceptMs, totalMs, report };
}

const best = {};
const load = [loadavg()[0]];
for (let i = 0; i < rounds; i++) {
  for (const variant of i % 2 === 0 ? ['records', 'lazy'] : ['lazy', 'records']) {
    const r = await run(variant);
    const b = best[variant];
    if (b !== undefined && b.report !== r.report) throw new Error(`${variant} stored another report than before`);
    best[variant] = { acceptMs: Math.min(b?.acceptMs ?? Infinity, r.acceptMs), totalMs: Math.min(b?.totalMs ?? Infinity, r.totalMs), report: r.report };
  }
  load.push(loadavg()[0]);
}
if (best.lazy.report !== best.records.report) throw new Error('acceptJson stored another report than accept of json.ts records');
const fig = (v) => ({ acceptCpuMs: Math.round(best[v].acceptMs), totalCpuMs: Math.round(best[v].totalMs) });
process.stdout.write(
  JSON.stringify({
    bench: 'json-intake',
    file,
    exports: bodies.length,
    rounds,
    loadAverage: load.map((x) => +x.toFixed(2)),
    records: fig('records'),
    lazy: fig('lazy'),
    acceptRatio: +(best.lazy.acceptMs / best.records.acceptMs).toFixed(2),
    totalRatio: +(best.lazy.totalMs / best.records.totalMs).toFixed(2),
  }) + '\n',
);
