/** otlp: decodes OTLP trace payloads (protobuf, JSON), Jaeger and Zipkin JSON, and saved trace files into plain span records. */

export { decodeProtobufRequest } from './protobuf.js';
export { createJsonDecoder, decodeJsonRequest } from './json.js';
export type { JsonDecoder } from './json.js';
export { decodeJaegerTrace, decodeJaegerTraces } from './jaeger.js';
export { decodeZipkinSpans } from './zipkin.js';
export { readTraceFile } from './file.js';
export type { ReadTraceFileOptions } from './file.js';
export { OtlpDecodeError, TraceFileError } from './errors.js';
export type { TraceFilePosition } from './errors.js';
export { SpanKind } from './span.js';
export type { DecodedBatch, SpanId, SpanRecord, SpanRejectReason, TraceId } from './span.js';
export { loadOtlpSchema, otlpSchema, PROTO_DIR } from './schema.js';
export type { OtlpSchema } from './schema.js';
