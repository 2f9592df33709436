/**
 * GitHub Actions output: workflow commands that annotate the pull request at each finding's line
 * (`::error file=…,line=…::`), and a Markdown job summary (for `$GITHUB_STEP_SUMMARY`).
 */
import { fixedService, SCOPE_HEAD, type GateFinding, type GateResult } from './gate.js';
import { renderMarkdown } from './markdown.js';
import type { Report } from './model.js';
import { repoLocation, type RepoPaths } from './paths.js';
import { KIND_LABEL, codeSpan, findingTitle, formatLocation, primaryLocation } from './text.js';

/** Escapes a workflow command's message (GitHub's own escaping: %, CR, LF). */
const escapeData = (s: string): string => s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
/** Escapes a property value, which also may not hold `:` or `,`. */
const escapeProperty = (s: string): string => escapeData(s).replace(/:/g, '%3A').replace(/,/g, '%2C');

function annotation(level: 'error' | 'warning' | 'notice', properties: Record<string, string | number | undefined>, message: string): string {
  const props = Object.entries(properties)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${escapeProperty(String(v))}`)
    .join(',');
  return `::${level}${props === '' ? '' : ` ${props}`}::${escapeData(message)}`;
}

function findingCommand(g: GateFinding, paths: RepoPaths): string {
  const f = g.finding;
  // GitHub places an annotation by its path in the checkout (from the repository root), as code scanning does.
  const at = primaryLocation(repoLocation(f.location, paths));
  const where = formatLocation(f.location);
  const why = g.status === 'expired' ? ` (its baseline entry expired on ${g.baseline?.expires ?? '?'})` : '';
  const also = (f.otherLocations ?? []).map((l) => `\nalso at ${formatLocation(l)}`).join('');
  const message = `${findingTitle(g.endpoint, f)}${why}${where === '' ? '' : `\nat ${where}`}${also}\nFix:\n${f.suggestion.code}\nsignature ${f.signature}`;
  return annotation(
    g.failing ? 'error' : 'warning',
    { file: at?.file, line: at?.line, title: `n1lens: ${KIND_LABEL[f.kind]} in ${g.endpoint}` },
    message,
  );
}

/**
 * The workflow commands: an error per failing finding and broken endpoint budget, a warning per new
 * finding within budget. `paths` say where files are (paths.ts); a file outside the root is no `file=`.
 */
export function renderGithubCommands(gate: GateResult, paths: RepoPaths = {}): string {
  const lines: string[] = [];
  for (const g of gate.findings) {
    if (g.status === 'new' || g.status === 'expired') lines.push(findingCommand(g, paths));
  }
  for (const b of gate.breaches) {
    lines.push(annotation('error', { title: `n1lens: ${b.endpoint} over its ${b.limit} budget` }, `${b.endpoint}: ${b.limit} ${b.actual} > ${b.allowed} (budget "${b.budget}")`));
  }
  if (gate.scopeNotes.length > 0) lines.push(annotation('notice', { title: "n1lens: not the baseline's scope" }, [SCOPE_HEAD, ...gate.scopeNotes].join('\n')));
  for (const e of gate.fixed) {
    lines.push(annotation('notice', { title: 'n1lens: fixed since the baseline' }, `${KIND_LABEL[e.kind]} in ${e.endpoint}${fixedService(e, gate)} on ${e.table} is gone: remove signature ${e.signature} from the baseline`));
  }
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}

/** One-paragraph verdict, Markdown. */
export function gateMarkdown(gate: GateResult): string {
  const fresh = gate.findings.filter((g) => g.status === 'new' || g.status === 'expired');
  const accepted = gate.findings.filter((g) => g.status === 'baselined').length;
  const unscoped = gate.findings.filter((g) => g.status === 'unscoped').length;
  const failing = fresh.filter((g) => g.failing).length;
  const head = gate.overBudget
    ? `### ❌ n1lens: ${failing} new finding${failing === 1 ? '' : 's'} over budget${gate.breaches.length > 0 ? `, ${gate.breaches.length} endpoint budget${gate.breaches.length === 1 ? '' : 's'} broken` : ''}`
    : '### ✅ n1lens: within budget';
  const outside = unscoped === 0 ? '' : ` · ${unscoped} outside the baseline's scope`;
  const out = [head, '', `${fresh.length} new · ${accepted} accepted by the baseline${outside} · ${gate.fixed.length} fixed since the baseline · budget ${gate.maxFindings}`, ''];
  if (gate.scopeNotes.length > 0) out.push(`> ${SCOPE_HEAD}:`, ...gate.scopeNotes.map((n) => `> - ${n}`), '');
  for (const g of fresh) {
    const where = formatLocation(g.finding.location);
    out.push(`- ${g.failing ? '❌' : '⚠️'} ${findingTitle(g.endpoint, g.finding)}${where === '' ? '' : ` at ${codeSpan(where)}`}${g.status === 'expired' ? ' (baseline entry expired)' : ''} · \`${g.finding.signature}\``);
  }
  for (const b of gate.breaches) out.push(`- ❌ ${codeSpan(b.endpoint)}: ${b.limit} ${b.actual} > ${b.allowed}`);
  for (const e of gate.fixed) out.push(`- ✅ fixed: ${KIND_LABEL[e.kind]} in ${codeSpan(e.endpoint)}${fixedService(e, gate)} on ${codeSpan(e.table)} · \`${e.signature}\``);
  return `${out.join('\n')}\n`;
}

/** The job summary: the verdict, then the full Markdown report. */
export const renderGithubSummary = (report: Report, gate: GateResult): string => `${gateMarkdown(gate)}\n${renderMarkdown(report)}`;
