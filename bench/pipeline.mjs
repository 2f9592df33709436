#!/usr/bin/env node
/**
 * Offline, in-process: OTLP protobuf bytes → findings (decode, assemble, normalise, detect, roll up
 * per endpoint), the work `n1-report` does per message, on one thread with the corpus in memory.
 * In the same run, for comparison: protobufjs's generic decode of the same messages, and the wire
 * decoder alone. Prints one JSON line of figures.
 *
 *   node bench/pipeline.mjs /tmp/n1lens-bench/corpus.pb [--rounds 3]
 *   node bench/pipeline.mjs /tmp/n1lens-bench/corpus.pb --ab /path/to/other/dist [--rounds 6]
 */
import { readFileSync } from 'node:fs';
import { OfflineAnalysis } from '../dist/analyzer.js';
import { decodeProtobufRequest, decodeProtobufRequestReference } from '../dist/otlp/protobuf.js';
import { createWireDecoder } from '../dist/otlp/wire/decoder.js';
import { otlpSchema } from '../dist/otlp/schema.js';
import { framedMessages } from './messages.mjs';

const path = process.argv[2] ?? '/tmp/n1lens-bench/corpus.pb';
const rounds = (process.argv.includes('--rounds') ? Number(process.argv[process.argv.indexOf('--rounds') + 1]) : 3);

const file = readFileSync(path);
const messages = framedMessages(file);
const counter = createWireDecoder();
const totalSpans = messages.reduce((n, m) => n + decodeProtobufRequest(m, counter).spans.length, 0);

/** CPU seconds (user + system, all threads) and wall seconds of fn. */
function measure(fn) {
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const result = fn();
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const c = process.cpuUsage(cpu0);
  return { cpu: (c.user + c.system) / 1e6, wall, result };
}

/** The n1-report pipeline (analyseFiles) over the in-memory messages. */
function pipeline() {
  const offline = new OfflineAnalysis({ minRepeats: 5 });
  // One decoder per run, as n1-report keeps one per file.
  const decoder = createWireDecoder();
  for (const m of messages) offline.addMessage(decoder, m);
  const rollups = offline.finish();
  const analyzer = offline.analyzer;
  let cascades = 0;
  for (const r of rollups.values()) cascades += r.cascades.size;
  return { requests: analyzer.requestsAnalysed, endpoints: [...rollups.values()].length, cascades };
}

/** The wire decoder alone, one decoder per run as n1-report keeps one per file. */
function wireDecodeOnly() {
  const decoder = createWireDecoder();
  return (m) => decoder.decode(m);
}

function decodeOnly(decode, list) {
  let n = 0;
  for (const m of list) n += decode(m).spans.length;
  return n;
}

/** protobufjs's decode alone (no mapping to records): the generic baseline. */
function protobufjsOnly(list) {
  const type = otlpSchema().ExportTraceServiceRequest;
  let n = 0;
  for (const m of list) n += type.decode(m).resourceSpans.length;
  return n;
}

const best = (xs) => xs.reduce((a, b) => (b.cpu < a.cpu ? b : a));
const runs = (fn, k) => Array.from({ length: k }, () => measure(fn));

// protobufjs is slow: time it on a slice (at least 100k spans) and scale per span.
const slice = [];
let sliceSpans = 0;
for (const m of messages) {
  if (sliceSpans >= 100_000) break;
  slice.push(m);
  sliceSpans += decodeProtobufRequest(m, counter).spans.length;
}

if (process.argv.includes('--ab')) {
  // A/B in one process: the pipeline of another build (`--ab <its dist/>`, e.g. main's) and this
  // one's, alternated on the same messages, best of --rounds each; both must print the same report.
  const other = process.argv[process.argv.indexOf('--ab') + 1];
  const load = async (dist) => ({
    OfflineAnalysis: (await import(`${dist}/analyzer.js`)).OfflineAnalysis,
    createWireDecoder: (await import(`${dist}/otlp/wire/decoder.js`)).createWireDecoder,
    decodeProtobufRequest: (await import(`${dist}/otlp/protobuf.js`)).decodeProtobufRequest,
    buildReport: (await import(`${dist}/report/model.js`)).buildReport,
  });
  const variants = { a: await load(new URL(other.replace(/\/?$/, '/'), `file://${process.cwd()}/`).href.replace(/\/$/, '')), b: await load('../dist') };
  const run = (v) => () => {
    const offline = new v.OfflineAnalysis({ minRepeats: 5 });
    const decoder = v.createWireDecoder();
    if (typeof offline.addMessage === 'function') for (const m of messages) offline.addMessage(decoder, m);
    else for (const m of messages) offline.add(v.decodeProtobufRequest(m, decoder).spans);
    return offline.finish();
  };
  const times = { a: [], b: [] };
  const reports = {};
  for (let r = 0; r < rounds; r++) {
    // Both orders, so neither variant always runs right after the other's garbage.
    for (const k of r % 2 === 0 ? ['a', 'b'] : ['b', 'a']) {
      const m = measure(run(variants[k]));
      times[k].push(m.cpu);
      reports[k] ??= JSON.stringify(variants[k].buildReport(m.result.values()));
    }
  }
  if (reports.a !== reports.b) throw new Error('A and B printed different reports');
  const min = (xs) => Math.min(...xs);
  const median = (xs) => {
    const sorted = [...xs].sort((x, y) => x - y);
    return (sorted[(sorted.length - 1) >> 1] + sorted[sorted.length >> 1]) / 2;
  };
  process.stdout.write(
    JSON.stringify({
      bench: 'pipeline-ab', corpus: path, spans: totalSpans, bytesPerSpan: +(file.length / totalSpans).toFixed(1),
      aSpansPerSec: Math.round(totalSpans / min(times.a)), bSpansPerSec: Math.round(totalSpans / min(times.b)),
      // B's CPU over A's, best against best: below 1 means B is faster.
      bOverA: +(min(times.b) / min(times.a)).toFixed(3),
      // The same, as the median of each round's ratio (the first round, warming up, left out): steadier when the machine is loaded.
      bOverAPairedMedian: +median(times.b.slice(1).map((b, i) => b / times.a[i + 1])).toFixed(3),
      aCpu: times.a.map((x) => +x.toFixed(3)), bCpu: times.b.map((x) => +x.toFixed(3)),
    }) + '\n',
  );
  process.exit(0);
}

if (process.argv.includes('--only-pipeline')) {
  // For `node --cpu-prof`: the pipeline alone, so the profile shows nothing else.
  const r = best(runs(pipeline, rounds));
  process.stdout.write(JSON.stringify({ bench: 'pipeline', spans: totalSpans, pipelineSpansPerSec: Math.round(totalSpans / r.cpu) }) + '\n');
  process.exit(0);
}

// The machine's speed drifts (a shared VM): alternate the runs so each figure and its comparison
// see the same conditions, and keep the best of each.
const pbjsRuns = [];
const pbjsMappedRuns = [];
const wireRuns = [];
const fullRuns = [];
for (let r = 0; r < rounds; r++) {
  pbjsRuns.push(measure(() => protobufjsOnly(slice)));
  fullRuns.push(measure(pipeline));
  wireRuns.push(measure(() => decodeOnly(wireDecodeOnly(), messages)));
  if (r < 2) pbjsMappedRuns.push(measure(() => decodeOnly(decodeProtobufRequestReference, slice)));
}
const pbjs = best(pbjsRuns);
const pbjsMapped = best(pbjsMappedRuns);
const wire = best(wireRuns);
const full = best(fullRuns);

const perSec = (spans, r) => Math.round(spans / r.cpu);
process.stdout.write(
  JSON.stringify({
    bench: 'pipeline',
    corpus: path,
    spans: totalSpans,
    bytes: file.length,
    bytesPerSpan: +(file.length / totalSpans).toFixed(1),
    requests: full.result.requests,
    cascadesFound: full.result.cascades,
    pipelineSpansPerSec: perSec(totalSpans, full),
    pipelineWallSpansPerSec: Math.round(totalSpans / full.wall),
    pipelineMBPerSec: +(file.length / full.cpu / 1e6).toFixed(1),
    wireDecodeSpansPerSec: perSec(totalSpans, wire),
    protobufjsDecodeSpansPerSec: perSec(sliceSpans, pbjs),
    protobufjsDecodeUsPerSpan: +((pbjs.cpu / sliceSpans) * 1e6).toFixed(2),
    protobufjsDecodeAndMapSpansPerSec: perSec(sliceSpans, pbjsMapped),
    // Robust to the machine's drift: how many times faster the whole pipeline is than protobufjs's decode alone.
    pipelineVsProtobufjsDecode: +(perSec(totalSpans, full) / perSec(sliceSpans, pbjs)).toFixed(2),
  }) + '\n',
);
