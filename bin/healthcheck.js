#!/usr/bin/env node
// The container's health probe (the Dockerfile's HEALTHCHECK): GET /healthz from `n1lens serve` on
// this machine, over plain HTTP or, when serve runs with --tls-cert, over HTTPS (tried in turn, so
// the probe needs no setting for either). The certificate is not checked: the probe dials loopback,
// where the name in the certificate is not the one dialled. Exit 0 when /healthz answers 200, else 1.
//   N1LENS_HEALTHCHECK_PORT  serve's --http-port (default 4318)
//   N1LENS_HEALTHCHECK_HOST  where to dial (default 127.0.0.1; ::1 for --host ::1)
//   N1LENS_HEALTHCHECK_CERT, N1LENS_HEALTHCHECK_KEY  a client certificate and key, with --tls-client-ca
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

const env = process.env;
const host = env.N1LENS_HEALTHCHECK_HOST || '127.0.0.1';
const port = Number(env.N1LENS_HEALTHCHECK_PORT || 4318);
const client =
  env.N1LENS_HEALTHCHECK_CERT && env.N1LENS_HEALTHCHECK_KEY ? { cert: readFileSync(env.N1LENS_HEALTHCHECK_CERT), key: readFileSync(env.N1LENS_HEALTHCHECK_KEY) } : {};

/** Resolves to true when /healthz answers 200; a refused, reset or silent connection is false. */
function healthy(request, options = {}) {
  return new Promise((resolve) => {
    const req = request({ host, port, path: '/healthz', timeout: 1200, ...options }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}

const ok = (await healthy(httpRequest)) || (await healthy(httpsRequest, { rejectUnauthorized: false, ...client }));
process.exit(ok ? 0 : 1);
