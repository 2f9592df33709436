/** Starts `n1lens serve`: store, intake, OTLP/HTTP + API and OTLP/gRPC on loopback by default; stops cleanly. */
import { createServer as createPlainServer, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { getRequestListener } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import type { EndpointDetectOptions } from '../detect/endpoint.js';
import type { DetectOptions } from '../detect/request.js';
import type { DjangoSchema } from '../suggest/schema.js';
import type { ConnectionDetectOptions } from '../detect/connections.js';
import { schemaNaming } from '../suggest/naming.js';
import { openStore } from '../store/open.js';
import type { Store } from '../store/store.js';
import { Spool } from '../spool/index.js';
import type { ResourceLimits } from 'node:worker_threads';
import { startGrpcServer, type GrpcServer } from './grpc.js';
import { createHttpApp } from './http.js';
import { Intake, type ExportIntake } from './intake.js';
import { ShardedIntake, SplitWarmUpIntake } from './shards.js';
import { spoolCopier } from './spool-compaction.js';
import { createOtlpHttpHandler, isTracesExport, type RequestHandler } from './otlp-http.js';
import { httpsOptions, readTls, type TlsFiles } from './tls.js';
import { isLoopbackHost, loopbackHostCheck, refuseForeignHost } from './loopback-host.js';
import { createMetrics, type ServerMetrics } from './metrics.js';
import { DEFAULT_WARM_UP, warmUp, type WarmUpPlan, type WarmUpResult } from './warm-up.js';

export interface ServeOptions {
  host: string;
  httpPort: number;
  grpcPort: number;
  /** A SQLite file, `:memory:`, or a `postgres://` URL (the store shared by several instances). */
  db: string;
  /** Hourly rows older than this are deleted, checked at start and every hour. Absent: kept for ever. */
  retentionMs?: number;
  traceWaitMs: number;
  /** A trace whose spans look whole is analysed once quiet this long (traces/assembler.ts). Default: traceWaitMs. */
  traceSettleMs?: number;
  maxTraces: number;
  /** Estimated bytes of buffered spans at which exports are refused (retryable). Default 256 MiB. */
  maxBufferBytes?: number;
  /** Measured memory (V8 heap in use + external buffers) at which exports are refused (retryable). Default: maxBufferBytes + 128 MiB. */
  memoryLimitBytes?: number;
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
  /** Bearer token both listeners require (all HTTP paths but /healthz). */
  authToken?: string;
  /**
   * On loopback without a token, Host names answered besides loopback ones (loopback-host.ts's
   * allowedHostName forms): a reverse proxy that passes its own Host.
   */
  allowHosts?: readonly string[];
  /** Serve both listeners over TLS (and require client certificates with clientCa). */
  tls?: TlsFiles;
  /** Durable intake (see spool/); absent: none. */
  spool?: { dir: string; maxBytes?: number; commitMs?: number };
  /** After a crash (the spool brought traces back), how long no trace is released (IntakeOptions.replayWaitMs). */
  replayWaitMs?: number;
  /** How long close() lets calls in flight finish before it cuts the connections. Default 5000. */
  drainMs?: number;
  /** A SQLite file's writes on a thread of their own (store/writer.ts), off the event loop that answers requests. Default false. */
  storeWriterThread?: boolean;
  /**
   * Run synthetic exports through throwaway copies of the hot path before the listeners open
   * (warm-up.ts), so the first burst of real exports meets compiled code. Default false; `n1lens serve` sets it.
   */
  warmUp?: boolean | WarmUpPlan;
  /**
   * Shard threads (`--workers`): each export is split by trace between this many threads, each with a
   * whole intake of its own (shards.ts). Default 1: the intake runs on this thread.
   */
  workers?: number;
  /** Each shard thread's heap. */
  workerResourceLimits?: ResourceLimits;
  /** A shard thread stopped while serving; the server cannot go on without its traces. Default: throw. */
  onWorkerFailure?: (message: string) => void;
}

export interface RunningServer {
  httpPort: number;
  grpcPort: number;
  store: Store;
  intake: ExportIntake;
  /** What the spool replayed at start. */
  replayed: { exports: number; spans: number; skipped: number };
  /** What the start-up warm-up ran, when it ran; why it stopped, when it failed (the server runs regardless). */
  warmedUp?: WarmUpResult;
  warmUpError?: string;
  /**
   * Stops intake, analyses everything buffered, commits, closes. Calls in flight get `drainMs` to
   * finish; then their connections are cut (a cut export was not acknowledged: the client resends it).
   */
  close(): Promise<void>;
}

/** A listener could not be bound; one line naming the address and why. */
export class StartupError extends Error {
  override name = 'StartupError';
}

/** host:port as a URL or a gRPC target writes it: an IPv6 address in brackets (`[::1]:4318`). */
export function hostPort(host: string, port: number): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
}

function listenFailure(what: string, host: string, port: number, e: unknown): StartupError {
  const err = e as NodeJS.ErrnoException;
  const text = `${err.code ?? ''} ${err.message ?? String(e)}`;
  const why = /EADDRINUSE|address already in use/i.test(text)
    ? 'the address is already in use (another n1lens or collector?)'
    : /EACCES|permission denied/i.test(text)
      ? 'permission denied (ports below 1024 need privileges)'
      : /EADDRNOTAVAIL|ENOTFOUND|EAI_AGAIN/i.test(text)
        ? 'no such local address'
        : (err.message ?? String(e)).split('\n')[0];
  return new StartupError(`cannot listen for ${what} on ${hostPort(host, port)}: ${why}`);
}

/** Idle keep-alive connections are kept this long: longer than the retry delays the intake asks for. */
const KEEP_ALIVE_MS = 120_000;
/**
 * How long a trace that keeps growing past the 30 s maximum age is kept for (AssemblerOptions): a long
 * Celery task's queries come before its run's span. As long as a commit keeps its awaited calls.
 */
const MAX_GROWING_TRACE_AGE_MS = 10 * 60_000;
/** How long such a task may go without a span, if it has run that long (a computation, a call out between queries); a killed one waits as long. */
const MAX_GROWING_TRACE_PAUSE_MS = 2 * 60_000;

export async function startServer(o: ServeOptions): Promise<RunningServer> {
  const tls = o.tls === undefined ? undefined : readTls(o.tls, (m) => new StartupError(m));
  const workers = o.workers ?? 1;
  if (workers > 1 && o.db === ':memory:') throw new StartupError('--workers needs a store file or a postgres:// URL: each shard thread writes to it over a connection of its own');
  // With shard threads, they write (each over its own connection, and writer thread if asked); this one reads.
  const store = await openStore(o.db, { writerThread: o.storeWriterThread === true && workers === 1 });
  let spool: Spool | undefined;
  try {
    spool = o.spool === undefined ? undefined : Spool.open(o.spool);
  } catch (e) {
    await store.close();
    throw e;
  }
  const metrics = createMetrics();
  // The analysis settings, shared with the warm-up's throwaway intake (not the admission limits: a
  // --max-traces 2 would refuse the warm-up's exports).
  const analysisBase = { traceWaitMs: o.traceWaitMs, ...(o.traceSettleMs === undefined ? {} : { traceSettleMs: o.traceSettleMs }), maxTraceAgeMs: 30_000, maxGrowingTraceAgeMs: MAX_GROWING_TRACE_AGE_MS, maxGrowingTracePauseMs: MAX_GROWING_TRACE_PAUSE_MS };
  const analysisSettings = { ...analysisBase, ...o.detect, ...(o.schema === undefined ? {} : { links: schemaNaming(o.schema) }) };
  const limits = {
    maxOpenTraces: o.maxTraces,
    ...(o.maxBufferBytes === undefined ? {} : { maxBufferBytes: o.maxBufferBytes }),
    ...(o.memoryLimitBytes === undefined ? {} : { memoryLimitBytes: o.memoryLimitBytes }),
    ...(o.replayWaitMs === undefined ? {} : { replayWaitMs: o.replayWaitMs }),
  };
  let intake: Intake | ShardedIntake;
  if (workers > 1) {
    try {
      intake = await ShardedIntake.start({
        shards: workers,
        db: o.db,
        storeWriterThread: o.storeWriterThread === true,
        analysis: { ...analysisBase, ...pickDefined(o.detect ?? {}, ['minRepeats', 'fanoutMinCalls', 'fanoutMinShare', 'ignoreSql']) },
        limits,
        ...(o.schema === undefined ? {} : { schema: o.schema }),
        ...(spool === undefined ? {} : { spool }),
        ...(o.warmUp === undefined || o.warmUp === false ? {} : { warmUp: o.warmUp === true ? DEFAULT_WARM_UP : o.warmUp }),
        metrics,
        ...(o.recordPath === undefined ? {} : { recordPath: o.recordPath }),
        ...(o.workerResourceLimits === undefined ? {} : { resourceLimits: o.workerResourceLimits }),
        onFailure:
          o.onWorkerFailure ??
          ((message) => {
            throw new Error(message);
          }),
      });
    } catch (e) {
      await spool?.close();
      await store.close();
      throw new StartupError(`cannot start the shard threads: ${(e as Error).message}`);
    }
  } else {
    intake = new Intake({
      ...analysisSettings,
      ...limits,
      ...(spool === undefined ? {} : { spool, copyApart: spoolCopier(spool) }),
      store,
      metrics,
      ...(o.recordPath === undefined ? {} : { recordPath: o.recordPath }),
    });
  }
  metrics.findings.set(await store.findingCount());
  const retention = o.retentionMs === undefined ? undefined : startRetention(store, o.retentionMs);
  const app = createHttpApp({
    intake,
    store,
    metrics,
    ...(intake instanceof ShardedIntake ? { metricsText: () => intake.metricsText() } : {}),
    ...(o.authToken === undefined ? {} : { authToken: o.authToken }),
    report: { ...o.report, ...(o.schema === undefined ? {} : { schema: o.schema }) },
    ...(o.deadAfterMs === undefined ? {} : { deadAfterMs: o.deadAfterMs }),
    ...(o.traceUrl === undefined ? {} : { traceUrl: o.traceUrl }),
  });

  // OTLP/HTTP exports are answered on node:http directly; every other path goes to the hono app.
  const hono = getRequestListener(app.fetch, { hostname: o.host });
  // On loopback without a token, only requests addressed to loopback (loopback-host.ts: DNS rebinding).
  const loopbackOnly = o.authToken === undefined && isLoopbackHost(o.host);
  const httpListener = (into: ExportIntake, counted: ServerMetrics): RequestHandler => {
    const otlp = createOtlpHttpHandler({ intake: into, metrics: counted, maxBodyBytes: o.maxBodyBytes, ...(o.authToken === undefined ? {} : { authToken: o.authToken }) });
    const addressedToLoopback = loopbackOnly ? loopbackHostCheck(o.allowHosts) : undefined;
    return (req, res) => {
      if (addressedToLoopback !== undefined && !addressedToLoopback(req.headers.host)) refuseForeignHost(req, res);
      else if (isTracesExport(req)) otlp(req, res);
      else void hono(req, res);
    };
  };
  const listener = httpListener(intake, metrics);
  const http: HttpServer = tls === undefined ? createPlainServer(listener) : createHttpsServer(httpsOptions(tls), listener);
  // An exporter's idle keep-alive connection must be closed by the exporter, not by us: a close from
  // this side can cross the exporter's next request on the wire, which then fails with ECONNRESET
  // instead of getting a status (Node's default is 5 s; Go's and the Collector's clients keep idle
  // connections 90 s, and a refused exporter waits several seconds before its retry).
  http.keepAliveTimeout = KEEP_ALIVE_MS;
  // Before the listeners open, so no client ever meets the cold code (a client that connects meanwhile
  // is refused and retries, as at any start); the real instances already exist, so V8 compiles the
  // closures they share with the throwaway ones for both. Its only request to the real app is /healthz.
  let warmedUp: WarmUpResult | undefined;
  let warmUpError: string | undefined;
  if (o.warmUp !== undefined && o.warmUp !== false) {
    try {
      warmedUp = await warmUp(
        {
          intake: analysisSettings,
          httpListener,
          grpc: { maxReceiveBytes: o.grpcMaxReceiveBytes, ...(o.authToken === undefined ? {} : { authToken: o.authToken }) },
          ...(o.authToken === undefined ? {} : { authToken: o.authToken }),
          spool: spool !== undefined,
          ...(workers > 1 ? { throwaway: (warmUpSpool: Spool | undefined) => new SplitWarmUpIntake(workers, warmUpSpool) } : {}),
        },
        o.warmUp === true ? DEFAULT_WARM_UP : o.warmUp,
      );
    } catch (e) {
      // Only speed is at stake: a warm-up that fails (a loopback port refused) leaves the server as it was.
      warmUpError = (e as Error).message.split('\n')[0];
    }
  }
  // Exports acknowledged by the last run and not yet committed, before anything new can arrive, and
  // after the warm-up: the replayed traces' wait for the rest of their spans starts as the listeners open.
  const replayed = await intake.replay();
  try {
    await new Promise<void>((resolve, reject) => {
      http.once('error', reject);
      http.listen(o.httpPort, o.host, () => {
        http.off('error', reject);
        resolve();
      });
    });
  } catch (e) {
    retention?.stop();
    await intake.close();
    await store.close();
    throw listenFailure('OTLP/HTTP', o.host, o.httpPort, e);
  }
  let grpcServer: GrpcServer;
  try {
    grpcServer = await startGrpcServer(
      {
        intake,
        metrics,
        maxReceiveBytes: o.grpcMaxReceiveBytes,
        ...(o.authToken === undefined ? {} : { authToken: o.authToken }),
        ...(tls === undefined ? {} : { tls }),
      },
      o.host,
      o.grpcPort,
    );
  } catch (e) {
    await new Promise<void>((resolve) => http.close(() => resolve()));
    retention?.stop();
    await intake.close();
    await store.close();
    throw listenFailure('OTLP/gRPC', o.host, o.grpcPort, e);
  }

  let closing: Promise<void> | undefined;
  return {
    httpPort: (http.address() as AddressInfo).port,
    grpcPort: grpcServer.port,
    store,
    intake,
    replayed,
    ...(warmedUp === undefined ? {} : { warmedUp }),
    ...(warmUpError === undefined ? {} : { warmUpError }),
    close() {
      closing ??= (async () => {
        // A graceful close alone can wait forever on a client that never ends its request.
        const drainMs = o.drainMs ?? 5000;
        await Promise.all([
          new Promise<void>((resolve) => {
            const cut = setTimeout(() => {
              http.closeAllConnections();
            }, drainMs);
            http.close(() => {
              clearTimeout(cut);
              resolve();
            });
          }),
          grpcServer.close(drainMs),
        ]);
        retention?.stop();
        await intake.close();
        await store.close();
      })();
      return closing;
    },
  };
}

/** Time-based retention: deletes hourly rows older than `retentionMs` now and every hour (failures wait for the next hour). */
function startRetention(store: Store, retentionMs: number): { stop(): void } {
  const prune = (): void => void store.pruneBefore(Date.now() - retentionMs).catch(() => undefined);
  prune();
  const timer = setInterval(prune, 3_600_000);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}

/** The keys of `value` among `keys` that are set: what crosses to a shard thread of the detector settings (no prepared filters or memos). */
function pickDefined<T extends object, K extends keyof T>(value: T, keys: readonly K[]): Pick<T, K> {
  const picked = {} as Pick<T, K>;
  for (const k of keys) if (value[k] !== undefined) picked[k] = value[k];
  return picked;
}
