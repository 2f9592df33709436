/**
 * Scale-out end to end (run by scripts/scale-e2e.sh): the real OpenTelemetry Collector (ocb, with the
 * loadbalancing exporter routing by traceID over a static resolver) in front of two `n1lens serve`
 * processes that share one real PostgreSQL, the second with two shard threads (`--workers 2`). It is
 * killed (SIGKILL) mid-stream and started again; the shared store must then hold exactly what
 * `n1-report` finds in the same files.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Report } from '../src/report/model.js';
import { freePort, isListening, postgresDatabase, root, servePorts, spawnBin, tempDir, type Spawned } from './support.js';

const FILES = [
  'samples/traces/recruit.jsonl.gz',
  'src/otlp/testdata/django-sqlite-old-semconv.jsonl',
  'src/otlp/testdata/django-sqlite-stable-semconv.jsonl',
  'src/otlp/testdata/collector-file-exporter.jsonl',
  ...['pg-psycopg-age0', 'pg-psycopg-age600', 'pg-psycopg2-age0', 'pg-psycopg2-age600', 'sqlite-age0', 'sqlite-age600'].map(
    (f) => `src/detect/testdata/connections/${f}.jsonl`,
  ),
].map((f) => join(root, f));

let collectorBin = '';
beforeAll(() => {
  collectorBin = execFileSync('bash', [join(root, 'scripts/collector.sh'), 'build'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
}, 45 * 60_000);

const cleanup: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const stop of cleanup.reverse()) await stop();
});

/** A report printed as JSON by a bin (exit 1 only means "over the finding budget"). */
function reportOf(args: string[]): Report {
  try {
    return JSON.parse(execFileSync(process.execPath, [join(root, 'bin/n1-report.js'), ...args, '--format', 'json'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })) as Report;
  } catch (e) {
    const out = (e as { stdout?: string }).stdout ?? '';
    if (out === '') throw e;
    return JSON.parse(out) as Report;
  }
}

/** Every export line of every file, in file order. */
function exportsOf(files: readonly string[]): string[] {
  return files.flatMap((f) => {
    const bytes = readFileSync(f);
    const text = f.endsWith('.gz') ? gunzipSync(bytes).toString('utf8') : bytes.toString('utf8');
    return text.split('\n').filter((l) => l.trim() !== '');
  });
}

interface Instance {
  name: string;
  http: number;
  grpc: number;
  process: Spawned;
}

/** Starts `n1lens serve` on the shared store: A is given it in N1LENS_DATABASE_URL, B with --db. */
async function startInstance(name: string, db: string, dir: string, ports: { http: number; grpc: number }): Promise<Instance> {
  const store = name === 'a' ? [] : ['--db', db];
  const env = name === 'a' ? { ...process.env, N1LENS_DATABASE_URL: db } : process.env;
  const s = spawnBin([
    'serve', ...store, '--spool', join(dir, `${name}.spool`), '--http-port', String(ports.http), '--grpc-port', String(ports.grpc),
    // The Collector below retries at most every 1 s (±50 % jitter): a trace B had begun when it was
    // killed is whole once that retry has come.
    '--trace-wait-ms', '1500', '--spool-replay-wait-ms', '4000',
    // B splits its share between two shard threads, each with its own PostgreSQL connections and spool.
    ...(name === 'b' ? ['--workers', '2'] : []),
  ], { env });
  const exited = s.exited;
  cleanup.push(async () => {
    if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill('SIGTERM');
    await exited;
  });
  const bound = await servePorts(s);
  return { name, http: bound.http, grpc: bound.grpc, process: s };
}

async function metric(instance: Instance, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${instance.http}/metrics`)).text();
  return [...text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm'))].reduce((sum, m) => sum + Number(m[1]), 0);
}

async function startCollector(dir: string, backends: readonly Instance[]): Promise<string> {
  const receiverPort = await freePort();
  // The shape of deploy/collector/config.yaml, with the static resolver pointed at this test's instances.
  const config = `
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:${receiverPort}
exporters:
  loadbalancing:
    routing_key: traceID
    protocol:
      otlp:
        tls:
          insecure: true
        timeout: 5s
        retry_on_failure:
          enabled: true
          initial_interval: 200ms
          max_interval: 1s
          max_elapsed_time: 300s
        sending_queue:
          enabled: true
          num_consumers: 4
          queue_size: 5000
    resolver:
      static:
        hostnames: [${backends.map((b) => `127.0.0.1:${b.grpc}`).join(', ')}]
service:
  telemetry:
    metrics:
      level: none
    logs:
      level: warn
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [loadbalancing]
`;
  writeFileSync(join(dir, 'collector.yaml'), config);
  const child: ChildProcess = spawn(collectorBin, ['--config', join(dir, 'collector.yaml')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let logs = '';
  child.stdout?.on('data', (d: Buffer) => (logs += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (logs += d.toString()));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  cleanup.push(async () => {
    child.kill('SIGTERM');
    await exited;
  });
  const deadline = Date.now() + 60_000;
  while (!(await isListening(receiverPort))) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`the Collector did not start:\n${logs}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return `http://127.0.0.1:${receiverPort}/v1/traces`;
}

/** Posts exports to the Collector, a few at a time; each must be accepted (the Collector queues what it cannot deliver yet). */
async function post(url: string, lines: readonly string[]): Promise<void> {
  for (let i = 0; i < lines.length; i += 8) {
    const statuses = await Promise.all(
      lines.slice(i, i + 8).map((body) => fetch(url, { method: 'POST', body, headers: { 'Content-Type': 'application/json' } }).then((r) => r.status)),
    );
    expect(statuses.every((s) => s === 200)).toBe(true);
  }
}

describe('two n1lens instances behind the Collector loadbalancing exporter, sharing PostgreSQL', () => {
  it('counts every request exactly once across a SIGKILL of one instance mid-stream: the shared report equals n1-report', async () => {
    const dir = tempDir('scale');
    const db = await postgresDatabase('scale');
    const expected = reportOf(FILES);
    expect(expected.summary.requests).toBeGreaterThan(50);

    const portsB = { http: await freePort(), grpc: await freePort() };
    const a = await startInstance('a', db, dir, { http: 0, grpc: 0 });
    let b = await startInstance('b', db, dir, portsB);
    const url = await startCollector(dir, [a, b]);

    const lines = exportsOf(FILES);
    const half = Math.floor(lines.length / 2);
    await post(url, lines.slice(0, half));
    // B has taken (and acknowledged, so spooled) part of its share: kill it without a chance to flush.
    const deadline = Date.now() + 60_000;
    while ((await metric(b, 'n1lens_spans_received_total')) === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    const receivedByB = await metric(b, 'n1lens_spans_received_total');
    expect(receivedByB).toBeGreaterThan(0);
    b.process.child.kill('SIGKILL');
    await b.process.exited;
    // The rest arrives while B is down: the Collector keeps B's share queued and retries it.
    await post(url, lines.slice(half));
    await new Promise((r) => setTimeout(r, 1000));
    b = await startInstance('b', db, dir, portsB);
    const replayed = /replayed (\d+) spans/.exec(b.process.stderr());

    // Settled: the shared store has every request, and stays there.
    let report = reportOf(['--db', db]);
    const until = Date.now() + 120_000;
    while (report.summary.requests < expected.summary.requests && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 500));
      report = reportOf(['--db', db]);
    }
    await new Promise((r) => setTimeout(r, 3000));
    report = reportOf(['--db', db]);
    expect(report).toEqual(expected);

    // Both instances did part of the work, and nothing was analysed twice or split.
    const analysedByA = await metric(a, 'n1lens_requests_analysed_total');
    expect(analysedByA).toBeGreaterThan(0);
    expect(analysedByA).toBeLessThan(expected.summary.requests);
    for (const i of [a, b]) {
      expect(await metric(i, 'n1lens_trace_evictions_total')).toBe(0);
      expect(await metric(i, 'n1lens_store_write_failures_total')).toBe(0);
    }
    // Either instance's API and UI show the whole store.
    for (const i of [a, b]) {
      const served = (await (await fetch(`http://127.0.0.1:${i.http}/api/report`)).json()) as Report;
      expect(served.summary).toEqual(expected.summary);
    }
    const page = await (await fetch(`http://127.0.0.1:${a.http}/?range=all`)).text();
    expect(page).toContain(`<b>${expected.summary.requests}</b><span>requests</span>`);

    // The digest over the shared store (named by N1LENS_DATABASE_URL) shows the whole too (every whole hour up to now).
    const digest = execFileSync(process.execPath, [join(root, 'bin/n1lens.js'), 'digest', '--since', '5000w', '--dry-run'], {
      encoding: 'utf8',
      env: { ...process.env, N1LENS_DATABASE_URL: db },
    });
    const worst = expected.endpoints.find((e) => e.findings.length > 0)!;
    expect(digest).toContain(worst.endpoint);
    expect(digest).toMatch(new RegExp(`Requests analysed:\\* ${expected.summary.requests}\\b`));
    process.stderr.write(
      `scale e2e: ${expected.summary.requests} requests in ${lines.length} exports; B had ${receivedByB} spans when killed, replayed ${replayed?.[1] ?? 0} on restart; A analysed ${analysedByA}\n`,
    );
  }, 600_000);
});
