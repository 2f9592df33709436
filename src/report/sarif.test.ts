import { readdirSync, readFileSync } from 'node:fs';
import AjvModule from 'ajv-draft-04';
import formatsModule from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import { analyseFiles } from '../cli/report.js';
import { addConnectionUse, emptyConnectionRollup } from '../detect/connections.js';
import { judge } from './gate.js';
import { buildReport, type Report } from './model.js';
import { buildSarif } from './sarif.js';
import { serviceSignature } from './signature.js';
import { renderGithubCommands } from './github.js';
import { repoPath } from './paths.js';
import { endpoint, finding, report } from '../../test/report-fixture.js';

const schema = JSON.parse(readFileSync(new URL('./testdata/sarif-schema-2.1.0.json', import.meta.url), 'utf8')) as object;
// Both are CommonJS packages whose default export is under `.default` when imported from ESM.
const Ajv = AjvModule.default;
const addFormats = formatsModule.default;
const ajv = new Ajv({ allErrors: true, strict: false });
addFormats(ajv);
const validate = ajv.compile(schema);

const otlpDir = new URL('../otlp/testdata/', import.meta.url).pathname;
const fixtures = [
  ...readdirSync(otlpDir).filter((f) => /\.(jsonl|pb|binpb|json)$/.test(f)).map((f) => otlpDir + f),
  new URL('../../samples/traces/recruit.jsonl.gz', import.meta.url).pathname,
];

async function reportOf(file: string, minRepeats = 5): Promise<Report> {
  const { rollups } = await analyseFiles([file], { minRepeats });
  return buildReport(rollups.values());
}

function expectValid(log: unknown): void {
  const ok = validate(log);
  expect(ok ? [] : validate.errors).toEqual([]);
}

type Result = { ruleId: string; ruleIndex: number; level: string; message: { text: string; markdown: string }; locations: { physicalLocation?: { artifactLocation: { uri: string }; region?: { startLine: number } }; logicalLocations: { name: string }[] }[]; partialFingerprints: Record<string, string>; baselineState: string; suppressions?: unknown[] };

describe('SARIF output', () => {
  it('is checked by a validator that rejects what the schema forbids', () => {
    expect(validate({ version: '2.1.0', runs: [{ tool: { driver: { name: 'x' } }, results: [{ ruleId: 'a' }] }] })).toBe(false);
    expect(validate({ version: '2.1.0', runs: [{ tool: { driver: { name: 'x' } }, results: [{ message: { text: 't' }, level: 'fatal' }] }] })).toBe(false);
    expect(validate({ version: '2.1.0', runs: [{ tool: { driver: { name: 'x' } }, results: [{ message: { text: 't' } }] }] })).toBe(true);
  });

  it.each(fixtures)('validates against the official SARIF 2.1.0 schema: %s', async (file) => {
    const report = await reportOf(file);
    expectValid(buildSarif(report, judge(report, { maxFindings: 0, today: '2026-01-01' }), { version: '0.1.0' }));
  });

  it('has one rule per finding kind with help text, and a result per finding with its fix and signature', async () => {
    const report = await reportOf(otlpDir + 'django-sqlite-stable-semconv.otlp.pb');
    // Code locations as the Django integration's spans carry them (this recording has none).
    for (const [i, f] of report.endpoints.flatMap((e) => e.findings).entries()) f.location = { file: 'recruit/views.py', line: 10 + i };
    const log = buildSarif(report, judge(report, { maxFindings: 0, today: '2026-01-01' })) as { runs: { tool: { driver: { rules: { id: string; help: { text: string; markdown: string } }[] } }; results: Result[] }[] };
    const run = log.runs[0]!;
    expect(run.tool.driver.rules.map((r) => r.id)).toEqual(['n_plus_one', 'repeated_write', 'warm_up', 'hot_lookup', 'sync_fanout', 'slow_query', 'connection_pressure', 'dead_view']);
    for (const r of run.tool.driver.rules) expect(r.help.text.length).toBeGreaterThan(40);
    const findings = report.endpoints.flatMap((e) => e.findings);
    expect(run.results).toHaveLength(findings.length);
    for (const [i, r] of run.results.entries()) {
      expect(run.tool.driver.rules[r.ruleIndex]!.id).toBe(r.ruleId);
      expect(r.partialFingerprints['n1lensSignature/v1']).toBe(serviceSignature(findings[i]!.signature, 'recruit'));
      expect(r.message.markdown).toContain('```python\n' + findings[i]!.suggestion.code);
    }
    const candidate = run.results.find((r) => r.message.text.includes('recruit_candidate'))!;
    expect(candidate).toMatchObject({ ruleId: 'n_plus_one', level: 'error' });
    expect(candidate.locations[0]!.logicalLocations[0]!.name).toBe('GET dashboard/');
    expect(candidate.message.text).toContain(".select_related('candidate')");
  });

  it('places results at their code location and marks baselined ones as accepted suppressions', async () => {
    const report = await reportOf(otlpDir + 'django-sqlite-stable-semconv.otlp.pb');
    const [first, second] = report.endpoints[0]!.findings;
    first!.location = { file: 'recruit/templates/recruit/dashboard.html', line: 14, view: 'recruit.views.dashboard' };
    second!.location = { file: 'recruit/views.py', line: 37, function: 'dashboard', template: 'recruit/templates/recruit/dashboard.html', templateLine: 15 };
    const baseline = { n1lensBaseline: 1 as const, findings: [{ signature: second!.signature, endpoint: 'GET dashboard/', kind: second!.kind, table: second!.table, reason: 'ticket PERF-12' }] };
    const log = buildSarif(report, judge(report, { maxFindings: 0, today: '2026-01-01', baseline }));
    expectValid(log);
    const results = (log as { runs: { results: Result[] }[] }).runs[0]!.results;
    expect(results[0]!.locations[0]!.physicalLocation).toEqual({ artifactLocation: { uri: 'recruit/templates/recruit/dashboard.html', uriBaseId: '%SRCROOT%' }, region: { startLine: 14 } });
    expect(results[1]!.locations[0]!.physicalLocation?.region?.startLine).toBe(15);
    expect(results[1]).toMatchObject({ baselineState: 'unchanged', level: 'note', suppressions: [{ kind: 'external', status: 'accepted', justification: 'ticket PERF-12' }] });
  });

  it("links a second loop's place (otherLocations) as a related location, and names it in the annotation", () => {
    const twoLoops = finding('GET catalogue/', {
      location: { file: 'shop/templates/shop/catalogue.html', line: 14 },
      otherLocations: [{ file: 'shop/templates/shop/catalogue.html', line: 30 }, { view: 'shop.views.catalogue' }],
    });
    const r = report([endpoint('GET catalogue/', [twoLoops])]);
    const gate = judge(r, { maxFindings: 0, today: '2026-01-01' });
    const log = buildSarif(r, gate);
    expectValid(log);
    const [result] = (log as { runs: { results: (Result & { relatedLocations?: unknown[] })[] }[] }).runs[0]!.results;
    expect(result!.locations[0]!.physicalLocation?.region?.startLine).toBe(14);
    // Only a place with a file can be linked; the message names it too.
    expect(result!.relatedLocations).toEqual([
      { id: 1, physicalLocation: { artifactLocation: { uri: 'shop/templates/shop/catalogue.html', uriBaseId: '%SRCROOT%' }, region: { startLine: 30 } }, message: { text: 'also runs the query here' } },
    ]);
    expect(result!.message.text).toContain('Also at shop/templates/shop/catalogue.html:30');
    expect(renderGithubCommands(gate)).toContain('also at shop/templates/shop/catalogue.html:30');
  });

  it('lists connection_pressure and dead_view as results too, never gated, dead views at their line', () => {
    const churn = emptyConnectionRollup('recruit');
    for (let i = 0; i < 40; i++) addConnectionUse(churn, `w${i % 4}`, { opened: 1, observable: true, postgresql: true, heldFromMs: i * 200, heldUntilMs: i * 200 + 150, dbMs: 20 });
    const report = buildReport([], {
      connections: [churn],
      deadViews: [{ route: 'old/', view: 'app.views.old', file: 'app/views.py', line: 12, status: 'dead', requests: 0, lastSeenMs: null, windowMs: 90 * 86_400_000, historyMs: 120 * 86_400_000, enoughHistory: true }],
    });
    const gate = judge(report, { maxFindings: 0, today: '2026-01-01' });
    expect(gate.overBudget).toBe(false);
    const log = buildSarif(report, gate);
    expectValid(log);
    const results = (log as { runs: { results: Result[] }[] }).runs[0]!.results;
    // connection_pressure names a service, no file: code scanning could not place it (below).
    expect(results.map((r) => r.ruleId)).toEqual(['dead_view']);
    expect(results[0]!.locations[0]!.physicalLocation).toEqual({ artifactLocation: { uri: 'app/views.py', uriBaseId: '%SRCROOT%' }, region: { startLine: 12 } });
    expect((log as { runs: { properties: { findingsWithoutFile: number } }[] }).runs[0]!.properties.findingsWithoutFile).toBe(1);
  });

  it('leaves out the findings with no file, which code scanning would refuse the whole upload for, and counts them', async () => {
    const report = await reportOf(otlpDir + 'django-sqlite-stable-semconv.otlp.pb');
    const findings = report.endpoints.flatMap((e) => e.findings);
    findings[0]!.location = { file: 'recruit/views.py', line: 37 };
    const log = buildSarif(report, judge(report, { maxFindings: 0, today: '2026-01-01' })) as { runs: { results: Result[]; properties: { findingsWithoutFile: number } }[] };
    expectValid(log);
    const run = log.runs[0]!;
    // GitHub: "locationFromSarifResult: expected artifact location" for any result without one.
    for (const r of run.results) expect(r.locations.every((l) => l.physicalLocation?.artifactLocation.uri !== undefined)).toBe(true);
    expect(run.results.map((r) => r.partialFingerprints['n1lensSignature/v1'])).toEqual([serviceSignature(findings[0]!.signature, 'recruit')]);
    expect(run.properties.findingsWithoutFile).toBe(findings.length - 1);
  });
});

describe('SARIF locations GitHub can place', () => {
  const root = '/home/runner/work/shop/shop';
  const uris = (log: unknown): (string | undefined)[] =>
    (log as { runs: { results: Result[] }[] }).runs[0]!.results.map((r) => r.locations[0]!.physicalLocation?.artifactLocation.uri);

  it('makes an absolute path under the checkout (a code.stacktrace frame) relative to it, and never leaks the checkout path', () => {
    const f = finding('GET orders/', { location: { file: `${root}/shop/views.py`, line: 42, function: 'shop.views.orders' } });
    const r = report([endpoint('GET orders/', [f])]);
    const log = buildSarif(r, judge(r, { maxFindings: 0, today: '2026-01-01' }), { root });
    expectValid(log);
    expect(uris(log)).toEqual(['shop/views.py']);
    expect((log as { runs: { results: { locations: { physicalLocation: { artifactLocation: object } }[] }[] }[] }).runs[0]!.results[0]!.locations[0]!.physicalLocation.artifactLocation).toEqual({ uri: 'shop/views.py', uriBaseId: '%SRCROOT%' });
    expect(JSON.stringify(log)).not.toContain(root);
  });

  it('gives no file to a location outside the checkout (a library view the URLconf export names by its absolute path)', () => {
    const r = buildReport([], {
      deadViews: [{ route: 'admin/login/', view: 'django.contrib.admin.sites.AdminSite.login', file: '/opt/hostedtoolcache/Python/3.12.4/x64/lib/python3.12/site-packages/django/contrib/admin/sites.py', line: 398, status: 'unseen_in_file', requests: 0, lastSeenMs: null, windowMs: 0, historyMs: 0, enoughHistory: false }],
    });
    const log = buildSarif(r, judge(r, { maxFindings: 0, today: '2026-01-01' }), { root });
    expectValid(log);
    expect(uris(log)).toEqual([]);
    expect((log as { runs: { properties: { findingsWithoutFile: number } }[] }).runs[0]!.properties.findingsWithoutFile).toBe(1);
    expect(JSON.stringify(log)).not.toContain('/opt/hostedtoolcache');
  });

  it('names files from the repository root for a Django project in a subfolder (BASE_DIR backend/), in SARIF and annotations', () => {
    const paths = { root, base: `${root}/backend` };
    const a = finding('GET orders/', { location: { file: 'shop/views.py', line: 42 } });
    const b = finding('GET orders/', { fingerprint: '1111222233334444', location: { template: 'shop/templates/shop/orders.html', templateLine: 3 } });
    // An absolute frame under the checkout, and a relative path that climbs out of it.
    const c = finding('GET orders/', { fingerprint: '5555666677778888', location: { file: `${root}/backend/shop/models.py`, line: 7 } });
    const d = finding('GET orders/', { fingerprint: '9999aaaabbbbcccc', location: { file: '../../elsewhere/x.py', line: 1 } });
    const r = report([endpoint('GET orders/', [a, b, c, d])]);
    const gate = judge(r, { maxFindings: 0, today: '2026-01-01' });
    const log = buildSarif(r, gate, paths);
    expectValid(log);
    expect(uris(log)).toEqual(['backend/shop/views.py', 'backend/shop/templates/shop/orders.html', 'backend/shop/models.py']);
    const files = [...renderGithubCommands(gate, paths).matchAll(/^::error (file=([^,]+),)?/gm)].map((m) => m[2]);
    expect(files).toEqual(['backend/shop/views.py', 'backend/shop/templates/shop/orders.html', 'backend/shop/models.py', undefined]);
  });

  it('reads paths as before when BASE_DIR is the repository root, and relative ones as they are without a root', () => {
    expect(repoPath('shop/views.py', { root, base: root })).toBe('shop/views.py');
    expect(repoPath('./shop/views.py', { root: `${root}/`, base: root })).toBe('shop/views.py');
    expect(repoPath('shop/views.py')).toBe('shop/views.py');
    expect(repoPath(`${root}/shop/views.py`)).toBeUndefined();
    expect(repoPath('shop\\views.py', { root: 'C:\\w\\app', base: 'C:\\w\\app\\backend' })).toBe('backend/shop/views.py');
    expect(repoPath(`${root}-other/x.py`, { root })).toBeUndefined();
  });

  it('writes Windows paths with forward slashes, and percent-encodes what a URI cannot hold', () => {
    const a = finding('GET orders/', { location: { file: 'shop\\views.py', line: 42 } });
    const b = finding('GET orders/', { fingerprint: '1111222233334444', location: { template: 'shop/templates/shop/order list#1.html', templateLine: 3 } });
    const c = finding('GET orders/', { fingerprint: '5555666677778888', location: { file: 'C:\\runner\\work\\shop\\shop\\shop\\models.py', line: 7 } });
    const r = report([endpoint('GET orders/', [a, b, c])]);
    const log = buildSarif(r, judge(r, { maxFindings: 0, today: '2026-01-01' }), { root: 'C:\\runner\\work\\shop\\shop' });
    expectValid(log);
    expect(uris(log)).toEqual(['shop/views.py', 'shop/templates/shop/order%20list%231.html', 'shop/models.py']);
  });
});

describe('SARIF baselineState', () => {
  type Log = { runs: { results: (Result & { baselineState?: string })[] }[] };
  const states = (log: unknown): (string | undefined)[] => (log as Log).runs[0]!.results.map((r) => r.baselineState);

  it('is absent from every result when no baseline was given: there is nothing to be new against', () => {
    const a = finding('GET orders/');
    const hot = finding('GET orders/', { kind: 'hot_lookup', fingerprint: '1111222233334444', location: { file: 'shop/views.py', line: 50 } });
    const r = {
      ...report([endpoint('GET orders/', [a, hot])]),
      serviceFindings: buildReport([], {
        deadViews: [{ route: 'old/', view: 'shop.views.old', file: 'shop/views.py', line: 12, status: 'dead', requests: 0, lastSeenMs: null, windowMs: 1, historyMs: 2, enoughHistory: true }],
      }).serviceFindings!,
    };
    const log = buildSarif(r, judge(r, { maxFindings: 0, today: '2026-01-01' }));
    expectValid(log);
    expect(states(log)).toEqual([undefined, undefined, undefined]);
  });

  it('says new or unchanged against a baseline by whether the baseline has the finding, whatever its kind, and leaves it off what no baseline holds', () => {
    const a = finding('GET orders/');
    const b = finding('GET orders/', { fingerprint: '5555666677778888', location: { file: 'shop/views.py', line: 44 } });
    // Advice the baseline does not hold is not 'unchanged': it is new to the baseline.
    const hot = finding('GET orders/', { kind: 'hot_lookup', fingerprint: '1111222233334444', location: { file: 'shop/views.py', line: 50 } });
    const r = {
      ...report([endpoint('GET orders/', [a, b, hot])]),
      serviceFindings: buildReport([], {
        deadViews: [{ route: 'old/', view: 'shop.views.old', file: 'shop/views.py', line: 12, status: 'dead', requests: 0, lastSeenMs: null, windowMs: 1, historyMs: 2, enoughHistory: true }],
      }).serviceFindings!,
    };
    const baseline = { n1lensBaseline: 1 as const, findings: [{ signature: b.signature, endpoint: 'GET orders/', kind: b.kind, table: b.table }] };
    const log = buildSarif(r, judge(r, { maxFindings: 0, today: '2026-01-01', baseline }));
    expectValid(log);
    // dead_view is never judged against a baseline (baselines hold endpoint findings only).
    expect(states(log)).toEqual(['new', 'unchanged', 'new', undefined]);
  });

  it("is absent from a finding outside the scope the baseline was written in, which was never compared with it", () => {
    const a = finding('GET orders/');
    const r = report([endpoint('GET orders/', [a])]);
    const baseline = { n1lensBaseline: 1 as const, scope: { endpoint: 'GET reports/*' }, findings: [] };
    const log = buildSarif(r, judge(r, { maxFindings: 0, today: '2026-01-01', baseline }));
    expectValid(log);
    expect(states(log)).toEqual([undefined]);
  });
});

describe('SARIF partialFingerprints', () => {
  type Log = { runs: { results: (Result & { properties: { service?: string } })[] }[] };
  const prints = (log: unknown): string[] => (log as Log).runs[0]!.results.map((r) => r.partialFingerprints['n1lensSignature/v1']!);

  it("are distinct for two services that share an endpoint name and its query, and each is the signature with its service", () => {
    // One Django project deployed as two services: the same view, the same loop, one signature.
    const shared = (service: string) => endpoint('GET health/', [finding('GET health/', { location: { file: 'shop/views.py', line: 7 } })], { service });
    const own = endpoint('GET orders/', [finding('GET orders/')], { service: 'web' });
    const r = report([shared('web'), shared('worker'), own]);
    const log = buildSarif(r, judge(r, { maxFindings: 0, today: '2026-01-01' }));
    expectValid(log);
    const [web, worker, orders] = prints(log);
    expect(web).not.toBe(worker);
    expect(new Set([web, worker, orders]).size).toBe(3);
    expect(orders).toBe(serviceSignature(own.findings[0]!.signature, 'web'));
    expect(web).toBe(serviceSignature(shared('web').findings[0]!.signature, 'web'));
    // The same run again gives the same values (code scanning tracks alerts by them).
    expect(prints(buildSarif(r, judge(r, { maxFindings: 0, today: '2026-01-01' })))).toEqual([web, worker, orders]);
    expect((log as Log).runs[0]!.results.map((x) => x.properties.service)).toEqual(['web', 'worker', 'web']);
  });

  it("keep the first service's value when a second service later shares its finding: code scanning keeps its alert open", () => {
    const shared = (service: string) => endpoint('GET health/', [finding('GET health/', { location: { file: 'shop/views.py', line: 7 } })], { service });
    const alone = report([shared('web')]);
    const [before] = prints(buildSarif(alone, judge(alone, { maxFindings: 0, today: '2026-01-01' })));
    const both = report([shared('web'), shared('worker')]);
    const [web, worker] = prints(buildSarif(both, judge(both, { maxFindings: 0, today: '2026-01-01' })));
    expect(web).toBe(before);
    expect(worker).not.toBe(before);
  });
});
