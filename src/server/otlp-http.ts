/**
 * OTLP/HTTP intake (`POST /v1/traces`) on `node:http` directly: the body is read as Buffer chunks
 * and answered with a plain ServerResponse, so the framework's web-stream adapter stays off the hot
 * path. The one implementation of OTLP/HTTP's semantics; every other path goes to the hono app.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { OtlpDecodeError } from '../otlp/errors.js';
import { jsonText } from '../otlp/json-value.js';
import { otlpSchema } from '../otlp/schema.js';
import { protobufToOtlpJson } from '../otlp/to-json.js';
import { BEARER_CHALLENGE, UNAUTHENTICATED_BODY, bearerMatches } from './auth.js';
import { BodyError, decodeContent, readBody, type CompressedBody } from './body.js';
import { Status } from './grpc.js';
import { BodyRefused, type BodyInFlight } from './inflight.js';
import type { AcceptResult, ExportIntake, RefusedResult } from './intake.js';
import type { ServerMetrics } from './metrics.js';

export interface OtlpHttpOptions {
  intake: ExportIntake;
  metrics: ServerMetrics;
  /** Limit on the body, before and after decompression. */
  maxBodyBytes: number;
  /** When set, exports need `Authorization: Bearer <token>`. */
  authToken?: string;
}

/** Answers an OTLP/HTTP request; never rejects (a failure becomes a 500, or a cut connection). */
export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => void;

type Encoding = 'protobuf' | 'json';

const TRACES_PATH = '/v1/traces';
const PROTOBUF = 'application/x-protobuf';
const JSON_TYPE = 'application/json';
/** ExportTraceServiceResponse with no partial success encodes to no bytes at all. */
const EMPTY = Buffer.alloc(0);

/** True for the requests the raw handler answers: POST /v1/traces, with or without a query string. */
export function isTracesExport(req: IncomingMessage): boolean {
  if (req.method !== 'POST') return false;
  const url = req.url ?? '';
  return url.startsWith(TRACES_PATH) && (url.length === TRACES_PATH.length || url.charCodeAt(TRACES_PATH.length) === 0x3f /* ? */);
}

function encodingOf(contentType: string | undefined): Encoding | undefined {
  const mime = (contentType ?? '').split(';')[0]?.trim().toLowerCase();
  if (mime === PROTOBUF || mime === 'application/protobuf') return 'protobuf';
  if (mime === JSON_TYPE) return 'json';
  return undefined;
}

function reply(res: ServerResponse, status: number, contentType: string, body: Buffer | string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'Content-Type': contentType, 'Content-Length': String(Buffer.byteLength(body)), ...headers });
  res.end(body);
}

/** A message in the request's encoding, as OTLP/HTTP requires of both success and error bodies. */
function send(res: ServerResponse, encoding: Encoding, status: number, kind: 'response' | 'status', value: Record<string, unknown>, headers?: Record<string, string>): void {
  if (encoding === 'json') return reply(res, status, JSON_TYPE, JSON.stringify(value), headers);
  if (kind === 'response' && Object.keys(value).length === 0) return reply(res, status, PROTOBUF, EMPTY, headers);
  const schema = otlpSchema();
  const type = kind === 'response' ? schema.ExportTraceServiceResponse : schema.Status;
  reply(res, status, PROTOBUF, Buffer.from(type.encode(type.fromObject(value)).finish()), headers);
}

/** 503 + Retry-After for a refused export (`Connection: close` when its body is left unread). */
function unavailable(res: ServerResponse, encoding: Encoding, refusal: RefusedResult, headers: Record<string, string> = {}): void {
  // Retry-After takes whole seconds; the jitter survives because the delay spans several seconds.
  const retryAfter = String(Math.max(1, Math.round(refusal.retryAfterMs / 1000)));
  send(res, encoding, 503, 'status', { code: Status.UNAVAILABLE, message: refusal.message }, { 'Retry-After': retryAfter, ...headers });
}

/**
 * The `POST /v1/traces` handler: bearer token, Content-Type, memory (503 + Retry-After for a large
 * body past the memory limit before it is read, or once a body would take the bodies in flight past
 * their budget), body within `maxBodyBytes` (gzip and deflate inflated only up to it), decode,
 * trace-aware admission (503 + Retry-After), and the 200 only once the export is in the spool.
 */
export function createOtlpHttpHandler(options: OtlpHttpOptions): RequestHandler {
  const { intake, metrics, maxBodyBytes, authToken } = options;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const encoding = encodingOf(req.headers['content-type']);
    if (authToken !== undefined && !bearerMatches(req.headers.authorization, authToken)) {
      return send(res, encoding ?? 'json', 401, 'status', { ...UNAUTHENTICATED_BODY }, { 'WWW-Authenticate': BEARER_CHALLENGE });
    }
    const stop = metrics.exportLatency.startTimer({ transport: 'http' });
    if (encoding === undefined) {
      metrics.exportsRefused.inc({ transport: 'http', reason: 'unsupported_media_type' });
      stop();
      return reply(res, 415, JSON_TYPE, JSON.stringify({ code: Status.INVALID_ARGUMENT, message: 'Content-Type must be application/x-protobuf or application/json' }));
    }
    const inFlight = intake.startBody('http');
    try {
      const declared = Number(req.headers['content-length']);
      // Past --max-body it is a 413 (readBody), not a retryable refusal.
      const refused = Number.isFinite(declared) && declared <= maxBodyBytes ? inFlight.declare(declared) : undefined;
      if (refused !== undefined) {
        stop();
        // A large body past the memory limit: refused unread, and the connection closed rather than drained.
        return unavailable(res, encoding, refused, { Connection: 'close' });
      }
      await exportBody(req, res, encoding, inFlight, stop);
    } finally {
      inFlight.end();
    }
  }

  /** The rest of `handle`, once the body may be read: its bytes are held in `inFlight` until it is answered. */
  async function exportBody(req: IncomingMessage, res: ServerResponse, encoding: Encoding, inFlight: BodyInFlight, stop: () => void): Promise<void> {
    let body: Buffer;
    let compressed: CompressedBody | undefined;
    try {
      const raw = await readBody(req, maxBodyBytes, inFlight);
      ({ body, compressed } = await decodeContent(raw, req.headers['content-encoding'], maxBodyBytes));
      const refused = compressed === undefined ? undefined : inFlight.hold(body.length);
      if (refused !== undefined) throw new BodyRefused(refused);
    } catch (e) {
      stop();
      if (e instanceof BodyRefused) return unavailable(res, encoding, e.refusal, req.readableEnded ? {} : { Connection: 'close' });
      if (!(e instanceof BodyError)) throw e;
      metrics.exportsRefused.inc({ transport: 'http', reason: e.status === 413 ? 'too_large' : 'bad_encoding' });
      const code = e.status === 413 ? Status.RESOURCE_EXHAUSTED : Status.INVALID_ARGUMENT;
      // The rest of a refused body is not read: close the connection rather than drain it.
      return send(res, encoding, e.status, 'status', { code, message: e.message }, req.readableEnded ? {} : { Connection: 'close' });
    }
    const undecodable = (e: unknown): void => {
      metrics.exportsRefused.inc({ transport: 'http', reason: 'undecodable' });
      stop();
      send(res, encoding, 400, 'status', { code: Status.INVALID_ARGUMENT, message: (e as Error).message });
    };
    let result: AcceptResult;
    try {
      // As bytes: the intake reads the trace ids for admission and decodes into its columns once admitted.
      result =
        encoding === 'json'
          ? await intake.acceptJson(body, 'http', () => jsonText(JSON.parse(body.toString('utf8'))), compressed)
          : await intake.acceptProtobuf(body, 'http', () => protobufToOtlpJson(body), compressed);
    } catch (e) {
      if (!(e instanceof OtlpDecodeError)) throw e;
      return undecodable(e);
    }
    if (!result.ok) {
      stop();
      return unavailable(res, encoding, result);
    }
    try {
      await result.durable;
    } catch (e) {
      stop();
      return send(res, encoding, 503, 'status', { code: Status.UNAVAILABLE, message: (e as Error).message }, { 'Retry-After': '1' });
    }
    stop();
    const response = result.rejected === 0 ? {} : { partialSuccess: { rejectedSpans: String(result.rejected), errorMessage: result.message } };
    send(res, encoding, 200, 'response', response);
  }

  return (req, res) => {
    handle(req, res).catch((e: unknown) => {
      // A client that went away mid-body gets no answer; anything else is a 500 with one line. (Not
      // req.destroyed: a request is destroyed once its body has been read to the end.)
      if (res.headersSent || req.socket.destroyed) res.destroy();
      else reply(res, 500, JSON_TYPE, JSON.stringify({ error: `internal error: ${(e as Error).message}` }), { Connection: 'close' });
    });
  };
}
