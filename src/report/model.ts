/** Builds the report JSON (DESIGN "Report JSON") from endpoint rollups: the one shape every renderer, the API and the digest read. */
import { readSplit, type EndpointSplit } from '../detect/catch-all.js';
import type { RefusedSpans } from '../otlp/span.js';
import { detectConnectionPressure, type ConnectionDetectOptions, type ConnectionPressure, type ConnectionRollup } from '../detect/connections.js';
import { detectEndpoint, STEADY_STATE_MIN_REQUESTS, type CascadeFinding, type EndpointDetectOptions, type EndpointFinding } from '../detect/endpoint.js';
import type { DeadView } from '../detect/routes.js';
import { countMax, countQuantile } from '../detect/histogram.js';
import type { EndpointRollup } from '../detect/rollup.js';
import { mostCommonLocation } from '../detect/location.js';
import type { CodeLocation, FindingKind, RelationStep } from '../detect/types.js';
import type { SqlOperation } from '../sql/types.js';
import { combinedFix, suggestCascade, type CascadeShape, type FixWhere, type Suggestion } from '../suggest/fix.js';
import { managerRewrite } from '../suggest/managers.js';
import { conventionNaming, schemaNaming, stepLabel, type Naming } from '../suggest/naming.js';
import { suggestCache, suggestConnectionFix, suggestDeadView, suggestIndex, suggestTaskQueue, type ColumnUse } from '../suggest/operational.js';
import type { DjangoSchema } from '../suggest/schema.js';
import { SchemaIndex, unknownNames } from '../suggest/validate.js';
import { wagtailSuggestion } from '../suggest/profiles/wagtail.js';
import { findingSignature, signedKind } from './signature.js';
import { compareText } from '../detect/order.js';

export interface ReportFinding {
  kind: FindingKind;
  operation: SqlOperation | 'HTTP';
  table: string;
  fingerprint: string;
  sql: string;
  repeatsPerRequest: { p50: number; max: number };
  /** How many of the endpoint's requests ran this finding's loop (or query, or calls): a count, not a share. */
  requestsAffected: number;
  wastedMs: number;
  /** The query the loop iterates, and where the app evaluates it. */
  trigger: { fingerprint: string; table: string; location?: CodeLocation } | null;
  chain: string[];
  suggestion: Suggestion;
  exampleTraceId: string;
  /** Where the repeated query is issued: the most common place among the requests seen. */
  location?: CodeLocation;
  /** A loop's other places issuing the same query (a second loop over other rows), most seen first: the same fix applies at each. */
  otherLocations?: CodeLocation[];
  /** hot_lookup: traffic and what caching saves. */
  /** callsPerDay and dbMsPerDay are null under ten minutes of observed traffic. */
  hotLookup?: { callsPerDay: number | null; shareOfRequests: number; meanMs: number; dbMsPerDay: number | null };
  /** sync_fanout: the serial calls and the latency a task queue removes. */
  syncFanout?: { callsPerRequest: number; outboundMsPerRequest: number; requestMsPerRequest: number; peers: string[] };
  /** slow_query: the observed p95. */
  slowQuery?: { p95Ms: number; executions: number };
  /** Stable identity across runs (report/signature.ts). */
  signature: string;
  /** The store's id for this finding (served reports): its page is /findings/:id. */
  id?: number;
}

export interface ReportEndpoint {
  endpoint: string;
  service: string;
  requests: number;
  /** A catch-all route's endpoint says how it was split off: by the page model served or the path's first segment. */
  split?: EndpointSplit;
  /** 'unknown' with fewer than 3 requests: warm-up (first-visit work) cannot be told from a steady-state N+1. Never under --test-suite. */
  steadyState?: 'unknown';
  queriesPerRequest: { p50: number; max: number };
  wastedMsPerRequest: number;
  /** How many of the endpoint's requests had at least one N+1 or write loop: a count, not a share (divide by `requests`). */
  requestsAffected: number;
  fix: string;
  findings: ReportFinding[];
}

/**
 * A finding about a service or the app as a whole rather than one endpoint's queries. They rank
 * apart from DB waste (their cost is risk and upkeep, not milliseconds) and never count toward the
 * CI budget: a test run's connections say nothing about production's.
 */
export interface ServiceFinding {
  kind: 'connection_pressure' | 'dead_view';
  service: string;
  /** The service (connection_pressure) or the route (dead_view). */
  subject: string;
  suggestion: Suggestion;
  connectionPressure?: ConnectionPressure;
  deadView?: DeadView;
  /** dead_view: the view's file and line from the URLconf export. */
  location?: CodeLocation;
}

export interface Report {
  n1lensReport: 1;
  summary: {
    requests: number;
    dbSpans: number;
    findings: number;
    wastedMs: number;
    /** Framework-internal statements left out of detection (sql/noise.ts), by rule; absent when none. */
    frameworkQueriesDropped?: { total: number; byRule: Record<string, number> };
    /** Spans of the input the decoders refused (a Zipkin span without a timestamp, a bad id), by reason; absent when none (and from a store). */
    spansDropped?: { total: number; byReason: Record<string, number> };
    /**
     * DB spans with no span above them (a test database's set-up under `manage.py test`, migrations,
     * a script), left out: no request's, no endpoint's; absent when none (and from a store).
     */
    queriesOutsideRequests?: number;
  };
  endpoints: ReportEndpoint[];
  /** connection_pressure and dead_view; absent when there are none. */
  serviceFindings?: ServiceFinding[];
}

export interface ReportOptions extends EndpointDetectOptions, ConnectionDetectOptions {
  /** Per-service connection rollups, for connection_pressure. */
  connections?: Iterable<ConnectionRollup>;
  /** Dead and periodic views, already judged against the traffic history (detect/routes.ts). */
  deadViews?: readonly DeadView[];
  /** The app's schema file: exact names. Conventions when absent. */
  schema?: DjangoSchema;
  /** Keep only endpoints whose name matches (a `*` glob). */
  endpoint?: string;
  /** Noise controls: endpoints and tables (globs) left out, and findings wasting less than this per request. */
  ignoreEndpoints?: readonly string[];
  ignoreTables?: readonly string[];
  minWastedMs?: number;
  /** Spans the decoders refused, by reason (OfflineAnalysis.refused): the summary's spansDropped. */
  refusedSpans?: RefusedSpans;
  /** Queries outside any request the analysis left out (AssemblerCounters.queriesOutsideRequests): the summary's. */
  queriesOutsideRequests?: number;
}

const round1 = (n: number): number => Math.round(n * 10) / 10;

/**
 * Each finding buildReport lists, with its waste before rounding to 0.1 ms (the report shows 5.0 for
 * 4.96). --min-wasted-ms compares the exact waste, so the gate, asking whether a baseline's
 * --min-wasted-ms would have listed a finding, must compare the same: kept beside the report, not in it.
 */
const exactWaste = new WeakMap<ReportFinding, number>();

/** A finding's waste as --min-wasted-ms compares it: unrounded for one buildReport made, else its report value. */
export const unroundedWastedMs = (f: ReportFinding): number => exactWaste.get(f) ?? f.wastedMs;

/**
 * `GET dashboard/*` style globs: `*` matches anything, everything else literally. Matched without a
 * regular expression, so no glob can make it backtrack: the literal parts between stars are found
 * left to right, each as early as it occurs (the first must start the name, the last end it), which
 * is a match exactly when the glob matches. Time is at most the name's length times the glob's.
 */
export function endpointMatcher(glob: string | undefined): (endpoint: string) => boolean {
  if (glob === undefined || glob === '') return () => true;
  const parts = glob.split('*');
  if (parts.length === 1) return (endpoint) => endpoint === glob;
  const head = parts[0]!;
  const tail = parts[parts.length - 1]!;
  const middle = parts.slice(1, -1).filter((p) => p !== '');
  return (endpoint) => {
    if (endpoint.length < head.length + tail.length || !endpoint.startsWith(head) || !endpoint.endsWith(tail)) return false;
    const end = endpoint.length - tail.length;
    let at = head.length;
    for (const part of middle) {
      const i = endpoint.indexOf(part, at);
      if (i < 0 || i + part.length > end) return false;
      at = i + part.length;
    }
    return true;
  };
}

/** True when the name matches any of the globs. */
export function anyGlob(globs: readonly string[] | undefined): (name: string) => boolean {
  const matchers = (globs ?? []).filter((g) => g !== '').map(endpointMatcher);
  return (name) => matchers.some((m) => m(name));
}

/**
 * Whether a report built with these options looks at an endpoint's findings of a kind on a table:
 * `--endpoint`, `--ignore-endpoint` and `--ignore-table` leave the rest out, and `--test-suite` every
 * hot_lookup (detect/endpoint.ts), which is no sign that they are fixed.
 */
export function reportScope(
  options: Pick<ReportOptions, 'endpoint' | 'ignoreEndpoints' | 'ignoreTables' | 'testSuite'>,
): (at: { endpoint: string; table: string; kind?: string }) => boolean {
  const wanted = endpointMatcher(options.endpoint);
  const ignoredEndpoint = anyGlob(options.ignoreEndpoints);
  const ignoredTable = anyGlob(options.ignoreTables);
  return ({ endpoint, table, kind }) =>
    wanted(endpoint) && !ignoredEndpoint(endpoint) && !(table !== '' && ignoredTable(table)) && !(options.testSuite === true && kind === 'hot_lookup');
}

function tablesOf(rollup: EndpointRollup): string[] {
  const tables: string[] = [];
  for (const f of rollup.fingerprints.values()) {
    if (f.facts.table) tables.push(f.facts.table);
    for (const j of f.facts.joins) tables.push(j.table);
  }
  return tables;
}

const chainNames = (steps: RelationStep[], naming: Naming): string[] => steps.map((s) => stepLabel(s, naming));

/**
 * The cascade as suggest/ reads it, with the trigger's joins (its statement is among the endpoint's
 * fingerprints) and where the loop runs (its view and code pick the framework's idiom).
 */
function toShape({ cascade: c, location }: CascadeFinding, rollup: EndpointRollup): CascadeShape {
  const triggerFacts = c.trigger === null ? undefined : rollup.fingerprints.get(c.trigger.fingerprint)?.facts;
  return {
    kind: c.kind,
    table: c.facts.table,
    trigger: c.trigger,
    steps: c.steps,
    linked: c.linked,
    leaf: c.leaf,
    firstIndex: c.firstIndex,
    facts: c.facts,
    sql: c.sql,
    ...(triggerFacts === undefined ? {} : { triggerFacts }),
    ...(location === undefined ? {} : { location }),
  };
}

/** Where the endpoint's fixes go, for the framework profiles: its route (each loop's location rides on its CascadeShape). */
function fixWhere(rollup: EndpointRollup, options: ReportOptions): FixWhere {
  const space = rollup.endpoint.indexOf(' ');
  return {
    endpoint: rollup.endpoint,
    route: space < 0 ? rollup.endpoint : rollup.endpoint.slice(space + 1),
    ...(options.schema === undefined ? {} : { schema: options.schema }),
  };
}

const isCascade = (f: EndpointFinding): f is CascadeFinding => f.kind === 'n_plus_one' || f.kind === 'repeated_write';

/** The trigger as the report prints it: its query, and where the code evaluates it most often. */
function triggerOf(c: CascadeFinding['cascade']): ReportFinding['trigger'] {
  if (c.trigger === null) return null;
  const location = mostCommonLocation(c.triggerLocations);
  return { fingerprint: c.trigger.fingerprint, table: c.trigger.table, ...(location === undefined ? {} : { location }) };
}

/** A warm-up loop is real work, but only on a cold cache or a first visit: say so rather than print a fix. */
function warmUpSuggestion(f: CascadeFinding, requests: number, naming: Naming): Suggestion {
  const model = naming.modelOf(f.cascade.facts.table);
  return {
    method: 'manual',
    path: model,
    code: `# ${model}: ${f.cascade.executions} queries in ${f.requestsAffected} of ${requests} requests: first-visit work (a cache filling, files generated once), not a per-request N+1`,
    confidence: 'inferred',
    note: 'seen in too few requests to be the steady state (--min-share); it does not count toward the budget',
  };
}

/** The schema's names, and the managers printed code reaches each model through (suggest/managers.ts). */
interface SchemaCheck {
  index: SchemaIndex;
  named: (text: string) => string;
}

/**
 * With a schema, a fix is printed only if every name in it exists on the model it is called on;
 * otherwise the finding says so (`manual`) instead of printing a call that would raise.
 */
function checked(suggestion: Suggestion, c: CascadeShape, naming: Naming, check: SchemaCheck | undefined): Suggestion {
  if (check === undefined || suggestion.method === 'manual') return suggestion;
  const { index, named } = check;
  const model = c.trigger === null ? undefined : index.byTable(c.trigger.table);
  // The code as printed: with each model's own manager (Catalogue.listed), which must exist too.
  const unknown = unknownNames(named(suggestion.code), index, model);
  if (unknown.length === 0) return suggestion;
  const u = unknown[0]!;
  const over = c.trigger === null ? 'the rows you loop over' : naming.modelOf(c.trigger.table);
  return {
    method: 'manual',
    path: suggestion.path,
    code:
      `# ${over}: no valid relation leads from the loop's rows to ${naming.modelOf(c.table)} ` +
      `(${u.model} has no ${u.call === 'manager' ? 'manager' : u.call === 'select_related' ? 'forward relation' : 'relation'} '${u.name}'${u.call === 'manager' ? '' : ` for ${u.call}`}): ` +
      `find the per-row call that loads ${naming.modelOf(c.table)} and hoist it out of the loop`,
    confidence: 'inferred',
    note: 'checked against the schema file: the ORM call read from SQL would raise FieldError / AttributeError when pasted',
  };
}

/**
 * A loop's fix: a framework profile's idiom first (Wagtail), the generic ORM call otherwise; both
 * checked against the schema. `combined` are the loops of the endpoint's combined fix, whose names it takes.
 */
function cascadeSuggestion(shape: CascadeShape, naming: Naming, where: FixWhere, check: SchemaCheck | undefined, combined: readonly CascadeShape[] = []): Suggestion {
  return withAsyncRead(checked(wagtailSuggestion(shape, naming, where.schema) ?? suggestCascade(shape, naming, where, combined), shape, naming, check));
}

/** A fetch-by-key loop in an async view (`await Author.objects.aget(pk=…)`) is cured the same way, without the await. */
function withAsyncRead(s: Suggestion): Suggestion {
  const r = s.readInstead;
  const m = r === undefined ? null : /^(\w+)\.objects\.get\((\w+=.+)\)$/.exec(r.insteadOf);
  if (r === undefined || m === null) return s;
  const text = `in async code, await ${m[1]}.objects.aget(${m[2]}) becomes ${r.read} too (after select_related, with no await)`;
  return { ...s, note: s.note === undefined ? text : `${s.note}; ${text}` };
}

function reportFinding(
  f: EndpointFinding,
  naming: Naming,
  use: ColumnUse,
  rollup: EndpointRollup,
  where: FixWhere,
  check: SchemaCheck | undefined,
  combined: readonly CascadeShape[],
): Omit<ReportFinding, 'signature'> {
  const base = {
    kind: f.kind,
    operation: f.facts?.operation ?? ('HTTP' as const),
    table: f.facts?.table ?? '',
    fingerprint: f.fingerprint,
    sql: f.sql,
    repeatsPerRequest: f.repeatsPerRequest,
    requestsAffected: f.requestsAffected,
    wastedMs: round1(f.wastedMs),
  };
  // Key order follows DESIGN's example: trigger, chain, suggestion, exampleTraceId, then details.
  const tail = (trigger: ReportFinding['trigger'], chain: string[], suggestion: Suggestion) => ({
    trigger,
    chain,
    suggestion,
    exampleTraceId: f.exampleTraceId,
    ...(f.location === undefined ? {} : { location: f.location }),
    ...(f.otherLocations === undefined ? {} : { otherLocations: f.otherLocations }),
  });
  switch (f.kind) {
    case 'n_plus_one':
    case 'repeated_write': {
      const c = f.cascade;
      const trigger = triggerOf(c);
      return { ...base, ...tail(trigger, chainNames(c.steps, naming), cascadeSuggestion(toShape(f, rollup), naming, where, check, combined)) };
    }
    case 'warm_up': {
      const c = f.cascade;
      const trigger = triggerOf(c);
      return { ...base, ...tail(trigger, chainNames(c.steps, naming), warmUpSuggestion(f, rollup.requests, naming)) };
    }
    case 'hot_lookup': {
      const { observedCalls: _observed, observedMs: _window, ...hot } = f.hotLookup;
      return { ...base, ...tail(null, [], suggestCache(f, naming)), hotLookup: hot };
    }
    case 'sync_fanout':
      return { ...base, ...tail(null, [], suggestTaskQueue(f)), syncFanout: f.syncFanout };
    case 'slow_query':
      return { ...base, ...tail(null, [], suggestIndex(f, use)), slowQuery: f.slowQuery };
  }
}

/**
 * Database time a finding wastes. sync_fanout's figure is request latency spent waiting on other
 * services, not database time, so it does not count toward an endpoint's rank or the summary.
 */
const dbWaste = (f: { kind: FindingKind; wastedMs: number }): number => (f.kind === 'sync_fanout' || f.kind === 'warm_up' ? 0 : f.wastedMs);

/** What ranks an endpoint: its findings' waste and traffic. */
type Ranked = { endpoint: string; requests: number; wastedMsPerRequest: number; findings: readonly { wastedMs: number }[] };

const findingsWaste = (e: Ranked): number => e.findings.reduce((sum, f) => sum + f.wastedMs, 0);

/** Report order: wasted DB time (per request × traffic), then the findings' own waste, then the name. */
export function byWaste(a: Ranked, b: Ranked): number {
  return b.wastedMsPerRequest * b.requests - a.wastedMsPerRequest * a.requests || findingsWaste(b) - findingsWaste(a) || compareText(a.endpoint, b.endpoint);
}

/** The findings an endpoint's report lists: detected, less ignored tables and those under minWastedMs per request. */
function listedFindings(rollup: EndpointRollup, options: ReportOptions): EndpointFinding[] {
  const ignoredTable = anyGlob(options.ignoreTables);
  const minWasted = (options.minWastedMs ?? 0) * Math.max(1, rollup.requests);
  return detectEndpoint(rollup, options).filter((f) => !(f.facts !== null && ignoredTable(f.facts.table)) && !(minWasted > 0 && f.wastedMs < minWasted));
}

/** Wasted DB ms per request: what the fixes would save (sync_fanout and warm_up do not count). */
const wastedPerRequest = (rollup: EndpointRollup, findings: readonly EndpointFinding[]): number =>
  rollup.requests === 0 ? 0 : round1(findings.reduce((sum, f) => sum + dbWaste(f), 0) / rollup.requests);

/** A finding's signature (signature.ts): a warm_up loop is signed as the loop it is. */
const signatureOfFinding = (rollup: EndpointRollup, f: EndpointFinding): string =>
  findingSignature({ endpoint: rollup.endpoint, kind: 'cascade' in f ? signedKind(f.kind, f.cascade.kind) : f.kind, table: f.facts?.table ?? '', fingerprint: f.fingerprint });

/** A finding as a ranking lists it: what it is and what it wastes, no fix. */
export interface FindingSummary {
  kind: FindingKind;
  table: string;
  fingerprint: string;
  wastedMs: number;
  /** Its identity (signature.ts), as the report gives it: acknowledgements are matched by it. */
  signature: string;
  id?: number;
}

/** An endpoint's figures as the report ranks it, without fixes, SQL or examples (the overview). */
export interface EndpointSummary {
  endpoint: string;
  service: string;
  requests: number;
  queriesPerRequest: { p50: number; max: number };
  wastedMsPerRequest: number;
  findings: FindingSummary[];
}

/** The figures reportEndpoint gives an endpoint, computed the same way, minus the suggestions (the costly part). */
export function summariseEndpoint(rollup: EndpointRollup, options: ReportOptions = {}): EndpointSummary {
  const findings = listedFindings(rollup, options);
  return {
    endpoint: rollup.endpoint,
    service: rollup.service,
    requests: rollup.requests,
    queriesPerRequest: { p50: countQuantile(rollup.queriesPerRequest, 0.5), max: countMax(rollup.queriesPerRequest) },
    wastedMsPerRequest: wastedPerRequest(rollup, findings),
    findings: findings.map((f) => ({ kind: f.kind, table: f.facts?.table ?? '', fingerprint: f.fingerprint, wastedMs: round1(f.wastedMs), signature: signatureOfFinding(rollup, f) })),
  };
}

/**
 * The signatures of the findings a report built with `options` leaves out for --min-wasted-ms alone
 * (it lists the others): the gate does not call their baseline entries fixed.
 */
export function belowMinWasted(rollups: Iterable<EndpointRollup>, options: ReportOptions): Set<string> {
  const out = new Set<string>();
  const min = options.minWastedMs ?? 0;
  if (min <= 0) return out;
  const wanted = endpointMatcher(options.endpoint);
  const ignored = anyGlob(options.ignoreEndpoints);
  const ignoredTable = anyGlob(options.ignoreTables);
  for (const rollup of rollups) {
    if (!wanted(rollup.endpoint) || ignored(rollup.endpoint)) continue;
    for (const f of detectEndpoint(rollup, options)) {
      if (!(f.facts !== null && ignoredTable(f.facts.table)) && f.wastedMs < min * Math.max(1, rollup.requests)) out.add(signatureOfFinding(rollup, f));
    }
  }
  return out;
}

/** Executions filtering each `table.column` with `=`, over every endpoint (see ColumnUse). */
function equalityUse(rollups: readonly EndpointRollup[]): ColumnUse {
  const use = new Map<string, number>();
  for (const r of rollups) {
    for (const f of r.fingerprints.values()) {
      for (const ref of f.facts.equalityFilters) use.set(ref, (use.get(ref) ?? 0) + f.executions);
    }
  }
  return use;
}

/** One endpoint's section of the report. */
export function reportEndpoint(rollup: EndpointRollup, options: ReportOptions = {}, use: ColumnUse = equalityUse([rollup])): ReportEndpoint {
  const tables = tablesOf(rollup);
  const naming = options.schema === undefined ? conventionNaming(tables) : schemaNaming(options.schema, tables);
  const findings = listedFindings(rollup, options);
  const where = fixWhere(rollup, options);
  const named = managerRewrite(options.schema, tables);
  const check = options.schema === undefined ? undefined : { index: new SchemaIndex(options.schema), named };
  // Only loops whose own fix passes the schema check join the combined fix; loops a profile
  // (Wagtail) writes in its own idiom are chained onto it afterwards.
  const profiled: { model: string; code: string }[] = [];
  const cascades = findings.filter(isCascade).filter((f) => {
    if (f.kind === 'repeated_write') return true;
    const shape = toShape(f, rollup);
    const own = wagtailSuggestion(shape, naming, options.schema);
    const suggestion = cascadeSuggestion(shape, naming, where, check);
    if (own !== null) {
      if (suggestion.method !== 'manual' && shape.trigger !== null) profiled.push({ model: naming.modelOf(shape.trigger.table), code: suggestion.code });
      return false;
    }
    return suggestion.method !== 'manual';
  });
  const combined = cascades.map((c) => toShape(c, rollup));
  const fixLines = [withProfiled(combinedFix(combined, naming, where), profiled)];
  // Every kind's fix is the code itself (cache, migration, task), under a comment naming what it cures.
  for (const f of findings) {
    if (f.kind === 'hot_lookup') fixLines.push(`# cache the ${naming.modelOf(f.facts.table)} lookup every request repeats\n${suggestCache(f, naming).code}`);
    if (f.kind === 'slow_query') fixLines.push(`# index ${suggestIndex(f, use).path} for the slow query\n${suggestIndex(f, use).code}`);
    if (f.kind === 'sync_fanout') fixLines.push(`# move the serial outbound calls off the request\n${suggestTaskQueue(f).code}`);
  }
  return {
    endpoint: rollup.endpoint,
    service: rollup.service,
    requests: rollup.requests,
    ...splitOf(rollup.endpoint),
    // A test suite has no steady state to be unsure of: its loops are never warm-up.
    ...(!options.testSuite && rollup.requests < STEADY_STATE_MIN_REQUESTS ? { steadyState: 'unknown' as const } : {}),
    queriesPerRequest: { p50: countQuantile(rollup.queriesPerRequest, 0.5), max: countMax(rollup.queriesPerRequest) },
    wastedMsPerRequest: wastedPerRequest(rollup, findings),
    requestsAffected: rollup.requestsAffected,
    fix: named(fixLines.filter((l) => l !== '').join('\n')),
    findings: findings.map((f) => {
      const finding = reportFinding(f, naming, use, rollup, where, check, combined);
      const listed: ReportFinding = { ...finding, suggestion: withManagers(finding.suggestion, named), signature: signatureOfFinding(rollup, f) };
      exactWaste.set(listed, f.wastedMs);
      return listed;
    }),
  };
}

/** The whole report, endpoints ranked by total wasted time (per request × traffic). */
export function buildReport(rollups: Iterable<EndpointRollup>, options: ReportOptions = {}): Report {
  const wanted = endpointMatcher(options.endpoint);
  const ignored = anyGlob(options.ignoreEndpoints);
  const matches = (endpoint: string): boolean => wanted(endpoint) && !ignored(endpoint);
  const all = [...rollups];
  const use = equalityUse(all);
  const endpoints = all
    .filter((r) => matches(r.endpoint))
    .map((r) => reportEndpoint(r, options, use))
    .sort(byWaste);
  const serviceFindings = buildServiceFindings(options);
  return {
    n1lensReport: 1,
    summary: {
      ...reportSummary(all, endpoints),
      ...spansDropped(options.refusedSpans),
      ...(options.queriesOutsideRequests ? { queriesOutsideRequests: options.queriesOutsideRequests } : {}),
    },
    endpoints,
    ...(serviceFindings.length === 0 ? {} : { serviceFindings }),
  };
}

/**
 * buildReport's endpoints and summary without the fixes: the same filters, detectors and order, for
 * a ranking that does not show fixes (the overview). Service findings are left to the caller.
 */
export function summariseReport(rollups: Iterable<EndpointRollup>, options: ReportOptions = {}): { summary: Report['summary']; endpoints: EndpointSummary[] } {
  const wanted = endpointMatcher(options.endpoint);
  const ignored = anyGlob(options.ignoreEndpoints);
  const all = [...rollups];
  const endpoints = all
    .filter((r) => wanted(r.endpoint) && !ignored(r.endpoint))
    .map((r) => summariseEndpoint(r, options))
    .sort(byWaste);
  return { summary: reportSummary(all, endpoints), endpoints };
}

/** The summary's spansDropped: nothing when no span was refused. */
function spansDropped(refused: RefusedSpans | undefined): Pick<Report['summary'], 'spansDropped'> {
  const byReason: Record<string, number> = {};
  let total = 0;
  for (const [reason, n] of Object.entries(refused ?? {})) {
    if (!n) continue;
    byReason[reason] = n;
    total += n;
  }
  return total === 0 ? {} : { spansDropped: { total, byReason: sortedKeys(byReason) } };
}

/** The report's summary over the endpoints it lists (`rollups` may hold more: only the listed ones count). */
export function reportSummary(rollups: readonly EndpointRollup[], endpoints: readonly (Ranked & { service: string })[]): Report['summary'] {
  const kept = new Set(endpoints.map((e) => `${e.service}\u0000${e.endpoint}`));
  const keptRollups = rollups.filter((r) => kept.has(`${r.service}\u0000${r.endpoint}`));
  const byRule: Record<string, number> = {};
  let dropped = 0;
  for (const r of keptRollups) {
    for (const [rule, n] of r.noiseDropped) {
      byRule[rule] = (byRule[rule] ?? 0) + n;
      dropped += n;
    }
  }
  return {
    requests: keptRollups.reduce((s, r) => s + r.requests, 0),
    dbSpans: keptRollups.reduce((s, r) => s + r.dbSpans, 0),
    findings: endpoints.reduce((s, e) => s + e.findings.length, 0),
    wastedMs: round1(endpoints.reduce((s, e) => s + e.wastedMsPerRequest * e.requests, 0)),
    ...(dropped > 0 ? { frameworkQueriesDropped: { total: dropped, byRule: sortedKeys(byRule) } } : {}),
  };
}

function splitOf(endpoint: string): { split?: EndpointSplit } {
  const split = readSplit(endpoint);
  return split === null ? {} : { split };
}

/** The suggestion with every `Model.objects` of a model that has no `objects` manager named by its default manager (suggest/managers.ts). */
function withManagers(s: Suggestion, named: (text: string) => string): Suggestion {
  const out: Suggestion = { ...s, code: named(s.code) };
  if (s.note !== undefined) out.note = named(s.note);
  if (s.placement !== undefined) out.placement = named(s.placement);
  if (s.readInstead !== undefined) out.readInstead = { ...s.readInstead, read: named(s.readInstead.read), insteadOf: named(s.readInstead.insteadOf) };
  return out;
}

/** Chains each profiled call onto the combined queryset of the same model, or adds its own line. */
function withProfiled(combined: string, profiled: readonly { model: string; code: string }[]): string {
  const lines = combined === '' ? [] : combined.split('\n');
  for (const { model, code } of profiled) {
    const at = lines.findIndex((l) => l.startsWith(`${model}.objects`));
    if (at < 0) lines.push(`${model}.objects${code}`);
    else if (!lines[at]!.includes(code)) lines[at] += code;
  }
  return lines.join('\n');
}

function sortedKeys(counts: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(counts).sort(([a], [b]) => compareText(a, b)));
}

/** connection_pressure per service (highest share of max_connections first), then dead views by route. */
export function buildServiceFindings(options: ReportOptions): ServiceFinding[] {
  const out: ServiceFinding[] = [];
  const pressures: ServiceFinding[] = [];
  for (const rollup of options.connections ?? []) {
    const p = detectConnectionPressure(rollup, options);
    if (p === null) continue;
    pressures.push({ kind: 'connection_pressure', service: rollup.service, subject: rollup.service, suggestion: suggestConnectionFix(p), connectionPressure: p });
  }
  pressures.sort((a, b) => b.connectionPressure!.peakConnections - a.connectionPressure!.peakConnections || compareText(a.service, b.service));
  out.push(...pressures);
  const order = { dead: 0, periodic: 1, too_short_window: 2, too_little_traffic: 3, no_traffic_yet: 4, unseen_in_file: 5 } as const;
  const views = [...(options.deadViews ?? [])].sort((a, b) => order[a.status] - order[b.status] || compareText(a.route, b.route));
  for (const v of views) {
    const location: CodeLocation = { view: v.view };
    if (v.file !== undefined) location.file = v.file;
    if (v.line !== undefined) location.line = v.line;
    out.push({ kind: 'dead_view', service: '', subject: v.route, suggestion: suggestDeadView(v), deadView: v, location });
  }
  return out;
}

/** Findings that count against the CI budget: the query loops (N+1 and write loops). */
export function budgetFindings(report: Report): number {
  return report.endpoints.reduce(
    (s, e) => s + e.findings.filter((f) => f.kind === 'n_plus_one' || f.kind === 'repeated_write').length,
    0,
  );
}
