#!/usr/bin/env node
/** Baseline for bench/process.mjs: JSON.parse of every line of an OTLP/JSON lines file (streamed), nothing else. */
import { createReadStream } from 'node:fs';

let pending = Buffer.alloc(0);
let lines = 0;
let keys = 0;
for await (const chunk of createReadStream(process.argv[2], { highWaterMark: 1 << 20 })) {
  pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
  let at = 0;
  for (let nl = pending.indexOf(10, at); nl >= 0; nl = pending.indexOf(10, at)) {
    if (nl > at) {
      const value = JSON.parse(pending.toString('utf8', at, nl));
      keys += value.resourceSpans.length;
      lines++;
    }
    at = nl + 1;
  }
  pending = pending.subarray(at);
}
process.stderr.write(`JSON.parse read ${lines} lines\n`);
