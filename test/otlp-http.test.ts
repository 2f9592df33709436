import http from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { otlpSchema } from '../src/otlp/schema.js';
import { djangoRequest, encodeProtobuf } from '../src/otlp/testing.js';
import type { ExportIntake } from '../src/server/intake.js';
import { createMetrics } from '../src/server/metrics.js';
import { createOtlpHttpHandler } from '../src/server/otlp-http.js';
import { startServer, type RunningServer } from '../src/server/serve.js';
import { tempDir, testServeOptions } from './support.js';

const running: RunningServer[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.close()));
});

const LIMIT = 64 * 1024;

async function start(): Promise<RunningServer> {
  const server = await startServer(testServeOptions(tempDir('otlp-http'), { maxBodyBytes: LIMIT, grpcMaxReceiveBytes: LIMIT }));
  running.push(server);
  return server;
}

/** Writes raw bytes on a fresh connection and resolves to everything the server sends once it closes the connection. */
function untilClosed(port: number, bytes: string | Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let got = '';
    socket.on('data', (d) => (got += d.toString('latin1')));
    socket.on('end', () => resolve(got));
    socket.on('error', reject);
    socket.write(bytes);
  });
}

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

function request(port: number, options: http.RequestOptions, write: (req: http.ClientRequest) => void): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, ...options }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    write(req);
  });
}

const exportBody = (): Buffer => Buffer.from(encodeProtobuf(djangoRequest({ repeats: 6 })));

describe('OTLP/HTTP on node:http', () => {
  it('keeps an idle keep-alive connection past the 5 s Node default: an exporter back from a retry delay gets a status on it, not a reset', async () => {
    const server = await start();
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const send = (traceId: string): Promise<{ status: number; reused: boolean }> =>
      new Promise((resolve, reject) => {
        const body = Buffer.from(encodeProtobuf(djangoRequest({ traceId, repeats: 6 })));
        const req = http.request(
          { host: '127.0.0.1', port: server.httpPort, path: '/v1/traces', method: 'POST', agent, headers: { 'content-type': 'application/x-protobuf', 'content-length': body.length } },
          (res) => {
            res.resume();
            res.on('end', () => resolve({ status: res.statusCode ?? 0, reused: req.reusedSocket }));
          },
        );
        req.on('error', reject);
        req.end(body);
      });
    expect(await send('a'.repeat(32))).toEqual({ status: 200, reused: false });
    await new Promise((r) => setTimeout(r, 6000));
    expect(await send('b'.repeat(32))).toEqual({ status: 200, reused: true });
    agent.destroy();
  }, 15_000);

  it('answers an export with an empty protobuf ExportTraceServiceResponse, several on one keep-alive connection', async () => {
    const server = await start();
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const sockets = new Set<unknown>();
    for (let i = 0; i < 3; i++) {
      const body = Buffer.from(encodeProtobuf(djangoRequest({ traceId: String(i + 1).repeat(32), repeats: 6 })));
      const res = await request(server.httpPort, { method: 'POST', path: '/v1/traces', agent, headers: { 'Content-Type': 'application/x-protobuf' } }, (req) => {
        req.on('socket', (s) => sockets.add(s));
        req.end(body);
      });
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toBe('application/x-protobuf');
      expect(res.body.length).toBe(0);
      expect(otlpSchema().ExportTraceServiceResponse.toObject(otlpSchema().ExportTraceServiceResponse.decode(res.body))).toEqual({});
    }
    agent.destroy();
    expect(sockets.size).toBe(1);
  });

  it('reads a chunked body without Content-Length, and refuses one that grows past the limit with 413', async () => {
    const server = await start();
    const body = exportBody();
    const ok = await request(server.httpPort, { method: 'POST', path: '/v1/traces', headers: { 'Content-Type': 'application/x-protobuf' } }, (req) => {
      // Several chunks, no Content-Length: Transfer-Encoding: chunked.
      for (let i = 0; i < body.length; i += 100) req.write(body.subarray(i, i + 100));
      req.end();
    });
    expect(ok.status).toBe(200);
    const big = await request(server.httpPort, { method: 'POST', path: '/v1/traces', headers: { 'Content-Type': 'application/json' } }, (req) => {
      req.on('error', () => undefined);
      for (let i = 0; i < 4; i++) req.write(Buffer.alloc(LIMIT / 2, 0x20));
      req.end();
    });
    expect(big.status).toBe(413);
    expect(JSON.parse(big.body.toString())).toEqual({ code: 8, message: `request body exceeds ${LIMIT} bytes` });
  });

  it('refuses a Content-Length above the limit at once, without waiting for the body, and closes the connection', async () => {
    const server = await start();
    const answer = await untilClosed(
      server.httpPort,
      `POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-protobuf\r\nContent-Length: ${100 * LIMIT}\r\n\r\n`,
    );
    expect(answer).toMatch(/^HTTP\/1\.1 413 /);
    expect(answer).toMatch(/\r\nConnection: close\r\n/i);
    const status = otlpSchema().Status.decode(Buffer.from(answer.slice(answer.indexOf('\r\n\r\n') + 4), 'latin1'));
    expect(status.toJSON()).toMatchObject({ code: 8, message: `request body exceeds ${LIMIT} bytes` });
  });

  it('keeps serving after a client goes away in the middle of its body', async () => {
    const server = await start();
    const socket = connect(server.httpPort, '127.0.0.1');
    socket.on('error', () => undefined);
    await new Promise((r) => socket.once('connect', r));
    socket.write('POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-protobuf\r\nContent-Length: 5000\r\n\r\n');
    socket.write(exportBody().subarray(0, 200));
    await new Promise((r) => setTimeout(r, 50));
    socket.destroy();
    await new Promise((r) => setTimeout(r, 50));
    const res = await fetch(`http://127.0.0.1:${server.httpPort}/v1/traces`, { method: 'POST', body: exportBody(), headers: { 'Content-Type': 'application/x-protobuf' } });
    expect(res.status).toBe(200);
    const metrics = await (await fetch(`http://127.0.0.1:${server.httpPort}/metrics`)).text();
    expect(metrics).not.toMatch(/n1lens_exports_refused_total\{transport="http"/);
  });

  it('answers 500 with one line when taking an export fails after its body was read', async () => {
    const fails = async (): Promise<never> => {
      throw new Error('the intake broke');
    };
    const intake = { acceptProtobuf: fails, acceptJson: fails } as unknown as ExportIntake;
    const server = http.createServer(createOtlpHttpHandler({ intake, metrics: createMetrics(), maxBodyBytes: LIMIT }));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const res = await fetch(`http://127.0.0.1:${port}/v1/traces`, { method: 'POST', body: exportBody(), headers: { 'Content-Type': 'application/x-protobuf' } });
      expect(res.status).toBe(500);
      expect(await res.json()).toEqual({ error: 'internal error: the intake broke' });
    } finally {
      server.close();
    }
  });

  it('takes POST /v1/traces with a query string; other methods and paths stay with the web app', async () => {
    const server = await start();
    const url = `http://127.0.0.1:${server.httpPort}`;
    const headers = { 'Content-Type': 'application/x-protobuf' };
    expect((await fetch(`${url}/v1/traces?source=test`, { method: 'POST', body: exportBody(), headers })).status).toBe(200);
    const get = await fetch(`${url}/v1/traces`);
    expect(get.status).toBe(404);
    expect(await get.json()).toEqual({ error: 'not found' });
    expect((await fetch(`${url}/v1/tracesx`, { method: 'POST', body: exportBody(), headers })).status).toBe(404);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
  });
});
