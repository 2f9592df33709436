/** Loads the OTLP trace protos shipped in the repo's proto/ folder into protobufjs message types. */

import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import type { Root, Service, Type } from 'protobufjs';

/** The message types n1lens encodes or decodes, plus the root for anything else. */
export interface OtlpSchema {
  root: Root;
  /** opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest */
  ExportTraceServiceRequest: Type;
  /** opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse */
  ExportTraceServiceResponse: Type;
  /** opentelemetry.proto.trace.v1.TracesData (same wire shape as the request) */
  TracesData: Type;
  /** google.rpc.Status: the OTLP error body */
  Status: Type;
  /** google.rpc.RetryInfo: the back-off hint in Status.details */
  RetryInfo: Type;
  /** opentelemetry.proto.collector.trace.v1.TraceService (for grpc) */
  TraceService: Service;
}

/**
 * proto/ at the repo root. src/otlp/schema.ts and dist/otlp/schema.js sit at the same depth below
 * it, so one relative URL serves vitest and the built package.
 */
export const PROTO_DIR = fileURLToPath(new URL('../../proto/', import.meta.url));

const PROTO_FILES = [
  'opentelemetry/proto/collector/trace/v1/trace_service.proto',
  'google/rpc/status.proto',
  'google/rpc/error_details.proto',
];

/**
 * Parses the protos afresh (a few milliseconds). Field names become lowerCamelCase
 * (`resourceSpans`, `startTimeUnixNano`); 64-bit integers decode as `Long`.
 *
 * @example
 * const { ExportTraceServiceRequest } = loadOtlpSchema();
 * const bytes = ExportTraceServiceRequest.encode(ExportTraceServiceRequest.fromObject(req)).finish();
 */
export function loadOtlpSchema(protoDir: string = PROTO_DIR): OtlpSchema {
  const root = new protobuf.Root();
  // Imports are written relative to the proto root (protoc's -I); google/protobuf/* are bundled.
  root.resolvePath = (_origin, target) => join(protoDir, target);
  root.loadSync(PROTO_FILES);
  root.resolveAll();
  return {
    root,
    ExportTraceServiceRequest: root.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest'),
    ExportTraceServiceResponse: root.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse'),
    TracesData: root.lookupType('opentelemetry.proto.trace.v1.TracesData'),
    Status: root.lookupType('google.rpc.Status'),
    RetryInfo: root.lookupType('google.rpc.RetryInfo'),
    TraceService: root.lookupService('opentelemetry.proto.collector.trace.v1.TraceService'),
  };
}

function once<T>(load: () => T): () => T {
  let value: T | undefined;
  return () => (value ??= load());
}

/** The schema from proto/, parsed on first use and shared after that (it is never mutated). */
export const otlpSchema: () => OtlpSchema = once(() => loadOtlpSchema());
