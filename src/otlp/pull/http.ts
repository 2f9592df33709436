/** The HTTP side of pulling traces: GET with auth headers, a timeout, retries with backoff for 429/5xx, and one-line errors. */
import { outboundFetch } from '../../proxy.js';

/** Why a pull cannot go on: unreachable, refused credentials, or not the API it should be. One line, for exit 2. */
export class PullError extends Error {
  override readonly name = 'PullError';
}

export interface HttpOptions {
  /** Sent with every request (Authorization for a bearer token or basic auth). */
  headers: Readonly<Record<string, string>>;
  /** Per request, including reading the body. Default 60 s. */
  timeoutMs?: number;
  /** Retries after a 429, a 5xx or a dropped connection. Default 4. */
  retries?: number;
  /** First backoff; doubles each retry, with jitter; a Retry-After header wins. Default 500 ms. */
  backoffMs?: number;
  /** For tests. Default: fetch through the proxy the environment names, if any (proxy.ts). */
  fetch?: typeof fetch;
}

export interface HttpResponse {
  status: number;
  contentType: string;
  body: Buffer;
  /** Where redirects led, when they did (a sign-in page in front of the API). */
  redirectedTo?: URL;
}

const RETRY_STATUS = new Set([429, 500, 502, 503, 504]);
/** Connection errors worth another try; a refused connection or an unknown host is not. */
const RETRY_CODES = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT']);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** An error and its causes, outermost first, at most four deep. */
function causeChain(error: unknown): Error[] {
  const out: Error[] = [];
  for (let e: unknown = error; out.length < 4 && e instanceof Error; e = e.cause) out.push(e);
  return out;
}

function causeCode(error: unknown): string | undefined {
  for (const e of causeChain(error)) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return undefined;
}

function describeFailure(error: unknown): string {
  const code = causeCode(error);
  if (code === 'ECONNREFUSED') return 'connection refused';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'unknown host';
  if (error instanceof Error && error.name === 'TimeoutError') return 'timed out';
  // undici's proxy agent says only "Proxy response (403) !== 200 when HTTP Tunneling", under UND_ERR_ABORTED.
  const tunnel = causeChain(error).map((e) => /^Proxy response \((\d+)\)/.exec(e.message)).find((m) => m !== null);
  if (tunnel != null) return `the proxy refused the tunnel (${tunnel[1]}): check HTTPS_PROXY and NO_PROXY, and that the proxy allows this host`;
  const cause = error instanceof Error && error.cause instanceof Error ? error.cause.message : undefined;
  return code ?? cause ?? (error instanceof Error ? error.message : String(error));
}

/** A URL for messages: without credentials or query string. */
export function displayUrl(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname}`;
}

function retryAfterMs(value: string | null): number | undefined {
  if (value === null) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.min(seconds * 1000, 30_000);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.min(Math.max(0, at - Date.now()), 30_000);
}

/**
 * GETs `url` (through HTTP_PROXY/HTTPS_PROXY unless NO_PROXY lists its host); retries 429/5xx and
 * dropped connections with exponential backoff; any other status is returned for the caller to judge. Throws PullError when the server cannot be reached or the
 * retries run out.
 */
export async function httpGet(url: URL, accept: string, opts: HttpOptions): Promise<HttpResponse> {
  const doFetch = opts.fetch ?? (await outboundFetch());
  const retries = opts.retries ?? 4;
  const backoff = opts.backoffMs ?? 500;
  for (let attempt = 0; ; attempt++) {
    let wait: number | undefined;
    let problem: string;
    try {
      const response = await doFetch(url, {
        headers: { accept, ...opts.headers },
        signal: AbortSignal.timeout(opts.timeoutMs ?? 60_000),
        redirect: 'follow',
      });
      if (!RETRY_STATUS.has(response.status)) {
        const body = Buffer.from(await response.arrayBuffer());
        return { status: response.status, contentType: response.headers.get('content-type') ?? '', body, ...(response.redirected ? { redirectedTo: new URL(response.url) } : {}) };
      }
      await response.arrayBuffer().catch(() => undefined);
      problem = `HTTP ${response.status}`;
      wait = retryAfterMs(response.headers.get('retry-after'));
    } catch (error) {
      const code = causeCode(error);
      const retryable = (code !== undefined && RETRY_CODES.has(code)) || (error instanceof Error && error.name === 'TimeoutError');
      if (!retryable || attempt >= retries) throw new PullError(`${displayUrl(url)}: ${describeFailure(error)}`);
      problem = describeFailure(error);
    }
    if (attempt >= retries) throw new PullError(`${displayUrl(url)}: ${problem} after ${retries + 1} tries`);
    await sleep(wait ?? backoff * 2 ** attempt * (0.75 + Math.random() * 0.5));
  }
}

/** Whether a response is a web page: no API answers GET with one, a sign-in page or a UI's fallback does. */
export function isHtmlPage(response: HttpResponse): boolean {
  return response.status === 200 && /^text\/html\b/i.test(response.contentType);
}

/** A short quote of an error body for messages: first line, trimmed. */
export function bodySnippet(body: Buffer): string {
  const text = body.toString('utf8', 0, Math.min(body.length, 300)).trim().split('\n')[0] ?? '';
  return text.length > 120 ? `${text.slice(0, 120)}…` : text;
}

/** Parses a JSON body or throws PullError saying what came back instead. */
export function jsonBody(url: URL, response: HttpResponse): unknown {
  try {
    return JSON.parse(response.body.toString('utf8'));
  } catch {
    throw new PullError(`${displayUrl(url)}: expected JSON, got ${response.contentType || 'no content type'} (${bodySnippet(response.body) || 'empty body'})`);
  }
}

/** The error for a status the caller did not expect; 401/403 say what to pass. */
export function statusError(url: URL, response: HttpResponse): PullError {
  if (response.status === 401 || response.status === 403) {
    return new PullError(
      `${displayUrl(url)}: HTTP ${response.status} ${response.status === 401 ? 'unauthorized' : 'forbidden'}: pass credentials with --header 'Authorization: Bearer <token>' (or Basic)`,
    );
  }
  return new PullError(`${displayUrl(url)}: HTTP ${response.status} (${bodySnippet(response.body) || 'empty body'})`);
}

/**
 * Runs `work` over `items` with at most `limit` in flight, yielding results in completion order.
 * Stops taking new items when the consumer stops.
 */
export async function* boundedMap<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): AsyncGenerator<R> {
  const running = new Map<number, Promise<[number, R]>>();
  let next = 0;
  const start = () => {
    const i = next++;
    running.set(i, work(items[i]!).then((r) => [i, r] as [number, R]));
  };
  while (next < items.length && running.size < limit) start();
  while (running.size > 0) {
    const [i, result] = await Promise.race(running.values());
    running.delete(i);
    if (next < items.length) start();
    yield result;
  }
}
