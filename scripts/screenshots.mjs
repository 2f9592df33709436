// Takes the README's screenshots of the web UI (docs/*.png) with Debian's Chromium.
// The store holds the bundled sample recording replayed once or more an hour over the last day
// (traffic higher in working hours), so the trend charts have a day to show.
// Run through scripts/screenshots.sh, which builds dist/ and installs Chromium first.
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve } from '@hono/node-server';
import { chromium } from 'playwright-core';
import { analyseSample } from '../dist/ui/testing.js';
import { uiRoutes } from '../dist/ui/routes.js';
import { SqliteStore } from '../dist/store/sqlite.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const docs = join(root, 'docs');
mkdirSync(docs, { recursive: true });

const HOUR = 3_600_000;
const { analyses, schema } = await analyseSample();
const first = Math.min(...analyses.map((a) => a.startMs));
const nowMs = Math.floor(Date.now() / HOUR) * HOUR + 20 * 60_000;
const store = SqliteStore.open(':memory:');
for (let h = 23; h >= 0; h--) {
  const hourStart = Math.floor(nowMs / HOUR) * HOUR - h * HOUR;
  const utcHour = new Date(hourStart).getUTCHours();
  const copies = utcHour >= 8 && utcHour < 18 ? 3 : 1;
  for (let c = 0; c < copies; c++) {
    const shift = hourStart + c * 600_000 - first;
    await store.record(analyses.map((a) => ({ ...a, startMs: a.startMs + shift })));
  }
}

const app = uiRoutes({ store, report: { schema }, now: () => nowMs, traceUrl: 'https://jaeger.example.com/trace/{traceId}' });
const server = await new Promise((resolve) => {
  const s = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve(s));
});
const base = `http://127.0.0.1:${server.address().port}`;

const executablePath = process.env.N1LENS_CHROMIUM || '/usr/bin/chromium';
const browser = await chromium.launch({ executablePath, args: ['--no-sandbox'] });
const dashboardId = (await store.endpointRefs()).find((e) => e.endpoint === 'GET dashboard/').id;
let companyId;
for (const [key, id] of await store.findingIds()) {
  if (key.includes('GET dashboard/') && (await store.finding(id)).sql.includes('"recruit_company"')) companyId = id;
}

const shots = [
  { name: 'ui-overview.png', path: '/?range=24h', width: 1280, scheme: 'light' },
  { name: 'ui-finding.png', path: `/findings/${companyId}?range=24h`, width: 1280, scheme: 'light' },
  { name: 'ui-endpoint-dark.png', path: `/endpoints/${dashboardId}?range=24h`, width: 1280, scheme: 'dark' },
  { name: 'ui-finding-mobile.png', path: `/findings/${companyId}?range=24h`, width: 390, scheme: 'light' },
];
const only = process.argv.slice(2);
for (const shot of shots) {
  if (only.length > 0 && !only.includes(shot.name)) continue;
  const context = await browser.newContext({ viewport: { width: shot.width, height: shot.width < 600 ? 844 : 900 }, colorScheme: shot.scheme, deviceScaleFactor: shot.width < 600 ? 2 : 1 });
  const page = await context.newPage();
  await page.goto(base + shot.path);
  const out = join(process.env.N1LENS_SHOTS_DIR || docs, shot.name);
  await page.screenshot({ path: out, fullPage: true });
  console.log(out);
  await context.close();
}
await browser.close();
server.close();
store.close();
