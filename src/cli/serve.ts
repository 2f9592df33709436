/** `n1lens serve`: the live collector. Parses flags, starts the server, and stops it cleanly on SIGTERM/SIGINT. */
import { Command, InvalidArgumentError } from 'commander';
import { buildDigest, checkDigestSchedule, checkWebhookUrl, digestFromStore, periodWindow, sendDigest, startDigestSchedule, storeDigestMarks } from '../digest/index.js';
import { parseDuration } from '../report/period.js';
import { hostPort, startServer, type ServeOptions } from '../server/serve.js';
import { allowedHostName, isLoopbackHost } from '../server/loopback-host.js';
import { CliError } from './errors.js';
import { WEBHOOK_ENV } from './digest.js';
import { checkTraceUrl } from './trace-url.js';
import { loadSchema, type DjangoSchema } from '../suggest/schema.js';
import { addDetectorOptions, endpointDetectOptions, milliseconds, portNumber, repeatable, requestDetectOptions, wholeNumber, type DetectorCliOptions } from './detector-options.js';
import { onShutdown } from './lifecycle.js';
import { DEFAULT_MAX_BUFFER_MIB, nodeFlags, serveHeapLimits, serveOnThread } from './serve-thread.js';
import { isMainThread } from 'node:worker_threads';
import { DATABASE_URL_ENV } from '../store/open.js';
import { isPostgresUrl, redactUrl, type Store } from '../store/store.js';

/**
 * How long a trace whose spans look whole still waits, for an export overtaken in transit: behind a
 * Collector's parallel senders the latest such span came 244 ms late in bench/reorder.mjs's runs.
 */
const DEFAULT_TRACE_SETTLE_MS = 500;

/**
 * How long a trace that does not look whole waits: past the SDKs' 5 s BatchSpanProcessor delay, so
 * the spans of a service it called (or of the caller, when the callee's came first) still join it.
 * At 2 s, 164 of 306 two-service traces lost one side at 50 requests/s (bench/reorder.mjs); at 5 s, none.
 */
const DEFAULT_TRACE_WAIT_MS = 6000;

/** The flags: ServeOptions' plain settings as given, sizes in MiB, file paths, and the digest schedule. */
interface ServeCliOptions extends DetectorCliOptions, Pick<ServeOptions, 'host' | 'httpPort' | 'grpcPort' | 'traceWaitMs' | 'traceSettleMs' | 'maxTraces'> {
  db?: string;
  retention?: string;
  maxBodyMib: number;
  maxBufferMib: number;
  memoryLimitMib?: number;
  /** A directory, or false for --no-spool. */
  spool?: string | false;
  storeWriterThread?: boolean;
  workers: number;
  /** false for --no-warm-up. */
  warmUp: boolean;
  spoolMaxMib: number;
  authToken?: string;
  allowHost?: string[];
  tlsCert?: string;
  tlsKey?: string;
  tlsClientCa?: string;
  insecurePublic?: boolean;
  spoolCommitMs: number;
  spoolReplayWaitMs: number;
  grpcMaxReceiveMib: number;
  schema?: string;
  record?: string;
  digestEvery?: string;
  digestCron?: string;
  digestSince?: string;
  webhookUrl?: string;
  traceUrl?: string;
  service?: string;
  top: number;
  deadAfter?: string;
}

const MIB = 1024 * 1024;

/**
 * The longest group commit window: every acknowledgement can wait that long, and past a second it
 * only slows exports down (the SDKs' and the Collector's export timeout is 5-10 s).
 */
const MAX_SPOOL_COMMIT_MS = 1000;

/**
 * The fewest open traces --max-traces may allow: an OpenTelemetry SDK export holds up to 512 spans
 * (OTEL_BSP_MAX_EXPORT_BATCH_SIZE), so it may open as many traces, and an export that opens more than
 * the limit into an empty buffer is refused on every retry (0 refuses every new trace).
 */
export const MIN_MAX_TRACES = 512;

export function serveCommand(): Command {
  const command = new Command('serve')
    .description('Receive OTLP traces (HTTP :4318, gRPC :4317), find N+1 cascades live, keep them in SQLite (or a PostgreSQL shared by several instances)')
    .option('--host <addr>', 'address to listen on (0.0.0.0 exposes it to the network)', '127.0.0.1')
    .option('--http-port <port>', 'OTLP/HTTP, API and /metrics port', portNumber('--http-port'), 4318)
    .option('--grpc-port <port>', 'OTLP/gRPC port', portNumber('--grpc-port'), 4317)
    .option('--db <file|url>', `store: a SQLite file, or postgres://user:pass@host/db shared by several instances (default: $${DATABASE_URL_ENV}, else ./n1lens.db)`)
    .option('--retention <duration>', 'delete hourly rollups older than this, e.g. 30d (default: keep everything)')
    .option('--trace-wait-ms <ms>', 'analyse a trace that does not look whole once it has a request span and was quiet this long', milliseconds('--trace-wait-ms'), DEFAULT_TRACE_WAIT_MS)
    .option('--trace-settle-ms <ms>', 'analyse sooner, once quiet this long, a trace whose spans look whole (root, every parent, every call answered; at most --trace-wait-ms)', milliseconds('--trace-settle-ms'), DEFAULT_TRACE_SETTLE_MS)
    .option('--max-traces <n>', 'open traces at which exports that only open new traces are refused (503/UNAVAILABLE, retryable)', wholeNumber('--max-traces', MIN_MAX_TRACES), 50_000)
    .option('--max-buffer-mib <n>', 'estimated memory of buffered spans at which every export is refused (retryable)', wholeNumber('--max-buffer-mib', 1), DEFAULT_MAX_BUFFER_MIB)
    .option('--memory-limit-mib <n>', 'measured memory (V8 heap in use + request bodies and other buffers) at which exports are refused (retryable; default: --max-buffer-mib + 128)', wholeNumber('--memory-limit-mib', 1))
    .option('--auth-token <token>', `bearer token required on OTLP/HTTP, OTLP/gRPC, the API, the UI and /metrics (default: $${AUTH_TOKEN_ENV}); /healthz stays open`)
    .option('--allow-host <name>', 'on loopback without --auth-token, also answer requests addressed to this name (a reverse proxy that passes its own Host; .example.com: it and every name under it); repeatable', repeatable(allowedHostFlag), undefined)
    .option('--tls-cert <file>', 'PEM certificate (chain): serve both listeners over TLS')
    .option('--tls-key <file>', 'PEM private key for --tls-cert')
    .option('--tls-client-ca <file>', 'PEM CA bundle: require client certificates signed by it (mTLS)')
    .option('--insecure-public', 'allow a non-loopback --host without --auth-token (anyone who can reach it may send and read)')
    .option('--spool <dir>', 'durable intake: exports are on disk here before they are acknowledged (default: <db>.spool next to the store)')
    .option('--store-writer-thread', 'write a SQLite store from a thread of its own: its transactions never hold up exports or /healthz, for ~20-25 MiB more memory')
    .option('--workers <n>', 'threads that decode and analyse, each export split by trace between them, each with its own store connection (needs a store file or postgres://)', wholeNumber('--workers', 1), 1)
    .option('--no-warm-up', 'open the listeners without first running synthetic exports through the hot path (starts ~0.5 s sooner; the first burst of exports then meets cold code)')
    .option('--no-spool', 'acknowledge exports from memory only (a crash loses what is buffered)')
    .option('--spool-max-mib <n>', 'spool size at which exports are refused (retryable)', wholeNumber('--spool-max-mib', 1), 1024)
    .option('--spool-replay-wait-ms <ms>', "after a crash (the spool brought traces back), analyse no trace for this long: the senders resend what the crash cut off only when their retry backoff ends (the Collector's default max_interval is 30 s)", milliseconds('--spool-replay-wait-ms'), 30_000)
    .option('--spool-commit-ms <ms>', 'group commit window: an export reaching an idle spool waits this long for others to share its write (those arriving during a write start the next one at once, or share it while two are on disk)', milliseconds('--spool-commit-ms', MAX_SPOOL_COMMIT_MS), 0)
    .option('--max-body-mib <n>', 'OTLP/HTTP body limit after decompression', wholeNumber('--max-body-mib', 1), 20)
    .option('--grpc-max-receive-mib <n>', 'OTLP/gRPC message limit', wholeNumber('--grpc-max-receive-mib', 1), 4)
    .option('--schema <file>', 'schema file from `manage.py n1lens_schema`, for exact names')
    .option('--record <file>', 'append every accepted export as OTLP/JSON lines (replayable with n1-report)')
    .option('--dead-after <duration>', 'with --schema: list views with no request for <duration> (e.g. 90d) on the page and in /api/report')
    .option('--digest-every <duration>', 'post the Slack digest every <duration>, e.g. 24h, each covering the time since the last (restarts keep the countdown)')
    .option('--digest-cron <expr>', 'post the Slack digest on a cron schedule, e.g. "0 9 * * 1-5", each covering the time since the last')
    .option('--digest-since <duration>', 'with --digest-cron: a fixed window for every digest instead (e.g. 24h)')
    .option('--webhook-url <url>', `Slack incoming webhook for the digest (default: $${WEBHOOK_ENV})`)
    .option('--trace-url <template>', "link example traces in the web UI and the digest: 'https://jaeger.example.com/trace/{traceId}'")
    .option('--service <name>', 'digest only this service.name')
    .option('--top <n>', 'endpoints in the digest', wholeNumber('--top'), 5);
  return addDetectorOptions(command).action(async function (this: Command) {
      const o = this.opts<ServeCliOptions>();
      if (isMainThread && process.env[SERVE_THREAD_ENV] !== '0') {
        // The server runs on a thread of its own, with a heap sized for intake (serve-thread.ts); it
        // checks the flags again there and prints its own errors.
        process.exitCode = await serveOnThread(process.argv.slice(2), { maxBufferMib: o.maxBufferMib, workers: o.workers });
        return;
      }
      if (o.traceUrl !== undefined) checkTraceUrl(o.traceUrl);
      const digestPlan = planDigest(o);
      const security = planSecurity(o);
      const schema = o.schema === undefined ? undefined : await loadSchema(o.schema);
      const deadAfterMs = planDeadViews(o.deadAfter, schema);
      const db = o.db ?? (process.env[DATABASE_URL_ENV] || './n1lens.db');
      const retentionMs = planRetention(o.retention);
      const server = await startServer({
        host: o.host,
        httpPort: o.httpPort,
        grpcPort: o.grpcPort,
        db,
        ...(retentionMs === undefined ? {} : { retentionMs }),
        traceWaitMs: o.traceWaitMs,
        traceSettleMs: o.traceSettleMs,
        maxTraces: o.maxTraces,
        maxBufferBytes: o.maxBufferMib * MIB,
        ...(o.memoryLimitMib === undefined ? {} : { memoryLimitBytes: o.memoryLimitMib * MIB }),
        maxBodyBytes: o.maxBodyMib * MIB,
        grpcMaxReceiveBytes: o.grpcMaxReceiveMib * MIB,
        detect: requestDetectOptions(o),
        report: endpointDetectOptions(o),
        ...(schema === undefined ? {} : { schema }),
        ...(o.record === undefined ? {} : { recordPath: o.record }),
        ...(deadAfterMs === undefined ? {} : { deadAfterMs }),
        ...(o.traceUrl === undefined ? {} : { traceUrl: o.traceUrl }),
        ...spoolOption(o, db),
        ...security,
        storeWriterThread: o.storeWriterThread === true,
        warmUp: o.warmUp,
        workers: o.workers,
        workerResourceLimits: serveHeapLimits(Math.ceil(o.maxBufferMib / o.workers), nodeFlags()),
        onWorkerFailure: (message) => {
          process.stderr.write(`n1lens serve: ${message}; acknowledged exports are in the spool and are replayed at the next start\n`);
          process.exit(1);
        },
      });
      if (server.warmUpError !== undefined) process.stderr.write(`n1lens serve: start-up warm-up skipped (${server.warmUpError}); the first exports meet cold code\n`);
      const r = server.replayed;
      if (r.exports > 0) process.stderr.write(`n1lens serve: replayed ${r.spans} spans from ${r.exports} spooled exports (${r.skipped} already analysed)\n`);
      const scheme = security.tls === undefined ? 'http' : 'https';
      const http = hostPort(o.host, server.httpPort);
      process.stderr.write(
        `n1lens serve: OTLP/HTTP ${scheme}://${http}/v1/traces · OTLP/gRPC ${hostPort(o.host, server.grpcPort)}${security.tls === undefined ? '' : ' (TLS)'} · ` +
          `web UI ${scheme}://${http}/ · db ${isPostgresUrl(db) ? redactUrl(db) : db}${security.authToken === undefined ? '' : ' · bearer token required'}\n`,
      );
      const digest = digestPlan === undefined ? undefined : scheduleDigest(digestPlan, o, server.store, schema, retentionMs);
      await new Promise<void>((resolve) => {
        onShutdown((why) => {
          process.stderr.write(`n1lens serve: ${why}: analysing buffered traces and closing\n`);
          digest?.stop();
          void server.close().then(resolve);
        });
      });
    });
}

/** --dead-after's window, checked before anything starts: it needs a schema with the URLconf. */
function planDeadViews(deadAfter: string | undefined, schema: DjangoSchema | undefined): number | undefined {
  if (deadAfter === undefined) return undefined;
  if (schema?.urls === undefined) throw new CliError('--dead-after needs --schema with the URLconf: re-run manage.py n1lens_schema, which now exports it');
  try {
    return parseDuration(deadAfter);
  } catch (e) {
    throw new CliError(`--dead-after: ${(e as Error).message}`);
  }
}

export const AUTH_TOKEN_ENV = 'N1LENS_AUTH_TOKEN';

/** An --allow-host name, checked as it is given. */
function allowedHostFlag(value: string): string {
  try {
    return allowedHostName(value);
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
}
/** `N1LENS_SERVE_THREAD=0` runs the server on the main thread with the process's own heap (e.g. for --cpu-prof of older Node versions). */
export const SERVE_THREAD_ENV = 'N1LENS_SERVE_THREAD';

/** Token and TLS from flags and environment, refusing a listener open to the network without a token. */
function planSecurity(o: ServeCliOptions): Pick<ServeOptions, 'authToken' | 'tls' | 'allowHosts'> {
  const token = authToken(o);
  if (!isLoopbackHost(o.host) && token === undefined && o.insecurePublic !== true) {
    throw new CliError(`--host ${o.host} is reachable from the network: set --auth-token (or ${AUTH_TOKEN_ENV}), or pass --insecure-public to accept anyone`);
  }
  if ((o.tlsCert === undefined) !== (o.tlsKey === undefined)) throw new CliError('--tls-cert and --tls-key go together');
  if (o.tlsClientCa !== undefined && o.tlsCert === undefined) throw new CliError('--tls-client-ca needs --tls-cert and --tls-key');
  if (o.allowHost !== undefined && (token !== undefined || !isLoopbackHost(o.host))) {
    throw new CliError(`--allow-host has no effect ${token === undefined ? `on --host ${o.host}` : 'with a token'}: only a loopback listener without a token checks the Host it is addressed to`);
  }
  return {
    ...(token === undefined ? {} : { authToken: token }),
    ...(o.allowHost === undefined ? {} : { allowHosts: o.allowHost }),
    ...(o.tlsCert === undefined || o.tlsKey === undefined
      ? {}
      : { tls: { cert: o.tlsCert, key: o.tlsKey, ...(o.tlsClientCa === undefined ? {} : { clientCa: o.tlsClientCa }) } }),
  };
}

/**
 * --auth-token, else $N1LENS_AUTH_TOKEN, without the whitespace around it: a token that came from a
 * file (a Kubernetes secret made with --from-file, `echo s3cret > token`) ends in a newline, which no
 * Authorization header can carry, so every client would be refused.
 */
function authToken(o: ServeCliOptions): string | undefined {
  const given = o.authToken ?? process.env[AUTH_TOKEN_ENV];
  if (given === undefined) return undefined;
  const from = o.authToken === undefined ? AUTH_TOKEN_ENV : '--auth-token';
  const token = given.trim();
  if (token === '') throw new CliError(`${from} is empty`);
  // Spaces or control characters inside cannot reach the server in a header (nor printable non-ASCII, reliably).
  if (!/^[\x21-\x7e]+$/.test(token)) throw new CliError(`${from} must be one word of printable ASCII: a bearer token has no spaces, line breaks or control characters inside it`);
  return token;
}

/** The spool next to the store unless told otherwise; none for an in-memory store. */
function spoolOption(o: ServeCliOptions, db: string): Pick<ServeOptions, 'spool' | 'replayWaitMs'> {
  if (o.spool === false || (o.spool === undefined && db === ':memory:')) return {};
  if (o.spool === undefined && isPostgresUrl(db)) {
    throw new CliError('with a PostgreSQL store, give each instance its own --spool <dir> on local disk (or --no-spool)');
  }
  return { spool: { dir: o.spool ?? `${db}.spool`, maxBytes: o.spoolMaxMib * MIB, commitMs: o.spoolCommitMs }, replayWaitMs: o.spoolReplayWaitMs };
}

/** --retention as milliseconds; at least two hours, so the current and the last hour are never pruned. */
function planRetention(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  let ms: number;
  try {
    ms = parseDuration(text);
  } catch (e) {
    throw new CliError(`--retention: ${(e as Error).message}`);
  }
  if (ms < 2 * 3_600_000) throw new CliError('--retention: keep at least 2h (rollups are hourly)');
  return ms;
}

interface DigestPlan {
  url: string;
  /** --digest-since: every digest's fixed window; absent, each covers the time since the last. */
  windowMs?: number;
}

/** Checks the digest flags before anything starts, so a bad webhook URL fails at once (without echoing it). */
function planDigest(o: ServeCliOptions): DigestPlan | undefined {
  if (o.digestSince !== undefined && o.digestCron === undefined) {
    // It would change nothing: refused rather than ignored.
    throw new CliError(
      o.digestEvery === undefined ? '--digest-since needs --digest-cron (it is the window of a scheduled digest)' : '--digest-since applies to --digest-cron; each --digest-every digest covers the time since the last',
    );
  }
  if (o.digestEvery === undefined && o.digestCron === undefined) return undefined;
  if (o.digestEvery !== undefined && o.digestCron !== undefined) throw new CliError('give --digest-every or --digest-cron, not both');
  try {
    checkDigestSchedule({ ...(o.digestEvery === undefined ? {} : { every: o.digestEvery }), ...(o.digestCron === undefined ? {} : { cron: o.digestCron }) });
  } catch (e) {
    throw new CliError(`${o.digestEvery === undefined ? '--digest-cron' : '--digest-every'}: ${(e as Error).message}`);
  }
  const from = o.webhookUrl !== undefined ? '--webhook-url' : WEBHOOK_ENV;
  const url = o.webhookUrl ?? process.env[WEBHOOK_ENV];
  if (url === undefined || url === '') throw new CliError(`--digest-every/--digest-cron need a webhook: pass --webhook-url or set ${WEBHOOK_ENV}`);
  try {
    checkWebhookUrl(url, from);
  } catch (e) {
    throw new CliError((e as Error).message);
  }
  try {
    return { url, ...(o.digestSince === undefined ? {} : { windowMs: parseDuration(o.digestSince) }) };
  } catch (e) {
    throw new CliError(`--digest-since: ${(e as Error).message}`);
  }
}

/**
 * Posts the digest from the live store on the schedule asked for, each period claimed in the store
 * (so of instances sharing it one posts); failures are logged without the webhook URL.
 */
function scheduleDigest(plan: DigestPlan, o: ServeCliOptions, store: Store, schema: DjangoSchema | undefined, retentionMs: number | undefined) {
  return startDigestSchedule({
    ...(o.digestEvery === undefined ? {} : { every: o.digestEvery }),
    ...(o.digestCron === undefined ? {} : { cron: o.digestCron }),
    ...(plan.windowMs === undefined ? {} : { windowMs: plan.windowMs }),
    // Rows older than the retention are gone: a digest after a long outage reaches back no further.
    ...(retentionMs === undefined ? {} : { maxWindowMs: retentionMs }),
    marks: storeDigestMarks(store, o.service),
    post: async (period) => {
      const input = await digestFromStore(store, {
        ...periodWindow(period),
        ...endpointDetectOptions(o),
        ...(schema === undefined ? {} : { schema }),
        ...(o.service === undefined ? {} : { service: o.service }),
      });
      const messages = buildDigest(input, { top: o.top, ...(o.traceUrl === undefined ? {} : { traceUrl: o.traceUrl }) });
      const result = await sendDigest(plan.url, messages);
      process.stderr.write(`n1lens serve: digest posted (${result.messages} message${result.messages === 1 ? '' : 's'})\n`);
    },
    onError: (e) => process.stderr.write(`n1lens serve: digest failed: ${e instanceof Error ? e.message : String(e)}\n`),
  });
}
