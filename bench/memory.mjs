#!/usr/bin/env node --expose-gc
/**
 * Memory: heap bytes (ArrayBuffers included) per buffered span (spans decoded from the corpus and held by the Analyzer as
 * open traces, measured after full GCs; decoded into the columns as n1-report does, and fed as records as serve does), and, with `--report <file>`, the peak RSS of `n1-report`
 * on a file, next to a run on a file a tenth of its size: memory bounded by open traces, not input.
 *
 *   node --expose-gc bench/memory.mjs /tmp/n1lens-bench/corpus.pb [--report /tmp/n1lens-bench/big.pb --small /tmp/n1lens-bench/corpus.pb]
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Analyzer } from '../dist/analyzer.js';
import { decodeProtobufRequest } from '../dist/otlp/protobuf.js';
import { createWireDecoder } from '../dist/otlp/wire/decoder.js';

if (typeof gc !== 'function') throw new Error('run with node --expose-gc');
const arg = (name) => {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? undefined : process.argv[i + 1];
};
const path = process.argv[2] ?? '/tmp/n1lens-bench/corpus.pb';
const limit = 200_000;

const counter = createWireDecoder();
const file = readFileSync(path);
const messages = [];
for (let at = 0, spans = 0; at + 4 <= file.length && spans < limit; ) {
  const n = file.readUInt32BE(at);
  const m = file.subarray(at + 4, at + 4 + n);
  messages.push(m);
  spans += decodeProtobufRequest(m, counter).spans.length;
  at += 4 + n;
}

/** Heap bytes plus ArrayBuffer backing stores (typed-array columns live outside the JS heap). */
function heap() {
  for (let i = 0; i < 3; i++) gc();
  const m = process.memoryUsage();
  return { heap: m.heapUsed, arrayBuffers: m.arrayBuffers };
}

// Nothing completes: every span stays buffered in its open trace. Two feeds: protobuf messages
// decoded straight into the columns (Analyzer.addMessage, what n1-report does), and records
// (Analyzer.add, what `n1lens serve`'s intake does after its admission checks).
function buffer(warm, feed) {
  // The decoder's memo tables (a few MiB and their strings, however many spans) are filled before
  // the first figure, by a pass of the same kind.
  const decoder = createWireDecoder();
  for (const m of messages) warm(decoder, m);
  const analyzer = new Analyzer({ traceWaitMs: Infinity, maxTraceAgeMs: Infinity, maxOpenTraces: 1e9 });
  const before = heap();
  let buffered = 0;
  for (const m of messages) buffered += feed(analyzer, decoder, m);
  const after = heap();
  const figures = {
    bufferedSpans: buffered,
    openTraces: analyzer.assembler.openTraces,
    // Both parts: the JS heap, and the ArrayBuffers typed arrays keep outside it.
    bytesPerSpan: Math.round((after.heap + after.arrayBuffers - before.heap - before.arrayBuffers) / buffered),
    ofWhichArrayBuffers: Math.round((after.arrayBuffers - before.arrayBuffers) / buffered),
  };
  analyzer.flush();
  return figures;
}
const columns = buffer((decoder, m) => decoder.decodeTo(m, { dbSpan() {}, span() {} }), (analyzer, decoder, m) => analyzer.addMessage(decoder, m, () => 0).batch.accepted);
const records = buffer((decoder, m) => decoder.decode(m), (analyzer, decoder, m) => {
  const batch = decodeProtobufRequest(m, decoder);
  analyzer.add(batch.spans, 0);
  return batch.spans.length;
});
const result = {
  bench: 'memory',
  bufferedSpans: columns.bufferedSpans,
  openTraces: columns.openTraces,
  heapBytesPerBufferedSpan: columns.bytesPerSpan,
  ofWhichArrayBuffers: columns.ofWhichArrayBuffers,
  recordFeedBytesPerBufferedSpan: records.bytesPerSpan,
};

function peakRss(file) {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const r = spawnSync('/usr/bin/time', ['-f', '%M %U %S', process.execPath, 'bin/n1-report.js', '--format', 'json', file], { cwd: root, encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.status !== 0 && r.status !== 1) throw new Error(r.stderr);
  const [kb, user, sys] = r.stderr.trim().split('\n').pop().split(' ').map(Number);
  return { inputMB: Math.round(statSync(file).size / 1e6), peakRssMB: Math.round(kb / 1024), cpuS: +(user + sys).toFixed(2) };
}
const big = arg('report');
if (big !== undefined) {
  result.reportLarge = peakRss(big);
  const small = arg('small');
  if (small !== undefined) result.reportSmall = peakRss(small);
}
process.stdout.write(JSON.stringify(result) + '\n');
