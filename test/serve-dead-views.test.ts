import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDir, testServeOptions } from './support.js';
import type { Report } from '../src/report/model.js';
import { startServer, type RunningServer } from '../src/server/serve.js';
import type { DjangoSchema } from '../src/suggest/schema.js';

const root = new URL('..', import.meta.url).pathname;
// A real recording: login, 2 × dashboard/optimised/, 2 × webhooks/ats/ (src/detect/testdata/README.md).
const recording = readFileSync(join(root, 'src/detect/testdata/connections/pg-psycopg-age0.jsonl'), 'utf8').split('\n').filter((l) => l.trim() !== '');
const schema: DjangoSchema = {
  n1lensSchema: 1,
  models: [],
  urls: [
    { route: 'dashboard/optimised/', view: 'recruit.views.dashboard_optimised' },
    { route: 'webhooks/ats/', view: 'recruit.views.ats_webhook', methods: ['POST'] },
    { route: 'login/', view: 'recruit.views.login_demo' },
    { route: 'reports/legacy-export/', view: 'recruit.views.legacy_export', file: 'recruit/views.py', line: 105 },
  ],
};

const running: RunningServer[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.close()));
});

async function start(withSchema: boolean, deadAfterMs?: number) {
  const server = await startServer({
    ...testServeOptions(tempDir('dead'), { detect: {} }),
    ...(withSchema ? { schema } : {}),
    ...(deadAfterMs === undefined ? {} : { deadAfterMs }),
  });
  running.push(server);
  return `http://127.0.0.1:${server.httpPort}`;
}

async function replay(url: string): Promise<void> {
  for (const line of recording) {
    const r = await fetch(`${url}/v1/traces`, { method: 'POST', body: line, headers: { 'Content-Type': 'application/json' } });
    expect(r.status).toBe(200);
  }
  for (let i = 0; i < 200; i++) {
    const report = (await (await fetch(`${url}/api/report`)).json()) as Report;
    if (report.summary.requests >= 5) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error('the recording was not analysed');
}

describe('n1lens serve: dead views over the stored route history', () => {
  it('lists the route no request reached, and says the history is shorter than the window', async () => {
    const url = await start(true);
    await replay(url);
    const report = (await (await fetch(`${url}/api/report?deadAfter=90d`)).json()) as Report;
    const views = (report.serviceFindings ?? []).filter((f) => f.kind === 'dead_view');
    expect(views.map((v) => [v.subject, v.deadView?.status, v.deadView?.enoughHistory])).toEqual([['reports/legacy-export/', 'no_traffic_yet', false]]);
    expect(views[0]?.location).toEqual({ view: 'recruit.views.legacy_export', file: 'recruit/views.py', line: 105 });
    // Without deadAfter, the report stays about the period's traffic.
    const plain = (await (await fetch(`${url}/api/report`)).json()) as Report;
    expect(plain.serviceFindings?.some((f) => f.kind === 'dead_view') ?? false).toBe(false);
  });

  it('with serve --dead-after, the page and /api/report list them without asking', async () => {
    const url = await start(true, 90 * 86_400_000);
    await replay(url);
    const report = (await (await fetch(`${url}/api/report`)).json()) as Report;
    expect(report.serviceFindings?.filter((f) => f.kind === 'dead_view').map((f) => f.subject)).toEqual(['reports/legacy-export/']);
    const page = await (await fetch(`${url}/`)).text();
    expect(page).toContain('Connections and dead views');
    expect(page).toContain('recruit.views.legacy_export: no request in the');
  });

  it("keeps the URLconf's dead views when the page or the API is narrowed to the app's service", async () => {
    const url = await start(true);
    await replay(url);
    const report = (await (await fetch(`${url}/api/report?deadAfter=90d&service=recruit`)).json()) as Report;
    expect(report.serviceFindings?.filter((f) => f.kind === 'dead_view').map((f) => f.subject)).toEqual(['reports/legacy-export/']);
    const page = await (await fetch(`${url}/?deadAfter=90d&service=recruit`)).text();
    expect(page).toContain('recruit.views.legacy_export: no request in the');
  });

  it('answers 400 with one line for a bad window or a schema without the URLconf', async () => {
    const withSchema = await start(true);
    const bad = await fetch(`${withSchema}/api/report?deadAfter=soon`);
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toMatch(/not a duration/);
    const without = await start(false);
    const missing = await fetch(`${without}/api/report?deadAfter=90d`);
    expect(missing.status).toBe(400);
    expect(((await missing.json()) as { error: string }).error).toMatch(/needs serve --schema with the URLconf/);
  });
});
