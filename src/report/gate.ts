/**
 * The CI verdict on a report: which findings fail the build (new, or past their baseline expiry,
 * beyond the budget), which the baseline accepts, which baselined ones are fixed, and which
 * per-endpoint budgets are broken. Pure: the report, the budgets and today's date in, a verdict out.
 */
import type { FindingKind } from '../detect/types.js';
import type { Baseline, BaselineEntry } from './baseline.js';
import { endpointMatcher, type Report, type ReportFinding } from './model.js';

/** An endpoint glob's own limits (config `[endpoints."GET dashboard/*"]`). */
export interface EndpointBudget {
  match: string;
  /** Replaces the global max-findings for the endpoints it matches. */
  maxFindings?: number;
  /** Largest number of DB queries one request may run. */
  maxQueries?: number;
  /** Largest wasted DB time per request. */
  maxWastedMs?: number;
}

export interface GateOptions {
  /** Counted findings allowed over the whole run before it fails. */
  maxFindings: number;
  endpoints?: readonly EndpointBudget[];
  baseline?: Baseline;
  /** `YYYY-MM-DD`, for baseline expiry. */
  today: string;
  /** Whether the report looked at a baseline entry's endpoint and table (model.ts reportScope); entries it left out are not fixed. All when absent. */
  inScope?: (entry: BaselineEntry) => boolean;
}

/**
 * new: not in the baseline; expired: in it, but past `expires`; baselined: accepted;
 * not_counted: a kind that never counts toward the budget (advice such as hot_lookup).
 */
export type GateStatus = 'new' | 'expired' | 'baselined' | 'not_counted';

export interface GateFinding {
  endpoint: string;
  /** The endpoint's service: two services may serve an endpoint of the same name. */
  service: string;
  finding: ReportFinding;
  status: GateStatus;
  /** True when this finding is part of a budget that is exceeded. */
  failing: boolean;
  baseline?: BaselineEntry;
}

export interface EndpointBreach {
  endpoint: string;
  service: string;
  /** The budget's glob. */
  budget: string;
  limit: 'max-findings' | 'max-queries' | 'max-wasted-ms';
  actual: number;
  allowed: number;
}

export interface GateResult {
  findings: GateFinding[];
  breaches: EndpointBreach[];
  /** Baseline entries no longer found. */
  fixed: BaselineEntry[];
  /** Whether a baseline was given: without one no finding is new or unchanged against it (SARIF baselineState). */
  withBaseline: boolean;
  /** Counted (new or expired) findings under the global budget, and that budget. */
  counted: number;
  maxFindings: number;
  overBudget: boolean;
}

/** The kinds that count against a budget: the query loops. */
export const countsTowardBudget = (kind: FindingKind): boolean => kind === 'n_plus_one' || kind === 'repeated_write';

export function judge(report: Report, options: GateOptions): GateResult {
  const accepted = new Map((options.baseline?.findings ?? []).map((e) => [e.signature, e]));
  const budgets = (options.endpoints ?? []).map((b) => ({ budget: b, matches: endpointMatcher(b.match) }));
  const findings: GateFinding[] = [];
  const breaches: EndpointBreach[] = [];
  const global: GateFinding[] = [];
  const present = new Set<string>();

  for (const e of report.endpoints) {
    const budget = budgets.find((b) => b.matches(e.endpoint))?.budget;
    const local: GateFinding[] = [];
    for (const f of e.findings) {
      present.add(f.signature);
      const entry = accepted.get(f.signature);
      const status: GateStatus = !countsTowardBudget(f.kind)
        ? 'not_counted'
        : entry === undefined
          ? 'new'
          : entry.expires !== undefined && entry.expires <= options.today
            ? 'expired'
            : 'baselined';
      const g: GateFinding = { endpoint: e.endpoint, service: e.service, finding: f, status, failing: false, ...(entry === undefined ? {} : { baseline: entry }) };
      findings.push(g);
      if (status === 'new' || status === 'expired') (budget?.maxFindings === undefined ? global : local).push(g);
    }
    if (budget === undefined) continue;
    const breach = (limit: EndpointBreach['limit'], actual: number, allowed: number | undefined): boolean => {
      if (allowed === undefined || actual <= allowed) return false;
      breaches.push({ endpoint: e.endpoint, service: e.service, budget: budget.match, limit, actual, allowed });
      return true;
    };
    if (breach('max-findings', local.length, budget.maxFindings)) for (const g of local) g.failing = true;
    breach('max-queries', e.queriesPerRequest.max, budget.maxQueries);
    breach('max-wasted-ms', e.wastedMsPerRequest, budget.maxWastedMs);
  }
  if (global.length > options.maxFindings) for (const g of global) g.failing = true;
  const fixed = (options.baseline?.findings ?? []).filter((e) => !present.has(e.signature) && (options.inScope?.(e) ?? true));
  return {
    findings,
    breaches,
    fixed,
    withBaseline: options.baseline !== undefined,
    counted: global.length,
    maxFindings: options.maxFindings,
    overBudget: breaches.length > 0 || findings.some((g) => g.failing),
  };
}

/** Today in UTC as `YYYY-MM-DD`. */
export const isoDay = (ms: number): string => new Date(ms).toISOString().slice(0, 10);
