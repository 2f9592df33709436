import { beforeAll, describe, expect, it } from 'vitest';
import { analyseFiles } from '../cli/report.js';
import { diffReports, renderDiff } from './diff.js';
import { buildReport, type Report } from './model.js';
import { endpoint, finding, report } from '../../test/report-fixture.js';

const fixture = new URL('../otlp/testdata/django-sqlite-stable-semconv.otlp.pb', import.meta.url).pathname;
let before: Report;
let after: Report;
beforeAll(async () => {
  const { rollups } = await analyseFiles([fixture], { minRepeats: 5 });
  before = buildReport(rollups.values());
  // The fix applied: the dashboard runs the optimised queryset's 4 queries and has no finding left.
  after = structuredClone(before);
  const dashboard = after.endpoints.find((e) => e.endpoint === 'GET dashboard/')!;
  Object.assign(dashboard, { queriesPerRequest: { p50: 4, max: 4 }, wastedMsPerRequest: 0, findings: [] });
});

describe('report diff', () => {
  it('reports the six dashboard loops as fixed, and no regression', () => {
    const d = diffReports(before, after);
    expect(d.totals).toEqual({ new: 0, fixed: 6, worse: 0, better: 0 });
    expect(d.regression).toBe(false);
    expect(d.endpoints.map((e) => e.endpoint)).toEqual(['GET dashboard/']);
    expect(d.endpoints[0]!.queriesPerRequest).toEqual({ before: 303, after: 4 });
    const text = renderDiff(d, { before: 'before.json', after: 'after.json' });
    expect(text).toMatch(/^n1lens diff before\.json → after\.json: 6 fixed · 0 new · 0 worse · 0 better\n/);
    expect(text).toContain('   queries/request 303 → 4 · wasted/request');
    expect(text.match(/✓ fixed N\+1 on recruit_/g)).toHaveLength(6);
  });

  it('calls new loops, more repeats and more queries per request a regression', () => {
    expect(diffReports(after, before)).toMatchObject({ totals: { new: 6, fixed: 0 }, regression: true });
    const worse = structuredClone(before);
    const f = worse.endpoints[0]!.findings[0]!;
    f.repeatsPerRequest = { p50: f.repeatsPerRequest.p50 + 10, max: f.repeatsPerRequest.max + 10 };
    const d = diffReports(before, worse);
    expect(d.totals).toEqual({ new: 0, fixed: 0, worse: 1, better: 0 });
    expect(d.regression).toBe(true);
    expect(diffReports(worse, before)).toMatchObject({ totals: { better: 1 }, regression: false });
  });

  it("compares each service's endpoint with its own when two services serve an endpoint of the same name", () => {
    const loop = finding('GET health/');
    const both = report([endpoint('GET health/', [loop], { service: 'web' }), endpoint('GET health/', [], { service: 'api', queriesPerRequest: { p50: 1, max: 1 } })]);
    // Nothing changed: no finding fixed, none new.
    const same = diffReports(both, structuredClone(both));
    expect(same.totals).toEqual({ new: 0, fixed: 0, worse: 0, better: 0 });
    expect(same.endpoints).toEqual([]);
    // The web service's loop is fixed; the api's endpoint of the same name had none.
    const fixed = structuredClone(both);
    fixed.endpoints[0]!.findings = [];
    const d = diffReports(both, fixed);
    expect(d.totals).toEqual({ new: 0, fixed: 1, worse: 0, better: 0 });
    expect(d.endpoints.map((e) => [e.service, e.endpoint])).toEqual([['web', 'GET health/']]);
    expect(renderDiff(d, { before: 'a.json', after: 'b.json' })).toContain('\nGET health/ (web)\n');
  });

  it('pairs an endpoint each report has once whatever its service is called (a renamed service, a test suite against production)', () => {
    const f = finding('GET orders/');
    const d = diffReports(report([endpoint('GET orders/', [f], { service: 'shop' })]), report([endpoint('GET orders/', [f], { service: 'shop-web' })]));
    expect(d.totals).toEqual({ new: 0, fixed: 0, worse: 0, better: 0 });
    expect(d.regression).toBe(false);
  });
});
