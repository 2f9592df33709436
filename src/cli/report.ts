/** `n1-report` / `n1lens report`: reads saved trace files and prints the ranked report; the exit code is the CI budget. */
import { Command, Option } from 'commander';
import { OfflineAnalysis } from '../analyzer.js';
import { RollupSet } from '../detect/rollup.js';
import { readTraceFile } from '../otlp/file.js';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { analyseFilesSharded } from '../parallel/files.js';
import { buildReport, budgetFindings, renderJson, renderMarkdown, renderTerminal, type Report, type ReportOptions } from '../report/index.js';
import { parseDuration } from '../report/period.js';
import { Store } from '../store/store.js';
import { loadSchema, schemaNaming } from '../suggest/index.js';
import type { DetectOptions } from '../detect/request.js';
import { unseenViews } from '../detect/routes.js';
import { addDetectorOptions, endpointDetectOptions, requestDetectOptions, wholeNumber, type DetectorCliOptions } from './detector-options.js';
import { CliError, EXIT } from './errors.js';
import { addPullOptions, analysePull, checkPullFlags, type PullCliOptions } from './pull-options.js';

export interface ReportCliOptions extends DetectorCliOptions, PullCliOptions {
  format: 'terminal' | 'markdown' | 'json';
  maxFindings: number;
  endpoint?: string;
  schema?: string;
  color?: boolean;
  listUnseen?: boolean;
  db?: string;
  since?: string;
  deadAfter?: string;
  /** Shards (worker threads + this one) for trace files; default the machine's cores. */
  jobs?: number;
}


/**
 * Reads every file, streaming, and returns the rollups (see OfflineAnalysis for when a trace
 * completes). With `jobs` above 1, traces are split across that many threads (parallel/files.ts),
 * with the same result.
 */
export async function analyseFiles(
  files: string[],
  options: DetectOptions & { schemaPath?: string; jobs?: number },
): Promise<{ rollups: RollupSet; reportOptions: Pick<ReportOptions, 'schema'>; lateSpans: number }> {
  const { schemaPath, jobs = 1, ...detect } = options;
  const schema = schemaPath === undefined ? undefined : await loadSchema(schemaPath);
  const withLinks = { ...detect, ...(schema === undefined ? {} : { links: schemaNaming(schema) }) };
  const reportOptions = schema === undefined ? {} : { schema };
  if (jobs > 1) {
    // N1LENS_JOBS_MIN_BYTES (tests, benchmarks) lowers the input size from which workers start.
    const minBytes = process.env.N1LENS_JOBS_MIN_BYTES === undefined ? undefined : Number(process.env.N1LENS_JOBS_MIN_BYTES);
    return { ...(await analyseFilesSharded(files, withLinks, schemaPath, jobs, minBytes)), reportOptions };
  }
  const offline = new OfflineAnalysis(withLinks);
  for (const file of files) {
    for await (const batch of readTraceFile(file)) offline.add(batch.spans);
  }
  const rollups = offline.finish();
  return { rollups, reportOptions, lateSpans: offline.analyzer.assembler.counters.lateSpans };
}

/**
 * Threads for trace files when --jobs is not given: the machine's cores from 4 up. Splitting costs
 * CPU (every shard walks every message, each thread has its own GC), and a single analysis
 * already keeps a second core busy with V8's concurrent GC: on 2 cores --jobs 2 was slower than
 * --jobs 1 (bench/README.md).
 */
function defaultJobs(): number {
  const cores = availableParallelism();
  return cores >= 4 ? cores : 1;
}

/** The report over the store `n1lens serve` writes: a period's endpoints and connections, and dead views over the whole history. */
async function storeReport(db: string, opts: ReportCliOptions): Promise<Report> {
  // Store.open would create an empty store: a mistyped path must fail, not report "no requests".
  if (!existsSync(db)) throw new CliError(`${db}: no such store (the --db file n1lens serve writes)`, EXIT.usage);
  const schema = opts.schema === undefined ? undefined : await loadSchema(opts.schema);
  if (opts.deadAfter !== undefined && schema?.urls === undefined) {
    throw new CliError('--dead-after needs --schema with the URLconf: re-run manage.py n1lens_schema, which now exports the URLconf', EXIT.usage);
  }
  const nowMs = Date.now();
  const store = Store.open(db);
  try {
    const sinceMs = opts.since === undefined ? undefined : nowMs - durationOption(opts.since, '--since');
    const deadViews = opts.deadAfter === undefined ? [] : store.deadViews(schema?.urls ?? [], durationOption(opts.deadAfter, '--dead-after'), nowMs);
    return store.report(sinceMs === undefined ? {} : { sinceMs }, {
      ...(schema === undefined ? {} : { schema }),
      ...endpointDetectOptions(opts),
      ...(opts.endpoint === undefined ? {} : { endpoint: opts.endpoint }),
      deadViews,
    });
  } finally {
    store.close();
  }
}

function durationOption(text: string, flag: string): number {
  try {
    return parseDuration(text);
  } catch (e) {
    throw new CliError(`${flag}: ${(e as Error).message}`, EXIT.usage);
  }
}

/** Runs the report command; returns the exit code. Output is written whole, so a failure never leaves partial JSON. */
export async function runReport(files: string[], opts: ReportCliOptions, program = 'n1-report'): Promise<number> {
  const sources = [files.length > 0, opts.from !== undefined, opts.db !== undefined].filter(Boolean).length;
  if (sources > 1) throw new CliError('give trace files, --from or --db: one source at a time', EXIT.usage);
  if (opts.db === undefined && opts.deadAfter !== undefined) {
    throw new CliError('--dead-after applies to --db: a trace file covers too little time to call a view dead (use --list-unseen)', EXIT.usage);
  }
  if (opts.db !== undefined) {
    if (opts.listUnseen) throw new CliError('--list-unseen is for trace files; with --db use --dead-after', EXIT.usage);
    return printReport(await storeReport(opts.db, opts), opts);
  }
  checkPullFlags(opts, files);
  if (files.length === 0 && opts.from === undefined) {
    throw new CliError('no trace file given (use - for standard input, --from a Jaeger/Tempo URL, or --db n1lens.db)', EXIT.usage);
  }
  if (opts.from === undefined && (opts.service !== undefined || opts.since !== undefined)) {
    throw new CliError(`--${opts.service !== undefined ? 'service' : 'since'} applies to --from or --db`, EXIT.usage);
  }
  const detect = { ...requestDetectOptions(opts), ...(opts.schema === undefined ? {} : { schemaPath: opts.schema }) };
  const jobs = opts.jobs ?? defaultJobs();
  const { rollups, reportOptions } = opts.from === undefined ? await analyseFiles(files, { ...detect, jobs }) : await analysePull({ ...opts, from: opts.from }, detect, program);
  if (opts.listUnseen && reportOptions.schema?.urls === undefined) {
    throw new CliError('--list-unseen needs --schema with the URLconf: re-run manage.py n1lens_schema, which now exports the URLconf', EXIT.usage);
  }
  const deadViews = opts.listUnseen ? unseenViews(reportOptions.schema?.urls ?? [], rollups.values().map((r) => r.endpoint)) : [];
  const report = buildReport(rollups.values(), {
    ...reportOptions,
    ...endpointDetectOptions(opts),
    ...(opts.endpoint === undefined ? {} : { endpoint: opts.endpoint }),
    connections: rollups.connections.values(),
    deadViews,
  });
  return printReport(report, opts);
}

function printReport(report: Report, opts: ReportCliOptions): number {
  const text =
    opts.format === 'json'
      ? renderJson(report)
      : opts.format === 'markdown'
        ? renderMarkdown(report)
        : renderTerminal(report, opts.color === undefined ? {} : { color: opts.color });
  process.stdout.write(text);
  return budgetFindings(report) > opts.maxFindings ? EXIT.overBudget : EXIT.ok;
}

/** The command definition, shared by `n1-report` and `n1lens report`. */
export function reportCommand(name = 'report'): Command {
  const command = new Command(name)
    .description('Find N+1 query cascades in saved OpenTelemetry trace files and print the fixes')
    .argument('[files...]', 'OTLP JSON lines, JSON or (length-delimited) protobuf, Jaeger or Zipkin JSON; gzip detected; - for stdin (or use --from, --db)')
    .addOption(new Option('-f, --format <format>', 'output format').choices(['terminal', 'markdown', 'json']).default('terminal'))
    .option('--max-findings <n>', 'N+1 and write-loop findings allowed before exit code 1', wholeNumber('--max-findings'), 0)
    .option('--endpoint <glob>', 'only endpoints matching this glob, e.g. "GET dashboard/*"')
    .option('--schema <file>', 'schema file from `manage.py n1lens_schema`, for exact names')
    .option('--list-unseen', "with --schema: list the app's routes no request in the files went to")
    .option('--db <file>', 'report on the store `n1lens serve` writes instead of trace files')
    .option('--since <duration>', 'with --from: how far back to pull (default 24h); with --db: only the last <duration>, e.g. 90m, 24h, 7d (default all of it)')
    .option('--dead-after <duration>', 'with --db and --schema: list views with no request for <duration> (e.g. 90d), and cron-only ones')
    .option('--jobs <n>', 'threads for trace files, traces split between them (default: the machine\'s cores from 4 up, else 1)', wholeNumber('--jobs', 1))
    .option('--no-color', 'plain text even on a terminal');
  addPullOptions(command, { service: true });
  return addDetectorOptions(command)
    .action(async function (this: Command, files: string[]) {
      const o = this.opts<ReportCliOptions & { color: boolean }>();
      // commander sets color=true by default for --no-color; only an explicit flag should override detection.
      const color = this.getOptionValueSource('color') === 'cli' ? false : undefined;
      process.exitCode = await runReport(files, { ...o, ...(color === undefined ? { color: undefined } : { color }) }, name === 'report' ? 'n1lens report' : name);
    });
}
