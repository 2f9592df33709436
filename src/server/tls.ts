/** TLS material for both listeners, read and checked once at start-up; an unreadable or unusable file is a one-line start-up error. */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { SecureServerOptions } from 'node:http2';
import type { ServerOptions as HttpsOptions } from 'node:https';
import { createSecureContext, type SecureContextOptions } from 'node:tls';

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

/** Reads the PEM files and checks that they make a TLS context; `fail` turns a problem into the caller's error type. */
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
  const clientCa = files.clientCa === undefined ? undefined : read('--tls-client-ca', files.clientCa);
  // Checked here, each file on its own and then as a pair, so that a swapped, mismatched or non-PEM
  // file is a start-up error naming the flag, not a throw from https/http2 when the listeners are made.
  const check = (problem: (reason: string) => string, options: SecureContextOptions): void => {
    try {
      createSecureContext(options);
    } catch (e) {
      throw fail(problem(opensslReason(e)));
    }
  };
  const which = '--tls-cert takes the certificate, --tls-key its private key';
  check((why) => `--tls-cert ${files.cert}: not a PEM certificate (${why}); ${which}`, { cert });
  check((why) => `--tls-key ${files.key}: not a PEM private key (${why}); ${which}`, { key });
  check((why) => `--tls-cert ${files.cert} and --tls-key ${files.key} do not belong together (${why})`, { cert, key });
  if (clientCa !== undefined) {
    const notCa = (why: string) => `--tls-client-ca ${files.clientCa}: not a PEM CA certificate bundle (${why})`;
    // OpenSSL takes a bundle without a certificate in it, and then no client certificate is ever accepted.
    try {
      new X509Certificate(clientCa);
    } catch (e) {
      throw fail(notCa(opensslReason(e)));
    }
    check(notCa, { cert, key, ca: clientCa });
  }
  return { cert, key, ...(clientCa === undefined ? {} : { clientCa }) };
}

/** OpenSSL's reason without its code: "error:05800074:x509 certificate routines::key values mismatch" → "key values mismatch". */
function opensslReason(e: unknown): string {
  const message = e instanceof Error ? e.message : String(e);
  return message.replace(/^error:[0-9A-F]+:[^:]*::?/, '');
}

/** Options for https.createServer and http2.createSecureServer. */
export function httpsOptions(tls: TlsMaterial): HttpsOptions & SecureServerOptions {
  return {
    cert: tls.cert,
    key: tls.key,
    ...(tls.clientCa === undefined ? {} : { ca: tls.clientCa, requestCert: true, rejectUnauthorized: true }),
  };
}
