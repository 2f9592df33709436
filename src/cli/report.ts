/** `n1-report` / `n1lens report`: reads saved trace files and prints the ranked report; the exit code is the CI budget. */
import { Command, Option } from 'commander';
import { OfflineAnalysis } from '../analyzer.js';
import { RollupSet } from '../detect/rollup.js';
import { readTraceFile } from '../otlp/file.js';
import { buildReport, budgetFindings, renderJson, renderMarkdown, renderTerminal, type ReportOptions } from '../report/index.js';
import { loadSchema, schemaNaming } from '../suggest/index.js';
import type { DetectOptions } from '../detect/request.js';
import { addDetectorOptions, endpointDetectOptions, requestDetectOptions, wholeNumber, type DetectorCliOptions } from './detector-options.js';
import { CliError, EXIT } from './errors.js';
import { addPullOptions, analysePull, checkPullFlags, type PullCliOptions } from './pull-options.js';

export interface ReportCliOptions extends DetectorCliOptions, PullCliOptions {
  format: 'terminal' | 'markdown' | 'json';
  maxFindings: number;
  endpoint?: string;
  schema?: string;
  color?: boolean;
}


/** Reads every file, streaming, and returns the rollups (see OfflineAnalysis for when a trace completes). */
export async function analyseFiles(
  files: string[],
  options: DetectOptions & { schemaPath?: string },
): Promise<{ rollups: RollupSet; reportOptions: Pick<ReportOptions, 'schema'>; lateSpans: number }> {
  const { schemaPath, ...detect } = options;
  const schema = schemaPath === undefined ? undefined : await loadSchema(schemaPath);
  const offline = new OfflineAnalysis({ ...detect, ...(schema === undefined ? {} : { links: schemaNaming(schema) }) });
  for (const file of files) {
    for await (const batch of readTraceFile(file)) offline.add(batch.spans);
  }
  const rollups = offline.finish();
  return { rollups, reportOptions: schema === undefined ? {} : { schema }, lateSpans: offline.analyzer.assembler.counters.lateSpans };
}

/** Runs the report command; returns the exit code. Output is written whole, so a failure never leaves partial JSON. */
export async function runReport(files: string[], opts: ReportCliOptions, program = 'n1-report'): Promise<number> {
  checkPullFlags(opts, files);
  if (files.length === 0 && opts.from === undefined) throw new CliError('no trace file given (use - for standard input, or --from a Jaeger/Tempo URL)', EXIT.usage);
  if (opts.from === undefined && (opts.service !== undefined || opts.since !== undefined)) {
    throw new CliError(`--${opts.service !== undefined ? 'service' : 'since'} applies to --from`);
  }
  const detect = { ...requestDetectOptions(opts), ...(opts.schema === undefined ? {} : { schemaPath: opts.schema }) };
  const { rollups, reportOptions } = opts.from === undefined ? await analyseFiles(files, detect) : await analysePull({ ...opts, from: opts.from }, detect, program);
  const report = buildReport(rollups.values(), {
    ...reportOptions,
    ...endpointDetectOptions(opts),
    ...(opts.endpoint === undefined ? {} : { endpoint: opts.endpoint }),
  });
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
    .argument('[files...]', 'OTLP JSON lines, JSON or (length-delimited) protobuf, Jaeger or Zipkin JSON; gzip detected; - for stdin')
    .addOption(new Option('-f, --format <format>', 'output format').choices(['terminal', 'markdown', 'json']).default('terminal'))
    .option('--max-findings <n>', 'N+1 and write-loop findings allowed before exit code 1', wholeNumber('--max-findings'), 0)
    .option('--endpoint <glob>', 'only endpoints matching this glob, e.g. "GET dashboard/*"')
    .option('--schema <file>', 'schema file from `manage.py n1lens_schema`, for exact names')
    .option('--no-color', 'plain text even on a terminal')
    .option('--since <duration>', 'with --from: how far back to pull, e.g. 90m, 24h, 7d (default 24h)');
  addPullOptions(command, { service: true });
  return addDetectorOptions(command)
    .action(async function (this: Command, files: string[]) {
      const o = this.opts<ReportCliOptions & { color: boolean }>();
      // commander sets color=true by default for --no-color; only an explicit flag should override detection.
      const color = this.getOptionValueSource('color') === 'cli' ? false : undefined;
      process.exitCode = await runReport(files, { ...o, ...(color === undefined ? { color: undefined } : { color }) }, name === 'report' ? 'n1lens report' : name);
    });
}
