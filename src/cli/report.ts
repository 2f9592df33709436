/** `n1-report` / `n1lens report`: reads saved trace files and prints the ranked report; the exit code is the CI budget. */
import { Command, Option } from 'commander';
import { OfflineAnalysis } from '../analyzer.js';
import { RollupSet } from '../detect/rollup.js';
import { readTraceFile } from '../otlp/file.js';
import { buildReport, budgetFindings, renderJson, renderMarkdown, renderTerminal, type ReportOptions } from '../report/index.js';
import { loadSchema, schemaNaming } from '../suggest/index.js';
import type { DetectOptions } from '../detect/request.js';
import { unseenViews } from '../detect/routes.js';
import { addDetectorOptions, endpointDetectOptions, requestDetectOptions, wholeNumber, type DetectorCliOptions } from './detector-options.js';
import { CliError, EXIT } from './errors.js';

export interface ReportCliOptions extends DetectorCliOptions {
  format: 'terminal' | 'markdown' | 'json';
  maxFindings: number;
  endpoint?: string;
  schema?: string;
  color?: boolean;
  listUnseen?: boolean;
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
export async function runReport(files: string[], opts: ReportCliOptions): Promise<number> {
  if (files.length === 0) throw new CliError('no trace file given (use - for standard input)', EXIT.usage);
  const { rollups, reportOptions } = await analyseFiles(files, {
    ...requestDetectOptions(opts),
    ...(opts.schema === undefined ? {} : { schemaPath: opts.schema }),
  });
  if (opts.listUnseen && reportOptions.schema?.urls === undefined) {
    throw new CliError('--list-unseen needs --schema with the URLconf (manage.py n1lens_schema from n1lens-django 0.2+)', EXIT.usage);
  }
  const deadViews = opts.listUnseen ? unseenViews(reportOptions.schema?.urls ?? [], rollups.values().map((r) => r.endpoint)) : [];
  const report = buildReport(rollups.values(), {
    ...reportOptions,
    ...endpointDetectOptions(opts),
    ...(opts.endpoint === undefined ? {} : { endpoint: opts.endpoint }),
    connections: rollups.connections.values(),
    deadViews,
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
    .argument('[files...]', 'OTLP JSON lines, JSON, or (length-delimited) protobuf; gzip detected; - for stdin')
    .addOption(new Option('-f, --format <format>', 'output format').choices(['terminal', 'markdown', 'json']).default('terminal'))
    .option('--max-findings <n>', 'N+1 and write-loop findings allowed before exit code 1', wholeNumber('--max-findings'), 0)
    .option('--endpoint <glob>', 'only endpoints matching this glob, e.g. "GET dashboard/*"')
    .option('--schema <file>', 'schema file from `manage.py n1lens_schema`, for exact names')
    .option('--list-unseen', "with --schema: list the app's routes no request in the files went to")
    .option('--no-color', 'plain text even on a terminal');
  return addDetectorOptions(command)
    .action(async function (this: Command, files: string[]) {
      const o = this.opts<ReportCliOptions & { color: boolean }>();
      // commander sets color=true by default for --no-color; only an explicit flag should override detection.
      const color = this.getOptionValueSource('color') === 'cli' ? false : undefined;
      process.exitCode = await runReport(files, { ...o, ...(color === undefined ? { color: undefined } : { color }) });
    });
}
