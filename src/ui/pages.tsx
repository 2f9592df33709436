/** The pages as hono JSX: overview, endpoint and finding views, shared by `n1lens serve` and the single-file HTML report. */
import { raw } from 'hono/html';
import type { Child } from 'hono/jsx';
import type { CodeLocation, FindingKind } from '../detect/types.js';
import type { AcknowledgedFinding } from '../report/acknowledge.js';
import type { ReportEndpoint, ReportFinding, ServiceFinding } from '../report/model.js';
import { formatPeriod } from '../report/period.js';
import { KIND_LABEL, endpointFixToShow, formatLocation, int, ms, readInsteadText, serviceFindingFigures, wrapCode } from '../report/text.js';
import { SCRIPT, STYLE } from './assets.js';
import { EndpointCharts, FindingChart, WaterfallView, bucketLabel, escapeHtml, sparklineSvg } from './charts.js';
import type { EndpointView, FindingView, Overview, OverviewRow } from './data.js';
import { filterQuery, type Filters } from './filters.js';
import { formatSql, mainTable } from './sql-format.js';

/** Where links point: served pages use URLs with the filters; the report file uses in-page anchors. */
export interface Links {
  overview(filters: Filters): string;
  endpoint(id: number, filters: Filters): string;
  finding(id: number, filters: Filters): string;
  /** The JSON twin of the page, when served. */
  api?: string;
}

export const servedLinks = (api?: string): Links => ({
  overview: (f) => `/${filterQuery(f)}`,
  endpoint: (id, f) => `/endpoints/${id}${filterQuery(f)}`,
  finding: (id, f) => `/findings/${id}${filterQuery(f)}`,
  ...(api === undefined ? {} : { api }),
});

export const anchorLinks: Links = {
  overview: () => '#overview',
  endpoint: (id) => `#endpoint-${id}`,
  finding: (id) => `#finding-${id}`,
};

/** An inline icon (a lens over stacked rows), so no page ever asks the server for /favicon.ico. */
const FAVICON =
  'data:image/svg+xml,' +
  encodeURIComponent(
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect x="1" y="2" width="9" height="2" fill="#c2410c"/><rect x="1" y="6" width="9" height="2" fill="#c2410c"/><rect x="1" y="10" width="6" height="2" fill="#c2410c"/><circle cx="10.5" cy="9.5" r="3.5" fill="none" stroke="#1d4ed8" stroke-width="1.6"/><path d="M13 12l2.5 2.5" stroke="#1d4ed8" stroke-width="1.8"/></svg>',
  );

/** The whole document around one or more views. */
export function Document({ title, children, home = '/' }: { title: string; children: Child; home?: string }) {
  return (
    <>
    {raw('<!doctype html>')}
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width,initial-scale=1" />
        <meta name="color-scheme" content="light dark" />
        <link rel="icon" href={FAVICON} />
        <title>{title}</title>
        <style dangerouslySetInnerHTML={{ __html: STYLE }} />
      </head>
      <body>
        <header class="top">
          <div class="in">
            <a class="brand" href={home} data-home>
              n1<span>lens</span>
            </a>
            <span class="small muted">N+1 queries and their fixes</span>
          </div>
        </header>
        {children}
        <script dangerouslySetInnerHTML={{ __html: SCRIPT }} />
      </body>
    </html>
    </>
  );
}

const RANGE_LABEL: Record<Filters['range'], string> = { '1h': 'Last hour', '24h': 'Last 24 hours', '7d': 'Last 7 days', '30d': 'Last 30 days', all: 'All time', custom: 'Custom…' };

/** The period the filters describe, in words. */
export function periodText(f: Filters, nowMs: number): string {
  if (f.range === 'all') return 'all time';
  if (f.range !== 'custom') return RANGE_LABEL[f.range].toLowerCase();
  if (f.sinceMs === undefined) return `until ${dateTime(f.untilMs ?? nowMs)}`;
  return formatPeriod({ sinceMs: f.sinceMs, untilMs: f.untilMs ?? nowMs });
}

function FilterForm({ filters, services }: { filters: Filters; services: string[] }) {
  return (
    <form class="filters" method="get" action="/" role="search">
      <label class="grow">
        Search endpoints and tables
        <input type="search" name="q" value={filters.q ?? ''} placeholder="dashboard, recruit_candidate…" data-live autocomplete="off" />
      </label>
      <label>
        Service
        <select name="service">
          <option value="">All services</option>
          {services.map((s) => (
            <option value={s} selected={filters.service === s}>
              {s}
            </option>
          ))}
        </select>
      </label>
      <label>
        Time range
        <select name="range">
          {(Object.keys(RANGE_LABEL) as Filters['range'][]).map((r) => (
            <option value={r} selected={filters.range === r}>
              {RANGE_LABEL[r]}
            </option>
          ))}
        </select>
      </label>
      <span data-custom class="custom">
        <label>
          From (UTC)
          <input type="datetime-local" name="from" value={filters.from ?? ''} />
        </label>
        <label>
          To (UTC)
          <input type="datetime-local" name="to" value={filters.to ?? ''} />
        </label>
      </span>
      <label>
        Finding kind
        <select name="kind">
          <option value="">All kinds</option>
          {(Object.keys(KIND_LABEL) as FindingKind[]).map((k) => (
            <option value={k} selected={filters.kind === k}>
              {KIND_LABEL[k]}
            </option>
          ))}
        </select>
      </label>
      <button type="submit">Apply</button>
    </form>
  );
}

function KindBadge({ kind }: { kind: FindingKind }) {
  return <span class={`badge ${kind}`}>{KIND_LABEL[kind]}</span>;
}

/** Overview columns: key, header, the row's sort value, numeric. */
const COLUMNS = {
  endpoint: { label: 'Endpoint', value: (r: OverviewRow) => r.endpoint.endpoint, numeric: false },
  requests: { label: 'Requests', value: (r: OverviewRow) => r.endpoint.requests, numeric: true },
  queries: { label: 'Queries / req', value: (r: OverviewRow) => r.endpoint.queriesPerRequest.p50, numeric: true },
  perRequest: { label: 'Wasted / req', value: (r: OverviewRow) => r.endpoint.wastedMsPerRequest, numeric: true },
  wasted: { label: 'Wasted total', value: (r: OverviewRow) => r.wastedMs, numeric: true },
  findings: { label: 'Findings', value: (r: OverviewRow) => r.endpoint.findings.length, numeric: true },
} as const;
export type SortKey = keyof typeof COLUMNS;
export const isSortKey = (s: string): s is SortKey => s in COLUMNS;

/**
 * Rows in the order a sort link asks for; the default is the rank (wasted total, descending). Rows
 * that tie keep their rank either way (a stable sort on the negated comparison, as the page's script
 * sorts), so the JSON API, the page and a click in the page agree.
 */
export function sortRows(rows: OverviewRow[], sort: SortKey, dir: 'asc' | 'desc'): OverviewRow[] {
  if (sort === 'wasted' && dir === 'desc') return rows;
  const value = COLUMNS[sort].value;
  const sign = dir === 'desc' ? -1 : 1;
  return [...rows].sort((a, b) => {
    const x = value(a);
    const y = value(b);
    return sign * (typeof x === 'number' && typeof y === 'number' ? x - y : String(x).localeCompare(String(y)));
  });
}

function SortHeader({ col, sort, dir, filters, numeric }: { col: SortKey; sort: SortKey; dir: 'asc' | 'desc'; filters: Filters; numeric: boolean }) {
  const active = col === sort;
  const next = active ? (dir === 'desc' ? 'asc' : 'desc') : col === 'endpoint' ? 'asc' : 'desc';
  return (
    <th class={numeric ? 'n' : ''} data-col={col} aria-sort={active ? (dir === 'asc' ? 'ascending' : 'descending') : undefined} scope="col">
      <a href={filterQuery(filters, { sort: col, dir: next })}>{COLUMNS[col].label}</a>
    </th>
  );
}

export function OverviewView({ view, links, sort = 'wasted', dir = 'desc', nowMs, live }: { view: Overview; links: Links; sort?: SortKey; dir?: 'asc' | 'desc'; nowMs: number; live: boolean }) {
  const { filters, summary } = view;
  const rows = sortRows(view.rows, sort, dir);
  const rankOf = new Map(view.rows.map((r, i) => [r, i + 1]));
  const withFindings = view.rows.filter((r) => r.endpoint.findings.length > 0).length;
  // A trend needs a few buckets to say anything; a short recording has one.
  const showTrend = view.axis.count >= 3;
  return (
    <section class="view" id="overview">
      <h1>Endpoints wasting database time</h1>
      <p class="muted">
        Ranked by wasted DB time × traffic, {live ? periodText(filters, nowMs) : 'over the whole recording'}
        {filters.service ? ` · service ${filters.service}` : ''}.
        {showTrend ? ` Trend per ${bucketSize(view)}: bars are DB time wasted in query loops, the line is queries per request.` : ''}
      </p>
      {live ? <FilterForm filters={filters} services={view.services} /> : <StaticSearch />}
      <div class="stats">
        <div class="stat hot">
          <b>{ms(summary.wastedMs)}</b>
          <span>DB time wasted</span>
        </div>
        <div class="stat">
          <b>{summary.findings}</b>
          <span>findings on {withFindings} endpoints</span>
        </div>
        <div class="stat">
          <b>{int(summary.requests)}</b>
          <span>requests</span>
        </div>
        <div class="stat">
          <b>{int(summary.dbSpans)}</b>
          <span>DB queries</span>
          {summary.queriesOutsideRequests ? (
            <span class="outside" title="no request or test span above them: a test database's set-up, migrations, a script">
              {int(summary.queriesOutsideRequests)} more outside any request
            </span>
          ) : null}
        </div>
      </div>
      {rows.length === 0 ? (
        <div class="empty">
          {filters.q || filters.kind || filters.service
            ? 'No endpoint matches these filters.'
            : live
              ? 'No requests in this period yet. Point an OpenTelemetry exporter at /v1/traces, or widen the time range.'
              : 'No requests in these traces.'}
        </div>
      ) : (
        <table class="list" data-sortable>
          <caption class="sr">
            <span id="shown">{rows.length}</span> endpoints
          </caption>
          <thead>
            <tr>
              <th class="rank" scope="col">#</th>
              <SortHeader col="endpoint" sort={sort} dir={dir} filters={filters} numeric={false} />
              <SortHeader col="requests" sort={sort} dir={dir} filters={filters} numeric />
              <SortHeader col="queries" sort={sort} dir={dir} filters={filters} numeric />
              <SortHeader col="perRequest" sort={sort} dir={dir} filters={filters} numeric />
              <SortHeader col="wasted" sort={sort} dir={dir} filters={filters} numeric />
              {showTrend ? <th scope="col">Trend</th> : null}
              <SortHeader col="findings" sort={sort} dir={dir} filters={filters} numeric />
            </tr>
          </thead>
          <tbody>{raw(rows.map((r) => overviewRow(r, rankOf.get(r)!, links, filters, showTrend)).join(''))}</tbody>
        </table>
      )}
      <ServiceFindings findings={view.serviceFindings} />
      {links.api ? (
        <footer>
          JSON: <a href={links.api}>{links.api}</a> · <a href={`/api/report${filterQuery(filters)}`}>{`/api/report${filterQuery(filters)}`}</a>
        </footer>
      ) : null}
    </section>
  );
}

const msOrDash = (n: number): string => (n === 0 ? '—' : ms(n));

/**
 * One overview row's markup, written as a string: a thousand rows of JSX elements took most of the
 * page's render time. Every value goes through escapeHtml, as JSX would escape it.
 */
function overviewRow(r: OverviewRow, rank: number, links: Links, filters: Filters, showTrend: boolean): string {
  const e = r.endpoint;
  const name = escapeHtml(e.endpoint);
  const search = escapeHtml(`${e.endpoint} ${e.service} ${r.tables.join(' ')}`.toLowerCase());
  const link = r.id === undefined ? `<code>${name}</code>` : `<a href="${escapeHtml(links.endpoint(r.id, filters))}">${name}</a>`;
  const where = escapeHtml(`${e.service}${r.tables.length > 0 ? ` · ${r.tables.join(', ')}` : ''}`);
  const badges = r.kinds.map((k) => `<span class="badge ${escapeHtml(k)}">${escapeHtml(KIND_LABEL[k])}</span>`).join('');
  const cell = (label: string, v: number, text: string): string => `<td class="n" data-label="${label}" data-v="${v}">${text}</td>`;
  return (
    `<tr data-search="${search}" data-endpoint="${name}"><td class="rank" data-v="${rank}">${rank}</td>` +
    `<td class="ep" data-v="${name}">${link}<div class="small muted">${where}</div><div>${badges}</div></td>` +
    cell('requests', e.requests, escapeHtml(int(e.requests))) +
    cell('queries/req', e.queriesPerRequest.p50, String(e.queriesPerRequest.p50)) +
    cell('wasted/req', e.wastedMsPerRequest, escapeHtml(msOrDash(e.wastedMsPerRequest))) +
    cell('wasted', r.wastedMs, `<b>${escapeHtml(msOrDash(r.wastedMs))}</b>`) +
    (showTrend ? `<td class="trend">${sparklineSvg(r.trend, `${e.endpoint} trend`)}</td>` : '') +
    cell('findings', e.findings.length, String(e.findings.length)) +
    '</tr>'
  );
}

function bucketSize(view: { axis: { sizeMs: number } }): string {
  const h = view.axis.sizeMs / 3_600_000;
  return h >= 24 ? `${h / 24} day${h === 24 ? '' : 's'}` : h === 1 ? 'hour' : `${h} hours`;
}

/** The report file has no server to filter: the search box filters rows in the page (with JS). */
function StaticSearch() {
  return (
    <form class="filters" role="search" onsubmit="return false">
      <label class="grow">
        Search endpoints and tables
        <input type="search" name="q" placeholder="dashboard, recruit_candidate…" data-live autocomplete="off" />
      </label>
    </form>
  );
}

/**
 * Django code laid out to fit a column, still valid Python: a queryset broken across lines at its
 * method calls is wrapped in parentheses (Black's style), so what is copied runs as pasted.
 */
export function displayCode(code: string, width = 88): string {
  const lines = wrapCode(code, width);
  if (lines.length === 1 || code.includes('\n') || code.startsWith('.') || !lines.slice(1).some((l) => /^\s*\./.test(l))) return lines.join('\n');
  return ['(', ...wrapCode(code, width - 4, '    '), ')'].join('\n');
}

/** A code block that scrolls inside its column, with a copy button that appears when JS runs. */
function CodeBlock({ code, label, id: blockId, wrap = false }: { code: string; label: string; id: string; wrap?: boolean }) {
  return (
    <div>
      <div class="codehead">
        <span>{label}</span>
        <button type="button" class="ghost" data-copy={blockId} hidden aria-label={`Copy ${label.toLowerCase()}`}>
          Copy
        </button>
      </div>
      <pre id={blockId} class={wrap ? 'wrap' : undefined} tabindex={0}>
        <code>{code}</code>
      </pre>
    </div>
  );
}


/** A location as the other outputs cite it (report/text.ts formatLocation), then the view when the cite leaves it out. */
export function locationText(l: CodeLocation): string[] {
  const cite = formatLocation(l);
  const parts = cite === '' ? [] : [cite];
  if (l.view !== undefined && !cite.includes(l.view)) parts.push(`view ${l.view}`);
  return parts;
}

function Location({ location, label }: { location: CodeLocation | undefined; label: string }) {
  if (location === undefined) return null;
  const parts = locationText(location);
  if (parts.length === 0) return null;
  return (
    <p class="small">
      <span class="muted">{label}: </span>
      {parts.map((p, i) => (
        <>
          {i > 0 ? ' · ' : ''}
          <code>{p}</code>
        </>
      ))}
    </p>
  );
}

/** The other places a loop runs the finding's query from (a second loop over other rows): one fix applies at each. */
function OtherLocations({ finding }: { finding: Pick<ReportFinding, 'otherLocations'> }) {
  return <>{(finding.otherLocations ?? []).map((l) => <Location location={l} label="Also at" />)}</>;
}

function Fix({ suggestion: s, idPrefix }: { suggestion: ReportFinding['suggestion']; idPrefix: string }) {
  return (
    <>
      {s.placement ? <p class="small muted">{s.placement}</p> : null}
      <CodeBlock code={displayCode(s.code)} label={`Fix · ${s.method.replace('_', ' ')}${s.confidence === 'inferred' ? ' · names inferred' : ''}`} id={`${idPrefix}-fix`} />
      {s.readInstead ? <p class="note read">{readInsteadText(s.readInstead)}</p> : null}
      {s.note ? <p class="note">{s.note}</p> : null}
    </>
  );
}

/** connection_pressure and dead_view: about a service or the app, ranked apart from DB waste and never in the budget. */
export function ServiceFindings({ findings }: { findings: readonly ServiceFinding[] }) {
  if (findings.length === 0) return null;
  return (
    <>
      <h2 id="service-findings">
        Connections and dead views <span class="muted small">(not counted in the budget)</span>
      </h2>
      <div class="findings">
        {findings.map((f, i) => (
          <article class="finding" data-kind={f.kind}>
            <h3>
              <KindBadge kind={f.kind} />
              <code>{f.subject || '(root)'}</code>
              <span class="muted small">{f.service}</span>
            </h3>
            <p class="small">{serviceFindingFigures(f)}</p>
            <Location location={f.location} label="Location" />
            {f.kind === 'connection_pressure' ? <Fix suggestion={f.suggestion} idPrefix={`service-${i}`} /> : f.suggestion.note ? <p class="note">{f.suggestion.note}</p> : null}
          </article>
        ))}
      </div>
    </>
  );
}

function FindingCard({ f, links, filters, index }: { f: AcknowledgedFinding; links: Links; filters: Filters; index: string }) {
  const title = f.kind === 'sync_fanout' ? `${f.repeatsPerRequest.p50} serial outbound calls` : `${f.operation} ${f.table}`;
  return (
    <article class="finding" id={`f-${f.fingerprint || index}`} data-kind={f.kind}>
      <h3>
        <KindBadge kind={f.kind} />
        {f.id === undefined ? <code>{title}</code> : <a href={links.finding(f.id, filters)}><code>{title}</code></a>}
      </h3>
      <div class="meta">
        {f.kind === 'n_plus_one' || f.kind === 'repeated_write' ? (
          <span>
            <b>×{f.repeatsPerRequest.p50}</b> per request (max {f.repeatsPerRequest.max})
          </span>
        ) : null}
        <span>
          <b>{ms(f.wastedMs)}</b> {f.kind === 'sync_fanout' ? 'waiting' : 'wasted'}
        </span>
        <span>
          <b>{int(f.requestsAffected)}</b> requests
        </span>
        {f.chain.length > 0 ? (
          <span>
            path <code>{f.chain.join('__')}</code>
          </span>
        ) : null}
        {f.trigger ? (
          <span>
            loops over <code>{f.trigger.table}</code>
          </span>
        ) : null}
      </div>
      {f.acknowledgement ? (
        <p class="note read">
          <b>{f.acknowledgement.state === 'ignored' ? 'Ignored' : 'Acknowledged'}</b>
          {f.acknowledgement.reason ? `: ${f.acknowledgement.reason}` : ''}
          {f.acknowledgement.expires ? ` (until ${f.acknowledgement.expires})` : ''}
        </p>
      ) : null}
      <Location location={f.location} label="Location" />
      <OtherLocations finding={f} />
      {f.trigger?.location !== undefined && formatLocation(f.trigger.location) !== formatLocation(f.location) ? (
        <Location location={f.trigger.location} label="Loops over the rows of" />
      ) : null}
      <Fix suggestion={f.suggestion} idPrefix={`e${index}`} />
      {f.id !== undefined ? (
        <p class="small">
          <a href={links.finding(f.id, filters)}>Waterfall, SQL and history →</a>
        </p>
      ) : f.sql ? (
        <details>
          <summary class="small">SQL</summary>
          <pre>
            <code>{formatSql(f.sql)}</code>
          </pre>
        </details>
      ) : null}
    </article>
  );
}

function Crumbs({ children }: { children: Child }) {
  return <nav class="crumbs" aria-label="Breadcrumb">{children}</nav>;
}

export function EndpointPage({ view, links, nowMs, live }: { view: EndpointView; links: Links; nowMs: number; live: boolean }) {
  const e: ReportEndpoint = view.endpoint;
  const f = view.filters;
  const muted = e.findings.filter((x: AcknowledgedFinding) => x.acknowledgement !== undefined);
  const open = e.findings.filter((x: AcknowledgedFinding) => x.acknowledgement === undefined);
  const totalWasted = e.wastedMsPerRequest * e.requests;
  return (
    <section class="view" id={`endpoint-${view.id}`}>
      <Crumbs>
        <a href={links.overview(f)}>Overview</a> / {e.service}
      </Crumbs>
      <h1>
        <code>{e.endpoint}</code>
      </h1>
      <p class="muted">{live ? periodText(f, nowMs) : 'whole recording'}</p>
      <div class="stats">
        <div class="stat hot">
          <b>{ms(e.wastedMsPerRequest)}</b>
          <span>wasted per request</span>
        </div>
        <div class="stat">
          <b>
            {e.queriesPerRequest.p50} <span class="small muted">/ {e.queriesPerRequest.max}</span>
          </b>
          <span>queries per request, p50 / max</span>
        </div>
        <div class="stat">
          <b>{int(e.requests)}</b>
          <span>requests, {e.requests === 0 ? 0 : Math.round((e.requestsAffected / e.requests) * 100)}% with a query loop</span>
        </div>
        <div class="stat">
          <b>{ms(totalWasted)}</b>
          <span>wasted in total</span>
        </div>
      </div>
      {live ? <EndpointCharts axis={view.axis} trend={view.trend} /> : null}
      {endpointFixToShow(e) !== '' ? (
        <>
          <h2>The combined fix</h2>
          <p class="muted small">One queryset that removes every query loop below; paste it where the view builds its queryset.</p>
          <CodeBlock code={e.fix.split('\n').map((line) => displayCode(line)).join('\n')} label="Queryset" id={`fix-${view.id}`} />
        </>
      ) : null}
      <h2>Findings ({open.length})</h2>
      {open.length === 0 ? (
        <div class="empty">No open findings{f.kind ? ` of kind ${KIND_LABEL[f.kind]}` : ''} in this period.</div>
      ) : (
        <div class="findings">
          {open.map((x, i) => (
            <FindingCard f={x} links={links} filters={f} index={`${view.id}-${i}`} />
          ))}
        </div>
      )}
      {muted.length > 0 ? (
        <>
          <h2>Acknowledged and ignored ({muted.length})</h2>
          <p class="muted small">Left out of the overview, /api/report and the digest until their expiry.</p>
          <div class="findings">
            {muted.map((x, i) => (
              <FindingCard f={x} links={links} filters={f} index={`${view.id}-m${i}`} />
            ))}
          </div>
        </>
      ) : null}
    </section>
  );
}

function dateTime(msEpoch: number): string {
  return Number.isFinite(msEpoch) ? `${new Date(msEpoch).toISOString().slice(0, 19).replace('T', ' ')} UTC` : '—';
}

/** Acknowledge or ignore the finding, with a reason and an expiry; or withdraw the decision. Plain forms. */
function Decision({ view, nowMs }: { view: FindingView; nowMs: number }) {
  const a = view.acknowledgement;
  const tomorrow = new Date(nowMs + 86_400_000).toISOString().slice(0, 10);
  return (
    <>
      <h2 id="decision">Acknowledge or ignore</h2>
      {a ? (
        <div class="panel">
          <p>
            <b>{a.state === 'ignored' ? 'Ignored' : 'Acknowledged'}</b> on {dateTime(a.createdMs)}
            {a.reason ? `: ${a.reason}` : ''}. {a.expires ? `It counts again from ${a.expires}.` : 'No expiry.'}
          </p>
          <p class="small muted">
            Left out of the overview, /api/report and the digest; CI can take it as a baseline: <a href="/api/baseline">/api/baseline</a>
          </p>
          <form method="post" action={`/findings/${view.id}/unacknowledge`}>
            <button type="submit" class="ghost">
              Withdraw
            </button>
          </form>
        </div>
      ) : (
        <form class="panel decision" method="post" action={`/findings/${view.id}/acknowledge`}>
          <fieldset>
            <legend class="small muted">Decision</legend>
            <label>
              <input type="radio" name="state" value="acknowledged" checked /> Acknowledge: known, a fix is planned
            </label>
            <label>
              <input type="radio" name="state" value="ignored" /> Ignore: accepted as it is
            </label>
          </fieldset>
          <div class="decision-fields">
            <label class="grow">
              Reason
              <input type="text" name="reason" maxlength={500} placeholder="e.g. fixed in #1234, ships Friday" required />
            </label>
            <label>
              Until (optional)
              <input type="date" name="expires" min={tomorrow} />
            </label>
            <button type="submit">Save</button>
          </div>
          <p class="small muted">Until then it stays out of the overview, /api/report and the digest.</p>
        </form>
      )}
    </>
  );
}

export function FindingPage({ view, links, nowMs, live }: { view: FindingView; links: Links; nowMs: number; live: boolean }) {
  const s = view.stored;
  const f = view.finding;
  const kind = s.kind as FindingKind;
  const filters = view.filters;
  const repeats = view.waterfall?.lanes.find((l) => l.role === 'repeat')?.spans.length;
  return (
    <section class="view" id={`finding-${view.id}`}>
      <Crumbs>
        <a href={links.overview(filters)}>Overview</a> /{' '}
        {view.endpointId === undefined ? s.endpoint : <a href={links.endpoint(view.endpointId, filters)}>{s.endpoint}</a>} / finding {view.id}
      </Crumbs>
      <h1>
        {KIND_LABEL[kind] ?? s.kind}: <code>{mainTable(s.sql) || s.fingerprint}</code>
        {f ? <span class="muted"> ×{f.repeatsPerRequest.p50} per request</span> : null}
      </h1>
      <dl class="facts">
        <dt>Endpoint</dt>
        <dd>
          <code>{s.endpoint}</code> <span class="muted">({s.service})</span>
        </dd>
        <dt>Wasted</dt>
        <dd>
          {ms(s.wastedMs)} over {int(s.requestsAffected)} requests ({int(s.executions)} executions)
        </dd>
        <dt>First seen</dt>
        <dd>{dateTime(s.firstSeenMs)}</dd>
        <dt>Last seen</dt>
        <dd>{dateTime(s.lastSeenMs)}</dd>
        {s.trigger ? (
          <>
            <dt>Trigger</dt>
            <dd>
              <code>{s.trigger.table}</code> <span class="muted">(the loop iterates its rows)</span>
            </dd>
          </>
        ) : null}
        {s.example ? (
          <>
            <dt>Example trace</dt>
            <dd>
              {view.traceLink ? (
                <a href={view.traceLink} rel="noopener noreferrer" target="_blank" data-trace-link>
                  <code>{s.example.traceId}</code> ↗
                </a>
              ) : (
                <code>{s.example.traceId}</code>
              )}{' '}
              <span class="muted">({ms(s.example.wastedMs)} wasted in that request)</span>
            </dd>
          </>
        ) : null}
      </dl>
      {view.waterfall ? (
        <>
          <h2>The example request's queries</h2>
          <div class="legend" aria-hidden="true">
            <span>
              <i class="trigger" />
              trigger
            </span>
            <span>
              <i class="repeat" />
              repeated query{repeats ? ` (${repeats} calls)` : ''}
            </span>
            <span>
              <i class="other" />
              other queries
            </span>
            <span>to scale: a bar's width is its duration</span>
          </div>
          <WaterfallView waterfall={view.waterfall} />
        </>
      ) : null}
      {f ? (
        <>
          <h2>The fix</h2>
          <Location location={f.location} label="Location" />
          <OtherLocations finding={f} />
          <Fix suggestion={f.suggestion} idPrefix={`finding-${view.id}`} />
        </>
      ) : null}
      {live ? <Decision view={view} nowMs={nowMs} /> : null}
      <h2>SQL</h2>
      <div class="grid2">
        <CodeBlock code={formatSql(s.sql)} label="Repeated query (normalised)" id={`sql-${view.id}`} />
        {s.trigger ? <CodeBlock code={formatSql(s.trigger.sql)} label="Trigger (normalised)" id={`trigger-${view.id}`} /> : <div />}
      </div>
      {live ? (
        <>
          <h2>Requests affected over time</h2>
          <div class="panel">
            <FindingChart axis={view.axis} trend={view.trend} />
            <p class="small muted">
              {periodText(filters, nowMs)}, per {bucketSize(view)} from {bucketLabel(view.axis.startMs, view.axis.sizeMs)}
            </p>
          </div>
        </>
      ) : null}
      {links.api ? (
        <footer>
          JSON: <a href={links.api}>{links.api}</a>
        </footer>
      ) : null}
    </section>
  );
}
