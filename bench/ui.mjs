// Web UI server time: the overview (and an endpoint and a finding page) rendered from a store of
// N endpoints × D days of hourly rollups. The store is built from the sample recording's requests,
// renamed into N endpoints (one day written through Store.record), then the day's hourly rows are
// copied across the other days in SQL, so building it stays quick.
//   node bench/ui.mjs [--endpoints 1000] [--days 30] [--runs 5]
// Prints one JSON line (and writes bench/out/ui.json).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Store } from '../dist/store/store.js';
import { analyseSample } from '../dist/ui/testing.js';
import { uiRoutes } from '../dist/ui/routes.js';

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? fallback : Number(process.argv[i + 1]);
};
const ENDPOINTS = arg('endpoints', 1000);
const DAYS = arg('days', 30);
const RUNS = arg('runs', 5);
const HOUR = 3_600_000;

const { analyses, schema } = await analyseSample();
const endpointsInSample = [...new Set(analyses.map((a) => a.endpoint))];
const copies = Math.ceil(ENDPOINTS / endpointsInSample.length);
const dir = mkdtempSync(join(tmpdir(), 'n1lens-bench-ui-'));
const store = Store.open(join(dir, 'n1lens.db'));
const first = Math.min(...analyses.map((a) => a.startMs));
const end = Math.floor(Date.now() / HOUR) * HOUR;
const dayStart = end - 24 * HOUR;

const t0 = performance.now();
// One day: every hour, every copy of every sample endpoint.
for (let h = 0; h < 24; h++) {
  const batch = [];
  for (let c = 0; c < copies; c++) {
    for (const a of analyses) {
      const k = endpointsInSample.indexOf(a.endpoint) + c * endpointsInSample.length;
      if (k >= ENDPOINTS) continue;
      batch.push({ ...a, endpoint: `${a.endpoint.split(' ')[0]} app${c}/${a.endpoint.split(' ')[1]}`, startMs: a.startMs - first + dayStart + h * HOUR });
    }
  }
  store.record(batch);
}
// The other days: the same hourly rows, shifted.
store.db.transaction(() => {
  for (let d = 1; d < DAYS; d++) {
    const shift = d * 24 * HOUR;
    store.db.prepare('INSERT INTO endpoint_hours SELECT endpoint_id, hour - ?, requests, db_spans, repeats, wasted_ms, rollup FROM endpoint_hours WHERE hour >= ?').run(shift, dayStart);
    store.db.prepare('INSERT INTO finding_hours SELECT finding_id, hour - ?, requests_affected, executions, wasted_ms, rollup FROM finding_hours WHERE hour >= ?').run(shift, dayStart);
    store.db.prepare('INSERT INTO fingerprint_hours SELECT endpoint_id, fingerprint, hour - ?, requests, executions, total_ms, rollup FROM fingerprint_hours WHERE hour >= ?').run(shift, dayStart);
  }
})();
const buildMs = performance.now() - t0;
const rows = store.db.prepare('SELECT (SELECT count(*) FROM endpoint_hours) AS e, (SELECT count(*) FROM finding_hours) AS f, (SELECT count(*) FROM fingerprint_hours) AS p').get();

const app = uiRoutes({ store, report: { schema }, now: () => end });
const dashboard = store.endpointRefs().find((e) => e.endpoint === 'GET app0/dashboard/');
const finding = [...store.findingIds().entries()].find(([k]) => k.includes('GET app0/dashboard/'))[1];

async function time(path) {
  const ms = [];
  for (let i = 0; i < RUNS; i++) {
    const t = performance.now();
    const res = await app.request(path);
    await res.text();
    if (res.status !== 200) throw new Error(`${path}: ${res.status}`);
    ms.push(performance.now() - t);
  }
  return Math.round(Math.min(...ms));
}

const result = {
  bench: 'ui',
  endpoints: store.endpointRefs().length,
  days: DAYS,
  rows: { endpointHours: rows.e, findingHours: rows.f, fingerprintHours: rows.p },
  buildMs: Math.round(buildMs),
  bestOfRuns: RUNS,
  overviewMs: { '24h': await time('/?range=24h'), '7d': await time('/?range=7d'), '30d': await time('/?range=30d') },
  apiEndpointsMs: { '7d': await time('/api/endpoints?range=7d') },
  endpointPageMs: { '7d': await time(`/endpoints/${dashboard.id}?range=7d`) },
  findingPageMs: { '7d': await time(`/findings/${finding}?range=7d`) },
};
console.log(JSON.stringify(result));
mkdirSync(new URL('./out/', import.meta.url), { recursive: true });
writeFileSync(new URL('./out/ui.json', import.meta.url), `${JSON.stringify(result)}\n`);
store.close();
rmSync(dir, { recursive: true, force: true });
