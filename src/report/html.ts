/** A self-contained HTML page of the report, served by `n1lens serve` at `/`: no scripts, no external assets. */
import type { Report, ReportFinding, ServiceFinding } from './model.js';
import { KIND_LABEL, int, ms, readInsteadText, serviceFindingFigures, shortenSql, wrapCode } from './text.js';

const escape = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

const STYLE = `
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:1100px;padding:0 1rem;color:#1f2328}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem}table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid #d0d7de;vertical-align:top}
td.n{text-align:right;font-variant-numeric:tabular-nums}code,pre{font:12px/1.4 ui-monospace,monospace}
pre{background:#f6f8fa;padding:.75rem;overflow-x:auto;border-radius:6px}.k{color:#9a6700;font-weight:600}
.muted{color:#59636e}`;

/** Renders the report as one HTML document. */
export function renderHtml(report: Report, options: { title?: string; generatedAt?: Date } = {}): string {
  const s = report.summary;
  const title = options.title ?? 'n1lens';
  const out: string[] = [
    '<!doctype html><html lang="en"><head><meta charset="utf-8">',
    `<meta name="viewport" content="width=device-width,initial-scale=1"><title>${escape(title)}</title><style>${STYLE}</style></head><body>`,
    `<h1>${escape(title)}</h1>`,
    `<p>${int(s.requests)} requests · ${int(s.dbSpans)} DB queries · ${s.findings} findings · <strong>${ms(s.wastedMs)}</strong> of DB time wasted` +
      `${options.generatedAt ? ` <span class="muted">(${escape(options.generatedAt.toISOString())})</span>` : ''}</p>`,
  ];
  if (report.endpoints.length === 0) {
    out.push('<p>No requests analysed yet. Point an OpenTelemetry exporter at <code>/v1/traces</code>.</p>', ...serviceSection(report.serviceFindings ?? []), '</body></html>');
    return out.join('\n');
  }
  out.push('<table><thead><tr><th>#</th><th>Endpoint</th><th>Requests</th><th>Queries/request (p50)</th><th>Wasted/request</th><th>Findings</th></tr></thead><tbody>');
  report.endpoints.forEach((e, i) => {
    out.push(
      `<tr><td>${i + 1}</td><td><a href="#e${i}"><code>${escape(e.endpoint)}</code></a></td><td class="n">${int(e.requests)}</td>` +
        `<td class="n">${e.queriesPerRequest.p50}</td><td class="n">${ms(e.wastedMsPerRequest)}</td><td class="n">${e.findings.length}</td></tr>`,
    );
  });
  out.push('</tbody></table>');
  report.endpoints.forEach((e, i) => {
    if (e.findings.length === 0) return;
    out.push(`<h2 id="e${i}"><code>${escape(e.endpoint)}</code> <span class="muted">${escape(e.service)}</span></h2>`);
    if (e.fix !== '') out.push(`<p>Fix:</p><pre>${escape(wrapCode(e.fix, 100).join('\n'))}</pre>`);
    out.push('<table><thead><tr><th>Kind</th><th>Table</th><th>Repeats/request</th><th>Wasted</th><th>Query and suggestion</th></tr></thead><tbody>');
    for (const f of e.findings) out.push(findingRow(f));
    out.push('</tbody></table>');
  });
  out.push(...serviceSection(report.serviceFindings ?? []), '</body></html>');
  return out.join('\n');
}

/** connection_pressure and dead_view, apart from the endpoints' DB waste. */
function serviceSection(findings: readonly ServiceFinding[]): string[] {
  if (findings.length === 0) return [];
  const out = ['<h2 id="service-findings">Connections and dead views <span class="muted">(not counted in the budget)</span></h2>'];
  out.push('<table><thead><tr><th>Kind</th><th>Subject</th><th>Figures and fix</th></tr></thead><tbody>');
  for (const f of findings) {
    const note = f.suggestion.note ? `<div class="muted">${escape(f.suggestion.note)}</div>` : '';
    const code = f.kind === 'connection_pressure' ? `<pre>${escape(f.suggestion.code)}</pre>` : '';
    out.push(
      `<tr><td class="k">${KIND_LABEL[f.kind]}</td><td><code>${escape(f.subject || '(root)')}</code></td>` +
        `<td>${escape(serviceFindingFigures(f))}${code}${note}</td></tr>`,
    );
  }
  out.push('</tbody></table>');
  return out;
}

function findingRow(f: ReportFinding): string {
  const s = f.suggestion;
  const note = [s.readInstead === undefined ? '' : readInsteadText(s.readInstead), s.placement ?? '', s.note ?? '']
    .filter((t) => t !== '')
    .map((t) => `<div class="muted">${escape(t)}</div>`)
    .join('');
  return (
    `<tr><td class="k">${KIND_LABEL[f.kind]}</td><td><code>${escape(f.table || '-')}</code></td><td class="n">${f.repeatsPerRequest.p50}</td>` +
    `<td class="n">${ms(f.wastedMs)}</td><td>${f.sql ? `<code>${escape(shortenSql(f.sql, 140))}</code>` : ''}` +
    `<pre>${escape(f.suggestion.code)}</pre>${note}<div class="muted">example trace <code>${escape(f.exampleTraceId)}</code></div></td></tr>`
  );
}
