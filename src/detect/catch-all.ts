/**
 * Catch-all routes (Wagtail's page serving, a CMS slug router) serve every page type through one
 * route; one endpoint for all of them would merge unrelated loops into one meaningless fix. Such a
 * request's endpoint is split by the specific page model it served, read from its queries, or else
 * by the first segment of its path, and the endpoint name says which.
 */
import type { NormalizedSql } from '../sql/types.js';

/** How a catch-all endpoint was split, as the report shows it. */
export interface EndpointSplit {
  /** The endpoint before the split, e.g. `GET ^((?:[\w\-]+/)*)$`. */
  route: string;
  by: 'page_model' | 'first_path_segment';
  /** The specific page table (`blog_blogpage`) or the path's first segment (`/blog/`). */
  value: string;
}

const SPLIT_LABEL = { page_model: 'page', first_path_segment: 'path' } as const;
const SPLIT_SUFFIX = / \[(page|path): ([^\]]+)\]$/;

/** Wagtail's page-serving pattern, as ResolverMatch.route has it after a prefix (Django drops its `^` there). */
const WAGTAIL_PAGES = '((?:[\\w\\-]+/)*)$';

/**
 * Routes that match any path: Wagtail's `^((?:[\w\-]+/)*)$`, also under a literal prefix
 * (`path('pages/', include(wagtail_urls))` gives `pages/((?:[\w\-]+/)*)$`), `<path:…>` converters,
 * `.*`-style regexes, also with a slash after the `.*` (django.contrib.flatpages' documented catch-all,
 * `^(?P<url>.*` then `/)$`: any path ending in a slash).
 */
export function isCatchAllRoute(route: string): boolean {
  const r = route.startsWith('^') ? route.slice(1) : route;
  return (
    (r.endsWith(WAGTAIL_PAGES) && /^[\w\-./]*$/.test(r.slice(0, r.length - WAGTAIL_PAGES.length))) ||
    /^<path:[^>]+>\/?$/.test(r) ||
    /^\(?\.[*+]\/?\)?\/?\$?$/.test(r) ||
    /^\(\?P<[^>]+>\.[*+]\/?\)\/?\$?$/.test(r)
  );
}

/** `GET ^((?:[\w\-]+/)*)$` -> its route part. */
function routeOf(endpoint: string): string {
  const space = endpoint.indexOf(' ');
  return space > 0 && /^[A-Z]+$/.test(endpoint.slice(0, space)) ? endpoint.slice(space + 1) : endpoint;
}

const PAGE_TABLE = 'wagtailcore_page';
/** Queries allowed between two routing steps (locale, site, alias look-ups). */
const MAX_GAP = 3;

/**
 * The specific page table a Wagtail request served: routing walks down the tree with a single-row
 * `wagtailcore_page` lookup, each followed by `.specific`, a single-row lookup on a page table by
 * `page_ptr_id`. The last step of that first chain is the page served; later pairs (a template's
 * `get_parent().specific`) are not routing.
 */
export function servedPageTable(queries: readonly NormalizedSql[]): string | undefined {
  let served: string | undefined;
  let lastEnd = -1;
  for (let i = 0; i + 1 < queries.length; i++) {
    const page = queries[i]!.facts;
    if (page.operation !== 'SELECT' || page.table !== PAGE_TABLE || page.limit !== 21) continue;
    // `.specific` may first fill the ContentType cache (a cold process's first request).
    let j = i + 1;
    while (j < queries.length && j <= i + 2 && queries[j]!.facts.table === 'django_content_type') j++;
    const specific = queries[j]?.facts;
    if (specific === undefined) break;
    const ptr = `${specific.table}.page_ptr_id`;
    if (specific.operation !== 'SELECT' || specific.limit !== 21 || !specific.equalityFilters.includes(ptr)) continue;
    if (served !== undefined && i - lastEnd > MAX_GAP) break;
    served = specific.table;
    lastEnd = j;
  }
  return served;
}

/** `/blog/2024/post/?x=1` -> `/blog/`; `/` -> `/`. */
export function firstPathSegment(path: string): string {
  const segment = path.split(/[?#]/)[0]!.split('/').find((s) => s !== '');
  return segment === undefined ? '/' : `/${segment}/`;
}

/**
 * The endpoint a request of a catch-all route counts under; other endpoints are returned as they
 * are. `queries` gives the request's statements in order, asked for only on a catch-all route.
 */
export function splitCatchAll(endpoint: string, path: string | undefined, queries: () => readonly NormalizedSql[]): string {
  if (!isCatchAllRoute(routeOf(endpoint))) return endpoint;
  const table = servedPageTable(queries());
  if (table !== undefined) return `${endpoint} [${SPLIT_LABEL.page_model}: ${table}]`;
  if (path !== undefined && path !== '') return `${endpoint} [${SPLIT_LABEL.first_path_segment}: ${firstPathSegment(path)}]`;
  return endpoint;
}

/** Reads back how an endpoint was split (the store keeps endpoint names only), or null. */
export function readSplit(endpoint: string): EndpointSplit | null {
  const m = SPLIT_SUFFIX.exec(endpoint);
  if (m === null) return null;
  return { route: endpoint.slice(0, m.index), by: m[1] === 'page' ? 'page_model' : 'first_path_segment', value: m[2]! };
}
