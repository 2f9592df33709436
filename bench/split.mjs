#!/usr/bin/env node
/**
 * A protobuf splitter (otlp/split.ts, what `serve --workers N` runs on the serving thread for every
 * protobuf export) against the wire decoder's scanTraces on the same messages, in the same run:
 * the first messages of the bench corpus (bench/corpus.mjs: 4-byte big-endian length, then the
 * message), each measure alternated with the others round by round, best of the rounds. One JSON line.
 *
 *   npm run build && node bench/split.mjs [/tmp/n1lens-bench/corpus.pb] [--messages 200] [--rounds 5]
 */
import { existsSync, openSync, readSync, closeSync } from 'node:fs';

const args = process.argv.slice(2);
const flag = (name, fallback) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : fallback);
const file = args.find((a, i) => !a.startsWith('--') && (i === 0 || !args[i - 1].startsWith('--'))) ?? '/tmp/n1lens-bench/corpus.pb';
const count = flag('--messages', 200);
const rounds = flag('--rounds', 5);

if (!existsSync(file)) {
  console.log(JSON.stringify({ skipped: `no corpus at ${file} (node bench/corpus.mjs --out /tmp/n1lens-bench/corpus --spans 500000)` }));
  process.exit(0);
}
const { createProtobufSplitter } = await import('../dist/otlp/split.js');
const splitProtobufExport = createProtobufSplitter();
const { createWireDecoder } = await import('../dist/otlp/wire/decoder.js');

/** The first `count` messages, read frame by frame (the corpus is hundreds of MB). */
function firstMessages(path, max) {
  const fd = openSync(path, 'r');
  const messages = [];
  try {
    const head = Buffer.alloc(4);
    let at = 0;
    while (messages.length < max && readSync(fd, head, 0, 4, at) === 4) {
      const n = head.readUInt32BE(0);
      const body = Buffer.allocUnsafe(n);
      if (readSync(fd, body, 0, n, at + 4) !== n) break;
      messages.push(body);
      at += 4 + n;
    }
  } finally {
    closeSync(fd);
  }
  return messages;
}

const messages = firstMessages(file, count);
const bytes = messages.reduce((n, m) => n + m.length, 0);
const decoder = createWireDecoder();
let sink = 0;
const measures = {
  split2: () => {
    for (const m of messages) sink += splitProtobufExport(m, 2).length;
  },
  split4: () => {
    for (const m of messages) sink += splitProtobufExport(m, 4).length;
  },
  scanTraces: () => {
    for (const m of messages) sink += decoder.scanTraces(m).spans;
  },
};
const best = Object.fromEntries(Object.keys(measures).map((k) => [k, Infinity]));
for (const run of Object.values(measures)) run(); // warm-up
for (let r = 0; r < rounds; r++) {
  for (const [name, run] of Object.entries(measures)) {
    const t0 = process.hrtime.bigint();
    run();
    best[name] = Math.min(best[name], Number(process.hrtime.bigint() - t0) / 1e9);
  }
}
const spans = messages.reduce((n, m) => n + decoder.scanTraces(m).spans, 0);
const figures = (seconds) => ({ usPerMessage: +((seconds * 1e6) / messages.length).toFixed(1), mbPerSecond: +(bytes / 1e6 / seconds).toFixed(0) });
console.log(
  JSON.stringify({
    file,
    messages: messages.length,
    mb: +(bytes / 1e6).toFixed(1),
    spans,
    rounds,
    split2: figures(best.split2),
    split4: figures(best.split4),
    scanTraces: figures(best.scanTraces),
    split4OverScan: +(best.split4 / best.scanTraces).toFixed(2),
    node: process.version,
    sink: sink > 0,
  }),
);
