/** What each page shows, read from the store: the overview's ranked endpoints with trends, one endpoint, one finding with its waterfall. Pure reads, no HTML. */
import { ENDPOINT_DETECT_DEFAULTS } from '../detect/endpoint.js';
import type { FindingKind } from '../detect/types.js';
import { applyAcknowledgements, isActive, signatureOf, type Acknowledgement, type AcknowledgedFinding } from '../report/acknowledge.js';
import type { SignedKind } from '../report/signature.js';
import type { EndpointRollup } from '../detect/rollup.js';
import {
  buildReport,
  buildServiceFindings,
  reportSummary,
  summariseReport,
  type EndpointSummary,
  type Report,
  type ReportEndpoint,
  type ReportFinding,
  type ReportOptions,
  type ServiceFinding,
} from '../report/model.js';
import { DAY_MS, HOUR_MS, MINUTE_MS } from '../report/period.js';
import type { StoredFinding, Store } from '../store/store.js';
import { FilterError, type Filters } from './filters.js';
import { mainTable } from './sql-format.js';

/** What every page needs besides the request: the store, report settings, the clock, the trace link. */
export interface UiContext {
  store: Store;
  report?: Omit<ReportOptions, 'endpoint'>;
  nowMs: number;
  /** `https://jaeger…/trace/{traceId}`: makes example trace ids links. */
  traceUrl?: string;
  /** The dead_view window when the filters give none (`serve --dead-after`). */
  deadAfterMs?: number;
}

/** Time buckets of a chart: `count` buckets of `sizeMs` from `startMs`. */
export interface Axis {
  startMs: number;
  sizeMs: number;
  count: number;
}

export interface Bucket {
  startMs: number;
  requests: number;
  dbSpans: number;
  wastedMs: number;
}

export interface FindingBucket {
  startMs: number;
  requestsAffected: number;
  executions: number;
  wastedMs: number;
}

export interface OverviewRow {
  /** The store's endpoint id: its page is /endpoints/:id. */
  id: number | undefined;
  /** The report's figures for it (those of /api/report), without the fixes. */
  endpoint: EndpointSummary;
  /** Wasted DB time over the period (per request × requests): the rank. */
  wastedMs: number;
  kinds: FindingKind[];
  tables: string[];
  trend: Bucket[];
}

export interface Overview {
  filters: Filters;
  services: string[];
  summary: Report['summary'];
  /** connection_pressure and dead_view, apart from the ranking. */
  serviceFindings: NonNullable<Report['serviceFindings']>;
  axis: Axis;
  rows: OverviewRow[];
}

export interface EndpointView {
  filters: Filters;
  id: number;
  endpoint: ReportEndpoint;
  axis: Axis;
  trend: Bucket[];
}

/** One row of the waterfall: a fingerprint and every execution of it in the example request. */
export interface WaterfallLane {
  fingerprint: string;
  sql: string;
  role: 'trigger' | 'repeat' | 'other';
  spans: { index: number; offsetMs: number; durationMs: number }[];
}

export interface Waterfall {
  traceId: string;
  totalMs: number;
  spans: number;
  lanes: WaterfallLane[];
}

export interface FindingView {
  filters: Filters;
  id: number;
  /** Its signature (DESIGN "Signature"), the key of acknowledgements and baselines. */
  signature: string;
  /** The table the signature was made with: the report's, else the one its SQL names (the finding may be out of the report). */
  table: string;
  /** The decision in force about it, if any. */
  acknowledgement: Acknowledgement | undefined;
  endpointId: number | undefined;
  stored: StoredFinding;
  /** The report's view of it (fix, repeats) in the period, or over all time when the period has none. */
  finding: AcknowledgedFinding | undefined;
  axis: Axis;
  trend: FindingBucket[];
  waterfall: Waterfall | undefined;
  traceLink: string | undefined;
}

const round1 = (n: number): number => Math.round(n * 10) / 10;
const key = (...parts: string[]): string => parts.join('\u0000');
const isStoredKind = (k: FindingKind): boolean => k === 'n_plus_one' || k === 'repeated_write';

/**
 * Bucket sizes a chart may use, smallest first; the first that fits the period in ≤ 48 bars wins.
 * Past a year, the size doubles until the period fits: every size is whole weeks from 7 days up, so
 * the store's week summaries fill its buckets.
 */
const BUCKET_SIZES = [HOUR_MS, 3 * HOUR_MS, 6 * HOUR_MS, 12 * HOUR_MS, DAY_MS, 7 * DAY_MS, 14 * DAY_MS, 28 * DAY_MS, 91 * DAY_MS, 364 * DAY_MS];
/** Minute buckets, for a period of at most 4 hours that starts where the store keeps minute rows. */
const MINUTE_BUCKET_SIZES = [MINUTE_MS, 2 * MINUTE_MS, 5 * MINUTE_MS];
const MAX_BUCKETS = 48;

/** True when a period's chart is drawn in minute buckets (and its rows read by the minute): short, and within the store's minute rows (`horizonMs`, Store.minuteReadHorizon). */
function minuteChart(filters: Pick<Filters, 'sinceMs' | 'untilMs'>, nowMs: number, horizonMs: number): boolean {
  if (filters.sinceMs === undefined || filters.sinceMs < horizonMs) return false;
  return (filters.untilMs ?? nowMs) - filters.sinceMs <= MAX_BUCKETS * MINUTE_BUCKET_SIZES[MINUTE_BUCKET_SIZES.length - 1]!;
}

/** The period a chart reads: by the minute when its axis is in minutes. */
const chartPeriodOf = (f: Filters, nowMs: number, horizonMs: number) => ({ ...periodOf(f), ...(minuteChart(f, nowMs, horizonMs) ? { byMinute: true } : {}) });

/**
 * The chart axis of a period: at most 48 buckets, hour-aligned (minute-aligned for a short recent
 * period, see minuteChart). `all` starts at the first stored hour (`firstMs`, the period's first row),
 * and so does a period reaching back further than 48 weeks before it: a `from=1900-01-01` draws the
 * data, not a century of empty bars. Every chart allocates a bucket per bar and endpoint, so the
 * count is bounded whatever the period.
 */
export function axisOf(filters: Pick<Filters, 'sinceMs' | 'untilMs'>, nowMs: number, horizonMs: number, firstMs: number | undefined): Axis {
  const untilMs = filters.untilMs ?? nowMs;
  let sinceMs = filters.sinceMs ?? firstMs ?? untilMs - HOUR_MS;
  if (firstMs !== undefined && firstMs > sinceMs && untilMs - sinceMs > MAX_BUCKETS * 7 * DAY_MS) sinceMs = firstMs;
  const sizes = minuteChart(filters, nowMs, horizonMs) ? MINUTE_BUCKET_SIZES : BUCKET_SIZES;
  const countOf = (sizeMs: number): number => Math.max(1, Math.ceil((untilMs - Math.floor(sinceMs / sizeMs) * sizeMs) / sizeMs));
  let sizeMs = sizes.find((s) => countOf(s) <= MAX_BUCKETS) ?? sizes[sizes.length - 1]!;
  while (countOf(sizeMs) > MAX_BUCKETS) sizeMs *= 2;
  return { startMs: Math.floor(sinceMs / sizeMs) * sizeMs, sizeMs, count: countOf(sizeMs) };
}

function bucketIndex(axis: Axis, ms: number): number | undefined {
  const i = Math.floor((ms - axis.startMs) / axis.sizeMs);
  return i >= 0 && i < axis.count ? i : undefined;
}

function emptyBuckets(axis: Axis): Bucket[] {
  return Array.from({ length: axis.count }, (_, i) => ({ startMs: axis.startMs + i * axis.sizeMs, requests: 0, dbSpans: 0, wastedMs: 0 }));
}

const periodOf = (f: Filters) => ({
  ...(f.sinceMs === undefined ? {} : { sinceMs: f.sinceMs }),
  ...(f.untilMs === undefined ? {} : { untilMs: f.untilMs }),
});

/** What filterReport narrows: a report, or the overview's summary of one. */
type Narrowable<E> = { summary: Report['summary']; endpoints: E[] };
type NarrowableEndpoint = { service: string; endpoint: string; requests: number; wastedMsPerRequest: number; findings: { kind: FindingKind; table: string; wastedMs: number }[] };

/**
 * Finding kinds and text search narrow a report: endpoints keep the matching findings; the summary
 * is recounted over the endpoints kept, from their rollups (`rollups` may hold more), framework
 * queries left out included.
 */
export function filterReport<R extends Narrowable<NarrowableEndpoint>>(report: R, filters: Pick<Filters, 'kind' | 'q'>, rollups: readonly EndpointRollup[]): R {
  type E = R['endpoints'][number];
  const q = filters.q?.toLowerCase();
  const endpoints: E[] = [];
  for (const e of report.endpoints) {
    let findings = e.findings;
    if (filters.kind !== undefined) findings = findings.filter((f) => f.kind === filters.kind);
    if (filters.kind !== undefined && findings.length === 0) continue;
    if (q !== undefined && !e.endpoint.toLowerCase().includes(q)) {
      const byTable = findings.filter((f) => f.table.toLowerCase().includes(q));
      if (byTable.length === 0) continue;
      findings = byTable;
    }
    endpoints.push(findings === e.findings ? e : { ...e, findings });
  }
  if (endpoints.length === report.endpoints.length && endpoints.every((e, i) => e === report.endpoints[i])) return report;
  // Queries outside any request are no endpoint's: narrowing the endpoints leaves them as they were.
  const outside = report.summary.queriesOutsideRequests;
  return { ...report, summary: { ...reportSummary(rollups, endpoints), ...(outside === undefined ? {} : { queriesOutsideRequests: outside }) }, endpoints };
}

/** The report settings for a request: serve's, plus dead views when a window applies (the filter's, or serve --dead-after). */
async function reportOptionsOf(ctx: UiContext, filters: Filters): Promise<Omit<ReportOptions, 'endpoint'>> {
  const urls = ctx.report?.schema?.urls;
  if (filters.deadAfterMs !== undefined && urls === undefined) {
    throw new FilterError('deadAfter needs serve --schema with the URLconf (re-run manage.py n1lens_schema)');
  }
  const deadAfterMs = filters.deadAfterMs ?? (urls === undefined ? undefined : ctx.deadAfterMs);
  return { ...ctx.report, ...(deadAfterMs === undefined ? {} : { deadViews: await ctx.store.deadViews(urls ?? [], deadAfterMs, ctx.nowMs) }) };
}

/**
 * Whether a service finding stays under a service filter: connection_pressure is its service's; a
 * dead view is the URLconf's (the schema is the app's, whatever its services are called), so it stays.
 */
const ofService = (f: ServiceFinding, service: string): boolean => f.kind === 'dead_view' || f.service === service;

/** The store query of the filters; `endpointName` picks one endpoint by its exact name (a page's) instead of the filters' glob. */
const queryOf = (filters: Filters, endpointName?: string) => ({
  ...periodOf(filters),
  ...(filters.service === undefined ? {} : { service: filters.service }),
  ...(endpointName !== undefined ? { endpointName } : filters.endpoint === undefined ? {} : { endpoint: filters.endpoint }),
});

/**
 * The report of a period as the API serves it: filtered, each stored finding carrying its `id`.
 * With `endpointName`, of that endpoint only (compared exactly: a name holding `*` is no glob).
 */
export async function servedReport(ctx: UiContext, filters: Filters, endpointName?: string): Promise<Report> {
  const { store } = ctx;
  const query = queryOf(filters, endpointName);
  // Read here rather than through store.report: a narrowed summary is recounted from them.
  const [rollups, connections, queriesOutsideRequests] = await Promise.all([store.rollups(query), store.connections(query), store.queriesOutsideRequests(query)]);
  const report = buildReport(rollups, { connections, queriesOutsideRequests, ...(await reportOptionsOf(ctx, filters)), ...('endpoint' in query ? { endpoint: query.endpoint } : {}) });
  const [findingIds, muted] = await Promise.all([store.findingIds(), store.acknowledgements()]);
  for (const e of report.endpoints) {
    for (const f of e.findings) {
      const id = isStoredKind(f.kind) ? findingIds.get(key(e.service, e.endpoint, f.fingerprint)) : undefined;
      if (id !== undefined) f.id = id;
    }
  }
  if (filters.service !== undefined && report.serviceFindings !== undefined) {
    report.serviceFindings = report.serviceFindings.filter((f) => ofService(f, filters.service!));
  }
  const decided = applyAcknowledgements(report, muted, ctx.nowMs, filters.includeAcknowledged ?? false);
  if (filters.kind === undefined && filters.q === undefined) return decided;
  return filterReport(decided, filters, rollups);
}

async function endpointIds(store: Store): Promise<Map<string, number>> {
  return new Map((await store.endpointRefs()).map((r) => [key(r.service, r.endpoint), r.id]));
}

function tablesOf(e: { findings: { table: string }[] }): string[] {
  return [...new Set(e.findings.map((f) => f.table).filter((t) => t !== ''))];
}

/**
 * Rows of 6-hour, day and week summaries are built once their period is this far behind the clock,
 * so requests still arriving for the last hour do not make them stale at once (a later write to an
 * hour only drops its blocks' summaries, which are rebuilt when next read).
 */
const SUMMARY_SETTLE_MS = 10 * 60_000;

/**
 * The overview: endpoints ranked by wasted DB time × traffic, each with its trend over the period.
 * Its figures are /api/report's (the same detectors and ranking over the same period), summed from
 * the store's period summaries instead of every hour's rollups, and without building fixes.
 */
export async function overview(ctx: UiContext, filters: Filters): Promise<Overview> {
  const { store } = ctx;
  const options = await reportOptionsOf(ctx, filters);
  const period = periodOf(filters);
  const closedBeforeMs = ctx.nowMs - SUMMARY_SETTLE_MS;
  const summaries = await store.periodSummary(queryOf(filters), { slowMs: options.slowMs ?? ENDPOINT_DETECT_DEFAULTS.slowMs, closedBeforeMs });
  const ranked = summariseReport(
    summaries.map((s) => s.rollup),
    options,
  );
  const { endpoints } = ranked;
  // Filters and acknowledgements copy endpoints, so ids and DB spans go by name.
  const idOf = new Map(summaries.map((s) => [key(s.rollup.service, s.rollup.endpoint), s.id]));
  const findingIds = await store.findingIds();
  for (const e of endpoints) {
    for (const f of e.findings) {
      const id = isStoredKind(f.kind) ? findingIds.get(key(e.service, e.endpoint, f.fingerprint)) : undefined;
      if (id !== undefined) f.id = id;
    }
  }
  let serviceFindings = buildServiceFindings({ connections: await store.connections(period), ...options });
  if (filters.service !== undefined) serviceFindings = serviceFindings.filter((f) => ofService(f, filters.service!));
  const decided = applyAcknowledgements(ranked, await store.acknowledgements(), ctx.nowMs, filters.includeAcknowledged ?? false);
  const report = filters.kind === undefined && filters.q === undefined ? decided : filterReport(decided, filters, summaries.map((s) => s.rollup));

  const horizonMs = store.minuteReadHorizon(ctx.nowMs);
  const axis = axisOf(filters, ctx.nowMs, horizonMs, await store.firstHour(period));
  const trends: Map<number, Bucket[]> = await store.trendBuckets(chartPeriodOf(filters, ctx.nowMs, horizonMs), axis, closedBeforeMs);
  const rows = report.endpoints.map((e): OverviewRow => {
    const id = idOf.get(key(e.service, e.endpoint));
    return {
      id,
      endpoint: e,
      wastedMs: round1(e.wastedMsPerRequest * e.requests),
      kinds: [...new Set(e.findings.map((f) => f.kind))],
      tables: tablesOf(e),
      trend: (id === undefined ? undefined : trends.get(id)) ?? emptyBuckets(axis),
    };
  });
  // Queries outside any request are no endpoint's: the period's (and service's), whatever the endpoints kept.
  const outside = await store.queriesOutsideRequests(queryOf(filters));
  const summary = outside > 0 ? { ...report.summary, queriesOutsideRequests: outside } : report.summary;
  return { filters, services: await store.services(), summary, serviceFindings, axis, rows };
}

/** One endpoint over the period; undefined when the store has no such id. */
export async function endpointView(ctx: UiContext, id: number, filters: Filters): Promise<EndpointView | undefined> {
  const { store } = ctx;
  const ref = (await store.endpointRefs()).find((r) => r.id === id);
  if (ref === undefined) return undefined;
  // The endpoint's own filters only narrow its findings; service is the endpoint's.
  // Its acknowledged and ignored findings stay on the page, marked, in a list of their own.
  // Only this endpoint's rows are read (by its exact name), so the page costs one endpoint, not the whole service.
  const { q: _q, endpoint: _glob, ...narrowing } = filters;
  const report = await servedReport(ctx, { ...narrowing, service: ref.service, includeAcknowledged: true }, ref.endpoint);
  const horizonMs = store.minuteReadHorizon(ctx.nowMs);
  const hours = await store.endpointHours(chartPeriodOf(filters, ctx.nowMs, horizonMs), id);
  const axis = axisOf(filters, ctx.nowMs, horizonMs, hours[0]?.hour);
  const trend = emptyBuckets(axis);
  for (const h of hours) {
    const i = bucketIndex(axis, h.hour);
    if (i === undefined) continue;
    trend[i]!.requests += h.requests;
    trend[i]!.dbSpans += h.dbSpans;
    trend[i]!.wastedMs += h.wastedMs;
  }
  const found = report.endpoints.find((e) => e.endpoint === ref.endpoint);
  const endpoint: ReportEndpoint = found ?? {
    endpoint: ref.endpoint,
    service: ref.service,
    requests: 0,
    queriesPerRequest: { p50: 0, max: 0 },
    wastedMsPerRequest: 0,
    requestsAffected: 0,
    fix: '',
    findings: [],
  };
  return { filters, id, endpoint, axis, trend };
}

/** The example request's DB calls as lanes, one per fingerprint in order of first call: the trigger's and the repeat's marked. */
export function waterfallOf(stored: StoredFinding, sql: ReadonlyMap<string, string>): Waterfall | undefined {
  const example = stored.example;
  if (example === null || example.timeline.length === 0) return undefined;
  const lanes = new Map<string, WaterfallLane>();
  example.timeline.forEach((t, index) => {
    let lane = lanes.get(t.fingerprint);
    if (lane === undefined) {
      const role = t.fingerprint === stored.fingerprint ? 'repeat' : t.fingerprint === stored.trigger?.fingerprint ? 'trigger' : 'other';
      lane = { fingerprint: t.fingerprint, sql: '', role, spans: [] };
      lanes.set(t.fingerprint, lane);
    }
    lane.spans.push({ index, offsetMs: t.offsetMs, durationMs: t.durationMs });
  });
  for (const lane of lanes.values()) lane.sql = sql.get(lane.fingerprint) ?? '';
  const totalMs = example.timeline.reduce((m, t) => Math.max(m, t.offsetMs + t.durationMs), 0);
  return { traceId: example.traceId, totalMs, spans: example.timeline.length, lanes: [...lanes.values()] };
}

/** Fills `{traceId}` in the --trace-url template. */
export function traceLink(template: string | undefined, traceId: string): string | undefined {
  if (template === undefined || traceId === '') return undefined;
  return template.replaceAll('{traceId}', encodeURIComponent(traceId));
}

/** One stored finding: its figures in the period, trend, example waterfall and trace link. */
export async function findingView(ctx: UiContext, id: number, filters: Filters): Promise<FindingView | undefined> {
  const { store } = ctx;
  const stored = await store.finding(id);
  if (stored === undefined) return undefined;
  const endpointId = (await endpointIds(store)).get(key(stored.service, stored.endpoint));
  const pick = async (f: Filters): Promise<ReportFinding | undefined> =>
    (await servedReport(ctx, { range: f.range, ...periodOf(f), service: stored.service, includeAcknowledged: true }, stored.endpoint))
      .endpoints.find((e) => e.endpoint === stored.endpoint)
      ?.findings.find((x) => x.id === id);
  const finding = (await pick(filters)) ?? (await pick({ range: 'all' }));
  const horizonMs = store.minuteReadHorizon(ctx.nowMs);
  const hours = await store.findingHours(id, chartPeriodOf(filters, ctx.nowMs, horizonMs));
  const axis = axisOf(filters, ctx.nowMs, horizonMs, hours[0]?.hour);
  const trend: FindingBucket[] = Array.from({ length: axis.count }, (_, i) => ({
    startMs: axis.startMs + i * axis.sizeMs,
    requestsAffected: 0,
    executions: 0,
    wastedMs: 0,
  }));
  for (const h of hours) {
    const i = bucketIndex(axis, h.hour);
    if (i === undefined) continue;
    trend[i]!.requestsAffected += h.requestsAffected;
    trend[i]!.executions += h.executions;
    trend[i]!.wastedMs += h.wastedMs;
  }
  const table = finding?.table ?? mainTable(stored.sql);
  // A stored loop's kind is n_plus_one or repeated_write: warm_up is a report's call on its traffic.
  const signature = signatureOf(stored.endpoint, { kind: stored.kind as SignedKind, table, fingerprint: stored.fingerprint });
  const acknowledgement = (await store.acknowledgements()).find((a) => a.signature === signature && isActive(a, ctx.nowMs));
  return {
    filters,
    id,
    signature,
    table,
    acknowledgement,
    endpointId,
    stored,
    finding,
    axis,
    trend,
    waterfall: waterfallOf(stored, await store.statementSql(stored.example?.timeline.map((t) => t.fingerprint) ?? [])),
    traceLink: traceLink(ctx.traceUrl, stored.example?.traceId ?? ''),
  };
}
