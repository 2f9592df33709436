/**
 * OTLP/gRPC intake (TraceService/Export) on `node:http2` directly, with flow-control windows sized
 * for OTLP's large unary messages: grpc-js's server keeps HTTP/2's 64 KiB windows and exposes no
 * option to raise them, so a 250 KB export waited on several window updates. Same semantics as the
 * HTTP intake: bearer token, receive limit, gzip/deflate, trace-aware admission with RetryInfo, and
 * the answer only once the export is in the spool.
 */
import * as http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { OtlpDecodeError } from '../otlp/errors.js';
import { otlpSchema } from '../otlp/schema.js';
import { protobufToOtlpJson } from '../otlp/to-json.js';
import { UNAUTHENTICATED_BODY, bearerMatches } from './auth.js';
import { inflateWithin, type CompressedBody, type InflateError } from './body.js';
import type { BodyInFlight } from './inflight.js';
import type { AcceptResult, ExportIntake, RefusedResult } from './intake.js';
import type { ServerMetrics } from './metrics.js';
import { httpsOptions, type TlsMaterial } from './tls.js';

export interface GrpcOptions {
  intake: ExportIntake;
  metrics: ServerMetrics;
  /** Largest message accepted, after decompression. Default 4 MiB, as in the Collector. */
  maxReceiveBytes?: number;
  /** When set, calls need `authorization: Bearer <token>` metadata. */
  authToken?: string;
  /** Serve over TLS (client certificates required when it has a client CA). */
  tls?: TlsMaterial;
}

export interface GrpcServer {
  port: number;
  /** Stops taking connections, lets calls in flight finish for `drainMs`, then cuts the rest. */
  close(drainMs: number): Promise<void>;
}

/** gRPC status codes used here. */
export const Status = { OK: 0, INVALID_ARGUMENT: 3, DEADLINE_EXCEEDED: 4, RESOURCE_EXHAUSTED: 8, UNIMPLEMENTED: 12, INTERNAL: 13, UNAVAILABLE: 14, UNAUTHENTICATED: 16 } as const;
type StatusCode = (typeof Status)[keyof typeof Status];

const EXPORT_PATH = '/opentelemetry.proto.collector.trace.v1.TraceService/Export';
/** Per-stream window: an export up to 4 MiB is sent without waiting for a window update. */
const STREAM_WINDOW = 4 * 1024 * 1024;
/** Per-connection window: several exports in flight on one connection. */
const CONNECTION_WINDOW = 16 * 1024 * 1024;
/**
 * Calls open at once on one connection (SETTINGS_MAX_CONCURRENT_STREAMS; Node's default is 2^32 - 1).
 * HTTP/2 asks for no fewer than 100 (RFC 9113, 6.5.2), well above the exports an exporter keeps in
 * flight on a connection (the Collector's sending queue: 10 consumers); gRPC clients queue calls past
 * it instead of failing them. Memory is bounded by the bodies-in-flight budget across connections
 * (inflight.ts), not by this: it only keeps one connection from opening calls without end.
 */
const MAX_CONCURRENT_STREAMS = 100;
/** A call's message must arrive within this (or its deadline, when sooner), as node:http's requestTimeout bounds a request. */
const MESSAGE_READ_MS = 300_000;
const PREFIX = 5;


/** google.rpc.Status with a RetryInfo detail, for grpc-status-details-bin, so clients back off as told. */
function retryDetails(delayMs: number, message: string): string {
  const { Status: RpcStatus, RetryInfo } = otlpSchema();
  const retryDelay = { seconds: Math.floor(delayMs / 1000), nanos: Math.round(delayMs % 1000) * 1_000_000 };
  const retry = RetryInfo.encode(RetryInfo.fromObject({ retryDelay })).finish();
  const status = RpcStatus.encode(
    RpcStatus.fromObject({ code: Status.UNAVAILABLE, message, details: [{ type_url: 'type.googleapis.com/google.rpc.RetryInfo', value: retry }] }),
  ).finish();
  return Buffer.from(status).toString('base64');
}

/** Milliseconds per grpc-timeout unit (gRPC over HTTP/2: Hours, Minutes, Seconds, milli-, micro-, nanoseconds). */
const TIMEOUT_UNIT_MS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 1e-3, n: 1e-6 };

/** The call's deadline (epoch ms) from its grpc-timeout header; undefined when it has none or it does not parse. */
export function deadlineOf(timeout: string | string[] | undefined, nowMs: number): number | undefined {
  const m = typeof timeout === 'string' ? /^(\d{1,8})([HMSmun])$/.exec(timeout) : null;
  return m === null ? undefined : nowMs + Number(m[1]) * TIMEOUT_UNIT_MS[m[2]!]!;
}

/** grpc-message is percent-encoded (gRPC over HTTP/2); clients decode it. */
const grpcMessage = (text: string): string => encodeURIComponent(text.split('\n')[0] ?? '');

/** A length-prefixed, uncompressed gRPC message. */
function frame(message: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(PREFIX + message.length);
  out[0] = 0;
  out.writeUInt32BE(message.length, 1);
  out.set(message, PREFIX);
  return out;
}

/** Ends a call with a status and no message (a trailers-only response). */
function finish(stream: http2.ServerHttp2Stream, code: StatusCode, message: string, detailsBin?: string): void {
  if (stream.destroyed || stream.closed) return;
  stream.respond(
    {
      ':status': 200,
      'content-type': 'application/grpc+proto',
      'grpc-status': String(code),
      'grpc-message': grpcMessage(message),
      ...(detailsBin === undefined ? {} : { 'grpc-status-details-bin': detailsBin }),
    },
    { endStream: true },
  );
  // The client may still be sending a refused message: stop it rather than read it.
  if (!stream.readableEnded) stream.close(http2.constants.NGHTTP2_NO_ERROR);
}

/** Answers a call with one message and OK. */
function reply(stream: http2.ServerHttp2Stream, message: Uint8Array): void {
  if (stream.destroyed || stream.closed) return;
  stream.respond({ ':status': 200, 'content-type': 'application/grpc+proto', 'grpc-accept-encoding': 'identity,deflate,gzip' }, { waitForTrailers: true });
  stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0', 'grpc-message': '' }));
  stream.end(frame(message));
}

class CallError extends Error {
  constructor(
    readonly code: StatusCode,
    message: string,
    /** grpc-status-details-bin (retryDetails). */
    readonly details?: string,
  ) {
    super(message);
  }
}

/** UNAVAILABLE with RetryInfo, as every refusal that asks for a retry is answered. */
const unavailable = (refusal: RefusedResult): CallError => new CallError(Status.UNAVAILABLE, refusal.message, retryDetails(refusal.retryAfterMs, refusal.message));

/** Ends a call with the error's status. */
const fail = (stream: http2.ServerHttp2Stream, e: CallError): void => finish(stream, e.code, e.message, e.details);

/**
 * Reads the call's one message: the prefix's declared length is checked against the limit and
 * declared to `inFlight` (a large message is refused unread past the memory limit), and each chunk is
 * held there as it comes (refused past the budget of bodies in flight). Past `deadline` (epoch ms; at
 * most MESSAGE_READ_MS away) the call ends with DEADLINE_EXCEEDED.
 */
function readMessage(stream: http2.ServerHttp2Stream, limit: number, inFlight: BodyInFlight, deadline: number | undefined): Promise<{ compressed: boolean; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let declared = -1;
    const late = setTimeout(
      () => {
        done();
        reject(new CallError(Status.DEADLINE_EXCEEDED, 'the request message did not arrive before the deadline'));
      },
      Math.max(0, Math.min(MESSAGE_READ_MS, (deadline ?? Number.POSITIVE_INFINITY) - Date.now())),
    );
    const done = (): void => {
      clearTimeout(late);
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('close', onClose);
    };
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      size += chunk.length;
      let refused: RefusedResult | undefined;
      // The size first: a message past the receive limit is never retryable, whatever the budget says.
      if (declared < 0 && size >= PREFIX) {
        const head = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
        declared = head.readUInt32BE(1);
        if (declared > limit) {
          done();
          reject(new CallError(Status.RESOURCE_EXHAUSTED, `Received message larger than max (${declared} vs. ${limit})`));
          return;
        }
        refused = inFlight.declare(declared);
      }
      refused ??= inFlight.hold(chunk.length);
      if (refused !== undefined) {
        done();
        reject(unavailable(refused));
        return;
      }
      if (declared >= 0 && size > PREFIX + declared) {
        done();
        reject(new CallError(Status.UNIMPLEMENTED, 'Export is unary: one request message'));
      }
    };
    const onEnd = (): void => {
      done();
      const all = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
      if (size < PREFIX || size !== PREFIX + declared) reject(new CallError(Status.INTERNAL, 'incomplete request message'));
      else if (all[0]! > 1) reject(new BadEncoding(Status.INTERNAL, `invalid compressed flag ${all[0]!} (0 or 1)`));
      else resolve({ compressed: all[0] === 1, body: all.subarray(PREFIX) });
    };
    const onClose = (): void => {
      done();
      reject(new CallError(Status.UNAVAILABLE, 'the client cancelled the call'));
    };
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('close', onClose);
  });
}

/** A message whose compression cannot be read: counted as `bad_encoding`, as OTLP/HTTP counts its own. */
class BadEncoding extends CallError {}

/** The message inflated, and as sent (what the spool keeps). */
async function decompress(body: Buffer, encoding: string, limit: number): Promise<{ body: Buffer; compressed: CompressedBody }> {
  // A compressed message needs a grpc-encoding that says how (INTERNAL, as grpc-go answers); one this server lacks is UNIMPLEMENTED.
  if (encoding === 'identity') throw new BadEncoding(Status.INTERNAL, 'compressed message without a grpc-encoding');
  if (encoding !== 'gzip' && encoding !== 'deflate') throw new BadEncoding(Status.UNIMPLEMENTED, `unsupported grpc-encoding: ${encoding}`);
  try {
    return { body: await inflateWithin(body, encoding, limit), compressed: { bytes: body, compression: encoding } };
  } catch (e) {
    const err = e as InflateError;
    if (err.tooLarge) throw new CallError(Status.RESOURCE_EXHAUSTED, `Received message larger than max (decompressed, limit ${limit})`);
    throw new BadEncoding(Status.INTERNAL, `invalid ${encoding} message (${err.message})`);
  }
}

/** The longest delay setTimeout keeps: past it Node fires after 1 ms instead. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Resolves true once `durable` does, or false at the deadline (a later failure of `durable` is then ignored). */
function withinDeadline(durable: Promise<void>, deadline: number): Promise<boolean> {
  // A deadline past the longest timer (~24.8 days, e.g. grpc-timeout 720H) is as good as none.
  if (deadline - Date.now() > MAX_TIMER_MS) return durable.then(() => true);
  return new Promise<boolean>((resolve, reject) => {
    const timer = setTimeout(() => resolve(false), Math.max(0, deadline - Date.now()));
    durable.then(
      () => {
        clearTimeout(timer);
        resolve(true);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e as Error);
      },
    );
  });
}

/** Starts the OTLP/gRPC listener on `host:port` (0 picks a free port). */
export async function startGrpcServer(options: GrpcOptions, host: string, port: number): Promise<GrpcServer> {
  const { intake, metrics, authToken } = options;
  const limit = options.maxReceiveBytes ?? 4 * 1024 * 1024;
  const { ExportTraceServiceResponse } = otlpSchema();
  const emptyResponse = new Uint8Array(0);

  async function call(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): Promise<void> {
    if (authToken !== undefined && !bearerMatches(headers.authorization, authToken)) {
      return finish(stream, Status.UNAUTHENTICATED, UNAUTHENTICATED_BODY.message);
    }
    const stop = metrics.exportLatency.startTimer({ transport: 'grpc' });
    const inFlight = intake.startBody('grpc');
    try {
      await exportCall(stream, headers, inFlight, stop);
    } finally {
      inFlight.end();
    }
  }

  /** The rest of `call`, once the message may be read: its bytes are held in `inFlight` until it is answered. */
  async function exportCall(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, inFlight: BodyInFlight, stop: () => void): Promise<void> {
    const deadline = deadlineOf(headers['grpc-timeout'], Date.now());
    let body: Buffer;
    let compressed: CompressedBody | undefined;
    try {
      const message = await readMessage(stream, limit, inFlight, deadline);
      if (message.compressed) {
        ({ body, compressed } = await decompress(message.body, String(headers['grpc-encoding'] ?? 'identity').toLowerCase(), limit));
        const refused = inFlight.hold(body.length);
        if (refused !== undefined) throw unavailable(refused);
      } else body = message.body;
    } catch (e) {
      stop();
      if (!(e instanceof CallError)) throw e;
      if (e.code === Status.RESOURCE_EXHAUSTED) metrics.exportsRefused.inc({ transport: 'grpc', reason: 'too_large' });
      else if (e instanceof BadEncoding) metrics.exportsRefused.inc({ transport: 'grpc', reason: 'bad_encoding' });
      return fail(stream, e);
    }
    if (deadline !== undefined && Date.now() >= deadline) {
      // The client has given up on this call already: taking it would only make it a duplicate of the retry.
      stop();
      return finish(stream, Status.DEADLINE_EXCEEDED, 'the deadline passed before the export could be taken');
    }
    let result: AcceptResult;
    try {
      // As bytes: the intake reads the trace ids for admission and decodes into its columns once admitted.
      result = await intake.acceptProtobuf(body, 'grpc', () => protobufToOtlpJson(body), compressed);
    } catch (e) {
      if (!(e instanceof OtlpDecodeError)) throw e;
      metrics.exportsRefused.inc({ transport: 'grpc', reason: 'undecodable' });
      stop();
      return finish(stream, Status.INVALID_ARGUMENT, e.message);
    }
    if (!result.ok) {
      stop();
      return fail(stream, unavailable(result));
    }
    try {
      // Acknowledged only once the export is in the spool, and only within the call's deadline: past it
      // the answer is DEADLINE_EXCEEDED and the client's retry is a duplicate, dropped as such.
      if (deadline === undefined) await result.durable;
      else if (!(await withinDeadline(result.durable, deadline))) {
        stop();
        return finish(stream, Status.DEADLINE_EXCEEDED, 'the export could not be made durable before the deadline');
      }
    } catch (e) {
      stop();
      return finish(stream, Status.UNAVAILABLE, (e as Error).message, retryDetails(1000, (e as Error).message));
    }
    stop();
    reply(
      stream,
      result.rejected === 0
        ? emptyResponse
        : ExportTraceServiceResponse.encode(ExportTraceServiceResponse.fromObject({ partialSuccess: { rejectedSpans: result.rejected, errorMessage: result.message } })).finish(),
    );
  }

  const onStream = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void => {
    stream.on('error', () => undefined);
    const contentType = headers['content-type'];
    if (headers[':method'] !== 'POST') {
      stream.respond({ ':status': 405 }, { endStream: true });
      return;
    }
    if (typeof contentType !== 'string' || !contentType.startsWith('application/grpc')) {
      stream.respond({ ':status': 415 }, { endStream: true });
      return;
    }
    if (headers[':path'] !== EXPORT_PATH) return finish(stream, Status.UNIMPLEMENTED, `unknown method ${String(headers[':path'])}`);
    call(stream, headers).catch((e: unknown) => finish(stream, Status.INTERNAL, (e as Error).message));
  };

  const serverOptions: http2.ServerOptions = {
    settings: { initialWindowSize: STREAM_WINDOW, maxConcurrentStreams: MAX_CONCURRENT_STREAMS },
    // Exports are bounded by the receive limit and admission, not by nghttp2's session memory cap,
    // which, once reached, refuses every new stream of the connection.
    maxSessionMemory: 1024,
  };
  const server = options.tls === undefined ? http2.createServer(serverOptions) : http2.createSecureServer({ ...serverOptions, ...httpsOptions(options.tls) });
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (session) => {
    sessions.add(session);
    session.on('close', () => sessions.delete(session));
    session.on('error', () => undefined);
    try {
      session.setLocalWindowSize(CONNECTION_WINDOW);
    } catch {
      // The session is already closing.
    }
  });
  server.on('stream', onStream);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });

  return {
    port: (server.address() as AddressInfo).port,
    close: (drainMs) =>
      new Promise<void>((resolve) => {
        const cut = setTimeout(() => {
          for (const s of sessions) s.destroy();
          resolve();
        }, drainMs);
        server.close(() => {
          clearTimeout(cut);
          resolve();
        });
        for (const s of sessions) s.close();
      }),
  };
}
