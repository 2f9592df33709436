/**
 * The Analyzer's path (assembleColumns + analyseColumns, DB spans left in the trace's columns)
 * against the object path (assembleTrace + analyseRequest, a DbSpan per span): the same analyses
 * for any trace, timelines included.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SpanKind, type SpanRecord } from '../otlp/span.js';
import { createSqlNormalizer } from '../sql/index.js';
import { assembleTrace } from '../traces/assemble.js';
import { StatementSplitter } from '../otlp/statement-split.js';
import { assembleColumns, CompactTrace } from '../traces/compact.js';
import { RecentSpans } from '../traces/recent.js';
import { createNoiseFilter } from '../sql/noise.js';
import type { NormalizedSql } from '../sql/types.js';
import type { Request } from '../traces/request.js';
import { fullCollection } from '../server/heap.js';
import { connectionSetupOf, holdsConnection, OBSERVABLE_SYSTEMS, SETUP_AT_START, SETUP_OPENS } from './connections.js';
import { sqlCommenterTags } from '../sql/sqlcommenter.js';
import { analyseColumns, analyseRequest, releaseTimeline, timelineReleased } from './request.js';
import { APPLICATIONS, AUTH_USER, DASHBOARD_ROW, SESSION } from './testing.js';
import type { CodeLocation, RequestAnalysis } from './types.js';

/**
 * What the one pass over the columns computes, as the object path first computed it (a DbSpan
 * per span, then a pass each for noise, groups, locations, the timeline and connection use).
 */
function reference(request: Request, minRepeats: number): Partial<RequestAnalysis> & { firsts: number[] } {
  const normalize = createSqlNormalizer();
  const isNoise = createNoiseFilter();
  const noise: Record<string, number> = {};
  const kept: { span: Request['dbSpans'][number]; n: NormalizedSql }[] = [];
  for (const span of request.dbSpans) {
    const n = normalize(span.statement);
    const rule = isNoise(n);
    if (rule === null) kept.push({ span, n });
    else noise[rule] = (noise[rule] ?? 0) + 1;
  }
  const groups = new Map<string, number[]>();
  kept.forEach(({ n }, i) => groups.set(n.fingerprint, [...(groups.get(n.fingerprint) ?? []), i]));
  const locationOf = (indices: number[]): CodeLocation | undefined => {
    const counts = new Map<CodeLocation, number>();
    let best: CodeLocation | undefined;
    for (const i of indices) {
      const location = kept[i]!.span.location;
      if (location === undefined) continue;
      counts.set(location, (counts.get(location) ?? 0) + 1);
      if (best === undefined || counts.get(location)! > counts.get(best)!) best = location;
    }
    if (best?.view !== undefined) return best;
    const controller = sqlCommenterTags(kept[indices[0]!]!.span.statement)?.controller;
    return controller === undefined ? best : { ...best, view: controller };
  };
  // Connection use: the spans on a server connection (not SQLite's); a role set only at a connection's start.
  const spans = request.dbSpans.filter((s) => holdsConnection(s.system));
  let opened = 0;
  let previous = false;
  spans.forEach((s, i) => {
    const setup = connectionSetupOf(s.statement);
    const counts = setup === SETUP_OPENS || (setup === SETUP_AT_START && (i === 0 || previous));
    if (counts && !previous) opened++;
    previous = counts;
  });
  return {
    noise,
    dbSpans: kept.length,
    dbMs: kept.reduce((sum, k) => sum + k.span.durationMs, 0),
    uses: [...groups.values()].map((indices) => {
      const { n } = kept[indices[0]!]!;
      const durations = indices.map((i) => kept[i]!.span.durationMs);
      const location = locationOf(indices);
      return {
        fingerprint: n.fingerprint, sql: n.sql, facts: n.facts, executions: indices.length, totalMs: durations.reduce((a, b) => a + b, 0),
        maxMs: Math.max(0, ...durations), durationsMs: durations, ...(location === undefined ? {} : { location }),
      };
    }),
    firsts: [...groups.values()].filter((indices) => indices.length >= minRepeats).map((indices) => indices[0]!),
    timeline: kept.map(({ span, n }) => ({ offsetMs: span.startMs - request.startMs, durationMs: span.durationMs, fingerprint: n.fingerprint })),
    connection:
      spans.length === 0
        ? null
        : {
            opened,
            observable: OBSERVABLE_SYSTEMS.has(spans[0]!.system),
            postgresql: spans[0]!.system === 'postgresql',
            heldFromMs: spans[0]!.startMs,
            heldUntilMs: Math.max(request.startMs + request.durationMs, ...spans.map((s) => s.startMs + s.durationMs)),
            dbMs: spans.reduce((sum, s) => sum + s.durationMs, 0),
          },
  };
}

const T = 'c'.repeat(32);
const COMMENT = "/*controller='dashboard',route='dashboard/',traceparent='00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'*/";
const STATEMENTS = [
  SESSION,
  AUTH_USER,
  APPLICATIONS,
  `${APPLICATIONS} ${COMMENT}`,
  ...[0, 1, 2].flatMap((r) => DASHBOARD_ROW.map((row) => row(r))),
  `${DASHBOARD_ROW[0]!(1)} ${COMMENT}`,
  'UPDATE "recruit_note" SET "body" = %s WHERE "recruit_note"."id" = %s',
  'INSERT INTO "recruit_note" ("body") VALUES (%s), (%s)',
  // Framework noise and connection set-up: dropped from detection, counted by connection use.
  "SELECT set_config('TimeZone', %s, false)",
  'SET ROLE "reporting"',
  'SET search_path = public',
  'SELECT 1',
  'BEGIN',
  'COMMIT',
];
const LOCATIONS: CodeLocation[] = [
  { file: 'recruit/views.py', line: 12, function: 'dashboard' },
  { file: 'recruit/templates/dashboard.html', line: 4, template: 'dashboard.html', templateLine: 4, view: 'recruit.views.dashboard' },
];

/** A request span and `queries` DB spans of one statement, 1 ms apart, in columns. */
function dashboardTrace(queries: number): CompactTrace {
  const compact = new CompactTrace();
  compact.add({ traceId: T, spanId: '00000000000000aa', parentSpanId: '', name: 'GET dashboard/', kind: SpanKind.SERVER, startMs: 100, endMs: 200, service: 'recruit', httpRoute: 'dashboard/', httpMethod: 'GET' });
  for (let i = 0; i < queries; i++) {
    compact.add({ traceId: T, spanId: `00000000000000b${i}`, parentSpanId: '00000000000000aa', name: 'q', kind: SpanKind.CLIENT, startMs: 110 + i, endMs: 110.5 + i, service: 'recruit', dbSystem: 'postgresql', dbStatement: AUTH_USER });
  }
  return compact;
}

describe('analysis straight from the columns', () => {
  it('gives what the object path gives, for any trace', () => {
    // Few ids, so parents, copies and cycles happen; two that are not 16 lowercase hex digits.
    const ids = ['', '0000000000000001', '0000000000000002', '0000000000000003', 'ffffffff00000002', 'ABCDEF0123456789', 'odd'];
    const db = fc.record({
      spanId: fc.oneof(fc.constantFrom(...ids.slice(1)), fc.integer({ min: 16, max: 4000 }).map((n) => n.toString(16).padStart(16, '0'))),
      parent: fc.constantFrom(...ids),
      statement: fc.nat(STATEMENTS.length - 1),
      repeat: fc.integer({ min: 1, max: 7 }),
      startMs: fc.integer({ min: 0, max: 500 }),
      duration: fc.double({ min: 0, max: 40, noNaN: true }),
      location: fc.option(fc.nat(LOCATIONS.length - 1), { nil: undefined }),
      system: fc.constantFrom('postgresql', 'sqlite'),
    });
    const request = fc.record({
      spanId: fc.constantFrom(...ids.slice(1)),
      kind: fc.constantFrom(SpanKind.SERVER, SpanKind.CONSUMER),
      route: fc.constantFrom('dashboard/', '^((?:[\\w\\-]+/)*)$', ''),
      startMs: fc.double({ min: 0, max: 20, noNaN: true }),
    });
    const options = fc.record({ minRepeats: fc.integer({ min: 2, max: 6 }), fanoutMinCalls: fc.constantFrom(1, 3) });
    fc.assert(
      fc.property(fc.array(request, { minLength: 0, maxLength: 2 }), fc.array(db, { maxLength: 12 }), options, fc.boolean(), (requests, drafts, opts, outbound) => {
        const spans: SpanRecord[] = requests.map((r, i) => ({
          traceId: T, spanId: r.spanId, parentSpanId: i === 0 ? '' : ids[1]!, name: `GET /pages/${i}/`, kind: r.kind, startMs: r.startMs, endMs: r.startMs + 600,
          service: 'recruit', httpMethod: 'GET', httpTarget: `/blog/${i}/`, ...(r.route === '' ? {} : { httpRoute: r.route }),
        }));
        let n = 0;
        for (const d of drafts) {
          // A run of the same statement, as an N+1 loop gives; ids follow on from the draft's.
          for (let k = 0; k < d.repeat; k++) {
            const s: SpanRecord = {
              traceId: T, spanId: k === 0 ? d.spanId : (0x10000 + n).toString(16).padStart(16, '0'), parentSpanId: d.parent, name: 'q', kind: SpanKind.CLIENT,
              startMs: d.startMs + k * 1.1, endMs: d.startMs + k * 1.1 + d.duration, service: 'recruit', dbSystem: d.system, dbStatement: STATEMENTS[d.statement]!,
            };
            if (d.location !== undefined) s.location = LOCATIONS[d.location]!;
            spans.push(s);
            n++;
          }
        }
        if (outbound) spans.push({ traceId: T, spanId: '0000000000000fff', parentSpanId: ids[1]!, name: 'POST', kind: SpanKind.CLIENT, startMs: 30, endMs: 400, service: 'recruit', httpMethod: 'POST', peer: 'hr.local' });
        const compact = new CompactTrace();
        for (const s of spans) compact.add(s);
        const columns = assembleColumns(compact).map((r) => analyseColumns(r, createSqlNormalizer(), opts));
        const objects = assembleTrace(spans).map((r) => analyseRequest(r, createSqlNormalizer(), opts));
        expect(columns).toEqual(objects);
        // The same with sqlcommenter's comments split off the statements into their own column.
        const split = new CompactTrace();
        const splitter = new StatementSplitter();
        for (const s of spans) split.add(s, splitter);
        expect(assembleColumns(split).map((r) => analyseColumns(r, createSqlNormalizer(), opts))).toEqual(objects);
        expect(columns.map((a) => a.timeline)).toEqual(objects.map((a) => a.timeline));
        // Both go through analyseColumns: the per-span pass is also checked against a plain reading.
        const requestsOf = assembleTrace(spans);
        columns.forEach((a, i) => {
          const { firsts, ...expected } = reference(requestsOf[i]!, opts.minRepeats);
          expect({ noise: a.noise, dbSpans: a.dbSpans, dbMs: a.dbMs, uses: a.uses, timeline: a.timeline, connection: a.connection }).toEqual(expected);
          for (const c of a.cascades) expect(firsts).toContain(c.firstIndex);
        });
      }),
      { numRuns: 500 },
    );
  });

  it('builds the timeline only when read, and takes a replacement', () => {
    const compact = dashboardTrace(3);
    const [analysis] = assembleColumns(compact).map((r) => analyseColumns(r, createSqlNormalizer()));
    expect(analysis!.timeline.map((t) => [t.offsetMs, t.durationMs])).toEqual([[10, 0.5], [11, 0.5], [12, 0.5]]);
    expect(analysis!.timeline).toBe(analysis!.timeline);
    analysis!.timeline = [];
    expect(analysis!.timeline).toEqual([]);
    expect(JSON.parse(JSON.stringify({ ...analysis, timeline: undefined })).dbSpans).toBe(3);
  });

  it('lets go of its spans when released: the timeline then throws, the rest reads as before', () => {
    const compact = dashboardTrace(6);
    const [kept, released, read] = [0, 1, 2].map(() => analyseColumns(assembleColumns(compact)[0]!, createSqlNormalizer()));
    expect(read!.timeline).toHaveLength(6);
    releaseTimeline(released!);
    releaseTimeline(read!); // a timeline already read goes too
    expect(timelineReleased(kept!)).toBe(false);
    expect([released, read].map((a) => timelineReleased(a!))).toEqual([true, true]);
    expect(() => released!.timeline).toThrow(/timeline of trace c{32} was released/);
    expect(() => read!.timeline).toThrow(/was released/);
    const field = (a: RequestAnalysis, key: string): unknown => (a as unknown as Record<string, unknown>)[key];
    for (const key of Object.keys(kept!)) if (key !== 'timeline') expect(field(released!, key)).toEqual(field(kept!, key));
    // Analyses not made from columns keep no spans: nothing to release.
    const plain = { ...kept!, timeline: kept!.timeline };
    releaseTimeline(plain);
    expect(timelineReleased(plain)).toBe(false);
    expect(plain.timeline).toHaveLength(6);
  });

  it("lets its trace's columns be collected once released, which a held analysis kept alive until then", async () => {
    const collect = async (): Promise<void> => {
      await new Promise((resolve) => setImmediate(resolve)); // a WeakRef's target lives to the end of the job that made it
      fullCollection();
    };
    const made = (): { analysis: RequestAnalysis; columns: WeakRef<object> } => {
      const compact = dashboardTrace(6);
      return { analysis: analyseColumns(assembleColumns(compact)[0]!, createSqlNormalizer()), columns: new WeakRef(compact.dbCols) };
    };
    const { analysis, columns } = made();
    await collect();
    expect(columns.deref()).toBeDefined();
    releaseTimeline(analysis);
    await collect();
    expect(columns.deref()).toBeUndefined();
    expect(analysis.dbSpans).toBe(6);
  });
});

describe('RecentSpans from id words', () => {
  it('remembers a span id given as its two words exactly as given as its string', () => {
    const hex = fc.stringMatching(/^[0-9a-f]{16}$/);
    fc.assert(
      fc.property(fc.array(hex, { minLength: 1, maxLength: 20 }), fc.array(hex, { maxLength: 20 }), (added, probes) => {
        const byString = new RecentSpans();
        const byWords = new RecentSpans();
        for (const id of added) {
          byString.add(id);
          byWords.addWords(parseInt(id.slice(0, 8), 16), parseInt(id.slice(8), 16));
        }
        for (const id of [...added, ...probes]) expect(byWords.has(id)).toBe(byString.has(id));
      }),
    );
  });
});
