import http from 'node:http';
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import type { Report } from '../src/report/model.js';
import { djangoRequest, encodeProtobuf } from '../src/otlp/testing.js';
import { startServer, type RunningServer } from '../src/server/serve.js';
import { tempDir, testServeOptions } from './support.js';

const running: RunningServer[] = [];
const clients: grpc.Client[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await Promise.all(running.splice(0).map((s) => s.close()));
});

const EXPORT = '/opentelemetry.proto.collector.trace.v1.TraceService/Export';
const body = (traceId: string): Buffer => Buffer.from(encodeProtobuf(djangoRequest({ traceId, repeats: 6 })));

function postHttp(port: number, payload: Buffer): Promise<{ status: number; retryAfter: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, path: '/v1/traces', method: 'POST', headers: { 'content-type': 'application/x-protobuf', 'content-length': payload.length } },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'] }));
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

function exportGrpc(client: grpc.Client, payload: Buffer): Promise<grpc.ServiceError | null> {
  const identity = (b: Buffer): Buffer => b;
  return new Promise((resolve) => client.makeUnaryRequest(EXPORT, identity, identity, payload, (err) => resolve(err)));
}

describe('serve --memory-limit-mib', () => {
  it('refuses exports past the measured memory limit with a retryable status on both transports, and analyses every retried export once', async () => {
    const dir = tempDir('memory-limit');
    // One byte: the process is always past it, so only an empty buffer takes an export.
    // Trace a must still be open when b and c arrive: a trace wait a loaded machine cannot outlast
    // between three loopback calls, on a gRPC channel connected beforehand.
    const server = await startServer(testServeOptions(dir, { memoryLimitBytes: 1, traceWaitMs: 1500, spool: { dir: `${dir}/spool` } }));
    running.push(server);
    const client = new grpc.Client(`127.0.0.1:${server.grpcPort}`, grpc.credentials.createInsecure());
    clients.push(client);
    await new Promise<void>((resolve, reject) => client.waitForReady(Date.now() + 10_000, (e) => (e === undefined || e === null ? resolve() : reject(e))));
    const [a, b, c] = ['a', 'b', 'c'].map((x) => x.repeat(32)) as [string, string, string];

    expect((await postHttp(server.httpPort, body(a))).status).toBe(200);
    // Trace a is open: the next new trace is refused on memory, whichever transport brings it.
    const refusedHttp = await postHttp(server.httpPort, body(b));
    expect(refusedHttp.status).toBe(503);
    expect(Number(refusedHttp.retryAfter)).toBeGreaterThanOrEqual(1);
    const refusedGrpc = await exportGrpc(client, body(c));
    expect(refusedGrpc?.code).toBe(grpc.status.UNAVAILABLE);
    expect(refusedGrpc?.details).toMatch(/memory limit/);
    expect(String(refusedGrpc?.metadata.get('grpc-status-details-bin')[0]?.toString('latin1'))).toContain('RetryInfo');

    // Retried as an exporter with retry_on_failure would (sooner than asked, to keep the test short):
    // each gets in once the buffer has drained.
    const pending = new Map<string, () => Promise<boolean>>([
      [b, async () => (await postHttp(server.httpPort, body(b))).status === 200],
      [c, async () => (await exportGrpc(client, body(c))) === null],
    ]);
    for (const until = Date.now() + 40_000; pending.size > 0 && Date.now() < until; ) {
      for (const [id, retry] of pending) if (await retry()) pending.delete(id);
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(pending.size).toBe(0);

    let report: Report | undefined;
    // A refused export's traces are held until its retry is due (as the refusal asked), then analysed.
    for (const until = Date.now() + 40_000; Date.now() < until; ) {
      report = (await (await fetch(`http://127.0.0.1:${server.httpPort}/api/report`)).json()) as Report;
      if (report.summary.requests >= 3) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(report?.summary.requests).toBe(3);
    expect([...(await server.store.committed([a, b, c]))].sort()).toEqual([a, b, c]);
    const metrics = await (await fetch(`http://127.0.0.1:${server.httpPort}/metrics`)).text();
    expect(metrics).toMatch(/n1lens_exports_refused_total\{transport="http",reason="memory"\} [1-9]/);
    expect(metrics).toMatch(/n1lens_exports_refused_total\{transport="grpc",reason="memory"\} [1-9]/);
    expect(metrics).toMatch(/n1lens_requests_analysed_total 3\b/);
    expect(metrics).toMatch(/n1lens_process_memory_bytes\{kind="heap_used"\} [1-9]/);
  }, 120_000);
});
