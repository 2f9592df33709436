import { WriteStream } from 'node:tty';
import { describe, expect, it } from 'vitest';
import { endpoint, finding, report } from '../../test/report-fixture.js';
import { analyseRequest } from '../detect/request.js';
import { RollupSet } from '../detect/rollup.js';
import { APPLICATIONS, DASHBOARD_ROW, loop as rowLoop, requestOf } from '../detect/testing.js';
import { createSqlNormalizer } from '../sql/index.js';
import { judge } from './gate.js';
import { renderMarkdown } from './markdown.js';
import { buildReport } from './model.js';
import { colorSupported, renderGateTerminal, renderTerminal } from './terminal.js';

/** A colour terminal, its depth read by Node's own getColorDepth. */
const tty = { isTTY: true, getColorDepth: (env: NodeJS.ProcessEnv = {}) => WriteStream.prototype.getColorDepth.call(undefined, { TERM: 'xterm-256color', ...env }) };
const pipe = { isTTY: false };

describe('colorSupported (FORCE_COLOR and NO_COLOR as Node documents them)', () => {
  it('colours a terminal, and never a pipe or a file by itself, not even on CI', () => {
    expect(colorSupported(tty, {})).toBe(true);
    expect(colorSupported(pipe, {})).toBe(false);
    // picocolors coloured anything with CI set: a log file or `> report.txt` got escape codes.
    expect(colorSupported(pipe, { CI: 'true' })).toBe(false);
  });

  it('reads FORCE_COLOR 0 and false as off, and "", 1, true, 2 and 3 as on wherever the text goes', () => {
    // picocolors took any non-empty FORCE_COLOR, "0" included, as on.
    for (const value of ['0', 'false']) expect(colorSupported(tty, { FORCE_COLOR: value }), value).toBe(false);
    for (const value of ['', '1', 'true', '2', '3']) expect(colorSupported(pipe, { FORCE_COLOR: value }), value).toBe(true);
  });

  it('turns colour off for NO_COLOR or NODE_DISABLE_COLORS set to anything, unless FORCE_COLOR turns it on', () => {
    for (const env of [{ NO_COLOR: '1' }, { NO_COLOR: '' }, { NODE_DISABLE_COLORS: '1' }]) expect(colorSupported(tty, env)).toBe(false);
    expect(colorSupported(pipe, { NO_COLOR: '1', FORCE_COLOR: '1' })).toBe(true);
  });
});

describe('terminal report width', () => {
  // A REST route with typed path converters is longer than a terminal line on its own.
  const name = 'GET api/v2/organisations/<slug:organisation>/projects/<uuid:project_id>/members/';

  it('fits 80 columns with an endpoint name longer than that, in the report and in the verdict', () => {
    const r = report([endpoint(name, [finding(name)])]);
    const gate = judge(r, { maxFindings: 0, today: '2026-01-01', endpoints: [{ match: 'GET api/*', maxQueries: 10 }] });
    const out = renderTerminal(r, { color: false }) + renderGateTerminal(gate, { color: false });
    expect(out.split('\n').filter((line) => line.length > 80)).toEqual([]);
    // Nothing is lost: the name (broken after a slash), the waste and the breach are all there.
    expect(out).toContain('GET api/v2/organisations/<slug:organisation>/projects/');
    expect(out).toContain('<uuid:project_id>/members/');
    expect(out).toContain('8.4 ms wasted/request');
    expect(out).toContain('max-queries 23 > 10');
  });

  it('fits 80 columns in the verdict\'s fixed entries and locations too', () => {
    const located = finding(name, { location: { file: 'api/organisations/projects/members/views/membership_listing.py', line: 123, function: 'api.organisations.projects.members.views.MembershipListView.get_queryset' } });
    const r = report([endpoint(name, [located])]);
    const baseline = { n1lensBaseline: 1 as const, findings: [{ signature: 'ffffffffffffffff', endpoint: name, kind: 'n_plus_one' as const, table: 'projects_membership' }] };
    const out = renderGateTerminal(judge(r, { maxFindings: 0, today: '2026-01-01', baseline }), { color: false, baselinePath: '.n1lens/baselines/api-organisations-projects-members.json' });
    expect(out).toContain('fixed: N+1 in GET');
    expect(out).toContain('remove ffffffffffffffff from');
    expect(out).toContain('membership_listing.py');
    expect(out.split('\n').filter((line) => line.length > 80)).toEqual([]);
  });
});

describe("an endpoint's fix after its findings", () => {
  const name = 'GET reports/pipeline/';
  const migration = 'class Migration(migrations.Migration):\n    operations = [migrations.RunSQL("CREATE INDEX …")]';
  const slow = finding(name, { kind: 'slow_query', suggestion: { method: 'index', path: 'shop_order (created)', code: migration, confidence: 'exact' } });
  const single = endpoint(name, [slow], { fix: `# index shop_order (created) for the slow query\n${migration}` });
  const count = (text: string): number => text.split('class Migration').length - 1;

  it('is left out when it is the one finding\'s own fix under a heading, in the terminal and in Markdown', () => {
    const terminal = renderTerminal(report([single]), { color: false });
    expect(count(terminal)).toBe(1);
    expect(terminal).not.toContain('fix:');
    expect(count(renderMarkdown(report([single])))).toBe(1);
  });

  it('is shown when it joins several findings, or says more than the one finding (the queryset it starts from)', () => {
    const loop = finding(name, { suggestion: { method: 'select_related', path: 'customer', code: ".select_related('customer')", confidence: 'exact' } });
    const both = endpoint(name, [loop, slow], { fix: `Order.objects.select_related('customer')\n# index shop_order (created) for the slow query\n${migration}` });
    expect(count(renderTerminal(report([both]), { color: false }))).toBe(2);
    const rooted = renderTerminal(report([endpoint(name, [loop], { fix: "Order.objects.select_related('customer')" })]), { color: false });
    expect(rooted).toContain('fix:');
    expect(rooted).toContain("Order.objects.select_related('customer')");
  });

  it('left out, still says an inferred N+1\'s names are guesses (an admin changelist without --schema)', () => {
    // The caveat was printed inside the fix block only: an admin fix, the one finding's own, went without it.
    const normalize = createSqlNormalizer();
    const set = new RollupSet();
    for (let i = 0; i < 3; i++) {
      const steps = [APPLICATIONS, ...rowLoop(8, DASHBOARD_ROW[0]!)];
      set.add(analyseRequest(requestOf('GET admin/recruit/application/', steps, { traceId: (i + 1).toString(16).padStart(32, '0'), startMs: i * 1000 }), normalize));
    }
    const admin = buildReport(set.values());
    const [f] = admin.endpoints[0]!.findings;
    expect(f!.kind).toBe('n_plus_one');
    expect(f!.suggestion.confidence).toBe('inferred');
    const out = renderTerminal(admin, { color: false });
    expect(out).toContain('list_select_related');
    expect(out).not.toContain('fix:');
    expect(out.split('names inferred from SQL').length - 1).toBe(1);
  });

  it('shown, says an inferred N+1\'s names are guesses once, and an exact one\'s not at all', () => {
    const inferred = finding(name, { suggestion: { method: 'select_related', path: 'customer', code: ".select_related('customer')", confidence: 'inferred' } });
    const shown = renderTerminal(report([endpoint(name, [inferred], { fix: "Order.objects.select_related('customer')" })]), { color: false });
    expect(shown).toContain('fix:');
    expect(shown.split('names inferred from SQL').length - 1).toBe(1);
    const exact = finding(name, { suggestion: { method: 'select_related', path: 'customer', code: ".select_related('customer')", confidence: 'exact' } });
    expect(renderTerminal(report([endpoint(name, [exact], { fix: "Order.objects.select_related('customer')" })]), { color: false })).not.toContain('names inferred');
  });
});

describe('counts in words', () => {
  it('says 1 query/request and 1 request, in the singular', () => {
    const one = endpoint('POST webhooks/ats/', [], { requests: 1, queriesPerRequest: { p50: 1, max: 1 } });
    const out = renderTerminal(report([one]), { color: false });
    expect(out).toContain('1 request · 1 query/request (p50, max 1)');
  });
});

describe('terminal report width in display columns', () => {
  // Columns as a terminal shows them, for the scripts these tests use: CJK and emoji take two,
  // a combining mark none, anything else one (the renderer's own width function is not used here).
  const columns = (line: string): number => {
    let n = 0;
    for (const ch of line.normalize('NFD')) {
      const cp = ch.codePointAt(0)!;
      if (/\p{M}/u.test(ch) || cp === 0x200d || cp === 0xfe0f) continue;
      n += (cp >= 0x3040 && cp <= 0x30ff) || (cp >= 0x4e00 && cp <= 0x9fff) || (cp >= 0xac00 && cp <= 0xd7a3) || cp >= 0x1f300 ? 2 : 1;
    }
    return n;
  };
  const loneSurrogate = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
  const render = (name: string, over = {}): string[] => {
    const r = report([endpoint(name, [finding(name, over)])]);
    return (renderTerminal(r, { color: false }) + renderGateTerminal(judge(r, { maxFindings: 0, today: '2026-01-01' }), { color: false })).split('\n');
  };

  it('fits 80 columns with a CJK endpoint name and a CJK file path, as a terminal counts them', () => {
    const name = `GET ${'注文'.repeat(18)}/`;
    const lines = render(name, { location: { file: `shop/${'画面'.repeat(20)}/views.py`, line: 42, function: 'shop.views.orders' } });
    expect(lines.filter((line) => columns(line) > 80)).toEqual([]);
    expect(lines.join('')).toContain('8.4 ms wasted/request');
  });

  it('right-aligns the waste at column 80 when the name holds combining marks', () => {
    // "café" with a combining acute accent: five code units, four columns.
    const name = 'GET cafe\u0301/menu/';
    const [line] = render(name).filter((l) => l.includes('wasted/request'));
    expect(line!.startsWith(`1. ${name}`)).toBe(true);
    expect(columns(line!)).toBe(80);
  });

  it('breaks a long name of emoji between characters, never inside one, within 80 columns', () => {
    const name = `GET x${'🍕'.repeat(50)}`;
    const lines = render(name);
    expect(lines.filter((line) => loneSurrogate.test(line))).toEqual([]);
    expect(lines.filter((line) => columns(line) > 80)).toEqual([]);
    expect(lines.join('').match(/🍕/gu)).toHaveLength(100);
  });
});

describe('a test suite\'s endpoint names', () => {
  it('break after a test id\'s :: as after a path\'s slash, never inside a name', () => {
    const name = 'test tests/test_dashboard.py::OptimisedDashboardTests::test_optimised_dashboard_lists_applications';
    const out = renderTerminal(report([endpoint(name, [finding(name)])]), { color: false }).split('\n');
    expect(out.filter((line) => line.length > 80)).toEqual([]);
    expect(out).toContain('test_optimised_dashboard_lists_applications');
    expect(out.some((line) => line.endsWith('OptimisedDashboardTests::'))).toBe(true);
  });
});
