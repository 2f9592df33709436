/**
 * DNS rebinding protection for a server on loopback without a token: a web page whose name the
 * attacker re-points at 127.0.0.1 is same-origin with itself, so the browser lets it read the API and
 * post forms (csrf() compares Origin with Host, which both name the attacker's domain). Every request
 * a browser sends carries the name it was addressed to in Host, so a loopback server answers only
 * requests addressed to a loopback name or address.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { BlockList, isIP } from 'node:net';

/** 127.0.0.0/8 and ::1, whichever way an address is spelt (::ffff:127.0.0.1, 0:0:0:0:0:0:0:1). */
const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');
LOOPBACK.addSubnet('::ffff:127.0.0.0', 104, 'ipv6');

/**
 * Loopback addresses, localhost and names under .localhost (RFC 6761: resolved to loopback, never
 * by public DNS, so no attacker can point one elsewhere), a trailing dot allowed: reachable from
 * this machine only.
 */
export function isLoopbackHost(host: string): boolean {
  const name = (host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host).toLowerCase().replace(/\.$/, '');
  const family = isIP(name);
  if (family !== 0) return LOOPBACK.check(name, family === 4 ? 'ipv4' : 'ipv6');
  return name === 'localhost' || name.endsWith('.localhost');
}

/** The name a Host header gives (lowercase, an IPv6 address in its brackets), without its port; undefined when it is no host[:port]. */
function hostName(host: string): string | undefined {
  return /^(\[[^\]]*\]|[^:[\]]*)(?::\d*)?$/.exec(host.trim().toLowerCase())?.[1];
}

/**
 * True when a request's Host header names a loopback address (with or without a port), or is absent
 * (HTTP/1.0 clients; browsers always send it).
 *
 * @example addressedToLoopback('localhost:4318') // true
 * @example addressedToLoopback('evil.example:4318') // false
 */
export function addressedToLoopback(host: string | undefined): boolean {
  if (host === undefined) return true;
  const name = hostName(host);
  return name !== undefined && isLoopbackHost(name);
}

/**
 * Checks a name given to --allow-host and gives it in the form Host headers are compared with:
 * a DNS name, lowercase, without a trailing dot; a leading dot allows the name and every name under
 * it (`.example.com`: `example.com`, `n1lens.example.com`), as in Django's ALLOWED_HOSTS.
 * Throws with what is wrong.
 */
export function allowedHostName(given: string): string {
  const name = given.trim().toLowerCase().replace(/\.$/, '');
  if (!/^\.?[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*$/.test(name)) {
    throw new Error(`${JSON.stringify(given)} is not a host name: give the name a proxy sends in Host, without scheme or port (e.g. n1lens.example.com, or .example.com for every name under it)`);
  }
  return name;
}

/** Whether Host's name is one of `allowed` (allowedHostName's forms). */
function allowedHost(name: string, allowed: readonly string[]): boolean {
  const bare = name.replace(/\.$/, '');
  return allowed.some((a) => bare === a || (a.startsWith('.') && (bare === a.slice(1) || bare.endsWith(a))));
}

/**
 * addressedToLoopback for one listener, or to one of the names `allowed` (--allow-host: a reverse
 * proxy that passes its own Host), remembering the last Host it accepted: an exporter sends the
 * same Host with every export, and the parse and address check cost ~0.6 % of serve's intake.
 */
export function loopbackHostCheck(allowed: readonly string[] = []): (host: string | undefined) => boolean {
  let accepted: string | undefined;
  return (host) => {
    if (host === accepted) return true;
    if (host !== undefined) {
      const name = hostName(host);
      if (name === undefined || !(isLoopbackHost(name) || allowedHost(name, allowed))) return false;
    }
    accepted = host;
    return true;
  };
}

/** Answers a request addressed to another name with 403 and one line saying why and what to do. */
export function refuseForeignHost(req: IncomingMessage, res: ServerResponse): void {
  res.writeHead(403, { 'Content-Type': 'text/plain; charset=utf-8', Connection: 'close' });
  res.end(
    `n1lens listens on loopback without --auth-token, so it answers only requests addressed to localhost, 127.0.0.1 or [::1], not to ${JSON.stringify(req.headers.host)} (a web page re-pointing its own name at this machine could otherwise read the API): open it as http://localhost:<port>/, allow that name with --allow-host, or set --auth-token\n`,
  );
}
