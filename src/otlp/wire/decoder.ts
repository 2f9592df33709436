/**
 * The hot-path OTLP/protobuf decoder: ExportTraceServiceRequest bytes straight to SpanRecords, with no
 * message tree in between. Not a general-purpose protobuf reader: it knows the OTLP trace schema
 * (proto/opentelemetry/proto/{collector/trace,trace,common,resource}/v1) and reads only this much:
 *
 *   ExportTraceServiceRequest.resource_spans (1)
 *     ResourceSpans.resource (1) → Resource.attributes (1): `service.name`, and the process
 *       (`service.instance.id`, `host.name`, `process.pid`)
 *     ResourceSpans.scope_spans (2) → ScopeSpans.spans (2) → Span (span.ts):
 *       trace_id 1, span_id 2, parent_span_id 4, name 5, kind 6, start 7, end 8, attributes 9, status 15 → code 3
 *   KeyValue key 1, value 2 → AnyValue string 1, bool 2, int 3, double 4 (array 5, kvlist 6 and bytes 7 read as "no string")
 *
 * Everything else is skipped by its length without looking inside: schema URLs, the instrumentation
 * scope, trace_state, flags, dropped counts, events, links, Status.message, the values of attribute
 * keys n1lens does not fold, and unknown fields of every wire type (a group is skipped up to its
 * matching end-group tag, nested at most 100 deep). Attribute keys are compared as bytes (keys.ts);
 * only the values detection uses become strings, and repeated ids, names and statements are
 * interned (strings.ts).
 *
 * Results equal protobufjs's (`decodeProtobufRequestReference`) for every message protobufjs
 * accepts: the last value of a scalar wins, repeated fields concatenate, a singular message that
 * occurs twice is merged, a oneof keeps its last member, and a known field that arrives with an
 * unexpected wire type is skipped like an unknown one (protobufjs 8 does all of these). Validation
 * and rejection are to-span.ts's `rejectReason` and `toSpanRecord`, applied to the raw bytes.
 * It is lazier than protobufjs in two ways: damage inside a skipped field (an event, the scope, an
 * attribute it does not read) is not noticed, and a string it reads is decoded as Buffer#toString
 * does (invalid UTF-8 becomes U+FFFD) where protobufjs refuses the whole message. Anything that
 * breaks the structure it walks throws an OtlpDecodeError naming the byte offset.
 */
import { refusedIn, type DecodedBatch, type SpanSink, type TraceId } from '../span.js';
import { instanceOf } from '../to-span.js';
import { AttributeReader } from './attributes.js';
import { fail, WireCursor } from './cursor.js';
import { K_HOST_NAME, K_PROCESS_PID, K_SERVICE_INSTANCE_ID, K_SERVICE_NAME } from './keys.js';
import { REJECT_ORDER, SpanReader } from './span.js';
import { WireStrings } from './strings.js';

/**
 * Decodes OTLP/protobuf requests one at a time. It owns its cursor and memo tables, so a decoder
 * kept for a stream of requests (a file, a server) hands out the same string objects for repeated
 * ids, names and statements across them.
 */
export interface WireDecoder {
  /**
   * Decodes one ExportTraceServiceRequest (already decompressed) into span records. Invalid spans
   * are counted in `rejected`; bytes that are not such a message throw OtlpDecodeError with the
   * byte offset of the problem.
   */
  decode(bytes: Uint8Array): DecodedBatch;
  /**
   * `decode` for one shard of `shards` (otlp/shard.ts): only the spans of the shard's traces become
   * records. `accepted` counts the valid spans of every shard, and `positions[i]` is the index of
   * `spans[i]` among them, so each shard keeps the whole stream's span clock.
   */
  decodeShard(bytes: Uint8Array, shard: number, shards: number): ShardBatch;
  /**
   * `decode` into a sink: each valid span is handed over as it is read, a plain DB span as its
   * fields without a record (otlp/span.ts SpanSink). A message that throws has already handed over
   * the spans before the damage, so a caller stops at the error (n1-report does).
   */
  decodeTo(bytes: Uint8Array, sink: SpanSink): SinkBatch;
  /**
   * `decodeTo` for one shard of `shards`: only the shard's traces' spans reach the sink, and
   * `accepted` counts the valid spans of every shard (n1-report --jobs keeps the whole stream's
   * span clock). While the sink is called, `spanIndex` is the span's index among them.
   */
  decodeShardTo(bytes: Uint8Array, sink: SpanSink, shard: number, shards: number): SinkBatch;
  /** During decodeTo / decodeShardTo: the index of the span being handed to the sink among the message's valid spans. */
  readonly spanIndex: number;
  /**
   * The trace ids of a message's spans without decoding them, for admission before decodeTo (serve).
   * A span that opens with its trace id (as SDKs and the Collector write spans) is noted by it and
   * skipped by its length; any other is walked as decodeShard walks another shard's (ids and times
   * checked, attributes skipped) and noted when valid. So a span the decode will refuse may be
   * counted, and a trace id written twice in one span is taken as its first: the scan is an estimate
   * for admission, the decode is the truth. Throws what decode throws for a broken structure above
   * the spans (requests, resources, scopes).
   */
  scanTraces(bytes: Uint8Array): TraceScan;
}

/** What scanTraces finds: the trace ids in order of first span (one again only past the last 16 noted), and their spans' size. */
export interface TraceScan {
  traceIds: TraceId[];
  /** Spans noted. */
  spans: number;
  /** Bytes of their Span messages. */
  wireBytes: number;
}

/** What decodeTo returns: the spans handed over, and the refused ones. */
export interface SinkBatch {
  accepted: number;
  rejected: DecodedBatch['rejected'];
}

/** Every span a batch read, valid or not: what n1-report's span clock counts (analyzer.ts offlineAnalyzerOptions). */
export function spansRead(batch: SinkBatch): number {
  return batch.accepted + refusedIn(batch);
}

export interface ShardBatch extends DecodedBatch {
  accepted: number;
  positions: number[];
}

/**
 * @example
 * const decoder = createWireDecoder();
 * for (const body of bodies) analyzer.add(decoder.decode(body).spans, Date.now());
 */
export function createWireDecoder(): WireDecoder {
  const cursor = new WireCursor();
  const strings = new WireStrings(cursor);
  const spans = new SpanReader(cursor, strings, new AttributeReader(cursor, strings));
  return new ResourceReader(cursor, spans);
}

/** What one ResourceSpans' resource says, over all its occurrences (see #readResource). */
interface ResourceFacts {
  service: string | undefined;
  instanceId: string | undefined;
  host: string | undefined;
  pid: string | undefined;
}

class ResourceReader implements WireDecoder {
  readonly #cursor: WireCursor;
  readonly #spans: SpanReader;
  readonly #attributes: AttributeReader;
  readonly #resource: ResourceFacts = { service: undefined, instanceId: undefined, host: undefined, pid: undefined };

  constructor(cursor: WireCursor, spans: SpanReader) {
    this.#cursor = cursor;
    this.#spans = spans;
    this.#attributes = spans.attributes;
  }

  decodeShard(bytes: Uint8Array, shard: number, shards: number): ShardBatch {
    if (shards === 1) {
      const batch = this.decode(bytes);
      return { ...batch, accepted: batch.spans.length, positions: batch.spans.map((_, i) => i) };
    }
    const reader = this.#spans;
    reader.shard = shard;
    reader.shards = shards;
    try {
      const rejected = this.#read(bytes);
      return { spans: reader.spans, rejected, accepted: reader.accepted, positions: reader.positions };
    } finally {
      reader.shard = 0;
      reader.shards = 1;
      reader.reset();
    }
  }

  decodeTo(bytes: Uint8Array, sink: SpanSink): SinkBatch {
    const reader = this.#spans;
    reader.useSink(sink);
    try {
      const rejected = this.#read(bytes);
      return { accepted: reader.accepted, rejected };
    } finally {
      reader.useSink(undefined);
      reader.reset();
    }
  }

  decodeShardTo(bytes: Uint8Array, sink: SpanSink, shard: number, shards: number): SinkBatch {
    const reader = this.#spans;
    reader.shard = shard;
    reader.shards = shards;
    try {
      return this.decodeTo(bytes, sink);
    } finally {
      reader.shard = 0;
      reader.shards = 1;
    }
  }

  get spanIndex(): number {
    return this.#spans.position;
  }

  scanTraces(bytes: Uint8Array): TraceScan {
    const reader = this.#spans;
    const scan: TraceScan = { traceIds: [], spans: 0, wireBytes: 0 };
    // Shard mode with a shard no trace belongs to: every span is another shard's, noted in the scan.
    reader.scan = scan;
    reader.shard = -1;
    reader.shards = 2;
    try {
      this.#read(bytes);
      return scan;
    } finally {
      reader.scan = undefined;
      reader.shard = 0;
      reader.shards = 1;
      reader.reset();
    }
  }

  decode(bytes: Uint8Array): DecodedBatch {
    const reader = this.#spans;
    try {
      const rejected = this.#read(bytes);
      const ordinals = reader.ordinals;
      return ordinals === undefined ? { spans: reader.spans, rejected } : { spans: reader.spans, rejected, ordinals };
    } finally {
      reader.reset();
    }
  }

  /** Reads one message into the span reader (which the caller resets after taking what it needs); returns the refusals. */
  #read(bytes: Uint8Array): DecodedBatch['rejected'] {
    const c = this.#cursor;
    const reader = this.#spans;
    c.start(bytes);
    reader.reset();
    try {
      const end = c.buf.length;
      let pos = 0;
      while (pos < end) {
        const at = pos;
        const tag = c.tag(pos, end);
        pos = c.after;
        if (tag === 0x0a) {
          const n = c.length(pos, end, 'length of resource_spans', 'resource_spans');
          pos = c.after;
          this.#readResourceSpans(pos, pos + n);
          pos += n;
        } else {
          if (tag >>> 3 === 0) fail('invalid field number 0', at);
          pos = c.skipField(pos, end, tag & 7, tag >>> 3, 0);
        }
      }
      const rejected: DecodedBatch['rejected'] = [];
      for (let i = 0; i < 4; i++) {
        const count = reader.rejected[i]!;
        if (count > 0) rejected.push({ reason: REJECT_ORDER[i]!, count });
      }
      return rejected;
    } finally {
      c.release();
    }
  }

  /**
   * One ResourceSpans. Encoders may write scope_spans before resource (the Collector's pdata writes
   * fields in reverse order), so a first pass finds service.name and a second reads the spans.
   */
  #readResourceSpans(start: number, end: number): void {
    const c = this.#cursor;
    const res = this.#resource;
    res.service = res.instanceId = res.host = res.pid = undefined;
    let scopes = 0;
    let pos = start;
    while (pos < end) {
      const at = pos;
      const tag = c.tag(pos, end);
      pos = c.after;
      if (tag === 0x0a || tag === 0x12) {
        const n = c.length(pos, end, 'length of ResourceSpans field', tag === 0x0a ? 'resource' : 'scope_spans');
        pos = c.after;
        // Resource occurrences merge: their attribute lists concatenate, the first service.name counts.
        if (tag === 0x0a) this.#readResource(pos, pos + n);
        else scopes++;
        pos += n;
      } else {
        if (tag >>> 3 === 0) fail('invalid field number 0', at);
        pos = c.skipField(pos, end, tag & 7, tag >>> 3, 1);
      }
    }
    if (scopes === 0) return;
    const name = res.service ?? '';
    const instance = res.instanceId || instanceOf(res.host, res.pid);
    pos = start;
    while (pos < end) {
      const tag = c.tag(pos, end);
      pos = c.after;
      if (tag === 0x12) {
        // Checked again, and never failing: the first pass checked every length.
        const n = c.length(pos, end, 'length of ResourceSpans field', 'scope_spans');
        pos = c.after;
        this.#readScopeSpans(pos, pos + n, name, instance);
        pos += n;
      } else pos = c.skipField(pos, end, tag & 7, tag >>> 3, 1);
    }
  }

  /**
   * Reads one Resource occurrence: the first service.name (the string, '' for a present but
   * non-string value) and the first non-empty service.instance.id count; host.name and process.pid,
   * the last (as to-span.ts's resourceInstance reads them).
   */
  #readResource(pos: number, end: number): void {
    const c = this.#cursor;
    const res = this.#resource;
    const attributes = this.#attributes;
    while (pos < end) {
      const at = pos;
      const tag = c.tag(pos, end);
      pos = c.after;
      if (tag === 0x0a) {
        const n = c.length(pos, end, 'length of a resource attribute', 'resource attribute');
        pos = c.after;
        switch (attributes.read(pos, pos + n, 3)) {
          case K_SERVICE_NAME:
            res.service ??= attributes.value(false) ?? '';
            break;
          case K_SERVICE_INSTANCE_ID:
            if (!res.instanceId) res.instanceId = attributes.value(false);
            break;
          case K_HOST_NAME:
            res.host = attributes.value(false);
            break;
          case K_PROCESS_PID:
            res.pid = attributes.value(false);
            break;
          default:
            break;
        }
        pos += n;
      } else {
        if (tag >>> 3 === 0) fail('invalid field number 0', at);
        pos = c.skipField(pos, end, tag & 7, tag >>> 3, 2);
      }
    }
  }

  #readScopeSpans(pos: number, end: number, service: string, instance: string | undefined): void {
    const c = this.#cursor;
    const spans = this.#spans;
    while (pos < end) {
      const at = pos;
      const tag = c.tag(pos, end);
      pos = c.after;
      if (tag === 0x12) {
        const n = c.length(pos, end, 'length of a span', 'span');
        pos = c.after;
        spans.read(pos, pos + n, service, instance);
        pos += n;
      } else {
        if (tag >>> 3 === 0) fail('invalid field number 0', at);
        pos = c.skipField(pos, end, tag & 7, tag >>> 3, 2);
      }
    }
  }
}
