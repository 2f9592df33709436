/** The web UI's routes for `n1lens serve`: the overview, endpoint and finding pages and their JSON twins under /api. The server only mounts them. */
import { Hono, type Context } from 'hono';
import type { ReportOptions } from '../report/model.js';
import type { Store } from '../store/store.js';
import { endpointView, findingView, overview, servedReport, type Overview, type UiContext } from './data.js';
import { API_RANGE, FilterError, PAGE_RANGE, filterQuery, parseFilters, type Filters } from './filters.js';
import { Document, EndpointPage, FindingPage, OverviewView, isSortKey, servedLinks, sortRows, type SortKey } from './pages.js';

export interface UiOptions {
  store: Store;
  /** Schema and detector settings for the report. */
  report?: Omit<ReportOptions, 'endpoint'>;
  now?: () => number;
  /** `--trace-url`: `https://jaeger…/trace/{traceId}`. */
  traceUrl?: string;
}

function sortOf(c: Context): { sort: SortKey; dir: 'asc' | 'desc' } {
  const sort = c.req.query('sort') ?? 'wasted';
  const dir = c.req.query('dir') === 'asc' ? 'asc' : 'desc';
  return { sort: isSortKey(sort) ? sort : 'wasted', dir };
}

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

  app.get('/', (c) => {
    const x = ctx();
    const filters = filtersOf(c, x.nowMs);
    const { sort, dir } = sortOf(c);
    return page(
      c,
      'n1lens · endpoints',
      <main class="in">
        <OverviewView view={overview(x, filters)} links={servedLinks(`/api/endpoints${filterQuery(filters)}`)} sort={sort} dir={dir} nowMs={x.nowMs} live />
      </main>,
    );
  });

  app.get('/endpoints/:id', (c) => {
    const x = ctx();
    const id = positiveId(c.req.param('id'));
    const view = id === undefined ? undefined : endpointView(x, id, filtersOf(c, x.nowMs));
    if (view === undefined) return problem(c, 404, `No endpoint ${c.req.param('id')} in this store.`);
    return page(
      c,
      `${view.endpoint.endpoint} · n1lens`,
      <main class="in">
        <EndpointPage view={view} links={servedLinks(`/api/endpoints/${view.id}${filterQuery(view.filters)}`)} nowMs={x.nowMs} live />
      </main>,
    );
  });

  app.get('/findings/:id', (c) => {
    const x = ctx();
    const id = positiveId(c.req.param('id'));
    const view = id === undefined ? undefined : findingView(x, id, filtersOf(c, x.nowMs));
    if (view === undefined) return problem(c, 404, `No finding ${c.req.param('id')} in this store.`);
    return page(
      c,
      `${view.stored.endpoint} finding ${view.id} · n1lens`,
      <main class="in">
        <FindingPage view={view} links={servedLinks(`/api/findings/${view.id}${filterQuery(view.filters)}`)} nowMs={x.nowMs} live />
      </main>,
    );
  });

  app.get('/api/report', (c) => {
    const x = ctx();
    return c.json(servedReport(x, filtersOf(c, x.nowMs)));
  });

  app.get('/api/endpoints', (c) => {
    const x = ctx();
    const filters = filtersOf(c, x.nowMs);
    const view = overview(x, filters);
    const { sort, dir } = sortOf(c);
    return c.json({ filters, axis: view.axis, summary: view.summary, endpoints: endpointList({ ...view, rows: sortRows(view.rows, sort, dir) }) });
  });

  app.get('/api/endpoints/:id', (c) => {
    const x = ctx();
    const id = positiveId(c.req.param('id'));
    const view = id === undefined ? undefined : endpointView(x, id, filtersOf(c, x.nowMs));
    return view === undefined ? c.json({ error: 'no such endpoint' }, 404) : c.json(view);
  });

  app.get('/api/findings/:id', (c) => {
    const x = ctx();
    const id = positiveId(c.req.param('id'));
    const view = id === undefined ? undefined : findingView(x, id, filtersOf(c, x.nowMs));
    if (view === undefined) return c.json({ error: 'no such finding' }, 404);
    // The stored finding's fields stay at the top level, as this route has always served them.
    const { stored, ...rest } = view;
    return c.json({ ...stored, ...rest });
  });

  app.onError((err, c) => {
    if (!(err instanceof FilterError)) throw err;
    return c.req.path.startsWith('/api/') ? c.json({ error: err.message }, 400) : problem(c, 400, err.message);
  });
  return app;
}
