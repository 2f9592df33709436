/**
 * HTTP_PROXY, HTTPS_PROXY and NO_PROXY, as a corporate network sets them: `n1-report --from` and the
 * Slack digest reach their servers only through a real (tiny) proxy on loopback, forwarding http
 * requests given in absolute form and tunnelling https ones with CONNECT.
 */
import { execFile, execFileSync } from 'node:child_process';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeTempo, type FakeTempo } from '../src/otlp/pull/testing.js';
import { djangoRequest } from '../src/otlp/testing.js';
import { startProxy } from './proxy-server.js';
import { root, tempDir } from './support.js';

const BASE_NS = 1_760_000_000_000_000_000n;
const window = ['--start', String(BASE_NS - 60_000_000_000n), '--end', String(BASE_NS + 60_000_000_000n)];
const auth = ['--header', 'Authorization: Bearer secret'];
const TEMPO_HOST = 'tempo.internal.invalid';
const SLACK_HOST = 'hooks.slack.invalid';

/** The environment with every proxy variable cleared, then `vars`. */
function env(vars: Record<string, string>): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
  for (const name of ['http_proxy', 'HTTP_PROXY', 'https_proxy', 'HTTPS_PROXY', 'no_proxy', 'NO_PROXY']) delete e[name];
  return { ...e, ...vars };
}

function run(bin: string, args: string[], vars: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [join(root, 'bin', `${bin}.js`), ...args], { env: env(vars) }, (error, stdout, stderr) => {
      resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr });
    });
  });
}

const traces = [
  djangoRequest({ traceId: 'a1'.repeat(16), repeats: 6, startNs: BASE_NS }),
  djangoRequest({ traceId: 'b2'.repeat(16), repeats: 7, startNs: BASE_NS + 1_000_000_000n }),
];
let tempo: FakeTempo;
beforeAll(async () => {
  tempo = await startFakeTempo(traces);
});
afterAll(() => tempo.close());

describe('n1-report --from behind a proxy', () => {
  it('HTTP_PROXY: a Tempo reachable only through the proxy is pulled through it, with the report a direct pull gives', async () => {
    const proxy = await startProxy(new Map([[TEMPO_HOST, Number(new URL(tempo.url).port)]]));
    try {
      const direct = await run('n1-report', ['--from', tempo.url, ...auth, '--service', 'recruit', ...window, '-f', 'json'], {});
      expect(JSON.parse(direct.stdout).summary.findings).toBeGreaterThan(0);
      const proxied = await run('n1-report', ['--from', `http://${TEMPO_HOST}:3200`, ...auth, '--service', 'recruit', ...window, '-f', 'json'], { HTTP_PROXY: proxy.url });
      expect(proxied.stderr).toMatch(/n1-report: 2 traces fetched, 2 analysed \(Tempo .* at http:\/\/tempo\.internal\.invalid:3200\)\n$/);
      expect(proxied.stdout).toBe(direct.stdout);
      expect(proxy.seen).toContain(`GET http://${TEMPO_HOST}:3200/api/echo`);
      expect(proxy.seen.some((s) => s.startsWith(`GET http://${TEMPO_HOST}:3200/api/search?`))).toBe(true);
    } finally {
      await proxy.close();
    }
  });

  it('a loopback host is reached directly without NO_PROXY, the proxy never asked', async () => {
    const proxy = await startProxy(new Map());
    try {
      const r = await run('n1-report', ['--from', tempo.url.replace('127.0.0.1', 'localhost'), ...auth, '--service', 'recruit', ...window, '-f', 'json'], { HTTP_PROXY: proxy.url });
      expect(r.stderr).toMatch(/n1-report: 2 traces fetched, 2 analysed/);
      expect(proxy.seen).toEqual([]);
    } finally {
      await proxy.close();
    }
  });

  it('HTTPS_PROXY refusing the tunnel: the error says the proxy refused it, with its status', async () => {
    const proxy = await startProxy(new Map());
    try {
      const r = await run('n1-report', ['--from', `https://${TEMPO_HOST}:3200`, ...auth, '--service', 'recruit', ...window, '-f', 'json'], { HTTPS_PROXY: proxy.url });
      expect(r.code).toBe(2);
      expect(proxy.seen).toEqual([`CONNECT ${TEMPO_HOST}:3200`]);
      expect(r.stderr).toMatch(/the proxy refused the tunnel \(502\)/);
      expect(r.stderr).not.toContain('UND_ERR');
    } finally {
      await proxy.close();
    }
  });

  it('NO_PROXY: a host it lists is reached directly, the proxy never asked', async () => {
    const proxy = await startProxy(new Map());
    try {
      const r = await run('n1-report', ['--from', tempo.url, ...auth, '--service', 'recruit', ...window, '-f', 'json'], { http_proxy: proxy.url, NO_PROXY: 'localhost,127.0.0.1' });
      expect(r.stderr).toMatch(/n1-report: 2 traces fetched, 2 analysed/);
      expect(proxy.seen).toEqual([]);
    } finally {
      await proxy.close();
    }
  });
});

describe('n1lens digest behind a proxy', () => {
  it('HTTPS_PROXY: the Slack post goes through a CONNECT tunnel, TLS end to end', async () => {
    const dir = tempDir('proxy-certs');
    const cert = join(dir, 'slack.pem');
    const key = join(dir, 'slack.key');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', `/CN=${SLACK_HOST}`, '-addext', `subjectAltName=DNS:${SLACK_HOST}`], { stdio: 'pipe' });
    const posted: string[] = [];
    const slack = createHttpsServer({ cert: readFileSync(cert), key: readFileSync(key) }, (req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        posted.push(`${req.method} ${req.url} ${body}`);
        res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
      });
    });
    await new Promise<void>((resolve) => slack.listen(0, '127.0.0.1', resolve));
    const proxy = await startProxy(new Map([[SLACK_HOST, (slack.address() as AddressInfo).port]]));
    try {
      const sample = join(root, 'samples/traces/recruit.jsonl.gz');
      const r = await run('n1lens', ['digest', sample], {
        HTTPS_PROXY: proxy.url,
        NODE_EXTRA_CA_CERTS: cert,
        N1LENS_SLACK_WEBHOOK_URL: `https://${SLACK_HOST}/services/T000/B000/secret`,
      });
      expect(r.stderr).toBe('n1lens digest: posted 1 message to Slack (5 endpoints)\n');
      expect(r.code).toBe(0);
      expect(proxy.seen).toEqual([`CONNECT ${SLACK_HOST}:443`]);
      expect(posted).toHaveLength(1);
      expect(posted[0]).toMatch(/^POST \/services\/T000\/B000\/secret \{.*"blocks":/);
    } finally {
      await proxy.close();
      await new Promise<void>((resolve) => slack.close(() => resolve()));
    }
  });
});
