#!/usr/bin/env node
/**
 * SQL normaliser throughput on the corpus's statements: cache hits (raw text repeats, the string
 * objects the decoder hands over), hits on fresh string copies (the JSON path, where every span's
 * statement is a new string that must be hashed), sqlcommenter statements of new requests (the
 * comment-stripped memo), and cold normalisation (no memo), also of 129 statements a real Django
 * app wrote (src/sql/testdata/django-statements.jsonl).
 *
 *   node bench/sql.mjs [--against <another build's dist/>]
 *
 * `--against` also measures the cold path of another build (e.g. main's, built in a worktree)
 * alternately with this one, round by round in the same process, on both statement sets, and
 * prints the ratio of the best rounds and the median ratio of paired rounds: on a shared machine
 * only such same-run ratios are steady.
 */
import { batches } from './corpus.mjs';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createSqlNormalizer, normalizeSql } from '../dist/sql/index.js';
import { decodeProtobufRequest } from '../dist/otlp/protobuf.js';
import { createWireDecoder } from '../dist/otlp/wire/decoder.js';

// Statements as the pipeline sees them: decoded from a few corpus batches.
const statements = [];
const decoder = createWireDecoder();
let k = 0;
for (const batch of batches()) {
  for (const s of decodeProtobufRequest(batch.pb, decoder).spans) if (s.dbStatement) statements.push(s.dbStatement);
  if (++k === 40) break;
}
const distinct = [...new Set(statements)];
// Distinct shapes once their sqlcommenter comment is cut: the work a cold normaliser really does.
const shapes = [...new Set(distinct.map((s) => s.replace(/ \/\*.*\*\/$/, '')))];

function rate(fn, n) {
  fn(Math.min(n, 20_000)); // warm up
  let best = Infinity;
  for (let r = 0; r < 3; r++) {
    const c0 = process.cpuUsage();
    fn(n);
    const c = process.cpuUsage(c0);
    best = Math.min(best, (c.user + c.system) / 1e6);
  }
  return Math.round(n / best);
}

// Statements a real Django app wrote (ORM and admin, recorded from PostgreSQL; see
// src/sql/testdata/README.md): the shapes beyond the corpus's, searches, DISTINCT, GROUP BY, subqueries.
const django = readFileSync(new URL('../src/sql/testdata/django-statements.jsonl', import.meta.url), 'utf8')
  .trim().split('\n').map((line) => JSON.parse(line));

// One normaliser per build, as an analyser keeps one: creating it (its scratch buffers and
// column-ref memo, ~80 µs) inside every ~1 ms round weighed ~15 % of the faster build's rounds.
const coldWith = (create, set) => {
  const normalize = create({ maxEntries: 0 });
  return (n) => {
    let x = 0;
    for (let i = 0; i < n; i++) x += normalize(set[i % set.length]).sql.length;
    return x;
  };
};

/**
 * This build and another on `set`, alternated in many short rounds (about a millisecond each,
 * every statement `times` times), timed in CPU time so that moments the process waits for a core
 * do not count. The best round of each build gives the rates, the median round this build's
 * typical rate; the median of the two builds' ratio round by round, which share the machine's
 * state of the moment, is the steadier comparison on a loaded machine.
 */
function alternate(other, set, times, rounds) {
  const runs = [coldWith(createSqlNormalizer, set), coldWith(other.createSqlNormalizer, set)];
  const best = [Infinity, Infinity];
  const mine = [];
  const ratios = [];
  for (const run of runs) run(20_000);
  const n = times * set.length;
  for (let r = 0; r < rounds; r++) {
    const took = runs.map((run, k) => {
      const c0 = process.cpuUsage();
      run(n);
      const c = process.cpuUsage(c0);
      const s = (c.user + c.system) / 1e6;
      best[k] = Math.min(best[k], s);
      return s;
    });
    if (took[0] > 0 && took[1] > 0) {
      ratios.push(took[1] / took[0]);
      mine.push(took[0]);
    }
  }
  ratios.sort((a, b) => a - b);
  mine.sort((a, b) => a - b);
  return {
    coldPerSec: Math.round(n / best[1]),
    thisBuildColdPerSec: Math.round(n / best[0]),
    thisBuildMedianRoundPerSec: Math.round(n / mine[mine.length >> 1]),
    speedUp: +(best[1] / best[0]).toFixed(2),
    medianRoundSpeedUp: +ratios[ratios.length >> 1].toFixed(2),
  };
}

// This build and another first, so that both builds' code has seen only cold calls (the memo
// benchmarks below feed this build other strings).
const againstAt = process.argv.indexOf('--against');
let against;
let againstDjango;
if (againstAt > 0) {
  const dir = resolve(process.argv[againstAt + 1] ?? '');
  const other = await import(pathToFileURL(`${dir}/sql/index.js`).href);
  against = { dist: dir, ...alternate(other, shapes, 4, 1_500) };
  againstDjango = alternate(other, django, 2, 800);
}

const hits = rate((n) => {
  const normalize = createSqlNormalizer();
  let x = 0;
  for (let i = 0; i < n; i++) x += normalize(statements[i % statements.length]).sql.length;
  return x;
}, 3_000_000);

// Fresh string objects with the same text: every lookup hashes the whole statement.
const copies = statements.map((s) => [...s].join(''));
const freshHits = rate((n) => {
  const normalize = createSqlNormalizer();
  let x = 0;
  for (let i = 0; i < n; i++) {
    const s = copies[i % copies.length];
    x += normalize(s.slice(0, 1) + s.slice(1)).sql.length;
  }
  return x;
}, 500_000);

// Every statement a new request's: the raw text is new, the comment-free shape is remembered.
const commented = shapes.map((s) => `${s} /*controller='x',db_driver='django.db.backends.postgresql',framework='django%%3A5.2.19',route='dashboard/',traceparent='00-`);
const newRequests = rate((n) => {
  const normalize = createSqlNormalizer();
  let x = 0;
  for (let i = 0; i < n; i++) x += normalize(`${commented[i % commented.length]}${(i * 2654435761 >>> 0).toString(16).padStart(32, '0')}-6dac102ca678c55c-01'*/`).sql.length;
  return x;
}, 300_000);

const cold = rate(coldWith(createSqlNormalizer, shapes), 200_000);
const coldDjango = rate(coldWith(createSqlNormalizer, django), 100_000);

const coldOneShot = rate((n) => {
  let x = 0;
  for (let i = 0; i < n; i++) x += normalizeSql(shapes[i % shapes.length]).sql.length;
  return x;
}, 100_000);

process.stdout.write(
  JSON.stringify({
    bench: 'sql',
    statements: statements.length,
    distinctRaw: distinct.length,
    distinctShapes: shapes.length,
    avgLength: Math.round(statements.reduce((n, s) => n + s.length, 0) / statements.length),
    shapesAvgLength: Math.round(shapes.reduce((n, s) => n + s.length, 0) / shapes.length),
    hitsPerSec: hits,
    hitsFreshStringsPerSec: freshHits,
    newRequestSqlcommenterPerSec: newRequests,
    coldPerSec: cold,
    djangoStatements: django.length,
    djangoAvgLength: Math.round(django.reduce((n, s) => n + s.length, 0) / django.length),
    coldDjangoPerSec: coldDjango,
    coldOneShotPerSec: coldOneShot,
    ...(against === undefined ? {} : { against, againstDjango }),
  }) + '\n',
);
