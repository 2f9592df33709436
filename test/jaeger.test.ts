/**
 * Against a real Jaeger v2 (scripts/jaeger.sh: built from the Go module proxy, in-memory storage,
 * loopback, free ports): the bundled fixtures are exported to it over OTLP/HTTP, then
 * - `n1-report --from <jaeger>` prints exactly what `n1-report <files>` prints;
 * - the classic /api/traces client, and Jaeger JSON files fetched from Jaeger's own API (the
 *   search response, per-trace documents, gzip), give the same findings.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OfflineAnalysis } from '../src/analyzer.js';
import { openTraceSource, type PullStats } from '../src/otlp/pull/index.js';
import { buildReport, renderJson } from '../src/report/index.js';
import type { Report } from '../src/report/model.js';
import { findings } from './report-findings.js';
import { root, runBin } from './support.js';

const fixtures = [
  'samples/traces/recruit.jsonl.gz',
  'src/otlp/testdata/django-sqlite-old-semconv.jsonl',
  'src/otlp/testdata/django-sqlite-stable-semconv.jsonl',
  'src/otlp/testdata/collector-file-exporter.jsonl',
].map((f) => join(root, f));
const dir = mkdtempSync(join(tmpdir(), 'n1lens-jaeger-e2e-'));
const state = join(dir, 'jaeger.env');
const execFileP = promisify(execFile);


/** Every line of every fixture: one OTLP/JSON ExportTraceServiceRequest each. */
const requests = fixtures.flatMap((f) => {
  const bytes = readFileSync(f);
  return (f.endsWith('.gz') ? gunzipSync(bytes) : bytes).toString('utf8').split('\n').filter((l) => l.trim() !== '');
});
const traceIds = new Set(requests.flatMap((l) => [...l.matchAll(/"traceId":"([0-9a-f]{32})"/g)].map((m) => m[1]!)));
const starts = requests.flatMap((l) => [...l.matchAll(/"startTimeUnixNano":"(\d+)"/g)].map((m) => Number(BigInt(m[1]!) / 1_000_000n)));
const startMs = Math.min(...starts) - 60_000;
const endMs = Math.max(...starts) + 60_000;
const window = ['--start', new Date(startMs).toISOString(), '--end', new Date(endMs).toISOString()];

let query = '';

beforeAll(async () => {
  // Builds Jaeger on first use (scripts/test-all.sh builds it before the suite).
  const { stdout } = await execFileP('bash', [join(root, 'scripts/jaeger.sh'), 'start'], {
    env: { ...process.env, N1LENS_JAEGER_STATE: state },
    maxBuffer: 16 * 1024 * 1024,
  });
  const env = Object.fromEntries(stdout.split('\n').filter((l) => l.includes('=')).map((l) => l.split('=', 2) as [string, string]));
  query = env.JAEGER_QUERY!;
  for (const body of requests) {
    const res = await fetch(`${env.JAEGER_OTLP_HTTP}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    expect(res.status).toBe(200);
  }
  // The batch processor writes within 100 ms; wait until every trace is searchable.
  const deadline = Date.now() + 30_000;
  for (;;) {
    const res = await fetch(`${query}/api/traces?service=recruit&start=${startMs * 1000}&end=${endMs * 1000}&limit=1000`);
    const found = ((await res.json()) as { data: unknown[] | null }).data?.length ?? 0;
    if (found === traceIds.size) break;
    if (Date.now() > deadline) throw new Error(`Jaeger holds ${found} of ${traceIds.size} traces after 30 s`);
    await new Promise((r) => setTimeout(r, 200));
  }
}, 50 * 60_000);

afterAll(async () => {
  await execFileP('bash', [join(root, 'scripts/jaeger.sh'), 'stop'], { env: { ...process.env, N1LENS_JAEGER_STATE: state } }).catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
});

describe('n1-report and Jaeger v2', () => {
  it('--from the running Jaeger prints exactly what n1-report prints over the exported files', async () => {
    const fromFiles = await runBin([...fixtures, '-f', 'json']);
    const pulled = await runBin(['--from', query, '--service', 'recruit', ...window, '-f', 'json']);
    expect(pulled.stderr).toContain(`n1-report: ${traceIds.size} traces fetched, ${traceIds.size} analysed (Jaeger query API v3 (OTLP)`);
    expect(pulled.code).toBe(fromFiles.code);
    expect(fromFiles.code).toBe(1);
    expect(JSON.parse(pulled.stdout)).toEqual(JSON.parse(fromFiles.stdout));
  });

  it('pages: a small page size still pulls every trace once', async () => {
    const source = await openTraceSource(new URL(query), { headers: {}, pageSize: 7 });
    const stats: PullStats = { fetched: 0, failed: 0, failures: [] };
    const seen = new Set<string>();
    for await (const batch of source.traces({ service: 'recruit', startMs, endMs, limit: 1000 }, stats)) for (const s of batch.spans) seen.add(s.traceId);
    expect(stats).toMatchObject({ fetched: traceIds.size, failed: 0 });
    expect(seen).toEqual(traceIds);
  });

  it('the classic /api/traces client gives the same findings', async () => {
    const source = await openTraceSource(new URL(query), { headers: {}, apis: ['jaeger-v1'], pageSize: 10 });
    expect(source.api).toContain('/api/traces');
    const stats: PullStats = { fetched: 0, failed: 0, failures: [] };
    const offline = new OfflineAnalysis();
    for await (const batch of source.traces({ service: 'recruit', startMs, endMs, limit: 1000 }, stats)) offline.add(batch.spans);
    expect(stats).toMatchObject({ fetched: traceIds.size, failed: 0 });
    const pulled = JSON.parse(renderJson(buildReport(offline.finish().values(), {}))) as Report;
    const fromFiles = JSON.parse((await runBin([...fixtures, '-f', 'json', '--min-repeats', '5'])).stdout) as Report;
    expect(findings(pulled)).toEqual(findings(fromFiles));
  });

  it('Jaeger JSON files fetched from its API (search response, per-trace documents, gzip) give the same findings', async () => {
    const search = await fetch(`${query}/api/traces?service=recruit&start=${startMs * 1000}&end=${endMs * 1000}&limit=1000`);
    const body = await search.text();
    const file = join(dir, 'jaeger-search.json');
    writeFileSync(file, body);
    writeFileSync(`${file}.gz`, gzipSync(body));
    const perTrace: string[] = [];
    for (const id of traceIds) perTrace.push(await (await fetch(`${query}/api/traces/${id}?prettyPrint=true`)).text());
    const traces = join(dir, 'jaeger-traces.json');
    writeFileSync(traces, perTrace.join('\n'));

    const expected = findings(JSON.parse((await runBin([...fixtures, '-f', 'json'])).stdout) as Report);
    for (const f of [file, `${file}.gz`, traces]) {
      const r = await runBin([f, '-f', 'json']);
      expect(r.stderr).toBe('');
      expect(findings(JSON.parse(r.stdout) as Report)).toEqual(expected);
    }
  });
});
