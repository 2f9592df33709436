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
import { checkTraceUrl } from './trace-url.js';
import { writeFile } from 'node:fs/promises';
import type { RequestAnalysis } from '../detect/types.js';
import { Store } from '../store/store.js';
import { renderReportFile } from '../ui/report-file.js';

export interface ReportCliOptions extends DetectorCliOptions {
  format: 'terminal' | 'markdown' | 'json' | 'html';
  /** Write the report here instead of standard output. */
  output?: string;
  /** html: links example traces, `https://jaeger…/trace/{traceId}`. */
  traceUrl?: string;
  maxFindings: number;
  endpoint?: string;
  schema?: string;
  color?: boolean;
}


/** Reads every file, streaming, and returns the rollups (see OfflineAnalysis for when a trace completes). */
export async function analyseFiles(
  files: string[],
  options: DetectOptions & { schemaPath?: string; onAnalysed?: (analyses: RequestAnalysis[]) => void },
): Promise<{ rollups: RollupSet; reportOptions: Pick<ReportOptions, 'schema'>; lateSpans: number }> {
  const { schemaPath, onAnalysed, ...detect } = options;
  const schema = schemaPath === undefined ? undefined : await loadSchema(schemaPath);
  const offline = new OfflineAnalysis({ ...detect, ...(schema === undefined ? {} : { links: schemaNaming(schema) }) }, onAnalysed);
  for (const file of files) {
    for await (const batch of readTraceFile(file)) offline.add(batch.spans);
  }
  const rollups = offline.finish();
  return { rollups, reportOptions: schema === undefined ? {} : { schema }, lateSpans: offline.analyzer.assembler.counters.lateSpans };
}

/** Runs the report command; returns the exit code. Output is written whole, so a failure never leaves partial JSON. */
export async function runReport(files: string[], opts: ReportCliOptions): Promise<number> {
  if (files.length === 0) throw new CliError('no trace file given (use - for standard input)', EXIT.usage);
  if (opts.traceUrl !== undefined) checkTraceUrl(opts.traceUrl);
  // The HTML report draws each finding's example request, so it keeps the analysed requests in a store.
  const store = opts.format === 'html' ? Store.open(':memory:') : undefined;
  try {
    const { rollups, reportOptions } = await analyseFiles(files, {
      ...requestDetectOptions(opts),
      ...(opts.schema === undefined ? {} : { schemaPath: opts.schema }),
      ...(store === undefined ? {} : { onAnalysed: (analyses: RequestAnalysis[]) => store.record(analyses) }),
    });
    const options = { ...reportOptions, ...endpointDetectOptions(opts) };
    const report = buildReport(rollups.values(), { ...options, ...(opts.endpoint === undefined ? {} : { endpoint: opts.endpoint }) });
    const text =
      store !== undefined
        ? renderReportFile(store, { report: options, ...(opts.endpoint === undefined ? {} : { endpoint: opts.endpoint }), ...(opts.traceUrl === undefined ? {} : { traceUrl: opts.traceUrl }) })
        : opts.format === 'json'
          ? renderJson(report)
          : opts.format === 'markdown'
            ? renderMarkdown(report)
            : renderTerminal(report, opts.color === undefined ? {} : { color: opts.color });
    if (opts.output === undefined) process.stdout.write(text);
    else {
      try {
        await writeFile(opts.output, text);
      } catch (e) {
        throw new CliError(`cannot write ${opts.output}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, EXIT.usage);
      }
    }
    return budgetFindings(report) > opts.maxFindings ? EXIT.overBudget : EXIT.ok;
  } finally {
    store?.close();
  }
}

/** The command definition, shared by `n1-report` and `n1lens report`. */
export function reportCommand(name = 'report'): Command {
  const command = new Command(name)
    .description('Find N+1 query cascades in saved OpenTelemetry trace files and print the fixes')
    .argument('[files...]', 'OTLP JSON lines, JSON, or (length-delimited) protobuf; gzip detected; - for stdin')
    .addOption(new Option('-f, --format <format>', 'output format (html: one self-contained page with every view)').choices(['terminal', 'markdown', 'json', 'html']).default('terminal'))
    .option('-o, --output <file>', 'write the report to this file instead of standard output')
    .option('--trace-url <template>', "html: link example traces, 'https://jaeger.example.com/trace/{traceId}'")
    .option('--max-findings <n>', 'N+1 and write-loop findings allowed before exit code 1', wholeNumber('--max-findings'), 0)
    .option('--endpoint <glob>', 'only endpoints matching this glob, e.g. "GET dashboard/*"')
    .option('--schema <file>', 'schema file from `manage.py n1lens_schema`, for exact names')
    .option('--no-color', 'plain text even on a terminal');
  return addDetectorOptions(command)
    .action(async function (this: Command, files: string[]) {
      const o = this.opts<ReportCliOptions & { color: boolean }>();
      // commander sets color=true by default for --no-color; only an explicit flag should override detection.
      const color = this.getOptionValueSource('color') === 'cli' ? false : undefined;
      process.exitCode = await runReport(files, { ...o, ...(color === undefined ? { color: undefined } : { color }) });
    });
}
