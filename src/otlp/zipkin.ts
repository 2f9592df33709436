/** Decodes Zipkin v2 JSON spans (a span list, or the API's list of traces) into the span records OTLP decodes to. */

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

/** True when the value has a Zipkin v2 span's shape: string `traceId` and `id`. */
export function isZipkinSpan(value: unknown): value is JsonObject {
  return isObject(value) && typeof value.traceId === 'string' && typeof value.id === 'string';
}

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
    const tags: KeyValueLike<unknown>[] = [];
    if (isObject(span.tags)) for (const key of Object.keys(span.tags)) tags.push({ key, value: span.tags[key] });
    const start = typeof span.timestamp === 'number' ? span.timestamp : Number.NaN;
    if (!Number.isFinite(start)) throw new OtlpDecodeError(`${where}.timestamp is not a number of microseconds`);
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
    this.size++;
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
