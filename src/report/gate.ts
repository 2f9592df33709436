/**
 * The CI verdict on a report: which findings fail the build (new, or past their baseline expiry,
 * beyond the budget), which the baseline accepts, which baselined ones are fixed, and which
 * per-endpoint budgets are broken. Pure: the report, the budgets and today's date in, a verdict out.
 */
import type { FindingKind } from '../detect/types.js';
import { baselineLookup, minRepeatsOf, type Baseline, type BaselineEntry, type BaselineScope } from './baseline.js';
import { endpointMatcher, reportScope, unroundedWastedMs, type Report, type ReportFinding } from './model.js';

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
  /**
   * What the run looked at (its flags, as a baseline records them): baseline entries it left out
   * are not fixed, and its differences from the baseline's own scope are told (scopeNotes).
   */
  scope?: BaselineScope;
  /** Signatures the run detected and left out for --min-wasted-ms: their entries are not fixed either. */
  belowMinWasted?: ReadonlySet<string>;
  /**
   * The run saw a slice of the traffic (one service, a time window, a pull): an entry whose endpoint
   * had no request in it is not fixed, as nothing looked at that endpoint.
   */
  slice?: boolean;
}

/**
 * new: not in the baseline; expired: in it, but past `expires`; baselined: accepted;
 * not_counted: a kind that never counts toward the budget (advice such as hot_lookup);
 * unscoped: not in the baseline, and outside the scope the baseline was written in (left out by its
 * --min-wasted-ms, --endpoint, --ignore-*, --service), so neither new nor accepted: it does not count.
 */
export type GateStatus = 'new' | 'expired' | 'baselined' | 'not_counted' | 'unscoped';

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
  /** Signatures the baseline holds an entry of for more than one service: a fixed line names its entry's service (fixedService). */
  sharedSignatures: ReadonlySet<string>;
  /** Whether a baseline was given: without one no finding is new or unchanged against it (SARIF baselineState). */
  withBaseline: boolean;
  /**
   * How this run's scope differs from the one the baseline was written in, one line each
   * (`--min-wasted-ms: 5 in the baseline, 0 in this run`); empty when they agree or the baseline
   * records none.
   */
  scopeNotes: string[];
  /** Counted (new or expired) findings under the global budget, and that budget. */
  counted: number;
  maxFindings: number;
  overBudget: boolean;
}

/** The kinds that count against a budget: the query loops. */
export const countsTowardBudget = (kind: FindingKind): boolean => kind === 'n_plus_one' || kind === 'repeated_write';

/** The kinds --min-repeats decides: the loops (a warm_up is one). */
const isLoop = (kind: FindingKind): boolean => countsTowardBudget(kind) || kind === 'warm_up';

/**
 * Whether a finding is one a run of scope `scope` would list (the baseline's flags): the globs, the
 * service, test-suite runs' lack of hot_lookup, --min-wasted-ms per request of its endpoint, and
 * --min-repeats above the run's `runScope`: a loop that never ran that often in one request was not
 * found. At or below the run's it leaves out nothing the run found, and two scopes without one may
 * both be a store's (--db records none), whose loops serve's own --min-repeats found.
 */
function withinScope(scope: BaselineScope, runScope: BaselineScope): (at: { endpoint: string; service: string; requests: number; finding: ReportFinding }) => boolean {
  const listed = reportScope(scope);
  const minRepeats = minRepeatsOf(scope) > minRepeatsOf(runScope) ? minRepeatsOf(scope) : 0;
  return ({ endpoint, service, requests, finding: f }) =>
    !(isLoop(f.kind) && f.repeatsPerRequest.max < minRepeats) &&
    listed({ endpoint, table: f.table, kind: f.kind }) &&
    (scope.service === undefined || service === scope.service) &&
    // The exact waste, as the baseline's run compared it: 4.96 ms is under 5 though the report shows 5.0.
    (scope.minWastedMs === undefined || unroundedWastedMs(f) >= scope.minWastedMs * Math.max(1, requests));
}

/**
 * Whether the run looked where a baseline entry was found, so that its absence means it is fixed:
 * within the run's flags (model.ts reportScope) and service, not left out by its --min-wasted-ms, a
 * loop only if its --min-repeats is not above the baseline's (how often the entry's loop ran is not
 * recorded: a higher threshold may have passed over any of them), on an endpoint (of the entry's
 * service) it saw when it saw a slice of the traffic, and, when it ran a selection of tests, on the
 * same selection the baseline was written from. A rewritten baseline keeps the entries it did not look at.
 */
export function lookedAt(report: Report, options: Pick<GateOptions, 'scope' | 'belowMinWasted' | 'slice' | 'baseline'>): (entry: BaselineEntry) => boolean {
  const scope = options.scope ?? {};
  const inScope = reportScope(scope);
  const seen = new Set(report.endpoints.flatMap((e) => [e.endpoint, `${e.service}\n${e.endpoint}`]));
  const seenAt = (entry: BaselineEntry): boolean => seen.has(entry.service === undefined ? entry.endpoint : `${entry.service}\n${entry.endpoint}`);
  // An entry without a service (an older file's) is every service's: a run of one did not look at the others.
  const otherService = (entry: BaselineEntry): boolean => scope.service !== undefined && entry.service !== scope.service;
  // A baseline written before scopes were recorded counts as written at the default.
  const fewerRepeats = minRepeatsOf(scope) > minRepeatsOf(options.baseline?.scope ?? {});
  // Only a run of a selection of tests can have left the baseline's tests unrun: the whole suite ran
  // every test a baseline written from a selection looked at.
  const otherTests = scope.tests !== undefined && scope.tests !== options.baseline?.scope?.tests;
  return (entry) =>
    !otherTests &&
    inScope(entry) &&
    !otherService(entry) &&
    !(fewerRepeats && isLoop(entry.kind)) &&
    !(options.belowMinWasted?.has(entry.signature) ?? false) &&
    !(options.slice === true && !seenAt(entry));
}

/** The parts of two scopes that differ, as lines for the verdict. */
export function scopeDifferences(baseline: BaselineScope, run: BaselineScope): string[] {
  const list = (globs: string[] | undefined): string => (globs === undefined || globs.length === 0 ? 'none' : globs.map((g) => `"${g}"`).join(', '));
  const quoted = (text: string | undefined, none: string): string => (text === undefined ? none : `"${text}"`);
  const parts: [string, string, string][] = [
    ['--endpoint', quoted(baseline.endpoint, 'all'), quoted(run.endpoint, 'all')],
    ['--ignore-endpoint', list(baseline.ignoreEndpoints), list(run.ignoreEndpoints)],
    ['--ignore-table', list(baseline.ignoreTables), list(run.ignoreTables)],
    ['--min-wasted-ms', String(baseline.minWastedMs ?? 0), String(run.minWastedMs ?? 0)],
    ['--min-repeats', String(minRepeatsOf(baseline)), String(minRepeatsOf(run))],
    ['--test-suite', baseline.testSuite === true ? 'on' : 'off', run.testSuite === true ? 'on' : 'off'],
    ['--service', quoted(baseline.service, 'all'), quoted(run.service, 'all')],
    ['--since', quoted(baseline.since, 'all'), quoted(run.since, 'all')],
    ['tests', quoted(baseline.tests, 'the whole suite'), quoted(run.tests, 'the whole suite')],
  ];
  return parts.filter(([, a, b]) => a !== b).map(([flag, a, b]) => `${flag}: ${a} in the baseline, ${b} in this run`);
}

export function judge(report: Report, options: GateOptions): GateResult {
  const accepted = baselineLookup(options.baseline?.findings ?? []);
  // A baseline that records its scope accepted nothing outside it: such findings are not new.
  const recorded = options.baseline?.scope === undefined ? undefined : withinScope(options.baseline.scope, options.scope ?? {});
  const budgets = (options.endpoints ?? []).map((b) => ({ budget: b, matches: endpointMatcher(b.match) }));
  const findings: GateFinding[] = [];
  const breaches: EndpointBreach[] = [];
  const global: GateFinding[] = [];
  const matched = new Set<BaselineEntry>();

  for (const e of report.endpoints) {
    const budget = budgets.find((b) => b.matches(e.endpoint))?.budget;
    const local: GateFinding[] = [];
    for (const f of e.findings) {
      const entry = accepted(f.signature, e.service);
      if (entry !== undefined) matched.add(entry);
      const status: GateStatus = !countsTowardBudget(f.kind)
        ? 'not_counted'
        : entry === undefined
          ? recorded !== undefined && !recorded({ endpoint: e.endpoint, service: e.service, requests: e.requests, finding: f })
            ? 'unscoped'
            : 'new'
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
  const looked = lookedAt(report, options);
  const fixed = (options.baseline?.findings ?? []).filter((e) => !matched.has(e) && looked(e));
  return {
    findings,
    breaches,
    fixed,
    sharedSignatures: sharedSignatures(options.baseline?.findings ?? []),
    withBaseline: options.baseline !== undefined,
    scopeNotes: scopeNotes(options),
    counted: global.length,
    maxFindings: options.maxFindings,
    overBudget: breaches.length > 0 || findings.some((g) => g.failing),
  };
}

function sharedSignatures(entries: readonly BaselineEntry[]): Set<string> {
  const services = new Map<string, Set<string | undefined>>();
  for (const e of entries) services.set(e.signature, (services.get(e.signature) ?? new Set()).add(e.service));
  return new Set([...services].filter(([, s]) => s.size > 1).map(([signature]) => signature));
}

/** ` (service web)` after a fixed entry's endpoint when another service's entry has its signature, so the line says which entry to remove; else nothing. */
export const fixedService = (entry: BaselineEntry, gate: Pick<GateResult, 'sharedSignatures'>): string =>
  entry.service !== undefined && gate.sharedSignatures.has(entry.signature) ? ` (service ${entry.service})` : '';

/** What the verdict says above the scope notes. */
export const SCOPE_HEAD =
  "this run's scope is not the baseline's: findings outside the baseline's scope are neither new nor fixed, and entries this run did not look at are not fixed";

/** How the run's scope differs from the baseline's, and, with a selection of tests, that nothing is called fixed. */
function scopeNotes(options: GateOptions): string[] {
  if (options.baseline === undefined) return [];
  const run = options.scope ?? {};
  const recorded = options.baseline.scope;
  if (recorded !== undefined) return scopeDifferences(recorded, run);
  return run.tests === undefined ? [] : [`tests: "${run.tests}" in this run, unknown in the baseline (written before baselines recorded their scope)`];
}

/** Today in UTC as `YYYY-MM-DD`. */
export const isoDay = (ms: number): string => new Date(ms).toISOString().slice(0, 10);
