#!/usr/bin/env node
/**
 * Baseline for bench/process.mjs: protobufjs merely decoding every message of a length-delimited
 * OTLP protobuf file (streamed in 1 MiB chunks, as n1-report reads it), nothing else.
 */
import { createReadStream } from 'node:fs';
import { otlpSchema } from '../dist/otlp/schema.js';

const type = otlpSchema().ExportTraceServiceRequest;
let pending = Buffer.alloc(0);
let messages = 0;
let spans = 0;
for await (const chunk of createReadStream(process.argv[2], { highWaterMark: 1 << 20 })) {
  pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
  let at = 0;
  while (pending.length - at >= 4) {
    const n = pending.readUInt32BE(at);
    if (pending.length - at - 4 < n) break;
    const request = type.decode(pending.subarray(at + 4, at + 4 + n));
    for (const rs of request.resourceSpans) for (const ss of rs.scopeSpans) spans += ss.spans.length;
    messages++;
    at += 4 + n;
  }
  pending = pending.subarray(at);
}
process.stderr.write(`protobufjs decoded ${messages} messages, ${spans} spans\n`);
