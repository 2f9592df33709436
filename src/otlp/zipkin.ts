/**
 * Decodes Zipkin v2 JSON spans (a span list, or the API's list of traces) into the span records OTLP
 * decodes to. Zipkin v1 spans are refused with a one-line error saying to export v2.
 */

import { OtlpDecodeError } from './errors.js';
import { SpanKind, type DecodedBatch } from './span.js';
import { BatchBuilder, paddedHexId, readScalar, splitMicros, type KeyValueLike } from './to-span.js';
import { isObject, type JsonObject } from './json-value.js';

const KINDS: Readonly<Record<string, SpanKind>> = {
  SERVER: SpanKind.SERVER,
  CLIENT: SpanKind.CLIENT,
  PRODUCER: SpanKind.PRODUCER,
  CONSUMER: SpanKind.CONSUMER,
};
const STATUS_ERROR = 2;

/** True when the value has a Zipkin span's shape: string `traceId` and `id` (v2, or v1: see isZipkinV1Span). */
export function isZipkinSpan(value: unknown): value is JsonObject {
  return isObject(value) && typeof value.traceId === 'string' && typeof value.id === 'string';
}

/**
 * True when a Zipkin span is v1 (`/api/v1/…`, Zipkin's v1 collectors): `binaryAnnotations`, or
 * annotations that carry an `endpoint` (v2 has neither: its kind, endpoints and tags are fields of
 * the span). Read as v2, such a span has no tags, so a file of them would be an empty report.
 */
export function isZipkinV1Span(span: JsonObject): boolean {
  if (span.binaryAnnotations !== undefined) return true;
  return Array.isArray(span.annotations) && span.annotations.some((a) => isObject(a) && a.endpoint !== undefined);
}

/** The one-line refusal of a Zipkin v1 span. */
export const ZIPKIN_V1_REFUSAL =
  'is a Zipkin v1 span (annotations/binaryAnnotations); n1lens reads Zipkin v2 JSON: export the traces from /api/v2/traces (or /api/v2/spans) instead';

/**
 * Builds Zipkin spans into records: microsecond `timestamp`/`duration`, `kind` (absent means a local,
 * internal span), `localEndpoint.serviceName`, and string `tags` folded like OTLP attributes (so
 * `db.statement`/`db.query.text`, `http.method`/`http.request.method` and `http.route` all count).
 * An `error` tag or `otel.status_code=ERROR` marks an error.
 */
export class ZipkinBatch {
  readonly #batch = new BatchBuilder<unknown>(readScalar);
  size = 0;

  /** Adds one span; `where` names it in errors ("element 3"). */
  add(span: unknown, where: string): void {
    if (!isZipkinSpan(span)) throw new OtlpDecodeError(`${where} is not a Zipkin span (no traceId and id)`);
    if (isZipkinV1Span(span)) throw new OtlpDecodeError(`${where} ${ZIPKIN_V1_REFUSAL}`);
    this.size++;
    // v2 allows an incomplete span without `timestamp` (and `duration`): it has no place in time, so
    // it is dropped and counted (no_timestamp), as OTLP spans with bad ids are, not the whole file.
    if (span.timestamp === undefined || span.timestamp === null) {
      this.#batch.reject('no_timestamp');
      return;
    }
    const start = typeof span.timestamp === 'number' ? span.timestamp : Number.NaN;
    if (!Number.isFinite(start)) throw new OtlpDecodeError(`${where}.timestamp is not a number of microseconds`);
    const tags: KeyValueLike<unknown>[] = [];
    if (isObject(span.tags)) for (const key of Object.keys(span.tags)) tags.push({ key, value: span.tags[key] });
    const duration = typeof span.duration === 'number' ? span.duration : 0;
    const [startHi, startLo] = splitMicros(start);
    const [endHi, endLo] = splitMicros(start + Math.max(0, duration));
    const error = isObject(span.tags) && (span.tags.error !== undefined || span.tags['otel.status_code'] === 'ERROR');
    const local = span.localEndpoint;
    this.#batch.addFields(
      paddedHexId(span.traceId, 32),
      paddedHexId(span.id, 16),
      paddedHexId(span.parentId, 16),
      typeof span.name === 'string' ? span.name : '',
      (typeof span.kind === 'string' ? KINDS[span.kind] : undefined) ?? SpanKind.INTERNAL,
      startHi,
      startLo,
      endHi,
      endLo,
      tags,
      error ? STATUS_ERROR : 0,
      isObject(local) && typeof local.serviceName === 'string' ? local.serviceName : '',
    );
  }

  result(): DecodedBatch {
    return this.#batch.result();
  }
}

/**
 * Decodes a Zipkin v2 JSON value: a list of spans (`POST /api/v2/spans`) or a list of traces, each a
 * list of spans (`GET /api/v2/traces`). Throws OtlpDecodeError when an element is not a span.
 *
 * @example decodeZipkinSpans(JSON.parse(text))
 */
export function decodeZipkinSpans(value: readonly unknown[]): DecodedBatch {
  const batch = new ZipkinBatch();
  for (let i = 0; i < value.length; i++) {
    const item = value[i];
    if (Array.isArray(item)) for (let j = 0; j < item.length; j++) batch.add(item[j], `[${i}][${j}]`);
    else batch.add(item, `[${i}]`);
  }
  return batch.result();
}
