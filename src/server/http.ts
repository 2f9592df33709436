/** The hono app: OTLP/HTTP intake (POST /v1/traces), the report page and API, health and metrics. */
import { Hono, type Context } from 'hono';
import { decodeJsonRequest } from '../otlp/json.js';
import { decodeProtobufRequest } from '../otlp/protobuf.js';
import { createWireDecoder } from '../otlp/wire/decoder.js';
import { otlpSchema } from '../otlp/schema.js';
import { protobufToOtlpJson } from '../otlp/to-json.js';
import type { DecodedBatch } from '../otlp/span.js';
import { renderHtml } from '../report/html.js';
import { parseDuration, parseSince } from '../report/period.js';
import type { ReportOptions } from '../report/model.js';
import type { Store } from '../store/store.js';
import { BodyError, decodeContent, readLimited } from './body.js';
import type { Intake } from './intake.js';
import type { ServerMetrics } from './metrics.js';

export interface HttpAppOptions {
  intake: Intake;
  store: Store;
  metrics: ServerMetrics;
  /** Limit on the decompressed body. */
  maxBodyBytes: number;
  /** Schema and detector settings for /api/report. */
  report?: Omit<ReportOptions, 'endpoint'>;
  /** dead_view window when /api/report has no deadAfter (and for the page). */
  deadAfterMs?: number;
  now?: () => number;
}

type Encoding = 'protobuf' | 'json';

const GRPC_INVALID_ARGUMENT = 3;
const GRPC_UNAVAILABLE = 14;
const GRPC_RESOURCE_EXHAUSTED = 8;

function encodingOf(contentType: string | undefined): Encoding | undefined {
  const mime = (contentType ?? '').split(';')[0]?.trim().toLowerCase();
  if (mime === 'application/x-protobuf' || mime === 'application/protobuf') return 'protobuf';
  if (mime === 'application/json') return 'json';
  return undefined;
}

/** Sends a message in the request's encoding, as OTLP/HTTP requires of both success and error bodies. */
function send(c: Context, encoding: Encoding, status: 200 | 400 | 413 | 415 | 503, kind: 'response' | 'status', value: Record<string, unknown>): Response {
  if (encoding === 'json') return c.json(value, status);
  const schema = otlpSchema();
  const type = kind === 'response' ? schema.ExportTraceServiceResponse : schema.Status;
  const bytes = type.encode(type.fromObject(value)).finish();
  return c.body(Buffer.from(bytes), status, { 'Content-Type': 'application/x-protobuf' });
}

export function createHttpApp(options: HttpAppOptions): Hono {
  const { intake, store, metrics } = options;
  const now = options.now ?? Date.now;
  const app = new Hono();
  const decoder = createWireDecoder();

  app.post('/v1/traces', async (c) => {
    const stop = metrics.exportLatency.startTimer({ transport: 'http' });
    const encoding = encodingOf(c.req.header('content-type'));
    if (encoding === undefined) {
      metrics.exportsRefused.inc({ transport: 'http', reason: 'unsupported_media_type' });
      stop();
      return c.json({ code: GRPC_INVALID_ARGUMENT, message: 'Content-Type must be application/x-protobuf or application/json' }, 415);
    }
    let body: Buffer;
    try {
      const raw = await readLimited(c.req.raw.body, options.maxBodyBytes);
      body = await decodeContent(raw, c.req.header('content-encoding'), options.maxBodyBytes);
    } catch (e) {
      if (!(e instanceof BodyError)) throw e;
      metrics.exportsRefused.inc({ transport: 'http', reason: e.status === 413 ? 'too_large' : 'bad_encoding' });
      stop();
      const code = e.status === 413 ? GRPC_RESOURCE_EXHAUSTED : GRPC_INVALID_ARGUMENT;
      return send(c, encoding, e.status, 'status', { code, message: e.message });
    }
    let batch: DecodedBatch;
    try {
      batch = encoding === 'json' ? decodeJsonRequest(body) : decodeProtobufRequest(body, decoder);
    } catch (e) {
      metrics.exportsRefused.inc({ transport: 'http', reason: 'undecodable' });
      stop();
      return send(c, encoding, 400, 'status', { code: GRPC_INVALID_ARGUMENT, message: (e as Error).message });
    }
    const result = intake.accept(batch, 'http', () => (encoding === 'json' ? JSON.stringify(JSON.parse(body.toString('utf8'))) : protobufToOtlpJson(body)));
    stop();
    if (!result.ok) {
      c.header('Retry-After', String(result.retryAfterSeconds));
      return send(c, encoding, 503, 'status', { code: GRPC_UNAVAILABLE, message: 'n1lens is at --max-traces open traces; retry later' });
    }
    const response = result.rejected === 0 ? {} : { partialSuccess: { rejectedSpans: String(result.rejected), errorMessage: result.message } };
    return send(c, encoding, 200, 'response', response);
  });

  /** The report options with dead views over `deadAfterMs`, when there is a window and a URLconf. */
  const withDeadViews = (deadAfterMs: number | undefined): Omit<ReportOptions, 'endpoint'> => {
    const urls = options.report?.schema?.urls;
    if (deadAfterMs === undefined || urls === undefined) return options.report ?? {};
    return { ...options.report, deadViews: store.deadViews(urls, deadAfterMs, now()) };
  };

  app.get('/', (c) =>
    c.html(renderHtml(store.report({}, withDeadViews(options.deadAfterMs)), { title: 'n1lens: worst endpoints', generatedAt: new Date(now()) })),
  );

  app.get('/api/report', (c) => {
    const since = c.req.query('since');
    const endpoint = c.req.query('endpoint');
    const deadAfter = c.req.query('deadAfter');
    let sinceMs: number | undefined;
    let deadAfterMs: number | undefined;
    try {
      sinceMs = since === undefined ? undefined : parseSince(since, now());
      deadAfterMs = deadAfter === undefined ? undefined : parseDuration(deadAfter);
    } catch (e) {
      return c.json({ error: (e as Error).message }, 400);
    }
    if (deadAfterMs !== undefined && options.report?.schema?.urls === undefined) {
      return c.json({ error: 'deadAfter needs serve --schema with the URLconf (re-run manage.py n1lens_schema)' }, 400);
    }
    return c.json(
      store.report(
        { ...(sinceMs === undefined ? {} : { sinceMs }), ...(endpoint === undefined ? {} : { endpoint }) },
        withDeadViews(deadAfterMs ?? options.deadAfterMs),
      ),
    );
  });

  app.get('/api/endpoints', (c) => c.json({ endpoints: store.endpoints() }));

  app.get('/api/findings/:id', (c) => {
    const id = Number(c.req.param('id'));
    const finding = Number.isInteger(id) ? store.finding(id) : undefined;
    return finding === undefined ? c.json({ error: 'no such finding' }, 404) : c.json(finding);
  });

  app.get('/healthz', (c) => c.json({ status: 'ok', openTraces: intake.openTraces }));

  app.get('/metrics', async (c) => c.body(await metrics.registry.metrics(), 200, { 'Content-Type': metrics.registry.contentType }));

  app.notFound((c) => c.json({ error: 'not found' }, 404));
  app.onError((err, c) => c.json({ error: `internal error: ${err.message}` }, 500));
  return app;
}
