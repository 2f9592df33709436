/**
 * The fetch that outbound calls (--from pulls, Slack posts) make: through the proxy the environment
 * names, as curl and most CLIs do, since Node's global fetch ignores HTTP_PROXY, HTTPS_PROXY and
 * NO_PROXY. One helper for every call site, so they all agree on which requests go where.
 */

import { isLoopbackHost } from './server/loopback-host.js';

/** The variables that turn the proxy on (lower case wins, as in curl and undici). */
const PROXY_VARIABLES = ['http_proxy', 'HTTP_PROXY', 'https_proxy', 'HTTPS_PROXY'] as const;

/** Whether the environment names a proxy (a variable set and not empty). */
export function proxyConfigured(env: NodeJS.ProcessEnv = process.env): boolean {
  return PROXY_VARIABLES.some((name) => (env[name] ?? '') !== '');
}

let proxied: Promise<typeof fetch> | undefined;

/**
 * Node's global fetch when no proxy variable is set. Otherwise undici's fetch through one shared
 * EnvHttpProxyAgent (undici is loaded only then): an http URL goes to HTTP_PROXY (in absolute form),
 * an https one through HTTPS_PROXY, else HTTP_PROXY (a CONNECT tunnel, so TLS stays end to end), and
 * a host NO_PROXY lists (`host`, `.domain`, `host:port`, `*`), or a loopback one, is reached directly. The
 * variables are read once, on the first call.
 *
 * @example const response = await (await outboundFetch())(url, { headers });
 */
export function outboundFetch(): Promise<typeof fetch> {
  if (!proxyConfigured()) return Promise.resolve(fetch);
  proxied ??= loadProxiedFetch();
  return proxied;
}

async function loadProxiedFetch(): Promise<typeof fetch> {
  // The npm package, not Node's bundled copy (not importable as 'undici'); its fetch with its own
  // dispatcher, so the two always speak the same dispatcher interface whatever Node bundles.
  const undici = await import('undici');
  // proxyTunnel false: an http URL is sent to the proxy in absolute form, as curl does, rather than
  // through a CONNECT tunnel, which proxies commonly allow to port 443 only (squid's SSL_ports); https
  // is tunnelled either way. EnvHttpProxyAgent hands it to the ProxyAgents it makes (not in its types).
  const options = { proxyTunnel: false } as ConstructorParameters<typeof undici.EnvHttpProxyAgent>[0];
  const agent = quietly('UNDICI-EHPA', () => new undici.EnvHttpProxyAgent(options));
  const viaProxy = (input: string | URL | Request, init?: RequestInit) => {
    // A loopback server (a CI job's Jaeger service container on localhost) is this machine: never
    // through the proxy, as Go's clients do, whatever NO_PROXY forgot.
    const url = new URL(input instanceof Request ? input.url : input);
    if (isLoopbackHost(url.hostname)) return fetch(input, init);
    return undici.fetch(input as Parameters<typeof undici.fetch>[0], { ...(init as Parameters<typeof undici.fetch>[1]), dispatcher: agent });
  };
  return viaProxy as unknown as typeof fetch;
}

/**
 * Runs `make` without the process warning `code` it emits: undici warns on stderr that
 * EnvHttpProxyAgent is "experimental" when one is made, which would be a second line under every
 * CLI's one-line output. Other warnings pass.
 */
function quietly<T>(code: string, make: () => T): T {
  const emitWarning = process.emitWarning;
  process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
    const options = rest[0];
    const given = typeof options === 'object' && options !== null ? (options as { code?: unknown }).code : rest[1];
    if (given === code) return;
    (emitWarning as (...args: unknown[]) => void).call(process, warning, ...rest);
  }) as typeof process.emitWarning;
  try {
    return make();
  } finally {
    process.emitWarning = emitWarning;
  }
}
