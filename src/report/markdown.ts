/** GitHub-flavoured Markdown report, fit for a pull-request comment or a CI job summary. */
import type { Report } from './model.js';
import { KIND_LABEL, STEADY_STATE_UNKNOWN, codeSpan, endpointFixToShow, formatLocation, droppedSpansLine, outsideRequestsLine, frameworkNoiseLine, int, ms, readInsteadText, serviceFindingFigures, shortenSql, splitLine } from './text.js';

const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

export function renderMarkdown(report: Report): string {
  const s = report.summary;
  const out: string[] = [
    '## n1lens report',
    '',
    `**${int(s.requests)}** requests · **${int(s.dbSpans)}** DB queries · **${s.findings}** findings · **${ms(s.wastedMs)}** of DB time wasted`,
    '',
  ];
  if (s.frameworkQueriesDropped !== undefined) out.push(`_${frameworkNoiseLine(s.frameworkQueriesDropped)}_`, '');
  if (s.spansDropped !== undefined) out.push(`_${droppedSpansLine(s.spansDropped)}_`, '');
  if (s.queriesOutsideRequests !== undefined) out.push(`_${outsideRequestsLine(s.queriesOutsideRequests)}_`, '');
  if (report.endpoints.length === 0) return [...out, 'No requests found in the input.', ...serviceSection(report), ''].join('\n');
  out.push('| # | Endpoint | Requests | Queries/request (p50) | Wasted/request | Findings |', '|---:|---|---:|---:|---:|---:|');
  report.endpoints.forEach((e, i) => {
    out.push(
      `| ${i + 1} | ${codeSpan(cell(e.endpoint))} | ${int(e.requests)} | ${e.queriesPerRequest.p50} | ${ms(e.wastedMsPerRequest)} | ${e.findings.length} |`,
    );
  });
  for (const e of report.endpoints) {
    if (e.findings.length === 0) continue;
    out.push('', `### ${codeSpan(e.endpoint)}`, '');
    if (e.split !== undefined) out.push(`_${splitLine(e.split)}_`, '');
    if (e.steadyState === 'unknown') out.push(`_${STEADY_STATE_UNKNOWN}_`, '');
    out.push('| Kind | Table | Repeats/request | Wasted | Query | Where | Suggestion | Signature |', '|---|---|---:|---:|---|---|---|---|');
    for (const f of e.findings) {
      const code = f.suggestion.code.includes('\n') ? f.suggestion.method : f.suggestion.code;
      const read = f.suggestion.readInstead === undefined ? '' : `<br>${cell(readInsteadText(f.suggestion.readInstead, codeSpan))}`;
      const where = f.suggestion.placement === undefined ? '' : `<br>${cell(f.suggestion.placement)}`;
      const at = formatLocation(f.location);
      const also = (f.otherLocations ?? []).map((l) => `<br>also at ${codeSpan(cell(formatLocation(l)))}`).join('');
      out.push(
        `| ${KIND_LABEL[f.kind]} | ${codeSpan(cell(f.table || '-'))} | ${f.repeatsPerRequest.p50} | ${ms(f.wastedMs)} | ` +
          `${codeSpan(cell(shortenSql(f.sql || '-', 90)))} | ${at === '' ? '-' : codeSpan(cell(at))}${also} | ` +
          `${codeSpan(cell(code))}${f.suggestion.confidence === 'inferred' ? ' _(inferred)_' : ''}${read}${where} | \`${f.signature}\` |`,
      );
    }
    const fix = endpointFixToShow(e);
    if (fix !== '') out.push('', '**Fix**', '', '```python', fix, '```');
    for (const f of e.findings) {
      if (!f.suggestion.code.includes('\n')) continue;
      out.push('', `<details><summary>${KIND_LABEL[f.kind]}: ${cell(f.suggestion.path)}</summary>`, '');
      if (f.suggestion.note) out.push(f.suggestion.note, '');
      out.push('```python', f.suggestion.code, '```', '', '</details>');
    }
  }
  out.push(...serviceSection(report));
  return out.join('\n') + '\n';
}

/** connection_pressure and dead_view: a table apart from the endpoints, with the fix text folded. */
function serviceSection(report: Report): string[] {
  const findings = report.serviceFindings ?? [];
  if (findings.length === 0) return [];
  const out = ['', '### Connections and dead views', '', '_Not counted in the budget._', '', '| Kind | Subject | Figures | Fix |', '|---|---|---|---|'];
  for (const f of findings) {
    out.push(`| ${KIND_LABEL[f.kind]} | ${codeSpan(cell(f.subject || '(root)'))} | ${cell(serviceFindingFigures(f))} | ${cell(f.suggestion.path)} |`);
  }
  for (const f of findings) {
    if (f.kind !== 'connection_pressure') continue;
    out.push('', `<details><summary>${KIND_LABEL[f.kind]}: ${cell(f.subject)}: ${cell(f.suggestion.path)}</summary>`, '');
    if (f.suggestion.note) out.push(f.suggestion.note, '');
    out.push('```', f.suggestion.code, '```', '', '</details>');
  }
  return out;
}
