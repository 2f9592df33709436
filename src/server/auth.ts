/**
 * Bearer-token authentication for both transports: the check the OTLP/HTTP and OTLP/gRPC handlers
 * make (gRPC's `authorization` metadata is an HTTP/2 header), and a hono middleware for the API, the
 * UI and /metrics (/healthz stays open for probes). Tokens are compared in constant time.
 */
import { timingSafeEqual, createHash } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';

/** The challenge a refused request gets in WWW-Authenticate. */
export const BEARER_CHALLENGE = 'Bearer realm="n1lens"';

/** The JSON body of a 401 (google.rpc.Status UNAUTHENTICATED, as OTLP/HTTP error bodies are). */
export const UNAUTHENTICATED_BODY = { code: 16, message: 'missing or wrong bearer token (--auth-token)' } as const;

/** Paths answered without a token. */
const OPEN_PATHS = new Set(['/healthz']);

const digest = (value: string): Buffer => createHash('sha256').update(value).digest();

/** True when `header` is `Bearer <token>` (scheme case-insensitive). Hashing first makes the comparison length-independent. */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const m = /^Bearer\s+(.+)$/i.exec(header?.trim() ?? '');
  return m !== null && timingSafeEqual(digest(m[1]!), digest(token));
}

/**
 * Refuses requests without `Authorization: Bearer <token>` with 401 and a WWW-Authenticate header.
 *
 * @example app.use('*', requireBearer('s3cret'))
 */
export function requireBearer(token: string): MiddlewareHandler {
  return async (c, next) => {
    if (OPEN_PATHS.has(c.req.path) || bearerMatches(c.req.header('authorization'), token)) return next();
    c.header('WWW-Authenticate', BEARER_CHALLENGE);
    return c.json(UNAUTHENTICATED_BODY, 401);
  };
}
