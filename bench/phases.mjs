#!/usr/bin/env node
/**
 * Where the pipeline's time goes, stage by stage, on the in-memory corpus: decode only; decode +
 * buffer into traces; the analysis of the completed traces (assemble, normalise, detect), straight
 * from the traces' columns as the Analyzer does it (no DbSpan objects); roll-up.
 * Each stage's figure is CPU time per span, GC included (allocation is a stage's cost too).
 *
 *   node bench/phases.mjs /tmp/n1lens-bench/corpus.pb
 */
import { readFileSync } from 'node:fs';
import { Analyzer, OfflineAnalysis } from '../dist/analyzer.js';
import { RollupSet } from '../dist/detect/rollup.js';
import { decodeProtobufRequest } from '../dist/otlp/protobuf.js';
import { createWireDecoder } from '../dist/otlp/wire/decoder.js';
import { assembleColumns } from '../dist/traces/compact.js';
import { analyseColumns } from '../dist/detect/request.js';
import { createSqlNormalizer } from '../dist/sql/index.js';
import { framedMessages } from './messages.mjs';

const path = process.argv[2] ?? '/tmp/n1lens-bench/corpus.pb';
const file = readFileSync(path);
const messages = framedMessages(file);

function cpu(fn) {
  const c0 = process.cpuUsage();
  const r = fn();
  const c = process.cpuUsage(c0);
  return [(c.user + c.system) / 1e6, r];
}

const best = (fn, k = 3) => {
  let out;
  for (let i = 0; i < k; i++) {
    const r = cpu(fn);
    if (out === undefined || r[0] < out[0]) out = r;
  }
  return out;
};

const [decodeS, spans] = best(() => {
  const decoder = createWireDecoder();
  let n = 0;
  for (const m of messages) n += decodeProtobufRequest(m, decoder).spans.length;
  return n;
});

const [bufferS, traces] = best(() => {
  // As n1-report buffers them: decoded straight into the open traces' columns (Analyzer.addMessage, traces/compact.ts).
  // Measured against decoding to records, so the difference also credits the records this feed never makes.
  const decoder = createWireDecoder();
  const analyzer = new Analyzer({ traceWaitMs: 200_000, maxTraceAgeMs: Infinity, maxOpenTraces: 1e9 });
  for (const m of messages) analyzer.addMessage(decoder, m, () => 0);
  return analyzer.assembler.flush();
});

const [assembleS, requests] = best(() => traces.flatMap((t) => assembleColumns(t.spans)));
const [normalizeS] = best(() => {
  const normalize = createSqlNormalizer({ maxEntries: 10_000 });
  let n = 0;
  for (const r of requests) for (const j of r.dbOrder) n += normalize(r.db.dbStatements[j]).sql.length;
  return n;
});
let analyses;
const [detectS] = best(() => {
  const normalize = createSqlNormalizer({ maxEntries: 10_000 });
  analyses = requests.map((r) => analyseColumns(r, normalize, { minRepeats: 5 }));
  return analyses.length;
});
const [rollupS] = best(() => {
  const rollups = new RollupSet();
  for (const a of analyses) rollups.add(a);
  return rollups;
});
const [allS] = best(() => {
  const offline = new OfflineAnalysis({ minRepeats: 5 });
  const decoder = createWireDecoder();
  for (const m of messages) offline.addMessage(decoder, m);
  const rollups = offline.finish();
  return rollups;
});

const us = (s) => +((s / spans) * 1e6).toFixed(3);
process.stdout.write(
  JSON.stringify({
    bench: 'phases',
    spans,
    traces: traces.length,
    requests: requests.length,
    usPerSpan: {
      decode: us(decodeS),
      bufferIntoTraces: us(bufferS - decodeS),
      assemble: us(assembleS),
      normaliseLookups: us(normalizeS),
      detectInclNormalise: us(detectS),
      rollup: us(rollupS),
      wholePipeline: us(allS),
    },
  }) + '\n',
);
