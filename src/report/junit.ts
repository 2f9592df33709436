/**
 * JUnit XML for CI test-report views: one testcase per endpoint, failed when any of its findings is
 * over budget or its endpoint budget is broken (one failure listing them all); accepted and
 * within-budget findings go to system-out.
 */
import type { GateResult } from './gate.js';
import type { Report } from './model.js';
import { findingTitle, formatLocation } from './text.js';

const xml = (s: string): string =>
  s
    // XML 1.0 cannot carry most control characters at all, nor U+FFFE, U+FFFF or half a surrogate pair.
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');

export function renderJunit(report: Report, gate: GateResult): string {
  const cases: string[] = [];
  let failedCases = 0;
  for (const e of report.endpoints) {
    const mine = gate.findings.filter((g) => g.endpoint === e.endpoint && g.service === e.service);
    // A testcase holds one <failure> (JUnit's schema; most CI views show only the first), and the
    // suite's failures attribute counts failed testcases: every failure of the endpoint goes into one.
    const failures: { message: string; type: string; detail: string }[] = [];
    const notes: string[] = [];
    for (const g of mine) {
      const f = g.finding;
      const where = formatLocation(f.location);
      const detail = `${findingTitle(e.endpoint, f)}${where === '' ? '' : `\nat ${where}`}\n${f.sql}\nFix:\n${f.suggestion.code}\nsignature ${f.signature}`;
      if (g.failing) failures.push({ message: findingTitle(e.endpoint, f), type: f.kind, detail });
      else {
        const why =
          g.status === 'baselined'
            ? `accepted by the baseline${g.baseline?.reason === undefined ? '' : `: ${g.baseline.reason}`}`
            : g.status === 'new'
              ? 'within budget'
              : g.status === 'unscoped'
                ? "outside the baseline's scope"
                : 'advice';
        notes.push(`${why}: ${detail}`);
      }
    }
    for (const b of gate.breaches.filter((x) => x.endpoint === e.endpoint && x.service === e.service)) {
      const message = `${b.endpoint}: ${b.limit} ${b.actual} > ${b.allowed}`;
      failures.push({ message, type: b.limit, detail: `${message} (budget "${b.budget}")` });
    }
    const body: string[] = [];
    if (failures.length > 0) {
      failedCases++;
      const message = failures.length === 1 ? failures[0]!.message : `${failures.length} over budget: ${failures.map((x) => x.message).join('; ')}`;
      const types = [...new Set(failures.map((x) => x.type))];
      body.push(`      <failure message="${xml(message)}" type="${xml(types.length === 1 ? types[0]! : 'n1lens')}">${xml(failures.map((x) => x.detail).join('\n\n'))}</failure>`);
    }
    if (notes.length > 0) body.push(`      <system-out>${xml(notes.join('\n\n'))}</system-out>`);
    const attrs = `classname="n1lens${e.service === '' ? '' : `.${xml(e.service)}`}" name="${xml(e.endpoint)}" time="0"`;
    cases.push(body.length === 0 ? `    <testcase ${attrs}/>` : `    <testcase ${attrs}>\n${body.join('\n')}\n    </testcase>`);
  }
  const count = report.endpoints.length;
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="n1lens" tests="${count}" failures="${failedCases}" errors="0">`,
    `  <testsuite name="n1lens" tests="${count}" failures="${failedCases}" errors="0" skipped="0">`,
    ...cases,
    '  </testsuite>',
    '</testsuites>',
    '',
  ].join('\n');
}
