/** Shared test edges: temp directories removed after the file's tests, free ports, the real `n1lens` binary as a child process, and databases in a real PostgreSQL. */
import { execFile, execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, expect, onTestFinished } from 'vitest';
import { djangoRequest, encodeProtobuf } from '../src/otlp/testing.js';
import type { ServeOptions } from '../src/server/serve.js';

export const root = new URL('..', import.meta.url).pathname;

/** A fresh directory under the OS temp dir, deleted when the test that made it ends (or the file, at top level). */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `n1lens-${prefix}-`));
  const remove = (): void => rmSync(dir, { recursive: true, force: true });
  try {
    onTestFinished(remove);
  } catch {
    afterAll(remove);
  }
  return dir;
}

/**
 * A loopback port nothing listens on right now, below the kernel's ephemeral range and in a slice of its own for
 * this Vitest worker: a port taken with `listen(0)`, or by an outgoing connection, can be handed to another test
 * between this check and the child's bind (or while a test checks that a refused child left it unbound). Where
 * the ephemeral range leaves no room for a slice per worker, one `listen(0)` gives.
 */
export async function freePort(): Promise<number> {
  if (portSlice === undefined) return ephemeralPort();
  for (let tries = 0; tries < PORT_SLICE; tries++) {
    const port = portSlice.first + (portSlice.next++ % PORT_SLICE);
    if (await canListen(port)) return port;
  }
  throw new Error(`freePort: no free port in ${portSlice.first}..${portSlice.first + PORT_SLICE - 1}`);
}

const PORT_SLICE = 500;
const FIRST_SLICE_PORT = 10_000;

const portSlice = ((): { first: number; next: number } | undefined => {
  let ephemeralLow = 32768;
  try {
    ephemeralLow = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || ephemeralLow;
  } catch {
    // not Linux: the IANA range starts at 49152, so 32768 stays below it
  }
  const slices = Math.floor((ephemeralLow - FIRST_SLICE_PORT) / PORT_SLICE);
  const worker = Number(process.env.VITEST_POOL_ID ?? 1);
  return worker >= 1 && worker <= slices ? { first: FIRST_SLICE_PORT + (worker - 1) * PORT_SLICE, next: 0 } : undefined;
})();

function ephemeralPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** True when a TCP connection to the loopback port succeeds. */
export function isListening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = connect({ host: '127.0.0.1', port });
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
}

export interface Spawned {
  child: ChildProcess;
  stderr: () => string;
  exited: Promise<number | null>;
  /** Resolves to the match once stderr matches, or throws after `timeoutMs`. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
}

/** Runs `bin/<bin>.js args` under this Node, collecting stderr; `wrapper` runs it under another command (`['taskset', '-c', '0']`). */
export function spawnBin(args: string[], options: { env?: NodeJS.ProcessEnv; bin?: string; wrapper?: string[] } = {}): Spawned {
  const command = [...(options.wrapper ?? []), process.execPath, join(root, 'bin', `${options.bin ?? 'n1lens'}.js`), ...args];
  const child = spawn(command[0]!, command.slice(1), {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: options.env ?? process.env,
  });
  let err = '';
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    stderr: () => err,
    exited,
    async waitFor(pattern, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const m = pattern.exec(err);
        if (m !== null) return m;
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`no ${pattern} in stderr: ${err}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    },
  };
}

/** What a finished `bin/<bin>.js` run printed, and its exit status. */
export interface BinRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** This process's environment with colour off, as a user piping the output has it. */
const plainEnv = (): NodeJS.ProcessEnv => ({ ...process.env, NO_COLOR: '1', FORCE_COLOR: undefined });

/** Runs `bin/<bin>.js args` (default n1-report) under this Node to its end; `env` defaults to this process's with colour off. */
export function runBin(args: string[], options: { bin?: string; env?: NodeJS.ProcessEnv } = {}): Promise<BinRun> {
  const env = options.env ?? plainEnv();
  return new Promise((resolve) => {
    execFile(process.execPath, [join(root, 'bin', `${options.bin ?? 'n1-report'}.js`), ...args], { env, maxBuffer: 256 * 1024 * 1024 }, (error, stdout, stderr) => {
      resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr });
    });
  });
}

/** runBin for a synchronous test: `input` is the program's stdin, `cwd` its directory, `env` added to this process's with colour off. */
export function runBinSync(args: string[], options: { bin?: string; env?: NodeJS.ProcessEnv; cwd?: string; input?: Buffer | string } = {}): BinRun {
  const r = spawnSync(process.execPath, [join(root, 'bin', `${options.bin ?? 'n1-report'}.js`), ...args], {
    env: { ...plainEnv(), ...options.env },
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    ...(options.input === undefined ? {} : { input: options.input }),
  });
  return { code: r.status ?? 1, stdout: r.stdout, stderr: r.stderr };
}

/** A user's error as the CLI must give it: exit 2, nothing on stdout, `message` on stderr's last line, no stack trace. */
export function expectRefusal(r: BinRun, message: RegExp): void {
  expect(r.code).toBe(2);
  expect(r.stdout).toBe('');
  expect(r.stderr.trim().split('\n').at(-1)).toMatch(message);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

/** The ports `n1lens serve` printed on start. */
export async function servePorts(s: Spawned): Promise<{ http: number; grpc: number }> {
  const m = await s.waitFor(/OTLP\/HTTP https?:\/\/(?:\[[^\]]*\]|[^:]+):(\d+)\/v1\/traces · OTLP\/gRPC (?:\[[^\]]*\]|[^:]+):(\d+)/);
  return { http: Number(m[1]), grpc: Number(m[2]) };
}

/** The state file of the tests' PostgreSQL cluster (scripts/postgres.sh): $N1LENS_PG_STATE, or one per machine. */
export const postgresState = (): string => process.env.N1LENS_PG_STATE ?? join(tmpdir(), 'n1lens-pg-tests.env');

/**
 * A new, empty database in the tests' PostgreSQL cluster, owned by the unprivileged role n1lens runs
 * as, started (and installed from Debian when missing) by scripts/postgres.sh. Never skips: when
 * PostgreSQL cannot start, this throws and the test fails saying so.
 */
export async function postgresDatabase(name: string): Promise<string> {
  const state = postgresState();
  const env = { ...process.env, N1LENS_PG_STATE: state };
  let url: string;
  try {
    // flock: vitest's workers may start the cluster at the same moment (-o: the server must not inherit the lock).
    execFileSync('flock', ['-o', `${state}.lock`, 'bash', join(root, 'scripts/postgres.sh'), 'start'], { env, stdio: ['ignore', 'ignore', 'pipe'], timeout: 600_000 });
    url = execFileSync('bash', [join(root, 'scripts/postgres.sh'), 'url'], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  } catch (e) {
    const stderr = String((e as { stderr?: Buffer | string }).stderr ?? '').trim();
    throw new Error(`PostgreSQL could not start (N1LENS_PG_STATE=${state} bash scripts/postgres.sh start): ${stderr || (e as Error).message}`);
  }
  const { port } = new URL(url);
  const database = `n1lens_${name.replace(/\W/g, '_')}_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  const admin = new pg.Client({ connectionString: `postgresql://postgres@127.0.0.1:${port}/postgres` });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${database} OWNER recruit`);
  } finally {
    await admin.end();
  }
  return `postgresql://recruit:recruit@127.0.0.1:${port}/${database}`;
}

/** In-process `serve` options for the intake tests: loopback, ephemeral ports, a store in `dir`, a 50 ms trace wait. */
export function testServeOptions(dir: string, over: Partial<ServeOptions> = {}): ServeOptions {
  return {
    host: '127.0.0.1',
    httpPort: 0,
    grpcPort: 0,
    db: join(dir, 'n1lens.db'),
    traceWaitMs: 50,
    maxTraces: 1000,
    maxBodyBytes: 4 * 1024 * 1024,
    grpcMaxReceiveBytes: 4 * 1024 * 1024,
    detect: { minRepeats: 5 },
    ...over,
  };
}

/** A value of a server's /metrics (the first line that matches `name`, labels included); NaN when it is not there. */
export async function metric(port: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return Number(line?.slice(name.length + 1) ?? NaN);
}

/** Resolves once `what` does (polled every 20 ms), or throws after `ms`. */
export async function until(what: () => Promise<boolean>, ms = 5000): Promise<void> {
  for (const end = Date.now() + ms; !(await what()); ) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** An export of one request whose root span carries `bytes` of padding: a large export of one trace. */
export function largeExport(bytes: number): Buffer {
  const request = djangoRequest({ repeats: 6 });
  request.resourceSpans[0]!.scopeSpans[0]!.spans[0]!.attributes.push({ key: 'padding', value: { stringValue: 'x'.repeat(bytes) } });
  return Buffer.from(encodeProtobuf(request));
}
