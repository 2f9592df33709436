import { afterEach, describe, expect, it } from 'vitest';
import { tempDir, testServeOptions } from './support.js';
import { recording, schema } from './dead-view-recording.js';
import type { Report } from '../src/report/model.js';
import { startServer, type RunningServer } from '../src/server/serve.js';
import { int, str } from '../src/otlp/testing.js';

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

  it("keeps a view no request was served by dead, whatever scanners' 404s and 405s its route matched", async () => {
    const url = await start(true);
    await replay(url);
    // A scanner's probes of the unused export, answered 404 and 405, in both semantic conventions.
    const probe = (i: number, method: string, status: number, stable: boolean) => ({
      resourceSpans: [{
        resource: { attributes: [str('service.name', 'recruit')] },
        scopeSpans: [{ scope: { name: 'opentelemetry.instrumentation.django' }, spans: [{
          traceId: `${'5c'.repeat(15)}${String(i).padStart(2, '0')}`,
          spanId: `${'6d'.repeat(7)}${String(i).padStart(2, '0')}`,
          name: `${method} reports/legacy-export/`,
          kind: 2,
          startTimeUnixNano: String(BigInt(Date.now() - 60_000) * 1_000_000n),
          endTimeUnixNano: String(BigInt(Date.now() - 59_990) * 1_000_000n),
          attributes: [
            str(stable ? 'http.request.method' : 'http.method', method),
            str('http.route', 'reports/legacy-export/'),
            str(stable ? 'user_agent.original' : 'http.user_agent', 'zgrab/0.x'),
            int(stable ? 'http.response.status_code' : 'http.status_code', status),
          ],
        }] }],
      }],
    });
    for (const [i, method, status, stable] of [[1, 'GET', 404, false], [2, 'GET', 404, true], [3, 'PUT', 405, true]] as const) {
      const r = await fetch(`${url}/v1/traces`, { method: 'POST', body: JSON.stringify(probe(i, method, status, stable)), headers: { 'Content-Type': 'application/json' } });
      expect(r.status).toBe(200);
    }
    for (let i = 0; i < 200; i++) {
      const report = (await (await fetch(`${url}/api/report`)).json()) as Report;
      if (report.summary.requests >= 8) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    const report = (await (await fetch(`${url}/api/report?deadAfter=90d`)).json()) as Report;
    expect(report.summary.requests).toBe(8);
    const views = (report.serviceFindings ?? []).filter((f) => f.kind === 'dead_view');
    expect(views.map((v) => [v.subject, v.deadView?.requests, v.deadView?.lastSeenMs])).toEqual([['reports/legacy-export/', 0, null]]);
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
