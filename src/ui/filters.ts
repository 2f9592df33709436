/** The filters every page and API route shares (service, time range, finding kind, text search), parsed from and written back to query strings. */
import type { FindingKind } from '../detect/types.js';
import { DAY_MS, HOUR_MS, formatDuration, parseDuration, parseInstant, parseSince } from '../report/period.js';
import { KIND_LABEL } from '../report/text.js';

export const RANGES = { '1h': HOUR_MS, '24h': DAY_MS, '7d': 7 * DAY_MS, '30d': 30 * DAY_MS } as const;
export type RangeKey = keyof typeof RANGES | 'all' | 'custom';
/** What a page shows without a range: the last week. The JSON API's default is all stored data, as /api/report has always served. */
export const PAGE_RANGE: RangeKey = '7d';
export const API_RANGE: RangeKey = 'all';

export interface Filters {
  service?: string;
  range: RangeKey;
  /** Epoch ms, inclusive; absent for `all`. */
  sinceMs?: number;
  /** Epoch ms, exclusive; absent means now. */
  untilMs?: number;
  /** `custom` bounds as typed (`2026-12-01T09:00`, UTC), to refill the form. */
  from?: string;
  to?: string;
  kind?: FindingKind;
  /** Text search over endpoint names and finding tables. */
  q?: string;
  /** Endpoint glob (`GET dashboard/*`), as /api/report takes it. */
  endpoint?: string;
  /** Keep acknowledged and ignored findings in the lists, marked (`acknowledged=include`). */
  includeAcknowledged?: boolean;
  /** `deadAfter=30d`: list URLconf views with no traffic for that long (needs serve --schema with the URLconf). */
  deadAfterMs?: number;
}

/** A filter value that cannot be used; the message says which and what is accepted. */
export class FilterError extends Error {
  override name = 'FilterError';
}

const KINDS = Object.keys(KIND_LABEL) as FindingKind[];
export const isFindingKind = (s: string): s is FindingKind => (KINDS as string[]).includes(s);

/** A `from`/`to` bound: an ISO date or date-time, UTC unless it names a zone (parseInstant, as `since` reads one). */
function instantOf(name: string, text: string): number {
  try {
    return parseInstant(text);
  } catch (e) {
    throw new FilterError(`${name}: ${(e as Error).message}`);
  }
}

/** Reads `service`, `range` (1h, 24h, 7d, 30d, all, custom with `from`/`to`), `since` (as /api/report has always taken it), `kind` and `q`. */
export function parseFilters(query: (name: string) => string | undefined, nowMs: number, defaultRange: RangeKey = PAGE_RANGE): Filters {
  const filters: Filters = { range: defaultRange };
  const service = query('service')?.trim();
  if (service) filters.service = service;
  const q = query('q')?.trim();
  if (q) filters.q = q;
  const endpoint = query('endpoint')?.trim();
  if (endpoint) filters.endpoint = endpoint;
  const deadAfter = query('deadAfter')?.trim();
  if (deadAfter) {
    try {
      filters.deadAfterMs = parseDuration(deadAfter);
    } catch (e) {
      throw new FilterError((e as Error).message);
    }
  }
  const acknowledged = query('acknowledged')?.trim();
  if (acknowledged === 'include') filters.includeAcknowledged = true;
  else if (acknowledged) throw new FilterError(`acknowledged=${acknowledged} is not understood: use acknowledged=include to list acknowledged and ignored findings`);
  const kind = query('kind')?.trim();
  if (kind) {
    if (!isFindingKind(kind)) throw new FilterError(`kind=${kind} is not a finding kind: use one of ${KINDS.join(', ')}`);
    filters.kind = kind;
  }
  const since = query('since')?.trim();
  const range = query('range')?.trim() || (since ? 'custom' : defaultRange);
  if (since) {
    try {
      filters.sinceMs = parseSince(since, nowMs);
    } catch (e) {
      throw new FilterError((e as Error).message);
    }
    filters.range = 'custom';
    filters.from = new Date(filters.sinceMs).toISOString().slice(0, 16);
    return filters;
  }
  if (range === 'all') filters.range = 'all';
  else if (range === 'custom') {
    filters.range = 'custom';
    const from = query('from')?.trim();
    const to = query('to')?.trim();
    if (from) {
      filters.from = from;
      filters.sinceMs = instantOf('from', from);
    }
    if (to) {
      filters.to = to;
      filters.untilMs = instantOf('to', to);
    }
    if (filters.sinceMs !== undefined && filters.untilMs !== undefined && filters.untilMs <= filters.sinceMs) {
      throw new FilterError(`to=${to} is not after from=${from}`);
    }
  } else if (range in RANGES) {
    filters.range = range as keyof typeof RANGES;
    filters.sinceMs = nowMs - RANGES[range as keyof typeof RANGES];
  } else {
    throw new FilterError(`range=${range} is not a range: use 1h, 24h, 7d, 30d, all or custom (with from and to)`);
  }
  return filters;
}

/** The query string that reproduces `filters`, so links keep the user's view (the range always, since pages and API default differently). */
export function filterQuery(filters: Filters, extra: Record<string, string | undefined> = {}): string {
  const params = new URLSearchParams();
  if (filters.service) params.set('service', filters.service);
  params.set('range', filters.range);
  if (filters.range === 'custom') {
    if (filters.from) params.set('from', filters.from);
    if (filters.to) params.set('to', filters.to);
  }
  if (filters.kind) params.set('kind', filters.kind);
  if (filters.q) params.set('q', filters.q);
  if (filters.endpoint) params.set('endpoint', filters.endpoint);
  if (filters.includeAcknowledged) params.set('acknowledged', 'include');
  if (filters.deadAfterMs !== undefined) params.set('deadAfter', formatDuration(filters.deadAfterMs));
  for (const [k, v] of Object.entries(extra)) if (v !== undefined && v !== '') params.set(k, v);
  return `?${params.toString()}`;
}
