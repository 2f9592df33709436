/**
 * Zipkin v2 JSON made from the bundled OTLP fixtures by the OpenTelemetry Collector's own Zipkin
 * translator (src/otlp/testdata/gen-zipkin.go; Jaeger serves no Zipkin format to fetch it from)
 * gives the findings the OTLP files give.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Report } from '../src/report/model.js';
import { findings } from './report-findings.js';

const root = new URL('..', import.meta.url).pathname;
const otlp = [
  'samples/traces/recruit.jsonl.gz',
  'src/otlp/testdata/django-sqlite-old-semconv.jsonl',
  'src/otlp/testdata/django-sqlite-stable-semconv.jsonl',
  'src/otlp/testdata/collector-file-exporter.jsonl',
].map((f) => join(root, f));
const zipkin = join(root, 'src/otlp/testdata/fixtures.zipkin.json.gz');

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
