/** The hono app: the web UI and its API (mounted from ui/), health and metrics; POST /v1/traces is answered before it, by otlp-http.ts. */
import { Hono } from 'hono';
import type { ReportOptions } from '../report/model.js';
import type { Store } from '../store/store.js';
import { uiRoutes } from '../ui/routes.js';
import { requireBearer } from './auth.js';
import type { ExportIntake } from './intake.js';
import type { ServerMetrics } from './metrics.js';

export interface HttpAppOptions {
  intake: ExportIntake;
  store: Store;
  metrics: ServerMetrics;
  /** /metrics' exposition when it is more than this thread's registry (`serve --workers`: every shard's too). */
  metricsText?: () => Promise<string>;
  /** When set, every path but /healthz needs `Authorization: Bearer <token>` (OTLP/HTTP checks it in otlp-http.ts). */
  authToken?: string;
  /** Schema and detector settings for /api/report. */
  report?: Omit<ReportOptions, 'endpoint'>;
  /** dead_view window when /api/report has no deadAfter (and for the page). */
  deadAfterMs?: number;
  /** `--trace-url` template: example trace ids become links. */
  traceUrl?: string;
  now?: () => number;
}

export function createHttpApp(options: HttpAppOptions): Hono {
  const { intake, store, metrics } = options;
  const now = options.now ?? Date.now;
  const app = new Hono();
  if (options.authToken !== undefined) app.use('*', requireBearer(options.authToken));

  // The web UI and its JSON API: /, /endpoints/:id, /findings/:id, /api/report, /api/endpoints, /api/findings/:id.
  app.route('/', uiRoutes({ store, now, ...(options.report === undefined ? {} : { report: options.report }), ...(options.traceUrl === undefined ? {} : { traceUrl: options.traceUrl }), ...(options.deadAfterMs === undefined ? {} : { deadAfterMs: options.deadAfterMs }) }));

  app.get('/healthz', (c) => c.json({ status: 'ok', openTraces: intake.openTraces }));

  const metricsText = options.metricsText ?? (() => metrics.registry.metrics());
  app.get('/metrics', async (c) => c.body(await metricsText(), 200, { 'Content-Type': metrics.registry.contentType }));

  app.notFound((c) => c.json({ error: 'not found' }, 404));
  app.onError((err, c) => c.json({ error: `internal error: ${err.message}` }, 500));
  return app;
}
