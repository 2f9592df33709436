/** Emits Django-shaped traces through the official OpenTelemetry JS SDK and a real OTLP exporter, for tests and benchmarks. */
import { context, SpanKind, trace, type Span } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { APPLICATIONS, AUTH_USER, DASHBOARD_ROW, SESSION } from '../src/detect/testing.js';

export interface DashboardTraceOptions {
  rows?: number;
  semconv?: 'old' | 'stable';
  route?: string;
  /** After each query, the `SELECT QUOTE(?)` Django runs with DEBUG=True on SQLite to build its debug text. */
  debugQuote?: boolean;
}

/**
 * Runs `count` dashboard requests through a tracer whose spans go to `exporter`, like
 * opentelemetry-instrumentation-django + the DB-API instrumentation would record them.
 */
export async function emitDashboards(exporter: SpanExporter, count: number, options: DashboardTraceOptions = {}): Promise<void> {
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'recruit' }),
    spanProcessors: [new BatchSpanProcessor(exporter, { maxExportBatchSize: 128, maxQueueSize: 100_000, scheduledDelayMillis: 5 })],
  });
  const tracer = provider.getTracer('test-django');
  const stable = options.semconv === 'stable';
  const rows = options.rows ?? 50;
  const route = options.route ?? 'dashboard/';
  for (let i = 0; i < count; i++) {
    const server = tracer.startSpan(`GET ${route}`, {
      kind: SpanKind.SERVER,
      attributes: stable ? { 'http.request.method': 'GET', 'http.route': route } : { 'http.method': 'GET', 'http.route': route },
    });
    const ctx = trace.setSpan(context.active(), server);
    const query = (sql: string): void => {
      const s: Span = tracer.startSpan(
        sql.split(' ')[0] ?? 'SELECT',
        { kind: SpanKind.CLIENT, attributes: stable ? { 'db.system.name': 'postgresql', 'db.query.text': sql } : { 'db.system': 'postgresql', 'db.statement': sql } },
        ctx,
      );
      s.end();
      if (options.debugQuote === true && !sql.startsWith('SELECT QUOTE')) query('SELECT QUOTE(?), QUOTE(?)');
    };
    query(SESSION);
    query(AUTH_USER);
    query(APPLICATIONS);
    for (let r = 0; r < rows; r++) for (const row of DASHBOARD_ROW) query(row(r));
    server.end();
  }
  await provider.forceFlush();
  await provider.shutdown();
}
