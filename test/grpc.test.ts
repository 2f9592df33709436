import * as http2 from 'node:http2';
import { connect } from 'node:net';
import { deflateSync, gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { otlpSchema } from '../src/otlp/schema.js';
import { djangoRequest, encodeProtobuf } from '../src/otlp/testing.js';
import { startServer, type RunningServer } from '../src/server/serve.js';
import { largeExport, metric, tempDir, testServeOptions, until } from './support.js';

const running: RunningServer[] = [];
const sessions: http2.ClientHttp2Session[] = [];
afterEach(async () => {
  for (const s of sessions.splice(0)) s.destroy();
  await Promise.all(running.splice(0).map((s) => s.close()));
});

const LIMIT = 256 * 1024;
const EXPORT = '/opentelemetry.proto.collector.trace.v1.TraceService/Export';

async function start(): Promise<RunningServer> {
  const server = await startServer(testServeOptions(tempDir('grpc'), { maxBodyBytes: LIMIT, grpcMaxReceiveBytes: LIMIT }));
  running.push(server);
  return server;
}

function session(port: number): http2.ClientHttp2Session {
  const s = http2.connect(`http://127.0.0.1:${port}`);
  s.on('error', () => undefined);
  sessions.push(s);
  return s;
}

const framed = (message: Buffer, compressed = false): Buffer => {
  const head = Buffer.alloc(5);
  head[0] = compressed ? 1 : 0;
  head.writeUInt32BE(message.length, 1);
  return Buffer.concat([head, message]);
};

interface CallResult {
  status: number;
  grpcStatus: number | undefined;
  grpcMessage: string;
  /** The google.rpc.Status of grpc-status-details-bin, when the answer had one. */
  details?: { code: number; message: string; details: { type_url: string }[] };
  body: Buffer;
}

/** The google.rpc.Status in an answer's grpc-status-details-bin. */
function detailsOf(headers: http2.IncomingHttpHeaders): CallResult['details'] {
  const bin = headers['grpc-status-details-bin'];
  if (typeof bin !== 'string') return undefined;
  const { Status } = otlpSchema();
  return Status.toObject(Status.decode(Buffer.from(bin, 'base64'))) as CallResult['details'];
}

/** One raw call: headers, then the bytes, then the end of the request. */
function call(s: http2.ClientHttp2Session, body: Buffer, headers: http2.OutgoingHttpHeaders = {}): Promise<CallResult> {
  return new Promise((resolve, reject) => {
    const stream = s.request({ ':method': 'POST', ':path': EXPORT, 'content-type': 'application/grpc', te: 'trailers', ...headers });
    let response: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    stream.on('response', (h) => (response = h));
    stream.on('trailers', (t) => (trailers = t));
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('error', reject);
    stream.on('close', () => {
      const status = trailers['grpc-status'] ?? response['grpc-status'];
      const details = detailsOf({ ...response, ...trailers });
      resolve({
        status: Number(response[':status']),
        grpcStatus: status === undefined ? undefined : Number(status),
        grpcMessage: decodeURIComponent(String(trailers['grpc-message'] ?? response['grpc-message'] ?? '')),
        ...(details === undefined ? {} : { details }),
        body: Buffer.concat(chunks),
      });
    });
    stream.end(body);
  });
}

const exportMessage = (): Buffer => Buffer.from(encodeProtobuf(djangoRequest({ repeats: 6 })));

const MIB = 1024 * 1024;
const MEMORY_MESSAGE = 'n1lens is at its memory limit (--memory-limit-mib); retry later';

/** A call's 5-byte prefix declaring a message of `length` bytes. */
const prefix = (length: number): Buffer => {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(length, 1);
  return head;
};

/** A call that sends `chunks` and does not end its request; resolves with its answer's headers (a trailers-only answer carries the status). */
function unfinishedCall(s: http2.ClientHttp2Session, chunks: Buffer[], headers: http2.OutgoingHttpHeaders = {}): { stream: http2.ClientHttp2Stream; answer: Promise<http2.IncomingHttpHeaders> } {
  const stream = s.request({ ':method': 'POST', ':path': EXPORT, 'content-type': 'application/grpc', te: 'trailers', ...headers });
  stream.on('error', () => undefined);
  const answer = new Promise<http2.IncomingHttpHeaders>((resolve) => stream.on('response', resolve));
  for (const chunk of chunks) stream.write(chunk);
  return { stream, answer };
}




describe('OTLP/gRPC on node:http2', () => {
  it('advertises a 4 MiB stream window and opens a 16 MiB connection window, so a large export does not wait on window updates', async () => {
    const server = await start();
    const s = session(server.grpcPort);
    const settings = await new Promise<http2.Settings>((resolve) => s.once('remoteSettings', resolve));
    expect(settings.initialWindowSize).toBe(4 * 1024 * 1024);
    // A bound on the calls one connection opens at once (Node's default is 2^32 - 1); clients queue past it.
    expect(settings.maxConcurrentStreams).toBe(100);
    // The connection-level WINDOW_UPDATE follows the SETTINGS frame.
    for (let i = 0; i < 50 && (s.state.remoteWindowSize ?? 0) < 16 * 1024 * 1024; i++) await new Promise((r) => setTimeout(r, 10));
    expect(s.state.remoteWindowSize).toBeGreaterThanOrEqual(16 * 1024 * 1024);
    const ok = await call(s, framed(exportMessage()));
    expect(ok.grpcStatus).toBe(0);
    // An empty ExportTraceServiceResponse: the 5-byte prefix and no bytes.
    expect(ok.body).toEqual(Buffer.from([0, 0, 0, 0, 0]));
  });

  it('inflates gzip and deflate messages, refuses unknown encodings and a compressed bomb past the limit', async () => {
    const server = await start();
    const s = session(server.grpcPort);
    expect((await call(s, framed(gzipSync(exportMessage()), true), { 'grpc-encoding': 'gzip' })).grpcStatus).toBe(0);
    expect((await call(s, framed(deflateSync(exportMessage()), true), { 'grpc-encoding': 'deflate' })).grpcStatus).toBe(0);
    expect((await call(s, framed(exportMessage(), true), { 'grpc-encoding': 'snappy' })).grpcStatus).toBe(12);
    // Compressed with no grpc-encoding to say how, or a flag that is neither 0 nor 1: INTERNAL, as grpc-go answers.
    expect(await call(s, framed(gzipSync(exportMessage()), true))).toMatchObject({ grpcStatus: 13, grpcMessage: 'compressed message without a grpc-encoding' });
    const flagged = framed(exportMessage());
    flagged[0] = 2;
    expect(await call(s, flagged)).toMatchObject({ grpcStatus: 13, grpcMessage: 'invalid compressed flag 2 (0 or 1)' });
    const bomb = await call(s, framed(gzipSync(Buffer.alloc(64 * LIMIT)), true), { 'grpc-encoding': 'gzip' });
    expect(bomb.grpcStatus).toBe(8);
    expect(bomb.grpcMessage).toMatch(/larger than max/);
    const metrics = await (await fetch(`http://127.0.0.1:${server.httpPort}/metrics`)).text();
    expect(metrics).toMatch(/n1lens_exports_refused_total\{transport="grpc",reason="bad_encoding"\} 3/);
  });

  it('refuses a declared length past the limit before the message arrives, and keeps the connection for the next call', async () => {
    const server = await start();
    const s = session(server.grpcPort);
    const head = Buffer.alloc(5);
    head.writeUInt32BE(LIMIT + 1, 1);
    const refused = await call(s, head);
    expect(refused.grpcStatus).toBe(8);
    expect(refused.grpcMessage).toBe(`Received message larger than max (${LIMIT + 1} vs. ${LIMIT})`);
    expect((await call(s, framed(exportMessage()))).grpcStatus).toBe(0);
    const metrics = await (await fetch(`http://127.0.0.1:${server.httpPort}/metrics`)).text();
    expect(metrics).toMatch(/n1lens_exports_refused_total\{transport="grpc",reason="too_large"\} 1\b/);
  });

  it('answers UNIMPLEMENTED for other methods, 415 for other content types, INTERNAL for a truncated message', async () => {
    const server = await start();
    const s = session(server.grpcPort);
    expect((await call(s, framed(exportMessage()), { ':path': '/opentelemetry.proto.collector.metrics.v1.MetricsService/Export' })).grpcStatus).toBe(12);
    expect((await call(s, framed(exportMessage()), { 'content-type': 'application/json' })).status).toBe(415);
    expect((await call(s, framed(exportMessage()).subarray(0, 100))).grpcStatus).toBe(13);
    expect((await call(s, Buffer.from('not protobuf at all, and longer than five bytes').subarray(0, 3))).grpcStatus).toBe(13);
    const undecodable = await call(s, framed(Buffer.from([0x0a, 0xff, 0xff, 0xff, 0x0f, 1])));
    expect(undecodable.grpcStatus).toBe(3);
  });

  it('keeps serving after a client cancels a call in the middle of its message', async () => {
    const server = await start();
    const s = session(server.grpcPort);
    const stream = s.request({ ':method': 'POST', ':path': EXPORT, 'content-type': 'application/grpc', te: 'trailers' });
    stream.on('error', () => undefined);
    stream.write(framed(exportMessage()).subarray(0, 300));
    await new Promise((r) => setTimeout(r, 50));
    stream.close(http2.constants.NGHTTP2_CANCEL);
    await new Promise((r) => setTimeout(r, 50));
    expect((await call(session(server.grpcPort), framed(exportMessage()))).grpcStatus).toBe(0);
  });
});

describe('OTLP/gRPC under --memory-limit-mib', () => {
  it('refuses a large message at its length prefix while past the limit: UNAVAILABLE with RetryInfo, before the message', async () => {
    const server = await startServer(testServeOptions(tempDir('grpc-memory'), { memoryLimitBytes: 1, traceWaitMs: 10_000 }));
    running.push(server);
    const s = session(server.grpcPort);
    // One byte: the process is always past it, so only an empty buffer takes an export.
    expect((await call(s, framed(exportMessage()))).grpcStatus).toBe(0);
    // A 4 MiB message of which only the prefix is sent: answered without it.
    const answer = await unfinishedCall(s, [prefix(4 * MIB)]).answer;
    expect(Number(answer['grpc-status'])).toBe(14);
    expect(decodeURIComponent(String(answer['grpc-message']))).toBe(MEMORY_MESSAGE);
    expect(detailsOf(answer)?.details.map((d) => d.type_url)).toEqual(['type.googleapis.com/google.rpc.RetryInfo']);
    expect(await metric(server.httpPort, 'n1lens_exports_refused_total{transport="grpc",reason="memory"}')).toBe(1);
  });

  it('bounds the messages in flight across calls by a fifth of the limit as their bytes come, and a connection cut mid-message gives its bytes back', async () => {
    const server = await startServer(testServeOptions(tempDir('grpc-in-flight'), { memoryLimitBytes: 64 * MIB, traceWaitMs: 10_000 }));
    running.push(server);
    const inFlight = (): Promise<number> => metric(server.httpPort, 'n1lens_request_bytes_in_flight');
    const refused = (): Promise<number> => metric(server.httpPort, 'n1lens_exports_refused_total{transport="grpc",reason="memory"}');
    const s = session(server.grpcPort);
    // A budget of 12.8 MiB. Three calls of 4 MiB send 3 MiB each and stall: 9 MiB held.
    const part = Buffer.alloc(3 * MIB);
    for (let i = 0; i < 3; i++) unfinishedCall(s, [prefix(4 * MIB), part]);
    await until(async () => (await inFlight()) === 3 * (5 + 3 * MIB));
    // Twenty more send only their prefix: 5 bytes each, so they lock nobody out.
    for (let i = 0; i < 20; i++) unfinishedCall(s, [prefix(4 * MIB)]);
    await until(async () => (await inFlight()) === 3 * (5 + 3 * MIB) + 20 * 5);
    expect((await call(session(server.grpcPort), framed(exportMessage()))).grpcStatus).toBe(0);
    // A fourth sending its whole 4 MiB takes them past the budget: refused as its bytes do. (Node's
    // client reads no answer while it has data to write, so the server's counts tell.)
    unfinishedCall(s, [prefix(4 * MIB), Buffer.alloc(4 * MIB)]);
    await until(async () => (await refused()) === 1);
    expect(await inFlight()).toBe(3 * (5 + 3 * MIB) + 20 * 5);
    // The client goes away with its messages unfinished: their bytes go back.
    s.destroy();
    await until(async () => (await inFlight()) === 0);
    // Taken again, at once or, while the process's memory still counts their garbage, at a retry
    // (the refusal is UNAVAILABLE with RetryInfo, which clients retry): the budget of bytes in flight is free.
    await until(async () => (await call(session(server.grpcPort), framed(exportMessage()))).grpcStatus === 0);
  }, 30_000);

  it('answers a message declared past the receive limit RESOURCE_EXHAUSTED, not a retryable refusal, while other bodies fill the budget', async () => {
    // A budget of 1.6 MiB, which an OTLP/HTTP body alone passes (one body alone is always read).
    const server = await startServer(testServeOptions(tempDir('grpc-too-large-busy'), { memoryLimitBytes: 8 * MIB, grpcMaxReceiveBytes: 256 * 1024 }));
    running.push(server);
    const http = connect(server.httpPort, '127.0.0.1');
    http.on('error', () => undefined);
    http.write(`POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-protobuf\r\nContent-Length: ${3 * MIB}\r\n\r\n`);
    http.write(Buffer.alloc(2 * MIB));
    await until(async () => (await metric(server.httpPort, 'n1lens_request_bytes_in_flight')) === 2 * MIB);
    const answer = await unfinishedCall(session(server.grpcPort), [prefix(MIB)]).answer;
    expect(Number(answer['grpc-status'])).toBe(8);
    expect(await metric(server.httpPort, 'n1lens_exports_refused_total{transport="grpc",reason="too_large"}')).toBe(1);
    http.destroy();
  });

  it('ends a call whose message has not arrived by its deadline with DEADLINE_EXCEEDED, and gives its bytes back', async () => {
    const server = await startServer(testServeOptions(tempDir('grpc-read-deadline')));
    running.push(server);
    const { answer } = unfinishedCall(session(server.grpcPort), [prefix(MIB), Buffer.alloc(1024)], { 'grpc-timeout': '300m' });
    expect(Number((await answer)['grpc-status'])).toBe(4);
    await until(async () => (await metric(server.httpPort, 'n1lens_request_bytes_in_flight')) === 0);
  });

  it('takes one message alone whatever the budget of messages in flight: 3 MiB with a budget of 1.6 MiB', async () => {
    const server = await startServer(testServeOptions(tempDir('grpc-alone'), { memoryLimitBytes: 8 * MIB }));
    running.push(server);
    expect((await call(session(server.grpcPort), framed(largeExport(3 * MIB)))).grpcStatus).toBe(0);
    expect(await metric(server.httpPort, 'n1lens_request_bytes_in_flight')).toBe(0);
  });
});

describe('OTLP/gRPC deadlines (grpc-timeout)', () => {
  it('answers DEADLINE_EXCEEDED when the export cannot be made durable in time, and OK within a generous deadline', async () => {
    const dir = tempDir('grpc-deadline');
    // One group commit every 1.5 s: an export waits up to that long for its fsync.
    const server = await startServer(testServeOptions(dir, { spool: { dir: `${dir}/spool`, commitMs: 1500 } }));
    running.push(server);
    const s = session(server.grpcPort);
    const started = Date.now();
    const late = await call(s, framed(exportMessage()), { 'grpc-timeout': '200m' });
    expect(late.grpcStatus).toBe(4);
    expect(late.grpcMessage).toMatch(/durable before the deadline/);
    expect(Date.now() - started).toBeLessThan(1400);
    expect((await call(s, framed(exportMessage()), { 'grpc-timeout': '10S' })).grpcStatus).toBe(0);
    // An expired deadline is refused before the export is taken; a header that does not parse is no deadline.
    expect((await call(s, framed(exportMessage()), { 'grpc-timeout': '0n' })).grpcStatus).toBe(4);
    expect((await call(s, framed(exportMessage()), { 'grpc-timeout': 'soon' })).grpcStatus).toBe(0);
    // Longer than the longest timer Node keeps (~24.8 days), which would fire at once instead.
    expect((await call(s, framed(exportMessage()), { 'grpc-timeout': '720H' })).grpcStatus).toBe(0);
  });
});
