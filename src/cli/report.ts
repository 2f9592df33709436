/** `n1-report` / `n1lens report`: reads saved trace files and prints the ranked report; the exit code is the CI budget. */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { OfflineAnalysis } from '../analyzer.js';
import { RollupSet } from '../detect/rollup.js';
import { createUnitDecoders, readTraceUnits } from '../otlp/file.js';
import { availableParallelism } from 'node:os';
import { analyseFilesSharded, worthSharding } from '../parallel/files.js';
import {
  baselineFromReport,
  belowMinWasted,
  buildReport,
  compactScope,
  isoDay,
  judge,
  lookedAt,
  parseBaseline,
  renderBaseline,
  renderGateTerminal,
  renderGithubCommands,
  renderGithubSummary,
  renderJson,
  renderJunit,
  renderMarkdown,
  renderSarif,
  renderTerminal,
  type Baseline,
  type BaselineScope,
  type EndpointBudget,
  type GateResult,
  type Report,
  type ReportOptions,
} from '../report/index.js';
import { loadSchema, schemaNaming } from '../suggest/index.js';
import { TEST_SUITE_MIN_REPEATS, type DetectOptions } from '../detect/request.js';
import { unseenViews } from '../detect/routes.js';
import { parseDuration } from '../report/period.js';
// The stores and the HTML page are loaded when a run needs them: loading them (better-sqlite3, pg, the UI) was
// ~0.2 s of every n1-report's start-up.
import type { SqliteStore } from '../store/sqlite.js';
import type { Store } from '../store/store.js';
import { applyConfig, CAPTURE_KEYS, loadConfig, type ConfigFile } from './config.js';
import { addDetectorOptions, endpointDetectOptions, requestDetectOptions, nonNegativeNumber, repeatable, wholeNumber, type DetectorCliOptions } from './detector-options.js';
import { CliError, EXIT } from './errors.js';
import { checkWritable, fileError, writeOutputFiles, type OutputFile } from './output-files.js';
import type { RequestAnalysis } from '../detect/types.js';
import type { RefusedSpans } from '../otlp/span.js';
import { checkTraceUrl } from './trace-url.js';
import { gitTopLevel } from './repo-root.js';
import { addPullOptions, analysePull, checkPullFlags, partialPullWarning, type PullCliOptions } from './pull-options.js';

export const FORMATS = ['terminal', 'markdown', 'json', 'sarif', 'github', 'junit', 'html'] as const;
export type FormatName = (typeof FORMATS)[number];

/** One output: a format, to standard output or to a file. */
export interface FormatSpec {
  format: FormatName;
  file?: string;
}

export interface ReportCliOptions extends DetectorCliOptions, PullCliOptions {
  format?: FormatSpec[];
  /** html: links example traces, `https://jaeger…/trace/{traceId}`. */
  traceUrl?: string;
  maxFindings: number;
  minWastedMs?: number;
  endpoint?: string;
  ignoreEndpoint?: string[];
  ignoreTable?: string[];
  schema?: string;
  baseline?: string;
  writeBaseline?: string;
  color?: boolean;
  /** Per-endpoint budgets (config file only). */
  endpoints?: EndpointBudget[];
  /** Today, for baseline expiry; injectable for tests. */
  today?: string;
  listUnseen?: boolean;
  db?: string;
  since?: string;
  deadAfter?: string;
  /** Worker threads for trace files, one shard of the traces each; see defaultJobs. */
  jobs?: number;
  /** --from: let the gate judge a pull that left failed traces out (else such a pull that passes exits 2). */
  allowPartial?: boolean;
  /** sarif, github: the repository root paths are given from; default the git top level above baseDir, else above the working directory, else baseDir. */
  repoRoot?: string;
  /** sarif, github: what the traces' relative paths are relative to (Django's BASE_DIR); default the working directory. */
  baseDir?: string;
  /** --test-suite: the tests the run selected when not the whole suite (pytest's arguments). */
  testSelection?: string;
}

/**
 * Where SARIF and GitHub annotations take paths from: the traces name files relative to Django's
 * BASE_DIR (--base-dir), code scanning and annotations from the repository root (--repo-root). The
 * root defaults to the git top level above BASE_DIR, else above the working directory, else BASE_DIR
 * itself: outside any repository, a run from a folder below BASE_DIR (`cd tests && pytest --n1lens`)
 * would otherwise find every file above its "root" and leave it out.
 */
function repoPaths(opts: Pick<ReportCliOptions, 'repoRoot' | 'baseDir'>): { root: string; base: string } {
  const cwd = process.cwd();
  const base = resolve(opts.baseDir ?? cwd);
  return { root: resolve(opts.repoRoot ?? gitTopLevel(base) ?? gitTopLevel(cwd) ?? base), base };
}

/** Parses `sarif` or `sarif=out.sarif`. */
export function parseFormat(value: string): FormatSpec {
  const eq = value.indexOf('=');
  const name = eq < 0 ? value : value.slice(0, eq);
  if (!(FORMATS as readonly string[]).includes(name)) {
    throw new InvalidArgumentError(`use one of ${FORMATS.join(', ')}, optionally =FILE (e.g. sarif=n1lens.sarif)`);
  }
  const file = eq < 0 ? undefined : value.slice(eq + 1);
  if (file === '') throw new InvalidArgumentError(`${name}= needs a file name`);
  return { format: name as FormatName, ...(file === undefined ? {} : { file }) };
}

/**
 * Reads every file, streaming, and returns the rollups (see OfflineAnalysis for when a trace
 * completes). With `jobs` above 1, traces are split across that many threads (parallel/files.ts),
 * with the same result.
 */
export async function analyseFiles(
  files: string[],
  options: DetectOptions & { schemaPath?: string; jobs?: number; onAnalysed?: (analyses: RequestAnalysis[]) => void },
): Promise<{ rollups: RollupSet; reportOptions: Pick<ReportOptions, 'schema'>; lateSpans: number; evictedTraces: number; refused: RefusedSpans; queriesOutsideRequests: number }> {
  // Named again, standard input would read as an empty file ("stdin: empty file"), which says nothing of why.
  if (files.filter((file) => file === '-').length > 1) throw new CliError('- (standard input) is given more than once; it can be read only once', EXIT.usage);
  const { schemaPath, jobs = 1, onAnalysed, ...detect } = options;
  const schema = schemaPath === undefined ? undefined : await loadSchema(schemaPath);
  const withLinks = { ...detect, ...(schema === undefined ? {} : { links: schemaNaming(schema) }) };
  const reportOptions = schema === undefined ? {} : { schema };
  // Workers hand over what the rollups read, not each request's timeline: onAnalysed (the HTML report) stays on one thread.
  // N1LENS_JOBS_MIN_BYTES (tests, benchmarks) lowers the input size from which workers start;
  // N1LENS_JOBS_RANGE_BYTES (tests) the byte ranges JSON lines are read in by one thread each;
  // N1LENS_OPEN_BYTES (tests) the memory of open traces past which they are evicted (analyzer.ts OFFLINE_OPEN_BYTES).
  const envBytes = (name: string, least: number): number | undefined => {
    const value = process.env[name];
    if (value === undefined) return undefined;
    const n = Number(value);
    if (value.trim() === '' || !Number.isInteger(n) || n < least) throw new CliError(`${name} must be a whole number ≥ ${least} (got "${value}")`);
    return n;
  };
  const openBytes = envBytes('N1LENS_OPEN_BYTES', 1);
  if (jobs > 1 && onAnalysed === undefined && worthSharding(files, envBytes('N1LENS_JOBS_MIN_BYTES', 0))) {
    return { ...(await analyseFilesSharded(files, withLinks, schemaPath, jobs, envBytes('N1LENS_JOBS_RANGE_BYTES', 1), openBytes)), reportOptions };
  }
  // Taken once for all files, as the shards take them: a file still being written is read as it was now.
  const sizes = files.map(sizeAtStart);
  const offline = new OfflineAnalysis(withLinks, onAnalysed, openBytes);
  for (const [i, file] of files.entries()) {
    const decoders = createUnitDecoders();
    const bytes = sizes[i];
    for await (const unit of readTraceUnits(file, bytes === undefined ? {} : { bytes })) offline.addUnit(unit, decoders);
  }
  const rollups = offline.finish();
  const { lateSpans, evictions, queriesOutsideRequests } = offline.analyzer.assembler.counters;
  return { rollups, reportOptions, lateSpans, evictedTraces: evictions, refused: offline.refused, queriesOutsideRequests };
}

/** A regular file's size now; undefined for standard input, a pipe or device (read to its end), or a file it cannot stat (reading it says why). */
function sizeAtStart(file: string): number | undefined {
  if (file === '-') return undefined;
  try {
    const stat = statSync(file);
    return stat.isFile() ? stat.size : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Threads for trace files when --jobs is not given: the machine's cores from 4 up. Splitting costs
 * CPU (every shard walks every protobuf message, and each thread's V8 compiles the same hot code again),
 * and a single analysis already keeps a second core busy with V8's concurrent compile jobs: on 2
 * cores --jobs 2 was slower than --jobs 1 (bench/README.md).
 */
function defaultJobs(): number {
  const cores = availableParallelism();
  return cores >= 4 ? cores : 1;
}

function readBaseline(file: string): Baseline {
  if (!existsSync(file)) throw new CliError(`${file}: no such baseline file (write one with --write-baseline ${file})`);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw fileError(error, file, 'cannot read the baseline');
  }
  return parseBaseline(text, file);
}

async function render(spec: FormatSpec, report: Report, gate: GateResult, opts: ReportCliOptions, html?: HtmlSource): Promise<string> {
  switch (spec.format) {
    case 'json':
      return renderJson(report);
    case 'markdown':
      return renderMarkdown(report);
    case 'html':
      if (html === undefined) throw new Error('the html format needs the store of analysed requests');
      return (await import('../ui/report-file.js')).renderReportFile(html.store, {
        report: { ...html.reportOptions, ...endpointDetectOptions(opts) },
        ...(opts.endpoint === undefined ? {} : { endpoint: opts.endpoint }),
        ...(opts.traceUrl === undefined ? {} : { traceUrl: opts.traceUrl }),
      });
    case 'sarif':
      return renderSarif(report, gate, { version: packageVersion(), ...repoPaths(opts) });
    case 'junit':
      return renderJunit(report, gate);
    case 'github':
      return renderGithubCommands(gate, repoPaths(opts));
    case 'terminal': {
      const color = spec.file === undefined ? opts.color : false;
      const colour = color === undefined ? {} : { color };
      return renderTerminal(report, colour) + renderGateTerminal(gate, { ...colour, ...(opts.baseline === undefined ? {} : { baselinePath: opts.baseline }) });
    }
  }
}

let version: string | undefined;
function packageVersion(): string {
  version ??= (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  return version;
}

/**
 * The report over the store `n1lens serve` writes: a period's endpoints and connections of a
 * service or all, and dead views over the whole history; with what --min-wasted-ms left out when
 * the run is `gated` (a baseline to judge by or to write): finding that out runs detection again.
 */
async function storeReport(db: string, opts: ReportCliOptions, gated: boolean): Promise<{ report: Report; belowMinWasted: Set<string> }> {
  // Opening a mistyped path would create an empty store: it must fail, not report "no requests".
  const { isMissingStore, openStore } = await import('../store/open.js');
  if (isMissingStore(db)) throw new CliError(`${db}: no such store (the --db file n1lens serve writes)`, EXIT.usage);
  const schema = opts.schema === undefined ? undefined : await loadSchema(opts.schema);
  if (opts.deadAfter !== undefined && schema?.urls === undefined) {
    throw new CliError('--dead-after needs --schema with the URLconf: re-run manage.py n1lens_schema, which now exports the URLconf', EXIT.usage);
  }
  const nowMs = Date.now();
  const sinceMs = opts.since === undefined ? undefined : nowMs - durationOption(opts.since, '--since');
  const deadAfterMs = opts.deadAfter === undefined ? undefined : durationOption(opts.deadAfter, '--dead-after');
  const store = await openStore(db);
  try {
    const deadViews = deadAfterMs === undefined ? [] : await store.deadViews(schema?.urls ?? [], deadAfterMs, nowMs);
    const period = sinceMs === undefined ? {} : { sinceMs };
    const ofService = { ...period, ...(opts.service === undefined ? {} : { service: opts.service }) };
    const [rollups, connections, queriesOutsideRequests] = await Promise.all([store.rollups(ofService), store.connections(period), store.queriesOutsideRequests(ofService)]);
    const options: ReportOptions = {
      ...(schema === undefined ? {} : { schema }),
      ...endpointDetectOptions(opts),
      ...(opts.endpoint === undefined ? {} : { endpoint: opts.endpoint }),
      ...noiseOptions(opts),
    };
    const report = buildReport(rollups, { ...options, connections: connections.filter((c) => opts.service === undefined || c.service === opts.service), deadViews, queriesOutsideRequests });
    return { report, belowMinWasted: gated ? belowMinWasted(rollups, options) : new Set<string>() };
  } finally {
    await store.close();
  }
}

function durationOption(text: string, flag: string): number {
  try {
    return parseDuration(text);
  } catch (e) {
    throw new CliError(`${flag}: ${(e as Error).message}`, EXIT.usage);
  }
}

/** What runReport reads and checks before the analysis, for finishReport. */
interface Checked {
  /** The baseline the gate judges by (--baseline). */
  baseline?: Baseline;
  /** What --write-baseline keeps the reasons and expiry dates of: the file there now, else --baseline's. */
  previous?: Baseline;
  /** Where the github format appends its step summary (GITHUB_STEP_SUMMARY), when it is asked for. */
  stepSummary?: string;
}

/**
 * Reads the baselines and checks every file the run will write, so that a bad baseline (the one to
 * judge by or the one to rewrite) or a destination it cannot write fails before the (long) analysis.
 */
function checkDestinations(formats: FormatSpec[], opts: ReportCliOptions): Checked {
  const baseline = opts.baseline === undefined ? undefined : readBaseline(opts.baseline);
  for (const { format, file } of formats) if (file !== undefined) checkWritable(file, `cannot write the ${format} output`);
  let previous = baseline;
  if (opts.writeBaseline !== undefined) {
    checkWritable(opts.writeBaseline, 'cannot write the baseline');
    if (existsSync(opts.writeBaseline)) previous = readBaseline(opts.writeBaseline);
  }
  const stepSummary = formats.some((f) => f.format === 'github') ? process.env.GITHUB_STEP_SUMMARY || undefined : undefined;
  if (stepSummary !== undefined) checkWritable(stepSummary, STEP_SUMMARY_DOING);
  return { ...(baseline === undefined ? {} : { baseline }), ...(previous === undefined ? {} : { previous }), ...(stepSummary === undefined ? {} : { stepSummary }) };
}

/**
 * What the report will write, checked before anything long runs (the analysis, or the command
 * `capture` wraps): the trace URL template, one format at most on standard output, the baselines
 * and every destination (checkDestinations).
 */
export function checkReportOutputs(opts: ReportCliOptions): { formats: FormatSpec[]; checked: Checked } {
  if (opts.traceUrl !== undefined) checkTraceUrl(opts.traceUrl);
  const formats = opts.format === undefined || opts.format.length === 0 ? [{ format: 'terminal' as const }] : opts.format;
  if (formats.filter((f) => f.file === undefined).length > 1) {
    throw new CliError(`only one --format can go to standard output; give the others a file: ${formats.map((f) => f.format).join(', ')}=FILE`);
  }
  return { formats, checked: checkDestinations(formats, opts) };
}

const STEP_SUMMARY_DOING = 'cannot append the GitHub step summary (GITHUB_STEP_SUMMARY)';

/** Only a gate with a baseline (to judge by or to write) asks which findings --min-wasted-ms left out. */
const isGated = (checked: Checked, opts: Pick<ReportCliOptions, 'writeBaseline'>): boolean => checked.baseline !== undefined || opts.writeBaseline !== undefined;

/** Runs the report command; returns the exit code. Outputs are rendered whole before any is written, so a failure never leaves half a file. */
export async function runReport(files: string[], opts: ReportCliOptions, program = 'n1-report'): Promise<number> {
  const sources = [files.length > 0, opts.from !== undefined, opts.db !== undefined].filter(Boolean).length;
  if (sources > 1) throw new CliError('give trace files, --from or --db: one source at a time', EXIT.usage);
  if (opts.db === undefined && opts.deadAfter !== undefined) {
    throw new CliError('--dead-after applies to --db: a trace file covers too little time to call a view dead (use --list-unseen)', EXIT.usage);
  }
  const { formats, checked } = checkReportOutputs(opts);
  const noise = noiseOptions(opts);
  if (opts.testSelection !== undefined && opts.testSuite !== true) throw new CliError('--test-selection applies to --test-suite', EXIT.usage);
  if (opts.db !== undefined) {
    if (opts.listUnseen) throw new CliError('--list-unseen is for trace files; with --db use --dead-after', EXIT.usage);
    const { report, belowMinWasted: below } = await storeReport(opts.db, opts, isGated(checked, opts));
    if (!formats.some((f) => f.format === 'html')) return finishReport(report, formats, checked, opts, below);
    const store = await (await import('../store/open.js')).openStore(opts.db);
    try {
      return await finishReport(report, formats, checked, opts, below, { store, reportOptions: {} });
    } finally {
      await store.close();
    }
  }
  checkPullFlags(opts, files);
  if (files.length === 0 && opts.from === undefined) {
    throw new CliError('no trace file given (use - for standard input, --from a Jaeger/Tempo/Zipkin URL, or --db n1lens.db)', EXIT.usage);
  }
  if (opts.from === undefined && (opts.service !== undefined || opts.since !== undefined)) {
    throw new CliError(`--${opts.service !== undefined ? 'service' : 'since'} applies to --from or --db`, EXIT.usage);
  }
  if (opts.from === undefined && opts.allowPartial === true) throw new CliError('--allow-partial applies to --from', EXIT.usage);
  // The HTML report draws each finding's example request, so it keeps the analysed requests in a store.
  const store = formats.some((f) => f.format === 'html') ? (await import('../store/sqlite.js')).SqliteStore.open(':memory:') : undefined;
  try {
    return await analyseAndFinish(files, opts, program, formats, checked, noise, store);
  } finally {
    store?.closeSync();
  }
}

async function analyseAndFinish(
  files: string[],
  opts: ReportCliOptions,
  program: string,
  formats: FormatSpec[],
  checked: Checked,
  noise: Pick<ReportOptions, 'ignoreEndpoints' | 'ignoreTables' | 'minWastedMs'>,
  store: SqliteStore | undefined,
): Promise<number> {
  const detect = {
    ...requestDetectOptions(opts),
    ...(opts.schema === undefined ? {} : { schemaPath: opts.schema }),
    ...(store === undefined ? {} : { onAnalysed: (analyses: RequestAnalysis[]) => store.recordSync(analyses) }),
  };
  const jobs = opts.jobs ?? defaultJobs();
  const { rollups, reportOptions, evictedTraces, refused, queriesOutsideRequests, pull } =
    opts.from === undefined ? { ...(await analyseFiles(files, { ...detect, jobs })), pull: undefined } : await analysePull({ ...opts, from: opts.from }, detect, program);
  if (opts.listUnseen && reportOptions.schema?.urls === undefined) {
    throw new CliError('--list-unseen needs --schema with the URLconf: re-run manage.py n1lens_schema, which now exports the URLconf', EXIT.usage);
  }
  const deadViews = opts.listUnseen ? unseenViews(reportOptions.schema?.urls ?? [], rollups.routes.values()) : [];
  const options: ReportOptions = { ...reportOptions, ...endpointDetectOptions(opts), ...(opts.endpoint === undefined ? {} : { endpoint: opts.endpoint }), ...noise };
  // A test run's connections say nothing about production's: Django's TransactionTestCase closes
  // them after every test, so each test opens one whatever CONN_MAX_AGE is.
  const connections = opts.testSuite === true ? [] : rollups.connections.values();
  const report = buildReport(rollups.values(), { ...options, connections, deadViews, refusedSpans: refused, queriesOutsideRequests });
  const below = isGated(checked, opts) ? belowMinWasted(rollups.values(), options) : new Set<string>();
  const code = await finishReport(report, formats, checked, opts, below, store === undefined ? undefined : { store, reportOptions });
  // After the outputs, so that a run that fails prints its one line only.
  if (evictedTraces > 0) process.stderr.write(evictionWarning(program, evictedTraces));
  if (pull !== undefined && pull.failed > 0) {
    // A pull that left traces out cannot pass the gate: their findings are unknown. Findings over the
    // budget stay exit 1 (they are there whatever is missing); a written baseline stays exit 0.
    const allowed = opts.allowPartial === true || opts.writeBaseline !== undefined;
    process.stderr.write(partialPullWarning(program, pull, allowed));
    if (code === EXIT.ok && !allowed) return EXIT.usage;
  }
  return code;
}

/**
 * The line that says traces were evicted (analyzer.ts offlineAnalyzerOptions): analysed before the
 * end of the input with spans of theirs perhaps still to come, which then were left out; which traces
 * go depends on what each thread holds, so --jobs can change the report.
 */
export function evictionWarning(program: string, traces: number): string {
  return (
    `${program}: ${traces} trace${traces === 1 ? ' was' : 's were'} analysed without waiting for the rest of ${traces === 1 ? 'its' : 'their'} spans: ` +
    'more traces were open at once than n1-report keeps in memory, so any of their spans later in the input were left out (and --jobs can change the report); ' +
    "keep each trace's spans close together in the input (e.g. the Collector's groupbytrace processor)\n"
  );
}

/** What the HTML report reads besides the report: the store of analysed requests it draws from. */
interface HtmlSource {
  store: Store;
  reportOptions: Pick<ReportOptions, 'schema'>;
}

/**
 * Judges the report against the budget and baseline, writes every output file, the step summary and
 * the baseline (together: a failure leaves none of them changed, output-files.ts), then standard
 * output; returns the exit code. A file it cannot write fails the run with nothing printed.
 */
async function finishReport(
  report: Report,
  formats: FormatSpec[],
  checked: Checked,
  opts: ReportCliOptions,
  below: ReadonlySet<string>,
  html?: HtmlSource,
): Promise<number> {
  // What the run left out (its flags, a slice of the traffic, other tests) is neither fixed nor
  // dropped from a rewritten baseline; findings outside the baseline's own scope are not new.
  const scope = runScope(opts);
  const looked = {
    scope,
    belowMinWasted: below,
    slice: opts.from !== undefined || opts.since !== undefined || opts.service !== undefined,
    ...(checked.baseline === undefined ? {} : { baseline: checked.baseline }),
  };
  const gate = judge(report, {
    ...looked,
    maxFindings: opts.maxFindings,
    today: opts.today ?? isoDay(Date.now()),
    ...(opts.endpoints === undefined ? {} : { endpoints: opts.endpoints }),
    ...(checked.baseline === undefined ? {} : { baseline: checked.baseline }),
  });

  const outputs = await Promise.all(formats.map(async (spec) => ({ spec, text: await render(spec, report, gate, opts, html) })));
  const files: OutputFile[] = [];
  for (const { spec, text } of outputs) if (spec.file !== undefined) files.push({ file: spec.file, text, doing: `cannot write the ${spec.format} output` });
  if (checked.stepSummary !== undefined) files.push({ file: checked.stepSummary, text: renderGithubSummary(report, gate), doing: STEP_SUMMARY_DOING, append: true });
  let wrote: string | undefined;
  if (opts.writeBaseline !== undefined) {
    // Re-writing a baseline keeps the reasons and expiry dates people wrote into it.
    const next = baselineFromReport(report, checked.previous, lookedAt(report, { ...looked, ...(checked.previous === undefined ? {} : { baseline: checked.previous }) }), scope);
    // Last: the file a half-done run would most hurt (the next run's gate reads it).
    files.push({ file: opts.writeBaseline, text: renderBaseline(next), doing: 'cannot write the baseline' });
    wrote = `n1lens: wrote ${next.findings.length} finding${next.findings.length === 1 ? '' : 's'} to the baseline ${opts.writeBaseline}\n`;
  }
  writeOutputFiles(files);
  if (wrote !== undefined) process.stderr.write(wrote);
  for (const { spec, text } of outputs) if (spec.file === undefined) process.stdout.write(text);
  if (opts.writeBaseline !== undefined) return EXIT.ok;
  return gate.overBudget ? EXIT.overBudget : EXIT.ok;
}

/** The noise controls of the report: --ignore-endpoint, --ignore-table, --min-wasted-ms. */
function noiseOptions(opts: ReportCliOptions): Pick<ReportOptions, 'ignoreEndpoints' | 'ignoreTables' | 'minWastedMs'> {
  return {
    ...(opts.ignoreEndpoint === undefined ? {} : { ignoreEndpoints: opts.ignoreEndpoint }),
    ...(opts.ignoreTable === undefined ? {} : { ignoreTables: opts.ignoreTable }),
    ...(opts.minWastedMs === undefined ? {} : { minWastedMs: opts.minWastedMs }),
  };
}

/** What the run looks at, as a baseline records it (baseline.ts BaselineScope). */
function runScope(opts: ReportCliOptions): BaselineScope {
  return compactScope({
    ...(opts.endpoint === undefined ? {} : { endpoint: opts.endpoint }),
    ...(opts.ignoreEndpoint === undefined ? {} : { ignoreEndpoints: opts.ignoreEndpoint }),
    ...(opts.ignoreTable === undefined ? {} : { ignoreTables: opts.ignoreTable }),
    ...(opts.minWastedMs === undefined ? {} : { minWastedMs: opts.minWastedMs }),
    // A store (--db) was analysed as serve recorded it: this run's --min-repeats found nothing there.
    ...(opts.db === undefined ? { minRepeats: opts.minRepeats } : {}),
    ...(opts.testSuite === true ? { testSuite: true as const } : {}),
    ...(opts.service === undefined ? {} : { service: opts.service }),
    ...(opts.since === undefined ? {} : { since: opts.since }),
    ...(opts.testSelection === undefined ? {} : { tests: opts.testSelection }),
  });
}

/** Config-file budgets for the gate, in the file's order (the first matching glob applies). */
export function endpointBudgets(endpoints: ConfigFile['endpoints']): EndpointBudget[] {
  return Object.entries(endpoints ?? {}).map(([match, b]) => ({
    match,
    ...(b['max-findings'] === undefined ? {} : { maxFindings: b['max-findings'] }),
    ...(b['max-queries'] === undefined ? {} : { maxQueries: b['max-queries'] }),
    ...(b['max-wasted-ms'] === undefined ? {} : { maxWastedMs: b['max-wasted-ms'] }),
  }));
}

export { TEST_SUITE_MIN_REPEATS } from '../detect/request.js';

/** Reads the config, lets flags win over it, and returns the options runReport takes. */
export function resolveReportOptions(command: Command): ReportCliOptions {
  const config = loadConfig(command.opts<{ config?: string }>().config);
  // One file serves the report commands and capture: each passes the other's own keys over.
  const longs = (c: Command) => c.options.flatMap((option) => (option.long === undefined ? [] : [option.long.slice(2)]));
  const own = new Set(longs(command));
  const othersKeys = command.name() === 'capture' ? longs(reportCommand()).filter((k) => !own.has(k)) : CAPTURE_KEYS;
  const fromConfig = applyConfig(command, config, othersKeys);
  // The file's keys for pulls (limit = 5000) and for stores (service, since) wait for a run that
  // reads from one: a file run leaves them be. Typed ones are still refused where they do nothing.
  // Trace files named on the command line are the source: the file's `from` or `db` waits too.
  if (command.name() !== 'capture' && command.args.length > 0) {
    for (const name of ['from', 'db']) if (command.getOptionValueSource(name) === 'config') command.setOptionValueWithSource(name, undefined, 'default');
  }
  const { from, db } = command.opts<{ from?: string; db?: string }>();
  const waiting = [...(from === undefined ? ['start', 'end', 'limit', 'header', 'allowPartial'] : []), ...(from === undefined && db === undefined ? ['service', 'since'] : [])];
  for (const name of waiting) if (command.getOptionValueSource(name) === 'config') command.setOptionValueWithSource(name, undefined, 'default');
  const o = command.opts<ReportCliOptions & { color: boolean; ignoreEndpoint?: string[]; ignoreTable?: string[] }>();
  if (o.testSuite && command.getOptionValueSource('minRepeats') === 'default') command.setOptionValueWithSource('minRepeats', TEST_SUITE_MIN_REPEATS, 'default');
  // commander sets color=true by default for --no-color; only the flag (or no-color = true in the file) overrides detection.
  const color = command.getOptionValueSource('color') === 'cli' || command.getOptionValueSource('color') === 'config' ? false : undefined;
  // The file's ignore-endpoint/ignore-table keys and its [ignore] table add up; a flag replaces both.
  const ignored = (name: 'ignoreEndpoint' | 'ignoreTable', table: string[] | undefined): string[] | undefined =>
    command.getOptionValueSource(name) === 'cli' ? o[name] : o[name] === undefined && table === undefined ? undefined : [...(o[name] ?? []), ...(table ?? [])];
  return {
    ...command.opts<ReportCliOptions>(),
    color,
    ignoreEndpoint: ignored('ignoreEndpoint', fromConfig.ignore?.endpoints),
    ignoreTable: ignored('ignoreTable', fromConfig.ignore?.tables),
    endpoints: endpointBudgets(fromConfig.endpoints),
  } as ReportCliOptions;
}

/** The command definition, shared by `n1-report` and `n1lens report`. */
export function reportCommand(name = 'report'): Command {
  const command = new Command(name)
    .description('Find N+1 query cascades in saved OpenTelemetry trace files and print the fixes')
    .argument('[files...]', 'OTLP JSON lines, JSON or (length-delimited) protobuf, Jaeger or Zipkin JSON; gzip detected; - for stdin (or use --from, --db)');
  addReportOptions(command);
  command
    .option('--list-unseen', "with --schema: list the app's routes no request in the files went to")
    .option('--db <file|url>', 'report on the store `n1lens serve` writes (a SQLite file or a postgres:// URL) instead of trace files')
    .option('--since <duration>', 'with --from: how far back to pull (default 24h); with --db: only the last <duration>, e.g. 90m, 24h, 7d (default all of it)')
    .option('--dead-after <duration>', 'with --db and --schema: list views with no request for <duration> (e.g. 90d), and cron-only ones')
    .option('--jobs <n>', 'threads for trace files, traces split between them (default: the machine\'s cores from 4 up, else 1)', wholeNumber('--jobs', 1));
  addPullOptions(command, { service: true });
  command.option('--allow-partial', 'with --from: judge the traces fetched when some failed after retries (default: such a run that passes the gate exits 2)');
  return command.action(async function (this: Command, files: string[]) {
    process.exitCode = await runReport(files, resolveReportOptions(this), name === 'report' ? 'n1lens report' : name);
  });
}

/** The report and gate flags, shared by `report` and `capture`. */
export function addReportOptions(command: Command): Command {
  command
    .option(
      '-f, --format <format[=file]>',
      `output: ${FORMATS.join(', ')}; repeat with =FILE for several (default terminal)`,
      repeatable(parseFormat),
    )
    .option('--max-findings <n>', 'new N+1 and write-loop findings allowed before exit code 1', wholeNumber('--max-findings'), 0)
    .option('--min-wasted-ms <ms>', 'leave out findings that waste less than this per request', nonNegativeNumber('--min-wasted-ms'))
    .option('--endpoint <glob>', 'only endpoints matching this glob, e.g. "GET dashboard/*"')
    .option('--ignore-endpoint <glob>', 'leave out endpoints matching this glob (repeatable)', repeatable(String))
    .option('--ignore-table <glob>', 'leave out findings on tables matching this glob (repeatable)', repeatable(String))
    .option('--schema <file>', 'schema file from `manage.py n1lens_schema`, for exact names')
    .option('--trace-url <template>', "html: link example traces, 'https://jaeger.example.com/trace/{traceId}'")
    .option('--repo-root <dir>', 'sarif, github: the repository root file paths are given from (default: the git top level above --base-dir, else above the working directory, else --base-dir)')
    .option('--base-dir <dir>', "sarif, github: the directory the traces' relative file paths are relative to, Django's BASE_DIR (default: the working directory)")
    .option('--baseline <file>', 'accepted findings: fail only on findings not in it (or past their expires date)')
    .option('--write-baseline <file>', 'write the current findings as the baseline (keeps reasons and expiry dates already in it) and exit 0')
    .option('--config <file>', 'config file (default: n1lens.toml, or [tool.n1lens] in pyproject.toml, from here upwards)')
    .option(
      '--test-suite',
      `the traces are a test suite's: --min-repeats ${TEST_SUITE_MIN_REPEATS} unless set, no warm_up (a loop in one test of several is still an N+1) and no hot_lookup (advice for production traffic)`,
    )
    .option('--test-selection <tests>', "with --test-suite: the tests the run selected, when not the whole suite (pytest --n1lens passes its arguments): a baseline records it, and a run of other tests calls no entry fixed")
    .option('--no-color', 'plain text even on a terminal');
  return addDetectorOptions(command);
}
