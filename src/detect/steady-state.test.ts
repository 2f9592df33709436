import { describe, expect, it } from 'vitest';
import { buildReport, budgetFindings } from '../report/model.js';
import { createSqlNormalizer } from '../sql/index.js';
import { detectEndpoint } from './endpoint.js';
import { analyseRequest } from './request.js';
import { RollupSet, emptyEndpointRollup, mergeRollups } from './rollup.js';
import { requestOf, type Step } from './testing.js';

const normalize = createSqlNormalizer();
const PAGES = 'SELECT "blog_page"."id", "blog_page"."image_id" FROM "blog_page" ORDER BY "blog_page"."id"';
const image = (r: number): string => `SELECT "images_image"."id", "images_image"."file" FROM "images_image" WHERE "images_image"."id" = ${r} LIMIT 21`;
const rendition = (r: number): string =>
  `SELECT "images_rendition"."id" FROM "images_rendition" WHERE ("images_rendition"."image_id" = ${r} AND "images_rendition"."filter_spec" = 'fill-100x100') LIMIT 21`;
const perRow = (rows: number, f: (r: number) => string): Step => ({ sql: f, rows });

function analyses(stepsPerRequest: Step[][], endpoint = 'GET blog/') {
  return stepsPerRequest.map((steps, i) => analyseRequest(requestOf(endpoint, steps, { traceId: (i + 1).toString(16).padStart(32, '0'), startMs: i * 1000 }), normalize));
}

describe('framework noise in detection', () => {
  it("leaves Django's SQLite debug QUOTE queries out of cascades, counts and the timeline, and counts them", () => {
    const steps: Step[] = [PAGES];
    for (let r = 0; r < 8; r++) steps.push('SELECT QUOTE(?), QUOTE(?)', image(r));
    const [a] = analyses([steps]);
    expect(a!.cascades.map((c) => c.facts.table)).toEqual(['images_image']);
    expect(a!.dbSpans).toBe(9);
    expect(a!.timeline).toHaveLength(9);
    expect(a!.noise).toEqual({ django_sqlite_debug_quote: 8 });
  });

  it('adds the counts up through rollups into the report summary; a user pattern drops more', () => {
    const set = new RollupSet();
    for (const a of analyses([["SELECT set_config('TimeZone', 'UTC', false)", PAGES], ["SELECT set_config('TimeZone', 'UTC', false)", 'SELECT QUOTE(?)', PAGES]])) set.add(a);
    expect(buildReport(set.values()).summary.frameworkQueriesDropped).toEqual({
      total: 3,
      byRule: { django_sqlite_debug_quote: 1, postgres_set_config: 2 },
    });
    const user = analyseRequest(requestOf('GET x/', [PAGES, 'SELECT "k" FROM "constance_config"']), normalize, { ignoreSql: ['constance_config'] });
    expect(user.noise).toEqual({ user_pattern: 1 });
    const none = new RollupSet();
    for (const a of analyses([[PAGES]])) none.add(a);
    expect(buildReport(none.values()).summary).not.toHaveProperty('frameworkQueriesDropped');
  });
});

describe('steady state, not warm-up', () => {
  // The first visit generates renditions (cold cache); the next four read them in one query.
  const cold: Step[] = [PAGES, perRow(12, rendition)];
  const warm: Step[] = [PAGES, 'SELECT "images_rendition"."id" FROM "images_rendition" WHERE "images_rendition"."image_id" IN (1, 2, 3)'];

  it('calls a loop seen in fewer than half the requests warm_up, which never counts toward the budget', () => {
    const set = new RollupSet();
    for (const a of analyses([cold, warm, warm, warm, warm])) set.add(a);
    const [rollup] = set.values();
    const findings = detectEndpoint(rollup!);
    expect(findings.map((f) => f.kind)).toEqual(['warm_up']);
    const report = buildReport(set.values());
    expect(report.endpoints[0]!.findings[0]!.suggestion.method).toBe('manual');
    expect(report.endpoints[0]!.findings[0]!.suggestion.code).toMatch(/1 of 5 requests: first-visit work/);
    expect(report.endpoints[0]!.fix).toBe('');
    expect(report.endpoints[0]!.wastedMsPerRequest).toBe(0);
    expect(budgetFindings(report)).toBe(0);
    // --min-share 0.2: one request in five is enough to count as the steady state.
    expect(detectEndpoint(rollup!, { minShare: 0.2 }).map((f) => f.kind)).toEqual(['n_plus_one']);
  });

  it('keeps a loop in most requests an N+1', () => {
    const set = new RollupSet();
    for (const a of analyses([cold, cold, warm])) set.add(a);
    expect(detectEndpoint(set.values()[0]!).map((f) => f.kind)).toEqual(['n_plus_one']);
  });

  it('gives the same verdict on rollups merged by addition (hours, instances) as on one rollup', () => {
    const all = analyses([cold, warm, warm, warm, warm, warm]);
    const whole = new RollupSet();
    for (const a of all) whole.add(a);
    // Split so the first part alone (cold + warm) would say "n_plus_one" with too few requests.
    const [first, second] = [new RollupSet(), new RollupSet()];
    for (const a of all.slice(0, 2)) first.add(a);
    for (const a of all.slice(2)) second.add(a);
    const merged = emptyEndpointRollup('GET blog/', 'recruit');
    mergeRollups(merged, first.values()[0]!);
    mergeRollups(merged, second.values()[0]!);
    expect(detectEndpoint(merged).map((f) => f.kind)).toEqual(detectEndpoint(whole.values()[0]!).map((f) => f.kind));
    expect(detectEndpoint(merged).map((f) => f.kind)).toEqual(['warm_up']);
  });

  it('says steady state is unknown under 3 requests, and still reports the loop as N+1', () => {
    const set = new RollupSet();
    for (const a of analyses([cold])) set.add(a);
    const [e] = buildReport(set.values()).endpoints;
    expect(e!.steadyState).toBe('unknown');
    expect(e!.findings.map((f) => f.kind)).toEqual(['n_plus_one']);
    const three = new RollupSet();
    for (const a of analyses([cold, cold, cold])) three.add(a);
    expect(buildReport(three.values()).endpoints[0]).not.toHaveProperty('steadyState');
  });

  it('under --test-suite keeps a loop seen in one test of several an N+1 that counts, and has no steady state to be unsure of', () => {
    // Three tests of one page: one with rows (the N+1), two for a user with none.
    const set = new RollupSet();
    for (const a of analyses([cold, warm, warm])) set.add(a);
    const [rollup] = set.values();
    expect(detectEndpoint(rollup!).map((f) => f.kind)).toEqual(['warm_up']);
    expect(detectEndpoint(rollup!, { testSuite: true }).map((f) => f.kind)).toEqual(['n_plus_one']);
    // --min-share has nothing to judge in a test suite.
    expect(detectEndpoint(rollup!, { testSuite: true, minShare: 1 }).map((f) => f.kind)).toEqual(['n_plus_one']);
    const report = buildReport(set.values(), { testSuite: true });
    expect(report.endpoints[0]!.findings.map((f) => f.kind)).toEqual(['n_plus_one']);
    expect(report.endpoints[0]!.findings[0]!.suggestion.code).not.toMatch(/first-visit work/);
    expect(budgetFindings(report)).toBe(1);
    const one = new RollupSet();
    for (const a of analyses([cold])) one.add(a);
    expect(buildReport(one.values(), { testSuite: true }).endpoints[0]).not.toHaveProperty('steadyState');
  });

  it('never calls repeated multi-row INSERT … VALUES (…), (…) a write loop: it is bulk_create already', () => {
    const bulk = (r: number): string => `INSERT INTO "taggit_taggeditem" ("tag_id", "object_id") VALUES (${r}, 1), (${r}, 2), (${r}, 3)`;
    const single = (r: number): string => `INSERT INTO "taggit_taggeditem" ("tag_id", "object_id") VALUES (${r}, 1)`;
    const [a] = analyses([[perRow(6, bulk)]]);
    expect(a!.cascades).toEqual([]);
    const [b] = analyses([[perRow(6, single)]]);
    expect(b!.cascades.map((c) => c.kind)).toEqual(['repeated_write']);
  });
});
