/** The web UI's routes for `n1lens serve`: the overview, endpoint and finding pages and their JSON twins under /api. The server only mounts them. */
import { Hono, type Context } from 'hono';
import { csrf } from 'hono/csrf';
import { HTTPException } from 'hono/http-exception';
import { z } from 'zod';
import { compareText } from '../detect/order.js';
import type { FindingKind } from '../detect/types.js';
import { acknowledgementsBaseline } from '../report/acknowledge.js';
import type { ReportOptions } from '../report/model.js';
import { isCalendarDate } from '../report/period.js';
import type { Store } from '../store/store.js';
import { endpointView, findingView, overview, servedReport, type FindingView, type Overview, type UiContext } from './data.js';
import { API_RANGE, FilterError, PAGE_RANGE, filterQuery, parseFilters, type Filters } from './filters.js';
import { Document, EndpointPage, FindingPage, OverviewView, isSortKey, servedLinks, sortRows, type SortKey } from './pages.js';

export interface UiOptions {
  store: Store;
  /** Schema and detector settings for the report. */
  report?: Omit<ReportOptions, 'endpoint'>;
  now?: () => number;
  /** `--trace-url`: `https://jaeger…/trace/{traceId}`. */
  traceUrl?: string;
  /** `serve --dead-after`: the dead_view window when a request gives none (needs the schema's URLconf). */
  deadAfterMs?: number;
}

function sortOf(c: Context): { sort: SortKey; dir: 'asc' | 'desc' } {
  const sort = c.req.query('sort') ?? 'wasted';
  const dir = c.req.query('dir') === 'asc' ? 'asc' : 'desc';
  return { sort: isSortKey(sort) ? sort : 'wasted', dir };
}

const decisionSchema = z.strictObject({
  state: z.enum(['acknowledged', 'ignored'], { error: 'must be "acknowledged" or "ignored"' }),
  reason: z.string({ error: 'must be text' }).trim().min(1, { error: 'say why (a short reason)' }).max(500, { error: 'at most 500 characters' }),
  expires: z
    .string()
    .regex(/^\d{4}-\d{2}-\d{2}$/, { error: 'must be a date, YYYY-MM-DD' })
    .refine(isCalendarDate, { error: 'must be a real date, YYYY-MM-DD' })
    .optional(),
});

const positiveId = (s: string): number | undefined => (/^\d{1,15}$/.test(s) ? Number(s) : undefined);

/** The overview rows as /api/endpoints lists them: the report's figures, finding counts, trend. */
function endpointList(view: Overview) {
  return view.rows.map((r) => ({
    id: r.id,
    service: r.endpoint.service,
    endpoint: r.endpoint.endpoint,
    requests: r.endpoint.requests,
    queriesPerRequest: r.endpoint.queriesPerRequest,
    wastedMsPerRequest: r.endpoint.wastedMsPerRequest,
    wastedMs: r.wastedMs,
    findings: r.endpoint.findings.length,
    kinds: r.kinds,
    tables: r.tables,
    trend: r.trend,
  }));
}

export function uiRoutes(options: UiOptions): Hono {
  const now = options.now ?? Date.now;
  const app = new Hono();
  const ctx = (): UiContext => ({
    store: options.store,
    nowMs: now(),
    ...(options.report === undefined ? {} : { report: options.report }),
    ...(options.traceUrl === undefined ? {} : { traceUrl: options.traceUrl }),
    ...(options.deadAfterMs === undefined ? {} : { deadAfterMs: options.deadAfterMs }),
  });
  const filtersOf = (c: Context, nowMs: number): Filters =>
    parseFilters((name) => c.req.query(name), nowMs, c.req.path.startsWith('/api/') ? API_RANGE : PAGE_RANGE);

  const page = (c: Context, title: string, body: Parameters<typeof Document>[0]['children'], status: 200 | 400 | 404 = 200) =>
    c.html(<Document title={title}>{body}</Document>, status);
  const problem = (c: Context, status: 400 | 404, message: string) =>
    page(
      c,
      'n1lens',
      <main class="in">
        <p class="err" role="alert">
          {message}
        </p>
        <p>
          <a href="/">Back to the overview</a>
        </p>
      </main>,
      status,
    );

  app.get('/', async (c) => {
    const x = ctx();
    const filters = filtersOf(c, x.nowMs);
    const { sort, dir } = sortOf(c);
    const view = await overview(x, filters);
    return page(
      c,
      'n1lens · endpoints',
      <main class="in">
        <OverviewView view={view} links={servedLinks(`/api/endpoints${filterQuery(filters)}`)} sort={sort} dir={dir} nowMs={x.nowMs} live />
      </main>,
    );
  });

  app.get('/endpoints/:id', async (c) => {
    const x = ctx();
    const id = positiveId(c.req.param('id'));
    const view = id === undefined ? undefined : await endpointView(x, id, filtersOf(c, x.nowMs));
    if (view === undefined) return problem(c, 404, `No endpoint ${c.req.param('id')} in this store.`);
    return page(
      c,
      `${view.endpoint.endpoint} · n1lens`,
      <main class="in">
        <EndpointPage view={view} links={servedLinks(`/api/endpoints/${view.id}${filterQuery(view.filters)}`)} nowMs={x.nowMs} live />
      </main>,
    );
  });

  app.get('/findings/:id', async (c) => {
    const x = ctx();
    const id = positiveId(c.req.param('id'));
    const view = id === undefined ? undefined : await findingView(x, id, filtersOf(c, x.nowMs));
    if (view === undefined) return problem(c, 404, `No finding ${c.req.param('id')} in this store.`);
    return page(
      c,
      `${view.stored.endpoint} finding ${view.id} · n1lens`,
      <main class="in">
        <FindingPage view={view} links={servedLinks(`/api/findings/${view.id}${filterQuery(view.filters)}`)} nowMs={x.nowMs} live />
      </main>,
    );
  });

  app.get('/api/report', async (c) => {
    const x = ctx();
    return c.json(await servedReport(x, filtersOf(c, x.nowMs)));
  });

  app.get('/api/endpoints', async (c) => {
    const x = ctx();
    const filters = filtersOf(c, x.nowMs);
    const view = await overview(x, filters);
    const { sort, dir } = sortOf(c);
    return c.json({ filters, axis: view.axis, summary: view.summary, endpoints: endpointList({ ...view, rows: sortRows(view.rows, sort, dir) }) });
  });

  app.get('/api/endpoints/:id', async (c) => {
    const x = ctx();
    const id = positiveId(c.req.param('id'));
    const view = id === undefined ? undefined : await endpointView(x, id, filtersOf(c, x.nowMs));
    return view === undefined ? c.json({ error: 'no such endpoint' }, 404) : c.json(view);
  });

  app.get('/api/findings/:id', async (c) => {
    const x = ctx();
    const id = positiveId(c.req.param('id'));
    const view = id === undefined ? undefined : await findingView(x, id, filtersOf(c, x.nowMs));
    if (view === undefined) return c.json({ error: 'no such finding' }, 404);
    // The stored finding's fields stay at the top level, as this route has always served them.
    const { stored, ...rest } = view;
    return c.json({ ...stored, ...rest });
  });

  /** Records a decision from the finding page's form or the API's JSON, or says (status and one line) why not. */
  const decide = async (id: number, input: unknown): Promise<{ ok: true; view: FindingView } | { ok: false; status: 400 | 404; message: string }> => {
    const x = ctx();
    const view = await findingView(x, id, { range: 'all' });
    if (view === undefined) return { ok: false, status: 404, message: `No finding ${id} in this store.` };
    const parsed = decisionSchema.safeParse(input);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      return { ok: false, status: 400, message: `${issue.path.join('.') || 'decision'}: ${issue.message}` };
    }
    const d = parsed.data;
    if (d.expires !== undefined && Date.parse(`${d.expires}T00:00:00Z`) <= x.nowMs) {
      return { ok: false, status: 400, message: `expires: ${d.expires} is not in the future` };
    }
    await options.store.acknowledge({
      signature: view.signature,
      service: view.stored.service,
      endpoint: view.stored.endpoint,
      kind: view.stored.kind as FindingKind,
      // The table its signature was made with, so the exported baseline names the finding it mutes.
      table: view.table,
      state: d.state,
      reason: d.reason,
      ...(d.expires === undefined ? {} : { expires: d.expires }),
      createdMs: x.nowMs,
    });
    return { ok: true, view };
  };

  // Forms post from the page itself; hono's csrf() refuses a form posted from another origin.
  app.post('/findings/:id/acknowledge', csrf(), async (c) => {
    const id = positiveId(c.req.param('id'));
    const form = await c.req.parseBody();
    const expires = typeof form.expires === 'string' && form.expires !== '' ? form.expires : undefined;
    const result = id === undefined ? undefined : await decide(id, { state: form.state, reason: form.reason, ...(expires === undefined ? {} : { expires }) });
    if (result === undefined) return problem(c, 404, `No finding ${c.req.param('id')} in this store.`);
    if (!result.ok) return problem(c, result.status, result.message);
    return c.redirect(`/findings/${id}#decision`, 303);
  });

  app.post('/findings/:id/unacknowledge', csrf(), async (c) => {
    const id = positiveId(c.req.param('id'));
    const view = id === undefined ? undefined : await findingView(ctx(), id, { range: 'all' });
    if (view === undefined) return problem(c, 404, `No finding ${c.req.param('id')} in this store.`);
    await options.store.unacknowledge(view.signature);
    return c.redirect(`/findings/${id}#decision`, 303);
  });

  app.put('/api/findings/:id/acknowledgement', async (c) => {
    const id = positiveId(c.req.param('id'));
    let body: unknown;
    try {
      body = await c.req.json();
    } catch {
      return c.json({ error: 'the body must be JSON: {"state": "acknowledged"|"ignored", "reason": "…", "expires": "YYYY-MM-DD"}' }, 400);
    }
    const result = id === undefined ? undefined : await decide(id, body);
    if (result === undefined) return c.json({ error: 'no such finding' }, 404);
    if (!result.ok) return c.json({ error: result.message }, result.status);
    return c.json((await options.store.acknowledgements()).find((a) => a.signature === result.view.signature));
  });

  app.delete('/api/findings/:id/acknowledgement', async (c) => {
    const id = positiveId(c.req.param('id'));
    const view = id === undefined ? undefined : await findingView(ctx(), id, { range: 'all' });
    if (view === undefined) return c.json({ error: 'no such finding' }, 404);
    return c.json({ withdrawn: await options.store.unacknowledge(view.signature) });
  });

  app.get('/api/acknowledgements', async (c) => c.json({ acknowledgements: await options.store.acknowledgements() }));

  /** What serve learned of the peers the apps call (traces/peers.ts): the metric counts them, this names them. */
  app.get('/api/peers', async (c) => c.json({ peers: (await options.store.peerVerdicts()).sort((a, b) => compareText(a.peer, b.peer)) }));

  /** The decisions in force as a baseline file for `--baseline` in CI. */
  app.get('/api/baseline', async (c) => {
    c.header('Content-Disposition', 'attachment; filename="n1lens-baseline.json"');
    return c.body(`${JSON.stringify(acknowledgementsBaseline(await options.store.acknowledgements(), now()), null, 2)}\n`, 200, { 'Content-Type': 'application/json' });
  });

  app.onError((err, c) => {
    if (err instanceof HTTPException) return err.getResponse(); // e.g. csrf()'s 403
    if (!(err instanceof FilterError)) throw err;
    return c.req.path.startsWith('/api/') ? c.json({ error: err.message }, 400) : problem(c, 400, err.message);
  });
  return app;
}
