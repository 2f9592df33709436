/** `n1lens digest`: the worst endpoints of trace files or of the store's last period, posted to a Slack incoming webhook (or printed with --dry-run). */
import { Command, InvalidArgumentError } from 'commander';
import {
  buildDigest,
  checkWebhookUrl,
  digestFromRollups,
  digestFromStore,
  parseDuration,
  sendDigest,
  SlackSendError,
  type DigestInput,
  type SendOptions,
} from '../digest/index.js';
import { DATABASE_URL_ENV, isMissingStore, openStore } from '../store/open.js';
import { loadSchema } from '../suggest/schema.js';
import { CliError, EXIT } from './errors.js';
import { checkTraceUrl } from './trace-url.js';
import { addDetectorOptions, endpointDetectOptions, requestDetectOptions, wholeNumber, type DetectorCliOptions } from './detector-options.js';
import { analyseFiles } from './report.js';
import { addPullOptions, analysePull, checkPullFlags, type PullCliOptions } from './pull-options.js';

export const WEBHOOK_ENV = 'N1LENS_SLACK_WEBHOOK_URL';

export interface DigestCliOptions extends DetectorCliOptions, Partial<PullCliOptions> {
  db?: string;
  /** Store window, `24h` when absent. */
  since?: string;
  webhookUrl?: string;
  /** Where the URL came from, for errors that must not quote it. */
  webhookUrlFrom?: string;
  top: number;
  schema?: string;
  service?: string;
  endpoint?: string;
  traceUrl?: string;
  dryRun?: boolean;
}

/** The command's edges, replaceable in tests. */
export interface DigestIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  nowMs?: number;
  send?: SendOptions;
}

const processIo: DigestIo = { stdout: (t) => process.stdout.write(t), stderr: (t) => process.stderr.write(t) };

const duration = (value: string): string => {
  try {
    parseDuration(value);
  } catch {
    // commander already quotes the value; say only what is accepted.
    throw new InvalidArgumentError('use a whole number and a unit, m, h, d or w: 90m, 24h, 7d, 1d12h');
  }
  return value;
};

async function gather(files: string[], opts: DigestCliOptions, nowMs: number | undefined): Promise<DigestInput> {
  const endpoint = opts.endpoint === undefined ? {} : { endpoint: opts.endpoint };
  const service = opts.service === undefined ? {} : { service: opts.service };
  if (opts.db === undefined) {
    const detect = { ...requestDetectOptions(opts), ...(opts.schema === undefined ? {} : { schemaPath: opts.schema }) };
    // A pull that finds no traces is a digest of an empty period ("No requests in this period"), not an error: a quiet day is news too.
    const { rollups, reportOptions, queriesOutsideRequests, source, query, pull } =
      opts.from === undefined
        ? { ...(await analyseFiles(files, detect)), source: files.join(', '), query: undefined, pull: undefined }
        : await analysePull({ ...opts, from: opts.from }, detect, 'n1lens digest', { allowEmpty: true });
    const input = digestFromRollups(rollups.values(), {
      ...reportOptions,
      queriesOutsideRequests,
      connections: rollups.connections.values(),
      ...endpointDetectOptions(opts),
      ...service,
      ...endpoint,
      source,
    });
    // A pull covers the window it searched (quiet minutes included), a rolling one read as "last 24h".
    if (query !== undefined) {
      const rolling = opts.start === undefined && opts.end === undefined;
      input.period = { ...input.period, sinceMs: query.startMs, untilMs: query.endMs, pulled: true, ...(rolling ? { window: opts.since ?? '24h' } : {}) };
    }
    return pull !== undefined && pull.failed > 0 ? { ...input, partial: { failed: pull.failed } } : input;
  }
  const schema = opts.schema === undefined ? undefined : await loadSchema(opts.schema);
  // Opening a mistyped path would create an empty store: it must fail, not post "no requests".
  if (isMissingStore(opts.db)) throw new CliError(`${opts.db}: no such store (the --db file n1lens serve writes)`);
  const store = await openStore(opts.db);
  try {
    return await digestFromStore(store, {
      windowMs: parseDuration(opts.since ?? '24h'),
      ...endpointDetectOptions(opts),
      ...service,
      ...endpoint,
      ...(schema === undefined ? {} : { schema }),
      ...(nowMs === undefined ? {} : { nowMs }),
    });
  } finally {
    await store.close();
  }
}

/** Runs the digest command; returns the exit code (1 when Slack refused or could not be reached). */
export async function runDigest(files: string[], opts: DigestCliOptions, io: DigestIo = processIo): Promise<number> {
  checkPullFlags(opts, files);
  if ((files.length > 0 || opts.from !== undefined) && opts.db !== undefined) throw new CliError(`give ${opts.from === undefined ? 'trace files' : '--from'} or --db, not both`);
  if (files.length === 0 && opts.db === undefined && opts.from === undefined) {
    throw new CliError('nothing to digest: give trace files (- for stdin), --db n1lens.db or --from a Jaeger/Tempo/Zipkin URL');
  }
  if (opts.since !== undefined && opts.db === undefined && opts.from === undefined) {
    throw new CliError('--since applies to --db or --from; trace files cover the period they recorded');
  }
  if (opts.traceUrl !== undefined) checkTraceUrl(opts.traceUrl);
  const from = opts.webhookUrlFrom ?? '--webhook-url';
  if (!opts.dryRun) {
    if (opts.webhookUrl === undefined || opts.webhookUrl === '') throw new CliError(`no Slack webhook URL: pass --webhook-url or set ${WEBHOOK_ENV} (or use --dry-run)`);
    try {
      checkWebhookUrl(opts.webhookUrl, from);
    } catch (e) {
      throw new CliError((e as Error).message);
    }
  }

  const input = await gather(files, opts, io.nowMs);
  const messages = buildDigest(input, { top: opts.top, ...(opts.traceUrl === undefined ? {} : { traceUrl: opts.traceUrl }) });
  if (opts.dryRun) {
    io.stdout(`${JSON.stringify(messages, null, 2)}\n`);
    return EXIT.ok;
  }
  try {
    const result = await sendDigest(opts.webhookUrl ?? '', messages, io.send);
    const shown = Math.min(opts.top, input.report.endpoints.filter((e) => e.findings.length > 0).length);
    io.stderr(`n1lens digest: posted ${result.messages} message${result.messages === 1 ? '' : 's'} to Slack (${shown} endpoint${shown === 1 ? '' : 's'})\n`);
    return EXIT.ok;
  } catch (e) {
    if (e instanceof SlackSendError) throw new CliError(e.message, 1);
    throw e;
  }
}

/** The `digest` subcommand. Cascade thresholds (--min-repeats, --fanout-*) apply to trace files; the store was analysed as it recorded. */
export function digestCommand(): Command {
  const command = new Command('digest')
    .description('Post the worst endpoints, ranked by wasted DB time, to a Slack incoming webhook')
    .argument('[files...]', 'trace files as for `n1lens report` (or use --db)')
    .option('--db <file|url>', `read the store \`n1lens serve\` writes (a SQLite file or a postgres:// URL; default: $${DATABASE_URL_ENV} when no trace file is given) instead of trace files`)
    .option('--since <duration>', 'store window (compared with the one before it) or --from window: 90m, 24h, 7d (default 24h)', duration)
    .option('--webhook-url <url>', `Slack incoming webhook URL (default: $${WEBHOOK_ENV})`)
    .option('--top <n>', 'endpoints listed, worst first', wholeNumber('--top'), 5)
    .option('--service <name>', 'only this service.name, named in the message')
    .option('--endpoint <glob>', 'only endpoints matching this glob, e.g. "GET dashboard/*"')
    .option('--schema <file>', 'schema file from `manage.py n1lens_schema`, for exact names')
    .option('--trace-url <template>', "link example traces: 'https://jaeger.example.com/trace/{traceId}'")
    .option('--dry-run', 'print the Slack payload JSON (an array, one element per message) and post nothing');
  addPullOptions(command, { service: false });
  return addDetectorOptions(command).action(async function (this: Command, files: string[]) {
    const o = this.opts<DigestCliOptions>();
    // The env var is read here, not with commander's .env(), so an error can say which of the two held a bad URL.
    const fromFlag = o.webhookUrl !== undefined;
    const webhookUrl = o.webhookUrl ?? process.env[WEBHOOK_ENV];
    const db = o.db ?? (files.length === 0 && o.from === undefined ? process.env[DATABASE_URL_ENV] || undefined : undefined);
    process.exitCode = await runDigest(files, {
      ...o,
      ...(db === undefined ? {} : { db }),
      ...(webhookUrl === undefined ? {} : { webhookUrl }),
      webhookUrlFrom: fromFlag ? '--webhook-url' : WEBHOOK_ENV,
    });
  });
}
