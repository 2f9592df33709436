import { execFileSync } from 'node:child_process';
import { writeFileSync, mkdirSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, isListening, servePorts, spawnBin, tempDir } from './support.js';

const dir = tempDir('startup');
const webhook = ['--webhook-url', 'https://hooks.slack.com/services/T000/B000/XXXX'];

/** Runs `n1lens serve` with fixed free ports and the fault; returns its exit code, stderr and the ports. */
async function serveFault(args: string[], ports?: { http: number; grpc: number }) {
  const http = ports?.http ?? (await freePort());
  const grpc = ports?.grpc ?? (await freePort());
  const s = spawnBin(['serve', '--http-port', String(http), '--grpc-port', String(grpc), '--db', join(dir, 'ok.db'), ...args]);
  const code = await s.exited;
  return { code, stderr: s.stderr(), http, grpc };
}

const occupied: Server[] = [];
afterAll(() => occupied.forEach((s) => s.close()));
async function occupy(): Promise<number> {
  const s = createServer();
  occupied.push(s);
  return new Promise((resolve) => s.listen(0, '127.0.0.1', () => resolve((s.address() as { port: number }).port)));
}

function expectOneLine(stderr: string, pattern: RegExp): void {
  expect(stderr.endsWith('\n')).toBe(true);
  expect(stderr.trimEnd().split('\n')).toHaveLength(1);
  expect(stderr).toMatch(pattern);
  expect(stderr).not.toMatch(/\n\s+at /);
}

describe.concurrent('n1lens serve start-up faults: one line, exit 2, nothing left listening', () => {
  it.each<[string, () => Promise<{ args: string[]; ports?: { http: number; grpc: number }; says: RegExp }>]>([
    ['the HTTP port is in use', async () => ({ args: [], ports: { http: await occupy(), grpc: await freePort() }, says: /^n1lens: cannot listen for OTLP\/HTTP on 127\.0\.0\.1:\d+: the address is already in use/ })],
    ['the gRPC port is in use', async () => ({ args: [], ports: { http: await freePort(), grpc: await occupy() }, says: /^n1lens: cannot listen for OTLP\/gRPC on 127\.0\.0\.1:\d+: the address is already in use/ })],
    ['--http-port 99999', async () => ({ args: ['--http-port', '99999'], says: /--http-port must be a port number, 0 to 65535/ })],
    ['--db in a directory that does not exist', async () => ({ args: ['--db', join(dir, 'missing', 'x.db')], says: /^n1lens: cannot open the store .*missing\/x\.db: .*directory does not exist/ })],
    ['--db that cannot be written (a directory)', async () => {
      mkdirSync(join(dir, 'a-directory'), { recursive: true });
      return { args: ['--db', join(dir, 'a-directory')], says: /^n1lens: cannot open the store .*a-directory: unable to open database file/ };
    }],
    ['--db that is not SQLite', async () => {
      writeFileSync(join(dir, 'notes.txt'), 'these are not the rows you are looking for\n'.repeat(200));
      return { args: ['--db', join(dir, 'notes.txt')], says: /^n1lens: cannot open the store .*notes\.txt: file is not a database/ };
    }],
    ['--digest-every with --digest-cron', async () => ({ args: ['--digest-every', '24h', '--digest-cron', '0 9 * * *', ...webhook], says: /^n1lens: give --digest-every or --digest-cron, not both$/m })],
    ['a non-loopback --host without a token', async () => ({ args: ['--host', '0.0.0.0'], says: /^n1lens: --host 0\.0\.0\.0 is reachable from the network: set --auth-token/ })],
    ['--tls-cert without --tls-key', async () => ({ args: ['--tls-cert', join(dir, 'cert.pem')], says: /^n1lens: --tls-cert and --tls-key go together$/m })],
    ['a --tls-cert file that does not exist', async () => ({ args: ['--tls-cert', join(dir, 'nope.pem'), '--tls-key', join(dir, 'nope.key')], says: /^n1lens: --tls-cert .*nope\.pem: no such file$/m })],
    ['--digest-since with --digest-every (each covers the time since the last)', async () => ({ args: ['--digest-every', '24h', '--digest-since', '72h', ...webhook], says: /^n1lens: --digest-since applies to --digest-cron; each --digest-every digest covers the time since the last$/m })],
    ['--digest-since without a schedule', async () => ({ args: ['--digest-since', '24h', ...webhook], says: /^n1lens: --digest-since needs --digest-cron/ })],
    ['--tls-cert and --tls-key swapped', async () => {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'real.key'), '-out', join(dir, 'real.pem'), '-subj', '/CN=localhost', '-days', '1'], { stdio: 'ignore' });
      return { args: ['--tls-cert', join(dir, 'real.key'), '--tls-key', join(dir, 'real.pem')], says: /^n1lens: --tls-cert .*real\.key: not a PEM certificate .*--tls-key its private key$/m };
    }],
    ['--max-body-mib 0 (every export would be refused)', async () => ({ args: ['--max-body-mib', '0'], says: /--max-body-mib must be a whole number ≥ 1/ })],
    ['an auth token with a space inside', async () => ({ args: ['--auth-token', 's3cret token'], says: /^n1lens: --auth-token must be one word of printable ASCII/ })],
    ['an auth token of whitespace only', async () => ({ args: ['--auth-token', ' \n'], says: /^n1lens: --auth-token is empty$/m })],
    ['--allow-host with a token (only a loopback listener without one checks Host)', async () => ({ args: ['--allow-host', 'n1lens.example.com', '--auth-token', 's3cret'], says: /^n1lens: --allow-host has no effect with a token: only a loopback listener without a token checks the Host/ })],
    ['--allow-host given a URL', async () => ({ args: ['--allow-host', 'https://n1lens.example.com'], says: /--allow-host.*"https:\/\/n1lens\.example\.com" is not a host name: give the name a proxy sends in Host, without scheme or port/ })],
    ['a bad cron expression', async () => ({ args: ['--digest-cron', 'every morning', ...webhook], says: /^n1lens: --digest-cron: "every morning" is not a cron pattern/ })],
  ])('%s', async (_name, make) => {
    const { args, ports, says } = await make();
    const r = await serveFault(args, ports);
    expect(r.code).toBe(2);
    expectOneLine(r.stderr, says);
    expect(r.stderr).not.toContain('OTLP/HTTP http://'); // refused before anything was bound
    for (const port of [r.http, r.grpc]) {
      if (ports !== undefined && occupied.some((s) => (s.address() as { port: number }).port === port)) continue;
      expect(await isListening(port)).toBe(false);
    }
  });

  it('several processes creating one new store at once all start (migrations take turns)', async () => {
    const db = join(dir, 'shared.db');
    const servers = Array.from({ length: 4 }, () => spawnBin(['serve', '--http-port', '0', '--grpc-port', '0', '--no-spool', '--db', db]));
    const started = await Promise.allSettled(servers.map((s) => servePorts(s)));
    for (const s of servers) s.child.kill('SIGTERM');
    const codes = await Promise.all(servers.map((s) => s.exited));
    expect(servers.map((s, i) => (started[i]!.status === 'fulfilled' ? 'started' : s.stderr().trim()))).toEqual(servers.map(() => 'started'));
    expect(codes).toEqual([0, 0, 0, 0]);
  });

  it('digest --db on a file that is not SQLite: one line, exit 2', async () => {
    writeFileSync(join(dir, 'not-a-store.db'), 'plain text\n');
    const s = spawnBin(['digest', '--db', join(dir, 'not-a-store.db'), '--dry-run']);
    expect(await s.exited).toBe(2);
    expectOneLine(s.stderr(), /^n1lens: cannot open the store .*not-a-store\.db: file is not a database/);
  });

  it('serve on a PostgreSQL store without --spool, or one that cannot be reached: one line, exit 2, no password', async () => {
    const url = 'postgres://n1lens:s3cret@127.0.0.1:1/n1lens';
    const noSpool = spawnBin(['serve', '--db', url, '--http-port', '0', '--grpc-port', '0']);
    expect(await noSpool.exited).toBe(2);
    expectOneLine(noSpool.stderr(), /^n1lens: with a PostgreSQL store, give each instance its own --spool <dir>/);
    const unreachable = spawnBin(['serve', '--http-port', '0', '--grpc-port', '0', '--spool', join(dir, 'pg-spool')], {
      env: { ...process.env, N1LENS_DATABASE_URL: url },
    });
    expect(await unreachable.exited).toBe(2);
    expectOneLine(unreachable.stderr(), /^n1lens: cannot open the store postgres:\/\/n1lens:\*\*\*@127\.0\.0\.1:1\/n1lens: .*ECONNREFUSED/);
    expect(unreachable.stderr()).not.toContain('s3cret');
  });
});

describe('n1lens serve --auth-token', () => {
  it('takes a token that ends in a newline (a secret file) as the token without it: clients get in', async () => {
    const s = spawnBin(['serve', '--http-port', '0', '--grpc-port', '0', '--db', ':memory:', '--no-warm-up'], { env: { ...process.env, N1LENS_AUTH_TOKEN: 's3cret\n' } });
    try {
      const { http } = await servePorts(s);
      const metrics = (authorization?: string) => fetch(`http://127.0.0.1:${http}/metrics`, authorization === undefined ? {} : { headers: { authorization } });
      expect((await metrics('Bearer s3cret')).status).toBe(200);
      expect((await metrics()).status).toBe(401);
    } finally {
      s.child.kill('SIGTERM');
      await s.exited;
    }
  });
});

describe('n1lens serve --host ::1', () => {
  it('prints addresses a browser and a gRPC client take: the IPv6 address in brackets', async () => {
    const s = spawnBin(['serve', '--host', '::1', '--http-port', '0', '--grpc-port', '0', '--db', ':memory:', '--no-warm-up']);
    try {
      const m = await s.waitFor(/OTLP\/HTTP (\S+) · OTLP\/gRPC (\S+) · web UI (\S+) /);
      expect(m[1]).toMatch(/^http:\/\/\[::1\]:\d+\/v1\/traces$/);
      expect(m[2]).toMatch(/^\[::1\]:\d+$/);
      expect(m[3]).toMatch(/^http:\/\/\[::1\]:\d+\/$/);
      expect((await fetch(new URL('/healthz', m[3]!))).status).toBe(200);
    } finally {
      s.child.kill('SIGTERM');
      await s.exited;
    }
  });
});

describe('every command answers --version', () => {
  it.each([[['--version']], [['serve', '--version']], [['report', '--version']], [['digest', '--version']], [['--version'], 'n1-report']] as [string[], string?][])(
    '%j',
    async (args, bin) => {
      const s = spawnBin(args, bin === undefined ? {} : { bin });
      let out = '';
      s.child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
      expect(await s.exited).toBe(0);
    },
  );
});

describe('n1lens serve stops when told to', () => {
  it('drains and exits when its npm/npx parent dies without passing SIGTERM on', async () => {
    // A parent that, like npx, does not forward SIGTERM: it is killed outright and the server is orphaned.
    const { spawn } = await import('node:child_process');
    const db = join(dir, 'orphan.db');
    const http = await freePort();
    const parent = spawn('sh', ['-c', `"${process.execPath}" bin/n1lens.js serve --http-port ${http} --grpc-port 0 --db "${db}" 2>"${join(dir, 'orphan.err')}" & wait`], {
      cwd: new URL('..', import.meta.url).pathname,
      env: { ...process.env, npm_command: 'exec' },
      stdio: 'ignore',
    });
    const deadline = Date.now() + 15_000;
    while (!(await isListening(http)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(await isListening(http)).toBe(true);
    parent.kill('SIGKILL');
    while ((await isListening(http)) && Date.now() < deadline + 5_000) await new Promise((r) => setTimeout(r, 50));
    expect(await isListening(http)).toBe(false);
    // The serve thread's stderr reaches the file through the main thread, so the line may land just
    // after the listener closes: wait for it as for the port.
    const { readFileSync } = await import('node:fs');
    const said = (): string => readFileSync(join(dir, 'orphan.err'), 'utf8');
    while (!said().includes('npm/npx parent exited') && Date.now() < deadline + 10_000) await new Promise((r) => setTimeout(r, 50));
    expect(said()).toMatch(/npm\/npx parent exited: analysing buffered traces and closing/);
  });

  it('stops on SIGINT with exit code 0', async () => {
    const s = spawnBin(['serve', '--http-port', '0', '--grpc-port', '0', '--db', join(dir, 'sigint.db')]);
    const { http } = await servePorts(s);
    s.child.kill('SIGINT');
    expect(await s.exited).toBe(0);
    expect(await isListening(http)).toBe(false);
  });
});
