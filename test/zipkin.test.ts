/**
 * Zipkin v2 JSON made from the bundled OTLP fixtures by the OpenTelemetry Collector's own Zipkin
 * translator (src/otlp/testdata/gen-zipkin.go; Jaeger serves no Zipkin format to fetch it from)
 * gives the findings the OTLP files give.
 */
import { execFile } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Report } from '../src/report/model.js';
import { findings } from './report-findings.js';
import { root, tempDir } from './support.js';

const otlp = [
  'samples/traces/recruit.jsonl.gz',
  'src/otlp/testdata/django-sqlite-old-semconv.jsonl',
  'src/otlp/testdata/django-sqlite-stable-semconv.jsonl',
  'src/otlp/testdata/collector-file-exporter.jsonl',
].map((f) => join(root, f));
const zipkin = join(root, 'src/otlp/testdata/fixtures.zipkin.json.gz');

const dir = tempDir('zipkin');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function report(files: string[]): Promise<{ code: number; report: Report; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [join(root, 'bin/n1-report.js'), ...files, '-f', 'json'], { maxBuffer: 256 * 1024 * 1024 }, (error, stdout, stderr) => {
      resolve({ code: error ? Number(error.code ?? 1) : 0, report: JSON.parse(stdout || 'null') as Report, stderr });
    });
  });
}

describe('Zipkin v2 JSON', () => {
  it('the Collector-translated fixtures give the same findings as the OTLP files', async () => {
    const [fromOtlp, fromZipkin] = await Promise.all([report(otlp), report([zipkin])]);
    expect(fromZipkin.stderr).toBe('');
    expect(fromZipkin.code).toBe(fromOtlp.code);
    expect(fromZipkin.report.summary.findings).toBeGreaterThan(0);
    expect(findings(fromZipkin.report)).toEqual(findings(fromOtlp.report));
  });
});

/** A Django request in Zipkin JSON: a server span, the query that lists rows, and one lookup per row (6: an N+1). */
const TRACE = 'a3ce929d0e0e4736';
const US = 1_700_000_000_000_000;
const TRIGGER = 'SELECT "a"."id", "a"."c_id" FROM "a" WHERE "a"."j" = 1';
const lookup = (i: number) => `SELECT "c"."id" FROM "c" WHERE "c"."id" = ${i} LIMIT 21`;
const spanId = (i: number) => (0xc00 + i).toString(16).padStart(16, '0');

describe('Zipkin JSON n1-report cannot take as it is', () => {
  it('Zipkin v1 (annotations, binaryAnnotations) is refused with exit 2 and one line, not "0 DB queries, 0 findings" with exit 0', async () => {
    const ep = { serviceName: 'recruit', ipv4: '10.0.0.1' };
    const spans: object[] = [
      { traceId: TRACE, id: '00000000000000b2', name: 'get dashboard/', timestamp: US, duration: 18000, annotations: [{ timestamp: US, value: 'sr', endpoint: ep }, { timestamp: US + 18000, value: 'ss', endpoint: ep }], binaryAnnotations: [{ key: 'http.method', value: 'GET', endpoint: ep }, { key: 'http.route', value: 'dashboard/', endpoint: ep }] },
    ];
    for (let i = 0; i < 7; i++) {
      const t = US + 100 + i * 1000;
      spans.push({ traceId: TRACE, id: spanId(i), parentId: '00000000000000b2', name: 'select', timestamp: t, duration: 500, annotations: [{ timestamp: t, value: 'cs', endpoint: ep }, { timestamp: t + 500, value: 'cr', endpoint: ep }], binaryAnnotations: [{ key: 'db.system', value: 'postgresql', endpoint: ep }, { key: 'db.statement', value: i === 0 ? TRIGGER : lookup(i), endpoint: ep }] });
    }
    const file = join(dir, 'zipkin-v1.json');
    writeFileSync(file, JSON.stringify(spans));
    const r = await report([file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^n1-report: .*zipkin-v1\.json: element 0 of the top-level array is a Zipkin v1 span .*\/api\/v2\/traces.*\n$/);
  });

  it('one incomplete v2 span (no timestamp, as the spec allows) is left out, not the whole file', async () => {
    const spans: object[] = [
      { traceId: TRACE, id: '00000000000000b2', kind: 'SERVER', name: 'GET dashboard/', timestamp: US, duration: 18000, localEndpoint: { serviceName: 'recruit' }, tags: { 'http.method': 'GET', 'http.route': 'dashboard/' } },
    ];
    for (let i = 0; i < 7; i++) {
      spans.push({ traceId: TRACE, id: spanId(i), parentId: '00000000000000b2', kind: 'CLIENT', name: 'SELECT', timestamp: US + 100 + i * 1000, duration: 500, localEndpoint: { serviceName: 'recruit' }, tags: { 'db.system': 'postgresql', 'db.statement': i === 0 ? TRIGGER : lookup(i) } });
    }
    spans.push({ traceId: '00000000000000000000000000000abc', id: '0000000000000abc', kind: 'CLIENT', name: 'get', localEndpoint: { serviceName: 'frontend' } });
    const file = join(dir, 'zipkin-incomplete.json');
    writeFileSync(file, JSON.stringify(spans));
    const r = await report([file]);
    expect(r.stderr).toBe('');
    expect(r.report.summary).toMatchObject({ requests: 1, dbSpans: 7, findings: 1 });
  });
});
