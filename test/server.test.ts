import { readFileSync } from 'node:fs';
import * as http2 from 'node:http2';
import { connect } from 'node:net';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import * as grpc from '@grpc/grpc-js';
import { OTLPTraceExporter as GrpcExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPTraceExporter as HttpJsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as HttpProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { CompressionAlgorithm } from '@opentelemetry/otlp-exporter-base';
import { afterEach, describe, expect, it } from 'vitest';
import { analyseFiles } from '../src/cli/report.js';
import { otlpSchema } from '../src/otlp/schema.js';
import { djangoRequest, encodeJson, encodeProtobuf, type OtlpJsonRequest } from '../src/otlp/testing.js';
import { buildReport, type Report } from '../src/report/model.js';
import { startServer, type RunningServer, type ServeOptions } from '../src/server/serve.js';
import { emitDashboards } from './otel-sdk.js';
import { tempDir, testServeOptions } from './support.js';

const running: RunningServer[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.close()));
});

async function start(over: Partial<ServeOptions> = {}): Promise<RunningServer & { url: string; dir: string }> {
  const dir = tempDir('serve');
  const server = await startServer(testServeOptions(dir, over));
  running.push(server);
  return Object.assign(server, { url: `http://127.0.0.1:${server.httpPort}`, dir });
}

async function waitForRequests(url: string, n: number, endpoint = 'GET dashboard/'): Promise<Report> {
  for (let i = 0; i < 200; i++) {
    const report = (await (await fetch(`${url}/api/report`)).json()) as Report;
    const e = report.endpoints.find((x) => x.endpoint === endpoint);
    if (e !== undefined && e.requests >= n) return report;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${n} requests of ${endpoint}`);
}

const post = (url: string, body: Uint8Array | string, headers: Record<string, string>): Promise<Response> =>
  fetch(`${url}/v1/traces`, { method: 'POST', body, headers });

describe('n1lens serve with the official OpenTelemetry JS exporters', () => {
  it.each([
    ['OTLP/HTTP JSON', (s: { url: string }) => new HttpJsonExporter({ url: `${s.url}/v1/traces` })],
    ['OTLP/HTTP protobuf', (s: { url: string }) => new HttpProtoExporter({ url: `${s.url}/v1/traces` })],
    ['OTLP/HTTP protobuf + gzip', (s: { url: string }) => new HttpProtoExporter({ url: `${s.url}/v1/traces`, compression: CompressionAlgorithm.GZIP })],
    ['OTLP/gRPC + gzip', (s: { grpcPort: number }) => new GrpcExporter({ url: `http://127.0.0.1:${s.grpcPort}`, compression: CompressionAlgorithm.GZIP })],
  ])('finds the dashboard cascades sent over %s, through the spool', async (name, makeExporter) => {
    // forceFlush sends the 608 spans as five concurrent exports; compressed ones can arrive out of order
    // and, on a loaded CI machine, more than 50 ms apart: a trace must stay open across that gap here.
    const server = await start({ traceWaitMs: 500, spool: { dir: join(tempDir('serve-spool'), 'spool') } });
    await emitDashboards(makeExporter(server), 2, { semconv: 'stable' });
    // Every export acknowledged, no trace complete yet: the spool holds a gzip'd export as it came, about a twelfth of its protobuf.
    const spooled = Number(/^n1lens_spool_bytes (\d+)/m.exec(await (await fetch(`${server.url}/metrics`)).text())?.[1]);
    expect(spooled).toBeGreaterThan(5_000);
    if (name.endsWith('gzip')) expect(spooled).toBeLessThan(40_000);
    else expect(spooled).toBeGreaterThan(150_000);
    const report = await waitForRequests(server.url, 2);
    const dashboard = report.endpoints.find((e) => e.endpoint === 'GET dashboard/');
    expect(dashboard?.queriesPerRequest.p50).toBe(303);
    expect(dashboard?.findings.filter((f) => f.kind === 'n_plus_one')).toHaveLength(6);
    expect(dashboard?.fix).toContain("select_related('candidate', 'job__company', 'status')");
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/n1lens_spans_received_total\{transport="(http|grpc)"\} 608/);
    expect(metrics).toMatch(/n1lens_requests_analysed_total 2/);
    expect(metrics).toMatch(/n1lens_exports_accepted_total\{transport="(http|grpc)"\} [1-9]/);
  });

  it("leaves Django's debug QUOTE queries out and counts them on /metrics and in the report", async () => {
    const server = await start();
    await emitDashboards(new HttpProtoExporter({ url: `${server.url}/v1/traces` }), 2, { debugQuote: true });
    const report = await waitForRequests(server.url, 2);
    const dashboard = report.endpoints.find((e) => e.endpoint === 'GET dashboard/');
    expect(dashboard?.queriesPerRequest.p50).toBe(303);
    expect(dashboard?.findings.filter((f) => f.kind === 'n_plus_one')).toHaveLength(6);
    expect(report.summary.frameworkQueriesDropped).toEqual({ total: 606, byRule: { django_sqlite_debug_quote: 606 } });
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/n1lens_framework_queries_dropped_total\{rule="django_sqlite_debug_quote"\} 606/);
  });

  it('stores the same report that n1-report computes from the --record file', async () => {
    const recordPath = join(tempDir('rec'), 'rec.jsonl');
    // A longer quiet window: on a loaded machine 50 ms can split a trace across analyses.
    const server = await start({ recordPath, traceWaitMs: 400 });
    await emitDashboards(new HttpProtoExporter({ url: `${server.url}/v1/traces` }), 3);
    await emitDashboards(new HttpJsonExporter({ url: `${server.url}/v1/traces` }), 1, { route: 'dashboard/other/' });
    await waitForRequests(server.url, 3);
    const live = await waitForRequests(server.url, 1, 'GET dashboard/other/');
    expect(readFileSync(recordPath, 'utf8').split('\n').filter(Boolean).length).toBeGreaterThan(4);
    const recorded = await analyseFiles([recordPath], { minRepeats: 5 });
    // The served report adds each stored finding's id; the rest is the same report.
    const liveIds = live.endpoints.flatMap((e) => e.findings.map((f) => f.id));
    expect(liveIds.every((id) => typeof id === 'number')).toBe(true);
    for (const e of live.endpoints) for (const f of e.findings) delete f.id;
    expect(buildReport(recorded.rollups.values())).toEqual(live);
  });

  it('records a JSON export with a value nested deeper than JSON.stringify can write, and answers it 200', async () => {
    const recordPath = join(tempDir('rec-deep'), 'rec.jsonl');
    const server = await start({ recordPath, traceWaitMs: 100 });
    const request = djangoRequest({ traceId: '5'.repeat(32), repeats: 6 });
    // A field n1lens ignores, nested 20,000 deep: JSON.parse reads it, JSON.stringify overflows the stack.
    const body = `${encodeJson(request).slice(0, -1)},"x":${'['.repeat(20_000)}${']'.repeat(20_000)}}`;
    const res = await fetch(`${server.url}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    expect(res.status).toBe(200);
    await waitForRequests(server.url, 1);
    const lines = readFileSync(recordPath, 'utf8').split('\n').filter(Boolean);
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!).resourceSpans).toEqual(request.resourceSpans);
  });

  it('refuses whole, with 400, an export that --record cannot write as OTLP/JSON', async () => {
    const recordPath = join(tempDir('rec-nested'), 'rec.jsonl');
    const server = await start({ recordPath, traceWaitMs: 100 });
    // One span with an attribute n1lens does not read, arrays nested 60 deep: the wire decoder skips
    // it, protobufjs (which writes the recording's JSON) stops at 100 levels of messages. Written by
    // hand: protobufjs would not encode it either.
    const varint = (n: number): number[] => (n < 0x80 ? [n] : [(n & 0x7f) | 0x80, ...varint(n >>> 7)]);
    const field = (no: number, bytes: Buffer): Buffer => Buffer.concat([Buffer.from([...varint((no << 3) | 2), ...varint(bytes.length)]), bytes]);
    const fixed64 = (no: number, value: bigint): Buffer => {
      const out = Buffer.alloc(9);
      out[0] = (no << 3) | 1;
      out.writeBigUInt64LE(value, 1);
      return out;
    };
    let value = field(1, Buffer.from('x')); // AnyValue.string_value
    for (let i = 0; i < 60; i++) value = field(5, field(1, value)); // AnyValue.array_value.values
    const span = Buffer.concat([
      field(1, Buffer.from('6'.repeat(32), 'hex')),
      field(2, Buffer.from('0102030405060708', 'hex')),
      field(5, Buffer.from('GET x/')),
      Buffer.from([0x30, 2]), // kind SERVER
      fixed64(7, 1_700_000_000_000_000_000n),
      fixed64(8, 1_700_000_000_100_000_000n),
      field(9, Buffer.concat([field(1, Buffer.from('app.nested')), field(2, value)])),
    ]);
    const body = field(1, field(2, field(2, span))); // resource_spans.scope_spans.spans
    const res = await fetch(`${server.url}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/x-protobuf' }, body });
    expect(res.status).toBe(400);
    const status = otlpSchema().Status.decode(new Uint8Array(await res.arrayBuffer()));
    expect(status.message).toMatch(/^cannot write this export to the --record file as OTLP\/JSON/);
    expect(server.intake.openTraces).toBe(0);
  });

  it('serves the web UI at / with links to each endpoint and its combined fix', async () => {
    const server = await start();
    await emitDashboards(new HttpJsonExporter({ url: `${server.url}/v1/traces` }), 1);
    await waitForRequests(server.url, 1);
    const res = await fetch(`${server.url}/`);
    expect(res.headers.get('content-type')).toMatch(/text\/html/);
    const html = await res.text();
    const link = /<a href="(\/endpoints\/\d+\?range=7d)">GET dashboard\/<\/a>/.exec(html)?.[1];
    expect(link).toBeDefined();
    const endpointPage = await (await fetch(`${server.url}${link}`)).text();
    expect(endpointPage).toContain('select_related(&#39;candidate&#39;, &#39;job__company&#39;, &#39;status&#39;)');
  });

  it('keeps findings across a restart on the same database', async () => {
    const first = await start();
    await emitDashboards(new HttpJsonExporter({ url: `${first.url}/v1/traces` }), 1);
    const before = await waitForRequests(first.url, 1);
    await first.close();
    const second = await start({ db: join(first.dir, 'n1lens.db') });
    const after = (await (await fetch(`${second.url}/api/report`)).json()) as Report;
    expect(after).toEqual(before);
    const endpoints = (await (await fetch(`${second.url}/api/endpoints`)).json()) as { endpoints: { endpoint: string; findings: number }[] };
    expect(endpoints.endpoints[0]).toMatchObject({ endpoint: 'GET dashboard/', findings: 6 });
  });

  it('analyses a buffered trace on shutdown instead of losing it', async () => {
    const server = await start({ traceWaitMs: 60_000 });
    const res = await post(server.url, encodeProtobuf(djangoRequest({ repeats: 8 })), { 'Content-Type': 'application/x-protobuf' });
    expect(res.status).toBe(200);
    expect(server.intake.openTraces).toBe(1);
    const db = join(server.dir, 'n1lens.db');
    await server.close();
    const reopened = await start({ db });
    const report = (await (await fetch(`${reopened.url}/api/report`)).json()) as Report;
    expect(report.summary.requests).toBe(1);
    expect(report.summary.findings).toBeGreaterThan(0);
  });

  it('stops within drainMs while an HTTP request and a gRPC call never finish, and keeps what was acknowledged', async () => {
    const server = await start({ traceWaitMs: 60_000, drainMs: 300 });
    expect((await post(server.url, encodeProtobuf(djangoRequest({ repeats: 8 })), { 'Content-Type': 'application/x-protobuf' })).status).toBe(200);
    // An HTTP export whose body never completes…
    const socket = connect(server.httpPort, '127.0.0.1');
    await new Promise((r) => socket.once('connect', r));
    socket.write('POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-protobuf\r\nContent-Length: 1000\r\n\r\nabc');
    socket.on('error', () => {});
    // …and a gRPC call that never ends its request stream.
    const session = http2.connect(`http://127.0.0.1:${server.grpcPort}`);
    session.on('error', () => {});
    const stream = session.request({ ':method': 'POST', ':path': '/opentelemetry.proto.collector.trace.v1.TraceService/Export', 'content-type': 'application/grpc', te: 'trailers' });
    stream.on('error', () => {});
    stream.write(Buffer.from([0, 0, 0, 0, 9]));
    await new Promise((r) => setTimeout(r, 100));
    const started = Date.now();
    await server.close();
    expect(Date.now() - started).toBeLessThan(3000);
    session.destroy();
    socket.destroy();
    const reopened = await start({ db: join(server.dir, 'n1lens.db') });
    expect(((await (await fetch(`${reopened.url}/api/report`)).json()) as Report).summary.requests).toBe(1);
  });
});

describe('OTLP/HTTP status codes', () => {
  it('stores the same report for the recording exported as OTLP/JSON, pretty-printed OTLP/JSON and protobuf', async () => {
    const lines = gunzipSync(readFileSync(new URL('../samples/traces/recruit.jsonl.gz', import.meta.url))).toString('utf8').split('\n').filter(Boolean);
    const bodies = {
      json: lines.map((line) => ({ body: line, type: 'application/json' })),
      // Some clients indent their JSON; another shape the lazy reader gives up (snake_case ids) is decoded by json.ts.
      pretty: lines.map((line) => ({ body: JSON.stringify(JSON.parse(line), null, 2), type: 'application/json' })),
      snake: lines.map((line) => ({ body: line.replace(/"traceId"/g, '"trace_id"'), type: 'application/json' })),
      protobuf: lines.map((line) => ({ body: encodeProtobuf(JSON.parse(line) as OtlpJsonRequest), type: 'application/x-protobuf' })),
    };
    const reports: Record<string, Report> = {};
    for (const [name, exports] of Object.entries(bodies)) {
      const server = await start({ traceWaitMs: 1000 });
      for (const { body, type } of exports) expect((await post(server.url, body, { 'Content-Type': type })).status, name).toBe(200);
      let report: Report | undefined;
      for (let i = 0; i < 400 && (report?.summary.requests ?? 0) < 33; i++) {
        await new Promise((r) => setTimeout(r, 25));
        report = (await (await fetch(`${server.url}/api/report`)).json()) as Report;
      }
      for (const e of report!.endpoints) for (const f of e.findings) delete f.id;
      reports[name] = report!;
    }
    expect(reports.json!.summary.requests).toBe(33);
    expect(reports.json!.endpoints.some((e) => e.findings.length > 0)).toBe(true);
    expect(reports.pretty).toEqual(reports.json);
    expect(reports.snake).toEqual(reports.json);
    expect(reports.protobuf).toEqual(reports.json);
  }, 60_000);

  it('answers 400 to OTLP/JSON with a wrong value type or enum name', async () => {
    const server = await start();
    for (const patch of ['{"stringValue":{"x":1}}', '{"intValue":"abc"}']) {
      const body = encodeJson(djangoRequest()).replace('{"stringValue":"postgresql"}', patch);
      expect(body).toContain(patch);
      const res = await post(server.url, body, { 'Content-Type': 'application/json' });
      expect(res.status).toBe(400);
    }
    const badKind = encodeJson(djangoRequest()).replace('"kind":2', '"kind":"SERVER_BAD"');
    const res = await post(server.url, badKind, { 'Content-Type': 'application/json' });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { message: string }).message).toMatch(/kind is not one of/);
  });

  it('answers 415 for other content types', async () => {
    const server = await start();
    const res = await post(server.url, 'hello', { 'Content-Type': 'text/plain' });
    expect(res.status).toBe(415);
  });

  it('answers 400 with a google.rpc.Status in the request encoding for undecodable bodies', async () => {
    const server = await start();
    const json = await post(server.url, '{"resourceSpans": [', { 'Content-Type': 'application/json' });
    expect(json.status).toBe(400);
    expect(await json.json()).toMatchObject({ code: 3, message: expect.stringMatching(/invalid JSON/) });
    const pb = await post(server.url, new Uint8Array([0x0a, 0xff, 0xff, 0xff, 0x0f, 1]), { 'Content-Type': 'application/x-protobuf' });
    expect(pb.status).toBe(400);
    const status = otlpSchema().Status.toObject(otlpSchema().Status.decode(new Uint8Array(await pb.arrayBuffer()))) as { code: number; message: string };
    expect(status.code).toBe(3);
    expect(status.message).toMatch(/protobuf/);
  });

  it.each(['json', 'protobuf'] as const)('reports invalid spans as partial_success and keeps the valid ones (%s)', async (encoding) => {
    const server = await start();
    const request = djangoRequest({ repeats: 6 });
    const spans = request.resourceSpans[0]!.scopeSpans[1]!.spans;
    spans[1]!.spanId = 'abcd';
    spans[2]!.endTimeUnixNano = '1';
    const res =
      encoding === 'json'
        ? await post(server.url, encodeJson(request), { 'Content-Type': 'application/json' })
        : await post(server.url, encodeProtobuf(request), { 'Content-Type': 'application/x-protobuf' });
    expect(res.status).toBe(200);
    const { ExportTraceServiceResponse } = otlpSchema();
    const body = (encoding === 'json' ? await res.json() : ExportTraceServiceResponse.toObject(ExportTraceServiceResponse.decode(new Uint8Array(await res.arrayBuffer())), { longs: String })) as {
      partialSuccess: { rejectedSpans: string; errorMessage: string };
    };
    expect(Number(body.partialSuccess.rejectedSpans)).toBe(2);
    expect(body.partialSuccess.errorMessage).toMatch(/bad span id.*end before start|end before start.*bad span id/);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/n1lens_spans_rejected_total\{reason="bad_span_id"\} 1/);
    expect(metrics).toMatch(/n1lens_spans_received_total\{transport="http"\} 6/);
  });

  it('answers 400 to a protobuf export damaged inside a span attribute, spools none of it, and keeps taking exports', async () => {
    const dir = tempDir('damaged');
    const server = await start({ spool: { dir: join(dir, 'spool'), commitMs: 1 } });
    // Admission reads only the spans' trace ids: the damage (a key claiming 32 bytes, holding 2) is found decoding.
    const field = (no: number, body: Uint8Array): Buffer => Buffer.concat([Buffer.from([(no << 3) | 2, body.length]), body]);
    const time = (no: number, ns: bigint): Buffer => {
      const b = Buffer.alloc(9);
      b[0] = (no << 3) | 1;
      b.writeBigUInt64LE(ns, 1);
      return b;
    };
    const span = Buffer.concat([
      field(1, Buffer.from('ab'.repeat(16), 'hex')),
      field(2, Buffer.from('cd'.repeat(8), 'hex')),
      field(5, Buffer.from('GET /')),
      time(7, 1_700_000_000_000_000_000n),
      time(8, 1_700_000_000_001_000_000n),
      field(9, Buffer.from([0x0a, 0x20, 0x64, 0x62])),
    ]);
    const damaged = field(1, field(2, field(2, span)));
    const res = await post(server.url, damaged, { 'Content-Type': 'application/x-protobuf' });
    expect(res.status).toBe(400);
    const status = otlpSchema().Status.toObject(otlpSchema().Status.decode(new Uint8Array(await res.arrayBuffer()))) as { code: number; message: string };
    expect(status).toMatchObject({ code: 3, message: expect.stringMatching(/truncated attribute key/) });
    await new Promise((r) => setTimeout(r, 300)); // a tick or two
    let metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/n1lens_exports_refused_total\{transport="http",reason="undecodable"\} 1/);
    expect(metrics).toMatch(/n1lens_spool_bytes 0\n/);
    expect((await post(server.url, encodeProtobuf(djangoRequest()), { 'Content-Type': 'application/x-protobuf' })).status).toBe(200);
    await waitForRequests(server.url, 1);
    metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/n1lens_exports_accepted_total\{transport="http"\} 1\n/);
  });

  it('accepts gzip and answers 413 past the limit, stopping a gzip bomb at the limit', async () => {
    const server = await start({ maxBodyBytes: 1024 * 1024 });
    const ok = await post(server.url, gzipSync(encodeProtobuf(djangoRequest())), { 'Content-Type': 'application/x-protobuf', 'Content-Encoding': 'gzip' });
    expect(ok.status).toBe(200);
    const bomb = gzipSync(Buffer.alloc(200 * 1024 * 1024));
    expect(bomb.length).toBeLessThan(1024 * 1024);
    const rss = process.memoryUsage().rss;
    const res = await post(server.url, bomb, { 'Content-Type': 'application/x-protobuf', 'Content-Encoding': 'gzip' });
    expect(res.status).toBe(413);
    expect(process.memoryUsage().rss - rss).toBeLessThan(100 * 1024 * 1024);
    const raw = await post(server.url, new Uint8Array(2 * 1024 * 1024), { 'Content-Type': 'application/x-protobuf' });
    expect(raw.status).toBe(413);
  });

  it('refuses a batch with 503 and Retry-After when the open-trace buffer is full', async () => {
    const server = await start({ maxTraces: 1, traceWaitMs: 60_000 });
    const a = await post(server.url, encodeProtobuf(djangoRequest({ traceId: '1'.repeat(32) })), { 'Content-Type': 'application/x-protobuf' });
    expect(a.status).toBe(200);
    const b = await post(server.url, encodeProtobuf(djangoRequest({ traceId: '2'.repeat(32) })), { 'Content-Type': 'application/x-protobuf' });
    expect(b.status).toBe(503);
    expect(Number(b.headers.get('retry-after'))).toBeGreaterThan(0);
    // More spans of an already open trace are still welcome.
    const c = await post(server.url, encodeProtobuf(djangoRequest({ traceId: '1'.repeat(32), repeats: 1 })), { 'Content-Type': 'application/x-protobuf' });
    expect(c.status).toBe(200);
  });

  it('refuses a batch that would overshoot --max-traces before taking it, instead of analysing the oldest trace early', async () => {
    const server = await start({ maxTraces: 2, traceWaitMs: 60_000 });
    const one = djangoRequest({ traceId: '1'.repeat(32), repeats: 6 });
    expect((await post(server.url, encodeJson(one), { 'Content-Type': 'application/json' })).status).toBe(200);
    const two = djangoRequest({ traceId: '2'.repeat(32) });
    const three = djangoRequest({ traceId: '3'.repeat(32) });
    const both = { resourceSpans: [...two.resourceSpans, ...three.resourceSpans] };
    const refused = await post(server.url, encodeJson(both), { 'Content-Type': 'application/json' });
    expect(refused.status).toBe(503);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(((await refused.json()) as { message: string }).message).toMatch(/--max-traces/);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/n1lens_trace_evictions_total 0/);
    expect(metrics).toMatch(/n1lens_open_traces 1/);
    expect(metrics).toMatch(/n1lens_exports_refused_total\{transport="http",reason="max_traces"\} 1/);
    await server.intake.tick();
    const report = (await (await fetch(`${server.url}/api/report`)).json()) as Report;
    expect(report.summary.requests).toBe(0); // trace 1 is still open, waiting for the rest of its spans
  });

  it('counts late spans of an analysed trace and never double-counts its finding', async () => {
    const server = await start();
    const request = djangoRequest({ repeats: 6 });
    const [serverScope, dbScope] = request.resourceSpans[0]!.scopeSpans;
    const late = dbScope!.spans.splice(-1, 1);
    expect((await post(server.url, encodeJson(request), { 'Content-Type': 'application/json' })).status).toBe(200);
    const before = await waitForRequests(server.url, 1);
    const lateRequest = { resourceSpans: [{ ...request.resourceSpans[0]!, scopeSpans: [{ ...serverScope!, spans: [] }, { ...dbScope!, spans: late }] }] };
    expect((await post(server.url, encodeJson(lateRequest), { 'Content-Type': 'application/json' })).status).toBe(200);
    await server.intake.tick();
    expect(await (await fetch(`${server.url}/api/report`)).json()).toEqual(before);
    expect(await (await fetch(`${server.url}/metrics`)).text()).toMatch(/n1lens_late_spans_total 1/);
  });

  it('assembles a cascade split over many batches arriving in reverse order', async () => {
    const server = await start();
    const request = djangoRequest({ repeats: 40 });
    const spans = request.resourceSpans[0]!.scopeSpans.flatMap((s) => s.spans);
    const batches = [];
    for (let i = 0; i < spans.length; i += 3) {
      batches.push({ resourceSpans: [{ ...request.resourceSpans[0]!, scopeSpans: [{ ...request.resourceSpans[0]!.scopeSpans[0]!, spans: spans.slice(i, i + 3) }] }] });
    }
    for (const batch of batches.reverse()) {
      expect((await post(server.url, encodeProtobuf(batch), { 'Content-Type': 'application/x-protobuf' })).status).toBe(200);
    }
    const report = await waitForRequests(server.url, 1);
    expect(report.endpoints[0]?.findings[0]?.repeatsPerRequest.p50).toBe(40);
  });
});

describe('OTLP/gRPC errors', () => {
  const exportCall = (port: number, body: Buffer): Promise<{ error: grpc.ServiceError | null }> => {
    const Client = grpc.makeGenericClientConstructor({}, 'TraceService');
    const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    return new Promise((resolve) => {
      client.makeUnaryRequest(
        '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
        (b: Buffer) => b,
        (b: Buffer) => b,
        body,
        (error: grpc.ServiceError | null) => {
          client.close();
          resolve({ error });
        },
      );
    });
  };

  it('answers INVALID_ARGUMENT for undecodable input', async () => {
    const server = await start();
    const { error } = await exportCall(server.grpcPort, Buffer.from([0x0a, 0xff, 0xff, 0xff, 0x0f]));
    expect(error?.code).toBe(grpc.status.INVALID_ARGUMENT);
  });

  it('answers UNAVAILABLE with RetryInfo when overloaded', async () => {
    const server = await start({ maxTraces: 1, traceWaitMs: 60_000 });
    expect((await exportCall(server.grpcPort, Buffer.from(encodeProtobuf(djangoRequest({ traceId: '1'.repeat(32) }))))).error).toBeNull();
    const { error } = await exportCall(server.grpcPort, Buffer.from(encodeProtobuf(djangoRequest({ traceId: '2'.repeat(32) }))));
    expect(error?.code).toBe(grpc.status.UNAVAILABLE);
    const details = error?.metadata.get('grpc-status-details-bin')[0] as Buffer;
    const { Status, RetryInfo } = otlpSchema();
    const status = Status.decode(details) as unknown as { details: { type_url: string; value: Uint8Array }[] };
    expect(status.details[0]?.type_url).toBe('type.googleapis.com/google.rpc.RetryInfo');
    const retry = RetryInfo.toObject(RetryInfo.decode(status.details[0]!.value), { longs: Number }) as { retryDelay: { seconds: number } };
    expect(retry.retryDelay.seconds).toBeGreaterThan(0);
  });

  it('answers RESOURCE_EXHAUSTED past the receive limit', async () => {
    const server = await start({ grpcMaxReceiveBytes: 64 * 1024 });
    const { error } = await exportCall(server.grpcPort, Buffer.from(encodeProtobuf(djangoRequest({ repeats: 2000 }))));
    expect(error?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
  });
});
