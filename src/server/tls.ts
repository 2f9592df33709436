/** TLS material for both listeners, read once at start-up; an unreadable file is a one-line start-up error. */
import { readFileSync } from 'node:fs';
import type { SecureServerOptions } from 'node:http2';
import type { ServerOptions as HttpsOptions } from 'node:https';

export interface TlsFiles {
  cert: string;
  key: string;
  /** CA bundle that client certificates must chain to (mTLS). */
  clientCa?: string;
}

export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  clientCa?: Buffer;
}

/** Reads the PEM files; `fail` turns a problem into the caller's error type. */
export function readTls(files: TlsFiles, fail: (message: string) => Error): TlsMaterial {
  const read = (flag: string, path: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (e) {
      throw fail(`${flag} ${path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
    }
  };
  const cert = read('--tls-cert', files.cert);
  const key = read('--tls-key', files.key);
  return { cert, key, ...(files.clientCa === undefined ? {} : { clientCa: read('--tls-client-ca', files.clientCa) }) };
}

/** Options for https.createServer and http2.createSecureServer. */
export function httpsOptions(tls: TlsMaterial): HttpsOptions & SecureServerOptions {
  return {
    cert: tls.cert,
    key: tls.key,
    ...(tls.clientCa === undefined ? {} : { ca: tls.clientCa, requestCert: true, rejectUnauthorized: true }),
  };
}
