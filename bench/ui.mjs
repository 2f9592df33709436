// Web UI server time: the overview (and an endpoint and a finding page) rendered from a store of
// N endpoints × D days of hourly rollups. The store is built from the sample recording's requests,
// renamed into N endpoints (one day written through Store.record), then the day's hourly rows (the
// rollups and their hour summaries) are copied across the other days in SQL, so building it stays
// quick. The first overview builds the 6-hour, day and week summaries (`firstOverviewMs`, once per
// block in a store's life); `coldOverviewMs` is a freshly opened store's first request (nothing
// kept in memory); the best-of-N figures are a running server's. Each figure is wall ms with the
// process's CPU ms (the VM is shared: CPU time says what the request itself cost).
// `--edge-minutes M` (issue 13's minute rows): the day's first hour is written once per minute for
// M minutes, and the clock stands one minute past the hour, so the 24 h overview starts one minute
// into that hour and sums M - 1 minute rows per endpoint at its edge (up to 59); `--start-minute S`
// stands the clock S minutes past the hour instead (the 24 h start then S minutes into the edge hour).
// `--store DIR` keeps the built store in DIR (with its clock in DIR/clock.json) and reuses it when
// there, so A/B runs read the same file; `--dist DIR` runs another build (e.g. main's) on it. A
// store is migrated when opened, so give each build its own copy of a store the older one built.
//   node bench/ui.mjs [--endpoints 1000] [--days 30] [--runs 5] [--edge-minutes 60 [--start-minute 1]] [--store DIR] [--dist DIR]
// Prints one JSON line (and writes bench/out/ui.json).
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? fallback : Number(process.argv[i + 1]);
};
const ENDPOINTS = arg('endpoints', 1000);
const DAYS = arg('days', 30);
const RUNS = arg('runs', 5);
const EDGE_MINUTES = arg('edge-minutes', 0);
const START_MINUTE = arg('start-minute', 1);
const HOUR = 3_600_000;
const option = (name) => {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? undefined : process.argv[i + 1];
};
const STORE_DIR = option('store');
const dist = pathToFileURL(`${resolve(option('dist') ?? new URL('../dist', import.meta.url).pathname)}/`);
const { SqliteStore } = await import(new URL('store/sqlite.js', dist).href);
const { analyseSample } = await import(new URL('ui/testing.js', dist).href);
const { uiRoutes } = await import(new URL('ui/routes.js', dist).href);

const { analyses, schema } = await analyseSample();
const endpointsInSample = [...new Set(analyses.map((a) => a.endpoint))];
const copies = Math.ceil(ENDPOINTS / endpointsInSample.length);
const dir = STORE_DIR ?? mkdtempSync(join(tmpdir(), 'n1lens-bench-ui-'));
mkdirSync(dir, { recursive: true });
const clockFile = join(dir, 'clock.json');
// A kept store was built with its own clock and sizes: they are reused with it.
const kept = existsSync(clockFile) ? JSON.parse(readFileSync(clockFile, 'utf8')) : undefined;
if (kept !== undefined && (kept.endpoints !== ENDPOINTS || kept.days !== DAYS || kept.edgeMinutes !== EDGE_MINUTES)) {
  throw new Error(`${dir} holds a store of ${JSON.stringify(kept)}: give the same --endpoints, --days and --edge-minutes`);
}
const first = Math.min(...analyses.map((a) => a.startMs));
const end = kept?.end ?? Math.floor(Date.now() / HOUR) * HOUR;
const dayStart = end - 24 * HOUR;
// The clock of the store and the pages: on the hour, or one minute past it to put a 24 h edge inside an hour.
const now = EDGE_MINUTES > 0 ? end + START_MINUTE * 60_000 : end;
const store = SqliteStore.open(join(dir, 'n1lens.db'), { now: () => now });

const t0 = performance.now();
/** Records one day and copies its rows across the other days (a kept store skips this). */
function buildStore() {
  // One day: every hour, every copy of every sample endpoint.
  for (let h = 0; h < 24; h++) {
    for (let m = 0; m < (h === 0 ? Math.max(1, EDGE_MINUTES) : 1); m++) {
      const batch = [];
      for (let c = 0; c < copies; c++) {
        for (const a of analyses) {
          const k = endpointsInSample.indexOf(a.endpoint) + c * endpointsInSample.length;
          if (k >= ENDPOINTS) continue;
          const startMs = dayStart + h * HOUR + (EDGE_MINUTES > 0 && h === 0 ? m * 60_000 + ((a.startMs - first) % 60_000) : a.startMs - first);
          batch.push({ ...a, traceId: `${a.traceId.slice(0, 20)}${(h * 60 + m).toString(16).padStart(6, '0')}${c.toString(16).padStart(6, '0')}`, endpoint: `${a.endpoint.split(' ')[0]} app${c}/${a.endpoint.split(' ')[1]}`, startMs });
        }
      }
      store.recordSync(batch);
    }
  }
  // The other days: the same hourly rows, shifted.
  store.db.transaction(() => {
    for (let d = 1; d < DAYS; d++) {
      const shift = d * 24 * HOUR;
      store.db
        .prepare(
          `INSERT INTO endpoint_hours SELECT endpoint_id, hour - ?, requests, db_spans, repeats, wasted_ms,
             json_set(rollup, '$.firstSeenMs', (rollup ->> '$.firstSeenMs') - ?, '$.lastSeenMs', (rollup ->> '$.lastSeenMs') - ?)
           FROM endpoint_hours WHERE hour >= ?`,
        )
        .run(shift, shift, shift, dayStart);
      store.db.prepare('INSERT INTO finding_hours SELECT finding_id, hour - ?, requests_affected, executions, wasted_ms, rollup FROM finding_hours WHERE hour >= ?').run(shift, dayStart);
      store.db.prepare('INSERT INTO fingerprint_hours SELECT endpoint_id, fingerprint, hour - ?, requests, executions, total_ms, rollup FROM fingerprint_hours WHERE hour >= ?').run(shift, dayStart);
      for (const [table, columns] of [
        ['summary_endpoints', 'endpoint_id, requests, db_spans, wasted_ms, first_seen_ms - ?, last_seen_ms - ?, outbound_requests, outbound_ms'],
        ['summary_queries', 'endpoint_id, queries, requests'],
        ['summary_noise', 'endpoint_id, rule, dropped'],
        ['summary_findings', 'finding_id, requests_affected, executions, wasted_ms'],
        ['summary_selects', 'endpoint_id, fingerprint, requests, executions, total_ms, max_ms'],
      ]) {
        const seen = table === 'summary_endpoints' ? [shift, shift] : [];
        store.db.prepare(`INSERT INTO ${table} SELECT size, start - ?, ${columns} FROM ${table} WHERE size = ? AND start >= ?`).run(shift, ...seen, HOUR, dayStart);
      }
    }
  })();
}
if (kept === undefined) buildStore();
const buildMs = performance.now() - t0;
const rows = store.db.prepare('SELECT (SELECT count(*) FROM endpoint_hours) AS e, (SELECT count(*) FROM finding_hours) AS f, (SELECT count(*) FROM fingerprint_hours) AS p').get();

const app = uiRoutes({ store, report: { schema }, now: () => now });
const dashboard = (await store.endpointRefs()).find((e) => e.endpoint === 'GET app0/dashboard/');
const finding = [...(await store.findingIds()).entries()].find(([k]) => k.includes('GET app0/dashboard/'))[1];

/** One request: wall ms and this process's CPU ms (the server is single-threaded, so CPU is its own work). */
async function request(on, path) {
  const c = process.cpuUsage();
  const t = performance.now();
  const res = await on.request(path);
  await res.text();
  if (res.status !== 200) throw new Error(`${path}: ${res.status}`);
  const u = process.cpuUsage(c);
  return { ms: performance.now() - t, cpuMs: (u.user + u.system) / 1000 };
}

/** Best of RUNS requests (wall ms), with that run's CPU ms, and the least CPU ms of any run (on a shared machine the two part). */
async function time(path) {
  let best;
  let minCpuMs = Infinity;
  for (let i = 0; i < RUNS; i++) {
    const r = await request(app, path);
    if (best === undefined || r.ms < best.ms) best = r;
    minCpuMs = Math.min(minCpuMs, r.cpuMs);
  }
  return { ms: Math.round(best.ms), cpuMs: Math.round(best.cpuMs), minCpuMs: Math.round(minCpuMs) };
}

/** The first request of a server just started on this store: its 6-hour, day and week summaries are built, nothing is kept in memory yet. */
async function cold(path) {
  const fresh = SqliteStore.open(join(dir, 'n1lens.db'), { now: () => now });
  const r = await request(uiRoutes({ store: fresh, report: { schema }, now: () => now }), path);
  fresh.closeSync();
  return { ms: Math.round(r.ms), cpuMs: Math.round(r.cpuMs) };
}

const firstOverview = await request(app, '/?range=30d');
const result = {
  bench: 'ui',
  endpoints: (await store.endpointRefs()).length,
  edgeMinutes: EDGE_MINUTES,
  ...(EDGE_MINUTES > 0 ? { startMinute: START_MINUTE } : {}),
  days: DAYS,
  rows: { endpointHours: rows.e, findingHours: rows.f, fingerprintHours: rows.p },
  buildMs: Math.round(buildMs),
  // The store's first overview builds the summaries of every 6-hour, day and week block (once in a store's life).
  firstOverviewMs: Math.round(firstOverview.ms),
  coldOverviewMs: { '24h': await cold('/?range=24h'), '7d': await cold('/?range=7d'), '30d': await cold('/?range=30d') },
  bestOfRuns: RUNS,
  overviewMs: { '24h': await time('/?range=24h'), '7d': await time('/?range=7d'), '30d': await time('/?range=30d') },
  apiEndpointsMs: { '7d': await time('/api/endpoints?range=7d') },
  endpointPageMs: { '7d': await time(`/endpoints/${dashboard.id}?range=7d`) },
  findingPageMs: { '7d': await time(`/findings/${finding}?range=7d`) },
};
console.log(JSON.stringify(result));
mkdirSync(new URL('./out/', import.meta.url), { recursive: true });
writeFileSync(new URL('./out/ui.json', import.meta.url), `${JSON.stringify(result)}\n`);
store.closeSync();
if (STORE_DIR === undefined) rmSync(dir, { recursive: true, force: true });
else if (kept === undefined) writeFileSync(clockFile, `${JSON.stringify({ end, endpoints: ENDPOINTS, days: DAYS, edgeMinutes: EDGE_MINUTES })}\n`);
