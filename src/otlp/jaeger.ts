/** Decodes Jaeger JSON traces (the query API's and the UI's export format) into the span records OTLP decodes to. */

import { OtlpDecodeError } from './errors.js';
import { SpanKind, type DecodedBatch } from './span.js';
import { BatchBuilder, paddedHexId, readScalar, resourceInstance, splitMicros, type KeyValueLike } from './to-span.js';
import { isObject, type JsonObject } from './json-value.js';

/** A Jaeger tag `{key, type, value}` already has the key/value shape the attribute fold reads. */
type JaegerTag = KeyValueLike<unknown>;

/** The `span.kind` tag Jaeger writes for an OTLP span kind (and OpenTracing used before it). */
const KINDS: Readonly<Record<string, SpanKind>> = {
  server: SpanKind.SERVER,
  client: SpanKind.CLIENT,
  producer: SpanKind.PRODUCER,
  consumer: SpanKind.CONSUMER,
  internal: SpanKind.INTERNAL,
};
const STATUS_ERROR = 2;

/** A Jaeger trace object, as far as the shape check goes. */
export interface JaegerTraceJson {
  traceID?: string;
  spans: unknown[];
  processes?: unknown;
}

/**
 * True when the value has a Jaeger trace's shape: a `spans` array and a `traceID`, on the trace
 * (the API) or only on its spans (the UI's own trace model, which embeds each span's `process`).
 */
export function isJaegerTrace(value: unknown): value is JaegerTraceJson {
  if (!isObject(value) || !Array.isArray(value.spans)) return false;
  if (typeof value.traceID === 'string') return true;
  const first: unknown = value.spans[0];
  return isObject(first) && typeof first.traceID === 'string' && typeof first.spanID === 'string';
}

/** The well-formed tags of a list (objects with a string key); anything else in it is skipped. */
function tags(value: unknown): JaegerTag[] {
  if (!Array.isArray(value)) return [];
  return value.every((t) => isObject(t) && typeof t.key === 'string')
    ? (value as JaegerTag[])
    : (value.filter((t) => isObject(t) && typeof t.key === 'string') as JaegerTag[]);
}

function tagValue(list: readonly JaegerTag[], key: string): unknown {
  for (const tag of list) if (tag.key === key) return tag.value;
  return undefined;
}

/**
 * The parent: `parentSpanID` (old exports), else the first CHILD_OF reference within the trace,
 * else the first FOLLOWS_FROM one, which is how Jaeger itself reads references.
 */
function parentOf(span: JsonObject, traceId: string): string {
  if (typeof span.parentSpanID === 'string' && span.parentSpanID !== '' && !/^0+$/.test(span.parentSpanID)) {
    return paddedHexId(span.parentSpanID, 16);
  }
  if (!Array.isArray(span.references)) return '';
  let followsFrom = '';
  for (const ref of span.references) {
    if (!isObject(ref) || paddedHexId(ref.traceID, 32) !== traceId) continue;
    if (ref.refType === 'CHILD_OF') return paddedHexId(ref.spanID, 16);
    if (ref.refType === 'FOLLOWS_FROM' && followsFrom === '') followsFrom = paddedHexId(ref.spanID, 16);
  }
  return followsFrom;
}

function serviceOf(process: unknown): string {
  return isObject(process) && typeof process.serviceName === 'string' ? process.serviceName : '';
}

/** The process a Jaeger process stands for: the OTLP resource attributes the Collector turns into its tags. */
function instanceOfProcess(process: unknown): string | undefined {
  return isObject(process) ? resourceInstance(tags(process.tags), readScalar) : undefined;
}

/** Adds one Jaeger trace's spans to `batch`; `where` names it in errors ("data[3]"). */
function addTrace(batch: BatchBuilder<unknown>, trace: unknown, where: string): void {
  if (!isJaegerTrace(trace)) throw new OtlpDecodeError(`${where} is not a Jaeger trace (no spans with a traceID)`);
  const { spans, processes } = trace;
  const processMap = isObject(processes) ? processes : {};
  for (let i = 0; i < spans.length; i++) {
    const span = spans[i];
    if (!isObject(span)) throw new OtlpDecodeError(`${where}.spans[${i}] is not an object`);
    const traceId = paddedHexId(span.traceID ?? trace.traceID, 32);
    const spanTags = tags(span.tags);
    const process = span.process ?? (typeof span.processID === 'string' ? processMap[span.processID] : undefined);
    const start = typeof span.startTime === 'number' ? span.startTime : Number.NaN;
    const duration = typeof span.duration === 'number' ? span.duration : 0;
    if (!Number.isFinite(start)) throw new OtlpDecodeError(`${where}.spans[${i}].startTime is not a number of microseconds`);
    const [startHi, startLo] = splitMicros(start);
    const [endHi, endLo] = splitMicros(start + Math.max(0, duration));
    const kind = KINDS[String(tagValue(spanTags, 'span.kind') ?? '').toLowerCase()] ?? SpanKind.UNSPECIFIED;
    const error = tagValue(spanTags, 'otel.status_code') === 'ERROR' || String(tagValue(spanTags, 'error')) === 'true';
    batch.addFields(
      traceId,
      paddedHexId(span.spanID, 16),
      parentOf(span, traceId),
      typeof span.operationName === 'string' ? span.operationName : '',
      kind,
      startHi,
      startLo,
      endHi,
      endLo,
      spanTags,
      error ? STATUS_ERROR : 0,
      serviceOf(process),
      instanceOfProcess(process),
    );
  }
}

/**
 * Decodes Jaeger traces, as the query API (`{"data": [trace, ...]}`) and the UI's JSON download
 * write them: microsecond `startTime`/`duration`, `references`, typed `tags`, and `processes` keyed
 * by `processID` (or a `process` on each span). The `span.kind`, `otel.status_code`/`error` tags
 * give the kind and status; every other tag folds like an OTLP attribute. Throws OtlpDecodeError
 * when a value is not a trace.
 *
 * @example decodeJaegerTraces(JSON.parse(body).data)
 */
export function decodeJaegerTraces(traces: readonly unknown[], where = 'data'): DecodedBatch {
  const batch = new BatchBuilder<unknown>(readScalar);
  for (let i = 0; i < traces.length; i++) addTrace(batch, traces[i], `${where}[${i}]`);
  return batch.result();
}

/** One trace object (a file holding a single trace); see decodeJaegerTraces. */
export function decodeJaegerTrace(trace: unknown, where = 'trace'): DecodedBatch {
  const batch = new BatchBuilder<unknown>(readScalar);
  addTrace(batch, trace, where);
  return batch.result();
}
