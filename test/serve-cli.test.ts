import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fakeSlack } from '../src/digest/testing.js';
import { storeDigestMarks } from '../src/digest/source.js';
import { djangoRequest, encodeProtobuf, type OtlpJsonRequest } from '../src/otlp/testing.js';
import { SqliteStore as Store } from '../src/store/sqlite.js';
import type { Report } from '../src/report/model.js';
import { root, servePorts, spawnBin, tempDir } from './support.js';


/** POSTs one export to serve's OTLP/HTTP port as protobuf; it must be taken (200). */
async function postExport(port: number, body: OtlpJsonRequest): Promise<void> {
  const res = await fetch(`http://127.0.0.1:${port}/v1/traces`, { method: 'POST', body: encodeProtobuf(body), headers: { 'Content-Type': 'application/x-protobuf' } });
  expect(res.status).toBe(200);
}

/** An unlabelled metric of serve's /metrics; NaN when it is not there. */
async function metricAt(port: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
}

/** Waits up to 10 s for serve to have analysed `n` requests, then checks it has exactly that many. */
async function analysedReaches(port: number, n: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  while ((await metricAt(port, 'n1lens_requests_analysed_total')) < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  expect(await metricAt(port, 'n1lens_requests_analysed_total')).toBe(n);
}

describe('n1lens serve (the real binary)', () => {
  it('posts a scheduled digest missed while it was down at once, stops cleanly on SIGTERM and keeps what it analysed', async () => {
    const slack = await fakeSlack();
    const db = join(tempDir('cli-serve'), 'n1lens.db');
    // The last digest ended two hours ago: the runs since were missed, so one digest goes out at start.
    const before = Store.open(db);
    const lastUntil = Math.floor(Date.now() / 60_000) * 60_000 - 2 * 3_600_000;
    await storeDigestMarks(before, 'recruit').move(undefined, lastUntil);
    before.closeSync();
    const child = spawn(
      process.execPath,
      [join(root, 'bin/n1lens.js'), 'serve', '--http-port', '0', '--grpc-port', '0', '--db', db, '--trace-wait-ms', '60000', '--trace-settle-ms', '60000',
        '--digest-cron', '* * * * * *', '--webhook-url', slack.url, '--service', 'recruit'],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const deadline = Date.now() + 15_000;
      while (!/OTLP\/HTTP http:\/\/127\.0\.0\.1:(\d+)/.test(stderr) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      const port = /OTLP\/HTTP http:\/\/127\.0\.0\.1:(\d+)/.exec(stderr)?.[1];
      expect(port).toBeDefined();
      const res = await fetch(`http://127.0.0.1:${port}/v1/traces`, {
        method: 'POST',
        body: encodeProtobuf(djangoRequest({ repeats: 7 })),
        headers: { 'Content-Type': 'application/x-protobuf' },
      });
      expect(res.status).toBe(200);
      while (slack.requests.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      const payload = slack.requests[0]?.body as { text: string; blocks: unknown[] };
      expect(payload.text).toMatch(/recruit/);
      expect(payload.blocks.length).toBeGreaterThan(0);
      // The buffered trace (trace-wait 60 s) must be analysed on shutdown, not lost.
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(stderr).toMatch(/SIGTERM: analysing buffered traces/);
      expect(stderr).not.toContain(slack.secret);
      const store = Store.open(db);
      expect(await storeDigestMarks(store, 'recruit').read()).toBeGreaterThan(lastUntil);
      expect((await store.report()).summary.requests).toBe(1);
      expect((await store.report()).endpoints[0]?.findings[0]?.repeatsPerRequest.p50).toBe(7);
      store.closeSync();
    } finally {
      child.kill('SIGKILL');
      await slack.close();
    }
  });

  it('runs pinned to one core (taskset), where it keeps V8\'s garbage collection on the serve thread, and analyses every request it took', async () => {
    const db = join(tempDir('cli-one-core'), 'n1lens.db');
    // The first core this process may use (a container need not have core 0).
    const core = /^Cpus_allowed_list:\s*(\d+)/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? '0';
    const serve = spawnBin(['serve', '--http-port', '0', '--grpc-port', '0', '--db', db, '--no-warm-up', '--trace-wait-ms', '100'], { wrapper: ['taskset', '-c', core] });
    try {
      const port = (await servePorts(serve)).http;
      const deadline = Date.now() + 20_000;
      // Enough exports that the serve thread's young generation turns over many times.
      for (let i = 0; i < 200; i++) {
        const res = await fetch(`http://127.0.0.1:${port}/v1/traces`, {
          method: 'POST',
          body: encodeProtobuf(djangoRequest({ repeats: 40, traceId: (i + 1).toString(16).padStart(32, '0') })),
          headers: { 'Content-Type': 'application/x-protobuf' },
        });
        expect(res.status).toBe(200);
      }
      let requests = 0;
      while (requests < 200 && Date.now() < deadline) {
        requests = ((await (await fetch(`http://127.0.0.1:${port}/api/report`)).json()) as Report).summary.requests;
        if (requests < 200) await new Promise((r) => setTimeout(r, 100));
      }
      expect(requests).toBe(200);
      serve.child.kill('SIGTERM');
      expect(await serve.exited).toBe(0);
    } finally {
      serve.child.kill('SIGKILL');
    }
  }, 30_000);

  it('analyses a trace whose spans look whole once quiet for --trace-settle-ms, and one whose call has no callee span only after --trace-wait-ms', async () => {
    const db = join(tempDir('cli-settle'), 'n1lens.db');
    const serve = spawnBin(['serve', '--http-port', '0', '--grpc-port', '0', '--db', db, '--no-warm-up', '--trace-wait-ms', '60000', '--trace-settle-ms', '200']);
    try {
      const port = (await servePorts(serve)).http;
      const whole = djangoRequest({ repeats: 6, traceId: '1'.repeat(32) });
      const calling = djangoRequest({ repeats: 6, traceId: '2'.repeat(32) });
      // An outbound HTTP call from the view: the service it reached may still send its spans.
      const view = calling.resourceSpans[0]!.scopeSpans[0]!.spans[0]!;
      calling.resourceSpans[0]!.scopeSpans[0]!.spans.push({
        traceId: view.traceId, spanId: 'c'.repeat(16), parentSpanId: view.spanId, name: 'POST', kind: 3,
        startTimeUnixNano: view.startTimeUnixNano, endTimeUnixNano: view.endTimeUnixNano,
        attributes: [{ key: 'http.method', value: { stringValue: 'POST' } }, { key: 'net.peer.name', value: { stringValue: 'hr.local' } }],
      });
      for (const body of [whole, calling]) await postExport(port, body);
      await analysedReaches(port, 1);
      expect(await metricAt(port, 'n1lens_open_traces')).toBe(1);
      // Shutdown analyses the trace still waiting, as ever.
      serve.child.kill('SIGTERM');
      expect(await serve.exited).toBe(0);
      const store = Store.open(db);
      expect((await store.report()).summary.requests).toBe(2);
      store.closeSync();
    } finally {
      serve.child.kill('SIGKILL');
    }
  }, 30_000);

  it('with the default --trace-wait-ms, joins a called service\'s spans sent 3 s after its caller\'s (an SDK batches for 5 s) into the trace', async () => {
    const db = join(tempDir('cli-wait'), 'n1lens.db');
    const serve = spawnBin(['serve', '--http-port', '0', '--grpc-port', '0', '--db', db, '--no-warm-up']);
    try {
      const port = (await servePorts(serve)).http;
      const traceId = '3'.repeat(32);
      const caller = djangoRequest({ repeats: 6, traceId });
      const view = caller.resourceSpans[0]!.scopeSpans[0]!.spans[0]!;
      caller.resourceSpans[0]!.scopeSpans[0]!.spans.push({
        traceId, spanId: 'c'.repeat(16), parentSpanId: view.spanId, name: 'POST', kind: 3,
        startTimeUnixNano: view.startTimeUnixNano, endTimeUnixNano: view.endTimeUnixNano,
        attributes: [{ key: 'http.method', value: { stringValue: 'POST' } }, { key: 'net.peer.name', value: { stringValue: 'hr.local' } }],
      });
      // The service it called: its view is a child of the call, its span ids its own.
      const callee = djangoRequest({ repeats: 6, traceId: '4'.repeat(32), service: 'hr' });
      for (const scope of callee.resourceSpans[0]!.scopeSpans) for (const span of scope.spans) span.traceId = traceId;
      callee.resourceSpans[0]!.scopeSpans[0]!.spans[0]!.parentSpanId = 'c'.repeat(16);
      await postExport(port, caller);
      await new Promise((r) => setTimeout(r, 3000));
      expect(await metricAt(port, 'n1lens_requests_analysed_total')).toBe(0);
      await postExport(port, callee);
      await analysedReaches(port, 2);
      expect(await metricAt(port, 'n1lens_late_spans_total')).toBe(0);
      expect(await metricAt(port, 'n1lens_traces_settled_total')).toBe(1);
    } finally {
      serve.child.kill('SIGKILL');
    }
  }, 30_000);

  it('analyses a Celery task whose spans come after the view that queued it was analysed, as its own request', async () => {
    const db = join(tempDir('cli-continue'), 'n1lens.db');
    const serve = spawnBin(['serve', '--http-port', '0', '--grpc-port', '0', '--db', db, '--no-warm-up', '--trace-wait-ms', '1000']);
    try {
      const port = (await servePorts(serve)).http;
      const traceId = '5'.repeat(32);
      const web = djangoRequest({ repeats: 0, traceId });
      const view = web.resourceSpans[0]!.scopeSpans[0]!.spans[0]!;
      web.resourceSpans[0]!.scopeSpans[0]!.spans.push({
        traceId, spanId: 'd'.repeat(16), parentSpanId: view.spanId, name: 'apply_async/reports.build', kind: 4,
        startTimeUnixNano: view.startTimeUnixNano, endTimeUnixNano: view.endTimeUnixNano,
        attributes: [{ key: 'messaging.system', value: { stringValue: 'rabbitmq' } }],
      });
      // The worker ran the task later: its run is a CONSUMER span below the call, with an N+1 of its own.
      const worker = djangoRequest({ repeats: 6, traceId: '6'.repeat(32), service: 'recruit-worker' });
      for (const scope of worker.resourceSpans[0]!.scopeSpans) for (const span of scope.spans) span.traceId = traceId;
      Object.assign(worker.resourceSpans[0]!.scopeSpans[0]!.spans[0]!, { parentSpanId: 'd'.repeat(16), kind: 5, name: 'run/reports.build', attributes: [] });
      await postExport(port, web);
      await analysedReaches(port, 1); // the queued task never answered within the trace wait
      await postExport(port, worker);
      await analysedReaches(port, 2);
      expect(await metricAt(port, 'n1lens_continued_requests_total')).toBe(1);
      serve.child.kill('SIGTERM');
      expect(await serve.exited).toBe(0);
      const store = Store.open(db);
      const report = await store.report();
      expect(report.endpoints.find((e) => e.endpoint === 'run/reports.build')?.findings[0]?.repeatsPerRequest).toEqual({ p50: 6, max: 6 });
      store.closeSync();
    } finally {
      serve.child.kill('SIGKILL');
    }
  }, 30_000);

  it('passes --dead-after and --trace-url on to the page: dead views without a query parameter, example traces linked', async () => {
    const dir = tempDir('cli-dead');
    const schemaFile = join(dir, 'schema.json');
    writeFileSync(schemaFile, JSON.stringify({
      n1lensSchema: 1,
      models: [],
      urls: [{ route: 'reports/legacy-export/', view: 'recruit.views.legacy_export', file: 'recruit/views.py', line: 105 }],
    }));
    const serve = spawnBin(['serve', '--http-port', '0', '--grpc-port', '0', '--db', join(dir, 'n1lens.db'), '--no-warm-up',
      '--schema', schemaFile, '--dead-after', '90d', '--trace-url', 'https://jaeger.example/trace/{traceId}', '--trace-wait-ms', '100']);
    try {
      const port = (await servePorts(serve)).http;
      const deadline = Date.now() + 15_000;
      const report = (await (await fetch(`http://127.0.0.1:${port}/api/report`)).json()) as Report;
      const views = (report.serviceFindings ?? []).filter((f) => f.kind === 'dead_view');
      expect(views.map((v) => [v.subject, v.deadView?.status])).toEqual([['reports/legacy-export/', 'no_traffic_yet']]);
      const posted = await fetch(`http://127.0.0.1:${port}/v1/traces`, {
        method: 'POST',
        body: encodeProtobuf(djangoRequest({ repeats: 7 })),
        headers: { 'Content-Type': 'application/x-protobuf' },
      });
      expect(posted.status).toBe(200);
      let finding: { traceLink?: string; example?: { traceId: string } } | undefined;
      while (finding === undefined && Date.now() < deadline) {
        const r = await fetch(`http://127.0.0.1:${port}/api/findings/1`);
        if (r.status === 200) finding = (await r.json()) as typeof finding;
        else await new Promise((r) => setTimeout(r, 50));
      }
      expect(finding?.traceLink).toBe(`https://jaeger.example/trace/${finding?.example?.traceId}`);
    } finally {
      serve.child.kill('SIGTERM');
      await serve.exited;
    }
  }, 30_000);
});
