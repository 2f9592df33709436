/** Locations from spans to findings: the most common per cascade across requests, sqlcommenter's controller, every output, the store. */
import { describe, expect, it } from 'vitest';
import { OfflineAnalysis } from '../analyzer.js';
import { buildDigest } from '../digest/blocks.js';
import type { OtlpJsonAttribute } from '../otlp/testing.js';
import { djangoRequest, encodeProtobuf, int, str } from '../otlp/testing.js';
import { createWireDecoder } from '../otlp/wire/decoder.js';
import { renderMarkdown } from '../report/markdown.js';
import { buildReport } from '../report/model.js';
import { renderTerminal } from '../report/terminal.js';
import { formatLocation } from '../report/text.js';
import { sqlCommenterTags } from '../sql/sqlcommenter.js';
import { requestControllerOf } from './location.js';
import { SqliteStore as Store } from '../store/sqlite.js';
import { renderReportFile } from '../ui/report-file.js';

const TEMPLATE = 'recruit/templates/recruit/dashboard.html';

/** One dashboard request whose DB spans carry `extra(i)` (i = 0: the trigger query). */
function spansOf(traceId: string, extra: (i: number) => OtlpJsonAttribute[], sqlComment = '') {
  const request = djangoRequest({ traceId, repeats: 6 });
  for (const [i, span] of request.resourceSpans[0]!.scopeSpans[1]!.spans.entries()) {
    span.attributes.push(...extra(i));
    if (sqlComment !== '') {
      const statement = span.attributes.find((a) => a.key === 'db.statement')!;
      statement.value.stringValue += ` ${sqlComment}`;
    }
  }
  return createWireDecoder().decode(encodeProtobuf(request)).spans;
}

const inTemplate = (line: number) => (i: number) => [
  str('code.file.path', 'recruit/views.py'), int('code.line.number', 38), str('code.function.name', 'recruit.views.dashboard'),
  str('n1lens.template.path', TEMPLATE), int('n1lens.template.line', i === 0 ? 7 : line),
];

function reportOf(...traces: ReturnType<typeof spansOf>[]) {
  const analysis = new OfflineAnalysis();
  for (const spans of traces) analysis.add(spans);
  return buildReport(analysis.finish().values());
}

describe('finding locations', () => {
  it('reports the most common location of a loop across requests, and where its trigger is evaluated', async () => {
    const report = reportOf(
      spansOf('aaaaaaaa000000000000000000000001', inTemplate(9)),
      spansOf('aaaaaaaa000000000000000000000002', inTemplate(9)),
      spansOf('aaaaaaaa000000000000000000000003', inTemplate(11)),
    );
    const [finding] = report.endpoints[0]!.findings;
    expect(finding!.location).toEqual({ file: 'recruit/views.py', line: 38, function: 'recruit.views.dashboard', template: TEMPLATE, templateLine: 9 });
    expect(finding!.trigger?.location).toMatchObject({ template: TEMPLATE, templateLine: 7 });
    // DESIGN's key order: location follows exampleTraceId.
    const keys = Object.keys(finding!);
    expect(keys.indexOf('location')).toBe(keys.indexOf('exampleTraceId') + 1);
  });

  it('names every place a loop runs its query from: two loops of one request at two template lines are each cited', async () => {
    // {% for b in featured %}{{ b.author }} at line 14, then {% for b in on_sale %}{{ b.author }} at line 30.
    const twoLoops = (i: number) => inTemplate(i <= 4 ? 14 : 30)(i);
    const report = reportOf(spansOf('dddddddd000000000000000000000001', twoLoops), spansOf('dddddddd000000000000000000000002', twoLoops));
    const [finding] = report.endpoints[0]!.findings;
    expect(finding!.location).toMatchObject({ template: TEMPLATE, templateLine: 14 });
    expect(finding!.otherLocations).toEqual([{ file: 'recruit/views.py', line: 38, function: 'recruit.views.dashboard', template: TEMPLATE, templateLine: 30 }]);
    expect(renderTerminal(report, { color: false })).toContain(`also at ${TEMPLATE}:30`);
    expect(renderMarkdown(report)).toContain(`also at \`${TEMPLATE}:30\``);
    // Through the store, as serve and n1-report --db read it.
    const store = Store.open(':memory:');
    const analysis = new OfflineAnalysis({}, (analyses) => store.recordSync(analyses));
    analysis.add(spansOf('dddddddd000000000000000000000003', twoLoops));
    analysis.finish();
    const stored = (await store.report()).endpoints[0]!.findings[0]!;
    // The web UI's pages, as the self-contained HTML report renders them.
    const html = await renderReportFile(store);
    store.closeSync();
    expect(html).toContain(`<span class="muted">Also at: </span><code>${TEMPLATE}:30</code>`);
    expect(stored.location).toMatchObject({ templateLine: 14 });
    expect(stored.otherLocations).toMatchObject([{ templateLine: 30 }]);
  });

  it('cites no other place for a request whose spans name only the view: that is the same loop, less precisely', () => {
    // A request traced without code attributes (a worker without the integration's span processor)
    // still names its view from sqlcommenter: no second loop, so no "also at view dashboard".
    const comment = "/*controller='dashboard',route='dashboard/'*/";
    const report = reportOf(
      spansOf('eeeeeeee000000000000000000000001', inTemplate(9), comment),
      spansOf('eeeeeeee000000000000000000000002', inTemplate(9), comment),
      spansOf('eeeeeeee000000000000000000000003', () => [], comment),
    );
    const [finding] = report.endpoints[0]!.findings;
    expect(finding!.location).toMatchObject({ template: TEMPLATE, templateLine: 9, view: 'dashboard' });
    expect(finding!.otherLocations).toBeUndefined();
    expect(renderTerminal(report, { color: false })).not.toContain('also at');
  });

  it("names the view from sqlcommenter's controller when no span attribute does", () => {
    const comment = "/*controller='dashboard',framework='django%%3A5.2.19',route='dashboard/',traceparent='00-aaaa-bbbb-01'*/";
    const report = reportOf(spansOf('bbbbbbbb000000000000000000000001', () => [], comment));
    expect(report.endpoints[0]!.findings[0]!.location).toEqual({ view: 'dashboard' });
    expect(sqlCommenterTags(`SELECT 1 ${comment}`)).toEqual({ controller: 'dashboard', framework: 'django:5.2.19', route: 'dashboard/' });
    expect(sqlCommenterTags("SELECT 1 /*app_name='admin',controller='admin%%3Ashop_book_changelist'*/")).toEqual({
      app_name: 'admin',
      controller: 'admin:shop_book_changelist',
    });
    expect(sqlCommenterTags('SELECT 1')).toBeUndefined();
  });

  it("reads a request's controller once per comment, with sqlCommenterTags' answers", () => {
    const controllerOf = requestControllerOf();
    const statements = [
      "SELECT 1 /*controller='a',traceparent='00-1'*/",
      "SELECT 2 /*controller='a',traceparent='00-1'*/",
      'SELECT 3',
      "SELECT 4 /*route='x/'*/",
      "SELECT 5 /*controller='b%%3Ac',traceparent='00-2'*/",
      "SELECT 1 /*controller='a',traceparent='00-1'*/",
      "SELECT /* inner */ 6 /*controller='d'*/",
    ];
    for (const statement of statements) expect(controllerOf(statement)).toBe(sqlCommenterTags(statement)?.controller);
  });

  it('shows the location in the terminal, Markdown, HTML and the Slack digest', async () => {
    const report = reportOf(spansOf('cccccccc000000000000000000000001', inTemplate(9)));
    const at = `${TEMPLATE}:9`;
    expect(renderTerminal(report, { color: false })).toContain(`at ${at}`);
    expect(renderTerminal(report, { color: false })).toContain(`loops over the rows of ${TEMPLATE}:7`);
    expect(renderMarkdown(report)).toContain(`\`${at}\``);
    const store = Store.open(':memory:');
    const analysis = new OfflineAnalysis({}, (analyses) => store.recordSync(analyses));
    analysis.add(spansOf('cccccccc000000000000000000000002', inTemplate(9)));
    analysis.finish();
    const html = await renderReportFile(store);
    store.closeSync();
    expect(html).toContain(`<code>${at}</code>`);
    expect(html).toContain(`<code>${TEMPLATE}:7</code>`);
    const digest = JSON.stringify(buildDigest({ report, period: { sinceMs: 0, untilMs: 1, source: 'test' } }));
    expect(digest).toContain(at);
  });

  it('formats a location as people cite it', async () => {
    expect(formatLocation({ file: 'recruit/views.py', line: 42, function: 'recruit.views.dashboard' })).toBe('recruit/views.py:42 in dashboard');
    expect(formatLocation({ file: 'shop/serializers.py', line: 16, function: 'BookSerializer.author' })).toBe('shop/serializers.py:16 in BookSerializer.author');
    expect(formatLocation({ file: 'recruit/views.py', line: 38, template: TEMPLATE, templateLine: 14 })).toBe(`${TEMPLATE}:14`);
    expect(formatLocation({ view: 'dashboard' })).toBe('view dashboard');
    expect(formatLocation(undefined)).toBe('');
  });

  it('keeps the tallies in the store, and the example request its own location', async () => {
    const store = Store.open(':memory:');
    const analysis = new OfflineAnalysis();
    const requests = [
      ...analysis.analyzer.add(spansOf('dddddddd000000000000000000000001', inTemplate(9)), 0),
      ...analysis.analyzer.add(spansOf('dddddddd000000000000000000000002', inTemplate(9)), 0),
      ...analysis.analyzer.flush(),
    ];
    await store.record(requests.slice(0, 1));
    await store.record(requests.slice(1));
    const finding = (await store.report()).endpoints[0]!.findings[0]!;
    expect(finding.location).toMatchObject({ template: TEMPLATE, templateLine: 9 });
    expect(finding.trigger?.location).toMatchObject({ templateLine: 7 });
    const id = [...(await store.findingIds()).values()][0]!;
    expect((await store.finding(id))?.example).toMatchObject({ location: { templateLine: 9 }, triggerLocation: { templateLine: 7 } });
    store.closeSync();
  });
});

describe('one count per span', () => {
  it('reports spans given twice exactly as once, and counts the copies', async () => {
    const spans = spansOf('eeeeeeee000000000000000000000001', inTemplate(9));
    const once = reportOf(spans);
    const analysis = new OfflineAnalysis();
    analysis.add(spans);
    analysis.add(spans.map((s) => ({ ...s })));
    expect(buildReport(analysis.finish().values())).toEqual(once);
    expect(analysis.analyzer.assembler.counters.duplicateSpans).toBe(spans.length);
  });

  it('drops a copy that arrives after its trace was analysed and counts it as a duplicate, not late', async () => {
    const spans = spansOf('ffffffff000000000000000000000001', inTemplate(9));
    const analysis = new OfflineAnalysis();
    analysis.add(spans);
    const first = analysis.analyzer.flush();
    expect(first.length).toBe(1);
    expect(analysis.analyzer.add(spans, 0)).toEqual([]);
    expect(analysis.analyzer.flush()).toEqual([]);
    const { duplicateSpans, lateSpans } = analysis.analyzer.assembler.counters;
    expect({ duplicateSpans, lateSpans }).toEqual({ duplicateSpans: spans.length, lateSpans: 0 });
  });
});
