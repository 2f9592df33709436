/** The hono app: OTLP/HTTP intake (POST /v1/traces), the web UI and its API (mounted from ui/), health and metrics. */
import { Hono, type Context } from 'hono';
import { decodeJsonRequest } from '../otlp/json.js';
import { decodeProtobufRequest } from '../otlp/protobuf.js';
import { createWireDecoder } from '../otlp/wire/decoder.js';
import { otlpSchema } from '../otlp/schema.js';
import { protobufToOtlpJson } from '../otlp/to-json.js';
import type { DecodedBatch } from '../otlp/span.js';
import type { ReportOptions } from '../report/model.js';
import type { Store } from '../store/store.js';
import { uiRoutes } from '../ui/routes.js';
import { BodyError, decodeContent, readLimited } from './body.js';
import { requireBearer } from './auth.js';
import type { Intake } from './intake.js';
import type { ServerMetrics } from './metrics.js';

export interface HttpAppOptions {
  intake: Intake;
  store: Store;
  metrics: ServerMetrics;
  /** Limit on the decompressed body. */
  maxBodyBytes: number;
  /** When set, every path but /healthz needs `Authorization: Bearer <token>`. */
  authToken?: string;
  /** Schema and detector settings for /api/report. */
  report?: Omit<ReportOptions, 'endpoint'>;
  /** dead_view window when /api/report has no deadAfter (and for the page). */
  deadAfterMs?: number;
  /** `--trace-url` template: example trace ids become links. */
  traceUrl?: string;
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
  if (options.authToken !== undefined) app.use('*', requireBearer(options.authToken));

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
    const result = await intake.accept(batch, 'http', { encoding, body }, () =>
      encoding === 'json' ? JSON.stringify(JSON.parse(body.toString('utf8'))) : protobufToOtlpJson(body),
    );
    if (result.ok) {
      try {
        await result.durable;
      } catch (e) {
        stop();
        c.header('Retry-After', '1');
        return send(c, encoding, 503, 'status', { code: GRPC_UNAVAILABLE, message: (e as Error).message });
      }
    }
    stop();
    if (!result.ok) {
      // Retry-After takes whole seconds; the jitter survives because the delay spans several seconds.
      c.header('Retry-After', String(Math.max(1, Math.round(result.retryAfterMs / 1000))));
      return send(c, encoding, 503, 'status', { code: GRPC_UNAVAILABLE, message: result.message });
    }
    const response = result.rejected === 0 ? {} : { partialSuccess: { rejectedSpans: String(result.rejected), errorMessage: result.message } };
    return send(c, encoding, 200, 'response', response);
  });

  // The web UI and its JSON API: /, /endpoints/:id, /findings/:id, /api/report, /api/endpoints, /api/findings/:id.
  app.route('/', uiRoutes({ store, now, ...(options.report === undefined ? {} : { report: options.report }), ...(options.traceUrl === undefined ? {} : { traceUrl: options.traceUrl }), ...(options.deadAfterMs === undefined ? {} : { deadAfterMs: options.deadAfterMs }) }));

  app.get('/healthz', (c) => c.json({ status: 'ok', openTraces: intake.openTraces }));

  app.get('/metrics', async (c) => c.body(await metrics.registry.metrics(), 200, { 'Content-Type': metrics.registry.contentType }));

  app.notFound((c) => c.json({ error: 'not found' }, 404));
  app.onError((err, c) => c.json({ error: `internal error: ${err.message}` }, 500));
  return app;
}
