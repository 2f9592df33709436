/** `n1-report --format html`: the overview, every endpoint and every finding view in one self-contained file (inline CSS, JS and SVG; no network). */
import { endpointMatcher, type ReportOptions } from '../report/model.js';
import type { Store } from '../store/store.js';
import { endpointView, findingView, overview, type UiContext } from './data.js';
import type { Filters } from './filters.js';
import { Document, EndpointPage, FindingPage, OverviewView, anchorLinks } from './pages.js';

/**
 * One view at a time, chosen by the URL's #fragment (the overview when there is none), in browsers
 * with :has(); elsewhere every view shows, one after the other.
 */
const VIEW_SWITCH = `
@supports selector(:has(a)){
  section.view{display:none}
  section.view:target,body:not(:has(section.view:target)) #overview{display:block}
}
@supports not selector(:has(a)){section.view+section.view{margin-top:3rem;padding-top:1.5rem;border-top:1px solid var(--line)}}
`;

export interface ReportFileOptions {
  report?: Omit<ReportOptions, 'endpoint'>;
  /** `https://jaeger…/trace/{traceId}` for the example trace links. */
  traceUrl?: string;
  title?: string;
  /** Endpoint glob, as `n1-report --endpoint` takes it. */
  endpoint?: string;
}

/** Renders every view of the stored recording as one HTML document. */
export async function renderReportFile(store: Store, options: ReportFileOptions = {}): Promise<string> {
  const matches = endpointMatcher(options.endpoint);
  const endpointsSeen = (await store.endpointRefs()).filter((e) => matches(e.endpoint));
  // The recording's clock, not the wall clock: trends end at its last request.
  const nowMs = (await store.endpoints()).reduce((m, e) => Math.max(m, e.lastSeenMs), 0) + 1;
  const ctx: UiContext = {
    store,
    nowMs,
    ...(options.report === undefined ? {} : { report: options.report }),
    ...(options.traceUrl === undefined ? {} : { traceUrl: options.traceUrl }),
  };
  const all: Filters = { range: 'all', ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }) };
  const view = await overview(ctx, all);
  const endpoints = (await Promise.all(endpointsSeen.map((e) => endpointView(ctx, e.id, all)))).filter((e) => e !== undefined);
  const ranked = new Map(view.rows.map((r, i) => [r.id, i]));
  endpoints.sort((a, b) => (ranked.get(a.id) ?? Infinity) - (ranked.get(b.id) ?? Infinity));
  const findingIds = endpoints.flatMap((e) => e.endpoint.findings.map((f) => f.id).filter((id): id is number => id !== undefined));
  const findings = (await Promise.all(findingIds.map((id) => findingView(ctx, id, all)))).filter((f) => f !== undefined);
  const page = (
    <Document title={options.title ?? 'n1lens report'} home="#overview">
      <style dangerouslySetInnerHTML={{ __html: VIEW_SWITCH }} />
      <main class="in">
        <OverviewView view={view} links={anchorLinks} nowMs={nowMs} live={false} />
        {endpoints.map((e) => (
          <EndpointPage view={e} links={anchorLinks} nowMs={nowMs} live={false} />
        ))}
        {findings.map((f) => (
          <FindingPage view={f} links={anchorLinks} nowMs={nowMs} live={false} />
        ))}
      </main>
    </Document>
  );
  return `${page.toString()}\n`;
}
