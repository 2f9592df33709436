#!/usr/bin/env node
/**
 * The lazy OTLP/JSON reader against JSON.parse, in one process, one core: every line of an OTLP
 * JSON-lines file read three ways, alternated round by round, CPU time, best of N:
 *   parse   JSON.parse of each line (UTF-8 decode included), nothing else: the yardstick
 *   decoder JSON.parse + json.ts's decoder into records (n1-report's JSON path before the lazy reader)
 *   lazy    json-lazy.ts's decodeTo into a sink that only counts (what n1-report now runs per line)
 * Also checks that the lazy reader read every line (no fallback) and handed over as many spans.
 *
 *   node bench/json-lines.mjs /tmp/n1lens-bench/corpus.jsonl [--rounds 5] [--dist dist]
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
const { createJsonDecoder } = await import(pathToFileURL(`${dist}/otlp/json.js`).href);
const { createLazyJsonReader } = await import(pathToFileURL(`${dist}/otlp/json-lazy.js`).href);

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
};
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
};
console.log(JSON.stringify(out));
