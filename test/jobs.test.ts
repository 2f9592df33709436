/**
 * n1-report --jobs N prints the report --jobs 1 prints, byte for byte, on every fixture and the
 * bundled recording: traces split across threads, each shard's rollups merged exactly.
 * N1LENS_JOBS_MIN_BYTES=0 starts the workers even for small files; N1LENS_JOBS_RANGE_BYTES makes an
 * uncompressed JSON-lines file's byte ranges (each read by one thread) small enough for many of them.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { shardOfTraceId } from '../src/otlp/shard.js';
import { root, tempDir } from './support.js';
import type { Report } from '../src/report/model.js';

const testdata = join(root, 'src/otlp/testdata');
const recording = join(root, 'samples/traces/recruit.jsonl.gz');
const schema = join(root, 'samples/traces/recruit-schema.json');
const dir = tempDir('jobs');

function report(args: string[], jobs: number, input?: Buffer, rangeBytes?: number, env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [join(root, 'bin/n1-report.js'), '-f', 'json', '--jobs', String(jobs), ...args], {
    input,
    env: { ...process.env, N1LENS_JOBS_MIN_BYTES: '0', ...(rangeBytes === undefined ? {} : { N1LENS_JOBS_RANGE_BYTES: String(rangeBytes) }), ...env },
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/**
 * --jobs 2 and 3 (protobuf walked by every shard), 4 (protobuf read apart, frame by frame), and for
 * JSON lines read by range, ranges shorter than most lines and a few lines long.
 */
const SPLITS = [{ jobs: 2 }, { jobs: 3 }, { jobs: 4 }, { jobs: 3, rangeBytes: 4096 }, { jobs: 2, rangeBytes: 20_000 }];

/** Three recordings as one length-delimited protobuf file. */
function severalFrames(): Buffer {
  return Buffer.concat([
    readFileSync(join(testdata, 'django-sqlite-old-semconv.otlp.pb')),
    readFileSync(join(testdata, 'django-sqlite-stable-semconv.otlp.pb')),
    readFileSync(join(testdata, 'collector-file-exporter.binpb')),
  ]);
}

function expectSameAsOneJob(args: string[], input?: Buffer): void {
  const one = report(args, 1, input);
  expect(one.stderr).toBe('');
  for (const { jobs, rangeBytes } of SPLITS) expect(report(args, jobs, input, rangeBytes), `--jobs ${jobs} ranges ${rangeBytes} ${args.join(' ')}`).toEqual(one);
}

const fixtures = readdirSync(testdata)
  .filter((name) => /\.(jsonl|pb|binpb|json|gz)$/.test(name))
  .map((name) => join(testdata, name));

/**
 * JSON lines of `count` one-query requests whose traces all go to shard 0 of 4, each opened by its
 * DB span in the first half of the file and given its request span in the second: all open at once.
 */
function openAtOnce(name: string, count: number): string {
  const ids: string[] = [];
  for (let k = 1; ids.length < count; k++) {
    const id = k.toString(16).padStart(8, '0').repeat(4);
    if (shardOfTraceId(id, 4) === 0) ids.push(id);
  }
  const ns = (ms: number) => String(1795613022540000000n + BigInt(ms) * 1000000n);
  const sid = (i: number, k: number) => (i + 1).toString(16).padStart(12, '0') + k.toString(16).padStart(4, '0');
  const str = (key: string, v: string) => ({ key, value: { stringValue: v } });
  const server = (traceId: string, i: number) => ({ traceId, spanId: sid(i, 0), name: 'GET dashboard/', kind: 2, startTimeUnixNano: ns(i), endTimeUnixNano: ns(i + 10), attributes: [str('http.method', 'GET'), str('http.route', 'dashboard/')] });
  const db = (traceId: string, i: number) => ({ traceId, spanId: sid(i, 1), parentSpanId: sid(i, 0), name: 'SELECT', kind: 3, startTimeUnixNano: ns(i + 1), endTimeUnixNano: ns(i + 2), attributes: [str('db.system', 'postgresql'), str('db.statement', 'SELECT * FROM t WHERE id = 1')] });
  const lines: string[] = [];
  for (const make of [db, server]) {
    for (let i = 0; i < ids.length; i += 1000) {
      lines.push(JSON.stringify({ resourceSpans: [{ resource: { attributes: [str('service.name', 'svc')] }, scopeSpans: [{ spans: ids.slice(i, i + 1000).map((id, j) => make(id, i + j)) }] }] }));
    }
  }
  const file = join(dir, name);
  writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

describe('n1-report --jobs', () => {
  it.each(fixtures)('gives the --jobs 1 report on %s', (file) => {
    expectSameAsOneJob([file]);
  });

  it('gives the --jobs 1 report on the bundled recording, with and without the schema, and from stdin', () => {
    expectSameAsOneJob([recording]);
    expectSameAsOneJob(['--schema', schema, recording]);
    expectSameAsOneJob(['-'], readFileSync(recording));
  }, 120_000);

  it('lists the same unseen routes, with the requests they set aside, as --jobs 1 does', () => {
    // applications/submit/ answered 405 each time: no use of the route, set aside in whichever shard.
    const refused = gunzipSync(readFileSync(recording)).toString('utf8').replaceAll('"key":"http.status_code","value":{"intValue":"201"', '"key":"http.status_code","value":{"intValue":"405"');
    const file = join(dir, 'refused.jsonl');
    writeFileSync(file, refused);
    const args = ['--schema', schema, '--list-unseen', '--max-findings', '1000', file];
    expectSameAsOneJob(args);
    const submit = (JSON.parse(report(args, 3).stdout) as Report).serviceFindings?.find((f) => f.subject === 'applications/submit/');
    expect(submit?.deadView?.setAsideRequests).toBe(3);
  }, 120_000);

  it('gives the --jobs 1 report when JSON lines the lazy reader gives up interleave with lines it reads', () => {
    // Every third line in snake_case: JSON.parse + json.ts decode it whole, the others go through the lazy reader.
    const lines = gunzipSync(readFileSync(recording)).toString('utf8').split('\n').filter((l) => l.trim() !== '');
    const mixed = join(dir, 'mixed.jsonl');
    writeFileSync(mixed, lines.map((l, i) => (i % 3 === 2 ? l.replace(/"traceId"/g, '"trace_id"') : l)).join('\n') + '\n');
    expectSameAsOneJob([mixed]);
    expect(report([mixed], 2).stdout).toBe(report([recording], 1).stdout.replaceAll(recording, mixed));
    // A wrong value type in one span's attribute: the shard owning the span reads them and fails;
    // the others only check them as JSON. The error is --jobs 1's.
    const damaged = join(dir, 'damaged-attribute.jsonl');
    const at = lines.findIndex((l, i) => i > 3 && l.includes('{"stringValue":"postgresql"}'));
    writeFileSync(damaged, lines.map((l, i) => (i === at ? l.replace('{"stringValue":"postgresql"}', '{"stringValue":{"x":1}}') : l)).join('\n') + '\n');
    const one = report([damaged], 1);
    expect(one.code).toBe(2);
    expect(one.stderr).toContain(`line ${at + 1}`);
    for (const { jobs, rangeBytes } of SPLITS) expect(report([damaged], jobs, undefined, rangeBytes)).toEqual(one);
  }, 120_000);

  it('gives the --jobs 1 report, and its errors, when a JSON-lines file is read by byte range: blank lines, CRLF, no final newline', () => {
    const lines = gunzipSync(readFileSync(recording)).toString('utf8').split('\n').filter((l) => l.trim() !== '');
    const file = join(dir, 'ranges.jsonl');
    // Blank lines (which are no unit) between and at the end, CRLF endings on some, the last line unterminated.
    writeFileSync(file, lines.map((l, i) => (i % 4 === 1 ? `${l}\r\n\n  \n` : `${l}\n`)).join('').trimEnd());
    expectSameAsOneJob([file]);
    // A line that is not JSON in the middle: its number, counted by reading the file from its start, is --jobs 1's.
    const bad = join(dir, 'ranges-bad.jsonl');
    writeFileSync(bad, lines.map((l, i) => (i === 17 ? l.slice(0, l.length / 2) : l)).join('\n\n') + '\n');
    const one = report([bad], 1);
    expect(one.code).toBe(2);
    expect(one.stderr).toContain('line 35');
    for (const { jobs, rangeBytes } of SPLITS) expect(report([bad], jobs, undefined, rangeBytes), `--jobs ${jobs} ranges ${rangeBytes}`).toEqual(one);
    // A byte order mark before the first line, which the ranges then start at: read, and its error reported.
    const bom = join(dir, 'ranges-bom.jsonl');
    writeFileSync(bom, `\ufeff${lines.join('\n')}\n`);
    expectSameAsOneJob([bom]);
    const bomBad = join(dir, 'ranges-bom-bad.jsonl');
    writeFileSync(bomBad, `\ufeff{"resourceSpans": 5}\n${lines.join('\n')}\n`);
    const bomOne = report([bomBad], 1);
    expect(bomOne.stderr).toContain('line 1: resourceSpans is not an array');
    for (const { jobs, rangeBytes } of SPLITS) expect(report([bomBad], jobs, undefined, rangeBytes), `--jobs ${jobs} ranges ${rangeBytes}`).toEqual(bomOne);
    // Files joined with cat, each starting with a byte order mark: the marks at the start of later lines are skipped too.
    const half = Math.floor(lines.length / 2);
    const joined = join(dir, 'ranges-joined.jsonl');
    writeFileSync(joined, `\ufeff${lines.slice(0, half).join('\n')}\n\ufeff${lines.slice(half).join('\n')}\n`);
    expectSameAsOneJob([joined]);
    const joinedBad = join(dir, 'ranges-joined-bad.jsonl');
    writeFileSync(joinedBad, `${readFileSync(joined, 'utf8')}\ufeff{"resourceSpans": 5}\n`);
    const joinedOne = report([joinedBad], 1);
    expect(joinedOne.stderr).toContain(`line ${lines.length + 1}: resourceSpans is not an array`);
    for (const { jobs, rangeBytes } of SPLITS) expect(report([joinedBad], jobs, undefined, rangeBytes), `--jobs ${jobs} ranges ${rangeBytes}`).toEqual(joinedOne);
  }, 180_000);

  it('gives the --jobs 1 report when JSON lines hold refused spans and spans naming their trace twice', () => {
    // Another shard's span is read no further than its trace id, so the span clock and each span's
    // index count refused spans too, in lines read lazily and in lines decoded whole alike.
    const lines = gunzipSync(readFileSync(recording)).toString('utf8').split('\n').filter((l) => l.trim() !== '');
    const traceIds = [...new Set(lines.join('\n').match(/"traceId":"[0-9a-f]{32}"/g))];
    expect(traceIds.length).toBeGreaterThan(4);
    const edited = lines.map((line, i) => {
      let ids = 0;
      let ends = 0;
      // The second span's id zeroed, the fourth's end before its start: both refused.
      let out = line.replace(/"spanId":"[0-9a-f]{16}"/g, (id) => (++ids === 2 ? '"spanId":"0000000000000000"' : id));
      out = out.replace(/"endTimeUnixNano":"[0-9]+"/g, (end) => (++ends === 4 ? '"endTimeUnixNano":"1"' : end));
      if (i % 5 === 4) out = out.replace(/"traceId"/g, '"trace_id"'); // decoded whole (JSON.parse + json.ts)
      // One span names a second trace (the last one counts, as JSON.parse reads it): every shard decodes the line whole.
      if (i === 7) out = out.replace(/"traceId":"[0-9a-f]{32}"/, (first) => `${first},${traceIds[3]}`);
      return out;
    });
    expect(edited.join('\n')).toContain('"endTimeUnixNano":"1"');
    const file = join(dir, 'refused.jsonl');
    writeFileSync(file, edited.join('\n') + '\n');
    expectSameAsOneJob([file]);
  }, 120_000);

  it('counts spans once across overlapping files of different formats, as --jobs 1 does', () => {
    expectSameAsOneJob([
      join(testdata, 'django-sqlite-old-semconv.jsonl'),
      join(testdata, 'django-sqlite-old-semconv.otlp.pb'),
      join(testdata, 'fixtures.zipkin.json.gz'),
      recording,
      recording,
    ]);
  }, 60_000);

  it('gives the --jobs 1 report when one shard holds every open trace: the memory it may keep is what decides, not a count of traces', () => {
    // 12,501 traces open at once: a quarter of the 50,000 open traces --jobs 1 once kept, which a shard of 4 then had.
    const file = openAtOnce('open-at-once.jsonl', 12_501);
    const one = report([file], 1);
    expect(one.stderr).toBe('');
    expect(JSON.parse(one.stdout).summary.requests).toBe(12_501);
    expect(report([file], 4)).toEqual(one);
  }, 60_000);

  it('says in one line on stderr how many traces it analysed early, past the memory it keeps for open traces, whatever --jobs', () => {
    const file = openAtOnce('evicting.jsonl', 2000);
    // N1LENS_OPEN_BYTES lowers that memory (256 MiB) to ~300 of these traces.
    const env = { N1LENS_OPEN_BYTES: String(500_000) };
    for (const jobs of [1, 4]) {
      const r = report([file], jobs, undefined, undefined, env);
      expect(r.code, `--jobs ${jobs}`).toBe(0);
      expect(r.stderr).toMatch(/^n1-report: \d+ traces were analysed without waiting for the rest of their spans: more traces were open at once than n1-report keeps in memory, .* \(e\.g\. the Collector's groupbytrace processor\)\n$/);
      const evicted = Number(/(\d+) traces/.exec(r.stderr)![1]);
      expect(evicted).toBeGreaterThan(1000);
      // An evicted trace's request span came after it went, and was left out: its DB span was analysed
      // alone (a trace evicted once its request span came was whole).
      const json = JSON.parse(r.stdout) as { endpoints: { endpoint: string; requests: number }[] };
      const requests = new Map(json.endpoints.map((e) => [e.endpoint, e.requests]));
      expect(requests.get('(no request span)')).toBeGreaterThan(evicted - 10);
      expect(requests.get('(no request span)')).toBeLessThanOrEqual(evicted);
      expect(requests.get('(no request span)')! + requests.get('GET dashboard/')!).toBe(2000);
    }
    expect(report([file], 1, undefined, undefined, { N1LENS_OPEN_BYTES: String(64 * 1024 * 1024) }).stderr).toBe('');
  }, 60_000);

  it('reports the error --jobs 1 reports when a message is damaged past the first shard', () => {
    // Damage a span attribute in the last message: one shard reads it, the others skip it unread.
    const damaged = Buffer.from(readFileSync(join(testdata, 'django-sqlite-old-semconv.otlp.pb')));
    const at = damaged.lastIndexOf(Buffer.from('db.statement'));
    expect(damaged[at - 1]).toBe('db.statement'.length);
    damaged[at - 1] = 0x7f; // the key's length: now runs past its KeyValue
    const file = join(dir, 'damaged.pb');
    writeFileSync(file, damaged);
    const one = report([file], 1);
    expect(one.code).toBe(2);
    expect(one.stderr).toMatch(/damaged\.pb: message at byte \d+: invalid OTLP protobuf/);
    for (const jobs of [2, 3, 4]) expect(report([file], jobs)).toEqual(one);
  });

  // One test per damaged file: each runs n1-report six times (--jobs 1 and every split), which took
  // more than one test's 30 s for all five files on a loaded 2-core machine.
  const damagedFiles: [string, () => Buffer][] = [
    ['truncated.pb', () => {
      const pb = readFileSync(join(testdata, 'django-sqlite-stable-semconv.otlp.pb'));
      return pb.subarray(0, pb.length - 10);
    }],
    // Length-delimited files read frame by frame: a later frame cut short, and one announcing more than the limit.
    ['truncated-later.pb', () => {
      const frames = severalFrames();
      return frames.subarray(0, frames.length - 10);
    }],
    ['huge-prefix.pb', () => Buffer.concat([severalFrames(), Buffer.from([0xff, 0xff, 0xff, 0xf0, 1, 2, 3])])],
    ['short-prefix.pb', () => Buffer.concat([severalFrames(), Buffer.from([0, 0])])],
    ['bad.jsonl', () => Buffer.from(readFileSync(join(testdata, 'django-sqlite-old-semconv.jsonl'), 'utf8').trimEnd() + '\n{"resourceSpans": [\n')],
  ];
  it.each(damagedFiles)('reports the error --jobs 1 reports for a damaged file (%s), after the units before it', (name, bytes) => {
    const file = join(dir, name);
    writeFileSync(file, bytes());
    const one = report([file], 1);
    expect(one.code).toBe(2);
    for (const { jobs, rangeBytes } of SPLITS) expect(report([file], jobs, undefined, rangeBytes)).toEqual(one);
  });

  it('reports a missing file as --jobs 1 does', () => {
    const one = report([recording, join(dir, 'missing.jsonl')], 1);
    expect(one.code).toBe(2);
    expect(one.stderr).toContain('missing.jsonl');
    expect(report([recording, join(dir, 'missing.jsonl')], 2)).toEqual(one);
  });

  it('refuses a byte-range size that is not a whole number ≥ 1 in one line, rather than reading nothing', () => {
    for (const bad of ['abc', '-5', '0', '']) {
      const r = report([join(testdata, 'django-sqlite-old-semconv.jsonl')], 2, undefined, bad as unknown as number);
      expect(r.code, bad).toBe(2);
      expect(r.stderr).toBe(`n1-report: N1LENS_JOBS_RANGE_BYTES must be a whole number ≥ 1 (got "${bad}")\n`);
    }
  });

  it('refuses --jobs 0', () => {
    const r = report([recording], 0);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--jobs must be a whole number ≥ 1');
  });
});
