/**
 * JUnit XML for CI test-report views: one testcase per endpoint, one failure per finding over
 * budget (and per broken endpoint budget); accepted and within-budget findings go to system-out.
 */
import type { GateResult } from './gate.js';
import type { Report } from './model.js';
import { findingTitle, formatLocation } from './text.js';

const xml = (s: string): string =>
  s
    // XML 1.0 cannot carry most control characters at all.
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');

export function renderJunit(report: Report, gate: GateResult): string {
  const cases: string[] = [];
  let failures = 0;
  for (const e of report.endpoints) {
    const mine = gate.findings.filter((g) => g.endpoint === e.endpoint);
    const body: string[] = [];
    const notes: string[] = [];
    for (const g of mine) {
      const f = g.finding;
      const where = formatLocation(f.location);
      const detail = `${findingTitle(e.endpoint, f)}${where === '' ? '' : `\nat ${where}`}\n${f.sql}\nFix:\n${f.suggestion.code}\nsignature ${f.signature}`;
      if (g.failing) {
        failures++;
        body.push(`      <failure message="${xml(findingTitle(e.endpoint, f))}" type="${f.kind}">${xml(detail)}</failure>`);
      } else {
        const why = g.status === 'baselined' ? `accepted by the baseline${g.baseline?.reason === undefined ? '' : `: ${g.baseline.reason}`}` : g.status === 'new' ? 'within budget' : 'advice';
        notes.push(`${why}: ${detail}`);
      }
    }
    for (const b of gate.breaches.filter((x) => x.endpoint === e.endpoint)) {
      failures++;
      body.push(`      <failure message="${xml(`${b.endpoint}: ${b.limit} ${b.actual} > ${b.allowed}`)}" type="${b.limit}">${xml(`budget "${b.budget}"`)}</failure>`);
    }
    if (notes.length > 0) body.push(`      <system-out>${xml(notes.join('\n\n'))}</system-out>`);
    const attrs = `classname="n1lens${e.service === '' ? '' : `.${xml(e.service)}`}" name="${xml(e.endpoint)}" time="0"`;
    cases.push(body.length === 0 ? `    <testcase ${attrs}/>` : `    <testcase ${attrs}>\n${body.join('\n')}\n    </testcase>`);
  }
  const count = report.endpoints.length;
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="n1lens" tests="${count}" failures="${failures}" errors="0">`,
    `  <testsuite name="n1lens" tests="${count}" failures="${failures}" errors="0" skipped="0">`,
    ...cases,
    '  </testsuite>',
    '</testsuites>',
    '',
  ].join('\n');
}
