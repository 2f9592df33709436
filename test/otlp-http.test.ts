import http from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { otlpSchema } from '../src/otlp/schema.js';
import { djangoRequest, encodeProtobuf } from '../src/otlp/testing.js';
import { UNCOUNTED_BODY } from '../src/server/inflight.js';
import type { ExportIntake } from '../src/server/intake.js';
import { createMetrics } from '../src/server/metrics.js';
import { createOtlpHttpHandler } from '../src/server/otlp-http.js';
import { startServer, type RunningServer } from '../src/server/serve.js';
import { largeExport, metric, tempDir, testServeOptions, until } from './support.js';

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

const MIB = 1024 * 1024;




/** A POST /v1/traces started by hand on a fresh connection: its headers, then `body` (any part of it). */
function startPost(port: number, contentType: string, contentLength: number, body: Buffer = Buffer.alloc(0)): { socket: Socket; answer: Promise<string> } {
  const socket = connect(port, '127.0.0.1');
  let got = '';
  // Whatever arrived once the server closed the connection (it cuts the rest of a body it does not read).
  const answer = new Promise<string>((resolve) => socket.on('close', () => resolve(got)));
  socket.on('data', (d) => (got += d.toString('latin1')));
  socket.on('error', () => undefined);
  socket.write(`POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: ${contentType}\r\nContent-Length: ${contentLength}\r\n\r\n`);
  if (body.length > 0) socket.write(body);
  return { socket, answer };
}

/** A raw HTTP/1.1 answer's status, headers (lower-cased names) and body. */
function parseAnswer(raw: string): { status: number; headers: Record<string, string>; body: Buffer } {
  const end = raw.indexOf('\r\n\r\n');
  const [statusLine, ...lines] = raw.slice(0, end).split('\r\n');
  const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
  return { status: Number(statusLine!.split(' ')[1]), headers, body: Buffer.from(raw.slice(end + 4, end + 4 + Number(headers['content-length'])), 'latin1') };
}

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
    const intake = { startBody: () => UNCOUNTED_BODY, acceptProtobuf: fails, acceptJson: fails } as unknown as ExportIntake;
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

  it('refuses an export as soon as its headers arrive while past --memory-limit-mib: 503 + Retry-After in its encoding, the connection closed, the body not read', async () => {
    const server = await startServer(testServeOptions(tempDir('otlp-http-memory'), { memoryLimitBytes: 1, traceWaitMs: 10_000, maxBodyBytes: 16 * MIB }));
    running.push(server);
    const headers = { 'Content-Type': 'application/x-protobuf' };
    // One byte: the process is always past it, so only an empty buffer takes an export.
    expect((await fetch(`http://127.0.0.1:${server.httpPort}/v1/traces`, { method: 'POST', body: exportBody(), headers })).status).toBe(200);
    // Four 12 MiB bodies, 8 MiB of each sent: each is answered at once, not once it is whole.
    const started = performance.now();
    const posts = ['application/x-protobuf', 'application/json', 'application/x-protobuf', 'application/json'].map((type) => startPost(server.httpPort, type, 12 * MIB, Buffer.alloc(8 * MIB)));
    const answers = (await Promise.all(posts.map((p) => p.answer))).map(parseAnswer);
    expect(performance.now() - started).toBeLessThan(5000);
    for (const [i, answer] of answers.entries()) {
      expect(answer.status).toBe(503);
      expect(Number(answer.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      expect(answer.headers.connection).toBe('close');
      const status = i % 2 === 0 ? otlpSchema().Status.toObject(otlpSchema().Status.decode(answer.body)) : JSON.parse(answer.body.toString());
      expect(answer.headers['content-type']).toBe(i % 2 === 0 ? 'application/x-protobuf' : 'application/json');
      expect(status).toEqual({ code: 14, message: 'n1lens is at its memory limit (--memory-limit-mib); retry later' });
    }
    expect(await metric(server.httpPort, 'n1lens_exports_refused_total{transport="http",reason="memory"}')).toBe(4);
    expect(await metric(server.httpPort, 'n1lens_request_bytes_in_flight')).toBe(0);
  }, 20_000);

  it('counts bodies in flight as their bytes come, refuses the one that takes them past a fifth of --memory-limit-mib, and has a body cut by its client give its bytes back', async () => {
    // A budget of 8 MiB; nothing is buffered, so memory alone refuses nothing.
    const server = await startServer(testServeOptions(tempDir('otlp-http-in-flight'), { memoryLimitBytes: 40 * MIB, maxBodyBytes: 32 * MIB }));
    running.push(server);
    const inFlight = (): Promise<number> => metric(server.httpPort, 'n1lens_request_bytes_in_flight');
    // A slow sender: 16 MiB declared, 6 MiB sent.
    const slow = startPost(server.httpPort, 'application/x-protobuf', 16 * MIB, Buffer.alloc(6 * MIB));
    await until(async () => (await inFlight()) === 6 * MIB);
    // Headers alone hold nothing: clients that declare bodies and stall cannot lock the others out.
    const stalled = Array.from({ length: 4 }, () => startPost(server.httpPort, 'application/x-protobuf', 16 * MIB));
    await new Promise((r) => setTimeout(r, 100));
    expect(await inFlight()).toBe(6 * MIB);
    // 4 MiB more would take them past 8 MiB: refused once its bytes do, the rest unread.
    const refused = parseAnswer(await startPost(server.httpPort, 'application/x-protobuf', 4 * MIB, Buffer.alloc(4 * MIB)).answer);
    expect(refused.status).toBe(503);
    expect(refused.headers.connection).toBe('close');
    expect(otlpSchema().Status.toObject(otlpSchema().Status.decode(refused.body))).toMatchObject({ code: 14 });
    expect(await inFlight()).toBe(6 * MIB);
    // An export of the usual size still fits.
    const ok = await fetch(`http://127.0.0.1:${server.httpPort}/v1/traces`, { method: 'POST', body: exportBody(), headers: { 'Content-Type': 'application/x-protobuf' } });
    expect(ok.status).toBe(200);
    expect(await metric(server.httpPort, 'n1lens_exports_refused_total{transport="http",reason="memory"}')).toBe(1);
    // The slow sender goes away mid-body: its bytes go back.
    slow.socket.destroy();
    for (const s of stalled) s.socket.destroy();
    await until(async () => (await inFlight()) === 0);
  }, 20_000);

  it('past --memory-limit-mib, refuses a chunked body once 1 MiB of it has come, as it refuses one that declares that much', async () => {
    const server = await startServer(testServeOptions(tempDir('otlp-http-chunked-memory'), { memoryLimitBytes: 1, traceWaitMs: 10_000, maxBodyBytes: 16 * MIB }));
    running.push(server);
    // One byte: the process is always past it, so only an empty buffer takes an export.
    expect((await fetch(`http://127.0.0.1:${server.httpPort}/v1/traces`, { method: 'POST', body: exportBody(), headers: { 'Content-Type': 'application/x-protobuf' } })).status).toBe(200);
    const socket = connect(server.httpPort, '127.0.0.1');
    socket.on('error', () => undefined);
    let got = '';
    socket.on('data', (d) => (got += d.toString('latin1')));
    const closed = new Promise((resolve) => socket.on('close', resolve));
    socket.write('POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-protobuf\r\nTransfer-Encoding: chunked\r\n\r\n');
    for (let i = 0; i < 3; i++) socket.write(`${MIB.toString(16)}\r\n${'\0'.repeat(MIB)}\r\n`);
    await closed;
    const answer = parseAnswer(got);
    expect([answer.status, answer.headers.connection]).toEqual([503, 'close']);
    expect(await metric(server.httpPort, 'n1lens_request_bytes_in_flight')).toBe(0);
  });

  it('takes one export alone whatever the budget of bodies in flight: a gzip body of 3 MiB inflated, with a budget of 1.6 MiB', async () => {
    const server = await startServer(testServeOptions(tempDir('otlp-http-alone'), { memoryLimitBytes: 8 * MIB }));
    running.push(server);
    const body = largeExport(3 * MIB);
    const res = await fetch(`http://127.0.0.1:${server.httpPort}/v1/traces`, { method: 'POST', body: gzipSync(body), headers: { 'Content-Type': 'application/x-protobuf', 'Content-Encoding': 'gzip' } });
    expect(res.status).toBe(200);
    expect(await metric(server.httpPort, 'n1lens_request_bytes_in_flight')).toBe(0);
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
