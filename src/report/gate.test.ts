import { beforeAll, describe, expect, it } from 'vitest';
import { analyseFiles } from '../cli/report.js';
import { analyseRequest } from '../detect/request.js';
import { RollupSet } from '../detect/rollup.js';
import { APPLICATIONS, requestOf, type Step } from '../detect/testing.js';
import { createSqlNormalizer } from '../sql/index.js';
import { baselineFromReport, BaselineError, parseBaseline, widenScope, type Baseline } from './baseline.js';
import { judge, lookedAt } from './gate.js';
import { renderGithubCommands, renderGithubSummary } from './github.js';
import { renderGateTerminal } from './terminal.js';
import { renderJunit } from './junit.js';
import { buildReport, type Report } from './model.js';

const fixture = new URL('../otlp/testdata/django-sqlite-stable-semconv.otlp.pb', import.meta.url).pathname;
let report: Report;
let rollups: RollupSet;
beforeAll(async () => {
  ({ rollups } = await analyseFiles([fixture], { minRepeats: 5 }));
  report = buildReport(rollups.values());
});

const today = '2026-06-01';
const dashboard = () => report.endpoints.find((e) => e.endpoint === 'GET dashboard/')!;

describe('gate verdict', () => {
  it('fails every new N+1 when they exceed --max-findings, and none within it', () => {
    const over = judge(report, { maxFindings: 5, today });
    expect(over.counted).toBe(6);
    expect(over.overBudget).toBe(true);
    expect(over.findings.filter((g) => g.failing)).toHaveLength(6);
    const within = judge(report, { maxFindings: 6, today });
    expect(within.overBudget).toBe(false);
    expect(within.findings.every((g) => !g.failing)).toBe(true);
  });

  it('accepts baselined findings, fails the rest and expired entries, and lists entries fixed since', () => {
    const full = baselineFromReport(report);
    expect(full.findings).toHaveLength(6);
    expect(judge(report, { maxFindings: 0, today, baseline: full }).overBudget).toBe(false);

    const [removed, expiring, ...rest] = full.findings;
    const gone = { signature: '0000000000000000', endpoint: 'GET old/', kind: 'n_plus_one' as const, table: 'old_table' };
    const baseline: Baseline = { n1lensBaseline: 1, findings: [{ ...expiring!, expires: today }, ...rest, gone] };
    const verdict = judge(report, { maxFindings: 0, today, baseline });
    expect(verdict.overBudget).toBe(true);
    const failing = verdict.findings.filter((g) => g.failing);
    expect(failing.map((g) => [g.finding.signature, g.status]).sort()).toEqual([[removed!.signature, 'new'], [expiring!.signature, 'expired']].sort());
    expect(verdict.fixed).toEqual([gone]);
    // The day before it expires, the entry still holds.
    const before = judge(report, { maxFindings: 0, today: '2026-05-31', baseline });
    expect(before.findings.filter((g) => g.failing).map((g) => g.finding.signature)).toEqual([removed!.signature]);
  });

  it('applies per-endpoint budgets in config order instead of the global one', () => {
    const verdict = judge(report, { maxFindings: 0, today, endpoints: [{ match: 'GET dashboard/*', maxFindings: 6, maxQueries: 10 }, { match: 'GET *', maxFindings: 0 }] });
    expect(verdict.findings.some((g) => g.failing)).toBe(false);
    expect(verdict.breaches).toEqual([{ endpoint: 'GET dashboard/', service: 'recruit', budget: 'GET dashboard/*', limit: 'max-queries', actual: 303, allowed: 10 }]);
    expect(verdict.overBudget).toBe(true);
    const wasted = judge(report, { maxFindings: 0, today, endpoints: [{ match: 'GET dashboard/', maxFindings: 6, maxWastedMs: 0.1 }] });
    expect(wasted.breaches.map((b) => b.limit)).toEqual(['max-wasted-ms']);
  });

  it('orders endpoints that tie, and baseline entries, by code unit: the same files on every machine, whatever its locale', () => {
    // localeCompare put b before B (en-US), and ä before z (de-DE) or after it (sv-SE).
    const names = ['GET ä/', 'GET z/', 'GET b/', 'GET B/'];
    const dashboardRollup = [...rollups.values()].find((r) => r.endpoint === 'GET dashboard/')!;
    const tied = buildReport(names.map((endpoint) => ({ ...dashboardRollup, endpoint })));
    expect(tied.endpoints.map((e) => e.endpoint)).toEqual(['GET B/', 'GET b/', 'GET z/', 'GET ä/']);
    const entries = baselineFromReport({
      ...report,
      endpoints: names.map((endpoint, i) => ({ ...dashboard(), endpoint, findings: [{ ...dashboard().findings[0]!, signature: String(i).padStart(16, '0') }] })),
    }).findings;
    expect(entries.map((f) => f.endpoint)).toEqual(['GET B/', 'GET b/', 'GET z/', 'GET ä/']);
  });

  it('keeps reasons and expiry dates when a baseline is re-written', () => {
    const first = baselineFromReport(report);
    first.findings[0]!.reason = 'accepted: PERF-12';
    first.findings[0]!.expires = '2027-01-01';
    const again = baselineFromReport(report, first);
    expect(again.findings[0]).toEqual(first.findings[0]);
  });
});

describe('baseline file', () => {
  it('round-trips and refuses bad files with one line naming the problem', () => {
    const b = baselineFromReport(report);
    expect(parseBaseline(JSON.stringify(b), 'b.json')).toEqual(b);
    const bad: [string, RegExp][] = [
      ['{"n1lensBaseline": 1, "findings": [', /^b\.json: not a baseline file: invalid JSON/],
      ['[]', /^b\.json: not a baseline file: the top level must be an object/],
      ['{"n1lensBaseline": 1, "findings": [{"signature": "xyz", "endpoint": "e", "kind": "n_plus_one", "table": "t"}]}', /findings\[0\]\.signature must be a 16-digit hex signature/],
      ['{"n1lensBaseline": 1, "findings": [{"signature": "0123456789abcdef", "endpoint": "e", "kind": "n_plus_one", "table": "t", "expires": "soon"}]}', /findings\[0\]\.expires must be a date, YYYY-MM-DD/],
      ['{"n1lensBaseline": 1, "findings": [{"signature": "0123456789abcdef", "endpoint": "e", "kind": "n_plus_one", "table": "t", "expires": "2099-02-31"}]}', /findings\[0\]\.expires must be a real date, YYYY-MM-DD/],
      ['{"n1lensBaseline": 2, "findings": []}', /n1lensBaseline must be 1/],
      ['{"n1lensBaseline": 1, "scope": {"minWastedMs": -1}, "findings": []}', /scope\.minWastedMs must be a number ≥ 0/],
    ];
    for (const [text, message] of bad) {
      const e = (() => {
        try {
          parseBaseline(text, 'b.json');
        } catch (err) {
          return err as Error;
        }
        throw new Error(`accepted ${text}`);
      })();
      expect(e).toBeInstanceOf(BaselineError);
      expect(e.message).toMatch(message);
      expect(e.message).not.toContain('\n');
    }
  });
});

describe('GitHub and JUnit output', () => {
  it('annotates failing findings at their line with escaped workflow commands', () => {
    const withLocation: Report = structuredClone(report);
    const f = withLocation.endpoints.find((e) => e.endpoint === 'GET dashboard/')!.findings[0]!;
    f.location = { file: 'recruit/templates/recruit/dashboard.html', line: 14, view: 'recruit.views.dashboard' };
    const commands = renderGithubCommands(judge(withLocation, { maxFindings: 0, today })).trimEnd().split('\n');
    expect(commands).toHaveLength(6);
    expect(commands[0]).toMatch(/^::error file=recruit\/templates\/recruit\/dashboard\.html,line=14,title=n1lens%3A N\+1 in GET dashboard\/::N\+1 in GET dashboard\/: 50× per request/);
    expect(commands[1]).toMatch(/^::error title=n1lens%3A N\+1 in GET dashboard\/::/);
    for (const c of commands) expect(c).toContain('%0AFix:%0A');
    expect(renderGithubCommands(judge(withLocation, { maxFindings: 6, today }))).toMatch(/^::warning /);
  });

  it('writes a step summary with the verdict before the report', () => {
    const summary = renderGithubSummary(report, judge(report, { maxFindings: 0, today, baseline: baselineFromReport(report) }));
    expect(summary).toMatch(/^### ✅ n1lens: within budget\n\n0 new · 6 accepted by the baseline · 0 fixed since the baseline/);
    expect(summary).toContain('## n1lens report');
  });

  it('has one testcase per endpoint, failed with one failure listing every finding over budget', () => {
    const xml = renderJunit(report, judge(report, { maxFindings: 0, today }));
    expect(xml.match(/<testcase /g)).toHaveLength(report.endpoints.length);
    expect(xml.match(/<failure /g)).toHaveLength(1);
    expect(xml).toContain(`<testsuite name="n1lens" tests="${report.endpoints.length}" failures="1" errors="0" skipped="0">`);
    expect(xml).toMatch(/<testcase classname="n1lens.recruit" name="GET dashboard\/" time="0">\n      <failure message="6 over budget: N\+1 in GET dashboard\/: 50× per request on recruit_\w+/);
    expect(xml.match(/\nsignature [0-9a-f]{16}/g)).toHaveLength(6);
    const accepted = renderJunit(report, judge(report, { maxFindings: 0, today, baseline: baselineFromReport(report) }));
    expect(accepted).not.toContain('<failure');
    expect(accepted).toContain('<system-out>accepted by the baseline');
    expect(dashboard().findings).toHaveLength(6);
  });
});

describe('the step summary\'s verdict', () => {
  it('counts the findings over budget in its own number: one past the budget beside two within their endpoint\'s own is "1 new finding"', async () => {
    const { endpoint, finding, report } = await import('../../test/report-fixture.js');
    const r = report([
      endpoint('GET reports/', [finding('GET reports/'), finding('GET reports/', { table: 'shop_line', fingerprint: '1111222233334444' })]),
      endpoint('GET orders/', [finding('GET orders/')]),
    ]);
    const summary = renderGithubSummary(r, judge(r, { maxFindings: 0, today: '2026-01-01', endpoints: [{ match: 'GET reports/', maxFindings: 5 }] }));
    expect(summary).toMatch(/^### ❌ n1lens: 1 new finding over budget\n/);
  });
});

describe('a baseline written by another version', () => {
  it('reads keys this version does not know, at the top, in the scope and in an entry, and keeps them in a rewrite', () => {
    const [first] = baselineFromReport(report).findings;
    const text = JSON.stringify({
      n1lensBaseline: 1,
      writtenBy: 'n1lens 9.0',
      scope: { minWastedMs: 0, futureFlag: ['x'] },
      findings: [{ ...first!, reason: 'PERF-1', owner: 'team-a' }],
    });
    const read = parseBaseline(text, 'b.json');
    const again = baselineFromReport(report, read, undefined, {});
    const json = JSON.parse(JSON.stringify(again)) as Record<string, unknown> & { findings: Record<string, unknown>[]; scope?: Record<string, unknown> };
    expect(json.writtenBy).toBe('n1lens 9.0');
    expect(json.findings.find((e) => e.signature === first!.signature)).toMatchObject({ reason: 'PERF-1', owner: 'team-a' });
    // A key it knows still has to be right.
    expect(() => parseBaseline('{"n1lensBaseline": 1, "scope": {"minWastedMs": "x"}, "findings": []}', 'b.json')).toThrow(/scope\.minWastedMs must be a number/);
  });
});

describe('a baseline of two services that share an endpoint name and a loop', () => {
  const withService = (r: Report, service: string): Report => ({ ...r, endpoints: r.endpoints.map((e) => ({ ...e, service })) });
  const both = (): Report => ({ ...report, endpoints: [...withService(report, 'web').endpoints, ...withService(report, 'api').endpoints] });

  it('keeps an entry per service, each naming its service', () => {
    const b = baselineFromReport(both());
    expect(b.findings).toHaveLength(12);
    expect(new Set(b.findings.map((e) => e.service))).toEqual(new Set(['web', 'api']));
  });

  it("does not accept one service's findings with a baseline written for another", () => {
    const webOnly = baselineFromReport(withService(report, 'web'));
    const verdict = judge(both(), { maxFindings: 0, today, baseline: webOnly });
    expect(verdict.findings.filter((g) => g.service === 'web').map((g) => g.status)).toEqual(Array(6).fill('baselined'));
    expect(verdict.findings.filter((g) => g.service === 'api').map((g) => g.status)).toEqual(Array(6).fill('new'));
    expect(verdict.overBudget).toBe(true);
    // A rewrite from both keeps the web entries' reasons and adds the api's.
    webOnly.findings[0]!.reason = 'PERF-7';
    const next = baselineFromReport(both(), webOnly);
    expect(next.findings.filter((e) => e.reason === 'PERF-7')).toEqual([{ ...webOnly.findings[0]!, service: 'web' }]);
  });

  it('calls an entry fixed when its own service no longer has the loop, though another service still does', () => {
    const full = baselineFromReport(both());
    const apiGone: Report = { ...report, endpoints: [...withService(report, 'web').endpoints, ...withService(report, 'api').endpoints.map((e) => ({ ...e, findings: [] }))] };
    const verdict = judge(apiGone, { maxFindings: 0, today, baseline: full });
    expect(verdict.fixed.map((e) => e.service)).toEqual(Array(6).fill('api'));
    expect(baselineFromReport(apiGone, full).findings.map((e) => e.service)).toEqual(Array(6).fill('web'));
  });

  it('names the service of a fixed entry whose signature another service shares, so the line says which entry to remove', () => {
    const full = baselineFromReport(both());
    const apiGone: Report = { ...report, endpoints: [...withService(report, 'web').endpoints, ...withService(report, 'api').endpoints.map((e) => ({ ...e, findings: [] }))] };
    const verdict = judge(apiGone, { maxFindings: 0, today, baseline: full });
    const fixedLines = (text: string) => text.split('\n').filter((line) => /fixed: |is gone/.test(line));
    for (const text of [renderGateTerminal(verdict, { color: false, width: 200 }), renderGithubCommands(verdict), renderGithubSummary(apiGone, verdict)]) {
      const lines = fixedLines(text);
      expect(lines).toHaveLength(6);
      for (const line of lines) expect(line).toMatch(/service api/);
    }
    // One service's baseline says nothing of services.
    const single = baselineFromReport(withService(report, 'web'));
    const gone = { ...report, endpoints: withService(report, 'web').endpoints.map((e) => ({ ...e, findings: [] })) };
    expect(renderGateTerminal(judge(gone, { maxFindings: 0, today, baseline: single }), { color: false })).not.toMatch(/service web/);
  });

  it("keeps an older file's entry in a rewrite by a run of one --service: the other services it accepts were not looked at", () => {
    const old: Baseline = { n1lensBaseline: 1, findings: baselineFromReport(report).findings.map(({ service: _, ...e }) => ({ ...e, reason: 'PERF-9' })) };
    const web = withService(report, 'web');
    const scope = { service: 'web' };
    const next = baselineFromReport(web, old, lookedAt(web, { baseline: old, scope, slice: true }), scope);
    const verdict = judge(both(), { maxFindings: 0, today, baseline: next });
    expect(verdict.findings.map((g) => g.status)).toEqual(Array(12).fill('baselined'));
    expect(next.findings.filter((e) => e.service === 'web' && e.reason === 'PERF-9')).toHaveLength(6);
  });

  it("calls no older file's entry fixed from a run of one --service: the loop it accepts may go on in another", () => {
    const old: Baseline = { n1lensBaseline: 1, findings: baselineFromReport(report).findings.map(({ service: _, ...e }) => e) };
    const webGone = withService({ ...report, endpoints: report.endpoints.map((e) => ({ ...e, findings: [] })) }, 'web');
    const options = { baseline: old, scope: { service: 'web' }, slice: true };
    expect(judge(webGone, { ...options, maxFindings: 0, today }).fixed).toEqual([]);
    const next = baselineFromReport(webGone, old, lookedAt(webGone, options), options.scope);
    expect(judge(both(), { maxFindings: 0, today, baseline: next }).findings.map((g) => g.status)).toEqual(Array(12).fill('baselined'));
  });

  it('reads an entry without a service (an older file) as any service\'s, and a rewrite gives it its services', () => {
    const old: Baseline = { n1lensBaseline: 1, findings: baselineFromReport(report).findings.map(({ service: _, ...e }) => e) };
    const verdict = judge(both(), { maxFindings: 0, today, baseline: old });
    expect(verdict.findings.map((g) => g.status)).toEqual(Array(12).fill('baselined'));
    expect(verdict.fixed).toEqual([]);
    old.findings[0]!.reason = 'PERF-3';
    const next = baselineFromReport(both(), old);
    expect(next.findings).toHaveLength(12);
    expect(next.findings.filter((e) => e.reason === 'PERF-3').map((e) => e.service).sort()).toEqual(['api', 'web']);
  });
});

describe('a baseline and a run of different scopes', () => {
  const entriesOf = (b: Baseline) => b.findings.map((e) => e.signature);

  it('calls no entry fixed whose endpoint a slice of the traffic (--service, --since, a pull) had no request to', () => {
    const full = baselineFromReport(report);
    const others = { ...report, endpoints: report.endpoints.filter((e) => e.endpoint !== 'GET dashboard/') };
    expect(judge(others, { maxFindings: 0, today, baseline: full, slice: true }).fixed).toEqual([]);
    // A whole recording without the endpoint is what it was: its loops are gone.
    expect(judge(others, { maxFindings: 0, today, baseline: full }).fixed).toHaveLength(6);
    // A rewrite from the slice keeps them.
    expect(entriesOf(baselineFromReport(others, full, lookedAt(others, { baseline: full, slice: true }), {}))).toEqual(entriesOf(full));
  });

  it('calls no entry fixed that --min-wasted-ms left out, and keeps it in a rewrite', () => {
    const full = baselineFromReport(report);
    const quiet = { ...report, endpoints: report.endpoints.map((e) => ({ ...e, findings: [] })) };
    const below = new Set(full.findings.map((e) => e.signature));
    expect(judge(quiet, { maxFindings: 0, today, baseline: full, scope: { minWastedMs: 1e9 }, belowMinWasted: below }).fixed).toEqual([]);
    expect(entriesOf(baselineFromReport(quiet, full, lookedAt(quiet, { baseline: full, belowMinWasted: below }), { minWastedMs: 1e9 }))).toEqual(entriesOf(full));
  });

  it('calls no entry fixed from a selection of tests other than the one the baseline was written from', () => {
    const full = { ...baselineFromReport(report, undefined, undefined, { testSuite: true }) };
    const quiet = { ...report, endpoints: report.endpoints.map((e) => ({ ...e, findings: [] })) };
    const some = judge(quiet, { maxFindings: 0, today, baseline: full, scope: { testSuite: true, tests: 'tests/test_a.py' } });
    expect(some.fixed).toEqual([]);
    expect(some.scopeNotes).toEqual(['tests: the whole suite in the baseline, "tests/test_a.py" in this run']);
    // The same selection as the baseline's: what it ran and no longer finds is fixed.
    const narrow = baselineFromReport(report, undefined, undefined, { testSuite: true, tests: 'tests/test_a.py' });
    expect(judge(quiet, { maxFindings: 0, today, baseline: narrow, scope: { testSuite: true, tests: 'tests/test_a.py' } }).fixed).toHaveLength(6);
  });

  it('calls an entry fixed from the whole suite when the baseline was written from a selection, and drops it in a rewrite', () => {
    // pytest tests/test_a.py --n1lens --n1lens-write-baseline=b.json, then pytest --n1lens (no --test-selection):
    // the whole suite ran every test of the selection, so what it no longer finds is fixed.
    const stale = { signature: 'ffffffffffffffff', endpoint: 'test tests/test_a.py::test_list', kind: 'n_plus_one' as const, table: 'shop_old' };
    const fromSelection: Baseline = { n1lensBaseline: 1, scope: { testSuite: true, tests: 'tests/test_a.py' }, findings: [...baselineFromReport(report).findings, stale] };
    const wholeSuite = { testSuite: true as const };
    expect(judge(report, { maxFindings: 0, today, baseline: fromSelection, scope: wholeSuite }).fixed).toEqual([stale]);
    const next = baselineFromReport(report, fromSelection, lookedAt(report, { scope: wholeSuite, baseline: fromSelection }), wholeSuite);
    expect(next.findings.map((e) => e.signature)).not.toContain(stale.signature);
    expect(next.scope).toEqual({ testSuite: true });
  });

  it("calls a finding outside the baseline's scope neither new nor accepted: it does not count, and the verdict says why", () => {
    const empty: Baseline = { n1lensBaseline: 1, scope: { endpoint: 'GET reports/*', minWastedMs: 5 }, findings: [] };
    const verdict = judge(report, { maxFindings: 0, today, baseline: empty });
    expect(verdict.findings.map((g) => g.status)).toEqual(Array(6).fill('unscoped'));
    expect(verdict.overBudget).toBe(false);
    expect(verdict.scopeNotes).toEqual(['--endpoint: "GET reports/*" in the baseline, all in this run', '--min-wasted-ms: 5 in the baseline, 0 in this run']);
    // Another service's findings are outside a baseline written for one service.
    const web: Baseline = { n1lensBaseline: 1, scope: { service: 'web' }, findings: [] };
    expect(judge(report, { maxFindings: 0, today, baseline: web, scope: { service: 'recruit' } }).findings.map((g) => g.status)).toEqual(Array(6).fill('unscoped'));
    // Within it, as before: new.
    expect(judge(report, { maxFindings: 0, today, baseline: { n1lensBaseline: 1, scope: {}, findings: [] } }).findings.map((g) => g.status)).toEqual(Array(6).fill('new'));
    // A file written before scopes were recorded: new, and nothing said.
    const old = judge(report, { maxFindings: 0, today, baseline: { n1lensBaseline: 1, findings: [] }, scope: { minWastedMs: 1 } });
    expect(old.findings.map((g) => g.status)).toEqual(Array(6).fill('new'));
    expect(old.scopeNotes).toEqual([]);
  });

  it("calls a loop just under the baseline's --min-wasted-ms outside its scope, though the report rounds it up to it", () => {
    // Five executions of 1.24 ms: 6.2 ms, less one execution's share, wastes 4.96 ms in the one request,
    // which the report shows as 5.0. The baseline's run (--min-wasted-ms 5) compared 4.96 and left it out.
    const normalize = createSqlNormalizer();
    const candidate = (r: number): string => `SELECT "recruit_candidate"."id", "recruit_candidate"."name" FROM "recruit_candidate" WHERE "recruit_candidate"."id" = ${r + 1} LIMIT 21`;
    const steps: Step[] = [APPLICATIONS, ...Array.from({ length: 5 }, (_, r) => ({ sql: candidate(r), ms: 1.24 }))];
    const set = new RollupSet();
    set.add(analyseRequest(requestOf('GET dashboard/', steps), normalize));
    const narrow = buildReport(set.values(), { minWastedMs: 5 });
    expect(narrow.endpoints[0]!.findings).toEqual([]);
    const baseline = baselineFromReport(narrow, undefined, () => true, { minWastedMs: 5 });
    expect(baseline.scope).toEqual({ minWastedMs: 5 });

    const wide = buildReport(set.values());
    const [loop] = wide.endpoints[0]!.findings;
    expect(loop).toMatchObject({ kind: 'n_plus_one', wastedMs: 5 });
    const verdict = judge(wide, { maxFindings: 0, today, baseline, scope: {} });
    expect(verdict.findings.map((g) => g.status)).toEqual(['unscoped']);
    expect(verdict.overBudget).toBe(false);
    // A baseline written under --min-wasted-ms 4.9 would have listed it: new.
    expect(judge(wide, { maxFindings: 0, today, baseline: { ...baseline, scope: { minWastedMs: 4.9 } }, scope: {} }).findings.map((g) => g.status)).toEqual(['new']);
  });

  it('calls no loop fixed that a higher --min-repeats left out, and keeps it in a rewrite', () => {
    const full: Baseline = { ...baselineFromReport(report), scope: {} };
    const quiet = { ...report, endpoints: report.endpoints.map((e) => ({ ...e, findings: [] })) };
    const higher = judge(quiet, { maxFindings: 0, today, baseline: full, scope: { minRepeats: 1000 } });
    expect(higher.fixed).toEqual([]);
    expect(higher.scopeNotes).toEqual(['--min-repeats: 5 in the baseline, 1000 in this run']);
    expect(entriesOf(baselineFromReport(quiet, full, lookedAt(quiet, { baseline: full, scope: { minRepeats: 1000 } }), { minRepeats: 1000 }))).toEqual(entriesOf(full));
    // The same threshold: what it no longer finds is fixed.
    expect(judge(quiet, { maxFindings: 0, today, baseline: full, scope: {} }).fixed).toHaveLength(6);
  });

  it("calls a loop the baseline's higher --min-repeats left out neither new nor accepted, and records --min-repeats when not the default", () => {
    const strict = baselineFromReport({ ...report, endpoints: [] }, undefined, undefined, { minRepeats: 1000 });
    expect(strict.scope).toEqual({ minRepeats: 1000 });
    const verdict = judge(report, { maxFindings: 0, today, baseline: strict, scope: {} });
    expect(verdict.findings.map((g) => g.status)).toEqual(Array(6).fill('unscoped'));
    expect(verdict.overBudget).toBe(false);
    // The default of the run's kind is not written: 5, and 3 for a test suite.
    expect(baselineFromReport(report, undefined, undefined, { minRepeats: 5 }).scope).toBeUndefined();
    expect(baselineFromReport(report, undefined, undefined, { testSuite: true, minRepeats: 3 }).scope).toEqual({ testSuite: true });
    expect(widenScope({ minRepeats: 8 }, { minRepeats: 6 })).toEqual({ minRepeats: 6 });
    expect(widenScope({ minRepeats: 8 }, {})).toEqual({});
  });

  it("judges a store's short loops against a baseline written from the store: neither run's --min-repeats found them", () => {
    // serve --min-repeats 3 stored a loop of 3; n1-report --db records no --min-repeats (runScope), so both scopes read as the default.
    const short: Report = { ...report, endpoints: report.endpoints.map((e) => ({ ...e, findings: e.findings.map((f) => ({ ...f, repeatsPerRequest: { p50: 3, max: 3 } })) })) };
    const fromStore: Baseline = { n1lensBaseline: 1, scope: { since: '7d' }, findings: [] };
    const verdict = judge(short, { maxFindings: 0, today, baseline: fromStore, scope: { since: '7d' } });
    expect(verdict.findings.filter((g) => g.finding.kind === 'n_plus_one').map((g) => g.status)).toEqual(Array(6).fill('new'));
    expect(verdict.overBudget).toBe(true);
  });

  it('records the scope a rewrite covers: the wider of the file it rewrites and the run', () => {
    expect(baselineFromReport(report, undefined, undefined, { minWastedMs: 2, ignoreTables: ['django_session'] }).scope).toEqual({ minWastedMs: 2, ignoreTables: ['django_session'] });
    expect(baselineFromReport(report, undefined, undefined, {}).scope).toBeUndefined();
    expect(widenScope({ minWastedMs: 5, ignoreTables: ['a', 'b'], tests: 'x', testSuite: true }, { minWastedMs: 1, ignoreTables: ['b'], tests: 'y', testSuite: true })).toEqual({
      ignoreTables: ['b'],
      minWastedMs: 1,
      testSuite: true,
      tests: 'x + y',
    });
    // A file with no recorded scope counts as the widest; a whole-suite run makes the whole suite.
    expect(widenScope({}, { endpoint: 'GET a/', minWastedMs: 3, tests: 'y' })).toEqual({});
    expect(widenScope({ tests: 'x' }, {})).toEqual({});
  });
});
