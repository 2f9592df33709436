/**
 * The Dockerfile's build stage, run without Docker: exactly the files its COPY lines bring in (less
 * what .dockerignore leaves out), then `npm run build`. A file the build reads that the image never
 * gets (rolldown.config.mjs was one) fails here rather than in `docker build`.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, statSync, symlinkSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { freePort, root, servePorts, spawnBin, tempDir } from './support.js';

/** The sources and destination of each `COPY` in the first stage (not `COPY --from`). */
function buildStageCopies(dockerfile: string): { sources: string[]; dest: string }[] {
  const stages = dockerfile.split(/^FROM\s/m);
  const build = stages[1];
  if (build === undefined) throw new Error('Dockerfile: no FROM');
  const copies: { sources: string[]; dest: string }[] = [];
  for (const line of build.replace(/\\\n/g, ' ').split('\n')) {
    const m = /^\s*COPY\s+(.*)$/i.exec(line);
    if (m === null) continue;
    const words = m[1]!.trim().split(/\s+/);
    if (words.some((w) => w.startsWith('--from'))) continue;
    const args = words.filter((w) => !w.startsWith('--'));
    if (args.length < 2 || args[0]!.startsWith('[')) throw new Error(`Dockerfile: a COPY this test cannot read: ${line}`);
    copies.push({ sources: args.slice(0, -1), dest: args.at(-1)! });
  }
  return copies;
}

/** .dockerignore as a test of a context-relative path (Docker's rules, as far as this project uses them: `*`, `**`, `!`). */
function dockerIgnore(text: string): (path: string) => boolean {
  const rules = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const negate = l.startsWith('!');
      const glob = (negate ? l.slice(1) : l).replace(/^\/+|\/+$/g, '');
      let re = '';
      for (let i = 0; i < glob.length; i++) {
        const ch = glob[i]!;
        if (glob.startsWith('**/', i)) (re += '(?:.*/)?'), (i += 2);
        else if (glob.startsWith('**', i)) (re += '.*'), (i += 1);
        else if (ch === '*') re += '[^/]*';
        else if (ch === '?') re += '[^/]';
        else re += ch.replace(/[.+^${}()|[\]\\]/g, '\\$&');
      }
      // A match on a directory leaves out everything in it.
      return { negate, re: new RegExp(`^${re}(?:/.*)?$`) };
    });
  return (path) => rules.reduce((ignored, r) => (r.re.test(path) ? !r.negate : ignored), false);
}

describe('Dockerfile', () => {
  it('builds in its build stage from only the files that stage COPYs in', () => {
    const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
    const copies = buildStageCopies(dockerfile);
    expect(copies.length).toBeGreaterThan(0);
    const ignored = existsSync(join(root, '.dockerignore')) ? dockerIgnore(readFileSync(join(root, '.dockerignore'), 'utf8')) : () => false;
    const app = tempDir('docker-build');
    for (const { sources, dest } of copies) {
      for (const source of sources) {
        expect(existsSync(join(root, source)), `COPY ${source}: not in the repository`).toBe(true);
        expect(ignored(source), `COPY ${source}: left out by .dockerignore`).toBe(false);
        // A folder's contents go to the destination; a file goes into it when it ends in /, else becomes it.
        const target = statSync(join(root, source)).isDirectory() ? join(app, dest) : dest.endsWith('/') ? join(app, dest, basename(source)) : join(app, dest);
        mkdirSync(join(target, '..'), { recursive: true });
        cpSync(join(root, source), target, { recursive: true, filter: (from) => !ignored(relative(root, from)) });
      }
    }
    // `RUN npm ci` installs what package-lock.json pins: the repository's own install stands in for it.
    symlinkSync(join(root, 'node_modules'), join(app, 'node_modules'));
    const r = spawnSync('npm', ['run', 'build'], { cwd: app, encoding: 'utf8', env: { ...process.env, npm_config_update_notifier: 'false' } });
    expect(r.status, r.stderr + r.stdout).toBe(0);
    expect(existsSync(join(app, 'dist/bundle/n1-report.js'))).toBe(true);
    expect(existsSync(join(app, 'dist/cli/n1lens.js'))).toBe(true);
  }, 240_000);
});

/** The HEALTHCHECK's command, run from the repository as the image runs it from /app. */
function healthcheck(env: Record<string, string>): number | null {
  const m = /^HEALTHCHECK\b(?:.*\\\n)*.*?\bCMD\s+(\[.*\])\s*$/m.exec(readFileSync(join(root, 'Dockerfile'), 'utf8'));
  if (m === null) throw new Error('Dockerfile: no HEALTHCHECK CMD [...]');
  const [command, ...args] = JSON.parse(m[1]!) as string[];
  return spawnSync(command === 'node' ? process.execPath : command!, args, { cwd: root, env: { ...process.env, ...env }, stdio: 'ignore', timeout: 10_000 }).status;
}

/** A CA, a server certificate for 127.0.0.1 signed by it, and a client certificate signed by it. */
function certificates(dir: string): Record<'ca' | 'cert' | 'key' | 'clientCert' | 'clientKey', string> {
  const f = (name: string) => join(dir, name);
  const ssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'ignore' });
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('ca.key'), '-out', f('ca.pem'), '-days', '1', '-subj', '/CN=probe test CA');
  for (const who of ['server', 'client']) {
    ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', f(`${who}.key`), '-out', f(`${who}.csr`), '-subj', `/CN=${who}`);
    ssl('x509', '-req', '-in', f(`${who}.csr`), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f(`${who}.pem`), '-days', '1');
  }
  return { ca: f('ca.pem'), cert: f('server.pem'), key: f('server.key'), clientCert: f('client.pem'), clientKey: f('client.key') };
}

describe('Dockerfile HEALTHCHECK', () => {
  const dir = tempDir('probe');
  const certs = certificates(dir);

  it.each<[string, string[], Record<string, string>]>([
    ['plain HTTP', [], {}],
    ['TLS (--tls-cert)', ['--tls-cert', certs.cert, '--tls-key', certs.key], {}],
    ['mTLS (--tls-client-ca), given a client certificate', ['--tls-cert', certs.cert, '--tls-key', certs.key, '--tls-client-ca', certs.ca], { N1LENS_HEALTHCHECK_CERT: certs.clientCert, N1LENS_HEALTHCHECK_KEY: certs.clientKey }],
  ])('passes against serve over %s, and fails once it is gone', async (_name, flags, env) => {
    const s = spawnBin(['serve', '--http-port', '0', '--grpc-port', '0', '--db', ':memory:', '--no-warm-up', ...flags]);
    const { http } = await servePorts(s);
    try {
      expect(healthcheck({ N1LENS_HEALTHCHECK_PORT: String(http), ...env })).toBe(0);
      // mTLS refuses a probe without the client certificate: the one given is what lets it in.
      if (env.N1LENS_HEALTHCHECK_CERT !== undefined) expect(healthcheck({ N1LENS_HEALTHCHECK_PORT: String(http) })).toBe(1);
    } finally {
      s.child.kill('SIGTERM');
      await s.exited;
    }
    expect(healthcheck({ N1LENS_HEALTHCHECK_PORT: String(http), ...env })).toBe(1);
  });

  it('fails where nothing listens', async () => {
    expect(healthcheck({ N1LENS_HEALTHCHECK_PORT: String(await freePort()) })).toBe(1);
  });
});
