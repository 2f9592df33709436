#!/usr/bin/env node
/**
 * The lazy OTLP/JSON reader against JSON.parse, in one process, one core: every line of an OTLP
 * JSON-lines file read three ways, alternated round by round, CPU time, best of N:
 *   parse   JSON.parse of each line (UTF-8 decode included), nothing else: the yardstick
 *   decoder JSON.parse + json.ts's decoder into records (n1-report's JSON path before the lazy reader)
 *   lazy    json-lazy.ts's decodeTo into a sink that only counts (what n1-report now runs per line)
 *   report  the whole offline analysis n1-report runs (OfflineAnalysis.addUnit of every line, then
 *           finish): reading, analysing, rolling up
 *   other   `--ab <another build's dist>`: that build's `report`, for an A/B in the same process
 * Also checks that the lazy reader read every line (no fallback) and handed over as many spans.
 *
 * `--process [--ab <another checkout, built>]`: whole processes instead, under GNU time (user +
 * system CPU), alternated run by run: `baseline-jsonparse.mjs` (JSON.parse of every line, nothing
 * else), this checkout's `n1-report --format json --jobs 1`, and the other checkout's; fails unless
 * both reports are the same JSON. Prints each one's CPU per run, best and median.
 *
 *   node bench/json-lines.mjs /tmp/n1lens-bench/corpus.jsonl [--rounds 5] [--dist dist]
 *   node bench/json-lines.mjs /tmp/n1lens-bench/corpus.jsonl --process [--ab /tmp/main] [--rounds 5]
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const args = process.argv.slice(2);
const file = args.find((a) => !a.startsWith('--') && !/^\d+$/.test(a));
const opt = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const rounds = Number(opt('--rounds', 5));
const dist = resolve(opt('--dist', new URL('../dist', import.meta.url).pathname));
if (args.includes('--process')) {
  const { spawnSync } = await import('node:child_process');
  const root = new URL('..', import.meta.url).pathname;
  const other = opt('--ab', undefined);
  const once = (argv) => {
    const r = spawnSync('/usr/bin/time', ['-f', '%U %S', process.execPath, ...argv], { encoding: 'utf8', maxBuffer: 1 << 28 });
    if (r.status !== 0 && r.status !== 1) throw new Error(`${argv.join(' ')} failed (${r.status}): ${r.stderr}`);
    const [user, sys] = r.stderr.trim().split('\n').pop().split(' ').map(Number);
    return { cpu: +(user + sys).toFixed(2), stdout: r.stdout };
  };
  const report = (dir) => [`${dir}/bin/n1-report.js`, '--format', 'json', '--jobs', '1', file];
  const runs = { parse: [], report: [], ...(other ? { other: [] } : {}) };
  for (let r = 0; r < rounds; r++) {
    const order = Object.keys(runs);
    if (r % 2 === 1) order.reverse();
    const printed = {};
    for (const name of order) {
      const run = once(name === 'parse' ? [`${root}/bench/baseline-jsonparse.mjs`, file] : report(name === 'report' ? root : other));
      runs[name].push(run.cpu);
      printed[name] = run.stdout;
    }
    if (other && printed.report !== printed.other) throw new Error('the two builds printed different reports');
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const summary = Object.fromEntries(Object.entries(runs).map(([k, v]) => [k, { runs: v, best: Math.min(...v), median: median(v) }]));
  const ratio = (a, b) => +(summary[a].median / summary[b].median).toFixed(2);
  console.log(JSON.stringify({ file, ...summary, reportOverParse: ratio('report', 'parse'), ...(other ? { otherOverParse: ratio('other', 'parse'), reportOverOther: ratio('report', 'other') } : {}) }));
  process.exit(0);
}

const { createJsonDecoder } = await import(pathToFileURL(`${dist}/otlp/json.js`).href);
const { createLazyJsonReader } = await import(pathToFileURL(`${dist}/otlp/json-lazy.js`).href);
const analysis = async (root) => ({
  ...(await import(pathToFileURL(`${root}/analyzer.js`).href)),
  ...(await import(pathToFileURL(`${root}/otlp/file.js`).href)),
});
const mine = await analysis(dist);
const otherDist = opt('--ab', undefined);
const theirs = otherDist === undefined ? undefined : await analysis(resolve(otherDist));

const data = readFileSync(file);
const lines = [];
for (let at = 0; at < data.length; ) {
  let nl = data.indexOf(10, at);
  if (nl < 0) nl = data.length;
  if (nl > at) lines.push(data.subarray(at, nl));
  at = nl + 1;
}

const cpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e3;
};
let sink = 0;
const counting = {
  dbSpan() {
    sink++;
  },
  span() {
    sink++;
  },
};
const ways = {
  parse() {
    let n = 0;
    for (const line of lines) n += JSON.parse(line.toString('utf8')).resourceSpans.length;
    return n;
  },
  decoder() {
    const decoder = createJsonDecoder();
    let n = 0;
    for (const line of lines) n += decoder.decodeValue(JSON.parse(line.toString('utf8'))).spans.length;
    return n;
  },
  lazy() {
    const reader = createLazyJsonReader();
    let n = 0;
    let missed = 0;
    for (const line of lines) {
      const batch = reader.decodeTo(line, counting);
      if (batch === undefined) missed++;
      else n += batch.accepted;
    }
    if (missed > 0) throw new Error(`the lazy reader gave up ${missed} lines`);
    return n;
  },
  report: () => offline(mine),
  ...(theirs ? { other: () => offline(theirs) } : {}),
};

/** n1-report's offline analysis of the lines; returns the rollups as JSON text (a check both builds agree). */
function offline({ OfflineAnalysis, createUnitDecoders }) {
  const analysis = new OfflineAnalysis({});
  const decoders = createUnitDecoders();
  lines.forEach((bytes, i) => analysis.addUnit({ raw: 'json-line', bytes, file, line: i + 1 }, decoders));
  return JSON.stringify(analysis.finish().values());
}
const best = Object.fromEntries(Object.keys(ways).map((k) => [k, Infinity]));
const spans = {};
for (let r = 0; r < rounds; r++) {
  const order = Object.keys(ways);
  if (r % 2 === 1) order.reverse();
  for (const name of order) {
    const t = cpu();
    spans[name] = ways[name]();
    best[name] = Math.min(best[name], cpu() - t);
  }
}
if (theirs && spans.report !== spans.other) throw new Error('the two builds rolled up different figures');
const out = {
  file,
  lines: lines.length,
  mb: +(data.length / 1e6).toFixed(1),
  spans: spans.decoder,
  lazySpans: spans.lazy,
  ms: Object.fromEntries(Object.entries(best).map(([k, v]) => [k, Math.round(v)])),
  lazyOverParse: +(best.lazy / best.parse).toFixed(2),
  decoderOverParse: +(best.decoder / best.parse).toFixed(2),
  lazyOverDecoder: +(best.lazy / best.decoder).toFixed(2),
  reportOverParse: +(best.report / best.parse).toFixed(2),
  ...(theirs ? { otherOverParse: +(best.other / best.parse).toFixed(2), reportOverOther: +(best.report / best.other).toFixed(2) } : {}),
};
console.log(JSON.stringify(out));
