#!/usr/bin/env node
/**
 * Scale-out, one short run: the same load into (1) one `n1lens serve` on SQLite and (2) two on one
 * PostgreSQL, the client routing each trace to one instance as the Collector's loadbalancing
 * exporter does. The load is the sample recording replayed `--passes` times, trace and span ids
 * re-stamped per pass and timestamps moved one hour every `--per-hour` passes (so the store grows
 * hour rows as it would over a day). Prints requests/s from the first export until every request is
 * written, and the store's growth per million requests. Needs `npm run build` and
 * `N1LENS_PG_STATE=… bash scripts/postgres.sh start`.
 *
 *   node bench/scale-out.mjs [--passes 200] [--per-hour 10] [--inflight 8]
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, statSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import pg from 'pg';
import { spawnServe } from './load.mjs';

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? fallback : Number(process.argv[i + 1]);
};
const passes = arg('passes', 200);
const perHour = arg('per-hour', 10);
const inflight = arg('inflight', 8);
const root = fileURLToPath(new URL('..', import.meta.url));
const HOUR_NS = 3_600_000_000_000n;

const lines = gunzipSync(readFileSync(join(root, 'samples/traces/recruit.jsonl.gz'))).toString('utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));

/** Pass `p` of the recording: new ids, shifted hours; one export per (line, instance) after routing by trace id. */
function exportsFor(instances) {
  const out = [];
  const route = (traceId) => Number.parseInt(traceId.slice(-8), 16) % instances;
  for (let p = 0; p < passes; p++) {
    const prefix = p.toString(16).padStart(6, '0');
    const shift = BigInt(Math.floor(p / perHour)) * HOUR_NS;
    const stamp = (id) => prefix + id.slice(6);
    for (const line of lines) {
      const parts = Array.from({ length: instances }, () => ({ resourceSpans: [] }));
      for (const rs of line.resourceSpans) {
        const per = Array.from({ length: instances }, () => ({ ...rs, scopeSpans: [] }));
        for (const ss of rs.scopeSpans) {
          const perScope = Array.from({ length: instances }, () => ({ ...ss, spans: [] }));
          for (const s of ss.spans) {
            const traceId = stamp(s.traceId);
            perScope[route(traceId)].spans.push({
              ...s,
              traceId,
              spanId: stamp(s.spanId),
              ...(s.parentSpanId ? { parentSpanId: stamp(s.parentSpanId) } : {}),
              startTimeUnixNano: String(BigInt(s.startTimeUnixNano) + shift),
              endTimeUnixNano: String(BigInt(s.endTimeUnixNano) + shift),
            });
          }
          perScope.forEach((x, i) => x.spans.length > 0 && per[i].scopeSpans.push(x));
        }
        per.forEach((x, i) => x.scopeSpans.length > 0 && parts[i].resourceSpans.push(x));
      }
      parts.forEach((x, i) => x.resourceSpans.length > 0 && out.push({ instance: i, body: JSON.stringify(x) }));
    }
  }
  return out;
}

async function startServe(db, spool) {
  const { child, http: port } = await spawnServe(process.execPath, ['bin/n1lens.js', 'serve', '--http-port', '0', '--grpc-port', '0', '--db', db, '--spool', spool, '--trace-wait-ms', '500'], root);
  return { child, port };
}

const agent = new http.Agent({ keepAlive: true, maxSockets: inflight });
function post(port, body, path = '/v1/traces') {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method: 'POST', agent, headers: { 'Content-Type': 'application/json' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', reject);
    req.end(body);
  });
}
async function metric(port, name) {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
}

async function run(label, db, instances, expected) {
  const dir = mkdtempSync(join(tmpdir(), 'n1lens-bench-scale-'));
  const servers = await Promise.all(Array.from({ length: instances }, (_, i) => startServe(db === 'sqlite' ? join(dir, 'n1lens.db') : db, join(dir, `spool-${i}`))));
  const work = exportsFor(instances);
  const started = process.hrtime.bigint();
  let next = 0;
  await Promise.all(
    Array.from({ length: inflight }, async () => {
      while (next < work.length) {
        const w = work[next++];
        for (;;) {
          const status = await post(servers[w.instance].port, w.body);
          if (status === 200) break;
          await new Promise((r) => setTimeout(r, 200)); // refused (buffer full): retry, as a Collector would
        }
      }
    }),
  );
  for (;;) {
    const counts = await Promise.all(servers.map(async (s) => [await metric(s.port, 'n1lens_requests_analysed_total'), await metric(s.port, 'n1lens_pending_requests')]));
    if (counts.reduce((n, [a]) => n + a, 0) >= expected && counts.every(([, pending]) => pending === 0)) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  await Promise.all(servers.map((s) => new Promise((resolve) => (s.child.once('exit', resolve), s.child.kill('SIGTERM')))));
  const bytes =
    db === 'sqlite'
      ? readdirSync(dir).filter((f) => f.startsWith('n1lens.db')).reduce((n, f) => n + statSync(join(dir, f)).size, 0)
      : await databaseBytes(db);
  return { label, instances, requests: expected, seconds: +seconds.toFixed(2), requestsPerS: Math.round(expected / seconds), storeMB: +(bytes / 2 ** 20).toFixed(1), mbPerMillionRequests: Math.round((bytes / 2 ** 20 / expected) * 1e6) };
}

async function databaseBytes(url) {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  await c.query('VACUUM');
  const { rows } = await c.query('SELECT pg_database_size(current_database()) AS n');
  await c.end();
  return Number(rows[0].n);
}

const requestsPerPass = JSON.parse(
  (() => {
    try {
      return execFileSync(process.execPath, ['bin/n1-report.js', 'samples/traces/recruit.jsonl.gz', '--format', 'json'], { cwd: root, encoding: 'utf8' });
    } catch (e) {
      return e.stdout;
    }
  })(),
).summary.requests;
const expected = requestsPerPass * passes;
const pgUrl = execFileSync('bash', ['scripts/postgres.sh', 'url'], { cwd: root, encoding: 'utf8' }).trim();
const admin = new pg.Client({ connectionString: pgUrl.replace(/\/\/[^@]+@/, '//postgres@').replace(/\/\w+$/, '/postgres') });
await admin.connect();
const dbName = `n1lens_bench_${process.pid}`;
await admin.query(`CREATE DATABASE ${dbName} OWNER recruit`);
const empty = await databaseBytes(pgUrl.replace(/\/\w+$/, `/${dbName}`));
const sqlite = await run('SQLite, 1 instance', 'sqlite', 1, expected);
const shared = await run('PostgreSQL, 2 instances', pgUrl.replace(/\/\w+$/, `/${dbName}`), 2, expected);
shared.storeMB = +(shared.storeMB - empty / 2 ** 20).toFixed(1);
shared.mbPerMillionRequests = Math.round((shared.storeMB / expected) * 1e6);
await admin.query(`DROP DATABASE ${dbName}`);
// Where the limit is: the same PostgreSQL with one instance.
await admin.query(`CREATE DATABASE ${dbName} OWNER recruit`);
const single = await run('PostgreSQL, 1 instance', pgUrl.replace(/\/\w+$/, `/${dbName}`), 1, expected);
single.storeMB = +(single.storeMB - empty / 2 ** 20).toFixed(1);
single.mbPerMillionRequests = Math.round((single.storeMB / expected) * 1e6);
await admin.query(`DROP DATABASE ${dbName}`);
await admin.end();
console.log(JSON.stringify({ passes, perHour, hours: Math.ceil(passes / perHour), results: [sqlite, shared, single], ratio: +(shared.requestsPerS / sqlite.requestsPerS).toFixed(2) }));
