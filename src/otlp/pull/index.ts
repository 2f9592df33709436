/** Pulls traces from a running backend (Jaeger, Tempo or Zipkin, told apart by asking) as the same batches a trace file gives. */
import { displayUrl, PullError, type HttpOptions } from './http.js';
import { probeJaeger } from './jaeger.js';
import { probeTempo } from './tempo.js';
import { probeZipkin } from './zipkin.js';
import type { ProbeNotes, SourceOptions, TraceSource } from './source.js';

export { PullError } from './http.js';
export { traceQl } from './tempo.js';
export type { ApiName, PullQuery, PullStats, SourceOptions, TraceSource } from './source.js';

/**
 * Parses `Name: value` header options; `user:password@` in the URL becomes basic auth (fetch refuses
 * credentials in a URL).
 */
export function connection(from: string, headerOptions: readonly string[]): { base: URL; headers: Record<string, string> } {
  // A host (and port) without a scheme: `localhost:16686` would parse as a URL of scheme `localhost:`.
  const bare = from.trim();
  if (!bare.includes('://') && /^(?:[\w.-]+|\[[\da-f:.]+\])(?::\d*)?(?:[/?#]|$)/i.test(bare)) {
    throw new PullError(`--from ${JSON.stringify(from)} has no scheme: use http://${bare} (or https://)`);
  }
  let base: URL;
  try {
    base = new URL(from);
  } catch {
    throw new PullError(`--from ${JSON.stringify(from)} is not a URL (e.g. http://127.0.0.1:16686)`);
  }
  if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new PullError(`--from must be an http(s) URL, not ${base.protocol}`);
  const headers: Record<string, string> = {};
  for (const option of headerOptions) {
    const colon = option.indexOf(':');
    const name = colon > 0 ? option.slice(0, colon).trim() : '';
    if (!/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(name)) {
      throw new PullError(`--header ${JSON.stringify(option.length > 40 ? `${option.slice(0, 40)}…` : option)} is not "Name: value" (e.g. "Authorization: Bearer <token>")`);
    }
    headers[name] = option.slice(colon + 1).trim();
  }
  if (base.username !== '' || base.password !== '') {
    const credentials = `${percentDecoded(base.username)}:${percentDecoded(base.password)}`;
    if (!Object.keys(headers).some((h) => h.toLowerCase() === 'authorization')) {
      headers.Authorization = `Basic ${Buffer.from(credentials).toString('base64')}`;
    }
    base.username = '';
    base.password = '';
  }
  return { base, headers };
}

/**
 * A URL's user name or password as typed: percent-decoded (`p%40ss` is `p@ss`), or the raw text when
 * it is not valid percent-encoding (`50%off`: the URL parser keeps a `%` not followed by two hex
 * digits as it is, and so is it meant).
 */
function percentDecoded(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/**
 * The backend at `base`: Jaeger's query API (v3 preferred, as it returns OTLP), Tempo or Zipkin's
 * API v2, asked in that order. Throws PullError with one line when it is unreachable, refuses the
 * credentials, or is none of them.
 *
 * @example const source = await openTraceSource(new URL('http://127.0.0.1:16686'), { headers: {} });
 */
export async function openTraceSource(base: URL, opts: SourceOptions & HttpOptions): Promise<TraceSource> {
  const notes: ProbeNotes = {};
  const source = (await probeJaeger(base, opts, notes)) ?? (await probeTempo(base, opts, notes)) ?? (await probeZipkin(base, opts, notes));
  const page = notes.htmlPage;
  if (source === undefined && page !== undefined) {
    // A sign-in proxy in front of the API redirects to its login page; a UI answers unknown paths with its own.
    throw new PullError(
      `${displayUrl(base)}: not a Jaeger query API, Tempo or Zipkin: GET ${page.asked.pathname} answered with a web page${page.redirectedTo === undefined ? '' : ` at ${displayUrl(page.redirectedTo)}`}, not the API's JSON (a sign-in page in front of it? pass its credentials with --header; or give the query service's own base URL)`,
    );
  }
  if (source === undefined) {
    throw new PullError(
      `${displayUrl(base)}: not a Jaeger query API, Tempo or Zipkin (no answer to GET /api/v3/services, /api/services, /api/echo or /api/v2/services); give the query service's base URL, e.g. http://jaeger:16686, http://tempo:3200 or http://zipkin:9411`,
    );
  }
  return source;
}
