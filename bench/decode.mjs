#!/usr/bin/env node
/**
 * The wire decoder alone as `n1-report` drives it (`WireDecoder.decodeTo`, one decoder per file),
 * into a sink that only folds what it is handed into a checksum: CPU per span, in process, the
 * corpus in memory. With `--ab <other dist>` the two builds are alternated round by round (both
 * orders) and must hand the sink the same values.
 *
 *   node bench/decode.mjs /tmp/corpora/django.pb [--rounds 10]
 *   node bench/decode.mjs /tmp/corpora/django.pb --ab /tmp/base-main/dist [--rounds 20]
 *   node --cpu-prof bench/decode.mjs /tmp/corpora/django.pb --rounds 30   (a profile of the steady state)
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { framedMessages } from './messages.mjs';

const path = process.argv[2] ?? '/tmp/corpora/django.pb';
const arg = (name, fallback) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : fallback);
const rounds = Number(arg('--rounds', 10));
const other = arg('--ab', undefined);

const file = readFileSync(path);
const messages = framedMessages(file);

/** A string's contribution to the checksum: its length and two of its characters (the decoder's strings are interned, so this stays cheap). */
const mix = (h, s) => (s === undefined ? Math.imul(h ^ 7, 31) : Math.imul(h ^ s.length ^ (s.charCodeAt(0) << 8) ^ (s.charCodeAt(s.length - 1) << 16), 0x9e3779b1) >>> 0);

class ChecksumSink {
  spans = 0;
  records = 0;
  h = 0;
  dbSpan({ traceId, spanIdHi: hi, spanIdLo: lo, parentSpanId: parent, startMs, endMs, system, statement, comment, service, location }) {
    this.spans++;
    let h = this.h;
    h = mix(h, traceId);
    h = Math.imul(h ^ hi ^ (lo << 1), 0x85ebca6b) >>> 0;
    h = mix(h, parent);
    h = Math.imul(h ^ (startMs | 0) ^ ((endMs * 1000) | 0), 0xc2b2ae35) >>> 0;
    h = mix(mix(mix(mix(h, system), statement), comment), service);
    if (location !== undefined) h = mix(mix(h, location.function), location.file);
    this.h = h;
  }
  span(r) {
    this.records++;
    let h = this.h;
    h = mix(mix(mix(mix(h, r.traceId), r.spanId), r.parentSpanId), r.name);
    h = Math.imul(h ^ r.kind ^ (r.startMs | 0) ^ ((r.endMs * 1000) | 0), 0xc2b2ae35) >>> 0;
    h = mix(mix(mix(mix(h, r.service), r.httpRoute), r.dbStatement), r.peer);
    this.h = h;
  }
}

const load = async (dist) => (await import(pathToFileURL(resolve(dist, 'otlp/wire/decoder.js')).href)).createWireDecoder;

function run(createWireDecoder) {
  const decoder = createWireDecoder();
  const sink = new ChecksumSink();
  let accepted = 0;
  for (const m of messages) accepted += decoder.decodeTo(m, sink).accepted;
  return { accepted, spans: sink.spans, records: sink.records, h: sink.h };
}

function cpu(fn) {
  const c0 = process.cpuUsage();
  const result = fn();
  const c = process.cpuUsage(c0);
  return { s: (c.user + c.system) / 1e6, result };
}

const median = (xs) => {
  const s = [...xs].sort((x, y) => x - y);
  return (s[(s.length - 1) >> 1] + s[s.length >> 1]) / 2;
};
const load1 = () => +(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);

const here = await load(new URL('../dist', import.meta.url).pathname);
if (other === undefined) {
  const times = [];
  let result;
  for (let r = 0; r < rounds; r++) {
    const m = cpu(() => run(here));
    times.push(m.s);
    result = m.result;
  }
  const spans = result.accepted;
  process.stdout.write(
    JSON.stringify({
      bench: 'decode', corpus: path, ...result,
      usPerSpanBest: +((Math.min(...times) / spans) * 1e6).toFixed(3),
      usPerSpanMedian: +((median(times.slice(1)) / spans) * 1e6).toFixed(3),
      load: load1(),
    }) + '\n',
  );
} else {
  const variants = { a: await load(other), b: here };
  const times = { a: [], b: [] };
  const results = {};
  const loads = [];
  for (let r = 0; r < rounds; r++) {
    for (const k of r % 2 === 0 ? ['a', 'b'] : ['b', 'a']) {
      const m = cpu(() => run(variants[k]));
      times[k].push(m.s);
      results[k] ??= m.result;
    }
    loads.push(load1());
  }
  if (JSON.stringify(results.a) !== JSON.stringify(results.b)) throw new Error(`A and B handed over different spans: ${JSON.stringify(results)}`);
  const spans = results.a.accepted;
  const us = (s) => +((s / spans) * 1e6).toFixed(3);
  // The first two rounds warm both builds up and are left out of the medians.
  const pairs = times.b.slice(2).map((b, i) => b / times.a[i + 2]);
  process.stdout.write(
    JSON.stringify({
      bench: 'decode-ab', corpus: path, spans, rounds,
      aUsPerSpanBest: us(Math.min(...times.a)), bUsPerSpanBest: us(Math.min(...times.b)),
      aUsPerSpanMedian: us(median(times.a.slice(2))), bUsPerSpanMedian: us(median(times.b.slice(2))),
      bOverABest: +(Math.min(...times.b) / Math.min(...times.a)).toFixed(3),
      bOverAPairedMedian: +median(pairs).toFixed(3),
      load: [Math.min(...loads), Math.max(...loads)],
    }) + '\n',
  );
}
