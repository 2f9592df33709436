/** The default terminal report: endpoints ranked by wasted time, each with its findings and the fix, readable at 80 columns. */
import pc from 'picocolors';
import type { GateResult } from './gate.js';
import type { Report, ReportFinding, ServiceFinding } from './model.js';
import { displayWidth } from './width.js';
import { fixedService, SCOPE_HEAD } from './gate.js';
import { KIND_LABEL, STEADY_STATE_UNKNOWN, droppedSpansLine, outsideRequestsLine, endpointFixToShow, findingTitle, formatLocation, frameworkNoiseLine, int, ms, readInsteadText, serviceFindingFigures, shortenSql, splitLine, wrapCode, wrapText } from './text.js';

export interface TerminalOptions {
  /** Colour output; defaults to colorSupported() for standard output. */
  color?: boolean;
  width?: number;
}

/** What a colour depth check needs of a stream: a TTY's says what its terminal shows. */
type ColorStream = Pick<NodeJS.WriteStream, 'isTTY'> & Partial<Pick<NodeJS.WriteStream, 'getColorDepth'>>;

/**
 * Whether to colour what goes to `stream`, as Node documents FORCE_COLOR and NO_COLOR: FORCE_COLOR
 * set to '', 1, true, 2 or 3 turns colour on wherever the text goes, any other value (0, false) off,
 * and either way NO_COLOR is then ignored; without it, only a TTY is coloured, and not with NO_COLOR
 * or NODE_DISABLE_COLORS set (to anything) or TERM=dumb. picocolors' own detection read FORCE_COLOR=0
 * as on, and CI=true as on even into a file.
 */
export function colorSupported(stream: ColorStream = process.stdout, env: NodeJS.ProcessEnv = process.env): boolean {
  const force = env.FORCE_COLOR;
  // Node's getColorDepth reads these the same way, but warns on stderr when NO_COLOR is set too.
  if (force !== undefined) return ['', '1', 'true', '2', '3'].includes(force);
  if (stream.isTTY !== true) return false;
  return stream.getColorDepth === undefined ? true : stream.getColorDepth(env) > 2;
}

/** The caveat under an endpoint whose N+1 fix names relations and models guessed from the SQL. */
const INFERRED_NAMES = 'names inferred from SQL; --schema (manage.py n1lens_schema) makes them exact';

/** Renders the report for a terminal. */
export function renderTerminal(report: Report, options: TerminalOptions = {}): string {
  const c = pc.createColors(options.color ?? colorSupported());
  const width = options.width ?? 80;
  const out: string[] = [];
  const s = report.summary;
  out.push(
    c.bold('n1lens') +
      c.dim(` · ${int(s.requests)} requests · ${int(s.dbSpans)} DB queries · ${s.findings} findings · `) +
      c.bold(`${ms(s.wastedMs)} wasted`),
  );
  if (s.frameworkQueriesDropped !== undefined) {
    for (const line of wrapText(frameworkNoiseLine(s.frameworkQueriesDropped), width)) out.push(c.dim(line));
  }
  if (s.spansDropped !== undefined) for (const line of wrapText(droppedSpansLine(s.spansDropped), width)) out.push(c.dim(line));
  if (s.queriesOutsideRequests !== undefined) for (const line of wrapText(outsideRequestsLine(s.queriesOutsideRequests), width)) out.push(c.dim(line));
  if (report.endpoints.length === 0) {
    out.push('', 'No requests found in the input.');
    out.push(...renderServiceFindings(report.serviceFindings ?? [], c, width));
    return out.join('\n') + '\n';
  }
  // A test suite has an endpoint per test: past a few, the clean ones are counted, not listed.
  const clean = report.endpoints.filter((e) => e.findings.length === 0).length;
  const listClean = clean <= 3;
  report.endpoints.forEach((e, i) => {
    if (!listClean && e.findings.length === 0) return;
    out.push('');
    const title = `${i + 1}. ${e.endpoint}`;
    const waste = `${ms(e.wastedMsPerRequest)} wasted/request`;
    const wasteText = e.wastedMsPerRequest > 0 ? c.red(waste) : c.green(waste);
    const titleWidth = displayWidth(title);
    if (titleWidth + 1 + waste.length <= width) out.push(c.bold(title) + ' '.repeat(width - titleWidth - waste.length) + wasteText);
    else {
      // Too long to share a line with its waste: the name on its own lines, the waste right-aligned under it.
      for (const line of wrapText(title, width)) out.push(c.bold(line));
      out.push(' '.repeat(Math.max(0, width - waste.length)) + wasteText);
    }
    out.push(
      c.dim(
        `   ${int(e.requests)} request${e.requests === 1 ? '' : 's'} · ${e.queriesPerRequest.p50} ${e.queriesPerRequest.p50 === 1 ? 'query' : 'queries'}/request ` +
          `(p50, max ${e.queriesPerRequest.max})${e.service ? ` · ${e.service}` : ''}`,
      ),
    );
    if (e.split !== undefined) for (const line of wrapText(splitLine(e.split), width - 3)) out.push(c.dim(`   ${line}`));
    if (e.steadyState === 'unknown') for (const line of wrapText(STEADY_STATE_UNKNOWN, width - 3)) out.push(c.dim(`   ${line}`));
    if (e.findings.length === 0) {
      out.push(c.green('   ✓ no findings'));
      return;
    }
    for (const f of e.findings) out.push(...renderFinding(f, c, width));
    const fix = endpointFixToShow(e);
    if (fix !== '') {
      out.push(`   ${c.bold('fix:')}`);
      for (const line of wrapCode(fix, width, '     ')) out.push(c.green(line));
    }
    // Under the fix block, or under the findings when that block repeats the one finding's fix and is left out:
    // either way the names in the code shown are guesses.
    if (e.findings.some((f) => f.suggestion.confidence === 'inferred' && f.kind === 'n_plus_one')) {
      for (const line of wrapText(INFERRED_NAMES, width - 3)) out.push(c.dim(`   ${line}`));
    }
  });
  if (!listClean) out.push('', c.green(`✓ ${clean} more endpoints without findings`));
  out.push(...renderServiceFindings(report.serviceFindings ?? [], c, width));
  return out.join('\n') + '\n';
}

/** connection_pressure and dead_view, after the endpoints: they rank apart from DB waste. */
function renderServiceFindings(findings: readonly ServiceFinding[], c: ReturnType<typeof pc.createColors>, width: number): string[] {
  if (findings.length === 0) return [];
  const lines = ['', c.bold('Connections and dead views') + c.dim(' (not counted in the budget)')];
  for (const f of findings) {
    lines.push(`   ${c.yellow('✗')} ${c.yellow(KIND_LABEL[f.kind].padEnd(12))} ${f.subject || '(root)'}`);
    for (const line of wrapText(serviceFindingFigures(f), width - 5)) lines.push(`     ${c.dim(line)}`);
    if (f.kind === 'connection_pressure') {
      for (const line of f.suggestion.code.split('\n')) lines.push(line === '' ? '' : c.cyan(`       ${line}`));
    }
    if (f.suggestion.note !== undefined) for (const line of wrapText(f.suggestion.note, width - 5)) lines.push(`     ${c.dim(line)}`);
  }
  return lines;
}

function renderFinding(f: ReportFinding, c: ReturnType<typeof pc.createColors>, width: number): string[] {
  const lines: string[] = [];
  const label = KIND_LABEL[f.kind];
  const repeats = f.kind === 'n_plus_one' || f.kind === 'repeated_write' || f.kind === 'warm_up' ? `${f.repeatsPerRequest.p50}×/req ` : '';
  const where = f.chain.length > 0 ? `${f.table} via ${f.chain.join('.')}` : f.table;
  const cost = f.kind === 'sync_fanout' ? `${ms(f.wastedMs)} of latency` : ms(f.wastedMs);
  lines.push(`   ${c.yellow('✗')} ${c.yellow(label.padEnd(12))} ${repeats}${where}  ${c.dim(cost)}`);
  if (f.sql !== '') lines.push(`     ${c.dim(shortenSql(f.sql, width - 5))}`);
  const at = formatLocation(f.location);
  // A location is a path: it wraps after a `/` like a long route, under its `at`.
  if (at !== '') for (const [i, line] of wrapText(`at ${at}`, width - 5).entries()) lines.push(`     ${i === 0 ? `${c.magenta('at')}${line.slice(2)}` : line}`);
  for (const other of f.otherLocations ?? []) for (const line of wrapText(`also at ${formatLocation(other)}`, width - 5)) lines.push(`     ${c.dim(line)}`);
  const triggerAt = formatLocation(f.trigger?.location);
  if (triggerAt !== '' && triggerAt !== at) for (const line of wrapText(`loops over the rows of ${triggerAt}`, width - 5)) lines.push(`     ${c.dim(line)}`);
  if (!f.suggestion.code.includes('\n')) {
    const code = wrapCode(f.suggestion.code, width, '       ');
    code[0] = `     → ${code[0]!.trimStart()}`;
    lines.push(...code);
  } else {
    for (const line of f.suggestion.code.split('\n')) lines.push(line === '' ? '' : c.cyan(`       ${line}`));
  }
  const extra = [f.suggestion.readInstead === undefined ? '' : readInsteadText(f.suggestion.readInstead), f.suggestion.placement ?? ''];
  for (const text of extra) if (text !== '') for (const line of wrapText(text, width - 7)) lines.push(`       ${c.dim(line)}`);
  if (f.suggestion.note !== undefined && f.kind !== 'n_plus_one' && f.kind !== 'repeated_write') {
    for (const line of wrapText(f.suggestion.note, width - 5)) lines.push(`     ${c.dim(line)}`);
  }
  lines.push(`     ${c.dim(`signature ${f.signature}`)}`);
  return lines;
}

/** The CI verdict under the report: what fails, what the baseline accepts, what is fixed since. */
export function renderGateTerminal(gate: GateResult, options: TerminalOptions & { baselinePath?: string } = {}): string {
  const c = pc.createColors(options.color ?? colorSupported());
  const width = options.width ?? 80;
  const fresh = gate.findings.filter((g) => g.status === 'new' || g.status === 'expired');
  const accepted = gate.findings.filter((g) => g.status === 'baselined').length;
  const unscoped = gate.findings.filter((g) => g.status === 'unscoped').length;
  const failing = fresh.filter((g) => g.failing).length;
  const out: string[] = [''];
  const outside = unscoped === 0 ? '' : ` · ${unscoped} outside the baseline's scope`;
  const counts = `${fresh.length} new · ${accepted} baselined${outside} · ${gate.fixed.length} fixed since · budget ${gate.maxFindings}`;
  const verdict = gate.overBudget ? `✗ over budget: ${counts}` : `✓ within budget: ${counts}`;
  for (const line of wrapText(verdict, width)) out.push(gate.overBudget ? c.red(c.bold(line)) : c.green(c.bold(line)));
  // An entry's lines, wrapped to the width under its mark (none: a detail line), each styled by `style`.
  const entry = (mark: string | undefined, text: string, style = (line: string) => line): void => {
    for (const [i, line] of wrapText(text, width - 4).entries()) out.push(i === 0 && mark !== undefined ? `  ${mark} ${line}` : style(`    ${line}`));
  };
  if (gate.scopeNotes.length > 0) {
    entry(c.yellow('!'), SCOPE_HEAD);
    for (const note of gate.scopeNotes) entry(undefined, `· ${note}`, c.dim);
  }
  for (const g of fresh) {
    entry(g.failing ? c.red('✗') : c.yellow('!'), findingTitle(g.endpoint, g.finding));
    const where = formatLocation(g.finding.location);
    if (where !== '') entry(undefined, `at ${where}`);
    if (g.status === 'expired') out.push(c.dim(`    baseline entry expired on ${g.baseline?.expires ?? '?'}`));
    out.push(c.dim(`    signature ${g.finding.signature}`));
  }
  for (const b of gate.breaches) entry(c.red('✗'), `${b.endpoint}: ${b.limit} ${b.actual} > ${b.allowed} (budget "${b.budget}")`);
  for (const e of gate.fixed) {
    entry(c.green('✓'), `fixed: ${KIND_LABEL[e.kind]} in ${e.endpoint}${fixedService(e, gate)} on ${e.table}`);
    entry(undefined, `remove ${e.signature} from ${options.baselinePath ?? 'the baseline'}`, c.dim);
  }
  if (failing === 0 && fresh.length > 0 && !gate.overBudget) out.push(c.dim(`  (${fresh.length} within --max-findings ${gate.maxFindings})`));
  return `${out.join('\n')}\n`;
}
