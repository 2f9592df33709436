import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Report } from '../report/model.js';
import { SqliteStore as Store } from '../store/sqlite.js';
import { EARLIEST_MS, LATEST_MS } from '../report/period.js';
import { axisOf } from './data.js';
import { uiRoutes } from './routes.js';
import { sampleStore } from './testing.js';
import { analyseRequest } from '../detect/request.js';
import { APPLICATIONS, DASHBOARD_ROW, loop, requestOf } from '../detect/testing.js';
import { createSqlNormalizer } from '../sql/index.js';

let dir: string;
let store: Store;
let app: ReturnType<typeof uiRoutes>;
let lastSeenMs: number;

beforeAll(async () => {
  // A real SQLite file, filled by analysing the bundled recording.
  dir = mkdtempSync(join(tmpdir(), 'n1lens-ui-'));
  const sample = await sampleStore(join(dir, 'n1lens.db'));
  store = sample.store;
  lastSeenMs = sample.lastSeenMs;
  app = uiRoutes({
    store,
    report: { schema: sample.schema },
    now: () => lastSeenMs + 60_000,
    traceUrl: 'https://jaeger.example.com/trace/{traceId}?uiFind=x',
  });
});
afterAll(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const get = async (path: string): Promise<{ status: number; text: string; type: string }> => {
  const res = await app.request(path);
  return { status: res.status, text: await res.text(), type: res.headers.get('content-type') ?? '' };
};
const json = async <T>(path: string): Promise<T> => JSON.parse((await get(path)).text) as T;

/** The endpoint names of the overview's rows, in page order. */
const rowsOf = (html: string): string[] => [...html.matchAll(/<tr data-search="[^"]*" data-endpoint="([^"]*)"/g)].map((m) => m[1]!.replace(/&amp;/g, '&'));

interface EndpointsApi {
  summary: Report['summary'];
  endpoints: { id: number; endpoint: string; requests: number; findings: number; wastedMs: number; kinds: string[] }[];
}

describe('overview', () => {
  it('ranks the endpoints as /api/report does, each linking to its page', async () => {
    const page = await get('/');
    expect(page.status).toBe(200);
    expect(page.type).toMatch(/text\/html/);
    expect(page.text.startsWith('<!doctype html>')).toBe(true);
    const report = await json<Report>('/api/report');
    expect(rowsOf(page.text)).toEqual(report.endpoints.map((e) => e.endpoint));
    expect(rowsOf(page.text)).toContain('GET dashboard/');
    const dashboardId = (await store.endpointRefs()).find((e) => e.endpoint === 'GET dashboard/')!.id;
    expect(page.text).toContain(`<a href="/endpoints/${dashboardId}?range=7d">GET dashboard/</a>`);
    expect(page.text).toContain('10</b><span>findings on 5 endpoints');
  });

  it('/api/endpoints agrees with /api/report on every count', async () => {
    const report = await json<Report>('/api/report');
    const api = await json<EndpointsApi>('/api/endpoints');
    expect(api.summary).toEqual(report.summary);
    expect(api.endpoints.map((e) => [e.endpoint, e.requests, e.findings])).toEqual(report.endpoints.map((e) => [e.endpoint, e.requests, e.findings.length]));
    expect(api.endpoints.find((e) => e.endpoint === 'GET dashboard/')).toMatchObject({ findings: 6, requests: 3, kinds: ['n_plus_one'] });
  });

  it('/api/endpoints, summed from the period summaries, gives every figure /api/report rebuilds from the rollups', async () => {
    // The overview never builds the report: it must still agree with it, filter for filter.
    for (const query of ['range=all', 'range=7d', 'range=1h', 'kind=slow_query', 'kind=n_plus_one', 'q=recruit_application', 'service=recruit&q=login', 'service=nope']) {
      const report = await json<Report>(`/api/report?${query}`);
      const api = await json<{ summary: Report['summary']; endpoints: (EndpointsApi['endpoints'][number] & { queriesPerRequest: unknown; wastedMsPerRequest: number; tables: string[] })[] }>(`/api/endpoints?${query}`);
      expect(api.summary).toEqual(report.summary);
      expect(api.endpoints.map((e) => [e.endpoint, e.requests, e.queriesPerRequest, e.wastedMsPerRequest, e.wastedMs, e.findings, e.kinds, e.tables])).toEqual(
        report.endpoints.map((e) => [
          e.endpoint,
          e.requests,
          e.queriesPerRequest,
          e.wastedMsPerRequest,
          Math.round(e.wastedMsPerRequest * e.requests * 10) / 10,
          e.findings.length,
          [...new Set(e.findings.map((f) => f.kind))],
          [...new Set(e.findings.map((f) => f.table).filter((t) => t !== ''))],
        ]),
      );
    }
  });

  it('gives every stored finding its id in /api/report', async () => {
    const report = await json<Report>('/api/report');
    const dashboard = report.endpoints.find((e) => e.endpoint === 'GET dashboard/')!;
    const ids = dashboard.findings.map((f) => f.id);
    expect(ids.every((id) => typeof id === 'number')).toBe(true);
    expect(new Set(ids).size).toBe(6);
    for (const f of dashboard.findings) expect((await store.finding(f.id!))?.fingerprint).toBe(f.fingerprint);
  });

  it('narrows by finding kind, text over endpoints and tables, service and time range', async () => {
    expect(rowsOf((await get('/?kind=n_plus_one')).text)).toEqual(['GET dashboard/']);
    expect(rowsOf((await get('/?kind=hot_lookup')).text)).toEqual(['POST webhooks/ats/']);
    expect(rowsOf((await get('/?q=recruit_company')).text)).toEqual(['GET dashboard/']);
    expect(rowsOf((await get('/?q=WEBHOOK')).text)).toEqual(['POST webhooks/ats/']);
    expect(rowsOf((await get('/?service=recruit')).text)).toHaveLength(6);
    const none = await get('/?service=billing');
    expect(rowsOf(none.text)).toEqual([]);
    expect(none.text).toContain('No endpoint matches these filters.');
    // The recording ended a minute before "now": it is in the last hour; a custom window before it is empty.
    expect(rowsOf((await get('/?range=1h')).text)).toHaveLength(6);
    const before = new Date(lastSeenMs - 3 * 86_400_000).toISOString().slice(0, 16);
    expect(rowsOf((await get(`/?range=custom&to=${before}`)).text)).toEqual([]);
    const kindReport = await json<Report>('/api/report?kind=n_plus_one');
    expect(kindReport.summary).toMatchObject({ findings: 6, requests: 3 });
    expect(kindReport.summary.dbSpans).toBe((await store.rollups({ endpoint: 'GET dashboard/' }))[0]!.dbSpans);
  });

  it('keeps the filters in its links', async () => {
    const page = await get('/?kind=n_plus_one&range=all&q=dash');
    const id = (await store.endpointRefs()).find((e) => e.endpoint === 'GET dashboard/')!.id;
    expect(page.text).toContain(`href="/endpoints/${id}?range=all&amp;kind=n_plus_one&amp;q=dash"`);
    expect(page.text).toContain('href="?range=all&amp;kind=n_plus_one&amp;q=dash&amp;sort=requests&amp;dir=desc"');
  });

  it('sorts by a column when its header link is followed', async () => {
    expect(rowsOf((await get('/?sort=requests&dir=desc')).text)[0]).toBe('POST webhooks/ats/');
    expect(rowsOf((await get('/?sort=endpoint&dir=asc')).text)).toEqual([...rowsOf((await get('/')).text)].sort());
  });

  it('keeps the rank among rows that tie, sorted either way, in the page and its JSON alike', async () => {
    const ranked = (await json<EndpointsApi>('/api/endpoints')).endpoints;
    expect(new Set(ranked.map((e) => e.findings)).size).toBeLessThan(ranked.length); // the sample has ties
    const byFindings = (dir: number) => [...ranked].sort((a, b) => dir * (a.findings - b.findings)).map((e) => e.endpoint);
    for (const [dir, sign] of [['desc', -1], ['asc', 1]] as const) {
      expect((await json<EndpointsApi>(`/api/endpoints?sort=findings&dir=${dir}`)).endpoints.map((e) => e.endpoint), dir).toEqual(byFindings(sign));
      expect(rowsOf((await get(`/?range=all&sort=findings&dir=${dir}`)).text), dir).toEqual(byFindings(sign));
    }
  });

  it('answers a bad filter with 400 and one line saying what is accepted', async () => {
    const page = await get('/?range=fortnight');
    expect(page.status).toBe(400);
    expect(page.text).toContain('range=fortnight is not a range: use 1h, 24h, 7d, 30d, all or custom');
    const api = await app.request('/api/report?kind=slowish');
    expect(api.status).toBe(400);
    expect(await api.json()).toEqual({ error: expect.stringContaining('kind=slowish is not a finding kind') });
    expect((await get('/api/report?since=yesterday')).status).toBe(400);
    expect((await get('/?range=custom&from=2026-12-02T10:00&to=2026-12-01T10:00')).status).toBe(400);
  });
});

describe('periods far from the data', () => {
  type Axis = { startMs: number; sizeMs: number; count: number };
  type AxisApi = Omit<EndpointsApi, 'endpoints'> & { axis: Axis; endpoints: { trend: unknown[] }[] };
  const DAY = 86_400_000;

  it('draws a period reaching back before the data from the first stored hour, in at most 48 bars', async () => {
    // Every bar is an object per endpoint: a chart from 1900 in weeks was 6,623 of them, and since=14000000w filled the heap.
    const all = await json<AxisApi>('/api/endpoints?range=all');
    const far = await json<AxisApi>('/api/endpoints?range=custom&from=1900-01-01');
    expect(far.summary).toEqual(all.summary);
    expect(far.axis).toEqual(all.axis);
    expect(far.axis.count).toBeLessThanOrEqual(48);
    expect(far.endpoints.every((e) => e.trend.length === far.axis.count)).toBe(true);
  });

  it('keeps any period to 48 bars, buckets growing past a week in whole weeks', () => {
    const horizon = lastSeenMs - 2 * DAY;
    const cases: [number, number][] = [
      [Date.UTC(2024, 0, 1), Date.UTC(2026, 0, 1)],
      [Date.UTC(2000, 0, 1, 7), Date.UTC(2026, 0, 1)],
      [EARLIEST_MS, LATEST_MS - 1],
      [Date.UTC(2026, 0, 1), Date.UTC(2026, 0, 3)], // 48 hours not on the hour: 49 one-hour bars once aligned, so 3-hour ones
    ];
    for (const [sinceMs, untilMs] of cases) {
      const axis = axisOf({ sinceMs: sinceMs + 1_000, untilMs }, untilMs, horizon, undefined);
      expect(axis.count).toBeLessThanOrEqual(48);
      expect(axis.startMs).toBeLessThanOrEqual(sinceMs + 1_000);
      expect(axis.startMs + axis.count * axis.sizeMs).toBeGreaterThanOrEqual(untilMs);
      if (axis.sizeMs > 7 * DAY) expect(axis.sizeMs % (7 * DAY)).toBe(0);
    }
    expect(axisOf({ sinceMs: Date.UTC(2024, 0, 1), untilMs: Date.UTC(2026, 0, 1) }, 0, horizon, undefined).sizeMs).toBe(28 * DAY);
  });

  it('reads since= an ISO date-time as UTC, as from= is read and the form shows it', async () => {
    const saved = process.env.TZ;
    process.env.TZ = 'America/New_York'; // a server not on UTC
    try {
      type Echo = { filters: { sinceMs: number; from: string } };
      const since = await json<Echo>('/api/endpoints?since=2026-12-01T09:00');
      const from = await json<Echo>('/api/endpoints?range=custom&from=2026-12-01T09:00');
      expect(since.filters).toMatchObject({ sinceMs: Date.UTC(2026, 11, 1, 9), from: '2026-12-01T09:00' });
      expect(from.filters.sinceMs).toBe(since.filters.sinceMs);
    } finally {
      if (saved === undefined) delete process.env.TZ;
      else process.env.TZ = saved;
    }
  });

  it('answers since and from outside years 0000 to 9999 with 400, not an internal error', async () => {
    for (const path of ['/api/report?since=9999999999999999', '/api/endpoints?since=14000000w', '/?since=14300000w', '/api/report?range=custom&from=%2B100000-01-01', '/api/endpoints?range=custom&to=-010000-01-01']) {
      const res = await get(path);
      expect(res.status, path).toBe(400);
    }
    expect(await json('/api/report?since=9999999999999999')).toEqual({ error: expect.stringContaining('"9999999999999999" is not a time') });
    expect((await get('/api/report?since=0000-01-01')).status).toBe(200);
  });
});

describe('endpoint page', () => {
  it('shows the p50/max, the combined fix with a copy button and every finding linking to its page', async () => {
    const id = (await store.endpointRefs()).find((e) => e.endpoint === 'GET dashboard/')!.id;
    const page = await get(`/endpoints/${id}`);
    expect(page.status).toBe(200);
    expect(page.text).toContain('queries per request, p50 / max');
    expect(page.text).toContain(`data-copy="fix-${id}"`);
    expect(page.text).toMatch(/<pre id="fix-\d+"[^>]*><code>\(\n    Application\.objects\.select_related\(&#39;candidate&#39;, &#39;job__company&#39;, &#39;status&#39;\)/);
    const findingLinks = [...page.text.matchAll(/<a href="\/findings\/(\d+)\?range=7d"><code>/g)].map((m) => Number(m[1]));
    expect(findingLinks).toHaveLength(6);
    expect(page.text).toContain('Findings (6)');
    const api = await json<{ endpoint: { findings: unknown[]; queriesPerRequest: { p50: number; max: number } }; trend: { requests: number }[] }>(`/api/endpoints/${id}`);
    expect(api.endpoint.findings).toHaveLength(6);
    expect(api.trend.reduce((s, b) => s + b.requests, 0)).toBe(3);
  });

  it("shows no combined fix where the one finding's own fix is all of it (an index for a slow query)", async () => {
    const id = (await store.endpointRefs()).find((e) => e.endpoint === 'GET reports/pipeline/')!.id;
    const page = await get(`/endpoints/${id}`);
    expect(page.text).toContain('Findings (1)');
    expect(page.text).not.toContain('The combined fix');
    expect(page.text.split('CREATE INDEX CONCURRENTLY').length - 1).toBe(1);
  });

  it('is 404 for an endpoint the store does not have', async () => {
    expect((await get('/endpoints/99999')).status).toBe(404);
    expect((await get('/endpoints/abc')).status).toBe(404);
    expect((await get('/api/endpoints/99999')).status).toBe(404);
  });
});

describe('finding page', () => {
  const companyId = async (): Promise<number> => {
    const ids = await store.findingIds();
    for (const [key, id] of ids) if (key.startsWith('recruit\u0000GET dashboard/\u0000') && (await store.finding(id))?.sql.includes('"recruit_company"')) return id;
    throw new Error('no job__company finding');
  };

  it('draws the example request: the trigger once, the 50 repeats highlighted, every call to scale', async () => {
    const page = await get(`/findings/${await companyId()}`);
    expect(page.status).toBe(200);
    const bars = (role: string): number => (page.text.match(new RegExp(`<rect class="bar ${role}"`, 'g')) ?? []).length;
    expect(bars('repeat')).toBe(50);
    expect(bars('trigger')).toBe(1);
    const stored = (await store.finding(await companyId()))!;
    expect(bars('repeat') + bars('trigger') + bars('other')).toBe(stored.example!.timeline.length);
    expect(page.text).toContain('select_related(&#39;job__company&#39;)');
    expect(page.text).toContain('First seen');
    expect(page.text).toContain('Last seen');
  });

  it('links the example trace with --trace-url and shows the normalised SQL, formatted', async () => {
    const id = await companyId();
    const stored = (await store.finding(id))!;
    const page = await get(`/findings/${id}`);
    expect(page.text).toContain(`href="https://jaeger.example.com/trace/${stored.example!.traceId}?uiFind=x"`);
    const sql = /<pre id="sql-\d+"[^>]*><code>([^<]*)<\/code>/.exec(page.text)?.[1]?.replace(/&quot;/g, '"');
    expect(sql).toBe('SELECT "recruit_company"."id", "recruit_company"."name"\nFROM "recruit_company"\nWHERE "recruit_company"."id" = ?\nLIMIT ?');
  });

  it('has a JSON twin with the stored finding, its report entry, trend and waterfall', async () => {
    const id = await companyId();
    const api = await json<{ id: number; fingerprint: string; finding: { suggestion: { code: string } }; waterfall: { lanes: { role: string; spans: unknown[] }[] }; trend: { requestsAffected: number }[] }>(`/api/findings/${id}`);
    expect(api.id).toBe(id);
    expect(api.finding.suggestion.code).toBe(".select_related('job__company')");
    expect(api.waterfall.lanes.find((l) => l.role === 'repeat')?.spans).toHaveLength(50);
    expect(api.trend.reduce((s, b) => s + b.requestsAffected, 0)).toBe(3);
    expect((await get('/api/findings/424242')).status).toBe(404);
  });
});

describe('endpoint names with stars', () => {
  it('opens the page of an endpoint named with many `*` at once, reading that endpoint only', async () => {
    // Endpoint and finding pages once read their endpoint by its name as a glob: as a regular
    // expression, 40 stars never finished against the other names. Names are compared exactly now.
    const normalize = createSqlNormalizer();
    const starry = `GET ${'*'.repeat(40)}x/`;
    const request = (i: number, endpoint: string) =>
      analyseRequest(requestOf(endpoint, [APPLICATIONS, ...loop(20, ...DASHBOARD_ROW)], { traceId: i.toString(16).padStart(32, '0'), startMs: Date.UTC(2026, 11, 1) + i }), normalize);
    const starStore = Store.open(':memory:');
    await starStore.record([request(1, starry), request(2, 'GET dashboard/'), request(3, 'GET ax/'), request(4, starry)]);
    const starApp = uiRoutes({ store: starStore, now: () => Date.UTC(2026, 11, 2) });
    const id = (await starStore.endpointRefs()).find((e) => e.endpoint === starry)!.id;
    const endpoint = (await (await starApp.request(`/api/endpoints/${id}?range=all`)).json()) as { endpoint: { endpoint: string; requests: number; findings: { id: number }[] } };
    expect(endpoint.endpoint).toMatchObject({ endpoint: starry, requests: 2 });
    const findingId = endpoint.endpoint.findings[0]!.id;
    const finding = await starApp.request(`/findings/${findingId}`);
    expect(finding.status).toBe(200);
    expect((await starApp.request(`/api/report?endpoint=${encodeURIComponent(`${'*'.repeat(12)}X`)}`)).status).toBe(200);
    starStore.closeSync();
  });
});

describe('escaping', () => {
  it('never lets a service or endpoint name write markup', async () => {
    const { djangoRequest } = await import('../otlp/testing.js');
    const { decodeJsonRequest } = await import('../otlp/json.js');
    const { OfflineAnalysis } = await import('../analyzer.js');
    const evil = Store.open(':memory:');
    const offline = new OfflineAnalysis({}, (a) => evil.recordSync(a));
    offline.add(decodeJsonRequest(Buffer.from(JSON.stringify(djangoRequest({ service: '<img src=x onerror=alert(1)>', repeats: 8 })))).spans);
    offline.finish();
    const page = await uiRoutes({ store: evil, now: () => 1_700_000_100_000 }).request('/?range=all');
    const html = await page.text();
    expect(html).not.toContain('<img src=x');
    expect(html).toContain('&lt;img src=x onerror=alert(1)&gt;');
    evil.close();
  });
});

describe('narrowed summaries', () => {
  it('keep the framework queries left out, counted over the endpoints kept', async () => {
    const whole = (await json<Report>('/api/report')).summary.frameworkQueriesDropped!;
    expect(whole.total).toBeGreaterThan(0);
    for (const path of ['/api/report?kind=n_plus_one', '/api/endpoints?kind=n_plus_one', '/api/report?q=dashboard']) {
      const narrowed = await json<{ summary: Report['summary']; endpoints: unknown[] }>(path);
      expect(narrowed.endpoints.length, path).toBeGreaterThan(0);
      expect(narrowed.summary.requests, path).toBeLessThan((await json<Report>('/api/report')).summary.requests);
      // One connection set-up statement per request: the narrowed count follows the requests kept.
      expect(narrowed.summary.frameworkQueriesDropped, path).toEqual({ total: narrowed.summary.requests, byRule: { postgres_set_config: narrowed.summary.requests } });
    }
  });
});

describe('acknowledge and ignore', () => {
  const dashboardFinding = async (table: string): Promise<number> => {
    for (const [key, id] of await store.findingIds()) if (key.startsWith('recruit\u0000GET dashboard/\u0000') && (await store.finding(id))?.sql.includes(`"${table}"`)) return id;
    throw new Error(`no ${table} finding`);
  };
  const put = (id: number, body: unknown) =>
    app.request(`/api/findings/${id}/acknowledgement`, { method: 'PUT', body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } });

  it('takes an acknowledged finding out of the report, the overview and the digest until it is withdrawn', async () => {
    const id = await dashboardFinding('recruit_company');
    const future = new Date(lastSeenMs + 30 * 86_400_000).toISOString().slice(0, 10);
    const res = await put(id, { state: 'acknowledged', reason: 'fixed in #1234', expires: future });
    expect(res.status).toBe(200);
    const ack = (await res.json()) as { signature: string; table: string };
    expect(ack).toMatchObject({ state: 'acknowledged', reason: 'fixed in #1234', expires: future, endpoint: 'GET dashboard/', kind: 'n_plus_one', table: 'recruit_company' });

    const report = await json<Report>('/api/report');
    const dashboard = report.endpoints.find((e) => e.endpoint === 'GET dashboard/')!;
    expect(dashboard.findings.map((f) => f.table)).not.toContain('recruit_company');
    expect(report.summary.findings).toBe(9);
    const included = await json<Report>('/api/report?acknowledged=include');
    expect(included.endpoints.find((e) => e.endpoint === 'GET dashboard/')!.findings.find((f) => f.table === 'recruit_company')).toMatchObject({
      acknowledgement: { state: 'acknowledged', reason: 'fixed in #1234', expires: future },
    });
    const api = await json<EndpointsApi>('/api/endpoints');
    expect(api.endpoints.find((e) => e.endpoint === 'GET dashboard/')!.findings).toBe(5);

    const endpointId = (await store.endpointRefs()).find((e) => e.endpoint === 'GET dashboard/')!.id;
    const page = await get(`/endpoints/${endpointId}`);
    expect(page.text).toContain('Findings (5)');
    expect(page.text).toContain('Acknowledged and ignored (1)');
    const findingPage = await get(`/findings/${id}`);
    expect(findingPage.text).toContain(`It counts again from ${future}.`);

    const { digestFromStore } = await import('../digest/source.js');
    const digest = await digestFromStore(store, { windowMs: 7 * 86_400_000, nowMs: lastSeenMs + 3_600_000 });
    expect(digest.report.endpoints.find((e) => e.endpoint === 'GET dashboard/')!.findings).toHaveLength(5);

    const baseline = JSON.parse((await get('/api/baseline')).text) as { n1lensBaseline: number; findings: { signature: string; reason: string; expires: string }[] };
    expect(baseline).toEqual({ n1lensBaseline: 1, findings: [{ signature: ack.signature, endpoint: 'GET dashboard/', kind: 'n_plus_one', table: 'recruit_company', reason: 'acknowledged: fixed in #1234', expires: future }] });
    expect(ack.signature).toMatch(/^[0-9a-f]{16}$/);

    const withdrawn = await app.request(`/api/findings/${id}/acknowledgement`, { method: 'DELETE' });
    expect(await withdrawn.json()).toEqual({ withdrawn: true });
    expect((await json<Report>('/api/report')).summary.findings).toBe(10);
  });

  it('records the table of a finding the report leaves out (here by an ignored table) from its SQL, as its signature was made', async () => {
    const id = await dashboardFinding('recruit_candidate');
    const ignoring = uiRoutes({ store, report: { ignoreTables: ['recruit_candidate'] }, now: () => lastSeenMs + 60_000 });
    const res = await ignoring.request(`/api/findings/${id}/acknowledgement`, {
      method: 'PUT',
      body: JSON.stringify({ state: 'ignored', reason: 'read-only admin' }),
      headers: { 'Content-Type': 'application/json' },
    });
    expect(res.status).toBe(200);
    const ack = (await res.json()) as { signature: string; table: string };
    expect(ack).toMatchObject({ kind: 'n_plus_one', table: 'recruit_candidate' });
    // The same signature the report gives the finding when it lists it: the baseline entry mutes it in CI.
    const listed = (await json<Report>('/api/report?acknowledged=include')).endpoints.find((e) => e.endpoint === 'GET dashboard/')!.findings.find((f) => f.table === 'recruit_candidate')!;
    expect(listed.signature).toBe(ack.signature);
    await store.unacknowledge(ack.signature);
  });

  it('counts an expired decision as no decision', async () => {
    const id = await dashboardFinding('recruit_status');
    // Written while it was still in the future, read after the day has passed.
    const day = new Date(lastSeenMs + 2 * 86_400_000).toISOString().slice(0, 10);
    expect((await put(id, { state: 'ignored', reason: 'legacy page', expires: day })).status).toBe(200);
    expect((await json<Report>('/api/report')).summary.findings).toBe(9);
    const later = uiRoutes({ store, now: () => lastSeenMs + 3 * 86_400_000 });
    expect(((await (await later.request('/api/report')).json()) as Report).summary.findings).toBe(10);
    await store.unacknowledge((await store.acknowledgements())[0]!.signature);
  });

  it('refuses a decision without a reason, with a bad date, or one already expired', async () => {
    const id = await dashboardFinding('recruit_job');
    expect(await (await put(id, { state: 'acknowledged', reason: '' })).json()).toEqual({ error: 'reason: say why (a short reason)' });
    expect(await (await put(id, { state: 'snoozed', reason: 'x' })).json()).toEqual({ error: 'state: must be "acknowledged" or "ignored"' });
    expect(await (await put(id, { state: 'ignored', reason: 'x', expires: '2026-02-30x' })).json()).toEqual({ error: 'expires: must be a date, YYYY-MM-DD' });
    // Date.parse reads 31 February as 3 March: a decision would have run two days past the date typed.
    expect(await (await put(id, { state: 'ignored', reason: 'x', expires: '2099-02-31' })).json()).toEqual({ error: 'expires: must be a real date, YYYY-MM-DD' });
    expect((await put(id, { state: 'ignored', reason: 'x', expires: '2020-01-01' })).status).toBe(400);
    expect((await put(424242, { state: 'ignored', reason: 'x' })).status).toBe(404);
    expect(await store.acknowledgements()).toEqual([]);
  });

  it('takes the finding page form from the same origin only', async () => {
    const id = await dashboardFinding('recruit_note');
    const form = (origin: string) =>
      app.request(`http://n1lens.test/findings/${id}/acknowledge`, {
        method: 'POST',
        body: new URLSearchParams({ state: 'ignored', reason: 'admin-only page', expires: '' }),
        headers: { 'Content-Type': 'application/x-www-form-urlencoded', Origin: origin },
      });
    expect((await form('https://evil.example')).status).toBe(403);
    expect(await store.acknowledgements()).toEqual([]);
    const ok = await form('http://n1lens.test');
    expect(ok.status).toBe(303);
    expect(ok.headers.get('location')).toBe(`/findings/${id}#decision`);
    expect(await store.acknowledgements()).toMatchObject([{ state: 'ignored', reason: 'admin-only page', table: 'recruit_note' }]);
    const undo = await app.request(`http://n1lens.test/findings/${id}/unacknowledge`, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded', Origin: 'http://n1lens.test' } });
    expect(undo.status).toBe(303);
    expect(await store.acknowledgements()).toEqual([]);
  });
});

describe('peers', () => {
  it('names the peers serve learned to send no spans, and those seen to answer', async () => {
    expect(await json('/api/peers')).toEqual({ peers: [] });
    await store.recordPeerVerdicts([{ peer: 'users.svc', opaque: false }, { peer: 'api.stripe.com', opaque: true }]);
    expect(await json('/api/peers')).toEqual({ peers: [{ peer: 'api.stripe.com', opaque: true }, { peer: 'users.svc', opaque: false }] });
  });
});

describe('short periods', () => {
  // The store and the server share one clock, six and a half minutes into an hour: whole-hour windows
  // would take the requests of 09:46:30 into since=10m and of 09:03:00 into the last hour.
  const NOW = Date.parse('2026-12-03T10:06:30Z');
  const MINUTE = 60_000;
  let minutes: Store;
  let minutesDir: string;
  let minutesApp: ReturnType<typeof uiRoutes>;

  beforeAll(async () => {
    const normalize = createSqlNormalizer();
    const dashboard = (i: number, startMs: number) =>
      analyseRequest(requestOf('GET dashboard/', [APPLICATIONS, ...loop(20, ...DASHBOARD_ROW)], { traceId: i.toString(16).padStart(32, '0'), startMs }), normalize);
    minutesDir = mkdtempSync(join(tmpdir(), 'n1lens-ui-minutes-'));
    minutes = Store.open(join(minutesDir, 'n1lens.db'), { now: () => NOW });
    await minutes.record([dashboard(1, NOW - 6 * MINUTE), dashboard(2, NOW - 20 * MINUTE), dashboard(3, NOW - 63.5 * MINUTE)]);
    minutesApp = uiRoutes({ store: minutes, now: () => NOW });
  });
  afterAll(async () => {
    await minutes.close();
    rmSync(minutesDir, { recursive: true, force: true });
  });

  const api = async <T>(path: string): Promise<T> => (await (await minutesApp.request(path)).json()) as T;

  it('?since=10m has the request of 6 minutes ago, not the one of 20 minutes ago in the same hour', async () => {
    expect((await api<Report>('/api/report?since=10m')).summary.requests).toBe(1);
    expect((await api<Report>('/api/report?since=30m')).summary.requests).toBe(2);
    expect((await api<EndpointsApi>('/api/endpoints?since=10m')).summary.requests).toBe(1);
  });

  it('the 1h range of the pages is the last 60 minutes, not the hours it touches', async () => {
    const lastHour = await api<EndpointsApi & { axis: { startMs: number; sizeMs: number; count: number }; endpoints: { trend: { startMs: number; requests: number }[] }[] }>(
      '/api/endpoints?range=1h',
    );
    expect(lastHour.summary.requests).toBe(2);
    // Its trend is in 2-minute buckets read from minute rows: 09:46 and 10:00, not one bar per hour.
    expect(lastHour.axis).toEqual({ startMs: Date.parse('2026-12-03T09:06:00Z'), sizeMs: 2 * MINUTE, count: 31 });
    const bars = lastHour.endpoints[0]!.trend.filter((b) => b.requests > 0).map((b) => [new Date(b.startMs).toISOString().slice(11, 16), b.requests]);
    expect(bars).toEqual([['09:46', 1], ['10:00', 1]]);
    expect((await api<Report>('/api/report?range=24h')).summary.requests).toBe(3);
    const page = await (await minutesApp.request('/?range=1h')).text();
    expect(rowsOf(page)).toEqual(['GET dashboard/']);
  });
});

describe('acknowledgements across services', () => {
  // One loop in one endpoint name served by two services: one signature (DESIGN "Signature": endpoint, kind, table, fingerprint).
  const NOW = Date.parse('2026-12-03T10:06:30Z');
  let two: Store;
  let twoDir: string;
  let twoApp: ReturnType<typeof uiRoutes>;

  beforeAll(async () => {
    const normalize = createSqlNormalizer();
    const dashboard = (i: number, service: string) =>
      analyseRequest({ ...requestOf('GET dashboard/', [APPLICATIONS, ...loop(20, ...DASHBOARD_ROW)], { traceId: i.toString(16).padStart(32, '0'), startMs: NOW - 10 * 60_000 }), service }, normalize);
    twoDir = mkdtempSync(join(tmpdir(), 'n1lens-ui-services-'));
    two = Store.open(join(twoDir, 'n1lens.db'), { now: () => NOW });
    await two.record([dashboard(1, 'web'), dashboard(2, 'web'), dashboard(3, 'web'), dashboard(4, 'admin'), dashboard(5, 'admin'), dashboard(6, 'admin')]);
    twoApp = uiRoutes({ store: two, now: () => NOW });
  });
  afterAll(async () => {
    await two.close();
    rmSync(twoDir, { recursive: true, force: true });
  });

  it('exports one baseline entry per signature when the same finding is acknowledged in two services', async () => {
    const ids: number[] = [];
    for (const [key, id] of await two.findingIds()) if (key.includes('GET dashboard/') && (await two.finding(id))?.sql.includes('"recruit_candidate"')) ids.push(id);
    expect(ids).toHaveLength(2);
    for (const [i, id] of ids.entries()) {
      const res = await twoApp.request(`/api/findings/${id}/acknowledgement`, { method: 'PUT', body: JSON.stringify({ state: 'acknowledged', reason: `ticket ${i}` }), headers: { 'Content-Type': 'application/json' } });
      expect(res.status).toBe(200);
    }
    const baseline = (await (await twoApp.request('/api/baseline')).json()) as { findings: { signature: string; reason?: string }[] };
    const signatures = baseline.findings.map((f) => f.signature);
    expect(signatures).toHaveLength(1);
    expect(new Set(signatures).size).toBe(signatures.length);
    // The later decision is the one in force, in both services (the signature decides).
    expect(baseline.findings[0]!.reason).toBe('acknowledged: ticket 1');
    const report = (await (await twoApp.request('/api/report')).json()) as Report;
    expect(report.endpoints.map((e) => [e.service, e.findings.some((f) => f.table === 'recruit_candidate')]).sort()).toEqual([['admin', false], ['web', false]]);
  });
});

describe('queries outside requests', () => {
  it('are in the summary of /api/report and of the overview (/api/endpoints), read back from the store file, narrowed by service', async () => {
    const outsideDir = mkdtempSync(join(tmpdir(), 'n1lens-ui-outside-'));
    const path = join(outsideDir, 'n1lens.db');
    const startMs = Date.parse('2026-12-01T10:00:00Z');
    const request = analyseRequest(requestOf('GET dashboard/', [APPLICATIONS, ...loop(6, ...DASHBOARD_ROW)], { traceId: '1'.repeat(32), startMs }), createSqlNormalizer());
    const writing = Store.open(path);
    await writing.record([request], { traceIds: [request.traceId, '2'.repeat(32)], nowMs: startMs }, undefined, [{ traceId: '2'.repeat(32), startMs, service: request.service, queries: 4 }]);
    writing.closeSync();

    const reading = Store.open(path);
    const outsideApp = uiRoutes({ store: reading, now: () => startMs + 60_000 });
    const summaryOf = async (url: string): Promise<Report['summary']> => ((await (await outsideApp.request(url)).json()) as { summary: Report['summary'] }).summary;
    expect((await summaryOf('/api/report')).queriesOutsideRequests).toBe(4);
    expect((await summaryOf('/api/endpoints')).queriesOutsideRequests).toBe(4);
    expect((await summaryOf(`/api/report?service=${request.service}`)).queriesOutsideRequests).toBe(4);
    expect((await summaryOf('/api/report?service=billing')).queriesOutsideRequests).toBeUndefined();
    // Narrowing the endpoints (kind, text search) narrows no query outside them.
    expect((await summaryOf('/api/report?q=no-such-endpoint')).queriesOutsideRequests).toBe(4);
    expect((await summaryOf('/api/endpoints?service=billing')).queriesOutsideRequests).toBeUndefined();
    // The overview page says so beside the DB queries, as the terminal report does under its header.
    expect(await (await outsideApp.request('/')).text()).toContain('4 more outside any request');
    expect(await (await outsideApp.request('/?service=billing')).text()).not.toContain('outside any request');
    await reading.close();
    rmSync(outsideDir, { recursive: true, force: true });
  });
});
