/**
 * Against a real Zipkin server (scripts/zipkin.sh: Maven Central's zipkin-server jar on the machine's
 * Java, in-memory storage, loopback, a free port; one JVM for the whole file, as it takes seconds to
 * start): the bundled fixtures in Zipkin v2 JSON are posted to it with POST /api/v2/spans, then
 * - `n1-report --from <zipkin>` prints exactly what `n1-report` prints over the same Zipkin file;
 * - a search cut by Zipkin's limit pages backwards in time and never hands on a trace twice;
 * - --limit, a wrong --service and a URL that is not the API are as for Jaeger and Tempo;
 * - the README's Zipkin recipe runs as written (last: it stops the server).
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTraceSource, type PullStats } from '../src/otlp/pull/index.js';
import type { Report } from '../src/report/model.js';
import { startProxy } from './proxy-server.js';
import { findings } from './report-findings.js';
import { type BinRun, expectRefusal, root, runBin, tempDir } from './support.js';

const zipkinFile = join(root, 'src/otlp/testdata/fixtures.zipkin.json.gz');
const otlpFiles = [
  'samples/traces/recruit.jsonl.gz',
  'src/otlp/testdata/django-sqlite-old-semconv.jsonl',
  'src/otlp/testdata/django-sqlite-stable-semconv.jsonl',
  'src/otlp/testdata/collector-file-exporter.jsonl',
].map((f) => join(root, f));
const state = join(tempDir('zipkin-pull'), 'zipkin.env');
const execFileP = promisify(execFile);

/** n1-report with no proxy from this machine's environment (a test gives its own in `vars`). */
function run(args: string[], vars: Record<string, string> = {}): Promise<BinRun> {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
  for (const name of ['http_proxy', 'HTTP_PROXY', 'https_proxy', 'HTTPS_PROXY', 'no_proxy', 'NO_PROXY']) delete env[name];
  return runBin(args, { env: { ...env, ...vars } });
}

interface ZipkinSpan {
  traceId: string;
  timestamp: number;
}
const spans = JSON.parse(gunzipSync(readFileSync(zipkinFile)).toString('utf8')) as ZipkinSpan[];
const traceIds = new Set(spans.map((s) => s.traceId));
const startMs = Math.floor(Math.min(...spans.map((s) => s.timestamp)) / 1000) - 60_000;
const endMs = Math.ceil(Math.max(...spans.map((s) => s.timestamp)) / 1000) + 60_000;
const window = ['--start', new Date(startMs).toISOString(), '--end', new Date(endMs).toISOString()];

let zipkin = '';

beforeAll(async () => {
  // Downloads the jar on first use (scripts/test-all.sh does it before the suite).
  const { stdout } = await execFileP('bash', [join(root, 'scripts/zipkin.sh'), 'start'], { env: { ...process.env, N1LENS_ZIPKIN_STATE: state } });
  zipkin = /^ZIPKIN_URL=(.*)$/m.exec(stdout)![1]!;
  // As a Zipkin reporter sends them: a few hundred spans per POST.
  for (let i = 0; i < spans.length; i += 300) {
    const res = await fetch(`${zipkin}/api/v2/spans`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(spans.slice(i, i + 300)) });
    expect(res.status).toBe(202);
  }
  // Zipkin stores asynchronously; wait until every trace is searchable.
  const deadline = Date.now() + 30_000;
  for (;;) {
    const res = await fetch(`${zipkin}/api/v2/traces?serviceName=recruit&endTs=${endMs}&lookback=${endMs - startMs}&limit=1000`);
    const found = ((await res.json()) as unknown[]).length;
    if (found === traceIds.size) break;
    if (Date.now() > deadline) throw new Error(`Zipkin holds ${found} of ${traceIds.size} traces after 30 s`);
    await new Promise((r) => setTimeout(r, 200));
  }
}, 10 * 60_000);

afterAll(async () => {
  await execFileP('bash', [join(root, 'scripts/zipkin.sh'), 'stop'], { env: { ...process.env, N1LENS_ZIPKIN_STATE: state } }).catch(() => undefined);
});

describe('n1-report and a Zipkin server', () => {
  it('--from the running Zipkin prints exactly what n1-report prints over the posted Zipkin file, whose findings are the OTLP files\'', async () => {
    const [fromFile, fromOtlp, pulled] = await Promise.all([
      run([zipkinFile, '-f', 'json']),
      run([...otlpFiles, '-f', 'json']),
      run(['--from', zipkin, '--service', 'recruit', ...window, '-f', 'json']),
    ]);
    // The last line; a progress line may come first.
    expect(pulled.stderr.trim().split('\n').at(-1)).toBe(`n1-report: ${traceIds.size} traces fetched, ${traceIds.size} analysed (Zipkin API v2 at ${zipkin})`);
    expect(pulled.code).toBe(fromFile.code);
    expect(fromFile.code).toBe(1);
    expect(JSON.parse(pulled.stdout)).toEqual(JSON.parse(fromFile.stdout));
    expect(findings(JSON.parse(pulled.stdout) as Report)).toEqual(findings(JSON.parse(fromOtlp.stdout) as Report));
  });

  it('a search Zipkin\'s limit cuts pages backwards in time: every trace once, in searches of at most the page size', async () => {
    const searches: URLSearchParams[] = [];
    // The real fetch, watched: which searches the client made.
    const watched = ((input: string | URL | Request, init?: RequestInit) => {
      const url = new URL(String(input));
      if (url.pathname === '/api/v2/traces') searches.push(url.searchParams);
      return fetch(input, init);
    }) as typeof fetch;
    const source = await openTraceSource(new URL(zipkin), { headers: {}, pageSize: 7, fetch: watched });
    expect(source.api).toBe('Zipkin API v2');
    const stats: PullStats = { fetched: 0, failed: 0, failures: [] };
    const handedOn: string[] = [];
    for await (const batch of source.traces({ service: 'recruit', startMs, endMs, limit: 1000 }, stats)) {
      const ids = new Set(batch.spans.map((s) => s.traceId));
      expect(ids.size).toBe(1);
      handedOn.push(...ids);
    }
    expect(stats).toMatchObject({ fetched: traceIds.size, failed: 0 });
    expect(handedOn.length).toBe(traceIds.size);
    expect(new Set(handedOn)).toEqual(traceIds);
    // The first search asked for the whole window and came back full; the later ones split it.
    expect(searches.length).toBeGreaterThan(traceIds.size / 7);
    expect(searches[0]!.get('endTs')).toBe(String(endMs));
    expect(searches[0]!.get('lookback')).toBe(String(endMs - startMs));
    expect(searches.every((s) => s.get('limit') === '7' && s.get('serviceName') === 'recruit')).toBe(true);
  });

  it('--limit caps the traces pulled, and --service may be left out (every service)', async () => {
    const r = await run(['--from', zipkin, ...window, '--limit', '5', '-f', 'json']);
    expect(r.stderr).toContain(`n1-report: 5 traces fetched, 5 analysed (Zipkin API v2 at ${zipkin})\n`);
    expect(JSON.parse(r.stdout).summary.requests).toBeGreaterThanOrEqual(5);
  });

  it('behind a proxy and its sign-in: HTTP_PROXY carries every request, with the URL\'s user:password as basic auth, and the report is the direct one', async () => {
    const host = 'zipkin.internal.invalid';
    const proxy = await startProxy(new Map([[host, Number(new URL(zipkin).port)]]));
    try {
      const args = ['--service', 'recruit', ...window, '-f', 'json'];
      const [direct, proxied] = await Promise.all([
        run(['--from', zipkin, ...args]),
        run(['--from', `http://me:p%40ss@${host}:9411`, ...args], { HTTP_PROXY: proxy.url }),
      ]);
      expect(proxied.stderr.trim().split('\n').at(-1)).toBe(`n1-report: ${traceIds.size} traces fetched, ${traceIds.size} analysed (Zipkin API v2 at http://${host}:9411)`);
      expect(proxied.stdout).toBe(direct.stdout);
      expect(proxy.seen).toContain(`GET http://${host}:9411/api/v2/services`);
      expect(proxy.seen.some((s) => s.startsWith(`GET http://${host}:9411/api/v2/traces?`))).toBe(true);
      expect(new Set(proxy.authorizations)).toEqual(new Set([`Basic ${Buffer.from('me:p@ss').toString('base64')}`]));
      // --header wins over the URL's credentials, as for Jaeger and Tempo.
      proxy.authorizations.length = 0;
      const bearer = await run(['--from', `http://me:p%40ss@${host}:9411`, '--header', 'Authorization: Bearer t0ken', ...args, '--limit', '2'], { HTTP_PROXY: proxy.url });
      expect(bearer.stderr).toContain('n1-report: 2 traces fetched, 2 analysed (Zipkin API v2');
      expect(new Set(proxy.authorizations)).toEqual(new Set(['Bearer t0ken']));
    } finally {
      await proxy.close();
    }
  });

  it('the UI\'s URL (/zipkin/) is the API\'s too, and a service name in capitals is found (Zipkin keeps them in lower case)', async () => {
    const r = await run(['--from', `${zipkin}/zipkin/`, '--service', 'Recruit', ...window, '--limit', '3', '-f', 'json']);
    expect(r.stderr).toContain(`n1-report: 3 traces fetched, 3 analysed (Zipkin API v2 at ${zipkin}/zipkin)\n`);
  });

  it.each([
    ['a service Zipkin does not know', () => ['--from', zipkin, '--service', 'billing', ...window], /Zipkin has no service "billing" \(it has: recruit\)$/],
    ['a URL that is none of the APIs', () => ['--from', `${zipkin}/nothing`, ...window], /\/nothing: not a Jaeger query API, Tempo or Zipkin \(no answer to GET \/api\/v3\/services, \/api\/services, \/api\/echo or \/api\/v2\/services\); give the query service's base URL, e.g\. http:\/\/jaeger:16686, http:\/\/tempo:3200 or http:\/\/zipkin:9411$/],
    ['no traces in the window', () => ['--from', zipkin, '--service', 'recruit', '--start', '2020-01-01T00:00:00Z', '--end', '2020-01-02T00:00:00Z'], /no traces of service "recruit" in .* check --service and --since\/--start$/],
  ])('%s: one line, exit 2', async (_name, args, message) => {
    expectRefusal(await run(args()), message);
  });

  it('the README\'s Zipkin recipe runs as written: the report of the posted fixtures, then Zipkin stopped', async () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const recipe = /```sh\n(eval "\$\(bash scripts\/zipkin\.sh start\)"[\s\S]*?)```/.exec(readme)?.[1];
    expect(recipe).toBeDefined();
    // `start` answers with the server this file started (same state file), which the recipe posts to and stops.
    const { stdout, stderr } = await execFileP('bash', ['-c', recipe!], { cwd: root, env: { ...process.env, NO_COLOR: '1', N1LENS_ZIPKIN_STATE: state } });
    expect(stdout).toMatch(/^n1lens · 43 requests · [\d,]+ DB queries · 9 findings/);
    expect(stderr).toContain(`n1-report: ${traceIds.size} traces fetched, ${traceIds.size} analysed (Zipkin API v2 at ${zipkin})`);
    expect(existsSync(state)).toBe(false);
  }, 300_000);
});
