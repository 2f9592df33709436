/** Starts `n1lens serve`: store, intake, OTLP/HTTP + API and OTLP/gRPC on loopback by default; stops cleanly. */
import { serve, type ServerType } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import type { Server as GrpcServer } from '@grpc/grpc-js';
import type { EndpointDetectOptions } from '../detect/endpoint.js';
import type { DetectOptions } from '../detect/request.js';
import type { DjangoSchema } from '../suggest/schema.js';
import type { ConnectionDetectOptions } from '../detect/connections.js';
import { schemaNaming } from '../suggest/naming.js';
import { Store } from '../store/store.js';
import { bindGrpc, createGrpcServer } from './grpc.js';
import { createHttpApp } from './http.js';
import { Intake } from './intake.js';
import { createMetrics } from './metrics.js';

export interface ServeOptions {
  host: string;
  httpPort: number;
  grpcPort: number;
  db: string;
  traceWaitMs: number;
  maxTraces: number;
  maxBodyBytes: number;
  grpcMaxReceiveBytes: number;
  /** Per-request detector settings (min repeats, fan-out thresholds). */
  detect?: DetectOptions;
  /** Per-endpoint and per-service detector settings for the API's report (hot lookup, slow query, connections). */
  report?: EndpointDetectOptions & ConnectionDetectOptions;
  schema?: DjangoSchema;
  /** dead_view on the page and in /api/report by default: no request for this long (needs the schema's URLconf). */
  deadAfterMs?: number;
  recordPath?: string;
  /** Links example trace ids in the UI: `https://jaeger…/trace/{traceId}`. */
  traceUrl?: string;
}

export interface RunningServer {
  httpPort: number;
  grpcPort: number;
  store: Store;
  intake: Intake;
  /** Stops intake, analyses everything buffered, commits, closes. */
  close(): Promise<void>;
}

export async function startServer(o: ServeOptions): Promise<RunningServer> {
  const store = Store.open(o.db);
  const metrics = createMetrics();
  const intake = new Intake({
    store,
    metrics,
    traceWaitMs: o.traceWaitMs,
    maxTraceAgeMs: 30_000,
    maxOpenTraces: o.maxTraces,
    ...o.detect,
    ...(o.schema === undefined ? {} : { links: schemaNaming(o.schema) }),
    ...(o.recordPath === undefined ? {} : { recordPath: o.recordPath }),
  });
  metrics.findings.set(store.findingCount());
  const app = createHttpApp({
    intake,
    store,
    metrics,
    maxBodyBytes: o.maxBodyBytes,
    report: { ...o.report, ...(o.schema === undefined ? {} : { schema: o.schema }) },
    ...(o.deadAfterMs === undefined ? {} : { deadAfterMs: o.deadAfterMs }),
    ...(o.traceUrl === undefined ? {} : { traceUrl: o.traceUrl }),
  });

  const http: ServerType = await new Promise((resolve, reject) => {
    const s = serve({ fetch: app.fetch, hostname: o.host, port: o.httpPort }, () => resolve(s));
    s.once('error', reject);
  });
  const grpcServer: GrpcServer = createGrpcServer({ intake, metrics, maxReceiveBytes: o.grpcMaxReceiveBytes });
  let grpcPort: number;
  try {
    grpcPort = await bindGrpc(grpcServer, o.host, o.grpcPort);
  } catch (e) {
    http.close();
    store.close();
    throw new Error(`cannot listen for OTLP/gRPC on ${o.host}:${o.grpcPort} (${(e as Error).message})`);
  }

  let closing: Promise<void> | undefined;
  return {
    httpPort: (http.address() as AddressInfo).port,
    grpcPort,
    store,
    intake,
    close() {
      closing ??= (async () => {
        await Promise.all([
          new Promise<void>((resolve) => http.close(() => resolve())),
          new Promise<void>((resolve) => grpcServer.tryShutdown(() => resolve())),
        ]);
        intake.close();
        store.close();
      })();
      return closing;
    },
  };
}
