/** `n1-report --from` and `n1lens digest --from` as a user runs them: against a Tempo-shaped loopback server, and every way a pull can go wrong. */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { readFileSync, writeFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeTempo, type FakeTempo } from '../src/otlp/pull/testing.js';
import { djangoRequest, jsonLines, type OtlpJsonRequest, type OtlpJsonSpan } from '../src/otlp/testing.js';
import { type BinRun, expectRefusal, root, runBin, tempDir } from './support.js';

const sample = join(root, 'samples/traces/recruit.jsonl.gz');

const run = (args: string[], bin = 'n1-report'): Promise<BinRun> => runBin(args, { bin });

/** The sample's export requests regrouped one trace per request, root span first, as Tempo stores them. */
function tracesOf(requests: OtlpJsonRequest[]): OtlpJsonRequest[] {
  const byTrace = new Map<string, { resource: OtlpJsonRequest['resourceSpans'][0]['resource']; spans: OtlpJsonSpan[] }>();
  for (const request of requests) {
    for (const rs of request.resourceSpans) {
      for (const ss of rs.scopeSpans) {
        for (const span of ss.spans) {
          const entry = byTrace.get(span.traceId) ?? { resource: rs.resource, spans: [] };
          entry.spans.push(span);
          byTrace.set(span.traceId, entry);
        }
      }
    }
  }
  return [...byTrace.values()].map(({ resource, spans }) => ({
    resourceSpans: [{ resource, scopeSpans: [{ spans: spans.sort((a, b) => Number(BigInt(a.startTimeUnixNano) - BigInt(b.startTimeUnixNano))) }] }],
  })) as OtlpJsonRequest[];
}

const sampleRequests = gunzipSync(readFileSync(sample)).toString('utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as OtlpJsonRequest);
const sampleTraces = tracesOf(sampleRequests);
const startsMs = sampleTraces.map((t) => Number(BigInt(t.resourceSpans[0]!.scopeSpans[0]!.spans[0]!.startTimeUnixNano) / 1_000_000n));
const window = ['--start', new Date(Math.min(...startsMs) - 60_000).toISOString(), '--end', new Date(Math.max(...startsMs) + 60_000).toISOString()];
const auth = ['--header', 'Authorization: Bearer secret'];

let tempo: FakeTempo;
let notFound: Server;
let notFoundUrl: string;
/** A sign-in proxy in front of the query service: every path redirects to its login page. */
let signIn: Server;
let signInUrl: string;
beforeAll(async () => {
  tempo = await startFakeTempo(sampleTraces);
  notFound = createServer((_req, res) => res.writeHead(404, { 'content-type': 'text/plain' }).end('404 page not found'));
  await new Promise<void>((resolve) => notFound.listen(0, '127.0.0.1', resolve));
  notFoundUrl = `http://127.0.0.1:${(notFound.address() as AddressInfo).port}`;
  signIn = createServer((req, res) => {
    if (req.url?.startsWith('/oauth2/sign_in') === true) res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end('<!doctype html><title>Sign in</title>');
    else res.writeHead(302, { location: '/oauth2/sign_in?rd=%2F' }).end();
  });
  await new Promise<void>((resolve) => signIn.listen(0, '127.0.0.1', resolve));
  signInUrl = `http://127.0.0.1:${(signIn.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await tempo.close();
  await new Promise<void>((resolve) => signIn.close(() => resolve()));
  await new Promise<void>((resolve) => notFound.close(() => resolve()));
});

describe('n1-report --from', () => {
  it('pulled from Tempo, the sample gives the report n1-report gives over the file', async () => {
    const fromFile = await run([sample, '-f', 'json']);
    const pulled = await run(['--from', tempo.url, ...auth, '--service', 'recruit', ...window, '-f', 'json']);
    expect(pulled.stderr).toMatch(/n1-report: 33 traces fetched, 33 analysed \(Tempo/);
    expect(pulled.code).toBe(fromFile.code);
    expect(JSON.parse(pulled.stdout)).toEqual(JSON.parse(fromFile.stdout));
  });

  it('n1lens digest --from builds the same digest as from the file', async () => {
    const fromFile = await run(['digest', sample, '--dry-run'], 'n1lens');
    const pulled = await run(['digest', '--from', tempo.url, ...auth, '--service', 'recruit', ...window, '--dry-run'], 'n1lens');
    expect(pulled.code).toBe(0);
    // The pull covers the window searched (a minute either side of the requests here), named as pulled traces.
    const range = (from: number, to: number) => `${new Date(from).toISOString().slice(0, 16).replace('T', ' ')} → ${new Date(to).toISOString().slice(11, 16)} UTC`;
    expect(pulled.stdout).toContain(range(Math.min(...startsMs) - 60_000, Math.max(...startsMs) + 60_000));
    expect(pulled.stdout).toContain('n1lens digest: recruit · pulled traces');
    // Otherwise only the source differs: file names vs the URL.
    const same = (text: string) => text.replace(/\d{4}-\d\d-\d\d \d\d:\d\d → (\d{4}-\d\d-\d\d )?\d\d:\d\d UTC/g, 'RANGE').replaceAll('pulled traces', 'trace files');
    expect(same(pulled.stdout.replaceAll(tempo.url, 'SRC'))).toEqual(same(fromFile.stdout.replaceAll(sample, 'SRC')));
  });

  it('n1lens digest --from a window with no traces posts "No requests in this period" for the window, not an error', async () => {
    const r = await run(['digest', '--from', tempo.url, ...auth, '--service', 'recruit', '--start', '2020-01-01T00:00:00Z', '--end', '2020-01-02T00:00:00Z', '--dry-run'], 'n1lens');
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/n1lens digest: 0 traces fetched, 0 analysed \(Tempo/);
    const text = JSON.stringify(JSON.parse(r.stdout));
    expect(text).toContain('*No requests in this period.*');
    expect(text).toContain('2020-01-01 00:00 → 2020-01-02 00:00 UTC');
    expect(text).toContain('0 requests analysed');
  });

  it('a Celery task (root CONSUMER span) is pulled too, and --start/--end in nanoseconds or microseconds: the report of the same traces in a file', async () => {
    const task = djangoRequest({ traceId: 'c0'.repeat(16), repeats: 8, startNs: BigInt(Math.min(...startsMs) + 500) * 1_000_000n });
    const root = task.resourceSpans[0]!.scopeSpans[0]!.spans[0]!;
    root.kind = 5;
    root.name = 'run/recruit.tasks.sync_candidates';
    root.attributes = [];
    const file = join(tempDir('pull-celery'), 'with-task.jsonl');
    writeFileSync(file, jsonLines([...sampleTraces, task]));
    const withTask = await startFakeTempo([...sampleTraces, task]);
    try {
      const fromFile = await run([file, '-f', 'json']);
      expect(fromFile.stdout).toContain('run/recruit.tasks.sync_candidates');
      const ns = ['--start', String(BigInt(Math.min(...startsMs) - 60_000) * 1_000_000n), '--end', String(BigInt(Math.max(...startsMs) + 60_000) * 1_000_000n + 123n)];
      const us = ns.map((v) => (v.startsWith('--') ? v : String(BigInt(v) / 1000n)));
      for (const epochs of [ns, us]) {
        const pulled = await run(['--from', withTask.url, ...auth, '--service', 'recruit', ...epochs, '-f', 'json']);
        expect(pulled.stderr).toMatch(/n1-report: 34 traces fetched, 34 analysed \(Tempo/);
        expect(pulled.code).toBe(fromFile.code);
        expect(JSON.parse(pulled.stdout)).toEqual(JSON.parse(fromFile.stdout));
      }
    } finally {
      await withTask.close();
    }
  });

  it('a pull that could not fetch a trace is partial: said on stderr, and exit 2 where the gate would pass, unless --allow-partial', async () => {
    const failing = sampleTraces[5]!.resourceSpans[0]!.scopeSpans[0]!.spans[0]!.traceId;
    const flaky = await startFakeTempo(sampleTraces, { missing: [failing] });
    try {
      const args = ['--from', flaky.url, ...auth, '--service', 'recruit', ...window, '-f', 'json'];
      const passing = await run([...args, '--max-findings', '1000']);
      expect(passing.stderr).toMatch(/n1-report: 32 traces fetched, 32 analysed, 1 failed \(Tempo/);
      expect(passing.stderr).toContain(`n1-report: failed: trace ${failing}: `);
      expect(passing.stderr).toMatch(/n1-report: the report is partial: 1 trace or search failed after retries \(named above\) and is left out, so it passes no gate: exit 2 \(.*--allow-partial.*\)\n$/);
      expect(passing.code).toBe(2);
      expect(JSON.parse(passing.stdout).summary.requests).toBe(32);
      const allowed = await run([...args, '--max-findings', '1000', '--allow-partial']);
      expect(allowed.code).toBe(0);
      expect(allowed.stderr).toMatch(/n1-report: the report is partial: .* left out \(--allow-partial\)\n$/);
      // Over the budget it is exit 1 either way: those findings are there whatever is missing.
      expect((await run(args)).code).toBe(1);
    } finally {
      await flaky.close();
    }
  });

  it.each([
    ['an unreachable URL', () => ['--from', notFoundUrl.replace(/:\d+$/, ':1023'), ...window], /127\.0\.0\.1:1023\/api\/v3\/services: connection refused/],
    ['a 401', () => ['--from', tempo.url, '--header', 'Authorization: Bearer wrong', ...window], /HTTP 401 unauthorized: pass credentials with --header/],
    ['a wrong API', () => ['--from', notFoundUrl, ...window], /not a Jaeger query API, Tempo or Zipkin \(no answer to GET \/api\/v3\/services, \/api\/services, \/api\/echo or \/api\/v2\/services\)/],
    ['a sign-in page in front of the API', () => ['--from', signInUrl, ...window], /not a Jaeger query API, Tempo or Zipkin: GET \/api\/v3\/services answered with a web page at http:\/\/127\.0\.0\.1:\d+\/oauth2\/sign_in, not the API's JSON \(a sign-in page in front of it\? pass its credentials with --header/],
    ['no traces in the window', () => ['--from', tempo.url, ...auth, '--since', '1h'], /no traces in .* check --service and --since\/--start/],
    ['files and --from together', () => [sample, '--from', tempo.url], /give trace files, --from or --db: one source at a time/],
    ['--start without --from', () => [sample, '--start', '2026-01-01T00:00:00Z'], /--start applies to --from/],
    ['--allow-partial without --from', () => [sample, '--allow-partial'], /--allow-partial applies to --from/],
    ['an epoch of more than 19 digits', () => ['--from', tempo.url, ...auth, '--start', '17600000000000000000'], /--start "17600000000000000000" has 20 digits/],
    ['a negative epoch', () => ['--from', tempo.url, ...auth, '--end', '-1'], /--end "-1" is before 1970/],
  ])('%s: one line, exit 2', async (_name, args, message) => {
    expectRefusal(await run(args()), message);
  });
});
