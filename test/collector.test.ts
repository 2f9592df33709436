import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Report } from '../src/report/model.js';
import { startServer, type RunningServer, type ServeOptions } from '../src/server/serve.js';
import { freePort, isListening, root, tempDir } from './support.js';

// The real OpenTelemetry Collector, built with ocb by scripts/collector.sh (cached per machine).
let collectorBin = '';
beforeAll(() => {
  collectorBin = execFileSync('bash', [join(root, 'scripts/collector.sh'), 'build'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
}, 45 * 60_000);

const SAMPLE = join(root, 'samples/traces/recruit.jsonl.gz');

/** What `n1-report --format json` prints for the sample file (it exits 1: over the finding budget). */
function n1Report(): Report {
  try {
    return JSON.parse(execFileSync(process.execPath, [join(root, 'bin/n1-report.js'), SAMPLE, '--format', 'json'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })) as Report;
  } catch (e) {
    return JSON.parse((e as { stdout: string }).stdout) as Report;
  }
}
const running: { close(): Promise<void> }[] = [];
// Newest first: the Collector drains its queue into a live n1lens rather than retrying a closed port.
afterEach(async () => {
  for (const r of running.splice(0).reverse()) await r.close();
});

async function startN1lens(over: Partial<ServeOptions>): Promise<RunningServer> {
  const dir = tempDir('collector-n1lens');
  const server = await startServer({
    host: '127.0.0.1', httpPort: 0, grpcPort: 0, db: join(dir, 'n1lens.db'), traceWaitMs: 3000, maxTraces: 50_000,
    maxBodyBytes: 20 << 20, grpcMaxReceiveBytes: 4 << 20, detect: { minRepeats: 5 }, spool: { dir: join(dir, 'spool') }, ...over,
  });
  running.push(server);
  return server;
}

interface Collector {
  receiverUrl: string;
  logs: () => string;
}

/** Starts the Collector with an OTLP/HTTP receiver on a free port and the given exporter settings. */
async function startCollector(exporter: { kind: 'otlp' | 'otlphttp'; config: string }, extensions = ''): Promise<Collector> {
  const dir = tempDir('collector');
  const receiverPort = await freePort();
  const config = `
${extensions}
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:${receiverPort}
exporters:
  ${exporter.kind}:
${exporter.config}
    retry_on_failure:
      enabled: true
      initial_interval: 200ms
      max_interval: 2s
      max_elapsed_time: 300s
    sending_queue:
      enabled: true
      num_consumers: 10
      queue_size: 5000
service:
  ${extensions === '' ? '' : 'extensions: [bearertokenauth]'}
  telemetry:
    metrics:
      level: none
    logs:
      level: warn
      sampling:
        enabled: false
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [${exporter.kind}]
`;
  writeFileSync(join(dir, 'config.yaml'), config);
  const child: ChildProcess = spawn(collectorBin, ['--config', join(dir, 'config.yaml')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let logs = '';
  child.stdout?.on('data', (d: Buffer) => (logs += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (logs += d.toString()));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  running.push({
    close: async () => {
      child.kill('SIGTERM');
      const timer = new Promise<'stuck'>((resolve) => setTimeout(() => resolve('stuck'), 20_000).unref());
      if ((await Promise.race([exited, timer])) === 'stuck') {
        child.kill('SIGKILL');
        await exited;
        throw new Error(`the Collector did not stop within 20 s of SIGTERM:\n${logs.slice(-2000)}`);
      }
    },
  });
  const deadline = Date.now() + 60_000;
  while (!(await isListening(receiverPort))) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`the Collector did not start:\n${logs}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { receiverUrl: `http://127.0.0.1:${receiverPort}/v1/traces`, logs: () => logs };
}

const sampleLines = (): string[] => gunzipSync(readFileSync(SAMPLE)).toString('utf8').split('\n').filter(Boolean);

/** Spans in the sample file. */
function sampleSpans(): number {
  let n = 0;
  for (const line of sampleLines()) {
    const request = JSON.parse(line) as { resourceSpans: { scopeSpans: { spans: unknown[] }[] }[] };
    for (const r of request.resourceSpans) for (const s of r.scopeSpans) n += s.spans.length;
  }
  return n;
}

/** Spans the Collector logged as dropped for an error matching `refusal`. */
function droppedSpans(logs: string, refusal: RegExp): number {
  let n = 0;
  for (const line of logs.split('\n')) if (line.includes('Dropping data') && refusal.test(line)) n += Number(/"dropped_items": (\d+)/.exec(line)?.[1] ?? 0);
  return n;
}

/** Every export of the sample file, posted to the Collector at once: all 33 traces in flight together. */
async function sendSample(url: string): Promise<void> {
  const lines = sampleLines();
  const statuses = await Promise.all(lines.map((body) => fetch(url, { method: 'POST', body, headers: { 'Content-Type': 'application/json' } }).then((r) => r.status)));
  expect(statuses.every((s) => s === 200)).toBe(true);
}

/** The served report without the store's finding ids (links to /findings/:id), which a file report has no use for. */
function withoutStoreIds(report: Report): Report {
  return { ...report, endpoints: report.endpoints.map((e) => ({ ...e, findings: e.findings.map(({ id: _id, ...f }) => f) })) };
}

async function reportWhen(server: RunningServer, done: (r: Report) => boolean, headers: Record<string, string> = {}): Promise<Report> {
  const deadline = Date.now() + 180_000;
  for (;;) {
    await server.intake.tick();
    const report = withoutStoreIds((await (await fetch(`http://127.0.0.1:${server.httpPort}/api/report`, { headers })).json()) as Report);
    if (done(report) || Date.now() > deadline) return report;
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe('behind the real OpenTelemetry Collector (ocb) with retry_on_failure', () => {
  it.each<[number, 'otlp' | 'otlphttp']>([
    [2, 'otlp'],
    [10, 'otlphttp'],
    [19, 'otlp'],
  ])('analyses every traced request whole with --max-traces %i (%s exporter): the report equals n1-report on the same file', async (maxTraces, kind) => {
    const expected = n1Report();
    const server = await startN1lens({ maxTraces });
    const config = kind === 'otlp' ? `    endpoint: 127.0.0.1:${server.grpcPort}\n    tls:\n      insecure: true` : `    endpoint: http://127.0.0.1:${server.httpPort}`;
    const collector = await startCollector({ kind, config });
    await sendSample(collector.receiverUrl);
    const live = await reportWhen(server, (r) => r.summary.requests >= expected.summary.requests);
    // Let anything still in flight land: a split trace would show up as an extra request.
    await new Promise((r) => setTimeout(r, 2500));
    const settled = await reportWhen(server, () => true);
    expect(settled).toEqual(expected);
    expect(live.summary.requests).toBe(expected.summary.requests);
    const metrics = await (await fetch(`http://127.0.0.1:${server.httpPort}/metrics`)).text();
    expect(metrics).toMatch(/n1lens_late_spans_total 0/);
    expect(metrics).toMatch(/n1lens_trace_evictions_total 0/);
    if (maxTraces < 19) expect(metrics).toMatch(/n1lens_exports_refused_total\{transport="(grpc|http)",reason="(max_traces|fair_share)"\} [1-9]/);
  }, 300_000);
});

describe('the Collector with bearertokenauth and TLS', () => {
  /** A CA and a certificate for 127.0.0.1, made with openssl. */
  function makeCerts(): { ca: string; cert: string; key: string } {
    const dir = tempDir('collector-certs');
    const f = (name: string) => join(dir, name);
    const ssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
    ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('ca.key'), '-out', f('ca.pem'), '-days', '1', '-subj', '/CN=n1lens test CA');
    writeFileSync(f('san.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
    ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('server.key'), '-out', f('server.csr'), '-subj', '/CN=localhost');
    ssl('x509', '-req', '-in', f('server.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f('server.pem'), '-days', '1', '-extfile', f('san.ext'));
    return { ca: f('ca.pem'), cert: f('server.pem'), key: f('server.key') };
  }
  const token = 'collector-test-token-1b2c3d';

  it.each<'otlp' | 'otlphttp'>(['otlp', 'otlphttp'])('exports over TLS with the bearer token (%s exporter)', async (kind) => {
    const certs = makeCerts();
    const server = await startN1lens({ authToken: token, tls: { cert: certs.cert, key: certs.key } });
    const endpoint = kind === 'otlp' ? `127.0.0.1:${server.grpcPort}` : `https://127.0.0.1:${server.httpPort}`;
    const collector = await startCollector(
      { kind, config: `    endpoint: ${endpoint}\n    tls:\n      ca_file: ${certs.ca}\n    auth:\n      authenticator: bearertokenauth` },
      `extensions:\n  bearertokenauth:\n    token: ${token}`,
    );
    await sendSample(collector.receiverUrl);
    const expected = n1Report();
    const { request } = await import('node:https');
    const report = await new Promise<Report>((resolve, reject) => {
      const poll = (): void => {
        void server.intake.tick();
        request({ host: '127.0.0.1', port: server.httpPort, path: '/api/report', ca: readFileSync(certs.ca), servername: 'localhost', headers: { Authorization: `Bearer ${token}` } }, (res) => {
          let body = '';
          res.on('data', (d: Buffer) => (body += d.toString()));
          res.on('end', () => {
            const r = JSON.parse(body) as Report;
            if (r.summary.requests >= expected.summary.requests) resolve(r);
            else setTimeout(poll, 250);
          });
        }).on('error', reject).end();
      };
      poll();
    });
    expect(report.summary).toEqual(expected.summary);
  }, 300_000);

  it.each<['otlp' | 'otlphttp', RegExp]>([
    ['otlp', /Unauthenticated/],
    ['otlphttp', /401/],
  ])('is refused without the token (%s exporter: %s)', async (kind, refusal) => {
    const certs = makeCerts();
    const server = await startN1lens({ authToken: token, tls: { cert: certs.cert, key: certs.key } });
    const endpoint = kind === 'otlp' ? `127.0.0.1:${server.grpcPort}` : `https://127.0.0.1:${server.httpPort}`;
    const collector = await startCollector({ kind, config: `    endpoint: ${endpoint}\n    tls:\n      ca_file: ${certs.ca}` });
    await sendSample(collector.receiverUrl);
    // Every export is refused, and none is retried (a refusal for want of a token is final): wait for all.
    const spans = sampleSpans();
    const deadline = Date.now() + 60_000;
    while (droppedSpans(collector.logs(), refusal) < spans && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    expect(collector.logs()).toMatch(refusal);
    expect(droppedSpans(collector.logs(), refusal)).toBe(spans);
    expect(server.intake.openTraces).toBe(0);
    expect((await server.store.report()).summary.requests).toBe(0);
  }, 300_000);
});
