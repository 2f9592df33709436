/** Builds the report JSON (DESIGN "Report JSON") from endpoint rollups: the one shape every renderer, the API and the digest read. */
import { detectConnectionPressure, type ConnectionDetectOptions, type ConnectionPressure, type ConnectionRollup } from '../detect/connections.js';
import { detectEndpoint, type CascadeFinding, type EndpointDetectOptions, type EndpointFinding } from '../detect/endpoint.js';
import type { DeadView } from '../detect/routes.js';
import { countMax, countQuantile } from '../detect/histogram.js';
import type { EndpointRollup } from '../detect/rollup.js';
import type { CodeLocation, FindingKind, RelationStep } from '../detect/types.js';
import type { SqlOperation } from '../sql/types.js';
import { combinedFix, suggestCascade, type CascadeShape, type FixWhere, type Suggestion } from '../suggest/fix.js';
import { conventionNaming, schemaNaming, type Naming } from '../suggest/naming.js';
import { suggestCache, suggestConnectionFix, suggestDeadView, suggestIndex, suggestTaskQueue, type ColumnUse } from '../suggest/operational.js';
import type { DjangoSchema } from '../suggest/schema.js';

export interface ReportFinding {
  kind: FindingKind;
  operation: SqlOperation | 'HTTP';
  table: string;
  fingerprint: string;
  sql: string;
  repeatsPerRequest: { p50: number; max: number };
  requestsAffected: number;
  wastedMs: number;
  trigger: { fingerprint: string; table: string } | null;
  chain: string[];
  suggestion: Suggestion;
  exampleTraceId: string;
  /** hot_lookup: traffic and what caching saves. */
  /** callsPerDay and dbMsPerDay are null under ten minutes of observed traffic. */
  hotLookup?: { callsPerDay: number | null; shareOfRequests: number; meanMs: number; dbMsPerDay: number | null };
  /** sync_fanout: the serial calls and the latency a task queue removes. */
  syncFanout?: { callsPerRequest: number; outboundMsPerRequest: number; requestMsPerRequest: number; peers: string[] };
  /** slow_query: the observed p95. */
  slowQuery?: { p95Ms: number; executions: number };
}

export interface ReportEndpoint {
  endpoint: string;
  service: string;
  requests: number;
  queriesPerRequest: { p50: number; max: number };
  wastedMsPerRequest: number;
  /** Share of requests with at least one N+1 or write loop. */
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
  summary: { requests: number; dbSpans: number; findings: number; wastedMs: number };
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
}

const round1 = (n: number): number => Math.round(n * 10) / 10;

/** `GET dashboard/*` style globs: `*` matches anything, everything else literally. */
export function endpointMatcher(glob: string | undefined): (endpoint: string) => boolean {
  if (glob === undefined || glob === '') return () => true;
  const re = new RegExp(`^${glob.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
  return (endpoint) => re.test(endpoint);
}

function tablesOf(rollup: EndpointRollup): string[] {
  const tables: string[] = [];
  for (const f of rollup.fingerprints.values()) {
    if (f.facts.table) tables.push(f.facts.table);
    for (const j of f.facts.joins) tables.push(j.table);
  }
  return tables;
}

function chainNames(steps: RelationStep[], naming: Naming): string[] {
  return steps.map((s) => {
    if (s.kind === 'forward') return naming.forwardName(s.fromTable, s.column);
    if (s.kind === 'reverse') return naming.reverseName(s.fromTable, s.toTable, s.column).name;
    return naming.m2mName(s.fromTable, s.toTable, s.through, s.sourceColumn).name;
  });
}

/** The cascade as suggest/ reads it, with the trigger's joins (its statement is among the endpoint's fingerprints). */
function toShape({ cascade: c }: CascadeFinding, rollup: EndpointRollup): CascadeShape {
  const triggerFacts = c.trigger === null ? undefined : rollup.fingerprints.get(c.trigger.fingerprint)?.facts;
  return {
    kind: c.kind,
    table: c.facts.table,
    trigger: c.trigger,
    steps: c.steps,
    linked: c.linked,
    leaf: c.leaf,
    firstIndex: c.firstIndex,
    ...(triggerFacts === undefined ? {} : { triggerFacts }),
  };
}

/** Where the endpoint's fixes go: its route, for the framework profiles. */
function fixWhere(rollup: EndpointRollup, options: ReportOptions): FixWhere {
  const space = rollup.endpoint.indexOf(' ');
  return {
    endpoint: rollup.endpoint,
    route: space < 0 ? rollup.endpoint : rollup.endpoint.slice(space + 1),
    ...(options.schema === undefined ? {} : { schema: options.schema }),
  };
}

const isCascade = (f: EndpointFinding): f is CascadeFinding => f.kind === 'n_plus_one' || f.kind === 'repeated_write';

function reportFinding(f: EndpointFinding, naming: Naming, use: ColumnUse, rollup: EndpointRollup, where: FixWhere): ReportFinding {
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
  });
  switch (f.kind) {
    case 'n_plus_one':
    case 'repeated_write': {
      const c = f.cascade;
      const trigger = c.trigger === null ? null : { fingerprint: c.trigger.fingerprint, table: c.trigger.table };
      return { ...base, ...tail(trigger, chainNames(c.steps, naming), suggestCascade(toShape(f, rollup), naming, where)) };
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
const dbWaste = (f: { kind: FindingKind; wastedMs: number }): number => (f.kind === 'sync_fanout' ? 0 : f.wastedMs);

const findingsWaste = (e: ReportEndpoint): number => e.findings.reduce((sum, f) => sum + f.wastedMs, 0);

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
  const findings = detectEndpoint(rollup, options);
  const cascades = findings.filter(isCascade);
  const where = fixWhere(rollup, options);
  const fixLines = [combinedFix(cascades.map((c) => toShape(c, rollup)), naming, where)];
  // Every kind's fix is the code itself (cache, migration, task), under a comment naming what it cures.
  for (const f of findings) {
    if (f.kind === 'hot_lookup') fixLines.push(`# cache the ${naming.modelOf(f.facts.table)} lookup every request repeats\n${suggestCache(f, naming).code}`);
    if (f.kind === 'slow_query') fixLines.push(`# index ${suggestIndex(f, use).path} for the slow query\n${suggestIndex(f, use).code}`);
    if (f.kind === 'sync_fanout') fixLines.push(`# move the serial outbound calls off the request\n${suggestTaskQueue(f).code}`);
  }
  const totalWasted = findings.reduce((sum, f) => sum + dbWaste(f), 0);
  return {
    endpoint: rollup.endpoint,
    service: rollup.service,
    requests: rollup.requests,
    queriesPerRequest: { p50: countQuantile(rollup.queriesPerRequest, 0.5), max: countMax(rollup.queriesPerRequest) },
    wastedMsPerRequest: rollup.requests === 0 ? 0 : round1(totalWasted / rollup.requests),
    requestsAffected: rollup.requestsAffected,
    fix: fixLines.filter((l) => l !== '').join('\n'),
    findings: findings.map((f) => reportFinding(f, naming, use, rollup, where)),
  // Every kind's fix is the code itself (cache, migration, task), under a comment naming what it cures.
  };
}

/** The whole report, endpoints ranked by total wasted time (per request × traffic). */
export function buildReport(rollups: Iterable<EndpointRollup>, options: ReportOptions = {}): Report {
  const matches = endpointMatcher(options.endpoint);
  const all = [...rollups];
  const use = equalityUse(all);
  const endpoints = all
    .filter((r) => matches(r.endpoint))
    .map((r) => reportEndpoint(r, options, use))
    .sort(
      (a, b) =>
        b.wastedMsPerRequest * b.requests - a.wastedMsPerRequest * a.requests ||
        findingsWaste(b) - findingsWaste(a) ||
        a.endpoint.localeCompare(b.endpoint),
    );
  const kept = new Set(endpoints.map((e) => `${e.service}\u0000${e.endpoint}`));
  const keptRollups = all.filter((r) => kept.has(`${r.service}\u0000${r.endpoint}`));
  const serviceFindings = buildServiceFindings(options);
  return {
    n1lensReport: 1,
    summary: {
      requests: keptRollups.reduce((s, r) => s + r.requests, 0),
      dbSpans: keptRollups.reduce((s, r) => s + r.dbSpans, 0),
      findings: endpoints.reduce((s, e) => s + e.findings.length, 0),
      wastedMs: round1(endpoints.reduce((s, e) => s + e.wastedMsPerRequest * e.requests, 0)),
    },
    endpoints,
    ...(serviceFindings.length === 0 ? {} : { serviceFindings }),
  };
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
  pressures.sort((a, b) => b.connectionPressure!.peakConnections - a.connectionPressure!.peakConnections || a.service.localeCompare(b.service));
  out.push(...pressures);
  const order = { dead: 0, periodic: 1, no_traffic_yet: 2, unseen_in_file: 3 } as const;
  const views = [...(options.deadViews ?? [])].sort((a, b) => order[a.status] - order[b.status] || a.route.localeCompare(b.route));
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
