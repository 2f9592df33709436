#!/usr/bin/env node
/**
 * Jaeger and Zipkin files: `n1-report --format json` on a Jaeger query-API file (`{"data": [...]}`,
 * one line) and on a Zipkin v2 span array holding the same traces, each its own process under GNU
 * time (user + system CPU, peak RSS), best of `--runs`. Peak RSS staying flat while the file grows
 * is the point: both are streamed element by element, never read whole.
 *
 *   node bench/foreign-files.mjs [--traces 20000] [--runs 2] [--dir /tmp/n1lens-bench]
 */
import { spawnSync } from 'node:child_process';
import { createWriteStream, mkdirSync, statSync } from 'node:fs';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

const arg = (name, fallback) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : fallback);
const traces = Number(arg('--traces', 20000));
const runs = Number(arg('--runs', 2));
const dir = arg('--dir', process.env.N1LENS_BENCH_DIR ?? '/tmp/n1lens-bench');
const root = fileURLToPath(new URL('..', import.meta.url));
mkdirSync(dir, { recursive: true });

/** One Django-shaped trace: a server span and 60 per-row lookups (an N+1), Jaeger's shape. */
function trace(i, startUs) {
  const traceID = (i + 1).toString(16).padStart(32, '0');
  const root = { traceID, spanID: '1'.padStart(16, '0'), operationName: 'GET dashboard/', references: [], startTime: startUs, duration: 50000, tags: [{ key: 'span.kind', type: 'string', value: 'server' }, { key: 'http.method', type: 'string', value: 'GET' }, { key: 'http.route', type: 'string', value: 'dashboard/' }], processID: 'p1' };
  const spans = [root];
  for (let k = 0; k < 60; k++) {
    spans.push({
      traceID, spanID: (k + 2).toString(16).padStart(16, '0'), operationName: 'SELECT', references: [{ refType: 'CHILD_OF', traceID, spanID: root.spanID }],
      startTime: startUs + 100 + k * 10, duration: 5, processID: 'p1',
      tags: [{ key: 'span.kind', type: 'string', value: 'client' }, { key: 'db.system', type: 'string', value: 'postgresql' }, { key: 'db.statement', type: 'string', value: `SELECT "recruit_candidate"."id", "recruit_candidate"."name" FROM "recruit_candidate" WHERE "recruit_candidate"."id" = ${k} LIMIT 21` }],
    });
  }
  return { traceID, spans, processes: { p1: { serviceName: 'recruit', tags: [] } }, warnings: null };
}

function zipkinSpans(t) {
  return t.spans.map((s) => ({
    traceId: s.traceID, id: s.spanID, ...(s.references[0] ? { parentId: s.references[0].spanID } : {}), kind: s.tags[0].value.toUpperCase(),
    name: s.operationName, timestamp: s.startTime, duration: s.duration, localEndpoint: { serviceName: 'recruit' },
    tags: Object.fromEntries(s.tags.slice(1).map((x) => [x.key, x.value])),
  }));
}

async function write(path, open, close, element) {
  const out = createWriteStream(path);
  out.write(open);
  for (let i = 0; i < traces; i++) {
    if (!out.write((i ? ',' : '') + element(trace(i, 1_700_000_000_000_000 + i * 100_000)))) await once(out, 'drain');
  }
  out.end(close);
  await once(out, 'finish');
}

function timed(file) {
  let best;
  for (let i = 0; i < runs; i++) {
    const r = spawnSync('/usr/bin/time', ['-f', '%U %S %M', process.execPath, 'bin/n1-report.js', '--format', 'json', file], { cwd: root, encoding: 'utf8', maxBuffer: 1 << 28 });
    if (r.status !== 0 && r.status !== 1) throw new Error(`n1-report ${file} failed (${r.status}): ${r.stderr}`);
    const [user, sys, rssKb] = r.stderr.trim().split('\n').pop().split(' ').map(Number);
    const report = JSON.parse(r.stdout);
    if (report.summary.requests !== traces) throw new Error(`${file}: ${report.summary.requests} requests, expected ${traces}`);
    if (best === undefined || user + sys < best.cpuS) best = { cpuS: Math.round((user + sys) * 100) / 100, rssMB: Math.round(rssKb / 1024) };
  }
  const mb = statSync(file).size / 1e6;
  return { fileMB: Math.round(mb), ...best, mbPerCpuS: Math.round(mb / best.cpuS) };
}

const jaeger = `${dir}/jaeger-${traces}.json`;
const zipkin = `${dir}/zipkin-${traces}.json`;
await write(jaeger, '{"data":[', '],"total":0,"limit":0,"offset":0,"errors":null}', (t) => JSON.stringify(t));
await write(zipkin, '[', ']', (t) => zipkinSpans(t).map((s) => JSON.stringify(s)).join(','));
process.stdout.write(`${JSON.stringify({ bench: 'foreign-files', traces, spans: traces * 61, jaeger: timed(jaeger), zipkin: timed(zipkin) })}\n`);
