#!/usr/bin/env node
/** Prints the results table (Markdown) from bench/out/*.json, next to the targets and the machine. */
import { execSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';

const dir = process.argv[2] ?? 'bench/out';
const read = (name) => (existsSync(join(dir, `${name}.json`)) ? JSON.parse(readFileSync(join(dir, `${name}.json`), 'utf8').trim().split('\n').pop()) : undefined);
const corpus = read('corpus');
const corpusLean = read('corpus-lean');
const pipeline = read('pipeline');
const pipelineLean = read('pipeline-lean');
const phases = read('phases');
const proc = read('process');
const procLean = read('process-lean');
const jobs = read('jobs');
const jobsLean = read('jobs-lean');
const sql = read('sql');
const memory = read('memory');
const serve = read('serve');

const k = (n) => (n === undefined ? '–' : n >= 1e6 ? `${(n / 1e6).toFixed(2)} M` : `${Math.round(n / 1e3)} k`);
const mark = (ok) => (ok === undefined ? '' : ok ? 'met' : 'short');
const rows = [];
const row = (target, figure, comparison, ok) => rows.push(`| ${target} | ${figure} | ${comparison} | ${mark(ok)} |`);

const corpusName = (c) => (c ? `${c.bytesPerSpan} B/span` : '');
for (const [p, c] of [[pipeline, corpus], [pipelineLean, corpusLean]]) {
  if (!p) continue;
  row(`Pipeline, OTLP protobuf bytes → findings, one core (${corpusName(c)}): ≥ 1,000,000 spans/s or ≥ 3× protobufjs's decode rate`,
    `${k(p.pipelineSpansPerSec)} spans/s (${p.pipelineMBPerSec} MB/s), ${p.pipelineVsProtobufjsDecode}× protobufjs's decode rate`,
    `protobufjs decode alone ${k(p.protobufjsDecodeSpansPerSec)} spans/s (${p.protobufjsDecodeUsPerSpan} µs/span); wire decode alone ${k(p.wireDecodeSpansPerSec)} spans/s`,
    p.pipelineSpansPerSec >= 1e6 || p.pipelineVsProtobufjsDecode >= 3);
}
for (const [p, c] of [[proc, corpus], [procLean, corpusLean]]) {
  if (!p) continue;
  row(`n1-report --jobs 1 on ${p.pbMB} MB protobuf (${corpusName(c)}): CPU ≤ 0.6 × protobufjs decoding it`, `${p.reportPbCpuS.toFixed(2)} s CPU (ratio ${p.reportPbRatio})`, `protobufjs decode ${p.protobufjsDecodeCpuS.toFixed(2)} s CPU`, p.reportPbRatio <= 0.6);
  row(`n1-report --jobs 1 on the ${p.jsonlMB} MB JSON-lines form: CPU ≤ 1.2 × JSON.parse`, `${p.reportJsonCpuS.toFixed(2)} s CPU (ratio ${p.reportJsonRatio})`, `JSON.parse alone ${p.jsonParseCpuS.toFixed(2)} s CPU`, p.reportJsonRatio <= 1.2);
}
for (const [j, c] of [[jobs, corpus], [jobsLean, corpusLean]]) {
  if (!j) continue;
  // jobs.mjs names the speed-up over --jobs 1 pinned to one core (the issue's "1 → 2 cores") scalingFromOneCore.
  row(`n1-report --jobs ${j.jobs} (${corpusName(c)}): ≥ 1.8 × the one-core rate`, `${j.scalingFromOneCore}× (${j.many.wallS} s wall, ${j.many.cpuS} s CPU)`,
    `--jobs 1 on one core: ${j.oneCore.wallS} s wall, ${j.oneCore.cpuS} s CPU (on every core ${j.one.wallS} s); same JSON`, j.scalingFromOneCore >= 1.8);
}
if (serve) {
  const h = serve.http;
  const g = serve.grpc;
  row('`n1lens serve`, OTLP/HTTP protobuf, batches of 512, one core: ≥ 300,000 spans/s', `${k(h.acceptedSpansPerSec)} spans/s, p50 ${h.p50Ms} ms, p99 ${h.p99Ms} ms, peak RSS ${h.serverPeakRssMB} MB`,
    `server CPU ${Math.round(h.serverCpuUtil * 100)} % of a core, ${serve.inflight} exports in flight, ${h.refusedExports} refused`, h.acceptedSpansPerSec >= 300_000);
  if (g) row('`n1lens serve`, OTLP/gRPC (reported)', `${k(g.acceptedSpansPerSec)} spans/s, p50 ${g.p50Ms} ms, p99 ${g.p99Ms} ms, peak RSS ${g.serverPeakRssMB} MB`, `server CPU ${Math.round(g.serverCpuUtil * 100)} % of a core`, undefined);
}
if (sql) {
  row('SQL normaliser, raw text repeats (cache hits): ≥ 2M/s', `${k(sql.hitsPerSec)} statements/s`, `fresh string per call (hash included): ${k(sql.hitsFreshStringsPerSec)}/s; new request's sqlcommenter text: ${k(sql.newRequestSqlcommenterPerSec)}/s`, sql.hitsPerSec >= 2e6);
  row('SQL normaliser, cold: ≥ 500k/s', `${k(sql.coldPerSec)} statements/s`, `${sql.distinctShapes} Django statement shapes, ${sql.avgLength} chars on average; one-shot normalizeSql ${k(sql.coldOneShotPerSec)}/s`, sql.coldPerSec >= 5e5);
}
if (memory) {
  row('Memory: bytes per buffered span', `${memory.heapBytesPerBufferedSpan} B/span`, `${k(memory.bufferedSpans)} spans in ${memory.openTraces} open traces, heap after GC`, undefined);
  if (memory.reportLarge) {
    row(`Memory: peak RSS of n1-report on ${memory.reportLarge.inputMB} MB`, `${memory.reportLarge.peakRssMB} MB (${memory.reportLarge.cpuS} s CPU)`,
      memory.reportSmall ? `${memory.reportSmall.peakRssMB} MB on ${memory.reportSmall.inputMB} MB of input` : '', undefined);
  }
}

const model = cpus()[0]?.model ?? 'unknown';
let nproc = '';
try {
  nproc = execSync('nproc', { encoding: 'utf8' }).trim();
} catch {
  nproc = String(cpus().length);
}
const lines = [
  `Machine: ${nproc} cores (nproc), ${model}, Node ${process.version}.`,
  corpus ? `Corpus: ${corpus.spans} spans (${corpus.requests} requests: 1 server span + 10–300 DB spans each, ${corpus.dbSpans} DB spans), ${corpus.bytesPerSpan} bytes/span in protobuf, ${Math.round(corpus.pbBytes / 1e6)} MB protobuf / ${Math.round(corpus.jsonBytes / 1e6)} MB JSON lines.` : '',
  '',
  '| target | figure | measured against, same run | |',
  '|---|---|---|---|',
  ...rows,
];
if (phases) {
  lines.push('', `Where the time goes (µs per span, CPU incl. GC, ${phases.spans} spans): ` + Object.entries(phases.usPerSpan).map(([name, us]) => `${name} ${us}`).join(', ') + '.');
}
process.stdout.write(lines.join('\n') + '\n');
