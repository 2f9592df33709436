import { describe, expect, it } from 'vitest';
import { addConnectionUse, emptyConnectionRollup } from '../detect/connections.js';
import { buildDigest } from '../digest/blocks.js';
import { ServiceFindings } from '../ui/pages.js';
import { renderMarkdown } from './markdown.js';
import { judge } from './gate.js';
import { buildSarif } from './sarif.js';
import { budgetFindings, buildReport } from './model.js';
import { renderTerminal } from './terminal.js';

const T0 = Date.parse('2026-11-25T13:00:00Z');

function report() {
  const churn = emptyConnectionRollup('recruit');
  for (let i = 0; i < 40; i++) addConnectionUse(churn, `w${i % 4}`, { opened: 1, observable: true, postgresql: true, heldFromMs: T0 + i * 200, heldUntilMs: T0 + i * 200 + 150, dbMs: 20 });
  return buildReport([], {
    connections: [churn],
    deadViews: [
      { route: 'old/', view: 'app.views.old', file: 'app/views.py', line: 12, status: 'dead', requests: 0, lastSeenMs: null, windowMs: 90 * 86_400_000, historyMs: 120 * 86_400_000, enoughHistory: true },
      {
        route: 'nightly/', view: 'app.views.nightly', status: 'periodic', requests: 30, lastSeenMs: T0, windowMs: 90 * 86_400_000, historyMs: 120 * 86_400_000, enoughHistory: true,
        periodic: { minuteOfDay: 120, days: 30, client: '10.0.0.9 curl/8.5', requests: 30 },
      },
    ],
  });
}

describe('connection_pressure and dead_view in every output', () => {
  it('are service findings, never in the budget', () => {
    const r = report();
    expect(r.serviceFindings?.map((f) => [f.kind, f.subject])).toEqual([
      ['connection_pressure', 'recruit'],
      ['dead_view', 'old/'],
      ['dead_view', 'nightly/'],
    ]);
    expect(r.summary.findings).toBe(0);
    expect(budgetFindings(r)).toBe(0);
  });

  it('show in the terminal, Markdown, HTML and the Slack digest', () => {
    const r = report();
    const terminal = renderTerminal(r, { color: false }).replace(/\s+/g, ' ');
    expect(terminal).toContain('Connections and dead views');
    expect(terminal).toContain('app.views.old: no request in 90 days');
    expect(terminal).toContain('only periodic traffic, 30 requests at ~02:00 UTC on 30 days');
    const markdown = renderMarkdown(r);
    expect(markdown).toContain('| connections | `recruit` |');
    expect(markdown).toContain('| dead view | `old/` |');
    const html = String(ServiceFindings({ findings: r.serviceFindings ?? [] })); // the web UI's overview and the HTML report
    expect(html).toContain('<h2 id="service-findings">');
    expect(html).toContain('CONN_HEALTH_CHECKS');
    const digest = JSON.stringify(buildDigest({ report: r, period: { sinceMs: T0, untilMs: T0 + 3_600_000 } }));
    expect(digest).toContain('Connections and dead views');
    expect(digest).toContain('app.views.nightly: only periodic traffic');
  });

  it('withhold the delete advice over too short a window (--dead-after 1h) in the terminal, Markdown, JSON and SARIF', () => {
    const quiet = buildReport([], {
      deadViews: [{
        route: 'old/', view: 'app.views.old', file: 'app/views.py', line: 12, status: 'too_short_window', requests: 0, lastSeenMs: T0 - 86_400_000,
        windowMs: 3_600_000, historyMs: 20 * 86_400_000, enoughHistory: true, historyRequests: 1200, neededWindowMs: 30 * 86_400_000,
      }],
    });
    const outputs = {
      terminal: renderTerminal(quiet, { color: false }).replace(/\s+/g, ' '),
      markdown: renderMarkdown(quiet).replace(/\s+/g, ' '),
      json: JSON.stringify(quiet),
      sarif: JSON.stringify((buildSarif(quiet, judge(quiet, { maxFindings: 0, today: '2026-01-01' })) as { runs: { results: unknown[] }[] }).runs[0]!.results),
    };
    for (const [name, text] of Object.entries(outputs)) {
      expect([name, /remove the route|delete app\.views\.old/i.test(text)]).toEqual([name, false]);
      expect([name, text.includes('1.0 hours')]).toEqual([name, true]);
    }
    for (const text of [outputs.terminal, outputs.markdown, outputs.json]) expect(text).toContain('1,200 requests to the URLconf');
    for (const text of [outputs.terminal, outputs.markdown, outputs.json]) expect(text).toContain('--dead-after 30d');
  });
});
