/**
 * Decodes an OTLP/protobuf ExportTraceServiceRequest into span records: the hand-written wire decoder
 * (wire/) on the hot path, protobufjs as the reference it is tested against.
 */

import { OtlpDecodeError } from './errors.js';
import { otlpSchema } from './schema.js';
import { BatchBuilder, resourceInstance, serviceName } from './to-span.js';
import { createWireDecoder, type WireDecoder } from './wire/decoder.js';
import type { KeyValueLike } from './to-span.js';
import type { DecodedBatch } from './span.js';

/** The parts of protobufjs's decoded messages that are read here (field names in lowerCamelCase). */
interface LongBits {
  low: number;
  high: number;
  toString(): string;
}
interface PbAnyValue {
  /** protobufjs's oneof discriminator: the name of the member that is set. */
  value?: string;
  stringValue: string;
  boolValue: boolean;
  intValue: LongBits | number;
  doubleValue: number;
}
type PbKeyValue = KeyValueLike<PbAnyValue>;
interface PbSpan {
  traceId: Uint8Array;
  spanId: Uint8Array;
  parentSpanId: Uint8Array;
  name: string;
  kind: number;
  startTimeUnixNano: LongBits | number;
  endTimeUnixNano: LongBits | number;
  attributes: PbKeyValue[];
  status?: { code: number } | null;
}
interface PbRequest {
  resourceSpans: {
    resource?: { attributes: PbKeyValue[] } | null;
    scopeSpans: { spans: PbSpan[] }[];
  }[];
}

/** Scalar attribute values as strings; protobufjs leaves defaults on the prototype, so ask the discriminator. */
function readPbValue(value: PbAnyValue): string | undefined {
  switch (value.value) {
    case 'stringValue':
      return value.stringValue;
    case 'intValue':
    case 'doubleValue':
    case 'boolValue':
      return String(value[value.value]);
    default:
      return undefined;
  }
}

/** Lowercase hex; an absent bytes field reads as protobufjs's shared empty array, not a Uint8Array. */
function hex(bytes: Uint8Array): string {
  if (bytes.length === 0) return '';
  return (Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)).toString('hex');
}

const TWO_32 = 0x1_0000_0000;

/** [hi, lo] of a fixed64: a Long, or a number when long.js is absent. */
function hi(value: LongBits | number): number {
  return typeof value === 'number' ? Math.floor(value / TWO_32) : value.high >>> 0;
}
function lo(value: LongBits | number): number {
  return typeof value === 'number' ? value % TWO_32 : value.low >>> 0;
}

/**
 * Decodes one OTLP/protobuf request body (already decompressed). Invalid spans are counted in
 * `rejected`, not thrown; a body that is not protobuf throws OtlpDecodeError naming the byte offset.
 * The file reader, OTLP/HTTP and OTLP/gRPC all decode through here, each with its own long-lived
 * `decoder` (its memo tables make repeated ids and statements the same strings across requests);
 * without one, a fresh decoder serves this call only.
 *
 * @example
 * const decoder = createWireDecoder();
 * const { spans, rejected } = decodeProtobufRequest(await readBody(req), decoder);
 */
export function decodeProtobufRequest(bytes: Uint8Array, decoder: WireDecoder = createWireDecoder()): DecodedBatch {
  return decoder.decode(bytes);
}

/**
 * The same decoding through protobufjs's generated decoder and the shared to-span.ts mapping: the
 * reference the wire decoder is tested against (and the baseline the benchmarks compare with).
 */
export function decodeProtobufRequestReference(bytes: Uint8Array): DecodedBatch {
  let request: PbRequest;
  try {
    request = otlpSchema().ExportTraceServiceRequest.decode(bytes) as unknown as PbRequest;
  } catch (err) {
    throw new OtlpDecodeError(`invalid OTLP protobuf ExportTraceServiceRequest (${(err as Error).message})`, { cause: err });
  }
  const batch = new BatchBuilder(readPbValue);
  for (const resourceSpans of request.resourceSpans) {
    const service = serviceName(resourceSpans.resource?.attributes, readPbValue);
    const instance = resourceInstance(resourceSpans.resource?.attributes, readPbValue);
    for (const scopeSpans of resourceSpans.scopeSpans) {
      for (const span of scopeSpans.spans) {
        batch.add(
          {
            traceId: hex(span.traceId),
            spanId: hex(span.spanId),
            parentSpanId: hex(span.parentSpanId),
            name: span.name,
            kind: span.kind,
            startHi: hi(span.startTimeUnixNano),
            startLo: lo(span.startTimeUnixNano),
            endHi: hi(span.endTimeUnixNano),
            endLo: lo(span.endTimeUnixNano),
            attributes: span.attributes,
            statusCode: span.status?.code ?? 0,
          },
          service,
          instance,
        );
      }
    }
  }
  return batch.result();
}
