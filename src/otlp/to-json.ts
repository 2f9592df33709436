/** Re-encodes an OTLP protobuf request as spec OTLP/JSON (hex ids, int64 as strings), the form `--record` writes. */
import { otlpSchema } from './schema.js';

const hexOf = (b64: unknown): unknown => (typeof b64 === 'string' ? Buffer.from(b64, 'base64').toString('hex') : b64);

interface JsonSpanIds {
  traceId?: unknown;
  spanId?: unknown;
  parentSpanId?: unknown;
  links?: { traceId?: unknown; spanId?: unknown }[];
}

/** One ExportTraceServiceRequest as a single line of OTLP/JSON. Throws if the bytes are not one. */
export function protobufToOtlpJson(bytes: Uint8Array): string {
  const { ExportTraceServiceRequest } = otlpSchema();
  const message = ExportTraceServiceRequest.decode(bytes);
  const json = ExportTraceServiceRequest.toObject(message, { longs: String, enums: Number, bytes: String, defaults: false }) as {
    resourceSpans?: { scopeSpans?: { spans?: JsonSpanIds[] }[] }[];
  };
  // The protobuf JSON mapping writes bytes as base64; OTLP/JSON requires hex ids.
  for (const rs of json.resourceSpans ?? []) {
    for (const ss of rs.scopeSpans ?? []) {
      for (const span of ss.spans ?? []) {
        span.traceId = hexOf(span.traceId);
        span.spanId = hexOf(span.spanId);
        if (span.parentSpanId !== undefined) span.parentSpanId = hexOf(span.parentSpanId);
        for (const link of span.links ?? []) {
          link.traceId = hexOf(link.traceId);
          link.spanId = hexOf(link.spanId);
        }
      }
    }
  }
  return JSON.stringify(json);
}
