#!/usr/bin/env node
/**
 * What serve's flow allocates and promotes per span, in process: protobuf messages decoded into
 * the Analyzer's open traces on a virtual clock (100k spans/s), polled every 250 ms with the trace
 * wait of 2 s, each poll's traces analysed 2,000 spans at a time, the analyses held until a write,
 * their rows built as they come and the timelines no example can show let go, as serve's intake
 * does. The corpus is passed several times with its trace ids re-stamped per pass (new traces each
 * time).
 * Each run is a child process under `--trace-gc-nvp`; figures are sums over the GCs of the measured
 * passes (after two warm-up passes): V8's `allocated`, `promoted`, `new_space_survived`, pause
 * times, and the CPU per span. With `--ab <checkout>`, runs of this checkout's dist and the other's
 * alternate. `--hold-ms` (default 1000): the held analyses are written once the oldest poll's are
 * that old (every 1.25 s by default). `--trace-wait-ms` (default 2000) and `--spans-per-s`
 * (default 100k): the trace wait and the virtual clock's rate, which together set how many spans
 * the open traces hold. `--sites N`: also the N functions that
 * allocated most per span over the measured passes, each with its caller (V8's sampling heap
 * profiler, counting objects whatever collected them; steady within a few bytes between runs; the
 * run's CPU and GC figures then include the profiler's). `--surviving`: with --sites, only objects
 * no scavenge collected (promoted, or in the young generation at a mark-compact).
 *
 *   node bench/churn.mjs /tmp/corpora/django.pb [--ab /tmp/base-main] [--runs 3] [--passes 6] [--sites 20 [--surviving]] [--node-flags '--single-threaded-gc']
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { framedMessages } from './messages.mjs';

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? fallback : process.argv[i + 1];
};
const corpus = process.argv[2] ?? '/tmp/corpora/django.pb';
const here = resolve(dirname(fileURLToPath(import.meta.url)), '..');

if (process.argv.includes('--child')) await child(arg('child'), Number(arg('passes', 6)), Number(arg('hold-ms', 1000)), Number(arg('trace-wait-ms', 2000)), Number(arg('spans-per-s', 100_000)), Number(arg('sites', 0)), process.argv.includes('--surviving'));
else parent();

async function child(root, passes, holdMs, traceWaitMs, spansPerS, sites, surviving) {
  const { Analyzer } = await import(pathToFileURL(`${root}/dist/analyzer.js`).href);
  const { RowBatchBuilder } = await import(pathToFileURL(`${root}/dist/store/rows.js`).href);
  // Builds before releaseTimeline (the twentieth session's) hold every analysis whole; a build needs RowBatchBuilder (29a4cf3 on).
  const release = (await import(pathToFileURL(`${root}/dist/detect/request.js`).href)).releaseTimeline ?? (() => {});
  const { createWireDecoder } = await import(pathToFileURL(`${root}/dist/otlp/wire/decoder.js`).href);
  const { decodeProtobufRequest } = await import(pathToFileURL(`${root}/dist/otlp/protobuf.js`).href);
  const { batchStamper } = await import(pathToFileURL(`${here}/bench/stamp.mjs`).href);
  // The intake's parts, from this checkout: a build before it analysed each poll whole.
  const { inParts } = await import(pathToFileURL(`${here}/dist/analyzer.js`).href);
  const file = readFileSync(corpus);
  const counter = createWireDecoder();
  const source = [];
  for (const message of framedMessages(file)) {
    const pb = Buffer.from(message);
    source.push({ pb, spans: decodeProtobufRequest(pb, counter).spans });
  }
  // The stamper's offsets of every trace id; the bytes are re-stamped in place, no copy per message.
  const templates = batchStamper(source, source.length).templates;
  for (const s of source) s.spans = s.spans.length;
  const analyzer = new Analyzer({ traceWaitMs });
  const decoder = createWireDecoder();
  let now = 0;
  let nextTick = 250;
  const held = [];
  let rows;
  let analysed = 0;
  let spans = 0;
  let cpu0;
  const session = sites > 0 ? new (await import('node:inspector/promises')).Session() : undefined;
  session?.connect();
  for (let pass = 1; pass <= 2 + passes; pass++) {
    if (pass === 3) {
      await session?.post('HeapProfiler.startSampling', { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: !surviving });
      console.log('CHURN-START');
      cpu0 = process.cpuUsage();
      spans = 0;
    }
    const delta = ((pass * 0x9e3779b1) ^ ((pass - 1) * 0x9e3779b1)) >>> 0;
    for (const t of templates) {
      for (const at of t.ids) t.pb.writeUInt32LE((t.pb.readUInt32LE(at) ^ delta) >>> 0, at);
      analyzer.addMessage(decoder, t.pb, (accepted) => (now += (accepted * 1000) / spansPerS));
      spans += t.spans;
      while (now >= nextTick) {
        // A tick analyses a part at a time, taking each part's analyses as it goes (as the intake
        // does), then writes once a write is due: what was held goes with it.
        rows ??= new RowBatchBuilder(nextTick, 0);
        const analyses = [];
        for (const traces of inParts(analyzer.assembler.poll(nextTick))) {
          const part = analyzer.analyse(traces);
          for (const a of rows.add(part) ?? []) release(a);
          analyses.push(...part);
        }
        analysed += analyses.length;
        held.push({ at: nextTick, analyses });
        if (held[0].at <= nextTick - holdMs) {
          held.length = 0;
          rows = undefined;
        }
        nextTick += 250;
      }
    }
  }
  const cpu = process.cpuUsage(cpu0);
  console.log('CHURN-END');
  const bySite = session === undefined ? undefined : allocationSites((await session.post('HeapProfiler.getSamplingProfile')).profile, spans, sites);
  console.log(JSON.stringify({ spans, analysed, cpuUsPerSpan: (cpu.user + cpu.system) / spans, ...(bySite === undefined ? {} : { sites: bySite }) }));
}

/** The `top` functions of a sampling heap profile by bytes they allocated per span, each with its caller. */
function allocationSites(profile, spans, top) {
  const bytes = new Map();
  const walk = (node, caller) => {
    const f = node.callFrame;
    const site = `${f.functionName || '(anonymous)'} ${f.url.split('/').pop()}:${f.lineNumber + 1}`;
    const key = `${site} < ${caller}`;
    if (node.selfSize > 0) bytes.set(key, (bytes.get(key) ?? 0) + node.selfSize);
    for (const c of node.children) walk(c, site);
  };
  walk(profile.head, '');
  return [...bytes].sort((a, b) => b[1] - a[1]).slice(0, top).map(([site, b]) => [+(b / spans).toFixed(1), site]);
}

function run(root) {
  const flags = (arg('node-flags') ?? '').split(' ').filter((f) => f !== '');
  const r = spawnSync(process.execPath, ['--trace-gc-nvp', ...flags, fileURLToPath(import.meta.url), corpus, '--child', root, '--sites', arg('sites', '0'), ...(process.argv.includes('--surviving') ? ['--surviving'] : []), '--passes', arg('passes', '6'), '--hold-ms', arg('hold-ms', '1000'), '--trace-wait-ms', arg('trace-wait-ms', '2000'), '--spans-per-s', arg('spans-per-s', '100000')], {
    encoding: 'utf8',
    maxBuffer: 1 << 30,
  });
  if (r.status !== 0) throw new Error(r.stderr);
  const lines = r.stdout.split('\n');
  const from = lines.indexOf('CHURN-START');
  const to = lines.indexOf('CHURN-END');
  // The result's line, past any GC line the profile's fetch printed.
  const result = JSON.parse(lines.slice(to + 1).find((line) => line.startsWith('{')));
  const sum = { allocated: 0, promoted: 0, survived: 0, scavenges: 0, scavengeMs: 0, markMs: 0, marks: 0 };
  for (const line of lines.slice(from + 1, to)) {
    const field = (name) => Number(line.match(new RegExp(` ${name}=([0-9.]+)`))?.[1] ?? 0);
    const kind = line.match(/ gc=(\w+)/)?.[1];
    if (kind === undefined) continue;
    sum.allocated += field('allocated');
    sum.promoted += field('promoted');
    sum.survived += field('new_space_survived');
    if (kind === 's') {
      sum.scavenges++;
      sum.scavengeMs += field('pause');
    } else {
      sum.marks++;
      sum.markMs += field('pause');
    }
  }
  const per = (v) => Math.round(v / result.spans);
  return {
    allocatedB: per(sum.allocated),
    promotedB: per(sum.promoted),
    survivedB: per(sum.survived),
    scavengesPer100k: +((sum.scavenges * 1e5) / result.spans).toFixed(1),
    scavengeUs: +((sum.scavengeMs * 1000) / result.spans).toFixed(3),
    markUs: +((sum.markMs * 1000) / result.spans).toFixed(3),
    cpuUs: +result.cpuUsPerSpan.toFixed(3),
    analysed: result.analysed,
    ...(result.sites === undefined ? {} : { sites: result.sites }),
  };
}

function parent() {
  const other = arg('ab');
  const runs = Number(arg('runs', 3));
  const builds = other === undefined ? [['this', here]] : [['this', here], ['other', other]];
  const results = Object.fromEntries(builds.map(([name]) => [name, []]));
  for (let i = 0; i < runs; i++) {
    for (const [name, root] of i % 2 === 0 ? builds : [...builds].reverse()) {
      const r = run(root);
      results[name].push(r);
      console.log(JSON.stringify({ run: i, build: name, load: readFileSync('/proc/loadavg', 'utf8').split(' ')[0], ...r }));
    }
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  for (const [name] of builds) {
    const rs = results[name];
    const out = {};
    // Sites are a list per run, with no median: the first run's.
    for (const key of Object.keys(rs[0])) out[key] = key === 'sites' ? rs[0].sites : median(rs.map((r) => r[key]));
    console.log(JSON.stringify({ build: name, median: out }));
  }
}
