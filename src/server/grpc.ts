/** OTLP/gRPC intake: opentelemetry.proto.collector.trace.v1.TraceService/Export on @grpc/grpc-js, sharing the HTTP intake. */
import * as grpc from '@grpc/grpc-js';
import { decodeProtobufRequest } from '../otlp/protobuf.js';
import { createWireDecoder } from '../otlp/wire/decoder.js';
import { otlpSchema } from '../otlp/schema.js';
import { protobufToOtlpJson } from '../otlp/to-json.js';
import type { DecodedBatch } from '../otlp/span.js';
import { bearerInterceptor } from './auth.js';
import type { Intake } from './intake.js';
import type { ServerMetrics } from './metrics.js';

export interface GrpcOptions {
  intake: Intake;
  metrics: ServerMetrics;
  /** grpc.max_receive_message_length. Default 4 MiB, as in the Collector. */
  maxReceiveBytes?: number;
  /** When set, calls need `authorization: Bearer <token>` metadata. */
  authToken?: string;
}

const identity = (b: Buffer): Buffer => b;

const traceServiceDefinition: grpc.ServiceDefinition = {
  Export: {
    path: '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
    requestStream: false,
    responseStream: false,
    // Bytes in, bytes out: decoding happens in the handler so a bad payload becomes INVALID_ARGUMENT.
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
};

/** google.rpc.Status with a RetryInfo detail, in grpc-status-details-bin, so clients back off as told. */
function retryMetadata(delayMs: number, message: string): grpc.Metadata {
  const { Status, RetryInfo } = otlpSchema();
  const retryDelay = { seconds: Math.floor(delayMs / 1000), nanos: Math.round(delayMs % 1000) * 1_000_000 };
  const retry = RetryInfo.encode(RetryInfo.fromObject({ retryDelay })).finish();
  const status = Status.encode(
    Status.fromObject({
      code: grpc.status.UNAVAILABLE,
      message,
      details: [{ type_url: 'type.googleapis.com/google.rpc.RetryInfo', value: retry }],
    }),
  ).finish();
  const md = new grpc.Metadata();
  md.set('grpc-status-details-bin', Buffer.from(status));
  return md;
}

export function createGrpcServer(options: GrpcOptions): grpc.Server {
  const { intake, metrics } = options;
  const server = new grpc.Server({
    'grpc.max_receive_message_length': options.maxReceiveBytes ?? 4 * 1024 * 1024,
    ...(options.authToken === undefined ? {} : { interceptors: [bearerInterceptor(options.authToken)] }),
  });
  const { ExportTraceServiceResponse } = otlpSchema();
  const decoder = createWireDecoder();
  const encodeResponse = (value: Record<string, unknown>): Buffer =>
    Buffer.from(ExportTraceServiceResponse.encode(ExportTraceServiceResponse.fromObject(value)).finish());

  server.addService(traceServiceDefinition, {
    Export: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
      const stop = metrics.exportLatency.startTimer({ transport: 'grpc' });
      let batch: DecodedBatch;
      try {
        batch = decodeProtobufRequest(call.request, decoder);
      } catch (e) {
        metrics.exportsRefused.inc({ transport: 'grpc', reason: 'undecodable' });
        stop();
        callback({ code: grpc.status.INVALID_ARGUMENT, details: (e as Error).message });
        return;
      }
      void intake.accept(batch, 'grpc', { encoding: 'protobuf', body: call.request }, () => protobufToOtlpJson(call.request)).then((result) => {
        if (!result.ok) {
          stop();
          callback({ code: grpc.status.UNAVAILABLE, details: result.message, metadata: retryMetadata(result.retryAfterMs, result.message) });
          return;
        }
        // Acknowledged only once the export is in the spool.
        result.durable.then(
          () => {
            stop();
            callback(
              null,
              encodeResponse(result.rejected === 0 ? {} : { partialSuccess: { rejectedSpans: result.rejected, errorMessage: result.message } }),
            );
          },
          (e: Error) => {
            stop();
            callback({ code: grpc.status.UNAVAILABLE, details: e.message, metadata: retryMetadata(1000, e.message) });
          },
        );
      }, (e: Error) => {
        stop();
        callback({ code: grpc.status.INTERNAL, details: e.message });
      });
    },
  });
  return server;
}

/** Binds the server; resolves to the bound port (0 picks a free one). */
export function bindGrpc(server: grpc.Server, host: string, port: number, credentials = grpc.ServerCredentials.createInsecure()): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(`${host.includes(':') ? `[${host}]` : host}:${port}`, credentials, (err, bound) =>
      err ? reject(err) : resolve(bound),
    );
  });
}
