import { describe, expect, it } from 'vitest';
import { endpoint, finding, report } from '../../test/report-fixture.js';
import { judge } from './gate.js';
import { renderMarkdown } from './markdown.js';
import { buildSarif } from './sarif.js';
import { shortenSql } from './text.js';

// Django on MySQL quotes every identifier with backticks.
const MYSQL = 'SELECT `shop_customer`.`id`, `shop_customer`.`name` FROM `shop_customer` WHERE `shop_customer`.`id` = %s LIMIT 21';

/** The inline code spans of a Markdown line, as CommonMark reads them (a run of n backticks closes only at a run of n). */
function codeSpans(line: string): string[] {
  const spans: string[] = [];
  const re = /(`+)([\s\S]*?[^`])\1(?!`)/g;
  for (const m of line.matchAll(re)) spans.push(m[2]!.replace(/^ (.*) $/, '$1'));
  return spans;
}

describe('Markdown report', () => {
  it('keeps MySQL SQL, backticks and all, in one code span of the findings table', () => {
    const md = renderMarkdown(report([endpoint('GET orders/', [finding('GET orders/', { sql: MYSQL })])]));
    const row = md.split('\n').find((l) => l.startsWith('| N+1 |'))!;
    expect(codeSpans(row)).toContain(shortenSql(MYSQL, 90));
  });

  it('keeps MySQL SQL in one code span of the SARIF message', () => {
    const r = report([endpoint('GET orders/', [finding('GET orders/', { sql: MYSQL })])]);
    const log = buildSarif(r, judge(r, { maxFindings: 0, today: '2026-01-01' })) as { runs: { results: { message: { markdown: string } }[] }[] };
    const line = log.runs[0]!.results[0]!.message.markdown.split('\n').find((l) => l.startsWith('Query:'))!;
    expect(codeSpans(line)).toContain(MYSQL);
  });
});
