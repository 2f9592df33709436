/**
 * Compares two reports (before and after a change) endpoint by endpoint: findings new, fixed,
 * worse and better by signature, and the change in queries and wasted time per request.
 */
import { countsTowardBudget } from './gate.js';
import type { Report, ReportEndpoint, ReportFinding } from './model.js';
import { KIND_LABEL, ms } from './text.js';

export type FindingChange = 'new' | 'fixed' | 'worse' | 'better';

export interface DiffFinding {
  change: FindingChange;
  finding: ReportFinding;
  /** Repeats per request (p50) before and after; absent on the side where it is missing. */
  before?: number;
  after?: number;
  /** The kind before, when the same loop changed kind: warm-up then N+1 (worse), or back (better). */
  kindBefore?: ReportFinding['kind'];
}

export interface EndpointDiff {
  endpoint: string;
  service: string;
  /** Another service has an endpoint of the same name: the service tells them apart. */
  shared?: true;
  queriesPerRequest: { before?: number; after?: number };
  wastedMsPerRequest: { before?: number; after?: number };
  findings: DiffFinding[];
}

export interface ReportDiff {
  endpoints: EndpointDiff[];
  totals: Record<FindingChange, number>;
  /** A new or worse query loop, or an endpoint running more queries per request. */
  regression: boolean;
}

export function diffReports(before: Report, after: Report): ReportDiff {
  // An endpoint is its service's: two services may serve `GET health/`, each with its own findings.
  // A name each report has once is one endpoint whatever its service is called (a renamed
  // OTEL_SERVICE_NAME, a test suite's report against production's).
  const counts = (r: Report) => r.endpoints.reduce((m, e) => m.set(e.endpoint, (m.get(e.endpoint) ?? 0) + 1), new Map<string, number>());
  const [countBefore, countAfter] = [counts(before), counts(after)];
  const key = (e: ReportEndpoint): string =>
    countBefore.get(e.endpoint) === 1 && countAfter.get(e.endpoint) === 1 ? `\u0000${e.endpoint}` : `${e.service ?? ''}\u0000${e.endpoint}`;
  const byKey = (r: Report) => new Map(r.endpoints.map((e) => [key(e), e]));
  const a = byKey(before);
  const b = byKey(after);
  const names = [...new Set([...a.keys(), ...b.keys()])];
  const services = new Map<string, Set<string>>();
  for (const e of [...before.endpoints, ...after.endpoints]) services.set(e.endpoint, (services.get(e.endpoint) ?? new Set()).add(e.service ?? ''));
  const totals: Record<FindingChange, number> = { new: 0, fixed: 0, worse: 0, better: 0 };
  let regression = false;
  const endpoints: EndpointDiff[] = [];
  for (const name of names) {
    const was = a.get(name);
    const now = b.get(name);
    const { endpoint, service } = (was ?? now)!;
    const findings = diffFindings(was, now);
    for (const f of findings) {
      totals[f.change]++;
      if ((f.change === 'new' || f.change === 'worse') && countsTowardBudget(f.finding.kind)) regression = true;
    }
    const q = { ...(was === undefined ? {} : { before: was.queriesPerRequest.p50 }), ...(now === undefined ? {} : { after: now.queriesPerRequest.p50 }) };
    if (q.before !== undefined && q.after !== undefined && q.after > q.before) regression = true;
    const w = { ...(was === undefined ? {} : { before: was.wastedMsPerRequest }), ...(now === undefined ? {} : { after: now.wastedMsPerRequest }) };
    if (findings.length > 0 || q.before !== q.after) {
      const shared = (services.get(endpoint)?.size ?? 0) > 1;
      endpoints.push({ endpoint, service: service ?? '', ...(shared ? { shared: true as const } : {}), queriesPerRequest: q, wastedMsPerRequest: w, findings });
    }
  }
  return { endpoints, totals, regression };
}

function diffFindings(was: ReportEndpoint | undefined, now: ReportEndpoint | undefined): DiffFinding[] {
  const before = new Map((was?.findings ?? []).map((f) => [f.signature, f]));
  const after = new Map((now?.findings ?? []).map((f) => [f.signature, f]));
  const out: DiffFinding[] = [];
  for (const [sig, f] of after) {
    const old = before.get(sig);
    if (old === undefined) out.push({ change: 'new', finding: f, after: f.repeatsPerRequest.p50 });
    else if (countsTowardBudget(f.kind) !== countsTowardBudget(old.kind)) {
      // One loop (one signature), warm-up in one run and the steady state in the other.
      const change = countsTowardBudget(f.kind) ? 'worse' : 'better';
      out.push({ change, finding: f, before: old.repeatsPerRequest.p50, after: f.repeatsPerRequest.p50, kindBefore: old.kind });
    } else if (f.repeatsPerRequest.p50 !== old.repeatsPerRequest.p50) {
      out.push({ change: f.repeatsPerRequest.p50 > old.repeatsPerRequest.p50 ? 'worse' : 'better', finding: f, before: old.repeatsPerRequest.p50, after: f.repeatsPerRequest.p50 });
    }
  }
  for (const [sig, f] of before) if (!after.has(sig)) out.push({ change: 'fixed', finding: f, before: f.repeatsPerRequest.p50 });
  return out;
}

const figure = (v: { before?: number; after?: number }, show: (n: number) => string): string =>
  `${v.before === undefined ? '–' : show(v.before)} → ${v.after === undefined ? '–' : show(v.after)}`;

const MARK: Record<FindingChange, string> = { new: '✗ new  ', worse: '✗ worse', fixed: '✓ fixed', better: '✓ better' };

/** Plain-text diff for a terminal or a CI log. */
export function renderDiff(diff: ReportDiff, labels: { before: string; after: string }): string {
  const t = diff.totals;
  const out = [`n1lens diff ${labels.before} → ${labels.after}: ${t.fixed} fixed · ${t.new} new · ${t.worse} worse · ${t.better} better${diff.regression ? ' · REGRESSION' : ''}`];
  for (const e of diff.endpoints) {
    out.push('', e.shared ? `${e.endpoint} (${e.service})` : e.endpoint, `   queries/request ${figure(e.queriesPerRequest, String)} · wasted/request ${figure(e.wastedMsPerRequest, ms)}`);
    for (const f of e.findings) {
      const repeats = f.before !== undefined && f.after !== undefined ? ` (${f.before} → ${f.after} per request)` : '';
      const x = f.finding;
      const where = x.table === '' ? '' : ` on ${x.table}${x.chain.length > 0 ? ` via ${x.chain.join('.')}` : ''}`;
      const kind = f.kindBefore === undefined ? KIND_LABEL[x.kind] : `${KIND_LABEL[f.kindBefore]} → ${KIND_LABEL[x.kind]}`;
      out.push(`   ${MARK[f.change]} ${kind}${where}${repeats}  ${x.signature}`);
    }
  }
  return `${out.join('\n')}\n`;
}
