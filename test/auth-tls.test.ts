import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { otlpSchema } from '../src/otlp/schema.js';
import { djangoRequest, encodeProtobuf } from '../src/otlp/testing.js';
import { UNAUTHENTICATED_BODY } from '../src/server/auth.js';
import { startServer, type RunningServer, type ServeOptions } from '../src/server/serve.js';
import { tempDir } from './support.js';

const running: RunningServer[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.close()));
});

async function start(over: Partial<ServeOptions>): Promise<RunningServer> {
  const dir = tempDir('auth');
  const server = await startServer({
    host: '127.0.0.1', httpPort: 0, grpcPort: 0, db: join(dir, 'n1lens.db'), traceWaitMs: 50, maxTraces: 100,
    maxBodyBytes: 4 << 20, grpcMaxReceiveBytes: 4 << 20, ...over,
  });
  running.push(server);
  return server;
}

const exportBody = (): Uint8Array => encodeProtobuf(djangoRequest({ repeats: 6 }));

/** Calls TraceService/Export over gRPC with raw bytes; resolves to the status code. */
function grpcExport(port: number, credentials: grpc.ChannelCredentials, metadata = new grpc.Metadata()): Promise<number> {
  const client = new grpc.Client(`127.0.0.1:${port}`, credentials, { 'grpc.ssl_target_name_override': 'localhost' });
  return new Promise((resolve) => {
    client.makeUnaryRequest('/opentelemetry.proto.collector.trace.v1.TraceService/Export', (b: Buffer) => b, (b: Buffer) => b, Buffer.from(exportBody()), metadata, (err) => {
      client.close();
      resolve(err === null ? grpc.status.OK : err.code);
    });
  });
}

const bearer = (token: string): grpc.Metadata => {
  const md = new grpc.Metadata();
  md.set('authorization', `Bearer ${token}`);
  return md;
};

describe('--auth-token', () => {
  it('answers 401 without the bearer token on OTLP/HTTP, the API and /metrics, and keeps /healthz open', async () => {
    const server = await start({ authToken: 's3cret-token' });
    const url = `http://127.0.0.1:${server.httpPort}`;
    const post = (headers: Record<string, string>) => fetch(`${url}/v1/traces`, { method: 'POST', body: exportBody(), headers: { 'Content-Type': 'application/x-protobuf', ...headers } });
    expect((await post({})).status).toBe(401);
    expect((await post({ Authorization: 'Bearer wrong' })).status).toBe(401);
    const refused = await post({ Authorization: 'Basic czNjcmV0LXRva2Vu' });
    expect(refused.status).toBe(401);
    expect(refused.headers.get('www-authenticate')).toMatch(/^Bearer/);
    // In the request's encoding, as every OTLP/HTTP error: a google.rpc.Status for a protobuf export.
    expect(refused.headers.get('content-type')).toBe('application/x-protobuf');
    expect(otlpSchema().Status.decode(new Uint8Array(await refused.arrayBuffer())).toJSON()).toEqual(UNAUTHENTICATED_BODY);
    const json = await fetch(`${url}/v1/traces`, { method: 'POST', body: '{}', headers: { 'Content-Type': 'application/json' } });
    expect([json.status, await json.json()]).toEqual([401, UNAUTHENTICATED_BODY]);
    expect((await post({ Authorization: 'Bearer s3cret-token' })).status).toBe(200);
    for (const path of ['/api/report', '/api/endpoints', '/metrics', '/']) expect((await fetch(`${url}${path}`)).status).toBe(401);
    expect((await fetch(`${url}/api/report`, { headers: { Authorization: 'bearer s3cret-token' } })).status).toBe(200);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
  });

  it('answers UNAUTHENTICATED on OTLP/gRPC without the token in the authorization metadata', async () => {
    const server = await start({ authToken: 's3cret-token' });
    const insecure = grpc.credentials.createInsecure();
    expect(await grpcExport(server.grpcPort, insecure)).toBe(grpc.status.UNAUTHENTICATED);
    expect(await grpcExport(server.grpcPort, insecure, bearer('nope'))).toBe(grpc.status.UNAUTHENTICATED);
    expect(await grpcExport(server.grpcPort, insecure, bearer('s3cret-token'))).toBe(grpc.status.OK);
  });
});

/** A CA, a server certificate for localhost/127.0.0.1 and a client certificate, made with openssl. */
function makeCerts(): Record<'ca' | 'caKey' | 'cert' | 'key' | 'clientCert' | 'clientKey', string> {
  const dir = tempDir('certs');
  const f = (name: string) => join(dir, name);
  const ssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('ca.key'), '-out', f('ca.pem'), '-days', '1', '-subj', '/CN=n1lens test CA');
  writeFileSync(f('san.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('server.key'), '-out', f('server.csr'), '-subj', '/CN=localhost');
  ssl('x509', '-req', '-in', f('server.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f('server.pem'), '-days', '1', '-extfile', f('san.ext'));
  ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('client.key'), '-out', f('client.csr'), '-subj', '/CN=collector');
  ssl('x509', '-req', '-in', f('client.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f('client.pem'), '-days', '1');
  return { ca: f('ca.pem'), caKey: f('ca.key'), cert: f('server.pem'), key: f('server.key'), clientCert: f('client.pem'), clientKey: f('client.key') };
}

/** POSTs an export over HTTPS; resolves to the status, or the error code when the handshake fails. */
function httpsPost(port: number, options: { ca: Buffer; cert?: Buffer; key?: Buffer; token?: string }): Promise<number | string> {
  return new Promise((resolve) => {
    const req = httpsRequest(
      { host: '127.0.0.1', port, path: '/v1/traces', method: 'POST', servername: 'localhost', ca: options.ca, cert: options.cert, key: options.key,
        headers: { 'Content-Type': 'application/x-protobuf', ...(options.token === undefined ? {} : { Authorization: `Bearer ${options.token}` }) } },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    req.end(Buffer.from(exportBody()));
  });
}

describe('loopback without a token (DNS rebinding)', () => {
  /** A request as a browser sends it to a page's name: Host (and Origin) name that page, whatever address it resolved to. */
  const send = (port: number, path: string, host: string, init: { method?: string; body?: string | Uint8Array; headers?: Record<string, string> } = {}) =>
    new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port, path, method: init.method ?? 'GET', headers: { Host: host, ...init.headers } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode!, text: Buffer.concat(chunks).toString() }));
      });
      req.on('error', reject);
      req.end(init.body);
    });

  it('answers only requests addressed to a loopback name: a page re-pointing its own name here reads and posts nothing', async () => {
    const server = await start({});
    const port = server.httpPort;
    const evil = `evil.example:${port}`;
    const api = await send(port, '/api/report', evil);
    expect(api.status).toBe(403);
    expect(api.text).toMatch(/answers only requests addressed to localhost, 127\.0\.0\.1 or \[::1\], not to "evil\.example:\d+"/);
    const form = await send(port, '/findings/1/acknowledge', evil, {
      method: 'POST',
      body: 'state=ignored&reason=muted+by+a+web+page',
      headers: { Origin: `http://${evil}`, 'Content-Type': 'application/x-www-form-urlencoded' },
    });
    expect(form.status).toBe(403);
    const traces = await send(port, '/v1/traces', evil, { method: 'POST', body: '{}', headers: { 'Content-Type': 'application/json' } });
    expect(traces.status).toBe(403);
    for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`]) expect((await send(port, '/api/report', host)).status, host).toBe(200);
    expect((await send(port, '/v1/traces', `localhost:${port}`, { method: 'POST', body: '{}', headers: { 'Content-Type': 'application/json' } })).status).toBe(200);
  });

  it('also answers the names given with --allow-host (a reverse proxy passing its own Host), and still refuses others', async () => {
    const server = await start({ allowHosts: ['n1lens.example.com'] });
    const port = server.httpPort;
    expect((await send(port, '/api/report', 'n1lens.example.com')).status).toBe(200);
    expect((await send(port, '/v1/traces', `n1lens.example.com:${port}`, { method: 'POST', body: '{}', headers: { 'Content-Type': 'application/json' } })).status).toBe(200);
    const refused = await send(port, '/api/report', 'evil.example');
    expect(refused.status).toBe(403);
    expect(refused.text).toMatch(/allow that name with --allow-host/);
  });

  it('leaves the name to the token when there is one', async () => {
    const server = await start({ authToken: 's3cret-token' });
    expect((await send(server.httpPort, '/api/report', 'n1lens.internal', { headers: { Authorization: 'Bearer s3cret-token' } })).status).toBe(200);
  });
});

describe('--tls-cert / --tls-key / --tls-client-ca', () => {
  const certs = makeCerts();
  const ca = readFileSync(certs.ca);

  it('serves OTLP/HTTP and OTLP/gRPC over TLS, with the token on top', async () => {
    const server = await start({ authToken: 'tok', tls: { cert: certs.cert, key: certs.key } });
    expect(await httpsPost(server.httpPort, { ca, token: 'tok' })).toBe(200);
    expect(await httpsPost(server.httpPort, { ca })).toBe(401);
    expect(await grpcExport(server.grpcPort, grpc.credentials.createSsl(ca), bearer('tok'))).toBe(grpc.status.OK);
    expect(await grpcExport(server.grpcPort, grpc.credentials.createSsl(ca))).toBe(grpc.status.UNAUTHENTICATED);
    // Plain text to a TLS listener gets nowhere.
    expect(await grpcExport(server.grpcPort, grpc.credentials.createInsecure(), bearer('tok'))).toBe(grpc.status.UNAVAILABLE);
  });

  it('requires a client certificate signed by --tls-client-ca (mTLS) on both listeners', async () => {
    const server = await start({ tls: { cert: certs.cert, key: certs.key, clientCa: certs.ca } });
    const clientCert = readFileSync(certs.clientCert);
    const clientKey = readFileSync(certs.clientKey);
    expect(await httpsPost(server.httpPort, { ca, cert: clientCert, key: clientKey })).toBe(200);
    expect(await httpsPost(server.httpPort, { ca })).not.toBe(200);
    expect(await grpcExport(server.grpcPort, grpc.credentials.createSsl(ca, clientKey, clientCert))).toBe(grpc.status.OK);
    expect(await grpcExport(server.grpcPort, grpc.credentials.createSsl(ca))).toBe(grpc.status.UNAVAILABLE);
  });

  it('refuses to start with a missing certificate file, in one line', async () => {
    await expect(start({ tls: { cert: join(tempDir('nocert'), 'missing.pem'), key: certs.key } })).rejects.toThrow(/^--tls-cert .*missing\.pem: no such file$/);
  });

  it('refuses to start, in one line naming the flags, with files swapped, a key of another certificate, or a CA bundle without a certificate', async () => {
    const refused = async (tls: ServeOptions['tls']): Promise<Error> => {
      const e = await start({ tls }).then(
        () => new Error('started'),
        (error: unknown) => error as Error,
      );
      expect(e.name).toBe('StartupError');
      expect(e.message).not.toContain('\n');
      return e;
    };
    expect((await refused({ cert: certs.key, key: certs.cert })).message).toMatch(
      /^--tls-cert .*server\.key: not a PEM certificate \(.*\); --tls-cert takes the certificate, --tls-key its private key$/,
    );
    expect((await refused({ cert: certs.cert, key: certs.cert })).message).toMatch(/^--tls-key .*server\.pem: not a PEM private key /);
    expect((await refused({ cert: certs.cert, key: certs.clientKey })).message).toMatch(
      /^--tls-cert .*server\.pem and --tls-key .*client\.key do not belong together \(key values mismatch\)$/,
    );
    expect((await refused({ cert: certs.cert, key: certs.key, clientCa: certs.caKey })).message).toMatch(/^--tls-client-ca .*ca\.key: not a PEM CA certificate bundle /);
  });
});
